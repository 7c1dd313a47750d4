/* emit.c — the files gradc writes: objects, assembly, LLVM IR, shared objects, the C
 * header and the descriptor every object carries.
 *
 * Every file is written to a temporary name in the target's directory and renamed into
 * place once complete (common/outfile.h; a device such as /dev/null is written in
 * place), so an interrupted or failed compile never leaves a partial output. A shared
 * object is linked from the objects by the system C compiler driver (`cc -shared`, or
 * gc_options.cc: the driver's $GRADC_CC). */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include "emit.h"
#include "outfile.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Object.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------- descriptor */

#define DESCRIPTOR_SECTION ".rodata.gradc_descriptor"
#define DESCRIPTOR_MACHO "__gradc_desc" /* Mach-O: segment,section, a section at most 16 characters */

static cJSON *shape_json(Shape s) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < s.rank; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s.d[i]));
  return a;
}

static cJSON *tensor_json(const char *name, const char *role, const Node *n) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "name", name);
  cJSON_AddStringToObject(t, "role", role);
  cJSON_AddStringToObject(t, "dtype", dtype_name(n->dtype));
  cJSON_AddItemToObject(t, "shape", shape_json(n->shape));
  if (n->batched) cJSON_AddBoolToObject(t, "batched", true);
  if (n->dtype == DT_I32 && n->classes) cJSON_AddNumberToObject(t, "classes", (double)n->classes);
  if (!strcmp(role, "param")) {
    cJSON_AddBoolToObject(t, "trainable", n->trainable);
    if (n->buffer) cJSON_AddBoolToObject(t, "buffer", true); /* model state (issue 15) */
    cJSON *in = cJSON_CreateObject();
    static const char *kinds[] = {"const", "normal", "uniform"};
    cJSON_AddStringToObject(in, "kind", kinds[n->init.kind]);
    if (n->init.kind == INIT_CONST) cJSON_AddNumberToObject(in, "value", n->init.a);
    if (n->init.kind == INIT_NORMAL) cJSON_AddNumberToObject(in, "std", n->init.a);
    if (n->init.kind == INIT_UNIFORM) {
      cJSON_AddNumberToObject(in, "lo", n->init.a);
      cJSON_AddNumberToObject(in, "hi", n->init.b);
    }
    cJSON_AddItemToObject(t, "init", in);
  }
  return t;
}

/* "state:PARAM" for SGD's one state tensor (as before there were others), else
 * "state:STATE:PARAM" (docs/FORMATS.md). */
static const char *arg_spec(Arena *a, const Entry *e, const Arg *arg) {
  switch (arg->kind) {
  case ARG_INPUT: return arena_printf(a, "input:%s", arg->name);
  case ARG_PARAM: return arena_printf(a, "param:%s", arg->name);
  case ARG_GRAD: return arena_printf(a, "grad:%s", arg->name);
  case ARG_STATE:
    if (e->optimizer == &gradc_optimizer_sgd) return arena_printf(a, "state:%s", arg->name);
    return arena_printf(a, "state:%s:%s", e->optimizer->state_names[arg->slot], arg->name);
  case ARG_HYPER: return "hyper";
  case ARG_SEED: return "seed"; /* dropout and modes (issue 15) */
  case ARG_OUTPUT: return arena_printf(a, "output:%s", arg->name);
  case ARG_LOSS: return "loss";
  case ARG_WORKSPACE: return "workspace";
  }
  return "?";
}

/* The train step's rule: {"name": "adam", "hyper": [the values its hyper argument holds],
 * "state": [its state tensors' names]}. */
static cJSON *optimizer_json(const Entry *e) {
  const gradc_optimizer *o = e->optimizer;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", o->name);
  cJSON *h = cJSON_AddArrayToObject(j, "hyper");
  for (int i = 0; i < e->nhyper; i++) cJSON_AddItemToArray(h, cJSON_CreateString(o->hyper_names[i]));
  cJSON *s = cJSON_AddArrayToObject(j, "state");
  for (int i = 0; i < o->nstate; i++) cJSON_AddItemToArray(s, cJSON_CreateString(o->state_names[i]));
  return j;
}

