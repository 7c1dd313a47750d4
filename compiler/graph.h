/* graph.h — the graph IR every stage after parsing works on.
 *
 * A Graph is a list of Nodes in topological order (a node's inputs always come before
 * it). Every node is a primitive operator from the table in ops.c, with a static shape
 * and dtype computed when it is created (graph_node calls the op's shape rule). The
 * backward graph made by autodiff.c is made of the same nodes, so the optimiser, the
 * scheduler and the code generator never distinguish forward from backward.
 *
 * Shapes: row-major, rank <= GC_MAX_RANK, every dimension >= 1. Elementwise binary ops
 * broadcast as NumPy does (shapes aligned on the right, size-1 dimensions stretch). */
#ifndef GRADC_GRAPH_H
#define GRADC_GRAPH_H
#include <stdbool.h>
#include <stdint.h>
#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "ops.h"

#define GC_MAX_RANK 8
#define GC_MAX_ARITY 4 /* operands of a node (SDPA_BWD: q, k, v, dO) */

typedef struct {
  int rank;
  int64_t d[GC_MAX_RANK];
} Shape;

typedef enum { ROLE_NONE, ROLE_INPUT, ROLE_PARAM } LeafRole;

/* A parameter's initial distribution, resolved from its INIT (build.c). */
typedef enum { INIT_CONST, INIT_NORMAL, INIT_UNIFORM } InitKind;
typedef struct {
  InitKind kind;
  double a, b; /* CONST: a; NORMAL: std a; UNIFORM: [a, b) */
} InitSpec;

/* Attributes: what an op reads besides its operands, one struct per kind. Each op has
 * one kind (OpInfo.attr, opinfo.h), which tags the union in its nodes: read and write
 * them through the accessors of opinfo.h (node_const(n), node_reduce(n), ...), which
 * check the tag in debug builds. gc_attrs (opinfo.h) says per kind how they print,
 * compare (CSE) and what values are sane (the verifier). */
typedef enum {
  ATTR_NONE,
  ATTR_CONST,  /* CONST */
  ATTR_POW,    /* POWC */
  ATTR_ONEHOT, /* ONEHOT */
  ATTR_REDUCE, /* SUM, MAX, ARGMAX_MASK, PROD, ARGMAX */
  ATTR_PERM,   /* PERMUTE */
  ATTR_MATMUL, /* MATMUL */
  ATTR_CONV,   /* CONV2D, CONV2D_DX, CONV2D_DW */
  ATTR_POOL,   /* MAXPOOL, MAXPOOL_DX, AVGPOOL, AVGPOOL_DX */
  ATTR_SLICE,  /* SLICE, PAD (issue 15: indexing) */
  /* ---- attention (issue 15) ---- */
  ATTR_TRI,    /* TRI */
  ATTR_SDPA,   /* SDPA, SDPA_BWD */
  /* ---- indexing II (issue 15) ---- */
  ATTR_GATHER, /* GATHER, SCATTER_ADD */
  ATTR_DROPOUT, /* DROPOUT (issue 15: dropout and modes) */
  ATTR__COUNT
} AttrKind;

typedef struct {
  double value; /* every element */
} ConstAttr;
typedef struct {
  double exponent; /* x^exponent */
} PowAttr;
typedef struct {
  int64_t classes; /* C: labels [N] -> [N, C] */
} OnehotAttr;
typedef struct {
  unsigned axes; /* bitmask of the reduced axes, kept as size 1 (ARGMAX_MASK, ARGMAX: its one axis) */
  bool first;    /* MAX only: the gradient goes to the first maximum along its one axis
                    (torch.max(x, dim)); false: ties share it (torch.amax) */
} ReduceAttr;
typedef struct {
  int perm[GC_MAX_RANK]; /* result axis i is operand axis perm[i] */
} PermAttr;
typedef struct {
  bool ta, tb; /* operand A / B stored transposed */
} MatmulAttr;
/* Per spatial axis (0 rows, 1 columns): the kernel's size is the weight's; window
 * element k of output position o reads input o * stride - lo + k * dil, zero outside
 * (lo padding before, hi after: torch's padding="same" pads more after). Input channel
 * group g = o / (O / groups) reads channels g * C/groups ... of the input. */
typedef struct {
  int stride[2], dil[2], lo[2], hi[2], groups;
} ConvAttr;
typedef struct {
  int k[2], stride[2], pad[2]; /* window, stride, padding on both sides (never a winner of max) */
} PoolAttr;

/* SLICE: y[i] = x[start + i step] per axis; PAD, its adjoint: y[start + i step] = x[i],
 * `value` elsewhere. A step may be negative (a reversed axis); never 0. */
typedef struct {
  int64_t start[GC_MAX_RANK], step[GC_MAX_RANK];
  double value; /* PAD only */
} SliceAttr;

