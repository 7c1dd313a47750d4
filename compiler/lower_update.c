/* lower_update.c — storing a kernel's results, and the train step's parameter update.
 *
 * A value is stored into its node's buffer — unless the node is a trainable parameter's
 * gradient whose sink rides on the kernel that computes it: then the store is the
 * gradient epilogue, which (by the gradient core's mode) adds the gradient into the
 * gradient buffer (backward) or stores it and updates the parameter (train step). */
#include "lower_update.h"
#include <string.h>
#include "gradc/runtime_core.h" /* the optimizers' programs */

#define LB (L->b)

static LLVMValueRef ld(Lower *L, LLVMTypeRef t, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(LB, t, p, "");
  LLVMSetAlignment(v, LW_ALIGN);
  return v;
}
static void st(Lower *L, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(LB, v, p), LW_ALIGN); }

/* The train step's argument of the given kind for param (STATE: its state tensor slot). */
static LLVMValueRef train_arg(Lower *L, ArgKind kind, const Node *param, int slot) {
  for (int i = 0; i < L->e->nargs; i++) {
    const Arg *a = &L->e->args[i];
    if (a->kind == kind && a->node == param && (kind != ARG_STATE || a->slot == slot)) return L->args[i];
  }
  GC_ASSERT(!"train-step argument missing");
}

/* The optimizer's values the train step reads (Entry.nhyper of them), loaded here:
 * volatile, because a value hoisted out of the loops would take a register from the
 * micro-kernels, which need all of them. */
void lw_load_hyper(Lower *L, LLVMValueRef *hyper) {
  LLVMValueRef base = train_arg(L, ARG_HYPER, NULL, 0);
  for (int h = 0; h < L->e->nhyper; h++) {
    LLVMValueRef hi = lw_ix(L, h);
    hyper[h] = LLVMBuildLoad2(LB, L->f32, LLVMBuildGEP2(LB, L->f32, base, &hi, 1, ""), "hyper");
    LLVMSetVolatile(hyper[h], 1);
  }
}

/* ---- the optimizer's program (runtime_core.h) as LLVM IR ----
 * Its registers become LLVM values of the gradient's type (a float or a vector): the
 * parameter and each state tensor loaded at first use and stored back at the end,
 * values splat at first use. An instruction under a guard that a state tensor also has
 * is emitted in the branch where that guard holds (the tensor is neither read nor
 * written in the other); under any other guard, it is a select that keeps the
 * register's old value where the guard is off. Guards of user hyper-parameters past
 * the ones the entry reads (Entry.nhyper) are off at compile time: those instructions
 * and state tensors are not emitted. */

typedef struct {
  const gradc_optimizer *o;
  Node *param;
  LLVMValueRef off;               /* the element offset */
  LLVMTypeRef t;                  /* float or vector */
  const LLVMValueRef *hyper;      /* loaded, scalars */
  LLVMValueRef r[GRADC_OPT_NREGS]; /* by register: its value, or NULL */
  bool all_off;                   /* every guard known off (the branch-free plain step) */
} Update;

static LLVMValueRef param_ptr(Lower *L, Update *u, int r) {
  LLVMValueRef base = r == GRADC_R_P ? train_arg(L, ARG_PARAM, u->param, 0)
                                     : train_arg(L, ARG_STATE, u->param, r - GRADC_R_STATE(0));
  return LLVMBuildGEP2(LB, L->f32, base, &u->off, 1, "");
}

static LLVMValueRef reg(Lower *L, Update *u, int r) {
  if (u->r[r]) return u->r[r];
  if (r >= GRADC_R_HYPER(0) && r < GRADC_R_TEMP(0)) {
    GC_ASSERT(r < GRADC_R_HYPER(L->e->nhyper) && "a value the train step does not read");
    return u->r[r] = lw_splat(L, u->t, u->hyper[r - GRADC_R_HYPER(0)]);
  }
  GC_ASSERT(r == GRADC_R_P || (r >= GRADC_R_STATE(0) && r < GRADC_R_STATE(u->o->nstate)));
  return u->r[r] = ld(L, u->t, param_ptr(L, u, r));
}

/* The guards off at compile time: user hyper-parameters the entry does not read. */
static unsigned fixed_off(Lower *L) {
  const gradc_optimizer *o = L->e->optimizer;
  return ((1u << o->nhyper) - 1) & ~((1u << L->e->nhyper) - 1);
}

/* The guards that state tensors have (each a branch), but those off at compile time. */
static unsigned branch_guards(Lower *L) {
  unsigned b = 0;
  for (int s = 0; s < L->e->optimizer->nstate; s++) b |= L->e->optimizer->state_guard[s];
  return b & ~fixed_off(L);
}

