/* lower_update.c — storing a kernel's results, and the train step's parameter update.
 *
 * A value is stored into its node's buffer — unless the node is a trainable parameter's
 * gradient whose sink rides on the kernel that computes it: then the store is the
 * gradient epilogue, which (by the gradient core's mode) adds the gradient into the
 * gradient buffer (backward) or stores it and updates the parameter (train step). */
#include "lower_update.h"
#include <string.h>

#define LB (L->b)

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
  LLVMValueRef off = lw_offset(L, idx, s, x->shape.rank);
  Node *p = lw_buffer(L, x)->sgd->in[1];
  LLVMValueRef pp = LLVMBuildGEP2(LB, L->f32, L->args[arg_of_kind(L, ARG_PARAM, p)], &off, 1, "");
  LLVMTypeRef t = LLVMTypeOf(g);
  st(L, g, lw_elem_ptr(L, x, off));
  st(L, LLVMBuildFSub(LB, ld(L, t, pp), LLVMBuildFMul(LB, lw_splat(L, t, lr), g, ""), "p"), pp);
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

bool lw_applies_sgd(Lower *L, Node *x) { return lw_buffer(L, x)->sgd != NULL; }
