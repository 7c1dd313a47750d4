/* test_matmul.c — every code path of the matrix-product kernel against the float64
 * reference evaluator: the packed path (big products: K-blocks, ragged row and column
 * edges, every transposition, batched), the register-blocked and dot-product paths of
 * smaller products, a constant operand (the gradient of sum(x @ w)), and products whose
 * result is a gradient that accumulates (backward) or carries its SGD update (train
 * step). The derivative rules themselves are checked by finite differences in
 * test_grad.c; this file checks the generated loops. */
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
#include "support/compare.h"

typedef struct {
  const char *name, *src;
} Case;

#define MM(a, b, expr) "model t\ninput a : f32" a "\ninput b : f32" b "\ny = " expr "\noutput y\n"
static const Case cases[] = {
    {"packed_edges_kblocks", MM("[37, 300]", "[300, 515]", "a @ b")},
    {"packed_ta", MM("[300, 530]", "[300, 23]", "transpose(a) @ b")},
    {"packed_tb", MM("[37, 300]", "[211, 300]", "a @ transpose(b)")},
    {"packed_ta_tb", MM("[300, 37]", "[211, 300]", "transpose(a) @ transpose(b)")},
    /* a short k: all of packed B fits in L1, register blocks go along rows */
    {"packed_ta_short_k", MM("[24, 700]", "[24, 130]", "transpose(a) @ b")},
    {"packed_exact_tiles", MM("[144, 256]", "[256, 512]", "a @ b")},
    {"packed_batched", MM("[2, 24, 200]", "[2, 200, 520]", "a @ b")},
    {"unpacked_kblocks", MM("[32, 784]", "[784, 128]", "a @ b")},
    {"blocked_small", MM("[13, 29]", "[29, 21]", "a @ b")},
    {"blocked_kblocks_partial", MM("[13, 300]", "[300, 21]", "a @ b")},
    /* rows left over after the 6-row blocks: 3 (blocks 4 vectors wide), 4 (3 wide) */
    {"blocked_rest3", MM("[9, 40]", "[40, 70]", "a @ b")},
    {"blocked_rest4_kblocks", MM("[10, 520]", "[520, 100]", "a @ b")},
    {"packed_short_dots", MM("[32, 10]", "[32, 10]", "a @ transpose(b)")}, /* tb, k < 4 vectors */
    {"dot_small", MM("[13, 40]", "[21, 40]", "a @ transpose(b)")},
    {"vector_times_matrix", MM("[29]", "[29, 21]", "a @ b")},
    /* epilogues: elementwise work on C done by the product's kernel (one kernel each,
     * checked below), with row- and column-broadcast operands and partial vectors */
#define EP(a, b, more, expr) "model t\ninput a : f32" a "\ninput b : f32" b "\n" more "y = " expr "\noutput y\n"
    {"epilogue_bias_relu", EP("[13, 29]", "[29, 21]", "input c : f32[21]\n", "relu(a @ b + c)")},
    {"epilogue_column_operand_exp", EP("[13, 29]", "[29, 21]", "input d : f32[13, 1]\n", "exp((a @ b) * d - 1)")},
    {"epilogue_dot", EP("[13, 40]", "[21, 40]", "input c : f32[21]\n", "tanh(a @ transpose(b) + c)")},
    {"epilogue_short_dots", EP("[32, 10]", "[32, 10]", "input d : f32[32, 32]\n", "(a @ transpose(b)) * d")},
    {"epilogue_packed_edges", EP("[37, 200]", "[200, 530]", "input c : f32[530]\n", "sigmoid(a @ b + c)")},
    /* after the last of several k-blocks (partial sums in C until then) */
    {"epilogue_kblocks", EP("[13, 784]", "[784, 21]", "input c : f32[21]\n", "relu(a @ b + c)")},
    {"epilogue_kblocks_remainder", EP("[13, 257]", "[257, 40]", "input d : f32[13, 1]\n", "(a @ b) * d")},
    {"epilogue_rest2_wide", EP("[32, 300]", "[300, 128]", "input c : f32[128]\n", "relu(a @ b + c)")},
    {"epilogue_packed_kblocks", EP("[37, 600]", "[600, 530]", "input c : f32[530]\n", "relu(a @ b + c)")},
    {"epilogue_two_outputs", EP("[13, 29]", "[29, 21]", "input c : f32[21]\nz = a @ b\noutput z\n", "relu(z + c)")},
};

static double rnd(gradc_rng *r) { return gradc_rng_normal(r); }

