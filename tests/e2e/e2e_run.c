/* e2e_run.c — `gradc run` (and the driver's usage, help and version) end to end: the
 * PyTorch autograd tutorial values through the real binary, the JSON schema of
 * docs/CLI.md ("gradc run"), text output, every form of --set and the errors the driver
 * reports, and --freeze on run, check and bench. */
#define _DEFAULT_SOURCE /* strndup, unlink, umask under -std=c11 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define TOL 1e-5

/* Expected values, from PyTorch (float32) on the tutorial inputs. */
static const double Z[3] = {-0.4, -0.2, 0.8};
static const double LOSS = 0.7607517;
static const double GB[3] = {0.1337708, 0.1500553, 0.2299915};
static const double TRAIN_LOSS = 0.281426;
static const double TRAIN_B[3] = {-0.05978851, -0.3772358, 0.03090344};

/* ---- JSON schema helpers ---- */

/* Checks that obj is a T = {"shape": [..], "data": [..]} with exactly those keys, data
 * of prod(shape) numbers; returns the data array. */
static const cJSON *check_T(const cJSON *obj, const char *what, const long long *shape, int rank) {
  cr_assert(cJSON_IsObject(obj), "%s: not an object", what);
  cr_assert_eq(cJSON_GetArraySize(obj), 2, "%s: expected exactly the keys shape and data", what);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, "shape");
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "data");
  cr_assert(cJSON_IsArray(s), "%s: no shape array", what);
  cr_assert(cJSON_IsArray(d), "%s: no data array", what);
  cr_assert_eq(cJSON_GetArraySize(s), rank, "%s: rank %d, expected %d", what, cJSON_GetArraySize(s), rank);
  long long count = 1;
  for (int i = 0; i < rank; i++) {
    const cJSON *e = cJSON_GetArrayItem(s, i);
    cr_assert(cJSON_IsNumber(e), "%s: shape[%d] is not a number", what, i);
    cr_assert_eq((long long)e->valuedouble, shape[i], "%s: shape[%d] = %g, expected %lld", what, i, e->valuedouble,
                 shape[i]);
    cr_assert_eq(e->valuedouble, floor(e->valuedouble), "%s: shape[%d] is not an integer", what, i);
    count *= shape[i];
  }
  cr_assert_eq(cJSON_GetArraySize(d), count, "%s: %d values, expected %lld", what, cJSON_GetArraySize(d), count);
  for (int i = 0; i < count; i++)
    cr_assert(cJSON_IsNumber(cJSON_GetArrayItem(d, i)), "%s: data[%d] is not a number", what, i);
  return d;
}

static double at(const cJSON *data, int i) { return cJSON_GetArrayItem(data, i)->valuedouble; }

/* Checks the top-level schema; returns the parsed object (caller deletes). */
static cJSON *parse_result(const e2e_result *r, bool with_grads) {
  cr_assert_eq(r->status, 0, "%s", e2e_describe(r));
  /* Exactly one JSON object on stdout (nothing but white space after it). */
  cJSON *j = cJSON_ParseWithOpts(r->out, NULL, 1);
  cr_assert(j, "stdout is not one JSON object:\n%s", r->out);
  cr_assert(cJSON_IsObject(j));
  static const char *keys[] = {"model", "loss", "outputs", "params", "grads"};
  cr_assert_eq(cJSON_GetArraySize(j), 5, "expected exactly the keys model, loss, outputs, params, grads:\n%s", r->out);
  for (int i = 0; i < 5; i++)
    cr_assert(cJSON_GetObjectItemCaseSensitive(j, keys[i]), "missing key '%s':\n%s", keys[i], r->out);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
  cr_assert(cJSON_IsString(model) && !strcmp(model->valuestring, "logreg"), "model is not \"logreg\"");
  cr_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "loss")), "loss is not a number");
  const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
  const cJSON *grads = cJSON_GetObjectItemCaseSensitive(j, "grads");
  cr_assert(cJSON_IsObject(outs) && cJSON_IsObject(params) && cJSON_IsObject(grads));
  cr_assert_eq(cJSON_GetArraySize(outs), 1, "outputs: expected only z");
  cr_assert_eq(cJSON_GetArraySize(params), 2, "params: expected w and b");
  cr_assert_eq(cJSON_GetArraySize(grads), with_grads ? 2 : 0, "grads: expected %s", with_grads ? "w and b" : "{}");
  static const long long s3[] = {3}, s53[] = {5, 3};
  check_T(cJSON_GetObjectItemCaseSensitive(outs, "z"), "outputs.z", s3, 1);
  check_T(cJSON_GetObjectItemCaseSensitive(params, "w"), "params.w", s53, 2);
  check_T(cJSON_GetObjectItemCaseSensitive(params, "b"), "params.b", s3, 1);
  if (with_grads) {
    check_T(cJSON_GetObjectItemCaseSensitive(grads, "w"), "grads.w", s53, 2);
    check_T(cJSON_GetObjectItemCaseSensitive(grads, "b"), "grads.b", s3, 1);
  }
  /* The params and grads appear in declaration order (w, then b). */
  cr_assert_str_eq(params->child->string, "w");
  return j;
}

