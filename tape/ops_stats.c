/* ops_stats.c — the reductions of issue 15 on the tape, written from their math (the
 * compiler builds them from primitives instead; this is the independent reference):
 *   prod        y = prod x;  dx_i = dy * prod_{j != i} x_j, computed from the slice's zero
 *               count z and the product P of its nonzero elements: P / x_i (z = 0),
 *               P at the zero (z = 1), 0 otherwise — exact with zeros, as torch
 *   var, std    v = sum (x - mean)^2 / (n - correction), two passes in double;
 *               dx = dy 2 (x - mean) / (n - correction); std: dy (x - mean) / ((n - c) std),
 *               0 where std = 0 (torch's masked_fill)
 *   logsumexp   y = m + log sum exp(x - m), m the max (0 if infinite, as torch);
 *               dx = dy exp(x - y)
 *   argmax/min  the first index of the max (min; a NaN wins), int32, no gradient
 *   norm        p=2: sqrt(sum x^2), dx = dy x / y (0 where y = 0); p=1: sum |x|,
 *               dx = dy sign(x); p=inf: max |x|, dx = dy sign(x) / (number of ties) at the ties
 * A reduction over a set of axes maps each element of x to its slice (the output element)
 * through slice_of; backward kernels ADD into dx. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

/* The result: x's shape with the reduced axes dropped (or kept as 1). */
static Tensor *result(Tape *T, const Tensor *x, unsigned axes, bool keep) {
  int64_t s[TP_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (keep || !(axes >> i & 1)) s[r++] = (axes >> i & 1) ? 1 : x->shape[i];
  return tp_empty(T, r, s);
}

/* slice[i]: the output element of x's element i (malloc'd). */
static int64_t *slice_of(Tape *T, const Tensor *x, unsigned axes) {
  int64_t st[TP_MAX_RANK], idx[TP_MAX_RANK] = {0}, s = 1;
  for (int d = x->rank - 1; d >= 0; d--) {
    st[d] = (axes >> d & 1) ? 0 : s;
    if (!(axes >> d & 1)) s *= x->shape[d];
  }
  int64_t *slice = tp_malloc(T, x->n * sizeof(int64_t)), o = 0;
  for (size_t i = 0; i < x->n; i++) {
    slice[i] = o;
    for (int d = x->rank - 1; d >= 0; d--) { /* next multi-index */
      o += st[d];
      if (++idx[d] < x->shape[d]) break;
      o -= st[d] * x->shape[d];
      idx[d] = 0;
    }
  }
  return slice;
}

/* How many elements each slice holds. */
static double slice_size(const Tensor *x, unsigned axes) {
  double n = 1;
  for (int d = 0; d < x->rank; d++)
    if (axes >> d & 1) n *= (double)x->shape[d];
  return n;
}

/* ---------------------------------------------------------------- prod */

static void prod_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  int64_t *slice = slice_of(T, x, r->axes);
  size_t no = r->out->n;
  double *p = calloc(no, sizeof *p);
  int *zeros = calloc(no, sizeof *zeros);
  if (!p || !zeros) free(p), free(zeros), free(slice), tp_fail(T, "out of memory");
  for (size_t o = 0; o < no; o++) p[o] = 1;
  for (size_t i = 0; i < x->n; i++) {
    if (x->data[i] == 0) zeros[slice[i]]++;
    else p[slice[i]] *= x->data[i];
  }
  float *dx = tp_grad(T, x);
  for (size_t i = 0; i < x->n; i++) {
    int64_t o = slice[i];
    double others = zeros[o] == 0 ? p[o] / x->data[i] : zeros[o] == 1 && x->data[i] == 0 ? p[o] : 0;
    dx[i] += (float)(r->out->grad[o] * others);
  }
  free(p), free(zeros), free(slice);
}
Tensor *op_prod(Tape *T, Tensor *x, unsigned axes, bool keep) {
  Tensor *out = result(T, x, axes, keep);
  int64_t *slice = slice_of(T, x, axes);
  for (size_t o = 0; o < out->n; o++) out->data[o] = 1;
  for (size_t i = 0; i < x->n; i++) out->data[slice[i]] *= x->data[i];
  free(slice);
  Record *r = tp_record(T, "prod", prod_bw, out, 1, &x);
  if (r) r->axes = axes;
  return out;
}

/* ---------------------------------------------------------------- var, std */

static void var_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  int64_t *slice = slice_of(T, x, r->axes);
  const double *mean = r->saved;
  float *dx = tp_grad(T, x);
  for (size_t i = 0; i < x->n; i++) {
    int64_t o = slice[i];
    double d = (double)x->data[i] - mean[o], g = r->out->grad[o];
    if (r->k) /* std */
      dx[i] += r->out->data[o] == 0 ? 0.0f : (float)(g * d / (r->c * r->out->data[o]));
    else
      dx[i] += (float)(g * 2 * d / r->c);
  }
  free(slice);
}
Tensor *op_var(Tape *T, Tensor *x, unsigned axes, int correction, bool keep, bool std) {
  Tensor *out = result(T, x, axes, keep);
  int64_t *slice = slice_of(T, x, axes);
  double n = slice_size(x, axes), div = fmax(n - correction, 0);
  double *mean = calloc(out->n, sizeof *mean), *ss = calloc(out->n, sizeof *ss);
  if (!mean || !ss) free(mean), free(ss), free(slice), tp_fail(T, "out of memory");
  for (size_t i = 0; i < x->n; i++) mean[slice[i]] += x->data[i];
  for (size_t o = 0; o < out->n; o++) mean[o] /= n;
  for (size_t i = 0; i < x->n; i++) {
    double d = x->data[i] - mean[slice[i]];
    ss[slice[i]] += d * d;
  }
  for (size_t o = 0; o < out->n; o++) out->data[o] = (float)(std ? sqrt(ss[o] / div) : ss[o] / div);
  free(ss), free(slice);
  Record *r = tp_record(T, std ? "std" : "var", var_bw, out, 1, &x);
  if (r) r->axes = axes, r->saved = mean, r->c = div, r->k = std;
  else free(mean);
  return out;
}

