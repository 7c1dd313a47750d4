/* cmd_bench.c — `gradc bench`: the compiled model against the dynamic tape baseline.
 *
 * Both run in this process on the same inputs and parameters: one training step
 * (compiled: gradc_train_step, the fused entry point; tape: zero_grad, forward +
 * backward over a run-time tape, SGD) and one inference (forward only). Each is timed
 * as the median over repeats of the mean time of a batch of calls, after a warm-up;
 * the batch is sized so that one repeat takes about 20 ms. GFLOP/s counts the matrix
 * products and convolutions a minimal implementation performs (gc_result.flops_*).
 * When the compiled model splits large products over the runtime's thread pool, it is
 * timed on the pool's threads and again on one thread (the tape is single-threaded). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "driver.h"

#define REPEATS 11

typedef struct {
  gradc_model *m;
  tape_model *t;
} Pair;

typedef void (*Step)(Pair *);

static void compiled_train(Pair *p) { gradc_train_step(p->m, 1e-4f); }
static void compiled_infer(Pair *p) { gradc_forward(p->m); }
static void tape_train(Pair *p) {
  tape_zero_grad(p->t);
  tape_backward(p->t);
  tape_sgd_step(p->t, 1e-4f);
}
static void tape_infer(Pair *p) { tape_forward(p->t); }

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median over REPEATS of the mean microseconds per call of `calls` calls. */
static double median_us(Step f, Pair *p, long *calls) {
  double t0 = now_us();
  long n = 0;
  while (now_us() - t0 < 20000 || n < 3) f(p), n++; /* warm-up, and the batch size */
  if (*calls <= 0) *calls = n;
  double t[REPEATS];
  for (int r = 0; r < REPEATS; r++) {
    double s = now_us();
    for (long i = 0; i < *calls; i++) f(p);
    t[r] = (now_us() - s) / (double)*calls;
  }
  qsort(t, REPEATS, sizeof t[0], cmp_double);
  return t[REPEATS / 2];
}

/* The same inputs and parameters in both engines. */
static int share_values(gradc_model *m, tape_model *t, uint64_t seed, const ModelArgs *ma) {
  if (init_model(m, seed, ma)) return fprintf(stderr, "gradc bench: %s\n", gradc_error(m)), 1;
  random_inputs(m, seed);
  return copy_to_tape(m, t, "gradc bench");
}

typedef struct {
  double us, us1, tape_us, flops; /* us1: gradc on one thread (= us without parts) */
} Row;

static void print_row(const char *what, Row r) {
  printf("%-12s %12.2f %12.2f %12.2f %10.1fx %12.2f\n", what, r.us, r.us1, r.tape_us, r.tape_us / r.us,
         r.flops / r.us / 1e3);
}

static void json_row(const char *what, Row r, bool last) {
  printf("\"%s\": {\"gradc_us\": %.4g, \"gradc_1thread_us\": %.4g, \"tape_us\": %.4g, \"speedup_vs_tape\": %.4g, "
         "\"flops\": %.6g, \"gradc_gflops\": %.4g, \"gradc_1thread_gflops\": %.4g, \"tape_gflops\": %.4g}%s",
         what, r.us, r.us1, r.tape_us, r.tape_us / r.us, r.flops, r.flops / r.us / 1e3, r.flops / r.us1 / 1e3,
         r.flops / r.tape_us / 1e3, last ? "" : ", ");
}

/* The compiled step on the pool's threads, then on one (the same, without parts). */
static void time_compiled(Step f, Pair *p, int threads, long *calls, double *us, double *us1) {
  *us = median_us(f, p, calls);
  if (threads < 2) return (void)(*us1 = *us);
  gradc_set_threads(p->m, 1);
  long n1 = *calls;
  *us1 = median_us(f, p, &n1);
  gradc_set_threads(p->m, threads);
}

int cmd_bench(int argc, char **argv) {
  ModelArgs ma = {0};
  long long steps = 0;
  uint64_t seed = 0;
  bool json = false;
  const char *v;
  for (int i = 0; i < argc; i++) {
    int d = parse_model_arg(&ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if ((v = opt_value("--steps", argc, argv, &i))) {
      if (!parse_int(v, 1, 100000000, &steps)) return fprintf(stderr, "gradc bench: --steps %s: expected a count\n", v), 2;
    } else if ((v = opt_value("--seed", argc, argv, &i))) {
      if (!parse_seed(v, &seed)) return fprintf(stderr, "gradc bench: --seed %s: expected " SEED_RANGE "\n", v), 2;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return unknown_option("bench", argv[i]);
    } else if (ma.model) {
      return fprintf(stderr, "gradc bench: more than one model file\n"), 2;
    } else {
      ma.model = argv[i];
    }
  }
  if (!ma.model) return usage_of("bench");
  char err[8192];
  int status = 0;
  gc_result res;
  gradc_model *m = build_and_open_res(&ma, false, &status, &res);
  if (!m) return status;
  gc_onnx *om = import_model(&ma, "bench", &status);
  Pair p = {m, tape_open(ma.model, om ? gc_onnx_source(om) : NULL, ma.names, ma.values, ma.ndefines, err, sizeof err)};
  gc_onnx_free(om);
  int rc = 0;
  if (!p.t) {
    fprintf(stderr, "gradc bench: tape engine: %s\n", err);
    rc = 1;
  } else {
    rc = needs_loss("bench", m);
  }
  if (!rc) rc = share_values(m, p.t, seed, &ma);
  if (!rc) {
    long n_train = steps, n_infer = steps, t_train = steps, t_infer = steps;
    int threads = gradc_set_threads(m, 0);
    Row train = {0, 0, median_us(tape_train, &p, &t_train), res.flops_backward};
    Row infer = {0, 0, median_us(tape_infer, &p, &t_infer), res.flops_forward};
    time_compiled(compiled_train, &p, threads, &n_train, &train.us, &train.us1);
    time_compiled(compiled_infer, &p, threads, &n_infer, &infer.us, &infer.us1);
    if (json) {
      printf("{\"model\": \"%s\", \"file\": \"%s\", \"batch\": %lld, \"repeats\": %d, \"threads\": %d, ",
             gradc_model_name(m), ma.model, (long long)(res.batch_size ? res.batch_size : 1), REPEATS, threads);
      json_row("train_step", train, false);
      json_row("inference", infer, true);
      printf("}\n");
    } else {
      printf("gradc bench %s: model %s, batch %lld; per call: train %.3g MFLOP, inference %.3g MFLOP\n", ma.model,
             gradc_model_name(m), (long long)(res.batch_size ? res.batch_size : 1), res.flops_backward / 1e6,
             res.flops_forward / 1e6);
      printf("gradc runs its large matrix products on %d thread%s; the tape on one\n", threads, threads > 1 ? "s" : "");
      printf("%-12s %12s %12s %12s %11s %12s\n", "", "gradc us", "1 thread us", "tape us", "tape/gradc", "gradc GFLOP/s");
      print_row("train step", train);
      print_row("inference", infer);
      printf("median of %d repeats of %ld/%ld (train) and %ld/%ld (inference) calls, gradc/tape\n", REPEATS, n_train,
             t_train, n_infer, t_infer);
    }
  }
  tape_close(p.t);
  gradc_close(m);
  return rc;
}
