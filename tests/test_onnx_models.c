/* test_onnx_models.c — models exported from PyTorch (torch.onnx.export) import into gradc,
 * infer what PyTorch infers and train as PyTorch trains.
 *
 * tests/fixtures/onnx/NAME.onnx and NAME.json are made by tools/torch/export_onnx.py (an
 * MLP, LeNet-5, a pre-activation ResNet with batch norm, a depthwise-separable CNN whose
 * batch norms the exporter folded into its convolutions, a one-layer transformer
 * encoder with two heads and LayerNorm; dynamic batch axis `batch`). For each model, in
 * process and without torch:
 *
 *  - inference: gc_onnx_import with -D batch=16, gc_compile --inference, the initializers
 *    loaded, the fixture's 16 digits images run: every logit within 1e-5 + 1e-4 |torch|
 *    of PyTorch's eval-mode output. Both compute in float32 with different summation
 *    orders; the measured worst is logged: 2e-8 to 6e-8, 3.6e-7 for the transformer.
 *  - training (the models with "losses"): the same import with gc_onnx_add_loss
 *    cross_entropy, compiled with its train step, SGD through the runtime
 *    (gradc_set_optimizer with the fixture's momentum, gradc_train_step with its lr) on
 *    the same batch 20 times: each step's loss within 2e-5 of PyTorch's, and each
 *    parameter's (and batch norm running statistic's) sum and first 8 values after the
 *    20 steps within 2e-5 + 1e-4 |torch| (the bounds of test_models_torch.c). Measured:
 *    losses within 2.4e-7 (4.8e-7 for the transformer), parameters at 0.002 of their
 *    bound at worst. A wrong gradient, a statistic not updated, a parameter tied to
 *    another or left frozen shows at 1e-3 and more within a few steps. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/onnx.h"
#include "gradc/runtime.h"

#define FIXTURES GRADC_SOURCE_DIR "/tests/fixtures/onnx"
#define OUT_TOL_ABS 1e-5
#define OUT_TOL_REL 1e-4
#define LOSS_TOL 2e-5
#define PARAM_TOL_ABS 2e-5
#define PARAM_TOL_REL 1e-4

typedef struct {
  char name[32];
} OnnxCase;

static const char *const MODELS[] = {"mlp", "lenet", "resnet", "dscnn", "transformer"};
/* The models whose fixture has a training trajectory: dscnn is inference only (the
 * exporter folded its batch norms into the convolutions); training_follows_pytorch
 * fails if one of these has no "losses". */
static const char *const TRAINED[] = {"mlp", "lenet", "resnet", "transformer"};

static OnnxCase *case_list(const char *const *names, size_t count, OnnxCase *c, size_t *n) {
  for (size_t i = 0; i < count; i++) snprintf(c[i].name, sizeof c[i].name, "%s", names[i]);
  *n = count;
  return c;
}

static OnnxCase *cases(size_t *n) {
  static OnnxCase c[sizeof MODELS / sizeof *MODELS];
  return case_list(MODELS, sizeof MODELS / sizeof *MODELS, c, n);
}

static OnnxCase *trained_cases(size_t *n) {
  static OnnxCase c[sizeof TRAINED / sizeof *TRAINED];
  return case_list(TRAINED, sizeof TRAINED / sizeof *TRAINED, c, n);
}

static cJSON *fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, FIXTURES "/%s.json", name);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "no fixture %s (tools/torch/export_onnx.py)", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  buf[n] = 0;
  cJSON *fx = cJSON_Parse(buf);
  free(buf);
  cr_assert(fx, "%s is not JSON", path);
  return fx;
}

/* The model imported with batch = 16 (and a cross_entropy loss when training). */
static gc_onnx *import(const char *name, bool loss) {
  char path[512], err[8192];
  snprintf(path, sizeof path, FIXTURES "/%s.onnx", name);
  const char *dn[] = {"batch"};
  const long long dv[] = {16};
  gc_onnx_options o = {.path = path, .define_names = dn, .define_values = dv, .ndefines = 1};
  gc_onnx *m = gc_onnx_import(&o, err, sizeof err);
  cr_assert(m, "%s: import: %s", name, err);
  if (loss) cr_assert(!gc_onnx_add_loss(m, "cross_entropy", NULL, err, sizeof err), "%s: add_loss: %s", name, err);
  return m;
}

