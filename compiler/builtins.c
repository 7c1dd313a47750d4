/* builtins.c — every operator of the language, one builder each (indexed by its
 * signature, signature.h): how it is built from primitives (ops.h). Compositions need no derivative rule of their own:
 * autodiff differentiates the primitives they expand into. Numerically stable forms
 * are used throughout (softmax and log_softmax subtract the max). Reductions follow
 * torch: `mean` divides by the reduced count. The reductions beyond sum, mean and max
 * are in builtins_reduce.c, the losses in builtins_loss.c. */
#include "builtins.h"
#include "builtins_index.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- argument helpers */

/* Evaluates an operand; the graph's location and operator name stay the call's (for
 * shape errors). */
Node *bi_arg(const BuildCtx *B, Expr *e) {
  Graph *g = B->g;
  SrcLoc loc = g->loc;
  const char *what = g->what;
  Node *n = B->value(B->self, e);
  g->loc = loc, g->what = what;
  return n;
}

/* The constant arguments, read by the rules both front ends share (signature.h). */
static double num(const BuildCtx *B, Expr *e, double def) { return arg_num(&BI_READER(B), e, def); }
static bool flag(const BuildCtx *B, Expr *e, bool def) { return arg_flag(&BI_READER(B), e, def); }
static int axis_of(const BuildCtx *B, Expr *e, int rank) { return arg_axis(&BI_READER(B), e, rank); }
static unsigned axes_of(const BuildCtx *B, Expr *e, int rank) { return arg_axes(&BI_READER(B), e, rank); }

static Shape drop_axes(Shape s, unsigned axes) {
  Shape o = {0, {0}};
  for (int i = 0; i < s.rank; i++)
    if (!(axes & (1u << i))) o.d[o.rank++] = s.d[i];
  return o;
}

/* ---------------------------------------------------------------- builders */

static Node *unary(const BuildCtx *B, Expr *p, OpKind op) { return g_unary(B->g, op, bi_arg(B, p)); }
static Node *b_exp(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_EXP); }
static Node *b_log(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_LOG); }
static Node *b_sqrt(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_SQRT); }
static Node *b_abs(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_ABS); }
static Node *b_tanh(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_TANH); }
static Node *b_sigmoid(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_SIGMOID); }
static Node *b_relu(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_RELU); }
/* silu(x) = x sigmoid(x), F.silu (swish). */
static Node *b_silu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  return g_binary(g, OP_MUL, x, g_unary(g, OP_SIGMOID, x));
}
static Node *b_softplus(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_SOFTPLUS); }
static Node *b_detach(const BuildCtx *B, Expr *c, Expr **p) {
  B->g->detaches = true;
  return (void)c, unary(B, p[0], OP_DETACH);
}

/* leaky_relu(x) = x (slope + (1 - slope) step(x)): slope below and at 0, as torch. */
static Node *b_leaky_relu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  double s = num(B, p[1], 0.01);
  Node *k = g_binary(g, OP_ADD, g_const(g, s), g_binary(g, OP_MUL, g_const(g, 1 - s), g_unary(g, OP_STEP, x)));
  return g_binary(g, OP_MUL, x, k);
}

/* gelu(x) = x/2 (1 + erf(x / sqrt 2)), the exact form of F.gelu. */
static Node *b_gelu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  Node *e = g_unary(g, OP_ERF, g_binary(g, OP_MUL, x, g_const(g, M_SQRT1_2)));
  return g_binary(g, OP_MUL, g_binary(g, OP_MUL, x, g_const(g, 0.5)), g_binary(g, OP_ADD, e, g_const(g, 1)));
}

static Node *b_maximum(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  return g_binary(B->g, OP_MAXIMUM, bi_arg(B, p[0]), bi_arg(B, p[1]));
}
static Node *b_minimum(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  return g_binary(B->g, OP_MINIMUM, bi_arg(B, p[0]), bi_arg(B, p[1]));
}

static Node *reduce(const BuildCtx *B, Expr **p, OpKind op, bool mean) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  unsigned axes = axes_of(B, p[1], x->shape.rank);
  bool keep = flag(B, p[2], false);
  bool first = op == OP_MAX && p[1] && p[1]->kind != EX_LIST; /* torch.max(x, dim) */
  Node *r = op == OP_SUM ? g_sum(g, x, axes) : g_max(g, x, axes, first);
  if (mean) r = g_binary(g, OP_MUL, r, g_const(g, (double)shape_count(r->shape) / (double)shape_count(x->shape)));
  return keep ? r : g_reshape(g, r, drop_axes(x->shape, axes));
}
static Node *b_sum(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, reduce(B, p, OP_SUM, false); }
static Node *b_mean(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, reduce(B, p, OP_SUM, true); }
static Node *b_max(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, reduce(B, p, OP_MAX, false); }

