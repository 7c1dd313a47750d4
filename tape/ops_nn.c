/* ops_nn.c — the windowed operators: conv2d (with its bias, one op as torch's
 * convolution; stride, dilation, zero padding before/after, groups), conv_transpose2d,
 * max_pool2d and avg_pool2d (with padding). NCHW inputs, OIHW weights ([O, C/G, KH, KW];
 * conv_transpose2d's [Cin, Cout/G, KH, KW]), floor output sizes
 * (out = (in + lo + hi - d (k - 1) - 1) / stride + 1).
 * conv2d is a direct loop nest; backward scatters dout into dx through the weights and
 * into dw through the inputs, and sums it into db. conv_transpose2d scatters each input
 * element through the weights into the output (x[n,ci,i,j] w[ci,co,kh,kw] to
 * out[n, g Cout/G + co, i s - p + kh d, j s - p + kw d]); its backward gathers. max_pool2d
 * saves the index of each window's first maximum (row-major, as torch; padding never
 * wins) and backward sends the window's gradient there; avg_pool2d divides by the whole
 * window (padding counted, torch's count_include_pad) and its backward spreads dout / k^2.
 * Forward and backward kernels side by side; backward ADDS into its inputs' grads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tape_internal.h"

typedef struct {
  int64_t N, C, H, W;   /* input */
  int64_t O, KH, KW;    /* output channels (pools: C), window */
  int64_t OH, OW;       /* output */
  int64_t CG, OG;       /* channels per group: input, output */
  ConvArgs a;           /* pools: stride, lo = hi = padding, dil 1, groups 1 */
} Win;

static void need4(Tape *T, const Tensor *x, const char *what) {
  char s[128];
  if (x->rank != 4) tp_fail(T, "%s needs a 4-D tensor (NCHW), got %s", what, tp_shape_str(x, s, sizeof s));
}

/* The input row (i = 0) or column (i = 1) that window element k of output o reads. */
static int64_t src(const Win *p, int i, int64_t o, int64_t k) {
  return o * p->a.stride[i] - p->a.lo[i] + k * p->a.dil[i];
}

/* ---------------------------------------------------------------- conv2d */

static void conv2d_forward(float *out, const float *x, const float *w, const float *b, const Win *p) {
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t o = 0; o < p->O; o++)
      for (int64_t oh = 0; oh < p->OH; oh++)
        for (int64_t ow = 0; ow < p->OW; ow++) {
          float s = b ? b[o] : 0.0f;
          for (int64_t c = 0; c < p->CG; c++)
            for (int64_t kh = 0; kh < p->KH; kh++) {
              int64_t ih = src(p, 0, oh, kh);
              if (ih < 0 || ih >= p->H) continue;
              const float *xrow = x + ((n * p->C + o / p->OG * p->CG + c) * p->H + ih) * p->W;
              const float *wrow = w + ((o * p->CG + c) * p->KH + kh) * p->KW;
              for (int64_t kw = 0; kw < p->KW; kw++) {
                int64_t iw = src(p, 1, ow, kw);
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
          for (int64_t c = 0; c < p->CG; c++)
            for (int64_t kh = 0; kh < p->KH; kh++) {
              int64_t ih = src(p, 0, oh, kh);
              if (ih < 0 || ih >= p->H) continue;
              size_t xo = (size_t)(((n * p->C + o / p->OG * p->CG + c) * p->H + ih) * p->W);
              size_t wo = (size_t)(((o * p->CG + c) * p->KH + kh) * p->KW);
              for (int64_t kw = 0; kw < p->KW; kw++) {
                int64_t iw = src(p, 1, ow, kw);
                if (iw < 0 || iw >= p->W) continue;
                if (dx) dx[xo + (size_t)iw] += g * w[wo + (size_t)kw];
                if (dw) dw[wo + (size_t)kw] += g * x[xo + (size_t)iw];
              }
            }
        }
}

static Win conv_dims(Tape *T, const Tensor *x, const Tensor *w, const ConvArgs *a) {
  char s1[128], s2[128];
  need4(T, x, "conv2d input");
  need4(T, w, "conv2d weight");
  if (w->shape[0] % a->groups)
    tp_fail(T, "conv2d weight %s: %lld output channels do not split into %d groups", tp_shape_str(w, s2, sizeof s2),
            (long long)w->shape[0], a->groups);
  if (x->shape[1] != w->shape[1] * a->groups)
    tp_fail(T, "conv2d of input %s and weight %s: input has %lld channels, weight expects %lld (%lld x %d groups)",
            tp_shape_str(x, s1, sizeof s1), tp_shape_str(w, s2, sizeof s2), (long long)x->shape[1],
            (long long)(w->shape[1] * a->groups), (long long)w->shape[1], a->groups);
  Win p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3], 0, 0,
           w->shape[1], w->shape[0] / a->groups, *a};
  int64_t span_h = p.H + a->lo[0] + a->hi[0] - a->dil[0] * (p.KH - 1) - 1;
  int64_t span_w = p.W + a->lo[1] + a->hi[1] - a->dil[1] * (p.KW - 1) - 1;
  if (span_h < 0 || span_w < 0)
    tp_fail(T, "conv2d kernel %s (dilation %d) is larger than the padded input %s", tp_shape_str(w, s2, sizeof s2),
            span_h < 0 ? a->dil[0] : a->dil[1], tp_shape_str(x, s1, sizeof s1));
  p.OH = span_h / a->stride[0] + 1;
  p.OW = span_w / a->stride[1] + 1;
  return p;
}

