/* ops_attr.c — the attribute kinds of the operator table (AttrKind, graph.h): for each,
 * how `--emit ir` prints it, how CSE compares and hashes it, and which values are sane
 * (the IR verifier). An op names its kind in its row (OpInfo.attr); a new kind gets a
 * row here, and test_optable fails until every field of it changes the printout. */
#include <math.h>
#include <string.h>
#include "opinfo.h"

#define FNV 1099511628211ull

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * FNV; }

/* Doubles compare and hash by their bits: 0 and -0 are different constants. */
static uint64_t bits(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/* ---------------------------------------------------------------- CONST */

static void pr_const(FILE *f, const Node *n) { fprintf(f, " %.9g", node_const(n)->value); }
static bool same_const(const Node *a, const Node *b) {
  return bits(node_const(a)->value) == bits(node_const(b)->value);
}
static uint64_t hash_const(const Node *n, uint64_t h) { return mix(h, bits(node_const(n)->value)); }

/* ---------------------------------------------------------------- POW */

static void pr_pow(FILE *f, const Node *n) { fprintf(f, " ^%g", node_pow(n)->exponent); }
static bool same_pow(const Node *a, const Node *b) {
  return bits(node_pow(a)->exponent) == bits(node_pow(b)->exponent);
}
static uint64_t hash_pow(const Node *n, uint64_t h) { return mix(h, bits(node_pow(n)->exponent)); }

/* ---------------------------------------------------------------- ONEHOT */

static void pr_onehot(FILE *f, const Node *n) { fprintf(f, " classes=%lld", (long long)node_onehot(n)->classes); }
static bool same_onehot(const Node *a, const Node *b) { return node_onehot(a)->classes == node_onehot(b)->classes; }
static uint64_t hash_onehot(const Node *n, uint64_t h) { return mix(h, (uint64_t)node_onehot(n)->classes); }
static const char *check_onehot(Arena *a, const Node *n) {
  int64_t c = node_onehot(n)->classes;
  return c >= 1 ? NULL : arena_printf(a, "has %lld classes", (long long)c);
}

/* ---------------------------------------------------------------- REDUCE */

static void pr_reduce(FILE *f, const Node *n) {
  fprintf(f, " axes=0x%x%s", node_reduce(n)->axes, node_reduce(n)->first ? " first" : "");
}
static bool same_reduce(const Node *a, const Node *b) {
  return node_reduce(a)->axes == node_reduce(b)->axes && node_reduce(a)->first == node_reduce(b)->first;
}
static uint64_t hash_reduce(const Node *n, uint64_t h) {
  return mix(h, node_reduce(n)->axes * 2u + node_reduce(n)->first);
}
/* Axes of the operand; one axis for ARGMAX_MASK, ARGMAX and a MAX with `first`, which only MAX has. */
static const char *check_reduce(Arena *a, const Node *n) {
  const ReduceAttr *r = node_reduce(n);
  int rank = n->in[0]->shape.rank;
  bool one = r->axes && !(r->axes & (r->axes - 1));
  if (r->axes >> rank)
    return arena_printf(a, "reduces axes 0x%x of a rank-%d operand", r->axes, rank);
  if (r->first && n->op != OP_MAX) return arena_printf(a, "has the flag `first`, which only max has");
  if ((r->first || n->op == OP_ARGMAX_MASK || n->op == OP_ARGMAX) && !one)
    return arena_printf(a, "needs exactly one axis, has axes 0x%x", r->axes);
  return NULL;
}

/* ---------------------------------------------------------------- PERM */

static void pr_perm(FILE *f, const Node *n) {
  fprintf(f, " perm=[");
  for (int i = 0; i < n->shape.rank; i++) fprintf(f, "%s%d", i ? "," : "", node_perm(n)->perm[i]);
  fprintf(f, "]");
}
static bool same_perm(const Node *a, const Node *b) {
  return !memcmp(node_perm(a)->perm, node_perm(b)->perm, sizeof node_perm(a)->perm);
}
static uint64_t hash_perm(const Node *n, uint64_t h) {
  for (int i = 0; i < GC_MAX_RANK; i++) h = mix(h, (uint64_t)node_perm(n)->perm[i]);
  return h;
}
/* A permutation of the operand's axes; the entries past its rank are 0. */
static const char *check_perm(Arena *a, const Node *n) {
  const int *p = node_perm(n)->perm;
  int rank = n->in[0]->shape.rank;
  unsigned seen = 0;
  for (int i = 0; i < GC_MAX_RANK; i++) {
    bool ok = i < rank ? p[i] >= 0 && p[i] < rank && !(seen & (1u << p[i])) : p[i] == 0;
    if (!ok) return arena_printf(a, "has perm[%d] = %d, not a permutation of %d axes", i, p[i], rank);
    if (i < rank) seen |= 1u << p[i];
  }
  return NULL;
}

/* ---------------------------------------------------------------- MATMUL */

static void pr_matmul(FILE *f, const Node *n) {
  const MatmulAttr *m = node_matmul(n);
  if (m->ta || m->tb) fprintf(f, " %s%s", m->ta ? "tA" : "", m->tb ? "tB" : "");
}
static bool same_matmul(const Node *a, const Node *b) {
  return node_matmul(a)->ta == node_matmul(b)->ta && node_matmul(a)->tb == node_matmul(b)->tb;
}
static uint64_t hash_matmul(const Node *n, uint64_t h) {
  return mix(h, (uint64_t)(node_matmul(n)->ta * 2 + node_matmul(n)->tb));
}

/* ---------------------------------------------------------------- CONV, POOL */

/* The attributes as arrays of ints, for comparing and hashing field by field. */
#define CONV_INTS (sizeof(ConvAttr) / sizeof(int))
#define POOL_INTS (sizeof(PoolAttr) / sizeof(int))
static bool same_ints(const int *a, const int *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }
static uint64_t hash_ints(const int *a, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) h = mix(h, (uint64_t)(uint32_t)a[i]);
  return h;
}

