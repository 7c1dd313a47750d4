/* conformance.c — the ONNX backend tests (Debian's libonnx-testdata) through gradc: for each
 * test, import model.onnx (binding the graph inputs that must be known at import time from
 * the test's own input values, as a user would with --const), compile it for this machine,
 * run every test_data_set_N on its input_*.pb and compare with its output_*.pb at the ONNX
 * backend tests' tolerance (rtol 1e-3, atol 1e-7 for float).
 *
 *   onnx_conformance [--data DIR] [--suite S]... [--only NAME] [-o TABLE] [--expect TABLE] [-v]
 *
 * Prints one line per test (pass, fail with the largest error, unsupported with the reason)
 * and a summary per suite; -o writes that table; --expect compares with a table written
 * before and fails (exit 1) when a test that passed there does not pass now. A test is "in
 * scope" when its operators are all in the list issue 16 names and its tensors are float,
 * int32, int64 or bool: the summary counts those apart. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "conformance.h"
#include "gradc/compiler.h"
#include "gradc/onnx.h"
#include "gradc/runtime.h"

#define MAX_IO 32

typedef struct {
  gc_onnx_data in[MAX_IO], out[MAX_IO];
  int nin, nout;
} DataSet;

static void free_set(DataSet *s) {
  for (int i = 0; i < s->nin; i++) gc_onnx_data_free(&s->in[i]);
  for (int i = 0; i < s->nout; i++) gc_onnx_data_free(&s->out[i]);
}

/* input_K.pb and output_K.pb of one data set. 0, or -1 with a message. */
static int read_set(const char *dir, DataSet *s, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  char path[4400];
  for (int k = 0; k < MAX_IO; k++) {
    snprintf(path, sizeof path, "%s/input_%d.pb", dir, k);
    if (access(path, R_OK)) break;
    if (gc_onnx_read_tensor(path, &s->in[s->nin], err, errlen)) return -1;
    s->nin++;
  }
  for (int k = 0; k < MAX_IO; k++) {
    snprintf(path, sizeof path, "%s/output_%d.pb", dir, k);
    if (access(path, R_OK)) break;
    if (gc_onnx_read_tensor(path, &s->out[s->nout], err, errlen)) return -1;
    s->nout++;
  }
  return 0;
}

/* The model's runtime graph inputs, in order: input_K.pb is the K-th. */
typedef struct {
  char names[MAX_IO][256];
  int n;
} Order;

/* The data set's value for graph input `name` (by the tensor's name, else by position). */
static const gc_onnx_data *input_data(const DataSet *s, const char *name, const Order *ord) {
  for (int i = 0; i < s->nin; i++)
    if (!strcmp(s->in[i].name, name)) return &s->in[i];
  for (int i = 0; i < ord->n && i < s->nin; i++)
    if (!strcmp(ord->names[i], name) && !s->in[i].name[0]) return &s->in[i];
  return NULL;
}

/* A name that outlives the loop below (the importer keeps none). */
static const char *pool_name(const char *s, int k) {
  static char names[MAX_IO][256];
  snprintf(names[k % MAX_IO], 256, "%s", s);
  return names[k % MAX_IO];
}

/* Imports the model, binding the inputs the importer asks for from the data set. */
static gc_onnx *import(const char *model, const DataSet *s, const Order *ord, char *err, size_t errlen) {
  gc_onnx_const consts[MAX_IO];
  int nconsts = 0;
  char unbound[256];
  for (;;) {
    gc_onnx_options o = {.path = model, .consts = consts, .nconsts = nconsts, .unbound = unbound};
    gc_onnx *m = gc_onnx_import(&o, err, errlen);
    if (m || !unbound[0] || nconsts == MAX_IO) return m;
    const gc_onnx_data *d = input_data(s, unbound, ord);
    if (!d) return NULL;
    for (int i = 0; i < nconsts; i++)
      if (!strcmp(consts[i].name, unbound)) return NULL; /* bound already: no progress */
    consts[nconsts++] = (gc_onnx_const){.name = pool_name(unbound, nconsts), .values = d->data, .count = d->count};
  }
}

/* |got - want| <= atol + rtol |want|, NaN equal to NaN. */
static bool close_enough(double got, double want, double *worst) {
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
  if (isinf(want) || isinf(got)) return got == want;
  double e = fabs(got - want), tol = 1e-7 + 1e-3 * fabs(want);
  if (e / (tol > 0 ? tol : 1) > *worst) *worst = e / tol;
  return e <= tol;
}

