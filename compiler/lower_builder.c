/* lower_builder.c — the LLVM builder helpers every kernel emitter uses: constants,
 * stack slots and counted loops, where a node's elements live (function argument,
 * workspace slice, baked constant, alias), loads and stores of scalars and of whole or
 * partial vectors, and intrinsic calls. No kernel is emitted here (lower_builder.h). */
#include "lower_builder.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include "opinfo.h"

#define LB (L->b)

void lower_init(Lower *L, LLVMContextRef ctx, LLVMModuleRef mod) {
  memset(L, 0, sizeof *L);
  L->ctx = ctx;
  L->mod = mod;
  L->b = LLVMCreateBuilderInContext(ctx);
  L->f32 = LLVMFloatTypeInContext(ctx);
  L->i32 = LLVMInt32TypeInContext(ctx);
  L->ix = LLVMIntPtrTypeInContext(ctx, LLVMGetModuleDataLayout(mod));
  L->i8 = LLVMInt8TypeInContext(ctx);
  L->ptr = LLVMPointerTypeInContext(ctx, 0);
  L->vd = LLVMVoidTypeInContext(ctx);
}

void lower_dispose(Lower *L) { LLVMDisposeBuilder(L->b); }

static LLVMValueRef splat_const(Lower *L, LLVMValueRef c) {
  if (L->lanes <= 1) return c;
  LLVMValueRef e[64];
  for (int i = 0; i < L->lanes; i++) e[i] = c;
  return LLVMConstVector(e, (unsigned)L->lanes);
}
LLVMValueRef lw_f32(Lower *L, double v) { return splat_const(L, LLVMConstReal(L->f32, v)); }
LLVMValueRef lw_i32(Lower *L, int64_t v) { return splat_const(L, LLVMConstInt(L->i32, (unsigned long long)v, 1)); }
LLVMTypeRef lw_float_t(Lower *L) { return L->lanes > 1 ? LLVMVectorType(L->f32, (unsigned)L->lanes) : L->f32; }
LLVMTypeRef lw_int_t(Lower *L) { return L->lanes > 1 ? LLVMVectorType(L->i32, (unsigned)L->lanes) : L->i32; }
LLVMValueRef lw_ix(Lower *L, int64_t v) { return LLVMConstInt(L->ix, (unsigned long long)v, 1); }

LLVMValueRef lw_slot(Lower *L, LLVMTypeRef t, const char *name) {
  LLVMBasicBlockRef cur = LLVMGetInsertBlock(LB);
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(L->fn);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first) LLVMPositionBuilderBefore(LB, first);
  else LLVMPositionBuilderAtEnd(LB, entry);
  LLVMValueRef slot = LLVMBuildAlloca(LB, t, name);
  LLVMPositionBuilderAtEnd(LB, cur);
  return slot;
}

LLVMValueRef lw_loop(Lower *L, Loop *lp, int64_t n, const char *name) { return lw_loop_v(L, lp, lw_ix(L, n), name); }

LLVMValueRef lw_loop_v(Lower *L, Loop *lp, LLVMValueRef n, const char *name) {
  lp->no_unroll = false;
  lp->slot = lw_slot(L, L->ix, name);
  LLVMBuildStore(LB, lw_ix(L, 0), lp->slot);
  lp->head = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "head");
  lp->body = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "body");
  lp->exit = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "exit");
  LLVMBuildBr(LB, lp->head);
  LLVMPositionBuilderAtEnd(LB, lp->head);
  lp->iv = LLVMBuildLoad2(LB, L->ix, lp->slot, name);
  LLVMBuildCondBr(LB, LLVMBuildICmp(LB, LLVMIntSLT, lp->iv, n, ""), lp->body, lp->exit);
  LLVMPositionBuilderAtEnd(LB, lp->body);
  return lp->iv;
}

