/* test_memplan.c — the static memory plan (compiler/memplan.c), through the internal
 * pipeline: parse_program -> build_graph -> autodiff -> optimize -> entry_build ->
 * schedule_entry -> memplan_entry -> memplan_verify, as gc_compile runs it.
 *
 * For several models (logreg from models/, models/digits.grad, the digits classifier, a 4-layer MLP
 * with tanh and softmax, a deep chain, a model mixing shape ops and reductions):
 * memplan_verify accepts the plan, and an independent check here agrees: every
 * workspace slice is aligned and inside the workspace, slices live at the same time
 * never share bytes, every value read by a kernel is materialised and live at that
 * kernel (a value kept in registers is only read inside its own fused kernel).
 * Then the verifier is shown to fail on corrupted plans, and workspace reuse is shown
 * to happen on a deep chain. */
#define _POSIX_C_SOURCE 200809L /* opendir */
#include <criterion/criterion.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "autodiff.h"
#include "build.h"
#include "entry.h"
#include "gradc/compiler.h"
#include "opinfo.h"
#include "opt.h"

#define op_class(op) (gc_ops[op].cls)

typedef struct {
  Arena *a;
  Graph *g;
  Entry *e[2];
  int ne;
  char err[4096];
} Plan;

/* Runs the front end of gc_compile on src; false (message in p->err) on a model error. */
static bool plan_build(Plan *p, const char *src, bool inference) {
  memset(p, 0, sizeof *p);
  p->a = arena_new();
  Diag *d = ARENA_NEW(p->a, Diag);
  d->file = "t.grad";
  d->src = src;
  if (setjmp(d->jb)) {
    snprintf(p->err, sizeof p->err, "%s", d->msg);
    return false;
  }
  BuildOptions bo = {.training = !inference}; /* the mode gc_compile builds (front_mode) */
  Program *prog = parse_program(p->a, d);
  Graph *g = build_graph(p->a, d, prog, &bo);
  if (!inference) autodiff(g);
  optimize(g);
  EntryOptions eo = {inference, 8, 2}; /* an AVX host with 2 cores: packing scratch, one per part */
  p->e[p->ne++] = entry_build(g, ENTRY_FORWARD, eo);
  if (!inference && g->loss) p->e[p->ne++] = entry_build(g, ENTRY_TRAIN, eo);
  for (int i = 0; i < p->ne; i++) {
    schedule_entry(g, p->e[i]);
    memplan_entry(g, p->e[i]);
  }
  p->g = g;
  return true;
}

static void plan_free(Plan *p) { arena_free(p->a); }

static Plan *plan_ok(const char *src, bool inference) {
  static Plan p;
  cr_assert(plan_build(&p, src, inference), "model rejected:\n%s\n%s", src, p.err);
  return &p;
}

static Node *base_of(Node *n) {
  while (op_class(n->op) == CLS_ALIAS) n = n->in[0];
  return n;
}

/* In a rows kernel a register value is either one per row (a reduction along the row,
 * or row-level work [..., 1]), held while the kernel is on that row and computed in an
 * earlier loop or between loops (never a reduction of the reader's own loop) — or one
 * per element, read in the same loop over the row's elements that computes it. */
static bool rows_register_ok(const Kernel *K, const Entry *e, const Node *c, const Node *x) {
  Shape row = K->shape;
  row.d[row.rank - 1] = 1;
  bool x_reduces = op_class(x->op) == CLS_REDUCE, x_per_row = x_reduces || shape_eq(x->shape, row);
  if (x_reduces && shape_count(x->shape) != shape_count(row)) return false; /* over everything: after the rows */
  if (x_per_row) return e->loop_of[c->id] >= e->loop_of[x->id] + x_reduces;
  return shape_eq(c->shape, K->shape) || op_class(c->op) == CLS_REDUCE ? e->loop_of[c->id] == e->loop_of[x->id] : false;
}

