/* builtins_attn.c — the builders of issue 15's attention operators (their rows of
 * builtins.c's table): tril, triu, masked_fill and scaled_dot_product_attention, as
 * PyTorch's.
 *
 * tril/triu are the primitive TRI (a mask of row and column indices over the last two
 * axes, its derivative the same mask); masked_fill is a composite, where(mask, value,
 * x); scaled_dot_product_attention is one primitive, SDPA, whose kernel is a fused
 * online softmax (lower_attn.c) and whose derivative is the primitive SDPA_BWD
 * (ops_attn.c). */
#include <math.h>
#include "builtins.h"

static Node *matrices(const BuildCtx *B, Expr *e, const char *op) {
  Node *x = bi_arg(B, e);
  if (x->dtype != DT_F32 || x->shape.rank < 2)
    diag_error(B->d, e->loc, "%s needs an f32 tensor of at least 2 dimensions (a matrix or a batch of them), got %s %s",
               op, dtype_name(x->dtype), shape_str(B->g->arena, x->shape));
  return x;
}

static Node *tri(const BuildCtx *B, Expr **p, bool upper) {
  Node *x = matrices(B, p[0], upper ? "triu" : "tril");
  int64_t diag = p[1] ? arg_int(&BI_READER(B), p[1], "diagonal") : 0;
  return g_tri(B->g, x, diag, upper);
}

/* torch.tril(x, diagonal): x where column - row <= diagonal, else 0. */
Node *b_tril(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, tri(B, p, false); }
/* torch.triu(x, diagonal): x where column - row >= diagonal, else 0. */
Node *b_triu(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, tri(B, p, true); }

/* x.masked_fill(mask, value): value where mask is nonzero (an f32 0/1 mask, as the
 * comparisons give), x elsewhere; the mask broadcasts to x's shape. */
Node *b_masked_fill(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]), *m = bi_arg(B, p[1]), *v = bi_arg(B, p[2]);
  if (m->dtype != DT_F32)
    diag_error(B->d, p[1]->loc, "masked_fill: the mask must be an f32 0/1 mask (a comparison such as x > 0), got %s %s",
               dtype_name(m->dtype), shape_str(g->arena, m->shape));
  if (v->shape.rank != 0)
    diag_error(B->d, p[2]->loc, "masked_fill: the value must be a number (a scalar, as torch's), got %s",
               shape_str(g->arena, v->shape));
  Node *keep = g_binary(g, OP_EQ, m, g_const(g, 0));
  Node *y = g_binary(g, OP_ADD, g_binary(g, OP_SELECT, m, v), g_binary(g, OP_SELECT, keep, x));
  if (!shape_eq(y->shape, x->shape))
    diag_error(B->d, p[1]->loc, "masked_fill: the mask %s must broadcast to the input's shape %s (it would give %s)",
               shape_str(g->arena, m->shape), shape_str(g->arena, x->shape), shape_str(g->arena, y->shape));
  return y;
}

/* F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale) of PyTorch 2.x:
 * softmax(q k^T scale (+ causal mask)) v, scale 1/sqrt(D) by default. */
Node *b_sdpa(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *q = bi_arg(B, p[0]), *k = bi_arg(B, p[1]), *v = bi_arg(B, p[2]);
  SdpaAttr a = {0, arg_flag(&BI_READER(B), p[3], false)};
  int64_t d = q->shape.rank ? q->shape.d[q->shape.rank - 1] : 1;
  a.scale = arg_num(&BI_READER(B), p[4], 1 / sqrt((double)d));
  if (!isfinite(a.scale) || a.scale == 0)
    diag_error(B->d, p[4]->loc, "scale must be a finite number other than 0, got %g", a.scale);
  return g_sdpa(B->g, q, k, v, NULL, &a);
}
