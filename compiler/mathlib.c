/* mathlib.c — see mathlib.h. Branch-free f32 code: every special case is a select, so
 * loops stay vectorisable. Constants are Cephes' (S. Moshier) single-precision ones. */
#include "mathlib.h"
#include <math.h>
#include <stdlib.h>

#define LB (L->b)
static LLVMValueRef f_add(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(LB, a, b, ""); }
static LLVMValueRef f_sub(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(LB, a, b, ""); }
static LLVMValueRef f_mul(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(LB, a, b, ""); }
static LLVMValueRef f_div(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(LB, a, b, ""); }
static LLVMValueRef k(Lower *L, double v) { return lw_f32(L, v); }
static LLVMValueRef sel(Lower *L, LLVMValueRef c, LLVMValueRef t, LLVMValueRef f) {
  return LLVMBuildSelect(LB, c, t, f, "");
}
static LLVMValueRef cmp(Lower *L, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(LB, p, a, b, "");
}
/* c[0] + x (c[1] + x (c[2] + ...)), each step one fused multiply-add where the target
 * has them: half the latency of the chain (logreg's step is that chain). */
static LLVMValueRef horner(Lower *L, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef acc = k(L, c[n - 1]);
  for (int i = n - 2; i >= 0; i--) acc = lw_fmuladd(L, acc, x, k(L, c[i]));
  return acc;
}
/* 2^n for an i32 n in [-126, 127], built from the exponent bits. */
static LLVMValueRef pow2i(Lower *L, LLVMValueRef n) {
  LLVMValueRef bits = LLVMBuildShl(LB, LLVMBuildAdd(LB, n, lw_i32(L, 127), ""), lw_i32(L, 23), "");
  return LLVMBuildBitCast(LB, bits, lw_float_t(L), "");
}

LLVMValueRef m_abs(Lower *L, LLVMValueRef x) { return lw_call_intrinsic(L, "llvm.fabs", x); }
LLVMValueRef m_sqrt(Lower *L, LLVMValueRef x) { return lw_call_intrinsic(L, "llvm.sqrt", x); }

/* exp(x) = 2^n e^r, n = round(x / ln 2), |r| <= ln2 / 2, e^r by its degree-7 Taylor
 * polynomial (truncation 5e-9). 2^n is applied in two halves so that n from -150 to
 * 128 neither overflows the exponent field nor skips the subnormal range. */
LLVMValueRef m_exp(Lower *L, LLVMValueRef x) {
  LLVMValueRef isnan = cmp(L, LLVMRealUNO, x, x);
  LLVMValueRef xc = sel(L, cmp(L, LLVMRealOGT, x, k(L, 89)), k(L, 89), x);
  xc = sel(L, cmp(L, LLVMRealOLT, xc, k(L, -104)), k(L, -104), xc);
  xc = sel(L, isnan, k(L, 0), xc);
  LLVMValueRef t = f_mul(L, xc, k(L, 1.44269504088896341));
  t = f_add(L, t, sel(L, cmp(L, LLVMRealOLT, t, k(L, 0)), k(L, -0.5), k(L, 0.5)));
  LLVMValueRef n = LLVMBuildFPToSI(LB, t, lw_int_t(L), "");
  LLVMValueRef nf = LLVMBuildSIToFP(LB, n, lw_float_t(L), "");
  LLVMValueRef r = f_sub(L, xc, f_mul(L, nf, k(L, 0.693359375)));
  r = f_add(L, r, f_mul(L, nf, k(L, 2.12194440e-4)));
  static const double c[] = {1, 1, 1 / 2.0, 1 / 6.0, 1 / 24.0, 1 / 120.0, 1 / 720.0, 1 / 5040.0};
  LLVMValueRef p = horner(L, r, c, 8);
  LLVMValueRef h = LLVMBuildAShr(LB, n, lw_i32(L, 1), "");
  LLVMValueRef y = f_mul(L, f_mul(L, p, pow2i(L, h)), pow2i(L, LLVMBuildSub(LB, n, h, "")));
  return sel(L, isnan, x, y);
}

