/* test_verify.c — the IR verifier (compiler/verify.c).
 *
 * Every shipped model (models/, tests/e2e/models, tools/bench/models) and 200 random
 * models (support/randmodel.c) go through the graph passes as gc_compile runs them —
 * build, bake (with zero weights), autodiff, optimize, then the entry points' sinks —
 * with the verifier after each pass, for training and for inference; the shipped ones
 * also through gc_compile with gc_options.verify. Then graphs broken on purpose are
 * caught, each with a message naming the node: a wrong shape or dtype, an f32 op reading
 * an i32 value, a dtype no op produces, an attribute out of range or of another op, an
 * operand placed after its reader or outside the graph, a wrong number of operands, a
 * forwarding pointer left behind, a gradient of the wrong shape, an output outside the graph, a sink storing
 * into another value's argument. A failure after a pass is an internal error: abort(). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "build.h"
#include "autodiff.h"
#include "entry.h"
#include "opinfo.h"
#include "opt.h"
#include "verify.h"
#include "weights.h"
#define SCRATCH_TAG "verify"
#include "support/scratch_dir.h"
#include "support/randmodel.c"

/* ---- the passes, verified after each ---- */

/* A safetensors file with every parameter of g, all zeros. */
static void write_zero_weights(const Graph *g, const char *path) {
  static char hdr[1 << 16];
  size_t n = (size_t)snprintf(hdr, sizeof hdr, "{"), off = 0;
  for (int i = 0; i < g->nparams; i++) {
    const Node *p = g->params[i];
    size_t bytes = 4 * (size_t)shape_count(p->shape);
    n += (size_t)snprintf(hdr + n, sizeof hdr - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", p->name);
    for (int k = 0; k < p->shape.rank; k++)
      n += (size_t)snprintf(hdr + n, sizeof hdr - n, "%s%lld", k ? "," : "", (long long)p->shape.d[k]);
    n += (size_t)snprintf(hdr + n, sizeof hdr - n, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
    off += bytes;
  }
  n += (size_t)snprintf(hdr + n, sizeof hdr - n, "}");
  while (n % 8) hdr[n++] = ' ';
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s", path);
  uint64_t len = n;
  fwrite(&len, 8, 1, f);
  fwrite(hdr, 1, n, f);
  for (size_t i = 0; i < off; i++) fputc(0, f);
  cr_assert_eq(fclose(f), 0);
}

typedef struct {
  const char *path, *src;
  bool inference;
  const char *weights; /* a scratch file for bake, or NULL: no bake */
} Run;

/* The graph passes of gc_compile (front.c, then compile.c's entry points) with the
 * verifier after each; NULL, or which pass broke what (or the model error). */
static const char *run_passes(const Run *r) {
  static char msg[8192];
  const char *volatile pass = "build"; /* read after a longjmp */
  const char *err = NULL;
  Arena *a = arena_new();
  Diag *d = ARENA_NEW(a, Diag);
  d->file = r->path;
  d->src = r->src;
  if (setjmp(d->jb)) {
    snprintf(msg, sizeof msg, "model error in %s: %s", pass, d->msg);
    arena_free(a);
    return msg;
  }
  BuildOptions bo = {.training = !r->inference}; /* the mode gc_compile builds (front_mode) */
  Graph *g = build_graph(a, d, parse_program(a, d), &bo);
  err = verify_graph(g);
  if (!err && r->weights) {
    pass = "bake";
    write_zero_weights(g, r->weights);
    bake_weights(g, d, r->weights);
    err = verify_graph(g);
  }
  if (!err && !r->inference) {
    pass = "autodiff";
    autodiff(g);
    err = verify_graph(g);
  }
  if (!err) {
    pass = "optimize";
    optimize(g);
    err = verify_graph(g);
  }
  Entry *e[3];
  int ne = 0;
  if (!err) {
    pass = "the entry points";
    EntryOptions eo = {r->inference, 8, 2};
    e[ne++] = entry_build(g, ENTRY_FORWARD, eo);
    if (!r->inference && g->loss) {
      e[ne++] = entry_build(g, ENTRY_BACKWARD, eo);
      e[ne++] = entry_build(g, ENTRY_TRAIN, eo);
    }
    err = verify_graph(g);
  }
  for (int i = 0; !err && i < ne; i++) err = verify_entry(g, e[i]);
  if (err) snprintf(msg, sizeof msg, "after %s: %s", pass, err);
  arena_free(a);
  return err ? msg : NULL;
}

/* Every .grad file of dir (relative to the source tree) through the passes, trained and
 * for inference, with its weights baked and not; then through gc_compile with verify. */
static int models_in(const char *sub) {
  char path[1024], err[8192];
  snprintf(path, sizeof path, "%s/%s", GRADC_SOURCE_DIR, sub);
  DIR *dp = opendir(path);
  cr_assert_not_null(dp, "cannot list %s", path);
  int count = 0;
  for (struct dirent *de; (de = readdir(dp));) {
    size_t len = strlen(de->d_name);
    if (len < 6 || strcmp(de->d_name + len - 5, ".grad")) continue;
    snprintf(path, sizeof path, "%s/%s/%s", GRADC_SOURCE_DIR, sub, de->d_name);
    char *src = diag_read_file(path, err, sizeof err);
    cr_assert_not_null(src, "%s", err);
    for (int mode = 0; mode < 4; mode++) {
      Run r = {path, src, mode & 1, mode & 2 ? at("w.safetensors") : NULL};
      const char *bad = run_passes(&r);
      cr_expect_null(bad, "%s%s%s: %s", path, r.inference ? " (inference)" : "", r.weights ? " (baked)" : "", bad);
    }
    gc_options o = {.path = path, .source = src, .emit = GC_EMIT_IR, .out = "/dev/null", .verify = true};
    cr_expect_eq(gc_compile(&o, NULL, err, sizeof err), 0, "gc_compile %s: %s", path, err);
    free(src);
    count++;
  }
  closedir(dp);
  return count;
}

Test(verify, every_shipped_model_after_every_pass, .init = make_dir, .fini = remove_dir) {
  cr_expect_geq(models_in("models"), 3);
  cr_expect_geq(models_in("tests/e2e/models"), 10);
  cr_expect_geq(models_in("tools/bench/models"), 3);
}

Test(verify, two_hundred_random_models_after_every_pass) {
  static char src[1 << 16];
  for (int seed = 0; seed < 200; seed++) {
    rm_generate((uint64_t)seed, src, sizeof src);
    for (int inference = 0; inference < 2; inference++) {
      Run r = {"random.grad", src, inference, NULL};
      const char *bad = run_passes(&r);
      cr_assert_null(bad, "random model, seed %d%s: %s\n-- model:\n%s", seed, inference ? " (inference)" : "", bad,
                     src);
    }
  }
}

/* ---- graphs broken on purpose ---- */

static const char *const SMALL = "model t\n"
                                 "input x : f32[2, 3]\n"
                                 "param w : f32[3, 4] = randn\n"
                                 "param b : f32[4] = zeros\n"
                                 "h = relu(x @ w + b)\n"
                                 "output h\n"
                                 "loss = mean(h * h)\n"
                                 "minimize loss\n";

typedef struct {
  Arena *a;
  Graph *g;
  Entry *train;
} Small;

/* SMALL through every pass and its train step's entry: a valid graph to break. */
static Small small(void) {
  Small s = {arena_new(), NULL, NULL};
  Diag *d = ARENA_NEW(s.a, Diag);
  d->file = "t.grad";
  d->src = SMALL;
  cr_assert_eq(setjmp(d->jb), 0, "%s", d->msg);
  BuildOptions bo = {.training = true};
  s.g = build_graph(s.a, d, parse_program(s.a, d), &bo);
  autodiff(s.g);
  optimize(s.g);
  s.train = entry_build(s.g, ENTRY_TRAIN, (EntryOptions){false, 8, 1});
  cr_assert_null(verify_graph(s.g), "the valid graph is refused: %s", verify_graph(s.g));
  cr_assert_null(verify_entry(s.g, s.train), "the valid entry is refused: %s", verify_entry(s.g, s.train));
  return s;
}

static Node *first(Graph *g, OpKind op) {
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i]->op == op) return g->nodes[i];
  cr_assert_fail("no %d node", (int)op);
  return NULL;
}

