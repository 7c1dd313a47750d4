/* e2e_examples.c — the two ways the README shows of using a compiled model, run as a
 * user runs them: a digits model trained by `gradc train`, compiled with
 * `--inference --weights W -D N=1`, then classified by examples/classify.c (built
 * against the generated header, linked with the .so) and by examples/classify.py
 * (ctypes, reading the .so's own descriptor). Both must print the same predictions,
 * and the same accuracy as `gradc eval` on the saved weights. */
#define _DEFAULT_SOURCE /* strndup */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define DIGITS GRADC_SOURCE_DIR "/models/digits.grad"
#define TRAIN_CSV GRADC_SOURCE_DIR "/models/data/digits_train.csv"
#define TEST_CSV GRADC_SOURCE_DIR "/models/data/digits_test.csv"

/* Runs a shell command line (for its stdin redirection) and expects exit 0. */
static void sh(e2e_result *r, const char *line) {
  e2e_run(r, (const char *[]){"/bin/sh", "-c", line, NULL});
  cr_assert_eq(r->status, 0, "%s\n%s", line, e2e_describe(r));
}

/* The percentage after `key` in text (e.g. "accuracy 96.38%"), or -1. */
static double percent_after(const char *text, const char *key) {
  const char *p = strstr(text, key);
  double v = -1;
  if (p && sscanf(p + strlen(key), " %lf%%", &v) != 1) v = -1;
  return v;
}