static const cJSON *data_of(const cJSON *j, const char *group, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, group), name),
                                          "data");
}

/* ---- the acceptance values ---- */

Test(run, tutorial_backward_json, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=" E2E_W, "--set", "b=" E2E_B,
            "--backward", "--json", NULL);
  cJSON *j = parse_result(&r, true);
  double loss = cJSON_GetObjectItemCaseSensitive(j, "loss")->valuedouble;
  cr_expect_float_eq(loss, LOSS, TOL, "loss %.9g, expected %.9g", loss, LOSS);
  const cJSON *z = data_of(j, "outputs", "z"), *gw = data_of(j, "grads", "w"), *gb = data_of(j, "grads", "b");
  const cJSON *w = data_of(j, "params", "w"), *b = data_of(j, "params", "b");
  for (int i = 0; i < 3; i++) {
    cr_expect_float_eq(at(z, i), Z[i], TOL, "z[%d] = %.9g, expected %.9g", i, at(z, i), Z[i]);
    cr_expect_float_eq(at(gb, i), GB[i], TOL, "grad b[%d] = %.9g, expected %.9g", i, at(gb, i), GB[i]);
  }
  /* x is all ones, so dloss/dw[i][j] = dloss/db[j] for every row i. */
  for (int i = 0; i < 5; i++)
    for (int k = 0; k < 3; k++)
      cr_expect_float_eq(at(gw, i * 3 + k), GB[k], TOL, "grad w[%d][%d] = %.9g, expected %.9g", i, k,
                         at(gw, i * 3 + k), GB[k]);
  /* The params are printed as set (no update without --train-steps). */
  for (int i = 0; i < 15; i++) cr_expect_float_eq(at(w, i), -0.7 + 0.1 * i, 1e-7, "w[%d] changed", i);
  cr_expect_float_eq(at(b, 1), -0.2, 1e-7);
  cJSON_Delete(j);
  e2e_free(&r);
}

