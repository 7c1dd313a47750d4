/* ops_nn2.c — ONNX's nn operators, part 2: Conv, ConvTranspose, MaxPool, AveragePool (1-D
 * and 2-D: a 1-D one runs as 2-D on an [N, C, 1, L] view; 3-D pools as depth slices and a
 * 2-D pool) and Resize (nearest, linear, cubic, as constant interpolation matrices). Padding the language's operators do not take
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

/* Conv 3-D: the sum over the kernel's depth taps t of conv2d(x_t, w[:, :, t]), x_t the
 * input depths t·dilation + od·stride (od each output depth) as a batch [N·OD, C, H, W];
 * every padding goes through pad() first. */
static void conv3d(OxNode *n) {
  OxValue *x = n->in[0], *wt = n->in[1];
  if (wt->rank != 5) ox_fail(n, "a 3-D Conv needs a weight [O, C/group, KD, KH, KW]");
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, ek[3], pads[6], p[3], o[3];
  if (ox_attr_ints(n, "strides", s, 3) == 0 || ox_attr_ints(n, "dilations", d, 3) == 0) ox_fail(n, "strides and dilations need 3 values");
  for (int i = 0; i < 3; i++) ek[i] = (wt->dims[2 + i] - 1) * d[i] + 1;
  nn_auto_pads(n, ox_attr_str(n, "auto_pad", "NOTSET"), 3, x->dims + 2, ek, s, pads);
  for (int i = 0; i < 3; i++) p[i] = x->dims[2 + i] + pads[i] + pads[3 + i], o[i] = (p[i] - ek[i]) / s[i] + 1;
  const char *xp = ox_f(n, 0);
  if (pads[0] || pads[1] || pads[2] || pads[3] || pads[4] || pads[5]) {
    int64_t pl[6] = {pads[2], pads[5], pads[1], pads[4], pads[0], pads[3]};
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = pad(%s, %s)", t, xp, nn_list(pl, 6));
    xp = t;
  }
  int64_t N = x->dims[0], C = x->dims[1], O = wt->dims[0], g = ox_attr_int(n, "group", 1);
  int64_t v4[4] = {N * o[0], C, p[1], p[2]}, v5[5] = {N, o[0], O, o[1], o[2]}, hw[2] = {s[1], s[2]}, dhw[2] = {d[1], d[2]};
  const char *acc = NULL;
  for (int64_t t = 0; t < wt->dims[2]; t++) {
    int64_t a0 = t * d[0];
    const char *r = ox_tmp(n);
    ox_emit(n, "%s = conv2d(reshape(transpose(%s[:, :, %lld:%lld:%lld], perm=[0, 2, 1, 3, 4]), %s), %s[:, :, %lld], stride=%s, dilation=%s, groups=%lld)",
            r, xp, (long long)a0, (long long)(a0 + (o[0] - 1) * s[0] + 1), (long long)s[0], nn_list(v4, 4), ox_f(n, 1), (long long)t,
            nn_list(hw, 2), nn_list(dhw, 2), (long long)g);
    if (acc) {
      const char *sum = ox_tmp(n);
      ox_emit(n, "%s = %s + %s", sum, acc, r);
      r = sum;
    }
    acc = r;
  }
  const char *y = nn_str("transpose(reshape(%s, %s), perm=[0, 2, 1, 3, 4])", acc, nn_list(v5, 5));
  if (ox_has(n, 2)) ox_emit(n, "%s = %s + reshape(%s, [%lld, 1, 1, 1])", ox_out(n, 0), y, ox_f(n, 2), (long long)O);
  else ox_emit(n, "%s = %s", ox_out(n, 0), y);
}

/* Conv (1-D, 2-D; 3-D in conv3d): conv1d / conv2d with stride, dilation, groups and the bias; symmetric
 * padding is the operator's own, any other goes through pad() first. */
