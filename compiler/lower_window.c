/* lower_window.c — the LLVM kernels of the windowed operators (ops_window.c has their
 * semantics): conv2d (groups, dilation, per-side padding), its two gradients,
 * max_pool2d, avg_pool2d (with padding) and their gradients, as scalar loop nests
 * (depthwise convolutions go to the vectorised kernels of lower_conv_dw.c).
 * Layout NCHW for activations, OIHW for convolution weights. */
#include <math.h>
#include "lower_conv_dw.h"
#include "lower_conv.h"
#include "lower_update.h"
#include "lower_window.h"
#include "opinfo.h"

#define LB (L->b)
#define X0(n) ((n)->in[0])
#define X1(n) ((n)->in[1])

static LLVMValueRef iadd(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(LB, a, lw_ix(L, b), ""); }
static LLVMValueRef imul(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildMul(LB, a, lw_ix(L, b), ""); }

/* Whether x[n, c, ih, iw] lies inside the input (not in its padding). */
static LLVMValueRef inside(Lower *L, Node *x, const LLVMValueRef *idx) {
  return LLVMBuildAnd(LB, LLVMBuildICmp(LB, LLVMIntULT, idx[2], lw_ix(L, x->shape.d[2]), ""),
                      LLVMBuildICmp(LB, LLVMIntULT, idx[3], lw_ix(L, x->shape.d[3]), ""), "inside");
}

/* x[n, c, ih, iw], 0 outside the input (zero padding). */
static LLVMValueRef load_padded(Lower *L, Node *x, LLVMValueRef *idx, bool guard) {
  if (!guard) return lw_load(L, x, idx, 4);
  LLVMValueRef ok = inside(L, x, idx);
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
 * out * stride - pad + k * dil. */
static LLVMValueRef in_pos(Lower *L, int stride, int pad, int dil, LLVMValueRef out, LLVMValueRef k) {
  return LLVMBuildAdd(LB, iadd(L, imul(L, out, stride), -pad), imul(L, k, dil), "");
}
static bool conv_padded(const ConvAttr *c) { return c->lo[0] || c->lo[1] || c->hi[0] || c->hi[1]; }

/* The input index {n, channel, row, column} that weight element (o, cl, kh, kw) reads
 * for output position (b, oh, ow): channel = o / (O/G) * C/G + cl. */
static void conv_index(Lower *L, const Node *w, const ConvAttr *c, LLVMValueRef b, LLVMValueRef o, LLVMValueRef cl,
                       LLVMValueRef oh, LLVMValueRef ow, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef *xi) {
  xi[0] = b;
  xi[1] = cl;
  if (c->groups > 1) {
    LLVMValueRef g = LLVMBuildUDiv(LB, o, lw_ix(L, w->shape.d[0] / c->groups), "group");
    xi[1] = LLVMBuildAdd(LB, imul(L, g, w->shape.d[1]), cl, "");
  }
  xi[2] = in_pos(L, c->stride[0], c->lo[0], c->dil[0], oh, kh);
  xi[3] = in_pos(L, c->stride[1], c->lo[1], c->dil[1], ow, kw);
}

static void scatter_add(Lower *L, Node *n, LLVMValueRef *idx, LLVMValueRef v) {
  LLVMValueRef p = lw_addr(L, n, idx, 4);
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, p, ""), v, ""), p);
}

/* scatter_add when ok (a window element inside the input) else nothing. */
static void scatter_add_if(Lower *L, Node *n, LLVMValueRef ok, LLVMValueRef *idx, LLVMValueRef v) {
  LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "inside");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "skip");
  LLVMBuildCondBr(LB, ok, yes, done);
  LLVMPositionBuilderAtEnd(LB, yes);
  scatter_add(L, n, idx, v);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

static void em_conv2d_naive(Lower *L, Kernel *k);

void em_conv2d(Lower *L, Kernel *k) {
  if (conv_fast_fits(L, k)) return em_conv2d_fast(L, k); /* register-blocked, vectorised, in parts */
  LLVMBasicBlockRef done = NULL;
  if (k->parts > 1) { /* split by schedule.c, but not a shape the parts know: part 0 does it all */
    LLVMBasicBlockRef first = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "whole_conv");
    done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "whole_conv_done");
    LLVMBuildCondBr(LB, LLVMBuildICmp(LB, LLVMIntEQ, L->part, lw_ix(L, 0), ""), first, done);
    LLVMPositionBuilderAtEnd(LB, first);
  }
  if (!em_conv2d_depthwise(L, k)) em_conv2d_naive(L, k); /* groups == C == O: lower_conv_dw.c */
  if (done) {
    LLVMBuildBr(LB, done);
    LLVMPositionBuilderAtEnd(LB, done);
  }
}

