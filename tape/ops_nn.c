/* ops_nn.c — the windowed operators: conv2d (with its bias, one op as torch's
 * convolution), max_pool2d and avg_pool2d. NCHW inputs, OIHW weights, zero padding,
 * floor output sizes (out = (in + 2 pad - k) / stride + 1), no dilation or groups.
 * conv2d is a direct loop nest; backward scatters dout into dx through the weights and
 * into dw through the inputs, and sums it into db. max_pool2d saves the index of each
 * window's first maximum (row-major, as torch) and backward sends the window's gradient
 * there; avg_pool2d's backward spreads dout / k^2 over the window.
 * Forward and backward kernels side by side; backward ADDS into its inputs' grads. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

typedef struct {
  int64_t N, C, H, W;   /* input */
  int64_t O, KH, KW;    /* output channels (pools: C), window */
  int64_t OH, OW;       /* output */
  int stride, pad;
} Win;

static void need4(Tape *T, const Tensor *x, const char *what) {
  char s[128];
  if (x->rank != 4) tp_fail(T, "%s needs a 4-D tensor (NCHW), got %s", what, tp_shape_str(x, s, sizeof s));
}

/* ---------------------------------------------------------------- conv2d */

static void conv2d_forward(float *out, const float *x, const float *w, const float *b, const Win *p) {
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t o = 0; o < p->O; o++)
      for (int64_t oh = 0; oh < p->OH; oh++)
        for (int64_t ow = 0; ow < p->OW; ow++) {
          float s = b ? b[o] : 0.0f;
          for (int64_t c = 0; c < p->C; c++)
            for (int64_t kh = 0; kh < p->KH; kh++) {
              int64_t ih = oh * p->stride - p->pad + kh;
              if (ih < 0 || ih >= p->H) continue;
              const float *xrow = x + ((n * p->C + c) * p->H + ih) * p->W;
              const float *wrow = w + ((o * p->C + c) * p->KH + kh) * p->KW;
              for (int64_t kw = 0; kw < p->KW; kw++) {
                int64_t iw = ow * p->stride - p->pad + kw;
                if (iw >= 0 && iw < p->W) s += xrow[iw] * wrow[kw];
              }
            }
          out[((n * p->O + o) * p->OH + oh) * p->OW + ow] = s;
        }
}
/* dx, dw, db may be NULL. */
static void conv2d_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                            const Win *p) {
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t o = 0; o < p->O; o++)
      for (int64_t oh = 0; oh < p->OH; oh++)
        for (int64_t ow = 0; ow < p->OW; ow++) {
          float g = dout[((n * p->O + o) * p->OH + oh) * p->OW + ow];
          if (db) db[o] += g;
          for (int64_t c = 0; c < p->C; c++)
            for (int64_t kh = 0; kh < p->KH; kh++) {
              int64_t ih = oh * p->stride - p->pad + kh;
              if (ih < 0 || ih >= p->H) continue;
              size_t xo = (size_t)(((n * p->C + c) * p->H + ih) * p->W);
              size_t wo = (size_t)(((o * p->C + c) * p->KH + kh) * p->KW);
              for (int64_t kw = 0; kw < p->KW; kw++) {
                int64_t iw = ow * p->stride - p->pad + kw;
                if (iw < 0 || iw >= p->W) continue;
                if (dx) dx[xo + (size_t)iw] += g * w[wo + (size_t)kw];
                if (dw) dw[wo + (size_t)kw] += g * x[xo + (size_t)iw];
              }
            }
        }
}

static Win conv_dims(Tape *T, const Tensor *x, const Tensor *w, int stride, int pad) {
  char a[128], b[128];
  need4(T, x, "conv2d input");
  need4(T, w, "conv2d weight");
  if (x->shape[1] != w->shape[1])
    tp_fail(T, "conv2d of input %s and weight %s: input has %lld channels, weight expects %lld",
            tp_shape_str(x, a, sizeof a), tp_shape_str(w, b, sizeof b), (long long)x->shape[1], (long long)w->shape[1]);
  Win p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3], 0, 0, stride, pad};
  if (p.H + 2 * pad < p.KH || p.W + 2 * pad < p.KW)
    tp_fail(T, "conv2d kernel %s is larger than the padded input %s", tp_shape_str(w, b, sizeof b),
            tp_shape_str(x, a, sizeof a));
  p.OH = (p.H + 2 * pad - p.KH) / stride + 1;
  p.OW = (p.W + 2 * pad - p.KW) / stride + 1;
  return p;
}

static void conv2d_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
  Win p = conv_dims(T, x, w, r->stride, r->pad);
  conv2d_backward(tp_grad(T, x), tp_grad(T, w), tp_grad(T, b), r->out->grad, x->data, w->data, &p);
}