char *descriptor_json(const Unit *u) {
  Graph *g = u->g;
  const Entry *fwd = u->entries[0];
  cJSON *d = cJSON_CreateObject();
  cJSON_AddNumberToObject(d, "gradc", 1);
  cJSON_AddStringToObject(d, "model", g->model);
  cJSON_AddNumberToObject(d, "workspace_bytes", (double)u->ws_bytes);
  bool has_loss = false;
  for (int i = 0; i < fwd->nargs; i++) has_loss |= fwd->args[i].kind == ARG_LOSS;
  if (has_loss) cJSON_AddStringToObject(d, "loss", "loss");
  else cJSON_AddNullToObject(d, "loss");
  cJSON *ts = cJSON_AddArrayToObject(d, "tensors");
  for (int i = 0; i < fwd->nargs; i++) {
    const Arg *a = &fwd->args[i];
    if (a->kind == ARG_INPUT) cJSON_AddItemToArray(ts, tensor_json(a->name, "input", a->node));
    if (a->kind == ARG_PARAM) cJSON_AddItemToArray(ts, tensor_json(a->name, "param", a->node));
    if (a->kind == ARG_OUTPUT) cJSON_AddItemToArray(ts, tensor_json(a->name, "output", a->node));
  }
  if (u->parallel) cJSON_AddStringToObject(d, "parallel", arena_printf(g->arena, "%s_set_parallel", g->model));
  cJSON *es = cJSON_AddArrayToObject(d, "entries");
  for (int k = 0; k < u->nentries; k++) {
    const Entry *e = u->entries[k];
    cJSON *ej = cJSON_CreateObject();
    cJSON_AddStringToObject(ej, "name", e->name);
    static const char *const kinds[] = {"forward", "backward", "train_step"};
    cJSON_AddStringToObject(ej, "kind", kinds[e->kind]);
    cJSON_AddStringToObject(ej, "packed", arena_printf(g->arena, "%s_packed", e->name));
    if (e->optimizer) cJSON_AddItemToObject(ej, "optimizer", optimizer_json(e));
    cJSON *args = cJSON_AddArrayToObject(ej, "args");
    for (int i = 0; i < e->nargs; i++) cJSON_AddItemToArray(args, cJSON_CreateString(arg_spec(g->arena, e, &e->args[i])));
    cJSON_AddItemToArray(es, ej);
  }
  char *text = cJSON_PrintUnformatted(d);
  char *copy = arena_strdup(g->arena, text);
  cJSON_free(text);
  cJSON_Delete(d);
  return copy;
}

/* `const char *NAME(void) { return "<json>"; }`; the string and each function in a
 * section of its own (emit_prepare_codegen names the functions'), so that a firmware
 * link with --gc-sections drops them when nothing asks for the descriptor. */
