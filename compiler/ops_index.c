/* ops_index.c — the indexing primitives of the operator table: SLICE and PAD.
 *
 * SLICE takes every step-th element of each axis from `start` (a negative step walks
 * the axis backwards): y[i] = x[start + i step], the result's shape set by its
 * constructor. PAD is its adjoint: x placed at start + i step of a tensor of the
 * result's shape, `value` elsewhere. Each one's derivative is the other (with value
 * 0), so slicing, concat (a sum of pads), narrow, stack and every padding mode
 * (builtins_index.c) are differentiated without another rule. GATHER and SCATTER_ADD
 * (issue 15, indexing II) read and accumulate through an i32 index tensor: embedding,
 * gather; each one's derivative is the other. */
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
  if (A(n)->dtype != DT_F32 && (n->op == OP_PAD || A(n)->dtype != DT_I32)) /* a slice of indices: issue 15 */
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

/* ---- indexing II (issue 15) ----
 * GATHER(x, index) and SCATTER_ADD(dy, index), adjoints of each other (GatherAttr):
 * `small` is the gathered shape (GATHER's result, SCATTER_ADD's operand 0), `big` x's. */

static const char *check_gather(Graph *g, Node *n, Shape small, Shape big, const char *what) {
  Node *x = A(n), *ix = n->in[1];
  int axis = node_gather(n)->axis;
  if (x->dtype != DT_F32 || ix->dtype != DT_I32)
    return arena_printf(g->arena, "%s needs f32 values and i32 indices, got %s and %s", what, dtype_name(x->dtype),
                        dtype_name(ix->dtype));
  bool ok = small.rank == big.rank && ix->shape.rank == small.rank && axis >= 0 && axis < big.rank;
  for (int d = 0; ok && d < small.rank; d++)
    ok = (ix->shape.d[d] == small.d[d] || ix->shape.d[d] == 1) && (d == axis || small.d[d] <= big.d[d]);
  if (!ok)
    return arena_printf(g->arena, "%s along axis %d: index %s does not fit %s from %s", what, axis,
                        shape_str(g->arena, ix->shape), shape_str(g->arena, small), shape_str(g->arena, big));
  return NULL;
}

const char *shape_gather(Graph *g, Node *n) { return check_gather(g, n, n->shape, A(n)->shape, "gather"); }
const char *shape_scatter_add(Graph *g, Node *n) { return check_gather(g, n, A(n)->shape, n->shape, "scatter_add"); }

void grad_gather(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_scatter_add(g, dy, n->in[1], node_gather(n)->axis, A(n)->shape);
}

/* For each element o of `small` (row-major), the offset in `big` it reads or adds to,
 * or -1 for an index out of range. */
static void gather_offsets(const Node *n, Shape small, Shape big, const double *index, int64_t *off) {
  int axis = node_gather(n)->axis;
  Shape is = n->in[1]->shape;
  int64_t st[GC_MAX_RANK], ist[GC_MAX_RANK], s = 1, cnt = shape_count(small);
  for (int d = big.rank - 1; d >= 0; d--) st[d] = s, s *= big.d[d];
  shape_bstrides(is, small.rank, ist);
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, o = 0, io = 0, pos[GC_MAX_RANK];
    for (int d = small.rank - 1; d >= 0; d--) pos[d] = rem % small.d[d], rem /= small.d[d];
    for (int d = 0; d < small.rank; d++) io += pos[d] * ist[d];
    double id = index[io];
    if (id < 0 || id >= (double)big.d[axis]) {
      off[lin] = -1;
      continue;
    }
    pos[axis] = (int64_t)id;
    for (int d = 0; d < small.rank; d++) o += pos[d] * st[d];
    off[lin] = o;
  }
}

void ev_gather(const Node *n, double *out, double *const *in) {
  int64_t cnt = shape_count(n->shape);
  int64_t *off = malloc(sizeof *off * (size_t)(cnt ? cnt : 1));
  GC_ASSERT(off);
  gather_offsets(n, n->shape, A(n)->shape, in[1], off);
  for (int64_t i = 0; i < cnt; i++) out[i] = off[i] < 0 ? 0 : in[0][off[i]];
  free(off);
}

void ev_scatter_add(const Node *n, double *out, double *const *in) {
  int64_t cnt = shape_count(A(n)->shape), total = shape_count(n->shape);
  int64_t *off = malloc(sizeof *off * (size_t)(cnt ? cnt : 1));
  GC_ASSERT(off);
  gather_offsets(n, A(n)->shape, n->shape, in[1], off);
  for (int64_t i = 0; i < total; i++) out[i] = 0;
  for (int64_t i = 0; i < cnt; i++)
    if (off[i] >= 0) out[off[i]] += in[0][i];
  free(off);
}
