/* test_train_step.c — the fused train-step entry point equals zero_grad + backward +
 * sgd_step, step after step, with and without momentum and weight decay.
 *
 * Two runtime instances of the same compiled model start from the same parameters and
 * see the same batches: one calls gradc_train_step (the generated M_train_step, which
 * updates each parameter inside the kernel that finishes its gradient), the other runs
 * the three separate calls. After every step parameters, momentum-driven trajectories
 * and this step's gradients must agree to float rounding. The train step compiled for
 * each optimizer (Adam, AdamW, RMSprop, SGD with dampening or Nesterov) must give the
 * same bits as backward + the runtime's unfused step. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"

static void compile_model(const char *model, char *so, size_t len) {
  char dir[] = "/tmp/gradc-ts-XXXXXX", err[4096];
  cr_assert(mkdtemp(dir));
  snprintf(so, len, "%s/m.so", dir);
  gc_options o = {.path = model, .opt_level = 2, .emit = GC_EMIT_SO, .out = so};
  cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
}

static void random_inputs(gradc_model *a, gradc_model *b, uint64_t seed) {
  gradc_rng r;
  for (size_t i = 0; i < gradc_num_tensors(a); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(a, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    gradc_rng_seed(&r, seed, t->name);
    void *pa = gradc_tensor(a, t->name, NULL), *pb = gradc_tensor(b, t->name, NULL);
    for (size_t k = 0; k < t->count; k++) {
      if (t->dtype == GRADC_I32) ((int32_t *)pa)[k] = (int32_t)(gradc_rng_next(&r) % (uint64_t)(t->classes ? t->classes : 1));
      else ((float *)pa)[k] = (float)(gradc_rng_normal(&r) * 4 + 8);
    }
    memcpy(pb, pa, t->count * 4);
  }
}

static double max_rel(const float *x, const float *y, size_t n) {
  double scale = 1e-6, worst = 0;
  for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(y[k]));
  for (size_t k = 0; k < n; k++) worst = fmax(worst, fabs(x[k] - y[k]) / scale);
  return worst;
}

static void compare(const char *model, float momentum, float wd) {
  char so[512], err[512];
  compile_model(model, so, sizeof so);
  gradc_model *fused = gradc_open(so, err, sizeof err), *plain = gradc_open(so, err, sizeof err);
  cr_assert(fused && plain, "%s", err);
  gradc_init(fused, 7), gradc_init(plain, 7);
  gradc_set_optimizer(fused, momentum, wd), gradc_set_optimizer(plain, momentum, wd);
  for (int step = 0; step < 5; step++) {
    random_inputs(fused, plain, (uint64_t)step);
    cr_assert_eq(gradc_train_step(fused, 0.01f), 0, "%s", gradc_error(fused));
    gradc_zero_grad(plain);
    cr_assert_eq(gradc_backward(plain), 0);
    cr_expect_float_eq(gradc_loss(fused), gradc_loss(plain), 1e-5f * fabsf(gradc_loss(plain)) + 1e-6f,
                       "%s step %d: loss %g vs %g", model, step, gradc_loss(fused), gradc_loss(plain));
    for (size_t i = 0; i < gradc_num_tensors(plain); i++) {
      const gradc_tensor_info *t = gradc_tensor_at(plain, i);
      if (t->role != GRADC_ROLE_PARAM || !t->trainable) continue;
      double e = max_rel(gradc_grad(fused, t->name, NULL), gradc_grad(plain, t->name, NULL), t->count);
      cr_expect(e < 1e-4, "%s step %d: gradient of %s differs by %.3g", model, step, t->name, e);
    }
    gradc_sgd_step(plain, 0.01f);
    for (size_t i = 0; i < gradc_num_tensors(plain); i++) {
      const gradc_tensor_info *t = gradc_tensor_at(plain, i);
      if (t->role != GRADC_ROLE_PARAM) continue;
      double e = max_rel(gradc_tensor(fused, t->name, NULL), gradc_tensor(plain, t->name, NULL), t->count);
      cr_expect(e < 1e-5, "%s step %d (momentum %g, decay %g): param %s differs by %.3g", model, step, momentum, wd,
                t->name, e);
    }
  }
  gradc_close(fused), gradc_close(plain);
  unlink(so);
  char h[520];
  snprintf(h, sizeof h, "%.*s.h", (int)(strlen(so) - 3), so);
  unlink(h);
  *strrchr(so, '/') = 0;
  rmdir(so);
}

Test(train_step, mlp_plain_sgd) { compare(GRADC_SOURCE_DIR "/models/digits.grad", 0, 0); }
Test(train_step, mlp_momentum_and_decay) { compare(GRADC_SOURCE_DIR "/models/digits.grad", 0.9f, 0.01f); }
Test(train_step, cnn_momentum) { compare(GRADC_SOURCE_DIR "/models/digits_cnn.grad", 0.9f, 0); }
Test(train_step, logreg_decay) { compare(GRADC_SOURCE_DIR "/models/logreg.grad", 0, 0.1f); }

/* ---- every rule: the train step compiled with --optimizer against the runtime's
 * unfused step (backward, then the core's interpreter of the same description) ---- */

typedef struct {
  const char *name;
  double value;
} Hyper;

static void compile_rule(const char *model, const char *rule, bool full, char *so, size_t len) {
  char dir[] = "/tmp/gradc-ts-XXXXXX", err[4096];
  cr_assert(mkdtemp(dir));
  snprintf(so, len, "%s/m.so", dir);
  gc_options o = {.path = model, .opt_level = 2, .emit = GC_EMIT_SO, .out = so, .optimizer = rule, .optimizer_full = full};
  cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
}

