/* test_parse.c — tests of the lexer and parser (compiler/lex.c, compiler/parse.c):
 * statements, expression trees (precedence, associativity, locations), calls, types,
 * and syntax errors with their exact FILE:LINE:COL and caret. */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "builtins.h"
#include "gradc/compiler.h"
#include "gradc/tape.h"

static Arena *arena;

static void setup(void) { arena = arena_new(); }
static void teardown(void) { arena_free(arena); }
TestSuite(parse, .init = setup, .fini = teardown);

/* Parses src; NULL on a syntax error (message in d->msg). */
static Program *try_parse(const char *src, Diag *d) {
  memset(d, 0, sizeof *d);
  d->file = "t.grad";
  d->src = src;
  if (setjmp(d->jb)) return NULL;
  return parse_program(arena, d);
}

static Program *parse_ok(const char *src) {
  static Diag d; /* jmp_buf is large; keep it off the test's stack */
  Program *p = try_parse(src, &d);
  cr_assert(p, "unexpected error for:\n%s\n%s", src, d.msg);
  return p;
}

/* Checks that src fails at line:col with a message containing `what`, and that the
 * message ends with the source line and a caret under the column. */
static void expect_error(const char *src, int line, int col, const char *what) {
  static Diag d;
  Program *p = try_parse(src, &d);
  cr_assert_null(p, "expected an error for:\n%s", src);
  char head[64];
  snprintf(head, sizeof head, "t.grad:%d:%d: error: ", line, col);
  cr_assert(strncmp(d.msg, head, strlen(head)) == 0, "expected '%s...', got:\n%s", head, d.msg);
  cr_assert(strstr(d.msg, what), "expected '%s' in:\n%s", what, d.msg);
  const char *caret = strrchr(d.msg, '^');
  cr_assert(caret && caret[1] == '\n' && caret[2] == 0, "no caret line in:\n%s", d.msg);
  const char *bol = caret;
  while (bol > d.msg && bol[-1] != '\n') bol--;
  if (col <= 300) /* diag.c shows at most 300 columns of a line */
    cr_assert_eq(caret - bol, 2 + col - 1, "caret misplaced in:\n%s", d.msg);
}

/* Writes e as an s-expression: (+ a b), (neg x), (** a b), f(a; k=v), [a b], 2, 0.5 */
static void sx(const Expr *e, char *buf, size_t n) {
  char a[1024], b[1024];
  size_t len;
  switch (e->kind) {
  case EX_NUM: snprintf(buf, n, "%g", e->num); break;
  case EX_NAME: snprintf(buf, n, "%s", e->name); break;
  case EX_STR: snprintf(buf, n, "\"%s\"", e->name); break;
  case EX_NEG: sx(e->lhs, a, sizeof a); snprintf(buf, n, "(neg %s)", a); break;
  case EX_BINARY:
    sx(e->lhs, a, sizeof a);
    sx(e->rhs, b, sizeof b);
    if (e->op == 'P') snprintf(buf, n, "(** %s %s)", a, b);
    else snprintf(buf, n, "(%c %s %s)", e->op, a, b);
    break;
  case EX_CALL:
  case EX_LIST:
    snprintf(buf, n, "%s%s", e->kind == EX_CALL ? e->name : "", e->kind == EX_CALL ? "(" : "[");
    for (int i = 0; i < e->nargs; i++) {
      sx(e->args[i], a, sizeof a);
      len = strlen(buf);
      snprintf(buf + len, n - len, "%s%s", i ? " " : "", a);
    }
    for (int i = 0; i < e->nkw; i++) {
      sx(e->kwargs[i], a, sizeof a);
      len = strlen(buf);
      snprintf(buf + len, n - len, "%s%s=%s", i ? " " : "; ", e->kwnames[i], a);
    }
    len = strlen(buf);
    snprintf(buf + len, n - len, "%s", e->kind == EX_CALL ? ")" : "]");
    break;
  /* ---- indexing II (issue 15): x[a:b:c, i, ...] as (idx x a:b:c i ...), omitted bounds _ ---- */
  case EX_INDEX:
    sx(e->lhs, a, sizeof a);
    snprintf(buf, n, "(idx %s", a);
    for (int i = 0; i < e->nargs; i++) {
      sx(e->args[i], a, sizeof a);
      len = strlen(buf);
      snprintf(buf + len, n - len, " %s", a);
    }
    len = strlen(buf);
    snprintf(buf + len, n - len, ")");
    break;
  case EX_SLICE: {
    char c[1024];
    if (e->lhs) sx(e->lhs, a, sizeof a); else snprintf(a, sizeof a, "_");
    if (e->rhs) sx(e->rhs, b, sizeof b); else snprintf(b, sizeof b, "_");
    if (e->step) sx(e->step, c, sizeof c); else snprintf(c, sizeof c, "_");
    snprintf(buf, n, "%s:%s:%s", a, b, c);
    break;
  }
  case EX_ELLIPSIS: snprintf(buf, n, "..."); break;
  }
}