/* i1: every guard in g holds. */
static LLVMValueRef guards_hold(Lower *L, Update *u, unsigned g) {
  LLVMValueRef c = NULL;
  for (int h = 0; g; h++, g >>= 1) {
    if (!(g & 1)) continue;
    LLVMValueRef one = LLVMBuildFCmp(LB, LLVMRealUNE, u->hyper[h], lw_f32(L, 0), "");
    c = c ? LLVMBuildAnd(LB, c, one, "") : one;
  }
  return c;
}

static LLVMValueRef op(Lower *L, Update *u, const gradc_opi *in) {
  LLVMValueRef a = reg(L, u, in->a);
  switch ((gradc_opi_code)in->op) {
  case GRADC_OPI_MOV: return a;
  case GRADC_OPI_ADD: return LLVMBuildFAdd(LB, a, reg(L, u, in->b), "");
  case GRADC_OPI_SUB: return LLVMBuildFSub(LB, a, reg(L, u, in->b), "");
  case GRADC_OPI_MUL: return LLVMBuildFMul(LB, a, reg(L, u, in->b), "");
  case GRADC_OPI_DIV: return LLVMBuildFDiv(LB, a, reg(L, u, in->b), "");
  case GRADC_OPI_SQRT: return lw_call_intrinsic(L, "llvm.sqrt", a);
  case GRADC_OPI_MAX: { /* a if a > b or a is NaN, else b: as the core's */
    LLVMValueRef b = reg(L, u, in->b);
    LLVMValueRef pick = LLVMBuildOr(LB, LLVMBuildFCmp(LB, LLVMRealOGT, a, b, ""), LLVMBuildFCmp(LB, LLVMRealUNO, a, a, ""), "");
    return LLVMBuildSelect(LB, pick, a, b, "");
  }
  }
  GC_ASSERT(!"unknown optimizer instruction");
}

/* Instructions [from, to) where the state guards in `on` hold (the other branch
 * guards do not). */
static void run(Lower *L, Update *u, int from, int to, unsigned on) {
  unsigned branch = branch_guards(L), fixed = fixed_off(L);
  for (int i = from; i < to; i++) {
    const gradc_opi *in = &u->o->insns[i];
    if ((in->guard & fixed) || (in->guard && u->all_off) || (in->guard & branch & ~on)) continue;
    LLVMValueRef v = op(L, u, in);
    unsigned sel = in->guard & ~branch;
    if (sel) { /* off, the register keeps its value (if it has one) */
      bool memory = in->dst == GRADC_R_P || (in->dst >= GRADC_R_STATE(0) && in->dst < GRADC_R_HYPER(0));
      LLVMValueRef old = memory ? reg(L, u, in->dst) : u->r[in->dst];
      if (old) v = LLVMBuildSelect(LB, guards_hold(L, u, sel), v, old, "");
    }
    u->r[in->dst] = v;
  }
}

/* The state tensors that exist under `on` and were written, then the parameter. */
static void write_back(Lower *L, Update *u, unsigned on) {
  for (int s = 0; s < u->o->nstate; s++) {
    unsigned g = u->o->state_guard[s];
    bool written = false;
    for (int i = 0; i < u->o->ninsns; i++) written |= u->o->insns[i].dst == GRADC_R_STATE(s);
    if (written && (!g || (!u->all_off && (on & g)))) st(L, reg(L, u, GRADC_R_STATE(s)), param_ptr(L, u, GRADC_R_STATE(s)));
  }
  st(L, reg(L, u, GRADC_R_P), param_ptr(L, u, GRADC_R_P));
}

/* The rest of the program from instruction `from`, one branch per state guard from the
 * k-th on (guards: the distinct state guards), each ending at `done`. */
static void variants(Lower *L, Update *u, int from, const unsigned *guards, int nguards, int k, unsigned on,
                     LLVMBasicBlockRef done) {
  if (k == nguards) {
    run(L, u, from, u->o->ninsns, on);
    write_back(L, u, on);
    LLVMBuildBr(LB, done);
    return;
  }
  LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "update_with");
  LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "update_without");
  LLVMBuildCondBr(LB, guards_hold(L, u, guards[k]), yes, no);
  Update saved = *u;
  LLVMPositionBuilderAtEnd(LB, yes);
  variants(L, u, from, guards, nguards, k + 1, on | guards[k], done);
  *u = saved;
  LLVMPositionBuilderAtEnd(LB, no);
  variants(L, u, from, guards, nguards, k + 1, on, done);
}

