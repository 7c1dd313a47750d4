/* schedule.c — grouping an entry's nodes into kernels (fusion).
 *
 * Walks the live nodes in topological order. An elementwise node joins the earliest
 * KER_ELEM kernel of its shape that comes after all its inputs are computed: one loop
 * nest computing all its members per element in registers, storing only what is read
 * elsewhere. Reductions and the other kernel ops
 * (matmul, permute, onehot) are kernels of their own. Leaves and aliases need no code.
 *
 * Before that, sinks are elided where they can be: a value that is computed by some
 * kernel and stored by a COPY is computed straight into the output buffer; a gradient
 * read by nothing else is stored by its own kernel through its SGD sink (added into
 * the gradient buffer, or applied as the parameter's update) — a matmul applies the
 * update in its epilogue. Elementwise work on a product's result (bias, activation)
 * becomes the product's epilogue. A large matmul is split into parts for the parallel
 * runner. */
#include <string.h>
#include "entry.h"
#include "matmul.h"
#include "opinfo.h"

static bool computed(const Node *n) {
  OpClass c = gc_ops[n->op].cls;
  return c == CLS_ELEM || c == CLS_REDUCE || c == CLS_KERNEL;
}

/* Kernels that store each element of their result exactly once, through lw_store:
 * they can apply a sink's accumulation or SGD update as they store. */
static bool stores_once(const Node *x) {
  OpClass c = gc_ops[x->op].cls;
  if (c == CLS_ELEM) return x->op != OP_COPY && x->op != OP_SGD;
  if (x->op == OP_MATMUL) return matmul_single_pass(x);
  return c == CLS_REDUCE || x->op == OP_PERMUTE || x->op == OP_CONV2D || x->op == OP_CONV2D_DW;
}

/* An SGD update may ride on the gradient's kernel only if every other reader of the
 * parameter comes earlier (it overwrites the parameter). */
static bool params_read_before(const Entry *e, const Node *s, const int *pos) {
  const Node *p = s->in[1], *gr = s->in[0];
  for (int i = 0; i < e->nlive; i++) {
    const Node *c = e->live[i];
    if (c == s) continue;
    for (int j = 0; j < c->nin; j++)
      if (c->in[j] == p && pos[c->id] >= pos[gr->id]) return false;
  }
  return true;
}

static void elide_sinks(Graph *g, Entry *e) {
  int *uses = ARENA_ARRAY(g->arena, int, g->n), *pos = ARENA_ARRAY(g->arena, int, g->n);
  for (int i = 0; i < e->nlive; i++) {
    pos[e->live[i]->id] = i;
    for (int j = 0; j < e->live[i]->nin; j++) uses[e->live[i]->in[j]->id]++;
  }
  e->placed = ARENA_ARRAY(g->arena, Node *, g->n);
  for (int i = 0; i < e->nsinks; i++) {
    Node *s = e->sinks[i], *x = s->in[0];
    if (!computed(x) || x->op == OP_COPY || x->op == OP_SGD || e->placed[x->id] || x->dtype != DT_F32) continue;
    if (s->op == OP_SGD && (uses[x->id] != 1 || !stores_once(x) || !params_read_before(e, s, pos))) continue;
    e->placed[x->id] = s;
  }
}

static bool elided(const Entry *e, const Node *n) {
  return (n->op == OP_COPY || n->op == OP_SGD) && e->placed[n->in[0]->id] == n;
}

static Kernel *new_kernel(Graph *g, Entry *e, KernelKind kind, Shape s) {
  Kernel *k = &e->kernels[e->nkernels++];
  *k = (Kernel){kind, ARENA_ARRAY(g->arena, Node *, e->nlive), 0, s, 1};
  return k;
}

/* The kernel computing x's value (through aliases), or -1 for leaves and constants. */
static int producer(const Entry *e, const Node *x) {
  while (gc_ops[x->op].cls == CLS_ALIAS) x = x->in[0];
  return e->kernel_of[x->id];
}

/* The earliest elementwise kernel of n's shape that comes after every producer of n's
 * inputs: n can join it, computing in registers what it would otherwise reload in a
 * loop of its own (sigmoid and softplus of the same logits then share one exp). Not
 * for sinks, which write parameters and outputs in place at their turn. */
