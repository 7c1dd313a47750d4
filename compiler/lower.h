/* lower.h — entry points to LLVM functions (lower.c): each entry point of entry.h (its
 * kernels and memory plan) becomes one function; the gradient entries become wrappers
 * of one private core. Kernels are emitted by the backend's operator table
 * (lower_ops.h) or, fused, by lower_fused.h. emit.c drives it. */
#ifndef GRADC_LOWER_H
#define GRADC_LOWER_H
#include <llvm-c/TargetMachine.h>
#include "lower_builder.h"

/* The string attribute of the functions of hand-vectorised kernels (matrix products):
 * they are called, not inlined, and emit_optimize gives them a short pipeline (the
 * vectorisers and induction-variable rewriting of default<O2> have nothing to do
 * there and were most of a large model's compile time). */
#define GRADC_VECTORISED_ATTR "gradc-vectorised"
bool lower_vectorised(LLVMValueRef fn); /* fn carries GRADC_VECTORISED_ATTR */

/* The SIMD width (floats) the kernels are written for on tm's target. */
int lower_vector_width(LLVMTargetMachineRef tm);
/* Emits the forward entry as e->name (and its packed form), or, for the train-step
 * entry, the private gradient core NAME_core(args..., mode); returns the function. */
LLVMValueRef lower_entry(Lower *L, Graph *g, Entry *e);
/* Emits pub (backward: mode 0, train step: mode 1) as a call of the core. */
void lower_wrapper(Lower *L, Graph *g, Entry *pub, Entry *core, LLVMValueRef core_fn, int mode);

#endif
