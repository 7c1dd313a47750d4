/* builtins_norm.c — the builders of issue 15's normalization operators (their rows of
 * builtins.c's table): layer_norm and group_norm, as torch.nn.functional's.
 *
 * Both normalize each row of a [rows, M] view of the input: mean = sum(x)/M,
 * d = x - mean, var = sum(d^2)/M (biased, as torch), y = d (var + eps)^-1/2 — the
 * two-pass, mean-subtracted form (no E[x^2] - E[x]^2 cancellation). The reductions run
 * along the last axis of that view, so the scheduler fuses the normalization of a row,
 * forward and backward, into one rows kernel (schedule.c, KER_ROWS). The affine part
 * follows: layer_norm's weight and bias have normalized_shape and multiply the
 * trailing axes; group_norm's are per channel ([C]) and multiply axis 1. Composites:
 * autodiff differentiates the primitives. */
#include "builtins.h"


static Node *bin(Graph *g, OpKind op, Node *a, Node *b) { return g_binary(g, op, a, b); }

/* (x - mean) / sqrt(var + eps) along the last axis of x, biased variance. */
static Node *normalize_rows(Graph *g, Node *x, double eps) {
  unsigned last = 1u << (x->shape.rank - 1);
  double inv = 1.0 / (double)x->shape.d[x->shape.rank - 1];
  Node *mean = bin(g, OP_MUL, g_sum(g, x, last), g_const(g, inv));
  Node *d = bin(g, OP_SUB, x, mean);
  Node *var = bin(g, OP_MUL, g_sum(g, bin(g, OP_MUL, d, d), last), g_const(g, inv));
  return bin(g, OP_MUL, d, g_powc(g, bin(g, OP_ADD, var, g_const(g, eps)), -0.5));
}

/* An optional weight or bias, which must have shape s (`what` names it). */
static Node *affine_arg(const BuildCtx *B, Expr *e, Shape s, const char *op, const char *what) {
  if (!e) return NULL;
  Graph *g = B->g;
  Node *w = bi_arg(B, e);
  if (w->dtype != DT_F32 || !shape_eq(w->shape, s))
    diag_error(B->d, e->loc, "%s: %s must be f32 %s, got %s %s", op, what, shape_str(g->arena, s),
               dtype_name(w->dtype), shape_str(g->arena, w->shape));
  return w;
}

static Node *f32_input(const BuildCtx *B, Expr *e, const char *op, int min_rank, const char *form) {
  Node *x = bi_arg(B, e);
  if (x->dtype != DT_F32 || x->shape.rank < min_rank)
    diag_error(B->d, e->loc, "%s needs an f32 input %s, got %s %s", op, form, dtype_name(x->dtype),
               shape_str(B->g->arena, x->shape));
  return x;
}

/* F.layer_norm(x, normalized_shape, weight, bias, eps): the trailing axes of
 * normalized_shape are normalized together. */
Node *b_layer_norm(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = f32_input(B, p[0], "layer_norm", 1, "[*, normalized_shape]");
  int rank = x->shape.rank;
  int k = arg_normalized_shape(&BI_READER(B), p[1], rank, x->shape.d, shape_str(g->arena, x->shape));
  Shape ns = {k, {0}}, rows = {rank - k + 1, {0}};
  int64_t m = 1;
  for (int i = 0; i < k; i++) ns.d[i] = x->shape.d[rank - k + i], m *= ns.d[i];
  for (int i = 0; i < rank - k; i++) rows.d[i] = x->shape.d[i];
  rows.d[rank - k] = m;
  Node *w = affine_arg(B, p[2], ns, "layer_norm", "weight");
  Node *b = affine_arg(B, p[3], ns, "layer_norm", "bias");
  double eps = arg_eps(&BI_READER(B), p[4]);
  Node *y = normalize_rows(g, k > 1 ? g_reshape(g, x, rows) : x, eps);
  Shape flat = {1, {m}};
  if (w) y = bin(g, OP_MUL, y, k > 1 ? g_reshape(g, w, flat) : w);
  if (b) y = bin(g, OP_ADD, y, k > 1 ? g_reshape(g, b, flat) : b);
  return k > 1 ? g_reshape(g, y, x->shape) : y;
}

/* F.group_norm(x [N, C, *], num_groups, weight [C], bias [C], eps): the C/G channels of
 * a group and their spatial positions are normalized together. */
Node *b_group_norm(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = f32_input(B, p[0], "group_norm", 2, "[N, C, *]");
  int rank = x->shape.rank;
  int64_t n = x->shape.d[0], ch = x->shape.d[1];
  int groups = arg_pos_int(&BI_READER(B), p[1], 1, 1, "num_groups");
  if (ch % groups)
    diag_error(B->d, p[1]->loc, "group_norm: the %lld channels of the input %s do not divide into %d groups",
               (long long)ch, shape_str(g->arena, x->shape), groups);
  Shape cs = {1, {ch}};
  Node *w = affine_arg(B, p[2], cs, "group_norm", "weight");
  Node *b = affine_arg(B, p[3], cs, "group_norm", "bias");
  double eps = arg_eps(&BI_READER(B), p[4]);
  Shape grouped = {3, {n, groups, shape_count(x->shape) / n / groups}};
  Node *y = g_reshape(g, normalize_rows(g, g_reshape(g, x, grouped), eps), x->shape);
  Shape per_channel = {rank - 1, {ch}}; /* [C, 1, ...]: broadcasts along axis 1 */
  for (int i = 1; i < rank - 1; i++) per_channel.d[i] = 1;
  if (w) y = bin(g, OP_MUL, y, g_reshape(g, w, per_channel));
  if (b) y = bin(g, OP_ADD, y, g_reshape(g, b, per_channel));
  return y;
}
