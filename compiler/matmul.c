/* matmul.c — the matrix-product kernel: register-blocked, vectorised micro-kernels
 * emitted as LLVM vector IR, for forward and backward products alike.
 *
 *   C[M,N] (+)= op(A)[M,K] op(B)[K,N]     op = identity or transpose (MatmulAttr ta, tb)
 *
 * With B row-major (!tb) the micro-kernel keeps an MR x (NV * VW) block of C in
 * vector registers: per k it loads NV vectors of B's row k and broadcasts MR elements
 * of A's column k (A may be stored transposed: ta), MR * NV fused multiply-adds. Loops
 * run k-blocks (KC deep, so the B panel stays in cache) > column blocks > row blocks.
 * With B stored transposed (tb, the backward product dX = dY W^T) rows of A and rows
 * of B are both contiguous along k: an MR x NC block of dot products, vectorised
 * along k, reduced horizontally at the end. Remainders get the same kernels with
 * smaller constant MR/NV/NC; leftover columns narrower than a vector, targets without
 * vectors (VW = 1) and the rare op(A)^T op(B)^T case use plain loops.
 *
 * Large products (packed_matmul) first copy blocks of A and B into contiguous,
 * zero-padded panels in the workspace (GotoBLAS/BLIS style): the micro-kernel then
 * streams both operands with unit stride whatever their layout or transposition, and
 * the B panel stays in cache across a block of A.
 *
 * C is overwritten; a gradient whose sink rides on this kernel (a single k-block) is
 * stored through lw_store, which adds it or applies the SGD update. The kernel may also
 * carry an epilogue (schedule.c): elementwise nodes on C — bias, activation, a backward
 * mask — evaluated on each block of C after its last k-block while it is in registers.
 * A large product may be one of several parts (a block of C's rows or columns) that
 * the parallel runner computes at once. */
#include "matmul.h"
#include "lower_elem.h"
#include "lower_update.h"
#include "matmul_plan.h"
#include <string.h>

#define LB (L->b)
#define DMR 4 /* the dot kernel's block: DMR x DNC dot products */
#define DNC 3

typedef struct {
  Node *n, *a, *b;
  int r, o;        /* rank, index of the row dimension */
  int64_t M, N, K;
  LLVMValueRef p;  /* batch index (rank 3) or NULL */
  LLVMValueRef i0, j0; /* this part's first row and column of C (a parallel task's share) */
  bool sgd;        /* C is a gradient whose SGD update is applied as it is stored */
  LLVMValueRef last; /* i1: the current k-block is the last (C is final after it) */
  Kernel *k;       /* the kernel: the product, then its epilogue's elementwise members */
  int ki;          /* its index */
  LLVMValueRef *vals; /* by node id: epilogue values in registers */
  LLVMTypeRef vt;  /* <VW x float> */
} MM;

static LLVMValueRef add_c(Lower *L, LLVMValueRef x, int64_t c) { return LLVMBuildAdd(LB, x, lw_ix(L, c), ""); }

/* Element pointers of op(A)(i, k), op(B)(k, j) and C(i, j). */
static LLVMValueRef pa(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef k) {
  LLVMValueRef idx[3] = {m->p};
  i = LLVMBuildAdd(LB, i, m->i0, "");
  idx[m->o] = node_matmul(m->n)->ta ? k : i, idx[m->o + 1] = node_matmul(m->n)->ta ? i : k;
  return lw_addr(L, m->a, idx, m->r);
}
static LLVMValueRef pb(Lower *L, MM *m, LLVMValueRef k, LLVMValueRef j) {
  LLVMValueRef idx[3] = {m->p};
  j = LLVMBuildAdd(LB, j, m->j0, "");
  idx[m->o] = node_matmul(m->n)->tb ? j : k, idx[m->o + 1] = node_matmul(m->n)->tb ? k : j;
  return lw_addr(L, m->b, idx, m->r);
}
static LLVMValueRef pc(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef j) {
  LLVMValueRef idx[3] = {m->p};
  idx[m->o] = LLVMBuildAdd(LB, i, m->i0, ""), idx[m->o + 1] = LLVMBuildAdd(LB, j, m->j0, "");
  return lw_addr(L, m->n, idx, m->r);
}
/* The final value of C(i, j) (a float, or a vector along j): stored, accumulated or
 * turned into an SGD update as the memory plan says. */
static void store_c(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef j, LLVMValueRef v) {
  LLVMValueRef idx[3] = {m->p};
  idx[m->o] = LLVMBuildAdd(LB, i, m->i0, ""), idx[m->o + 1] = LLVMBuildAdd(LB, j, m->j0, "");
  lw_store(L, m->n, idx, v);
}

static LLVMValueRef imin(Lower *L, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(LB, LLVMBuildICmp(LB, LLVMIntSLT, a, b, ""), a, b, "");
}
static LLVMValueRef iadd(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(LB, a, b, ""); }
static LLVMValueRef imul(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(LB, a, b, ""); }
static LLVMValueRef ceil_div(Lower *L, LLVMValueRef a, int64_t b) {
  return LLVMBuildSDiv(LB, add_c(L, a, b - 1), lw_ix(L, b), "");
}
static LLVMValueRef fptr(Lower *L, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildGEP2(LB, L->f32, base, &off, 1, "");
}

/* The finished gradient block acc (mr rows of nv vectors, allocas) stored through the
 * SGD epilogue at C(i0.., j0..). Plain SGD (no momentum, no weight decay: the common
 * step) is straight-line code on the registers; otherwise the block goes through a stack
 * tile (the caller's, or one of its own if NULL) and one copy of the full epilogue in a
 * loop, not one per register. */
