/* lower.c — entry points to LLVM IR: one function per entry, one loop nest per kernel.
 *
 * Every tensor has a static shape, so loops have constant bounds and indices are
 * affine in the induction variables; LLVM's optimiser then unrolls, vectorises and
 * hoists. Each kernel is emitted into a function of its own and inlined back (alias
 * scopes), kept as a function (matrix products), or split into parts for the host's
 * thread pool; the gradient entries are wrappers of one core. The kernels themselves
 * come from lower_fused.c and the backend's operator table (lower_ops.h). Values are
 * named after their graph nodes (%n12) so the IR reads. */
#include "lower.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_fused.h"
#include "lower_ops.h"
#include "matmul.h"

#define LB (L->b)

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
    if (a->kind == ARG_INPUT || a->kind == ARG_HYPER || a->kind == ARG_SEED || (a->kind == ARG_PARAM && e->kind == ENTRY_FORWARD))
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
  if (k->kind == KER_ELEM) lower_elem_kernel(L, k, vals);
  else if (k->kind == KER_ROWS) lower_rows_kernel(L, k, vals);
  else gc_lower_kernel[k->nodes[0]->op](L, k);
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
  Buffer *b = lw_buffer(L, x);
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
  int most = k->n * (GC_MAX_ARITY + 1); /* each node and its inputs */
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
 * core, passing its own arguments where the core has the same, null optimizer state
 * buffers and zero hyper-parameters where it has none (mode 0 reads neither). */
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
      if (pub->args[j].kind == c->kind && pub->args[j].node == c->node && pub->args[j].slot == c->slot &&
          !strcmp(pub->args[j].name, c->name))
        args[i] = LLVMGetParam(fn, (unsigned)j);
    if (c->kind == ARG_HYPER && LLVMIsNull(args[i])) {
      LLVMValueRef zero = LLVMGetNamedGlobal(L->mod, "gradc.no_hyper");
      if (!zero) {
        LLVMTypeRef t = LLVMArrayType(L->f32, (unsigned)core->nhyper);
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
