/* builtins_bn.c — batch_norm (issue 15), F.batch_norm with PyTorch's two modes, and its
 * folding into the convolution or product before it in eval mode.
 *
 * x is [N, C, *]; running_mean and running_var are `buffer`s f32[C]. Training mode
 * (the backward and train step entries): normalise by the batch's statistics over N
 * and the spatial axes — mean, d = x - mean, var = mean(d^2) (biased), y = d (var +
 * eps)^-1/2 — a composite, so autodiff gives the gradients through the statistics; the
 * running statistics get (1 - momentum) r + momentum s, with the UNBIASED variance
 * var n/(n-1), stored after every read (g_store, entry.c). Eval mode (the forward
 * entry, --inference): per channel y = x s + t with s = w (running_var + eps)^-1/2 and
 * t = b - running_mean s. With --weights, when x is a conv2d/conv1d (per output channel)
 * or a 2-D matrix product (per column), with or without its bias, the eval form is
 * folded into it: conv(x, W s) + (b s + t), the scaled weights and shift computed at
 * compile time (opt.c folds baked leaves). */
#include <string.h>
#include "builtins.h"
#include "opinfo.h"

static Node *bin(Graph *g, OpKind op, Node *a, Node *b) { return g_binary(g, op, a, b); }

/* A running statistic: a buffer leaf f32[C]. */
static Node *running_stat(const BuildCtx *B, Expr *e, int64_t c, const char *what) {
  Graph *g = B->g;
  Node *r = bi_arg(B, e);
  if (r->op != OP_PARAM || !r->buffer)
    diag_error(B->d, e->loc, "batch_norm: %s must be a buffer (model state, as PyTorch's register_buffer): declare "
               "it `buffer NAME : f32[%lld] = %s`", what, (long long)c, strcmp(what, "running_var") ? "zeros" : "ones");
  if (!shape_eq(r->shape, (Shape){1, {c}}))
    diag_error(B->d, e->loc, "batch_norm: %s must be f32 [%lld], one per channel of the input, got %s %s", what,
               (long long)c, dtype_name(r->dtype), shape_str(g->arena, r->shape));
  return r;
}

static Node *affine(const BuildCtx *B, Expr *e, int64_t c, const char *what) {
  if (!e) return NULL;
  Node *w = bi_arg(B, e);
  if (w->dtype != DT_F32 || !shape_eq(w->shape, (Shape){1, {c}}))
    diag_error(B->d, e->loc, "batch_norm: %s must be f32 [%lld], one per channel, got %s %s", what, (long long)c,
               dtype_name(w->dtype), shape_str(B->g->arena, w->shape));
  return w;
}

/* Training mode: the batch's statistics; stores the running ones. */
static Node *bn_train(const BuildCtx *B, Expr *c, Node *x, Node *rm, Node *rv, double mom, double eps) {
  Graph *g = B->g;
  int rank = x->shape.rank;
  int64_t ch = x->shape.d[1], n = shape_count(x->shape) / ch;
  if (n < 2)
    diag_error(B->d, c->loc, "batch_norm: training needs more than 1 value per channel (input %s), as PyTorch",
               shape_str(g->arena, x->shape));
  unsigned axes = ((1u << rank) - 1) & ~2u; /* all but the channels */
  Node *mean = bin(g, OP_MUL, g_sum(g, x, axes), g_const(g, 1.0 / (double)n));
  Node *d = bin(g, OP_SUB, x, mean);
  Node *var = bin(g, OP_MUL, g_sum(g, bin(g, OP_MUL, d, d), axes), g_const(g, 1.0 / (double)n));
  Shape cs = {1, {ch}};
  Node *m1 = g_const(g, 1 - mom), *m = g_const(g, mom);
  Node *nm = bin(g, OP_ADD, bin(g, OP_MUL, rm, m1), bin(g, OP_MUL, g_reshape(g, mean, cs), m));
  Node *unbiased = bin(g, OP_MUL, g_reshape(g, var, cs), g_const(g, (double)n / (double)(n - 1)));
  Node *nv = bin(g, OP_ADD, bin(g, OP_MUL, rv, m1), bin(g, OP_MUL, unbiased, m));
  if (!g_store(g, rm, nm) || !g_store(g, rv, nv) || rm == rv)
    diag_error(B->d, c->loc, "batch_norm: the buffers '%s' and '%s' are already updated by another batch_norm; "
               "each batch_norm needs running statistics of its own", rm->name, rv->name);
  return bin(g, OP_MUL, d, g_powc(g, bin(g, OP_ADD, var, g_const(g, eps)), -0.5));
}

/* x unwrapped of a reshape to its own shape (builtin_matmul's). */
static Node *same_shape_source(Node *x) {
  return x->op == OP_RESHAPE && shape_eq(x->shape, x->in[0]->shape) ? x->in[0] : x;
}

/* Whether to fold into x's producer: its weight is a parameter that --weights bakes in,
 * so that opt.c computes the scaled weights at compile time. (Unbaked, the scaling would
 * be a pass over the weights per call, for one multiply less per element of x: gradc
 * compile --emit ir counts 11 kernels folded against 9 for tools/bench's cnn_bn.) */
