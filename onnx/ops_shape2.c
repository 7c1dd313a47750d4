/* ops_shape2.c — ONNX's indexing and rearranging operators, decomposed into the
 * language's: Gather (an embedding of the axis moved first), GatherElements (gather),
 * Pad (indexing to crop, pad), DepthToSpace and SpaceToDepth (reshape, transpose,
 * reshape), Trilu (triu/tril), OneHot (one_hot, moved to its axis) and CumSum (a matrix
 * product with a constant triangular matrix). The other shape operators: ops_shape.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"

static void need_input(OxNode *n, int i) {
  if (!ox_has(n, i)) ox_fail(n, "input %d is required", i);
}

/* t = transpose(e, perm), or e itself for the identity; returns the name. */
static const char *permute(OxNode *n, const char *e, const int64_t *perm, int rank, const char *to) {
  bool identity = true;
  for (int d = 0; d < rank; d++) identity &= perm[d] == d;
  const char *t = to ? to : ox_tmp(n);
  if (identity) {
    if (!to) return e;
    ox_emit(n, "%s = %s", t, e);
  } else ox_emit(n, "%s = transpose(%s, perm=%s)", t, e, ox_list(n, perm, rank));
  return t;
}

/* Input i, integer indices into an axis of size A, as an i32 expression of shape `rank`
 * (a rank-0 index becomes [1]): a negative index counts from the end (index + A), for
 * indices known now as a constant table, else computed. */
static const char *indices(OxNode *n, int i, int64_t A, bool trunc) {
  need_input(n, i);
  const OxValue *v = n->in[i];
  if (v->k) {
    double *k = malloc((size_t)(v->count ? v->count : 1) * sizeof *k);
    if (!k) ox_fail(n, "out of memory");
    for (int64_t j = 0; j < v->count; j++) {
      double x = trunc ? (double)(int64_t)v->k[j] : v->k[j];
      k[j] = x < 0 ? x + (double)A : x;
    }
    int64_t one = 1;
    const char *c = v->rank ? ox_const(n, "idx", v->rank, v->dims, k) : ox_const(n, "idx", 1, &one, k);
    free(k);
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = int(%s)", t, c);
    return t;
  }
  const char *f = ox_f(n, i), *g = ox_tmp(n);
  if (trunc && !v->i32) ox_emit(n, "%s = float(int(%s))", g, f);
  else ox_emit(n, "%s = %s", g, f);
  const char *t = ox_tmp(n);
  if (v->rank) ox_emit(n, "%s = int(%s + (%s < 0) * %lld)", t, g, g, (long long)A);
  else ox_emit(n, "%s = int(reshape(%s + (%s < 0) * %lld, [1]))", t, g, g, (long long)A);
  return t;
}

/* Gather of known data at known indices (shape arithmetic: a Shape's element), taken now. */
static void gather_known(OxNode *n, const OxValue *x, const OxValue *q, int a) {
  int64_t A = x->dims[a], pre = 1, post = 1, dims[OX_MAX_RANK];
  for (int d = 0; d < a; d++) pre *= x->dims[d];
  for (int d = a + 1; d < x->rank; d++) post *= x->dims[d];
  int r = 0;
  for (int d = 0; d < a; d++) dims[r++] = x->dims[d];
  for (int d = 0; d < q->rank; d++) dims[r++] = q->dims[d];
  for (int d = a + 1; d < x->rank; d++) dims[r++] = x->dims[d];
  double *v = malloc((size_t)(pre * q->count * post + 1) * sizeof *v);
  if (!v) ox_fail(n, "out of memory");
  for (int64_t i = 0; i < q->count; i++) {
    int64_t j = (int64_t)q->k[i];
    if (j < -A || j >= A) ox_fail(n, "index %lld is out of range for an axis of %lld", (long long)j, (long long)A);
    if (j < 0) j += A;
    for (int64_t p = 0; p < pre; p++)
      for (int64_t k = 0; k < post; k++) v[(p * q->count + i) * post + k] = x->k[(p * A + j) * post + k];
  }
  ox_known(n, 0, n->out_type[0], r, dims, v);
  free(v);
}

/* Gather: out = data[.., indices[..], ..] on one axis: the axis moved first, the rest
 * flattened into a table [A, R], one embedding row per index, reshaped and moved back. */
