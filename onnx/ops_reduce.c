/* ops_reduce.c — ONNX's reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/
 * SumSquare onto the language's sum/mean/max/min/prod/norm/logsumexp, which take a list of
 * axes), ArgMax/ArgMin (argmax/argmin; select_last_index through a mask of the extremes),
 * and the losses NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (nll_loss and
 * cross_entropy for [N, C] without ignore_index, else a gather of the labels' entries with
 * a class-weight table whose ignored class weighs 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"

/* ---- the reductions ---- */

/* The reduced axes as a list ("[0, 2]"), or NULL for every axis; *noop is set when
 * the node reduces nothing (an empty axes input with noop_with_empty_axes). */
static const char *reduce_axes(OxNode *n, bool *noop) {
  int64_t axes[OX_MAX_RANK];
  int count = -1, rank = n->in[0] ? n->in[0]->rank : 0;
  *noop = false;
  bool from_input = !strcmp(n->p->op_type, "ReduceSum") && n->opset >= 13;
  if (from_input) {
    if (ox_has(n, 1)) count = ox_need_ints(n, 1, "axes", axes, OX_MAX_RANK);
    if (count <= 0 && ox_attr_int(n, "noop_with_empty_axes", 0)) {
      *noop = true;
      return NULL;
    }
  } else {
    count = ox_attr_ints(n, "axes", axes, OX_MAX_RANK);
  }
  if (count <= 0) return NULL;
  for (int i = 0; i < count; i++) axes[i] = ox_axis(n, axes[i], rank);
  for (int i = 0; i < count; i++)
    for (int j = 0; j < i; j++)
      if (axes[i] == axes[j]) ox_fail(n, "axis %lld is repeated in axes", (long long)axes[i]);
  return ox_list(n, axes, count);
}

/* y = PRE call(ARG(x), axis, keepdims) POST; frac: the result of integers may be
 * fractional (then truncated toward zero for an integer tensor, as numpy's astype). */
typedef struct { const char *onnx, *pre, *call, *arg, *post; bool frac; } Reduction;
static const Reduction reductions[] = {
    {"ReduceSum", "", "sum", "%s", "", false},
    {"ReduceMean", "", "mean", "%s", "", true},
    {"ReduceMax", "", "max", "%s", "", false},
    {"ReduceMin", "", "min", "%s", "", false},
    {"ReduceProd", "", "prod", "%s", "", false},
    {"ReduceL1", "", "norm", "%s, p=1", "", false},
    {"ReduceL2", "", "norm", "%s, p=2", "", true},
    {"ReduceLogSumExp", "", "logsumexp", "%s", "", true},
    {"ReduceSumSquare", "", "sum", "square(%s)", "", false},
    {"ReduceLogSum", "log(", "sum", "%s", ")", true},
    {NULL, NULL, NULL, NULL, NULL, false},
};

/* Reduce*(data[, axes]) with keepdims (default 1) onto the language's reduction with a
 * list of axes (absent: every axis). ReduceSum takes its axes as an input from opset 13,
 * with noop_with_empty_axes; an empty list reduces every axis otherwise. */
static void cv_reduce(OxNode *n) {
  const Reduction *r = reductions;
  while (r->onnx && strcmp(r->onnx, n->p->op_type)) r++;
  if (!r->onnx) ox_fail(n, "no translation");
  bool noop;
  const char *axes = reduce_axes(n, &noop);
  const char *x = ox_f(n, 0);
  if (noop) {
    ox_emit(n, "%s = %s", ox_out(n, 0), x);
    return;
  }
  char arg[512];
  snprintf(arg, sizeof arg, r->arg, x);
  bool trunc = r->frac && n->in[0]->type != OX_T_FLOAT && n->in[0]->type != OX_T_BOOL;
  const char *y = trunc ? ox_tmp(n) : ox_out(n, 0);
  ox_emit(n, "%s = %s%s(%s%s%s, keepdims=%s)%s", y, r->pre, r->call, arg, axes ? ", axis=" : "",
          axes ? axes : "", ox_attr_int(n, "keepdims", 1) ? "true" : "false", r->post);
  if (trunc) ox_emit(n, "%s = sign(%s) * floor(abs(%s))", ox_out(n, 0), y, y);
}

/* ---- ArgMax, ArgMin ---- */

