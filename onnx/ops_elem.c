/* ops_elem.c — ONNX's elementwise operators: arithmetic with numpy broadcasting (the
 * language broadcasts the same way), activations, comparisons and logic on masks, Cast,
 * Constant, Identity. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"

/* A formatted expression, valid while the node is converted (a ring of buffers: a
 * converter holds a few at a time). */
__attribute__((format(printf, 2, 3))) static const char *expr_fmt(OxNode *n, const char *fmt, ...) {
  static char ring[16][4096];
  static int next;
  char *b = ring[next++ % 16];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b, sizeof ring[0], fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof ring[0]) ox_fail(n, "an expression longer than %zu characters", sizeof ring[0]);
  return b;
}

/* A truncation toward zero of the f32 expression e (read twice: named unless a name). */
static const char *trunc_of(OxNode *n, const char *e) {
  const char *t = e;
  for (const char *c = e; *c; c++)
    if (!(isalnum((unsigned char)*c) || *c == '_')) {
      t = ox_tmp(n);
      ox_emit(n, "%s = %s", t, e);
      break;
    }
  return expr_fmt(n, "sign(%s) * floor(abs(%s))", t, t);
}

static bool is_int(int type) { return type == OX_T_INT32 || type == OX_T_INT64; }

/* y = a OP b: numpy broadcasting is the language's (opset 6's broadcast=1 with an axis is
 * aligned by the framework, import.c's legacy_broadcast); integers held in f32 are exact
 * below 2^24. */
static void binary(OxNode *n, const char *op) {
  const char *a = ox_f(n, 0), *b = ox_f(n, 1);
  ox_emit(n, "%s = %s %s %s", ox_out(n, 0), a, op, b);
}
static void cv_add(OxNode *n) { binary(n, "+"); }
static void cv_sub(OxNode *n) { binary(n, "-"); }
static void cv_mul(OxNode *n) { binary(n, "*"); }

/* Div: integer division truncates toward zero (C's, as onnxruntime's). */
static void cv_div(OxNode *n) {
  if (!is_int(n->out_type[0])) binary(n, "/");
  else ox_emit(n, "%s = %s", ox_out(n, 0), trunc_of(n, expr_fmt(n, "%s / %s", ox_f(n, 0), ox_f(n, 1))));
}

/* Pow: a ** b (a constant exponent is exact). The result has the base's type: an integer
 * result (numpy's astype truncates) is rounded when the f32 power is within 1e-4 of an
 * integer, truncated otherwise. */
static void cv_pow(OxNode *n) {
  if (!is_int(n->out_type[0])) {
    binary(n, "**");
    return;
  }
  const char *p = ox_tmp(n), *r = ox_tmp(n);
  ox_emit(n, "%s = %s ** %s", p, ox_f(n, 0), ox_f(n, 1));
  ox_emit(n, "%s = round(%s)", r, p);
  ox_emit(n, "%s = where(abs(%s - %s) <= 0.0001 * abs(%s), %s, sign(%s) * floor(abs(%s)))", ox_out(n, 0), p, r, r, r,
          p, p);
}

/* Mod: fmod=0 is Python's (numpy's mod: the sign of the divisor), a - b floor(a / b);
 * fmod=1 is C's fmod (the sign of the dividend), a - b trunc(a / b). */
static void cv_mod(OxNode *n) {
  int64_t fmod_ = ox_attr_int(n, "fmod", 0);
  if (fmod_ != 0 && fmod_ != 1) ox_fail(n, "fmod must be 0 or 1, got %lld", (long long)fmod_);
  const char *a = ox_f(n, 0), *b = ox_f(n, 1), *q = ox_tmp(n);
  ox_emit(n, "%s = %s / %s", q, a, b);
  const char *k = fmod_ ? trunc_of(n, q) : expr_fmt(n, "floor(%s)", q);
  ox_emit(n, "%s = %s - %s * (%s)", ox_out(n, 0), a, b, k);
}

