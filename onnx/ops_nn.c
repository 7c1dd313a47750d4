/* ops_nn.c — ONNX's nn operators, part 1: the matrix products (Gemm, MatMul, Einsum), the
 * softmax family (Softmax, LogSoftmax, Hardmax), the normalizations (BatchNormalization,
 * InstanceNormalization, LayerNormalization) and the global pools; the helpers the family
 * shares (ops_nn.h). Convolution, pooling and Resize are in ops_nn2.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ops_nn.h"

/* ---- shared helpers ---- */

const char *nn_str(const char *fmt, ...) {
  static _Thread_local char ring[64][2048];
  static _Thread_local int next;
  char *b = ring[next++ & 63];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof ring[0], fmt, ap);
  va_end(ap);
  return b;
}

const char *nn_num(double v) {
  if (v == 0) return "0";
  return nn_str("%.9g", v);
}

const char *nn_list(const int64_t *v, int count) {
  char b[2048];
  size_t k = 0;
  b[k++] = '[';
  for (int i = 0; i < count && k < sizeof b - 32; i++) k += (size_t)snprintf(b + k, sizeof b - k, "%s%lld", i ? ", " : "", (long long)v[i]);
  b[k++] = ']', b[k] = 0;
  return nn_str("%s", b);
}

void nn_auto_pads(OxNode *n, const char *auto_pad, int sp, const int64_t *in, const int64_t *ek,
                  const int64_t *stride, int64_t *pads) {
  for (int i = 0; i < 2 * sp; i++) pads[i] = 0;
  if (!strcmp(auto_pad, "NOTSET")) {
    int c = ox_attr_ints(n, "pads", pads, 2 * sp);
    if (c >= 0 && c != 2 * sp) ox_fail(n, "pads has %d values, expected %d (begin and end of each spatial axis)", c, 2 * sp);
    return;
  }
  if (!strcmp(auto_pad, "VALID")) return;
  bool upper = !strcmp(auto_pad, "SAME_UPPER");
  if (!upper && strcmp(auto_pad, "SAME_LOWER")) ox_fail(n, "auto_pad '%s' is not supported (NOTSET, SAME_UPPER, SAME_LOWER, VALID)", auto_pad);
  for (int i = 0; i < sp; i++) {
    int64_t out = (in[i] + stride[i] - 1) / stride[i];
    int64_t total = (out - 1) * stride[i] + ek[i] - in[i];
    if (total < 0) total = 0;
    pads[i] = upper ? total / 2 : total - total / 2;
    pads[sp + i] = total - pads[i];
  }
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= d[i];
  return p;
}

/* ---- matrix products ---- */

/* Gemm: y = alpha · A' @ B' + beta · C, A' = transpose(A) when transA (likewise B); C
 * broadcasts (optional from opset 11). */
static void cv_gemm(OxNode *n) {
  double alpha = ox_attr_float(n, "alpha", 1), beta = ox_attr_float(n, "beta", 1);
  if (n->in[0]->rank != 2 || n->in[1]->rank != 2) ox_fail(n, "Gemm needs 2-D A and B");
  const char *a = ox_f(n, 0), *b = ox_f(n, 1);
  if (ox_attr_int(n, "transA", 0)) a = nn_str("transpose(%s)", a);
  if (ox_attr_int(n, "transB", 0)) b = nn_str("transpose(%s)", b);
  const char *ab = nn_str("%s @ %s", a, b);
  if (alpha != 1) ab = nn_str("(%s) * %s", ab, nn_num(alpha));
  if (ox_has(n, 2) && beta != 0) {
    const char *c = ox_f(n, 2);
    if (beta != 1) c = nn_str("%s * %s", c, nn_num(beta));
    ox_emit(n, "%s = %s + %s", ox_out(n, 0), ab, c);
  } else {
    ox_emit(n, "%s = %s", ox_out(n, 0), ab);
  }
}

/* One operand of a batched MatMul: broadcast to the batch shape bs (nb axes) and viewed
 * as [B, rows, cols]; an operand without batch axes is left as it is (@ broadcasts it). */
