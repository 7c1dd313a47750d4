/* test_batchnorm.c — batch_norm's eval-mode folding and buffers (issue 15).
 *
 * With --weights, a batch_norm directly after conv2d, conv1d or a linear layer is folded
 * into the layer's baked weights in eval mode (compiler/builtins_bn.c, opt.c); written
 * after `* 1` it is not (the builder sees a product, not the layer). For each layer:
 * the model's compiled --inference forward, unbaked (not folded) and with its weights
 * baked in (folded: the scaled weights are constants), equals the float64 reference
 * evaluator of the unfolded model in eval mode, to float rounding; the baked folded
 * forward has no more kernels than the baked unfolded one, and no multiply left (the
 * unfolded one multiplies by the scale). Then: the backward entry updates the buffers
 * (training mode) and the forward entry leaves them alone (eval mode). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"

char *mkdtemp(char *tmpl);

static uint64_t rng = 88172645463325252ull;
static double unif(double lo, double hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (hi - lo) * (double)(rng >> 11) * 0x1.0p-53;
}

/* Compiles src (inference, optionally baking `weights`) to dir/name.so and opens it. */
static gradc_model *build(const char *dir, const char *name, const char *src, const char *weights, bool inference,
                          int *nkernels) {
  char so[512], err[4096] = "";
  snprintf(so, sizeof so, "%s/%s.so", dir, name);
  gc_options o = {0};
  o.path = "bn.grad", o.source = src, o.opt_level = 2, o.emit = GC_EMIT_SO, o.out = so;
  o.inference = inference, o.weights = weights;
  gc_result res;
  cr_assert_eq(gc_compile(&o, &res, err, sizeof err), 0, "%s: %s", name, err);
  if (nkernels) *nkernels = res.nkernels_forward;
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s: %s", name, err);
  return m;
}

/* Random values in every input and parameter of m (variances in [0.5, 2]), copied into
 * the evaluator g by name. */
static void fill(gradc_model *m, gc_graph *g) {
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT) continue;
    float *p = gradc_tensor(m, t->name, NULL);
    size_t n = 0;
    double *r = gc_graph_tensor(g, t->name, &n);
    cr_assert(r && n == t->count, "the evaluator has no tensor %s", t->name);
    for (size_t k = 0; k < t->count; k++) p[k] = (float)(strstr(t->name, "rv") ? unif(0.5, 2) : unif(-1, 1)), r[k] = p[k];
  }
}

/* The number of `mul` nodes in the --inference graph of src with `weights` baked in
 * (gradc compile --emit ir). */
