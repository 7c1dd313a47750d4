/* test_optable.c — the operator table is complete: every primitive of ops.h has what
 * its class needs in the semantic table (gc_ops, opinfo.h: shape rule, derivative,
 * float64 evaluation) and in the backend's (gc_lower_elem, lower_elem.h; gc_lower_kernel,
 * lower_ops.h), its attribute kind prints and compares every field (gc_attrs), and its
 * positional row agrees with the X-macro list. A primitive added without one of
 * them fails here, by name. Whether each differentiable primitive is exercised by a
 * finite-difference case is checked in test_grad.c (grad/every_derivative_is_tested),
 * and by a PyTorch fixture in test_torch_ops.c. Every dtype (dtype.h) has a size and a
 * name. */
#define _DEFAULT_SOURCE /* fmemopen */
#include <criterion/criterion.h>
#include <signal.h>
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
  case OP_ARGMAX:                               /* an index (i32): torch.argmax has no gradient */
  case OP_DETACH:                               /* by definition */
  case OP_CONV2D_DW: case OP_MAXPOOL_DX: case OP_AVGPOOL_DX: /* gradients (no double backward) */
  case OP_COPY: case OP_SGD:                    /* sinks, added after autodiff */
  /* comparisons and rounding (issue 15): piecewise constant, PyTorch's gradient is zero */
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_NE:
  case OP_FLOOR: case OP_CEIL: case OP_ROUND:
  case OP_SDPA_BWD:                             /* attention (issue 15): a gradient (no double backward) */
  /* ---- indexing II (issue 15) ---- */
  case OP_SCATTER_ADD:                          /* gather's gradient (no double backward) */
  case OP_TO_F32: case OP_TO_I32:               /* dtype conversions (issue 16): an i32 has no gradient */
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
      cr_expect(o->shape && (o->eval1 || o->evalr), "%s: an elementwise op needs a shape rule and eval1 (evalr: dropout)", o->name);
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

/* ---- dtypes (dtype.h) ---- */

Test(optable, every_dtype_has_a_size_and_a_name) {
  static const struct {
    DType t;
    size_t size;
    const char *name;
  } want[DT__COUNT] = {{DT_F32, sizeof(float), "f32"},   {DT_I32, sizeof(int32_t), "i32"},
                       {DT_I64, sizeof(int64_t), "i64"}, {DT_I8, sizeof(int8_t), "i8"},
                       {DT_BOOL, 1, "bool"}};
  for (int i = 0; i < DT__COUNT; i++) {
    cr_assert_eq(want[i].t, (DType)i, "dtype %d: list it in `want` (test_optable.c)", i);
    cr_expect_eq(dtype_size(want[i].t), want[i].size, "%s: %zu bytes", want[i].name, dtype_size(want[i].t));
    cr_expect_str_eq(dtype_name(want[i].t), want[i].name);
    cr_expect_eq(dtype_produced(want[i].t), want[i].t == DT_F32 || want[i].t == DT_I32);
  }
  Node n = {.dtype = DT_I64, .shape = {2, {3, 4}}};
  cr_expect_eq(node_bytes(&n), 96);
  n.dtype = DT_F32;
  cr_expect_eq(node_bytes(&n), 48);
}

/* ---- attributes, by kind (gc_attrs, ops_attr.c) ---- */

/* A sample of each kind's attributes, and each of its fields changed: every field of a
 * kind must show in `--emit ir` and in CSE's comparison. A new kind fails here until
 * its fields are listed. */
typedef void (*Change)(NodeAttr *a);
static void c_value(NodeAttr *a) { a->cnst.value = 3; }
static void c_exponent(NodeAttr *a) { a->powc.exponent = 3; }
static void c_classes(NodeAttr *a) { a->onehot.classes = 3; }
static void c_axes(NodeAttr *a) { a->reduce.axes = 2; }
static void c_first(NodeAttr *a) { a->reduce.first = true; }
static void c_perm(NodeAttr *a) { a->perm.perm[0] = 1, a->perm.perm[1] = 0; }
static void c_ta(NodeAttr *a) { a->matmul.ta = true; }
static void c_tb(NodeAttr *a) { a->matmul.tb = true; }
static void c_conv_stride(NodeAttr *a) { a->conv.stride[1] = 2; }
static void c_dil(NodeAttr *a) { a->conv.dil[0] = 2; }
static void c_lo(NodeAttr *a) { a->conv.lo[1] = 1; }
static void c_hi(NodeAttr *a) { a->conv.hi[0] = 1; }
static void c_groups(NodeAttr *a) { a->conv.groups = 2; }
static void c_k(NodeAttr *a) { a->pool.k[1] = 3; }
static void c_pool_stride(NodeAttr *a) { a->pool.stride[0] = 2; }
static void c_pool_pad(NodeAttr *a) { a->pool.pad[1] = 1; }
static void c_start(NodeAttr *a) { a->slice.start[1] = 1; }
static void c_step(NodeAttr *a) { a->slice.step[0] = 2; }
static void c_fill(NodeAttr *a) { a->slice.value = 3; }
/* ---- attention (issue 15) ---- */
static void c_diag(NodeAttr *a) { a->tri.diag = 1; }
static void c_upper(NodeAttr *a) { a->tri.upper = true; }
static void c_scale(NodeAttr *a) { a->sdpa.scale = 0.25; }
static void c_causal(NodeAttr *a) { a->sdpa.causal = true; }
static void c_gather_axis(NodeAttr *a) { a->gather.axis = 1; } /* ---- indexing II (issue 15) ---- */
static void c_drop_p(NodeAttr *a) { a->dropout.p = 0.25; }
static void c_salt(NodeAttr *a) { a->dropout.salt = 7; }

