/* test_grad.c — every operator of the language, forward and backward.
 *
 * For each case of the table (a small model; most are `y = EXPR, loss = sum(y * r)`
 * with a random input r so that every element of dloss/dy differs):
 *   (a) the reference evaluator's symbolic gradient (gc_graph_grad) equals central
 *       finite differences of its loss (gc_graph_loss), in float64;
 *   (b) the compiled shared object (gc_compile at -O2 or -O0, alternately; opened with the runtime) gives
 *       the evaluator's loss, outputs and gradients within float32 tolerance, through
 *       both entry points (forward, and backward from zeroed gradients);
 *   (c) a second backward without zero_grad doubles every gradient (accumulation).
 * Then: frozen parameters (keyword and gc_options.freeze), detach, inputs, and the
 * subgradients PyTorch picks at kinks and ties, on the compiled code with exact values. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/opcheck.c"
#include <setjmp.h>
#include "autodiff.h"
#include "build.h"
#include "opinfo.h"
#include "support/grad_cases.h"

/* ---------------------------------------------------------------- helpers */

static double draw(uint64_t *s, Domain d) {
  switch (d) {
  case D_POS: return oc_unif(s, 0.5, 2.0);
  case D_AWAY: return (oc_next(s) & 1 ? -1 : 1) * oc_unif(s, 0.3, 1.5);
  case D_WIDE: return oc_unif(s, -4, 4);
  default: return oc_unif(s, -1.5, 1.5);
  }
}

static gc_graph *graph_of(const char *src, const char *const *freeze, int nfreeze) {
  char err[4096];
  gc_options o = {0};
  o.path = "t.grad";
  o.source = src;
  o.freeze = freeze;
  o.nfreeze = nfreeze;
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert(g, "gc_graph_build failed:\n%s\n%s", src, err);
  return g;
}

/* Optimisation level of the compiled code: -O2 (the default of `gradc compile`) unless
 * a table case asks for -O0 (every other case does, so both the unoptimised lowering
 * and the optimised, vectorised code are exercised, at half the compile time). */
static int opt_level = 2;

static void open_model(oc_model *om, const char *src, const char *const *freeze, int nfreeze) {
  char err[4096];
  int rc = oc_open(om, src, freeze, nfreeze, opt_level, err, sizeof err);
  cr_assert_eq(rc, 0, "compile/open failed (%d):\n%s\n%s", rc, src, err);
}

/* Sets every input and param of the compiled model and of the evaluator to the same
 * (float-representable) values drawn from `dom`. */
static void set_values(oc_model *om, gc_graph *g, Domain dom, int classes, uint64_t seed) {
  size_t nt = gradc_num_tensors(om->m);
  for (size_t i = 0; i < nt; i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om->m, i);
    if (ti->role == GRADC_ROLE_OUTPUT) continue;
    size_t cc = 0, gc = 0;
    void *cbuf = gradc_tensor(om->m, ti->name, &cc);
    double *gbuf = gc_graph_tensor(g, ti->name, &gc);
    cr_assert(cbuf && gbuf, "tensor '%s' missing (compiled %p, evaluator %p)", ti->name, cbuf, (void *)gbuf);
    cr_assert_eq(cc, gc, "tensor '%s': %zu elements compiled, %zu in the evaluator", ti->name, cc, gc);
    for (size_t k = 0; k < cc; k++) {
      if (ti->dtype == GRADC_I32) {
        int32_t v = classes > 0 ? (int32_t)(oc_next(&seed) % (uint64_t)classes) : 0;
        ((int32_t *)cbuf)[k] = v;
        gbuf[k] = v;
      } else {
        double v;
        if (ti->buffer) v = oc_unif(&seed, 0.5, 2); /* running statistics: a variance is positive */
        else if (ti->role == GRADC_ROLE_PARAM) v = draw(&seed, dom);
        else if (!strcmp(ti->name, "t")) v = oc_unif(&seed, 0, 1); /* targets */
        else v = oc_unif(&seed, -1, 1);
        float f = (float)v;
        ((float *)cbuf)[k] = f;
        gbuf[k] = f;
      }
    }
  }
}

static double max_abs(const double *r, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(r[i]));
  return m;
}

/* Compiled float32 values against the float64 reference: |c - r| <= rtol |r| +
 * atol max(1, max|r|). Reports the worst element. */