static void check_bias(Tape *T, const Tensor *b, int64_t o, const Tensor *w, const char *what) {
  if (b && (b->rank != 1 || b->shape[0] != o)) {
    char sw[128], sb[128];
    tp_fail(T, "%s bias must be [%lld] for weight %s, got %s", what, (long long)o, tp_shape_str(w, sw, sizeof sw),
            tp_shape_str(b, sb, sizeof sb));
  }
}

static void conv2d_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
  const Win *p = r->saved;
  conv2d_backward(tp_grad(T, x), tp_grad(T, w), tp_grad(T, b), r->out->grad, x->data, w->data, p);
}

/* Saves the window parameters on the record (freed with it). */
static void save_win(Tape *T, Record *r, const Win *p) {
  if (!r) return;
  Win *s = tp_malloc(T, sizeof *s);
  *s = *p;
  r->saved = s;
}

Tensor *op_conv2d(Tape *T, Tensor *x, Tensor *w, Tensor *b, const ConvArgs *a) {
  Win p = conv_dims(T, x, w, a);
  check_bias(T, b, p.O, w, "conv2d");
  int64_t shape[4] = {p.N, p.O, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  conv2d_forward(out->data, x->data, w->data, b ? b->data : NULL, &p);
  Tensor *in[3] = {x, w, b};
  save_win(T, tp_record(T, "conv2d", conv2d_bw, out, 3, in), &p);
  return out;
}

/* ---------------------------------------------------------------- conv_transpose2d */

/* Here N, C, H, W are the input's (C = Cin), O, OH, OW the output's, CG = Cin/G,
 * OG = Cout/G. Forward when out is set; else backward into dx, dw (either may be NULL). */
static void convt_loops(const Win *p, const float *x, const float *w, float *out, const float *dout, float *dx,
                        float *dw) {
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t ci = 0; ci < p->C; ci++)
      for (int64_t i = 0; i < p->H; i++)
        for (int64_t j = 0; j < p->W; j++) {
          size_t xi = (size_t)(((n * p->C + ci) * p->H + i) * p->W + j);
          int64_t g = ci / p->CG;
          for (int64_t co = 0; co < p->OG; co++)
            for (int64_t kh = 0; kh < p->KH; kh++) {
              int64_t oh = src(p, 0, i, kh);
              if (oh < 0 || oh >= p->OH) continue;
              for (int64_t kw = 0; kw < p->KW; kw++) {
                int64_t ow = src(p, 1, j, kw);
                if (ow < 0 || ow >= p->OW) continue;
                size_t wi = (size_t)(((ci * p->OG + co) * p->KH + kh) * p->KW + kw);
                size_t oi = (size_t)(((n * p->O + g * p->OG + co) * p->OH + oh) * p->OW + ow);
                if (out) out[oi] += x[xi] * w[wi];
                if (dx) dx[xi] += dout[oi] * w[wi];
                if (dw) dw[wi] += dout[oi] * x[xi];
              }
            }
        }
}

