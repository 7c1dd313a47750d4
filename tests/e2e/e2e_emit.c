/* e2e_emit.c — `gradc compile` outputs: every --emit kind with its content marker and no
 * stray files, -O0..-O3 giving the same results (through the runtime), --inference,
 * cross compilation (Cortex-M4, RISC-V, AArch64: ELF machine, nothing undefined but
 * memcpy/memset), bad targets failing cleanly, --threads (the parallel-runner setter
 * only in objects with split products), and --dump-after (the graph after each pass). */
#define _DEFAULT_SOURCE /* strndup, unlink, umask under -std=c11 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "e2e_util.h"
#include "gradc/runtime.h"

#define TOL 1e-5
static const float ZV[3] = {-0.4f, -0.2f, 0.8f}; /* z on the tutorial values */

/* Compiles logreg.grad into dir/NAME with the NULL-terminated extra arguments; asserts
 * success and returns the output path. */
static char *compile_ok(const char *dir, const char *name, const char *const *extra) {
  char *out = e2e_fmt("%s/%s", dir, name);
  const char *args[32] = {"compile", E2E_LOGREG, "-o", out};
  int n = 4;
  for (; extra && *extra && n < 31; extra++) args[n++] = *extra;
  args[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, args);
  cr_assert_eq(r.status, 0, "gradc compile ... -o %s failed: %s", name, e2e_describe(&r));
  e2e_free(&r);
  struct stat st;
  cr_assert(stat(out, &st) == 0 && st.st_size > 0, "%s is missing or empty", out);
  return out;
}

/* The directory holds exactly the named files (space-separated, in any order). */
static void only_files(const char *dir, const char *const *want) {
  char names[2048];
  int n = e2e_count_entries(dir, names, sizeof names), k = 0;
  for (; want[k]; k++) {
    char *p = e2e_fmt("%s/%s", dir, want[k]);
    cr_expect(e2e_exists(p), "%s was not written (directory: %s)", want[k], names);
    free(p);
  }
  cr_expect_eq(n, k, "expected only %d file(s) in the output directory, found: %s", k, names);
}

typedef struct {
  unsigned char cls; /* 1: 32-bit, 2: 64-bit */
  uint16_t type, machine;
} elf_info;

static elf_info elf(const char *path) {
  size_t n;
  unsigned char *b = (unsigned char *)e2e_read(path, &n);
  cr_assert(b && n > 20, "cannot read %s", path);
  cr_assert(!memcmp(b, "\177ELF", 4), "%s is not an ELF file", path);
  cr_assert_eq(b[5], 1, "%s is not little-endian", path);
  elf_info e = {b[4], (uint16_t)(b[16] | b[17] << 8), (uint16_t)(b[18] | b[19] << 8)};
  free(b);
  return e;
}

static bool mem_only(const char *name) { return !strcmp(name, "memcpy") || !strcmp(name, "memset"); }

/* Undefined symbols of an object other than memcpy/memset, space-separated ("" if none). */
static char *foreign_symbols(const char *obj) { return e2e_undefined(obj, mem_only); }

static bool has_symbol(const char *obj, const char *sym) {
  e2e_result r;
  const char *argv[] = {E2E_LLVM_NM, "--defined-only", obj, NULL};
  e2e_run(&r, argv);
  cr_assert_eq(r.status, 0, "llvm-nm %s: %s", obj, e2e_describe(&r));
  char *pat = e2e_fmt(" %s\n", sym);
  bool found = strstr(r.out, pat) != NULL;
  free(pat);
  e2e_free(&r);
  return found;
}

static char *slurp(const char *path) {
  char *t = e2e_read(path, NULL);
  cr_assert(t, "cannot read %s", path);
  return t;
}

/* ---- every --emit kind ---- */

Test(emit, so_and_obj, .timeout = 30) {
  char *dir = e2e_tmpdir("emit");
  char *so = compile_ok(dir, "logreg.so", NULL);
  only_files(dir, (const char *[]){"logreg.so", "logreg.h", NULL});
  elf_info e = elf(so);
  cr_expect_eq(e.type, 3, "the .so is not ET_DYN (e_type %d)", e.type);
  cr_expect(has_symbol(so, "logreg_forward") && has_symbol(so, "logreg_backward"), "entry points not exported");
  cr_expect(has_symbol(so, "gradc_model_descriptor"), "the .so does not export gradc_model_descriptor");
  char *hpath = e2e_fmt("%s/logreg.h", dir);
  char *h = slurp(hpath);
  cr_expect(strstr(h, "#define LOGREG_X_SIZE 5"), "%s", h);
  free(h), free(hpath), free(so);
  e2e_rmdir(dir);
  free(dir);

  dir = e2e_tmpdir("emit");
  char *obj = compile_ok(dir, "logreg.o", (const char *[]){"--emit", "obj", NULL});
  only_files(dir, (const char *[]){"logreg.o", "logreg.h", NULL});
  e = elf(obj);
  cr_expect_eq(e.type, 1, "the .o is not ET_REL (e_type %d)", e.type);
  cr_expect(has_symbol(obj, "logreg_forward") && has_symbol(obj, "logreg_backward") && has_symbol(obj, "logreg_descriptor"));
  free(obj);
  e2e_rmdir(dir);
  free(dir);
}

