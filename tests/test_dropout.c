/* test_dropout.c — dropout and modes (issue 15): the generator and the operator.
 *
 * The generator: Philox4x32-10's known answers (Random123's kat_vectors), the
 * compiler's reference copy (ops_random.c) against the tape's own (tape/ops_dropout.c)
 * on many (seed, salt, index). The operator, on compiled code (through the runtime):
 * the fraction kept within 5 sigma of 1 - p over 10^5 elements and the mean preserved;
 * kept elements scaled by torch's float 1 / (1 - p); the forward entry (eval mode) is
 * the identity; the backward's gradient uses the forward's mask; new masks each step
 * and at each site, the same masks for the same seed; p = 0 and p = 1; and the masks of
 * the compiled code (fused loop, matmul epilogue, rows kernel, odd sizes, -O0 and -O2),
 * the reference evaluator and the tape equal bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/opcheck.c"
#include "gradc/runtime_core.h"
#include "gradc/tape.h"
#include "ops_random.h"

uint32_t tp_philox_u32(uint64_t seed, uint32_t salt, uint32_t index); /* tape/ops_dropout.c */

/* ---------------------------------------------------------------- the generator */

Test(dropout, philox_known_answers) {
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
    uint32_t c[4];
    memcpy(c, kat[k].ctr, sizeof c);
    gc_philox4x32(c, kat[k].key);
    for (int w = 0; w < 4; w++) cr_expect_eq(c[w], kat[k].out[w], "vector %zu word %d: %08x, want %08x", k, w, c[w], kat[k].out[w]);
  }
  cr_expect_eq(tp_philox_u32(0, 0, 0), 0x6627e8d5u);
  cr_expect_eq(gc_dropout_draw(0, 0, 0), 0x6627e8d5u);
}

Test(dropout, compiler_and_tape_generators_agree) {
  uint64_t s = 42;
  for (int k = 0; k < 20000; k++) {
    uint64_t seed = oc_next(&s);
    uint32_t salt = (uint32_t)oc_next(&s), i = (uint32_t)oc_next(&s);
    if (k % 2) salt &= 0xfffff, i &= 0xffff; /* the small values models use */
    cr_assert_eq(gc_dropout_draw(seed, salt, i), tp_philox_u32(seed, salt, i), "seed %llx salt %x index %u",
                 (unsigned long long)seed, salt, i);
  }
}

Test(dropout, threshold_and_scale) {
  cr_expect_eq(gc_dropout_threshold(0.5), 1ull << 31);
  cr_expect_eq(gc_dropout_threshold(0.25), 1ull << 30);
  cr_expect_eq(gc_dropout_threshold(1e-12), 1); /* the smallest p still drops u = 0 */
  cr_expect_eq(gc_dropout_threshold(1 - 1e-12), 1ull << 32);
  cr_expect_eq(gc_dropout_scale(0.5), 2.0f);
  cr_expect_eq(gc_dropout_scale(0.1), 1.0f / 0.9f); /* torch: 1.0f / (float)(1 - p) */
}

Test(dropout, step_seeds_differ_by_step_and_seed) {
  cr_expect_neq(gradc_dropout_seed(1, 0), gradc_dropout_seed(1, 1));
  cr_expect_neq(gradc_dropout_seed(1, 0), gradc_dropout_seed(2, 0));
  cr_expect_eq(gradc_dropout_seed(7, 3), gradc_dropout_seed(7, 3));
}

/* ---------------------------------------------------------------- the operator */

static void open_src(oc_model *om, const char *src, int opt) {
  char err[4096];
  int rc = oc_open(om, src, NULL, 0, opt, err, sizeof err);
  cr_assert_eq(rc, 0, "compile/open failed:\n%s\n%s", src, err);
}

static float *tensor(oc_model *om, const char *name, size_t *n) {
  float *t = gradc_tensor(om->m, name, n);
  cr_assert(t, "no tensor %s", name);
  return t;
}

/* y = dropout(a, p) over N = 400 x 250 elements, a param of ones; loss = sum(y * r). */
#define BIG(p)                                                                                                 \
  "model t\ninput r : f32[400, 250]\nparam a : f32[400, 250] = ones\ny = dropout(a, p=" p ")\n"              \
  "loss = sum(y * r)\noutput y\nminimize loss\n"