/* The optimizer's step on parameter p's elements at offset off, with gradient g. */
static void update(Lower *L, Node *p, LLVMValueRef off, LLVMValueRef g, const LLVMValueRef *hyper, bool all_off) {
  const gradc_optimizer *o = L->e->optimizer;
  Update u = {o, p, off, LLVMTypeOf(g), hyper, {0}, all_off};
  u.r[GRADC_R_G] = g;
  unsigned guards[GRADC_OPT_MAX_STATE], branch = all_off ? 0 : branch_guards(L);
  int nguards = 0, first = o->ninsns;
  for (int s = 0; s < o->nstate; s++) {
    bool seen = !(o->state_guard[s] & branch);
    for (int k = 0; k < nguards; k++) seen |= guards[k] == o->state_guard[s];
    if (!seen) guards[nguards++] = o->state_guard[s];
  }
  for (int i = 0; i < o->ninsns; i++) /* the common prefix: before the first branch */
    if ((o->insns[i].guard & branch) && !(o->insns[i].guard & fixed_off(L)) && i < first) first = i;
  run(L, &u, 0, first, 0);
  if (!nguards) return write_back(L, &u, 0);
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "update_done");
  variants(L, &u, first, guards, nguards, 0, 0, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

/* A parameter's gradient g (float or vector) at element offset off, by the core's
 * mode: 0 (M_backward) adds it into the gradient buffer; 1 (M_train_step) stores it and
 * applies the optimizer's update to the parameter and its state. */
static void grad_epilogue(Lower *L, Node *sink, LLVMValueRef gp, LLVMValueRef off, LLVMValueRef g) {
  LLVMTypeRef t = LLVMTypeOf(g);
  LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_add");
  LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_update");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "grad_done");
  LLVMBuildCondBr(LB, L->train, step, add);
  LLVMPositionBuilderAtEnd(LB, add);
  st(L, LLVMBuildFAdd(LB, ld(L, t, gp), g, "acc"), gp);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, step);
  st(L, g, gp);
  LLVMValueRef hyper[GRADC_OPT_MAX_VALUES];
  if (L->hyper[0]) memcpy(hyper, L->hyper, sizeof hyper);
  else lw_load_hyper(L, hyper);
  update(L, sink->in[1], off, g, hyper, false);
  LLVMBuildBr(LB, done);
  LLVMPositionBuilderAtEnd(LB, done);
}

/* i1: train-step mode with every guard of the optimizer off (SGD: momentum and weight
 * decay 0), under the hyper values h; then lw_store_update_plain may stand for lw_store
 * on a gradient with an update sink. */
LLVMValueRef lw_update_plain(Lower *L, const LLVMValueRef *h) {
  const gradc_optimizer *o = L->e->optimizer;
  unsigned used = 0;
  for (int s = 0; s < o->nstate; s++) used |= o->state_guard[s];
  for (int i = 0; i < o->ninsns; i++) used |= o->insns[i].guard;
  used &= ~fixed_off(L);
  LLVMValueRef plain = L->train;
  for (int g = 0; g < o->nhyper; g++)
    if (used & GRADC_IF(g)) plain = LLVMBuildAnd(LB, plain, LLVMBuildFCmp(LB, LLVMRealOEQ, h[g], lw_f32(L, 0), ""), "");
  return plain;
}

/* The gradient g of x's update sink at idx, where lw_update_plain holds: g stored, the
 * update with every guard off (SGD: p -= lr g). No branches, so that a block of these
 * stays straight-line code. L->hyper holds the loaded hyper-parameters. */
void lw_store_update_plain(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef g) {
  int64_t s[GC_MAX_RANK];
  shape_bstrides(x->shape, x->shape.rank, s);
  LLVMValueRef off = lw_offset(L, idx, s, x->shape.rank);
  st(L, g, lw_elem_ptr(L, x, off));
  update(L, lw_buffer(L, x)->sgd->in[1], off, g, L->hyper, true);
}

/* Stores v at element offset off of x's own buffer (see lw_store). */
void lw_store_off(Lower *L, Node *x, LLVMValueRef off, LLVMValueRef v) {
  LLVMValueRef p = lw_elem_ptr(L, x, off);
  Buffer *b = lw_buffer(L, x);
  if (b->sgd) return grad_epilogue(L, b->sgd, p, off, v);
  st(L, v, p);
}

void lw_store(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef v) {
  int64_t s[GC_MAX_RANK];
  shape_bstrides(x->shape, x->shape.rank, s);
  lw_store_off(L, x, lw_offset(L, idx, s, x->shape.rank), v);
}

bool lw_applies_update(Lower *L, Node *x) { return lw_buffer(L, x)->sgd != NULL; }
