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

/* xs (equal shapes outside axis) joined along axis: each padded with zeros into the
 * result's shape, summed (concat's nodes, after its checks). */
Node *bi_join(Graph *g, Node **xs, int k, int axis);

/* ---- indexing II (issue 15): builtins_index2.c ---- */
Node *b_embedding(const BuildCtx *B, Expr *c, Expr **p);
Node *b_gather(const BuildCtx *B, Expr *c, Expr **p);
Node *b_one_hot(const BuildCtx *B, Expr *c, Expr **p);
Node *b_split(const BuildCtx *B, Expr *c, Expr **p);
Node *b_chunk(const BuildCtx *B, Expr *c, Expr **p);
/* pad's reflect (replicate false) and replicate modes of x by pads v[np] (checked pairs). */
Node *bi_pad_mode(const BuildCtx *B, Expr *pads, Node *x, const int64_t *v, int np, bool replicate);

#endif