/* An independent check of a plan; NULL or what is wrong (static buffer). */
static const char *check_plan(Entry *e) {
  static char msg[512];
  for (int i = 0; i < e->nlive; i++) {
    Node *n = e->live[i];
    Buffer *b = &e->buf[n->id];
    if (b->kind != BUF_WS) continue;
    if (b->offset < 0 || b->offset % 64 || b->offset + b->bytes > e->ws_bytes)
      return snprintf(msg, sizeof msg, "%%%d: [%lld, +%lld) misaligned or outside the %lld-byte workspace", n->id,
                      (long long)b->offset, (long long)b->bytes, (long long)e->ws_bytes),
             msg;
    if (b->bytes < shape_count(n->shape) * 4)
      return snprintf(msg, sizeof msg, "%%%d: %lld bytes for %lld elements", n->id, (long long)b->bytes,
                      (long long)shape_count(n->shape)),
             msg;
    if (b->def != e->kernel_of[n->id] || b->last < b->def)
      return snprintf(msg, sizeof msg, "%%%d: live range [%d, %d] but computed by kernel %d", n->id, b->def, b->last,
                      e->kernel_of[n->id]),
             msg;
    for (int j = 0; j < i; j++) {
      Node *m = e->live[j];
      Buffer *c = &e->buf[m->id];
      if (c->kind != BUF_WS) continue;
      bool together = !(c->last < b->def || b->last < c->def);
      bool share = b->offset < c->offset + c->bytes && c->offset < b->offset + b->bytes;
      if (together && share)
        return snprintf(msg, sizeof msg, "%%%d [%d,%d] and %%%d [%d,%d] share workspace bytes", m->id, c->def, c->last,
                        n->id, b->def, b->last),
               msg;
    }
  }
  /* every operand read by a kernel is available there */
  for (int k = 0; k < e->nkernels; k++) {
    Kernel *K = &e->kernels[k];
    for (int i = 0; i < K->n; i++) {
      Node *c = K->nodes[i];
      if (e->kernel_of[c->id] != k)
        return snprintf(msg, sizeof msg, "%%%d is in kernel %d but kernel_of says %d", c->id, k, e->kernel_of[c->id]),
               msg;
      for (int j = 0; j < c->nin; j++) {
        Node *x = base_of(c->in[j]);
        Buffer *b = &e->buf[x->id];
        if (b->kind == BUF_WS && (k < b->def || k > b->last))
          return snprintf(msg, sizeof msg, "%%%d reads %%%d in kernel %d outside its live range [%d, %d]", c->id,
                          x->id, k, b->def, b->last),
                 msg;
        if (b->kind == BUF_NONE) {
          bool same = x == c->in[j] && e->kernel_of[x->id] == k &&
                      (K->kind == KER_ROWS ? rows_register_ok(K, e, c, x) : op_class(c->op) == CLS_ELEM);
          if (!same)
            return snprintf(msg, sizeof msg, "%%%d (kernel %d) reads %%%d, which is kept in registers of kernel %d",
                            c->id, k, x->id, e->kernel_of[x->id]),
                   msg;
          int pos = -1; /* computed earlier in the same kernel */
          for (int q = 0; q < K->n; q++)
            if (K->nodes[q] == x) pos = q;
          if (pos < 0 || pos >= i)
            return snprintf(msg, sizeof msg, "%%%d reads register value %%%d before it is computed", c->id, x->id), msg;
        }
      }
    }
  }
  return NULL;
}

static void check_all(const char *name, const char *src, bool inference) {
  Plan *p = plan_ok(src, inference);
  cr_assert(p->ne >= 1);
  for (int i = 0; i < p->ne; i++) {
    Entry *e = p->e[i];
    const char *v = memplan_verify(p->g, e);
    cr_expect_null(v, "%s %s: memplan_verify: %s", name, e->name, v ? v : "");
    const char *c = check_plan(e);
    cr_expect_null(c, "%s %s: %s", name, e->name, c ? c : "");
  }
  plan_free(p);
}

/* ---------------------------------------------------------------- models */

static const char *digits_src =
    "model digits\nbatch N = 32\ninput  x     : f32[N, 64]\ninput  label : i32[N]\n"
    "param  w1 : f32[64, 32] = kaiming\nparam  b1 : f32[32]\nparam  w2 : f32[32, 10] = kaiming\nparam  b2 : f32[10]\n"
    "h      = relu((x / 16) @ w1 + b1)\nlogits = h @ w2 + b2\nloss   = cross_entropy(logits, label)\n"
    "output logits\nminimize loss\n";

