/* diag.c — see diag.h. */
#include "diag.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* Formats the message (`kind`: error or warning) into out. */
static void diag_vformat_to(Diag *d, char *out, size_t outlen, const char *kind, SrcLoc loc, const char *fmt,
                            va_list ap) {
  char body[1024];
  vsnprintf(body, sizeof body, fmt, ap);
  if (loc.line <= 0) {
    snprintf(out, outlen, "%s: %s: %s\n", d->file, kind, body);
    return;
  }
  /* Find the source line. */
  const char *p = d->src ? d->src : "";
  for (int l = 1; l < loc.line && *p; p++)
    if (*p == '\n') l++;
  size_t len = strcspn(p, "\n");
  if (len > 300) len = 300;
  char caret[400];
  int n = 0;
  for (int i = 1; i < loc.col && n < 300; i++) caret[n++] = (i - 1 < (int)len && p[i - 1] == '\t') ? '\t' : ' ';
  caret[n++] = '^';
  caret[n] = 0;
  snprintf(out, outlen, "%s:%d:%d: %s: %s\n  %.*s\n  %s\n", d->file, loc.line, loc.col, kind, body, (int)len, p,
           caret);
}

/* Formats the error into d->msg. */
static void diag_vformat(Diag *d, SrcLoc loc, const char *fmt, va_list ap) {
  diag_vformat_to(d, d->msg, sizeof d->msg, "error", loc, fmt, ap);
}

void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...) {
  char one[sizeof d->warnings];
  va_list ap;
  va_start(ap, fmt);
  diag_vformat_to(d, one, sizeof one, "warning", loc, fmt, ap);
  va_end(ap);
  size_t used = strlen(d->warnings);
  if (used + strlen(one) < sizeof d->warnings) memcpy(d->warnings + used, one, strlen(one) + 1);
}

static void diag_format(Diag *d, SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vformat(d, loc, fmt, ap);
  va_end(ap);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vformat(d, loc, fmt, ap);
  va_end(ap);
  longjmp(d->jb, 1);
}

void diag_out_of_memory(void *d) { diag_error(d, (SrcLoc){0, 0}, "out of memory"); }

static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1000;
  int row[65];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      prev = cur;
    }
  }
  return row[lb];
}

/* How far a candidate may be from a name of this length and still be suggested. */
static int near_limit(const char *name) {
  int len = (int)strlen(name);
  return len <= 3 ? 1 : len <= 6 ? 2 : 3;
}

const char *diag_nearest(const char *name, const char *const *cands, int n) {
  const char *best = NULL;
  int bestd = 1000;
  for (int i = 0; i < n; i++) {
    int dist = edit_distance(name, cands[i]);
    if (dist < bestd) bestd = dist, best = cands[i];
  }
  return bestd <= near_limit(name) ? best : NULL;
}

int diag_nearest_n(const char *name, const char *const *cands, int n, const char **out, int max) {
  int k = 0;
  for (int dist = 0; dist <= near_limit(name); dist++) /* nearest first, ties in the candidates' order */
    for (int i = 0; i < n && k < max; i++)
      if (edit_distance(name, cands[i]) == dist) out[k++] = cands[i];
  return k;
}

int diag_distance(const char *a, const char *b) { return edit_distance(a, b); }

void gc_assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "gradc: internal error: %s:%d: assertion `%s` failed\n", file, line, expr);
  abort();
}

char *diag_read_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: error: cannot open: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += r;
    if (n > (64u << 20)) {
      snprintf(err, errlen, "%s: error: model file larger than 64 MiB\n", path);
      free(buf), buf = NULL;
    } else if (cap - n < 2) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  if (buf && ferror(f)) {
    snprintf(err, errlen, "%s: error: cannot read: %s\n", path, strerror(errno));
    free(buf), buf = NULL;
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = 0;
  const char *nul = memchr(buf, 0, n);
  if (nul) { /* the text would end there silently: refuse it, at its place */
    Diag d = {.file = path, .src = buf};
    SrcLoc loc = {1, 1};
    for (const char *p = buf; p < nul; p++) loc = *p == '\n' ? (SrcLoc){loc.line + 1, 1} : (SrcLoc){loc.line, loc.col + 1};
    diag_format(&d, loc, "the model file contains a NUL byte");
    snprintf(err, errlen, "%s", d.msg);
    free(buf);
    return NULL;
  }
  return buf;
}

