/* ops.h — the list of primitive operators (name, arity, class).
 *
 * Everything else about a primitive is its row in the op table gc_ops (opinfo.h; rows
 * in ops.c; family files ops_window.c, ops_reduce.c): dtype and shape rules, attributes, its derivative (built
 * from other primitives, so the backward graph is ordinary graph nodes), its reference
 * evaluation (float64, the test oracle), FLOPs; its LLVM emitter is its row in the
 * backend's tables (lower_elem.h, lower_ops.h).
 * Operators of the language that are compositions (softmax, mse, cross_entropy, ...)
 * are not primitives: builtins.c expands them into these.
 * COPY and SGD are the sinks an entry point adds (entry.c): COPY stores its input into
 * an output buffer (or, in the train core, a buffer's new value into the buffer's own
 * argument: batch_norm's running statistics, issue 15); SGD(g, p) is a parameter's gradient sink — by the entry's mode it
 * adds g into p's gradient buffer (backward) or stores g and applies the optimizer's
 * update to p and its state in place (train step; lower_update.c). */
#ifndef GRADC_OPS_H
#define GRADC_OPS_H

/*  X(ENUM,    name,        arity, class) */
#define GC_OPS(X)                          \
  X(INPUT,     "input",     0, LEAF)       \
  X(PARAM,     "param",     0, LEAF)       \
  X(CONST,     "const",     0, LEAF)       \
  X(NEG,       "neg",       1, ELEM)       \
  X(EXP,       "exp",       1, ELEM)       \
  X(LOG,       "log",       1, ELEM)       \
  X(SQRT,      "sqrt",      1, ELEM)       \
  X(ABS,       "abs",       1, ELEM)       \
  X(SIGN,      "sign",      1, ELEM)       \
  X(STEP,      "step",      1, ELEM)       \
  X(TANH,      "tanh",      1, ELEM)       \
  X(SIGMOID,   "sigmoid",   1, ELEM)       \
  X(RELU,      "relu",      1, ELEM)       \
  X(SOFTPLUS,  "softplus",  1, ELEM)       \
  X(ERF,       "erf",       1, ELEM)       \
  X(POWC,      "powc",      1, ELEM)       \
  X(EXPAND,    "expand",    1, ELEM)       \
  X(DETACH,    "detach",    1, ALIAS)      \
  X(ADD,       "add",       2, ELEM)       \
  X(SUB,       "sub",       2, ELEM)       \
  X(MUL,       "mul",       2, ELEM)       \
  X(DIV,       "div",       2, ELEM)       \
  X(MAXIMUM,   "maximum",   2, ELEM)       \
  X(MINIMUM,   "minimum",   2, ELEM)       \
  X(EQ,        "eq",        2, ELEM)       \
  /* ---- comparisons and elementwise (issue 15): ops_elem.c ---- */ \
  X(LT,        "lt",        2, ELEM)       \
  X(LE,        "le",        2, ELEM)       \
  X(GT,        "gt",        2, ELEM)       \
  X(GE,        "ge",        2, ELEM)       \
  X(NE,        "ne",        2, ELEM)       \
  X(SELECT,    "select",    2, ELEM)       \
  X(POW,       "pow",       2, ELEM)       \
  X(SIN,       "sin",       1, ELEM)       \
  X(COS,       "cos",       1, ELEM)       \
  X(FLOOR,     "floor",     1, ELEM)       \
  X(CEIL,      "ceil",      1, ELEM)       \
  X(ROUND,     "round",     1, ELEM)       \
  X(SUM,       "sum",       1, REDUCE)     \
  X(MAX,       "max",       1, REDUCE)     \
  X(RESHAPE,   "reshape",   1, ALIAS)      \
  X(PERMUTE,   "permute",   1, KERNEL)     \
  X(MATMUL,    "matmul",    2, KERNEL)     \
  X(ONEHOT,    "onehot",    1, KERNEL)     \
  X(ARGMAX_MASK, "argmax_mask", 1, KERNEL) \
  X(CONV2D,    "conv2d",    2, KERNEL)     \
  X(CONV2D_DX, "conv2d_dx", 2, KERNEL)     \
  X(CONV2D_DW, "conv2d_dw", 2, KERNEL)     \
  X(MAXPOOL,   "max_pool2d", 1, KERNEL)    \
  X(MAXPOOL_DX, "max_pool2d_dx", 2, KERNEL) \
  X(AVGPOOL,   "avg_pool2d", 1, KERNEL)    \
  X(AVGPOOL_DX, "avg_pool2d_dx", 1, KERNEL) \
  /* reductions and losses (issue 15) */   \
  X(PROD,      "prod",      1, REDUCE)     \
  X(SQRT0,     "sqrt0",     1, ELEM)       \
  X(ARGMAX,    "argmax",    1, KERNEL)     \
  /* ---- indexing and assembling (issue 15) ---- */ \
  X(SLICE,     "slice",     1, KERNEL)     \
  X(PAD,       "pad",       1, KERNEL)     \
  /* ---- attention (issue 15): ops_attn.c ---- */ \
  X(TRI,       "tri",       1, KERNEL)     \
  X(SDPA,      "sdpa",      3, KERNEL)     \
  X(SDPA_BWD,  "sdpa_bwd",  4, KERNEL)     \
  /* ---- indexing II (issue 15): ops_index.c ---- */ \
  X(GATHER,    "gather",    2, KERNEL)     \
  X(SCATTER_ADD, "scatter_add", 2, KERNEL) \
  /* ---- dropout and modes (issue 15): ops_random.c ---- */ \
  X(DROPOUT,   "dropout",   1, ELEM)       \
  /* ---- dtype conversions (issue 16): ops_elem.c ---- */ \
  X(TO_F32,    "to_f32",    1, ELEM)       \
  X(TO_I32,    "to_i32",    1, ELEM)       \
  X(COPY,      "copy",      1, ELEM)       \
  X(SGD,       "sgd",       2, ELEM)

typedef enum {
#define X(e, name, arity, cls) OP_##e,
  GC_OPS(X)
#undef X
  OP__COUNT
} OpKind;

/* How the scheduler and code generator treat an op:
 * LEAF    no code (a function argument or an inline constant);
 * ELEM    one value per output element from same-index (broadcast) inputs: fusable;
 * ALIAS   no code, shares its input's buffer (reshape, detach);
 * REDUCE  a reduction over axes;
 * KERNEL  a kernel of its own (matmul, permute, ...). */
typedef enum { CLS_LEAF, CLS_ELEM, CLS_ALIAS, CLS_REDUCE, CLS_KERNEL } OpClass;

#endif
