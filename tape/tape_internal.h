/* tape_internal.h — the eager engine's tensors, tape records and operator kernels.
 *
 * A Tensor is a contiguous row-major float buffer with a shape (or an int32 buffer for
 * class labels and indices), like a contiguous torch.Tensor. Leaves (inputs, parameters) belong to
 * the model and live across runs; every other tensor is malloc'd by the op that made it
 * and freed by tp_reset (after backward, or at the next forward). An op whose operand
 * requires a gradient appends a Record to the tape (torch's grad_fn) holding its inputs,
 * its output, its parameters and what its backward kernel needs saved. Backward kernels
 * ADD into the inputs' gradient buffers (torch accumulates the same way).
 *
 * Errors (shape mismatches, labels out of range, out of memory) go through tp_fail,
 * which formats `FILE:LINE:COL: error: ...` at the current operator's location and
 * longjmps to the entry point (see diag.h); everything allocated is on the tape's lists,
 * so unwinding leaks nothing. This header holds no derivative logic itself. */
#ifndef GRADC_TAPE_INTERNAL_H
#define GRADC_TAPE_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "signature.h" /* ConvArgs, PoolArgs, Reduction */

#define TP_MAX_RANK 8

typedef struct Tensor Tensor;
typedef struct Record Record;
typedef struct Tape Tape;
typedef void BackwardFn(Tape *T, Record *r);

struct Tensor {
  int rank;
  int64_t shape[TP_MAX_RANK];
  size_t n;          /* elements */
  float *data;       /* f32 values (NULL for i32) */
  int32_t *idata;    /* i32 values (class labels) */
  float *grad;       /* d loss / d this, allocated zeroed when backward first reaches it */
  bool requires_grad;
  bool leaf;         /* input or parameter: owned by the model, grad is the model's buffer */
  bool owns_data;    /* false for views (reshape, flatten, detach) */
  Record *grad_fn;   /* the record that produced it, or NULL */
};

#define TP_MAX_IN 3

struct Record {
  const char *name;     /* the operator, for debugging */
  BackwardFn *backward; /* reads out->grad, ADDS into each input's grad */
  Tensor *in[TP_MAX_IN];
  int nin;
  Tensor *out;
  void *saved;          /* op-specific saved buffer (max indices...), freed with the record */
  double c;             /* constant: exponent, slope, scale */
  int axis, k, stride, pad;
  unsigned axes;
  int perm[TP_MAX_RANK];
};

struct Tape {
  Diag *diag;
  SrcLoc loc;        /* of the operator being executed, for messages */
  Tensor **tensors;  /* every non-leaf tensor of this run */
  size_t ntensors, captensors;
  Record **recs;     /* the tape, in execution order */
  size_t nrecs, caprecs;
};

/* ---- engine.c ---- */
_Noreturn void tp_fail(Tape *T, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *tp_malloc(Tape *T, size_t bytes);  /* fails (never returns NULL) when out of memory */
void *tp_calloc(Tape *T, size_t bytes);
/* A new f32 tensor of the given shape; data uninitialised (torch.empty) or zeroed. */
Tensor *tp_empty(Tape *T, int rank, const int64_t *shape);
Tensor *tp_zeros(Tape *T, int rank, const int64_t *shape);
/* Scratch memory for this run, freed with the run's tensors (tp_reset). */
void *tp_scratch(Tape *T, size_t bytes);
Tensor *tp_scalar(Tape *T, double v); /* a wrapped Python number: 0-d, no gradient */
Tensor *tp_empty_i32(Tape *T, int rank, const int64_t *shape); /* an int32 tensor (indices) */
Tensor *tp_view(Tape *T, Tensor *x, int rank, const int64_t *shape); /* shares x's data */
/* Appends a record for OUT if any input requires grad (out then requires grad too);
 * returns NULL (and records nothing) otherwise. */
Record *tp_record(Tape *T, const char *name, BackwardFn *bw, Tensor *out, int nin, Tensor *const *in);
/* The gradient buffer of x (zeroed on first use); NULL if x does not require grad. */
float *tp_grad(Tape *T, Tensor *x);
/* Seeds d loss / d loss = 1 and runs every record's backward in reverse order. */
void tp_run_backward(Tape *T, Tensor *loss);
void tp_reset(Tape *T); /* frees the tape and every non-leaf tensor */
const char *tp_shape_str(const Tensor *x, char *buf, size_t len); /* "[2, 3]" */
size_t tp_count(int rank, const int64_t *shape);

/* ---- ops_pointwise.c ---- */
typedef enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_TANH, U_SIGMOID, U_RELU, U_GELU, U_SILU, U_SOFTPLUS } UnaryOp;
typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAXIMUM, B_MINIMUM } BinaryOp;
Tensor *op_unary(Tape *T, UnaryOp op, Tensor *x);
Tensor *op_leaky_relu(Tape *T, Tensor *x, double slope);
Tensor *op_pow(Tape *T, Tensor *x, double e);
Tensor *op_binary(Tape *T, BinaryOp op, Tensor *a, Tensor *b);
/* Broadcasting (NumPy rules): the output shape of a and b, failing with both shapes. */
int tp_broadcast_shape(Tape *T, const char *what, const Tensor *a, const Tensor *b, int64_t *out);
/* Strides of x's elements along each dimension of an output of rank r (0 where broadcast). */
void tp_bstrides(const Tensor *x, int r, const int64_t *oshape, int64_t *st);
/* Walks an output of shape oshape[0..r) row by row (a row is the innermost dimension),
 * keeping the offsets of two operands broadcast to it (only their n, rank and shape are
 * read). Same-shape and scalar operands collapse to one row. Used as
 *   for (row = 0; row < it.rows; row++, bi_next(&it)) for (j < it.inner) a[it.ia + j*it.xa]... */
