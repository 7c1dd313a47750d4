/* test_optim.c — the optimizers of the freestanding core (runtime/core.c) against
 * torch.optim's formulas written out here, bit for bit: SGD (momentum, dampening,
 * Nesterov, weight decay), Adam and AdamW (with amsgrad), RMSprop (centered, momentum),
 * every combination of their switches; the per-step derived values against the same
 * expressions in double with libm; the correctly rounded float square root against
 * sqrtf; the checks of a description; the learning-rate schedules against torch's
 * closed forms. Compiled with -ffp-contract=off, as the formulas must round each
 * operation as torch's kernels do. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "gradc/runtime_core.h"

enum { N = 37 }; /* not a multiple of the interpreter's chunk */

typedef struct {
  float p[N], g[N], s[3][N];
} Case;

/* The parameters' start, and the gradients of step t. */
static void start(Case *c) {
  for (int i = 0; i < N; i++) c->p[i] = (float)(i % 7) * 0.37f - 1.1f;
}
static void grads(Case *c, int t) {
  for (int i = 0; i < N; i++) c->g[i] = (float)((i * 5 + t * 3) % 11) * 0.21f - 1.0f;
}

/* Runs o `steps` times from the case's parameters with gradients varying per step, and
 * the formula `ref` (one element, one step) alike; every parameter and state element
 * must be the same float. */
typedef void (*Formula)(const double *h, int t, float g, float *p, float *s);

static void compare(const gradc_optimizer *o, const double *hyper, Formula ref, const char *what) {
  Case run = {0}, want = {0};
  start(&run), start(&want);
  float values[GRADC_OPT_MAX_VALUES];
  float *state[3] = {run.s[0], run.s[1], run.s[2]};
  for (int t = 1; t <= 6; t++) {
    grads(&run, t), grads(&want, t);
    gradc_optimizer_values(o, hyper, (uint64_t)t, values);
    gradc_core_update_n(o, run.p, run.g, state, N, values, o->nhyper + o->nderived);
    for (int i = 0; i < N; i++) {
      float s[3] = {want.s[0][i], want.s[1][i], want.s[2][i]};
      ref(hyper, t, want.g[i], &want.p[i], s);
      for (int k = 0; k < 3; k++) want.s[k][i] = s[k];
    }
    for (int i = 0; i < N; i++) {
      cr_assert(run.p[i] == want.p[i] || (isnan(run.p[i]) && isnan(want.p[i])),
                "%s step %d: p[%d] = %.9g, formula %.9g", what, t, i, run.p[i], want.p[i]);
      for (int k = 0; k < o->nstate; k++)
        cr_assert(run.s[k][i] == want.s[k][i], "%s step %d: %s[%d] = %.9g, formula %.9g", what, t,
                  o->state_names[k], i, run.s[k][i], want.s[k][i]);
    }
  }
}

/* ---- torch.optim.SGD (torch/optim/sgd.py, _single_tensor_sgd) ---- */

static void sgd_formula(const double *h, int t, float g, float *p, float *s) {
  float lr = (float)h[0], mu = (float)h[1], wd = (float)h[2];
  float d = g;
  if (wd != 0) d = d + wd * *p;           /* d_p.add(param, alpha=weight_decay) */
  if (mu != 0) {
    if (t == 1) s[0] = d;                  /* buf = torch.clone(d_p) */
    else s[0] = s[0] * mu + (float)(1 - h[3]) * d; /* buf.mul_(momentum).add_(d_p, alpha=1 - dampening) */
    d = h[4] != 0 ? d + mu * s[0] : s[0];  /* nesterov: d_p.add(buf, alpha=momentum) */
  }
  *p = *p + -lr * d;                       /* param.add_(d_p, alpha=-lr) */
}

Test(optim, sgd_matches_torch_formula_bit_for_bit) {
  const double mus[] = {0, 0.9}, wds[] = {0, 0.01}, damps[] = {0, 0.3};
  for (int c = 0; c < 16; c++) {
    double h[5] = {0.05, mus[c & 1], wds[(c >> 1) & 1], damps[(c >> 2) & 1], (double)((c >> 3) & 1)};
    if ((h[4] != 0 && (h[1] == 0 || h[3] != 0)) || (h[3] != 0 && h[1] == 0)) continue; /* torch refuses these */
    char what[128];
    snprintf(what, sizeof what, "sgd momentum %g wd %g dampening %g nesterov %g", h[1], h[2], h[3], h[4]);
    compare(&gradc_optimizer_sgd, h, sgd_formula, what);
  }
}

