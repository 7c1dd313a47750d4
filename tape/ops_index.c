/* ops_index.c — the indexing and assembling kernels of the tape (issue 15).
 *
 * axis_map: the result element at (j0, j1, ...) is x at (m0[j0], m1[j1], ...), or
 * `fill` where some m_d[j_d] is -1. Narrow, expand, repeat and every padding mode are
 * one such map per axis, computed by the caller from the operator's definition
 * (interp_index.c). Backward scatters: dx[src] += dy for each element read, so an
 * element read twice (expand, repeat, reflect) gets both contributions.
 * concat2 joins two tensors along an axis (copies of contiguous blocks); backward
 * hands each operand its block of the gradient. Backward kernels ADD. */
#include <stdlib.h>
#include <string.h>
#include "tape_internal.h"

/* ---------------------------------------------------------------- axis_map */

static void map_bw(Tape *T, Record *r) {
  const int64_t *src = r->saved;
  float *dx = tp_grad(T, r->in[0]);
  const float *dy = r->out->grad;
  for (size_t o = 0; o < r->out->n; o++)
    if (src[o] >= 0) dx[src[o]] += dy[o];
}

Tensor *op_axis_map(Tape *T, const char *name, Tensor *x, int rank, const int64_t *shape, int64_t *const *maps,
                    double fill) {
  if (x->rank != rank) tp_fail(T, "%s: internal rank mismatch", name);
  Tensor *out = tp_empty(T, rank, shape);
  int64_t *src = tp_malloc(T, sizeof *src * (out->n ? out->n : 1));
  int64_t xs[TP_MAX_RANK], s = 1, idx[TP_MAX_RANK] = {0};
  for (int d = rank - 1; d >= 0; d--) xs[d] = s, s *= x->shape[d];
  for (size_t o = 0; o < out->n; o++) {
    int64_t off = 0;
    for (int d = 0; d < rank && off >= 0; d++) off = maps[d][idx[d]] < 0 ? -1 : off + maps[d][idx[d]] * xs[d];
    src[o] = off;
    out->data[o] = off >= 0 ? x->data[off] : (float)fill;
    for (int d = rank - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
  }
  Record *r = tp_record(T, name, map_bw, out, 1, &x);
  if (r) r->saved = src;
  else free(src);
  return out;
}

/* ---------------------------------------------------------------- concat2 */

/* The sizes around the axis: outer blocks of a's and b's rows of `inner` elements. */
static void concat_dims(const Tensor *a, const Tensor *b, int axis, int64_t *outer, int64_t *inner) {
  *outer = 1, *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= a->shape[d];
  for (int d = axis + 1; d < a->rank; d++) *inner *= a->shape[d];
  (void)b;
}

static void concat2_bw(Tape *T, Record *r) {
  Tensor *a = r->in[0], *b = r->in[1];
  int64_t outer, inner, na, nb;
  concat_dims(a, b, r->axis, &outer, &inner);
  na = a->shape[r->axis] * inner, nb = b->shape[r->axis] * inner;
  float *da = tp_grad(T, a), *db = tp_grad(T, b);
  const float *dy = r->out->grad;
  for (int64_t o = 0; o < outer; o++) {
    const float *row = dy + o * (na + nb);
    if (da)
      for (int64_t i = 0; i < na; i++) da[o * na + i] += row[i];
    if (db)
      for (int64_t i = 0; i < nb; i++) db[o * nb + i] += row[na + i];
  }
}

Tensor *op_concat2(Tape *T, Tensor *a, Tensor *b, int axis) {
  char sa[128], sb[128];
  bool fits = a->rank == b->rank && a->data && b->data;
  for (int d = 0; fits && d < a->rank; d++) fits = d == axis || a->shape[d] == b->shape[d];
  if (!fits)
    tp_fail(T, "concat: shapes %s and %s differ outside axis %d", tp_shape_str(a, sa, sizeof sa),
            tp_shape_str(b, sb, sizeof sb), axis);
  int64_t shape[TP_MAX_RANK], outer, inner;
  memcpy(shape, a->shape, sizeof shape);
  shape[axis] += b->shape[axis];
  concat_dims(a, b, axis, &outer, &inner);
  int64_t na = a->shape[axis] * inner, nb = b->shape[axis] * inner;
  Tensor *out = tp_empty(T, a->rank, shape);
  for (int64_t o = 0; o < outer; o++) {
    memcpy(out->data + o * (na + nb), a->data + o * na, sizeof(float) * (size_t)na);
    memcpy(out->data + o * (na + nb) + na, b->data + o * nb, sizeof(float) * (size_t)nb);
  }
  Tensor *in[2] = {a, b};
  Record *r = tp_record(T, "concat", concat2_bw, out, 2, in);
  if (r) r->axis = axis;
  return out;
}

/* ---------------------------------------------------------------- gather (indexing II, issue 15) */

/* Backward: map_bw's scatter (an index read twice gets both contributions). */
Tensor *op_gather(Tape *T, const char *name, Tensor *x, Tensor *index, int axis, int rank, const int64_t *shape) {
  if (x->rank != rank || index->rank != rank || !index->idata || !x->data) tp_fail(T, "%s: internal rank mismatch", name);
  Tensor *out = tp_empty(T, rank, shape);
  int64_t *src = tp_malloc(T, sizeof *src * (out->n ? out->n : 1));
  int64_t xs[TP_MAX_RANK], is[TP_MAX_RANK], s = 1, t = 1, idx[TP_MAX_RANK] = {0};
  for (int d = rank - 1; d >= 0; d--) {
    xs[d] = s, s *= x->shape[d];
    is[d] = index->shape[d] == 1 ? 0 : t, t *= index->shape[d];
  }
  for (size_t o = 0; o < out->n; o++) {
    int64_t io = 0, off = 0;
    for (int d = 0; d < rank; d++) io += idx[d] * is[d];
    int64_t id = index->idata[io];
    for (int d = 0; d < rank; d++) off += (d == axis ? id : idx[d]) * xs[d];
    src[o] = id >= 0 && id < x->shape[axis] ? off : -1;
    out->data[o] = src[o] >= 0 ? x->data[off] : 0.0f;
    for (int d = rank - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
  }
  Record *r = tp_record(T, name, map_bw, out, 1, &x);
  if (r) r->saved = src;
  else free(src);
  return out;
}
