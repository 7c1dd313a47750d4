/* randmodel.c — random well-typed models (randmodel.h; their check is randmodel_check.c).
 *
 * The generator keeps a pool of named values with their shapes and a rough bound on
 * their magnitude, and appends statements that read values from the pool (the recent
 * ones more often, so models get deep as well as wide). Operands an operator needs of
 * a particular shape (a weight for a product or a convolution, a broadcasting partner,
 * a target) are declared as new parameters or inputs. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "randmodel.h"
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"
#include "gradc/tape.h"

#define RM_MAXV 64
#define RM_MAXCOUNT 512 /* elements in one value: keeps compiles and checks fast */
#define RM_MAXMAG 1e4   /* magnitude bound: keeps every value finite in float32 */

typedef struct {
  int rank;
  int d[4];
} RShape;

typedef struct {
  char name[12];
  RShape s;
  double mag;    /* a rough bound on |value| */
  bool computed; /* a statement's result (not a leaf) */
  int uses;
} RVal;

typedef struct {
  uint64_t state;
  char decl[8192], body[16384];
  RVal v[RM_MAXV];
  int nv, nleaves, nvals;
} Gen;

/* ---- randomness ---- */

static uint64_t next(Gen *g) { /* splitmix64 */
  uint64_t z = (g->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int pick(Gen *g, int n) { return (int)(next(g) % (uint64_t)n); }
static bool chance(Gen *g, double p) { return (double)(next(g) >> 11) * 0x1.0p-53 < p; }
static int any_dim(Gen *g) {
  static const int dims[] = {1, 2, 2, 3, 3, 4, 5, 7, 9};
  return dims[pick(g, sizeof dims / sizeof dims[0])];
}

/* ---- shapes ---- */

static int count(RShape s) {
  int n = 1;
  for (int i = 0; i < s.rank; i++) n *= s.d[i];
  return n;
}

static void shape_text(RShape s, char *out, size_t n) {
  size_t k = (size_t)snprintf(out, n, "[");
  for (int i = 0; i < s.rank; i++) k += (size_t)snprintf(out + k, n - k, "%s%d", i ? ", " : "", s.d[i]);
  snprintf(out + k, n - k, "]");
}

static RShape random_shape(Gen *g) {
  static const int ranks[] = {0, 1, 1, 1, 2, 2, 2, 2, 3, 3};
  RShape s = {ranks[pick(g, 10)], {0}};
  for (int i = 0; i < s.rank; i++) s.d[i] = any_dim(g);
  return s;
}

/* NumPy broadcasting of a and b into out; false if they do not broadcast. */
static bool broadcast(RShape a, RShape b, RShape *out) {
  out->rank = a.rank > b.rank ? a.rank : b.rank;
  for (int i = 0; i < out->rank; i++) {
    int ia = a.rank - out->rank + i, ib = b.rank - out->rank + i;
    int da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out->d[i] = da > db ? da : db;
  }
  return true;
}

/* A random shape that broadcasts with s: some of s's dimensions kept, some 1 (or any
 * size where s has 1), leading axes dropped or added. */
static RShape partner_shape(Gen *g, RShape s) {
  int lo = s.rank > 0 ? s.rank - 1 : 0, hi = s.rank < 3 ? s.rank + 1 : s.rank;
  RShape p = {lo + pick(g, hi - lo + 1), {0}};
  for (int i = 0; i < p.rank; i++) {
    int j = s.rank - p.rank + i;
    if (j < 0) p.d[i] = any_dim(g);
    else if (s.d[j] == 1) p.d[i] = chance(g, 0.3) ? any_dim(g) : 1;
    else p.d[i] = chance(g, 0.65) ? s.d[j] : 1;
  }
  return p;
}

/* ---- the model text ---- */


static RVal *add_val(Gen *g, const char *prefix, int number, RShape s, double mag, bool computed) {
  RVal *v = &g->v[g->nv++];
  *v = (RVal){{0}, s, mag, computed, 0};
  snprintf(v->name, sizeof v->name, "%s%d", prefix, number);
  return v;
}

/* A new parameter (or input) of shape s, declared with the others. */
static RVal *leaf(Gen *g, RShape s, bool param) {
  char t[64];
  shape_text(s, t, sizeof t);
  RVal *v = add_val(g, param ? "p" : "x", g->nleaves++, s, 3, false);
  rm_append(g->decl, sizeof g->decl, "%s %s : f32%s%s\n", param ? "param" : "input", v->name, t, param ? " = randn" : "");
  return v;
}

/* `vN = EXPR` with the template's A and B replaced by the operands' names. */
static RVal *stmt(Gen *g, RShape s, double mag, const char *tmpl, RVal *a, RVal *b) {
  if (g->nv >= RM_MAXV || mag > RM_MAXMAG || count(s) > RM_MAXCOUNT) return NULL;
  RVal *v = add_val(g, "v", g->nvals++, s, mag, true);
  rm_append(g->body, sizeof g->body, "%s = ", v->name);
  for (const char *p = tmpl; *p; p++) {
    RVal *x = *p == 'A' ? a : *p == 'B' ? b : NULL;
    if (x) x->uses++;
    rm_append(g->body, sizeof g->body, "%s", x ? x->name : (char[2]){*p, 0});
  }
  rm_append(g->body, sizeof g->body, "\n");
  return v;
}

/* An operand from the pool: one of the four newest half of the time. */
static RVal *operand(Gen *g) {
  int recent = g->nv < 4 ? g->nv : 4;
  return chance(g, 0.5) ? &g->v[g->nv - 1 - pick(g, recent)] : &g->v[pick(g, g->nv)];
}

/* ---- operators ---- */

typedef struct {
  const char *tmpl;
  int kind; /* how the bound grows: 0 m, 1 bounded by 1, 2 m + 1, 3 exp, 4 m^2, 5 m^3, 6 log */
} Unary;

static const Unary unary_ops[] = {
    {"exp(A)", 3},          {"log(1 + A * A)", 6},         {"sqrt(A * A + 0.5)", 2}, {"abs(A)", 0},
    {"tanh(A)", 1},         {"sigmoid(A)", 1},             {"relu(A)", 0},           {"leaky_relu(A, slope=0.2)", 0},
    {"gelu(A)", 2},         {"silu(A)", 2},         {"softplus(A)", 2},            {"-A", 0},                {"A ** 2", 4},
    {"A ** 3", 5},          {"detach(A)", 0},              {"(A)", 0},
    /* comparisons and elementwise (issue 15) */
    {"hardswish(A)", 0},    {"relu6(A * 3)", 0},           {"hardtanh(A)", 1},       {"hardsigmoid(A)", 1},
    {"elu(A)", 2},          {"selu(A)", 2},                {"celu(A, alpha=2)", 2},  {"softsign(A)", 1},
    {"sin(A)", 1},          {"cos(A)", 1},                 {"erf(A)", 1},            {"square(A)", 4},
    {"rsqrt(A * A + 1)", 1}, {"reciprocal(1 + A * A)", 1}, {"clamp(A, min=-1, max=2)", 0},
    {"clamp(A, max=0.5)", 0}, {"where(A > 0, A, A * 0.5)", 0}, {"A * (A >= 0.25)", 0},
    {"sign(A) + floor(A) * 0.5 + ceil(A) - round(A)", 2},
};

static RVal *gen_unary(Gen *g) {
  RVal *a = operand(g);
  const Unary *u = &unary_ops[pick(g, sizeof unary_ops / sizeof unary_ops[0])];
  double m = a->mag;
  double mags[] = {m, 1, m + 1, exp(m), m * m, m * m * m, log1p(m * m) + 1};
  if (u->kind == 3 && m > 6) return NULL;
  return stmt(g, a->s, mags[u->kind], u->tmpl, a, NULL);
}

static RVal *gen_binary(Gen *g) {
  static const char *const ops[] = {"A + B", "A - B", "A * B", "A / (1 + B * B)", "maximum(A, B)", "minimum(A, B)"};
  int op = pick(g, 6);
  RVal *a = operand(g), *b = NULL;
  RShape s;
  for (int tries = 0; tries < 6 && !b; tries++) { /* a partner from the pool that broadcasts */
    RVal *c = &g->v[pick(g, g->nv)];
    if ((c != a || op == 0 || op == 2) && broadcast(a->s, c->s, &s)) b = c;
  }
  if (!b) b = leaf(g, partner_shape(g, a->s), chance(g, 0.6));
  if (!broadcast(a->s, b->s, &s)) return NULL;
  if (chance(g, 0.5)) { /* either side first */
    RVal *t = a;
    a = b, b = t;
  }
  double mags[] = {a->mag + b->mag, a->mag + b->mag, a->mag * b->mag, a->mag, fmax(a->mag, b->mag), fmax(a->mag, b->mag)};
  return stmt(g, s, mags[op], ops[op], a, b);
}

static RVal *gen_reduce(Gen *g) {
  static const char *const ops[] = {"sum", "mean", "max"};
  RVal *a = operand(g);
  if (a->s.rank == 0) return NULL;
  int op = pick(g, 3), r = a->s.rank;
  bool keep = chance(g, 0.5), axis[4] = {0};
  char tmpl[96], ax[32] = "";
  int form = pick(g, 4); /* all axes; one (maybe negative); a list of one or two */
  if (form == 0) {
    for (int i = 0; i < r; i++) axis[i] = true;
  } else {
    int i = pick(g, r), j = pick(g, r);
    axis[i] = axis[j] = form == 3;
    axis[i] = true;
    if (form == 1) snprintf(ax, sizeof ax, ", axis=%d", chance(g, 0.5) ? i - r : i);
    else if (form == 2 || i == j) snprintf(ax, sizeof ax, ", axis=[%d]", i);
    else snprintf(ax, sizeof ax, ", axis=[%d, %d]", i, j);
  }
  RShape s = {0, {0}};
  double reduced = 1;
  for (int i = 0; i < r; i++) {
    if (axis[i]) reduced *= a->s.d[i];
    if (!axis[i] || keep) s.d[s.rank++] = axis[i] ? 1 : a->s.d[i];
  }
  snprintf(tmpl, sizeof tmpl, "%s(A%s%s)", ops[op], ax, keep ? ", keepdims=true" : "");
  return stmt(g, s, op == 0 ? a->mag * reduced : a->mag, tmpl, a, NULL);
}

/* ---- reductions and losses (issue 15) ---- */

/* min, prod, var, std, logsumexp or norm over all axes, one or a list (as gen_reduce). */
static RVal *gen_stats(Gen *g) {
  static const char *const ops[] = {"min", "prod", "var", "std", "logsumexp", "norm", "norm", "norm"};
  static const char *const extra[] = {"", "", ", correction=0", "", "", "", ", p=1", ", p=inf"};
  RVal *a = operand(g);
  if (a->s.rank == 0) return NULL;
  int op = pick(g, 8), r = a->s.rank, i = pick(g, r), j = pick(g, r), form = pick(g, 3);
  bool keep = chance(g, 0.5), axis[4] = {0};
  char tmpl[128], ax[32] = "";
  if (form == 0) for (int k = 0; k < r; k++) axis[k] = true;
  else if (form == 1) axis[i] = true, snprintf(ax, sizeof ax, ", axis=%d", chance(g, 0.5) ? i - r : i);
  else axis[i] = axis[j] = true, snprintf(ax, sizeof ax, i == j ? ", axis=[%d]" : ", axis=[%d, %d]", i, j);
  RShape s = {0, {0}};
  double n = 1, m = a->mag;
  for (int k = 0; k < r; k++) {
    if (axis[k]) n *= a->s.d[k];
    if (!axis[k] || keep) s.d[s.rank++] = axis[k] ? 1 : a->s.d[k];
  }
  if (op == 1 && n > 6) return NULL; /* a product of many factors leaves float32 */
  if (op == 3 && n < 2) return NULL;  /* std's correction 1 of one element: 0/0 */
  double mags[] = {m, pow(m, n), 4 * m * m, 2 * m, m + log(n) + 1, m * sqrt(n), m * n, m};
  snprintf(tmpl, sizeof tmpl, "%s(A%s%s%s)", ops[op], ax, extra[op], keep ? ", keepdims=true" : "");
  return stmt(g, s, mags[op], tmpl, a, NULL);
}

/* comparisons and elementwise (issue 15) with a second operand: where and a
 * comparison with a broadcasting partner, clamp between two, ** with a tensor exponent,
 * prelu with a new weight per channel. */
static RVal *gen_elem(Gen *g) {
  static const char *const ops[] = {"where(A < B, A, B)", "(A != B) * A + (A <= B) * B", "clamp(A, min=B)",
                                    "(1 + A * A) ** tanh(B)", "prelu(A, B)"};
  int op = pick(g, 5);
  RVal *a = operand(g), *b = NULL;
  RShape s;
  if (op == 4) { /* a weight of one element, or one per channel */
    RVal *w = leaf(g, (RShape){1, {a->s.rank > 1 && chance(g, 0.6) ? a->s.d[1] : 1}}, true);
    w->mag = 3;
    return stmt(g, a->s, a->mag * 3, ops[op], a, w);
  }
  for (int tries = 0; tries < 6 && !b; tries++) {
    RVal *c = &g->v[pick(g, g->nv)];
    if (c != a && broadcast(a->s, c->s, &s)) b = c;
  }
  if (!b) b = leaf(g, partner_shape(g, a->s), chance(g, 0.6));
  if (!broadcast(a->s, b->s, &s)) return NULL;
  double m = fmax(a->mag, b->mag), mags[] = {m, a->mag + b->mag, m, 1 + a->mag * a->mag};
  return stmt(g, s, mags[op], ops[op], a, b);
}

/* reshape to a random regrouping of the value's prime factors (with size-1 axes and a
 * -1 sometimes), or flatten. */
static RVal *gen_reshape(Gen *g) {
  RVal *a = operand(g);
  if (a->s.rank >= 2 && chance(g, 0.25)) {
    RShape s = {2, {a->s.d[0], count(a->s) / a->s.d[0]}};
    return stmt(g, s, a->mag, "flatten(A)", a, NULL);
  }
  int f[16], nf = 0, n = count(a->s);
  for (int p = 2; n > 1; p++)
    while (n % p == 0) f[nf++] = p, n /= p;
  for (int i = nf - 1; i > 0; i--) { /* shuffle */
    int j = pick(g, i + 1), t = f[i];
    f[i] = f[j], f[j] = t;
  }
  RShape s = {1 + pick(g, 3), {1, 1, 1, 1}};
  for (int i = 0; i < nf; i++) s.d[pick(g, s.rank)] *= f[i];
  char t[64], tmpl[96];
  shape_text(s, t, sizeof t);
  if (chance(g, 0.3)) { /* one -1 */
    char *p = t + 1;
    for (int i = pick(g, s.rank); i > 0; i--) p = strchr(p, ',') + 2;
    memmove(p + 2, p + strcspn(p, ",]"), strlen(p + strcspn(p, ",]")) + 1);
    memcpy(p, "-1", 2);
  }
  snprintf(tmpl, sizeof tmpl, "reshape(A, %s)", t);
  return stmt(g, s, a->mag, tmpl, a, NULL);
}

static RVal *gen_transpose(Gen *g) {
  RVal *a = operand(g);
  int r = a->s.rank, perm[4] = {0, 1, 2, 3};
  if (r < 2) return NULL;
  if (r == 2 && chance(g, 0.5)) {
    RShape s = {2, {a->s.d[1], a->s.d[0]}};
    return stmt(g, s, a->mag, "transpose(A)", a, NULL);
  }
  for (int i = r - 1; i > 0; i--) {
    int j = pick(g, i + 1), t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  RShape s = {r, {0}};
  char tmpl[96] = "transpose(A, perm=[";
  for (int i = 0; i < r; i++) {
    s.d[i] = a->s.d[perm[i]];
    rm_append(tmpl, sizeof tmpl, "%s%d", i ? ", " : "", perm[i]);
  }
  rm_append(tmpl, sizeof tmpl, "])");
  return stmt(g, s, a->mag, tmpl, a, NULL);
}

/* A @ W or W @ A with a new weight W, in every rank combination the language has. */
static RVal *gen_matmul(Gen *g) {
  RVal *a = operand(g);
  int r = a->s.rank, m = any_dim(g);
  if (r == 0 || r > 3) return NULL;
  bool left = chance(g, 0.4); /* W @ A */
  RShape ws, s;
  int k = left ? a->s.d[0] : a->s.d[r - 1];
  if (r == 3 && left) { /* W's batch: the same or 1 (broadcast, as torch.matmul) */
    k = a->s.d[1];
    ws = (RShape){3, {chance(g, 0.5) ? 1 : a->s.d[0], m, k}}, s = (RShape){3, {a->s.d[0], m, a->s.d[2]}};
  } else if (r == 3) { /* the weight's batch: the same, 1, or none */
    int form = pick(g, 3);
    ws = form == 2 ? (RShape){2, {k, m}} : (RShape){3, {form ? 1 : a->s.d[0], k, m}};
    s = (RShape){3, {a->s.d[0], a->s.d[1], m}};
  }
  else if (left && r == 1) ws = (RShape){2, {m, k}}, s = (RShape){1, {m}};
  else if (left) ws = (RShape){2, {m, k}}, s = (RShape){2, {m, a->s.d[1]}};
  else if (r == 2 && chance(g, 0.2)) ws = (RShape){1, {k}}, s = (RShape){1, {a->s.d[0]}};
  else if (r == 1) ws = (RShape){2, {k, m}}, s = (RShape){1, {m}};
  else ws = (RShape){2, {k, m}}, s = (RShape){2, {a->s.d[0], m}};
  RVal *w = leaf(g, ws, true);
  w->mag = 1;
  return stmt(g, s, a->mag * k, left ? "B @ A" : "A @ B", a, w);
}

static RVal *gen_softmax(Gen *g) {
  RVal *a = operand(g);
  if (a->s.rank == 0) return NULL;
  bool log = chance(g, 0.5);
  char tmpl[64];
  if (chance(g, 0.5)) snprintf(tmpl, sizeof tmpl, "%s(A)", log ? "log_softmax" : "softmax");
  else snprintf(tmpl, sizeof tmpl, "%s(A, axis=%d)", log ? "log_softmax" : "softmax", pick(g, a->s.rank));
  return stmt(g, a->s, log ? 2 * a->mag + 3 : 1, tmpl, a, NULL);
}

/* normalization (issue 15): layer_norm over the last axis (or the last two) with new
 * weight and bias, group_norm of a value of rank >= 2 in one group or one per channel.
 * eps is large: a row of nearly equal values (relu's zeros) would otherwise magnify
 * rounding into the gradient by 1/sqrt(eps). */
/* ---- batch norm and buffers (issue 15): batch_norm of a value [N, C, *] with two new
 * buffers (running statistics, updated by the training entries) and a new weight ---- */
static RVal *gen_batch_norm(Gen *g, RVal *a) {
  int c = a->s.d[1];
  if (count(a->s) / c < 2 || g->nv >= RM_MAXV - 4) return NULL;
  char t[32], tmpl[160];
  snprintf(t, sizeof t, "[%d]", c);
  int k = g->nleaves++;
  rm_append(g->decl, sizeof g->decl, "buffer rm%d : f32%s\nbuffer rv%d : f32%s = ones\n", k, t, k, t);
  RVal *w = leaf(g, (RShape){1, {c}}, true);
  w->mag = 3;
  snprintf(tmpl, sizeof tmpl, "batch_norm(A, rm%d, rv%d, B, momentum=0.2, eps=0.5)", k, k);
  return stmt(g, a->s, 3 * sqrt((double)count(a->s)), tmpl, a, w);
}

static RVal *gen_norm(Gen *g) {
  RVal *a = operand(g);
  int r = a->s.rank;
  if (r == 0 || a->s.d[r - 1] < 2) return NULL;
  char tmpl[160];
  if (r >= 2 && chance(g, 0.25)) return gen_batch_norm(g, a);
  if (r >= 2 && chance(g, 0.4)) {
    int groups = chance(g, 0.5) ? 1 : a->s.d[1];
    RVal *w = leaf(g, (RShape){1, {a->s.d[1]}}, true);
    w->mag = 3;
    snprintf(tmpl, sizeof tmpl, "group_norm(A, %d, B, eps=0.5)", groups);
    return stmt(g, a->s, 3 * sqrt((double)count(a->s)), tmpl, a, w);
  }
  int k = r >= 2 && chance(g, 0.3) ? 2 : 1;
  RShape ns = {k, {0}};
  char t[64];
  for (int i = 0; i < k; i++) ns.d[i] = a->s.d[r - k + i];
  shape_text(ns, t, sizeof t);
  RVal *w = leaf(g, ns, true), *b = leaf(g, ns, true);
  w->mag = 3, b->uses++;
  snprintf(tmpl, sizeof tmpl, "layer_norm(A, %s, weight=B, bias=%s, eps=0.5)", t, b->name);
  return stmt(g, a->s, 3 * sqrt((double)count(ns)) + 3, tmpl, a, w);
}

/* ---- attention (issue 15) ---- */
/* tril/triu of a value of rank >= 2; masked_fill by a mask from an input; or
 * scaled_dot_product_attention with the value as queries and new keys and values (another
 * number of keys, another value width, maybe causal). */
static RVal *gen_attn(Gen *g) {
  RVal *a = operand(g);
  int r = a->s.rank;
  if (r < 2 || r > 4) return NULL;
  char tmpl[160];
  int what = pick(g, 3);
  if (what == 0) {
    snprintf(tmpl, sizeof tmpl, "%s(A, diagonal=%d)", chance(g, 0.5) ? "tril" : "triu", pick(g, 3) - 1);
    return stmt(g, a->s, a->mag, tmpl, a, NULL);
  }
  if (what == 1) {
    RVal *m = leaf(g, a->s, false);
    snprintf(tmpl, sizeof tmpl, "masked_fill(A, B > 0.5, %s)", chance(g, 0.5) ? "-0.25" : "2");
    return stmt(g, a->s, a->mag + 2, tmpl, a, m);
  }
  RShape ks = a->s, vs = a->s, os = a->s;
  ks.d[r - 2] = vs.d[r - 2] = chance(g, 0.5) ? a->s.d[r - 2] : 1 + pick(g, 5);
  vs.d[r - 1] = os.d[r - 1] = 1 + pick(g, 5);
  RVal *k = leaf(g, ks, true), *v = leaf(g, vs, chance(g, 0.5));
  k->mag = 1, v->uses++;
  snprintf(tmpl, sizeof tmpl, "scaled_dot_product_attention(A, B, %s%s)", v->name, chance(g, 0.5) ? ", causal=true" : "");
  return stmt(g, os, 3, tmpl, a, k);
}

/* ---- dropout and modes (issue 15): dropout in training mode; the check runs the three
 * engines with one step seed (rm_check), so the masks agree ---- */
static RVal *gen_dropout(Gen *g) {
  static const double ps[] = {0.2, 0.5, 0.7};
  double p = ps[pick(g, 3)];
  RVal *a = operand(g);
  char tmpl[48];
  snprintf(tmpl, sizeof tmpl, "dropout(A, p=%g)", p);
  return stmt(g, a->s, a->mag / (1 - p), tmpl, a, NULL);
}

static RVal *gen_window2(Gen *g);

/* conv2d with a new weight (and bias), or a pool, of a 4-D value; or one of issue 15's
 * (gen_window2). */
static RVal *gen_window(Gen *g) {
  if (chance(g, 0.4)) return gen_window2(g);
  RVal *a = NULL;
  for (int i = g->nv - 1; i >= 0 && !a; i--)
    if (g->v[i].s.rank == 4) a = &g->v[i];
  if (!a) return NULL;
  int h = a->s.d[2], w = a->s.d[3], k = 1 + pick(g, 3), stride = 1 + pick(g, 2), pad = pick(g, 2);
  char tmpl[96];
  if (chance(g, 0.5)) { /* conv2d */
    if (k > h + 2 * pad || k > w + 2 * pad) return NULL;
    int o = 1 + pick(g, 3);
    RShape s = {4, {a->s.d[0], o, (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1}};
    RVal *wt = leaf(g, (RShape){4, {o, a->s.d[1], k, k}}, true);
    wt->mag = 1;
    if (chance(g, 0.5)) {
      RVal *b = leaf(g, (RShape){1, {o}}, true);
      b->uses++;
      snprintf(tmpl, sizeof tmpl, "conv2d(A, B, %s, stride=%d, padding=%d)", b->name, stride, pad);
    } else {
      snprintf(tmpl, sizeof tmpl, "conv2d(A, B, stride=%d, padding=%d)", stride, pad);
    }
    return stmt(g, s, a->mag * a->s.d[1] * k * k + 3, tmpl, a, wt);
  }
  if (k > h || k > w) return NULL;
  RShape s = {4, {a->s.d[0], a->s.d[1], (h - k) / stride + 1, (w - k) / stride + 1}};
  snprintf(tmpl, sizeof tmpl, "%s(A, %d, stride=%d)", chance(g, 0.5) ? "max_pool2d" : "avg_pool2d", k, stride);
  return stmt(g, s, a->mag, tmpl, a, NULL);
}

/* ---- convolution and pooling (issue 15): groups, dilation, "same", padded pools,
 * conv_transpose2d, global average pooling, of the last 4-D value. */
static RVal *gen_window2(Gen *g) {
  RVal *a = NULL;
  for (int i = g->nv - 1; i >= 0 && !a; i--)
    if (g->v[i].s.rank == 4) a = &g->v[i];
  if (!a) return NULL;
  int n = a->s.d[0], c = a->s.d[1], h = a->s.d[2], w = a->s.d[3], k = 1 + pick(g, 3), d = 1 + pick(g, 2);
  char tmpl[128];
  int kind = pick(g, 5);
  switch (kind) {
  case 0: { /* grouped (depthwise when groups = c), dilated, padding "same" or a number */
    int groups = chance(g, 0.5) ? c : 1, o = groups * (1 + pick(g, 2));
    bool same = chance(g, 0.5);
    int pad = same ? 0 : pick(g, 2), span = d * (k - 1) + 1;
    if (!same && (span > h + 2 * pad || span > w + 2 * pad)) return NULL;
    RShape s = {4, {n, o, same ? h : h + 2 * pad - span + 1, same ? w : w + 2 * pad - span + 1}};
    RVal *wt = leaf(g, (RShape){4, {o, c / groups, k, k}}, true);
    wt->mag = 1;
    if (same) snprintf(tmpl, sizeof tmpl, "conv2d(A, B, padding=\"same\", dilation=%d, groups=%d)", d, groups);
    else snprintf(tmpl, sizeof tmpl, "conv2d(A, B, padding=%d, dilation=%d, groups=%d)", pad, d, groups);
    return stmt(g, s, a->mag * (c / groups) * k * k + 3, tmpl, a, wt);
  }
  case 1: { /* conv_transpose2d */
    int st = 1 + pick(g, 2), pad = pick(g, k), op = pick(g, st), o = 1 + pick(g, 3);
    int oh = (h - 1) * st - 2 * pad + k + op, ow = (w - 1) * st - 2 * pad + k + op;
    if (oh < 1 || ow < 1) return NULL;
    RVal *wt = leaf(g, (RShape){4, {c, o, k, k}}, true);
    wt->mag = 1;
    snprintf(tmpl, sizeof tmpl, "conv_transpose2d(A, B, stride=%d, padding=%d, output_padding=%d)", st, pad, op);
    return stmt(g, (RShape){4, {n, o, oh, ow}}, a->mag * c * k * k + 3, tmpl, a, wt);
  }
  case 2: { /* a padded pool */
    int st = 1 + pick(g, 2), pad = pick(g, k / 2 + 1);
    if (k > h + 2 * pad || k > w + 2 * pad) return NULL;
    RShape s = {4, {n, c, (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1}};
    snprintf(tmpl, sizeof tmpl, "%s(A, %d, stride=%d, padding=%d)", chance(g, 0.5) ? "max_pool2d" : "avg_pool2d", k,
             st, pad);
    return stmt(g, s, a->mag, tmpl, a, NULL);
  }
  default:
    return stmt(g, (RShape){4, {n, c, 1, 1}}, a->mag, kind == 3 ? "global_avg_pool(A)" : "adaptive_avg_pool2d(A, 1)", a,
                NULL);
  }
}

/* ---- indexing and assembling (issue 15): concat/stack with a new leaf or itself,
 * narrow, constant pad of the last axis, repeat, unsqueeze then squeeze. */
static RVal *gen_index(Gen *g) {
  RVal *a = operand(g), *b = NULL;
  int r = a->s.rank;
  if (r == 0) return NULL;
  RShape s = a->s;
  char tmpl[128];
  int ax = pick(g, r), form = pick(g, 6);
  if (form == 0) { /* concat with a new leaf of another size along ax, or with itself */
    RShape bs = a->s;
    bs.d[ax] = 1 + pick(g, 3);
    b = chance(g, 0.3) ? a : leaf(g, bs, chance(g, 0.5));
    s.d[ax] += b->s.d[ax];
    snprintf(tmpl, sizeof tmpl, "%s([A, B], axis=%d)", chance(g, 0.5) ? "concat" : "cat", chance(g, 0.5) ? ax - r : ax);
    return stmt(g, s, fmax(a->mag, b->mag), tmpl, a, b);
  }
  if (form == 1 && r < 4) { /* stack with itself */
    int at = pick(g, r + 1);
    for (int d = r; d > at; d--) s.d[d] = s.d[d - 1];
    s.d[at] = 2, s.rank++;
    snprintf(tmpl, sizeof tmpl, "stack([A, A * 0.5], axis=%d)", at);
    return stmt(g, s, a->mag, tmpl, a, NULL);
  }
  if (form == 2) { /* narrow */
    int len = 1 + pick(g, s.d[ax]), start = pick(g, s.d[ax] - len + 1);
    s.d[ax] = len;
    snprintf(tmpl, sizeof tmpl, "narrow(A, %d, %d, %d)", ax, start, len);
    return stmt(g, s, a->mag, tmpl, a, NULL);
  }
  if (form == 3) { /* constant pad of the last axis */
    int lo = pick(g, 3), hi = pick(g, 3);
    s.d[r - 1] += lo + hi;
    snprintf(tmpl, sizeof tmpl, "pad(A, [%d, %d], value=0.25)", lo, hi);
    return stmt(g, s, a->mag + 0.25, tmpl, a, NULL);
  }
  if (form == 4) { /* repeat */
    snprintf(tmpl, sizeof tmpl, "repeat(A, [");
    for (int d = 0; d < r; d++) {
      int k = 1 + pick(g, 2);
      s.d[d] *= k;
      rm_append(tmpl, sizeof tmpl, "%s%d", d ? ", " : "", k);
    }
    rm_append(tmpl, sizeof tmpl, "])");
    return stmt(g, s, a->mag, tmpl, a, NULL);
  }
  if (r >= 4) return NULL;
  snprintf(tmpl, sizeof tmpl, "squeeze(unsqueeze(A, %d), %d) * 2", ax, ax);
  return stmt(g, s, 2 * a->mag, tmpl, a, NULL);
}

/* ---- indexing II (issue 15): embedding / gather by a new i32 input (its values drawn in
 * range: the descriptor's classes; sometimes through int(float(ids))), x[...] with ints, negative and clamped bounds and
 * steps, `a, b = chunk(..)`, reflect / replicate pads of the last axis. */
static RVal *gen_index2(Gen *g) {
  RVal *a = operand(g);
  int r = a->s.rank, form = pick(g, 5);
  if (r == 0 || (form <= 1 && r + (form == 0) > 4)) return NULL;
  RShape s = a->s;
  char tmpl[160], t[64];
  if (form <= 1) { /* embedding(ids, A) of a 2-D A, or gather(A, ax, ix) */
    int ax = pick(g, r), n = 1 + pick(g, 3);
    if (form == 0 && r != 2) return NULL;
    RShape is = form == 0 ? (RShape){1 + pick(g, 2), {n, 2, 0, 0}} : a->s;
    if (form == 1) is.d[ax] = 1 + pick(g, 4);
    shape_text(is, t, sizeof t);
    rm_append(g->decl, sizeof g->decl, "input ids%d : i32%s\n", g->nleaves, t);
    if (form == 0) s = is, s.d[s.rank++] = a->s.d[1];
    else s = is;
    int k = g->nleaves;
    if (!chance(g, 0.3))
      snprintf(tmpl, sizeof tmpl, form == 0 ? "embedding(ids%d, A)" : "gather(A, %d, ids%d)", form == 0 ? k : ax, k);
    else if (form == 0) /* the ids also through both dtype conversions (issue 16): exact either way */
      snprintf(tmpl, sizeof tmpl, "embedding(ids%d, A) - embedding(int(float(ids%d)), A) * 0.5", k, k);
    else
      snprintf(tmpl, sizeof tmpl, "gather(A, %d, ids%d) - gather(A, %d, int(float(ids%d) + 0.5)) * 0.5", ax, k, ax, k);
    g->nleaves++;
    return stmt(g, s, a->mag, tmpl, a, NULL);
  }
  if (form == 2) { /* A[...] */
    RShape o = {0, {0}};
    snprintf(tmpl, sizeof tmpl, "A[");
    for (int d = 0; d < r; d++) {
      int n = s.d[d], k = pick(g, 4), lo = pick(g, n), step = 1 + pick(g, 2);
      const char *sep = d ? ", " : "";
      if (k == 0) rm_append(tmpl, sizeof tmpl, "%s%d", sep, chance(g, 0.5) ? lo : lo - n); /* drops the axis */
      else if (k == 1) rm_append(tmpl, sizeof tmpl, "%s:", sep), o.d[o.rank++] = n;
      else if (k == 2) rm_append(tmpl, sizeof tmpl, "%s%d:%d:%d", sep, lo - n, n + 3, step), o.d[o.rank++] = (n - lo + step - 1) / step;
      else rm_append(tmpl, sizeof tmpl, "%s::%d", sep, step), o.d[o.rank++] = (n + step - 1) / step;
    }
    rm_append(tmpl, sizeof tmpl, "]");
    return o.rank ? stmt(g, o, a->mag, tmpl, a, NULL) : NULL;
  }
  int ax = pick(g, r);
  if (form == 3 && s.d[ax] >= 2 && g->nv + 2 < RM_MAXV && a->mag < RM_MAXMAG) { /* two names */
    RVal *p = add_val(g, "v", g->nvals++, s, a->mag, true), *q = add_val(g, "v", g->nvals++, s, a->mag, true);
    p->s.d[ax] = (s.d[ax] + 1) / 2, q->s.d[ax] = s.d[ax] - p->s.d[ax];
    a->uses++;
    rm_append(g->body, sizeof g->body, "%s, %s = chunk(%s, 2, axis=%d)\n", p->name, q->name, a->name, ax);
    return q;
  }
  int lo = pick(g, s.d[r - 1]), hi = pick(g, s.d[r - 1]); /* reflect: pads < size */
  bool rep = chance(g, 0.5);
  if (rep) lo += pick(g, 2), hi += pick(g, 3);
  s.d[r - 1] += lo + hi;
  snprintf(tmpl, sizeof tmpl, "pad(A, [%d, %d], mode=\"%s\")", lo, hi, rep ? "replicate" : "reflect");
  return stmt(g, s, a->mag, tmpl, a, NULL);
}

/* One term of the loss, from value a. */
static void loss_term(Gen *g, RVal *a, char *loss, size_t size) {
  char t[256];
  RVal *c;
  int kind = a->s.rank == 0 ? 5 : pick(g, a->s.rank == 2 && a->s.d[1] > 1 ? 5 : 4);
  if (kind != 5 && chance(g, 0.4)) kind = 6 + pick(g, a->s.rank == 2 && a->s.d[1] > 1 ? 6 : 3); /* issue 15's */
  static const char *const reductions[] = {"", ", reduction=\"sum\""};
  const char *red = reductions[pick(g, 2)];
  switch (kind) {
  case 0:
    c = leaf(g, partner_shape(g, a->s), false);
    RShape s;
    if (!broadcast(a->s, c->s, &s)) c = leaf(g, a->s, false);
    snprintf(t, sizeof t, "sum(%s * %s)", a->name, c->name);
    break;
  case 1: snprintf(t, sizeof t, "mean(%s * %s)", a->name, a->name); break;
  case 2: snprintf(t, sizeof t, "mse(%s, %s)", a->name, leaf(g, a->s, false)->name); break;
  case 3: snprintf(t, sizeof t, "bce_with_logits(%s, %s)", a->name, leaf(g, a->s, false)->name); break;
  case 4:
    c = add_val(g, "label", g->nleaves++, (RShape){1, {a->s.d[0]}}, 0, false);
    rm_append(g->decl, sizeof g->decl, "input %s : i32[%d]\n", c->name, a->s.d[0]);
    snprintf(t, sizeof t, "cross_entropy(%s, %s)", a->name, c->name);
    break;
  case 6: snprintf(t, sizeof t, "l1_loss(%s, %s%s)", a->name, leaf(g, a->s, false)->name, red); break;
  case 7: {
    bool huber = chance(g, 0.5);
    c = leaf(g, a->s, false);
    snprintf(t, sizeof t, "%s(%s, %s%s, %s=0.5)", huber ? "huber_loss" : "smooth_l1_loss", a->name, c->name, red,
             huber ? "delta" : "beta");
    break;
  }
  case 8:
    snprintf(t, sizeof t, "mean(kl_div(log_softmax(%s), softmax(%s), reduction=\"none\"))", a->name,
             leaf(g, a->s, false)->name);
    break;
  case 9:
  case 10:
  case 11:
    c = add_val(g, "label", g->nleaves++, (RShape){1, {a->s.d[0]}}, 0, false);
    rm_append(g->decl, sizeof g->decl, "input %s : i32[%d]\n", c->name, a->s.d[0]);
    if (kind == 9) snprintf(t, sizeof t, "nll_loss(log_softmax(%s), %s%s)", a->name, c->name, red);
    else if (kind == 10) {
      RVal *w = leaf(g, (RShape){1, {a->s.d[1]}}, false); /* class weights w * w + 0.5 */
      snprintf(t, sizeof t, "cross_entropy(%s, %s, %s * %s + 0.5, label_smoothing=0.1)", a->name, c->name, w->name,
               w->name);
    } else
      snprintf(t, sizeof t, "cross_entropy(%s, softmax(%s), reduction=\"sum\")", a->name, leaf(g, a->s, false)->name);
    break;
  default: snprintf(t, sizeof t, "%s", a->name);
  }
  a->uses++;
  rm_append(loss, size, "%s%s", *loss ? " + " : "", t);
}

/* A computed value, preferring those nothing reads yet. */
static RVal *result(Gen *g) {
  for (int tries = 0; tries < 8; tries++) {
    RVal *v = &g->v[pick(g, g->nv)];
    if (v->computed && (v->uses == 0 || tries >= 4)) return v;
  }
  for (int i = g->nv - 1; i >= 0; i--)
    if (g->v[i].computed) return &g->v[i];
  return NULL;
}

void rm_generate(uint64_t seed, char *buf, size_t size) {
  Gen *g = calloc(1, sizeof *g);
  g->state = seed * 0x2545F4914F6CDD1Dull + 1;
  if (chance(g, 0.3)) { /* an image for convolutions and pools */
    RShape img = {4, {1 + pick(g, 2), 1 + pick(g, 3), 4 + pick(g, 4), 4 + pick(g, 4)}};
    leaf(g, img, chance(g, 0.3));
  }
  for (int n = 1 + pick(g, 3), i = 0; i < n; i++) leaf(g, random_shape(g), i == 0 || chance(g, 0.5));
  static RVal *(*const gens[])(Gen *) = {gen_unary,     gen_unary,  gen_unary,  gen_binary,  gen_binary, gen_binary, gen_reduce,
                                         gen_reduce,    gen_reshape, gen_transpose, gen_matmul, gen_softmax, gen_window,
                                         gen_window,    gen_stats,   gen_index,
                                         gen_elem,      gen_norm,
                                         gen_attn /* attention (issue 15) */,
                                         gen_index2 /* ---- indexing II (issue 15) ---- */,
                                         gen_dropout /* ---- dropout and modes (issue 15) ---- */};
  int want = 3 + pick(g, 8), made = 0;
  for (int tries = 0; made < want && tries < 100 && g->nv < RM_MAXV - 8; tries++)
    made += gens[pick(g, sizeof gens / sizeof gens[0])](g) != NULL;
  if (!made) stmt(g, g->v[g->nv - 1].s, 1, "tanh(A)", &g->v[g->nv - 1], NULL);
  char loss[1024] = "", outputs[256] = "";
  for (int n = 1 + pick(g, 2), i = 0; i < n; i++) loss_term(g, result(g), loss, sizeof loss);
  RVal *first = result(g), *second = result(g);
  rm_append(outputs, sizeof outputs, "%s", first->name);
  if (second != first && chance(g, 0.5)) rm_append(outputs, sizeof outputs, ", %s", second->name);
  RVal *src = &g->v[pick(g, g->nv)]; /* an i32 output: the index of a max or min (issue 15) */
  if (!src->computed && src->s.rank > 0 && (src->name[0] == 'p' || src->name[0] == 'x') && chance(g, 0.5)) {
    /* of a leaf's (random normal) values, kept in order: a computed value's near ties would
     * be ordered by rounding (float32 here, float64 in the reference) */
    int axis = pick(g, src->s.rank + 1) - 1;
    char ax[24] = "";
    if (axis >= 0) snprintf(ax, sizeof ax, ", axis=%d", axis);
    rm_append(g->body, sizeof g->body, "idx = %s(%s * 3 - 1%s)\n", chance(g, 0.5) ? "argmax" : "argmin", src->name, ax);
    rm_append(outputs, sizeof outputs, ", idx");
  }
  snprintf(buf, size, "model r\n%s%sloss = %s\noutput %s\nminimize loss\n", g->decl, g->body, loss, outputs);
  free(g);
}
