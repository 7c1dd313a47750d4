/* gradc/compiler.h — the compiler library's interface (the gradc driver is a thin layer
 * over it). One call runs the whole pipeline on one model:
 *
 *   parse -> build graph (shapes) -> [bake weights] -> autodiff
 *   -> optimise (simplify, CSE, dead code)
 *   -> per entry point: schedule (fusion) -> memory plan -> lower to LLVM -> emit
 *
 * Errors in the model are returned as text (`FILE:LINE:COL: error: ...`, the source
 * line and a caret); the library prints nothing (unless asked to dump the graph) and
 * never exits — except where LLVM itself would end the process (a fatal error of a
 * target's backend, a crash inside LLVM): then it removes its temporary files, says so
 * on stderr and exits with status 1 — or where an internal invariant breaks (a message,
 * then abort()). Outputs are written to a temporary file and renamed into place, so a
 * failed compile leaves nothing. */
#ifndef GRADC_COMPILER_H
#define GRADC_COMPILER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  GC_EMIT_SO,     /* shared object + header beside it */
  GC_EMIT_OBJ,    /* object file + header beside it */
  GC_EMIT_ASM,    /* assembly */
  GC_EMIT_LLVM,   /* textual LLVM IR */
  GC_EMIT_HEADER, /* the C header alone */
  GC_EMIT_IR,     /* gradc's graph after all passes, readable */
  GC_EMIT_DOT,    /* Graphviz: forward, backward, parameters, fused kernels */
} gc_emit;

/* The graph passes, as bits of gc_options.dump_after. */
typedef enum {
  GC_PASS_BUILD = 1,    /* the syntax tree to the graph (names, shapes) */
  GC_PASS_BAKE = 2,     /* parameters baked in (with weights) */
  GC_PASS_AUTODIFF = 4, /* the backward graph appended (without inference) */
  GC_PASS_OPTIMIZE = 8, /* simplification, CSE, dead code */
} gc_pass;

typedef struct {
  const char *path;   /* the model file, as named in messages */
  const char *source; /* its text, or NULL to read `path` */
  const char *const *define_names; /* -D NAME=INT */
  const long long *define_values;
  int ndefines;
  const char *const *freeze; /* --freeze */
  int nfreeze;
  bool inference;     /* no backward entry, no loss */
  int opt_level;      /* 0..3 */
  const char *triple; /* NULL: the host */
  const char *cpu;    /* NULL: the host's CPU when the target is the host, else generic */
  const char *weights; /* safetensors file whose parameters are baked in, or NULL */
  bool stats;          /* fill gc_result's footprint (emits the object once more, in memory) */
  int threads;         /* large products are split into at most this many parts for a host's
                          thread pool (NAME_set_parallel); 0: the host's cores when
                          compiling for the host (at most 8), else 1 = no split */
  gc_emit emit;
  const char *out;    /* output path; for SO/OBJ the header goes to OUT with .h */
  const char *optimizer; /* the train step's update rule, a name of gradc_optimizers[]
                            (gradc/runtime_core.h): "sgd" (NULL), "adam", "adamw", "rmsprop" */
  bool optimizer_full;   /* its hyper argument holds every value of the rule; without, the
                            rule's base ones (sgd: {lr, momentum, weight_decay}, as before
                            dampening and Nesterov: those are then 0; the others: all) */
  const char *cc;      /* SO: the C compiler driver that links the objects (`CC -shared -o OUT
                          OBJ...`, found on PATH); NULL or "": "cc". The gradc driver sets it
                          from $GRADC_CC */
  int codegen_threads; /* SO: threads generating a large model's machine code: 1, one; 2 or
                          more, two; 0 (or less): two where this process may run on two cores
                          or more. The output is the same bytes either way. The gradc driver
                          sets it from $GRADC_CODEGEN_THREADS */
  /* Debugging the compiler. */
  bool profile_kernels; /* every kernel a function of its own, never inlined, so that profiles
                           (perf report) name it; the gradc driver sets it from
                           $GRADC_PROFILE_KERNELS=1. The library reads no environment variable
                           (but $TMPDIR, for the temporary of an output written in place) */
  bool verify;         /* check the IR's invariants after every graph pass (always done by a
                          debug build of the library); a broken one is an internal error: a
                          message on stderr, then abort() */
  unsigned dump_after; /* gc_pass bits: after each of these passes that runs, print the graph
                          to stderr in the form of GC_EMIT_IR (the library's only printing) */
} gc_options;