Test(run, tutorial_train_steps_json, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=" E2E_W, "--set", "b=" E2E_B,
            "--train-steps", "3", "--lr", "0.5", "--json", NULL);
  cJSON *j = parse_result(&r, true); /* --train-steps implies grads at the final params */
  double loss = cJSON_GetObjectItemCaseSensitive(j, "loss")->valuedouble;
  cr_expect_float_eq(loss, TRAIN_LOSS, TOL, "loss %.9g, expected %.9g", loss, TRAIN_LOSS);
  const cJSON *b = data_of(j, "params", "b"), *w = data_of(j, "params", "w");
  const cJSON *gb = data_of(j, "grads", "b"), *gw = data_of(j, "grads", "w"), *z = data_of(j, "outputs", "z");
  for (int i = 0; i < 3; i++)
    cr_expect_float_eq(at(b, i), TRAIN_B[i], TOL, "b[%d] = %.9g, expected %.9g", i, at(b, i), TRAIN_B[i]);
  /* Every row of w moved by the same amount as b (x is all ones). */
  for (int i = 0; i < 5; i++)
    for (int k = 0; k < 3; k++) {
      double moved_w = at(w, i * 3 + k) - (-0.7 + 0.1 * (i * 3 + k));
      double moved_b = at(b, k) - (k == 0 ? 0.1 : k == 1 ? -0.2 : 0.3);
      cr_expect_float_eq(moved_w, moved_b, TOL, "w[%d][%d] moved %.9g, b[%d] moved %.9g", i, k, moved_w, k, moved_b);
      cr_expect_float_eq(at(gw, i * 3 + k), at(gb, k), TOL);
    }
  /* What is printed is at the final parameters: z = sum_i w[i][k] + b[k] (x = 1), and the
   * gradient of BCE-with-logits with y = 0 is sigmoid(z) / 3. */
  for (int k = 0; k < 3; k++) {
    double zk = at(b, k);
    for (int i = 0; i < 5; i++) zk += at(w, i * 3 + k);
    cr_expect_float_eq(at(z, k), zk, TOL, "z[%d] = %.9g, expected %.9g", k, at(z, k), zk);
    double g = 1.0 / (1.0 + exp(-zk)) / 3.0;
    cr_expect_float_eq(at(gb, k), g, TOL, "grad b[%d] = %.9g, expected %.9g", k, at(gb, k), g);
  }
  cJSON_Delete(j);
  e2e_free(&r);
}

Test(run, json_without_backward_has_empty_grads, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=" E2E_W, "--set", "b=" E2E_B,
            "--json", NULL);
  cJSON *j = parse_result(&r, false);
  cr_expect_float_eq(cJSON_GetObjectItemCaseSensitive(j, "loss")->valuedouble, LOSS, TOL);
  cr_expect_float_eq(at(data_of(j, "outputs", "z"), 2), Z[2], TOL);
  cJSON_Delete(j);
  e2e_free(&r);
}

/* ---- text output ---- */

/* The numbers after "PREFIX = " on the line starting with PREFIX; returns how many. */
static int line_values(const char *text, const char *prefix, double *v, int max) {
  size_t n = strlen(prefix);
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, prefix, n) || strncmp(l + n, " = ", 3)) continue;
    const char *p = l + n + 3;
    int k = 0;
    char *end;
    while (k < max) {
      double x = strtod(p, &end);
      if (end == p) break;
      v[k++] = x;
      p = end;
      if (*p == '\n' || !*p) break;
    }
    return k;
  }
  return -1;
}

Test(run, text_output, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=" E2E_W, "--set", "b=" E2E_B,
            "--backward", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(!strncmp(r.out, "model logreg\n", 13), "first line is not 'model logreg':\n%s", r.out);
  const char *l = strstr(r.out, "\nloss ");
  cr_assert(l, "no 'loss' line:\n%s", r.out);
  cr_expect_float_eq(strtod(l + 6, NULL), LOSS, TOL);
  double v[16];
  cr_assert_eq(line_values(r.out, "z [3]", v, 16), 3, "no 'z [3] = 3 values' line:\n%s", r.out);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(v[i], Z[i], TOL);
  cr_assert_eq(line_values(r.out, "w [5, 3]", v, 16), 15, "no 'w [5, 3] = ...' line:\n%s", r.out);
  cr_assert_eq(line_values(r.out, "b [3]", v, 16), 3, "no 'b [3] = ...' line:\n%s", r.out);
  cr_assert_eq(line_values(r.out, "grad b [3]", v, 16), 3, "no 'grad b [3] = ...' line:\n%s", r.out);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(v[i], GB[i], TOL);
  cr_assert_eq(line_values(r.out, "grad w [5, 3]", v, 16), 15, "no 'grad w [5, 3] = ...' line:\n%s", r.out);
  for (int i = 0; i < 15; i++) cr_expect_float_eq(v[i], GB[i % 3], TOL);
  e2e_free(&r);
}

