/* matmul_plan.h — the matrix-product kernel's plan, free of LLVM: its register and
 * cache blocking, whether a product packs its operands, runs in one pass over k, how it
 * splits into parallel parts and how much packing scratch it needs. The scheduler and
 * the memory plan ask these questions; matmul.c (the LLVM kernel) follows the answers. */
#ifndef GRADC_MATMUL_PLAN_H
#define GRADC_MATMUL_PLAN_H
#include <stdbool.h>
#include <stdint.h>
#include "graph.h"

#define MR 6  /* rows of the broadcast kernel's register block */
#define NV 2  /* vectors per row of the broadcast kernel's register block */
#define KC 256
#define PMC 144  /* rows of A packed at a time (a multiple of MR) */
#define PNC 1024 /* columns of B packed at a time */

typedef struct {
  int parts;
  bool cols;            /* split along N (else along M) */
  int64_t chunk, total; /* every part but the last has `chunk` of the `total` rows/columns */
} Split;

/* C [.., M, N] = op(A) [.., M, K] op(B) [.., K, N]. */
void matmul_dims(const Node *n, int64_t *M, int64_t *N, int64_t *K);
/* Whether the kernel copies blocks of A and B into packed panels first. */
bool matmul_packs(const Node *n, int vw);
/* How a product is cut into parts for `threads` threads (parts = 1: not cut): large
 * products only, each part a block of columns or rows of C. */
Split matmul_split(const Node *n, int vw, int threads);
int matmul_parts(const Node *n, int vw, int threads);
/* Whether product n is large (at least 4 MFLOP): split into parts where there are
 * threads; compiled as a function of its own with a short pipeline (lower.h). */
bool matmul_large(const Node *n);
/* Packing scratch of one part, in bytes (0 when it does not pack). */
int64_t matmul_scratch_bytes(const Node *n, int vw);
/* Whether k fits one block: the kernel stores each element of C once, finished (no
 * partial sums over k-blocks). */
bool matmul_single_pass(const Node *n);
static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

#endif
