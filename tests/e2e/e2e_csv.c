/* e2e_csv.c — the CSV errors of `gradc train` and `gradc eval` (docs/FORMATS.md, "CSV
 * data"): every malformed file, cell, label and option is refused with exit 1 and a
 * located message, before any training; and what is accepted (blank lines, CRLF, a
 * byte-order mark, a header). They use tests/e2e/models/csv10.grad (3 features and a
 * label among 10 classes, batch 2), which compiles fast. */
#define _DEFAULT_SOURCE /* strndup, mkstemp */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "e2e_util.h"

#define DIGITS GRADC_SOURCE_DIR "/models/digits.grad"
#define DIGITS_CSV GRADC_SOURCE_DIR "/models/data/digits_train.csv"
#define CSV10 E2E_MODELS_DIR "/csv10.grad"

/* Trains csv10 (x: 3 floats, label: i32 among 10 classes; batch 2) on text; returns the result. */
static e2e_result train_csv10(const char *dir, const char *text, char **path) {
  *path = e2e_write_file(dir, "data.csv", text);
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", *path, "--epochs", "1", NULL);
  return r;
}

/* Expects exit 1 and a first stderr line "PATH:LINE:COL: error: ..." holding every word. */
static void csv_error(const char *text, int line, int col, const char *const *words) {
  char *dir = e2e_tmpdir("csv"), *path;
  e2e_result r = train_csv10(dir, text, &path);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  char *want = e2e_fmt("%s:%d:%d: error: ", path, line, col);
  cr_expect(!strncmp(r.err, want, strlen(want)), "expected the message to start with '%s':\n%s", want, r.err);
  for (; *words; words++) cr_expect(strstr(r.err, *words), "the message lacks '%s':\n%s", *words, r.err);
  cr_expect_eq(e2e_count_lines(r.out, "epoch"), 0, "trained on bad data:\n%s", r.out);
  free(want), free(path);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, not_a_number) {
  csv_error("1,2,3,0\n4,abc,6,1\n", 2, 3, (const char *[]){"abc", NULL});
}

Test(csv, empty_cell) {
  csv_error("1,2,3,0\n4,5,,1\n", 2, 5, (const char *[]){"number", NULL});
}

Test(csv, too_few_columns_names_the_inputs) {
  csv_error("1,2,3,0\n4,5,1\n", 2, 6, (const char *[]){"3 columns", "4", "x: 3", "label: 1", NULL});
}

Test(csv, too_many_columns) {
  csv_error("1,2,3,0\n4,5,6,1,7\n", 2, 9, (const char *[]){"too many columns", "4", NULL});
}

Test(csv, label_out_of_range) {
  csv_error("1,2,3,0\n1,2,3,9\n4,5,6,10\n", 3, 7, (const char *[]){"label", "10", "9", NULL});
}

/* Labels of every position ([N, T], a sequence model's targets) reach cross_entropy
 * through a reshape: they are still class labels, checked as such. */
Test(csv, sequence_labels_through_a_reshape) {
  char *dir = e2e_tmpdir("csv_seq");
  char *good = e2e_write_file(dir, "good.csv", "1,2,3,4,5,6,0,2\n1,2,3,4,5,6,1,1\n");
  char *bad = e2e_write_file(dir, "bad.csv", "1,2,3,4,5,6,0,2\n1,2,3,4,5,6,1,3\n");
  e2e_result r;
  e2e_gradc(&r, "train", E2E_MODELS_DIR "/csv_seq.grad", "--data", good, "--epochs", "1", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "train", E2E_MODELS_DIR "/csv_seq.grad", "--data", bad, "--epochs", "1", NULL);
  char *want = e2e_fmt("%s:2:15: error: label[1] must be a class label, an integer from 0 to 2, got 3", bad);
  cr_expect(r.status == 1 && strstr(r.err, want), "expected '%s':\n%s", want, e2e_describe(&r));
  e2e_free(&r);
  free(want), free(good), free(bad);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, negative_label) {
  csv_error("1,2,3,-1\n", 1, 7, (const char *[]){"label", "-1", NULL});
}

/* A first line that is mostly numbers is data, not a header: its typo is an error. */
Test(csv, typo_in_the_first_row) {
  csv_error("O,2,3,0\n4,5,6,1\n", 1, 1, (const char *[]){"'O'", NULL});
}

Test(csv, label_not_an_integer) {
  csv_error("1,2,3,0\n1,2,3,2.5\n", 2, 7, (const char *[]){"label", "2.5", "integer", NULL});
}

