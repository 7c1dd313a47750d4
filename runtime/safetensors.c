/* runtime/safetensors.c — gradc_save / gradc_load (a model's parameters as a
 * safetensors file) and gradc_save_checkpoint / gradc_load_checkpoint (the same with the
 * optimiser's state), on the file format of gradc_formats (formats/safetensors.h: the
 * framing, the header, its validation, the CRC, the atomic write).
 *
 * What a model's file holds: one entry per param under its name, then (a checkpoint)
 * one per state tensor of the optimizer that exists and trainable param under
 * "NAME.STATE" ("w.momentum", "w.exp_avg"); "__metadata__": {"model": NAME,
 * "gradc_crc32": CRC, ...}, a checkpoint adding the optimizer's settings (gradc/runtime.h,
 * "Checkpoints") and its caller's strings. Load validates the whole file against the
 * model (any optimizer's state is allowed beside the parameters, and skipped by
 * gradc_load) before it copies anything, so a rejected file leaves the model untouched.
 * Nothing here aborts, exits or prints. */
#define _DEFAULT_SOURCE /* strdup */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "safetensors.h"

#define MAX_STATE_NAMES 16

/* Every optimizer's state names: what a reader of parameters validates and skips. */
static size_t all_states(const char **names) {
  int n = gradc_optimizer_state_names(names, MAX_STATE_NAMES);
  return (size_t)(n < MAX_STATE_NAMES ? n : MAX_STATE_NAMES);
}

static bool is_param(const gradc_model *m, size_t i) {
  return m->desc.tensors[i].info.role == GRADC_ROLE_PARAM;
}

/* The format's view of a tensor of the model (data: its values, for writing). */
static StTensor st_tensor(const gradc_tensor_info *ti, const char *name, const float *data) {
  return (StTensor){name, ti->rank, ti->shape, ti->count, data};
}

/* ---- save ---- */

/* The tensors of a file being written: a parameter, or a trainable parameter's state
 * tensor under "NAME.STATE" (names malloc'd). */
typedef struct {
  StTensor *t;
  size_t n;
} saved_list;

static void saved_free(saved_list *l) {
  for (size_t i = 0; l->t && i < l->n; i++) free((char *)l->t[i].name);
  free(l->t);
}

static bool saved_add(saved_list *l, const gradc_tensor_info *ti, const float *data, const char *state) {
  size_t len = strlen(ti->name) + strlen(state) + 2;
  char *name = malloc(len);
  if (!name) return false;
  snprintf(name, len, *state ? "%s.%s" : "%s%s", ti->name, state);
  l->t[l->n++] = st_tensor(ti, name, data);
  return true;
}

/* Every parameter in order; with optimiser state, then each state tensor that exists
 * (torch keeps no momentum buffer with momentum 0: neither does the file), every
 * trainable parameter's in order. */
static int saved_of(const gradc_model *m, bool state, saved_list *l) {
  l->n = 0;
  l->t = calloc((1 + GRADC_OPT_MAX_STATE) * m->desc.ntensors + 1, sizeof *l->t);
  bool ok = l->t != NULL;
  for (size_t i = 0; ok && i < m->desc.ntensors; i++)
    if (is_param(m, i)) ok = saved_add(l, &m->desc.tensors[i].info, m->buf[i], "");
  for (int s = 0; ok && state && s < m->opt->nstate; s++)
    for (size_t i = 0; ok && gradc__state_on(m, s) && i < m->desc.ntensors; i++)
      if (m->state[s][i]) ok = saved_add(l, &m->desc.tensors[i].info, m->state[s][i], m->opt->state_names[s]);
  if (!ok) saved_free(l);
  return ok ? 0 : -1;
}

/* What a checkpoint adds to __metadata__: the optimiser's settings, then the caller's. */
typedef struct {
  bool state;
  const char *const *keys, *const *values;
  size_t n;
} save_extra;

