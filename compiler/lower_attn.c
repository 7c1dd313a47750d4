/* lower_attn.c — the LLVM kernels of the attention ops (issue 15; ops_attn.c has their
 * semantics).
 *
 * tri: one select per element. sdpa and sdpa_bwd work on blocks of SDPA_ROWS query rows
 * of one batch, in the scratch the memory plan reserves (ops_attn.h, SdpaScratch): k
 * (and v) of the batch are first transposed, keys contiguous, so that the scores of a
 * block come out as SIMD vectors of keys — each k^T load serves every row of the block,
 * each q element is one broadcast — with no horizontal sum per key. Per row: the exact
 * maximum of its scores (keys past the row's last, causal or padding, masked to -inf),
 * then p = exp(s - max) on vectors (mathlib's exp), the sum l; then out = (sum_j p_j v_j)
 * / l, v rows contiguous, one v load per key serving the whole block. The backward
 * recomputes p the same way, dp = dO . v_j as a second score pass (over v^T),
 * Di = sum_j p dp, ds = scale p (dp - Di), and then dq = sum_j ds k_j (as out), and
 * dk_j += sum_rows ds q, dv_j += sum_rows p dO (the block's q, dO rows held in vectors).
 * No T x S matrix: O(S) floats per row of the block, and one batch's k^T, v^T. */
#include "lower_attn.h"
#include <math.h>
#include "lower_update.h"
#include "mathlib.h"
#include "ops_attn.h"

#define LB (L->b)

typedef LLVMValueRef Val;

static Val iadd(Lower *L, Val a, Val b) { return LLVMBuildAdd(LB, a, b, ""); }
static Val imul(Lower *L, Val a, int64_t b) { return LLVMBuildMul(LB, a, lw_ix(L, b), ""); }
static Val fld(Lower *L, Val slot) { return LLVMBuildLoad2(LB, LLVMGetAllocatedType(slot), slot, ""); }

/* x's element at flat offset off (a constant operand has no buffer: its value). */
static Val ld(Lower *L, Node *x, Val off) {
  if (x->op == OP_CONST) return lw_f32(L, node_const(x)->value);
  return LLVMBuildLoad2(LB, L->f32, lw_elem_ptr(L, x, off), "");
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

/* One SDPA / SDPA_BWD kernel being emitted. */
typedef struct {
  Lower *L;
  Node *n;
  SdpaDims d;
  SdpaScratch sc;
  int vw;        /* floats per vector (1: scalars) */
  LLVMTypeRef V; /* a vector of vw floats, or a float */
  Val scr;       /* the scratch, as floats */
  Val b;         /* the batch being processed */
} At;

/* A block of query rows of batch a->b. */
typedef struct {
  int R;                     /* its rows, at most SDPA_ROWS */
  Val keys[SDPA_ROWS], kmax; /* the keys each row attends to; the most (the last row's) */
  Val row[SDPA_ROWS];        /* b T + i: the row among all the batches' */
  Val i0;                    /* its first row in the batch */
} Block;

static At at_init(Lower *L, Node *n) {
  At a = {L, n, sdpa_dims(n), sdpa_scratch(n, L->vw), L->vw > 1 ? L->vw : 1, NULL, lw_scratch(L, n), NULL};
  a.V = a.vw > 1 ? LLVMVectorType(L->f32, (unsigned)a.vw) : L->f32;
  return a;
}

/* The scratch float at + off. */
static Val sp(At *a, int64_t at, Val off) {
  Lower *L = a->L;
  Val o = iadd(L, off, lw_ix(L, at));
  return LLVMBuildGEP2(LB, L->f32, a->scr, &o, 1, "");
}
static Val splat(At *a, Val x) { return lw_splat(a->L, a->V, x); }
static Val fconst(At *a, double v) { return splat(a, LLVMConstReal(a->L->f32, v)); }
static Val vmul(At *a, Val x, Val y) { return LLVMBuildFMul(a->L->b, x, y, ""); }

/* The `lanes` leading floats of x at off as a vector (a constant: its value). */
static Val xload(At *a, Node *x, Val off, int lanes) {
  Lower *L = a->L;
  if (x->op == OP_CONST) return fconst(a, node_const(x)->value);
  Val p = lw_elem_ptr(L, x, off);
  return lanes == a->vw ? lw_vload(L, a->V, p) : lw_masked_load(L, a->V, p, lanes);
}
static void xstore(At *a, Val v, Val off, int lanes) {
  Val p = lw_elem_ptr(a->L, a->n, off);
  if (lanes == a->vw) lw_vstore(a->L, v, p);
  else lw_masked_store(a->L, v, p, lanes);
}

/* A vector's lanes combined, halving: their sum, or their maximum. */
static Val hreduce(At *a, Val v, bool max) {
  Lower *L = a->L;
  for (unsigned w = (unsigned)a->vw; w > 1; w /= 2) {
    Val lo[32], hi[32];
    for (unsigned i = 0; i < w / 2; i++) lo[i] = LLVMConstInt(L->i32, i, 0), hi[i] = LLVMConstInt(L->i32, i + w / 2, 0);
    Val x = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(lo, w / 2), "");
    Val y = LLVMBuildShuffleVector(LB, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(hi, w / 2), "");
    v = max ? lw_select_gt(L, x, y, x, y) : LLVMBuildFAdd(LB, x, y, "");
  }
  return a->vw > 1 ? LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, 0, 0), "") : v;
}

