/* ops_loss.c — the losses, each one op with reduction='mean' as torch's defaults:
 *   mse(pred, target)          mean((pred - target)^2), both operands differentiable
 *   bce_with_logits(z, y)      mean((1 - y) z + m + log(exp(-m) + exp(-z - m))), m = max(-z, 0)
 *                              dz = (sigmoid(z) - y) / n, dy = -z / n (torch differentiates y)
 *   cross_entropy(x[N, C], labels i32[N])  -mean(log_softmax(x)[i, label_i]),
 *                              dx = (softmax(x) - onehot) / N; the log-softmax is saved
 * pred/target and z/y broadcast like a binary op (n = elements of the broadcast shape).
 * Labels outside [0, C) are an error (torch's ignore_index is not supported).
 * Forward and backward kernels side by side; backward ADDS. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

/* The walk over the broadcast of a loss's two operands (`what` names it in errors). */
static void loss_iter(Tape *T, const char *what, const Tensor *a, const Tensor *b, BIter *it) {
  int64_t shape[TP_MAX_RANK];
  bi_init(it, a, b, tp_broadcast_shape(T, what, a, b, shape), shape);
}

/* ---------------------------------------------------------------- mse */

static void mse_forward(float *out, const float *a, const float *b, BIter *it) {
  double acc = 0;
  for (size_t row = 0; row < it->rows; row++, bi_next(it))
    for (size_t j = 0; j < it->inner; j++) {
      float d = a[it->ia + (int64_t)j * it->xa] - b[it->ib + (int64_t)j * it->xb];
      acc += d * d;
    }
  out[0] = (float)(acc / (double)(it->rows * it->inner));
}
static void mse_backward(float *da, float *db, const float *dout, const float *a, const float *b, BIter *it) {
  float g = dout[0] * 2.0f / (float)(it->rows * it->inner);
  for (size_t row = 0; row < it->rows; row++, bi_next(it))
    for (size_t j = 0; j < it->inner; j++) {
      int64_t oa = it->ia + (int64_t)j * it->xa, ob = it->ib + (int64_t)j * it->xb;
      float d = g * (a[oa] - b[ob]);
      if (da) da[oa] += d;
      if (db) db[ob] -= d;
    }
}
static void mse_bw(Tape *T, Record *r) {
  Tensor *a = r->in[0], *b = r->in[1];
  BIter it;
  loss_iter(T, "mse", a, b, &it);
  mse_backward(tp_grad(T, a), tp_grad(T, b), r->out->grad, a->data, b->data, &it);
}
Tensor *op_mse(Tape *T, Tensor *a, Tensor *b) {
  BIter it;
  loss_iter(T, "mse", a, b, &it);
  Tensor *out = tp_empty(T, 0, NULL);
  mse_forward(out->data, a->data, b->data, &it);
  Tensor *in[2] = {a, b};
  tp_record(T, "mse", mse_bw, out, 2, in);
  return out;
}

/* ---------------------------------------------------------------- bce_with_logits */

