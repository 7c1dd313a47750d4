/* build.c — from the syntax tree to the graph: names, sizes, shapes, leaves.
 *
 * Walks the statements in order, resolves every name (suggesting the nearest known
 * one when it fails), evaluates `dim`/`batch` sizes with -D overrides, creates input
 * and parameter leaves with their shapes and initial distributions, and builds each
 * expression from primitives (operators of the language that are compositions are
 * expanded by builtins.c). Shape errors are reported at the expression that caused
 * them, naming both shapes. It does not differentiate (autodiff.c) or optimise. */
#include "build.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "builtins.h"

typedef enum { SYM_SIZE, SYM_VALUE } SymKind;

typedef struct {
  const char *name;
  SymKind kind;
  SrcLoc loc;
  int64_t size; /* SYM_SIZE */
  Node *node;   /* SYM_VALUE */
  bool used;    /* -D: matched a dim */
} Sym;

typedef struct Builder Builder;
struct Builder {
  Graph *g;
  Arena *a;
  Diag *d;
  const BuildOptions *opt;
  const Program *prog; /* for "used before its definition" */
  Sym *syms;
  int nsyms, capsyms;
  int *index;   /* open addressing by name hash: -1 empty, else an index into syms */
  int capindex; /* a power of two, more than twice nsyms */
  bool have_batch;
  const char *batch_name;
  int depth;     /* nesting of builder_value calls */
  int checked;   /* nodes [0, checked) passed check_sizes */
  int64_t total; /* their elements, summed */
};

/* Limits (see check_sizes and builder_value). Each keeps sizes, offsets and recursion
 * far from what would overflow or exhaust the stack, and fails with a message. */
#define MAX_ELEMENTS ((int64_t)1 << 31)       /* one tensor: gradc indexes with 32-bit sizes */
#define MAX_MODEL_ELEMENTS ((int64_t)1 << 34) /* all of the model's values: 64 GiB of f32 */
#define MAX_VALUE_DEPTH 2000                  /* operations applied one after another in one expression */

/* FNV-1a: names index the symbol table (a model may define hundreds of thousands). */
static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The slot of name in B->index: its symbol's, or the empty one where it would go. */
static int *slot_of(Builder *B, const char *name) {
  uint32_t mask = (uint32_t)B->capindex - 1;
  for (uint32_t h = name_hash(name) & mask;; h = (h + 1) & mask)
    if (B->index[h] < 0 || strcmp(B->syms[B->index[h]].name, name) == 0) return &B->index[h];
}

static Sym *lookup(Builder *B, const char *name) {
  if (!B->capindex) return NULL;
  int i = *slot_of(B, name);
  return i < 0 ? NULL : &B->syms[i];
}

static void reindex(Builder *B, int cap) {
  B->index = ARENA_ARRAY(B->a, int, cap);
  B->capindex = cap;
  for (int i = 0; i < cap; i++) B->index[i] = -1;
  for (int i = 0; i < B->nsyms; i++) *slot_of(B, B->syms[i].name) = i;
}

/* Which names may stand where an unknown one was written. */
typedef enum { WANT_SIZE, WANT_VALUE, WANT_ANY } Want;

/* The known name nearest to `name` among those of kind `kind` (diag_nearest's limit). */
static const char *nearest_of(Builder *B, const char *name, SymKind kind) {
  const char **cands = ARENA_ARRAY(B->a, const char *, B->nsyms + 1);
  int n = 0;
  for (int i = 0; i < B->nsyms; i++)
    if (B->syms[i].kind == kind) cands[n++] = B->syms[i].name;
  return diag_nearest(name, cands, n);
}

/* In an expression a tensor's name is suggested before a dim's at the same distance. */
_Noreturn static void unknown_name(Builder *B, SrcLoc loc, const char *what, const char *name, Want want) {
  for (int i = 1; i < B->prog->nstmts; i++) { /* defined further down: statements run in order */
    const Stmt *st = &B->prog->stmts[i];
    if (st->kind != ST_MODEL && st->name && !strcmp(st->name, name) && (st->name_loc.line > loc.line ||
        (st->name_loc.line == loc.line && st->name_loc.col > loc.col)))
      diag_error(B->d, loc, "'%s' is used before its definition at line %d, column %d", name, st->name_loc.line,
                 st->name_loc.col);
  }
  const char *value = want != WANT_SIZE ? nearest_of(B, name, SYM_VALUE) : NULL;
  const char *size = want != WANT_VALUE ? nearest_of(B, name, SYM_SIZE) : NULL;
  const char *near = !value ? size : !size || diag_distance(name, value) <= diag_distance(name, size) ? value : size;
  if (near) diag_error(B->d, loc, "unknown %s '%s'; did you mean '%s'?", what, name, near);
  diag_error(B->d, loc, "unknown %s '%s'", what, name);
}

