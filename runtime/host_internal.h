/* runtime/host_internal.h — internal: the definition of gradc_model shared by the host
 * runtime's files (host.c: loading, buffers, calls, SGD; safetensors.c: save/load),
 * and the one error helper they all report through. Not part of the public API. */
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
  float **mom;   /* per tensor; NULL unless a trainable param */
  void *workspace;
  float loss;
  gradc_sgd_opts opt;
  gradc_call forward, backward, train; /* train: the fused SGD step, if compiled */
  int has_forward, has_backward, has_train;
  float hyper[3];                       /* the train step's {lr, momentum, weight decay} */
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

#endif
