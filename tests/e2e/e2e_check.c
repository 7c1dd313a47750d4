/* e2e_check.c — `gradc check` end to end (docs/CLI.md, "gradc check"): the compiled gradients
 * agree with float64 central finite differences for every trainable parameter of the
 * shipped models and with the tape baseline's (exit 0, a table row per parameter,
 * "passed"); the test-only hook
 * GRADC_CHECK_PERTURB shows the check can fail (exit 1, MISMATCH); a frozen parameter
 * has no row; a model without a loss is an error; finite differences are set aside only
 * where a probe crosses the kink of relu, abs, maximum, leaky_relu, max or max_pool2d. */
#define _DEFAULT_SOURCE /* setenv */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define MODEL(name) GRADC_SOURCE_DIR "/models/" name ".grad"

/* The table row of param (the line that starts with its name and a space), malloc'd. */
static char *row_of(const char *out, const char *param) {
  size_t n = strlen(param);
  for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, param, n) && l[n] == ' ') {
      char *row = strndup(l, strcspn(l, "\n"));
      return row;
    }
  return NULL;
}

/* Counts the table rows: lines ending in " ok" or " MISMATCH". */
static int rows(const char *out) {
  int n = 0;
  for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
    size_t len = strcspn(l, "\n");
    if ((len > 3 && !strncmp(l + len - 3, " ok", 3)) || (len > 9 && !strncmp(l + len - 9, " MISMATCH", 9))) n++;
  }
  return n;
}

/* The six errors of param's row (max abs and rel: compiled vs FD, compiled vs tape,
 * symbolic vs FD); checks the row's shape. */
static void row_errors(const char *out, const char *param, double e[6]) {
  char *row = row_of(out, param);
  cr_assert(row, "no row for '%s' in:\n%s", param, out);
  char name[64];
  long elems, probed;
  cr_expect_eq(sscanf(row, "%63s %ld %ld %lg %lg %lg %lg %lg %lg", name, &elems, &probed, &e[0], &e[1], &e[2], &e[3],
                      &e[4], &e[5]),
               9, "a malformed row: '%s'", row);
  cr_expect(elems > 0 && probed >= 0 && probed <= elems, "'%s'", row); /* 0: all at kinks */
  for (int i = 0; i < 6; i++) cr_expect(e[i] >= 0, "'%s'", row);
  free(row);
}

/* Checks that the table has exactly the rows of params, each with numbers and verdict. */
static void table(const char *out, const char *const *params, const char *verdict) {
  int n = 0;
  for (; params[n]; n++) {
    char *row = row_of(out, params[n]);
    cr_assert(row, "no row for '%s' in:\n%s", params[n], out);
    cr_expect(strstr(row, verdict), "'%s' is not %s: '%s'", params[n], verdict, row);
    free(row);
    double e[6];
    row_errors(out, params[n], e);
  }
  cr_expect_eq(rows(out), n, "expected %d rows:\n%s", n, out);
}

static void passes(const char *model, const char *batch, const char *const *params) {
  e2e_result r;
  if (batch) e2e_gradc(&r, "check", model, "-D", batch, NULL);
  else e2e_gradc(&r, "check", model, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, params, " ok");
  cr_expect(strstr(r.out, "passed"), "no 'passed':\n%s", r.out);
  cr_expect(!strstr(r.out, "MISMATCH") && !strstr(r.out, "FAILED"), "%s", r.out);
  e2e_free(&r);
}

/* The elements of param's row and how many were compared with finite differences. */
static void probed_of(const char *out, const char *param, long *elems, long *probed) {
  char *row = row_of(out, param), name[64];
  cr_assert(row && sscanf(row, "%63s %ld %ld", name, elems, probed) == 3, "no row for %s:\n%s", param, out);
  free(row);
}

Test(check, logreg_passes, .timeout = 30) {
  passes(MODEL("logreg"), NULL, (const char *[]){"w", "b", NULL});
  /* logreg is smooth: no element is at a kink, every one is compared with FD. */
  e2e_result r;
  e2e_gradc(&r, "check", MODEL("logreg"), NULL);
  long elems, probed;
  probed_of(r.out, "w", &elems, &probed);
  cr_expect_eq(probed, elems, "w: %ld of %ld compared with FD:\n%s", probed, elems, r.out);
  cr_expect(!strstr(r.out, "kink"), "%s", r.out);
  e2e_free(&r);
}

Test(check, digits_passes, .timeout = 60) {
  passes(MODEL("digits"), NULL, (const char *[]){"w1", "b1", "w2", "b2", NULL});
}

/* With batch 4 instead of 32: the same network, a quarter of the compile time. */
Test(check, digits_cnn_passes, .timeout = 60) {
  passes(MODEL("digits_cnn"), "N=4", (const char *[]){"c1", "d1", "c2", "d2", "w", "b", NULL});
}

Test(check, another_seed_passes, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", MODEL("logreg"), "--seed", "12345", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", "b", NULL}, " ok");
  e2e_free(&r);
}

/* gradc check on model (-D define, if not NULL) with the test-only hook, which adds
 * EPS * (index + 1) to every compiled gradient element. */
static void check_perturbed(e2e_result *r, const char *model, const char *define) {
  setenv("GRADC_CHECK_PERTURB", "1e-2", 1);
  if (define) e2e_gradc(r, "check", model, "-D", define, NULL);
  else e2e_gradc(r, "check", model, NULL);
  unsetenv("GRADC_CHECK_PERTURB");
}

