/* e2e_util.c — see e2e_util.h. */
#define _DEFAULT_SOURCE /* mkdtemp, vasprintf-free helpers */
#include "e2e_util.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../support/sanitizer_report.h"

extern char **environ;

char *e2e_fmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

char *e2e_read(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += k;
    if (cap - len < 2) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[len] = 0;
  if (n) *n = len;
  return buf;
}

bool e2e_write(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  size_t n = strlen(text);
  bool ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

char *e2e_write_file(const char *dir, const char *name, const char *text) {
  char *path = e2e_fmt("%s/%s", dir, name);
  cr_assert(e2e_write(path, text), "cannot write %s", path);
  return path;
}

int e2e_count_lines(const char *s, const char *prefix) {
  int n = 0;
  for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, prefix, strlen(prefix))) n++;
  return n;
}

bool e2e_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* A temporary capture file, already unlinked; returns its fd. */
static int capture_fd(void) {
  char *p = e2e_fmt("%s/capture.XXXXXX", E2E_TMP_DIR);
  int fd = mkstemp(p);
  if (fd >= 0) unlink(p);
  free(p);
  return fd;
}

static char *slurp_fd(int fd, size_t *n) {
  struct stat st;
  if (fstat(fd, &st)) return *n = 0, strdup("");
  char *buf = malloc((size_t)st.st_size + 1);
  ssize_t k = pread(fd, buf, (size_t)st.st_size, 0);
  *n = k > 0 ? (size_t)k : 0;
  buf[*n] = 0;
  return buf;
}

int e2e_run(e2e_result *r, const char *const *argv) {
  memset(r, 0, sizeof *r);
  r->status = -1;
  mkdir(E2E_TMP_DIR, 0777);
  int ofd = capture_fd(), efd = capture_fd();
  if (ofd < 0 || efd < 0) {
    r->out = strdup("");
    r->err = e2e_fmt("cannot create capture files in %s: %s", E2E_TMP_DIR, strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, ofd, 1);
  posix_spawn_file_actions_adddup2(&fa, efd, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) {
    r->out = strdup("");
    r->err = e2e_fmt("cannot run %s: %s", argv[0], strerror(rc));
    close(ofd);
    close(efd);
    return -1;
  }
  int ws;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(ws)) r->status = WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) r->signal = WTERMSIG(ws);
  r->out = slurp_fd(ofd, &r->outlen);
  r->err = slurp_fd(efd, &r->errlen);
  close(ofd);
  close(efd);
  e2e_check_sanitizers(argv, r->err);
  return 0;
}

void e2e_check_sanitizers(const char *const *argv, const char *err) {
  const char *report = sanitizer_report(err);
  if (!report) return;
  char cmd[512] = "";
  for (size_t used = 0; *argv && used + 1 < sizeof cmd; argv++)
    used += (size_t)snprintf(cmd + used, sizeof cmd - used, "%s%s", used ? " " : "", *argv);
  cr_assert_fail("a sanitizer report in the stderr of the child process\n  %s\n%.12000s", cmd, report);
}

int e2e_gradcv(e2e_result *r, const char *const *args) {
  size_t n = 0;
  while (args[n]) n++;
  const char **argv = calloc(n + 2, sizeof *argv);
  argv[0] = GRADC_BIN;
  memcpy(argv + 1, args, n * sizeof *argv);
  int rc = e2e_run(r, argv);
  free(argv);
  return rc;
}

int e2e_gradc(e2e_result *r, ...) {
  const char *args[128];
  size_t n = 0;
  va_list ap;
  va_start(ap, r);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 127) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return e2e_gradcv(r, args);
}

void e2e_free(e2e_result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

const char *e2e_describe(const e2e_result *r) {
  static char buf[6000];
  snprintf(buf, sizeof buf, "exit status %d, signal %d\n--- stdout:\n%.2000s\n--- stderr:\n%.2000s", r->status,
           r->signal, r->out ? r->out : "", r->err ? r->err : "");
  return buf;
}

char *e2e_tmpdir(const char *tag) {
  mkdir(E2E_TMP_DIR, 0777);
  char *p = e2e_fmt("%s/%s.XXXXXX", E2E_TMP_DIR, tag);
  cr_assert(mkdtemp(p), "cannot create a temporary directory %s: %s", p, strerror(errno));
  return p;
}

void e2e_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = e2e_fmt("%s/%s", dir, e->d_name);
    unlink(p);
    free(p);
  }
  closedir(d);
  rmdir(dir);
}

int e2e_count_entries(const char *dir, char *names, size_t len) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  size_t used = 0;
  if (names && len) names[0] = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    n++;
    if (names && used < len) used += (size_t)snprintf(names + used, len - used, "%s ", e->d_name);
  }
  closedir(d);
  return n;
}

bool e2e_same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = e2e_read(a, &na), *y = e2e_read(b, &nb);
  cr_assert(x && y, "cannot read %s or %s", a, b);
  bool same = na == nb && !memcmp(x, y, na);
  free(x), free(y);
  return same;
}

char *e2e_undefined(const char *obj, bool (*allowed)(const char *name)) {
  e2e_result r;
  const char *argv[] = {E2E_LLVM_NM, "-u", obj, NULL};
  e2e_run(&r, argv);
  cr_assert_eq(r.status, 0, "llvm-nm -u %s: %s", obj, e2e_describe(&r));
  char *bad = calloc(1, r.outlen + 1);
  for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n")) {
    char *name = strrchr(l, ' ');
    name = name ? name + 1 : l;
    if (*name && !allowed(name)) strcat(strcat(bad, name), " ");
  }
  e2e_free(&r);
  return bad;
}
