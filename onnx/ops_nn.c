/* ops_nn.c — ONNX's nn operators. */
#include "import.h"

const OxOp ox_ops_nn[] = {
    {NULL, NULL},
};
