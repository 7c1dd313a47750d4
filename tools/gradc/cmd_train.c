/* cmd_train.c — `gradc train` and `gradc eval`: an optimizer (SGD, Adam, AdamW,
 * RMSprop: train_opts.h) on CSV data, and evaluation.
 *
 * Training compiles the model as written (its `batch` size makes one step), shuffles
 * the rows each epoch under --seed, and runs zero_grad / forward+backward / a finite
 * check of the loss and every gradient / the optimizer's step (clipped, at the
 * schedule's learning rate) per batch. -o writes a checkpoint:
 * the weights, the optimiser state and the run's step, limits, seed, data order and
 * data identity (train_state.h), from which --resume continues bit for bit; --load
 * takes any file's weights to start a new run. --epochs and --steps count from the
 * start of the run, a resumed one included. Evaluation compiles the same model a second
 * time with the batch dimension set to the number of rows, so one forward computes the
 * exact mean loss over all of them (PyTorch's reduction='mean' over the whole set) and
 * every prediction. */
#define _DEFAULT_SOURCE
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data.h"
#include "driver.h"
#include "gradc/runtime_core.h"
#include "train_opts.h"
#include "train_state.h"

typedef struct {
  gradc_model *m;
  Layout L;
} Built;

static int runtime_error(const char *cmd, gradc_model *m) {
  fprintf(stderr, "gradc %s: %s\n", cmd, gradc_error(m));
  return 1;
}

static void close_built(Built *b) {
  gradc_close(b->m);
  b->m = NULL;
}

/* Compiles and opens the model; with rows > 0 and a batch dimension, for that batch. */
static int open_model(const ModelArgs *base, size_t rows, Built *b, gc_result *res) {
  ModelArgs ma = *base;
  if (rows && res && res->batch_name[0]) {
    if (ma.ndefines == 64) return fprintf(stderr, "gradc: too many -D options\n"), 2;
    ma.names[ma.ndefines] = res->batch_name;
    ma.values[ma.ndefines++] = (long long)rows;
  }
  int status = 0;
  gc_result r;
  b->m = build_and_open_res(&ma, false, &status, &r);
  if (!b->m) return status;
  if (res && !rows) *res = r;
  char err[512];
  if (layout_of(b->m, &b->L, err, sizeof err)) {
    fprintf(stderr, "gradc: %s\n", err);
    close_built(b);
    return 1;
  }
  return 0;
}

static void copy_params(gradc_model *dst, gradc_model *src) {
  for (size_t i = 0; i < gradc_num_tensors(src); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(src, i);
    if (t->role != GRADC_ROLE_PARAM) continue;
    size_t n, m;
    float *s = gradc_tensor(src, t->name, &n), *d = gradc_tensor(dst, t->name, &m);
    if (d && m == n) memcpy(d, s, n * sizeof *s);
  }
}

/* Mean loss and accuracy over all rows of t. A model compiled for all the rows at once
 * takes one forward; one without a batch dimension takes a forward per row. */
static int evaluate(Built *e, const Table *t, double *loss, double *acc) {
  size_t per = e->L.batch, correct = 0;
  double sum = 0;
  size_t *idx = malloc(per * sizeof *idx);
  for (size_t r0 = 0; r0 < t->rows; r0 += per) {
    size_t n = t->rows - r0 < per ? t->rows - r0 : per;
    for (size_t k = 0; k < n; k++) idx[k] = r0 + k;
    fill_batch(e->m, &e->L, t, idx, n);
    if (gradc_forward(e->m)) return free(idx), fprintf(stderr, "gradc: %s\n", gradc_error(e->m)), 1;
    sum += (double)gradc_loss(e->m) * (double)n;
    correct += count_correct(e->m, &e->L, n);
  }
  free(idx);
  *loss = sum / (double)t->rows;
  *acc = has_accuracy(e->m, &e->L) ? 100.0 * (double)correct / (double)t->rows : NAN;
  return 0;
}