static void emit_descriptor_fn(Lower *L, const char *name, LLVMValueRef str) {
  LLVMTypeRef fty = LLVMFunctionType(L->ptr, NULL, 0, 0);
  LLVMValueRef fn = LLVMAddFunction(L->mod, name, fty);
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(L->ctx, nounwind, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(L->ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(L->ctx, fn, "entry"));
  LLVMBuildRet(b, str);
  LLVMDisposeBuilder(b);
}

void emit_descriptor(Lower *L, const Unit *u, bool fixed_symbol) {
  const char *json = descriptor_json(u);
  LLVMValueRef init = LLVMConstStringInContext(L->ctx, json, (unsigned)strlen(json), 0);
  LLVMValueRef gv = LLVMAddGlobal(L->mod, LLVMTypeOf(init), "gradc.descriptor");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetSection(gv, emit_object_format(LLVMGetTarget(L->mod)) == OBJ_MACHO ? "__TEXT," DESCRIPTOR_MACHO
                                                                            : DESCRIPTOR_SECTION);
  emit_descriptor_fn(L, arena_printf(u->g->arena, "%s_descriptor", u->g->model), gv);
  if (fixed_symbol) emit_descriptor_fn(L, "gradc_model_descriptor", gv);
}

/* ---------------------------------------------------------------- header */

static char *upper(Arena *a, const char *s) {
  char *u = arena_strdup(a, s);
  for (char *p = u; *p; p++) *p = (char)toupper((unsigned char)*p);
  return u;
}

/* The C type of an argument (the pointer's target, with const where it is only read). */
static const char *header_type(const Entry *e, const Arg *a) {
  switch (a->kind) {
  case ARG_INPUT: return a->node->dtype == DT_I32 ? "const int32_t" : "const float";
  case ARG_OUTPUT: return a->node->dtype == DT_I32 ? "int32_t" : "float";
  case ARG_PARAM: /* a buffer: the backward entry updates it too (batch norm and buffers, issue 15) */
    return e->kind == ENTRY_TRAIN || (e->kind == ENTRY_BACKWARD && a->node->buffer) ? "float" : "const float";
  case ARG_HYPER: return "const float";
  case ARG_SEED: return "const uint64_t"; /* dropout and modes (issue 15): the step seed */
  case ARG_WORKSPACE: return "void";
  default: return "float"; /* grads, momentum, outputs, loss */
  }
}

/* MODEL_U_SIZE (and MODEL_U_INIT for a param), U the upper-cased name (made unique in
 * emit_header: x and X would both be X). */
static void header_size(FILE *f, const char *M, const char *U, const char *role, const Arg *ar, Arena *a) {
  const Node *n = ar->node;
  fprintf(f, "#define %s_%s_SIZE %lld /* %s %s %s%s */\n", M, U, (long long)shape_count(n->shape), role, ar->name,
          dtype_name(n->dtype), shape_str(a, n->shape));
  if (n->op == OP_PARAM && !strncmp(role, "param", 5)) { /* for gradc_core_init_tensor on a device */
    static const char *kinds[] = {"const", "normal(std)", "uniform(lo, hi)"};
    fprintf(f, "#define %s_%s_INIT {%d, %.17g, %.17g} /* gradc_init_spec: %s */\n", M, U, (int)n->init.kind,
            n->init.a, n->init.b, kinds[n->init.kind]);
  }
}

/* text as comment lines " * ..." of at most 88 columns, broken at spaces; the last line
 * without its newline. */
static void wrap(FILE *f, const char *text) {
  const char *p = text;
  while (*p) {
    size_t n = strlen(p);
    if (n > 85) {
      n = 85;
      while (n > 0 && p[n] != ' ') n--;
      if (!n) n = strcspn(p, " ");
    }
    fprintf(f, " * %.*s%s", (int)n, p, p[n] ? "\n" : "");
    p += n + (p[n] == ' ');
  }
}

/* What the train step does, in the header's first comment. */
static void header_train_step(FILE *f, Arena *a, const char *model, const char *M, const Entry *e) {
  const gradc_optimizer *o = e->optimizer;
  if (o == &gradc_optimizer_sgd && e->nhyper == o->nbase) { /* as before there were others */
    fprintf(f, " * first, as PyTorch's .grad). %s_train_step is one whole SGD step: it stores this\n", model);
    fprintf(f, " * step's gradients (overwriting) and updates params and momentum buffers in place,\n");
    fprintf(f, " * hyper = {lr, momentum, weight_decay} (torch.optim.SGD; momentum buffers start at 0).");
    return;
  }
  const char *states = "", *values = "";
  for (int s = 0; s < o->nstate; s++) states = arena_printf(a, "%s%s%s_", states, s ? ", " : "", o->state_names[s]);
  for (int h = 0; h < e->nhyper; h++) values = arena_printf(a, "%s%s%s", values, h ? ", " : "", o->hyper_names[h]);
  wrap(f, arena_printf(a,
                       "first, as PyTorch's .grad). %s_train_step is one whole %s step (torch.optim semantics): it "
                       "stores this step's gradients (overwriting) and updates params and the optimizer's state "
                       "buffers in place (%s; zeros before the first step). hyper = %s_HYPER_COUNT floats {%s}, "
                       "filled each step by gradc_optimizer_values(&gradc_optimizer_%s, user_hyper, step, hyper) "
                       "(gradc/runtime_core.h; step 1 is the first).",
                       model, o->name, states, M, values, o->name));
}

/* ---- dropout and modes (issue 15): the step seed of the training entries ---- */
static bool takes_seed(const Entry *e) {
  for (int i = 0; i < e->nargs; i++)
    if (e->args[i].kind == ARG_SEED) return true;
  return false;
}
static void header_seed(FILE *f, Arena *a, const char *model) {
  fprintf(f, "\n");
  wrap(f, arena_printf(a,
                       "dropout: %s_backward and %s_train_step run in training mode and draw their masks "
                       "from *seed, the step seed (a new one each step, e.g. gradc_dropout_seed(user_seed, step), "
                       "gradc/runtime_core.h; the same seed gives the same masks); %s_forward runs in eval mode "
                       "and never drops.",
                       model, model, model));
}

void emit_header(FILE *f, const Unit *u, const char *source_name) {
  Graph *g = u->g;
  Arena *a = g->arena;
  const char *M = upper(a, g->model);
  const Entry *fwd = u->entries[0];
  fprintf(f, "/* Model %s, generated by gradc %s from %s. Do not edit.\n *\n", g->model, gc_version(), source_name);
  fprintf(f, " * Tensors are contiguous row-major buffers that must not overlap.");
  if (u->nentries > 1) {
    fprintf(f, " %s_backward runs\n * forward and backward and ADDS d loss / d param into the grad_ buffers (zero them\n", g->model);
    header_train_step(f, a, g->model, M, u->entries[2]);
    if (takes_seed(u->entries[2])) header_seed(f, a, g->model);
  }
  fprintf(f, "\n * workspace: %s_WORKSPACE_BYTES bytes owned by the caller, aligned at least as a float\n", M);
  fprintf(f, " * (64-byte alignment is fastest); the generated code never allocates. */\n");
  fprintf(f, "#ifndef %s_GRADC_H\n#define %s_GRADC_H\n#include <stdint.h>\n\n", M, M);
  fprintf(f, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  const char **macro = ARENA_ARRAY(a, const char *, fwd->nargs + 1); /* the size macros' names so far */
  for (int i = 0, nm = 0; i < fwd->nargs; i++) {
    const Arg *ar = &fwd->args[i];
    if (ar->kind != ARG_INPUT && ar->kind != ARG_PARAM && ar->kind != ARG_OUTPUT) continue;
    const char *U = upper(a, ar->name);
    for (int j = 0; j < nm; j++)
      if (!strcmp(macro[j], U)) U = arena_printf(a, "%s_", U), j = -1; /* taken: add _, look again */
    macro[nm++] = U;
    const char *role = ar->kind == ARG_INPUT ? "input" : ar->kind == ARG_OUTPUT ? "output"
                       : ar->node->trainable ? "param"
                       : ar->node->buffer    ? "param (buffer: the training entries update it)"
                                             : "param (frozen)";
    header_size(f, M, U, role, ar, a);
  }
  fprintf(f, "#define %s_WORKSPACE_BYTES %lld\n", M, (long long)u->ws_bytes);
  if (u->nentries > 2)
    fprintf(f, "#define %s_OPTIMIZER \"%s\" /* the train step's rule */\n#define %s_HYPER_COUNT %d /* floats of its hyper */\n", M,
            u->entries[2]->optimizer->name, M, u->entries[2]->nhyper);
  fprintf(f, "\n");
  for (int k = 0; k < u->nentries; k++) {
    const Entry *e = u->entries[k];
    fprintf(f, "void %s(", e->name);
    for (int i = 0; i < e->nargs; i++) {
      fprintf(f, "%s", i ? ",\n    " : "\n    ");
      fprintf(f, "%s *%s", header_type(e, &e->args[i]), e->args[i].cname);
    }
    fprintf(f, ");\n");
    fprintf(f, "/* The same, its %d arguments in order in one array. */\nvoid %s_packed(void **args);\n\n", e->nargs,
            e->name);
  }
  if (u->parallel)
    fprintf(f,
            "/* Large matrix products are split into parts. Without a runner the entry points\n"
            " * compute the parts one after the other; with one, they call\n"
            " * run(pool, task, ctx, n), which must call task(ctx, i) once for every i in\n"
            " * [0, n) -- on any threads, in any order -- and return when all are done.\n"
            " * run = NULL restores the default. Not to be called while an entry runs. */\n"
            "void %s_set_parallel(void (*run)(void *pool, void (*task)(void *ctx, int32_t i), void *ctx, int32_t n),\n"
            "    void *pool);\n\n",
            g->model);
  fprintf(f, "/* The model's descriptor (JSON, see gradc/descriptor.h). */\nconst char *%s_descriptor(void);\n\n", g->model);
  fprintf(f, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* ---------------------------------------------------------------- target machine */

/* Every target machine of a compile: -O level opt, position-independent code, the
 * default code model. */
static LLVMTargetMachineRef make_target_machine(LLVMTargetRef target, const char *triple, const char *cpu,
                                                const char *features, int opt) {
  LLVMCodeGenOptLevel level = opt <= 0   ? LLVMCodeGenLevelNone
                              : opt == 1 ? LLVMCodeGenLevelLess
                              : opt == 2 ? LLVMCodeGenLevelDefault
                                         : LLVMCodeGenLevelAggressive;
  return LLVMCreateTargetMachine(target, triple, cpu, features, level, LLVMRelocPIC, LLVMCodeModelDefault);
}

LLVMTargetMachineRef emit_clone_target_machine(LLVMTargetMachineRef tm, int opt) {
  char *triple = LLVMGetTargetMachineTriple(tm), *cpu = LLVMGetTargetMachineCPU(tm);
  char *features = LLVMGetTargetMachineFeatureString(tm);
  LLVMTargetMachineRef copy = make_target_machine(LLVMGetTargetMachineTarget(tm), triple, cpu, features, opt);
  LLVMDisposeMessage(triple), LLVMDisposeMessage(cpu), LLVMDisposeMessage(features);
  return copy;
}

LLVMTargetMachineRef emit_target_machine(const char *triple, const char *cpu, int opt, char *err, size_t errlen) {
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
  LLVMInitializeAllAsmParsers();
  char *host = LLVMGetDefaultTargetTriple();
  bool is_host = !triple || !strcmp(triple, host);
  /* Normalised: "thumbv6m-none-eabi" read as written has no EABI environment (its
   * third part is taken for the OS), and LLVM would pick GNU libcall names and omit
   * the hard-float attributes; normalised it is thumbv6m-none-unknown-eabi. */
  char *norm = LLVMNormalizeTargetTriple(triple ? triple : host);
  char *t = strdup(norm);
  LLVMDisposeMessage(norm);
  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(t, &target, &msg)) {
    snprintf(err, errlen, "unknown target '%s': %s", t, msg ? msg : "");
    LLVMDisposeMessage(msg);
    LLVMDisposeMessage(host);
    free(t);
    return NULL;
  }
  emit_guard_target(t);
  if (emit_check_target(target, t, err, errlen) || (cpu && emit_check_cpu(target, t, cpu, err, errlen))) {
    LLVMDisposeMessage(host);
    free(t);
    return NULL;
  }
  char *hcpu = is_host && !cpu ? LLVMGetHostCPUName() : NULL;
  char *hfeat = is_host && !cpu ? LLVMGetHostCPUFeatures() : NULL;
  LLVMTargetMachineRef tm = make_target_machine(target, t, hcpu ? hcpu : cpu ? cpu : "", hfeat ? hfeat : "", opt);
  if (!tm) snprintf(err, errlen, "cannot create a target machine for '%s' (cpu '%s')", t, cpu ? cpu : "");
  LLVMDisposeMessage(hcpu);
  LLVMDisposeMessage(hfeat);
  LLVMDisposeMessage(host);
  free(t);
  return tm;
}

/* Functions of hand-vectorised kernels (lower.h) get a short pipeline of their own:
 * memory to registers, redundancy elimination, loop-invariant code motion. Each of
 * the two runs leaves the other's functions alone (optnone, which needs noinline). */
#define VECTORISED_PASSES "function(sroa,early-cse<memssa>,instcombine,simplifycfg,loop-mssa(licm),gvn,instcombine,simplifycfg)"

/* Adds optnone (and the noinline it needs) to, or removes optnone from, the defined
 * functions that are (hand) or are not (!hand) hand-vectorised. A function skipped in
 * the second run keeps its noinline: it is past inlining. */
static void skip_functions(LLVMModuleRef mod, bool hand, bool on) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7), noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  unsigned always = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
    if (LLVMIsDeclaration(fn) || lower_vectorised(fn) != hand) continue;
    if (on) {
      LLVMRemoveEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, always); /* inlined already, if ever */
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, optnone, 0));
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, noinline, 0));
    } else {
      LLVMRemoveEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, optnone);
    }
  }
}

