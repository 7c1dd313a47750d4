/* e2e_optim.c — `gradc train`'s optimizer options end to end: every rule trains with a
 * schedule and clipping; an Adam run with a cosine schedule after a warm-up, clipped,
 * resumed from its checkpoint (Adam's state, step count and schedule in the file)
 * continues bit for bit; a resume with another optimizer is refused; bad values and
 * options that do not go together or with the rule are refused with their reason;
 * `gradc compile --optimizer` and `--all-hyper` in the header.
 *
 * The model is tests/e2e/models/csv10.grad with -D N=4 (as e2e_resume.c). */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define CSV10 E2E_MODELS_DIR "/csv10.grad"

static char *rows(const char *dir, int n) {
  char *text = calloc((size_t)n * 64 + 1, 1);
  unsigned seed = 5;
  for (int i = 0; i < n; i++) {
    double f[3];
    for (int k = 0; k < 3; k++) seed = seed * 1103515245u + 12345u, f[k] = (double)(seed >> 16 & 1023) / 256 - 2;
    sprintf(text + strlen(text), "%g,%g,%g,%d\n", f[0], f[1], f[2], (int)(seed >> 8) % 10);
  }
  char *path = e2e_write_file(dir, "train.csv", text);
  free(text);
  return path;
}

/* gradc train csv10 -D N=4 --data DATA ARGS...; asserts the exit status. */
static e2e_result train(int status, const char *data, const char *const *args) {
  const char *argv[48] = {"train", CSV10, "-D", "N=4", "--data", data};
  int n = 6;
  for (; args[n - 6]; n++) argv[n] = args[n - 6];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  cr_assert_eq(r.status, status, "train: %s", e2e_describe(&r));
  return r;
}

/* The checkpoint's header (the JSON object; free with cJSON_Delete). */
static cJSON *header_of(const char *path) {
  size_t n;
  char *b = e2e_read(path, &n);
  cr_assert(b && n >= 8, "cannot read %s", path);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)b[i];
  cJSON *h = cJSON_ParseWithLength(b + 8, (size_t)hl);
  free(b);
  cr_assert(h, "%s: no JSON header", path);
  return h;
}

/* The "step ..." lines of s (malloc'd): what --log-steps printed. */
static char *step_lines(const char *s) {
  char *out = calloc(strlen(s ? s : "") + 1, 1);
  for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, "step ", 5)) strncat(out, l, strcspn(l, "\n") + 1);
  return out;
}

static const char *meta(const cJSON *h, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "__metadata__"), key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

Test(optim, adam_schedule_clip_resumes_bit_for_bit, .timeout = 120) {
  char *dir = e2e_tmpdir("optim"), *data = rows(dir, 18);
  char *a = e2e_fmt("%s/a.st", dir), *b = e2e_fmt("%s/b.st", dir), *c = e2e_fmt("%s/c.st", dir);
#define RUN "--optimizer", "adam", "--lr", "0.01", "--betas", "0.8,0.99", "--amsgrad", "--weight-decay", "0.01", \
            "--clip-grad-norm", "0.5", "--schedule", "cosine", "--warmup", "3", "--seed", "2"
  /* The plan is 4 epochs (16 steps): the schedule spans them; this run stops at 6. */
  e2e_result ra = train(0, data, (const char *[]){RUN, "--epochs", "4", "--steps", "6", "-o", a, NULL});
  cJSON *h = header_of(a);
  cr_expect_str_eq(meta(h, "gradc_optimizer"), "adam");
  cr_expect_str_eq(meta(h, "gradc_optimizer_step"), "6");
  cr_expect_str_eq(meta(h, "gradc_hyper_beta1"), "0.80000000000000004");
  cr_expect_str_eq(meta(h, "gradc_schedule"), "cosine");
  cr_expect_str_eq(meta(h, "gradc_schedule_steps"), "13", "T_max: the 16 steps planned less the warm-up");
  cr_expect_str_eq(meta(h, "gradc_clip_grad_norm"), "0.5");
  cr_expect(cJSON_GetObjectItem(h, "w.exp_avg") && cJSON_GetObjectItem(h, "w.exp_avg_sq") &&
                cJSON_GetObjectItem(h, "w.max_exp_avg_sq"), "Adam's state is not in the checkpoint");
  cr_expect_null(meta(h, "gradc_momentum"));
  cJSON_Delete(h);
  /* Resumed without the options: all come from the checkpoint. */
  e2e_result rb = train(0, data, (const char *[]){"--epochs", "4", "--resume", a, "--log-steps", "-o", b, NULL});
  e2e_result rc = train(0, data, (const char *[]){RUN, "--epochs", "4", "--log-steps", "-o", c, NULL});
  cr_expect(e2e_same_file(b, c), "the resumed run differs from the uninterrupted one");
  char *sb = step_lines(rb.out), *sc = step_lines(strstr(rc.out, "step 7 "));
  cr_expect_str_eq(sb, sc, "the resumed steps differ from the uninterrupted run's");
  free(sb), free(sc);
  cr_expect(strstr(rc.out, " lr ") && strstr(rc.out, " grad_norm "), "--log-steps shows no lr or norm:\n%s", rc.out);
  /* The same with another optimizer is refused, naming both. */
  e2e_result rd = train(1, data, (const char *[]){"--epochs", "4", "--resume", a, "--optimizer", "adamw", NULL});
  cr_expect(strstr(rd.err, "the checkpoint's run used --optimizer adam, this run asks for --optimizer adamw"), "%s",
            rd.err);
  /* A hyper-parameter given on resume replaces the checkpoint's, and says so. */
  e2e_result re = train(0, data, (const char *[]){"--epochs", "4", "--resume", a, "--betas", "0.8,0.9", NULL});
  cr_expect(strstr(re.err, "--betas 0.9 replaces the checkpoint's beta2 0.99"), "%s", re.err);
  e2e_free(&ra), e2e_free(&rb), e2e_free(&rc), e2e_free(&rd), e2e_free(&re);
  free(a), free(b), free(c), free(data);
  e2e_rmdir(dir);
  free(dir);
}

