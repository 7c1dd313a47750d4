/* e2e_errors.c — malformed models through `gradc compile`: every file in tests/e2e/bad/
 * must give exit status 1 and, on stderr, `FILE:LINE:COL: error: MESSAGE`, the source
 * line and a caret under the column (docs/LANGUAGE.md, section 9); and it must write nothing: no
 * output, no header, no temporary file left in the output directory. */
#define _DEFAULT_SOURCE /* strndup, unlink, umask under -std=c11 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "e2e_util.h"

typedef struct {
  const char *file; /* in tests/e2e/bad/ */
  int line, col;
  const char *msg[4]; /* substrings of the message (NULL-terminated) */
} bad_case;

static bad_case cases[] = {
    {"unknown_op.grad", 4, 5, {"relu2", "did you mean 'relu'", "README.md, section \"Operators\""}},
    {"shape_mismatch.grad", 5, 7, {"[3]", "[4]"}},
    {"matmul_mismatch.grad", 5, 7, {"[2, 3]", "[4, 5]"}},
    {"duplicate_name.grad", 5, 1, {"'y'", "already defined"}},
    {"missing_model.grad", 2, 1, {"model NAME"}},
    {"bad_number.grad", 4, 9, {"1.2.3"}},
    {"unterminated_call.grad", 4, 8, {"exp", "')'"}},
    {"unknown_dim.grad", 3, 15, {"'H'"}},
    {"i32_param.grad", 4, 11, {"'w'", "f32"}},
    {"loss_not_scalar.grad", 6, 10, {"scalar", "[3]"}},
    {"empty.grad", 1, 1, {"model NAME"}},
    {"unknown_name.grad", 5, 9, {"wieght", "did you mean 'weight'"}},
    {"bad_kwarg.grad", 4, 12, {"axs", "did you mean 'axis'"}},
    {"method_call.grad", 4, 6, {"no methods", "sum(x)"}},
    {"python_true.grad", 4, 29, {"lowercase", "True is true"}},
    {"transpose_rank3.grad", 4, 5, {"perm"}},
    /* comparisons and elementwise (issue 15) */
    {"pow_shapes.grad", 5, 7, {"[3] and [4]", "'**'"}},
    {"cmp_chain.grad", 5, 12, {"comparisons do not chain", "(a < b) * (b < c)"}},
    {"clamp_no_bounds.grad", 4, 5, {"clamp needs min= or max="}},
    {"prelu_weight.grad", 5, 14, {"one per channel (4, dimension 1 of x [2, 4, 3])", "got [3]"}},
    {"where_shapes.grad", 5, 5, {"[2, 3] and [4]", "'where'"}},
    /* ---- normalization and attention (issue 15) */
    {"layer_norm_shape.grad", 4, 20, {"layer_norm: normalized_shape must be the trailing sizes", "[2, 3, 4]"}},
    {"layer_norm_weight.grad", 5, 29, {"layer_norm: weight must be f32 [8]", "got f32 [4]"}},
    {"group_norm_groups.grad", 5, 19, {"6 channels", "do not divide into 4 groups"}},
    /* ---- batch norm and buffers (issue 15) */
    {"batch_norm_buffer_shape.grad", 6, 23, {"batch_norm: running_var must be f32 [3]", "got f32 [4]"}},
    {"batch_norm_not_buffer.grad", 6, 19, {"running_mean must be a buffer", "buffer NAME : f32[3]"}},
    {"batch_norm_rank.grad", 6, 16, {"batch_norm needs an f32 input [N, C, *]", "got f32 [3]"}},
    {"batch_norm_shared.grad", 7, 5, {"already updated by another batch_norm"}},
    {"buffer_frozen.grad", 3, 28, {"a buffer is never trained"}},
    /* ---- attention (issue 15) */
    {"sdpa_width.grad", 6, 5, {"scaled_dot_product_attention: q [2, 5, 4] and k [2, 6, 3]", "same last size (D)"}},
    {"tril_rank.grad", 4, 10, {"tril needs an f32 tensor of at least 2 dimensions", "got f32 [5]"}},
    {"masked_fill_value.grad", 5, 27, {"masked_fill: the value must be a number", "got [2, 3]"}},
    /* ---- dropout and modes (issue 15) */
    {"dropout_p.grad", 4, 18, {"dropout probability p must be in [0, 1], got 1.5"}},
    {"dropout_i32.grad", 4, 5, {"'dropout' needs f32 operands", "i32"}},
    {"unknown_type.grad", 3, 11, {"f64"}},
    {"axis_out_of_range.grad", 4, 17, {"axis 5", "rank 2"}},
    {"labels_not_i32.grad", 5, 8, {"i32"}},
    {"invalid_utf8.grad", 3, 7, {"UTF-8"}},
    {"unknown_statement.grad", 4, 1, {"statement"}},
    {"second_minimize.grad", 5, 1, {"minimize"}},
    {"bad_reshape.grad", 4, 5, {"[3, 4]"}},
    {"zero_dim.grad", 3, 15, {"dimension"}},
    {"repeated_kwarg.grad", 4, 20, {"axis", "repeated"}},
    {"output_unknown.grad", 4, 8, {"'xx'", "did you mean 'x'"}},
    /* An output of a parameter under its own name: two tensors, one name. */
    {"output_param.grad", 6, 8, {"'w' is a parameter", "w_out = w"}},
    {"used_before_definition.grad", 4, 5, {"'z'", "before its definition at line 5"}},
    /* Operator errors name the operator as written (mse, not the sub it expands into). */
    {"mse_mismatch.grad", 5, 5, {"[3] and [4]", "in 'mse'"}},
    {"conv_channels.grad", 5, 5, {"3 channels", "expects 2"}},
    {"conv_not_4d.grad", 5, 5, {"4-D", "[3, 8, 8]"}},
    {"pool_too_big.grad", 4, 5, {"window 5", "[1, 1, 4, 4]"}},
    /* ---- convolution and pooling (issue 15) */
    {"conv_groups.grad", 5, 5, {"3 output channels", "2 groups"}},
    {"conv_same_stride.grad", 5, 36, {"padding=\"same\" needs stride 1"}},
    {"conv_padding_4.grad", 5, 26, {"one per spatial axis"}},
    {"conv_transpose_outpad.grad", 5, 53, {"output_padding 2", "smaller than the stride 2"}},
    {"pool_pad_too_big.grad", 4, 30, {"at most half the window 3"}},
    {"adaptive_pool_size.grad", 4, 28, {"only output_size 1", "2x2"}},
    {"conv1d_rank.grad", 5, 12, {"conv1d input", "3-D", "[1, 2, 8, 8]"}},
    {"ce_not_2d.grad", 5, 5, {"cross_entropy", "[2, 3, 4]"}},
    {"transpose_perm.grad", 4, 23, {"perm", "2 axes"}},
    {"matmul_4d.grad", 5, 7, {"[2, 2, 2, 2]", "3-D"}},
    /* ---- indexing and assembling (issue 15) ---- */
    {"concat_mismatch.grad", 5, 16, {"'concat'", "tensor 2", "[3, 3]"}},
    {"cat_not_list.grad", 4, 9, {"list of tensors", "cat([a, b], axis=1)"}},
    {"stack_shapes.grad", 5, 15, {"'stack'", "[2, 4]", "equal shapes"}},
    {"narrow_range.grad", 4, 21, {"length 4", "size 5"}},
    {"unsqueeze_axis.grad", 4, 18, {"axis 4", "rank 3"}},
    {"expand_size.grad", 4, 19, {"expand", "size 4", "[3, 2]"}},
    {"repeat_few.grad", 4, 15, {"repeat", "1 repeats", "2 axes"}},
    {"pad_odd.grad", 4, 12, {"pairs", "3 values"}},
    /* ---- indexing II (issue 15) ---- */
    {"embedding_f32_ids.grad", 5, 15, {"'embedding' needs i32 ids", "f32 [3]"}},
    {"embedding_table.grad", 5, 20, {"table [V, D]", "[5, 2, 2]"}},
    {"gather_rank.grad", 5, 18, {"gather", "rank of x [3, 4]"}},
    {"one_hot_classes.grad", 4, 18, {"num_classes", ">= 1"}},
    {"index_too_many.grad", 4, 6, {"too many indices", "rank 2"}},
    {"index_range.grad", 4, 11, {"index -3 is out of range", "size 2"}},
    {"index_step0.grad", 4, 9, {"step cannot be zero"}},
    {"split_names.grad", 4, 8, {"split gives 3 tensors, 2 names"}},
    {"pad_reflect_big.grad", 4, 16, {"reflect", "smaller than the size", "[2, 3]"}},
    {"multi_not_split.grad", 4, 8, {"2 names", "split(...) or chunk(...)"}},
    /* 3-D batches broadcast as torch.matmul's (1 against B); others are refused, saying so */
    {"matmul_batch.grad", 5, 7, {"[2, 3, 4] and [3, 4, 5]", "batch sizes 2 and 3 do not broadcast"}},
    {"matmul_3d_inner.grad", 6, 7, {"[2, 3, 4] and [5, 6]", "inner dimensions 4 and 5"}},
    /* PyTorch habits get the gradc spelling */
    {"torch_dim.grad", 4, 12, {"'sum' has no argument 'dim'", "did you mean 'axis'?", "PyTorch's dim"}},
    {"torch_alpha.grad", 4, 19, {"'leaky_relu' has no argument 'alpha'", "did you mean 'slope'?"}},
    {"torch_negative_slope.grad", 4, 19, {"'negative_slope'", "did you mean 'slope'?", "PyTorch's negative_slope"}},
    {"tuple_axis.grad", 4, 17, {"tuple", "axis=[0, 1]"}},
    {"torch_op.grad", 5, 8, {"'mse_loss'", "did you mean 'mse'?", "README.md, section \"Operators\""}},
    {"unknown_name_tensor.grad", 7, 12, {"unknown name 'n'", "did you mean 'n1'?"}},
    /* PyTorch raises ValueError for bce_with_logits of two shapes */
    {"bce_shape.grad", 9, 8, {"bce_with_logits", "target's shape [4] must be the logits' shape [4, 1]",
                              "reshape(t, [4, 1])"}},
    {"keepdims_two.grad", 4, 29, {"true or false"}},
    {"too_many_args.grad", 4, 13, {"'relu'", "1 argument"}},
    {"i32_arith.grad", 5, 7, {"'+' needs f32", "('t') is i32"}},
    {"bad_init.grad", 3, 20, {"LO < HI"}},
    /* ---- strings and i32 outputs (issue 15, reductions and losses) ---- */
    {"string_value.grad", 4, 9, {"a string is only allowed as an argument", "reduction=\"sum\""}},
    {"string_unterminated.grad", 4, 17, {"unterminated string"}},
    {"min_axis.grad", 4, 17, {"axis 2 is out of range", "rank 2"}},
    {"prod_i32.grad", 4, 5, {"'prod' needs f32 operands", "('l') is i32"}},
    {"var_correction.grad", 4, 31, {"correction must be an integer >= 0"}},
    {"std_keepdims.grad", 4, 29, {"true or false"}},
    {"logsumexp_axis.grad", 4, 23, {"axis -3 is out of range"}},
    {"argmax_list.grad", 4, 20, {"argmax takes one axis", "torch.argmax"}},
    {"argmin_i32.grad", 4, 5, {"'argmin' needs f32 operands"}},
    {"loss_i32.grad", 6, 10, {"the loss 'i' is i32", "f32 scalar"}},
    {"norm_p.grad", 4, 13, {"p must be 1, 2 or inf"}},
    {"reduction_unknown.grad", 5, 28, {"reduction must be \"mean\", \"sum\" or \"none\"", "did you mean \"sum\"?"}},
    {"reduction_unquoted.grad", 5, 32, {"a string in quotes", "reduction=\"sum\""}},
    {"kl_batchmean.grad", 5, 31, {"\"batchmean\"", "got \"batch_mean\""}},
    {"smooth_l1_beta.grad", 5, 34, {"beta must be >= 0, got -1"}},
    {"huber_delta.grad", 5, 31, {"delta must be > 0, got 0"}},
    {"l1_shapes.grad", 5, 8, {"[3] and [4]", "in 'l1_loss'"}},
    {"ce_weight_shape.grad", 6, 35, {"class weight must be f32 [4]", "got f32 [3]"}},
    {"ce_smoothing.grad", 5, 44, {"label_smoothing must be in [0, 1], got 1.5"}},
    {"ce_soft_shape.grad", 5, 8, {"f32 probabilities [2, 4]", "got f32 [2, 5]"}},
    {"nll_not_2d.grad", 5, 8, {"nll_loss needs f32 log-probabilities [N, C]", "[4]"}},
    {"torch_unbiased.grad", 4, 12, {"'unbiased'", "did you mean 'correction'?"}},
    {"computes_nothing.grad", 4, 1, {"computes nothing"}},
    /* A NUL byte must be reported where it is, not end the file silently. */
    {"nul_byte.grad", 4, 6, {"NUL"}},
};

