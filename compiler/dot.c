/* dot.c — the graph as Graphviz (`--emit dot`), like the figure of the PyTorch autograd
 * tutorial: inputs, parameters in a dashed cluster, the forward graph, the derived
 * backward graph, and each fused kernel of the training step as a cluster of its own
 * (inside the forward or backward cluster, or between them when it fuses both).
 * Render with `dot -Tpng model.dot -o model.png`. */
#include <stdio.h>
#include "emit.h"
#include "opinfo.h"

static void node_decl(FILE *f, Arena *a, const Node *n) {
  const char *shape = n->op == OP_PARAM ? "box" : n->op == OP_INPUT ? "box" : n->op == OP_CONST ? "plaintext" : "ellipse";
  const char *color = n->op == OP_PARAM ? "lightblue" : n->op == OP_INPUT ? "lightgrey" : n->is_grad ? "mistyrose" : "white";
  if (n->op == OP_CONST)
    fprintf(f, "    n%d [label=\"%.6g\", shape=%s];\n", n->id, node_const(n)->value, shape);
  else
    fprintf(f, "    n%d [label=\"%s%s%s\\n%s\", shape=%s, style=filled, fillcolor=%s];\n", n->id,
            n->name ? n->name : "", n->name ? " = " : "", gc_ops[n->op].name, shape_str(a, n->shape), shape, color);
}

void print_dot(FILE *f, const Unit *u) {
  Graph *g = u->g;
  const Entry *e = u->entries[u->nentries - 1]; /* the training step when there is one */
  /* quoted: a model may be named like a DOT keyword (graph, node, edge, strict) */
  fprintf(f, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", g->model);
  fprintf(f, "  subgraph cluster_params {\n    label=\"parameters\"; style=dashed;\n");
  for (int i = 0; i < g->nparams; i++) node_decl(f, g->arena, g->params[i]);
  fprintf(f, "  }\n  subgraph cluster_inputs {\n    label=\"inputs\"; style=dotted;\n");
  for (int i = 0; i < g->ninputs; i++) node_decl(f, g->arena, g->inputs[i]);
  fprintf(f, "  }\n");
  /* pass 0: the forward cluster and its kernels; 1: the backward; 2: kernels that fuse
   * forward and backward work (softmax + cross-entropy with its gradient), between */
  for (int pass = 0; pass < 3; pass++) {
    if (pass < 2)
      fprintf(f, "  subgraph cluster_%s {\n    label=\"%s\";\n", pass ? "backward" : "forward",
              pass ? "backward (derived by autodiff)" : "forward");
    for (int k = 0; k < e->nkernels; k++) {
      const Kernel *kr = &e->kernels[k];
      bool grad = false, fwd = false;
      for (int j = 0; j < kr->n; j++) {
        bool b = kr->nodes[j]->is_grad || kr->nodes[j]->op == OP_SGD;
        grad |= b, fwd |= !b;
      }
      if ((grad && fwd ? 2 : grad) != pass) continue;
      fprintf(f, "    subgraph cluster_k%d {\n    label=\"kernel %d%s\"; style=rounded; color=gray;\n", k, k,
              pass == 2 ? ": forward and backward" : "");
      for (int j = 0; j < kr->n; j++) node_decl(f, g->arena, kr->nodes[j]);
      fprintf(f, "    }\n");
    }
    if (pass == 2) break;
    for (int i = 0; i < e->nlive; i++) {
      const Node *n = e->live[i];
      if (e->kernel_of[n->id] < 0 && n->op != OP_INPUT && n->op != OP_PARAM && n->is_grad == (pass == 1) &&
          n->op != OP_COPY && n->op != OP_SGD)
        node_decl(f, g->arena, n);
    }
    fprintf(f, "  }\n");
  }
  for (int i = 0; i < e->nlive; i++) {
    const Node *n = e->live[i];
    if ((n->op == OP_COPY || n->op == OP_SGD) && e->kernel_of[n->id] < 0) continue;
    for (int j = 0; j < n->nin; j++) fprintf(f, "  n%d -> n%d;\n", n->in[j]->id, n->id);
  }
  for (int i = 0; i < g->nparams; i++)
    if (g->grads && g->grads[i])
      fprintf(f, "  n%d -> n%d [style=dashed, color=red, label=\"grad\", constraint=false];\n", g->grads[i]->id,
              g->params[i]->id);
  fprintf(f, "}\n");
}