static void expect_close_f(const char *cname, const char *what, const float *c, const double *r, size_t n,
                           double rtol, double atol) {
  double scale = fmax(1.0, max_abs(r, n)), worst = 0;
  size_t wi = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)c[i] - r[i]), tol = rtol * fabs(r[i]) + atol * scale;
    if (!(err <= tol)) {
      if (!bad || err > worst) worst = err, wi = i;
      bad++;
    }
  }
  cr_expect_eq(bad, 0, "[%s] %s: %d of %zu elements differ; worst [%zu]: compiled %.9g, reference %.12g", cname,
               what, bad, n, wi, bad ? (double)c[wi] : 0.0, bad ? r[wi] : 0.0);
}

/* The trainable params' names of the compiled model. */
static int trainable_params(oc_model *om, const char **names, int max) {
  int n = 0;
  for (size_t i = 0; i < gradc_num_tensors(om->m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om->m, i);
    if (ti->role == GRADC_ROLE_PARAM && ti->trainable && n < max) names[n++] = ti->name;
  }
  return n;
}

/* d loss / d param by central differences of the evaluator's loss. */
static double *fd_grad(gc_graph *g, const char *param, size_t *count) {
  size_t n = 0;
  double *p = gc_graph_tensor(g, param, &n);
  cr_assert(p, "no param '%s' in the evaluator", param);
  double *out = calloc(n ? n : 1, sizeof *out);
  for (size_t k = 0; k < n; k++) {
    double v = p[k], h = 1e-6 * fmax(1.0, fabs(v));
    p[k] = v + h;
    gc_graph_eval(g);
    double lp = gc_graph_loss(g);
    p[k] = v - h;
    gc_graph_eval(g);
    double lm = gc_graph_loss(g);
    p[k] = v;
    out[k] = (lp - lm) / (2 * h);
  }
  gc_graph_eval(g);
  *count = n;
  return out;
}

/* The evaluator's symbolic gradient, copied (zeros where autodiff found no path). */
static double *sym_grad(gc_graph *g, const char *param, size_t n) {
  double *out = calloc(n ? n : 1, sizeof *out);
  size_t gn = 0;
  const double *s = gc_graph_grad(g, param, &gn);
  if (s) {
    cr_assert_eq(gn, n, "gradient of '%s' has %zu elements, the param %zu", param, gn, n);
    memcpy(out, s, n * sizeof *out);
  }
  return out;
}

/* Symbolic vs finite differences: |g - fd| <= 1e-6 |fd| + 1e-7 (1 + |loss| + max|fd|). */
static void expect_fd_match(const char *cname, const char *param, const double *sym, const double *fd, size_t n,
                            double loss) {
  double floor_ = 1e-7 * (1 + fabs(loss) + max_abs(fd, n));
  for (size_t k = 0; k < n; k++) {
    double err = fabs(sym[k] - fd[k]);
    cr_expect(err <= 1e-6 * fabs(fd[k]) + floor_,
              "[%s] d loss / d %s[%zu]: symbolic %.12g, finite differences %.12g (err %.3g)", cname, param, k, sym[k],
              fd[k], err);
    if (!(err <= 1e-6 * fabs(fd[k]) + floor_)) break;
  }
}

/* ---------------------------------------------------------------- the table test */

/* The compiled loss and outputs equal the evaluator's after the forward entry (pass 0)
 * or a backward from zeroed gradients (pass 1); the outputs are poisoned first. */
static void compare_entry(const char *tag, oc_model *om, gc_graph *g, double loss, int pass) {
  for (size_t i = 0; i < gradc_num_tensors(om->m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om->m, i);
    if (ti->role != GRADC_ROLE_OUTPUT) continue;
    float *o = gradc_tensor(om->m, ti->name, NULL);
    for (size_t k = 0; k < ti->count; k++)
      if (ti->dtype == GRADC_I32) ((int32_t *)o)[k] = -1;
      else o[k] = NAN;
  }
  if (pass == 0) {
    cr_assert_eq(gradc_forward(om->m), 0, "[%s] forward: %s", tag, gradc_error(om->m));
  } else {
    gradc_zero_grad(om->m);
    cr_assert_eq(gradc_backward(om->m), 0, "[%s] backward: %s", tag, gradc_error(om->m));
  }
  const char *ent = pass ? "backward" : "forward";
  char what[128];
  float lc = gradc_loss(om->m);
  snprintf(what, sizeof what, "loss (%s)", ent);
  expect_close_f(tag, what, &lc, &loss, 1, 1e-4, 1e-5);
  for (size_t i = 0; i < gradc_num_tensors(om->m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om->m, i);
    if (ti->role != GRADC_ROLE_OUTPUT) continue;
    size_t n = 0;
    double *r = gc_graph_tensor(g, ti->name, &n);
    cr_assert(r && n == ti->count, "[%s] output '%s' missing in the evaluator", tag, ti->name);
    snprintf(what, sizeof what, "output %s (%s)", ti->name, ent);
    if (ti->dtype == GRADC_I32) { /* indices (argmax): exactly the evaluator's */
      const int32_t *o = gradc_tensor(om->m, ti->name, NULL);
      for (size_t k = 0; k < n; k++)
        cr_expect_eq(o[k], (int32_t)r[k], "[%s] %s[%zu] = %d, the evaluator's %g", tag, what, k, o[k], r[k]);
      continue;
    }
    expect_close_f(tag, what, gradc_tensor(om->m, ti->name, NULL), r, n, 1e-4, 1e-5);
  }
}

