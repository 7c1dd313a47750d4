/* options.c — option parsing shared by the commands, and building a model in-process. */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data.h"
#include "diag.h" /* diag_nearest */
#include "driver.h"
#include "gradc/runtime_core.h"

bool parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(v)) return false;
  *out = v;
  return true;
}

bool parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_seed(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end || errno == ERANGE || s[strspn(s, " \t")] == '-') return false;
  *out = v;
  return true;
}

const char *opt_value(const char *opt, int argc, char **argv, int *i) {
  size_t n = strlen(opt);
  if (strncmp(argv[*i], opt, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n]) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "gradc: %s needs a value\n", opt);
    exit(2);
  }
  return argv[++*i];
}

int parse_define(ModelArgs *m, int argc, char **argv, int *i) {
  char *d;
  if (!strcmp(argv[*i], "-D")) {
    if (*i + 1 >= argc) return fprintf(stderr, "gradc: -D needs NAME=INT\n"), -1;
    d = argv[++*i];
  } else if (!strncmp(argv[*i], "-D", 2)) {
    d = argv[*i] + 2;
  } else {
    return 0;
  }
  char *eq = strchr(d, '=');
  long long v;
  if (!eq || eq == d || !parse_int(eq + 1, 1, INT_MAX, &v))
    return fprintf(stderr, "gradc: -D %s: expected NAME=INT with a positive INT\n", d), -1;
  if (m->ndefines == 64) return fprintf(stderr, "gradc: too many -D options\n"), -1;
  *eq = 0; /* the name ends there: argv lives as long as the command */
  m->names[m->ndefines] = d;
  m->values[m->ndefines++] = v;
  return 1;
}

int parse_model_arg(ModelArgs *m, int argc, char **argv, int *i) {
  int d = parse_define(m, argc, argv, i);
  if (!d) d = parse_onnx_arg(m, argc, argv, i);
  const char *v = d ? NULL : opt_value("--freeze", argc, argv, i);
  if (!v) return d;
  /* P1,P2,... as `compile --freeze` takes it; argv lives as long as the command */
  for (char *t = strtok((char *)v, ","); t; t = strtok(NULL, ",")) {
    if (m->nfreeze == 64) return fprintf(stderr, "gradc: --freeze: more than 64 parameters\n"), -1;
    m->freeze[m->nfreeze++] = t;
  }
  return 1;
}

void env_options(gc_options *o) {
  const char *cc = getenv("GRADC_CC"), *threads = getenv("GRADC_CODEGEN_THREADS");
  const char *profile = getenv("GRADC_PROFILE_KERNELS");
  o->cc = cc && *cc ? cc : NULL;                                                  /* else cc */
  o->codegen_threads = threads && *threads ? (atoi(threads) >= 2 ? 2 : 1) : 0; /* else automatic */
  o->profile_kernels = profile && *profile == '1';
}

int make_tmpdir(char *dir, size_t len) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, len, "%s/gradc.XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp(dir)) return 0;
  fprintf(stderr, "gradc: cannot create a temporary directory: %s\n", strerror(errno));
  return 1;
}

static void remove_build(const char *tmpdir) {
  char p[4200];
  static const char *files[] = {"model.so", "model.h"};
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
    unlink(p);
  }
  rmdir(tmpdir);
}

gradc_model *build_and_open(const ModelArgs *m, bool inference, int *status) {
  gc_result res;
  return build_and_open_res(m, inference, status, &res);
}

gradc_model *build_and_open_res(const ModelArgs *m, bool inference, int *status, gc_result *res) {
  char tmpdir[4096];
  if (make_tmpdir(tmpdir, sizeof tmpdir)) {
    *status = 1;
    return NULL;
  }
  char so[4200], err[8192];
  snprintf(so, sizeof so, "%s/model.so", tmpdir);
  gc_onnx *om = import_model(m, "build", status);
  if (*status) return rmdir(tmpdir), NULL;
  gc_options o = {.path = m->model, .source = om ? gc_onnx_source(om) : NULL, .define_names = m->names, .define_values = m->values, .ndefines = m->ndefines,
                  .freeze = m->freeze, .nfreeze = m->nfreeze, .inference = inference, .opt_level = 2,
                  .emit = GC_EMIT_SO, .out = so};
  env_options(&o);
  int rc = gc_compile(&o, res, err, sizeof err);
  gradc_model *mod = rc ? NULL : gradc_open(so, err, sizeof err);
  remove_build(tmpdir);
  static bool warned; /* a command that builds the model twice (train --val, eval) says them once */
  if (!warned) fputs(res->warnings, stderr);
  warned = true;
  if (rc) {
    fputs(err, stderr);
    if (err[0] && err[strlen(err) - 1] != '\n') fputc('\n', stderr);
  } else if (!mod) {
    fprintf(stderr, "gradc: %s\n", err);
  }
  gc_onnx_free(om);
  if (!mod) *status = 1;
  return mod;
}

int needs_loss(const char *cmd, gradc_model *m) {
  if (gradc_has_backward(m)) return 0;
  fprintf(stderr, "gradc %s: model '%s' has no loss ('minimize NAME'): nothing to differentiate\n", cmd,
          gradc_model_name(m));
  return 1;
}

void random_inputs(gradc_model *m, uint64_t seed) {
  gradc_rng rng;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    void *buf = gradc_tensor(m, t->name, NULL);
    gradc_rng_seed(&rng, seed ^ 0x5eed, t->name);
    for (size_t k = 0; k < t->count; k++) {
      if (t->dtype == GRADC_I32)
        ((int32_t *)buf)[k] = t->classes ? (int32_t)(gradc_rng_next(&rng) % (uint64_t)t->classes) : 0;
      else
        ((float *)buf)[k] = (float)gradc_rng_normal(&rng);
    }
  }
}

