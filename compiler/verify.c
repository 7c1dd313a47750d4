/* verify.c — the IR verifier (see verify.h): a graph's invariants, checked between passes.
 *
 * Each check returns NULL or the first violation found, as a message that names the node
 * the way `--emit ir` does (%id and op, and the user's name if it has one). */
#include "verify.h"
#include <stdio.h>
#include <stdlib.h>
#include "opinfo.h"

static bool in_graph(const Graph *g, const Node *x) {
  return x && x->id >= 0 && x->id < g->n && g->nodes[x->id] == x;
}

static bool is_sink(const Node *n) { return n->op == OP_COPY || n->op == OP_SGD; }

static const char *node_desc(const Graph *g, const Node *n) {
  const char *op = n->op >= 0 && n->op < OP__COUNT ? gc_ops[n->op].name : "?";
  if (n->name) return arena_printf(g->arena, "node %%%d (%s '%s')", n->id, op, n->name);
  return arena_printf(g->arena, "node %%%d (%s)", n->id, op);
}

static const char *bad(const Graph *g, const Node *n, const char *what) {
  return arena_printf(g->arena, "%s %s", node_desc(g, n), what);
}

/* Rank within bounds, every dimension at least 1. */
static const char *check_dims(const Graph *g, const Node *n) {
  if (n->shape.rank < 0 || n->shape.rank > GC_MAX_RANK)
    return bad(g, n, arena_printf(g->arena, "has rank %d", n->shape.rank));
  for (int i = 0; i < n->shape.rank; i++)
    if (n->shape.d[i] < 1)
      return bad(g, n, arena_printf(g->arena, "has dimension %d of size %lld", i, (long long)n->shape.d[i]));
  if (!dtype_valid(n->dtype)) return bad(g, n, arena_printf(g->arena, "has dtype %d", (int)n->dtype));
  if (!dtype_produced(n->dtype))
    return bad(g, n, arena_printf(g->arena, "has dtype %s, which no op produces yet", dtype_name(n->dtype)));
  return NULL;
}

/* The op's dtype rule (OpInfo.dtype): its operands' dtypes and its result's. */
static const char *check_dtypes(const Graph *g, const Node *n) {
  const char *op = gc_ops[n->op].name;
  for (int j = 0; j < n->nin; j++) {
    DType want = op_operand_dtype(n, j), got = n->in[j]->dtype;
    if (want != DT__COUNT && got != want)
      return bad(g, n, arena_printf(g->arena, "reads %%%d, which is %s; %s takes %s", n->in[j]->id, dtype_name(got), op,
                                    dtype_name(want)));
  }
  DType want = op_result_dtype(n);
  if (n->dtype != want)
    return bad(g, n,
               arena_printf(g->arena, "is %s but its dtype rule gives %s", dtype_name(n->dtype), dtype_name(want)));
  return NULL;
}

/* The attributes of the op's kind hold sane values (gc_attrs, ops_attr.c). */
static const char *check_attrs(Graph *g, const Node *n) {
  const AttrInfo *k = &gc_attrs[gc_ops[n->op].attr];
  const char *err = k->check ? k->check(g->arena, n) : NULL;
  return err ? bad(g, n, arena_printf(g->arena, "%s (attributes %s)", err, k->name)) : NULL;
}

/* The op's shape rule, run again on a copy (with the dtype its rule gives, as graph_node
 * creates it; the attributes and any constructor-given shape kept), gives the node's
 * shape and dtype. */
static const char *check_rule(Graph *g, const Node *n) {
  const OpInfo *op = &gc_ops[n->op];
  if (!op->shape) return NULL; /* leaves: the shape is the declaration's */
  Node copy = *n;
  copy.dtype = op_result_dtype(n);
  const char *what = g->what;
  g->what = NULL;
  const char *err = op->shape(g, &copy);
  g->what = what;
  if (err) return bad(g, n, arena_printf(g->arena, "fails its shape rule: %s", err));
  if (shape_eq(copy.shape, n->shape) && copy.dtype == n->dtype) return NULL;
  return bad(g, n, arena_printf(g->arena, "is %s%s but its shape rule gives %s%s", dtype_name(n->dtype),
                                shape_str(g->arena, n->shape), dtype_name(copy.dtype), shape_str(g->arena, copy.shape)));
}

/* Operands: as many as the table says, nodes of the graph placed before n, no sink. */
static const char *check_operands(const Graph *g, const Node *n) {
  if (n->nin != gc_ops[n->op].arity)
    return bad(g, n, arena_printf(g->arena, "has %d operand%s; %s takes %d", n->nin, n->nin == 1 ? "" : "s",
                                  gc_ops[n->op].name, gc_ops[n->op].arity));
  for (int j = 0; j < n->nin; j++) {
    const Node *x = n->in[j];
    if (!x) return bad(g, n, arena_printf(g->arena, "has no operand %d", j + 1));
    if (!in_graph(g, x))
      return bad(g, n, arena_printf(g->arena, "reads %%%d (%s), which is not a node of the graph", x->id,
                                    x->op >= 0 && x->op < OP__COUNT ? gc_ops[x->op].name : "?"));
    if (x->id >= n->id)
      return bad(g, n, arena_printf(g->arena, "reads %%%d, which comes after it (not topological order)", x->id));
    if (is_sink(x)) return bad(g, n, arena_printf(g->arena, "reads the sink %%%d", x->id));
  }
  return NULL;
}