Test(emit, text_kinds, .timeout = 30) {
  static const struct {
    const char *emit, *file, *marker[4];
  } kinds[] = {
      {"asm", "logreg.s", {".text", "logreg_forward:", "logreg_backward:"}},
      {"llvm", "logreg.ll", {"define void @logreg_forward(", "define void @logreg_backward("}},
      {"header", "logreg.h", {"#define LOGREG_X_SIZE 5", "LOGREG_WORKSPACE_BYTES", "void logreg_backward("}},
      {"ir", "logreg.ir", {"entry logreg_forward", "entry logreg_backward", "param w", "minimize"}},
      {"dot", "logreg.dot", {"digraph", "subgraph cluster_params"}},
  };
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char *dir = e2e_tmpdir("emit");
    char *out = compile_ok(dir, kinds[k].file, (const char *[]){"--emit", kinds[k].emit, NULL});
    only_files(dir, (const char *[]){kinds[k].file, NULL});
    char *t = slurp(out);
    for (int i = 0; i < 4 && kinds[k].marker[i]; i++)
      cr_expect(strstr(t, kinds[k].marker[i]), "--emit %s: no '%s' in the output", kinds[k].emit, kinds[k].marker[i]);
    /* -o -: the same text on standard output, and no file */
    e2e_result r;
    e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", kinds[k].emit, "-o", "-", NULL);
    cr_expect_eq(r.status, 0, "--emit %s -o -: %s", kinds[k].emit, e2e_describe(&r));
    cr_expect(r.outlen == strlen(t) && !memcmp(r.out, t, r.outlen),
              "--emit %s -o -: standard output differs from the file (%zu vs %zu bytes)", kinds[k].emit, r.outlen,
              strlen(t));
    e2e_free(&r);
    free(t), free(out);
    e2e_rmdir(dir);
    free(dir);
  }
}

/* --stats with -o -: the footprint goes to stderr, standard output is the text alone. */
Test(emit, stats_beside_stdout_go_to_stderr, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "llvm", "-o", "-", "--stats", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "footprint of logreg"), "no footprint on stderr: %s", r.err);
  cr_expect(!strstr(r.out, "footprint"), "the footprint was mixed into the LLVM IR on stdout");
  cr_expect(strstr(r.out, "define void @logreg_forward("), "no IR on stdout");
  e2e_free(&r);
}

/* A binary kind with -o - is refused (a shared object is loaded from a file, and its
 * header goes beside it), with no file named "-" left behind. */
Test(emit, binary_to_stdout_refused, .timeout = 30) {
  char *dir = e2e_tmpdir("emit");
  const char *kinds[] = {"so", "obj"};
  for (int k = 0; k < 2; k++) {
    char *args = e2e_fmt("cd '%s' && exec '%s' compile '%s' --emit %s -o -", dir, GRADC_BIN, E2E_LOGREG, kinds[k]);
    const char *argv[] = {"/bin/sh", "-c", args, NULL};
    e2e_result r;
    e2e_run(&r, argv);
    cr_expect_eq(r.status, 2, "--emit %s -o -: %s", kinds[k], e2e_describe(&r));
    cr_expect(strstr(r.err, "give a file name"), "--emit %s -o -: %s", kinds[k], r.err);
    cr_expect_eq(r.outlen, 0, "--emit %s -o - wrote to standard output", kinds[k]);
    e2e_free(&r);
    free(args);
  }
  only_files(dir, (const char *[]){NULL});
  e2e_rmdir(dir);
  free(dir);
}

/* The label="..." of the subgraph that starts at s (up to its first node). */
static char *cluster_label(const char *s) {
  const char *l = strstr(s, "label=\"");
  const char *brace = strchr(s, '{');
  if (!l || !brace || l < brace) return NULL;
  l += 7;
  size_t n = strcspn(l, "\"");
  char *r = malloc(n + 1);
  memcpy(r, l, n);
  r[n] = 0;
  return r;
}