static Sym *define(Builder *B, const char *name, SrcLoc loc, SymKind kind) {
  Sym *old = lookup(B, name);
  if (old) diag_error(B->d, loc, "'%s' is already defined (at line %d, column %d)", name, old->loc.line, old->loc.col);
  if (B->nsyms == B->capsyms) {
    int cap = B->capsyms ? 2 * B->capsyms : 32;
    Sym *s = ARENA_ARRAY(B->a, Sym, cap);
    if (B->nsyms) memcpy(s, B->syms, sizeof(Sym) * (size_t)B->nsyms);
    B->syms = s;
    B->capsyms = cap;
  }
  Sym *s = &B->syms[B->nsyms++];
  *s = (Sym){.name = name, .kind = kind, .loc = loc};
  if (2 * B->nsyms >= B->capindex) reindex(B, B->capindex ? 2 * B->capindex : 64);
  else *slot_of(B, name) = B->nsyms - 1;
  return s;
}

/* ---------------------------------------------------------------- limits */

/* Every node created since the last call: its element count (computed without
 * overflow) at most MAX_ELEMENTS, and all nodes' together at most MAX_MODEL_ELEMENTS.
 * Leaves are bounded by resolve_type; this catches values that grow beyond their
 * operands, as broadcasting and matrix products do ([N, 1] * [1, N] is N^2). */
static void check_sizes(Builder *B, SrcLoc where) {
  Graph *g = B->g;
  for (; B->checked < g->n; B->checked++) {
    const Node *n = g->nodes[B->checked];
    SrcLoc loc = n->loc.line > 0 ? n->loc : where;
    int64_t count = 1;
    for (int i = 0; i < n->shape.rank; i++) {
      if (n->shape.d[i] > MAX_ELEMENTS / count)
        diag_error(B->d, loc,
                   "this value would have shape %s, more than 2^31 elements; gradc indexes tensors with 32-bit sizes",
                   shape_str(B->a, n->shape));
      count *= n->shape.d[i];
    }
    B->total += count;
    if (B->total > MAX_MODEL_ELEMENTS)
      diag_error(B->d, loc,
                 "model too large: its tensors would hold more than 2^34 elements (64 GiB of f32) in all; "
                 "gradc caps a model there so buffer sizes and workspace offsets stay far from overflow");
  }
}

/* ---------------------------------------------------------------- values */

static Node *value_of(Builder *B, Expr *e);

/* The value of e, with the limits checked: every node it created (check_sizes), and
 * its depth. The parser bounds nesting (parentheses, calls, unary minus), but a chain
 * `x + x + ... + x` is a tree as deep as it is long and is built recursively here. */
static Node *builder_value(Builder *B, Expr *e) {
  if (++B->depth > MAX_VALUE_DEPTH)
    diag_error(B->d, e->loc,
               "expression too long: more than %d operations applied one after another; split it into named steps",
               MAX_VALUE_DEPTH);
  Node *n = value_of(B, e);
  check_sizes(B, e->loc);
  B->depth--;
  return n;
}

/* A compile-time number: a literal, possibly negated, or a dim/batch name. */
static bool builder_number(Builder *B, const Expr *e, double *out) {
  if (e->kind == EX_NUM) return *out = e->num, true;
  if (e->kind == EX_NEG && builder_number(B, e->lhs, out)) return *out = -*out, true;
  if (e->kind == EX_NAME) {
    Sym *s = lookup(B, e->name);
    if (s && s->kind == SYM_SIZE) return *out = (double)s->size, true;
  }
  return false;
}

/* The builders' view of this builder (builtins.h). */
static Node *ctx_value(void *self, Expr *e) { return builder_value(self, e); }
static bool ctx_number(void *self, const Expr *e, double *out) { return builder_number(self, e, out); }

