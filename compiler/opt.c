/* opt.c — graph optimisation: algebraic simplification, common subexpressions, dead code.
 *
 * Runs on forward and backward together (they are one graph). Each node, in
 * topological order, first has its operands forwarded to their replacements, then is
 * simplified (constant folding, identities such as x * 1, x + 0, reshape to the same
 * shape, detach once gradients exist), then looked up in a hash table of nodes already
 * seen with the same op, operands and attributes (CSE). Finally the graph is rebuilt
 * from its roots in topological order, dropping everything unreachable. */
#include "opt.h"
#include <math.h>
#include <stdint.h>
#include "opinfo.h"

static Node *resolve(Node *n) {
  while (n && n->repl) n = n->repl;
  return n;
}

static bool is_const(const Node *n, double v) { return n->op == OP_CONST && node_const(n)->value == v; }
static double const_value(const Node *n) { return node_const(n)->value; }

/* Does broadcasting `other` against x leave x's shape unchanged? */
static bool keeps_shape(const Node *x, const Node *other) {
  Shape s;
  return shape_broadcast(x->shape, other->shape, &s) && shape_eq(s, x->shape);
}

/* x = permute(y) swapping the last two axes (and keeping a batch axis): y, else NULL. */
static Node *transposed_of(Node *x) {
  if (x->op != OP_PERMUTE) return NULL;
  int r = x->shape.rank;
  const int *p = node_perm(x)->perm;
  if (r == 2 && p[0] == 1 && p[1] == 0) return x->in[0];
  if (r == 3 && p[0] == 0 && p[1] == 2 && p[2] == 1) return x->in[0];
  return NULL;
}

/* Returns an equivalent existing node (or a new one), or n itself. */
static Node *simplify(Graph *g, Node *n) {
  Node *a = n->nin > 0 ? n->in[0] : NULL, *b = n->nin > 1 ? n->in[1] : NULL;
  const OpInfo *op = &gc_ops[n->op];
  /* Constant folding: a constant operand is a filled tensor, so is the result. */
  if (op->cls == CLS_ELEM && op->eval1 && n->op != OP_COPY && a->op == OP_CONST &&
      (!b || b->op == OP_CONST))
    return g_full(g, op->eval1(n, const_value(a), b ? const_value(b) : 0), n->shape);
  if (n->op == OP_RESHAPE && a->op == OP_CONST) return g_full(g, const_value(a), n->shape);
  if (n->op == OP_MAX && a->op == OP_CONST) return g_full(g, const_value(a), n->shape);
  if (n->op == OP_SUM && a->op == OP_CONST)
    return g_full(g, const_value(a) * (double)(shape_count(a->shape) / shape_count(n->shape)), n->shape);
  if (n->op == OP_PROD && a->op == OP_CONST)
    return g_full(g, pow(const_value(a), (double)(shape_count(a->shape) / shape_count(n->shape))), n->shape);
  switch (n->op) {
  case OP_ADD:
    if (is_const(b, 0) && keeps_shape(a, b)) return a;
    if (is_const(a, 0) && keeps_shape(b, a)) return b;
    break;
  case OP_SUB:
    if (is_const(b, 0) && keeps_shape(a, b)) return a;
    break;
  case OP_MUL:
    if (is_const(b, 1) && keeps_shape(a, b)) return a;
    if (is_const(a, 1) && keeps_shape(b, a)) return b;
    break;
  case OP_DIV:
    if (is_const(b, 1) && keeps_shape(a, b)) return a;
    break;
  case OP_NEG:
    if (a->op == OP_NEG) return a->in[0];
    break;
  case OP_POWC:
    if (node_pow(n)->exponent == 1) return a;
    break;
  case OP_DETACH: return a; /* gradients are already derived */
  case OP_RESHAPE:
  case OP_EXPAND:
    if (shape_eq(a->shape, n->shape)) return a;
    if (n->op == OP_RESHAPE && a->op == OP_RESHAPE) return g_reshape(g, a->in[0], n->shape);
    break;
  case OP_MATMUL: { /* a transposed operand is read in place: no copy */
    Node *x = transposed_of(a), *y = transposed_of(b);
    const MatmulAttr *m = node_matmul(n);
    if (x || y) return g_matmul(g, x ? x : a, y ? y : b, m->ta ^ (x != NULL), m->tb ^ (y != NULL));
    break;
  }
  case OP_SUM:
  case OP_PROD: {
    bool trivial = true; /* every reduced axis has size 1 */
    for (int i = 0; i < a->shape.rank; i++)
      if ((node_reduce(n)->axes & (1u << i)) && a->shape.d[i] != 1) trivial = false;
    if (trivial) return a;
    break;
  }
  default: break;
  }
  return n;
}

