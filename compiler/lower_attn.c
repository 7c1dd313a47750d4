/* lower_attn.c — the LLVM kernels of the attention ops (issue 15; ops_attn.c has their
 * semantics).
 *
 * tri: one select per element. sdpa: per query row an online softmax (FlashAttention's
 * recurrence): a running maximum m and sum l of exp(s - m), the output row accumulated
 * in place and rescaled by exp(m_old - m_new) only when the maximum grows, divided by l
 * at the end — no T x S score matrix, O(Dv) state per row, causal rows stop at their
 * last key. sdpa_bwd: per query row, a first pass recomputes the row's statistics (m, l
 * and Di = sum_j p dp, online the same way), a second recomputes each probability
 * p = exp(s - m) / l and adds its terms into dq, dk and dv (the packed result, zeroed
 * first). Dot products and updates of rows run on SIMD vectors of the target's width with
 * a scalar tail. */
#include "lower_attn.h"
#include <math.h>
#include "lower_update.h"
#include "mathlib.h"
#include "ops_attn.h"

#define LB (L->b)

typedef LLVMValueRef Val;

static Val iadd(Lower *L, Val a, Val b) { return LLVMBuildAdd(LB, a, b, ""); }
static Val imul(Lower *L, Val a, int64_t b) { return LLVMBuildMul(LB, a, lw_ix(L, b), ""); }
static Val fld(Lower *L, Val slot) { return LLVMBuildLoad2(LB, L->f32, slot, ""); }

/* x's element at flat offset off (a constant operand has no buffer: its value). */
static Val ld(Lower *L, Node *x, Val off) {
  if (x->op == OP_CONST) return lw_f32(L, node_const(x)->value);
  return LLVMBuildLoad2(LB, L->f32, lw_elem_ptr(L, x, off), "");
}
static Val ldv(Lower *L, LLVMTypeRef vt, Node *x, Val off) {
  if (x->op == OP_CONST) return lw_splat(L, vt, LLVMConstReal(L->f32, node_const(x)->value));
  return lw_vload(L, vt, lw_elem_ptr(L, x, off));
}

static LLVMTypeRef vec_t(Lower *L) { return LLVMVectorType(L->f32, (unsigned)L->vw); }
static int64_t nvec(Lower *L, int64_t n) { return L->vw > 1 ? n / L->vw : 0; }

/* The sum of a vector's lanes, halving. */
static Val hsum(Lower *L, Val v) {
  for (unsigned w = LLVMGetVectorSize(LLVMTypeOf(v)); w > 1; w /= 2) {
    Val lo[32], hi[32];
    for (unsigned i = 0; i < w / 2; i++) lo[i] = LLVMConstInt(L->i32, i, 0), hi[i] = LLVMConstInt(L->i32, i + w / 2, 0);
    Val a = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(lo, w / 2), "");
    Val b = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(hi, w / 2), "");
    v = LLVMBuildFAdd(LB, a, b, "");
  }
  return LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind ? LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, 0, 0), "")
                                                              : v;
}

/* Runs body(c) for c in [from, n): unrolled when short, else a loop. */
typedef struct {
  Node *a, *b; /* operands */
  Val ao, bo;  /* their row offsets */
  Val slot;    /* dot: the accumulator; axpy: the factor */
} RowOp;
typedef void Body(Lower *L, RowOp *r, Val c);
static void tail(Lower *L, RowOp *r, int64_t from, int64_t n, Body *body) {
  if (n - from <= 8) {
    for (int64_t c = from; c < n; c++) body(L, r, lw_ix(L, c));
    return;
  }
  Loop lp;
  Val c = iadd(L, lw_loop(L, &lp, n - from, "c"), lw_ix(L, from));
  body(L, r, c);
  lw_loop_end(L, &lp);
}

static void dot1(Lower *L, RowOp *r, Val c) {
  LLVMBuildStore(LB, lw_fmuladd(L, ld(L, r->a, iadd(L, r->ao, c)), ld(L, r->b, iadd(L, r->bo, c)), fld(L, r->slot)),
                 r->slot);
}