/* ---- torch.optim.Adam and AdamW (adam.py, adamw.py: _single_tensor_*, not capturable) ---- */

static void adam_common(const double *h, int t, float d, float *p, float *s) {
  double bc1 = 1 - pow(h[1], t), bc2 = 1 - pow(h[2], t);
  double step_size = h[0] / bc1, bc2_sqrt = sqrt(bc2);
  s[0] = s[0] * (float)h[1] + (float)(1 - h[1]) * d;        /* exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
  s[1] = s[1] * (float)h[2] + (float)(1 - h[2]) * d * d;    /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
  float v = s[1];
  if (h[5] != 0) v = s[2] = fmaxf(s[2], s[1]);              /* torch.maximum(max_exp_avg_sqs[i], exp_avg_sq) */
  float denom = sqrtf(v) / (float)bc2_sqrt + (float)h[3];   /* (sqrt / bias_correction2_sqrt).add_(eps) */
  *p = *p + (float)-step_size * s[0] / denom;               /* param.addcdiv_(exp_avg, denom, value=-step_size) */
}

static void adam_formula(const double *h, int t, float g, float *p, float *s) {
  float d = h[4] != 0 ? g + (float)h[4] * *p : g; /* grad.add(param, alpha=weight_decay) */
  adam_common(h, t, d, p, s);
}

static void adamw_formula(const double *h, int t, float g, float *p, float *s) {
  *p = *p * (float)(1 - h[0] * h[4]); /* param.mul_(1 - lr * weight_decay) */
  adam_common(h, t, g, p, s);
}

Test(optim, adam_and_adamw_match_torch_formula_bit_for_bit) {
  for (int c = 0; c < 8; c++) {
    double h[6] = {0.01, 0.9, 0.999, (c & 4) ? 0.1 : 1e-8, (c & 1) ? 0.02 : 0, (double)((c >> 1) & 1)};
    char what[128];
    snprintf(what, sizeof what, "adam eps %g wd %g amsgrad %g", h[3], h[4], h[5]);
    compare(&gradc_optimizer_adam, h, adam_formula, what);
    snprintf(what, sizeof what, "adamw eps %g wd %g amsgrad %g", h[3], h[4], h[5]);
    compare(&gradc_optimizer_adamw, h, adamw_formula, what);
  }
}

/* ---- torch.optim.RMSprop (rmsprop.py, _single_tensor_rmsprop) ---- */

static void rmsprop_formula(const double *h, int t, float g, float *p, float *s) {
  (void)t;
  float alpha = (float)h[1], one_minus = (float)(1 - h[1]);
  float d = h[3] != 0 ? g + (float)h[3] * *p : g;
  s[0] = s[0] * alpha + one_minus * d * d; /* square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha) */
  float avg;
  if (h[5] != 0) {
    s[2] = s[2] * alpha + one_minus * d;      /* grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha) */
    avg = sqrtf(s[0] + -1.0f * s[2] * s[2]);  /* square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_() */
  } else {
    avg = sqrtf(s[0]);
  }
  avg = avg + (float)h[2];
  if (h[4] > 0) {
    s[1] = s[1] * (float)h[4] + 1.0f * d / avg; /* buf.mul_(momentum).addcdiv_(grad, avg) */
    *p = *p + (float)-h[0] * s[1];              /* param.add_(buf, alpha=-lr) */
  } else {
    *p = *p + (float)-h[0] * d / avg;           /* param.addcdiv_(grad, avg, value=-lr) */
  }
}

Test(optim, rmsprop_matches_torch_formula_bit_for_bit) {
  for (int c = 0; c < 16; c++) {
    double h[6] = {0.01, 0.99, (c & 8) ? 0.1 : 1e-8, (c & 1) ? 0.02 : 0, (c & 2) ? 0.9 : 0, (double)((c >> 2) & 1)};
    char what[128];
    snprintf(what, sizeof what, "rmsprop wd %g momentum %g centered %g", h[3], h[4], h[5]);
    compare(&gradc_optimizer_rmsprop, h, rmsprop_formula, what);
  }
}

/* ---- the values derived per step ---- */

