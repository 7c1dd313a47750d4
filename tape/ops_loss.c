/* ops_loss.c — the pointwise losses, one op each over the broadcast of their operands
 * a (the prediction or input) and b (the target), with torch's reductions: "mean" (the
 * default: over the broadcast elements), "sum", "none" (the broadcast shape), and for
 * kl_div "batchmean" (the sum over a's first dimension). Per element, d = a - b:
 *   mse              d^2                                  da = 2d, db = -2d
 *   bce_with_logits  (1 - b) a + m + log(exp(-m) + exp(-a - m)), m = max(-a, 0)
 *                                                         da = sigmoid(a) - b, db = -a
 *   l1_loss          |d|                                  da = sign(d), db = -da
 *   smooth_l1_loss   |d| < beta: d^2 / 2beta, else |d| - beta/2 (beta = 0: |d|)
 *                                                         da = d / beta or sign(d)
 *   huber_loss       |d| < delta: d^2 / 2, else delta (|d| - delta/2)
 *                                                         da = d or delta sign(d)
 *   kl_div           b log b - b a (0 log 0 = 0)          da = -b, db = log b + 1 - a (-a at b = 0)
 *   kl_div log_target  exp(b) (b - a)                     da = -exp(b), db = exp(b) (b - a + 1)
 * torch differentiates the target of every one. Forward and backward side by side;
 * backward ADDS. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

static const char *const loss_names[] = {"mse", "bce_with_logits", "l1_loss", "smooth_l1_loss", "huber_loss",
                                         "kl_div", "kl_div"};

/* The walk over the broadcast of a loss's two operands; its shape in shape[r]. */
static int loss_iter(Tape *T, LossKind k, const Tensor *a, const Tensor *b, BIter *it, int64_t *shape) {
  int r = tp_broadcast_shape(T, loss_names[k], a, b, shape);
  bi_init(it, a, b, r, shape);
  return r;
}

static double sgn(double v) { return (v > 0) - (v < 0); }

/* The loss of one element, a the prediction (input), b the target; c beta or delta. */
static double value(LossKind k, double a, double b, double c) {
  double d = a - b, ad = fabs(d);
  switch (k) {
  case L_MSE: return d * d;
  case L_BCE: {
    double m = a < 0 ? -a : 0;
    return (1 - b) * a + m + log(exp(-m) + exp(-a - m));
  }
  case L_L1: return ad;
  case L_SMOOTH_L1: return c == 0 ? ad : ad < c ? 0.5 * d * d / c : ad - 0.5 * c;
  case L_HUBER: return ad < c ? 0.5 * d * d : c * (ad - 0.5 * c);
  case L_KL: return (b == 0 ? 0 : b * log(b)) - b * a;
  case L_KL_LOG: return exp(b) * (b - a);
  }
  return NAN;
}

/* d loss / da and d loss / db of one element. */
static void slope(LossKind k, double a, double b, double c, double *da, double *db) {
  double d = a - b, ad = fabs(d);
  switch (k) {
  case L_MSE: *da = 2 * d, *db = -2 * d; return;
  case L_BCE: *da = 1 / (1 + exp(-a)) - b, *db = -a; return;
  case L_L1: *da = sgn(d), *db = -sgn(d); return;
  case L_SMOOTH_L1: *da = c == 0 ? sgn(d) : ad < c ? d / c : sgn(d), *db = -*da; return;
  case L_HUBER: *da = ad < c ? d : c * sgn(d), *db = -*da; return;
  case L_KL: *da = -b, *db = (b == 0 ? 0 : log(b) + 1) - a; return;
  case L_KL_LOG: *da = -exp(b), *db = exp(b) * (b - a + 1); return;
  }
}

/* The scale of the summed loss: 1/n (mean), 1/batch (batchmean), 1 (sum, none). */
static double scale_of(Reduction red, const Tensor *a, size_t n) {
  if (red == RED_MEAN) return 1.0 / (double)n;
  if (red == RED_BATCHMEAN) return 1.0 / (double)(a->rank ? a->shape[0] : 1);
  return 1;
}

static void loss_bw(Tape *T, Record *r) {
  Tensor *a = r->in[0], *b = r->in[1];
  LossKind k = (LossKind)r->k;
  BIter it;
  int64_t shape[TP_MAX_RANK];
  loss_iter(T, k, a, b, &it, shape);
  float *ga = tp_grad(T, a), *gb = tp_grad(T, b);
  const float *gy = r->out->grad;
  double scale = scale_of((Reduction)r->axis, a, it.rows * it.inner);
  bool none = r->axis == RED_NONE;
  for (size_t row = 0, i = 0; row < it.rows; row++, bi_next(&it))
    for (size_t j = 0; j < it.inner; j++, i++) {
      int64_t oa = it.ia + (int64_t)j * it.xa, ob = it.ib + (int64_t)j * it.xb;
      double da = 0, db = 0, g = none ? gy[i] : gy[0] * scale;
      slope(k, a->data[oa], b->data[ob], r->c, &da, &db);
      if (ga) ga[oa] += (float)(g * da);
      if (gb) gb[ob] += (float)(g * db);
    }
}

Tensor *op_loss(Tape *T, LossKind k, Tensor *a, Tensor *b, Reduction red, double c) {
  BIter it;
  int64_t shape[TP_MAX_RANK];
  int rank = loss_iter(T, k, a, b, &it, shape);
  size_t n = it.rows * it.inner;
  Tensor *out = red == RED_NONE ? tp_empty(T, rank, shape) : tp_empty(T, 0, NULL);
  double acc = 0;
  for (size_t row = 0, i = 0; row < it.rows; row++, bi_next(&it))
    for (size_t j = 0; j < it.inner; j++, i++) {
      double v = value(k, a->data[it.ia + (int64_t)j * it.xa], b->data[it.ib + (int64_t)j * it.xb], c);
      if (red == RED_NONE) out->data[i] = (float)v;
      acc += v;
    }
  if (red != RED_NONE) out->data[0] = (float)(acc * scale_of(red, a, n));
  Tensor *in[2] = {a, b};
  Record *r = tp_record(T, loss_names[k], loss_bw, out, 2, in);
  if (r) r->k = k, r->axis = red, r->c = c;
  return out;
}
