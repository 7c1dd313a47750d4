/* ops_elem.c — the tape's comparison and elementwise operators of issue 15: unary
 * functions with constants (sin, cos, the hard activations, the ELU family, rounding...),
 * comparisons, where, clamp, prelu and pow with a tensor exponent.
 *
 * Written from PyTorch 1.13's definitions, not from the compiler's composites: each
 * forward kernel computes the value as torch's CPU kernel does (libm's sinf, powf,
 * nearbyintf; hardtanh and clamp as min(max(x, lo), hi) with NaN kept), each backward
 * kernel is torch's derivative formula (hardtanh_backward, hardswish_backward,
 * elu_backward, clamp_backward_min_max, prelu_backward, pow_backward_self and
 * pow_backward_exponent), ADDING into the operands' gradients. Comparisons, sign,
 * floor, ceil and round record nothing: no gradient flows through them (torch's is
 * zero). A comparison gives a float 0/1 mask, as (a < b).float() in torch. The dtype
 * conversions (issue 16) record nothing either: an i32 tensor has no gradient. */
#include <math.h>
#include <string.h>
#include "tape_internal.h"

/* ---------------------------------------------------------------- unary */

/* The constants of an op (saved with its record). */
typedef struct {
  ElemOp op;
  float c[3];
} ElemArgs;

static inline float clampf_nan(float x, float lo, float hi) { return isnan(x) ? x : fminf(fmaxf(x, lo), hi); }

static float elem_forward1(const ElemArgs *a, float x) {
  const float *c = a->c;
  switch (a->op) {
  case E_SIN: return sinf(x);
  case E_COS: return cosf(x);
  case E_SQUARE: return x * x;
  case E_RSQRT: return 1.0f / sqrtf(x);
  case E_RECIPROCAL: return 1.0f / x;
  case E_ERF: return erff(x);
  case E_SIGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f; /* torch.sign(nan) is 0 */
  case E_FLOOR: return floorf(x);
  case E_CEIL: return ceilf(x);
  case E_ROUND: /* c[0]: decimals, c[1]: 10^|decimals| */
    if (c[0] == 0) return nearbyintf(x);
    return c[0] > 0 ? nearbyintf(x * c[1]) / c[1] : nearbyintf(x / c[1]) * c[1];
  case E_SOFTSIGN: return x / (1.0f + fabsf(x));
  case E_HARDTANH: return clampf_nan(x, c[0], c[1]);
  case E_HARDSIGMOID: return clampf_nan(x + 3.0f, 0.0f, 6.0f) / 6.0f;
  case E_HARDSWISH: return x * clampf_nan(x + 3.0f, 0.0f, 6.0f) / 6.0f;
  case E_ELU: /* c: negcoef (alpha scale), poscoef (scale), negiptcoef (input scale) */
    return x <= 0 ? (expf(x * c[2]) - 1.0f) * c[0] : x * c[1];
  }
  return x;
}

/* d out / d x at x (out the forward value), times g. */
static float elem_backward1(const ElemArgs *a, float x, float out, float g) {
  const float *c = a->c;
  switch (a->op) {
  case E_SIN: return g * cosf(x);
  case E_COS: return g * -sinf(x);
  case E_SQUARE: return g * 2.0f * x;
  case E_RSQRT: return -0.5f * g * out * out * out;
  case E_RECIPROCAL: return -g * out * out;
  case E_ERF: return g * 1.12837916709551257390f * expf(-x * x);
  case E_SOFTSIGN: return g / ((1.0f + fabsf(x)) * (1.0f + fabsf(x)));
  case E_HARDTANH: return x <= c[0] || x >= c[1] ? 0.0f : g;
  case E_HARDSIGMOID: return x > -3.0f && x < 3.0f ? g / 6.0f : 0.0f;
  case E_HARDSWISH: return x < -3.0f ? 0.0f : x <= 3.0f ? g * (x / 3.0f + 0.5f) : g;
  case E_ELU: return x <= 0 ? g * c[2] * c[0] * expf(x * c[2]) : g * c[1];
  case E_SIGN: case E_FLOOR: case E_CEIL: case E_ROUND: break; /* not recorded */
  }
  return 0.0f;
}