/* The lanes of the vector of keys from j0 that are among a row's `keys`. */
static Val key_mask(At *a, Val j0, Val keys) {
  Lower *L = a->L;
  Val j = LLVMBuildTrunc(LB, j0, L->i32, ""), k = LLVMBuildTrunc(LB, keys, L->i32, "");
  if (a->vw == 1) return LLVMBuildICmp(LB, LLVMIntSLT, j, k, "");
  LLVMTypeRef it = LLVMVectorType(L->i32, (unsigned)a->vw);
  Val iota[64];
  for (int i = 0; i < a->vw; i++) iota[i] = LLVMConstInt(L->i32, (unsigned)i, 0);
  Val jv = LLVMBuildAdd(LB, lw_splat(L, it, j), LLVMConstVector(iota, (unsigned)a->vw), "");
  return LLVMBuildICmp(LB, LLVMIntSLT, jv, lw_splat(L, it, k), "");
}

/* ceil(n / m) of an index value. */
static Val ceil_div(Lower *L, Val n, int64_t m) {
  return LLVMBuildUDiv(LB, iadd(L, n, lw_ix(L, m - 1)), lw_ix(L, m), "");
}

/* scratch[at + w Sp + j] = x[b S W + j W + w] for j < S, w < W: a batch's k or v, keys
 * contiguous. */
static void transpose(At *a, Node *x, int64_t W, int64_t at) {
  Lower *L = a->L;
  Loop lj, lw;
  Val j = lw_loop(L, &lj, a->d.S, "tj");
  Val src = iadd(L, imul(L, a->b, a->d.S * W), imul(L, j, W));
  Val w = lw_loop(L, &lw, W, "tw");
  LLVMBuildStore(LB, ld(L, x, iadd(L, src, w)), sp(a, at, iadd(L, imul(L, w, a->sc.Sp), j)));
  lw_loop_end(L, &lw);
  lw_loop_end(L, &lj);
}

/* The padding keys [S, Sp) of a transposed [W, Sp] are 0 (their scores are finite). */
static void zero_pad(At *a, int64_t W, int64_t at) {
  Lower *L = a->L;
  if (a->sc.Sp == a->d.S) return;
  Loop lw, lj;
  Val w = lw_loop(L, &lw, W, "pw");
  Val j = iadd(L, lw_loop(L, &lj, a->sc.Sp - a->d.S, "pj"), lw_ix(L, a->d.S));
  LLVMBuildStore(LB, lw_f32(L, 0), sp(a, at, iadd(L, imul(L, w, a->sc.Sp), j)));
  lw_loop_end(L, &lj);
  lw_loop_end(L, &lw);
}

