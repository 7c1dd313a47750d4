/* builtins_index.c — the indexing and assembling operators of the language, from the
 * SLICE and PAD primitives (ops_index.c), reshape and expand: concat is the sum of its
 * operands each padded with zeros to the result's shape (its gradient: a slice per
 * operand); stack is concat of unsqueezed operands; narrow a slice; squeeze and
 * unsqueeze reshapes; expand and repeat broadcasts (repeat interleaves a unit axis before
 * each repeated one, expands it and folds it back); pad slices away negative pads
 * (torch crops) and pads the rest. Semantics and messages follow PyTorch; the tape
 * (tape/interp_index.c) checks the same arguments with the same rules (signature.c). */
#include "builtins_index.h"
#include <string.h>

static Node *f32_arg(const BuildCtx *B, Expr *c, Expr *e) {
  Node *x = bi_arg(B, e);
  if (x->dtype != DT_F32)
    diag_error(B->d, e->loc, "'%s' needs f32 tensors, got %s %s", c->name, dtype_name(x->dtype),
               shape_str(B->g->arena, x->shape));
  return x;
}

static Expr zero_expr(SrcLoc loc) { return (Expr){.kind = EX_NUM, .num = 0, .is_int = 1, .loc = loc}; }

/* The tensors of concat/stack's list, evaluated, into xs (room for the list). */
static int tensors(const BuildCtx *B, Expr *c, Expr *e, Node **xs) {
  const Expr *l = arg_tensor_list(&BI_READER(B), c, e);
  for (int i = 0; i < l->nargs; i++) xs[i] = f32_arg(B, c, l->args[i]);
  return l->nargs;
}

/* Concatenation of xs along axis, after checking their shapes agree outside it. */
static Node *concat_nodes(const BuildCtx *B, Expr *c, Expr *list, Node **xs, int k, int axis) {
  Graph *g = B->g;
  Shape out = xs[0]->shape;
  for (int i = 1; i < k; i++) {
    Shape s = xs[i]->shape;
    bool fits = s.rank == out.rank;
    for (int d = 0; fits && d < s.rank; d++) fits = d == axis || s.d[d] == out.d[d];
    if (!fits)
      diag_error(B->d, list->args[i]->loc,
                 "'%s': tensor %d has shape %s, which does not match the first's %s outside axis %d", c->name, i + 1,
                 shape_str(g->arena, s), shape_str(g->arena, xs[0]->shape), axis);
  }
  return bi_join(g, xs, k, axis);
}

Node *bi_join(Graph *g, Node **xs, int k, int axis) {
  Shape out = xs[0]->shape;
  for (int i = 1; i < k; i++) out.d[axis] += xs[i]->shape.d[axis];
  int64_t start[GC_MAX_RANK] = {0}, step[GC_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};
  Node *sum = NULL;
  for (int i = 0; i < k; i++) {
    Node *p = g_pad(g, xs[i], start, step, out, 0);
    sum = sum ? g_binary(g, OP_ADD, sum, p) : p;
    start[axis] += xs[i]->shape.d[axis];
  }
  return sum;
}

/* concat(tensors, axis=0): torch.cat. */
Node *b_concat(const BuildCtx *B, Expr *c, Expr **p) {
  Node **xs = ARENA_ARRAY(B->g->arena, Node *, p[0]->kind == EX_LIST ? p[0]->nargs + 1 : 1);
  int k = tensors(B, c, p[0], xs);
  if (xs[0]->shape.rank == 0) diag_error(B->d, p[0]->args[0]->loc, "'%s' cannot join 0-d tensors (use stack)", c->name);
  Expr zero = zero_expr(c->loc);
  int axis = arg_axis(&BI_READER(B), p[1] ? p[1] : &zero, xs[0]->shape.rank);
  return concat_nodes(B, c, p[0], xs, k, axis);
}

static Shape insert_axis(Shape s, int axis) {
  Shape o = {s.rank + 1, {0}};
  for (int d = 0, j = 0; d < o.rank; d++) o.d[d] = d == axis ? 1 : s.d[j++];
  return o;
}

static void check_rank(const BuildCtx *B, Expr *where, int rank) {
  if (rank > GC_MAX_RANK) diag_error(B->d, where->loc, "the result would have rank %d (at most %d)", rank, GC_MAX_RANK);
}