/* After a second backward without zero_grad, every gradient is twice the first (up to
 * float rounding at the scale of the tensor: a kernel may add its partial sums straight
 * into the gradient buffer). */
static void expect_doubled(const char *tag, const char *param, const float *gr, const float *first, size_t n) {
  double scale = 0;
  for (size_t k = 0; k < n; k++) scale = fmax(scale, 2.0 * fabs(first[k]));
  for (size_t k = 0; k < n; k++) {
    double want = 2.0 * first[k], err = fabs(gr[k] - want), tol = 1e-5 * fabs(want) + 1e-6 * fmax(1.0, scale);
    cr_expect(err <= tol, "[%s] accumulation: grad %s[%zu] after two backwards %.9g, twice the first %.9g", tag, param,
              k, (double)gr[k], want);
    if (!(err <= tol)) break;
  }
}


/* The parameters are case indices: Criterion may run each test in a fresh image of the
 * executable (address randomisation), so they must not hold pointers. */
static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(grad, ops) {
  int *idx = cr_malloc(sizeof(int) * NCASES);
  for (size_t i = 0; i < NCASES; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, NCASES, free_params);
}

ParameterizedTest(int *ci, grad, ops) {
  const Case *c = &cases[*ci];
  opt_level = !strncmp(c->name, "big_", 4) || *ci % 2 == 0 ? 2 : 0;
  char tag[96];
  snprintf(tag, sizeof tag, "%s -O%d", c->name, opt_level);
  oc_model om;
  open_model(&om, c->src, NULL, 0);
  gc_graph *g = graph_of(c->src, NULL, 0);
  set_values(&om, g, c->dom, c->classes, oc_hash(c->name));
  gc_graph_set_seed(g, gradc_step_seed(om.m)); /* dropout: the masks of the runtime's next step */
  gc_graph_eval(g);
  double loss = gc_graph_loss(g);
  cr_assert(isfinite(loss), "[%s] reference loss %g", tag, loss);

  const char *params[16];
  int np = trainable_params(&om, params, 16);
  cr_assert(np > 0, "[%s] no trainable params", tag);
  double *ref[16];
  size_t cnt[16];
  for (int i = 0; i < np; i++) {
    gradc_grad(om.m, params[i], &cnt[i]);
    ref[i] = sym_grad(g, params[i], cnt[i]);
  }

  /* (a) symbolic gradient == finite differences of the loss, float64 */
  if (!c->no_fd)
    for (int i = 0; i < np; i++) {
      size_t n;
      double *fd = fd_grad(g, params[i], &n);
      cr_assert_eq(n, cnt[i]);
      expect_fd_match(tag, params[i], ref[i], fd, n, loss);
      free(fd);
    }

  /* (b) compiled code == evaluator: forward entry, then backward from zeroed grads */
  /* The evaluator builds the training-mode graph. A model whose modes differ has a
   * forward entry in eval mode: dropout_* cases (no masks) and models with buffers
   * (batch_norm; test_torch_ops compares its eval mode with PyTorch's); only their
   * backward entry is compared */
  bool modes_differ = !strncmp(c->name, "dropout", 7);
  for (size_t i = 0; i < gradc_num_tensors(om.m); i++) modes_differ |= gradc_tensor_at(om.m, i)->buffer != 0;
  for (int pass = modes_differ; pass < 2; pass++) compare_entry(tag, &om, g, loss, pass);
  float *first[16];
  for (int i = 0; i < np; i++) {
    size_t n = 0;
    float *gr = gradc_grad(om.m, params[i], &n);
    cr_assert(gr && n == cnt[i], "[%s] no compiled gradient for '%s'", tag, params[i]);
    char what[128];
    snprintf(what, sizeof what, "grad %s", params[i]);
    expect_close_f(tag, what, gr, ref[i], n, 1e-4, 1e-5);
    first[i] = malloc(n * sizeof(float) + 1);
    memcpy(first[i], gr, n * sizeof(float));
  }

  /* (c) a second backward without zero_grad accumulates */
  cr_assert_eq(gradc_backward(om.m), 0);
  for (int i = 0; i < np; i++) {
    expect_doubled(tag, params[i], gradc_grad(om.m, params[i], NULL), first[i], cnt[i]);
    free(first[i]);
    free(ref[i]);
  }
  gc_graph_free(g);
  oc_close(&om);
}