static const char *mm_operand(OxNode *n, int i, const int64_t *bs, int nb) {
  OxValue *v = n->in[i];
  const char *e = ox_f(n, i);
  int vb = v->rank - 2;
  if (vb <= 0) return e;
  bool same = vb == nb;
  for (int d = 0; same && d < nb; d++) same = v->dims[d] == bs[d];
  int64_t full[OX_MAX_RANK + 2];
  for (int d = 0; d < nb; d++) full[d] = bs[d];
  full[nb] = v->dims[v->rank - 2], full[nb + 1] = v->dims[v->rank - 1];
  if (!same) {
    const char *t = ox_tmp(n);
    ox_emit(n, "%s = expand(%s, %s)", t, e, nn_list(full, nb + 2));
    e = t;
  }
  if (nb == 1) return e;
  int64_t r3[3] = {prod(bs, 0, nb), full[nb], full[nb + 1]};
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", t, e, nn_list(r3, 3));
  return t;
}

/* MatMul: numpy's matmul. The language's @ takes ranks 1 to 3 with a batch of 1 broadcast;
 * other batch shapes are expanded to the broadcast batch and folded into one batch axis,
 * and the product reshaped back. */
static void cv_matmul(OxNode *n) {
  OxValue *a = n->in[0], *b = n->in[1];
  if (a->rank < 1 || b->rank < 1) ox_fail(n, "MatMul needs operands of rank 1 or more");
  int na = a->rank > 2 ? a->rank - 2 : 0, nbb = b->rank > 2 ? b->rank - 2 : 0;
  int nb = na > nbb ? na : nbb;
  int64_t bs[OX_MAX_RANK] = {0};
  for (int d = 0; d < nb; d++) {
    int64_t x = d - (nb - na) >= 0 ? a->dims[d - (nb - na)] : 1, y = d - (nb - nbb) >= 0 ? b->dims[d - (nb - nbb)] : 1;
    if (x != y && x != 1 && y != 1) ox_fail(n, "MatMul batch sizes %lld and %lld do not broadcast", (long long)x, (long long)y);
    bs[d] = x == 1 ? y : x;
  }
  bool direct = nb == 0 || na == 0 || nbb == 0 ||
                (na == 1 && nbb == 1 && (a->dims[0] == b->dims[0] || a->dims[0] == 1 || b->dims[0] == 1));
  if (direct && a->rank <= 3 && b->rank <= 3) {
    ox_emit(n, "%s = %s @ %s", ox_out(n, 0), ox_f(n, 0), ox_f(n, 1));
    return;
  }
  const char *x = mm_operand(n, 0, bs, nb), *y = mm_operand(n, 1, bs, nb);
  int64_t out[OX_MAX_RANK];
  int r = 0;
  for (int d = 0; d < nb; d++) out[r++] = bs[d];
  if (a->rank > 1) out[r++] = a->dims[a->rank - 2];
  if (b->rank > 1) out[r++] = b->dims[b->rank - 1];
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = %s @ %s", t, x, y);
  ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), t, nn_list(out, r));
}

/* An Einsum equation: its operands' letters and the output's. */
typedef struct {
  char terms[OX_MAX_IO][OX_MAX_RANK + 1], out[OX_MAX_RANK + 1];
  int nt, count[128];
  int64_t size[128];
} Eq;

static void eq_parse(OxNode *n, const char *eq, Eq *e) {
  int len = 0;
  bool arrow = false;
  memset(e, 0, sizeof *e);
  for (const char *p = eq;; p++) {
    char c = *p;
    if (c == ' ') continue;
    if (c == '.') ox_fail(n, "Einsum with an ellipsis ('...') is not supported");
    if (!arrow && (c == ',' || c == '-' || c == 0)) {
      if (e->nt >= n->nin) ox_fail(n, "the equation '%s' names more operands than the node has", eq);
      if (len != n->in[e->nt]->rank) ox_fail(n, "operand %d has rank %d, the equation gives it %d letters", e->nt, n->in[e->nt]->rank, len);
      e->nt++, len = 0;
      if (c == '-') arrow = true, p++;
      if (c == 0) break;
      continue;
    }
    if (arrow && c == 0) break;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) ox_fail(n, "unexpected '%c' in the equation '%s'", c, eq);
    if (len >= OX_MAX_RANK) ox_fail(n, "a term of '%s' has more than 8 letters", eq);
    if (arrow) {
      e->out[len++] = c;
      continue;
    }
    if (strchr(e->terms[e->nt], c)) ox_fail(n, "Einsum with a repeated letter in one operand (a diagonal) is not supported");
    e->terms[e->nt][len] = c;
    e->size[(int)c] = n->in[e->nt]->dims[len++];
    e->count[(int)c]++;
  }
  if (e->nt != n->nin) ox_fail(n, "the equation '%s' names %d operands, the node has %d", eq, e->nt, n->nin);
  if (!arrow) /* implicit output: the letters used once, in alphabetical order */
    for (int c = 'A'; c <= 'z'; c++)
      if (e->count[c] == 1 && len < OX_MAX_RANK) e->out[len++] = (char)c;
}

