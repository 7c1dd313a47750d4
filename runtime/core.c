/* runtime/core.c — the freestanding runtime core: the optimizers (torch.optim's SGD,
 * Adam, AdamW, RMSprop, each a description run by one interpreter), learning-rate
 * schedules, zeroing, and seeded parameter initialisation (splitmix64 streams keyed by seed and
 * tensor name; Box-Muller normals with our own log/sqrt/cos). The generator is
 * specified exactly in include/gradc/runtime_core.h.
 *
 * It does not allocate, print, or call any library function (no libc, no libm): it
 * must compile with -ffreestanding -nostdlib and leave `nm -u` empty. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gradc/runtime_core.h"

/* ---- bit access to doubles ---- */

typedef union {
  double d;
  uint64_t u;
} dbits;

static uint64_t to_bits(double x) {
  dbits b;
  b.d = x;
  return b.u;
}

static double from_bits(uint64_t u) {
  dbits b;
  b.u = u;
  return b.d;
}

/* x = m * 2^e with m in [1, 2); x finite and > 0. */
static double split_exp(double x, int *e) {
  int adj = 0;
  if (((to_bits(x) >> 52) & 0x7ff) == 0) { /* subnormal: scale into the normal range */
    x *= 18014398509481984.0;                /* 2^54 */
    adj = -54;
  }
  uint64_t u = to_bits(x);
  *e = (int)((u >> 52) & 0x7ff) - 1023 + adj;
  return from_bits((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
}

/* 2^e for e in the normal exponent range. */
static double pow2i(int e) {
  return from_bits((uint64_t)(e + 1023) << 52);
}

/* ---- elementary functions ---- */

double gradc_core_log(double x) {
  if (!(x > 0.0)) return -1e308; /* log 0 (and out-of-domain): a huge negative value */
  if (x > 1.7976931348623157e308) return x;
  const double ln2_hi = 6.93147180369123816490e-01; /* fdlibm split of ln 2 */
  const double ln2_lo = 1.90821492927058770002e-10;
  int e;
  double m = split_exp(x, &e);
  if (m > 1.41421356237309504880) {
    m *= 0.5;
    e += 1;
  }
  /* log m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: 13 odd terms reach 1e-18. */
  double s = (m - 1.0) / (m + 1.0);
  double s2 = s * s;
  double p = 1.0 / 25.0;
  for (int k = 11; k >= 0; k--) p = p * s2 + 1.0 / (double)(2 * k + 1);
  double lm = 2.0 * s * p;
  return (double)e * ln2_hi + ((double)e * ln2_lo + lm);
}

double gradc_core_sqrt(double x) {
  if (!(x > 0.0)) return 0.0;
  if (x > 1.7976931348623157e308) return x;
  int e;
  double m = split_exp(x, &e);
  if (e & 1) { /* make the exponent even: m in [1, 4) */
    m *= 2.0;
    e -= 1;
  }
  double y = 0.5 * (1.0 + m); /* within 25% of sqrt(m); Newton converges quadratically */
  for (int i = 0; i < 7; i++) y = 0.5 * (y + m / y);
  return y * pow2i(e / 2);
}

/* Taylor series on [0, pi/4], Horner form. */
static double cos_kernel(double x) {
  double x2 = x * x, r = 1.0;
  for (int k = 10; k >= 1; k--) r = 1.0 - x2 / (double)((2 * k - 1) * (2 * k)) * r;
  return r;
}

static double sin_kernel(double x) {
  double x2 = x * x, r = 1.0;
  for (int k = 10; k >= 1; k--) r = 1.0 - x2 / (double)((2 * k) * (2 * k + 1)) * r;
  return x * r;
}

double gradc_core_cos(double x) {
  const double pio2_hi = 1.57079632679489655800e+00; /* pi/2 = pio2_hi + pio2_lo */
  const double pio2_lo = 6.12323399573676603587e-17;
  const double pio4 = 0.785398163397448309616;
  if (x < 0) x = -x;
  if (!(x < 4503599627370496.0)) return 0.0; /* >= 2^52 (or NaN): no meaningful answer */
  /* x -= 2 pi * trunc(x / 2 pi), Cody-Waite with fdlibm's 33-bit pieces of pi/2:
   * k * c1 and k * c2 are exact for k < 2^20, i.e. |x| < 6.5e6. */
  const double c1 = 4.0 * 1.57079632673412561417e+00;
  const double c2 = 4.0 * 6.07710050630396597660e-11;
  const double c3 = 4.0 * 2.02226624879595063154e-21;
  double k = (double)(int64_t)(x / (4.0 * pio2_hi));
  x = ((x - k * c1) - k * c2) - k * c3;
  if (x < 0) x = -x;                                         /* cos is even */
  if (x > 2.0 * pio2_hi) x = (4.0 * pio2_hi - x) + 4.0 * pio2_lo; /* cos(2pi - x) */
  double sign = 1.0;
  if (x > pio2_hi) { /* cos(x) = -cos(pi - x) */
    x = (2.0 * pio2_hi - x) + 2.0 * pio2_lo;
    sign = -1.0;
  }
  if (x > pio4) return sign * sin_kernel((pio2_hi - x) + pio2_lo);
  return sign * cos_kernel(x);
}

/* ---- generator ---- */

uint64_t gradc_core_fnv1a64(const char *name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *c = (const unsigned char *)name; c && *c; c++) {
    h ^= *c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t gradc_core_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void gradc_rng_seed(gradc_rng *r, uint64_t seed, const char *name) {
  r->state = gradc_core_mix64(seed) ^ gradc_core_fnv1a64(name);
}

uint64_t gradc_rng_next(gradc_rng *r) {
  r->state += 0x9e3779b97f4a7c15ull;
  return gradc_core_mix64(r->state);
}

double gradc_rng_u01(gradc_rng *r) {
  return (double)(int64_t)(gradc_rng_next(r) >> 11) * 0x1.0p-53;
}

double gradc_rng_normal(gradc_rng *r) {
  const double two_pi = 6.28318530717958647692;
  double u1 = gradc_rng_u01(r);
  double u2 = gradc_rng_u01(r);
  return gradc_core_sqrt(-2.0 * gradc_core_log(1.0 - u1)) * gradc_core_cos(two_pi * u2);
}

/* ---- dropout and modes (issue 15): the step seed ---- */

uint64_t gradc_dropout_seed(uint64_t seed, uint64_t step) {
  gradc_rng r;
  gradc_rng_seed(&r, seed, "gradc.dropout");
  return gradc_core_mix64(r.state + (step + 1) * 0x9e3779b97f4a7c15ull);
}

/* ---- buffers ---- */

void gradc_core_fill(float *p, size_t n, float v) {
  for (size_t i = 0; i < n; i++) p[i] = v;
}

void gradc_core_zero(float *p, size_t n) {
  gradc_core_fill(p, n, 0.0f);
}

void gradc_core_zero_bytes(void *p, size_t nbytes) {
  unsigned char *b = (unsigned char *)p;
  for (size_t i = 0; i < nbytes; i++) b[i] = 0;
}

void gradc_core_init_tensor(float *p, size_t n, const gradc_init_spec *spec, uint64_t seed,
                            const char *name) {
  gradc_rng r;
  gradc_rng_seed(&r, seed, name);
  switch (spec->kind) {
  case GRADC_INIT_NORMAL:
    for (size_t i = 0; i < n; i++) p[i] = (float)(spec->a * gradc_rng_normal(&r));
    break;
  case GRADC_INIT_UNIFORM:
    for (size_t i = 0; i < n; i++) p[i] = (float)(spec->a + (spec->b - spec->a) * gradc_rng_u01(&r));
    break;
  case GRADC_INIT_CONST:
  default:
    gradc_core_fill(p, n, (float)spec->a);
    break;
  }
}

/* ---- optimisers (runtime_core.h): the update rules, and their interpreter ---- */

#define R_P GRADC_R_P
#define R_G GRADC_R_G
#define R_D GRADC_R_TEMP(0) /* the step direction */
#define R_T GRADC_R_TEMP(1)
#define R_E GRADC_R_TEMP(2)
#define R_S GRADC_R_TEMP(3)
#define R_U GRADC_R_TEMP(4)
#define H(h) GRADC_R_HYPER(h)
#define S(s) GRADC_R_STATE(s)
#define I(op, dst, a, b, guard) {GRADC_OPI_##op, dst, a, b, guard}

/* b^n by squaring (torch computes beta ** step with libm's pow: they differ in the last
 * bits of a double, far below a float's). */
static double powi(double b, uint64_t n) {
  double r = 1.0;
  for (; n; n >>= 1, b *= b)
    if (n & 1) r *= b;
  return r;
}

/* ---- SGD: hyper lr, momentum, weight_decay, dampening, nesterov; derived keep ---- */

static void sgd_derive(const double *h, uint64_t step, float *d) {
  d[0] = step <= 1 ? 1.0f : (float)(1.0 - h[3]); /* torch's first step copies d into the buffer */
}

static const char *sgd_check(const double *h) {
  return h[4] != 0 && (h[1] <= 0 || h[3] != 0) ? "Nesterov momentum needs a momentum above 0 and no dampening" : 0;
}

const gradc_optimizer gradc_optimizer_sgd = {
    .name = "sgd",
    .nhyper = 5,
    .nderived = 1,
    .hyper_names = {"lr", "momentum", "weight_decay", "dampening", "nesterov", "dampening_keep"},
    .hyper_default = {0.01, 0, 0, 0, 0},
    .hyper_kind = {GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG, GRADC_HYPER_FRAC, GRADC_HYPER_FLAG},
    .nbase = 3,
    .derive = sgd_derive,
    .check = sgd_check,
    .nstate = 1,
    .state_names = {"momentum"},
    .state_guard = {GRADC_IF(1)},
    .ninsns = 13,
    .insns =
        {
            I(MOV, R_D, R_G, 0, 0),                                /* d = g */
            I(MUL, R_T, H(2), R_P, GRADC_IF(2)),                   /* d += wd p */
            I(ADD, R_D, R_D, R_T, GRADC_IF(2)),
            I(MUL, S(0), H(1), S(0), GRADC_IF(1)),                 /* buf = mu buf + e */
            I(MOV, R_E, R_D, 0, GRADC_IF(1)),                      /* e = d, or keep d */
            I(MUL, R_E, H(5), R_E, GRADC_IF(1) | GRADC_IF(3)),
            I(ADD, S(0), S(0), R_E, GRADC_IF(1)),
            I(MUL, R_T, H(1), S(0), GRADC_IF(1) | GRADC_IF(4)),    /* Nesterov: d + mu buf */
            I(ADD, R_T, R_D, R_T, GRADC_IF(1) | GRADC_IF(4)),
            I(MOV, R_D, S(0), 0, GRADC_IF(1)),                     /* d = buf */
            I(MOV, R_D, R_T, 0, GRADC_IF(1) | GRADC_IF(4)),
            I(MUL, R_T, H(0), R_D, 0),                             /* p -= lr d */
            I(SUB, R_P, R_P, R_T, 0),
        },
};

/* ---- Adam and AdamW: hyper lr, beta1, beta2, eps, weight_decay, amsgrad; derived
 * neg_step_size, bias_correction2_sqrt, one_minus_beta1, one_minus_beta2 (AdamW: decay) ---- */

static void adam_derive(const double *h, uint64_t step, float *d) {
  double bc1 = 1.0 - powi(h[1], step), bc2 = 1.0 - powi(h[2], step);
  d[0] = (float)-(h[0] / bc1);
  d[1] = (float)gradc_core_sqrt(bc2);
  d[2] = (float)(1.0 - h[1]);
  d[3] = (float)(1.0 - h[2]);
}

static void adamw_derive(const double *h, uint64_t step, float *d) {
  adam_derive(h, step, d);
  d[4] = (float)(1.0 - h[0] * h[4]);
}

/* The moments, the denominator and the step: Adam's instructions after the decay. */
#define ADAM_BODY                                                                                                  \
  I(MUL, S(0), H(1), S(0), 0), /* m = beta1 m + (1 - beta1) d */                                                   \
      I(MUL, R_T, H(8), R_D, 0), I(ADD, S(0), S(0), R_T, 0),                                                       \
      I(MUL, S(1), H(2), S(1), 0), /* v = beta2 v + ((1 - beta2) d) d */                                           \
      I(MUL, R_T, H(9), R_D, 0), I(MUL, R_T, R_T, R_D, 0), I(ADD, S(1), S(1), R_T, 0),                            \
      I(MOV, R_S, S(1), 0, 0), /* s = v, or with amsgrad vmax = max(vmax, v) */                                    \
      I(MAX, S(2), S(2), S(1), GRADC_IF(5)), I(MOV, R_S, S(2), 0, GRADC_IF(5)),                                    \
      I(SQRT, R_S, R_S, 0, 0), /* s = sqrt(s) / bias_correction2_sqrt + eps */                                     \
      I(DIV, R_S, R_S, H(7), 0), I(ADD, R_S, R_S, H(3), 0),                                                        \
      I(MUL, R_T, H(6), S(0), 0), /* p += (neg_step_size m) / s */                                                 \
      I(DIV, R_T, R_T, R_S, 0), I(ADD, R_P, R_P, R_T, 0)

#define ADAM_COMMON                                                                                                \
  .nhyper = 6,                                                                                                     \
  .hyper_kind = {GRADC_HYPER_NONNEG, GRADC_HYPER_UNIT, GRADC_HYPER_UNIT, GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG,   \
                 GRADC_HYPER_FLAG},                                                                                \
  .nstate = 3, .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, .state_guard = {0, 0, GRADC_IF(5)}

const gradc_optimizer gradc_optimizer_adam = {
    .name = "adam",
    ADAM_COMMON,
    .hyper_default = {0.001, 0.9, 0.999, 1e-8, 0, 0},
    .nderived = 4,
    .hyper_names = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "neg_step_size",
                    "bias_correction2_sqrt", "one_minus_beta1", "one_minus_beta2"},
    .nbase = 10,
    .derive = adam_derive,
    .ninsns = 19,
    .insns =
        {
            I(MOV, R_D, R_G, 0, 0), /* d = g + wd p */
            I(MUL, R_T, H(4), R_P, GRADC_IF(4)),
            I(ADD, R_D, R_D, R_T, GRADC_IF(4)),
            ADAM_BODY,
        },
};

const gradc_optimizer gradc_optimizer_adamw = {
    .name = "adamw",
    ADAM_COMMON,
    .hyper_default = {0.001, 0.9, 0.999, 1e-8, 0.01, 0},
    .nderived = 5,
    .hyper_names = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "neg_step_size",
                    "bias_correction2_sqrt", "one_minus_beta1", "one_minus_beta2", "decay"},
    .nbase = 11,
    .derive = adamw_derive,
    .ninsns = 18,
    .insns =
        {
            I(MUL, R_P, H(10), R_P, GRADC_IF(4)), /* p = (1 - lr wd) p; d = g */
            I(MOV, R_D, R_G, 0, 0),
            ADAM_BODY,
        },
};

/* ---- RMSprop: hyper lr, alpha, eps, weight_decay, momentum, centered; derived neg_lr,
 * one_minus_alpha ---- */

static void rmsprop_derive(const double *h, uint64_t step, float *d) {
  (void)step;
  d[0] = (float)-h[0];
  d[1] = (float)(1.0 - h[1]);
}

const gradc_optimizer gradc_optimizer_rmsprop = {
    .name = "rmsprop",
    .nhyper = 6,
    .nderived = 2,
    .hyper_names = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "neg_lr", "one_minus_alpha"},
    .hyper_default = {0.01, 0.99, 1e-8, 0, 0, 0},
    .hyper_kind = {GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG, GRADC_HYPER_NONNEG,
                   GRADC_HYPER_NONNEG, GRADC_HYPER_FLAG},
    .nbase = 8,
    .derive = rmsprop_derive,
    .nstate = 3,
    .state_names = {"square_avg", "momentum", "grad_avg"},
    .state_guard = {0, GRADC_IF(4), GRADC_IF(5)},
    .ninsns = 22,
    .insns =
        {
            I(MOV, R_D, R_G, 0, 0), /* d = g + wd p */
            I(MUL, R_T, H(3), R_P, GRADC_IF(3)),
            I(ADD, R_D, R_D, R_T, GRADC_IF(3)),
            I(MUL, S(0), H(1), S(0), 0), /* sq = alpha sq + ((1 - alpha) d) d */
            I(MUL, R_T, H(7), R_D, 0),
            I(MUL, R_T, R_T, R_D, 0),
            I(ADD, S(0), S(0), R_T, 0),
            I(MOV, R_S, S(0), 0, 0), /* a = sq, or centered: ga = alpha ga + (1 - alpha) d, a = sq - ga ga */
            I(MUL, S(2), H(1), S(2), GRADC_IF(5)),
            I(MUL, R_T, H(7), R_D, GRADC_IF(5)),
            I(ADD, S(2), S(2), R_T, GRADC_IF(5)),
            I(MUL, R_T, S(2), S(2), GRADC_IF(5)),
            I(SUB, R_S, R_S, R_T, GRADC_IF(5)),
            I(SQRT, R_S, R_S, 0, 0), /* a = sqrt(a) + eps */
            I(ADD, R_S, R_S, H(2), 0),
            I(MUL, R_U, H(6), R_D, 0), /* u = (neg_lr d) / a, or with momentum: */
            I(DIV, R_U, R_U, R_S, 0),
            I(MUL, S(1), H(4), S(1), GRADC_IF(4)), /* buf = momentum buf + d / a, u = neg_lr buf */
            I(DIV, R_T, R_D, R_S, GRADC_IF(4)),
            I(ADD, S(1), S(1), R_T, GRADC_IF(4)),
            I(MUL, R_U, H(6), S(1), GRADC_IF(4)),
            I(ADD, R_P, R_P, R_U, 0), /* p += u */
        },
};