/* Line `line` (1-based) of text of n bytes, as a malloc'd string without its newline. */
static char *nth_line(const char *text, size_t n, int line) {
  size_t i = 0;
  for (int l = 1; l < line && i < n; i++)
    if (text[i] == '\n') l++;
  size_t j = i;
  while (j < n && text[j] != '\n') j++;
  char *s = malloc(j - i + 1);
  memcpy(s, text + i, j - i);
  s[j - i] = 0;
  return s;
}

/* Checks stderr: first line `path:LINE:COL: error: MSG`, then the source line, then a
 * caret line with '^' under column COL of that source line. */
static void check_diagnostic_of(const char *kind, const char *path, const char *err, size_t errlen, int line, int col,
                                const char *const *msg) {
  char *src_text;
  size_t srclen;
  cr_assert((src_text = e2e_read(path, &srclen)), "cannot read %s", path);
  char *want = e2e_fmt("%s:%d:%d: %s: ", path, line, col, kind);
  cr_assert(!strncmp(err, want, strlen(want)), "stderr does not start with '%s':\n%s", want, err);
  char *l1 = nth_line(err, errlen, 1), *l2 = nth_line(err, errlen, 2), *l3 = nth_line(err, errlen, 3);
  for (; *msg; msg++) cr_expect(strstr(l1, *msg), "the message lacks '%s':\n%s", *msg, err);
  /* The source line, possibly indented: l2 = INDENT + source line. */
  char *src = nth_line(src_text, srclen, line);
  size_t sl = strlen(src), pl = strlen(l2);
  cr_assert(pl >= sl && !memcmp(l2 + pl - sl, src, sl), "line 2 of stderr is not source line %d ('%s'):\n%s", line,
            src, err);
  size_t indent = pl - sl;
  for (size_t i = 0; i < indent; i++) cr_assert_eq(l2[i], ' ', "the source line's indent is not blank:\n%s", err);
  /* The caret line: blanks (tabs where the source has tabs), then '^' at INDENT+COL-1. */
  size_t at = indent + (size_t)col - 1;
  cr_assert(strlen(l3) > at && l3[at] == '^', "line 3 of stderr has no caret under column %d:\n%s", col, err);
  for (size_t i = 0; i < at; i++)
    cr_assert(l3[i] == ' ' || l3[i] == '\t', "the caret line has '%c' before the caret:\n%s", l3[i], err);
  free(l1);
  free(l2);
  free(l3);
  free(src);
  free(src_text);
  free(want);
}