static void fill(float *x, size_t n, float v) {
  for (size_t i = 0; i < n; i++) x[i] = v;
}

Test(dropout, statistics_scaling_and_same_mask_in_backward) {
  static const double ps[] = {0.1, 0.5, 0.8};
  static const char *const srcs[] = {BIG("0.1"), BIG("0.5"), BIG("0.8")};
  for (int k = 0; k < 3; k++) {
    oc_model om;
    open_src(&om, srcs[k], 2);
    cr_assert_eq(gradc_init(om.m, 1234), 0);
    size_t n;
    float *r = tensor(&om, "r", &n);
    for (size_t i = 0; i < n; i++) r[i] = 1.0f + (float)(i % 7);
    cr_assert_eq(gradc_backward(om.m), 0, "%s", gradc_error(om.m));
    const float *y = tensor(&om, "y", NULL), *ga = gradc_grad(om.m, "a", NULL);
    double p = ps[k], kept = 0, sum = 0;
    float scale = 1.0f / (float)(1.0 - p);
    for (size_t i = 0; i < n; i++) {
      cr_assert(y[i] == 0 || y[i] == scale, "p %g: y[%zu] = %.9g, neither 0 nor %.9g", p, i, y[i], scale);
      kept += y[i] != 0, sum += y[i];
      /* the gradient through the same mask: dy * keep * scale */
      cr_assert_eq(ga[i], y[i] != 0 ? r[i] * scale : 0.0f, "p %g: grad[%zu] %.9g with y %.9g", p, i, ga[i], y[i]);
    }
    double sd = sqrt(p * (1 - p) / (double)n);
    cr_expect(fabs(kept / (double)n - (1 - p)) < 5 * sd, "p %g: kept %.5f, expected %.5f +- %.5f", p, kept / (double)n,
              1 - p, 5 * sd);
    cr_expect(fabs(sum / (double)n - 1) < 5 * scale * sd, "p %g: mean %.5f, expected 1 +- %.5f", p, sum / (double)n,
              5 * scale * sd);
    /* eval mode: the forward entry is the identity */
    cr_assert_eq(gradc_forward(om.m), 0);
    for (size_t i = 0; i < n; i++) cr_assert_eq(y[i], 1.0f, "forward (eval mode) y[%zu] = %g", i, y[i]);
    oc_close(&om);
  }
}

/* The masks of two backward calls (one per step, as the runtime seeds them). */
static size_t mask_diff(const float *a, const float *b, size_t n) {
  size_t d = 0;
  for (size_t i = 0; i < n; i++) d += (a[i] != 0) != (b[i] != 0);
  return d;
}

Test(dropout, new_masks_each_step_and_site_same_for_same_seed) {
  const char *src = "model t\ninput r : f32[64]\nparam a : f32[64] = ones\ny = dropout(a, p=0.5)\n"
                    "z = dropout(a, p=0.5)\nloss = sum((y + z) * r)\noutput y\noutput z\nminimize loss\n";
  oc_model om;
  open_src(&om, src, 2);
  float y0[64], z0[64], y1[64], again[64];
  cr_assert_eq(gradc_init(om.m, 5), 0);
  cr_assert_eq(gradc_backward(om.m), 0);
  memcpy(y0, tensor(&om, "y", NULL), sizeof y0);
  memcpy(z0, tensor(&om, "z", NULL), sizeof z0);
  cr_expect_gt(mask_diff(y0, z0, 64), 8, "two sites drew the same mask");
  cr_assert_eq(gradc_backward(om.m), 0); /* no step taken: the same step seed */
  cr_expect_eq(mask_diff(y0, tensor(&om, "y", NULL), 64), 0, "one step drew two masks");
  cr_assert_eq(gradc_train_step(om.m, 0.0f), 0); /* step 0's masks, then the step count is 1 */
  cr_expect_eq(mask_diff(y0, tensor(&om, "y", NULL), 64), 0);
  cr_assert_eq(gradc_train_step(om.m, 0.0f), 0);
  memcpy(y1, tensor(&om, "y", NULL), sizeof y1);
  cr_expect_gt(mask_diff(y0, y1, 64), 8, "step 1 drew step 0's mask");
  cr_assert_eq(gradc_init(om.m, 5), 0); /* the same seed again: the same masks */
  cr_assert_eq(gradc_backward(om.m), 0);
  memcpy(again, tensor(&om, "y", NULL), sizeof again);
  cr_expect_eq(mask_diff(y0, again, 64), 0, "seed 5 drew another mask");
  cr_assert_eq(gradc_init(om.m, 6), 0);
  cr_assert_eq(gradc_backward(om.m), 0);
  cr_expect_gt(mask_diff(y0, tensor(&om, "y", NULL), 64), 8, "seeds 5 and 6 drew the same mask");
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "seed"), 1);
  cr_expect_eq(oc_entry_has_arg(&om, "train_step", "seed"), 1);
  cr_expect_eq(oc_entry_has_arg(&om, "forward", "seed"), 0, "the forward entry (eval mode) takes no seed");
  oc_close(&om);
}

