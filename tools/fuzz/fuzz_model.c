/* fuzz_model.c — libFuzzer target for the model language front end.
 *
 * Input: the text of a .grad file. Runs what gc_graph_build runs (parse, graph
 * building with shape inference, autodiff, optimisation) through the compiler's
 * internal stages, with a Diag of our own so a user error lands in our setjmp. That
 * pass allocates only the arena, so models declaring huge tensors are cheap. Then, when
 * the optimised graph is small (total elements over all nodes below EVAL_LIMIT), it runs
 * the public gc_graph_build + gc_graph_eval (the reference evaluator, float64) on the
 * same text and reads the loss and every gradient. Every 4th input is also built with
 * .inference = true. No LLVM codegen.
 *
 * Like the compiler's file reader, text with an embedded NUL byte is rejected. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "build.h"
#include "gradc/compiler.h"
#include "graph.h"
#include "opt.h"

#define EVAL_LIMIT (1 << 14) /* total elements over all nodes; bounds the evaluator's work */

/* Front end through the internal stages; returns the total element count of the
 * optimised graph (saturating), or -1 if the model was rejected. */
static int64_t front_end(const char *src, int inference, char *names_out, size_t names_len) {
  Arena *a = arena_new();
  Diag *d = ARENA_NEW(a, Diag);
  d->file = "fuzz.grad";
  d->src = src;
  volatile int64_t total = -1;
  if (!setjmp(d->jb)) {
    BuildOptions bo = {.training = !inference}; /* the mode gc_graph_build builds (front_mode) */
    Program *p = parse_program(a, d);
    Graph *g = build_graph(a, d, p, &bo);
    if (!inference) autodiff(g);
    optimize(g);
    int64_t t = 0;
    for (int i = 0; i < g->n; i++) {
      int64_t c = shape_count(g->nodes[i]->shape);
      t = c > INT64_MAX - t ? INT64_MAX : t + c;
    }
    total = t;
    /* The leaves' names, NUL-separated, for setting inputs and params afterwards. */
    size_t o = 0;
    for (int i = 0; i < g->ninputs + g->nparams; i++) {
      const Node *n = i < g->ninputs ? g->inputs[i] : g->params[i - g->ninputs];
      size_t l = strlen(n->name) + 1;
      if (o + l + 1 > names_len) break;
      memcpy(names_out + o, n->name, l);
      o += l;
    }
    names_out[o] = 0;
  }
  arena_free(a);
  return total;
}

static void eval_small(const char *src, int inference, const char *names, uint64_t seed) {
  char err[4096];
  gc_options o = {.path = "fuzz.grad", .source = src, .inference = inference, .opt_level = 2};
  gc_graph *g = gc_graph_build(&o, err, sizeof err);
  if (!g) __builtin_trap(); /* the front end accepted it above: the public API must too */
  for (const char *nm = names; *nm; nm += strlen(nm) + 1) {
    size_t count = 0;
    double *v = gc_graph_tensor(g, nm, &count);
    if (!v) continue;
    int64_t classes = gc_graph_label_classes(g, nm);
    for (size_t k = 0; k < count; k++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t r = (uint32_t)(seed >> 33);
      v[k] = classes > 0 ? (double)(r % (uint64_t)classes) : ((double)(r % 2001) - 1000.0) / 250.0;
    }
  }
  gc_graph_eval(g);
  volatile double sink = gc_graph_loss(g);
  for (const char *nm = names; *nm; nm += strlen(nm) + 1) {
    size_t count = 0;
    const double *gr = gc_graph_grad(g, nm, &count);
    for (size_t k = 0; gr && k < count; k++) sink += gr[k];
  }
  (void)sink;
  gc_graph_free(g);
}

static void one(const char *src, int inference, uint64_t seed) {
  char names[8192];
  int64_t total = front_end(src, inference, names, sizeof names);
  if (total >= 0 && total < EVAL_LIMIT) eval_small(src, inference, names, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (memchr(data, 0, size)) return 0; /* as diag_read_file: a NUL byte is refused */
  char *src = malloc(size + 1);
  if (!src) return 0;
  memcpy(src, data, size);
  src[size] = 0;
  uint64_t h = 1469598103934665603ull; /* FNV-1a: a deterministic per-input choice */
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
  one(src, 0, h);
  if ((h & 3) == 0) one(src, 1, h);
  free(src);
  return 0;
}
