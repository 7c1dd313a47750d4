/* text.h — the importer's small utilities (text.c): growable text, tracked allocation,
 * names. */
#ifndef GRADC_ONNX_TEXT_H
#define GRADC_ONNX_TEXT_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *s;
  size_t len, cap;
} Text;

void text_add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void text_vadd(Text *t, const char *fmt, va_list ap);
void text_free(Text *t);

/* Allocations that live as long as the import (freed together). */
typedef struct {
  void **p;
  size_t n, cap;
} Pool;
void *pool_alloc(Pool *p, size_t size); /* zeroed; aborts only if malloc fails */
/* Takes m (malloc'd) into the pool. */
void *pool_adopt(Pool *p, void *m);
char *pool_strdup(Pool *p, const char *s);
char *pool_printf(Pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pool_free(Pool *p);

/* The set of names the model uses, so that every name is given once. */
typedef struct {
  char **names;
  size_t n, cap;
} NameSet;
bool names_has(const NameSet *s, const char *name);
void names_add(NameSet *s, Pool *p, const char *name);
/* A C identifier for `want` that is no keyword of the language or of C and not yet in s:
 * every character but [A-Za-z0-9_] becomes '_', a leading digit gets "v_" before it, a
 * taken name gets "_2", "_3", ... after it. Added to s. */
char *names_fresh(NameSet *s, Pool *p, const char *want);
/* The same name before the check against s (the name a unique `want` gets). */
char *names_sanitize(Pool *p, const char *want);

#endif
