/* import.h — the ONNX importer's inside: values, nodes, and what a converter may call.
 *
 * An ONNX node is imported by its converter (a row of ox_ops, ops_table.c), which writes
 * the node's statements in the model language:
 *
 *   static void cv_relu(OxNode *n) { ox_emit(n, "%s = relu(%s)", ox_out(n, 0), ox_f(n, 0)); }
 *
 * ox_f / ox_i give an input as an f32 / i32 expression (converting when it is held in the
 * other dtype, declaring it when it is a constant or an initializer); ox_out names an
 * output; ox_tmp gives a fresh name for a temporary. After the converter returns, the
 * framework (import.c) checks the statements alone with the compiler (each input declared
 * with its shape), which gives every output its shape and dtype; when all the inputs are
 * known at import time and none is a parameter, it evaluates them (the compiler's
 * reference evaluator) and the outputs become constants: their statements are dropped.
 * A converter never computes an output shape, but it may read its inputs' (in->rank,
 * in->dims) and their values when known (in->k).
 *
 * Errors: ox_fail(n, fmt, ...) (does not return) names the node; ox_need_const asks for an
 * input known at import time and fails with the right message (bind it with --const) when
 * it is not. */
#ifndef GRADC_ONNX_IMPORT_H
#define GRADC_ONNX_IMPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"

#define OX_MAX_RANK 8
#define OX_MAX_IO 64

/* ONNX TensorProto.DataType values the importer handles. */
#include "read.h" /* OX_T_FLOAT, ... */

typedef struct OxValue {
  const char *onnx;  /* the ONNX name */
  char *name;        /* its .grad name (a C identifier) */
  int type;          /* the ONNX element type (OX_T_FLOAT, OX_T_INT64, ...) */
  bool i32;          /* held as i32 in the model, else f32 (floats, bool masks, integers) */
  int rank;
  int64_t dims[OX_MAX_RANK];
  int64_t count;     /* elements */
  double *k;         /* the values when known at import time, else NULL */
  bool param;        /* a float initializer: a trainable parameter (k: its initial value) */
  bool buffer;       /* a parameter a converter made a buffer (batch norm's statistics) */
  bool input;        /* a graph input given at run time */
  bool declared;     /* referenced by the model's statements: declared in the model */
  bool local;        /* defined by the current node's own statements (never declared) */
  const struct OxValue *source; /* a graph input given at run time that this value is
                                   computed from (itself for one), or NULL */
  const char *sym[OX_MAX_RANK]; /* a graph input's symbolic dimensions, as .grad size names */
} OxValue;

typedef struct Importer Importer;

typedef struct OxNode {
  Importer *im;
  const Onnx__NodeProto *p;
  int index;           /* in the graph's node list */
  int opset;           /* the model's opset for the default domain */
  int nin, nout;
  OxValue *in[OX_MAX_IO];  /* NULL for an omitted optional input ("") */
  OxValue *out[OX_MAX_IO]; /* NULL for an omitted output; created before the converter runs */
  int out_type[OX_MAX_IO]; /* the ONNX element type of each output: the converter sets it
                              when it is not input 0's (Cast, Equal, ArgMax, Shape, ...) */
  bool folding;        /* the statements are being written to be evaluated now */
} OxNode;

typedef void (*OxConvert)(OxNode *n);

typedef struct {
  const char *op_type;
  OxConvert convert;
  int min_inputs; /* the inputs every opset requires (ONNX's min_input, the least over
                     opsets 1 to 17): the framework checks them before the converter runs */
} OxOp;

/* ---- writing statements ---- */
void ox_emit(OxNode *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Output i's name (the statement that defines it must be emitted). */
const char *ox_out(OxNode *n, int i);
/* A fresh name for a temporary of this node. */
const char *ox_tmp(OxNode *n);
/* Input i as an f32 expression (a name, or a literal for a known rank-0 value): an i32
 * value goes through float(). Fails if the input is omitted. */
const char *ox_f(OxNode *n, int i);
/* Input i as an i32 expression: an f32 value holding integers goes through int(round()). */
const char *ox_i(OxNode *n, int i);
/* Whether input i is present. */
bool ox_has(const OxNode *n, int i);
/* A known value given as a tensor: declared in the model as a frozen parameter. Returns its
 * name. Used for constant tables a converter builds (a Resize's weights). */
const char *ox_const(OxNode *n, const char *hint, int rank, const int64_t *dims, const double *v);
/* Output i's values, known now (Constant, Shape, Range, ...): the node needs no statement
 * for it. v is copied; type is the ONNX element type. */
void ox_known(OxNode *n, int i, int type, int rank, const int64_t *dims, const double *v);
/* Marks input i (an initializer) as a buffer of the model (batch norm's running
 * statistics): kept and updated by the training entry points, never trained. */
void ox_make_buffer(OxNode *n, int i);

/* ---- reading attributes and known inputs ---- */
const Onnx__AttributeProto *ox_attr(const OxNode *n, const char *name);
int64_t ox_attr_int(const OxNode *n, const char *name, int64_t def);
double ox_attr_float(const OxNode *n, const char *name, double def);
/* The string, or def. */
const char *ox_attr_str(const OxNode *n, const char *name, const char *def);
/* The ints into out[0..max); returns the count, or -1 when absent. */
int ox_attr_ints(const OxNode *n, const char *name, int64_t *out, int max);
int ox_attr_floats(const OxNode *n, const char *name, double *out, int max);
/* Input i's values, which must be known at import time (a constant, an initializer or a
 * bound input); fails naming the input otherwise. Returns the count (at most max, else
 * fails). */
int64_t ox_need_const(OxNode *n, int i, const char *what, double *out, int64_t max);
/* The same as integers. */
int ox_need_ints(OxNode *n, int i, const char *what, int64_t *out, int max);
/* Normalises a possibly negative axis against rank (fails when out of range). */
int ox_axis(OxNode *n, int64_t axis, int rank);

/* Fails with "FILE: node I 'NAME' (OP, opset K): MESSAGE". */
_Noreturn void ox_fail(OxNode *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats a list of ints as "[a, b, c]" into a buffer of the node (valid until the node
 * ends). */
const char *ox_list(OxNode *n, const int64_t *v, int count);
/* Formats a float as the language writes it ("0.5", "-inf", "1e-05"). */
const char *ox_num(OxNode *n, double v);

/* ---- the table ---- */
const OxOp *ox_find_op(const char *op_type);

/* The converters, by family (ops_*.c). */
extern const OxOp ox_ops_elem[], ox_ops_shape[], ox_ops_nn[], ox_ops_reduce[];

#endif