/* The scalar loop nest: every other shape. */
static void em_conv2d_naive(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *w = X1(n);
  const ConvAttr *cv = node_conv(n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef c = lw_loop(L, &lc, w->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  conv_index(L, w, cv, o[0], o[1], c, o[2], o[3], kh, kw, xi);
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, conv_padded(cv)), lw_load(L, w, wi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &lc);
  lw_store(L, n, o, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* dx by scatter: for every output position, add dy * w into the input window. Also
 * conv_transpose2d's forward (dy its input, a result larger by output_padding). */
void em_conv2d_dx(Lower *L, Kernel *k) {
  if (em_conv2d_dx_depthwise(L, k)) return;
  Node *n = k->nodes[0], *dy = X0(n), *w = X1(n);
  const ConvAttr *cv = node_conv(n);
  zero_target(L, n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef g = lw_load(L, dy, o, 4);
  LLVMValueRef c = lw_loop(L, &lc, w->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  conv_index(L, w, cv, o[0], o[1], c, o[2], o[3], kh, kw, xi);
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  LLVMValueRef v = LLVMBuildFMul(LB, g, lw_load(L, w, wi, 4), "");
  if (conv_padded(cv)) scatter_add_if(L, n, inside(L, n, xi), xi, v); /* skip window positions in the padding */
  else scatter_add(L, n, xi, v);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &lc);
  lw_loops_end(L, lo, dy->shape);
}

void em_conv2d_dw(Lower *L, Kernel *k) {
  if (em_conv2d_dw_fast(L, k)) return; /* lower_conv_dw.c */
  Node *n = k->nodes[0], *x = X0(n), *dy = X1(n);
  const ConvAttr *cv = node_conv(n);
  Loop lo[4], ln, lh, lw;
  LLVMValueRef wi[4], xi[4];
  lw_loops(L, lo, n->shape, wi);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef b = lw_loop(L, &ln, dy->shape.d[0], "n");
  LLVMValueRef oh = lw_loop(L, &lh, dy->shape.d[2], "oh");
  LLVMValueRef ow = lw_loop(L, &lw, dy->shape.d[3], "ow");
  conv_index(L, n, cv, b, wi[0], wi[1], oh, ow, wi[2], wi[3], xi);
  LLVMValueRef yi[4] = {b, wi[0], oh, ow};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, conv_padded(cv)), lw_load(L, dy, yi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &ln);
  lw_store(L, n, wi, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* The input index of window element (kh, kw) of output position o of pool n. */
static void window_index(Lower *L, const Node *n, LLVMValueRef *o, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef *xi) {
  const PoolAttr *p = node_pool(n);
  xi[0] = o[0], xi[1] = o[1];
  xi[2] = in_pos(L, p->stride[0], p->pad[0], 1, o[2], kh);
  xi[3] = in_pos(L, p->stride[1], p->pad[1], 1, o[3], kw);
}
static bool pool_padded(const Node *n) { return node_pool(n)->pad[0] || node_pool(n)->pad[1]; }
static double pool_area(const Node *n) { return (double)node_pool(n)->k[0] * node_pool(n)->k[1]; }

/* mode 0: max_pool2d (padding never wins); 1: avg_pool2d (padding counts as zeros). */
static void em_pool(Lower *L, Kernel *k, int mode) {
  Node *n = k->nodes[0], *x = X0(n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, mode == 0 ? -INFINITY : 0), acc);
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k[0], "kh"), kw = lw_loop(L, &lw, node_pool(n)->k[1], "kw");
  window_index(L, n, o, kh, kw, xi);
  LLVMValueRef v = load_padded(L, x, xi, pool_padded(n)), cur = LLVMBuildLoad2(LB, L->f32, acc, "");
  if (mode == 0) {
    LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""),
                                    LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""), "");
    if (pool_padded(n)) take = LLVMBuildAnd(LB, take, inside(L, x, xi), "");
    LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), acc);
  } else {
    LLVMBuildStore(LB, LLVMBuildFAdd(LB, cur, v, ""), acc);
  }
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  LLVMValueRef r = LLVMBuildLoad2(LB, L->f32, acc, "");
  if (mode == 1) r = LLVMBuildFMul(LB, r, lw_f32(L, 1.0 / pool_area(n)), "");
  lw_store(L, n, o, r);
  lw_loops_end(L, lo, n->shape);
}
void em_maxpool(Lower *L, Kernel *k) { em_pool(L, k, 0); }
void em_avgpool(Lower *L, Kernel *k) { em_pool(L, k, 1); }

/* dy of each window goes to its first maximum (strict >, so ties keep the first; the
 * first element inside the input is taken whatever its value, so arg is never padding). */
void em_maxpool_dx(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *dy = X1(n);
  int kw_n = node_pool(n)->k[1];
  zero_target(L, n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef best = lw_slot(L, L->f32, "best"), arg = lw_slot(L, L->ix, "arg");
  LLVMBuildStore(LB, lw_f32(L, -INFINITY), best);
  LLVMBuildStore(LB, lw_ix(L, -1), arg);
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k[0], "kh"), kw = lw_loop(L, &lw, kw_n, "kw");
  window_index(L, n, o, kh, kw, xi);
  LLVMValueRef v = load_padded(L, x, xi, pool_padded(n)), cur = LLVMBuildLoad2(LB, L->f32, best, "");
  LLVMValueRef old = LLVMBuildLoad2(LB, L->ix, arg, "");
  LLVMValueRef nan_first = LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""),
                                        LLVMBuildFCmp(LB, LLVMRealORD, cur, cur, ""), "");
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""), nan_first, "");
  take = LLVMBuildOr(LB, take, LLVMBuildICmp(LB, LLVMIntSLT, old, lw_ix(L, 0), ""), "");
  if (pool_padded(n)) take = LLVMBuildAnd(LB, take, inside(L, x, xi), "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), best);
  LLVMValueRef here = LLVMBuildAdd(LB, imul(L, kh, kw_n), kw, "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, here, old, ""), arg);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  LLVMValueRef a = LLVMBuildLoad2(LB, L->ix, arg, "");
  LLVMValueRef kk = lw_ix(L, kw_n);
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
  LLVMValueRef g = LLVMBuildFMul(LB, lw_load(L, dy, o, 4), lw_f32(L, 1.0 / pool_area(n)), "");
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k[0], "kh"), kw = lw_loop(L, &lw, node_pool(n)->k[1], "kw");
  window_index(L, n, o, kh, kw, xi);
  if (pool_padded(n)) scatter_add_if(L, n, inside(L, n, xi), xi, g);
  else scatter_add(L, n, xi, g);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  lw_loops_end(L, lo, dy->shape);
}
