/* import.c — the walk over an ONNX graph: the nodes in dependency order, each converted to
 * statements of the model language (its row of the op table), the statements checked on
 * their own by the compiler library — which gives each output its shape and dtype — and,
 * when every input is known at import time, evaluated there and then by the compiler's
 * reference evaluator, so that shape arithmetic disappears from the model. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradc/compiler.h"
#include "importer.h"

_Noreturn void im_fail(Importer *im, const char *fmt, ...) {
  int k = snprintf(im->err, im->errlen, "%s: ", im->file);
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < im->errlen) vsnprintf(im->err + k, im->errlen - (size_t)k, fmt, ap);
  va_end(ap);
  longjmp(im->fail, 1);
}

OxValue *im_find(Importer *im, const char *onnx_name) {
  for (size_t i = im->nvals; i-- > 0;)
    if (!strcmp(im->vals[i]->onnx, onnx_name)) return im->vals[i];
  return NULL;
}

OxValue *im_value(Importer *im, const char *onnx_name, int type) {
  if (im_find(im, onnx_name)) im_fail(im, "the value '%s' is defined twice", onnx_name);
  if (im->nvals == im->capvals) {
    im->capvals = im->capvals ? 2 * im->capvals : 64;
    OxValue **grown = pool_alloc(&im->pool, im->capvals * sizeof *grown);
    if (im->nvals) memcpy(grown, im->vals, im->nvals * sizeof *grown);
    im->vals = grown;
  }
  OxValue *v = pool_alloc(&im->pool, sizeof *v);
  v->onnx = pool_strdup(&im->pool, onnx_name);
  v->name = names_fresh(&im->names, &im->pool, onnx_name);
  v->type = type;
  return im->vals[im->nvals++] = v;
}

void im_ref(Importer *im, OxValue *v) {
  if (v->local) return;
  for (int i = 0; i < im->nrefs; i++)
    if (im->refs[i] == v) return;
  if (im->nrefs == (int)(sizeof im->refs / sizeof *im->refs)) im_fail(im, "a node reads too many values");
  im->refs[im->nrefs++] = v;
}

const char *im_type(Importer *im, const OxValue *v) {
  Text t = {0};
  text_add(&t, "%s[", v->i32 ? "i32" : "f32");
  for (int d = 0; d < v->rank; d++) text_add(&t, "%s%lld", d ? ", " : "", (long long)v->dims[d]);
  text_add(&t, "]");
  char *s = pool_strdup(&im->pool, t.s);
  text_free(&t);
  return s;
}

/* ---- the order of the nodes ---- */

/* The node that computes `name` (the last one, as im_find takes the last value), or -1. */
static int producer(const Onnx__GraphProto *g, const char *name) {
  for (size_t k = g->n_node; k-- > 0;)
    for (size_t l = 0; l < g->node[k]->n_output; l++)
      if (!strcmp(g->node[k]->output[l], name)) return (int)k;
  return -1;
}

/* An input of node i that is not defined yet (done: the nodes ordered, have: the names
 * they and the graph define), or NULL. */
static const char *missing(const Onnx__GraphProto *g, size_t i, const NameSet *have) {
  const Onnx__NodeProto *p = g->node[i];
  for (size_t j = 0; j < p->n_input; j++)
    if (p->input[j][0] && !names_has(have, p->input[j])) return p->input[j];
  return NULL;
}

#define NODE_FMT "node %d '%s' (%s)"
#define NODE_ARGS(g, i) (int)(i), (g)->node[i]->name ? (g)->node[i]->name : "", (g)->node[i]->op_type

/* Why the nodes left out of the order could not be ordered: an input nothing defines, or
 * else a cycle (found by following, from a node left out, the producer of an input not
 * yet defined: after as many steps as there are nodes, the walk is on the cycle). */
