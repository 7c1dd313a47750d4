/* signature.c — the operators of the language as calls (signature.h): the table, and
 * binding a call's arguments to it with the messages a user sees when a call does not
 * fit, PyTorch's spellings included. */
#include "signature.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

const Signature gc_calls[CALL__COUNT] = {
#define X(e, nm, req, ...) [CALL_##e] = {nm, {__VA_ARGS__}, req},
    GC_CALLS(X)
#undef X
};

int call_find(const char *name) {
  for (int i = 0; i < CALL__COUNT; i++)
    if (!strcmp(gc_calls[i].name, name)) return i;
  return -1;
}

int call_names(const char ***names) {
  static const char *n[CALL__COUNT];
  for (int i = 0; i < CALL__COUNT; i++) n[i] = gc_calls[i].name;
  *names = n;
  return CALL__COUNT;
}

/* PyTorch's names for what gradc spells otherwise. */
static const struct {
  const char *torch, *hint;
} torch_ops[] = {
    {"matmul", "the matrix product is the operator @, with torch.matmul semantics: a @ b"},
    {"mm", "the matrix product is the operator @: a @ b"},
    {"bmm", "the matrix product is the operator @, batched for 3-D operands: a @ b"},
    {"dot", "the matrix product is the operator @, a dot product for 1-D operands: a @ b"},
    {"linear", "write the affine map out: x @ w + b"},
    {"mse_loss", "did you mean 'mse'? PyTorch's mse_loss is mse here"},
    {"binary_cross_entropy_with_logits", "did you mean 'bce_with_logits'? PyTorch's binary_cross_entropy_with_logits "
                                         "is bce_with_logits here"},
    {"view", "did you mean 'reshape'? PyTorch's view is reshape here"},
    {"permute", "did you mean 'transpose'? With perm=[..] it is PyTorch's permute"},
    {"amax", "did you mean 'max'? With axis=[..] it is PyTorch's amax"},
    {"amin", "did you mean 'min'? With axis=[..] it is PyTorch's amin"},
    {"vector_norm", "did you mean 'norm'? norm(x, p, axis) is torch.linalg.vector_norm"},
    {"pow", "powers are the operator **, with torch.pow semantics: x ** y"},
    {"clip", "did you mean 'clamp'? PyTorch's clip is clamp here"},
    {"logical_not", "a comparison gives a 0/1 float mask m: its negation is 1 - m (or x == 0)"},
};

#define OPERATOR_REFERENCE " (all operators: README.md, section \"Operators\")"

_Noreturn void call_unknown(Diag *d, SrcLoc loc, const char *name) {
  for (size_t t = 0; t < sizeof torch_ops / sizeof torch_ops[0]; t++)
    if (!strcmp(name, torch_ops[t].torch))
      diag_error(d, loc, "unknown operator '%s'; %s" OPERATOR_REFERENCE, name, torch_ops[t].hint);
  const char **names, *near[3];
  int k = diag_nearest_n(name, names, call_names(&names), near, 3);
  if (k == 0) diag_error(d, loc, "unknown operator '%s'" OPERATOR_REFERENCE, name);
  if (k == 1) diag_error(d, loc, "unknown operator '%s'; did you mean '%s'?" OPERATOR_REFERENCE, name, near[0]);
  if (k == 2)
    diag_error(d, loc, "unknown operator '%s'; did you mean '%s' or '%s'?" OPERATOR_REFERENCE, name, near[0], near[1]);
  diag_error(d, loc, "unknown operator '%s'; did you mean '%s', '%s' or '%s'?" OPERATOR_REFERENCE, name, near[0],
             near[1], near[2]);
}

/* Arguments PyTorch names otherwise (a message for a PyTorch spelling says the gradc one). */
static const struct {
  const char *torch, *gradc, *note;
} torch_kwargs[] = {
    {"dim", "axis", "gradc's name for PyTorch's dim"},
    {"keepdim", "keepdims", "with an s, as in NumPy"},
    {"negative_slope", "slope", "gradc's name for PyTorch's negative_slope"},
    {"alpha", "slope", "the negative slope, PyTorch's negative_slope"},
    {"kernel_size", "k", "the window size, PyTorch's kernel_size"},
    {"weight", "w", "the weight, PyTorch's weight"},
    {"bias", "b", "the bias, PyTorch's bias"},
    {"input", "x", "the operand, PyTorch's input"},
    {"input", "pred", "the prediction, PyTorch's input"},
    {"target", "labels", "the class labels or probabilities, PyTorch's target"},
    {"unbiased", "correction", "correction=1 is unbiased=True, correction=0 is unbiased=False"},
    {"ord", "p", "the order of the norm, torch.linalg.norm's ord"},
    /* ---- attention (issue 15) ---- */
    {"is_causal", "causal", "PyTorch's is_causal"},
    {"query", "q", "the queries, PyTorch's query"},
    {"key", "k", "the keys, PyTorch's key"},
    {"value", "v", "the values, PyTorch's value"},
};