Test(emit, dot_clusters, .timeout = 30) {
  char *dir = e2e_tmpdir("dot");
  char *out = compile_ok(dir, "logreg.dot", (const char *[]){"--emit", "dot", NULL});
  char *t = slurp(out);
  cr_assert(!strncmp(t, "digraph \"logreg\" {", 17), "does not start with digraph \"logreg\" {");
  /* The parameters in a dashed cluster, with both parameters in it. */
  const char *p = strstr(t, "subgraph cluster_params");
  cr_assert(p, "no cluster_params");
  const char *end = strchr(p, '}');
  char *params = strndup(p, (size_t)(end - p));
  cr_expect(strstr(params, "style=dashed"), "cluster_params is not dashed:\n%s", params);
  cr_expect(strstr(params, "\"w") && strstr(params, "\"b"), "cluster_params does not hold w and b:\n%s", params);
  free(params);
  /* A forward cluster, a backward cluster, and fused kernels as clusters. */
  bool fwd = false, bwd = false;
  int kernels = 0;
  for (const char *s = strstr(t, "subgraph cluster"); s; s = strstr(s + 1, "subgraph cluster")) {
    char *label = cluster_label(s);
    if (!label) continue;
    if (!strncmp(label, "forward", 7)) fwd = true;
    if (!strncmp(label, "backward", 8)) bwd = true;
    if (strstr(label, "kernel")) kernels++;
    free(label);
  }
  cr_expect(fwd, "no forward cluster");
  cr_expect(bwd, "no backward cluster");
  cr_expect_geq(kernels, 2, "fused kernels are not drawn as clusters");
  cr_expect(t[strlen(t) - 2] == '}', "the graph is not closed");
  int depth = 0, lowest = 0; /* clusters nest: every brace closes one opened before */
  for (const char *c = t; *c; c++) {
    depth += (*c == '{') - (*c == '}');
    if (depth < lowest) lowest = depth;
  }
  cr_expect(depth == 0 && lowest == 0, "unbalanced braces (depth %d, lowest %d)", depth, lowest);
  free(t), free(out);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- -O0..-O3 give the same results ---- */

typedef struct {
  float z[3], loss, gw[15], gb[3];
} run_values;

static run_values run_tutorial(const char *so) {
  char err[512];
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "gradc_open %s: %s", so, err);
  cr_assert_eq(gradc_init(m, 0), 0, "%s", gradc_error(m));
  size_t n;
  float *x = gradc_tensor(m, "x", &n), *y = gradc_tensor(m, "y", NULL), *w = gradc_tensor(m, "w", NULL),
        *b = gradc_tensor(m, "b", NULL);
  cr_assert(x && y && w && b && n == 5);
  for (int i = 0; i < 5; i++) x[i] = 1;
  for (int i = 0; i < 3; i++) y[i] = 0;
  for (int i = 0; i < 15; i++) w[i] = -0.7f + 0.1f * (float)i;
  b[0] = 0.1f, b[1] = -0.2f, b[2] = 0.3f;
  gradc_zero_grad(m);
  cr_assert_eq(gradc_backward(m), 0, "%s", gradc_error(m));
  run_values v;
  memcpy(v.z, gradc_tensor(m, "z", NULL), sizeof v.z);
  memcpy(v.gw, gradc_grad(m, "w", NULL), sizeof v.gw);
  memcpy(v.gb, gradc_grad(m, "b", NULL), sizeof v.gb);
  v.loss = gradc_loss(m);
  gradc_close(m);
  return v;
}

Test(emit, opt_levels_agree, .timeout = 30) {
  static const char *levels[] = {"-O0", "-O1", "-O2", "-O3"};
  static const float GB[3] = {0.1337708f, 0.1500553f, 0.2299915f};
  char *dir = e2e_tmpdir("opt");
  run_values v[4];
  for (int l = 0; l < 4; l++) {
    char *name = e2e_fmt("logreg%s.so", levels[l]);
    char *so = compile_ok(dir, name, (const char *[]){levels[l], NULL});
    v[l] = run_tutorial(so);
    cr_expect_float_eq(v[l].loss, 0.7607517f, TOL, "%s: loss %.9g", levels[l], v[l].loss);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(v[l].gb[i], GB[i], TOL, "%s: grad b[%d] %.9g", levels[l], i, v[l].gb[i]);
    for (int i = 0; i < 3; i++)
      cr_expect_float_eq(v[l].z[i], ZV[i], TOL, "%s: z[%d] %.9g", levels[l], i, v[l].z[i]);
    for (int i = 0; i < 15; i++) cr_expect_float_eq(v[l].gw[i], GB[i % 3], TOL, "%s: grad w[%d]", levels[l], i);
    free(name);
    free(so);
  }
  for (int l = 0; l < 4; l++) {
    cr_expect_float_eq(v[l].loss, v[2].loss, 1e-6, "%s and -O2 disagree on the loss", levels[l]);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(v[l].gb[i], v[2].gb[i], 1e-6, "%s and -O2 disagree", levels[l]);
  }
  e2e_rmdir(dir);
  free(dir);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "-O4", "-o", E2E_TMP_DIR "/never.so", NULL);
  cr_expect_eq(r.status, 2, "-O4: %s", e2e_describe(&r));
  e2e_free(&r);
}