static void pr_conv(FILE *f, const Node *n) {
  const ConvAttr *c = node_conv(n);
  fprintf(f, " stride=%d,%d", c->stride[0], c->stride[1]);
  if (c->lo[0] || c->lo[1] || c->hi[0] || c->hi[1]) fprintf(f, " pad=%d:%d,%d:%d", c->lo[0], c->hi[0], c->lo[1], c->hi[1]);
  if (c->dil[0] != 1 || c->dil[1] != 1) fprintf(f, " dilation=%d,%d", c->dil[0], c->dil[1]);
  if (c->groups != 1) fprintf(f, " groups=%d", c->groups);
}
static bool same_conv(const Node *a, const Node *b) {
  return same_ints(&node_conv(a)->stride[0], &node_conv(b)->stride[0], CONV_INTS);
}
static uint64_t hash_conv(const Node *n, uint64_t h) { return hash_ints(&node_conv(n)->stride[0], CONV_INTS, h); }
static const char *check_conv(Arena *a, const Node *n) {
  const ConvAttr *c = node_conv(n);
  for (int i = 0; i < 2; i++)
    if (c->stride[i] < 1 || c->dil[i] < 1 || c->lo[i] < 0 || c->hi[i] < 0)
      return arena_printf(a, "has stride %d, dilation %d and padding %d:%d on axis %d", c->stride[i], c->dil[i],
                          c->lo[i], c->hi[i], i);
  if (c->groups < 1) return arena_printf(a, "has %d groups", c->groups);
  return NULL;
}

static void pr_pool(FILE *f, const Node *n) {
  const PoolAttr *p = node_pool(n);
  fprintf(f, " k=%d,%d stride=%d,%d", p->k[0], p->k[1], p->stride[0], p->stride[1]);
  if (p->pad[0] || p->pad[1]) fprintf(f, " pad=%d,%d", p->pad[0], p->pad[1]);
}
static bool same_pool(const Node *a, const Node *b) {
  return same_ints(&node_pool(a)->k[0], &node_pool(b)->k[0], POOL_INTS);
}
static uint64_t hash_pool(const Node *n, uint64_t h) { return hash_ints(&node_pool(n)->k[0], POOL_INTS, h); }
/* torch's rule: padding at most half the window, so every window holds an input element. */
static const char *check_pool(Arena *a, const Node *n) {
  const PoolAttr *p = node_pool(n);
  for (int i = 0; i < 2; i++)
    if (p->k[i] < 1 || p->stride[i] < 1 || p->pad[i] < 0 || p->pad[i] > p->k[i] / 2)
      return arena_printf(a, "has window %d, stride %d and padding %d on axis %d", p->k[i], p->stride[i], p->pad[i], i);
  return NULL;
}

/* ---------------------------------------------------------------- SLICE (issue 15) */

static void pr_slice(FILE *f, const Node *n) {
  const SliceAttr *a = node_slice(n);
  int r = n->shape.rank;
  fprintf(f, " start=[");
  for (int i = 0; i < r; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)a->start[i]);
  fprintf(f, "] step=[");
  for (int i = 0; i < r; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)a->step[i]);
  fprintf(f, "]");
  if (n->op == OP_PAD || a->value != 0) fprintf(f, " value=%.9g", a->value);
}
static bool same_slice(const Node *a, const Node *b) {
  const SliceAttr *x = node_slice(a), *y = node_slice(b);
  return !memcmp(x->start, y->start, sizeof x->start) && !memcmp(x->step, y->step, sizeof x->step) &&
         bits(x->value) == bits(y->value);
}
static uint64_t hash_slice(const Node *n, uint64_t h) {
  const SliceAttr *a = node_slice(n);
  for (int i = 0; i < GC_MAX_RANK; i++) h = mix(mix(h, (uint64_t)a->start[i]), (uint64_t)a->step[i]);
  return mix(h, bits(a->value));
}
/* No step of 0 (the shape rule checks the bounds); SLICE has no fill value. */
static const char *check_slice(Arena *a, const Node *n) {
  const SliceAttr *s = node_slice(n);
  for (int i = 0; i < n->shape.rank; i++)
    if (s->step[i] == 0) return arena_printf(a, "has step 0 on axis %d", i);
  if (n->op == OP_SLICE && s->value != 0) return arena_printf(a, "is a slice with a fill value");
  return NULL;
}

