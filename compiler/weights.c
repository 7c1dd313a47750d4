/* weights.c — baking trained parameters into the code (`gradc compile --weights W`).
 *
 * Reads the safetensors file through the runtime's validating reader (every parameter
 * present, F32, the right shape and byte range, nothing extra), then turns each
 * parameter into read-only data of the object: it leaves the entry points' argument
 * lists and gets no gradient. */
#include "weights.h"
#include <stdio.h>
#include "gradc/runtime.h"

void bake_weights(Graph *g, Diag *d, const char *path) {
  gradc_tensor_info *want = ARENA_ARRAY(g->arena, gradc_tensor_info, g->nparams + 1);
  float **dst = ARENA_ARRAY(g->arena, float *, g->nparams + 1);
  for (int i = 0; i < g->nparams; i++) {
    Node *p = g->params[i];
    gradc_tensor_info *t = &want[i];
    t->name = p->name;
    t->role = GRADC_ROLE_PARAM;
    t->dtype = GRADC_F32;
    t->rank = p->shape.rank;
    for (int k = 0; k < p->shape.rank; k++) t->shape[k] = p->shape.d[k];
    t->count = (size_t)shape_count(p->shape);
    dst[i] = ARENA_ARRAY(g->arena, float, t->count + 1);
  }
  char err[1024];
  if (gradc_read_safetensors(path, want, dst, (size_t)g->nparams, err, sizeof err))
    diag_error(d, (SrcLoc){0, 0}, "%s", err);
  for (int i = 0; i < g->nparams; i++) {
    g->params[i]->baked = dst[i];
    g->params[i]->trainable = false;
  }
}