/* cpu: NULL for this machine's (8-float vectors with AVX), "x86-64" for 4-float SSE. */
static char *compile_tmp_for(const char *src, char *dir, const char *cpu) {
  strcpy(dir, "/tmp/gradc-mm-XXXXXX");
  cr_assert(mkdtemp(dir));
  static char so[600];
  snprintf(so, sizeof so, "%s/t.so", dir);
  char err[4096];
  gc_options o = {.path = "t.grad", .source = src, .opt_level = 2, .emit = GC_EMIT_SO, .out = so, .cpu = cpu};
  cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
  return so;
}
static char *compile_tmp(const char *src, char *dir) { return compile_tmp_for(src, dir, NULL); }

static void cleanup(const char *dir) {
  char p[700];
  snprintf(p, sizeof p, "%s/t.so", dir), unlink(p);
  snprintf(p, sizeof p, "%s/t.h", dir), unlink(p);
  rmdir(dir);
}

/* Sets every input and param of both engines to the same random values. */
static void fill(gradc_model *m, gc_graph *g, uint64_t seed) {
  gradc_rng r;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT) continue;
    gradc_rng_seed(&r, seed, t->name);
    float *p = gradc_tensor(m, t->name, NULL);
    double *q = gc_graph_tensor(g, t->name, NULL);
    for (size_t k = 0; k < t->count; k++) q[k] = p[k] = (float)rnd(&r);
  }
}

static void expect_close(const char *what, const char *name, const float *got, const double *want, size_t n) {
  expect_close_to(what, name, got, want, n, 2e-5);
}

ParameterizedTestParameters(matmul, product) {
  static int idx[sizeof cases / sizeof cases[0]];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}

/* Each epilogue case is one kernel: the elementwise work joined the product. */
Test(matmul, epilogues_fuse_into_the_product) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (strncmp(cases[i].name, "epilogue_", 9)) continue;
    char out[64], err[4096];
    snprintf(out, sizeof out, "/tmp/gradc-ep-%d.ir", (int)getpid());
    gc_options o = {.path = "t.grad", .source = cases[i].src, .opt_level = 2, .emit = GC_EMIT_IR, .out = out,
                    .inference = true};
    gc_result res;
    cr_assert_eq(gc_compile(&o, &res, err, sizeof err), 0, "%s: %s", cases[i].name, err);
    unlink(out);
    cr_expect_eq(res.nkernels_forward, 1, "%s: %d kernels", cases[i].name, res.nkernels_forward);
  }
}

static void product_case(const Case *c, const char *cpu) {
  char dir[64], err[4096];
  char *so = compile_tmp_for(c->src, dir, cpu);
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s", err);
  gc_options o = {.path = c->name, .source = c->src, .inference = true};
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "%s", err);
  fill(m, g, 1);
  cr_assert_eq(gradc_forward(m), 0);
  gc_graph_eval(g);
  size_t n;
  const float *y = gradc_tensor(m, "y", &n);
  expect_close(c->name, "y", y, gc_graph_tensor(g, "y", NULL), n);
  const float *z = gradc_tensor(m, "z", &n);
  if (z) expect_close(c->name, "z", z, gc_graph_tensor(g, "z", NULL), n);
  gc_graph_free(g);
  gradc_close(m);
  cleanup(dir);
}

ParameterizedTest(int *ci, matmul, product) { product_case(&cases[*ci], NULL); }

/* The same products with 4-float vectors (baseline x86-64): other block and panel
 * widths, transposed packing in 4 x 4 blocks. */
ParameterizedTestParameters(matmul, product_sse) {
  static int idx[sizeof cases / sizeof cases[0]];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}
ParameterizedTest(int *ci, matmul, product_sse) { product_case(&cases[*ci], "x86-64"); }

/* A two-layer net big enough for the packed path: the weight gradients are products
 * with an input transposed (K = the batch), the hidden gradient one with a weight
 * transposed; sum(h @ w2) makes the output gradient a constant operand. (Which product
 * packs: see packs() in compiler/matmul.c.) */
static const char *net =
    "model t\ninput x : f32[40, 300]\nparam w1 : f32[300, 520]\nparam w2 : f32[520, 300]\n"
    "h = tanh(x @ w1)\nloss = sum(h @ w2) / 1000\nminimize loss\n";
/* The weight gradient x^T dy with a short k (the batch, 24): packed, along rows, the
 * update in its epilogue. */
static const char *short_k_net =
    "model t\ninput x : f32[24, 700]\nparam w1 : f32[700, 130]\n"
    "loss = sum(tanh(x @ w1)) / 1000\nminimize loss\n";