static void convt_bw(Tape *T, Record *r) {
  Tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
  const Win *p = r->saved;
  convt_loops(p, x->data, w->data, NULL, r->out->grad, tp_grad(T, x), tp_grad(T, w));
  float *db = tp_grad(T, b);
  if (db)
    for (int64_t n = 0; n < p->N; n++)
      for (int64_t o = 0; o < p->O; o++)
        for (int64_t k = 0; k < p->OH * p->OW; k++) db[o] += r->out->grad[(n * p->O + o) * p->OH * p->OW + k];
}

Tensor *op_conv_transpose2d(Tape *T, Tensor *x, Tensor *w, Tensor *b, const ConvArgs *a) {
  char s1[128], s2[128];
  need4(T, x, "conv_transpose2d input");
  need4(T, w, "conv_transpose2d weight");
  if (x->shape[1] != w->shape[0] || x->shape[1] % a->groups)
    tp_fail(T, "conv_transpose2d of input %s and weight %s (Cin, Cout/groups, KH, KW): the input's %lld channels must "
            "be the weight's first dimension and a multiple of groups=%d", tp_shape_str(x, s1, sizeof s1),
            tp_shape_str(w, s2, sizeof s2), (long long)x->shape[1], a->groups);
  Win p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[1] * a->groups, w->shape[2], w->shape[3], 0, 0,
           x->shape[1] / a->groups, w->shape[1], *a};
  p.OH = (p.H - 1) * a->stride[0] - 2 * a->lo[0] + a->dil[0] * (p.KH - 1) + a->outpad[0] + 1;
  p.OW = (p.W - 1) * a->stride[1] - 2 * a->lo[1] + a->dil[1] * (p.KW - 1) + a->outpad[1] + 1;
  if (p.OH < 1 || p.OW < 1)
    tp_fail(T, "conv_transpose2d of input %s and weight %s: the padding leaves no output", tp_shape_str(x, s1, sizeof s1),
            tp_shape_str(w, s2, sizeof s2));
  check_bias(T, b, p.O, w, "conv_transpose2d");
  int64_t shape[4] = {p.N, p.O, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  memset(out->data, 0, out->n * sizeof(float));
  convt_loops(&p, x->data, w->data, out->data, NULL, NULL, NULL);
  if (b)
    for (size_t i = 0; i < out->n; i++) out->data[i] += b->data[i / (size_t)(p.OH * p.OW) % (size_t)p.O];
  Tensor *in[3] = {x, w, b};
  save_win(T, tp_record(T, "conv_transpose2d", convt_bw, out, 3, in), &p);
  return out;
}

/* ---------------------------------------------------------------- pools */

