/* irprint.c — gradc's graph after all passes, as readable text (`--emit ir`); the graph
 * part alone after any one pass (`--dump-after`, front.c).
 *
 * First the graph (forward and backward, one node a line: `%id = op operands : shape`
 * with the user's name as a comment and `grad` marking derived nodes), then each entry
 * point's kernels (fusion groups) and memory plan. */
#include "irprint.h"
#include <stdio.h>
#include "emit.h"
#include "opinfo.h"

static void node_line(FILE *f, Arena *a, const Node *n) {
  const char *ty = dtype_name(n->dtype);
  if (n->op == OP_INPUT || n->op == OP_PARAM) {
    fprintf(f, "%%%-4d = %s %s : %s%s", n->id, gc_ops[n->op].name, n->name, ty, shape_str(a, n->shape));
    if (n->op == OP_PARAM) fprintf(f, "%s", n->baked ? " baked" : n->buffer ? " buffer" : n->trainable ? "" : " frozen");
    fprintf(f, "\n");
    return;
  }
  const AttrInfo *attr = &gc_attrs[gc_ops[n->op].attr];
  fprintf(f, "%%%-4d = %s", n->id, gc_ops[n->op].name);
  for (int i = 0; i < n->nin; i++) fprintf(f, "%s%%%d", i ? ", " : " ", n->in[i]->id);
  if (attr->print) attr->print(f, n);
  if (n->op == OP_CONST) { /* a filled tensor: its value alone */
    fprintf(f, "\n");
    return;
  }
  fprintf(f, " : %s%s", ty, shape_str(a, n->shape));
  if (n->name || n->is_grad) fprintf(f, "   #%s%s%s", n->is_grad ? " grad" : "", n->name ? " " : "", n->name ? n->name : "");
  fprintf(f, "\n");
}

static void buffer_desc(FILE *f, const Entry *e, const Node *n) {
  const Buffer *b = &e->buf[n->id];
  switch (b->kind) {
  case BUF_NONE: fprintf(f, "reg"); break;
  case BUF_ARG: fprintf(f, "%s%s", b->sgd ? "grad sink " : "", e->args[b->arg].name); break;
  case BUF_WS: fprintf(f, "ws[%lld..%lld)", (long long)b->offset, (long long)(b->offset + b->bytes)); break;
  case BUF_ALIAS: fprintf(f, "alias %%%d", b->base->id); break;
  case BUF_CONST: fprintf(f, "const"); break;
  case BUF_BAKED: fprintf(f, "baked"); break;
  }
}

void print_graph(FILE *f, const Graph *g) {
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i]->op != OP_COPY && g->nodes[i]->op != OP_SGD) node_line(f, g->arena, g->nodes[i]);
  for (int i = 0; i < g->noutputs; i++) fprintf(f, "output %s = %%%d\n", g->output_names[i], g->outputs[i]->id);
  if (g->loss) fprintf(f, "minimize %%%d\n", g->loss->id);
  for (int i = 0; i < g->nparams; i++)
    if (g->grads && g->grads[i]) fprintf(f, "grad %s = %%%d\n", g->params[i]->name, g->grads[i]->id);
  for (int i = 0; i < g->nstores; i++) /* batch norm and buffers (issue 15) */
    fprintf(f, "store %s = %%%d\n", g->store_buf[i]->name, g->store_val[i]->id);
}

void print_ir(FILE *f, const Unit *u) {
  Graph *g = u->g;
  fprintf(f, "# gradc %s: model %s, after autodiff, simplification, CSE and dead code\n", gc_version(), g->model);
  print_graph(f, g);
  if (u->entries[0]->g != g) { /* dropout or batch_norm: inference runs the eval-mode graph */
    fprintf(f, "\n# the eval-mode graph (model.eval()), which %s computes\n", u->entries[0]->name);
    print_graph(f, u->entries[0]->g);
  }
  for (int k = 0; k < u->nentries; k++) {
    const Entry *e = u->entries[k];
    fprintf(f, "\nentry %s(", e->name);
    for (int i = 0; i < e->nargs; i++) fprintf(f, "%s%s", i ? ", " : "", e->args[i].cname);
    if (e->kind == ENTRY_BACKWARD) {
      fprintf(f, ")\n  calls %s's kernels (the gradient core) in mode 0: gradients added, no update\n", u->entries[2]->name);
      continue;
    }
    fprintf(f, ")  workspace %lld bytes, %d kernels%s\n", (long long)e->ws_bytes, e->nkernels,
            e->kind == ENTRY_TRAIN ? " (the gradient core, mode 1: \"grad sink\" stores apply the SGD update)" : "");
    for (int i = 0; i < e->nkernels; i++) {
      const Kernel *kr = &e->kernels[i];
      if (kr->kind == KER_ELEM) fprintf(f, "  kernel %d fused elementwise %s:", i, shape_str(g->arena, kr->shape));
      else if (kr->kind == KER_ROWS)
        fprintf(f, "  kernel %d rows of %s, %d loop%s per row:", i, shape_str(g->arena, kr->shape), kr->nloops,
                kr->nloops > 1 ? "s" : "");
      else fprintf(f, "  kernel %d %s%s:", i, gc_ops[kr->nodes[0]->op].name, kr->n > 1 ? " with epilogue" : "");
      for (int j = 0; j < kr->n; j++) {
        const Node *n = kr->nodes[j];
        fprintf(f, " %%%d", n->id);
        if (kr->kind != KER_OP || j > 0) fprintf(f, " %s", gc_ops[n->op].name);
        if (kr->kind == KER_ROWS) fprintf(f, "@%d", e->loop_of[n->id]);
        fprintf(f, " -> ");
        buffer_desc(f, e, n);
        fprintf(f, j + 1 < kr->n ? ";" : "");
      }
      fprintf(f, "\n");
    }
  }
}
