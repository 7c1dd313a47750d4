/* runtime/optim.c — the host runtime's optimizer: which rule a model's steps apply (the
 * compiled train step's, looked up by name in the core's table, or one the caller
 * chooses), its hyper-parameters, its state buffers, the step count, and stepping —
 * through the compiled train step when it applies the same rule with the same values,
 * else backward into the gradient buffers, gradient clipping by global norm, and the
 * core's interpreter of the same rule (gradc_core_update_n) per parameter.
 *
 * Nothing here aborts, exits or prints: failures return -1 with a message from
 * gradc_error(). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

/* ---- the rule and its state buffers ---- */

void gradc__state_free(const gradc_model *m, float **st[GRADC_OPT_MAX_STATE]) {
  for (int s = 0; s < GRADC_OPT_MAX_STATE; s++) {
    for (size_t i = 0; st[s] && i < m->desc.ntensors; i++) free(st[s][i]);
    free(st[s]);
    st[s] = NULL;
  }
}

int gradc__state_alloc(gradc_model *m, const gradc_optimizer *o, float **st[GRADC_OPT_MAX_STATE], const char *path) {
  memset(st, 0, GRADC_OPT_MAX_STATE * sizeof *st);
  for (int s = 0; s < o->nstate; s++) {
    if (!(st[s] = calloc(m->desc.ntensors + 1, sizeof *st[s])))
      return gradc__state_free(m, st), gradc__fail(m, "'%s': out of memory allocating the optimizer's tables", path);
    for (size_t i = 0; i < m->desc.ntensors; i++) {
      const gradc_tensor_info *ti = &m->desc.tensors[i].info;
      if (ti->trainable && !(st[s][i] = gradc__alloc(ti->count * sizeof(float)))) {
        gradc__state_free(m, st);
        return gradc__fail(m, "'%s': out of memory allocating the %s buffer of '%s' (%zu bytes)", path,
                           o->state_names[s], ti->name, ti->count * sizeof(float));
      }
    }
  }
  return 0;
}

void gradc__optimizer_install(gradc_model *m, const gradc_optimizer *o, float **st[GRADC_OPT_MAX_STATE]) {
  gradc__state_free(m, m->state);
  memcpy(m->state, st, sizeof m->state);
  m->opt = o;
  for (int h = 0; h < GRADC_OPT_MAX_HYPER; h++) m->hyper[h] = h < o->nhyper ? o->hyper_default[h] : 0;
  m->step = 0;
  gradc__point_train(m);
}

/* opt = o, with torch's defaults, zeroed state buffers and no step taken. */
static int use_rule(gradc_model *m, const gradc_optimizer *o, const char *path) {
  float **st[GRADC_OPT_MAX_STATE];
  if (gradc__state_alloc(m, o, st, path)) return -1;
  gradc__optimizer_install(m, o, st);
  return 0;
}

/* The train step's rule as its descriptor names it: in the core's table, with the
 * values and state tensors the table gives it (its hyper argument may stop after the
 * rule's base values). */
static int compiled_rule(gradc_model *m, const gradc_entry_desc *t, const char *path) {
  const gradc_optimizer_desc *d = &t->opt;
  const gradc_optimizer *o = gradc_optimizer_find(d->name);
  if (!o) return gradc__fail(m, "'%s': the train step's optimizer '%s' is not one this runtime knows", path, d->name);
  bool same = d->nstate == (size_t)o->nstate && d->nhyper >= (size_t)o->nbase &&
              d->nhyper <= (size_t)(o->nhyper + o->nderived);
  for (size_t s = 0; same && s < d->nstate; s++) same = !strcmp(d->state[s], o->state_names[s]);
  for (size_t h = 0; same && h < d->nhyper; h++) same = !strcmp(d->hyper[h], o->hyper_names[h]);
  if (!same)
    return gradc__fail(m, "'%s': the train step's optimizer '%s' has other values or state tensors than this "
                       "runtime's", path, d->name);
  m->compiled = o;
  m->compiled_nhyper = (int)d->nhyper;
  return 0;
}

