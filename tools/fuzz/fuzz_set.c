/* fuzz_set.c — libFuzzer target for `gradc run --set NAME=VALUES` (set_tensor in
 * tools/gradc/options.c): comma/white-space separated numbers, one number broadcast
 * to the whole tensor, or @FILE.
 *
 * set_tensor fills a tensor of an open model, so the first call compiles a small model
 * (embedded below: f32 and i32 inputs, params, an output) with gc_compile into a
 * private temporary directory and opens it with the runtime; that takes a second, once
 * per process.
 *
 * Input: one selector byte, then VALUES. Selector bits 0-2 pick NAME (x, label, w, b,
 * logits — an output, refused —, an unknown name, the empty name, or none: the rest
 * of the input is then the whole spec, '=' or not); bit 3 passes VALUES through a file
 * as `NAME=@FILE`. set_tensor's messages go to stderr: they are swallowed (sanitizer
 * reports are written to fd 2 directly and still show). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "fuzz_tmp.h"

static const char model_src[] =
    "model fuzzset\n"
    "batch N = 2\n"
    "input x : f32[N, 3]\n"
    "input label : i32[N]\n"
    "param w : f32[3, 4] = randn\n"
    "param b : f32[4]\n"
    "logits = x @ w + b\n"
    "loss = cross_entropy(logits, label)\n"
    "output logits\n"
    "minimize loss\n";

static gradc_model *model;
static FILE *devnull;

static void close_model(void) {
  gradc_close(model);
  if (devnull) fclose(devnull);
}

static void open_model(void) {
  char so[8192], err[8192];
  fuzz_tmp_path("fuzzset.so", so, sizeof so);
  gc_options o = {.path = "fuzzset.grad", .source = model_src, .opt_level = 1, .emit = GC_EMIT_SO, .out = so};
  gc_result res;
  if (gc_compile(&o, &res, err, sizeof err) != 0) {
    fprintf(stderr, "fuzz_set: cannot compile the model: %s\n", err);
    abort();
  }
  model = gradc_open(so, err, sizeof err);
  if (!model) {
    fprintf(stderr, "fuzz_set: cannot open the model: %s\n", err);
    abort();
  }
  unlink(so); /* mapped now; a crash later leaves nothing behind */
  unlink(res.header_path);
  devnull = fopen("/dev/null", "w");
  atexit(close_model); /* registered after fuzz_tmp's cleanup: runs before it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char vpath[8192];
  if (!model) {
    open_model();
    fuzz_tmp_path("values.txt", vpath, sizeof vpath);
  }
  if (size < 1 || memchr(data + 1, 0, size - 1)) return 0; /* argv strings hold no NUL */
  static const char *names[] = {"x", "label", "w", "b", "logits", "nosuch", "", NULL};
  const char *name = names[data[0] & 7];
  const uint8_t *vals = data + 1;
  size_t vlen = size - 1;
  size_t cap = vlen + 8200 + 16;
  char *spec = malloc(cap);
  if (!spec) return 0;
  size_t o = 0;
  if (name) o = (size_t)snprintf(spec, cap, "%s=", name);
  if (name && (data[0] & 8)) {
    fuzz_tmp_write(vpath, vals, vlen);
    snprintf(spec + o, cap - o, "@%s", vpath);
  } else {
    memcpy(spec + o, vals, vlen);
    spec[o + vlen] = 0;
  }
  FILE *saved = stderr;
  if (devnull) stderr = devnull;
  int rc = set_tensor(model, spec);
  stderr = saved;
  if (rc != 0 && rc != 1) __builtin_trap();
  free(spec);
  return 0;
}
