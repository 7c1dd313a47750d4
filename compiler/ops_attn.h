/* ops_attn.h — the attention rows of the operator table (issue 15; ops_attn.c): the
 * triangular mask TRI (tril, triu), scaled dot-product attention SDPA and its backward
 * SDPA_BWD. */
#ifndef GRADC_OPS_ATTN_H
#define GRADC_OPS_ATTN_H
#include "opinfo.h"

const char *shape_tri(Graph *g, Node *n);
void grad_tri(Graph *g, Node *n, Node *dy, Node **dx);
void ev_tri(const Node *n, double *out, double *const *in);
bool tri_keeps(const TriAttr *a, int64_t row, int64_t col); /* element (row, col) is kept */

const char *shape_sdpa(Graph *g, Node *n);
const char *shape_sdpa_bwd(Graph *g, Node *n);
void grad_sdpa(Graph *g, Node *n, Node *dy, Node **dx);
void ev_sdpa(const Node *n, double *out, double *const *in);
void ev_sdpa_bwd(const Node *n, double *out, double *const *in);
double flops_sdpa(const Node *n);

/* The geometry of an SDPA node: B the batch (product of the leading axes), T queries,
 * S keys, D the q/k width, Dv the v width. */
typedef struct {
  int64_t B, T, S, D, Dv;
} SdpaDims;
SdpaDims sdpa_dims(const Node *n);
/* Keys a query row attends to: causal rows stop after key i (torch's is_causal). */
static inline int64_t sdpa_keys(const Node *n, const SdpaDims *d, int64_t i) {
  return node_sdpa(n)->causal ? (i + 1 < d->S ? i + 1 : d->S) : d->S;
}

/* The scratch of an SDPA / SDPA_BWD kernel (lower_attn.c), reserved by the memory plan:
 * offsets in floats. A block of `rows` query rows is processed at once; keys are padded
 * to Sp, a multiple of two SIMD vectors. kt: k of one batch transposed [D, Sp] (keys
 * contiguous, so a row's scores come out a vector of keys at a time); vt: v transposed
 * [Dv, Sp] (backward only); s: the block's scores, then probabilities [rows, Sp]; dp: the
 * block's dp, then ds [rows, Sp] (backward only). O(S) per row beside one batch's k, v. */
#define SDPA_ROWS 4
typedef struct {
  int64_t rows, Sp, kt, vt, s, dp, floats;
} SdpaScratch;
SdpaScratch sdpa_scratch(const Node *n, int vw);
int64_t sdpa_scratch_bytes(const Node *n, int vw);

#endif
