/* test_tape.c — the dynamic tape baseline (docs/RUNTIME.md, "The tape baseline";
 * include/gradc/tape.h).
 *
 * 1. Every operator against PyTorch 1.13, from the committed fixtures of
 *    tests/fixtures/ops/FAMILY.json (see test_torch_ops.c): open each case's model with
 *    the tape, set inputs and parameters, then tape_forward must give torch's outputs and
 *    loss, tape_backward torch's gradients (|tape - torch| <= abs + rel |torch|, abs 1e-5
 *    and rel 1e-4 unless the case has its own "tol"), and a second tape_backward without
 *    zeroing must double every gradient (the tape accumulates, as torch's .grad does).
 * 2. The shipped models (models/NAME.grad) against the compiler's float64 reference
 *    evaluator (gc_graph_*, an independent implementation: symbolic gradients) on
 *    deterministic pseudo-random values: outputs, loss, gradients, then a few SGD steps.
 * 3. Bad models and bad runs return NULL/-1 with a message, never crash; -D overrides,
 *    frozen parameters, constant INIT.
 * Torch is not needed. One test per fixture family, so a failure names the family. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/fixtures.h"
#include "gradc/compiler.h"
#include "gradc/runtime_core.h" /* gradc_dropout_seed */
#include "gradc/tape.h"

#define FIXTURE_DIR GRADC_SOURCE_DIR "/tests/fixtures/ops"
#define MODELS_DIR GRADC_SOURCE_DIR "/models"
#define DEFAULT_ABS 1e-5
#define DEFAULT_REL 1e-4

/* ---------------------------------------------------------------- helpers */


typedef struct {
  const char *name;
  double abs, rel;
  FxReport r; /* what failed in this case */
} Ctx;


/* Compares got[0..n) with want[0..n) times scale; notes the worst element. */
static void compare(Ctx *c, const char *what, const char *tname, const float *got, size_t n, const double *want,
                    size_t wn, double scale) {
  if (!got) {
    fx_note(&c->r, "\n    %s %s: the tape has no such tensor", what, tname);
    return;
  }
  if (n != wn) {
    fx_note(&c->r, "\n    %s %s: the tape has %zu elements, the reference %zu", what, tname, n, wn);
    return;
  }
  size_t worst = 0, bad = 0;
  double worst_ratio = -1;
  for (size_t k = 0; k < n; k++) {
    double w = want[k] * scale, g = got[k];
    double ratio = !isfinite(w) ? fx_special_ratio(w, g) : isfinite(g) ? fabs(g - w) / (c->abs + c->rel * fabs(w)) : INFINITY;
    if (!(ratio <= 1)) bad++;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = k;
  }
  if (bad)
    fx_note(&c->r, "\n    %s %s[%zu]: tape %.9g, reference %.9g; %zu of %zu elements off", what, tname, worst,
         (double)got[worst], want[worst] * scale, bad, n);
}

static double *json_data(const cJSON *t, size_t *n) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
  *n = (size_t)cJSON_GetArraySize(data);
  double *d = malloc((*n + 1) * sizeof *d);
  const cJSON *v;
  size_t k = 0;
  cJSON_ArrayForEach(v, data) d[k++] = fx_number(v);
  return d;
}

static int set_tensor(Ctx *c, tape_model *m, const char *name, const cJSON *t) {
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  int i32 = cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "i32");
  size_t n = 0, wn;
  void *p = tape_tensor(m, name, &n);
  double *d = json_data(t, &wn);
  int rc = 0;
  if (!p || n != wn) {
    fx_note(&c->r, "\n    tensor %s: the tape has %zu elements, the fixture %zu", name, p ? n : 0, wn);
    rc = -1;
  } else {
    for (size_t k = 0; k < n; k++) {
      if (i32) ((int32_t *)p)[k] = (int32_t)d[k];
      else ((float *)p)[k] = (float)d[k];
    }
  }
  free(d);
  return rc;
}

