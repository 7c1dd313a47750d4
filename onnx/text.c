/* text.c — growable text, allocations freed together, and the names of an imported model. */
#include "text.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void out_of_memory(void) {
  fputs("gradc: out of memory\n", stderr);
  abort();
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) out_of_memory();
  return q;
}

void text_vadd(Text *t, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return;
  if (t->len + (size_t)n + 1 > t->cap) {
    t->cap = (t->len + (size_t)n + 1) * 2;
    t->s = xrealloc(t->s, t->cap);
  }
  vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
  t->len += (size_t)n;
}

void text_add(Text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_vadd(t, fmt, ap);
  va_end(ap);
}

void text_free(Text *t) {
  free(t->s);
  *t = (Text){0};
}

void *pool_adopt(Pool *p, void *m) {
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->p = xrealloc(p->p, p->cap * sizeof *p->p);
  }
  return p->p[p->n++] = m;
}

void *pool_alloc(Pool *p, size_t size) {
  void *m = calloc(1, size ? size : 1);
  if (!m) out_of_memory();
  return pool_adopt(p, m);
}

char *pool_strdup(Pool *p, const char *s) {
  char *d = pool_alloc(p, strlen(s) + 1);
  return strcpy(d, s);
}

char *pool_printf(Pool *p, const char *fmt, ...) {
  Text t = {0};
  va_list ap;
  va_start(ap, fmt);
  text_vadd(&t, fmt, ap);
  va_end(ap);
  char *s = pool_strdup(p, t.s ? t.s : "");
  text_free(&t);
  return s;
}

void pool_free(Pool *p) {
  for (size_t i = 0; i < p->n; i++) free(p->p[i]);
  free(p->p);
  *p = (Pool){0};
}

bool names_has(const NameSet *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->names[i], name)) return true;
  return false;
}

void names_add(NameSet *s, Pool *p, const char *name) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    char **grown = pool_alloc(p, s->cap * sizeof *grown); /* the old array stays in the pool */
    if (s->n) memcpy(grown, s->names, s->n * sizeof *grown);
    s->names = grown;
  }
  s->names[s->n++] = pool_strdup(p, name);
}

/* The language's statement keywords and literals, C's keywords, and the names the
 * generated C code gives its own arguments. */
static const char *const reserved[] = {
    "model", "batch", "dim", "input", "param", "output", "minimize", "buffer", "frozen", "inf", "nan",
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
    "_Complex", "_Imaginary", "bool", "true", "false", "NULL",
};

static bool is_reserved(const char *s) {
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (!strcmp(reserved[i], s)) return true;
  return false;
}

char *names_sanitize(Pool *p, const char *want) {
  size_t n = strlen(want);
  char *base = pool_alloc(p, n + 8);
  size_t j = 0;
  if (!n || isdigit((unsigned char)want[0])) {
    strcpy(base, "v_");
    j = 2;
  }
  for (size_t i = 0; i < n; i++) base[j++] = isalnum((unsigned char)want[i]) || want[i] == '_' ? want[i] : '_';
  base[j] = 0;
  if (j > 200) base[200] = 0;
  return is_reserved(base) ? pool_printf(p, "%s_", base) : base;
}

char *names_fresh(NameSet *s, Pool *p, const char *want) {
  char *base = names_sanitize(p, want), *name = base;
  for (int k = 2; names_has(s, name); k++) name = pool_printf(p, "%s_%d", base, k);
  names_add(s, p, name);
  return name;
}