static void cv_conv(OxNode *n) {
  OxValue *x = n->in[0], *wt = n->in[1];
  int sp = x->rank - 2;
  if (sp == 3) {
    conv3d(n);
    return;
  }
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

/* A 2-D pool of the 4-D xs (out: its output size). max_pool2d / avg_pool2d when their padding (symmetric,
 * at most half the window) fits; otherwise the input padded by pad() (-FLT_MAX for max,
 * which never wins: a window always holds an input element), ceil mode's extra end
 * padding included. The average divides by the count ONNX asks for (count_include_pad=0:
 * the input elements of the window) through a constant table of factors. Dilations: a
 * stride that is a multiple of the dilation pools the input subsampled by the dilation;
 * otherwise the windows are strided slices. */
static const char *pool2d(OxNode *n, bool is_max, const char *xs, Win w, int64_t *out) {
  bool ceil_mode = ox_attr_int(n, "ceil_mode", 0) != 0, cip = !is_max && ox_attr_int(n, "count_include_pad", 0) != 0;
  int64_t extra[2], e[2];
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
  const char *y = ox_tmp(n);
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
  return y;
}

/* 3-D pools: the depth axis by strided slices of the input (padded by pad()), combined
 * by maximum or sum; then H and W as a 2-D pool of the [N, C·OD, H, W] view. Dilation and
 * ceil mode on 3-D pools are refused. */
static void pool3d(OxNode *n, bool is_max) {
  OxValue *x = n->in[0];
  int64_t k[3], s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pads[6];
  if (ox_attr_ints(n, "kernel_shape", k, 3) != 3) ox_fail(n, "kernel_shape must have 3 values");
  if (ox_attr_ints(n, "strides", s, 3) == 0) ox_fail(n, "strides must have 3 values");
  ox_attr_ints(n, "dilations", d, 3);
  if (d[0] != 1 || d[1] != 1 || d[2] != 1 || ox_attr_int(n, "ceil_mode", 0)) ox_fail(n, "3-D pooling with dilations or ceil_mode is not supported");
  int64_t ek[3] = {k[0], k[1], k[2]};
  nn_auto_pads(n, ox_attr_str(n, "auto_pad", "NOTSET"), 3, x->dims + 2, ek, s, pads);
  int64_t D = x->dims[2], od = (D + pads[0] + pads[3] - k[0]) / s[0] + 1;
  const char *xp = ox_f(n, 0);
  if (pads[0] || pads[3]) {
    int64_t p[6] = {0, 0, 0, 0, pads[0], pads[3]};
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = pad(%s, %s, value=%s)", t, xp, nn_list(p, 6), nn_num(is_max ? -FLT_MAX : 0));
    xp = t;
  }
  const char *acc = NULL;
  for (int64_t t = 0; t < k[0]; t++) {
    const char *r = ox_tmp(n), *sl = nn_str("%s[:, :, %lld:%lld:%lld]", xp, (long long)t, (long long)(t + (od - 1) * s[0] + 1), (long long)s[0]);
    if (!acc) ox_emit(n, "%s = %s", r, sl);
    else ox_emit(n, is_max ? "%s = maximum(%s, %s)" : "%s = %s + %s", r, acc, sl);
    acc = r;
  }
  int64_t v4[4] = {x->dims[0], x->dims[1] * od, x->dims[3], x->dims[4]}, out[2];
  const char *t4 = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", t4, acc, nn_list(v4, 4));
  Win w = {.sp = 2, .in = {x->dims[3], x->dims[4]}, .k = {k[1], k[2]}, .s = {s[1], s[2]}, .d = {1, 1}, .ek = {k[1], k[2]},
           .pb = {pads[1], pads[2]}, .pe = {pads[4], pads[5]}};
  const char *y = pool2d(n, is_max, t4, w, out);
  int64_t v5[5] = {x->dims[0], x->dims[1], od, out[0], out[1]};
  if (is_max) {
    ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), y, nn_list(v5, 5));
    return;
  }
  bool cip = ox_attr_int(n, "count_include_pad", 0) != 0;
  double f[4096];
  if (od > 4096) ox_fail(n, "more than 4096 output depths");
  for (int64_t o = 0; o < od; o++) {
    int64_t c = 0;
    for (int64_t t = 0; t < k[0]; t++) {
      int64_t p = o * s[0] + t - pads[0];
      c += cip ? p >= -pads[0] && p < D + pads[3] : p >= 0 && p < D;
    }
    f[o] = 1.0 / (double)c;
  }
  int64_t fd[3] = {od, 1, 1};
  ox_emit(n, "%s = reshape(%s, %s) * %s", ox_out(n, 0), y, nn_list(v5, 5), ox_const(n, "depth_count", 3, fd, f));
}

/* MaxPool's Indices output (2-D): each window's taps as strided slices of the input padded
 * with -FLT_MAX, the first maximum in row-major order kept with where(), its flat index in
 * the input (row-major, or column-major within each plane for storage_order=1) taken from
 * constant tables; an ONNX int64 held in f32 (exact below 2^24). */
