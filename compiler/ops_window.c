/* ops_window.c — the windowed operators of the table: conv2d, max_pool2d, avg_pool2d
 * and the primitives their derivatives are made of. Rows are in ops.c.
 *
 * Layout NCHW for activations, OIHW for convolution weights, as PyTorch. Legend:
 * N batch, C input channels, O output channels, H W input size, KH KW kernel size,
 * OH OW output size, s stride, p zero padding, k pooling window.
 *
 *   conv2d       y[n,o,oh,ow]  = sum_{c,kh,kw} x[n,c,oh*s-p+kh,ow*s-p+kw] w[o,c,kh,kw]
 *   conv2d_dx   dx[n,c,ih,iw]  = sum_{o,kh,kw, oh*s-p+kh=ih, ...} dy[n,o,oh,ow] w[o,c,kh,kw]
 *   conv2d_dw   dw[o,c,kh,kw]  = sum_{n,oh,ow} x[n,c,oh*s-p+kh,ow*s-p+kw] dy[n,o,oh,ow]
 *   max_pool2d   y[n,c,oh,ow]  = max of the k x k window at (oh*s, ow*s)
 *   max_pool2d_dx: dy goes to the first maximum of each window (torch's argmax)
 *   avg_pool2d   y = window mean; avg_pool2d_dx: dy / k^2 to every window element */
#include "ops_window.h"
#include <math.h>
#include "lower.h"

#define LB (L->b)
#define X0(n) ((n)->in[0])
#define X1(n) ((n)->in[1])

static int64_t out_size(int64_t in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

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
  if (x->shape.d[1] != w->shape.d[1])
    return arena_printf(g->arena, "conv2d of input %s and weight %s: input has %lld channels, weight expects %lld",
                        shape_str(g->arena, x->shape), shape_str(g->arena, w->shape), (long long)x->shape.d[1],
                        (long long)w->shape.d[1]);
  int64_t oh = out_size(x->shape.d[2], (int)w->shape.d[2], n->stride, n->pad);
  int64_t ow = out_size(x->shape.d[3], (int)w->shape.d[3], n->stride, n->pad);
  if (x->shape.d[2] + 2 * n->pad < w->shape.d[2] || x->shape.d[3] + 2 * n->pad < w->shape.d[3])
    return arena_printf(g->arena, "conv2d kernel %s is larger than the padded input %s", shape_str(g->arena, w->shape),
                        shape_str(g->arena, x->shape));
  n->shape = (Shape){4, {x->shape.d[0], w->shape.d[0], oh, ow}};
  return NULL;
}

const char *shape_pool(Graph *g, Node *n) {
  Node *x = X0(n);
  const char *e = need4(g, n, x, gc_ops[n->op].name);
  if (e) return e;
  if (n->k > x->shape.d[2] || n->k > x->shape.d[3])
    return arena_printf(g->arena, "%s window %d is larger than the input %s", gc_ops[n->op].name, n->k,
                        shape_str(g->arena, x->shape));
  n->shape = (Shape){4, {x->shape.d[0], x->shape.d[1], out_size(x->shape.d[2], n->k, n->stride, 0),
                         out_size(x->shape.d[3], n->k, n->stride, 0)}};
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
  dx[0] = g_window(g, OP_CONV2D_DX, dy, X1(n), 0, n->stride, n->pad, X0(n)->shape);
  dx[1] = g_window(g, OP_CONV2D_DW, X0(n), dy, 0, n->stride, n->pad, X1(n)->shape);
}
void grad_maxpool(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_window(g, OP_MAXPOOL_DX, X0(n), dy, n->k, n->stride, 0, X0(n)->shape);
}
void grad_avgpool(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_window(g, OP_AVGPOOL_DX, dy, NULL, n->k, n->stride, 0, X0(n)->shape);
}

/* ---------------------------------------------------------------- reference evaluation */

#define AT(s, i0, i1, i2, i3) ((((i0) * (s).d[1] + (i1)) * (s).d[2] + (i2)) * (s).d[3] + (i3))

