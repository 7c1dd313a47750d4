/* data.c — CSV training data for a model, and feeding it batch by batch.
 *
 * A row is one sample: the model's inputs in declaration order, each flattened with
 * the batch dimension removed (for `digits`: 64 pixels, then the label). An optional
 * header line (no field of it a number) is skipped; blank lines are ignored.
 * Errors name FILE:LINE:COL. Label columns must hold integers in [0, classes). */
#define _DEFAULT_SOURCE
#include "data.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int layout_of(gradc_model *m, Layout *L, char *err, size_t errlen) {
  memset(L, 0, sizeof *L);
  L->batch = 1;
  L->label = -1;
  bool batched = false;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role != GRADC_ROLE_INPUT) continue;
    if (L->n == MAX_COLUMNS_GROUPS) return snprintf(err, errlen, "too many inputs"), -1;
    size_t b = t->batched ? (size_t)t->shape[0] : 1;
    if (t->batched) L->batch = b, batched = true;
    LayoutInput *in = &L->in[L->n++];
    in->name = t->name;
    in->per_sample = t->count / b;
    in->is_int = t->dtype == GRADC_I32;
    in->classes = t->classes;
    in->col = L->cols;
    L->cols += in->per_sample;
    if (t->classes) L->label = (int)(L->n - 1);
  }
  if (!L->n) return snprintf(err, errlen, "the model has no inputs to read data into"), -1;
  /* A batch takes one row per sample for every input: an input without the batch
   * dimension has no row of its own (it would be filled once per row, past its end). */
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_INPUT && !t->batched && batched)
      return snprintf(err, errlen,
                      "input '%s' has no batch dimension, so CSV rows cannot fill it: every input of a model "
                      "with a batch is read one row per sample (give '%s' the batch as its first dimension, "
                      "or make it a frozen param)",
                      t->name, t->name),
             -1;
  }
  return 0;
}

char *read_text(const char *path, size_t *len, char *err, size_t errlen) {
  const size_t max = (size_t)1 << 32; /* 4 GiB */
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    snprintf(err, errlen, "%s: error: cannot open: %s", path, strerror(errno));
    if (f) fclose(f);
    return NULL;
  }
  const char *why = S_ISDIR(st.st_mode)                                   ? "is a directory"
                    : S_ISREG(st.st_mode) && (uint64_t)st.st_size > max ? "file larger than 4 GiB"
                                                                        : NULL;
  size_t cap = 1 << 16, n = 0, r;
  char *buf = why ? NULL : malloc(cap);
  if (!why && !buf) why = "out of memory";
  while (!why && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) { /* a pipe too: until EOF */
    n += r;
    if (cap - n > 1) continue;
    char *nb = cap >= max ? NULL : realloc(buf, cap * 2);
    if (!nb) why = cap >= max ? "file larger than 4 GiB" : "out of memory";
    else buf = nb, cap *= 2;
  }
  if (!why && ferror(f)) why = "read error";
  fclose(f);
  if (why) {
    snprintf(err, errlen, "%s: error: %s", path, why);
    return free(buf), NULL;
  }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* Describes which input a column belongs to: "x[12]" or "label". */
static void column_name(const Layout *L, size_t c, char *out, size_t len) {
  for (size_t i = 0; i < L->n; i++)
    if (c >= L->in[i].col && c < L->in[i].col + L->in[i].per_sample) {
      if (L->in[i].per_sample == 1) snprintf(out, len, "%s", L->in[i].name);
      else snprintf(out, len, "%s[%zu]", L->in[i].name, c - L->in[i].col);
      return;
    }
  snprintf(out, len, "?");
}

static const LayoutInput *input_of(const Layout *L, size_t c) {
  for (size_t i = 0; i < L->n; i++)
    if (c >= L->in[i].col && c < L->in[i].col + L->in[i].per_sample) return &L->in[i];
  return NULL;
}

/* Parses one line into row; returns 0, or -1 with err set. */
static int parse_row(const char *path, int line, const char *p, const char *end, const Layout *L, float *row,
                     char *err, size_t errlen) {
  const char *start = p;
  size_t c = 0;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    int col = (int)(p - start) + 1;
    char *q;
    errno = 0;
    double v = strtod(p, &q);
    if (q == p || q > end || errno == ERANGE || !isfinite(v) || fabs(v) > 3.4028234663852886e38) {
      snprintf(err, errlen, "%s:%d:%d: error: expected a float32 number, got '%.*s'", path, line, col,
               (int)strcspn(p, ",\r\n") > 20 ? 20 : (int)strcspn(p, ",\r\n"), p);
      return -1;
    }
    if (c >= L->cols) {
      snprintf(err, errlen, "%s:%d:%d: error: too many columns: the model's inputs take %zu", path, line, col,
               L->cols);
      return -1;
    }
    const LayoutInput *in = input_of(L, c);
    if (in->is_int && (v != floor(v) || fabs(v) > 2147483647.0 || (in->classes && (v < 0 || v >= (double)in->classes)))) {
      char name[300];
      column_name(L, c, name, sizeof name);
      if (in->classes)
        snprintf(err, errlen, "%s:%d:%d: error: %s must be a class label, an integer from 0 to %lld, got %g", path,
                 line, col, name, (long long)in->classes - 1, v);
      else
        snprintf(err, errlen, "%s:%d:%d: error: %s must be an integer, got %g", path, line, col, name, v);
      return -1;
    }
    row[c++] = (float)v;
    p = q;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p >= end) break;
    if (*p != ',') {
      snprintf(err, errlen, "%s:%d:%d: error: expected ',' between values", path, line, (int)(p - start) + 1);
      return -1;
    }
    p++;
  }
  if (c != L->cols) {
    char want[512] = "";
    for (size_t i = 0; i < L->n; i++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s: %zu", i ? ", " : "", L->in[i].name,
               L->in[i].per_sample);
    snprintf(err, errlen, "%s:%d:%d: error: %zu columns, the model's inputs take %zu (%s)", path, line,
             (int)(end - start) + 1, c, L->cols, want);
    return -1;
  }
  return 0;
}

