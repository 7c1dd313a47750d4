/* opinfo.h — the row type of the operator table (see ops.h for the list of ops): an
 * op's semantics, free of LLVM. Its lowering is the backend's column, gc_lower
 * (lower_ops.h), indexed by the same OpKind. */
#ifndef GRADC_OPINFO_H
#define GRADC_OPINFO_H
#include "graph.h"

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
} OpInfo;

extern const OpInfo gc_ops[OP__COUNT];

#endif
