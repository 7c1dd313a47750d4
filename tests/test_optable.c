/* test_optable.c — the operator table is complete: every primitive of ops.h has what
 * its class needs in the semantic table (gc_ops, opinfo.h: shape rule, derivative,
 * float64 evaluation, attributes) and in the backend's (gc_lower_elem, lower_elem.h; gc_lower_kernel, lower_ops.h), and
 * its positional row agrees with the X-macro list. A primitive added without one of
 * them fails here, by name. Whether each differentiable primitive is exercised by a
 * finite-difference case is checked in test_grad.c (grad/every_derivative_is_tested),
 * and by a PyTorch fixture in test_torch_ops.c. */
#define _DEFAULT_SOURCE /* fmemopen */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_elem.h"
#include "lower_ops.h"
#include "opinfo.h"

static const struct {
  const char *name;
  int arity;
  OpClass cls;
} listed[OP__COUNT] = {
#define X(e, nm, ar, c) [OP_##e] = {nm, ar, CLS_##c},
    GC_OPS(X)
#undef X
};

/* Primitives without a derivative, each for a reason. */
static bool no_derivative(OpKind op) {
  switch (op) {
  case OP_INPUT: case OP_PARAM: case OP_CONST: /* leaves: autodiff stops there */
  case OP_SIGN: case OP_STEP: case OP_EQ:       /* piecewise constant: zero almost everywhere */
  case OP_ONEHOT: case OP_ARGMAX_MASK:          /* integer-valued masks */
  case OP_DETACH:                               /* by definition */
  case OP_CONV2D_DX: case OP_CONV2D_DW: case OP_MAXPOOL_DX: case OP_AVGPOOL_DX: /* gradients (no double backward) */
  case OP_COPY: case OP_SGD:                    /* sinks, added after autodiff */
    return true;
  default: return false;
  }
}

Test(optable, rows_agree_with_the_op_list) {
  for (int op = 0; op < OP__COUNT; op++) {
    const OpInfo *o = &gc_ops[op];
    cr_assert(o->name, "op %d has no row in gc_ops", op);
    cr_expect_str_eq(o->name, listed[op].name, "op %d: row says '%s', ops.h says '%s'", op, o->name, listed[op].name);
    cr_expect_eq(o->arity, listed[op].arity, "%s: arity %d in its row, %d in ops.h", o->name, o->arity, listed[op].arity);
    cr_expect_eq(o->cls, listed[op].cls, "%s: class %d in its row, %d in ops.h", o->name, o->cls, listed[op].cls);
  }
}

Test(optable, every_op_has_what_its_class_needs) {
  for (int op = 0; op < OP__COUNT; op++) {
    const OpInfo *o = &gc_ops[op];
    const struct {
      Emit1 emit1;
      EmitK emitk;
    } backend = {gc_lower_elem[op], gc_lower_kernel[op]}, *l = &backend;
    switch (o->cls) {
    case CLS_LEAF:
      cr_expect(!l->emit1 && !l->emitk, "%s: a leaf has no code", o->name);
      break;
    case CLS_ALIAS:
      cr_expect(o->shape && !l->emit1 && !l->emitk && !o->eval1, "%s: an alias has a shape rule and no code", o->name);
      break;
    case CLS_ELEM:
      cr_expect(o->shape && o->eval1, "%s: an elementwise op needs a shape rule and eval1", o->name);
      cr_expect(l->emit1, "%s: an elementwise op needs an emitter in gc_lower_elem", o->name);
      break;
    case CLS_REDUCE:
      cr_expect(o->shape && o->eval1 && o->evalk, "%s: a reduction needs a shape rule, eval1 and evalk", o->name);
      cr_expect(l->emit1 && l->emitk, "%s: a reduction needs a combining step in gc_lower_elem and a kernel in gc_lower_kernel", o->name);
      break;
    case CLS_KERNEL:
      cr_expect(o->shape && o->evalk, "%s: a kernel op needs a shape rule and evalk", o->name);
      cr_expect(l->emitk, "%s: a kernel op needs an emitter in gc_lower_kernel", o->name);
      break;
    }
    if (!no_derivative((OpKind)op))
      cr_expect(o->grad, "%s has no derivative: add one, or list it in no_derivative with the reason", o->name);
    else
      cr_expect(!o->grad, "%s has a derivative but is listed in no_derivative", o->name);
  }
}

/* Each attribute an op reads changes what `--emit ir` prints for it. */
Test(optable, every_attribute_is_printed) {
  for (int op = 0; op < OP__COUNT; op++) {
    const OpInfo *o = &gc_ops[op];
    if (op == OP_CONST || !o->attrs) continue; /* a constant prints its value itself (irprint.c) */
    cr_assert(o->print, "%s reads attributes (0x%x) but has no printer", o->name, o->attrs);
    for (unsigned bit = 1; bit <= ATTR_STRIDE; bit <<= 1) {
      if (!(o->attrs & bit)) continue;
      Node a = {.op = (OpKind)op, .shape = {2, {3, 4}}, .perm = {0, 1}, .axes = 1, .value = 2, .k = 2, .stride = 1};
      Node b = a;
      if (bit == ATTR_VALUE) b.value = 3;
      if (bit == ATTR_AXES) b.axes = 2;
      if (bit == ATTR_PERM) b.perm[0] = 1, b.perm[1] = 0;
      if (bit == ATTR_TRANS) b.ta = true;
      if (bit == ATTR_K) b.k = op == OP_MAX ? 1 : 3;
      if (bit == ATTR_STRIDE) b.stride = 2;
      char pa[256] = "", pb[256] = "";
      FILE *f = fmemopen(pa, sizeof pa, "w");
      o->print(f, &a);
      fclose(f);
      f = fmemopen(pb, sizeof pb, "w");
      o->print(f, &b);
      fclose(f);
      cr_expect(strcmp(pa, pb), "%s: attribute 0x%x changed but the printout did not ('%s')", o->name, bit, pa);
    }
  }
}