static void check_diagnostic(const char *path, const char *err, size_t errlen, int line, int col,
                             const char *const *msg) {
  check_diagnostic_of("error", path, err, errlen, line, col, msg);
}

/* Compiles path with the extra arguments into an empty directory and checks that the
 * compile failed with exit 1 and left that directory empty. Returns the result. */
static void compile_fails_cleanly(e2e_result *r, const char *path, const char *emit, const char *ext,
                                  const char *const *extra) {
  char *dir = e2e_tmpdir("bad");
  cr_assert(dir);
  char *out = e2e_fmt("%s/out%s", dir, ext);
  const char *args[32] = {"compile", path, "--emit", emit, "-o", out};
  int n = 6;
  for (; extra && *extra && n < 31; extra++) args[n++] = *extra;
  args[n] = NULL;
  e2e_gradcv(r, args);
  cr_assert_eq(r->signal, 0, "gradc was killed by signal %d: %s", r->signal, e2e_describe(r));
  cr_assert_eq(r->status, 1, "expected exit status 1: %s", e2e_describe(r));
  cr_expect_eq(r->outlen, 0, "expected nothing on stdout: %s", e2e_describe(r));
  char names[1024];
  int k = e2e_count_entries(dir, names, sizeof names);
  cr_expect_eq(k, 0, "a failed compile (--emit %s) left files in the output directory: %s", emit, names);
  cr_expect(!e2e_exists(out), "a failed compile wrote %s", out);
  e2e_rmdir(dir);
  free(dir);
  free(out);
}

