/* ops_pointwise.c — elementwise operators: unary functions, leaky_relu, `**` with a
 * constant exponent, and the broadcasting binary operators + - * / maximum minimum.
 *
 * Each op has its forward kernel and its backward kernel side by side; backward kernels
 * ADD into the inputs' gradients. Semantics are torch 1.13's: relu'(0) = 0, abs'(0) = 0,
 * leaky_relu'(0) = slope, softplus returns x above 20, gelu is the exact erf form, and
 * maximum/minimum split a tie's gradient half and half. Broadcasting follows NumPy: a
 * binary op's backward accumulates through the operand's broadcast strides (0 along
 * broadcast dimensions), which reduces the gradient to the operand's shape.
 * Not here: reductions, shape ops, nn and loss ops (other ops_*.c). */
#include <math.h>
#include <string.h>
#include "tape_internal.h"

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* ---------------------------------------------------------------- unary */

static void unary_forward(UnaryOp op, float *out, const float *x, size_t n) {
  switch (op) {
  case U_NEG: for (size_t i = 0; i < n; i++) out[i] = -x[i]; break;
  case U_EXP: for (size_t i = 0; i < n; i++) out[i] = expf(x[i]); break;
  case U_LOG: for (size_t i = 0; i < n; i++) out[i] = logf(x[i]); break;
  case U_SQRT: for (size_t i = 0; i < n; i++) out[i] = sqrtf(x[i]); break;
  case U_ABS: for (size_t i = 0; i < n; i++) out[i] = fabsf(x[i]); break;
  case U_TANH: for (size_t i = 0; i < n; i++) out[i] = tanhf(x[i]); break;
  case U_SIGMOID: for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-x[i])); break;
  case U_RELU: for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0.0f; break;
  case U_GELU: for (size_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * SQRT1_2)); break;
  case U_SILU: for (size_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + expf(-x[i])); break;
  case U_SOFTPLUS: /* torch: beta 1, threshold 20 */
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
    break;
  }
}

static void unary_backward(UnaryOp op, float *dx, const float *dout, const float *x, const float *out, size_t n) {
  switch (op) {
  case U_NEG: for (size_t i = 0; i < n; i++) dx[i] -= dout[i]; break;
  case U_EXP: for (size_t i = 0; i < n; i++) dx[i] += dout[i] * out[i]; break;
  case U_LOG: for (size_t i = 0; i < n; i++) dx[i] += dout[i] / x[i]; break;
  case U_SQRT: for (size_t i = 0; i < n; i++) dx[i] += dout[i] / (2.0f * out[i]); break;
  case U_ABS:
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0 ? dout[i] : x[i] < 0 ? -dout[i] : 0.0f;
    break;
  case U_TANH: for (size_t i = 0; i < n; i++) dx[i] += dout[i] * (1.0f - out[i] * out[i]); break;
  case U_SIGMOID: for (size_t i = 0; i < n; i++) dx[i] += dout[i] * (1.0f - out[i]) * out[i]; break;
  case U_RELU: for (size_t i = 0; i < n; i++) dx[i] += out[i] > 0 ? dout[i] : 0.0f; break;
  case U_GELU:
    for (size_t i = 0; i < n; i++) {
      float cdf = 0.5f * (1.0f + erff(x[i] * SQRT1_2));
      float pdf = expf(-0.5f * x[i] * x[i]) * INV_SQRT_2PI;
      dx[i] += dout[i] * (cdf + x[i] * pdf);
    }
    break;
  case U_SILU: /* sigmoid(x) (1 + x (1 - sigmoid(x))) */
    for (size_t i = 0; i < n; i++) {
      float s = 1.0f / (1.0f + expf(-x[i]));
      dx[i] += dout[i] * s * (1.0f + x[i] * (1.0f - s));
    }
    break;
  case U_SOFTPLUS:
    for (size_t i = 0; i < n; i++) {
      float z = expf(x[i]);
      dx[i] += x[i] > 20.0f ? dout[i] : dout[i] * z / (z + 1.0f);
    }
    break;
  }
}

static void unary_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  unary_backward((UnaryOp)r->k, tp_grad(T, x), r->out->grad, x->data, r->out->data, x->n);
}

static const char *const unary_names[] = {"neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "gelu", "silu", "softplus"};

Tensor *op_unary(Tape *T, UnaryOp op, Tensor *x) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  unary_forward(op, out->data, x->data, x->n);
  Record *r = tp_record(T, unary_names[op], unary_bw, out, 1, &x);
  if (r) r->k = (int)op;
  return out;
}