/* scratch[dst + r Sp + j] = scale sum_w x[xo_r + w] t[w Sp + j] for the block's rows r
 * and keys j < kmax rounded up to two vectors, t the transposed k or v at `at`: each t
 * load serves every row, each x element is a broadcast. */
static void scores(At *a, const Block *bk, Node *x, const Val *xo, int64_t W, int64_t at, int64_t dst, double scale) {
  Lower *L = a->L;
  int64_t step = 2 * a->vw, Sp = a->sc.Sp;
  Val acc[SDPA_ROWS][2];
  for (int r = 0; r < bk->R; r++)
    for (int h = 0; h < 2; h++) acc[r][h] = lw_slot(L, a->V, "sacc");
  Loop lk, lw;
  Val j0 = imul(L, lw_loop_v(L, &lk, ceil_div(L, bk->kmax, step), "kp"), step);
  for (int r = 0; r < bk->R; r++)
    for (int h = 0; h < 2; h++) LLVMBuildStore(LB, LLVMConstNull(a->V), acc[r][h]);
  Val w = lw_loop(L, &lw, W, "w");
  Val t[2];
  for (int h = 0; h < 2; h++) t[h] = lw_vload(L, a->V, sp(a, at + h * a->vw, iadd(L, imul(L, w, Sp), j0)));
  for (int r = 0; r < bk->R; r++) {
    Val xs = splat(a, ld(L, x, iadd(L, xo[r], w)));
    for (int h = 0; h < 2; h++) LLVMBuildStore(LB, lw_fmuladd(L, xs, t[h], fld(L, acc[r][h])), acc[r][h]);
  }
  lw_loop_end(L, &lw);
  for (int r = 0; r < bk->R; r++)
    for (int h = 0; h < 2; h++)
      lw_vstore(L, vmul(a, fld(L, acc[r][h]), fconst(a, scale)), sp(a, dst + r * Sp + h * a->vw, j0));
  lw_loop_end(L, &lk);
}

/* Row r of the block's scores at `at`, in place: exp(s - max) over its keys, 0 past
 * them; returns their sum. The maximum is exact (a first pass), as the evaluator's. */
static Val softmax_row(At *a, const Block *bk, int r, int64_t at) {
  Lower *L = a->L;
  int64_t base = at + r * a->sc.Sp;
  Val mx = lw_slot(L, a->V, "mx"), sum = lw_slot(L, a->V, "sum");
  LLVMBuildStore(LB, fconst(a, -INFINITY), mx);
  LLVMBuildStore(LB, LLVMConstNull(a->V), sum);
  Val nv = ceil_div(L, bk->kmax, a->vw);
  Loop l1, l2;
  Val j0 = imul(L, lw_loop_v(L, &l1, nv, "mj"), a->vw);
  Val s = LLVMBuildSelect(LB, key_mask(a, j0, bk->keys[r]), lw_vload(L, a->V, sp(a, base, j0)), fconst(a, -INFINITY), "");
  LLVMBuildStore(LB, lw_select_gt(L, s, fld(L, mx), s, fld(L, mx)), mx);
  lw_loop_end(L, &l1);
  Val m = splat(a, hreduce(a, fld(L, mx), true));
  j0 = imul(L, lw_loop_v(L, &l2, nv, "ej"), a->vw);
  Val p = sp(a, base, j0);
  Val d = LLVMBuildFSub(LB, lw_vload(L, a->V, p), m, "");
  int lanes = L->lanes;
  L->lanes = a->vw > 1 ? a->vw : 0; /* mathlib's constants as vectors */
  Val e = m_exp(L, d);
  L->lanes = lanes;
  e = LLVMBuildSelect(LB, key_mask(a, j0, bk->keys[r]), e, LLVMConstNull(a->V), "");
  lw_vstore(L, e, p);
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, fld(L, sum), e, ""), sum);
  lw_loop_end(L, &l2);
  return hreduce(a, fld(L, sum), false);
}