static const char *mlp4_src =
    "model mlp4\nbatch N = 16\ninput x : f32[N, 20]\ninput t : f32[N, 10]\n"
    "param w1 : f32[20, 32] = xavier\nparam b1 : f32[32]\nparam w2 : f32[32, 32] = xavier\nparam b2 : f32[32]\n"
    "param w3 : f32[32, 24] = xavier\nparam b3 : f32[24]\nparam w4 : f32[24, 10] = xavier\nparam b4 : f32[10]\n"
    "h1 = tanh(x @ w1 + b1)\nh2 = tanh(h1 @ w2 + b2)\nh3 = tanh(h2 @ w3 + b3)\n"
    "p = softmax(h3 @ w4 + b4)\nloss = mse(p, t)\noutput p\nminimize loss\n";

static const char *mixed_src =
    "model mixed\ninput x : f32[4, 6]\ninput lab : i32[4]\nparam w : f32[6, 2, 3] = randn\n"
    "param v : f32[3] = ones\nparam s : f32[] = 0.5\n"
    "a = reshape(x @ reshape(w, [6, -1]), [4, 2, 3])\nb = transpose(a, perm=[1, 0, 2])\n"
    "c = maximum(b * v, -b) ** 2 + sqrt(abs(b) + 1)\nm = max(c, axis=[0, 2], keepdims=true)\n"
    "z = flatten(transpose(c - m, perm=[1, 0, 2]))\nq = log_softmax(z * s, axis=1)\n"
    "loss = cross_entropy(z, lab) - mean(q) + sum(sigmoid(a), axis=[0,1,2]) * 0.01\n"
    "output q, m\nminimize loss\n";

/* L layers of h = tanh(h @ w_i + b_i), [8, 32], then softmax cross-entropy. */
static char *deep_src(int L) {
  size_t cap = 256 + (size_t)L * 160;
  char *s = malloc(cap);
  int n = snprintf(s, cap, "model deep\ninput x : f32[8, 32]\ninput lab : i32[8]\nh0 = x\n");
  for (int i = 1; i <= L; i++)
    n += snprintf(s + n, cap - (size_t)n,
                  "param w%d : f32[32, 32] = xavier\nparam b%d : f32[32]\nh%d = tanh(h%d @ w%d + b%d)\n", i, i, i,
                  i - 1, i, i);
  snprintf(s + n, cap - (size_t)n, "p = softmax(h%d)\nloss = cross_entropy(h%d, lab) + mean(p * p)\noutput p\n"
                                   "minimize loss\n", L, L);
  return s;
}

Test(memplan, logreg) {
  char err[4096];
  char *src = diag_read_file(GRADC_SOURCE_DIR "/models/logreg.grad", err, sizeof err);
  cr_assert_not_null(src, "%s", err);
  check_all("logreg", src, false);
  check_all("logreg (inference)", src, true);
  free(src);
}

/* Every model shipped in models/ (logreg, digits, digits_cnn, ...). */
Test(memplan, every_shipped_model) {
  DIR *dir = opendir(GRADC_SOURCE_DIR "/models");
  cr_assert_not_null(dir);
  int n = 0;
  for (struct dirent *de; (de = readdir(dir));) {
    size_t len = strlen(de->d_name);
    if (len < 6 || strcmp(de->d_name + len - 5, ".grad")) continue;
    char path[4096], err[4096];
    snprintf(path, sizeof path, "%s/models/%s", GRADC_SOURCE_DIR, de->d_name);
    char *src = diag_read_file(path, err, sizeof err);
    cr_assert_not_null(src, "%s", err);
    check_all(de->d_name, src, false);
    check_all(de->d_name, src, true);
    free(src);
    n++;
  }
  closedir(dir);
  cr_expect_geq(n, 2, "only %d models in models/", n);
}

Test(memplan, digits) {
  check_all("digits", digits_src, false);
  check_all("digits (inference)", digits_src, true);
}

Test(memplan, mlp4_tanh_softmax) {
  check_all("mlp4", mlp4_src, false);
  check_all("mlp4 (inference)", mlp4_src, true);
}

Test(memplan, mixed_ops) {
  check_all("mixed", mixed_src, false);
  check_all("mixed (inference)", mixed_src, true);
}

Test(memplan, deep_chain) {
  char *src = deep_src(12);
  check_all("deep12", src, false);
  check_all("deep12 (inference)", src, true);
  free(src);
}