/* The tree of `x = SRC`. */
static const char *tree(const char *expr) {
  static char src[4096], out[4096];
  snprintf(src, sizeof src, "x = %s\n", expr);
  Program *p = parse_ok(src);
  cr_assert_eq(p->nstmts, 1);
  cr_assert_eq(p->stmts[0].kind, ST_LET);
  sx(p->stmts[0].expr, out, sizeof out);
  return out;
}

#define TREE(src, want) cr_expect_str_eq(tree(src), want, "for %s", src)

static void check_type(const TypeAst *t, DType dt, const char *dims) {
  char buf[256] = "";
  for (int i = 0; i < t->rank; i++) {
    char one[64];
    sx(t->dims[i], one, sizeof one);
    size_t len = strlen(buf);
    snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", one);
  }
  cr_expect_eq(t->dtype, dt);
  cr_expect_str_eq(buf, dims);
}

Test(parse, logreg_example) {
  Program *p = parse_ok("# z = x @ w + b, loss = BCE-with-logits(z, y)\n"
                        "model logreg\n"
                        "input x : f32[5]\n"
                        "input y : f32[3]\n"
                        "param w : f32[5, 3] = randn\n"
                        "param b : f32[3]    = randn\n"
                        "z    = x @ w + b\n"
                        "loss = bce_with_logits(z, y)\n"
                        "output z\n"
                        "minimize loss\n");
  cr_assert_eq(p->nstmts, 9);
  Stmt *s = p->stmts;
  cr_expect_eq(s[0].kind, ST_MODEL);
  cr_expect_str_eq(s[0].name, "logreg");
  cr_expect_eq(s[0].loc.line, 2);
  cr_expect_eq(s[0].name_loc.col, 7);
  cr_expect_eq(s[1].kind, ST_INPUT);
  cr_expect_str_eq(s[1].name, "x");
  check_type(&s[1].type, DT_F32, "5");
  cr_expect_eq(s[1].type.loc.col, 11);
  cr_expect_eq(s[3].kind, ST_PARAM);
  cr_expect_str_eq(s[3].name, "w");
  check_type(&s[3].type, DT_F32, "5,3");
  cr_assert(s[3].init);
  cr_expect_eq(s[3].init->kind, EX_NAME);
  cr_expect_str_eq(s[3].init->name, "randn");
  cr_expect(!s[3].frozen);
  cr_expect_eq(s[4].init->loc.col, 23);
  cr_expect_eq(s[5].kind, ST_LET);
  cr_expect_str_eq(s[5].name, "z");
  char buf[256];
  sx(s[5].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "(+ (@ x w) b)");
  cr_expect_eq(s[5].expr->loc.line, 7);
  cr_expect_eq(s[5].expr->loc.col, 14); /* the '+' */
  sx(s[6].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "bce_with_logits(z y)");
  cr_expect_eq(s[6].expr->loc.col, 8);
  cr_expect_eq(s[7].kind, ST_OUTPUT);
  cr_expect_eq(s[7].nnames, 1);
  cr_expect_str_eq(s[7].names[0], "z");
  cr_expect_eq(s[8].kind, ST_MINIMIZE);
  cr_expect_eq(s[8].nnames, 1);
  cr_expect_str_eq(s[8].names[0], "loss");
  cr_expect_eq(s[8].name_locs[0].line, 10);
  cr_expect_eq(s[8].name_locs[0].col, 10);
}

Test(parse, digits_example) {
  Program *p = parse_ok("model digits\n"
                        "batch N = 32\n"
                        "input  x     : f32[N, 64]\n"
                        "input  label : i32[N]\n"
                        "param  w1 : f32[64, 32] = kaiming\n"
                        "param  b1 : f32[32]\n"
                        "param  w2 : f32[32, 10] = kaiming\n"
                        "param  b2 : f32[10]\n"
                        "h      = relu((x / 16) @ w1 + b1)       # pixels are 0..16\n"
                        "logits = h @ w2 + b2\n"
                        "loss   = cross_entropy(logits, label)\n"
                        "output logits\n"
                        "minimize loss\n");
  cr_assert_eq(p->nstmts, 13);
  Stmt *s = p->stmts;
  cr_expect_eq(s[1].kind, ST_BATCH);
  cr_expect_str_eq(s[1].name, "N");
  cr_expect_eq(s[1].value, 32);
  cr_expect_eq(s[1].value_loc.col, 11);
  check_type(&s[2].type, DT_F32, "N,64");
  cr_expect_eq(s[2].type.dims[0]->kind, EX_NAME);
  cr_expect(s[2].type.dims[1]->is_int);
  check_type(&s[3].type, DT_I32, "N");
  cr_expect_null(s[5].init);
  char buf[256];
  sx(s[8].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "relu((+ (@ (/ x 16) w1) b1))");
  sx(s[9].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "(+ (@ h w2) b2)");
  cr_expect_eq(s[12].kind, ST_MINIMIZE);
}

