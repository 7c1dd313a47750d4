/* ops_nn2.c — ONNX's nn operators, part 2: Conv, ConvTranspose, MaxPool, AveragePool (1-D
 * and 2-D: a 1-D one runs as 2-D on an [N, C, 1, L] view) and Resize (nearest and linear,
 * as constant index tables and weights). Padding the language's operators do not take
 * (asymmetric, SAME, ceil mode, output_shape) goes through pad(); a pool's dilation through
 * strided slices. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops_nn.h"

/* The spatial attributes of a convolution or a pool, as 2-D (a 1-D one gets a leading
 * axis of size 1). */
typedef struct {
  int sp;             /* 1 or 2 spatial axes in the node */
  int64_t in[2], k[2], s[2], d[2], ek[2];
  int64_t pb[2], pe[2]; /* pads, begin and end */
} Win;

static void read_ints(OxNode *n, const char *name, int64_t *out, int sp, int64_t def) {
  int64_t v[3];
  for (int i = 0; i < 2; i++) out[i] = def;
  int c = ox_attr_ints(n, name, v, 3);
  if (c < 0) return;
  if (c != sp) ox_fail(n, "%s has %d values for %d spatial axes", name, c, sp);
  for (int i = 0; i < sp; i++) out[2 - sp + i] = v[i];
}

/* Reads kernel (kshape, or the kernel_shape attribute), strides, dilations and pads. */
static void win_read(OxNode *n, Win *w, const int64_t *kshape, int spatial) {
  OxValue *x = n->in[0];
  w->sp = spatial;
  if (spatial == 3) ox_fail(n, "3-D %s is not supported (1-D and 2-D only)", n->p->op_type);
  if (spatial < 1 || spatial > 2) ox_fail(n, "needs an input [N, C, D1] or [N, C, D1, D2], got rank %d", x->rank);
  for (int i = 0; i < 2; i++) w->in[i] = 1, w->k[i] = 1;
  for (int i = 0; i < spatial; i++) w->in[2 - spatial + i] = x->dims[2 + i];
  if (kshape)
    for (int i = 0; i < spatial; i++) w->k[2 - spatial + i] = kshape[i];
  else
    read_ints(n, "kernel_shape", w->k, spatial, 1);
  if (!kshape && !ox_attr(n, "kernel_shape")) ox_fail(n, "kernel_shape is required");
  read_ints(n, "strides", w->s, spatial, 1);
  read_ints(n, "dilations", w->d, spatial, 1);
  for (int i = 0; i < 2; i++) w->ek[i] = (w->k[i] - 1) * w->d[i] + 1;
  int64_t pads[4];
  nn_auto_pads(n, ox_attr_str(n, "auto_pad", "NOTSET"), spatial, w->in + 2 - spatial, w->ek + 2 - spatial, w->s + 2 - spatial, pads);
  w->pb[0] = w->pe[0] = 0;
  for (int i = 0; i < spatial; i++) w->pb[2 - spatial + i] = pads[i], w->pe[2 - spatial + i] = pads[spatial + i];
}

/* The input as 4-D: x itself, or unsqueeze(x, 2) for a 1-D operator. */
static const char *as4d(OxNode *n, int i, int sp) {
  if (sp == 2) return ox_f(n, i);
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = unsqueeze(%s, 2)", t, ox_f(n, i));
  return t;
}

/* Output 0 from a 4-D result (squeezed back for a 1-D operator). */
static void out4d(OxNode *n, const char *y, int sp) {
  if (sp == 2) ox_emit(n, "%s = %s", ox_out(n, 0), y);
  else ox_emit(n, "%s = squeeze(%s, 2)", ox_out(n, 0), y);
}

/* pad(x, ...) of a 4-D tensor by (begin, end) on H and W; value a constant. */
static const char *pad4d(OxNode *n, const char *x, const int64_t *b, const int64_t *e, double value) {
  if (!b[0] && !b[1] && !e[0] && !e[1]) return x;
  int64_t p[4] = {b[1], e[1], b[0], e[0]};
  const char *t = ox_tmp(n);
  if (value == 0) ox_emit(n, "%s = pad(%s, %s)", t, x, nn_list(p, 4));
  else ox_emit(n, "%s = pad(%s, %s, value=%s)", t, x, nn_list(p, 4), nn_num(value));
  return t;
}

