/* graph.c — creating nodes (with shape inference through the op table) and shapes. */
#include "graph.h"
#include <stdio.h>
#include <string.h>
#include "opinfo.h"

Graph *graph_new(Arena *a, Diag *d) {
  Graph *g = ARENA_NEW(a, Graph);
  g->arena = a;
  g->diag = d;
  return g;
}

Node *graph_append(Graph *g, Node *n) {
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 64;
    Node **nodes = ARENA_ARRAY(g->arena, Node *, cap);
    if (g->n) memcpy(nodes, g->nodes, sizeof(Node *) * (size_t)g->n);
    g->nodes = nodes;
    g->cap = cap;
  }
  n->id = g->n;
  g->nodes[g->n++] = n;
  return n;
}

static Node *node_alloc(Graph *g, OpKind op, int nin, Node **in, SrcLoc loc) {
  GC_ASSERT(nin == gc_ops[op].arity);
  Node *n = ARENA_NEW(g->arena, Node);
  n->op = op;
  n->nin = nin;
  for (int i = 0; i < nin; i++) n->in[i] = in[i];
  n->loc = loc;
  n->dtype = DT_F32;
  return n;
}

/* Gives the node its dtype by its op's rule, runs the shape rule and appends. A failing
 * rule is the user's error when the node has a location, else the compiler's own. */
static Node *node_finish(Graph *g, Node *n) {
  n->dtype = op_result_dtype(n);
  const char *err = gc_ops[n->op].shape ? gc_ops[n->op].shape(g, n) : NULL;
  if (err) {
    if (n->loc.line > 0) diag_error(g->diag, n->loc, "%s", err);
    fprintf(stderr, "gradc: internal error: %s: %s\n", gc_ops[n->op].name, err);
    GC_ASSERT(!"internal node failed its shape rule");
  }
  return graph_append(g, n);
}

Node *graph_node(Graph *g, OpKind op, int nin, Node **in, SrcLoc loc) {
  return node_finish(g, node_alloc(g, op, nin, in, loc));
}

Node *g_const(Graph *g, double v) {
  Node *n = node_alloc(g, OP_CONST, 0, NULL, g->loc);
  node_const(n)->value = v;
  return node_finish(g, n);
}
Node *g_full(Graph *g, double v, Shape s) {
  Node *n = node_alloc(g, OP_CONST, 0, NULL, g->loc);
  node_const(n)->value = v;
  n->shape = s;
  return node_finish(g, n);
}
Node *g_unary(Graph *g, OpKind op, Node *x) { return graph_node(g, op, 1, &x, g->loc); }
Node *g_binary(Graph *g, OpKind op, Node *a, Node *b) {
  Node *in[2] = {a, b};
  return graph_node(g, op, 2, in, g->loc);
}
Node *g_powc(Graph *g, Node *x, double e) {
  Node *n = node_alloc(g, OP_POWC, 1, &x, g->loc);
  node_pow(n)->exponent = e;
  return node_finish(g, n);
}
static Node *reduce(Graph *g, OpKind op, Node *x, unsigned axes, bool first) {
  Node *n = node_alloc(g, op, 1, &x, g->loc);
  node_reduce(n)->axes = axes;
  node_reduce(n)->first = first;
  return node_finish(g, n);
}
Node *g_sum(Graph *g, Node *x, unsigned axes) { return reduce(g, OP_SUM, x, axes, false); }
Node *g_max(Graph *g, Node *x, unsigned axes, bool first) { return reduce(g, OP_MAX, x, axes, first); }
Node *g_prod(Graph *g, Node *x, unsigned axes) { return reduce(g, OP_PROD, x, axes, false); }
Node *g_argmax(Graph *g, Node *x, unsigned axes) { return reduce(g, OP_ARGMAX, x, axes, false); }
static Node *with_shape(Graph *g, OpKind op, Node *x, Shape s) {
  if (shape_eq(x->shape, s)) return x;
  Node *n = node_alloc(g, op, 1, &x, g->loc);
  n->shape = s;
  return node_finish(g, n);
}
Node *g_reshape(Graph *g, Node *x, Shape s) { return with_shape(g, OP_RESHAPE, x, s); }
Node *g_expand(Graph *g, Node *x, Shape s) { return with_shape(g, OP_EXPAND, x, s); }
Node *g_permute(Graph *g, Node *x, const int *perm) {
  Node *n = node_alloc(g, OP_PERMUTE, 1, &x, g->loc);
  memcpy(node_perm(n)->perm, perm, sizeof node_perm(n)->perm);
  return node_finish(g, n);
}
Node *g_matmul(Graph *g, Node *a, Node *b, bool ta, bool tb) {
  Node *in[2] = {a, b};
  Node *n = node_alloc(g, OP_MATMUL, 2, in, g->loc);
  node_matmul(n)->ta = ta;
  node_matmul(n)->tb = tb;
  return node_finish(g, n);
}

