/* test_mathlib.c — accuracy of the inline transcendental functions of the generated
 * code (compiler/mathlib.c) against libm in float64, through compiled models
 * `y = f(x)` run by the runtime at -O2 (so the vectorised loops are what is measured),
 * on ~200000 dense samples of each documented range, and their special values.
 *
 * Bounds asserted (compiler/mathlib.h): max relative error exp 2e-7 (|x| <= 88), log 2.5e-7,
 * log1p 3e-7, tanh 4e-7, sigmoid 4e-7, erf 5e-7 absolute. erf is reached through gelu
 * (x/2 (1 + erf(x/sqrt 2))), log1p through softplus (max(x,0) + log1p(exp(-|x|))); their
 * bounds are composed from the documented ones. Each test logs the measured maximum. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/opcheck.c"

#define N 200000

/* Compiles `y = EXPR(x)` for x : f32[n], runs forward on xs, writes y. */
static void run_unary(const char *expr, const float *xs, size_t n, float *ys) {
  char src[512], err[4096];
  snprintf(src, sizeof src, "model m\ninput x : f32[%zu]\ny = %s\noutput y\n", n, expr);
  oc_model om;
  int rc = oc_open(&om, src, NULL, 0, 2, err, sizeof err);
  cr_assert_eq(rc, 0, "compile/open failed:\n%s\n%s", src, err);
  size_t cx = 0, cy = 0;
  float *x = gradc_tensor(om.m, "x", &cx), *y = gradc_tensor(om.m, "y", &cy);
  cr_assert(x && y && cx == n && cy == n);
  memcpy(x, xs, n * sizeof *x);
  cr_assert_eq(gradc_forward(om.m), 0, "%s", gradc_error(om.m));
  memcpy(ys, y, n * sizeof *y);
  oc_close(&om);
}

typedef double RefFn(double);

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_softplus(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }
static double ref_gelu(double x) { return 0.5 * x * (1 + erf(x * 0.70710678118654752440)); }

/* Max relative error of ys against ref over xs (elements where the reference is 0 are
 * compared absolutely). Logs it with the worst argument. */
static double max_rel(const char *name, const float *xs, const float *ys, size_t n, RefFn *ref) {
  double worst = 0, wx = 0, wy = 0, wr = 0;
  for (size_t i = 0; i < n; i++) {
    double r = ref(xs[i]), e = fabs((double)ys[i] - r) / (r != 0 ? fabs(r) : 1);
    if (!(e <= worst)) worst = e, wx = xs[i], wy = ys[i], wr = r; /* NaN counts as worst */
  }
  cr_log_info("%s: max relative error %.3g at x = %.9g (got %.9g, libm %.12g)", name, worst, wx, wy, wr);
  fprintf(stderr, "mathlib %s: max relative error %.3g at x = %.9g (got %.9g, libm %.12g)\n", name, worst, wx, wy,
          wr);
  return worst;
}

/* Fills xs[0..n) with lo..hi: the first 3/4 evenly spaced, the rest uniform random. */
static void fill_lin(float *xs, size_t n, double lo, double hi, uint64_t seed) {
  size_t m = n * 3 / 4;
  for (size_t i = 0; i < m; i++) xs[i] = (float)(lo + (hi - lo) * (double)i / (double)(m - 1));
  for (size_t i = m; i < n; i++) xs[i] = (float)oc_unif(&seed, lo, hi);
}

/* 10^u, u evenly spaced in [lo, hi] (logarithmic sampling). */
static void fill_log10(float *xs, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) xs[i] = (float)pow(10, lo + (hi - lo) * (double)i / (double)(n - 1));
}

