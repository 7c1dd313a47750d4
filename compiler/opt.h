/* opt.h — simplification, CSE and dead-code elimination over the whole graph. */
#ifndef GRADC_OPT_H
#define GRADC_OPT_H
#include "graph.h"

/* Rewrites g in place until nothing changes (bounded); afterwards g->nodes holds only
 * what the roots (outputs, loss, gradients, leaves) need, in topological order. */
void optimize(Graph *g);

#endif
