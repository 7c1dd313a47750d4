/* compare.h — for tests that check compiled code against the float64 reference
 * evaluator, and tests that read what the compiler wrote. Header-only (static
 * functions); include it once per test executable. */
#ifndef GRADC_TESTS_COMPARE_H
#define GRADC_TESTS_COMPARE_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include "gradc/compiler.h"

/* Every element of got within tol * scale of want, scale being the largest |want| (at
 * least 1e-3); the message names the worst element. */
static void expect_close_to(const char *what, const char *name, const float *got, const double *want, size_t n,
                            double tol) {
  double scale = 1e-3, worst = 0;
  size_t at = 0;
  for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(want[k]));
  for (size_t k = 0; k < n; k++)
    if (!(fabs(got[k] - want[k]) <= worst)) worst = fabs(got[k] - want[k]), at = k;
  cr_expect(worst <= tol * scale, "%s %s: element %zu is %.9g, reference %.9g (max error %.3g, scale %.3g)", what, name,
            at, (double)got[at], want[at], worst, scale);
}

/* Compiles o (o->out names the file to write) and returns the file's text in buf (at
 * most size - 1 bytes); the file is removed. */
static char *compiled_text(const gc_options *o, char *buf, size_t size) {
  char err[4096];
  cr_assert_eq(gc_compile(o, NULL, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(o->out, "r");
  cr_assert(f, "%s was not written", o->out);
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = 0;
  fclose(f);
  unlink(o->out);
  return buf;
}

#endif
