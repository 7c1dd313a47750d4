/* interp.c — evaluates a model's expressions eagerly, one operator call at a time.
 *
 * Like a Python forward() of the same network: numbers become 0-d tensors (torch's
 * wrapped scalars), names give the tensors bound so far, operators run their kernel
 * immediately (ops_*.c), which records the tape. The operators, their parameters and
 * the binding of arguments are the compiler's (compiler/signature.h, one table for
 * both); argument checks (axes, sizes, flags, perm, reshape's -1) follow
 * compiler/builtins.c, whose derivative code is not used: every operator here is one
 * tape op with its own backward kernel. */
#include <math.h>
#include <string.h>
#include "model.h"
#include "signature.h"

Sym *tm_lookup(tape_model *m, const char *name) {
  for (int i = 0; i < m->nsyms; i++)
    if (m->syms[i].stmt < m->cur_stmt && !strcmp(m->syms[i].name, name)) return &m->syms[i];
  return NULL;
}

void tm_unknown(tape_model *m, SrcLoc loc, const char *what, const char *name) {
  const char **cands = ARENA_ARRAY(m->arena, const char *, m->nsyms + 1);
  int n = 0;
  for (int i = 0; i < m->nsyms; i++)
    if (m->syms[i].stmt < m->cur_stmt) cands[n++] = m->syms[i].name;
  const char *near = diag_nearest(name, cands, n);
  if (near) diag_error(&m->diag, loc, "unknown %s '%s'; did you mean '%s'?", what, name, near);
  diag_error(&m->diag, loc, "unknown %s '%s'", what, name);
}

bool tm_number(tape_model *m, const Expr *e, double *out) {
  if (e->kind == EX_NUM) return *out = e->num, true;
  if (e->kind == EX_NEG && tm_number(m, e->lhs, out)) return *out = -*out, true;
  if (e->kind == EX_NAME) {
    Sym *s = tm_lookup(m, e->name);
    if (s && s->kind == SYM_SIZE) return *out = (double)s->size, true;
  }
  return false;
}

/* ---------------------------------------------------------------- argument helpers */


/* An f32 operand: i32 tensors are class labels, only cross_entropy takes them. */
static Tensor *f32(tape_model *m, Tensor *t, const char *op) {
  if (!t->data) tp_fail(&m->T, "'%s' needs f32 operands, but an operand is i32 (class labels)", op);
  return t;
}

/* Evaluates an operand; the current location goes back to the call's. */
static Tensor *arg(tape_model *m, Expr *e, const char *op) {
  SrcLoc loc = m->T.loc;
  Tensor *t = tm_eval(m, e);
  m->T.loc = loc;
  return op ? f32(m, t, op) : t;
}





/* The constant arguments, read by the compiler's rules (signature.h). */
static bool number_of(void *m, const Expr *e, double *out) { return tm_number(m, e, out); }
#define reader(m) ((ArgReader){&(m)->diag, number_of, (m)})
static double num(tape_model *m, Expr *e, double def) { return arg_num(&reader(m), e, def); }
static bool flag(tape_model *m, Expr *e, bool def) { return arg_flag(&reader(m), e, def); }
static int axis_of(tape_model *m, Expr *e, int rank) { return arg_axis(&reader(m), e, rank); }
static unsigned axes_of(tape_model *m, Expr *e, int rank) { return arg_axes(&reader(m), e, rank); }
static int pos_int(tape_model *m, Expr *e, int def, int min, const char *what) {
  return arg_pos_int(&reader(m), e, def, min, what);
}

/* ---------------------------------------------------------------- operators */

static Tensor *transpose(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = arg(m, p[0], "transpose");
  int perm[TP_MAX_RANK] = {0};
  arg_perm(&reader(m), call, p[1], x->rank, perm);
  return op_permute(&m->T, x, perm);
}

