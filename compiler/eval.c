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
#include "front.h"
#include "gradc/compiler.h"
#include "opinfo.h"
#include "ops_window.h"

struct gc_graph {
  Arena *arena;
  Graph *g;
  double **val; /* by node id */
  char *src;
  Node **kinked; /* the nodes of ops with a kink that the loss depends on (gc_graph_kink_state) */
  int nkinked;
  bool kinks_found;
  uint64_t seed; /* the step seed (gc_graph_set_seed) */
};

gc_graph *gc_graph_build(const gc_options *o, char *err, size_t errlen);

static void eval_elem(Node *n, double **val, uint64_t seed) {
  if (gc_ops[n->op].evalr) { /* dropout: its operand has its shape */
    gc_ops[n->op].evalr(n, seed, val[n->id], val[n->in[0]->id]);
    return;
  }
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
      for (int64_t k = 0; k < shape_count(n->shape); k++) out[k] = node_const(n)->value;
    } else if (op->cls == CLS_ALIAS) {
      memcpy(out, gg->val[n->in[0]->id], sizeof(double) * (size_t)shape_count(n->shape));
    } else if (op->cls == CLS_ELEM) {
      eval_elem(n, gg->val, gg->seed);
    } else {
      double *ins[GC_MAX_ARITY] = {0};
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

bool gc_graph_shape(const gc_graph *gg, const char *name, bool *i32, int64_t dims[8], int *rank) {
  Graph *g = gg->g;
  Node *n = leaf_named(g, name);
  for (int i = 0; !n && i < g->noutputs; i++)
    if (!strcmp(g->output_names[i], name)) n = g->outputs[i];
  if (!n) return false;
  *i32 = n->dtype == DT_I32;
  *rank = n->shape.rank;
  for (int d = 0; d < n->shape.rank; d++) dims[d] = n->shape.d[d];
  return true;
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

void gc_graph_set_seed(gc_graph *gg, uint64_t step_seed) { gg->seed = step_seed; }

/* ---- kinks: which side of its kink each input of a kinked op is on ---- */

static const char *const kink_names[GC_GRAPH_KINK_OPS] = {"relu", "leaky_relu", "abs", "maximum", "minimum", "max",
                                                          "max_pool2d", "a comparison or where",
                                                          "floor, ceil, round or sign"};

const char *gc_graph_kink_op(int kind) { return kind >= 0 && kind < GC_GRAPH_KINK_OPS ? kink_names[kind] : NULL; }

/* The kind of a primitive with a kink, or -1. In a forward graph STEP comes only from
 * leaky_relu (x (slope + (1 - slope) step(x))). */
static int kink_kind(OpKind op) {
  switch (op) {
  case OP_RELU: return 0;
  case OP_STEP: return 1;
  case OP_ABS: return 2;
  case OP_MAXIMUM: return 3;
  case OP_MINIMUM: return 4;
  case OP_MAX: return 5;
  case OP_MAXPOOL: return 6;
  /* issue 15: a mask flips (its value is the side); a step of a rounding function */
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE: case OP_SELECT: return 7;
  case OP_SIGN: case OP_FLOOR: case OP_CEIL: case OP_ROUND: return 8;
  default: return -1;
  }
}

static uint64_t mix(uint64_t h, uint64_t v) { /* splitmix64 of the running hash and v */
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}
static int sign_of(double v) { return (v > 0) - (v < 0); }

/* MAXIMUM/MINIMUM: the sign of a - b for every (broadcast) element. */
static uint64_t kink_binary(gc_graph *gg, Node *n, uint64_t h) {
  Shape s = n->shape;
  int64_t st[2][GC_MAX_RANK], cnt = shape_count(s);
  for (int j = 0; j < 2; j++) shape_bstrides(n->in[j]->shape, s.rank, st[j]);
  const double *a = gg->val[n->in[0]->id], *b = gg->val[n->in[1]->id];
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, off[2] = {0, 0};
    for (int d = s.rank - 1; d >= 0; d--) {
      int64_t i = rem % s.d[d];
      rem /= s.d[d];
      off[0] += i * st[0][d], off[1] += i * st[1][d];
    }
    h = mix(h, (uint64_t)(sign_of(a[off[0]] - b[off[1]]) + 1));
  }
  return h;
}

/* MAX: where the first maximum of each output element is, and whether another equals it. */
static uint64_t kink_max(gc_graph *gg, Node *n, uint64_t h) {
  Shape s = n->in[0]->shape;
  int64_t ostr[GC_MAX_RANK], cnt = shape_count(s), on = shape_count(n->shape);
  shape_bstrides(n->shape, s.rank, ostr);
  const double *x = gg->val[n->in[0]->id], *y = gg->val[n->id];
  int64_t *arg = calloc((size_t)on, sizeof *arg), ties = 0;
  if (!arg) return mix(h, 1);
  for (int64_t i = 0; i < on; i++) arg[i] = -1;
  for (int64_t lin = 0; lin < cnt; lin++) {
    int64_t rem = lin, o = 0;
    for (int d = s.rank - 1; d >= 0; d--) o += (rem % s.d[d]) * ostr[d], rem /= s.d[d];
    if (x[lin] == y[o]) arg[o] < 0 ? (void)(arg[o] = lin) : (void)ties++;
  }
  for (int64_t i = 0; i < on; i++) h = mix(h, (uint64_t)arg[i]);
  free(arg);
  return mix(h, (uint64_t)ties);
}

/* MAXPOOL: each window's winner, as the pooling gradient of distinct weights routes them. */
static uint64_t kink_pool(gc_graph *gg, Node *n, uint64_t h) {
  Node dx = *n;
  dx.shape = n->in[0]->shape;
  dx.in[1] = n;
  int64_t nx = shape_count(dx.shape), ny = shape_count(n->shape);
  double *w = malloc((size_t)ny * sizeof *w), *out = malloc((size_t)nx * sizeof *out);
  if (w && out) {
    for (int64_t i = 0; i < ny; i++) w[i] = (double)(i + 1);
    double *in[2] = {gg->val[n->in[0]->id], w};
    ev_maxpool_dx(&dx, out, in);
    for (int64_t i = 0; i < nx; i++) h = mix(h, (uint64_t)out[i]);
  }
  free(w), free(out);
  return h;
}

static void find_kinked(gc_graph *gg) {
  Graph *g = gg->g;
  gg->kinks_found = true;
  if (!g->loss) return;
  Node **order = ARENA_ARRAY(gg->arena, Node *, g->n + 1);
  int k = graph_topo(g, &g->loss, 1, order);
  gg->kinked = order;
  for (int i = 0; i < k; i++)
    if (kink_kind(order[i]->op) >= 0) gg->kinked[gg->nkinked++] = order[i];
}

void gc_graph_kink_state(gc_graph *gg, uint64_t state[GC_GRAPH_KINK_OPS]) {
  if (!gg->kinks_found) find_kinked(gg);
  for (int i = 0; i < GC_GRAPH_KINK_OPS; i++) state[i] = 0;
  for (int i = 0; i < gg->nkinked; i++) {
    Node *n = gg->kinked[i];
    int kind = kink_kind(n->op);
    uint64_t h = mix(state[kind], (uint64_t)n->id);
    if (n->op == OP_MAXIMUM || n->op == OP_MINIMUM) h = kink_binary(gg, n, h);
    else if (n->op == OP_MAX) h = kink_max(gg, n, h);
    else if (n->op == OP_MAXPOOL) h = kink_pool(gg, n, h);
    else if (kind >= 7) /* the mask (select: its condition), or the rounded value */
      for (int64_t e = 0, cnt = shape_count((n->op == OP_SELECT ? n->in[0] : n)->shape); e < cnt; e++) {
        double v = n->op == OP_SELECT ? gg->val[n->in[0]->id][e] != 0 : gg->val[n->id][e];
        h = mix(h, (uint64_t)(int64_t)v);
      }
    else
      for (int64_t e = 0, cnt = shape_count(n->shape); e < cnt; e++)
        h = mix(h, (uint64_t)(sign_of(gg->val[n->in[0]->id][e]) + 1));
    state[kind] = h;
  }
}

int64_t gc_graph_label_classes(const gc_graph *gg, const char *input) {
  Graph *g = gg->g;
  int64_t classes = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i], *src = n->nin ? n->in[0] : NULL;
    while (src && src->op == OP_RESHAPE) src = src->in[0]; /* labels reshaped ([B, T] to [B*T]) */
    if (n->op == OP_ONEHOT && src->op == OP_INPUT && !strcmp(src->name, input) &&
        (!classes || node_onehot(n)->classes < classes))
      classes = node_onehot(n)->classes;
    /* the bound a builder recorded on the input: embedding's, gather's, one_hot's ids */
    if (n->op == OP_INPUT && !strcmp(n->name, input) && n->classes && (!classes || n->classes < classes))
      classes = n->classes;
  }
  return classes;
}

static gc_graph *build(Diag *d, gc_graph *gg, const gc_options *o) {
  if (setjmp(d->jb)) return NULL;
  Graph *g = front_graph(gg->arena, d, o, false, front_mode(o)); /* weights are not baked: they are set */
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
