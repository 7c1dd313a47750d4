/* e2e_onnx.c — models exported from PyTorch through the gradc binary (docs/ONNX.md):
 * `gradc import M.onnx -D batch=N` writes a .grad model and its initializers (with --loss,
 * one whose gradients pass `gradc check`), `gradc run
 * M.onnx --set x=...` gives PyTorch's logits, and `gradc train M.onnx --loss cross_entropy
 * --data D.csv` follows PyTorch's loss trajectory.
 *
 * Data: tests/fixtures/onnx (tools/torch/export_onnx.py): the exported models, their
 * fixtures (PyTorch's outputs on 16 digits images, 20 SGD steps' losses on them) and
 * digits16.csv, those 16 images with their labels. Training with -D batch=16 on those
 * 16 rows takes the same batch every step (shuffled, which changes neither a mean loss
 * nor batch statistics), so each step's loss is PyTorch's within 2e-5, as in
 * tests/test_onnx_models.c, which checks the same trajectories through the runtime. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define ONNX_DIR GRADC_SOURCE_DIR "/tests/fixtures/onnx"
#define CSV16 ONNX_DIR "/digits16.csv"

static cJSON *fixture(const char *name) {
  char *path = e2e_fmt(ONNX_DIR "/%s.json", name), *text = e2e_read(path, NULL);
  cr_assert(text, "cannot read %s", path);
  cJSON *fx = cJSON_Parse(text);
  cr_assert(fx, "%s is not JSON", path);
  free(text);
  free(path);
  return fx;
}

Test(e2e_onnx, import_writes_a_model_and_its_initializers) {
  char *dir = e2e_tmpdir("onnx_import");
  char *grad = e2e_fmt("%s/resnet.grad", dir), *st = e2e_fmt("%s/resnet.safetensors", dir);
  e2e_result r;
  e2e_gradc(&r, "import", ONNX_DIR "/resnet.onnx", "-D", "batch=4", "-o", grad, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(e2e_exists(st), "no initializers beside %s", grad);
  char *text = e2e_read(grad, NULL);
  cr_assert(text);
  cr_expect(strstr(text, "batch batch_ = 4"), "the batch dimension:\n%s", text);
  cr_expect(strstr(text, "buffer block1_bn1_running_mean"), "batch norm's statistics as buffers:\n%s", text);
  cr_expect(strstr(text, "batch_norm("), "%s", text);
  e2e_free(&r);
  /* with --loss, the written .grad model trains: its gradients pass gradc check */
  char *mlp = e2e_fmt("%s/mlp.grad", dir);
  e2e_gradc(&r, "import", ONNX_DIR "/mlp.onnx", "-D", "batch=4", "--loss", "cross_entropy", "-o", mlp, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "check", mlp, NULL);
  cr_expect_eq(r.status, 0, "gradc check on the imported model: %s", e2e_describe(&r));
  e2e_free(&r);
  free(text), free(grad), free(st), free(mlp);
  e2e_rmdir(dir);
  free(dir);
}

/* `gradc run M.onnx -D batch=1 --set x=<the fixture's first image>`: PyTorch's logits. */
static void run_matches(const char *name) {
  cJSON *fx = fixture(name);
  const cJSON *in = cJSON_GetObjectItem(fx, "input"), *out = cJSON_GetObjectItem(fx, "outputs");
  size_t len = 0, cap = 16 * 64 + 16;
  char *set = malloc(cap);
  len += (size_t)snprintf(set, cap, "x=");
  for (int i = 0; i < 64; i++) len += (size_t)snprintf(set + len, cap - len, "%s%g", i ? "," : "", cJSON_GetArrayItem(in, i)->valuedouble);
  char *model = e2e_fmt(ONNX_DIR "/%s.onnx", name);
  e2e_result r;
  e2e_gradc(&r, "run", model, "-D", "batch=1", "--set", set, NULL);
  cr_assert_eq(r.status, 0, "%s: %s", name, e2e_describe(&r));
  const char *p = strstr(r.out, "logits [1, 10] = ");
  cr_assert(p, "%s: no logits in:\n%.2000s", name, r.out);
  p += strlen("logits [1, 10] = ");
  for (int c = 0; c < 10; c++) {
    char *end;
    double v = strtod(p, &end), w = cJSON_GetArrayItem(out, c)->valuedouble;
    cr_assert(end != p, "%s: logit %d unreadable", name, c);
    cr_expect(fabs(v - w) <= 1e-5 + 1e-4 * fabs(w), "%s: logit %d is %.9g, PyTorch's %.9g", name, c, v, w);
    p = end;
  }
  e2e_free(&r);
  free(model), free(set);
  cJSON_Delete(fx);
}

Test(e2e_onnx, run_gives_pytorchs_logits) {
  run_matches("mlp");
  run_matches("dscnn");
  run_matches("transformer");
}