/* Every model the other test files compile would also pass through here; a few more
 * shapes of the one-kernel / no-workspace edge cases. */
Test(memplan, small_edge_models) {
  static const char *srcs[] = {
      "model t\nparam a : f32[3]\nloss = sum(a * a)\nminimize loss\n",
      "model t\ninput x : f32[3]\ny = exp(x)\noutput y\n",
      "model t\nparam a : f32[]\nloss = a * a\noutput loss\nminimize loss\n",
      "model t\ninput x : f32[2,3]\nparam a : f32[2,3]\ny = reshape(a, [3, 2])\nz = transpose(y)\n"
      "loss = sum(z * x)\noutput y, z\nminimize loss\n",
      "model t\nparam a : f32[4,4]\nb = a @ a\nc = b @ b\nd = c @ c\nloss = sum(d)\nminimize loss\n",
      "model t\ninput x : f32[2,1,6,6]\ninput lab : i32[2]\nparam w1 : f32[2,1,3,3] = randn\nparam b1 : f32[2]\n"
      "param w2 : f32[8,3] = randn\nparam b2 : f32[3]\n"
      "h = avg_pool2d(max_pool2d(tanh(conv2d(x, w1, b1, padding=1)), 2, stride=1), 2, stride=2)\n"
      "logits = flatten(h) @ w2 + b2\nloss = cross_entropy(logits, lab)\noutput logits, h\nminimize loss\n",
  };
  for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) check_all("edge", srcs[i], false);
}

/* ---------------------------------------------------------------- the verifier can fail */

/* Two workspace buffers of e whose live ranges overlap (and offsets differ); false if none. */
static bool find_live_pair(Entry *e, Buffer **pa, Buffer **pb) {
  for (int i = 0; i < e->nlive; i++)
    for (int j = i + 1; j < e->nlive; j++) {
      Buffer *a = &e->buf[e->live[i]->id], *b = &e->buf[e->live[j]->id];
      if (a->kind != BUF_WS || b->kind != BUF_WS) continue;
      if (!(a->last < b->def || b->last < a->def) && a->offset != b->offset) {
        *pa = a, *pb = b;
        return true;
      }
    }
  return false;
}

Test(memplan, verifier_detects_overlap) {
  char *src = deep_src(6);
  Plan *p = plan_ok(src, false);
  Entry *e = p->e[1]; /* the gradient core: many simultaneously live buffers */
  cr_assert_null(memplan_verify(p->g, e));
  Buffer *a, *b;
  cr_assert(find_live_pair(e, &a, &b), "no two simultaneously live workspace buffers in %s", e->name);
  int64_t saved = b->offset;
  b->offset = a->offset; /* make them share bytes */
  const char *v = memplan_verify(p->g, e);
  cr_expect_not_null(v, "memplan_verify accepted two live buffers at the same offset");
  cr_expect_not_null(check_plan(e), "the independent check accepted the overlap");
  if (v) cr_log_info("verifier: %s", v);
  /* a partial overlap: b starts inside a */
  b->offset = a->offset + (a->bytes > 64 ? 64 : 0);
  if (b->offset < a->offset + a->bytes) cr_expect_not_null(memplan_verify(p->g, e), "partial overlap accepted");
  b->offset = saved;
  cr_expect_null(memplan_verify(p->g, e), "restoring the plan did not restore the verdict");
  plan_free(p);
  free(src);
}

/* Stretching a buffer's live range into a neighbour that shares its bytes is caught too
 * (the plan reuses bytes between buffers whose ranges do not overlap). */
Test(memplan, verifier_detects_extended_liveness) {
  char *src = deep_src(6);
  Plan *p = plan_ok(src, false);
  Entry *e = p->e[1];
  Buffer *x = NULL, *y = NULL;
  for (int i = 0; i < e->nlive && !x; i++)
    for (int j = 0; j < e->nlive && !x; j++) {
      Buffer *a = &e->buf[e->live[i]->id], *b = &e->buf[e->live[j]->id];
      if (a == b || a->kind != BUF_WS || b->kind != BUF_WS) continue;
      bool share = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
      if (share && a->last < b->def) x = a, y = b; /* a dies, then b reuses its bytes */
    }
  cr_assert(x, "no workspace reuse in %s to corrupt", e->name);
  int saved = x->last;
  x->last = y->def; /* pretend x is still read when y is produced */
  cr_expect_not_null(memplan_verify(p->g, e), "memplan_verify accepted a reused slice that is still live");
  x->last = saved;
  cr_expect_null(memplan_verify(p->g, e));
  plan_free(p);
  free(src);
}

