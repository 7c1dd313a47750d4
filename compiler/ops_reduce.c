/* ops_reduce.c — primitives of the reductions beyond sum and max (issue 15): their
 * shape rules, derivatives and float64 evaluation (no LLVM: the product's combining
 * step is in lower_elem.c, sqrt0 is lowered as sqrt, argmax's kernel is in lower_ops.c).
 * The rows are in ops.c.
 *
 *   prod    y = the product over the reduced axes (kept as size 1). Its derivative is
 *           torch's, exact with zeros (torch never divides by x there): with z the
 *           number of zeros in the reduced slice and P the product of its other
 *           elements, dx = dy * P / x where z = 0, dy * P at the zero where z = 1, and
 *           0 elsewhere (and everywhere where z >= 2).
 *   sqrt0   sqrt(x), whose derivative is 0 where the result is 0, as torch's norm and
 *           std (masked_fill(result == 0, 0)); sqrt's own derivative is infinite there.
 *   argmax  the index (i32) of the first maximum along one axis, kept as size 1; a NaN
 *           counts as the maximum (torch.argmax). No derivative: an integer. */
#include "ops_reduce.h"
#include <math.h>

#define A(n) ((n)->in[0])

static const char *op_name(const Graph *g, const Node *n) { return g->what ? g->what : gc_ops[n->op].name; }

/* The reduced shape of an f32 operand (reduced axes kept as size 1). */
static const char *shape_kept(Graph *g, Node *n) {
  Node *x = A(n);
  if (x->dtype != DT_F32)
    return arena_printf(g->arena, "'%s' needs f32 operands, but operand 1%s%s%s is %s %s", op_name(g, n),
                        x->name ? " ('" : "", x->name ? x->name : "", x->name ? "')" : "", dtype_name(x->dtype),
                        shape_str(g->arena, x->shape));
  Shape s = x->shape;
  unsigned axes = node_reduce(n)->axes;
  if (axes >> s.rank) return arena_printf(g->arena, "reduction axis out of range for shape %s", shape_str(g->arena, s));
  for (int i = 0; i < s.rank; i++)
    if (axes & (1u << i)) s.d[i] = 1;
  n->shape = s;
  return NULL;
}

const char *shape_prod(Graph *g, Node *n) { return shape_kept(g, n); }

const char *shape_argmax(Graph *g, Node *n) {
  unsigned axes = node_reduce(n)->axes;
  GC_ASSERT(axes && !(axes & (axes - 1)));
  return shape_kept(g, n);
}

/* ---------------------------------------------------------------- derivatives */

static Node *mul(Graph *g, Node *a, Node *b) { return g_binary(g, OP_MUL, a, b); }
static Node *add(Graph *g, Node *a, Node *b) { return g_binary(g, OP_ADD, a, b); }
static Node *eq(Graph *g, Node *a, double v) { return g_binary(g, OP_EQ, a, g_const(g, v)); }

void grad_prod(Graph *g, Node *n, Node *dy, Node **dx) {
  Node *x = A(n);
  unsigned axes = node_reduce(n)->axes;
  Node *zero = eq(g, x, 0);                        /* 1 at the zeros */
  Node *nz = add(g, x, zero);                      /* x with its zeros made 1 */
  Node *others = g_binary(g, OP_DIV, g_prod(g, nz, axes), nz); /* the product of the slice's other elements */
  Node *z = g_sum(g, zero, axes);                  /* zeros per slice */
  Node *w = add(g, eq(g, z, 0), mul(g, eq(g, z, 1), zero));
  dx[0] = mul(g, dy, mul(g, others, w));
}

void grad_sqrt0(Graph *g, Node *n, Node *dy, Node **dx) { /* dy / 2y, 0 where y = 0 */
  Node *at0 = eq(g, n, 0);
  Node *num = mul(g, dy, g_binary(g, OP_SUB, g_const(g, 1), at0));
  dx[0] = g_binary(g, OP_DIV, num, add(g, mul(g, n, g_const(g, 2)), at0));
}

/* ---------------------------------------------------------------- reference evaluation */

double ev_prod1(const Node *n, double acc, double v) { return (void)n, acc * v; }
double ev_sqrt0(const Node *n, double a, double b) { return (void)n, (void)b, sqrt(a); }

void ev_argmax(const Node *n, double *out, double *const *in) {
  Shape s = A(n)->shape;
  int ax = __builtin_ctz(node_reduce(n)->axes);
  int64_t len = s.d[ax], inner = 1, cnt = shape_count(n->shape);
  for (int d = ax + 1; d < s.rank; d++) inner *= s.d[d];
  for (int64_t o = 0; o < cnt; o++) {
    int64_t base = (o / inner) * len * inner + o % inner, best = 0;
    for (int64_t j = 1; j < len; j++) {
      double v = in[0][base + j * inner], b = in[0][base + best * inner];
      if (v > b || (isnan(v) && !isnan(b))) best = j;
    }
    out[o] = (double)best;
  }
}
