/* test_torch_ops.c — every operator of the language against PyTorch 1.13 (the reference
 * semantics of docs/LANGUAGE.md, section 7), from committed fixtures:
 * tests/fixtures/ops/FAMILY.json, written by tools/torch/gen_op_fixtures.py (float32
 * torch on the CPU). Torch is not needed here.
 *
 * For each case of a fixture file: compile the model text (gc_compile at -O2, the
 * driver's default, to a shared object in a fresh temporary directory), open it with the
 * runtime, set every input and parameter to the fixture's values, then
 *   - gradc_forward: the outputs and the loss equal torch's;
 *   - gradc_zero_grad + gradc_backward: the outputs, the loss and every parameter's
 *     gradient equal torch's forward values and .grad.
 * Output shapes must be torch's too. Tolerance per element: |gradc - torch| <= abs +
 * rel * |torch|, with abs 1e-5 and rel 1e-4 unless the case carries its own "tol" (with
 * the reason). A failing case is reported by name with its worst element and the
 * command that reproduces it with the gradc driver.
 *
 * One test per fixture file, so a failure names the operator family; one more test
 * checks that every fixture file in the directory is one of them. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "support/fixtures.h"
#include "gradc/compiler.h"
#include "gradc/runtime.h"

char *mkdtemp(char *tmpl); /* POSIX.1-2008; the tests build with -std=c11 */

#define FIXTURE_DIR GRADC_SOURCE_DIR "/tests/fixtures/ops"
#define DEFAULT_ABS 1e-5
#define DEFAULT_REL 1e-4

static const char *const families[] = {"elementwise", "matmul",    "shape",      "reduce",   "nn",
                                       "losses",      "composite", "reductions", "criteria", "pointwise",
                                       "index" /* issue 15: indexing and assembling */,
                                       "norm" /* issue 15: normalization and attention */,
                                       "window" /* convolution and pooling (issue 15) */,
                                       "batchnorm" /* batch norm and buffers (issue 15) */,
                                       "attn" /* attention (issue 15) */,
                                       "index2" /* ---- indexing II (issue 15) ---- */,
                                       "dropout" /* dropout and modes (issue 15) */};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

/* ---------------------------------------------------------------- helpers */


static const gradc_tensor_info *info_of(gradc_model *m, const char *name) {
  size_t n = gradc_num_tensors(m);
  for (size_t i = 0; i < n; i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (!strcmp(t->name, name)) return t;
  }
  return NULL;
}

/* "[i, j, k]" of flat index k in shape (a JSON array). */
static void index_str(char *buf, size_t len, const cJSON *shape, size_t flat) {
  int rank = cJSON_GetArraySize(shape);
  long long idx[16] = {0};
  for (int d = rank - 1; d >= 0 && d < 16; d--) {
    long long n = (long long)cJSON_GetArrayItem(shape, d)->valuedouble;
    idx[d] = n ? (long long)(flat % (size_t)n) : 0;
    flat = n ? flat / (size_t)n : 0;
  }
  size_t o = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < rank && d < 16 && o < len; d++) o += (size_t)snprintf(buf + o, len - o, d ? ", %lld" : "%lld", idx[d]);
  if (o < len) snprintf(buf + o, len - o, "]");
}

typedef struct {
  const char *family, *name;
  double abs, rel;
  FxReport r; /* what failed in this case */
} Ctx;


/* Compares got[0..n) with the fixture tensor {"shape", "data"}; notes the worst element. */
static void compare(Ctx *c, const char *what, const char *tname, const float *got, size_t n, const cJSON *want) {
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(want, "shape");
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(want, "data");
  size_t wn = (size_t)cJSON_GetArraySize(data);
  if (!got) {
    fx_note(&c->r, "\n    %s %s: gradc has no such tensor", what, tname);
    return;
  }
  if (n != wn) {
    fx_note(&c->r, "\n    %s %s: gradc has %zu elements, torch %zu", what, tname, n, wn);
    return;
  }
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(want, "dtype");
  if (cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "i32")) { /* indices: exactly torch's */
    const int32_t *q = (const int32_t *)got;
    size_t k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
      if (q[k] != (int32_t)v->valuedouble) {
        fx_note(&c->r, "\n    %s %s[%zu]: gradc %d, torch %d", what, tname, k, (int)q[k], (int)v->valuedouble);
        return;
      }
      k++;
    }
    return;
  }
  size_t worst = 0, bad = 0;
  double worst_ratio = -1;
  const cJSON *v;
  size_t k = 0;
  cJSON_ArrayForEach(v, data) {
    double w = fx_number(v), g = got[k];
    double tol = c->abs + c->rel * fabs(w);
    double err = fabs(g - w);
    double ratio = !isfinite(w) ? fx_special_ratio(w, g) : isfinite(g) ? err / tol : INFINITY;
    if (!(ratio <= 1)) bad++;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = k;
    k++;
  }
  if (!bad) return;
  char ix[128];
  index_str(ix, sizeof ix, shape, worst);
  double w = fx_number(cJSON_GetArrayItem(data, (int)worst));
  fx_note(&c->r, "\n    %s %s%s: gradc %.9g, torch %.9g (|err| %.3g > tol %.3g); %zu of %zu elements off", what, tname, ix,
       (double)got[worst], w, fabs((double)got[worst] - w), c->abs + c->rel * fabs(w), bad, n);
}