/* Calls f for every (output element, window element) pair of a conv-like op. */
typedef struct {
  Shape xs, ws, ys;
  int s, p;
} Conv;

static Conv conv_of(const Node *n, Shape xs, Shape ws, Shape ys) { return (Conv){xs, ws, ys, n->stride, n->pad}; }

static void ev_conv_loops(Conv c, double *y, const double *x, const double *w, double *dx, double *dw, const double *dy) {
  for (int64_t n = 0; n < c.ys.d[0]; n++)
    for (int64_t o = 0; o < c.ys.d[1]; o++)
      for (int64_t oh = 0; oh < c.ys.d[2]; oh++)
        for (int64_t ow = 0; ow < c.ys.d[3]; ow++)
          for (int64_t ci = 0; ci < c.xs.d[1]; ci++)
            for (int64_t kh = 0; kh < c.ws.d[2]; kh++)
              for (int64_t kw = 0; kw < c.ws.d[3]; kw++) {
                int64_t ih = oh * c.s - c.p + kh, iw = ow * c.s - c.p + kw;
                if (ih < 0 || iw < 0 || ih >= c.xs.d[2] || iw >= c.xs.d[3]) continue;
                int64_t xi = AT(c.xs, n, ci, ih, iw), wi = AT(c.ws, o, ci, kh, kw), yi = AT(c.ys, n, o, oh, ow);
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

/* Pools: xs the input shape, ys the pooled shape. mode 0 max, 1 max-grad, 2 avg, 3 avg-grad. */
static void ev_pool(Shape xs, Shape ys, int k, int s, int mode, double *out, const double *x, const double *dy) {
  if (mode == 1 || mode == 3) zero(out, xs);
  for (int64_t n = 0; n < ys.d[0]; n++)
    for (int64_t c = 0; c < ys.d[1]; c++)
      for (int64_t oh = 0; oh < ys.d[2]; oh++)
        for (int64_t ow = 0; ow < ys.d[3]; ow++) {
          int64_t yi = AT(ys, n, c, oh, ow), best = -1;
          double acc = mode == 0 ? -INFINITY : 0;
          for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
              int64_t xi = AT(xs, n, c, oh * s + kh, ow * s + kw);
              if (mode == 3) out[xi] += dy[yi] / (k * k);
              else if (mode == 2) acc += x[xi];
              else if (best < 0 || x[xi] > acc || (isnan(x[xi]) && !isnan(acc))) acc = x[xi], best = xi;
            }
          if (mode == 0) out[yi] = acc;
          if (mode == 1) out[best] += dy[yi];
          if (mode == 2) out[yi] = acc / (k * k);
        }
}
void ev_maxpool(const Node *n, double *out, double *const *in) {
  ev_pool(X0(n)->shape, n->shape, n->k, n->stride, 0, out, in[0], NULL);
}
void ev_maxpool_dx(const Node *n, double *out, double *const *in) { /* in: x, dy */
  ev_pool(n->shape, X1(n)->shape, n->k, n->stride, 1, out, in[0], in[1]);
}
void ev_avgpool(const Node *n, double *out, double *const *in) {
  ev_pool(X0(n)->shape, n->shape, n->k, n->stride, 2, out, in[0], NULL);
}
void ev_avgpool_dx(const Node *n, double *out, double *const *in) { /* in: dy */
  ev_pool(n->shape, X0(n)->shape, n->k, n->stride, 3, out, NULL, in[0]);
}

/* ---------------------------------------------------------------- lowering */

static LLVMValueRef iadd(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(LB, a, lw_ix(L, b), ""); }
static LLVMValueRef imul(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildMul(LB, a, lw_ix(L, b), ""); }

/* x[n, c, ih, iw], 0 outside the input (zero padding). */
static LLVMValueRef load_padded(Lower *L, Node *x, LLVMValueRef *idx, bool guard) {
  if (!guard) return lw_load(L, x, idx, 4);
  LLVMValueRef ok = LLVMBuildAnd(LB, LLVMBuildICmp(LB, LLVMIntULT, idx[2], lw_ix(L, x->shape.d[2]), ""),
                                 LLVMBuildICmp(LB, LLVMIntULT, idx[3], lw_ix(L, x->shape.d[3]), ""), "inside");
  LLVMValueRef safe[4] = {idx[0], idx[1], LLVMBuildSelect(LB, ok, idx[2], lw_ix(L, 0), ""),
                          LLVMBuildSelect(LB, ok, idx[3], lw_ix(L, 0), "")};
  return LLVMBuildSelect(LB, ok, lw_load(L, x, safe, 4), lw_f32(L, 0), "");
}

static void acc_add(Lower *L, LLVMValueRef slot, LLVMValueRef v) {
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, slot, ""), v, ""), slot);
}

