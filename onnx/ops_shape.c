/* ops_shape.c — ONNX's shape operators: Shape, Size, ConstantOfShape and Range (known at
 * import time), Reshape, Flatten, Squeeze and Unsqueeze (reshapes of a shape the
 * converter works out), Transpose, Concat, Split, Slice, Expand and Tile. The gathers,
 * Pad, DepthToSpace/SpaceToDepth, Trilu, OneHot and CumSum are in ops_shape2.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"

/* Input i as it is held: an i32 value stays i32 for the operators that pass one through
 * (reshape, indexing, split), else f32. */
static const char *in_any(OxNode *n, int i) { return n->in[i] && n->in[i]->i32 ? ox_i(n, i) : ox_f(n, i); }

static void need_input(OxNode *n, int i) {
  if (!ox_has(n, i)) ox_fail(n, "input %d is required", i);
}

static int64_t count_of(const int64_t *dims, int rank) {
  int64_t c = 1;
  for (int d = 0; d < rank; d++) c *= dims[d];
  return c;
}

/* y = reshape(x, dims), or y = x when the shape does not change. */
static void emit_reshape(OxNode *n, int rank, const int64_t *dims) {
  const OxValue *x = n->in[0];
  bool same = x->rank == rank;
  for (int d = 0; same && d < rank; d++) same = x->dims[d] == dims[d];
  for (int d = 0; d < rank; d++)
    if (dims[d] < 1) ox_fail(n, "an output of size %lld on axis %d (empty tensors are not supported)", (long long)dims[d], d);
  if (same) ox_emit(n, "%s = %s", ox_out(n, 0), in_any(n, 0));
  else ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), in_any(n, 0), ox_list(n, dims, rank));
}

/* Shape: the input's dimensions [start:end] (opset 15), known now, int64. */
static void cv_shape(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t r = x->rank, start = ox_attr_int(n, "start", 0), end = ox_attr_int(n, "end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = start < 0 ? 0 : start > r ? r : start;
  end = end < 0 ? 0 : end > r ? r : end;
  double v[OX_MAX_RANK];
  int64_t cnt = end > start ? end - start : 0;
  for (int64_t d = 0; d < cnt; d++) v[d] = (double)x->dims[start + d];
  ox_known(n, 0, OX_T_INT64, 1, &cnt, v);
}

/* Size: the input's element count, known now, an int64 scalar. */
static void cv_size(OxNode *n) {
  need_input(n, 0);
  double v = (double)n->in[0]->count;
  ox_known(n, 0, OX_T_INT64, 0, NULL, &v);
}

/* Reshape: 0 copies the input's size (unless allowzero), -1 is inferred. */
static void cv_reshape(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t s[OX_MAX_RANK];
  int r = ox_need_ints(n, 1, "shape", s, OX_MAX_RANK);
  bool allowzero = ox_attr_int(n, "allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < r; d++) {
    if (s[d] == 0 && !allowzero) {
      if (d >= x->rank) ox_fail(n, "shape[%d] is 0 (copy) but the input has rank %d", d, x->rank);
      s[d] = x->dims[d];
    }
    if (s[d] == -1) {
      if (infer >= 0) ox_fail(n, "the shape has two -1 sizes");
      infer = d;
      continue;
    }
    if (s[d] < 0) ox_fail(n, "shape[%d] is %lld", d, (long long)s[d]);
    known *= s[d];
  }
  if (infer >= 0) {
    if (!known || x->count % known) ox_fail(n, "cannot infer the -1 size of the shape for %lld elements", (long long)x->count);
    s[infer] = x->count / known;
  }
  if (count_of(s, r) != x->count) ox_fail(n, "the shape %s does not hold %lld elements", ox_list(n, s, r), (long long)x->count);
  emit_reshape(n, r, s);
}

/* Flatten: [d0 * .. * d(axis-1), d(axis) * .. ] as a reshape. */
static void cv_flatten(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t axis = ox_attr_int(n, "axis", 1);
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis > x->rank) ox_fail(n, "axis %lld is out of range for rank %d", (long long)ox_attr_int(n, "axis", 1), x->rank);
  int64_t s[2] = {count_of(x->dims, (int)axis), 1};
  s[1] = x->count / s[0];
  emit_reshape(n, 2, s);
}

/* The axes of Squeeze/Unsqueeze/ReduceX: the attribute before opset 13, input 1 after.
 * Returns the count, or -1 when absent. */
