/* ops_reduce.c — ONNX's reduce operators. */
#include "import.h"

const OxOp ox_ops_reduce[] = {
    {NULL, NULL},
};
