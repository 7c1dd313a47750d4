/* ops_classify.c — cross_entropy and nll_loss over [N, C] scores, one op each, from
 * their math as torch 1.13 defines them. With lsm the log-probabilities of row i (the
 * stable log-softmax of the logits for cross_entropy, the input itself for nll_loss), w
 * the class weights (1 without), e the label smoothing and q_c = d l_i / d lsm_c:
 *   class labels y_i:  l_i = -(1 - e) w[y_i] lsm[y_i] - e/C sum_c w[c] lsm[c]
 *                      q_c = -(1 - e) w[y_i] [c = y_i] - e/C w[c]
 *                      mean: sum_i l_i / sum_i w[y_i] (N without weights)
 *   probabilities t:   l_i = -sum_c w[c] t'[c] lsm[c], t' = (1 - e) t + e/C;  q_c = -w[c] t'[c]
 *                      d l_i / d t[c] = -(1 - e) w[c] lsm[c]; mean: sum_i l_i / N
 *   cross_entropy:     d l_i / d x_j = q_j - softmax_j sum_c q_c;   nll_loss: d l_i / d x_j = q_j
 * reduction "sum" sums the l_i, "none" gives them ([N]). Labels outside [0, C) are an
 * error. The weight gets no gradient (torch has none). Backward ADDS. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

typedef struct {
  const Tensor *x, *labels, *w;
  int64_t n, c;
  bool soft, ce; /* probability targets; cross_entropy (else nll_loss) */
  double e;
} Cls;

static double weight(const Cls *k, int64_t c) { return k->w ? k->w->data[c] : 1; }

/* q[0..C): d l_i / d lsm for row i. */
static void row_slopes(const Cls *k, int64_t i, double *q) {
  for (int64_t c = 0; c < k->c; c++) {
    double t = k->soft ? (1 - k->e) * k->labels->data[i * k->c + c] + k->e / (double)k->c : k->e / (double)k->c;
    q[c] = -weight(k, c) * t;
  }
  if (!k->soft) q[k->labels->idata[i]] -= (1 - k->e) * weight(k, k->labels->idata[i]);
}

/* The denominator of the mean: sum_i w[y_i] for weighted class labels, else N. */
static double mean_denominator(const Cls *k) {
  if (k->soft || !k->w) return (double)k->n;
  double s = 0;
  for (int64_t i = 0; i < k->n; i++) s += weight(k, k->labels->idata[i]);
  return s;
}

/* lsm[N, C] of the logits (cross_entropy) or a copy of the input (nll_loss). */
static void log_probs(const Cls *k, float *lsm) {
  for (int64_t i = 0; i < k->n; i++) {
    const float *row = k->x->data + i * k->c;
    float *l = lsm + i * k->c, m = -INFINITY;
    double s = 0;
    if (!k->ce) {
      for (int64_t c = 0; c < k->c; c++) l[c] = row[c];
      continue;
    }
    for (int64_t c = 0; c < k->c; c++) m = row[c] > m ? row[c] : m;
    for (int64_t c = 0; c < k->c; c++) s += exp((double)(row[c] - m));
    for (int64_t c = 0; c < k->c; c++) l[c] = (float)(row[c] - m - log(s));
  }
}

static void cls_bw(Tape *T, Record *r) {
  Cls k = {r->in[0], r->in[1], r->in[2], r->in[0]->shape[0], r->in[0]->shape[1], r->in[1]->data != NULL, r->stride,
           r->c};
  const float *lsm = r->saved, *gy = r->out->grad;
  float *dx = tp_grad(T, r->in[0]), *dt = k.soft ? tp_grad(T, r->in[1]) : NULL;
  double *q = tp_malloc(T, (size_t)k.c * sizeof *q), scale = r->k == RED_MEAN ? 1 / mean_denominator(&k) : 1;
  for (int64_t i = 0; i < k.n; i++) {
    double g = r->k == RED_NONE ? gy[i] : gy[0] * scale, qs = 0;
    row_slopes(&k, i, q);
    for (int64_t c = 0; c < k.c; c++) qs += q[c];
    for (int64_t c = 0; dx && c < k.c; c++)
      dx[i * k.c + c] += (float)(g * (k.ce ? q[c] - exp(lsm[i * k.c + c]) * qs : q[c]));
    for (int64_t c = 0; dt && c < k.c; c++)
      dt[i * k.c + c] -= (float)(g * (1 - k.e) * weight(&k, c) * lsm[i * k.c + c]);
  }
  free(q);
}