static void cv_gather(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0], *q = n->in[1];
  int r = x->rank, a = ox_axis(n, ox_attr_int(n, "axis", 0), r);
  need_input(n, 1);
  int qr = q->rank, orank = qr + r - 1;
  if (orank > OX_MAX_RANK) ox_fail(n, "the output has rank %d; at most 8 is supported", orank);
  if (x->k && !x->param && q->k) {
    gather_known(n, x, q, a);
    return;
  }
  int64_t perm[OX_MAX_RANK], shape[OX_MAX_RANK], A = x->dims[a];
  perm[0] = a;
  for (int d = 0, k = 1; d < r; d++)
    if (d != a) perm[k++] = d;
  const char *ids = indices(n, 1, A, false);
  const char *t = permute(n, ox_f(n, 0), perm, r, NULL);
  int64_t tab[2] = {A, x->count / A};
  const char *tb = ox_tmp(n), *e = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", tb, t, ox_list(n, tab, 2));
  ox_emit(n, "%s = embedding(%s, %s)", e, ids, tb);
  /* the embedding's rows as q's shape + the other axes in order, then q's axes moved to a */
  int k = 0;
  for (int d = 0; d < qr; d++) shape[k++] = q->dims[d];
  for (int d = 0; d < r; d++)
    if (d != a) shape[k++] = x->dims[d];
  const char *s = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", s, e, ox_list(n, shape, orank));
  k = 0;
  for (int d = 0; d < a; d++) perm[k++] = qr + d;
  for (int d = 0; d < qr; d++) perm[k++] = d;
  for (int d = a + 1; d < r; d++) perm[k++] = qr + d - 1;
  permute(n, s, perm, orank, ox_out(n, 0));
}

/* GatherElements: torch.gather(data, axis, indices), negative indices counted from the end. */
static void cv_gather_elements(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int a = ox_axis(n, ox_attr_int(n, "axis", 0), x->rank);
  need_input(n, 1);
  if (n->in[1]->rank != x->rank || !x->rank) ox_fail(n, "the indices must have the data's rank (at least 1)");
  const char *ids = indices(n, 1, x->dims[a], false);
  ox_emit(n, "%s = gather(%s, %d, %s)", ox_out(n, 0), ox_f(n, 0), a, ids);
}

/* Pad: pads [b0, b1, .., e0, e1, ..] (attribute before opset 11, input after), constant,
 * reflect or edge (pad's "replicate"); negative pads crop first, by indexing. */
static void cv_pad(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int r = x->rank;
  int64_t p[2 * OX_MAX_RANK];
  double value = 0;
  int np;
  if (n->opset < 11) {
    np = ox_attr_ints(n, "pads", p, 2 * OX_MAX_RANK);
    value = ox_attr_float(n, "value", 0);
  } else {
    np = ox_need_ints(n, 1, "pads", p, 2 * OX_MAX_RANK);
    if (ox_has(n, 2)) ox_need_const(n, 2, "constant_value", &value, 1);
  }
  if (np != 2 * r) ox_fail(n, "%d pads for a rank-%d input (2 per axis expected)", np, r);
  const char *mode = ox_attr_str(n, "mode", "constant");
  const char *gm = !strcmp(mode, "constant") ? "constant" : !strcmp(mode, "reflect") ? "reflect"
                 : !strcmp(mode, "edge") ? "replicate" : NULL;
  if (!gm) ox_fail(n, "mode '%s' is not supported (constant, reflect, edge)", mode);
  const char *e = ox_f(n, 0);
  char items[512];
  size_t len = 0;
  bool crop = false;
  int64_t cd[OX_MAX_RANK];
  for (int d = 0; d < r; d++) {
    int64_t b = p[d] < 0 ? -p[d] : 0, en = p[r + d] < 0 ? x->dims[d] + p[r + d] : x->dims[d];
    if (en <= b) ox_fail(n, "the negative pads of axis %d leave nothing (empty tensors are not supported)", d);
    crop |= b || en != x->dims[d];
    cd[d] = en - b;
    len += (size_t)snprintf(items + len, sizeof items - len, "%s%lld:%lld", d ? ", " : "", (long long)b, (long long)en);
  }
  if (crop) {
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = %s[%s]", t, e, items);
    e = t;
  }
  int64_t gp[2 * OX_MAX_RANK];
  int ng = 0, last = 0;
  for (int d = r - 1; d >= 0; d--) {
    gp[ng++] = p[d] > 0 ? p[d] : 0;
    gp[ng++] = p[r + d] > 0 ? p[r + d] : 0;
    if (gp[ng - 2] || gp[ng - 1]) last = ng;
  }
  if (!last) ox_emit(n, "%s = %s", ox_out(n, 0), e);
  else if (!strcmp(gm, "constant") && isfinite(value))
    ox_emit(n, "%s = pad(%s, %s, value=%s)", ox_out(n, 0), e, ox_list(n, gp, last), ox_num(n, (float)value));
  else if (!strcmp(gm, "constant")) { /* pad's value is a finite constant: inf or NaN through a mask */
    double one = 1;
    int64_t d1 = 1;
    const char *c = ox_const(n, "one", 1, &d1, &one), *m = ox_tmp(n);
    ox_emit(n, "%s = pad(expand(%s, %s), %s, value=0)", m, c, ox_list(n, cd, r), ox_list(n, gp, last));
    ox_emit(n, "%s = where(%s, pad(%s, %s, value=0), %s)", ox_out(n, 0), m, e, ox_list(n, gp, last), ox_num(n, value));
  }
  else ox_emit(n, "%s = pad(%s, %s, mode=\"%s\")", ox_out(n, 0), e, ox_list(n, gp, last), gm);
}

