/* model.c — the public API of the tape engine (gradc/tape.h): opening a model,
 * running it eagerly, backward, SGD.
 *
 * tape_open parses the text with the compiler's parser, then makes one pass over the
 * statements resolving what is static, as compiler/build.c does (own code, same rules
 * and messages): sizes with -D overrides, the one batch, leaf types and shapes, INIT,
 * duplicate names, outputs and the loss. It then runs one forward to check every shape,
 * which also sizes the outputs. A run (tape_forward) walks the statements again and
 * evaluates each `NAME = EXPR` eagerly (interp.c), recording the tape; tape_backward
 * runs the tape backward (engine.c) into the parameters' gradient buffers. Every
 * intermediate is freed at the end of the run. Not here: operator kernels (ops_*.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

/* ---------------------------------------------------------------- static resolution */

static Sym *define(tape_model *m, const char *name, SrcLoc loc, SymKind kind, int stmt) {
  for (int i = 0; i < m->nsyms; i++)
    if (!strcmp(m->syms[i].name, name))
      diag_error(&m->diag, loc, "'%s' is already defined (at line %d, column %d)", name, m->syms[i].loc.line,
                 m->syms[i].loc.col);
  Sym *s = &m->syms[m->nsyms++];
  *s = (Sym){.name = name, .kind = kind, .loc = loc, .stmt = stmt};
  return s;
}

/* The last -D naming the dim (a later one overrides), else the model's size. */
static int64_t size_value(const Stmt *st, const char *const *names, const long long *values, int n) {
  for (int i = n - 1; i >= 0; i--)
    if (!strcmp(names[i], st->name)) return values[i];
  return st->value;
}

static int resolve_type(tape_model *m, const TypeAst *t, int64_t *shape) {
  if (t->rank > TP_MAX_RANK) diag_error(&m->diag, t->loc, "rank %d exceeds the maximum of %d", t->rank, TP_MAX_RANK);
  int64_t count = 1;
  for (int i = 0; i < t->rank; i++) {
    Expr *e = t->dims[i];
    if (e->kind == EX_NAME) {
      Sym *s = tm_lookup(m, e->name);
      if (!s || s->kind != SYM_SIZE) {
        if (s) diag_error(&m->diag, e->loc, "'%s' is a value, not a dim or batch size", e->name);
        tm_unknown(m, e->loc, "dim", e->name);
      }
      shape[i] = s->size;
    } else if (e->kind == EX_NUM && e->is_int && e->num >= 1 && e->num <= 2147483647.0) {
      shape[i] = (int64_t)e->num;
    } else {
      diag_error(&m->diag, e->loc, "a dimension must be a positive integer or a dim name");
    }
    count *= shape[i];
    if (count > (int64_t)1 << 31)
      diag_error(&m->diag, t->loc, "tensor has more than 2^31 elements; gradc indexes tensors with 32-bit sizes");
  }
  return t->rank;
}

/* The constant value of INIT; random initialisers (no RNG here) give 0. */
static double resolve_init(tape_model *m, Expr *e) {
  double v;
  if (!e) return 0;
  if (tm_number(m, e, &v)) return v;
  const char *name = e->kind == EX_NAME || e->kind == EX_CALL ? e->name : "";
  int nargs = e->kind == EX_CALL ? e->nargs : 0;
  double args[2] = {0, 0};
  if (e->kind == EX_CALL) {
    if (e->nkw) diag_error(&m->diag, e->kwlocs[0], "initialisers take positional arguments only");
    for (int i = 0; i < nargs && i < 2; i++)
      if (!tm_number(m, e->args[i], &args[i]))
        diag_error(&m->diag, e->args[i]->loc, "an initialiser argument must be a constant number");
  }
  if (!strcmp(name, "zeros") && nargs == 0) return 0;
  if (!strcmp(name, "ones") && nargs == 0) return 1;
  if (!strcmp(name, "randn") && nargs <= 1) return 0;
  if (!strcmp(name, "uniform") && nargs == 2) {
    if (!(args[0] < args[1])) diag_error(&m->diag, e->loc, "uniform(LO, HI) needs LO < HI");
    return 0;
  }
  if ((!strcmp(name, "xavier") || !strcmp(name, "kaiming")) && nargs == 0) return 0;
  diag_error(&m->diag, e->loc,
             "unknown initialiser; expected zeros, ones, a number, randn, randn(STD), uniform(LO, HI), "
             "xavier or kaiming");
}