Test(parse, precedence_and_associativity) {
  TREE("a + b * c", "(+ a (* b c))");
  TREE("a - b - c", "(- (- a b) c)");
  TREE("-x ** 2", "(neg (** x 2))");
  TREE("a @ b + c", "(+ (@ a b) c)");
  TREE("2 ** 3 ** 2", "(** 2 (** 3 2))");
  TREE("2 ** -1", "(** 2 (neg 1))");
  TREE("a ** -b ** c", "(** a (neg (** b c)))");
  TREE("-a * b", "(* (neg a) b)");
  TREE("a * -b", "(* a (neg b))");
  TREE("- - a", "(neg (neg a))");
  TREE("(a + b) * c", "(* (+ a b) c)");
  TREE("a / b @ c * d", "(* (@ (/ a b) c) d)");
  TREE("a - -b", "(- a (neg b))");
  TREE("(a ** b) ** c", "(** (** a b) c)");
  TREE("f(a) ** 2 + [1, 2]", "(+ (** f(a) 2) [1 2])");
}

/* Comparisons (issue 15) bind looser than + and -, as in Python, and do not chain. The
 * tree prints <= as l, >= as g, == as E, != as N (their tokens). */
Test(parse, comparisons) {
  TREE("a + b < c * d", "(< (+ a b) (* c d))");
  TREE("a - 1 <= -b", "(l (- a 1) (neg b))");
  TREE("a > b ** 2", "(> a (** b 2))");
  TREE("a >= b @ c", "(g a (@ b c))");
  TREE("a == b", "(E a b)");
  TREE("a != 0.5", "(N a 0.5)");
  TREE("(a < b) * (b < c)", "(* (< a b) (< b c))");
  TREE("where(x == 0, a, b)", "where((E x 0) a b)");
  TREE("f(a, k=b >= c)", "f(a; k=(g b c))");
  TREE("a ** b", "(** a b)");
  expect_error("x = a < b < c\n", 1, 11, "comparisons do not chain: write (a < b) * (b < c)");
  expect_error("x = a == b != c\n", 1, 12, "comparisons do not chain");
  expect_error("x = !a\n", 1, 5, "unexpected character '!': != is 'not equal'; there is no logical not");
  expect_error("x = a =< b\n", 1, 7, "unexpected '=' after the expression");
  expect_error("x = a <> b\n", 1, 8, "expected an expression, got '>'");
}

Test(parse, binary_loc_is_operator) {
  Program *p = parse_ok("y = a  *  b\n");
  Expr *e = p->stmts[0].expr;
  cr_expect_eq(e->loc.col, 8);
  cr_expect_eq(e->lhs->loc.col, 5);
  cr_expect_eq(e->rhs->loc.col, 11);
  p = parse_ok("y = -(a)\n");
  cr_expect_eq(p->stmts[0].expr->kind, EX_NEG);
  cr_expect_eq(p->stmts[0].expr->loc.col, 5);
}

Test(parse, calls_and_lists) {
  TREE("sum(x, axis=[0, 1], keepdims=true)", "sum(x; axis=[0 1] keepdims=true)");
  TREE("f()", "f()");
  TREE("f(a,)", "f(a)");
  TREE("[]", "[]");
  TREE("[[1, 2], [3]]", "[[1 2] [3]]");
  TREE("g(k=1)", "g(; k=1)");
  TREE("softmax(x, axis=-1)", "softmax(x; axis=(neg 1))");
  TREE("reshape(x, [-1, 4])", "reshape(x [(neg 1) 4])");
  Program *p = parse_ok("y = sum(x, axis=1)\n");
  Expr *e = p->stmts[0].expr;
  cr_expect_eq(e->kind, EX_CALL);
  cr_expect_eq(e->loc.col, 5);
  cr_expect_eq(e->kwlocs[0].col, 12);
  cr_expect_eq(e->kwargs[0]->is_int, true);
}

/* ---- indexing II (issue 15): x[a:b:s, i, ...] and `a, b = split(...)` ---- */
Test(parse, indexing) {
  TREE("a[1:3, :, -1]", "(idx a 1:3:_ _:_:_ (neg 1))");
  TREE("a[::2]", "(idx a _:_:2)");
  TREE("a[-3:]", "(idx a (neg 3):_:_)");
  TREE("a[..., 0]", "(idx a ... 0)");
  TREE("f(x)[0][1:] ** 2", "(** (idx (idx f(x) 0) 1:_:_) 2)");
  TREE("-a[0]", "(neg (idx a 0))");
  TREE("a[i:N:k,]", "(idx a i:N:k)");
  Program *p = parse_ok("y = a[1:2]\n");
  cr_expect_eq(p->stmts[0].expr->loc.col, 6); /* the bracket */
  expect_error("y = a[]\n", 1, 6, "an index needs at least one item");
  expect_error("y = a[1:2\n", 1, 6, "missing ']'");
  expect_error("y = ...\n", 1, 5, "expected an expression, got '...'");
}

