/* lower_ops.c — the kernel column of the backend's operator table (lower_ops.h): for
 * every op that is a kernel of its own, its emitter. The kernels of reductions,
 * permutes, one-hot, argmax masks, slices, pads and gathers (indexing II) are here; matrix products are in matmul.c, windowed
 * ops in lower_window.c. Fused elementwise and rows kernels (lower_fused.c) are built
 * from the elementwise column (lower_elem.h). */
#include "lower_ops.h"
#include <math.h>
#include "lower_attn.h"
#include "lower_elem.h"
#include "lower_update.h"
#include "lower_window.h"
#include "matmul.h"

#define LB (L->b)
#define A(n) ((n)->in[0])

/* When the innermost axis is kept (a bias gradient: sum over the batch), walk the
 * input in storage order and combine each element into its output element in place:
 * the inner loop is contiguous in both and vectorises. Needs an output buffer of its
 * own (not a gradient whose sink rides on the store). */
static bool reduce_streaming(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  const OpInfo *op = &gc_ops[n->op];
  Emit1 combine = gc_lower_elem[n->op];
  Shape s = x->shape;
  if (s.rank == 0 || (node_reduce(n)->axes & (1u << (s.rank - 1))) || lw_applies_update(L, n)) return false;
  Loop lo[GC_MAX_RANK], lx[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ix[GC_MAX_RANK];
  lw_loops(L, lo, n->shape, io);
  LLVMBuildStore(LB, lw_f32(L, op->unit), lw_addr(L, n, io, n->shape.rank));
  lw_loops_end(L, lo, n->shape);
  lw_loops(L, lx, s, ix);
  LLVMValueRef p = lw_addr(L, n, ix, s.rank); /* reduced axes have stride 0 in n */
  LLVMBuildStore(LB, combine(L, n, LLVMBuildLoad2(LB, L->f32, p, ""), lw_load(L, x, ix, s.rank)), p);
  lw_loops_end(L, lx, s);
  return true;
}

/* Reductions: loops over the output; inner loops over the reduced axes into a
 * register accumulator (or the streaming form above). */
static void emit_reduce(Lower *L, Kernel *k) {
  if (reduce_streaming(L, k)) return;
  Node *n = k->nodes[0], *x = A(n);
  const OpInfo *op = &gc_ops[n->op];
  Emit1 combine = gc_lower_elem[n->op];
  Shape s = x->shape, outer = s, inner = s;
  for (int i = 0; i < s.rank; i++) {
    if (node_reduce(n)->axes & (1u << i)) outer.d[i] = 1;
    else inner.d[i] = 1;
  }
  Loop lo[GC_MAX_RANK], li[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK], idx[GC_MAX_RANK];
  lw_loops(L, lo, outer, io);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, op->unit), acc);
  lw_loops(L, li, inner, ii);
  for (int i = 0; i < s.rank; i++) idx[i] = (node_reduce(n)->axes & (1u << i)) ? ii[i] : io[i];
  LLVMValueRef v = lw_load(L, x, idx, s.rank), cur = LLVMBuildLoad2(LB, L->f32, acc, "");
  LLVMBuildStore(LB, combine(L, n, cur, v), acc);
  lw_loops_end(L, li, inner);
  lw_store(L, n, io, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, outer);
}

static void em_permute(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK];
  lw_loops(L, lp, n->shape, io);
  for (int i = 0; i < n->shape.rank; i++) ii[node_perm(n)->perm[i]] = io[i];
  lw_store(L, n, io, lw_load(L, A(n), ii, n->shape.rank));
  lw_loops_end(L, lp, n->shape);
}

/* The index (an L->ix value) of the first maximum of x along axis ax at the position
 * idx gives on the other axes (a NaN wins): one loop over the axis. idx[ax] is left
 * for the caller to set. */
static LLVMValueRef first_max_index(Lower *L, Node *x, LLVMValueRef *idx, int ax) {
  Loop lj;
  LLVMValueRef best = lw_slot(L, L->f32, "best"), arg = lw_slot(L, L->ix, "arg");
  LLVMBuildStore(LB, lw_f32(L, -INFINITY), best);
  LLVMBuildStore(LB, lw_ix(L, 0), arg);
  idx[ax] = lw_loop(L, &lj, x->shape.d[ax], "j");
  LLVMValueRef v = lw_load(L, x, idx, x->shape.rank), cur = LLVMBuildLoad2(LB, L->f32, best, "");
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""),
                                  LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""),
                                               LLVMBuildFCmp(LB, LLVMRealORD, cur, cur, ""), ""), "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), best);
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, idx[ax], LLVMBuildLoad2(LB, L->ix, arg, ""), ""), arg);
  lw_loop_end(L, &lj);
  return LLVMBuildLoad2(LB, L->ix, arg, "");
}