/* Zeroes a scatter target (scatter kernels never carry a gradient sink: schedule.c). */
static void zero_target(Lower *L, Node *n) {
  Loop lp[4];
  LLVMValueRef idx[4];
  lw_loops(L, lp, n->shape, idx);
  LLVMBuildStore(LB, lw_f32(L, 0), lw_addr(L, n, idx, 4));
  lw_loops_end(L, lp, n->shape);
}

/* The input row (or column) that window element k of output position out reads:
 * out * stride - pad + k (pad is 0 for pooling). */
static LLVMValueRef in_pos(Lower *L, const Node *n, LLVMValueRef out, LLVMValueRef k) {
  return LLVMBuildAdd(LB, iadd(L, imul(L, out, n->stride), -n->pad), k, "");
}

static void scatter_add(Lower *L, Node *n, LLVMValueRef *idx, LLVMValueRef v) {
  LLVMValueRef p = lw_addr(L, n, idx, 4);
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, p, ""), v, ""), p);
}

void em_conv2d(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *w = X1(n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef c = lw_loop(L, &lc, x->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  LLVMValueRef xi[4] = {o[0], c, in_pos(L, n, o[2], kh), in_pos(L, n, o[3], kw)};
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, n->pad > 0), lw_load(L, w, wi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &lc);
  lw_store(L, n, o, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* dx by scatter: for every output position, add dy * w into the input window. */
void em_conv2d_dx(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *dy = X0(n), *w = X1(n);
  zero_target(L, n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef g = lw_load(L, dy, o, 4);
  LLVMValueRef c = lw_loop(L, &lc, n->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  LLVMValueRef xi[4] = {o[0], c, in_pos(L, n, o[2], kh), in_pos(L, n, o[3], kw)};
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  LLVMValueRef v = LLVMBuildFMul(LB, g, lw_load(L, w, wi, 4), "");
  if (n->pad > 0) { /* skip window positions in the padding */
    LLVMValueRef ok = LLVMBuildAnd(LB, LLVMBuildICmp(LB, LLVMIntULT, xi[2], lw_ix(L, n->shape.d[2]), ""),
                                   LLVMBuildICmp(LB, LLVMIntULT, xi[3], lw_ix(L, n->shape.d[3]), ""), "");
    LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "inside");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "skip");
    LLVMBuildCondBr(LB, ok, yes, done);
    LLVMPositionBuilderAtEnd(LB, yes);
    scatter_add(L, n, xi, v);
    LLVMBuildBr(LB, done);
    LLVMPositionBuilderAtEnd(LB, done);
  } else {
    scatter_add(L, n, xi, v);
  }
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &lc);
  lw_loops_end(L, lo, dy->shape);
}

void em_conv2d_dw(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *dy = X1(n);
  Loop lo[4], ln, lh, lw;
  LLVMValueRef wi[4];
  lw_loops(L, lo, n->shape, wi);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef b = lw_loop(L, &ln, dy->shape.d[0], "n");
  LLVMValueRef oh = lw_loop(L, &lh, dy->shape.d[2], "oh");
  LLVMValueRef ow = lw_loop(L, &lw, dy->shape.d[3], "ow");
  LLVMValueRef xi[4] = {b, wi[1], in_pos(L, n, oh, wi[2]), in_pos(L, n, ow, wi[3])};
  LLVMValueRef yi[4] = {b, wi[0], oh, ow};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, n->pad > 0), lw_load(L, dy, yi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &ln);
  lw_store(L, n, wi, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* The input index of window element (kh, kw) of output position o. */
static void window_index(Lower *L, const Node *n, LLVMValueRef *o, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef *xi) {
  xi[0] = o[0], xi[1] = o[1];
  xi[2] = in_pos(L, n, o[2], kh);
  xi[3] = in_pos(L, n, o[3], kw);
}

/* mode 0: max_pool2d; 1: avg_pool2d. */
static void em_pool(Lower *L, Kernel *k, int mode) {
  Node *n = k->nodes[0], *x = X0(n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, mode == 0 ? -INFINITY : 0), acc);
  LLVMValueRef kh = lw_loop(L, &lh, n->k, "kh"), kw = lw_loop(L, &lw, n->k, "kw");
  window_index(L, n, o, kh, kw, xi);
  LLVMValueRef v = lw_load(L, x, xi, 4), cur = LLVMBuildLoad2(LB, L->f32, acc, "");
  if (mode == 0) {
    LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""),
                                    LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""), "");
    LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), acc);
  } else {
    LLVMBuildStore(LB, LLVMBuildFAdd(LB, cur, v, ""), acc);
  }
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  LLVMValueRef r = LLVMBuildLoad2(LB, L->f32, acc, "");
  if (mode == 1) r = LLVMBuildFMul(LB, r, lw_f32(L, 1.0 / (n->k * n->k)), "");
  lw_store(L, n, o, r);
  lw_loops_end(L, lo, n->shape);
}
void em_maxpool(Lower *L, Kernel *k) { em_pool(L, k, 0); }
void em_avgpool(Lower *L, Kernel *k) { em_pool(L, k, 1); }

