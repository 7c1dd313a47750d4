/* engine.c — the tape itself: tensor allocation, records, the backward walk, cleanup.
 *
 * This is the part of torch's autograd engine the baseline needs: ops register their
 * results here (so a run and its error unwinding free everything in one place), append
 * a Record when an operand requires a gradient, and backward visits the records in
 * reverse execution order (a valid topological order of an eager graph), calling each
 * op's backward kernel once its output has received a gradient, then freeing that
 * gradient as torch frees the grads of non-leaf tensors. Leaf gradients (parameters)
 * are the model's persistent buffers, so repeated backward passes accumulate.
 * No operator kernels live here (ops_*.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tape_internal.h"

void tp_fail(Tape *T, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  diag_error(T->diag, T->loc, "%s", buf);
}

void *tp_malloc(Tape *T, size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) tp_fail(T, "out of memory (%zu bytes)", bytes);
  return p;
}

void *tp_calloc(Tape *T, size_t bytes) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p) tp_fail(T, "out of memory (%zu bytes)", bytes);
  return p;
}

size_t tp_count(int rank, const int64_t *shape) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
  return n;
}

const char *tp_shape_str(const Tensor *x, char *buf, size_t len) {
  size_t o = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < x->rank && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)x->shape[i]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}

/* Registers t so that tp_reset frees it; frees it and fails if the list cannot grow. */
static Tensor *track(Tape *T, Tensor *t) {
  if (T->ntensors == T->captensors) {
    size_t cap = T->captensors ? 2 * T->captensors : 256;
    Tensor **p = realloc(T->tensors, cap * sizeof *p);
    if (!p) {
      if (t->owns_data) free(t->data), free(t->idata);
      free(t);
      tp_fail(T, "out of memory");
    }
    T->tensors = p;
    T->captensors = cap;
  }
  return T->tensors[T->ntensors++] = t;
}

/* A tensor of that shape that owns its (not yet allocated) data. */
static Tensor *tensor_header(Tape *T, int rank, const int64_t *shape) {
  if (rank > TP_MAX_RANK) tp_fail(T, "rank %d exceeds the maximum of %d", rank, TP_MAX_RANK);
  Tensor *t = calloc(1, sizeof *t);
  if (!t) tp_fail(T, "out of memory");
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
  t->n = tp_count(rank, shape);
  t->owns_data = true;
  return t;
}

static Tensor *new_tensor(Tape *T, int rank, const int64_t *shape, bool zero) {
  Tensor *t = tensor_header(T, rank, shape);
  t->data = zero ? calloc(t->n, sizeof(float)) : malloc(t->n * sizeof(float));
  if (!t->data) {
    size_t n = t->n;
    free(t);
    tp_fail(T, "out of memory (a tensor of %zu elements)", n);
  }
  return track(T, t);
}

Tensor *tp_empty(Tape *T, int rank, const int64_t *shape) { return new_tensor(T, rank, shape, false); }
Tensor *tp_zeros(Tape *T, int rank, const int64_t *shape) { return new_tensor(T, rank, shape, true); }

Tensor *tp_empty_i32(Tape *T, int rank, const int64_t *shape) {
  Tensor *t = tensor_header(T, rank, shape);
  t->idata = malloc(t->n ? t->n * sizeof(int32_t) : 1);
  if (!t->idata) {
    free(t);
    tp_fail(T, "out of memory");
  }
  return track(T, t);
}

void *tp_scratch(Tape *T, size_t bytes) {
  int64_t n = (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
  return new_tensor(T, 1, &n, false)->data; /* malloc'd: aligned for any type */
}

Tensor *tp_scalar(Tape *T, double v) {
  Tensor *t = new_tensor(T, 0, NULL, false);
  t->data[0] = (float)v;
  return t;
}

Tensor *tp_view(Tape *T, Tensor *x, int rank, const int64_t *shape) {
  if (rank > TP_MAX_RANK) tp_fail(T, "rank %d exceeds the maximum of %d", rank, TP_MAX_RANK);
  Tensor *t = calloc(1, sizeof *t);
  if (!t) tp_fail(T, "out of memory");
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
  t->n = x->n;
  t->data = x->data;
  t->idata = x->idata;
  return track(T, t);
}

Record *tp_record(Tape *T, const char *name, BackwardFn *bw, Tensor *out, int nin, Tensor *const *in) {
  bool any = false;
  for (int i = 0; i < nin; i++) any |= in[i] && in[i]->requires_grad;
  if (!any) return NULL;
  if (T->nrecs == T->caprecs) {
    size_t cap = T->caprecs ? 2 * T->caprecs : 256;
    Record **p = realloc(T->recs, cap * sizeof *p);
    if (!p) tp_fail(T, "out of memory");
    T->recs = p;
    T->caprecs = cap;
  }
  Record *r = calloc(1, sizeof *r);
  if (!r) tp_fail(T, "out of memory");
  r->name = name;
  r->backward = bw;
  r->nin = nin;
  for (int i = 0; i < nin; i++) r->in[i] = in[i];
  r->out = out;
  out->requires_grad = true;
  out->grad_fn = r;
  T->recs[T->nrecs++] = r;
  return r;
}

float *tp_grad(Tape *T, Tensor *x) {
  if (!x || !x->requires_grad) return NULL;
  if (!x->grad) x->grad = tp_calloc(T, x->n * sizeof(float));
  return x->grad;
}

void tp_run_backward(Tape *T, Tensor *loss) {
  if (!loss->requires_grad) return; /* nothing trainable reaches the loss */
  float *g = tp_grad(T, loss);
  for (size_t i = 0; i < loss->n; i++) g[i] += 1.0f;
  for (size_t i = T->nrecs; i-- > 0;) {
    Record *r = T->recs[i];
    if (!r->out->grad) continue; /* not on a path to the loss */
    r->backward(T, r);
    if (!r->out->leaf) {
      free(r->out->grad);
      r->out->grad = NULL;
    }
  }
}

void tp_reset(Tape *T) {
  for (size_t i = 0; i < T->nrecs; i++) {
    free(T->recs[i]->saved);
    free(T->recs[i]);
  }
  T->nrecs = 0;
  for (size_t i = 0; i < T->ntensors; i++) {
    Tensor *t = T->tensors[i];
    if (t->owns_data) free(t->data), free(t->idata);
    free(t->grad);
    free(t);
  }
  T->ntensors = 0;
}
