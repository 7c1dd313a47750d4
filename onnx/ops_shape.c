/* ops_shape.c — ONNX's shape operators. */
#include "import.h"

const OxOp ox_ops_shape[] = {
    {NULL, NULL},
};
