/* e2e_onnx_bad.c — bad ONNX models through `gradc import` (and `gradc compile`/`run`): the
 * files of tests/e2e/onnx_bad/ (written by tools/onnx/mkbad.py) must give exit status 1
 * and exactly the message naming the node or tensor at fault, write nothing, and never
 * crash. Also what must work: names that are not C identifiers, collide or are keywords
 * (mapped, and the mapping shown), external data beside the model; and every truncation
 * of a valid model (an error or a model, never a signal). */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "e2e_util.h"

#define BAD_DIR GRADC_SOURCE_DIR "/tests/e2e/onnx_bad"

typedef struct {
  const char *file;  /* in tests/e2e/onnx_bad/ */
  const char *msg;   /* the message after "gradc import: ": {F} is the model's path, {D} its folder */
  const char *opt[3]; /* more arguments (NULL-terminated) */
} bad_case;

static bad_case cases[] = {
    /* protobuf */
    {"truncated.onnx", "'{F}' is not an ONNX model: its protobuf cannot be decoded (truncated or corrupt)", {NULL}},
    {"corrupt.onnx", "'{F}' is not an ONNX model: its protobuf cannot be decoded (truncated or corrupt)", {NULL}},
    {"no_graph.onnx", "'{F}' is not an ONNX model: it has no graph", {NULL}},
    {"nothere.onnx", "cannot open '{F}': No such file or directory", {NULL}},
    /* opsets and domains */
    {"opset_new.onnx", "{F}: opset 18 is not supported: gradc imports opsets 6 to 17 (ONNX 1.1 to 1.12), and from "
                       "opset 1 the operators whose definition has not changed since; re-export the model with "
                       "torch.onnx.export(..., opset_version=17) or convert it with onnx.version_converter", {NULL}},
    {"opset_old.onnx", "{F}: node 0 'cat' (Concat, opset 4): Concat is supported from opset 6 (its definition before "
                       "may differ): re-export the model with a newer opset", {NULL}},
    {"opset_none.onnx", "{F}: the model imports no opset of the default ONNX domain", {NULL}},
    {"domain.onnx", "{F}: node 0 'fused' (FusedGemm, opset 13): operators of the domain 'com.microsoft' are not "
                    "supported (only the default ONNX domain)", {NULL}},
    /* the graph */
    {"cycle.onnx", "{F}: the graph has a cycle: node 1 'first' (Add) reads 'b', computed by node 2 'second' (Relu), "
                   "which depends on the output of node 1 'first' (Add)", {NULL}},
    {"undefined.onnx", "{F}: node 1 'reader' (Add): its input 'ghost' is not a graph input, an initializer or any "
                       "node's output", {NULL}},
    {"twice_node.onnx", "{F}: node 1 'two' (Neg, opset 13): its output 'y' is already defined (a graph input, an "
                        "initializer or another node's output): a value is defined once", {NULL}},
    {"twice_init.onnx", "{F}: initializer 'w' is defined twice", {NULL}},
    {"twice_input.onnx", "{F}: graph input 'x' is declared twice", {NULL}},
    {"no_output.onnx", "{F}: graph output 'z' is not computed by any node", {NULL}},
    /* sizes */
    {"huge_overflow.onnx", "{F}: tensor 'w' declares more than 2^31 elements", {NULL}},
    {"huge_2g.onnx", "{F}: tensor 'w' declares more than 2^31 elements", {NULL}},
    {"huge_input.onnx", "{F}: graph input 'x' has more than 2^31 elements", {NULL}},
    {"raw_short.onnx", "{F}: tensor 'w' declares 4 elements (16 bytes) but its raw data has 8 bytes", {NULL}},
    {"typed_short.onnx", "{F}: tensor 'w' declares 4 elements but holds 3", {NULL}},
    {"zero_dim.onnx", "{F}: graph input 'x' is empty (a dimension of size 0): gradc computes no empty tensors, but an "
                      "empty list of values may be bound with --const x=", {NULL}},
    /* external data */
    {"ext_absolute.onnx", "{F}: tensor 'w': external data '/etc/passwd' is outside the model's folder '{D}' (refused)", {NULL}},
    {"ext_missing.onnx", "{F}: tensor 'w': cannot open its external data '{D}/nothere.bin': No such file or directory", {NULL}},
    {"ext_past_end.onnx", "{F}: tensor 'w': external data 'ext_ok.bin' holds 16 bytes; the tensor needs 8 at offset 12", {NULL}},
    {"ext_length.onnx", "{F}: tensor 'w': external data 'ext_ok.bin' has length 4, the tensor needs 8 bytes", {NULL}},
    {"ext_no_location.onnx", "{F}: tensor 'w' is stored externally but names no location", {NULL}},
    /* what gradc does not support */
    {"op.onnx", "{F}: node 0 'nms' (NonMaxSuppression, opset 13): the operator NonMaxSuppression is not supported", {NULL}},
    {"double_input.onnx", "{F}: graph input 'x' has element type double; supported: float, int32, int64, bool", {NULL}},
    {"uint8_input.onnx", "{F}: graph input 'x' has element type uint8; supported: float, int32, int64, bool", {NULL}},
    {"double_init.onnx", "{F}: initializer 'w' has element type double; supported: float, int32, int64, bool", {NULL}},
    {"uint8_constant.onnx", "{F}: node 0 'k' (Constant, opset 13): a constant of element type uint8 is not supported", {NULL}},
    {"no_shape.onnx", "{F}: graph input 'x' has no shape: give it with --shape x=DxDx..", {NULL}},
    {"symbolic.onnx", "{F}: input 'x' has the symbolic dimension 'N' (axis 0): give its size with -D N=INT or the "
                      "input's shape with --shape x=DxDx..", {NULL}},
    {"ok_add.onnx", "{F}: --const x: 3 values given, the input has 2", {"--const", "x=1,2,3"}},
};

