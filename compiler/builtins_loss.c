/* builtins_loss.c — the losses, each built from primitives as PyTorch 1.13 defines it
 * (the builders table is builtins.c's). Every loss takes reduction="mean" (the default:
 * the mean over the elements, or over the batch for the classification losses), "sum"
 * or "none" (the unreduced losses, one per element or per sample); kl_div also takes
 * "batchmean" (the sum over the batch size).
 *
 *   mse(pred, target)              (pred - target)^2
 *   l1_loss(pred, target)          |pred - target|
 *   smooth_l1_loss(.., beta=1)     with a = |pred - target|, c = min(a, beta):
 *                                  c^2 / (2 beta) + (a - c)  (a^2 / 2beta below beta, a - beta/2 above);
 *                                  beta = 0 is l1_loss
 *   huber_loss(.., delta=1)        c^2 / 2 + delta (a - c), c = min(a, delta)
 *   bce_with_logits(z, y)          softplus(z) - z y, the stable form
 *   kl_div(input, target)          target (log target - input), 0 where target = 0;
 *                                  log_target=true: exp(target) (target - input)
 *   cross_entropy(logits, labels, weight, reduction, label_smoothing)
 *     labels i32 [N]:   l_i = -w[y_i] lsm[i, y_i], lsm = log_softmax(logits) (stable);
 *                       with smoothing e: (1 - e) l_i + e/C * -sum_c w[c] lsm[i, c];
 *                       mean = sum_i l_i / sum_i w[y_i] (N without weight), as torch
 *     labels f32 [N, C] (probabilities): l_i = -sum_c w[c] t'[i, c] lsm[i, c],
 *                       t' = (1 - e) t + e/C; mean = sum_i l_i / N
 *   nll_loss(input, labels, weight)  cross_entropy's l_i with input as lsm, no smoothing
 * The class weight gets no gradient (torch has none). Both operands of the pointwise
 * losses broadcast; different shapes warn as PyTorch does (bce_with_logits refuses them). */
#include <math.h>
#include "builtins.h"

static Node *mul(Graph *g, Node *a, Node *b) { return g_binary(g, OP_MUL, a, b); }
static Node *add(Graph *g, Node *a, Node *b) { return g_binary(g, OP_ADD, a, b); }
static Node *sub(Graph *g, Node *a, Node *b) { return g_binary(g, OP_SUB, a, b); }
static Node *cst(Graph *g, double v) { return g_const(g, v); }
static Node *sum_all(Graph *g, Node *x) {
  return g_reshape(g, g_sum(g, x, x->shape.rank ? (1u << x->shape.rank) - 1 : 0), shape_scalar());
}

static Reduction reduction_arg(const BuildCtx *B, Expr *e, bool batchmean) {
  ArgReader r = bi_reader(B);
  return arg_reduction(&r, e, batchmean);
}

/* The elementwise losses `per` reduced: the mean over its elements (or over `batch` for
 * batchmean), their sum, or themselves. */
static Node *reduce_loss(Graph *g, Node *per, Reduction red, double batch) {
  if (red == RED_NONE) return per;
  Node *s = sum_all(g, per);
  if (red == RED_SUM) return s;
  return mul(g, s, cst(g, 1.0 / (red == RED_BATCHMEAN ? batch : (double)shape_count(per->shape))));
}

/* ---------------------------------------------------------------- pointwise losses */

/* A loss's prediction and target of different shapes broadcast, silently, into a shape
 * neither has ([N, 1] against [N] gives [N, N]): PyTorch warns for mse and refuses for
 * bce_with_logits. A number as the target is meant for every element and says nothing. */
static bool loss_shapes_differ(Node *pred, Node *target) {
  return !shape_eq(pred->shape, target->shape) && pred->op != OP_CONST && target->op != OP_CONST;
}

/* ", e.g. reshape(target, [4, 1])" when the target has as many elements as pred. */
static const char *loss_hint(Graph *g, Node *pred, Node *target, Expr *t) {
  if (shape_count(pred->shape) != shape_count(target->shape)) return "";
  return arena_printf(g->arena, ", e.g. reshape(%s, %s)", t->kind == EX_NAME ? t->name : "target",
                      shape_str(g->arena, pred->shape));
}

/* pred - target, warning (as PyTorch) when their shapes differ. */
static Node *difference(const BuildCtx *B, Expr *c, Expr **p, Node **pred) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]), *t = bi_arg(B, p[1]), *d = sub(g, x, t);
  if (loss_shapes_differ(x, t))
    diag_warning(B->d, c->loc,
                 "%s: the target's shape %s differs from the prediction's %s: they broadcast to %s, which is "
                 "likely not what you meant (PyTorch warns the same); make the shapes equal%s",
                 g->what, shape_str(g->arena, t->shape), shape_str(g->arena, x->shape), shape_str(g->arena, d->shape),
                 loss_hint(g, x, t, p[1]));
  if (pred) *pred = x;
  return d;
}