static Tensor *reshape(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = arg(m, p[0], NULL); /* i32 passes through, as in the compiler */
  Expr *l = p[1];
  int64_t s[TP_MAX_RANK] = {0}, known;
  int infer;
  arg_sizes(&reader(m), l, TP_MAX_RANK, s, &infer, &known);
  char buf[128];
  if (infer >= 0) {
    if ((int64_t)x->n % known)
      diag_error(&m->diag, call->loc, "cannot reshape %s to %lld x -1", tp_shape_str(x, buf, sizeof buf), (long long)known);
    s[infer] = (int64_t)x->n / known;
  }
  if (tp_count(l->nargs, s) != x->n)
    diag_error(&m->diag, call->loc, "cannot reshape %s (%zu elements) to %zu elements", tp_shape_str(x, buf, sizeof buf),
               x->n, tp_count(l->nargs, s));
  return op_reshape(&m->T, x, l->nargs, s);
}

static Tensor *flatten(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = arg(m, p[0], NULL);
  if (x->rank < 1) diag_error(&m->diag, call->loc, "flatten needs a tensor of rank 1 or more");
  int64_t s[2] = {x->shape[0], (int64_t)x->n / x->shape[0]};
  return op_reshape(&m->T, x, x->rank == 1 ? 1 : 2, s);
}

static Tensor *reduction(tape_model *m, CallId fn, Expr **p) {
  Tensor *x = arg(m, p[0], gc_calls[fn].name);
  unsigned axes = axes_of(m, p[1], x->rank);
  bool keep = flag(m, p[2], false), min = fn == CALL_MIN;
  if ((fn == CALL_MAX || min) && p[1] && p[1]->kind != EX_LIST) { /* torch.max(x, dim): first maximum */
    int axis = 0;
    while (!(axes >> axis & 1)) axis++;
    return min ? op_min_dim(&m->T, x, axis, keep) : op_max_dim(&m->T, x, axis, keep);
  }
  if (fn == CALL_MAX || min) return min ? op_amin(&m->T, x, axes, keep) : op_amax(&m->T, x, axes, keep);
  return op_sum(&m->T, x, axes, keep, fn == CALL_MEAN);
}

/* A pointwise loss (its reduction in p[2], as every one's signature has it). */
static Tensor *loss(tape_model *m, LossKind k, Expr **p, double c, const char *name) {
  Tensor *a = arg(m, p[0], name), *b = arg(m, p[1], name);
  bool kl = k == L_KL || k == L_KL_LOG;
  return op_loss(&m->T, k, a, b, arg_reduction(&reader(m), p[2], kl), c);
}

/* The reductions of issue 15 but min (reduction: max's kernels, reversed). */
static Tensor *statistic(tape_model *m, CallId fn, Expr **p) {
  Tape *T = &m->T;
  const char *name = gc_calls[fn].name;
  Tensor *x = arg(m, p[0], name);
  switch (fn) {
  case CALL_PROD: return op_prod(T, x, axes_of(m, p[1], x->rank), flag(m, p[2], false));
  case CALL_VAR:
  case CALL_STD: {
    unsigned axes = axes_of(m, p[1], x->rank);
    int corr = pos_int(m, p[2], 1, 0, "correction");
    return op_var(T, x, axes, corr, flag(m, p[3], false), fn == CALL_STD);
  }
  case CALL_LOGSUMEXP: return op_logsumexp(T, x, axes_of(m, p[1], x->rank), flag(m, p[2], false));
  case CALL_ARGMAX:
  case CALL_ARGMIN: {
    int axis = arg_axis_or_all(&reader(m), p[1], x->rank, name);
    return op_argmax(T, x, axis, flag(m, p[2], false), fn == CALL_ARGMIN);
  }
  case CALL_NORM: {
    double ord = arg_norm_p(&reader(m), p[1]);
    return op_norm(T, x, ord, axes_of(m, p[2], x->rank), flag(m, p[3], false));
  }
  default: break;
  }
  diag_error(&m->diag, m->T.loc, "'%s' is not a reduction", name); /* not reached */
}

