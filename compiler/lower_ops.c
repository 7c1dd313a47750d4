/* lower_ops.c — the backend's column of the operator table (lower_ops.h): each
 * elementwise primitive as LLVM IR on one element (scalar or vector, the same code),
 * and the kernels of reductions, permutes, one-hot and argmax masks; products are in
 * matmul.c, windowed ops in lower_window.c, the math functions in mathlib.c. */
#include <math.h>
#include "lower_ops.h"
#include "mathlib.h"
#include "matmul.h"

#define LB (L->b)
#define A(n) ((n)->in[0])

static LLVMValueRef em_neg(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, LLVMBuildFNeg(LB, a, "neg");
}
static LLVMValueRef em_exp(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_exp(L, a);
}
static LLVMValueRef em_log(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_log(L, a);
}
static LLVMValueRef em_sqrt(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_sqrt(L, a);
}
static LLVMValueRef em_abs(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_abs(L, a);
}
static LLVMValueRef em_sign(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  (void)n, (void)b;
  LLVMValueRef zero = lw_f32(L, 0);
  LLVMValueRef pos = LLVMBuildSelect(LB, LLVMBuildFCmp(LB, LLVMRealOGT, a, zero, ""), lw_f32(L, 1), zero, "");
  return LLVMBuildSelect(LB, LLVMBuildFCmp(LB, LLVMRealOLT, a, zero, ""), lw_f32(L, -1), pos, "sign");
}
static LLVMValueRef em_step(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  (void)n, (void)b;
  return lw_select_gt(L, a, lw_f32(L, 0), lw_f32(L, 1), lw_f32(L, 0));
}
static LLVMValueRef em_tanh(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_tanh(L, a);
}
static LLVMValueRef em_sigmoid(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_sigmoid(L, a);
}
static LLVMValueRef em_relu(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  (void)n, (void)b;
  return lw_select_gt(L, a, lw_f32(L, 0), a, lw_f32(L, 0));
}
static LLVMValueRef em_softplus(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_softplus(L, a);
}
static LLVMValueRef em_erf(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_erf(L, a);
}
static LLVMValueRef em_powc(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)b, m_powc(L, a, n->value);
}
static LLVMValueRef em_id(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)L, (void)n, (void)b, a;
}
static LLVMValueRef em_add(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, LLVMBuildFAdd(LB, a, b, "add");
}
static LLVMValueRef em_sub(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, LLVMBuildFSub(LB, a, b, "sub");
}
static LLVMValueRef em_mul(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, LLVMBuildFMul(LB, a, b, "mul");
}
static LLVMValueRef em_div(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, LLVMBuildFDiv(LB, a, b, "div");
}
/* NaN propagates, as torch.maximum. */
static LLVMValueRef em_maxmin(Lower *L, LLVMValueRef a, LLVMValueRef b, LLVMRealPredicate p) {
  LLVMValueRef pick = LLVMBuildSelect(LB, LLVMBuildFCmp(LB, p, a, b, ""), a, b, "");
  LLVMValueRef nan = LLVMBuildFCmp(LB, LLVMRealUNO, a, b, "");
  return LLVMBuildSelect(LB, nan, LLVMBuildFAdd(LB, a, b, ""), pick, "mm");
}
static LLVMValueRef em_maximum(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, em_maxmin(L, a, b, LLVMRealOGT);
}
static LLVMValueRef em_minimum(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, em_maxmin(L, a, b, LLVMRealOLT);
}
static LLVMValueRef em_eq(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  (void)n;
  return LLVMBuildSelect(LB, LLVMBuildFCmp(LB, LLVMRealOEQ, a, b, ""), lw_f32(L, 1), lw_f32(L, 0), "eq");
}

/* Reductions' combining step. */
static LLVMValueRef em_sum1(Lower *L, const Node *n, LLVMValueRef acc, LLVMValueRef v) {
  return (void)n, LLVMBuildFAdd(LB, acc, v, "");
}
static LLVMValueRef em_max1(Lower *L, const Node *n, LLVMValueRef acc, LLVMValueRef v) {
  (void)n; /* a NaN wins and stays, as torch.max */
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, acc, ""),
                                  LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""), "");
  return LLVMBuildSelect(LB, take, v, acc, "");
}

/* ---------------------------------------------------------------- lowering: kernels */

/* When the innermost axis is kept (a bias gradient: sum over the batch), walk the
 * input in storage order and combine each element into its output element in place:
 * the inner loop is contiguous in both and vectorises. Needs an output buffer of its
 * own (not a gradient whose sink rides on the store). */