Node *g_conv(Graph *g, OpKind op, Node *a, Node *b, const ConvAttr *c, Shape shape) {
  Node *in[2] = {a, b};
  Node *n = node_alloc(g, op, 2, in, g->loc);
  *node_conv(n) = *c, n->shape = shape;
  return node_finish(g, n);
}
Node *g_pool(Graph *g, OpKind op, Node *a, Node *b, const PoolAttr *p, Shape shape) {
  Node *in[2] = {a, b};
  Node *n = node_alloc(g, op, b ? 2 : 1, in, g->loc);
  *node_pool(n) = *p, n->shape = shape;
  return node_finish(g, n);
}

Node *g_argmax_mask(Graph *g, Node *x, unsigned axes) {
  Node *n = node_alloc(g, OP_ARGMAX_MASK, 1, &x, g->loc);
  node_reduce(n)->axes = axes;
  return node_finish(g, n);
}

static Node *slice_like(Graph *g, OpKind op, Node *x, const int64_t *start, const int64_t *step, Shape s,
                        double value) {
  bool ident = shape_eq(x->shape, s);
  for (int i = 0; i < s.rank; i++) ident = ident && start[i] == 0 && step[i] == 1;
  if (ident) return x;
  Node *n = node_alloc(g, op, 1, &x, g->loc);
  SliceAttr *a = node_slice(n);
  for (int i = 0; i < GC_MAX_RANK; i++) a->start[i] = i < s.rank ? start[i] : 0, a->step[i] = i < s.rank ? step[i] : 1;
  a->value = value;
  n->shape = s;
  return node_finish(g, n);
}
Node *g_slice(Graph *g, Node *x, const int64_t *start, const int64_t *step, Shape s) {
  return slice_like(g, OP_SLICE, x, start, step, s, 0);
}
Node *g_pad(Graph *g, Node *x, const int64_t *start, const int64_t *step, Shape s, double value) {
  return slice_like(g, OP_PAD, x, start, step, s, value);
}

/* ---- indexing II (issue 15) ---- */
static Node *gather_like(Graph *g, OpKind op, Node *x, Node *index, int axis, Shape s) {
  Node *in[2] = {x, index};
  Node *n = node_alloc(g, op, 2, in, g->loc);
  node_gather(n)->axis = axis, n->shape = s;
  return node_finish(g, n);
}
Node *g_gather(Graph *g, Node *x, Node *index, int axis, Shape s) { return gather_like(g, OP_GATHER, x, index, axis, s); }
Node *g_scatter_add(Graph *g, Node *dy, Node *index, int axis, Shape s) {
  return gather_like(g, OP_SCATTER_ADD, dy, index, axis, s);
}
/* ---- dropout and modes (issue 15) ---- */
Node *g_dropout(Graph *g, Node *x, double p, uint32_t salt) {
  Node *n = node_alloc(g, OP_DROPOUT, 1, &x, g->loc);
  node_dropout(n)->p = p;
  node_dropout(n)->salt = salt;
  return node_finish(g, n);
}

Node *g_onehot(Graph *g, Node *labels, int64_t classes) {
  Node *n = node_alloc(g, OP_ONEHOT, 1, &labels, g->loc);
  node_onehot(n)->classes = classes;
  return node_finish(g, n);
}

