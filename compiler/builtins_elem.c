/* builtins_elem.c — the builders of issue 15's elementwise operators (their rows of
 * builtins.c's table): where, clamp and the hard activations, the ELU family, prelu,
 * softsign, the functions that are one primitive (sin, cos, erf, sign, floor, ceil,
 * round) or a constant power (square, rsqrt, reciprocal), and the dtype conversions
 * float and int (issue 16).
 *
 * A comparison is an f32 0/1 mask; select(c, a) (a where c != 0, else 0) is how a mask
 * chooses, and where(c, a, b) = select(c, a) + select(c == 0, b): the branch not taken
 * contributes exactly 0 (even where it is inf or NaN) and gets no gradient, as with
 * torch.where. Every value and gradient follows PyTorch 1.13's kernels, boundaries and
 * NaN included where they are cheap to follow: clamp passes the gradient where
 * min <= x <= max (inclusive), hardtanh and relu6 where min < x < max (exclusive; a NaN
 * passes), hardsigmoid where -3 < x < 3, hardswish has its own inclusive derivative
 * x/3 + 1/2 on [-3, 3]. Where a clamped value is not x, it is taken from
 * minimum(maximum(x, min), max) detached, so that only the mask decides the gradient. */
#include <math.h>
#include "builtins.h"

/* ---------------------------------------------------------------- helpers */


static double num(const BuildCtx *B, Expr *e, double def) {
  return arg_num(&(ArgReader){B->d, B->number, B->self}, e, def);
}

static Node *bin(Graph *g, OpKind op, Node *a, Node *b) { return g_binary(g, op, a, b); }
static Node *cnst(Graph *g, double v) { return g_const(g, v); }

/* where(c, a, b) of f32 values: a where c != 0, else b. */
static Node *where3(Graph *g, Node *c, Node *a, Node *b) {
  return bin(g, OP_ADD, bin(g, OP_SELECT, c, a), bin(g, OP_SELECT, bin(g, OP_EQ, c, cnst(g, 0)), b));
}

/* x where mask, else minimum(maximum(x, lo), hi) detached (lo, hi: NULL for none). */
static Node *clamp_by(Graph *g, Node *x, Node *lo, Node *hi, Node *mask) {
  Node *v = x;
  if (lo) v = bin(g, OP_MAXIMUM, v, lo);
  if (hi) v = bin(g, OP_MINIMUM, v, hi);
  return where3(g, mask, x, g_unary(g, OP_DETACH, v));
}

/* ---------------------------------------------------------------- where, clamp */

Node *b_where(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *cond = bi_arg(B, p[0]), *a = bi_arg(B, p[1]), *b = bi_arg(B, p[2]);
  return where3(B->g, cond, a, b);
}

/* torch.clamp: min(max(x, lo), hi), NaN for a NaN x. Gradients (torch's
 * clamp_backward_min_max): x where lo <= x <= hi; a tensor lo where x < lo < hi; a
 * tensor hi where x > hi or hi < lo (then every value is hi). */
Node *b_clamp(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  if (!p[1] && !p[2]) diag_error(B->d, c->loc, "clamp needs min= or max= (or both), as torch.clamp");
  Node *x = bi_arg(B, p[0]), *lo = p[1] ? bi_arg(B, p[1]) : NULL, *hi = p[2] ? bi_arg(B, p[2]) : NULL;
  Node *in = lo ? bin(g, OP_GE, x, lo) : NULL;
  if (hi) in = in ? bin(g, OP_MUL, in, bin(g, OP_LE, x, hi)) : bin(g, OP_LE, x, hi);
  Node *v = x;
  if (lo) v = bin(g, OP_MAXIMUM, v, lo);
  if (hi) v = bin(g, OP_MINIMUM, v, hi);
  Node *y = g_unary(g, OP_DETACH, v);
  if (hi && hi->op != OP_CONST) { /* x > hi, or hi < lo */
    Node *m = bin(g, OP_GT, x, hi);
    if (lo) m = bin(g, OP_NE, bin(g, OP_ADD, m, bin(g, OP_LT, hi, lo)), cnst(g, 0));
    y = where3(g, m, hi, y);
  }
  if (lo && lo->op != OP_CONST) { /* x < lo < hi */
    Node *m = bin(g, OP_LT, x, lo);
    if (hi) m = bin(g, OP_MUL, m, bin(g, OP_LT, lo, hi));
    y = where3(g, m, lo, y);
  }
  return where3(g, in, x, y);
}

/* F.hardtanh: the clamp of x to [lo, hi], the gradient where lo < x < hi (a NaN passes). */
static Node *hardtanh(Graph *g, Node *x, double lo, double hi) {
  Node *out = bin(g, OP_ADD, bin(g, OP_LE, x, cnst(g, lo)), bin(g, OP_GE, x, cnst(g, hi)));
  return clamp_by(g, x, cnst(g, lo), cnst(g, hi), bin(g, OP_EQ, out, cnst(g, 0)));
}
Node *b_hardtanh(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *x = bi_arg(B, p[0]);
  return hardtanh(B->g, x, num(B, p[1], -1), num(B, p[2], 1));
}
Node *b_relu6(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, hardtanh(B->g, bi_arg(B, p[0]), 0, 6); }

/* F.hardsigmoid: min(max(x + 3, 0), 6) / 6, gradient 1/6 where -3 < x < 3. */
Node *b_hardsigmoid(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  Node *in = bin(g, OP_MUL, bin(g, OP_GT, x, cnst(g, -3)), bin(g, OP_LT, x, cnst(g, 3)));
  Node *h = clamp_by(g, bin(g, OP_ADD, x, cnst(g, 3)), cnst(g, 0), cnst(g, 6), in);
  return bin(g, OP_DIV, h, cnst(g, 6));
}