const gradc_optimizer *const gradc_optimizers[] = {&gradc_optimizer_sgd, &gradc_optimizer_adam,
                                                   &gradc_optimizer_adamw, &gradc_optimizer_rmsprop, 0};

static bool same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

const gradc_optimizer *gradc_optimizer_find(const char *name) {
  for (int i = 0; name && gradc_optimizers[i]; i++)
    if (same(gradc_optimizers[i]->name, name)) return gradc_optimizers[i];
  return 0;
}

int gradc_optimizer_state_names(const char **names, int max) {
  int n = 0;
  for (int i = 0; gradc_optimizers[i]; i++)
    for (int s = 0; s < gradc_optimizers[i]->nstate; s++) {
      bool seen = false;
      for (int k = 0; k < n && k < max; k++) seen |= same(names[k], gradc_optimizers[i]->state_names[s]);
      if (!seen && n < max) names[n] = gradc_optimizers[i]->state_names[s];
      n += !seen;
    }
  return n;
}

int gradc_optimizer_value_index(const gradc_optimizer *o, const char *name) {
  for (int h = 0; name && h < o->nhyper + o->nderived; h++)
    if (same(o->hyper_names[h], name)) return h;
  return -1;
}

/* ---- checking a description ---- */

static int nvalues(const gradc_optimizer *o) { return o->nhyper + o->nderived; }

