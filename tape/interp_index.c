/* interp_index.c — the tape's indexing and assembling operators (issue 15): their
 * arguments read by the compiler's shared rules (signature.h), their meaning computed
 * here from PyTorch's definitions, independently of compiler/builtins_index.c: each is
 * one axis map per axis (ops_index.c: result index -> operand index, -1 for a fill),
 * concat a chain of two-tensor joins, squeeze/unsqueeze/stack views. */
#include <string.h>
#include "model.h"
#include "signature.h"

static bool number_of(void *m, const Expr *e, double *out) { return tm_number(m, e, out); }
#define reader(m) ((ArgReader){&(m)->diag, number_of, (m)})

static Tensor *operand(tape_model *m, Expr *call, Expr *e) {
  SrcLoc loc = m->T.loc;
  Tensor *t = tm_eval(m, e);
  m->T.loc = loc;
  if (!t->data) diag_error(&m->diag, e->loc, "'%s' needs f32 tensors, got an i32 tensor", call->name);
  return t;
}

static Expr zero_at(SrcLoc loc) { return (Expr){.kind = EX_NUM, .num = 0, .is_int = 1, .loc = loc}; }

/* x as a view with one more axis of size 1 at `axis`. */
static Tensor *unsqueezed(tape_model *m, Tensor *x, int axis) {
  int64_t s[TP_MAX_RANK];
  if (x->rank + 1 > TP_MAX_RANK) tp_fail(&m->T, "the result would have rank %d (at most %d)", x->rank + 1, TP_MAX_RANK);
  for (int d = 0, j = 0; d <= x->rank; d++) s[d] = d == axis ? 1 : x->shape[j++];
  return op_reshape(&m->T, x, x->rank + 1, s);
}

/* concat / cat / stack: a chain of op_concat2 (stack: each operand unsqueezed first). */
static Tensor *join(tape_model *m, Expr *call, Expr **p, bool stack) {
  const Expr *l = arg_tensor_list(&reader(m), call, p[0]);
  Expr zero = zero_at(call->loc);
  Tensor *out = NULL, *first = NULL;
  int axis = 0;
  for (int i = 0; i < l->nargs; i++) {
    Tensor *x = operand(m, call, l->args[i]);
    if (!first) {
      first = x;
      if (!stack && x->rank == 0) diag_error(&m->diag, l->args[0]->loc, "'%s' cannot join 0-d tensors (use stack)", call->name);
      axis = stack ? arg_new_axis(&reader(m), p[1] ? p[1] : &zero, x->rank)
                   : arg_axis(&reader(m), p[1] ? p[1] : &zero, x->rank);
    }
    char a[128], b[128];
    bool same = x->rank == first->rank;
    for (int d = 0; same && d < x->rank; d++) same = x->shape[d] == first->shape[d] || (!stack && d == axis);
    if (!same)
      diag_error(&m->diag, l->args[i]->loc, "'%s': tensor %d has shape %s, which does not match the first's %s", call->name,
                 i + 1, tp_shape_str(x, a, sizeof a), tp_shape_str(first, b, sizeof b));
    if (stack) x = unsqueezed(m, x, axis);
    out = out ? op_concat2(&m->T, out, x, axis) : x;
  }
  return out;
}

/* Identity maps for every axis of shape (scratch of this run). */
static void identity_maps(tape_model *m, int rank, const int64_t *shape, int64_t **maps) {
  for (int d = 0; d < rank; d++) {
    maps[d] = tp_scratch(&m->T, sizeof(int64_t) * (size_t)shape[d]);
    for (int64_t j = 0; j < shape[d]; j++) maps[d][j] = j;
  }
}