/* stack(tensors, axis=0): torch.stack, tensors of one shape joined along a new axis. */
Node *b_stack(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node **xs = ARENA_ARRAY(g->arena, Node *, p[0]->kind == EX_LIST ? p[0]->nargs + 1 : 1);
  int k = tensors(B, c, p[0], xs);
  Expr zero = zero_expr(c->loc);
  check_rank(B, c, xs[0]->shape.rank + 1);
  int axis = arg_new_axis(&BI_READER(B), p[1] ? p[1] : &zero, xs[0]->shape.rank);
  Shape first = xs[0]->shape;
  for (int i = 0; i < k; i++) {
    if (!shape_eq(xs[i]->shape, first))
      diag_error(B->d, p[0]->args[i]->loc, "'stack': tensor %d has shape %s, the first %s (stack needs equal shapes)",
                 i + 1, shape_str(g->arena, xs[i]->shape), shape_str(g->arena, first));
    xs[i] = g_reshape(g, xs[i], insert_axis(xs[i]->shape, axis));
  }
  return concat_nodes(B, c, p[0], xs, k, axis);
}

/* narrow(x, axis, start, length): torch.narrow; a negative start counts from the end. */
Node *b_narrow(const BuildCtx *B, Expr *c, Expr **p) {
  (void)c;
  Graph *g = B->g;
  Node *x = f32_arg(B, c, p[0]);
  int axis = arg_axis(&BI_READER(B), p[1], x->shape.rank);
  int64_t size = x->shape.d[axis], start = arg_int(&BI_READER(B), p[2], "start");
  int64_t len = arg_int(&BI_READER(B), p[3], "length");
  if (start < -size || start > size) diag_error(B->d, p[2]->loc, "start %lld is out of range for size %lld", (long long)start, (long long)size);
  if (start < 0) start += size;
  if (len < 1 || start + len > size)
    diag_error(B->d, p[3]->loc, "length %lld from %lld does not fit in axis %d of size %lld (at least 1 element)",
               (long long)len, (long long)start, axis, (long long)size);
  int64_t st[GC_MAX_RANK] = {0}, step[GC_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};
  Shape s = x->shape;
  st[axis] = start, s.d[axis] = len;
  return g_slice(g, x, st, step, s);
}

/* squeeze(x, axis?): torch.squeeze; an axis whose size is not 1 is left, as torch does. */
Node *b_squeeze(const BuildCtx *B, Expr *c, Expr **p) {
  Node *x = bi_arg(B, p[0]);
  (void)c;
  unsigned drop = 0;
  if (p[1]) drop = 1u << arg_axis(&BI_READER(B), p[1], x->shape.rank);
  else drop = (1u << x->shape.rank) - 1;
  Shape o = {0, {0}};
  for (int d = 0; d < x->shape.rank; d++)
    if (!(drop >> d & 1) || x->shape.d[d] != 1) o.d[o.rank++] = x->shape.d[d];
  return g_reshape(B->g, x, o);
}

/* unsqueeze(x, axis): torch.unsqueeze. */
Node *b_unsqueeze(const BuildCtx *B, Expr *c, Expr **p) {
  Node *x = bi_arg(B, p[0]);
  check_rank(B, c, x->shape.rank + 1);
  return g_reshape(B->g, x, insert_axis(x->shape, arg_new_axis(&BI_READER(B), p[1], x->shape.rank)));
}

/* x with leading unit axes up to rank r. */
static Node *lift(Graph *g, Node *x, int r) {
  Shape s = {r, {0}};
  for (int d = 0; d < r; d++) s.d[d] = d < r - x->shape.rank ? 1 : x->shape.d[d - (r - x->shape.rank)];
  return g_reshape(g, x, s);
}

/* expand(x, shape): torch.Tensor.expand; -1 keeps a size, new axes lead. */
Node *b_expand(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = f32_arg(B, c, p[0]);
  int64_t v[GC_MAX_RANK];
  int r = arg_ints(&BI_READER(B), p[1], GC_MAX_RANK, v, "expand's shape"), lead = r - x->shape.rank;
  if (lead < 0)
    diag_error(B->d, p[1]->loc, "expand: the shape has %d sizes, fewer than the rank %d of %s", r, x->shape.rank,
               shape_str(g->arena, x->shape));
  Shape s = {r, {0}};
  for (int d = 0; d < r; d++) {
    int64_t have = d < lead ? 1 : x->shape.d[d - lead];
    s.d[d] = v[d] == -1 && d >= lead ? have : v[d];
    if (s.d[d] < 1 || (have != 1 && have != s.d[d]))
      diag_error(B->d, p[1]->args[d]->loc, "expand: size %lld for axis %d of %s (it must equal %lld%s)",
                 (long long)v[d], d, shape_str(g->arena, x->shape), (long long)have,
                 have == 1 ? ", or be any positive size" : ", or be -1");
  }
  return g_expand(g, lift(g, x, r), s);
}