_Noreturn static void unknown_kwarg(Diag *d, const Signature *bi, int np, const char *kw, SrcLoc loc) {
  for (size_t t = 0; t < sizeof torch_kwargs / sizeof torch_kwargs[0]; t++) {
    if (strcmp(kw, torch_kwargs[t].torch)) continue;
    for (int j = 0; j < np; j++)
      if (!strcmp(bi->params[j], torch_kwargs[t].gradc))
        diag_error(d, loc, "'%s' has no argument '%s'; did you mean '%s'? (%s)", bi->name, kw, bi->params[j],
                   torch_kwargs[t].note);
  }
  const char *near = diag_nearest(kw, bi->params, np);
  if (near) diag_error(d, loc, "'%s' has no argument '%s'; did you mean '%s'?", bi->name, kw, near);
  diag_error(d, loc, "'%s' has no argument '%s'", bi->name, kw);
}

void call_bind(Diag *d, CallId id, const Expr *call, Expr **slot) {
  const Signature *bi = &gc_calls[id];
  int np = 0;
  while (np < CALL_MAXP && bi->params[np]) np++;
  if (call->nargs > np)
    diag_error(d, call->args[np]->loc, "'%s' takes at most %d argument%s", bi->name, np, np == 1 ? "" : "s");
  for (int i = 0; i < CALL_MAXP; i++) slot[i] = NULL;
  for (int i = 0; i < call->nargs; i++) slot[i] = call->args[i];
  for (int i = 0; i < call->nkw; i++) {
    int j = 0;
    while (j < np && strcmp(bi->params[j], call->kwnames[i])) j++;
    if (j == np) unknown_kwarg(d, bi, np, call->kwnames[i], call->kwlocs[i]);
    if (slot[j]) diag_error(d, call->kwlocs[i], "argument '%s' of '%s' given twice", bi->params[j], bi->name);
    slot[j] = call->kwargs[i];
  }
  for (int j = 0; j < bi->nreq; j++)
    if (!slot[j]) diag_error(d, call->loc, "'%s' needs argument '%s'", bi->name, bi->params[j]);
}

/* ---------------------------------------------------------------- constant arguments */

double arg_num(const ArgReader *r, const Expr *e, double def) {
  double v;
  if (!e) return def;
  if (!r->number(r->ctx, e, &v)) diag_error(r->d, e->loc, "expected a constant number");
  return v;
}

bool arg_flag(const ArgReader *r, const Expr *e, bool def) {
  if (!e) return def;
  if (e->kind == EX_NAME && !strcmp(e->name, "true")) return true;
  if (e->kind == EX_NAME && !strcmp(e->name, "false")) return false;
  if (e->kind == EX_NAME && (!strcmp(e->name, "True") || !strcmp(e->name, "False")))
    diag_error(r->d, e->loc, "expected true or false (lowercase: Python's %s is %s here)", e->name,
               e->name[0] == 'T' ? "true" : "false");
  diag_error(r->d, e->loc, "expected true or false");
}

/* '"a", "b" or "c"' into buf. */
static const char *choice_list(const char *const *choices, char *buf, size_t len) {
  int n = 0;
  while (choices[n]) n++;
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < n && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? " or " : ", ", choices[i]);
  return buf;
}

