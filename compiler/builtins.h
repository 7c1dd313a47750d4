/* builtins.h — what each operator of the language builds: its graph of primitives
 * (ops.h). The calls themselves (names, parameters, binding, messages) are signature.h,
 * shared with the tape. */
#ifndef GRADC_BUILTINS_H
#define GRADC_BUILTINS_H
#include "build.h"
#include "signature.h"

/* Binds the call's arguments to operator `id` and builds its nodes. */
Node *builtin_call(Builder *B, CallId id, Expr *call);
/* `a @ b` with torch.matmul semantics for 1-D, 2-D and 3-D operands. */
Node *builtin_matmul(Graph *g, Node *a, Node *b);
/* Whether every operator of signature.h has a builder (test_parse.c checks it). */
bool builtin_complete(void);

#endif
