/* e2e_header.c — the header gradc writes beside logreg.so at build time (gen/logreg.h):
 * its text (docs/ABI.md, "The header") and that C and C++ compilers accept
 * it warning-free. */
#define _DEFAULT_SOURCE /* strndup, unlink, umask under -std=c11 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "e2e_util.h"

static char *header(void) {
  char *h = e2e_read(E2E_GEN_DIR "/logreg.h", NULL);
  cr_assert(h, "cannot read " E2E_GEN_DIR "/logreg.h");
  return h;
}

/* The declaration of fn: from "void fn(" to the next ");", white space squeezed. */
static char *declaration(const char *h, const char *fn) {
  char *start_pat = e2e_fmt("void %s(", fn);
  const char *s = strstr(h, start_pat);
  free(start_pat);
  if (!s) return NULL;
  const char *e = strstr(s, ");");
  if (!e) return NULL;
  char *d = malloc((size_t)(e - s) + 3), *o = d;
  for (const char *p = s; p < e + 2; p++) {
    char c = (*p == '\n' || *p == '\t') ? ' ' : *p;
    if (c == ' ' && (o == d || o[-1] == ' ' || o[-1] == '(')) continue;
    *o++ = c;
  }
  *o = 0;
  return d;
}

Test(header, text) {
  char *h = header();
  static const char *want[] = {"#define LOGREG_X_SIZE 5",  "#define LOGREG_Y_SIZE 3", "#define LOGREG_W_SIZE 15",
                               "#define LOGREG_B_SIZE 3",  "#define LOGREG_Z_SIZE 3", "#define LOGREG_WORKSPACE_BYTES",
                               "#include <stdint.h>", "extern \"C\""};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_expect(strstr(h, want[i]), "logreg.h lacks '%s':\n%s", want[i], h);
  /* The shapes in comments. */
  cr_expect(strstr(h, "[5, 3]"), "logreg.h does not give w's shape:\n%s", h);
  char *fwd = declaration(h, "logreg_forward"), *bwd = declaration(h, "logreg_backward");
  cr_assert(fwd, "no declaration of logreg_forward:\n%s", h);
  cr_assert(bwd, "no declaration of logreg_backward:\n%s", h);
  cr_expect_str_eq(fwd,
                   "void logreg_forward(const float *x, const float *y, const float *w, const float *b, float *z, "
                   "float *loss, void *workspace);");
  cr_expect_str_eq(bwd,
                   "void logreg_backward(const float *x, const float *y, const float *w, const float *b, "
                   "float *grad_w, float *grad_b, float *z, float *loss, void *workspace);");
  free(fwd);
  free(bwd);
  free(h);
}

static void compiles(const char *compiler, const char *lang, const char *std) {
  char *dir = e2e_tmpdir("hdr");
  cr_assert(dir);
  /* Included twice (include guard) from a file that uses every declaration. */
  char *src = e2e_fmt("%s/use.%s", dir, lang[1] == '+' ? "cc" : "c");
  cr_assert(e2e_write(src, "#include \"logreg.h\"\n#include \"logreg.h\"\n"
                           "int use(void);\n"
                           "int use(void) {\n"
                           "  static float x[LOGREG_X_SIZE], y[LOGREG_Y_SIZE], w[LOGREG_W_SIZE], b[LOGREG_B_SIZE];\n"
                           "  static float gw[LOGREG_W_SIZE], gb[LOGREG_B_SIZE], z[LOGREG_Z_SIZE], loss;\n"
                           "  static unsigned char ws[LOGREG_WORKSPACE_BYTES + 64];\n"
                           "  logreg_forward(x, y, w, b, z, &loss, ws);\n"
                           "  logreg_backward(x, y, w, b, gw, gb, z, &loss, ws);\n"
                           "  return logreg_descriptor() != 0;\n"
                           "}\n"));
  e2e_result r;
  /* The header alone, then a file that uses it. */
  const char *argv1[] = {compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", std,
                         "-x", lang, E2E_GEN_DIR "/logreg.h", NULL};
  e2e_run(&r, argv1);
  cr_expect_eq(r.status, 0, "%s %s rejects logreg.h: %s", compiler, lang, e2e_describe(&r));
  e2e_free(&r);
  const char *argv2[] = {compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", std,
                         "-I" E2E_GEN_DIR, "-x", lang, src, NULL};
  e2e_run(&r, argv2);
  cr_expect_eq(r.status, 0, "%s %s rejects a file using logreg.h: %s", compiler, lang, e2e_describe(&r));
  e2e_free(&r);
  unlink(src);
  e2e_rmdir(dir);
  free(dir);
  free(src);
}