/* ---- attention (issue 15) ---- */
/* TRI: x where (column - row <= diag) (tril), or >= diag when upper (triu), else 0,
 * over the last two axes. */
typedef struct {
  int64_t diag;
  bool upper;
} TriAttr;
/* SDPA: softmax(q k^T scale + causal mask) v over the last two axes; causal keeps
 * key j <= query i (torch's is_causal, top-left aligned). */
typedef struct {
  double scale;
  bool causal;
} SdpaAttr;
/* ---- indexing II (issue 15) ----
 * GATHER(x, index): y[o] = x[o with axis replaced by index[o]] (index, i32, broadcast
 * into y's shape; an index outside [0, x.d[axis]) reads 0). SCATTER_ADD(dy, index), its
 * adjoint: y (x's shape, set by the constructor) = 0, then y[o with axis replaced by
 * index[o]] += dy[o] for each o of dy (out-of-range indices add nothing). */
typedef struct {
  int axis;
} GatherAttr;
/* ---- dropout and modes (issue 15) ----
 * DROPOUT: y = x * (keep ? scale : 0), keep drawn per element from the step seed
 * (ops_random.h: Philox4x32-10 of counter (element index, salt, 0, 0)). keep is
 * u >= threshold, u the 32-bit draw: threshold = ceil(p * 2^32) with 0 < p < 1;
 * scale = float(1 / float(1 - p)), torch's. salt tells dropout sites apart. */
typedef struct {
  double p;
  uint32_t salt;
} DropoutAttr;

typedef union {
  ConstAttr cnst;
  PowAttr powc;
  OnehotAttr onehot;
  ReduceAttr reduce;
  PermAttr perm;
  MatmulAttr matmul;
  ConvAttr conv;
  PoolAttr pool;
  SliceAttr slice;
  TriAttr tri;
  SdpaAttr sdpa;
  GatherAttr gather;
  DropoutAttr dropout;
} NodeAttr;

typedef struct Node Node;
struct Node {
  int id;      /* index in Graph.nodes at creation; stable name in dumps (%id) */
  OpKind op;
  DType dtype;
  Shape shape;
  int nin;
  Node *in[GC_MAX_ARITY];
  NodeAttr attr; /* tagged by gc_ops[op].attr; compared by CSE */
  /* Provenance. */
  const char *name; /* the user's name for this value, if any */
  SrcLoc loc;
  bool is_grad;     /* made by autodiff (drawn in the backward cluster) */
  /* Leaves. */
  LeafRole role;
  int leaf_index;   /* declaration order among inputs / among params */
  bool trainable;   /* PARAM and not frozen (never a buffer) */
  bool buffer;      /* PARAM declared `buffer`: model state (running statistics) that training-mode
                       entries may overwrite through Graph.stores, never trained */
  bool batched;     /* dim 0 is the `batch` dimension */
  int64_t classes;  /* i32 INPUT: classes of the cross_entropy reading it, else 0 */
  InitSpec init;    /* PARAM */
  const float *baked; /* PARAM baked in with --weights: its values (read-only data) */
  int sink_arg;     /* COPY/SGD: the entry argument it stores into */
  /* Scratch for passes. */
  Node *repl;       /* opt.c: forwarding pointer after a rewrite */
  int uses;
  int mark;
};

typedef struct {
  Arena *arena;
  Diag *diag;
  SrcLoc loc;       /* location given to new nodes (shape errors point here) */
  const char *what; /* the operator as the user wrote it ("mse", "+"), for shape errors of
                       the nodes it expands into; NULL: the node's own op name */
  const char *model;
  const char *batch_name; /* `batch NAME = SIZE`, or NULL */
  int64_t batch_size;
  Node **nodes;
  int n, cap;
  Node **inputs, **params; /* leaves in declaration order */
  int ninputs, nparams;
  Node **outputs;          /* `output` names, in order */
  const char **output_names;
  int noutputs;
  Node *loss;              /* `minimize`, or NULL */
  bool detaches;           /* the model calls detach(): its gradient is not the loss's derivative */
  bool training;           /* built in training mode (PyTorch model.train()): dropout drops,
                              batch_norm normalises by the batch's statistics; else eval mode */
  bool mode_dependent;     /* some operator read `training`: the other mode's graph differs */
  bool baking;             /* every parameter will be baked in (--weights): work folded into the
                              parameters costs nothing at run time (batch_norm's folding) */
  Node **grads;            /* per param: d loss / d param (NULL if not trainable) */
  /* ---- batch norm and buffers (issue 15) ---- */
  Node **store_buf, **store_val; /* buffer i gets value i, stored by the training entries after every
                                    read of the old one (entry.c); at most one store per buffer */
  int nstores;
  int nfolded;             /* baked leaves opt.c computed from baked parameters (named folded_K) */
} Graph;