/* ---- --inference ---- */

Test(emit, inference, .timeout = 30) {
  char *dir = e2e_tmpdir("inf");
  char *so = compile_ok(dir, "logreg.so", (const char *[]){"--inference", NULL});
  char *hpath = e2e_fmt("%s/logreg.h", dir);
  char *h = slurp(hpath);
  free(hpath);
  cr_expect(!strstr(h, "void logreg_backward("), "--inference header declares logreg_backward:\n%s", h);
  const char *f = strstr(h, "void logreg_forward(");
  cr_assert(f, "no logreg_forward in the --inference header:\n%s", h);
  char *decl = strndup(f, strcspn(f, ";"));
  cr_expect(!strstr(decl, "loss"), "--inference logreg_forward takes a loss:\n%s", decl);
  cr_expect(!strstr(decl, "*y"), "--inference logreg_forward takes y, which only the loss reads:\n%s", decl);
  cr_expect(strstr(decl, "*x") && strstr(decl, "*w") && strstr(decl, "*b") && strstr(decl, "*z") &&
                strstr(decl, "workspace"),
            "--inference logreg_forward lacks an argument:\n%s", decl);
  free(decl);
  cr_expect(!has_symbol(so, "logreg_backward"), "the --inference .so defines logreg_backward");
  cr_expect(has_symbol(so, "logreg_forward"));
  /* Through the runtime: z only, no loss, no backward. */
  char err[512];
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s", err);
  cr_expect(!gradc_has_backward(m));
  cr_expect(!gradc_has_loss(m));
  cr_expect_null(gradc_tensor(m, "y", NULL), "y is still a tensor of the --inference model");
  float *x = gradc_tensor(m, "x", NULL), *w = gradc_tensor(m, "w", NULL), *b = gradc_tensor(m, "b", NULL);
  cr_assert(x && w && b);
  for (int i = 0; i < 5; i++) x[i] = 1;
  for (int i = 0; i < 15; i++) w[i] = -0.7f + 0.1f * (float)i;
  b[0] = 0.1f, b[1] = -0.2f, b[2] = 0.3f;
  cr_assert_eq(gradc_forward(m), 0, "%s", gradc_error(m));
  float *z = gradc_tensor(m, "z", NULL);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(z[i], ZV[i], TOL);
  gradc_close(m);
  free(h), free(so);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- the generated code calls nothing but memcpy/memset ---- */

Test(emit, host_object_is_self_contained, .timeout = 30) {
  char *dir = e2e_tmpdir("host");
  for (const char *const *o = (const char *[]){"-O0", "-O2", "-O3", NULL}; *o; o++) {
    char *name = e2e_fmt("logreg%s.o", *o);
    char *obj = compile_ok(dir, name, (const char *[]){"--emit", "obj", *o, NULL});
    char *bad = foreign_symbols(obj);
    cr_expect_str_eq(bad, "", "%s host object calls outside itself: %s", *o, bad);
    free(bad);
    free(obj);
    free(name);
  }
  e2e_rmdir(dir);
  free(dir);
}

/* ---- cross compilation ---- */

Test(cross, cortex_m4, .timeout = 30) {
  char *dir = e2e_tmpdir("m4");
  for (const char *const *o = (const char *[]){"-O2", "-O0", NULL}; *o; o++) {
    char *name = e2e_fmt("logreg%s.o", *o);
    char *obj = compile_ok(dir, name,
                           (const char *[]){"--target", "thumbv7em-none-eabihf", "--cpu", "cortex-m4", "--emit", "obj",
                                            *o, NULL});
    elf_info e = elf(obj);
    cr_expect_eq(e.machine, 40, "%s: e_machine %d, expected 40 (ARM)", *o, e.machine);
    cr_expect_eq(e.cls, 1, "%s: not a 32-bit ELF", *o);
    cr_expect_eq(e.type, 1, "%s: not a relocatable object", *o);
    char *bad = foreign_symbols(obj);
    cr_expect_str_eq(bad, "", "%s: the Cortex-M4 object needs symbols beyond memcpy/memset: %s", *o, bad);
    cr_expect(has_symbol(obj, "logreg_forward") && has_symbol(obj, "logreg_backward"));
    free(bad);
    free(obj);
    free(name);
  }
  e2e_rmdir(dir);
  free(dir);
}

Test(cross, riscv32_and_aarch64, .timeout = 30) {
  char *dir = e2e_tmpdir("cross");
  char *rv = compile_ok(dir, "rv.o", (const char *[]){"--target", "riscv32-unknown-elf", "--emit", "obj", NULL});
  elf_info e = elf(rv);
  cr_expect_eq(e.machine, 243, "riscv32: e_machine %d, expected 243 (RISC-V)", e.machine);
  cr_expect_eq(e.cls, 1, "riscv32: not a 32-bit ELF");
  cr_expect(has_symbol(rv, "logreg_forward"));
  char *a64 = compile_ok(dir, "a64.o", (const char *[]){"--target", "aarch64-linux-gnu", "--emit", "obj", NULL});
  e = elf(a64);
  cr_expect_eq(e.machine, 183, "aarch64: e_machine %d, expected 183 (AArch64)", e.machine);
  cr_expect_eq(e.cls, 2, "aarch64: not a 64-bit ELF");
  cr_expect(has_symbol(a64, "logreg_backward"));
  char *bad = foreign_symbols(a64);
  cr_expect_str_eq(bad, "", "the AArch64 object calls outside itself: %s", bad);
  free(bad);
  only_files(dir, (const char *[]){"rv.o", "rv.h", "a64.o", "a64.h", NULL});
  free(rv), free(a64);
  e2e_rmdir(dir);
  free(dir);
}

/* A failed compile leaves nothing in the output directory. */
static void fails_cleanly(const char *const *args, const char *what, const char *mention) {
  char *dir = e2e_tmpdir("fail");
  char *out = e2e_fmt("%s/out.so", dir);
  const char *argv[32] = {"compile", E2E_LOGREG, "-o", out};
  int n = 4;
  for (; *args && n < 31; args++) argv[n++] = *args;
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  cr_expect_eq(r.signal, 0, "%s: gradc was killed by signal %d: %s", what, r.signal, e2e_describe(&r));
  cr_expect(r.status == 1 || r.status == 2, "%s: expected exit status 1 or 2: %s", what, e2e_describe(&r));
  if (mention) cr_expect(strstr(r.err, mention), "%s: the message does not mention '%s': %s", what, mention, e2e_describe(&r));
  char names[1024];
  cr_expect_eq(e2e_count_entries(dir, names, sizeof names), 0, "%s: the failed compile left: %s", what, names);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
  free(out);
}

Test(cross, unknown_target_fails_cleanly, .timeout = 30) {
  fails_cleanly((const char *[]){"--target", "bogus-unknown-nowhere", NULL}, "--target bogus", "bogus-unknown-nowhere");
  fails_cleanly((const char *[]){"--target", "bogus-unknown-nowhere", "--emit", "obj", NULL}, "--target bogus --emit obj",
                "bogus-unknown-nowhere");
}

Test(cross, unknown_cpu_does_not_crash, .timeout = 30) {
  char *dir = e2e_tmpdir("cpu");
  char *out = e2e_fmt("%s/out.o", dir);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "--cpu", "no-such-cpu", "--emit", "obj", "-o", out, NULL);
  cr_expect_eq(r.signal, 0, "--cpu no-such-cpu: gradc was killed by signal %d: %s", r.signal, e2e_describe(&r));
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no-such-cpu"), "the message does not name the CPU: %s", e2e_describe(&r));
  char names[1024];
  cr_expect_eq(e2e_count_entries(dir, names, sizeof names), 0, "the failed compile left: %s", names);
  e2e_free(&r);
  free(out);
  e2e_rmdir(dir);
  free(dir);
}