/* A header line: no field of it starts like a number ("x0,x1,...,label"). A first line
 * with a typo among numbers is data, and its error names the column. */
static bool is_header(const char *s, const char *end) {
  for (const char *f = s; f < end; f++) {
    while (f < end && (*f == ' ' || *f == '\t')) f++;
    if (f < end && (isdigit((unsigned char)*f) || *f == '-' || *f == '+' || *f == '.')) return false;
    while (f < end && *f != ',') f++;
  }
  return true;
}

int data_load(const char *path, const Layout *L, Table *t, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  size_t len;
  char *buf = read_text(path, &len, err, errlen);
  if (!buf) return -1;
  size_t skip = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0; /* a UTF-8 byte-order mark */
  size_t cap = 1024;
  t->cols = L->cols;
  t->v = malloc(cap * L->cols * sizeof(float));
  int line = 0, rc = 0;
  if (!t->v) {
    free(buf);
    return snprintf(err, errlen, "%s: error: out of memory", path), -1;
  }
  for (char *p = buf + skip; p < buf + len && !rc; ) {
    char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    char *end = nl ? nl : buf + len;
    line++;
    const char *s = p;
    while (s < end && isspace((unsigned char)*s)) s++;
    bool header = line == 1 && s < end && is_header(s, end);
    if (s < end && !header) {
      if (t->rows == cap) {
        float *nv = realloc(t->v, (cap *= 2) * L->cols * sizeof(float));
        if (!nv) rc = -1, snprintf(err, errlen, "%s: error: out of memory", path);
        else t->v = nv;
      }
      if (!rc) rc = parse_row(path, line, p, end, L, t->v + t->rows * L->cols, err, errlen);
      if (!rc) t->rows++;
    }
    p = end + 1;
  }
  free(buf);
  if (!rc && t->rows == 0) rc = -1, snprintf(err, errlen, "%s: error: no data rows", path);
  if (rc) data_free(t);
  return rc;
}

void data_free(Table *t) {
  free(t->v);
  t->v = NULL;
  t->rows = 0;
}

void fill_batch(gradc_model *m, const Layout *L, const Table *t, const size_t *rows, size_t n) {
  for (size_t i = 0; i < L->n; i++) {
    const LayoutInput *in = &L->in[i];
    void *buf = gradc_tensor(m, in->name, NULL);
    for (size_t r = 0; r < n; r++) {
      const float *src = t->v + rows[r] * t->cols + in->col;
      for (size_t k = 0; k < in->per_sample; k++) {
        if (in->is_int) ((int32_t *)buf)[r * in->per_sample + k] = (int32_t)src[k];
        else ((float *)buf)[r * in->per_sample + k] = src[k];
      }
    }
  }
}

/* The output holding class scores for the label input: [batch, classes]. */
static const float *scores(gradc_model *m, const Layout *L, int64_t classes, size_t batch) {
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_OUTPUT && t->dtype == GRADC_F32 && t->rank == 2 && t->shape[1] == classes &&
        (size_t)t->shape[0] == batch)
      return gradc_tensor(m, t->name, NULL);
  }
  (void)L;
  return NULL;
}

size_t count_correct(gradc_model *m, const Layout *L, size_t n) {
  if (L->label < 0 || L->in[L->label].per_sample != 1) return 0;
  const LayoutInput *lab = &L->in[L->label];
  const float *s = scores(m, L, lab->classes, L->batch);
  const int32_t *y = gradc_tensor(m, lab->name, NULL);
  if (!s) return 0;
  size_t correct = 0;
  for (size_t r = 0; r < n; r++) {
    const float *row = s + r * (size_t)lab->classes;
    int64_t best = 0;
    for (int64_t c = 1; c < lab->classes; c++)
      if (row[c] > row[best]) best = c;
    correct += best == y[r];
  }
  return correct;
}

/* One label per sample: labels of every position ([N, T]) have no accuracy column. */
bool has_accuracy(gradc_model *m, const Layout *L) {
  return L->label >= 0 && L->in[L->label].per_sample == 1 && scores(m, L, L->in[L->label].classes, L->batch);
}