/* Conv (1-D, 2-D): conv1d / conv2d with stride, dilation, groups and the bias; symmetric
 * padding is the operator's own, any other goes through pad() first. */
static void cv_conv(OxNode *n) {
  OxValue *x = n->in[0], *wt = n->in[1];
  int sp = x->rank - 2;
  Win w;
  win_read(n, &w, wt->rank == x->rank ? wt->dims + 2 : NULL, sp);
  int64_t g = ox_attr_int(n, "group", 1);
  bool sym = w.pb[0] == w.pe[0] && w.pb[1] == w.pe[1];
  const char *xs = ox_f(n, 0), *fn = sp == 1 ? "conv1d" : "conv2d";
  if (!sym) {
    if (sp == 1) {
      int64_t p[2] = {w.pb[1], w.pe[1]};
      const char *t = ox_tmp(n);
      ox_emit(n, "%s = pad(%s, %s)", t, xs, nn_list(p, 2));
      xs = t;
    } else {
      xs = pad4d(n, xs, w.pb, w.pe, 0);
    }
  }
  int64_t pad[2] = {sym ? w.pb[0] : 0, sym ? w.pb[1] : 0};
  const char *bias = ox_has(n, 2) ? nn_str(", %s", ox_f(n, 2)) : "";
  if (sp == 1)
    ox_emit(n, "%s = %s(%s, %s%s, stride=%lld, padding=%lld, dilation=%lld, groups=%lld)", ox_out(n, 0), fn, xs, ox_f(n, 1), bias,
            (long long)w.s[1], (long long)pad[1], (long long)w.d[1], (long long)g);
  else
    ox_emit(n, "%s = %s(%s, %s%s, stride=%s, padding=%s, dilation=%s, groups=%lld)", ox_out(n, 0), fn, xs, ox_f(n, 1), bias,
            nn_list(w.s, 2), nn_list(pad, 2), nn_list(w.d, 2), (long long)g);
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* ConvTranspose (1-D, 2-D): conv_transpose2d; pads that are not symmetric, an
 * output_padding not below the stride, output_shape or SAME: the full transposed
 * convolution cropped (negative pads) or extended with zeros by pad(), then the bias. */
static void cv_convtranspose(OxNode *n) {
  OxValue *x = n->in[0], *wt = n->in[1];
  int sp = x->rank - 2;
  if (sp == 3) ox_fail(n, "3-D ConvTranspose is not supported (1-D and 2-D only)");
  if (sp < 1 || sp > 2 || wt->rank != x->rank) ox_fail(n, "needs an input [N, C, D1] or [N, C, D1, D2] and a weight of its rank");
  Win w;
  const char *ap = ox_attr_str(n, "auto_pad", "NOTSET");
  bool same = !strncmp(ap, "SAME", 4);
  /* win_read's SAME pads are a convolution's: recomputed below */
  win_read(n, &w, wt->dims + 2, sp);
  int64_t op[2] = {0, 0}, os[2];
  read_ints(n, "output_padding", op, sp, 0);
  int64_t g = ox_attr_int(n, "group", 1);
  bool has_os = ox_attr(n, "output_shape") != NULL;
  if (has_os) {
    int64_t v[4];
    int c = ox_attr_ints(n, "output_shape", v, 4);
    if (c != sp && c != sp + 2) ox_fail(n, "output_shape has %d values for %d spatial axes", c, sp);
    os[0] = 1;
    for (int i = 0; i < sp; i++) os[2 - sp + i] = v[c - sp + i];
  }
  for (int i = 2 - sp; i < 2; i++) {
    int64_t full = w.s[i] * (w.in[i] - 1) + op[i] + w.ek[i];
    if (has_os || same) {
      int64_t target = has_os ? os[i] : w.in[i] * w.s[i];
      int64_t total = full - target;
      bool upper = !strcmp(ap, "SAME_UPPER");
      w.pb[i] = upper ? floordiv(total, 2) : total - floordiv(total, 2);
      w.pe[i] = total - w.pb[i];
    }
  }
  const char *xs = as4d(n, 0, sp), *ws = ox_f(n, 1);
  if (sp == 1) {
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = unsqueeze(%s, 2)", t, ws);
    ws = t;
  }
  bool native = w.pb[0] == w.pe[0] && w.pb[1] == w.pe[1] && w.pb[0] >= 0 && w.pb[1] >= 0;
  for (int i = 0; i < 2; i++) native &= op[i] < w.s[i];
  const char *y = ox_tmp(n);
  if (native) {
    ox_emit(n, "%s = conv_transpose2d(%s, %s%s, stride=%s, padding=%s, output_padding=%s, groups=%lld, dilation=%s)", y, xs, ws,
            ox_has(n, 2) ? nn_str(", %s", ox_f(n, 2)) : "", nn_list(w.s, 2), nn_list(w.pb, 2), nn_list(op, 2), (long long)g,
            nn_list(w.d, 2));
  } else {
    ox_emit(n, "%s = conv_transpose2d(%s, %s, stride=%s, groups=%lld, dilation=%s)", y, xs, ws, nn_list(w.s, 2), (long long)g,
            nn_list(w.d, 2));
    int64_t b[2] = {-w.pb[0], -w.pb[1]}, e[2] = {op[0] - w.pe[0], op[1] - w.pe[1]};
    y = pad4d(n, y, b, e, 0);
    if (ox_has(n, 2)) {
      const char *t = ox_tmp(n);
      ox_emit(n, "%s = %s + reshape(%s, [%lld, 1, 1])", t, y, ox_f(n, 2), (long long)n->in[2]->count);
      y = t;
    }
  }
  out4d(n, y, sp);
}

/* ---- pooling ---- */

/* Output size of a pool axis (floor, or ceil mode with PyTorch's and ONNX's rule that the
 * last window starts inside the input or its begin padding). */
static int64_t pool_out(const Win *w, int i, bool ceil_mode) {
  int64_t span = w->in[i] + w->pb[i] + w->pe[i] - w->ek[i];
  int64_t o = (ceil_mode ? (span + w->s[i] - 1) / w->s[i] : span / w->s[i]) + 1;
  if (ceil_mode && (o - 1) * w->s[i] >= w->in[i] + w->pb[i]) o--;
  return o;
}

/* How many taps of window o on axis i fall in [lo, hi) of the input's coordinates. */
static int64_t taps_in(const Win *w, int i, int64_t o, int64_t lo, int64_t hi) {
  int64_t c = 0;
  for (int64_t t = 0; t < w->k[i]; t++) {
    int64_t p = o * w->s[i] + t * w->d[i] - w->pb[i];
    c += p >= lo && p < hi;
  }
  return c;
}

/* Dilated windows as strided slices of the padded input xp, combined by maximum or sum,
 * one axis after the other (a window's max or sum is separable): kh + kw slices. */
static const char *pool_slices(OxNode *n, const char *xp, const Win *w, const int64_t *out, bool is_max) {
  const char *acc = xp;
  for (int ax = 1; ax >= 0; ax--) {
    const char *src = acc;
    acc = NULL;
    for (int64_t t = 0; t < w->k[ax]; t++) {
      int64_t a = t * w->d[ax];
      const char *item = nn_str("%lld:%lld:%lld", (long long)a, (long long)(a + (out[ax] - 1) * w->s[ax] + 1), (long long)w->s[ax]);
      const char *sl = nn_str("%s[:, :, %s, %s]", src, ax == 0 ? item : ":", ax == 1 ? item : ":");
      const char *r = ox_tmp(n);
      if (!acc) ox_emit(n, "%s = %s", r, sl);
      else if (is_max) ox_emit(n, "%s = maximum(%s, %s)", r, acc, sl);
      else ox_emit(n, "%s = %s + %s", r, acc, sl);
      acc = r;
    }
  }
  return acc;
}

/* MaxPool / AveragePool (1-D, 2-D). max_pool2d / avg_pool2d when their padding (symmetric,
 * at most half the window) fits; otherwise the input padded by pad() (-FLT_MAX for max,
 * which never wins: a window always holds an input element), ceil mode's extra end
 * padding included. The average divides by the count ONNX asks for (count_include_pad=0:
 * the input elements of the window) through a constant table of factors. Dilations: a
 * stride that is a multiple of the dilation pools the input subsampled by the dilation;
 * otherwise the windows are strided slices. */
static void pool(OxNode *n, bool is_max) {
  OxValue *x = n->in[0];
  int sp = x->rank - 2;
  Win w;
  win_read(n, &w, NULL, sp);
  if (n->nout > 1 && n->out[1]) ox_fail(n, "the Indices output is not supported");
  bool ceil_mode = ox_attr_int(n, "ceil_mode", 0) != 0, cip = !is_max && ox_attr_int(n, "count_include_pad", 0) != 0;
  int64_t out[2], extra[2], e[2];
  bool dil = w.d[0] != 1 || w.d[1] != 1, padded = false, sym = true, fits = true;
  for (int i = 0; i < 2; i++) {
    out[i] = pool_out(&w, i, ceil_mode);
    extra[i] = (out[i] - 1) * w.s[i] + w.ek[i] - (w.in[i] + w.pb[i] + w.pe[i]);
    if (extra[i] < 0) extra[i] = 0;
    e[i] = w.pe[i] + extra[i];
    padded |= w.pb[i] || e[i];
    sym &= w.pb[i] == e[i];
    fits &= 2 * w.pb[i] <= w.k[i];
  }
  const char *xs = as4d(n, 0, sp), *y = ox_tmp(n);
  bool native_pad = !dil && sym && fits && (is_max || cip) && !extra[0] && !extra[1];
  if (native_pad) {
    ox_emit(n, "%s = %s(%s, %s, stride=%s, padding=%s)", y, is_max ? "max_pool2d" : "avg_pool2d", xs, nn_list(w.k, 2), nn_list(w.s, 2),
            nn_list(w.pb, 2));
  } else {
    const char *xp = pad4d(n, xs, w.pb, e, is_max ? -FLT_MAX : 0);
    int64_t st[2] = {w.s[0], w.s[1]};
    if (dil && w.s[0] % w.d[0] == 0 && w.s[1] % w.d[1] == 0) {
      const char *t = ox_tmp(n);
      ox_emit(n, "%s = %s[:, :, ::%lld, ::%lld]", t, xp, (long long)w.d[0], (long long)w.d[1]);
      xp = t, st[0] /= w.d[0], st[1] /= w.d[1], dil = false;
    }
    if (dil) y = pool_slices(n, xp, &w, out, is_max);
    else ox_emit(n, "%s = %s(%s, %s, stride=%s)", y, is_max ? "max_pool2d" : "avg_pool2d", xp, nn_list(w.k, 2), nn_list(st, 2));
  }
  if (!is_max && (padded || dil || w.d[0] != 1 || w.d[1] != 1) && !native_pad) {
    /* factor = (what the pool divided by) / (the count ONNX divides by) */
    double area = dil ? 1 : (double)(w.k[0] * w.k[1]);
    double *f = malloc((size_t)(out[0] * out[1]) * sizeof *f);
    bool ones = true;
    for (int64_t i = 0; i < out[0]; i++)
      for (int64_t j = 0; j < out[1]; j++) {
        int64_t ch = cip ? taps_in(&w, 0, i, -w.pb[0], w.in[0] + w.pe[0]) : taps_in(&w, 0, i, 0, w.in[0]);
        int64_t cw = cip ? taps_in(&w, 1, j, -w.pb[1], w.in[1] + w.pe[1]) : taps_in(&w, 1, j, 0, w.in[1]);
        f[i * out[1] + j] = area / (double)(ch * cw);
        ones &= f[i * out[1] + j] == 1;
      }
    if (!ones) {
      const char *k = ox_const(n, "count", 2, out, f), *t = ox_tmp(n);
      ox_emit(n, "%s = %s * %s", t, y, k);
      y = t;
    }
    free(f);
  }
  out4d(n, y, sp);
}
static void cv_maxpool(OxNode *n) { pool(n, true); }
static void cv_avgpool(OxNode *n) { pool(n, false); }

const OxOp ox_ops_nn2[] = {
    {"Conv", cv_conv},
    {"ConvTranspose", cv_convtranspose},
    {"MaxPool", cv_maxpool},
    {"AveragePool", cv_avgpool},
    {NULL, NULL},
};