Test(dropout, p0_identity_p1_zeros) {
  const char *src = "model t\ninput r : f32[3, 5]\nparam a : f32[3, 5] = ones\ny = dropout(a, p=0)\n"
                    "z = dropout(a * 2, 1)\nloss = sum((y + z) * r)\noutput y\noutput z\nminimize loss\n";
  oc_model om;
  open_src(&om, src, 2);
  cr_assert_eq(gradc_init(om.m, 1), 0);
  size_t n;
  float *r = tensor(&om, "r", &n);
  fill(r, n, 1.0f);
  cr_assert_eq(gradc_backward(om.m), 0);
  const float *y = tensor(&om, "y", NULL), *z = tensor(&om, "z", NULL), *g = gradc_grad(om.m, "a", NULL);
  for (size_t i = 0; i < n; i++) {
    cr_expect_eq(y[i], 1.0f);
    cr_expect_eq(z[i], 0.0f);
    cr_expect_eq(g[i], 1.0f, "p = 1 passes no gradient, p = 0 all of it: grad[%zu] %g", i, (double)g[i]);
  }
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "seed"), 0, "p = 0 and p = 1 draw nothing");
  oc_close(&om);
}

/* ---------------------------------------------------------------- three implementations */

/* The compiled backward's output `y`, the evaluator's (training mode, the same step seed)
 * and the tape's: bit for bit. */
static void expect_same_masks(const char *src, int opt) {
  oc_model om;
  open_src(&om, src, opt);
  cr_assert_eq(gradc_init(om.m, 99), 0);
  char err[4096];
  gc_options o = {0};
  o.path = "t.grad";
  o.source = src;
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "%s", err);
  tape_model *t = tape_open("t.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert(t, "%s", err);
  uint64_t s = 7;
  for (size_t i = 0; i < gradc_num_tensors(om.m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om.m, i);
    if (ti->role == GRADC_ROLE_OUTPUT) continue;
    float *c = gradc_tensor(om.m, ti->name, NULL), *tt = tape_tensor(t, ti->name, NULL);
    double *e = gc_graph_tensor(g, ti->name, NULL);
    for (size_t k = 0; k < ti->count; k++) c[k] = tt[k] = (float)(e[k] = (float)oc_unif(&s, 0.5, 1.5));
  }
  uint64_t seed = gradc_step_seed(om.m);
  gc_graph_set_seed(g, seed);
  tape_set_seed(t, seed);
  cr_assert_eq(gradc_backward(om.m), 0);
  gc_graph_eval(g);
  cr_assert_eq(tape_backward(t), 0, "%s", tape_error(t));
  size_t n, ne, nt;
  const float *c = tensor(&om, "y", &n), *tv = tape_tensor(t, "y", &nt);
  const double *e = gc_graph_tensor(g, "y", &ne);
  cr_assert(n == ne && n == nt);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(c[i] != 0, e[i] != 0, "-O%d y[%zu]: compiled %g, evaluator %g\n%s", opt, i, c[i], e[i], src);
    cr_assert_eq(c[i] != 0, tv[i] != 0, "-O%d y[%zu]: compiled %g, tape %g\n%s", opt, i, c[i], tv[i], src);
    kept += c[i] != 0;
  }
  cr_expect(kept > 0 && kept < n, "-O%d: %zu of %zu kept\n%s", opt, kept, n, src);
  tape_close(t);
  gc_graph_free(g);
  oc_close(&om);
}

