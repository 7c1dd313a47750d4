/* emit_parallel.c — machine code for a shared object in two halves, on two threads: one
 * module cut in two, two object files, one link.
 *
 * Instruction selection and register allocation of the large product kernels are most of
 * a compile (mlp1024: about 0.5 s of 0.9). A large optimised module is cut in two: every
 * function is defined in one half — balanced by cost, largest first, ties in module
 * order — and declared in the other; global variables are defined in the first half
 * only. Private and internal symbols become hidden ones first, so that the linker joins
 * the halves while the shared object exports nothing new. The second half goes to
 * another thread as bitcode, parsed there into a context of its own (an LLVMContext is
 * not thread-safe), with a target machine of its own (emit_clone_target_machine).
 *
 * Whether a module is cut depends on the module alone, and each half's code on its
 * functions alone, so the output is the same bytes on any machine; the number of
 * threads (gc_options.codegen_threads, else 2 where this process may use two cores or more)
 * only decides whether the halves are generated at once or one after the other. A
 * module using what the cut does not handle (aliases, ifuncs, comdats, inline asm,
 * thread-locals, appending globals, other address spaces) stays whole; gradc makes none.
 * So does a module for another object format than ELF: the cut relies on ELF's hidden
 * symbols, and `cc -shared` links ELF objects. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, sched_getaffinity, CPU_COUNT */
#endif
#include "emit.h"
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Comdat.h>

#define HALF_ATTR "gradc-half" /* marks a function of the second half, between mark and cut */
#define MIN_SPLIT 4000         /* cost: below this a second half costs more than it saves */
#define STACK_BYTES (16u << 20) /* LLVM's code generation recurses; musl's default is 128 KiB */

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
  int at; /* position in the module: ties go in module order, whatever qsort does */
} Weighed;

static int heavier_first(const void *a, const void *b) {
  const Weighed *x = a, *y = b;
  if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
  return (x->at > y->at) - (x->at < y->at);
}

static bool local(LLVMValueRef g) {
  LLVMLinkage l = LLVMGetLinkage(g);
  return l == LLVMInternalLinkage || l == LLVMPrivateLinkage;
}

static bool named(LLVMValueRef g) {
  size_t len;
  LLVMGetValueName2(g, &len);
  return len > 0;
}

/* Whether every global of mod is a plain function or variable the cut handles. */
static bool cuttable(LLVMModuleRef mod) {
  size_t len;
  LLVMGetModuleInlineAsm(mod, &len);
  if (len || LLVMGetFirstGlobalAlias(mod) || LLVMGetFirstGlobalIFunc(mod)) return false;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (LLVMGetComdat(f) || (!LLVMIsDeclaration(f) && !named(f))) return false;
  for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
    if (LLVMGetComdat(g) || LLVMIsThreadLocal(g) || LLVMGetLinkage(g) == LLVMAppendingLinkage ||
        LLVMGetPointerAddressSpace(LLVMTypeOf(g)) != 0)
      return false;
  return true;
}

/* Marks the second half's functions (HALF_ATTR) and makes every local definition a
 * hidden global one; returns false (and changes nothing) for a module that stays whole:
 * too small to be worth a second half, or not cuttable. */
static bool mark_halves(LLVMModuleRef mod) {
  int n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) n += !LLVMIsDeclaration(f);
  if (n < 2 || !cuttable(mod)) return false;
  Weighed *w = malloc(sizeof *w * (size_t)n);
  int64_t total = 0;
  n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f)) w[n] = (Weighed){f, cost(f), n}, total += w[n++].cost;
  if (total < MIN_SPLIT) return free(w), false;
  qsort(w, (size_t)n, sizeof *w, heavier_first);
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
    if (!named(g)) { /* a symbol needs a name */
      char name[32];
      snprintf(name, sizeof name, "gradc.global.%d", unnamed++);
      LLVMSetValueName2(g, name, strlen(name));
    }
    LLVMSetLinkage(g, LLVMExternalLinkage), LLVMSetVisibility(g, LLVMHiddenVisibility);
  }
  return true;
}

static bool in_second_half(LLVMValueRef fn) {
  return LLVMGetStringAttributeAtIndex(fn, LLVMAttributeFunctionIndex, HALF_ATTR, (unsigned)strlen(HALF_ATTR)) != NULL;
}

/* The attributes of g at index i (function, return value, parameters) onto d. */
static void copy_attributes(LLVMValueRef g, LLVMValueRef d, LLVMAttributeIndex i) {
  unsigned n = LLVMGetAttributeCountAtIndex(g, i);
  if (!n) return;
  LLVMAttributeRef *a = malloc(sizeof *a * n);
  LLVMGetAttributesAtIndex(g, i, a);
  for (unsigned k = 0; k < n; k++) LLVMAddAttributeAtIndex(d, i, a[k]);
  free(a);
}

/* Replaces the definition g (a function, or a global variable when !fn) by a
 * declaration of the same name, type, calling convention, attributes and visibility. */