Test(csv, blank_lines_are_skipped_and_counted) {
  /* The bad cell is on the fifth line of the file, after blank and white-space lines. */
  csv_error("\n1,2,3,4\n\n   \n1,2,3,x\n", 5, 7, (const char *[]){"'x'", NULL});
}

Test(csv, empty_file) {
  char *dir = e2e_tmpdir("csv"), *path;
  e2e_result r = train_csv10(dir, "", &path);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, path) && strstr(r.err, "error"), "%s", r.err);
  e2e_free(&r);
  free(path);
  r = train_csv10(dir, "\n\n  \n", &path);
  cr_expect_eq(r.status, 1, "blank lines only: %s", e2e_describe(&r));
  e2e_free(&r);
  free(path);
  r = train_csv10(dir, "a,b,c,label\n", &path);
  cr_expect_eq(r.status, 1, "a header only: %s", e2e_describe(&r));
  e2e_free(&r);
  free(path);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, header_blank_lines_and_crlf_accepted) {
  char *dir = e2e_tmpdir("csv"), *path;
  e2e_result plain = train_csv10(dir, "1,2,3,4\n5,6,7,8\n0.5,-1,2e-1,9\n0,0,0,0\n", &path);
  cr_assert_eq(plain.status, 0, "%s", e2e_describe(&plain));
  cr_assert_eq(e2e_count_lines(plain.out, "epoch"), 1, "%s", plain.out);
  free(path);
  /* The same rows under a header, with blank lines, or with CRLF line ends: the same training. */
  static const char *variants[] = {
      "x0,x1,x2,label\n1,2,3,4\n5,6,7,8\n0.5,-1,2e-1,9\n0,0,0,0\n",
      "\n1,2,3,4\n\n5,6,7,8\n   \n0.5,-1,2e-1,9\n0,0,0,0",
      "1,2,3,4\r\n5,6,7,8\r\n0.5,-1,2e-1,9\r\n0,0,0,0\r\n",
      " 1, 2 ,3,4\n5,6,7,8\n0.5,-1,2e-1,9\n0,0,0,0\n",
  };
  for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
    e2e_result r = train_csv10(dir, variants[i], &path);
    cr_expect_eq(r.status, 0, "variant %zu: %s", i, e2e_describe(&r));
    cr_expect_str_eq(r.out, plain.out, "variant %zu trains differently", i);
    e2e_free(&r);
    free(path);
  }
  e2e_free(&plain);
  e2e_rmdir(dir);
  free(dir);
}

/* A number beyond float range would become an infinity in the f32 input: an error at its
 * cell, not a NaN stop later. */
Test(csv, value_beyond_float_range) {
  csv_error("1,2,3,0\n1e39,2,3,1\n", 2, 1, (const char *[]){"1e39", NULL});
}

/* A UTF-8 byte order mark (as spreadsheets write) before a data row: skipped, and the
 * row read like the others (data.c), never taken for a header and dropped. */
