/* lower_conv_dw.h — vectorised depthwise convolution kernels (lower_conv_dw.c). Each
 * returns false, emitting nothing, when the node is not depthwise or its shape is one
 * it does not take (the caller then emits the general kernel). */
#ifndef GRADC_LOWER_CONV_DW_H
#define GRADC_LOWER_CONV_DW_H
#include "lower_builder.h"

bool em_conv2d_depthwise(Lower *L, Kernel *k);
bool em_conv2d_dx_depthwise(Lower *L, Kernel *k);
/* The weight gradient of every convolution (any groups), when its border is small. */
bool em_conv2d_dw_fast(Lower *L, Kernel *k);

#endif
