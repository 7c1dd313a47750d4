/* lower.c — entry points to LLVM IR: one function per entry, one loop nest per kernel.
 *
 * Every tensor has a static shape, so loops have constant bounds and indices are
 * affine in the induction variables; LLVM's optimiser then unrolls, vectorises and
 * hoists. Induction variables and accumulators live in stack slots that mem2reg turns
 * into registers. A fused elementwise kernel evaluates its members in order for each
 * element, keeping values in registers (`vals`) and storing only those the memory plan
 * gave a buffer. Values are named after their graph nodes (%n12) so the IR reads. */
#include "lower.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/DebugInfo.h>
#include "matmul.h"
#include "lower_ops.h"

#define LB (L->b)

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

static Buffer *buf_of(Lower *L, Node *x) { return &L->e->buf[owner_of(L, x)->id]; }

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
  Buffer *b = buf_of(L, x);
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
static LLVMValueRef offset_of(Lower *L, const LLVMValueRef *idx, const int64_t *st, int rank) {
  LLVMValueRef off = lw_ix(L, 0);
  for (int i = 0; i < rank; i++)
    if (st[i]) off = LLVMBuildAdd(LB, off, LLVMBuildMul(LB, idx[i], lw_ix(L, st[i]), ""), "");
  return off;
}

static LLVMValueRef elem_ptr(Lower *L, Node *x, LLVMValueRef off) {
  LLVMTypeRef t = x->dtype == DT_I32 ? L->i32 : L->f32;
  return LLVMBuildGEP2(LB, t, base_ptr(L, x), &off, 1, "");
}

LLVMValueRef lw_addr(Lower *L, Node *x, const LLVMValueRef *idx, int rank) {
  int64_t st[GC_MAX_RANK];
  shape_bstrides(x->shape, rank, st);
  return elem_ptr(L, x, offset_of(L, idx, st, rank));
}

LLVMValueRef lw_load(Lower *L, Node *x, const LLVMValueRef *idx, int rank) {
  if (x->op == OP_CONST) return lw_f32(L, x->value);
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
bool lw_applies_sgd(Lower *L, Node *x) { return buf_of(L, x)->sgd != NULL; }

LLVMValueRef lw_splat(Lower *L, LLVMTypeRef vt, LLVMValueRef x) {
  if (LLVMGetTypeKind(vt) != LLVMVectorTypeKind) return x;
  LLVMValueRef v = LLVMBuildInsertElement(LB, LLVMGetUndef(vt), x, LLVMConstInt(L->i32, 0, 0), "");
  return LLVMBuildShuffleVector(LB, v, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(L->i32, LLVMGetVectorSize(vt))),
                                "splat");
}

LLVMValueRef lw_vload(Lower *L, LLVMTypeRef vt, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(LB, vt, ptr, "");
  LLVMSetAlignment(v, 4);
  return v;
}
void lw_vstore(Lower *L, LLVMValueRef v, LLVMValueRef ptr) { LLVMSetAlignment(LLVMBuildStore(LB, v, ptr), 4); }

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

static LLVMValueRef ld(Lower *L, LLVMTypeRef t, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(LB, t, p, "");
  LLVMSetAlignment(v, 4);
  return v;
}
static void st(Lower *L, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(LB, v, p), 4); }

static int arg_of_kind(Lower *L, ArgKind kind, const Node *param) {
  for (int i = 0; i < L->e->nargs; i++)
    if (L->e->args[i].kind == kind && L->e->args[i].node == param) return i;
  GC_ASSERT(!"train-step argument missing");
}

/* lr, momentum and weight decay, loaded here: volatile, because a value hoisted out of
 * the loops would take a register from the micro-kernels, which need all of them. */
void lw_load_hyper(Lower *L, LLVMValueRef *hyper) {
  for (int h = 0; h < 3; h++) {
    LLVMValueRef hi = lw_ix(L, h);
    hyper[h] = LLVMBuildLoad2(LB, L->f32, LLVMBuildGEP2(LB, L->f32, L->args[arg_of_kind(L, ARG_HYPER, NULL)], &hi, 1, ""), "hyper");
    LLVMSetVolatile(hyper[h], 1);
  }
}

/* A parameter's gradient g (float or vector) at element offset off, by the core's
 * mode: 0 (M_backward) adds it into the gradient buffer; 1 (M_train_step) stores it and
 * applies torch.optim.SGD: d = g + wd p; m = mu m + d; p -= lr m (the momentum buffer
 * starts at zero, so the first step's m = d, as in torch). */