/* SGD without dampening or Nesterov: its checkpoint is as before there were others —
 * unless the model has dropout, whose masks follow the step count the file must keep. */
static bool first_format(const gradc_model *m) {
  return m->opt == &gradc_optimizer_sgd && m->hyper[3] == 0 && m->hyper[4] == 0 && !m->random;
}

/* The optimizer's settings as __metadata__ strings (keys[k], values[k] from k on, each
 * value in num[k]); returns the new k. */
static size_t optimizer_meta(const gradc_model *m, const char **keys, const char **values, char (*num)[64],
                             size_t k) {
  if (m->opt == &gradc_optimizer_sgd) {
    snprintf(num[k], sizeof num[k], "%.9g", (double)(float)m->hyper[1]);
    keys[k] = GRADC_META_MOMENTUM, values[k] = num[k], k++;
    snprintf(num[k], sizeof num[k], "%.9g", (double)(float)m->hyper[2]);
    keys[k] = GRADC_META_WEIGHT_DECAY, values[k] = num[k], k++;
    if (first_format(m)) return k;
  }
  keys[k] = GRADC_META_OPTIMIZER, values[k++] = m->opt->name;
  snprintf(num[k], sizeof num[k], "%" PRIu64, m->step);
  keys[k] = GRADC_META_OPTIMIZER_STEP, values[k] = num[k], k++;
  for (int h = 1; h < m->opt->nhyper; h++) {
    size_t at = k + GRADC_OPT_MAX_HYPER; /* the key's text after the values' */
    snprintf(num[at], sizeof num[at], GRADC_META_HYPER_PREFIX "%s", m->opt->hyper_names[h]);
    snprintf(num[k], sizeof num[k], "%.17g", m->hyper[h]);
    keys[k] = num[at], values[k] = num[k], k++;
  }
  return k;
}

/* The file: the tensors of l, __metadata__ the model's name, the CRC (st_write's) and
 * x's strings (the optimiser's settings first, when x->state). */
static int save_file(gradc_model *m, const char *path, const saved_list *l, const save_extra *x) {
  size_t most = x->n + 4 + GRADC_OPT_MAX_HYPER;
  const char **keys = calloc(most, sizeof *keys), **values = calloc(most, sizeof *values);
  char num[2 * (4 + GRADC_OPT_MAX_HYPER)][64], err[GRADC_ERR_LEN];
  size_t k = 0;
  if (keys && values && x->state) k = optimizer_meta(m, keys, values, num, 0);
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
         !strcmp(k, GRADC_META_WEIGHT_DECAY) || !strcmp(k, GRADC_META_OPTIMIZER) ||
         !strcmp(k, GRADC_META_OPTIMIZER_STEP) || !strncmp(k, GRADC_META_HYPER_PREFIX, strlen(GRADC_META_HYPER_PREFIX));
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
  if (saved_of(m, x->state, &l))
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
  const char *states[MAX_STATE_NAMES];
  int rc = st_read(path, t, dst, n, states, all_states(states), err, errlen);
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
      p->trains[p->n] = ti->trainable != 0;
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
  const char *states[MAX_STATE_NAMES];
  size_t nstates = all_states(states);
  if (rc == 0 && st_open(&f, path, p.want, p.n, NULL, states, nstates, err, sizeof err)) rc = gradc__fail(m, "%s", err);
  for (size_t k = 0; rc == 0 && k < p.n; k++) st_copy(&f, k, m->buf[p.index[k]]);
  st_close(&f);
  params_free(&p);
  return rc;
}

/* ---- checkpoints ---- */

/* What a file says of the optimizer: its rule (a checkpoint of another rule than the
 * model's switches the model to it), checked against the file. */
typedef struct {
  const gradc_optimizer *rule;           /* the model's, for a plain weights file */
  bool checkpoint;                       /* it records one (not a plain weights file) */
  bool recorded[GRADC_OPT_MAX_HYPER];    /* the hyper-parameters it records */
  double hyper[GRADC_OPT_MAX_HYPER];     /* the model's, where it records none */
  uint64_t step;
  bool has_step;
} file_opt;

