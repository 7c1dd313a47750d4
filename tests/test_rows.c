/* test_rows.c — rows kernels (schedule.c, fuse_rows): reductions along the last axis
 * fused with the elementwise work and reductions around them. Each case is compiled,
 * run forward and backward and compared with the float64 reference evaluator
 * (outputs, loss, every parameter's gradient); and the schedule is checked: softmax,
 * log-softmax and cross-entropy with its gradient are one kernel, with no separate
 * max or row-sum kernel left. Finite-difference checks of the same operators are in
 * test_grad.c; this file checks the fused loops. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"
#define SCRATCH_TAG "rows"
#include "support/compare.h"
#include "support/scratch_dir.h"

typedef struct {
  const char *name, *src;
  int rows_kernels; /* in the train-step entry */
} Case;

static const Case cases[] = {
    {"softmax_vector", /* one row: no loop over rows */
     "model t\nparam x : f32[7] = randn\ninput c : f32[7]\ny = softmax(x)\nloss = sum(y * c)\noutput y\nminimize loss\n",
     1},
    {"log_softmax_rank3",
     "model t\nparam x : f32[2, 3, 9] = randn\ninput c : f32[2, 3, 9]\ny = log_softmax(x)\nloss = sum(y * c)\n"
     "output y\nminimize loss\n",
     1},
    {"cross_entropy_after_product",
     "model t\ninput x : f32[6, 12]\ninput label : i32[6]\nparam w : f32[12, 5] = randn\nparam b : f32[5] = randn\n"
     "logits = x @ w + b\nloss = cross_entropy(logits, label)\noutput logits\nminimize loss\n",
     1},
    {"row_and_total_reductions", /* per-row max and sum of squares, a total sum and mean of the result */
     "model t\nparam x : f32[5, 8] = randn\nm = max(x, axis=1, keepdims=true)\n"
     "z = exp(x - m) * x / (1 + sum(x * x, axis=1, keepdims=true))\nloss = mean(z) + sum(z * z) / 10\n"
     "output z\nminimize loss\n",
     1},
    {"single_row", /* [1, C]: a row reduction and a total have the same shape */
     "model t\nparam x : f32[1, 6] = randn\ninput c : f32[1, 6]\n"
     "loss = sum(softmax(x) * c) + sum(sum(x * x, axis=1, keepdims=true) * c)\n"
     "minimize loss\n",
     1},
    {"sigmoid_bce_vector", /* logreg: the loss's sum joins the loop of sigmoid, softplus and the gradient */
     "model t\ninput x : f32[5]\ninput y : f32[3]\nparam w : f32[5, 3] = randn\nparam b : f32[3] = randn\n"
     "z = x @ w + b\nloss = bce_with_logits(z, y)\noutput z\nminimize loss\n",
     1},
    {"softmax_first_axis", /* not along the last axis: no rows kernel, still right */
     "model t\nparam x : f32[6, 4] = randn\ninput c : f32[6, 4]\ny = softmax(x, axis=0)\nloss = sum(y * c)\n"
     "output y\nminimize loss\n",
     0},
};

/* Each case for this machine's CPU (8-float vectors with AVX) and for baseline x86-64
 * (4-float SSE vectors): rows of 7 or 9 floats take a whole vector and a partial one
 * with the one, a partial one or two whole ones with the other. */
#define NCASES (sizeof cases / sizeof cases[0])
static const char *const cpus[] = {NULL, "x86-64"};

