/* ops_shape.c — layout operators and the matrix product.
 *
 * transpose/permute copies into a new contiguous tensor (backward scatters back through
 * the inverse permutation); reshape and flatten are views sharing the input's data
 * (backward passes the gradient through unchanged, as torch's view backward); detach is
 * a view that does not require grad and records nothing. `@` follows torch.matmul for
 * 1-D, 2-D and 3-D operands: a 1-D operand gets a unit dimension that the result drops,
 * 3-D operands are a batch (a batch of 1, or a 2-D/1-D operand, broadcasts), and every
 * product is a plain i-k-j triple loop (backward: dA += dC B^T, dB += A^T dC).
 * Forward and backward kernels of each op side by side; backward ADDS. */
#include <string.h>
#include "tape_internal.h"

/* ---------------------------------------------------------------- permute */

/* For each element of out (row-major), the offset in x: out[o] <-> x[src(o)]. */
static void permute_strides(const Tensor *x, const int *perm, int64_t *st) {
  int64_t xs[TP_MAX_RANK], s = 1;
  for (int i = x->rank - 1; i >= 0; i--) xs[i] = s, s *= x->shape[i];
  for (int i = 0; i < x->rank; i++) st[i] = xs[perm[i]];
}

/* Visits out in row-major order; fwd: out[o] = x[src], bwd: dx[src] += dout[o]. */
static void permute_kernel(float *out_or_dout, float *x_or_dx, const int64_t *oshape, const int64_t *st, int r,
                           size_t n, bool backward) {
  int64_t idx[TP_MAX_RANK] = {0}, src = 0;
  for (size_t o = 0; o < n; o++) {
    if (backward) x_or_dx[src] += out_or_dout[o];
    else out_or_dout[o] = x_or_dx[src];
    for (int d = r - 1; d >= 0; d--) {
      src += st[d];
      if (++idx[d] < oshape[d]) break;
      src -= st[d] * oshape[d];
      idx[d] = 0;
    }
  }
}
static void permute_forward(float *out, const float *x, const int64_t *oshape, const int64_t *st, int r, size_t n) {
  permute_kernel(out, (float *)x, oshape, st, r, n, false);
}
static void permute_backward(float *dx, const float *dout, const int64_t *oshape, const int64_t *st, int r, size_t n) {
  permute_kernel((float *)dout, dx, oshape, st, r, n, true);
}
static void permute_bw(Tape *T, Record *r) {
  int64_t st[TP_MAX_RANK];
  permute_strides(r->in[0], r->perm, st);
  permute_backward(tp_grad(T, r->in[0]), r->out->grad, r->out->shape, st, r->out->rank, r->out->n);
}
Tensor *op_permute(Tape *T, Tensor *x, const int *perm) {
  int64_t shape[TP_MAX_RANK], st[TP_MAX_RANK];
  for (int i = 0; i < x->rank; i++) shape[i] = x->shape[perm[i]];
  Tensor *out = tp_empty(T, x->rank, shape);
  permute_strides(x, perm, st);
  permute_forward(out->data, x->data, shape, st, x->rank, x->n);
  Record *r = tp_record(T, "permute", permute_bw, out, 1, &x);
  if (r) memcpy(r->perm, perm, sizeof(int) * (size_t)x->rank);
  return out;
}

/* ---------------------------------------------------------------- reshape (a view), detach */

static void view_backward(float *dx, const float *dout, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] += dout[i];
}
static void view_bw(Tape *T, Record *r) { view_backward(tp_grad(T, r->in[0]), r->out->grad, r->out->n); }
Tensor *op_reshape(Tape *T, Tensor *x, int rank, const int64_t *shape) {
  if (tp_count(rank, shape) != x->n) {
    char a[128];
    tp_fail(T, "cannot reshape %s (%zu elements) to %zu elements", tp_shape_str(x, a, sizeof a), x->n,
            tp_count(rank, shape));
  }
  Tensor *out = tp_view(T, x, rank, shape);
  tp_record(T, "view", view_bw, out, 1, &x);
  return out;
}

Tensor *op_detach(Tape *T, Tensor *x) { return tp_view(T, x, x->rank, x->shape); }

/* ---------------------------------------------------------------- matmul */