/* ---------------------------------------------------------------- attention (issue 15) */

static void pr_tri(FILE *f, const Node *n) {
  fprintf(f, " %s diagonal=%lld", node_tri(n)->upper ? "upper" : "lower", (long long)node_tri(n)->diag);
}
static bool same_tri(const Node *a, const Node *b) {
  return node_tri(a)->diag == node_tri(b)->diag && node_tri(a)->upper == node_tri(b)->upper;
}
static uint64_t hash_tri(const Node *n, uint64_t h) { return mix(mix(h, (uint64_t)node_tri(n)->diag), node_tri(n)->upper); }

static void pr_sdpa(FILE *f, const Node *n) {
  fprintf(f, " scale=%.9g%s", node_sdpa(n)->scale, node_sdpa(n)->causal ? " causal" : "");
}
static bool same_sdpa(const Node *a, const Node *b) {
  return bits(node_sdpa(a)->scale) == bits(node_sdpa(b)->scale) && node_sdpa(a)->causal == node_sdpa(b)->causal;
}
static uint64_t hash_sdpa(const Node *n, uint64_t h) { return mix(mix(h, bits(node_sdpa(n)->scale)), node_sdpa(n)->causal); }
static const char *check_sdpa(Arena *a, const Node *n) {
  double s = node_sdpa(n)->scale;
  return isfinite(s) ? NULL : arena_printf(a, "has scale %g", s);
}

/* ---------------------------------------------------------------- GATHER (issue 15: indexing II) */

static void pr_gather(FILE *f, const Node *n) { fprintf(f, " axis=%d", node_gather(n)->axis); }
static bool same_gather(const Node *a, const Node *b) { return node_gather(a)->axis == node_gather(b)->axis; }
static uint64_t hash_gather(const Node *n, uint64_t h) { return mix(h, (uint64_t)node_gather(n)->axis); }
static const char *check_gather(Arena *a, const Node *n) {
  int ax = node_gather(n)->axis;
  return ax >= 0 && ax < n->shape.rank ? NULL : arena_printf(a, "has axis %d for rank %d", ax, n->shape.rank);
}

/* ---------------------------------------------------------------- DROPOUT (issue 15: dropout and modes) */

static void pr_dropout(FILE *f, const Node *n) {
  fprintf(f, " p=%.17g salt=0x%x", node_dropout(n)->p, (unsigned)node_dropout(n)->salt);
}
static bool same_dropout(const Node *a, const Node *b) {
  return bits(node_dropout(a)->p) == bits(node_dropout(b)->p) && node_dropout(a)->salt == node_dropout(b)->salt;
}
static uint64_t hash_dropout(const Node *n, uint64_t h) {
  return mix(mix(h, bits(node_dropout(n)->p)), node_dropout(n)->salt);
}
/* p = 0 is the identity and p = 1 zeros: the builder makes neither a DROPOUT. */
static const char *check_dropout(Arena *a, const Node *n) {
  double p = node_dropout(n)->p;
  return p > 0 && p < 1 ? NULL : arena_printf(a, "has p = %g, outside (0, 1)", p);
}

/* ---------------------------------------------------------------- the table */

static bool same_none(const Node *a, const Node *b) { return (void)a, (void)b, true; }
static uint64_t hash_none(const Node *n, uint64_t h) { return (void)n, h; }

#define KIND(e, nm, chk) [ATTR_##e] = {#nm, pr_##nm, same_##nm, hash_##nm, chk}

const AttrInfo gc_attrs[ATTR__COUNT] = {
    [ATTR_NONE] = {"none", NULL, same_none, hash_none, NULL},
    KIND(CONST, const, NULL),
    KIND(POW, pow, NULL),
    KIND(ONEHOT, onehot, check_onehot),
    KIND(REDUCE, reduce, check_reduce),
    KIND(PERM, perm, check_perm),
    KIND(MATMUL, matmul, NULL),
    KIND(CONV, conv, check_conv),
    KIND(POOL, pool, check_pool),
    KIND(SLICE, slice, check_slice),
    /* ---- attention (issue 15) ---- */
    KIND(TRI, tri, NULL),
    KIND(SDPA, sdpa, check_sdpa),
    KIND(GATHER, gather, check_gather),
    KIND(DROPOUT, dropout, check_dropout),
};
