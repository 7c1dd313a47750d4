/* ops_attn.c — attention (issue 15) for the eager engine, written from the math, not
 * from the compiler's kernels: the triangular masks (tril, triu) and scaled dot-product
 * attention, materialised as PyTorch's explicit formula would be:
 *   S = q k^T scale (causal: -inf where key j > query i),  P = softmax_rows(S),  O = P v
 * and backward, with G = dO:
 *   dv = P^T G,  dP = G v^T,  dS = P * (dP - rowsum(dP * P)),  dq = dS k scale,
 *   dk = dS^T q scale.
 * P (one T x S matrix per batch) is kept for backward. Sums run in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tape_internal.h"

/* ---------------------------------------------------------------- tril, triu */

static bool kept(int64_t row, int64_t col, int64_t diag, bool upper) {
  return upper ? col - row >= diag : col - row <= diag;
}

static void tri_apply(const Tensor *x, int64_t diag, bool upper, const float *src, float *dst, bool add) {
  int64_t R = x->shape[x->rank - 2], C = x->shape[x->rank - 1];
  for (size_t e = 0; e < x->n; e++) {
    int64_t c = (int64_t)e % C, r = ((int64_t)e / C) % R;
    float v = kept(r, c, diag, upper) ? src[e] : 0.0f;
    dst[e] = add ? dst[e] + v : v;
  }
}

static void tri_bw(Tape *T, Record *r) {
  float *g = tp_grad(T, r->in[0]);
  if (g) tri_apply(r->in[0], r->k, r->axis, r->out->grad, g, true);
}

Tensor *op_tri(Tape *T, Tensor *x, int64_t diag, bool upper) {
  char buf[96];
  if (x->rank < 2)
    tp_fail(T, "%s needs an f32 tensor of at least 2 dimensions (a matrix or a batch of them), got f32 %s",
            upper ? "triu" : "tril", tp_shape_str(x, buf, sizeof buf));
  Tensor *out = tp_empty(T, x->rank, x->shape);
  tri_apply(x, diag, upper, x->data, out->data, false);
  Record *r = tp_record(T, upper ? "triu" : "tril", tri_bw, out, 1, &x);
  if (r) r->k = (int)diag, r->axis = upper;
  return out;
}

/* ---------------------------------------------------------------- sdpa */

typedef struct {
  int64_t B, T, S, D, Dv;
  bool causal;
  double scale;
  float *p; /* [B, T, S] probabilities (0 where masked) */
} Attn;

static void check_qkv(Tape *T, Tensor *q, Tensor *k, Tensor *v) {
  char a[96], b[96], c[96];
  tp_shape_str(q, a, sizeof a), tp_shape_str(k, b, sizeof b), tp_shape_str(v, c, sizeof c);
  const char *op = "scaled_dot_product_attention";
  if (q->rank < 2 || k->rank < 2 || v->rank < 2 || q->rank != k->rank || q->rank != v->rank)
    tp_fail(T, "%s: q %s, k %s and v %s must have the same rank, at least 2", op, a, b, c);
  for (int i = 0; i < q->rank - 2; i++)
    if (q->shape[i] != k->shape[i] || q->shape[i] != v->shape[i])
      tp_fail(T, "%s: the leading (batch) axes of q %s, k %s and v %s differ (gradc does not broadcast them)", op, a, b,
              c);
  if (q->shape[q->rank - 1] != k->shape[k->rank - 1])
    tp_fail(T, "%s: q %s and k %s must have the same last size (D)", op, a, b);
  if (k->shape[k->rank - 2] != v->shape[v->rank - 2])
    tp_fail(T, "%s: k %s and v %s must have the same number of keys (S)", op, b, c);
}

