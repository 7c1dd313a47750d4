/* lower_ops.h — the backend's column of the operator table: for every primitive of
 * ops.h, how it becomes LLVM IR. The op's semantics (shape rule, derivative, float64
 * evaluation) are in gc_ops (opinfo.h), free of LLVM; this table is indexed by the
 * same OpKind. tests/test_optable.c checks that every op has the entries its class
 * needs in both tables. */
#ifndef GRADC_LOWER_OPS_H
#define GRADC_LOWER_OPS_H
#include "lower.h"
#include "opinfo.h"

typedef struct {
  /* ELEM, REDUCE: one element (REDUCE: the accumulator a combined with one more
   * element b) as LLVM IR on f32 scalars or vectors. */
  LLVMValueRef (*emit1)(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b);
  /* REDUCE / KERNEL: the whole op as one kernel. */
  void (*emitk)(Lower *L, Kernel *k);
} OpLower;

extern const OpLower gc_lower[OP__COUNT];

/* The windowed kernels (lower_window.c). */
void em_conv2d(Lower *L, Kernel *k);
void em_conv2d_dx(Lower *L, Kernel *k);
void em_conv2d_dw(Lower *L, Kernel *k);
void em_maxpool(Lower *L, Kernel *k);
void em_maxpool_dx(Lower *L, Kernel *k);
void em_avgpool(Lower *L, Kernel *k);
void em_avgpool_dx(Lower *L, Kernel *k);

#endif