/* Stops training on a non-finite loss or gradient, naming the step and the tensor. */
static int finite_or_say(gradc_model *m, long long step, int epoch) {
  float loss = gradc_loss(m);
  if (!isfinite(loss)) {
    fprintf(stderr, "gradc train: step %lld (epoch %d): the loss is %s\n", step, epoch, isnan(loss) ? "NaN" : "infinite");
    return 1;
  }
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_PARAM || !t->trainable) continue;
    size_t n;
    const float *g = gradc_grad(m, t->name, &n);
    for (size_t k = 0; k < n; k++)
      if (!isfinite(g[k])) {
        fprintf(stderr, "gradc train: step %lld (epoch %d): the gradient of '%s' is %s at element %zu\n", step, epoch,
                t->name, isnan(g[k]) ? "NaN" : "infinite", k);
        return 1;
      }
  }
  return 0;
}

static void progress(int epoch, int epochs, size_t step, size_t steps, double loss) {
  int width = 30, done = (int)((double)width * (double)step / (double)steps);
  fprintf(stderr, "\repoch %d/%d [%.*s%*s] %zu/%zu loss %.4f ", epoch, epochs, done, "##############################",
          width - done, "", step, steps, loss);
  if (step == steps) fprintf(stderr, "\r%*s\r", 80, "");
}

static void shuffle(size_t *order, size_t n, gradc_rng *rng) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(gradc_rng_next(rng) % i), t = order[i - 1];
    order[i - 1] = order[j], order[j] = t;
  }
}

typedef struct {
  ModelArgs ma;
  const char *data, *val, *load, *resume, *out, *weights;
  long long epochs, steps; /* the run's limits: -1 when not given (--epochs then 10) */
  uint64_t seed;
  bool log_steps, seed_given, lr_given;
  double lr;
  OptimArgs opt; /* the optimizer, its hyper-parameters, clipping, the schedule */
} TrainArgs;

/* The learning rate: a number >= 0 that a float holds (the optimizers run in float). */
#define HYPER "a number >= 0 and below 3.4e38"
static bool hyper(const char *s, double *out, bool *given) {
  *given = true;
  return parse_double(s, out) && *out >= 0 && *out <= FLT_MAX;
}

/* One option at argv[*i] (the value's check in *ok, what it must be in *want); false if
 * argv[*i] is not one of train's and eval's options. */
static bool train_option(TrainArgs *a, int argc, char **argv, int *i, bool *ok, const char **want, const char **v) {
  if ((*v = opt_value("--data", argc, argv, i))) a->data = *v;
  else if ((*v = opt_value("--val", argc, argv, i))) a->val = *v;
  else if ((*v = opt_value("--load", argc, argv, i))) a->load = *v;
  else if ((*v = opt_value("--resume", argc, argv, i))) a->resume = *v;
  else if ((*v = opt_value("--weights", argc, argv, i))) a->weights = *v;
  else if ((*v = opt_value("-o", argc, argv, i))) a->out = *v;
  else if ((*v = opt_value("--epochs", argc, argv, i)))
    *ok = parse_int(*v, 1, 1000000, &a->epochs), *want = "an integer from 1 to 1000000";
  else if ((*v = opt_value("--seed", argc, argv, i)))
    *ok = parse_seed(*v, &a->seed), a->seed_given = true, *want = SEED_RANGE;
  else if ((*v = opt_value("--steps", argc, argv, i)))
    *ok = parse_int(*v, 0, INT64_MAX, &a->steps), *want = "an integer >= 0";
  else if (!strcmp(argv[*i], "--log-steps")) a->log_steps = true;
  else if ((*v = opt_value("--lr", argc, argv, i))) *ok = hyper(*v, &a->lr, &a->lr_given), *want = HYPER;
  else return optim_option(&a->opt, argc, argv, i, ok, want, v);
  return true;
}