/* An i32 output prints as integers, exactly, in text and JSON. */
Test(run, int_outputs, .timeout = 30) {
  e2e_result r;
  /* w's column j holds j: row i's scores are j times its sum, largest at column 3 or 0 */
  e2e_gradc(&r, "run", E2E_MODELS_DIR "/int_outputs.grad", "--set", "l=3,-7,2147483647", "--set",
            "x=1,0,0,0,-1,0,0,0,0,0,2,0", "--set", "w=0,1,2,3,0,1,2,3,0,1,2,3,0,1,2,3", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "\nlab [3, 1] = 3 -7 2147483647\n"), "%s", r.out);
  cr_expect(strstr(r.out, "\npred [3] = 3 0 3\n"), "%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_MODELS_DIR "/int_outputs.grad", "--set", "l=3,-7,2147483647", "--json", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "\"lab\": {\"shape\": [3, 1], \"data\": [3, -7, 2147483647]}"), "%s", r.out);
  e2e_free(&r);
}

/* ---- --set forms ---- */

Test(run, set_from_file, .timeout = 30) {
  char *dir = e2e_tmpdir("setfile");
  cr_assert(dir);
  char *wf = e2e_fmt("%s/w.txt", dir), *bf = e2e_fmt("%s/b.txt", dir);
  /* white space and newlines in one file, commas in the other */
  cr_assert(e2e_write(wf, "-0.7 -0.6 -0.5\n-0.4\t-0.3 -0.2\n-0.1 0 0.1\n 0.2 0.3 0.4\n0.5 0.6 0.7\n"));
  cr_assert(e2e_write(bf, "0.1,-0.2,0.3\n"));
  char *wa = e2e_fmt("w=@%s", wf), *ba = e2e_fmt("b=@%s", bf);
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", wa, "--set", ba, "--backward", "--json",
            NULL);
  cJSON *j = parse_result(&r, true);
  cr_expect_float_eq(cJSON_GetObjectItemCaseSensitive(j, "loss")->valuedouble, LOSS, TOL);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(at(data_of(j, "grads", "b"), i), GB[i], TOL);
  for (int i = 0; i < 15; i++) cr_expect_float_eq(at(data_of(j, "params", "w"), i), -0.7 + 0.1 * i, 1e-7);
  cJSON_Delete(j);
  e2e_free(&r);

  /* A missing file: exit 1, naming it. */
  char *missing = e2e_fmt("w=@%s/nope.txt", dir);
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", missing, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "nope.txt"), "the message does not name the file:\n%s", r.err);
  e2e_free(&r);
  /* A bad value in a file: its line and column, and the value alone (not the rest of the file). */
  cr_assert(e2e_write(wf, "1 2 3\n4 abc 6\n7 8 9\n"));
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", wa, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "w.txt:2:3) is not a number: 'abc'\n"), "%s", r.err);
  e2e_free(&r);
  free(wf), free(bf), free(wa), free(ba), free(missing);
  e2e_rmdir(dir);
  free(dir);
}

/* --set NAME=@FILE is linear in the file's size: 200,000 values take a fraction of a
 * second (positions in the file are worked out only for a message; scanning from the
 * start for every value took 99 s for 125,000). A bad value near the end still gets its
 * line and column. */
