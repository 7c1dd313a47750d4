/* compile.c — the pipeline, and nothing else: front() runs the graph stages, back()
 * the LLVM stages, pipeline() the two in order under the Diag, gc_compile() sets up
 * and tears down.
 *
 *   parse -> build graph (shapes) -> [bake weights] -> autodiff -> optimise   (front.c)
 *   -> per entry point: arguments -> schedule (fusion) -> memory plan ->
 *   lower to LLVM -> optimise (LLVM) -> emit
 *
 * Every stage reports a user error through the Diag (a longjmp back here); all memory
 * of the compile lives in one arena. In a debug build, or with gc_options.verify, the IR
 * verifier (verify.c) checks the graph after each graph pass and the entry points' sinks;
 * a violation is an internal error. */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "emit.h"
#include "front.h"
#include "outfile.h"
#include "verify.h"

const char *gc_version(void) { return "0.1.0"; }

/* The header's path beside OUT: OUT with .h; none when OUT is written in place (a device
 * such as /dev/null, /dev/stdout, a FIFO: outfile.h), which has no beside. */
static char *header_path(const char *path, const char *ext) {
  if (outfile_in_place(path)) return NULL;
  size_t n = strlen(path);
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  if (dot && (!slash || dot > slash)) n = (size_t)(dot - path);
  char *p = malloc(n + strlen(ext) + 1);
  memcpy(p, path, n);
  strcpy(p + n, ext);
  return p;
}

static void write_header(FILE *f, const void *u) { emit_header(f, u, ((const Unit *)u)->source_name); }
static void write_ir(FILE *f, const void *u) { print_ir(f, u); }
static void write_dot(FILE *f, const void *u) { print_dot(f, u); }

/* The most parts a large product is split into: --threads, else the host's cores (at
 * most 8) when compiling for the host, else 1 (a microcontroller has one core). */
static int threads_of(const gc_options *o) {
  if (o->threads > 0) return o->threads;
  char *host = LLVMGetDefaultTargetTriple();
  bool is_host = !o->triple || !strcmp(o->triple, host);
  LLVMDisposeMessage(host);
  long cores = is_host ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
  return cores < 1 ? 1 : cores > 8 ? 8 : (int)cores;
}

/* Front end and graph passes (front.c), then per entry point its sinks, kernels and
 * memory plan; returns the unit or longjmps through d. */
static Unit *front(Arena *a, Diag *d, const gc_options *o, int vw, int threads) {
  Graph *g = front_graph(a, d, o, true, front_mode(o));
  /* inference runs in eval mode (model.eval()); training in training mode */
  Graph *ge = g->training && g->mode_dependent ? front_graph(a, d, o, true, FRONT_EVAL) : g;
  Unit *u = ARENA_NEW(a, Unit);
  u->g = g;
  u->source_name = o->path;
  EntryOptions eo = {o->inference, vw, threads};
  EntryOptimizer opt = {gradc_optimizer_find(o->optimizer ? o->optimizer : "sgd"), o->optimizer_full};
  u->entries[u->nentries++] = entry_build_with(ge, ENTRY_FORWARD, eo, opt);
  if (!o->inference && g->loss) {
    u->entries[u->nentries++] = entry_build_with(g, ENTRY_BACKWARD, eo, opt);
    u->entries[u->nentries++] = entry_build_with(g, ENTRY_TRAIN, eo, opt);
  }
  if (front_verifies(o)) {
    verify_or_abort("the entry points' sinks", verify_graph(g));
    if (ge != g) verify_or_abort("the eval-mode entry point's sinks", verify_graph(ge));
    for (int i = 0; i < u->nentries; i++) verify_or_abort(u->entries[i]->name, verify_entry(u->entries[i]->g, u->entries[i]));
  }
  for (int i = 0; i < u->nentries; i++) {
    Entry *e = u->entries[i];
    if (e->kind == ENTRY_BACKWARD) continue; /* compiled as the train step's core */
    schedule_entry(e->g, e);
    memplan_entry(e->g, e);
    const char *bad = memplan_verify(e->g, e);
    if (bad) {
      fprintf(stderr, "gradc: internal error: memory plan of %s: %s\n", e->name, bad);
      abort();
    }
    if (e->ws_bytes > u->ws_bytes) u->ws_bytes = e->ws_bytes;
    for (int k = 0; k < e->nkernels; k++) u->parallel |= e->kernels[k].parts > 1;
  }
  return u;
}