Test(check, perturbed_gradients_fail, .timeout = 60) {
  e2e_result r;
  check_perturbed(&r, MODEL("logreg"), NULL);
  cr_expect_eq(r.status, 1, "a perturbed check passed: %s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", "b", NULL}, "MISMATCH");
  cr_expect(!strstr(r.out, "passed"), "%s", r.out);
  double e[6];
  row_errors(r.out, "w", e);
  cr_expect(e[1] > 1e-2 && e[3] > 1e-3, "both the FD and the tape columns must see it:\n%s", r.out);
  cr_expect(e[5] < 1e-3, "the symbolic float64 gradient is not perturbed:\n%s", r.out);
  e2e_free(&r);
  check_perturbed(&r, MODEL("digits"), "N=2");
  cr_expect_eq(r.status, 1, "a perturbed check passed: %s", e2e_describe(&r));
  table(r.out, (const char *[]){"w1", "b1", "w2", "b2", NULL}, "MISMATCH");
  e2e_free(&r);
}

Test(check, frozen_param_has_no_row, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/frozen_check.grad", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", NULL}, " ok");
  char *b = row_of(r.out, "b");
  cr_expect(!b, "the frozen b has a row: '%s'", b);
  free(b);
  e2e_free(&r);
}

/* tests/e2e/models/dims.grad has an output and no `minimize`. */
Test(check, model_without_loss, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/dims.grad", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect_eq(r.signal, 0);
  cr_expect(strstr(r.err, "loss") || strstr(r.err, "minimize"), "the message does not say the loss is missing:\n%s",
            r.err);
  cr_expect(!strstr(r.out, "passed"), "%s", r.out);
  e2e_free(&r);
}

Test(check, usage_errors, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", NULL);
  cr_expect_eq(r.status, 2, "no model: %s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "check", MODEL("logreg"), "--seed", "abc", NULL);
  cr_expect_eq(r.status, 2, "--seed abc: %s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/no_such_model.grad", NULL);
  cr_expect_eq(r.status, 1, "a missing model: %s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no_such_model.grad"), "%s", r.err);
  e2e_free(&r);
}

/* detach(): the gradient (x y, as torch's) is not the loss's derivative (2 x y), so the
 * finite differences are shown but not judged and the tape decides: correct gradients
 * pass, perturbed ones still fail. */
Test(check, detach_is_judged_by_the_tape, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/detach_check.grad", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", NULL}, " ok");
  double e[6];
  row_errors(r.out, "w", e);
  cr_expect(e[1] > 0.1 && e[3] < 1e-3, "FD should differ by half, the tape agree:\n%s", r.out);
  cr_expect(strstr(r.out, "detach()"), "no word on detach:\n%s", r.out);
  e2e_free(&r);
  check_perturbed(&r, E2E_MODELS_DIR "/detach_check.grad", NULL);
  cr_expect_eq(r.status, 1, "a perturbed check passed: %s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", NULL}, "MISMATCH");
  e2e_free(&r);
}

/* Every parameter frozen: nothing compared is not a pass. */
Test(check, nothing_to_check, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/all_frozen.grad", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no trainable parameter"), "%s", r.err);
  cr_expect(!strstr(r.out, "passed"), "%s", r.out);
  e2e_free(&r);
}

/* On a kink (relu at 0) finite differences measure no slope: those elements are said
 * and not compared with them; the tape still judges every element. */
Test(check, kinks_are_not_judged_by_fd, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/relu_kink.grad", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, (const char *[]){"w", NULL}, " ok");
  cr_expect(strstr(r.out, "8 elements at a kink of the loss (an input of relu "), "%s", r.out);
  e2e_free(&r);
  /* Each operator with a kink is named where a probe of its parameter crosses it. */
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/kinks.grad", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  table(r.out, (const char *[]){"a", "m", "l", "u", "q", NULL}, " ok");
  static const char *const said[][2] = {{"a", "abs"}, {"m", "maximum"}, {"l", "leaky_relu"}, {"u", "max"},
                                        {"q", "max_pool2d"}};
  for (int i = 0; i < 5; i++) {
    char *want = e2e_fmt("(%s: 4 elements at a kink of the loss (an input of %s at", said[i][0], said[i][1]);
    cr_expect(strstr(r.out, want), "expected '%s' in:\n%s", want, r.out);
    free(want);
  }
  e2e_free(&r);
  check_perturbed(&r, E2E_MODELS_DIR "/relu_kink.grad", NULL);
  cr_expect_eq(r.status, 1, "a perturbed check passed: %s", e2e_describe(&r));
  e2e_free(&r);
}

/* A smooth model (tanh, mse): no operator with a kink, so every probed element is
 * compared with finite differences and none is said to be at a kink (with --seed 6 an
 * element of w1, where the loss curves, used to be); a wrong gradient fails. */
Test(check, smooth_models_compare_every_element, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/tanh_mse.grad", "--seed", "6", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  static const char *const params[] = {"w1", "b1", "w2", "b2", NULL};
  table(r.out, params, " ok");
  for (int i = 0; params[i]; i++) {
    long elems, probed;
    probed_of(r.out, params[i], &elems, &probed);
    cr_expect_eq(probed, elems, "%s: %ld of %ld compared with FD:\n%s", params[i], probed, elems, r.out);
  }
  cr_expect(!strstr(r.out, "kink"), "%s", r.out);
  e2e_free(&r);
  setenv("GRADC_CHECK_PERTURB", "1e-2", 1);
  e2e_gradc(&r, "check", E2E_MODELS_DIR "/tanh_mse.grad", "--seed", "6", NULL);
  unsetenv("GRADC_CHECK_PERTURB");
  cr_expect_eq(r.status, 1, "a perturbed check passed: %s", e2e_describe(&r));
  table(r.out, params, "MISMATCH");
  double e[6];
  row_errors(r.out, "w1", e);
  cr_expect(e[1] > 1e-2, "the FD column must see it:\n%s", r.out);
  e2e_free(&r);
}
