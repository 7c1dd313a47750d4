/* entry.h — an entry point of the generated code, from its roots to its memory plan.
 *
 * entry.c chooses, for one entry point (forward, backward or train step), the roots it
 * computes, adds sink nodes (COPY into an output or the loss; SGD for a gradient: added
 * into its buffer, or stored and applied, by mode) and lists its ABI arguments;
 * schedule.c groups its live nodes into kernels (fusion); memplan.c gives
 * every value a buffer (an argument, a slice of the workspace, an alias of another
 * buffer, or none when it lives in registers inside a fused kernel). */
#ifndef GRADC_ENTRY_H
#define GRADC_ENTRY_H
#include "graph.h"
#include "gradc/runtime_core.h" /* gradc_optimizer */

/* FORWARD: outputs (and the loss); BACKWARD: also ADDS the gradients into grad
 * buffers; TRAIN: a whole optimizer step — stores this step's gradients (overwriting, as
 * zero_grad + backward would) and updates each parameter (and its optimizer state) in
 * place as soon as its gradient is complete, by the rule Entry.optimizer describes
 * (SGD by default: hyper = {lr, momentum, weight decay}, torch.optim.SGD semantics).
 * BACKWARD and TRAIN share one compiled core (entry.c). */
typedef enum { ENTRY_FORWARD, ENTRY_BACKWARD, ENTRY_TRAIN } EntryKind;

/* ARG_SEED (dropout and modes, issue 15): `const uint64_t *seed`, the step seed of an
 * entry whose graph draws random numbers (a DROPOUT node), before the workspace. */
typedef enum { ARG_INPUT, ARG_PARAM, ARG_GRAD, ARG_STATE, ARG_OUTPUT, ARG_LOSS, ARG_HYPER, ARG_SEED, ARG_WORKSPACE } ArgKind;

typedef struct {
  ArgKind kind;
  Node *node;       /* INPUT/PARAM: the leaf; GRAD: the param; OUTPUT/LOSS: the sink */
  const char *name;  /* tensor name ("x"; for GRAD the param's) */
  const char *cname; /* its name in C (header, LLVM values, IR listing): see entry.c */
  int slot;          /* STATE: which of the optimizer's state tensors of the param */
} Arg;

/* KER_ELEM: one loop nest over `shape`, every member computed per element.
 * KER_OP: one op of its own (a matmul, with its elementwise epilogue after it).
 * KER_ROWS: a loop over the rows of `shape` [..., C]; per row, `nloops` loops over the
 * C elements in turn, with reductions along the row (softmax's max and sum) between
 * them: members of shape [..., C] and reductions run in the loop Entry.loop_of gives,
 * row-level members (shape [..., 1]) between loops (before loop loop_of; after the
 * last one if nloops), a reduction over every axis accumulates across rows. */
typedef enum { KER_ELEM, KER_OP, KER_ROWS } KernelKind;

struct Kernel {
  KernelKind kind;
  Node **nodes; /* KER_ELEM, KER_ROWS: fused members in order; KER_OP: the op (and epilogue) */
  int n;
  Shape shape;  /* iteration space of KER_ELEM and KER_ROWS */
  int parts;    /* > 1: split into parts the parallel runner may run at once (matmul.c) */
  int nloops;   /* KER_ROWS: loops per row */
};
typedef struct Kernel Kernel;

typedef enum {
  BUF_NONE,   /* not materialised (lives in registers within its fused kernel) */
  BUF_ARG,    /* a function argument (args[arg]) */
  BUF_WS,     /* workspace bytes [offset, offset + bytes) */
  BUF_ALIAS,  /* the buffer of `base` (reshape, detach) */
  BUF_CONST,  /* an inline constant (CONST nodes) */
  BUF_BAKED,  /* read-only data of the object (parameters baked in with --weights) */
} BufKind;

typedef struct {
  BufKind kind;
  int arg;
  int64_t offset, bytes;
  Node *base;
  Node *sgd;     /* the gradient sink whose store (add, or SGD update, by mode) the
                    producing kernel performs, or NULL */
  int64_t scratch_offset, scratch_bytes; /* workspace the producing kernel needs while it
                                            runs (matmul packing), or 0 bytes */
  int def, last; /* kernel indices: produced, last read (liveness) */
} Buffer;

typedef struct {
  const char *name; /* symbol, e.g. "logreg_backward" */
  EntryKind kind;
  Graph *g;         /* the graph it computes: the training-mode graph, or for the forward
                       entry of a model whose modes differ, the eval-mode one */
  Arg *args;
  int nargs;
  Node **sinks;     /* COPY / SGD nodes: what the entry must store */
  int nsinks;
  Node **live;      /* nodes the entry computes, topological order */
  int nlive;
  Node **placed;    /* by node id: the sink whose buffer the node is computed into
                       directly (the sink itself is then elided), else NULL */
  int *kernel_of;   /* by node id: index of the kernel computing it, -1 if none */
  int *loop_of;     /* by node id, for members of a KER_ROWS kernel: see KernelKind */
  Kernel *kernels;
  int nkernels;
  Buffer *buf;      /* indexed by node id */
  int64_t ws_bytes;
  int vw;           /* target SIMD width, as in EntryOptions */
  int threads;      /* as in EntryOptions */
  const gradc_optimizer *optimizer; /* TRAIN: the update its SGD sinks apply (runtime_core.h):
                                       its state tensors are STATE arguments, its
                                       values the HYPER argument */
  int nhyper;       /* TRAIN: the optimizer's values the HYPER argument holds (its nbase, or
                       all with EntryOptimizer.full); guards of user
                       hyper-parameters past them are off at compile time */
} Entry;

typedef struct {
  bool inference;   /* no backward entry; forward drops loss-only inputs */
  int vw;           /* the target's SIMD width in floats (the kernels' scratch depends on it) */
  int threads;      /* the most parts a large kernel is split into (1: none) */
} EntryOptions;

/* The train step's update rule, and whether its hyper argument holds all of the rule's
 * values (full) or the base ones (Entry.nhyper). */
typedef struct {
  const gradc_optimizer *rule;
  bool full;
} EntryOptimizer;

/* Builds the entry (roots, sinks, args). graph must be fully optimised. A train step
 * applies opt's rule; entry_build's is SGD with its base values. */
Entry *entry_build_with(Graph *g, EntryKind kind, EntryOptions opt, EntryOptimizer optimizer);
Entry *entry_build(Graph *g, EntryKind kind, EntryOptions opt);
/* Whether sink s (a COPY) stores a buffer's new value into the buffer's argument
 * (training entries: batch_norm's running statistics), rather than into an output. */
bool entry_buffer_store(const Entry *e, const Node *s);
/* Floating-point operations of the entry's matrix products and convolutions (2 per
 * multiply-add): the work a minimal implementation must do; elementwise work excluded. */
double entry_flops(const Entry *e);
/* schedule.c: fills e->kernels (fusion). */
void schedule_entry(Graph *g, Entry *e);
/* schedule.c: whether c reads x from registers of the kernel computing both (else x
 * needs a buffer). */
bool kernel_keeps(const Entry *e, const Node *c, const Node *x);
/* schedule.c: whether reduction n, in a rows kernel, is over every axis of more than
 * one row (accumulated across rows; of one row, it is that row's). */
bool rows_total(const Node *n);
/* memplan.c: fills e->buf and e->ws_bytes. */
void memplan_entry(Graph *g, Entry *e);
/* memplan.c: checks the plan (no two live workspace buffers overlap); NULL or a message. */
const char *memplan_verify(Graph *g, Entry *e);

#endif
