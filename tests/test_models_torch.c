/* test_models_torch.c — the models of models/ train exactly as PyTorch trains them.
 *
 * Each tests/fixtures/models/NAME.json (made by tools/torch/model_compare.py --write)
 * holds PyTorch 1.13 eager's loss at every one of K training steps of a model, from
 * gradc's initial weights and data order, with the optimizer and schedule of its
 * `gradc train` flags, the learning rate of each step (with a schedule) and the final
 * values of a few parameters and buffers (batch norm's running statistics). For every fixture of the directory, one parameterized
 * test runs `gradc train MODEL --data DATA FLAGS --steps K --log-steps -o OUT` and
 * compares. Runs without torch.
 *
 * The bounds are the fixture's "tol" (model_compare.py's TOL unless its row sets one):
 * |loss - torch| <= 2e-5, |lr - torch| <= 1e-6 relative, a final parameter element
 * within 2e-5 + 1e-4 |torch|. Both sides compute in float32 but sum in different orders
 * (gradc's vectorised matmul and conv loops, PyTorch's BLAS/im2col), so they agree to a
 * few float32 roundings per step, and training carries those along: over the shipped
 * models without batch norm the measured worst is 1e-6 in a loss and 2e-7 in a
 * parameter, 20x and 100x inside the bounds. The batch-norm models (resnet_digits,
 * dscnn_digits) carry looser bounds of their own, measured and explained in their rows
 * of model_compare.py (5e-5 and 1.4e-4 in a parameter after 20 steps), as does
 * char_transformer (one element whose first AdamW step rests on a gradient that cancels
 * to 2.5e-9; its losses, with dropout active, within 1e-6). A wrong
 * derivative, optimizer or schedule step shows at 1e-3 and more within a few steps. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "support/sanitizer_report.h"

#define FIXTURES GRADC_SOURCE_DIR "/tests/fixtures/models"
#define MAX_FIXTURES 64

typedef struct {
  char name[64]; /* NAME of tests/fixtures/models/NAME.json */
} ModelCase;

static int by_name(const void *a, const void *b) {
  return strcmp(((const ModelCase *)a)->name, ((const ModelCase *)b)->name);
}

ParameterizedTestParameters(models_torch, train_steps_match_pytorch) {
  static ModelCase cases[MAX_FIXTURES];
  size_t n = 0;
  DIR *d = opendir(FIXTURES);
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len > 5 && len - 5 < sizeof cases[0].name && !strcmp(e->d_name + len - 5, ".json") && n < MAX_FIXTURES)
      snprintf(cases[n++].name, sizeof cases[0].name, "%.*s", (int)(len - 5), e->d_name);
  }
  if (d) closedir(d);
  qsort(cases, n, sizeof cases[0], by_name);
  return cr_make_param_array(ModelCase, cases, n);
}

/* The whole file, NUL-terminated (caller frees). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
  fclose(f);
  buf[n] = 0;
  if (len) *len = (size_t)n;
  return buf;
}

/* Compares the F32 tensor `name` of the safetensors image `st` with the fixture's
 * values; returns the worst |diff| / bound. */
static double compare_param(const char *model, const char *st, size_t stlen, const char *name, const cJSON *want,
                            const cJSON *tol) {
  uint64_t hlen;
  cr_assert(stlen >= 8);
  memcpy(&hlen, st, 8);
  cr_assert(hlen <= stlen - 8, "%s: the checkpoint's header is cut", model);
  char *text = strndup(st + 8, hlen);
  cJSON *h = cJSON_Parse(text);
  free(text);
  const cJSON *t = cJSON_GetObjectItem(h, name);
  cr_assert(t, "%s: parameter '%s' is not in gradc's checkpoint", model, name);
  const cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
  size_t b = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, e = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
  int n = cJSON_GetArraySize(want);
  cr_assert_eq(e - b, (size_t)n * 4, "%s: '%s' holds %zu bytes, the fixture %d values", model, name, e - b, n);
  double pa = cJSON_GetObjectItem(tol, "param_abs")->valuedouble;
  double pr = cJSON_GetObjectItem(tol, "param_rel")->valuedouble, worst = 0;
  for (int i = 0; i < n; i++) {
    float v;
    memcpy(&v, st + 8 + hlen + b + 4 * (size_t)i, 4);
    double w = cJSON_GetArrayItem(want, i)->valuedouble, r = fabs(v - w) / (pa + pr * fabs(w));
    cr_expect(r <= 1, "%s: final %s[%d] is %.9g, PyTorch's %.9g", model, name, i, v, w);
    worst = fmax(worst, r);
  }
  cJSON_Delete(h);
  return worst;
}

