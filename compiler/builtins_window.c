/* builtins_window.c — the builders of the windowed operators (their rows of
 * builtins.c's table), as torch.nn.functional defines them: conv2d (stride, padding as
 * numbers or "same"/"valid", dilation, groups: depthwise when groups = channels),
 * conv1d (conv2d of a [N, C, 1, L] view), conv_transpose2d (conv2d_dx, the input
 * gradient of the conv2d of the same geometry, with output_padding as a larger result),
 * max_pool2d and avg_pool2d with padding, and global average pooling (a mean).
 * The arguments are read by signature_window.c's rules, shared with the tape. */
#include "builtins.h"


static ConvAttr conv_attr(const ConvArgs *a) {
  ConvAttr c;
  for (int i = 0; i < 2; i++)
    c.stride[i] = a->stride[i], c.dil[i] = a->dil[i], c.lo[i] = a->lo[i], c.hi[i] = a->hi[i];
  c.groups = a->groups;
  return c;
}

/* y + b over the channels (axis 1) of a rank-`rank` y; b must be [O]. */
static Node *add_bias(const BuildCtx *B, Node *y, Expr *be, int64_t o, const char *what, Node *w) {
  if (!be) return y;
  Graph *g = B->g;
  Node *b = bi_arg(B, be);
  if (b->shape.rank != 1 || b->shape.d[0] != o)
    diag_error(B->d, be->loc, "%s bias must be [%lld] for weight %s, got %s", what, (long long)o,
               shape_str(g->arena, w->shape), shape_str(g->arena, b->shape));
  Shape s = {y->shape.rank - 1, {o}};
  for (int i = 1; i < s.rank; i++) s.d[i] = 1;
  return g_binary(g, OP_ADD, y, g_reshape(g, b, s));
}

/* The operand of rank `rank` (f32), or a located error naming the layout. */
static Node *ranked(const BuildCtx *B, Expr *e, int rank, const char *what, const char *layout) {
  Node *x = bi_arg(B, e);
  if (x->shape.rank != rank || x->dtype != DT_F32)
    diag_error(B->d, e->loc, "%s needs a %d-D f32 tensor (%s), got %s %s", what, rank, layout, dtype_name(x->dtype),
               shape_str(B->g->arena, x->shape));
  return x;
}

/* conv2d(x, w, b?, stride=1, padding=0, dilation=1, groups=1): NCHW input, weight
 * [O, C/groups, KH, KW], bias [O]. */
Node *b_conv2d(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Node *x = bi_arg(B, p[0]), *w = bi_arg(B, p[1]);
  int64_t k[2] = {w->shape.rank == 4 ? w->shape.d[2] : 1, w->shape.rank == 4 ? w->shape.d[3] : 1};
  ConvArgs a;
  arg_conv(&BI_READER(B), p + 3, 2, k, &a);
  ConvAttr ca = conv_attr(&a);
  Node *y = g_conv(B->g, OP_CONV2D, x, w, &ca, shape_scalar());
  return add_bias(B, y, p[2], w->shape.d[0], "conv2d", w);
}

/* conv1d(x, w, b?, ...): x [N, C, L], w [O, C/groups, K]: conv2d of the [N, C, 1, L] view. */
Node *b_conv1d(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = ranked(B, p[0], 3, "conv1d input", "N, C, L"), *w = ranked(B, p[1], 3, "conv1d weight", "O, C/groups, K");
  ConvArgs a;
  arg_conv(&BI_READER(B), p + 3, 1, &w->shape.d[2], &a);
  ConvAttr ca = conv_attr(&a);
  Node *x4 = g_reshape(g, x, (Shape){4, {x->shape.d[0], x->shape.d[1], 1, x->shape.d[2]}});
  Node *w4 = g_reshape(g, w, (Shape){4, {w->shape.d[0], w->shape.d[1], 1, w->shape.d[2]}});
  Node *y = g_conv(g, OP_CONV2D, x4, w4, &ca, shape_scalar());
  y = g_reshape(g, y, (Shape){3, {y->shape.d[0], y->shape.d[1], y->shape.d[3]}});
  return add_bias(B, y, p[2], w->shape.d[0], "conv1d", w);
}