/* Operand i of a two-operand Einsum as a [B, rows, cols] (or [rows, cols]) matrix whose
 * axes are the letters of g0, g1, g2 in order: letters it alone has and the output lacks
 * are summed first. */
static const char *eq_matrix(OxNode *n, const Eq *e, int i, const char *g0, const char *g1, const char *g2) {
  const char *t = e->terms[i], *x = ox_f(n, i);
  int64_t ax[OX_MAX_RANK], perm[OX_MAX_RANK], sh[3] = {1, 1, 1};
  char kept[OX_MAX_RANK + 1] = "";
  int ns = 0, nk = 0;
  for (int k = 0; t[k]; k++)
    if (!strchr(e->out, t[k]) && e->count[(int)t[k]] == 1) ax[ns++] = k;
    else kept[nk++] = t[k];
  if (ns) x = nn_str("sum(%s, axis=%s)", x, nn_list(ax, ns));
  const char *gs[3] = {g0, g1, g2};
  int r = 0;
  bool ident = true;
  for (int g = 0; g < 3; g++)
    for (const char *c = gs[g]; *c; c++) ident &= (perm[r] = strchr(kept, *c) - kept) == r, r++, sh[g] *= e->size[(int)*c];
  if (!ident) x = nn_str("transpose(%s, perm=%s)", x, nn_list(perm, r));
  const char *m = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", m, x, sh[0] == 1 ? nn_list(sh + 1, 2) : nn_list(sh, 3));
  return m;
}

/* Einsum of two operands as one (batched) matrix product: batch letters (in both and the
 * output), contracted letters (in both, not the output), each operand's free letters. */
static void einsum_matmul(OxNode *n, const Eq *e) {
  char bat[OX_MAX_RANK + 1] = "", con[OX_MAX_RANK + 1] = "", fa[OX_MAX_RANK + 1] = "", fb[OX_MAX_RANK + 1] = "";
  const char *A = e->terms[0], *B = e->terms[1];
  for (const char *c = A; *c; c++) {
    char *dst = strchr(B, *c) ? (strchr(e->out, *c) ? bat : con) : strchr(e->out, *c) ? fa : NULL;
    if (dst) dst[strlen(dst)] = *c;
  }
  for (const char *c = B; *c; c++)
    if (!strchr(A, *c) && strchr(e->out, *c)) fb[strlen(fb)] = *c;
  const char *a = eq_matrix(n, e, 0, bat, fa, con), *b = eq_matrix(n, e, 1, bat, con, fb);
  char order[3 * OX_MAX_RANK + 1];
  snprintf(order, sizeof order, "%s%s%s", bat, fa, fb);
  int r = (int)strlen(order);
  int64_t sh[OX_MAX_RANK], perm[OX_MAX_RANK];
  bool ident = true;
  for (int k = 0; k < r; k++) sh[k] = e->size[(int)order[k]];
  for (int k = 0; k < r; k++) ident &= (perm[k] = strchr(order, e->out[k]) - order) == k;
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s @ %s, %s)", t, a, b, nn_list(sh, r));
  if (ident) ox_emit(n, "%s = %s", ox_out(n, 0), t);
  else ox_emit(n, "%s = transpose(%s, perm=%s)", ox_out(n, 0), t, nn_list(perm, r));
}

/* Einsum. Two operands with an output: one matrix product (einsum_matmul). Otherwise each
 * operand transposed to the order (output letters, then summed letters) and given unit axes
 * for the letters it lacks, the operands multiplied (broadcast), the summed letters summed
 * away. Ellipses and repeated letters in one operand (diagonals) are refused. */