static int run_passes(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *passes, int opt, char *err,
                      size_t errlen) {
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, opt >= 2);
  LLVMPassBuilderOptionsSetSLPVectorization(po, opt >= 2);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, opt >= 3);
  LLVMErrorRef e = LLVMRunPasses(mod, passes, tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (e) {
    char *m = LLVMGetErrorMessage(e);
    snprintf(err, errlen, "internal error: LLVM passes failed: %s", m);
    LLVMDisposeErrorMessage(m);
    return -1;
  }
  return 0;
}

/* The -O opt pipeline, and the hand-vectorised kernels' own after it. */
static int optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, char *err, size_t errlen) {
  char passes[32];
  snprintf(passes, sizeof passes, "default<O%d>", opt);
  if (opt == 0) return run_passes(mod, tm, passes, opt, err, errlen);
  skip_functions(mod, true, true);
  int rc = run_passes(mod, tm, passes, opt, err, errlen);
  skip_functions(mod, true, false);
  if (rc) return rc;
  skip_functions(mod, false, true);
  rc = run_passes(mod, tm, VECTORISED_PASSES, opt, err, errlen);
  skip_functions(mod, false, false);
  return rc;
}

int emit_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, char *err, size_t errlen) {
  char *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    snprintf(err, errlen, "internal error: generated LLVM IR does not verify: %s", msg);
    LLVMDisposeMessage(msg);
    return -1;
  }
  LLVMDisposeMessage(msg);
  DiagCatch c;
  emit_catch_begin(&c, LLVMGetModuleContext(mod));
  emit_crash_guard(true);
  int rc = optimize(mod, tm, opt < 0 ? 0 : opt > 3 ? 3 : opt, err, errlen);
  emit_crash_guard(false);
  if (emit_catch_end(&c, err, errlen)) rc = -1;
  if (!rc) emit_prepare_codegen(mod, tm);
  return rc;
}