static void compare_loss(Ctx *c, const char *what, float got, double want) {
  double tol = c->abs + c->rel * fabs(want);
  if (!(fabs((double)got - want) <= tol))
    fx_note(&c->r, "\n    %s loss: gradc %.9g, torch %.9g (|err| %.3g > tol %.3g)", what, (double)got, want,
         fabs((double)got - want), tol);
}

static void check_shape(Ctx *c, gradc_model *m, const char *name, const cJSON *want) {
  const gradc_tensor_info *t = info_of(m, name);
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(want, "shape");
  if (!t) return; /* reported by compare */
  int rank = cJSON_GetArraySize(shape), same = t->rank == rank;
  for (int d = 0; same && d < rank; d++) same = t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
  if (!same) {
    char a[128] = "[", b[256];
    size_t o = 1;
    for (int d = 0; d < t->rank && o < sizeof a; d++) o += (size_t)snprintf(a + o, sizeof a - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < sizeof a) snprintf(a + o, sizeof a - o, "]");
    char *p = cJSON_PrintUnformatted(shape);
    snprintf(b, sizeof b, "%s", p ? p : "?");
    free(p);
    fx_note(&c->r, "\n    output %s: gradc shape %s, torch %s", name, a, b);
  }
}

/* Sets one input or parameter from the fixture; 0 on success. */
static int set_tensor(Ctx *c, gradc_model *m, const char *name, const cJSON *t) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  int i32 = cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "i32");
  size_t n = 0, wn = (size_t)cJSON_GetArraySize(data);
  void *p = gradc_tensor(m, name, &n);
  const gradc_tensor_info *info = info_of(m, name);
  if (!p || !info) {
    fx_note(&c->r, "\n    no tensor %s in the compiled model", name);
    return -1;
  }
  if (n != wn || (info->dtype == GRADC_I32) != i32) {
    fx_note(&c->r, "\n    tensor %s: gradc has %zu %s elements, the fixture %zu %s", name, n,
         info->dtype == GRADC_I32 ? "i32" : "f32", wn, i32 ? "i32" : "f32");
    return -1;
  }
  const cJSON *v;
  size_t k = 0;
  cJSON_ArrayForEach(v, data) {
    if (i32)
      ((int32_t *)p)[k++] = (int32_t)v->valuedouble;
    else
      ((float *)p)[k++] = (float)fx_number(v);
  }
  return 0;
}