/* Compiles m into a temporary .so, opens it, loads the initializers. */
static gradc_model *build(const char *name, const gc_onnx *m, bool inference, char *dir) {
  char so[600], w[600], err[8192];
  cr_assert(mkdtemp(dir), "mkdtemp");
  snprintf(so, sizeof so, "%s/m.so", dir);
  snprintf(w, sizeof w, "%s/w.safetensors", dir);
  gc_options o = {.path = name, .source = gc_onnx_source(m), .inference = inference, .emit = GC_EMIT_SO, .out = so,
                  .opt_level = 2, .threads = 1, .codegen_threads = 1};
  gc_result res;
  cr_assert(!gc_compile(&o, &res, err, sizeof err), "%s: compile: %s\n--- the model ---\n%.6000s", name, err,
            gc_onnx_source(m));
  gradc_model *mod = gradc_open(so, err, sizeof err);
  cr_assert(mod, "%s: open: %s", name, err);
  cr_assert(!gradc_init(mod, 0));
  cr_assert(!gc_onnx_write_weights(m, w, err, sizeof err), "%s: weights: %s", name, err);
  cr_assert(!gradc_load(mod, w), "%s: load: %s", name, gradc_error(mod));
  return mod;
}

static void cleanup(char *dir) {
  char p[600];
  snprintf(p, sizeof p, "%s/m.so", dir), unlink(p);
  snprintf(p, sizeof p, "%s/m.h", dir), unlink(p);
  snprintf(p, sizeof p, "%s/w.safetensors", dir), unlink(p);
  rmdir(dir);
}

/* The .grad name of the ONNX tensor onnx_name of kind kind. */
static const char *grad_name(const gc_onnx *m, const char *onnx_name, int kind) {
  for (int i = 0; i < gc_onnx_count(m); i++) {
    const gc_onnx_tensor *t = gc_onnx_tensor_at(m, i);
    if (t->kind == kind && !strcmp(t->onnx_name, onnx_name)) return t->name;
  }
  cr_assert_fail("no tensor '%s' of kind %d in the imported model", onnx_name, kind);
  return NULL;
}

/* The fixture's input batch (and labels) into the model's input tensors. */
static void set_inputs(const char *name, gradc_model *mod, const gc_onnx *m, const cJSON *fx, bool labels) {
  size_t count;
  float *x = gradc_tensor(mod, grad_name(m, "x", GC_ONNX_INPUT), &count);
  const cJSON *in = cJSON_GetObjectItem(fx, "input");
  cr_assert(x && count == (size_t)cJSON_GetArraySize(in), "%s: the input holds %zu values, the fixture %d", name, count,
            cJSON_GetArraySize(in));
  for (size_t i = 0; i < count; i++) x[i] = (float)cJSON_GetArrayItem(in, (int)i)->valuedouble;
  if (!labels) return;
  int32_t *y = gradc_tensor(mod, "label", &count);
  const cJSON *lab = cJSON_GetObjectItem(fx, "labels");
  cr_assert(y && count == (size_t)cJSON_GetArraySize(lab), "%s: label holds %zu values", name, count);
  for (size_t i = 0; i < count; i++) y[i] = cJSON_GetArrayItem(lab, (int)i)->valueint;
}

ParameterizedTestParameters(onnx_models, inference_matches_pytorch) {
  size_t n;
  OnnxCase *c = cases(&n);
  return cr_make_param_array(OnnxCase, c, n);
}

ParameterizedTest(OnnxCase *c, onnx_models, inference_matches_pytorch, .timeout = 240) {
  cJSON *fx = fixture(c->name);
  gc_onnx *m = import(c->name, false);
  char dir[] = "/tmp/gradc-onnx-models.XXXXXX";
  gradc_model *mod = build(c->name, m, true, dir);
  set_inputs(c->name, mod, m, fx, false);
  cr_assert(!gradc_forward(mod), "%s: forward: %s", c->name, gradc_error(mod));
  size_t count;
  const float *y = gradc_tensor(mod, grad_name(m, "logits", GC_ONNX_OUTPUT), &count);
  const cJSON *want = cJSON_GetObjectItem(fx, "outputs");
  cr_assert(y && count == (size_t)cJSON_GetArraySize(want), "%s: %zu outputs, PyTorch %d", c->name, count,
            cJSON_GetArraySize(want));
  double worst = 0;
  for (size_t i = 0; i < count; i++) {
    double w = cJSON_GetArrayItem(want, (int)i)->valuedouble, e = fabs(y[i] - w);
    cr_expect(e <= OUT_TOL_ABS + OUT_TOL_REL * fabs(w), "%s: logits[%zu] = %.9g, PyTorch %.9g", c->name, i, y[i], w);
    worst = fmax(worst, e);
  }
  cr_log_info("%s: inference: max |logit - torch| %.3e over %zu values", c->name, worst, count);
  gradc_close(mod);
  cleanup(dir);
  gc_onnx_free(m);
  cJSON_Delete(fx);
}