/* dy of each window goes to its first maximum (strict >, so ties keep the first). */
void em_maxpool_dx(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *dy = X1(n);
  zero_target(L, n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef best = lw_slot(L, L->f32, "best"), arg = lw_slot(L, L->ix, "arg");
  LLVMBuildStore(LB, lw_f32(L, -INFINITY), best);
  LLVMBuildStore(LB, lw_ix(L, 0), arg);
  LLVMValueRef kh = lw_loop(L, &lh, n->k, "kh"), kw = lw_loop(L, &lw, n->k, "kw");
  window_index(L, n, o, kh, kw, xi);
  LLVMValueRef v = lw_load(L, x, xi, 4), cur = LLVMBuildLoad2(LB, L->f32, best, "");
  LLVMValueRef nan_first = LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""),
                                        LLVMBuildFCmp(LB, LLVMRealORD, cur, cur, ""), "");
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""), nan_first, "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), best);
  LLVMValueRef here = LLVMBuildAdd(LB, imul(L, kh, n->k), kw, "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, here, LLVMBuildLoad2(LB, L->ix, arg, ""), ""), arg);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  LLVMValueRef a = LLVMBuildLoad2(LB, L->ix, arg, "");
  LLVMValueRef kk = lw_ix(L, n->k);
  window_index(L, n, o, LLVMBuildSDiv(LB, a, kk, ""), LLVMBuildSRem(LB, a, kk, ""), xi);
  scatter_add(L, n, xi, lw_load(L, dy, o, 4));
  lw_loops_end(L, lo, dy->shape);
}

void em_avgpool_dx(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *dy = X0(n);
  zero_target(L, n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef g = LLVMBuildFMul(LB, lw_load(L, dy, o, 4), lw_f32(L, 1.0 / (n->k * n->k)), "");
  LLVMValueRef kh = lw_loop(L, &lh, n->k, "kh"), kw = lw_loop(L, &lw, n->k, "kw");
  window_index(L, n, o, kh, kw, xi);
  scatter_add(L, n, xi, g);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  lw_loops_end(L, lo, dy->shape);
}
