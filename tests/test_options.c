/* test_options.c — the compiler library's settings are its options (gc_options): it
 * reads no environment variable. The gradc driver turns GRADC_CC and
 * GRADC_PROFILE_KERNELS into gc_options.cc and .profile_kernels (tools/gradc/options.c);
 * set in the environment of a program that calls the library, they change nothing.
 * (GRADC_CODEGEN_THREADS, .codegen_threads, changes no output: test_parallel.c.)
 *
 * This executable links the compiler library alone, without the host runtime (tests/
 * CMakeLists.txt; the library brings the freestanding core): that it links shows the
 * library needs nothing of gradcrt, and the test compiler_links_no_ffi checks that
 * libffi is none of its direct dependencies. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gradc/compiler.h"

static const char *src = "model t\ninput x : f32[4, 8]\nparam w : f32[8, 3] = randn(0.1)\n"
                         "param b : f32[3] = zeros\ny = softmax(relu(x @ w + b))\nloss = sum(y * y)\n"
                         "minimize loss\noutput y\n";

typedef struct {
  char dir[64], out[128];
} Tmp;

static void tmp_make(Tmp *t, const char *name) {
  snprintf(t->dir, sizeof t->dir, "/tmp/gradc-opt-XXXXXX");
  cr_assert(mkdtemp(t->dir));
  snprintf(t->out, sizeof t->out, "%s/%s", t->dir, name);
}

static void tmp_remove(Tmp *t) {
  char h[160];
  snprintf(h, sizeof h, "%s/t.h", t->dir);
  unlink(t->out), unlink(h), rmdir(t->dir);
}

/* Compiles src with o's emit, cc and profile_kernels into t->out; gc_compile's status. */
static int compile(Tmp *t, gc_emit emit, const char *cc, bool profile, char *err, size_t errlen) {
  gc_options o = {.path = "t.grad", .source = src, .opt_level = 2, .emit = emit, .out = t->out, .cc = cc,
                  .profile_kernels = profile};
  gc_result res;
  return gc_compile(&o, &res, err, errlen);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = calloc((size_t)n + 1, 1);
  cr_assert(s && fread(s, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  return s;
}

Test(options, gradc_cc_in_the_environment_is_not_read) {
  Tmp t;
  tmp_make(&t, "t.so");
  char err[4096];
  setenv("GRADC_CC", "/nonexistent/gradc-test-cc", 1);
  cr_expect_eq(compile(&t, GC_EMIT_SO, NULL, false, err, sizeof err), 0, "the library read GRADC_CC: %s", err);
  struct stat st;
  cr_expect(stat(t.out, &st) == 0 && st.st_size > 0, "no shared object");
  unsetenv("GRADC_CC");
  tmp_remove(&t);
}

Test(options, cc_option_links) {
  Tmp t;
  tmp_make(&t, "t.so");
  char err[4096];
  cr_expect_eq(compile(&t, GC_EMIT_SO, "/nonexistent/gradc-test-cc", false, err, sizeof err), 2);
  cr_expect(strstr(err, "cannot run the linker '/nonexistent/gradc-test-cc'"), "%s", err);
  cr_expect(access(t.out, F_OK) != 0, "a failed link left %s", t.out);
  tmp_remove(&t);
}

/* profile_kernels keeps every kernel a function of its own (noinline); the variable
 * alone does not. */
Test(options, gradc_profile_kernels_in_the_environment_is_not_read) {
  Tmp t;
  tmp_make(&t, "t.ll");
  char err[4096];
  cr_assert_eq(compile(&t, GC_EMIT_LLVM, NULL, false, err, sizeof err), 0, "%s", err);
  char *plain = slurp(t.out);
  setenv("GRADC_PROFILE_KERNELS", "1", 1);
  cr_assert_eq(compile(&t, GC_EMIT_LLVM, NULL, false, err, sizeof err), 0, "%s", err);
  char *env = slurp(t.out);
  unsetenv("GRADC_PROFILE_KERNELS");
  cr_assert_eq(compile(&t, GC_EMIT_LLVM, NULL, true, err, sizeof err), 0, "%s", err);
  char *profiled = slurp(t.out);
  cr_expect_str_eq(env, plain, "the library read GRADC_PROFILE_KERNELS");
  cr_expect_str_neq(profiled, plain, "profile_kernels changed nothing");
  free(plain), free(env), free(profiled);
  tmp_remove(&t);
}
