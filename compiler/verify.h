/* verify.h — the IR verifier: the invariants a Graph (graph.h) keeps between passes.
 *
 * verify_graph checks the whole graph: every node's id is its position and its operands
 * come before it (topological order) and are nodes of the graph; its op is in the table
 * with the table's arity; its dtype is one the IR produces (f32, i32), its operands' and
 * its own follow its op's dtype rule (OpInfo.dtype: f32 operands where the op takes f32);
 * its attributes are sane for their kind (gc_attrs: a stride of at least 1, a
 * permutation, ...); its shape and dtype are what the op's shape rule gives when run
 * again (on a copy); no node keeps a forwarding pointer (repl) of a finished pass; the
 * leaves, outputs, loss and gradients are nodes of the graph, each gradient with its
 * parameter's shape; sinks (COPY, SGD) are nobody's operand. verify_entry checks what an
 * entry point adds (its sinks and live list). Both return NULL, or a message naming the
 * node (arena-allocated).
 *
 * compile.c runs them after every graph pass in a debug build of the library (NDEBUG not
 * defined) and when gc_options.verify is set (the tests): a failure is an internal error. */
#ifndef GRADC_VERIFY_H
#define GRADC_VERIFY_H
#include "entry.h"
#include "graph.h"

const char *verify_graph(Graph *g);
const char *verify_entry(Graph *g, const Entry *e);

/* After pass `pass` ("build", "autodiff", ...): message is verify_graph's or
 * verify_entry's result; when not NULL, says so on stderr and aborts. */
void verify_or_abort(const char *pass, const char *message);

#endif
