/* lower_update.h — storing kernel results (lower_update.c): into the node's buffer, or,
 * for a trainable parameter's gradient whose sink rides on its kernel, through the
 * gradient epilogue (backward: added into the gradient; train step: stored, and the
 * parameter updated). */
#ifndef GRADC_LOWER_UPDATE_H
#define GRADC_LOWER_UPDATE_H
#include "lower_builder.h"

/* Stores v (a float, or a vector of consecutive elements) as element idx of node x's
 * own buffer — or, if x is a parameter's gradient whose sink rides on its kernel,
 * adds it into the gradient buffer or applies the SGD update (by the core's mode). */
void lw_store(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef v);
/* Loads lr, momentum and weight decay from the train step's hyper argument (volatile). */
void lw_load_hyper(Lower *L, LLVMValueRef *hyper);
/* i1: the step is plain SGD (train-step mode, hyper momentum and weight decay zero);
 * where it holds, lw_store_plain_sgd(x, idx, g, lr) is lw_store of a gradient without
 * branches: g stored, its parameter p -= lr g. */
LLVMValueRef lw_plain_sgd(Lower *L, const LLVMValueRef *hyper);
void lw_store_plain_sgd(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef g, LLVMValueRef lr);
/* Whether storing x applies a train step's SGD update (x is a parameter's gradient). */
bool lw_applies_sgd(Lower *L, Node *x);

/* lw_store at element offset off of x's own buffer. */
void lw_store_off(Lower *L, Node *x, LLVMValueRef off, LLVMValueRef v);

#endif