typedef struct {
  int r;
  int64_t shape[TP_MAX_RANK], sa[TP_MAX_RANK], sb[TP_MAX_RANK], idx[TP_MAX_RANK];
  int64_t ia, ib; /* offsets of the current row */
  int64_t xa, xb; /* strides along the row */
  size_t rows, inner;
} BIter;
void bi_init(BIter *it, const Tensor *a, const Tensor *b, int r, const int64_t *oshape);
void bi_next(BIter *it);

/* ---- ops_reduce.c ---- */
Tensor *op_sum(Tape *T, Tensor *x, unsigned axes, bool keep, bool mean);
Tensor *op_amax(Tape *T, Tensor *x, unsigned axes, bool keep);     /* max(x, axis=[..] or absent) */
Tensor *op_max_dim(Tape *T, Tensor *x, int axis, bool keep);        /* max(x, axis=int) */
Tensor *op_softmax(Tape *T, Tensor *x, int axis, bool log);
Tensor *op_amin(Tape *T, Tensor *x, unsigned axes, bool keep);     /* min(x, axis=[..] or absent) */
Tensor *op_min_dim(Tape *T, Tensor *x, int axis, bool keep);        /* min(x, axis=int) */

/* ---- ops_stats.c: reductions and losses (issue 15) ---- */
Tensor *op_prod(Tape *T, Tensor *x, unsigned axes, bool keep);
Tensor *op_var(Tape *T, Tensor *x, unsigned axes, int correction, bool keep, bool std);
Tensor *op_logsumexp(Tape *T, Tensor *x, unsigned axes, bool keep);
Tensor *op_argmax(Tape *T, Tensor *x, int axis, bool keep, bool min); /* axis -1: flattened */
Tensor *op_norm(Tape *T, Tensor *x, double p, unsigned axes, bool keep); /* p 1, 2 or INFINITY */

/* ---- ops_shape.c ---- */
Tensor *op_permute(Tape *T, Tensor *x, const int *perm);
Tensor *op_reshape(Tape *T, Tensor *x, int rank, const int64_t *shape);
Tensor *op_detach(Tape *T, Tensor *x);
Tensor *op_matmul(Tape *T, Tensor *a, Tensor *b);

/* ---- ops_nn.c ---- */
Tensor *op_conv2d(Tape *T, Tensor *x, Tensor *w, Tensor *b, const ConvArgs *a);
Tensor *op_conv_transpose2d(Tape *T, Tensor *x, Tensor *w, Tensor *b, const ConvArgs *a);
Tensor *op_max_pool2d(Tape *T, Tensor *x, const PoolArgs *k);
Tensor *op_avg_pool2d(Tape *T, Tensor *x, const PoolArgs *k);

/* ---- ops_loss.c: the pointwise losses, over the broadcast of their two operands ---- */
typedef enum { L_MSE, L_BCE, L_L1, L_SMOOTH_L1, L_HUBER, L_KL, L_KL_LOG } LossKind;
/* c: smooth_l1's beta, huber's delta. */
Tensor *op_loss(Tape *T, LossKind kind, Tensor *a, Tensor *b, Reduction red, double c);

/* ---- ops_classify.c ---- */
/* labels: i32 [N], or f32 probabilities [N, C]; weight: f32 [C] or NULL; e: label smoothing. */
Tensor *op_cross_entropy(Tape *T, Tensor *logits, Tensor *labels, Tensor *weight, Reduction red, double e);
Tensor *op_nll_loss(Tape *T, Tensor *logp, Tensor *labels, Tensor *weight, Reduction red);

