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

/* The mode a graph is built in: TRAIN (model.train(): dropout active, batch_norm on batch
 * statistics, then autodiff) or EVAL (model.eval(): no backward). */
typedef enum { FRONT_EVAL, FRONT_TRAIN } FrontMode;

/* Runs the passes (bake only if `bake` and o->weights; autodiff in TRAIN mode); returns
 * the optimised graph or longjmps through d on a model error. */
Graph *front_graph(Arena *a, Diag *d, const gc_options *o, bool bake, FrontMode mode);
/* The mode of the graph that o's entry points (or its reference evaluation) start from:
 * EVAL with o->inference, else TRAIN. */
FrontMode front_mode(const gc_options *o);

/* Whether the verifier runs: in a debug build of the library (NDEBUG not defined), or
 * when o->verify asks for it. */
bool front_verifies(const gc_options *o);

#endif