static int axes_of(OxNode *n, int64_t *axes) {
  if (n->opset < 13) return ox_attr_ints(n, "axes", axes, OX_MAX_RANK * 2);
  if (!ox_has(n, 1)) return -1;
  return ox_need_ints(n, 1, "axes", axes, OX_MAX_RANK * 2);
}

/* Squeeze: the listed axes (every axis of size 1 without them) removed, as a reshape. */
static void cv_squeeze(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t axes[OX_MAX_RANK * 2], s[OX_MAX_RANK];
  bool drop[OX_MAX_RANK] = {0};
  int na = axes_of(n, axes), r = 0;
  for (int d = 0; d < x->rank; d++) drop[d] = na < 0 && x->dims[d] == 1;
  for (int i = 0; i < na; i++) {
    int a = ox_axis(n, axes[i], x->rank);
    if (x->dims[a] != 1) ox_fail(n, "axis %d has size %lld, not 1", a, (long long)x->dims[a]);
    drop[a] = true;
  }
  for (int d = 0; d < x->rank; d++)
    if (!drop[d]) s[r++] = x->dims[d];
  emit_reshape(n, r, s);
}

/* Unsqueeze: axes of size 1 inserted (counted in the output's rank), as a reshape. */
static void cv_unsqueeze(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t axes[OX_MAX_RANK * 2], s[OX_MAX_RANK];
  bool unit[OX_MAX_RANK] = {0};
  int na = axes_of(n, axes);
  if (na < 0) ox_fail(n, "the axes are required");
  int r = x->rank + na;
  if (r > OX_MAX_RANK) ox_fail(n, "the output has rank %d; at most 8 is supported", r);
  for (int i = 0; i < na; i++) {
    int a = ox_axis(n, axes[i], r);
    if (unit[a]) ox_fail(n, "axis %d is repeated", a);
    unit[a] = true;
  }
  for (int d = 0, k = 0; d < r; d++) s[d] = unit[d] ? 1 : x->dims[k++];
  emit_reshape(n, r, s);
}

/* Transpose: perm, default the axes reversed. */
static void cv_transpose(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t perm[OX_MAX_RANK];
  int np = ox_attr_ints(n, "perm", perm, OX_MAX_RANK);
  if (np < 0) {
    np = x->rank;
    for (int d = 0; d < np; d++) perm[d] = np - 1 - d;
  }
  if (np != x->rank) ox_fail(n, "perm has %d axes for a rank-%d input", np, x->rank);
  bool identity = true;
  for (int d = 0; d < np; d++) identity &= perm[d] == d;
  if (identity) ox_emit(n, "%s = %s", ox_out(n, 0), in_any(n, 0));
  else ox_emit(n, "%s = transpose(%s, perm=%s)", ox_out(n, 0), ox_f(n, 0), ox_list(n, perm, np));
}

/* Concat: concat([...], axis); empty inputs (a rank-0 tensor's Shape) are left out. */
static void cv_concat(OxNode *n) {
  int rank = -1, kept = 0, last = -1;
  for (int i = 0; i < n->nin; i++) {
    need_input(n, i);
    if (rank < 0) rank = n->in[i]->rank;
    if (n->in[i]->count) kept++, last = i;
  }
  if (rank < 0) ox_fail(n, "no inputs");
  int axis = ox_axis(n, ox_attr_int(n, "axis", 0), rank);
  if (!kept) {
    int64_t dims[OX_MAX_RANK];
    for (int d = 0; d < rank; d++) dims[d] = n->in[0]->dims[d];
    dims[axis] = 0;
    ox_known(n, 0, n->out_type[0], rank, dims, NULL);
    return;
  }
  if (kept == 1) {
    ox_emit(n, "%s = %s", ox_out(n, 0), in_any(n, last));
    return;
  }
  char buf[4096];
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; i < n->nin; i++) {
    if (!n->in[i]->count) continue;
    const char *e = ox_f(n, i);
    if (len + strlen(e) + 3 >= sizeof buf) ox_fail(n, "too many inputs");
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len ? ", " : "", e);
  }
  ox_emit(n, "%s = concat([%s], axis=%d)", ox_out(n, 0), buf, axis);
}

