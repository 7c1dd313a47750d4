/* test_parallel.c — large matrix products split into parts (gradc compile --threads):
 * every split (along columns, along rows, uneven last part, each transposition, batched,
 * weight gradients carrying their SGD update, accumulating backward) gives results
 * bitwise equal to the unsplit kernel, whether the runtime's thread pool runs the parts
 * or they run one after the other (no runner installed). The parts of one product
 * write disjoint blocks of C with the same sums in the same order, so any difference
 * is a bug in the split, not rounding. The pool itself is tested in
 * tests/runtime/test_pool.c. Also: machine code generated on two threads (a module cut
 * in two objects) gives the one thread's results. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"

typedef struct {
  const char *name, *src;
} Case;

/* Products of >= 4 MFLOP split; 3 parts make the last one shorter than the others. */
#define MM(a, b, expr) "model t\ninput a : f32" a "\ninput b : f32" b "\ny = " expr "\noutput y\n"
static const Case cases[] = {
    {"columns_packed", MM("[40, 300]", "[300, 520]", "a @ b")},          /* N / 16 >= M / 6 */
    {"rows_packed_ta", MM("[300, 530]", "[300, 40]", "transpose(a) @ b")}, /* M / 6 > N / 16 */
    {"columns_dot_tb", MM("[40, 300]", "[211, 300]", "a @ transpose(b)")},
    {"rows_ta_tb", MM("[300, 200]", "[50, 300]", "transpose(a) @ transpose(b)")},
    {"columns_blocked", MM("[32, 784]", "[784, 128]", "a @ b")},
    {"rows_blocked", MM("[300, 160]", "[160, 48]", "a @ b")},
    {"batched", MM("[2, 24, 200]", "[2, 200, 520]", "a @ b")},
    /* with an epilogue (bias, activation) applied by each part to its block */
    {"columns_epilogue", "model t\ninput a : f32[40, 200]\ninput b : f32[200, 520]\ninput c : f32[520]\n"
                         "y = relu(a @ b + c)\noutput y\n"},
    {"rows_epilogue", "model t\ninput a : f32[300, 160]\ninput b : f32[160, 48]\ninput c : f32[300, 1]\n"
                      "y = exp((a @ b) * c * 0.01)\noutput y\n"},
};

/* A net whose weight gradients are split products: the train step applies SGD in
 * their epilogues, part by part; backward accumulates. */
static const char *net = "model t\ninput x : f32[48, 300]\nparam w1 : f32[300, 260] = randn(0.1)\n"
                         "param w2 : f32[260, 300] = randn(0.1)\n"
                         "h = tanh(x @ w1)\nloss = sum(h @ w2) / 1000\nminimize loss\n";

typedef struct {
  char dir[64], so[128];
  gradc_model *m;
  int objects; /* gc_result.objects: 2 when machine code was generated on two threads */
} Built;