/* verify_graph refuses s's graph with a message containing each of the parts. */
static void refused(Small *s, const char *part1, const char *part2) {
  const char *err = verify_graph(s->g);
  cr_assert_not_null(err, "the broken graph passes the verifier");
  cr_expect(strstr(err, part1), "'%s' not in: %s", part1, err);
  cr_expect(strstr(err, part2), "'%s' not in: %s", part2, err);
  arena_free(s->a);
}

static const char *name_of(Small *s, const Node *n) { return arena_printf(s->a, "node %%%d (", n->id); }

Test(verify, catches_a_wrong_shape) {
  Small s = small();
  Node *n = first(s.g, OP_MATMUL);
  Shape right = n->shape;
  n->shape.d[n->shape.rank - 1] += 1;
  refused(&s, name_of(&s, n), arena_printf(s.a, "its shape rule gives f32%s", shape_str(s.a, right)));
}

Test(verify, catches_a_wrong_dtype) {
  Small s = small();
  Node *n = first(s.g, OP_RELU);
  n->dtype = DT_I32;
  refused(&s, arena_printf(s.a, "node %%%d (relu 'h') is i32", n->id), "its dtype rule gives f32");
}

Test(verify, catches_a_dtype_no_op_produces) {
  Small s = small();
  Node *n = first(s.g, OP_RELU);
  n->dtype = DT_I8;
  refused(&s, name_of(&s, n), "has dtype i8, which no op produces yet");
}

