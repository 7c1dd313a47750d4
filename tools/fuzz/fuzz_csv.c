/* fuzz_csv.c — libFuzzer target for the CSV training-data loader (tools/gradc/data.c,
 * data_load: what `gradc train --data/--val` and `gradc eval --data` read).
 *
 * Input: one selector byte, then the CSV file. The selector picks a hand-built Layout
 * (what layout_of would derive from a model):
 *   0  digits:  x: 64 floats, label: i32 with 10 classes        (65 columns)
 *   1  small:   x: 3 floats, label: i32 with 3 classes          (4 columns)
 *   2  mixed:   a: 2 floats, k: i32 (not a label), y: 1 float   (4 columns)
 * The rest is written to one file in a private temporary directory and loaded. On
 * success every cell is checked (finite, label cells integers in range) and the table
 * freed; on failure the message must be terminated and the table empty. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "data.h"
#include "fuzz_tmp.h"

static Layout layouts[3];

static void init_layouts(void) {
  Layout *L = &layouts[0];
  L->in[0] = (LayoutInput){.name = "x", .per_sample = 64, .col = 0};
  L->in[1] = (LayoutInput){.name = "label", .per_sample = 1, .is_int = true, .classes = 10, .col = 64};
  L->n = 2, L->cols = 65, L->batch = 1, L->label = 1;
  L = &layouts[1];
  L->in[0] = (LayoutInput){.name = "x", .per_sample = 3, .col = 0};
  L->in[1] = (LayoutInput){.name = "label", .per_sample = 1, .is_int = true, .classes = 3, .col = 3};
  L->n = 2, L->cols = 4, L->batch = 1, L->label = 1;
  L = &layouts[2];
  L->in[0] = (LayoutInput){.name = "a", .per_sample = 2, .col = 0};
  L->in[1] = (LayoutInput){.name = "k", .per_sample = 1, .is_int = true, .col = 2};
  L->in[2] = (LayoutInput){.name = "y", .per_sample = 1, .col = 3};
  L->n = 3, L->cols = 4, L->batch = 1, L->label = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[8192];
  if (!path[0]) {
    fuzz_tmp_path("in.csv", path, sizeof path);
    init_layouts();
  }
  if (size < 1) return 0;
  const Layout *L = &layouts[data[0] % 3];
  fuzz_tmp_write(path, data + 1, size - 1);
  Table t;
  char err[1024];
  err[0] = 'x';
  if (data_load(path, L, &t, err, sizeof err) == 0) {
    if (!t.v || t.rows == 0 || t.cols != L->cols) __builtin_trap();
    for (size_t r = 0; r < t.rows; r++)
      for (size_t i = 0; i < L->n; i++)
        for (size_t k = 0; k < L->in[i].per_sample; k++) {
          float v = t.v[r * t.cols + L->in[i].col + k];
          if (!isfinite(v)) __builtin_trap();
          if (L->in[i].is_int && v != floorf(v)) __builtin_trap();
          if (L->in[i].classes && (v < 0 || v >= (float)L->in[i].classes)) __builtin_trap();
        }
    data_free(&t);
  } else {
    if (!memchr(err, 0, sizeof err) || t.v || t.rows) __builtin_trap();
  }
  return 0;
}
