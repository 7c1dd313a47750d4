/* ops_window.c — the windowed operators of the table: conv2d, max_pool2d, avg_pool2d
 * and the primitives their derivatives are made of: shape rules, derivatives and
 * float64 evaluation (no LLVM; lower_window.c has their kernels). Rows are in ops.c.
 *
 * Layout NCHW for activations, OIHW for convolution weights ([O, C/groups, KH, KW]), as
 * PyTorch. Legend: N batch, C input channels, O output channels, H W input size, KH KW
 * kernel size, OH OW output size; per axis s stride, d dilation, lo/hi zero padding
 * before/after, k pooling window, p pooling padding. Output o of group g = o / (O/G)
 * reads input channels g*C/G + c for c < C/G; window element k of output position i
 * reads input i*s - lo + k*d.
 *
 *   conv2d       y[n,o,oh,ow]  = sum_{c,kh,kw} x[n,g*C/G+c, oh*s-lo+kh*d, ...] w[o,c,kh,kw]
 *   conv2d_dx   dx[n,g*C/G+c,ih,iw] = sum over the windows that read it of dy[n,o,oh,ow] w[o,c,kh,kw]
 *                (also conv_transpose2d's forward: its result shape, preset, may be larger)
 *   conv2d_dw   dw[o,c,kh,kw]  = sum_{n,oh,ow} x[n,g*C/G+c, oh*s-lo+kh*d, ...] dy[n,o,oh,ow]
 *   max_pool2d   y[n,c,oh,ow]  = max of the window at (oh*s-p, ow*s-p); padding never wins
 *   max_pool2d_dx: dy goes to the first maximum of each window (torch's argmax)
 *   avg_pool2d   y = window sum / (KH*KW), padding counted (torch's count_include_pad=True);
 *   avg_pool2d_dx: dy / (KH*KW) to every input element of the window */
#include "ops_window.h"
#include <math.h>

#define X0(n) ((n)->in[0])
#define X1(n) ((n)->in[1])

