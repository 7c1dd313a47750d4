/* abi_generic.c — opens ANY gradc shared object through the runtime, with no
 * model-specific code: prints the model and every tensor from the introspection API,
 * initialises the parameters from a seed, fills the inputs, runs forward, and backward
 * and one training step when the model has them, and checks that everything is finite.
 *
 *   usage: abi_generic MODEL.so [SEED]      exit 0 if all is well, 1 otherwise */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradc/runtime.h"

static const char *role_name(gradc_role r) {
  return r == GRADC_ROLE_INPUT ? "input" : r == GRADC_ROLE_PARAM ? "param" : "output";
}

static int fail(const char *what, gradc_model *m) {
  fprintf(stderr, "abi_generic: %s: %s\n", what, m ? gradc_error(m) : "");
  return 1;
}

static int all_finite(const float *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(p[i])) return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: abi_generic MODEL.so [SEED]\n");
    return 2;
  }
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
  char err[1024];
  gradc_model *m = gradc_open(argv[1], err, sizeof err);
  if (!m) {
    fprintf(stderr, "abi_generic: %s\n", err);
    return 1;
  }
  printf("model %s: %zu tensors, loss %s, backward %s\n", gradc_model_name(m), gradc_num_tensors(m),
         gradc_has_loss(m) ? "yes" : "no", gradc_has_backward(m) ? "yes" : "no");
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    printf("  %-6s %-12s %s[", role_name(t->role), t->name, t->dtype == GRADC_I32 ? "i32" : "f32");
    for (int d = 0; d < t->rank; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
    printf("] %zu elements%s\n", t->count, t->role == GRADC_ROLE_PARAM && !t->trainable ? " (frozen)" : "");
    size_t n = 0;
    void *buf = gradc_tensor(m, t->name, &n);
    if (!buf || n != t->count) return fail("gradc_tensor disagrees with gradc_tensor_at", m);
  }
  if (gradc_init(m, seed)) return fail("gradc_init", m);
  /* Inputs: f32 a fixed smooth pattern, i32 (class labels) 0, valid for any class count. */
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    void *buf = gradc_tensor(m, t->name, NULL);
    for (size_t k = 0; k < t->count; k++)
      if (t->dtype == GRADC_I32) ((int32_t *)buf)[k] = 0;
      else ((float *)buf)[k] = (float)sin(0.7 * (double)k + 0.3);
  }
  if (gradc_forward(m)) return fail("gradc_forward", m);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT && !all_finite(gradc_tensor(m, t->name, NULL), t->count)) {
      fprintf(stderr, "abi_generic: output %s is not finite\n", t->name);
      return 1;
    }
  }
  if (gradc_has_loss(m)) {
    float loss = gradc_loss(m);
    printf("forward: loss %.9g\n", (double)loss);
    if (!isfinite(loss)) return fprintf(stderr, "abi_generic: the loss is not finite\n"), 1;
  } else {
    printf("forward: ok (no loss)\n");
  }
  if (gradc_has_backward(m)) {
    gradc_zero_grad(m);
    if (gradc_backward(m)) return fail("gradc_backward", m);
    for (size_t i = 0; i < gradc_num_tensors(m); i++) {
      const gradc_tensor_info *t = gradc_tensor_at(m, i);
      if (t->role != GRADC_ROLE_PARAM || !t->trainable) continue;
      size_t n = 0;
      float *g = gradc_grad(m, t->name, &n);
      if (!g || n != t->count) return fail("gradc_grad", m);
      double norm = 0;
      for (size_t k = 0; k < n; k++) norm += (double)g[k] * g[k];
      printf("backward: |grad %s| = %.6g\n", t->name, sqrt(norm));
      if (!isfinite(norm)) return fprintf(stderr, "abi_generic: grad %s is not finite\n", t->name), 1;
    }
    float before = gradc_loss(m);
    for (int s = 0; s < 5; s++)
      if (gradc_train_step(m, 0.01f)) return fail("gradc_train_step", m);
    if (gradc_forward(m)) return fail("gradc_forward", m);
    float after = gradc_loss(m);
    printf("train_step x5 (lr 0.01): loss %.9g -> %.9g\n", (double)before, (double)after);
    if (!isfinite(after)) return fprintf(stderr, "abi_generic: the loss after training is not finite\n"), 1;
  }
  gradc_close(m);
  printf("ok\n");
  return 0;
}
