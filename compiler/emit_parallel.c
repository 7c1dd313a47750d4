/* emit_parallel.c — machine code for a shared object on two threads: one module cut in
 * two halves, two object files, one link.
 *
 * Instruction selection and register allocation of the large product kernels are most of
 * a compile (mlp1024: about 0.5 s of 0.8). The optimised module is cut in two: every
 * function is defined in one half — balanced by instruction count, largest first — and
 * declared in the other; global variables are defined in the first half only. Private
 * and internal symbols become hidden ones first, so that the linker joins the halves
 * while the shared object exports nothing new. The second half goes to another thread
 * as bitcode, parsed there into a context of its own (an LLVMContext is not
 * thread-safe), with a target machine of its own built from the first one's triple, CPU,
 * features and level. Each half is deterministic, so the output is too. */
#define _DEFAULT_SOURCE /* strndup */
#include "emit.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>

#define HALF_ATTR "gradc-half" /* on a function of the second half, until the cut */
#define MIN_SPLIT 4000         /* cost: below this a thread costs more than it saves */

/* The expected code generation time of fn: its IR instructions, three times over in a
 * hand-vectorised kernel (llc on mlp1024's functions: ~0.1 ms per instruction there,
 * ~0.04 ms in the entry functions). */
static int64_t cost(LLVMValueRef fn) {
  int64_t n = 0;
  for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(fn); b; b = LLVMGetNextBasicBlock(b))
    for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i)) n++;
  return lower_vectorised(fn) ? 3 * n : n;
}

typedef struct {
  LLVMValueRef fn;
  int64_t cost;
} Weighed;

static int heavier_first(const void *a, const void *b) {
  const Weighed *x = a, *y = b;
  return (y->cost > x->cost) - (y->cost < x->cost);
}

static bool local(LLVMValueRef g) {
  LLVMLinkage l = LLVMGetLinkage(g);
  return l == LLVMInternalLinkage || l == LLVMPrivateLinkage;
}

/* Marks the second half's functions (HALF_ATTR) and makes every local definition a
 * hidden global one; returns false (and changes nothing) when the module is too small
 * to be worth a thread. */
static bool mark_halves(LLVMModuleRef mod) {
  int n = 0;
  int64_t total = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) n += !LLVMIsDeclaration(f);
  Weighed *w = malloc(sizeof *w * (size_t)(n ? n : 1));
  n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f)) w[n] = (Weighed){f, cost(f)}, total += w[n++].cost;
  if (total < MIN_SPLIT || n < 2) return free(w), false;
  qsort(w, (size_t)n, sizeof *w, heavier_first); /* ties keep no order: costs differ or halves are equal */
  int64_t load[2] = {0, 0};
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  for (int i = 0; i < n; i++) {
    int h = load[1] < load[0];
    load[h] += w[i].cost;
    if (h)
      LLVMAddAttributeAtIndex(w[i].fn, LLVMAttributeFunctionIndex,
                              LLVMCreateStringAttribute(ctx, HALF_ATTR, (unsigned)strlen(HALF_ATTR), "", 0));
  }
  free(w);
  int unnamed = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f) && local(f)) LLVMSetLinkage(f, LLVMExternalLinkage), LLVMSetVisibility(f, LLVMHiddenVisibility);
  for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g)) {
    if (LLVMIsDeclaration(g) || !local(g)) continue;
    size_t len;
    LLVMGetValueName2(g, &len);
    if (!len) { /* a symbol needs a name */
      char name[32];
      snprintf(name, sizeof name, "gradc.global.%d", unnamed++);
      LLVMSetValueName2(g, name, strlen(name));
    }
    LLVMSetLinkage(g, LLVMExternalLinkage), LLVMSetVisibility(g, LLVMHiddenVisibility);
  }
  return true;
}

static bool second_half(LLVMValueRef fn) {
  return LLVMGetStringAttributeAtIndex(fn, LLVMAttributeFunctionIndex, HALF_ATTR, (unsigned)strlen(HALF_ATTR)) != NULL;
}

/* Replaces the definition g (a function, or a global variable when !fn) by a
 * declaration of the same name, type and visibility. */