static Kernel *elem_kernel_for(Entry *e, const Node *n) {
  if (n->op == OP_COPY || n->op == OP_SGD) {
    Kernel *last = e->nkernels ? &e->kernels[e->nkernels - 1] : NULL;
    return last && last->kind == KER_ELEM && shape_eq(last->shape, n->shape) ? last : NULL;
  }
  int from = 0;
  for (int j = 0; j < n->nin; j++)
    if (producer(e, n->in[j]) > from) from = producer(e, n->in[j]);
  for (int k = from; k < e->nkernels; k++)
    if (e->kernels[k].kind == KER_ELEM && shape_eq(e->kernels[k].shape, n->shape)) return &e->kernels[k];
  return NULL;
}

/* Whether elementwise kernel x (index xi) can be the epilogue of product c (kernel ci):
 * it reads c, stores no sink of its own, and reads nothing else that is computed
 * after c (its own members apart). */
static bool epilogue_fits(const Entry *e, const Kernel *x, int xi, const Node *c, int ci) {
  bool reads_c = false;
  for (int t = 0; t < x->n; t++) {
    const Node *n = x->nodes[t], *sink = e->placed[n->id];
    if (n->op == OP_COPY || n->op == OP_SGD || (sink && sink->op == OP_SGD)) return false;
    for (int j = 0; j < n->nin; j++) {
      const Node *in = n->in[j];
      if (in == c) reads_c = true;
      else if (e->kernel_of[in->id] != xi && producer(e, in) >= ci) return false;
    }
  }
  return reads_c;
}

/* Epilogues: an elementwise kernel of a matrix product's shape that reads the product
 * joins the product's kernel, which then applies it to each finished block of C while
 * it is in registers (bias, activation, a backward mask) instead of another pass over
 * C in memory (after the last k-block). For 2-D products that carry no SGD update.
 * Emptied kernels are dropped. */
static void fuse_epilogues(Graph *g, Entry *e) {
  for (int ci = 0; ci < e->nkernels; ci++) {
    Kernel *k = &e->kernels[ci];
    Node *c = k->nodes[0];
    if (k->kind != KER_OP || c->op != OP_MATMUL || c->shape.rank != 2 ||
        (e->placed[c->id] && e->placed[c->id]->op == OP_SGD))
      continue;
    for (int xi = ci + 1; xi < e->nkernels; xi++) {
      Kernel *x = &e->kernels[xi];
      if (x->kind != KER_ELEM || !x->n || !shape_eq(x->shape, c->shape) || !epilogue_fits(e, x, xi, c, ci)) continue;
      for (int t = 0; t < x->n; t++) {
        k->nodes[k->n++] = x->nodes[t];
        e->kernel_of[x->nodes[t]->id] = ci;
      }
      x->n = 0;
      break;
    }
  }
  int *renumber = ARENA_ARRAY(g->arena, int, e->nkernels), kept = 0;
  for (int i = 0; i < e->nkernels; i++) {
    renumber[i] = kept;
    if (e->kernels[i].n) e->kernels[kept++] = e->kernels[i];
  }
  e->nkernels = kept;
  for (int i = 0; i < g->n; i++)
    if (e->kernel_of[i] >= 0) e->kernel_of[i] = renumber[e->kernel_of[i]];
}

void schedule_entry(Graph *g, Entry *e) {
  elide_sinks(g, e);
  e->kernels = ARENA_ARRAY(g->arena, Kernel, e->nlive + 1);
  e->kernel_of = ARENA_ARRAY(g->arena, int, g->n);
  for (int i = 0; i < g->n; i++) e->kernel_of[i] = -1;
  for (int i = 0; i < e->nlive; i++) {
    Node *n = e->live[i];
    OpClass c = gc_ops[n->op].cls;
    if (c == CLS_LEAF || c == CLS_ALIAS || elided(e, n)) continue;
    Kernel *k = c == CLS_ELEM ? elem_kernel_for(e, n) : NULL;
    if (!k) k = new_kernel(g, e, c == CLS_ELEM ? KER_ELEM : KER_OP, n->shape);
    k->nodes[k->n++] = n;
    e->kernel_of[n->id] = (int)(k - e->kernels);
    if (n->op == OP_MATMUL) k->parts = matmul_parts(n, e->vw, e->threads);
  }
  fuse_epilogues(g, e);
}