static int parse_train_args(const char *cmd, int argc, char **argv, TrainArgs *a) {
  const char *v = NULL;
  for (int i = 0; i < argc; i++) {
    int d = parse_model_arg(&a->ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    bool ok = true;
    const char *want = NULL; /* what a value must be, for the message */
    if (train_option(a, argc, argv, &i, &ok, &want, &v)) {
      if (ok) continue;
      const char *opt = v == argv[i] ? argv[i - 1] : argv[i]; /* "--opt V" or "--opt=V" */
      int len = (int)strcspn(opt, "=");
      return fprintf(stderr, "gradc %s: %.*s %s: expected %s\n", cmd, len, opt, v, want), 2;
    }
    if (argv[i][0] == '-' && argv[i][1]) return unknown_option(cmd, argv[i]);
    if (a->ma.model) return fprintf(stderr, "gradc %s: more than one model file\n", cmd), 2;
    a->ma.model = argv[i];
  }
  if (optim_check_args(&a->opt)) return 2;
  if (a->load && a->resume)
    return fprintf(stderr, "gradc %s: --load starts a new run from a file's weights, --resume continues the run that "
                   "wrote it: give one\n", cmd), 2;
  /* --steps 0 writes the initial weights: no data to read */
  if (!a->ma.model || (!a->data && a->steps != 0)) return usage_of(cmd);
  return 0;
}

static int load_or_say(Built *b, const char *path, Table *t) {
  char err[1024];
  if (data_load(path, &b->L, t, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
  return 0;
}

/* The steps of one epoch (or of its rest, from step s0): 0, or 1 after a message. */
static int train_steps(TrainArgs *a, Built *tr, const Table *train, const size_t *order, TrainState *st, size_t s0,
                       size_t todo, long long ep, long long epochs) {
  gradc_model *m = tr->m;
  size_t B = tr->L.batch, correct = 0;
  double sum = 0;
  bool tty = isatty(2);
  bool scheduled = a->opt.sched.kind != GRADC_SCHED_CONST || a->opt.sched.warmup > 0;
  for (size_t s = 0; s < todo; s++) {
    fill_batch(m, &tr->L, train, order + (s0 + s) * B, B);
    gradc_zero_grad(m);
    /* step t counts from 0; the base rate as a float, as the checkpoint keeps it */
    float lr = (float)gradc_schedule_lr(&a->opt.sched, (double)(float)a->lr, st->step);
    if (optim_cycle_momentum(&a->opt, m, st->step)) return runtime_error("train", m);
    st->step++;
    if (gradc_backward(m)) return runtime_error("train", m);
    if (finite_or_say(m, st->step, (int)ep)) return 1;
    if (gradc_optimizer_step(m, lr)) return runtime_error("train", m);
    sum += (double)gradc_loss(m);
    if (a->log_steps) {
      printf("step %lld loss %.9g", st->step, (double)gradc_loss(m));
      if (scheduled) printf(" lr %.9g", (double)lr);
      if (a->opt.clip > 0) printf(" grad_norm %.9g", (double)gradc_grad_norm(m));
      printf("\n");
    }
    correct += count_correct(m, &tr->L, B);
    if (tty) progress((int)ep, (int)epochs, s0 + s + 1, s0 + todo, sum / (double)(s + 1));
  }
  printf("epoch %3lld/%lld  train loss %.6f", ep, epochs, sum / (double)todo);
  if (has_accuracy(m, &tr->L)) printf("  accuracy %6.2f%%", 100.0 * (double)correct / (double)(todo * B));
  return 0;
}

/* The data order after st's shuffles, replayed from the seed; 0, or 1 if the generator
 * does not end where the checkpoint says. */
static int replay_order(const TrainArgs *a, size_t *order, size_t rows, size_t S, TrainState *st, gradc_rng *rng) {
  for (size_t i = 0; i < rows; i++) order[i] = i;
  gradc_rng_seed(rng, st->seed, "shuffle");
  for (long long k = 0; k < (st->step + (long long)S - 1) / (long long)S; k++) shuffle(order, rows, rng);
  if (!a->resume || rng->state == st->rng) return 0;
  fprintf(stderr, "gradc train: --resume %s: the data order does not replay (its generator ends at %016llx, the "
          "checkpoint says %016llx)\n", a->resume, (unsigned long long)rng->state, (unsigned long long)st->rng);
  return 1;
}

/* The last step: --epochs' and --steps' (the first reached when both are given). */
static long long last_step(const TrainState *st, long long S) {
  long long end = st->run_epochs >= 0 ? st->run_epochs * S : st->run_steps >= 0 ? INT64_MAX : 10 * S;
  return st->run_steps >= 0 && st->run_steps < end ? st->run_steps : end;
}

static int train_epochs(TrainArgs *a, Built *tr, Built *ev, const Table *train, const Table *val, TrainState *st) {
  size_t B = tr->L.batch, S = train->rows / B;
  if (S == 0)
    return fprintf(stderr, "gradc train: %zu rows are fewer than one batch of %zu\n", train->rows, B), 1;
  if (train->rows % B)
    fprintf(stderr, "gradc train: %zu rows make %zu batches of %zu; the last %zu rows of each shuffle are dropped\n",
            train->rows, S, B, train->rows % B);
  st->has_data = true, st->rows = train->rows, st->batch = B, st->data_hash = data_hash(train);
  size_t *order = malloc(train->rows * sizeof *order);
  gradc_rng rng;
  int rc = replay_order(a, order, train->rows, S, st, &rng);
  long long end = last_step(st, (long long)S), epochs = (end + (long long)S - 1) / (long long)S;
  /* cosine and one-cycle span the --epochs plan (else --steps): a run cut short by
   * --steps, resumed with the same --epochs, continues the same schedule */
  optim_schedule_total(&a->opt, st->run_epochs >= 0 ? st->run_epochs * (long long)S : end);
  st->sched = a->opt.sched;
  long long done = st->step / (long long)S;
  if (!rc && st->step >= end)
    fprintf(stderr, "gradc train: the run has taken %lld steps (%lld epoch%s of %zu): %s %lld asks for no more; "
            "--epochs and --steps count from the start of the run\n", st->step, done, done == 1 ? "" : "s", S,
            st->run_steps == end ? "--steps" : "--epochs", st->run_steps == end ? st->run_steps : st->run_epochs);
  while (!rc && st->step < end) {
    long long ep = st->step / (long long)S + 1;
    size_t s0 = (size_t)(st->step % (long long)S);
    if (s0 == 0) shuffle(order, train->rows, &rng);
    size_t todo = end - st->step < (long long)(S - s0) ? (size_t)(end - st->step) : S - s0;
    if ((rc = train_steps(a, tr, train, order, st, s0, todo, ep, epochs))) break;
    if (val) {
      double vl, va;
      copy_params(ev->m, tr->m);
      if (evaluate(ev, val, &vl, &va)) rc = 1;
      else if (isnan(va)) printf("  val loss %.6f", vl);
      else printf("  val loss %.6f  val accuracy %6.2f%%", vl, va);
    }
    printf("\n");
    fflush(stdout);
  }
  st->rng = rng.state;
  free(order);
  return rc;
}

/* A hyperparameter of a resumed run: the checkpoint's unless given, and said if it
 * differs (the run then no longer continues the checkpoint's exactly). */
static void adopt(const char *opt, bool given, double *v, double ckpt) {
  if (!given) *v = ckpt;
  else if ((float)*v != (float)ckpt)
    fprintf(stderr, "gradc train: %s %.7g replaces the checkpoint's %.7g\n", opt, (double)(float)*v,
            (double)(float)ckpt);
}

/* The schedule and clipping of a resumed run: the checkpoint's unless options give
 * them (said when they differ). */
static void adopt_schedule(OptimArgs *o, const TrainState *st) {
  bool given = o->sched_given || o->step_size_given || o->gamma_given || o->warmup_given || o->warmup_start_given ||
               o->cycle_given;
  if (!given) o->sched = st->sched;
  else if (memcmp(&o->sched, &st->sched, sizeof o->sched) && (o->sched.kind || st->sched.kind))
    fprintf(stderr, "gradc train: the schedule options replace the checkpoint's schedule (%s)\n",
            st->sched.kind ? optim_schedule_name(st->sched.kind) : "none");
  if (!o->clip_given) o->clip = st->clip;
  else if ((float)o->clip != (float)st->clip)
    fprintf(stderr, "gradc train: --clip-grad-norm %.7g replaces the checkpoint's %.7g\n", (double)(float)o->clip,
            (double)(float)st->clip);
}

/* --resume: the checkpoint's weights, optimiser state and run state, checked against
 * this run; the options not given take the checkpoint's values. */
static int resume(TrainArgs *a, Built *tr, const Table *train, TrainState *st) {
  if (gradc_load_checkpoint(tr->m, a->resume)) return runtime_error("train", tr->m);
  if (state_read(tr->m, a->resume, a->steps == 0 ? NULL : train, tr->L.batch, st)) return 1;
  gradc_set_seed(tr->m, st->seed); /* dropout's masks continue the run's sequence (its step count is restored) */
  if (a->seed_given && a->seed != st->seed)
    return fprintf(stderr, "gradc train: --resume %s continues the data order of seed %llu: --seed %llu cannot change "
                   "it; start a new run from its weights with --load\n", a->resume, (unsigned long long)st->seed,
                   (unsigned long long)a->seed), 2;
  adopt("--lr", a->lr_given, &a->lr, st->lr);
  adopt_schedule(&a->opt, st);
  if (a->epochs >= 0 || a->steps >= 0) st->run_epochs = a->epochs, st->run_steps = a->steps; /* a new plan */
  return 0;
}

/* Loads the data (none for --steps 0) and opens the model for the validation rows (res:
 * what compiling the training model reported), initialises, loads --load or --resume. */
static int prepare(TrainArgs *a, Built *tr, gc_result *res, Built *ev, Table *train, Table *val, TrainState *st) {
  int rc = needs_loss("train", tr->m);
  bool data = a->steps != 0;
  if (!rc && data) rc = load_or_say(tr, a->data, train);
  if (!rc && data && a->val) rc = load_or_say(tr, a->val, val);
  if (!rc && data && a->val) rc = open_model(&a->ma, val->rows, ev, res);
  if (!rc && (init_model(tr->m, a->seed, &a->ma) || (a->load && gradc_load(tr->m, a->load))))
    rc = runtime_error("train", tr->m);
  gradc_rng rng;
  gradc_rng_seed(&rng, a->seed, "shuffle");
  *st = (TrainState){.step = 0, .run_epochs = a->epochs, .run_steps = a->steps, .seed = a->seed, .rng = rng.state,
                     .lr = a->lr};
  if (a->steps >= 0 && a->epochs < 0) st->run_epochs = -1;
  else if (a->epochs < 0) st->run_epochs = 10; /* the default */
  if (!rc && a->resume) rc = resume(a, tr, train, st);
  if (!rc) rc = optim_apply(&a->opt, tr->m, a->resume);
  if (!rc && !a->lr_given && !a->resume) gradc_get_hyper(tr->m, "lr", &a->lr); /* the rule's default */
  if (!rc) st->lr = a->lr, st->sched = a->opt.sched, st->clip = a->opt.clip;
  return rc;
}

int cmd_train(int argc, char **argv) {
  TrainArgs a = {.epochs = -1, .steps = -1};
  optim_args_init(&a.opt);
  int rc = parse_train_args("train", argc, argv, &a);
  if (rc) return rc;
  Built tr = {0}, ev = {0};
  Table train = {0}, val = {0};
  gc_result res;
  TrainState st;
  if ((rc = open_model(&a.ma, 0, &tr, &res))) return rc;
  rc = prepare(&a, &tr, &res, &ev, &train, &val, &st);
  if (!rc && !a.out) /* said before the run, which may be long */
    fprintf(stderr, "gradc train: no -o: the trained weights will not be saved (-o OUT.safetensors keeps them)\n");
  if (!rc && a.steps != 0) rc = train_epochs(&a, &tr, &ev, &train, ev.m ? &val : NULL, &st);
  if (!rc && a.out) {
    if (state_save(tr.m, a.out, &st)) rc = 1;
    else fprintf(stderr, "gradc train: saved %s (step %lld)\n", a.out, st.step);
  }
  data_free(&train);
  data_free(&val);
  close_built(&ev);
  close_built(&tr);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  TrainArgs a = {.epochs = -1, .steps = -1};
  optim_args_init(&a.opt);
  int rc = parse_train_args("eval", argc, argv, &a);
  if (rc) return rc;
  if (!a.weights && !is_onnx(a.ma.model)) { /* eval judges trained parameters: a .grad model has none of its own */
    fprintf(stderr, "gradc eval: --weights W.safetensors is missing: the trained parameters to evaluate (as "
                    "written by 'gradc train -o W.safetensors')\n");
    return usage_of("eval");
  }
  Built probe = {0}, ev = {0};
  Table t = {0};
  gc_result res;
  if ((rc = open_model(&a.ma, 0, &probe, &res))) return rc;
  rc = load_or_say(&probe, a.data, &t);
  close_built(&probe);
  if (!rc) rc = open_model(&a.ma, t.rows, &ev, &res);
  if (!rc && (init_model(ev.m, 0, &a.ma) || (a.weights && gradc_load(ev.m, a.weights))))
    rc = runtime_error("eval", ev.m);
  double loss, acc;
  if (!rc && !(rc = evaluate(&ev, &t, &loss, &acc))) {
    printf("loss %.6f\n", loss);
    if (!isnan(acc)) printf("accuracy %.2f%%\n", acc);
  }
  data_free(&t);
  close_built(&ev);
  return rc;
}