/* ---------------------------------------------------------------- leaky_relu */

static void leaky_relu_forward(float *out, const float *x, size_t n, float slope) {
  for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : x[i] * slope;
}
static void leaky_relu_backward(float *dx, const float *dout, const float *x, size_t n, float slope) {
  for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0 ? dout[i] : dout[i] * slope;
}
static void leaky_relu_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  leaky_relu_backward(tp_grad(T, x), r->out->grad, x->data, x->n, (float)r->c);
}
Tensor *op_leaky_relu(Tape *T, Tensor *x, double slope) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  leaky_relu_forward(out->data, x->data, x->n, (float)slope);
  Record *r = tp_record(T, "leaky_relu", leaky_relu_bw, out, 1, &x);
  if (r) r->c = slope;
  return out;
}

/* ---------------------------------------------------------------- x ** c */

static void pow_forward(float *out, const float *x, size_t n, double e) {
  float ef = (float)e;
  if (e == 2) for (size_t i = 0; i < n; i++) out[i] = x[i] * x[i];
  else if (e == 3) for (size_t i = 0; i < n; i++) out[i] = x[i] * x[i] * x[i];
  else if (e == 0.5) for (size_t i = 0; i < n; i++) out[i] = sqrtf(x[i]);
  else if (e == -0.5) for (size_t i = 0; i < n; i++) out[i] = 1.0f / sqrtf(x[i]);
  else if (e == -1) for (size_t i = 0; i < n; i++) out[i] = 1.0f / x[i];
  else if (e == 1) memcpy(out, x, n * sizeof(float));
  else for (size_t i = 0; i < n; i++) out[i] = powf(x[i], ef);
}
/* torch's pow_backward: dout * e * x^(e-1), and 0 for e == 0. */
static void pow_backward(float *dx, const float *dout, const float *x, size_t n, double e) {
  if (e == 0) return;
  float ef = (float)e, em1 = (float)(e - 1);
  if (e == 2) for (size_t i = 0; i < n; i++) dx[i] += dout[i] * 2.0f * x[i];
  else if (e == 1) for (size_t i = 0; i < n; i++) dx[i] += dout[i];
  else for (size_t i = 0; i < n; i++) dx[i] += dout[i] * ef * powf(x[i], em1);
}
static void pow_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0];
  pow_backward(tp_grad(T, x), r->out->grad, x->data, x->n, r->c);
}
Tensor *op_pow(Tape *T, Tensor *x, double e) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  pow_forward(out->data, x->data, x->n, e);
  Record *r = tp_record(T, "pow", pow_bw, out, 1, &x);
  if (r) r->c = e;
  return out;
}

/* ---------------------------------------------------------------- broadcasting */

int tp_broadcast_shape(Tape *T, const char *what, const Tensor *a, const Tensor *b, int64_t *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[128], sb[128];
      tp_fail(T, "%s: shapes %s and %s cannot be broadcast together", what, tp_shape_str(a, sa, sizeof sa),
              tp_shape_str(b, sb, sizeof sb));
    }
    out[i] = da == 1 ? db : da;
  }
  return r;
}

void tp_bstrides(const Tensor *x, int r, const int64_t *oshape, int64_t *st) {
  int off = r - x->rank;
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--) {
    int j = i - off;
    if (j < 0 || x->shape[j] == 1 || oshape[i] == 1) {
      st[i] = 0;
    } else {
      st[i] = s;
    }
    if (j >= 0) s *= x->shape[j];
  }
}

void bi_init(BIter *it, const Tensor *a, const Tensor *b, int r, const int64_t *oshape) {
  memset(it, 0, sizeof *it);
  size_t n = tp_count(r, oshape);
  if ((a->n == n || a->n == 1) && (b->n == n || b->n == 1)) { /* same shape or a scalar: one row */
    it->r = 1, it->shape[0] = (int64_t)n;
    it->sa[0] = a->n == n && n > 1 ? 1 : 0;
    it->sb[0] = b->n == n && n > 1 ? 1 : 0;
  } else {
    it->r = r;
    memcpy(it->shape, oshape, sizeof(int64_t) * (size_t)r);
    tp_bstrides(a, r, oshape, it->sa);
    tp_bstrides(b, r, oshape, it->sb);
  }
  if (it->r == 0) it->r = 1, it->shape[0] = 1;
  it->inner = (size_t)it->shape[it->r - 1];
  it->xa = it->sa[it->r - 1];
  it->xb = it->sb[it->r - 1];
  it->rows = n / it->inner;
}