/* Leaves are their lists' entries; sinks store somewhere; SGD updates a trainable param. */
static const char *check_role(const Graph *g, const Node *n) {
  if (n->op == OP_INPUT && (n->role != ROLE_INPUT || n->leaf_index < 0 || n->leaf_index >= g->ninputs ||
                            g->inputs[n->leaf_index] != n))
    return bad(g, n, "is not the input its leaf index names");
  if (n->op == OP_PARAM && n->role == ROLE_NONE && n->baked) /* folded from baked parameters (opt.c) */
    return n->dtype == DT_F32 && !n->trainable && !n->buffer ? NULL : bad(g, n, "is a folded constant, yet not f32 data");
  if (n->op == OP_PARAM) {
    if (n->role != ROLE_PARAM || n->leaf_index < 0 || n->leaf_index >= g->nparams || g->params[n->leaf_index] != n)
      return bad(g, n, "is not the parameter its leaf index names");
    if (n->dtype != DT_F32) return bad(g, n, "is a parameter of dtype i32");
    if (n->baked && n->trainable) return bad(g, n, "is baked in, yet trainable");
  }
  if (is_sink(n) && n->sink_arg < 0) return bad(g, n, "stores into no argument");
  if (n->op == OP_SGD && (n->in[1]->op != OP_PARAM || !n->in[1]->trainable))
    return bad(g, n, "updates something other than a trainable parameter");
  if (n->op == OP_SGD && !shape_eq(n->in[0]->shape, n->in[1]->shape))
    return bad(g, n, "has a gradient of another shape than its parameter");
  return NULL;
}

static const char *check_node(Graph *g, int i) {
  const Node *n = g->nodes[i];
  if (!n) return arena_printf(g->arena, "slot %d of the node list is empty", i);
  if (n->id != i) return arena_printf(g->arena, "node at position %d has id %%%d", i, n->id);
  if (n->op < 0 || n->op >= OP__COUNT) return arena_printf(g->arena, "node %%%d has no op (%d)", i, (int)n->op);
  if (n->repl)
    return bad(g, n, arena_printf(g->arena, "still forwards to %%%d (a pass left its replacement pointer)", n->repl->id));
  const char *err = check_operands(g, n);
  if (!err) err = check_dims(g, n);
  if (!err) err = check_role(g, n);
  if (!err) err = check_dtypes(g, n);
  if (!err) err = check_attrs(g, n);
  if (!err) err = check_rule(g, n);
  return err;
}

/* A root of the graph (an output, the loss, a gradient, a leaf) is one of its nodes. */
static const char *check_root(const Graph *g, const Node *n, const char *what) {
  if (!n) return arena_printf(g->arena, "%s is missing", what);
  if (!in_graph(g, n)) return arena_printf(g->arena, "%s (%%%d) is not a node of the graph", what, n->id);
  if (is_sink(n)) return arena_printf(g->arena, "%s is the sink %%%d", what, n->id);
  return NULL;
}

static const char *check_roots(const Graph *g) {
  const char *err = NULL;
  for (int i = 0; !err && i < g->ninputs; i++) err = check_root(g, g->inputs[i], arena_printf(g->arena, "input %d", i));
  for (int i = 0; !err && i < g->nparams; i++) err = check_root(g, g->params[i], arena_printf(g->arena, "param %d", i));
  for (int i = 0; !err && i < g->noutputs; i++)
    err = check_root(g, g->outputs[i], arena_printf(g->arena, "output '%s'", g->output_names[i]));
  if (!err && g->loss) {
    err = check_root(g, g->loss, "the loss");
    if (!err && (g->loss->dtype != DT_F32 || g->loss->shape.rank != 0))
      err = arena_printf(g->arena, "the loss %%%d is not an f32 scalar", g->loss->id);
  }
  for (int i = 0; !err && g->grads && i < g->nparams; i++) {
    const Node *p = g->params[i], *d = g->grads[i];
    if (!d) continue;
    const char *what = arena_printf(g->arena, "the gradient of '%s'", p->name);
    err = check_root(g, d, what);
    if (!err && !p->trainable) err = arena_printf(g->arena, "%s exists, but '%s' is not trainable", what, p->name);
    if (!err && (!shape_eq(d->shape, p->shape) || d->dtype != DT_F32))
      err = arena_printf(g->arena, "%s (%%%d) is %s%s, the parameter %s%s", what, d->id, dtype_name(d->dtype),
                         shape_str(g->arena, d->shape), dtype_name(p->dtype), shape_str(g->arena, p->shape));
  }
  for (int i = 0; !err && i < g->nstores; i++) { /* batch norm and buffers (issue 15) */
    const Node *b = g->store_buf[i], *v = g->store_val[i];
    err = check_root(g, v, arena_printf(g->arena, "the store into buffer %d", i));
    if (!err && (b->op != OP_PARAM || !b->buffer || !in_graph(g, b)))
      err = arena_printf(g->arena, "a store (%%%d) goes into %%%d, which is not a buffer", v->id, b->id);
    if (!err && (!shape_eq(v->shape, b->shape) || v->dtype != DT_F32))
      err = arena_printf(g->arena, "the store into '%s' (%%%d) is %s%s, the buffer %s%s", b->name, v->id,
                         dtype_name(v->dtype), shape_str(g->arena, v->shape), dtype_name(b->dtype),
                         shape_str(g->arena, b->shape));
    if (!err && !g->training) err = arena_printf(g->arena, "an eval-mode graph stores into '%s'", b->name);
  }
  return err;
}