static bool is_state(const gradc_optimizer *o, int r) { return r >= GRADC_R_STATE(0) && r < GRADC_R_STATE(o->nstate); }
static bool is_value(const gradc_optimizer *o, int r) { return r >= GRADC_R_HYPER(0) && r < GRADC_R_HYPER(nvalues(o)); }

/* Whether register r holds a value before instruction i for an instruction under guards g. */
static bool held(const gradc_optimizer *o, int i, int r, unsigned g) {
  if (r == GRADC_R_P || r == GRADC_R_G || is_value(o, r)) return true;
  if (is_state(o, r)) return (o->state_guard[r - GRADC_R_STATE(0)] & ~g) == 0;
  for (int j = 0; j < i; j++)
    if (o->insns[j].dst == r && (o->insns[j].guard & ~g) == 0) return true;
  return false;
}

static bool writable(const gradc_optimizer *o, int r) {
  return r == GRADC_R_P || is_state(o, r) || (r >= GRADC_R_TEMP(0) && r < GRADC_OPT_NREGS);
}

static bool bad_header(const gradc_optimizer *o) {
  if (!o->name || o->nhyper < 1 || o->nhyper > GRADC_OPT_MAX_HYPER || o->nderived < 0 ||
      nvalues(o) > GRADC_OPT_MAX_VALUES || o->nbase < 1 || o->nbase > nvalues(o) || o->nstate < 0 ||
      o->nstate > GRADC_OPT_MAX_STATE || o->ninsns < 0 || o->ninsns > GRADC_OPT_MAX_INSNS ||
      (o->nderived > 0) != (o->derive != 0))
    return true;
  for (int h = 0; h < nvalues(o); h++)
    if (!o->hyper_names[h] || (h < o->nhyper && o->hyper_kind[h] > GRADC_HYPER_FLAG)) return true;
  for (int s = 0; s < o->nstate; s++)
    if (!o->state_names[s]) return true;
  return false;
}