Test(parse, split_names) {
  Program *p = parse_ok("a, b,c = split(x, 2, axis=1)\n");
  cr_assert_eq(p->nstmts, 3);
  for (int i = 0; i < 3; i++) {
    cr_expect_eq(p->stmts[i].kind, ST_LET);
    cr_expect_eq(p->stmts[i].expr->part, i);
    cr_expect_eq(p->stmts[i].expr->nparts, 3);
  }
  cr_expect_str_eq(p->stmts[2].name, "c");
  cr_expect_eq(p->stmts[2].name_loc.col, 6);
  p = parse_ok("a, b = chunk(relu(x), 2)\n"); /* the tensor first, under a hidden name */
  cr_assert_eq(p->nstmts, 3);
  cr_expect_eq(p->stmts[1].expr->args[0]->kind, EX_NAME);
  cr_expect_str_eq(p->stmts[1].expr->args[0]->name, p->stmts[0].name);
  expect_error("a, b = relu(x)\n", 1, 8, "2 names take the tensors of split(...) or chunk(...)");
  expect_error("a, 3 = split(x, 1)\n", 1, 4, "expected a name");
  expect_error("a, b c = split(x, 1)\n", 1, 6, "expected ',' or '='");
  expect_error("a, dim = split(x, 1)\n", 1, 4, "statement keyword");
}

/* Strings are argument values: "..." or '...', printable ASCII, no escapes. */
Test(parse, strings) {
  TREE("nll_loss(x, t, reduction=\"sum\")", "nll_loss(x t; reduction=\"sum\")");
  TREE("f(a, 'none', b='')", "f(a \"none\"; b=\"\")");
  TREE("f(m=\"it's\")", "f(; m=\"it's\")");
  Program *p = parse_ok("y = f(x, r=\"sum\")\n");
  Expr *e = p->stmts[0].expr;
  cr_expect_eq(e->kwargs[0]->kind, EX_STR);
  cr_expect_eq(e->kwargs[0]->loc.col, 12);
}

Test(parse, err_strings) {
  expect_error("y = f(x, r=\"sum)\n", 1, 12, "unterminated string: missing \"");
  expect_error("y = f(x, r='sum\")\n", 1, 12, "unterminated string: missing '");
  expect_error("y = f(x, r=\"a\\nb\")\n", 1, 14, "a string has no escapes");
  expect_error("y = f(x, r=\"a\tb\")\n", 1, 14, "unexpected control character 0x09");
  expect_error("y = f(x, r=\"\xce\xbb\")\n", 1, 13, "only ASCII");
  expect_error("y = \"sum\" x\n", 1, 11, "unexpected 'x' after the expression");
}

Test(parse, many_args_grow) {
  char src[8192] = "y = f(";
  for (int i = 0; i < 100; i++) snprintf(src + strlen(src), 64, "a%d, ", i);
  for (int i = 0; i < 40; i++) snprintf(src + strlen(src), 64, "k%d=%d, ", i, i);
  strcat(src, ")\noutput a, b, c, d, e, f, g, h, i, j\n");
  Program *p = parse_ok(src);
  Expr *e = p->stmts[0].expr;
  cr_assert_eq(e->nargs, 100);
  cr_assert_eq(e->nkw, 40);
  cr_expect_str_eq(e->args[99]->name, "a99");
  cr_expect_str_eq(e->kwnames[39], "k39");
  cr_expect_eq(e->kwargs[39]->num, 39);
  cr_expect_eq(p->stmts[1].nnames, 10);
  cr_expect_str_eq(p->stmts[1].names[9], "j");
  cr_expect_eq(p->stmts[1].name_locs[9].col, 35);
}

Test(parse, multiline_call) {
  Program *p = parse_ok("y = conv2d(x,   # the image\n"
                        "           w,\n"
                        "\n"
                        "           stride=[1,\n"
                        "                   1],\n"
                        "           padding=0\n"
                        ")\n"
                        "z = (a\n"
                        "     + b)\n");
  cr_assert_eq(p->nstmts, 2);
  char buf[256];
  sx(p->stmts[0].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "conv2d(x w; stride=[1 1] padding=0)");
  cr_expect_eq(p->stmts[0].expr->kwlocs[1].line, 6);
  cr_expect_eq(p->stmts[1].expr->loc.line, 9);
  cr_expect_eq(p->stmts[1].loc.line, 8);
}

