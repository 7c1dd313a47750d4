/* cmd_check.c — `gradc check`: are the compiled gradients right?
 *
 * On random inputs (labels drawn among their classes) and parameters from their INIT,
 * compares for every trainable parameter: the compiled gradient (float32 native code)
 * against central finite differences of the reference evaluator's loss in float64
 * (probed elements), against the dynamic tape baseline's gradient (every element: the
 * tape shares no derivative rule with the compiler), and the evaluator's own symbolic
 * gradient against the finite differences. Prints a table of max abs/rel errors and
 * exits 1 on a mismatch beyond tolerance. A model that calls detach() has gradients
 * that are not the loss's derivative (as in PyTorch): there only the tape judges. Nor
 * do finite differences measure a slope where a probe moves an input of relu, max, abs
 * (an operator with a kink) across its kink: the reference evaluator says which side of
 * its kink every such input is on (gc_graph_kink_state), and an element whose probe
 * changes that is left to the tape. Anywhere else a disagreement is a failure.
 *
 * Test-only hook: GRADC_CHECK_PERTURB=EPS adds EPS * (index + 1) to every compiled
 * gradient element before comparing, to show that the check does fail. */
#define _DEFAULT_SOURCE
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver.h"

#define MAX_PROBES 48 /* elements probed per parameter (all, if fewer) */
#define FD_STEP 1e-6

typedef struct {
  double abs, rel;
} Err;

static void note(Err *e, double got, double want, double scale) {
  double a = fabs(got - want);
  if (isnan(a)) a = INFINITY;
  if (a > e->abs) e->abs = a;
  double r = a / fmax(fabs(want), scale);
  if (r > e->rel) e->rel = r;
}

/* The compiled model's random inputs, copied into the reference. */
static void share_inputs(gradc_model *m, gc_graph *ref, uint64_t seed) {
  random_inputs(m, seed);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    void *buf = gradc_tensor(m, t->name, NULL);
    double *rv = gc_graph_tensor(ref, t->name, NULL);
    for (size_t k = 0; k < t->count; k++)
      rv[k] = t->dtype == GRADC_I32 ? (double)((int32_t *)buf)[k] : (double)((float *)buf)[k];
  }
}

static double ref_loss(gc_graph *ref) {
  gc_graph_eval(ref);
  return gc_graph_loss(ref);
}

/* The compiled gradient of a parameter, with the test hook's perturbation. */
static double compiled(const float *cg, size_t k, double perturb) { return (double)cg[k] + perturb * (double)(k + 1); }