/* ---- ops_index.c (issue 15) ---- */
/* out (rank, shape) at (j0, j1..) = x at (maps[0][j0], maps[1][j1]..), fill where one
 * is -1; x has the result's rank. */
Tensor *op_axis_map(Tape *T, const char *name, Tensor *x, int rank, const int64_t *shape, int64_t *const *maps,
                    double fill);
Tensor *op_concat2(Tape *T, Tensor *a, Tensor *b, int axis); /* torch.cat([a, b], axis) */
/* ---- indexing II (issue 15) ---- out (rank, shape) at o = x at o with axis replaced by
 * index[o] (i32, broadcast into shape), 0 where it is outside [0, x's size); backward
 * adds dy into x at those positions (a repeated index gets every contribution). */
Tensor *op_gather(Tape *T, const char *name, Tensor *x, Tensor *index, int axis, int rank, const int64_t *shape);

/* ---- ops_elem.c: comparisons and elementwise (issue 15) ---- */
typedef enum {
  E_SIN, E_COS, E_SQUARE, E_RSQRT, E_RECIPROCAL, E_ERF, E_SIGN, E_FLOOR, E_CEIL, E_ROUND,
  E_SOFTSIGN, E_HARDTANH, E_HARDSIGMOID, E_HARDSWISH, E_ELU
} ElemOp;
/* A unary function with its constants: ROUND (decimals, 10^|decimals|), HARDTANH (min,
 * max), ELU (negcoef, poscoef, negiptcoef: elu, selu and celu as torch's elu kernel). */
Tensor *op_elem(Tape *T, ElemOp op, Tensor *x, double c0, double c1, double c2);
typedef enum { C_LT, C_LE, C_GT, C_GE, C_EQ, C_NE } CompareOp;
/* A comparison: a broadcast 0/1 f32 mask, no gradient. `what` names it in messages. */
Tensor *op_compare(Tape *T, CompareOp op, const char *what, Tensor *a, Tensor *b);
Tensor *op_pow_tensor(Tape *T, Tensor *x, Tensor *y);     /* x ** y, torch.pow */
Tensor *op_where(Tape *T, Tensor *c, Tensor *a, Tensor *b); /* a where c != 0, else b */
Tensor *op_clamp(Tape *T, Tensor *x, Tensor *lo, Tensor *hi); /* lo or hi may be NULL */
Tensor *op_prelu(Tape *T, Tensor *x, Tensor *w);
/* dtype conversions (issue 16), no gradient: i32 -> f32 (x.float()); f32 -> i32 toward
 * zero, saturated at the i32 range, NaN -> 0 (x.int() where that is defined). */
Tensor *op_to_f32(Tape *T, Tensor *x);
Tensor *op_to_i32(Tape *T, Tensor *x);

/* ---- ops_norm.c: normalization (issue 15); w and b may be NULL ---- */
/* F.layer_norm over the k trailing axes of x; w and b have those axes' shape. */
Tensor *op_layer_norm(Tape *T, Tensor *x, int k, Tensor *w, Tensor *b, double eps);
/* F.group_norm of x [N, C, *] in `groups` groups; w and b are [C]. */
/* ---- batch norm and buffers (issue 15): ops_bn.c ---- */
/* F.batch_norm; training: the batch's statistics, and rm, rv updated in place. */
Tensor *op_batch_norm(Tape *T, Tensor *x, Tensor *rm, Tensor *rv, Tensor *w, Tensor *b, double mom, double eps,
                      bool training);
Tensor *op_group_norm(Tape *T, Tensor *x, int groups, Tensor *w, Tensor *b, double eps);

/* ---- ops_attn.c: attention (issue 15) ---- */
Tensor *op_tri(Tape *T, Tensor *x, int64_t diag, bool upper); /* tril (upper false), triu */
/* softmax(q k^T scale (+ causal mask)) v, materialised (the reference). */
Tensor *op_sdpa(Tape *T, Tensor *q, Tensor *k, Tensor *v, bool causal, double scale);
/* ---- ops_dropout.c: dropout and modes (issue 15) ---- */
/* The generator's draw of element index at site salt (Philox4x32-10, its first word). */
uint32_t tp_philox_u32(uint64_t seed, uint32_t salt, uint32_t index);
/* F.dropout in training mode (0 < p < 1), its mask drawn under the step seed. */
Tensor *op_dropout(Tape *T, Tensor *x, double p, uint32_t salt, uint64_t seed);

#endif