Test(optim, every_rule_trains_with_a_schedule_and_clipping, .timeout = 120) {
  char *dir = e2e_tmpdir("optim"), *data = rows(dir, 18);
  const char *runs[][12] = {
      {"--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--schedule", "onecycle", NULL},
      {"--momentum", "0.9", "--dampening", "0.5", "--schedule", "step", "--step-size", "2", "--gamma", "0.5", NULL},
      {"--optimizer", "adam", "--eps", "1e-6", "--clip-grad-norm", "1", NULL},
      {"--optimizer", "adamw", "--amsgrad", "--schedule", "cosine", "--warmup", "2", "--warmup-start", "0.1", NULL},
      {"--optimizer", "rmsprop", "--alpha", "0.9", "--centered", "--momentum", "0.5", "--clip-grad-norm", "2", NULL},
  };
  for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
    const char *args[20] = {"--steps", "4", "--log-steps"};
    for (int i = 0; runs[k][i]; i++) args[3 + i] = runs[k][i];
    e2e_result r = train(0, data, args);
    cr_expect_eq(e2e_count_lines(r.out, "step "), 4, "%s:\n%s", runs[k][1], r.out);
    cr_expect_null(strstr(r.out, "nan"), "%s: a NaN:\n%s", runs[k][1], r.out);
    e2e_free(&r);
  }
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