Test(parse, comments_blank_lines_crlf) {
  Program *p = parse_ok("\n\n# only a comment\n   # indented comment ü\xff\n"
                        "model m # trailing\r\n"
                        "\t\r\n"
                        "x = 1#no space\n"
                        "y = 2");
  cr_assert_eq(p->nstmts, 3);
  cr_expect_eq(p->stmts[0].loc.line, 5);
  cr_expect_eq(p->stmts[1].loc.line, 7);
  cr_expect_eq(p->stmts[2].loc.line, 8);
  cr_expect_eq(parse_ok("")->nstmts, 0);
  cr_expect_eq(parse_ok("\xef\xbb\xbfmodel m\n")->nstmts, 1); /* byte order mark */
  cr_expect_eq(parse_ok("# nothing")->nstmts, 0);
}

Test(parse, param_init_and_frozen) {
  Program *p = parse_ok("param w : f32[5,3] = randn(0.5) frozen\n"
                        "param v : f32[2] frozen\n"
                        "param u : f32[2] = -0.5\n"
                        "param t : f32[2, 2] = uniform(-1, 1)\n"
                        "param s : f32[] = xavier frozen\n");
  Stmt *s = p->stmts;
  cr_assert_eq(p->nstmts, 5);
  char buf[256];
  sx(s[0].init, buf, sizeof buf);
  cr_expect_str_eq(buf, "randn(0.5)");
  cr_expect(s[0].frozen);
  cr_expect_null(s[1].init);
  cr_expect(s[1].frozen);
  sx(s[2].init, buf, sizeof buf);
  cr_expect_str_eq(buf, "(neg 0.5)");
  cr_expect(!s[2].frozen);
  sx(s[3].init, buf, sizeof buf);
  cr_expect_str_eq(buf, "uniform((neg 1) 1)");
  cr_expect(s[4].frozen);
  cr_expect_eq(s[4].type.rank, 0);
}

Test(parse, types) {
  Program *p = parse_ok("input a : f32[]\ninput b : i32[N]\ninput c : f32[1, 2, 3, 4, 5, 6, 7]\n"
                        "input d : f32[\n  N,\n  0]\ndim H = 2147483647\n");
  cr_expect_eq(p->stmts[0].type.rank, 0);
  cr_expect_eq(p->stmts[0].type.dtype, DT_F32);
  check_type(&p->stmts[1].type, DT_I32, "N");
  check_type(&p->stmts[2].type, DT_F32, "1,2,3,4,5,6,7");
  check_type(&p->stmts[3].type, DT_F32, "N,0");
  cr_expect_eq(p->stmts[4].kind, ST_DIM);
  cr_expect_eq(p->stmts[4].value, 2147483647LL);
}

Test(parse, numbers) {
  Program *p = parse_ok("a = 12\nb = 0.5\nc = .5\nd = 1e-3\ne = 2.5E+4\nf = 1.\ng = 7e2\n");
  Stmt *s = p->stmts;
  cr_expect(s[0].expr->is_int);
  cr_expect_eq(s[0].expr->num, 12);
  cr_expect(!s[1].expr->is_int);
  cr_expect_eq(s[1].expr->num, 0.5);
  cr_expect_eq(s[2].expr->num, 0.5);
  cr_expect_eq(s[3].expr->num, 1e-3);
  cr_expect(!s[3].expr->is_int);
  cr_expect_eq(s[4].expr->num, 2.5e4);
  cr_expect_eq(s[5].expr->num, 1.0);
  cr_expect(!s[6].expr->is_int);
  TREE("1-2", "(- 1 2)");
  TREE("1e3-2", "(- 1000 2)");
}

Test(parse, keywords_only_at_statement_start) {
  Program *p = parse_ok("input model : f32[]\ny = model + batch * frozen\noutput y, input\n");
  cr_expect_str_eq(p->stmts[0].name, "model");
  char buf[256];
  sx(p->stmts[1].expr, buf, sizeof buf);
  cr_expect_str_eq(buf, "(+ model (* batch frozen))");
  cr_expect_str_eq(p->stmts[2].names[1], "input");
}

Test(parse, long_flat_chain_is_not_recursive) {
  size_t n = 200000;
  char *src = malloc(4 * n + 16);
  strcpy(src, "y = a");
  for (size_t i = 0; i < n; i++) strcat(src + 4 * i, " + a");
  Program *p = parse_ok(src);
  cr_expect_eq(p->stmts[0].expr->kind, EX_BINARY);
  free(src);
}

Test(parse, moderate_nesting_ok) {
  char src[1024] = "y = ";
  for (int i = 0; i < 100; i++) strcat(src, "(");
  strcat(src, "a");
  for (int i = 0; i < 100; i++) strcat(src, ")");
  parse_ok(src);
}

/* ---- errors ---------------------------------------------------------------------- */