/* ---------------------------------------------------------------- footprint */

/* Bytes of the allocas a function keeps after optimisation (its frame, less spills). */
static int64_t frame_bytes(LLVMValueRef fn, LLVMTargetDataRef td) {
  int64_t n = 0;
  for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(fn); b; b = LLVMGetNextBasicBlock(b))
    for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i))
      if (LLVMGetInstructionOpcode(i) == LLVMAlloca) n += (int64_t)LLVMABISizeOfType(td, LLVMGetAllocatedType(i));
  return n;
}

/* Whether the section is the descriptor's: its string, or (ELF) one of the functions
 * that return it. */
static bool is_descriptor(const char *section, const char *model) {
  if (!strcmp(section, DESCRIPTOR_SECTION) || !strcmp(section, DESCRIPTOR_MACHO) ||
      !strcmp(section, ".text.gradc_model_descriptor"))
    return true;
  size_t n = strlen(model);
  return !strncmp(section, ".text.", 6) && !strncmp(section + 6, model, n) && !strcmp(section + 6 + n, "_descriptor");
}

int emit_footprint(LLVMModuleRef mod, LLVMTargetMachineRef tm, const Unit *u, gc_result *res, char *err,
                   size_t errlen) {
  char *msg = NULL;
  LLVMMemoryBufferRef buf = NULL;
  DiagCatch c;
  emit_catch_begin(&c, LLVMGetModuleContext(mod));
  emit_crash_guard(true);
  bool failed = LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf);
  emit_crash_guard(false);
  if (failed) snprintf(err, errlen, "cannot measure the object: %s", msg ? msg : "");
  LLVMDisposeMessage(msg);
  if (emit_catch_end(&c, err, errlen) || failed) {
    if (buf) LLVMDisposeMemoryBuffer(buf);
    return -1;
  }
  LLVMBinaryRef bin = LLVMCreateBinary(buf, LLVMGetModuleContext(mod), &msg);
  if (!bin) {
    snprintf(err, errlen, "cannot read back the object: %s", msg ? msg : "");
    LLVMDisposeMessage(msg);
    LLVMDisposeMemoryBuffer(buf);
    return -1;
  }
  LLVMSectionIteratorRef si = LLVMObjectFileCopySectionIterator(bin);
  for (; !LLVMObjectFileIsSectionIteratorAtEnd(bin, si); LLVMMoveToNextSection(si)) {
    const char *name = LLVMGetSectionName(si);
    int64_t size = (int64_t)LLVMGetSectionSize(si);
    if (!name) continue;
    if (is_descriptor(name, u->g->model)) res->foot.descriptor += size;
    else if (!strncmp(name, ".text", 5) || !strcmp(name, "__text")) res->foot.code += size;
    else if (!strncmp(name, ".rodata", 7) || !strncmp(name, ".data.rel.ro", 12) || !strcmp(name, "__const"))
      res->foot.constants += size;
  }
  LLVMDisposeSectionIterator(si);
  LLVMDisposeBinary(bin);
  LLVMDisposeMemoryBuffer(buf);
  LLVMTargetDataRef td = LLVMGetModuleDataLayout(mod);
  for (int k = 0; k < u->nentries && k < 3; k++) {
    const Entry *e = u->entries[k];
    snprintf(res->foot.entry[k], sizeof res->foot.entry[k], "%s", e->name);
    char core[600]; /* backward and train step both run the gradient core */
    snprintf(core, sizeof core, "%s_core", u->entries[u->nentries - 1]->name);
    LLVMValueRef fn = LLVMGetNamedFunction(mod, e->kind == ENTRY_FORWARD ? e->name : core);
    res->foot.frame[k] = fn ? frame_bytes(fn, td) : 0;
    res->foot.nentries = k + 1;
  }
  const Entry *t = u->entries[u->nentries - 1];
  for (int i = 0; i < t->nargs; i++) {
    const Arg *a = &t->args[i];
    int64_t bytes = a->node ? node_bytes(a->node) : 0;
    if (a->kind == ARG_INPUT) res->foot.inputs += bytes;
    if (a->kind == ARG_PARAM) res->foot.params += bytes;
    if (a->kind == ARG_GRAD) res->foot.grads += bytes;
    if (a->kind == ARG_STATE) res->foot.momentum += bytes;
    if (a->kind == ARG_OUTPUT || a->kind == ARG_LOSS) res->foot.outputs += bytes;
  }
  return 0;
}