/* A __metadata__ number the runtime wrote (%.9g or %.17g), finite, into *out (*present:
 * whether the key is there; *out unchanged when not). */
static int meta_number(StFile *f, const char *key, double *out, bool *present) {
  const char *v = st_meta(f, key);
  *present = v != NULL;
  if (!v) return 0;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || errno == ERANGE || !(d >= 0 && d <= 3.4028234663852886e38))
    return st_fail(f, "weights file '%s': __metadata__.%s is '%.40s', not a number >= 0", f->path, key, v);
  *out = d;
  return 0;
}

/* The rule the file is a checkpoint of (SGD for its first format's keys), and its
 * settings, into o; those it does not record are the model's (the rule's defaults when
 * the rule changes). */
static int file_rule(StFile *f, const gradc_model *m, file_opt *o) {
  const char *name = st_meta(f, GRADC_META_OPTIMIZER);
  bool sgd_keys = st_meta(f, GRADC_META_MOMENTUM) || st_meta(f, GRADC_META_WEIGHT_DECAY);
  o->checkpoint = name || sgd_keys;
  const gradc_optimizer *r = o->rule = o->checkpoint ? gradc_optimizer_find(name ? name : "sgd") : m->opt;
  if (!r)
    return st_fail(f, "weights file '%s': a checkpoint of optimizer '%.40s', which this runtime does not know", f->path,
                   name);
  if (r == m->opt) memcpy(o->hyper, m->hyper, sizeof o->hyper);
  for (int h = 0; r != m->opt && h < GRADC_OPT_MAX_HYPER; h++) o->hyper[h] = h < r->nhyper ? r->hyper_default[h] : 0;
  if (!o->checkpoint) return 0;
  if (r == &gradc_optimizer_sgd) { /* the first format's keys, %.9g of floats */
    if (meta_number(f, GRADC_META_MOMENTUM, &o->hyper[1], &o->recorded[1]) ||
        meta_number(f, GRADC_META_WEIGHT_DECAY, &o->hyper[2], &o->recorded[2]))
      return -1;
    o->hyper[1] = (float)o->hyper[1], o->hyper[2] = (float)o->hyper[2];
  }
  size_t plen = strlen(GRADC_META_HYPER_PREFIX);
  for (size_t i = 0; i < st_meta_count(f); i++) {
    const char *key, *value;
    st_meta_at(f, i, &key, &value);
    if (strncmp(key, GRADC_META_HYPER_PREFIX, plen)) continue;
    int h = gradc_optimizer_value_index(r, key + plen);
    if (h < 1 || h >= r->nhyper)
      return st_fail(f, "weights file '%s': __metadata__.%.80s names no hyper-parameter of optimizer %s", f->path, key,
                     r->name);
    if (meta_number(f, key, &o->hyper[h], &o->recorded[h])) return -1;
  }
  const char *why = NULL;
  int bad = gradc_optimizer_check(r, o->hyper, &why);
  if (bad) return st_fail(f, "weights file '%s': the recorded %s: %s", f->path,
                          bad <= r->nhyper ? r->hyper_names[bad - 1] : "hyper-parameters", why);
  double step = 0;
  if (meta_number(f, GRADC_META_OPTIMIZER_STEP, &step, &o->has_step)) return -1;
  if (o->has_step && (step != (double)(uint64_t)step || step > 9007199254740992.0))
    return st_fail(f, "weights file '%s': __metadata__.%s is not a whole number", f->path, GRADC_META_OPTIMIZER_STEP);
  o->step = (uint64_t)step;
  return 0;
}

/* The index in all_states of state s of the model's rule. */
static size_t state_entry(const char *const *states, size_t nstates, const char *name) {
  size_t j = 0;
  while (j < nstates && strcmp(states[j], name)) j++;
  return j;
}