static void grad_epilogue(Lower *L, Node *sink, LLVMValueRef gp, LLVMValueRef off, LLVMValueRef g) {
  LLVMTypeRef t = LLVMTypeOf(g);
  LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_add");
  LLVMBasicBlockRef sgd = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_sgd");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_done");
  LLVMBuildCondBr(LB, L->train, sgd, add);
  LLVMPositionBuilderAtEnd(LB, add);
  st(L, LLVMBuildFAdd(LB, ld(L, t, gp), g, "acc"), gp);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, sgd);
  Node *p = sink->in[1];
  LLVMValueRef pp = LLVMBuildGEP2(LB, L->f32, L->args[arg_of_kind(L, ARG_PARAM, p)], &off, 1, "");
  LLVMValueRef mp = LLVMBuildGEP2(LB, L->f32, L->args[arg_of_kind(L, ARG_STATE, p)], &off, 1, "");
  st(L, g, gp);
  LLVMValueRef pv = ld(L, t, pp);
  LLVMValueRef hyper[3];
  if (L->hyper[0]) memcpy(hyper, L->hyper, sizeof hyper);
  else lw_load_hyper(L, hyper);
  LLVMValueRef lr = lw_splat(L, t, hyper[0]), mu = lw_splat(L, t, hyper[1]), wd = lw_splat(L, t, hyper[2]);
  /* as torch (and gradc_core_sgd): the decay term only where decay is set, so that an
   * infinite parameter without decay stays infinite instead of 0 * inf = NaN */
  LLVMValueRef decays = LLVMBuildFCmp(LB, LLVMRealUNE, hyper[2], lw_f32(L, 0), "");
  LLVMValueRef d = LLVMBuildSelect(LB, decays, LLVMBuildFAdd(LB, g, LLVMBuildFMul(LB, wd, pv, ""), ""), g, "d");
  /* without momentum the momentum buffer is neither read nor written */
  LLVMBasicBlockRef withm = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "sgd_momentum");
  LLVMBasicBlockRef plain = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "sgd_plain");
  LLVMBuildCondBr(LB, LLVMBuildFCmp(LB, LLVMRealONE, hyper[1], lw_f32(L, 0), ""), withm, plain);
  LLVMPositionBuilderAtEnd(LB, withm);
  LLVMValueRef m = LLVMBuildFAdd(LB, LLVMBuildFMul(LB, mu, ld(L, t, mp), ""), d, "m");
  st(L, m, mp);
  st(L, LLVMBuildFSub(LB, pv, LLVMBuildFMul(LB, lr, m, ""), "p"), pp);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, plain);
  st(L, LLVMBuildFSub(LB, pv, LLVMBuildFMul(LB, lr, d, ""), "p"), pp);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

/* i1: plain SGD (train-step mode, no momentum, no weight decay) under the hyper values
 * h; then lw_store_plain_sgd may stand for lw_store on a gradient with an SGD sink. */
LLVMValueRef lw_plain_sgd(Lower *L, const LLVMValueRef *h) {
  LLVMValueRef zero = lw_f32(L, 0);
  LLVMValueRef plain = LLVMBuildAnd(LB, LLVMBuildFCmp(LB, LLVMRealOEQ, h[1], zero, ""),
                                    LLVMBuildFCmp(LB, LLVMRealOEQ, h[2], zero, ""), "");
  return LLVMBuildAnd(LB, L->train, plain, "plain_sgd");
}

/* The gradient g of x's SGD sink at idx, where lw_plain_sgd holds: g stored, p -= lr g.
 * No branches, so that a block of these stays straight-line code. */
void lw_store_plain_sgd(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef g, LLVMValueRef lr) {
  int64_t s[GC_MAX_RANK];
  shape_bstrides(x->shape, x->shape.rank, s);
  LLVMValueRef off = offset_of(L, idx, s, x->shape.rank);
  Node *p = buf_of(L, x)->sgd->in[1];
  LLVMValueRef pp = LLVMBuildGEP2(LB, L->f32, L->args[arg_of_kind(L, ARG_PARAM, p)], &off, 1, "");
  LLVMTypeRef t = LLVMTypeOf(g);
  st(L, g, elem_ptr(L, x, off));
  st(L, LLVMBuildFSub(LB, ld(L, t, pp), LLVMBuildFMul(LB, lw_splat(L, t, lr), g, ""), "p"), pp);
}

/* Stores v at element offset off of x's own buffer (see lw_store). */
static void store_off(Lower *L, Node *x, LLVMValueRef off, LLVMValueRef v) {
  LLVMValueRef p = elem_ptr(L, x, off);
  Buffer *b = buf_of(L, x);
  if (b->sgd) return grad_epilogue(L, b->sgd, p, off, v);
  st(L, v, p);
}