static void sgd_block(Lower *L, MM *m, LLVMValueRef acc[MR][NV], LLVMValueRef i0, LLVMValueRef j0, int mr, int nv,
                      LLVMValueRef tile) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  LLVMValueRef g[MR][NV];
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) g[r][v] = LLVMBuildLoad2(LB, m->vt, acc[r][v], "");
  lw_load_hyper(L, L->hyper); /* once per block, not per vector */
  LLVMBasicBlockRef fast = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "plain_sgd");
  LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "full_sgd");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "sgd_done");
  LLVMBuildCondBr(LB, lw_update_plain(L, L->hyper), fast, full);
  LLVMPositionBuilderAtEnd(LB, fast);
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      LLVMValueRef idx[3] = {m->p};
      idx[m->o] = iadd(L, iadd(L, i0, lw_ix(L, r)), m->i0), idx[m->o + 1] = iadd(L, iadd(L, j0, lw_ix(L, v * vw)), m->j0);
      lw_store_update_plain(L, m->n, idx, g[r][v]);
    }
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, full);
  if (!tile) tile = lw_slot(L, LLVMArrayType(L->f32, (unsigned)(MR * NV * vw)), "tile");
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) lw_vstore(L, g[r][v], fptr(L, tile, lw_ix(L, (r * NV + v) * vw)));
  Loop lr, lv;
  LLVMValueRef r = lw_loop(L, &lr, mr, "r"), v = lw_loop(L, &lv, nv, "v");
  LLVMValueRef at = iadd(L, imul(L, r, lw_ix(L, NV * vw)), imul(L, v, lw_ix(L, vw)));
  store_c(L, m, iadd(L, i0, r), iadd(L, j0, imul(L, v, lw_ix(L, vw))), lw_vload(L, m->vt, fptr(L, tile, at)));
  lv.no_unroll = lr.no_unroll = true;
  lw_loop_end(L, &lv), lw_loop_end(L, &lr);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
  memset(L->hyper, 0, sizeof L->hyper);
}

/* Loads of op(A)(i, k) and op(B)(k, j): a float, or a vector of VW consecutive
 * elements in storage order. A constant operand (a gradient of ones, say) has no
 * buffer: its value is the constant. */
static LLVMValueRef ld_const(Lower *L, const Node *x, LLVMTypeRef t) {
  LLVMValueRef c = lw_f32(L, node_const(x)->value);
  return t == L->f32 ? c : lw_splat(L, t, c);
}
static LLVMValueRef ld_a(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef k, LLVMTypeRef t) {
  if (m->a->op == OP_CONST) return ld_const(L, m->a, t);
  return t == L->f32 ? LLVMBuildLoad2(LB, L->f32, pa(L, m, i, k), "a") : lw_vload(L, t, pa(L, m, i, k));
}
static LLVMValueRef ld_b(Lower *L, MM *m, LLVMValueRef k, LLVMValueRef j, LLVMTypeRef t) {
  if (m->b->op == OP_CONST) return ld_const(L, m->b, t);
  return t == L->f32 ? LLVMBuildLoad2(LB, L->f32, pb(L, m, k, j), "b") : lw_vload(L, t, pb(L, m, k, j));
}

/* ---- broadcast kernel: rows [i, i+mr), columns [j, j + nv*VW), k in [k0, k0+kc) ---- */

/* ---- the epilogue: the kernel's elementwise members, applied to finished C ----
 * v holds C(i, j) — a float, or a vector of `lanes` valid consecutive elements of row i
 * from column j (i, j relative to this part). Each member is evaluated on it in
 * registers (the op table's emit1, on vectors), its other operands loaded at the same
 * element (a row-broadcast operand such as a bias is contiguous in j; a column-
 * broadcast one is one float, splat), and stored where the memory plan gave it a
 * buffer. */
static bool has_epilogue(const MM *m) { return m->k->n > 1; }

static LLVMValueRef ep_operand(Lower *L, MM *m, Node *x, LLVMValueRef i, LLVMValueRef j, int lanes, bool vec) {
  if (L->e->kernel_of[x->id] == m->ki) return m->vals[x->id];
  if (x->op == OP_CONST) return lw_f32(L, node_const(x)->value);
  LLVMValueRef idx[2] = {i, j};
  LLVMValueRef p = lw_addr(L, x, idx, 2);
  if (!vec) return LLVMBuildLoad2(LB, L->f32, p, "");
  int64_t st[GC_MAX_RANK];
  shape_bstrides(x->shape, 2, st);
  if (st[1] == 0) return lw_splat(L, m->vt, LLVMBuildLoad2(LB, L->f32, p, ""));
  GC_ASSERT(st[1] == 1 && "an elementwise operand is row-major");
  return lw_masked_load(L, m->vt, p, lanes);
}

static void epilogue(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef j, LLVMValueRef v, int lanes) {
  bool vec = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind;
  int saved = L->lanes;
  L->lanes = vec ? (int)LLVMGetVectorSize(m->vt) : 0;
  LLVMValueRef ia = LLVMBuildAdd(LB, i, m->i0, ""), ja = LLVMBuildAdd(LB, j, m->j0, "");
  m->vals[m->n->id] = v;
  for (int t = 1; t < m->k->n; t++) {
    Node *n = m->k->nodes[t];
    LLVMValueRef in[2] = {NULL, NULL};
    for (int q = 0; q < n->nin; q++) in[q] = ep_operand(L, m, n->in[q], ia, ja, lanes, vec);
    if (gc_ops[n->op].evalr) { /* dropout draws at its element's index */
      int64_t st[GC_MAX_RANK];
      shape_bstrides(n->shape, 2, st);
      L->elem_at = lw_offset(L, (LLVMValueRef[2]){ia, ja}, st, 2);
    }
    LLVMValueRef r = m->vals[n->id] = gc_lower_elem[n->op](L, n, in[0], in[1]);
    if (L->e->buf[n->id].kind == BUF_NONE) continue;
    LLVMValueRef idx[2] = {ia, ja};
    LLVMValueRef p = lw_addr(L, n, idx, 2);
    if (vec) lw_masked_store(L, r, p, lanes);
    else LLVMBuildStore(LB, r, p);
  }
  L->lanes = saved;
}

/* Whether C has a buffer: not when only its epilogue reads it (it stays in registers). */
static bool c_stored(Lower *L, const MM *m) { return L->e->buf[m->n->id].kind != BUF_NONE; }

