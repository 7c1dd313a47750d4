/* lower_fused.c — the fused kernels: elementwise groups (every member computed per
 * element in registers, only the stored ones written) and rows kernels (a softmax or
 * loss row: row-level values, loops over the row's elements, reductions along it), both
 * from the members' elementwise emitters (lower_elem.h). */
#include "lower_fused.h"
#include <stdio.h>
#include <string.h>
#include "lower_elem.h"
#include "lower_update.h"

#define LB (L->b)

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
  LLVMValueRef v = gc_lower_elem[n->op](L, n, in[0], in[1]);
  char name[32];
  snprintf(name, sizeof name, "n%d", n->id);
  if (LLVMIsAInstruction(v) && !LLVMGetValueName2(v, &(size_t){0})[0]) LLVMSetValueName2(v, name, strlen(name));
  return v;
}

void lower_elem_kernel(Lower *L, Kernel *k, LLVMValueRef *vals) {
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
  LLVMValueRef own = lw_offset(L, idx, w->st[nops], w->rank);
  for (int i = 0; i < k->n; i++) {
    Node *n = k->nodes[i];
    LLVMValueRef in[2] = {NULL, NULL};
    for (int j = 0; j < n->nin; j++) {
      Node *x = n->in[j];
      int o = 0;
      while (o < nops && ops[o] != x) o++;
      if (L->e->kernel_of[x->id] == ki) in[j] = vals[x->id];
      else if (x->op == OP_CONST) in[j] = lw_f32(L, node_const(x)->value);
      else /* an i32 operand is copied whole (COPY into an i32 output: the only reader of one here) */
        in[j] = LLVMBuildLoad2(LB, x->dtype == DT_I32 ? L->i32 : L->f32,
                               lw_elem_ptr(L, x, lw_offset(L, idx, w->st[o], w->rank)), "");
    }
    L->elem_at = own; /* every member has the kernel's shape (dropout's draw reads it) */
    vals[n->id] = emit_member(L, n, in);
    if (lw_buffer(L, n)->kind != BUF_NONE) lw_store_off(L, n, own, vals[n->id]);
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
  if (x->op == OP_CONST) return lw_f32(L, node_const(x)->value);
  if (kernel_keeps(L->e, c, x))
    return LLVMTypeOf(R->vals[x->id]) == R->vt ? R->vals[x->id] : lw_splat(L, R->vt, R->vals[x->id]);
  LLVMValueRef p = lw_addr(L, x, R->idx, r);
  int64_t st[GC_MAX_RANK];
  shape_bstrides(x->shape, r, st);
  if (st[r - 1] == 0 || R->vt == L->f32) return lw_splat(L, R->vt, LLVMBuildLoad2(LB, L->f32, p, ""));
  return lw_masked_load(L, R->vt, p, R->valid);
}

static void rows_store(Lower *L, Rows *R, Node *n, LLVMValueRef v) {
  if (lw_buffer(L, n)->kind == BUF_NONE) return;
  LLVMValueRef p = lw_addr(L, n, R->idx, R->k->shape.rank);
  if (LLVMTypeOf(v) == L->f32) lw_vstore(L, v, p);
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
    if (gc_ops[n->op].evalr) { /* dropout draws at its element's index */
      int64_t st[GC_MAX_RANK];
      shape_bstrides(n->shape, R->k->shape.rank, st);
      L->elem_at = lw_offset(L, R->idx, st, R->k->shape.rank);
    }
    R->vals[n->id] = emit_member(L, n, in);
    rows_store(L, R, n, R->vals[n->id]);
    return;
  }
  LLVMValueRef unit = lw_f32(L, gc_ops[n->op].unit);
  if (R->vt != L->f32 && R->valid < (int)LLVMGetVectorSize(R->vt)) /* the lanes past the row's end */
    in[0] = LLVMBuildSelect(LB, lw_lane_mask(L, (int)LLVMGetVectorSize(R->vt), R->valid), in[0], unit, "");
  LLVMValueRef a = LLVMBuildLoad2(LB, R->vt, R->acc[t], "");
  LLVMBuildStore(LB, gc_lower_elem[n->op](L, n, a, in[0]), R->acc[t]);
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
    v = gc_lower_elem[n->op](L, n, lo, hi);
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

void lower_rows_kernel(Lower *L, Kernel *k, LLVMValueRef *vals) {
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