static _Noreturn void unordered(Importer *im, const bool *done, const NameSet *have) {
  Onnx__GraphProto *g = im->m->graph;
  for (size_t i = 0; i < g->n_node; i++)
    for (size_t j = 0; !done[i] && j < g->node[i]->n_input; j++) {
      const char *in = g->node[i]->input[j];
      if (in[0] && !names_has(have, in) && producer(g, in) < 0)
        im_fail(im, NODE_FMT ": its input '%s' is not a graph input, an initializer or any node's output",
                NODE_ARGS(g, i), in);
    }
  size_t i = 0;
  while (done[i]) i++;
  for (size_t step = 0; step < g->n_node; step++) i = (size_t)producer(g, missing(g, i, have));
  const char *in = missing(g, i, have);
  int k = producer(g, in);
  if (k == (int)i) im_fail(im, "the graph has a cycle: " NODE_FMT " reads its own output '%s'", NODE_ARGS(g, i), in);
  im_fail(im, "the graph has a cycle: " NODE_FMT " reads '%s', computed by " NODE_FMT ", which depends on the "
          "output of " NODE_FMT, NODE_ARGS(g, i), in, NODE_ARGS(g, k), NODE_ARGS(g, i));
}

/* The nodes in an order where each comes after the nodes it reads (ONNX asks for one, not
 * every exporter keeps it); a cycle, or an input nothing defines, is an error. */
static int *order(Importer *im) {
  Onnx__GraphProto *g = im->m->graph;
  int *ord = pool_alloc(&im->pool, (g->n_node + 1) * sizeof *ord);
  bool *done = pool_alloc(&im->pool, g->n_node + 1);
  /* The names defined so far: the graph's inputs and initializers, then each node's outputs. */
  NameSet have = {0};
  for (size_t i = 0; i < im->nvals; i++) names_add(&have, &im->pool, im->vals[i]->onnx);
  size_t n = 0;
  for (bool progress = true; progress && n < g->n_node;) {
    progress = false;
    for (size_t i = 0; i < g->n_node; i++) {
      if (done[i]) continue;
      const Onnx__NodeProto *p = g->node[i];
      bool ok = true;
      for (size_t j = 0; ok && j < p->n_input; j++) ok = !p->input[j][0] || names_has(&have, p->input[j]);
      if (!ok) continue;
      for (size_t j = 0; j < p->n_output; j++)
        if (p->output[j][0]) names_add(&have, &im->pool, p->output[j]);
      done[i] = true, ord[n++] = (int)i, progress = true;
    }
  }
  if (n < g->n_node) unordered(im, done, &have);
  return ord;
}

/* ---- checking and folding one node ---- */

/* The statements of node n alone, as a model: its inputs declared (running statistics as
 * buffers), its outputs output. */
static char *node_model(Importer *im, OxNode *n) {
  for (int i = 0; i < im->nrefs; i++)
    if (!im->refs[i]->count) ox_fail(n, "'%s' is empty (a dimension of size 0): gradc computes no empty tensors", im->refs[i]->onnx);
  Text t = {0};
  text_add(&t, "model ox_node\n");
  for (int i = 0; i < im->nrefs; i++) /* a running statistic (ox_make_buffer) stays a buffer, as batch_norm asks */
    text_add(&t, im->refs[i]->buffer ? "buffer %s : %s = zeros\n" : "input %s : %s\n", im->refs[i]->name,
             im_type(im, im->refs[i]));
  text_add(&t, "%s", im->snip.s ? im->snip.s : "");
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && !n->out[i]->k) text_add(&t, "output %s\n", n->out[i]->name);
  char *s = pool_strdup(&im->pool, t.s);
  text_free(&t);
  return s;
}

/* The most elements an output evaluated at import time may have: a larger one (a broadcast
 * of small constants, ConstantOfShape of a large shape) stays a statement of the model. */
#define OX_MAX_FOLD (1ll << 24)

/* Whether the node's statements can be evaluated now: every value they read is known and
 * none is a parameter (a parameter is trained: folding it would freeze it). */
static bool foldable(Importer *im) {
  for (int i = 0; i < im->nrefs; i++)
    if (!im->refs[i]->k || im->refs[i]->param) return false;
  return true;
}

