/* opcheck.h — helpers shared by the operator tests (test_grad.c, test_mathlib.c,
 * test_memplan.c): compile a model text to a shared object in a private temporary
 * directory and open it with the runtime, read its descriptor, a seeded generator.
 * The test files #include "support/opcheck.c" (one translation unit per test). */
#ifndef GRADC_TESTS_OPCHECK_H
#define GRADC_TESTS_OPCHECK_H
#include <stddef.h>
#include <stdint.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"

typedef struct {
  char dir[256];  /* mkdtemp directory holding the .so and its header */
  char so[512];
  char hdr[512];
  gradc_model *m; /* the opened model */
  void *dl;       /* a dlopen handle of the same .so (descriptor access), or NULL */
  gc_result res;
} oc_model;

/* Compiles `src` (model text) with the given freeze list at -O`opt_level` and opens it.
 * Returns 0, or nonzero with a message in err. */
int oc_open(oc_model *om, const char *src, const char *const *freeze, int nfreeze, int opt_level, char *err,
            size_t errlen);
/* Closes the model and removes the files and the directory. */
void oc_close(oc_model *om);
/* The JSON descriptor text of the compiled .so (via its fixed exported symbol). */
const char *oc_descriptor(oc_model *om);
/* Does the entry of kind `kind` ("forward"/"backward") list the argument `arg`
 * ("grad:w")? -1 if there is no such entry. */
int oc_entry_has_arg(oc_model *om, const char *kind, const char *arg);

/* splitmix64 generator. */
uint64_t oc_next(uint64_t *s);
double oc_unif(uint64_t *s, double lo, double hi); /* [lo, hi) */
uint64_t oc_hash(const char *s);                 /* FNV-1a, for per-case seeds */

#endif
