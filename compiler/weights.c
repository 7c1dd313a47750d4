/* weights.c — baking trained parameters into the code (`gradc compile --weights W`).
 *
 * Reads the safetensors file through the format library's validating reader
 * (formats/safetensors.h: every parameter present, F32, the right shape and byte range,
 * nothing extra), then turns each parameter into read-only data of the object: it
 * leaves the entry points' argument lists and gets no gradient. */
#include "weights.h"
#include <stdio.h>
#include "gradc/runtime_core.h" /* the optimizers' state names */
#include "safetensors.h"

void bake_weights(Graph *g, Diag *d, const char *path) {
  StTensor *want = ARENA_ARRAY(g->arena, StTensor, g->nparams + 1);
  float **dst = ARENA_ARRAY(g->arena, float *, g->nparams + 1);
  for (int i = 0; i < g->nparams; i++) {
    Node *p = g->params[i];
    size_t count = (size_t)shape_count(p->shape);
    want[i] = (StTensor){p->name, p->shape.rank, p->shape.d, count, NULL};
    dst[i] = ARENA_ARRAY(g->arena, float, count + 1);
  }
  char err[1024];
  const char *states[16]; /* a checkpoint's optimizer state, validated and skipped */
  int nstates = gradc_optimizer_state_names(states, 16);
  if (st_read(path, want, dst, (size_t)g->nparams, states, (size_t)(nstates < 16 ? nstates : 16), err, sizeof err))
    diag_error(d, (SrcLoc){0, 0}, "%s", err);
  for (int i = 0; i < g->nparams; i++) {
    g->params[i]->baked = dst[i];
    g->params[i]->trainable = false;
  }
}
