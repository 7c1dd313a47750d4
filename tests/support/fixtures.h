/* fixtures.h — reading the PyTorch fixture files (tests/fixtures/ops/FAMILY.json, made by
 * tools/torch/gen_op_fixtures.py) for the tests that replay them: test_torch_ops.c on
 * the compiled code, test_tape.c on the tape baseline. Header-only (static functions):
 * each Criterion test executable includes it once. */
#ifndef GRADC_TEST_FIXTURES_H
#define GRADC_TEST_FIXTURES_H
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole file as a NUL-terminated string, or NULL. */
static char *fx_read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

/* Parses DIR/FAMILY.json; *cases is its non-empty "cases" array. Free the result with
 * cJSON_Delete. Fails the test when the file is missing or malformed. */
static cJSON *fx_load_family(const char *dir, const char *family, const cJSON **cases) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.json", dir, family);
  char *text = fx_read_text(path);
  cr_assert_not_null(text, "cannot read %s", path);
  cJSON *doc = cJSON_Parse(text);
  free(text);
  cr_assert_not_null(doc, "%s is not valid JSON", path);
  *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
  cr_assert(cJSON_IsArray(*cases) && cJSON_GetArraySize(*cases) > 0, "%s has no cases", path);
  return doc;
}

/* A case's tolerance: its own "tol" {abs, rel} where it has one. */
static void fx_tolerance(const cJSON *c, double *abs, double *rel) {
  const cJSON *tol = cJSON_GetObjectItemCaseSensitive(c, "tol");
  if (!tol) return;
  *abs = cJSON_GetObjectItemCaseSensitive(tol, "abs")->valuedouble;
  *rel = cJSON_GetObjectItemCaseSensitive(tol, "rel")->valuedouble;
}

/* A number of a fixture's data: a JSON number, or the text gen_op_fixtures.py writes for
 * what JSON has no number for, in cases with non-finite values: "nan", "inf", "-inf",
 * "-0". */
static double fx_number(const cJSON *v) {
  if (!cJSON_IsString(v)) return v->valuedouble;
  const char *s = v->valuestring;
  if (!strcmp(s, "inf")) return INFINITY;
  if (!strcmp(s, "-inf")) return -INFINITY;
  if (!strcmp(s, "-0")) return -0.0;
  cr_assert(!strcmp(s, "nan"), "unexpected value \"%s\" in a fixture", s);
  return NAN;
}

/* How far got is from a non-finite want: 0 if it is the same (NaN for NaN, the same
 * infinity), else infinity. */
static double fx_special_ratio(double want, double got) {
  return (isnan(want) ? isnan(got) : got == want) ? 0 : INFINITY;
}

/* What failed in one case, accumulated as text (each mismatch once). */
typedef struct {
  int failed;
  char msg[4096];
  size_t mlen;
} FxReport;

static void fx_note(FxReport *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fx_note(FxReport *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (r->mlen < sizeof r->msg) {
    int k = vsnprintf(r->msg + r->mlen, sizeof r->msg - r->mlen, fmt, ap);
    if (k > 0) r->mlen += (size_t)k;
  }
  va_end(ap);
  r->failed = 1;
}

#endif
