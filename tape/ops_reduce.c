/* ops_reduce.c — reductions (sum, mean, max, min) and the softmax family along an axis.
 *
 * sum/mean/max take a set of axes (a bit mask) and keepdims. As in torch: mean divides
 * by the number of reduced elements; max with an integer axis is torch.max(x, dim),
 * whose backward sends each gradient to the first maximum along the axis (saved
 * indices); max with a list of axes or none is torch.amax/torch.max(x), whose backward
 * shares a tie evenly among the maxima. min is max with the comparison reversed. softmax and log_softmax are one op each with
 * the max-shifted stable forward and their own backward:
 *   softmax:     dx = y (dy - sum(dy y))      log_softmax: dx = dy - exp(y) sum(dy)
 * Forward and backward kernels of an op sit side by side; backward ADDS into dx. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tape_internal.h"

/* The shape of x with the reduced axes set to 1 (keepdims=true). */
static void kept_shape(const Tensor *x, unsigned axes, Tensor *k) {
  memset(k, 0, sizeof *k);
  k->rank = x->rank;
  for (int i = 0; i < x->rank; i++) k->shape[i] = (axes >> i & 1) ? 1 : x->shape[i];
  k->n = tp_count(k->rank, k->shape);
}

/* The result tensor: kept shape, or with the reduced axes dropped. */
static Tensor *reduced(Tape *T, const Tensor *x, unsigned axes, bool keep, bool zero) {
  int64_t s[TP_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (keep || !(axes >> i & 1)) s[r++] = (axes >> i & 1) ? 1 : x->shape[i];
  return zero ? tp_zeros(T, r, s) : tp_empty(T, r, s);
}

/* ---------------------------------------------------------------- sum, mean */

static void sum_forward(float *out, const float *x, BIter *it, size_t nout, float scale) {
  if (nout == 1) { /* everything: accumulate in double like torch's cascade sum stays accurate */
    double acc = 0;
    size_t n = it->rows * it->inner;
    for (size_t i = 0; i < n; i++) acc += x[i];
    out[0] = (float)(acc * scale);
    return;
  }
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *px = x + row * it->inner;
    float *po = out + it->ib;
    for (size_t j = 0; j < it->inner; j++) po[j * it->xb] += px[j];
  }
  if (scale != 1.0f)
    for (size_t i = 0; i < nout; i++) out[i] *= scale;
}
static void sum_backward(float *dx, const float *dout, BIter *it, float scale) {
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    float *px = dx + row * it->inner;
    const float *po = dout + it->ib;
    for (size_t j = 0; j < it->inner; j++) px[j] += po[j * it->xb] * scale;
  }
}
static void sum_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], k;
  kept_shape(x, r->axes, &k);
  BIter it;
  bi_init(&it, x, &k, x->rank, x->shape);
  sum_backward(tp_grad(T, x), r->out->grad, &it, (float)r->c);
}
Tensor *op_sum(Tape *T, Tensor *x, unsigned axes, bool keep, bool mean) {
  Tensor *out = reduced(T, x, axes, keep, true), k;
  kept_shape(x, axes, &k);
  float scale = mean ? (float)(1.0 / ((double)x->n / (double)out->n)) : 1.0f;
  BIter it;
  bi_init(&it, x, &k, x->rank, x->shape);
  sum_forward(out->data, x->data, &it, out->n, scale);
  Record *r = tp_record(T, mean ? "mean" : "sum", sum_bw, out, 1, &x);
  if (r) r->axes = axes, r->c = scale;
  return out;
}

/* ---------------------------------------------------------------- amax, amin (ties shared) */

/* Whether v beats the best so far m: greater (min: less); a NaN beats everything. */
static inline bool beats(float v, float m, bool min) { return (min ? v < m : v > m) || (isnan(v) && !isnan(m)); }

static void amax_forward(float *out, const float *x, BIter *it, size_t nout, bool min) {
  for (size_t i = 0; i < nout; i++) out[i] = min ? INFINITY : -INFINITY;
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *px = x + row * it->inner;
    float *po = out + it->ib;
    for (size_t j = 0; j < it->inner; j++) {
      float v = px[j], *m = &po[j * it->xb];
      if (beats(v, *m, min)) *m = v;
    }
  }
}
/* count: zeroed scratch of the output's size. */
static void amax_backward(float *dx, const float *dout, const float *x, const float *out, float *count, BIter *it) {
  BIter again = *it;
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *px = x + row * it->inner;
    for (size_t j = 0; j < it->inner; j++)
      if (px[j] == out[it->ib + (int64_t)j * it->xb]) count[it->ib + (int64_t)j * it->xb] += 1;
  }
  it = &again;
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *px = x + row * it->inner;
    float *pd = dx + row * it->inner;
    for (size_t j = 0; j < it->inner; j++) {
      int64_t o = it->ib + (int64_t)j * it->xb;
      if (px[j] == out[o]) pd[j] += dout[o] / count[o];
    }
  }
}
static void amax_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], k;
  kept_shape(x, r->axes, &k);
  BIter it;
  bi_init(&it, x, &k, x->rank, x->shape);
  float *dx = tp_grad(T, x);
  float *count = tp_calloc(T, r->out->n * sizeof(float));
  amax_backward(dx, r->out->grad, x->data, r->out->data, count, &it);
  free(count);
}
static Tensor *extremum(Tape *T, Tensor *x, unsigned axes, bool keep, bool min) {
  Tensor *out = reduced(T, x, axes, keep, false), k;
  kept_shape(x, axes, &k);
  BIter it;
  bi_init(&it, x, &k, x->rank, x->shape);
  amax_forward(out->data, x->data, &it, out->n, min);
  Record *r = tp_record(T, min ? "amin" : "amax", amax_bw, out, 1, &x);
  if (r) r->axes = axes;
  return out;
}
Tensor *op_amax(Tape *T, Tensor *x, unsigned axes, bool keep) { return extremum(T, x, axes, keep, false); }
Tensor *op_amin(Tape *T, Tensor *x, unsigned axes, bool keep) { return extremum(T, x, axes, keep, true); }