Test(run, set_from_large_file, .timeout = 20) {
  enum { N = 200000, PER_LINE = 8 };
  char *dir = e2e_tmpdir("setbig");
  cr_assert(dir);
  char *model = e2e_fmt("%s/big.grad", dir), *vf = e2e_fmt("%s/x.txt", dir), *arg = e2e_fmt("x=@%s", vf);
  cr_assert(e2e_write(model, "model big\ninput x : f32[200000]\ny = sum(x)\noutput y\n"));
  char *text = malloc((size_t)N * 12 + 16), *p = text;
  double want = 0;
  for (int i = 0; i < N; i++) { /* multiples of 1/8: exact in float, and their sum too */
    double v = (double)(i % 17 - 8) / 8;
    want += v;
    p += sprintf(p, "%g%s", v, i % PER_LINE == PER_LINE - 1 ? "\n" : ", ");
  }
  cr_assert(e2e_write(vf, text));
  e2e_result r;
  e2e_gradc(&r, "run", model, "--set", arg, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  double y;
  cr_assert_eq(line_values(r.out, "y []", &y, 1), 1, "no 'y [] = ...' line:\n%s", r.out);
  cr_expect_float_eq(y, want, 1e-3, "sum of the file's values: %g, expected %g", y, want);
  e2e_free(&r);
  /* the second value of the last line made bad: its line and column */
  size_t len = strlen(text);
  text[len - 1] = 0; /* the final newline, for a moment */
  char *line = strrchr(text, '\n') + 1, *second = strstr(line, ", ") + 2;
  text[len - 1] = '\n';
  *second = 'z';
  cr_assert(e2e_write(vf, text));
  e2e_gradc(&r, "run", model, "--set", arg, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  char *where = e2e_fmt("x.txt:%d:%d) is not a number: 'z", N / PER_LINE, (int)(second - line) + 1);
  cr_expect(strstr(r.err, where), "expected '%s' in:\n%s", where, r.err);
  e2e_free(&r);
  free(where), free(text), free(model), free(vf), free(arg);
  e2e_rmdir(dir);
  free(dir);
}

Test(run, single_number_broadcasts, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=0.5", "--set", "b=" E2E_B, "--json",
            NULL);
  cJSON *j = parse_result(&r, false);
  const cJSON *w = data_of(j, "params", "w"), *z = data_of(j, "outputs", "z");
  for (int i = 0; i < 15; i++) cr_expect_float_eq(at(w, i), 0.5, 1e-7, "w[%d] = %g", i, at(w, i));
  static const double b[3] = {0.1, -0.2, 0.3};
  for (int k = 0; k < 3; k++) cr_expect_float_eq(at(z, k), 2.5 + b[k], TOL, "z[%d] = %g", k, at(z, k));
  cJSON_Delete(j);
  e2e_free(&r);
}

Test(run, unset_tensors_take_init_under_seed, .timeout = 30) {
  e2e_result a, b, c;
  e2e_gradc(&a, "run", E2E_LOGREG, "--seed", "7", "--json", NULL);
  e2e_gradc(&b, "run", E2E_LOGREG, "--seed", "7", "--json", NULL);
  e2e_gradc(&c, "run", E2E_LOGREG, "--seed", "8", "--json", NULL);
  cJSON *ja = parse_result(&a, false), *jb = parse_result(&b, false), *jc = parse_result(&c, false);
  cr_expect_str_eq(a.out, b.out, "the same seed gave different results");
  cr_expect(strcmp(a.out, c.out), "seeds 7 and 8 gave the same parameters");
  /* randn: not all zero, not all equal */
  const cJSON *w = data_of(ja, "params", "w");
  bool differ = false;
  for (int i = 1; i < 15; i++) differ |= at(w, i) != at(w, 0);
  cr_expect(differ, "w = randn gave constant values");
  cJSON_Delete(ja);
  cJSON_Delete(jb);
  cJSON_Delete(jc);
  e2e_free(&a);
  e2e_free(&b);
  e2e_free(&c);
}

/* ---- errors: exit 1 (wrong input) ---- */

static void expect_user_error(e2e_result *r, const char *const *want) {
  cr_expect_eq(r->status, 1, "expected exit status 1: %s", e2e_describe(r));
  cr_expect_eq(r->signal, 0);
  cr_expect_eq(r->outlen, 0, "expected nothing on stdout: %s", e2e_describe(r));
  for (; *want; want++) cr_expect(strstr(r->err, *want), "stderr lacks '%s': %s", *want, e2e_describe(r));
}

Test(run, wrong_count_of_values, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1,2", NULL);
  expect_user_error(&r, (const char *[]){"x", "2", "5", NULL});
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "b=1,2,3,4", NULL); /* too many */
  expect_user_error(&r, (const char *[]){"b", "3", NULL});
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1,2,oops,4,5", NULL); /* not a number */
  expect_user_error(&r, (const char *[]){"x", "oops", NULL});
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x", NULL); /* no '=' */
  expect_user_error(&r, (const char *[]){"x", NULL});
  e2e_free(&r);
}