/* ---- batch norm and buffers (issue 15) ---- */
bool g_store(Graph *g, Node *buffer, Node *v) {
  GC_ASSERT(buffer->op == OP_PARAM && buffer->buffer && shape_eq(buffer->shape, v->shape));
  for (int i = 0; i < g->nstores; i++)
    if (g->store_buf[i] == buffer) return false;
  Node **b = ARENA_ARRAY(g->arena, Node *, g->nstores + 1), **val = ARENA_ARRAY(g->arena, Node *, g->nstores + 1);
  if (g->nstores) {
    memcpy(b, g->store_buf, sizeof(Node *) * (size_t)g->nstores);
    memcpy(val, g->store_val, sizeof(Node *) * (size_t)g->nstores);
  }
  b[g->nstores] = buffer, val[g->nstores] = v;
  g->store_buf = b, g->store_val = val, g->nstores++;
  return true;
}

Node *g_sum_to(Graph *g, Node *x, Shape s) {
  if (shape_eq(x->shape, s)) return x;
  int r = x->shape.rank, off = r - s.rank;
  GC_ASSERT(off >= 0);
  unsigned axes = 0;
  for (int i = 0; i < r; i++)
    if (i < off || (s.d[i - off] == 1 && x->shape.d[i] != 1)) axes |= 1u << i;
  Node *y = axes ? g_sum(g, x, axes) : x;
  return g_reshape(g, y, s);
}

int graph_topo(Graph *g, Node *const *roots, int nroots, Node **out) {
  for (int i = 0; i < g->n; i++) g->nodes[i]->mark = 0;
  typedef struct {
    Node *n;
    int next;
  } Frame;
  Frame *stack = ARENA_ARRAY(g->arena, Frame, g->n + 1);
  int k = 0;
  for (int r = 0; r < nroots; r++) {
    if (roots[r]->mark) continue;
    int sp = 0;
    stack[sp++] = (Frame){roots[r], 0};
    roots[r]->mark = 1;
    while (sp) {
      Frame *f = &stack[sp - 1];
      if (f->next < f->n->nin) {
        Node *in = f->n->in[f->next++];
        if (!in->mark) {
          in->mark = 1;
          stack[sp++] = (Frame){in, 0};
        }
      } else {
        out[k++] = f->n;
        sp--;
      }
    }
  }
  for (int i = 0; i < k; i++) out[i]->mark = 0;
  return k;
}

int64_t node_bytes(const Node *n) { return shape_count(n->shape) * (int64_t)dtype_size(n->dtype); }

/* ---- shapes ---- */

Shape shape_of(int rank, const int64_t *d) {
  Shape s = {rank, {0}};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}
Shape shape_scalar(void) { return (Shape){0, {0}}; }
int64_t shape_count(Shape s) {
  int64_t c = 1;
  for (int i = 0; i < s.rank; i++) c *= s.d[i];
  return c;
}
bool shape_eq(Shape a, Shape b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; i++)
    if (a.d[i] != b.d[i]) return false;
  return true;
}
bool shape_broadcast(Shape a, Shape b, Shape *out) {
  int r = a.rank > b.rank ? a.rank : b.rank;
  Shape o = {r, {0}};
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a.rank), ib = i - (r - b.rank);
    int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    o.d[i] = da == 1 ? db : da;
  }
  *out = o;
  return true;
}
char *shape_str(Arena *a, Shape s) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "[");
  for (int i = 0; i < s.rank; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)s.d[i]);
  snprintf(buf + n, sizeof buf - (size_t)n, "]");
  return arena_strdup(a, buf);
}
void shape_bstrides(Shape s, int out_rank, int64_t *strides) {
  int off = out_rank - s.rank;
  int64_t st = 1;
  for (int i = out_rank - 1; i >= 0; i--) {
    int j = i - off;
    if (j < 0 || s.d[j] == 1) {
      strides[i] = 0;
    } else {
      strides[i] = st;
    }
    if (j >= 0) st *= s.d[j];
  }
}

/* ---- attention (issue 15) ---- */
Node *g_tri(Graph *g, Node *x, int64_t diag, bool upper) {
  Node *n = node_alloc(g, OP_TRI, 1, &x, g->loc);
  node_tri(n)->diag = diag;
  node_tri(n)->upper = upper;
  return node_finish(g, n);
}
Node *g_sdpa(Graph *g, Node *q, Node *k, Node *v, Node *dout, const SdpaAttr *a) {
  Node *in[4] = {q, k, v, dout};
  Node *n = node_alloc(g, dout ? OP_SDPA_BWD : OP_SDPA, dout ? 4 : 3, in, g->loc);
  *node_sdpa(n) = *a;
  return node_finish(g, n);
}
