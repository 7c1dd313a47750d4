/* train_opts.c — `gradc train`'s optimizer, clipping and schedule options
 * (train_opts.h): each option's value checked as it is read, the options checked
 * against each other, then against the rule, and set through the runtime. */
#include "train_opts.h"
#include <float.h>
#include <stdio.h>
#include <string.h>
#include "driver.h"

typedef enum { NUM, FLAG, PAIR } OptKind;

/* The options that set a hyper-parameter of the rule (runtime_core.h's names). */
static const struct {
  const char *opt, *hyper;
  OptKind kind;
} HOPT[NHYPER_OPTS] = {{"--momentum", "momentum", NUM}, {"--dampening", "dampening", NUM},
                       {"--nesterov", "nesterov", FLAG}, {"--betas", "beta1", PAIR},
                       {"--eps", "eps", NUM},           {"--weight-decay", "weight_decay", NUM},
                       {"--amsgrad", "amsgrad", FLAG},   {"--alpha", "alpha", NUM},
                       {"--centered", "centered", FLAG}};

#define HYPER "a number >= 0 and below 3.4e38"

static const char *const SCHEDULES[] = {"", "step", "cosine", "onecycle"};

const char *optim_schedule_name(gradc_schedule_kind k) { return SCHEDULES[k]; }

int optim_schedule_kind(const char *name) {
  for (int k = 1; k < 4; k++)
    if (!strcmp(name, SCHEDULES[k])) return k;
  return -1;
}

void optim_args_init(OptimArgs *o) {
  memset(o, 0, sizeof *o);
  /* torch's defaults: StepLR gamma 0.1; LinearLR start_factor 1/3; OneCycleLR's */
  o->sched = (gradc_schedule){.kind = GRADC_SCHED_CONST, .gamma = 0.1, .start_factor = 1.0 / 3, .pct_start = 0.3,
                              .div_factor = 25, .final_div_factor = 1e4, .base_momentum = 0.85,
                              .max_momentum = 0.95};
}

static bool number(const char *s, double *out, double lo, double hi) {
  return parse_double(s, out) && *out >= lo && *out <= hi;
}

/* "B1,B2", each in [0, 1). */
static bool betas(const char *s, double *b1, double *b2) {
  const char *comma = strchr(s, ',');
  char first[64];
  if (!comma || (size_t)(comma - s) >= sizeof first) return false;
  snprintf(first, sizeof first, "%.*s", (int)(comma - s), s);
  return number(first, b1, 0, 1) && *b1 < 1 && number(comma + 1, b2, 0, 1) && *b2 < 1;
}

static bool hyper_option(OptimArgs *o, int argc, char **argv, int *i, bool *ok, const char **want, const char **v) {
  for (int k = 0; k < NHYPER_OPTS; k++) {
    if (HOPT[k].kind == FLAG) {
      if (strcmp(argv[*i], HOPT[k].opt)) continue;
      o->value[k] = 1, o->given[k] = true;
      return true;
    }
    if (!(*v = opt_value(HOPT[k].opt, argc, argv, i))) continue;
    o->given[k] = true;
    if (HOPT[k].kind == PAIR)
      *ok = betas(*v, &o->value[k], &o->value[NHYPER_OPTS]), *want = "two numbers in [0, 1) separated by a comma";
    else *ok = number(*v, &o->value[k], 0, FLT_MAX), *want = HYPER;
    return true;
  }
  return false;
}

bool optim_option(OptimArgs *o, int argc, char **argv, int *i, bool *ok, const char **want, const char **v) {
  long long n;
  if (hyper_option(o, argc, argv, i, ok, want, v)) return true;
  if ((*v = opt_value("--optimizer", argc, argv, i)))
    o->optimizer = *v, *ok = gradc_optimizer_find(*v) != NULL, *want = "sgd, adam, adamw or rmsprop";
  else if ((*v = opt_value("--clip-grad-norm", argc, argv, i)))
    o->clip_given = true, *ok = number(*v, &o->clip, 0, FLT_MAX), *want = HYPER " (0: no clipping)";
  else if ((*v = opt_value("--schedule", argc, argv, i))) {
    int k = optim_schedule_kind(*v);
    o->sched_given = true, *ok = k > 0, *want = "step, cosine or onecycle";
    if (k > 0) o->sched.kind = (gradc_schedule_kind)k;
  } else if ((*v = opt_value("--step-size", argc, argv, i))) {
    o->step_size_given = true, *ok = parse_int(*v, 1, INT64_MAX, &n), *want = "an integer >= 1";
    o->sched.step_size = n;
  } else if ((*v = opt_value("--gamma", argc, argv, i)))
    o->gamma_given = true, *ok = number(*v, &o->sched.gamma, 0, FLT_MAX), *want = HYPER;
  else if ((*v = opt_value("--warmup", argc, argv, i))) {
    o->warmup_given = true, *ok = parse_int(*v, 0, INT64_MAX, &n), *want = "an integer >= 0";
    o->sched.warmup = n;
  } else if ((*v = opt_value("--cycle-momentum", argc, argv, i)))
    o->cycle_given = true, *ok = optim_parse_cycle(*v, &o->sched),
    *want = "BASE,MAX with 0 <= BASE <= MAX < 1, or off";
  else if ((*v = opt_value("--warmup-start", argc, argv, i)))
    o->warmup_start_given = true, *ok = number(*v, &o->sched.start_factor, 1e-30, 1),
    *want = "a number above 0 and at most 1";
  else return false;
  return true;
}

