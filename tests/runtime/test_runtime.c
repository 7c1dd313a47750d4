/* tests/runtime/test_runtime.c — Criterion tests of the runtime (gradcrt and
 * gradcrt_core) against the hand-written fake model (tests/runtime/fake_model.c) and
 * its broken variants: open/close and errors, descriptor parsing, lookup, init and the
 * generator, forward/backward, SGD versus torch.optim.SGD semantics, and safetensors
 * save/load with every rejection leaving the parameters untouched.
 *
 * It does not test the compiler or generated code. Paths of the fake shared objects
 * come from compile definitions (FAKE_SO and friends). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "descriptor_parse.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"

/* ---- fixtures and helpers ---- */

#define SCRATCH_TAG "rt"
#include "../support/scratch_dir.h"

static gradc_model *open_fake(void) {
  char err[512];
  gradc_model *m = gradc_open(FAKE_SO, err, sizeof err);
  cr_assert_not_null(m, "gradc_open: %s", err);
  return m;
}

static float *T(gradc_model *m, const char *name) {
  float *p = gradc_tensor(m, name, NULL);
  cr_assert_not_null(p, "tensor %s", name);
  return p;
}

static void set4(float *p, float a, float b, float c, float d) {
  p[0] = a, p[1] = b, p[2] = c, p[3] = d;
}

/* Snapshot of all params (w[4], b, s[2]) to check that a failed load changed nothing. */
typedef struct {
  float v[7];
} params;

static params snapshot(gradc_model *m) {
  params p;
  memcpy(p.v, T(m, "w"), 16);
  memcpy(p.v + 4, T(m, "b"), 4);
  memcpy(p.v + 5, T(m, "s"), 8);
  return p;
}

static void assert_same_params(gradc_model *m, params before) {
  params now = snapshot(m);
  cr_assert(memcmp(now.v, before.v, sizeof now.v) == 0, "parameters changed by a failed load");
}

/* ---- open, close, introspection ---- */

Test(open, fake_model_metadata) {
  gradc_model *m = open_fake();
  cr_assert_str_eq(gradc_model_name(m), "fake");
  cr_assert_eq(gradc_num_tensors(m), 5);
  cr_assert(gradc_has_loss(m));
  cr_assert(gradc_has_backward(m));
  const gradc_tensor_info *w = gradc_tensor_at(m, 1);
  cr_assert_str_eq(w->name, "w");
  cr_assert_eq(w->role, GRADC_ROLE_PARAM);
  cr_assert_eq(w->dtype, GRADC_F32);
  cr_assert_eq(w->rank, 1);
  cr_assert_eq(w->shape[0], 4);
  cr_assert(w->trainable);
  const gradc_tensor_info *b = gradc_tensor_at(m, 2);
  cr_assert_eq(b->rank, 0);
  cr_assert_eq(b->count, 1);
  cr_assert(!gradc_tensor_at(m, 3)->trainable);
  cr_assert_eq(gradc_tensor_at(m, 4)->role, GRADC_ROLE_OUTPUT);
  cr_assert_null(gradc_tensor_at(m, 5));
  gradc_close(m);
  gradc_close(NULL);
}

Test(open, lookup_counts_and_unknown_names) {
  gradc_model *m = open_fake();
  size_t n = 99;
  const char *names[] = {"x", "w", "b", "s", "y"};
  size_t counts[] = {4, 4, 1, 2, 4};
  for (int i = 0; i < 5; i++) {
    void *p = gradc_tensor(m, names[i], &n);
    cr_assert_not_null(p, "%s", names[i]);
    cr_assert_eq(n, counts[i], "%s", names[i]);
    cr_assert_eq((uintptr_t)p % 64, 0, "%s is not 64-byte aligned", names[i]);
  }
  cr_assert_null(gradc_tensor(m, "nope", &n));
  cr_assert_eq(n, 0);
  cr_assert_null(gradc_tensor(m, NULL, &n));
  cr_assert_not_null(gradc_grad(m, "w", &n));
  cr_assert_eq(n, 4);
  cr_assert_not_null(gradc_grad(m, "b", &n));
  cr_assert_eq(n, 1);
  cr_assert_null(gradc_grad(m, "s", &n), "frozen param has a grad");
  cr_assert_null(gradc_grad(m, "x", NULL));
  cr_assert_null(gradc_grad(m, "y", NULL));
  cr_assert_null(gradc_grad(m, "nope", NULL));
  gradc_close(m);
}

static void expect_open_error(const char *path, const char *needle) {
  char err[512] = "unset";
  gradc_model *m = gradc_open(path, err, sizeof err);
  cr_assert_null(m, "%s opened", path);
  cr_assert(strstr(err, needle), "error for %s: \"%s\" lacks \"%s\"", path, err, needle);
}

Test(open, errors) {
  expect_open_error("/nonexistent/dir/model.so", "/nonexistent/dir/model.so");
  expect_open_error("no_such_model.so", "no_such_model.so");
  expect_open_error(FAKE_NODESC_SO, "gradc_model_descriptor");
  expect_open_error(FAKE_BADVER_SO, "version 2");
  expect_open_error(FAKE_BADJSON_SO, "malformed JSON");
  expect_open_error(FAKE_MISSING_SO, "entry point 'fake_missing' not found");
  expect_open_error(FAKE_NOPARALLEL_SO, "function 'fake_set_parallel' not found");
  char err[8];
  cr_assert_null(gradc_open(NULL, err, sizeof err)); /* a short buffer is fine */
  cr_assert_null(gradc_open(FAKE_NODESC_SO, NULL, 0));
}