/* The final value of one parameter against the fixture's sum and first values. */
static double compare_final(const char *model, gradc_model *mod, const gc_onnx *m, const cJSON *entry) {
  const char *onnx_name = entry->string, *name = NULL;
  for (int i = 0; i < gc_onnx_count(m) && !name; i++)
    if (gc_onnx_tensor_at(m, i)->kind == GC_ONNX_PARAM && !strcmp(gc_onnx_tensor_at(m, i)->onnx_name, onnx_name))
      name = gc_onnx_tensor_at(m, i)->name;
  cr_assert(name, "%s: the initializer '%s' is no parameter of the imported model", model, onnx_name);
  size_t count;
  const float *v = gradc_tensor(mod, name, &count);
  cr_assert(v, "%s: no tensor '%s'", model, name);
  double sum = 0, want = cJSON_GetObjectItem(entry, "sum")->valuedouble, worst;
  for (size_t i = 0; i < count; i++) sum += v[i];
  worst = fabs(sum - want) / (PARAM_TOL_ABS + PARAM_TOL_REL * fabs(want));
  cr_expect(worst <= 1, "%s: the sum of '%s' after training is %.9g, PyTorch's %.9g", model, onnx_name, sum, want);
  const cJSON *first = cJSON_GetObjectItem(entry, "first");
  for (int i = 0; i < cJSON_GetArraySize(first) && (size_t)i < count; i++) {
    double w = cJSON_GetArrayItem(first, i)->valuedouble, r = fabs(v[i] - w) / (PARAM_TOL_ABS + PARAM_TOL_REL * fabs(w));
    cr_expect(r <= 1, "%s: '%s'[%d] after training is %.9g, PyTorch's %.9g", model, onnx_name, i, v[i], w);
    worst = fmax(worst, r);
  }
  return worst;
}

ParameterizedTestParameters(onnx_models, training_follows_pytorch) {
  size_t n;
  OnnxCase *c = trained_cases(&n);
  return cr_make_param_array(OnnxCase, c, n);
}

ParameterizedTest(OnnxCase *c, onnx_models, training_follows_pytorch, .timeout = 240) {
  cJSON *fx = fixture(c->name);
  const cJSON *losses = cJSON_GetObjectItem(fx, "losses");
  cr_assert(losses, "%s: the fixture has no training trajectory (tools/torch/export_onnx.py)", c->name);
  gc_onnx *m = import(c->name, true);
  char dir[] = "/tmp/gradc-onnx-models.XXXXXX";
  gradc_model *mod = build(c->name, m, false, dir);
  set_inputs(c->name, mod, m, fx, true);
  float lr = (float)cJSON_GetObjectItem(fx, "lr")->valuedouble;
  cr_assert(!gradc_set_optimizer(mod, (float)cJSON_GetObjectItem(fx, "momentum")->valuedouble, 0), "%s: %s", c->name,
            gradc_error(mod));
  int steps = cJSON_GetObjectItem(fx, "steps")->valueint;
  cr_assert_eq(cJSON_GetArraySize(losses), steps);
  double worst = 0;
  for (int k = 0; k < steps; k++) {
    cr_assert(!gradc_train_step(mod, lr), "%s: step %d: %s", c->name, k + 1, gradc_error(mod));
    double got = gradc_loss(mod), want = cJSON_GetArrayItem(losses, k)->valuedouble;
    cr_expect(fabs(got - want) <= LOSS_TOL, "%s: step %d: loss %.9g, PyTorch %.9g", c->name, k + 1, got, want);
    worst = fmax(worst, fabs(got - want));
  }
  double pworst = 0;
  const cJSON *entry;
  cJSON_ArrayForEach(entry, cJSON_GetObjectItem(fx, "final")) pworst = fmax(pworst, compare_final(c->name, mod, m, entry));
  cr_log_info("%s: training: max |loss - torch| over %d steps %.3e; final parameters at %.3f of the bound", c->name,
              steps, worst, pworst);
  gradc_close(mod);
  cleanup(dir);
  gc_onnx_free(m);
  cJSON_Delete(fx);
}

/* At least the MLP and a CNN carry a training trajectory: a fixture rewritten without one
 * would let the training test pass vacuously. */
Test(onnx_models, trainable_fixtures_have_trajectories) {
  const char *want[] = {"mlp", "lenet", "resnet", "transformer"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    cJSON *fx = fixture(want[i]);
    cr_expect(cJSON_GetArraySize(cJSON_GetObjectItem(fx, "losses")) == 20, "%s: no 20-step trajectory", want[i]);
    cr_expect(cJSON_GetArraySize(cJSON_GetObjectItem(fx, "final")) > 0, "%s: no final parameters", want[i]);
    cJSON_Delete(fx);
  }
}
