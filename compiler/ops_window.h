/* ops_window.h — conv2d and pooling rows of the operator table (see ops_window.c). */
#ifndef GRADC_OPS_WINDOW_H
#define GRADC_OPS_WINDOW_H
#include "opinfo.h"

const char *shape_conv2d(Graph *g, Node *n);
const char *shape_pool(Graph *g, Node *n);
const char *shape_preset4(Graph *g, Node *n);
void grad_conv2d(Graph *g, Node *n, Node *dy, Node **dx);
void grad_conv2d_dx(Graph *g, Node *n, Node *dz, Node **dx);
void grad_maxpool(Graph *g, Node *n, Node *dy, Node **dx);
void grad_avgpool(Graph *g, Node *n, Node *dy, Node **dx);
void ev_conv2d(const Node *n, double *out, double *const *in);
void ev_conv2d_dx(const Node *n, double *out, double *const *in);
void ev_conv2d_dw(const Node *n, double *out, double *const *in);
void ev_maxpool(const Node *n, double *out, double *const *in);
void ev_maxpool_dx(const Node *n, double *out, double *const *in);
void ev_avgpool(const Node *n, double *out, double *const *in);
void ev_avgpool_dx(const Node *n, double *out, double *const *in);

double flops_conv(const Node *n);

#endif