/* A shared object for a foreign target needs a cross linker: linked by the host's cc,
 * the compile fails with a message that says what to do, and leaves no file. */
Test(cross, foreign_so_without_a_cross_linker_fails_cleanly, .timeout = 30) {
  char *dir = e2e_tmpdir("a64so");
  char *out = e2e_fmt("%s/a64.so", dir);
  e2e_result r;
  setenv("GRADC_CC", E2E_CC, 1); /* the host's compiler: it cannot link AArch64 objects */
  e2e_gradc(&r, "compile", E2E_LOGREG, "--target", "aarch64-linux-gnu", "-o", out, NULL);
  unsetenv("GRADC_CC");
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "aarch64") && strstr(r.err, "GRADC_CC") && strstr(r.err, "--emit obj"),
            "the message does not say what to do: %s", r.err);
  char names[1024];
  cr_expect_eq(e2e_count_entries(dir, names, sizeof names), 0, "the failed cross link left: %s", names);
  e2e_free(&r);
  free(out);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- outputs are ordinary files: permissions from the umask, like cc's ---- */

Test(emit, output_permissions_follow_umask, .timeout = 30) {
  umask(022); /* inherited by gradc */
  char *dir = e2e_tmpdir("mode");
  char *so = compile_ok(dir, "logreg.so", NULL);
  char *h = e2e_fmt("%s/logreg.h", dir);
  char *ir = compile_ok(dir, "logreg.ir", (const char *[]){"--emit", "ir", NULL});
  struct stat st;
  cr_assert(stat(so, &st) == 0);
  cr_expect_eq(st.st_mode & 0777, 0755, "logreg.so has mode %03o, expected 755 (umask 022)", st.st_mode & 0777);
  cr_assert(stat(h, &st) == 0);
  cr_expect_eq(st.st_mode & 0777, 0644, "logreg.h has mode %03o, expected 644 (umask 022)", st.st_mode & 0777);
  cr_assert(stat(ir, &st) == 0);
  cr_expect_eq(st.st_mode & 0777, 0644, "logreg.ir has mode %03o, expected 644 (umask 022)", st.st_mode & 0777);
  free(so), free(h), free(ir);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- --threads: large products in parts, and the runner setter only where they are ---- */

Test(emit, threads_option, .timeout = 60) {
  char *dir = e2e_tmpdir("threads");
  char *model = e2e_fmt("%s/big.grad", dir);
  cr_assert(e2e_write(model, "model big\ninput a : f32[64, 300]\nparam w : f32[300, 256] = randn\n"
                             "y = a @ w\noutput y\n"));
  const char *kinds[][2] = {{"3", "split.so"}, {"1", "whole.so"}};
  for (int i = 0; i < 2; i++) {
    char *out = e2e_fmt("%s/%s", dir, kinds[i][1]);
    e2e_result r;
    e2e_gradc(&r, "compile", model, "--threads", kinds[i][0], "-o", out, NULL);
    cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
    e2e_free(&r);
    bool split = i == 0;
    cr_expect_eq(has_symbol(out, "big_set_parallel"), split, "--threads %s: big_set_parallel %s", kinds[i][0],
                 split ? "missing" : "present");
    char *hpath = e2e_fmt("%s/%s", dir, split ? "split.h" : "whole.h"), *h = slurp(hpath);
    cr_expect_eq(strstr(h, "void big_set_parallel(") != NULL, split, "header of --threads %s:\n%s", kinds[i][0], h);
    free(h), free(hpath), free(out);
  }
  const char *bad[] = {"0", "65", "two", "-1"};
  for (int i = 0; i < 4; i++) {
    e2e_result r;
    e2e_gradc(&r, "compile", model, "--threads", bad[i], "-o", "/dev/null", NULL);
    cr_expect_eq(r.status, 2, "--threads %s: %s", bad[i], e2e_describe(&r));
    cr_expect(strstr(r.err, "--threads"), "--threads %s: %s", bad[i], r.err);
    e2e_free(&r);
  }
  free(model);
  e2e_rmdir(dir);
  free(dir);
}

/* -o onto something that is not a regular file (common/outfile.h): /dev/null is written
 * in place and stays a device (as root, renaming over it would delete it), and so does
 * the header beside it; a symbolic link is followed, its target replaced, the link
 * kept. */
Test(emit, device_and_link_outputs, .timeout = 60) {
  const char *kinds[] = {"ir", "so", "obj"};
  for (int i = 0; i < 3; i++) {
    e2e_result r;
    e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", kinds[i], "-o", "/dev/null", NULL);
    cr_expect_eq(r.status, 0, "--emit %s -o /dev/null: %s", kinds[i], e2e_describe(&r));
    e2e_free(&r);
    struct stat st;
    cr_assert(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "--emit %s -o /dev/null replaced the device",
              kinds[i]);
    cr_expect(!e2e_exists("/dev/null.h"), "--emit %s -o /dev/null wrote /dev/null.h", kinds[i]);
  }
  char *dir = e2e_tmpdir("link");
  char *real = e2e_fmt("%s/real.so", dir), *link = e2e_fmt("%s/link.so", dir);
  cr_assert(e2e_write(real, "old"));
  cr_assert(symlink("real.so", link) == 0);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "-o", link, NULL);
  cr_expect_eq(r.status, 0, "-o LINK: %s", e2e_describe(&r));
  e2e_free(&r);
  struct stat st;
  cr_expect(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
  char *text = e2e_read(real, NULL);
  cr_expect(text && !memcmp(text, "\177ELF", 4), "the link's target is not the new shared object");
  free(text);
  only_files(dir, (const char *const[]){"real.so", "link.so", "link.h", NULL});
  /* /dev/stdout onto a file the shell opened for appending: appended to, not replaced,
   * and no header (there is no "beside" /dev/stdout). */
  char *log = e2e_fmt("%s/log.txt", dir);
  cr_assert(e2e_write(log, "first\n"));
  char *line = e2e_fmt("'%s' compile '%s' --emit ir -o /dev/stdout >> '%s'", GRADC_BIN, E2E_LOGREG, log);
  e2e_run(&r, (const char *[]){"/bin/sh", "-c", line, NULL});
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  char *text2 = e2e_read(log, NULL);
  cr_expect(text2 && !strncmp(text2, "first\n# gradc", 13), "not appended:\n%.200s", text2);
  cr_expect(!e2e_exists("/dev/stdout.h"), "a header went to /dev/stdout.h");
  free(text2), free(line), free(log);
  e2e_rmdir(dir);
  free(dir), free(real), free(link);
}

/* -o naming the model itself, or a .h for so/obj (the header beside it would be the
 * same file), is refused (exit 2) before anything is written. */
Test(emit, refuses_to_clobber, .timeout = 30) {
  char *dir = e2e_tmpdir("clobber");
  char *model = e2e_fmt("%s/m.grad", dir), *h = e2e_fmt("%s/m.h", dir);
  char *src = e2e_read(E2E_LOGREG, NULL);
  cr_assert(src && e2e_write(model, src));
  e2e_result r;
  e2e_gradc(&r, "compile", model, "--emit", "ir", "-o", model, NULL);
  cr_expect_eq(r.status, 2, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "model file itself"), "%s", r.err);
  e2e_free(&r);
  char *now = e2e_read(model, NULL);
  cr_expect_str_eq(now, src, "the model file was changed");
  free(now);
  const char *kinds[] = {"so", "obj"};
  for (int i = 0; i < 2; i++) {
    e2e_gradc(&r, "compile", model, "--emit", kinds[i], "-o", h, NULL);
    cr_expect_eq(r.status, 2, "--emit %s -o m.h: %s", kinds[i], e2e_describe(&r));
    cr_expect(strstr(r.err, "header"), "%s", r.err);
    e2e_free(&r);
  }
  only_files(dir, (const char *const[]){"m.grad", NULL});
  free(src), free(model), free(h);
  e2e_rmdir(dir);
  free(dir);
}

