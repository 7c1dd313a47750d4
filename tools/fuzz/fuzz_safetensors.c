/* fuzz_safetensors.c — libFuzzer target for the validating safetensors reader
 * (gradc_read_safetensors, what gradc_load and `--load`/`--weights` use).
 *
 * Input: a whole .safetensors file. The reader only takes a path, so the input is
 * written to one file in a private temporary directory (reused for every input) and
 * read against a fixed expected list: the parameters of models/logreg.grad
 * (w f32[5,3], b f32[3]) for an input of even length, plus a scalar s f32[] for an odd
 * one (so both a 2- and a 3-tensor list are exercised; gradc_save pads its header to 8
 * bytes, so the logreg seeds take the 2-tensor list). A rejected file must leave the
 * destination buffers untouched (all or nothing) and a terminated message. */
#include <stdint.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "gradc/runtime.h"

#define CANARY 12345.0f

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[8192];
  if (!path[0]) fuzz_tmp_path("in.safetensors", path, sizeof path);
  fuzz_tmp_write(path, data, size);

  gradc_tensor_info want[3] = {
      {.name = "w", .role = GRADC_ROLE_PARAM, .dtype = GRADC_F32, .rank = 2, .shape = {5, 3}, .count = 15, .trainable = 1},
      {.name = "b", .role = GRADC_ROLE_PARAM, .dtype = GRADC_F32, .rank = 1, .shape = {3}, .count = 3, .trainable = 1},
      {.name = "s", .role = GRADC_ROLE_PARAM, .dtype = GRADC_F32, .rank = 0, .count = 1, .trainable = 1},
  };
  size_t n = size & 1 ? 3 : 2;
  float w[15], b[3], s[1];
  float *dst[3] = {w, b, s};
  for (size_t i = 0; i < 15; i++) w[i] = CANARY;
  for (size_t i = 0; i < 3; i++) b[i] = CANARY;
  s[0] = CANARY;
  char err[1024];
  err[0] = 'x';
  int rc = gradc_read_safetensors(path, want, dst, n, err, sizeof err);
  if (rc != 0) {
    if (rc != -1 || !memchr(err, 0, sizeof err)) __builtin_trap();
    /* All or nothing: a rejected file writes no destination. */
    for (size_t i = 0; i < 15; i++)
      if (memcmp(&w[i], &(float){CANARY}, sizeof(float))) __builtin_trap();
    for (size_t i = 0; i < 3; i++)
      if (memcmp(&b[i], &(float){CANARY}, sizeof(float))) __builtin_trap();
    if (memcmp(&s[0], &(float){CANARY}, sizeof(float))) __builtin_trap();
  }
  return 0;
}
