/* ops_nn.h — helpers shared by the nn family's converters (ops_nn.c, ops_nn2.c). */
#ifndef GRADC_ONNX_OPS_NN_H
#define GRADC_ONNX_OPS_NN_H
#include "import.h"

/* printf into one of a ring of buffers (valid for the next 63 calls): the pieces of a
 * statement a converter assembles before ox_emit. */
const char *nn_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A constant number as an operator's argument needs it: a literal or a negated literal. */
const char *nn_num(double v);
/* "[a, b, c]" */
const char *nn_list(const int64_t *v, int count);
/* Pads begin/end of a convolution or pool axis for auto_pad SAME_UPPER/SAME_LOWER/VALID or
 * the pads attribute (NOTSET); ek is the dilated kernel extent. */
void nn_auto_pads(OxNode *n, const char *auto_pad, int sp, const int64_t *in, const int64_t *ek,
                  const int64_t *stride, int64_t *pads);

#endif