Test(open, inference_variant) {
  char err[512];
  gradc_model *m = gradc_open(FAKE_INFER_SO, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  cr_assert(!gradc_has_loss(m));
  cr_assert(!gradc_has_backward(m));
  cr_assert_eq(gradc_init(m, 1), 0);
  set4(T(m, "x"), 1, 2, 3, 4);
  cr_assert_eq(gradc_forward(m), 0);
  float *w = T(m, "w"), *y = T(m, "y");
  for (int i = 0; i < 4; i++) cr_assert_float_eq(y[i], (float)(i + 1) * w[i] + 0.5f, 1e-6);
  cr_assert(isnan(gradc_loss(m)));
  cr_assert_lt(gradc_backward(m), 0);
  cr_assert(strstr(gradc_error(m), "no backward"), "%s", gradc_error(m));
  cr_assert_lt(gradc_train_step(m, 0.1f), 0);
  gradc_close(m);
}

/* ---- descriptor parsing ---- */

#define GOOD_TENSORS                                                                             \
  "\"tensors\":[{\"name\":\"x\",\"role\":\"input\",\"dtype\":\"f32\",\"shape\":[2,3]},"         \
  "{\"name\":\"lab\",\"role\":\"input\",\"dtype\":\"i32\",\"shape\":[2]},"                      \
  "{\"name\":\"w\",\"role\":\"param\",\"dtype\":\"f32\",\"shape\":[3],"                         \
  "\"init\":{\"kind\":\"uniform\",\"lo\":-1,\"hi\":1}},"                                        \
  "{\"name\":\"z\",\"role\":\"output\",\"dtype\":\"f32\",\"shape\":[2]}]"

static const char *good_desc =
    "{\"gradc\":1,\"model\":\"m\",\"workspace_bytes\":128,\"loss\":\"loss\"," GOOD_TENSORS
    ",\"entries\":[{\"name\":\"m_forward\",\"kind\":\"forward\","
    "\"args\":[\"input:x\",\"input:lab\",\"param:w\",\"output:z\",\"loss\",\"workspace\"]},"
    "{\"name\":\"m_backward\",\"kind\":\"backward\",\"args\":[\"input:x\",\"input:lab\",\"param:w\","
    "\"grad:w\",\"output:z\",\"loss\",\"workspace\"]},"
    "{\"name\":\"m_other\",\"kind\":\"fused\",\"args\":[42]}]}";

Test(descriptor, parses_a_good_descriptor) {
  gradc_desc d;
  char err[256] = "";
  cr_assert_eq(gradc_desc_parse(good_desc, &d, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(d.model, "m");
  cr_assert_str_eq(d.loss, "loss");
  cr_assert_eq(d.workspace_bytes, 128);
  cr_assert_eq(d.ntensors, 4);
  cr_assert_eq(d.tensors[0].info.count, 6);
  cr_assert_eq(d.tensors[1].info.dtype, GRADC_I32);
  cr_assert(d.tensors[2].info.trainable, "trainable defaults to true for params");
  cr_assert_eq(d.tensors[2].init.kind, GRADC_INIT_UNIFORM);
  cr_assert_eq(d.tensors[2].init.a, -1.0);
  cr_assert_eq(d.tensors[2].init.b, 1.0);
  cr_assert_eq(d.nentries, 3);
  const gradc_entry_desc *b = gradc_desc_entry(&d, GRADC_ENTRY_BACKWARD);
  cr_assert_not_null(b);
  cr_assert_eq(b->nargs, 7);
  cr_assert_eq(b->args[3].kind, GRADC_ARG_GRAD);
  cr_assert_eq(b->args[3].tensor, 2);
  cr_assert_eq(b->args[5].kind, GRADC_ARG_LOSS);
  cr_assert_eq(d.entries[2].kind, GRADC_ENTRY_OTHER);
  gradc_desc_free(&d);
}

/* Replace the first occurrence of from with to in good_desc. */
static char *variant(const char *from, const char *to) {
  const char *p = strstr(good_desc, from);
  cr_assert_not_null(p, "pattern %s", from);
  size_t n = strlen(good_desc) + strlen(to) + 1;
  char *s = malloc(n);
  snprintf(s, n, "%.*s%s%s", (int)(p - good_desc), good_desc, to, p + strlen(from));
  return s;
}

static void expect_bad(const char *from, const char *to, const char *needle) {
  char *text = variant(from, to);
  gradc_desc d;
  char err[256] = "";
  int rc = gradc_desc_parse(text, &d, err, sizeof err);
  cr_assert_lt(rc, 0, "accepted: %s", text);
  cr_assert(strstr(err, needle), "for %s: \"%s\" lacks \"%s\"", text, err, needle);
  cr_assert_eq(d.ntensors, 0);
  gradc_desc_free(&d);
  free(text);
}

Test(descriptor, rejects_bad_descriptors) {
  expect_bad("\"gradc\":1", "\"gradc\":2", "version 2");
  expect_bad("\"gradc\":1", "\"gradc\":\"1\"", "version");
  expect_bad("\"gradc\":1,", "", "missing \"gradc\"");
  expect_bad("\"model\":\"m\"", "\"model\":\"1m\"", "C identifier");
  expect_bad("\"model\":\"m\"", "\"model\":7", "\"model\" must be a string");
  expect_bad("\"workspace_bytes\":128", "\"workspace_bytes\":-1", "workspace_bytes");
  expect_bad("\"workspace_bytes\":128", "\"workspace_bytes\":1.5", "workspace_bytes");
  expect_bad("\"loss\":\"loss\",", "", "missing \"loss\"");
  expect_bad("\"shape\":[2,3]", "\"shape\":[2,0]", "dimension 1 must be a positive integer");
  expect_bad("\"shape\":[2,3]", "\"shape\":[2,-3]", "positive integer");
  expect_bad("\"shape\":[2,3]", "\"shape\":[2,\"3\"]", "positive integer");
  expect_bad("\"shape\":[2,3]", "\"shape\":3", "\"shape\" must be an array");
  expect_bad("\"shape\":[2,3]", "\"shape\":[1,1,1,1,1,1,1,1,1]", "rank 9");
  expect_bad("\"shape\":[2,3]", "\"shape\":[4294967296,4294967296,4294967296]", "overflow");
  expect_bad("\"role\":\"input\"", "\"role\":\"weight\"", "unknown role");
  expect_bad("\"dtype\":\"f32\"", "\"dtype\":\"f64\"", "unknown dtype");
  expect_bad("\"name\":\"w\",\"role\":\"param\",\"dtype\":\"f32\"",
             "\"name\":\"w\",\"role\":\"param\",\"dtype\":\"i32\"", "a parameter must be f32");
  expect_bad("\"name\":\"lab\"", "\"name\":\"x\"", "duplicate tensor name");
  expect_bad("\"name\":\"lab\",", "", "missing \"name\"");
  expect_bad("\"kind\":\"uniform\"", "\"kind\":\"gauss\"", "unknown init kind");
  expect_bad("\"hi\":1", "\"hi\":-2", "hi < lo");
  expect_bad("\"lo\":-1", "\"lo\":null", "\"lo\" must be a finite number");
  expect_bad("\"input:lab\",\"param:w\",\"output:z\"", "\"input:lab\",\"param:q\",\"output:z\"",
             "\"param:q\" names no tensor");
  expect_bad("\"input:lab\",\"param:w\",\"output:z\"", "\"input:lab\",\"param:x\",\"output:z\"",
             "is not a param");
  expect_bad("\"grad:w\"", "\"grad:x\"", "not a trainable param");
  expect_bad("\"grad:w\"", "\"gradient:w\"", "unknown argument");
  expect_bad("\"grad:w\"", "7", "must be a string");
  expect_bad("\"loss\":\"loss\"", "\"loss\":null", "no loss");
  expect_bad("\"kind\":\"forward\"", "\"kind\":\"backward\"", "second entry");
  expect_bad("\"kind\":\"forward\"", "\"kind\":\"fwd\"", "no \"forward\" entry");
  expect_bad("\"name\":\"m_forward\"", "\"name\":\"m forward\"", "C identifier");
  expect_bad("\"tensors\":[", "\"tensors\":7,\"t\":[", "\"tensors\" must be an array");
  expect_bad("{\"gradc\"", "[{\"gradc\"", "malformed JSON");
  expect_bad("\"fused\"", "\"fused\"}]}   trailing", "malformed JSON");
  expect_bad("\"workspace_bytes\":128,", "\"workspace_bytes\":128,\"parallel\":7,", "\"parallel\" must be a string");
  expect_bad("\"workspace_bytes\":128,", "\"workspace_bytes\":128,\"parallel\":\"m set\",", "C identifier");
}

Test(descriptor, parallel_names_the_runner_setter) {
  char *text = variant("\"workspace_bytes\":128,", "\"workspace_bytes\":128,\"parallel\":\"m_set_parallel\",");
  gradc_desc d;
  char err[256] = "";
  cr_assert_eq(gradc_desc_parse(text, &d, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(d.parallel, "m_set_parallel");
  gradc_desc_free(&d);
  free(text);
  cr_assert_eq(gradc_desc_parse(good_desc, &d, err, sizeof err), 0, "%s", err);
  cr_assert_null(d.parallel, "optional: absent means no parts");
  gradc_desc_free(&d);
}

Test(descriptor, rejects_odd_texts) {
  const char *texts[] = {"", "null", "[]", "{}", "{\"gradc\":1}", "\"x\"", "{\"gradc\":1e400}", "{{"};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    gradc_desc d;
    char err[128];
    cr_assert_lt(gradc_desc_parse(texts[i], &d, err, sizeof err), 0, "accepted %s", texts[i]);
    cr_assert(strstr(err, "invalid model descriptor"), "%s", err);
  }
  gradc_desc d;
  cr_assert_lt(gradc_desc_parse(NULL, &d, NULL, 0), 0);
}

/* ---- the core ---- */

Test(core, elementary_functions_match_libm) {
  for (int i = 1; i < 20000; i++) {
    double x = i * 1e-3 * (i % 3 ? 1.0 : 1e-7) + (i % 5 == 0 ? i * 1e2 : 0.0);
    double l = log(x);
    cr_assert(fabs(gradc_core_log(x) - l) <= 1e-15 * fabs(l) + 1e-300, "log(%g)", x);
    cr_assert(fabs(gradc_core_sqrt(x) - sqrt(x)) <= 1e-15 * sqrt(x), "sqrt(%g)", x);
    cr_assert(fabs(gradc_core_cos(x) - cos(x)) <= 2e-15, "cos(%g)", x);
    cr_assert(fabs(gradc_core_cos(-x) - cos(x)) <= 2e-15, "cos(-%g)", x);
  }
  cr_assert_eq(gradc_core_log(1.0), 0.0);
  cr_assert_eq(gradc_core_sqrt(0.0), 0.0);
  cr_assert_float_eq(gradc_core_log(0x1p-53), log(0x1p-53), 1e-13);
  cr_assert_float_eq(gradc_core_log(5e-324), log(5e-324), 1e-12); /* subnormal */
}

Test(core, generator_matches_its_documentation) {
  /* Golden values from an independent Python implementation of the generator as the
   * header documents it (splitmix64 keyed by mix64(seed) ^ fnv1a64(name)). */
  gradc_rng r;
  gradc_rng_seed(&r, 0, "");
  cr_assert_eq(gradc_rng_next(&r), 0xc3817c016ba4ff30ull);
  cr_assert_eq(gradc_rng_next(&r), 0x100cdaacc0bc9316ull);
  float w[4];
  gradc_init_spec normal = {GRADC_INIT_NORMAL, 1.0, 0.0};
  gradc_core_init_tensor(w, 4, &normal, 42, "w");
  const float wn[4] = {1.37457526f, 0.711362183f, 1.27080703f, -0.186484069f};
  for (int i = 0; i < 4; i++) cr_assert_float_eq(w[i], wn[i], 1e-6, "normal %d: %.9g", i, w[i]);
  gradc_init_spec uni = {GRADC_INIT_UNIFORM, -1.0, 3.0};
  gradc_core_init_tensor(w, 4, &uni, 7, "u");
  const float wu[4] = {0.00393353868f, 1.11245096f, -0.302087873f, -0.459539384f};
  for (int i = 0; i < 4; i++) cr_assert_float_eq(w[i], wu[i], 1e-6, "uniform %d: %.9g", i, w[i]);
}

Test(core, distributions) {
  enum { N = 200000 };
  static float v[N];
  gradc_init_spec normal = {GRADC_INIT_NORMAL, 2.0, 0.0};
  gradc_core_init_tensor(v, N, &normal, 3, "big");
  double s1 = 0, s2 = 0;
  for (int i = 0; i < N; i++) s1 += v[i], s2 += (double)v[i] * v[i];
  double mean = s1 / N, var = s2 / N - mean * mean;
  cr_assert(fabs(mean) < 0.03, "normal mean %g", mean);
  cr_assert(fabs(var - 4.0) < 0.08, "normal var %g", var);
  gradc_init_spec uni = {GRADC_INIT_UNIFORM, -3.0, 5.0};
  gradc_core_init_tensor(v, N, &uni, 3, "big");
  s1 = 0;
  for (int i = 0; i < N; i++) {
    cr_assert(v[i] >= -3.0f && v[i] <= 5.0f, "uniform value %g", v[i]);
    s1 += v[i];
  }
  cr_assert(fabs(s1 / N - 1.0) < 0.03, "uniform mean %g", s1 / N);
}

Test(core, sgd_plain_momentum_and_decay) {
  float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f}, buf[2] = {0, 0};
  gradc_sgd_opts o = {0.1f, 0.0f, 0.0f};
  gradc_core_sgd(p, g, NULL, 2, &o);
  cr_assert_float_eq(p[0], 0.95f, 1e-7);
  cr_assert_float_eq(p[1], -2.025f, 1e-7);
  o = (gradc_sgd_opts){0.1f, 0.9f, 0.01f};
  /* step 1: d = g + 0.01 p; buf = d; p -= 0.1 buf */
  float d0 = 0.5f + 0.01f * 0.95f;
  gradc_core_sgd(p, g, buf, 2, &o);
  cr_assert_float_eq(buf[0], d0, 1e-7);
  cr_assert_float_eq(p[0], 0.95f - 0.1f * d0, 1e-7);
  /* step 2: buf = 0.9 buf + d */
  float p1 = p[0], d1 = 0.5f + 0.01f * p1, b1 = 0.9f * d0 + d1;
  gradc_core_sgd(p, g, buf, 2, &o);
  cr_assert_float_eq(buf[0], b1, 1e-7);
  cr_assert_float_eq(p[0], p1 - 0.1f * b1, 1e-7);
  float z[3] = {1, 2, 3};
  gradc_core_zero(z, 3);
  cr_assert(z[0] == 0 && z[1] == 0 && z[2] == 0);
}

/* The interpreter of the optimizers' programs against torch.optim.SGD's formula written
 * out, bit for bit, for every combination of the guards, on a length that is not a
 * multiple of the interpreter's chunk. */
Test(core, sgd_program_matches_the_formula_bit_for_bit) {
  enum { N = 37 };
  const float mus[2] = {0, 0.9f}, wds[2] = {0, 0.01f};
  for (int c = 0; c < 4; c++) {
    float mu = mus[c & 1], wd = wds[c >> 1], lr = 0.05f;
    float p[N], g[N], buf[N], rp[N], rbuf[N];
    for (int i = 0; i < N; i++) {
      p[i] = rp[i] = (float)(i % 7) - 3.1f;
      g[i] = (float)(i % 5) * 0.3f - 0.4f;
      buf[i] = rbuf[i] = (float)(i % 3) * 0.2f;
    }
    const float hyper[3] = {lr, mu, wd};
    float *state[1] = {mu != 0 ? buf : NULL};
    for (int step = 0; step < 3; step++) {
      gradc_core_update(&gradc_optimizer_sgd, p, g, state, N, hyper);
      for (int i = 0; i < N; i++) {
        float d = g[i];
        if (wd != 0) d = d + wd * rp[i];
        if (mu != 0) rbuf[i] = mu * rbuf[i] + d, d = rbuf[i];
        rp[i] = rp[i] - lr * d;
      }
    }
    for (int i = 0; i < N; i++) {
      cr_assert(p[i] == rp[i], "mu %g wd %g: p[%d] = %.9g, formula %.9g", mu, wd, i, p[i], rp[i]);
      cr_assert(buf[i] == rbuf[i], "mu %g wd %g: buf[%d] = %.9g, formula %.9g", mu, wd, i, buf[i], rbuf[i]);
    }
  }
}

Test(core, optimizer_programs_are_checked) {
  cr_assert_eq(gradc_optimizer_valid(&gradc_optimizer_sgd), 0);
  gradc_optimizer o = gradc_optimizer_sgd;
  o.insns[0].a = GRADC_R_TEMP(3); /* d = a temporary never written */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 1);
  o = gradc_optimizer_sgd;
  o.insns[6].guard = 0, o.insns[6].a = GRADC_R_STATE(0); /* the momentum buffer read outside its guard */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 7);
  o = gradc_optimizer_sgd;
  o.insns[7].dst = GRADC_R_G; /* the gradient is not written */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 8);
  o = gradc_optimizer_sgd;
  o.insns[1].guard = GRADC_IF(7); /* hyper-parameter 7 does not exist (3, dampening, does since issue 15) */
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + 2);
  o = gradc_optimizer_sgd;
  o.insns[4].guard = GRADC_IF(2); /* the momentum buffer written under another guard */
  cr_assert_neq(gradc_optimizer_valid(&o), 0);
  o = gradc_optimizer_sgd;
  o.state_guard[0] = GRADC_IF(5);
  cr_assert_eq(gradc_optimizer_valid(&o), 1);
  o = gradc_optimizer_sgd;
  o.ninsns = GRADC_OPT_MAX_INSNS + 1;
  cr_assert_eq(gradc_optimizer_valid(&o), o.nstate + o.ninsns + 1);
}

