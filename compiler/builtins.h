/* builtins.h — what each operator of the language builds: its graph of primitives
 * (ops.h). The calls themselves (names, parameters, binding, messages) are signature.h,
 * shared with the tape. */
#ifndef GRADC_BUILTINS_H
#define GRADC_BUILTINS_H
#include "ast.h"
#include "graph.h"
#include "signature.h"

/* What a builder needs from its caller (build.c): the graph and diagnostics, and the
 * value of an argument expression (any expression: the caller evaluates it, so the
 * builders depend on the caller only through these pointers); number reads a constant
 * argument (signature.h's ArgReader). */
typedef struct {
  Graph *g;
  Diag *d;
  Node *(*value)(void *self, Expr *e);
  bool (*number)(void *self, const Expr *e, double *out);
  void *self;
} BuildCtx;

/* ---- for the builders of the operator families in files of their own
 * (builtins_reduce.c, builtins_loss.c); builtins.c indexes them by CallId ---- */
typedef Node *BuildFn(const BuildCtx *B, Expr *call, Expr **p);
Node *bi_arg(const BuildCtx *B, Expr *e);              /* an operand's value */
ArgReader bi_reader(const BuildCtx *B);                /* for the constant arguments */
#define BI_READER(B) ((ArgReader){(B)->d, (B)->number, (B)->self}) /* the same, as an lvalue */
Shape bi_drop_axes(Shape s, unsigned axes);            /* keepdims=false's shape */
Node *bi_shifted(Graph *g, Node *x, unsigned axis);    /* x - detach(max(x)) along axis */
BuildFn b_min, b_prod, b_var, b_std, b_logsumexp, b_argmax, b_argmin, b_norm;      /* builtins_reduce.c */
BuildFn b_mse, b_bce_with_logits, b_cross_entropy, b_nll_loss, b_l1_loss, b_smooth_l1_loss, b_huber_loss,
    b_kl_div;                                                                       /* builtins_loss.c */

/* Binds the call's arguments to operator `id` and builds its nodes. */
Node *builtin_call(const BuildCtx *B, CallId id, Expr *call);
/* x[...] (EX_INDEX; issue 15, builtins_index2.c): a slice, integer-indexed axes dropped. */
Node *builtin_index(const BuildCtx *B, Expr *e);
/* `a @ b` with torch.matmul semantics for 1-D, 2-D and 3-D operands. */
Node *builtin_matmul(Graph *g, Node *a, Node *b);
/* Whether every operator of signature.h has a builder (test_parse.c checks it). */
bool builtin_complete(void);

/* ---- batch norm and buffers (issue 15): builtins_bn.c ---- */
Node *b_batch_norm(const BuildCtx *B, Expr *call, Expr **p);
/* ---- convolution and pooling (issue 15): the builders of builtins_window.c ---- */
Node *b_conv2d(const BuildCtx *B, Expr *call, Expr **p);
Node *b_conv1d(const BuildCtx *B, Expr *call, Expr **p);
Node *b_conv_transpose2d(const BuildCtx *B, Expr *call, Expr **p);
Node *b_max_pool2d(const BuildCtx *B, Expr *call, Expr **p);
Node *b_avg_pool2d(const BuildCtx *B, Expr *call, Expr **p);
Node *b_global_avg_pool(const BuildCtx *B, Expr *call, Expr **p);
Node *b_adaptive_avg_pool2d(const BuildCtx *B, Expr *call, Expr **p);
/* ---- comparisons and elementwise (issue 15): the builders of builtins_elem.c ---- */
Node *b_where(const BuildCtx *B, Expr *call, Expr **p);
Node *b_clamp(const BuildCtx *B, Expr *call, Expr **p);
Node *b_hardtanh(const BuildCtx *B, Expr *call, Expr **p);
Node *b_relu6(const BuildCtx *B, Expr *call, Expr **p);
Node *b_hardsigmoid(const BuildCtx *B, Expr *call, Expr **p);
Node *b_hardswish(const BuildCtx *B, Expr *call, Expr **p);
Node *b_elu(const BuildCtx *B, Expr *call, Expr **p);
Node *b_selu(const BuildCtx *B, Expr *call, Expr **p);
Node *b_celu(const BuildCtx *B, Expr *call, Expr **p);
Node *b_prelu(const BuildCtx *B, Expr *call, Expr **p);
Node *b_softsign(const BuildCtx *B, Expr *call, Expr **p);
Node *b_sin(const BuildCtx *B, Expr *call, Expr **p);
Node *b_cos(const BuildCtx *B, Expr *call, Expr **p);
Node *b_square(const BuildCtx *B, Expr *call, Expr **p);
Node *b_rsqrt(const BuildCtx *B, Expr *call, Expr **p);
Node *b_reciprocal(const BuildCtx *B, Expr *call, Expr **p);
Node *b_erf(const BuildCtx *B, Expr *call, Expr **p);
Node *b_sign(const BuildCtx *B, Expr *call, Expr **p);
Node *b_floor(const BuildCtx *B, Expr *call, Expr **p);
Node *b_ceil(const BuildCtx *B, Expr *call, Expr **p);
Node *b_round(const BuildCtx *B, Expr *call, Expr **p);
Node *b_float(const BuildCtx *B, Expr *call, Expr **p); /* dtype conversions (issue 16) */
Node *b_int(const BuildCtx *B, Expr *call, Expr **p);

/* ---- normalization and attention (issue 15): the builders of builtins_norm.c ---- */
Node *b_layer_norm(const BuildCtx *B, Expr *call, Expr **p);
Node *b_group_norm(const BuildCtx *B, Expr *call, Expr **p);

/* ---- attention (issue 15): the builders of builtins_attn.c ---- */
BuildFn b_tril, b_triu, b_masked_fill, b_sdpa;
/* ---- dropout and modes (issue 15): the builders of builtins_random.c ---- */
Node *b_dropout(const BuildCtx *B, Expr *call, Expr **p);

#endif
