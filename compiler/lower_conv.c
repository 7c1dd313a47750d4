/* lower_conv.c — conv2d forward as a direct convolution on vectors (issue 17): each
 * register block holds CO output channels x CV vectors of consecutive output columns of
 * one output row; per window element (kh, kw) and input channel c it loads CV vectors
 * of the input row (strided lanes for a stride > 1) and broadcasts CO weights, CO x CV
 * independent fused multiply-adds (matmul.c's micro-kernel shape, with K = C*KH*KW
 * gathered straight from the image). Padding: a window row outside the input is
 * skipped; a window column reaching into the padding loads through a lane mask (zeros),
 * the interior with plain vector loads. Stores of the last, partial block of a row are
 * masked. Groups == 1 only, on targets with vectors; em_conv2d (lower_window.c) keeps
 * the scalar loop nest for every other case. Layout NCHW, weights OIHW. */
#include "lower_conv.h"
#include "lower_update.h"
#include "opinfo.h"
#include <string.h>

#define LB (L->b)
#define CO 6 /* output channels per register block */
#define CV 2 /* vectors of output columns per register block (at most) */

typedef struct {
  Node *n, *x, *w;
  const ConvAttr *cv;
  int64_t C, H, W, O, OH, OW, KH, KW;
  int vw, nv;      /* floats per vector, vectors per block row */
  LLVMTypeRef vt, ivt; /* <vw x float>, <vw x ix> */
} Cv;

static LLVMValueRef add(Lower *L, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(LB, a, b, ""); }
static LLVMValueRef addc(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(LB, a, lw_ix(L, b), ""); }
static LLVMValueRef mulc(Lower *L, LLVMValueRef a, int64_t b) { return LLVMBuildMul(LB, a, lw_ix(L, b), ""); }
static LLVMValueRef fptr(Lower *L, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildGEP2(LB, L->f32, base, &off, 1, "");
}

/* A call of overloaded intrinsic `name` over types tys. */
static LLVMValueRef intrinsic(Lower *L, const char *name, LLVMTypeRef *tys, int nt, LLVMValueRef *args, int na) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(L->mod, id, tys, (size_t)nt);
  return LLVMBuildCall2(LB, LLVMIntrinsicGetType(L->ctx, id, tys, (size_t)nt), fn, args, (unsigned)na, "");
}

/* <base + e * step> for lanes e, as an index vector. */
static LLVMValueRef lanes_from(Lower *L, Cv *c, LLVMValueRef base, int64_t step) {
  LLVMValueRef k[64];
  for (int e = 0; e < c->vw; e++) k[e] = lw_ix(L, e * step);
  return LLVMBuildAdd(LB, lw_splat(L, c->ivt, base), LLVMConstVector(k, (unsigned)c->vw), "");
}
static LLVMValueRef all_true(Lower *L, Cv *c) { return lw_lane_mask(L, c->vw, c->vw); }

/* vw input elements of row `row` from column iw (stride s between lanes), masked lanes 0. */
static LLVMValueRef load_x(Lower *L, Cv *c, LLVMValueRef row, LLVMValueRef iw, LLVMValueRef mask) {
  int64_t s = c->cv->stride[1];
  LLVMValueRef align = LLVMConstInt(L->i32, LW_ALIGN, 0), zero = LLVMConstNull(c->vt);
  if (s == 1 && !mask) return lw_vload(L, c->vt, fptr(L, row, iw));
  if (s == 1) {
    LLVMTypeRef tys[2] = {c->vt, L->ptr};
    LLVMValueRef args[4] = {fptr(L, row, iw), align, mask, zero};
    return intrinsic(L, "llvm.masked.load", tys, 2, args, 4);
  }
  LLVMValueRef off = lanes_from(L, c, iw, s);
  LLVMValueRef ptrs = LLVMBuildGEP2(LB, L->f32, row, &off, 1, "");
  LLVMTypeRef tys[2] = {c->vt, LLVMTypeOf(ptrs)};
  LLVMValueRef args[4] = {ptrs, align, mask ? mask : all_true(L, c), zero};
  return intrinsic(L, "llvm.masked.gather", tys, 2, args, 4);
}

/* acc[r][v] += w[o0 + r, ch, kh, kw] * x[b, ch, ih, iw0 + (v * vw + lane) * s] over the
 * input channels ch; masks[v] (or NULL: all inside) says which lanes are inside. */
