/* entry.c — what one entry point computes and its argument list (docs/ABI.md, "Entry points").
 *
 *   M_forward (inputs..., params..., outputs..., [loss,] workspace)
 *   M_backward(inputs..., params..., grads..., outputs..., [loss,] workspace)
 *
 * The entry's results are sink nodes appended to the graph: COPY(value) for each
 * output and the loss, SGD(gradient, param) for each trainable parameter, and in the
 * train core COPY(new value) into each buffer the training-mode graph stores into. The
 * gradient code exists once: the train step's kernels are compiled as a core with a
 * mode argument, and M_backward and M_train_step both call it (lower.c): mode 0 adds
 * each gradient into its buffer, mode 1 stores it and updates the parameter. So the
 * BACKWARD entry only lists its arguments. With inference, the forward entry has no
 * loss and drops the inputs only the loss reads. */
#include "entry.h"
#include "opinfo.h"
#include <string.h>

static Node *sink(Graph *g, OpKind op, Node *x, int arg) {
  Node *s = g_unary(g, op, x);
  s->sink_arg = arg;
  return s;
}

double entry_flops(const Entry *e) {
  double f = 0;
  for (int i = 0; i < e->nlive; i++)
    if (gc_ops[e->live[i]->op].flops) f += gc_ops[e->live[i]->op].flops(e->live[i]);
  return f;
}

/* ---- the arguments' names in C ----
 * Each argument's C name is its tensor's name, grad_NAME, STATE_NAME (the optimizer's
 * name for the state tensor: momentum_NAME for SGD's, exp_avg_NAME for Adam's first), or loss, hyper,
 * workspace — with a trailing underscore added while it is a C or C++ keyword or the
 * name of an argument before it (the fixed three come first), so that any model's
 * header compiles: `output loss` beside the loss argument is loss_, `input class` is
 * class_, an input grad_w beside param w's gradient leaves that gradient grad_w_. */

/* Words a header parameter cannot be named: C11 and C23 keywords, C++ keywords (the
 * header is valid C++), and the integer type the header itself uses. */
static const char *const C_RESERVED[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "_Alignas", "_Alignof", "_Atomic", "_BitInt", "_Bool", "_Complex", "_Decimal32", "_Decimal64", "_Decimal128",
    "_Generic", "_Imaginary", "_Noreturn", "_Pragma", "_Static_assert", "_Thread_local", "alignas", "alignof",
    "bool", "constexpr", "false", "nullptr", "static_assert", "thread_local", "true", "typeof", "typeof_unqual",
    "and", "and_eq", "asm", "bitand", "bitor", "catch", "char8_t", "char16_t", "char32_t", "class", "compl",
    "concept", "consteval", "constinit", "const_cast", "co_await", "co_return", "co_yield", "decltype", "delete",
    "dynamic_cast", "explicit", "export", "friend", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "operator", "or", "or_eq", "private", "protected", "public", "reinterpret_cast", "requires", "static_cast",
    "template", "this", "throw", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
    "int32_t"};

static bool c_reserved(const char *name) {
  for (size_t k = 0; k < sizeof C_RESERVED / sizeof *C_RESERVED; k++)
    if (!strcmp(name, C_RESERVED[k])) return true;
  return false;
}

static bool taken(const Entry *e, const char *name) {
  for (int i = 0; i < e->nargs; i++)
    if (e->args[i].cname && !strcmp(e->args[i].cname, name)) return true;
  return false;
}

static void name_args(Entry *e, Arena *a) {
  for (int pass = 0; pass < 2; pass++) /* 0: loss, hyper, workspace; 1: the tensors */
    for (int i = 0; i < e->nargs; i++) {
      Arg *x = &e->args[i];
      bool fixed = x->kind == ARG_LOSS || x->kind == ARG_HYPER || x->kind == ARG_SEED || x->kind == ARG_WORKSPACE;
      if (fixed != (pass == 0)) continue;
      const char *c = x->kind == ARG_GRAD    ? arena_printf(a, "grad_%s", x->name)
                      : x->kind == ARG_STATE ? arena_printf(a, "%s_%s", e->optimizer->state_names[x->slot], x->name)
                                             : x->name;
      while (c_reserved(c) || taken(e, c)) c = arena_printf(a, "%s_", c);
      x->cname = c;
    }
}

/* ---- dropout and modes (issue 15) ----
 * Whether the entry computing order[0..n) draws random numbers: it then takes the step
 * seed (ARG_SEED). Only training entries can: an eval-mode graph has no DROPOUT. */
static bool draws_random(Node *const *order, int n) {
  for (int i = 0; i < n; i++)
    if (order[i]->op == OP_DROPOUT) return true;
  return false;
}

/* ---- batch norm and buffers (issue 15) ----
 * The train core (behind the backward and train step entries: training mode) stores
 * each buffer's new value (Graph.stores, e.g. batch_norm's running statistics) into the
 * buffer's own argument by a COPY sink, as a train-mode forward does in PyTorch; the
 * forward entry (eval mode) never does. A buffer baked in with --weights is a constant:
 * it keeps its value. Returns the new sink count. */
