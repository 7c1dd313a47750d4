/* test_cast.c — the dtype conversions float(x) and int(x) (issue 16), on the compiled
 * code (gc_compile at -O2 and -O0, through the runtime) and on the tape alike:
 *   - int(x) truncates toward zero (-2.7 -> -2, 2.7 -> 2, -0.5 -> 0), saturates at the
 *     i32 range (1e10, inf -> 2147483647; -1e10, -inf -> -2147483648) and gives 0 for
 *     NaN (LLVM's fptosi.sat; the ends of the range and NaN are where torch's x.int()
 *     is undefined behaviour, so no PyTorch fixture can hold them);
 *   - float(i) is exact up to 2^24 and rounds to nearest beyond (16777217 -> 16777216);
 *   - an int() value serves as embedding ids (an id outside the table reads zeros),
 *     gather indices and cross_entropy labels, and as an i32 output; conversions next
 *     to a softmax (a rows kernel) and a matrix product (its epilogue) keep their dtype;
 *   - the gradient flows through float(ids) * w to w, none into the i32 operand (the
 *     compiled gradient against the tape's). */
#define _DEFAULT_SOURCE /* mkstemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "support/opcheck.c"
#include "gradc/tape.h"

static const char *src =
    "model cast\n"
    "input x : f32[10]\n"
    "input ids : i32[4]\n"
    "input lab : f32[4]\n"
    "input pos : f32[4]\n"
    "input idm : i32[2, 3]\n"
    "input idb : i32[4, 2]\n"
    "param t : f32[6, 3] = ones\n"
    "param w : f32[4] = ones\n"
    "param v : f32[3, 2] = ones\n"
    "i = int(x)\n"
    "r = float(i)\n"
    "f = float(ids) * w\n"
    "k = int(lab)\n"
    "e = embedding(int(pos), t)\n"
    "ei = embedding(int(ids), t)\n"
    "z = reshape(w, [4, 1]) * embedding(k, t)\n"
    "g = gather(z, 1, reshape(k, [4, 1]))\n"
    "sm = int(softmax(z, axis=1) * 10)\n"
    "mm = int(z @ v)\n"
    "ce = cross_entropy(z, k)\n"
    "y = float(x) * 2\n"
    "a = softmax(float(idm), axis=1)\n"
    "mb = z @ v + float(idb)\n"
    "loss = ce + sum(f) + sum(g)\n"
    "output i, r, f, k, e, ei, g, sm, mm, ce, y, a, mb\n"
    "minimize loss\n";

#define NX 10
static const float X[NX] = {-2.7f, 2.7f, 1e10f, NAN, -0.5f, -1e10f, 2147483520.0f, -2147483648.0f, INFINITY, -INFINITY};
static const int32_t IDS[4] = {-3, 0, 16777217, 7};
static const int32_t IDM[6] = {0, 1, 2, 5, 5, 5}, IDB[8] = {1, -1, 2, -2, 3, -3, 4, -4};
static const float LAB[4] = {2.7f, 0.2f, 1.9f, -0.5f}, POS[4] = {5.9f, -0.9f, 6.0f, 1e10f};

/* t[r][c] = r + c / 4; the other parameters stay ones. */
typedef float *(*TensorFn)(void *m, const char *name);
static void fill(void *m, TensorFn tensor) {
  memcpy(tensor(m, "x"), X, sizeof X);
  memcpy(tensor(m, "ids"), IDS, sizeof IDS);
  memcpy(tensor(m, "lab"), LAB, sizeof LAB);
  memcpy(tensor(m, "pos"), POS, sizeof POS);
  memcpy(tensor(m, "idm"), IDM, sizeof IDM);
  memcpy(tensor(m, "idb"), IDB, sizeof IDB);
  float *t = tensor(m, "t");
  for (int r = 0; r < 6; r++)
    for (int c = 0; c < 3; c++) t[r * 3 + c] = (float)r + (float)c / 4;
}

static void expect_row(const char *who, const char *what, const float *got, int row, int trow) {
  for (int c = 0; c < 3; c++) {
    float want = trow < 0 ? 0.0f : (float)trow + (float)c / 4;
    cr_expect_eq(got[row * 3 + c], want, "%s: %s[%d][%d] = %g, want %g", who, what, row, c, (double)got[row * 3 + c],
                 (double)want);
  }
}

