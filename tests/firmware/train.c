/* train.c — on-device training: the digits MLP trained inside the firmware.
 *
 * The model is compiled with its training entry point for the Cortex-M4
 * (digits_train_step: forward, backward and the SGD update of every parameter in one
 * call); its parameters, gradients and momentum live in RAM in `model`, initialised by
 * the freestanding runtime core from the INIT specs in the header; a subset of the
 * training split is constant data in flash. Prints the mean loss of each epoch and the
 * final test accuracy. Batches are the model's batch size (DIGITS_X_SIZE / 64). */
#include <stdio.h>
#include "digits.h"
#include "gradc/runtime_core.h"
#include "test_data.h"
#include "train_data.h"

#define BATCH (DIGITS_X_SIZE / 64)
#define EPOCHS 12

/* Everything the model needs in RAM; `gradc compile --stats` reports the same bytes. */
static struct {
  float w1[DIGITS_W1_SIZE], b1[DIGITS_B1_SIZE], w2[DIGITS_W2_SIZE], b2[DIGITS_B2_SIZE];
  float grad_w1[DIGITS_W1_SIZE], grad_b1[DIGITS_B1_SIZE], grad_w2[DIGITS_W2_SIZE], grad_b2[DIGITS_B2_SIZE];
  float mom_w1[DIGITS_W1_SIZE], mom_b1[DIGITS_B1_SIZE], mom_w2[DIGITS_W2_SIZE], mom_b2[DIGITS_B2_SIZE];
} model;
static _Alignas(64) unsigned char workspace[DIGITS_WORKSPACE_BYTES + 1];
static float x[DIGITS_X_SIZE], logits[DIGITS_LOGITS_SIZE], loss;
static int32_t label[DIGITS_LABEL_SIZE];

static void init(float *p, size_t n, gradc_init_spec spec, const char *name) {
  gradc_core_init_tensor(p, n, &spec, 0, name);
}

/* Rows [first, first + BATCH) of a split into the input buffers (wrapping around). */
static void load(const unsigned char (*px)[64], const unsigned char *lab, int rows, int first) {
  for (int r = 0; r < BATCH; r++) {
    int s = (first + r) % rows;
    for (int i = 0; i < 64; i++) x[r * 64 + i] = (float)px[s][i];
    label[r] = lab[s];
  }
}

int main(void) {
  init(model.w1, DIGITS_W1_SIZE, (gradc_init_spec)DIGITS_W1_INIT, "w1");
  init(model.b1, DIGITS_B1_SIZE, (gradc_init_spec)DIGITS_B1_INIT, "b1");
  init(model.w2, DIGITS_W2_SIZE, (gradc_init_spec)DIGITS_W2_INIT, "w2");
  init(model.b2, DIGITS_B2_SIZE, (gradc_init_spec)DIGITS_B2_INIT, "b2");
  const float hyper[3] = {0.05f, 0.9f, 0.0f}; /* lr, momentum, weight decay */
  printf("training digits on the device: %d images, batch %d, %d epochs\n", train_ROWS, BATCH, EPOCHS);
  for (int e = 1; e <= EPOCHS; e++) {
    double sum = 0;
    int steps = train_ROWS / BATCH;
    for (int s = 0; s < steps; s++) {
      load(train_pixels, train_labels, train_ROWS, s * BATCH);
      digits_train_step(x, label, model.w1, model.b1, model.w2, model.b2, model.grad_w1, model.grad_b1,
                        model.grad_w2, model.grad_b2, model.mom_w1, model.mom_b1, model.mom_w2, model.mom_b2,
                        logits, &loss, hyper, workspace);
      sum += loss;
    }
    printf("epoch %d loss %.6f\n", e, sum / steps);
  }
  int right = 0;
  for (int first = 0; first < test_ROWS; first += BATCH) {
    load(test_pixels, test_labels, test_ROWS, first);
    digits_forward(x, label, model.w1, model.b1, model.w2, model.b2, logits, &loss, workspace);
    for (int r = 0; r < BATCH && first + r < test_ROWS; r++) {
      int best = 0;
      for (int c = 1; c < 10; c++)
        if (logits[r * 10 + c] > logits[r * 10 + best]) best = c;
      right += best == label[r];
    }
  }
  printf("test accuracy %d/%d\n", right, test_ROWS);
  return 0;
}