static bool bad_insn(const gradc_optimizer *o, int i) {
  const gradc_opi *in = &o->insns[i];
  unsigned g = in->guard, users = (1u << o->nhyper) - 1, past = users & ~((1u << o->nbase) - 1);
  int reads = in->op == GRADC_OPI_MOV || in->op == GRADC_OPI_SQRT ? 1 : 2;
  if (in->op > GRADC_OPI_MAX || (g & ~users) || !writable(o, in->dst)) return true;
  for (int k = 0; k < reads; k++) { /* each operand holds a value under these guards */
    int r = k == 0 ? in->a : in->b;
    if (!held(o, i, r, g)) return true;
    if (!(g & past) && is_value(o, r) && r >= GRADC_R_HYPER(o->nbase)) return true; /* read with the base values */
  }
  int s = in->dst - GRADC_R_STATE(0); /* a guarded state tensor is written only under its guard */
  return is_state(o, in->dst) && (o->state_guard[s] & ~g);
}

int gradc_optimizer_valid(const gradc_optimizer *o) {
  if (bad_header(o)) return o->nstate + o->ninsns + 1;
  for (int s = 0; s < o->nstate; s++) {
    unsigned g = o->state_guard[s];
    if ((g & (g - 1)) || g >= 1u << o->nhyper) return s + 1; /* one user hyper-parameter, or none */
  }
  for (int i = 0; i < o->ninsns; i++)
    if (bad_insn(o, i)) return o->nstate + i + 1;
  return 0;
}