/* log(x) = e ln2 + log(m), m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s),
 * s = (m - 1) / (m + 1), by its odd series to s^9 (truncation 2e-9). */
LLVMValueRef m_log(Lower *L, LLVMValueRef x) {
  LLVMValueRef tiny = cmp(L, LLVMRealOLT, x, k(L, 1.17549435e-38));
  LLVMValueRef xs = sel(L, tiny, f_mul(L, x, k(L, 8388608.0)), x); /* subnormals: x 2^23 */
  LLVMValueRef bits = LLVMBuildBitCast(LB, xs, lw_int_t(L), "");
  LLVMValueRef e = LLVMBuildSub(LB, LLVMBuildLShr(LB, bits, lw_i32(L, 23), ""), lw_i32(L, 127), "");
  LLVMValueRef mb = LLVMBuildOr(LB, LLVMBuildAnd(LB, bits, lw_i32(L, 0x7fffff), ""), lw_i32(L, 0x3f800000), "");
  LLVMValueRef m = LLVMBuildBitCast(LB, mb, lw_float_t(L), "");
  LLVMValueRef big = cmp(L, LLVMRealOGT, m, k(L, 1.41421356237309505));
  m = sel(L, big, f_mul(L, m, k(L, 0.5)), m);
  LLVMValueRef ef = LLVMBuildSIToFP(LB, e, lw_float_t(L), "");
  ef = f_add(L, ef, sel(L, big, k(L, 1), k(L, 0)));
  ef = f_sub(L, ef, sel(L, tiny, k(L, 23), k(L, 0)));
  LLVMValueRef s = f_div(L, f_sub(L, m, k(L, 1)), f_add(L, m, k(L, 1)));
  LLVMValueRef s2 = f_mul(L, s, s);
  static const double c[] = {2, 2 / 3.0, 2 / 5.0, 2 / 7.0, 2 / 9.0};
  LLVMValueRef lm = f_mul(L, s, horner(L, s2, c, 5));
  LLVMValueRef y = f_add(L, f_mul(L, ef, k(L, 0.693359375)), f_sub(L, lm, f_mul(L, ef, k(L, 2.12194440e-4))));
  y = sel(L, cmp(L, LLVMRealOEQ, x, k(L, INFINITY)), x, y);
  y = sel(L, cmp(L, LLVMRealOEQ, x, k(L, 0)), k(L, -INFINITY), y);
  return sel(L, cmp(L, LLVMRealULT, x, k(L, 0)), k(L, NAN), y); /* x < 0 or NaN */
}

/* log1p(x) = log(u) x / (u - 1), u = 1 + x (exact correction of the rounding in u). */
LLVMValueRef m_log1p(Lower *L, LLVMValueRef x) {
  LLVMValueRef u = f_add(L, x, k(L, 1));
  LLVMValueRef d = f_sub(L, u, k(L, 1));
  LLVMValueRef y = f_div(L, f_mul(L, m_log(L, u), x), d);
  y = sel(L, cmp(L, LLVMRealOEQ, d, k(L, 0)), x, y);
  y = sel(L, cmp(L, LLVMRealOEQ, x, k(L, INFINITY)), x, y);
  return sel(L, cmp(L, LLVMRealOEQ, u, k(L, 0)), k(L, -INFINITY), y);
}

