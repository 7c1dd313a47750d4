/* eval.c — the reference evaluator: every node of the optimised graph (forward and
 * backward alike) computed in float64 from the op table's eval rules.
 *
 * It shares the graph and the derivative rules with the code generator but none of the
 * lowering, so it checks codegen, and finite differences of its loss check the
 * derivative rules. It is slow and simple on purpose: elementwise ops are evaluated
 * with the same broadcasting index arithmetic, element by element. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autodiff.h"
#include "build.h"
#include "gradc/compiler.h"
#include "opinfo.h"
#include "opt.h"

struct gc_graph {
  Arena *arena;
  Graph *g;
  double **val; /* by node id */
  char *src;
};

gc_graph *gc_graph_build(const gc_options *o, char *err, size_t errlen);

static void eval_elem(Node *n, double **val) {
  Shape s = n->shape;
  int64_t cnt = shape_count(s), st[2][GC_MAX_RANK];
  for (int j = 0; j < n->nin; j++) shape_bstrides(n->in[j]->shape, s.rank, st[j]);
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, off[2] = {0, 0};
    for (int d = s.rank - 1; d >= 0; d--) {
      int64_t i = rem % s.d[d];
      rem /= s.d[d];
      for (int j = 0; j < n->nin; j++) off[j] += i * st[j][d];
    }
    double a = val[n->in[0]->id][off[0]], b = n->nin > 1 ? val[n->in[1]->id][off[1]] : 0;
    val[n->id][lin] = gc_ops[n->op].eval1(n, a, b);
  }
}

void gc_graph_eval(gc_graph *gg) {
  Graph *g = gg->g;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    const OpInfo *op = &gc_ops[n->op];
    double *out = gg->val[n->id];
    if (n->op == OP_INPUT || n->op == OP_PARAM) continue;
    if (n->op == OP_CONST) {
      for (int64_t k = 0; k < shape_count(n->shape); k++) out[k] = n->value;
    } else if (op->cls == CLS_ALIAS) {
      memcpy(out, gg->val[n->in[0]->id], sizeof(double) * (size_t)shape_count(n->shape));
    } else if (op->cls == CLS_ELEM) {
      eval_elem(n, gg->val);
    } else {
      double *ins[3] = {0};
      for (int j = 0; j < n->nin; j++) ins[j] = gg->val[n->in[j]->id];
      op->evalk(n, out, ins);
    }
  }
}

static Node *leaf_named(Graph *g, const char *name) {
  for (int i = 0; i < g->ninputs; i++)
    if (!strcmp(g->inputs[i]->name, name)) return g->inputs[i];
  for (int i = 0; i < g->nparams; i++)
    if (!strcmp(g->params[i]->name, name)) return g->params[i];
  return NULL;
}

double *gc_graph_tensor(gc_graph *gg, const char *name, size_t *count) {
  Graph *g = gg->g;
  Node *n = leaf_named(g, name);
  for (int i = 0; !n && i < g->noutputs; i++)
    if (!strcmp(g->output_names[i], name)) n = g->outputs[i];
  if (!n) return NULL;
  if (count) *count = (size_t)shape_count(n->shape);
  return gg->val[n->id];
}

double gc_graph_loss(const gc_graph *gg) { return gg->g->loss ? gg->val[gg->g->loss->id][0] : NAN; }

const double *gc_graph_grad(gc_graph *gg, const char *param, size_t *count) {
  Graph *g = gg->g;
  for (int i = 0; i < g->nparams; i++)
    if (!strcmp(g->params[i]->name, param) && g->grads[i]) {
      if (count) *count = (size_t)shape_count(g->params[i]->shape);
      return gg->val[g->grads[i]->id];
    }
  return NULL;
}

bool gc_graph_detaches(const gc_graph *gg) { return gg->g->detaches; }

int64_t gc_graph_label_classes(const gc_graph *gg, const char *input) {
  Graph *g = gg->g;
  int64_t classes = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->op == OP_ONEHOT && n->in[0]->op == OP_INPUT && !strcmp(n->in[0]->name, input) &&
        (!classes || (int64_t)n->value < classes))
      classes = (int64_t)n->value;
  }
  return classes;
}

static gc_graph *build(Diag *d, gc_graph *gg, const gc_options *o) {
  if (setjmp(d->jb)) return NULL;
  BuildOptions bo = {(const char **)o->define_names, o->define_values, o->ndefines, (const char **)o->freeze,
                     o->nfreeze};
  Program *p = parse_program(gg->arena, d);
  Graph *g = build_graph(gg->arena, d, p, &bo);
  if (!o->inference) autodiff(g);
  optimize(g);
  gg->g = g;
  gg->val = ARENA_ARRAY(gg->arena, double *, g->n);
  for (int i = 0; i < g->n; i++)
    if (!(gg->val[i] = calloc((size_t)shape_count(g->nodes[i]->shape), sizeof(double)))) diag_out_of_memory(d);
  return gg;
}

gc_graph *gc_graph_build(const gc_options *o, char *err, size_t errlen) {
  gc_graph *gg = calloc(1, sizeof *gg);
  Diag *d = gg ? (gg->arena = arena_new()) ? ARENA_NEW(gg->arena, Diag) : NULL : NULL;
  if (!d) {
    snprintf(err, errlen, "%s: error: out of memory\n", o->path);
    gc_graph_free(gg);
    return NULL;
  }
  arena_on_fail(gg->arena, diag_out_of_memory, d);
  d->file = o->path;
  d->src = o->source;
  if (!d->src) d->src = gg->src = diag_read_file(o->path, err, errlen);
  if (!d->src) {
    gc_graph_free(gg);
    return NULL;
  }
  bool ok = build(d, gg, o);
  arena_on_fail(gg->arena, NULL, NULL); /* d->jb is dead once build returns: later, abort */
  if (!ok) {
    snprintf(err, errlen, "%s", d->msg);
    gc_graph_free(gg);
    return NULL;
  }
  return gg;
}

void gc_graph_free(gc_graph *gg) {
  if (!gg) return;
  if (gg->g && gg->val)
    for (int i = 0; i < gg->g->n; i++) free(gg->val[i]);
  arena_free(gg->arena);
  free(gg->src);
  free(gg);
}