/* repeat(x, reps): torch.Tensor.repeat, x tiled reps[d] times along each axis (new axes
 * lead): a unit axis before each repeated one is expanded to reps[d] and folded in. */
Node *b_repeat(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = f32_arg(B, c, p[0]);
  int64_t v[GC_MAX_RANK];
  int r = arg_ints(&BI_READER(B), p[1], GC_MAX_RANK, v, "repeat's reps");
  if (r < x->shape.rank)
    diag_error(B->d, p[1]->loc, "repeat: %d repeats for the %d axes of %s (one per axis at least)", r, x->shape.rank,
               shape_str(g->arena, x->shape));
  Node *y = lift(g, x, r);
  Shape wide = {0, {0}}, big = {0, {0}}, out = {r, {0}};
  for (int d = 0; d < r; d++) {
    if (v[d] < 1) diag_error(B->d, p[1]->args[d]->loc, "repeat: a count must be at least 1, got %lld", (long long)v[d]);
    check_rank(B, p[1], wide.rank + (v[d] > 1) + 1);
    if (v[d] > 1) wide.d[wide.rank] = 1, big.d[wide.rank++] = v[d], big.rank++;
    wide.d[wide.rank] = big.d[wide.rank] = y->shape.d[d];
    wide.rank++, big.rank++;
    out.d[d] = v[d] * y->shape.d[d];
  }
  return g_reshape(g, g_expand(g, g_reshape(g, y, wide), big), out);
}

/* pad(x, pads, value=0): F.pad in constant mode; pads are (left, right) pairs from the
 * last axis backwards; negative ones crop. */
Node *b_pad(const BuildCtx *B, Expr *c, Expr **p) {
  Graph *g = B->g;
  Node *x = f32_arg(B, c, p[0]);
  int64_t v[2 * GC_MAX_RANK];
  int np = arg_ints(&BI_READER(B), p[1], 2 * GC_MAX_RANK, v, "pad's pads");
  if (np % 2 || np > 2 * x->shape.rank)
    diag_error(B->d, p[1]->loc, "pad: pads must be pairs (left, right) for at most the %d axes of %s, got %d values",
               x->shape.rank, shape_str(g->arena, x->shape), np);
  /* ---- indexing II (issue 15): mode=, also as the third argument (torch's order) ---- */
  static const char *const modes[] = {"constant", "reflect", "replicate", NULL};
  Expr *mode_e = p[3] ? p[3] : p[2] && p[2]->kind == EX_STR ? p[2] : NULL;
  int mode = arg_choice(&BI_READER(B), mode_e, "mode", modes, 0);
  if (mode) {
    if (p[2] && p[2] != mode_e)
      diag_error(B->d, p[2]->loc, "pad: value= is only for mode=\"constant\" (PyTorch refuses it too)");
    return bi_pad_mode(B, p[1], x, v, np, mode == 2);
  }
  double value = arg_num(&BI_READER(B), p[2] == mode_e ? NULL : p[2], 0);
  int64_t cs[GC_MAX_RANK] = {0}, ps[GC_MAX_RANK] = {0}, step[GC_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};
  Shape cut = x->shape, out;
  for (int i = 0; i < np / 2; i++) {
    int d = x->shape.rank - 1 - i;
    int64_t lo = v[2 * i], hi = v[2 * i + 1];
    cs[d] = lo < 0 ? -lo : 0;
    cut.d[d] -= cs[d] + (hi < 0 ? -hi : 0);
    ps[d] = lo > 0 ? lo : 0;
    if (cut.d[d] < 1)
      diag_error(B->d, p[1]->args[2 * i]->loc, "pad: pads %lld, %lld leave nothing of axis %d of %s", (long long)lo,
                 (long long)hi, d, shape_str(g->arena, x->shape));
  }
  out = cut;
  for (int i = 0; i < np / 2; i++) {
    int d = x->shape.rank - 1 - i;
    out.d[d] += ps[d] + (v[2 * i + 1] > 0 ? v[2 * i + 1] : 0);
  }
  return g_pad(g, g_slice(g, x, cs, step, cut), ps, step, out, value);
}
