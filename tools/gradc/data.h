/* data.h — CSV training data laid out for a model's inputs (see data.c). */
#ifndef GRADC_DATA_H
#define GRADC_DATA_H
#include <stdbool.h>
#include "gradc/runtime.h"

#define MAX_COLUMNS_GROUPS 64

typedef struct {
  const char *name;
  size_t per_sample; /* elements per sample (batch dimension removed) */
  bool is_int;
  int64_t classes;
  size_t col; /* first CSV column */
} LayoutInput;

typedef struct {
  LayoutInput in[MAX_COLUMNS_GROUPS];
  size_t n;
  size_t cols;  /* CSV columns per row */
  size_t batch; /* samples per step (1 without a batch dimension) */
  int label;    /* index in `in` of the class-label input, or -1 */
} Layout;

typedef struct {
  float *v; /* rows x cols, row-major; labels as exact integers */
  size_t rows, cols;
} Table;

/* A whole file (a pipe too, up to 4 GiB), NUL-terminated, its length in *len; NULL with
 * "PATH: error: ..." in err (a directory, unreadable, too large). CSV data and
 * `--set NAME=@FILE` both read through it. */
char *read_text(const char *path, size_t *len, char *err, size_t errlen);

int layout_of(gradc_model *m, Layout *L, char *err, size_t errlen);
/* Loads and validates a CSV file; -1 with `FILE:LINE:COL: error: ...` in err. */
int data_load(const char *path, const Layout *L, Table *t, char *err, size_t errlen);
void data_free(Table *t);
/* Copies rows[0..n) of t into the model's input buffers (n <= L->batch). */
void fill_batch(gradc_model *m, const Layout *L, const Table *t, const size_t *rows, size_t n);
/* Whether the model has a class-score output for its label input; then how many of the
 * first n samples of the last forward were classified right (argmax == label). */
bool has_accuracy(gradc_model *m, const Layout *L);
size_t count_correct(gradc_model *m, const Layout *L, size_t n);

#endif