static void compare_json(Ctx *c, const char *what, const char *tname, const float *got, size_t n, const cJSON *want,
                         double scale) {
  size_t wn;
  double *d = json_data(want, &wn);
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(want, "dtype");
  float *ints = NULL; /* an i32 output (argmax): its integers, as floats (exact) */
  if (got && cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "i32")) {
    ints = malloc(n * sizeof *ints + 1);
    for (size_t k = 0; k < n; k++) ints[k] = (float)((const int32_t *)got)[k];
    got = ints;
  }
  compare(c, what, tname, got, n, d, wn, scale);
  free(ints);
  free(d);
}

static void compare_loss(Ctx *c, const char *what, float got, double want) {
  if (!(fabs((double)got - want) <= c->abs + c->rel * fabs(want)))
    fx_note(&c->r, "\n    %s loss: tape %.9g, reference %.9g", what, (double)got, want);
}

/* ---------------------------------------------------------------- fixtures */

static void run_case(Ctx *c, const cJSON *cs) {
  const char *model = cJSON_GetObjectItemCaseSensitive(cs, "model")->valuestring;
  const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(cs, "outputs");
  const cJSON *grads = cJSON_GetObjectItemCaseSensitive(cs, "grads");
  double loss = cJSON_GetObjectItemCaseSensitive(cs, "loss")->valuedouble;
  char path[256], err[4096];
  snprintf(path, sizeof path, "%s.grad", c->name);
  tape_model *m = tape_open(path, model, NULL, NULL, 0, err, sizeof err);
  if (!m) {
    fx_note(&c->r, "\n    tape_open: %s", err);
    return;
  }
  const cJSON *t;
  int bad = 0;
  cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(cs, "inputs")) bad |= set_tensor(c, m, t->string, t);
  cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(cs, "params")) bad |= set_tensor(c, m, t->string, t);
  if (bad) goto done;
  /* dropout and modes (issue 15): "train" cases are tape_backward's, "eval" ones tape_forward's */
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(cs, "mode"), *seed = cJSON_GetObjectItemCaseSensitive(cs, "seed");
  bool train_only = cJSON_IsString(mode) && !strcmp(mode->valuestring, "train");
  bool eval_only = cJSON_IsString(mode) && !strcmp(mode->valuestring, "eval");
  if (cJSON_IsNumber(seed)) tape_set_seed(m, gradc_dropout_seed((uint64_t)seed->valuedouble, 0));
  if (train_only) goto backward;

  if (tape_forward(m)) {
    fx_note(&c->r, "\n    tape_forward: %s", tape_error(m));
    goto done;
  }
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(cs, "eval"); /* batchnorm: eval-mode forward (issue 15) */
  cJSON_ArrayForEach(t, (ev ? cJSON_GetObjectItemCaseSensitive(ev, "outputs") : outputs)) {
    size_t n = 0;
    float *p = tape_tensor(m, t->string, &n);
    compare_json(c, ev ? "forward (eval mode): output" : "forward: output", t->string, p, n, t, 1);
  }
  compare_loss(c, "forward:", tape_loss(m), ev ? cJSON_GetObjectItemCaseSensitive(ev, "loss")->valuedouble : loss);
  if (eval_only) goto done;

backward:
  for (int pass = 1; pass <= 2; pass++) { /* the second pass accumulates: twice the gradient */
    if (pass == 1) tape_zero_grad(m);
    if (tape_backward(m)) {
      fx_note(&c->r, "\n    tape_backward: %s", tape_error(m));
      goto done;
    }
    const char *what = pass == 1 ? "backward: output" : "second backward: output";
    cJSON_ArrayForEach(t, outputs) {
      size_t n = 0;
      float *p = tape_tensor(m, t->string, &n);
      compare_json(c, what, t->string, p, n, t, 1);
    }
    compare_loss(c, pass == 1 ? "backward:" : "second backward:", tape_loss(m), loss);
    cJSON_ArrayForEach(t, grads) {
      size_t n = 0;
      float *p = tape_grad(m, t->string, &n);
      compare_json(c, pass == 1 ? "grad" : "grad after a second backward (x2)", t->string, p, n, t, pass);
    }
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(cs, "buffers")) { /* running statistics, once */
      size_t n = 0;
      float *p = pass == 1 ? tape_tensor(m, t->string, &n) : NULL;
      if (p) compare_json(c, "after backward (training mode): buffer", t->string, p, n, t, 1);
    }
  }