/* Split: the split attribute (before 13) or input (13 on), else equal parts. */
static void cv_split(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int axis = ox_axis(n, ox_attr_int(n, "axis", 0), x->rank);
  int64_t sz[OX_MAX_IO];
  int ns = n->opset < 13 ? ox_attr_ints(n, "split", sz, OX_MAX_IO)
                         : ox_has(n, 1) ? ox_need_ints(n, 1, "split", sz, OX_MAX_IO) : -1;
  if (ns < 0) {
    if (x->dims[axis] % n->nout) ox_fail(n, "axis %d of size %lld does not split into %d equal parts", axis, (long long)x->dims[axis], n->nout);
    ns = n->nout;
    for (int i = 0; i < ns; i++) sz[i] = x->dims[axis] / n->nout;
  }
  if (ns != n->nout) ox_fail(n, "%d split sizes for %d outputs", ns, n->nout);
  int64_t total = 0;
  for (int i = 0; i < ns; i++) {
    if (sz[i] < 1) ox_fail(n, "a split of size %lld (empty tensors are not supported)", (long long)sz[i]);
    total += sz[i];
  }
  if (total != x->dims[axis]) ox_fail(n, "the split sizes sum to %lld, the axis has %lld", (long long)total, (long long)x->dims[axis]);
  if (ns == 1) {
    ox_emit(n, "%s = %s", ox_out(n, 0), in_any(n, 0));
    return;
  }
  char names[4096];
  size_t len = 0;
  for (int i = 0; i < ns; i++) {
    const char *o = n->out[i] ? n->out[i]->name : ox_tmp(n);
    if (len + strlen(o) + 3 >= sizeof names) ox_fail(n, "too many outputs");
    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", o);
  }
  ox_emit(n, "%s = split(%s, %s, axis=%d)", names, in_any(n, 0), ox_list(n, sz, ns), axis);
}

/* ---- Slice ---- */

/* One axis of a slice: the first index, the step and the count of the elements taken. */
typedef struct { int64_t start, step, count; } Span;

static Span span_of(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  Span s = {0, step, 0};
  if (step > 0) {
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < 0 ? 0 : end > dim ? dim : end;
    s.count = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    s.count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
  }
  s.start = start;
  return s;
}

/* Input i's integers, known now, clamped to +-2^62: exporters write INT64_MAX for "to the
 * end", which a double holds as 2^63, past int64_t. */
static int need_bounds(OxNode *n, int i, const char *what, int64_t *out) {
  double v[OX_MAX_RANK];
  int c = (int)ox_need_const(n, i, what, v, OX_MAX_RANK);
  for (int j = 0; j < c; j++) out[j] = v[j] > 0x1p62 ? (int64_t)1 << 62 : v[j] < -0x1p62 ? -((int64_t)1 << 62) : (int64_t)v[j];
  return c;
}

/* The starts/ends/axes/steps: attributes before opset 10, inputs from 10. */
static int slice_args(OxNode *n, int64_t *st, int64_t *en, int64_t *ax, int64_t *sp) {
  int ns, ne, na = -1, nk = -1;
  if (n->opset < 10) {
    ns = ox_attr_ints(n, "starts", st, OX_MAX_RANK);
    ne = ox_attr_ints(n, "ends", en, OX_MAX_RANK);
    na = ox_attr_ints(n, "axes", ax, OX_MAX_RANK);
  } else {
    ns = need_bounds(n, 1, "starts", st);
    ne = need_bounds(n, 2, "ends", en);
    if (ox_has(n, 3)) na = ox_need_ints(n, 3, "axes", ax, OX_MAX_RANK);
    if (ox_has(n, 4)) nk = need_bounds(n, 4, "steps", sp);
  }
  if (ns < 0 || ne != ns) ox_fail(n, "starts and ends must be given, with one value per axis");
  if (na < 0)
    for (int i = 0; i < ns; i++) ax[i] = i;
  else if (na != ns) ox_fail(n, "%d axes for %d starts", na, ns);
  if (nk < 0)
    for (int i = 0; i < ns; i++) sp[i] = 1;
  else if (nk != ns) ox_fail(n, "%d steps for %d starts", nk, ns);
  return ns;
}

/* Reverses axis a of the expression e (of shape dims, rank r) as a gather with a constant
 * index of e's shape counting down. */
static const char *reverse_axis(OxNode *n, const char *e, int r, const int64_t *dims, int a) {
  int64_t cnt = count_of(dims, r), inner = count_of(dims + a + 1, r - a - 1);
  double *idx = malloc((size_t)cnt * sizeof *idx);
  if (!idx) ox_fail(n, "out of memory");
  for (int64_t i = 0; i < cnt; i++) idx[i] = (double)(dims[a] - 1 - (i / inner) % dims[a]);
  char hint[16];
  snprintf(hint, sizeof hint, "rev%d", a);
  const char *c = ox_const(n, hint, r, dims, idx);
  free(idx);
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = gather(%s, %d, int(%s))", t, e, a, c);
  return t;
}