/* sum_c a[ao + c] b[bo + c], c < n. */
static Val dot(Lower *L, Node *a, Val ao, Node *b, Val bo, int64_t n) {
  RowOp r = {a, b, ao, bo, lw_slot(L, L->f32, "dot")};
  LLVMBuildStore(LB, lw_f32(L, 0), r.slot);
  int64_t nv = nvec(L, n);
  if (nv) {
    LLVMTypeRef vt = vec_t(L);
    Val acc = lw_slot(L, vt, "dotv");
    LLVMBuildStore(LB, LLVMConstNull(vt), acc);
    Loop lp;
    Val c = imul(L, lw_loop(L, &lp, nv, "cv"), L->vw);
    Val s = lw_fmuladd(L, ldv(L, vt, a, iadd(L, ao, c)), ldv(L, vt, b, iadd(L, bo, c)), LLVMBuildLoad2(LB, vt, acc, ""));
    LLVMBuildStore(LB, s, acc);
    lw_loop_end(L, &lp);
    LLVMBuildStore(LB, hsum(L, LLVMBuildLoad2(LB, vt, acc, "")), r.slot);
  }
  tail(L, &r, nv * L->vw, n, dot1);
  return fld(L, r.slot);
}

static void axpy1(Lower *L, RowOp *r, Val c) {
  Val p = lw_elem_ptr(L, r->a, iadd(L, r->ao, c));
  Val x = r->b ? ld(L, r->b, iadd(L, r->bo, c)) : lw_f32(L, 0);
  Val y = r->b ? lw_fmuladd(L, fld(L, r->slot), x, fld(L, p)) : LLVMBuildFMul(LB, fld(L, r->slot), fld(L, p), "");
  LLVMBuildStore(LB, y, p);
}

/* y[yo + c] += alpha x[xo + c] for c < n; with x NULL, y[yo + c] *= alpha. y is n's own
 * buffer (never a constant). */
static void axpy(Lower *L, Node *y, Val yo, Val alpha, Node *x, Val xo, int64_t n) {
  RowOp r = {y, x, yo, xo, lw_slot(L, L->f32, "alpha")};
  LLVMBuildStore(LB, alpha, r.slot);
  int64_t nv = nvec(L, n);
  if (nv) {
    LLVMTypeRef vt = vec_t(L);
    Val av = lw_splat(L, vt, alpha);
    Loop lp;
    Val c = imul(L, lw_loop(L, &lp, nv, "cv"), L->vw);
    Val p = lw_elem_ptr(L, y, iadd(L, yo, c));
    Val yv = lw_vload(L, vt, p);
    lw_vstore(L, x ? lw_fmuladd(L, av, ldv(L, vt, x, iadd(L, xo, c)), yv) : LLVMBuildFMul(LB, av, yv, ""), p);
    lw_loop_end(L, &lp);
  }
  tail(L, &r, nv * L->vw, n, axpy1);
}

/* y[yo + c] = 0 for c < n. */
static void zero_row(Lower *L, Node *y, Val yo, int64_t n) {
  Loop lp;
  Val c = lw_loop(L, &lp, n, "z");
  LLVMBuildStore(LB, lw_f32(L, 0), lw_elem_ptr(L, y, iadd(L, yo, c)));
  lw_loop_end(L, &lp);
}