/* The footprint of the compiled object: bytes of code, of constant data (baked
 * weights included, the descriptor apart), of the descriptor; the buffers the caller
 * owns; and per entry point a stack-frame estimate (the frame's own allocations after
 * optimisation, not register spills). */
typedef struct {
  int64_t code, constants, descriptor;
  int64_t inputs, params, grads, momentum, outputs;
  int nentries;
  char entry[3][300];
  int64_t frame[3];
} gc_footprint;

typedef struct {
  char model[256];
  int64_t workspace_bytes;
  int nkernels_forward, nkernels_backward;
  char header_path[4096]; /* SO/OBJ: where the header was written */
  double flops_forward, flops_backward; /* matrix-product and convolution FLOPs per call */
  char batch_name[256];   /* the `batch` dimension's name, "" if none */
  int64_t batch_size;
  gc_footprint foot;       /* with opt.stats */
  int objects;             /* SO: object files linked; 2 when machine code was generated on two
                              threads (a large model on a machine with two cores or more) */
  char warnings[4096];     /* the model's warnings (`FILE:LINE:COL: warning: ...`, the source line,
                              a caret), ready for stderr; "" if none. The library prints nothing. */
} gc_result;

/* Returns 0 on success; 1 if the model (or an option naming part of it) is wrong, with
 * the message in err; 2 if an output could not be produced (I/O, linker), likewise. */
int gc_compile(const gc_options *opt, gc_result *res, char *err, size_t errlen);

const char *gc_version(void);

/* ---- The reference evaluator: the optimised graph, forward and backward, evaluated
 * node by node in float64 with the op table's reference semantics (the test oracle;
 * `gradc check` differentiates it by finite differences). ---- */

typedef struct gc_graph gc_graph;

/* Parses, builds, differentiates (unless opt->inference) and optimises; no codegen.
 * NULL on error, with the message in err. */
gc_graph *gc_graph_build(const gc_options *opt, char *err, size_t errlen);
void gc_graph_free(gc_graph *g);
/* Buffers (float64, row-major) of inputs and params to set, and of outputs to read;
 * i32 inputs hold their integer values. NULL if there is no such tensor. */
double *gc_graph_tensor(gc_graph *g, const char *name, size_t *count);
/* The dtype (i32, else f32) and shape of an input, parameter or output; false if there is
 * no such tensor. */
bool gc_graph_shape(const gc_graph *g, const char *name, bool *i32, int64_t dims[8], int *rank);
/* Evaluates every node: outputs, the loss and the symbolic gradients. */
void gc_graph_eval(gc_graph *g);
double gc_graph_loss(const gc_graph *g); /* NaN without a loss */
/* d loss / d param as derived by autodiff, after gc_graph_eval; NULL for a param
 * without a gradient (frozen, or not reaching the loss: then the gradient is 0). */
const double *gc_graph_grad(gc_graph *g, const char *param, size_t *count);
/* For an i32 input used as class labels or indices (cross_entropy, nll_loss, embedding,
 * gather, one_hot): the bound its values must stay below (0 if none). */
int64_t gc_graph_label_classes(const gc_graph *g, const char *input);
/* Whether the model calls detach(): then its gradients (as PyTorch's) are not the
 * derivative of the loss that finite differences measure. */
bool gc_graph_detaches(const gc_graph *g);
/* The step seed dropout draws its masks from (the training entries' `seed` argument,
 * docs/ABI.md); 0 until set. The graph is the training-mode one unless opt->inference. */
void gc_graph_set_seed(gc_graph *g, uint64_t step_seed);

/* Kinks. Finite differences measure no slope where an input of an operator with a kink
 * (relu, leaky_relu, abs, maximum, minimum, max, max_pool2d; a comparison or where's
 * condition flipping; floor, ceil, round or sign stepping) crosses it within the step.
 * After gc_graph_eval, state[KIND] is a fingerprint of which side of its kink every input
 * of the KIND operators the loss depends on is (the sign of x, or of a - b; which element
 * is the maximum); 0 where the model has none. Two evaluations with equal states took the
 * same smooth branch everywhere. gc_graph_kink_op(KIND) is the operator's name. */
#define GC_GRAPH_KINK_OPS 9
void gc_graph_kink_state(gc_graph *g, uint64_t state[GC_GRAPH_KINK_OPS]);
const char *gc_graph_kink_op(int kind);

#ifdef __cplusplus
}
#endif
#endif
