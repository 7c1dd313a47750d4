/* runtime/core.c — the freestanding runtime core: SGD (torch.optim.SGD semantics),
 * zeroing, and seeded parameter initialisation (splitmix64 streams keyed by seed and
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

#define R_D GRADC_R_TEMP(0) /* the step direction */
#define R_T GRADC_R_TEMP(1)
#define R_LR GRADC_R_HYPER(0)
#define R_MU GRADC_R_HYPER(1)
#define R_WD GRADC_R_HYPER(2)
#define R_BUF GRADC_R_STATE(0)

const gradc_optimizer gradc_optimizer_sgd = {
    .name = "sgd",
    .nhyper = 3,
    .hyper_names = {"lr", "momentum", "weight_decay"},
    .nstate = 1,
    .state_names = {"momentum"},
    .state_guard = {GRADC_IF(1)},
    .ninsns = 8,
    .insns =
        {
            {GRADC_OPI_MOV, R_D, GRADC_R_G, 0, 0},           /* d = g */
            {GRADC_OPI_MUL, R_T, R_WD, GRADC_R_P, GRADC_IF(2)}, /* d += wd p */
            {GRADC_OPI_ADD, R_D, R_D, R_T, GRADC_IF(2)},
            {GRADC_OPI_MUL, R_BUF, R_MU, R_BUF, GRADC_IF(1)}, /* buf = mu buf + d */
            {GRADC_OPI_ADD, R_BUF, R_BUF, R_D, GRADC_IF(1)},
            {GRADC_OPI_MOV, R_D, R_BUF, 0, GRADC_IF(1)},    /* d = buf */
            {GRADC_OPI_MUL, R_T, R_LR, R_D, 0},              /* p -= lr d */
            {GRADC_OPI_SUB, GRADC_R_P, GRADC_R_P, R_T, 0},
        },
};

/* The guard (0: none) under which register r holds a value before instruction i, or -1
 * when it holds none there. */
static int held_under(const gradc_optimizer *o, int i, int r) {
  if (r == GRADC_R_P || r == GRADC_R_G) return 0;
  if (r >= GRADC_R_STATE(0) && r < GRADC_R_STATE(o->nstate)) return o->state_guard[r - GRADC_R_STATE(0)];
  if (r >= GRADC_R_HYPER(0) && r < GRADC_R_HYPER(o->nhyper)) return 0;
  int g = -1;
  for (int j = 0; j < i; j++)
    if (o->insns[j].dst == r && (g == -1 || o->insns[j].guard == 0)) g = o->insns[j].guard;
  return g;
}

static bool writable(const gradc_optimizer *o, int r) {
  return r == GRADC_R_P || (r >= GRADC_R_STATE(0) && r < GRADC_R_STATE(o->nstate)) ||
         (r >= GRADC_R_TEMP(0) && r < GRADC_OPT_NREGS);
}

int gradc_optimizer_valid(const gradc_optimizer *o) {
  int bad_header = o->nstate + o->ninsns + 1;
  if (o->nhyper < 1 || o->nhyper > GRADC_OPT_MAX_HYPER || o->nstate < 0 || o->nstate > GRADC_OPT_MAX_STATE ||
      o->ninsns < 0 || o->ninsns > GRADC_OPT_MAX_INSNS)
    return bad_header;
  for (int s = 0; s < o->nstate; s++)
    if (o->state_guard[s] > o->nhyper) return s + 1;
  for (int i = 0; i < o->ninsns; i++) {
    const gradc_opi *in = &o->insns[i];
    int reads = in->op == GRADC_OPI_MOV ? 1 : 2, g = in->guard;
    if (in->op > GRADC_OPI_MUL || g > o->nhyper || !writable(o, in->dst)) return o->nstate + i + 1;
    for (int k = 0; k < reads; k++) { /* each operand holds a value under this guard */
      int h = held_under(o, i, k == 0 ? in->a : in->b);
      if (h == -1 || (h != 0 && h != g)) return o->nstate + i + 1;
    }
    int s = in->dst - GRADC_R_STATE(0); /* a guarded state tensor is written only under its guard */
    if (s >= 0 && s < o->nstate && o->state_guard[s] && o->state_guard[s] != g) return o->nstate + i + 1;
  }
  return 0;
}

#define CHUNK 16 /* elements per pass of the interpreter: each instruction is a short loop */

static void run_insn(const gradc_opi *in, float (*r)[CHUNK], size_t m) {
  float *d = r[in->dst];
  const float *a = r[in->a], *b = r[in->b];
  switch ((gradc_opi_code)in->op) {
  case GRADC_OPI_MOV: for (size_t i = 0; i < m; i++) d[i] = a[i]; break;
  case GRADC_OPI_ADD: for (size_t i = 0; i < m; i++) d[i] = a[i] + b[i]; break;
  case GRADC_OPI_SUB: for (size_t i = 0; i < m; i++) d[i] = a[i] - b[i]; break;
  case GRADC_OPI_MUL: for (size_t i = 0; i < m; i++) d[i] = a[i] * b[i]; break;
  }
}

static void copy(float *dst, const float *src, size_t m) {
  for (size_t i = 0; i < m; i++) dst[i] = src[i];
}

void gradc_core_update(const gradc_optimizer *o, float *p, const float *g, float *const *state, size_t n,
                       const float *hyper) {
  bool on[GRADC_OPT_MAX_HYPER + 1] = {true}; /* by guard */
  float r[GRADC_OPT_NREGS][CHUNK];
  for (int h = 0; h < o->nhyper; h++) {
    on[h + 1] = hyper[h] != 0.0f;
    gradc_core_fill(r[GRADC_R_HYPER(h)], CHUNK, hyper[h]);
  }
  for (size_t at = 0; at < n; at += CHUNK) {
    size_t m = n - at < CHUNK ? n - at : CHUNK;
    copy(r[GRADC_R_P], p + at, m);
    copy(r[GRADC_R_G], g + at, m);
    for (int s = 0; s < o->nstate; s++)
      if (on[o->state_guard[s]]) copy(r[GRADC_R_STATE(s)], state[s] + at, m);
    for (int i = 0; i < o->ninsns; i++)
      if (on[o->insns[i].guard]) run_insn(&o->insns[i], r, m);
    for (int s = 0; s < o->nstate; s++)
      if (on[o->state_guard[s]]) copy(state[s] + at, r[GRADC_R_STATE(s)], m);
    copy(p + at, r[GRADC_R_P], m);
  }
}

void gradc_core_sgd(float *p, const float *g, float *buf, size_t n, const gradc_sgd_opts *o) {
  const float hyper[3] = {o->lr, o->momentum, o->weight_decay};
  gradc_core_update(&gradc_optimizer_sgd, p, g, &buf, n, hyper);
}