/* ---- init, forward, backward ---- */

Test(init, reproducible_under_seed_and_different_across_seeds) {
  gradc_model *m = open_fake();
  float *w = T(m, "w"), *b = T(m, "b"), *s = T(m, "s"), *x = T(m, "x");
  set4(x, 1, 2, 3, 4);
  cr_assert_eq(gradc_init(m, 1), 0);
  float w1[4];
  memcpy(w1, w, sizeof w1);
  cr_assert_eq(x[0], 0.0f, "init zeroes inputs");
  cr_assert_eq(b[0], 0.5f);
  cr_assert(s[0] == 1.0f && s[1] == 1.0f);
  cr_assert(w1[0] != w1[1] && w1[1] != w1[2], "normal init looks constant");
  /* the stream of "w" depends only on the seed and the name */
  float ref[4];
  gradc_init_spec normal = {GRADC_INIT_NORMAL, 1.0, 0.0};
  gradc_core_init_tensor(ref, 4, &normal, 1, "w");
  cr_assert(memcmp(ref, w1, sizeof ref) == 0);
  cr_assert_eq(gradc_init(m, 2), 0);
  cr_assert(memcmp(w, w1, sizeof w1) != 0, "seeds 1 and 2 give the same w");
  cr_assert_eq(gradc_init(m, 1), 0);
  cr_assert(memcmp(w, w1, sizeof w1) == 0, "seed 1 is not reproducible");
  gradc_close(m);
  m = open_fake(); /* a second instance agrees */
  gradc_init(m, 1);
  cr_assert(memcmp(T(m, "w"), w1, sizeof w1) == 0);
  gradc_close(m);
}