static Tensor *classification(tape_model *m, CallId fn, Expr **p) {
  Tensor *x = arg(m, p[0], NULL), *lab = arg(m, p[1], NULL), *w = p[2] ? arg(m, p[2], NULL) : NULL;
  Reduction red = arg_reduction(&reader(m), p[3], false);
  if (fn == CALL_NLL_LOSS) return op_nll_loss(&m->T, x, lab, w, red);
  return op_cross_entropy(&m->T, x, lab, w, red, arg_range(&reader(m), p[4], 0, 0, false, 1, "label_smoothing"));
}

static Tensor *softmax_like(tape_model *m, Expr *call, Expr **p, bool log) {
  Tensor *x = arg(m, p[0], log ? "log_softmax" : "softmax");
  Expr minus1 = {.kind = EX_NUM, .num = -1, .is_int = 1, .loc = call->loc};
  return op_softmax(&m->T, x, axis_of(m, p[1] ? p[1] : &minus1, x->rank), log);
}

/* ---- convolution and pooling (issue 15) */
static Tensor *conv2d(tape_model *m, Expr **p) {
  Tensor *x = arg(m, p[0], "conv2d"), *w = arg(m, p[1], "conv2d");
  int64_t k[2] = {w->rank == 4 ? w->shape[2] : 1, w->rank == 4 ? w->shape[3] : 1};
  ConvArgs a;
  arg_conv(&reader(m), p + 3, 2, k, &a);
  Tensor *b = p[2] ? arg(m, p[2], "conv2d") : NULL;
  return op_conv2d(&m->T, x, w, b, &a);
}

/* conv1d: conv2d of the [N, C, 1, L] view. */
static Tensor *conv1d(tape_model *m, Expr **p) {
  Tensor *x = arg(m, p[0], "conv1d"), *w = arg(m, p[1], "conv1d");
  char s[128];
  if (x->rank != 3) tp_fail(&m->T, "conv1d input needs a 3-D f32 tensor (N, C, L), got %s", tp_shape_str(x, s, sizeof s));
  if (w->rank != 3)
    tp_fail(&m->T, "conv1d weight needs a 3-D f32 tensor (O, C/groups, K), got %s", tp_shape_str(w, s, sizeof s));
  ConvArgs a;
  arg_conv(&reader(m), p + 3, 1, &w->shape[2], &a);
  Tensor *b = p[2] ? arg(m, p[2], "conv1d") : NULL;
  int64_t xs[4] = {x->shape[0], x->shape[1], 1, x->shape[2]}, ws[4] = {w->shape[0], w->shape[1], 1, w->shape[2]};
  Tensor *y = op_conv2d(&m->T, op_reshape(&m->T, x, 4, xs), op_reshape(&m->T, w, 4, ws), b, &a);
  int64_t ys[3] = {y->shape[0], y->shape[1], y->shape[3]};
  return op_reshape(&m->T, y, 3, ys);
}

static Tensor *conv_transpose2d(tape_model *m, Expr **p) {
  Tensor *x = arg(m, p[0], "conv_transpose2d"), *w = arg(m, p[1], "conv_transpose2d");
  ConvArgs a;
  arg_conv_transpose(&reader(m), p + 3, &a);
  Tensor *b = p[2] ? arg(m, p[2], "conv_transpose2d") : NULL;
  return op_conv_transpose2d(&m->T, x, w, b, &a);
}

static Tensor *pool(tape_model *m, Expr **p, bool max) {
  Tensor *x = arg(m, p[0], max ? "max_pool2d" : "avg_pool2d");
  PoolArgs k;
  arg_pool(&reader(m), p + 1, &k);
  return max ? op_max_pool2d(&m->T, x, &k) : op_avg_pool2d(&m->T, x, &k);
}

