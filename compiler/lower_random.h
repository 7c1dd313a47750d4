/* lower_random.h — dropout and modes (issue 15): the DROPOUT primitive's emitter, the
 * generator of ops_random.h (Philox4x32-10) as LLVM IR on one element or a vector of
 * consecutive elements, so that it fuses into the elementwise loop, row or matmul
 * epilogue around it (lower_elem.c lists it in the elementwise column). */
#ifndef GRADC_LOWER_RANDOM_H
#define GRADC_LOWER_RANDOM_H
#include "lower_builder.h"

/* y = a * (keep ? scale : 0) at the element L->elem_at (and the lanes after it). */
LLVMValueRef lower_dropout(Lower *L, const Node *n, LLVMValueRef a);

#endif