void lw_store(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef v) {
  int64_t s[GC_MAX_RANK];
  shape_bstrides(x->shape, x->shape.rank, s);
  store_off(L, x, offset_of(L, idx, s, x->shape.rank), v);
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

/* ---------------------------------------------------------------- kernels */

/* A fused elementwise kernel walks its iteration space with the fewest loops: adjacent
 * dimensions that every operand steps through contiguously (or broadcasts over both)
 * merge, so [32, 10] + [32, 10] -> [10] becomes one loop of 320 that vectorises, while
 * a [10] bias broadcast over rows keeps two loops. ops[0..nops) are the loaded
 * operands; stored members are contiguous in the kernel's shape. */
typedef struct {
  int rank;
  int64_t d[GC_MAX_RANK];
  int64_t (*st)[GC_MAX_RANK]; /* per operand, then the contiguous layout */
} Walk;

static void coalesce(Arena *a, const Shape *s, Node **ops, int nops, Walk *w) {
  int64_t (*full)[GC_MAX_RANK] = arena_alloc(a, sizeof *full * (size_t)(nops + 1));
  w->st = arena_alloc(a, sizeof *w->st * (size_t)(nops + 1));
  for (int o = 0; o < nops; o++) shape_bstrides(ops[o]->shape, s->rank, full[o]);
  shape_bstrides(*s, s->rank, full[nops]);
  w->rank = 0;
  for (int d = 0; d < s->rank; d++) {
    if (s->d[d] == 1) continue; /* size-1 dimensions address nothing */
    bool merge = w->rank > 0;
    for (int o = 0; merge && o <= nops; o++) merge = w->st[o][w->rank - 1] == full[o][d] * s->d[d];
    if (merge) {
      w->d[w->rank - 1] *= s->d[d];
      for (int o = 0; o <= nops; o++) w->st[o][w->rank - 1] = full[o][d];
    } else {
      w->d[w->rank] = s->d[d];
      for (int o = 0; o <= nops; o++) w->st[o][w->rank] = full[o][d];
      w->rank++;
    }
  }
}

/* Member n of a fused kernel, from its operands' values, named after its node. */
static LLVMValueRef emit_member(Lower *L, Node *n, LLVMValueRef *in) {
  LLVMValueRef v = gc_lower[n->op].emit1(L, n, in[0], in[1]);
  char name[32];
  snprintf(name, sizeof name, "n%d", n->id);
  if (LLVMIsAInstruction(v) && !LLVMGetValueName2(v, &(size_t){0})[0]) LLVMSetValueName2(v, name, strlen(name));
  return v;
}

static void emit_elem(Lower *L, Kernel *k, LLVMValueRef *vals) {
  int ki = (int)(k - L->e->kernels);
  Node **ops = ARENA_ARRAY(L->g->arena, Node *, 3 * k->n + 1);
  int nops = 0;
  for (int i = 0; i < k->n; i++) /* the operands read from buffers */
    for (int j = 0; j < k->nodes[i]->nin; j++) {
      Node *x = k->nodes[i]->in[j];
      bool seen = x->op == OP_CONST || L->e->kernel_of[x->id] == ki;
      for (int o = 0; o < nops && !seen; o++) seen = ops[o] == x;
      if (!seen) ops[nops++] = x;
    }
  Walk walk = {0}, *w = &walk;
  coalesce(L->g->arena, &k->shape, ops, nops, w);
  Shape ws = {w->rank, {0}};
  memcpy(ws.d, w->d, sizeof ws.d);
  Loop lps[GC_MAX_RANK];
  LLVMValueRef idx[GC_MAX_RANK];
  lw_loops(L, lps, ws, idx);
  LLVMValueRef own = offset_of(L, idx, w->st[nops], w->rank);
  for (int i = 0; i < k->n; i++) {
    Node *n = k->nodes[i];
    LLVMValueRef in[2] = {NULL, NULL};
    for (int j = 0; j < n->nin; j++) {
      Node *x = n->in[j];
      int o = 0;
      while (o < nops && ops[o] != x) o++;
      if (L->e->kernel_of[x->id] == ki) in[j] = vals[x->id];
      else if (x->op == OP_CONST) in[j] = lw_f32(L, x->value);
      else in[j] = LLVMBuildLoad2(LB, L->f32, elem_ptr(L, x, offset_of(L, idx, w->st[o], w->rank)), "");
    }
    vals[n->id] = emit_member(L, n, in);
    if (buf_of(L, n)->kind != BUF_NONE) store_off(L, n, own, vals[n->id]);
  }
  lw_loops_end(L, lps, ws);
}

/* ---- rows kernels (entry.h, KER_ROWS) ----
 * For each row: the row-level members due before each loop, then the loop over the
 * row's elements computing that loop's members and accumulating its reductions; a
 * reduction's result is a register for the rest of the row, as are row-level values;
 * an element value read in a later loop is reloaded from the buffer the plan gave it.
 * A reduction over everything accumulates across rows and is stored after the last.
 * The loops over a row run on whole vectors and a last partial one (masked loads and
 * stores; its missing lanes enter reductions as the reduction's unit); reductions
 * keep a vector of partial results, combined across lanes when the loop ends. */

typedef struct {
  Kernel *k;
  LLVMValueRef *idx;  /* the element (row, first column of the vector) */
  LLVMValueRef *vals; /* by node id */
  LLVMValueRef *acc;  /* by member: a reduction's accumulator slot */
  LLVMTypeRef vt;     /* float or vector of floats */
  int valid;          /* lanes of vt that are elements of the row */
} Rows;

/* Operand x of member c at the current element (row-level values splat). */
static LLVMValueRef rows_operand(Lower *L, Rows *R, Node *c, Node *x) {
  int r = R->k->shape.rank;
  if (x->op == OP_CONST) return lw_f32(L, x->value);
  if (kernel_keeps(L->e, c, x))
    return LLVMTypeOf(R->vals[x->id]) == R->vt ? R->vals[x->id] : lw_splat(L, R->vt, R->vals[x->id]);
  LLVMValueRef p = lw_addr(L, x, R->idx, r);
  int64_t st[GC_MAX_RANK];
  shape_bstrides(x->shape, r, st);
  if (st[r - 1] == 0 || R->vt == L->f32) return lw_splat(L, R->vt, LLVMBuildLoad2(LB, L->f32, p, ""));
  return lw_masked_load(L, R->vt, p, R->valid);
}

static void rows_store(Lower *L, Rows *R, Node *n, LLVMValueRef v) {
  if (buf_of(L, n)->kind == BUF_NONE) return;
  LLVMValueRef p = lw_addr(L, n, R->idx, R->k->shape.rank);
  if (LLVMTypeOf(v) == L->f32) st(L, v, p);
  else lw_masked_store(L, v, p, R->valid);
}

/* Member n, if it is due now: at loop l (in_loop), or between loops before loop l. */
static void rows_member_at(Lower *L, Rows *R, int t, int l, bool in_loop) {
  Node *n = R->k->nodes[t];
  bool reduce = gc_ops[n->op].cls == CLS_REDUCE, per_element = reduce || shape_eq(n->shape, R->k->shape);
  if (L->e->loop_of[n->id] != l || per_element != in_loop) return;
  LLVMValueRef in[2] = {NULL, NULL};
  for (int j = 0; j < n->nin; j++) in[j] = rows_operand(L, R, n, n->in[j]);
  if (!reduce) {
    R->vals[n->id] = emit_member(L, n, in);
    rows_store(L, R, n, R->vals[n->id]);
    return;
  }
  LLVMValueRef unit = lw_f32(L, gc_ops[n->op].unit);
  if (R->vt != L->f32 && R->valid < (int)LLVMGetVectorSize(R->vt)) /* the lanes past the row's end */
    in[0] = LLVMBuildSelect(LB, lw_lane_mask(L, (int)LLVMGetVectorSize(R->vt), R->valid), in[0], unit, "");
  LLVMValueRef a = LLVMBuildLoad2(LB, R->vt, R->acc[t], "");
  LLVMBuildStore(LB, gc_lower[n->op].emit1(L, n, a, in[0]), R->acc[t]);
}

/* Reduction n's vector of partial results combined into one float. */
static LLVMValueRef rows_across_lanes(Lower *L, Node *n, LLVMValueRef v) {
  int saved = L->lanes;
  for (int w = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(LLVMTypeOf(v)) : 1; w > 1;
       w /= 2) {
    LLVMValueRef lo, hi;
    if (w == 2) {
      lo = LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, 0, 0), "");
      hi = LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, 1, 0), "");
    } else {
      LLVMValueRef m0[32], m1[32];
      for (int i = 0; i < w / 2; i++) m0[i] = LLVMConstInt(L->i32, (unsigned)i, 0), m1[i] = LLVMConstInt(L->i32, (unsigned)(i + w / 2), 0);
      lo = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(m0, (unsigned)(w / 2)), "");
      hi = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(m1, (unsigned)(w / 2)), "");
    }
    L->lanes = w / 2 > 1 ? w / 2 : 0;
    v = gc_lower[n->op].emit1(L, n, lo, hi);
  }
  L->lanes = saved;
  return v;
}

