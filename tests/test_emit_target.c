/* test_emit_target.c — compiler/emit_target.c in-process: the object format LLVM 16
 * writes for a triple (the table the target checks and the per-symbol sections rest
 * on); an error LLVM diagnoses while it generates code returned as an error, the
 * process going on (LLVM's own answer is exit(1), from whichever thread); a crash
 * inside the guarded LLVM work ending the process with a message and exit status 1,
 * its temporary files removed, instead of by the signal; the guard restoring the
 * handlers there were. The targets themselves, run through gradc, are tested in
 * tests/e2e/e2e_targets.c. */
#define _DEFAULT_SOURCE /* mkstemp, pipe */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <llvm-c/Target.h>
#include "emit.h"

Test(emit_target, object_formats) {
  LLVMInitializeAllTargetInfos();
  static const struct {
    const char *triple;
    EmitFormat f;
  } cases[] = {
      {"x86_64-pc-linux-gnu", OBJ_ELF},          {"thumbv7em-none-unknown-eabihf", OBJ_ELF},
      {"x86_64-apple-darwin", OBJ_MACHO},        {"arm64-apple-macos", OBJ_MACHO},
      {"armv7-apple-ios", OBJ_MACHO},            {"thumbeb-apple-ios", OBJ_ELF}, /* no Mach-O default for big-endian */
      {"x86_64-pc-windows-msvc", OBJ_COFF},      {"x86_64-w64-windows-gnu", OBJ_COFF},
      {"x86_64-pc-windows-elf", OBJ_ELF},        {"powerpc64-ibm-aix", OBJ_XCOFF},
      {"powerpc64le-unknown-linux-gnu", OBJ_ELF}, {"s390x-ibm-zos", OBJ_GOFF},
      {"wasm32-unknown-unknown", OBJ_WASM},      {"wasm32-unknown-none-elf", OBJ_ELF},
      {"riscv32-unknown-unknown-macho", OBJ_MACHO}, {"arm-none-unknown-eabi-macho", OBJ_MACHO},
      {"x86_64-unknown-linux-gnu-coff", OBJ_COFF}, {"powerpc-unknown-linux-xcoff", OBJ_XCOFF},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    cr_expect_eq(emit_object_format(cases[i].triple), cases[i].f, "%s: format %d, expected %d", cases[i].triple,
                 emit_object_format(cases[i].triple), cases[i].f);
}

/* A module of the host whose inline assembly LLVM's assembler rejects: an error
 * diagnosed in the middle of code generation. */
Test(emit_target, diagnosed_error_is_returned) {
  char err[1024] = "";
  LLVMTargetMachineRef tm = emit_target_machine(NULL, NULL, 2, err, sizeof err);
  cr_assert(tm, "%s", err);
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("bad_asm", ctx);
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  static const char bad[] = "no_such_instruction %eax\n";
  LLVMSetModuleInlineAsm2(mod, bad, sizeof bad - 1);
  char path[] = "/tmp/gradc-emit-target-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  int rc = emit_machine_code(mod, tm, LLVMObjectFile, path, err, sizeof err);
  unlink(path);
  cr_expect_eq(rc, -1, "the rejected assembly was not an error");
  cr_expect(strstr(err, "cannot generate code") && strstr(err, "no_such_instruction"), "the message: %s", err);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  LLVMDisposeTargetMachine(tm);
}

typedef struct {
  int status, signal;
  char err[1024];
} Child;

/* Runs fn in a child process; its exit status or signal, and its stderr. */
static Child in_child(void (*fn)(const char *), const char *arg) {
  int fds[2];
  cr_assert(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn(arg);
    _exit(99);
  }
  close(fds[1]);
  Child c = {-1, 0, ""};
  size_t n = 0;
  for (ssize_t r; n < sizeof c.err - 1 && (r = read(fds[0], c.err + n, sizeof c.err - 1 - n)) > 0;) n += (size_t)r;
  c.err[n] = 0;
  close(fds[0]);
  int st;
  cr_assert(waitpid(pid, &st, 0) == pid);
  if (WIFEXITED(st)) c.status = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) c.signal = WTERMSIG(st);
  return c;
}

static void crash_guarded(const char *path) {
  emit_guard_target("test-unknown-triple");
  emit_fatal_file(path, true);
  emit_crash_guard(true);
  raise(SIGSEGV);
}

static void abort_guarded(const char *path) {
  (void)path;
  emit_guard_target("test-unknown-triple");
  emit_crash_guard(true);
  abort();
}

/* The handler the process had before the guard (a sanitizer build has its own for
 * SIGSEGV, so the test installs a known one). */
static void before_guard(int sig) {
  (void)sig;
  static const char msg[] = "the handler from before the guard\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(43);
  _exit(42);
}

static void crash_after_guard(const char *path) {
  (void)path;
  signal(SIGSEGV, before_guard);
  emit_crash_guard(true);
  emit_crash_guard(false);
  raise(SIGSEGV);
}

Test(emit_target, crash_in_guard_ends_with_a_message) {
  char path[] = "/tmp/gradc-emit-target-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  Child c = in_child(crash_guarded, path);
  bool left = access(path, F_OK) == 0;
  unlink(path);
  cr_expect_eq(c.signal, 0, "the child died of signal %d: %s", c.signal, c.err);
  cr_expect_eq(c.status, 1, "exit status %d: %s", c.status, c.err);
  cr_expect(strstr(c.err, "gradc: LLVM 16 crashed (signal 11)") && strstr(c.err, "'test-unknown-triple'"),
            "the message: %s", c.err);
  cr_expect(!left, "the registered temporary file was left behind");
  c = in_child(abort_guarded, NULL);
  cr_expect(c.status == 1 && strstr(c.err, "crashed (signal 6)"), "abort: status %d signal %d: %s", c.status,
            c.signal, c.err);
}

Test(emit_target, guard_off_restores_the_handlers) {
  Child c = in_child(crash_after_guard, NULL);
  cr_expect_eq(c.status, 42, "status %d, signal %d: %s", c.status, c.signal, c.err);
  cr_expect(!strcmp(c.err, "the handler from before the guard\n"), "not the handler from before the guard: %s", c.err);
}