int gradc__optimizer_open(gradc_model *m, const char *path) {
  const gradc_entry_desc *t = gradc_desc_entry(&m->desc, GRADC_ENTRY_TRAIN_STEP);
  if (t && compiled_rule(m, t, path)) return -1;
  return use_rule(m, m->compiled ? m->compiled : &gradc_optimizer_sgd, path);
}

void gradc__optimizer_free(gradc_model *m) { gradc__state_free(m, m->state); }

void gradc__optimizer_reset(gradc_model *m) {
  for (int s = 0; m->opt && s < m->opt->nstate; s++)
    for (size_t i = 0; i < m->desc.ntensors; i++)
      if (m->state[s][i]) gradc_core_zero(m->state[s][i], m->desc.tensors[i].info.count);
  m->step = 0;
}

int gradc__state_on(const gradc_model *m, int s) {
  unsigned g = m->opt->state_guard[s];
  for (int h = 0; h < m->opt->nhyper; h++)
    if ((g & GRADC_IF(h)) && (float)m->hyper[h] == 0.0f) return 0;
  return 1;
}

int gradc_use_optimizer(gradc_model *m, const char *name) {
  if (!m) return -1;
  const gradc_optimizer *o = gradc_optimizer_find(name);
  if (!o) return gradc__fail(m, "unknown optimizer '%s' (sgd, adam, adamw or rmsprop)", name ? name : "(null)");
  return use_rule(m, o, "optimizer");
}

const char *gradc_optimizer_name(const gradc_model *m) { return m && m->opt ? m->opt->name : NULL; }

/* ---- hyper-parameters ---- */