/* Loop l over the current row: whole vectors, then the partial one. */
static void rows_loop(Lower *L, Rows *R, int l) {
  Kernel *k = R->k;
  int r = k->shape.rank, vw = L->vw > 1 ? L->vw : 1;
  int64_t c = k->shape.d[r - 1], whole = c / vw, rest = c % vw;
  R->vt = vw > 1 ? LLVMVectorType(L->f32, (unsigned)vw) : L->f32;
  L->lanes = vw > 1 ? vw : 0;
  for (int t = 0; t < k->n; t++) /* this loop's reductions along the row start */
    if (R->acc[t] && !rows_total(k->nodes[t]) && L->e->loop_of[k->nodes[t]->id] == l)
      LLVMBuildStore(LB, lw_f32(L, gc_ops[k->nodes[t]->op].unit), R->acc[t]);
  if (whole) {
    Loop lp;
    R->idx[r - 1] = LLVMBuildMul(LB, lw_loop(L, &lp, whole, "c"), lw_ix(L, vw), "");
    R->valid = vw;
    for (int t = 0; t < k->n; t++) rows_member_at(L, R, t, l, true);
    lw_loop_end(L, &lp);
  }
  if (rest) {
    R->idx[r - 1] = lw_ix(L, whole * vw);
    R->valid = (int)rest;
    for (int t = 0; t < k->n; t++) rows_member_at(L, R, t, l, true);
  }
  L->lanes = 0;
  R->vt = L->f32;
  R->idx[r - 1] = lw_ix(L, 0);
  for (int t = 0; t < k->n; t++) { /* this loop's reductions along the row are complete */
    Node *n = k->nodes[t];
    if (!R->acc[t] || rows_total(n) || L->e->loop_of[n->id] != l) continue;
    R->vals[n->id] = rows_across_lanes(L, n, LLVMBuildLoad2(LB, LLVMGetAllocatedType(R->acc[t]), R->acc[t], ""));
    rows_store(L, R, n, R->vals[n->id]);
  }
}

static void emit_rows(Lower *L, Kernel *k, LLVMValueRef *vals) {
  int r = k->shape.rank, vw = L->vw > 1 ? L->vw : 1;
  LLVMTypeRef vt = vw > 1 ? LLVMVectorType(L->f32, (unsigned)vw) : L->f32;
  Rows R = {k, ARENA_ARRAY(L->g->arena, LLVMValueRef, GC_MAX_RANK), vals,
            ARENA_ARRAY(L->g->arena, LLVMValueRef, k->n), L->f32, 1};
  for (int t = 0; t < k->n; t++) {
    Node *n = k->nodes[t];
    if (gc_ops[n->op].cls != CLS_REDUCE) continue;
    R.acc[t] = lw_slot(L, vt, "acc");
    if (rows_total(n)) LLVMBuildStore(LB, lw_splat(L, vt, LLVMConstReal(L->f32, gc_ops[n->op].unit)), R.acc[t]);
  }
  Shape rows = {r - 1, {0}};
  memcpy(rows.d, k->shape.d, sizeof(int64_t) * (size_t)(r - 1));
  Loop lo[GC_MAX_RANK];
  lw_loops(L, lo, rows, R.idx);
  for (int l = 0; l <= k->nloops; l++) {
    R.idx[r - 1] = lw_ix(L, 0);
    for (int t = 0; t < k->n; t++) rows_member_at(L, &R, t, l, false);
    if (l < k->nloops) rows_loop(L, &R, l);
  }
  lw_loops_end(L, lo, rows);
  for (int i = 0; i < r; i++) R.idx[i] = lw_ix(L, 0);
  for (int t = 0; t < k->n; t++)
    if (R.acc[t] && rows_total(k->nodes[t]))
      rows_store(L, &R, k->nodes[t], rows_across_lanes(L, k->nodes[t], LLVMBuildLoad2(LB, vt, R.acc[t], "")));
}

