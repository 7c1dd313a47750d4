/* lower_elem.h — the elementwise column of the backend's operator table (lower_elem.c),
 * indexed by OpKind like gc_ops (opinfo.h): for an ELEM op, its value from its
 * operands a (and b); for a REDUCE op, the accumulator a combined with one more element
 * b. LLVM IR on floats or on vectors of floats, the same code. tests/test_optable.c
 * checks that every op of those classes has one. */
#ifndef GRADC_LOWER_ELEM_H
#define GRADC_LOWER_ELEM_H
#include "lower_builder.h"
#include "opinfo.h"

typedef LLVMValueRef (*Emit1)(Lower *L, const Node *n, LLVMValueRef a, LLVMValueRef b);
extern const Emit1 gc_lower_elem[OP__COUNT];

#endif