static void channel_loop(Lower *L, Cv *c, LLVMValueRef acc[CO][CV], int co, LLVMValueRef xplane, LLVMValueRef wbase,
                         LLVMValueRef iw0, LLVMValueRef *masks) {
  Loop lc;
  LLVMValueRef ch = lw_loop(L, &lc, c->C, "c");
  LLVMValueRef row = fptr(L, xplane, mulc(L, ch, c->H * c->W));
  LLVMValueRef wp = fptr(L, wbase, mulc(L, ch, c->KH * c->KW));
  LLVMValueRef xv[CV];
  for (int v = 0; v < c->nv; v++)
    xv[v] = load_x(L, c, row, addc(L, iw0, (int64_t)v * c->vw * c->cv->stride[1]), masks ? masks[v] : NULL);
  for (int r = 0; r < co; r++) {
    LLVMValueRef a = LLVMBuildLoad2(LB, L->f32, fptr(L, wp, lw_ix(L, r * c->C * c->KH * c->KW)), "w");
    LLVMValueRef av = lw_splat(L, c->vt, a);
    for (int v = 0; v < c->nv; v++)
      LLVMBuildStore(LB, lw_fmuladd(L, av, xv[v], LLVMBuildLoad2(LB, c->vt, acc[r][v], "")), acc[r][v]);
  }
  lc.no_unroll = true;
  lw_loop_end(L, &lc);
}

/* if (cond) { then() } as blocks; returns the join block (the builder is at `yes`). */
static LLVMBasicBlockRef open_if(Lower *L, LLVMValueRef cond, LLVMBasicBlockRef *no) {
  LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "then");
  *no = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "else");
  LLVMBuildCondBr(LB, cond, yes, *no);
  LLVMPositionBuilderAtEnd(LB, yes);
  return yes;
}

/* One window column kw: plain loads when every lane's column lies inside the input,
 * masked loads otherwise. */
static void window_column(Lower *L, Cv *c, LLVMValueRef acc[CO][CV], int co, LLVMValueRef xplane, LLVMValueRef wbase,
                          LLVMValueRef ow0, int64_t kw) {
  const ConvAttr *cv = c->cv;
  int64_t s = cv->stride[1], span = ((int64_t)c->nv * c->vw - 1) * s;
  LLVMValueRef iw0 = addc(L, mulc(L, ow0, s), kw * cv->dil[1] - cv->lo[1]);
  LLVMValueRef inside = LLVMBuildAnd(LB, LLVMBuildICmp(LB, LLVMIntSGE, iw0, lw_ix(L, 0), ""),
                                     LLVMBuildICmp(LB, LLVMIntSLT, addc(L, iw0, span), lw_ix(L, c->W), ""), "");
  LLVMBasicBlockRef edge, join = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "col_done");
  open_if(L, inside, &edge);
  channel_loop(L, c, acc, co, xplane, fptr(L, wbase, lw_ix(L, kw)), iw0, NULL);
  LLVMBuildBr(LB, join);
  LLVMPositionBuilderAtEnd(LB, edge);
  LLVMValueRef masks[CV];
  for (int v = 0; v < c->nv; v++) {
    LLVMValueRef iw = lanes_from(L, c, addc(L, iw0, (int64_t)v * c->vw * s), s);
    masks[v] = LLVMBuildICmp(LB, LLVMIntULT, iw, lw_splat(L, c->ivt, lw_ix(L, c->W)), "inside");
  }
  channel_loop(L, c, acc, co, xplane, fptr(L, wbase, lw_ix(L, kw)), iw0, masks);
  LLVMBuildBr(LB, join);
  LLVMPositionBuilderAtEnd(LB, join);
}

/* The block's results stored: whole vectors, or lanes before OW in the row's last block. */
static void store_block(Lower *L, Cv *c, LLVMValueRef acc[CO][CV], int co, LLVMValueRef obase, LLVMValueRef ow0) {
  LLVMValueRef whole = LLVMBuildICmp(LB, LLVMIntSLE, addc(L, ow0, (int64_t)c->nv * c->vw), lw_ix(L, c->OW), "");
  LLVMBasicBlockRef part, join = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "stored");
  for (int t = 0; t < 2; t++) {
    if (t == 0) open_if(L, whole, &part);
    else LLVMPositionBuilderAtEnd(LB, part);
    for (int r = 0; r < co; r++)
      for (int v = 0; v < c->nv; v++) {
        LLVMValueRef col = addc(L, ow0, (int64_t)v * c->vw);
        LLVMValueRef p = fptr(L, obase, add(L, lw_ix(L, r * c->OH * c->OW), col));
        LLVMValueRef val = LLVMBuildLoad2(LB, c->vt, acc[r][v], "");
        if (t == 0) {
          lw_vstore(L, val, p);
          continue;
        }
        LLVMValueRef mask = LLVMBuildICmp(LB, LLVMIntSLT, lanes_from(L, c, col, 1), lw_splat(L, c->ivt, lw_ix(L, c->OW)), "");
        LLVMTypeRef tys[2] = {c->vt, L->ptr};
        LLVMValueRef args[4] = {val, p, LLVMConstInt(L->i32, LW_ALIGN, 0), mask};
        intrinsic(L, "llvm.masked.store", tys, 2, args, 4);
      }
    LLVMBuildBr(LB, join);
  }
  LLVMPositionBuilderAtEnd(LB, join);
}