static gradc_model *fake_with(float w0, float b0) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_init(m, 0), 0);
  set4(T(m, "x"), 1, -2, 3, 0.5f);
  set4(T(m, "w"), w0, 2 * w0, -w0, 4);
  T(m, "b")[0] = b0;
  return m;
}

Test(run, forward_values_and_loss) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert(isnan(gradc_loss(m)), "loss before any call");
  cr_assert_eq(gradc_forward(m), 0, "%s", gradc_error(m));
  float *y = T(m, "y");
  const float want[4] = {0.75f, -1.75f, -1.25f, 2.25f};
  for (int i = 0; i < 4; i++) cr_assert_float_eq(y[i], want[i], 1e-6, "y[%d] = %g", i, y[i]);
  cr_assert_float_eq(gradc_loss(m), 0.0f, 1e-6);
  cr_assert_null(gradc_grad(m, "s", NULL));
  float *gw = gradc_grad(m, "w", NULL);
  for (int i = 0; i < 4; i++) cr_assert_eq(gw[i], 0.0f, "forward touched grads");
  gradc_close(m);
}

Test(run, backward_accumulates_and_zero_grad) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  float *gw = gradc_grad(m, "w", NULL), *gb = gradc_grad(m, "b", NULL);
  const float x[4] = {1, -2, 3, 0.5f};
  cr_assert_eq(gradc_backward(m), 0, "%s", gradc_error(m));
  for (int i = 0; i < 4; i++) cr_assert_float_eq(gw[i], x[i] / 4, 1e-7);
  cr_assert_float_eq(gb[0], 1.0f, 1e-7);
  cr_assert_float_eq(gradc_loss(m), 0.0f, 1e-6);
  cr_assert_eq(gradc_backward(m), 0);
  for (int i = 0; i < 4; i++) cr_assert_float_eq(gw[i], x[i] / 2, 1e-7, "second backward doubles");
  cr_assert_float_eq(gb[0], 2.0f, 1e-7);
  gradc_zero_grad(m);
  for (int i = 0; i < 4; i++) cr_assert_eq(gw[i], 0.0f);
  cr_assert_eq(gb[0], 0.0f);
  gradc_close(m);
}