/* ---------------------------------------------------------------- frozen params, inputs */

static const char *frozen_src =
    "model t\ninput x : f32[4]\nparam w : f32[4,3] = randn frozen\nparam b : f32[3] = randn\n"
    "z = x @ w + b\nloss = sum(tanh(z) * z)\noutput z\nminimize loss\n";
static const char *unfrozen_src =
    "model t\ninput x : f32[4]\nparam w : f32[4,3] = randn\nparam b : f32[3] = randn\n"
    "z = x @ w + b\nloss = sum(tanh(z) * z)\noutput z\nminimize loss\n";

static void check_frozen(const char *src, const char *const *freeze, int nfreeze) {
  oc_model om;
  open_model(&om, src, freeze, nfreeze);
  gc_graph *g = graph_of(src, freeze, nfreeze);
  set_values(&om, g, D_ANY, 0, 42);
  gc_graph_eval(g);

  /* the evaluator: no gradient for w; b's symbolic gradient matches FD */
  cr_expect_null(gc_graph_grad(g, "w", NULL), "the evaluator has a gradient for frozen w");
  size_t nb = 0;
  const double *gb = gc_graph_grad(g, "b", &nb);
  cr_assert(gb && nb == 3, "no gradient for b");
  double symb[3];
  memcpy(symb, gb, sizeof symb);
  size_t n;
  double *fd = fd_grad(g, "b", &n);
  expect_fd_match("frozen", "b", symb, fd, n, gc_graph_loss(g));
  free(fd);

  /* the compiled model: w is not trainable, has no grad buffer, no grad argument */
  for (size_t i = 0; i < gradc_num_tensors(om.m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om.m, i);
    if (!strcmp(ti->name, "w")) cr_expect_eq(ti->trainable, 0, "frozen w is marked trainable");
    if (!strcmp(ti->name, "b")) cr_expect_eq(ti->trainable, 1, "b is not marked trainable");
  }
  cr_expect_null(gradc_grad(om.m, "w", NULL), "the runtime has a gradient buffer for frozen w");
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:w"), 0, "the backward entry has an argument grad:w");
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:b"), 1, "the backward entry lacks grad:b");
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "param:w"), 1, "the backward entry lacks param:w");
  gradc_zero_grad(om.m);
  cr_assert_eq(gradc_backward(om.m), 0, "%s", gradc_error(om.m));
  expect_close_f("frozen", "grad b", gradc_grad(om.m, "b", NULL), symb, 3, 1e-4, 1e-5);

  /* never updated: an SGD step moves b, not w */
  float w0[12], b0[3];
  memcpy(w0, gradc_tensor(om.m, "w", NULL), sizeof w0);
  memcpy(b0, gradc_tensor(om.m, "b", NULL), sizeof b0);
  cr_assert_eq(gradc_train_step(om.m, 0.5f), 0, "%s", gradc_error(om.m));
  cr_expect(!memcmp(w0, gradc_tensor(om.m, "w", NULL), sizeof w0), "an SGD step changed frozen w");
  cr_expect(memcmp(b0, gradc_tensor(om.m, "b", NULL), sizeof b0), "an SGD step left b unchanged");
  gc_graph_free(g);
  oc_close(&om);
}

Test(grad, frozen_keyword) { check_frozen(frozen_src, NULL, 0); }

Test(grad, frozen_option) {
  static const char *const fz[] = {"w"};
  check_frozen(unfrozen_src, fz, 1);
}

/* Without freezing, the same model has both gradients (the frozen tests are not vacuous). */
Test(grad, unfrozen_control) {
  oc_model om;
  open_model(&om, unfrozen_src, NULL, 0);
  cr_expect_not_null(gradc_grad(om.m, "w", NULL));
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:w"), 1);
  gc_graph *g = graph_of(unfrozen_src, NULL, 0);
  set_values(&om, g, D_ANY, 0, 42);
  gc_graph_eval(g);
  cr_expect_not_null(gc_graph_grad(g, "w", NULL));
  gc_graph_free(g);
  oc_close(&om);
}