/* !llvm.loop !{self, !{"llvm.loop.unroll.disable"}} on a loop's back edge. */
static void no_unroll(Lower *L, LLVMValueRef br) {
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(L->ctx, NULL, 0);
  LLVMMetadataRef hint = LLVMMDStringInContext2(L->ctx, "llvm.loop.unroll.disable", 24);
  LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(L->ctx, &hint, 1)};
  LLVMMetadataRef loop = LLVMMDNodeInContext2(L->ctx, ops, 2);
  LLVMMetadataReplaceAllUsesWith(tmp, loop);
  LLVMSetMetadata(br, LLVMGetMDKindIDInContext(L->ctx, "llvm.loop", 9), LLVMMetadataAsValue(L->ctx, loop));
}

void lw_loop_end(Lower *L, Loop *lp) {
  LLVMBuildStore(LB, LLVMBuildAdd(LB, lp->iv, lw_ix(L, 1), ""), lp->slot);
  LLVMValueRef br = LLVMBuildBr(LB, lp->head);
  if (lp->no_unroll) no_unroll(L, br);
  LLVMPositionBuilderAtEnd(LB, lp->exit);
}

void lw_loops(Lower *L, Loop *lps, Shape s, LLVMValueRef *idx) {
  static const char *names[] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"};
  for (int i = 0; i < s.rank; i++) idx[i] = lw_loop(L, &lps[i], s.d[i], names[i]);
}

void lw_loops_end(Lower *L, Loop *lps, Shape s) {
  for (int i = s.rank - 1; i >= 0; i--) lw_loop_end(L, &lps[i]);
}

/* The node whose buffer holds x: x itself, or the base of an alias (reshape, flatten,
 * detach) that shares its operand's bytes. */
static Node *owner_of(Lower *L, Node *x) {
  Buffer *b = &L->e->buf[x->id];
  return b->kind == BUF_ALIAS ? b->base : x;
}

Buffer *lw_buffer(Lower *L, Node *x) { return &L->e->buf[owner_of(L, x)->id]; }

/* A baked parameter x (the base, never an alias of it): a private constant array
 * `M.NAME`, made on first use. */