/* Lanes per vector of the (at most) two vectors of a W-wide row from column c0. */
static int lanes_at(At *a, int64_t W, int64_t c0, int *lanes) {
  int nh = 0;
  for (int h = 0; h < 2 && c0 + h * a->vw < W; h++, nh++)
    lanes[h] = (int)(W - c0 - h * a->vw < a->vw ? W - c0 - h * a->vw : a->vw);
  return nh;
}

/* out[oo_r + c] = f_r sum_{j < kmax} w[r, j] y[yo + j W + c] for c < W and the block's
 * rows r, w the rows at `at` (f_r = 1 without f): each y load serves every row. */
static void rows_mul(At *a, const Block *bk, int64_t at, Node *y, Val yo, int64_t W, const Val *oo, const Val *f) {
  Lower *L = a->L;
  for (int64_t c0 = 0; c0 < W; c0 += 2 * a->vw) {
    int lanes[2], nh = lanes_at(a, W, c0, lanes);
    Val acc[SDPA_ROWS][2];
    for (int r = 0; r < bk->R; r++)
      for (int h = 0; h < nh; h++) LLVMBuildStore(LB, LLVMConstNull(a->V), acc[r][h] = lw_slot(L, a->V, "oacc"));
    Loop lj;
    Val j = lw_loop_v(L, &lj, bk->kmax, "j");
    Val yv[2];
    for (int h = 0; h < nh; h++) yv[h] = xload(a, y, iadd(L, iadd(L, yo, imul(L, j, W)), lw_ix(L, c0 + h * a->vw)), lanes[h]);
    for (int r = 0; r < bk->R; r++) {
      Val ws = splat(a, LLVMBuildLoad2(LB, L->f32, sp(a, at + r * a->sc.Sp, j), ""));
      for (int h = 0; h < nh; h++) LLVMBuildStore(LB, lw_fmuladd(L, ws, yv[h], fld(L, acc[r][h])), acc[r][h]);
    }
    lw_loop_end(L, &lj);
    for (int r = 0; r < bk->R; r++)
      for (int h = 0; h < nh; h++) {
        Val v = fld(L, acc[r][h]);
        xstore(a, f ? vmul(a, v, splat(a, f[r])) : v, iadd(L, oo[r], lw_ix(L, c0 + h * a->vw)), lanes[h]);
      }
  }
}

/* n[yo + j W + c] += sum_r w[r, j] x[xo_r + c] for j < kmax, c < W, w the block's rows
 * at `at`: the block's x rows are held in vectors, each y row read and written once. */
static void rank_update(At *a, const Block *bk, int64_t at, Node *x, const Val *xo, int64_t W, Val yo) {
  Lower *L = a->L;
  for (int64_t c0 = 0; c0 < W; c0 += 2 * a->vw) {
    int lanes[2], nh = lanes_at(a, W, c0, lanes);
    Val xv[SDPA_ROWS][2], ws[SDPA_ROWS];
    for (int r = 0; r < bk->R; r++)
      for (int h = 0; h < nh; h++) xv[r][h] = xload(a, x, iadd(L, xo[r], lw_ix(L, c0 + h * a->vw)), lanes[h]);
    Loop lj;
    Val j = lw_loop_v(L, &lj, bk->kmax, "j");
    for (int r = 0; r < bk->R; r++) ws[r] = splat(a, LLVMBuildLoad2(LB, L->f32, sp(a, at + r * a->sc.Sp, j), ""));
    for (int h = 0; h < nh; h++) {
      Val off = iadd(L, iadd(L, yo, imul(L, j, W)), lw_ix(L, c0 + h * a->vw));
      Val acc = xload(a, a->n, off, lanes[h]);
      for (int r = 0; r < bk->R; r++) acc = lw_fmuladd(L, ws[r], xv[r][h], acc);
      xstore(a, acc, off, lanes[h]);
    }
    lw_loop_end(L, &lj);
  }
}

