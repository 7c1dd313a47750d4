/* emit_target.c — which targets gradc builds for, checked before any code is generated;
 * LLVM's errors caught while it is; what a module needs for the target's linkers.
 *
 * LLVM 16 accepts triples it cannot build gradc's code for: its experimental Xtensa
 * backend crashes in the optimiser, BPF allows five arguments per function, the GPU
 * targets want kernels, AVR and MSP430 have 16-bit pointers, and an object format LLVM
 * has no writer for on that architecture (Mach-O for RISC-V, COFF outside Windows,
 * GOFF at all, ELF for WebAssembly) crashes or aborts. emit_check_target refuses them
 * up front with the reason, and emit_check_cpu a CPU LLVM does not know, naming the
 * ones it does.
 *
 * What remains is guarded. An error LLVM diagnoses while it generates code (a context
 * diagnostic of error severity, which LLVM would answer with exit(1) from whichever
 * thread it is on) becomes an error return (emit_catch_begin/end). A fatal error
 * (report_fatal_error: "Cannot select" in an incomplete backend), after which LLVM
 * cannot go on, ends the process at once: the compile's temporary files removed
 * (emit_fatal_file), a message on stderr, exit status 1, whichever thread it happens
 * on; _exit, so that no other code-generation thread runs on while the process tears
 * down (LLVM would abort, or exit(1) under a running thread). A crash inside LLVM
 * while it optimises or generates code (emit_crash_guard: a defect of some backend
 * not in the table, for some input) ends the process the same way instead of by the
 * signal.
 *
 * Last, emit_prepare_codegen readies an optimised module for the target's linkers: on
 * ELF a section per function and variable (what -ffunction-sections -fdata-sections
 * do, which the C API cannot ask for), so that --gc-sections drops what nothing uses;
 * plain calls of memset/memcpy where LLVM would call helpers of the target's own
 * (__aeabi_memclr4 on ARM EABI), so that an object needs no more than README promises. */
#define _DEFAULT_SOURCE /* pipe, fork */
#include "emit.h"
#include <ctype.h>
#include <errno.h>
#include <llvm-c/ErrorHandling.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "diag.h" /* diag_nearest */

/* ---------------------------------------------------------------- object formats */

static bool starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static bool ends(const char *s, const char *p) {
  size_t n = strlen(s), m = strlen(p);
  return n >= m && !strcmp(s + n - m, p);
}

static bool one_of(const char *s, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(s, *list)) return true;
  return false;
}

/* The registered name of the triple's target ("thumb", "x86-64", ...), "" if none. */
static const char *target_name(const char *triple) {
  LLVMTargetRef t;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(triple, &t, &msg)) return LLVMDisposeMessage(msg), "";
  return LLVMGetTargetName(t);
}

/* The triple's OS part (the third), into os. */
static void triple_os(const char *triple, char *os, size_t n) {
  const char *p = strchr(triple, '-');
  p = p ? strchr(p + 1, '-') : NULL;
  const char *e = p ? strchr(p + 1, '-') : NULL;
  size_t len = !p ? 0 : e ? (size_t)(e - p - 1) : strlen(p + 1);
  snprintf(os, n, "%.*s", (int)len, p ? p + 1 : "");
}

static const char *const macho_coff_archs[] = {"aarch64", "aarch64_32", "arm", "thumb", "x86", "x86-64", NULL};

/* As LLVM 16's Triple decides it: a format named at the end of the environment
 * ("...-elf"), else the architecture's and OS's default. */
EmitFormat emit_object_format(const char *triple) {
  const char *p = triple;
  for (int dashes = 0; p && dashes < 3; dashes++) p = strchr(p, '-') ? strchr(p, '-') + 1 : NULL;
  if (p) { /* the environment: the fourth part and anything after it */
    static const struct { const char *end; EmitFormat f; } named[] = {
        {"xcoff", OBJ_XCOFF}, {"coff", OBJ_COFF}, {"elf", OBJ_ELF}, {"goff", OBJ_GOFF},
        {"macho", OBJ_MACHO}, {"wasm", OBJ_WASM}, {"spirv", OBJ_OTHER}, {"dxcontainer", OBJ_OTHER}};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
      if (ends(p, named[i].end)) return named[i].f;
  }
  const char *name = target_name(triple);
  char os[64];
  triple_os(triple, os, sizeof os);
  if (starts(name, "wasm")) return OBJ_WASM;
  if (one_of(name, macho_coff_archs)) {
    static const char *const darwin[] = {"darwin", "macos", "ios", "tvos", "watchos", "driverkit"};
    for (size_t i = 0; i < sizeof darwin / sizeof *darwin; i++)
      if (starts(os, darwin[i])) return OBJ_MACHO;
    return starts(os, "windows") ? OBJ_COFF : OBJ_ELF;
  }
  if ((!strcmp(name, "ppc32") || !strcmp(name, "ppc64")) && starts(os, "aix")) return OBJ_XCOFF;
  if (!strcmp(name, "systemz") && starts(os, "zos")) return OBJ_GOFF;
  return OBJ_ELF;
}

