/* front.c — the graph passes in order, with the verifier and the dumps between them
 * (see front.h). */
#include "front.h"
#include <stdio.h>
#include "autodiff.h"
#include "build.h"
#include "irprint.h"
#include "opt.h"
#include "verify.h"
#include "weights.h"

bool front_verifies(const gc_options *o) {
#ifdef NDEBUG
  return o->verify;
#else
  (void)o;
  return true;
#endif
}

static void after(Graph *g, const gc_options *o, gc_pass pass, const char *name) {
  if (front_verifies(o)) verify_or_abort(name, verify_graph(g));
  if (o->dump_after & pass) {
    fprintf(stderr, "# gradc: model %s, after %s\n", g->model, name);
    print_graph(stderr, g);
  }
}

FrontMode front_mode(const gc_options *o) { return o->inference ? FRONT_EVAL : FRONT_TRAIN; }

Graph *front_graph(Arena *a, Diag *d, const gc_options *o, bool bake, FrontMode mode) {
  BuildOptions bo = {(const char **)o->define_names, o->define_values, o->ndefines, (const char **)o->freeze,
                     o->nfreeze, mode == FRONT_TRAIN, bake && o->weights};
  Program *p = parse_program(a, d);
  Graph *g = build_graph(a, d, p, &bo);
  after(g, o, GC_PASS_BUILD, "build");
  if (bake && o->weights) {
    bake_weights(g, d, o->weights);
    after(g, o, GC_PASS_BAKE, "bake");
  }
  if (mode == FRONT_TRAIN) {
    autodiff(g);
    after(g, o, GC_PASS_AUTODIFF, "autodiff");
  }
  optimize(g);
  after(g, o, GC_PASS_OPTIMIZE, "optimize");
  return g;
}
