/* matmul.h — the matrix-product kernel (see matmul.c). */
#ifndef GRADC_MATMUL_H
#define GRADC_MATMUL_H
#include "lower.h"

/* Emits k (one MATMUL node) with the target's vector width L->vw. */
void emit_matmul(Lower *L, Kernel *k);
/* Whether the kernel stores each element of n once (no partial sums over k-blocks). */
bool matmul_single_pass(const Node *n);
/* The number of parts (1, or up to `threads`) a product is split into for the
 * parallel runner: large products only, each part a block of columns or rows of C. */
int matmul_parts(const Node *n, int vw, int threads);
/* Whether product n is large (at least 4 MFLOP): split into parts where there are
 * threads; compiled as a function of its own with a short pipeline (lower.h). */
bool matmul_large(const Node *n);
/* Workspace one part of the kernel needs to pack its operands (0: it works in place). */
int64_t matmul_scratch_bytes(const Node *n, int vw);

#endif