Test(run, unknown_tensor_name, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "q=1", NULL);
  expect_user_error(&r, (const char *[]){"'q'", NULL});
  e2e_free(&r);
  /* a misspelt one: the nearest input or parameter */
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "ww=1", NULL);
  expect_user_error(&r, (const char *[]){"no input or parameter 'ww'; did you mean 'w'?", NULL});
  e2e_free(&r);
}

Test(run, set_of_an_output, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "z=1", NULL);
  expect_user_error(&r, (const char *[]){"'z'", NULL});
  e2e_free(&r);
}

Test(run, missing_model_file, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", GRADC_SOURCE_DIR "/models/no_such_model.grad", NULL);
  expect_user_error(&r, (const char *[]){"no_such_model.grad", NULL});
  e2e_free(&r);
}

/* ---- usage errors: exit 2 ---- */

static void expect_usage_error(e2e_result *r, const char *want) {
  cr_expect_eq(r->status, 2, "expected exit status 2: %s", e2e_describe(r));
  cr_expect_eq(r->signal, 0);
  cr_expect(r->errlen > 0, "expected a message on stderr");
  if (want) cr_expect(strstr(r->err, want), "stderr lacks '%s': %s", want, e2e_describe(r));
}

/* An unknown option suggests the nearest option of its command (--epoch: --epochs);
 * eval without --weights says what is missing. */
Test(usage, suggestions, .timeout = 30) {
  static const char *const cases[][3] = {{"train", "--epoch", "did you mean '--epochs'?"},
                                         {"train", "--epoch=3", "unknown option '--epoch'; did you mean '--epochs'?"},
                                         {"run", "--bakward", "did you mean '--backward'?"},
                                         {"compile", "--emitt", "did you mean '--emit'?"},
                                         {"check", "--sed", "did you mean '--seed'?"},
                                         {"bench", "--step", "did you mean '--steps'?"},
                                         {"run", "--zzzzzz", "unknown option '--zzzzzz'\n"}};
  e2e_result r;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    e2e_gradc(&r, cases[i][0], E2E_LOGREG, cases[i][1], "3", NULL);
    expect_usage_error(&r, cases[i][2]);
    e2e_free(&r);
  }
  e2e_gradc(&r, "eval", E2E_LOGREG, "--data", "d.csv", NULL);
  expect_usage_error(&r, "--weights W.safetensors is missing: the trained parameters to evaluate");
  e2e_free(&r);
}

Test(usage, errors_exit_2, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--bogus", NULL);
  expect_usage_error(&r, "--bogus");
  e2e_free(&r);
  e2e_gradc(&r, "run", NULL); /* missing model */
  expect_usage_error(&r, "usage");
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--train-steps", "3", NULL);
  expect_usage_error(&r, "--lr");
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--train-steps", "three", "--lr", "0.1", NULL);
  expect_usage_error(&r, "three");
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--lr", NULL); /* option without its value */
  expect_usage_error(&r, "--lr");
  e2e_free(&r);
  e2e_gradc(&r, "compile", NULL);
  expect_usage_error(&r, "usage");
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "exe", NULL);
  expect_usage_error(&r, "exe");
  e2e_free(&r);
  e2e_gradc(&r, "frobnicate", NULL);
  expect_usage_error(&r, "frobnicate");
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--seed", "-1", NULL); /* a seed is a uint64 */
  expect_usage_error(&r, "--seed -1");
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--seed", "18446744073709551615", NULL);
  cr_expect_eq(r.status, 0, "the largest seed: %s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_LOGREG, "--lr", "0.1", NULL); /* --lr without --train-steps */
  expect_usage_error(&r, "--train-steps");
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "ir", "--stats", "-o", "/dev/null", NULL); /* nothing to measure */
  expect_usage_error(&r, "--stats");
  e2e_free(&r);
  e2e_gradc(&r, "compil", NULL); /* a typo: the nearest command */
  expect_usage_error(&r, "did you mean 'compile'");
  e2e_free(&r);
  e2e_gradc(&r, "help", "frob", NULL);
  expect_usage_error(&r, "unknown command 'frob'");
  e2e_free(&r);
  e2e_gradc(&r, NULL);
  expect_usage_error(&r, "usage");
  e2e_free(&r);
}