/* DepthToSpace: [N, C, H, W] -> [N, C/b², H·b, W·b]; DCR reads the channels as
 * (b, b, C/b²), CRD as (C/b², b, b). */
static void cv_depth_to_space(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t b = ox_attr_int(n, "blocksize", 0);
  if (x->rank != 4) ox_fail(n, "the input must be 4-D (NCHW)");
  if (b < 1 || x->dims[1] % (b * b)) ox_fail(n, "blocksize %lld does not divide the %lld channels by its square", (long long)b, (long long)x->dims[1]);
  int64_t N = x->dims[0], C = x->dims[1] / (b * b), H = x->dims[2], W = x->dims[3];
  bool crd = !strcmp(ox_attr_str(n, "mode", "DCR"), "CRD");
  if (!crd && strcmp(ox_attr_str(n, "mode", "DCR"), "DCR")) ox_fail(n, "mode must be DCR or CRD");
  int64_t s6[6] = {N, b, b, C, H, W}, c6[6] = {N, C, b, b, H, W};
  int64_t pd[6] = {0, 3, 4, 1, 5, 2}, pc[6] = {0, 1, 4, 2, 5, 3}, out[4] = {N, C, H * b, W * b};
  const char *t = ox_tmp(n), *u = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", t, ox_f(n, 0), ox_list(n, crd ? c6 : s6, 6));
  ox_emit(n, "%s = transpose(%s, perm=%s)", u, t, ox_list(n, crd ? pc : pd, 6));
  ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), u, ox_list(n, out, 4));
}

/* SpaceToDepth: [N, C, H, W] -> [N, C·b², H/b, W/b], the inverse of DCR. */
static void cv_space_to_depth(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t b = ox_attr_int(n, "blocksize", 0);
  if (x->rank != 4) ox_fail(n, "the input must be 4-D (NCHW)");
  if (b < 1 || x->dims[2] % b || x->dims[3] % b) ox_fail(n, "blocksize %lld does not divide H and W", (long long)b);
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2] / b, W = x->dims[3] / b;
  int64_t s6[6] = {N, C, H, b, W, b}, p6[6] = {0, 3, 5, 1, 2, 4}, out[4] = {N, C * b * b, H, W};
  const char *t = ox_tmp(n), *u = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", t, ox_f(n, 0), ox_list(n, s6, 6));
  ox_emit(n, "%s = transpose(%s, perm=%s)", u, t, ox_list(n, p6, 6));
  ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), u, ox_list(n, out, 4));
}

/* Trilu: triu (upper=1, the default) or tril with diagonal k (input 1, default 0). */
static void cv_trilu(OxNode *n) {
  need_input(n, 0);
  int64_t k = 0;
  if (ox_has(n, 1) && ox_need_ints(n, 1, "k", &k, 1) != 1) ox_fail(n, "k must be one value");
  bool upper = ox_attr_int(n, "upper", 1) != 0;
  if (n->in[0]->rank < 2) ox_fail(n, "the input must be at least 2-D");
  ox_emit(n, "%s = %s(%s, diagonal=%lld)", ox_out(n, 0), upper ? "triu" : "tril", ox_f(n, 0), (long long)k);
}