Tensor *op_conv2d(Tape *T, Tensor *x, Tensor *w, Tensor *b, int stride, int pad) {
  Win p = conv_dims(T, x, w, stride, pad);
  if (b && (b->rank != 1 || b->shape[0] != p.O)) {
    char sw[128], sb[128];
    tp_fail(T, "conv2d bias must be [%lld] for weight %s, got %s", (long long)p.O, tp_shape_str(w, sw, sizeof sw),
            tp_shape_str(b, sb, sizeof sb));
  }
  int64_t shape[4] = {p.N, p.O, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  conv2d_forward(out->data, x->data, w->data, b ? b->data : NULL, &p);
  Tensor *in[3] = {x, w, b};
  Record *r = tp_record(T, "conv2d", conv2d_bw, out, 3, in);
  if (r) r->stride = stride, r->pad = pad;
  return out;
}

/* ---------------------------------------------------------------- pools */

static Win pool_dims(Tape *T, const Tensor *x, int k, int stride, const char *what) {
  char a[128];
  need4(T, x, what);
  if (k > x->shape[2] || k > x->shape[3])
    tp_fail(T, "%s window %d is larger than the input %s", what, k, tp_shape_str(x, a, sizeof a));
  Win p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], x->shape[1], k, k, 0, 0, stride, 0};
  p.OH = (p.H - k) / stride + 1;
  p.OW = (p.W - k) / stride + 1;
  return p;
}

/* idx: for each output, the flat input index of its window's first maximum. */
static void max_pool2d_forward(float *out, int32_t *idx, const float *x, const Win *p) {
  size_t o = 0;
  for (int64_t nc = 0; nc < p->N * p->C; nc++)
    for (int64_t oh = 0; oh < p->OH; oh++)
      for (int64_t ow = 0; ow < p->OW; ow++, o++) {
        float m = -INFINITY;
        int64_t best = (nc * p->H + oh * p->stride) * p->W + ow * p->stride;
        for (int64_t kh = 0; kh < p->KH; kh++)
          for (int64_t kw = 0; kw < p->KW; kw++) {
            int64_t i = (nc * p->H + oh * p->stride + kh) * p->W + ow * p->stride + kw;
            if (x[i] > m || isnan(x[i])) {
              m = x[i], best = i;
              if (isnan(m)) kh = p->KH, kw = p->KW;
            }
          }
        out[o] = m;
        idx[o] = (int32_t)best;
      }
}
static void max_pool2d_backward(float *dx, const float *dout, const int32_t *idx, size_t nout) {
  for (size_t o = 0; o < nout; o++) dx[idx[o]] += dout[o];
}
static void max_pool2d_bw(Tape *T, Record *r) {
  max_pool2d_backward(tp_grad(T, r->in[0]), r->out->grad, r->saved, r->out->n);
}
Tensor *op_max_pool2d(Tape *T, Tensor *x, int k, int stride) {
  Win p = pool_dims(T, x, k, stride, "max_pool2d");
  int64_t shape[4] = {p.N, p.C, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  Record *r = tp_record(T, "max_pool2d", max_pool2d_bw, out, 1, &x);
  int32_t *idx = tp_malloc(T, out->n * sizeof(int32_t)); /* the saved argmax */
  max_pool2d_forward(out->data, idx, x->data, &p);
  if (r) r->saved = idx;
  else free(idx);
  return out;
}

static void avg_pool2d_forward(float *out, const float *x, const Win *p) {
  size_t o = 0;
  float area = (float)(p->KH * p->KW);
  for (int64_t nc = 0; nc < p->N * p->C; nc++)
    for (int64_t oh = 0; oh < p->OH; oh++)
      for (int64_t ow = 0; ow < p->OW; ow++, o++) {
        float s = 0;
        for (int64_t kh = 0; kh < p->KH; kh++)
          for (int64_t kw = 0; kw < p->KW; kw++) s += x[(nc * p->H + oh * p->stride + kh) * p->W + ow * p->stride + kw];
        out[o] = s / area;
      }
}
static void avg_pool2d_backward(float *dx, const float *dout, const Win *p) {
  size_t o = 0;
  float area = (float)(p->KH * p->KW);
  for (int64_t nc = 0; nc < p->N * p->C; nc++)
    for (int64_t oh = 0; oh < p->OH; oh++)
      for (int64_t ow = 0; ow < p->OW; ow++, o++) {
        float g = dout[o] / area;
        for (int64_t kh = 0; kh < p->KH; kh++)
          for (int64_t kw = 0; kw < p->KW; kw++) dx[(nc * p->H + oh * p->stride + kh) * p->W + ow * p->stride + kw] += g;
      }
}
static void avg_pool2d_bw(Tape *T, Record *r) {
  Win p = pool_dims(T, r->in[0], r->k, r->stride, "avg_pool2d");
  avg_pool2d_backward(tp_grad(T, r->in[0]), r->out->grad, &p);
}
Tensor *op_avg_pool2d(Tape *T, Tensor *x, int k, int stride) {
  Win p = pool_dims(T, x, k, stride, "avg_pool2d");
  int64_t shape[4] = {p.N, p.C, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  avg_pool2d_forward(out->data, x->data, &p);
  Record *r = tp_record(T, "avg_pool2d", avg_pool2d_bw, out, 1, &x);
  if (r) r->k = k, r->stride = stride;
  return out;
}