typedef struct {
  int64_t batch, n, k, m; /* C[batch, n, m] = A[batch, n, k] B[batch, k, m] */
  int64_t sa, sb;          /* batch strides of A and B (0: broadcast) */
} MM;

static void matmul_forward(float *c, const float *a, const float *b, const MM *p) {
  int64_t n = p->n, k = p->k, m = p->m;
  for (int64_t t = 0; t < p->batch; t++) {
    const float *A = a + t * p->sa, *B = b + t * p->sb;
    float *C = c + t * n * m;
    for (int64_t i = 0; i < n; i++) {
      float *crow = C + i * m;
      for (int64_t j = 0; j < m; j++) crow[j] = 0;
      for (int64_t q = 0; q < k; q++) {
        float av = A[i * k + q];
        const float *brow = B + q * m;
        for (int64_t j = 0; j < m; j++) crow[j] += av * brow[j];
      }
    }
  }
}
/* da, db may be NULL. */
static void matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b, const MM *p) {
  int64_t n = p->n, k = p->k, m = p->m;
  for (int64_t t = 0; t < p->batch; t++) {
    const float *A = a + t * p->sa, *B = b + t * p->sb, *dC = dc + t * n * m;
    if (da) { /* dA[i, q] += sum_j dC[i, j] B[q, j] */
      float *dA = da + t * p->sa;
      for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < k; q++) {
          const float *g = dC + i * m, *brow = B + q * m;
          float s = 0;
          for (int64_t j = 0; j < m; j++) s += g[j] * brow[j];
          dA[i * k + q] += s;
        }
    }
    if (db) { /* dB[q, :] += A[i, q] dC[i, :] */
      float *dB = db + t * p->sb;
      for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < k; q++) {
          float av = A[i * k + q];
          const float *g = dC + i * m;
          float *drow = dB + q * m;
          for (int64_t j = 0; j < m; j++) drow[j] += av * g[j];
        }
    }
  }
}

static MM matmul_dims(Tape *T, const Tensor *a, const Tensor *b) {
  char sa[128], sb[128];
  int ra = a->rank, rb = b->rank;
  if (ra < 1 || rb < 1 || ra > 3 || rb > 3)
    tp_fail(T, "matrix product of %s and %s: operands must be 1-D, 2-D or 3-D", tp_shape_str(a, sa, sizeof sa),
            tp_shape_str(b, sb, sizeof sb));
  int64_t ba = ra == 3 ? a->shape[0] : 1, bb = rb == 3 ? b->shape[0] : 1;
  MM p = {0};
  p.n = ra == 1 ? 1 : a->shape[ra - 2];
  p.k = a->shape[ra - 1];
  int64_t k2 = rb == 1 ? b->shape[0] : b->shape[rb - 2];
  p.m = rb == 1 ? 1 : b->shape[rb - 1];
  if (p.k != k2 || (ba != bb && ba != 1 && bb != 1))
    tp_fail(T, "matrix product of %s and %s: sizes do not match", tp_shape_str(a, sa, sizeof sa),
            tp_shape_str(b, sb, sizeof sb));
  p.batch = ba > bb ? ba : bb;
  p.sa = ba == 1 ? 0 : p.n * p.k;
  p.sb = bb == 1 ? 0 : p.k * p.m;
  return p;
}

static void matmul_bw(Tape *T, Record *r) {
  Tensor *a = r->in[0], *b = r->in[1];
  MM p = matmul_dims(T, a, b);
  matmul_backward(tp_grad(T, a), tp_grad(T, b), r->out->grad, a->data, b->data, &p);
}

Tensor *op_matmul(Tape *T, Tensor *a, Tensor *b) {
  MM p = matmul_dims(T, a, b);
  int64_t shape[3];
  int r = 0;
  if (a->rank == 3 || b->rank == 3) shape[r++] = p.batch;
  if (a->rank >= 2) shape[r++] = p.n;
  if (b->rank >= 2) shape[r++] = p.m;
  Tensor *out = tp_empty(T, r, shape);
  matmul_forward(out->data, a->data, b->data, &p);
  Tensor *in[2] = {a, b};
  tp_record(T, "matmul", matmul_bw, out, 2, in);
  return out;
}
