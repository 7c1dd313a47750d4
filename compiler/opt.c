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
#include <stdlib.h>
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

/* ---- batch norm and buffers (issue 15): folding baked parameters ----
 * An elementwise op (or a reshape) of parameters baked in with --weights and constants
 * is computed here, into a new baked leaf (role NONE, in no argument list: read-only
 * data of the object, named M.folded_K): batch_norm's eval-mode scale folded into a
 * baked conv or linear weight costs nothing at run time. Only ops whose generated code
 * is plain IEEE float arithmetic are folded, computed here in the same float operations
 * in the same order (lower_elem.c, mathlib.c's m_powc), so the object computes the bits
 * an unbaked one would: + - * / neg, and powc by an integer (|e| <= 64) or +-0.5. */
#define FOLD_MAX_ELEMENTS (1 << 22)

static bool baked_leaf(const Node *n) { return n->op == OP_PARAM && n->baked; }

static Node *baked_node(Graph *g, Node *n, const float *v) {
  Node *c = ARENA_NEW(g->arena, Node);
  c->op = OP_PARAM, c->dtype = DT_F32, c->shape = n->shape, c->loc = n->loc, c->role = ROLE_NONE;
  c->baked = v;
  c->name = arena_printf(g->arena, "folded_%d", g->nfolded++);
  return graph_append(g, c);
}

static float powc_f32(float x, double e) { /* m_powc's float operations */
  if (e == 0.5) return sqrtf(x);
  if (e == -0.5) return 1.0f / sqrtf(x);
  float acc = 1.0f, base = x;
  for (long n = labs((long)e); n; n >>= 1) {
    if (n & 1) acc = acc * base;
    if (n > 1) base = base * base;
  }
  return e < 0 ? 1.0f / acc : acc;
}

static bool folds_exactly(const Node *n) {
  if (n->op != OP_POWC) return n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL || n->op == OP_DIV || n->op == OP_NEG;
  double e = node_pow(n)->exponent;
  return fabs(e) == 0.5 || (e == (double)(long)e && fabs(e) <= 64);
}

static float f32_op(const Node *n, float a, float b) {
  switch (n->op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL: return a * b;
  case OP_DIV: return a / b;
  case OP_NEG: return -a;
  default: return powc_f32(a, node_pow(n)->exponent);
  }
}

static Node *fold_baked(Graph *g, Node *n) {
  bool any = false;
  for (int j = 0; j < n->nin; j++) {
    if (!baked_leaf(n->in[j]) && n->in[j]->op != OP_CONST) return NULL;
    any |= baked_leaf(n->in[j]);
  }
  if (!any || n->dtype != DT_F32 || shape_count(n->shape) > FOLD_MAX_ELEMENTS) return NULL;
  if (n->op == OP_RESHAPE) return baked_node(g, n, n->in[0]->baked);
  if (!folds_exactly(n)) return NULL;
  int r = n->shape.rank;
  int64_t count = shape_count(n->shape), st[2][GC_MAX_RANK];
  for (int j = 0; j < n->nin; j++) shape_bstrides(n->in[j]->shape, r, st[j]);
  float *v = ARENA_ARRAY(g->arena, float, count);
  for (int64_t k = 0; k < count; k++) {
    float x[2] = {0, 0};
    for (int j = 0; j < n->nin; j++) {
      int64_t off = 0, rest = k;
      for (int d = r - 1; d >= 0; d--) off += (rest % n->shape.d[d]) * st[j][d], rest /= n->shape.d[d];
      const Node *in = n->in[j];
      x[j] = in->op == OP_CONST ? (float)node_const(in)->value : in->baked[off];
    }
    v[k] = f32_op(n, x[0], x[1]);
  }
  return baked_node(g, n, v);
}

/* Returns an equivalent existing node (or a new one), or n itself. */
static Node *simplify(Graph *g, Node *n) {
  Node *a = n->nin > 0 ? n->in[0] : NULL, *b = n->nin > 1 ? n->in[1] : NULL;
  const OpInfo *op = &gc_ops[n->op];
  Node *folded = fold_baked(g, n);
  if (folded) return folded;
  /* Constant folding: a constant operand is a filled tensor, so is the result (an f32
   * one: a constant is f32, so int() of one stays a node). */
  if (op->cls == CLS_ELEM && op->eval1 && n->op != OP_COPY && n->dtype == DT_F32 && a->op == OP_CONST &&
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