/* ---------------------------------------------------------------- files */

/* Starts writing out (outfile.h): the temporary's path in f->tmp, or -1 with the error. */
static int begin(OutFile *f, const char *out, const char *suffix, char *err, size_t errlen) {
  int fd = outfile_begin(f, out, suffix);
  if (fd < 0 && outfile_in_place(out))
    return snprintf(err, errlen, "cannot write '%s': no temporary file in '%s' (TMPDIR): %s", out, outfile_tmpdir(),
                    strerror(errno)), -1;
  if (fd < 0) return snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno)), -1;
  close(fd);
  emit_fatal_file(f->tmp, true); /* removed if LLVM ends the process (emit_target.c) */
  return 0;
}

/* Ends writing out: commits the temporary if rc is 0, else removes it; returns rc. */
static int finish(OutFile *f, const char *out, int rc, char *err, size_t errlen) {
  const char *ext = strrchr(out, '.');
  emit_fatal_file(f->tmp, false);
  if (rc) outfile_abort(f);
  else if (outfile_commit(f, ext && !strcmp(ext, ".so") ? 0777 : 0666)) {
    snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
    rc = -1;
  }
  return rc;
}

/* A temporary file beside f's temporary (its directory), for intermediate objects. */
static char *temp_near(const OutFile *f, const char *suffix) {
  size_t n = strlen(f->tmp) + strlen(suffix) + 16;
  char *p = malloc(n);
  if (!p) return NULL;
  snprintf(p, n, "%s.XXXXXX%s", f->tmp, suffix);
  int fd = mkstemps(p, (int)strlen(suffix));
  if (fd < 0) return free(p), NULL;
  close(fd);
  return p;
}