/* --freeze: the named parameters lose their gradients; a name that is not a parameter
 * is an error (a typo would leave the parameter trainable), with the nearest name. */
Test(emit, freeze, .timeout = 30) {
  char *dir = e2e_tmpdir("freeze");
  char *out = compile_ok(dir, "f.so", (const char *[]){"--freeze", "w", NULL});
  char *hpath = e2e_fmt("%s/f.h", dir), *h = slurp(hpath);
  cr_expect(strstr(h, "param (frozen) w"), "w is not frozen in the header:\n%s", h);
  cr_expect(!strstr(h, "grad_w") && strstr(h, "grad_b"), "only b has a gradient:\n%s", h);
  free(h), free(hpath), free(out);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_LOGREG, "--freeze", "ww", "-o", "/dev/null", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "--freeze ww") && strstr(r.err, "did you mean 'w'"), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--freeze", "b,x", "-o", "/dev/null", NULL);
  cr_expect_eq(r.status, 1, "an input frozen: %s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no parameter named 'x'"), "%s", r.err);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
}

/* Writing onto a device goes through a temporary file in TMPDIR: when TMPDIR cannot
 * hold one, the message says so (not that the device cannot be written). */
Test(emit, in_place_output_needs_tmpdir, .timeout = 30) {
  e2e_result r;
  setenv("TMPDIR", "/nonexistent-gradc-tmpdir", 1);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "ir", "-o", "/dev/null", NULL);
  unsetenv("TMPDIR");
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "TMPDIR") && strstr(r.err, "/nonexistent-gradc-tmpdir"), "%s", r.err);
  e2e_free(&r);
}

