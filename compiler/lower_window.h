/* lower_window.h — the kernels of the windowed ops (lower_window.c): convolution and
 * pooling, forward and both gradients. */
#ifndef GRADC_LOWER_WINDOW_H
#define GRADC_LOWER_WINDOW_H
#include "lower_builder.h"

void em_conv2d(Lower *L, Kernel *k);
void em_conv2d_dx(Lower *L, Kernel *k);
void em_conv2d_dw(Lower *L, Kernel *k);
void em_maxpool(Lower *L, Kernel *k);
void em_maxpool_dx(Lower *L, Kernel *k);
void em_avgpool(Lower *L, Kernel *k);
void em_avgpool_dx(Lower *L, Kernel *k);

#endif
