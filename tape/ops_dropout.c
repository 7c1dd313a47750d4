/* ops_dropout.c — dropout and modes (issue 15): the tape's dropout, written from the
 * specification in docs/LANGUAGE.md ("dropout"), not from the compiler's code.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1,
 * 2, 3", SC 2011): a 4 x 32-bit counter and a 2 x 32-bit key; each of the 10 rounds
 * multiplies counter words 0 and 2 by two constants into 64-bit products, then
 *   (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0))
 * and bumps the key by the Weyl constants. gradc's dropout uses counter (i, salt, 0, 0),
 * key (low, high 32 bits of the step seed), and keeps element i where the first word of
 * the result, u, satisfies u / 2^32 >= p. As F.dropout, the kept elements are scaled by
 * 1 / (1 - p) computed in float (torch's noise.bernoulli_(1 - p).div_(1 - p)); the noise
 * (0 or that scale) is saved with the record and multiplies the gradient in backward. */
#include <math.h>
#include <stdlib.h>
#include "tape_internal.h"

static uint32_t mulhi32(uint32_t a, uint32_t b, uint32_t *lo) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *lo = (uint32_t)p;
  return (uint32_t)(p >> 32);
}

uint32_t tp_philox_u32(uint64_t seed, uint32_t salt, uint32_t index) {
  uint32_t ctr[4] = {index, salt, 0, 0};
  uint32_t key[2] = {(uint32_t)(seed & 0xffffffffu), (uint32_t)(seed >> 32)};
  for (int round = 1; round <= 10; round++) {
    uint32_t lo0, lo1;
    uint32_t hi0 = mulhi32(0xD2511F53u, ctr[0], &lo0), hi1 = mulhi32(0xCD9E8D57u, ctr[2], &lo1);
    uint32_t next[4] = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    for (int w = 0; w < 4; w++) ctr[w] = next[w];
    key[0] += 0x9E3779B9u;
    key[1] += 0xBB67AE85u;
  }
  return ctr[0];
}

static void dropout_bw(Tape *T, Record *r) {
  float *dx = tp_grad(T, r->in[0]);
  const float *noise = r->saved, *dy = r->out->grad;
  for (size_t i = 0; dx && i < r->out->n; i++) dx[i] += dy[i] * noise[i];
}

Tensor *op_dropout(Tape *T, Tensor *x, double p, uint32_t salt, uint64_t seed) {
  Tensor *out = tp_empty(T, x->rank, x->shape);
  float *noise = tp_malloc(T, x->n * sizeof(float) + 1);
  float scale = 1.0f / (float)(1.0 - p);
  for (size_t i = 0; i < x->n; i++) {
    double u = (double)tp_philox_u32(seed, salt, (uint32_t)i) / 4294967296.0;
    noise[i] = u >= p ? scale : 0.0f;
    out->data[i] = x->data[i] * noise[i];
  }
  Record *r = tp_record(T, "dropout", dropout_bw, out, 1, &x);
  if (r) r->saved = noise;
  else free(noise);
  return out;
}
