/* onnx_args.c — ONNX models on the command line: every command that builds a model takes
 * an .onnx file, imported (gradc/onnx.h) into a .grad text with its initializers as the
 * parameters' values; --shape and --const bind what the importer must know. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver.h"

bool is_onnx(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n > 5 && !strcmp(path + n - 5, ".onnx");
}

/* NAME=2x3x4 */
static int parse_shape(ModelArgs *m, char *v) {
  char *eq = strchr(v, '=');
  if (!eq || eq == v) return fprintf(stderr, "gradc: --shape %s: expected NAME=DxDx...\n", v), -1;
  if (m->nshapes == 16) return fprintf(stderr, "gradc: more than 16 --shape options\n"), -1;
  *eq = 0;
  int k = m->nshapes, r = 0;
  for (char *t = strtok(eq + 1, "x"); t; t = strtok(NULL, "x")) {
    long long d;
    if (r == 8 || !parse_int(t, 1, (1ll << 31) - 1, &d))
      return fprintf(stderr, "gradc: --shape %s: expected up to 8 sizes from 1 to 2^31 - 1, joined by 'x'\n", v), -1;
    m->shape_dims[k][r++] = d;
  }
  m->shape_names[k] = v, m->shape_ranks[k] = r, m->shape_ptrs[k] = m->shape_dims[k];
  m->nshapes++;
  return 1;
}

/* What the options below allocate lives as long as the command: freed at exit, so that
 * nothing is left for the leak checker. */
static void *owned[64];
static int nowned;

static void free_owned(void) {
  while (nowned) free(owned[--nowned]);
}

static void *own(void *p) {
  if (!p || nowned == 64) return p; /* 16 --const and 16 --set at most: never reached */
  if (!nowned) atexit(free_owned);
  return owned[nowned++] = p;
}

/* NAME=1,2,3 */
static int parse_const(ModelArgs *m, char *v) {
  char *eq = strchr(v, '=');
  if (!eq || eq == v) return fprintf(stderr, "gradc: --const %s: expected NAME=VALUES (comma-separated; none for an empty input)\n", v), -1;
  if (m->nconsts == 16) return fprintf(stderr, "gradc: more than 16 --const options\n"), -1;
  *eq = 0;
  size_t n = 1;
  for (const char *p = eq + 1; *p; p++) n += *p == ',';
  double *vals = own(calloc(n, sizeof *vals));
  if (!vals) return fprintf(stderr, "gradc: out of memory\n"), -1;
  size_t k = 0;
  for (char *t = strtok(eq + 1, ","); t; t = strtok(NULL, ","))
    if (!parse_double(t, &vals[k++])) return fprintf(stderr, "gradc: --const %s: '%s' is not a number\n", v, t), -1;
  m->consts[m->nconsts++] = (gc_onnx_const){.name = v, .values = vals, .count = (int64_t)k};
  return 1;
}

int parse_onnx_arg(ModelArgs *m, int argc, char **argv, int *i) {
  const char *v;
  if ((v = opt_value("--shape", argc, argv, i))) return parse_shape(m, (char *)v);
  if ((v = opt_value("--const", argc, argv, i))) return parse_const(m, (char *)v);
  if ((v = opt_value("--loss", argc, argv, i))) return m->loss = v, 1;
  if ((v = opt_value("--output", argc, argv, i))) return m->loss_output = v, 1;
  return 0;
}

/* The importer's options from m's; unbound (if not NULL) receives the name of a graph
 * input the import needs bound. */
static gc_onnx_options import_options(const ModelArgs *m, char *unbound) {
  return (gc_onnx_options){.path = m->model, .define_names = m->names, .define_values = m->values,
                           .ndefines = m->ndefines, .shape_names = m->shape_names, .shape_dims = m->shape_ptrs,
                           .shape_ranks = m->shape_ranks, .nshapes = m->nshapes, .consts = m->consts,
                           .nconsts = m->nconsts, .unbound = unbound};
}

gc_onnx *import_model(const ModelArgs *m, const char *cmd, int *status) {
  *status = 0;
  if (!is_onnx(m->model)) return NULL;
  gc_onnx_options o = import_options(m, NULL);
  char err[8192];
  gc_onnx *om = gc_onnx_import(&o, err, sizeof err);
  if (om && m->loss && gc_onnx_add_loss(om, m->loss, m->loss_output, err, sizeof err)) {
    gc_onnx_free(om);
    om = NULL;
  }
  if (!om) {
    fprintf(stderr, "gradc %s: %s\n", cmd, err);
    *status = 1;
  }
  return om;
}

int bind_sets(ModelArgs *m, const char *const *sets, int nsets, bool *used) {
  for (int round = 0; is_onnx(m->model) && round < 16; round++) {
    char unbound[256] = "", err[8192];
    gc_onnx_options o = import_options(m, unbound);
    gc_onnx *om = gc_onnx_import(&o, err, sizeof err);
    gc_onnx_free(om);
    if (om || !unbound[0]) return 0; /* imported, or an error import_model will say */
    int i = 0;
    size_t n = strlen(unbound);
    while (i < nsets && (used[i] || strncmp(sets[i], unbound, n) || sets[i][n] != '=')) i++;
    if (i == nsets) return 0; /* no --set for it: import_model says which input to bind */
    char *copy = own(strdup(sets[i])); /* parse_const cuts it */
    if (!copy || parse_const(m, copy) < 0) return 2;
    used[i] = true;
  }
  return 0;
}

static int load_imported(gradc_model *mod, const gc_onnx *om, const char *cmd) {
  bool any = false;
  for (int i = 0; i < gc_onnx_count(om); i++) any |= gc_onnx_tensor_at(om, i)->kind == GC_ONNX_PARAM;
  if (!any) return 0;
  char dir[4096], path[4200], err[4096];
  if (make_tmpdir(dir, sizeof dir)) return 1;
  snprintf(path, sizeof path, "%s/initializers.safetensors", dir);
  int rc = gc_onnx_write_weights(om, path, err, sizeof err) ? 1 : 0;
  if (rc) fprintf(stderr, "gradc %s: %s\n", cmd, err);
  else if (gradc_load(mod, path)) {
    fprintf(stderr, "gradc %s: the initializers: %s\n", cmd, gradc_error(mod));
    rc = 1;
  }
  unlink(path);
  rmdir(dir);
  return rc;
}

int init_model(gradc_model *mod, uint64_t seed, const ModelArgs *m) {
  if (gradc_init(mod, seed)) return 1;
  int status;
  gc_onnx *om = import_model(m, "init", &status);
  if (status) return 1;
  int rc = om ? load_imported(mod, om, "init") : 0;
  gc_onnx_free(om);
  return rc;
}

char *onnx_set_spec(const gc_onnx *om, const char *spec) {
  size_t n = strcspn(spec, "=");
  const char *name = NULL;
  for (int i = 0; om && i < gc_onnx_count(om) && !name; i++) {
    const gc_onnx_tensor *t = gc_onnx_tensor_at(om, i);
    if (strlen(t->onnx_name) == n && !strncmp(t->onnx_name, spec, n)) name = t->name;
  }
  size_t len = strlen(spec) + (name ? strlen(name) : 0) + 1;
  char *out = malloc(len);
  if (out) snprintf(out, len, "%s%s", name ? name : "", name ? spec + n : spec);
  return out;
}

void compiler_defines(const ModelArgs *m, const char *const **names, const long long **values, int *n) {
  int skip = is_onnx(m->model) ? m->cli_defines : 0;
  *names = m->names + skip, *values = m->values + skip, *n = m->ndefines - skip;
}