Test(optim, derived_values_are_torch_expressions_rounded_to_float) {
  const double h[6] = {0.003, 0.9, 0.999, 1e-8, 0.01, 0};
  float v[GRADC_OPT_MAX_VALUES];
  int off = 0;
  for (uint64_t t = 1; t <= 5000; t++) {
    gradc_optimizer_values(&gradc_optimizer_adamw, h, t, v);
    double bc1 = 1 - pow(h[1], (double)t), bc2 = 1 - pow(h[2], (double)t);
    float want[5] = {(float)-(h[0] / bc1), (float)sqrt(bc2), (float)(1 - h[1]), (float)(1 - h[2]),
                     (float)(1 - h[0] * h[4])};
    for (int k = 0; k < 5; k++) {
      float got = v[6 + k];
      cr_assert(fabsf(got - want[k]) <= 1.2e-7f * fabsf(want[k]), "step %d value %s: %.9g, torch %.9g", (int)t,
                gradc_optimizer_adamw.hyper_names[6 + k], got, want[k]);
      off += got != want[k];
    }
    cr_assert_eq(v[0], (float)h[0]);
  }
  cr_log_info("derived values one float ulp from libm's in %d of 25000", off);
  const double s[5] = {0.1, 0.9, 0, 0.25, 0};
  gradc_optimizer_values(&gradc_optimizer_sgd, s, 1, v);
  cr_assert_eq(v[5], 1.0f, "the first step keeps the whole direction (torch clones it into the buffer)");
  gradc_optimizer_values(&gradc_optimizer_sgd, s, 2, v);
  cr_assert_eq(v[5], 0.75f);
}

/* ---- the float square root ---- */

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

Test(optim, sqrtf_is_correctly_rounded) {
  uint64_t state = 12345;
  for (uint64_t k = 0; k < 3000000; k++) {
    uint32_t u;
    if (k < 1u << 20) u = (uint32_t)k * 4096u + (uint32_t)(k & 4095); /* every exponent, subnormals */
    else state = gradc_core_mix64(state + k), u = (uint32_t)state;
    float x = from_bits(u), a = sqrtf(x), b = gradc_core_sqrtf(x);
    cr_assert(!memcmp(&a, &b, 4) || (isnan(a) && isnan(b)), "sqrt(%a): libm %a, core %a", (double)x, (double)a,
              (double)b);
  }
  cr_assert(isnan(gradc_core_sqrtf(-1.0f)));
  cr_assert(signbit(gradc_core_sqrtf(-0.0f)) && gradc_core_sqrtf(-0.0f) == 0);
  cr_assert(isinf(gradc_core_sqrtf(INFINITY)));
}

/* ---- the table and the checks ---- */

Test(optim, every_rule_is_valid_and_whole) {
  int n = 0;
  for (; gradc_optimizers[n]; n++) {
    const gradc_optimizer *o = gradc_optimizers[n];
    cr_assert_eq(gradc_optimizer_valid(o), 0, "%s: instruction %d breaks a rule", o->name, gradc_optimizer_valid(o));
    const gradc_opi none = {0};
    cr_assert(o->ninsns == GRADC_OPT_MAX_INSNS || !memcmp(&o->insns[o->ninsns], &none, sizeof none),
              "%s: instructions after ninsns (%d): the count is short", o->name, o->ninsns);
    cr_assert(memcmp(&o->insns[o->ninsns - 1], &none, sizeof none), "%s: its last instruction is empty", o->name);
    cr_assert_eq(gradc_optimizer_find(o->name), o);
    double d[GRADC_OPT_MAX_HYPER];
    memcpy(d, o->hyper_default, sizeof d);
    cr_assert_eq(gradc_optimizer_check(o, d, NULL), 0, "%s: its defaults are refused", o->name);
  }
  cr_assert_eq(n, 4);
  cr_assert_null(gradc_optimizer_find("adagrad"));
  const char *names[16];
  cr_assert_eq(gradc_optimizer_state_names(names, 16), 6); /* momentum, exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg */
  cr_assert_str_eq(names[0], "momentum");
  cr_assert_eq(gradc_optimizer_value_index(&gradc_optimizer_adam, "bias_correction2_sqrt"), 7);
}