static void run_case(Ctx *c, const cJSON *cs) {
  const char *model = cJSON_GetObjectItemCaseSensitive(cs, "model")->valuestring;
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(cs, "inputs");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(cs, "params");
  const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(cs, "outputs");
  const cJSON *grads = cJSON_GetObjectItemCaseSensitive(cs, "grads");
  double loss = cJSON_GetObjectItemCaseSensitive(cs, "loss")->valuedouble;

  char dir[] = "/tmp/gradc_torch_ops_XXXXXX", so[128], hdr[128], path[256], err[4096] = "";
  if (!mkdtemp(dir)) {
    fx_note(&c->r, "\n    mkdtemp failed");
    return;
  }
  snprintf(so, sizeof so, "%s/m.so", dir);
  snprintf(hdr, sizeof hdr, "%s/m.h", dir);
  snprintf(path, sizeof path, "%s.grad", c->name);
  gc_options o = {0};
  o.path = path;
  o.source = model;
  o.opt_level = 2;
  o.emit = GC_EMIT_SO;
  o.out = so;
  gc_result res;
  gradc_model *m = NULL;
  if (gc_compile(&o, &res, err, sizeof err)) {
    fx_note(&c->r, "\n    does not compile:\n%s", err);
    goto done;
  }
  m = gradc_open(so, err, sizeof err);
  if (!m) {
    fx_note(&c->r, "\n    gradc_open: %s", err);
    goto done;
  }
  const cJSON *t;
  int bad = 0;
  cJSON_ArrayForEach(t, inputs) bad |= set_tensor(c, m, t->string, t);
  cJSON_ArrayForEach(t, params) bad |= set_tensor(c, m, t->string, t);
  if (bad) goto done;
  cJSON_ArrayForEach(t, outputs) check_shape(c, m, t->string, t);
  /* dropout and modes (issue 15): a "train" case is torch in training mode, which the
   * backward entry runs (masks of optimizer step 0 under "seed"); an "eval" case, eval
   * mode, which the forward entry runs */
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(cs, "mode"), *seed = cJSON_GetObjectItemCaseSensitive(cs, "seed");
  bool train_only = cJSON_IsString(mode) && !strcmp(mode->valuestring, "train");
  bool eval_only = cJSON_IsString(mode) && !strcmp(mode->valuestring, "eval");
  if (cJSON_IsNumber(seed)) gradc_set_seed(m, (uint64_t)seed->valuedouble);
  if (train_only) goto backward;

  if (gradc_forward(m)) {
    fx_note(&c->r, "\n    gradc_forward: %s", gradc_error(m));
    goto done;
  }
  /* batch norm and buffers (issue 15): the forward entry runs in eval mode, whose values
   * a mode-dependent case gives apart ("eval"); "buffers" are the running statistics
   * after the backward entry's training-mode pass. */
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(cs, "eval");
  cJSON_ArrayForEach(t, (ev ? cJSON_GetObjectItemCaseSensitive(ev, "outputs") : outputs)) {
    size_t n = 0;
    float *p = gradc_tensor(m, t->string, &n);
    compare(c, ev ? "forward (eval mode): output" : "forward: output", t->string, p, n, t);
  }
  compare_loss(c, "forward:", gradc_loss(m), ev ? cJSON_GetObjectItemCaseSensitive(ev, "loss")->valuedouble : loss);
  if (eval_only) goto done;

backward:
  gradc_zero_grad(m);
  if (gradc_backward(m)) {
    fx_note(&c->r, "\n    gradc_backward: %s", gradc_error(m));
    goto done;
  }
  cJSON_ArrayForEach(t, outputs) {
    size_t n = 0;
    float *p = gradc_tensor(m, t->string, &n);
    compare(c, "backward: output", t->string, p, n, t);
  }
  compare_loss(c, "backward:", gradc_loss(m), loss);
  cJSON_ArrayForEach(t, grads) {
    size_t n = 0;
    float *p = gradc_grad(m, t->string, &n);
    compare(c, "grad", t->string, p, n, t);
  }
  cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(cs, "buffers")) {
    size_t n = 0;
    float *p = gradc_tensor(m, t->string, &n);
    compare(c, "after backward (training mode): buffer", t->string, p, n, t);
  }
done:
  if (m) gradc_close(m);
  unlink(so);
  unlink(hdr);
  rmdir(dir);
}

static void run_family(const char *family) {
  const cJSON *cases;
  cJSON *doc = fx_load_family(FIXTURE_DIR, family, &cases);
  int nfail = 0, ncases = 0;
  const cJSON *cs;
  cJSON_ArrayForEach(cs, cases) {
    Ctx c = {.family = family, .abs = DEFAULT_ABS, .rel = DEFAULT_REL};
    c.name = cJSON_GetObjectItemCaseSensitive(cs, "name")->valuestring;
    fx_tolerance(cs, &c.abs, &c.rel);
    run_case(&c, cs);
    ncases++;
    if (c.r.failed) {
      nfail++;
      cr_expect(0, "[%s] case %s differs from torch 1.13:%s\n    repro: /usr/bin/python3 tools/torch/gen_op_fixtures.py --repro %s --gradc build/bin/gradc",
                family, c.name, c.r.msg, c.name);
    }
  }
  cJSON_Delete(doc);
  cr_expect_eq(nfail, 0, "[%s] %d of %d cases differ from torch", family, nfail, ncases);
}

#define FAMILY(f) \
  Test(torch_ops, f, .timeout = 120) { run_family(#f); }
FAMILY(elementwise)
FAMILY(matmul)
FAMILY(shape)
FAMILY(reduce)
FAMILY(nn)
FAMILY(losses)
FAMILY(composite)
FAMILY(reductions)
FAMILY(criteria)
FAMILY(dropout) /* dropout and modes (issue 15) */
FAMILY(window) /* convolution and pooling (issue 15) */
FAMILY(index)
FAMILY(pointwise)
FAMILY(index2) /* ---- indexing II (issue 15) ---- */
FAMILY(norm)
FAMILY(batchnorm) /* batch norm and buffers (issue 15) */
FAMILY(attn) /* attention (issue 15) */

/* Every fixture file is one of the families above (a new file needs a FAMILY line). */
Test(torch_ops, every_fixture_file_is_tested) {
  DIR *d = opendir(FIXTURE_DIR);
  cr_assert_not_null(d, "cannot open %s", FIXTURE_DIR);
  struct dirent *e;
  int seen = 0;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
    int known = 0;
    for (int i = 0; i < NFAMILIES; i++)
      if (strlen(families[i]) == n - 5 && !strncmp(e->d_name, families[i], n - 5)) known = 1;
    cr_expect(known, "%s/%s is not tested: add FAMILY(...) for it in tests/test_torch_ops.c", FIXTURE_DIR, e->d_name);
    seen += known;
  }
  closedir(d);
  cr_expect_eq(seen, NFAMILIES, "expected %d fixture files in %s, found %d", NFAMILIES, FIXTURE_DIR, seen);
}
