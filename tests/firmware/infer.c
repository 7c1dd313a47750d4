/* infer.c — classify the digits test split with a compiled, weights-baked model.
 *
 * The same source runs as firmware (Cortex-M4 under QEMU, output over semihosting) and
 * on the host; run.sh compares the two outputs. It sees the model only through the
 * header gradc wrote: digits_forward(x, logits, workspace), DIGITS_*_SIZE and
 * DIGITS_WORKSPACE_BYTES. The test images are constant data (test_data.h). */
#include <stdio.h>
#include "digits.h"
#include "test_data.h"

static float x[DIGITS_X_SIZE], logits[DIGITS_LOGITS_SIZE];
static _Alignas(64) unsigned char workspace[DIGITS_WORKSPACE_BYTES + 1];

int main(void) {
  int right = 0;
  for (int n = 0; n < test_ROWS; n++) {
    for (int i = 0; i < DIGITS_X_SIZE; i++) x[i] = (float)test_pixels[n][i];
    digits_forward(x, logits, workspace);
    int best = 0;
    for (int c = 1; c < DIGITS_LOGITS_SIZE; c++)
      if (logits[c] > logits[best]) best = c;
    right += best == test_labels[n];
    printf("sample %d label %d predicted %d logits", n, test_labels[n], best);
    for (int c = 0; c < DIGITS_LOGITS_SIZE; c++) printf(" %.9g", (double)logits[c]);
    printf("\n");
  }
  printf("accuracy %d/%d\n", right, test_ROWS);
  return 0;
}
