/* test_limits.c — every size limit of the compiler, the CSV reader and the weights
 * reader fails with a clear message instead of overflowing, crashing or exhausting
 * memory. Each test says what would happen without its guard; each asserts the
 * guard's message, so it fails if the guard is removed. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"

#define SCRATCH_TAG "limits"
#include "support/scratch_dir.h"

/* Compiles src to the readable IR (no code generation); returns gc_compile's code. */
static int compile_src(const char *src, char *err, size_t errlen) {
  char out[300];
  snprintf(out, sizeof out, "/tmp/gradc_limits_%d.ir", (int)getpid());
  gc_options o = {.path = "limits.grad", .source = src, .opt_level = 1, .emit = GC_EMIT_IR, .out = out};
  err[0] = 0;
  int rc = gc_compile(&o, NULL, err, errlen);
  unlink(out);
  return rc;
}

static void expect_model_error(const char *src, const char *want) {
  char err[8192];
  int rc = compile_src(src, err, sizeof err);
  cr_assert_eq(rc, 1, "expected a model error containing \"%s\"; gc_compile returned %d: %s", want, rc, err);
  cr_assert(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
}

/* A sparse file of `size` bytes, beginning with `head` (len bytes). */
static void sparse_file(const char *path, const void *head, size_t len, off_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert_geq(fd, 0, "%s", path);
  if (len) cr_assert_eq(write(fd, head, len), (ssize_t)len);
  cr_assert_eq(ftruncate(fd, size), 0, "ftruncate %s to %lld bytes", path, (long long)size);
  close(fd);
}

/* ---- tensor sizes (compiler/build.c) ---- */

/* Without the cap, a tensor of 2^32+ elements would be compiled with 32-bit indexes
 * that wrap: silently wrong code reading outside its buffers. */
Test(limits, tensor_over_2_31_elements) {
  expect_model_error("model m\nparam w : f32[65536, 32769]\nl = sum(w)\nminimize l\n", "more than 2^31 elements");
  /* exactly 2^31 is allowed */
  char err[4096];
  cr_assert_eq(compile_src("model m\nparam w : f32[65536, 32768]\nl = sum(w)\nminimize l\n", err, sizeof err), 0, "%s",
               err);
}

/* Checked after every factor: without that (one check of the final product), five
 * dims of 2^31 - 1 multiply past 2^63, the int64 product wraps (undefined behaviour)
 * and can come out small enough to pass. */
Test(limits, product_of_many_dims_does_not_overflow) {
  expect_model_error("model m\nparam w : f32[2147483647, 2147483647, 2147483647, 2147483647, 2147483647]\n"
                     "l = sum(w)\nminimize l\n",
                     "more than 2^31 elements");
  expect_model_error("model m\nparam w : f32[16, 16, 16, 16, 16, 16, 16, 16]\nl = sum(w)\nminimize l\n",
                     "more than 2^31 elements"); /* 2^32 from small dims */
  /* A dimension itself must fit in 31 bits (the parser refuses it). */
  expect_model_error("model m\nparam w : f32[2147483648]\nl = sum(w)\nminimize l\n",
                     "must be an integer between 0 and 2147483647");
}

/* Without the check at the type, dims beyond the 8th are written past the end of
 * Shape.d[8]: stack corruption in the compiler. */
Test(limits, rank_above_8) {
  expect_model_error("model m\nparam w : f32[1, 1, 1, 1, 1, 1, 1, 1, 1]\nl = sum(w)\nminimize l\n",
                     "rank 9 exceeds the maximum of 8");
  char err[4096];
  cr_assert_eq(compile_src("model m\nparam w : f32[1, 2, 1, 2, 1, 2, 1, 2]\nl = sum(w)\nminimize l\n", err,
                           sizeof err),
               0, "rank 8 must be accepted: %s", err);
}

/* Values larger than their operands (broadcasting, matrix products): without the
 * per-value check, leaves within limits make a 2^32-element value that is compiled
 * with wrapping 32-bit indexes. The message points at the expression. */
Test(limits, value_over_2_31_elements) {
  expect_model_error("model m\ninput a : f32[65536, 1]\ninput b : f32[1, 65536]\ny = a * b\noutput y\n",
                     "limits.grad:4:7: error: this value would have shape [65536, 65536], more than 2^31 elements");
  expect_model_error("model m\ninput a : f32[65536, 1]\nparam b : f32[1, 65536]\ny = a @ b\nl = sum(y)\nminimize l\n",
                     "more than 2^31 elements");
}

/* Without the budget, a model whose tensors total more than 2^34 elements (64 GiB)
 * compiles, heading for buffer sizes and workspace offsets near overflow. */
Test(limits, model_too_large) {
  char src[2048] = "model m\n";
  for (int i = 0; i < 9; i++)
    snprintf(src + strlen(src), sizeof src - strlen(src), "param w%d : f32[65536, 32768]\n", i); /* 2^31 each */
  strcat(src, "l = sum(w0)\nminimize l\n");
  expect_model_error(src, "model too large");
}

/* ---- nesting (compiler/parse.c and compiler/build.c) ---- */

static char *repeat3(const char *pre, const char *unit, int n, const char *mid, const char *unit2, const char *post) {
  size_t len = strlen(pre) + (strlen(unit) + strlen(unit2)) * (size_t)n + strlen(mid) + strlen(post) + 1;
  char *s = malloc(len), *p = s;
  p += sprintf(p, "%s", pre);
  for (int i = 0; i < n; i++) p += sprintf(p, "%s", unit);
  p += sprintf(p, "%s", mid);
  for (int i = 0; i < n; i++) p += sprintf(p, "%s", unit2);
  sprintf(p, "%s", post);
  return s;
}

/* Without the parser's depth limit, 200000 nested parentheses or minus signs overflow
 * the stack of the recursive-descent parser: a crash (SIGSEGV). */
Test(limits, nesting_deeper_than_parser_allows) {
  char *src = repeat3("model m\ninput x : f32[4]\ny = ", "(", 200000, "x", ")", "\noutput y\n");
  expect_model_error(src, "expression nested too deeply (the limit is 256 levels)");
  free(src);
  src = repeat3("model m\ninput x : f32[4]\ny = ", "-", 200000, "x", "", "\noutput y\n");
  expect_model_error(src, "nested too deeply");
  free(src);
  src = repeat3("model m\ninput x : f32[4]\ny = ", "exp(", 200000, "x", ")", "\noutput y\n");
  expect_model_error(src, "nested too deeply");
  free(src);
  src = repeat3("model m\ninput x : f32[4]\ny = ", "(", 250, "x", ")", "\noutput y\n");
  char err[4096];
  cr_assert_eq(compile_src(src, err, sizeof err), 0, "250 levels must be accepted: %s", err);
  free(src);
}

/* A flat chain `x + x + ... + x` is parsed by a loop, but its tree is as deep as it is
 * long and the graph builder walks it recursively: without the depth limit, 200000
 * terms overflow the stack (SIGSEGV, observed). */
Test(limits, expression_chain_too_long) {
  char *src = repeat3("model m\ninput x : f32[4]\ny = x", " + x", 200000, "", "", "\noutput y\n");
  expect_model_error(src, "expression too long");
  free(src);
  src = repeat3("model m\ninput x : f32[4]\ny = x", " + x", 1999, "", "", "\noutput y\n");
  char err[4096];
  cr_assert_eq(compile_src(src, err, sizeof err), 0, "1999 terms must be accepted: %s", err);
  free(src);
}

/* Without the name index, each of a model's definitions searched all earlier ones: 200,000
 * `let`s took about two minutes (quadratic), a cheap way to stall a build service. Now
 * linear: well under a second; the timeout is far above that and far below the old
 * time. Duplicate names are still found among them. */
Test(limits, many_definitions_compile_in_linear_time, .timeout = 20) {
  enum { N = 200000 };
  size_t cap = (size_t)N * 32 + 256, n = 0;
  char *src = malloc(cap);
  cr_assert(src);
  n += (size_t)snprintf(src + n, cap - n, "model m\ninput x : f32[4]\n");
  for (int i = 0; i < N; i++) n += (size_t)snprintf(src + n, cap - n, "v%d = x * %d\n", i, i % 7 + 1);
  n += (size_t)snprintf(src + n, cap - n, "y = v0 + v%d\noutput y\n", N - 1);
  char err[4096];
  cr_assert_eq(compile_src(src, err, sizeof err), 0, "%s", err);
  snprintf(src + n, cap - n, "v%d = x\n", N / 2); /* defined twice */
  expect_model_error(src, "is already defined");
  free(src);
}

/* ---- files too big to be sane ---- */

/* Without the cap, the compiler reads any model file into memory whole: a 100 GB file
 * (or a sparse one) exhausts memory. */
Test(limits, model_file_over_64_MiB, .init = make_dir, .fini = remove_dir) {
  const char *head = "model m\ninput x : f32[4]\noutput x\n";
  sparse_file(at("big.grad"), head, strlen(head), ((off_t)64 << 20) + 1);
  gc_options o = {.path = at("big.grad"), .emit = GC_EMIT_IR, .out = at("big.ir")};
  char err[4096];
  int rc = gc_compile(&o, NULL, err, sizeof err);
  cr_assert_neq(rc, 0, "a model file over 64 MiB compiled");
  cr_assert(strstr(err, "model file larger than 64 MiB"), "%s", err);
}

/* Without the cap, `gradc train` would malloc and read the whole CSV (here 4 GiB + 1
 * of zero bytes) before parsing its first line. */
Test(limits, csv_over_4_GiB, .init = make_dir, .fini = remove_dir, .timeout = 120) {
  FILE *f = fopen(at("m.grad"), "w");
  cr_assert_not_null(f);
  fputs("model m\nbatch N = 2\ninput x : f32[N, 2]\nparam w : f32[2]\nl = mean(x * w)\nminimize l\n", f);
  fclose(f);
  const char *row = "1,2\n";
  sparse_file(at("big.csv"), row, strlen(row), ((off_t)4 << 30) + 1);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s/bin/gradc' train m.grad --data big.csv --epochs 1 > out.txt 2>&1", dir,
           GRADC_BINARY_DIR);
  int st = system(cmd);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "gradc train accepted a CSV file over 4 GiB (status %d)", st);
  FILE *o = fopen(at("out.txt"), "r");
  char out[4096] = "";
  size_t n = o ? fread(out, 1, sizeof out - 1, o) : 0;
  out[n] = 0;
  if (o) fclose(o);
  cr_assert(strstr(out, "big.csv: error: file larger than 4 GiB"), "%s", out);
}

