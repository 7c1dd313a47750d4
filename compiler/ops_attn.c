/* ops_attn.c — the attention primitives of the operator table (issue 15): shape
 * rules, derivatives and float64 evaluation (no LLVM; lower_attn.c has their kernels).
 * Rows are in ops.c.
 *
 *   tri       y = x where column - row <= diag (lower) / >= diag (upper), else 0, over the
 *             last two axes (torch.tril / torch.triu); its derivative is the same mask.
 *   sdpa      o[b,i] = sum_j p[b,i,j] v[b,j],  p = softmax_j(scale q[b,i].k[b,j]) over the
 *             keys j the row attends to (all, or j <= i when causal: top-left aligned, as
 *             torch's is_causal); q [.., T, D], k [.., S, D], v [.., S, Dv], equal leading axes.
 *   sdpa_bwd  (q, k, v, dO) -> dq, dk, dv packed along the last axis of a [.., T*D + S*D + S*Dv]
 *             tensor: with dp = dO[i].v[j], Di = sum_j p dp, ds = p (dp - Di):
 *             dq[i] = scale sum_j ds k[j],  dk[j] = scale sum_i ds q[i],  dv[j] = sum_i p dO[i].
 * The derivative of sdpa is one sdpa_bwd and three slices of it (views of its rows). */
#include "ops_attn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Q(n) ((n)->in[0])
#define K(n) ((n)->in[1])
#define V(n) ((n)->in[2])

static const char *what(Graph *g, const char *own) { return g->what ? g->what : own; }

/* ---------------------------------------------------------------- tri */

bool tri_keeps(const TriAttr *a, int64_t row, int64_t col) {
  return a->upper ? col - row >= a->diag : col - row <= a->diag;
}

const char *shape_tri(Graph *g, Node *n) {
  Node *x = n->in[0];
  if (x->dtype != DT_F32 || x->shape.rank < 2)
    return arena_printf(g->arena, "%s needs an f32 tensor of at least 2 dimensions (a matrix or a batch of them), got %s %s",
                        what(g, node_tri(n)->upper ? "triu" : "tril"), dtype_name(x->dtype), shape_str(g->arena, x->shape));
  n->shape = x->shape;
  return NULL;
}

void grad_tri(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = g_tri(g, dy, node_tri(n)->diag, node_tri(n)->upper); }

void ev_tri(const Node *n, double *out, double *const *in) {
  Shape s = n->shape;
  int64_t R = s.d[s.rank - 2], C = s.d[s.rank - 1], cnt = shape_count(s);
  for (int64_t e = 0; e < cnt; e++) {
    int64_t c = e % C, r = (e / C) % R;
    out[e] = tri_keeps(node_tri(n), r, c) ? in[0][e] : 0;
  }
}

/* ---------------------------------------------------------------- sdpa */

SdpaDims sdpa_dims(const Node *n) {
  Shape q = Q(n)->shape, v = V(n)->shape, k = K(n)->shape;
  SdpaDims d = {1, q.d[q.rank - 2], k.d[k.rank - 2], q.d[q.rank - 1], v.d[v.rank - 1]};
  for (int i = 0; i < q.rank - 2; i++) d.B *= q.d[i];
  return d;
}