Test(mathlib, exp) {
  static float xs[N], ys[N];
  fill_lin(xs, N, -87, 88, 1);
  xs[0] = -87, xs[1] = 88, xs[2] = 0, xs[3] = 1e-30f, xs[4] = -1e-30f, xs[5] = 0.34657359f, xs[6] = -0.34657359f;
  run_unary("exp(x)", xs, N, ys);
  double e = max_rel("exp [-87, 88]", xs, ys, N, exp);
  cr_expect(e <= 2e-7, "exp: max relative error %.3g > documented 2e-7", e);
  /* fine sampling around the reduction boundaries x = (k + 1/2) ln 2 */
  for (size_t i = 0; i < N; i++) {
    int k = (int)(i % 250) - 125;
    double b = (k + 0.5) * 0.69314718055994530942;
    xs[i] = nextafterf((float)b, (i / 250) % 2 ? INFINITY : -INFINITY);
    for (size_t j = 0; j < (i / 500) % 64; j++) xs[i] = nextafterf(xs[i], (i / 250) % 2 ? INFINITY : -INFINITY);
    if (xs[i] > 88) xs[i] = 88;
    if (xs[i] < -87) xs[i] = -87;
  }
  run_unary("exp(x)", xs, N, ys);
  e = max_rel("exp (near (k+1/2) ln2)", xs, ys, N, exp);
  cr_expect(e <= 2e-7, "exp near reduction boundaries: max relative error %.3g > documented 2e-7", e);
}

/* Results in the subnormal range: absolute error within the documented relative bound
 * plus one subnormal unit (the final rounding). */
Test(mathlib, exp_subnormal_results) {
  static float xs[N / 4], ys[N / 4];
  size_t n = N / 4;
  fill_lin(xs, n, -103.9, -87.34, 2);
  run_unary("exp(x)", xs, n, ys);
  double worst = 0, wx = 0;
  for (size_t i = 0; i < n; i++) {
    double r = exp(xs[i]), ulps = fabs((double)ys[i] - r) / 0x1p-149;
    if (!(ulps <= worst)) worst = ulps, wx = xs[i];
  }
  fprintf(stderr, "mathlib exp [-103.9, -87.34] (subnormal results): max error %.3g subnormal units at x = %.9g\n",
          worst, wx);
  cr_expect(worst <= 1.0, "exp with subnormal results: error %.3g units of 2^-149 at x = %.9g", worst, wx);
}

Test(mathlib, log) {
  static float xs[N], ys[N];
  size_t m = N / 2;
  fill_log10(xs, m, -37, 37);                 /* (1e-37, 1e37) logarithmically */
  fill_lin(xs + m, N / 4, 0.5, 2, 3);          /* densely around 1 */
  fill_log10(xs + m + N / 4, N / 4, -45, -37.93); /* subnormals (and the smallest normals) */
  for (size_t i = m + N / 4; i < N; i++)
    if (xs[i] == 0) xs[i] = 0x1p-149f;
  run_unary("log(x)", xs, N, ys);
  double e1 = max_rel("log (1e-37, 1e37)", xs, ys, m, log);
  double e2 = max_rel("log [0.5, 2]", xs + m, ys + m, N / 4, log);
  double e3 = max_rel("log subnormals", xs + m + N / 4, ys + m + N / 4, N / 4, log);
  cr_expect(e1 <= 2.5e-7, "log over (1e-37, 1e37): max relative error %.3g > documented 2.5e-7", e1);
  cr_expect(e2 <= 2.5e-7, "log over [0.5, 2]: max relative error %.3g > documented 2.5e-7", e2);
  cr_expect(e3 <= 2.5e-7, "log of subnormals: max relative error %.3g > documented 2.5e-7", e3);
}

Test(mathlib, tanh) {
  static float xs[N], ys[N];
  fill_lin(xs, N, -20, 20, 4);
  size_t k = 0; /* plus small arguments on a log scale, both signs */
  for (int i = 0; i < 2000; i++, k += 2) {
    xs[k] = (float)pow(10, -30 + 30.0 * i / 1999);
    xs[k + 1] = -xs[k];
  }
  xs[k] = 0.625f, xs[k + 1] = nextafterf(0.625f, 0), xs[k + 2] = -0.625f;
  run_unary("tanh(x)", xs, N, ys);
  double e = max_rel("tanh [-20, 20]", xs, ys, N, tanh);
  cr_expect(e <= 4e-7, "tanh: max relative error %.3g > documented 4e-7", e);
}

