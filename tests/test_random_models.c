/* test_random_models.c — the random-model differential tester (support/randmodel.c) on
 * a fixed batch of seeds, host CPU and baseline x86-64 alternately: each model's
 * compiled loss, outputs and gradients against the float64 reference evaluator and
 * the tape. Then the minimised failures it found, as regression tests: reductions
 * whose result is broadcast back through a view (the implicit reshape of a reduction
 * without keepdims, an explicit reshape) were fused into the kernel computing them
 * and read before they were complete (issue 13). A longer run: tools/fuzz/run.sh
 * random, or build/tests/random_models --count N. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "support/randmodel.c"
#include "support/randmodel_check.c"

#define NSEEDS 160
/* Seeds whose text must cover every operator (generating is cheap; checking is not). */
#define COVER_SEEDS 400

static void check(const char *what, const char *src, const char *cpu) {
  static char why[1 << 14];
  char dir[] = "/tmp/gradc_random_XXXXXX"; /* rm_check removes what it writes there */
  cr_assert(mkdtemp(dir), "mkdtemp");
  int rc = rm_check(src, dir, cpu, 2, why, sizeof why);
  rmdir(dir);
  cr_assert_eq(rc, 0, "%s (%s):\n%s-- model:\n%s", what, cpu ? cpu : "host cpu", why, src);
}

ParameterizedTestParameters(random, matches_references) {
  static int seeds[NSEEDS];
  for (int i = 0; i < NSEEDS; i++) seeds[i] = i;
  return cr_make_param_array(int, seeds, NSEEDS);
}

ParameterizedTest(int *seed, random, matches_references) {
  static char src[1 << 16], what[64];
  rm_generate((uint64_t)*seed, src, sizeof src);
  snprintf(what, sizeof what, "random model, seed %d", *seed);
  check(what, src, *seed % 2 ? "x86-64" : NULL);
}

/* The generator is deterministic (a failure names a seed that reproduces it) and
 * varied: a batch of seeds covers every family of operators. */
Test(random, generator_is_deterministic_and_covers_the_operators) {
  static char a[1 << 16], b[1 << 16], all[1 << 22];
  rm_generate(12345, a, sizeof a);
  rm_generate(12345, b, sizeof b);
  cr_assert_str_eq(a, b);
  size_t n = 0;
  for (int s = 0; s < COVER_SEEDS; s++) {
    rm_generate((uint64_t)s, a, sizeof a);
    n += (size_t)snprintf(all + n, sizeof all - n, "%s", a);
  }
  static const char *const ops[] = {"exp(", "log(", "sqrt(", "abs(", "tanh(", "sigmoid(", "relu(", "leaky_relu(",
                                    "gelu(", "softplus(", "**", "detach(", " + ", " - ", " * ", " / ", "maximum(",
                                    "minimum(", "sum(", "mean(", "max(", "keepdims=true", "axis=-", "axis=[",
                                    "reshape(", "-1]", "flatten(", "transpose(", "perm=", " @ ", "softmax(",
                                    "log_softmax(", "conv2d(", "max_pool2d(", "avg_pool2d(", "mse(",
                                    "bce_with_logits(", "cross_entropy(",
                                    /* comparisons and elementwise (issue 15) */
                                    "where(", "clamp(", " >= ", "!= ", "prelu(", ") ** tanh(", "hardswish(",
                                    "elu(", "sin(", "floor(",
                                    /* reductions and losses (issue 15) */
                                    "min(", "prod(", "var(", "std(", "logsumexp(", "norm(", "p=inf", "argmax(",
                                    "argmin(", "l1_loss(", "huber_loss(", "smooth_l1_loss(", "kl_div(", "nll_loss(",
                                    "label_smoothing=", "reduction=\"sum\"", "softmax(x",
                                    /* ---- convolution and pooling (issue 15) */
                                    "groups=", "dilation=", "padding=\"same\"", "conv_transpose2d(",
                                    "global_avg_pool(", "adaptive_avg_pool2d(",
                                    /* indexing and assembling (issue 15) */
                                    "concat(", "cat(", "stack(", "narrow(", "pad(", "repeat(", "unsqueeze(",
                                    /* ---- indexing II (issue 15) ---- */
                                    "embedding(", "gather(", "chunk(", "mode=\"reflect\"", "mode=\"replicate\"", "::",
                                    /* normalization and attention (issue 15) */
                                    "layer_norm(", "group_norm(",
                                    /* dropout and modes (issue 15) */
                                    "dropout("};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    cr_expect(strstr(all, ops[i]), "no model of the first %d seeds has '%s'", COVER_SEEDS, ops[i]);
}

typedef struct {
  const char *name, *src;
} Regression;

static const Regression regressions[] = {
    {"scalar_times_total", /* x * sum(w): the sum's [1] view read before the sum was done */
     "model c\ninput x : f32[1]\nparam w : f32[4] = randn\nt = x * sum(w)\noutput t\nloss = sum(t)\nminimize loss\n"},
    {"row_mean_broadcast_along_columns", /* mean(w, axis=1) is [2]: it broadcasts along columns */
     "model b\ninput x : f32[2, 2]\nparam w : f32[2, 2] = randn\nt = x - mean(w, axis=1)\noutput t\n"
     "loss = mean(t * t)\nminimize loss\n"},
    {"divide_by_total", /* w / sum(w): the total was still 0 */
     "model a\nparam w : f32[3] = uniform(1, 2)\nt = w / sum(w)\noutput t\nloss = sum(t * t)\nminimize loss\n"},
    {"reshaped_column_times_column", /* [3, 1] -> [3] is a row: only the lower triangle was computed */
     "model k\nparam a : f32[3, 1] = randn\nparam b : f32[3, 1] = randn\nt = reshape(a * 2, [3]) * b\noutput t\n"
     "loss = sum(t * t)\nminimize loss\n"},
    {"row_mean_times_rows_transposed", /* random seed 33, minimised */
     "model r\nparam p0 : f32[5, 5] = randn\nv1 = mean(p0, axis=-1)\nv3 = transpose(p0 * v1, perm=[1, 0])\n"
     "loss = mean(v3 * v3)\noutput v1\nminimize loss\n"},
    {"softmax_total_broadcast", /* random seed 25, minimised */
     "model r\nparam p0 : f32[5] = randn\nv0 = softmax(p0)\nv3 = sum(v0) - v0\nloss = mean(v3 * p0)\noutput v3\n"
     "minimize loss\n"},
};

#define NREG (sizeof regressions / sizeof regressions[0])

ParameterizedTestParameters(random, regressions) {
  static int idx[NREG * 2];
  for (size_t i = 0; i < NREG * 2; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, NREG * 2);
}

ParameterizedTest(int *i, random, regressions) {
  const Regression *r = &regressions[*i / 2];
  check(r->name, r->src, *i % 2 ? "x86-64" : NULL);
}
