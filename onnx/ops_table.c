/* ops_table.c — the ONNX operators gradc imports: one row per operator type, in the
 * family files (ops_*.c); a converter reads the node's opset (n->opset) where the
 * operator's definition changed between opsets 7 and 17. */
#include <string.h>
#include "import.h"

/* Families split over two files declare their second table here. */
extern const OxOp ox_ops_shape2[];
extern const OxOp ox_ops_nn2[]; /* the nn family's second file */

static const OxOp *const families[] = {ox_ops_elem, ox_ops_shape, ox_ops_shape2, ox_ops_nn, ox_ops_nn2, ox_ops_reduce};

const OxOp *ox_find_op(const char *op_type) {
  for (size_t f = 0; f < sizeof families / sizeof *families; f++)
    for (const OxOp *op = families[f]; op->op_type; op++)
      if (!strcmp(op->op_type, op_type)) return op;
  return NULL;
}
