/* cmd_run.c — `gradc run`: build the model in-process, set tensors, run, print.
 *
 * With --train-steps K --lr LR: K SGD steps (zero_grad, forward, backward, update) on
 * the same inputs, then one more forward and backward from zeroed gradients, so that
 * everything printed is at the final parameters. */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver.h"

static bool json_nulls; /* a NaN or infinity went out as null (JSON has no such numbers) */

static void print_values(FILE *f, const float *p, const int32_t *q, size_t n, bool json) {
  for (size_t i = 0; i < n; i++) {
    const char *sep = i ? (json ? ", " : " ") : "";
    double v = p ? (double)p[i] : 0;
    if (q) fprintf(f, "%s%d", sep, (int)q[i]); /* an i32 tensor: its integers, exactly */
    else if (json && !isfinite(v)) fprintf(f, "%snull", i ? ", " : ""), json_nulls = true;
    else fprintf(f, "%s%.9g", sep, v);
  }
}

static void print_shape(FILE *f, const gradc_tensor_info *t) {
  fprintf(f, "[");
  for (int i = 0; i < t->rank; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  fprintf(f, "]");
}

/* One group ("outputs", "params", "grads") as a JSON object or text lines. */
static void print_group(gradc_model *m, gradc_role role, bool grads, bool json) {
  bool first = true;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != role || (grads && !t->trainable)) continue;
    size_t n;
    void *p = grads ? (void *)gradc_grad(m, t->name, &n) : gradc_tensor(m, t->name, &n);
    bool isint = !grads && t->dtype == GRADC_I32;
    if (json) {
      printf("%s\"%s\": {\"shape\": ", first ? "" : ", ", t->name);
      print_shape(stdout, t);
      printf(", \"data\": [");
      print_values(stdout, isint ? NULL : p, isint ? p : NULL, n, true);
      printf("]}");
    } else {
      printf("%s%s ", grads ? "grad " : "", t->name);
      print_shape(stdout, t);
      printf(" = ");
      print_values(stdout, isint ? NULL : p, isint ? p : NULL, n, false);
      printf("\n");
    }
    first = false;
  }
}

static void print_result(gradc_model *m, bool with_grads, bool json) {
  float loss = gradc_loss(m);
  bool has_loss = gradc_has_loss(m) && isfinite(loss);
  if (json) {
    printf("{\"model\": \"%s\", \"loss\": ", gradc_model_name(m));
    if (has_loss) printf("%.9g", (double)loss);
    else printf("null"), json_nulls |= gradc_has_loss(m);
    printf(", \"outputs\": {");
    print_group(m, GRADC_ROLE_OUTPUT, false, true);
    printf("}, \"params\": {");
    print_group(m, GRADC_ROLE_PARAM, false, true);
    printf("}, \"grads\": {");
    if (with_grads) print_group(m, GRADC_ROLE_PARAM, true, true);
    printf("}}\n");
    if (json_nulls) /* so that a diverged run is not mistaken for a model without a loss */
      fprintf(stderr, "gradc run: some values are NaN or infinite: the JSON shows them as null\n");
    return;
  }
  printf("model %s\n", gradc_model_name(m));
  if (gradc_has_loss(m)) printf("loss %.9g\n", (double)loss);
  print_group(m, GRADC_ROLE_OUTPUT, false, false);
  print_group(m, GRADC_ROLE_PARAM, false, false);
  if (with_grads) print_group(m, GRADC_ROLE_PARAM, true, false);
}

int cmd_run(int argc, char **argv) {
  ModelArgs ma = {0};
  const char *sets[256], *load = NULL, *v;
  int nsets = 0;
  long long steps = -1;
  uint64_t seed = 0;
  double lr = NAN;
  bool backward = false, json = false;
  for (int i = 0; i < argc; i++) {
    int d = parse_model_arg(&ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if ((v = opt_value("--seed", argc, argv, &i))) {
      if (!parse_seed(v, &seed)) return fprintf(stderr, "gradc run: --seed %s: expected " SEED_RANGE "\n", v), 2;
    } else if ((v = opt_value("--load", argc, argv, &i))) {
      load = v;
    } else if ((v = opt_value("--set", argc, argv, &i))) {
      if (nsets == 256) return fprintf(stderr, "gradc run: too many --set options\n"), 2;
      sets[nsets++] = v;
    } else if ((v = opt_value("--train-steps", argc, argv, &i))) {
      if (!parse_int(v, 0, 100000000, &steps)) return fprintf(stderr, "gradc run: --train-steps %s: expected a count\n", v), 2;
    } else if ((v = opt_value("--lr", argc, argv, &i))) {
      if (!parse_double(v, &lr)) return fprintf(stderr, "gradc run: --lr %s: expected a number\n", v), 2;
    } else if (!strcmp(argv[i], "--backward")) {
      backward = true;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return unknown_option("run", argv[i]);
    } else if (ma.model) {
      return fprintf(stderr, "gradc run: more than one model file\n"), 2;
    } else {
      ma.model = argv[i];
    }
  }
  if (!ma.model) return usage_of("run");
  if (steps >= 0 && isnan(lr)) return fprintf(stderr, "gradc run: --train-steps needs --lr\n"), 2;
  if (steps < 0 && !isnan(lr)) return fprintf(stderr, "gradc run: --lr is the learning rate of --train-steps\n"), 2;
  bool used[256] = {0}; /* --set values an .onnx model's import takes */
  if (bind_sets(&ma, sets, nsets, used)) return 2;
  int status = 0;
  gradc_model *m = build_and_open(&ma, false, &status);
  if (!m) return status;
  int rc = 0, failed = 0; /* failed: a runtime call failed; its message is said at the end */
  if (init_model(m, seed, &ma) || (load && gradc_load(m, load))) rc = failed = 1;
  gc_onnx *om = import_model(&ma, "run", &status); /* --set takes ONNX names too */
  for (int i = 0; i < nsets && !rc; i++) {
    if (used[i]) continue;
    char *spec = onnx_set_spec(om, sets[i]);
    rc = spec ? set_tensor(m, spec) : 1;
    free(spec);
  }
  gc_onnx_free(om);
  bool grads = backward || steps >= 0;
  if (!rc && grads) rc = needs_loss("run", m);
  for (long long s = 0; s < steps && !rc; s++)
    if (gradc_train_step(m, (float)lr)) rc = failed = 1;
  if (!rc && grads) {
    gradc_zero_grad(m);
    rc = failed = gradc_backward(m) ? 1 : 0;
  } else if (!rc) {
    rc = failed = gradc_forward(m) ? 1 : 0;
  }
  if (failed) fprintf(stderr, "gradc run: %s\n", gradc_error(m));
  if (!rc) print_result(m, grads, json);
  gradc_close(m);
  return rc;
}
