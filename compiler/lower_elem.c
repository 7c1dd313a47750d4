/* lower_elem.c — the elementwise column of the backend's operator table
 * (lower_elem.h): each elementwise primitive, and each reduction's combining step, as
 * LLVM IR on one element — a float or a vector of floats, the same code. The math
 * functions are in mathlib.c. The dtype conversions (issue 16) take or give i32 (a
 * vector of i32 where the others have a vector of floats). */
#include "lower_elem.h"
#include "mathlib.h"
#include "lower_random.h"

#define LB (L->b)

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
  return (void)b, m_powc(L, a, node_pow(n)->exponent);
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

/* ---- comparisons and elementwise (issue 15) ---- */

/* A comparison as a 0/1 float mask. NaN compares false (ordered predicates) except with
 * != (unordered), as in C, IEEE 754 and torch. */
static LLVMValueRef mask(Lower *L, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(LB, LLVMBuildFCmp(LB, p, a, b, ""), lw_f32(L, 1), lw_f32(L, 0), "mask");
}
static LLVMValueRef em_lt(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, mask(L, LLVMRealOLT, a, b);
}
static LLVMValueRef em_le(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, mask(L, LLVMRealOLE, a, b);
}
static LLVMValueRef em_gt(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, mask(L, LLVMRealOGT, a, b);
}
static LLVMValueRef em_ge(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, mask(L, LLVMRealOGE, a, b);
}
static LLVMValueRef em_ne(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, mask(L, LLVMRealUNE, a, b);
}
/* select(c, a): a where c != 0 (NaN included), else 0. */
static LLVMValueRef em_select(Lower *L, const Node *n, LLVMValueRef c, LLVMValueRef a) {
  (void)n;
  return LLVMBuildSelect(LB, LLVMBuildFCmp(LB, LLVMRealUNE, c, lw_f32(L, 0), ""), a, lw_f32(L, 0), "select");
}
static LLVMValueRef em_pow(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, m_pow(L, a, b);
}
static LLVMValueRef em_sin(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_sin(L, a);
}
static LLVMValueRef em_cos(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_cos(L, a);
}
static LLVMValueRef em_floor(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_floor(L, a);
}
static LLVMValueRef em_ceil(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_ceil(L, a);
}
static LLVMValueRef em_round(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, m_round_even(L, a);
}

/* ---- dropout and modes (issue 15): lower_random.c ---- */
static LLVMValueRef em_dropout(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)b, lower_dropout(L, n, a);
}

/* ---- dtype conversions (issue 16) ---- */
/* elem with a's shape: elem, or a vector of elem of a's lanes. */
static LLVMTypeRef like(LLVMValueRef a, LLVMTypeRef elem) {
  LLVMTypeRef t = LLVMTypeOf(a);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(elem, LLVMGetVectorSize(t)) : elem;
}
static LLVMValueRef em_to_f32(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  return (void)n, (void)b, LLVMBuildSIToFP(LB, a, like(a, L->f32), "to_f32");
}
/* llvm.fptosi.sat: toward zero, saturated at the i32 range, NaN -> 0. */
static LLVMValueRef em_to_i32(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b) {
  (void)n, (void)b;
  static const char name[] = "llvm.fptosi.sat";
  unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
  LLVMTypeRef t[2] = {like(a, L->i32), LLVMTypeOf(a)};
  return LLVMBuildCall2(LB, LLVMIntrinsicGetType(L->ctx, id, t, 2), LLVMGetIntrinsicDeclaration(L->mod, id, t, 2), &a, 1,
                        "to_i32");
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

static LLVMValueRef em_prod1(Lower *L, const Node *n, LLVMValueRef acc, LLVMValueRef v) {
  return (void)n, LLVMBuildFMul(LB, acc, v, "");
}

/* ---------------------------------------------------------------- the table */

#define ELEM(e, nm) [OP_##e] = em_##nm

const Emit1 gc_lower_elem[OP__COUNT] = {
    ELEM(NEG, neg),          ELEM(EXP, exp),       ELEM(LOG, log),
    ELEM(SQRT, sqrt),        ELEM(ABS, abs),       ELEM(SIGN, sign),       ELEM(STEP, step),
    ELEM(TANH, tanh),        ELEM(SIGMOID, sigmoid), ELEM(RELU, relu),     ELEM(SOFTPLUS, softplus),
    ELEM(ERF, erf),          ELEM(POWC, powc),     ELEM(EXPAND, id),       ELEM(ADD, add),
    ELEM(SUB, sub),          ELEM(MUL, mul),       ELEM(DIV, div),         ELEM(MAXIMUM, maximum),
    ELEM(MINIMUM, minimum),  ELEM(EQ, eq),         ELEM(COPY, id),         ELEM(SGD, id),
    [OP_SUM] = em_sum1,      [OP_MAX] = em_max1,
    /* reductions and losses (issue 15) */
    [OP_PROD] = em_prod1,    ELEM(SQRT0, sqrt),
    /* ---- comparisons and elementwise (issue 15) ---- */
    ELEM(LT, lt),            ELEM(LE, le),         ELEM(GT, gt),           ELEM(GE, ge),
    ELEM(NE, ne),            ELEM(SELECT, select), ELEM(POW, pow),         ELEM(SIN, sin),
    ELEM(COS, cos),          ELEM(FLOOR, floor),   ELEM(CEIL, ceil),       ELEM(ROUND, round),
    /* ---- dropout and modes (issue 15) ---- */
    ELEM(DROPOUT, dropout),
    /* ---- dtype conversions (issue 16) ---- */
    ELEM(TO_F32, to_f32),    ELEM(TO_I32, to_i32),
};