int arg_choice(const ArgReader *r, const Expr *e, const char *what, const char *const *choices, int def) {
  if (!e) return def;
  char list[256];
  int n = 0;
  while (choices[n]) n++;
  choice_list(choices, list, sizeof list);
  if (e->kind != EX_STR) {
    for (int i = 0; e->kind == EX_NAME && i < n; i++) /* reduction=sum: the value without its quotes */
      if (!strcmp(e->name, choices[i]))
        diag_error(r->d, e->loc, "%s must be a string in quotes: %s=\"%s\"", what, what, choices[i]);
    diag_error(r->d, e->loc, "%s must be %s (a string in quotes)", what, list);
  }
  for (int i = 0; i < n; i++)
    if (!strcmp(e->name, choices[i])) return i;
  const char *near = diag_nearest(e->name, choices, n);
  if (near) diag_error(r->d, e->loc, "%s must be %s, got \"%s\"; did you mean \"%s\"?", what, list, e->name, near);
  diag_error(r->d, e->loc, "%s must be %s, got \"%s\"", what, list, e->name);
}

double arg_range(const ArgReader *r, const Expr *e, double def, double lo, bool lo_open, double hi, const char *what) {
  double v = arg_num(r, e, def);
  if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) {
    if (isinf(hi)) diag_error(r->d, e->loc, "%s must be %s %g, got %g", what, lo_open ? ">" : ">=", lo, v);
    diag_error(r->d, e->loc, "%s must be in %c%g, %g], got %g", what, lo_open ? '(' : '[', lo, hi, v);
  }
  return v;
}

int arg_axis_or_all(const ArgReader *r, const Expr *e, int rank, const char *op) {
  if (!e) return -1;
  if (e->kind == EX_LIST)
    diag_error(r->d, e->loc, "%s takes one axis (an integer) or none, as torch.%s; not a list", op, op);
  return arg_axis(r, e, rank);
}

Reduction arg_reduction(const ArgReader *r, const Expr *e, bool batchmean) {
  static const char *const plain[] = {"mean", "sum", "none", NULL};
  static const char *const kl[] = {"mean", "sum", "none", "batchmean", NULL};
  return (Reduction)arg_choice(r, e, "reduction", batchmean ? kl : plain, RED_MEAN);
}

double arg_norm_p(const ArgReader *r, const Expr *e) {
  if (!e) return 2;
  if (e->kind == EX_NAME && !strcmp(e->name, "inf")) return INFINITY;
  double v;
  if (e->kind == EX_STR || !r->number(r->ctx, e, &v) || (v != 1 && v != 2))
    diag_error(r->d, e->loc, "norm's p must be 1, 2 or inf (torch's float('inf'))");
  return v;
}

int arg_axis(const ArgReader *r, const Expr *e, int rank) {
  double v;
  if (!r->number(r->ctx, e, &v) || v != floor(v)) diag_error(r->d, e->loc, "an axis must be an integer");
  if (v < -rank || v >= rank || rank == 0)
    diag_error(r->d, e->loc, "axis %g is out of range for a tensor of rank %d", v, rank);
  return v < 0 ? (int)v + rank : (int)v;
}

unsigned arg_axes(const ArgReader *r, const Expr *e, int rank) {
  if (!e) return rank ? (1u << rank) - 1 : 0;
  if (e->kind != EX_LIST) return 1u << arg_axis(r, e, rank);
  unsigned m = 0;
  for (int i = 0; i < e->nargs; i++) {
    unsigned bit = 1u << arg_axis(r, e->args[i], rank);
    if (m & bit) diag_error(r->d, e->args[i]->loc, "axis repeated");
    m |= bit;
  }
  return m;
}

int arg_pos_int(const ArgReader *r, const Expr *e, int def, int min, const char *what) {
  double v = arg_num(r, e, def);
  if (v != floor(v) || v < min || v > 65535) diag_error(r->d, e->loc, "%s must be an integer >= %d", what, min);
  return (int)v;
}

void arg_perm(const ArgReader *r, const Expr *call, const Expr *e, int rank, int *perm) {
  if (!e) {
    if (rank != 2) diag_error(r->d, call->loc, "transpose of a rank-%d tensor needs perm=[...]", rank);
    perm[0] = 1, perm[1] = 0;
    return;
  }
  if (e->kind != EX_LIST || e->nargs != rank) diag_error(r->d, e->loc, "perm must list each of the %d axes once", rank);
  unsigned seen = 0;
  for (int i = 0; i < rank; i++) {
    perm[i] = arg_axis(r, e->args[i], rank);
    if (seen & (1u << perm[i])) diag_error(r->d, e->args[i]->loc, "axis repeated in perm");
    seen |= 1u << perm[i];
  }
}