static void leaf(tape_model *m, const Stmt *st, int idx) {
  int64_t shape[TP_MAX_RANK];
  int rank = resolve_type(m, &st->type, shape);
  bool param = st->kind == ST_PARAM;
  if (param && st->type.dtype == DT_I32)
    diag_error(&m->diag, st->type.loc, "parameter '%s' must be f32; i32 is only for class-label inputs", st->name);
  double init = param ? resolve_init(m, st->init) : 0;
  Tensor *t = ARENA_NEW(m->arena, Tensor);
  t->rank = rank;
  memcpy(t->shape, shape, sizeof(int64_t) * (size_t)rank);
  t->n = tp_count(rank, shape);
  t->leaf = true;
  Leaf *l = &m->leaves[m->nleaves++];
  *l = (Leaf){.name = st->name, .t = t, .param = param, .trainable = param && !st->frozen && !st->buffer,
              .buffer = st->buffer};
  if (st->type.dtype == DT_I32) {
    t->idata = tp_calloc(&m->T, t->n * sizeof(int32_t));
  } else {
    t->data = tp_calloc(&m->T, t->n * sizeof(float));
    for (size_t i = 0; init != 0 && i < t->n; i++) t->data[i] = (float)init;
  }
  if (l->trainable) {
    t->requires_grad = true;
    t->grad = tp_calloc(&m->T, t->n * sizeof(float));
  }
  define(m, st->name, st->name_loc, SYM_VALUE, idx)->t = t;
}

static Sym *named_value(tape_model *m, const char *name, SrcLoc loc) {
  Sym *s = tm_lookup(m, name);
  if (!s) tm_unknown(m, loc, "name", name);
  if (s->kind != SYM_VALUE) diag_error(&m->diag, loc, "'%s' is a size, not a value", name);
  return s;
}

static void resolve(tape_model *m, const char *const *dnames, const long long *dvalues, int ndef) {
  Program *p = m->prog;
  if (p->nstmts == 0) diag_error(&m->diag, (SrcLoc){1, 1}, "empty model file: expected 'model NAME' first");
  if (p->stmts[0].kind != ST_MODEL) diag_error(&m->diag, p->stmts[0].loc, "a model file must start with 'model NAME'");
  m->syms = ARENA_ARRAY(m->arena, Sym, p->nstmts + 1);
  m->leaves = ARENA_ARRAY(m->arena, Leaf, p->nstmts + 1);
  int nout = 0;
  for (int i = 0; i < p->nstmts; i++)
    if (p->stmts[i].kind == ST_OUTPUT) nout += p->stmts[i].nnames;
  m->outputs = ARENA_ARRAY(m->arena, Output, nout + 1);
  bool have_batch = false;
  for (int i = 1; i < p->nstmts; i++) {
    const Stmt *st = &p->stmts[i];
    m->cur_stmt = i;
    switch (st->kind) {
    case ST_MODEL: diag_error(&m->diag, st->loc, "only one 'model' statement is allowed, at the start");
    case ST_BATCH:
      if (have_batch) diag_error(&m->diag, st->loc, "only one 'batch' statement is allowed");
      have_batch = true;
      /* fall through */
    case ST_DIM: {
      int64_t v = size_value(st, dnames, dvalues, ndef);
      if (v < 1 || v > 2147483647)
        diag_error(&m->diag, st->value_loc, "size of '%s' must be a positive integer", st->name);
      define(m, st->name, st->name_loc, SYM_SIZE, i)->size = v;
      break;
    }
    case ST_INPUT:
    case ST_PARAM: leaf(m, st, i); break;
    case ST_LET: define(m, st->name, st->name_loc, SYM_VALUE, i); break;
    case ST_OUTPUT:
      for (int j = 0; j < st->nnames; j++) {
        for (int k = 0; k < m->noutputs; k++)
          if (!strcmp(m->outputs[k].name, st->names[j]))
            diag_error(&m->diag, st->name_locs[j], "'%s' is already an output", st->names[j]);
        m->outputs[m->noutputs++] = (Output){.name = st->names[j], .sym = named_value(m, st->names[j], st->name_locs[j]),
                                              .loc = st->name_locs[j]};
      }
      break;
    case ST_MINIMIZE:
      if (m->loss_sym) diag_error(&m->diag, st->loc, "only one 'minimize' statement is allowed");
      m->loss_sym = named_value(m, st->names[0], st->name_locs[0]);
      m->loss_loc = st->name_locs[0];
      break;
    }
  }
  for (int i = 0; i < ndef; i++) {
    int found = 0;
    for (int k = 0; k < m->nsyms; k++) found |= m->syms[k].kind == SYM_SIZE && !strcmp(m->syms[k].name, dnames[i]);
    if (!found)
      diag_error(&m->diag, (SrcLoc){0, 0}, "-D %s: the model has no dim or batch named '%s'", dnames[i], dnames[i]);
  }
  if (!m->noutputs && !m->loss_sym)
    diag_error(&m->diag, p->stmts[p->nstmts - 1].loc,
               "the model computes nothing: add 'output NAME' or 'minimize NAME'");
}