/* The `gradc train` command line of fixture fx, its stdout read by the caller. */
static void train_command(char *cmd, size_t size, const cJSON *fx, const char *out, const char *errpath) {
  int k = snprintf(cmd, size, "'%s/bin/gradc' train '%s/%s' --data '%s/%s' --steps %d --log-steps -o '%s'",
                   GRADC_BINARY_DIR, GRADC_SOURCE_DIR, cJSON_GetObjectItem(fx, "model")->valuestring,
                   GRADC_SOURCE_DIR, cJSON_GetObjectItem(fx, "data")->valuestring,
                   cJSON_GetObjectItem(fx, "steps")->valueint, out);
  const cJSON *flag;
  cJSON_ArrayForEach(flag, cJSON_GetObjectItem(fx, "flags")) k += snprintf(cmd + k, size - k, " '%s'", flag->valuestring);
  snprintf(cmd + k, size - k, " 2>'%s'", errpath);
}

ParameterizedTest(ModelCase *mc, models_torch, train_steps_match_pytorch, .timeout = 240) {
  const char *model = mc->name;
  char path[512], cmd[8192], out[] = "/tmp/gradc-models-torch-out.XXXXXX", errpath[] = "/tmp/gradc-models-torch-err.XXXXXX";
  snprintf(path, sizeof path, FIXTURES "/%s.json", model);
  char *text = slurp(path, NULL);
  cJSON *fx = cJSON_Parse(text);
  free(text);
  cr_assert(fx, "%s: the fixture is not JSON", model);
  const cJSON *losses = cJSON_GetObjectItem(fx, "losses"), *lrs = cJSON_GetObjectItem(fx, "lrs");
  const cJSON *tol = cJSON_GetObjectItem(fx, "tol");
  int steps = cJSON_GetObjectItem(fx, "steps")->valueint;
  cr_assert_eq(cJSON_GetArraySize(losses), steps, "%s: %d losses for %d steps", model, cJSON_GetArraySize(losses),
               steps);
  int ofd = mkstemp(out), efd = mkstemp(errpath);
  cr_assert(ofd >= 0 && efd >= 0, "mkstemp");
  close(ofd), close(efd);
  train_command(cmd, sizeof cmd, fx, out, errpath);
  FILE *p = popen(cmd, "r");
  cr_assert(p);
  char line[512];
  int k = 0;
  double worst = 0, ltol = cJSON_GetObjectItem(tol, "loss")->valuedouble;
  while (fgets(line, sizeof line, p)) {
    int step;
    double loss, lr;
    int got = sscanf(line, "step %d loss %lf lr %lf", &step, &loss, &lr);
    if (got < 2) continue;
    cr_assert_eq(step, k + 1, "%s: step %d after %d", model, step, k);
    cr_assert_lt(k, steps, "%s: more steps than %d", model, steps);
    double want = cJSON_GetArrayItem(losses, k)->valuedouble;
    cr_expect(fabs(loss - want) <= ltol, "%s: step %d: gradc loss %.9g, PyTorch %.9g", model, step, loss, want);
    worst = fmax(worst, fabs(loss - want));
    if (cJSON_IsArray(lrs)) {
      double wlr = cJSON_GetArrayItem(lrs, k)->valuedouble;
      cr_expect(got == 3 && fabs(lr - wlr) <= cJSON_GetObjectItem(tol, "lr")->valuedouble * wlr,
                "%s: step %d: gradc's learning rate %.9g, PyTorch's %.9g", model, step, got == 3 ? lr : NAN, wlr);
    }
    k++;
  }
  int status = pclose(p);
  char *err = slurp(errpath, NULL);
  unlink(errpath);
  const char *report = sanitizer_report(err);
  cr_assert(!report, "%s: a sanitizer report in the stderr of gradc train:\n%.12000s", model, report);
  cr_assert_eq(status, 0, "%s: gradc train failed:\n%.4000s", model, err);
  free(err);
  cr_assert_eq(k, steps, "%s: gradc printed %d step losses, expected %d", model, k, steps);
  size_t stlen;
  char *st = slurp(out, &stlen);
  unlink(out);
  double pworst = 0;
  const cJSON *param;
  cJSON_ArrayForEach(param, cJSON_GetObjectItem(fx, "final")) {
    pworst = fmax(pworst, compare_param(model, st, stlen, param->string, param, tol));
  }
  free(st);
  cr_log_info("%s: max |loss - torch| over %d steps %.3e; final parameters at %.3f of the bound", model, steps, worst,
              pworst);
  cJSON_Delete(fx);
}

/* The fixtures the issue asks for are there: a directory read wrong would pass vacuously. */
Test(models_torch, the_shipped_models_have_fixtures) {
  const char *want[] = {"digits", "digits_cnn", "dscnn_digits", "char_cnn",
                        "resnet_digits" /* batch norm: running statistics compared too */,
                        "char_transformer" /* dropout active, gradc's masks */};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%s.json", want[i]);
    cr_expect(access(path, R_OK) == 0, "no fixture %s (tools/torch/model_compare.py --write %s)", path, want[i]);
  }
}