static Tensor *narrow(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = operand(m, call, p[0]);
  int axis = arg_axis(&reader(m), p[1], x->rank);
  int64_t size = x->shape[axis], start = arg_int(&reader(m), p[2], "start"), len = arg_int(&reader(m), p[3], "length");
  if (start < -size || start > size) diag_error(&m->diag, p[2]->loc, "start %lld is out of range for size %lld", (long long)start, (long long)size);
  if (start < 0) start += size;
  if (len < 1 || start + len > size)
    diag_error(&m->diag, p[3]->loc, "length %lld from %lld does not fit in axis %d of size %lld (at least 1 element)",
               (long long)len, (long long)start, axis, (long long)size);
  int64_t shape[TP_MAX_RANK], *maps[TP_MAX_RANK];
  memcpy(shape, x->shape, sizeof shape);
  shape[axis] = len;
  identity_maps(m, x->rank, shape, maps);
  for (int64_t j = 0; j < len; j++) maps[axis][j] = start + j;
  return op_axis_map(&m->T, "narrow", x, x->rank, shape, maps, 0);
}

static Tensor *squeeze(tape_model *m, Expr *call, Expr **p, bool un) {
  (void)call;
  Tensor *x = tm_eval(m, p[0]);
  if (un) return unsqueezed(m, x, arg_new_axis(&reader(m), p[1], x->rank));
  unsigned drop = p[1] ? 1u << arg_axis(&reader(m), p[1], x->rank) : ~0u;
  int64_t s[TP_MAX_RANK];
  int r = 0;
  for (int d = 0; d < x->rank; d++)
    if (!(drop >> d & 1) || x->shape[d] != 1) s[r++] = x->shape[d];
  return op_reshape(&m->T, x, r, s);
}

/* x viewed with leading unit axes up to rank r. */
static Tensor *lifted(tape_model *m, Tensor *x, int r) {
  int64_t s[TP_MAX_RANK];
  for (int d = 0; d < r; d++) s[d] = d < r - x->rank ? 1 : x->shape[d - (r - x->rank)];
  return op_reshape(&m->T, x, r, s);
}

/* expand: axis d reads index 0 of a size-1 axis, else j. repeat: j mod the size. */
static Tensor *tile(tape_model *m, Expr *call, Expr **p, bool repeat) {
  Tensor *x = operand(m, call, p[0]);
  int64_t v[TP_MAX_RANK], shape[TP_MAX_RANK], *maps[TP_MAX_RANK];
  int r = arg_ints(&reader(m), p[1], TP_MAX_RANK, v, repeat ? "repeat's reps" : "expand's shape");
  char b[128];
  if (r < x->rank)
    diag_error(&m->diag, p[1]->loc, "%s: %d sizes for the %d axes of %s", call->name, r, x->rank, tp_shape_str(x, b, sizeof b));
  Tensor *y = lifted(m, x, r);
  for (int d = 0; d < r; d++) {
    int64_t have = y->shape[d];
    shape[d] = repeat ? v[d] * have : (v[d] == -1 && d >= r - x->rank ? have : v[d]);
    if (repeat ? v[d] < 1 : (shape[d] < 1 || (have != 1 && have != shape[d])))
      diag_error(&m->diag, p[1]->args[d]->loc, "%s: size %lld does not fit axis %d of %s", call->name, (long long)v[d], d,
                 tp_shape_str(x, b, sizeof b));
    maps[d] = tp_scratch(&m->T, sizeof(int64_t) * (size_t)shape[d]);
    for (int64_t j = 0; j < shape[d]; j++) maps[d][j] = repeat ? j % have : (have == 1 ? 0 : j);
  }
  return op_axis_map(&m->T, call->name, y, r, shape, maps, 0);
}

/* ---- indexing II (issue 15) ----
 * pad's reflect and replicate modes: position j of a padded axis reads s = j - left,
 * reflected about the ends (-s, then 2 (size - 1) - s) or clamped into [0, size). */