/* Max, Min, Sum, Mean: variadic, broadcasting: a chain of maximum / minimum / +. */
static void variadic(OxNode *n, const char *fn, const char *op, bool mean) {
  int k = 0;
  const char *acc = NULL;
  for (int i = 0; i < n->nin; i++) {
    if (!ox_has(n, i)) continue;
    const char *x = ox_f(n, i);
    if (acc && strlen(acc) > 1000) { /* a long chain is cut into statements */
      const char *t = ox_tmp(n);
      ox_emit(n, "%s = %s", t, acc);
      acc = t;
    }
    acc = !acc ? x : fn ? expr_fmt(n, "%s(%s, %s)", fn, acc, x) : expr_fmt(n, "%s %s %s", acc, op, x);
    k++;
  }
  if (!acc) ox_fail(n, "needs at least one input");
  if (mean && k > 1) ox_emit(n, "%s = (%s) / %d", ox_out(n, 0), acc, k);
  else ox_emit(n, "%s = %s", ox_out(n, 0), acc);
}
static void cv_max(OxNode *n) { variadic(n, "maximum", NULL, false); }
static void cv_min(OxNode *n) { variadic(n, "minimum", NULL, false); }
static void cv_sum(OxNode *n) { variadic(n, NULL, "+", false); }
static void cv_mean(OxNode *n) { variadic(n, NULL, "+", true); }

/* Clip: clamp(x, min=, max=); the bounds are attributes before opset 11, optional inputs
 * since. */
static void cv_clip(OxNode *n) {
  const char *lo = NULL, *hi = NULL;
  if (n->opset < 11) {
    if (ox_attr(n, "min")) lo = ox_num(n, ox_attr_float(n, "min", 0));
    if (ox_attr(n, "max")) hi = ox_num(n, ox_attr_float(n, "max", 0));
  } else {
    if (ox_has(n, 1)) lo = ox_f(n, 1);
    if (ox_has(n, 2)) hi = ox_f(n, 2);
  }
  const char *x = ox_f(n, 0);
  if (!lo && !hi) ox_emit(n, "%s = %s", ox_out(n, 0), x);
  else if (!hi) ox_emit(n, "%s = clamp(%s, min=%s)", ox_out(n, 0), x, lo);
  else if (!lo) ox_emit(n, "%s = clamp(%s, max=%s)", ox_out(n, 0), x, hi);
  else ox_emit(n, "%s = clamp(%s, min=%s, max=%s)", ox_out(n, 0), x, lo, hi);
}

/* A float attribute as a constant number of the language (finite). */
static const char *attr_num(OxNode *n, const char *name, double def) {
  double v = ox_attr_float(n, name, def);
  if (!isfinite(v)) ox_fail(n, "attribute %s must be finite", name);
  return ox_num(n, v);
}

/* The activations with attributes: Elu, Celu, Selu (gamma · elu), LeakyRelu, HardSigmoid
 * (clamp(alpha x + beta, 0, 1)), ThresholdedRelu (x where x > alpha, else 0). */
static void cv_elu(OxNode *n) { ox_emit(n, "%s = elu(%s, alpha=%s)", ox_out(n, 0), ox_f(n, 0), attr_num(n, "alpha", 1)); }
static void cv_celu(OxNode *n) {
  if (ox_attr_float(n, "alpha", 1) == 0) ox_fail(n, "alpha must not be 0");
  ox_emit(n, "%s = celu(%s, alpha=%s)", ox_out(n, 0), ox_f(n, 0), attr_num(n, "alpha", 1));
}
static void cv_selu(OxNode *n) {
  ox_emit(n, "%s = %s * elu(%s, alpha=%s)", ox_out(n, 0), attr_num(n, "gamma", 1.05070102214813232421875), ox_f(n, 0),
          attr_num(n, "alpha", 1.67326319217681884765625));
}
static void cv_leaky_relu(OxNode *n) {
  ox_emit(n, "%s = leaky_relu(%s, slope=%s)", ox_out(n, 0), ox_f(n, 0), attr_num(n, "alpha", 0.01));
}
static void cv_hard_sigmoid(OxNode *n) {
  ox_emit(n, "%s = clamp(%s * %s + %s, min=0, max=1)", ox_out(n, 0), attr_num(n, "alpha", 0.2), ox_f(n, 0),
          attr_num(n, "beta", 0.5));
}
static void cv_thresholded_relu(OxNode *n) {
  const char *x = ox_f(n, 0);
  ox_emit(n, "%s = where(%s > %s, %s, 0)", ox_out(n, 0), x, attr_num(n, "alpha", 1), x);
}