/* global_avg_pool(x), adaptive_avg_pool2d(x, 1): the mean over H, W, kept as 1 x 1. */
static Tensor *global_pool(tape_model *m, CallId fn, Expr **p) {
  Tensor *x = arg(m, p[0], gc_calls[fn].name);
  char s[128];
  if (fn == CALL_ADAPTIVE_AVG_POOL2D) {
    Expr *e = p[1];
    bool list = e->kind == EX_LIST && e->nargs == 2;
    int a = pos_int(m, list ? e->args[0] : e, 1, 1, "output_size");
    int b = list ? pos_int(m, e->args[1], 1, 1, "output_size") : a;
    if (a != 1 || b != 1)
      diag_error(&m->diag, e->loc, "adaptive_avg_pool2d supports only output_size 1 (global average pooling), got "
                 "%dx%d; for other sizes use avg_pool2d with a window and stride that divide the input", a, b);
  }
  if (x->rank != 4)
    tp_fail(&m->T, "%s needs a 4-D f32 tensor (N, C, H, W), got %s", gc_calls[fn].name, tp_shape_str(x, s, sizeof s));
  return op_sum(&m->T, x, 0xC, true, true);
}

static Tensor *unary(tape_model *m, Expr *e, UnaryOp op, const char *name) {
  return op_unary(&m->T, op, arg(m, e, name));
}

/* ---- comparisons and elementwise (issue 15): kernels in ops_elem.c ---- */

/* selu's constants (torch.nn.functional.selu). */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

static Tensor *elem_call(tape_model *m, CallId fn, Expr *call, Expr **p) {
  Tape *T = &m->T;
  const char *name = gc_calls[fn].name;
  Tensor *x = arg(m, p[0], name);
  switch (fn) {
  case CALL_WHERE: {
    Tensor *a = arg(m, p[1], name), *b = arg(m, p[2], name);
    return op_where(T, x, a, b);
  }
  case CALL_CLAMP: {
    if (!p[1] && !p[2]) diag_error(&m->diag, call->loc, "clamp needs min= or max= (or both), as torch.clamp");
    Tensor *lo = p[1] ? arg(m, p[1], name) : NULL, *hi = p[2] ? arg(m, p[2], name) : NULL;
    return op_clamp(T, x, lo, hi);
  }
  case CALL_RELU6: return op_elem(T, E_HARDTANH, x, 0, 6, 0);
  case CALL_HARDTANH: return op_elem(T, E_HARDTANH, x, num(m, p[1], -1), num(m, p[2], 1), 0);
  case CALL_HARDSIGMOID: return op_elem(T, E_HARDSIGMOID, x, 0, 0, 0);
  case CALL_HARDSWISH: return op_elem(T, E_HARDSWISH, x, 0, 0, 0);
  case CALL_ELU: return op_elem(T, E_ELU, x, num(m, p[1], 1), 1, 1);
  case CALL_SELU: return op_elem(T, E_ELU, x, (double)(float)SELU_ALPHA * (double)(float)SELU_SCALE, SELU_SCALE, 1);
  case CALL_CELU: {
    double alpha = num(m, p[1], 1);
    if (alpha == 0) diag_error(&m->diag, p[1]->loc, "celu: alpha cannot be 0 (it divides x)");
    return op_elem(T, E_ELU, x, alpha, 1, 1 / alpha);
  }
  case CALL_PRELU: return op_prelu(T, x, arg(m, p[1], name));
  case CALL_SOFTSIGN: return op_elem(T, E_SOFTSIGN, x, 0, 0, 0);
  case CALL_SIN: return op_elem(T, E_SIN, x, 0, 0, 0);
  case CALL_COS: return op_elem(T, E_COS, x, 0, 0, 0);
  case CALL_SQUARE: return op_elem(T, E_SQUARE, x, 0, 0, 0);
  case CALL_RSQRT: return op_elem(T, E_RSQRT, x, 0, 0, 0);
  case CALL_RECIPROCAL: return op_elem(T, E_RECIPROCAL, x, 0, 0, 0);
  case CALL_ERF: return op_elem(T, E_ERF, x, 0, 0, 0);
  case CALL_SIGN: return op_elem(T, E_SIGN, x, 0, 0, 0);
  case CALL_FLOOR: return op_elem(T, E_FLOOR, x, 0, 0, 0);
  case CALL_CEIL: return op_elem(T, E_CEIL, x, 0, 0, 0);
  case CALL_ROUND: {
    double d = num(m, p[1], 0);
    if (d != floor(d) || fabs(d) > 30) diag_error(&m->diag, p[1]->loc, "decimals must be an integer from -30 to 30");
    return op_elem(T, E_ROUND, x, d, (double)(float)pow(10, fabs(d)), 0);
  }
  default: break;
  }
  diag_error(&m->diag, call->loc, "unknown operator '%s'", call->name);
}