/* C(i, j..) = v (a float or a vector of `lanes` valid elements), then the epilogue. */
static void finish(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef j, LLVMValueRef v, int lanes) {
  bool vec = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind;
  if (c_stored(L, m) && vec) lw_masked_store(L, v, pc(L, m, i, j), lanes);
  else if (c_stored(L, m)) LLVMBuildStore(LB, v, pc(L, m, i, j));
  if (has_epilogue(m)) epilogue(L, m, i, j, v, lanes);
}

/* Rows [i, i + mr) of nv vectors in `tile` stored into C as they are (partial sums of
 * an earlier k-block). */
static void store_tile(Lower *L, MM *m, LLVMValueRef tile, LLVMValueRef i, LLVMValueRef j, int mr, int nv, int lanes) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++)
      lw_masked_store(L, lw_vload(L, m->vt, fptr(L, tile, lw_ix(L, (r * NV + v) * vw))), pc(L, m, add_c(L, i, r), add_c(L, j, v * vw)),
                   v == nv - 1 ? lanes : vw);
}

/* Opens the code for the last k-block when that is decided at run time: returns the
 * block to continue at after both paths (NULL when m->last is a constant true). The
 * caller emits the epilogue path, then calls otherwise_plain. */
static LLVMBasicBlockRef if_last(Lower *L, MM *m, LLVMBasicBlockRef *plain) {
  if (LLVMIsAConstantInt(m->last) && LLVMConstIntGetZExtValue(m->last)) return NULL;
  LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "last_kblock");
  *plain = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "partial_sums");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "kblock_done");
  LLVMBuildCondBr(LB, m->last, yes, *plain);
  LLVMPositionBuilderAtEnd(LB, yes);
  return done;
}

/* The finished rows [i, i + mr) of nv vectors in `tile` (row stride NV * VW; the last
 * vector of a row has `lanes` valid elements) through finish, in a loop over the rows:
 * one copy of the epilogue's code, not one per register of the block. */
static void finish_tile(Lower *L, MM *m, LLVMValueRef tile, LLVMValueRef i, LLVMValueRef j, int mr, int nv, int lanes) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  Loop lr;
  LLVMValueRef r = lw_loop(L, &lr, mr, "r");
  for (int v = 0; v < nv; v++) {
    LLVMValueRef at = LLVMBuildAdd(LB, LLVMBuildMul(LB, r, lw_ix(L, NV * vw), ""), lw_ix(L, v * vw), "");
    LLVMValueRef val = lw_vload(L, m->vt, LLVMBuildGEP2(LB, L->f32, tile, &at, 1, ""));
    finish(L, m, LLVMBuildAdd(LB, i, r, ""), add_c(L, j, v * vw), val, v == nv - 1 ? lanes : vw);
  }
  lr.no_unroll = true;
  lw_loop_end(L, &lr);
}

/* ---- broadcast kernel: rows [i, i+mr), columns [j, j + nv*VW) of which the last
 * vector has `lanes` elements, k in [k0, k0+kc) ---- */

static void bcast_block(Lower *L, MM *m, LLVMValueRef i, int mr, LLVMValueRef j, int nv, int lanes, LLVMValueRef k0,
                        int64_t kc, LLVMValueRef first) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  LLVMValueRef acc[MR][NV], zero = LLVMConstNull(m->vt);
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      int n = v == nv - 1 ? lanes : vw;
      acc[r][v] = lw_slot(L, m->vt, "acc");
      if (!c_stored(L, m)) { /* one k-block, C in registers only */
        LLVMBuildStore(LB, zero, acc[r][v]);
        continue;
      }
      LLVMValueRef c = lw_masked_load(L, m->vt, pc(L, m, add_c(L, i, r), add_c(L, j, v * vw)), n);
      /* a later k-block continues from C's partial sums, the first from zero */
      LLVMValueRef init = LLVMBuildSelect(LB, first, zero, c, "");
      LLVMBuildStore(LB, init, acc[r][v]);
    }
  Loop lk;
  LLVMValueRef k = LLVMBuildAdd(LB, k0, lw_loop(L, &lk, kc, "k"), "");
  LLVMValueRef bv[NV];
  for (int v = 0; v < nv; v++)
    bv[v] = m->b->op == OP_CONST || (v < nv - 1 || lanes == vw) ? ld_b(L, m, k, add_c(L, j, v * vw), m->vt)
                                                                 : lw_masked_load(L, m->vt, pb(L, m, k, add_c(L, j, v * vw)), lanes);
  for (int r = 0; r < mr; r++) {
    LLVMValueRef av = lw_splat(L, m->vt, ld_a(L, m, add_c(L, i, r), k, L->f32));
    for (int v = 0; v < nv; v++)
      LLVMBuildStore(LB, lw_fmuladd(L, av, bv[v], LLVMBuildLoad2(LB, m->vt, acc[r][v], "")), acc[r][v]);
  }
  lk.no_unroll = true;
  lw_loop_end(L, &lk);
  if (m->sgd && lanes == vw) return sgd_block(L, m, acc, i, j, mr, nv, NULL); /* whole vectors */
  if (has_epilogue(m)) { /* C is final after the last k-block: the epilogue, else partial sums */
    LLVMValueRef tile = lw_slot(L, LLVMArrayType(L->f32, (unsigned)(MR * NV * vw)), "tile");
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++)
        lw_vstore(L, LLVMBuildLoad2(LB, m->vt, acc[r][v], ""), fptr(L, tile, lw_ix(L, (r * NV + v) * vw)));
    LLVMBasicBlockRef plain = NULL, done = if_last(L, m, &plain);
    finish_tile(L, m, tile, i, j, mr, nv, lanes);
    if (!done) return;
    LLVMBuildBr(LB, done);
    LLVMPositionBuilderAtEnd(LB, plain);
    store_tile(L, m, tile, i, j, mr, nv, lanes);
    LLVMBuildBr(LB, done);
    LLVMPositionBuilderAtEnd(LB, done);
    return;
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      int n = v == nv - 1 ? lanes : vw;
      LLVMValueRef sum = LLVMBuildLoad2(LB, m->vt, acc[r][v], "");
      LLVMValueRef ci = add_c(L, i, r), cj = add_c(L, j, v * vw);
      if (!m->sgd) {
        lw_masked_store(L, sum, pc(L, m, ci, cj), n);
      } else if (n == vw) {
        store_c(L, m, ci, cj, sum); /* single k-block: the finished gradient */
      } else {
        for (int e = 0; e < n; e++)
          store_c(L, m, ci, add_c(L, cj, e), LLVMBuildExtractElement(LB, sum, LLVMConstInt(L->i32, (unsigned)e, 0), ""));
      }
    }
}

