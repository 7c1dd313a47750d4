/* model.h — a parsed model as the tape engine runs it (shared by model.c and interp.c).
 *
 * The syntax tree comes from the compiler's parser (the only code reused); names, sizes,
 * -D overrides, leaves and INIT are resolved here, the same way as compiler/build.c
 * but independently. Each symbol remembers the statement that defines it, so a run sees
 * a name only after its definition, like the compiler and like Python. */
#ifndef GRADC_TAPE_MODEL_H
#define GRADC_TAPE_MODEL_H
#include "arena.h"
#include "ast.h"
#include "gradc/tape.h"
#include "tape_internal.h"
#include "signature.h"

typedef enum { SYM_SIZE, SYM_VALUE } SymKind;

typedef struct {
  const char *name;
  SymKind kind;
  SrcLoc loc;
  int stmt;       /* index of the defining statement */
  int64_t size;   /* SYM_SIZE */
  Tensor *t;      /* SYM_VALUE: the leaf, or the value of the current run */
} Sym;

typedef struct {
  const char *name;
  Tensor *t;      /* persistent leaf: data (or idata) and, if trainable, grad */
  bool param, trainable;
  bool buffer;    /* declared `buffer`: never trained; batch_norm updates it in training mode */
} Leaf;

typedef struct {
  const char *name;
  Sym *sym;
  SrcLoc loc;     /* of its name in the output statement */
  void *buf;      /* the value of the last run: float, or int32_t for an i32 output */
  size_t n;
  bool i32;
} Output;

struct tape_model {
  char *path, *source;
  Arena *arena;
  Diag diag;
  Program *prog;
  Tape T;
  Sym *syms;
  int nsyms;
  Leaf *leaves;
  int nleaves;
  Output *outputs;
  int noutputs;
  Sym *loss_sym;
  SrcLoc loss_loc;
  float loss;
  int cur_stmt;   /* the statement being run: names defined at or after it are not visible */
  bool training;  /* the run's mode: tape_backward trains (model.train(): dropout, batch_norm's
                     batch statistics), tape_forward and the shape check evaluate */
  uint64_t seed;  /* the step seed dropout draws from (tape_set_seed) */
  char err[4096];
};

/* interp.c */
Sym *tm_lookup(tape_model *m, const char *name);       /* visible before m->cur_stmt */
_Noreturn void tm_unknown(tape_model *m, SrcLoc loc, const char *what, const char *name);
bool tm_number(tape_model *m, const Expr *e, double *out); /* literal, -literal, or a size */
Tensor *tm_eval(tape_model *m, Expr *e);
/* The indexing and assembling operators (interp_index.c; issue 15). */
Tensor *tm_index_call(tape_model *m, CallId fn, Expr *call, Expr **p);
/* batch_norm (interp.c; issue 15). */
Tensor *tm_batch_norm(tape_model *m, Expr *call, Expr **p);
Tensor *tm_index(tape_model *m, Expr *e); /* x[...] (EX_INDEX; indexing II) */

#endif