/* tanh: odd polynomial below 0.625, 1 - 2 / (e^{2|x|} + 1) above (Cephes tanhf). */
LLVMValueRef m_tanh(Lower *L, LLVMValueRef x) {
  LLVMValueRef ax = m_abs(L, x);
  LLVMValueRef z = f_mul(L, x, x);
  static const double c[] = {-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2,
                             -5.70498872745e-3};
  LLVMValueRef small = f_add(L, x, f_mul(L, f_mul(L, horner(L, z, c, 5), z), x));
  LLVMValueRef e = m_exp(L, f_mul(L, sel(L, cmp(L, LLVMRealOGT, ax, k(L, 44)), k(L, 44), ax), k(L, 2)));
  LLVMValueRef large = f_sub(L, k(L, 1), f_div(L, k(L, 2), f_add(L, e, k(L, 1))));
  large = sel(L, cmp(L, LLVMRealOLT, x, k(L, 0)), LLVMBuildFNeg(LB, large, ""), large);
  LLVMValueRef y = sel(L, cmp(L, LLVMRealOLT, ax, k(L, 0.625)), small, large);
  return sel(L, cmp(L, LLVMRealUNO, x, x), x, y);
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, e = exp(-|x|): never
 * overflows, and shares its exp with softplus(x) of the same x in a fused loop (the
 * logistic loss and its gradient). */
LLVMValueRef m_sigmoid(Lower *L, LLVMValueRef x) {
  LLVMValueRef e = m_exp(L, LLVMBuildFNeg(LB, m_abs(L, x), ""));
  LLVMValueRef s = f_div(L, k(L, 1), f_add(L, k(L, 1), e));
  return sel(L, cmp(L, LLVMRealOGE, x, k(L, 0)), s, f_mul(L, e, s));
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)): never overflows. */
LLVMValueRef m_softplus(Lower *L, LLVMValueRef x) {
  LLVMValueRef relu = lw_select_gt(L, x, k(L, 0), x, k(L, 0));
  LLVMValueRef y = f_add(L, relu, m_log1p(L, m_exp(L, LLVMBuildFNeg(LB, m_abs(L, x), ""))));
  return sel(L, cmp(L, LLVMRealUNO, x, x), x, y);
}

/* erf: its Taylor series to x^13 below |x| = 0.5 (relative accuracy near 0), above it
 * Abramowitz & Stegun 7.1.26, 1 - (a1 t + ... + a5 t^5) e^{-x^2} with t = 1/(1 + p|x|)
 * (absolute error 1.5e-7 in exact arithmetic); odd symmetry. */
LLVMValueRef m_erf(Lower *L, LLVMValueRef x) {
  LLVMValueRef ax = m_abs(L, x), z = f_mul(L, x, x);
  static const double taylor[] = {1, -1 / 3.0, 1 / 10.0, -1 / 42.0, 1 / 216.0, -1 / 1320.0, 1 / 9360.0};
  LLVMValueRef small = f_mul(L, f_mul(L, x, k(L, 1.1283791670955126)), horner(L, z, taylor, 7));
  static const double a[] = {0, 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429};
  LLVMValueRef t = f_div(L, k(L, 1), f_add(L, k(L, 1), f_mul(L, ax, k(L, 0.3275911))));
  LLVMValueRef big = f_sub(L, k(L, 1), f_mul(L, horner(L, t, a, 6), m_exp(L, LLVMBuildFNeg(LB, z, ""))));
  big = sel(L, cmp(L, LLVMRealOLT, x, k(L, 0)), LLVMBuildFNeg(LB, big, ""), big);
  LLVMValueRef y = sel(L, cmp(L, LLVMRealOLT, ax, k(L, 0.5)), small, big);
  return sel(L, cmp(L, LLVMRealUNO, x, x), x, y);
}

/* x^e for a constant e: repeated squaring for integers, sqrt for halves, else
 * exp(e log x) (NaN for negative x, as torch.pow with a fractional exponent). */
LLVMValueRef m_powc(Lower *L, LLVMValueRef x, double e) {
  if (e == (double)(long)e && fabs(e) <= 64) {
    long n = labs((long)e);
    LLVMValueRef acc = k(L, 1), base = x;
    for (; n; n >>= 1) {
      if (n & 1) acc = f_mul(L, acc, base);
      if (n > 1) base = f_mul(L, base, base);
    }
    return e < 0 ? f_div(L, k(L, 1), acc) : acc;
  }
  if (e == 0.5) return m_sqrt(L, x);
  if (e == -0.5) return f_div(L, k(L, 1), m_sqrt(L, x));
  return m_exp(L, f_mul(L, k(L, e), m_log(L, x)));
}

