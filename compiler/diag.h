/* diag.h — user-facing errors: `FILE:LINE:COL: error: MESSAGE`, the source line, a caret
 * (and warnings, `FILE:LINE:COL: warning: ...`, collected for the caller to print).
 *
 * Every stage that can reject a model takes a Diag. diag_error formats the message into
 * d->msg (the compiler library never prints) and longjmps to d->jb, which the entry
 * point (gc_compile and friends) set with setjmp; all memory is in the arena, so
 * unwinding leaks nothing. Internal invariants use GC_ASSERT, which aborts loudly. */
#ifndef GRADC_DIAG_H
#define GRADC_DIAG_H
#include <setjmp.h>
#include <stddef.h>

typedef struct {
  int line, col; /* 1-based; line 0 means "no location" (e.g. a -D option) */
} SrcLoc;

typedef struct Diag {
  const char *file; /* as shown in messages */
  const char *src;  /* the whole source text (NUL-terminated) */
  jmp_buf jb;
  char msg[4096]; /* the formatted error, ready for stderr */
  char warnings[4096]; /* the warnings so far, one after another, ready for stderr */
} Diag;

_Noreturn void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends `FILE:LINE:COL: warning: MESSAGE`, the source line and a caret to d->warnings
 * (as many as fit) and returns: the model is accepted. */
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "FILE: error: out of memory" through d (a Diag *): the arena's fail hook. */
_Noreturn void diag_out_of_memory(void *d);

/* The candidate closest to `name` by edit distance, or NULL if none is close. */
const char *diag_nearest(const char *name, const char *const *cands, int n);
/* The candidates close to `name` (as diag_nearest judges), nearest first, at most max of
 * them, into out; returns how many. */
int diag_nearest_n(const char *name, const char *const *cands, int n, const char **out, int max);
/* The edit distance between two names (1000 for names longer than 64 characters). */
int diag_distance(const char *a, const char *b);

/* Reads a model file (at most 64 MiB) into a malloc'd NUL-terminated string; NULL
 * with a `PATH: error: ...` message in err on failure. */
char *diag_read_file(const char *path, char *err, size_t errlen);

_Noreturn void gc_assert_fail(const char *expr, const char *file, int line);
#define GC_ASSERT(e) ((e) ? (void)0 : gc_assert_fail(#e, __FILE__, __LINE__))

#endif
