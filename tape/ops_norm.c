/* ops_norm.c — normalization (issue 15): layer_norm and group_norm as one kernel pair,
 * written from the math (not from the compiler's composite).
 *
 * The input is seen as R rows of M elements (layer_norm: the trailing normalized_shape;
 * group_norm: the C/G channels of a group with their positions). Per row:
 *   mean = sum(x) / M,  var = sum((x - mean)^2) / M (biased),  rstd = 1 / sqrt(var + eps)
 *   xhat = (x - mean) rstd,  y = xhat w[c] + b[c]
 * where element i has channel c = (i / inner) % C (layer_norm: inner 1, C = M; group_norm:
 * inner = the positions per channel, C = channels). Backward, with g = dy w[c]:
 *   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dw[c] += dy xhat,  db[c] += dy.
 * Row statistics accumulate in double; mean and rstd are saved for backward. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

typedef struct {
  size_t rows, m, inner, channels;
  float *mean, *rstd; /* per row */
} NormSaved;

static size_t chan(const NormSaved *s, size_t i) { return (i / s->inner) % s->channels; }

static void norm_forward(float *y, NormSaved *s, const float *x, const float *w, const float *b, double eps) {
  for (size_t r = 0; r < s->rows; r++) {
    const float *xr = x + r * s->m;
    double sum = 0, sq = 0;
    for (size_t j = 0; j < s->m; j++) sum += xr[j];
    double mean = sum / (double)s->m;
    for (size_t j = 0; j < s->m; j++) sq += (xr[j] - mean) * (xr[j] - mean);
    double rstd = 1 / sqrt(sq / (double)s->m + eps);
    s->mean[r] = (float)mean, s->rstd[r] = (float)rstd;
    for (size_t j = 0; j < s->m; j++) {
      size_t i = r * s->m + j, c = chan(s, i);
      float v = (float)((xr[j] - mean) * rstd);
      y[i] = (w ? v * w[c] : v) + (b ? b[c] : 0.0f);
    }
  }
}

static void norm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                          const NormSaved *s) {
  for (size_t r = 0; r < s->rows; r++) {
    size_t o = r * s->m;
    double mg = 0, mgx = 0;
    for (size_t j = 0; j < s->m; j++) {
      size_t i = o + j, c = chan(s, i);
      double xhat = ((double)x[i] - s->mean[r]) * s->rstd[r], g = w ? (double)dy[i] * w[c] : dy[i];
      mg += g, mgx += g * xhat;
      if (dw) dw[c] += (float)(dy[i] * xhat);
      if (db) db[c] += dy[i];
    }
    mg /= (double)s->m, mgx /= (double)s->m;
    if (!dx) continue;
    for (size_t j = 0; j < s->m; j++) {
      size_t i = o + j, c = chan(s, i);
      double xhat = ((double)x[i] - s->mean[r]) * s->rstd[r], g = w ? (double)dy[i] * w[c] : dy[i];
      dx[i] += (float)(s->rstd[r] * (g - mg - xhat * mgx));
    }
  }
}

static void norm_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
  norm_backward(tp_grad(T, x), tp_grad(T, w), tp_grad(T, b), r->out->grad, x->data, w ? w->data : NULL, r->saved);
}

static Tensor *norm(Tape *T, const char *name, Tensor *x, Tensor *w, Tensor *b, NormSaved geo, double eps) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  NormSaved *s = tp_malloc(T, sizeof *s + 2 * geo.rows * sizeof(float));
  *s = geo;
  s->mean = (float *)(s + 1), s->rstd = s->mean + geo.rows;
  norm_forward(out->data, s, x->data, w ? w->data : NULL, b ? b->data : NULL, eps);
  Tensor *in[3] = {x, w, b};
  Record *r = tp_record(T, name, norm_bw, out, 3, in);
  if (r) r->saved = s;
  else free(s);
  return out;
}

/* An optional weight or bias of `count` elements with the given shape (checked). */
static void check_affine(Tape *T, const char *op, const char *what, const Tensor *t, int rank, const int64_t *shape) {
  if (!t) return;
  bool ok = t->data && t->rank == rank;
  for (int i = 0; ok && i < rank; i++) ok = t->shape[i] == shape[i];
  char a[128], e[128];
  Tensor want = {.rank = rank};
  for (int i = 0; i < rank; i++) want.shape[i] = shape[i];
  if (!ok)
    tp_fail(T, "%s: %s must be f32 %s, got %s %s", op, what, tp_shape_str(&want, e, sizeof e), t->data ? "f32" : "i32",
            tp_shape_str(t, a, sizeof a));
}

Tensor *op_layer_norm(Tape *T, Tensor *x, int k, Tensor *w, Tensor *b, double eps) {
  const int64_t *ns = x->shape + x->rank - k;
  check_affine(T, "layer_norm", "weight", w, k, ns);
  check_affine(T, "layer_norm", "bias", b, k, ns);
  size_t m = tp_count(k, ns);
  return norm(T, "layer_norm", x, w, b, (NormSaved){x->n / m, m, 1, m, NULL, NULL}, eps);
}

Tensor *op_group_norm(Tape *T, Tensor *x, int groups, Tensor *w, Tensor *b, double eps) {
  char a[128];
  if (x->rank < 2) tp_fail(T, "group_norm needs an f32 input [N, C, *], got f32 %s", tp_shape_str(x, a, sizeof a));
  size_t ch = (size_t)x->shape[1];
  if (ch % (size_t)groups)
    tp_fail(T, "group_norm: the %zu channels of the input %s do not divide into %d groups", ch,
            tp_shape_str(x, a, sizeof a), groups);
  check_affine(T, "group_norm", "weight", w, 1, x->shape + 1);
  check_affine(T, "group_norm", "bias", b, 1, x->shape + 1);
  size_t rows = (size_t)x->shape[0] * (size_t)groups;
  return norm(T, "group_norm", x, w, b, (NormSaved){rows, x->n / rows, x->n / (size_t)x->shape[0] / ch, ch, NULL, NULL},
              eps);
}