/* ---- issue 15: sin, cos, rounding, pow with a tensor exponent ---- */

static LLVMValueRef bits_of(Lower *L, LLVMValueRef x) { return LLVMBuildBitCast(LB, x, lw_int_t(L), ""); }
static LLVMValueRef float_of(Lower *L, LLVMValueRef i) { return LLVMBuildBitCast(LB, i, lw_float_t(L), ""); }
static LLVMValueRef bit_set(Lower *L, LLVMValueRef i, int64_t mask) {
  return LLVMBuildICmp(LB, LLVMIntNE, LLVMBuildAnd(LB, i, lw_i32(L, mask), ""), lw_i32(L, 0), "");
}

/* sin(x) (cos_shift 0) or cos(x) (1): x = j pi/2 + r, |r| <= pi/4 (a little more where
 * x 2/pi rounds the other way), with pi/2 in four parts, the first three of 8 bits so
 * that j C1, j C2, j C3 are exact for |j| < 2^16 (|x| < 1e5); then Cephes' sinf and
 * cosf polynomials of r by the quadrant j + cos_shift mod 4. Beyond |x| = 2^22 pi/2
 * (6.6e6) the reduction is not attempted: the result is bounded in [-1, 1] but
 * meaningless. Not finite: NaN. */
static LLVMValueRef m_sincos(Lower *L, LLVMValueRef x, int cos_shift) {
  LLVMValueRef t = f_mul(L, x, k(L, 0.63661977236758134308));
  LLVMValueRef tc = sel(L, cmp(L, LLVMRealOLT, m_abs(L, t), k(L, 4194304.0)), t, k(L, 0));
  LLVMValueRef jf = f_sub(L, f_add(L, tc, k(L, 12582912.0)), k(L, 12582912.0)); /* round to nearest */
  static const double c[] = {1.5703125, 4.825592041015625e-4, 1.2665987014770508e-6, 9.92093629470503e-10};
  LLVMValueRef r = x;
  for (int i = 0; i < 4; i++) r = f_sub(L, r, f_mul(L, jf, k(L, c[i])));
  LLVMValueRef q = LLVMBuildAdd(LB, LLVMBuildFPToSI(LB, jf, lw_int_t(L), ""), lw_i32(L, cos_shift), "");
  LLVMValueRef z = f_mul(L, r, r);
  static const double ps[] = {-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4};
  static const double pc[] = {4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5};
  LLVMValueRef s = f_add(L, r, f_mul(L, f_mul(L, r, z), horner(L, z, ps, 3)));
  LLVMValueRef co = f_add(L, f_sub(L, k(L, 1), f_mul(L, z, k(L, 0.5))), f_mul(L, f_mul(L, z, z), horner(L, z, pc, 3)));
  LLVMValueRef y = sel(L, bit_set(L, q, 1), co, s);
  y = sel(L, bit_set(L, q, 2), LLVMBuildFNeg(LB, y, ""), y);
  y = sel(L, cmp(L, LLVMRealOGT, y, k(L, 1)), k(L, 1), y);
  y = sel(L, cmp(L, LLVMRealOLT, y, k(L, -1)), k(L, -1), y);
  return sel(L, cmp(L, LLVMRealUNO, f_sub(L, x, x), k(L, 0)), k(L, NAN), y); /* inf or NaN */
}
LLVMValueRef m_sin(Lower *L, LLVMValueRef x) { return m_sincos(L, x, 0); }
LLVMValueRef m_cos(Lower *L, LLVMValueRef x) { return m_sincos(L, x, 1); }

/* x rounded to the nearest integer, ties to even (the default rounding of an addition
 * of 2^23, where the spacing of floats is 1), keeping x's sign (-0.4 gives -0); from
 * 2^23 on every float is an integer. Exact. */
