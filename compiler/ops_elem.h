/* ops_elem.h — the comparison and elementwise rows of the operator table added with
 * issue 15 (see ops_elem.c): their derivatives and float64 evaluations, used by the
 * rows of gc_ops in ops.c. */
#ifndef GRADC_OPS_ELEM_H
#define GRADC_OPS_ELEM_H
#include "opinfo.h"

/* Comparisons: 1 where the relation holds, else 0 (an f32 mask; NaN compares false
 * except with !=). No derivative. */
double ev_lt(const Node *n, double a, double b);
double ev_le(const Node *n, double a, double b);
double ev_gt(const Node *n, double a, double b);
double ev_ge(const Node *n, double a, double b);
double ev_ne(const Node *n, double a, double b);

/* select(c, a): a where c != 0 (a NaN counts as true, as torch's bool(NaN)), else 0;
 * the gradient flows to a through the same mask, none to c. where(c, a, b) is
 * select(c, a) + select(c == 0, b) (builtins_elem.c). */
double ev_select(const Node *n, double a, double b);
void grad_select(Graph *g, Node *n, Node *dy, Node **dx);

/* pow(x, y) with a tensor exponent: torch.pow, and its gradients with respect to both. */
double ev_pow(const Node *n, double a, double b);
void grad_pow(Graph *g, Node *n, Node *dy, Node **dx);

double ev_sin(const Node *n, double a, double b);
double ev_cos(const Node *n, double a, double b);
void grad_sin(Graph *g, Node *n, Node *dy, Node **dx);
void grad_cos(Graph *g, Node *n, Node *dy, Node **dx);

/* floor, ceil, round (half to even, as torch.round): no derivative (zero almost
 * everywhere, as PyTorch's). */
double ev_floor(const Node *n, double a, double b);
double ev_ceil(const Node *n, double a, double b);
double ev_round(const Node *n, double a, double b);

/* dtype conversions (issue 16): to_f32 (i32 -> f32, rounded to the nearest float as
 * torch's x.float() beyond 2^24) and to_i32 (f32 -> i32 truncated toward zero, saturated
 * at the i32 range, NaN -> 0: LLVM's fptosi.sat, torch's x.int() where that is defined).
 * No derivative: an i32 operand or result carries no gradient. */
double ev_to_f32(const Node *n, double a, double b);
double ev_to_i32(const Node *n, double a, double b);

#endif