static Win pool_dims(Tape *T, const Tensor *x, const PoolArgs *k, const char *what) {
  char s[128];
  need4(T, x, what);
  Win p;
  memset(&p, 0, sizeof p);
  p.N = x->shape[0], p.C = p.O = x->shape[1], p.H = x->shape[2], p.W = x->shape[3], p.KH = k->k[0], p.KW = k->k[1];
  p.CG = p.OG = 1, p.a.groups = 1;
  for (int i = 0; i < 2; i++) p.a.stride[i] = k->stride[i], p.a.lo[i] = p.a.hi[i] = k->pad[i], p.a.dil[i] = 1;
  if (p.H + 2 * k->pad[0] < p.KH || p.W + 2 * k->pad[1] < p.KW)
    tp_fail(T, "%s window %dx%d is larger than the input %s with padding %d,%d", what, k->k[0], k->k[1],
            tp_shape_str(x, s, sizeof s), k->pad[0], k->pad[1]);
  p.OH = (p.H + 2 * k->pad[0] - p.KH) / k->stride[0] + 1;
  p.OW = (p.W + 2 * k->pad[1] - p.KW) / k->stride[1] + 1;
  return p;
}

/* idx: for each output, the flat input index of its window's first maximum among the
 * elements inside the input (a window always holds one: padding <= window / 2). */
static void max_pool2d_forward(float *out, int32_t *idx, const float *x, const Win *p) {
  size_t o = 0;
  for (int64_t nc = 0; nc < p->N * p->C; nc++)
    for (int64_t oh = 0; oh < p->OH; oh++)
      for (int64_t ow = 0; ow < p->OW; ow++, o++) {
        float m = -INFINITY;
        int64_t best = -1;
        for (int64_t kh = 0; kh < p->KH; kh++)
          for (int64_t kw = 0; kw < p->KW; kw++) {
            int64_t ih = src(p, 0, oh, kh), iw = src(p, 1, ow, kw);
            if (ih < 0 || iw < 0 || ih >= p->H || iw >= p->W) continue;
            int64_t i = (nc * p->H + ih) * p->W + iw;
            if (best < 0 || x[i] > m || isnan(x[i])) {
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
Tensor *op_max_pool2d(Tape *T, Tensor *x, const PoolArgs *k) {
  Win p = pool_dims(T, x, k, "max_pool2d");
  int64_t shape[4] = {p.N, p.C, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  Record *r = tp_record(T, "max_pool2d", max_pool2d_bw, out, 1, &x);
  int32_t *idx = tp_malloc(T, out->n * sizeof(int32_t)); /* the saved argmax */
  max_pool2d_forward(out->data, idx, x->data, &p);
  if (r) r->saved = idx;
  else free(idx);
  return out;
}

/* Both directions: forward sums the window into out, backward spreads dout over it. */
static void avg_pool2d_loops(float *out, const float *x, float *dx, const float *dout, const Win *p) {
  size_t o = 0;
  float area = (float)(p->KH * p->KW);
  for (int64_t nc = 0; nc < p->N * p->C; nc++)
    for (int64_t oh = 0; oh < p->OH; oh++)
      for (int64_t ow = 0; ow < p->OW; ow++, o++) {
        float s = 0, g = dx ? dout[o] / area : 0;
        for (int64_t kh = 0; kh < p->KH; kh++)
          for (int64_t kw = 0; kw < p->KW; kw++) {
            int64_t ih = src(p, 0, oh, kh), iw = src(p, 1, ow, kw);
            if (ih < 0 || iw < 0 || ih >= p->H || iw >= p->W) continue;
            if (dx) dx[(nc * p->H + ih) * p->W + iw] += g;
            else s += x[(nc * p->H + ih) * p->W + iw];
          }
        if (out) out[o] = s / area;
      }
}
static void avg_pool2d_bw(Tape *T, Record *r) {
  avg_pool2d_loops(NULL, NULL, tp_grad(T, r->in[0]), r->out->grad, r->saved);
}
Tensor *op_avg_pool2d(Tape *T, Tensor *x, const PoolArgs *k) {
  Win p = pool_dims(T, x, k, "avg_pool2d");
  int64_t shape[4] = {p.N, p.C, p.OH, p.OW};
  Tensor *out = tp_empty(T, 4, shape);
  avg_pool2d_loops(out->data, x->data, NULL, NULL, &p);
  save_win(T, tp_record(T, "avg_pool2d", avg_pool2d_bw, out, 1, &x), &p);
  return out;
}
