/* train_state.c — a `gradc train` checkpoint's metadata (train_state.h): writing it
 * with the weights, reading it back for `--resume`, and refusing a resume whose model,
 * frozen parameters or data differ from the run it would continue. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver.h"
#include "train_opts.h" /* the schedules' names */
#include "train_state.h"

#define NEW_RUN "start a new run from its weights with --load"

uint64_t data_hash(const Table *t) {
  const unsigned char *b = (const unsigned char *)t->v;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < t->rows * t->cols * sizeof *t->v; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* The frozen parameters, comma-separated, into out. */
static void frozen_list(gradc_model *m, char *out, size_t len) {
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_PARAM && !t->trainable && !t->buffer && o < len)
      o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "", t->name);
  }
}

typedef struct {
  const char *keys[28], *values[28];
  char text[28][64];
  size_t n;
} Meta;

static void put(Meta *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(Meta *m, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->text[m->n], sizeof m->text[m->n], fmt, ap);
  va_end(ap);
  m->keys[m->n] = key;
  m->values[m->n] = m->text[m->n];
  m->n++;
}

/* Clipping and the schedule, when the run has them. */
static void put_schedule(Meta *md, const TrainState *s) {
  const gradc_schedule *c = &s->sched;
  if (s->clip > 0) put(md, "gradc_clip_grad_norm", "%.9g", (double)(float)s->clip);
  if (c->kind != GRADC_SCHED_CONST) put(md, "gradc_schedule", "%s", optim_schedule_name(c->kind));
  if (c->kind == GRADC_SCHED_COSINE || c->kind == GRADC_SCHED_ONECYCLE)
    put(md, "gradc_schedule_steps", "%lld", (long long)(c->kind == GRADC_SCHED_COSINE ? c->t_max : c->total_steps));
  if (c->kind == GRADC_SCHED_ONECYCLE) {
    if (c->max_momentum > 0) put(md, "gradc_cycle_momentum", "%.17g,%.17g", c->base_momentum, c->max_momentum);
    else put(md, "gradc_cycle_momentum", "off");
  }
  if (c->kind == GRADC_SCHED_STEP) {
    put(md, "gradc_step_size", "%lld", (long long)c->step_size);
    put(md, "gradc_gamma", "%.17g", c->gamma);
  }
  if (c->warmup > 0) {
    put(md, "gradc_warmup", "%lld", (long long)c->warmup);
    put(md, "gradc_warmup_start", "%.17g", c->start_factor);
  }
}

int state_save(gradc_model *m, const char *path, const TrainState *s) {
  Meta md = {.n = 0};
  put(&md, "gradc_checkpoint", "1");
  put(&md, "gradc_step", "%lld", s->step);
  put(&md, "gradc_epoch", "%lld", s->has_data ? s->step / (long long)(s->rows / s->batch) : 0);
  if (s->run_epochs >= 0) put(&md, "gradc_run_epochs", "%lld", s->run_epochs);
  if (s->run_steps >= 0) put(&md, "gradc_run_steps", "%lld", s->run_steps);
  put(&md, "gradc_seed", "%" PRIu64, s->seed);
  put(&md, "gradc_rng", "%016" PRIx64, s->rng);
  put(&md, "gradc_lr", "%.9g", (double)(float)s->lr);
  if (s->has_data) {
    put(&md, "gradc_rows", "%zu", s->rows);
    put(&md, "gradc_batch", "%zu", s->batch);
    put(&md, "gradc_data_fnv1a64", "%016" PRIx64, s->data_hash);
  }
  put_schedule(&md, s);
  char frozen[4096];
  frozen_list(m, frozen, sizeof frozen);
  const char *keys[29], *values[29];
  memcpy(keys, md.keys, md.n * sizeof *keys);
  memcpy(values, md.values, md.n * sizeof *values);
  keys[md.n] = "gradc_frozen", values[md.n] = frozen;
  if (gradc_save_checkpoint(m, path, keys, values, md.n + 1))
    return fprintf(stderr, "gradc train: %s\n", gradc_error(m)), 1;
  return 0;
}

/* ---- reading ---- */

typedef struct {
  gradc_model *m;
  const char *path;
  bool bad;
} Reader;

/* The value of key: NULL if absent (then, if required, a message and r->bad). */
static const char *get(Reader *r, const char *key, bool required) {
  const char *v = gradc_checkpoint_meta(r->m, key);
  if (!v && required && !r->bad) {
    fprintf(stderr, "gradc train: --resume %s: the checkpoint has no __metadata__.%s\n", r->path, key);
    r->bad = true;
  }
  return v;
}

static void malformed(Reader *r, const char *key, const char *v) {
  if (!r->bad) fprintf(stderr, "gradc train: --resume %s: __metadata__.%s is '%.40s', not a count\n", r->path, key, v);
  r->bad = true;
}

static long long get_count(Reader *r, const char *key, bool required) {
  const char *v = get(r, key, required);
  long long n = -1;
  if (v && !parse_int(v, 0, INT64_MAX, &n)) malformed(r, key, v);
  return n;
}

static uint64_t get_hex(Reader *r, const char *key) {
  const char *v = get(r, key, true);
  char *end;
  errno = 0;
  uint64_t x = v ? strtoull(v, &end, 16) : 0;
  if (v && (strlen(v) != 16 || *end || errno)) malformed(r, key, v);
  return x;
}