/* ---------------------------------------------------------------- logsumexp */

static void logsumexp_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  int64_t *slice = slice_of(T, x, r->axes);
  float *dx = tp_grad(T, x);
  for (size_t i = 0; i < x->n; i++) dx[i] += r->out->grad[slice[i]] * expf(x->data[i] - r->out->data[slice[i]]);
  free(slice);
}
Tensor *op_logsumexp(Tape *T, Tensor *x, unsigned axes, bool keep) {
  Tensor *out = result(T, x, axes, keep);
  int64_t *slice = slice_of(T, x, axes);
  float *m = tp_malloc(T, out->n * sizeof *m);
  double *s = calloc(out->n, sizeof *s);
  if (!s) free(m), free(slice), tp_fail(T, "out of memory");
  for (size_t o = 0; o < out->n; o++) m[o] = -INFINITY;
  for (size_t i = 0; i < x->n; i++) m[slice[i]] = fmaxf(m[slice[i]], x->data[i]);
  for (size_t o = 0; o < out->n; o++)
    if (isinf(m[o])) m[o] = 0; /* torch: a row of -inf gives -inf, not NaN */
  for (size_t i = 0; i < x->n; i++) s[slice[i]] += exp((double)x->data[i] - m[slice[i]]);
  for (size_t o = 0; o < out->n; o++) out->data[o] = (float)(log(s[o]) + m[o]);
  free(m), free(s), free(slice);
  Record *r = tp_record(T, "logsumexp", logsumexp_bw, out, 1, &x);
  if (r) r->axes = axes;
  return out;
}

/* ---------------------------------------------------------------- argmax, argmin */

Tensor *op_argmax(Tape *T, Tensor *x, int axis, bool keep, bool min) {
  int64_t s[TP_MAX_RANK];
  int r = 0;
  for (int d = 0; d < x->rank; d++)
    if (keep || (axis >= 0 && d != axis)) s[r++] = axis < 0 || d == axis ? 1 : x->shape[d];
  Tensor *out = tp_empty_i32(T, r, s);
  size_t n = axis < 0 ? x->n : (size_t)x->shape[axis];
  size_t inner = axis < 0 ? 1 : tp_count(x->rank - axis - 1, x->shape + axis + 1);
  for (size_t o = 0; o < out->n; o++) {
    const float *p = x->data + (o / inner) * n * inner + o % inner;
    size_t best = 0;
    for (size_t j = 1; j < n; j++) {
      float v = p[j * inner], b = p[best * inner];
      if ((min ? v < b : v > b) || (isnan(v) && !isnan(b))) best = j;
    }
    out->idata[o] = (int32_t)best;
  }
  return out; /* no record: an index has no gradient */
}

/* ---------------------------------------------------------------- norm */

static void norm_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  int64_t *slice = slice_of(T, x, r->axes);
  const float *y = r->out->data, *gy = r->out->grad;
  float *dx = tp_grad(T, x), *ties = NULL;
  if (isinf(r->c)) {
    ties = tp_calloc(T, r->out->n * sizeof *ties);
    for (size_t i = 0; i < x->n; i++) ties[slice[i]] += fabsf(x->data[i]) == y[slice[i]];
  }
  for (size_t i = 0; i < x->n; i++) {
    int64_t o = slice[i];
    float v = x->data[i], sg = (float)((v > 0) - (v < 0));
    if (r->c == 2) dx[i] += y[o] == 0 ? 0.0f : gy[o] * v / y[o];
    else if (r->c == 1) dx[i] += gy[o] * sg;
    else if (fabsf(v) == y[o]) dx[i] += gy[o] * sg / ties[o];
  }
  free(ties), free(slice);
}
Tensor *op_norm(Tape *T, Tensor *x, double p, unsigned axes, bool keep) {
  Tensor *out = result(T, x, axes, keep);
  int64_t *slice = slice_of(T, x, axes);
  double *acc = calloc(out->n, sizeof *acc);
  if (!acc) free(slice), tp_fail(T, "out of memory");
  for (size_t i = 0; i < x->n; i++) {
    double v = fabs((double)x->data[i]), *a = &acc[slice[i]];
    if (p == 2) *a += v * v;
    else if (p == 1) *a += v;
    else if (v > *a || isnan(v)) *a = v;
  }
  for (size_t o = 0; o < out->n; o++) out->data[o] = (float)(p == 2 ? sqrt(acc[o]) : acc[o]);
  free(acc), free(slice);
  Record *r = tp_record(T, "norm", norm_bw, out, 1, &x);
  if (r) r->axes = axes, r->c = p;
  return out;
}