static void add_attr(Lower *L, LLVMValueRef fn, unsigned idx, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(L->ctx, kind, 0));
}

/* The SIMD width the kernels are written for: what the target surely has. */
int lower_vector_width(LLVMTargetMachineRef tm) {
  char *triple = LLVMGetTargetMachineTriple(tm), *feat = LLVMGetTargetMachineFeatureString(tm);
  int vw = 1;
  if (!strncmp(triple, "x86_64", 6)) vw = strstr(feat, "+avx,") || strstr(feat, "+avx2") ? 8 : 4;
  else if (!strncmp(triple, "aarch64", 7) || !strncmp(triple, "arm64", 5)) vw = 4;
  else if (!strncmp(triple, "arm", 3) && strstr(feat, "+neon")) vw = 4;
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(feat);
  return vw;
}

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

/* `void NAME_packed(void **args)`: the entry point with its pointer arguments in one
 * array, so a model-agnostic caller (the runtime) calls it as an ordinary function,
 * without building a libffi call each time. */
static void emit_packed(Lower *L, Entry *e, LLVMValueRef target) {
  LLVMTypeRef fty = LLVMFunctionType(L->vd, &L->ptr, 1, 0);
  char name[600];
  snprintf(name, sizeof name, "%s_packed", e->name);
  LLVMValueRef fn = LLVMAddFunction(L->mod, name, fty);
  add_attr(L, fn, LLVMAttributeFunctionIndex, "nounwind");
  LLVMBuilderRef b = LLVMCreateBuilderInContext(L->ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(L->ctx, fn, "entry"));
  LLVMValueRef *args = ARENA_ARRAY(L->g->arena, LLVMValueRef, e->nargs);
  LLVMValueRef arr = LLVMGetParam(fn, 0);
  for (int i = 0; i < e->nargs; i++) {
    LLVMValueRef ix = lw_ix(L, i);
    args[i] = LLVMBuildLoad2(b, L->ptr, LLVMBuildGEP2(b, L->ptr, arr, &ix, 1, ""), e->args[i].name);
  }
  LLVMBuildCall2(b, LLVMGlobalGetValueType(target), target, args, (unsigned)e->nargs, "");
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
}

/* A function of e's pointer arguments — and, for the gradient core, an i32 mode. */
static LLVMValueRef declare_entry(Lower *L, Entry *e, const char *name, bool core) {
  int n = e->nargs + core;
  LLVMTypeRef *params = ARENA_ARRAY(L->g->arena, LLVMTypeRef, n);
  for (int i = 0; i < e->nargs; i++) params[i] = L->ptr;
  if (core) params[e->nargs] = L->i32;
  LLVMValueRef fn = LLVMAddFunction(L->mod, name, LLVMFunctionType(L->vd, params, (unsigned)n, 0));
  add_attr(L, fn, LLVMAttributeFunctionIndex, "nounwind");
  for (int i = 0; i < e->nargs; i++) {
    LLVMValueRef v = LLVMGetParam(fn, (unsigned)i);
    const Arg *a = &e->args[i];
    const char *nm = a->cname;
    LLVMSetValueName2(v, nm, strlen(nm));
    add_attr(L, fn, (unsigned)i + 1, "noalias"); /* the ABI: buffers do not overlap */
    add_attr(L, fn, (unsigned)i + 1, "nocapture");
    if (a->kind == ARG_INPUT || a->kind == ARG_HYPER || (a->kind == ARG_PARAM && e->kind == ENTRY_FORWARD))
      add_attr(L, fn, (unsigned)i + 1, "readonly");
  }
  if (core) LLVMSetValueName2(LLVMGetParam(fn, (unsigned)e->nargs), "mode", 4);
  return fn;
}

/* Makes fn the function being emitted: its arguments (its first nargs parameters),
 * workspace and mode. */
static void begin_function(Lower *L, Entry *e, LLVMValueRef fn, bool core) {
  L->fn = fn;
  L->args = ARENA_ARRAY(L->g->arena, LLVMValueRef, e->nargs);
  for (int i = 0; i < e->nargs; i++) L->args[i] = LLVMGetParam(fn, (unsigned)i);
  L->ws = L->args[e->nargs - 1];
  L->part = NULL;
  LLVMPositionBuilderAtEnd(LB, LLVMAppendBasicBlockInContext(L->ctx, fn, "entry"));
  if (core)
    L->train = LLVMBuildICmp(LB, LLVMIntNE, LLVMGetParam(fn, (unsigned)e->nargs), LLVMConstInt(L->i32, 0, 0), "train");
}

static void emit_kernel(Lower *L, Kernel *k, LLVMValueRef *vals) {
  if (k->kind == KER_ELEM) emit_elem(L, k, vals);
  else if (k->kind == KER_ROWS) emit_rows(L, k, vals);
  else gc_lower[k->nodes[0]->op].emitk(L, k);
}

/* ---- one function per kernel ----
 * A kernel is emitted as a function of the entry's parameters plus one pointer per
 * workspace buffer (and packing scratch) it touches, all `noalias` — the memory plan
 * never gives two buffers live in one kernel the same bytes — and then inlined back:
 * the inliner turns those parameters into alias scopes, so LLVM knows that a kernel's
 * loads from one workspace slice do not depend on its stores to another, and hoists
 * and vectorises accordingly (a [32, 10] softmax row loop, say). Matrix products,
 * vectorised by hand and the bulk of the code, are emitted in place (less for LLVM to
 * inline) unless split into parts, whose task functions take the same parameters. */

