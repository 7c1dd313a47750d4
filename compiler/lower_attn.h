/* lower_attn.h — the kernels of the attention ops (issue 15; lower_attn.c): the
 * triangular mask, fused scaled dot-product attention and its backward. */
#ifndef GRADC_LOWER_ATTN_H
#define GRADC_LOWER_ATTN_H
#include "lower_builder.h"

void em_tri(Lower *L, Kernel *k);
void em_sdpa(Lower *L, Kernel *k);
void em_sdpa_bwd(Lower *L, Kernel *k);

#endif
