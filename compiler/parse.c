/* parse.c — recursive-descent parser from .grad source text to the AST of ast.h.
 *
 * One statement per line (lex.c drops line ends inside () and []). The parser checks
 * syntax only: names, shapes and operators are resolved by build.c. Every error goes
 * through diag_error at the offending token, which unwinds to the caller's setjmp.
 * Expression nesting is capped at MAX_DEPTH so hostile input cannot overflow the stack. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ast.h"
#include "lex.h"

#define MAX_DEPTH 256
#define MAX_KWARGS 1000 /* keeps the check for repeated keywords cheap */

typedef struct {
  Arena *a;
  Diag *d;
  Lexer lx;
  Token tok;   /* the current token */
  Token ahead; /* the one after it, when has_ahead */
  bool has_ahead;
  bool prev_bol_ident; /* the token before tok was a NAME starting a line */
  int depth;   /* nesting of parse_unary calls */
  char buf[64]; /* for cur() */
} Parser;

static const char *const keywords[] = {"model", "batch", "dim", "input", "param", "output", "minimize", "buffer"};
enum { KW_MODEL, KW_BATCH, KW_DIM, KW_INPUT, KW_PARAM, KW_OUTPUT, KW_MINIMIZE, KW_BUFFER, NUM_KEYWORDS };

/* ---- tokens ---------------------------------------------------------------------- */

static void next(Parser *p) {
  p->prev_bol_ident = p->tok.bol && p->tok.kind == TK_IDENT;
  if (p->has_ahead) {
    p->tok = p->ahead;
    p->has_ahead = false;
  } else {
    p->tok = lex_next(&p->lx);
  }
}

static const Token *peek(Parser *p) {
  if (!p->has_ahead) {
    p->ahead = lex_next(&p->lx);
    p->has_ahead = true;
  }
  return &p->ahead;
}

static bool at_end(const Parser *p) { return p->tok.kind == TK_NEWLINE || p->tok.kind == TK_EOF; }

static bool is(const Parser *p, char punct) { return tok_is(&p->tok, punct); }

/* The current token as shown in messages; valid until the next call. */
static const char *cur(Parser *p) { return tok_str(&p->tok, p->buf, sizeof p->buf); }

static const char *tok_text(Parser *p, const Token *t) {
  return arena_strndup(p->a, t->start, (size_t)t->len);
}

/* Makes room for element n of an arena array holding n elements. The capacity follows
 * from n (4, 8, 16, ...), so parallel arrays need no capacity fields: the array is
 * copied into a twice larger block when n is 0 or a power of two >= 4. */
static void *grow(Parser *p, void *arr, int n, size_t elem) {
  if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return arr;
  if (n > INT_MAX / 2) diag_error(p->d, p->tok.loc, "too many items");
  size_t cap = n ? 2 * (size_t)n : 4;
  void *na = arena_alloc(p->a, elem * cap);
  if (n > 0) memcpy(na, arr, elem * (size_t)n);
  return na;
}

/* Requires the end of the statement; `after` describes what came before. */
static void expect_end(Parser *p, const char *after) {
  if (!at_end(p)) diag_error(p->d, p->tok.loc, "expected end of line after %s, got %s", after, cur(p));
}

/* Consumes the bracket `close` ending `what` (e.g. "call to 'sum'"), opened at `open`.
 * A bracket missing before a new line (or a line `NAME = ...`) or before the end of the
 * file is reported at the opening one: the user forgot to close it. */
static void expect_close(Parser *p, char close, SrcLoc open, const char *what) {
  if (is(p, close)) {
    next(p);
    return;
  }
  if (p->tok.bol || (is(p, '=') && p->prev_bol_ident)) diag_error(p->d, open, "unterminated %s: missing '%c'", what, close);
  diag_error(p->d, p->tok.loc, "expected '%c' to close the %s opened at %d:%d, got %s", close, what,
             open.line, open.col, cur(p));
}

/* ---- expressions ----------------------------------------------------------------- */

static Expr *parse_expr(Parser *p);
static Expr *parse_unary(Parser *p);

static Expr *new_expr(Parser *p, ExprKind kind, SrcLoc loc) {
  Expr *e = ARENA_NEW(p->a, Expr);
  e->kind = kind;
  e->loc = loc;
  return e;
}

/* Consumes the operator token and makes `lhs op rhs`; rhs is set by the caller. */
static Expr *new_binary(Parser *p, Expr *lhs) {
  Expr *e = new_expr(p, EX_BINARY, p->tok.loc);
  e->op = p->tok.punct;
  e->lhs = lhs;
  next(p);
  return e;
}

