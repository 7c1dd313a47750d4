/* cmd_train.c — `gradc train` and `gradc eval`: SGD on CSV data, and evaluation.
 *
 * Training compiles the model as written (its `batch` size makes one step), shuffles
 * the rows each epoch under --seed, and runs zero_grad / forward+backward / a finite
 * check of the loss and every gradient / SGD update per batch. Evaluation compiles the
 * same model a second time with the batch dimension set to the number of rows, so one
 * forward computes the exact mean loss over all of them (PyTorch's reduction='mean'
 * over the whole set) and every prediction. */
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
static int finite_or_say(gradc_model *m, long step, int epoch) {
  float loss = gradc_loss(m);
  if (!isfinite(loss)) {
    fprintf(stderr, "gradc train: step %ld (epoch %d): the loss is %s\n", step, epoch, isnan(loss) ? "NaN" : "infinite");
    return 1;
  }
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_PARAM || !t->trainable) continue;
    size_t n;
    const float *g = gradc_grad(m, t->name, &n);
    for (size_t k = 0; k < n; k++)
      if (!isfinite(g[k])) {
        fprintf(stderr, "gradc train: step %ld (epoch %d): the gradient of '%s' is %s at element %zu\n", step, epoch,
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
  const char *data, *val, *load, *out, *weights;
  long long epochs, steps; /* steps: stop after this many SGD steps (-1: all) */
  uint64_t seed;
  bool log_steps;
  double lr, momentum, wd;
} TrainArgs;

/* An optimiser hyperparameter: a number >= 0 that a float holds (SGD runs in float). */
#define HYPER "a number >= 0 and below 3.4e38"
static bool hyper(const char *s, double *out) { return parse_double(s, out) && *out >= 0 && *out <= FLT_MAX; }

static int parse_train_args(const char *cmd, int argc, char **argv, TrainArgs *a) {
  const char *v;
  for (int i = 0; i < argc; i++) {
    int d = parse_define(&a->ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    bool ok = true;
    const char *want = NULL; /* what a value must be, for the message */
    if ((v = opt_value("--data", argc, argv, &i))) a->data = v;
    else if ((v = opt_value("--val", argc, argv, &i))) a->val = v;
    else if ((v = opt_value("--load", argc, argv, &i))) a->load = v;
    else if ((v = opt_value("--weights", argc, argv, &i))) a->weights = v;
    else if ((v = opt_value("-o", argc, argv, &i))) a->out = v;
    else if ((v = opt_value("--epochs", argc, argv, &i)))
      ok = parse_int(v, 1, 1000000, &a->epochs), want = "an integer from 1 to 1000000";
    else if ((v = opt_value("--seed", argc, argv, &i)))
      ok = parse_seed(v, &a->seed), want = SEED_RANGE;
    else if ((v = opt_value("--steps", argc, argv, &i)))
      ok = parse_int(v, 0, INT64_MAX, &a->steps), want = "an integer >= 0";
    else if (!strcmp(argv[i], "--log-steps")) a->log_steps = true;
    else if ((v = opt_value("--lr", argc, argv, &i))) ok = hyper(v, &a->lr), want = HYPER;
    else if ((v = opt_value("--momentum", argc, argv, &i))) ok = hyper(v, &a->momentum), want = HYPER;
    else if ((v = opt_value("--weight-decay", argc, argv, &i))) ok = hyper(v, &a->wd), want = HYPER;
    else if (argv[i][0] == '-' && argv[i][1]) {
      return unknown_option(cmd, argv[i]);
    } else if (a->ma.model) {
      return fprintf(stderr, "gradc %s: more than one model file\n", cmd), 2;
    } else {
      a->ma.model = argv[i];
    }
    if (!ok) { /* the option is argv[i - 1] when its value was a word of its own */
      const char *opt = v == argv[i] ? argv[i - 1] : argv[i];
      int len = (int)strcspn(opt, "=");
      return fprintf(stderr, "gradc %s: %.*s %s: expected %s\n", cmd, len, opt, v, want), 2;
    }
  }
  if (!a->ma.model || !a->data) return usage_of(cmd);
  return 0;
}

static int load_or_say(Built *b, const char *path, Table *t) {
  char err[1024];
  if (data_load(path, &b->L, t, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
  return 0;
}

static int train_epochs(TrainArgs *a, Built *tr, Built *ev, const Table *train, const Table *val) {
  gradc_model *m = tr->m;
  size_t B = tr->L.batch, steps = train->rows / B;
  if (steps == 0)
    return fprintf(stderr, "gradc train: %zu rows are fewer than one batch of %zu\n", train->rows, B), 1;
  if (train->rows % B)
    fprintf(stderr, "gradc train: %zu rows make %zu batches of %zu; the last %zu rows of each shuffle are dropped\n",
            train->rows, steps, B, train->rows % B);
  size_t *order = malloc(train->rows * sizeof *order);
  for (size_t i = 0; i < train->rows; i++) order[i] = i;
  gradc_rng rng;
  gradc_rng_seed(&rng, a->seed, "shuffle");
  bool tty = isatty(2);
  long step = 0;
  int rc = 0;
  if (a->steps >= 0) /* as many epochs as the steps need */
    a->epochs = a->steps ? (a->steps + (long long)steps - 1) / (long long)steps : 0;
  for (int ep = 1; ep <= a->epochs && !rc; ep++) {
    shuffle(order, train->rows, &rng);
    double sum = 0;
    size_t correct = 0;
    size_t todo = a->steps >= 0 && (long long)steps > a->steps - step ? (size_t)(a->steps - step) : steps;
    for (size_t s = 0; s < todo && !rc; s++) {
      fill_batch(m, &tr->L, train, order + s * B, B);
      gradc_zero_grad(m);
      step++;
      if (gradc_backward(m)) rc = runtime_error("train", m);
      else if (finite_or_say(m, step, ep)) rc = 1;
      if (rc) break;
      gradc_sgd_step(m, (float)a->lr);
      sum += (double)gradc_loss(m);
      if (a->log_steps) printf("step %ld loss %.9g\n", step, (double)gradc_loss(m));
      correct += count_correct(m, &tr->L, B);
      if (tty) progress(ep, (int)a->epochs, s + 1, todo, sum / (double)(s + 1));
    }
    if (rc) break;
    printf("epoch %3d/%lld  train loss %.6f", ep, a->epochs, sum / (double)todo);
    if (has_accuracy(m, &tr->L)) printf("  accuracy %6.2f%%", 100.0 * (double)correct / (double)(todo * B));
    if (val) {
      double vl, va;
      copy_params(ev->m, m);
      if (evaluate(ev, val, &vl, &va)) rc = 1;
      else if (isnan(va)) printf("  val loss %.6f", vl);
      else printf("  val loss %.6f  val accuracy %6.2f%%", vl, va);
    }
    printf("\n");
    fflush(stdout);
  }
  free(order);
  return rc;
}

int cmd_train(int argc, char **argv) {
  TrainArgs a = {.epochs = 10, .lr = 0.01, .steps = -1};
  int rc = parse_train_args("train", argc, argv, &a);
  if (rc) return rc;
  Built tr = {0}, ev = {0};
  Table train = {0}, val = {0};
  gc_result res;
  if ((rc = open_model(&a.ma, 0, &tr, &res))) return rc;
  rc = needs_loss("train", tr.m);
  if (!rc) rc = load_or_say(&tr, a.data, &train);
  if (!rc && a.val) rc = load_or_say(&tr, a.val, &val);
  if (!rc && a.val) rc = open_model(&a.ma, val.rows, &ev, &res);
  if (!rc && (gradc_init(tr.m, a.seed) || (a.load && gradc_load(tr.m, a.load))))
    rc = runtime_error("train", tr.m);
  if (!rc) {
    gradc_set_optimizer(tr.m, (float)a.momentum, (float)a.wd);
    rc = train_epochs(&a, &tr, &ev, &train, a.val ? &val : NULL);
  }
  if (!rc && a.out) {
    if (gradc_save(tr.m, a.out)) rc = runtime_error("train", tr.m);
    else fprintf(stderr, "gradc train: saved %s\n", a.out);
  }
  data_free(&train);
  data_free(&val);
  close_built(&ev);
  close_built(&tr);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  TrainArgs a = {0};
  int rc = parse_train_args("eval", argc, argv, &a);
  if (rc) return rc;
  if (!a.weights) { /* eval judges trained parameters: it has none of its own to start from */
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
  if (!rc && (gradc_init(ev.m, 0) || gradc_load(ev.m, a.weights)))
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