#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* The parameter is an index into cases: Criterion runs each test in a fresh process, so
 * the parameters must not hold pointers into this one. */
ParameterizedTestParameters(bad, diagnostics) {
  static int index[NCASES];
  for (int i = 0; i < NCASES; i++) index[i] = i;
  return cr_make_param_array(int, index, NCASES);
}

ParameterizedTest(int *i, bad, diagnostics, .timeout = 30) {
  const bad_case *c = &cases[*i];
  cr_log_info("%s", c->file);
  char *path = e2e_fmt("%s/%s", E2E_BAD_DIR, c->file);
  static const char *emits[][2] = {{"so", ".so"}, {"obj", ".o"}, {"header", ".h"}, {"ir", ".ir"}};
  for (int k = 0; k < 4; k++) {
    e2e_result r;
    compile_fails_cleanly(&r, path, emits[k][0], emits[k][1], NULL);
    check_diagnostic(path, r.err, r.errlen, c->line, c->col, c->msg);
    e2e_free(&r);
  }
  /* `gradc run` reports the same error. */
  e2e_result r;
  e2e_gradc(&r, "run", path, NULL);
  cr_expect_eq(r.status, 1, "gradc run: %s", e2e_describe(&r));
  check_diagnostic(path, r.err, r.errlen, c->line, c->col, c->msg);
  e2e_free(&r);
  free(path);
}