/* Output channels [o0, o0 + co) of image b, every output row and column block. */
static void channel_block(Lower *L, Cv *c, LLVMValueRef b, LLVMValueRef o0, int co) {
  const ConvAttr *cv = c->cv;
  LLVMValueRef xbase = lw_elem_ptr(L, c->x, mulc(L, b, c->C * c->H * c->W));
  LLVMValueRef wo = lw_elem_ptr(L, c->w, mulc(L, o0, c->C * c->KH * c->KW));
  LLVMValueRef obase = lw_elem_ptr(L, c->n, mulc(L, add(L, mulc(L, b, c->O), o0), c->OH * c->OW));
  Loop lh, lb, lk;
  LLVMValueRef oh = lw_loop(L, &lh, c->OH, "oh");
  int64_t bw = (int64_t)c->nv * c->vw;
  LLVMValueRef ow0 = mulc(L, lw_loop(L, &lb, (c->OW + bw - 1) / bw, "owb"), bw);
  LLVMValueRef acc[CO][CV];
  for (int r = 0; r < co; r++)
    for (int v = 0; v < c->nv; v++) {
      acc[r][v] = lw_slot(L, c->vt, "acc");
      LLVMBuildStore(LB, LLVMConstNull(c->vt), acc[r][v]);
    }
  LLVMValueRef kh = lw_loop(L, &lk, c->KH, "kh");
  LLVMValueRef ih = add(L, addc(L, mulc(L, oh, cv->stride[0]), -cv->lo[0]), mulc(L, kh, cv->dil[0]));
  LLVMBasicBlockRef skip;
  open_if(L, LLVMBuildICmp(LB, LLVMIntULT, ih, lw_ix(L, c->H), "row_inside"), &skip);
  LLVMValueRef xplane = fptr(L, xbase, mulc(L, ih, c->W));
  LLVMValueRef wbase = fptr(L, wo, mulc(L, kh, c->KW));
  for (int64_t kw = 0; kw < c->KW; kw++) window_column(L, c, acc, co, xplane, wbase, ow0, kw);
  LLVMBuildBr(LB, skip);
  LLVMPositionBuilderAtEnd(LB, skip);
  lk.no_unroll = true;
  lw_loop_end(L, &lk);
  store_block(L, c, acc, co, fptr(L, obase, mulc(L, oh, c->OW)), ow0);
  lb.no_unroll = lh.no_unroll = true;
  lw_loop_end(L, &lb), lw_loop_end(L, &lh);
}

bool conv_fast_fits(Lower *L, Kernel *k) {
  Node *n = k->nodes[0], *x = n->in[0], *w = n->in[1];
  const ConvAttr *cv = node_conv(n);
  if (L->vw < 2 || L->vw > 64 || k->n != 1 || cv->groups != 1) return false;
  if (x->op == OP_CONST || w->op == OP_CONST || lw_applies_update(L, n)) return false;
  if (n->dtype != DT_F32 || x->dtype != DT_F32 || w->dtype != DT_F32) return false;
  return n->shape.rank == 4 && x->shape.rank == 4 && w->shape.rank == 4 && w->shape.d[2] * w->shape.d[3] <= 64;
}

void em_conv2d_fast(Lower *L, Kernel *k) {
  Node *n = k->nodes[0];
  Cv c = {.n = n, .x = n->in[0], .w = n->in[1], .cv = node_conv(n), .vw = L->vw};
  c.C = c.x->shape.d[1], c.H = c.x->shape.d[2], c.W = c.x->shape.d[3];
  c.O = n->shape.d[1], c.OH = n->shape.d[2], c.OW = n->shape.d[3];
  c.KH = c.w->shape.d[2], c.KW = c.w->shape.d[3];
  c.nv = (int)((c.OW + c.vw - 1) / c.vw < CV ? (c.OW + c.vw - 1) / c.vw : CV);
  c.vt = LLVMVectorType(L->f32, (unsigned)c.vw), c.ivt = LLVMVectorType(L->ix, (unsigned)c.vw);
  Loop lb, lo;
  int64_t images = n->shape.d[0] / k->parts; /* a part's images (schedule.c: parts divide the batch) */
  LLVMValueRef b = lw_loop(L, &lb, images, "n");
  if (k->parts > 1) b = add(L, b, mulc(L, L->part, images));
  int64_t whole = c.O / CO, rest = c.O % CO;
  if (whole) {
    LLVMValueRef o0 = mulc(L, lw_loop(L, &lo, whole, "ob"), CO);
    channel_block(L, &c, b, o0, CO);
    lo.no_unroll = true;
    lw_loop_end(L, &lo);
  }
  if (rest) channel_block(L, &c, b, lw_ix(L, whole * CO), (int)rest);
  lb.no_unroll = true;
  lw_loop_end(L, &lb);
}
