/* gradc/runtime_core.h — the freestanding runtime core (library gradcrt_core).
 *
 * What it does: SGD with momentum and weight decay (torch.optim.SGD semantics),
 * zeroing and filling buffers, and seeded parameter initialisation with a
 * documented, reproducible generator. It also exposes the double-precision log, sqrt
 * and cos it implements for Box-Muller (there is no libm in a freestanding build).
 *
 * What it does not do: allocate, print, or call anything outside itself. core.c uses
 * only <stdint.h>, <stddef.h> and <stdbool.h>, and builds with
 * `-ffreestanding -nostdlib` (with GCC also -fno-tree-loop-distribute-patterns, or GCC
 * turns the zeroing loops back into memset calls). On a target without a
 * double-precision FPU the compiler's support library (libgcc / compiler-rt) supplies
 * the soft-float double routines used by initialisation.
 *
 * The generator, exactly (so that any implementation can reproduce it):
 *
 *   fnv1a64(name)   = FNV-1a over the bytes of the NUL-terminated name:
 *                     h = 0xcbf29ce484222325; for each byte c: h ^= c; h *= 0x100000001b3
 *   mix64(z)        = z ^= z >> 30; z *= 0xbf58476d1ce4e5b9;
 *                     z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31
 *   state0          = mix64(seed) ^ fnv1a64(name)
 *   next()          = state += 0x9e3779b97f4a7c15; return mix64(state)  (splitmix64)
 *   u01()           = (next() >> 11) * 2^-53                  in [0, 1)
 *
 * A tensor's stream depends only on the seed and the tensor's name, never on the
 * other tensors. Element i (row-major order) of a tensor is, in order:
 *
 *   const(v)          (float)v; consumes nothing
 *   uniform(lo, hi)   u = u01(); (float)(lo + (hi - lo) * u)   (one draw per element;
 *                     [lo, hi) before rounding to float)
 *   normal(std)       u1 = u01(); u2 = u01();                  (two draws per element)
 *                     (float)(std * sqrt(-2 log(1 - u1)) * cos(2 pi u2))
 *                     (the cosine half of Box-Muller only; mean 0)
 */
#ifndef GRADC_RUNTIME_CORE_H
#define GRADC_RUNTIME_CORE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GRADC_INIT_CONST = 0, GRADC_INIT_NORMAL = 1, GRADC_INIT_UNIFORM = 2 } gradc_init_kind;

/* const: a = value; normal: a = std (mean 0); uniform: a = lo, b = hi. */
typedef struct {
  gradc_init_kind kind;
  double a;
  double b;
} gradc_init_spec;

typedef struct {
  uint64_t state;
} gradc_rng;

/* torch.optim.SGD hyper-parameters (dampening 0, no Nesterov). */
typedef struct {
  float lr;
  float momentum;
  float weight_decay;
} gradc_sgd_opts;

uint64_t gradc_core_fnv1a64(const char *name);
uint64_t gradc_core_mix64(uint64_t z);
void gradc_rng_seed(gradc_rng *r, uint64_t seed, const char *name);
uint64_t gradc_rng_next(gradc_rng *r);
double gradc_rng_u01(gradc_rng *r);
double gradc_rng_normal(gradc_rng *r); /* standard normal, consumes two draws */

/* Fill p[0..n) from spec with the stream of (seed, name). */
void gradc_core_init_tensor(float *p, size_t n, const gradc_init_spec *spec, uint64_t seed,
                            const char *name);
void gradc_core_fill(float *p, size_t n, float v);
void gradc_core_zero(float *p, size_t n);
void gradc_core_zero_bytes(void *p, size_t nbytes);

/* One SGD step on one tensor, torch.optim.SGD semantics:
 *   d = g + wd * p;  if momentum != 0: buf = momentum * buf + d, step = buf; else step = d;
 *   p -= lr * step.
 * buf (n floats) must start zeroed: then the first step gives buf = d, as torch does.
 * buf may be NULL when momentum == 0 (and is then not touched). */
void gradc_core_sgd(float *p, const float *g, float *buf, size_t n, const gradc_sgd_opts *o);

/* Double-precision elementary functions: log and sqrt with relative error below 1e-15,
 * cos with absolute error about 1e-15 for |x| < 6.5e6 (degrading beyond; 0 past 2^52);
 * log for x > 0 (finite), sqrt for x >= 0 (finite), cos for finite x. Out-of-domain
 * inputs return 0 (sqrt, cos) or a large negative value (log of 0). */
double gradc_core_log(double x);
double gradc_core_sqrt(double x);
double gradc_core_cos(double x);

#ifdef __cplusplus
}
#endif
#endif