/* x - max(x) along the axis; the max is detached (it cancels in the derivative). */
static Node *shifted(Graph *g, Node *x, unsigned axis) {
  return g_binary(g, OP_SUB, x, g_unary(g, OP_DETACH, g_max(g, x, axis, false)));
}
static Node *softmax_like(const BuildCtx *B, Expr **p, bool log) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  unsigned axis = 1u << axis_of(B, p[1] ? p[1] : &(Expr){.kind = EX_NUM, .num = -1, .is_int = 1, .loc = p[0]->loc},
                                x->shape.rank);
  Node *z = shifted(g, x, axis);
  Node *s = g_sum(g, g_unary(g, OP_EXP, z), axis);
  if (log) return g_binary(g, OP_SUB, z, g_unary(g, OP_LOG, s));
  return g_binary(g, OP_DIV, g_unary(g, OP_EXP, z), s);
}
static Node *b_softmax(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, softmax_like(B, p, false); }
static Node *b_log_softmax(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, softmax_like(B, p, true); }

static Node *b_transpose(const BuildCtx *B, Expr *c, Expr **p) {
  Node *x = bi_arg(B, p[0]);
  int perm[GC_MAX_RANK] = {0};
  arg_perm(&BI_READER(B), c, p[1], x->shape.rank, perm);
  return g_permute(B->g, x, perm);
}

static Node *b_reshape(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  Shape s = {0, {0}};
  int infer;
  int64_t known, cnt = shape_count(x->shape);
  s.rank = arg_sizes(&BI_READER(B), p[1], GC_MAX_RANK, s.d, &infer, &known);
  if (infer >= 0) {
    if (cnt % known) diag_error(B->d, c->loc, "cannot reshape %s to %lld x -1", shape_str(g->arena, x->shape), (long long)known);
    s.d[infer] = cnt / known;
  }
  return g_reshape(g, x, s);
}

static Node *b_flatten(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  if (x->shape.rank < 1) diag_error(B->d, c->loc, "flatten needs a tensor of rank 1 or more");
  Shape s = {x->shape.rank == 1 ? 1 : 2, {x->shape.d[0], shape_count(x->shape) / x->shape.d[0]}};
  return g_reshape(g, x, s);
}


/* ---------------------------------------------------------------- for the family files */

ArgReader bi_reader(const BuildCtx *B) { return BI_READER(B); }
Shape bi_drop_axes(Shape s, unsigned axes) { return drop_axes(s, axes); }
Node *bi_shifted(Graph *g, Node *x, unsigned axis) { return shifted(g, x, axis); }

/* ---------------------------------------------------------------- the table */