int emit_machine_code(LLVMModuleRef mod, LLVMTargetMachineRef tm, LLVMCodeGenFileType kind, const char *path,
                      char *err, size_t errlen) {
  char *msg = NULL;
  DiagCatch c;
  emit_catch_begin(&c, LLVMGetModuleContext(mod));
  bool failed = LLVMTargetMachineEmitToFile(tm, mod, (char *)path, kind, &msg);
  if (failed && msg && strstr(msg, "can't emit a file of this type")) { /* no object writer: XCore */
    char *triple = LLVMGetTargetMachineTriple(tm);
    snprintf(err, errlen, "LLVM 16 writes no %s files for target '%s': --emit %s", kind == LLVMObjectFile ? "object" : "assembly",
             triple, kind == LLVMObjectFile ? "asm or llvm" : "llvm");
    LLVMDisposeMessage(triple);
  } else if (failed) {
    snprintf(err, errlen, "cannot write '%s': %s", path, msg ? msg : "");
  }
  LLVMDisposeMessage(msg);
  return emit_catch_end(&c, err, errlen) || failed ? -1 : 0;
}

/* Links the objects into a shared object (so; out is what the user named) with the C
 * compiler driver cc (NULL or "": the system's, "cc"). */
static int link_shared(const char *cc, char *const *objs, int n, const char *so, const char *out,
                       LLVMTargetMachineRef tm, char *err, size_t errlen) {
  if (!cc || !*cc) cc = "cc";
  char *argv[8] = {(char *)cc, "-shared", "-o", (char *)so};
  for (int i = 0; i < n; i++) argv[4 + i] = objs[i];
  argv[4 + n] = NULL;
  pid_t pid;
  int rc = posix_spawnp(&pid, cc, NULL, NULL, argv, environ);
  if (rc) {
    snprintf(err, errlen, "cannot run the linker '%s': %s (set GRADC_CC)", cc, strerror(rc));
    return -1;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st)) {
    char *host = LLVMGetDefaultTargetTriple(), *triple = LLVMGetTargetMachineTriple(tm);
    bool cross = strcmp(host, triple) != 0;
    snprintf(err, errlen, "linking '%s' with '%s -shared' failed%s%s%s", out, cc,
             cross ? " (the target is " : "", cross ? triple : "",
             cross ? ": set GRADC_CC to a C compiler that links for it, or use --emit obj)" : "");
    LLVMDisposeMessage(host), LLVMDisposeMessage(triple);
    return -1;
  }
  return 0;
}