/* ---------------------------------------------------------------- a run */

/* Evaluates every statement eagerly (recording the tape); returns the loss tensor. */
static Tensor *run_forward(tape_model *m) {
  Program *p = m->prog;
  tp_reset(&m->T);
  for (int i = 1; i < p->nstmts; i++) {
    const Stmt *st = &p->stmts[i];
    if (st->kind != ST_LET) continue;
    m->cur_stmt = i;
    m->T.loc = st->loc;
    Tensor *t = tm_eval(m, st->expr);
    m->cur_stmt = p->nstmts;
    tm_lookup(m, st->name)->t = t;
  }
  m->cur_stmt = p->nstmts;
  m->T.loc = (SrcLoc){0, 0};
  for (int k = 0; k < m->noutputs; k++) {
    Output *o = &m->outputs[k];
    Tensor *t = o->sym->t;
    if (!o->buf) {
      o->n = t->n;
      o->i32 = t->data == NULL;
      o->buf = tp_calloc(&m->T, t->n * 4); /* float or int32_t */
    }
    if (o->n != t->n) tp_fail(&m->T, "output '%s' changed size", o->name); /* cannot happen: shapes are static */
    memcpy(o->buf, o->i32 ? (void *)t->idata : (void *)t->data, t->n * 4);
  }
  m->loss = NAN;
  if (!m->loss_sym) return NULL;
  Tensor *l = m->loss_sym->t;
  if (!l->data) /* as the compiler */
    diag_error(&m->diag, m->loss_loc, "the loss '%s' is i32: it must be an f32 scalar (integers have no gradient)",
               m->loss_sym->name);
  if (l->rank != 0) {
    char s[128];
    diag_error(&m->diag, m->loss_loc, "the loss '%s' must be an f32 scalar, but its shape is %s", m->loss_sym->name,
               tp_shape_str(l, s, sizeof s));
  }
  m->loss = l->data[0];
  return l;
}

static int failed(tape_model *m) {
  tp_reset(&m->T);
  snprintf(m->err, sizeof m->err, "%s", m->diag.msg);
  size_t n = strlen(m->err);
  if (n && m->err[n - 1] == '\n') m->err[n - 1] = 0;
  return -1;
}

int tape_forward(tape_model *m) {
  if (setjmp(m->diag.jb)) return failed(m);
  m->training = false; /* model.eval(): the compiled forward entry's mode */
  run_forward(m);
  tp_reset(&m->T);
  return 0;
}

int tape_backward(tape_model *m) {
  if (setjmp(m->diag.jb)) return failed(m);
  if (!m->loss_sym) {
    snprintf(m->err, sizeof m->err, "%s: error: the model has no loss ('minimize NAME'): nothing to differentiate",
             m->path);
    return -1;
  }
  m->training = true; /* model.train(): the backward and train-step entries' mode (dropout's masks, batch_norm's batch statistics and running updates) */
  Tensor *loss = run_forward(m);
  m->training = false;
  tp_run_backward(&m->T, loss);
  tp_reset(&m->T);
  return 0;
}

