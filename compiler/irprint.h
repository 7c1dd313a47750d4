/* irprint.h — the graph as text, one node a line (the first part of `--emit ir`). */
#ifndef GRADC_IRPRINT_H
#define GRADC_IRPRINT_H
#include <stdio.h>
#include "graph.h"

/* Every node but the sinks (`%id = op operands attributes : type` and the user's name
 * as a comment), then the outputs, the loss and the gradients. */
void print_graph(FILE *f, const Graph *g);

#endif