static void expect_outputs(const char *who, void *m, TensorFn tensor) {
  const int32_t *i = (int32_t *)tensor(m, "i"), *k = (int32_t *)tensor(m, "k");
  const int32_t *sm = (int32_t *)tensor(m, "sm"), *mm = (int32_t *)tensor(m, "mm");
  const float *r = tensor(m, "r"), *f = tensor(m, "f"), *e = tensor(m, "e"), *ei = tensor(m, "ei");
  const float *g = tensor(m, "g"), *y = tensor(m, "y");
  static const int32_t wi[NX] = {-2, 2, INT32_MAX, 0, 0, INT32_MIN, 2147483520, INT32_MIN, INT32_MAX, INT32_MIN};
  for (int j = 0; j < NX; j++) {
    cr_expect_eq(i[j], wi[j], "%s: int(%g) = %d, want %d", who, (double)X[j], i[j], wi[j]);
    cr_expect_eq(r[j], (float)wi[j], "%s: float(int(%g)) = %g", who, (double)X[j], (double)r[j]);
    if (!isnan(X[j])) cr_expect_eq(y[j], X[j] * 2, "%s: float(x) * 2 = %g (float of f32 is x)", who, (double)y[j]);
  }
  static const float wf[4] = {-3, 0, 16777216, 7};
  static const int32_t wk[4] = {2, 0, 1, 0}, wsm[3] = {2, 3, 4}, wmm[4] = {6, 0, 3, 0};
  static const float wg[4] = {2.5f, 0, 1.25f, 0};
  for (int j = 0; j < 4; j++) {
    cr_expect_eq(f[j], wf[j], "%s: float(%d) = %g", who, IDS[j], (double)f[j]);
    cr_expect_eq(k[j], wk[j], "%s: int(%g) = %d (labels)", who, (double)LAB[j], k[j]);
    cr_expect_eq(g[j], wg[j], "%s: gather by int() index: g[%d] = %g", who, j, (double)g[j]);
    cr_expect_eq(mm[j * 2], wmm[j], "%s: int(z @ v)[%d] = %d", who, j, mm[j * 2]);
    for (int c = 0; c < 3; c++) cr_expect_eq(sm[j * 3 + c], wsm[c], "%s: int(softmax * 10)[%d][%d]", who, j, c);
  }
  static const int erow[4] = {5, 0, -1, -1}, eirow[4] = {-1, 0, -1, -1}; /* -1: outside the table, zeros */
  for (int j = 0; j < 4; j++) expect_row(who, "embedding(int(pos))", e, j, erow[j]);
  for (int j = 0; j < 4; j++) expect_row(who, "embedding(int(ids))", ei, j, eirow[j]);
  static const double wa[6] = {0.09003057317, 0.2447284711, 0.6652409558, 1 / 3.0, 1 / 3.0, 1 / 3.0};
  const float *a = tensor(m, "a");
  for (int j = 0; j < 6; j++) /* a rows kernel reading an i32 operand */
    cr_expect(fabs(a[j] - wa[j]) < 1e-6, "%s: softmax(float(idm))[%d] = %g, want %g", who, j, (double)a[j], wa[j]);
  static const float wmb[8] = {7.75f, 5.75f, 2.75f, -1.25f, 6.75f, 0.75f, 4.75f, -3.25f};
  const float *mb = tensor(m, "mb");
  for (int j = 0; j < 8; j++) /* a matrix product's epilogue would read idb as f32 */
    cr_expect_eq(mb[j], wmb[j], "%s: (z @ v + float(idb))[%d] = %g, want %g", who, j, (double)mb[j], (double)wmb[j]);
}

static float *compiled_tensor(void *m, const char *name) { return gradc_tensor(m, name, NULL); }
static float *tape_tensor_of(void *m, const char *name) { return tape_tensor(m, name, NULL); }

/* The tape's gradient of w and its loss, the reference for the compiled ones. */
static void tape_run(float *gw, float *ce) {
  char err[4096];
  tape_model *m = tape_open("cast.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  fill(m, tape_tensor_of);
  tape_zero_grad(m);
  cr_assert_eq(tape_backward(m), 0, "%s", tape_error(m));
  expect_outputs("tape", m, tape_tensor_of);
  memcpy(gw, tape_grad(m, "w", NULL), 4 * sizeof *gw);
  *ce = *(float *)tape_tensor(m, "ce", NULL);
  tape_close(m);
}

Test(cast, tape_and_compiled) {
  float tgw[4], tce;
  tape_run(tgw, &tce);
  for (int opt = 0; opt <= 2; opt += 2) {
    oc_model om;
    char err[4096];
    const char *who = opt ? "-O2" : "-O0";
    cr_assert_eq(oc_open(&om, src, NULL, 0, opt, err, sizeof err), 0, "%s", err);
    cr_assert_eq(gradc_init(om.m, 1), 0, "%s", gradc_error(om.m)); /* the ones */
    fill(om.m, compiled_tensor);
    gradc_zero_grad(om.m);
    cr_assert_eq(gradc_backward(om.m), 0, "%s", gradc_error(om.m));
    expect_outputs(who, om.m, compiled_tensor);
    float ce = *(float *)gradc_tensor(om.m, "ce", NULL);
    cr_expect(fabsf(ce - tce) <= 1e-6f * fabsf(tce), "%s: cross_entropy by int() labels %g, tape %g", who, (double)ce,
              (double)tce);
    const float *gw = gradc_grad(om.m, "w", NULL);
    for (int j = 0; j < 4; j++) /* float(ids) into w: ids[j] plus what z gives */
      cr_expect(fabsf(gw[j] - tgw[j]) <= 1e-5f * fmaxf(1, fabsf(tgw[j])), "%s: grad w[%d] = %g, tape %g", who, j,
                (double)gw[j], (double)tgw[j]);
    oc_close(&om);
  }
}

/* float of an f32 and int of an i32 are the operand itself: no node (--emit ir). */
Test(cast, same_dtype_is_the_operand) {
  const char *id = "model e\ninput x : f32[3]\ninput l : i32[3]\ny = float(x) * 2\nz = int(l)\n"
                   "u = float(l)\nv = int(x)\noutput y, z, u, v\n";
  char path[] = "/tmp/gradc_cast_irXXXXXX", err[1024] = "";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  gc_options o = {.path = "e.grad", .source = id, .emit = GC_EMIT_IR, .out = path};
  cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char text[8192] = "";
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  remove(path);
  const char *a = strstr(text, "= to_f32 "), *b = strstr(text, "= to_i32 "); /* nodes, not kernels */
  cr_expect(a && !strstr(a + 1, "= to_f32 "), "one to_f32 node (u), none for float(x):\n%s", text);
  cr_expect(b && !strstr(b + 1, "= to_i32 "), "one to_i32 node (v), none for int(l):\n%s", text);
}