/* ---------------------------------------------------------------- open, close, access */

static void free_model(tape_model *m) {
  if (!m) return;
  tp_reset(&m->T);
  free(m->T.tensors);
  free(m->T.recs);
  for (int i = 0; i < m->nleaves; i++) {
    free(m->leaves[i].t->data);
    free(m->leaves[i].t->idata);
    free(m->leaves[i].t->grad);
  }
  for (int i = 0; i < m->noutputs; i++) free(m->outputs[i].buf);
  if (m->arena) arena_free(m->arena);
  free(m->path);
  free(m->source);
  free(m);
}

static char *dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

tape_model *tape_open(const char *path, const char *source, const char *const *define_names,
                      const long long *define_values, int ndefines, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!path) path = "<model>";
  tape_model *volatile m = calloc(1, sizeof *m);
  if (!m) {
    if (err && errlen) snprintf(err, errlen, "%s: error: out of memory", path);
    return NULL;
  }
  m->path = dup(path);
  m->source = source ? dup(source) : diag_read_file(path, err, errlen);
  if (!m->path || !m->source) {
    if (err && errlen && !err[0]) snprintf(err, errlen, "%s: error: out of memory", path);
    free_model(m);
    return NULL;
  }
  m->arena = arena_new();
  if (!m->arena) {
    if (err && errlen) snprintf(err, errlen, "%s: error: out of memory", path);
    free_model(m);
    return NULL;
  }
  arena_on_fail(m->arena, diag_out_of_memory, &m->diag);
  m->diag.file = m->path;
  m->diag.src = m->source;
  m->T.diag = &m->diag;
  m->loss = NAN;
  if (setjmp(m->diag.jb)) {
    failed(m);
    if (err && errlen) snprintf(err, errlen, "%s", m->err);
    free_model(m);
    return NULL;
  }
  m->prog = parse_program(m->arena, &m->diag);
  resolve(m, define_names, define_values, ndefines < 0 ? 0 : ndefines);
  run_forward(m); /* checks every shape, sizes the outputs */
  tp_reset(&m->T);
  return m;
}

void tape_close(tape_model *m) { free_model(m); }

void *tape_tensor(tape_model *m, const char *name, size_t *count) {
  if (count) *count = 0;
  if (!m || !name) return NULL;
  for (int i = 0; i < m->nleaves; i++)
    if (!strcmp(m->leaves[i].name, name)) {
      Tensor *t = m->leaves[i].t;
      if (count) *count = t->n;
      return t->data ? (void *)t->data : (void *)t->idata;
    }
  for (int i = 0; i < m->noutputs; i++)
    if (!strcmp(m->outputs[i].name, name)) {
      if (count) *count = m->outputs[i].n;
      return m->outputs[i].buf;
    }
  return NULL;
}

float *tape_grad(tape_model *m, const char *param, size_t *count) {
  if (count) *count = 0;
  if (!m || !param) return NULL;
  for (int i = 0; i < m->nleaves; i++)
    if (m->leaves[i].trainable && !strcmp(m->leaves[i].name, param)) {
      if (count) *count = m->leaves[i].t->n;
      return m->leaves[i].t->grad;
    }
  return NULL;
}

float tape_loss(const tape_model *m) { return m ? m->loss : NAN; }

void tape_set_seed(tape_model *m, uint64_t step_seed) {
  if (m) m->seed = step_seed;
}

void tape_zero_grad(tape_model *m) {
  for (int i = 0; m && i < m->nleaves; i++)
    if (m->leaves[i].trainable) memset(m->leaves[i].t->grad, 0, m->leaves[i].t->n * sizeof(float));
}

void tape_sgd_step(tape_model *m, float lr) {
  for (int i = 0; m && i < m->nleaves; i++) {
    Tensor *t = m->leaves[i].t;
    if (!m->leaves[i].trainable) continue;
    for (size_t k = 0; k < t->n; k++) t->data[k] -= lr * t->grad[k];
  }
}

const char *tape_error(const tape_model *m) { return m ? m->err : "no model"; }
