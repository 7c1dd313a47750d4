/* runtime/descriptor_parse.h — internal: parse and validate a model descriptor (the
 * JSON text described in include/gradc/descriptor.h) into plain C structures.
 *
 * Used by the host loader and directly by tests and fuzzers: the parser takes any
 * NUL-terminated text and either fills a gradc_desc or returns an error message; it
 * never crashes, aborts or prints. It does not open files, allocate tensor buffers or
 * resolve symbols. Not part of the public API. */
#ifndef GRADC_DESCRIPTOR_PARSE_H
#define GRADC_DESCRIPTOR_PARSE_H
#include <stddef.h>
#include <stdint.h>

#include "gradc/runtime.h"
#include "gradc/runtime_core.h"

#define GRADC_MAX_NAME 255 /* longest tensor, model or entry name accepted */

typedef enum { GRADC_ENTRY_FORWARD, GRADC_ENTRY_BACKWARD, GRADC_ENTRY_TRAIN_STEP, GRADC_ENTRY_OTHER } gradc_entry_kind;

typedef enum {
  GRADC_ARG_TENSOR,   /* "input:N", "param:N", "output:N": the tensor's buffer */
  GRADC_ARG_GRAD,     /* "grad:N": the gradient buffer of trainable param N */
  GRADC_ARG_LOSS,     /* "loss": float * */
  GRADC_ARG_WORKSPACE,/* "workspace" */
  GRADC_ARG_STATE,    /* "state:N" (SGD's momentum buffer) or "state:S:N": optimizer state
                         tensor S of trainable param N (train_step) */
  GRADC_ARG_HYPER,    /* "hyper": the optimizer's values (train_step) */
  GRADC_ARG_SEED      /* "seed": const uint64_t *, the step seed dropout draws from (the
                         training entries of a model with dropout; issue 15) */
} gradc_arg_kind;

typedef struct {
  gradc_arg_kind kind;
  size_t tensor; /* index into gradc_desc.tensors for TENSOR, GRAD and STATE */
  int slot;      /* STATE: the index of its name in the entry's optimizer state list */
} gradc_arg_desc;

/* A train step's "optimizer": {"name", "hyper": [the values its hyper argument holds],
 * "state": [its state tensors]}; a descriptor without one (before there were others)
 * means SGD, hyper {lr, momentum, weight_decay}, state {momentum}. Checked against the
 * core's table by the host (host.c), not here. */
typedef struct {
  char *name;
  size_t nhyper, nstate;
  char **hyper, **state;
} gradc_optimizer_desc;

typedef struct {
  char *name;
  char *packed;          /* the `void (void **args)` form of the entry point, or NULL */
  gradc_entry_kind kind; /* args are parsed for the kinds gradc knows */
  size_t nargs;
  gradc_arg_desc *args;
  gradc_optimizer_desc opt; /* train_step */
} gradc_entry_desc;

typedef struct {
  gradc_tensor_info info; /* info.name points to name below */
  char *name;
  gradc_init_spec init; /* params only; default const 0 ("zeros") */
} gradc_tensor_desc;

typedef struct {
  char *model;
  size_t workspace_bytes;
  char *loss; /* NULL when the descriptor's "loss" is null */
  char *parallel; /* "parallel": the NAME_set_parallel function, or NULL */
  size_t ntensors;
  gradc_tensor_desc *tensors;
  size_t nentries;
  gradc_entry_desc *entries;
} gradc_desc;

/* Parse text (NUL-terminated) into *d. Returns 0, or -1 with a message in err (and *d
 * left empty: gradc_desc_free on it is harmless). */
int gradc_desc_parse(const char *text, gradc_desc *d, char *err, size_t errlen);
void gradc_desc_free(gradc_desc *d);

/* The entry of the given kind, or NULL. */
const gradc_entry_desc *gradc_desc_entry(const gradc_desc *d, gradc_entry_kind kind);

#endif