static void pool_indices(OxNode *n, const char *xs, const Win *w, const int64_t *out) {
  OxValue *x = n->in[0];
  int64_t N = x->dims[0], C = x->dims[1], H = w->in[0], W = w->in[1], e[2];
  if (x->count >= (1 << 24)) ox_fail(n, "the Indices output of an input of 2^24 elements or more is not supported");
  bool cm = ox_attr_int(n, "storage_order", 0) != 0;
  for (int i = 0; i < 2; i++) {
    int64_t extra = (out[i] - 1) * w->s[i] + w->ek[i] - (w->in[i] + w->pb[i] + w->pe[i]);
    e[i] = w->pe[i] + (extra > 0 ? extra : 0);
  }
  const char *xp = pad4d(n, xs, w->pb, e, -FLT_MAX), *best = NULL, *bi = NULL;
  double *pos = malloc((size_t)(out[0] * out[1]) * sizeof *pos), *base = malloc((size_t)(N * C) * sizeof *base);
  for (int64_t i = 0; i < w->k[0]; i++)
    for (int64_t j = 0; j < w->k[1]; j++) {
      for (int64_t a = 0; a < out[0]; a++)
        for (int64_t b = 0; b < out[1]; b++) {
          int64_t h = a * w->s[0] + i * w->d[0] - w->pb[0], v = b * w->s[1] + j * w->d[1] - w->pb[1];
          pos[a * out[1] + b] = h < 0 || h >= H || v < 0 || v >= W ? 0 : (double)(cm ? v * H + h : h * W + v);
        }
      int64_t h0 = i * w->d[0], w0 = j * w->d[1];
      const char *sl = nn_str("%s[:, :, %lld:%lld:%lld, %lld:%lld:%lld]", xp, (long long)h0, (long long)(h0 + (out[0] - 1) * w->s[0] + 1),
                              (long long)w->s[0], (long long)w0, (long long)(w0 + (out[1] - 1) * w->s[1] + 1), (long long)w->s[1]);
      const char *tab = ox_const(n, nn_str("tap%lld_%lld", (long long)i, (long long)j), 2, out, pos), *nb = ox_tmp(n), *ni = ox_tmp(n);
      if (!best) {
        ox_emit(n, "%s = %s", nb, sl);
        ox_emit(n, "%s = %s", ni, tab);
      } else {
        const char *m = ox_tmp(n);
        ox_emit(n, "%s = %s > %s", m, sl, best);
        ox_emit(n, "%s = where(%s, %s, %s)", nb, m, sl, best);
        ox_emit(n, "%s = where(%s, %s, %s)", ni, m, tab, bi);
      }
      best = nb, bi = ni;
    }
  for (int64_t k = 0; k < N * C; k++) base[k] = (double)(k * H * W);
  int64_t bd[4] = {N, C, 1, 1};
  ox_emit(n, "%s = %s + %s", ox_out(n, 1), bi, ox_const(n, "plane", 4, bd, base));
  n->out_type[1] = OX_T_INT64;
  free(pos), free(base);
}

/* MaxPool / AveragePool: 1-D and 2-D through pool2d, 3-D through pool3d. */
static void pool(OxNode *n, bool is_max) {
  OxValue *x = n->in[0];
  int sp = x->rank - 2;
  bool indices = n->nout > 1 && n->out[1];
  if (indices && (!is_max || sp != 2)) ox_fail(n, "the Indices output is supported for 2-D MaxPool only");
  if (sp == 3) {
    pool3d(n, is_max);
    return;
  }
  Win w;
  win_read(n, &w, NULL, sp);
  int64_t out[2];
  const char *xs = as4d(n, 0, sp);
  out4d(n, pool2d(n, is_max, xs, w, out), sp);
  if (indices) pool_indices(n, xs, &w, out);
}
static void cv_maxpool(OxNode *n) { pool(n, true); }
static void cv_avgpool(OxNode *n) { pool(n, false); }

/* ---- Resize ---- */

typedef struct {
  int mode;              /* 0 nearest, 1 linear, 2 cubic */
  const char *ctm, *nm;  /* coordinate_transformation_mode, nearest_mode */
  double a, ext;         /* cubic_coeff_a, extrapolation_value */
  bool exclude;          /* exclude_outside */
} Rz;

/* The source coordinate of output index o on an axis of L elements resized to O (scale as
 * ONNX's reference computes it: the given scale, or O / L for sizes). */