/* The number of keys row i attends to (ix). */
static Val keys_of(At *a, Val i) {
  Lower *L = a->L;
  Val S = lw_ix(L, a->d.S);
  if (!node_sdpa(a->n)->causal) return S;
  Val i1 = iadd(L, i, lw_ix(L, 1));
  return LLVMBuildSelect(LB, LLVMBuildICmp(LB, LLVMIntSLT, i1, S, ""), i1, S, "keys");
}

/* body on every block of SDPA_ROWS rows of batch a->b, then on the rows left. */
typedef void BlockBody(At *a, const Block *bk);
static void blocks(At *a, BlockBody *body) {
  Lower *L = a->L;
  int64_t R = a->sc.rows, full = a->d.T / R, rest = a->d.T % R;
  for (int part = 0; part < 2; part++) {
    Block bk = {.R = (int)(part ? rest : R)};
    if (!bk.R || (!part && !full)) continue;
    Loop li;
    bk.i0 = part ? lw_ix(L, full * R) : imul(L, lw_loop(L, &li, full, "blk"), R);
    for (int r = 0; r < bk.R; r++) {
      Val i = iadd(L, bk.i0, lw_ix(L, r));
      bk.keys[r] = keys_of(a, i);
      bk.row[r] = iadd(L, imul(L, a->b, a->d.T), i);
    }
    bk.kmax = bk.keys[bk.R - 1];
    body(a, &bk);
    if (!part) lw_loop_end(L, &li);
  }
}

static void fwd_block(At *a, const Block *bk) {
  Lower *L = a->L;
  Val qo[SDPA_ROWS], oo[SDPA_ROWS], rl[SDPA_ROWS];
  for (int r = 0; r < bk->R; r++) qo[r] = imul(L, bk->row[r], a->d.D), oo[r] = imul(L, bk->row[r], a->d.Dv);
  scores(a, bk, a->n->in[0], qo, a->d.D, a->sc.kt, a->sc.s, node_sdpa(a->n)->scale);
  for (int r = 0; r < bk->R; r++) rl[r] = LLVMBuildFDiv(LB, lw_f32(L, 1), softmax_row(a, bk, r, a->sc.s), "rl");
  rows_mul(a, bk, a->sc.s, a->n->in[2], imul(L, a->b, a->d.S * a->d.Dv), a->d.Dv, oo, rl);
}

void em_sdpa(Lower *L, Kernel *k) {
  At a = at_init(L, k->nodes[0]);
  zero_pad(&a, a.d.D, a.sc.kt);
  Loop lb;
  a.b = lw_loop(L, &lb, a.d.B, "b");
  transpose(&a, a.n->in[1], a.d.D, a.sc.kt);
  blocks(&a, fwd_block);
  lw_loop_end(L, &lb);
}

/* Row r of the block: p = e / l in place (rl = 1 / l), then ds = scale p (dp - Di) in
 * place of dp, Di = sum_j p dp; 0 past the row's keys. */
