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
#include "opinfo.h"

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
      bool same = kc >= 0 && kc == e->kernel_of[x->id] && gc_ops[c->op].cls == CLS_ELEM;
      if (!same) escapes[x->id] = true;
      Node *base = alias_base(x);
      if (kc > B[base->id].last) B[base->id].last = kc;
    }
  }
  (void)g;
}

static void assign_offsets(Entry *e) {
  Buffer *B = e->buf;
  int64_t top = 0;
  for (int i = 0; i < e->nlive; i++) {
    Buffer *b = &B[e->live[i]->id];
    if (b->kind != BUF_WS) continue;
    int64_t off = 0;
    for (bool moved = true; moved;) { /* first fit: lowest offset clear of every overlapping live buffer */
      moved = false;
      for (int j = 0; j < i; j++) {
        Buffer *o = &B[e->live[j]->id];
        if (o->kind != BUF_WS || o->last < b->def || b->last < o->def) continue;
        if (off < o->offset + o->bytes && o->offset < off + b->bytes) {
          off = (o->offset + o->bytes + ALIGN - 1) / ALIGN * ALIGN;
          moved = true;
        }
      }
    }
    b->offset = off;
    if (off + b->bytes > top) top = off + b->bytes;
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
    Node *sink = (n->op == OP_COPY || n->op == OP_ACCUM || n->op == OP_SGD) ? n : e->placed[n->id];
    if (sink && e->kernel_of[n->id] < 0 && n == sink) {
      b->kind = BUF_NONE; /* an elided sink */
    } else if (sink) {
      b->kind = BUF_ARG, b->arg = sink->sink_arg, b->acc = sink->op == OP_ACCUM;
      b->sgd = sink->op == OP_SGD ? sink : NULL;
    } else if (n->op == OP_PARAM && n->baked) {
      b->kind = BUF_BAKED;
    } else if (n->op == OP_INPUT || n->op == OP_PARAM) {
      b->kind = BUF_ARG, b->arg = arg_of(e, n);
    } else if (n->op == OP_CONST) {
      b->kind = BUF_CONST;
    } else if (c == CLS_ALIAS) {
      b->kind = BUF_ALIAS, b->base = alias_base(n);
    } else if (c == CLS_ELEM && !escapes[n->id]) {
      b->kind = BUF_NONE;
    } else {
      b->kind = BUF_WS, b->bytes = shape_count(n->shape) * 4;
    }
  }
  assign_offsets(e);
}

const char *memplan_verify(Graph *g, Entry *e) {
  Node **ws = ARENA_ARRAY(g->arena, Node *, e->nlive + 1);
  int n = 0;
  for (int i = 0; i < e->nlive; i++)
    if (e->buf[e->live[i]->id].kind == BUF_WS) ws[n++] = e->live[i];
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) {
      Buffer *a = &e->buf[ws[i]->id], *b = &e->buf[ws[j]->id];
      bool live_together = !(a->last < b->def || b->last < a->def);
      bool share = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
      if (i != j && live_together && share)
        return arena_printf(g->arena, "%%%d and %%%d overlap in the workspace while both live", ws[i]->id, ws[j]->id);
      if (a->offset + a->bytes > e->ws_bytes || a->offset % ALIGN)
        return arena_printf(g->arena, "%%%d lies outside the workspace or is misaligned", ws[i]->id);
    }
  return NULL;
}