Test(header, compiles_as_c, .timeout = 30) {
  compiles(E2E_CC, "c", "-std=c99");
  compiles(E2E_CC, "c", "-std=c11");
}

/* C++ (a C++ compiler is required at configure time: tools/setup/install-deps.sh). */
Test(header, compiles_as_cxx, .timeout = 30) { compiles(E2E_CXX, "c++", "-std=c++11"); }

/* Names C cannot take as they are — keywords of C and C++, a tensor named like a fixed
 * argument (loss, workspace) or like another's gradient (grad_w), names differing only
 * in case (x, X: one size macro) — get a trailing underscore in the header, which
 * compiles as C and C++ (entry.c name_args, emit.c emit_header). */
Test(header, odd_names, .timeout = 30) {
  char *dir = e2e_tmpdir("header_odd");
  char *so = e2e_fmt("%s/odd.so", dir), *h = e2e_fmt("%s/odd.h", dir);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_MODELS_DIR "/odd_names.grad", "-o", so, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  char *text = e2e_read(h, NULL);
  cr_assert(text, "no %s", h);
  char *fwd = declaration(text, "odd_forward");
  cr_expect_str_eq(fwd, "void odd_forward(const float *class_, const float *X, const float *x, const float *grad_w, "
                        "const float *workspace_, const float *w, const float *double_, float *loss_, float *loss, "
                        "void *workspace);");
  char *bwd = declaration(text, "odd_backward");
  cr_expect(bwd && strstr(bwd, "float *grad_w_, float *grad_double,"), "%s", bwd);
  cr_expect(strstr(text, "#define ODD_X_SIZE 3 /* input X") && strstr(text, "#define ODD_X__SIZE 3 /* input x"),
            "the size macros of X and x:\n%s", text);
  const char *cc[] = {E2E_CC, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-std=c11", "-x", "c",
                      h, NULL};
  e2e_run(&r, cc);
  cr_expect_eq(r.status, 0, "cc rejects odd.h: %s", e2e_describe(&r));
  e2e_free(&r);
  const char *cxx[] = {E2E_CXX, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-std=c++11", "-x", "c++", h, NULL};
  e2e_run(&r, cxx);
  cr_expect_eq(r.status, 0, "c++ rejects odd.h: %s", e2e_describe(&r));
  e2e_free(&r);
  free(fwd), free(bwd), free(text), free(so), free(h);
  e2e_rmdir(dir);
  free(dir);
}

/* An i32 output is an int32_t buffer in the header, as an i32 input is a const one. */
Test(header, int_outputs, .timeout = 30) {
  char *dir = e2e_tmpdir("header_int");
  char *so = e2e_fmt("%s/io.so", dir), *h = e2e_fmt("%s/io.h", dir);
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_MODELS_DIR "/int_outputs.grad", "-o", so, "--inference", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  char *text = e2e_read(h, NULL);
  cr_assert(text, "no %s", h);
  char *fwd = declaration(text, "intout_forward");
  cr_expect(fwd && strstr(fwd, "(const float *x, const int32_t *l, const float *w, float *scores, int32_t *lab, int32_t *pred,"),
            "%s", fwd);
  cr_expect(strstr(text, "#define INTOUT_LAB_SIZE 3 /* output lab i32[3, 1] */"), "%s", text);
  const char *cc[] = {E2E_CC, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-std=c11", "-x", "c",
                      h, NULL};
  e2e_run(&r, cc);
  cr_expect_eq(r.status, 0, "cc rejects io.h: %s", e2e_describe(&r));
  e2e_free(&r);
  free(fwd), free(text), free(so), free(h);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- the public headers (include/gradc), from C++ ---- */

/* A C++ program that includes every public header (twice: include guards) and calls a
 * function of each library: the compiler (gc_graph_build on a model in memory), the
 * runtime (gradc_open of a missing file), its freestanding core (the seeded generator)
 * and the tape engine. Without extern "C" in a header its functions get C++ names and
 * the link fails. */
static const char cxx_program[] =
    "#include \"gradc/compiler.h\"\n#include \"gradc/runtime.h\"\n#include \"gradc/runtime_core.h\"\n"
    "#include \"gradc/descriptor.h\"\n#include \"gradc/tape.h\"\n"
    "#include \"gradc/compiler.h\"\n#include \"gradc/runtime.h\"\n#include \"gradc/runtime_core.h\"\n"
    "#include \"gradc/descriptor.h\"\n#include \"gradc/tape.h\"\n"
    "#include <cstdio>\n#include <cstring>\n"
    "static const char model[] = \"model m\\nparam w : f32[2] = ones\\nloss = sum(w * w)\\nminimize loss\\n\";\n"
    "int main() {\n"
    "  char err[1024] = \"\";\n"
    "  gc_options o;\n"
    "  std::memset(&o, 0, sizeof o);\n"
    "  o.path = \"m.grad\";\n"
    "  o.source = model;\n"
    "  gc_graph *g = gc_graph_build(&o, err, sizeof err);\n"
    "  if (!g) return std::printf(\"gc_graph_build: %s\\n\", err), 1;\n"
    "  double *w = gc_graph_tensor(g, \"w\", 0);\n"
    "  w[0] = w[1] = 1;\n"
    "  gc_graph_eval(g);\n"
    "  std::printf(\"compiler %s loss %g\\n\", gc_version(), gc_graph_loss(g));\n"
    "  gc_graph_free(g);\n"
    "  gradc_model *m = gradc_open(\"/nonexistent/m.so\", err, sizeof err);\n"
    "  std::printf(\"runtime %s %s\\n\", m ? \"opened\" : \"refused\", GRADC_DESCRIPTOR_SYMBOL);\n"
    "  gradc_rng r;\n"
    "  gradc_rng_seed(&r, 1, \"x\");\n"
    "  std::printf(\"core %d\\n\", gradc_rng_u01(&r) < 1.0);\n"
    "  tape_model *t = tape_open(\"m.grad\", model, 0, 0, 0, err, sizeof err);\n"
    "  if (!t || tape_backward(t)) return std::printf(\"tape: %s\\n\", t ? tape_error(t) : err), 1;\n"
    "  std::printf(\"tape loss %g\\n\", (double)tape_loss(t));\n"
    "  tape_close(t);\n"
    "  return 0;\n"
    "}\n";

/* Appends the "|"-separated words of list to argv at *n. */
static void add_words(const char **argv, int *n, int max, char *list) {
  for (char *w = strtok(list, "|"); w && *n < max; w = strtok(NULL, "|")) argv[(*n)++] = w;
}

Test(header, public_headers_link_from_cxx, .timeout = 60) {
  char *dir = e2e_tmpdir("cxx_api");
  char *src = e2e_fmt("%s/use.cc", dir), *exe = e2e_fmt("%s/use", dir);
  cr_assert(e2e_write(src, cxx_program));
  char flags[] = E2E_CXX_FLAGS, link[] = E2E_CXX_LINK;
  static const char include[] = "-I" E2E_INCLUDE_DIR;
  const char *argv[64] = {E2E_CXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", include};
  int n = 7;
  add_words(argv, &n, 60, flags);
  argv[n++] = src, argv[n++] = "-o", argv[n++] = exe;
  add_words(argv, &n, 63, link);
  argv[n] = NULL;
  e2e_result r;
  e2e_run(&r, argv);
  cr_assert_eq(r.status, 0, "a C++ program using include/gradc/*.h does not build: %s", e2e_describe(&r));
  e2e_free(&r);
  const char *run[] = {exe, NULL};
  e2e_run(&r, run);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  char *want = e2e_fmt("compiler %s loss 2\nruntime refused gradc_model_descriptor\ncore 1\ntape loss 2\n",
                       GRADC_VERSION);
  cr_expect_str_eq(r.out, want);
  e2e_free(&r);
  unlink(exe), unlink(src);
  e2e_rmdir(dir);
  free(want), free(exe), free(src), free(dir);
}
