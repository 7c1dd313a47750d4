/* builtins_index2.c — indexing II (issue 15): integer tensors as indices and the rest of
 * "indexing and assembling". embedding and gather are the GATHER primitive (ops_index.c;
 * its gradient, SCATTER_ADD, accumulates repeated indices); one_hot is ONEHOT of the
 * flattened ids; an index x[a:b, ::2, i, ...] is a SLICE and a reshape dropping the
 * integer-indexed axes; split and chunk a SLICE per piece (`a, b = split(..)`: parse.c
 * gives each name its piece); pad's reflect and replicate modes are concatenations of
 * reversed (step -1) or expanded edge slices with x, so every derivative comes from
 * SLICE, PAD and EXPAND. Arguments are read by signature_index.c's rules, shared with
 * the tape (tape/interp_index.c). */
#include <string.h>
#include "builtins_index.h"

static const int64_t unit_steps[GC_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};

static Node *typed_arg(const BuildCtx *B, Expr *c, Expr *e, DType want, const char *what) {
  Node *x = bi_arg(B, e);
  if (x->dtype != want)
    diag_error(B->d, e->loc, "'%s' needs %s %s, got %s %s", c->name, dtype_name(want), what, dtype_name(x->dtype),
               shape_str(B->g->arena, x->shape));
  return x;
}

static Shape append_dim(const BuildCtx *B, Expr *where, Shape s, int64_t d) {
  if (s.rank + 1 > GC_MAX_RANK) diag_error(B->d, where->loc, "the result would have rank %d (at most %d)", s.rank + 1, GC_MAX_RANK);
  s.d[s.rank++] = d;
  return s;
}

/* An i32 input read as indices into `n` rows: `gradc train`, `eval` and `run --set`
 * check its values are in [0, n) (as cross_entropy's labels). */
static void note_classes(Node *ids, int64_t n) {
  if (ids->op == OP_INPUT && (!ids->classes || ids->classes > n)) ids->classes = n;
}

/* embedding(ids, table): F.embedding; an id outside [0, V) gives a row of zeros. */
Node *b_embedding(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *ids = typed_arg(B, c, p[0], DT_I32, "ids (integer indices; an i32 input)");
  Node *t = bi_arg(B, p[1]);
  if (t->dtype != DT_F32 || t->shape.rank != 2)
    diag_error(B->d, p[1]->loc, "embedding needs an f32 table [V, D] (num_embeddings x embedding_dim), got %s %s",
               dtype_name(t->dtype), shape_str(g->arena, t->shape));
  Shape out = append_dim(B, c, ids->shape, t->shape.d[1]);
  int64_t n = shape_count(ids->shape), D = t->shape.d[1];
  note_classes(ids, t->shape.d[0]);
  Node *y = g_gather(g, t, g_reshape(g, ids, (Shape){2, {n, 1}}), 0, (Shape){2, {n, D}});
  return g_reshape(g, y, out);
}

/* gather(x, axis, index): torch.gather; index i32 of x's rank, no larger than x outside
 * the axis; the result has index's shape. */
Node *b_gather(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = typed_arg(B, c, p[0], DT_F32, "values");
  Node *ix = typed_arg(B, c, p[2], DT_I32, "indices");
  int axis = arg_axis(&BI_READER(B), p[1], x->shape.rank);
  if (ix->shape.rank != x->shape.rank)
    diag_error(B->d, p[2]->loc, "gather: the index %s must have the rank of x %s (as torch.gather)",
               shape_str(g->arena, ix->shape), shape_str(g->arena, x->shape));
  for (int d = 0; d < x->shape.rank; d++)
    if (d != axis && ix->shape.d[d] > x->shape.d[d])
      diag_error(B->d, p[2]->loc, "gather: the index %s is larger than x %s on axis %d (torch.gather needs "
                 "index.size(d) <= x.size(d) for d != axis)", shape_str(g->arena, ix->shape),
                 shape_str(g->arena, x->shape), d);
  note_classes(ix, x->shape.d[axis]);
  return g_gather(g, x, ix, axis, ix->shape);
}

/* one_hot(ids, num_classes): F.one_hot as f32; an id outside [0, C) gives zeros. */
Node *b_one_hot(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *ids = typed_arg(B, c, p[0], DT_I32, "ids (integer class indices)");
  double v;
  if (!B->number(B->self, p[1], &v) || v != (int64_t)v || v < 1 || v > 2147483647.0)
    diag_error(B->d, p[1]->loc, "one_hot: num_classes must be an integer >= 1 (gradc needs it: shapes are static)");
  Shape out = append_dim(B, c, ids->shape, (int64_t)v);
  note_classes(ids, (int64_t)v);
  Node *flat = g_reshape(g, ids, (Shape){1, {shape_count(ids->shape)}});
  return g_reshape(g, g_onehot(g, flat, (int64_t)v), out);
}