#define MODEL(decls, body) "model t\n" decls body "minimize loss\n"

Test(dropout, compiled_evaluator_and_tape_masks_agree) {
  static const char *const srcs[] = {
      /* a fused elementwise loop (odd length: the loop vectoriser's remainder) */
      MODEL("input r : f32[7, 13]\nparam a : f32[7, 13] = ones\n",
            "y = dropout(a * 3, p=0.3)\nloss = sum(y * r)\noutput y\n"),
      /* a matmul epilogue (bias, relu, dropout on the product's block), and its backward */
      MODEL("input x : f32[9, 20]\nparam w : f32[20, 19] = randn\nparam b : f32[19] = zeros\n",
            "y = dropout(relu(x @ w + b), p=0.4)\nloss = sum(y * y)\noutput y\n"),
      /* a rows kernel: dropout of a softmax */
      MODEL("input r : f32[5, 11]\nparam a : f32[5, 11] = randn\n",
            "y = dropout(softmax(a, axis=1), p=0.5)\nloss = sum(y * r)\noutput y\n"),
      /* a 3-D tensor, a second site */
      MODEL("input r : f32[2, 3, 17]\nparam a : f32[2, 3, 17] = randn\n",
            "h = dropout(a, p=0.2)\ny = dropout(h * h, p=0.6)\nloss = sum(y * r)\noutput y\n"),
  };
  for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++) {
    expect_same_masks(srcs[k], 2);
    expect_same_masks(srcs[k], 0);
  }
}

/* ---------------------------------------------------------------- resuming */

/* Four momentum-SGD steps straight, and two, a checkpoint, a fresh model (another
 * initial seed) given the run's seed and the checkpoint, two more: the same weights bit
 * for bit, so the masks continued the same sequence. */
Test(dropout, resume_from_a_checkpoint_continues_the_masks) {
  const char *src = "model t\ninput x : f32[8, 6]\ninput y : f32[8, 2]\nparam w : f32[6, 2] = randn\n"
                    "z = dropout(x, p=0.5) @ w\nloss = mse(z, y)\noutput z\nminimize loss\n";
  oc_model a, b;
  open_src(&a, src, 2);
  open_src(&b, src, 2);
  char path[600];
  snprintf(path, sizeof path, "%s/ck.safetensors", a.dir);
  cr_assert_eq(gradc_init(a.m, 11), 0);
  cr_assert_eq(gradc_set_hyper(a.m, "momentum", 0.9), 0);
  size_t nx, ny;
  float *x = tensor(&a, "x", &nx), *y = tensor(&a, "y", &ny);
  for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 5) - 2.0f;
  for (size_t i = 0; i < ny; i++) y[i] = (float)(i % 3);
  for (int s = 0; s < 2; s++) cr_assert_eq(gradc_train_step(a.m, 0.05f), 0);
  cr_assert_eq(gradc_save_checkpoint(a.m, path, NULL, NULL, 0), 0, "%s", gradc_error(a.m));
  for (int s = 0; s < 2; s++) cr_assert_eq(gradc_train_step(a.m, 0.05f), 0);
  cr_assert_eq(gradc_init(b.m, 12), 0);
  memcpy(tensor(&b, "x", NULL), x, nx * sizeof(float));
  memcpy(tensor(&b, "y", NULL), y, ny * sizeof(float));
  cr_assert_eq(gradc_set_seed(b.m, 11), 0);
  cr_assert_eq(gradc_load_checkpoint(b.m, path), 0, "%s", gradc_error(b.m));
  cr_assert_eq(gradc_optimizer_steps(b.m), 2);
  for (int s = 0; s < 2; s++) cr_assert_eq(gradc_train_step(b.m, 0.05f), 0);
  size_t n;
  const float *wa = tensor(&a, "w", &n), *wb = tensor(&b, "w", NULL);
  for (size_t i = 0; i < n; i++) cr_expect_eq(wa[i], wb[i], "w[%zu]: %.9g straight, %.9g resumed", i, wa[i], wb[i]);
  unlink(path);
  oc_close(&a);
  oc_close(&b);
}