/* ---- normalization and attention (issue 15): kernels in ops_norm.c ---- */

static Tensor *norm_call(tape_model *m, CallId fn, Expr **p) {
  const char *name = gc_calls[fn].name;
  Tensor *x = arg(m, p[0], name);
  char buf[128];
  int k = 0, groups = 0;
  if (fn == CALL_LAYER_NORM)
    k = arg_normalized_shape(&reader(m), p[1], x->rank, x->shape, tp_shape_str(x, buf, sizeof buf));
  else groups = pos_int(m, p[1], 1, 1, "num_groups");
  Tensor *w = p[2] ? arg(m, p[2], name) : NULL, *b = p[3] ? arg(m, p[3], name) : NULL;
  double eps = arg_eps(&reader(m), p[4]);
  if (fn == CALL_LAYER_NORM) return op_layer_norm(&m->T, x, k, w, b, eps);
  return op_group_norm(&m->T, x, groups, w, b, eps);
}

/* ---- batch norm and buffers (issue 15): the kernels in ops_bn.c ---- */

static Tensor *running_stat(tape_model *m, Expr *e, const char *what, int64_t c) {
  Tensor *t = arg(m, e, "batch_norm");
  for (int i = 0; i < m->nleaves; i++)
    if (m->leaves[i].t == t && m->leaves[i].buffer) return t;
  diag_error(&m->diag, e->loc, "batch_norm: %s must be a buffer (model state, as PyTorch's register_buffer): declare "
             "it `buffer NAME : f32[%lld] = %s`", what, (long long)c, strcmp(what, "running_var") ? "zeros" : "ones");
}

Tensor *tm_batch_norm(tape_model *m, Expr *call, Expr **p) {
  (void)call;
  Tensor *x = arg(m, p[0], "batch_norm");
  int64_t c = x->rank >= 2 ? x->shape[1] : 1;
  Tensor *rm = running_stat(m, p[1], "running_mean", c), *rv = running_stat(m, p[2], "running_var", c);
  Tensor *w = p[3] ? arg(m, p[3], "batch_norm") : NULL, *b = p[4] ? arg(m, p[4], "batch_norm") : NULL;
  double mom = arg_momentum(&reader(m), p[5]), eps = arg_eps(&reader(m), p[6]);
  return op_batch_norm(&m->T, x, rm, rv, w, b, mom, eps, m->training);
}

/* ---- attention (issue 15): kernels in ops_attn.c ---- */

static Tensor *attn_call(tape_model *m, CallId fn, Expr **p) {
  const char *name = gc_calls[fn].name;
  Tape *T = &m->T;
  Tensor *x = arg(m, p[0], name);
  char a[96], b[96];
  switch (fn) {
  case CALL_TRIL:
  case CALL_TRIU: return op_tri(T, x, p[1] ? arg_int(&reader(m), p[1], "diagonal") : 0, fn == CALL_TRIU);
  case CALL_MASKED_FILL: {
    Tensor *mask = arg(m, p[1], NULL), *v = arg(m, p[2], name);
    if (!mask->data)
      tp_fail(T, "masked_fill: the mask must be an f32 0/1 mask (a comparison such as x > 0), got i32 %s",
              tp_shape_str(mask, a, sizeof a));
    if (v->rank != 0)
      tp_fail(T, "masked_fill: the value must be a number (a scalar, as torch's), got %s", tp_shape_str(v, a, sizeof a));
    Tensor *y = op_where(T, mask, v, x);
    if (y->rank != x->rank || memcmp(y->shape, x->shape, sizeof(int64_t) * (size_t)x->rank))
      tp_fail(T, "masked_fill: the mask %s must broadcast to the input's shape %s", tp_shape_str(mask, a, sizeof a),
              tp_shape_str(x, b, sizeof b));
    return y;
  }
  default: break;
  }
  Tensor *k = arg(m, p[1], name), *v = arg(m, p[2], name);
  double scale = arg_num(&reader(m), p[4], 1 / sqrt((double)(x->rank ? x->shape[x->rank - 1] : 1)));
  if (!isfinite(scale) || scale == 0) diag_error(&m->diag, p[4]->loc, "scale must be a finite number other than 0, got %g", scale);
  return op_sdpa(T, x, k, v, flag(m, p[3], false), scale);
}

