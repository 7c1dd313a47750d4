/* scratch_dir.h — a test's scratch directory: made under /tmp (mkdtemp), paths inside
 * it, and its removal with the files (and empty directories) in it. Header-only:
 * each Criterion test executable that needs one defines SCRATCH_TAG and includes it
 * once (the directory is /tmp/gradc_TAG_XXXXXX). */
#ifndef GRADC_TESTS_SCRATCH_DIR_H
#define GRADC_TESTS_SCRATCH_DIR_H
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef SCRATCH_TAG
#define SCRATCH_TAG "test"
#endif

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/gradc_" SCRATCH_TAG "_XXXXXX");
  cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

/* Removes every file (or empty directory) in dir, then dir. */
static void remove_dir(void) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (e->d_name[0] != '.') {
      char p[600];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) != 0) rmdir(p);
    }
  if (d) closedir(d);
  rmdir(dir);
}

/* dir/name, in one of four rotating buffers (several can be live in one call). */
static const char *at(const char *name) {
  static char buf[4][600];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, 600, "%s/%s", dir, name);
  return b;
}

#endif