/* Each operator's builder, by its signature (signature.h). */
static BuildFn *const builders[CALL__COUNT] = {
    [CALL_EXP] = b_exp,
    [CALL_LOG] = b_log,
    [CALL_SQRT] = b_sqrt,
    [CALL_ABS] = b_abs,
    [CALL_TANH] = b_tanh,
    [CALL_SIGMOID] = b_sigmoid,
    [CALL_RELU] = b_relu,
    [CALL_LEAKY_RELU] = b_leaky_relu,
    [CALL_GELU] = b_gelu,
    [CALL_SILU] = b_silu,
    [CALL_SOFTPLUS] = b_softplus,
    [CALL_MAXIMUM] = b_maximum,
    [CALL_MINIMUM] = b_minimum,
    [CALL_TRANSPOSE] = b_transpose,
    [CALL_RESHAPE] = b_reshape,
    [CALL_FLATTEN] = b_flatten,
    [CALL_SUM] = b_sum,
    [CALL_MEAN] = b_mean,
    [CALL_MAX] = b_max,
    [CALL_SOFTMAX] = b_softmax,
    [CALL_LOG_SOFTMAX] = b_log_softmax,
    [CALL_MSE] = b_mse,
    [CALL_BCE_WITH_LOGITS] = b_bce_with_logits,
    [CALL_CROSS_ENTROPY] = b_cross_entropy,
    [CALL_DETACH] = b_detach,
    [CALL_CONV2D] = b_conv2d,
    [CALL_MAX_POOL2D] = b_max_pool2d,
    [CALL_AVG_POOL2D] = b_avg_pool2d,
    /* reductions and losses (issue 15): builtins_reduce.c, builtins_loss.c */
    [CALL_MIN] = b_min,
    [CALL_PROD] = b_prod,
    [CALL_VAR] = b_var,
    [CALL_STD] = b_std,
    [CALL_LOGSUMEXP] = b_logsumexp,
    [CALL_ARGMAX] = b_argmax,
    [CALL_ARGMIN] = b_argmin,
    [CALL_NORM] = b_norm,
    [CALL_NLL_LOSS] = b_nll_loss,
    [CALL_L1_LOSS] = b_l1_loss,
    [CALL_SMOOTH_L1_LOSS] = b_smooth_l1_loss,
    [CALL_HUBER_LOSS] = b_huber_loss,
    [CALL_KL_DIV] = b_kl_div,
    /* ---- convolution and pooling (issue 15): builtins_window.c ---- */
    [CALL_CONV1D] = b_conv1d,
    [CALL_CONV_TRANSPOSE2D] = b_conv_transpose2d,
    [CALL_GLOBAL_AVG_POOL] = b_global_avg_pool,
    [CALL_ADAPTIVE_AVG_POOL2D] = b_adaptive_avg_pool2d,
    /* ---- indexing and assembling (issue 15; builtins_index.c) ---- */
    [CALL_CONCAT] = b_concat,
    [CALL_CAT] = b_concat,
    [CALL_STACK] = b_stack,
    [CALL_NARROW] = b_narrow,
    [CALL_SQUEEZE] = b_squeeze,
    [CALL_UNSQUEEZE] = b_unsqueeze,
    [CALL_EXPAND] = b_expand,
    [CALL_REPEAT] = b_repeat,
    [CALL_PAD] = b_pad,
    /* ---- indexing II (issue 15): builtins_index2.c ---- */
    [CALL_EMBEDDING] = b_embedding,
    [CALL_GATHER] = b_gather,
    [CALL_ONE_HOT] = b_one_hot,
    [CALL_SPLIT] = b_split,
    [CALL_CHUNK] = b_chunk,
    /* ---- comparisons and elementwise (issue 15): builtins_elem.c ---- */
    [CALL_WHERE] = b_where,
    [CALL_CLAMP] = b_clamp,
    [CALL_RELU6] = b_relu6,
    [CALL_HARDTANH] = b_hardtanh,
    [CALL_HARDSIGMOID] = b_hardsigmoid,
    [CALL_HARDSWISH] = b_hardswish,
    [CALL_ELU] = b_elu,
    [CALL_SELU] = b_selu,
    [CALL_CELU] = b_celu,
    [CALL_PRELU] = b_prelu,
    [CALL_SOFTSIGN] = b_softsign,
    [CALL_SIN] = b_sin,
    [CALL_COS] = b_cos,
    [CALL_SQUARE] = b_square,
    [CALL_RSQRT] = b_rsqrt,
    [CALL_RECIPROCAL] = b_reciprocal,
    [CALL_ERF] = b_erf,
    [CALL_SIGN] = b_sign,
    [CALL_FLOOR] = b_floor,
    [CALL_CEIL] = b_ceil,
    [CALL_ROUND] = b_round,
    /* ---- normalization and attention (issue 15): builtins_norm.c ---- */
    [CALL_LAYER_NORM] = b_layer_norm,
    [CALL_GROUP_NORM] = b_group_norm,
    /* ---- batch norm and buffers (issue 15) ---- */
    [CALL_BATCH_NORM] = b_batch_norm,
    /* ---- attention (issue 15): builtins_attn.c ---- */
    [CALL_TRIL] = b_tril,
    [CALL_TRIU] = b_triu,
    [CALL_MASKED_FILL] = b_masked_fill,
    [CALL_SCALED_DOT_PRODUCT_ATTENTION] = b_sdpa,
    /* ---- dropout and modes (issue 15): builtins_random.c ---- */
    [CALL_DROPOUT] = b_dropout,
    [CALL_FLOAT] = b_float, /* dtype conversions (issue 16) */
    [CALL_INT] = b_int,
};

bool builtin_complete(void) {
  for (int i = 0; i < CALL__COUNT; i++)
    if (!builders[i]) return false;
  return true;
}

/* Binds the call's arguments (signature.c) and builds it. */
Node *builtin_call(const BuildCtx *B, CallId id, Expr *call) {
  Expr *slot[CALL_MAXP] = {0};
  call_bind(B->d, id, call, slot);
  Graph *g = B->g;
  SrcLoc outer_loc = g->loc; /* an enclosing call's: restored for its own nodes */
  const char *outer_what = g->what;
  g->loc = call->loc, g->what = gc_calls[id].name;
  Node *n = builders[id](B, call, slot);
  g->loc = outer_loc, g->what = outer_what;
  return n;
}

