/* test_save_crash.c — killing a process while it saves never leaves a torn file.
 *
 * A child process saves a model with 4 MiB of parameters over and over to the same
 * path, each time with different values; the parent kills it (SIGKILL) at a random
 * moment. Whatever the moment, the file at the path is either absent (the first save
 * had not finished) or a complete checkpoint from one save: it loads, and all its
 * values are equal. This is what gradc_save's temporary file + fsync + rename gives. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "gradc/compiler.h"
#include "gradc/runtime.h"

static const char *model_src =
    "model big\n"
    "input x : f32[1024]\n"
    "param w : f32[1024, 1024]\n"
    "y = x @ w\n"
    "output y\n";

#define SCRATCH_TAG "crash"
#include "support/scratch_dir.h"

static gradc_model *open_big(void) {
  char so[512], err[4096];
  snprintf(so, sizeof so, "%s", at("big.so"));
  if (access(so, F_OK) != 0) {
    gc_options o = {.path = "big.grad", .source = model_src, .opt_level = 0, .emit = GC_EMIT_SO, .out = so};
    cr_assert_eq(gc_compile(&o, NULL, err, sizeof err), 0, "%s", err);
  }
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "%s", err);
  return m;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void child_saves_forever(const char *path) {
  gradc_model *m = open_big();
  size_t n;
  float *w = gradc_tensor(m, "w", &n);
  for (float v = 1;; v++) {
    for (size_t i = 0; i < n; i++) w[i] = v;
    if (gradc_save(m, path)) _exit(3);
  }
}

Test(save_crash, killed_mid_save_leaves_old_or_new_file_never_torn) {
  make_dir();
  char path[512];
  snprintf(path, sizeof path, "%s", at("ckpt.safetensors"));
  gradc_model *m = open_big(); /* compiles once, before the children */
  /* What a child does before its first save completes (open the model, save once),
   * timed here: the kill delays (20-80 ms) are stretched when that takes longer than
   * 20 ms (a slow disk, a sanitizer build), so that some saves do complete. */
  char probe[512];
  snprintf(probe, sizeof probe, "%s", at("probe.safetensors"));
  double t0 = seconds();
  gradc_model *pm = open_big();
  cr_assert_eq(gradc_save(pm, probe), 0, "%s", gradc_error(pm));
  double startup = seconds() - t0;
  gradc_close(pm);
  unlink(probe);
  double stretch = startup > 0.02 ? startup / 0.02 : 1;
  srand(12345);
  int complete = 0;
  for (int round = 0; round < 12; round++) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) child_saves_forever(path);
    usleep((useconds_t)((20000 + rand() % 60000) * stretch));
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st), "the saver exited on its own (status %d): saving failed", st);
    /* No file yet: no save has completed. Once one has, a file must always be there:
     * old or new, never none (a save that unlinked first would lose it). */
    if (access(path, F_OK) != 0) {
      cr_assert_eq(complete, 0, "round %d: the checkpoint of an earlier round is gone", round);
      continue;
    }
    cr_assert_eq(gradc_load(m, path), 0, "round %d: torn checkpoint: %s", round, gradc_error(m));
    size_t n;
    float *w = gradc_tensor(m, "w", &n);
    for (size_t i = 1; i < n; i++) cr_assert_eq(w[i], w[0], "round %d: mixed values in one checkpoint", round);
    complete++;
  }
  cr_expect_gt(complete, 0, "no save ever completed (opening and one save take %.0f ms here): the test proved nothing",
               startup * 1e3);
  gradc_close(m);
  /* Leftover temporary files of killed saves are the only debris allowed; clean up. */
  remove_dir();
}