/* F.hardswish: x min(max(x + 3, 0), 6) / 6; the clamp passes its gradient on [-3, 3]
 * inclusive, which gives torch's derivative: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above. */
Node *b_hardswish(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  Node *in = bin(g, OP_MUL, bin(g, OP_GE, x, cnst(g, -3)), bin(g, OP_LE, x, cnst(g, 3)));
  Node *h = clamp_by(g, bin(g, OP_ADD, x, cnst(g, 3)), cnst(g, 0), cnst(g, 6), in);
  return bin(g, OP_DIV, bin(g, OP_MUL, x, h), cnst(g, 6));
}

/* ---------------------------------------------------------------- the ELU family */

/* torch's elu kernel: x <= 0 ? (exp(x in_scale) - 1) neg : x scale. The exponential
 * reads x only where x <= 0 (0 elsewhere), so that it never overflows in the branch not
 * taken (whose gradient would be 0 inf). */
static Node *elu(Graph *g, Node *x, double neg, double scale, double in_scale) {
  Node *le = bin(g, OP_LE, x, cnst(g, 0));
  Node *xn = bin(g, OP_MUL, bin(g, OP_SELECT, le, x), cnst(g, in_scale));
  Node *e = bin(g, OP_MUL, bin(g, OP_SUB, g_unary(g, OP_EXP, xn), cnst(g, 1)), cnst(g, neg));
  Node *pos = bin(g, OP_SELECT, bin(g, OP_EQ, le, cnst(g, 0)), bin(g, OP_MUL, x, cnst(g, scale)));
  return bin(g, OP_ADD, pos, e);
}
Node *b_elu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *x = bi_arg(B, p[0]);
  return elu(B->g, x, num(B, p[1], 1), 1, 1);
}
Node *b_selu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
  return elu(B->g, bi_arg(B, p[0]), (double)(float)alpha * (double)(float)scale, scale, 1);
}
Node *b_celu(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *x = bi_arg(B, p[0]);
  double alpha = num(B, p[1], 1);
  if (alpha == 0) diag_error(B->d, p[1]->loc, "celu: alpha cannot be 0 (it divides x)");
  return elu(B->g, x, alpha, 1, 1 / alpha);
}

/* F.prelu: x > 0 ? x : w x, with w of one element or one per channel (dimension 1 of
 * x), learned: its gradient is the sum of dy x where x <= 0. */
Node *b_prelu(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]), *w = bi_arg(B, p[1]);
  int64_t ch = x->shape.rank > 1 ? x->shape.d[1] : 1, nw = shape_count(w->shape);
  if (w->shape.rank > 1 || (nw != 1 && nw != ch))
    diag_error(B->d, p[1]->loc,
               "prelu needs a weight of 1 element or one per channel (%lld, dimension 1 of x %s), got %s",
               (long long)ch, shape_str(g->arena, x->shape), shape_str(g->arena, w->shape));
  (void)c;
  Shape s = shape_scalar(); /* w broadcast along dimension 1 of x */
  if (nw > 1) {
    s.rank = x->shape.rank - 1;
    for (int i = 0; i < s.rank; i++) s.d[i] = i == 0 ? nw : 1;
  }
  Node *wb = g_reshape(g, w, s);
  return where3(g, bin(g, OP_GT, x, cnst(g, 0)), x, bin(g, OP_MUL, wb, x));
}

/* F.softsign: x / (1 + |x|). */
Node *b_softsign(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  return bin(g, OP_DIV, x, bin(g, OP_ADD, g_unary(g, OP_ABS, x), cnst(g, 1)));
}

/* ---------------------------------------------------------------- one primitive each */

static Node *unary(const BuildCtx *B, Expr *e, OpKind op) { return g_unary(B->g, op, bi_arg(B, e)); }
Node *b_sin(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_SIN); }
Node *b_cos(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_COS); }
Node *b_erf(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_ERF); }
Node *b_sign(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_SIGN); }
Node *b_floor(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_FLOOR); }
Node *b_ceil(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, unary(B, p[0], OP_CEIL); }
Node *b_square(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, g_powc(B->g, bi_arg(B, p[0]), 2); }
Node *b_rsqrt(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, g_powc(B->g, bi_arg(B, p[0]), -0.5); }
Node *b_reciprocal(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, g_powc(B->g, bi_arg(B, p[0]), -1); }

/* torch.round(x, decimals=d): round(x 10^d) / 10^d, or round(x / 10^-d) 10^-d for d < 0. */
Node *b_round(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  double d = num(B, p[1], 0);
  if (d != floor(d) || fabs(d) > 30) diag_error(B->d, p[1]->loc, "decimals must be an integer from -30 to 30");
  if (d == 0) return g_unary(g, OP_ROUND, x);
  Node *t = cnst(g, (double)(float)pow(10, fabs(d)));
  if (d > 0) return bin(g, OP_DIV, g_unary(g, OP_ROUND, bin(g, OP_MUL, x, t)), t);
  return bin(g, OP_MUL, g_unary(g, OP_ROUND, bin(g, OP_DIV, x, t)), t);
}

/* ---------------------------------------------------------------- dtype conversions (issue 16) */

/* float(x): i32 -> f32 (x.float()); int(x): f32 -> i32, toward zero, saturated, NaN -> 0
 * (x.int(), ONNX Cast). Of a tensor that has the dtype already: x itself. */
static Node *convert(const BuildCtx *B, Expr *e, DType to, OpKind op) {
  Node *x = bi_arg(B, e);
  return x->dtype == to ? x : g_unary(B->g, op, x);
}
Node *b_float(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, convert(B, p[0], DT_F32, OP_TO_F32); }
Node *b_int(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, convert(B, p[0], DT_I32, OP_TO_I32); }