/* A slice of a known value (shape arithmetic) taken now; also an empty slice (known: it has
 * no elements). */
static void slice_known(OxNode *n, const OxValue *x, const Span *s) {
  int64_t dims[OX_MAX_RANK], idx[OX_MAX_RANK] = {0};
  for (int d = 0; d < x->rank; d++) dims[d] = s[d].count;
  int64_t cnt = count_of(dims, x->rank);
  double *v = malloc((size_t)(cnt ? cnt : 1) * sizeof *v);
  if (!v) ox_fail(n, "out of memory");
  for (int64_t i = 0; i < cnt; i++) {
    int64_t off = 0;
    for (int d = 0; d < x->rank; d++) off = off * x->dims[d] + s[d].start + idx[d] * s[d].step;
    v[i] = x->k[off];
    for (int d = x->rank - 1; d >= 0 && ++idx[d] == dims[d]; d--) idx[d] = 0;
  }
  ox_known(n, 0, n->out_type[0], x->rank, dims, v);
  free(v);
}

/* Slice: clamped, possibly negative indices; a positive step is indexing x[a:b:s], a
 * negative one the same elements taken upward, then reversed by a gather. */
static void cv_slice(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t st[OX_MAX_RANK], en[OX_MAX_RANK], ax[OX_MAX_RANK], sp[OX_MAX_RANK], dims[OX_MAX_RANK];
  int ns = slice_args(n, st, en, ax, sp);
  Span s[OX_MAX_RANK];
  bool set[OX_MAX_RANK] = {0}, any = false, neg = false, empty = false;
  for (int d = 0; d < x->rank; d++) s[d] = (Span){0, 1, x->dims[d]};
  for (int i = 0; i < ns; i++) {
    int a = ox_axis(n, ax[i], x->rank);
    if (set[a]) ox_fail(n, "axis %d is repeated", a);
    if (!sp[i]) ox_fail(n, "a step of 0");
    set[a] = true;
    s[a] = span_of(x->dims[a], st[i], en[i], sp[i]);
    empty |= !s[a].count;
  }
  if (empty || (x->k && !x->param)) {
    slice_known(n, x, s);
    return;
  }
  char items[1024];
  size_t len = 0;
  items[0] = 0;
  for (int d = 0; d < x->rank; d++) {
    Span v = s[d];
    dims[d] = v.count;
    if (v.step < 0) v = (Span){v.start + v.step * (v.count - 1), -v.step, v.count}, neg = true;
    bool whole = v.start == 0 && v.step == 1 && v.count == x->dims[d];
    any |= !whole;
    int64_t stop = v.start + (v.count - 1) * v.step + 1;
    if (whole) len += (size_t)snprintf(items + len, sizeof items - len, "%s:", d ? ", " : "");
    else if (v.step == 1) len += (size_t)snprintf(items + len, sizeof items - len, "%s%lld:%lld", d ? ", " : "", (long long)v.start, (long long)stop);
    else len += (size_t)snprintf(items + len, sizeof items - len, "%s%lld:%lld:%lld", d ? ", " : "", (long long)v.start, (long long)stop, (long long)v.step);
  }
  const char *e = neg ? ox_f(n, 0) : in_any(n, 0);
  if (any) {
    const char *t = neg ? ox_tmp(n) : ox_out(n, 0);
    ox_emit(n, "%s = %s[%s]", t, e, items);
    e = t;
  }
  for (int d = 0; d < x->rank; d++)
    if (s[d].step < 0 && s[d].count > 1) e = reverse_axis(n, e, x->rank, dims, d);
  if (neg || !any) ox_emit(n, "%s = %s", ox_out(n, 0), e);
}

/* Expand: the input broadcast with the shape, both ways (a 1 in the shape keeps x's size). */
static void cv_expand(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t s[OX_MAX_RANK], out[OX_MAX_RANK];
  int ns = ox_need_ints(n, 1, "shape", s, OX_MAX_RANK);
  int r = ns > x->rank ? ns : x->rank;
  for (int d = 0; d < r; d++) {
    int64_t a = d - (r - x->rank) >= 0 ? x->dims[d - (r - x->rank)] : 1;
    int64_t b = d - (r - ns) >= 0 ? s[d - (r - ns)] : 1;
    if (a != b && a != 1 && b != 1) ox_fail(n, "the input's size %lld and the shape's %lld do not broadcast (axis %d)", (long long)a, (long long)b, d);
    out[d] = a == 1 ? b : a;
    if (out[d] < 1) ox_fail(n, "an output of size %lld (empty tensors are not supported)", (long long)out[d]);
  }
  if (count_of(out, r) == x->count) emit_reshape(n, r, out);
  else ox_emit(n, "%s = expand(%s, %s)", ox_out(n, 0), ox_f(n, 0), ox_list(n, out, r));
}