static void declare_instead(LLVMModuleRef mod, LLVMValueRef g, bool fn) {
  size_t len;
  const char *old = LLVMGetValueName2(g, &len);
  char *name = strndup(old, len);
  LLVMSetValueName2(g, "", 0);
  LLVMTypeRef t = LLVMGlobalGetValueType(g);
  LLVMValueRef d = fn ? LLVMAddFunction(mod, name, t) : LLVMAddGlobal(mod, t, name);
  if (fn) LLVMSetFunctionCallConv(d, LLVMGetFunctionCallConv(g));
  else LLVMSetGlobalConstant(d, LLVMIsGlobalConstant(g)), LLVMSetAlignment(d, LLVMGetAlignment(g));
  LLVMSetLinkage(d, LLVMExternalLinkage);
  LLVMSetVisibility(d, LLVMGetVisibility(g));
  LLVMReplaceAllUsesWith(g, d);
  if (fn) LLVMDeleteFunction(g);
  else LLVMDeleteGlobal(g);
  free(name);
}

/* Keeps the definitions of half h (0 or 1) of a module that mark_halves cut. */
static void keep_half(LLVMModuleRef mod, int h) {
  LLVMValueRef next;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = next) {
    next = LLVMGetNextFunction(f);
    if (!LLVMIsDeclaration(f) && second_half(f) != h) declare_instead(mod, f, true);
  }
  if (h == 0) return;
  for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = next) {
    next = LLVMGetNextGlobal(g);
    if (!LLVMIsDeclaration(g)) declare_instead(mod, g, false);
  }
}

static int write_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *path, char *err, size_t errlen) {
  char *msg = NULL;
  if (LLVMTargetMachineEmitToFile(tm, mod, (char *)path, LLVMObjectFile, &msg)) {
    snprintf(err, errlen, "cannot write '%s': %s", path, msg ? msg : "");
    LLVMDisposeMessage(msg);
    return -1;
  }
  return 0;
}

typedef struct {
  LLVMMemoryBufferRef bitcode;
  LLVMTargetMachineRef like; /* the first half's machine: read only */
  LLVMCodeGenOptLevel level;
  const char *path;
  char err[1024];
  int rc;
} Half;

static void *second_half_thread(void *arg) {
  Half *h = arg;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = NULL;
  h->rc = -1;
  if (LLVMParseBitcodeInContext2(ctx, h->bitcode, &mod)) {
    snprintf(h->err, sizeof h->err, "internal error: cannot read back the module's bitcode");
    LLVMContextDispose(ctx);
    return NULL;
  }
  keep_half(mod, 1);
  char *triple = LLVMGetTargetMachineTriple(h->like), *cpu = LLVMGetTargetMachineCPU(h->like);
  char *features = LLVMGetTargetMachineFeatureString(h->like);
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(LLVMGetTargetMachineTarget(h->like), triple, cpu, features,
                                                    h->level, LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm) snprintf(h->err, sizeof h->err, "cannot create a second target machine for '%s'", triple);
  else h->rc = write_object(mod, tm, h->path, h->err, sizeof h->err);
  if (tm) LLVMDisposeTargetMachine(tm);
  LLVMDisposeMessage(triple), LLVMDisposeMessage(cpu), LLVMDisposeMessage(features);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return NULL;
}

/* Threads for code generation: GRADC_CODEGEN_THREADS (1 or 2), else 2 where the machine
 * has two cores or more. */
static int codegen_threads(void) {
  const char *v = getenv("GRADC_CODEGEN_THREADS");
  if (v && *v) return atoi(v) >= 2 ? 2 : 1;
  return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
}

int emit_objects(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, const char *obj0, const char *obj1,
                 char *err, size_t errlen) {
  if (codegen_threads() < 2 || !mark_halves(mod)) return write_object(mod, tm, obj0, err, errlen) ? -1 : 1;
  Half h = {LLVMWriteBitcodeToMemoryBuffer(mod), tm, emit_level(opt), obj1, "", 0};
  pthread_t th;
  bool threaded = pthread_create(&th, NULL, second_half_thread, &h) == 0;
  if (!threaded) second_half_thread(&h); /* no thread to be had: one after the other */
  keep_half(mod, 0);
  int rc = write_object(mod, tm, obj0, err, errlen);
  if (threaded) pthread_join(th, NULL);
  LLVMDisposeMemoryBuffer(h.bitcode);
  if (!rc && h.rc) snprintf(err, errlen, "%s", h.err), rc = -1;
  return rc ? -1 : 2;
}