static void build(Built *b, const char *src, int threads, bool inference) {
  snprintf(b->dir, sizeof b->dir, "/tmp/gradc-par-XXXXXX");
  cr_assert(mkdtemp(b->dir));
  snprintf(b->so, sizeof b->so, "%s/t.so", b->dir);
  char err[4096];
  gc_options o = {.path = "t.grad", .source = src, .opt_level = 2, .emit = GC_EMIT_SO, .out = b->so,
                  .threads = threads, .inference = inference};
  gc_result res;
  cr_assert_eq(gc_compile(&o, &res, err, sizeof err), 0, "%s", err);
  b->objects = res.objects;
  b->m = gradc_open(b->so, err, sizeof err);
  cr_assert(b->m, "%s", err);
  cr_assert_eq(gradc_init(b->m, 7), 0);
  for (size_t i = 0; i < gradc_num_tensors(b->m); i++) { /* inputs: a fixed pattern */
    const gradc_tensor_info *t = gradc_tensor_at(b->m, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    float *p = gradc_tensor(b->m, t->name, NULL);
    for (size_t k = 0; k < t->count; k++) p[k] = (float)((k * 7919 + i * 104729) % 2001) / 1000.0f - 1.0f;
  }
}

static void destroy(Built *b) {
  gradc_close(b->m);
  char p[200];
  snprintf(p, sizeof p, "%s/t.h", b->dir), unlink(p);
  unlink(b->so);
  rmdir(b->dir);
}

static size_t nonzeros(const float *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += p[i] != 0;
  return k;
}

/* Every tensor (and gradient) of a equals b's, bit for bit — and is not mostly zeros
 * (a quarter at least is not: ReLU zeroes about half), which would make the comparison
 * say little. */
static void expect_same(const char *what, gradc_model *a, gradc_model *b) {
  for (size_t i = 0; i < gradc_num_tensors(a); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(a, i);
    size_t bytes = t->count * 4;
    const float *x = gradc_tensor(a, t->name, NULL), *y = gradc_tensor(b, t->name, NULL);
    cr_assert_gt(nonzeros(x, t->count), t->count / 4, "%s: tensor '%s' is mostly zeros", what, t->name);
    cr_expect(!memcmp(x, y, bytes), "%s: tensor '%s' differs", what, t->name);
    const float *gx = gradc_grad(a, t->name, NULL), *gy = gradc_grad(b, t->name, NULL);
    if (!gx) continue;
    cr_assert_gt(nonzeros(gx, t->count), t->count / 4, "%s: the gradient of '%s' is mostly zeros", what, t->name);
    cr_expect(!memcmp(gx, gy, bytes), "%s: gradient of '%s' differs", what, t->name);
  }
}

ParameterizedTestParameters(parallel, product) {
  static int idx[sizeof cases / sizeof cases[0]];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}

static void pool_of_three(void) { setenv("GRADC_THREADS", "3", 1); }

ParameterizedTest(int *ci, parallel, product, .init = pool_of_three) {
  const Case *c = &cases[*ci];
  Built one, split;
  build(&one, c->src, 1, true);
  build(&split, c->src, 3, true);
  cr_expect_eq(gradc_set_threads(one.m, 0), 1, "%s: compiled with --threads 1, yet it has parts", c->name);
  cr_assert_eq(gradc_forward(one.m), 0);
  cr_assert_geq(gradc_set_threads(split.m, 0), 2, "%s: no thread pool (GRADC_THREADS=3 is set)", c->name);
  cr_assert_eq(gradc_forward(split.m), 0);
  expect_same(c->name, one.m, split.m);
  memset(gradc_tensor(split.m, "y", NULL), 0, 4); /* the in-order run must write it again */
  cr_assert_eq(gradc_set_threads(split.m, 1), 1);
  cr_assert_eq(gradc_forward(split.m), 0);
  expect_same(c->name, one.m, split.m);
  destroy(&one);
  destroy(&split);
}

static void net_case(bool train) {
  Built one, split, serial;
  build(&one, net, 1, false);
  build(&split, net, 3, false);
  build(&serial, net, 3, false);
  cr_assert_geq(gradc_set_threads(split.m, 0), 2);
  cr_assert_eq(gradc_set_threads(serial.m, 1), 1);
  gradc_model *ms[3] = {one.m, split.m, serial.m};
  for (int i = 0; i < 3; i++) {
    gradc_set_optimizer(ms[i], 0.9f, 0.01f);
    for (int step = 0; step < 3; step++) cr_assert_eq(train ? gradc_train_step(ms[i], 0.1f) : gradc_backward(ms[i]), 0);
  }
  expect_same(train ? "train steps" : "backward", one.m, split.m);
  expect_same(train ? "train steps, parts in order" : "backward, parts in order", one.m, serial.m);
  destroy(&one);
  destroy(&split);
  destroy(&serial);
}

Test(parallel, train_steps_with_sgd_in_the_epilogues, .init = pool_of_three) { net_case(true); }
Test(parallel, backward_accumulates, .init = pool_of_three) { net_case(false); }

/* The header and descriptor announce the runner only where a product is split. */
Test(parallel, set_parallel_only_when_split) {
  Built small, big;
  build(&small, MM("[8, 8]", "[8, 8]", "a @ b"), 4, true);
  build(&big, cases[0].src, 4, true);
  char h[200], line[512];
  snprintf(h, sizeof h, "%s/t.h", big.dir);
  FILE *f = fopen(h, "r");
  cr_assert(f);
  bool declared = false;
  while (fgets(line, sizeof line, f)) declared |= strstr(line, "void t_set_parallel(") != NULL;
  fclose(f);
  cr_expect(declared, "the header of a split model does not declare t_set_parallel");
  cr_expect_eq(gradc_set_threads(small.m, 0), 1);
  destroy(&small);
  destroy(&big);
}

/* Machine code generated on two threads (compiler/emit_parallel.c: the optimised module
 * cut in two halves, two objects, one link) is the one thread's code: the same results,
 * bit for bit, with plain SGD and with momentum and weight decay. */
static void codegen_case(float momentum, float decay) {
  Built one, two;
  setenv("GRADC_CODEGEN_THREADS", "1", 1);
  build(&one, net, 3, false);
  setenv("GRADC_CODEGEN_THREADS", "2", 1);
  build(&two, net, 3, false);
  unsetenv("GRADC_CODEGEN_THREADS");
  cr_expect_eq(one.objects, 1, "GRADC_CODEGEN_THREADS=1 linked %d objects", one.objects);
  cr_assert_eq(two.objects, 2, "GRADC_CODEGEN_THREADS=2 did not cut the module in two (%d objects)", two.objects);
  gradc_model *ms[2] = {one.m, two.m};
  for (int i = 0; i < 2; i++) {
    gradc_set_optimizer(ms[i], momentum, decay);
    for (int step = 0; step < 3; step++) cr_assert_eq(gradc_train_step(ms[i], 0.1f), 0);
    cr_assert_eq(gradc_forward(ms[i]), 0);
  }
  expect_same("code generated on two threads", one.m, two.m);
  destroy(&one);
  destroy(&two);
}

Test(parallel, codegen_on_two_threads_plain_sgd, .init = pool_of_three) { codegen_case(0, 0); }
Test(parallel, codegen_on_two_threads_momentum, .init = pool_of_three) { codegen_case(0.9f, 0.01f); }

/* A small model stays one object: a thread would cost more than it saves. */
Test(parallel, small_model_is_one_object) {
  Built small;
  setenv("GRADC_CODEGEN_THREADS", "2", 1);
  build(&small, MM("[8, 8]", "[8, 8]", "a @ b"), 1, true);
  unsetenv("GRADC_CODEGEN_THREADS");
  cr_expect_eq(small.objects, 1);
  destroy(&small);
}