static void bce_forward(float *out, const float *z, const float *y, BIter *it) {
  double acc = 0;
  for (size_t row = 0; row < it->rows; row++, bi_next(it))
    for (size_t j = 0; j < it->inner; j++) {
      float x = z[it->ia + (int64_t)j * it->xa], t = y[it->ib + (int64_t)j * it->xb];
      float m = x < 0 ? -x : 0.0f;
      acc += (1.0f - t) * x + m + logf(expf(-m) + expf(-x - m));
    }
  out[0] = (float)(acc / (double)(it->rows * it->inner));
}
static void bce_backward(float *dz, float *dy, const float *dout, const float *z, const float *y, BIter *it) {
  float g = dout[0] / (float)(it->rows * it->inner);
  for (size_t row = 0; row < it->rows; row++, bi_next(it))
    for (size_t j = 0; j < it->inner; j++) {
      int64_t oz = it->ia + (int64_t)j * it->xa, oy = it->ib + (int64_t)j * it->xb;
      if (dz) dz[oz] += (1.0f / (1.0f + expf(-z[oz])) - y[oy]) * g;
      if (dy) dy[oy] -= z[oz] * g;
    }
}
static void bce_bw(Tape *T, Record *r) {
  Tensor *z = r->in[0], *y = r->in[1];
  BIter it;
  loss_iter(T, "bce_with_logits", z, y, &it);
  bce_backward(tp_grad(T, z), tp_grad(T, y), r->out->grad, z->data, y->data, &it);
}
Tensor *op_bce_with_logits(Tape *T, Tensor *z, Tensor *y) {
  BIter it;
  loss_iter(T, "bce_with_logits", z, y, &it);
  Tensor *out = tp_empty(T, 0, NULL);
  bce_forward(out->data, z->data, y->data, &it);
  Tensor *in[2] = {z, y};
  tp_record(T, "bce_with_logits", bce_bw, out, 2, in);
  return out;
}

/* ---------------------------------------------------------------- cross_entropy */

/* lsm[N, C]: the log-softmax of each row. */
static void cross_entropy_forward(float *out, float *lsm, const float *x, const int32_t *label, int64_t N, int64_t C) {
  double acc = 0;
  for (int64_t i = 0; i < N; i++) {
    const float *row = x + i * C;
    float *l = lsm + i * C;
    float m = -INFINITY, s = 0;
    for (int64_t j = 0; j < C; j++) m = row[j] > m ? row[j] : m;
    for (int64_t j = 0; j < C; j++) s += expf(row[j] - m);
    float ls = logf(s);
    for (int64_t j = 0; j < C; j++) l[j] = row[j] - m - ls;
    acc += l[label[i]];
  }
  out[0] = (float)(-acc / (double)N);
}
static void cross_entropy_backward(float *dx, const float *dout, const float *lsm, const int32_t *label, int64_t N,
                                   int64_t C) {
  float g = dout[0] / (float)N;
  for (int64_t i = 0; i < N; i++) {
    for (int64_t j = 0; j < C; j++) dx[i * C + j] += expf(lsm[i * C + j]) * g;
    dx[i * C + label[i]] -= g;
  }
}
static void cross_entropy_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *lab = r->in[1];
  cross_entropy_backward(tp_grad(T, x), r->out->grad, r->saved, lab->idata, x->shape[0], x->shape[1]);
}
Tensor *op_cross_entropy(Tape *T, Tensor *x, Tensor *lab) {
  char a[128], b[128];
  if (x->rank != 2 || !x->data)
    tp_fail(T, "cross_entropy needs f32 logits [N, C], got %s", tp_shape_str(x, a, sizeof a));
  if (!lab->idata || lab->rank != 1 || lab->shape[0] != x->shape[0])
    tp_fail(T, "cross_entropy needs i32 labels [%lld] for logits %s, got %s %s", (long long)x->shape[0],
            tp_shape_str(x, a, sizeof a), lab->idata ? "i32" : "f32", tp_shape_str(lab, b, sizeof b));
  int64_t N = x->shape[0], C = x->shape[1];
  for (int64_t i = 0; i < N; i++)
    if (lab->idata[i] < 0 || lab->idata[i] >= C)
      tp_fail(T, "cross_entropy: label %d of row %lld is out of range [0, %lld)", (int)lab->idata[i], (long long)i,
              (long long)C);
  Tensor *out = tp_empty(T, 0, NULL);
  Tensor *in[2] = {x, lab};
  Record *r = tp_record(T, "cross_entropy", cross_entropy_bw, out, 2, in);
  float *lsm = tp_malloc(T, x->n * sizeof(float)); /* saved for backward */
  cross_entropy_forward(out->data, lsm, x->data, lab->idata, N, C);
  if (r) r->saved = lsm;
  else free(lsm);
  return out;
}
