/* ops_index.h — the indexing rows of the operator table: slice and pad; gather and scatter_add (ops_index.c). */
#ifndef GRADC_OPS_INDEX_H
#define GRADC_OPS_INDEX_H
#include "opinfo.h"

const char *shape_slice(Graph *g, Node *n);
const char *shape_pad(Graph *g, Node *n);
void grad_slice(Graph *g, Node *n, Node *dy, Node **dx);
void grad_pad(Graph *g, Node *n, Node *dy, Node **dx);
void ev_slice(const Node *n, double *out, double *const *in);
void ev_pad(const Node *n, double *out, double *const *in);

/* ---- indexing II (issue 15) ---- */
const char *shape_gather(Graph *g, Node *n);
const char *shape_scatter_add(Graph *g, Node *n);
void grad_gather(Graph *g, Node *n, Node *dy, Node **dx);
void ev_gather(const Node *n, double *out, double *const *in);
void ev_scatter_add(const Node *n, double *out, double *const *in);

#endif