static LLVMValueRef baked_global(Lower *L, Node *x) {
  GC_ASSERT(x->op == OP_PARAM && x->baked);
  char name[300];
  snprintf(name, sizeof name, "%s.%s", L->g->model, x->name);
  LLVMValueRef gv = LLVMGetNamedGlobal(L->mod, name);
  if (gv) return gv;
  size_t n = (size_t)shape_count(x->shape);
  LLVMValueRef *vals = malloc(n * sizeof *vals);
  for (size_t i = 0; i < n; i++) vals[i] = LLVMConstReal(L->f32, x->baked[i]);
  LLVMValueRef init = LLVMConstArray(L->f32, vals, (unsigned)n);
  free(vals);
  gv = LLVMAddGlobal(L->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetAlignment(gv, 16);
  return gv;
}

static LLVMValueRef base_ptr(Lower *L, Node *x) {
  Buffer *b = lw_buffer(L, x);
  switch (b->kind) {
  case BUF_ARG: return L->args[b->arg];
  case BUF_WS: {
    if (L->slice) { /* in a kernel's function: its parameter */
      LLVMValueRef p = L->slice[b - L->e->buf];
      GC_ASSERT(p && "a kernel touches a workspace buffer it was not given");
      return p;
    }
    LLVMValueRef off = lw_ix(L, b->offset);
    return LLVMBuildGEP2(LB, L->i8, L->ws, &off, 1, "");
  }
  case BUF_BAKED: return baked_global(L, owner_of(L, x));
  default: break;
  }
  fprintf(stderr, "gradc: internal error: node %%%d (%s) has no buffer\n", x->id, gc_ops[x->op].name);
  GC_ASSERT(!"value read without a buffer");
}

/* sum_i idx[i] * st[i], the element offset of a multi-index. */
LLVMValueRef lw_offset(Lower *L, const LLVMValueRef *idx, const int64_t *st, int rank) {
  LLVMValueRef off = lw_ix(L, 0);
  for (int i = 0; i < rank; i++)
    if (st[i]) off = LLVMBuildAdd(LB, off, LLVMBuildMul(LB, idx[i], lw_ix(L, st[i]), ""), "");
  return off;
}

LLVMValueRef lw_elem_ptr(Lower *L, Node *x, LLVMValueRef off) {
  LLVMTypeRef t = x->dtype == DT_I32 ? L->i32 : L->f32;
  return LLVMBuildGEP2(LB, t, base_ptr(L, x), &off, 1, "");
}

LLVMValueRef lw_addr(Lower *L, Node *x, const LLVMValueRef *idx, int rank) {
  int64_t st[GC_MAX_RANK];
  shape_bstrides(x->shape, rank, st);
  return lw_elem_ptr(L, x, lw_offset(L, idx, st, rank));
}

LLVMValueRef lw_load(Lower *L, Node *x, const LLVMValueRef *idx, int rank) {
  if (x->op == OP_CONST) return lw_f32(L, node_const(x)->value);
  char name[32];
  snprintf(name, sizeof name, "n%d", x->id);
  return LLVMBuildLoad2(LB, L->f32, lw_addr(L, x, idx, rank), name);
}

LLVMValueRef lw_scratch(Lower *L, Node *x) {
  const Buffer *b = &L->e->buf[x->id];
  LLVMValueRef base = L->scratch ? L->scratch[x->id] : L->ws;
  LLVMValueRef off = lw_ix(L, L->scratch ? 0 : b->scratch_offset);
  GC_ASSERT(base);
  if (L->part) { /* the parts of a split kernel have equal slices, one each */
    int parts = L->e->kernels[L->e->kernel_of[x->id]].parts;
    off = LLVMBuildAdd(LB, off, LLVMBuildMul(LB, L->part, lw_ix(L, b->scratch_bytes / parts), ""), "");
  }
  return LLVMBuildGEP2(LB, L->i8, base, &off, 1, "scratch");
}

LLVMValueRef lw_splat(Lower *L, LLVMTypeRef vt, LLVMValueRef x) {
  if (LLVMGetTypeKind(vt) != LLVMVectorTypeKind) return x;
  LLVMValueRef v = LLVMBuildInsertElement(LB, LLVMGetUndef(vt), x, LLVMConstInt(L->i32, 0, 0), "");
  return LLVMBuildShuffleVector(LB, v, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(L->i32, LLVMGetVectorSize(vt))),
                                "splat");
}

LLVMValueRef lw_vload(Lower *L, LLVMTypeRef vt, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(LB, vt, ptr, "");
  LLVMSetAlignment(v, LW_ALIGN);
  return v;
}
void lw_vstore(Lower *L, LLVMValueRef v, LLVMValueRef ptr) { LLVMSetAlignment(LLVMBuildStore(LB, v, ptr), LW_ALIGN); }

LLVMValueRef lw_lane_mask(Lower *L, int vw, int lanes) {
  LLVMValueRef bits[64];
  LLVMTypeRef i1 = LLVMInt1TypeInContext(L->ctx);
  for (int e = 0; e < vw; e++) bits[e] = LLVMConstInt(i1, e < lanes, 0);
  return LLVMConstVector(bits, (unsigned)vw);
}

/* The lanes of the piece of a partial vector that starts at lane e: a power of two. */
static int piece_lanes(int e, int lanes) {
  int c = 1;
  while (e + c * 2 <= lanes) c *= 2;
  return c;
}

/* Likewise in pieces, put together with shuffles. The other lanes repeat the last one:
 * not zeros, which LLVM 16's x86 back end takes for known zero through a division,
 * dropping the select that keeps a partial vector's NaN lanes (0 / 0) out of a sum. */
