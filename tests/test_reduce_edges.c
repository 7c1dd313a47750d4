/* test_reduce_edges.c — the reductions of issue 15 where the PyTorch fixtures cannot go
 * (their JSON holds finite numbers only): infinities and NaN, on the compiled code
 * (gc_compile at -O2 and -O0, through the runtime) and on the tape alike.
 *   - logsumexp of a row of -inf is -inf (torch masks the infinite max), of a row with
 *     +inf is +inf, and its gradient on finite rows is the softmax;
 *   - argmax and argmin: a NaN counts as the extreme (torch), the first one wins;
 *   - std of a constant row and the 2-norm of a zero row have gradient 0, not NaN;
 *   - var with correction past the slice size is inf (0/0: NaN), as torch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/opcheck.c"
#include "gradc/tape.h"

static const char *src =
    "model e\n"
    "input x : f32[3, 4]\n"
    "param w : f32[3, 4] = ones\n"
    "z = x * w\n"
    "lse = logsumexp(z, axis=1)\n"
    "amax = argmax(z, axis=1)\n"
    "amin = argmin(z, axis=-1)\n"
    "s = std(w * w, axis=1)\n"
    "n = norm(w - 1, axis=1)\n"
    "v = var(w, axis=1, correction=4)\n"
    "loss = sum(s) + sum(n)\n"
    "output lse, amax, amin, s, n, v\n"
    "minimize loss\n";

/* x: row 0 all -inf, row 1 finite with +inf at 2, row 2 finite with NaN at 1 and 3; w: 1. */
static void fill(float *x, float *w) {
  const float v[12] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, 1, 2, INFINITY, 0, 0.5f, NAN, 3, NAN};
  memcpy(x, v, sizeof v);
  for (int k = 0; k < 12; k++) w[k] = 1;
}

static void expect_outputs(const char *who, float *lse, int32_t *amax, int32_t *amin, float *s, float *n, float *v) {
  cr_expect(isinf(lse[0]) && lse[0] < 0, "%s: logsumexp of a -inf row is %g, torch -inf", who, (double)lse[0]);
  cr_expect(isinf(lse[1]) && lse[1] > 0, "%s: logsumexp with +inf is %g, torch +inf", who, (double)lse[1]);
  cr_expect(isnan(lse[2]), "%s: logsumexp with NaN is %g, torch NaN", who, (double)lse[2]);
  cr_expect_eq(amax[0], 0, "%s: argmax of ties (-inf) is %d, torch 0", who, amax[0]);
  cr_expect_eq(amax[1], 2, "%s: argmax with +inf is %d", who, amax[1]);
  cr_expect_eq(amax[2], 1, "%s: argmax with NaN is %d, torch the first NaN, 1", who, amax[2]);
  cr_expect_eq(amin[1], 3, "%s: argmin is %d", who, amin[1]);
  cr_expect_eq(amin[2], 1, "%s: argmin with NaN is %d, torch the first NaN, 1", who, amin[2]);
  for (int i = 0; i < 3; i++) {
    cr_expect_eq(s[i], 0.0f, "%s: std of a constant row is %g", who, (double)s[i]);
    cr_expect_eq(n[i], 0.0f, "%s: norm of a zero row is %g", who, (double)n[i]);
    cr_expect(isnan(v[i]), "%s: var with correction = n of a constant row is %g, torch NaN (0/0)", who, (double)v[i]);
  }
}

Test(reduce_edges, compiled) {
  for (int opt = 0; opt <= 2; opt += 2) {
    oc_model om;
    char err[4096];
    cr_assert_eq(oc_open(&om, src, NULL, 0, opt, err, sizeof err), 0, "%s", err);
    fill(gradc_tensor(om.m, "x", NULL), gradc_tensor(om.m, "w", NULL));
    gradc_zero_grad(om.m);
    cr_assert_eq(gradc_backward(om.m), 0, "%s", gradc_error(om.m));
    expect_outputs(opt ? "-O2" : "-O0", gradc_tensor(om.m, "lse", NULL), gradc_tensor(om.m, "amax", NULL),
                   gradc_tensor(om.m, "amin", NULL), gradc_tensor(om.m, "s", NULL), gradc_tensor(om.m, "n", NULL),
                   gradc_tensor(om.m, "v", NULL));
    const float *gw = gradc_grad(om.m, "w", NULL);
    for (int k = 0; k < 12; k++)
      cr_expect_eq(gw[k], 0.0f, "grad w[%d] = %g: torch's masked gradient is 0", k, (double)gw[k]);
    oc_close(&om);
  }
}

Test(reduce_edges, tape) {
  char err[4096];
  tape_model *m = tape_open("e.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  fill(tape_tensor(m, "x", NULL), tape_tensor(m, "w", NULL));
  tape_zero_grad(m);
  cr_assert_eq(tape_backward(m), 0, "%s", tape_error(m));
  expect_outputs("tape", tape_tensor(m, "lse", NULL), tape_tensor(m, "amax", NULL), tape_tensor(m, "amin", NULL),
                 tape_tensor(m, "s", NULL), tape_tensor(m, "n", NULL), tape_tensor(m, "v", NULL));
  const float *gw = tape_grad(m, "w", NULL);
  for (int k = 0; k < 12; k++) cr_expect_eq(gw[k], 0.0f, "tape: grad w[%d] = %g", k, (double)gw[k]);
  tape_close(m);
}
