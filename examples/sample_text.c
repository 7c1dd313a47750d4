/* sample_text.c — generating text from a trained character model, with the runtime API.
 *
 *   gradc train models/char_cnn.grad --data corpus_train.csv ... -o char.safetensors
 *   gradc compile models/char_cnn.grad --inference -D N=1 -o char.so
 *   build/bin/sample_text char.so char.safetensors models/data/corpus_vocab.txt \
 *       [-n 200] [--temperature 0.8] [--seed 1] [--prompt "The model"]
 *
 * The model (any gradc shared object of that form) takes one input of T character ids,
 * f32 or i32, shaped [1, T] or [T] — or their one-hot encoding, f32 [1, T, V] — and gives
 * one output of logits for every position: T x V values, V the vocabulary of the vocab file (models/data/corpus_vocab.txt: a
 * line per id, the character's ASCII code first). The window holds the last T
 * characters of prompt + text so far (newlines before the start); each step runs the
 * forward pass, takes the last position's logits, divides them by the temperature,
 * samples from their softmax with a seeded generator (splitmix64; temperature 0 takes
 * the most likely character) and appends the character. Prints the prompt, then the N
 * sampled characters, then a newline. Same arguments, same text. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gradc/runtime.h>

typedef struct {
  const char *so, *weights, *vocab, *prompt;
  long n;
  double temperature;
  uint64_t seed;
} Args;

static int usage(void) {
  fprintf(stderr, "usage: sample_text MODEL.so WEIGHTS.safetensors VOCAB.txt [-n N] [--temperature T] "
                  "[--seed S] [--prompt TEXT]\n");
  return 2;
}

static int parse_args(int argc, char **argv, Args *a) {
  *a = (Args){.prompt = "", .n = 200, .temperature = 0.8, .seed = 0};
  const char **pos[] = {&a->so, &a->weights, &a->vocab};
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (o[0] != '-') {
      if (npos == 3) return -1;
      *pos[npos++] = o;
      continue;
    }
    if (!v) return -1;
    i++;
    if (!strcmp(o, "-n")) a->n = strtol(v, &end, 10);
    else if (!strcmp(o, "--temperature")) a->temperature = strtod(v, &end);
    else if (!strcmp(o, "--seed")) a->seed = strtoull(v, &end, 10);
    else if (!strcmp(o, "--prompt")) a->prompt = v;
    else return -1;
    if (end && (*end || end == v)) return -1;
  }
  return npos == 3 && a->n >= 0 && a->temperature >= 0 && isfinite(a->temperature) ? 0 : -1;
}

/* The vocabulary file: chars[id] for each line "CODE ..."; returns the count or -1. */
static int read_vocab(const char *path, char chars[256]) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[64];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    char *end;
    long code = strtol(line, &end, 10);
    if (end == line) continue;
    if (code < 1 || code > 127 || n == 256) n = -1;
    if (n < 0) break;
    chars[n++] = (char)code;
  }
  fclose(f);
  return n;
}