/* All row blocks (full ones in a loop, the remainder once) for one column block. */
static void bcast_rows(Lower *L, MM *m, LLVMValueRef j, int nv, int lanes, LLVMValueRef k0, int64_t kc,
                       LLVMValueRef first) {
  int64_t full = m->M / MR, rest = m->M % MR;
  if (full) {
    Loop li;
    LLVMValueRef i = LLVMBuildMul(LB, lw_loop(L, &li, full, "ib"), lw_ix(L, MR), "");
    bcast_block(L, m, i, MR, j, nv, lanes, k0, kc, first);
    lw_loop_end(L, &li);
  }
  if (rest) bcast_block(L, m, lw_ix(L, full * MR), (int)rest, j, nv, lanes, k0, kc, first);
}

/* Plain loops for columns [j0, N) (all rows, all k): targets without vectors and the
 * rare product of two transposed operands. */
static void scalar_columns(Lower *L, MM *m, int64_t j0) {
  if (j0 >= m->N) return;
  Loop li, lj, lk;
  LLVMValueRef i = lw_loop(L, &li, m->M, "i");
  LLVMValueRef j = LLVMBuildAdd(LB, lw_loop(L, &lj, m->N - j0, "j"), lw_ix(L, j0), "");
  LLVMValueRef sum = lw_slot(L, L->f32, "dot");
  LLVMBuildStore(LB, lw_f32(L, 0), sum);
  LLVMValueRef k = lw_loop(L, &lk, m->K, "k");
  LLVMValueRef prod = LLVMBuildFMul(LB, ld_a(L, m, i, k, L->f32), ld_b(L, m, k, j, L->f32), "");
  LLVMBuildStore(LB, LLVMBuildFAdd(LB, LLVMBuildLoad2(LB, L->f32, sum, ""), prod, ""), sum);
  lw_loop_end(L, &lk);
  if (has_epilogue(m)) finish(L, m, i, j, LLVMBuildLoad2(LB, L->f32, sum, ""), 1);
  else store_c(L, m, i, j, LLVMBuildLoad2(LB, L->f32, sum, ""));
  lw_loop_end(L, &lj);
  lw_loop_end(L, &li);
}


static void bcast_matmul(Lower *L, MM *m) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  int64_t nr = (int64_t)NV * vw, nfull = m->N / nr, nvec = (m->N % nr) / vw, rem = m->N % vw;
  /* k-blocks of equal depth (784 = 4 x 196, not 3 x 256 + 16): no thin last block */
  int64_t kc = (m->K + (m->K + KC - 1) / KC - 1) / ((m->K + KC - 1) / KC), kblocks = m->K / kc, krest = m->K % kc;
  for (int part = 0; part < 2; part++) { /* the full k-blocks, then the remainder block */
    int64_t depth = part ? krest : kc, count = part ? (krest ? 1 : 0) : kblocks;
    if (!count) continue;
    Loop lk0 = {0};
    LLVMValueRef kb = part ? lw_ix(L, 0) : lw_loop(L, &lk0, count, "kb");
    LLVMValueRef k0 = part ? lw_ix(L, kblocks * kc) : LLVMBuildMul(LB, kb, lw_ix(L, kc), "");
    LLVMValueRef first = LLVMBuildICmp(LB, LLVMIntEQ, k0, lw_ix(L, 0), "first");
    LLVMTypeRef i1 = LLVMInt1TypeInContext(L->ctx);
    m->last = part || (!krest && count == 1) ? LLVMConstInt(i1, 1, 0)
              : krest                        ? LLVMConstInt(i1, 0, 0)
                                             : LLVMBuildICmp(LB, LLVMIntEQ, kb, lw_ix(L, count - 1), "last");
    if (nfull) {
      Loop lj;
      LLVMValueRef j = LLVMBuildMul(LB, lw_loop(L, &lj, nfull, "jb"), lw_ix(L, nr), "");
      bcast_rows(L, m, j, NV, vw, k0, depth, first);
      lw_loop_end(L, &lj);
    }
    /* the columns left: whole vectors, the last one partial (masked) */
    int64_t left = nvec + (rem ? 1 : 0);
    if (left) bcast_rows(L, m, lw_ix(L, nfull * nr), (int)left, rem ? (int)rem : vw, k0, depth, first);
    if (!part) lw_loop_end(L, &lk0);
  }
}

/* ---- dot kernel (B stored transposed): C(i, j) = sum_k A(i, k) B_stored(j, k) ---- */

static LLVMValueRef hsum(Lower *L, LLVMValueRef v) {
  unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
  LLVMValueRef s = LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, 0, 0), "");
  for (unsigned e = 1; e < n; e++) s = LLVMBuildFAdd(LB, s, LLVMBuildExtractElement(LB, v, LLVMConstInt(L->i32, e, 0), ""), "");
  return s;
}

