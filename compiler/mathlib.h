/* mathlib.h — exp, log, tanh and friends emitted inline as LLVM IR (no libm).
 *
 * Generated code must call nothing but memcpy/memset, on any target, so transcendental
 * functions are emitted as branch-free polynomial code that the loop vectoriser can
 * widen. Each works on f32 scalars or vectors. Accuracy (tested in test_mathlib.c,
 * against libm in float64 over dense samples): max relative error
 *   exp 2e-7 (|x| <= 88), log 2.5e-7, log1p 3e-7, tanh 4e-7, sigmoid 4e-7, erf 5e-7 abs.
 * sqrt and fabs use LLVM intrinsics that every target lowers to instructions or to
 * its compiler runtime. */
#ifndef GRADC_MATHLIB_H
#define GRADC_MATHLIB_H
#include "lower_builder.h"

LLVMValueRef m_exp(Lower *L, LLVMValueRef x);
LLVMValueRef m_log(Lower *L, LLVMValueRef x);
LLVMValueRef m_log1p(Lower *L, LLVMValueRef x);
LLVMValueRef m_tanh(Lower *L, LLVMValueRef x);
LLVMValueRef m_sigmoid(Lower *L, LLVMValueRef x);
LLVMValueRef m_softplus(Lower *L, LLVMValueRef x);
LLVMValueRef m_erf(Lower *L, LLVMValueRef x);
LLVMValueRef m_sqrt(Lower *L, LLVMValueRef x);
LLVMValueRef m_abs(Lower *L, LLVMValueRef x);
LLVMValueRef m_powc(Lower *L, LLVMValueRef x, double e);
/* issue 15: sin, cos (accuracy above, |x| <= 1e5), floor, ceil, round (half to even;
 * exact), pow with a tensor exponent (C99's special cases). */
LLVMValueRef m_sin(Lower *L, LLVMValueRef x);
LLVMValueRef m_cos(Lower *L, LLVMValueRef x);
LLVMValueRef m_round_even(Lower *L, LLVMValueRef x);
LLVMValueRef m_floor(Lower *L, LLVMValueRef x);
LLVMValueRef m_ceil(Lower *L, LLVMValueRef x);
LLVMValueRef m_pow(Lower *L, LLVMValueRef x, LLVMValueRef y);

#endif
