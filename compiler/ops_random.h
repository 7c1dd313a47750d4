/* ops_random.h — dropout and modes (issue 15): the random-number primitive DROPOUT of
 * the operator table and the counter-based generator it draws from (ops_random.c).
 *
 * The generator (docs/LANGUAGE.md, "dropout"): Philox4x32-10 (Salmon et al. 2011) with
 * key (k0, k1) = the step seed's low and high 32 bits and counter (i, salt, 0, 0), i the
 * element's row-major index in the tensor dropped and salt the dropout site; the draw u
 * is the first output word. An element is kept when u >= ceil(p * 2^32) (u / 2^32 >= p).
 * The backend emits the same in LLVM (lower_elem.c) and the tape has its own copy
 * (tape/ops_dropout.c): the three give the same mask bit for bit. */
#ifndef GRADC_OPS_RANDOM_H
#define GRADC_OPS_RANDOM_H
#include <stdint.h>
#include "opinfo.h"

/* Philox4x32-10's constants: the multipliers and the key's Weyl increments. */
#define GC_PHILOX_M0 0xD2511F53u
#define GC_PHILOX_M1 0xCD9E8D57u
#define GC_PHILOX_W0 0x9E3779B9u
#define GC_PHILOX_W1 0xBB67AE85u
#define GC_PHILOX_ROUNDS 10

/* Philox4x32-10 of counter c under key k, in place. */
void gc_philox4x32(uint32_t c[4], const uint32_t k[2]);
/* The draw of element i at site salt under the step seed. */
uint32_t gc_dropout_draw(uint64_t seed, uint32_t salt, uint32_t i);
/* keep <=> draw >= threshold; a threshold of 2^32 keeps nothing. */
uint64_t gc_dropout_threshold(double p);
/* What a kept element is multiplied by: float(1 / float(1 - p)), torch's noise.div_(1 - p). */
float gc_dropout_scale(double p);
/* The site salt of a call at loc: line * 2^16 + column (mod 2^32); distinct sites of one
 * file differ while columns stay below 65536. */
uint32_t gc_dropout_salt(SrcLoc loc);

const char *shape_dropout(Graph *g, Node *n);
void grad_dropout(Graph *g, Node *n, Node *dy, Node **dx);
void ev_dropout(const Node *n, uint64_t seed, double *out, const double *x);

#endif