/* r with the sign of x (r >= 0, or r of x's sign already). */
static LLVMValueRef sign_of_x(Lower *L, LLVMValueRef r, LLVMValueRef x) {
  LLVMValueRef sign = LLVMBuildAnd(LB, bits_of(L, x), lw_i32(L, INT32_MIN), "");
  return float_of(L, LLVMBuildOr(LB, bits_of(L, r), sign, ""));
}
LLVMValueRef m_round_even(Lower *L, LLVMValueRef x) {
  LLVMValueRef ax = m_abs(L, x);
  LLVMValueRef r = sign_of_x(L, f_sub(L, f_add(L, ax, k(L, 8388608.0)), k(L, 8388608.0)), x);
  return sel(L, cmp(L, LLVMRealOLT, ax, k(L, 8388608.0)), r, x);
}
/* floor and ceil from the nearest integer, one step down or up; the result has x's sign
 * (ceil(-0.7) is -0, as -1 + 1 is not). */
LLVMValueRef m_floor(Lower *L, LLVMValueRef x) {
  LLVMValueRef r = m_round_even(L, x);
  return sign_of_x(L, sel(L, cmp(L, LLVMRealOGT, r, x), f_sub(L, r, k(L, 1)), r), x);
}
LLVMValueRef m_ceil(Lower *L, LLVMValueRef x) {
  LLVMValueRef r = m_round_even(L, x);
  return sign_of_x(L, sel(L, cmp(L, LLVMRealOLT, r, x), f_add(L, r, k(L, 1)), r), x);
}

/* x^y = exp(y log|x|), negated for a negative x (its sign bit: -0 and -inf too) and an
 * odd integer y, NaN for a finite negative x and a y that is no integer; then C99's
 * (and torch's) special cases: x^0 = 1, 1^y = 1, (-1)^(+-inf) = 1. The zeros and
 * infinities of x and y come out of exp and log (exp(y * -inf), exp(y * inf)). */
LLVMValueRef m_pow(Lower *L, LLVMValueRef x, LLVMValueRef y) {
  LLVMValueRef ay = m_abs(L, y);
  LLVMValueRef r = m_exp(L, f_mul(L, y, m_log(L, m_abs(L, x))));
  LLVMValueRef yc = sel(L, cmp(L, LLVMRealOLT, ay, k(L, 16777216.0)), y, k(L, 0)); /* from 2^24 on: even */
  LLVMValueRef yi = LLVMBuildFPToSI(LB, yc, lw_int_t(L), "");
  LLVMValueRef is_int = cmp(L, LLVMRealOEQ, LLVMBuildSIToFP(LB, yi, lw_float_t(L), ""), yc);
  LLVMValueRef x_neg = LLVMBuildICmp(LB, LLVMIntSLT, bits_of(L, x), lw_i32(L, 0), "");
  r = sel(L, LLVMBuildAnd(LB, x_neg, bit_set(L, yi, 1), ""), LLVMBuildFNeg(LB, r, ""), r);
  LLVMValueRef neg_finite = LLVMBuildAnd(LB, cmp(L, LLVMRealOLT, x, k(L, 0)), cmp(L, LLVMRealOGT, x, k(L, -INFINITY)), "");
  r = sel(L, LLVMBuildAnd(LB, neg_finite, LLVMBuildNot(LB, is_int, ""), ""), k(L, NAN), r);
  LLVMValueRef one = LLVMBuildOr(LB, cmp(L, LLVMRealOEQ, x, k(L, 1)), cmp(L, LLVMRealOEQ, y, k(L, 0)), "");
  one = LLVMBuildOr(LB, one, LLVMBuildAnd(LB, cmp(L, LLVMRealOEQ, x, k(L, -1)), cmp(L, LLVMRealOEQ, ay, k(L, INFINITY)), ""), "");
  return sel(L, one, k(L, 1), r);
}
