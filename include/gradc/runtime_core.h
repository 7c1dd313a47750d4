/* gradc/runtime_core.h — the freestanding runtime core (library gradcrt_core).
 *
 * What it does: the optimizers' update rules (torch.optim's SGD, Adam, AdamW and
 * RMSprop), each described once and run by a small interpreter; learning-rate schedules;
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

/* ---- dropout and modes (issue 15) ----
 * The step seed of a model's training entries (their `seed` argument) at the optimizer
 * step `step` (the steps taken before it: 0 for the first) under the user's seed: the
 * (step + 1)-th draw of the stream (seed, "gradc.dropout") above, computed directly,
 *   mix64((mix64(seed) ^ fnv1a64("gradc.dropout")) + (step + 1) * 0x9e3779b97f4a7c15).
 * Distinct steps of one seed give distinct step seeds, so each step draws new masks. */
uint64_t gradc_dropout_seed(uint64_t seed, uint64_t step);

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
 * (gradc_core_update: the runtime's unfused step, firmware) and emitted by the compiler
 * as LLVM IR in the epilogue of the kernel that computes each gradient (the fused train
 * step), so the two cannot disagree: adding an optimizer is adding one description.
 *
 * Values: the user's hyper-parameters (hyper_names[0..nhyper): lr first; doubles, as
 * torch.optim takes Python floats) and the values derived from them once per step
 * (hyper_names[nhyper..nhyper + nderived): Adam's bias corrections, which depend on the
 * step count). gradc_optimizer_values fills the float array of both that the program,
 * and a compiled train step's `hyper` argument, read.
 *
 * Registers: GRADC_R_P is the parameter's element (written back at the end), GRADC_R_G
 * its gradient, GRADC_R_STATE(s) the element of state tensor s (torch's
 * optimizer.state[p][name]; read before, written back after), GRADC_R_HYPER(h) value h
 * (the same for every element), GRADC_R_TEMP(t) scratch.
 *
 * Instructions compute dst = a OP b in float32, rounding each operation (no fused
 * multiply-add), in order. Guards: an instruction whose guard is GRADC_IF(h) runs only
 * when user hyper-parameter h is non-zero (decided once per step); GRADC_IF(h) |
 * GRADC_IF(k) only when both are. A state tensor whose guard is GRADC_IF(h) exists only
 * when h is non-zero — it is neither read nor written otherwise (torch keeps no momentum
 * buffer with momentum 0). A register holds a value under the guards of the instructions
 * that wrote it: an instruction reads a register only if some write before it (or the
 * register's kind: p, g, values, a state tensor under its guard) has guards it has too;
 * then, where a later guarded write does not run, the register keeps its value.
 * gradc_optimizer_valid checks this.
 *
 * The base values: a program may grow hyper-parameters after its first version (SGD's
 * dampening and Nesterov after {lr, momentum, weight_decay}). Values [nbase, nhyper +
 * nderived) are then taken as 0 by gradc_core_update and by a train step compiled
 * without `full` (their guards off: gradc_optimizer_valid checks the program reads none
 * of them then), so that older callers passing nbase values keep working. */
typedef enum {
  GRADC_OPI_MOV,  /* dst = a */
  GRADC_OPI_ADD,  /* dst = a + b */
  GRADC_OPI_SUB,  /* dst = a - b */
  GRADC_OPI_MUL,  /* dst = a * b */
  GRADC_OPI_DIV,  /* dst = a / b */
  GRADC_OPI_SQRT, /* dst = sqrt(a), correctly rounded (IEEE 754: NaN below 0, sqrt(-0) = -0) */
  GRADC_OPI_MAX,  /* dst = a if a > b or a is NaN, else b (NaN propagates, as torch.maximum) */
} gradc_opi_code;

#define GRADC_OPT_MAX_STATE 4
#define GRADC_OPT_MAX_HYPER 8   /* user hyper-parameters (guards are over these) */
#define GRADC_OPT_MAX_VALUES 16 /* user hyper-parameters and derived values */
#define GRADC_OPT_MAX_TEMP 6
#define GRADC_OPT_MAX_INSNS 32
#define GRADC_R_P 0
#define GRADC_R_G 1
#define GRADC_R_STATE(s) (2 + (s))
#define GRADC_R_HYPER(h) (2 + GRADC_OPT_MAX_STATE + (h))
#define GRADC_R_TEMP(t) (2 + GRADC_OPT_MAX_STATE + GRADC_OPT_MAX_VALUES + (t))
#define GRADC_OPT_NREGS GRADC_R_TEMP(GRADC_OPT_MAX_TEMP)

#define GRADC_IF(h) (1u << (h)) /* a guard: user hyper-parameter h must be non-zero */

typedef struct {
  unsigned char op, dst, a, b; /* gradc_opi_code; registers */
  unsigned char guard;         /* 0: none; GRADC_IF(h) | ... */
} gradc_opi;

/* The values a user hyper-parameter may take (gradc_optimizer_check). */
typedef enum {
  GRADC_HYPER_NONNEG, /* finite, >= 0 */
  GRADC_HYPER_UNIT,   /* in [0, 1) (Adam's betas) */
  GRADC_HYPER_FRAC,   /* in [0, 1] */
  GRADC_HYPER_FLAG,   /* 0 or 1 (nesterov, amsgrad, centered) */
} gradc_hyper_kind;

typedef struct {
  const char *name;                                  /* "sgd", as torch.optim's class, lower case */
  int nhyper;                                        /* the user's hyper-parameters: */
  int nderived;                                      /* then the values derived per step */
  const char *hyper_names[GRADC_OPT_MAX_VALUES];     /* the first is the learning rate */
  double hyper_default[GRADC_OPT_MAX_HYPER];         /* torch.optim's defaults */
  unsigned char hyper_kind[GRADC_OPT_MAX_HYPER];     /* gradc_hyper_kind */
  int nbase;                                         /* see "The base values" above */
  /* derived[0..nderived) from the user's hyper[0..nhyper) for step `step` (1 for the
   * first step, as torch's state["step"] after its increment); NULL when nderived is 0. */
  void (*derive)(const double *hyper, uint64_t step, float *derived);
  /* NULL, or a message when hyper breaks a rule between hyper-parameters (SGD: Nesterov
   * needs momentum and no dampening); each one's range is hyper_kind's. */
  const char *(*check)(const double *hyper);
  int nstate;                                        /* state tensors per parameter */
  const char *state_names[GRADC_OPT_MAX_STATE];      /* torch's names; C names NAME_PARAM */
  unsigned char state_guard[GRADC_OPT_MAX_STATE];    /* 0, or GRADC_IF(h): exists when h != 0 */
  int ninsns;
  gradc_opi insns[GRADC_OPT_MAX_INSNS];
} gradc_optimizer;

/* torch.optim.SGD: hyper {lr, momentum, weight_decay, dampening, nesterov}, derived
 * {dampening_keep} (1 on the first step, when torch copies the direction into the new
 * buffer, else 1 - dampening), state {momentum} (guarded by momentum); nbase 3:
 *   d = g; if wd != 0: d = d + wd * p;
 *   if momentum != 0: buf = momentum * buf + (dampening != 0 ? keep * d : d),
 *                     d = nesterov ? d + momentum * buf : buf;
 *   p = p - lr * d.
 * The momentum buffer must start zeroed: then the first step gives buf = d, as torch. */
extern const gradc_optimizer gradc_optimizer_sgd;
/* torch.optim.Adam: hyper {lr, beta1, beta2, eps, weight_decay, amsgrad}, derived
 * {neg_step_size = -lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t),
 * one_minus_beta1, one_minus_beta2}, state {exp_avg, exp_avg_sq, max_exp_avg_sq (with
 * amsgrad)}:
 *   d = g (+ wd * p); m = beta1 m + (1 - beta1) d; v = beta2 v + ((1 - beta2) d) d;
 *   amsgrad: vmax = max(vmax, v), s = vmax, else s = v;
 *   p = p + (neg_step_size * m) / (sqrt(s) / bias_correction2_sqrt + eps). */
extern const gradc_optimizer gradc_optimizer_adam;
/* torch.optim.AdamW: Adam with decoupled weight decay, p = decay * p first (derived
 * decay = 1 - lr * weight_decay, after Adam's four), d = g. */
extern const gradc_optimizer gradc_optimizer_adamw;
/* torch.optim.RMSprop: hyper {lr, alpha, eps, weight_decay, momentum, centered}, derived
 * {neg_lr, one_minus_alpha}, state {square_avg, momentum (with momentum), grad_avg (with
 * centered)}:
 *   d = g (+ wd * p); sq = alpha sq + ((1 - alpha) d) d; a = sq;
 *   centered: ga = alpha ga + (1 - alpha) d, a = sq - ga ga;
 *   a = sqrt(a) + eps;
 *   momentum: buf = momentum buf + d / a, p = p + neg_lr * buf;
 *   else p = p + (neg_lr * d) / a. */
extern const gradc_optimizer gradc_optimizer_rmsprop;
/* Every optimizer above, NULL-terminated. */
extern const gradc_optimizer *const gradc_optimizers[];

/* The optimizer of that name, or NULL. */
const gradc_optimizer *gradc_optimizer_find(const char *name);
/* The distinct names of every optimizer's state tensors, in table order, into
 * names[0..max); returns how many there are (a checkpoint's "PARAM.STATE" tensors). */
int gradc_optimizer_state_names(const char **names, int max);
/* The index of a value (a user hyper-parameter, or a derived value) by name, or -1. */
int gradc_optimizer_value_index(const gradc_optimizer *o, const char *name);

/* 0 if o keeps the rules above (registers in range, guards of user hyper-parameters that
 * exist, nothing read before it is written or under other guards, nothing past nbase
 * read while those are 0), else the index + 1 of the first instruction that breaks one
 * (nstate + ninsns + 1 for a bad header; s + 1 for a bad state guard). */
int gradc_optimizer_valid(const gradc_optimizer *o);

/* 0 if the user's hyper[0..nhyper) are allowed, else the index + 1 of the first that is
 * not (*why: "must be a finite number >= 0", ...), or nhyper + 1 when they break a rule
 * together (*why: the rule). */
int gradc_optimizer_check(const gradc_optimizer *o, const double *hyper, const char **why);

/* values[0..nhyper + nderived): the user's hyper[0..nhyper) rounded to float, then
 * derive's values for step (>= 1). What gradc_core_update_n and a train step read. */
void gradc_optimizer_values(const gradc_optimizer *o, const double *hyper, uint64_t step, float *values);

/* One step of o on one tensor of n elements: p, its gradient g, its state tensors
 * state[0..o->nstate) (NULL allowed for a state tensor whose guard is off), and the
 * values[0..nvalues) (nbase <= nvalues <= nhyper + nderived; the rest taken as 0). */
void gradc_core_update_n(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                         const float *values, int nvalues);
/* gradc_core_update_n with nvalues = o->nbase (SGD: {lr, momentum, weight_decay}). */
void gradc_core_update(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                       const float *values);

/* One SGD step on one tensor: gradc_core_update(&gradc_optimizer_sgd, ...) with
 * hyper {o->lr, o->momentum, o->weight_decay} and state {buf}. buf may be NULL when
 * momentum == 0 (and is then not touched). */
void gradc_core_sgd(float *p, const float *g, float *buf, size_t n, const gradc_sgd_opts *o);

/* sqrt(x) rounded to float as IEEE 754 requires (the same bits as sqrtf), without libm. */
float gradc_core_sqrtf(float x);

/* ---- Learning-rate schedules (torch.optim.lr_scheduler), per optimizer step ----
 *
 * gradc_schedule_lr gives the learning rate of step t (0 for the first step, as a torch
 * scheduler's last_epoch when its optimizer steps), from the base rate lr:
 *   warm-up (warmup > 0), for t < warmup: lr * (start_factor + (1 - start_factor) t /
 *     warmup) (LinearLR with end_factor 1); from then on the schedule below runs at
 *     t - warmup (SequentialLR);
 *   CONST: lr;
 *   STEP: lr * gamma^floor(t / step_size) (StepLR);
 *   COSINE: eta_min + (lr - eta_min) (1 + cos(pi t / t_max)) / 2 (CosineAnnealingLR);
 *   ONECYCLE: OneCycleLR(max_lr = lr, total_steps, pct_start, anneal_strategy "cos",
 *     div_factor, final_div_factor, three_phase false): from lr / div_factor up to lr
 *     by step pct_start * total - 1, then down to lr / div_factor / final_div_factor at
 *     step total - 1, cosine halves. With max_momentum > 0 (torch's cycle_momentum),
 *     gradc_schedule_momentum gives the momentum (SGD, RMSprop) or beta1 (Adam, AdamW)
 *     of each step, which moves the other way: from max_momentum down to base_momentum
 *     while the rate rises, back up while it falls. */
typedef enum { GRADC_SCHED_CONST, GRADC_SCHED_STEP, GRADC_SCHED_COSINE, GRADC_SCHED_ONECYCLE } gradc_schedule_kind;

typedef struct {
  gradc_schedule_kind kind;
  int64_t step_size;  /* STEP: > 0 */
  double gamma;       /* STEP */
  int64_t t_max;      /* COSINE: > 0 */
  double eta_min;     /* COSINE */
  int64_t total_steps; /* ONECYCLE: > 1 */
  double pct_start, div_factor, final_div_factor; /* ONECYCLE: 0.3, 25, 1e4 in torch */
  double base_momentum, max_momentum; /* ONECYCLE: 0.85, 0.95 in torch; max 0: not cycled */
  int64_t warmup;     /* steps of linear warm-up first, 0 for none */
  double start_factor; /* warm-up: the first step's fraction of lr (torch's default 1/3) */
} gradc_schedule;

/* The learning rate of step t >= 0. */
double gradc_schedule_lr(const gradc_schedule *s, double lr, int64_t t);
/* Whether s cycles the momentum (ONECYCLE with max_momentum > 0), and its value at step
 * t >= 0 (meaningful only when it does). */
int gradc_schedule_cycles_momentum(const gradc_schedule *s);
double gradc_schedule_momentum(const gradc_schedule *s, int64_t t);

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
