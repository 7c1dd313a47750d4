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
 * becomes the product's epilogue. A reduction along rows gathers the elementwise work
 * and reductions around it into one pass over the rows (softmax + cross-entropy). A
 * large matmul is split into parts for the parallel runner, a large convolution into
 * parts of its batch.
 *
 * One rule holds for every kind of fusion: a value read through a view (a reshape) is
 * read from memory, complete, so its reader never joins the kernel computing it. */
#include <string.h>
#include "entry.h"
#include "matmul_plan.h"
#include "opinfo.h"

static bool computed(const Node *n) {
  OpClass c = gc_ops[n->op].cls;
  return c == CLS_ELEM || c == CLS_REDUCE || c == CLS_KERNEL;
}

/* Kernels that store each element of their result exactly once, through lw_store:
 * they can apply a sink's accumulation or SGD update as they store. */
static bool stores_once(const Node *x) {
  if (x->op == OP_MATMUL) return matmul_single_pass(x);
  return gc_ops[x->op].flags & OPF_STORES_ONCE;
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

/* The leaf a sink overwrites in place: SGD's parameter, a buffer store's buffer
 * (batch norm and buffers, issue 15); else NULL. Such a kernel keeps its place. */
static const Node *overwritten(const Entry *e, const Node *n) {
  const Node *sink = n->op == OP_SGD || n->op == OP_COPY ? n : e->placed[n->id];
  if (sink && sink->op == OP_SGD) return sink->in[1];
  if (sink && sink->op == OP_COPY && entry_buffer_store(e, sink)) return e->args[sink->sink_arg].node;
  return NULL;
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
    if (!computed(x) || x->op == OP_COPY || x->op == OP_SGD || e->placed[x->id]) continue;
    if (entry_buffer_store(e, s)) continue; /* its own copy after every read of the buffer */
    if (s->op == OP_SGD && (uses[x->id] != 1 || !stores_once(x) || !params_read_before(e, s, pos))) continue;
    e->placed[x->id] = s;
  }
}

static bool elided(const Entry *e, const Node *n) {
  return (n->op == OP_COPY || n->op == OP_SGD) && e->placed[n->in[0]->id] == n;
}

static Kernel *new_kernel(Graph *g, Entry *e, KernelKind kind, Shape s) {
  Kernel *k = &e->kernels[e->nkernels++];
  *k = (Kernel){kind, ARENA_ARRAY(g->arena, Node *, e->nlive), 0, s, 1, 0};
  return k;
}

/* The kernel computing x's value (through aliases), or -1 for leaves and constants. */
static int producer(const Entry *e, const Node *x) {
  while (gc_ops[x->op].cls == CLS_ALIAS) x = x->in[0];
  return e->kernel_of[x->id];
}

/* The kernel whose value x views through an alias (a reshape: explicit, a flatten, or
 * a reduction's dropped axes), or -1 when x is read directly or views a leaf. A fused
 * kernel holds its members' values in registers, one element or one row at a time, at
 * the member's own indexing; a view indexes the same elements differently (a [R, 1]
 * row value reshaped to [R] broadcasts along columns), so it must read memory that is
 * complete: never a value computed in the same kernel. */
static int viewed(const Entry *e, const Node *x) {
  return gc_ops[x->op].cls == CLS_ALIAS ? producer(e, x) : -1;
}

/* Whether kernel j reads, through a view, a value that kernel i computes. */
static bool views_kernel(const Entry *e, const Kernel *j, int i) {
  for (int t = 0; t < j->n; t++)
    for (int q = 0; q < j->nodes[t]->nin; q++)
      if (viewed(e, j->nodes[t]->in[q]) == i) return true;
  return false;
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
  int from = 0; /* the first kernel n may join: after its producers, and past a view's */
  for (int j = 0; j < n->nin; j++) {
    int after = producer(e, n->in[j]) + (viewed(e, n->in[j]) >= 0);
    if (after > from) from = after;
  }
  for (int k = from; k < e->nkernels; k++)
    if (e->kernels[k].kind == KER_ELEM && shape_eq(e->kernels[k].shape, n->shape)) return &e->kernels[k];
  return NULL;
}