Test(optim, bad_options_are_refused, .timeout = 60) {
  char *dir = e2e_tmpdir("optim"), *data = rows(dir, 18);
  static const struct {
    const char *args[6], *words;
  } bad[] = {
      {{"--betas", "0.9"}, "--betas 0.9: expected two numbers in [0, 1) separated by a comma"},
      {{"--optimizer", "adam", "--betas", "0.9,1"}, "expected two numbers in [0, 1)"},
      {{"--nesterov"}, "Nesterov momentum needs a momentum above 0 and no dampening"},
      {{"--momentum", "0.9", "--dampening", "0.1", "--nesterov"}, "Nesterov momentum needs"},
      {{"--optimizer", "adam", "--momentum", "0.9"}, "--momentum is an option of --optimizer sgd, rmsprop, not of adam"},
      {{"--betas", "0.9,0.99"}, "--betas is an option of --optimizer adam, adamw, not of sgd"},
      {{"--optimizer", "lion"}, "--optimizer lion: expected sgd, adam, adamw or rmsprop"},
      {{"--momentum", "0.9", "--dampening", "2"}, "--dampening: dampening 2: must be in [0, 1]"},
      {{"--schedule", "step"}, "--schedule step needs --step-size N"},
      {{"--step-size", "3"}, "--step-size is an option of --schedule step"},
      {{"--schedule", "linear"}, "--schedule linear: expected step, cosine or onecycle"},
      {{"--schedule", "onecycle", "--warmup", "2"}, "one-cycle warms up itself"},
      {{"--warmup", "-1"}, "--warmup -1: expected an integer >= 0"},
      {{"--schedule", "onecycle", "--cycle-momentum", "0.95,0.85"}, "expected BASE,MAX with 0 <= BASE <= MAX < 1"},
      {{"--schedule", "cosine", "--cycle-momentum", "off"}, "--cycle-momentum is an option of --schedule onecycle"},
      {{"--warmup-start", "0.5"}, "--warmup-start is the first step's fraction"},
      {{"--clip-grad-norm", "-1"}, "--clip-grad-norm -1: expected a number >= 0"},
      {{"--optimizer", "rmsprop", "--eps", "nan"}, "--eps nan: expected a number >= 0"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    const char *args[10] = {"--steps", "1"};
    for (int i = 0; bad[k].args[i]; i++) args[2 + i] = bad[k].args[i];
    e2e_result r = train(2, data, args);
    cr_expect(strstr(r.err, bad[k].words), "%s: expected '%s' in:\n%s", bad[k].args[0], bad[k].words, r.err);
    e2e_free(&r);
  }
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* One-cycle cycles the momentum (beta1) as torch's OneCycleLR does by default: the
 * checkpoint records it, a resumed run continues it bit for bit, `off` keeps it fixed. */
Test(optim, onecycle_cycles_momentum_and_resumes, .timeout = 120) {
  char *dir = e2e_tmpdir("optim"), *data = rows(dir, 18);
  char *a = e2e_fmt("%s/a.st", dir), *b = e2e_fmt("%s/b.st", dir), *c = e2e_fmt("%s/c.st", dir),
       *d = e2e_fmt("%s/d.st", dir);
#define OC "--optimizer", "adam", "--lr", "0.01", "--schedule", "onecycle", "--cycle-momentum", "0.8,0.9"
  e2e_result ra = train(0, data, (const char *[]){OC, "--epochs", "4", "--steps", "6", "-o", a, NULL});
  cJSON *h = header_of(a);
  cr_expect_str_eq(meta(h, "gradc_cycle_momentum"), "0.80000000000000004,0.90000000000000002");
  cJSON_Delete(h);
  e2e_result rb = train(0, data, (const char *[]){"--epochs", "4", "--resume", a, "-o", b, NULL});
  e2e_result rc = train(0, data, (const char *[]){OC, "--epochs", "4", "-o", c, NULL});
  cr_expect(e2e_same_file(b, c), "the resumed one-cycle run differs from the uninterrupted one");
  e2e_result rd = train(0, data, (const char *[]){OC, "--epochs", "4", "--cycle-momentum", "off", "-o", d, NULL});
  cr_expect(!e2e_same_file(c, d), "cycling the momentum changed nothing");
  h = header_of(d);
  cr_expect_str_eq(meta(h, "gradc_cycle_momentum"), "off");
  cJSON_Delete(h);
#undef OC
  e2e_free(&ra), e2e_free(&rb), e2e_free(&rc), e2e_free(&rd);
  free(a), free(b), free(c), free(d), free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* Without optimizer options, and with --optimizer sgd, the run is today's SGD run. */
Test(optim, sgd_by_name_is_the_default, .timeout = 60) {
  char *dir = e2e_tmpdir("optim"), *data = rows(dir, 18);
  char *a = e2e_fmt("%s/a.st", dir), *b = e2e_fmt("%s/b.st", dir);
  e2e_result ra = train(0, data, (const char *[]){"--steps", "5", "--momentum", "0.9", "-o", a, NULL});
  e2e_result rb = train(0, data, (const char *[]){"--steps", "5", "--optimizer", "sgd", "--momentum", "0.9", "-o", b,
                                                  NULL});
  cr_expect(e2e_same_file(a, b));
  cJSON *h = header_of(a);
  cr_expect_null(meta(h, "gradc_optimizer"), "an SGD checkpoint keeps its first format");
  cr_expect_str_eq(meta(h, "gradc_momentum"), "0.899999976");
  cJSON_Delete(h);
  e2e_free(&ra), e2e_free(&rb);
  free(a), free(b), free(data);
  e2e_rmdir(dir);
  free(dir);
}

Test(optim, compile_optimizer_in_the_header, .timeout = 60) {
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "--optimizer", "adam", "--emit", "header", "-o", "-", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "#define LOGREG_OPTIMIZER \"adam\"") && strstr(r.out, "#define LOGREG_HYPER_COUNT 10"),
            "%s", r.out);
  cr_expect(strstr(r.out, "float *exp_avg_sq_w") && strstr(r.out, "gradc_optimizer_values(&gradc_optimizer_adam"),
            "%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "header", "-o", "-", NULL);
  cr_expect(strstr(r.out, "hyper = {lr, momentum, weight_decay}") && strstr(r.out, "#define LOGREG_HYPER_COUNT 3"),
            "%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--optimizer", "sgd", "--all-hyper", "--emit", "header", "-o", "-", NULL);
  cr_expect(strstr(r.out, "#define LOGREG_HYPER_COUNT 6") && strstr(r.out, "dampening, nesterov,") &&
                strstr(r.out, "dampening_keep}"), "%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--optimizer", "adagrad", NULL);
  cr_expect_eq(r.status, 2);
  cr_expect(strstr(r.err, "expected sgd, adam, adamw or rmsprop"), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--optimizer", "adam", "--inference", NULL);
  cr_expect_eq(r.status, 2);
  cr_expect(strstr(r.err, "--inference compiles no train step"), "%s", r.err);
  e2e_free(&r);
}