/* call-arg = (ident "=")? expr
 * Appends one argument of call e; keyword arguments must come last. */
static void parse_arg(Parser *p, Expr *e) {
  if (p->tok.kind == TK_IDENT && tok_is(peek(p), '=')) {
    const char *name = tok_text(p, &p->tok);
    SrcLoc loc = p->tok.loc;
    if (e->nkw == MAX_KWARGS)
      diag_error(p->d, loc, "too many keyword arguments in the call to '%s' (the limit is %d)", e->name, MAX_KWARGS);
    for (int i = 0; i < e->nkw; i++)
      if (strcmp(e->kwnames[i], name) == 0) diag_error(p->d, loc, "keyword argument '%s' repeated", name);
    next(p);
    next(p);
    e->kwnames = grow(p, e->kwnames, e->nkw, sizeof *e->kwnames);
    e->kwlocs = grow(p, e->kwlocs, e->nkw, sizeof *e->kwlocs);
    e->kwargs = grow(p, e->kwargs, e->nkw, sizeof *e->kwargs);
    e->kwnames[e->nkw] = name;
    e->kwlocs[e->nkw] = loc;
    e->kwargs[e->nkw++] = parse_expr(p);
    return;
  }
  if (e->nkw > 0)
    diag_error(p->d, p->tok.loc, "positional argument after keyword argument '%s'", e->kwnames[e->nkw - 1]);
  e->args = grow(p, e->args, e->nargs, sizeof *e->args);
  e->args[e->nargs++] = parse_expr(p);
}

/* call = ident "(" (call-arg ("," call-arg)* ","?)? ")"
 * The current token is the "(" after the name token `name`. */
static Expr *parse_call(Parser *p, const Token *name) {
  Expr *e = new_expr(p, EX_CALL, name->loc);
  e->name = tok_text(p, name);
  SrcLoc open = p->tok.loc;
  char what[300];
  snprintf(what, sizeof what, "call to '%s'", e->name);
  next(p);
  while (!is(p, ')')) {
    if (p->tok.kind == TK_EOF) expect_close(p, ')', open, what);
    parse_arg(p, e);
    if (!is(p, ',')) break;
    next(p);
  }
  expect_close(p, ')', open, what);
  return e;
}

/* list = "[" (expr ("," expr)* ","?)? "]" */
static Expr *parse_list(Parser *p) {
  Expr *e = new_expr(p, EX_LIST, p->tok.loc);
  SrcLoc open = p->tok.loc;
  next(p);
  while (!is(p, ']')) {
    if (p->tok.kind == TK_EOF) expect_close(p, ']', open, "list");
    e->args = grow(p, e->args, e->nargs, sizeof *e->args);
    e->args[e->nargs++] = parse_expr(p);
    if (!is(p, ',')) break;
    next(p);
  }
  expect_close(p, ']', open, "list");
  return e;
}

/* primary = number | ident | call | "(" expr ")" | list | string */
static Expr *parse_primary(Parser *p) {
  Token t = p->tok;
  if (t.kind == TK_NUM) {
    Expr *e = new_expr(p, EX_NUM, t.loc);
    e->num = t.num;
    e->is_int = t.is_int;
    next(p);
    return e;
  }
  if (t.kind == TK_IDENT) {
    next(p);
    if (is(p, '(')) return parse_call(p, &t);
    Expr *e = new_expr(p, EX_NAME, t.loc);
    e->name = tok_text(p, &t);
    return e;
  }
  if (is(p, '(')) {
    next(p);
    if (p->tok.kind == TK_EOF) expect_close(p, ')', t.loc, "'('");
    Expr *e = parse_expr(p);
    if (is(p, ',')) /* a Python tuple, as in axis=(0, 1) */
      diag_error(p->d, t.loc, "a tuple such as (0, 1) is not part of the language: a list is written in brackets, "
                              "e.g. axis=[0, 1]");
    expect_close(p, ')', t.loc, "'('");
    return e;
  }
  if (is(p, '[')) return parse_list(p);
  if (t.kind == TK_STRING) {
    Expr *e = new_expr(p, EX_STR, t.loc);
    e->name = arena_strndup(p->a, t.start + 1, (size_t)t.len - 2);
    next(p);
    return e;
  }
  diag_error(p->d, t.loc, "expected an expression, got %s", cur(p));
}

