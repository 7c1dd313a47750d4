/* read.h — reading ONNX files (read.c): the model, and the values of a tensor. */
#ifndef GRADC_ONNX_READ_H
#define GRADC_ONNX_READ_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"

/* TensorProto.DataType values. */
enum {
  OX_T_FLOAT = 1, OX_T_UINT8 = 2, OX_T_INT8 = 3, OX_T_INT32 = 6, OX_T_INT64 = 7, OX_T_BOOL = 9, OX_T_DOUBLE = 11,
};

/* The model in path, decoded; NULL with a message (unreadable, not a protobuf, no graph). */
Onnx__ModelProto *ox_read_model(const char *path, char *err, size_t errlen);
void ox_free_model(Onnx__ModelProto *m);
/* t's element count from its dims (checked: at most 2^31), or -1 with a message. */
int64_t ox_elements(const Onnx__TensorProto *t, char *err, size_t errlen);
/* t's values as doubles (malloc'd; *count elements), from raw_data, a typed field or external
 * data under dir (the model's folder); NULL with a message. */
double *ox_tensor_values(const Onnx__TensorProto *t, const char *dir, int64_t *count, char *err, size_t errlen);
/* The tensor type of a value's TypeProto, or NULL when it is no tensor (a sequence, a map,
 * an optional: TypeProto's `value` is a oneof, so its tensor_type pointer alone says
 * nothing). */
static inline const Onnx__TypeProto__Tensor *ox_tensor_type(const Onnx__TypeProto *tp) {
  return tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? tp->tensor_type : NULL;
}
/* "float", "int64", ... */
const char *ox_type_name(int type);

#endif