static void cv_einsum(OxNode *n) {
  const char *eqs = ox_attr_str(n, "equation", NULL);
  if (!eqs) ox_fail(n, "Einsum without an equation");
  Eq e;
  eq_parse(n, eqs, &e);
  int nout = (int)strlen(e.out), nall = nout;
  if (e.nt == 2 && nout) {
    einsum_matmul(n, &e);
    return;
  }
  char all[2 * OX_MAX_RANK + 1];
  snprintf(all, sizeof all, "%s", e.out);
  for (int c = 'A'; c <= 'z'; c++)
    if (e.count[c] && !strchr(e.out, c)) {
      if (nall >= OX_MAX_RANK) ox_fail(n, "Einsum over more than 8 distinct letters");
      all[nall++] = (char)c, all[nall] = 0;
    }
  const char *acc = NULL;
  for (int i = 0; i < e.nt; i++) {
    int64_t perm[OX_MAX_RANK], shape[OX_MAX_RANK];
    int r = 0;
    bool ident = true;
    for (int k = 0; k < nall; k++) {
      const char *at = strchr(e.terms[i], all[k]);
      shape[k] = at ? e.size[(int)all[k]] : 1;
      if (at) ident &= (perm[r] = at - e.terms[i]) == r, r++;
    }
    const char *x = ox_f(n, i);
    if (!ident) x = nn_str("transpose(%s, perm=%s)", x, nn_list(perm, r));
    if (r != nall) x = nn_str("reshape(%s, %s)", x, nn_list(shape, nall));
    const char *t = ox_tmp(n);
    ox_emit(n, acc ? "%s = %s * %s" : "%s = %s%s", t, acc ? acc : "", x);
    acc = t;
  }
  if (nall == nout) {
    ox_emit(n, "%s = %s", ox_out(n, 0), acc);
    return;
  }
  int64_t ax[OX_MAX_RANK];
  for (int k = nout; k < nall; k++) ax[k - nout] = k;
  ox_emit(n, "%s = sum(%s, axis=%s)", ox_out(n, 0), acc, nn_list(ax, nall - nout));
}

/* ---- softmax family ---- */

/* The axis and, before opset 13, the 2-D view [d0·..·d(a-1), da·..] the operator works on
 * (NULL when the input needs no reshape). */
static int soft_axis(OxNode *n, const char **x, bool *reshaped) {
  OxValue *v = n->in[0];
  if (v->rank < 1) ox_fail(n, "needs an input of rank 1 or more");
  int a = ox_axis(n, ox_attr_int(n, "axis", n->opset >= 13 ? -1 : 1), v->rank);
  *x = ox_f(n, 0);
  *reshaped = false;
  if (n->opset >= 13 || a == v->rank - 1) return a;
  int64_t two[2] = {prod(v->dims, 0, a), prod(v->dims, a, v->rank)};
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = reshape(%s, %s)", t, *x, nn_list(two, 2));
  *x = t, *reshaped = true;
  return 1;
}

/* Softmax / LogSoftmax: along the axis (opset 13), or over the axes from it on (before). */
static void softmax_like(OxNode *n, const char *fn) {
  const char *x;
  bool reshaped;
  int a = soft_axis(n, &x, &reshaped);
  if (!reshaped) {
    ox_emit(n, "%s = %s(%s, axis=%d)", ox_out(n, 0), fn, x, a);
    return;
  }
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = %s(%s, axis=1)", t, fn, x);
  ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), t, nn_list(n->in[0]->dims, n->in[0]->rank));
}
static void cv_softmax(OxNode *n) { softmax_like(n, "softmax"); }
static void cv_logsoftmax(OxNode *n) { softmax_like(n, "log_softmax"); }

/* Hardmax: one_hot(argmax) along the axis (the first maximum, as ONNX), the new last axis
 * moved back to the axis's place. */
static void cv_hardmax(OxNode *n) {
  const char *x;
  bool reshaped;
  OxValue *v = n->in[0];
  int a = soft_axis(n, &x, &reshaped);
  int64_t depth = reshaped ? prod(v->dims, ox_axis(n, ox_attr_int(n, "axis", 1), v->rank), v->rank) : v->dims[a];
  const char *t = ox_tmp(n);
  ox_emit(n, "%s = one_hot(argmax(%s, axis=%d), %lld)", t, x, a, (long long)depth);
  if (reshaped) {
    ox_emit(n, "%s = reshape(%s, %s)", ox_out(n, 0), t, nn_list(v->dims, v->rank));
  } else if (a == v->rank - 1) {
    ox_emit(n, "%s = %s", ox_out(n, 0), t);
  } else {
    int64_t perm[OX_MAX_RANK];
    for (int d = 0; d < v->rank; d++) perm[d] = d < a ? d : d == a ? v->rank - 1 : d - 1;
    ox_emit(n, "%s = transpose(%s, perm=%s)", ox_out(n, 0), t, nn_list(perm, v->rank));
  }
}