/* PRelu: where(x < 0, slope x, x), the slope broadcast to x (unidirectionally). A 1-D
 * slope of one value per channel (dimension 1 of x) gets trailing unit dimensions: before
 * opset 7 that is PRelu's definition; after, numpy's broadcasting would refuse it (or
 * match it to the last dimension, which is kept when it fits). */
static void cv_prelu(OxNode *n) {
  const char *x = ox_f(n, 0), *w = ox_f(n, 1);
  const OxValue *vx = n->in[0], *vw = n->in[1];
  if (vw->rank == 1 && vx->rank > 2 && vw->dims[0] > 1 && vw->dims[0] == vx->dims[1] &&
      (n->opset < 7 || vx->dims[vx->rank - 1] != vw->dims[0])) {
    int64_t dims[OX_MAX_RANK] = {vw->dims[0]};
    for (int d = 2; d < vx->rank; d++) dims[d - 1] = 1;
    w = expr_fmt(n, "reshape(%s, %s)", w, ox_list(n, dims, vx->rank - 1));
  }
  ox_emit(n, "%s = where(%s < 0, %s * %s, %s)", ox_out(n, 0), x, w, x, x);
}

/* The comparisons: the language's, an f32 0/1 mask (ONNX bool). */
static void compare(OxNode *n, const char *op) {
  binary(n, op);
  n->out_type[0] = OX_T_BOOL;
}
static void cv_equal(OxNode *n) { compare(n, "=="); }
static void cv_greater(OxNode *n) { compare(n, ">"); }
static void cv_less(OxNode *n) { compare(n, "<"); }
static void cv_greater_equal(OxNode *n) { compare(n, ">="); }
static void cv_less_equal(OxNode *n) { compare(n, "<="); }

/* Logic on 0/1 masks: And a·b, Or maximum(a, b), Xor a != b, Not 1 - a. */
static void cv_and(OxNode *n) { compare(n, "*"); }
static void cv_xor(OxNode *n) { compare(n, "!="); }
static void cv_or(OxNode *n) {
  const char *a = ox_f(n, 0), *b = ox_f(n, 1);
  ox_emit(n, "%s = maximum(%s, %s)", ox_out(n, 0), a, b);
  n->out_type[0] = OX_T_BOOL;
}
static void cv_not(OxNode *n) {
  ox_emit(n, "%s = 1 - %s", ox_out(n, 0), ox_f(n, 0));
  n->out_type[0] = OX_T_BOOL;
}

/* Where: where(condition, x, y); the result has x's type. */
static void cv_where(OxNode *n) {
  ox_emit(n, "%s = where(%s, %s, %s)", ox_out(n, 0), ox_f(n, 0), ox_f(n, 1), ox_f(n, 2));
  if (ox_has(n, 1)) n->out_type[0] = n->in[1]->type;
}

static bool castable(int type) { return type == OX_T_FLOAT || is_int(type) || type == OX_T_BOOL; }

/* Cast between float, int32, int64 and bool: float to an integer truncates, anything to
 * bool is x != 0, the rest keeps the value (integers are held exactly). */
