/* autodiff.h — symbolic reverse-mode differentiation (see autodiff.c). */
#ifndef GRADC_AUTODIFF_H
#define GRADC_AUTODIFF_H
#include "graph.h"

/* Appends the backward graph to g; sets g->grads[i] for each trainable parameter the
 * loss depends on (NULL otherwise). */
void autodiff(Graph *g);

#endif
