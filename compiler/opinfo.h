/* opinfo.h — the row type of the operator table (see ops.h for the list of ops): an
 * op's semantics, free of LLVM. Its lowering is in the backend's columns, gc_lower_elem
 * (lower_elem.h) and gc_lower_kernel (lower_ops.h), indexed by the same OpKind. */
#ifndef GRADC_OPINFO_H
#define GRADC_OPINFO_H
#include <stdint.h>
#include <stdio.h>
#include "graph.h"

/* The dtypes an op takes and gives (dtype.h). graph.c gives each new node its result
 * dtype by this rule before running the shape rule; shape rules check the operands
 * (ops.c's check_operand_dtypes; conv and pools their own), with the user's message;
 * the verifier checks both on its own. */
typedef enum {
  DTR_F32,    /* f32 operands, an f32 result: most ops, CONST */
  DTR_LEAF,   /* INPUT and PARAM: as declared (i32 only for an input; build.c) */
  DTR_LIKE,   /* any operand; the result has operand 0's dtype (views: RESHAPE, DETACH) */
  DTR_LABELS, /* i32 in (class labels, ids), f32 out (ONEHOT, TO_F32) */
  DTR_INDEX,  /* f32 in, i32 indices out (ARGMAX, TO_I32) */
  DTR_COPY,   /* any operand; the result is the output buffer, of the operand's dtype (COPY) */
  DTR_GATHER, /* f32 operand 0, i32 indices operand 1, f32 out (GATHER, SCATTER_ADD; issue 15) */
} DTypeRule;

/* Flags. */
enum {
  /* Its kernel stores each element of its result exactly once, finished (through
   * lw_store): a gradient sink's accumulation or SGD update can ride on that store.
   * (A matrix product does when k fits one block: matmul_single_pass.) */
  OPF_STORES_ONCE = 1 << 0,
};

typedef struct {
  const char *name;
  int arity;
  OpClass cls;
  /* Shape rule: sets n->shape from n->in and the attributes (n->dtype is already
   * its dtype rule's); returns NULL, or an error message (arena-allocated) naming the
   * offending shapes or operand dtypes. */
  const char *(*shape)(Graph *g, Node *n);
  /* Derivative (reverse mode): given dy = d loss / d n, sets dx[i] = d loss / d in[i]
   * as new graph nodes, already summed down to in[i]'s shape; NULL where no gradient
   * flows. Built only from primitives, so backward is ordinary graph. */
  void (*grad)(Graph *g, Node *n, Node *dy, Node **dx);
  /* ELEM: the value of one element in float64 (b unused for unary ops). REDUCE: the
   * accumulator a combined with one more element b. */
  double (*eval1)(const Node *n, double a, double b);
  /* REDUCE / KERNEL: reference evaluation of the whole op (row-major float64 buffers). */
  void (*evalk)(const Node *n, double *out, double *const *ins);
  /* ELEM ops that draw random numbers (DROPOUT), instead of eval1: the whole op from the
   * step seed, each element's draw from its index (the evaluator's gc_graph_set_seed). */
  void (*evalr)(const Node *n, uint64_t seed, double *out, const double *x);
  /* REDUCE: the accumulator's starting value (the identity of eval1 and of the
   * backend's emit1). */
  double unit;
  AttrKind attr;   /* the attributes it reads (graph.h); ATTR_NONE: none */
  DTypeRule dtype; /* the dtypes it takes and gives */
  unsigned flags;  /* OPF_* */
  /* Floating-point operations of one evaluation, counted as multiply-adds x 2 (what
   * `gradc bench` reports as GFLOP/s); NULL: not counted (elementwise work). */
  double (*flops)(const Node *n);
} OpInfo;

extern const OpInfo gc_ops[OP__COUNT];

/* The dtype n has by its op's rule (a leaf: its own). */
DType op_result_dtype(const Node *n);
/* The dtype operand i of n must have by its op's rule, or DT__COUNT: any. */
DType op_operand_dtype(const Node *n, int i);

/* ---- attributes, per kind (ops_attr.c) ---- */

typedef struct {
  const char *name; /* for messages */
  /* As `--emit ir` shows them, after the operands (" axes=0x2"). */
  void (*print)(FILE *f, const Node *n);
  /* Whether a and b (of the same op) have the same attributes (CSE). */
  bool (*same)(const Node *a, const Node *b);
  /* h mixed with n's attributes (FNV-1a steps); same() nodes hash alike. */
  uint64_t (*hash)(const Node *n, uint64_t h);
  /* NULL, or what is wrong with n's attributes (arena-allocated; the verifier). */
  const char *(*check)(Arena *a, const Node *n);
} AttrInfo;

extern const AttrInfo gc_attrs[ATTR__COUNT];

/* Accessors: node_const(n), node_reduce(n), ... give a pointer to n's attributes as its
 * kind's struct (const if n is); debug builds check that n's op has that kind. n is
 * evaluated twice. */
static inline int gc_attr_tag(OpKind op, AttrKind k) {
#ifndef NDEBUG
  GC_ASSERT(op >= 0 && op < OP__COUNT && gc_ops[op].attr == k);
#else
  (void)op, (void)k;
#endif
  return 0;
}
#define GC_ATTR_OF(n, kind, member) (&(n)[gc_attr_tag((n)->op, kind)].attr.member)
#define node_const(n) GC_ATTR_OF(n, ATTR_CONST, cnst)
#define node_pow(n) GC_ATTR_OF(n, ATTR_POW, powc)
#define node_onehot(n) GC_ATTR_OF(n, ATTR_ONEHOT, onehot)
#define node_reduce(n) GC_ATTR_OF(n, ATTR_REDUCE, reduce)
#define node_perm(n) GC_ATTR_OF(n, ATTR_PERM, perm)
#define node_matmul(n) GC_ATTR_OF(n, ATTR_MATMUL, matmul)
#define node_conv(n) GC_ATTR_OF(n, ATTR_CONV, conv)
#define node_pool(n) GC_ATTR_OF(n, ATTR_POOL, pool)
#define node_slice(n) GC_ATTR_OF(n, ATTR_SLICE, slice)
#define node_tri(n) GC_ATTR_OF(n, ATTR_TRI, tri)
#define node_sdpa(n) GC_ATTR_OF(n, ATTR_SDPA, sdpa)
#define node_gather(n) GC_ATTR_OF(n, ATTR_GATHER, gather)
#define node_dropout(n) GC_ATTR_OF(n, ATTR_DROPOUT, dropout)

#endif