/* if (cond) { ... } — returns the block to continue in after end_if. */
static LLVMBasicBlockRef begin_if(Lower *L, Val cond) {
  LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "then");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "endif");
  LLVMBuildCondBr(LB, cond, yes, done);
  LLVMPositionBuilderAtEnd(LB, yes);
  return done;
}
static void end_if(Lower *L, LLVMBasicBlockRef done) {
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

/* ---------------------------------------------------------------- tri */

void em_tri(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  const TriAttr *a = node_tri(n);
  int r = n->shape.rank;
  Loop lp[GC_MAX_RANK];
  Val idx[GC_MAX_RANK];
  lw_loops(L, lp, n->shape, idx);
  Val d = LLVMBuildSub(LB, idx[r - 1], idx[r - 2], "");
  Val keep = LLVMBuildICmp(LB, a->upper ? LLVMIntSGE : LLVMIntSLE, d, lw_ix(L, a->diag), "");
  lw_store(L, n, idx, LLVMBuildSelect(LB, keep, lw_load(L, n->in[0], idx, r), lw_f32(L, 0), "tri"));
  lw_loops_end(L, lp, n->shape);
}

/* ---------------------------------------------------------------- sdpa */

/* The number of keys row i attends to (ix). */
static Val keys_of(Lower *L, Node *n, const SdpaDims *d, Val i) {
  if (!node_sdpa(n)->causal) return lw_ix(L, d->S);
  Val i1 = iadd(L, i, lw_ix(L, 1));
  return LLVMBuildSelect(LB, LLVMBuildICmp(LB, LLVMIntSLT, i1, lw_ix(L, d->S), ""), i1, lw_ix(L, d->S), "keys");
}

/* Online softmax state of one row. */
typedef struct {
  Val m, l, acc; /* slots: running max, sum of exp(s - m), and (bwd) sum exp(s - m) dp */
} Online;

static Online online_init(Lower *L) {
  Online o = {lw_slot(L, L->f32, "m"), lw_slot(L, L->f32, "l"), lw_slot(L, L->f32, "acc")};
  LLVMBuildStore(LB, lw_f32(L, -INFINITY), o.m);
  LLVMBuildStore(LB, lw_f32(L, 0), o.l);
  LLVMBuildStore(LB, lw_f32(L, 0), o.acc);
  return o;
}

/* When score s exceeds the running max: l and acc (and the row `rescale` of n at ro, n
 * elements, when given) are multiplied by exp(m - s), and m = s. Returns exp(s - m). */
static Val online_step(Lower *L, Online *o, Val s, Node *row, Val ro, int64_t nrow) {
  LLVMBasicBlockRef done = begin_if(L, LLVMBuildFCmp(LB, LLVMRealOGT, s, fld(L, o->m), ""));
  Val c = m_exp(L, LLVMBuildFSub(LB, fld(L, o->m), s, ""));
  LLVMBuildStore(LB, LLVMBuildFMul(LB, fld(L, o->l), c, ""), o->l);
  LLVMBuildStore(LB, LLVMBuildFMul(LB, fld(L, o->acc), c, ""), o->acc);
  if (row) axpy(L, row, ro, c, NULL, NULL, nrow);
  LLVMBuildStore(LB, s, o->m);
  end_if(L, done);
  Val p = m_exp(L, LLVMBuildFSub(LB, s, fld(L, o->m), ""));
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, fld(L, o->l), p, ""), o->l);
  return p;
}

static Val score(Lower *L, Node *n, const SdpaDims *d, Val qo, Val ko) {
  return LLVMBuildFMul(LB, dot(L, n->in[0], qo, n->in[1], ko, d->D), lw_f32(L, node_sdpa(n)->scale), "s");
}

void em_sdpa(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *v = n->in[2];
  SdpaDims d = sdpa_dims(n);
  Loop lb, li, lj;
  Val b = lw_loop(L, &lb, d.B, "b");
  Val i = lw_loop(L, &li, d.T, "i");
  Val row = iadd(L, imul(L, b, d.T), i), qo = imul(L, row, d.D), oo = imul(L, row, d.Dv);
  Val kb = imul(L, b, d.S * d.D), vb = imul(L, b, d.S * d.Dv);
  zero_row(L, n, oo, d.Dv);
  Online o = online_init(L);
  Val j = lw_loop_v(L, &lj, keys_of(L, n, &d, i), "j");
  Val p = online_step(L, &o, score(L, n, &d, qo, iadd(L, kb, imul(L, j, d.D))), n, oo, d.Dv);
  axpy(L, n, oo, p, v, iadd(L, vb, imul(L, j, d.Dv)), d.Dv);
  lw_loop_end(L, &lj);
  axpy(L, n, oo, LLVMBuildFDiv(LB, lw_f32(L, 1), fld(L, o.l), ""), NULL, NULL, d.Dv);
  lw_loop_end(L, &li);
  lw_loop_end(L, &lb);
}