/* ---------------------------------------------------------------- refused targets */

static const struct {
  const char *name, *why;
} refused[] = {
    {"xtensa", "LLVM 16's Xtensa backend is experimental and crashes on gradc's code"},
    {"m68k", "LLVM 16's M68k backend is experimental and crashes in instruction selection on gradc's code"},
    {"bpf", "BPF functions take at most 5 arguments (gradc's entry points take more) and call nothing"},
    {"bpfel", "BPF functions take at most 5 arguments (gradc's entry points take more) and call nothing"},
    {"bpfeb", "BPF functions take at most 5 arguments (gradc's entry points take more) and call nothing"},
    {"nvptx", "it is a GPU: gradc generates functions a CPU calls, not GPU kernels"},
    {"nvptx64", "it is a GPU: gradc generates functions a CPU calls, not GPU kernels"},
    {"amdgcn", "it is a GPU: gradc generates functions a CPU calls, not GPU kernels"},
    {"r600", "it is a GPU: gradc generates functions a CPU calls, not GPU kernels"},
};

/* Why LLVM 16 cannot write objects of format f for the target named name on OS os, or
 * NULL if it can. */
static const char *format_problem(EmitFormat f, const char *name, const char *os) {
  bool wasm = starts(name, "wasm");
  if (wasm && f != OBJ_WASM)
    return "LLVM 16 writes WebAssembly code only as WebAssembly objects (a triple without an object "
           "format, such as wasm32-unknown-unknown)";
  switch (f) {
  case OBJ_ELF: return NULL;
  case OBJ_WASM: return wasm ? NULL : "LLVM 16 writes WebAssembly objects only for wasm32 and wasm64";
  case OBJ_MACHO:
    return one_of(name, macho_coff_archs) ? NULL : "LLVM 16 writes Mach-O objects only for x86, x86-64, ARM and AArch64";
  case OBJ_COFF:
    if (!one_of(name, macho_coff_archs) || !strcmp(name, "aarch64_32"))
      return "LLVM 16 writes COFF objects only for x86, x86-64, ARM and AArch64";
    return starts(os, "windows") ? NULL : "LLVM 16 writes COFF objects only for Windows (an OS part 'windows')";
  case OBJ_XCOFF:
    return (!strcmp(name, "ppc32") || !strcmp(name, "ppc64")) && starts(os, "aix")
               ? NULL
               : "LLVM 16 writes XCOFF objects only for PowerPC on AIX";
  case OBJ_GOFF: return "LLVM 16 cannot write GOFF (z/OS) objects";
  case OBJ_OTHER: break;
  }
  return "LLVM 16 cannot write objects of this format";
}

/* The size of the target's pointers in bytes (its data layout, from a generic target
 * machine). */
static unsigned pointer_bytes(LLVMTargetRef target, const char *triple) {
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, "", "", LLVMCodeGenLevelNone, LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm) return 0;
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  unsigned n = LLVMPointerSize(td);
  LLVMDisposeTargetData(td);
  LLVMDisposeTargetMachine(tm);
  return n;
}

int emit_check_target(LLVMTargetRef target, const char *triple, char *err, size_t errlen) {
  const char *name = LLVMGetTargetName(target);
  const char *why = NULL;
  for (size_t i = 0; i < sizeof refused / sizeof *refused && !why; i++)
    if (!strcmp(name, refused[i].name)) why = refused[i].why;
  char os[64], bits[128];
  triple_os(triple, os, sizeof os);
  if (!why) why = format_problem(emit_object_format(triple), name, os);
  unsigned ptr = why ? 4 : pointer_bytes(target, triple);
  snprintf(bits, sizeof bits, "gradc's code needs 32- or 64-bit pointers, and '%s' has %u-bit ones", name, ptr * 8);
  if (ptr < 4) why = bits;
  if (why) snprintf(err, errlen, "target '%s' is not supported: %s", triple, why);
  return why ? -1 : 0;
}