static bool reduce_streaming(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  const OpInfo *op = &gc_ops[n->op];
  const OpLower *ol = &gc_lower[n->op];
  Shape s = x->shape;
  if (s.rank == 0 || (n->axes & (1u << (s.rank - 1))) || lw_applies_sgd(L, n)) return false;
  Loop lo[GC_MAX_RANK], lx[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ix[GC_MAX_RANK];
  lw_loops(L, lo, n->shape, io);
  LLVMBuildStore(LB, lw_f32(L, op->unit), lw_addr(L, n, io, n->shape.rank));
  lw_loops_end(L, lo, n->shape);
  lw_loops(L, lx, s, ix);
  LLVMValueRef p = lw_addr(L, n, ix, s.rank); /* reduced axes have stride 0 in n */
  LLVMBuildStore(LB, ol->emit1(L, n, LLVMBuildLoad2(LB, L->f32, p, ""), lw_load(L, x, ix, s.rank)), p);
  lw_loops_end(L, lx, s);
  return true;
}

/* Reductions: loops over the output; inner loops over the reduced axes into a
 * register accumulator (or the streaming form above). */
static void emit_reduce(Lower *L, Kernel *k) {
  if (reduce_streaming(L, k)) return;
  Node *n = k->nodes[0], *x = A(n);
  const OpInfo *op = &gc_ops[n->op];
  const OpLower *ol = &gc_lower[n->op];
  Shape s = x->shape, outer = s, inner = s;
  for (int i = 0; i < s.rank; i++) {
    if (n->axes & (1u << i)) outer.d[i] = 1;
    else inner.d[i] = 1;
  }
  Loop lo[GC_MAX_RANK], li[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK], idx[GC_MAX_RANK];
  lw_loops(L, lo, outer, io);
  LLVMValueRef acc = lw_slot(L, L->f32, "acc");
  LLVMBuildStore(LB, lw_f32(L, op->unit), acc);
  lw_loops(L, li, inner, ii);
  for (int i = 0; i < s.rank; i++) idx[i] = (n->axes & (1u << i)) ? ii[i] : io[i];
  LLVMValueRef v = lw_load(L, x, idx, s.rank), cur = LLVMBuildLoad2(LB, L->f32, acc, "");
  LLVMBuildStore(LB, ol->emit1(L, n, cur, v), acc);
  lw_loops_end(L, li, inner);
  lw_store(L, n, io, LLVMBuildLoad2(LB, L->f32, acc, ""));
  lw_loops_end(L, lo, outer);
}

static void em_permute(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  Loop lp[GC_MAX_RANK];
  LLVMValueRef io[GC_MAX_RANK], ii[GC_MAX_RANK];
  lw_loops(L, lp, n->shape, io);
  for (int i = 0; i < n->shape.rank; i++) ii[n->perm[i]] = io[i];
  lw_store(L, n, io, lw_load(L, A(n), ii, n->shape.rank));
  lw_loops_end(L, lp, n->shape);
}

static void em_argmax_mask(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = A(n);
  int ax = __builtin_ctz(n->axes);
  Shape outer = n->shape;
  outer.d[ax] = 1;
  Loop lo[GC_MAX_RANK], lj;
  LLVMValueRef idx[GC_MAX_RANK];
  lw_loops(L, lo, outer, idx);
  LLVMValueRef best = lw_slot(L, L->f32, "best"), arg = lw_slot(L, L->ix, "arg");
  LLVMBuildStore(LB, lw_f32(L, -INFINITY), best);
  LLVMBuildStore(LB, lw_ix(L, 0), arg);
  idx[ax] = lw_loop(L, &lj, n->shape.d[ax], "j");
  LLVMValueRef v = lw_load(L, x, idx, n->shape.rank), cur = LLVMBuildLoad2(LB, L->f32, best, "");
  LLVMValueRef take = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, v, cur, ""),
                                  LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealUNO, v, v, ""),
                                               LLVMBuildFCmp(LB, LLVMRealORD, cur, cur, ""), ""), "");
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, v, cur, ""), best);
  LLVMBuildStore(LB, LLVMBuildSelect(LB, take, idx[ax], LLVMBuildLoad2(LB, L->ix, arg, ""), ""), arg);
  lw_loop_end(L, &lj);
  LLVMValueRef a = LLVMBuildLoad2(LB, L->ix, arg, "");
  idx[ax] = lw_loop(L, &lj, n->shape.d[ax], "j");
  LLVMValueRef hit = LLVMBuildICmp(LB, LLVMIntEQ, idx[ax], a, "");
  lw_store(L, n, idx, LLVMBuildSelect(LB, hit, lw_f32(L, 1), lw_f32(L, 0), "first"));
  lw_loop_end(L, &lj);
  lw_loops_end(L, lo, outer);
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

/* ---------------------------------------------------------------- the table */

#define ELEM(e, nm) [OP_##e] = {em_##nm, NULL}

const OpLower gc_lower[OP__COUNT] = {
    ELEM(NEG, neg),          ELEM(EXP, exp),       ELEM(LOG, log),
    ELEM(SQRT, sqrt),        ELEM(ABS, abs),       ELEM(SIGN, sign),       ELEM(STEP, step),
    ELEM(TANH, tanh),        ELEM(SIGMOID, sigmoid), ELEM(RELU, relu),     ELEM(SOFTPLUS, softplus),
    ELEM(ERF, erf),          ELEM(POWC, powc),     ELEM(EXPAND, id),       ELEM(ADD, add),
    ELEM(SUB, sub),          ELEM(MUL, mul),       ELEM(DIV, div),         ELEM(MAXIMUM, maximum),
    ELEM(MINIMUM, minimum),  ELEM(EQ, eq),         ELEM(COPY, id),         ELEM(SGD, id),
    [OP_SUM] = {em_sum1, emit_reduce},
    [OP_MAX] = {em_max1, emit_reduce},
    [OP_PERMUTE] = {NULL, em_permute},
    [OP_MATMUL] = {NULL, emit_matmul},
    [OP_ONEHOT] = {NULL, em_onehot},
    [OP_ARGMAX_MASK] = {NULL, em_argmax_mask},
    [OP_CONV2D] = {NULL, em_conv2d},
    [OP_CONV2D_DX] = {NULL, em_conv2d_dx},
    [OP_CONV2D_DW] = {NULL, em_conv2d_dw},
    [OP_MAXPOOL] = {NULL, em_maxpool},
    [OP_MAXPOOL_DX] = {NULL, em_maxpool_dx},
    [OP_AVGPOOL] = {NULL, em_avgpool},
    [OP_AVGPOOL_DX] = {NULL, em_avgpool_dx},
};
