/* ops.c — the operator table: for every primitive, its shape rule, its derivative,
 * its float64 reference evaluation and its LLVM lowering, side by side.
 *
 * Notation in the derivative rules: x = n->in[0], a/b = the two operands, y = n (the
 * result), dy = d loss / d y; the rules set dx[i] = d loss / d in[i]. Gradients of
 * broadcast operands are summed back to the operand's shape with g_sum_to. Where
 * PyTorch picks a subgradient (relu at 0, abs at 0, maximum at ties, max with ties)
 * the rule picks the same one. */
#include <math.h>
#include <string.h>
#include "opinfo.h"
#include "ops_attn.h"
#include "ops_elem.h"
#include "ops_index.h"
#include "ops_random.h"
#include "ops_reduce.h"
#include "ops_window.h"

#define A(n) ((n)->in[0])
#define B(n) ((n)->in[1])

/* ---------------------------------------------------------------- shape rules */

/* The operator as the user wrote it, for messages: the call or symbol being built
 * (g->what), else the node's op. */
static const char *op_name(const Graph *g, const Node *n) { return g->what ? g->what : gc_ops[n->op].name; }

/* ---------------------------------------------------------------- dtype rules */

DType op_result_dtype(const Node *n) {
  switch (gc_ops[n->op].dtype) {
  case DTR_LEAF: return n->dtype;
  case DTR_LIKE:
  case DTR_COPY: return n->in[0]->dtype;
  case DTR_INDEX: return DT_I32;
  case DTR_F32:
  case DTR_LABELS:
  case DTR_GATHER: break;
  }
  return DT_F32;
}

DType op_operand_dtype(const Node *n, int i) {
  switch (gc_ops[n->op].dtype) {
  case DTR_F32:
  case DTR_INDEX: return DT_F32;
  case DTR_LABELS: return DT_I32;
  case DTR_GATHER: return i == 0 ? DT_F32 : DT_I32;
  case DTR_LEAF:
  case DTR_LIKE:
  case DTR_COPY: break;
  }
  return DT__COUNT;
}

/* The first operand of another dtype than n's op takes (the f32 ops' message). */
static const char *check_operand_dtypes(Graph *g, Node *n) {
  for (int i = 0; i < n->nin; i++) {
    Node *x = n->in[i];
    DType want = op_operand_dtype(n, i);
    if (want != DT__COUNT && x->dtype != want)
      return arena_printf(g->arena, "'%s' needs %s operands, but operand %d%s%s%s is %s %s", op_name(g, n),
                          dtype_name(want), i + 1, x->name ? " ('" : "", x->name ? x->name : "", x->name ? "')" : "",
                          dtype_name(x->dtype), shape_str(g->arena, x->shape));
  }
  return NULL;
}

static const char *shape_same(Graph *g, Node *n) {
  n->shape = A(n)->shape;
  return check_operand_dtypes(g, n);
}

static const char *shape_broadcast2(Graph *g, Node *n) {
  const char *err = check_operand_dtypes(g, n);
  if (err) return err;
  if (!shape_broadcast(A(n)->shape, B(n)->shape, &n->shape))
    return arena_printf(g->arena, "cannot broadcast shapes %s and %s in '%s'",
                        shape_str(g->arena, A(n)->shape), shape_str(g->arena, B(n)->shape), op_name(g, n));
  return NULL;
}

/* CONST: a tensor filled with its value; its shape is set by its constructor. */
static const char *shape_const(Graph *g, Node *n) {
  (void)g, (void)n;
  return NULL;
}

/* EXPAND and RESHAPE come with n->shape set by their constructor. */
static const char *shape_expand(Graph *g, Node *n) {
  Shape out;
  if (!shape_broadcast(A(n)->shape, n->shape, &out) || !shape_eq(out, n->shape))
    return arena_printf(g->arena, "cannot broadcast %s to %s", shape_str(g->arena, A(n)->shape),
                        shape_str(g->arena, n->shape));
  return check_operand_dtypes(g, n);
}

