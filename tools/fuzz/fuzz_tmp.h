/* fuzz_tmp.h — a private temporary directory per fuzzing process (header-only, shared
 * by the targets whose parser reads a file). Created on first use under $TMPDIR (or
 * /dev/shm, else /tmp) and removed at exit with the files it holds. */
#ifndef GRADC_FUZZ_TMP_H
#define GRADC_FUZZ_TMP_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mkdtemp(char *tmpl); /* POSIX; declared here so -std=c11 needs no feature macro */

static char fuzz_tmp_dir[4096];

static inline void fuzz_tmp_cleanup(void) {
  if (!fuzz_tmp_dir[0]) return;
  DIR *dir = opendir(fuzz_tmp_dir);
  struct dirent *e;
  char p[8192];
  while (dir && (e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", fuzz_tmp_dir, e->d_name);
    unlink(p);
  }
  if (dir) closedir(dir);
  rmdir(fuzz_tmp_dir);
}

/* The path of file `name` inside the private directory (aborts if it cannot be made:
 * the target is useless without it). */
static inline const char *fuzz_tmp_path(const char *name, char *out, size_t len) {
  if (!fuzz_tmp_dir[0]) {
    const char *base = getenv("TMPDIR");
    struct stat st;
    if (!base || !*base) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%s/gradc-fuzz.XXXXXX", base);
    if (!mkdtemp(fuzz_tmp_dir)) {
      perror("gradc fuzz: mkdtemp");
      abort();
    }
    atexit(fuzz_tmp_cleanup);
  }
  snprintf(out, len, "%s/%s", fuzz_tmp_dir, name);
  return out;
}

/* Writes data to path, replacing it; aborts on failure. */
static inline void fuzz_tmp_write(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror("gradc fuzz: writing the input file");
    abort();
  }
}
#endif
