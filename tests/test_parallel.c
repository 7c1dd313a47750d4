/* test_parallel.c — large matrix products split into parts (gradc compile --threads):
 * every split (along columns, along rows, uneven last part, each transposition, batched,
 * weight gradients carrying their SGD update, accumulating backward) gives results
 * bitwise equal to the unsplit kernel, whether the runtime's thread pool runs the parts
 * or they run one after the other (no runner installed). The parts of one product
 * write disjoint blocks of C with the same sums in the same order, so any difference
 * is a bug in the split, not rounding. The pool itself is tested in
 * tests/runtime/test_pool.c. Also: a large model's module cut in two halves for two
 * code generation threads gives the same bytes on one thread and the whole module's
 * results. */
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

static int codegen_threads; /* gc_options.codegen_threads of the builds (0: automatic) */

/* Compiles src into b->dir/t.so — or, with via_object, into one object file (never cut
 * in two) linked here by `cc -shared` — and opens it with fixed inputs. */
static void build_as(Built *b, const char *src, int threads, bool inference, bool via_object) {
  snprintf(b->dir, sizeof b->dir, "/tmp/gradc-par-XXXXXX");
  cr_assert(mkdtemp(b->dir));
  snprintf(b->so, sizeof b->so, "%s/t.so", b->dir);
  char err[4096], obj[160];
  snprintf(obj, sizeof obj, "%s/t.o", b->dir);
  gc_options o = {.path = "t.grad", .source = src, .opt_level = 2, .emit = via_object ? GC_EMIT_OBJ : GC_EMIT_SO,
                  .out = via_object ? obj : b->so, .threads = threads, .inference = inference,
                  .codegen_threads = codegen_threads};
  gc_result res;
  cr_assert_eq(gc_compile(&o, &res, err, sizeof err), 0, "%s", err);
  b->objects = res.objects;
  if (via_object) { /* an object has no fixed-name descriptor symbol: a shim gives it */
    char shim[160], cmd[600];
    snprintf(shim, sizeof shim, "%s/shim.c", b->dir);
    FILE *f = fopen(shim, "w");
    cr_assert(f);
    fputs("const char *t_descriptor(void);\n"
          "const char *gradc_model_descriptor(void) { return t_descriptor(); }\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' -shared -fPIC -o '%s' '%s' '%s'", GRADC_TEST_CC, b->so, obj, shim);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    unlink(obj), unlink(shim);
  }
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

static void build(Built *b, const char *src, int threads, bool inference) { build_as(b, src, threads, inference, false); }

static void destroy(Built *b) {
  gradc_close(b->m);
  char p[200];
  snprintf(p, sizeof p, "%s/t.h", b->dir), unlink(p);
  unlink(b->so);
  rmdir(b->dir);
}

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  char *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
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

/* A large model's shared object is linked from two halves of its module (compiler/
 * emit_parallel.c), generated on two threads or one after the other: the same bytes
 * either way, and the same training, bit for bit, as the whole module in one object
 * (--emit obj, linked here), with plain SGD and with momentum and weight decay. */
static void codegen_case(float momentum, float decay) {
  Built one, two, whole;
  codegen_threads = 1;
  build(&one, net, 3, false);
  codegen_threads = 2;
  build(&two, net, 3, false);
  build_as(&whole, net, 3, false, true);
  codegen_threads = 0;
  cr_assert_eq(two.objects, 2, "the module was not cut in two (%d objects)", two.objects);
  cr_expect_eq(one.objects, 2, "codegen_threads = 1 changed the cut (%d objects)", one.objects);
  size_t n1, n2;
  char *b1 = read_file(one.so, &n1), *b2 = read_file(two.so, &n2);
  cr_expect(n1 == n2 && !memcmp(b1, b2, n1), "the shared object depends on the number of threads");
  free(b1), free(b2);
  gradc_model *ms[2] = {two.m, whole.m};
  for (int i = 0; i < 2; i++) {
    gradc_set_optimizer(ms[i], momentum, decay);
    for (int step = 0; step < 3; step++) cr_assert_eq(gradc_train_step(ms[i], 0.1f), 0);
    cr_assert_eq(gradc_forward(ms[i]), 0);
  }
  expect_same("two halves against one object", two.m, whole.m);
  destroy(&one);
  destroy(&two);
  destroy(&whole);
}

Test(parallel, codegen_in_two_halves_plain_sgd, .init = pool_of_three) { codegen_case(0, 0); }
Test(parallel, codegen_in_two_halves_momentum, .init = pool_of_three) { codegen_case(0.9f, 0.01f); }

/* A small model stays one object: a second half would cost more than it saves. */
Test(parallel, small_model_is_one_object) {
  Built small;
  build(&small, MM("[8, 8]", "[8, 8]", "a @ b"), 1, true);
  cr_expect_eq(small.objects, 1);
  destroy(&small);
}