const char *verify_graph(Graph *g) {
  if (g->n < 0 || (g->n && !g->nodes)) return "the node list is missing";
  for (int i = 0; i < g->n; i++) {
    const char *err = check_node(g, i);
    if (err) return err;
  }
  return check_roots(g);
}

/* A sink stores into the argument that holds its value: COPY into an output or the
 * loss of the value it copies, SGD into the gradient of the parameter it updates. */
static const char *check_sink(const Graph *g, const Entry *e, const Node *s) {
  if (!in_graph(g, s) || !is_sink(s))
    return arena_printf(g->arena, "%s: a sink (%%%d) is not a COPY or SGD node of the graph", e->name, s->id);
  if (s->sink_arg < 0 || s->sink_arg >= e->nargs) return bad(g, s, arena_printf(g->arena, "stores into argument %d of %s, "
                                                                                "which has %d", s->sink_arg, e->name, e->nargs));
  const Arg *a = &e->args[s->sink_arg];
  bool ok = s->op == OP_COPY ? ((a->kind == ARG_OUTPUT || a->kind == ARG_LOSS) && a->node == s->in[0]) ||
                                  (a->kind == ARG_PARAM && a->node->buffer && e->kind == ENTRY_TRAIN &&
                                   shape_eq(a->node->shape, s->in[0]->shape) && s->in[0]->dtype == DT_F32)
                             : a->kind == ARG_GRAD && a->node == s->in[1];
  return ok ? NULL : bad(g, s, arena_printf(g->arena, "stores into %s's argument '%s', which holds another value",
                                            e->name, a->name));
}

/* ---- batch norm and buffers (issue 15) ----
 * A buffer store (a COPY into a buffer's argument) and an SGD update overwrite a leaf:
 * every other reader of that leaf is live before them (write after read). */
static const char *check_store_order(Graph *g, const Entry *e) {
  for (int i = 0; i < e->nlive; i++) {
    const Node *s = e->live[i], *leaf = s->op == OP_SGD ? s->in[1]
                                       : s->op == OP_COPY && entry_buffer_store(e, s) ? e->args[s->sink_arg].node : NULL;
    if (!leaf) continue;
    for (int j = i + 1; j < e->nlive; j++)
      for (int q = 0; q < e->live[j]->nin; q++)
        if (e->live[j]->in[q] == leaf && e->live[j]->op != OP_SGD)
          return bad(g, e->live[j], arena_printf(g->arena, "reads '%s' in %s after %%%d overwrote it", leaf->name,
                                                 e->name, s->id));
  }
  return NULL;
}

const char *verify_entry(Graph *g, const Entry *e) {
  for (int i = 0; i < e->nsinks; i++) {
    const char *err = check_sink(g, e, e->sinks[i]);
    if (err) return err;
  }
  const char *err = check_store_order(g, e);
  if (err) return err;
  int *pos = ARENA_ARRAY(g->arena, int, g->n + 1); /* 1 + position in e->live, 0: not live */
  for (int i = 0; i < e->nlive; i++) {
    const Node *n = e->live[i];
    if (!in_graph(g, n)) return arena_printf(g->arena, "%s: live value %d is not a node of the graph", e->name, i);
    for (int j = 0; j < n->nin; j++)
      if (!pos[n->in[j]->id])
        return bad(g, n, arena_printf(g->arena, "is live in %s before its operand %%%d", e->name, n->in[j]->id));
    pos[n->id] = i + 1;
  }
  return NULL;
}

void verify_or_abort(const char *pass, const char *message) {
  if (!message) return;
  fprintf(stderr, "gradc: internal error: the IR after %s is broken: %s\n", pass, message);
  abort();
}