Test(parse, err_unterminated_call) {
  expect_error("model m\nx = relu(a\ny = 2\n", 2, 9, "unterminated call to 'relu': missing ')'");
  expect_error("x = relu(a", 1, 9, "unterminated call to 'relu': missing ')'");
  expect_error("x = relu(a,\n", 1, 9, "unterminated call to 'relu'");
  expect_error("x = sum(a b)\n", 1, 11, "expected ')' to close the call to 'sum' opened at 1:8");
  expect_error("x = [1, 2\n", 1, 5, "unterminated list: missing ']'");
  expect_error("x = (a + b\n", 1, 5, "unterminated '(': missing ')'");
  expect_error("x = (a + b]\n", 1, 11, "expected ')' to close the '(' opened at 1:5");
  expect_error("input x : f32[3, 4\n", 1, 14, "unterminated type: missing ']'");
}

Test(parse, err_bad_number) {
  expect_error("x = 1.2.3\n", 1, 5, "bad number '1.2.3'");
  expect_error("x = a + 1e\n", 1, 9, "bad number '1e'");
  expect_error("x = 3abc\n", 1, 5, "bad number '3abc'");
  expect_error("x = 2e+\n", 1, 5, "bad number '2e+'");
  expect_error("x = 0x10\n", 1, 5, "bad number '0x10'");
  expect_error("x = 1e999\n", 1, 5, "number '1e999' is too large");
}

Test(parse, err_unexpected_character) {
  expect_error("model m\nx = a $ b\n", 2, 7, "unexpected character '$'");
  expect_error("\tx = $\n", 1, 6, "unexpected character '$'");
  expect_error("x = a.b\n", 1, 6, "unexpected character '.'");
  expect_error("x = a\x01\n", 1, 6, "unexpected control character 0x01");
  expect_error("x = a // b\n", 1, 8, "expected an expression, got '/'");
  expect_error("x = a * * b\n", 1, 9, "expected an expression, got '*'");
  expect_error("x = +a\n", 1, 5, "expected an expression, got '+'");
}

Test(parse, err_utf8) {
  expect_error("x = a \xff\n", 1, 7, "invalid UTF-8 byte 0xff");
  expect_error("x = \xc3\x28\n", 1, 5, "invalid UTF-8 byte 0xc3");
  expect_error("x = \xe2\x82\n", 1, 5, "invalid UTF-8");
  expect_error("x = \xce\xbb\n", 1, 5, "unexpected character '\xce\xbb' (U+03BB)");
  parse_ok("x = a # \xff\xfe\xc3 fine in a comment\n");
}

Test(parse, err_missing_type) {
  expect_error("input x :\n", 1, 10, "expected a type like f32[3, 4], got end of line");
  expect_error("input x\nparam y : f32[1]\n", 1, 8, "expected ':' and a type like f32[3, 4] after 'x'");
  expect_error("param w : zeros\n", 1, 11, "expected a type like f32[3, 4], got 'zeros'");
  expect_error("input x : f64[3]\n", 1, 11, "unsupported element type 'f64'");
  expect_error("input x : f32\n", 1, 14, "expected '['");
  expect_error("input x : f32[2.5]\n", 1, 15, "dimension '2.5' must be an integer");
  expect_error("input x : f32[-1]\n", 1, 15, "expected a dimension (an integer or a dim name), got '-'");
  expect_error("input x : f32[N + 1]\n", 1, 17, "expected ']' to close the type opened at 1:14");
  expect_error("input x : f32[3,]\n", 1, 17, "expected a dimension after ','");
  expect_error("input x : f32[3] = zeros\n", 1, 18, "an input has no initializer");
}

Test(parse, err_keyword_before_positional) {
  expect_error("x = sum(axis=1, x)\n", 1, 17, "positional argument after keyword argument 'axis'");
  expect_error("x = sum(x, axis=1, axis=2)\n", 1, 20, "keyword argument 'axis' repeated");
  expect_error("x = [a=1]\n", 1, 7, "expected ']' to close the list opened at 1:5");
}

Test(parse, err_deep_nesting) {
  size_t n = 10000;
  char *src = malloc(n + 16);
  strcpy(src, "x = ");
  memset(src + 4, '(', n);
  strcpy(src + 4 + n, "a\n");
  expect_error(src, 1, 4 + 256 + 1, "expression nested too deeply");
  memset(src + 4, '-', n);
  expect_error(src, 1, 4 + 256 + 1, "expression nested too deeply");
  for (size_t i = 0; i < n; i++) src[4 + i] = "[(-"[i % 3];
  expect_error(src, 1, 4 + 256 + 1, "expression nested too deeply");
  free(src);
  char *pow = malloc(6 * n + 16);
  strcpy(pow, "x = a");
  for (size_t i = 0; i < n; i++) strcat(pow + 5 * i, " ** a");
  expect_error(pow, 1, 5 + 5 * 256, "expression nested too deeply");
  free(pow);
}

Test(parse, err_empty_body) {
  expect_error("x =\n", 1, 4, "expected an expression after '='");
  expect_error("x =   # comment\ny = 1\n", 1, 4, "expected an expression after '='");
  expect_error("x = a +\n", 1, 8, "expected an expression, got end of line");
  expect_error("x = a b\n", 1, 7, "unexpected 'b' after the expression");
  expect_error("x = (a)(b)\n", 1, 8, "unexpected '(' after the expression");
}

