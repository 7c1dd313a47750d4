/* lex.c — the tokenizer of .grad files (see lex.h).
 *
 * Only ASCII is allowed outside comments (strings are printable ASCII); comments may hold any bytes but NUL, which
 * ends the source. Columns count bytes, a tab is one column. */
#include "lex.h"
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lex_init(Lexer *lx, Diag *d) {
  memset(lx, 0, sizeof *lx);
  lx->d = d;
  lx->p = d->src ? d->src : "";
  lx->line = 1;
  lx->col = 1;
  lx->prev_end = (SrcLoc){1, 1};
  lx->at_bol = true;
  if (strncmp(lx->p, "\xef\xbb\xbf", 3) == 0) lx->p += 3, lx->col += 3; /* a UTF-8 byte order mark */
}

static SrcLoc here(const Lexer *lx) { return (SrcLoc){lx->line, lx->col}; }

/* Consumes one byte that is not a line end. Saturates rather than overflow. */
static void advance(Lexer *lx) {
  lx->p++;
  if (lx->col < INT_MAX) lx->col++;
}

static void advance_line(Lexer *lx) {
  lx->p++;
  if (lx->line < INT_MAX) lx->line++;
  lx->col = 1;
  lx->at_bol = true;
}

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }

/* Length of the valid UTF-8 sequence at s (2..4), or 0 if s does not start one. */
static int utf8_len(const unsigned char *s, unsigned *cp) {
  int n;
  unsigned c = s[0], min;
  if (c >= 0xc2 && c <= 0xdf) n = 2, c &= 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) n = 3, c &= 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, c &= 0x07, min = 0x10000;
  else return 0;
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return n;
}

/* Reports the byte at lx->p, which starts no token. */
static _Noreturn void bad_char(Lexer *lx) {
  const unsigned char *s = (const unsigned char *)lx->p;
  unsigned cp;
  if (*s == '.' && !isdigit((unsigned char)s[1]))
    diag_error(lx->d, here(lx), "unexpected character '.': there are no methods or modules (x.sum(), torch.relu(x)); "
               "operators are calls: sum(x), relu(x)");
  if (*s >= 0x21 && *s <= 0x7e) diag_error(lx->d, here(lx), "unexpected character '%c'", *s);
  if (*s < 0x80) diag_error(lx->d, here(lx), "unexpected control character 0x%02x", *s);
  int n = utf8_len(s, &cp);
  if (n == 0) diag_error(lx->d, here(lx), "invalid UTF-8 byte 0x%02x", *s);
  diag_error(lx->d, here(lx), "unexpected character '%.*s' (U+%04X); only ASCII is allowed outside comments",
             n, (const char *)s, cp);
}

/* Skips blanks and comments, and line ends inside brackets. Stops at a line end that
 * ends a statement, at a token, or at the end of the source. */
static void skip_space(Lexer *lx) {
  for (;;) {
    char c = *lx->p;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      advance(lx);
    } else if (c == '#') {
      while (*lx->p && *lx->p != '\n') advance(lx);
    } else if (c == '\n' && (lx->depth > 0 || !lx->need_newline)) {
      advance_line(lx);
    } else {
      return;
    }
  }
}

/* Is s[0..n) a well-formed number: digits [. digits] [(e|E) [+-] digits]? */
static bool valid_number(const char *s, int n, bool *is_int) {
  int i = 0, mant = 0;
  while (i < n && is_digit(s[i])) i++, mant++;
  *is_int = true;
  if (i < n && s[i] == '.') {
    *is_int = false;
    for (i++; i < n && is_digit(s[i]); i++) mant++;
  }
  if (mant == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    *is_int = false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    int exp = 0;
    while (i < n && is_digit(s[i])) i++, exp++;
    if (exp == 0) return false;
  }
  return i == n;
}

/* Reads a number, taking every letter, digit, '_' and '.' that follows (and a sign
 * after e/E) so that `1.2.3` or `3abc` is reported whole. */
static void lex_number(Lexer *lx, Token *t) {
  const char *s = lx->p;
  while (is_alnum(*lx->p) || *lx->p == '.' ||
         ((*lx->p == '+' || *lx->p == '-') && (lx->p[-1] == 'e' || lx->p[-1] == 'E')))
    advance(lx);
  long long n = lx->p - s;
  int shown = n > 40 ? 40 : (int)n;
  const char *dots = n > 40 ? "..." : "";
  if (n > INT_MAX / 2 || !valid_number(s, (int)n, &t->is_int))
    diag_error(lx->d, t->loc, "bad number '%.*s%s'", shown, s, dots);
  char *end;
  t->num = strtod(s, &end);
  if (end != s + n) diag_error(lx->d, t->loc, "bad number '%.*s%s'", shown, s, dots);
  if (!isfinite(t->num)) diag_error(lx->d, t->loc, "number '%.*s%s' is too large", shown, s, dots);
  t->kind = TK_NUM;
  t->len = (int)n;
}