int optim_check_args(const OptimArgs *o) {
  bool step = o->sched.kind == GRADC_SCHED_STEP;
  if ((o->step_size_given || o->gamma_given) && !step)
    return fprintf(stderr, "gradc train: --%s is an option of --schedule step\n",
                   o->step_size_given ? "step-size" : "gamma"), 2;
  if (step && !o->step_size_given)
    return fprintf(stderr, "gradc train: --schedule step needs --step-size N (the steps between decays; torch's "
                   "StepLR has no default)\n"), 2;
  if (o->cycle_given && o->sched.kind != GRADC_SCHED_ONECYCLE)
    return fprintf(stderr, "gradc train: --cycle-momentum is an option of --schedule onecycle\n"), 2;
  if (o->warmup_start_given && !o->warmup_given)
    return fprintf(stderr, "gradc train: --warmup-start is the first step's fraction of --lr in a --warmup N\n"), 2;
  if (o->warmup_given && o->sched.warmup > 0 && o->sched.kind == GRADC_SCHED_ONECYCLE)
    return fprintf(stderr, "gradc train: --warmup with --schedule onecycle: one-cycle warms up itself (its first 30%% "
                   "of the steps)\n"), 2;
  return 0;
}

/* The rules that have hyper-parameter h, for a message: "adam, adamw". */
static void rules_with(const char *h, char *out, size_t len) {
  out[0] = 0;
  for (int i = 0; gradc_optimizers[i]; i++) {
    int k = gradc_optimizer_value_index(gradc_optimizers[i], h);
    if (k >= 0 && k < gradc_optimizers[i]->nhyper)
      snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? ", " : "", gradc_optimizers[i]->name);
  }
}

/* Sets hyper-parameter `name` to v for option opt; resumed: says so when it replaces
 * the checkpoint's. 0, or 2 after a message. */
static int set_one(gradc_model *m, const char *opt, const char *name, double v, const char *resumed) {
  const gradc_optimizer *r = gradc_optimizer_find(gradc_optimizer_name(m));
  int h = gradc_optimizer_value_index(r, name);
  if (h < 0 || h >= r->nhyper) {
    char who[128];
    rules_with(name, who, sizeof who);
    return fprintf(stderr, "gradc train: %s is an option of --optimizer %s, not of %s\n", opt, who, r->name), 2;
  }
  double was = 0;
  gradc_get_hyper(m, name, &was);
  if (resumed && (float)was != (float)v)
    fprintf(stderr, "gradc train: %s %.7g replaces the checkpoint's %s %.7g\n", opt, (double)(float)v, name,
            (double)(float)was);
  if (gradc_set_hyper(m, name, v)) return fprintf(stderr, "gradc train: %s: %s\n", opt, gradc_error(m)), 2;
  return 0;
}

/* The rule's hyper-parameters together (Nesterov needs momentum and no dampening). */
static int cross_check(gradc_model *m) {
  const gradc_optimizer *r = gradc_optimizer_find(gradc_optimizer_name(m));
  double h[GRADC_OPT_MAX_HYPER] = {0};
  for (int k = 0; k < r->nhyper; k++) gradc_get_hyper(m, r->hyper_names[k], &h[k]);
  const char *why = NULL;
  int bad = gradc_optimizer_check(r, h, &why);
  if (bad > r->nhyper) return fprintf(stderr, "gradc train: --optimizer %s: %s\n", r->name, why), 2;
  return 0;
}

int optim_apply(OptimArgs *o, gradc_model *m, const char *resumed) {
  const char *ck = gradc_optimizer_name(m);
  if (resumed && o->optimizer && strcmp(o->optimizer, ck))
    return fprintf(stderr, "gradc train: --resume %s: the checkpoint's run used --optimizer %s, this run asks for "
                   "--optimizer %s: an optimizer's state does not carry over to another; resume with --optimizer %s, "
                   "or start a new run from its weights with --load\n", resumed, ck, o->optimizer, ck), 1;
  if (!resumed && o->optimizer && gradc_use_optimizer(m, o->optimizer))
    return fprintf(stderr, "gradc train: %s\n", gradc_error(m)), 1;
  for (int k = 0; k < NHYPER_OPTS; k++) {
    if (!o->given[k]) continue;
    int rc = set_one(m, HOPT[k].opt, HOPT[k].hyper, o->value[k], resumed);
    if (!rc && HOPT[k].kind == PAIR) rc = set_one(m, HOPT[k].opt, "beta2", o->value[NHYPER_OPTS], resumed);
    if (rc) return rc;
  }
  if (cross_check(m)) return 2;
  if (gradc_set_clip_grad_norm(m, o->clip)) return fprintf(stderr, "gradc train: %s\n", gradc_error(m)), 1;
  return 0;
}

void optim_schedule_total(OptimArgs *o, long long last_step) {
  long long n = last_step - o->sched.warmup;
  if (n < 1) n = 1;
  if (o->sched.kind == GRADC_SCHED_COSINE && o->sched.t_max <= 0) o->sched.t_max = n;
  if (o->sched.kind == GRADC_SCHED_ONECYCLE && o->sched.total_steps <= 0) o->sched.total_steps = n;
}

bool optim_parse_cycle(const char *v, gradc_schedule *s) {
  if (!strcmp(v, "off")) return s->max_momentum = 0, true;
  double base, max;
  if (!betas(v, &base, &max) || base > max) return false;
  s->base_momentum = base, s->max_momentum = max;
  return true;
}

int optim_cycle_momentum(const OptimArgs *o, gradc_model *m, long long t) {
  if (!gradc_schedule_cycles_momentum(&o->sched)) return 0;
  const char *rule = gradc_optimizer_name(m);
  const char *h = !strcmp(rule, "adam") || !strcmp(rule, "adamw") ? "beta1" : "momentum";
  return gradc_set_hyper(m, h, gradc_schedule_momentum(&o->sched, t)) ? 1 : 0;
}