/* ---- dropout and modes (issue 15): ops_dropout.c ----
 * torch's F.dropout in the module's mode: identity in eval mode and for p = 0, x * 0 for
 * p = 1; the site's salt is its call's line * 2^16 + column (as the compiler's). */
static Tensor *dropout_call(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = arg(m, p[0], "dropout");
  double prob = arg_range(&reader(m), p[1], 0.5, 0, false, 1, "dropout probability p");
  if (prob == 0 || !m->training) return x;
  if (prob == 1) return op_binary(&m->T, B_MUL, x, tp_scalar(&m->T, 0));
  uint32_t salt = (uint32_t)call->loc.line * 65536u + (uint32_t)call->loc.col;
  return op_dropout(&m->T, x, prob, salt, m->seed);
}

/* float(x), int(x): dtype conversions (issue 16); of the dtype already, x itself. */
static Tensor *convert_call(tape_model *m, CallId fn, Expr **p) {
  Tensor *x = arg(m, p[0], NULL);
  if (fn == CALL_FLOAT) return x->data ? x : op_to_f32(&m->T, x);
  return x->idata ? x : op_to_i32(&m->T, x);
}

static Tensor *apply(tape_model *m, CallId fn, Expr *call, Expr **p) {
  Tape *T = &m->T;
  const char *name = gc_calls[fn].name;
  switch (fn) {
  case CALL_EXP: return unary(m, p[0], U_EXP, name);
  case CALL_LOG: return unary(m, p[0], U_LOG, name);
  case CALL_SQRT: return unary(m, p[0], U_SQRT, name);
  case CALL_ABS: return unary(m, p[0], U_ABS, name);
  case CALL_TANH: return unary(m, p[0], U_TANH, name);
  case CALL_SIGMOID: return unary(m, p[0], U_SIGMOID, name);
  case CALL_RELU: return unary(m, p[0], U_RELU, name);
  case CALL_GELU: return unary(m, p[0], U_GELU, name);
  case CALL_SILU: return unary(m, p[0], U_SILU, name);
  case CALL_SOFTPLUS: return unary(m, p[0], U_SOFTPLUS, name);
  case CALL_LEAKY_RELU: {
    Tensor *x = arg(m, p[0], name);
    return op_leaky_relu(T, x, num(m, p[1], 0.01));
  }
  case CALL_MAXIMUM:
  case CALL_MINIMUM: {
    Tensor *a = arg(m, p[0], name), *b = arg(m, p[1], name);
    return op_binary(T, fn == CALL_MAXIMUM ? B_MAXIMUM : B_MINIMUM, a, b);
  }
  case CALL_TRANSPOSE: return transpose(m, call, p);
  case CALL_RESHAPE: return reshape(m, call, p);
  case CALL_FLATTEN: return flatten(m, call, p);
  case CALL_SUM:
  case CALL_MEAN:
  case CALL_MAX: return reduction(m, fn, p);
  case CALL_SOFTMAX: return softmax_like(m, call, p, false);
  case CALL_LOG_SOFTMAX: return softmax_like(m, call, p, true);
  case CALL_MSE: return loss(m, L_MSE, p, 0, name);
  case CALL_BCE_WITH_LOGITS: return loss(m, L_BCE, p, 0, name);
  case CALL_CROSS_ENTROPY:
  case CALL_NLL_LOSS: return classification(m, fn, p);
  case CALL_DETACH: return op_detach(T, arg(m, p[0], NULL));
  case CALL_CONV2D: return conv2d(m, p);
  case CALL_MAX_POOL2D: return pool(m, p, true);
  case CALL_AVG_POOL2D: return pool(m, p, false);
  /* ---- reductions and losses (issue 15) ---- */
  case CALL_MIN: return reduction(m, fn, p); /* max's kernels, reversed */
  case CALL_PROD:
  case CALL_VAR:
  case CALL_STD:
  case CALL_LOGSUMEXP:
  case CALL_ARGMAX:
  case CALL_ARGMIN:
  case CALL_NORM: return statistic(m, fn, p);
  case CALL_L1_LOSS: return loss(m, L_L1, p, 0, name);
  case CALL_SMOOTH_L1_LOSS:
    return loss(m, L_SMOOTH_L1, p, arg_range(&reader(m), p[3], 1, 0, false, INFINITY, "beta"), name);
  case CALL_HUBER_LOSS: return loss(m, L_HUBER, p, arg_range(&reader(m), p[3], 1, 0, true, INFINITY, "delta"), name);
  case CALL_KL_DIV: return loss(m, flag(m, p[3], false) ? L_KL_LOG : L_KL, p, 0, name);
  /* ---- convolution and pooling (issue 15) */
  case CALL_CONV1D: return conv1d(m, p);
  case CALL_CONV_TRANSPOSE2D: return conv_transpose2d(m, p);
  case CALL_GLOBAL_AVG_POOL:
  case CALL_ADAPTIVE_AVG_POOL2D: return global_pool(m, fn, p);
  /* ---- indexing and assembling (issue 15; interp_index.c) ---- */
  case CALL_CONCAT:
  case CALL_CAT:
  case CALL_STACK:
  case CALL_NARROW:
  case CALL_SQUEEZE:
  case CALL_UNSQUEEZE:
  case CALL_EXPAND:
  case CALL_REPEAT:
  case CALL_PAD:
  /* ---- indexing II (issue 15) ---- */
  case CALL_EMBEDDING:
  case CALL_GATHER:
  case CALL_ONE_HOT:
  case CALL_SPLIT:
  case CALL_CHUNK: return tm_index_call(m, fn, call, p);
  case CALL_WHERE: case CALL_CLAMP: case CALL_RELU6: case CALL_HARDTANH: case CALL_HARDSIGMOID:
  case CALL_HARDSWISH: case CALL_ELU: case CALL_SELU: case CALL_CELU: case CALL_PRELU: case CALL_SOFTSIGN:
  case CALL_SIN: case CALL_COS: case CALL_SQUARE: case CALL_RSQRT: case CALL_RECIPROCAL: case CALL_ERF:
  case CALL_SIGN: case CALL_FLOOR: case CALL_CEIL: case CALL_ROUND: return elem_call(m, fn, call, p);
  case CALL_LAYER_NORM: case CALL_GROUP_NORM: return norm_call(m, fn, p);
  case CALL_BATCH_NORM: return tm_batch_norm(m, call, p); /* batch norm and buffers (issue 15) */
  case CALL_TRIL: case CALL_TRIU: case CALL_MASKED_FILL: case CALL_SCALED_DOT_PRODUCT_ATTENTION:
    return attn_call(m, fn, p);
  case CALL_DROPOUT: return dropout_call(m, call, p);
  case CALL_FLOAT:
  case CALL_INT: return convert_call(m, fn, p);
  case CALL__COUNT: break; /* not an operator; every one is a case (-Wswitch) */
  }
  diag_error(&m->diag, call->loc, "unknown operator '%s'", call->name);
}