static uint64_t next_u64(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A draw from softmax(logits / temperature) (the argmax at temperature 0). */
static int sample(const float *logits, int v, double temperature, uint64_t *rng) {
  int best = 0;
  for (int i = 1; i < v; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature == 0) return best;
  double total = 0, p[256];
  for (int i = 0; i < v; i++) total += p[i] = exp((logits[i] - logits[best]) / temperature);
  double u = (double)(next_u64(rng) >> 11) * 0x1p-53 * total;
  for (int i = 0; i < v; i++)
    if ((u -= p[i]) < 0) return i;
  return best;
}

/* The model's id input and logits output, checked against the vocabulary size. */
static int find_tensors(gradc_model *m, int vocab, const gradc_tensor_info **in, const gradc_tensor_info **out) {
  *in = *out = NULL;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) {
    const gradc_tensor_info *t = gradc_tensor_at(m, i);
    if (t->role == GRADC_ROLE_INPUT && !*in) *in = t;
    if (t->role == GRADC_ROLE_OUTPUT && !*out && t->dtype == GRADC_F32) *out = t;
  }
  if (!*in || !*out) return fprintf(stderr, "sample_text: the model needs an input and an f32 output\n"), -1;
  size_t t = (*out)->count / (size_t)vocab; /* positions */
  bool ids = (*in)->count == t, onehot = (*in)->count == t * (size_t)vocab && (*in)->dtype == GRADC_F32;
  if (t == 0 || (*out)->count % (size_t)vocab || !(ids || onehot)) {
    fprintf(stderr, "sample_text: input '%s' (%zu values) and output '%s' (%zu values) are not T ids (or T x %d "
                    "one-hot values) and T x %d logits for the %d characters of the vocabulary (compile the model "
                    "with a batch of 1)\n", (*in)->name, (*in)->count, (*out)->name, (*out)->count, vocab, vocab,
            vocab);
    return -1;
  }
  return 0;
}

static int generate(gradc_model *m, const Args *a, const char *chars, int vocab) {
  const gradc_tensor_info *in, *out;
  if (find_tensors(m, vocab, &in, &out) != 0) return 1;
  size_t t = out->count / (size_t)vocab, len = strlen(a->prompt);
  bool onehot = in->count != t;
  int *text = malloc((t + len + (size_t)a->n) * sizeof *text), nl = -1;
  if (!text) return fprintf(stderr, "sample_text: out of memory\n"), 1;
  for (int i = 0; i < vocab; i++)
    if (chars[i] == '\n') nl = i;
  for (size_t i = 0; i < t; i++) text[i] = nl < 0 ? 0 : nl; /* the context before the prompt */
  for (size_t i = 0; i < len; i++) {
    const char *c = memchr(chars, a->prompt[i], (size_t)vocab);
    if (!c) {
      fprintf(stderr, "sample_text: the prompt's '%c' is not in the vocabulary\n", a->prompt[i]);
      free(text);
      return 1;
    }
    text[t + i] = (int)(c - chars);
  }
  void *ids = gradc_tensor(m, in->name, NULL);
  const float *logits = gradc_tensor(m, out->name, NULL);
  uint64_t rng = a->seed;
  fputs(a->prompt, stdout);
  for (size_t k = len; k < len + (size_t)a->n; k++) {
    const int *window = text + k; /* the last t ids before position t + k */
    if (onehot) memset(ids, 0, in->count * sizeof(float));
    for (size_t i = 0; i < t; i++) {
      if (onehot) ((float *)ids)[i * (size_t)vocab + (size_t)window[i]] = 1;
      else if (in->dtype == GRADC_I32) ((int32_t *)ids)[i] = window[i];
      else ((float *)ids)[i] = (float)window[i];
    }
    if (gradc_forward(m) != 0) {
      fprintf(stderr, "sample_text: %s\n", gradc_error(m));
      free(text);
      return 1;
    }
    text[t + k] = sample(logits + (t - 1) * (size_t)vocab, vocab, a->temperature, &rng);
    putchar(chars[text[t + k]]);
  }
  putchar('\n');
  free(text);
  return 0;
}

int main(int argc, char **argv) {
  Args a;
  if (parse_args(argc, argv, &a) != 0) return usage();
  char chars[256], err[512];
  int vocab = read_vocab(a.vocab, chars);
  if (vocab <= 0) return fprintf(stderr, "sample_text: %s: not a vocabulary file\n", a.vocab), 1;
  gradc_model *m = gradc_open(a.so, err, sizeof err);
  if (!m) return fprintf(stderr, "sample_text: %s\n", err), 1;
  int status = 1;
  if (gradc_load(m, a.weights) != 0) fprintf(stderr, "sample_text: %s\n", gradc_error(m));
  else status = generate(m, &a, chars, vocab);
  gradc_close(m);
  return status;
}