static void cv_cast(OxNode *n) {
  int to = (int)ox_attr_int(n, "to", 0), from = n->in[0] ? n->in[0]->type : 0;
  if (!castable(to)) ox_fail(n, "a cast to %s is not supported (float, int32, int64, bool)", ox_type_name(to));
  if (!castable(from)) ox_fail(n, "a cast from %s is not supported (float, int32, int64, bool)", ox_type_name(from));
  n->out_type[0] = to;
  const char *y = ox_out(n, 0);
  if (to == OX_T_BOOL && from != OX_T_BOOL) ox_emit(n, "%s = %s != 0", y, ox_f(n, 0));
  else if (is_int(to) && from == OX_T_FLOAT) ox_emit(n, "%s = %s", y, trunc_of(n, ox_f(n, 0)));
  else if (is_int(to) && n->in[0]->i32) ox_emit(n, "%s = %s", y, ox_i(n, 0));
  else ox_emit(n, "%s = %s", y, ox_f(n, 0));
}

/* Dropout at inference: the identity, and a mask of ones (the input's type before opset
 * 10, bool since). Opset 12's training_mode input, when true, draws random masks, which
 * no test can match: supported only with a ratio known to be 0. */
static void cv_dropout(OxNode *n) {
  double v[1];
  if (n->opset >= 12 && ox_has(n, 2) && ox_need_const(n, 2, "training_mode", v, 1) && v[0] != 0) {
    if (!ox_has(n, 1)) ox_fail(n, "training mode with the default ratio 0.5 (random masks) is not supported");
    if (ox_need_const(n, 1, "ratio", v, 1) != 1 || v[0] != 0)
      ox_fail(n, "training mode with a nonzero ratio (random masks) is not supported");
  }
  const char *x = ox_f(n, 0);
  ox_emit(n, "%s = %s", ox_out(n, 0), x);
  if (n->nout > 1 && n->out[1]) {
    ox_emit(n, "%s = (%s != %s) * 0 + 1", ox_out(n, 1), x, x);
    n->out_type[1] = n->opset >= 10 ? OX_T_BOOL : n->in[0]->type;
  }
}

/* y = f(x) for a function of the language with ONNX's name. */
typedef struct { const char *onnx, *grad; } Unary;
static const Unary unaries[] = {
    {"Relu", "relu"},   {"Exp", "exp"},   {"Log", "log"},       {"Sqrt", "sqrt"},     {"Abs", "abs"},
    {"Tanh", "tanh"},   {"Sigmoid", "sigmoid"}, {"Sin", "sin"},  {"Cos", "cos"},      {"Erf", "erf"},
    {"Sign", "sign"},   {"Floor", "floor"}, {"Ceil", "ceil"},    {"Round", "round"},  {"Reciprocal", "reciprocal"},
    {"Softsign", "softsign"}, {"Softplus", "softplus"}, {"HardSwish", "hardswish"},
    {NULL, NULL},
};
static void cv_unary(OxNode *n) {
  const char *op = n->p->op_type;
  for (const Unary *u = unaries; u->onnx; u++)
    if (!strcmp(u->onnx, op)) {
      ox_emit(n, "%s = %s(%s)", ox_out(n, 0), u->grad, ox_f(n, 0));
      return;
    }
  ox_fail(n, "no translation");
}

static void cv_neg(OxNode *n) { ox_emit(n, "%s = -%s", ox_out(n, 0), ox_f(n, 0)); }
static void cv_identity(OxNode *n) { ox_emit(n, "%s = %s", ox_out(n, 0), n->in[0] && n->in[0]->i32 ? ox_i(n, 0) : ox_f(n, 0)); }