/* Binds the call's arguments (the compiler's signature table, signature.h: the same
 * operators, parameters and messages) and runs it. */
static Tensor *call(tape_model *m, Expr *e) {
  int id = call_find(e->name);
  if (id < 0) call_unknown(&m->diag, e->loc, e->name);
  Expr *slot[CALL_MAXP];
  call_bind(&m->diag, (CallId)id, e, slot);
  m->T.loc = e->loc;
  return apply(m, (CallId)id, e, slot);
}

/* ---------------------------------------------------------------- expressions */

/* The comparison of a token (ast.h), with its spelling; false if e is none. */
static bool comparison(char op, CompareOp *c, const char **name) {
  static const struct {
    char tok;
    CompareOp op;
    const char *name;
  } cmps[] = {{'<', C_LT, "<"}, {'l', C_LE, "<="}, {'>', C_GT, ">"}, {'g', C_GE, ">="}, {'E', C_EQ, "=="},
              {'N', C_NE, "!="}};
  for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++)
    if (cmps[i].tok == op) return *c = cmps[i].op, *name = cmps[i].name, true;
  return false;
}

/* `x ** c` with a constant c is torch.pow(x, c); any other exponent is torch.pow of two
 * tensors, differentiated in both. */
static Tensor *binary(tape_model *m, Expr *e) {
  double c;
  if (e->op == 'P' && tm_number(m, e->rhs, &c)) {
    Tensor *x = f32(m, tm_eval(m, e->lhs), "**");
    m->T.loc = e->loc;
    return op_pow(&m->T, x, c);
  }
  Tensor *a = tm_eval(m, e->lhs), *b = tm_eval(m, e->rhs);
  m->T.loc = e->loc;
  CompareOp cmp;
  const char *cname;
  char name[3] = {e->op, 0, 0};
  if (e->op == 'P') name[0] = name[1] = '*';
  bool is_cmp = comparison(e->op, &cmp, &cname);
  f32(m, a, is_cmp ? cname : name), f32(m, b, is_cmp ? cname : name);
  if (is_cmp) return op_compare(&m->T, cmp, cname, a, b);
  switch (e->op) {
  case '+': return op_binary(&m->T, B_ADD, a, b);
  case '-': return op_binary(&m->T, B_SUB, a, b);
  case '*': return op_binary(&m->T, B_MUL, a, b);
  case '/': return op_binary(&m->T, B_DIV, a, b);
  case '@': return op_matmul(&m->T, a, b);
  case 'P': return op_pow_tensor(&m->T, a, b);
  }
  diag_error(&m->diag, e->loc, "unknown operator '%c'", e->op);
}