static int add_buffer_stores(Graph *g, Entry *e, int nsinks) {
  for (int i = 0; i < g->nstores; i++)
    for (int a = 0; a < e->nargs; a++)
      if (e->args[a].kind == ARG_PARAM && e->args[a].node == g->store_buf[i])
        e->sinks[nsinks++] = sink(g, OP_COPY, g->store_val[i], a);
  return nsinks;
}

/* Whether sink s stores into a buffer (a PARAM argument). */
bool entry_buffer_store(const Entry *e, const Node *s) {
  return s->op == OP_COPY && e->args[s->sink_arg].kind == ARG_PARAM;
}

/* The train step's order: every other node, then the buffer stores, then the parameter
 * updates — each overwrites a leaf, so it comes after every read of the old value. */
static void order_stores_last(Entry *e, Arena *a) {
  int k = 0, ns = 0, nu = 0;
  Node **stores = ARENA_ARRAY(a, Node *, e->nsinks + 1), **sgd = ARENA_ARRAY(a, Node *, e->nsinks + 1);
  for (int i = 0; i < e->nlive; i++) {
    Node *n = e->live[i];
    if (n->op == OP_SGD) sgd[nu++] = n;
    else if (n->op == OP_COPY && entry_buffer_store(e, n)) stores[ns++] = n;
    else e->live[k++] = n;
  }
  for (int i = 0; i < ns; i++) e->live[k++] = stores[i];
  for (int i = 0; i < nu; i++) e->live[k++] = sgd[i];
}

Entry *entry_build(Graph *g, EntryKind kind, EntryOptions opt) {
  return entry_build_with(g, kind, opt, (EntryOptimizer){&gradc_optimizer_sgd, false});
}

Entry *entry_build_with(Graph *g, EntryKind kind, EntryOptions opt, EntryOptimizer optimizer) {
  Arena *a = g->arena;
  Entry *e = ARENA_NEW(a, Entry);
  e->kind = kind;
  e->g = g;
  e->vw = opt.vw;
  e->threads = opt.threads;
  static const char *const suffix[] = {"forward", "backward", "train_step"};
  e->name = arena_printf(a, "%s_%s", g->model, suffix[kind]);
  bool with_loss = g->loss && !opt.inference;
  e->optimizer = kind == ENTRY_TRAIN ? optimizer.rule : NULL;
  GC_ASSERT(!e->optimizer || gradc_optimizer_valid(e->optimizer) == 0);
  if (e->optimizer) e->nhyper = optimizer.full ? e->optimizer->nhyper + e->optimizer->nderived : e->optimizer->nbase;
  int nstate = e->optimizer ? e->optimizer->nstate : 0;
  int maxargs = g->ninputs + (2 + nstate) * g->nparams + g->noutputs + 4;
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
      e->args[e->nargs++] = (Arg){ARG_INPUT, g->inputs[i], g->inputs[i]->name, NULL, 0};
  for (int i = 0; i < g->nparams; i++)
    if (!g->params[i]->baked) e->args[e->nargs++] = (Arg){ARG_PARAM, g->params[i], g->params[i]->name, NULL, 0};
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
    e->args[e->nargs++] = (Arg){ARG_GRAD, p, p->name, NULL, 0};
  }
  for (int s = 0; s < nstate; s++)
    for (int i = 0; i < g->nparams; i++)
      if (g->params[i]->trainable) e->args[e->nargs++] = (Arg){ARG_STATE, g->params[i], g->params[i]->name, NULL, s};
  for (int i = 0; i < g->noutputs; i++) {
    if (code) e->sinks[nsinks++] = sink(g, OP_COPY, g->outputs[i], e->nargs);
    e->args[e->nargs++] = (Arg){ARG_OUTPUT, g->outputs[i], g->output_names[i], NULL, 0};
  }
  if (kind == ENTRY_TRAIN) nsinks = add_buffer_stores(g, e, nsinks);
  if (with_loss) {
    if (code) e->sinks[nsinks++] = sink(g, OP_COPY, g->loss, e->nargs);
    e->args[e->nargs++] = (Arg){ARG_LOSS, g->loss, "loss", NULL, 0};
  }
  if (kind == ENTRY_TRAIN) e->args[e->nargs++] = (Arg){ARG_HYPER, NULL, "hyper", NULL, 0};
  if (kind != ENTRY_FORWARD && draws_random(order, nlive)) e->args[e->nargs++] = (Arg){ARG_SEED, NULL, "seed", NULL, 0};
  e->args[e->nargs++] = (Arg){ARG_WORKSPACE, NULL, "workspace", NULL, 0};
  e->nsinks = nsinks;
  name_args(e, a);

  e->live = ARENA_ARRAY(a, Node *, g->n + 1);
  e->nlive = graph_topo(g, e->sinks, nsinks, e->live);
  if (kind == ENTRY_TRAIN) order_stores_last(e, a); /* updates after every read of the old values */
  return e;
}