static bool worth_folding(const Graph *g, const Node *x, const Node *p) {
  if (p->op == OP_ADD) p = same_shape_source(p->in[0]);
  if (p->op == OP_RESHAPE) p = p->in[0];
  if (p->op != OP_CONV2D && p->op != OP_MATMUL) return false;
  const Node *w = p->in[1];
  if (w->op == OP_RESHAPE) w = w->in[0]; /* conv1d's weight, seen as conv2d's */
  (void)x;
  return w->op == OP_PARAM && g->baking;
}

/* Eval mode folded into x's producer: conv(in, W) [+ b] -> conv(in, W s) + (b s + t), and
 * likewise in @ W [+ b] per column; NULL when x is neither. s, t: [C]. */
static Node *fold(Graph *g, Node *x, Node *s, Node *t) {
  Node *p = same_shape_source(x), *bias = NULL;
  if (!worth_folding(g, x, p)) return NULL;
  int64_t c = s->shape.d[0];
  Shape pc = {x->shape.rank - 1, {c}}; /* [C, 1, ...]: broadcasts along axis 1 */
  for (int i = 1; i < pc.rank; i++) pc.d[i] = 1;
  if (p->op == OP_ADD) { /* a per-channel bias: conv's [O] viewed as [O, 1, ...], or a linear's [C] */
    Node *b = p->in[1]->op == OP_RESHAPE ? p->in[1]->in[0] : p->in[1];
    if (!shape_eq(p->in[1]->shape, pc) || !shape_eq(b->shape, s->shape)) return NULL;
    bias = b, p = same_shape_source(p->in[0]);
  }
  Node *y = NULL;
  if (p->op == OP_CONV2D && shape_eq(x->shape, p->shape)) { /* conv2d: [N, O, OH, OW] */
    Node *w = p->in[1];
    Node *ws = bin(g, OP_MUL, w, g_reshape(g, s, (Shape){4, {c, 1, 1, 1}}));
    y = g_conv(g, OP_CONV2D, p->in[0], ws, node_conv(p), shape_scalar());
  } else if (p->op == OP_RESHAPE && p->in[0]->op == OP_CONV2D && x->shape.rank == 3) { /* conv1d's view */
    Node *cv = p->in[0], *w = cv->in[1];
    Node *ws = bin(g, OP_MUL, w, g_reshape(g, s, (Shape){4, {c, 1, 1, 1}}));
    y = g_reshape(g, g_conv(g, OP_CONV2D, cv->in[0], ws, node_conv(cv), shape_scalar()), x->shape);
  } else if (p->op == OP_MATMUL && p->shape.rank == 2 && !node_matmul(p)->ta && shape_eq(x->shape, p->shape)) {
    Node *w = p->in[1];
    Node *ws = bin(g, OP_MUL, w, node_matmul(p)->tb ? g_reshape(g, s, (Shape){2, {c, 1}}) : s);
    y = g_matmul(g, p->in[0], ws, false, node_matmul(p)->tb);
  } else {
    return NULL;
  }
  Node *shift = bias ? bin(g, OP_ADD, bin(g, OP_MUL, bias, s), t) : t;
  return bin(g, OP_ADD, y, g_reshape(g, shift, pc));
}

/* F.batch_norm(x, running_mean, running_var, weight, bias, momentum, eps); the mode is
 * the entry point's (training: backward and train step; eval: forward). */
Node *b_batch_norm(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  if (x->dtype != DT_F32 || x->shape.rank < 2)
    diag_error(B->d, p[0]->loc, "batch_norm needs an f32 input [N, C, *] (as BatchNorm1d/2d/3d), got %s %s",
               dtype_name(x->dtype), shape_str(g->arena, x->shape));
  int64_t ch = x->shape.d[1];
  Node *rm = running_stat(B, p[1], ch, "running_mean"), *rv = running_stat(B, p[2], ch, "running_var");
  Node *w = affine(B, p[3], ch, "weight"), *b = affine(B, p[4], ch, "bias");
  double mom = arg_momentum(&BI_READER(B), p[5]), eps = arg_eps(&BI_READER(B), p[6]);
  g->mode_dependent = true;
  Shape pc = {x->shape.rank - 1, {ch}}; /* [C, 1, ...]: broadcasts along axis 1 */
  for (int i = 1; i < pc.rank; i++) pc.d[i] = 1;
  if (g->training) {
    Node *y = bn_train(B, c, x, rm, rv, mom, eps);
    if (w) y = bin(g, OP_MUL, y, g_reshape(g, w, pc));
    return b ? bin(g, OP_ADD, y, g_reshape(g, b, pc)) : y;
  }
  Node *s = g_powc(g, bin(g, OP_ADD, rv, g_const(g, eps)), -0.5);
  if (w) s = bin(g, OP_MUL, s, w);
  Node *t = bin(g, OP_SUB, b ? b : g_full(g, 0, rm->shape), bin(g, OP_MUL, rm, s));
  Node *folded = fold(g, x, s, t);
  if (folded) return folded;
  return bin(g, OP_ADD, bin(g, OP_MUL, x, g_reshape(g, s, pc)), g_reshape(g, t, pc));
}