/* ---------------------------------------------------------------- max along one axis */

/* x viewed as [outer, n, inner]. */
static void split(const Tensor *x, int axis, size_t *outer, size_t *n, size_t *inner) {
  *outer = tp_count(axis, x->shape);
  *n = (size_t)x->shape[axis];
  *inner = tp_count(x->rank - axis - 1, x->shape + axis + 1);
}

static void max_dim_forward(float *out, int32_t *idx, const float *x, size_t outer, size_t n, size_t inner,
                            bool min) {
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      const float *p = x + o * n * inner + i;
      float m = p[0];
      int32_t best = 0;
      for (size_t j = 1; j < n; j++)
        if (beats(p[j * inner], m, min)) m = p[j * inner], best = (int32_t)j;
      out[o * inner + i] = m;
      idx[o * inner + i] = best;
    }
}
static void max_dim_backward(float *dx, const float *dout, const int32_t *idx, size_t outer, size_t n, size_t inner) {
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) dx[o * n * inner + (size_t)idx[o * inner + i] * inner + i] += dout[o * inner + i];
}
static void max_dim_bw(Tape *T, Record *r) {
  size_t outer, n, inner;
  split(r->in[0], r->axis, &outer, &n, &inner);
  max_dim_backward(tp_grad(T, r->in[0]), r->out->grad, r->saved, outer, n, inner);
}
static Tensor *extremum_dim(Tape *T, Tensor *x, int axis, bool keep, bool min) {
  Tensor *out = reduced(T, x, 1u << axis, keep, false);
  size_t outer, n, inner;
  split(x, axis, &outer, &n, &inner);
  Record *r = tp_record(T, min ? "min" : "max", max_dim_bw, out, 1, &x);
  int32_t *idx = tp_malloc(T, out->n * sizeof(int32_t)); /* the saved argmax (argmin) */
  max_dim_forward(out->data, idx, x->data, outer, n, inner, min);
  if (r) r->saved = idx, r->axis = axis;
  else free(idx);
  return out;
}
Tensor *op_max_dim(Tape *T, Tensor *x, int axis, bool keep) { return extremum_dim(T, x, axis, keep, false); }
Tensor *op_min_dim(Tape *T, Tensor *x, int axis, bool keep) { return extremum_dim(T, x, axis, keep, true); }

/* ---------------------------------------------------------------- softmax, log_softmax */

static void softmax_forward(float *out, const float *x, size_t outer, size_t n, size_t inner, bool log) {
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      const float *p = x + o * n * inner + i;
      float *q = out + o * n * inner + i;
      float m = -INFINITY, s = 0;
      for (size_t j = 0; j < n; j++) m = p[j * inner] > m ? p[j * inner] : m;
      for (size_t j = 0; j < n; j++) s += expf(p[j * inner] - m);
      if (log) {
        float ls = logf(s);
        for (size_t j = 0; j < n; j++) q[j * inner] = p[j * inner] - m - ls;
      } else {
        for (size_t j = 0; j < n; j++) q[j * inner] = expf(p[j * inner] - m) / s;
      }
    }
}
static void softmax_backward(float *dx, const float *dout, const float *y, size_t outer, size_t n, size_t inner,
                             bool log) {
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      size_t base = o * n * inner + i;
      float s = 0;
      if (log) {
        for (size_t j = 0; j < n; j++) s += dout[base + j * inner];
        for (size_t j = 0; j < n; j++) dx[base + j * inner] += dout[base + j * inner] - expf(y[base + j * inner]) * s;
      } else {
        for (size_t j = 0; j < n; j++) s += dout[base + j * inner] * y[base + j * inner];
        for (size_t j = 0; j < n; j++) dx[base + j * inner] += y[base + j * inner] * (dout[base + j * inner] - s);
      }
    }
}
static void softmax_bw(Tape *T, Record *r) {
  size_t outer, n, inner;
  split(r->in[0], r->axis, &outer, &n, &inner);
  softmax_backward(tp_grad(T, r->in[0]), r->out->grad, r->out->data, outer, n, inner, r->k);
}
Tensor *op_softmax(Tape *T, Tensor *x, int axis, bool log) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  size_t outer, n, inner;
  split(x, axis, &outer, &n, &inner);
  softmax_forward(out->data, x->data, outer, n, inner, log);
  Record *r = tp_record(T, log ? "log_softmax" : "softmax", softmax_bw, out, 1, &x);
  if (r) r->axis = axis, r->k = log;
  return out;
}