/* ---- --dump-after: the graph after a pass, on stderr, in the form of --emit ir ---- */

/* The graph printed in `hay` after the line starting with `from`: the lines that follow
 * it of the graph's forms (`%id = ...`, output, minimize, grad), malloc'd; NULL if there
 * is no such line. */
static char *section(const char *hay, const char *from) {
  const char *s = strstr(hay, from);
  if (!s) return NULL;
  s = strchr(s, '\n') + 1;
  const char *e = s;
  while (*e == '%' || !strncmp(e, "output ", 7) || !strncmp(e, "minimize ", 9) || !strncmp(e, "grad ", 5)) {
    const char *nl = strchr(e, '\n');
    e = nl ? nl + 1 : e + strlen(e);
  }
  return strndup(s, (size_t)(e - s));
}

/* logreg's parameters, all zero, as safetensors. */
static char *zero_weights(const char *dir) {
  static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[5,3],\"data_offsets\":[0,60]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[60,72]}}";
  char *path = e2e_fmt("%s/zero.safetensors", dir);
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  size_t n = strlen(header), padded = (n + 7) / 8 * 8;
  for (int i = 0; i < 8; i++) fputc((int)((padded >> (8 * i)) & 0xff), f);
  fputs(header, f);
  for (size_t i = n; i < padded + 72; i++) fputc(i < padded ? ' ' : 0, f);
  cr_assert_eq(fclose(f), 0);
  return path;
}