Node *b_mse(const BuildCtx *B, Expr *c, Expr **p) {
  Node *d = difference(B, c, p, NULL);
  return reduce_loss(B->g, mul(B->g, d, d), reduction_arg(B, p[2], false), 1);
}

Node *b_l1_loss(const BuildCtx *B, Expr *c, Expr **p) {
  Node *d = difference(B, c, p, NULL);
  return reduce_loss(B->g, g_unary(B->g, OP_ABS, d), reduction_arg(B, p[2], false), 1);
}

/* c^2 * k + m (a - c), c = min(|d|, t): smooth_l1 (k = 1/2beta, m = 1) and huber (k = 1/2,
 * m = delta). The minimum keeps the quadratic branch exact and an infinite |d| infinite;
 * its derivative is continuous at |d| = t, so the tie's half-and-half does not show. */
static Node *huber_like(Graph *g, Node *d, double t, double k, double m) {
  Node *a = g_unary(g, OP_ABS, d), *cl = g_binary(g, OP_MINIMUM, a, cst(g, t));
  return add(g, mul(g, mul(g, cl, cl), cst(g, k)), mul(g, sub(g, a, cl), cst(g, m)));
}

Node *b_smooth_l1_loss(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *d = difference(B, c, p, NULL);
  ArgReader r = bi_reader(B);
  double beta = arg_range(&r, p[3], 1, 0, false, INFINITY, "beta");
  Node *per = beta == 0 ? g_unary(g, OP_ABS, d) : huber_like(g, d, beta, 0.5 / beta, 1);
  return reduce_loss(g, per, reduction_arg(B, p[2], false), 1);
}

Node *b_huber_loss(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *d = difference(B, c, p, NULL);
  ArgReader r = bi_reader(B);
  double delta = arg_range(&r, p[3], 1, 0, true, INFINITY, "delta");
  return reduce_loss(g, huber_like(g, d, delta, 0.5, delta), reduction_arg(B, p[2], false), 1);
}

/* softplus(z) - z y = max(z, 0) - z y + log(1 + exp(-|z|)). */
Node *b_bce_with_logits(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *z = bi_arg(B, p[0]), *y = bi_arg(B, p[1]);
  if (loss_shapes_differ(z, y))
    diag_error(B->d, c->loc,
               "bce_with_logits: the target's shape %s must be the logits' shape %s, as PyTorch requires "
               "(different shapes would broadcast silently); make them equal%s",
               shape_str(g->arena, y->shape), shape_str(g->arena, z->shape), loss_hint(g, z, y, p[1]));
  Node *per = sub(g, g_unary(g, OP_SOFTPLUS, z), mul(g, z, y));
  return reduce_loss(g, per, reduction_arg(B, p[2], false), 1);
}

/* xlogy(t, t) - t x, or exp(t) (t - x) for log targets; batchmean divides by x's first
 * dimension. */
Node *b_kl_div(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]), *t = bi_arg(B, p[1]);
  Reduction red = reduction_arg(B, p[2], true);
  ArgReader r = bi_reader(B);
  Node *per;
  if (arg_flag(&r, p[3], false)) {
    per = mul(g, g_unary(g, OP_EXP, t), sub(g, t, x));
  } else {
    Node *safe = add(g, t, g_binary(g, OP_EQ, t, cst(g, 0))); /* log(1) = 0 where t = 0 */
    per = sub(g, mul(g, t, g_unary(g, OP_LOG, safe)), mul(g, t, x));
  }
  return reduce_loss(g, per, red, x->shape.rank ? (double)x->shape.d[0] : 1);
}

/* ---------------------------------------------------------------- classification */

/* What cross_entropy and nll_loss read: scores [N, C], i32 labels [N] (or, for
 * cross_entropy, f32 probabilities [N, C]) and an optional f32 weight [C], detached. */
typedef struct {
  Node *x, *labels, *w;
  int64_t n, c;
  bool soft;
} Classes;

