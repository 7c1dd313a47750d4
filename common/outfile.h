/* outfile.h — how gradc replaces an output file: the compiler's outputs (emit.c) and the
 * runtime's weight files (safetensors.c). Header-only, so that each library compiles it
 * in and neither depends on the other.
 *
 * A regular file, or a path where nothing is yet, is replaced atomically: the data go to
 * a temporary file in the same directory, renamed over the target once complete, so a
 * crash or a kill never leaves half a file. A symbolic link is followed: the file it
 * names is replaced and the link stays. Anything else — a device such as /dev/null, a
 * FIFO, /dev/stdout — is written in place (appended to), from a temporary file in
 * $TMPDIR: renaming over it would delete it (as root, -o /dev/null removed the device).
 *
 *   OutFile f;
 *   int fd = outfile_begin(&f, path, ".so");   write f.tmp (through fd, or by its name)
 *   outfile_commit(&f, 0666)  or  outfile_abort(&f)
 *
 * Functions return -1 with errno set on failure. Needs _DEFAULT_SOURCE (mkstemps). */
#ifndef GRADC_OUTFILE_H
#define GRADC_OUTFILE_H
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char *tmp;     /* the temporary file to write */
  char *target;  /* what it becomes: the output path, a symbolic link resolved */
  bool in_place; /* commit copies into target instead of renaming over it */
} OutFile;

/* Written in place rather than replaced: a path under /dev/ or /proc/ (/dev/null; also
 * /dev/stdout, a link to whatever the shell opened, which must not be replaced), an
 * existing file that is not a regular one (a device, a FIFO), or a dangling link
 * (written through). */
static inline bool outfile_in_place(const char *path) {
  struct stat st;
  if (!strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6)) return true;
  if (stat(path, &st) == 0) return !S_ISREG(st.st_mode);
  return lstat(path, &st) == 0; /* stat failed, lstat did not: a dangling link */
}

/* Where an in-place target's temporary goes: $TMPDIR, else /tmp. */
static inline const char *outfile_tmpdir(void) {
  const char *dir = getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

static inline void outfile_free(OutFile *f) {
  free(f->tmp), free(f->target);
  f->tmp = f->target = NULL;
}

/* Creates the temporary (beside the target, or in outfile_tmpdir() for an in-place
 * target; named .tmpPID + 6 random characters + suffix); returns its open descriptor. */
static inline int outfile_begin(OutFile *f, const char *path, const char *suffix) {
  *f = (OutFile){.in_place = outfile_in_place(path)};
  struct stat st;
  char *real = !f->in_place && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(path, NULL) : NULL;
  f->target = real ? real : strdup(path);
  const char *dir = outfile_tmpdir();
  size_t n = (f->target ? strlen(f->target) : 0) + strlen(dir) + strlen(suffix) + 48;
  f->tmp = f->target ? malloc(n) : NULL;
  if (!f->tmp) {
    outfile_free(f);
    errno = ENOMEM;
    return -1;
  }
  if (f->in_place) snprintf(f->tmp, n, "%s/gradc.out.tmp%ldXXXXXX%s", dir, (long)getpid(), suffix);
  else snprintf(f->tmp, n, "%s.tmp%ldXXXXXX%s", f->target, (long)getpid(), suffix);
  int fd = mkstemps(f->tmp, (int)strlen(suffix));
  if (fd < 0) {
    int e = errno;
    outfile_free(f);
    errno = e;
  }
  return fd;
}

static inline void outfile_abort(OutFile *f) {
  if (f->tmp) unlink(f->tmp);
  outfile_free(f);
}

/* Appends the file at from to the file at to (created with mode through a dangling
 * link). from is unlinked first: opening a FIFO waits for a reader, and a kill while
 * it waits must leave no temporary behind. */
static inline int outfile_copy(const char *from, const char *to, mode_t mode) {
  int in = open(from, O_RDONLY);
  if (in >= 0) unlink(from);
  int out = in < 0 ? -1 : open(to, O_WRONLY | O_APPEND | O_CREAT, mode);
  int rc = in < 0 || out < 0 ? -1 : 0;
  char buf[65536];
  for (ssize_t got; rc == 0 && (got = read(in, buf, sizeof buf)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) rc = -1;
    for (ssize_t off = 0; rc == 0 && off < got;) {
      ssize_t put = write(out, buf + off, (size_t)(got - off));
      if (put < 0 && errno != EINTR) rc = -1;
      if (put > 0) off += put;
    }
  }
  int e = errno;
  if (in >= 0) close(in);
  if (out >= 0 && close(out) != 0 && rc == 0) rc = -1, e = errno;
  errno = e;
  return rc;
}

/* The temporary becomes the target: renamed over it with the mode the target had (a
 * private 0600 checkpoint stays private), else mode under the umask; or copied into an
 * in-place target. The temporary is gone either way. */
static inline int outfile_commit(OutFile *f, mode_t mode) {
  mode_t mask = umask(0);
  umask(mask);
  struct stat st;
  mode_t keep = !f->in_place && stat(f->target, &st) == 0 ? st.st_mode & 07777 : mode & ~mask;
  int rc = f->in_place ? outfile_copy(f->tmp, f->target, mode & ~mask)
                       : chmod(f->tmp, keep) != 0 || rename(f->tmp, f->target) != 0 ? -1 : 0;
  int e = errno;
  if (rc) unlink(f->tmp);
  outfile_free(f);
  errno = e;
  return rc;
}

#endif