Tensor *tm_eval(tape_model *m, Expr *e) {
  switch (e->kind) {
  case EX_NUM: m->T.loc = e->loc; return tp_scalar(&m->T, e->num);
  case EX_NAME: {
    Sym *s = tm_lookup(m, e->name);
    m->T.loc = e->loc;
    if (!s && !strcmp(e->name, "inf")) return tp_scalar(&m->T, INFINITY); /* float('inf'), unless defined */
    if (!s) tm_unknown(m, e->loc, "name", e->name);
    return s->kind == SYM_SIZE ? tp_scalar(&m->T, (double)s->size) : s->t;
  }
  case EX_NEG: {
    Tensor *x = f32(m, tm_eval(m, e->lhs), "-");
    m->T.loc = e->loc;
    return op_unary(&m->T, U_NEG, x);
  }
  case EX_BINARY: return binary(m, e);
  case EX_CALL: return call(m, e);
  case EX_LIST: diag_error(&m->diag, e->loc, "a list is only allowed as an argument such as axis=[0, 1]");
  case EX_STR: diag_error(&m->diag, e->loc, "a string is only allowed as an argument such as reduction=\"sum\"");
  /* ---- indexing II (issue 15) ---- */
  case EX_INDEX: return tm_index(m, e);
  case EX_SLICE:
  case EX_ELLIPSIS: diag_error(&m->diag, e->loc, "a slice (a:b) or '...' is only allowed inside an index, e.g. x[1:3]");
  }
  diag_error(&m->diag, e->loc, "malformed expression");
}
