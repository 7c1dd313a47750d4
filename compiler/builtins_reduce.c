/* builtins_reduce.c — the reductions beyond sum, mean and max (issue 15), each built
 * from primitives as torch defines it; the builders table is builtins.c's.
 *
 *   min(x, axis, keepdims)            -max(-x): torch.min(x, dim).values / torch.amin, the
 *                                     gradient of a tie as max's (first minimum for one
 *                                     integer axis, shared otherwise)
 *   prod(x, axis, keepdims)           the prod primitive (its derivative is exact with zeros)
 *   var(x, axis, correction=1, keepdims)  sum((x - mean)^2) / (n - correction), two passes;
 *   std(...)                          sqrt0(var): torch's gradient 0 where std = 0
 *   logsumexp(x, axis, keepdims)      m + log(sum(exp(x - m))), m the detached max, clamped
 *                                     to the finite floats (a row of -inf gives -inf, as torch)
 *   argmax / argmin(x, axis, keepdims) the first index of the max / min (i32; argmin is the
 *                                     argmax of -x); no axis: of the flattened x
 *   norm(x, p=2, axis, keepdims)      p=2: sqrt0(sum(x^2)); p=1: sum(|x|); p=inf: max(|x|)
 *
 * An absent axis reduces every axis, as sum's. Along the last axis these fuse into rows
 * kernels (schedule.c): var is two loops over each row, logsumexp one more than its max. */
#include <float.h>
#include <math.h>
#include "builtins.h"

static Node *neg(Graph *g, Node *x) { return g_unary(g, OP_NEG, x); }

/* The reduced axes (absent: all) and keepdims of a reduction's arguments p[1], p[kp]. */
static unsigned axes_arg(const BuildCtx *B, Expr *e, Node *x) {
  ArgReader r = bi_reader(B);
  return arg_axes(&r, e, x->shape.rank);
}
static bool keep_arg(const BuildCtx *B, Expr *e) {
  ArgReader r = bi_reader(B);
  return arg_flag(&r, e, false);
}
static Node *finish(Graph *g, Node *x, Node *r, unsigned axes, bool keep) {
  return keep ? r : g_reshape(g, r, bi_drop_axes(x->shape, axes));
}

/* The number of elements each reduced slice holds. */
static double slice_count(Node *x, unsigned axes) {
  double n = 1;
  for (int i = 0; i < x->shape.rank; i++)
    if (axes & (1u << i)) n *= (double)x->shape.d[i];
  return n;
}

Node *b_min(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  unsigned axes = axes_arg(B, p[1], x);
  bool first = p[1] && p[1]->kind != EX_LIST; /* torch.min(x, dim) */
  return finish(g, x, neg(g, g_max(g, neg(g, x), axes, first)), axes, keep_arg(B, p[2]));
}

Node *b_prod(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *x = bi_arg(B, p[0]);
  unsigned axes = axes_arg(B, p[1], x);
  return finish(B->g, x, g_prod(B->g, x, axes), axes, keep_arg(B, p[2]));
}

/* var or std: the mean first, then the sum of squared deviations (two passes, stable). */
static Node *variance(const BuildCtx *B, Expr **p, bool std) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  unsigned axes = axes_arg(B, p[1], x);
  ArgReader r = bi_reader(B);
  int corr = arg_pos_int(&r, p[2], 1, 0, "correction");
  double n = slice_count(x, axes);
  Node *mean = g_binary(g, OP_MUL, g_sum(g, x, axes), g_const(g, 1 / n));
  Node *d = g_binary(g, OP_SUB, x, mean);
  Node *ss = g_sum(g, g_binary(g, OP_MUL, d, d), axes);
  Node *v = g_binary(g, OP_DIV, ss, g_const(g, fmax(n - corr, 0))); /* torch: inf (or NaN) past n */
  return finish(g, x, std ? g_unary(g, OP_SQRT0, v) : v, axes, keep_arg(B, p[3]));
}
Node *b_var(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, variance(B, p, false); }
Node *b_std(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, variance(B, p, true); }

Node *b_logsumexp(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  unsigned axes = axes_arg(B, p[1], x);
  Node *m = g_unary(g, OP_DETACH, g_max(g, x, axes, false));
  m = g_binary(g, OP_MINIMUM, g_binary(g, OP_MAXIMUM, m, g_const(g, -FLT_MAX)), g_const(g, FLT_MAX));
  Node *s = g_sum(g, g_unary(g, OP_EXP, g_binary(g, OP_SUB, x, m)), axes);
  return finish(g, x, g_binary(g, OP_ADD, g_unary(g, OP_LOG, s), m), axes, keep_arg(B, p[2]));
}

/* The first index of the maximum (of -x for argmin) along one axis, or of the flattened
 * x (then keepdims gives every axis size 1, as torch.argmax). */
static Node *arg_best(const BuildCtx *B, Expr **p, bool min) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  ArgReader r = bi_reader(B);
  int axis = arg_axis_or_all(&r, p[1], x->shape.rank, min ? "argmin" : "argmax");
  bool keep = keep_arg(B, p[2]);
  Node *v = min && x->dtype == DT_F32 ? neg(g, x) : x;
  if (axis >= 0) return finish(g, x, g_argmax(g, v, 1u << axis), 1u << axis, keep);
  Node *i = g_argmax(g, g_reshape(g, v, (Shape){1, {shape_count(x->shape)}}), 1);
  unsigned all = x->shape.rank ? (1u << x->shape.rank) - 1 : 0;
  return g_reshape(g, i, keep ? (Shape){x->shape.rank, {1, 1, 1, 1, 1, 1, 1, 1}} : bi_drop_axes(x->shape, all));
}
Node *b_argmax(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, arg_best(B, p, false); }
Node *b_argmin(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, arg_best(B, p, true); }

Node *b_norm(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  ArgReader r = bi_reader(B);
  double ord = arg_norm_p(&r, p[1]);
  unsigned axes = axes_arg(B, p[2], x);
  Node *n;
  if (ord == 2) n = g_unary(g, OP_SQRT0, g_sum(g, g_binary(g, OP_MUL, x, x), axes));
  else if (ord == 1) n = g_sum(g, g_unary(g, OP_ABS, x), axes);
  else n = g_max(g, g_unary(g, OP_ABS, x), axes, false); /* ties share, as torch's norm */
  return finish(g, x, n, axes, keep_arg(B, p[3]));
}