static Classes classes_args(const BuildCtx *B, Expr *call, Expr **p, bool soft_ok) {
  Graph *g = B->g;
  const char *op = g->what;
  Classes k = {bi_arg(B, p[0]), bi_arg(B, p[1]), NULL, 0, 0, false};
  if (k.x->shape.rank != 2 || k.x->dtype != DT_F32)
    diag_error(B->d, call->loc, "%s needs f32 %s [N, C], got %s", op, soft_ok ? "logits" : "log-probabilities",
               shape_str(g->arena, k.x->shape));
  k.n = k.x->shape.d[0], k.c = k.x->shape.d[1];
  Node *y = k.labels;
  k.soft = soft_ok && y->dtype == DT_F32 && shape_eq(y->shape, k.x->shape);
  if (!k.soft && (y->dtype != DT_I32 || y->shape.rank != 1 || y->shape.d[0] != k.n))
    diag_error(B->d, call->loc, "%s needs i32 labels [%lld]%s for %s %s, got %s %s", op, (long long)k.n,
               soft_ok ? arena_printf(g->arena, " (or f32 probabilities %s)", shape_str(g->arena, k.x->shape)) : "",
               soft_ok ? "logits" : "log-probabilities", shape_str(g->arena, k.x->shape), dtype_name(y->dtype),
               shape_str(g->arena, y->shape));
  Node *src = y; /* an input reshaped into labels ([B, T] to [B*T]: a sequence model's) is a label input too */
  while (src->op == OP_RESHAPE) src = src->in[0];
  if (!k.soft && src->op == OP_INPUT && (!src->classes || src->classes > k.c)) src->classes = k.c;
  if (p[2]) {
    Node *w = bi_arg(B, p[2]);
    if (w->dtype != DT_F32 || w->shape.rank != 1 || w->shape.d[0] != k.c)
      diag_error(B->d, p[2]->loc, "%s: the class weight must be f32 [%lld], one per class, got %s %s", op,
                 (long long)k.c, dtype_name(w->dtype), shape_str(g->arena, w->shape));
    k.w = g_unary(g, OP_DETACH, w);
  }
  return k;
}

/* The losses of class-index labels given the log-probabilities lsm, reduced:
 * l_i = -w[y_i] lsm[i, y_i] (1 - e) - e/C sum_c w[c] lsm[i, c]. */
static Node *indexed_loss(Graph *g, const Classes *k, Node *lsm, Reduction red, double e) {
  Node *oh = g_onehot(g, k->labels, k->c);
  if (!k->w && e == 0 && red != RED_NONE) { /* the plain case: one sum over everything */
    Node *s = g_unary(g, OP_NEG, sum_all(g, mul(g, oh, lsm)));
    return red == RED_SUM ? s : mul(g, s, cst(g, 1.0 / (double)k->n));
  }
  Node *wy = k->w ? g_sum(g, mul(g, oh, k->w), 2) : NULL; /* w[y_i], [N, 1] */
  Node *picked = g_sum(g, mul(g, oh, lsm), 2);
  Node *l = g_unary(g, OP_NEG, wy ? mul(g, picked, wy) : picked);
  if (e > 0) {
    Node *all = g_sum(g, k->w ? mul(g, lsm, k->w) : lsm, 2);
    l = sub(g, mul(g, l, cst(g, 1 - e)), mul(g, all, cst(g, e / (double)k->c)));
  }
  if (red == RED_NONE) return g_reshape(g, l, (Shape){1, {k->n}});
  Node *s = sum_all(g, l);
  if (red == RED_SUM) return s;
  return wy ? g_binary(g, OP_DIV, s, sum_all(g, wy)) : mul(g, s, cst(g, 1.0 / (double)k->n));
}

/* Probability targets: l_i = -sum_c w[c] t'[i, c] lsm[i, c]; the mean is over N. */
static Node *soft_loss(Graph *g, const Classes *k, Node *lsm, Reduction red, double e) {
  Node *t = k->labels;
  if (e > 0) t = add(g, mul(g, t, cst(g, 1 - e)), cst(g, e / (double)k->c));
  Node *prod = mul(g, lsm, t);
  if (k->w) prod = mul(g, prod, k->w);
  Node *l = g_unary(g, OP_NEG, g_sum(g, prod, 2));
  if (red == RED_NONE) return g_reshape(g, l, (Shape){1, {k->n}});
  Node *s = sum_all(g, l);
  return red == RED_SUM ? s : mul(g, s, cst(g, 1.0 / (double)k->n));
}

Node *b_cross_entropy(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Classes k = classes_args(B, c, p, true);
  Reduction red = reduction_arg(B, p[3], false);
  ArgReader r = bi_reader(B);
  double e = arg_range(&r, p[4], 0, 0, false, 1, "label_smoothing");
  Node *z = bi_shifted(g, k.x, 2);
  Node *lsm = sub(g, z, g_unary(g, OP_LOG, g_sum(g, g_unary(g, OP_EXP, z), 2)));
  return k.soft ? soft_loss(g, &k, lsm, red, e) : indexed_loss(g, &k, lsm, red, e);
}

Node *b_nll_loss(const BuildCtx *B, Expr *c, Expr **p) {
  Classes k = classes_args(B, c, p, false);
  return indexed_loss(B->g, &k, k.x, reduction_arg(B, p[3], false), 0);
}