/* OneHot: one_hot(indices, depth) scaled to [off, on] (values), its new axis moved to
 * `axis`; indices are truncated to integers, negative ones count from depth. */
static void cv_one_hot(OxNode *n) {
  need_input(n, 0);
  double dd;
  ox_need_const(n, 1, "depth", &dd, 1);
  int64_t depth = (int64_t)dd;
  if (depth < 1) ox_fail(n, "a depth of %lld", (long long)depth);
  need_input(n, 2);
  n->out_type[0] = n->in[2]->type;
  int qr = n->in[0]->rank, axis = ox_axis(n, ox_attr_int(n, "axis", -1), qr + 1);
  const char *ids = indices(n, 0, depth, true);
  const char *oh = ox_tmp(n), *y = ox_tmp(n);
  if (!qr) {
    int64_t one = depth;
    ox_emit(n, "%s = reshape(one_hot(%s, %lld), %s)", oh, ids, (long long)depth, ox_list(n, &one, 1));
  } else ox_emit(n, "%s = one_hot(%s, %lld)", oh, ids, (long long)depth);
  const OxValue *v = n->in[2];
  if (v->count != 2) ox_fail(n, "values must be [off, on]");
  if (v->k && !v->param) {
    double off = v->k[0], on = v->k[1];
    if (off == 0 && on == 1) y = oh;
    else ox_emit(n, "%s = %s * %s + %s", y, oh, ox_num(n, (float)(on - off)), ox_num(n, off));
  } else {
    const char *vv = ox_tmp(n);
    ox_emit(n, "%s = reshape(%s, [2])", vv, ox_f(n, 2));
    ox_emit(n, "%s = %s * (%s[1] - %s[0]) + %s[0]", y, oh, vv, vv, vv);
  }
  int64_t perm[OX_MAX_RANK];
  for (int d = 0, k = 0; d <= qr; d++) perm[d] = d == axis ? qr : k++;
  permute(n, y, perm, qr + 1, ox_out(n, 0));
}

/* CumSum: the axis moved last and the rest flattened, times a constant 0/1 matrix M
 * (M[j][i] = 1 where x[j] counts in y[i]: j <= i, j < i when exclusive, reversed when
 * reverse), then moved back. */
static void cv_cumsum(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t ax;
  if (ox_need_ints(n, 1, "axis", &ax, 1) != 1) ox_fail(n, "the axis must be one value");
  int r = x->rank, a = ox_axis(n, ax, r);
  if (!r) ox_fail(n, "the input must be at least 1-D");
  bool excl = ox_attr_int(n, "exclusive", 0) != 0, rev = ox_attr_int(n, "reverse", 0) != 0;
  int64_t A = x->dims[a], perm[OX_MAX_RANK], inv[OX_MAX_RANK], moved[OX_MAX_RANK];
  if (A > 4096) ox_fail(n, "an axis of %lld elements (at most 4096 are supported)", (long long)A);
  for (int d = 0, k = 0; d < r; d++)
    if (d != a) perm[k++] = d;
  perm[r - 1] = a;
  for (int d = 0; d < r; d++) inv[perm[d]] = d, moved[d] = x->dims[perm[d]];
  double *m = malloc((size_t)(A * A) * sizeof *m);
  if (!m) ox_fail(n, "out of memory");
  for (int64_t j = 0; j < A; j++)
    for (int64_t i = 0; i < A; i++) m[j * A + i] = rev ? (excl ? j > i : j >= i) : (excl ? j < i : j <= i);
  int64_t md[2] = {A, A}, flat[2] = {x->count / A, A};
  const char *mc = ox_const(n, "tri", 2, md, m);
  free(m);
  const char *t = permute(n, ox_f(n, 0), perm, r, NULL), *u = ox_tmp(n), *w = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", u, t, ox_list(n, flat, 2));
  ox_emit(n, "%s = reshape(%s @ %s, %s)", w, u, mc, ox_list(n, moved, r));
  permute(n, w, inv, r, ox_out(n, 0));
}

const OxOp ox_ops_shape2[] = {
    {"Gather", cv_gather, 2}, {"GatherElements", cv_gather_elements, 2}, {"Pad", cv_pad, 1},
    {"DepthToSpace", cv_depth_to_space, 1}, {"SpaceToDepth", cv_space_to_depth, 1}, {"Trilu", cv_trilu, 1},
    {"OneHot", cv_one_hot, 3}, {"CumSum", cv_cumsum, 2},
    {NULL, NULL, 0},
};