/* Checks one parameter; returns 1 if it fails. */
static int check_param(gradc_model *m, gc_graph *ref, tape_model *tp, const gradc_tensor_info *t, double perturb,
                       bool detaches) {
  size_t n, tn = 0;
  const float *cg = gradc_grad(m, t->name, &n);
  const float *tg = tape_grad(tp, t->name, &tn);
  double *p = gc_graph_tensor(ref, t->name, NULL);
  gc_graph_eval(ref);
  double loss = gc_graph_loss(ref);
  const double *sg = gc_graph_grad(ref, t->name, NULL);
  double *sym = calloc(n, sizeof *sym);
  if (sg) memcpy(sym, sg, n * sizeof *sym);
  double scale = 1e-6;
  for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(sym[k]));
  scale *= 1e-3;
  Err ec = {0, 0}, es = {0, 0}, et = {0, 0};
  if (!tg || tn != n) et = (Err){INFINITY, INFINITY};
  else
    for (size_t k = 0; k < n; k++) note(&et, compiled(cg, k, perturb), (double)tg[k], scale);
  size_t probes = n < MAX_PROBES ? n : MAX_PROBES, kinks = 0;
  unsigned kinds = 0; /* the operators whose kink was crossed, by bit */
  uint64_t at[GC_GRAPH_KINK_OPS], up_state[GC_GRAPH_KINK_OPS], down_state[GC_GRAPH_KINK_OPS];
  gc_graph_kink_state(ref, at);
  for (size_t j = 0; j < probes; j++) {
    size_t k = n <= MAX_PROBES ? j : (size_t)((double)j * (double)(n - 1) / (MAX_PROBES - 1));
    double keep = p[k], h = FD_STEP * fmax(1.0, fabs(keep));
    p[k] = keep + h;
    double up = ref_loss(ref);
    gc_graph_kink_state(ref, up_state);
    p[k] = keep - h;
    double down = ref_loss(ref);
    gc_graph_kink_state(ref, down_state);
    p[k] = keep;
    /* An input of relu, max, abs... at or crossing its kink within the step: the slopes on
     * either side differ and the central difference is neither (nor the subgradient
     * PyTorch picks at the kink). Only there is finite differences' word not taken. */
    unsigned crossed = 0;
    for (int o = 0; o < GC_GRAPH_KINK_OPS; o++)
      if (up_state[o] != at[o] || down_state[o] != at[o]) crossed |= 1u << o;
    if (crossed) {
      kinks++, kinds |= crossed;
      continue;
    }
    /* The difference quotient carries the loss's rounding (a few ulps of it) divided by h:
     * below a hundred times that, a gap is the reference's noise. */
    double fd = (up - down) / (2 * h), fd_scale = fmax(scale, 100 * 64 * fabs(loss) * DBL_EPSILON / h);
    note(&ec, compiled(cg, k, perturb), fd, fd_scale);
    note(&es, sym[k], fd, fd_scale);
  }
  free(sym);
  /* Errors are relative to max(|reference|, 1e-3 max|gradient|): float32 code gets 1e-2
   * against finite differences (themselves only so exact) and 1e-3 against the tape
   * (float32 too, summed in another order); the float64 symbolic gradient 1e-3. With
   * detach() the finite differences are not a reference (see cmd_check). */
  bool bad = et.rel > 1e-3 || (!detaches && (ec.rel > 1e-2 || es.rel > 1e-3));
  printf("%-16s %9zu %7zu   %11.3e %11.3e   %11.3e %11.3e   %11.3e %11.3e   %s\n", t->name, n, probes - kinks,
         ec.abs, ec.rel, et.abs, et.rel, es.abs, es.rel, bad ? "MISMATCH" : "ok");
  if (kinks) {
    char ops[200] = "";
    for (int o = 0; o < GC_GRAPH_KINK_OPS; o++)
      if (kinds & (1u << o))
        snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", ops[0] ? ", " : "", gc_graph_kink_op(o));
    printf("  (%s: %zu element%s at a kink of the loss (an input of %s at or across its kink within the step), where\n"
           "   finite differences measure no slope: not compared with them; the tape judges every element)\n",
           t->name, kinks, kinks > 1 ? "s" : "", ops);
  }
  return bad;
}

/* The same inputs and parameters (drawn with seed) in all three; then a backward of the
 * compiled model and of the tape (the reference is evaluated by check_param). 0, or 1 with
 * the message printed (or in gradc_error). */
static int run_all(gradc_model *m, gc_graph *ref, tape_model *tp, uint64_t seed, const ModelArgs *ma) {
  if (init_model(m, seed, ma)) return 1;
  share_inputs(m, ref, seed);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) { /* the same parameters in float64 */
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_PARAM) continue;
    size_t n;
    float *p = gradc_tensor(m, t->name, &n);
    double *rp = gc_graph_tensor(ref, t->name, NULL);
    for (size_t k = 0; k < n; k++) rp[k] = p[k];
  }
  uint64_t step_seed = gradc_step_seed(m); /* dropout: the compiled backward's masks in all three */
  gc_graph_set_seed(ref, step_seed);
  tape_set_seed(tp, step_seed);
  gradc_zero_grad(m);
  if (gradc_backward(m) || copy_to_tape(m, tp, "gradc check")) return 1;
  if (tape_zero_grad(tp), tape_backward(tp)) return fprintf(stderr, "gradc check: tape engine: %s\n", tape_error(tp)), 1;
  return 0;
}

