/* randmodel_check.c — the differential check of a random model (randmodel.h): compiled
 * (at the given CPU and -O level) against the float64 reference evaluator and the tape,
 * on the loss, every output and every gradient. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "randmodel.h"
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"
#include "gradc/tape.h"

/* The worst disagreement of got with want, relative to want's largest magnitude (at
 * least 1e-2: a gradient that is zero by cancellation, log_softmax(p - s) with respect
 * to s, comes out of float32 sums of O(1) terms as about 1e-7); NaN where exactly one
 * of the two is not finite. */
static double worst_error(const float *got, const double *want, size_t n, size_t *at) {
  double scale = 1e-2, worst = 0;
  *at = 0;
  for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(want[k]));
  for (size_t k = 0; k < n; k++) {
    double e = isfinite(want[k]) && isfinite(got[k]) ? fabs(got[k] - want[k]) / scale : NAN;
    if (!(e <= worst)) {
      worst = e, *at = k;
      if (isnan(e)) break;
    }
  }
  return worst;
}

#define RM_TOL 2e-4 /* float32 against float64, relative to the tensor's scale */

/* Appends to why when got (from `who`) and want disagree. */
static int compare(const char *who, const char *what, const char *name, const float *got, const double *want, size_t n,
                   char *why, size_t whylen) {
  if (!got || !want) {
    rm_append(why, whylen, "%s %s %s: missing\n", who, what, name);
    return 1;
  }
  size_t at;
  double e = worst_error(got, want, n, &at);
  if (e <= RM_TOL) return 0;
  rm_append(why, whylen, "%s %s %s: element %zu is %.9g, reference %.9g (relative error %.3g)\n", who, what, name, at,
         (double)got[at], want[at], e);
  return 1;
}

/* Random inputs and parameters, the same in all three; labels in range. */
static void set_values(gradc_model *m, gc_graph *g, tape_model *t) {
  gradc_rng r;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(m, i);
    if (ti->role == GRADC_ROLE_OUTPUT) continue;
    gradc_rng_seed(&r, 11, ti->name);
    void *p = gradc_tensor(m, ti->name, NULL), *q = tape_tensor(t, ti->name, NULL);
    double *e = gc_graph_tensor(g, ti->name, NULL);
    for (size_t k = 0; k < ti->count; k++) {
      if (ti->dtype == GRADC_I32) {
        int32_t c = (int32_t)(gradc_rng_next(&r) % (uint64_t)(ti->classes > 0 ? ti->classes : 1));
        ((int32_t *)p)[k] = ((int32_t *)q)[k] = c, e[k] = c;
      } else {
        float x = (float)gradc_rng_normal(&r);
        ((float *)p)[k] = ((float *)q)[k] = x, e[k] = x;
      }
    }
  }
}

/* Loss, outputs and gradients of the compiled model and the tape against the evaluator. */
static int compare_all(gradc_model *m, gc_graph *g, tape_model *t, char *why, size_t whylen) {
  int bad = 0;
  double want = gc_graph_loss(g);
  float got[2] = {gradc_loss(m), tape_loss(t)};
  bad += compare("compiled", "loss", "", &got[0], &want, 1, why, whylen);
  bad += compare("tape", "loss", "", &got[1], &want, 1, why, whylen);
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *ti = gradc_tensor_at(m, i);
    size_t n = ti->count;
    if (ti->role == GRADC_ROLE_OUTPUT && ti->dtype == GRADC_I32) { /* indices: compared as floats (exact) */
      const double *e = gc_graph_tensor(g, ti->name, NULL);
      const int32_t *ci = gradc_tensor(m, ti->name, NULL), *tpi = tape_tensor(t, ti->name, NULL);
      float *cf = calloc(n + 1, sizeof *cf), *tf = calloc(n + 1, sizeof *tf);
      for (size_t k = 0; k < n; k++) cf[k] = (float)ci[k], tf[k] = (float)tpi[k];
      bad += compare("compiled", "output", ti->name, cf, e, n, why, whylen);
      bad += compare("tape", "output", ti->name, tf, e, n, why, whylen);
      free(cf), free(tf);
    } else if (ti->role == GRADC_ROLE_OUTPUT) {
      const double *e = gc_graph_tensor(g, ti->name, NULL);
      bad += compare("compiled", "output", ti->name, gradc_tensor(m, ti->name, NULL), e, n, why, whylen);
      bad += compare("tape", "output", ti->name, tape_tensor(t, ti->name, NULL), e, n, why, whylen);
    } else if (ti->role == GRADC_ROLE_PARAM && ti->trainable) {
      /* a parameter the loss does not reach has no symbolic gradient (and no tape
       * gradient): it is zero */
      double *zeros = calloc(n, sizeof *zeros);
      float *fzeros = calloc(n, sizeof *fzeros), *tg = tape_grad(t, ti->name, NULL);
      const double *e = gc_graph_grad(g, ti->name, NULL);
      bad += compare("compiled", "grad", ti->name, gradc_grad(m, ti->name, NULL), e ? e : zeros, n, why, whylen);
      bad += compare("tape", "grad", ti->name, tg ? tg : fzeros, e ? e : zeros, n, why, whylen);
      free(zeros);
      free(fzeros);
    }
  }
  return bad != 0;
}

int rm_check(const char *src, const char *dir, const char *cpu, int opt, char *why, size_t whylen) {
  char so[600], hdr[600], err[4096];
  snprintf(so, sizeof so, "%s/r.so", dir);
  snprintf(hdr, sizeof hdr, "%s/r.h", dir);
  *why = 0;
  gc_options o = {.path = "random.grad", .source = src, .opt_level = opt, .emit = GC_EMIT_SO, .out = so, .cpu = cpu,
                  .verify = true}; /* the IR verifier after every pass: a broken invariant aborts */
  gradc_model *m = NULL;
  gc_graph *g = NULL;
  tape_model *t = NULL;
  int rc = 1;
  if (gc_compile(&o, NULL, err, sizeof err)) rm_append(why, whylen, "compile: %s\n", err);
  else if (!(m = gradc_open(so, err, sizeof err))) rm_append(why, whylen, "open: %s\n", err);
  else if (!(g = gc_graph_build(&o, err, sizeof err))) rm_append(why, whylen, "reference evaluator: %s\n", err);
  else if (!(t = tape_open(o.path, src, NULL, NULL, 0, err, sizeof err))) rm_append(why, whylen, "tape: %s\n", err);
  else {
    set_values(m, g, t);
    gc_graph_set_seed(g, gradc_step_seed(m)); /* dropout: the compiled backward's masks in all three */
    tape_set_seed(t, gradc_step_seed(m));
    gc_graph_eval(g);
    gradc_zero_grad(m);
    tape_zero_grad(t);
    if (gradc_backward(m)) rm_append(why, whylen, "compiled backward: %s\n", gradc_error(m));
    else if (tape_backward(t)) rm_append(why, whylen, "tape backward: %s\n", tape_error(t));
    else if (!isfinite(gc_graph_loss(g))) rm_append(why, whylen, "the reference loss is not finite (a generator bug)\n");
    else rc = compare_all(m, g, t, why, whylen);
  }
  if (t) tape_close(t);
  if (g) gc_graph_free(g);
  if (m) gradc_close(m);
  unlink(so);
  unlink(hdr);
  return rc;
}
