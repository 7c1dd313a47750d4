/* front.h — the graph passes in order, shared by gc_compile and the reference evaluator:
 *
 *   parse -> build -> [bake weights] -> [autodiff] -> optimize
 *
 * After each pass, the IR verifier (verify.h) when front_verifies(o), and the graph
 * printed to stderr when o->dump_after names the pass (`gradc compile --dump-after`). */
#ifndef GRADC_FRONT_H
#define GRADC_FRONT_H
#include "gradc/compiler.h"
#include "graph.h"

/* Runs the passes (bake only if `bake` and o->weights; autodiff unless o->inference);
 * returns the optimised graph or longjmps through d on a model error. */
Graph *front_graph(Arena *a, Diag *d, const gc_options *o, bool bake);

/* Whether the verifier runs: in a debug build of the library (NDEBUG not defined), or
 * when o->verify asks for it. */
bool front_verifies(const gc_options *o);

#endif