/* ---------------------------------------------------------------- the CPU */

static void first_line(const char *reason, char *out, size_t n);

/* Runs fn(target, triple, cpu) in a child process whose stderr is read into out (at
 * most n - 1 bytes); returns whether the child exited with status 0. */
static bool in_child(void (*fn)(LLVMTargetRef, const char *, const char *), LLVMTargetRef target, const char *triple,
                     const char *cpu, char *out, size_t n) {
  int fds[2];
  out[0] = 0;
  if (pipe(fds)) return false;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    LLVMResetFatalErrorHandler(); /* LLVM's own: "LLVM ERROR: ..." on stderr, then abort */
    fn(target, triple, cpu);
    _exit(0);
  }
  close(fds[1]);
  size_t got = 0;
  for (ssize_t r; got < n - 1 && (r = read(fds[0], out + got, n - 1 - got)) != 0;) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    got += (size_t)r;
  }
  out[got] = 0;
  close(fds[0]);
  int st = 0;
  while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A function compiled for cpu: LLVM warns on stderr of a CPU it does not know, and
 * aborts on one that lacks the triple's basic features. */
static void try_cpu(LLVMTargetRef target, const char *triple, const char *cpu) {
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, cpu, "", LLVMCodeGenLevelNone, LLVMRelocPIC, LLVMCodeModelDefault);
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("probe", ctx);
  LLVMValueRef fn = LLVMAddFunction(mod, "probe", LLVMFunctionType(LLVMVoidTypeInContext(ctx), NULL, 0, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  LLVMBuildRetVoid(b);
  char *msg = NULL;
  LLVMMemoryBufferRef out = NULL;
  if (!tm || LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &out)) _exit(1);
}

/* LLVM lists the target's CPUs on stderr for the CPU name "help". */
static void list_cpus(LLVMTargetRef target, const char *triple, const char *cpu) {
  (void)cpu;
  LLVMCreateTargetMachine(target, triple, "help", "", LLVMCodeGenLevelNone, LLVMRelocPIC, LLVMCodeModelDefault);
}

/* The CPU names of LLVM's list (text), space-separated into names; their count. */
static int cpu_names(const char *text, char *names, size_t n, const char **v, int maxv) {
  const char *p = strstr(text, "Available CPUs for this target:");
  int k = 0;
  names[0] = 0;
  if (!p) return 0;
  p = strchr(p, '\n');
  for (size_t used = 0; p && *++p;) { /* p at the start of a line */
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len && *p == ' ') p++, len--;
    if (!len && k) break; /* the blank line after the list */
    size_t w = strcspn(p, " \n");
    if (w && w < len && k < maxv && used + w + 1 < n) {
      memcpy(names + used, p, w);
      names[used + w] = 0;
      v[k++] = names + used;
      used += w + 1;
    }
    p = e;
  }
  return k;
}

/* Appends the printf-formatted text to err at *n (while it fits). */
__attribute__((format(printf, 4, 5))) static void append(char *err, size_t errlen, int *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (*n >= 0 && (size_t)*n < errlen) *n += vsnprintf(err + *n, errlen - (size_t)*n, fmt, ap);
  va_end(ap);
}

/* The message for a CPU the probe refused: LLVM's reason for one it knows, else the
 * nearest name and the target's list (lines of about 100 characters). */
static void cpu_message(const char *triple, const char *cpu, const char *said, const char *list, char *err,
                        size_t errlen) {
  char *names = malloc(16384);
  const char **v = malloc(sizeof *v * 1024);
  int k = names && v ? cpu_names(list, names, 16384, v, 1024) : 0, n = 0;
  bool known = false;
  for (int i = 0; i < k; i++) known |= !strcmp(v[i], cpu);
  const char *why = strstr(said, "LLVM ERROR: ");
  char reason[512];
  first_line(why ? why + 12 : said, reason, sizeof reason);
  if (known) {
    append(err, errlen, &n, "--cpu '%s' cannot generate code for target '%s'", cpu, triple);
    if (reason[0]) append(err, errlen, &n, ": %s", reason);
  } else {
    append(err, errlen, &n, "--cpu '%s' is not a processor LLVM knows for target '%s'", cpu, triple);
    const char *near = k ? diag_nearest(cpu, v, k) : NULL;
    if (near) append(err, errlen, &n, "; did you mean '%s'?", near);
    if (!k) append(err, errlen, &n, " (llc-16 -mtriple=%s -mcpu=help lists them)", triple);
    else append(err, errlen, &n, "\n  its processors:");
    for (int i = 0, col = 18; i < k; i++) {
      bool wrap = col + (int)strlen(v[i]) > 100;
      append(err, errlen, &n, "%s%s%s", wrap ? "\n    " : " ", v[i], i + 1 < k ? "," : "");
      col = (wrap ? 4 : col + 1) + (int)strlen(v[i]) + 1;
    }
  }
  free(names), free(v);
}