Test(examples, c_and_python_classify_like_eval, .timeout = 90) {
  char *dir = e2e_tmpdir("examples");
  char *w = e2e_fmt("%s/digits.safetensors", dir), *so = e2e_fmt("%s/digits.so", dir);
  e2e_result r;
  e2e_gradc(&r, "train", DIGITS, "--data", TRAIN_CSV, "--epochs", "3", "--lr", "0.05", "--seed", "1", "-o", w,
            NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "eval", DIGITS, "--weights", w, "--data", TEST_CSV, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  double eval = percent_after(r.out, "accuracy");
  cr_assert(eval > 50, "three epochs should classify most digits: %s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "compile", DIGITS, "--inference", "--weights", w, "-D", "N=1", "-o", so, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);

  char *build = e2e_fmt("'%s' -O2 -I'%s' '%s/examples/classify.c' '%s' -Wl,-rpath,'%s' -o '%s/classify'", E2E_CC,
                        dir, GRADC_SOURCE_DIR, so, dir, dir);
  sh(&r, build);
  e2e_free(&r);
  char *run_c = e2e_fmt("'%s/classify' < '%s'", dir, TEST_CSV);
  e2e_result c;
  sh(&c, run_c);
  char *run_py = e2e_fmt("'%s' '%s/examples/classify.py' '%s' < '%s'", E2E_PYTHON, GRADC_SOURCE_DIR, so, TEST_CSV);
  e2e_result py;
  sh(&py, run_py);

  cr_expect(strstr(c.out, "sample 0: predicted "), "no predictions:\n%s", c.out);
  cr_expect(strstr(c.out, "359 samples classified"), "%s", c.out);
  cr_expect_str_eq(py.out, c.out, "classify.py and classify.c disagree");
  double acc = percent_after(c.out, "right (");
  cr_expect(acc >= 0 && acc > eval - 0.005 && acc < eval + 0.005, "classify says %.2f%%, gradc eval %.2f%%", acc,
            eval);
  e2e_free(&c), e2e_free(&py);
  free(build), free(run_c), free(run_py), free(w), free(so);
  e2e_rmdir(dir);
  free(dir);
}

/* A model the script cannot drive (a training build: parameters and a label input)
 * is refused with a message, not a crash. */
Test(examples, python_refuses_a_training_build, .timeout = 60) {
  char *dir = e2e_tmpdir("examples_refuse");
  char *so = e2e_fmt("%s/digits.so", dir);
  e2e_result r;
  e2e_gradc(&r, "compile", DIGITS, "-o", so, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  char *run_py = e2e_fmt("'%s' '%s/examples/classify.py' '%s' < '%s'", E2E_PYTHON, GRADC_SOURCE_DIR, so, TEST_CSV);
  e2e_run(&r, (const char *[]){"/bin/sh", "-c", run_py, NULL});
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "--inference --weights"), "%s", r.err);
  cr_expect(!strstr(r.err, "Traceback"), "%s", r.err);
  e2e_free(&r);
  free(run_py), free(so);
  e2e_rmdir(dir);
  free(dir);
}

#define CHAR_CNN GRADC_SOURCE_DIR "/models/char_cnn.grad"
#define VOCAB GRADC_SOURCE_DIR "/models/data/corpus_vocab.txt"

/* sample_text's stdout for a seed: the prompt, N characters, a newline. */
static char *sample(const char *so, const char *w, const char *seed, const char *prompt, int status) {
  e2e_result r;
  e2e_run(&r, (const char *[]){E2E_SAMPLE_TEXT, so, w, VOCAB, "-n", "40", "--seed", seed, "--temperature", "1",
                               "--prompt", prompt, NULL});
  cr_assert_eq(r.status, status, "sample_text --seed %s --prompt '%s': %s", seed, prompt, e2e_describe(&r));
  char *out = strdup(status ? r.err : r.out);
  e2e_free(&r);
  return out;
}

/* The text corpus's path from CSV to sampled text: char_windows.py makes training rows,
 * gradc trains the character model a few AdamW steps (i32 [N, T] ids and targets from
 * CSV), compiles it for one window, and examples/sample_text.c samples from it: N
 * characters of the vocabulary after the prompt, the same for the same seed. */
Test(examples, sample_text_from_a_char_model, .timeout = 120) {
  char *dir = e2e_tmpdir("examples_sample");
  char *csv = e2e_fmt("%s/train.csv", dir), *w = e2e_fmt("%s/char.safetensors", dir), *so = e2e_fmt("%s/char.so", dir);
  e2e_result r;
  e2e_run(&r, (const char *[]){E2E_PYTHON, GRADC_SOURCE_DIR "/tools/data/char_windows.py", "--split", "train",
                               "--limit", "96", "-o", csv, NULL});
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "train", CHAR_CNN, "--data", csv, "--steps", "6", "--optimizer", "adamw", "--lr", "0.01", "--log-steps",
            "-o", w, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_eq(e2e_count_lines(r.out, "step "), 6, "%s", r.out);
  e2e_free(&r);
  e2e_gradc(&r, "compile", CHAR_CNN, "--inference", "-D", "N=1", "-o", so, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);

  char *a = sample(so, w, "5", "The ", 0), *b = sample(so, w, "5", "The ", 0), *c = sample(so, w, "6", "The ", 0);
  cr_expect_str_eq(a, b, "the same seed gave different text");
  cr_expect_str_neq(a, c, "seeds 5 and 6 gave the same 40 characters");
  cr_assert_eq(strlen(a), 4 + 40 + 1, "expected the prompt, 40 characters and a newline: '%s'", a);
  cr_expect(!strncmp(a, "The ", 4) && a[44] == '\n', "'%s'", a);
  char *vocab = e2e_read(VOCAB, NULL);
  for (int i = 4; i < 44; i++) {
    char code[8], line[9];
    snprintf(code, sizeof code, "%d ", (unsigned char)a[i]);
    snprintf(line, sizeof line, "\n%s", code);
    cr_expect(!strncmp(vocab, code, strlen(code)) || strstr(vocab, line),
              "character %d (code %d) is not in the vocabulary", i, (unsigned char)a[i]);
  }
  char *bad = sample(so, w, "5", "~", 1);
  cr_expect(strstr(bad, "the prompt's '~' is not in the vocabulary"), "%s", bad);
  free(a), free(b), free(c), free(bad), free(vocab);
  free(csv), free(w), free(so);
  e2e_rmdir(dir);
  free(dir);
}