int arg_sizes(const ArgReader *r, const Expr *l, int max_rank, int64_t *s, int *infer, int64_t *known) {
  if (l->kind != EX_LIST || l->nargs > max_rank)
    diag_error(r->d, l->loc, "reshape needs a list of at most %d sizes, e.g. [4, -1]", max_rank);
  *infer = -1, *known = 1;
  for (int i = 0; i < l->nargs; i++) {
    double v = arg_num(r, l->args[i], 0);
    if (v == -1 && *infer < 0) {
      *infer = i, s[i] = -1;
      continue;
    }
    if (v < 1 || v != floor(v) || v > 2147483647.0)
      diag_error(r->d, l->args[i]->loc, "a size must be a positive integer (one -1 allowed)");
    s[i] = (int64_t)v;
    *known *= s[i];
    if (*known > (int64_t)1 << 31) diag_error(r->d, l->loc, "reshape to more than 2^31 elements");
  }
  return l->nargs;
}

/* ---------------------------------------------------------------- indexing (issue 15) */

int64_t arg_int(const ArgReader *r, const Expr *e, const char *what) {
  double v;
  if (!r->number(r->ctx, e, &v) || v != floor(v) || fabs(v) > 2147483647.0)
    diag_error(r->d, e->loc, "%s must be an integer", what);
  return (int64_t)v;
}

int arg_ints(const ArgReader *r, const Expr *e, int max, int64_t *v, const char *what) {
  if (e->kind != EX_LIST || e->nargs > max)
    diag_error(r->d, e->loc, "%s must be a list of at most %d integers, e.g. [1, 1]", what, max);
  for (int i = 0; i < e->nargs; i++) v[i] = arg_int(r, e->args[i], what);
  return e->nargs;
}

const Expr *arg_tensor_list(const ArgReader *r, const Expr *call, const Expr *e) {
  if (e->kind != EX_LIST)
    diag_error(r->d, e->loc, "'%s' takes a list of tensors in brackets, e.g. %s([a, b], axis=1)", call->name,
               call->name);
  if (e->nargs == 0) diag_error(r->d, e->loc, "'%s' needs at least one tensor in its list", call->name);
  return e;
}

int arg_new_axis(const ArgReader *r, const Expr *e, int rank) {
  int64_t v = arg_int(r, e, "an axis");
  if (v < -rank - 1 || v > rank)
    diag_error(r->d, e->loc, "axis %lld is out of range for a result of rank %d (from %d to %d)", (long long)v,
               rank + 1, -rank - 1, rank);
  return v < 0 ? (int)v + rank + 1 : (int)v;
}

/* ---- normalization (issue 15) ---- */

int arg_normalized_shape(const ArgReader *r, const Expr *e, int rank, const int64_t *shape, const char *shape_text) {
  int k = e->kind == EX_LIST ? e->nargs : 1;
  if (k < 1 || k > rank)
    diag_error(r->d, e->loc, "layer_norm: normalized_shape must list 1 to %d trailing sizes of the input %s", rank < 1 ? 1 : rank,
               shape_text);
  for (int i = 0; i < k; i++) {
    const Expr *a = e->kind == EX_LIST ? e->args[i] : e;
    double v = arg_num(r, a, 0);
    if (v != (double)shape[rank - k + i])
      diag_error(r->d, a->loc,
                 "layer_norm: normalized_shape must be the trailing sizes of the input %s (as torch's layer_norm: input [*, "
                 "normalized_shape]): size %d is %g, the input's is %lld",
                 shape_text, i, v, (long long)shape[rank - k + i]);
  }
  return k;
}

/* ---- batch norm and buffers (issue 15) ---- */
double arg_momentum(const ArgReader *r, const Expr *e) {
  if (e && e->kind == EX_NAME && !strcmp(e->name, "none"))
    diag_error(r->d, e->loc, "batch_norm: momentum=none (PyTorch's cumulative moving average) is not supported; give "
               "a number in [0, 1] (PyTorch's default is 0.1)");
  return arg_range(r, e, 0.1, 0, false, 1, "momentum");
}

double arg_eps(const ArgReader *r, const Expr *e) {
  double v = arg_num(r, e, 1e-5);
  if (!(v > 0) || !isfinite(v)) diag_error(r->d, e->loc, "eps must be a number > 0");
  return v;
}