static void lex_ident(Lexer *lx, Token *t) {
  const char *s = lx->p;
  while (is_alnum(*lx->p)) advance(lx);
  long long n = lx->p - s;
  if (n > LEX_MAX_IDENT)
    diag_error(lx->d, t->loc, "identifier '%.20s...' is too long (%lld characters; the limit is %d)", s, n,
               LEX_MAX_IDENT);
  t->kind = TK_IDENT;
  t->len = (int)n;
}

/* A string: printable ASCII between matching quotes (" or '), on one line, no escapes.
 * Strings are argument values (reduction="sum"); the parser says where they may go. */
static void lex_string(Lexer *lx, Token *t) {
  const char *s = lx->p;
  char q = *s;
  advance(lx);
  while (*lx->p != q) {
    unsigned char c = (unsigned char)*lx->p;
    if (c == '\\') diag_error(lx->d, here(lx), "a string has no escapes: '\\' is not allowed in one");
    if (c == '\n' || c == '\r' || c == 0) diag_error(lx->d, t->loc, "unterminated string: missing %c", q);
    if (c < 0x20 || c > 0x7e) bad_char(lx);
    advance(lx);
  }
  advance(lx);
  long long n = lx->p - s;
  if (n - 2 > LEX_MAX_STRING)
    diag_error(lx->d, t->loc, "string %.20s... is too long (%lld characters; the limit is %d)", s, n - 2,
               LEX_MAX_STRING);
  t->kind = TK_STRING;
  t->len = (int)n;
}

/* The two-character operators: ** and the comparisons <= >= == != (the token's punct). */
static char two_char_op(char c, char next) {
  if (c == '*' && next == '*') return 'P';
  if (next != '=') return 0;
  return c == '<' ? 'l' : c == '>' ? 'g' : c == '=' ? 'E' : c == '!' ? 'N' : 0;
}

static void lex_punct(Lexer *lx, Token *t) {
  char c = *lx->p;
  if (c == '.' && lx->p[1] == '.' && lx->p[2] == '.') { /* the ellipsis of an index (issue 15) */
    advance(lx), advance(lx), advance(lx);
    t->kind = TK_PUNCT, t->punct = '.', t->len = 3;
    return;
  }
  if (c == '!' && lx->p[1] != '=')
    diag_error(lx->d, here(lx), "unexpected character '!': != is 'not equal'; there is no logical not (for a mask m, "
               "write 1 - m)");
  if (!strchr("()[],=:+-*/@<>!", c)) bad_char(lx);
  advance(lx);
  t->kind = TK_PUNCT;
  t->punct = c;
  t->len = 1;
  char two = two_char_op(c, *lx->p);
  if (two) {
    advance(lx);
    t->punct = two;
    t->len = 2;
  }
  if (c == '(' || c == '[') {
    if (lx->depth < INT_MAX) lx->depth++;
  } else if ((c == ')' || c == ']') && lx->depth > 0) {
    lx->depth--;
  }
}

Token lex_next(Lexer *lx) {
  skip_space(lx);
  Token t = {0};
  t.start = lx->p;
  t.bol = lx->at_bol;
  if (*lx->p == '\n' || *lx->p == 0) {
    bool eof = *lx->p == 0;
    t.kind = eof ? TK_EOF : TK_NEWLINE;
    t.loc = lx->prev_end;
    t.bol = eof;
    if (!eof) advance_line(lx);
    lx->need_newline = false;
    return t;
  }
  t.loc = here(lx);
  if (is_digit(*lx->p) || (*lx->p == '.' && is_digit(lx->p[1]))) lex_number(lx, &t);
  else if (is_alpha(*lx->p)) lex_ident(lx, &t);
  else if (*lx->p == '"' || *lx->p == '\'') lex_string(lx, &t);
  else lex_punct(lx, &t);
  lx->at_bol = false;
  lx->need_newline = true;
  lx->prev_end = here(lx);
  return t;
}

const char *tok_str(const Token *t, char *buf, size_t size) {
  if (t->kind == TK_NEWLINE) snprintf(buf, size, "end of line");
  else if (t->kind == TK_EOF) snprintf(buf, size, "end of file");
  else if (t->len > 32) snprintf(buf, size, "'%.32s...'", t->start);
  else snprintf(buf, size, "'%.*s'", t->len, t->start);
  return buf;
}

bool tok_is(const Token *t, char punct) { return t->kind == TK_PUNCT && t->punct == punct; }

bool tok_is_ident(const Token *t, const char *s) {
  return t->kind == TK_IDENT && (size_t)t->len == strlen(s) && memcmp(t->start, s, (size_t)t->len) == 0;
}
