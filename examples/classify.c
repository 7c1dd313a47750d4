/* classify.c — using a compiled gradc model from C, with nothing but its header.
 *
 *   gradc compile models/digits.grad --inference --weights digits.safetensors -D N=1 -o digits.so
 *   cc -O2 -I. examples/classify.c digits.so -Wl,-rpath,'$ORIGIN' -o classify
 *   ./classify < models/data/digits_test.csv
 *
 * Reads CSV rows (64 pixel values, optionally the true label) from standard input and
 * prints the predicted digit of each; with labels, also the accuracy. The weights are
 * inside digits.so; the caller only owns the input, output and workspace buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "digits.h"

int main(void) {
  static float x[DIGITS_X_SIZE], logits[DIGITS_LOGITS_SIZE];
  static _Alignas(64) unsigned char workspace[DIGITS_WORKSPACE_BYTES + 1];
  char line[4096];
  int n = 0, labelled = 0, correct = 0;
  while (fgets(line, sizeof line, stdin)) {
    char *p = line;
    int k = 0;
    for (; k < DIGITS_X_SIZE; k++) {
      char *end;
      x[k] = strtof(p, &end);
      if (end == p) break;
      p = end + strspn(end, ", \t");
    }
    if (k < DIGITS_X_SIZE) continue; /* a header or a short line */
    digits_forward(x, logits, workspace);
    int best = 0;
    for (int c = 1; c < DIGITS_LOGITS_SIZE; c++)
      if (logits[c] > logits[best]) best = c;
    char *end;
    long label = strtol(p, &end, 10);
    if (end != p) labelled++, correct += best == label;
    if (n < 10) printf("sample %d: predicted %d%s", n, best, end != p ? "" : "\n");
    if (n < 10 && end != p) printf(" (label %ld)\n", label);
    n++;
  }
  printf("%d samples classified", n);
  if (labelled) printf(", %d of %d right (%.2f%%)", correct, labelled, 100.0 * correct / labelled);
  printf("\n");
  return 0;
}
