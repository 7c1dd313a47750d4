/* lower_window.c — the LLVM kernels of the windowed operators (ops_window.c has their
 * semantics): conv2d, its two gradients, max_pool2d, avg_pool2d and their gradients,
 * as scalar loop nests. Layout NCHW for activations, OIHW for convolution weights. */
#include <math.h>
#include "lower_update.h"
#include "lower_window.h"
#include "opinfo.h"

#define LB (L->b)
#define X0(n) ((n)->in[0])
#define X1(n) ((n)->in[1])

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
static LLVMValueRef in_pos(Lower *L, int stride, int pad, LLVMValueRef out, LLVMValueRef k) {
  return LLVMBuildAdd(LB, iadd(L, imul(L, out, stride), -pad), k, "");
}
static LLVMValueRef conv_pos(Lower *L, const ConvAttr *c, LLVMValueRef out, LLVMValueRef k) {
  return in_pos(L, c->stride, c->pad, out, k);
}

static void scatter_add(Lower *L, Node *n, LLVMValueRef *idx, LLVMValueRef v) {
  LLVMValueRef p = lw_addr(L, n, idx, 4);
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, p, ""), v, ""), p);
}

void em_conv2d(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = X0(n), *w = X1(n);
  const ConvAttr *cv = node_conv(n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef c = lw_loop(L, &lc, x->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  LLVMValueRef xi[4] = {o[0], c, conv_pos(L, cv, o[2], kh), conv_pos(L, cv, o[3], kw)};
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, cv->pad > 0), lw_load(L, w, wi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &lc);
  lw_store(L, n, o, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* dx by scatter: for every output position, add dy * w into the input window. */
void em_conv2d_dx(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *dy = X0(n), *w = X1(n);
  const ConvAttr *cv = node_conv(n);
  zero_target(L, n);
  Loop lo[4], lc, lh, lw;
  LLVMValueRef o[4];
  lw_loops(L, lo, dy->shape, o);
  LLVMValueRef g = lw_load(L, dy, o, 4);
  LLVMValueRef c = lw_loop(L, &lc, n->shape.d[1], "c");
  LLVMValueRef kh = lw_loop(L, &lh, w->shape.d[2], "kh");
  LLVMValueRef kw = lw_loop(L, &lw, w->shape.d[3], "kw");
  LLVMValueRef xi[4] = {o[0], c, conv_pos(L, cv, o[2], kh), conv_pos(L, cv, o[3], kw)};
  LLVMValueRef wi[4] = {o[1], c, kh, kw};
  LLVMValueRef v = LLVMBuildFMul(LB, g, lw_load(L, w, wi, 4), "");
  if (cv->pad > 0) { /* skip window positions in the padding */
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
  const ConvAttr *cv = node_conv(n);
  Loop lo[4], ln, lh, lw;
  LLVMValueRef wi[4];
  lw_loops(L, lo, n->shape, wi);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, 0), acc);
  LLVMValueRef b = lw_loop(L, &ln, dy->shape.d[0], "n");
  LLVMValueRef oh = lw_loop(L, &lh, dy->shape.d[2], "oh");
  LLVMValueRef ow = lw_loop(L, &lw, dy->shape.d[3], "ow");
  LLVMValueRef xi[4] = {b, wi[1], conv_pos(L, cv, oh, wi[2]), conv_pos(L, cv, ow, wi[3])};
  LLVMValueRef yi[4] = {b, wi[0], oh, ow};
  acc_add(L, acc, LLVMBuildFMul(LB, load_padded(L, x, xi, cv->pad > 0), lw_load(L, dy, yi, 4), ""));
  lw_loop_end(L, &lw), lw_loop_end(L, &lh), lw_loop_end(L, &ln);
  lw_store(L, n, wi, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, n->shape);
}

/* The input index of window element (kh, kw) of output position o of pool n. */
static void window_index(Lower *L, const Node *n, LLVMValueRef *o, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef *xi) {
  xi[0] = o[0], xi[1] = o[1];
  xi[2] = in_pos(L, node_pool(n)->stride, 0, o[2], kh);
  xi[3] = in_pos(L, node_pool(n)->stride, 0, o[3], kw);
}

/* mode 0: max_pool2d; 1: avg_pool2d. */
static void em_pool(Lower *L, Kernel *k, int mode) {
  Node *n = k->nodes[0], *x = X0(n);
  Loop lo[4], lh, lw;
  LLVMValueRef o[4], xi[4];
  lw_loops(L, lo, n->shape, o);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, mode == 0 ? -INFINITY : 0), acc);
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k, "kh"), kw = lw_loop(L, &lw, node_pool(n)->k, "kw");
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
  if (mode == 1) r = LLVMBuildFMul(LB, r, lw_f32(L, 1.0 / (node_pool(n)->k * node_pool(n)->k)), "");
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
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k, "kh"), kw = lw_loop(L, &lw, node_pool(n)->k, "kw");
  window_index(L, n, o, kh, kw, xi);
  LLVMValueRef v = lw_load(L, x, xi, 4), cur = LLVMBuildLoad2(LB, L->f32, best, "");
  LLVMValueRef nan_first = LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""),
                                        LLVMBuildFCmp(LB, LLVMRealORD, cur, cur, ""), "");
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""), nan_first, "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), best);
  LLVMValueRef here = LLVMBuildAdd(LB, imul(L, kh, node_pool(n)->k), kw, "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, here, LLVMBuildLoad2(LB, L->ix, arg, ""), ""), arg);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  LLVMValueRef a = LLVMBuildLoad2(LB, L->ix, arg, "");
  LLVMValueRef kk = lw_ix(L, node_pool(n)->k);
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
  LLVMValueRef g = LLVMBuildFMul(LB, lw_load(L, dy, o, 4), lw_f32(L, 1.0 / (node_pool(n)->k * node_pool(n)->k)), "");
  LLVMValueRef kh = lw_loop(L, &lh, node_pool(n)->k, "kh"), kw = lw_loop(L, &lw, node_pool(n)->k, "kw");
  window_index(L, n, o, kh, kw, xi);
  scatter_add(L, n, xi, g);
  lw_loop_end(L, &lw), lw_loop_end(L, &lh);
  lw_loops_end(L, lo, dy->shape);
}
