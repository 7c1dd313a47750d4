/* ops_elem.c — semantics of the comparison and elementwise primitives of issue 15
 * (ops_elem.h): comparisons (f32 0/1 masks), select (the mask's use: where), pow with a
 * tensor exponent, sin, cos, floor, ceil, round. Derivatives follow PyTorch 1.13's
 * formulas (tools/autograd/templates/FunctionsManual.cpp): pow's with respect to the
 * base is 0 where the exponent is 0, with respect to the exponent pow(x, y) log(x),
 * and 0 where x = 0 and y >= 0. The comparisons and the rounding functions are
 * piecewise constant: no derivative, so no gradient flows through them (PyTorch's is
 * zero). The dtype conversions of issue 16 (to_f32, to_i32) have none either: an i32
 * value has no gradient. Same notation as ops.c: dy is d loss / d n, dx[i] d loss / d in[i]. */
#include "ops_elem.h"
#include <math.h>

static Node *bin(Graph *g, OpKind op, Node *a, Node *b) { return g_binary(g, op, a, b); }

/* ---------------------------------------------------------------- derivatives */

void grad_select(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[1] = g_sum_to(g, bin(g, OP_SELECT, n->in[0], dy), n->in[1]->shape);
}

/* torch: d/dx = where(y == 0, 0, dy * (y * pow(x, y - 1)));
 *        d/dy = dy * where(x == 0 & y >= 0, 0, pow(x, y) * log(x)). */
void grad_pow(Graph *g, Node *n, Node *dy, Node **dx) {
  Node *x = n->in[0], *y = n->in[1];
  Node *zero = g_const(g, 0), *one = g_const(g, 1);
  Node *dpow = bin(g, OP_MUL, y, bin(g, OP_POW, x, bin(g, OP_SUB, y, one)));
  dx[0] = g_sum_to(g, bin(g, OP_SELECT, bin(g, OP_NE, y, zero), bin(g, OP_MUL, dy, dpow)), x->shape);
  Node *flat = bin(g, OP_MUL, bin(g, OP_EQ, x, zero), bin(g, OP_GE, y, zero)); /* x == 0 and y >= 0 */
  Node *dlog = bin(g, OP_SELECT, bin(g, OP_EQ, flat, zero), bin(g, OP_MUL, n, g_unary(g, OP_LOG, x)));
  dx[1] = g_sum_to(g, bin(g, OP_MUL, dy, dlog), y->shape);
}

void grad_sin(Graph *g, Node *n, Node *dy, Node **dx) { dx[0] = bin(g, OP_MUL, dy, g_unary(g, OP_COS, n->in[0])); }
void grad_cos(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = bin(g, OP_MUL, dy, g_unary(g, OP_NEG, g_unary(g, OP_SIN, n->in[0])));
}

/* ---------------------------------------------------------------- reference evaluation */

double ev_lt(const Node *n, double a, double b) { return (void)n, a < b; }
double ev_le(const Node *n, double a, double b) { return (void)n, a <= b; }
double ev_gt(const Node *n, double a, double b) { return (void)n, a > b; }
double ev_ge(const Node *n, double a, double b) { return (void)n, a >= b; }
double ev_ne(const Node *n, double a, double b) { return (void)n, a != b; }
double ev_select(const Node *n, double a, double b) { return (void)n, a != 0 ? b : 0; }
double ev_pow(const Node *n, double a, double b) { return (void)n, pow(a, b); }
double ev_sin(const Node *n, double a, double b) { return (void)n, (void)b, sin(a); }
double ev_cos(const Node *n, double a, double b) { return (void)n, (void)b, cos(a); }
double ev_floor(const Node *n, double a, double b) { return (void)n, (void)b, floor(a); }
double ev_ceil(const Node *n, double a, double b) { return (void)n, (void)b, ceil(a); }
double ev_round(const Node *n, double a, double b) { return (void)n, (void)b, nearbyint(a); } /* half to even */

/* ---- dtype conversions (issue 16) ---- */
double ev_to_f32(const Node *n, double a, double b) { return (void)n, (void)b, (double)(float)a; }
double ev_to_i32(const Node *n, double a, double b) {
  (void)n, (void)b;
  if (isnan(a)) return 0;
  if (a <= -2147483648.0) return -2147483648.0;
  if (a >= 2147483647.0) return 2147483647.0;
  return trunc(a);
}