/* s with every {F} replaced by f and {D} by d (malloc'd). */
static char *fill(const char *s, const char *f, const char *d) {
  char *out = malloc(strlen(s) + 8 * (strlen(f) + strlen(d)) + 1), *o = out;
  for (; *s; s++) {
    if (!strncmp(s, "{F}", 3) || !strncmp(s, "{D}", 3)) {
      o = stpcpy(o, s[1] == 'F' ? f : d);
      s += 2;
    } else *o++ = *s;
  }
  *o = 0;
  return out;
}

/* gradc CMD path [opts] -o DIR/m.grad: exit 1, exactly the message, nothing written. */
static void expect_refused(const char *cmd, const char *path, const char *dir, const char *msg,
                           const char *const *opt) {
  char *tmp = e2e_tmpdir("onnx_bad"), *out = e2e_fmt("%s/m.%s", tmp, strcmp(cmd, "import") ? "so" : "grad");
  const char *args[12] = {cmd, path};
  int n = 2;
  for (int i = 0; opt && opt[i]; i++) args[n++] = opt[i];
  args[n++] = "-o", args[n++] = out, args[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, args);
  char *want = fill(msg, path, dir), *line = e2e_fmt("gradc %s: %s\n", cmd, want);
  cr_expect_eq(r.status, 1, "%s %s: %s", cmd, path, e2e_describe(&r));
  cr_expect_str_eq(r.err, line, "%s %s", cmd, path);
  cr_expect_eq(e2e_count_entries(tmp, NULL, 0), 0, "%s %s wrote something", cmd, path);
  free(want), free(line), free(out);
  e2e_free(&r);
  e2e_rmdir(tmp);
  free(tmp);
}

/* By index: a parameterized test runs in a fresh process (its pointers would not hold). */
#define NCASES (sizeof cases / sizeof *cases)
static int index_[NCASES];

ParameterizedTestParameters(onnx_bad, refused) {
  for (size_t i = 0; i < NCASES; i++) index_[i] = (int)i;
  return cr_make_param_array(int, index_, NCASES);
}

ParameterizedTest(int *i, onnx_bad, refused, .timeout = 60) {
  const bad_case *c = &cases[*i];
  char *path = e2e_fmt("%s/%s", BAD_DIR, c->file);
  expect_refused("import", path, BAD_DIR, c->msg, c->opt);
  free(path);
}

/* The same message from compile as from import (the model is imported the same way). */
Test(onnx_bad, compile_refuses_alike, .timeout = 60) {
  char *path = e2e_fmt("%s/cycle.onnx", BAD_DIR);
  expect_refused("compile", path, BAD_DIR, cases[8].msg, NULL);
  free(path);
}

/* "../outside.bin" next to the model's folder exists, and is still refused. */
Test(onnx_bad, external_parent_refused, .timeout = 60) {
  char *tmp = e2e_tmpdir("onnx_ext"), *sub = e2e_fmt("%s/sub", tmp);
  cr_assert_eq(mkdir(sub, 0755), 0);
  size_t n;
  char *model = e2e_read(BAD_DIR "/ext_parent.onnx", &n), *path = e2e_fmt("%s/m.onnx", sub);
  FILE *f = fopen(path, "wb");
  cr_assert(f && fwrite(model, 1, n, f) == n && !fclose(f));
  free(e2e_write_file(tmp, "outside.bin", "12345678"));
  expect_refused("import", path, sub, "{F}: tensor 'w': external data '../outside.bin' is outside the model's folder "
                 "'{D}' (refused)", NULL);
  unlink(path), free(path), free(model);
  e2e_rmdir(sub), free(sub);
  e2e_rmdir(tmp), free(tmp);
}