static void ds_row(At *a, const Block *bk, int r, Val rl) {
  Lower *L = a->L;
  int64_t ps = a->sc.s + r * a->sc.Sp, dps = a->sc.dp + r * a->sc.Sp;
  Val nv = ceil_div(L, bk->kmax, a->vw), di = lw_slot(L, a->V, "di");
  LLVMBuildStore(LB, LLVMConstNull(a->V), di);
  Loop l1, l2;
  Val j0 = imul(L, lw_loop_v(L, &l1, nv, "dj"), a->vw);
  Val p = vmul(a, lw_vload(L, a->V, sp(a, ps, j0)), splat(a, rl));
  lw_vstore(L, p, sp(a, ps, j0));
  Val t = LLVMBuildSelect(LB, key_mask(a, j0, bk->keys[r]), vmul(a, p, lw_vload(L, a->V, sp(a, dps, j0))), LLVMConstNull(a->V), "");
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, fld(L, di), t, ""), di);
  lw_loop_end(L, &l1);
  Val Di = splat(a, hreduce(a, fld(L, di), false));
  j0 = imul(L, lw_loop_v(L, &l2, nv, "sj"), a->vw);
  Val dp = LLVMBuildFSub(LB, lw_vload(L, a->V, sp(a, dps, j0)), Di, "");
  Val ds = vmul(a, vmul(a, lw_vload(L, a->V, sp(a, ps, j0)), dp), fconst(a, node_sdpa(a->n)->scale));
  lw_vstore(L, LLVMBuildSelect(LB, key_mask(a, j0, bk->keys[r]), ds, LLVMConstNull(a->V), ""), sp(a, dps, j0));
  lw_loop_end(L, &l2);
}

static void bwd_block(At *a, const Block *bk) {
  Lower *L = a->L;
  Node *n = a->n;
  SdpaDims d = a->d;
  Val base = imul(L, a->b, d.T * d.D + d.S * d.D + d.S * d.Dv);
  Val qo[SDPA_ROWS], go[SDPA_ROWS], dqo[SDPA_ROWS];
  for (int r = 0; r < bk->R; r++) {
    qo[r] = imul(L, bk->row[r], d.D), go[r] = imul(L, bk->row[r], d.Dv);
    dqo[r] = iadd(L, base, imul(L, iadd(L, bk->i0, lw_ix(L, r)), d.D));
  }
  scores(a, bk, n->in[0], qo, d.D, a->sc.kt, a->sc.s, node_sdpa(n)->scale);
  Val rl[SDPA_ROWS];
  for (int r = 0; r < bk->R; r++) rl[r] = LLVMBuildFDiv(LB, lw_f32(L, 1), softmax_row(a, bk, r, a->sc.s), "rl");
  scores(a, bk, n->in[3], go, d.Dv, a->sc.vt, a->sc.dp, 1.0);
  for (int r = 0; r < bk->R; r++) ds_row(a, bk, r, rl[r]);
  rows_mul(a, bk, a->sc.dp, n->in[1], imul(L, a->b, d.S * d.D), d.D, dqo, NULL);
  rank_update(a, bk, a->sc.dp, n->in[0], qo, d.D, iadd(L, base, lw_ix(L, d.T * d.D)));
  rank_update(a, bk, a->sc.s, n->in[3], go, d.Dv, iadd(L, base, lw_ix(L, d.T * d.D + d.S * d.D)));
}

void em_sdpa_bwd(Lower *L, Kernel *k) {
  At a = at_init(L, k->nodes[0]);
  SdpaDims d = a.d;
  int64_t P = d.T * d.D + d.S * d.D + d.S * d.Dv;
  zero_pad(&a, d.D, a.sc.kt);
  zero_pad(&a, d.Dv, a.sc.vt);
  Loop lb, lz;
  a.b = lw_loop(L, &lb, d.B, "b");
  Val z = iadd(L, imul(L, a.b, P), lw_loop(L, &lz, P, "z")); /* dk, dv accumulate */
  LLVMBuildStore(LB, lw_f32(L, 0), lw_elem_ptr(L, a.n, z));
  lw_loop_end(L, &lz);
  transpose(&a, a.n->in[1], d.D, a.sc.kt);
  transpose(&a, a.n->in[2], d.Dv, a.sc.vt);
  blocks(&a, bwd_block);
  lw_loop_end(L, &lb);
}