done:
  tape_close(m);
}

static void run_family(const char *family) {
  const cJSON *cases;
  cJSON *doc = fx_load_family(FIXTURE_DIR, family, &cases);
  int nfail = 0, ncases = 0;
  const cJSON *cs;
  cJSON_ArrayForEach(cs, cases) {
    Ctx c = {.abs = DEFAULT_ABS, .rel = DEFAULT_REL};
    c.name = cJSON_GetObjectItemCaseSensitive(cs, "name")->valuestring;
    fx_tolerance(cs, &c.abs, &c.rel);
    run_case(&c, cs);
    ncases++;
    if (c.r.failed) {
      nfail++;
      cr_expect(0, "[%s] case %s: the tape differs from torch 1.13:%s", family, c.name, c.r.msg);
    }
  }
  cJSON_Delete(doc);
  cr_expect_eq(nfail, 0, "[%s] %d of %d cases differ from torch", family, nfail, ncases);
}

#define FAMILY(f) \
  Test(tape_torch_ops, f, .timeout = 120) { run_family(#f); }
FAMILY(elementwise)
FAMILY(matmul)
FAMILY(shape)
FAMILY(reduce)
FAMILY(nn)
FAMILY(losses)
FAMILY(composite)
FAMILY(reductions)
FAMILY(criteria)
FAMILY(window) /* convolution and pooling (issue 15) */
FAMILY(pointwise)
FAMILY(index)
FAMILY(index2) /* ---- indexing II (issue 15) ---- */
FAMILY(norm) /* normalization and attention (issue 15) */
FAMILY(batchnorm) /* batch norm and buffers (issue 15) */
FAMILY(attn) /* attention (issue 15) */
FAMILY(dropout) /* dropout and modes (issue 15) */

/* ---------------------------------------------------------------- models/ vs the reference evaluator */

static uint64_t rng_state;
static double rnd(void) { /* xorshift64*, uniform in [-1, 1) */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / (double)(1ull << 52) - 1.0;
}

/* Names declared by lines `KEYWORD NAME[, NAME...]` of a model text (input, param, output). */
static int declared(const char *src, const char *keyword, char names[][64], int max) {
  size_t kl = strlen(keyword);
  int n = 0;
  for (const char *p = src; p && *p && n < max; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    while (*p == ' ') p++;
    if (strncmp(p, keyword, kl) || p[kl] != ' ') continue;
    p += kl;
    for (;;) {
      while (*p == ' ' || *p == ',') p++;
      int k = 0;
      while ((p[k] == '_' || (p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z') ||
              (p[k] >= '0' && p[k] <= '9')) && k < 63)
        k++;
      if (!k || n == max) break;
      memcpy(names[n], p, (size_t)k);
      names[n++][k] = 0;
      p += k;
      while (*p == ' ') p++;
      if (*p != ',' || strcmp(keyword, "output")) break;
    }
  }
  return n;
}

/* A model of models/ on the tape and on the reference evaluator, from the same
 * pseudo-random values: loss, outputs and gradients at each of STEPS + 1 SGD steps. */
static void check_model(const char *file, int steps) {
  char path[1024], err[4096];
  snprintf(path, sizeof path, "%s/%s", MODELS_DIR, file);
  char *src = fx_read_text(path);
  cr_assert_not_null(src, "cannot read %s", path);
  tape_model *m = tape_open(path, src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "tape_open %s: %s", file, err);
  gc_options o = {0};
  o.path = path;
  o.source = src;
  o.opt_level = 2;
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  cr_assert_not_null(g, "gc_graph_build %s: %s", file, err);

  char inputs[32][64], params[32][64], outputs[32][64];
  int ni = declared(src, "input", inputs, 32), np = declared(src, "param", params, 32);
  int no = declared(src, "output", outputs, 32);
  rng_state = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < ni + np; i++) {
    const char *name = i < ni ? inputs[i] : params[i - ni];
    size_t n = 0, gn = 0;
    void *p = tape_tensor(m, name, &n);
    double *q = gc_graph_tensor(g, name, &gn);
    cr_assert(p && q && n == gn, "%s: tensor %s: tape %zu elements, reference %zu", file, name, n, gn);
    int64_t classes = i < ni ? gc_graph_label_classes(g, name) : 0;
    for (size_t k = 0; k < n; k++) {
      if (classes > 0) {
        int32_t v = (int32_t)((k * 7 + 3) % (size_t)classes);
        ((int32_t *)p)[k] = v, q[k] = v;
      } else {
        float v = (float)(i < ni ? 8.0 + 8.0 * rnd() : 0.5 * rnd()); /* pixels 0..16, small weights */
        ((float *)p)[k] = v, q[k] = v;
      }
    }
  }
  Ctx c = {.name = file, .abs = 1e-5, .rel = 1e-4};
  for (int step = 0; step <= steps; step++) {
    gc_graph_eval(g);
    tape_zero_grad(m);
    cr_assert_eq(tape_backward(m), 0, "%s: %s", file, tape_error(m));
    char what[64];
    snprintf(what, sizeof what, "step %d:", step);
    compare_loss(&c, what, tape_loss(m), gc_graph_loss(g));
    size_t n = 0, gn = 0;
    for (int i = 0; i < no; i++) {
      float *out = tape_tensor(m, outputs[i], &n);
      double *ref = gc_graph_tensor(g, outputs[i], &gn);
      compare(&c, what, outputs[i], out, n, ref, gn, 1);
    }
    for (int i = 0; i < np; i++) {
      float *gt = tape_grad(m, params[i], &n);
      const double *gr = gc_graph_grad(g, params[i], &gn);
      if (gt && gr) compare(&c, what, params[i], gt, n, gr, gn, 1);
    }
    tape_sgd_step(m, 0.1f); /* and the reference gets the tape's new parameters */
    for (int i = 0; i < np; i++) {
      float *pt = tape_tensor(m, params[i], &n);
      double *pr = gc_graph_tensor(g, params[i], &gn);
      for (size_t k = 0; k < n && k < gn; k++) pr[k] = pt[k];
    }
  }
  cr_expect(!c.r.failed, "%s: the tape differs from the reference evaluator:%s", file, c.r.msg);
  gc_graph_free(g);
  tape_close(m);
  free(src);
}

/* Every model shipped in models/. */
Test(tape_models, every_shipped_model, .timeout = 300) { /* the sanitizer suite runs it several times slower */
  DIR *d = opendir(MODELS_DIR);
  cr_assert_not_null(d, "cannot open %s", MODELS_DIR);
  struct dirent *e;
  int seen = 0;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".grad")) continue;
    check_model(e->d_name, 3);
    seen++;
  }
  closedir(d);
  cr_expect_geq(seen, 3, "expected the shipped models (logreg, digits, digits_cnn) in %s", MODELS_DIR);
}