static const struct {
  NodeAttr sample;
  Change change[6]; /* each field, NULL-terminated */
} kinds[ATTR__COUNT] = {
    [ATTR_CONST] = {{.cnst = {2}}, {c_value}},
    [ATTR_POW] = {{.powc = {2}}, {c_exponent}},
    [ATTR_ONEHOT] = {{.onehot = {2}}, {c_classes}},
    [ATTR_REDUCE] = {{.reduce = {1, false}}, {c_axes, c_first}},
    [ATTR_PERM] = {{.perm = {{0, 1}}}, {c_perm}},
    [ATTR_MATMUL] = {{.matmul = {false, false}}, {c_ta, c_tb}},
    [ATTR_CONV] = {{.conv = {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}}, {c_conv_stride, c_dil, c_lo, c_hi, c_groups}},
    [ATTR_POOL] = {{.pool = {{2, 2}, {1, 1}, {0, 0}}}, {c_k, c_pool_stride, c_pool_pad}},
    [ATTR_SLICE] = {{.slice = {{0, 0}, {1, 1}, 0}}, {c_start, c_step, c_fill}},
    /* ---- attention (issue 15) ---- */
    [ATTR_TRI] = {{.tri = {0, false}}, {c_diag, c_upper}},
    [ATTR_SDPA] = {{.sdpa = {0.5, false}}, {c_scale, c_causal}},
    [ATTR_GATHER] = {{.gather = {0}}, {c_gather_axis}},
    [ATTR_DROPOUT] = {{.dropout = {0.5, 1}}, {c_drop_p, c_salt}},
};

static void printout(const OpInfo *o, const Node *n, char *buf, size_t len) {
  FILE *f = fmemopen(buf, len, "w");
  gc_attrs[o->attr].print(f, n);
  fclose(f);
}

Test(optable, every_attribute_kind_prints_compares_and_hashes) {
  for (int k = 0; k < ATTR__COUNT; k++) {
    const AttrInfo *a = &gc_attrs[k];
    cr_assert(a->name && a->same && a->hash, "attribute kind %d has no row in gc_attrs", k);
    if (k == ATTR_NONE) continue;
    cr_expect(a->print, "attribute kind %s has no printer", a->name);
    cr_expect(kinds[k].change[0], "attribute kind %s: list its fields in `kinds` (test_optable.c)", a->name);
  }
}

/* Each attribute an op reads changes what `--emit ir` prints for it, and what CSE sees. */
Test(optable, every_attribute_is_printed) {
  for (int op = 0; op < OP__COUNT; op++) {
    const OpInfo *o = &gc_ops[op];
    if (o->attr == ATTR_NONE) continue;
    const AttrInfo *k = &gc_attrs[o->attr];
    cr_assert(k->print, "%s reads attributes (%s) but its kind has no printer", o->name, k->name);
    for (int i = 0; kinds[o->attr].change[i]; i++) {
      Node a = {.op = (OpKind)op, .shape = {2, {3, 4}}, .attr = kinds[o->attr].sample};
      Node b = a;
      kinds[o->attr].change[i](&b.attr);
      char pa[256] = "", pb[256] = "";
      printout(o, &a, pa, sizeof pa);
      printout(o, &b, pb, sizeof pb);
      cr_expect(strcmp(pa, pb), "%s: field %d of its attributes (%s) changed but the printout did not ('%s')", o->name,
                i, k->name, pa);
      cr_expect(!k->same(&a, &b), "%s: field %d of its attributes (%s) changed but CSE sees the same", o->name, i,
                k->name);
      Node c = b;
      cr_expect(k->same(&b, &c) && k->hash(&b, 1) == k->hash(&c, 1), "%s: equal attributes differ for CSE", o->name);
    }
  }
}

#ifndef NDEBUG
/* Debug builds: reading a node's attributes as another kind's is caught. */
Test(optable, an_attribute_of_another_kind_aborts, .signal = SIGABRT) {
  Node n = {.op = OP_SUM};
  node_conv(&n)->groups = 1;
}
#endif
