/* ops_reduce.h — the rows of the operator table for prod, sqrt0 and argmax (see
 * ops_reduce.c); the rows themselves are in ops.c. */
#ifndef GRADC_OPS_REDUCE_H
#define GRADC_OPS_REDUCE_H
#include "opinfo.h"

const char *shape_prod(Graph *g, Node *n);
const char *shape_argmax(Graph *g, Node *n);
void grad_prod(Graph *g, Node *n, Node *dy, Node **dx);
void grad_sqrt0(Graph *g, Node *n, Node *dy, Node **dx);
double ev_prod1(const Node *n, double acc, double v);
double ev_sqrt0(const Node *n, double a, double b);
void ev_argmax(const Node *n, double *out, double *const *in);

#endif