LLVMValueRef lw_masked_load(Lower *L, LLVMTypeRef vt, LLVMValueRef ptr, int lanes) {
  int n = (int)LLVMGetVectorSize(vt);
  if (lanes == n) return lw_vload(L, vt, ptr);
  LLVMValueRef v = LLVMGetUndef(vt), idx[64];
  for (int e = 0; e < lanes;) {
    int c = piece_lanes(e, lanes);
    LLVMValueRef off = lw_ix(L, e), p = LLVMBuildGEP2(LB, L->f32, ptr, &off, 1, "");
    if (c == 1) {
      v = LLVMBuildInsertElement(LB, v, LLVMBuildLoad2(LB, L->f32, p, ""), LLVMConstInt(L->i32, (unsigned)e, 0), "");
    } else {
      LLVMValueRef piece = lw_vload(L, LLVMVectorType(L->f32, (unsigned)c), p);
      for (int i = 0; i < n; i++) idx[i] = i < c ? LLVMConstInt(L->i32, (unsigned)i, 0) : LLVMGetUndef(L->i32);
      piece = LLVMBuildShuffleVector(LB, piece, LLVMGetUndef(LLVMTypeOf(piece)), LLVMConstVector(idx, (unsigned)n), "");
      for (int i = 0; i < n; i++) idx[i] = LLVMConstInt(L->i32, (unsigned)(i >= e && i < e + c ? n + i - e : i), 0);
      v = LLVMBuildShuffleVector(LB, v, piece, LLVMConstVector(idx, (unsigned)n), "");
    }
    e += c;
  }
  for (int i = 0; i < n; i++) idx[i] = LLVMConstInt(L->i32, (unsigned)(i < lanes ? i : lanes - 1), 0);
  return LLVMBuildShuffleVector(LB, v, LLVMGetUndef(vt), LLVMConstVector(idx, (unsigned)n), "");
}

/* In pieces of 4, 2 and 1 lanes rather than llvm.masked.store: AMD's vmaskmovps store
 * is microcoded, one every several cycles, and short rows (logreg's 3 logits) store a
 * partial vector each time. */
void lw_masked_store(Lower *L, LLVMValueRef v, LLVMValueRef ptr, int lanes) {
  LLVMTypeRef vt = LLVMTypeOf(v);
  if (lanes == (int)LLVMGetVectorSize(vt)) return lw_vstore(L, v, ptr);
  for (int e = 0; e < lanes;) {
    int c = piece_lanes(e, lanes);
    LLVMValueRef part;
    if (c == 1) {
      part = LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, (unsigned)e, 0), "");
    } else {
      LLVMValueRef idx[64];
      for (int i = 0; i < c; i++) idx[i] = LLVMConstInt(L->i32, (unsigned)(e + i), 0);
      part = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(vt), LLVMConstVector(idx, (unsigned)c), "");
    }
    LLVMValueRef off = lw_ix(L, e);
    lw_vstore(L, part, LLVMBuildGEP2(LB, L->f32, ptr, &off, 1, ""));
    e += c;
  }
}

LLVMValueRef lw_call_intrinsic(Lower *L, const char *name, LLVMValueRef x) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(L->mod, id, &t, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(L->ctx, id, &t, 1);
  return LLVMBuildCall2(LB, fty, fn, &x, 1, "");
}

LLVMValueRef lw_fmuladd(Lower *L, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  static const char name[] = "llvm.fmuladd";
  unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[3] = {a, b, c};
  return LLVMBuildCall2(LB, LLVMIntrinsicGetType(L->ctx, id, &t, 1), LLVMGetIntrinsicDeclaration(L->mod, id, &t, 1), args,
                        3, "");
}

LLVMValueRef lw_select_gt(Lower *L, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f) {
  return LLVMBuildSelect(LB, LLVMBuildFCmp(LB, LLVMRealOGT, a, b, ""), t, f, "");
}