/* x[...]: the plan's slice, then the integer-indexed axes dropped. */
Node *builtin_index(const BuildCtx *B, Expr *e) {
  Graph *g = B->g;
  Node *x = bi_arg(B, e->lhs);
  SrcLoc outer = g->loc;
  const char *what = g->what;
  g->loc = e->loc, g->what = "[]";
  if (x->dtype != DT_F32 && x->dtype != DT_I32)
    diag_error(B->d, e->loc, "indexing needs an f32 or i32 tensor, got %s %s", dtype_name(x->dtype),
               shape_str(g->arena, x->shape));
  if (x->shape.rank == 0) diag_error(B->d, e->loc, "a 0-d tensor cannot be indexed");
  IndexPlan ip;
  arg_index(&BI_READER(B), e, x->shape.rank, x->shape.d, &ip);
  Shape s = x->shape, kept = {0, {0}};
  for (int d = 0; d < s.rank; d++) {
    s.d[d] = ip.len[d];
    if (!(ip.drop >> d & 1)) kept.d[kept.rank++] = ip.len[d];
  }
  Node *y = g_reshape(g, g_slice(g, x, ip.start, ip.step, s), kept);
  g->loc = outer, g->what = what;
  return y;
}

/* split(x, size or [sizes], axis=0) / chunk(x, chunks, axis=0): this statement's piece. */
static Node *piece(const BuildCtx *B, Expr *c, Expr **p, bool chunk) {
  Node *x = bi_arg(B, p[0]); /* f32, or i32 indices */
  if (x->shape.rank == 0) diag_error(B->d, p[0]->loc, "'%s' cannot split a 0-d tensor", c->name);
  Expr zero = {.kind = EX_NUM, .num = 0, .is_int = 1, .loc = c->loc};
  int axis = arg_axis(&BI_READER(B), p[2] ? p[2] : &zero, x->shape.rank);
  int64_t start, len, names = c->nparts ? c->nparts : 1;
  int64_t n = arg_split_piece(&BI_READER(B), c, p[1], x->shape.d[axis], chunk, c->part, &start, &len);
  if (n != names)
    diag_error(B->d, c->loc, "%s gives %lld tensors, %lld name%s%s", c->name, (long long)n, (long long)names,
               names == 1 ? "" : "s", names == 1 && n > 1 ? ": bind one name to each, e.g. a, b = split(x, 2)" : "");
  int64_t st[GC_MAX_RANK] = {0};
  Shape s = x->shape;
  st[axis] = start, s.d[axis] = len;
  return g_slice(B->g, x, st, unit_steps, s);
}
Node *b_split(const BuildCtx *B, Expr *c, Expr **p) { return piece(B, c, p, false); }
Node *b_chunk(const BuildCtx *B, Expr *c, Expr **p) { return piece(B, c, p, true); }

/* ---- pad's reflect and replicate modes ---- */

/* `count` elements of axis d of x from `from` by `step`, or (replicate) element `from`
 * expanded `count` times. */
static Node *edge(Graph *g, Node *x, int d, int64_t from, int64_t step, int64_t count, bool replicate) {
  int64_t st[GC_MAX_RANK] = {0}, sp[GC_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};
  Shape s = x->shape;
  st[d] = from, sp[d] = replicate ? 1 : step, s.d[d] = replicate ? 1 : count;
  Node *y = g_slice(g, x, st, sp, s);
  if (!replicate) return y;
  s.d[d] = count;
  return g_expand(g, y, s);
}

Node *bi_pad_mode(const BuildCtx *B, Expr *pads, Node *x, const int64_t *v, int np, bool replicate) {
  Graph *g = B->g;
  for (int i = 0; i < np / 2; i++) {
    int d = x->shape.rank - 1 - i;
    int64_t size = x->shape.d[d], lo = v[2 * i], hi = v[2 * i + 1];
    for (int k = 0; k < 2; k++) {
      int64_t q = v[2 * i + k];
      if (q < 0)
        diag_error(B->d, pads->args[2 * i + k]->loc, "pad: %s padding needs pads >= 0, got %lld",
                   replicate ? "replicate" : "reflect", (long long)q);
      if (!replicate && q >= size)
        diag_error(B->d, pads->args[2 * i + k]->loc,
                   "pad: reflect padding must be smaller than the size of the axis (as PyTorch): %lld for axis %d of %s",
                   (long long)q, d, shape_str(g->arena, x->shape));
    }
    Node *parts[3];
    int k = 0;
    if (lo) parts[k++] = edge(g, x, d, replicate ? 0 : lo, -1, lo, replicate);
    parts[k++] = x;
    if (hi) parts[k++] = edge(g, x, d, replicate ? size - 1 : size - 2, -1, hi, replicate);
    if (k > 1) x = bi_join(g, parts, k, d);
  }
  return x;
}
