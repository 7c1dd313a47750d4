/* randmodel.h — random well-typed models and a differential check of the compiler.
 *
 * rm_generate writes a random .grad model from the whole operator set: elementwise
 * ops with NumPy broadcasting both ways, reductions with and without keepdims over
 * int, negative and list axes, reshapes, flattens, transposes and permutations,
 * matrix products, softmax and log-softmax, convolutions and pools, detach, and a loss
 * made of the losses the language has. Every value stays finite: a rough magnitude
 * bound per value keeps exp, powers and products from overflowing, and log, sqrt and
 * division get arguments bounded away from zero.
 *
 * rm_check compiles the model to a shared object, runs forward and backward on random
 * inputs and parameters, and compares the loss, every output and every gradient with
 * two independent references: the float64 reference evaluator (gc_graph_eval: same
 * graph and derivative rules, none of the scheduling or lowering) and the dynamic tape
 * (its own derivative kernels). It is used by test_random_models.c (a fixed-seed batch
 * in every ctest run) and tools/fuzz/random_models.c (a longer run in the fuzz smoke
 * step). Include randmodel.c in exactly one translation unit. */
#ifndef GRADC_TESTS_RANDMODEL_H
#define GRADC_TESTS_RANDMODEL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* printf-style text appended to the string in buf (size bytes in all). */
static inline void rm_append(char *buf, size_t size, const char *fmt, ...) {
  size_t n = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, size - n, fmt, ap);
  va_end(ap);
}

/* The model for `seed`, as text in buf (at most size bytes). Deterministic. */
void rm_generate(uint64_t seed, char *buf, size_t size);

/* Compiles and checks src in directory dir (a private scratch directory) for `cpu`
 * (NULL: the host's) at -O`opt`. Returns 0 when every value agrees; otherwise 1 with
 * what disagreed (or failed) in why. */
int rm_check(const char *src, const char *dir, const char *cpu, int opt, char *why, size_t whylen);

#endif