Test(verify, catches_an_f32_op_reading_i32) {
  Small s = small();
  Node *x = s.g->inputs[0], *n = NULL;
  for (int i = 0; !n && i < s.g->n; i++)
    if (s.g->nodes[i]->op == OP_MATMUL && s.g->nodes[i]->in[0] == x) n = s.g->nodes[i];
  cr_assert_not_null(n);
  x->dtype = DT_I32; /* an input may be i32; matmul takes f32 */
  refused(&s, name_of(&s, n), arena_printf(s.a, "reads %%%d, which is i32; matmul takes f32", x->id));
}

Test(verify, catches_an_attribute_out_of_range) {
  Small s = small();
  Node *n = first(s.g, OP_SUM);
  node_reduce(n)->axes = 1u << n->in[0]->shape.rank;
  refused(&s, name_of(&s, n), arena_printf(s.a, "reduces axes 0x%x of a rank-%d operand", 1u << n->in[0]->shape.rank,
                                           n->in[0]->shape.rank));
}

Test(verify, catches_an_attribute_of_another_op) {
  Small s = small();
  Node *n = first(s.g, OP_SUM);
  node_reduce(n)->first = true; /* max's flag */
  refused(&s, name_of(&s, n), "has the flag `first`, which only max has (attributes reduce)");
}

Test(verify, catches_an_operand_after_its_reader) {
  Small s = small();
  Node *n = first(s.g, OP_MATMUL), *x = n->in[0];
  int i = n->id, j = x->id; /* j < i: swap the two, ids following their positions */
  s.g->nodes[j] = n, s.g->nodes[i] = x;
  n->id = j, x->id = i;
  refused(&s, name_of(&s, n), arena_printf(s.a, "reads %%%d, which comes after it", i));
}

Test(verify, catches_an_operand_outside_the_graph) {
  Small s = small();
  Node *n = first(s.g, OP_MATMUL), *stray = ARENA_NEW(s.a, Node);
  *stray = *n->in[1];
  n->in[1] = stray; /* same id, shape and op as a node of the graph, but not that node */
  refused(&s, name_of(&s, n), "which is not a node of the graph");
}

Test(verify, catches_a_wrong_arity) {
  Small s = small();
  Node *n = first(s.g, OP_ADD);
  n->nin = 1;
  refused(&s, name_of(&s, n), "has 1 operand; add takes 2");
}

Test(verify, catches_a_forwarding_pointer_left_behind) {
  Small s = small();
  Node *n = first(s.g, OP_RELU);
  n->repl = n->in[0];
  refused(&s, name_of(&s, n), arena_printf(s.a, "still forwards to %%%d", n->in[0]->id));
}

Test(verify, catches_a_gradient_of_the_wrong_shape) {
  Small s = small();
  cr_assert(s.g->grads[0] && s.g->grads[1]);
  s.g->grads[0] = s.g->grads[1]; /* w's gradient: b's, f32[4] for f32[3, 4] */
  refused(&s, "the gradient of 'w'", "is f32[4], the parameter f32[3, 4]");
}

Test(verify, catches_an_output_outside_the_graph) {
  Small s = small();
  Node *stray = ARENA_NEW(s.a, Node);
  *stray = *s.g->outputs[0];
  s.g->outputs[0] = stray;
  refused(&s, "output 'h'", "is not a node of the graph");
}

Test(verify, catches_a_sink_storing_into_another_argument) {
  Small s = small();
  Node *sgd = first(s.g, OP_SGD);
  int other = -1;
  for (int i = 0; i < s.train->nargs; i++)
    if (s.train->args[i].kind == ARG_OUTPUT) other = i;
  cr_assert_geq(other, 0);
  sgd->sink_arg = other;
  const char *err = verify_entry(s.g, s.train);
  cr_assert_not_null(err, "the broken entry passes the verifier");
  cr_expect(strstr(err, name_of(&s, sgd)) && strstr(err, "stores into t_train_step's argument 'h'"), "%s", err);
  arena_free(s.a);
}

/* After a pass, a broken graph is an internal error: a message naming the pass, then abort. */
Test(verify, a_broken_graph_after_a_pass_aborts, .signal = SIGABRT) {
  Small s = small();
  verify_or_abort("autodiff", NULL); /* a valid graph: nothing */
  first(s.g, OP_ADD)->nin = 1;
  verify_or_abort("autodiff", verify_graph(s.g));
}
