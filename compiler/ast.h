/* ast.h — the syntax tree of a .grad file, as the parser produces it.
 *
 * The AST is only syntax: names are not resolved, shapes are not checked. build.c turns
 * it into the graph IR (graph.h), where every later stage works. Every node keeps its
 * source location so later stages can report errors at the culprit. */
#ifndef GRADC_AST_H
#define GRADC_AST_H
#include <stdbool.h>
#include "arena.h"
#include "diag.h"
#include "dtype.h"

typedef enum {
  EX_NUM,    /* num; is_int when written without '.', 'e' */
  EX_NAME,   /* name (also `true`/`false`, resolved later) */
  EX_NEG,    /* -lhs */
  EX_BINARY, /* lhs op rhs; op is one of + - * / @ < >, 'P' for **, 'l' <=, 'g' >=, 'E' ==, 'N' != */
  EX_CALL,   /* name(args..., kwnames[i]=kwargs[i]...) */
  EX_LIST,   /* [args...] */
  EX_STR,    /* "text": name is the text without its quotes (argument values only) */
  /* ---- indexing II (issue 15) ---- */
  EX_INDEX,    /* lhs[args...]: each arg an expression (an integer index), EX_SLICE or EX_ELLIPSIS */
  EX_SLICE,    /* start:stop:step inside an index; lhs start, rhs stop, step: each NULL when omitted */
  EX_ELLIPSIS, /* ... inside an index */
} ExprKind;

typedef struct Expr Expr;
struct Expr {
  ExprKind kind;
  SrcLoc loc; /* of the first token; for EX_BINARY the operator */
  double num;
  bool is_int;
  const char *name;
  char op;
  Expr *lhs, *rhs;
  Expr **args;
  int nargs;
  const char **kwnames;
  SrcLoc *kwlocs;
  Expr **kwargs;
  int nkw;
  /* ---- indexing II (issue 15) ---- */
  Expr *step;     /* EX_SLICE */
  int part, nparts; /* EX_CALL of split/chunk bound to names (a, b = split(..)): this
                       statement's piece and the number of names; nparts 0: one name */
};

typedef struct {
  DType dtype;
  SrcLoc loc;
  int rank;
  Expr **dims; /* each EX_NUM (integer) or EX_NAME */
} TypeAst;

typedef enum {
  ST_MODEL,    /* model NAME */
  ST_BATCH,    /* batch NAME = value */
  ST_DIM,      /* dim NAME = value */
  ST_INPUT,    /* input NAME : type */
  ST_PARAM,    /* param NAME : type [= init] [frozen]; buffer NAME : type [= init] (buffer set) */
  ST_LET,      /* NAME = expr (`a, b = split(...)` is parsed into one ST_LET per name,
                  after a hidden one holding the split tensor: see parse.c) */
  ST_OUTPUT,   /* output names... */
  ST_MINIMIZE, /* minimize NAME (names[0]) */
} StmtKind;

typedef struct {
  StmtKind kind;
  SrcLoc loc;      /* of the keyword (or of NAME for ST_LET) */
  const char *name;/* MODEL/BATCH/DIM/INPUT/PARAM/LET */
  SrcLoc name_loc;
  long long value; /* BATCH/DIM */
  SrcLoc value_loc;
  TypeAst type;    /* INPUT/PARAM */
  Expr *init;      /* PARAM, or NULL: `randn`, `randn(0.1)`, `uniform(-1, 1)`, a number... */
  bool frozen;     /* PARAM */
  bool buffer;     /* PARAM written `buffer`: model state, never trained (issue 15) */
  Expr *expr;      /* LET */
  const char **names; /* OUTPUT/MINIMIZE */
  SrcLoc *name_locs;
  int nnames;
} Stmt;

typedef struct {
  Stmt *stmts;
  int nstmts;
} Program;

/* Parses d->src (file name d->file). Syntax errors go through diag_error. */
Program *parse_program(Arena *a, Diag *d);

#endif
