/* runtime/safetensors.c — gradc_save / gradc_load (a model's parameters as a
 * safetensors file) and gradc_save_checkpoint / gradc_load_checkpoint (the same with the
 * optimiser's state), on the file format of gradc_formats (formats/safetensors.h: the
 * framing, the header, its validation, the CRC, the atomic write).
 *
 * What a model's file holds: one entry per param under its name, then (a checkpoint
 * with momentum) one per trainable param's momentum buffer under "NAME.momentum";
 * "__metadata__": {"model": NAME, "gradc_crc32": CRC, ...}, a checkpoint adding
 * "gradc_momentum", "gradc_weight_decay" and its caller's strings. Load validates the
 * whole file against the model (optimiser state is allowed beside the parameters, and
 * skipped by gradc_load) before it copies anything, so a rejected file leaves the model
 * untouched. Nothing here aborts, exits or prints. */
#define _DEFAULT_SOURCE /* strdup */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "safetensors.h"

static bool is_param(const gradc_model *m, size_t i) {
  return m->desc.tensors[i].info.role == GRADC_ROLE_PARAM;
}

/* The format's view of a tensor of the model (data: its values, for writing). */
static StTensor st_tensor(const gradc_tensor_info *ti, const char *name, const float *data) {
  return (StTensor){name, ti->rank, ti->shape, ti->count, data};
}

/* ---- save ---- */

/* The tensors of a file being written: a parameter, or a trainable parameter's momentum
 * buffer under "NAME.momentum" (names malloc'd). */
typedef struct {
  StTensor *t;
  size_t n;
} saved_list;

static void saved_free(saved_list *l) {
  for (size_t i = 0; l->t && i < l->n; i++) free((char *)l->t[i].name);
  free(l->t);
}

static bool saved_add(saved_list *l, const gradc_tensor_info *ti, const float *data, const char *suffix) {
  size_t len = strlen(ti->name) + strlen(suffix) + 1;
  char *name = malloc(len);
  if (!name) return false;
  snprintf(name, len, "%s%s", ti->name, suffix);
  l->t[l->n++] = st_tensor(ti, name, data);
  return true;
}

/* Every parameter in order; with optimiser state, then every momentum buffer in order. */
static int saved_of(const gradc_model *m, bool state, saved_list *l) {
  l->n = 0;
  l->t = calloc(2 * m->desc.ntensors + 1, sizeof *l->t);
  bool ok = l->t != NULL;
  for (size_t i = 0; ok && i < m->desc.ntensors; i++)
    if (is_param(m, i)) ok = saved_add(l, &m->desc.tensors[i].info, m->buf[i], "");
  for (size_t i = 0; ok && state && i < m->desc.ntensors; i++)
    if (m->mom[i]) ok = saved_add(l, &m->desc.tensors[i].info, m->mom[i], GRADC_MOMENTUM_SUFFIX);
  if (!ok) saved_free(l);
  return ok ? 0 : -1;
}

/* What a checkpoint adds to __metadata__: the optimiser's settings, then the caller's. */
typedef struct {
  bool state;
  const char *const *keys, *const *values;
  size_t n;
} save_extra;

/* The file: the tensors of l, __metadata__ the model's name, the CRC (st_write's) and
 * x's strings (the optimiser's settings as %.9g first, when x->state). */
static int save_file(gradc_model *m, const char *path, const saved_list *l, const save_extra *x) {
  const char **keys = calloc(x->n + 3, sizeof *keys), **values = calloc(x->n + 3, sizeof *values);
  char num[2][32], err[GRADC_ERR_LEN];
  size_t k = 0;
  if (keys && values && x->state) {
    snprintf(num[0], sizeof num[0], "%.9g", (double)m->opt.momentum);
    snprintf(num[1], sizeof num[1], "%.9g", (double)m->opt.weight_decay);
    keys[k] = GRADC_META_MOMENTUM, values[k++] = num[0];
    keys[k] = GRADC_META_WEIGHT_DECAY, values[k++] = num[1];
  }
  for (size_t i = 0; keys && values && i < x->n; i++) keys[k] = x->keys[i], values[k++] = x->values[i];
  int rc = !keys || !values ? gradc__fail(m, "cannot save weights to '%s': out of memory", path) : 0;
  if (rc == 0 && st_write(path, l->t, l->n, m->desc.model, keys, values, k, err, sizeof err))
    rc = gradc__fail(m, "%s", err);
  free(keys);
  free(values);
  return rc;
}

