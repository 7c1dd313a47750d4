/* matmul_plan.c — the matrix-product kernel's plan (matmul_plan.h), free of LLVM. */
#include "matmul_plan.h"
#include "opinfo.h"

void matmul_dims(const Node *n, int64_t *M, int64_t *N, int64_t *K) {
  const Node *a = n->in[0];
  int r = n->shape.rank;
  *M = n->shape.d[r - 2], *N = n->shape.d[r - 1];
  *K = node_matmul(n)->ta ? a->shape.d[a->shape.rank - 2] : a->shape.d[a->shape.rank - 1];
}

/* Packing pays off for big products whose operands the in-place kernels would walk
 * with large strides: rows of B a page or more apart (N >= 1024... or 512), A stored
 * transposed with long columns, B stored transposed (the dot kernel blocks less) — and
 * for B stored transposed with a short k (dY W^T of a narrow layer), where the dot
 * kernel would do a horizontal sum for every few multiply-adds. */
bool matmul_packs(const Node *n, int vw) {
  int64_t M, N, K;
  matmul_dims(n, &M, &N, &K);
  bool big = (double)M * (double)N * (double)K >= (double)(1 << 21);
  bool ta = node_matmul(n)->ta, tb = node_matmul(n)->tb;
  bool strided = N >= 512 || (ta && M >= 512) || tb;
  bool short_dots = tb && K < 4 * vw; /* the dot kernel would spend its time in horizontal sums */
  return vw > 1 && M >= MR && N >= vw && K >= 8 && ((big && strided) || short_dots);
}

/* ---- parallel parts ----
 * A product of at least PAR_FLOPS is cut into up to `threads` parts along its columns
 * or, when it has more row blocks than column blocks, along its rows: equal parts
 * where the size divides (one body of code serves every part), else parts of whole
 * register blocks (NV*VW columns, MR rows) and a shorter last one. Each part is a product of its own that
 * writes its own block of C with the same sums over k in the same order, so the result
 * is bitwise the one of the unsplit kernel; the parts need no synchronisation. */
#define PAR_FLOPS (1 << 22)

bool matmul_large(const Node *n) {
  int64_t M, N, K;
  matmul_dims(n, &M, &N, &K);
  return 2.0 * (double)M * (double)N * (double)K >= PAR_FLOPS;
}

Split matmul_split(const Node *n, int vw, int threads) {
  int64_t M, N, K;
  matmul_dims(n, &M, &N, &K);
  Split s = {1, false, 0, 0};
  if (threads < 2 || vw < 2 || !matmul_large(n)) return s;
  int64_t nr = (int64_t)NV * vw;
  s.cols = N / nr >= M / MR;
  int64_t unit = s.cols ? nr : MR;
  s.total = s.cols ? N : M;
  int64_t t = min64(threads, s.total / unit); /* every part at least one block */
  for (; t > 1; t--) { /* and none empty */
    /* equal parts where they exist (one body of code for all), else whole blocks */
    s.chunk = s.total % t == 0 && s.total / t >= unit ? s.total / t : round_up((s.total + t - 1) / t, unit);
    if ((t - 1) * s.chunk < s.total) break;
  }
  s.parts = t > 1 ? (int)t : 1;
  return s;
}

int matmul_parts(const Node *n, int vw, int threads) { return matmul_split(n, vw, threads).parts; }

int64_t matmul_scratch_bytes(const Node *n, int vw) {
  if (!matmul_packs(n, vw)) return 0;
  int64_t M, N, K;
  matmul_dims(n, &M, &N, &K);
  int64_t nr = (int64_t)NV * vw, kc = min64(KC, K);
  int64_t sa = (int64_t)dtype_size(n->in[0]->dtype), sb = (int64_t)dtype_size(n->in[1]->dtype);
  return round_up(min64(PMC, round_up(M, MR)) * kc * sa + kc * min64(PNC, round_up(N, nr)) * sb, 64);
}

bool matmul_single_pass(const Node *n) {
  int64_t M, N, K;
  matmul_dims(n, &M, &N, &K);
  return K <= KC;
}

