/* entry.c — what one entry point computes and its argument list (SPEC section 3).
 *
 *   M_forward (inputs..., params..., outputs..., [loss,] workspace)
 *   M_backward(inputs..., params..., grads..., outputs..., [loss,] workspace)
 *
 * The entry's results are sink nodes appended to the graph: COPY(value) for each
 * output and the loss, SGD(gradient, param) for each trainable parameter. The
 * gradient code exists once: the train step's kernels are compiled as a core with a
 * mode argument, and M_backward and M_train_step both call it (lower.c): mode 0 adds
 * each gradient into its buffer, mode 1 stores it and updates the parameter. So the
 * BACKWARD entry only lists its arguments. With inference, the forward entry has no
 * loss and drops the inputs only the loss reads. */
#include "entry.h"
#include <ctype.h>
#include <string.h>

static Node *sink(Graph *g, OpKind op, Node *x, int arg) {
  Node *s = g_unary(g, op, x);
  s->sink_arg = arg;
  return s;
}

double entry_flops(const Entry *e) {
  double f = 0;
  for (int i = 0; i < e->nlive; i++) {
    const Node *n = e->live[i];
    if (n->op == OP_MATMUL) { /* out [.., M, N], inner K */
      const Node *a = n->in[0];
      int r = a->shape.rank;
      double k = (double)(n->ta ? a->shape.d[r - 2] : a->shape.d[r - 1]);
      f += 2.0 * (double)shape_count(n->shape) * k;
    } else if (n->op == OP_CONV2D || n->op == OP_CONV2D_DX || n->op == OP_CONV2D_DW) {
      /* every (output element, C, KH, KW) pair of the forward convolution */
      const Node *w = n->op == OP_CONV2D_DW ? n : n->in[1];
      const Node *y = n->op == OP_CONV2D ? n : n->op == OP_CONV2D_DX ? n->in[0] : n->in[1];
      f += 2.0 * (double)shape_count(y->shape) * (double)(w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
    }
  }
  return f;
}

Entry *entry_build(Graph *g, EntryKind kind, EntryOptions opt) {
  Arena *a = g->arena;
  Entry *e = ARENA_NEW(a, Entry);
  e->kind = kind;
  e->vw = opt.vw;
  e->threads = opt.threads;
  static const char *const suffix[] = {"forward", "backward", "train_step"};
  e->name = arena_printf(a, "%s_%s", g->model, suffix[kind]);
  bool with_loss = g->loss && !opt.inference;
  int maxargs = g->ninputs + 3 * g->nparams + g->noutputs + 3;
  e->args = ARENA_ARRAY(a, Arg, maxargs);
  e->sinks = ARENA_ARRAY(a, Node *, maxargs);
  g->loc = (SrcLoc){0, 0};

  /* Sinks first (their arg indices are fixed below), so liveness can be computed. */
  Node **vals = ARENA_ARRAY(a, Node *, maxargs);
  int nv = 0;
  for (int i = 0; i < g->noutputs; i++) vals[nv++] = g->outputs[i];
  if (with_loss) vals[nv++] = g->loss;
  if (kind != ENTRY_FORWARD)
    for (int i = 0; i < g->nparams; i++)
      if (g->grads[i]) vals[nv++] = g->grads[i];
  Node **order = ARENA_ARRAY(a, Node *, g->n + 1);
  int nlive = graph_topo(g, vals, nv, order);
  bool *live = ARENA_ARRAY(a, bool, g->n + 1);
  for (int i = 0; i < nlive; i++) live[order[i]->id] = true;

  for (int i = 0; i < g->ninputs; i++)
    if (!opt.inference || live[g->inputs[i]->id])
      e->args[e->nargs++] = (Arg){ARG_INPUT, g->inputs[i], g->inputs[i]->name, g->inputs[i]->loc};
  for (int i = 0; i < g->nparams; i++)
    if (!g->params[i]->baked) e->args[e->nargs++] = (Arg){ARG_PARAM, g->params[i], g->params[i]->name, g->params[i]->loc};
  int nsinks = 0;
  bool code = kind != ENTRY_BACKWARD; /* the backward entry is a wrapper: arguments only */
  for (int i = 0; kind != ENTRY_FORWARD && i < g->nparams; i++) {
    Node *p = g->params[i];
    if (!p->trainable) continue;
    if (g->grads[i] && kind == ENTRY_TRAIN) {
      Node *in[2] = {g->grads[i], p};
      Node *s = graph_node(g, OP_SGD, 2, in, g->loc);
      s->sink_arg = e->nargs;
      e->sinks[nsinks++] = s;
    }
    e->args[e->nargs++] = (Arg){ARG_GRAD, p, p->name, p->loc};
  }
  for (int i = 0; kind == ENTRY_TRAIN && i < g->nparams; i++)
    if (g->params[i]->trainable) e->args[e->nargs++] = (Arg){ARG_STATE, g->params[i], g->params[i]->name, g->params[i]->loc};
  for (int i = 0; i < g->noutputs; i++) {
    if (code) e->sinks[nsinks++] = sink(g, OP_COPY, g->outputs[i], e->nargs);
    e->args[e->nargs++] = (Arg){ARG_OUTPUT, g->outputs[i], g->output_names[i], g->output_locs[i]};
  }
  if (with_loss) {
    if (code) e->sinks[nsinks++] = sink(g, OP_COPY, g->loss, e->nargs);
    e->args[e->nargs++] = (Arg){.kind = ARG_LOSS, .node = g->loss, .name = "loss"};
  }
  if (kind == ENTRY_TRAIN) e->args[e->nargs++] = (Arg){.kind = ARG_HYPER, .name = "hyper"};
  e->args[e->nargs++] = (Arg){.kind = ARG_WORKSPACE, .name = "workspace"};
  e->nsinks = nsinks;

  e->live = ARENA_ARRAY(a, Node *, g->n + 1);
  e->nlive = graph_topo(g, e->sinks, nsinks, e->live);
  if (kind == ENTRY_TRAIN) { /* updates after every read of the old parameters */
    int k = 0, ns = 0;
    Node **sgd = ARENA_ARRAY(a, Node *, nsinks + 1);
    for (int i = 0; i < e->nlive; i++)
      if (e->live[i]->op == OP_SGD) sgd[ns++] = e->live[i];
      else e->live[k++] = e->live[i];
    for (int i = 0; i < ns; i++) e->live[k++] = sgd[i];
  }
  return e;
}

/* ---- the arguments' names in C ---- */

static bool fixed_name(const char *name) {
  return !strcmp(name, "loss") || !strcmp(name, "hyper") || !strcmp(name, "workspace");
}

const char *arg_c_name(Arena *a, const Arg *arg) {
  switch (arg->kind) {
  case ARG_GRAD: return arena_printf(a, "grad_%s", arg->name);
  case ARG_STATE: return arena_printf(a, "momentum_%s", arg->name);
  case ARG_OUTPUT: /* `output loss` beside the loss argument: loss_out */
    return fixed_name(arg->name) ? arena_printf(a, "%s_out", arg->name) : arg->name;
  default: return arg->name; /* the tensor's name, or loss, hyper, workspace */
  }
}

/* Words a header parameter cannot be named: C11 and C23 keywords, C++ keywords (the
 * header is valid C++), and the integer type the header itself uses. */
static const char *const C_RESERVED[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
    "_Static_assert", "_Thread_local", "alignas", "alignof", "bool", "constexpr", "false", "nullptr",
    "static_assert", "thread_local", "true", "typeof", "typeof_unqual", "and", "and_eq", "asm", "bitand", "bitor",
    "catch", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "consteval", "constinit",
    "const_cast", "co_await", "co_return", "co_yield", "decltype", "delete", "dynamic_cast", "explicit", "export",
    "friend", "mutable", "namespace", "new", "noexcept", "not", "not_eq", "operator", "or", "or_eq", "private",
    "protected", "public", "reinterpret_cast", "requires", "static_cast", "template", "this", "throw", "try",
    "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq", "int32_t"};

static const char *what_arg(Arena *a, const Arg *arg) {
  switch (arg->kind) {
  case ARG_INPUT: return arena_printf(a, "the input '%s'", arg->name);
  case ARG_PARAM: return arena_printf(a, "the parameter '%s'", arg->name);
  case ARG_GRAD: return arena_printf(a, "the gradient buffer of '%s'", arg->name);
  case ARG_STATE: return arena_printf(a, "the momentum buffer of '%s'", arg->name);
  case ARG_OUTPUT: return arena_printf(a, "the output '%s'", arg->name);
  default: return arena_printf(a, "the %s argument", arg->name); /* loss, hyper, workspace */
  }
}

static bool same_ignoring_case(const char *x, const char *y) {
  while (*x && tolower((unsigned char)*x) == tolower((unsigned char)*y)) x++, y++;
  return tolower((unsigned char)*x) == tolower((unsigned char)*y);
}

/* Of two arguments, the one the model names last (the place to report a clash). */
static const Arg *named_later(const Arg *x, const Arg *y) {
  if (x->loc.line != y->loc.line) return x->loc.line > y->loc.line ? x : y;
  return x->loc.col >= y->loc.col ? x : y;
}

void entry_check_names(const Entry *e, Arena *a, Diag *d) {
  for (int i = 0; i < e->nargs; i++) {
    const Arg *x = &e->args[i];
    const char *cx = arg_c_name(a, x);
    for (size_t k = 0; k < sizeof C_RESERVED / sizeof *C_RESERVED; k++)
      if (!strcmp(cx, C_RESERVED[k]))
        diag_error(d, x->loc, "'%s' is a C or C++ keyword: it cannot name an argument of the generated %s", cx,
                   e->name);
    bool tensor = x->kind == ARG_INPUT || x->kind == ARG_PARAM || x->kind == ARG_OUTPUT;
    for (int j = 0; j < i; j++) {
      const Arg *y = &e->args[j];
      const Arg *later = named_later(x, y), *other = later == x ? y : x;
      if (!strcmp(cx, arg_c_name(a, y))) {
        /* an output of an input or parameter, under its own name */
        const Arg *out = x->kind == ARG_OUTPUT ? x : y->kind == ARG_OUTPUT ? y : NULL, *arg = out == x ? y : x;
        if (out && arg->node == out->node && (arg->kind == ARG_INPUT || arg->kind == ARG_PARAM))
          diag_error(d, out->loc,
                     "'%s' is %s: the caller already holds its buffer (to output a copy, name it: %s_out = %s)",
                     out->name, arg->kind == ARG_INPUT ? "an input" : "a parameter", out->name, out->name);
        diag_error(d, later->loc, "%s and %s would both be named '%s' in the generated %s", what_arg(a, other),
                   what_arg(a, later), cx, e->name);
      }
      bool tensors = tensor && (y->kind == ARG_INPUT || y->kind == ARG_PARAM || y->kind == ARG_OUTPUT);
      if (tensors && same_ignoring_case(x->name, y->name))
        diag_error(d, later->loc, "'%s' and '%s' differ only in case: the generated header's size macros would clash",
                   other->name, later->name);
    }
  }
}
