/* matmul.h — the matrix-product kernel (see matmul.c); its plan, free of LLVM, is
 * matmul_plan.h. */
#ifndef GRADC_MATMUL_H
#define GRADC_MATMUL_H
#include "lower_builder.h"
#include "matmul_plan.h"

/* Emits k (one MATMUL node) with the target's vector width L->vw. */
void emit_matmul(Lower *L, Kernel *k);

#endif