static bool elem_differentiable(ElemOp op) { return op != E_SIGN && op != E_FLOOR && op != E_CEIL && op != E_ROUND; }

static void elem_bw(Tape *T, Record *r) {
  const ElemArgs *a = r->saved;
  Tensor *x = r->in[0];
  float *dx = tp_grad(T, x);
  for (size_t i = 0; i < x->n; i++) dx[i] += elem_backward1(a, x->data[i], r->out->data[i], r->out->grad[i]);
}

static const char *const elem_names[] = {"sin", "cos", "square", "rsqrt", "reciprocal", "erf", "sign", "floor", "ceil",
                                         "round", "softsign", "hardtanh", "hardsigmoid", "hardswish", "elu"};

Tensor *op_elem(Tape *T, ElemOp op, Tensor *x, double c0, double c1, double c2) {
  ElemArgs a = {op, {(float)c0, (float)c1, (float)c2}};
  Tensor *out = tp_empty(T, x->rank, x->shape);
  for (size_t i = 0; i < x->n; i++) out->data[i] = elem_forward1(&a, x->data[i]);
  if (!elem_differentiable(op)) return out;
  Record *r = tp_record(T, elem_names[op], elem_bw, out, 1, &x);
  if (r) {
    r->saved = tp_malloc(T, sizeof a);
    memcpy(r->saved, &a, sizeof a);
  }
  return out;
}

/* ---------------------------------------------------------------- comparisons */

static float compare1(CompareOp op, float a, float b) {
  switch (op) {
  case C_LT: return a < b;
  case C_LE: return a <= b;
  case C_GT: return a > b;
  case C_GE: return a >= b;
  case C_EQ: return a == b;
  case C_NE: return a != b;
  }
  return 0;
}

Tensor *op_compare(Tape *T, CompareOp op, const char *what, Tensor *a, Tensor *b) {
  int64_t shape[TP_MAX_RANK];
  int r = tp_broadcast_shape(T, what, a, b, shape);
  Tensor *out = tp_empty(T, r, shape);
  BIter it;
  bi_init(&it, a, b, r, shape);
  for (size_t row = 0; row < it.rows; row++, bi_next(&it))
    for (size_t j = 0; j < it.inner; j++)
      out->data[row * it.inner + j] = compare1(op, a->data[it.ia + (int64_t)j * it.xa], b->data[it.ib + (int64_t)j * it.xb]);
  return out;
}

/* ---------------------------------------------------------------- pow(x, y) */

static void pow_tensor_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *y = r->in[1], *out = r->out;
  float *gx = tp_grad(T, x), *gy = tp_grad(T, y);
  BIter it;
  bi_init(&it, x, y, out->rank, out->shape);
  for (size_t row = 0; row < it.rows; row++, bi_next(&it))
    for (size_t j = 0; j < it.inner; j++) {
      int64_t ix = it.ia + (int64_t)j * it.xa, iy = it.ib + (int64_t)j * it.xb;
      float a = x->data[ix], b = y->data[iy], g = out->grad[row * it.inner + j], o = out->data[row * it.inner + j];
      if (gx) gx[ix] += b == 0 ? 0.0f : g * (b * powf(a, b - 1.0f));
      if (gy) gy[iy] += g * (a == 0 && b >= 0 ? 0.0f : o * logf(a));
    }
}

Tensor *op_pow_tensor(Tape *T, Tensor *x, Tensor *y) {
  int64_t shape[TP_MAX_RANK];
  int r = tp_broadcast_shape(T, "**", x, y, shape);
  Tensor *out = tp_empty(T, r, shape);
  BIter it;
  bi_init(&it, x, y, r, shape);
  for (size_t row = 0; row < it.rows; row++, bi_next(&it))
    for (size_t j = 0; j < it.inner; j++)
      out->data[row * it.inner + j] = powf(x->data[it.ia + (int64_t)j * it.xa], y->data[it.ib + (int64_t)j * it.xb]);
  Tensor *in[2] = {x, y};
  tp_record(T, "pow", pow_tensor_bw, out, 2, in);
  return out;
}