static void dot_block(Lower *L, MM *m, LLVMValueRef i, int mr, LLVMValueRef j, int nc) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  int64_t kv = m->K / vw;
  LLVMValueRef acc[DMR][DNC], s[DMR][DNC];
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nc; c++) {
      acc[r][c] = lw_slot(L, m->vt, "dacc");
      LLVMBuildStore(LB, LLVMConstNull(m->vt), acc[r][c]);
    }
  if (kv) {
    Loop lk;
    LLVMValueRef k = LLVMBuildMul(LB, lw_loop(L, &lk, kv, "kv"), lw_ix(L, vw), "");
    LLVMValueRef av[DMR], bv[DNC];
    for (int r = 0; r < mr; r++) av[r] = ld_a(L, m, add_c(L, i, r), k, m->vt);
    for (int c = 0; c < nc; c++) bv[c] = ld_b(L, m, k, add_c(L, j, c), m->vt);
    for (int r = 0; r < mr; r++)
      for (int c = 0; c < nc; c++)
        LLVMBuildStore(LB, lw_fmuladd(L, av[r], bv[c], LLVMBuildLoad2(LB, m->vt, acc[r][c], "")), acc[r][c]);
    lk.no_unroll = true;
    lw_loop_end(L, &lk);
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nc; c++) s[r][c] = hsum(L, LLVMBuildLoad2(LB, m->vt, acc[r][c], ""));
  for (int64_t k = kv * vw; k < m->K; k++) /* the tail of k, unrolled: fewer than VW steps */
    for (int r = 0; r < mr; r++)
      for (int c = 0; c < nc; c++) {
        LLVMValueRef a = ld_a(L, m, add_c(L, i, r), lw_ix(L, k), L->f32);
        LLVMValueRef b = ld_b(L, m, lw_ix(L, k), add_c(L, j, c), L->f32);
        s[r][c] = LLVMBuildFAdd(LB, s[r][c], LLVMBuildFMul(LB, a, b, ""), "");
      }
  if (has_epilogue(m)) { /* through a tile, so that the epilogue's code exists once */
    LLVMValueRef tile = lw_slot(L, LLVMArrayType(L->f32, DMR * DNC), "dtile");
    for (int r = 0; r < mr; r++)
      for (int c = 0; c < nc; c++) LLVMBuildStore(LB, s[r][c], fptr(L, tile, lw_ix(L, r * DNC + c)));
    Loop lr, lc;
    LLVMValueRef r = lw_loop(L, &lr, mr, "r"), c = lw_loop(L, &lc, nc, "c");
    LLVMValueRef at = LLVMBuildAdd(LB, LLVMBuildMul(LB, r, lw_ix(L, DNC), ""), c, "");
    finish(L, m, LLVMBuildAdd(LB, i, r, ""), LLVMBuildAdd(LB, j, c, ""), LLVMBuildLoad2(LB, L->f32, fptr(L, tile, at), ""), 1);
    lc.no_unroll = lr.no_unroll = true;
    lw_loop_end(L, &lc), lw_loop_end(L, &lr);
    return;
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nc; c++) store_c(L, m, add_c(L, i, r), add_c(L, j, c), s[r][c]);
}

static void dot_cols(Lower *L, MM *m, LLVMValueRef i, int mr) {
  int64_t full = m->N / DNC, rest = m->N % DNC;
  if (full) {
    Loop lj;
    LLVMValueRef j = LLVMBuildMul(LB, lw_loop(L, &lj, full, "jb"), lw_ix(L, DNC), "");
    dot_block(L, m, i, mr, j, DNC);
    lw_loop_end(L, &lj);
  }
  if (rest) dot_block(L, m, i, mr, lw_ix(L, full * DNC), (int)rest);
}

static void dot_matmul(Lower *L, MM *m) {
  int64_t full = m->M / DMR, rest = m->M % DMR;
  if (full) {
    Loop li;
    LLVMValueRef i = LLVMBuildMul(LB, lw_loop(L, &li, full, "ib"), lw_ix(L, DMR), "");
    dot_cols(L, m, i, DMR);
    lw_loop_end(L, &li);
  }
  if (rest) dot_cols(L, m, lw_ix(L, full * DMR), (int)rest);
}

/* ---- packed path ---- */

/* dst[(p * len + k) * w + e] = src(p * w + e, k) or 0 past `limit`: the panels of a
 * block, each w wide (rows of A or columns of B), k running over len. An Elem loads
 * src(outer, k): a float, or a vector of consecutive elements in storage order. */
typedef LLVMValueRef (*Elem)(Lower *L, MM *m, LLVMValueRef outer, LLVMValueRef k, LLVMTypeRef t);
static LLVMValueRef a_elem(Lower *L, MM *m, LLVMValueRef i, LLVMValueRef k, LLVMTypeRef t) { return ld_a(L, m, i, k, t); }
static LLVMValueRef b_elem(Lower *L, MM *m, LLVMValueRef j, LLVMValueRef k, LLVMTypeRef t) { return ld_b(L, m, k, j, t); }

/* Whether src's storage runs along a panel's width (A stored transposed, B not): then
 * whole panels are copied a vector at a time. */
static bool panel_contiguous(const MM *m, Elem get) {
  return get == a_elem ? node_matmul(m->n)->ta : !node_matmul(m->n)->tb;
}

/* v[0..n) (n = a power of two, the vector width) transposed in place: v[t][e] becomes
 * the old v[e][t]. log2(n) rounds of interleaving row i with row i + n/2. */
static void transpose(Lower *L, LLVMValueRef *v, int n) {
  LLVMValueRef lo[64], hi[64], next[64];
  for (int k = 0; k < n / 2; k++) {
    lo[2 * k] = LLVMConstInt(L->i32, (unsigned)k, 0), lo[2 * k + 1] = LLVMConstInt(L->i32, (unsigned)(n + k), 0);
    hi[2 * k] = LLVMConstInt(L->i32, (unsigned)(n / 2 + k), 0);
    hi[2 * k + 1] = LLVMConstInt(L->i32, (unsigned)(n + n / 2 + k), 0);
  }
  LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)n), mhi = LLVMConstVector(hi, (unsigned)n);
  for (int round = 1; round < n; round *= 2) {
    for (int i = 0; i < n / 2; i++) {
      next[2 * i] = LLVMBuildShuffleVector(LB, v[i], v[i + n / 2], mlo, "");
      next[2 * i + 1] = LLVMBuildShuffleVector(LB, v[i], v[i + n / 2], mhi, "");
    }
    memcpy(v, next, sizeof *v * (size_t)n);
  }
}

/* Panel p's elements for k in [kfrom, len), one at a time; `checked`: elements may lie
 * past `limit` (zeros). */