/* ArgMax/ArgMin(data, axis=0, keepdims=1, select_last_index=0) onto argmax/argmin (i32,
 * the first extreme). The last extreme: the largest (position + 1) among the elements equal
 * to the extreme (or NaN: a NaN is the extreme, as numpy's), minus 1, as f32. */
static void cv_arg(OxNode *n) {
  bool max = !strcmp(n->p->op_type, "ArgMax");
  int rank = n->in[0]->rank;
  if (rank < 1) ox_fail(n, "the input must have rank 1 or more, got a scalar");
  int axis = ox_axis(n, ox_attr_int(n, "axis", 0), rank);
  const char *keep = ox_attr_int(n, "keepdims", 1) ? "true" : "false";
  const char *x = ox_f(n, 0), *y = ox_out(n, 0);
  n->out_type[0] = OX_T_INT64;
  if (!ox_attr_int(n, "select_last_index", 0)) {
    ox_emit(n, "%s = %s(%s, axis=%d, keepdims=%s)", y, max ? "argmax" : "argmin", x, axis, keep);
    return;
  }
  int64_t len = n->in[0]->dims[axis], dims[OX_MAX_RANK];
  double *pos = calloc((size_t)len, sizeof *pos);
  for (int64_t i = 0; i < len; i++) pos[i] = (double)(i + 1);
  for (int d = 0; d < rank; d++) dims[d] = d == axis ? len : 1;
  const char *iota = ox_const(n, "pos", rank, dims, pos);
  free(pos);
  const char *ext = ox_tmp(n), *hit = ox_tmp(n);
  ox_emit(n, "%s = %s(%s, axis=%d, keepdims=true)", ext, max ? "max" : "min", x, axis);
  ox_emit(n, "%s = (%s == %s) + (%s != %s)", hit, x, ext, x, x);
  ox_emit(n, "%s = max(%s * %s, axis=%d, keepdims=%s) - 1", y, hit, iota, axis, keep);
}

/* ---- the losses ---- */

/* The reduction attribute: "mean" (default), "sum" or "none". */
static const char *loss_reduction(OxNode *n) {
  const char *r = ox_attr_str(n, "reduction", "mean");
  if (strcmp(r, "mean") && strcmp(r, "sum") && strcmp(r, "none"))
    ox_fail(n, "reduction \"%s\" is not supported (mean, sum or none)", r);
  return r;
}

/* The negative log-likelihood of log-probabilities lp [N, C, d1, ...] (an expression of the
 * node) at the labels (input 1, [N, d1, ...]), weighted by input 2 when present, ignoring
 * ignore_index, reduced, into output 0. [N, C] without ignore_index is the language's
 * nll_loss; otherwise lp's entries at the labels are gathered (a label outside [0, C)
 * gathers 0) and weighted by a table [C, 1] read with embedding: the weight (detached, as
 * the language's losses detach theirs) or ones, 0 at the ignored class (and outside
 * [0, C)); "mean" divides by the sum of the weights read. Both read the labels reshaped,
 * so that the CLI does not refuse labels outside [0, C) (ignore_index's) as it does for
 * an input read directly as indices. */