/* The file's state tensors: only the model's rule's, and each whole (every trainable
 * parameter's, or none) and present when the file records the hyper-parameters that
 * make it exist (SGD: a momentum other than 0). */
static int file_state(StFile *f, const param_list *p, file_opt *o) {
  const gradc_optimizer *r = o->rule;
  size_t held = 0;
  for (size_t j = 0; j < f->nstates; j++) {
    size_t have = 0, trainable = 0, missing = 0, first = 0;
    for (size_t k = 0; k < p->n; k++) {
      bool has = st_has(f, (1 + j) * p->n + k);
      trainable += p->trains[k], have += has;
      if (p->trains[k] && !has && !missing) missing = k + 1;
      if (has && !first) first = k + 1;
    }
    held += have;
    int s = 0;
    while (s < r->nstate && strcmp(r->state_names[s], f->states[j])) s++;
    if (have && s == r->nstate)
      return st_fail(f, "weights file '%s': optimiser state '%s.%s' is not optimizer %s's", f->path,
                     p->want[first - 1].name, f->states[j], r->name);
    bool need = o->checkpoint && s < r->nstate;
    for (int h = 0; need && h < r->nhyper; h++)
      if (r->state_guard[s] & GRADC_IF(h)) need = o->recorded[h] && (float)o->hyper[h] != 0.0f;
    if ((have || need) && missing)
      return st_fail(f, "weights file '%s': missing optimiser state '%s.%s' (the file holds the %s of %zu of the "
                     "model's %zu trainable parameters)", f->path, p->want[missing - 1].name, f->states[j],
                     f->states[j], have, trainable);
  }
  if (!o->has_step) o->step = held ? 1 : 0; /* SGD's first format: no count; a buffer means a step */
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

/* Everything checked, the copy of the metadata made (and the state buffers of another
 * rule allocated, st): now the buffers change. */
static void commit_checkpoint(gradc_model *m, const StFile *f, const param_list *p, char **meta, const file_opt *o,
                              float **st[GRADC_OPT_MAX_STATE]) {
  if (o->rule != m->opt) gradc__optimizer_install(m, o->rule, st);
  for (size_t k = 0; k < p->n; k++) {
    size_t i = p->index[k];
    st_copy(f, k, m->buf[i]);
    for (int s = 0; s < m->opt->nstate; s++)
      if (m->state[s][i])
        st_copy(f, (1 + state_entry(f->states, f->nstates, m->opt->state_names[s])) * p->n + k, m->state[s][i]);
  }
  memcpy(m->hyper, o->hyper, sizeof m->hyper);
  m->step = o->step;
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
  file_opt o = {0};
  const char *states[MAX_STATE_NAMES];
  size_t nstates = all_states(states);
  if (rc == 0 && (st_open(&f, path, p.want, p.n, p.trains, states, nstates, err, sizeof err) ||
                  file_rule(&f, m, &o) || file_state(&f, &p, &o)))
    rc = gradc__fail(m, "%s", err);
  float **st[GRADC_OPT_MAX_STATE] = {0};
  if (rc == 0 && o.rule != m->opt && gradc__state_alloc(m, o.rule, st, path)) rc = -1;
  char **meta = rc == 0 ? meta_copy(&f) : NULL;
  if (rc == 0 && !meta) {
    gradc__state_free(m, st);
    rc = gradc__fail(m, "weights file '%s': out of memory", path);
  }
  if (rc == 0) commit_checkpoint(m, &f, &p, meta, &o, st);
  st_close(&f);
  params_free(&p);
  return rc;
}

const char *gradc_checkpoint_meta(const gradc_model *m, const char *key) {
  for (size_t i = 0; m && key && m->meta && m->meta[i]; i += 2)
    if (!strcmp(m->meta[i], key)) return m->meta[i + 1];
  return NULL;
}