/* 1 at the first maximum along the axis, 0 elsewhere. */
static void em_argmax_mask(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  int ax = __builtin_ctz(node_reduce(n)->axes);
  Shape outer = n->shape;
  outer.d[ax] = 1;
  Loop lo[GC_MAX_RANK], lj;
  LLVMValueRef idx[GC_MAX_RANK];
  lw_loops(L, lo, outer, idx);
  LLVMValueRef a = first_max_index(L, x, idx, ax);
  idx[ax] = lw_loop(L, &lj, n->shape.d[ax], "j");
  LLVMValueRef hit = LLVMBuildICmp(LB, LLVMIntEQ, idx[ax], a, "");
  lw_store(L, n, idx, LLVMBuildSelect(LB, hit, lw_f32(L, 1), lw_f32(L, 0), "first"));
  lw_loop_end(L, &lj);
  lw_loops_end(L, lo, outer);
}

/* The index of the first maximum along the axis (a NaN wins), stored as i32. */
static void em_argmax(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  int ax = __builtin_ctz(node_reduce(n)->axes);
  Loop lo[GC_MAX_RANK];
  LLVMValueRef idx[GC_MAX_RANK];
  lw_loops(L, lo, n->shape, idx);
  LLVMValueRef out = idx[ax], a = first_max_index(L, x, idx, ax);
  idx[ax] = out;
  lw_store(L, n, idx, LLVMBuildTrunc(LB, a, L->i32, "argmax"));
  lw_loops_end(L, lo, n->shape);
}

static void em_onehot(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  Loop lp[2];
  LLVMValueRef idx[2];
  lw_loops(L, lp, n->shape, idx);
  LLVMValueRef lab = LLVMBuildLoad2(LB, L->i32, lw_addr(L, A(n), idx, 1), "label");
  LLVMValueRef c = LLVMBuildTrunc(LB, idx[1], L->i32, "");
  LLVMValueRef hit = LLVMBuildICmp(LB, LLVMIntEQ, lab, c, "");
  lw_store(L, n, idx, LLVMBuildSelect(LB, hit, lw_f32(L, 1), lw_f32(L, 0), "onehot"));
  lw_loops_end(L, lp, n->shape);
}

/* ---------------------------------------------------------------- slice, pad (issue 15) */

/* SLICE: y[i] = x[start + i step] on each axis. */
static void em_slice(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  const SliceAttr *a = node_slice(n);
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK];
  lw_loops(L, lp, n->shape, io);
  for (int i = 0; i < n->shape.rank; i++)
    ii[i] = LLVMBuildAdd(LB, lw_ix(L, a->start[i]), LLVMBuildMul(LB, io[i], lw_ix(L, a->step[i]), ""), "");
  if (n->dtype == DT_I32) /* indices (issue 15, indexing II): copied as integers; never a gradient's store */
    LLVMBuildStore(LB, LLVMBuildLoad2(LB, L->i32, lw_addr(L, A(n), ii, n->shape.rank), "id"),
                   lw_addr(L, n, io, n->shape.rank));
  else
    lw_store(L, n, io, lw_load(L, A(n), ii, n->shape.rank));
  lw_loops_end(L, lp, n->shape);
}

/* PAD: each result element once, branch-free: on every axis t = j - start must be a
 * multiple of step with i = t / step inside the operand; the operand is read at the
 * index clamped to 0 where it is not, and the fill value selected. */
static void em_pad(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  const SliceAttr *a = node_slice(n);
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK], ok = LLVMConstInt(LLVMInt1TypeInContext(L->ctx), 1, 0);
  lw_loops(L, lp, n->shape, io);
  for (int d = 0; d < n->shape.rank; d++) {
    LLVMValueRef t = LLVMBuildSub(LB, io[d], lw_ix(L, a->start[d]), ""), i = t;
    if (a->step[d] == -1) i = LLVMBuildNeg(LB, t, "");
    else if (a->step[d] != 1) {
      LLVMValueRef exact = LLVMBuildICmp(LB, LLVMIntEQ, LLVMBuildSRem(LB, t, lw_ix(L, a->step[d]), ""), lw_ix(L, 0), "");
      ok = LLVMBuildAnd(LB, ok, exact, "");
      i = LLVMBuildSDiv(LB, t, lw_ix(L, a->step[d]), "");
    }
    LLVMValueRef inside = LLVMBuildICmp(LB, LLVMIntULT, i, lw_ix(L, x->shape.d[d]), "");
    ok = LLVMBuildAnd(LB, ok, inside, "");
    ii[d] = i;
  }
  for (int d = 0; d < n->shape.rank; d++) ii[d] = LLVMBuildSelect(LB, ok, ii[d], lw_ix(L, 0), "");
  LLVMValueRef v = lw_load(L, x, ii, n->shape.rank);
  lw_store(L, n, io, LLVMBuildSelect(LB, ok, v, lw_f32(L, a->value), "pad"));
  lw_loops_end(L, lp, n->shape);
}