static int back(Unit *u, const gc_options *o, LLVMTargetMachineRef tm, gc_result *res, char *err, size_t errlen) {
  if (o->emit == GC_EMIT_IR) return emit_text(o->out, write_ir, u, err, errlen) ? 2 : 0;
  if (o->emit == GC_EMIT_DOT) return emit_text(o->out, write_dot, u, err, errlen) ? 2 : 0;
  if (o->emit == GC_EMIT_HEADER) return emit_text(o->out, write_header, u, err, errlen) ? 2 : 0;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(u->g->model, ctx);
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(mod, td);
  LLVMDisposeTargetData(td);
  Lower L;
  lower_init(&L, ctx, mod);
  L.vw = lower_vector_width(tm);
  L.profile = o->profile_kernels;
  lower_entry(&L, u->entries[0]->g, u->entries[0]);
  if (u->nentries == 3) { /* backward and train step: one gradient core, two wrappers */
    LLVMValueRef core = lower_entry(&L, u->g, u->entries[2]);
    lower_wrapper(&L, u->g, u->entries[1], u->entries[2], core, 0);
    lower_wrapper(&L, u->g, u->entries[2], u->entries[2], core, 1);
  }
  emit_descriptor(&L, u, o->emit == GC_EMIT_SO);
  lower_dispose(&L);
  int rc = emit_optimize(mod, tm, o->opt_level, err, errlen) ? 2 : 0;
  if (!rc && o->stats) rc = emit_footprint(mod, tm, u, res, err, errlen) ? 2 : 0;
  if (!rc) {
    int n = emit_file(mod, tm, o, err, errlen);
    rc = n < 0 ? 2 : 0;
    if (!rc && o->emit == GC_EMIT_SO) res->objects = n;
  }
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return rc;
}

/* The pipeline under the diag's longjmp: a user error anywhere lands back here. The
 * target comes first: the kernels, and so the memory plan, depend on its SIMD width. */
static int pipeline(Diag *d, Arena *a, const gc_options *o, LLVMTargetMachineRef tm, gc_result *res, char *err,
                    size_t errlen) {
  if (setjmp(d->jb)) {
    snprintf(err, errlen, "%s", d->msg);
    return 1;
  }
  Unit *u = front(a, d, o, lower_vector_width(tm), threads_of(o));
  snprintf(res->model, sizeof res->model, "%s", u->g->model);
  res->workspace_bytes = u->ws_bytes;
  if (u->g->batch_name) snprintf(res->batch_name, sizeof res->batch_name, "%s", u->g->batch_name);
  res->batch_size = u->g->batch_size;
  res->nkernels_forward = u->entries[0]->nkernels;
  res->nkernels_backward = u->nentries > 2 ? u->entries[2]->nkernels : 0;
  res->flops_forward = entry_flops(u->entries[0]);
  res->flops_backward = u->nentries > 2 ? entry_flops(u->entries[2]) : 0;
  int rc = back(u, o, tm, res, err, errlen);
  char *h = !rc && (o->emit == GC_EMIT_SO || o->emit == GC_EMIT_OBJ) ? header_path(o->out, ".h") : NULL;
  if (h) { /* the header beside it */
    rc = emit_text(h, write_header, u, err, errlen) ? 2 : 0;
    struct stat st; /* no output without its header (a regular file: not a link's target) */
    if (!rc) snprintf(res->header_path, sizeof res->header_path, "%s", h);
    else if (lstat(o->out, &st) == 0 && S_ISREG(st.st_mode)) unlink(o->out);
    free(h);
  }
  return rc;
}

int gc_compile(const gc_options *o, gc_result *res, char *err, size_t errlen) {
  gc_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  err[0] = 0;
  if (o->optimizer && !gradc_optimizer_find(o->optimizer)) {
    snprintf(err, errlen, "unknown optimizer '%s' (sgd, adam, adamw or rmsprop)", o->optimizer);
    return 1;
  }
  char *owned = NULL;
  const char *src = o->source;
  if (!src && !(src = owned = diag_read_file(o->path, err, errlen))) return 1;
  Arena *a = arena_new();
  Diag *d = a ? calloc(1, sizeof *d) : NULL;
  if (!d) {
    snprintf(err, errlen, "%s: error: out of memory\n", o->path);
    arena_free(a);
    free(owned);
    return 2;
  }
  arena_on_fail(a, diag_out_of_memory, d);
  d->file = o->path;
  d->src = src;
  LLVMTargetMachineRef tm = emit_target_machine(o->triple, o->cpu, o->opt_level, err, errlen);
  int rc = tm ? pipeline(d, a, o, tm, res, err, errlen) : 2;
  snprintf(res->warnings, sizeof res->warnings, "%s", d->warnings);
  if (tm) LLVMDisposeTargetMachine(tm);
  arena_free(a);
  free(d);
  free(owned);
  return rc;
}