/* Pass 2 of the backward for row i: every attended key's terms. */
static void bwd_row(Lower *L, Node *n, const SdpaDims *d, Val b, Val i, Val m, Val rl, Val di) {
  Node *q = n->in[0], *kk = n->in[1], *v = n->in[2], *go = n->in[3];
  int64_t P = d->T * d->D + d->S * d->D + d->S * d->Dv;
  Val row = iadd(L, imul(L, b, d->T), i), qo = imul(L, row, d->D), go_o = imul(L, row, d->Dv);
  Val base = imul(L, b, P), dqo = iadd(L, base, imul(L, i, d->D));
  Val dkb = iadd(L, base, lw_ix(L, d->T * d->D)), dvb = iadd(L, base, lw_ix(L, d->T * d->D + d->S * d->D));
  Loop lj;
  Val j = lw_loop_v(L, &lj, keys_of(L, n, d, i), "j");
  Val ko = iadd(L, imul(L, b, d->S * d->D), imul(L, j, d->D)), vo = iadd(L, imul(L, b, d->S * d->Dv), imul(L, j, d->Dv));
  Val p = LLVMBuildFMul(LB, m_exp(L, LLVMBuildFSub(LB, score(L, n, d, qo, ko), m, "")), rl, "p");
  Val dp = dot(L, go, go_o, v, vo, d->Dv);
  Val ds = LLVMBuildFMul(LB, LLVMBuildFMul(LB, p, LLVMBuildFSub(LB, dp, di, ""), ""), lw_f32(L, node_sdpa(n)->scale), "ds");
  axpy(L, n, dqo, ds, kk, ko, d->D);
  axpy(L, n, iadd(L, dkb, imul(L, j, d->D)), ds, q, qo, d->D);
  axpy(L, n, iadd(L, dvb, imul(L, j, d->Dv)), p, go, go_o, d->Dv);
  lw_loop_end(L, &lj);
}

void em_sdpa_bwd(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *v = n->in[2], *go = n->in[3];
  SdpaDims d = sdpa_dims(n);
  int64_t P = d.T * d.D + d.S * d.D + d.S * d.Dv;
  Loop lb, li, lj;
  Val b = lw_loop(L, &lb, d.B, "b");
  zero_row(L, n, imul(L, b, P), P);
  Val i = lw_loop(L, &li, d.T, "i");
  Val row = iadd(L, imul(L, b, d.T), i), qo = imul(L, row, d.D), go_o = imul(L, row, d.Dv);
  Online o = online_init(L);
  Val j = lw_loop_v(L, &lj, keys_of(L, n, &d, i), "j");
  Val s = score(L, n, &d, qo, iadd(L, imul(L, b, d.S * d.D), imul(L, j, d.D)));
  Val dp = dot(L, go, go_o, v, iadd(L, imul(L, b, d.S * d.Dv), imul(L, j, d.Dv)), d.Dv);
  Val p = online_step(L, &o, s, NULL, NULL, 0);
  LLVMBuildStore(LB, lw_fmuladd(L, p, dp, fld(L, o.acc)), o.acc);
  lw_loop_end(L, &lj);
  Val rl = LLVMBuildFDiv(LB, lw_f32(L, 1), fld(L, o.l), "rl");
  bwd_row(L, n, &d, b, i, fld(L, o.m), rl, LLVMBuildFMul(LB, fld(L, o.acc), rl, "di"));
  lw_loop_end(L, &li);
  lw_loop_end(L, &lb);
}