/* ---- indexing II (issue 15) ----
 * item = "..." | expr | [expr] ":" [expr] [":" [expr]] */
static Expr *parse_index_item(Parser *p) {
  SrcLoc loc = p->tok.loc;
  if (is(p, '.')) {
    next(p);
    return new_expr(p, EX_ELLIPSIS, loc);
  }
  Expr *start = NULL;
  if (!is(p, ':')) {
    start = parse_expr(p);
    if (!is(p, ':')) return start;
  }
  Expr *e = new_expr(p, EX_SLICE, loc);
  e->lhs = start;
  next(p);
  if (!is(p, ':') && !is(p, ',') && !is(p, ']')) e->rhs = parse_expr(p);
  if (is(p, ':')) {
    next(p);
    if (!is(p, ',') && !is(p, ']')) e->step = parse_expr(p);
  }
  return e;
}

/* index = primary ("[" item ("," item)* ","? "]")*     (x[a:b, :, i], x[..., 0]) */
static Expr *parse_indexed(Parser *p) {
  Expr *e = parse_primary(p);
  while (is(p, '[')) {
    Expr *ix = new_expr(p, EX_INDEX, p->tok.loc);
    SrcLoc open = p->tok.loc;
    ix->lhs = e;
    next(p);
    while (!is(p, ']')) {
      if (p->tok.kind == TK_EOF) expect_close(p, ']', open, "index");
      ix->args = grow(p, ix->args, ix->nargs, sizeof *ix->args);
      ix->args[ix->nargs++] = parse_index_item(p);
      if (!is(p, ',')) break;
      next(p);
    }
    expect_close(p, ']', open, "index");
    if (ix->nargs == 0) diag_error(p->d, open, "an index needs at least one item, e.g. x[0] or x[:, 1:3]");
    e = ix;
  }
  return e;
}

/* power = index ("**" unary)?     (right-associative: the exponent may be -x or a**b) */
static Expr *parse_power(Parser *p) {
  Expr *e = parse_indexed(p);
  if (!is(p, 'P')) return e;
  Expr *b = new_binary(p, e);
  b->rhs = parse_unary(p);
  return b;
}

/* unary = "-" unary | power */
static Expr *parse_unary(Parser *p) {
  if (++p->depth > MAX_DEPTH)
    diag_error(p->d, p->tok.loc, "expression nested too deeply (the limit is %d levels)", MAX_DEPTH);
  Expr *e;
  if (is(p, '-')) {
    e = new_expr(p, EX_NEG, p->tok.loc);
    next(p);
    e->lhs = parse_unary(p);
  } else {
    e = parse_power(p);
  }
  p->depth--;
  return e;
}

/* term = unary (("*" | "/" | "@") unary)* */
static Expr *parse_term(Parser *p) {
  Expr *e = parse_unary(p);
  while (is(p, '*') || is(p, '/') || is(p, '@')) {
    Expr *b = new_binary(p, e);
    b->rhs = parse_unary(p);
    e = b;
  }
  return e;
}

/* sum = term (("+" | "-") term)* */
static Expr *parse_sum(Parser *p) {
  Expr *e = parse_term(p);
  while (is(p, '+') || is(p, '-')) {
    Expr *b = new_binary(p, e);
    b->rhs = parse_term(p);
    e = b;
  }
  return e;
}

static bool is_comparison(const Parser *p) {
  return is(p, '<') || is(p, 'l') || is(p, '>') || is(p, 'g') || is(p, 'E') || is(p, 'N');
}

/* expr = sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
 * Comparisons bind looser than + and -, as in Python, and do not chain: Python reads
 * a < b < c as (a < b) and (b < c), which PyTorch refuses for tensors. */
static Expr *parse_expr(Parser *p) {
  Expr *e = parse_sum(p);
  if (!is_comparison(p)) return e;
  Expr *b = new_binary(p, e);
  b->rhs = parse_sum(p);
  if (is_comparison(p))
    diag_error(p->d, p->tok.loc, "comparisons do not chain: write (a < b) * (b < c) for Python's a < b < c (a "
               "comparison is a 0/1 mask)");
  return b;
}

/* ---- types ----------------------------------------------------------------------- */

/* Is the token an element-type-like word (letters then digits, like f64 or u8)? */
static bool looks_like_dtype(const Token *t) {
  int i = 0;
  while (i < t->len && t->start[i] >= 'a' && t->start[i] <= 'z') i++;
  if (i == 0 || i == t->len) return false;
  while (i < t->len && t->start[i] >= '0' && t->start[i] <= '9') i++;
  return i == t->len;
}