static int hyper_index(gradc_model *m, const char *name) {
  int h = gradc_optimizer_value_index(m->opt, name);
  if (h >= 0 && h < m->opt->nhyper) return h;
  char list[512] = "";
  for (int k = 0; k < m->opt->nhyper; k++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", m->opt->hyper_names[k]);
  return gradc__fail(m, "optimizer %s has no hyper-parameter '%s' (it has %s)", m->opt->name, name ? name : "(null)",
                     list);
}

int gradc_set_hyper(gradc_model *m, const char *name, double value) {
  if (!m) return -1;
  int h = hyper_index(m, name);
  if (h < 0) return -1;
  double trial[GRADC_OPT_MAX_HYPER];
  memcpy(trial, m->hyper, sizeof trial);
  trial[h] = value;
  const char *why = NULL;
  int bad = gradc_optimizer_check(m->opt, trial, &why);
  if (bad == h + 1) return gradc__fail(m, "%s %g: %s", name, value, why);
  m->hyper[h] = value;
  return 0;
}

int gradc_get_hyper(gradc_model *m, const char *name, double *value) {
  if (!m) return -1;
  int h = hyper_index(m, name);
  if (h < 0) return -1;
  if (value) *value = m->hyper[h];
  return 0;
}

int gradc_set_optimizer(gradc_model *m, float momentum, float weight_decay) {
  if (!m) return -1;
  if (!(momentum >= 0 && isfinite(momentum) && weight_decay >= 0 && isfinite(weight_decay)))
    return gradc__fail(m, "momentum %g, weight decay %g: expected finite numbers >= 0", (double)momentum,
                       (double)weight_decay);
  int mu = gradc_optimizer_value_index(m->opt, "momentum");
  if ((mu < 0 || mu >= m->opt->nhyper) && momentum != 0)
    return gradc__fail(m, "optimizer %s has no momentum", m->opt->name);
  if (mu >= 0) m->hyper[mu] = momentum;
  m->hyper[gradc_optimizer_value_index(m->opt, "weight_decay")] = weight_decay;
  return 0;
}

int gradc_set_clip_grad_norm(gradc_model *m, double max_norm) {
  if (!m) return -1;
  if (!(max_norm >= 0 && max_norm <= 3.4028234663852886e38))
    return gradc__fail(m, "clip_grad_norm %g: expected a finite number >= 0 (0: off)", max_norm);
  m->clip = (float)max_norm;
  return 0;
}

float gradc_grad_norm(const gradc_model *m) { return m ? m->grad_norm : NAN; }

uint64_t gradc_optimizer_steps(const gradc_model *m) { return m ? m->step : 0; }

float *gradc_state(gradc_model *m, const char *state, const char *param, size_t *count) {
  long i = m ? gradc__find(m, param) : -1;
  int s = -1;
  for (int k = 0; i >= 0 && state && k < m->opt->nstate; k++)
    if (!strcmp(m->opt->state_names[k], state)) s = k;
  if (s < 0 || !m->state[s][i]) i = -1;
  if (count) *count = i < 0 ? 0 : m->desc.tensors[i].info.count;
  return i < 0 ? NULL : m->state[s][i];
}

float *gradc_momentum(gradc_model *m, const char *param, size_t *count) {
  return gradc_state(m, "momentum", param, count);
}

/* ---- stepping ---- */

/* The compiled train step applies this step: the same rule, no clipping, and every
 * hyper-parameter its hyper argument leaves out at 0. */
int gradc_uses_fused_step(const gradc_model *m) {
  if (!m || !m->has_train || m->opt != m->compiled || m->clip > 0) return 0;
  for (int h = m->compiled_nhyper; h < m->opt->nhyper; h++)
    if ((float)m->hyper[h] != 0.0f) return 0;
  return 1;
}

/* lr into the hyper-parameters, all of them checked, this step's values computed. */
static int begin_step(gradc_model *m, float lr) {
  if (!(lr >= 0 && isfinite(lr))) return gradc__fail(m, "learning rate %g: expected a finite number >= 0", (double)lr);
  m->hyper[0] = lr;
  const char *why = NULL;
  int bad = gradc_optimizer_check(m->opt, m->hyper, &why);
  if (bad && bad <= m->opt->nhyper)
    return gradc__fail(m, "%s %g: %s", m->opt->hyper_names[bad - 1], m->hyper[bad - 1], why);
  if (bad) return gradc__fail(m, "optimizer %s: %s", m->opt->name, why);
  gradc_optimizer_values(m->opt, m->hyper, m->step + 1, m->values);
  return 0;
}

/* torch.nn.utils.clip_grad_norm_: the 2-norm of every gradient together; above max_norm,
 * each gradient scaled by max_norm / (norm + 1e-6). */
static void clip_grads(gradc_model *m) {
  double sum = 0;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    for (size_t k = 0; m->grad[i] && k < m->desc.tensors[i].info.count; k++)
      sum += (double)m->grad[i][k] * (double)m->grad[i][k];
  m->grad_norm = (float)gradc_core_sqrt(sum); /* the core's: the runtime links no libm */
  float coef = m->clip / (m->grad_norm + 1e-6f);
  if (!(coef < 1.0f)) return;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    for (size_t k = 0; m->grad[i] && k < m->desc.tensors[i].info.count; k++) m->grad[i][k] *= coef;
}

/* The rule on every trainable parameter, from the gradient buffers. */
static void apply(gradc_model *m) {
  if (m->clip > 0) clip_grads(m);
  for (size_t i = 0; i < m->desc.ntensors; i++) {
    if (!m->grad[i]) continue;
    float *state[GRADC_OPT_MAX_STATE] = {0};
    for (int s = 0; s < m->opt->nstate; s++) state[s] = m->state[s][i];
    gradc_core_update_n(m->opt, m->buf[i], m->grad[i], state, m->desc.tensors[i].info.count, m->values,
                        m->opt->nhyper + m->opt->nderived);
  }
  m->step++;
}

int gradc_optimizer_step(gradc_model *m, float lr) {
  if (!m) return -1;
  if (begin_step(m, lr)) return -1;
  apply(m);
  return 0;
}

void gradc_sgd_step(gradc_model *m, float lr) { gradc_optimizer_step(m, lr); }

/* zero_grad, backward, optimizer step; with a compiled train step of the same rule (and
 * no clipping), one call does all three: it overwrites the gradients with this step's
 * and updates params and state buffers as each gradient completes. */
int gradc_train_step(gradc_model *m, float lr) {
  if (!m) return -1;
  if (begin_step(m, lr)) return -1;
  if (!m->has_backward) return gradc_backward(m); /* the error, with nothing zeroed */
  gradc__draw_seed(m); /* dropout's masks of this step */
  if (gradc_uses_fused_step(m)) {
    gradc__call(&m->train);
    m->step++;
    return 0;
  }
  gradc_zero_grad(m);
  gradc__call(&m->backward);
  apply(m);
  return 0;
}
