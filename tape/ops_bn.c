/* ops_bn.c — batch_norm (issue 15) as the tape's own kernel pair, written from the math
 * (not from the compiler's composite).
 *
 * x is [N, C, *]: channel c holds the elements (n C + c) S + s, count = N S. Training
 * mode, per channel, in double:
 *   mean = sum(x) / count,  var = sum((x - mean)^2) / count (biased),
 *   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  y = xhat w + b;
 * running_mean = (1 - m) running_mean + m mean, running_var = (1 - m) running_var +
 * m var count / (count - 1) (unbiased), in place, after the output is computed.
 * Eval mode: mean and var are the running ones, nothing is updated.
 * Backward, with g = dy w: training dx = rstd (g - mean(g) - xhat mean(g xhat)) (the
 * statistics depend on x); eval dx = rstd g. dw[c] += sum(dy xhat), db[c] += sum(dy). */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

typedef struct {
  size_t n, c, s; /* batch, channels, positions per channel */
  bool training;
  double *mean, *rstd; /* per channel */
} BnSaved;

static size_t at(const BnSaved *g, size_t n, size_t c, size_t s) { return (n * g->c + c) * g->s + s; }

static void batch_stats(const BnSaved *g, const float *x, size_t c, double *mean, double *var) {
  double sum = 0, sq = 0, cnt = (double)(g->n * g->s);
  for (size_t n = 0; n < g->n; n++)
    for (size_t s = 0; s < g->s; s++) sum += x[at(g, n, c, s)];
  *mean = sum / cnt;
  for (size_t n = 0; n < g->n; n++)
    for (size_t s = 0; s < g->s; s++) sq += (x[at(g, n, c, s)] - *mean) * (x[at(g, n, c, s)] - *mean);
  *var = sq / cnt;
}

static void bn_forward(float *y, BnSaved *g, const float *x, float *rm, float *rv, const float *w, const float *b,
                       double mom, double eps) {
  double cnt = (double)(g->n * g->s);
  for (size_t c = 0; c < g->c; c++) {
    double mean = rm[c], var = rv[c];
    if (g->training) batch_stats(g, x, c, &mean, &var);
    g->mean[c] = mean, g->rstd[c] = 1 / sqrt(var + eps);
    for (size_t n = 0; n < g->n; n++)
      for (size_t s = 0; s < g->s; s++) {
        size_t i = at(g, n, c, s);
        double v = (x[i] - mean) * g->rstd[c];
        y[i] = (float)((w ? v * w[c] : v) + (b ? b[c] : 0.0));
      }
    if (g->training) {
      rm[c] = (float)((1 - mom) * rm[c] + mom * mean);
      rv[c] = (float)((1 - mom) * rv[c] + mom * var * cnt / (cnt - 1));
    }
  }
}

static void bn_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const BnSaved *g) {
  double cnt = (double)(g->n * g->s);
  for (size_t c = 0; c < g->c; c++) {
    double mg = 0, mgx = 0, wc = w ? w[c] : 1;
    for (size_t n = 0; n < g->n; n++)
      for (size_t s = 0; s < g->s; s++) {
        size_t i = at(g, n, c, s);
        double xhat = (x[i] - g->mean[c]) * g->rstd[c];
        mg += dy[i] * wc, mgx += dy[i] * wc * xhat;
        if (dw) dw[c] += (float)(dy[i] * xhat);
        if (db) db[c] += dy[i];
      }
    mg /= cnt, mgx /= cnt;
    for (size_t n = 0; dx && n < g->n; n++)
      for (size_t s = 0; s < g->s; s++) {
        size_t i = at(g, n, c, s);
        double xhat = (x[i] - g->mean[c]) * g->rstd[c], gi = dy[i] * wc;
        dx[i] += (float)(g->training ? g->rstd[c] * (gi - mg - xhat * mgx) : g->rstd[c] * gi);
      }
  }
}

static void bn_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
  bn_backward(tp_grad(T, x), tp_grad(T, w), tp_grad(T, b), r->out->grad, x->data, w ? w->data : NULL, r->saved);
}

static void check_channels(Tape *T, const char *what, const Tensor *t, const Tensor *x) {
  char a[128];
  if (t && x->rank >= 2 && (!t->data || t->rank != 1 || t->shape[0] != x->shape[1]))
    tp_fail(T, "batch_norm: %s must be f32 [%lld], one per channel, got %s %s", what, (long long)x->shape[1],
            t->data ? "f32" : "i32", tp_shape_str(t, a, sizeof a));
}

Tensor *op_batch_norm(Tape *T, Tensor *x, Tensor *rm, Tensor *rv, Tensor *w, Tensor *b, double mom, double eps,
                      bool training) {
  char a[128];
  if (!x->data || x->rank < 2)
    tp_fail(T, "batch_norm needs an f32 input [N, C, *] (as BatchNorm1d/2d/3d), got %s %s",
            x->data ? "f32" : "i32", tp_shape_str(x, a, sizeof a));
  check_channels(T, "running_mean", rm, x);
  check_channels(T, "running_var", rv, x);
  check_channels(T, "weight", w, x);
  check_channels(T, "bias", b, x);
  BnSaved geo = {(size_t)x->shape[0], (size_t)x->shape[1], x->n / (size_t)x->shape[0] / (size_t)x->shape[1], training,
                 NULL, NULL};
  if (training && geo.n * geo.s < 2)
    tp_fail(T, "batch_norm: training needs more than 1 value per channel (input %s), as PyTorch",
            tp_shape_str(x, a, sizeof a));
  Tensor *out = tp_empty(T, x->rank, x->shape);
  BnSaved *s = tp_malloc(T, sizeof *s + 2 * geo.c * sizeof(double));
  *s = geo;
  s->mean = (double *)(s + 1), s->rstd = s->mean + geo.c;
  bn_forward(out->data, s, x->data, rm->data, rv->data, w ? w->data : NULL, b ? b->data : NULL, mom, eps);
  Tensor *in[3] = {x, w, b};
  Record *r = tp_record(T, "batch_norm", bn_bw, out, 3, in);
  if (r) r->saved = s;
  else free(s);
  return out;
}
