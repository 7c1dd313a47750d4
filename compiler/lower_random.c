/* lower_random.c — dropout and modes (issue 15): Philox4x32-10 in LLVM IR, from the
 * specification of ops_random.h (the reference evaluator's C copy is ops_random.c).
 *
 * Each element draws from its own counter (i, salt, 0, 0), so the rounds are the same
 * integer code on every lane: on vectors (rows kernels, matmul epilogues) they are built
 * on vectors of i32, and in a fused elementwise loop on scalars that LLVM's loop
 * vectoriser widens. The 32 x 32 -> 64-bit products are i64 multiplies of zero-extended
 * operands (vpmuludq on x86). The step seed is loaded from the entry's `seed` argument
 * where the element is computed; LLVM hoists the load out of the loops. */
#include "lower_random.h"
#include "opinfo.h"
#include "ops_random.h"

#define LB (L->b)

/* The entry's step seed argument (entry.c adds it to an entry computing a DROPOUT). */
static LLVMValueRef seed_arg(Lower *L) {
  for (int i = 0; i < L->e->nargs; i++)
    if (L->e->args[i].kind == ARG_SEED) return L->args[i];
  GC_ASSERT(!"an entry computing dropout has no seed argument");
}

/* An integer constant of type t (splat over a vector type). */
static LLVMValueRef iconst(LLVMTypeRef t, uint64_t v) {
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return LLVMConstInt(t, v, 0);
  unsigned w = LLVMGetVectorSize(t);
  LLVMValueRef e[64], c = LLVMConstInt(LLVMGetElementType(t), v, 0);
  for (unsigned i = 0; i < w; i++) e[i] = c;
  return LLVMConstVector(e, w);
}

/* hi and lo 32 bits of the 64-bit product of a (i32 or <w x i32>) and constant m. */
static void mulhilo(Lower *L, LLVMTypeRef t32, LLVMTypeRef t64, LLVMValueRef a, uint32_t m, LLVMValueRef *hi,
                    LLVMValueRef *lo) {
  LLVMValueRef p = LLVMBuildMul(LB, LLVMBuildZExt(LB, a, t64, ""), iconst(t64, m), "");
  *hi = LLVMBuildTrunc(LB, LLVMBuildLShr(LB, p, iconst(t64, 32), ""), t32, "");
  *lo = LLVMBuildTrunc(LB, p, t32, "");
}

/* The first output word of Philox4x32-10 of counter (i, salt, 0, 0) under key (k0, k1). */
static LLVMValueRef philox_first(Lower *L, LLVMTypeRef t32, LLVMTypeRef t64, LLVMValueRef i, uint32_t salt,
                                 LLVMValueRef k0, LLVMValueRef k1) {
  LLVMValueRef c[4] = {i, iconst(t32, salt), iconst(t32, 0), iconst(t32, 0)};
  for (int r = 0; r < GC_PHILOX_ROUNDS; r++) {
    LLVMValueRef kr0 = LLVMBuildAdd(LB, k0, iconst(t32, (uint32_t)(GC_PHILOX_W0 * (uint32_t)r)), "");
    LLVMValueRef kr1 = LLVMBuildAdd(LB, k1, iconst(t32, (uint32_t)(GC_PHILOX_W1 * (uint32_t)r)), "");
    LLVMValueRef hi0, lo0, hi1, lo1;
    mulhilo(L, t32, t64, c[0], GC_PHILOX_M0, &hi0, &lo0);
    mulhilo(L, t32, t64, c[2], GC_PHILOX_M1, &hi1, &lo1);
    c[0] = LLVMBuildXor(LB, LLVMBuildXor(LB, hi1, c[1], ""), kr0, "");
    c[1] = lo1;
    c[2] = LLVMBuildXor(LB, LLVMBuildXor(LB, hi0, c[3], ""), kr1, "");
    c[3] = lo0;
  }
  return c[0];
}

LLVMValueRef lower_dropout(Lower *L, const Node *n, LLVMValueRef a) {
  const DropoutAttr *d = node_dropout(n);
  uint64_t t = gc_dropout_threshold(d->p);
  LLVMTypeRef ft = LLVMTypeOf(a), i64 = LLVMInt64TypeInContext(L->ctx);
  if (t > UINT32_MAX) return LLVMBuildFMul(LB, a, LLVMConstNull(ft), "dropout"); /* keeps nothing */
  bool vec = LLVMGetTypeKind(ft) == LLVMVectorTypeKind;
  unsigned w = vec ? LLVMGetVectorSize(ft) : 1;
  LLVMTypeRef t32 = vec ? LLVMVectorType(L->i32, w) : L->i32, t64 = vec ? LLVMVectorType(i64, w) : i64;
  GC_ASSERT(L->elem_at && "the kernel gives a dropout member its element index");
  LLVMValueRef i = LLVMBuildIntCast2(LB, L->elem_at, L->i32, 0, "");
  if (vec) {
    LLVMValueRef lane[64];
    for (unsigned k = 0; k < w; k++) lane[k] = LLVMConstInt(L->i32, k, 0);
    i = LLVMBuildAdd(LB, lw_splat(L, t32, i), LLVMConstVector(lane, w), "");
  }
  LLVMValueRef seed = LLVMBuildLoad2(LB, i64, seed_arg(L), "seed");
  LLVMValueRef k0 = lw_splat(L, t32, LLVMBuildTrunc(LB, seed, L->i32, "")),
               k1 = lw_splat(L, t32, LLVMBuildTrunc(LB, LLVMBuildLShr(LB, seed, LLVMConstInt(i64, 32, 0), ""), L->i32, ""));
  LLVMValueRef u = philox_first(L, t32, t64, i, d->salt, k0, k1);
  LLVMValueRef keep = LLVMBuildICmp(LB, LLVMIntUGE, u, iconst(t32, t), "keep");
  LLVMValueRef zero = LLVMConstNull(ft), s = lw_splat(L, ft, LLVMConstReal(L->f32, gc_dropout_scale(d->p)));
  return LLVMBuildFMul(LB, a, LLVMBuildSelect(LB, keep, s, zero, ""), "dropout");
}