/* The table covers every file in bad/ (a new file must get an entry). */
Test(bad, table_covers_directory) {
  int n = e2e_count_entries(E2E_BAD_DIR, NULL, 0);
  cr_expect_eq(n, NCASES, "tests/e2e/bad has %d files, the table %d", n, NCASES);
  cr_expect_geq(n, 12);
}

/* -D naming a dim the model does not have: exit 1, the name in the message, no output. */
Test(bad, define_of_unknown_dim, .timeout = 30) {
  e2e_result r;
  compile_fails_cleanly(&r, E2E_MODELS_DIR "/dims.grad", "so", ".so", (const char *[]){"-D", "Q=3", NULL});
  cr_expect(strstr(r.err, "'Q'"), "the message does not name Q:\n%s", r.err);
  cr_expect(strstr(r.err, "error:"), "%s", r.err);
  e2e_free(&r);
  /* A known dim is overridden. */
  char *dir = e2e_tmpdir("define");
  char *h = e2e_fmt("%s/dims.h", dir);
  e2e_gradc(&r, "compile", E2E_MODELS_DIR "/dims.grad", "-D", "H=7", "--emit", "header", "-o", h, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  char *text = e2e_read(h, NULL);
  cr_assert(text);
  cr_expect(strstr(text, "#define DIMS_X_SIZE 7"), "-D H=7 did not resize x:\n%s", text);
  free(text), free(h);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
  /* Malformed -D is a usage error. */
  e2e_gradc(&r, "compile", E2E_MODELS_DIR "/dims.grad", "-D", "H=abc", "--emit", "header", "-o", E2E_TMP_DIR "/never.h", NULL);
  cr_expect_eq(r.status, 2, "%s", e2e_describe(&r));
  e2e_free(&r);
}

/* Inputs generated here rather than stored: pathological nesting and a missing file. */
Test(bad, deep_nesting_does_not_crash, .timeout = 30) {
  char *dir = e2e_tmpdir("deep");
  char *path = e2e_fmt("%s/deep.grad", dir);
  size_t depth = 100000;
  char *text = malloc(3 * depth + 200);
  char *p = text + sprintf(text, "model m\ninput x : f32[3]\ny = ");
  memset(p, '(', depth);
  p += depth;
  *p++ = 'x';
  memset(p, ')', depth);
  p += depth;
  strcpy(p, "\noutput y\n");
  cr_assert(e2e_write(path, text));
  e2e_result r;
  char *out = e2e_fmt("%s/deep.so", dir);
  e2e_gradc(&r, "compile", path, "-o", out, NULL);
  cr_expect_eq(r.signal, 0, "killed by signal %d", r.signal);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  char *want = e2e_fmt("%s:3:", path);
  cr_expect(!strncmp(r.err, want, strlen(want)), "expected a diagnostic on line 3:\n%.300s", r.err);
  cr_expect(!e2e_exists(out));
  unlink(path);
  e2e_rmdir(dir);
  e2e_free(&r);
  free(text), free(want), free(out), free(path), free(dir);
}

Test(bad, missing_file_and_directory, .timeout = 30) {
  e2e_result r;
  e2e_gradc(&r, "compile", E2E_BAD_DIR "/no_such_file.grad", "-o", E2E_TMP_DIR "/never.so", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "no_such_file.grad"), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "compile", E2E_BAD_DIR, "-o", E2E_TMP_DIR "/never.so", NULL);
  cr_expect_eq(r.status, 1, "a directory as the model: %s", e2e_describe(&r));
  cr_expect_eq(r.signal, 0);
  e2e_free(&r);
}