static int muls(const char *dir, const char *src, const char *weights) {
  char path[512], err[4096] = "", line[1024];
  snprintf(path, sizeof path, "%s/ir.txt", dir);
  gc_options o = {0};
  o.path = "bn.grad", o.source = src, o.opt_level = 2, o.emit = GC_EMIT_IR, o.out = path;
  o.inference = true, o.weights = weights;
  gc_result res;
  cr_assert_eq(gc_compile(&o, &res, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(path, "r");
  cr_assert(f);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (line[0] == '%' && strstr(line, "= mul ")) n++;
  fclose(f);
  return n;
}

static void expect_close(const char *what, const float *y, const double *ref, size_t n) {
  for (size_t k = 0; k < n; k++)
    cr_expect(fabs(y[k] - ref[k]) <= 1e-5 + 1e-4 * fabs(ref[k]), "%s: y[%zu] = %.9g, the unfolded reference %.9g", what,
              k, (double)y[k], ref[k]);
}

static void check_fold(const char *folded, const char *unfolded) {
  char dir[] = "/tmp/gradc_bn_XXXXXX", st[512], err[4096] = "";
  cr_assert(mkdtemp(dir));
  snprintf(st, sizeof st, "%s/w.safetensors", dir);
  int nk_folded = 0, nk_baked = 0, nk_unfolded_baked = 0;
  gradc_model *m = build(dir, "folded", folded, NULL, true, &nk_folded);
  gc_options o = {0};
  o.path = "unfolded.grad", o.source = unfolded, o.inference = true;
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "%s", err);
  fill(m, g);
  gc_graph_eval(g);
  size_t n = 0, ny = 0;
  const double *ref = gc_graph_tensor(g, "y", &n);
  cr_assert_eq(gradc_forward(m), 0, "%s", gradc_error(m));
  expect_close("folded", gradc_tensor(m, "y", &ny), ref, n);
  cr_assert_eq(gradc_save(m, st), 0, "%s", gradc_error(m));
  gradc_model *b = build(dir, "baked", folded, st, true, &nk_baked);
  gradc_model *u = build(dir, "unfolded_baked", unfolded, st, true, &nk_unfolded_baked);
  memcpy(gradc_tensor(b, "x", NULL), gradc_tensor(m, "x", NULL), gradc_tensor_at(m, 0)->count * sizeof(float));
  cr_assert_eq(gradc_forward(b), 0, "%s", gradc_error(b));
  expect_close("folded and baked", gradc_tensor(b, "y", &ny), ref, n);
  cr_expect_leq(nk_baked, nk_unfolded_baked, "baked: the folded forward has %d kernels, the unfolded %d", nk_baked,
                nk_unfolded_baked);
  cr_expect_eq(muls(dir, folded, st), 0, "baked: the folded graph still multiplies (the scale is not in the weights)");
  cr_expect_gt(muls(dir, unfolded, st), 0, "baked: the unfolded graph has no multiply (the test is vacuous)");
  gradc_close(m), gradc_close(b), gradc_close(u);
  gc_graph_free(g);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
}

#define BUFFERS(c) "buffer rm : f32[" c "]\nbuffer rv : f32[" c "] = ones\n"

Test(batchnorm, folds_into_conv2d) {
  const char *head = "model c\ninput x : f32[2, 3, 6, 6]\nparam k : f32[4, 3, 3, 3]\nparam kb : f32[4]\n"
                     "param w : f32[4]\nparam b : f32[4]\n" BUFFERS("4");
  char f[1024], u[1024];
  snprintf(f, sizeof f, "%sy = batch_norm(conv2d(x, k, kb, padding=1), rm, rv, w, b)\noutput y\n", head);
  snprintf(u, sizeof u, "%sy = batch_norm(conv2d(x, k, kb, padding=1) * 1, rm, rv, w, b)\noutput y\n", head);
  check_fold(f, u);
}

Test(batchnorm, folds_into_conv1d_without_bias) {
  const char *head = "model c\ninput x : f32[3, 2, 9]\nparam k : f32[5, 2, 3]\nparam w : f32[5]\n" BUFFERS("5");
  char f[1024], u[1024];
  snprintf(f, sizeof f, "%sy = batch_norm(conv1d(x, k, stride=2), rm, rv, w)\noutput y\n", head);
  snprintf(u, sizeof u, "%sy = batch_norm(conv1d(x, k, stride=2) * 1, rm, rv, w)\noutput y\n", head);
  check_fold(f, u);
}

Test(batchnorm, folds_into_linear) {
  const char *head = "model c\ninput x : f32[8, 6]\nparam m : f32[6, 4]\nparam mb : f32[4]\nparam b : f32[4]\n" BUFFERS("4");
  char f[1024], u[1024];
  snprintf(f, sizeof f, "%sy = batch_norm(x @ m + mb, rm, rv, bias=b, eps=0.001)\noutput y\n", head);
  snprintf(u, sizeof u, "%sy = batch_norm((x @ m + mb) * 1, rm, rv, bias=b, eps=0.001)\noutput y\n", head);
  check_fold(f, u);
}

/* The training entries update the running statistics; the forward entry reads them. */
Test(batchnorm, buffers_change_only_in_training_mode) {
  const char *src = "model t\ninput x : f32[4, 3]\nparam w : f32[3] = ones\n" BUFFERS("3")
                    "y = batch_norm(x * w, rm, rv, momentum=0.5)\nloss = sum(y * y)\noutput y\nminimize loss\n";
  char dir[] = "/tmp/gradc_bn_XXXXXX";
  cr_assert(mkdtemp(dir));
  gradc_model *m = build(dir, "t", src, NULL, false, NULL);
  gradc_init(m, 1); /* w = ones, rm = zeros, rv = ones */
  float *x = gradc_tensor(m, "x", NULL), *rm = gradc_tensor(m, "rm", NULL), *rv = gradc_tensor(m, "rv", NULL);
  const float xs[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  memcpy(x, xs, sizeof xs);
  cr_assert_eq(gradc_forward(m), 0);
  cr_expect(rm[0] == 0 && rv[0] == 1, "the eval-mode forward changed the running statistics");
  gradc_zero_grad(m);
  cr_assert_eq(gradc_backward(m), 0);
  /* column 0 is 1, 4, 7, 10: mean 5.5, unbiased variance 15 */
  cr_expect(fabsf(rm[0] - 2.75f) < 1e-6f && fabsf(rv[0] - 8.0f) < 1e-5f, "after backward: rm %g (want 2.75), rv %g (8)",
            (double)rm[0], (double)rv[0]);
  cr_assert_eq(gradc_train_step(m, 0.0f), 0, "%s", gradc_error(m));
  cr_expect(fabsf(rm[0] - 4.125f) < 1e-6f && fabsf(rv[0] - 11.5f) < 1e-5f, "after a train step: rm %g (4.125), rv %g (11.5)",
            (double)rm[0], (double)rv[0]);
  const gradc_tensor_info *t = NULL;
  for (size_t i = 0; i < gradc_num_tensors(m); i++)
    if (!strcmp(gradc_tensor_at(m, i)->name, "rm")) t = gradc_tensor_at(m, i);
  cr_expect(t && t->buffer && !t->trainable && t->role == GRADC_ROLE_PARAM, "rm is not described as a buffer");
  cr_expect_null(gradc_grad(m, "rm", NULL), "a buffer has a gradient");
  gradc_close(m);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
}