static const char *shape_reshape(Graph *g, Node *n) {
  if (shape_count(n->shape) != shape_count(A(n)->shape))
    return arena_printf(g->arena, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                        shape_str(g->arena, A(n)->shape), (long long)shape_count(A(n)->shape),
                        shape_str(g->arena, n->shape), (long long)shape_count(n->shape));
  return NULL;
}

static const char *shape_detach(Graph *g, Node *n) {
  (void)g;
  n->shape = A(n)->shape;
  return NULL;
}

static const char *shape_reduce(Graph *g, Node *n) {
  Shape s = A(n)->shape;
  unsigned axes = node_reduce(n)->axes;
  if (axes >> s.rank)
    return arena_printf(g->arena, "reduction axis out of range for shape %s", shape_str(g->arena, s));
  for (int i = 0; i < s.rank; i++)
    if (axes & (1u << i)) s.d[i] = 1;
  n->shape = s;
  return check_operand_dtypes(g, n);
}

static const char *shape_permute(Graph *g, Node *n) {
  Shape s = A(n)->shape;
  unsigned seen = 0;
  for (int i = 0; i < s.rank; i++) {
    int p = node_perm(n)->perm[i];
    if (p < 0 || p >= s.rank || (seen & (1u << p)))
      return arena_printf(g->arena, "invalid permutation for shape %s", shape_str(g->arena, s));
    seen |= 1u << p;
    n->shape.d[i] = s.d[p];
  }
  n->shape.rank = s.rank;
  return check_operand_dtypes(g, n);
}

/* The operand's matrix dims, as used (after its transpose flag). */
static void mat_dims(Node *x, bool t, int64_t *rows, int64_t *cols) {
  int r = x->shape.rank;
  *rows = x->shape.d[r - 2];
  *cols = x->shape.d[r - 1];
  if (t) {
    int64_t tmp = *rows;
    *rows = *cols;
    *cols = tmp;
  }
}

static const char *shape_matmul(Graph *g, Node *n) {
  const char *err = check_operand_dtypes(g, n);
  if (err) return err;
  Node *a = A(n), *b = B(n);
  int r = a->shape.rank;
  if (r < 2 || r > 3 || b->shape.rank != r || (r == 3 && a->shape.d[0] != b->shape.d[0]))
    return arena_printf(g->arena,
                        "matrix product of %s and %s: the matmul primitive takes two 2-D operands or two 3-D ones "
                        "with the same batch size (`@` reshapes and broadcasts other shapes into these first)",
                        shape_str(g->arena, a->shape), shape_str(g->arena, b->shape));
  int64_t m, k, k2, nn;
  mat_dims(a, node_matmul(n)->ta, &m, &k);
  mat_dims(b, node_matmul(n)->tb, &k2, &nn);
  if (k != k2)
    return arena_printf(g->arena, "matrix product of %s and %s: inner dimensions %lld and %lld differ",
                        shape_str(g->arena, a->shape), shape_str(g->arena, b->shape), (long long)k,
                        (long long)k2);
  n->shape = a->shape;
  n->shape.d[r - 2] = m;
  n->shape.d[r - 1] = nn;
  return NULL;
}

/* ONEHOT: i32 labels [N] -> f32 [N, C], C its classes. */
static const char *shape_onehot(Graph *g, Node *n) {
  Node *x = A(n);
  if (x->dtype != DT_I32 || x->shape.rank != 1)
    return arena_printf(g->arena, "class labels must be i32[N], got %s %s", dtype_name(x->dtype),
                        shape_str(g->arena, x->shape));
  n->shape = (Shape){2, {x->shape.d[0], node_onehot(n)->classes}};
  return NULL;
}

static const char *shape_argmax_mask(Graph *g, Node *n) {
  n->shape = A(n)->shape;
  unsigned axes = node_reduce(n)->axes;
  GC_ASSERT(axes && !(axes & (axes - 1)));
  return check_operand_dtypes(g, n);
}

static const char *shape_sink(Graph *g, Node *n) {
  (void)g;
  n->shape = A(n)->shape;
  return NULL;
}