Test(usage, version, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "--version", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_str_eq(r.out, "gradc " GRADC_VERSION "\n");
  e2e_free(&r);
}

Test(usage, help, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "help", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "gradc compile"), "help lacks compile:\n%s", r.out);
  cr_expect(strstr(r.out, "gradc run"), "help lacks run:\n%s", r.out);
  cr_expect(strstr(r.out, "--version"), "help lacks --version:\n%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "help", "run", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "gradc run"), "%s", r.out);
  for (const char *const *o = (const char *[]){"--set", "--backward", "--train-steps", "--lr", "--json", "--seed", NULL};
       *o; o++)
    cr_expect(strstr(r.out, *o), "help run lacks %s:\n%s", *o, r.out);
  e2e_free(&r);
  e2e_gradc(&r, "help", "compile", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "--emit") && strstr(r.out, "--target") && strstr(r.out, "--inference"), "%s", r.out);
  e2e_free(&r);
}

/* Output that cannot be written is a failure (exit 1, said), not a silent success. */
Test(usage, full_standard_output, .timeout = 30) {
  e2e_result r;
  char *line = e2e_fmt("'%s' run '%s' > /dev/full", GRADC_BIN, E2E_LOGREG);
  e2e_run(&r, (const char *[]){"/bin/sh", "-c", line, NULL});
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "standard output"), "%s", r.err);
  e2e_free(&r);
  free(line);
}

/* -D naming no dim: exit 1, the nearest dim suggested. */
Test(usage, define_of_an_unknown_dim, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "compile", GRADC_SOURCE_DIR "/models/digits.grad", "-D", "n=3", "-o", "/dev/null", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no dim or batch named 'n'") && strstr(r.err, "did you mean 'N'"), "%s", r.err);
  e2e_free(&r);
}

/* A NaN loss is null in JSON (it has no NaN), and stderr says so: a diverged run is not
 * mistaken for a model without a loss. */
Test(usage, json_nan_is_said, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_MODELS_DIR "/nan_loss.grad", "--set", "x=-1", "--json", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "\"loss\": null"), "%s", r.out);
  cr_expect(strstr(r.err, "NaN or infinite"), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "run", E2E_MODELS_DIR "/nan_loss.grad", "--set", "x=2", "--json", NULL);
  cr_expect(!strstr(r.out, "null") && !strstr(r.err, "NaN"), "a finite run: %s", e2e_describe(&r));
  e2e_free(&r);
}

/* gradc bench: its JSON (docs/CLI.md, "gradc bench") with positive times and a ratio that is the
 * quotient of the two; usage errors exit 2. */