Graph *graph_new(Arena *a, Diag *d);
/* Creates a node, infers its shape (errors at `loc` through the diag). */
Node *graph_node(Graph *g, OpKind op, int nin, Node **in, SrcLoc loc);
/* Appends an already filled node (passes that rebuild); assigns its id. */
Node *graph_append(Graph *g, Node *n);

/* Collects every node the roots depend on, operands first, into out (room for g->n);
 * returns the count. Iterative: graph depth is bounded only by memory. */
int graph_topo(Graph *g, Node *const *roots, int nroots, Node **out);

/* Constructors for the common cases; nodes get the location g->loc. */
Node *g_const(Graph *g, double v);                 /* rank-0 f32 constant */
Node *g_full(Graph *g, double v, Shape s);         /* a constant filled tensor */
Node *g_unary(Graph *g, OpKind op, Node *x);
Node *g_binary(Graph *g, OpKind op, Node *a, Node *b);
Node *g_powc(Graph *g, Node *x, double e);
Node *g_sum(Graph *g, Node *x, unsigned axes);     /* keeps dims */
/* keeps dims; first: the gradient goes to the first maximum (one axis; see ReduceAttr) */
Node *g_max(Graph *g, Node *x, unsigned axes, bool first);
Node *g_reshape(Graph *g, Node *x, Shape s);
Node *g_expand(Graph *g, Node *x, Shape s);
Node *g_permute(Graph *g, Node *x, const int *perm);
Node *g_matmul(Graph *g, Node *a, Node *b, bool ta, bool tb);
/* Windowed ops: op is CONV2D or one of its gradients (operands a, b), or MAXPOOL /
 * AVGPOOL or one of their gradients (b NULL for a unary one); `shape` is the result's
 * shape for the gradient ops (that of the forward operand), else unused. */
Node *g_conv(Graph *g, OpKind op, Node *a, Node *b, const ConvAttr *c, Shape shape);
Node *g_pool(Graph *g, OpKind op, Node *a, Node *b, const PoolAttr *p, Shape shape);
/* 1 at the first maximum of x along the one axis in `axes`, 0 elsewhere (x's shape). */
Node *g_argmax_mask(Graph *g, Node *x, unsigned axes);
Node *g_prod(Graph *g, Node *x, unsigned axes); /* keeps dims */
/* The index (i32) of the first maximum of x along the one axis in `axes`, kept as size 1. */
Node *g_argmax(Graph *g, Node *x, unsigned axes);
Node *g_onehot(Graph *g, Node *labels, int64_t classes); /* i32 [N] -> f32 [N, C] */
/* SLICE (out of shape s: x[start + i step] per axis) and PAD (its adjoint: x placed at
 * start + i step of a tensor of shape s filled with value). */
Node *g_slice(Graph *g, Node *x, const int64_t *start, const int64_t *step, Shape s);
Node *g_pad(Graph *g, Node *x, const int64_t *start, const int64_t *step, Shape s, double value);
/* Records that the training-mode entries store v (buffer's shape, f32) into buffer, a
 * `buffer` leaf; false if buffer already has a store. */
bool g_store(Graph *g, Node *buffer, Node *v);
/* ---- attention (issue 15) ---- */
Node *g_tri(Graph *g, Node *x, int64_t diag, bool upper);
/* SDPA(q, k, v) -> [.., T, Dv]; SDPA_BWD(q, k, v, dO) -> [.., T*D + S*D + S*Dv]: dq, dk, dv
 * packed along the last axis, in that order. */
Node *g_sdpa(Graph *g, Node *q, Node *k, Node *v, Node *dout, const SdpaAttr *a);
/* ---- indexing II (issue 15) ---- GATHER of x along axis by i32 index into shape s,
 * and SCATTER_ADD of dy by index into shape s (see GatherAttr). */
Node *g_gather(Graph *g, Node *x, Node *index, int axis, Shape s);
Node *g_scatter_add(Graph *g, Node *dy, Node *index, int axis, Shape s);
/* ---- dropout and modes (issue 15) ---- DROPOUT of x (0 < p < 1) at site `salt`. */
Node *g_dropout(Graph *g, Node *x, double p, uint32_t salt);
/* Sums x down to shape s (the adjoint of broadcasting). */
Node *g_sum_to(Graph *g, Node *x, Shape s);

/* Bytes of n's value: its element count times its dtype's size. */
int64_t node_bytes(const Node *n);

/* Shapes. */
Shape shape_of(int rank, const int64_t *d);
Shape shape_scalar(void);
int64_t shape_count(Shape s);
bool shape_eq(Shape a, Shape b);
bool shape_broadcast(Shape a, Shape b, Shape *out);
char *shape_str(Arena *a, Shape s); /* "[5, 3]" */
/* Row-major strides of `s` as seen from an `out`-ranked broadcast: 0 where s is
 * stretched. out_rank >= s.rank; the result has out_rank entries. */
void shape_bstrides(Shape s, int out_rank, int64_t *strides);

#endif