/* A slice placed past the end of the workspace, or misaligned, is rejected — for the
 * first and for the last workspace buffer of the entry. */
Test(memplan, verifier_detects_out_of_bounds) {
  char *src = deep_src(6);
  Plan *p = plan_ok(src, false);
  Entry *e = p->e[1];
  Buffer *first = NULL, *last = NULL;
  for (int i = 0; i < e->nlive; i++) {
    Buffer *b = &e->buf[e->live[i]->id];
    if (b->kind != BUF_WS) continue;
    if (!first) first = b;
    last = b;
  }
  cr_assert(first && last && first != last);
  Buffer *which[2] = {first, last};
  const char *names[2] = {"first", "last"};
  for (int w = 0; w < 2; w++) {
    Buffer *b = which[w];
    int64_t saved = b->offset;
    b->offset = e->ws_bytes; /* beyond the end: overlaps nothing else */
    cr_expect_not_null(memplan_verify(p->g, e), "memplan_verify accepted the %s workspace buffer past the end", names[w]);
    cr_expect_not_null(check_plan(e));
    b->offset = saved + 4; /* misaligned */
    cr_expect_not_null(memplan_verify(p->g, e), "memplan_verify accepted the %s workspace buffer misaligned", names[w]);
    b->offset = saved;
  }
  cr_expect_null(memplan_verify(p->g, e));
  plan_free(p);
  free(src);
}

/* ---------------------------------------------------------------- reuse */

static int64_t ws_sum(Entry *e, int *count) {
  int64_t s = 0;
  *count = 0;
  for (int i = 0; i < e->nlive; i++) {
    Buffer *b = &e->buf[e->live[i]->id];
    if (b->kind == BUF_WS) s += (b->bytes + 63) / 64 * 64, ++*count;
  }
  return s;
}

Test(memplan, workspace_reused_on_deep_chain) {
  char *src = deep_src(16);
  Plan *p = plan_ok(src, false);
  for (int i = 0; i < p->ne; i++) {
    Entry *e = p->e[i];
    int n;
    int64_t total = ws_sum(e, &n);
    cr_log_info("%s: %d workspace buffers, %lld bytes in all, workspace %lld bytes", e->name, n, (long long)total,
                (long long)e->ws_bytes);
    fprintf(stderr, "memplan %s: %d workspace buffers, %lld bytes in all, workspace %lld bytes\n", e->name, n,
            (long long)total, (long long)e->ws_bytes);
    cr_expect(n >= 4, "%s: only %d workspace buffers", e->name, n);
    cr_expect_lt(e->ws_bytes, total, "%s: no reuse: workspace %lld bytes, buffers %lld bytes", e->name,
                 (long long)e->ws_bytes, (long long)total);
    cr_expect_null(memplan_verify(p->g, e));
    cr_expect_null(check_plan(e));
  }
  /* forward of a deep chain needs O(1) layers of workspace, not O(L) */
  Entry *f = p->e[0];
  int n;
  int64_t total = ws_sum(f, &n);
  cr_expect(f->ws_bytes * 4 <= total, "forward: workspace %lld bytes is more than a quarter of %lld", (long long)f->ws_bytes,
            (long long)total);
  plan_free(p);
  free(src);
}

/* The compiled workspace size reported by gc_compile is what the plans need. */
Test(memplan, ws_bytes_reported) {
  char *src = deep_src(4);
  Plan *p = plan_ok(src, false);
  int64_t need = 0;
  for (int i = 0; i < p->ne; i++)
    if (p->e[i]->ws_bytes > need) need = p->e[i]->ws_bytes;
  gc_options o = {0};
  o.path = "deep.grad";
  o.source = src;
  o.emit = GC_EMIT_HEADER;
  o.out = "/dev/null";
  gc_result r;
  char err[4096];
  int rc = gc_compile(&o, &r, err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_expect_eq(r.workspace_bytes, need, "gc_compile reports %lld workspace bytes, the plans need %lld",
               (long long)r.workspace_bytes, (long long)need);
  plan_free(p);
  free(src);
}