static void remove_so(char *so) {
  unlink(so);
  char h[520];
  snprintf(h, sizeof h, "%.*s.h", (int)(strlen(so) - 3), so);
  unlink(h);
  *strrchr(so, '/') = 0;
  rmdir(so);
}

/* Same bits: the gradients come from the same compiled core (added into zeroed buffers,
 * or stored), and the update is the same program, emitted or interpreted, rounding
 * each operation alike. */
static void compare_rule(const char *model, const char *rule, bool full, const Hyper *h, int nh) {
  char so[512], err[512];
  compile_rule(model, rule, full, so, sizeof so);
  gradc_model *fused = gradc_open(so, err, sizeof err), *plain = gradc_open(so, err, sizeof err);
  cr_assert(fused && plain, "%s", err);
  cr_assert_str_eq(gradc_optimizer_name(fused), rule);
  gradc_init(fused, 7), gradc_init(plain, 7);
  for (int k = 0; k < nh; k++) {
    cr_assert_eq(gradc_set_hyper(fused, h[k].name, h[k].value), 0, "%s", gradc_error(fused));
    cr_assert_eq(gradc_set_hyper(plain, h[k].name, h[k].value), 0, "%s", gradc_error(plain));
  }
  cr_assert(gradc_uses_fused_step(fused), "%s: the compiled train step is not used", rule);
  for (int step = 0; step < 5; step++) {
    random_inputs(fused, plain, (uint64_t)step);
    cr_assert_eq(gradc_train_step(fused, 0.01f), 0, "%s", gradc_error(fused));
    gradc_zero_grad(plain);
    cr_assert_eq(gradc_backward(plain), 0);
    cr_assert_eq(gradc_optimizer_step(plain, 0.01f), 0, "%s", gradc_error(plain));
    for (size_t i = 0; i < gradc_num_tensors(plain); i++) {
      const gradc_tensor_info *t = gradc_tensor_at(plain, i);
      if (t->role != GRADC_ROLE_PARAM) continue;
      const float *a = gradc_tensor(fused, t->name, NULL), *b = gradc_tensor(plain, t->name, NULL);
      for (size_t k = 0; k < t->count; k++)
        cr_assert(a[k] == b[k], "%s %s step %d: %s[%zu] fused %.9g, unfused %.9g", model, rule, step, t->name, k,
                  a[k], b[k]);
    }
  }
  cr_assert_eq(gradc_optimizer_steps(fused), 5);
  gradc_close(fused), gradc_close(plain);
  remove_so(so);
}

#define MLP GRADC_SOURCE_DIR "/models/digits.grad"
Test(train_step, mlp_adam_amsgrad_decay) {
  compare_rule(MLP, "adam", false, (Hyper[]){{"weight_decay", 0.01}, {"amsgrad", 1}}, 2);
}
Test(train_step, mlp_adamw) { compare_rule(MLP, "adamw", false, (Hyper[]){{"beta2", 0.99}}, 1); }
Test(train_step, mlp_rmsprop_centered_momentum) {
  compare_rule(MLP, "rmsprop", false, (Hyper[]){{"centered", 1}, {"momentum", 0.9}, {"weight_decay", 0.001}}, 3);
}
Test(train_step, mlp_rmsprop_plain) { compare_rule(MLP, "rmsprop", false, NULL, 0); }
Test(train_step, mlp_sgd_nesterov) {
  compare_rule(MLP, "sgd", true, (Hyper[]){{"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 0.01}}, 3);
}
Test(train_step, mlp_sgd_dampening) { compare_rule(MLP, "sgd", true, (Hyper[]){{"momentum", 0.9}, {"dampening", 0.5}}, 2); }
Test(train_step, cnn_adam) { compare_rule(GRADC_SOURCE_DIR "/models/digits_cnn.grad", "adam", false, NULL, 0); }
Test(train_step, logreg_adamw_amsgrad) {
  compare_rule(GRADC_SOURCE_DIR "/models/logreg.grad", "adamw", false, (Hyper[]){{"amsgrad", 1}}, 1);
}

/* SGD compiled with its base values (the default, the ABI of before dampening and
 * Nesterov): those make the runtime take the unfused path, with the same result. */
Test(train_step, sgd_base_falls_back_for_nesterov) {
  char so[512], err[512];
  compile_rule(MLP, "sgd", false, so, sizeof so);
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s", err);
  gradc_set_optimizer(m, 0.9f, 0);
  cr_assert(gradc_uses_fused_step(m));
  cr_assert_eq(gradc_set_hyper(m, "nesterov", 1), 0, "%s", gradc_error(m));
  cr_assert_not(gradc_uses_fused_step(m));
  cr_assert_eq(gradc_set_hyper(m, "nesterov", 0), 0);
  cr_assert_eq(gradc_set_clip_grad_norm(m, 1.0), 0);
  cr_assert_not(gradc_uses_fused_step(m), "clipping needs every gradient before any update");
  cr_assert_eq(gradc_use_optimizer(m, "adam"), 0);
  cr_assert_not(gradc_uses_fused_step(m));
  cr_assert_null(gradc_momentum(m, "w1", NULL));
  cr_assert_not_null(gradc_state(m, "exp_avg_sq", "w1", NULL));
  gradc_close(m);
  remove_so(so);
}
