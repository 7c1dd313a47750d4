/* gradc/runtime_core.h — the freestanding runtime core (library gradcrt_core).
 *
 * What it does: the optimizers' update rules (SGD with momentum and weight decay,
 * torch.optim.SGD semantics), each described once and run by a small interpreter;
 * zeroing and filling buffers; seeded parameter initialisation with a documented,
 * reproducible generator. It also exposes the double-precision log, sqrt
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

/* ---- Optimizers: each update rule written once ----
 *
 * An optimizer's update of one parameter element is a short straight-line program over
 * float registers, described by a gradc_optimizer. The same description is run here
 * (gradc_core_update: gradc_sgd_step, firmware) and emitted by the compiler as LLVM IR
 * in the epilogue of the kernel that computes each gradient (the fused train step), so
 * the two cannot disagree: adding an optimizer is adding one description.
 *
 * Registers: GRADC_R_P is the parameter's element (written back at the end), GRADC_R_G
 * its gradient, GRADC_R_STATE(s) the element of state tensor s (torch's
 * optimizer.state[p][name]; read before, written back after), GRADC_R_HYPER(h) the
 * step's hyper-parameter h (the same for every element), GRADC_R_TEMP(t) scratch.
 *
 * Instructions compute dst = a OP b in float32, rounding each operation (no fused
 * multiply-add), in order. Guards: an instruction whose guard is GRADC_IF(h) runs only
 * when hyper[h] != 0 (decided once per step), and a state tensor whose guard is h exists only
 * then — it is neither read nor written otherwise (torch keeps no momentum buffer with
 * momentum 0). A register written under a guard is read only under the same guard,
 * except that a guarded instruction may update a register written before it without one
 * (then, unguarded, the register keeps its value). gradc_optimizer_valid checks this.
 * New operations (a square root, a maximum for Adam) are added to the interpreter in
 * core.c and to the compiler's emitter (compiler/lower_update.c) alike. */
typedef enum {
  GRADC_OPI_MOV, /* dst = a */
  GRADC_OPI_ADD, /* dst = a + b */
  GRADC_OPI_SUB, /* dst = a - b */
  GRADC_OPI_MUL, /* dst = a * b */
} gradc_opi_code;

#define GRADC_OPT_MAX_STATE 4
#define GRADC_OPT_MAX_HYPER 8
#define GRADC_OPT_MAX_TEMP 6
#define GRADC_OPT_MAX_INSNS 32
#define GRADC_R_P 0
#define GRADC_R_G 1
#define GRADC_R_STATE(s) (2 + (s))
#define GRADC_R_HYPER(h) (2 + GRADC_OPT_MAX_STATE + (h))
#define GRADC_R_TEMP(t) (2 + GRADC_OPT_MAX_STATE + GRADC_OPT_MAX_HYPER + (t))
#define GRADC_OPT_NREGS GRADC_R_TEMP(GRADC_OPT_MAX_TEMP)

#define GRADC_IF(h) ((h) + 1) /* a guard: hyper-parameter h must be non-zero */

typedef struct {
  unsigned char op, dst, a, b; /* gradc_opi_code; registers */
  unsigned char guard;         /* 0: none; GRADC_IF(h) */
} gradc_opi;

typedef struct {
  const char *name;                                 /* "sgd" */
  int nhyper;                                       /* hyper-parameters, in order: */
  const char *hyper_names[GRADC_OPT_MAX_HYPER];     /* the first is the learning rate */
  int nstate;                                       /* state tensors per parameter */
  const char *state_names[GRADC_OPT_MAX_STATE];     /* C names: NAME_PARAM in the ABI */
  unsigned char state_guard[GRADC_OPT_MAX_STATE];   /* 0, or GRADC_IF(h): exists when h != 0 */
  int ninsns;
  gradc_opi insns[GRADC_OPT_MAX_INSNS];
} gradc_optimizer;

/* torch.optim.SGD (dampening 0, no Nesterov): hyper {lr, momentum, weight_decay},
 * state {momentum} (guarded by momentum):
 *   d = g; if wd != 0: d = d + wd * p;
 *   if momentum != 0: buf = momentum * buf + d, d = buf;
 *   p = p - lr * d.
 * The momentum buffer must start zeroed: then the first step gives buf = d, as torch. */
extern const gradc_optimizer gradc_optimizer_sgd;

/* 0 if o keeps the rules above (registers in range, guards of hyper-parameters that
 * exist, nothing read before it is written or under another guard), else the index + 1
 * of the first instruction that breaks one (nstate + ninsns + 1 for a bad header). */
int gradc_optimizer_valid(const gradc_optimizer *o);

/* One step of o on one tensor of n elements: p, its gradient g, its state tensors
 * state[0..o->nstate) (NULL allowed for a state tensor whose guard is off), and
 * hyper[0..o->nhyper). */
void gradc_core_update(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                       const float *hyper);

/* One SGD step on one tensor: gradc_core_update(&gradc_optimizer_sgd, ...) with
 * hyper {o->lr, o->momentum, o->weight_decay} and state {buf}. buf may be NULL when
 * momentum == 0 (and is then not touched). */
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
