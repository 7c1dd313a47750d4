/* runtime/host_internal.h — internal: the definition of gradc_model shared by the host
 * runtime's files (host.c: loading, buffers, calls; optim.c: the optimizer, its state,
 * stepping, clipping; safetensors.c: save/load), and the one error helper they all
 * report through. Not part of the public API. */
#ifndef GRADC_HOST_INTERNAL_H
#define GRADC_HOST_INTERNAL_H
#include <ffi.h>
#include <stddef.h>
#include <stdint.h>

#include "descriptor_parse.h"
#include "gradc/runtime.h"

#define GRADC_ERR_LEN 1024

/* One resolved entry point: through its packed form when the object has one (a plain
 * function call), else through libffi. */
typedef struct {
  void (*packed)(void **args);
  void (*fn)(void);
  ffi_cif cif;
  ffi_type **types; /* nargs x &ffi_type_pointer */
  void **vals;      /* the pointer arguments */
  void **avalues;   /* avalues[i] = &vals[i], as ffi_call wants */
  size_t nargs;
} gradc_call;

struct gradc_model {
  void *dl;
  gradc_desc desc;
  void **buf;    /* per tensor, 64-byte aligned */
  float **grad;  /* per tensor; NULL unless a trainable param */
  float **state[GRADC_OPT_MAX_STATE]; /* per state tensor of opt, per tensor; NULL unless a
                                         trainable param (zeros where its guard is off) */
  void *workspace;
  float loss;
  const gradc_optimizer *opt;      /* the rule the steps apply (gradc_use_optimizer) */
  const gradc_optimizer *compiled; /* the train step's rule, NULL without a train step */
  int compiled_nhyper;             /* the values its hyper argument holds */
  double hyper[GRADC_OPT_MAX_HYPER];  /* opt's user hyper-parameters */
  float values[GRADC_OPT_MAX_VALUES]; /* this step's values: the train step's hyper argument */
  uint64_t step;                   /* optimizer steps taken since init (torch's state["step"]) */
  uint64_t seed, step_seed;        /* dropout (issue 15): the user's seed (gradc_init,
                                      gradc_set_seed) and the training entries' `seed`
                                      argument, gradc_dropout_seed(seed, step) */
  int random;                      /* some entry takes the step seed (dropout) */
  float clip, grad_norm;           /* clip_grad_norm's max_norm (0: off); the last total norm */
  gradc_call forward, backward, train; /* train: the fused optimizer step, if compiled */
  int has_forward, has_backward, has_train;
  void (*set_parallel)(void (*run)(void *, void (*)(void *, int32_t), void *, int32_t), void *pool);
  int threads;                          /* what gradc_set_threads put in effect */
  char **meta; /* the last gradc_load_checkpoint's __metadata__: key, value, ..., NULL */
  char err[GRADC_ERR_LEN];
};

/* Format a message into m->err; returns -1 (the runtime's failure value). */
int gradc__fail(gradc_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees a metadata copy (key, value, ..., NULL); NULL is fine. */
void gradc__meta_free(char **meta);

/* Index of a tensor by name, or -1. */
long gradc__find(const gradc_model *m, const char *name);

/* A zeroed, 64-byte aligned buffer of at least n bytes, or NULL. */
void *gradc__alloc(size_t n);
/* Points the train step's state arguments at the current state buffers (after they
 * were reallocated), or at nothing while opt is not the train step's rule. */
void gradc__point_train(gradc_model *m);
/* Calls an entry point. */
void gradc__call(gradc_call *c);
/* Before a training call (backward, train step): the step seed of this step. */
void gradc__draw_seed(gradc_model *m);

/* optim.c: after the descriptor is read, the train step's rule (checked against the
 * core's table), opt = it (SGD without one), its defaults and state buffers; frees
 * them; zeroes the state and the step count (gradc_init). */
int gradc__optimizer_open(gradc_model *m, const char *path);
void gradc__optimizer_free(gradc_model *m);
void gradc__optimizer_reset(gradc_model *m);
/* New zeroed state buffers of rule o into st (0; or -1 with a message, nothing kept);
 * freeing them; o becoming the rule, with st as its buffers, torch's defaults and step
 * 0 (the old buffers freed). */
int gradc__state_alloc(gradc_model *m, const gradc_optimizer *o, float **st[GRADC_OPT_MAX_STATE], const char *path);
void gradc__state_free(const gradc_model *m, float **st[GRADC_OPT_MAX_STATE]);
void gradc__optimizer_install(gradc_model *m, const gradc_optimizer *o, float **st[GRADC_OPT_MAX_STATE]);
/* Whether state tensor s of opt exists under the current hyper-parameters (its guard's
 * hyper-parameter is not 0; torch keeps no buffer otherwise). */
int gradc__state_on(const gradc_model *m, int s);

#endif