/* Whether n computes on f32 alone: rows kernels and matmul epilogues load and store
 * floats (or vectors of them); a dtype conversion (issue 16) reading or giving i32 stays
 * in a plain elementwise kernel, which loads and stores each value by its dtype. */
static bool f32_only(const Node *n) {
  bool f32 = n->dtype == DT_F32;
  for (int j = 0; j < n->nin; j++) f32 &= n->in[j]->dtype == DT_F32;
  return f32;
}

/* Whether elementwise kernel x (index xi) can be the epilogue of product c (kernel ci):
 * it reads c, stores no sink of its own, and reads nothing else that is computed
 * after c (its own members apart). */
static bool epilogue_fits(const Entry *e, const Kernel *x, int xi, const Node *c, int ci) {
  bool reads_c = false;
  for (int t = 0; t < x->n; t++) {
    const Node *n = x->nodes[t], *sink = e->placed[n->id];
    if (n->op == OP_COPY || n->op == OP_SGD || (sink && sink->op == OP_SGD) || !f32_only(n)) return false;
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
 * C in memory (after the last k-block). For 2-D products that carry no SGD update. */
static void fuse_epilogues(Entry *e) {
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
}

/* ---- rows kernels (KER_ROWS, see entry.h): reductions along the last axis fused
 * with the elementwise work around them — softmax, log-softmax and cross-entropy,
 * forward and backward, become one pass over the rows. */

static Shape row_shape(Shape s) {
  s.d[s.rank - 1] = 1;
  return s;
}
bool rows_total(const Node *n) {
  int r = n->in[0]->shape.rank;
  return r > 1 && node_reduce(n)->axes == (1u << r) - 1;
}

/* Whether kernel k could run inside a rows kernel over s: elementwise work of shape s
 * or of one value per row, a reduction of an s-shaped value along its rows or over
 * everything, or another rows kernel over s — and no parameter update, which must
 * keep its place. */
static bool rows_member(const Entry *e, const Kernel *k, Shape s) {
  if (!k->n || (k->kind == KER_OP && gc_ops[k->nodes[0]->op].cls != CLS_REDUCE)) return false;
  if (k->kind == KER_ROWS) return shape_eq(k->shape, s); /* an earlier one: they merge */
  for (int t = 0; t < k->n; t++) {
    const Node *n = k->nodes[t], *sink = e->placed[n->id];
    if (n->op == OP_SGD || (sink && sink->op == OP_SGD) || overwritten(e, n) || !f32_only(n))
      return false; /* rows are f32 */
  }
  if (k->kind == KER_ELEM) return shape_eq(k->shape, s) || shape_eq(k->shape, row_shape(s));
  const Node *r = k->nodes[0];
  return shape_eq(r->in[0]->shape, s) && (node_reduce(r)->axes == 1u << (s.rank - 1) || rows_total(r));
}

/* Whether kernel j reads a value kernel i computes (only_totals: a reduction over
 * everything, which exists only after a rows kernel's last row). */
static bool reads_kernel(const Entry *e, const Kernel *j, int i, bool only_totals) {
  for (int t = 0; t < j->n; t++)
    for (int q = 0; q < j->nodes[t]->nin; q++) {
      const Node *x = j->nodes[t]->in[q];
      if (producer(e, x) == i && (!only_totals || (gc_ops[x->op].cls == CLS_REDUCE && rows_total(x)))) return true;
    }
  return false;
}

/* Whether kernel i updates a parameter that kernel j reads (j may not move past it). */
static bool updates_read_param(const Entry *e, const Kernel *i, const Kernel *j) {
  for (int t = 0; t < i->n; t++) {
    const Node *leaf = overwritten(e, i->nodes[t]);
    if (!leaf) continue;
    for (int u = 0; u < j->n; u++)
      for (int q = 0; q < j->nodes[u]->nin; q++)
        if (j->nodes[u]->in[q] == leaf) return true;
  }
  return false;
}

/* Whether kernel j and a member read each other's reductions over everything, or each
 * other's values through a view: neither exists whole while the rows kernel runs. */
static bool reads_unfinished(const Entry *e, const bool *member, int j) {
  const Kernel *kj = &e->kernels[j];
  for (int m = 0; m < e->nkernels; m++) {
    const Kernel *km = &e->kernels[m];
    if (member[m] && m != j &&
        (reads_kernel(e, km, j, true) || reads_kernel(e, kj, m, true) || views_kernel(e, km, j) ||
         views_kernel(e, kj, m)))
      return true;
  }
  return false;
}

/* Kernel j can join the rows kernel that runs at ri's place: nothing between them that
 * stays reads j's results (j < ri: it runs later) or computes j's inputs (j > ri: it runs
 * earlier), and no parameter j reads is updated in between. */
static bool can_move(const Entry *e, const bool *member, int j, int ri) {
  const Kernel *kj = &e->kernels[j];
  for (int m = j < ri ? j + 1 : ri + 1; m < (j < ri ? ri : j); m++) {
    const Kernel *km = &e->kernels[m];
    if (member[m] || !km->n) continue;
    if ((j < ri ? reads_kernel(e, km, j, false) : reads_kernel(e, kj, m, false)) || updates_read_param(e, km, kj))
      return false;
  }
  return !reads_unfinished(e, member, j);
}

/* The loop of each member: a value of the row's shape, or a reduction of one, runs in
 * the first loop after its inputs exist (a reduction's result exists after its loop);
 * a row-level value between the loops, as soon as its inputs exist. */
static void assign_loops(Entry *e, Kernel *k) {
  int ki = (int)(k - e->kernels);
  k->nloops = 1;
  for (int t = 0; t < k->n; t++) {
    Node *n = k->nodes[t];
    int at = 0;
    for (int q = 0; q < n->nin; q++) {
      const Node *x = n->in[q];
      if (e->kernel_of[x->id] != ki) continue;
      bool reduced = gc_ops[x->op].cls == CLS_REDUCE;
      if (at < e->loop_of[x->id] + reduced) at = e->loop_of[x->id] + reduced;
    }
    e->loop_of[n->id] = at;
    bool in_loop = gc_ops[n->op].cls == CLS_REDUCE || !shape_eq(n->shape, row_shape(k->shape));
    if (in_loop && at + 1 > k->nloops) k->nloops = at + 1;
  }
}

/* Every reduction along the rows of a value gathers the kernels that can run with it
 * into one KER_ROWS kernel. */
static void fuse_rows(Graph *g, Entry *e) {
  bool *member = ARENA_ARRAY(g->arena, bool, e->nkernels);
  for (int ri = 0; ri < e->nkernels; ri++) {
    Kernel *r = &e->kernels[ri];
    if (r->kind != KER_OP || gc_ops[r->nodes[0]->op].cls != CLS_REDUCE) continue;
    Shape s = r->nodes[0]->in[0]->shape;
    if (s.rank == 0 || s.d[s.rank - 1] < 2 || node_reduce(r->nodes[0])->axes != 1u << (s.rank - 1)) continue;
    /* the kernel runs at the reduction's place, or — when the reduction can move up to
     * it — at the elementwise kernel computing what it reduces (logreg's loss sum joins
     * the loop of sigmoid, softplus and the gradient, which a product reads before the
     * sum's own place) */
    int at = ri, pk = producer(e, r->nodes[0]->in[0]);
    memset(member, 0, sizeof *member * (size_t)e->nkernels);
    if (pk >= 0 && pk < ri && viewed(e, r->nodes[0]->in[0]) < 0 && e->kernels[pk].kind == KER_ELEM &&
        rows_member(e, &e->kernels[pk], s)) {
      member[pk] = true;
      if (can_move(e, member, ri, pk)) at = pk;
      member[pk] = false;
    }
    member[at] = member[ri] = true;
    for (int j = at - 1; j >= 0; j--) member[j] = rows_member(e, &e->kernels[j], s) && can_move(e, member, j, at);
    for (int j = at + 1; j < e->nkernels; j++)
      if (j != ri) member[j] = rows_member(e, &e->kernels[j], s) && can_move(e, member, j, at);
    int nmembers = 0;
    for (int j = 0; j < e->nkernels; j++) nmembers += member[j];
    if (nmembers == 1) continue; /* alone: stays a reduction kernel */
    Node **nodes = ARENA_ARRAY(g->arena, Node *, e->nlive);
    int n = 0;
    for (int j = 0; j < e->nkernels; j++) {
      if (!member[j]) continue;
      for (int t = 0; t < e->kernels[j].n; t++) {
        nodes[n++] = e->kernels[j].nodes[t];
        e->kernel_of[e->kernels[j].nodes[t]->id] = at;
      }
      e->kernels[j].n = 0;
    }
    e->kernels[at] = (Kernel){KER_ROWS, nodes, n, s, 1, 0};
    assign_loops(e, &e->kernels[at]);
  }
}

bool kernel_keeps(const Entry *e, const Node *c, const Node *x) {
  int k = e->kernel_of[c->id];
  if (k < 0 || k != e->kernel_of[x->id]) return false;
  const Kernel *kr = &e->kernels[k];
  if (kr->kind != KER_ROWS) return gc_ops[c->op].cls == CLS_ELEM; /* fused loop, or matmul epilogue */
  if (gc_ops[x->op].cls == CLS_REDUCE) return !rows_total(x);      /* held for the row */
  if (shape_eq(x->shape, row_shape(kr->shape))) return true;     /* row-level: held for the row */
  bool c_per_element = gc_ops[c->op].cls == CLS_REDUCE || !shape_eq(c->shape, row_shape(kr->shape));
  return c_per_element && e->loop_of[c->id] == e->loop_of[x->id]; /* read in the loop computing it */
}

/* Drops the kernels fusion emptied. */
static void drop_empty(Graph *g, Entry *e) {
  int *renumber = ARENA_ARRAY(g->arena, int, e->nkernels), kept = 0;
  for (int i = 0; i < e->nkernels; i++) {
    renumber[i] = kept;
    if (e->kernels[i].n) e->kernels[kept++] = e->kernels[i];
  }
  e->nkernels = kept;
  for (int i = 0; i < g->n; i++)
    if (e->kernel_of[i] >= 0) e->kernel_of[i] = renumber[e->kernel_of[i]];
}

/* A convolution of at least CONV_PART_FLOPS multiply-adds is split over its images:
 * the most parts (up to the threads) that divide the batch evenly. Each output element
 * is computed by one part, in the same order as unsplit: the result does not depend on
 * the thread count. */
#define CONV_PART_FLOPS (1 << 21)
static int conv_parts(const Node *n, int threads) {
  const Node *w = n->in[1];
  if (n->shape.rank != 4 || w->shape.rank != 4) return 1;
  int64_t batch = n->shape.d[0], macs = w->shape.d[1] * w->shape.d[2] * w->shape.d[3];
  for (int i = 0; i < 4; i++) macs *= n->shape.d[i];
  if (macs < CONV_PART_FLOPS) return 1;
  int t = threads < batch ? threads : (int)batch;
  while (t > 1 && batch % t) t--;
  return t > 1 ? t : 1;
}

void schedule_entry(Graph *g, Entry *e) {
  elide_sinks(g, e);
  e->kernels = ARENA_ARRAY(g->arena, Kernel, e->nlive + 1);
  e->kernel_of = ARENA_ARRAY(g->arena, int, g->n);
  e->loop_of = ARENA_ARRAY(g->arena, int, g->n);
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
    if (n->op == OP_CONV2D && e->vw > 1) k->parts = conv_parts(n, e->threads);
  }
  fuse_epilogues(e);
  fuse_rows(g, e);
  drop_empty(g, e);
}