/* floor((in + lo + hi - d*(k-1) - 1) / s) + 1, or 0 when the window does not fit. */
static int64_t out_size(int64_t in, int64_t k, int s, int d, int lo, int hi) {
  int64_t span = in + lo + hi - (int64_t)d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

/* ---------------------------------------------------------------- shape rules */

static const char *need4(Graph *g, Node *n, Node *x, const char *what) {
  if (x->shape.rank != 4 || x->dtype != DT_F32)
    return arena_printf(g->arena, "%s needs a 4-D f32 tensor (NCHW), got %s", what, shape_str(g->arena, x->shape));
  (void)n;
  return NULL;
}

const char *shape_conv2d(Graph *g, Node *n) {
  Node *x = X0(n), *w = X1(n);
  const char *e = need4(g, n, x, "conv2d input");
  if (e || (e = need4(g, n, w, "conv2d weight"))) return e;
  const ConvAttr *c = node_conv(n);
  const char *xs = shape_str(g->arena, x->shape), *ws = shape_str(g->arena, w->shape);
  if (w->shape.d[0] % c->groups)
    return arena_printf(g->arena, "conv2d weight %s: %lld output channels do not split into %d groups", ws,
                        (long long)w->shape.d[0], c->groups);
  if (x->shape.d[1] != w->shape.d[1] * c->groups)
    return arena_printf(g->arena, "conv2d of input %s and weight %s: input has %lld channels, weight expects %lld (%lld x %d groups)",
                        xs, ws, (long long)x->shape.d[1], (long long)(w->shape.d[1] * c->groups),
                        (long long)w->shape.d[1], c->groups);
  int64_t o[2];
  for (int i = 0; i < 2; i++) {
    o[i] = out_size(x->shape.d[2 + i], w->shape.d[2 + i], c->stride[i], c->dil[i], c->lo[i], c->hi[i]);
    if (!o[i])
      return arena_printf(g->arena, "conv2d kernel %s (dilation %d) is larger than the padded input %s", ws,
                          c->dil[i], xs);
  }
  n->shape = (Shape){4, {x->shape.d[0], w->shape.d[0], o[0], o[1]}};
  return NULL;
}

const char *shape_pool(Graph *g, Node *n) {
  Node *x = X0(n);
  const char *e = need4(g, n, x, gc_ops[n->op].name);
  if (e) return e;
  const PoolAttr *p = node_pool(n);
  int64_t o[2];
  for (int i = 0; i < 2; i++) {
    o[i] = out_size(x->shape.d[2 + i], p->k[i], p->stride[i], 1, p->pad[i], p->pad[i]);
    if (!o[i])
      return arena_printf(g->arena, "%s window %dx%d is larger than the input %s with padding %d,%d", gc_ops[n->op].name,
                          p->k[0], p->k[1], shape_str(g->arena, x->shape), p->pad[0], p->pad[1]);
  }
  n->shape = (Shape){4, {x->shape.d[0], x->shape.d[1], o[0], o[1]}};
  return NULL;
}

/* Gradient ops come with their result shape (the forward operand's) preset. */
const char *shape_preset4(Graph *g, Node *n) {
  (void)g;
  GC_ASSERT(n->shape.rank == 4);
  return NULL;
}

/* ---------------------------------------------------------------- derivatives */

void grad_conv2d(Graph *g, Node *n, Node *dy, Node **dx) {
  const ConvAttr *c = node_conv(n);
  dx[0] = g_conv(g, OP_CONV2D_DX, dy, X1(n), c, X0(n)->shape);
  dx[1] = g_conv(g, OP_CONV2D_DW, X0(n), dy, c, X1(n)->shape);
}
/* conv2d_dx(a, w) is linear in a and in w: its transpose in a is conv2d (of the same
 * attributes: the result has a's shape, since the preset shape came from a conv2d of
 * this geometry, or conv_transpose2d's output_padding < stride), in w conv2d_dw. */
void grad_conv2d_dx(Graph *g, Node *n, Node *dz, Node **dx) {
  const ConvAttr *c = node_conv(n);
  dx[0] = g_conv(g, OP_CONV2D, dz, X1(n), c, shape_scalar());
  dx[1] = g_conv(g, OP_CONV2D_DW, dz, X0(n), c, X1(n)->shape);
}
void grad_maxpool(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_pool(g, OP_MAXPOOL_DX, X0(n), dy, node_pool(n), X0(n)->shape);
}
void grad_avgpool(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_pool(g, OP_AVGPOOL_DX, dy, NULL, node_pool(n), X0(n)->shape);
}

/* ---------------------------------------------------------------- reference evaluation */

#define AT(s, i0, i1, i2, i3) ((((i0) * (s).d[1] + (i1)) * (s).d[2] + (i2)) * (s).d[3] + (i3))

/* Every (output element, window element) pair of a conv-like op. */
typedef struct {
  Shape xs, ws, ys;
  ConvAttr a;
} Conv;

static Conv conv_of(const Node *n, Shape xs, Shape ws, Shape ys) { return (Conv){xs, ws, ys, *node_conv(n)}; }

static void ev_conv_loops(Conv c, double *y, const double *x, const double *w, double *dx, double *dw, const double *dy) {
  int64_t cg = c.ws.d[1], og = c.ys.d[1] / c.a.groups;
  for (int64_t n = 0; n < c.ys.d[0]; n++)
    for (int64_t o = 0; o < c.ys.d[1]; o++)
      for (int64_t oh = 0; oh < c.ys.d[2]; oh++)
        for (int64_t ow = 0; ow < c.ys.d[3]; ow++)
          for (int64_t cl = 0; cl < cg; cl++)
            for (int64_t kh = 0; kh < c.ws.d[2]; kh++)
              for (int64_t kw = 0; kw < c.ws.d[3]; kw++) {
                int64_t ih = oh * c.a.stride[0] - c.a.lo[0] + kh * c.a.dil[0];
                int64_t iw = ow * c.a.stride[1] - c.a.lo[1] + kw * c.a.dil[1];
                if (ih < 0 || iw < 0 || ih >= c.xs.d[2] || iw >= c.xs.d[3]) continue;
                int64_t xi = AT(c.xs, n, o / og * cg + cl, ih, iw), wi = AT(c.ws, o, cl, kh, kw);
                int64_t yi = AT(c.ys, n, o, oh, ow);
                if (y) y[yi] += x[xi] * w[wi];
                if (dx) dx[xi] += dy[yi] * w[wi];
                if (dw) dw[wi] += x[xi] * dy[yi];
              }
}

static void zero(double *p, Shape s) {
  for (int64_t i = 0; i < shape_count(s); i++) p[i] = 0;
}

void ev_conv2d(const Node *n, double *out, double *const *in) {
  zero(out, n->shape);
  ev_conv_loops(conv_of(n, X0(n)->shape, X1(n)->shape, n->shape), out, in[0], in[1], NULL, NULL, NULL);
}
void ev_conv2d_dx(const Node *n, double *out, double *const *in) { /* in: dy, w */
  zero(out, n->shape);
  ev_conv_loops(conv_of(n, n->shape, X1(n)->shape, X0(n)->shape), NULL, NULL, in[1], out, NULL, in[0]);
}
void ev_conv2d_dw(const Node *n, double *out, double *const *in) { /* in: x, dy */
  zero(out, n->shape);
  ev_conv_loops(conv_of(n, X0(n)->shape, n->shape, X1(n)->shape), NULL, in[0], NULL, NULL, out, in[1]);
}

/* Pools: xs the input shape, ys the pooled shape. mode 0 max, 1 max-grad, 2 avg, 3 avg-grad.
 * Window elements in the padding are skipped (max: never a winner; avg: zeros). */
static void ev_pool(Shape xs, Shape ys, const PoolAttr *p, int mode, double *out, const double *x, const double *dy) {
  if (mode == 1 || mode == 3) zero(out, xs);
  double area = (double)p->k[0] * p->k[1];
  for (int64_t n = 0; n < ys.d[0]; n++)
    for (int64_t c = 0; c < ys.d[1]; c++)
      for (int64_t oh = 0; oh < ys.d[2]; oh++)
        for (int64_t ow = 0; ow < ys.d[3]; ow++) {
          int64_t yi = AT(ys, n, c, oh, ow), best = -1;
          double acc = mode == 0 ? -INFINITY : 0;
          for (int kh = 0; kh < p->k[0]; kh++)
            for (int kw = 0; kw < p->k[1]; kw++) {
              int64_t ih = oh * p->stride[0] - p->pad[0] + kh, iw = ow * p->stride[1] - p->pad[1] + kw;
              if (ih < 0 || iw < 0 || ih >= xs.d[2] || iw >= xs.d[3]) continue;
              int64_t xi = AT(xs, n, c, ih, iw);
              if (mode == 3) out[xi] += dy[yi] / area;
              else if (mode == 2) acc += x[xi];
              else if (best < 0 || x[xi] > acc || (isnan(x[xi]) && !isnan(acc))) acc = x[xi], best = xi;
            }
          if (mode == 0) out[yi] = acc;
          if (mode == 1) out[best] += dy[yi];
          if (mode == 2) out[yi] = acc / area;
        }
}
void ev_maxpool(const Node *n, double *out, double *const *in) {
  ev_pool(X0(n)->shape, n->shape, node_pool(n), 0, out, in[0], NULL);
}
void ev_maxpool_dx(const Node *n, double *out, double *const *in) { /* in: x, dy */
  ev_pool(n->shape, X1(n)->shape, node_pool(n), 1, out, in[0], in[1]);
}
void ev_avgpool(const Node *n, double *out, double *const *in) {
  ev_pool(X0(n)->shape, n->shape, node_pool(n), 2, out, in[0], NULL);
}
void ev_avgpool_dx(const Node *n, double *out, double *const *in) { /* in: dy */
  ev_pool(n->shape, X0(n)->shape, node_pool(n), 3, out, NULL, in[0]);
}

/* ---------------------------------------------------------------- cost */

/* Every (output element, C, KH, KW) pair of the forward convolution, for it and for
 * its two gradients. */
double flops_conv(const Node *n) {
  const Node *w = n->op == OP_CONV2D_DW ? n : X1(n);
  const Node *y = n->op == OP_CONV2D ? n : n->op == OP_CONV2D_DX ? X0(n) : X1(n);
  return 2.0 * (double)shape_count(y->shape) * (double)(w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
}