static void nll(OxNode *n, const char *lp, const OxValue *x) {
  const char *red = loss_reduction(n), *y = ox_out(n, 0);
  const char *labels = ox_i(n, 1);
  const OxValue *t = n->in[1];
  if (x->rank < 2) ox_fail(n, "the input must be [N, C] or [N, C, d1, ...], got rank %d", x->rank);
  if (t->rank != x->rank - 1) ox_fail(n, "the labels must have rank %d, got %d", x->rank - 1, t->rank);
  int64_t C = x->dims[1];
  const Onnx__AttributeProto *ia = ox_attr(n, "ignore_index");
  bool weighted = ox_has(n, 2);
  const char *w = weighted ? ox_f(n, 2) : NULL;
  if (x->rank == 2 && !ia) {
    ox_emit(n, "%s = nll_loss(%s, %s%s%s, reduction=\"%s\")", y, lp, labels, w ? ", weight=" : "", w ? w : "", red);
    return;
  }
  int64_t dims[OX_MAX_RANK + 1];
  /* The class-weight table [C, 1]. */
  double *ones = malloc((size_t)C * sizeof *ones);
  for (int64_t c = 0; c < C; c++) ones[c] = 1;
  bool masked = ia && ia->i >= 0 && ia->i < C;
  if (masked) ones[ia->i] = 0;
  dims[0] = C, dims[1] = 1;
  const char *table = NULL;
  if (weighted) {
    table = ox_tmp(n);
    ox_emit(n, "%s = reshape(detach(%s), [%lld, 1])", table, w, (long long)C);
    if (masked) {
      const char *mt = ox_tmp(n);
      ox_emit(n, "%s = %s * %s", mt, table, ox_const(n, "keep", 2, dims, ones));
      table = mt;
    }
  } else if (masked || ia) {
    table = ox_const(n, "keep", 2, dims, ones);
  }
  free(ones);
  /* The labels as an index [N, 1, d1, ...] of lp's rank; the gathered entries [N, d1, ...]. */
  dims[0] = x->dims[0], dims[1] = 1;
  for (int d = 1; d < t->rank; d++) dims[d + 1] = t->dims[d];
  const char *idx = ox_tmp(n), *g = ox_tmp(n), *l = red[0] == 'n' ? y : ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", idx, labels, ox_list(n, dims, x->rank));
  ox_emit(n, "%s = reshape(gather(%s, 1, %s), %s)", g, lp, idx, ox_list(n, t->dims, t->rank));
  const char *wt = NULL;
  if (table) {
    wt = ox_tmp(n);
    ox_emit(n, "%s = reshape(embedding(%s, %s), %s)", wt, idx, table, ox_list(n, t->dims, t->rank));
    ox_emit(n, "%s = -%s * %s", l, g, wt);
  } else {
    ox_emit(n, "%s = -%s", l, g);
  }
  if (!strcmp(red, "sum")) ox_emit(n, "%s = sum(%s)", y, l);
  else if (!strcmp(red, "mean") && wt) ox_emit(n, "%s = sum(%s) / sum(%s)", y, l, wt);
  else if (!strcmp(red, "mean")) ox_emit(n, "%s = mean(%s)", y, l);
}

/* NegativeLogLikelihoodLoss(input, target[, weight]): see nll. */
static void cv_nll(OxNode *n) { nll(n, ox_f(n, 0), n->in[0]); }

/* SoftmaxCrossEntropyLoss(scores, labels[, weights]) -> (loss[, log_prob]): cross_entropy
 * for [N, C] without ignore_index and without log_prob; otherwise log_softmax along axis 1
 * (the optional output 1), then nll. */
static void cv_sce(OxNode *n) {
  const OxValue *x = n->in[0];
  bool want_lp = n->nout > 1 && n->out[1];
  if (x->rank == 2 && !ox_attr(n, "ignore_index") && !want_lp) {
    const char *red = loss_reduction(n), *w = ox_has(n, 2) ? ox_f(n, 2) : NULL;
    ox_emit(n, "%s = cross_entropy(%s, %s%s%s, reduction=\"%s\")", ox_out(n, 0), ox_f(n, 0), ox_i(n, 1),
            w ? ", weight=" : "", w ? w : "", red);
    return;
  }
  const char *lp = want_lp ? ox_out(n, 1) : ox_tmp(n);
  if (x->rank < 2) ox_fail(n, "the scores must be [N, C] or [N, C, d1, ...], got rank %d", x->rank);
  ox_emit(n, "%s = log_softmax(%s, axis=1)", lp, ox_f(n, 0));
  nll(n, lp, x);
}

const OxOp ox_ops_reduce[] = {
    {"ReduceSum", cv_reduce, 1}, {"ReduceMean", cv_reduce, 1}, {"ReduceMax", cv_reduce, 1},
    {"ReduceMin", cv_reduce, 1}, {"ReduceProd", cv_reduce, 1}, {"ReduceL1", cv_reduce, 1},
    {"ReduceL2", cv_reduce, 1}, {"ReduceLogSumExp", cv_reduce, 1}, {"ReduceSumSquare", cv_reduce, 1},
    {"ReduceLogSum", cv_reduce, 1},
    {"ArgMax", cv_arg, 1}, {"ArgMin", cv_arg, 1},
    {"NegativeLogLikelihoodLoss", cv_nll, 2}, {"SoftmaxCrossEntropyLoss", cv_sce, 2},
    {NULL, NULL, 0},
};