/* ---- normalization ---- */

/* A per-channel [C] input viewed as [C, 1, ...] against an input of rank r. */
static const char *per_channel(OxNode *n, int i, int r) {
  const char *e = ox_f(n, i);
  if (r <= 2) return e;
  int64_t sh[OX_MAX_RANK] = {n->in[i]->count};
  for (int d = 1; d < r - 1; d++) sh[d] = 1;
  return nn_str("reshape(%s, %s)", e, nn_list(sh, r - 1));
}

/* BatchNormalization in training mode (opset 14's training_mode=1; before, the optional
 * mean and var outputs asked for): the batch's statistics (biased variance), and the
 * running ones updated as ONNX does, running·momentum + batch·(1 - momentum). */
static void batchnorm_training(OxNode *n, double eps, double mom) {
  OxValue *x = n->in[0];
  int r = x->rank;
  int64_t ax[OX_MAX_RANK], c = x->dims[1];
  int na = 0;
  for (int d = 0; d < r; d++)
    if (d != 1) ax[na++] = d;
  const char *mu = ox_tmp(n), *var = ox_tmp(n), *xs = ox_f(n, 0);
  ox_emit(n, "%s = mean(%s, axis=%s, keepdims=true)", mu, xs, nn_list(ax, na));
  ox_emit(n, "%s = var(%s, axis=%s, correction=0, keepdims=true)", var, xs, nn_list(ax, na));
  ox_emit(n, "%s = (%s - %s) / sqrt(%s + %s) * %s + %s", ox_out(n, 0), xs, mu, var, nn_num(eps), per_channel(n, 1, r),
          per_channel(n, 2, r));
  for (int i = 3; i < n->nout; i++)
    if (n->out[i]) ox_fail(n, "output %d (saved mean/variance of training mode) is not supported", i);
  if (n->nout > 1 && n->out[1])
    ox_emit(n, "%s = %s * %s + reshape(%s, [%lld]) * %s", ox_out(n, 1), ox_f(n, 3), nn_num(mom), mu, (long long)c, nn_num(1 - mom));
  if (n->nout > 2 && n->out[2])
    ox_emit(n, "%s = %s * %s + reshape(%s, [%lld]) * %s", ox_out(n, 2), ox_f(n, 4), nn_num(mom), var, (long long)c, nn_num(1 - mom));
}

/* BatchNormalization: with the running mean and variance initializers, the language's
 * batch_norm with them made buffers (an imported model then trains as PyTorch's BN;
 * PyTorch's momentum is 1 - ONNX's); with them graph inputs, the inference formula. */
static void cv_batchnorm(OxNode *n) {
  double eps = ox_attr_float(n, "epsilon", 1e-5), mom = ox_attr_float(n, "momentum", 0.9);
  if (ox_attr_int(n, "spatial", 1) != 1) ox_fail(n, "spatial=0 (per-activation statistics) is not supported");
  OxValue *x = n->in[0];
  if (x->rank < 2) ox_fail(n, "needs an input [N, C, ...]");
  bool extra = false;
  for (int i = 1; i < n->nout; i++) extra |= n->out[i] != NULL;
  bool training = n->opset >= 14 ? ox_attr_int(n, "training_mode", 0) != 0 : (n->opset < 7 ? !ox_attr_int(n, "is_test", 0) && extra : extra);
  if (training) {
    batchnorm_training(n, eps, mom);
    return;
  }
  if (extra) ox_fail(n, "outputs other than Y need training_mode=1");
  OxValue *m = n->in[3], *v = n->in[4];
  if (m->param && v->param && !m->buffer && !v->buffer && x->rank <= 5 && m->rank == 1 && v->rank == 1) {
    ox_make_buffer(n, 3);
    ox_make_buffer(n, 4);
    ox_emit(n, "%s = batch_norm(%s, %s, %s, weight=%s, bias=%s, momentum=%s, eps=%s)", ox_out(n, 0), ox_f(n, 0), ox_f(n, 3),
            ox_f(n, 4), ox_f(n, 1), ox_f(n, 2), nn_num(1 - mom), nn_num(eps));
    return;
  }
  int r = x->rank;
  ox_emit(n, "%s = (%s - %s) / sqrt(%s + %s) * %s + %s", ox_out(n, 0), ox_f(n, 0), per_channel(n, 3, r), per_channel(n, 4, r),
          nn_num(eps), per_channel(n, 1, r), per_channel(n, 2, r));
}