static Tensor *pad_mode(tape_model *m, Expr *pads, Tensor *x, const int64_t *v, int np, bool replicate) {
  int64_t shape[TP_MAX_RANK], *maps[TP_MAX_RANK];
  char b[128];
  memcpy(shape, x->shape, sizeof shape);
  for (int i = 0; i < np; i++) {
    int64_t size = x->shape[x->rank - 1 - i / 2];
    if (v[i] < 0 || (!replicate && v[i] >= size))
      diag_error(&m->diag, pads->args[i]->loc, "pad: %s padding %lld does not fit axis %d of %s",
                 replicate ? "replicate" : "reflect", (long long)v[i], x->rank - 1 - i / 2, tp_shape_str(x, b, sizeof b));
    shape[x->rank - 1 - i / 2] += v[i];
  }
  identity_maps(m, x->rank, shape, maps);
  for (int i = 0; i < np / 2; i++) {
    int d = x->rank - 1 - i;
    int64_t size = x->shape[d];
    for (int64_t j = 0; j < shape[d]; j++) {
      int64_t s = j - v[2 * i];
      if (replicate) s = s < 0 ? 0 : s >= size ? size - 1 : s;
      else {
        if (s < 0) s = -s;
        if (s >= size) s = 2 * (size - 1) - s;
      }
      maps[d][j] = s;
    }
  }
  return op_axis_map(&m->T, "pad", x, x->rank, shape, maps, 0);
}

/* An i32 operand (ids, index). */
static Tensor *ids_operand(tape_model *m, Expr *call, Expr *e, const char *what) {
  SrcLoc loc = m->T.loc;
  Tensor *t = tm_eval(m, e);
  m->T.loc = loc;
  char b[128];
  if (!t->idata) diag_error(&m->diag, e->loc, "'%s' needs i32 %s, got f32 %s", call->name, what, tp_shape_str(t, b, sizeof b));
  return t;
}

/* embedding(ids, table): row ids[i] of the table, zeros for an id outside [0, V). */
static Tensor *embedding(tape_model *m, Expr *call, Expr **p) {
  Tensor *ids = ids_operand(m, call, p[0], "ids"), *t = tm_eval(m, p[1]);
  char b[128];
  if (!t->data || t->rank != 2)
    diag_error(&m->diag, p[1]->loc, "embedding needs an f32 table [V, D], got %s", tp_shape_str(t, b, sizeof b));
  if (ids->rank + 1 > TP_MAX_RANK) tp_fail(&m->T, "the result would have rank %d (at most %d)", ids->rank + 1, TP_MAX_RANK);
  int64_t n = (int64_t)ids->n, ishape[2] = {n, 1}, oshape[2] = {n, t->shape[1]}, shape[TP_MAX_RANK];
  Tensor *y = op_gather(&m->T, "embedding", t, op_reshape(&m->T, ids, 2, ishape), 0, 2, oshape);
  memcpy(shape, ids->shape, sizeof shape);
  shape[ids->rank] = t->shape[1];
  return op_reshape(&m->T, y, ids->rank + 1, shape);
}

static Tensor *gather(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = operand(m, call, p[0]), *ix = ids_operand(m, call, p[2], "indices");
  int axis = arg_axis(&reader(m), p[1], x->rank);
  char a[128], b[128];
  bool ok = ix->rank == x->rank;
  for (int d = 0; ok && d < x->rank; d++) ok = d == axis || ix->shape[d] <= x->shape[d];
  if (!ok)
    diag_error(&m->diag, p[2]->loc, "gather: the index %s does not fit x %s (same rank, no larger outside the axis)",
               tp_shape_str(ix, a, sizeof a), tp_shape_str(x, b, sizeof b));
  return op_gather(&m->T, "gather", x, ix, axis, x->rank, ix->shape);
}