/* q [.., T, D], k [.., S, D], v [.., S, Dv]: one rank >= 2, equal leading axes. */
static const char *check_qkv(Graph *g, Node *n) {
  const char *op = what(g, "scaled_dot_product_attention");
  Arena *a = g->arena;
  static const char *const names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; i++)
    if (n->in[i]->dtype != DT_F32 || n->in[i]->shape.rank < 2)
      return arena_printf(a, "%s: %s must be an f32 tensor [..., %s], got %s %s", op, names[i],
                          i == 0 ? "T, D" : i == 1 ? "S, D" : "S, Dv", dtype_name(n->in[i]->dtype),
                          shape_str(a, n->in[i]->shape));
  Shape q = Q(n)->shape, k = K(n)->shape, v = V(n)->shape;
  const char *qs = shape_str(a, q), *ks = shape_str(a, k), *vs = shape_str(a, v);
  if (q.rank != k.rank || q.rank != v.rank)
    return arena_printf(a, "%s: q %s, k %s and v %s must have the same rank", op, qs, ks, vs);
  for (int i = 0; i < q.rank - 2; i++)
    if (q.d[i] != k.d[i] || q.d[i] != v.d[i])
      return arena_printf(a, "%s: the leading (batch) axes of q %s, k %s and v %s differ (gradc does not broadcast them)",
                          op, qs, ks, vs);
  if (q.d[q.rank - 1] != k.d[k.rank - 1])
    return arena_printf(a, "%s: q %s and k %s must have the same last size (D)", op, qs, ks);
  if (k.d[k.rank - 2] != v.d[v.rank - 2])
    return arena_printf(a, "%s: k %s and v %s must have the same number of keys (S)", op, ks, vs);
  return NULL;
}

const char *shape_sdpa(Graph *g, Node *n) {
  const char *err = check_qkv(g, n);
  if (err) return err;
  n->shape = Q(n)->shape;
  n->shape.d[n->shape.rank - 1] = V(n)->shape.d[V(n)->shape.rank - 1];
  return NULL;
}

const char *shape_sdpa_bwd(Graph *g, Node *n) {
  const char *err = check_qkv(g, n);
  if (err) return err;
  Shape o = Q(n)->shape;
  o.d[o.rank - 1] = V(n)->shape.d[V(n)->shape.rank - 1];
  if (!shape_eq(n->in[3]->shape, o) || n->in[3]->dtype != DT_F32)
    return arena_printf(g->arena, "sdpa_bwd: dO %s must be %s", shape_str(g->arena, n->in[3]->shape),
                        shape_str(g->arena, o));
  SdpaDims d = sdpa_dims(n);
  n->shape = Q(n)->shape;
  n->shape.rank--;
  n->shape.d[n->shape.rank - 1] = d.T * d.D + d.S * d.D + d.S * d.Dv;
  return NULL;
}

/* Part [from, from + len) of the packed gradient's last axis, as a tensor of shape s. */
static Node *unpack(Graph *g, Node *packed, int64_t from, int64_t len, Shape s) {
  Shape ps = packed->shape;
  int64_t start[GC_MAX_RANK] = {0}, step[GC_MAX_RANK];
  for (int i = 0; i < GC_MAX_RANK; i++) step[i] = 1;
  start[ps.rank - 1] = from, ps.d[ps.rank - 1] = len;
  return g_reshape(g, g_slice(g, packed, start, step, ps), s);
}

void grad_sdpa(Graph *g, Node *n, Node *dy, Node **dx) {
  SdpaDims d = sdpa_dims(n);
  Node *bw = g_sdpa(g, Q(n), K(n), V(n), dy, node_sdpa(n));
  dx[0] = unpack(g, bw, 0, d.T * d.D, Q(n)->shape);
  dx[1] = unpack(g, bw, d.T * d.D, d.S * d.D, K(n)->shape);
  dx[2] = unpack(g, bw, d.T * d.D + d.S * d.D, d.S * d.Dv, V(n)->shape);
}

/* Row i of batch b: p[j] for the keys it attends to (the softmax, in double); returns
 * how many. */
static int64_t probs(const Node *n, const SdpaDims *d, double *const *in, int64_t b, int64_t i, double *p) {
  const double *q = in[0] + (b * d->T + i) * d->D, *k = in[1] + b * d->S * d->D;
  int64_t nk = sdpa_keys(n, d, i);
  double m = -INFINITY, sum = 0;
  for (int64_t j = 0; j < nk; j++) {
    double s = 0;
    for (int64_t c = 0; c < d->D; c++) s += q[c] * k[j * d->D + c];
    p[j] = s * node_sdpa(n)->scale;
    if (p[j] > m) m = p[j];
  }
  for (int64_t j = 0; j < nk; j++) sum += p[j] = exp(p[j] - m);
  for (int64_t j = 0; j < nk; j++) p[j] /= sum;
  return nk;
}