/* The operand's rows-by-columns matrix (of a 3-D operand: each batch element's) and its
 * batch size, as torch.matmul sees them: a 1-D `a` is a row, a 1-D `b` a column. */
static int64_t mm_batch(Node *x) { return x->shape.rank == 3 ? x->shape.d[0] : 1; }
static int64_t mm_inner(Node *x, bool left) {
  int r = x->shape.rank;
  return left || r == 1 ? x->shape.d[r - 1] : x->shape.d[r - 2];
}

_Noreturn static void mm_error(Graph *g, Node *a, Node *b, const char *why) {
  diag_error(g->diag, g->loc, "matrix product of %s and %s: %s", shape_str(g->arena, a->shape),
             shape_str(g->arena, b->shape), why);
}

/* The shapes torch.matmul accepts, up to 3-D: inner sizes equal; batch sizes (of 3-D
 * operands; a 1-D or 2-D operand has none) equal, or one of them 1, which broadcasts. */
static void mm_check(Graph *g, Node *a, Node *b) {
  int ra = a->shape.rank, rb = b->shape.rank;
  if (ra == 0 || rb == 0) mm_error(g, a, b, "operands must be at least 1-D");
  if (ra > 3 || rb > 3) mm_error(g, a, b, "at most 3-D operands are supported");
  long long ka = mm_inner(a, true), kb = mm_inner(b, false), ba = mm_batch(a), bb = mm_batch(b);
  if (ka != kb) mm_error(g, a, b, arena_printf(g->arena, "inner dimensions %lld and %lld differ", ka, kb));
  if (ra == 3 && rb == 3 && ba != bb && ba != 1 && bb != 1)
    mm_error(g, a, b,
             arena_printf(g->arena,
                          "batch sizes %lld and %lld do not broadcast (3-D operands need equal batch sizes, or a "
                          "batch of 1, which is repeated, as torch.matmul does)",
                          ba, bb));
}

/* [B, M, K] @ [K, N] (or [K]): the batch folds into the rows, one 2-D product. */
static Node *mm_fold(Graph *g, Node *a, Node *b2, bool vec) {
  SrcLoc loc = g->loc;
  Node *flat = g_reshape(g, a, (Shape){2, {a->shape.d[0] * a->shape.d[1], a->shape.d[2]}});
  g->loc = loc;
  Node *m = g_matmul(g, flat, b2, false, false);
  Shape s = {vec ? 2 : 3, {a->shape.d[0], a->shape.d[1], b2->shape.d[1]}};
  return g_reshape(g, m, s);
}

/* torch.matmul: 1-D operands get a unit dimension that is removed afterwards; a 3-D
 * operand times a 2-D one (or a 3-D one with a batch of 1) folds the batch into the
 * rows; a 2-D operand (or a batch of 1) times a 3-D one is repeated along the batch
 * (expand, whose gradient sums over the batch). */
Node *builtin_matmul(Graph *g, Node *a, Node *b) {
  SrcLoc loc = g->loc;
  mm_check(g, a, b);
  int ra = a->shape.rank, rb = b->shape.rank;
  if (ra == 3 && rb == 3 && a->shape.d[0] != b->shape.d[0]) { /* one batch is 1: it broadcasts */
    if (b->shape.d[0] == 1) b = g_reshape(g, b, (Shape){2, {b->shape.d[1], b->shape.d[2]}}), rb = 2;
    else a = g_reshape(g, a, (Shape){2, {a->shape.d[1], a->shape.d[2]}}), ra = 2;
    g->loc = loc;
  }
  Node *a2 = ra == 1 ? g_reshape(g, a, (Shape){2, {1, a->shape.d[0]}}) : a;
  Node *b2 = rb == 1 ? g_reshape(g, b, (Shape){2, {b->shape.d[0], 1}}) : b;
  g->loc = loc;
  if (ra == 3 && rb <= 2) return mm_fold(g, a, b2, rb == 1);
  if (ra <= 2 && rb == 3) {
    a2 = g_expand(g, a2, (Shape){3, {b->shape.d[0], a2->shape.d[0], a2->shape.d[1]}});
    g->loc = loc;
  }
  Node *m = g_matmul(g, a2, b2, false, false);
  /* drop the unit dimensions the 1-D operands were given: rows for a, columns for b */
  Shape out = {0, {0}};
  int row = m->shape.rank - 2, col = m->shape.rank - 1;
  for (int i = 0; i < m->shape.rank; i++)
    if (!(i == row && ra == 1) && !(i == col && rb == 1)) out.d[out.rank++] = m->shape.d[i];
  return g_reshape(g, m, out);
}
