/* opinfo.h — the row type of the operator table (see ops.h for the list of ops): an
 * op's semantics, free of LLVM. Its lowering is in the backend's columns, gc_lower_elem
 * (lower_elem.h) and gc_lower_kernel (lower_ops.h), indexed by the same OpKind. */
#ifndef GRADC_OPINFO_H
#define GRADC_OPINFO_H
#include <stdio.h>
#include "graph.h"

/* Which of a node's attribute fields an op reads (graph.h); each one it reads is
 * printed by `print` and compared by CSE. */
enum {
  ATTR_VALUE = 1 << 0,  /* value: CONST's value, POWC's exponent, ONEHOT's classes */
  ATTR_AXES = 1 << 1,   /* axes */
  ATTR_PERM = 1 << 2,   /* perm */
  ATTR_TRANS = 1 << 3,  /* ta, tb */
  ATTR_K = 1 << 4,      /* k */
  ATTR_STRIDE = 1 << 5, /* stride, pad */
};

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
  /* Shape rule: sets n->shape and n->dtype from n->in and the attributes; returns
   * NULL, or an error message (arena-allocated) naming the offending shapes. */
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
  /* REDUCE: the accumulator's starting value (the identity of eval1 and of the
   * backend's emit1). */
  double unit;
  unsigned attrs; /* ATTR_*: the attribute fields it reads */
  unsigned flags; /* OPF_* */
  /* Its attributes as `--emit ir` shows them (" axes=0x2"); NULL without attributes. */
  void (*print)(FILE *f, const Node *n);
  /* Floating-point operations of one evaluation, counted as multiply-adds x 2 (what
   * `gradc bench` reports as GFLOP/s); NULL: not counted (elementwise work). */
  double (*flops)(const Node *n);
} OpInfo;

extern const OpInfo gc_ops[OP__COUNT];

#endif