/* dim = integer | ident */
static Expr *parse_dim(Parser *p) {
  Token t = p->tok;
  if (t.kind == TK_NUM && (!t.is_int || t.num > INT_MAX))
    diag_error(p->d, t.loc, "dimension %s must be an integer between 0 and %d", cur(p), INT_MAX);
  if (t.kind != TK_NUM && t.kind != TK_IDENT)
    diag_error(p->d, t.loc, "expected a dimension (an integer or a dim name), got %s", cur(p));
  Expr *e = new_expr(p, t.kind == TK_NUM ? EX_NUM : EX_NAME, t.loc);
  e->num = t.num;
  e->is_int = t.is_int;
  if (t.kind == TK_IDENT) e->name = tok_text(p, &t);
  next(p);
  return e;
}

/* type = ("f32" | "i32") "[" (dim ("," dim)*)? "]" */
static TypeAst parse_type(Parser *p) {
  TypeAst ty = {.loc = p->tok.loc};
  if (tok_is_ident(&p->tok, "f32")) ty.dtype = DT_F32;
  else if (tok_is_ident(&p->tok, "i32")) ty.dtype = DT_I32;
  else if (p->tok.kind == TK_IDENT && looks_like_dtype(&p->tok))
    diag_error(p->d, p->tok.loc, "unsupported element type %s; expected f32 or i32", cur(p));
  else diag_error(p->d, p->tok.loc, "expected a type like f32[3, 4], got %s", cur(p));
  next(p);
  if (!is(p, '['))
    diag_error(p->d, p->tok.loc, "expected '[' and the dimensions after the element type (f32[] for a scalar), got %s",
               cur(p));
  SrcLoc open = p->tok.loc;
  next(p);
  while (!is(p, ']')) {
    if (p->tok.kind == TK_EOF) expect_close(p, ']', open, "type");
    ty.dims = grow(p, ty.dims, ty.rank, sizeof *ty.dims);
    ty.dims[ty.rank++] = parse_dim(p);
    if (!is(p, ',')) break;
    next(p);
    if (is(p, ']')) diag_error(p->d, p->tok.loc, "expected a dimension after ','");
  }
  expect_close(p, ']', open, "type");
  return ty;
}

/* ---- statements ------------------------------------------------------------------ */

/* Reads the NAME after keyword `kw` into *name and *loc. */
static void expect_name(Parser *p, const char *kw, const char **name, SrcLoc *loc) {
  if (p->tok.kind != TK_IDENT) diag_error(p->d, p->tok.loc, "expected a name after '%s', got %s", kw, cur(p));
  *name = tok_text(p, &p->tok);
  *loc = p->tok.loc;
  next(p);
}

/* size = integer in 1..2^31-1     (the value of `batch N = size` or `dim N = size`) */
static void parse_size(Parser *p, Stmt *s) {
  Token t = p->tok;
  s->value_loc = t.loc;
  if (t.kind != TK_NUM || !t.is_int)
    diag_error(p->d, t.loc, "the size of '%s' must be a positive integer, got %s", s->name, cur(p));
  long long v = 0;
  for (int i = 0; i < t.len; i++) {
    v = v * 10 + (t.start[i] - '0');
    if (v > INT_MAX) diag_error(p->d, t.loc, "the size of '%s' is too large (the limit is %d)", s->name, INT_MAX);
  }
  if (v == 0) diag_error(p->d, t.loc, "the size of '%s' must be a positive integer, got 0", s->name);
  s->value = v;
  next(p);
}

/* "batch" ident "=" size  |  "dim" ident "=" size */
static void parse_size_stmt(Parser *p, Stmt *s, const char *kw) {
  expect_name(p, kw, &s->name, &s->name_loc);
  if (!is(p, '=')) diag_error(p->d, p->tok.loc, "expected '=' after '%s', got %s", s->name, cur(p));
  next(p);
  parse_size(p, s);
  expect_end(p, "the size");
}

/* "input" ident ":" type  |  "param" ident ":" type ("=" expr)? "frozen"?
 * | "buffer" ident ":" type ("=" expr)?   (a param that is model state: s->buffer) */