void ev_sdpa(const Node *n, double *out, double *const *in) {
  SdpaDims d = sdpa_dims(n);
  double *p = malloc(sizeof *p * (size_t)d.S);
  GC_ASSERT(p);
  for (int64_t b = 0; b < d.B; b++)
    for (int64_t i = 0; i < d.T; i++) {
      int64_t nk = probs(n, &d, in, b, i, p);
      double *o = out + (b * d.T + i) * d.Dv;
      const double *v = in[2] + b * d.S * d.Dv;
      for (int64_t c = 0; c < d.Dv; c++) o[c] = 0;
      for (int64_t j = 0; j < nk; j++)
        for (int64_t c = 0; c < d.Dv; c++) o[c] += p[j] * v[j * d.Dv + c];
    }
  free(p);
}

void ev_sdpa_bwd(const Node *n, double *out, double *const *in) {
  SdpaDims d = sdpa_dims(n);
  int64_t P = d.T * d.D + d.S * d.D + d.S * d.Dv;
  double *p = malloc(sizeof *p * (size_t)d.S), scale = node_sdpa(n)->scale;
  GC_ASSERT(p);
  memset(out, 0, sizeof *out * (size_t)(P * d.B));
  for (int64_t b = 0; b < d.B; b++) {
    double *dq = out + b * P, *dk = dq + d.T * d.D, *dv = dk + d.S * d.D;
    const double *k = in[1] + b * d.S * d.D, *v = in[2] + b * d.S * d.Dv;
    for (int64_t i = 0; i < d.T; i++) {
      const double *q = in[0] + (b * d.T + i) * d.D, *go = in[3] + (b * d.T + i) * d.Dv;
      int64_t nk = probs(n, &d, in, b, i, p);
      double di = 0;
      for (int64_t j = 0; j < nk; j++)
        for (int64_t c = 0; c < d.Dv; c++) di += p[j] * go[c] * v[j * d.Dv + c];
      for (int64_t j = 0; j < nk; j++) {
        double dp = 0;
        for (int64_t c = 0; c < d.Dv; c++) dp += go[c] * v[j * d.Dv + c], dv[j * d.Dv + c] += p[j] * go[c];
        double ds = p[j] * (dp - di) * scale;
        for (int64_t c = 0; c < d.D; c++) dq[i * d.D + c] += ds * k[j * d.D + c], dk[j * d.D + c] += ds * q[c];
      }
    }
  }
  free(p);
}

SdpaScratch sdpa_scratch(const Node *n, int vw) {
  SdpaDims d = sdpa_dims(n);
  bool bwd = n->op == OP_SDPA_BWD;
  int64_t step = 2 * (vw > 1 ? vw : 1);
  SdpaScratch s = {.rows = SDPA_ROWS, .Sp = (d.S + step - 1) / step * step};
  s.vt = d.D * s.Sp;
  s.s = s.vt + (bwd ? d.Dv * s.Sp : 0);
  s.dp = s.s + s.rows * s.Sp;
  s.floats = s.dp + (bwd ? s.rows * s.Sp : 0);
  return s;
}

int64_t sdpa_scratch_bytes(const Node *n, int vw) { return sdpa_scratch(n, vw).floats * dtype_size(DT_F32); }

/* Multiply-adds x 2: q.k and p v per attended pair (the backward: five such). */
double flops_sdpa(const Node *n) {
  SdpaDims d = sdpa_dims(n);
  double pairs = 0;
  for (int64_t i = 0; i < d.T; i++) pairs += (double)sdpa_keys(n, &d, i);
  double per = n->op == OP_SDPA ? (double)(d.D + d.Dv) : (double)(2 * d.D + 2 * d.Dv + d.D + d.Dv + d.D);
  return 2.0 * (double)d.B * pairs * per;
}
