/* gradc/onnx.h — the ONNX importer (library gradc_onnx): an ONNX model (a ModelProto file,
 * opsets 7 to 17, with its external data) becomes a .grad model and the values of its
 * initializers. Every node is translated into statements of the model language, and each
 * node's statements are type-checked on their own by the compiler library as soon as they
 * are written (gc_graph_build), so that an error names the ONNX node, not a line of
 * generated text. Nodes whose inputs are all known at import time (shape arithmetic:
 * Shape, Gather on shapes, Concat, ConstantOfShape, Range, ...) are evaluated then, by the
 * compiler's float64 reference evaluator, and disappear from the model.
 *
 * Types: ONNX float tensors are f32; integer tensors are i32 where they are indices
 * (Gather, OneHot, losses' labels, ArgMax's result, graph inputs and outputs) and are
 * otherwise computed in f32 (exact below 2^24); bool tensors are f32 masks (0 or 1), as
 * the language's comparisons give. gc_onnx_tensor says which ONNX type each graph input
 * and output had, so that a caller converts its data.
 *
 * Nothing here prints, exits or aborts on bad input: every failure is a message in err. */
#ifndef GRADC_ONNX_H
#define GRADC_ONNX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A value bound at import time: a symbolic dimension (-D NAME=INT), an input's shape
 * (--shape NAME=2x3) or a graph input whose values determine shapes or attributes
 * (--const NAME=VALUES: a Reshape's shape, Slice's starts, Pad's pads, ...). */
typedef struct {
  const char *name;       /* the ONNX name (or its .grad name) */
  const double *values;   /* --const: the values, row-major */
  int64_t count;
} gc_onnx_const;

typedef struct {
  const char *path;       /* the .onnx file */
  const char *model_name; /* the .grad model's name; NULL: from the file name */
  const char *const *define_names; /* -D: symbolic dimensions */
  const long long *define_values;
  int ndefines;
  const char *const *shape_names; /* --shape NAME=DxDx..: an input's whole shape */
  const int64_t *const *shape_dims;
  const int *shape_ranks;
  int nshapes;
  const gc_onnx_const *consts; /* --const */
  int nconsts;
  /* Out: when the import fails because a graph input must be known at import time, its
   * ONNX name is written here (if not NULL; up to 256 bytes), so that a caller holding
   * its values (the conformance runner) may bind it and import again. */
  char *unbound;
} gc_onnx_options;

/* What an ONNX graph input, output or initializer became. */
enum { GC_ONNX_INPUT, GC_ONNX_OUTPUT, GC_ONNX_PARAM, GC_ONNX_BOUND };
typedef struct {
  const char *onnx_name; /* as in the ONNX file */
  const char *name;      /* the .grad name (inputs, params) or the output's name */
  int kind;              /* GC_ONNX_INPUT, ..._OUTPUT, ..._PARAM, ..._BOUND (an input given
                            by --const: no longer an input of the model) */
  int onnx_type;         /* TensorProto.DataType: 1 float, 6 int32, 7 int64, 9 bool */
  bool i32;              /* held as i32 in the model (else f32) */
  int rank;
  int64_t dims[8];
} gc_onnx_tensor;

typedef struct gc_onnx gc_onnx;

/* Imports o->path. NULL on error, with the message in err ("FILE: node 3 'conv1' (Conv,
 * opset 13): ..."). */
gc_onnx *gc_onnx_import(const gc_onnx_options *o, char *err, size_t errlen);
void gc_onnx_free(gc_onnx *m);
/* The .grad model's text (for gc_options.source). */
const char *gc_onnx_source(const gc_onnx *m);
/* The model's inputs, outputs and parameters, in that order. */
int gc_onnx_count(const gc_onnx *m);
const gc_onnx_tensor *gc_onnx_tensor_at(const gc_onnx *m, int i);
/* Appends a loss on output `output` (NULL: the model's only output) to the model, for
 * training an imported model: "cross_entropy" (an i32 input `label` of the output's shape
 * without its class axis 1), "mse" or "bce_with_logits" (an f32 input `target` of the
 * output's shape); the new input is batched like the model's first input. 0, or -1 with
 * the message in err. */
int gc_onnx_add_loss(gc_onnx *m, const char *loss, const char *output, char *err, size_t errlen);
/* Writes the parameters' values (the initializers, and the constants the model keeps as
 * frozen parameters) as a safetensors file; 0, or -1 with the message in err. */
int gc_onnx_write_weights(const gc_onnx *m, const char *path, char *err, size_t errlen);

/* The names of the graph inputs of the model at path that are no initializers, in order
 * (the order of a test data set's input_K.pb) into names[0..max); the count, or -1 with
 * the message in err. */
int gc_onnx_graph_inputs(const char *path, char (*names)[256], int max, char *err, size_t errlen);

/* What the model at path is made of: its operator types, each once, space-separated (those
 * of subgraphs included), and a bit (1 << TYPE) per element type of its graph inputs,
 * outputs, value_info and initializers. 0, or -1 with the message in err. */
int gc_onnx_describe(const char *path, char *ops, size_t opslen, uint64_t *types, char *err, size_t errlen);

/* ---- ONNX tensor files (TensorProto, as the ONNX test data's input_0.pb) ---- */

typedef struct {
  char name[256];
  int onnx_type;
  int rank;
  int64_t dims[8];
  int64_t count;
  double *data; /* malloc'd; free with gc_onnx_data_free */
} gc_onnx_data;

/* Reads a serialised TensorProto. 0, or -1 with the message in err. */
int gc_onnx_read_tensor(const char *path, gc_onnx_data *out, char *err, size_t errlen);
void gc_onnx_data_free(gc_onnx_data *d);

#ifdef __cplusplus
}
#endif
#endif