/* `gradc train M.onnx -D batch=16 --loss cross_entropy --data digits16.csv --steps K
 * --log-steps` with the fixture's lr and momentum: each step's loss is PyTorch's. */
static void train_matches(const char *name, int steps) {
  cJSON *fx = fixture(name);
  const cJSON *losses = cJSON_GetObjectItem(fx, "losses");
  char *model = e2e_fmt(ONNX_DIR "/%s.onnx", name), *nsteps = e2e_fmt("%d", steps);
  char *lr = e2e_fmt("%.9g", cJSON_GetObjectItem(fx, "lr")->valuedouble);
  char *mom = e2e_fmt("%.9g", cJSON_GetObjectItem(fx, "momentum")->valuedouble);
  e2e_result r;
  e2e_gradc(&r, "train", model, "-D", "batch=16", "--loss", "cross_entropy", "--data", CSV16, "--steps", nsteps, "--lr",
            lr, "--momentum", mom, "--log-steps", NULL);
  cr_assert_eq(r.status, 0, "%s: %s", name, e2e_describe(&r));
  int k = 0;
  for (const char *p = strstr(r.out, "step "); p; p = strstr(p + 1, "\nstep ")) {
    int step;
    double loss;
    if (sscanf(p[0] == '\n' ? p + 1 : p, "step %d loss %lf", &step, &loss) != 2) continue;
    cr_assert_eq(step, k + 1, "%s: step %d after %d", name, step, k);
    double want = cJSON_GetArrayItem(losses, k)->valuedouble;
    cr_expect(fabs(loss - want) <= 2e-5, "%s: step %d: gradc train's loss %.9g, PyTorch's %.9g", name, step, loss, want);
    k++;
  }
  cr_expect_eq(k, steps, "%s: %d step losses, expected %d:\n%s", name, k, steps, r.out);
  e2e_free(&r);
  free(model), free(nsteps), free(lr), free(mom);
  cJSON_Delete(fx);
}

Test(e2e_onnx, train_follows_pytorch, .timeout = 300) {
  train_matches("mlp", 20);
  train_matches("resnet", 5);
}

Test(e2e_onnx, eval_and_the_loss_options) {
  e2e_result r;
  e2e_gradc(&r, "eval", ONNX_DIR "/lenet.onnx", "-D", "batch=16", "--loss", "cross_entropy", "--data", CSV16, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "loss"), "%s", r.out);
  e2e_free(&r);
  /* --loss is every model command's option: check differentiates the imported model */
  e2e_gradc(&r, "check", ONNX_DIR "/mlp.onnx", "-D", "batch=4", "--loss", "cross_entropy", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "gradient check passed"), "%s", r.out);
  e2e_free(&r);
  /* without -D batch the symbolic dimension is unbound: a message, not a crash */
  e2e_gradc(&r, "train", ONNX_DIR "/mlp.onnx", "--loss", "cross_entropy", "--data", CSV16, "--steps", "1", NULL);
  cr_expect_neq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_eq(r.signal, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "batch"), "the message names the dimension: %s", r.err);
  e2e_free(&r);
}

/* A graph input whose values decide a shape (the node suite's Reshape test, shape [3] an
 * input): unbound, every command names it; bound with --const (import, compile) or --set
 * (run), it disappears into the model. */
#define RESHAPE_TEST "/usr/include/onnx/backend/test/data/node/test_reshape_reordered_all_dims/model.onnx"
#define DATA24 "data=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24"

Test(e2e_onnx, shape_inputs_are_bound_by_const_or_set) {
  cr_assert(e2e_exists(RESHAPE_TEST), "libonnx-testdata is not installed (%s)", RESHAPE_TEST);
  char *dir = e2e_tmpdir("onnx_const"), *grad = e2e_fmt("%s/r.grad", dir);
  e2e_result r;
  e2e_gradc(&r, "import", RESHAPE_TEST, "-o", grad, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "node 0 '' (Reshape, opset 14): its shape (input 1, 'shape') must be known at import time: "
                          "it is a graph input; bind its values with --const NAME=VALUES (gradc run: --set)"),
            "%s", r.err);
  cr_expect(!e2e_exists(grad), "a failed import wrote %s", grad);
  e2e_free(&r);
  e2e_gradc(&r, "import", RESHAPE_TEST, "--const", "shape=4,2,3", "-o", grad, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  char *text = e2e_read(grad, NULL);
  cr_expect(text && strstr(text, "reshape(data, [4, 2, 3])"), "%s", text ? text : "(none)");
  cr_expect(text && !strstr(text, "input shape"), "a bound input is no input of the model:\n%s", text ? text : "");
  free(text);
  e2e_free(&r);
  e2e_gradc(&r, "run", RESHAPE_TEST, "--set", DATA24, "--set", "shape=4,2,3", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "reshaped [4, 2, 3] = 1 2 3 4"), "%s", r.out);
  e2e_free(&r);
  free(grad);
  e2e_rmdir(dir);
  free(dir);
}
