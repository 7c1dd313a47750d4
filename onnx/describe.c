/* describe.c — gc_onnx_describe: what a model is made of (its operator types and element
 * types), for the conformance runner's scope and for messages. */
#include <stdio.h>
#include <string.h>
#include "gradc/onnx.h"
#include "read.h"

static void add_op(char *ops, size_t len, const char *op) {
  size_t n = strlen(op);
  for (const char *p = ops; (p = strstr(p, op)); p += n)
    if ((p == ops || p[-1] == ' ') && (p[n] == ' ' || !p[n])) return;
  size_t used = strlen(ops);
  if (used + n + 2 < len) snprintf(ops + used, len - used, "%s%s", used ? " " : "", op);
}

static void add_type(uint64_t *types, const Onnx__ValueInfoProto *v) {
  const Onnx__TypeProto__Tensor *t = ox_tensor_type(v->type);
  if (t) *types |= 1ull << (t->elem_type & 63);
  else *types |= 1ull << 63; /* not a tensor */
}

static void graph(const Onnx__GraphProto *g, char *ops, size_t len, uint64_t *types) {
  for (size_t i = 0; i < g->n_input; i++) add_type(types, g->input[i]);
  for (size_t i = 0; i < g->n_output; i++) add_type(types, g->output[i]);
  for (size_t i = 0; i < g->n_value_info; i++) add_type(types, g->value_info[i]);
  for (size_t i = 0; i < g->n_initializer; i++) *types |= 1ull << (g->initializer[i]->data_type & 63);
  for (size_t i = 0; i < g->n_node; i++) {
    add_op(ops, len, g->node[i]->op_type);
    for (size_t j = 0; j < g->node[i]->n_attribute; j++) {
      const Onnx__AttributeProto *a = g->node[i]->attribute[j];
      if (a->g) graph(a->g, ops, len, types);
      for (size_t k = 0; k < a->n_graphs; k++) graph(a->graphs[k], ops, len, types);
    }
  }
}

int gc_onnx_describe(const char *path, char *ops, size_t opslen, uint64_t *types, char *err, size_t errlen) {
  Onnx__ModelProto *m = ox_read_model(path, err, errlen);
  if (!m) return -1;
  if (opslen) ops[0] = 0;
  *types = 0;
  graph(m->graph, ops, opslen, types);
  ox_free_model(m);
  return 0;
}