Test(mathlib, sigmoid) {
  static float xs[N], ys[N];
  fill_lin(xs, N, -80, 80, 5);
  run_unary("sigmoid(x)", xs, N, ys);
  double e = max_rel("sigmoid [-80, 80]", xs, ys, N, ref_sigmoid);
  cr_expect(e <= 4e-7, "sigmoid: max relative error %.3g > documented 4e-7", e);
}

/* softplus = max(x, 0) + log1p(exp(-|x|)): for x <= 0 its relative error is at most
 * exp's + log1p's + one rounding: 2e-7 + 3e-7 + 6e-8. */
Test(mathlib, softplus_log1p) {
  static float xs[N], ys[N];
  fill_lin(xs, N, -80, 80, 6);
  for (int i = 0; i < 20000; i++) xs[i] = (float)(-pow(10, -8 + 9.0 * i / 19999)); /* exp(-|x|) near 1 */
  run_unary("softplus(x)", xs, N, ys);
  double e = max_rel("softplus [-80, 80]", xs, ys, N, ref_softplus);
  cr_expect(e <= 5.6e-7, "softplus (log1p): max relative error %.3g > 5.6e-7 (exp 2e-7 + log1p 3e-7 + rounding)", e);
}

/* gelu = x/2 (1 + erf(x / sqrt 2)): erf's absolute error e gives |x| e / 2 here, plus a
 * rounding of (1 + erf) and of the final product: 1.2e-7 relative to the result. */
Test(mathlib, gelu_erf) {
  static float xs[N], ys[N];
  fill_lin(xs, N, -10, 10, 7);
  run_unary("gelu(x)", xs, N, ys);
  double worst = 0, wx = 0, wy = 0;
  for (size_t i = 0; i < N; i++) {
    double x = xs[i], r = ref_gelu(x), err = fabs((double)ys[i] - r);
    double erf_err = fabs(x) > 0 ? (err - 1.2e-7 * fabs(r)) / (0.5 * fabs(x)) : err;
    if (!(erf_err <= worst)) worst = erf_err, wx = x, wy = ys[i];
  }
  fprintf(stderr, "mathlib gelu [-10, 10]: implied erf absolute error %.3g at x = %.9g (got %.9g, libm %.12g)\n",
          worst, wx, wy, ref_gelu(wx));
  cr_expect(worst <= 5e-7, "erf (through gelu): absolute error %.3g > documented 5e-7 at x = %.9g", worst, wx);
}

/* ---------------------------------------------------------------- special values */

static void expect_special(const char *name, const float *xs, const float *ys, size_t n, RefFn *ref) {
  for (size_t i = 0; i < n; i++) {
    double r = ref(xs[i]);
    float rf = (float)r, y = ys[i];
    if (isnan(rf))
      cr_expect(isnan(y), "%s(%g) = %.9g, want nan", name, (double)xs[i], (double)y);
    else if (isinf(rf) || rf == 0)
      cr_expect(y == rf, "%s(%g) = %.9g, want %.9g", name, (double)xs[i], (double)y, (double)rf);
    else
      cr_expect(fabs(y - r) <= 1e-6 * fabs(r), "%s(%g) = %.9g, want %.9g", name, (double)xs[i], (double)y, r);
  }
}

static const float specials[] = {-INFINITY, INFINITY, NAN, 0.0f, -0.0f, 1.0f, -1.0f, 88.8f, 89.5f, 100.0f,
                                 -104.0f, -200.0f, FLT_MAX, -FLT_MAX, FLT_MIN, 0x1p-149f, 20.0f, -20.0f, 50.0f, -50.0f};