Test(optim, guards_sets_and_base_values_are_checked) {
  gradc_optimizer o = gradc_optimizer_sgd;
  o.insns[9].guard = GRADC_IF(3); /* d = buf under dampening alone: buf exists only with momentum */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 10);
  o = gradc_optimizer_sgd;
  o.insns[7].guard = GRADC_IF(1); /* Nesterov's d + mu buf with momentum alone: fine for the rules... */
  o.insns[5].guard = GRADC_IF(1); /* ... but reading the derived value past the base ones is not */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 6);
  o = gradc_optimizer_sgd;
  o.state_guard[0] = GRADC_IF(1) | GRADC_IF(2); /* a state tensor has one guard */
  cr_assert_eq(gradc_optimizer_valid(&o), 1);
  o = gradc_optimizer_sgd;
  o.nbase = 7;
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + o.ninsns + 1);
  o = gradc_optimizer_sgd;
  o.derive = NULL;
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + o.ninsns + 1);
  gradc_optimizer a = gradc_optimizer_adam;
  a.insns[a.ninsns - 1].op = GRADC_OPI_MAX + 1;
  cr_assert_eq(gradc_optimizer_valid(&a), a.nstate + a.ninsns);
  a = gradc_optimizer_adam;
  a.insns[13].b = GRADC_R_TEMP(5); /* a square root reads one operand only */
  cr_assert_eq(gradc_optimizer_valid(&a), 0);
}

Test(optim, hyper_parameter_ranges_and_rules) {
  const char *why = NULL;
  double s[5] = {0.1, 0.9, 0, 0, 1};
  cr_assert_eq(gradc_optimizer_check(&gradc_optimizer_sgd, s, &why), 0);
  s[3] = 0.1; /* Nesterov with dampening */
  cr_assert_eq(gradc_optimizer_check(&gradc_optimizer_sgd, s, &why), 6);
  cr_assert(strstr(why, "Nesterov"), "%s", why);
  s[3] = 0, s[4] = 0.5;
  cr_assert_eq(gradc_optimizer_check(&gradc_optimizer_sgd, s, &why), 5);
  cr_assert_str_eq(why, "must be 0 or 1");
  double a[6] = {0.001, 1.0, 0.999, 1e-8, 0, 0};
  cr_assert_eq(gradc_optimizer_check(&gradc_optimizer_adam, a, &why), 2);
  cr_assert_str_eq(why, "must be in [0, 1)");
  a[1] = 0.9, a[0] = NAN;
  cr_assert_eq(gradc_optimizer_check(&gradc_optimizer_adam, a, &why), 1);
}

/* ---- schedules ---- */

Test(optim, schedules_follow_torch_lr_scheduler) {
  const double pi = 3.14159265358979323846, lr = 0.1;
  gradc_schedule st = {.kind = GRADC_SCHED_STEP, .step_size = 30, .gamma = 0.1};
  cr_assert_float_eq(gradc_schedule_lr(&st, lr, 29), 0.1, 1e-15);
  cr_assert_float_eq(gradc_schedule_lr(&st, lr, 30), 0.01, 1e-15);
  cr_assert_float_eq(gradc_schedule_lr(&st, lr, 95), 1e-4, 1e-17);
  gradc_schedule co = {.kind = GRADC_SCHED_COSINE, .t_max = 100, .eta_min = 0.001};
  for (int t = 0; t <= 150; t += 7)
    cr_assert_float_eq(gradc_schedule_lr(&co, lr, t), 0.001 + (lr - 0.001) * (1 + cos(pi * t / 100)) / 2, 1e-15,
                       "cosine at %d", t);
  co.warmup = 10, co.start_factor = 1.0 / 3;
  cr_assert_float_eq(gradc_schedule_lr(&co, lr, 0), lr / 3, 1e-16);
  cr_assert_float_eq(gradc_schedule_lr(&co, lr, 5), lr * (1.0 / 3 + 2.0 / 3 * 0.5), 1e-16);
  cr_assert_float_eq(gradc_schedule_lr(&co, lr, 10), lr, 1e-16); /* the cosine restarts at the milestone */
  gradc_schedule oc = {.kind = GRADC_SCHED_ONECYCLE, .total_steps = 100, .pct_start = 0.3, .div_factor = 25,
                       .final_div_factor = 1e4};
  cr_assert_float_eq(gradc_schedule_lr(&oc, lr, 0), lr / 25, 1e-16);
  cr_assert_float_eq(gradc_schedule_lr(&oc, lr, 29), lr, 1e-16);
  cr_assert_float_eq(gradc_schedule_lr(&oc, lr, 99), lr / 25 / 1e4, 1e-16);
  double mid = 29 + (99 - 29) / 2.0; /* halfway down: the mean of max and min */
  cr_assert_float_eq(gradc_schedule_lr(&oc, lr, (int64_t)mid), lr / 25 / 1e4 + (lr - lr / 25 / 1e4) / 2 *
                     (cos(pi * ((int64_t)mid - 29) / 70.0) + 1), 1e-15);
  gradc_schedule none = {0};
  cr_assert_eq(gradc_schedule_lr(&none, lr, 12345), lr);
}