/* A key the runtime writes itself, or one a reader could not tell from a tensor. */
static bool reserved_key(const char *k) {
  return !strcmp(k, "model") || !strcmp(k, "gradc_crc32") || !strcmp(k, GRADC_META_MOMENTUM) ||
         !strcmp(k, GRADC_META_WEIGHT_DECAY);
}

static int save_with(gradc_model *m, const char *path, const save_extra *x) {
  if (!m) return -1;
  if (!path || !*path) return gradc__fail(m, "cannot save weights: no path given");
  for (size_t i = 0; i < x->n; i++) {
    if (!x->keys || !x->values || !x->keys[i] || !x->values[i])
      return gradc__fail(m, "cannot save a checkpoint to '%s': metadata entry %zu is NULL", path, i);
    if (reserved_key(x->keys[i]))
      return gradc__fail(m, "cannot save a checkpoint to '%s': metadata key '%s' is the runtime's own", path,
                         x->keys[i]);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(x->keys[i], x->keys[j]))
        return gradc__fail(m, "cannot save a checkpoint to '%s': metadata key '%s' given twice", path, x->keys[i]);
  }
  saved_list l;
  /* torch keeps no momentum buffer when momentum is 0: neither does the file. */
  if (saved_of(m, x->state && m->opt.momentum != 0.0f, &l))
    return gradc__fail(m, "cannot save weights to '%s': out of memory", path);
  int rc = save_file(m, path, &l, x);
  saved_free(&l);
  return rc;
}

int gradc_save(gradc_model *m, const char *path) {
  save_extra none = {false, NULL, NULL, 0};
  return save_with(m, path, &none);
}

int gradc_save_checkpoint(gradc_model *m, const char *path, const char *const *keys, const char *const *values,
                          size_t n) {
  save_extra x = {true, keys, values, n};
  return save_with(m, path, &x);
}

/* ---- load ---- */

int gradc_read_safetensors(const char *path, const gradc_tensor_info *want, float *const *dst, size_t n, char *err,
                           size_t errlen) {
  StTensor *t = calloc(n + 1, sizeof *t);
  if (!t) {
    if (err) snprintf(err, errlen, "weights file '%s': out of memory", path ? path : "");
    return -1;
  }
  for (size_t i = 0; i < n; i++) t[i] = st_tensor(&want[i], want[i].name, NULL);
  int rc = st_read(path, t, dst, n, err, errlen);
  free(t);
  return rc;
}

/* The model's parameters as the reader's want[] (and, per param, its buffers). */
typedef struct {
  StTensor *want;
  size_t *index; /* the model's tensor index of want[k] */
  bool *trains;
  size_t n;
} param_list;

static int params_of(const gradc_model *m, param_list *p) {
  p->n = 0;
  p->want = calloc(m->desc.ntensors + 1, sizeof *p->want);
  p->index = calloc(m->desc.ntensors + 1, sizeof *p->index);
  p->trains = calloc(m->desc.ntensors + 1, sizeof *p->trains);
  if (!p->want || !p->index || !p->trains) return -1;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (is_param(m, i)) {
      const gradc_tensor_info *ti = &m->desc.tensors[i].info;
      p->want[p->n] = st_tensor(ti, ti->name, NULL);
      p->trains[p->n] = m->mom[i] != NULL;
      p->index[p->n++] = i;
    }
  return 0;
}

static void params_free(param_list *p) {
  free(p->want);
  free(p->index);
  free(p->trains);
}

int gradc_load(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path) return gradc__fail(m, "cannot load weights: no path given");
  param_list p;
  char err[1024];
  int rc = params_of(m, &p) ? gradc__fail(m, "weights file '%s': out of memory", path) : 0;
  StFile f = {0};
  if (rc == 0 && st_open(&f, path, p.want, p.n, NULL, err, sizeof err)) rc = gradc__fail(m, "%s", err);
  for (size_t k = 0; rc == 0 && k < p.n; k++) st_copy(&f, k, m->buf[p.index[k]]);
  st_close(&f);
  params_free(&p);
  return rc;
}