Test(csv, byte_order_mark_does_not_drop_a_row) {
  char *dir = e2e_tmpdir("csv"), *path;
  e2e_result plain = train_csv10(dir, "1,2,3,4\n5,6,7,8\n0,0,0,1\n1,1,1,2\n", &path);
  cr_assert_eq(plain.status, 0, "%s", e2e_describe(&plain));
  free(path);
  e2e_result r = train_csv10(dir, "\xef\xbb\xbf" "1,2,3,4\n5,6,7,8\n0,0,0,1\n1,1,1,2\n", &path);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_str_eq(r.out, plain.out, "with a BOM, training differs from the same rows without:\n%s\n%s", r.out, r.err);
  cr_expect(!strstr(r.err, "drop"), "with a BOM, a row is dropped:\n%s", r.err);
  e2e_free(&plain), e2e_free(&r);
  free(path);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, digits_too_few_columns) {
  char *dir = e2e_tmpdir("csv");
  char *path = e2e_write_file(dir, "d.csv", "0,1,2,3,4,5,6,7,8,9,1\n");
  e2e_result r;
  e2e_gradc(&r, "train", DIGITS, "--data", path, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  char *want = e2e_fmt("%s:1:", path);
  cr_expect(!strncmp(r.err, want, strlen(want)) && strstr(r.err, "error:"), "%s", r.err);
  cr_expect(strstr(r.err, "11") && strstr(r.err, "65") && strstr(r.err, "x: 64") && strstr(r.err, "label: 1"),
            "the message does not give the columns per input:\n%s", r.err);
  free(want), free(path);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, bad_val_file_is_reported_too) {
  char *dir = e2e_tmpdir("csv");
  char *data = e2e_write_file(dir, "train.csv", "1,2,3,0\n4,5,6,1\n");
  char *val = e2e_write_file(dir, "val.csv", "1,2,3,0\n4,5,6,11\n");
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", data, "--val", val, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  char *want = e2e_fmt("%s:2:7: error: ", val);
  cr_expect(!strncmp(r.err, want, strlen(want)), "expected '%s':\n%s", want, r.err);
  free(want), free(data), free(val);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, missing_file) {
  char *dir = e2e_tmpdir("csv");
  char *path = e2e_fmt("%s/no_such.csv", dir);
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", path, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, path) && (strstr(r.err, "No such file") || strstr(r.err, "cannot")), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "eval", CSV10, "--weights", "/nonexistent.safetensors", "--data", path, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, path), "%s", r.err);
  e2e_free(&r);
  free(path);
  e2e_rmdir(dir);
  free(dir);
}

Test(csv, eval_needs_weights) {
  char *dir = e2e_tmpdir("csv");
  char *data = e2e_write_file(dir, "d.csv", "1,2,3,0\n");
  e2e_result r;
  e2e_gradc(&r, "eval", CSV10, "--data", data, NULL);
  cr_expect_eq(r.status, 2, "eval without --weights: %s", e2e_describe(&r));
  cr_expect(strstr(r.err, "usage") || strstr(r.err, "--weights"), "%s", r.err);
  e2e_free(&r);
  e2e_gradc(&r, "train", CSV10, NULL);
  cr_expect_eq(r.status, 2, "train without --data: %s", e2e_describe(&r));
  e2e_free(&r);
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* A bad option value: exit 2, and the message names the option, the value and what it
 * must be (both the "--opt V" and "--opt=V" spellings). */
Test(csv, bad_option_values_are_named) {
  static const char *bad[][3] = {{"--epochs", "0", "integer"}, {"--epochs=0", NULL, "integer"},
                                 {"--lr", "nan", "number"},     {"--lr", "1e39", "3.4e38"},
                                 {"--momentum", "-0.5", ">= 0"}, {"--weight-decay=-1", NULL, ">= 0"},
                                 {"--steps", "-1", "integer"},  {"--seed", "x", "integer"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    e2e_result r;
    e2e_gradc(&r, "train", CSV10, "--data", "unused.csv", bad[i][0], bad[i][1], NULL);
    cr_expect_eq(r.status, 2, "%s %s: %s", bad[i][0], bad[i][1] ? bad[i][1] : "", e2e_describe(&r));
    char opt[32];
    snprintf(opt, sizeof opt, "%.*s", (int)strcspn(bad[i][0], "="), bad[i][0]);
    cr_expect(strstr(r.err, opt) && strstr(r.err, bad[i][2]) && strstr(r.err, "expected"), "%s", r.err);
    e2e_free(&r);
  }
}

/* --data a directory: said so; --data a pipe: read whole (its size is not known). */
Test(csv, directory_and_pipe, .timeout = 30) {
  char *dir = e2e_tmpdir("csvpipe");
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", dir, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "is a directory"), "%s", r.err);
  e2e_free(&r);
  char *data = e2e_write_file(dir, "d.csv", "1,2,3,0\n4,5,6,1\n-1,0,2,2\n0.5,1,1,3\n2,2,2,4\n1,0,1,5\n0,0,1,6\n3,1,0,7\n");
  char *line = e2e_fmt("cat '%s' | '%s' train '%s' --data /dev/stdin --epochs 1", data, GRADC_BIN, CSV10);
  e2e_run(&r, (const char *[]){"/bin/sh", "-c", line, NULL});
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "epoch   1/1"), "%s", r.out);
  e2e_free(&r);
  free(line), free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* In a model with a batch, an input without the batch dimension has no CSV row of its
 * own: train and eval refuse it by name (they used to fill it once per row, writing
 * past its end). */
Test(csv, unbatched_input_in_a_batched_model, .timeout = 30) {
  char *dir = e2e_tmpdir("unbatched");
  char *model = e2e_write_file(dir, "m.grad",
                           "model m\nbatch N = 4\ninput x : f32[N, 2]\ninput s : f32[64]\nparam w : f32[2]\n"
                           "loss = mean(x * w) + mean(s)\nminimize loss\n");
  char *data = e2e_write_file(dir, "d.csv", "1,2\n3,4\n5,6\n7,8\n");
  e2e_result r;
  e2e_gradc(&r, "train", model, "--data", data, "--epochs", "1", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "'s'") && strstr(r.err, "batch dimension"), "%s", r.err);
  e2e_free(&r);
  free(model);
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