void bi_next(BIter *it) {
  for (int d = it->r - 2; d >= 0; d--) {
    it->ia += it->sa[d], it->ib += it->sb[d];
    if (++it->idx[d] < it->shape[d]) return;
    it->ia -= it->sa[d] * it->shape[d], it->ib -= it->sb[d] * it->shape[d];
    it->idx[d] = 0;
  }
}

/* ---------------------------------------------------------------- binary */

/* torch.maximum/minimum propagate NaN (fmaxf would drop it). */
static inline float max_nan(float x, float y) { return x > y ? x : y >= x ? y : x + y; }
static inline float min_nan(float x, float y) { return x < y ? x : y <= x ? y : x + y; }

static void binary_forward(BinaryOp op, float *out, const float *a, const float *b, BIter *it) {
  int64_t xa = it->xa, xb = it->xb;
  size_t m = it->inner;
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *pa = a + it->ia, *pb = b + it->ib;
    float *po = out + row * m;
    switch (op) {
    case B_ADD: for (size_t j = 0; j < m; j++) po[j] = pa[j * xa] + pb[j * xb]; break;
    case B_SUB: for (size_t j = 0; j < m; j++) po[j] = pa[j * xa] - pb[j * xb]; break;
    case B_MUL: for (size_t j = 0; j < m; j++) po[j] = pa[j * xa] * pb[j * xb]; break;
    case B_DIV: for (size_t j = 0; j < m; j++) po[j] = pa[j * xa] / pb[j * xb]; break;
    case B_MAXIMUM: for (size_t j = 0; j < m; j++) po[j] = max_nan(pa[j * xa], pb[j * xb]); break;
    case B_MINIMUM: for (size_t j = 0; j < m; j++) po[j] = min_nan(pa[j * xa], pb[j * xb]); break;
    }
  }
}

/* da, db may be NULL (that operand needs no gradient). maximum/minimum: the larger
 * (smaller) operand gets dout, a tie gives each half (torch). */
static void binary_backward(BinaryOp op, float *da, float *db, const float *dout, const float *a, const float *b,
                            BIter *it) {
  int64_t xa = it->xa, xb = it->xb;
  size_t m = it->inner;
  for (size_t row = 0; row < it->rows; row++, bi_next(it)) {
    const float *pa = a + it->ia, *pb = b + it->ib, *g = dout + row * m;
    float *ga = da ? da + it->ia : NULL, *gb = db ? db + it->ib : NULL;
    for (size_t j = 0; j < m; j++) {
      float x = pa[j * xa], y = pb[j * xb], d = g[j], fa = 0, fb = 0;
      switch (op) {
      case B_ADD: fa = d, fb = d; break;
      case B_SUB: fa = d, fb = -d; break;
      case B_MUL: fa = d * y, fb = d * x; break;
      case B_DIV: fa = d / y, fb = -d * x / (y * y); break;
      case B_MAXIMUM:
        fa = x > y ? d : x == y ? d / 2 : 0;
        fb = y > x ? d : x == y ? d / 2 : 0;
        break;
      case B_MINIMUM:
        fa = x < y ? d : x == y ? d / 2 : 0;
        fb = y < x ? d : x == y ? d / 2 : 0;
        break;
      }
      if (ga) ga[j * xa] += fa;
      if (gb) gb[j * xb] += fb;
    }
  }
}

static void binary_bw(Tape *T, Record *r) {
  Tensor *a = r->in[0], *b = r->in[1], *out = r->out;
  BIter it;
  bi_init(&it, a, b, out->rank, out->shape);
  binary_backward((BinaryOp)r->k, tp_grad(T, a), tp_grad(T, b), out->grad, a->data, b->data, &it);
}

static const char *const binary_names[] = {"add", "sub", "mul", "div", "maximum", "minimum"};

Tensor *op_binary(Tape *T, BinaryOp op, Tensor *a, Tensor *b) {
  int64_t shape[TP_MAX_RANK];
  int r = tp_broadcast_shape(T, binary_names[op], a, b, shape);
  Tensor *out = tp_empty(T, r, shape);
  BIter it;
  bi_init(&it, a, b, r, shape);
  binary_forward(op, out->data, a->data, b->data, &it);
  Tensor *in[2] = {a, b};
  Record *r_ = tp_record(T, binary_names[op], binary_bw, out, 2, in);
  if (r_) r_->k = (int)op;
  return out;
}