/* conv_transpose2d(x, w, b?, stride, padding, output_padding, groups, dilation): x
 * [N, Cin, H, W], w [Cin, Cout/groups, KH, KW]; out = (H-1)*s - 2p + d*(KH-1) + op + 1. */
Node *b_conv_transpose2d(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  const char *lay = "Cin, Cout/groups, KH, KW";
  Node *x = ranked(B, p[0], 4, "conv_transpose2d input", "N, C, H, W"), *w = ranked(B, p[1], 4, "conv_transpose2d weight", lay);
  ConvArgs a;
  arg_conv_transpose(&BI_READER(B), p + 3, &a);
  const char *xs = shape_str(g->arena, x->shape), *ws = shape_str(g->arena, w->shape);
  if (x->shape.d[1] != w->shape.d[0] || x->shape.d[1] % a.groups)
    diag_error(B->d, c->loc, "conv_transpose2d of input %s and weight %s (%s): the input's %lld channels must be the "
               "weight's first dimension and a multiple of groups=%d", xs, ws, lay, (long long)x->shape.d[1], a.groups);
  Shape s = {4, {x->shape.d[0], w->shape.d[1] * a.groups, 0, 0}};
  for (int i = 0; i < 2; i++) {
    int64_t o = (x->shape.d[2 + i] - 1) * a.stride[i] - 2 * a.lo[i] + (int64_t)a.dil[i] * (w->shape.d[2 + i] - 1) +
                a.outpad[i] + 1;
    if (o < 1)
      diag_error(B->d, c->loc, "conv_transpose2d of input %s and weight %s: the padding leaves no output", xs, ws);
    s.d[2 + i] = o;
  }
  ConvAttr ca = conv_attr(&a);
  Node *y = g_conv(g, OP_CONV2D_DX, x, w, &ca, s);
  return add_bias(B, y, p[2], s.d[1], "conv_transpose2d", w);
}

static Node *pool(const BuildCtx *B, Expr **p, OpKind op) {
  Node *x = bi_arg(B, p[0]);
  PoolArgs a;
  arg_pool(&BI_READER(B), p + 1, &a);
  PoolAttr pa;
  for (int i = 0; i < 2; i++) pa.k[i] = a.k[i], pa.stride[i] = a.stride[i], pa.pad[i] = a.pad[i];
  return g_pool(B->g, op, x, NULL, &pa, shape_scalar());
}
Node *b_max_pool2d(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, pool(B, p, OP_MAXPOOL); }
Node *b_avg_pool2d(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, pool(B, p, OP_AVGPOOL); }

/* The mean over H and W: [N, C, H, W] -> [N, C, 1, 1], as ONNX's GlobalAveragePool
 * and torch's adaptive_avg_pool2d(x, 1). */
static Node *global_mean(const BuildCtx *B, Expr *e, const char *what) {
  Graph *g = B->g;
  Node *x = ranked(B, e, 4, what, "N, C, H, W");
  Node *s = g_sum(g, x, 0xC);
  return g_binary(g, OP_MUL, s, g_const(g, 1.0 / (double)(x->shape.d[2] * x->shape.d[3])));
}
Node *b_global_avg_pool(const BuildCtx *B, Expr *c, Expr **p) { return (void)c, global_mean(B, p[0], "global_avg_pool"); }

/* adaptive_avg_pool2d(x, 1) (or [1, 1]): only the global case. */
Node *b_adaptive_avg_pool2d(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  int size[2];
  Expr *e = p[1];
  bool list = e->kind == EX_LIST && e->nargs == 2;
  size[0] = arg_pos_int(&BI_READER(B), list ? e->args[0] : e, 1, 1, "output_size");
  size[1] = list ? arg_pos_int(&BI_READER(B), e->args[1], 1, 1, "output_size") : size[0];
  if (size[0] != 1 || size[1] != 1)
    diag_error(B->d, e->loc, "adaptive_avg_pool2d supports only output_size 1 (global average pooling), got %dx%d; "
               "for other sizes use avg_pool2d with a window and stride that divide the input", size[0], size[1]);
  return global_mean(B, p[0], "adaptive_avg_pool2d");
}
