/* build.h — the syntax tree to the graph (names, sizes, shapes, leaves). */
#ifndef GRADC_BUILD_H
#define GRADC_BUILD_H
#include "ast.h"
#include "graph.h"

typedef struct {
  const char **define_names; /* -D NAME=INT */
  const long long *define_values;
  int ndefines;
  const char **freeze; /* --freeze */
  int nfreeze;
  bool training;       /* the mode the graph is built in (Graph.training) */
  bool baking;         /* --weights will bake every parameter (Graph.baking) */
} BuildOptions;

Graph *build_graph(Arena *a, Diag *d, const Program *p, const BuildOptions *opt);

#endif