/* ---------------------------------------------------------------- derivative rules */

static Node *mul(Graph *g, Node *a, Node *b) { return g_binary(g, OP_MUL, a, b); }
static Node *divi(Graph *g, Node *a, Node *b) { return g_binary(g, OP_DIV, a, b); }
static Node *add(Graph *g, Node *a, Node *b) { return g_binary(g, OP_ADD, a, b); }
static Node *sub(Graph *g, Node *a, Node *b) { return g_binary(g, OP_SUB, a, b); }
static Node *cnst(Graph *g, double v) { return g_const(g, v); }

static void grad_neg(Graph *g, Node *n, Node *dy, Node **dx) { (void)n, dx[0] = g_unary(g, OP_NEG, dy); }
static void grad_exp(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = mul(g, dy, n); }
static void grad_log(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = divi(g, dy, A(n)); }
static void grad_sqrt(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = divi(g, dy, mul(g, n, cnst(g, 2)));
}
static void grad_abs(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = mul(g, dy, g_unary(g, OP_SIGN, A(n)));
}
static void grad_tanh(Graph *g, Node *n, Node *dy, Node **dx) { /* 1 - y^2 */
  dx[0] = mul(g, dy, sub(g, cnst(g, 1), mul(g, n, n)));
}
static void grad_sigmoid(Graph *g, Node *n, Node *dy, Node **dx) { /* y (1 - y) */
  dx[0] = mul(g, dy, mul(g, n, sub(g, cnst(g, 1), n)));
}
static void grad_relu(Graph *g, Node *n, Node *dy, Node **dx) { /* 0 at x = 0, as torch */
  dx[0] = mul(g, dy, g_unary(g, OP_STEP, A(n)));
}
static void grad_softplus(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = mul(g, dy, g_unary(g, OP_SIGMOID, A(n)));
}
static void grad_erf(Graph *g, Node *n, Node *dy, Node **dx) { /* 2/sqrt(pi) exp(-x^2) */
  Node *e = g_unary(g, OP_EXP, g_unary(g, OP_NEG, mul(g, A(n), A(n))));
  dx[0] = mul(g, dy, mul(g, e, cnst(g, 1.1283791670955126)));
}
static void grad_powc(Graph *g, Node *n, Node *dy, Node **dx) { /* c x^(c-1); 0 for c = 0 */
  double c = node_pow(n)->exponent;
  if (c == 0) return;
  Node *p = c == 1 ? cnst(g, 1) : c == 2 ? A(n) : g_powc(g, A(n), c - 1);
  dx[0] = c == 1 ? dy : mul(g, dy, mul(g, p, cnst(g, c)));
}
static void grad_expand(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = g_sum_to(g, dy, A(n)->shape); }
static void grad_add(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_sum_to(g, dy, A(n)->shape);
  dx[1] = g_sum_to(g, dy, B(n)->shape);
}
static void grad_sub(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_sum_to(g, dy, A(n)->shape);
  dx[1] = g_sum_to(g, g_unary(g, OP_NEG, dy), B(n)->shape);
}
static void grad_mul(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_sum_to(g, mul(g, dy, B(n)), A(n)->shape);
  dx[1] = g_sum_to(g, mul(g, dy, A(n)), B(n)->shape);
}
static void grad_div(Graph *g, Node *n, Node *dy, Node **dx) { /* torch: -dy * ((a / b) / b) */
  dx[0] = g_sum_to(g, divi(g, dy, B(n)), A(n)->shape);
  Node *q = divi(g, divi(g, A(n), B(n)), B(n));
  dx[1] = g_sum_to(g, g_unary(g, OP_NEG, mul(g, dy, q)), B(n)->shape);
}
/* maximum/minimum: at a tie each operand gets half, as torch. */
static void grad_minmax(Graph *g, Node *n, Node *dy, Node **dx, double s) {
  Node *sg = mul(g, g_unary(g, OP_SIGN, sub(g, A(n), B(n))), cnst(g, 0.5 * s));
  Node *wa = add(g, cnst(g, 0.5), sg), *wb = sub(g, cnst(g, 0.5), sg);
  dx[0] = g_sum_to(g, mul(g, dy, wa), A(n)->shape);
  dx[1] = g_sum_to(g, mul(g, dy, wb), B(n)->shape);
}
static void grad_maximum(Graph *g, Node *n, Node *dy, Node **dx) { grad_minmax(g, n, dy, dx, 1); }
static void grad_minimum(Graph *g, Node *n, Node *dy, Node **dx) { grad_minmax(g, n, dy, dx, -1); }
static void grad_sum(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = g_expand(g, dy, A(n)->shape); }
/* max: with one axis given as an integer (torch.max(x, dim)) the gradient goes to the
 * first maximum along it; otherwise it is shared evenly among the maxima (torch.amax,
 * torch.max(x)). */