/* torch.optim.SGD, step by step, on the fake model's analytic gradients. */
static void torch_sgd_reference(float *w, float *b, int steps, float lr, float mom, float wd) {
  const float x[4] = {1, -2, 3, 0.5f};
  float bw[4] = {0}, bb = 0;
  for (int k = 0; k < steps; k++) {
    for (int i = 0; i < 5; i++) {
      float *p = i < 4 ? &w[i] : b, *buf = i < 4 ? &bw[i] : &bb;
      float g = i < 4 ? x[i] / 4 : 1.0f;
      float d = wd != 0 ? g + wd * *p : g;
      if (mom != 0) *buf = k == 0 ? d : mom * *buf + d;
      *p -= lr * (mom != 0 ? *buf : d);
    }
  }
}

static void check_train(float lr, float mom, float wd, int steps) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  float w[4], b;
  memcpy(w, T(m, "w"), sizeof w);
  b = T(m, "b")[0];
  gradc_set_optimizer(m, mom, wd);
  for (int k = 0; k < steps; k++) cr_assert_eq(gradc_train_step(m, lr), 0, "%s", gradc_error(m));
  torch_sgd_reference(w, &b, steps, lr, mom, wd);
  for (int i = 0; i < 4; i++)
    cr_assert_float_eq(T(m, "w")[i], w[i], 1e-6, "mom %g wd %g: w[%d] %g vs %g", mom, wd, i, T(m, "w")[i], w[i]);
  cr_assert_float_eq(T(m, "b")[0], b, 1e-6);
  cr_assert(T(m, "s")[0] == 1.0f && T(m, "s")[1] == 1.0f, "frozen param changed");
  gradc_close(m);
}