/* ---------------------------------------------------------------- gather, scatter_add (issue 15: indexing II) */

/* The i32 index of `ix` for the element io of a rank-`rank` space it broadcasts into,
 * as an index; *inside: whether it is in [0, size). The index is clamped to 0 outside,
 * so that every address formed from it is valid. */
static LLVMValueRef gather_index(Lower *L, Node *ix, const LLVMValueRef *io, int rank, int64_t size,
                                 LLVMValueRef *inside) {
  LLVMValueRef id = LLVMBuildLoad2(LB, L->i32, lw_addr(L, ix, io, rank), "id");
  id = LLVMBuildIntCast2(LB, id, L->ix, 1, "");
  *inside = LLVMBuildICmp(LB, LLVMIntULT, id, lw_ix(L, size), "inside");
  return LLVMBuildSelect(LB, *inside, id, lw_ix(L, 0), "");
}

/* GATHER: y[o] = x[o with the axis replaced by index[o]], 0 for an index out of range. */
static void em_gather(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  int axis = node_gather(n)->axis, r = n->shape.rank;
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK], inside;
  lw_loops(L, lp, n->shape, io);
  for (int d = 0; d < r; d++) ii[d] = io[d];
  ii[axis] = gather_index(L, n->in[1], io, r, x->shape.d[axis], &inside);
  LLVMValueRef v = lw_load(L, x, ii, r);
  lw_store(L, n, io, LLVMBuildSelect(LB, inside, v, lw_f32(L, 0), "gather"));
  lw_loops_end(L, lp, n->shape);
}

/* SCATTER_ADD: zero the result, then add each dy element at its index (an index out of
 * range adds 0 at position 0: branch-free). Not split into parts (indices may repeat). */
static void em_scatter_add(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *dy = A(n);
  int axis = node_gather(n)->axis, r = n->shape.rank;
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK], inside;
  lw_loops(L, lp, n->shape, io);
  LLVMBuildStore(LB, lw_f32(L, 0), lw_addr(L, n, io, r));
  lw_loops_end(L, lp, n->shape);
  lw_loops(L, lp, dy->shape, io);
  for (int d = 0; d < r; d++) ii[d] = io[d];
  ii[axis] = gather_index(L, n->in[1], io, r, n->shape.d[axis], &inside);
  LLVMValueRef p = lw_addr(L, n, ii, r), v = lw_load(L, dy, io, r);
  v = LLVMBuildSelect(LB, inside, v, lw_f32(L, 0), "");
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, p, ""), v, "scatter"), p);
  lw_loops_end(L, lp, dy->shape);
}

/* ---------------------------------------------------------------- the table */

const EmitK gc_lower_kernel[OP__COUNT] = {
    [OP_SUM] = emit_reduce,
    [OP_MAX] = emit_reduce,
    [OP_PERMUTE] = em_permute,
    [OP_MATMUL] = emit_matmul,
    [OP_ONEHOT] = em_onehot,
    [OP_ARGMAX_MASK] = em_argmax_mask,
    [OP_CONV2D] = em_conv2d,
    [OP_CONV2D_DX] = em_conv2d_dx,
    [OP_CONV2D_DW] = em_conv2d_dw,
    [OP_MAXPOOL] = em_maxpool,
    [OP_MAXPOOL_DX] = em_maxpool_dx,
    [OP_AVGPOOL] = em_avgpool,
    [OP_AVGPOOL_DX] = em_avgpool_dx,
    /* reductions and losses (issue 15) */
    [OP_PROD] = emit_reduce,
    [OP_ARGMAX] = em_argmax,
    [OP_SLICE] = em_slice,
    [OP_PAD] = em_pad,
    /* ---- attention (issue 15): lower_attn.c ---- */
    [OP_TRI] = em_tri,
    [OP_SDPA] = em_sdpa,
    [OP_SDPA_BWD] = em_sdpa_bwd,
    /* ---- indexing II (issue 15) ---- */
    [OP_GATHER] = em_gather,
    [OP_SCATTER_ADD] = em_scatter_add,
};