Test(parse, err_statements) {
  expect_error("model\n", 1, 6, "expected a name after 'model', got end of line");
  expect_error("model m n\n", 1, 9, "expected end of line after the model name");
  expect_error("modle m\n", 1, 1, "unknown statement 'modle'; did you mean 'model'?");
  expect_error("x + 1\n", 1, 1, "unknown statement; expected model, batch, dim, input, param, buffer, output, minimize or NAME = EXPR");
  expect_error("= 1\n", 1, 1, "unknown statement");
  expect_error("3 = x\n", 1, 1, "unknown statement");
  expect_error("output = relu(x)\n", 1, 1, "'output' is a statement keyword and cannot be assigned");
  expect_error("output a,\n", 1, 10, "expected a name after ',', got end of line");
  expect_error("output a b\n", 1, 10, "expected end of line after the output names");
  expect_error("minimize a, b\n", 1, 11, "minimize takes one name");
  expect_error("param w : f32[2] frozen = randn\n", 1, 25, "the initializer goes before 'frozen'");
  expect_error("param w : f32[2] = frozen\n", 1, 20, "expected an initializer after '='");
  expect_error("param w : f32[2] = randn frozen frozen\n", 1, 33, "expected end of line after 'frozen'");
  expect_error("param w : f32[2] = randn froze\n", 1, 26, "only 'frozen' may follow");
}

Test(parse, err_sizes) {
  expect_error("batch N = 0\n", 1, 11, "the size of 'N' must be a positive integer, got 0");
  expect_error("batch N = -3\n", 1, 11, "must be a positive integer, got '-'");
  expect_error("dim H = 2.5\n", 1, 9, "must be a positive integer, got '2.5'");
  expect_error("dim H = 2147483648\n", 1, 9, "the size of 'H' is too large");
  expect_error("dim H = 99999999999999999999999\n", 1, 9, "too large");
  expect_error("dim H 3\n", 1, 7, "expected '=' after 'H'");
  expect_error("dim H = K\n", 1, 9, "must be a positive integer, got 'K'");
  expect_error("dim H = 3 4\n", 1, 11, "expected end of line after the size");
}

Test(parse, err_long_identifier) {
  char src[600] = "x = ";
  memset(src + 4, 'a', 256);
  strcpy(src + 260, "\n");
  expect_error(src, 1, 5, "identifier 'aaaaaaaaaaaaaaaaaaaa...' is too long (256 characters; the limit is 255)");
  src[4 + 255] = '\n';
  src[4 + 256] = 0;
  parse_ok(src);
}

Test(parse, err_first_error_wins) {
  expect_error("x = (\ny = $\n", 1, 5, "unterminated '(': missing ')'");
  expect_error("x = (\ny $\n", 2, 3, "unexpected character '$'");
  expect_error("x = )\ny = $\n", 1, 5, "expected an expression, got ')'");
}

Test(parse, err_too_many_kwargs) {
  char *src = malloc(20000);
  strcpy(src, "x = f(");
  int col = 0;
  for (int i = 0; i <= 1000; i++) {
    col = (int)strlen(src) + 1;
    sprintf(src + strlen(src), "k%d=1, ", i);
  }
  strcat(src, ")\n");
  expect_error(src, 1, col, "too many keyword arguments in the call to 'f' (the limit is 1000)");
  free(src);
}

/* ---- the calls (signature.h): one table for the compiler and the tape ---- */

Test(calls, every_operator_has_a_builder) {
  cr_assert(builtin_complete(), "an operator of signature.h has no builder in builtins.c");
  const char **names;
  int n = call_names(&names);
  cr_assert_eq(n, CALL__COUNT);
  for (int i = 0; i < n; i++) cr_expect_eq(call_find(names[i]), i, "%s", names[i]);
}

/* Each operator of issue 15 refuses a bad argument with the same message in the
 * compiler and the tape (a chained comparison and '!' are the parser's: test above). */