static void grad_max(Graph *g, Node *n, Node *dy, Node **dx) {
  const ReduceAttr *r = node_reduce(n);
  if (r->first) {
    dx[0] = mul(g, dy, g_argmax_mask(g, A(n), r->axes));
    return;
  }
  Node *mask = g_binary(g, OP_EQ, A(n), n);
  Node *count = g_sum(g, mask, r->axes);
  dx[0] = mul(g, divi(g, dy, count), mask);
}
static void grad_reshape(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = g_reshape(g, dy, A(n)->shape); }
static void grad_permute(Graph *g, Node *n, Node *dy, Node **dx) {
  int inv[GC_MAX_RANK] = {0};
  for (int i = 0; i < n->shape.rank; i++) inv[node_perm(n)->perm[i]] = i;
  dx[0] = g_permute(g, dy, inv);
}
/* C = X Y with X = op(A), Y = op(B): dX = dC Y^T, dY = X^T dC, transposed back into
 * A's and B's storage order, without materialising any transpose. */
static void grad_matmul(Graph *g, Node *n, Node *dy, Node **dx) {
  Node *a = A(n), *b = B(n);
  bool ta = node_matmul(n)->ta, tb = node_matmul(n)->tb;
  dx[0] = ta ? g_matmul(g, b, dy, tb, true) : g_matmul(g, dy, b, false, !tb);
  dx[1] = tb ? g_matmul(g, dy, a, true, ta) : g_matmul(g, a, dy, !ta, false);
}

/* ---------------------------------------------------------------- reference evaluation */

static double ev_neg(const Node *n, double a, double b) { return (void)n, (void)b, -a; }
static double ev_exp(const Node *n, double a, double b) { return (void)n, (void)b, exp(a); }
static double ev_log(const Node *n, double a, double b) { return (void)n, (void)b, log(a); }
static double ev_sqrt(const Node *n, double a, double b) { return (void)n, (void)b, sqrt(a); }
static double ev_abs(const Node *n, double a, double b) { return (void)n, (void)b, fabs(a); }
static double ev_sign(const Node *n, double a, double b) { return (void)n, (void)b, (a > 0) - (a < 0); }
static double ev_step(const Node *n, double a, double b) { return (void)n, (void)b, a > 0; }
static double ev_tanh(const Node *n, double a, double b) { return (void)n, (void)b, tanh(a); }
static double ev_sigmoid(const Node *n, double a, double b) { return (void)n, (void)b, 1 / (1 + exp(-a)); }
static double ev_relu(const Node *n, double a, double b) { return (void)n, (void)b, a > 0 ? a : 0; }
static double ev_softplus(const Node *n, double a, double b) {
  return (void)n, (void)b, (a > 0 ? a : 0) + log1p(exp(-fabs(a)));
}
static double ev_erf(const Node *n, double a, double b) { return (void)n, (void)b, erf(a); }
static double ev_powc(const Node *n, double a, double b) { return (void)b, pow(a, node_pow(n)->exponent); }
static double ev_id(const Node *n, double a, double b) { return (void)n, (void)b, a; }
static double ev_add(const Node *n, double a, double b) { return (void)n, a + b; }
static double ev_sub(const Node *n, double a, double b) { return (void)n, a - b; }
static double ev_mul(const Node *n, double a, double b) { return (void)n, a * b; }
static double ev_div(const Node *n, double a, double b) { return (void)n, a / b; }
static double ev_maximum(const Node *n, double a, double b) { return (void)n, a > b ? a : b; }
static double ev_minimum(const Node *n, double a, double b) { return (void)n, a < b ? a : b; }
static double ev_eq(const Node *n, double a, double b) { return (void)n, a == b; }