#define NSPEC (sizeof specials / sizeof specials[0])
#define NS (NSPEC * 5 + 3) /* several copies at different offsets: vector body and scalar tail */

static void fill_specials(float *xs) {
  for (size_t i = 0; i < NS; i++) xs[i] = specials[(i * 7) % NSPEC];
}

Test(mathlib, special_exp) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("exp(x)", xs, NS, ys);
  expect_special("exp", xs, ys, NS, exp);
  float one[] = {0};
  run_unary("exp(x)", one, 1, ys);
  cr_expect_eq(ys[0], 1.0f, "exp(0) = %.9g", (double)ys[0]);
}

static double ref_log(double x) { return x == 0 ? -INFINITY : log(x); }

Test(mathlib, special_log) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("log(x)", xs, NS, ys);
  expect_special("log", xs, ys, NS, ref_log);
  for (size_t i = 0; i < NS; i++)
    if (xs[i] == 1.0f) cr_expect_eq(ys[i], 0.0f, "log(1) = %.9g", (double)ys[i]);
}

Test(mathlib, special_tanh) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("tanh(x)", xs, NS, ys);
  expect_special("tanh", xs, ys, NS, tanh);
}

Test(mathlib, special_sigmoid) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("sigmoid(x)", xs, NS, ys);
  expect_special("sigmoid", xs, ys, NS, ref_sigmoid);
}

static double ref_softplus_s(double x) { return isinf(x) ? (x > 0 ? x : 0) : ref_softplus(x); }

Test(mathlib, special_softplus) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("softplus(x)", xs, NS, ys);
  expect_special("softplus", xs, ys, NS, ref_softplus_s);
}

static double ref_sqrt(double x) { return sqrt(x); }

Test(mathlib, special_sqrt) {
  float xs[NS], ys[NS];
  fill_specials(xs);
  run_unary("sqrt(x)", xs, NS, ys);
  expect_special("sqrt", xs, ys, NS, ref_sqrt);
}

/* gelu at finite specials and NaN (gelu(-inf) is NaN in torch's formula too: not checked). */
Test(mathlib, special_gelu) {
  float xs[] = {0.0f, NAN, 1.0f, -1.0f, 20.0f, -20.0f, FLT_MIN, INFINITY}, ys[8];
  run_unary("gelu(x)", xs, 8, ys);
  expect_special("gelu", xs, ys, 8, ref_gelu);
}

/* ---------------------------------------------------------------- issue 15: sin, cos, rounding, pow */

/* Compiles `y = EXPR(x, e)` for x, e : f32[n], runs forward, writes y. */
static void run_binary(const char *expr, const float *xs, const float *es, size_t n, float *ys) {
  char src[512], err[4096];
  snprintf(src, sizeof src, "model m\ninput x : f32[%zu]\ninput e : f32[%zu]\ny = %s\noutput y\n", n, n, expr);
  oc_model om;
  int rc = oc_open(&om, src, NULL, 0, 2, err, sizeof err);
  cr_assert_eq(rc, 0, "compile/open failed:\n%s\n%s", src, err);
  float *x = gradc_tensor(om.m, "x", NULL), *e = gradc_tensor(om.m, "e", NULL), *y = gradc_tensor(om.m, "y", NULL);
  memcpy(x, xs, n * sizeof *x);
  memcpy(e, es, n * sizeof *e);
  cr_assert_eq(gradc_forward(om.m), 0, "%s", gradc_error(om.m));
  memcpy(ys, y, n * sizeof *y);
  oc_close(&om);
}

/* Max absolute error of ys against ref over xs, logged with the worst argument. */
static double max_abs(const char *name, const float *xs, const float *ys, size_t n, RefFn *ref) {
  double worst = 0, wx = 0, wy = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)ys[i] - ref(xs[i]));
    if (!(e <= worst)) worst = e, wx = xs[i], wy = ys[i];
  }
  fprintf(stderr, "mathlib %s: max absolute error %.3g at x = %.9g (got %.9g, libm %.12g)\n", name, worst, wx, wy,
          ref(wx));
  return worst;
}

