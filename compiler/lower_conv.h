/* lower_conv.h — the vectorised convolution kernels (lower_conv.c), which em_conv2d
 * (lower_window.c) dispatches the shapes they handle to. */
#ifndef GRADC_LOWER_CONV_H
#define GRADC_LOWER_CONV_H
#include <stdbool.h>
#include "lower_builder.h"

/* Whether conv2d kernel k (one CONV2D node) fits em_conv2d_fast: groups 1, f32, a
 * target with vectors, stored plainly (no update epilogue), one part. */
bool conv_fast_fits(Lower *L, Kernel *k);
/* conv2d forward as a register-blocked direct convolution on vectors. */
void em_conv2d_fast(Lower *L, Kernel *k);

#endif