/* A shared object: its machine code as one or two objects (emit_parallel.c), linked. */
static int emit_shared(LLVMModuleRef mod, LLVMTargetMachineRef tm, const gc_options *o, char *err, size_t errlen) {
  const char *out = o->out;
  OutFile so;
  if (begin(&so, out, ".so", err, errlen)) return -1;
  char *objs[2] = {temp_near(&so, ".o"), temp_near(&so, ".o")};
  int rc = objs[0] && objs[1] ? 0 : -1;
  if (rc) snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno)); /* the failed mkstemps' errno */
  for (int i = 0; i < 2; i++)
    if (objs[i]) emit_fatal_file(objs[i], true);
  int n = rc ? -1 : emit_objects(mod, tm, o->opt_level, o->codegen_threads, objs[0], objs[1], err, errlen);
  if (!rc) rc = n < 0 ? -1 : link_shared(o->cc, objs, n, so.tmp, out, tm, err, errlen);
  for (int i = 0; i < 2; i++)
    if (objs[i]) emit_fatal_file(objs[i], false), unlink(objs[i]), free(objs[i]);
  rc = finish(&so, out, rc, err, errlen);
  return rc ? -1 : n;
}

static int emit_one(LLVMModuleRef mod, LLVMTargetMachineRef tm, gc_emit kind, const char *out, char *err,
                    size_t errlen) {
  OutFile f;
  if (begin(&f, out, "", err, errlen)) return -1;
  char *tmp = f.tmp;
  int rc = 0;
  if (kind == GC_EMIT_LLVM) {
    char *msg = NULL;
    if (LLVMPrintModuleToFile(mod, tmp, &msg)) {
      snprintf(err, errlen, "cannot write '%s': %s", out, msg ? msg : "");
      rc = -1;
    }
    LLVMDisposeMessage(msg);
  } else {
    rc = emit_machine_code(mod, tm, kind == GC_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile, tmp, err, errlen);
  }
  return finish(&f, out, rc, err, errlen) ? -1 : 1;
}

int emit_file(LLVMModuleRef mod, LLVMTargetMachineRef tm, const gc_options *o, char *err, size_t errlen) {
  emit_crash_guard(true);
  int n = o->emit == GC_EMIT_SO ? emit_shared(mod, tm, o, err, errlen) : emit_one(mod, tm, o->emit, o->out, err, errlen);
  emit_crash_guard(false);
  return n;
}

/* The text is rendered in memory first: the writers allocate from the arena, whose
 * out-of-memory error unwinds (longjmp) past any cleanup, and then no temporary file
 * is left behind. */
int emit_text(const char *out, void (*write)(FILE *, const void *), const void *arg, char *err, size_t errlen) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  if (!mem) return snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno)), -1;
  write(mem, arg);
  bool ok = !ferror(mem);
  if (fclose(mem) != 0 || !ok) return free(text), snprintf(err, errlen, "cannot write '%s': out of memory", out), -1;
  OutFile o;
  if (begin(&o, out, "", err, errlen)) return free(text), -1;
  FILE *f = fopen(o.tmp, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
    outfile_abort(&o);
    return free(text), -1;
  }
  int rc = fwrite(text, 1, len, f) != len ? -1 : 0;
  if ((ferror(f) | fclose(f)) && !rc) rc = -1;
  if (rc) snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
  free(text);
  return finish(&o, out, rc, err, errlen);
}