/* sin and cos: absolute error over [-1e5, 1e5] (the documented range), relative error
 * near 0 (where sin(x) ~ x), and NaN for infinities and NaN. */
Test(mathlib, sin_cos) {
  static float xs[N], ys[N];
  static const char *const ex[2] = {"sin(x)", "cos(x)"};
  static RefFn *const ref[2] = {sin, cos};
  for (int f = 0; f < 2; f++) {
    fill_lin(xs, N, -10, 10, 8);
    run_unary(ex[f], xs, N, ys);
    double e1 = max_abs(f ? "cos [-10, 10]" : "sin [-10, 10]", xs, ys, N, ref[f]);
    fill_lin(xs, N, -1e5, 1e5, 9);
    run_unary(ex[f], xs, N, ys);
    double e2 = max_abs(f ? "cos [-1e5, 1e5]" : "sin [-1e5, 1e5]", xs, ys, N, ref[f]);
    cr_expect(e1 <= 2e-7 && e2 <= 2e-7, "%s: max absolute error %.3g, %.3g > documented 2e-7", ex[f], e1, e2);
  }
  for (size_t i = 0; i < N; i++) xs[i] = (float)((i % 2 ? -1 : 1) * pow(10, -30 + 29.5 * (double)i / N));
  run_unary("sin(x)", xs, N, ys);
  double r = max_rel("sin (1e-30, 0.3)", xs, ys, N, sin);
  cr_expect(r <= 2e-7, "sin near 0: max relative error %.3g > documented 2e-7", r);
  float sx[] = {INFINITY, -INFINITY, NAN, 0.0f, 1e30f, -1e30f}, sy[6];
  run_unary("sin(x)", sx, 6, sy);
  cr_expect(isnan(sy[0]) && isnan(sy[1]) && isnan(sy[2]) && sy[3] == 0, "sin(inf, -inf, nan, 0) = %g %g %g %g",
            (double)sy[0], (double)sy[1], (double)sy[2], (double)sy[3]);
  cr_expect(fabsf(sy[4]) <= 1 && fabsf(sy[5]) <= 1, "sin of a huge argument stays in [-1, 1]: %g %g", (double)sy[4],
            (double)sy[5]);
  run_unary("cos(x)", sx, 6, sy);
  cr_expect(isnan(sy[0]) && isnan(sy[1]) && isnan(sy[2]) && sy[3] == 1, "cos(inf, -inf, nan, 0)");
}

static double ref_round(double x) { return nearbyint(x); }

/* floor, ceil, round (half to even): exact for every float, checked on halves, integers,
 * neighbours of both, and a dense and a logarithmic sweep, both signs. */
Test(mathlib, floor_ceil_round_exact) {
  static float xs[N], ys[N];
  size_t n = 0;
  for (int k = -300; k <= 300; k++) { /* k/2 and its neighbours */
    float h = (float)k / 2;
    xs[n++] = h, xs[n++] = nextafterf(h, INFINITY), xs[n++] = nextafterf(h, -INFINITY);
  }
  float big[] = {8388607.5f, 8388608.0f, 8388609.0f, 16777215.0f, 1e10f, 0.49999997f, 1.5e-45f, -0.0f, FLT_MAX};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) xs[n++] = big[i], xs[n++] = -big[i];
  for (size_t m = n; n < N; n++) xs[n] = (float)((n % 2 ? -1 : 1) * pow(10, -8 + 16.0 * (double)(n - m) / (double)(N - m)));
  static const char *const ex[3] = {"floor(x)", "ceil(x)", "round(x)"};
  static RefFn *const ref[3] = {floor, ceil, ref_round};
  for (int f = 0; f < 3; f++) {
    run_unary(ex[f], xs, N, ys);
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < N; i++) {
      float want = (float)ref[f](xs[i]);
      if (memcmp(&ys[i], &want, sizeof want)) bad++, at = i; /* bit-exact, -0 included */
    }
    cr_expect_eq(bad, 0, "%s: %zu results differ from libm, e.g. at x = %.9g: got %.9g, want %.9g", ex[f], bad,
                 (double)xs[at], (double)ys[at], ref[f](xs[at]));
  }
  float sx[] = {INFINITY, -INFINITY, NAN}, sy[3];
  for (int f = 0; f < 3; f++) {
    run_unary(ex[f], sx, 3, sy);
    cr_expect(sy[0] == INFINITY && sy[1] == -INFINITY && isnan(sy[2]), "%s of inf, -inf, nan", ex[f]);
  }
}