ParameterizedTestParameters(rows, matches_reference) {
  static int idx[NCASES * 2];
  for (size_t i = 0; i < NCASES * 2; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}


ParameterizedTest(int *ci, rows, matches_reference) {
  const Case *c = &cases[*ci / 2];
  const char *cpu = cpus[*ci % 2];
  char err[4096];
  make_dir();
  gc_options o = {.path = c->name, .source = c->src, .opt_level = 2, .emit = GC_EMIT_SO, .out = at("t.so"), .cpu = cpu};
  cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
  gradc_model *m = gradc_open(at("t.so"), err, sizeof err);
  cr_assert(m, "%s", err);
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "%s", err);
  gradc_rng r;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) { /* the same inputs and parameters for both */
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT) continue;
    gradc_rng_seed(&r, 7, t->name);
    void *p = gradc_tensor(m, t->name, NULL);
    double *q = gc_graph_tensor(g, t->name, NULL);
    for (size_t k = 0; k < t->count; k++) {
      if (!strcmp(t->name, "label")) q[k] = ((int32_t *)p)[k] = (int32_t)((k * 3 + 1) % 5);
      else q[k] = ((float *)p)[k] = (float)gradc_rng_normal(&r);
    }
  }
  gc_graph_eval(g);
  gradc_zero_grad(m);
  cr_assert_eq(gradc_backward(m), 0);
  double want = gc_graph_loss(g);
  float loss = gradc_loss(m);
  cr_expect(fabs(loss - want) <= 1e-5 * fmax(1, fabs(want)), "%s loss %.9g, reference %.9g", c->name, loss, want);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT)
      expect_close_to(c->name, t->name, gradc_tensor(m, t->name, NULL), gc_graph_tensor(g, t->name, NULL), t->count, 1e-5);
    if (t->role == GRADC_ROLE_PARAM)
      expect_close_to(c->name, t->name, gradc_grad(m, t->name, NULL), gc_graph_grad(g, t->name, NULL), t->count, 1e-5);
  }
  gc_graph_free(g);
  gradc_close(m);
  remove_dir();
}

/* The kernels of the train-step entry as the IR listing shows them. */
static char *train_kernels(const Case *c) {
  make_dir();
  gc_options o = {.path = c->name, .source = c->src, .opt_level = 2, .emit = GC_EMIT_IR, .out = at("t.ir")};
  static char text[1 << 16];
  compiled_text(&o, text, sizeof text);
  remove_dir();
  char *train = strstr(text, "_train_step(");
  cr_assert(train, "%s: no train-step entry in\n%s", c->name, text);
  return train;
}

static int count(const char *text, const char *what) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, what)); p++) n++;
  return n;
}

/* Softmax / log-softmax / cross-entropy, forward and backward: one rows kernel, and no
 * reduction along the rows left as a kernel of its own. */
Test(rows, softmax_and_cross_entropy_are_one_kernel) {
  for (size_t i = 0; i < NCASES; i++) {
    char *k = train_kernels(&cases[i]);
    cr_expect_eq(count(k, " rows of "), cases[i].rows_kernels, "%s:\n%s", cases[i].name, k);
    if (cases[i].rows_kernels) cr_expect_eq(count(k, " max: "), 0, "%s: a max kernel left:\n%s", cases[i].name, k);
  }
  /* the cross-entropy case: max, exp, row sum, log, the picked log-probability, the
   * gradient softmax - onehot and the loss's total sum all in that kernel */
  char *k = train_kernels(&cases[2]);
  char *rows = strstr(k, " rows of [6, 5], 3 loops per row:");
  cr_assert(rows, "%s", k);
  char line[4096];
  snprintf(line, sizeof line, "%.*s", (int)strcspn(rows, "\n"), rows);
  cr_expect(strstr(line, " max@0 ") && strstr(line, " exp@1 ") && strstr(line, " log@2 ") && count(line, " sum@") >= 3,
            "%s", line);
  k = train_kernels(&cases[5]); /* sigmoid + BCE: sigmoid (the gradient), softplus and the sum in one loop */
  rows = strstr(k, " rows of [3], 1 loop per row:");
  cr_assert(rows, "%s", k);
  snprintf(line, sizeof line, "%.*s", (int)strcspn(rows, "\n"), rows);
  cr_expect(strstr(line, " sigmoid@0 ") && strstr(line, " softplus@0 ") && strstr(line, " sum@0 "), "%s", line);
}