/* Reductions: eval1/emit1 combine the accumulator with one element; `unit` starts it. */
static double ev_sum1(const Node *n, double acc, double v) { return (void)n, acc + v; }
static double ev_max1(const Node *n, double acc, double v) { return (void)n, (v > acc || isnan(v)) ? v : acc; }
/* Walk the input; each element lands in the output index with reduced axes at 0. */
static void ev_reduce(const Node *n, double *out, double *const *ins) {
  const OpInfo *op = &gc_ops[n->op];
  Shape s = A(n)->shape;
  int64_t ostr[GC_MAX_RANK], cnt = shape_count(s), on = shape_count(n->shape);
  shape_bstrides(n->shape, s.rank, ostr);
  for (int64_t i = 0; i < on; i++) out[i] = op->unit;
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, o = 0;
    for (int d = s.rank - 1; d >= 0; d--) {
      o += (rem % s.d[d]) * ostr[d];
      rem /= s.d[d];
    }
    out[o] = op->eval1(n, out[o], ins[0][lin]);
  }
}

static void ev_permute(const Node *n, double *out, double *const *ins) {
  Shape s = A(n)->shape;
  int64_t istr[GC_MAX_RANK], st = 1, cnt = shape_count(n->shape);
  for (int d = s.rank - 1; d >= 0; d--) istr[d] = st, st *= s.d[d];
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, off = 0;
    for (int d = n->shape.rank - 1; d >= 0; d--) {
      off += (rem % n->shape.d[d]) * istr[node_perm(n)->perm[d]];
      rem /= n->shape.d[d];
    }
    out[lin] = ins[0][off];
  }
}

static void ev_matmul(const Node *n, double *out, double *const *ins) {
  Node *a = A(n);
  int r = n->shape.rank;
  int64_t batch = r == 3 ? n->shape.d[0] : 1, M = n->shape.d[r - 2], N = n->shape.d[r - 1];
  bool ta = node_matmul(n)->ta, tb = node_matmul(n)->tb;
  int64_t m_, K;
  mat_dims(a, ta, &m_, &K);
  for (int64_t p = 0; p < batch; p++) {
    const double *A_ = ins[0] + p * M * K, *B_ = ins[1] + p * K * N;
    double *C = out + p * M * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += (ta ? A_[k * M + i] : A_[i * K + k]) * (tb ? B_[j * K + k] : B_[k * N + j]);
        C[i * N + j] = acc;
      }
  }
}

/* The first maximum along the axis wins (a NaN counts as the maximum). */
static void ev_argmax_mask(const Node *n, double *out, double *const *ins) {
  Shape s = n->shape;
  int ax = __builtin_ctz(node_reduce(n)->axes);
  int64_t len = s.d[ax], inner = 1, cnt = shape_count(s);
  for (int d = ax + 1; d < s.rank; d++) inner *= s.d[d];
  for (int64_t i = 0; i < cnt; i++) out[i] = 0;
  for (int64_t o = 0; o < cnt / len; o++) {
    int64_t base = (o / inner) * len * inner + o % inner, best = 0;
    for (int64_t j = 1; j < len; j++) {
      double v = ins[0][base + j * inner], b = ins[0][base + best * inner];
      if (v > b || (isnan(v) && !isnan(b))) best = j;
    }
    out[base + best * inner] = 1;
  }
}

static void ev_onehot(const Node *n, double *out, double *const *ins) {
  int64_t N = n->shape.d[0], C = n->shape.d[1];
  for (int64_t i = 0; i < N; i++)
    for (int64_t c = 0; c < C; c++) out[i * C + c] = ins[0][i] == (double)c;
}