static void parse_tensor_stmt(Parser *p, Stmt *s, const char *kw) {
  expect_name(p, kw, &s->name, &s->name_loc);
  if (!is(p, ':'))
    diag_error(p->d, p->tok.loc, "expected ':' and a type like f32[3, 4] after '%s', got %s", s->name, cur(p));
  next(p);
  s->type = parse_type(p);
  if (s->kind == ST_INPUT) {
    if (is(p, '=')) diag_error(p->d, p->tok.loc, "an input has no initializer (only a param does)");
    expect_end(p, "the type");
    return;
  }
  if (is(p, '=')) {
    next(p);
    if (at_end(p) || (tok_is_ident(&p->tok, "frozen") && (peek(p)->kind == TK_NEWLINE || peek(p)->kind == TK_EOF)))
      diag_error(p->d, p->tok.loc, "expected an initializer after '=', got %s", cur(p));
    s->init = parse_expr(p);
  }
  if (s->buffer && tok_is_ident(&p->tok, "frozen"))
    diag_error(p->d, p->tok.loc, "a buffer is never trained: '%s' needs no 'frozen'", s->name);
  if (tok_is_ident(&p->tok, "frozen")) {
    s->frozen = true;
    next(p);
    if (is(p, '=') && !s->init)
      diag_error(p->d, p->tok.loc, "the initializer goes before 'frozen': param %s : TYPE = INIT frozen", s->name);
    expect_end(p, "'frozen'");
    return;
  }
  if (s->buffer) expect_end(p, s->init ? "the initializer" : "the type (expected '= INIT')");
  expect_end(p, s->init ? "the initializer (only 'frozen' may follow)" : "the type (expected '= INIT' or 'frozen')");
}

/* "output" ident ("," ident)*  |  "minimize" ident */
static void parse_names_stmt(Parser *p, Stmt *s, const char *kw) {
  for (;;) {
    s->names = grow(p, s->names, s->nnames, sizeof *s->names);
    s->name_locs = grow(p, s->name_locs, s->nnames, sizeof *s->name_locs);
    expect_name(p, s->nnames ? "," : kw, &s->names[s->nnames], &s->name_locs[s->nnames]);
    s->nnames++;
    if (s->kind == ST_MINIMIZE) {
      expect_end(p, "the loss name (minimize takes one name)");
      return;
    }
    if (!is(p, ',')) break;
    next(p);
  }
  expect_end(p, "the output names (separate them with ',')");
}

static _Noreturn void unknown_stmt(Parser *p) {
  if (p->tok.kind == TK_IDENT) {
    char word[LEX_MAX_IDENT + 1];
    snprintf(word, sizeof word, "%.*s", p->tok.len, p->tok.start);
    const char *near = diag_nearest(word, keywords, NUM_KEYWORDS);
    if (near) diag_error(p->d, p->tok.loc, "unknown statement '%s'; did you mean '%s'?", word, near);
  }
  diag_error(p->d, p->tok.loc,
             "unknown statement; expected model, batch, dim, input, param, buffer, output, minimize or NAME = EXPR");
}

/* ident "=" expr */
static void parse_let(Parser *p, Stmt *s) {
  s->kind = ST_LET;
  s->name = tok_text(p, &p->tok);
  s->name_loc = p->tok.loc;
  next(p);
  next(p); /* '=' */
  if (at_end(p)) diag_error(p->d, p->tok.loc, "expected an expression after '='");
  s->expr = parse_expr(p);
  if (!at_end(p)) diag_error(p->d, p->tok.loc, "unexpected %s after the expression; expected an operator or end of line",
                             cur(p));
}

/* stmt = "model" ident | "batch" ... | "dim" ... | "input" ... | "param" ...
 *      | "output" ... | "minimize" ident | ident "=" expr */
static void parse_stmt(Parser *p, Stmt *s) {
  s->loc = p->tok.loc;
  int kw = 0;
  while (kw < NUM_KEYWORDS && !tok_is_ident(&p->tok, keywords[kw])) kw++;
  if (kw == NUM_KEYWORDS) {
    if (p->tok.kind != TK_IDENT || !tok_is(peek(p), '=')) unknown_stmt(p);
    parse_let(p, s);
    return;
  }
  if (tok_is(peek(p), '='))
    diag_error(p->d, p->tok.loc, "'%s' is a statement keyword and cannot be assigned; choose another name",
               keywords[kw]);
  next(p);
  static const StmtKind kinds[] = {ST_MODEL, ST_BATCH, ST_DIM, ST_INPUT, ST_PARAM, ST_OUTPUT, ST_MINIMIZE, ST_PARAM};
  s->kind = kinds[kw];
  s->buffer = kw == KW_BUFFER;
  switch (kw) {
  case KW_MODEL:
    expect_name(p, "model", &s->name, &s->name_loc);
    expect_end(p, "the model name");
    break;
  case KW_BATCH: case KW_DIM: parse_size_stmt(p, s, keywords[kw]); break;
  case KW_INPUT: case KW_PARAM: case KW_BUFFER: parse_tensor_stmt(p, s, keywords[kw]); break;
  default: parse_names_stmt(p, s, keywords[kw]); break;
  }
}