/* The primitive of a binary operator token (ast.h), with its spelling; false if none. */
static bool binary_op(char op, OpKind *kind, const char **name) {
  static const struct {
    char tok;
    OpKind kind;
    const char *name;
  } ops[] = {{'+', OP_ADD, "+"}, {'-', OP_SUB, "-"}, {'*', OP_MUL, "*"}, {'/', OP_DIV, "/"},
             {'@', OP_MATMUL, "@"}, {'P', OP_POW, "**"},
             /* comparisons (issue 15): f32 0/1 masks */
             {'<', OP_LT, "<"}, {'l', OP_LE, "<="}, {'>', OP_GT, ">"}, {'g', OP_GE, ">="}, {'E', OP_EQ, "=="},
             {'N', OP_NE, "!="}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (ops[i].tok == op) return *kind = ops[i].kind, *name = ops[i].name, true;
  return false;
}

/* a ** c with a constant c is the POWC primitive (exact powers, sqrt); any other
 * exponent is torch.pow of two tensors. */
static Node *value_binary(Builder *B, Expr *e) {
  Graph *g = B->g;
  SrcLoc outer_loc = g->loc; /* the enclosing call's, restored for its own nodes */
  const char *outer_what = g->what;
  OpKind kind;
  const char *name;
  double c;
  if (!binary_op(e->op, &kind, &name)) diag_error(B->d, e->loc, "unknown operator '%c'", e->op);
  Node *n, *a = builder_value(B, e->lhs);
  if (kind == OP_POW && builder_number(B, e->rhs, &c)) {
    g->loc = e->loc, g->what = name;
    n = g_powc(g, a, c);
  } else {
    Node *b = builder_value(B, e->rhs);
    g->loc = e->loc, g->what = name;
    n = kind == OP_MATMUL ? builtin_matmul(g, a, b) : g_binary(g, kind, a, b);
  }
  g->loc = outer_loc, g->what = outer_what;
  return n;
}

static Node *value_of(Builder *B, Expr *e) {
  Graph *g = B->g;
  switch (e->kind) {
  case EX_NUM:
    g->loc = e->loc;
    return g_const(g, e->num);
  case EX_NAME: {
    Sym *s = lookup(B, e->name);
    g->loc = e->loc;
    if (!s && !strcmp(e->name, "inf")) return g_const(g, INFINITY); /* float('inf'), unless defined (issue 15) */
    if (!s) unknown_name(B, e->loc, "name", e->name, WANT_ANY);
    return s->kind == SYM_SIZE ? g_const(g, (double)s->size) : s->node;
  }
  case EX_NEG: {
    Node *x = builder_value(B, e->lhs);
    g->loc = e->loc;
    return g_unary(g, OP_NEG, x);
  }
  case EX_BINARY: return value_binary(B, e);
  case EX_CALL: {
    int id = call_find(e->name);
    if (id < 0) call_unknown(B->d, e->loc, e->name);
    BuildCtx ctx = {B->g, B->d, ctx_value, ctx_number, B};
    return builtin_call(&ctx, (CallId)id, e);
  }
  case EX_LIST: diag_error(B->d, e->loc, "a list is only allowed as an argument such as axis=[0, 1]");
  case EX_STR: diag_error(B->d, e->loc, "a string is only allowed as an argument such as reduction=\"sum\"");
  /* ---- indexing II (issue 15) ---- */
  case EX_INDEX: {
    BuildCtx ctx = {B->g, B->d, ctx_value, ctx_number, B};
    return builtin_index(&ctx, e);
  }
  case EX_SLICE:
  case EX_ELLIPSIS: diag_error(B->d, e->loc, "a slice (a:b) or '...' is only allowed inside an index, e.g. x[1:3]");
  }
  diag_error(B->d, e->loc, "malformed expression");
}

/* ---------------------------------------------------------------- statements */

/* A dim's size: the last -D that names it (a later option overrides an earlier one, as
 * `gradc eval` relies on), else the model's. */
static int64_t size_value(Builder *B, const Stmt *st) {
  for (int i = B->opt->ndefines - 1; i >= 0; i--)
    if (strcmp(B->opt->define_names[i], st->name) == 0) return B->opt->define_values[i];
  return st->value;
}

static bool is_batch_dim(Builder *B, const TypeAst *t) {
  return B->batch_name && t->rank >= 1 && t->dims[0]->kind == EX_NAME && !strcmp(t->dims[0]->name, B->batch_name);
}

static Shape resolve_type(Builder *B, const TypeAst *t) {
  Shape s = {t->rank, {0}};
  if (t->rank > GC_MAX_RANK) diag_error(B->d, t->loc, "rank %d exceeds the maximum of %d", t->rank, GC_MAX_RANK);
  int64_t count = 1;
  for (int i = 0; i < t->rank; i++) {
    Expr *e = t->dims[i];
    if (e->kind == EX_NAME) {
      Sym *sym = lookup(B, e->name);
      if (!sym || sym->kind != SYM_SIZE) {
        if (sym) diag_error(B->d, e->loc, "'%s' is a value, not a dim or batch size", e->name);
        unknown_name(B, e->loc, "dim", e->name, WANT_SIZE);
      }
      s.d[i] = sym->size;
    } else if (e->kind == EX_NUM && e->is_int && e->num >= 1 && e->num <= 2147483647.0) {
      s.d[i] = (int64_t)e->num;
    } else {
      diag_error(B->d, e->loc, "a dimension must be a positive integer or a dim name");
    }
    /* count <= 2^31 and d <= 2^31 - 1 here: the product cannot overflow int64, and
     * checking after every factor keeps it so for any rank. */
    count *= s.d[i];
    if (count > MAX_ELEMENTS)
      diag_error(B->d, t->loc,
                 "tensor has more than 2^31 elements (%lld in its first %d dimensions); gradc indexes tensors "
                 "with 32-bit sizes",
                 (long long)count, i + 1);
  }
  return s;
}

/* Fan-in and fan-out of a weight as it is used: [in, out] for `x @ w`, OIHW for
 * conv2d (receptive field included), anything else by torch's convention. */
static void fans(Shape s, double *fan_in, double *fan_out) {
  if (s.rank == 0) return (void)(*fan_in = *fan_out = 1);
  if (s.rank == 1) return (void)(*fan_in = *fan_out = (double)s.d[0]);
  if (s.rank == 2) return (void)(*fan_in = (double)s.d[0], *fan_out = (double)s.d[1]);
  double rf = 1;
  for (int i = 2; i < s.rank; i++) rf *= (double)s.d[i];
  *fan_in = (double)s.d[1] * rf;
  *fan_out = (double)s.d[0] * rf;
}

static InitSpec resolve_init(Builder *B, Expr *e, Shape s) {
  InitSpec in = {INIT_CONST, 0, 0};
  double v, fi, fo;
  if (!e) return in;
  if (builder_number(B, e, &v)) return (InitSpec){INIT_CONST, v, 0};
  const char *name = e->kind == EX_NAME || e->kind == EX_CALL ? e->name : "";
  int nargs = e->kind == EX_CALL ? e->nargs : 0;
  double args[2] = {0, 0};
  if (e->kind == EX_CALL) {
    if (e->nkw) diag_error(B->d, e->kwlocs[0], "initialisers take positional arguments only");
    for (int i = 0; i < nargs && i < 2; i++)
      if (!builder_number(B, e->args[i], &args[i]))
        diag_error(B->d, e->args[i]->loc, "an initialiser argument must be a constant number");
  }
  fans(s, &fi, &fo);
  if (!strcmp(name, "zeros") && nargs == 0) return in;
  if (!strcmp(name, "ones") && nargs == 0) return (InitSpec){INIT_CONST, 1, 0};
  if (!strcmp(name, "randn") && nargs <= 1) return (InitSpec){INIT_NORMAL, nargs ? args[0] : 1.0, 0};
  if (!strcmp(name, "uniform") && nargs == 2) {
    if (!(args[0] < args[1])) diag_error(B->d, e->loc, "uniform(LO, HI) needs LO < HI");
    return (InitSpec){INIT_UNIFORM, args[0], args[1]};
  }
  if (!strcmp(name, "xavier") && nargs == 0) {
    double bound = sqrt(6.0 / (fi + fo));
    return (InitSpec){INIT_UNIFORM, -bound, bound};
  }
  if (!strcmp(name, "kaiming") && nargs == 0) return (InitSpec){INIT_NORMAL, sqrt(2.0 / fi), 0};
  diag_error(B->d, e->loc,
             "unknown initialiser; expected zeros, ones, a number, randn, randn(STD), uniform(LO, HI), "
             "xavier or kaiming");
}

static bool frozen_by_option(Builder *B, const char *name) {
  for (int i = 0; i < B->opt->nfreeze; i++)
    if (!strcmp(B->opt->freeze[i], name)) return true;
  return false;
}

static void leaf(Builder *B, const Stmt *st) {
  Graph *g = B->g;
  Shape s = resolve_type(B, &st->type);
  bool param = st->kind == ST_PARAM;
  if (param && st->type.dtype == DT_I32)
    diag_error(B->d, st->type.loc, "parameter '%s' must be f32; i32 is only for class-label inputs", st->name);
  Node *n = graph_node(g, param ? OP_PARAM : OP_INPUT, 0, NULL, st->name_loc);
  n->shape = s;
  n->dtype = st->type.dtype;
  n->name = st->name;
  n->role = param ? ROLE_PARAM : ROLE_INPUT;
  n->batched = is_batch_dim(B, &st->type);
  if (param) {
    n->buffer = st->buffer;
    n->trainable = !st->buffer && !st->frozen && !frozen_by_option(B, st->name);
    n->init = resolve_init(B, st->init, s);
    n->leaf_index = g->nparams;
    Node **p = ARENA_ARRAY(B->a, Node *, g->nparams + 1);
    if (g->nparams) memcpy(p, g->params, sizeof(Node *) * (size_t)g->nparams);
    p[g->nparams++] = n;
    g->params = p;
  } else {
    n->leaf_index = g->ninputs;
    Node **p = ARENA_ARRAY(B->a, Node *, g->ninputs + 1);
    if (g->ninputs) memcpy(p, g->inputs, sizeof(Node *) * (size_t)g->ninputs);
    p[g->ninputs++] = n;
    g->inputs = p;
  }
  define(B, st->name, st->name_loc, SYM_VALUE)->node = n;
  check_sizes(B, st->name_loc);
}

static Node *named_value(Builder *B, const char *name, SrcLoc loc) {
  Sym *s = lookup(B, name);
  if (!s) unknown_name(B, loc, "name", name, WANT_VALUE);
  if (s->kind != SYM_VALUE) diag_error(B->d, loc, "'%s' is a size, not a value", name);
  return s->node;
}

static void statement(Builder *B, const Stmt *st) {
  Graph *g = B->g;
  switch (st->kind) {
  case ST_MODEL: diag_error(B->d, st->loc, "only one 'model' statement is allowed, at the start");
  case ST_BATCH:
    if (B->have_batch) diag_error(B->d, st->loc, "only one 'batch' statement is allowed");
    B->have_batch = true;
    B->batch_name = st->name;
    /* fall through */
  case ST_DIM: {
    int64_t v = size_value(B, st);
    if (v < 1 || v > 2147483647) diag_error(B->d, st->value_loc, "size of '%s' must be a positive integer", st->name);
    define(B, st->name, st->name_loc, SYM_SIZE)->size = v;
    if (st->kind == ST_BATCH) B->g->batch_name = st->name, B->g->batch_size = v;
    break;
  }
  case ST_INPUT:
  case ST_PARAM: leaf(B, st); break;
  case ST_LET: {
    Node *n = builder_value(B, st->expr);
    if (!n->name && n->op != OP_CONST) n->name = st->name;
    define(B, st->name, st->name_loc, SYM_VALUE)->node = n;
    break;
  }
  case ST_OUTPUT: {
    Node **o = ARENA_ARRAY(B->a, Node *, g->noutputs + st->nnames);
    const char **on = ARENA_ARRAY(B->a, const char *, g->noutputs + st->nnames);
    for (int i = 0; i < g->noutputs; i++) o[i] = g->outputs[i], on[i] = g->output_names[i];
    for (int i = 0; i < st->nnames; i++) {
      for (int j = 0; j < g->noutputs + i; j++)
        if (!strcmp(on[j], st->names[i])) diag_error(B->d, st->name_locs[i], "'%s' is already an output", st->names[i]);
      Node *n = o[g->noutputs + i] = named_value(B, st->names[i], st->name_locs[i]);
      if ((n->op == OP_INPUT || n->op == OP_PARAM) && !strcmp(n->name, st->names[i])) /* one name, two tensors */
        diag_error(B->d, st->name_locs[i],
                   "'%s' is %s: the caller already holds its buffer (to output a copy, name it: %s_out = %s)",
                   st->names[i], n->op == OP_INPUT ? "an input" : "a parameter", st->names[i], st->names[i]);
      on[g->noutputs + i] = st->names[i];
    }
    g->outputs = o;
    g->output_names = on;
    g->noutputs += st->nnames;
    break;
  }
  case ST_MINIMIZE: {
    if (g->loss) diag_error(B->d, st->loc, "only one 'minimize' statement is allowed");
    Node *n = named_value(B, st->names[0], st->name_locs[0]);
    if (n->dtype != DT_F32) /* an index (argmax) or labels: nothing to differentiate */
      diag_error(B->d, st->name_locs[0], "the loss '%s' is %s: it must be an f32 scalar (integers have no gradient)",
                 st->names[0], dtype_name(n->dtype));
    if (n->shape.rank != 0)
      diag_error(B->d, st->name_locs[0], "the loss '%s' must be an f32 scalar, but its shape is %s", st->names[0],
                 shape_str(B->a, n->shape));
    g->loss = n;
    break;
  }
  }
}

static void check_defines(Builder *B) {
  const char **sizes = ARENA_ARRAY(B->a, const char *, B->nsyms + 1);
  int n = 0;
  for (int i = 0; i < B->nsyms; i++)
    if (B->syms[i].kind == SYM_SIZE) sizes[n++] = B->syms[i].name;
  for (int i = 0; i < B->opt->ndefines; i++) {
    const char *name = B->opt->define_names[i];
    Sym *s = lookup(B, name);
    if (s && s->kind == SYM_SIZE) continue;
    const char *near = diag_nearest(name, sizes, n);
    diag_error(B->d, (SrcLoc){0, 0}, "-D %s: the model has no dim or batch named '%s'%s%s%s", name, name,
               near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
  }
}

/* Every --freeze name is a parameter of the model (a typo would leave one trainable). */
static void check_freeze(Builder *B) {
  const char **params = ARENA_ARRAY(B->a, const char *, B->g->nparams + 1);
  for (int i = 0; i < B->g->nparams; i++) params[i] = B->g->params[i]->name;
  for (int i = 0; i < B->opt->nfreeze; i++) {
    const char *name = B->opt->freeze[i];
    Sym *s = lookup(B, name);
    if (s && s->kind == SYM_VALUE && s->node->op == OP_PARAM && s->node->buffer)
      diag_error(B->d, (SrcLoc){0, 0}, "--freeze %s: '%s' is a buffer, which is never trained", name, name);
    if (s && s->kind == SYM_VALUE && s->node->op == OP_PARAM) continue;
    const char *near = diag_nearest(name, params, B->g->nparams);
    diag_error(B->d, (SrcLoc){0, 0}, "--freeze %s: the model has no parameter named '%s'%s%s%s", name, name,
               near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
  }
}

Graph *build_graph(Arena *a, Diag *d, const Program *p, const BuildOptions *opt) {
  static const BuildOptions none;
  Builder B = {.a = a, .d = d, .opt = opt ? opt : &none, .prog = p};
  B.g = graph_new(a, d);
  B.g->training = B.opt->training;
  B.g->baking = B.opt->baking;
  if (p->nstmts == 0) diag_error(d, (SrcLoc){1, 1}, "empty model file: expected 'model NAME' first");
  if (p->stmts[0].kind != ST_MODEL)
    diag_error(d, p->stmts[0].loc, "a model file must start with 'model NAME'");
  B.g->model = p->stmts[0].name;
  for (int i = 1; i < p->nstmts; i++) statement(&B, &p->stmts[i]);
  check_defines(&B);
  check_freeze(&B);
  B.g->grads = ARENA_ARRAY(a, Node *, B.g->nparams + 1); /* filled by autodiff */
  if (!B.g->noutputs && !B.g->loss)
    diag_error(d, p->stmts[p->nstmts - 1].loc, "the model computes nothing: add 'output NAME' or 'minimize NAME'");
  B.g->loc = (SrcLoc){0, 0};
  return B.g;
}
