/* autodiff.c — symbolic reverse-mode differentiation: the backward graph as graph nodes.
 *
 * The chain rule at compile time, the way PyTorch's autograd computes .grad at run
 * time: seed d loss / d loss = 1, visit the nodes in reverse topological order, and
 * let each op's derivative rule (ops.c) turn the adjoint of its result into adjoints
 * of its operands; adjoints reaching one node from several consumers are summed
 * (accumulate). Only nodes on a path from a trainable parameter to the loss get
 * gradient work: inputs, frozen parameters, detach() and ops without a derivative
 * (sign, step, eq, onehot) stop it. The result, per parameter, is g->grads[i]. */
#include "autodiff.h"
#include "opinfo.h"

/* The single place adjoints are combined. */
static void accumulate(Graph *g, Node **adj, Node *x, Node *dx) {
  adj[x->id] = adj[x->id] ? g_binary(g, OP_ADD, adj[x->id], dx) : dx;
}

void autodiff(Graph *g) {
  int n0 = g->n;
  g->grads = ARENA_ARRAY(g->arena, Node *, g->nparams + 1);
  if (!g->loss) return;
  /* Forward: which nodes depend on a trainable parameter through differentiable ops. */
  bool *from_param = ARENA_ARRAY(g->arena, bool, n0);
  for (int i = 0; i < n0; i++) {
    Node *n = g->nodes[i];
    if (n->op == OP_PARAM) from_param[i] = n->trainable;
    else if (gc_ops[n->op].grad)
      for (int j = 0; j < n->nin; j++) from_param[i] |= from_param[n->in[j]->id];
  }
  /* Backward: of those, which the loss depends on. */
  bool *on_path = ARENA_ARRAY(g->arena, bool, n0);
  on_path[g->loss->id] = from_param[g->loss->id];
  for (int i = n0 - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!on_path[i] || n->op == OP_PARAM) continue;
    for (int j = 0; j < n->nin; j++) on_path[n->in[j]->id] |= from_param[n->in[j]->id];
  }
  Node **adj = ARENA_ARRAY(g->arena, Node *, n0);
  g->loc = (SrcLoc){0, 0};
  adj[g->loss->id] = on_path[g->loss->id] ? g_const(g, 1) : NULL;
  for (int i = n0 - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!adj[i] || n->op == OP_PARAM) continue;
    Node *dx[GC_MAX_ARITY] = {0};
    gc_ops[n->op].grad(g, n, adj[i], dx);
    for (int j = 0; j < n->nin; j++)
      if (dx[j] && on_path[n->in[j]->id]) accumulate(g, adj, n->in[j], dx[j]);
  }
  for (int p = 0; p < g->nparams; p++) {
    Node *w = g->params[p];
    g->grads[p] = w->trainable ? adj[w->id] : NULL;
    /* A parameter the loss reaches only as a broadcast scalar still gets its shape. */
    if (g->grads[p] && !shape_eq(g->grads[p]->shape, w->shape)) g->grads[p] = g_sum_to(g, g->grads[p], w->shape);
  }
  for (int i = n0; i < g->n; i++) g->nodes[i]->is_grad = true;
}