static bool is_finite(double x) { return x - x == 0.0; }

int gradc_optimizer_check(const gradc_optimizer *o, const double *hyper, const char **why) {
  static const char *const need[] = {"must be a finite number >= 0", "must be in [0, 1)", "must be in [0, 1]",
                                     "must be 0 or 1"};
  for (int h = 0; h < o->nhyper; h++) {
    double x = hyper[h];
    int k = o->hyper_kind[h];
    bool ok = is_finite(x) && x >= 0 && (k == GRADC_HYPER_NONNEG || (k == GRADC_HYPER_UNIT && x < 1) ||
                                      (k == GRADC_HYPER_FRAC && x <= 1) || (k == GRADC_HYPER_FLAG && (x == 0 || x == 1)));
    if (!ok) {
      if (why) *why = need[k];
      return h + 1;
    }
  }
  const char *rule = o->check ? o->check(hyper) : 0;
  if (why) *why = rule;
  return rule ? o->nhyper + 1 : 0;
}

void gradc_optimizer_values(const gradc_optimizer *o, const double *hyper, uint64_t step, float *values) {
  for (int h = 0; h < o->nhyper; h++) values[h] = (float)hyper[h];
  if (o->derive) o->derive(hyper, step < 1 ? 1 : step, values + o->nhyper);
}

