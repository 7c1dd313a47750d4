/* weights.h — baking trained parameters into the graph (see weights.c). */
#ifndef GRADC_WEIGHTS_H
#define GRADC_WEIGHTS_H
#include "graph.h"

/* Reads every parameter from the safetensors file at path; errors through d. */
void bake_weights(Graph *g, Diag *d, const char *path);

#endif