typedef struct {
  LLVMValueRef fn;
  Node **ws;  /* the workspace buffers it touches (their base nodes), in parameter order */
  int nws;
  Node **scr; /* the nodes whose packing scratch it uses */
  int nscr;
} Outlined;

/* What emitting a kernel into a function of its own changes in L. */
typedef struct {
  LLVMValueRef fn, *args, ws, train, part, *slice, *scratch;
  LLVMBasicBlockRef at;
} Saved;
static Saved save(Lower *L) {
  return (Saved){L->fn, L->args, L->ws, L->train, L->part, L->slice, L->scratch, LLVMGetInsertBlock(LB)};
}
static void restore(Lower *L, const Saved *s) {
  L->fn = s->fn, L->args = s->args, L->ws = s->ws, L->train = s->train, L->part = s->part;
  L->slice = s->slice, L->scratch = s->scratch;
  LLVMPositionBuilderAtEnd(LB, s->at);
}

static void add_ws(Lower *L, Outlined *o, Node *x) {
  Buffer *b = buf_of(L, x);
  if (b->kind != BUF_WS) return;
  Node *base = L->g->nodes[b - L->e->buf];
  for (int i = 0; i < o->nws; i++)
    if (o->ws[i] == base) return;
  o->ws[o->nws++] = base;
}

/* Kernel k as a function `NAME_k<index>_<op>(entry params..., [part,] slices...)`. */
static Outlined outline(Lower *L, Entry *e, Kernel *k, int index, LLVMValueRef *vals, bool core) {
  Saved s = save(L);
  Outlined o = {0};
  int most = k->n * 4; /* each node and its (at most 3) inputs */
  o.ws = ARENA_ARRAY(L->g->arena, Node *, most);
  o.scr = ARENA_ARRAY(L->g->arena, Node *, k->n);
  for (int i = 0; i < k->n; i++) {
    Node *x = k->nodes[i];
    add_ws(L, &o, x);
    for (int j = 0; j < x->nin; j++) add_ws(L, &o, x->in[j]);
    if (e->buf[x->id].scratch_bytes) o.scr[o.nscr++] = x;
  }
  int n = e->nargs + core, split = k->parts > 1, np = n + split + o.nws + o.nscr;
  LLVMTypeRef *params = ARENA_ARRAY(L->g->arena, LLVMTypeRef, np);
  for (int i = 0; i < np; i++) params[i] = L->ptr;
  if (core) params[e->nargs] = L->i32;
  if (split) params[n] = L->i32;
  char name[700];
  snprintf(name, sizeof name, "%s_k%d_%s", LLVMGetValueName2(s.fn, &(size_t){0}), index,
           k->kind == KER_ELEM ? "elementwise" : k->kind == KER_ROWS ? "rows" : gc_ops[k->nodes[0]->op].name);
  o.fn = LLVMAddFunction(L->mod, name, LLVMFunctionType(L->vd, params, (unsigned)np, 0));
  LLVMSetLinkage(o.fn, LLVMInternalLinkage); /* a local symbol: named in profiles */
  add_attr(L, o.fn, LLVMAttributeFunctionIndex, "nounwind");
  for (int i = 0; i < np && !split; i++)
    if (params[i] == L->ptr) add_attr(L, o.fn, (unsigned)i + 1, "noalias");
  begin_function(L, e, o.fn, core);
  if (split) L->part = LLVMBuildZExt(LB, LLVMGetParam(o.fn, (unsigned)n), L->ix, "part");
  L->slice = ARENA_ARRAY(L->g->arena, LLVMValueRef, L->g->n);
  L->scratch = ARENA_ARRAY(L->g->arena, LLVMValueRef, L->g->n);
  for (int i = 0; i < o.nws; i++) L->slice[o.ws[i]->id] = LLVMGetParam(o.fn, (unsigned)(n + split + i));
  for (int i = 0; i < o.nscr; i++) L->scratch[o.scr[i]->id] = LLVMGetParam(o.fn, (unsigned)(n + split + o.nws + i));
  emit_kernel(L, k, vals);
  LLVMBuildRetVoid(LB);
  restore(L, &s);
  return o;
}

/* The call of o from a function whose (or a context's) entry arguments are args[0..n)
 * (and the part index, for a split kernel): the slices are offsets into the workspace. */
static void call_outlined(Lower *L, LLVMBuilderRef b, Entry *e, const Outlined *o, LLVMValueRef *args, int n,
                          LLVMValueRef part) {
  int np = n + (part != NULL) + o->nws + o->nscr, at = n;
  LLVMValueRef *all = ARENA_ARRAY(L->g->arena, LLVMValueRef, np);
  memcpy(all, args, sizeof *all * (size_t)n);
  if (part) all[at++] = part;
  LLVMValueRef ws = args[e->nargs - 1];
  for (int i = 0; i < o->nws + o->nscr; i++) {
    const Buffer *buf = &e->buf[(i < o->nws ? o->ws[i] : o->scr[i - o->nws])->id];
    LLVMValueRef off = lw_ix(L, i < o->nws ? buf->offset : buf->scratch_offset);
    all[at++] = LLVMBuildGEP2(b, L->i8, ws, &off, 1, "");
  }
  LLVMBuildCall2(b, LLVMGlobalGetValueType(o->fn), o->fn, all, (unsigned)np, "");
}