static void pack_scalar(Lower *L, MM *m, Elem get, LLVMValueRef dst, LLVMValueRef p, LLVMValueRef first, int64_t w,
                        LLVMValueRef k0, LLVMValueRef kfrom, LLVMValueRef len, int64_t limit, bool checked) {
  Loop lk, le;
  LLVMValueRef k = iadd(L, kfrom, lw_loop_v(L, &lk, LLVMBuildSub(LB, len, kfrom, ""), "k"));
  LLVMValueRef row = imul(L, iadd(L, imul(L, p, len), k), lw_ix(L, w));
  LLVMValueRef e = lw_loop(L, &le, w, "e");
  LLVMValueRef pos = iadd(L, first, e);
  LLVMValueRef v;
  if (checked) {
    LLVMValueRef inside = LLVMBuildICmp(LB, LLVMIntSLT, pos, lw_ix(L, limit), "");
    LLVMValueRef safe = LLVMBuildSelect(LB, inside, pos, lw_ix(L, 0), "");
    v = LLVMBuildSelect(LB, inside, get(L, m, safe, iadd(L, k0, k), L->f32), lw_f32(L, 0), "");
  } else {
    v = get(L, m, pos, iadd(L, k0, k), L->f32);
  }
  LLVMBuildStore(LB, v, fptr(L, dst, iadd(L, row, e)));
  lw_loop_end(L, &le), lw_loop_end(L, &lk);
}

/* Panels [from, to) of pack(); `checked`: elements may lie past `limit` (zeros). Whole
 * panels copy a vector at a time: along storage when it runs along the panel's width
 * (A stored transposed, B not); else (A as stored, B stored transposed) as vw x vw
 * blocks read along k and transposed in registers — one element at a time, each read
 * was a row apart from the last. */
static void pack_panels(Lower *L, MM *m, Elem get, LLVMValueRef dst, LLVMValueRef start, LLVMValueRef from,
                        LLVMValueRef to, int64_t w, LLVMValueRef k0, LLVMValueRef len, int64_t limit, bool checked) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  Loop lp, lk;
  LLVMValueRef p = iadd(L, from, lw_loop_v(L, &lp, LLVMBuildSub(LB, to, from, ""), "panel"));
  LLVMValueRef first = iadd(L, start, imul(L, p, lw_ix(L, w)));
  if (!checked && panel_contiguous(m, get)) { /* w floats in vectors of 8, 4, 2, 1 (w = 6: 4 + 2) */
    LLVMValueRef k = lw_loop_v(L, &lk, len, "k");
    LLVMValueRef row = imul(L, iadd(L, imul(L, p, len), k), lw_ix(L, w));
    for (int64_t e = 0; e < w;) {
      int n = 1;
      while (n * 2 <= vw && e + n * 2 <= w) n *= 2;
      LLVMTypeRef t = n > 1 ? LLVMVectorType(L->f32, (unsigned)n) : L->f32;
      lw_vstore(L, get(L, m, add_c(L, first, e), iadd(L, k0, k), t), fptr(L, dst, add_c(L, row, e)));
      e += n;
    }
    lw_loop_end(L, &lk);
  } else if (!checked && vw >= 4) {
    LLVMValueRef kv = LLVMBuildSDiv(LB, len, lw_ix(L, vw), "kv");
    LLVMValueRef k = imul(L, lw_loop_v(L, &lk, kv, "kb"), lw_ix(L, vw));
    for (int64_t e = 0; e < w; e += vw) {
      int rows = (int)min64(vw, w - e); /* a 6-row panel of A: 6 rows read, two repeated */
      LLVMValueRef v[64];
      for (int q = 0; q < vw; q++) v[q] = get(L, m, add_c(L, first, e + (q < rows ? q : rows - 1)), iadd(L, k0, k), m->vt);
      transpose(L, v, vw);
      for (int t = 0; t < vw; t++)
        lw_masked_store(L, v[t], fptr(L, dst, add_c(L, imul(L, iadd(L, imul(L, p, len), add_c(L, k, t)), lw_ix(L, w)), e)), rows);
    }
    lw_loop_end(L, &lk);
    pack_scalar(L, m, get, dst, p, first, w, k0, imul(L, kv, lw_ix(L, vw)), len, limit, false); /* k's tail */
  } else {
    pack_scalar(L, m, get, dst, p, first, w, k0, lw_ix(L, 0), len, limit, checked);
  }
  lw_loop_end(L, &lp);
}

static void pack(Lower *L, MM *m, Elem get, LLVMValueRef dst, LLVMValueRef start, LLVMValueRef count, int64_t w,
                 LLVMValueRef k0, LLVMValueRef len, int64_t limit) {
  /* whole panels lie before `limit` (count <= limit - start): no checks; then the last */
  LLVMValueRef whole = LLVMBuildSDiv(LB, count, lw_ix(L, w), "whole");
  pack_panels(L, m, get, dst, start, lw_ix(L, 0), whole, w, k0, len, limit, false);
  pack_panels(L, m, get, dst, start, whole, ceil_div(L, count, w), w, k0, len, limit, true);
}

/* One MR x NR block of C from packed panels ap (kc x MR) and bp (kc x NR); the block
 * starts at (i0, j0) and has rv x cv valid elements (the rest is padding). */
