/* lex.h — the tokenizer of .grad files, pulled one token at a time by parse.c.
 *
 * The lexer skips blanks and `#` comments, and turns line ends into TK_NEWLINE tokens
 * (one per non-empty line) except inside () and [], where a call or a list may span
 * lines. Bad characters and malformed numbers are reported through diag_error. */
#ifndef GRADC_LEX_H
#define GRADC_LEX_H
#include <stdbool.h>
#include "arena.h"
#include "diag.h"

#define LEX_MAX_IDENT 255
#define LEX_MAX_STRING 255 /* characters between the quotes */

typedef enum {
  TK_IDENT,   /* C identifier */
  TK_NUM,     /* number literal; num and is_int are set */
  TK_STRING,  /* "text" or 'text': start/len include the quotes */
  TK_PUNCT,   /* ( ) [ ] , = : + - * / @ < >, and 'P' for **, 'l' <=, 'g' >=, 'E' ==, 'N' !=; '.' for ... */
  TK_NEWLINE, /* end of a statement */
  TK_EOF,
} TokKind;

typedef struct {
  TokKind kind;
  const char *start; /* the token's text in the source (empty for NEWLINE/EOF) */
  int len;
  SrcLoc loc;   /* NEWLINE/EOF: just after the previous token */
  char punct;   /* TK_PUNCT */
  bool bol;     /* first token of its line (also true for EOF) */
  double num;   /* TK_NUM */
  bool is_int;  /* TK_NUM written with digits only */
} Token;

typedef struct {
  Diag *d;
  const char *p;     /* next unread byte */
  int line, col;     /* of *p */
  int depth;         /* open ( and [; newlines are ignored when > 0 */
  SrcLoc prev_end;   /* just after the last token returned */
  bool at_bol;       /* no token returned yet on the current line */
  bool need_newline; /* a token was returned since the last TK_NEWLINE */
} Lexer;

void lex_init(Lexer *lx, Diag *d);
Token lex_next(Lexer *lx);
/* The token as users see it in messages: `'foo'`, `end of line`, `end of file`. Written
 * into buf (at least 64 bytes), which is returned. */
const char *tok_str(const Token *t, char *buf, size_t size);
bool tok_is(const Token *t, char punct);
bool tok_is_ident(const Token *t, const char *s);

#endif