static gradc_tensor_info one_param(void) {
  gradc_tensor_info t = {.name = "w", .role = GRADC_ROLE_PARAM, .dtype = GRADC_F32, .rank = 1, .shape = {4}, .count = 4};
  return t;
}

/* Without the cap on the header length, a file whose header claims 120 MB (and is
 * that long) is read and handed whole to the JSON parser. */
Test(limits, safetensors_header_over_100_MB, .init = make_dir, .fini = remove_dir) {
  unsigned char head[8];
  uint64_t hl = 120ull << 20;
  for (int i = 0; i < 8; i++) head[i] = (unsigned char)(hl >> (8 * i));
  sparse_file(at("h.st"), head, 8, (off_t)(8 + hl + 16));
  gradc_tensor_info want = one_param();
  float w[4] = {1, 2, 3, 4}, *dst[1] = {w};
  char err[1024];
  cr_assert_lt(gradc_read_safetensors(at("h.st"), &want, dst, 1, err, sizeof err), 0);
  cr_assert(strstr(err, "exceeds the 100 MB limit"), "%s", err);
  cr_assert(w[0] == 1 && w[3] == 4, "a refused file was read");
}

/* Without the cap on the file size, the reader would malloc and read a file of any
 * size (here 4 GiB + 1) before looking at it. */
Test(limits, safetensors_file_over_4_GiB, .init = make_dir, .fini = remove_dir) {
  sparse_file(at("big.st"), NULL, 0, ((off_t)4 << 30) + 1);
  gradc_tensor_info want = one_param();
  float w[4] = {1, 2, 3, 4}, *dst[1] = {w};
  char err[1024];
  cr_assert_lt(gradc_read_safetensors(at("big.st"), &want, dst, 1, err, sizeof err), 0);
  cr_assert(strstr(err, "larger than 4 GiB"), "%s", err);
}