/* Tile: repeat(x, repeats), one count per axis. */
static void cv_tile(OxNode *n) {
  need_input(n, 0);
  const OxValue *x = n->in[0];
  int64_t reps[OX_MAX_RANK];
  int nr = ox_need_ints(n, 1, "repeats", reps, OX_MAX_RANK);
  if (nr != x->rank) ox_fail(n, "%d repeats for a rank-%d input", nr, x->rank);
  bool ones = true;
  for (int d = 0; d < nr; d++) {
    if (reps[d] < 1) ox_fail(n, "a repeat count of %lld (empty tensors are not supported)", (long long)reps[d]);
    ones &= reps[d] == 1;
  }
  if (ones) ox_emit(n, "%s = %s", ox_out(n, 0), in_any(n, 0));
  else ox_emit(n, "%s = repeat(%s, %s)", ox_out(n, 0), ox_f(n, 0), ox_list(n, reps, nr));
}

/* ConstantOfShape: the value attribute (one element, default float 0) at the shape given
 * by input 0, known now. */
static void cv_constant_of_shape(OxNode *n) {
  int64_t s[OX_MAX_RANK];
  int r = ox_need_ints(n, 0, "shape", s, OX_MAX_RANK);
  double value = 0;
  int type = OX_T_FLOAT;
  const Onnx__AttributeProto *a = ox_attr(n, "value");
  if (a && a->t) {
    char err[512];
    int64_t cnt;
    type = a->t->data_type;
    if (type != OX_T_FLOAT && type != OX_T_INT32 && type != OX_T_INT64 && type != OX_T_BOOL)
      ox_fail(n, "a value of element type %s is not supported", ox_type_name(type));
    double *v = ox_tensor_values(a->t, ".", &cnt, err, sizeof err);
    if (!v) ox_fail(n, "%s", err);
    if (cnt != 1) ox_fail(n, "the value has %lld elements, not 1", (long long)cnt);
    value = v[0];
    free(v);
  }
  int64_t cnt = count_of(s, r);
  if (cnt < 0 || cnt > (1ll << 31)) ox_fail(n, "the shape %s is too large", ox_list(n, s, r));
  double *v = malloc((size_t)(cnt ? cnt : 1) * sizeof *v);
  if (!v) ox_fail(n, "out of memory");
  for (int64_t i = 0; i < cnt; i++) v[i] = value;
  ox_known(n, 0, type, r, s, v);
  free(v);
}

/* Range: start, start + delta, ... below limit (above it for a negative delta); the three
 * inputs must be known. */
static void cv_range(OxNode *n) {
  double st, lim, dl;
  ox_need_const(n, 0, "start", &st, 1);
  ox_need_const(n, 1, "limit", &lim, 1);
  ox_need_const(n, 2, "delta", &dl, 1);
  if (dl == 0) ox_fail(n, "a delta of 0");
  double c = ceil((lim - st) / dl);
  int64_t cnt = c > 0 ? (int64_t)c : 0;
  if (cnt > (1ll << 24)) ox_fail(n, "%lld elements is too many", (long long)cnt);
  double *v = malloc((size_t)(cnt ? cnt : 1) * sizeof *v);
  if (!v) ox_fail(n, "out of memory");
  for (int64_t i = 0; i < cnt; i++) v[i] = st + (double)i * dl;
  if (n->out_type[0] == OX_T_FLOAT)
    for (int64_t i = 0; i < cnt; i++) v[i] = (float)v[i];
  ox_known(n, 0, n->out_type[0], 1, &cnt, v);
  free(v);
}

const OxOp ox_ops_shape[] = {
    {"Shape", cv_shape, 1},     {"Size", cv_size, 1},         {"Reshape", cv_reshape, 1}, {"Flatten", cv_flatten, 1},
    {"Squeeze", cv_squeeze, 1}, {"Unsqueeze", cv_unsqueeze, 1}, {"Transpose", cv_transpose, 1}, {"Concat", cv_concat, 1},
    {"Split", cv_split, 1},     {"Slice", cv_slice, 1},       {"Expand", cv_expand, 2},   {"Tile", cv_tile, 2},
    {"ConstantOfShape", cv_constant_of_shape, 1}, {"Range", cv_range, 3},
    {NULL, NULL, 0},
};
