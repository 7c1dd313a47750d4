/* ops_index.c — the indexing primitives of the operator table: SLICE and PAD.
 *
 * SLICE takes every step-th element of each axis from `start` (a negative step walks
 * the axis backwards): y[i] = x[start + i step], the result's shape set by its
 * constructor. PAD is its adjoint: x placed at start + i step of a tensor of the
 * result's shape, `value` elsewhere. Each one's derivative is the other (with value
 * 0), so slicing, concat (a sum of pads), narrow, stack and every padding mode
 * (builtins_index.c) are differentiated without another rule. */
#include "ops_index.h"
#include <stdlib.h>

#define A(n) ((n)->in[0])

/* The positions start + i step, i < n, all fall inside [0, size). */
static bool in_range(int64_t start, int64_t step, int64_t n, int64_t size) {
  int64_t last = start + (n - 1) * step;
  return step != 0 && start >= 0 && start < size && last >= 0 && last < size;
}

/* Both: the operand and the result have one rank; the strided positions of `small`
 * fit into `big` on every axis. */
static const char *check_strided(Graph *g, Node *n, Shape small, Shape big, const char *what) {
  const SliceAttr *a = node_slice(n);
  if (small.rank != big.rank)
    return arena_printf(g->arena, "%s: ranks of %s and %s differ", what, shape_str(g->arena, A(n)->shape),
                        shape_str(g->arena, n->shape));
  for (int i = 0; i < small.rank; i++)
    if (!in_range(a->start[i], a->step[i], small.d[i], big.d[i]))
      return arena_printf(g->arena, "%s: axis %d of %s: %lld elements from %lld by %lld do not fit in %lld", what, i,
                          shape_str(g->arena, A(n)->shape), (long long)small.d[i], (long long)a->start[i],
                          (long long)a->step[i], (long long)big.d[i]);
  if (A(n)->dtype != DT_F32)
    return arena_printf(g->arena, "%s needs an f32 operand, got %s", what, dtype_name(A(n)->dtype));
  return NULL;
}

const char *shape_slice(Graph *g, Node *n) { return check_strided(g, n, n->shape, A(n)->shape, "slice"); }
const char *shape_pad(Graph *g, Node *n) { return check_strided(g, n, A(n)->shape, n->shape, "pad"); }

void grad_slice(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_pad(g, dy, node_slice(n)->start, node_slice(n)->step, A(n)->shape, 0);
}
void grad_pad(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_slice(g, dy, node_slice(n)->start, node_slice(n)->step, A(n)->shape);
}

/* Offset in the big tensor of each element of the small one, in row-major order. */
static void strided_offsets(const Node *n, Shape small, Shape big, int64_t *off) {
  const SliceAttr *a = node_slice(n);
  int64_t st[GC_MAX_RANK], s = 1, cnt = shape_count(small);
  for (int d = big.rank - 1; d >= 0; d--) st[d] = s, s *= big.d[d];
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, o = 0;
    for (int d = small.rank - 1; d >= 0; d--) {
      o += (a->start[d] + (rem % small.d[d]) * a->step[d]) * st[d];
      rem /= small.d[d];
    }
    off[lin] = o;
  }
}

void ev_slice(const Node *n, double *out, double *const *in) {
  int64_t cnt = shape_count(n->shape);
  int64_t *off = malloc(sizeof *off * (size_t)cnt);
  GC_ASSERT(off);
  strided_offsets(n, n->shape, A(n)->shape, off);
  for (int64_t i = 0; i < cnt; i++) out[i] = in[0][off[i]];
  free(off);
}

void ev_pad(const Node *n, double *out, double *const *in) {
  int64_t cnt = shape_count(A(n)->shape), total = shape_count(n->shape);
  int64_t *off = malloc(sizeof *off * (size_t)cnt);
  GC_ASSERT(off);
  strided_offsets(n, A(n)->shape, n->shape, off);
  for (int64_t i = 0; i < total; i++) out[i] = node_slice(n)->value;
  for (int64_t i = 0; i < cnt; i++) out[off[i]] = in[0][i];
  free(off);
}
