/* builtins.h — the operators of the language, as calls: `relu(x)`, `sum(x, axis=1)`. */
#ifndef GRADC_BUILTINS_H
#define GRADC_BUILTINS_H
#include "build.h"

typedef struct Builtin Builtin;

const Builtin *builtin_find(const char *name);
/* Refuses a call of an operator that does not exist: the nearest ones, PyTorch's name for
 * one, and where the operators are listed. */
_Noreturn void builtin_unknown(Diag *d, SrcLoc loc, const char *name);
Node *builtin_call(Builder *B, const Builtin *bi, Expr *call);
/* `a @ b` with torch.matmul semantics for 1-D, 2-D and 3-D operands. */
Node *builtin_matmul(Graph *g, Node *a, Node *b);
/* The names of all operators (for help and tests). */
int builtin_names(const char ***names);

#endif