static Tensor *classify(Tape *T, Cls *k, Tensor *x, Tensor *labels, Tensor *w, Reduction red) {
  char a[128], b[128], c[128];
  const char *op = k->ce ? "cross_entropy" : "nll_loss", *what = k->ce ? "logits" : "log-probabilities";
  if (x->rank != 2 || !x->data) tp_fail(T, "%s needs f32 %s [N, C], got %s", op, what, tp_shape_str(x, a, sizeof a));
  k->x = x, k->labels = labels, k->w = w, k->n = x->shape[0], k->c = x->shape[1];
  k->soft = k->ce && labels->data && labels->rank == 2 && labels->shape[0] == k->n && labels->shape[1] == k->c;
  if (!k->soft && (!labels->idata || labels->rank != 1 || labels->shape[0] != k->n))
    tp_fail(T, "%s needs i32 labels [%lld]%s%s%s for %s %s, got %s %s", op, (long long)k->n,
            k->ce ? " (or f32 probabilities " : "", k->ce ? tp_shape_str(x, c, sizeof c) : "", k->ce ? ")" : "", what,
            tp_shape_str(x, a, sizeof a), labels->idata ? "i32" : "f32", tp_shape_str(labels, b, sizeof b));
  for (int64_t i = 0; !k->soft && i < k->n; i++)
    if (labels->idata[i] < 0 || labels->idata[i] >= k->c)
      tp_fail(T, "%s: label %d of row %lld is out of range [0, %lld)", op, (int)labels->idata[i], (long long)i,
              (long long)k->c);
  if (w && (!w->data || w->rank != 1 || w->shape[0] != k->c))
    tp_fail(T, "%s: the class weight must be f32 [%lld], one per class, got %s %s", op, (long long)k->c,
            w->data ? "f32" : "i32", tp_shape_str(w, a, sizeof a));
  float *lsm = tp_malloc(T, x->n * sizeof(float)); /* saved for backward */
  log_probs(k, lsm);
  Tensor *out = red == RED_NONE ? tp_empty(T, 1, &k->n) : tp_empty(T, 0, NULL);
  double *q = malloc((size_t)k->c * sizeof *q), acc = 0;
  if (!q) free(lsm), tp_fail(T, "out of memory");
  for (int64_t i = 0; i < k->n; i++) { /* l_i = sum_c q_c lsm_c: the loss is linear in lsm */
    double l = 0;
    row_slopes(k, i, q);
    for (int64_t c = 0; c < k->c; c++) l += q[c] * lsm[i * k->c + c];
    if (red == RED_NONE) out->data[i] = (float)l;
    acc += l;
  }
  free(q);
  if (red != RED_NONE) out->data[0] = (float)(red == RED_MEAN ? acc / mean_denominator(k) : acc);
  Tensor *in[3] = {x, labels, w};
  Record *r = tp_record(T, op, cls_bw, out, w ? 3 : 2, in);
  if (r) r->saved = lsm, r->k = red, r->c = k->e, r->stride = k->ce;
  else free(lsm);
  return out;
}

Tensor *op_cross_entropy(Tape *T, Tensor *x, Tensor *labels, Tensor *w, Reduction red, double e) {
  Cls k = {.ce = true, .e = e};
  return classify(T, &k, x, labels, w, red);
}

Tensor *op_nll_loss(Tape *T, Tensor *x, Tensor *labels, Tensor *w, Reduction red) {
  Cls k = {.ce = false, .e = 0};
  return classify(T, &k, x, labels, w, red);
}
