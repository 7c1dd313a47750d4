/* node.c — what a converter calls (import.h): writing a node's statements, naming its
 * inputs and outputs, reading its attributes and its known inputs, failing with the node's
 * name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "importer.h"

_Noreturn void ox_fail(OxNode *n, const char *fmt, ...) {
  Importer *im = n->im;
  const Onnx__NodeProto *p = n->p;
  int k = snprintf(im->err, im->errlen, "%s: node %d '%s' (%s, opset %d): ", im->file, n->index,
                   p->name ? p->name : "", p->op_type, n->opset);
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < im->errlen) vsnprintf(im->err + k, im->errlen - (size_t)k, fmt, ap);
  va_end(ap);
  longjmp(im->fail, 1);
}

void ox_emit(OxNode *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_vadd(&n->im->snip, fmt, ap);
  va_end(ap);
  text_add(&n->im->snip, "\n");
}

const char *ox_out(OxNode *n, int i) {
  if (i >= n->nout || !n->out[i]) ox_fail(n, "output %d is missing", i);
  return n->out[i]->name;
}

const char *ox_tmp(OxNode *n) {
  const char *base = n->nout && n->out[0] ? n->out[0]->name : "t";
  char want[300];
  snprintf(want, sizeof want, "%s_t", base);
  return names_fresh(&n->im->names, &n->im->pool, want);
}

bool ox_has(const OxNode *n, int i) { return i < n->nin && n->in[i]; }

static OxValue *input(OxNode *n, int i) {
  if (!ox_has(n, i)) ox_fail(n, "input %d is required", i);
  return n->in[i];
}

/* A known rank-0 value that is no parameter, written as a number. */
static bool literal(const OxValue *v) { return v->k && !v->param && v->rank == 0; }

const char *ox_num(OxNode *n, double v) {
  if (isnan(v)) return "(inf - inf)";
  if (isinf(v)) return v > 0 ? "inf" : "(-inf)";
  char b[64];
  snprintf(b, sizeof b, v < 0 ? "(%.9g)" : "%.9g", v);
  return pool_strdup(&n->im->pool, b);
}

const char *ox_f(OxNode *n, int i) {
  OxValue *v = input(n, i);
  if (literal(v)) return ox_num(n, v->k[0]);
  im_ref(n->im, v);
  return v->i32 ? pool_printf(&n->im->pool, "float(%s)", v->name) : v->name;
}

const char *ox_i(OxNode *n, int i) {
  OxValue *v = input(n, i);
  if (literal(v)) return pool_printf(&n->im->pool, "int(%s)", ox_num(n, round(v->k[0])));
  im_ref(n->im, v);
  return v->i32 ? v->name : pool_printf(&n->im->pool, "int(round(%s))", v->name);
}

const char *ox_const(OxNode *n, const char *hint, int rank, const int64_t *dims, const double *k) {
  Importer *im = n->im;
  char want[300];
  snprintf(want, sizeof want, "%s_%s", n->nout && n->out[0] ? n->out[0]->name : "c", hint);
  OxValue *v = im_value(im, pool_printf(&im->pool, "(%s of node %d)", hint, n->index), OX_T_FLOAT);
  v->name = names_fresh(&im->names, &im->pool, want);
  v->rank = rank;
  v->count = 1;
  for (int d = 0; d < rank; d++) v->dims[d] = dims[d], v->count *= dims[d];
  v->k = pool_alloc(&im->pool, (size_t)(v->count ? v->count : 1) * sizeof *v->k);
  memcpy(v->k, k, (size_t)v->count * sizeof *v->k);
  im_ref(im, v);
  return v->name;
}

void ox_known(OxNode *n, int i, int type, int rank, const int64_t *dims, const double *k) {
  if (i >= n->nout || !n->out[i]) return;
  OxValue *v = n->out[i];
  n->out_type[i] = type;
  v->rank = rank;
  v->count = 1;
  for (int d = 0; d < rank; d++) v->dims[d] = dims[d], v->count *= dims[d];
  v->k = pool_alloc(&n->im->pool, (size_t)(v->count ? v->count : 1) * sizeof *v->k);
  if (v->count) memcpy(v->k, k, (size_t)v->count * sizeof *v->k);
  v->i32 = false;
}