static void sdpa_forward(Attn *a, const float *q, const float *k, const float *v, float *o) {
  double *s = malloc(sizeof *s * (size_t)a->S);
  for (int64_t b = 0; b < a->B; b++)
    for (int64_t i = 0; i < a->T; i++) {
      const float *qi = q + (b * a->T + i) * a->D;
      float *pi = a->p + (b * a->T + i) * a->S;
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < a->S; j++) {
        double dot = 0;
        for (int64_t c = 0; c < a->D; c++) dot += (double)qi[c] * k[(b * a->S + j) * a->D + c];
        s[j] = a->causal && j > i ? -INFINITY : dot * a->scale;
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j < a->S; j++) sum += s[j] = exp(s[j] - mx);
      for (int64_t j = 0; j < a->S; j++) pi[j] = (float)(s[j] / sum);
      for (int64_t c = 0; c < a->Dv; c++) {
        double acc = 0;
        for (int64_t j = 0; j < a->S; j++) acc += (double)pi[j] * v[(b * a->S + j) * a->Dv + c];
        o[(b * a->T + i) * a->Dv + c] = (float)acc;
      }
    }
  free(s);
}

static void sdpa_bw(Tape *T, Record *r) {
  Attn *a = r->saved;
  const float *q = r->in[0]->data, *k = r->in[1]->data, *v = r->in[2]->data, *g = r->out->grad;
  float *dq = tp_grad(T, r->in[0]), *dk = tp_grad(T, r->in[1]), *dv = tp_grad(T, r->in[2]);
  double *ds = tp_scratch(T, sizeof *ds * (size_t)a->S);
  for (int64_t b = 0; b < a->B; b++)
    for (int64_t i = 0; i < a->T; i++) {
      const float *pi = a->p + (b * a->T + i) * a->S, *gi = g + (b * a->T + i) * a->Dv;
      double rs = 0;
      for (int64_t j = 0; j < a->S; j++) {
        double dp = 0;
        for (int64_t c = 0; c < a->Dv; c++) dp += (double)gi[c] * v[(b * a->S + j) * a->Dv + c];
        ds[j] = dp, rs += dp * pi[j];
        if (dv)
          for (int64_t c = 0; c < a->Dv; c++) dv[(b * a->S + j) * a->Dv + c] += (float)(pi[j] * gi[c]);
      }
      for (int64_t j = 0; j < a->S; j++) ds[j] = pi[j] * (ds[j] - rs) * a->scale;
      for (int64_t c = 0; dq && c < a->D; c++) {
        double acc = 0;
        for (int64_t j = 0; j < a->S; j++) acc += ds[j] * k[(b * a->S + j) * a->D + c];
        dq[(b * a->T + i) * a->D + c] += (float)acc;
      }
      for (int64_t j = 0; dk && j < a->S; j++)
        for (int64_t c = 0; c < a->D; c++) dk[(b * a->S + j) * a->D + c] += (float)(ds[j] * q[(b * a->T + i) * a->D + c]);
    }
}

Tensor *op_sdpa(Tape *T, Tensor *q, Tensor *k, Tensor *v, bool causal, double scale) {
  check_qkv(T, q, k, v);
  Attn geo = {1, q->shape[q->rank - 2], k->shape[k->rank - 2], q->shape[q->rank - 1], v->shape[v->rank - 1], causal,
              scale, NULL};
  for (int i = 0; i < q->rank - 2; i++) geo.B *= q->shape[i];
  int64_t shape[TP_MAX_RANK];
  memcpy(shape, q->shape, sizeof shape);
  shape[q->rank - 1] = geo.Dv;
  Tensor *out = tp_empty(T, q->rank, shape);
  Attn *a = tp_malloc(T, sizeof *a + sizeof(float) * (size_t)(geo.B * geo.T * geo.S));
  *a = geo, a->p = (float *)(a + 1);
  sdpa_forward(a, q->data, k->data, v->data, out->data);
  Tensor *in[3] = {q, k, v};
  Record *r = tp_record(T, "scaled_dot_product_attention", sdpa_bw, out, 3, in);
  if (r) r->saved = a;
  else free(a);
  return out;
}