/* fused: one train step with SGD under momentum mu and weight decay wd (the first step:
 * the momentum buffer starts at zero, so p -= lr (g + wd p)); else backward twice. */
static void train_case(const char *net, int nparams, bool fused, float mu, float wd) {
  char dir[64], err[4096];
  char *so = compile_tmp(net, dir);
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s", err);
  gc_options o = {.path = "net", .source = net};
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "%s", err);
  fill(m, g, 2);
  gc_graph_eval(g);
  const char *names[] = {"w1", "w2"};
  if (!fused) {
    gradc_zero_grad(m);
    cr_assert_eq(gradc_backward(m), 0);
    cr_assert_eq(gradc_backward(m), 0); /* accumulation: twice the gradient */
    for (int i = 0; i < nparams; i++) {
      size_t n;
      const double *s = gc_graph_grad(g, names[i], &n);
      double *twice = malloc(n * sizeof *twice);
      for (size_t k = 0; k < n; k++) twice[k] = 2 * s[k];
      expect_close("backward twice", names[i], gradc_grad(m, names[i], NULL), twice, n);
      free(twice);
    }
  } else {
    float lr = 0.5f;
    gradc_set_optimizer(m, mu, wd);
    cr_assert_eq(gradc_train_step(m, lr), 0);
    for (int i = 0; i < nparams; i++) {
      size_t n;
      const double *s = gc_graph_grad(g, names[i], &n);
      double *p = gc_graph_tensor(g, names[i], NULL), *want = malloc(n * sizeof *want);
      expect_close("train step gradient", names[i], gradc_grad(m, names[i], NULL), s, n);
      for (size_t k = 0; k < n; k++) want[k] = p[k] - lr * (s[k] + wd * p[k]);
      expect_close("train step update", names[i], gradc_tensor(m, names[i], NULL), want, n);
      free(want);
    }
  }
  gc_graph_free(g);
  gradc_close(m);
  cleanup(dir);
}

Test(matmul, gradients_accumulate) { train_case(net, 2, false, 0, 0); }
Test(matmul, train_step_updates) { train_case(net, 2, true, 0, 0); }
Test(matmul, short_k_gradients_accumulate) { train_case(short_k_net, 1, false, 0, 0); }
/* plain SGD: straight-line updates on the registers; with momentum or weight decay the
 * general epilogue (sgd_block in compiler/matmul.c) */
Test(matmul, short_k_train_step_updates) { train_case(short_k_net, 1, true, 0, 0); }
Test(matmul, short_k_train_step_momentum_and_decay) { train_case(short_k_net, 1, true, 0.9f, 0.01f); }
Test(matmul, short_k_train_step_momentum_only) { train_case(short_k_net, 1, true, 0.9f, 0); }
Test(matmul, short_k_train_step_decay_only) { train_case(short_k_net, 1, true, 0, 0.01f); }
Test(matmul, train_step_momentum_and_decay) { train_case(net, 2, true, 0.9f, 0.01f); }

/* A large product is a function of its own, optimised by the short pipeline for hand-
 * vectorised kernels (emit.c): in the emitted IR its accumulators and loop counters
 * are registers, its multiply-adds are there, and no function keeps the optnone that
 * kept each pipeline off the other's functions. */
Test(matmul, large_products_get_their_own_pipeline) {
  char out[64];
  snprintf(out, sizeof out, "/tmp/gradc-mm-llvm-%d.ll", (int)getpid());
  gc_options o = {.path = "net", .source = net, .opt_level = 2, .emit = GC_EMIT_LLVM, .out = out};
  static char text[1 << 22];
  compiled_text(&o, text, sizeof text);
  cr_expect_null(strstr(text, "optnone"), "a function kept optnone");
  int products = 0;
  for (char *d = text; (d = strstr(d, "\ndefine ")); d++) {
    char *end = strstr(d, "\n}\n"), *name = strchr(d, '@'), *paren = strchr(d, '(');
    cr_assert(end && name && paren);
    if (paren - name < 8 || strncmp(paren - 7, "_matmul", 7)) continue; /* NAME_kI_matmul(...) */
    products++;
    *end = 0;
    /* (the epilogue's tile of C, an array indexed in a loop, stays in memory) */
    cr_expect(!strstr(d, "alloca <") && !strstr(d, "alloca i") && !strstr(d, "alloca float"),
              "%.60s: an accumulator or loop counter left on the stack", name);
    cr_expect(strstr(d, "llvm.fmuladd.v"), "%.60s: no vector multiply-add", name);
    *end = '\n';
  }
  cr_expect_geq(products, 3, "%d product functions", products); /* forward x @ w1, h @ w2; the gradients */
}