/* A kernel, through its function: inlined — or, with GRADC_PROFILE_KERNELS=1 (a
 * developer's switch, for `perf report`), kept as a function of its own. */
/* A large hand-vectorised kernel (a matrix product): kept as a function of its own,
 * which emit.c optimises with a short pipeline of its own (lower.h). Small products
 * are emitted in place, in their entry's function. */
static bool hand_vectorised(const Kernel *k) {
  return k->kind == KER_OP && k->nodes[0]->op == OP_MATMUL && matmul_large(k->nodes[0]);
}
bool lower_vectorised(LLVMValueRef fn) {
  return LLVMGetStringAttributeAtIndex(fn, LLVMAttributeFunctionIndex, GRADC_VECTORISED_ATTR,
                                       (unsigned)strlen(GRADC_VECTORISED_ATTR)) != NULL;
}
static void mark_hand_vectorised(Lower *L, LLVMValueRef fn) {
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateStringAttribute(L->ctx, GRADC_VECTORISED_ATTR, (unsigned)strlen(GRADC_VECTORISED_ATTR), "", 0));
}

/* Kernel k through its function: inlined back (alias scopes), or called (a hand-
 * vectorised kernel, or any kernel while GRADC_PROFILE_KERNELS=1 names them in profiles). */
static void emit_kernel_outlined(Lower *L, Entry *e, Kernel *k, int index, LLVMValueRef *vals, bool core,
                                 bool profile) {
  Outlined o = outline(L, e, k, index, vals, core);
  bool keep = profile || hand_vectorised(k);
  add_attr(L, o.fn, LLVMAttributeFunctionIndex, keep ? "noinline" : "alwaysinline");
  if (hand_vectorised(k)) mark_hand_vectorised(L, o.fn);
  int n = e->nargs + core;
  LLVMValueRef *params = ARENA_ARRAY(L->g->arena, LLVMValueRef, n);
  for (int i = 0; i < n; i++) params[i] = LLVMGetParam(L->fn, (unsigned)i);
  call_outlined(L, LB, e, &o, params, n, NULL);
}

/* ---- kernels split into parts ----
 * A kernel with k->parts > 1 (a large matrix product, matmul.c) becomes a task
 * function `task(ctx, part)` that computes one part; ctx holds the entry's arguments
 * and mode. The entry passes the parts to the parallel runner the host installed with
 * NAME_set_parallel (the runtime's thread pool), or without one runs them in order. */

/* The runner and its pool: a private {run, pool} pair that NAME_set_parallel sets. */
static LLVMValueRef parallel_global(Lower *L) {
  LLVMValueRef gv = LLVMGetNamedGlobal(L->mod, "gradc.parallel");
  if (gv) return gv;
  LLVMTypeRef t = LLVMArrayType(L->ptr, 2);
  gv = LLVMAddGlobal(L->mod, t, "gradc.parallel");
  LLVMSetInitializer(gv, LLVMConstNull(t));
  LLVMSetLinkage(gv, LLVMInternalLinkage);
  LLVMTypeRef params[2] = {L->ptr, L->ptr};
  LLVMValueRef fn = LLVMAddFunction(L->mod, arena_printf(L->g->arena, "%s_set_parallel", L->g->model),
                                    LLVMFunctionType(L->vd, params, 2, 0));
  add_attr(L, fn, LLVMAttributeFunctionIndex, "nounwind");
  LLVMBuilderRef b = LLVMCreateBuilderInContext(L->ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(L->ctx, fn, "entry"));
  for (int i = 0; i < 2; i++) {
    LLVMValueRef ix = lw_ix(L, i);
    LLVMBuildStore(b, LLVMGetParam(fn, (unsigned)i), LLVMBuildGEP2(b, L->ptr, gv, &ix, 1, ""));
  }
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return gv;
}

