/* signature_index.c — the constant arguments of the indexing II operators (issue 15),
 * read by the compiler's builders (builtins_index2.c) and the tape (tape/interp_index.c)
 * with the same rules and messages: an index x[a:b, ::2, i, ...] as a plan of one slice
 * per axis (Python's rules: negative bounds from the end, out-of-range bounds clamped,
 * steps > 0 as PyTorch), and the pieces of split and chunk. */
#include <math.h>
#include <string.h>
#include "signature.h"

/* A bound of a slice (absent: def), Python's clamping: negative from the end, then into
 * [0, size]. */
static int64_t bound(const ArgReader *r, const Expr *e, int64_t size, int64_t def) {
  if (!e) return def;
  int64_t v = arg_int(r, e, "a slice bound");
  if (v < 0) v += size;
  return v < 0 ? 0 : v > size ? size : v;
}

static void one_item(const ArgReader *r, const Expr *it, int d, int64_t size, IndexPlan *out) {
  out->start[d] = 0, out->step[d] = 1, out->len[d] = size;
  if (it->kind != EX_SLICE) { /* an integer: one element, the axis dropped */
    int64_t v = arg_int(r, it, "an index");
    if (v < -size || v >= size)
      diag_error(r->d, it->loc, "index %lld is out of range for axis %d of size %lld", (long long)v, d, (long long)size);
    out->start[d] = v < 0 ? v + size : v, out->len[d] = 1, out->drop |= 1u << d;
    return;
  }
  int64_t step = it->step ? arg_int(r, it->step, "a slice step") : 1;
  if (step == 0) diag_error(r->d, it->step->loc, "slice step cannot be zero");
  if (step < 0)
    diag_error(r->d, it->step->loc, "a slice step must be positive, got %lld (as PyTorch; flip is not supported)",
               (long long)step);
  int64_t a = bound(r, it->lhs, size, 0), b = bound(r, it->rhs, size, size);
  out->start[d] = a, out->step[d] = step, out->len[d] = b > a ? (b - a + step - 1) / step : 0;
}

void arg_index(const ArgReader *r, const Expr *ix, int rank, const int64_t *shape, IndexPlan *out) {
  memset(out, 0, sizeof *out);
  int nell = 0, nitems = 0;
  for (int i = 0; i < ix->nargs; i++) {
    if (ix->args[i]->kind == EX_ELLIPSIS) {
      if (nell++) diag_error(r->d, ix->args[i]->loc, "an index can only have a single ellipsis ('...')");
    } else nitems++;
  }
  if (nitems > rank)
    diag_error(r->d, ix->loc, "too many indices for a tensor of rank %d: %d given", rank, nitems);
  int d = 0;
  for (int i = 0; i < ix->nargs; i++) {
    const Expr *it = ix->args[i];
    if (it->kind == EX_ELLIPSIS) {
      for (int k = 0; k < rank - nitems; k++, d++) out->start[d] = 0, out->step[d] = 1, out->len[d] = shape[d];
      continue;
    }
    one_item(r, it, d, shape[d], out);
    d++;
  }
  for (; d < rank; d++) out->start[d] = 0, out->step[d] = 1, out->len[d] = shape[d];
  for (d = 0; d < rank; d++)
    if (out->len[d] == 0)
      diag_error(r->d, ix->loc, "the slice of axis %d (size %lld) is empty: gradc has no empty tensors", d,
                 (long long)shape[d]);
}

int64_t arg_split_piece(const ArgReader *r, const Expr *call, const Expr *e, int64_t size, bool chunk, int part,
                        int64_t *start, int64_t *len) {
  int64_t n = 0, at = 0;
  *start = 0, *len = 0;
  if (!chunk && e->kind == EX_LIST) { /* torch.split(x, [sizes]): they must sum to the size */
    for (int i = 0; i < e->nargs; i++) {
      int64_t v = arg_int(r, e->args[i], "a split size");
      if (v < 1) diag_error(r->d, e->args[i]->loc, "a split size must be at least 1, got %lld", (long long)v);
      if (i == part) *start = at, *len = v;
      at += v, n++;
    }
    if (at != size)
      diag_error(r->d, e->loc, "split sizes sum to %lld, but the axis has size %lld (as torch.split, they must be equal)",
                 (long long)at, (long long)size);
    return n;
  }
  int64_t v = arg_int(r, e, chunk ? "chunks" : "split_size");
  if (v < 1) diag_error(r->d, e->loc, "'%s': %s must be at least 1, got %lld", call->name, chunk ? "chunks" : "split_size", (long long)v);
  int64_t each = chunk ? (size + v - 1) / v : v; /* torch.chunk: pieces of ceil(size / chunks) */
  n = (size + each - 1) / each;
  *start = part * each, *len = *start + each > size ? size - *start : each;
  return n;
}
