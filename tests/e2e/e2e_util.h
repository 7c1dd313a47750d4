/* e2e_util.h — helpers shared by the end-to-end tests: run a program (the gradc
 * binary) with posix_spawn, capture its stdout, stderr and exit status; temporary
 * directories; small file helpers.
 *
 * Paths come from tests/e2e/CMakeLists.txt as compile definitions:
 *   GRADC_BIN         the gradc driver ($<TARGET_FILE:gradc>)
 *   GRADC_SOURCE_DIR  the repository root
 *   E2E_TMP_DIR       a scratch directory in the build tree */
#ifndef GRADC_E2E_UTIL_H
#define GRADC_E2E_UTIL_H
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  int status;    /* exit status, or -1 if the process did not exit normally */
  int signal;    /* the signal that ended it, or 0 */
  char *out;     /* captured stdout, NUL-terminated */
  char *err;     /* captured stderr, NUL-terminated */
  size_t outlen, errlen;
} e2e_result;

/* Runs argv[0] (a path) with argv, stdin from /dev/null, and waits for it. Returns 0, or
 * -1 if it could not be started (then r->status is -1 and r->err says why). A sanitizer
 * report in the child's stderr fails the current test (see e2e_check_sanitizers). */
int e2e_run(e2e_result *r, const char *const *argv);
/* Runs GRADC_BIN with the NULL-terminated arguments that follow. */
int e2e_gradc(e2e_result *r, ...);
/* Runs GRADC_BIN with a NULL-terminated argument vector (without argv[0]). */
int e2e_gradcv(e2e_result *r, const char *const *args);
void e2e_free(e2e_result *r);
/* Fails the current test (cr_assert_fail, with the report) if err, the captured stderr of
 * the child run with argv, holds an AddressSanitizer, LeakSanitizer or
 * UndefinedBehaviorSanitizer report. e2e_run calls it on every child; a test that spawns
 * gradc itself calls it on what it captured. */
void e2e_check_sanitizers(const char *const *argv, const char *err);
/* A human-readable account of a result, for assertion messages (static buffer). */
const char *e2e_describe(const e2e_result *r);

/* A fresh, empty directory under E2E_TMP_DIR (malloc'd path); fails the test if it
 * cannot be made. */
char *e2e_tmpdir(const char *tag);
/* Removes a directory made by e2e_tmpdir and the plain files in it. */
void e2e_rmdir(const char *dir);
/* Number of entries in dir (not counting . and ..), -1 if it cannot be read;
 * names (if not NULL) receives them, space-separated. */
int e2e_count_entries(const char *dir, char *names, size_t len);

/* printf into a malloc'd string. */
char *e2e_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The whole file (NUL-terminated, malloc'd) or NULL; *n gets its size if n. */
char *e2e_read(const char *path, size_t *n);
/* Whether two files have the same bytes (fails the test if one cannot be read). */
bool e2e_same_file(const char *a, const char *b);
/* The undefined symbols of object file obj (llvm-nm -u) that `allowed` does not accept,
 * space-separated, malloc'd ("" if none). */
char *e2e_undefined(const char *obj, bool (*allowed)(const char *name));
bool e2e_write(const char *path, const char *text);
/* DIR/NAME (malloc'd) holding text; the test fails if it cannot be written. */
char *e2e_write_file(const char *dir, const char *name, const char *text);
/* The lines of s that start with prefix. */
int e2e_count_lines(const char *s, const char *prefix);
bool e2e_exists(const char *path);

/* The tutorial values (PyTorch autograd tutorial, with fixed w and b). */
#define E2E_W "-0.7,-0.6,-0.5,-0.4,-0.3,-0.2,-0.1,0,0.1,0.2,0.3,0.4,0.5,0.6,0.7"
#define E2E_B "0.1,-0.2,0.3"
#define E2E_LOGREG GRADC_SOURCE_DIR "/models/logreg.grad"

#endif