static void packed_block(Lower *L, MM *m, LLVMValueRef ap, LLVMValueRef bp, LLVMValueRef kc, LLVMValueRef i0,
                         LLVMValueRef j0, LLVMValueRef rv, LLVMValueRef cv, LLVMValueRef first, LLVMValueRef tile) {
  int vw = (int)LLVMGetVectorSize(m->vt), nr = NV * vw;
  LLVMValueRef acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) {
      acc[r][v] = lw_slot(L, m->vt, "acc");
      LLVMBuildStore(LB, LLVMConstNull(m->vt), acc[r][v]);
    }
  Loop lk;
  LLVMValueRef k = lw_loop_v(L, &lk, kc, "k");
  LLVMValueRef bv[NV];
  for (int v = 0; v < NV; v++) bv[v] = lw_vload(L, m->vt, fptr(L, bp, add_c(L, imul(L, k, lw_ix(L, nr)), v * vw)));
  for (int r = 0; r < MR; r++) {
    LLVMValueRef a = LLVMBuildLoad2(LB, L->f32, fptr(L, ap, add_c(L, imul(L, k, lw_ix(L, MR)), r)), "a");
    LLVMValueRef av = lw_splat(L, m->vt, a);
    for (int v = 0; v < NV; v++)
      LLVMBuildStore(LB, lw_fmuladd(L, av, bv[v], LLVMBuildLoad2(LB, m->vt, acc[r][v], "")), acc[r][v]);
  }
  lk.no_unroll = true;
  lw_loop_end(L, &lk);
  /* C = sum (+ C's partial sums from earlier k-blocks) */
  LLVMValueRef keep = LLVMBuildNot(LB, first, "");
  LLVMValueRef full = LLVMBuildAnd(LB, LLVMBuildICmp(LB, LLVMIntEQ, rv, lw_ix(L, MR), ""),
                                   LLVMBuildICmp(LB, LLVMIntEQ, cv, lw_ix(L, nr), ""), "full");
  LLVMBasicBlockRef bfull = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "full_tile");
  LLVMBasicBlockRef bedge = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "edge_tile");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "tile_done");
  LLVMBuildCondBr(LB, full, bfull, bedge);
  LLVMPositionBuilderAtEnd(LB, bfull);
  if (m->sgd) { /* single k-block: no partial sums */
    sgd_block(L, m, acc, i0, j0, MR, NV, tile);
  } else if (has_epilogue(m)) { /* sums so far in the tile; the epilogue after the last k-block */
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < NV; v++) {
        LLVMValueRef sum = LLVMBuildLoad2(LB, m->vt, acc[r][v], "");
        if (c_stored(L, m)) {
          LLVMValueRef cp = pc(L, m, add_c(L, i0, r), add_c(L, j0, v * vw));
          sum = LLVMBuildFAdd(LB, sum, LLVMBuildSelect(LB, keep, lw_vload(L, m->vt, cp), LLVMConstNull(m->vt), ""), "");
        }
        lw_vstore(L, sum, fptr(L, tile, lw_ix(L, r * nr + v * vw)));
      }
    LLVMBasicBlockRef plain = NULL, after = if_last(L, m, &plain);
    finish_tile(L, m, tile, i0, j0, MR, NV, vw);
    if (after) {
      LLVMBuildBr(LB, after);
      LLVMPositionBuilderAtEnd(LB, plain);
      store_tile(L, m, tile, i0, j0, MR, NV, vw);
      LLVMBuildBr(LB, after);
      LLVMPositionBuilderAtEnd(LB, after);
    }
  } else {
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < NV; v++) {
        LLVMValueRef ci = add_c(L, i0, r), cj = add_c(L, j0, v * vw), cp = pc(L, m, ci, cj);
        LLVMValueRef sum = LLVMBuildLoad2(LB, m->vt, acc[r][v], "");
        LLVMValueRef prev = LLVMBuildSelect(LB, keep, lw_vload(L, m->vt, cp), LLVMConstNull(m->vt), "");
        lw_vstore(L, LLVMBuildFAdd(LB, sum, prev, ""), cp);
      }
  }
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, bedge); /* through a stack tile, element by element */
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++)
      lw_vstore(L, LLVMBuildLoad2(LB, m->vt, acc[r][v], ""), fptr(L, tile, lw_ix(L, r * nr + v * vw)));
  Loop lr, lc;
  LLVMValueRef r = lw_loop_v(L, &lr, rv, "r"), c = lw_loop_v(L, &lc, cv, "c");
  LLVMValueRef ci = iadd(L, i0, r), cj = iadd(L, j0, c);
  LLVMValueRef sum = LLVMBuildLoad2(LB, L->f32, fptr(L, tile, iadd(L, imul(L, r, lw_ix(L, nr)), c)), "");
  if (has_epilogue(m)) {
    if (c_stored(L, m))
      sum = LLVMBuildFAdd(LB, sum, LLVMBuildSelect(LB, keep, LLVMBuildLoad2(LB, L->f32, pc(L, m, ci, cj), ""), lw_f32(L, 0), ""), "");
    LLVMBasicBlockRef plain = NULL, after = if_last(L, m, &plain);
    finish(L, m, ci, cj, sum, 1);
    if (after) {
      LLVMBuildBr(LB, after);
      LLVMPositionBuilderAtEnd(LB, plain);
      LLVMBuildStore(LB, sum, pc(L, m, ci, cj));
      LLVMBuildBr(LB, after);
      LLVMPositionBuilderAtEnd(LB, after);
    }
  } else {
    LLVMValueRef cp = pc(L, m, ci, cj);
    LLVMValueRef prev = LLVMBuildSelect(LB, keep, LLVMBuildLoad2(LB, L->f32, cp, ""), lw_f32(L, 0), "");
    sum = LLVMBuildFAdd(LB, sum, prev, "");
    if (m->sgd) store_c(L, m, ci, cj, sum);
    else LLVMBuildStore(LB, sum, cp);
  }
  lw_loop_end(L, &lc), lw_loop_end(L, &lr);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