/* ---- float square root, correctly rounded, in integers ---- */

typedef union {
  float f;
  uint32_t u;
} fbits;

float gradc_core_sqrtf(float x) {
  fbits b = {x};
  uint32_t e = (b.u >> 23) & 0xff, m = b.u & 0x7fffff;
  if ((b.u & 0x7fffffff) == 0) return x;                      /* +-0 */
  if (e == 0xff && m) return b.u |= 0x400000, b.f;            /* NaN, quieted */
  if (b.u >> 31) return b.u = 0x7fc00000, b.f;                /* below 0: NaN */
  if (e == 0xff) return x;                                    /* +inf */
  int k;                                                      /* x = m 2^k, m in [2^23, 2^24) */
  if (e == 0)
    for (k = -149; !(m & 0x800000); k--) m <<= 1;
  else m |= 0x800000, k = (int)e - 150;
  int sh = (k & 1) ? 25 : 26;                                 /* M = m 2^sh in [2^48, 2^50), k - sh even */
  uint64_t rem = (uint64_t)m << sh, root = 0;
  k -= sh;
  for (uint64_t bit = 1ull << 48; bit; bit >>= 2) {           /* root = floor(sqrt(M)), in [2^24, 2^25) */
    if (rem >= root + bit) rem -= root + bit, root = (root >> 1) + bit;
    else root >>= 1;
  }
  uint32_t q = (uint32_t)(root >> 1);                         /* 24 bits; root's last bit rounds */
  int ex = k / 2 + 1;                                         /* sqrt(x) ~ q 2^ex */
  if ((root & 1) && (rem || (q & 1))) q++;
  if (q == 1u << 24) q >>= 1, ex++;
  b.u = ((uint32_t)(ex + 23 + 127) << 23) | (q & 0x7fffff);
  return b.f;
}