/* ---------------------------------------------------------------- options, errors */

Test(tape_api, define_overrides_batch) {
  char *src = fx_read_text(MODELS_DIR "/digits.grad");
  const char *names[] = {"N"};
  long long values[] = {4};
  char err[4096];
  tape_model *m = tape_open("digits.grad", src, names, values, 1, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  size_t n = 0;
  cr_expect_not_null(tape_tensor(m, "x", &n));
  cr_expect_eq(n, 4 * 64);
  cr_expect_not_null(tape_tensor(m, "logits", &n));
  cr_expect_eq(n, 4 * 10);
  cr_expect_null(tape_grad(m, "x", &n), "inputs have no gradient");
  cr_expect_eq(tape_backward(m), 0, "%s", tape_error(m));
  cr_expect_float_eq(tape_loss(m), logf(10.0f), 1e-5, "zero parameters: uniform softmax");
  tape_close(m);
  const char *bad[] = {"M"};
  cr_expect_null(tape_open("digits.grad", src, bad, values, 1, err, sizeof err));
  cr_expect(strstr(err, "no dim or batch named 'M'"), "%s", err);
  free(src);
}

Test(tape_api, frozen_and_constant_init) {
  const char *src = "model f\ninput x : f32[3]\nparam a : f32[3] = ones\nparam b : f32[3] = 0.5 frozen\n"
                    "param c : f32[3] = randn\nloss = sum(x * a * b + c)\nminimize loss\n";
  char err[4096];
  tape_model *m = tape_open("f.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  size_t n;
  float *a = tape_tensor(m, "a", &n), *b = tape_tensor(m, "b", &n), *x = tape_tensor(m, "x", &n);
  cr_expect_eq(a[0], 1.0f);
  cr_expect_eq(b[2], 0.5f);
  cr_expect_null(tape_grad(m, "b", &n), "frozen: no gradient");
  for (int i = 0; i < 3; i++) x[i] = (float)(i + 1);
  cr_assert_eq(tape_backward(m), 0, "%s", tape_error(m));
  float *ga = tape_grad(m, "a", &n), *gc = tape_grad(m, "c", &n);
  cr_expect_float_eq(ga[1], 1.0f, 1e-6); /* x * b = 2 * 0.5 */
  cr_expect_float_eq(gc[0], 1.0f, 1e-6);
  tape_sgd_step(m, 0.5f);
  cr_expect_float_eq(a[1], 0.5f, 1e-6);
  cr_expect_eq(b[1], 0.5f, "frozen parameters are never updated");
  tape_zero_grad(m);
  cr_expect_eq(ga[1], 0.0f);
  tape_close(m);
}

/* An i32 output holds integers (int32_t), as the compiled model's. */
Test(tape_api, int_outputs) {
  const char *src = "model m\ninput l : i32[3]\nlab = reshape(l, [3, 1])\noutput lab\n";
  char err[4096];
  tape_model *m = tape_open("m.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  size_t n;
  int32_t *l = tape_tensor(m, "l", &n);
  l[0] = 3, l[1] = -7, l[2] = 2147483647;
  cr_assert_eq(tape_forward(m), 0, "%s", tape_error(m));
  const int32_t *lab = tape_tensor(m, "lab", &n);
  cr_assert_eq(n, 3);
  cr_expect(lab[0] == 3 && lab[1] == -7 && lab[2] == 2147483647, "%d %d %d", lab[0], lab[1], lab[2]);
  tape_close(m);
}

/* Each bad model: tape_open returns NULL with a message containing `want`. */
Test(tape_api, bad_models_are_rejected_with_a_message) {
  static const struct {
    const char *src, *want;
  } cases[] = {
      {"", "empty model"},
      {"model m\ninput x : f32[3]\ny = x +\noutput y\n", "error"},
      {"model m\ninput x : f32[3]\ny = rlu(x)\noutput y\n", "did you mean 'relu'"},
      {"model m\ninput x : f32[3]\ny = xx + 1\noutput y\n", "did you mean 'x'"},
      {"model m\ninput x : f32[3]\ninput z : f32[4]\ny = x + z\noutput y\n", "[3] and [4]"},
      {"model m\ninput x : f32[3, 4]\ninput z : f32[3, 4]\ny = x @ z\noutput y\n", "matrix product"},
      {"model m\ninput x : f32[3]\ny = sum(x, axis=2)\noutput y\n", "out of range"},
      {"model m\ninput x : f32[3]\ny = sum(x, axes=0)\noutput y\n", "did you mean 'axis'"},
      {"model m\ninput x : f32[3]\ny = reshape(x, [2, -1])\noutput y\n", "cannot reshape"},
      {"model m\ninput x : f32[3]\ny = transpose(x)\noutput y\n", "perm"},
      {"model m\ninput x : f32[3]\ny = conv2d(x, x)\noutput y\n", "4-D"},
      {"model m\ninput x : f32[1, 1, 2, 2]\ny = max_pool2d(x, 3)\noutput y\n", "larger than the input"},
      {"model m\ninput x : f32[2, 3]\ninput l : f32[2]\nloss = cross_entropy(x, l)\nminimize loss\n", "i32 labels"},
      {"model m\ninput x : f32[2, 3]\ninput l : i32[2]\ny = l * 2\noutput y\n", "f32 operands"},
      {"model m\ninput x : f32[2, 3]\nminimize x\n", "f32 scalar"},
      /* dropout and modes (issue 15) */
      {"model m\ninput x : f32[3]\ny = dropout(x, -0.1)\noutput y\n", "dropout probability p must be in [0, 1], got -0.1"},
      {"model m\ninput l : i32[3]\ny = dropout(l)\noutput y\n", "f32 operands"},
      /* comparisons and elementwise (issue 15) */
      {"model m\ninput x : f32[3]\ninput z : f32[4]\ny = x ** z\noutput y\n", "[3] and [4]"},
      {"model m\ninput x : f32[3]\ny = x < x <= x\noutput y\n", "do not chain"},
      {"model m\ninput x : f32[3]\ny = !x\noutput y\n", "no logical not"},
      {"model m\ninput x : f32[3]\ninput z : f32[4]\ny = where(x > 0, x, z)\noutput y\n", "[3] and [4]"},
      {"model m\ninput x : f32[3]\ny = clamp(x)\noutput y\n", "min= or max="},
      {"model m\ninput x : f32[2, 3]\nparam w : f32[2]\ny = prelu(x, w)\noutput y\n", "one per channel"},
      {"model m\ninput x : f32[3]\ny = celu(x, alpha=0)\noutput y\n", "alpha cannot be 0"},
      /* ---- normalization and attention (issue 15) */
      {"model m\ninput x : f32[2, 3]\ny = layer_norm(x, 2)\noutput y\n", "trailing sizes of the input [2, 3]"},
      {"model m\ninput x : f32[2, 3]\nparam w : f32[2] = ones\ny = layer_norm(x, 3, w)\noutput y\n", "weight must be f32 [3]"},
      {"model m\ninput x : f32[2, 6]\ny = group_norm(x, 4)\noutput y\n", "do not divide into 4 groups"},
      {"model m\ninput x : f32[2, 6]\nparam b : f32[2] = ones\ny = group_norm(x, 2, bias=b)\noutput y\n", "bias must be f32 [6]"},
      {"model m\ninput x : f32[6]\ny = group_norm(x, 2)\noutput y\n", "[N, C, *]"},
      {"model m\ninput x : f32[2, 3]\ny = layer_norm(x, 3, eps=0)\noutput y\n", "eps must be a number > 0"},
      /* ---- batch norm and buffers (issue 15) */
      {"model m\ninput x : f32[4, 3]\nparam rm : f32[3]\nbuffer rv : f32[3] = ones\ny = batch_norm(x, rm, rv)\noutput y\n",
       "running_mean must be a buffer"},
      {"model m\ninput x : f32[4, 3]\nbuffer rm : f32[3]\nbuffer rv : f32[4] = ones\ny = batch_norm(x, rm, rv)\noutput y\n",
       "running_var must be f32 [3]"},
      {"model m\ninput x : f32[3]\nbuffer rm : f32[3]\nbuffer rv : f32[3] = ones\ny = batch_norm(x, rm, rv)\noutput y\n",
       "[N, C, *]"},
      {"model m\ninput x : f32[4, 3]\nbuffer rm : f32[3]\nbuffer rv : f32[3] = ones\ny = batch_norm(x, rm, rv, momentum=none)\noutput y\n",
       "momentum=none"},
      {"model m\ninput x : f32[4, 3]\nbuffer rm : f32[3]\nbuffer rv : f32[3] = ones\ny = batch_norm(x, rm, rv, momentum=2)\noutput y\n",
       "momentum must be in [0, 1]"},
      /* ---- attention (issue 15) */
      {"model m\ninput x : f32[5]\ny = triu(x)\noutput y\n", "triu needs an f32 tensor of at least 2 dimensions"},
      {"model m\ninput q : f32[2, 4]\ninput k : f32[3, 4]\ninput v : f32[2, 4]\ny = scaled_dot_product_attention(q, k, v)\noutput y\n",
       "must have the same number of keys (S)"},
      {"model m\ninput q : f32[2, 2, 4]\ninput k : f32[3, 2, 4]\ny = scaled_dot_product_attention(q, k, k)\noutput y\n",
       "leading (batch) axes"},
      {"model m\ninput x : f32[2, 3]\ny = masked_fill(x, x > 0, x)\noutput y\n", "the value must be a number"},
      {"model m\ninput x : f32[3]\ny = round(x, decimals=0.5)\noutput y\n", "decimals must be an integer"},
      {"model m\ninput x : f32[3]\ny = hardtanh(x, min_val=x)\noutput y\n", "constant number"},
      {"model m\ninput l : i32[3]\ny = l == 2\noutput y\n", "'==' needs f32"},
      {"model m\ninput x : f32[3]\ny = exp(x)\ny = x\noutput y\n", "already defined"},
      {"model m\ninput x : f32[3]\noutput y\ny = x\n", "unknown name 'y'"},
      {"model m\nparam w : i32[3]\noutput w\n", "must be f32"},
      {"model m\ninput x : f32[K]\noutput x\n", "unknown dim"},
      {"model m\nparam w : f32[3] = gauss\noutput w\n", "unknown initialiser"},
      {"model m\ninput x : f32[3]\n", "computes nothing"},
      {"model m\ninput x : f32[3]\ny = x\noutput y, y\n", "already an output"},
      /* reductions and losses (issue 15) */
      {"model m\ninput x : f32[3]\ni = argmax(x)\nminimize i\n", "the loss 'i' is i32"},
      {"model m\ninput x : f32[3]\ny = prod(x, axis=1)\noutput y\n", "axis 1 is out of range"},
      {"model m\ninput x : f32[2, 3]\ninput l : i32[2]\ny = nll_loss(x, l, reduction=\"mean \")\noutput y\n",
       "did you mean \"mean\"?"},
      {"model m\ninput x : f32[2, 3]\ninput l : i32[2]\ny = cross_entropy(x, l, weight=x)\noutput y\n",
       "class weight must be f32 [3]"},
      /* ---- indexing and assembling (issue 15) ---- */
      {"model m\ninput a : f32[2, 3]\ninput b : f32[3, 3]\ny = concat([a, b], axis=1)\noutput y\n", "tensor 2"},
      {"model m\ninput a : f32[2, 3]\ny = cat(a)\noutput y\n", "list of tensors"},
      {"model m\ninput a : f32[2, 3]\ninput b : f32[2, 4]\ny = stack([a, b])\noutput y\n", "[2, 4]"},
      {"model m\ninput a : f32[2, 5]\ny = narrow(a, 1, 3, 4)\noutput y\n", "does not fit"},
      {"model m\ninput a : f32[2, 5]\ny = unsqueeze(a, 4)\noutput y\n", "out of range"},
      {"model m\ninput a : f32[3, 2]\ny = expand(a, [3, 4])\noutput y\n", "expand"},
      {"model m\ninput a : f32[3, 2]\ny = repeat(a, [2])\noutput y\n", "repeat"},
      {"model m\ninput a : f32[3, 2]\ny = pad(a, [1, 2, 3])\noutput y\n", "pairs"},
      {"model m\ninput a : f32[3, 2]\ny = pad(a, [-1, -1])\noutput y\n", "leave nothing"},
      /* ---- indexing II (issue 15) ---- */
      {"model m\ninput x : f32[3]\nparam t : f32[5, 2]\ny = embedding(x, t)\noutput y\n", "i32 ids"},
      {"model m\ninput ix : i32[3]\nparam a : f32[3, 4]\ny = gather(a, 1, ix)\noutput y\n", "does not fit"},
      {"model m\ninput ids : i32[3]\ny = one_hot(ids, 0)\noutput y\n", "num_classes"},
      {"model m\ninput a : f32[3, 2]\ny = a[0, 1, 0]\noutput y\n", "too many indices"},
      {"model m\ninput a : f32[3, 2]\ny = a[1:, -3]\noutput y\n", "out of range"},
      {"model m\ninput a : f32[3, 2]\ny = a[::0]\noutput y\n", "step cannot be zero"},
      {"model m\ninput a : f32[3, 2]\np, q = split(a, 1)\noutput p\n", "split gives 3 tensors, 2 names"},
      {"model m\ninput a : f32[3, 2]\ny = chunk(a, 3)\noutput y\n", "chunk gives 3 tensors, 1 name"},
      {"model m\ninput a : f32[2, 3]\ny = pad(a, [1, 3], mode=\"reflect\")\noutput y\n", "reflect"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[4096] = "";
    tape_model *m = tape_open("bad.grad", cases[i].src, NULL, NULL, 0, err, sizeof err);
    cr_expect_null(m, "case %zu should be rejected:\n%s", i, cases[i].src);
    if (m) tape_close(m);
    cr_expect(strstr(err, cases[i].want) != NULL, "case %zu: message lacks '%s':\n%s", i, cases[i].want, err);
    cr_expect(strstr(err, "bad.grad") != NULL, "case %zu: message lacks the file name:\n%s", i, err);
  }
}

Test(tape_api, bad_runs_fail_cleanly) {
  const char *src = "model m\ninput x : f32[2, 3]\ninput l : i32[2]\nparam w : f32[3, 3]\n"
                    "loss = cross_entropy(x @ w, l)\noutput loss\nminimize loss\n";
  char err[4096];
  tape_model *m = tape_open("m.grad", src, NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  size_t n;
  int32_t *l = tape_tensor(m, "l", &n);
  l[1] = 7;
  cr_expect_eq(tape_forward(m), -1);
  cr_expect(strstr(tape_error(m), "out of range"), "%s", tape_error(m));
  cr_expect_eq(tape_backward(m), -1);
  l[1] = 2;
  cr_expect_eq(tape_backward(m), 0, "%s", tape_error(m));
  cr_expect_float_eq(tape_loss(m), logf(3.0f), 1e-6);
  tape_close(m);

  m = tape_open("o.grad", "model o\ninput x : f32[3]\ny = exp(x)\noutput y\n", NULL, NULL, 0, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  cr_expect_eq(tape_forward(m), 0);
  cr_expect(isnan(tape_loss(m)));
  cr_expect_eq(tape_backward(m), -1, "no loss: nothing to differentiate");
  cr_expect_null(tape_tensor(m, "nope", &n));
  cr_expect_null(tape_grad(m, "x", &n));
  tape_close(m);
  cr_expect_null(tape_open("/nonexistent/model.grad", NULL, NULL, NULL, 0, err, sizeof err));
}