/* An initializer in a file beside the model, whole or at an offset. */
Test(onnx_bad, external_data_beside_the_model, .timeout = 60) {
  const char *files[] = {"ext_ok.onnx", "ext_ok_offset.onnx"};
  const char *want[] = {"y [2] = 10 11", "y [2] = 11 22"}; /* w = [9, 9] and [10, 20] */
  for (int i = 0; i < 2; i++) {
    char *path = e2e_fmt("%s/%s", BAD_DIR, files[i]);
    e2e_result r;
    e2e_gradc(&r, "run", path, "--set", "x=1,2", NULL);
    cr_expect_eq(r.status, 0, "%s: %s", files[i], e2e_describe(&r));
    cr_expect(strstr(r.out, want[i]), "%s: %s", files[i], r.out);
    e2e_free(&r);
    free(path);
  }
}

/* Names that are no C identifiers, collide once mapped, or are keywords of C or of the
 * language: mapped, the mapping shown, and the model runs under the new names. */
Test(onnx_bad, names_mapped, .timeout = 60) {
  char *tmp = e2e_tmpdir("onnx_names"), *out = e2e_fmt("%s/names.grad", tmp);
  e2e_result r;
  e2e_gradc(&r, "import", BAD_DIR "/names.onnx", "-o", out, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  const char *mapping = "gradc import: names mapped (ONNX -> .grad):\n"
                        "  output   output -> output_\n"
                        "  output   float -> float_\n"
                        "  input    input -> input_\n"
                        "  param    fc1.weight -> fc1_weight\n"
                        "  param    fc1_weight -> fc1_weight_2\n";
  cr_expect(!strncmp(r.err, mapping, strlen(mapping)), "%s", r.err);
  char *grad = e2e_read(out, NULL);
  cr_assert(grad);
  cr_expect(strstr(grad, "param fc1_weight : f32[2]  # ONNX 'fc1.weight', float\n"), "%s", grad);
  cr_expect(strstr(grad, "v_1st = _0_Mul_output_0 + fc1_weight_2\n"), "%s", grad);
  cr_expect(strstr(grad, "# node 3 'model': Neg\noutput_ = -float_\n"), "%s", grad);
  free(grad);
  e2e_free(&r);
  /* x * [0.5, -1] + [2, 3], relu, negated */
  e2e_gradc(&r, "run", BAD_DIR "/names.onnx", "--set", "input_=2,4", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "output_ [2] = -3 -0"), "%s", r.out);
  cr_expect(strstr(r.out, "float_ [2] = 3 0"), "%s", r.out);
  e2e_free(&r);
  free(out);
  e2e_rmdir(tmp), free(tmp);
}

/* A graph input that decides a shape, left unbound: the --const message. */
Test(onnx_bad, unbound_shape_input, .timeout = 60) {
  e2e_result r;
  e2e_gradc(&r, "import", BAD_DIR "/unbound.onnx", "-o", "/dev/null", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect_str_eq(r.err, "gradc import: " BAD_DIR "/unbound.onnx: node 0 'reshape' (Reshape, opset 13): its shape "
                          "(input 1, 'shape') must be known at import time: it is a graph input; bind its values "
                          "with --const NAME=VALUES (gradc run: --set)\n");
  e2e_free(&r);
}

/* Every truncation of a valid model: refused with a message, or (cut between fields) a
 * model; never a signal (e2e_run also fails on a sanitizer report). */
Test(onnx_bad, every_truncation, .timeout = 120) {
  size_t n;
  char *model = e2e_read(BAD_DIR "/names.onnx", &n), *tmp = e2e_tmpdir("onnx_trunc");
  char *path = e2e_fmt("%s/t.onnx", tmp), *out = e2e_fmt("%s/t.grad", tmp), *w = e2e_fmt("%s/t.safetensors", tmp);
  for (size_t k = 0; k < n; k += 3) {
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(model, 1, k, f) == k && !fclose(f));
    e2e_result r;
    e2e_gradc(&r, "import", path, "-o", out, NULL);
    cr_expect(r.status == 0 || r.status == 1, "%zu bytes: %s", k, e2e_describe(&r));
    cr_expect(r.status == 0 || !strncmp(r.err, "gradc import: ", 14), "%zu bytes: %s", k, r.err);
    e2e_free(&r);
    unlink(out), unlink(w);
  }
  unlink(path);
  free(path), free(out), free(w), free(model);
  e2e_rmdir(tmp), free(tmp);
}