/* one_hot(ids, num_classes): 1 at each id (none outside [0, C)); no gradient. */
static Tensor *one_hot(tape_model *m, Expr *call, Expr **p) {
  Tensor *ids = ids_operand(m, call, p[0], "ids");
  double c;
  if (!tm_number(m, p[1], &c) || c != (int64_t)c || c < 1 || c > 2147483647.0)
    diag_error(&m->diag, p[1]->loc, "one_hot: num_classes must be an integer >= 1");
  if (ids->rank + 1 > TP_MAX_RANK) tp_fail(&m->T, "the result would have rank %d (at most %d)", ids->rank + 1, TP_MAX_RANK);
  int64_t shape[TP_MAX_RANK], C = (int64_t)c;
  memcpy(shape, ids->shape, sizeof shape);
  shape[ids->rank] = C;
  Tensor *y = tp_zeros(&m->T, ids->rank + 1, shape);
  for (size_t i = 0; i < ids->n; i++)
    if (ids->idata[i] >= 0 && ids->idata[i] < C) y->data[i * (size_t)C + (size_t)ids->idata[i]] = 1;
  return y;
}

/* An i32 tensor (indices) through axis maps with no fill: a copy, no gradient. */
static Tensor *i32_axis_map(tape_model *m, Tensor *x, const int64_t *shape, int64_t *const *maps) {
  Tensor *y = tp_empty_i32(&m->T, x->rank, shape);
  int64_t xs[TP_MAX_RANK], s = 1, idx[TP_MAX_RANK] = {0};
  for (int d = x->rank - 1; d >= 0; d--) xs[d] = s, s *= x->shape[d];
  for (size_t o = 0; o < y->n; o++) {
    int64_t off = 0;
    for (int d = 0; d < x->rank; d++) off += maps[d][idx[d]] * xs[d];
    y->idata[o] = x->idata[off];
    for (int d = x->rank - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
  }
  return y;
}

/* split / chunk: this statement's piece (call->part of call->nparts names). */
static Tensor *piece(tape_model *m, Expr *call, Expr **p, bool chunk) {
  SrcLoc loc = m->T.loc;
  Tensor *x = tm_eval(m, p[0]); /* f32, or i32 indices */
  m->T.loc = loc;
  if (x->rank == 0) diag_error(&m->diag, p[0]->loc, "'%s' cannot split a 0-d tensor", call->name);
  Expr zero = zero_at(call->loc);
  int axis = arg_axis(&reader(m), p[2] ? p[2] : &zero, x->rank);
  int64_t start, len, names = call->nparts ? call->nparts : 1;
  int64_t n = arg_split_piece(&reader(m), call, p[1], x->shape[axis], chunk, call->part, &start, &len);
  if (n != names)
    diag_error(&m->diag, call->loc, "%s gives %lld tensors, %lld name%s", call->name, (long long)n, (long long)names,
               names == 1 ? "" : "s");
  int64_t shape[TP_MAX_RANK], *maps[TP_MAX_RANK];
  memcpy(shape, x->shape, sizeof shape);
  shape[axis] = len;
  identity_maps(m, x->rank, shape, maps);
  for (int64_t j = 0; j < len; j++) maps[axis][j] = start + j;
  return x->data ? op_axis_map(&m->T, call->name, x, x->rank, shape, maps, 0) : i32_axis_map(m, x, shape, maps);
}

Tensor *tm_index(tape_model *m, Expr *e) {
  SrcLoc loc = m->T.loc;
  Tensor *x = tm_eval(m, e->lhs);
  m->T.loc = e->loc;
  (void)loc;
  if (x->rank == 0) diag_error(&m->diag, e->loc, "a 0-d tensor cannot be indexed");
  IndexPlan ip;
  arg_index(&reader(m), e, x->rank, x->shape, &ip);
  int64_t shape[TP_MAX_RANK], kept[TP_MAX_RANK], *maps[TP_MAX_RANK];
  int r = 0;
  for (int d = 0; d < x->rank; d++) {
    shape[d] = ip.len[d];
    if (!(ip.drop >> d & 1)) kept[r++] = ip.len[d];
    maps[d] = tp_scratch(&m->T, sizeof(int64_t) * (size_t)shape[d]);
    for (int64_t j = 0; j < shape[d]; j++) maps[d][j] = ip.start[d] + j * ip.step[d];
  }
  Tensor *y = x->data ? op_axis_map(&m->T, "index", x, x->rank, shape, maps, 0) : i32_axis_map(m, x, shape, maps);
  return op_reshape(&m->T, y, r, kept);
}

/* pad (constant): F.pad; axis d (pairs from the last) reads j - left, in range. */
static Tensor *pad(tape_model *m, Expr *call, Expr **p) {
  Tensor *x = operand(m, call, p[0]);
  int64_t v[2 * TP_MAX_RANK], shape[TP_MAX_RANK], *maps[TP_MAX_RANK];
  int np = arg_ints(&reader(m), p[1], 2 * TP_MAX_RANK, v, "pad's pads");
  char b[128];
  if (np % 2 || np > 2 * x->rank)
    diag_error(&m->diag, p[1]->loc, "pad: pads must be pairs (left, right) for at most the %d axes of %s, got %d values",
               x->rank, tp_shape_str(x, b, sizeof b), np);
  /* ---- indexing II (issue 15): mode= (also third, torch's order) ---- */
  static const char *const modes[] = {"constant", "reflect", "replicate", NULL};
  Expr *mode_e = p[3] ? p[3] : p[2] && p[2]->kind == EX_STR ? p[2] : NULL;
  int mode = arg_choice(&reader(m), mode_e, "mode", modes, 0);
  if (mode) {
    if (p[2] && p[2] != mode_e) diag_error(&m->diag, p[2]->loc, "pad: value= is only for mode=\"constant\"");
    return pad_mode(m, p[1], x, v, np, mode == 2);
  }
  double value = arg_num(&reader(m), p[2] == mode_e ? NULL : p[2], 0);
  memcpy(shape, x->shape, sizeof shape);
  for (int i = 0; i < np / 2; i++) {
    int d = x->rank - 1 - i;
    shape[d] += v[2 * i] + v[2 * i + 1];
    if (shape[d] < 1 || x->shape[d] + (v[2 * i] < 0 ? v[2 * i] : 0) + (v[2 * i + 1] < 0 ? v[2 * i + 1] : 0) < 1)
      diag_error(&m->diag, p[1]->args[2 * i]->loc, "pad: pads %lld, %lld leave nothing of axis %d of %s",
                 (long long)v[2 * i], (long long)v[2 * i + 1], d, tp_shape_str(x, b, sizeof b));
  }
  identity_maps(m, x->rank, shape, maps);
  for (int i = 0; i < np / 2; i++) {
    int d = x->rank - 1 - i;
    for (int64_t j = 0; j < shape[d]; j++) {
      int64_t s = j - v[2 * i];
      maps[d][j] = s >= 0 && s < x->shape[d] ? s : -1;
    }
  }
  return op_axis_map(&m->T, "pad", x, x->rank, shape, maps, value);
}

Tensor *tm_index_call(tape_model *m, CallId fn, Expr *call, Expr **p) {
  switch (fn) {
  case CALL_CONCAT:
  case CALL_CAT: return join(m, call, p, false);
  case CALL_STACK: return join(m, call, p, true);
  case CALL_NARROW: return narrow(m, call, p);
  case CALL_SQUEEZE: return squeeze(m, call, p, false);
  case CALL_UNSQUEEZE: return squeeze(m, call, p, true);
  case CALL_EXPAND: return tile(m, call, p, false);
  case CALL_REPEAT: return tile(m, call, p, true);
  case CALL_PAD: return pad(m, call, p);
  /* ---- indexing II (issue 15) ---- */
  case CALL_EMBEDDING: return embedding(m, call, p);
  case CALL_GATHER: return gather(m, call, p);
  case CALL_ONE_HOT: return one_hot(m, call, p);
  case CALL_SPLIT: return piece(m, call, p, false);
  case CALL_CHUNK: return piece(m, call, p, true);
  default: break;
  }
  diag_error(&m->diag, call->loc, "'%s' is not an indexing operator", call->name);
}