/* ---- CSE: open addressing over (op, operands, attributes) ---- */

/* Attributes by their kind (gc_attrs, ops_attr.c). */
static uint64_t node_hash(const Node *n) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)n->op;
  for (int i = 0; i < n->nin; i++) h = (h ^ (uint64_t)n->in[i]->id) * 1099511628211ull;
  for (int i = 0; i < n->shape.rank; i++) h = (h ^ (uint64_t)n->shape.d[i]) * 1099511628211ull;
  return gc_attrs[gc_ops[n->op].attr].hash(n, h);
}

static bool node_same(const Node *a, const Node *b) {
  if (a->op != b->op || a->nin != b->nin || !shape_eq(a->shape, b->shape)) return false;
  if (!gc_attrs[gc_ops[a->op].attr].same(a, b)) return false;
  for (int i = 0; i < a->nin; i++)
    if (a->in[i] != b->in[i]) return false;
  return true;
}

typedef struct {
  Node **slot;
  size_t cap;
} Table;

static Node *cse(Table *t, Node *n) {
  if (n->op == OP_INPUT || n->op == OP_PARAM || n->op == OP_COPY) return n;
  size_t i = node_hash(n) & (t->cap - 1);
  for (; t->slot[i]; i = (i + 1) & (t->cap - 1))
    if (node_same(t->slot[i], n)) return t->slot[i];
  t->slot[i] = n;
  return n;
}

/* ---- dead code: rebuild the node list from the roots, topologically ---- */

static void rebuild(Graph *g) {
  for (int i = 0; i < g->noutputs; i++) g->outputs[i] = resolve(g->outputs[i]);
  g->loss = resolve(g->loss);
  for (int i = 0; i < g->nparams; i++) g->grads[i] = resolve(g->grads[i]);
  for (int i = 0; i < g->nstores; i++) g->store_val[i] = resolve(g->store_val[i]);
  Node **roots = ARENA_ARRAY(g->arena, Node *, g->ninputs + 2 * g->nparams + g->noutputs + g->nstores + 1);
  int nr = 0;
  for (int i = 0; i < g->ninputs; i++) roots[nr++] = g->inputs[i];
  for (int i = 0; i < g->nparams; i++) roots[nr++] = g->params[i];
  for (int i = 0; i < g->noutputs; i++) roots[nr++] = g->outputs[i];
  if (g->loss) roots[nr++] = g->loss;
  for (int i = 0; i < g->nparams; i++)
    if (g->grads[i]) roots[nr++] = g->grads[i];
  for (int i = 0; i < g->nstores; i++) roots[nr++] = g->store_val[i];
  Node **order = ARENA_ARRAY(g->arena, Node *, g->n);
  int k = graph_topo(g, roots, nr, order);
  g->n = 0;
  for (int i = 0; i < k; i++) {
    order[i]->repl = NULL;
    graph_append(g, order[i]);
  }
}

static bool pass(Graph *g) {
  bool changed = false;
  Table t = {NULL, 64};
  while (t.cap < 2 * (size_t)g->n) t.cap *= 2;
  t.slot = ARENA_ARRAY(g->arena, Node *, t.cap);
  int n0 = g->n;
  for (int i = 0; i < n0; i++) {
    Node *n = g->nodes[i];
    for (int j = 0; j < n->nin; j++) n->in[j] = resolve(n->in[j]);
    Node *r = simplify(g, n);
    if (r == n) r = cse(&t, n);
    else if (r->id >= n0 || r->repl) r = resolve(r);
    if (r != n) {
      n->repl = r;
      changed = true;
    }
  }
  /* Constants created by folding were appended after their users: re-sort. */
  rebuild(g);
  return changed;
}

void optimize(Graph *g) {
  for (int round = 0; round < 8 && pass(g); round++) {
  }
}