/* The table: one row per trainable parameter, and the verdict. 0 when it passed. */
static int report(const ModelArgs *ma, gradc_model *m, gc_graph *ref, tape_model *tp, uint64_t seed, double perturb) {
  printf("gradc check %s (seed %llu): loss %.9g compiled, %.9g tape, %.9g float64 reference\n", ma->model,
         (unsigned long long)seed, (double)gradc_loss(m), (double)tape_loss(tp), ref_loss(ref));
  printf("%-16s %9s %7s   %-23s   %-23s   %-23s\n", "", "", "", "compiled vs FD(f64)", "compiled vs tape",
         "symbolic(f64) vs FD");
  printf("%-16s %9s %7s   %11s %11s   %11s %11s   %11s %11s\n", "param", "elements", "probed", "max abs", "max rel",
         "max abs", "max rel", "max abs", "max rel");
  int bad = 0, rows = 0;
  bool detaches = gc_graph_detaches(ref);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_PARAM && t->trainable) bad += check_param(m, ref, tp, t, perturb, detaches), rows++;
  }
  if (!rows) { /* every parameter frozen: nothing was compared, which is not a pass */
    fprintf(stderr, "gradc check: model '%s' has no trainable parameter: nothing to check\n", gradc_model_name(m));
    bad = 1;
  }
  if (detaches)
    printf("the model calls detach(): its gradients, as PyTorch's, are not the derivative finite differences\n"
           "measure, so the FD columns are shown but not judged; the tape is the reference\n");
  printf("%s\n", bad ? "gradient check FAILED" : "gradient check passed");
  return bad ? 1 : 0;
}

int cmd_check(int argc, char **argv) {
  ModelArgs ma = {0};
  uint64_t seed = 0;
  const char *v;
  for (int i = 0; i < argc; i++) {
    int d = parse_model_arg(&ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if ((v = opt_value("--seed", argc, argv, &i))) {
      if (!parse_seed(v, &seed)) return fprintf(stderr, "gradc check: --seed %s: expected " SEED_RANGE "\n", v), 2;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return unknown_option("check", argv[i]);
    } else if (ma.model) {
      return fprintf(stderr, "gradc check: more than one model file\n"), 2;
    } else {
      ma.model = argv[i];
    }
  }
  if (!ma.model) return usage_of("check");
  char err[8192];
  int status = 0;
  gc_onnx *om = import_model(&ma, "check", &status);
  if (status) return status;
  gc_options o = {.path = ma.model, .source = om ? gc_onnx_source(om) : NULL, .define_names = ma.names, .define_values = ma.values, .ndefines = ma.ndefines,
                  .freeze = ma.freeze, .nfreeze = ma.nfreeze};
  gc_graph *ref = gc_graph_build(&o, err, sizeof err);
  if (!ref) return fputs(err, stderr), gc_onnx_free(om), 1;
  gradc_model *m = build_and_open(&ma, false, &status);
  if (!m) return gc_graph_free(ref), gc_onnx_free(om), status;
  int rc = 0;
  tape_model *tp = tape_open(ma.model, o.source, ma.names, ma.values, ma.ndefines, err, sizeof err);
  if (!tp) {
    fprintf(stderr, "gradc check: tape engine: %s\n", err);
    rc = 1;
  } else {
    rc = needs_loss("check", m);
  }
  const char *pert = getenv("GRADC_CHECK_PERTURB");
  double perturb = pert ? atof(pert) : 0;
  if (!rc) rc = run_all(m, ref, tp, seed, &ma);
  if (!rc) {
    rc = report(&ma, m, ref, tp, seed, perturb);
  } else if (gradc_error(m)[0]) {
    fprintf(stderr, "gradc check: %s\n", gradc_error(m));
  }
  if (tp) tape_close(tp);
  gradc_close(m);
  gc_graph_free(ref);
  gc_onnx_free(om);
  return rc;
}