int copy_to_tape(gradc_model *m, tape_model *t, const char *cmd) {
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(m, i);
    if (ti->role == GRADC_ROLE_OUTPUT) continue;
    size_t n, tn;
    void *src = gradc_tensor(m, ti->name, &n), *dst = tape_tensor(t, ti->name, &tn);
    if (!dst || tn != n) return fprintf(stderr, "%s: the tape engine has no tensor '%s'\n", cmd, ti->name), 1;
    memcpy(dst, src, n * 4); /* f32 or i32 */
  }
  return 0;
}

/* ---- --set NAME=VALUES ---- */

/* " (FILE:LINE:COL)" of position p in text, for a message about the value there. */
static void file_position(char *at, size_t len, const char *file, const char *text, const char *p) {
  int line = 1;
  const char *bol = text;
  for (const char *q = text; q < p; q++)
    if (*q == '\n') line++, bol = q + 1;
  snprintf(at, len, " (%s:%d:%d)", file, line, (int)(p - bol) + 1);
}

/* --set of a tensor the model does not have: the nearest input or parameter, if close. */
static void no_such_tensor(gradc_model *mod, const char *name) {
  const char **cands = calloc(gradc_num_tensors(mod) + 1, sizeof *cands), *near;
  size_t nc = 0;
  for (size_t i = 0; cands && i < gradc_num_tensors(mod); i++)
    if (gradc_tensor_at(mod, i)->role != GRADC_ROLE_OUTPUT) cands[nc++] = gradc_tensor_at(mod, i)->name;
  near = cands ? diag_nearest(name, cands, (int)nc) : NULL;
  fprintf(stderr, "gradc: --set %s: the model has no input or parameter '%s'%s%s%s\n", name, name,
          near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
  free(cands);
}

/* One pass over the values: a position in a file is computed only for an error, so the
 * time is linear in the size of the text. */
int set_tensor(gradc_model *mod, const char *spec) {
  const char *eq = strchr(spec, '=');
  if (!eq) return fprintf(stderr, "gradc: --set %s: expected NAME=VALUES\n", spec), 1;
  char *name = strndup(spec, (size_t)(eq - spec));
  size_t count = 0;
  void *buf = gradc_tensor(mod, name, &count);
  const gradc_tensor_info *info = NULL;
  for (size_t i = 0; i < gradc_num_tensors(mod); i++)
    if (!strcmp(gradc_tensor_at(mod, i)->name, name)) info = gradc_tensor_at(mod, i);
  if (info && info->role == GRADC_ROLE_OUTPUT) {
    fprintf(stderr, "gradc: --set %s: '%s' is an output; only inputs and parameters can be set\n", name, name);
    free(name);
    return 1;
  }
  if (!buf || !info) {
    no_such_tensor(mod, name);
    free(name);
    return 1;
  }
  const char *vals = eq + 1;
  char *file = NULL;
  char err[4200];
  if (vals[0] == '@' && !(vals = file = read_text(vals + 1, NULL, err, sizeof err))) {
    fprintf(stderr, "gradc: --set %s: %s\n", name, err);
    free(name);
    return 1;
  }
  size_t n = 0;
  int rc = 0;
  bool is_int = info->dtype == GRADC_I32;
  for (const char *p = vals; *p && !rc;) {
    p += strspn(p, " \t\r\n,");
    if (!*p) break;
    char *end;
    errno = 0;
    double v = is_int ? (double)strtol(p, &end, 10) : strtod(p, &end);
    /* labels must be classes [0, C); other integers must fit int32; floats float */
    double lo = is_int ? (info->classes ? 0 : (double)INT32_MIN) : -3.4028234663852886e38;
    double hi = is_int ? (info->classes ? (double)info->classes - 1 : (double)INT32_MAX) : 3.4028234663852886e38;
    int len = (int)strcspn(p, " \t\r\n,"); /* the value as written, for messages */
    char at[4300] = ""; /* where, in a file: worked out for a message only (a scan from the start) */
    bool bad = end == p || errno == ERANGE || (*end && !strchr(" \t\r\n,", *end)) || !isfinite(v);
    if (file && (bad || v < lo || v > hi)) file_position(at, sizeof at, eq + 2, vals, p);
    if (bad) {
      fprintf(stderr, "gradc: --set %s: value %zu%s is not a%s number: '%.*s'\n", name, n + 1, at,
              is_int ? "n integer" : "", len < 40 ? len : 40, p);
      rc = 1;
    } else if (v < lo || v > hi) {
      fprintf(stderr, "gradc: --set %s: value %zu%s (%.*s) is outside [%.9g, %.9g]%s\n", name, n + 1, at,
              len < 40 ? len : 40, p, lo, hi, is_int && info->classes ? ": a class label" : "");
      rc = 1;
    } else if (n >= count) {
      fprintf(stderr, "gradc: --set %s: more than %zu values for shape of %zu elements\n", name, count, count);
      rc = 1;
    } else if (is_int) {
      ((int32_t *)buf)[n++] = (int32_t)v;
    } else {
      ((float *)buf)[n++] = (float)v;
    }
    p = end;
  }
  if (!rc && n == 1 && count > 1) { /* one number fills the tensor */
    for (size_t i = 1; i < count; i++)
      if (is_int) ((int32_t *)buf)[i] = ((int32_t *)buf)[0];
      else ((float *)buf)[i] = ((float *)buf)[0];
  } else if (!rc && n != count) {
    fprintf(stderr, "gradc: --set %s: got %zu values, the tensor has %zu elements\n", name, n, count);
    rc = 1;
  }
  free(file);
  free(name);
  return rc;
}