Test(sgd, train_step_matches_torch_semantics) {
  check_train(0.1f, 0.0f, 0.0f, 3);
  check_train(0.1f, 0.9f, 0.0f, 4);
  check_train(0.05f, 0.0f, 0.1f, 4);
  check_train(0.05f, 0.9f, 0.01f, 5);
}

Test(sgd, numbers_by_hand) {
  /* b: g = 1 every step, lr 0.1, momentum 0.9, wd 0.5, b0 = 0.25:
   * d1 = 1.125, buf1 = 1.125, b1 = 0.1375; d2 = 1.06875, buf2 = 2.08125, b2 = -0.070625 */
  gradc_model *m = fake_with(0.5f, 0.25f);
  gradc_set_optimizer(m, 0.9f, 0.5f);
  cr_assert_eq(gradc_train_step(m, 0.1f), 0);
  cr_assert_float_eq(T(m, "b")[0], 0.1375f, 1e-6);
  cr_assert_eq(gradc_train_step(m, 0.1f), 0);
  cr_assert_float_eq(T(m, "b")[0], -0.070625f, 1e-6);
  gradc_close(m);
}

Test(sgd, sgd_step_uses_current_grads) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_eq(gradc_backward(m), 0);
  cr_assert_eq(gradc_backward(m), 0); /* accumulated: gw = x/2, gb = 2 */
  gradc_sgd_step(m, 0.5f);
  cr_assert_float_eq(T(m, "w")[0], 0.5f - 0.5f * 0.5f, 1e-7);
  cr_assert_float_eq(T(m, "b")[0], 0.25f - 1.0f, 1e-7);
  cr_assert(T(m, "s")[0] == 1.0f);
  gradc_close(m);
}

/* ---- safetensors ---- */

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void spit(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(bytes, 1, n, f), n);
  fclose(f);
}

