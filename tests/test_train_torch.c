/* test_train_torch.c — gradc trains digits exactly as PyTorch does.
 *
 * tests/fixtures/train_digits_torch.json holds the loss of each of 50 SGD steps of
 * PyTorch 1.13 eager on models/digits.grad, from gradc's initial weights and data order
 * (made by tools/torch/train_compare.py). `gradc train --steps 50 --log-steps` must give
 * the same losses within 1e-4. Runs without torch. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "support/sanitizer_report.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

Test(train_torch, digits_50_steps_match_pytorch) {
  cJSON *fx = cJSON_Parse(slurp(GRADC_SOURCE_DIR "/tests/fixtures/train_digits_torch.json"));
  cr_assert(fx, "fixture is not JSON");
  const cJSON *losses = cJSON_GetObjectItem(fx, "losses");
  int steps = cJSON_GetArraySize(losses);
  cr_assert_eq(steps, 50);
  /* gradc's stderr goes to a file, read afterwards for sanitizer reports. */
  char errpath[] = "/tmp/gradc-train-torch-err.XXXXXX";
  int efd = mkstemp(errpath);
  cr_assert_geq(efd, 0, "mkstemp %s", errpath);
  close(efd);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "'%s/bin/gradc' train '%s/models/digits.grad' --data '%s/models/data/digits_train.csv' --steps %d "
           "--lr %g --seed %d --log-steps 2>'%s'",
           GRADC_BINARY_DIR, GRADC_SOURCE_DIR, GRADC_SOURCE_DIR, steps, cJSON_GetObjectItem(fx, "lr")->valuedouble,
           cJSON_GetObjectItem(fx, "seed")->valueint, errpath);
  FILE *p = popen(cmd, "r");
  cr_assert(p);
  char line[256];
  int k = 0;
  double worst = 0;
  while (fgets(line, sizeof line, p)) {
    int step;
    double loss;
    if (sscanf(line, "step %d loss %lf", &step, &loss) != 2) continue;
    cr_assert_eq(step, k + 1);
    double want = cJSON_GetArrayItem(losses, k)->valuedouble;
    cr_expect(fabs(loss - want) <= 1e-4, "step %d: gradc loss %.9g, PyTorch %.9g", step, loss, want);
    worst = fmax(worst, fabs(loss - want));
    k++;
  }
  int status = pclose(p);
  char *err = slurp(errpath);
  unlink(errpath);
  const char *report = sanitizer_report(err);
  cr_assert(!report, "a sanitizer report in the stderr of gradc train:\n%.12000s", report);
  cr_assert_eq(status, 0, "gradc train failed:\n%.4000s", err);
  cr_assert_eq(k, steps, "gradc printed %d step losses, expected %d", k, steps);
  cr_log_info("max |loss - torch| over %d steps: %.3e", steps, worst);
  cJSON_Delete(fx);
}
