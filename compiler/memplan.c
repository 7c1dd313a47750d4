/* memplan.c — the static memory plan: a buffer for every value an entry point needs.
 *
 * Leaves, outputs, the loss and gradients live in the caller's argument buffers;
 * aliases (reshape) share their operand's buffer; constants are immediates; a value
 * used only inside its fused kernel lives in registers. Everything else gets a slice
 * of the one workspace: its live range runs from the kernel that computes it to the
 * last kernel that reads it, and slices whose live ranges overlap never share bytes
 * (greedy first fit, in order of definition, 64-byte aligned). */
#include <stdio.h>
#include <stdlib.h>
#include "entry.h"
#include "matmul_plan.h"
#include "opinfo.h"
#include "ops_attn.h"

#define ALIGN 64

static Node *alias_base(Node *n) {
  while (gc_ops[n->op].cls == CLS_ALIAS) n = n->in[0];
  return n;
}

static int arg_of(const Entry *e, const Node *n) {
  for (int i = 0; i < e->nargs; i++)
    if (e->args[i].node == n && (e->args[i].kind == ARG_INPUT || e->args[i].kind == ARG_PARAM)) return i;
  return -1;
}

/* Which values are read outside the kernel that computes them, and until when. */
static void liveness(Graph *g, Entry *e, bool *escapes) {
  Buffer *B = e->buf;
  for (int i = 0; i < e->nlive; i++) {
    Node *c = e->live[i];
    int kc = e->kernel_of[c->id];
    for (int j = 0; j < c->nin; j++) {
      Node *x = c->in[j];
      if (!kernel_keeps(e, c, x)) escapes[x->id] = true;
      Node *base = alias_base(x);
      if (kc > B[base->id].last) B[base->id].last = kc;
    }
  }
  (void)g;
}

/* A workspace interval to place: live from kernel def to kernel last. */
typedef struct {
  int def, last;
  int64_t bytes;
  int64_t *offset;
  int node;
} Alloc;

/* Workspace buffers and kernels' scratch, in order of definition. */
static int allocs_of(Graph *g, Entry *e, Alloc **out) {
  Alloc *a = ARENA_ARRAY(g->arena, Alloc, 2 * e->nlive + 1);
  int n = 0;
  for (int i = 0; i < e->nlive; i++) {
    Buffer *b = &e->buf[e->live[i]->id];
    if (b->scratch_bytes) a[n++] = (Alloc){b->def, b->def, b->scratch_bytes, &b->scratch_offset, e->live[i]->id};
    if (b->kind == BUF_WS) a[n++] = (Alloc){b->def, b->last, b->bytes, &b->offset, e->live[i]->id};
  }
  *out = a;
  return n;
}

static bool overlap(const Alloc *x, int64_t off, const Alloc *y) {
  bool live_together = !(y->last < x->def || x->last < y->def);
  return live_together && off < *y->offset + y->bytes && *y->offset < off + x->bytes;
}

static void assign_offsets(Graph *g, Entry *e) {
  Alloc *a;
  int n = allocs_of(g, e, &a);
  int64_t top = 0;
  for (int i = 0; i < n; i++) {
    int64_t off = 0;
    for (bool moved = true; moved;) { /* first fit: lowest offset clear of every overlapping live buffer */
      moved = false;
      for (int j = 0; j < i; j++)
        if (overlap(&a[i], off, &a[j])) {
          off = (*a[j].offset + a[j].bytes + ALIGN - 1) / ALIGN * ALIGN;
          moved = true;
        }
    }
    *a[i].offset = off;
    if (off + a[i].bytes > top) top = off + a[i].bytes;
  }
  e->ws_bytes = (top + ALIGN - 1) / ALIGN * ALIGN;
}

void memplan_entry(Graph *g, Entry *e) {
  e->buf = ARENA_ARRAY(g->arena, Buffer, g->n);
  bool *escapes = ARENA_ARRAY(g->arena, bool, g->n);
  for (int i = 0; i < e->nlive; i++) {
    Node *n = e->live[i];
    e->buf[n->id].def = e->kernel_of[n->id];
    e->buf[n->id].last = e->kernel_of[n->id];
  }
  liveness(g, e, escapes);
  for (int i = 0; i < e->nlive; i++) {
    Node *n = e->live[i];
    Buffer *b = &e->buf[n->id];
    OpClass c = gc_ops[n->op].cls;
    Node *sink = (n->op == OP_COPY || n->op == OP_SGD) ? n : e->placed[n->id];
    if (sink && e->kernel_of[n->id] < 0 && n == sink) {
      b->kind = BUF_NONE; /* an elided sink */
    } else if (sink) {
      b->kind = BUF_ARG, b->arg = sink->sink_arg;
      b->sgd = sink->op == OP_SGD ? sink : NULL;
    } else if (n->op == OP_PARAM && n->baked) {
      b->kind = BUF_BAKED;
    } else if (n->op == OP_INPUT || n->op == OP_PARAM) {
      b->kind = BUF_ARG, b->arg = arg_of(e, n);
    } else if (n->op == OP_CONST) {
      b->kind = BUF_CONST;
    } else if (c == CLS_ALIAS) {
      b->kind = BUF_ALIAS, b->base = alias_base(n);
    } else if ((c == CLS_ELEM || (c == CLS_REDUCE && e->kernels[e->kernel_of[n->id]].kind == KER_ROWS) ||
                (n->op == OP_MATMUL && e->kernels[e->kernel_of[n->id]].n > 1 && matmul_single_pass(n))) &&
               !escapes[n->id]) {
      b->kind = BUF_NONE; /* in registers: read only within its kernel (a product: by its epilogue, with
                             no partial sums to keep between k-blocks; a reduction along a row: while
                             its rows kernel is on that row) */
    } else {
      b->kind = BUF_WS, b->bytes = node_bytes(n);
    }
    if (n->op == OP_MATMUL) /* one packing area per part: the parts may run at once */
      b->scratch_bytes = matmul_scratch_bytes(n, e->vw) * e->kernels[e->kernel_of[n->id]].parts;
    if (n->op == OP_SDPA || n->op == OP_SDPA_BWD) /* transposed k, v and a block's score rows */
      b->scratch_bytes = sdpa_scratch_bytes(n, e->vw);
  }
  assign_offsets(g, e);
}

const char *memplan_verify(Graph *g, Entry *e) {
  Alloc *a;
  int n = allocs_of(g, e, &a);
  for (int i = 0; i < n; i++) {
    if (*a[i].offset < 0 || *a[i].offset + a[i].bytes > e->ws_bytes || *a[i].offset % ALIGN)
      return arena_printf(g->arena, "%%%d lies outside the workspace or is misaligned", a[i].node);
    for (int j = i + 1; j < n; j++)
      if (overlap(&a[i], *a[i].offset, &a[j]))
        return arena_printf(g->arena, "%%%d and %%%d overlap in the workspace while both live", a[i].node, a[j].node);
  }
  return NULL;
}
