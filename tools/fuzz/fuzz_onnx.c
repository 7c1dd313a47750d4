/* fuzz_onnx.c — libFuzzer target for the ONNX reader and importer (gradc/onnx.h):
 * gc_onnx_import (protobuf-c decoding, opsets, graph inputs and initializers, the order of
 * the nodes, every converter, each node's translation checked — and constant nodes
 * evaluated — by the compiler library, the .grad text), then the model's text through
 * gc_graph_build, gc_onnx_write_weights and gc_onnx_add_loss; and gc_onnx_read_tensor
 * (a TensorProto file, as the test data's input_0.pb) on the same bytes.
 *
 * Input: the bytes of an .onnx file. The importer takes a path: the input is written to
 * model.onnx in a private temporary directory, beside a 64-byte data.bin (so external
 * data can be found) and a file outside it is never reachable. Symbolic dimensions N,
 * batch and M are bound (-D) to small sizes. Every failure must be a message. */
#include <stdint.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "gradc/compiler.h"
#include "gradc/onnx.h"

static void check_message(const char *err, size_t len) {
  if (!memchr(err, 0, len) || !err[0]) __builtin_trap();
}

/* What a caller does with an imported model: compile its text (front end only), write
 * its weights, attach a loss. */
static void use(gc_onnx *m, const char *dir) {
  char err[4096], path[8192];
  gc_options o = {.path = "fuzz.onnx", .source = gc_onnx_source(m), .inference = true};
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  if (g) gc_graph_free(g);
  else check_message(err, sizeof err);
  for (int i = 0; i < gc_onnx_count(m); i++)
    if (!gc_onnx_tensor_at(m, i)->name) __builtin_trap();
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  if (gc_onnx_write_weights(m, path, err, sizeof err)) check_message(err, sizeof err);
  if (gc_onnx_add_loss(m, "mse", NULL, err, sizeof err)) check_message(err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[8192], dir[8192];
  if (!path[0]) {
    char side[8192];
    uint8_t bytes[64];
    for (int i = 0; i < 64; i++) bytes[i] = (uint8_t)(i * 37 + 1);
    fuzz_tmp_write(fuzz_tmp_path("data.bin", side, sizeof side), bytes, sizeof bytes);
    fuzz_tmp_path("model.onnx", path, sizeof path);
    fuzz_tmp_path("", dir, sizeof dir);
  }
  fuzz_tmp_write(path, data, size);

  static const char *const names[] = {"N", "batch", "M"};
  static const long long values[] = {2, 3, 1};
  char unbound[256];
  gc_onnx_options o = {.path = path, .define_names = names, .define_values = values, .ndefines = 3,
                       .unbound = unbound};
  char err[8192];
  err[0] = 'x';
  gc_onnx *m = gc_onnx_import(&o, err, sizeof err);
  if (m) {
    use(m, dir);
    gc_onnx_free(m);
  } else {
    check_message(err, sizeof err);
    if (!memchr(unbound, 0, sizeof unbound)) __builtin_trap();
  }

  gc_onnx_data t;
  if (gc_onnx_read_tensor(path, &t, err, sizeof err)) check_message(err, sizeof err);
  else {
    if (t.count < 0 || t.rank < 0 || t.rank > 8 || !memchr(t.name, 0, sizeof t.name)) __builtin_trap();
    gc_onnx_data_free(&t);
  }
  return 0;
}
