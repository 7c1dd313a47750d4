/* abi_direct.c — the generated ABI used the way a C program would: include the header
 * gradc wrote (logreg.h), link the shared object, call logreg_forward and
 * logreg_backward directly with the PyTorch autograd tutorial values. No runtime. */
#define _ISOC11_SOURCE /* aligned_alloc */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "logreg.h"

#define TOL 1e-5
static const float Z[3] = {-0.4f, -0.2f, 0.8f};
static const float LOSS = 0.7607517f;
static const float GB[3] = {0.1337708f, 0.1500553f, 0.2299915f};

typedef struct {
  float x[LOGREG_X_SIZE], y[LOGREG_Y_SIZE], w[LOGREG_W_SIZE], b[LOGREG_B_SIZE];
  float z[LOGREG_Z_SIZE], gw[LOGREG_W_SIZE], gb[LOGREG_B_SIZE], loss;
  void *ws;
} State;

/* 64-byte aligned workspace of LOGREG_WORKSPACE_BYTES (at least one unit), filled with
 * a pattern: the generated code must not depend on its initial contents. */
static void *workspace(unsigned char fill) {
  size_t n = LOGREG_WORKSPACE_BYTES ? ((size_t)LOGREG_WORKSPACE_BYTES + 63) / 64 * 64 : 64;
  void *p = aligned_alloc(64, n);
  cr_assert(p);
  memset(p, fill, n);
  return p;
}

static void tutorial(State *s, unsigned char fill) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < LOGREG_X_SIZE; i++) s->x[i] = 1.0f;
  for (int i = 0; i < LOGREG_Y_SIZE; i++) s->y[i] = 0.0f;
  for (int i = 0; i < LOGREG_W_SIZE; i++) s->w[i] = -0.7f + 0.1f * (float)i;
  s->b[0] = 0.1f, s->b[1] = -0.2f, s->b[2] = 0.3f;
  s->loss = NAN;
  s->ws = workspace(fill);
}

Test(abi, sizes_from_header) {
  cr_expect_eq(LOGREG_X_SIZE, 5);
  cr_expect_eq(LOGREG_Y_SIZE, 3);
  cr_expect_eq(LOGREG_W_SIZE, 15);
  cr_expect_eq(LOGREG_B_SIZE, 3);
  cr_expect_eq(LOGREG_Z_SIZE, 3);
  cr_expect_geq(LOGREG_WORKSPACE_BYTES, 0);
}

Test(abi, forward) {
  State s;
  tutorial(&s, 0xff); /* 0xffffffff is a NaN: stale workspace must not leak into results */
  logreg_forward(s.x, s.y, s.w, s.b, s.z, &s.loss, s.ws);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(s.z[i], Z[i], TOL, "z[%d] = %.9g, expected %.9g", i, s.z[i], Z[i]);
  cr_expect_float_eq(s.loss, LOSS, TOL, "loss = %.9g, expected %.9g", s.loss, LOSS);
  /* Inputs and params are read-only. */
  for (int i = 0; i < LOGREG_W_SIZE; i++) cr_expect_eq(s.w[i], -0.7f + 0.1f * (float)i);
  cr_expect_eq(s.b[1], -0.2f);
  free(s.ws);
}

Test(abi, backward_accumulates) {
  State s;
  tutorial(&s, 0x7f);
  logreg_backward(s.x, s.y, s.w, s.b, s.gw, s.gb, s.z, &s.loss, s.ws);
  for (int i = 0; i < 3; i++) {
    cr_expect_float_eq(s.z[i], Z[i], TOL, "z[%d] = %.9g", i, s.z[i]);
    cr_expect_float_eq(s.gb[i], GB[i], TOL, "grad b[%d] = %.9g, expected %.9g", i, s.gb[i], GB[i]);
  }
  cr_expect_float_eq(s.loss, LOSS, TOL, "loss = %.9g", s.loss);
  for (int r = 0; r < 5; r++)
    for (int k = 0; k < 3; k++)
      cr_expect_float_eq(s.gw[r * 3 + k], GB[k], TOL, "grad w[%d][%d] = %.9g, expected %.9g", r, k, s.gw[r * 3 + k],
                         GB[k]);
  /* A second call without zeroing adds the same gradients again (PyTorch .grad). */
  memset(s.ws, 0x55, LOGREG_WORKSPACE_BYTES);
  logreg_backward(s.x, s.y, s.w, s.b, s.gw, s.gb, s.z, &s.loss, s.ws);
  for (int i = 0; i < 3; i++)
    cr_expect_float_eq(s.gb[i], 2 * GB[i], 2 * TOL, "after two backward calls grad b[%d] = %.9g, expected %.9g", i,
                       s.gb[i], 2 * GB[i]);
  for (int i = 0; i < LOGREG_W_SIZE; i++)
    cr_expect_float_eq(s.gw[i], 2 * GB[i % 3], 2 * TOL, "after two backward calls grad w[%d] = %.9g", i, s.gw[i]);
  cr_expect_float_eq(s.loss, LOSS, TOL, "the loss is not accumulated: %.9g", s.loss);
  /* Starting from non-zero gradients: exactly g0 + dloss/dparam. */
  for (int i = 0; i < LOGREG_B_SIZE; i++) s.gb[i] = 10.0f;
  logreg_backward(s.x, s.y, s.w, s.b, s.gw, s.gb, s.z, &s.loss, s.ws);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(s.gb[i], 10.0f + GB[i], TOL, "grad b[%d] = %.9g", i, s.gb[i]);
  free(s.ws);
}

/* Three SGD steps by hand (lr 0.5) reach the values of `gradc run --train-steps 3`. */
Test(abi, three_sgd_steps) {
  State s;
  tutorial(&s, 0);
  for (int step = 0; step < 3; step++) {
    memset(s.gw, 0, sizeof s.gw);
    memset(s.gb, 0, sizeof s.gb);
    logreg_backward(s.x, s.y, s.w, s.b, s.gw, s.gb, s.z, &s.loss, s.ws);
    for (int i = 0; i < LOGREG_W_SIZE; i++) s.w[i] -= 0.5f * s.gw[i];
    for (int i = 0; i < LOGREG_B_SIZE; i++) s.b[i] -= 0.5f * s.gb[i];
  }
  logreg_forward(s.x, s.y, s.w, s.b, s.z, &s.loss, s.ws);
  static const float B[3] = {-0.05978851f, -0.3772358f, 0.03090344f};
  cr_expect_float_eq(s.loss, 0.281426f, TOL, "loss = %.9g", s.loss);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(s.b[i], B[i], TOL, "b[%d] = %.9g, expected %.9g", i, s.b[i], B[i]);
  free(s.ws);
}

Test(abi, descriptor) {
  const char *d = logreg_descriptor();
  cr_assert(d);
  cr_expect(strstr(d, "\"model\":\"logreg\"") || strstr(d, "\"model\": \"logreg\""), "%s", d);
  cr_expect(strstr(d, "logreg_backward"), "%s", d);
}
