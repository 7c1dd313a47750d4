/* lower_ops.h — the kernel column of the backend's operator table (lower_ops.c),
 * indexed by OpKind like gc_ops (opinfo.h): for a REDUCE or KERNEL op, the emitter of
 * the op as one kernel of its own. The elementwise column is lower_elem.h.
 * tests/test_optable.c checks that every op of those classes has one. */
#ifndef GRADC_LOWER_OPS_H
#define GRADC_LOWER_OPS_H
#include "lower_builder.h"
#include "opinfo.h"

typedef void (*EmitK)(Lower *L, Kernel *k);
extern const EmitK gc_lower_kernel[OP__COUNT];

#endif