static void emit_kernel_parts(Lower *L, Entry *e, Kernel *k, int index, LLVMValueRef *vals, bool core) {
  Outlined body = outline(L, e, k, index, vals, core);
  if (hand_vectorised(k)) {
    add_attr(L, body.fn, LLVMAttributeFunctionIndex, "noinline");
    mark_hand_vectorised(L, body.fn);
  }
  int n = e->nargs + core;
  LLVMTypeRef tparams[2] = {L->ptr, L->i32};
  LLVMTypeRef task_ty = LLVMFunctionType(L->vd, tparams, 2, 0);
  LLVMValueRef task =
      LLVMAddFunction(L->mod, arena_printf(L->g->arena, "%s_task", LLVMGetValueName2(body.fn, &(size_t){0})), task_ty);
  LLVMSetLinkage(task, LLVMInternalLinkage);
  add_attr(L, task, LLVMAttributeFunctionIndex, "nounwind");
  add_attr(L, task, LLVMAttributeFunctionIndex, "noinline"); /* one copy of the kernel, not one more per call */
  { /* task(ctx, part) = body(ctx[0], ..., ctx[n-1] (the mode as an integer), part, slices...) */
    LLVMBuilderRef b = LLVMCreateBuilderInContext(L->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(L->ctx, task, "entry"));
    LLVMValueRef *args = ARENA_ARRAY(L->g->arena, LLVMValueRef, n);
    for (int i = 0; i < n; i++) {
      LLVMValueRef ix = lw_ix(L, i);
      args[i] = LLVMBuildLoad2(b, L->ptr, LLVMBuildGEP2(b, L->ptr, LLVMGetParam(task, 0), &ix, 1, ""), "");
      if (i == e->nargs) args[i] = LLVMBuildPtrToInt(b, args[i], L->i32, "mode");
    }
    call_outlined(L, b, e, &body, args, n, LLVMGetParam(task, 1));
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
  }
  LLVMValueRef ctx = lw_slot(L, LLVMArrayType(L->ptr, (unsigned)n), "ctx");
  for (int i = 0; i < n; i++) {
    LLVMValueRef v = LLVMGetParam(L->fn, (unsigned)i), ix = lw_ix(L, i);
    if (i == e->nargs) v = LLVMBuildIntToPtr(LB, v, L->ptr, "");
    LLVMBuildStore(LB, v, LLVMBuildGEP2(LB, L->ptr, ctx, &ix, 1, ""));
  }
  LLVMValueRef gv = parallel_global(L), one = lw_ix(L, 1);
  LLVMValueRef run = LLVMBuildLoad2(LB, L->ptr, gv, "run");
  LLVMValueRef pool = LLVMBuildLoad2(LB, L->ptr, LLVMBuildGEP2(LB, L->ptr, gv, &one, 1, ""), "pool");
  LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "parallel");
  LLVMBasicBlockRef ser = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "in_order");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "parts_done");
  LLVMBuildCondBr(LB, LLVMBuildIsNull(LB, run, ""), ser, par);
  LLVMPositionBuilderAtEnd(LB, par);
  LLVMTypeRef rparams[4] = {L->ptr, L->ptr, L->ptr, L->i32};
  LLVMValueRef rargs[4] = {pool, task, ctx, LLVMConstInt(L->i32, (unsigned)k->parts, 0)};
  LLVMBuildCall2(LB, LLVMFunctionType(L->vd, rparams, 4, 0), run, rargs, 4, "");
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, ser);
  Loop lp;
  LLVMValueRef p = lw_loop(L, &lp, k->parts, "part");
  LLVMValueRef targs[2] = {ctx, LLVMBuildTrunc(LB, p, L->i32, "")};
  LLVMBuildCall2(LB, task_ty, task, targs, 2, "");
  lw_loop_end(L, &lp);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

/* The forward entry, or the gradient core (from the train-step entry: private,
 * `NAME_core(args..., mode)`), with its kernels. */
LLVMValueRef lower_entry(Lower *L, Graph *g, Entry *e) {
  L->g = g;
  L->e = e;
  bool core = e->kind == ENTRY_TRAIN;
  LLVMValueRef fn = declare_entry(L, e, core ? arena_printf(g->arena, "%s_core", e->name) : e->name, core);
  if (core) LLVMSetLinkage(fn, LLVMInternalLinkage); /* a local symbol: named in profiles */
  begin_function(L, e, fn, core);
  LLVMValueRef *vals = ARENA_ARRAY(g->arena, LLVMValueRef, g->n);
  for (int i = 0; i < e->nkernels; i++)
    if (e->kernels[i].parts > 1) emit_kernel_parts(L, e, &e->kernels[i], i, vals, core);
    else if (L->profile) emit_kernel_outlined(L, e, &e->kernels[i], i, vals, core, true);
    else if (e->kernels[i].kind == KER_OP && e->kernels[i].nodes[0]->op == OP_MATMUL && !hand_vectorised(&e->kernels[i]))
      emit_kernel(L, &e->kernels[i], vals); /* a small product, in place */
    else emit_kernel_outlined(L, e, &e->kernels[i], i, vals, core, false);
  LLVMBuildRetVoid(LB);
  add_attr(L, fn, LLVMAttributeFunctionIndex, "noinline"); /* one copy, called by its wrappers */
  if (!core) emit_packed(L, e, fn);
  return fn;
}

/* An exported gradient entry (M_backward: mode 0, M_train_step: mode 1) that calls the
 * core, passing its own arguments where the core has the same, a null momentum buffer
 * and zero hyper-parameters where it has none (mode 0 reads neither). */
void lower_wrapper(Lower *L, Graph *g, Entry *pub, Entry *core, LLVMValueRef core_fn, int mode) {
  L->g = g;
  LLVMValueRef fn = declare_entry(L, pub, pub->name, false);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(L->ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(L->ctx, fn, "entry"));
  LLVMValueRef *args = ARENA_ARRAY(g->arena, LLVMValueRef, core->nargs + 1);
  for (int i = 0; i < core->nargs; i++) {
    const Arg *c = &core->args[i];
    args[i] = LLVMConstNull(L->ptr);
    for (int j = 0; j < pub->nargs; j++)
      if (pub->args[j].kind == c->kind && pub->args[j].node == c->node && !strcmp(pub->args[j].name, c->name))
        args[i] = LLVMGetParam(fn, (unsigned)j);
    if (c->kind == ARG_HYPER && LLVMIsNull(args[i])) {
      LLVMValueRef zero = LLVMGetNamedGlobal(L->mod, "gradc.no_hyper");
      if (!zero) {
        LLVMTypeRef t = LLVMArrayType(L->f32, 3);
        zero = LLVMAddGlobal(L->mod, t, "gradc.no_hyper");
        LLVMSetInitializer(zero, LLVMConstNull(t));
        LLVMSetGlobalConstant(zero, 1);
        LLVMSetLinkage(zero, LLVMPrivateLinkage);
      }
      args[i] = zero;
    }
  }
  args[core->nargs] = LLVMConstInt(L->i32, (unsigned long long)mode, 0);
  LLVMBuildCall2(b, LLVMGlobalGetValueType(core_fn), core_fn, args, (unsigned)core->nargs + 1, "");
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  emit_packed(L, pub, fn);
}