Test(emit, dump_after, .timeout = 60) {
  e2e_result r;
  /* After optimize: exactly the graph part of --emit ir. */
  e2e_gradc(&r, "compile", E2E_LOGREG, "--emit", "ir", "-o", "-", "--dump-after=optimize", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  char *dumped = section(r.err, "# gradc: model logreg, after optimize\n"), *emitted = section(r.out, "# gradc");
  cr_assert(dumped && emitted, "%s", e2e_describe(&r));
  cr_expect(strstr(dumped, "grad w = %"), "no gradient in the dump:\n%s", dumped);
  cr_expect_str_eq(dumped, emitted, "the dump after optimize differs from --emit ir's graph");
  cr_expect(!strstr(r.err, "after build") && !strstr(r.err, "after autodiff"), "%s", r.err);
  free(dumped), free(emitted);
  e2e_free(&r);
  /* all: every pass that runs, in order; bake with --weights (parameters baked, no gradients). */
  char *dir = e2e_tmpdir("dump");
  char *w = zero_weights(dir);
  const char *passes[] = {"build", "bake", "autodiff", "optimize"};
  for (int baked = 0; baked < 2; baked++) {
    if (baked) e2e_gradc(&r, "compile", E2E_LOGREG, "--weights", w, "--dump-after", "all", "-o", "/dev/null", NULL);
    else e2e_gradc(&r, "compile", E2E_LOGREG, "--dump-after", "all", "-o", "/dev/null", NULL);
    cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
    const char *at = r.err;
    for (int k = 0; k < 4; k++) {
      char *head = e2e_fmt("# gradc: model logreg, after %s\n", passes[k]);
      const char *next = strstr(at, head);
      cr_expect_eq(next != NULL, k != 1 || baked, "%s%s in order:\n%s", head, baked ? "" : " (no --weights)", r.err);
      if (next) at = next + strlen(head);
      free(head);
    }
    char *build = section(r.err, "after build\n"), *autodiff = section(r.err, "after autodiff\n");
    cr_assert(build && autodiff, "%s", r.err);
    cr_expect(strstr(build, "%2    = param w : f32[5, 3]") && strstr(build, "minimize %") && !strstr(build, "grad"),
              "after build:\n%s", build);
    cr_expect_eq(strstr(autodiff, "grad w = %") != NULL, !baked, "after autodiff:\n%s", autodiff);
    if (baked) cr_expect(strstr(build, "param w : f32[5, 3]\n") && strstr(r.err, "param w : f32[5, 3] baked"), "%s", r.err);
    free(build), free(autodiff);
    e2e_free(&r);
  }
  /* A pass that will not run, or an unknown one, is a usage error. */
  const char *bad[][3] = {{"bake", NULL, "only with --weights"},
                          {"build,autodiff", "--inference", "--inference compiles no backward"},
                          {"build,optimise", NULL, "expected build, bake, autodiff, optimize or all"},
                          {"", NULL, "expected build"}};
  for (int i = 0; i < 4; i++) {
    e2e_gradc(&r, "compile", E2E_LOGREG, "--dump-after", bad[i][0], "-o", "/dev/null", bad[i][1], NULL);
    cr_expect_eq(r.status, 2, "--dump-after '%s': %s", bad[i][0], e2e_describe(&r));
    cr_expect(strstr(r.err, bad[i][2]), "--dump-after '%s': %s", bad[i][0], r.err);
    e2e_free(&r);
  }
  free(w);
  e2e_rmdir(dir);
  free(dir);
}