/* Runs one data set on the opened model. 0 pass, 1 wrong values (message in err). */
static int run_set(gradc_model *mod, const gc_onnx *m, const DataSet *s, const Order *ord, char *err, size_t errlen) {
  int opos = 0;
  for (int i = 0; i < gc_onnx_count(m); i++) {
    const gc_onnx_tensor *t = gc_onnx_tensor_at(m, i);
    if (t->kind != GC_ONNX_INPUT) continue;
    const gc_onnx_data *d = input_data(s, t->onnx_name, ord);
    size_t count;
    void *dst = gradc_tensor(mod, t->name, &count);
    if (!dst) continue; /* an input nothing reads: an inference build has no buffer for it */
    if (!d || (size_t)d->count != count)
      return snprintf(err, errlen, "input '%s': no data of %zu elements", t->onnx_name, count), 1;
    for (size_t j = 0; j < count; j++)
      if (t->i32) ((int32_t *)dst)[j] = (int32_t)d->data[j];
      else ((float *)dst)[j] = (float)d->data[j];
  }
  if (gradc_forward(mod)) return snprintf(err, errlen, "forward: %s", gradc_error(mod)), 1;
  for (int i = 0; i < gc_onnx_count(m); i++) {
    const gc_onnx_tensor *t = gc_onnx_tensor_at(m, i);
    if (t->kind != GC_ONNX_OUTPUT) continue;
    const gc_onnx_data *want = NULL;
    for (int k = 0; k < s->nout; k++)
      if (!strcmp(s->out[k].name, t->onnx_name)) want = &s->out[k];
    if (!want && opos < s->nout) want = &s->out[opos];
    opos++;
    size_t count;
    const void *got = gradc_tensor(mod, t->name, &count);
    if (!want || !got) return snprintf(err, errlen, "output '%s' missing", t->onnx_name), 1;
    if ((size_t)want->count != count)
      return snprintf(err, errlen, "output '%s': %zu elements, expected %lld", t->onnx_name, count,
                      (long long)want->count), 1;
    double worst = 0;
    for (size_t j = 0; j < count; j++) {
      double g = t->i32 ? ((const int32_t *)got)[j] : ((const float *)got)[j];
      if (!close_enough(g, want->data[j], &worst))
        return snprintf(err, errlen, "output '%s'[%zu] = %.9g, expected %.9g", t->onnx_name, j, g, want->data[j]), 1;
    }
  }
  return 0;
}

/* Compiles the imported model into dir and opens it with its initializers loaded. */
static gradc_model *build(const gc_onnx *m, const char *model, const char *dir, char *err, size_t errlen) {
  char so[4200], w[4200];
  snprintf(so, sizeof so, "%s/m.so", dir);
  snprintf(w, sizeof w, "%s/w.safetensors", dir);
  gc_options o = {.path = model, .source = gc_onnx_source(m), .inference = true, .emit = GC_EMIT_SO, .out = so,
                  .opt_level = 1, .threads = 1, .codegen_threads = 1};
  gc_result res;
  if (gc_compile(&o, &res, err, errlen)) return NULL;
  gradc_model *mod = gradc_open(so, err, errlen);
  if (!mod) return NULL;
  gradc_init(mod, 0);
  bool params = false;
  for (int i = 0; i < gc_onnx_count(m); i++) params |= gc_onnx_tensor_at(m, i)->kind == GC_ONNX_PARAM;
  if (params && (gc_onnx_write_weights(m, w, err, errlen) || gradc_load(mod, w))) {
    if (!err[0]) snprintf(err, errlen, "loading the initializers: %s", gradc_error(mod));
    gradc_close(mod);
    return NULL;
  }
  return mod;
}

int conf_run_test(const char *testdir, const char *tmp, char *reason, size_t rlen) {
  char model[4200], setdir[4300], err[8192];
  snprintf(model, sizeof model, "%s/model.onnx", testdir);
  Order ord;
  ord.n = gc_onnx_graph_inputs(model, ord.names, MAX_IO, err, sizeof err);
  if (ord.n < 0) return snprintf(reason, rlen, "%s", err), CONF_UNSUPPORTED;
  int status = CONF_PASS;
  for (int k = 0; status == CONF_PASS; k++) {
    snprintf(setdir, sizeof setdir, "%s/test_data_set_%d", testdir, k);
    struct stat st;
    if (stat(setdir, &st)) {
      if (k == 0) return snprintf(reason, rlen, "no test data"), CONF_FAIL;
      break;
    }
    DataSet s;
    err[0] = 0;
    if (read_set(setdir, &s, err, sizeof err)) {
      snprintf(reason, rlen, "data: %s", err);
      free_set(&s);
      return CONF_UNSUPPORTED;
    }
    gc_onnx *m = import(model, &s, &ord, err, sizeof err);
    if (!m) {
      size_t skip = strncmp(err, model, strlen(model)) ? 0 : strlen(model) + 2; /* "MODEL: " */
      snprintf(reason, rlen, "%s", err + (skip < strlen(err) ? skip : 0));
      free_set(&s);
      return CONF_UNSUPPORTED;
    }
    gradc_model *mod = build(m, model, tmp, err, sizeof err);
    if (!mod) {
      snprintf(reason, rlen, "compile: %s", err);
      status = CONF_FAIL;
    } else {
      if (run_set(mod, m, &s, &ord, err, sizeof err)) {
        snprintf(reason, rlen, "data set %d: %s", k, err);
        status = CONF_FAIL;
      }
      gradc_close(mod);
    }
    gc_onnx_free(m);
    free_set(&s);
  }
  return status;
}