Test(weights, save_load_round_trip, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  gradc_set_optimizer(m, 0.9f, 0.0f);
  gradc_train_step(m, 0.1f);
  params saved = snapshot(m);
  T(m, "s")[1] = 3.0f; /* frozen params are saved too */
  saved.v[6] = 3.0f;
  cr_assert_eq(gradc_save(m, at("w.safetensors")), 0, "%s", gradc_error(m));
  cr_assert_eq(gradc_init(m, 99), 0);
  cr_assert_eq(gradc_load(m, at("w.safetensors")), 0, "%s", gradc_error(m));
  assert_same_params(m, saved);
  gradc_model *m2 = open_fake(); /* and into a fresh instance */
  cr_assert_eq(gradc_load(m2, at("w.safetensors")), 0, "%s", gradc_error(m2));
  assert_same_params(m2, saved);
  gradc_close(m2);
  /* saving over an existing file replaces it and leaves no temporary behind */
  cr_assert_eq(gradc_save(m, at("w.safetensors")), 0);
  DIR *d = opendir(dir);
  int files = 0;
  for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
  closedir(d);
  cr_assert_eq(files, 1);
  gradc_close(m);
}

Test(weights, saved_file_is_valid_safetensors, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_eq(gradc_save(m, at("w.safetensors")), 0, "%s", gradc_error(m));
  size_t n;
  unsigned char *b = slurp(at("w.safetensors"), &n);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
  cr_assert_eq((8 + hl) % 8, 0, "data not 8-byte aligned");
  cr_assert_eq(8 + hl + 28, n, "file size");
  cJSON *h = cJSON_ParseWithLength((const char *)b + 8, hl);
  cr_assert_not_null(h);
  cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "__metadata__"), "model")->valuestring, "fake");
  cr_assert_eq(cJSON_GetArraySize(h), 4, "metadata + w, b, s");
  const char *names[] = {"w", "b", "s"};
  int ranks[] = {1, 0, 1}, begins[] = {0, 16, 20}, ends[] = {16, 20, 28};
  for (int i = 0; i < 3; i++) {
    cJSON *t = cJSON_GetObjectItem(h, names[i]);
    cr_assert_not_null(t, "%s", names[i]);
    cr_assert_str_eq(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "shape")), ranks[i]);
    cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    cr_assert_eq(cJSON_GetArrayItem(o, 0)->valueint, begins[i]);
    cr_assert_eq(cJSON_GetArrayItem(o, 1)->valueint, ends[i]);
  }
  cr_assert_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "w"), "shape"), 0)->valueint, 4);
  float w[4];
  memcpy(w, b + 8 + hl, 16);
  cr_assert(memcmp(w, T(m, "w"), 16) == 0);
  cJSON_Delete(h);
  free(b);
  gradc_close(m);
}

Test(weights, save_error_names_path, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_lt(gradc_save(m, "/nonexistent/dir/w.safetensors"), 0);
  cr_assert(strstr(gradc_error(m), "'/nonexistent/dir/w.safetensors'"), "%s", gradc_error(m));
  cr_assert(strstr(gradc_error(m), "No such file"), "%s", gradc_error(m));
  mkdir(at("adir"), 0755); /* renaming over a directory fails; the temporary goes away */
  cr_assert_lt(gradc_save(m, at("adir")), 0);
  DIR *d = opendir(dir);
  int files = 0;
  for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
  closedir(d);
  cr_assert_eq(files, 1, "temporary file left behind");
  gradc_close(m);
}

/* Saving over a file keeps its permissions (a private checkpoint stays private); a FIFO
 * is refused at once, not waited on. */
Test(weights, save_keeps_mode_and_load_refuses_a_fifo, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_eq(gradc_save(m, at("w.safetensors")), 0, "%s", gradc_error(m));
  cr_assert_eq(chmod(at("w.safetensors"), 0600), 0);
  cr_assert_eq(gradc_save(m, at("w.safetensors")), 0, "%s", gradc_error(m));
  struct stat st;
  cr_assert_eq(stat(at("w.safetensors"), &st), 0);
  cr_expect_eq(st.st_mode & 0777, 0600, "mode %o after saving over a 0600 file", (unsigned)(st.st_mode & 0777));
  cr_assert_eq(mkfifo(at("fifo"), 0600), 0);
  cr_expect_lt(gradc_load(m, at("fifo")), 0);
  cr_expect(strstr(gradc_error(m), "not a regular file"), "%s", gradc_error(m));
  gradc_close(m);
}

/* A learning rate, momentum or weight decay that is not a finite number >= 0 is refused
 * (torch refuses them too), and changes nothing. */
Test(sgd, bad_hyperparameters_are_refused) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  float b = T(m, "b")[0];
  cr_expect_lt(gradc_train_step(m, NAN), 0);
  cr_expect_lt(gradc_train_step(m, INFINITY), 0);
  cr_expect_lt(gradc_train_step(m, -0.1f), 0);
  cr_expect(strstr(gradc_error(m), "learning rate"), "%s", gradc_error(m));
  cr_expect_eq(T(m, "b")[0], b, "a refused step changed b");
  cr_expect_lt(gradc_set_optimizer(m, NAN, 0), 0);
  cr_expect_lt(gradc_set_optimizer(m, 0.9f, -1), 0);
  cr_expect_eq(gradc_train_step(m, 0.1f), 0, "%s", gradc_error(m));
  cr_expect_float_eq(T(m, "b")[0], b - 0.1f, 1e-6, "the refused settings took effect");
  gradc_close(m);
}

/* A hand-made safetensors file for the fake model's params (w[4], b[], s[2]). */
#define ST_W "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"
#define ST_B "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]}"
#define ST_S "\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}"
#define ST_META "\"__metadata__\":{\"model\":\"fake\"}"