/* ---- the interpreter ---- */

#define CHUNK 16 /* elements per pass of the interpreter: each instruction is a short loop */

static float max_nan(float a, float b) { return a > b || a != a ? a : b; }

static void run_insn(const gradc_opi *in, float (*r)[CHUNK], size_t m) {
  float *d = r[in->dst];
  const float *a = r[in->a], *b = r[in->b];
  switch ((gradc_opi_code)in->op) {
  case GRADC_OPI_MOV: for (size_t i = 0; i < m; i++) d[i] = a[i]; break;
  case GRADC_OPI_ADD: for (size_t i = 0; i < m; i++) d[i] = a[i] + b[i]; break;
  case GRADC_OPI_SUB: for (size_t i = 0; i < m; i++) d[i] = a[i] - b[i]; break;
  case GRADC_OPI_MUL: for (size_t i = 0; i < m; i++) d[i] = a[i] * b[i]; break;
  case GRADC_OPI_DIV: for (size_t i = 0; i < m; i++) d[i] = a[i] / b[i]; break;
  case GRADC_OPI_SQRT: for (size_t i = 0; i < m; i++) d[i] = gradc_core_sqrtf(a[i]); break;
  case GRADC_OPI_MAX: for (size_t i = 0; i < m; i++) d[i] = max_nan(a[i], b[i]); break;
  }
}

static void copy(float *dst, const float *src, size_t m) {
  for (size_t i = 0; i < m; i++) dst[i] = src[i];
}

