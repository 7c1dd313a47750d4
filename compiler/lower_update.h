/* lower_update.h — storing kernel results (lower_update.c): into the node's buffer, or,
 * for a trainable parameter's gradient whose sink rides on its kernel, through the
 * gradient epilogue (backward: added into the gradient; train step: stored, and the
 * parameter updated). */
#ifndef GRADC_LOWER_UPDATE_H
#define GRADC_LOWER_UPDATE_H
#include "lower_builder.h"

/* Stores v (a float, or a vector of consecutive elements) as element idx of node x's
 * own buffer — or, if x is a parameter's gradient whose sink rides on its kernel,
 * adds it into the gradient buffer or applies the optimizer's update (by the core's mode). */
void lw_store(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef v);
/* Loads the train step's hyper-parameters (Entry.optimizer's) from its hyper argument
 * (volatile). */
void lw_load_hyper(Lower *L, LLVMValueRef *hyper);
/* i1: train-step mode with every guard of the optimizer off (SGD: momentum and weight
 * decay zero) under the hyper values; where it holds, lw_store_update_plain(x, idx, g)
 * is lw_store of a gradient without branches: g stored, the parameter updated (SGD:
 * p -= lr g). It reads the hyper-parameters from L->hyper. */
LLVMValueRef lw_update_plain(Lower *L, const LLVMValueRef *hyper);
void lw_store_update_plain(Lower *L, Node *x, const LLVMValueRef *idx, LLVMValueRef g);
/* Whether storing x applies a train step's update (x is a parameter's gradient). */
bool lw_applies_update(Lower *L, Node *x);
/* lw_store at element offset off of x's own buffer. */
void lw_store_off(Lower *L, Node *x, LLVMValueRef off, LLVMValueRef v);

#endif