static void packed_matmul(Lower *L, MM *m) {
  int vw = (int)LLVMGetVectorSize(m->vt);
  int64_t nr = (int64_t)NV * vw, kcmax = min64(KC, m->K), mcmax = min64(PMC, round_up(m->M, MR));
  LLVMValueRef ap = lw_scratch(L, m->n), bp = fptr(L, ap, lw_ix(L, mcmax * kcmax));
  LLVMValueRef tile = lw_slot(L, LLVMArrayType(L->f32, (unsigned)(MR * nr)), "tile");
  Loop ljc, lpc, lic, ljr, lir;
  LLVMValueRef jc = imul(L, lw_loop(L, &ljc, (m->N + PNC - 1) / PNC, "jc"), lw_ix(L, PNC));
  LLVMValueRef ncv = imin(L, lw_ix(L, PNC), LLVMBuildSub(LB, lw_ix(L, m->N), jc, ""));
  LLVMValueRef kb = lw_loop(L, &lpc, (m->K + KC - 1) / KC, "kb"), k0 = imul(L, kb, lw_ix(L, KC));
  LLVMValueRef kcv = imin(L, lw_ix(L, KC), LLVMBuildSub(LB, lw_ix(L, m->K), k0, ""));
  LLVMValueRef first = LLVMBuildICmp(LB, LLVMIntEQ, kb, lw_ix(L, 0), "first");
  int64_t nkb = (m->K + KC - 1) / KC;
  m->last = nkb == 1 ? LLVMConstInt(LLVMInt1TypeInContext(L->ctx), 1, 0)
                     : LLVMBuildICmp(LB, LLVMIntEQ, kb, lw_ix(L, nkb - 1), "last");
  pack(L, m, b_elem, bp, jc, ncv, nr, k0, kcv, m->N);
  LLVMValueRef ic = imul(L, lw_loop(L, &lic, (m->M + PMC - 1) / PMC, "ic"), lw_ix(L, PMC));
  LLVMValueRef mcv = imin(L, lw_ix(L, PMC), LLVMBuildSub(LB, lw_ix(L, m->M), ic, ""));
  pack(L, m, a_elem, ap, ic, mcv, MR, k0, kcv, m->M);
  /* Register blocks: down each column panel (its packed B stays in L1 while A's block
   * streams from L2) — or, when all of B's packed block fits in L1 (a short k), along
   * each row panel, so that C (and a parameter updated in the epilogue) is walked row
   * after row, not in narrow columns. */
  bool rows_outer = kcmax * min64(PNC, round_up(m->N, nr)) * (int64_t)dtype_size(m->b->dtype) <= 16 * 1024;
  LLVMValueRef ir = NULL, jr = NULL;
  if (rows_outer) ir = lw_loop_v(L, &lir, ceil_div(L, mcv, MR), "ir");
  jr = lw_loop_v(L, &ljr, ceil_div(L, ncv, nr), "jr");
  if (!rows_outer) ir = lw_loop_v(L, &lir, ceil_div(L, mcv, MR), "ir");
  LLVMValueRef apan = fptr(L, ap, imul(L, imul(L, ir, kcv), lw_ix(L, MR)));
  LLVMValueRef bpan = fptr(L, bp, imul(L, imul(L, jr, kcv), lw_ix(L, nr)));
  LLVMValueRef i0 = iadd(L, ic, imul(L, ir, lw_ix(L, MR))), j0 = iadd(L, jc, imul(L, jr, lw_ix(L, nr)));
  LLVMValueRef rv = imin(L, lw_ix(L, MR), LLVMBuildSub(LB, mcv, imul(L, ir, lw_ix(L, MR)), ""));
  LLVMValueRef cv = imin(L, lw_ix(L, nr), LLVMBuildSub(LB, ncv, imul(L, jr, lw_ix(L, nr)), ""));
  packed_block(L, m, apan, bpan, kcv, i0, j0, rv, cv, first, tile);
  if (rows_outer) lw_loop_end(L, &ljr), lw_loop_end(L, &lir);
  else lw_loop_end(L, &lir), lw_loop_end(L, &ljr);
  lw_loop_end(L, &lic), lw_loop_end(L, &lpc), lw_loop_end(L, &ljc);
}

/* Rows [i0, i0 + M) and columns [j0, j0 + N) of C: the whole product or one part. */
static void emit_part(Lower *L, MM *m, LLVMValueRef i0, int64_t M, LLVMValueRef j0, int64_t N) {
  MM part = *m;
  part.i0 = i0, part.M = M, part.j0 = j0, part.N = N;
  Node *n = m->n;
  int vw = (int)LLVMGetVectorSize(m->vt);
  Loop lb;
  if (part.r == 3) part.p = lw_loop(L, &lb, n->shape.d[0], "batch");
  if (matmul_packs(n, vw)) packed_matmul(L, &part);
  else if (vw > 1 && !node_matmul(n)->tb) bcast_matmul(L, &part);
  else if (vw > 1 && !node_matmul(n)->ta) dot_matmul(L, &part);
  else scalar_columns(L, &part, 0);
  if (part.r == 3) lw_loop_end(L, &lb);
}

void emit_matmul(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  MM m = {.n = n, .a = n->in[0], .b = n->in[1], .r = n->shape.rank};
  m.o = m.r - 2;
  matmul_dims(n, &m.M, &m.N, &m.K);
  m.sgd = lw_applies_update(L, n);
  m.k = k, m.ki = L->e->kernel_of[n->id];
  m.vals = ARENA_ARRAY(L->g->arena, LLVMValueRef, L->g->n);
  GC_ASSERT(!m.sgd || matmul_single_pass(n));
  GC_ASSERT(!has_epilogue(&m) || (!m.sgd && m.r == 2));
  m.last = LLVMConstInt(LLVMInt1TypeInContext(L->ctx), 1, 0); /* the dot and scalar kernels: one pass */
  int vw = L->vw > 1 ? L->vw : 1;
  m.vt = LLVMVectorType(L->f32, (unsigned)vw);
  LLVMValueRef zero = lw_ix(L, 0);
  if (k->parts < 2) return emit_part(L, &m, zero, m.M, zero, m.N);
  /* part L->part of k->parts: `chunk` rows or columns from part * chunk, fewer in the last */
  Split s = matmul_split(n, vw, k->parts);
  GC_ASSERT(s.parts == k->parts && L->part);
  int64_t last = s.total - (s.parts - 1) * s.chunk;
  LLVMValueRef start = LLVMBuildMul(LB, L->part, lw_ix(L, s.chunk), "start");
  if (last == s.chunk) /* equal parts: one body serves them all */
    return s.cols ? emit_part(L, &m, zero, m.M, start, s.chunk) : emit_part(L, &m, start, s.chunk, zero, m.N);
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "part");
  LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "last_part");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "parts_done");
  LLVMBuildCondBr(LB, LLVMBuildICmp(LB, LLVMIntEQ, L->part, lw_ix(L, s.parts - 1), ""), tail, body);
  for (int t = 0; t < 2; t++) {
    int64_t size = t ? last : s.chunk;
    LLVMPositionBuilderAtEnd(LB, t ? tail : body);
    if (s.cols) emit_part(L, &m, zero, m.M, start, size);
    else emit_part(L, &m, start, size, zero, m.N);
    LLVMBuildBr(LB, done);
  }
  LLVMPositionBuilderAtEnd(LB, done);
}