void gradc_core_update_n(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                         const float *values, int nv) {
  unsigned on = 0; /* the guards that hold */
  float r[GRADC_OPT_NREGS][CHUNK];
  for (int h = 0; h < nvalues(o); h++) {
    float v = h < nv ? values[h] : 0.0f;
    if (h < o->nhyper && v != 0.0f) on |= GRADC_IF(h);
    gradc_core_fill(r[GRADC_R_HYPER(h)], CHUNK, v);
  }
  for (size_t at = 0; at < n; at += CHUNK) {
    size_t m = n - at < CHUNK ? n - at : CHUNK;
    copy(r[GRADC_R_P], p + at, m);
    copy(r[GRADC_R_G], g + at, m);
    for (int s = 0; s < o->nstate; s++)
      if (!(o->state_guard[s] & ~on)) copy(r[GRADC_R_STATE(s)], state[s] + at, m);
    for (int i = 0; i < o->ninsns; i++)
      if (!(o->insns[i].guard & ~on)) run_insn(&o->insns[i], r, m);
    for (int s = 0; s < o->nstate; s++)
      if (!(o->state_guard[s] & ~on)) copy(state[s] + at, r[GRADC_R_STATE(s)], m);
    copy(p + at, r[GRADC_R_P], m);
  }
}

void gradc_core_update(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                       const float *values) {
  gradc_core_update_n(o, p, g, state, n, values, o->nbase);
}

void gradc_core_sgd(float *p, const float *g, float *buf, size_t n, const gradc_sgd_opts *o) {
  const float hyper[3] = {o->lr, o->momentum, o->weight_decay};
  gradc_core_update(&gradc_optimizer_sgd, p, g, &buf, n, hyper);
}

/* ---- learning-rate schedules ---- */

#define PI 3.14159265358979323846

static double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (gradc_core_cos(PI * pct) + 1.0);
}

/* One-cycle's two phases: a value that goes from `start` to `peak` in the first and
 * from `peak` to `end` in the second (torch's OneCycleLR, three_phase false). */
static double one_cycle_phases(const gradc_schedule *s, int64_t t, double start, double peak, double end) {
  double end1 = s->pct_start * (double)s->total_steps - 1.0, end2 = (double)s->total_steps - 1.0;
  if ((double)t <= end1) return anneal_cos(start, peak, end1 > 0 ? (double)t / end1 : 1.0);
  double pct = end2 > end1 ? ((double)t - end1) / (end2 - end1) : 1.0;
  return anneal_cos(peak, end, pct < 1.0 ? pct : 1.0);
}

static double one_cycle(const gradc_schedule *s, double lr, int64_t t) {
  double initial = lr / s->div_factor;
  return one_cycle_phases(s, t, initial, lr, initial / s->final_div_factor);
}

int gradc_schedule_cycles_momentum(const gradc_schedule *s) {
  return s->kind == GRADC_SCHED_ONECYCLE && s->total_steps > 1 && s->max_momentum > 0;
}

double gradc_schedule_momentum(const gradc_schedule *s, int64_t t) {
  if (!gradc_schedule_cycles_momentum(s)) return s->max_momentum;
  return one_cycle_phases(s, t < 0 ? 0 : t, s->max_momentum, s->base_momentum, s->max_momentum);
}

double gradc_schedule_lr(const gradc_schedule *s, double lr, int64_t t) {
  if (t < 0) t = 0;
  if (s->warmup > 0) {
    if (t < s->warmup) return lr * (s->start_factor + (1.0 - s->start_factor) * (double)t / (double)s->warmup);
    t -= s->warmup;
  }
  switch (s->kind) {
  case GRADC_SCHED_STEP: return s->step_size > 0 ? lr * powi(s->gamma, (uint64_t)(t / s->step_size)) : lr;
  case GRADC_SCHED_COSINE:
    return s->t_max > 0 ? s->eta_min + (lr - s->eta_min) * (1.0 + gradc_core_cos(PI * (double)t / (double)s->t_max)) / 2.0
                        : lr;
  case GRADC_SCHED_ONECYCLE: return s->total_steps > 1 ? one_cycle(s, lr, t) : lr;
  case GRADC_SCHED_CONST: break;
  }
  return lr;
}