void ox_make_buffer(OxNode *n, int i) {
  OxValue *v = input(n, i);
  if (!v->param) ox_fail(n, "input %d ('%s') must be an initializer (a running statistic)", i, v->onnx);
  v->buffer = true;
}

/* ---- attributes ---- */

const Onnx__AttributeProto *ox_attr(const OxNode *n, const char *name) {
  for (size_t i = 0; i < n->p->n_attribute; i++)
    if (n->p->attribute[i]->name && !strcmp(n->p->attribute[i]->name, name)) return n->p->attribute[i];
  return NULL;
}

int64_t ox_attr_int(const OxNode *n, const char *name, int64_t def) {
  const Onnx__AttributeProto *a = ox_attr(n, name);
  return a && a->has_i ? a->i : def;
}

double ox_attr_float(const OxNode *n, const char *name, double def) {
  const Onnx__AttributeProto *a = ox_attr(n, name);
  return a && a->has_f ? a->f : def;
}

const char *ox_attr_str(const OxNode *n, const char *name, const char *def) {
  const Onnx__AttributeProto *a = ox_attr(n, name);
  if (!a || !a->has_s) return def;
  char *s = pool_alloc(&n->im->pool, a->s.len + 1);
  memcpy(s, a->s.data, a->s.len);
  return s;
}

int ox_attr_ints(const OxNode *n, const char *name, int64_t *out, int max) {
  const Onnx__AttributeProto *a = ox_attr(n, name);
  if (!a) return -1;
  if (a->n_ints > (size_t)max) ox_fail((OxNode *)n, "attribute %s has more than %d values", name, max);
  for (size_t i = 0; i < a->n_ints; i++) out[i] = a->ints[i];
  return (int)a->n_ints;
}

int ox_attr_floats(const OxNode *n, const char *name, double *out, int max) {
  const Onnx__AttributeProto *a = ox_attr(n, name);
  if (!a) return -1;
  if (a->n_floats > (size_t)max) ox_fail((OxNode *)n, "attribute %s has more than %d values", name, max);
  for (size_t i = 0; i < a->n_floats; i++) out[i] = a->floats[i];
  return (int)a->n_floats;
}

/* ---- known inputs ---- */

int64_t ox_need_const(OxNode *n, int i, const char *what, double *out, int64_t max) {
  OxValue *v = input(n, i);
  if (!v->k) {
    const OxValue *src = v->source;
    if (src && n->im->o->unbound) snprintf(n->im->o->unbound, 256, "%s", src->onnx);
    if (v->input)
      ox_fail(n, "its %s (input %d, '%s') must be known at import time: it is a graph input; bind its values with "
              "--const NAME=VALUES (gradc run: --set)", what, i, v->onnx);
    ox_fail(n, "its %s (input %d, '%s') must be known at import time: it is computed from %s%s%s", what, i, v->onnx,
            src ? "the graph input '" : "values given at run time", src ? src->onnx : "",
            src ? "': bind that input's values with --const NAME=VALUES (gradc run: --set)" : "");
  }
  if (v->count > max) ox_fail(n, "its %s (input %d) has %lld values; at most %lld are supported", what, i,
                              (long long)v->count, (long long)max);
  memcpy(out, v->k, (size_t)v->count * sizeof *out);
  return v->count;
}

int ox_need_ints(OxNode *n, int i, const char *what, int64_t *out, int max) {
  double d[64];
  int64_t c = ox_need_const(n, i, what, d, max < 64 ? max : 64);
  for (int64_t j = 0; j < c; j++) /* INT64_MAX ("to the end", as exporters write it) is 2^63 as a double */
    out[j] = d[j] >= 0x1p63 ? INT64_MAX : d[j] <= -0x1p63 ? INT64_MIN : (int64_t)d[j];
  return (int)c;
}

int ox_axis(OxNode *n, int64_t axis, int rank) {
  if (axis < -rank || axis >= (rank ? rank : 1)) ox_fail(n, "axis %lld is out of range for rank %d", (long long)axis, rank);
  return (int)(axis < 0 ? axis + rank : axis);
}

const char *ox_list(OxNode *n, const int64_t *v, int count) {
  Text t = {0};
  text_add(&t, "[");
  for (int i = 0; i < count; i++) text_add(&t, "%s%lld", i ? ", " : "", (long long)v[i]);
  text_add(&t, "]");
  char *s = pool_strdup(&n->im->pool, t.s);
  text_free(&t);
  return s;
}