/* ---- indexing II (issue 15) ----
 * multi = ident ("," ident)+ "=" call       (a, b, c = split(x, 2, axis=1))
 * One ST_LET per name, each the call with its piece (part, nparts); a tensor argument
 * other than a name is first bound to a hidden name (not an identifier: no clash), so
 * it is computed once. */
static void parse_multi(Parser *p, Program *prog) {
  const char *names[64];
  SrcLoc locs[64];
  int n = 0;
  for (;;) {
    if (p->tok.kind != TK_IDENT) diag_error(p->d, p->tok.loc, "expected a name in the list before '=', got %s", cur(p));
    if (n == 64) diag_error(p->d, p->tok.loc, "too many names before '=' (the limit is 64)");
    names[n] = tok_text(p, &p->tok), locs[n++] = p->tok.loc;
    for (int k = 0; k < NUM_KEYWORDS; k++)
      if (!strcmp(names[n - 1], keywords[k]))
        diag_error(p->d, locs[n - 1], "'%s' is a statement keyword and cannot be assigned; choose another name", keywords[k]);
    next(p);
    if (is(p, '=')) break;
    if (!is(p, ',')) diag_error(p->d, p->tok.loc, "expected ',' or '=' after the name '%s', got %s", names[n - 1], cur(p));
    next(p);
  }
  SrcLoc eq = p->tok.loc;
  next(p);
  if (at_end(p)) diag_error(p->d, p->tok.loc, "expected an expression after '='");
  Expr *e = parse_expr(p);
  if (!at_end(p)) diag_error(p->d, p->tok.loc, "unexpected %s after the expression; expected end of line", cur(p));
  if (e->kind != EX_CALL || (strcmp(e->name, "split") && strcmp(e->name, "chunk")))
    diag_error(p->d, e->loc, "%d names take the tensors of split(...) or chunk(...); one name takes any other value", n);
  Expr **x = e->nargs ? &e->args[0] : NULL;
  for (int i = 0; !x && i < e->nkw; i++)
    if (!strcmp(e->kwnames[i], "x")) x = &e->kwargs[i];
  if (x && (*x)->kind != EX_NAME) {
    prog->stmts = grow(p, prog->stmts, prog->nstmts, sizeof *prog->stmts);
    Stmt *h = &prog->stmts[prog->nstmts++];
    char hidden[64];
    snprintf(hidden, sizeof hidden, "(%s at %d:%d)", e->name, eq.line, eq.col);
    *h = (Stmt){.kind = ST_LET, .loc = (*x)->loc, .name = arena_strndup(p->a, hidden, strlen(hidden)),
                .name_loc = (*x)->loc, .expr = *x};
    Expr *ref = new_expr(p, EX_NAME, (*x)->loc);
    ref->name = h->name;
    *x = ref;
  }
  for (int i = 0; i < n; i++) {
    Expr *part = new_expr(p, EX_CALL, e->loc);
    *part = *e;
    part->part = i, part->nparts = n;
    prog->stmts = grow(p, prog->stmts, prog->nstmts, sizeof *prog->stmts);
    prog->stmts[prog->nstmts++] = (Stmt){.kind = ST_LET, .loc = locs[i], .name = names[i], .name_loc = locs[i],
                                         .expr = part};
  }
}

/* program = (stmt? NEWLINE)* EOF */
Program *parse_program(Arena *a, Diag *d) {
  Parser p = {.a = a, .d = d};
  lex_init(&p.lx, d);
  next(&p);
  Program *prog = ARENA_NEW(a, Program);
  while (p.tok.kind != TK_EOF) {
    if (p.tok.kind == TK_NEWLINE) {
      next(&p);
      continue;
    }
    if (p.tok.kind == TK_IDENT && tok_is(peek(&p), ',')) {
      parse_multi(&p, prog);
      continue;
    }
    prog->stmts = grow(&p, prog->stmts, prog->nstmts, sizeof *prog->stmts);
    parse_stmt(&p, &prog->stmts[prog->nstmts++]);
  }
  return prog;
}