/* ---- checkpoints ---- */

/* A __metadata__ number the runtime wrote (%.9g of a float), finite and >= 0, into *out;
 * *out unchanged when the file has no such key (not a checkpoint). */
static int meta_hyper(StFile *f, const char *key, float *out, bool *present) {
  const char *v = st_meta(f, key);
  *present = v != NULL;
  if (!v) return 0;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || errno == ERANGE || !(d >= 0 && d <= 3.4028234663852886e38))
    return st_fail(f, "weights file '%s': __metadata__.%s is '%.40s', not a number >= 0", f->path, key, v);
  *out = (float)d;
  return 0;
}

/* The file's optimiser settings (the model's own where it records none) and state: the
 * state is whole (every trainable parameter's momentum, or none) and present when the
 * file records a momentum. */
static int file_optimiser(StFile *f, const param_list *p, float opt[2]) {
  bool has_mom, has_wd;
  if (meta_hyper(f, GRADC_META_MOMENTUM, &opt[0], &has_mom) || meta_hyper(f, GRADC_META_WEIGHT_DECAY, &opt[1], &has_wd))
    return -1;
  size_t have = 0, trainable = 0, missing = 0;
  for (size_t k = 0; k < p->n; k++) {
    trainable += p->trains[k];
    have += st_has(f, p->n + k);
    if (p->trains[k] && !st_has(f, p->n + k) && !missing) missing = k + 1;
  }
  if (have == 0 && (!has_mom || opt[0] == 0.0f)) return 0;
  if (missing)
    return st_fail(f, "weights file '%s': missing optimiser state '%s%s' (the file holds the momentum of %zu of the "
                   "model's %zu trainable parameters)", f->path, p->want[missing - 1].name, GRADC_MOMENTUM_SUFFIX,
                   have, trainable);
  return 0;
}

/* __metadata__ as the model's copy: key, value, key, value..., NULL (malloc'd). */
static char **meta_copy(const StFile *f) {
  size_t n = st_meta_count(f), k = 0;
  char **out = calloc(2 * n + 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++) {
    const char *key, *value;
    st_meta_at(f, i, &key, &value);
    if (!(out[k++] = strdup(key)) || !(out[k++] = strdup(value))) {
      gradc__meta_free(out);
      return NULL;
    }
  }
  return out;
}

void gradc__meta_free(char **meta) {
  for (size_t i = 0; meta && meta[i]; i++) free(meta[i]);
  free(meta);
}

/* Everything checked, the copy of the metadata made: now the buffers change. */
static void commit_checkpoint(gradc_model *m, const StFile *f, const param_list *p, char **meta, const float opt[2]) {
  for (size_t k = 0; k < p->n; k++) {
    size_t i = p->index[k];
    st_copy(f, k, m->buf[i]);
    if (m->mom[i]) st_copy(f, p->n + k, m->mom[i]);
  }
  m->opt.momentum = opt[0];
  m->opt.weight_decay = opt[1];
  gradc__meta_free(m->meta);
  m->meta = meta;
}

int gradc_load_checkpoint(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path) return gradc__fail(m, "cannot load a checkpoint: no path given");
  param_list p;
  char err[1024];
  int rc = params_of(m, &p) ? gradc__fail(m, "weights file '%s': out of memory", path) : 0;
  StFile f = {0};
  float opt[2] = {m->opt.momentum, m->opt.weight_decay};
  if (rc == 0 && (st_open(&f, path, p.want, p.n, p.trains, err, sizeof err) || file_optimiser(&f, &p, opt)))
    rc = gradc__fail(m, "%s", err);
  char **meta = rc == 0 ? meta_copy(&f) : NULL;
  if (rc == 0 && !meta) rc = gradc__fail(m, "weights file '%s': out of memory", path);
  if (rc == 0) commit_checkpoint(m, &f, &p, meta, opt);
  st_close(&f);
  params_free(&p);
  return rc;
}

const char *gradc_checkpoint_meta(const gradc_model *m, const char *key) {
  for (size_t i = 0; m && key && m->meta && m->meta[i]; i += 2)
    if (!strcmp(m->meta[i], key)) return m->meta[i + 1];
  return NULL;
}
