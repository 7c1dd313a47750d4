/* train_opts.h — `gradc train`'s optimizer options: the rule (--optimizer), its
 * hyper-parameters (--momentum, --dampening, --nesterov, --betas, --eps,
 * --weight-decay, --amsgrad, --alpha, --centered), gradient clipping
 * (--clip-grad-norm) and the learning-rate schedule (--schedule, --step-size, --gamma,
 * --warmup, --warmup-start, --cycle-momentum): parsed, checked against each other and the rule, and set
 * on the model through the runtime (docs/CLI.md, "gradc train"). */
#ifndef GRADC_TRAIN_OPTS_H
#define GRADC_TRAIN_OPTS_H
#include <stdbool.h>
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"

#define NHYPER_OPTS 9 /* the options that set a hyper-parameter (--betas sets two) */

typedef struct {
  const char *optimizer;            /* --optimizer, NULL when not given */
  double value[NHYPER_OPTS + 1];    /* by option; --betas: value[k] and value[NHYPER_OPTS] */
  bool given[NHYPER_OPTS];
  double clip;                      /* --clip-grad-norm (0: off) */
  bool clip_given;
  gradc_schedule sched;             /* --schedule and its options; the run's total steps are
                                       filled in when the data is known (optim_schedule_total) */
  bool sched_given, step_size_given, gamma_given, warmup_given, warmup_start_given, cycle_given;
} OptimArgs;

/* Defaults: no option given, warm-up from torch's 1/3. */
void optim_args_init(OptimArgs *o);
/* One option at argv[*i], as train_option (cmd_train.c): true if it is one of these, its
 * value's check in *ok and what it must be in *want. */
bool optim_option(OptimArgs *o, int argc, char **argv, int *i, bool *ok, const char **want, const char **v);
/* Options that do not go together, whatever the rule: 0, or 2 after a message. */
int optim_check_args(const OptimArgs *o);
/* After gradc_init and --load or --resume (resumed: the checkpoint's rule, settings and
 * schedule are in m and *o's unset fields): the rule (--optimizer; a resumed run's must be
 * the checkpoint's), each option's hyper-parameter (said when it replaces a resumed
 * checkpoint's), the cross-checks (Nesterov), clipping. 0; 1 (a resume refused) or 2
 * (options the rule does not take) after a message. */
int optim_apply(OptimArgs *o, gradc_model *m, const char *resumed);
/* The momentum (or Adam's beta1) of step t when the schedule cycles it (one-cycle, as
 * torch's cycle_momentum), set on m: 0, or 1 after gradc_set_hyper refused it. */
int optim_cycle_momentum(const OptimArgs *o, gradc_model *m, long long t);
/* "BASE,MAX" of --cycle-momentum into s: whether it parses (two numbers, 0 <= BASE <= MAX
 * < 1), or "off" (max 0). */
bool optim_parse_cycle(const char *v, gradc_schedule *s);
/* The cosine and one-cycle schedules run over the run's steps after the warm-up: their
 * length, unless a resumed checkpoint gave it. */
void optim_schedule_total(OptimArgs *o, long long last_step);
/* The schedule's name ("" for none) and its kind by name (-1 if unknown). */
const char *optim_schedule_name(gradc_schedule_kind k);
int optim_schedule_kind(const char *name);

#endif