/* ---------------------------------------------------------------- cost */

static double flops_matmul(const Node *n) { /* out [.., M, N], inner K */
  const Node *a = A(n);
  int r = a->shape.rank;
  double k = (double)(node_matmul(n)->ta ? a->shape.d[r - 2] : a->shape.d[r - 1]);
  return 2.0 * (double)shape_count(n->shape) * k;
}

/* ---------------------------------------------------------------- the table */

#define ELEM1(e, nm, g) [OP_##e] = {.name = #nm, .arity = 1, .cls = CLS_ELEM, .shape = shape_same, .grad = g, \
    .eval1 = ev_##nm, .flags = OPF_STORES_ONCE}
#define ELEM2(e, nm, g) [OP_##e] = {.name = #nm, .arity = 2, .cls = CLS_ELEM, .shape = shape_broadcast2, \
    .grad = g, .eval1 = ev_##nm, .flags = OPF_STORES_ONCE}
#define KERNEL CLS_KERNEL

const OpInfo gc_ops[OP__COUNT] = {
    [OP_INPUT] = {.name = "input", .arity = 0, .cls = CLS_LEAF, .dtype = DTR_LEAF},
    [OP_PARAM] = {.name = "param", .arity = 0, .cls = CLS_LEAF, .dtype = DTR_LEAF},
    [OP_CONST] = {.name = "const", .arity = 0, .cls = CLS_LEAF, .shape = shape_const, .attr = ATTR_CONST},
    ELEM1(NEG, neg, grad_neg),
    ELEM1(EXP, exp, grad_exp),
    ELEM1(LOG, log, grad_log),
    ELEM1(SQRT, sqrt, grad_sqrt),
    ELEM1(ABS, abs, grad_abs),
    ELEM1(SIGN, sign, NULL),
    ELEM1(STEP, step, NULL),
    ELEM1(TANH, tanh, grad_tanh),
    ELEM1(SIGMOID, sigmoid, grad_sigmoid),
    ELEM1(RELU, relu, grad_relu),
    ELEM1(SOFTPLUS, softplus, grad_softplus),
    ELEM1(ERF, erf, grad_erf),
    [OP_POWC] = {.name = "powc", .arity = 1, .cls = CLS_ELEM, .shape = shape_same, .grad = grad_powc,
                 .eval1 = ev_powc, .attr = ATTR_POW, .flags = OPF_STORES_ONCE},
    [OP_EXPAND] = {.name = "expand", .arity = 1, .cls = CLS_ELEM, .shape = shape_expand, .grad = grad_expand,
                   .eval1 = ev_id, .flags = OPF_STORES_ONCE},
    [OP_DETACH] = {.name = "detach", .arity = 1, .cls = CLS_ALIAS, .shape = shape_detach, .dtype = DTR_LIKE},
    ELEM2(ADD, add, grad_add),
    ELEM2(SUB, sub, grad_sub),
    ELEM2(MUL, mul, grad_mul),
    ELEM2(DIV, div, grad_div),
    ELEM2(MAXIMUM, maximum, grad_maximum),
    ELEM2(MINIMUM, minimum, grad_minimum),
    ELEM2(EQ, eq, NULL),
    /* ---- comparisons and elementwise (issue 15): ops_elem.c ---- */
    ELEM2(LT, lt, NULL),
    ELEM2(LE, le, NULL),
    ELEM2(GT, gt, NULL),
    ELEM2(GE, ge, NULL),
    ELEM2(NE, ne, NULL),
    ELEM2(SELECT, select, grad_select),
    ELEM2(POW, pow, grad_pow),
    ELEM1(SIN, sin, grad_sin),
    ELEM1(COS, cos, grad_cos),
    ELEM1(FLOOR, floor, NULL),
    ELEM1(CEIL, ceil, NULL),
    ELEM1(ROUND, round, NULL),
    [OP_SUM] = {.name = "sum", .arity = 1, .cls = CLS_REDUCE, .shape = shape_reduce, .grad = grad_sum,
                .eval1 = ev_sum1, .evalk = ev_reduce, .unit = 0, .attr = ATTR_REDUCE, .flags = OPF_STORES_ONCE},
    [OP_MAX] = {.name = "max", .arity = 1, .cls = CLS_REDUCE, .shape = shape_reduce, .grad = grad_max,
                .eval1 = ev_max1, .evalk = ev_reduce, .unit = -INFINITY, .attr = ATTR_REDUCE,
                .flags = OPF_STORES_ONCE},
    [OP_RESHAPE] = {.name = "reshape", .arity = 1, .cls = CLS_ALIAS, .shape = shape_reshape, .grad = grad_reshape,
                    .dtype = DTR_LIKE},
    [OP_PERMUTE] = {.name = "permute", .arity = 1, .cls = KERNEL, .shape = shape_permute, .grad = grad_permute,
                    .evalk = ev_permute, .attr = ATTR_PERM, .flags = OPF_STORES_ONCE},
    [OP_MATMUL] = {.name = "matmul", .arity = 2, .cls = KERNEL, .shape = shape_matmul, .grad = grad_matmul,
                   .evalk = ev_matmul, .attr = ATTR_MATMUL, .flops = flops_matmul},
    [OP_ONEHOT] = {.name = "onehot", .arity = 1, .cls = KERNEL, .shape = shape_onehot, .evalk = ev_onehot,
                   .attr = ATTR_ONEHOT, .dtype = DTR_LABELS},
    [OP_ARGMAX_MASK] = {.name = "argmax_mask", .arity = 1, .cls = KERNEL, .shape = shape_argmax_mask,
                        .evalk = ev_argmax_mask, .attr = ATTR_REDUCE},
    [OP_CONV2D] = {.name = "conv2d", .arity = 2, .cls = KERNEL, .shape = shape_conv2d, .grad = grad_conv2d,
                   .evalk = ev_conv2d, .attr = ATTR_CONV, .flags = OPF_STORES_ONCE, .flops = flops_conv},
    [OP_CONV2D_DX] = {.name = "conv2d_dx", .arity = 2, .cls = KERNEL, .shape = shape_preset4, .grad = grad_conv2d_dx,
                      .evalk = ev_conv2d_dx, .attr = ATTR_CONV, .flops = flops_conv},
    [OP_CONV2D_DW] = {.name = "conv2d_dw", .arity = 2, .cls = KERNEL, .shape = shape_preset4,
                      .evalk = ev_conv2d_dw, .attr = ATTR_CONV, .flags = OPF_STORES_ONCE, .flops = flops_conv},
    [OP_MAXPOOL] = {.name = "max_pool2d", .arity = 1, .cls = KERNEL, .shape = shape_pool, .grad = grad_maxpool,
                    .evalk = ev_maxpool, .attr = ATTR_POOL},
    [OP_MAXPOOL_DX] = {.name = "max_pool2d_dx", .arity = 2, .cls = KERNEL, .shape = shape_preset4,
                       .evalk = ev_maxpool_dx, .attr = ATTR_POOL},
    [OP_AVGPOOL] = {.name = "avg_pool2d", .arity = 1, .cls = KERNEL, .shape = shape_pool, .grad = grad_avgpool,
                    .evalk = ev_avgpool, .attr = ATTR_POOL},
    [OP_AVGPOOL_DX] = {.name = "avg_pool2d_dx", .arity = 1, .cls = KERNEL, .shape = shape_preset4,
                       .evalk = ev_avgpool_dx, .attr = ATTR_POOL},
    /* reductions and losses (issue 15): ops_reduce.c */
    [OP_PROD] = {.name = "prod", .arity = 1, .cls = CLS_REDUCE, .shape = shape_prod, .grad = grad_prod,
                 .eval1 = ev_prod1, .evalk = ev_reduce, .unit = 1, .attr = ATTR_REDUCE, .flags = OPF_STORES_ONCE},
    [OP_SQRT0] = {.name = "sqrt0", .arity = 1, .cls = CLS_ELEM, .shape = shape_same, .grad = grad_sqrt0,
                  .eval1 = ev_sqrt0, .flags = OPF_STORES_ONCE},
    [OP_ARGMAX] = {.name = "argmax", .arity = 1, .cls = KERNEL, .shape = shape_argmax, .evalk = ev_argmax,
                   .attr = ATTR_REDUCE, .dtype = DTR_INDEX},
    /* ---- indexing and assembling (issue 15; ops_index.c) ---- */
    [OP_SLICE] = {.name = "slice", .arity = 1, .cls = KERNEL, .shape = shape_slice, .grad = grad_slice,
                  .evalk = ev_slice, .attr = ATTR_SLICE, .dtype = DTR_LIKE, .flags = OPF_STORES_ONCE},
    [OP_PAD] = {.name = "pad", .arity = 1, .cls = KERNEL, .shape = shape_pad, .grad = grad_pad, .evalk = ev_pad,
                .attr = ATTR_SLICE, .flags = OPF_STORES_ONCE},
    /* ---- attention (issue 15; ops_attn.c) ---- */
    [OP_TRI] = {.name = "tri", .arity = 1, .cls = KERNEL, .shape = shape_tri, .grad = grad_tri, .evalk = ev_tri,
                .attr = ATTR_TRI, .flags = OPF_STORES_ONCE},
    [OP_SDPA] = {.name = "sdpa", .arity = 3, .cls = KERNEL, .shape = shape_sdpa, .grad = grad_sdpa,
                 .evalk = ev_sdpa, .attr = ATTR_SDPA, .flops = flops_sdpa},
    [OP_SDPA_BWD] = {.name = "sdpa_bwd", .arity = 4, .cls = KERNEL, .shape = shape_sdpa_bwd, .evalk = ev_sdpa_bwd,
                     .attr = ATTR_SDPA, .flops = flops_sdpa},
    /* ---- indexing II (issue 15; ops_index.c) ---- */
    [OP_GATHER] = {.name = "gather", .arity = 2, .cls = KERNEL, .shape = shape_gather, .grad = grad_gather,
                   .evalk = ev_gather, .attr = ATTR_GATHER, .dtype = DTR_GATHER, .flags = OPF_STORES_ONCE},
    [OP_SCATTER_ADD] = {.name = "scatter_add", .arity = 2, .cls = KERNEL, .shape = shape_scatter_add,
                        .evalk = ev_scatter_add, .attr = ATTR_GATHER, .dtype = DTR_GATHER},
    /* ---- dropout and modes (issue 15; ops_random.c) ---- */
    [OP_DROPOUT] = {.name = "dropout", .arity = 1, .cls = CLS_ELEM, .shape = shape_dropout, .grad = grad_dropout,
                    .evalr = ev_dropout, .attr = ATTR_DROPOUT, .flags = OPF_STORES_ONCE},
    /* ---- dtype conversions (issue 16; ops_elem.c): no derivative (an i32 has no gradient) ---- */
    [OP_TO_F32] = {.name = "to_f32", .arity = 1, .cls = CLS_ELEM, .shape = shape_same, .eval1 = ev_to_f32,
                   .dtype = DTR_LABELS, .flags = OPF_STORES_ONCE},
    [OP_TO_I32] = {.name = "to_i32", .arity = 1, .cls = CLS_ELEM, .shape = shape_same, .eval1 = ev_to_i32,
                   .dtype = DTR_INDEX, .flags = OPF_STORES_ONCE},
    /* sinks (entry.c): stored by the kernel they ride on, or a kernel of their own */
    [OP_COPY] = {.name = "copy", .arity = 1, .cls = CLS_ELEM, .shape = shape_sink, .grad = NULL, .eval1 = ev_id,
                 .dtype = DTR_COPY},
    [OP_SGD] = {.name = "sgd", .arity = 2, .cls = CLS_ELEM, .shape = shape_sink, .grad = NULL, .eval1 = ev_id},
};