static void write_st(const char *path, const char *header, size_t data_len) {
  size_t hl = strlen(header);
  unsigned char *b = calloc(1, 8 + hl + data_len + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  float vals[7] = {10, 20, 30, 40, 50, 60, 70};
  memcpy(b + 8 + hl, vals, data_len < 28 ? data_len : 28);
  spit(path, b, 8 + hl + data_len);
  free(b);
}

Test(weights, hand_made_file_loads, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  write_st(at("h.st"), "{" ST_META "," ST_S "," ST_W "," ST_B "}  ", 28);
  cr_assert_eq(gradc_load(m, at("h.st")), 0, "%s", gradc_error(m));
  params want = {{10, 20, 30, 40, 50, 60, 70}};
  assert_same_params(m, want);
  write_st(at("h2.st"), "{" ST_W "," ST_B "," ST_S "}", 28); /* no metadata is fine */
  cr_assert_eq(gradc_load(m, at("h2.st")), 0, "%s", gradc_error(m));
  gradc_close(m);
}

static void expect_load_error(gradc_model *m, const char *path, const char *n1, const char *n2) {
  params before = snapshot(m);
  cr_assert_lt(gradc_load(m, path), 0, "loaded %s", path);
  const char *e = gradc_error(m);
  cr_assert(strstr(e, path), "\"%s\" does not name the file", e);
  cr_assert(strstr(e, n1), "\"%s\" lacks \"%s\"", e, n1);
  if (n2) cr_assert(strstr(e, n2), "\"%s\" lacks \"%s\"", e, n2);
  assert_same_params(m, before);
}

static void expect_header_error(gradc_model *m, const char *header, size_t data_len, const char *n1,
                                const char *n2) {
  write_st(at("bad.st"), header, data_len);
  expect_load_error(m, at("bad.st"), n1, n2);
}

Test(weights, load_rejects_bad_files, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  expect_header_error(m, "{" ST_META "," ST_W "," ST_B ",\"s\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[20,24]}}",
                      28, "tensor 's' has dtype F16", "F32");
  expect_header_error(m, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," ST_B "," ST_S "}", 28,
                      "tensor 'w' has shape [2, 2], model expects [4]", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[20,28]}}", 28,
                      "tensor 's' has shape [1, 2], model expects [2]", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "}", 28, "missing tensor 's'", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "," ST_S ",\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                      28, "unexpected tensor 'z'", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "," ST_S "," ST_W "}", 28, "tensor 'w' appears twice", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,36]}}", 28,
                      "tensor 's' has data_offsets [20, 36] outside the data section (28 bytes)", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,20]}}", 28,
                      "tensor 's'", "outside");
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,24]}}", 28,
                      "tensor 's' has 4 bytes of data, model expects 8", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,-8]}}", 28,
                      "tensor 's' has malformed data_offsets", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20]}}", 28,
                      "tensor 's' has malformed data_offsets", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":{\"shape\":[2],\"data_offsets\":[20,28]}}", 28,
                      "tensor 's' has no dtype", NULL);
  expect_header_error(m, "{" ST_W "," ST_B ",\"s\":[1]}", 28, "tensor 's' is not an object", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "," ST_S, 28, "not valid JSON", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "," ST_S "} x", 28, "not valid JSON", NULL);
  expect_header_error(m, "[1, 2]", 28, "not a JSON object", NULL);
  expect_header_error(m, "{" ST_W "," ST_B "," ST_S "}", 20, "tensor 's'", "outside the data section");
  expect_load_error(m, at("nonexistent.st"), "cannot read", NULL);
  gradc_close(m);
}

Test(weights, load_rejects_truncated_files, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  set4(T(m, "w"), 7, 7, 7, 7);
  size_t n;
  unsigned char *b = slurp(at("w.st"), &n);
  spit(at("t1.st"), b, n - 5); /* inside s's data */
  expect_load_error(m, at("t1.st"), "tensor 's'", "outside the data section");
  spit(at("t2.st"), b, n - 28 - 3); /* inside the header */
  expect_load_error(m, at("t2.st"), "truncated", "header length");
  spit(at("t3.st"), b, 5); /* inside the length */
  expect_load_error(m, at("t3.st"), "truncated", "5 bytes");
  spit(at("t4.st"), b, 0);
  expect_load_error(m, at("t4.st"), "truncated", NULL);
  unsigned char big[16] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'}; /* header length 1000 */
  spit(at("t5.st"), big, sizeof big);
  expect_load_error(m, at("t5.st"), "header length 1000 exceeds", NULL);
  unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  spit(at("t6.st"), huge, sizeof huge);
  expect_load_error(m, at("t6.st"), "100 MB", NULL);
  free(b);
  gradc_close(m);
}

Test(weights, load_into_model_via_error_free_path_after_failure, .init = make_dir, .fini = remove_dir) {
  /* a failed load leaves the model fully usable */
  gradc_model *m = fake_with(0.5f, 0.25f);
  cr_assert_lt(gradc_load(m, at("missing.st")), 0);
  cr_assert_eq(gradc_forward(m), 0);
  cr_assert_float_eq(gradc_loss(m), 0.0f, 1e-6);
  cr_assert_eq(gradc_save(m, at("ok.st")), 0);
  cr_assert_eq(gradc_load(m, at("ok.st")), 0, "%s", gradc_error(m));
  gradc_close(m);
}