int emit_check_cpu(LLVMTargetRef target, const char *triple, const char *cpu, char *err, size_t errlen) {
  char said[2048];
  if (in_child(try_cpu, target, triple, cpu, said, sizeof said) && !said[0]) return 0;
  char *list = malloc(65536);
  if (list) in_child(list_cpus, target, triple, cpu, list, 65536);
  cpu_message(triple, cpu, said, list ? list : "", err, errlen);
  free(list);
  return -1;
}

/* ---------------------------------------------------------------- LLVM's errors */

#define MAX_FILES 8
static char fatal_triple[256];
static const char *volatile fatal_files[MAX_FILES];
static atomic_int dying;

void emit_fatal_file(const char *path, bool add) {
  for (int i = 0; i < MAX_FILES; i++) {
    if (add && !fatal_files[i]) {
      fatal_files[i] = path;
      return;
    }
    if (!add && fatal_files[i] == path) fatal_files[i] = NULL;
  }
}

/* The first line of LLVM's reason, without the node addresses ("0x55d0...: ") that
 * differ from run to run. */
static void first_line(const char *reason, char *out, size_t n) {
  size_t k = 0;
  for (const char *p = reason; *p && *p != '\n' && k + 1 < n;) {
    if (p[0] == '0' && p[1] == 'x' && (p == reason || p[-1] == ' ')) {
      const char *q = p + 2;
      while (isxdigit((unsigned char)*q)) q++;
      if (*q == ':') q += q[1] == ' ' ? 2 : 1; /* "0x...: " before a node */
      else if (k && out[k - 1] == ' ') k--;    /* " 0x..." as an operand */
      p = q;
      continue;
    }
    out[k++] = *p++;
  }
  out[k] = 0;
}

/* Ends the process: the registered files removed, msg (n bytes) on stderr, exit status
 * 1. Async-signal-safe (unlink, write, _exit). */
static void die(const char *msg, size_t n) {
  if (atomic_exchange(&dying, 1)) /* another thread is ending the process */
    for (;;) pause();
  for (int i = 0; i < MAX_FILES; i++)
    if (fatal_files[i]) unlink(fatal_files[i]);
  if (write(2, msg, n) < 0) {
  }
  _exit(1);
}

static void on_fatal(const char *reason) {
  char line[1024], msg[1536];
  first_line(reason ? reason : "", line, sizeof line);
  int n = snprintf(msg, sizeof msg,
                   "gradc: LLVM 16 cannot generate code for target '%s' (a limit of LLVM's backend for it, not "
                   "an error in the model): %s\n",
                   fatal_triple, line);
  die(msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* A crash inside LLVM while the guard is on: only async-signal-safe calls from here. */
static void on_crash(int sig) {
  static const char a[] = "gradc: LLVM 16 crashed (signal ", b[] = ") generating code for target '",
                    c[] = "' (a defect of LLVM's backend for it, not an error in the model)\n";
  char msg[512], *p = msg;
  memcpy(p, a, sizeof a - 1), p += sizeof a - 1;
  if (sig >= 10) *p++ = (char)('0' + sig / 10);
  *p++ = (char)('0' + sig % 10);
  memcpy(p, b, sizeof b - 1), p += sizeof b - 1;
  for (const char *t = fatal_triple; *t && p < msg + 400; t++) *p++ = *t;
  memcpy(p, c, sizeof c - 1), p += sizeof c - 1;
  die(msg, (size_t)(p - msg));
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define NCRASH (int)(sizeof crash_signals / sizeof *crash_signals)
static struct sigaction saved[NCRASH];

void emit_crash_guard(bool on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < NCRASH; i++) {
    if (on) sigaction(crash_signals[i], &sa, &saved[i]);
    else sigaction(crash_signals[i], &saved[i], NULL);
  }
}

static void install(void) { LLVMInstallFatalErrorHandler(on_fatal); }

void emit_guard_target(const char *triple) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install);
  snprintf(fatal_triple, sizeof fatal_triple, "%s", triple);
}

