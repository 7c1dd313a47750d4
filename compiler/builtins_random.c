/* builtins_random.c — dropout and modes (issue 15): the operators whose graph depends
 * on the mode it is built in (Graph.training, docs/ARCHITECTURE.md "Training and eval
 * modes"). dropout(x, p) is torch.nn.functional.dropout in a module's mode: in training
 * mode x * keep / (1 - p) with keep drawn per element (the DROPOUT primitive,
 * ops_random.h), in eval mode x itself; p = 0 is x and p = 1 is x * 0 in both of
 * torch's training-mode special cases. */
#include "builtins.h"
#include "ops_random.h"

Node *b_dropout(const BuildCtx *B, Expr *call, Expr **p) {
  Graph *g = B->g;
  Node *x = bi_arg(B, p[0]);
  if (x->dtype != DT_F32) /* in either mode: eval mode's identity would pass labels through */
    diag_error(B->d, call->loc, "'dropout' needs f32 operands, but its operand is %s", dtype_name(x->dtype));
  double prob = arg_range(&BI_READER(B), p[1], 0.5, 0, false, 1, "dropout probability p");
  if (prob == 0) return x; /* identity in both modes */
  g->mode_dependent = true;
  if (!g->training) return x; /* model.eval() */
  if (prob == 1) return g_binary(g, OP_MUL, x, g_const(g, 0)); /* torch: input * 0 */
  return g_dropout(g, x, prob, gc_dropout_salt(call->loc));
}