static void set_shape(OxNode *n, OxValue *v, gc_graph *g) {
  bool i32;
  if (!gc_graph_shape(g, v->name, &i32, v->dims, &v->rank)) {
    gc_graph_free(g);
    ox_fail(n, "output '%s' was not computed", v->onnx);
  }
  v->i32 = i32;
  v->count = 1;
  for (int d = 0; d < v->rank; d++) v->count *= v->dims[d];
}

/* Type-checks the node's statements with the compiler; gives the outputs their shapes, and
 * their values when the node folds. Returns whether it folded. */
static bool check_node(Importer *im, OxNode *n) {
  char *src = node_model(im, n), err[4096];
  gc_options o = {.path = "(translation)", .source = src, .inference = true};
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  if (!g) ox_fail(n, "its translation was refused by the compiler:\n%s\n--- the translation ---\n%s", err, src);
  bool fold = foldable(im);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && !n->out[i]->k) {
      set_shape(n, n->out[i], g);
      fold &= n->out[i]->count <= OX_MAX_FOLD;
    }
  if (fold) {
    for (int i = 0; i < im->nrefs; i++) {
      size_t cnt;
      double *dst = gc_graph_tensor(g, im->refs[i]->name, &cnt);
      if (dst) memcpy(dst, im->refs[i]->k, cnt * sizeof *dst);
    }
    gc_graph_eval(g);
    for (int i = 0; i < n->nout; i++) {
      OxValue *v = n->out[i];
      if (!v || v->k) continue;
      size_t cnt;
      const double *src_v = gc_graph_tensor(g, v->name, &cnt);
      v->k = pool_alloc(&im->pool, (cnt ? cnt : 1) * sizeof *v->k);
      memcpy(v->k, src_v, cnt * sizeof *v->k);
      v->i32 = false; /* a known value is declared, if ever, as an f32 constant */
    }
  }
  gc_graph_free(g);
  return fold;
}

static void node_inputs(Importer *im, OxNode *n) {
  const Onnx__NodeProto *p = n->p;
  if (p->n_input > OX_MAX_IO || p->n_output > OX_MAX_IO) ox_fail(n, "more than %d inputs or outputs", OX_MAX_IO);
  n->nin = (int)p->n_input, n->nout = (int)p->n_output;
  for (int i = 0; i < n->nin; i++) {
    if (!p->input[i][0]) continue;
    n->in[i] = im_find(im, p->input[i]);
    if (!n->in[i]) ox_fail(n, "input '%s' is not defined", p->input[i]);
  }
  int type = n->nin && n->in[0] ? n->in[0]->type : OX_T_FLOAT;
  for (int i = 0; i < n->nout; i++) n->out_type[i] = type;
}

static void node_outputs(Importer *im, OxNode *n) {
  for (int i = 0; i < n->nout; i++) {
    const char *name = n->p->output[i];
    if (!name[0]) continue;
    if (im_find(im, name)) ox_fail(n, "its output '%s' is already defined (a graph input, an initializer or another "
                                   "node's output): a value is defined once", name);
    for (int j = 0; j < i; j++)
      if (!strcmp(n->p->output[j], name)) ox_fail(n, "it names two of its outputs '%s'", name);
    n->out[i] = im_value(im, name, n->out_type[i]);
  }
}

/* Opset 6 and before: a binary operator with broadcast=1 and an axis aligns its second
 * operand's dimensions with the first's from that axis, where numpy (opset 7 on) aligns
 * them from the right: the operand is reshaped with trailing 1s first. */
static void legacy_broadcast(Importer *im, OxNode *n) {
  if (n->opset >= 7 || n->nin != 2 || !n->in[0] || !n->in[1] || !ox_attr_int(n, "broadcast", 0)) return;
  const Onnx__AttributeProto *axis = ox_attr(n, "axis");
  if (!axis) return;
  OxValue *a = n->in[0], *b = n->in[1];
  int ax = ox_axis(n, axis->i, a->rank), want = a->rank - ax;
  if (b->rank > want) ox_fail(n, "legacy broadcasting: operand 2 has rank %d, more than %d from axis %d", b->rank, want, ax);
  if (b->rank == want) return;
  OxValue *r = pool_alloc(&im->pool, sizeof *r);
  *r = *b;
  for (int d = b->rank; d < want; d++) r->dims[d] = 1;
  r->rank = want;
  if (!b->k || b->param) {
    r->name = names_fresh(&im->names, &im->pool, pool_printf(&im->pool, "%s_aligned", b->name));
    text_add(&im->snip, "%s = reshape(%s, %s)\n", r->name, b->i32 ? ox_i(n, 1) : ox_f(n, 1), ox_list(n, r->dims, r->rank));
    r->local = true, r->k = NULL, r->param = false;
  }
  n->in[1] = r;
}