static void on_diagnostic(LLVMDiagnosticInfoRef di, void *arg) {
  DiagCatch *c = arg;
  if (LLVMGetDiagInfoSeverity(di) != LLVMDSError || c->failed) return; /* warnings, remarks: not ours to print */
  char *d = LLVMGetDiagInfoDescription(di);
  first_line(d, c->msg, sizeof c->msg);
  LLVMDisposeMessage(d);
  c->failed = true;
}

void emit_catch_begin(DiagCatch *c, LLVMContextRef ctx) {
  *c = (DiagCatch){.ctx = ctx, .prev = LLVMContextGetDiagnosticHandler(ctx), .prev_arg = LLVMContextGetDiagnosticContext(ctx)};
  LLVMContextSetDiagnosticHandler(ctx, on_diagnostic, c);
}

int emit_catch_end(DiagCatch *c, char *err, size_t errlen) {
  LLVMContextSetDiagnosticHandler(c->ctx, c->prev, c->prev_arg);
  if (!c->failed) return 0;
  snprintf(err, errlen, "LLVM 16 cannot generate code for target '%s': %s", fatal_triple, c->msg);
  return -1;
}

/* ---------------------------------------------------------------- before code generation */

/* Whether LLVM 16's code generator may turn memset/memcpy into helpers of the
 * target's own rather than calls of memset/memcpy: ARM's run-time ABI (__aeabi_memclr4,
 * __aeabi_memcpy), Hexagon (__hexagon_memcpy_likely_aligned_min32bytes_mult8bytes),
 * XCore (__memcpy_4), Darwin (bzero). */
static bool own_mem_helpers(const char *name, EmitFormat f) {
  static const char *const list[] = {"arm", "armeb", "thumb", "thumbeb", "hexagon", "xcore", NULL};
  return one_of(name, list) || f == OBJ_MACHO;
}

/* The kind of memory intrinsic fn is: 's' llvm.memset, 'c' llvm.memcpy, 'm' llvm.memmove, else 0. */
static char mem_intrinsic(LLVMValueRef fn) {
  size_t len;
  const char *n = fn && LLVMIsAFunction(fn) ? LLVMGetValueName2(fn, &len) : "";
  return starts(n, "llvm.memset.") ? 's' : starts(n, "llvm.memcpy.") ? 'c' : starts(n, "llvm.memmove.") ? 'm' : 0;
}

/* The intrinsic call replaced by a call of the C function (nobuiltin: nothing turns it
 * back into the intrinsic, and the code generator calls it by its name). */
static void plain_call(LLVMModuleRef mod, LLVMValueRef call, char kind) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), i32 = LLVMInt32TypeInContext(ctx);
  LLVMTypeRef size = LLVMIntPtrTypeInContext(ctx, LLVMGetModuleDataLayout(mod));
  LLVMTypeRef params[3] = {ptr, kind == 's' ? i32 : ptr, size};
  LLVMTypeRef fty = LLVMFunctionType(ptr, params, 3, 0);
  const char *name = kind == 's' ? "memset" : kind == 'c' ? "memcpy" : "memmove";
  LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
  if (!fn) fn = LLVMAddFunction(mod, name, fty);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMPositionBuilderBefore(b, call);
  LLVMValueRef args[3] = {LLVMGetOperand(call, 0), LLVMGetOperand(call, 1), LLVMGetOperand(call, 2)};
  if (kind == 's') args[1] = LLVMBuildZExt(b, args[1], i32, "");
  args[2] = LLVMBuildIntCast2(b, args[2], size, 0, "");
  LLVMValueRef c = LLVMBuildCall2(b, fty, fn, args, 3, "");
  unsigned nobuiltin = LLVMGetEnumAttributeKindForName("nobuiltin", 9);
  LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, nobuiltin, 0));
  LLVMDisposeBuilder(b);
  LLVMInstructionEraseFromParent(call);
}

