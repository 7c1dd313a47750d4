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

/* The first output word of Philox4x32-10 of counter (i, salt, 0, 0) under key (k0, k1),
 * in the low 32 bits of 64-bit lanes (t64: i64 or a vector of them). Each word is kept
 * in a 64-bit lane whose high half is left undefined: the 32 x 32 -> 64-bit products
 * read only the low halves (masked: LLVM selects one vpmuludq, with no truncation or
 * extension between rounds), the high half of a product is a shift, its low half the
 * product itself, and a xor or a key's addition leaves the low halves right. */
static LLVMValueRef philox_first(Lower *L, LLVMTypeRef t64, LLVMValueRef i, uint32_t salt, LLVMValueRef k0,
                                 LLVMValueRef k1) {
  LLVMValueRef lo32 = iconst(t64, 0xffffffffu), s32 = iconst(t64, 32);
  LLVMValueRef c[4] = {i, iconst(t64, salt), iconst(t64, 0), iconst(t64, 0)};
  for (int r = 0; r < GC_PHILOX_ROUNDS; r++) {
    LLVMValueRef kr0 = LLVMBuildAdd(LB, k0, iconst(t64, (uint32_t)(GC_PHILOX_W0 * (uint32_t)r)), "");
    LLVMValueRef kr1 = LLVMBuildAdd(LB, k1, iconst(t64, (uint32_t)(GC_PHILOX_W1 * (uint32_t)r)), "");
    LLVMValueRef p0 = LLVMBuildMul(LB, LLVMBuildAnd(LB, c[0], lo32, ""), iconst(t64, GC_PHILOX_M0), "");
    LLVMValueRef p1 = LLVMBuildMul(LB, LLVMBuildAnd(LB, c[2], lo32, ""), iconst(t64, GC_PHILOX_M1), "");
    c[0] = LLVMBuildXor(LB, LLVMBuildXor(LB, LLVMBuildLShr(LB, p1, s32, ""), c[1], ""), kr0, "");
    c[1] = p1;
    c[2] = LLVMBuildXor(LB, LLVMBuildXor(LB, LLVMBuildLShr(LB, p0, s32, ""), c[3], ""), kr1, "");
    c[3] = p0;
  }
  return LLVMBuildAnd(LB, c[0], lo32, "u");
}

LLVMValueRef lower_dropout(Lower *L, const Node *n, LLVMValueRef a) {
  const DropoutAttr *d = node_dropout(n);
  uint64_t t = gc_dropout_threshold(d->p); /* up to 2^32 (keeps nothing): an i64 compare */
  LLVMTypeRef ft = LLVMTypeOf(a), i64 = LLVMInt64TypeInContext(L->ctx);
  bool vec = LLVMGetTypeKind(ft) == LLVMVectorTypeKind;
  unsigned w = vec ? LLVMGetVectorSize(ft) : 1;
  LLVMTypeRef t64 = vec ? LLVMVectorType(i64, w) : i64;
  GC_ASSERT(L->elem_at && "the kernel gives a dropout member its element index");
  LLVMValueRef i = LLVMBuildZExt(LB, LLVMBuildIntCast2(LB, L->elem_at, L->i32, 0, ""), i64, ""); /* mod 2^32 */
  if (vec) {
    LLVMValueRef lane[64];
    for (unsigned k = 0; k < w; k++) lane[k] = LLVMConstInt(i64, k, 0);
    i = LLVMBuildAnd(LB, LLVMBuildAdd(LB, lw_splat(L, t64, i), LLVMConstVector(lane, w), ""), iconst(t64, 0xffffffffu), "");
  }
  LLVMValueRef seed = LLVMBuildLoad2(LB, i64, seed_arg(L), "seed");
  LLVMValueRef k0 = lw_splat(L, t64, seed), k1 = lw_splat(L, t64, LLVMBuildLShr(LB, seed, LLVMConstInt(i64, 32, 0), ""));
  LLVMValueRef u = philox_first(L, t64, i, d->salt, k0, k1);
  LLVMValueRef keep = LLVMBuildICmp(LB, LLVMIntUGE, u, iconst(t64, t), "keep");
  LLVMValueRef zero = LLVMConstNull(ft), s = lw_splat(L, ft, LLVMConstReal(L->f32, gc_dropout_scale(d->p)));
  return LLVMBuildFMul(LB, a, LLVMBuildSelect(LB, keep, s, zero, ""), "dropout");
}
