/* lower_fused.h — the fused kernels (lower_fused.c): an elementwise group (KER_ELEM)
 * and a rows kernel (KER_ROWS). vals holds, by node id, the values of members already
 * computed in registers. */
#ifndef GRADC_LOWER_FUSED_H
#define GRADC_LOWER_FUSED_H
#include "lower_builder.h"

void lower_elem_kernel(Lower *L, Kernel *k, LLVMValueRef *vals);
void lower_rows_kernel(Lower *L, Kernel *k, LLVMValueRef *vals);

#endif