/* The operators whose opset 1 to 5 definitions gradc reads as their opset 6 ones: the same
 * attributes and meaning, `consumed_inputs` (a hint for in-place kernels) apart; binary
 * ones with broadcast=1 go through legacy_broadcast. Any other operator of a model older
 * than opset 6 is refused: its old definition may differ (Reshape's shape attribute,
 * Concat's default axis, Pad's `paddings`). */
static bool old_opset_ok(const char *op) {
  static const char *const ok = " Abs Add And Ceil Clip Constant Div Elu Equal Exp Floor Greater HardSigmoid Hardmax "
                                "Identity LeakyRelu Less Log LogSoftmax MatMul Max Mean Min Mul Neg Not Or PRelu "
                                "Reciprocal Relu Selu Sigmoid Softmax Softplus Softsign Sqrt Sub Sum Tanh Transpose Xor "
                                "GlobalAveragePool GlobalMaxPool DepthToSpace SpaceToDepth Shape Size Squeeze Unsqueeze "
                                "Flatten Gather ";
  char word[96];
  snprintf(word, sizeof word, " %s ", op);
  return strstr(ok, word) != NULL;
}

/* The run-time graph input a node's outputs are computed from, if any (the first). */
static const OxValue *source_of(const OxNode *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->source) return n->in[i]->source;
  return NULL;
}

static void import_node(Importer *im, int index) {
  const Onnx__NodeProto *p = im->m->graph->node[index];
  OxNode n = {.im = im, .p = p, .index = index, .opset = im->opset};
  if (p->domain && p->domain[0] && strcmp(p->domain, "ai.onnx"))
    ox_fail(&n, "operators of the domain '%s' are not supported (only the default ONNX domain)", p->domain);
  const OxOp *op = ox_find_op(p->op_type);
  if (!op) ox_fail(&n, "the operator %s is not supported", p->op_type);
  if (n.opset < 6 && !old_opset_ok(p->op_type))
    ox_fail(&n, "%s is supported from opset 6 (its definition before may differ): re-export the model with a newer "
            "opset", p->op_type);
  node_inputs(im, &n);
  for (int i = 0; i < op->min_inputs; i++)
    if (i >= n.nin || !n.in[i]) ox_fail(&n, "input %d is required (the operator takes at least %d)", i, op->min_inputs);
  /* Outputs are created first (their names are reserved) with input 0's type; a converter
   * that sets out_type changes it. */
  node_outputs(im, &n);
  im->nrefs = 0;
  im->snip.len = 0;
  if (im->snip.s) im->snip.s[0] = 0;
  legacy_broadcast(im, &n);
  op->convert(&n);
  for (int i = 0; i < n.nout; i++)
    if (n.out[i]) n.out[i]->type = n.out_type[i], n.out[i]->source = source_of(&n);
  bool all_known = true;
  for (int i = 0; i < n.nout; i++) all_known &= !n.out[i] || n.out[i]->k;
  bool fold = all_known || check_node(im, &n);
  text_add(&im->body, "# node %d '%s': %s%s\n", index, p->name ? p->name : "", p->op_type,
           fold ? " (evaluated at import time)" : "");
  if (fold) return;
  text_add(&im->body, "%s", im->snip.s ? im->snip.s : "");
  for (int i = 0; i < im->nrefs; i++) im->refs[i]->declared = true;
}

void im_nodes(Importer *im) {
  int *ord = order(im);
  for (size_t i = 0; i < im->m->graph->n_node; i++) import_node(im, ord[i]);
}