/* llvm.fmuladd(a, b, c) replaced by a * b + c, unfused. */
static void unfuse(LLVMModuleRef mod, LLVMValueRef call) {
  LLVMBuilderRef b = LLVMCreateBuilderInContext(LLVMGetModuleContext(mod));
  LLVMPositionBuilderBefore(b, call);
  LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildFMul(b, LLVMGetOperand(call, 0), LLVMGetOperand(call, 1), ""),
                                 LLVMGetOperand(call, 2), "");
  LLVMDisposeBuilder(b);
  LLVMReplaceAllUsesWith(call, v);
  LLVMInstructionEraseFromParent(call);
}

/* Every call of a memory intrinsic replaced by a plain call (mem), every llvm.fmuladd
 * unfused (fma). */
static void rewrite_calls(LLVMModuleRef mod, bool mem, bool fma) {
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn))
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef i = LLVMGetFirstInstruction(bb), next; i; i = next) {
        next = LLVMGetNextInstruction(i);
        LLVMValueRef callee = LLVMIsACallInst(i) ? LLVMGetCalledValue(i) : NULL;
        size_t len;
        char kind = mem ? mem_intrinsic(callee) : 0;
        if (kind) plain_call(mod, i, kind);
        else if (fma && callee && LLVMIsAFunction(callee) && starts(LLVMGetValueName2(callee, &len), "llvm.fmuladd."))
          unfuse(mod, i);
      }
}

/* LoongArch without an FPU (the generic CPUs: no +f, +d, +lsx or +lasx): LLVM 16 takes
 * fused multiply-adds to be faster there too and calls fmaf from libm for them. */
static bool soft_fma_libcall(LLVMTargetMachineRef tm) {
  if (!starts(LLVMGetTargetName(LLVMGetTargetMachineTarget(tm)), "loongarch")) return false;
  char *cpu = LLVMGetTargetMachineCPU(tm), *features = LLVMGetTargetMachineFeatureString(tm);
  bool fpu = !strcmp(cpu, "la464") || strstr(features, "+f") || strstr(features, "+d") || strstr(features, "+lsx") ||
             strstr(features, "+lasx");
  LLVMDisposeMessage(cpu), LLVMDisposeMessage(features);
  return !fpu;
}

/* Whether values of type t hold pointers (a constant of it needs relocations). */
static bool has_pointers(LLVMTypeRef t) {
  switch (LLVMGetTypeKind(t)) {
  case LLVMPointerTypeKind: return true;
  case LLVMArrayTypeKind:
  case LLVMVectorTypeKind: return has_pointers(LLVMGetElementType(t));
  case LLVMStructTypeKind:
    for (unsigned i = 0; i < LLVMCountStructElementTypes(t); i++)
      if (has_pointers(LLVMStructGetTypeAtIndex(t, i))) return true;
    return false;
  default: return false;
  }
}

static void set_section(LLVMValueRef g, const char *prefix, int *unnamed) {
  size_t len;
  const char *name = LLVMGetValueName2(g, &len);
  char *sec = malloc(strlen(prefix) + len + 32);
  if (!sec) return; /* then it stays in the shared section */
  if (len) sprintf(sec, "%s%.*s", prefix, (int)len, name);
  else sprintf(sec, "%sgradc.unnamed.%d", prefix, (*unnamed)++);
  LLVMSetSection(g, sec);
  free(sec);
}

/* ELF: each definition in a section of its own, named as -ffunction-sections and
 * -fdata-sections name them (the C API has no such target option). */
static void own_sections(LLVMModuleRef mod) {
  int unnamed = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    const char *s = LLVMGetSection(f);
    if (!LLVMIsDeclaration(f) && !(s && *s)) set_section(f, ".text.", &unnamed);
  }
  for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g)) {
    const char *s = LLVMGetSection(g);
    if (LLVMIsDeclaration(g) || (s && *s) || LLVMIsThreadLocal(g)) continue;
    LLVMValueRef init = LLVMGetInitializer(g);
    const char *prefix = LLVMIsGlobalConstant(g) ? (has_pointers(LLVMGlobalGetValueType(g)) ? ".data.rel.ro." : ".rodata.")
                         : LLVMIsNull(init)     ? ".bss."
                                                : ".data.";
    set_section(g, prefix, &unnamed);
  }
}

void emit_prepare_codegen(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  EmitFormat f = emit_object_format(triple);
  LLVMDisposeMessage(triple);
  if (f == OBJ_ELF) own_sections(mod);
  bool mem = own_mem_helpers(LLVMGetTargetName(LLVMGetTargetMachineTarget(tm)), f), fma = soft_fma_libcall(tm);
  if (mem || fma) rewrite_calls(mod, mem, fma);
}