/* ---------------------------------------------------------------- three operands: where, clamp */

/* The broadcast shape of up to three tensors (NULL ones skipped) into shape; its rank. */
static int broadcast3(Tape *T, const char *what, Tensor *const *t, int64_t *shape) {
  Tensor acc = {.rank = 0};
  for (int i = 0; i < 3; i++) {
    if (!t[i]) continue;
    int64_t s[TP_MAX_RANK];
    acc.rank = tp_broadcast_shape(T, what, &acc, t[i], s);
    memcpy(acc.shape, s, sizeof s);
  }
  memcpy(shape, acc.shape, sizeof acc.shape);
  return acc.rank;
}

/* The offsets into each of three operands (NULL: 0) of every element of an output. */
typedef struct {
  int r;
  int64_t shape[TP_MAX_RANK], st[3][TP_MAX_RANK];
} Walk3;

static void walk3_init(Walk3 *w, Tensor *const *t, int r, const int64_t *shape) {
  memset(w, 0, sizeof *w);
  w->r = r;
  memcpy(w->shape, shape, sizeof(int64_t) * (size_t)r);
  for (int i = 0; i < 3; i++)
    if (t[i]) tp_bstrides(t[i], r, shape, w->st[i]);
}

static void walk3_at(const Walk3 *w, size_t lin, int64_t *off) {
  off[0] = off[1] = off[2] = 0;
  for (int d = w->r - 1; d >= 0; d--) {
    int64_t i = (int64_t)(lin % (size_t)w->shape[d]);
    lin /= (size_t)w->shape[d];
    for (int k = 0; k < 3; k++) off[k] += i * w->st[k][d];
  }
}

static void where_bw(Tape *T, Record *r) {
  Tensor *t[3] = {r->in[2], r->in[0], r->in[1]}, *out = r->out; /* condition, x, y */
  float *ga = tp_grad(T, t[1]), *gb = tp_grad(T, t[2]);
  Walk3 w;
  walk3_init(&w, t, out->rank, out->shape);
  for (size_t i = 0; i < out->n; i++) {
    int64_t off[3];
    walk3_at(&w, i, off);
    bool take = t[0]->data[off[0]] != 0;
    if (take && ga) ga[off[1]] += out->grad[i];
    if (!take && gb) gb[off[2]] += out->grad[i];
  }
}

/* torch.where(condition != 0, x, y): no gradient to the condition. */
Tensor *op_where(Tape *T, Tensor *c, Tensor *a, Tensor *b) {
  Tensor *t[3] = {c, a, b};
  int64_t shape[TP_MAX_RANK];
  int r = broadcast3(T, "where", t, shape);
  Tensor *out = tp_empty(T, r, shape);
  Walk3 w;
  walk3_init(&w, t, r, shape);
  for (size_t i = 0; i < out->n; i++) {
    int64_t off[3];
    walk3_at(&w, i, off);
    out->data[i] = c->data[off[0]] != 0 ? a->data[off[1]] : b->data[off[2]];
  }
  Tensor *in[2] = {a, b};
  Record *rec = tp_record(T, "where", where_bw, out, 2, in);
  if (rec) rec->in[2] = c; /* read, not differentiated */
  return out;
}

static inline float max_nan(float x, float y) { return x > y ? x : y >= x ? y : x + y; }
static inline float min_nan(float x, float y) { return x < y ? x : y <= x ? y : x + y; }

/* torch's clamp_backward_min_max: x where lo <= x <= hi; lo where x < lo < hi; hi
 * where x > hi or hi < lo (an absent bound: no condition from it). */