/* mse of shapes that differ but broadcast ([4, 1] and [4] give [4, 4]) compiles, as in
 * PyTorch, with a warning in the same form as an error (location, source line, caret),
 * from compile and from every command that builds the model; eval builds it twice and
 * says it once. */
Test(bad, mse_broadcast_warns, .timeout = 60) {
  const char *path = E2E_MODELS_DIR "/mse_broadcast.grad";
  const char *msg[] = {"mse: the target's shape [4] differs from the prediction's [4, 1]", "broadcast to [4, 4]",
                       "reshape(t, [4, 1])", NULL};
  char *dir = e2e_tmpdir("warn");
  char *out = e2e_fmt("%s/m.so", dir);
  e2e_result r;
  e2e_gradc(&r, "compile", path, "-o", out, NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  check_diagnostic_of("warning", path, r.err, r.errlen, 10, 8, msg);
  cr_expect(e2e_exists(out), "no %s", out);
  e2e_free(&r);
  e2e_gradc(&r, "run", path, NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  check_diagnostic_of("warning", path, r.err, r.errlen, 10, 8, msg);
  e2e_free(&r);
  char *csv = e2e_fmt("%s/d.csv", dir), *w = e2e_fmt("%s/w.safetensors", dir);
  cr_assert(e2e_write(csv, "1,2,3,0.5\n4,5,6,1\n7,8,9,0\n1,1,1,1\n"));
  e2e_gradc(&r, "train", path, "--data", csv, "--epochs", "1", "-o", w, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "eval", path, "--weights", w, "--data", csv, NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  const char *first = strstr(r.err, "warning:");
  cr_expect(first && !strstr(first + 1, "warning:"), "eval should warn once:\n%s", r.err);
  e2e_free(&r);
  /* the same shapes make no warning */
  char *same = e2e_fmt("%s/same.grad", dir);
  cr_assert(e2e_write(same, "model m\ninput y : f32[4]\ninput t : f32[4]\nparam w : f32[4]\n"
                            "loss = mse(y * w, t) + mse(w, 0.5)\nminimize loss\n"));
  e2e_gradc(&r, "compile", same, "-o", out, NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(!strstr(r.err, "warning"), "%s", r.err);
  e2e_free(&r);
  free(same), free(csv), free(w), free(out);
  e2e_rmdir(dir);
  free(dir);
}
