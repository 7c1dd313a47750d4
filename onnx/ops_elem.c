/* ops_elem.c — ONNX's elementwise operators: arithmetic with numpy broadcasting (the
 * language broadcasts the same way), activations, comparisons and logic on masks, Cast,
 * Constant, Identity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"

/* y = a OP b */
static void binary(OxNode *n, const char *op) { ox_emit(n, "%s = %s %s %s", ox_out(n, 0), ox_f(n, 0), op, ox_f(n, 1)); }
static void cv_add(OxNode *n) { binary(n, "+"); }
static void cv_sub(OxNode *n) { binary(n, "-"); }
static void cv_mul(OxNode *n) { binary(n, "*"); }

/* Integer division truncates toward zero (C's, as onnxruntime's). */
static void cv_div(OxNode *n) {
  if (n->out_type[0] == OX_T_FLOAT) binary(n, "/");
  else ox_emit(n, "%s = float(int(%s / %s))", ox_out(n, 0), ox_f(n, 0), ox_f(n, 1));
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
    {"Add", cv_add}, {"Sub", cv_sub}, {"Mul", cv_mul}, {"Div", cv_div}, {"Neg", cv_neg},
    {"Relu", cv_unary}, {"Exp", cv_unary}, {"Log", cv_unary}, {"Sqrt", cv_unary}, {"Abs", cv_unary},
    {"Tanh", cv_unary}, {"Sigmoid", cv_unary}, {"Sin", cv_unary}, {"Cos", cv_unary}, {"Erf", cv_unary},
    {"Sign", cv_unary}, {"Floor", cv_unary}, {"Ceil", cv_unary}, {"Round", cv_unary},
    {"Reciprocal", cv_unary}, {"Softsign", cv_unary}, {"Softplus", cv_unary}, {"HardSwish", cv_unary},
    {"Identity", cv_identity}, {"Constant", cv_constant},
    {NULL, NULL},
};