/* InstanceNormalization: group_norm with one group per channel. */
static void cv_instancenorm(OxNode *n) {
  OxValue *x = n->in[0];
  if (x->rank < 3) ox_fail(n, "needs an input [N, C, D1, ...]");
  ox_emit(n, "%s = group_norm(%s, %lld, weight=%s, bias=%s, eps=%s)", ox_out(n, 0), ox_f(n, 0), (long long)x->dims[1], ox_f(n, 1),
          ox_f(n, 2), nn_num(ox_attr_float(n, "epsilon", 1e-5)));
}

/* LayerNormalization (opset 17): layer_norm over the axes from `axis` on; Scale and B of
 * another (broadcastable) shape are applied after it; the optional Mean and InvStdDev
 * outputs keep the reduced axes. */
static void cv_layernorm(OxNode *n) {
  OxValue *x = n->in[0];
  int r = x->rank, a = ox_axis(n, ox_attr_int(n, "axis", -1), r);
  double eps = ox_attr_float(n, "epsilon", 1e-5);
  const char *shape = nn_list(x->dims + a, r - a);
  bool exact = n->in[1]->rank == r - a && !memcmp(n->in[1]->dims, x->dims + a, (size_t)(r - a) * sizeof *x->dims);
  bool bexact = !ox_has(n, 2) || (n->in[2]->rank == r - a && !memcmp(n->in[2]->dims, x->dims + a, (size_t)(r - a) * sizeof *x->dims));
  if (exact && bexact)
    ox_emit(n, "%s = layer_norm(%s, %s, weight=%s%s%s, eps=%s)", ox_out(n, 0), ox_f(n, 0), shape, ox_f(n, 1),
            ox_has(n, 2) ? ", bias=" : "", ox_has(n, 2) ? ox_f(n, 2) : "", nn_num(eps));
  else
    ox_emit(n, "%s = layer_norm(%s, %s, eps=%s) * %s%s%s", ox_out(n, 0), ox_f(n, 0), shape, nn_num(eps), ox_f(n, 1),
            ox_has(n, 2) ? " + " : "", ox_has(n, 2) ? ox_f(n, 2) : "");
  int64_t ax[OX_MAX_RANK];
  for (int d = a; d < r; d++) ax[d - a] = d;
  if (n->nout > 1 && n->out[1]) ox_emit(n, "%s = mean(%s, axis=%s, keepdims=true)", ox_out(n, 1), ox_f(n, 0), nn_list(ax, r - a));
  if (n->nout > 2 && n->out[2])
    ox_emit(n, "%s = rsqrt(var(%s, axis=%s, correction=0, keepdims=true) + %s)", ox_out(n, 2), ox_f(n, 0), nn_list(ax, r - a), nn_num(eps));
}

/* GlobalAveragePool / GlobalMaxPool: mean / max over the spatial axes, kept as size 1. */
static void global_pool(OxNode *n, const char *fn) {
  OxValue *x = n->in[0];
  if (x->rank < 3) ox_fail(n, "needs an input [N, C, D1, ...]");
  int64_t ax[OX_MAX_RANK];
  for (int d = 2; d < x->rank; d++) ax[d - 2] = d;
  ox_emit(n, "%s = %s(%s, axis=%s, keepdims=true)", ox_out(n, 0), fn, ox_f(n, 0), nn_list(ax, x->rank - 2));
}
static void cv_global_avg(OxNode *n) { global_pool(n, "mean"); }
static void cv_global_max(OxNode *n) { global_pool(n, "max"); }

const OxOp ox_ops_nn[] = {
    {"Gemm", cv_gemm, 2},
    {"MatMul", cv_matmul, 2},
    {"Einsum", cv_einsum, 1},
    {"Softmax", cv_softmax, 1},
    {"LogSoftmax", cv_logsoftmax, 1},
    {"Hardmax", cv_hardmax, 1},
    {"BatchNormalization", cv_batchnorm, 5},
    {"InstanceNormalization", cv_instancenorm, 3},
    {"LayerNormalization", cv_layernorm, 2},
    {"GlobalAveragePool", cv_global_avg, 1},
    {"GlobalMaxPool", cv_global_max, 1},
    {NULL, NULL, 0},
};
