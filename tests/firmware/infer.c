/* infer.c — classify the digits test split with a compiled, weights-baked model.
 *
 * The same source runs as firmware (Cortex-M4 under QEMU, output over semihosting) and
 * on the host; run.sh compares the two outputs. It sees the model only through the
 * header gradc wrote: NAME_forward(x, logits, workspace), NAME_*_SIZE and
 * NAME_WORKSPACE_BYTES. The model is digits unless the build names another with an
 * input x of 64 pixels and an output logits of 10 classes (-DMODEL=digits_cnn
 * -DMODEL_UPPER=DIGITS_CNN -DMODEL_H='"digits_cnn.h"'). The test images are constant
 * data (test_data.h). */
#include <stdio.h>
#ifndef MODEL
#define MODEL digits
#define MODEL_UPPER DIGITS
#define MODEL_H "digits.h"
#endif
#include MODEL_H
#include "test_data.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FORWARD CAT(MODEL, _forward)
#define X_SIZE CAT(MODEL_UPPER, _X_SIZE)
#define LOGITS_SIZE CAT(MODEL_UPPER, _LOGITS_SIZE)
#define WORKSPACE_BYTES CAT(MODEL_UPPER, _WORKSPACE_BYTES)

static float x[X_SIZE], logits[LOGITS_SIZE];
static _Alignas(64) unsigned char workspace[WORKSPACE_BYTES + 1];

int main(void) {
  int right = 0;
  for (int n = 0; n < test_ROWS; n++) {
    for (int i = 0; i < X_SIZE; i++) x[i] = (float)test_pixels[n][i];
    FORWARD(x, logits, workspace);
    int best = 0;
    for (int c = 1; c < LOGITS_SIZE; c++)
      if (logits[c] > logits[best]) best = c;
    right += best == test_labels[n];
    printf("sample %d label %d predicted %d logits", n, test_labels[n], best);
    for (int c = 0; c < LOGITS_SIZE; c++) printf(" %.9g", (double)logits[c]);
    printf("\n");
  }
  printf("accuracy %d/%d\n", right, test_ROWS);
  return 0;
}