static void declare_instead(LLVMModuleRef mod, LLVMValueRef g, bool fn) {
  size_t len;
  const char *old = LLVMGetValueName2(g, &len);
  char *name = strndup(old, len);
  LLVMSetValueName2(g, "", 0);
  LLVMTypeRef t = LLVMGlobalGetValueType(g);
  LLVMValueRef d = fn ? LLVMAddFunction(mod, name, t) : LLVMAddGlobal(mod, t, name);
  if (fn) {
    LLVMSetFunctionCallConv(d, LLVMGetFunctionCallConv(g));
    copy_attributes(g, d, LLVMAttributeFunctionIndex);
    copy_attributes(g, d, LLVMAttributeReturnIndex);
    for (unsigned p = 0; p < LLVMCountParams(g); p++) copy_attributes(g, d, p + 1);
    LLVMRemoveStringAttributeAtIndex(d, LLVMAttributeFunctionIndex, HALF_ATTR, (unsigned)strlen(HALF_ATTR));
  } else {
    LLVMSetGlobalConstant(d, LLVMIsGlobalConstant(g));
    LLVMSetAlignment(d, LLVMGetAlignment(g));
  }
  LLVMSetLinkage(d, LLVMExternalLinkage);
  LLVMSetVisibility(d, LLVMGetVisibility(g));
  LLVMReplaceAllUsesWith(g, d);
  if (fn) LLVMDeleteFunction(g);
  else LLVMDeleteGlobal(g);
  free(name);
}

/* Keeps the definitions of half h (0 or 1) of a module that mark_halves marked, and
 * drops the marks. */
static void keep_half(LLVMModuleRef mod, int h) {
  LLVMValueRef next;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = next) {
    next = LLVMGetNextFunction(f);
    if (LLVMIsDeclaration(f)) continue;
    if (in_second_half(f) != h) declare_instead(mod, f, true);
    else LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, HALF_ATTR, (unsigned)strlen(HALF_ATTR));
  }
  if (h == 0) return;
  for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = next) {
    next = LLVMGetNextGlobal(g);
    if (!LLVMIsDeclaration(g)) declare_instead(mod, g, false);
  }
}

typedef struct {
  LLVMMemoryBufferRef bitcode; /* the marked module */
  LLVMTargetMachineRef tm;     /* this half's own */
  const char *path;
  char err[1024];
  int rc;
} Half;

static void *second_half(void *arg) {
  Half *h = arg;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = NULL;
  h->rc = -1;
  if (LLVMParseBitcodeInContext2(ctx, h->bitcode, &mod)) {
    snprintf(h->err, sizeof h->err, "internal error: cannot read back the module's bitcode");
  } else {
    keep_half(mod, 1);
    h->rc = emit_machine_code(mod, h->tm, LLVMObjectFile, h->path, h->err, sizeof h->err);
    LLVMDisposeModule(mod);
  }
  LLVMContextDispose(ctx);
  return NULL;
}

/* Threads for the two halves: asked (> 0: 1 or 2), else 2 where this process may run on
 * two cores or more (its affinity mask: a container's limit shows there). */
static int codegen_threads(int asked) {
  if (asked > 0) return asked >= 2 ? 2 : 1;
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2 ? 2 : 1;
}

int emit_objects(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, int threads, const char *obj0,
                 const char *obj1, char *err, size_t errlen) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  bool elf = emit_object_format(triple) == OBJ_ELF; /* a shared object's format: cut only there */
  LLVMDisposeMessage(triple);
  if (!elf || !mark_halves(mod)) return emit_machine_code(mod, tm, LLVMObjectFile, obj0, err, errlen) ? -1 : 1;
  Half h = {LLVMWriteBitcodeToMemoryBuffer(mod), emit_clone_target_machine(tm, opt), obj1, "", 0};
  if (!h.bitcode || !h.tm) {
    snprintf(err, errlen, "internal error: cannot %s", h.bitcode ? "create a second target machine" : "write the module's bitcode");
    if (h.bitcode) LLVMDisposeMemoryBuffer(h.bitcode);
    if (h.tm) LLVMDisposeTargetMachine(h.tm);
    return -1;
  }
  pthread_t th;
  pthread_attr_t attr;
  bool threaded = codegen_threads(threads) >= 2 && pthread_attr_init(&attr) == 0;
  if (threaded) {
    threaded = pthread_attr_setstacksize(&attr, STACK_BYTES) == 0 && pthread_create(&th, &attr, second_half, &h) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!threaded) second_half(&h); /* one thread, or none to be had: one half after the other */
  keep_half(mod, 0);
  int rc = emit_machine_code(mod, tm, LLVMObjectFile, obj0, err, errlen);
  if (threaded) pthread_join(th, NULL);
  LLVMDisposeMemoryBuffer(h.bitcode);
  LLVMDisposeTargetMachine(h.tm);
  if (!rc && h.rc) snprintf(err, errlen, "%s", h.err), rc = -1;
  return rc ? -1 : 2;
}