Test(calls, elementwise_errors_compiler_and_tape) {
  static const struct {
    const char *body, *want;
  } cases[] = {
      {"y = x < z\n", "[2, 3] and [4]"},
      {"y = x ** z\n", "[2, 3] and [4]"},
      {"y = l == 1\n", "'==' needs f32"},
      {"y = where(x > 0, x)\n", "'where' needs argument 'y'"},
      {"y = clamp(x)\n", "clamp needs min= or max= (or both)"},
      {"y = clamp(l, min=0)\n", "'clamp' needs f32"},
      {"y = relu6(x, 6)\n", "'relu6' takes at most 1 argument"},
      {"y = hardtanh(x, min_val=x)\n", "expected a constant number"},
      {"y = hardsigmoid(l)\n", "'hardsigmoid' needs f32"},
      {"y = hardswish(x, inplace=true)\n", "'hardswish' has no argument 'inplace'"},
      {"y = elu(x, alpha=x)\n", "expected a constant number"},
      {"y = selu(x, 1)\n", "'selu' takes at most 1 argument"},
      {"y = celu(x, alpha=0)\n", "celu: alpha cannot be 0"},
      {"y = prelu(x, z)\n", "one per channel (3, dimension 1 of x [2, 3]), got [4]"},
      {"y = prelu(x)\n", "'prelu' needs argument 'w'"},
      {"y = softsign(l)\n", "'softsign' needs f32"},
      {"y = sin(x, 2)\n", "'sin' takes at most 1 argument"},
      {"y = cos(l)\n", "'cos' needs f32"},
      {"y = square(input=x)\n", "did you mean 'x'?"},
      {"y = rsqrt(l)\n", "'rsqrt' needs f32"},
      {"y = reciprocal()\n", "'reciprocal' needs argument 'x'"},
      {"y = erf(l)\n", "'erf' needs f32"},
      {"y = sign(l)\n", "'sign' needs f32"},
      {"y = floor(l)\n", "'floor' needs f32"},
      {"y = ceil(x, x)\n", "'ceil' takes at most 1 argument"},
      {"y = round(x, decimals=0.5)\n", "decimals must be an integer"},
      {"y = clip(x, 0, 1)\n", "did you mean 'clamp'?"},
      /* dtype conversions (issue 16) */
      {"y = int(x, x)\n", "'int' takes at most 1 argument"},
      {"y = float()\n", "'float' needs argument 'x'"},
      {"y = float(l) + l\n", "needs f32"},
      {"y = sum(int(x))\n", "needs f32"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[256], cerr[1024] = "", terr[1024] = "";
    snprintf(src, sizeof src, "model m\ninput x : f32[2, 3]\ninput z : f32[4]\ninput l : i32[2]\n%soutput y\n",
             cases[i].body);
    gc_options o = {.path = "m.grad", .source = src, .emit = GC_EMIT_IR, .out = "/dev/null"};
    cr_expect_neq(gc_compile(&o, NULL, cerr, sizeof cerr), 0, "the compiler accepted %s", src);
    tape_model *t = tape_open("m.grad", src, NULL, NULL, 0, terr, sizeof terr);
    cr_expect_null(t, "the tape accepted %s", src);
    if (t) tape_close(t);
    cr_expect(strstr(cerr, "m.grad:5:") && strstr(cerr, cases[i].want), "compiler, %s: %s", cases[i].body, cerr);
    cr_expect(strstr(terr, "m.grad:5:") && strstr(terr, cases[i].want), "tape, %s: %s", cases[i].body, terr);
  }
}

/* A call that does not fit gets the same message from the compiler and from the tape
 * (they bind arguments through the same code; the tape's own copy had drifted). */
Test(calls, compiler_and_tape_say_the_same) {
  static const char *const bodies[] = {
      "y = sum(x, dim=1)\n",        "y = leaky_relu(x, alpha=0.1)\n", "y = mse_loss(x, x)\n",
      "y = sofmax(x)\n",            "y = sum(x, axis=0, axis=1)\n",  "y = relu(x, x)\n",
      "y = reshape(x)\n",     "y = x * \"2\"\n",
      "y = var(x, correction=-1)\n", "y = argmax(x, axis=[0, 1])\n", "y = norm(x, 3)\n",
      "y = l1_loss(x, x, reduction=\"summ\")\n", "y = kl_div(x, x, reduction=sum)\n",
      "y = huber_loss(x, x, delta=0)\n", "y = cross_entropy(x, x, label_smoothing=2)\n",
      "y = nll_loss(x, x)\n", "y = cross_entropy(x, reshape(x, [3, 2]))\n",
      "y = cross_entropy(x, x, weight=x)\n",  "y = mse(x, x, \"summ\")\n",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    char src[256], cerr[1024] = "", terr[1024] = "";
    snprintf(src, sizeof src, "model m\ninput x : f32[2, 3]\n%soutput y\n", bodies[i]);
    gc_options o = {.path = "m.grad", .source = src, .emit = GC_EMIT_IR, .out = "/dev/null"};
    cr_assert_neq(gc_compile(&o, NULL, cerr, sizeof cerr), 0, "%s", src);
    tape_model *t = tape_open("m.grad", src, NULL, NULL, 0, terr, sizeof terr);
    cr_assert_null(t, "the tape accepted %s", src);
    const char *c = strstr(cerr, "error:"), *tp = strstr(terr, "error:");
    cr_assert(c && tp, "compiler: %s\ntape: %s", cerr, terr);
    cr_expect_eq(strcspn(c, "\n"), strcspn(tp, "\n"), "compiler: %s\ntape: %s", cerr, terr);
    cr_expect(!strncmp(c, tp, strcspn(c, "\n")), "compiler: %s\ntape: %s", cerr, terr);
  }
}
