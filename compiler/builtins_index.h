/* builtins_index.h — the builders of the indexing and assembling operators
 * (builtins_index.c), entries of builtins.c's table. */
#ifndef GRADC_BUILTINS_INDEX_H
#define GRADC_BUILTINS_INDEX_H
#include "builtins.h"

Node *b_concat(const BuildCtx *B, Expr *c, Expr **p);
Node *b_stack(const BuildCtx *B, Expr *c, Expr **p);
Node *b_narrow(const BuildCtx *B, Expr *c, Expr **p);
Node *b_squeeze(const BuildCtx *B, Expr *c, Expr **p);
Node *b_unsqueeze(const BuildCtx *B, Expr *c, Expr **p);
Node *b_expand(const BuildCtx *B, Expr *c, Expr **p);
Node *b_repeat(const BuildCtx *B, Expr *c, Expr **p);
Node *b_pad(const BuildCtx *B, Expr *c, Expr **p);

#endif