/* Constant: the value attribute (a tensor), or value_float(s) / value_int(s). */
static void cv_constant(OxNode *n) {
  const Onnx__AttributeProto *a = ox_attr(n, "value");
  if (a && a->t) {
    char err[512];
    int64_t count;
    const Onnx__TensorProto *t = a->t;
    int type = t->data_type;
    if (type != OX_T_FLOAT && type != OX_T_INT32 && type != OX_T_INT64 && type != OX_T_BOOL)
      ox_fail(n, "a constant of element type %s is not supported", ox_type_name(type));
    double *v = ox_tensor_values(t, ".", &count, err, sizeof err);
    if (!v) ox_fail(n, "%s", err);
    int64_t dims[OX_MAX_RANK];
    if (t->n_dims > OX_MAX_RANK) ox_fail(n, "rank %zu is more than 8", t->n_dims);
    for (size_t d = 0; d < t->n_dims; d++) dims[d] = t->dims[d];
    ox_known(n, 0, type, (int)t->n_dims, dims, v);
    free(v);
    return;
  }
  double vals[4096];
  int64_t ints[4096];
  int c;
  if ((a = ox_attr(n, "value_float"))) { vals[0] = a->f; ox_known(n, 0, OX_T_FLOAT, 0, NULL, vals); return; }
  if ((a = ox_attr(n, "value_int"))) { vals[0] = (double)a->i; ox_known(n, 0, OX_T_INT64, 0, NULL, vals); return; }
  if ((c = ox_attr_floats(n, "value_floats", vals, 4096)) >= 0) {
    int64_t d = c;
    ox_known(n, 0, OX_T_FLOAT, 1, &d, vals);
    return;
  }
  if ((c = ox_attr_ints(n, "value_ints", ints, 4096)) >= 0) {
    for (int i = 0; i < c; i++) vals[i] = (double)ints[i];
    int64_t d = c;
    ox_known(n, 0, OX_T_INT64, 1, &d, vals);
    return;
  }
  ox_fail(n, "a Constant without a value, value_float(s) or value_int(s) attribute (sparse and string constants are not supported)");
}

const OxOp ox_ops_elem[] = {
    {"Add", cv_add, 2}, {"Sub", cv_sub, 2}, {"Mul", cv_mul, 2}, {"Div", cv_div, 2}, {"Neg", cv_neg, 1},
    {"Relu", cv_unary, 1}, {"Exp", cv_unary, 1}, {"Log", cv_unary, 1}, {"Sqrt", cv_unary, 1}, {"Abs", cv_unary, 1},
    {"Tanh", cv_unary, 1}, {"Sigmoid", cv_unary, 1}, {"Sin", cv_unary, 1}, {"Cos", cv_unary, 1}, {"Erf", cv_unary, 1},
    {"Sign", cv_unary, 1}, {"Floor", cv_unary, 1}, {"Ceil", cv_unary, 1}, {"Round", cv_unary, 1},
    {"Reciprocal", cv_unary, 1}, {"Softsign", cv_unary, 1}, {"Softplus", cv_unary, 1}, {"HardSwish", cv_unary, 1},
    {"Identity", cv_identity, 1}, {"Constant", cv_constant, 0},
    {"Pow", cv_pow, 2}, {"Mod", cv_mod, 2}, {"Max", cv_max, 1}, {"Min", cv_min, 1}, {"Sum", cv_sum, 1}, {"Mean", cv_mean, 1},
    {"Clip", cv_clip, 1}, {"Elu", cv_elu, 1}, {"Celu", cv_celu, 1}, {"Selu", cv_selu, 1}, {"LeakyRelu", cv_leaky_relu, 1},
    {"HardSigmoid", cv_hard_sigmoid, 1}, {"ThresholdedRelu", cv_thresholded_relu, 1}, {"PRelu", cv_prelu, 2},
    {"Equal", cv_equal, 2}, {"Greater", cv_greater, 2}, {"Less", cv_less, 2}, {"GreaterOrEqual", cv_greater_equal, 2},
    {"LessOrEqual", cv_less_equal, 2}, {"And", cv_and, 2}, {"Or", cv_or, 2}, {"Xor", cv_xor, 2}, {"Not", cv_not, 1},
    {"Where", cv_where, 3}, {"Cast", cv_cast, 1}, {"Dropout", cv_dropout, 1},
    {NULL, NULL, 0},
};