Test(bench, json_and_usage, .timeout = 60) {
  e2e_result r;
  e2e_gradc(&r, "bench", E2E_LOGREG, "--steps", "20", "--json", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cJSON *j = cJSON_Parse(r.out);
  cr_assert(j, "not JSON:\n%s", r.out);
  cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "logreg");
  const char *rows[] = {"train_step", "inference"};
  for (int i = 0; i < 2; i++) {
    const cJSON *row = cJSON_GetObjectItemCaseSensitive(j, rows[i]);
    cr_assert(cJSON_IsObject(row), "no %s in:\n%s", rows[i], r.out);
    double us = cJSON_GetObjectItemCaseSensitive(row, "gradc_us")->valuedouble;
    double tape = cJSON_GetObjectItemCaseSensitive(row, "tape_us")->valuedouble;
    double ratio = cJSON_GetObjectItemCaseSensitive(row, "speedup_vs_tape")->valuedouble;
    cr_expect(us > 0 && tape > 0, "%s: times %g, %g", rows[i], us, tape);
    cr_expect(fabs(ratio - tape / us) <= 0.01 * ratio, "%s: ratio %g, times %g / %g", rows[i], ratio, tape, us);
    cr_expect(cJSON_GetObjectItemCaseSensitive(row, "flops")->valuedouble > 0, "%s: no flops", rows[i]);
  }
  cJSON_Delete(j);
  e2e_free(&r);
  e2e_gradc(&r, "bench", E2E_LOGREG, "--steps", "0", NULL);
  expect_usage_error(&r, "--steps");
  e2e_free(&r);
  e2e_gradc(&r, "bench", E2E_LOGREG, "--frob", NULL);
  expect_usage_error(&r, "--frob");
  e2e_free(&r);
  e2e_gradc(&r, "bench", E2E_MODELS_DIR "/dims.grad", NULL); /* no loss: nothing to train */
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no loss"), "%s", r.err);
  e2e_free(&r);
}

/* ---- --freeze on run, check and bench (as on compile) ---- */

/* run --freeze b: no gradient for b, and --train-steps leaves it as set. */
Test(freeze, run, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--set", "x=1", "--set", "y=0", "--set", "w=" E2E_W, "--set", "b=" E2E_B,
            "--train-steps", "3", "--lr", "0.5", "--freeze", "b", "--json", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cJSON *j = cJSON_Parse(r.out);
  cr_assert(j, "not JSON:\n%s", r.out);
  const cJSON *grads = cJSON_GetObjectItemCaseSensitive(j, "grads");
  cr_expect(cJSON_GetObjectItemCaseSensitive(grads, "w") && !cJSON_GetObjectItemCaseSensitive(grads, "b"),
            "--freeze b: grads should hold w only:\n%s", r.out);
  const cJSON *b = data_of(j, "params", "b"), *w = data_of(j, "params", "w");
  cr_expect((float)at(b, 0) == 0.1f && (float)at(b, 1) == -0.2f && (float)at(b, 2) == 0.3f, "the frozen b moved");
  cr_expect((float)at(w, 0) != -0.7f, "w did not learn");
  cJSON_Delete(j);
  e2e_free(&r);
  /* An unknown name: an error with the nearest parameter, as compile gives. */
  e2e_gradc(&r, "run", E2E_LOGREG, "--freeze", "w,bb", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "--freeze bb") && strstr(r.err, "did you mean 'b'"), "%s", r.err);
  e2e_free(&r);
}

/* check --freeze w: only b is compared (and still passes); bench --freeze w: the step
 * no longer has w's gradient product. */
Test(freeze, check_and_bench, .timeout = 60) {
  e2e_result r;
  e2e_gradc(&r, "check", E2E_LOGREG, "--freeze", "w", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "\nb ") && !strstr(r.out, "\nw "), "check --freeze w compared w:\n%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "check", E2E_LOGREG, "--freeze=ww", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "did you mean 'w'"), "%s", r.err);
  e2e_free(&r);
  double flops[2];
  for (int i = 0; i < 2; i++) {
    e2e_gradc(&r, "bench", E2E_LOGREG, "--steps", "3", "--json", i ? "--freeze" : NULL, "w", NULL);
    cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "not JSON:\n%s", r.out);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "train_step");
    flops[i] = cJSON_GetObjectItemCaseSensitive(step, "flops")->valuedouble;
    cJSON_Delete(j);
    e2e_free(&r);
  }
  cr_expect_lt(flops[1], flops[0], "bench --freeze w: the train step still computes w's gradient");
  e2e_gradc(&r, "bench", E2E_LOGREG, "--freeze", "q", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  e2e_free(&r);
}