/* The run this one continues must have had the same model and frozen parameters. */
static int same_model(Reader *r) {
  const char *model = get(r, "model", true), *frozen = get(r, "gradc_frozen", true);
  if (r->bad) return 1;
  char here[4096];
  frozen_list(r->m, here, sizeof here);
  if (strcmp(model, gradc_model_name(r->m)))
    return fprintf(stderr, "gradc train: --resume %s: the checkpoint is of model '%s', not '%s'; " NEW_RUN "\n",
                   r->path, model, gradc_model_name(r->m)), 1;
  if (strcmp(frozen, here))
    return fprintf(stderr, "gradc train: --resume %s: the checkpoint's run froze %s, this run freezes %s: pass the "
                   "same --freeze, or " NEW_RUN "\n", r->path, *frozen ? frozen : "nothing",
                   *here ? here : "nothing"), 1;
  return 0;
}

/* Its data must be this run's: the same rows, batch and values. */
static int same_data(Reader *r, const TrainState *s, const Table *data, size_t batch) {
  if (!s->has_data || !data) return 0;
  if (s->rows != data->rows || s->batch != batch)
    return fprintf(stderr, "gradc train: --resume %s: the checkpoint was trained on %zu rows in batches of %zu, this "
                   "run has %zu rows in batches of %zu: resume with the same --data and -D, or " NEW_RUN "\n", r->path,
                   s->rows, s->batch, data->rows, batch), 1;
  if (s->data_hash != data_hash(data))
    return fprintf(stderr, "gradc train: --resume %s: --data holds other values than the data the checkpoint was "
                   "trained on (the same %zu rows): resume with the same --data, or " NEW_RUN "\n", r->path,
                   s->rows), 1;
  return 0;
}

/* A number the checkpoint records (finite, >= 0), or fallback when absent. */
static double get_number(Reader *r, const char *key, double fallback) {
  const char *v = get(r, key, false);
  double d = fallback;
  if (v && (!parse_double(v, &d) || d < 0)) {
    if (!r->bad) fprintf(stderr, "gradc train: --resume %s: __metadata__.%s is '%.40s', not a number >= 0\n", r->path,
                         key, v);
    r->bad = true;
  }
  return d;
}

/* Clipping and the schedule of the run (none when the checkpoint records none). */
static void read_schedule(Reader *r, TrainState *s) {
  OptimArgs none;
  optim_args_init(&none);
  gradc_schedule *c = &s->sched;
  *c = none.sched;
  s->clip = get_number(r, "gradc_clip_grad_norm", 0);
  const char *kind = get(r, "gradc_schedule", false);
  int k = kind ? optim_schedule_kind(kind) : GRADC_SCHED_CONST;
  if (k < 0) {
    if (!r->bad) fprintf(stderr, "gradc train: --resume %s: __metadata__.gradc_schedule is '%.40s', not step, cosine "
                         "or onecycle\n", r->path, kind);
    r->bad = true;
    return;
  }
  c->kind = (gradc_schedule_kind)k;
  long long steps = get_count(r, "gradc_schedule_steps", k == GRADC_SCHED_COSINE || k == GRADC_SCHED_ONECYCLE);
  if (k == GRADC_SCHED_COSINE) c->t_max = steps;
  if (k == GRADC_SCHED_ONECYCLE) {
    c->total_steps = steps;
    const char *cyc = get(r, "gradc_cycle_momentum", false); /* absent: a checkpoint from before it */
    if (!cyc) c->max_momentum = 0;
    else if (!optim_parse_cycle(cyc, c)) malformed(r, "gradc_cycle_momentum", cyc);
  }
  if (k == GRADC_SCHED_STEP) c->step_size = get_count(r, "gradc_step_size", true), c->gamma = get_number(r, "gradc_gamma", 0.1);
  long long w = get_count(r, "gradc_warmup", false);
  c->warmup = w > 0 ? w : 0;
  c->start_factor = get_number(r, "gradc_warmup_start", c->start_factor);
}

int state_read(gradc_model *m, const char *path, const Table *data, size_t batch, TrainState *s) {
  Reader r = {m, path, false};
  const char *version = get(&r, "gradc_checkpoint", false);
  if (!version)
    return fprintf(stderr, "gradc train: --resume %s: not a training checkpoint (no step, epoch or data order); "
                   "use --load to start a new run from its weights\n", path), 1;
  if (strcmp(version, "1"))
    return fprintf(stderr, "gradc train: --resume %s: checkpoint format '%.20s'; this gradc reads format 1\n", path,
                   version), 1;
  if (same_model(&r)) return 1;
  s->step = get_count(&r, "gradc_step", true);
  s->run_epochs = get_count(&r, "gradc_run_epochs", false);
  s->run_steps = get_count(&r, "gradc_run_steps", false);
  const char *seed = get(&r, "gradc_seed", true), *lr = get(&r, "gradc_lr", true);
  if (seed && !parse_seed(seed, &s->seed)) malformed(&r, "gradc_seed", seed);
  if (lr && !parse_double(lr, &s->lr)) malformed(&r, "gradc_lr", lr);
  s->rng = get_hex(&r, "gradc_rng");
  read_schedule(&r, s);
  s->has_data = get(&r, "gradc_rows", false) != NULL;
  if (s->has_data) {
    long long rows = get_count(&r, "gradc_rows", true), b = get_count(&r, "gradc_batch", true);
    s->rows = (size_t)rows, s->batch = (size_t)b;
    s->data_hash = get_hex(&r, "gradc_data_fnv1a64");
    if (!r.bad && (b < 1 || rows < b)) malformed(&r, "gradc_batch", get(&r, "gradc_batch", true));
  }
  if (r.bad) return 1;
  return same_data(&r, s, data, batch);
}