/* Inputs never get gradients, even when everything depends on them. */
Test(grad, inputs_have_no_gradient) {
  const char *src = "model t\ninput x : f32[3]\ninput y : f32[3]\nparam a : f32[3] = randn\n"
                    "loss = sum(exp(x) * y * a + x * x)\nminimize loss\n";
  oc_model om;
  open_model(&om, src, NULL, 0);
  cr_expect_null(gradc_grad(om.m, "x", NULL));
  cr_expect_null(gradc_grad(om.m, "y", NULL));
  cr_expect_not_null(gradc_grad(om.m, "a", NULL));
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:x"), 0);
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:y"), 0);
  cr_expect_eq(oc_entry_has_arg(&om, "backward", "grad:a"), 1);
  for (size_t i = 0; i < gradc_num_tensors(om.m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(om.m, i);
    if (ti->role == GRADC_ROLE_INPUT) cr_expect_eq(ti->trainable, 0, "input %s is trainable", ti->name);
  }
  gc_graph *g = graph_of(src, NULL, 0);
  gc_graph_eval(g);
  cr_expect_null(gc_graph_grad(g, "x", NULL));
  cr_expect_null(gc_graph_grad(g, "y", NULL));
  gc_graph_free(g);
  oc_close(&om);
}

/* ---------------------------------------------------------------- detach */

/* y = a * detach(b * b) + tanh(b): the gradient is that of y = a * c + tanh(b) with c an
 * input holding b * b — checked by FD on that second model, symbolically and compiled. */
Test(grad, detach_blocks_gradient) {
  const char *with = "model t\ninput r : f32[2,3]\nparam a : f32[2,3] = randn\nparam b : f32[3] = randn\n"
                     "y = a * detach(b * b) + tanh(b)\nloss = sum(y * r)\noutput y\nminimize loss\n";
  const char *without = "model t\ninput r : f32[2,3]\ninput c : f32[3]\nparam a : f32[2,3] = randn\n"
                        "param b : f32[3] = randn\ny = a * c + tanh(b)\nloss = sum(y * r)\noutput y\nminimize loss\n";
  oc_model om;
  open_model(&om, with, NULL, 0);
  gc_graph *gw = graph_of(with, NULL, 0), *gn = graph_of(without, NULL, 0);
  set_values(&om, gw, D_ANY, 0, 7);
  /* copy r, a, b into the second model; c = b * b */
  const char *names[] = {"r", "a", "b"};
  for (int i = 0; i < 3; i++) {
    size_t n1, n2;
    double *s = gc_graph_tensor(gw, names[i], &n1), *d = gc_graph_tensor(gn, names[i], &n2);
    cr_assert(n1 == n2);
    memcpy(d, s, n1 * sizeof *d);
  }
  double *b = gc_graph_tensor(gn, "b", NULL), *cc = gc_graph_tensor(gn, "c", NULL);
  for (int k = 0; k < 3; k++) cc[k] = b[k] * b[k];
  gc_graph_eval(gw);
  gc_graph_eval(gn);
  cr_expect(fabs(gc_graph_loss(gw) - gc_graph_loss(gn)) < 1e-12, "losses differ: %g vs %g", gc_graph_loss(gw),
            gc_graph_loss(gn));
  gradc_zero_grad(om.m);
  cr_assert_eq(gradc_backward(om.m), 0);
  for (int i = 1; i < 3; i++) {
    size_t n;
    double *fd = fd_grad(gn, names[i], &n);
    double *sw = sym_grad(gw, names[i], n);
    expect_fd_match("detach", names[i], sw, fd, n, gc_graph_loss(gn));
    expect_close_f("detach", names[i], gradc_grad(om.m, names[i], NULL), fd, n, 1e-4, 1e-5);
    free(sw);
    free(fd);
  }
  /* and the detached path does matter to FD of the first model (the test is not vacuous) */
  size_t n;
  double *fdw = fd_grad(gw, "b", &n);
  double *sb = sym_grad(gw, "b", n);
  double diff = 0;
  for (size_t k = 0; k < n; k++) diff = fmax(diff, fabs(fdw[k] - sb[k]));
  cr_expect(diff > 1e-3, "FD through detach equals the detached gradient: the case is vacuous");
  free(fdw);
  free(sb);
  gc_graph_free(gw);
  gc_graph_free(gn);
  oc_close(&om);
}

/* A param reached only through detach gets a zero gradient (or none). */
Test(grad, detach_only_path) {
  const char *src = "model t\ninput r : f32[3]\nparam a : f32[3] = randn\nparam b : f32[3] = randn\n"
                    "y = detach(a * a) * b + detach(exp(a))\nloss = sum(y * r)\noutput y\nminimize loss\n";
  oc_model om;
  open_model(&om, src, NULL, 0);
  gc_graph *g = graph_of(src, NULL, 0);
  set_values(&om, g, D_ANY, 0, 9);
  gc_graph_eval(g);
  const double *ga = gc_graph_grad(g, "a", NULL);
  if (ga)
    for (int k = 0; k < 3; k++) cr_expect_eq(ga[k], 0.0, "evaluator: d/da[%d] = %g through detach", k, ga[k]);
  float *ca = gradc_grad(om.m, "a", NULL);
  cr_assert_not_null(ca, "trainable a has no gradient buffer");
  for (int k = 0; k < 3; k++) ca[k] = 123.0f; /* zero_grad must clear it; backward must add 0 */
  gradc_zero_grad(om.m);
  cr_assert_eq(gradc_backward(om.m), 0);
  for (int k = 0; k < 3; k++) cr_expect_eq(ca[k], 0.0f, "compiled: d/da[%d] = %g through detach", k, (double)ca[k]);
  double *a = gc_graph_tensor(g, "a", NULL), *r = gc_graph_tensor(g, "r", NULL);
  float *cb = gradc_grad(om.m, "b", NULL);
  for (int k = 0; k < 3; k++) {
    double want = a[k] * a[k] * r[k];
    cr_expect(fabs(cb[k] - want) <= 1e-6 * (1 + fabs(want)), "d/db[%d] = %g, want %g", k, (double)cb[k], want);
  }
  gc_graph_free(g);
  oc_close(&om);
}

/* ---------------------------------------------------------------- kinks and ties (exact) */

/* Compiles src, sets params (NULL-terminated name/values lists) and input r = 1, runs
 * backward from zero; returns the model for inspection. */
static void run_exact(oc_model *om, const char *src, const char *const *names, const float *const *vals) {
  open_model(om, src, NULL, 0);
  for (int i = 0; names[i]; i++) {
    size_t n = 0;
    float *p = gradc_tensor(om->m, names[i], &n);
    cr_assert_not_null(p, "no tensor %s", names[i]);
    memcpy(p, vals[i], n * sizeof *p);
  }
  gradc_zero_grad(om->m);
  cr_assert_eq(gradc_backward(om->m), 0, "%s", gradc_error(om->m));
}

static void expect_exact(const char *what, const float *got, const float *want, size_t n) {
  for (size_t k = 0; k < n; k++)
    cr_expect_eq(got[k], want[k], "%s[%zu] = %.9g, want %.9g", what, k, (double)got[k], (double)want[k]);
}

/* The same check on the evaluator (float64, the oracle the other tests trust). */
static void expect_exact_ref(const char *src, const char *const *names, const float *const *vals, const char *param,
                             const float *want, size_t n) {
  gc_graph *g = graph_of(src, NULL, 0);
  for (int i = 0; names[i]; i++) {
    size_t cnt = 0;
    double *p = gc_graph_tensor(g, names[i], &cnt);
    for (size_t k = 0; k < cnt; k++) p[k] = vals[i][k];
  }
  gc_graph_eval(g);
  const double *gr = gc_graph_grad(g, param, NULL);
  cr_assert_not_null(gr);
  for (size_t k = 0; k < n; k++)
    cr_expect_eq(gr[k], (double)want[k], "evaluator d/d%s[%zu] = %.17g, want %g", param, k, gr[k], (double)want[k]);
  gc_graph_free(g);
}

Test(grad, relu_at_zero) {
  const char *src = "model t\nparam a : f32[5]\nloss = sum(relu(a) * 3)\nminimize loss\n";
  static const float a[] = {-1, 0, -0.0f, 0.5f, 2};
  const char *names[] = {"a", NULL};
  const float *vals[] = {a};
  static const float want[] = {0, 0, 0, 3, 3};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d relu", gradc_grad(om.m, "a", NULL), want, 5);
  expect_exact_ref(src, names, vals, "a", want, 5);
  oc_close(&om);
}

Test(grad, abs_at_zero) {
  const char *src = "model t\nparam a : f32[4]\nloss = sum(abs(a) * 2)\nminimize loss\n";
  static const float a[] = {-1.5f, 0, -0.0f, 3};
  const char *names[] = {"a", NULL};
  const float *vals[] = {a};
  static const float want[] = {-2, 0, 0, 2};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d abs", gradc_grad(om.m, "a", NULL), want, 4);
  expect_exact_ref(src, names, vals, "a", want, 4);
  oc_close(&om);
}

/* torch.nn.functional.leaky_relu: slope at 0 (x > 0 ? 1 : slope). */
Test(grad, leaky_relu_at_zero) {
  const char *src = "model t\nparam a : f32[3]\nloss = sum(leaky_relu(a, slope=0.25))\nminimize loss\n";
  static const float a[] = {-1, 0, 1};
  const char *names[] = {"a", NULL};
  const float *vals[] = {a};
  static const float want[] = {0.25f, 0.25f, 1};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d leaky_relu", gradc_grad(om.m, "a", NULL), want, 3);
  expect_exact_ref(src, names, vals, "a", want, 3);
  oc_close(&om);
}

/* torch.maximum / minimum: at a tie each operand gets half the gradient. */
Test(grad, maximum_ties_split) {
  const char *src = "model t\nparam a : f32[3]\nparam b : f32[3]\n"
                    "loss = sum(maximum(a, b) * 4) + sum(minimum(a, b))\nminimize loss\n";
  static const float a[] = {1, 2, 3}, b[] = {1, 5, -3};
  const char *names[] = {"a", "b", NULL};
  const float *vals[] = {a, b};
  /* elem 0 tie: max gives 2 + 2, min 0.5 + 0.5; elem 1: max to b, min to a; elem 2: max to a, min to b */
  static const float wa[] = {2.5f, 1, 4}, wb[] = {2.5f, 4, 1};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d/da", gradc_grad(om.m, "a", NULL), wa, 3);
  expect_exact("d/db", gradc_grad(om.m, "b", NULL), wb, 3);
  expect_exact_ref(src, names, vals, "a", wa, 3);
  expect_exact_ref(src, names, vals, "b", wb, 3);
  oc_close(&om);
}

/* maximum(a, a): half + half = the whole gradient, as torch. */
Test(grad, maximum_self) {
  const char *src = "model t\nparam a : f32[3]\nloss = sum(maximum(a, a) * 2) + sum(minimum(a, a))\nminimize loss\n";
  static const float a[] = {-1, 0, 2};
  const char *names[] = {"a", NULL};
  const float *vals[] = {a};
  static const float want[] = {3, 3, 3};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d/da", gradc_grad(om.m, "a", NULL), want, 3);
  expect_exact_ref(src, names, vals, "a", want, 3);
  oc_close(&om);
}

/* max over ties. With axis=INT, torch.max(x, dim): the first maximum along the axis
 * takes the whole gradient; with a list of axes or none, torch.amax / torch.max(x): the
 * gradient is shared evenly among the maxima. */
Test(grad, max_ties) {
  const char *src = "model t\nparam a : f32[2,4]\nparam c : f32[2,4]\nparam b : f32[6]\n"
                    "loss = sum(max(a, axis=1) * 4) + sum(max(c, axis=[1]) * 4) + max(b) * 3\nminimize loss\n";
  static const float a[] = {1, 1, 1, 1, 0, 2, 2, -1}, b[] = {3, -1, 3, 3, 0, 2};
  const char *names[] = {"a", "c", "b", NULL};
  const float *vals[] = {a, a, b};
  static const float wa[] = {4, 0, 0, 0, 0, 4, 0, 0}, wc[] = {1, 1, 1, 1, 0, 2, 2, 0}, wb[] = {1, 0, 1, 1, 0, 0};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d/da (axis=1)", gradc_grad(om.m, "a", NULL), wa, 8);
  expect_exact("d/dc (axis=[1])", gradc_grad(om.m, "c", NULL), wc, 8);
  expect_exact("d/db (all)", gradc_grad(om.m, "b", NULL), wb, 6);
  float l = gradc_loss(om.m);
  cr_expect_eq(l, 2 * (1 * 4 + 2 * 4) + 9, "loss %g", (double)l);
  expect_exact_ref(src, names, vals, "a", wa, 8);
  expect_exact_ref(src, names, vals, "c", wc, 8);
  expect_exact_ref(src, names, vals, "b", wb, 6);
  oc_close(&om);
}

/* max_pool2d over ties: the first maximum of each window (row-major) takes the gradient
 * (torch). Overlapping windows add up. */
Test(grad, max_pool2d_ties) {
  const char *src = "model t\nparam a : f32[1,1,2,4]\nparam c : f32[1,1,3,3]\n"
                    "loss = sum(max_pool2d(a, 2) * 5) + sum(max_pool2d(c, 2, stride=1))\nminimize loss\n";
  static const float a[] = {7, 7, 1, 2, 7, 7, 2, 2}, c[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const char *names[] = {"a", "c", NULL};
  const float *vals[] = {a, c};
  /* a: window 0 all 7 -> first (0,0); window 1 {1,2,2,2} -> (0,3). c: every window's first is its top-left */
  static const float wa[] = {5, 0, 0, 5, 0, 0, 0, 0}, wc[] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
  oc_model om;
  run_exact(&om, src, names, vals);
  expect_exact("d/da", gradc_grad(om.m, "a", NULL), wa, 8);
  expect_exact("d/dc", gradc_grad(om.m, "c", NULL), wc, 9);
  expect_exact_ref(src, names, vals, "a", wa, 8);
  expect_exact_ref(src, names, vals, "c", wc, 9);
  oc_close(&om);
}

/* max over a list of axes with keepdims, ties across both axes. */
Test(grad, max_ties_multi_axis) {
  const char *src = "model t\nparam a : f32[2,2,2]\nloss = sum(max(a, axis=[0,2], keepdims=true) * 8)\nminimize loss\n";
  static const float a[] = {5, 5, 1, 2, 5, 0, 2, 2};
  const char *names[] = {"a", NULL};
  const float *vals[] = {a};
  /* axis 1 index 0: {5,5,5,0} -> 3 maxima; index 1: {1,2,2,2} -> 3 maxima */
  static const float want[] = {8.0f / 3, 8.0f / 3, 0, 8.0f / 3, 8.0f / 3, 0, 8.0f / 3, 8.0f / 3};
  oc_model om;
  run_exact(&om, src, names, vals);
  float *g = gradc_grad(om.m, "a", NULL);
  for (int k = 0; k < 8; k++)
    cr_expect(fabsf(g[k] - want[k]) <= 1e-6f, "d/da[%d] = %.9g, want %.9g", k, (double)g[k], (double)want[k]);
  oc_close(&om);
}

/* A gradient accumulates onto whatever the buffer holds (not only onto zeros). */
Test(grad, accumulates_onto_existing) {
  const char *src = "model t\nparam a : f32[3,4]\nparam b : f32[4,2]\nloss = sum((a @ b) ** 2)\nminimize loss\n";
  oc_model om;
  open_model(&om, src, NULL, 0);
  uint64_t s = 5;
  float *a = gradc_tensor(om.m, "a", NULL), *b = gradc_tensor(om.m, "b", NULL);
  for (int k = 0; k < 12; k++) a[k] = (float)oc_unif(&s, -1, 1);
  for (int k = 0; k < 8; k++) b[k] = (float)oc_unif(&s, -1, 1);
  gradc_zero_grad(om.m);
  cr_assert_eq(gradc_backward(om.m), 0);
  float ga[12], gb[8];
  memcpy(ga, gradc_grad(om.m, "a", NULL), sizeof ga);
  memcpy(gb, gradc_grad(om.m, "b", NULL), sizeof gb);
  float *pa = gradc_grad(om.m, "a", NULL), *pb = gradc_grad(om.m, "b", NULL);
  for (int k = 0; k < 12; k++) pa[k] = 100.0f + (float)k;
  for (int k = 0; k < 8; k++) pb[k] = -50.0f;
  cr_assert_eq(gradc_backward(om.m), 0);
  for (int k = 0; k < 12; k++)
    cr_expect(fabsf(pa[k] - (100.0f + (float)k + ga[k])) <= 1e-4f, "grad a[%d] = %g, want %g", k, (double)pa[k],
              (double)(100.0f + (float)k + ga[k]));
  for (int k = 0; k < 8; k++)
    cr_expect(fabsf(pb[k] - (-50.0f + gb[k])) <= 1e-4f, "grad b[%d] = %g, want %g", k, (double)pb[k],
              (double)(-50.0f + gb[k]));
  oc_close(&om);
}

/* Every primitive with a derivative rule (ops.c) has that rule exercised by a case of
 * the table: some case's model has a node of that op that depends on a trainable
 * parameter before autodiff runs. A primitive added with a derivative but no case
 * here fails, by name. */
/* Marks the ops of c's model that depend on a trainable parameter. */
static void mark_differentiated(const Case *c, bool *seen) {
  Arena *a = arena_new();
  Diag *d = ARENA_NEW(a, Diag);
  d->file = c->name;
  d->src = c->src;
  if (setjmp(d->jb)) cr_assert_fail("%s: %s", c->name, d->msg);
  BuildOptions bo = {.training = true}; /* the mode gradients are taken in (dropout draws) */
  Graph *g = build_graph(a, d, parse_program(a, d), &bo);
  bool *dep = calloc((size_t)g->n, sizeof *dep);
  for (int k = 0; k < g->n; k++) { /* topological: inputs first */
    Node *n = g->nodes[k];
    dep[k] = n->op == OP_PARAM && n->trainable;
    for (int j = 0; j < n->nin; j++) dep[k] |= dep[n->in[j]->id];
    if (dep[k]) seen[n->op] = true;
  }
  free(dep);
  arena_free(a);
}

Test(grad, every_derivative_is_tested) {
  bool seen[OP__COUNT] = {0};
  for (size_t i = 0; i < NCASES; i++) mark_differentiated(&cases[i], seen);
  for (int op = 0; op < OP__COUNT; op++)
    cr_expect(!gc_ops[op].grad || seen[op], "no case of support/grad_cases.h differentiates the primitive '%s'", gc_ops[op].name);
}