/* pow(x, y) = exp(y log|x|): the error of log|x| is multiplied by |y|, so the relative
 * error is bounded by 2e-7 (1 + |y ln x|) (measured 9e-8). Then C99's special values. */
Test(mathlib, pow_tensor_exponent) {
  static float xs[N], es[N], ys[N];
  uint64_t s = 10;
  for (size_t i = 0; i < N; i++) {
    xs[i] = (float)pow(10, oc_unif(&s, -6, 6)) * (i % 3 == 0 ? -1 : 1);
    es[i] = (float)oc_unif(&s, -6, 6);
    if (i % 3 == 0) es[i] = roundf(es[i]); /* a negative base needs an integer exponent */
    if (fabs(es[i] * log(fabs(xs[i]))) > 80) es[i] = 0.5f;
  }
  run_binary("x ** e", xs, es, N, ys);
  double worst = 0, wx = 0, we = 0;
  for (size_t i = 0; i < N; i++) {
    double r = pow(xs[i], es[i]), t = fabs(es[i] * log(fabs(xs[i])));
    double err = fabs((double)ys[i] - r) / fabs(r) / (1 + t);
    if (!(err <= worst)) worst = err, wx = xs[i], we = es[i];
  }
  fprintf(stderr, "mathlib pow: max relative error / (1 + |y ln x|) %.3g at x = %.9g, y = %.9g\n", worst, wx, we);
  cr_expect(worst <= 2e-7, "pow: relative error %.3g (1 + |y ln x|) > documented 2e-7 at x = %g, y = %g", worst, wx,
            we);
  static const float sx[] = {0.0f, -0.0f, 0.0f, -0.0f, -0.0f, 0.0f, -1.0f, -1.0f, 1.0f, NAN, -2.5f, -2.0f, INFINITY,
                             -INFINITY, -INFINITY, -INFINITY, 0.5f, 0.5f, 2.0f, 2.0f, -8.0f, NAN, 3.0f};
  static const float se[] = {-1.0f, -1.0f, 2.0f, 3.0f, 0.5f, 0.0f, INFINITY, 0.5f, NAN, 0.0f, 2.0f, 3.0f, -2.0f,
                             3.0f, -3.0f, 0.5f, INFINITY, -INFINITY, INFINITY, -INFINITY, 1.0f / 3, 1.0f, 1e-45f};
  enum { NSP = sizeof sx / sizeof sx[0] };
  float sy[NSP];
  run_binary("x ** e", sx, se, NSP, sy);
  for (size_t i = 0; i < NSP; i++) {
    float want = powf(sx[i], se[i]);
    bool same = isnan(want) ? isnan(sy[i]) : (isinf(want) || want == 0) ? !memcmp(&want, &sy[i], sizeof want)
                                                                          : fabsf(sy[i] - want) <= 1e-6f * fabsf(want);
    cr_expect(same, "pow(%g, %g) = %.9g, want %.9g", (double)sx[i], (double)se[i], (double)sy[i], (double)want);
  }
}
