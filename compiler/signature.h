/* signature.h — the operators of the language as calls (`relu(x)`, `sum(x, axis=1)`):
 * their names and parameters, how a call's positional and keyword arguments bind to
 * them, and the messages for a call that does not fit (an unknown operator or keyword,
 * PyTorch's spellings, a missing or repeated argument). One table, shared by the two
 * front ends that give calls a meaning: the compiler (builtins.c builds graph nodes)
 * and the tape (tape/interp.c runs eager kernels). Neither keeps a list of its own:
 * indexes what it does by CallId: the tape's switch over CallId misses none (-Wswitch
 * under -Werror), and test_parse.c fails when the compiler has no builder for one. */
#ifndef GRADC_SIGNATURE_H
#define GRADC_SIGNATURE_H
#include <stdbool.h>
#include <stdint.h>
#include "ast.h"

#define CALL_MAXP 8 /* parameters of a call */

/*  X(ENUM,            name,             required, parameters...) */
#define GC_CALLS(X)                                                        \
  X(EXP,             "exp",             1, "x")                            \
  X(LOG,             "log",             1, "x")                            \
  X(SQRT,            "sqrt",            1, "x")                            \
  X(ABS,             "abs",             1, "x")                            \
  X(TANH,            "tanh",            1, "x")                            \
  X(SIGMOID,         "sigmoid",         1, "x")                            \
  X(RELU,            "relu",            1, "x")                            \
  X(LEAKY_RELU,      "leaky_relu",      1, "x", "slope")                   \
  X(GELU,            "gelu",            1, "x")                            \
  X(SILU,            "silu",            1, "x")                            \
  X(SOFTPLUS,        "softplus",        1, "x")                            \
  X(MAXIMUM,         "maximum",         2, "a", "b")                       \
  X(MINIMUM,         "minimum",         2, "a", "b")                       \
  X(TRANSPOSE,       "transpose",       1, "x", "perm")                    \
  X(RESHAPE,         "reshape",         2, "x", "shape")                   \
  X(FLATTEN,         "flatten",         1, "x")                            \
  X(SUM,             "sum",             1, "x", "axis", "keepdims")        \
  X(MEAN,            "mean",            1, "x", "axis", "keepdims")        \
  X(MAX,             "max",             1, "x", "axis", "keepdims")        \
  X(SOFTMAX,         "softmax",         1, "x", "axis")                    \
  X(LOG_SOFTMAX,     "log_softmax",     1, "x", "axis")                    \
  X(MSE,             "mse",             2, "pred", "target", "reduction")  \
  X(BCE_WITH_LOGITS, "bce_with_logits", 2, "logits", "target", "reduction") \
  X(CROSS_ENTROPY,   "cross_entropy",   2, "logits", "labels", "weight", "reduction", "label_smoothing") \
  X(DETACH,          "detach",          1, "x")                            \
  X(CONV2D,          "conv2d",          2, "x", "w", "b", "stride", "padding", "dilation", "groups") \
  X(MAX_POOL2D,      "max_pool2d",      2, "x", "k", "stride", "padding")  \
  X(AVG_POOL2D,      "avg_pool2d",      2, "x", "k", "stride", "padding")  \
  /* ---- convolution and pooling (issue 15) */                            \
  X(CONV1D,          "conv1d",          2, "x", "w", "b", "stride", "padding", "dilation", "groups") \
  X(CONV_TRANSPOSE2D, "conv_transpose2d", 2, "x", "w", "b", "stride", "padding", "output_padding", "groups", \
    "dilation")                                                            \
  X(GLOBAL_AVG_POOL, "global_avg_pool", 1, "x")                            \
  X(ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d", 2, "x", "output_size") \
  /* ---- reductions and losses (issue 15) ---- */                         \
  X(MIN,             "min",             1, "x", "axis", "keepdims")        \
  X(PROD,            "prod",            1, "x", "axis", "keepdims")        \
  X(VAR,             "var",             1, "x", "axis", "correction", "keepdims") \
  X(STD,             "std",             1, "x", "axis", "correction", "keepdims") \
  X(LOGSUMEXP,       "logsumexp",       1, "x", "axis", "keepdims")        \
  X(ARGMAX,          "argmax",          1, "x", "axis", "keepdims")        \
  X(ARGMIN,          "argmin",          1, "x", "axis", "keepdims")        \
  X(NORM,            "norm",            1, "x", "p", "axis", "keepdims")   \
  X(NLL_LOSS,        "nll_loss",        2, "input", "labels", "weight", "reduction") \
  X(L1_LOSS,         "l1_loss",         2, "pred", "target", "reduction")  \
  X(SMOOTH_L1_LOSS,  "smooth_l1_loss",  2, "pred", "target", "reduction", "beta") \
  X(HUBER_LOSS,      "huber_loss",      2, "pred", "target", "reduction", "delta") \
  X(KL_DIV,          "kl_div",          2, "input", "target", "reduction", "log_target") \
  /* ---- indexing and assembling (issue 15) ---- */                        \
  X(CONCAT,          "concat",          1, "tensors", "axis")              \
  X(CAT,             "cat",             1, "tensors", "axis")              \
  X(STACK,           "stack",           1, "tensors", "axis")              \
  X(NARROW,          "narrow",          4, "x", "axis", "start", "length") \
  X(SQUEEZE,         "squeeze",         1, "x", "axis")                    \
  X(UNSQUEEZE,       "unsqueeze",       2, "x", "axis")                    \
  X(EXPAND,          "expand",          2, "x", "shape")                   \
  X(REPEAT,          "repeat",          2, "x", "reps")                    \
  X(PAD,             "pad",             2, "x", "pads", "value", "mode")   \
  /* ---- indexing II (issue 15): builtins_index2.c ---- */                \
  X(EMBEDDING,       "embedding",       2, "ids", "table")                 \
  X(GATHER,          "gather",          3, "x", "axis", "index")           \
  X(ONE_HOT,         "one_hot",         2, "ids", "num_classes")           \
  X(SPLIT,           "split",           2, "x", "size", "axis")            \
  X(CHUNK,           "chunk",           2, "x", "chunks", "axis")          \
  /* ---- comparisons and elementwise (issue 15): builtins_elem.c ---- */  \
  X(WHERE,           "where",           3, "condition", "x", "y")          \
  X(CLAMP,           "clamp",           1, "x", "min", "max")              \
  X(RELU6,           "relu6",           1, "x")                            \
  X(HARDTANH,        "hardtanh",        1, "x", "min_val", "max_val")      \
  X(HARDSIGMOID,     "hardsigmoid",     1, "x")                            \
  X(HARDSWISH,       "hardswish",       1, "x")                            \
  X(ELU,             "elu",             1, "x", "alpha")                   \
  X(SELU,            "selu",            1, "x")                            \
  X(CELU,            "celu",            1, "x", "alpha")                   \
  X(PRELU,           "prelu",           2, "x", "w")                       \
  X(SOFTSIGN,        "softsign",        1, "x")                            \
  X(SIN,             "sin",             1, "x")                            \
  X(COS,             "cos",             1, "x")                            \
  X(SQUARE,          "square",          1, "x")                            \
  X(RSQRT,           "rsqrt",           1, "x")                            \
  X(RECIPROCAL,      "reciprocal",      1, "x")                            \
  X(ERF,             "erf",             1, "x")                            \
  X(SIGN,            "sign",            1, "x")                            \
  X(FLOOR,           "floor",           1, "x")                            \
  X(CEIL,            "ceil",            1, "x")                            \
  X(ROUND,           "round",           1, "x", "decimals")                \
  /* ---- normalization and attention (issue 15): builtins_norm.c ---- */ \
  X(LAYER_NORM,      "layer_norm",      2, "x", "normalized_shape", "weight", "bias", "eps") \
  X(GROUP_NORM,      "group_norm",      2, "x", "num_groups", "weight", "bias", "eps") \
  /* ---- batch norm and buffers (issue 15) ---- */ \
  X(BATCH_NORM,      "batch_norm",      3, "x", "running_mean", "running_var", "weight", "bias", "momentum", "eps") \
  /* ---- attention (issue 15): builtins_attn.c ---- */                    \
  X(TRIL,            "tril",            1, "x", "diagonal")                \
  X(TRIU,            "triu",            1, "x", "diagonal")                \
  X(MASKED_FILL,     "masked_fill",     3, "x", "mask", "value")           \
  X(SCALED_DOT_PRODUCT_ATTENTION, "scaled_dot_product_attention", 3, "q", "k", "v", "causal", "scale") \
  /* ---- dropout and modes (issue 15): builtins_random.c ---- */ \
  X(DROPOUT,         "dropout",         1, "x", "p")                      \
  /* ---- dtype conversions (issue 16): builtins_elem.c ---- */           \
  X(FLOAT,           "float",           1, "x")                            \
  X(INT,             "int",             1, "x")

typedef enum {
#define X(e, ...) CALL_##e,
  GC_CALLS(X)
#undef X
  CALL__COUNT
} CallId;

typedef struct {
  const char *name;
  const char *params[CALL_MAXP]; /* in positional order; NULL after the last */
  int nreq;                      /* how many are required */
} Signature;

extern const Signature gc_calls[CALL__COUNT];

/* The operator called `name`, or -1. */
int call_find(const char *name);
/* Refuses a call of an operator that does not exist: the nearest ones, PyTorch's name
 * for one, and where the operators are listed. */
_Noreturn void call_unknown(Diag *d, SrcLoc loc, const char *name);
/* Binds call's positional and keyword arguments to the parameters of `id`: slot[j] is
 * the argument of parameter j, or NULL (room for CALL_MAXP). Errors through d. */
void call_bind(Diag *d, CallId id, const Expr *call, Expr **slot);
/* The names of all operators (for help, suggestions and tests). */
int call_names(const char ***names);

/* The constant arguments of calls (axes, flags, sizes, windows, permutations), read
 * with the same rules and messages by both front ends. `number` evaluates a constant:
 * a literal, a negated one, or a dim's size; false if e is none of those. */
typedef struct {
  Diag *d;
  bool (*number)(void *ctx, const Expr *e, double *out);
  void *ctx;
} ArgReader;

double arg_num(const ArgReader *r, const Expr *e, double def);             /* absent: def */
bool arg_flag(const ArgReader *r, const Expr *e, bool def);                /* true / false */
int arg_axis(const ArgReader *r, const Expr *e, int rank);                 /* negative from the end */
unsigned arg_axes(const ArgReader *r, const Expr *e, int rank);            /* int or list; absent: all */
int arg_pos_int(const ArgReader *r, const Expr *e, int def, int min, const char *what);
/* A string argument naming one of `choices` (NULL-terminated): its index; absent: def.
 * `what` names the argument in messages, which list the allowed values:
 *   reduction must be "mean", "sum" or "none", got "avg"; did you mean "mean"? */
int arg_choice(const ArgReader *r, const Expr *e, const char *what, const char *const *choices, int def);
/* A constant number in [lo, hi] ((lo, hi] when lo_open; hi may be INFINITY); absent: def. */
double arg_range(const ArgReader *r, const Expr *e, double def, double lo, bool lo_open, double hi, const char *what);
/* One axis (an integer), or -1 when absent (argmax, argmin: a list is refused, as torch). */
int arg_axis_or_all(const ArgReader *r, const Expr *e, int rank, const char *op);
/* A loss's reduction= ("mean", the default, "sum", "none"; "batchmean" for kl_div). */
typedef enum { RED_MEAN, RED_SUM, RED_NONE, RED_BATCHMEAN } Reduction;
Reduction arg_reduction(const ArgReader *r, const Expr *e, bool batchmean);
/* norm's p: 1, 2 (absent) or the word inf (INFINITY). */
double arg_norm_p(const ArgReader *r, const Expr *e);
/* transpose's perm= (absent: the 2-D transpose), into perm[rank]. */
void arg_perm(const ArgReader *r, const Expr *call, const Expr *e, int rank, int *perm);
/* reshape's list of sizes into s (at most max_rank; one -1 allowed, at *infer, else
 * -1), with the product of the known ones in *known; returns the rank. */
int arg_sizes(const ArgReader *r, const Expr *l, int max_rank, int64_t *s, int *infer, int64_t *known);
/* layer_norm's normalized_shape (a size or a list of sizes) against the input's
 * shape[rank] (`shape` printed as text): the number of trailing axes it names. */
int arg_normalized_shape(const ArgReader *r, const Expr *e, int rank, const int64_t *shape, const char *shape_text);
/* layer_norm's and group_norm's eps (absent: 1e-5): a number > 0. */
double arg_eps(const ArgReader *r, const Expr *e);

/* ---- batch norm and buffers (issue 15) ---- */
/* batch_norm's momentum (absent: 0.1): a number in [0, 1]; none (PyTorch's cumulative
 * moving average) is refused with a message. */
double arg_momentum(const ArgReader *r, const Expr *e);

/* ---- convolution and pooling arguments (issue 15; signature_window.c) */
/* A convolution's geometry as PyTorch's arguments give it, per spatial axis (nsp = 1
 * for conv1d, 2 for conv2d; a conv1d's values are on axis 1, axis 0 is the identity). */
typedef struct {
  int stride[2], dil[2], lo[2], hi[2], groups, outpad[2];
} ConvArgs;
/* conv2d / conv1d: stride, padding (int | list | "same" | "valid", "same" as torch: the
 * extra on the high side; refused with a stride), dilation, groups, for kernel `ksize`. */
void arg_conv(const ArgReader *r, Expr *const *e /* stride, padding, dilation, groups */, int nsp,
              const int64_t *ksize, ConvArgs *out);
/* conv_transpose2d: stride, padding, output_padding (< stride, as torch), groups, dilation. */
void arg_conv_transpose(const ArgReader *r, Expr *const *e /* stride, padding, output_padding, groups, dilation */,
                        ConvArgs *out);
typedef struct {
  int k[2], stride[2], pad[2];
} PoolArgs;
/* max_pool2d / avg_pool2d: window (int | [kh, kw]), stride (default: the window), padding
 * (at most half the window, as torch). */
void arg_pool(const ArgReader *r, Expr *const *e /* k, stride, padding */, PoolArgs *out);

/* ---- indexing and assembling (issue 15) ---- */
/* An integer constant (of any sign); `what` names it in the message. */
int64_t arg_int(const ArgReader *r, const Expr *e, const char *what);
/* A list of at most max integers into v; returns the count. */
int arg_ints(const ArgReader *r, const Expr *e, int max, int64_t *v, const char *what);
/* concat/stack's first argument: a list of at least one tensor, e.g. [a, b]; returns
 * the list (the front end evaluates each element). */
const Expr *arg_tensor_list(const ArgReader *r, const Expr *call, const Expr *e);
/* An axis of a result of rank `rank` + 1 (unsqueeze, stack: -rank-1 .. rank). */
int arg_new_axis(const ArgReader *r, const Expr *e, int rank);

/* ---- indexing II (issue 15; signature_index.c) ---- */
/* An index x[...] (EX_INDEX) of a tensor of shape[rank], as one slice per axis: axis d
 * takes len[d] elements from start[d] by step[d]; the axes in drop were integer
 * indices (removed from the result). Errors at the bracket or the item. */
typedef struct {
  int64_t start[8], step[8], len[8];
  unsigned drop;
} IndexPlan;
void arg_index(const ArgReader *r, const Expr *ix, int rank, const int64_t *shape, IndexPlan *out);
/* split(x, size or [sizes]) / chunk(x, chunks) of an axis of `size`: the number of
 * pieces, and piece `part`'s start and length. */
int64_t arg_split_piece(const ArgReader *r, const Expr *call, const Expr *e, int64_t size, bool chunk, int part,
                        int64_t *start, int64_t *len);

#endif