static void clamp_bw(Tape *T, Record *r) {
  Tensor *t[3] = {r->in[0], r->in[1], r->in[2]}, *out = r->out;
  float *g[3];
  for (int k = 0; k < 3; k++) g[k] = t[k] ? tp_grad(T, t[k]) : NULL;
  Walk3 w;
  walk3_init(&w, t, out->rank, out->shape);
  for (size_t i = 0; i < out->n; i++) {
    int64_t off[3];
    walk3_at(&w, i, off);
    float x = t[0]->data[off[0]], d = out->grad[i];
    bool has_lo = t[1] != NULL, has_hi = t[2] != NULL;
    float lo = has_lo ? t[1]->data[off[1]] : 0, hi = has_hi ? t[2]->data[off[2]] : 0;
    if (g[0] && (!has_lo || x >= lo) && (!has_hi || x <= hi)) g[0][off[0]] += d;
    if (g[1] && x < lo && (!has_hi || lo < hi)) g[1][off[1]] += d;
    if (g[2] && (x > hi || (has_lo && hi < lo))) g[2][off[2]] += d;
  }
}

Tensor *op_clamp(Tape *T, Tensor *x, Tensor *lo, Tensor *hi) {
  Tensor *t[3] = {x, lo, hi};
  int64_t shape[TP_MAX_RANK];
  int r = broadcast3(T, "clamp", t, shape);
  Tensor *out = tp_empty(T, r, shape);
  Walk3 w;
  walk3_init(&w, t, r, shape);
  for (size_t i = 0; i < out->n; i++) {
    int64_t off[3];
    walk3_at(&w, i, off);
    float v = x->data[off[0]];
    if (lo) v = max_nan(v, lo->data[off[1]]);
    if (hi) v = min_nan(v, hi->data[off[2]]);
    out->data[i] = v;
  }
  tp_record(T, "clamp", clamp_bw, out, 3, t);
  return out;
}

/* ---------------------------------------------------------------- prelu */

/* The channel of element i of x for a weight of nw elements (1: always 0). */
static size_t prelu_channel(const Tensor *x, size_t nw, size_t i) {
  if (nw == 1) return 0;
  size_t inner = 1;
  for (int d = 2; d < x->rank; d++) inner *= (size_t)x->shape[d];
  return (i / inner) % nw;
}

static void prelu_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1];
  float *gx = tp_grad(T, x), *gw = tp_grad(T, w);
  for (size_t i = 0; i < x->n; i++) {
    size_t c = prelu_channel(x, w->n, i);
    float v = x->data[i], g = r->out->grad[i];
    if (gx) gx[i] += v > 0 ? g : w->data[c] * g;
    if (gw && !(v > 0)) gw[c] += v * g;
  }
}

/* F.prelu: x > 0 ? x : w x, w of one element or one per channel (dimension 1). */
Tensor *op_prelu(Tape *T, Tensor *x, Tensor *w) {
  size_t ch = x->rank > 1 ? (size_t)x->shape[1] : 1;
  if (w->rank > 1 || (w->n != 1 && w->n != ch)) {
    char sx[128], sw[128];
    tp_fail(T, "prelu needs a weight of 1 element or one per channel (%zu, dimension 1 of x %s), got %s", ch,
            tp_shape_str(x, sx, sizeof sx), tp_shape_str(w, sw, sizeof sw));
  }
  Tensor *out = tp_empty(T, x->rank, x->shape);
  for (size_t i = 0; i < x->n; i++) {
    float v = x->data[i];
    out->data[i] = v > 0 ? v : w->data[prelu_channel(x, w->n, i)] * v;
  }
  Tensor *in[2] = {x, w};
  tp_record(T, "prelu", prelu_bw, out, 2, in);
  return out;
}

/* ---------------------------------------------------------------- dtype conversions (issue 16) */

Tensor *op_to_f32(Tape *T, Tensor *x) {
  Tensor *y = tp_empty(T, x->rank, x->shape);
  for (size_t i = 0; i < x->n; i++) y->data[i] = (float)x->idata[i];
  return y;
}

/* C's (int32_t) cast where it is defined; the ends of the range beyond, 0 for NaN. */
static int32_t to_i32(float v) {
  if (isnan(v)) return 0;
  if ((double)v >= 2147483647.0) return INT32_MAX;
  if ((double)v <= -2147483648.0) return INT32_MIN;
  return (int32_t)v;
}

Tensor *op_to_i32(Tape *T, Tensor *x) {
  Tensor *y = tp_empty_i32(T, x->rank, x->shape);
  for (size_t i = 0; i < x->n; i++) y->idata[i] = to_i32(x->data[i]);
  return y;
}
