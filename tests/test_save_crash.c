/* test_save_crash.c — killing a process while it saves never leaves a torn file.
 *
 * A child process saves a model with 4 MiB of parameters over and over to the same
 * path, each time with different values; the parent kills it (SIGKILL) at a random
 * moment after its first save completed (it says so through a pipe, so the test does
 * not depend on timing). Whatever the moment, the file at the path is a complete
 * checkpoint from one save: it loads, and all its values are equal. This is what
 * gradc_save's temporary file + fsync + rename gives. */
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

/* Saves forever, writing a byte to `saved` after each complete save. */
static void child_saves_forever(const char *path, int saved) {
  gradc_model *m = open_big();
  size_t n;
  float *w = gradc_tensor(m, "w", &n);
  for (float v = 1;; v++) {
    for (size_t i = 0; i < n; i++) w[i] = v;
    if (gradc_save(m, path)) _exit(3);
    if (write(saved, "s", 1) != 1) _exit(4);
  }
}

Test(save_crash, killed_mid_save_leaves_old_or_new_file_never_torn) {
  make_dir();
  char path[512];
  snprintf(path, sizeof path, "%s", at("ckpt.safetensors"));
  gradc_model *m = open_big(); /* compiles once, before the children */
  /* One save, timed here: each kill lands at a random moment in the two saves that
   * follow a child's first completed one (mid-write, mid-fsync, mid-rename, between). */
  char probe[512];
  snprintf(probe, sizeof probe, "%s", at("probe.safetensors"));
  double t0 = seconds();
  cr_assert_eq(gradc_save(m, probe), 0, "%s", gradc_error(m));
  double save = seconds() - t0;
  unlink(probe);
  srand(12345);
  for (int round = 0; round < 12; round++) {
    int saved[2];
    cr_assert_eq(pipe(saved), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) close(saved[0]), child_saves_forever(path, saved[1]);
    close(saved[1]);
    char c;
    cr_assert_eq(read(saved[0], &c, 1), 1, "round %d: the saver died before its first save completed", round);
    usleep((useconds_t)(save * 2e6 * rand() / RAND_MAX));
    kill(pid, SIGKILL);
    close(saved[0]);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st), "the saver exited on its own (status %d): saving failed", st);
    /* A save completed, so a file must be there: old or new, never none, never torn. */
    cr_assert_eq(access(path, F_OK), 0, "round %d: the checkpoint is gone", round);
    cr_assert_eq(gradc_load(m, path), 0, "round %d: torn checkpoint: %s", round, gradc_error(m));
    size_t n;
    float *w = gradc_tensor(m, "w", &n);
    for (size_t i = 1; i < n; i++) cr_assert_eq(w[i], w[0], "round %d: mixed values in one checkpoint", round);
  }
  gradc_close(m);
  /* Leftover temporary files of killed saves are the only debris allowed; clean up. */
  remove_dir();
}