static double rz_coord(OxNode *n, const Rz *z, int64_t o, int64_t L, double scale, const double *roi) {
  double x = (double)o, ow = scale * (double)L;
  if (!strcmp(z->ctm, "half_pixel")) return (x + 0.5) / scale - 0.5;
  if (!strcmp(z->ctm, "pytorch_half_pixel")) return ow == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  if (!strcmp(z->ctm, "align_corners")) return ow == 1 ? 0 : x * (double)(L - 1) / (ow - 1);
  if (!strcmp(z->ctm, "asymmetric")) return x / scale;
  if (!strcmp(z->ctm, "tf_half_pixel_for_nn")) return (x + 0.5) / scale;
  if (!strcmp(z->ctm, "tf_crop_and_resize"))
    return (ow == 1 ? (roi[1] - roi[0]) * (double)(L - 1) / 2 : x * (roi[1] - roi[0]) * (double)(L - 1) / (ow - 1)) + roi[0] * (double)(L - 1);
  ox_fail(n, "coordinate_transformation_mode '%s' is not supported", z->ctm);
}

/* The weights of the points base-1 .. base+2 (cubic) or base, base+1 for a ratio in (0, 1]. */
static int rz_coeffs(OxNode *n, const Rz *z, double r, double *c) {
  if (z->mode == 2) {
    double A = z->a, s = 1 - r;
    c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
    c[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
    return 4;
  }
  if (z->mode == 1) c[0] = 1 - r, c[1] = r;
  else if (r == 1 || !strcmp(z->nm, "ceil")) c[0] = 0, c[1] = 1;
  else if (!strcmp(z->nm, "round_prefer_floor")) c[0] = r <= 0.5, c[1] = r > 0.5;
  else if (!strcmp(z->nm, "round_prefer_ceil")) c[0] = r < 0.5, c[1] = r >= 0.5;
  else if (!strcmp(z->nm, "floor")) c[0] = 1, c[1] = 0;
  else ox_fail(n, "nearest_mode '%s' is not supported", z->nm);
  return 2;
}

/* The [O, L] interpolation matrix of one axis, as ONNX's reference interpolates (points
 * outside the axis take the edge value; exclude_outside drops them); bias[o] is the
 * extrapolation value of tf_crop_and_resize's rows outside the input. Returns whether the
 * axis is unchanged (the identity). */
static bool rz_matrix(OxNode *n, const Rz *z, int64_t L, int64_t O, double scale, const double *roi, double *M, double *bias) {
  memset(M, 0, (size_t)(O * L) * sizeof *M);
  for (int64_t o = 0; o < O; o++) {
    double x = rz_coord(n, z, o, L, scale, roi), c[4];
    bias[o] = 0;
    if (!strcmp(z->ctm, "tf_crop_and_resize") && (x < 0 || x > (double)(L - 1))) {
      bias[o] = z->ext;
      continue;
    }
    int64_t base = (int64_t)ceil(x) - 1;
    int k = rz_coeffs(n, z, x - (double)base, c);
    int64_t first = k == 4 ? base - 1 : base;
    if (z->exclude) {
      double sum = 0;
      for (int j = 0; j < k; j++) {
        if (first + j < 0 || first + j >= L) c[j] = 0;
        sum += c[j];
      }
      for (int j = 0; j < k; j++) c[j] /= sum;
    }
    for (int j = 0; j < k; j++) {
      int64_t i = first + j < 0 ? 0 : first + j >= L ? L - 1 : first + j;
      M[o * L + i] += c[j];
    }
  }
  bool ident = O == L;
  for (int64_t o = 0; ident && o < O; o++)
    for (int64_t l = 0; ident && l < L; l++) ident = M[o * L + l] == (o == l) && bias[o] == 0;
  return ident;
}

/* One axis of a Resize: the tensor viewed as [pre, L, post] and multiplied by the axis's
 * constant matrix (on the left; on the right, transposed, for the last axis). */
static const char *rz_apply(OxNode *n, const char *x, int64_t *cur, int rank, int a, int64_t O, const double *M, const double *bias,
                            bool has_bias) {
  int64_t L = cur[a], pre = 1, post = 1;
  for (int d = 0; d < a; d++) pre *= cur[d];
  for (int d = a + 1; d < rank; d++) post *= cur[d];
  const char *t = ox_tmp(n), *y = ox_tmp(n);
  if (post == 1) {
    double *K = malloc((size_t)(O * L) * sizeof *K);
    for (int64_t o = 0; o < O; o++)
      for (int64_t l = 0; l < L; l++) K[l * O + o] = M[o * L + l];
    int64_t kd[2] = {L, O}, v[2] = {pre, L};
    ox_emit(n, "%s = reshape(%s, %s) @ %s", t, x, nn_list(v, 2), ox_const(n, nn_str("resize%d", a), 2, kd, K));
    free(K);
  } else {
    int64_t md[2] = {O, L}, v[3] = {pre, L, post};
    ox_emit(n, "%s = %s @ reshape(%s, %s)", t, ox_const(n, nn_str("resize%d", a), 2, md, M), x, nn_list(pre == 1 ? v + 1 : v, pre == 1 ? 2 : 3));
  }
  if (has_bias) {
    int64_t bd[2] = {O, 1};
    const char *tb = ox_tmp(n);
    ox_emit(n, "%s = %s + %s", tb, t, ox_const(n, nn_str("extrapolation%d", a), post == 1 ? 1 : 2, bd, bias));
    t = tb;
  }
  cur[a] = O;
  ox_emit(n, "%s = reshape(%s, %s)", y, t, nn_list(cur, rank));
  return y;
}

/* Resize (opset 10 to 13; Upsample's semantics at 10: asymmetric, floor): nearest, linear
 * and cubic are each linear in the input and separable, so each resized axis (the last
 * first, as the reference nests them) is a product with a constant [O, L] matrix built
 * here from the scales or sizes, which must be known at import time. (A NaN or an
 * infinity in the input spreads through the zero weights of its row.) */
static void cv_resize(OxNode *n) {
  OxValue *x = n->in[0];
  int r = x->rank;
  const char *mode = ox_attr_str(n, "mode", "nearest");
  Rz z = {.mode = !strcmp(mode, "nearest") ? 0 : !strcmp(mode, "linear") ? 1 : !strcmp(mode, "cubic") ? 2 : -1,
          .ctm = n->opset < 11 ? "asymmetric" : ox_attr_str(n, "coordinate_transformation_mode", "half_pixel"),
          .nm = n->opset < 11 ? "floor" : ox_attr_str(n, "nearest_mode", "round_prefer_floor"),
          .a = ox_attr_float(n, "cubic_coeff_a", -0.75), .ext = ox_attr_float(n, "extrapolation_value", 0),
          .exclude = ox_attr_int(n, "exclude_outside", 0) != 0};
  if (z.mode < 0) ox_fail(n, "mode '%s' is not supported (nearest, linear, cubic)", mode);
  if (r < 1) ox_fail(n, "needs an input of rank 1 or more");
  double scale[OX_MAX_RANK], roi[2 * OX_MAX_RANK] = {0};
  int64_t out[OX_MAX_RANK], cur[OX_MAX_RANK];
  int si = n->opset < 11 ? 1 : 2;
  if (ox_has(n, 3)) {
    int64_t c = ox_need_ints(n, 3, "sizes", out, OX_MAX_RANK);
    if (c != r) ox_fail(n, "sizes has %lld values for an input of rank %d", (long long)c, r);
    for (int d = 0; d < r; d++) scale[d] = (double)out[d] / (double)x->dims[d];
  } else {
    if (!ox_has(n, si)) ox_fail(n, "needs scales or sizes");
    int64_t c = ox_need_const(n, si, "scales", scale, OX_MAX_RANK);
    if (c != r) ox_fail(n, "scales has %lld values for an input of rank %d", (long long)c, r);
    for (int d = 0; d < r; d++) out[d] = (int64_t)floor(scale[d] * (double)x->dims[d]);
  }
  if (!strcmp(z.ctm, "tf_crop_and_resize") && ox_need_const(n, 1, "roi", roi, 2 * OX_MAX_RANK) != 2 * r)
    ox_fail(n, "roi must have 2 values per axis");
  memcpy(cur, x->dims, (size_t)r * sizeof *cur);
  const char *y = ox_f(n, 0);
  for (int a = r - 1; a >= 0; a--) {
    if (out[a] < 1) ox_fail(n, "axis %d would be resized to %lld elements", a, (long long)out[a]);
    double *M = malloc((size_t)(out[a] * x->dims[a]) * sizeof *M), *bias = malloc((size_t)out[a] * sizeof *bias);
    double ax_roi[2] = {roi[a], roi[r + a]};
    if (!rz_matrix(n, &z, x->dims[a], out[a], scale[a], ax_roi, M, bias)) {
      bool has_bias = false;
      for (int64_t o = 0; o < out[a]; o++) has_bias |= bias[o] != 0;
      y = rz_apply(n, y, cur, r, a, out[a], M, bias, has_bias);
    }
    free(M), free(bias);
  }
  ox_emit(n, "%s = %s", ox_out(n, 0), y);
}

const OxOp ox_ops_nn2[] = {
    {"Conv", cv_conv, 2},
    {"ConvTranspose", cv_convtranspose, 2},
    {"MaxPool", cv_maxpool, 1},
    {"AveragePool", cv_avgpool, 1},
    {"Resize", cv_resize, 1},
    {NULL, NULL, 0},
};
