/* e2e_train.c — `gradc train` and `gradc eval` end to end (docs/CLI.md, "gradc train"
 * and "gradc eval"; docs/FORMATS.md):
 * the per-epoch lines, reproducibility under --seed, the saved safetensors file read
 * back by a small independent reader, eval reproducing the last validation numbers,
 * `gradc run --load`, --steps 0, momentum and weight decay, the dropped short batch,
 * the NaN/infinity guard, and the progress bar only on a terminal (the CSV errors are
 * e2e_csv.c).
 *
 * Data: small slices of models/data/digits_train.csv written to a temporary
 * directory. The tests of things that do not depend on the model (the dropped batch,
 * momentum and weight decay, the progress bar) use tests/e2e/models/csv10.grad
 * (3 features and a label among 10 classes, batch 2), which compiles much faster. */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#define _DEFAULT_SOURCE   /* strndup, mkstemp */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "e2e_util.h"

extern char **environ;

#define DIGITS GRADC_SOURCE_DIR "/models/digits.grad"
#define DIGITS_CSV GRADC_SOURCE_DIR "/models/data/digits_train.csv"
#define CSV10 E2E_MODELS_DIR "/csv10.grad"
#define NANGRAD E2E_MODELS_DIR "/nan_grad.grad"
#define INFLOSS E2E_MODELS_DIR "/inf_loss.grad"

/* ---- data ---- */

/* Writes rows [first, first + n) of the shipped training set to dir/name. */
static char *digits_rows(const char *dir, const char *name, int first, int n) {
  char *all = e2e_read(DIGITS_CSV, NULL);
  cr_assert(all, "cannot read %s", DIGITS_CSV);
  const char *p = all;
  for (int i = 0; i < first && p; i++) p = strchr(p, '\n'), p = p ? p + 1 : NULL;
  cr_assert(p, "%s has fewer than %d rows", DIGITS_CSV, first);
  const char *e = p;
  for (int i = 0; i < n; i++) {
    e = strchr(e, '\n');
    cr_assert(e, "%s has fewer than %d rows", DIGITS_CSV, first + n);
    e++;
  }
  char *path = e2e_fmt("%s/%s", dir, name);
  char *text = strndup(p, (size_t)(e - p));
  cr_assert(e2e_write(path, text), "cannot write %s", path);
  free(text);
  free(all);
  return path;
}

/* ---- output parsing ---- */

/* The line of s (malloc'd, without newline) that starts with prefix, the k-th (0-based). */
static char *line_with(const char *s, const char *prefix, int k) {
  for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, prefix, strlen(prefix)) && k-- == 0) return strndup(l, strcspn(l, "\n"));
  return NULL;
}

/* The line of s (malloc'd) that contains word, or NULL. */
static char *line_containing(const char *s, const char *word) {
  for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
    size_t n = strcspn(l, "\n");
    char *line = strndup(l, n);
    if (strstr(line, word)) return line;
    free(line);
  }
  return NULL;
}

/* The text token that follows key in line (malloc'd), e.g. "2.345678" after "val loss ". */
static char *token_after(const char *line, const char *key) {
  const char *p = strstr(line, key);
  if (!p) return NULL;
  p += strlen(key);
  while (*p == ' ') p++;
  return strndup(p, strcspn(p, " %\n"));
}

typedef struct {
  int epoch, epochs;
  double train_loss, val_loss, val_acc;
  char val_loss_text[64];
} epoch_line;

/* Parses "epoch E/N ... train loss L ... val loss V ... val accuracy A%". */
static epoch_line parse_epoch(const char *line) {
  epoch_line e = {0};
  cr_assert_eq(sscanf(line, "epoch %d/%d", &e.epoch, &e.epochs), 2, "not an epoch line: '%s'", line);
  char *tl = token_after(line, "train loss"), *vl = token_after(line, "val loss"),
       *va = token_after(line, "val accuracy");
  cr_assert(tl && vl && va, "an epoch line without train loss, val loss and val accuracy: '%s'", line);
  char *end;
  e.train_loss = strtod(tl, &end);
  cr_assert(end != tl && !*end, "train loss '%s' is not a number: '%s'", tl, line);
  e.val_loss = strtod(vl, &end);
  cr_assert(end != vl && !*end, "val loss '%s' is not a number: '%s'", vl, line);
  e.val_acc = strtod(va, &end);
  cr_assert(end != va && !*end, "val accuracy '%s' is not a number: '%s'", va, line);
  cr_assert(strstr(line, "val accuracy") && strchr(strstr(line, "val accuracy"), '%'), "accuracy without %%: '%s'", line);
  snprintf(e.val_loss_text, sizeof e.val_loss_text, "%s", vl);
  free(tl), free(vl), free(va);
  return e;
}

/* "step K loss L" lines of --log-steps: the loss of step k (1-based) as text. */
static char *step_loss(const char *out, int k) {
  char *key = e2e_fmt("step %d loss", k);
  char *line = line_with(out, key, 0);
  cr_assert(line, "no '%s' line in:\n%s", key, out);
  char *v = token_after(line, key);
  free(line), free(key);
  return v;
}

/* ---- an independent safetensors reader ---- */

typedef struct {
  unsigned char *bytes;
  size_t size, hlen;
  cJSON *header;
  const unsigned char *data; /* the data section */
  size_t data_len;
} st_file;

static st_file st_open(const char *path) {
  st_file f = {0};
  f.bytes = (unsigned char *)e2e_read(path, &f.size);
  cr_assert(f.bytes, "cannot read %s", path);
  cr_assert_geq(f.size, 8, "%s: %zu bytes, no room for the header length", path, f.size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | f.bytes[i];
  cr_assert_leq(n, f.size - 8, "%s: header length %llu beyond the file (%zu bytes)", path, (unsigned long long)n,
                f.size);
  f.hlen = (size_t)n;
  f.header = cJSON_ParseWithLength((const char *)f.bytes + 8, f.hlen);
  cr_assert(f.header && cJSON_IsObject(f.header), "%s: the header is not a JSON object", path);
  f.data = f.bytes + 8 + f.hlen;
  f.data_len = f.size - 8 - f.hlen;
  return f;
}

static void st_close(st_file *f) {
  cJSON_Delete(f->header);
  free(f->bytes);
}

/* The values of tensor name, after checking its dtype, shape and byte range (malloc'd). */
static float *st_tensor(const st_file *f, const char *name, const long long *shape, int rank) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name);
  cr_assert(cJSON_IsObject(t), "no tensor '%s' in the header", name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  cr_assert(cJSON_IsString(dt) && !strcmp(dt->valuestring, "F32"), "tensor '%s': dtype is not \"F32\"", name);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "shape");
  cr_assert(cJSON_IsArray(s) && cJSON_GetArraySize(s) == rank, "tensor '%s': not of rank %d", name, rank);
  long long count = 1;
  for (int i = 0; i < rank; i++) {
    const cJSON *d = cJSON_GetArrayItem(s, i);
    cr_assert(cJSON_IsNumber(d) && d->valuedouble == (double)shape[i], "tensor '%s': shape[%d] is not %lld", name, i,
              shape[i]);
    count *= shape[i];
  }
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  cr_assert(cJSON_IsArray(o) && cJSON_GetArraySize(o) == 2, "tensor '%s': data_offsets is not a pair", name);
  double b = cJSON_GetArrayItem(o, 0)->valuedouble, e = cJSON_GetArrayItem(o, 1)->valuedouble;
  cr_assert(b >= 0 && b <= e && e <= (double)f->data_len, "tensor '%s': data_offsets [%g, %g] outside %zu bytes",
            name, b, e, f->data_len);
  cr_assert_eq(e - b, (double)(count * 4), "tensor '%s': %g bytes for %lld floats", name, e - b, count);
  float *v = malloc((size_t)count * sizeof *v);
  memcpy(v, f->data + (size_t)b, (size_t)count * sizeof *v); /* little-endian host */
  return v;
}

static const char *DIGITS_PARAMS[4] = {"w1", "b1", "w2", "b2"};
static const long long DIGITS_SHAPES[4][2] = {{64, 32}, {32, 0}, {32, 10}, {10, 0}};
static const int DIGITS_RANKS[4] = {2, 1, 2, 1};
static const int DIGITS_COUNTS[4] = {64 * 32, 32, 32 * 10, 10};

/* Checks a digits weights file completely: metadata, exactly the four parameters, their
 * dtype, shapes and byte ranges (disjoint, covering the data section); returns the
 * values of each in v[4] (malloc'd). */
static void check_digits_file(const char *path, float *v[4]) {
  st_file f = st_open(path);
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f.header, "__metadata__");
  cr_assert(cJSON_IsObject(meta), "%s: no __metadata__ object", path);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(meta, "model");
  cr_assert(cJSON_IsString(model) && !strcmp(model->valuestring, "digits"), "%s: __metadata__.model is not \"digits\"",
            path);
  cr_assert_eq(cJSON_GetArraySize(f.header), 5, "%s: expected __metadata__ and 4 tensors", path);
  size_t total = 0;
  double lo[4], hi[4];
  for (int i = 0; i < 4; i++) {
    v[i] = st_tensor(&f, DIGITS_PARAMS[i], DIGITS_SHAPES[i], DIGITS_RANKS[i]);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f.header, DIGITS_PARAMS[i]),
                                                      "data_offsets");
    lo[i] = cJSON_GetArrayItem(o, 0)->valuedouble, hi[i] = cJSON_GetArrayItem(o, 1)->valuedouble;
    total += (size_t)(hi[i] - lo[i]);
    for (int k = 0; k < DIGITS_COUNTS[i]; k++) cr_assert(isfinite(v[i][k]), "%s[%d] is not finite", DIGITS_PARAMS[i], k);
  }
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      cr_assert(hi[i] <= lo[j] || hi[j] <= lo[i], "%s and %s overlap", DIGITS_PARAMS[i], DIGITS_PARAMS[j]);
  cr_assert_eq(total, f.data_len, "the tensors cover %zu of the %zu data bytes", total, f.data_len);
  st_close(&f);
}

static void free4(float *v[4]) {
  for (int i = 0; i < 4; i++) free(v[i]);
}


/* ---- gradc train on digits ---- */

static e2e_result train(const char *const *args) {
  const char *argv[64] = {"train", DIGITS};
  int n = 2;
  for (; args[n - 2]; n++) argv[n] = args[n - 2];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  return r;
}

Test(train, epoch_lines_reproducible_and_saved, .timeout = 60) {
  char *dir = e2e_tmpdir("train");
  char *data = digits_rows(dir, "train.csv", 0, 200), *val = digits_rows(dir, "val.csv", 200, 32);
  char *wa = e2e_fmt("%s/a.safetensors", dir), *wb = e2e_fmt("%s/b.safetensors", dir),
       *wc = e2e_fmt("%s/c.safetensors", dir);
  e2e_result a = train((const char *[]){"--data", data, "--val", val, "--epochs", "3", "--lr", "0.1", "--seed", "7",
                                        "-o", wa, NULL});
  cr_assert_eq(a.status, 0, "%s", e2e_describe(&a));
  /* One line per epoch, nothing else on stdout. */
  cr_assert_eq(e2e_count_lines(a.out, "epoch"), 3, "expected 3 epoch lines:\n%s", a.out);
  cr_assert_eq(e2e_count_lines(a.out, ""), 3, "stdout holds more than the epoch lines:\n%s", a.out);
  epoch_line ep[3];
  for (int i = 0; i < 3; i++) {
    char *l = line_with(a.out, "epoch", i);
    ep[i] = parse_epoch(l);
    cr_expect_eq(ep[i].epoch, i + 1, "'%s'", l);
    cr_expect_eq(ep[i].epochs, 3, "'%s'", l);
    cr_expect(isfinite(ep[i].train_loss) && ep[i].train_loss > 0, "'%s'", l);
    cr_expect(isfinite(ep[i].val_loss) && ep[i].val_loss > 0, "'%s'", l);
    cr_expect(ep[i].val_acc >= 0 && ep[i].val_acc <= 100, "'%s'", l);
    free(l);
  }
  /* It learns: at lr 0.1 three epochs on 200 digits lower the loss clearly. */
  cr_expect_lt(ep[2].train_loss, ep[0].train_loss, "the train loss does not fall:\n%s", a.out);
  cr_expect_lt(ep[2].val_loss, ep[0].val_loss, "the val loss does not fall:\n%s", a.out);
  /* The progress bar is for terminals only: none in a captured stderr. */
  cr_expect(!strchr(a.err, '\r') && !strstr(a.err, "epoch 1/3"), "a progress bar on a non-terminal stderr:\n%s",
            a.err);
  /* 200 rows in batches of 32: 6 steps an epoch, the short last batch (8 rows) dropped, and said. */
  char *drop = line_containing(a.err, "drop");
  cr_expect(drop && strstr(drop, "200") && strstr(drop, "32") && strstr(drop, " 8 "),
            "no message giving the counts of the dropped rows:\n%s", a.err);
  free(drop);

  /* The same seed: the same stdout, byte for byte, and the same weights file. */
  e2e_result b = train((const char *[]){"--data", data, "--val", val, "--epochs", "3", "--lr", "0.1", "--seed", "7",
                                        "-o", wb, NULL});
  cr_assert_eq(b.status, 0, "%s", e2e_describe(&b));
  cr_expect_str_eq(a.out, b.out, "the same seed gave different output");
  cr_expect(e2e_same_file(wa, wb), "the same seed saved different weights");

  /* Another seed: other numbers, other weights (without --val, to save a compilation). */
  e2e_result c = train((const char *[]){"--data", data, "--epochs", "3", "--lr", "0.1", "--seed", "8", "-o", wc, NULL});
  cr_assert_eq(c.status, 0, "%s", e2e_describe(&c));
  cr_expect_eq(e2e_count_lines(c.out, "epoch"), 3, "%s", c.out);
  char *a1 = line_with(a.out, "epoch", 0), *c1 = line_with(c.out, "epoch", 0);
  char *ta = token_after(a1, "train loss"), *tc = token_after(c1, "train loss");
  cr_expect_str_neq(ta, tc, "seeds 7 and 8 gave the same first train loss:\n%s\n%s", a.out, c.out);
  free(a1), free(c1), free(ta), free(tc);
  float *va[4], *vc[4];
  check_digits_file(wa, va);
  check_digits_file(wc, vc);
  cr_expect(memcmp(va[0], vc[0], sizeof(float) * 64 * 32), "seeds 7 and 8 saved the same w1");
  free4(va), free4(vc);

  /* eval on the validation file reproduces the last epoch's numbers exactly. */
  e2e_result ev;
  e2e_gradc(&ev, "eval", DIGITS, "--weights", wa, "--data", val, NULL);
  cr_assert_eq(ev.status, 0, "%s", e2e_describe(&ev));
  char *lossl = line_with(ev.out, "loss", 0), *accl = line_with(ev.out, "accuracy", 0);
  cr_assert(lossl && accl, "eval printed no loss or accuracy line:\n%s", ev.out);
  char *loss = token_after(lossl, "loss"), *acc = token_after(accl, "accuracy");
  cr_expect_str_eq(loss, ep[2].val_loss_text, "eval loss %s, last epoch's val loss %s", loss, ep[2].val_loss_text);
  cr_expect_eq(strtod(acc, NULL), ep[2].val_acc, "eval accuracy %s%%, last epoch's val accuracy %g%%", acc,
               ep[2].val_acc);
  cr_expect(strstr(accl, "%"), "accuracy without %%: '%s'", accl);
  free(lossl), free(accl), free(loss), free(acc);
  e2e_free(&a), e2e_free(&b), e2e_free(&c), e2e_free(&ev);
  free(data), free(val), free(wa), free(wb), free(wc);
  e2e_rmdir(dir);
  free(dir);
}

/* csv10 with -D N=4: 4 rows make one step. */
static e2e_result train_csv10_n4(const char *data, const char *const *more) {
  const char *argv[32] = {"train", CSV10, "-D", "N=4", "--data", data};
  int n = 6;
  for (; more && more[n - 6]; n++) argv[n] = more[n - 6];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  return r;
}

/* 10 random-ish rows for csv10: 3 features, a label 0..9. */
static char *csv10_rows(const char *dir, const char *name, int n) {
  char *text = calloc((size_t)n * 64 + 1, 1);
  for (int i = 0; i < n; i++)
    sprintf(text + strlen(text), "%g,%g,%g,%d\n", (double)((i * 7) % 5) - 2, (double)((i * 3) % 7) / 3,
            (double)(i % 4) - 1.5, (i * 3) % 10);
  char *path = e2e_write_file(dir, name, text);
  free(text);
  return path;
}

Test(train, short_last_batch_is_dropped_and_said, .timeout = 30) {
  char *dir = e2e_tmpdir("short");
  /* 10 rows, batches of 4: 2 batches, 2 rows dropped. The message gives the counts. */
  char *ten = csv10_rows(dir, "ten.csv", 10), *eight = csv10_rows(dir, "eight.csv", 8),
       *three = csv10_rows(dir, "three.csv", 3);
  e2e_result r = train_csv10_n4(ten, (const char *[]){"--epochs", "1", "--log-steps", NULL});
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_eq(e2e_count_lines(r.out, "step "), 2, "10 rows in batches of 4 are not 2 steps:\n%s", r.out);
  char *line = line_containing(r.err, "drop");
  cr_assert(line, "no message about the dropped rows:\n%s", r.err);
  cr_expect(strstr(line, "10") && strstr(line, "4") && strstr(line, " 2 "), "the counts are not all given: '%s'",
            line);
  free(line);
  e2e_free(&r);

  /* 8 rows make two whole batches: nothing is dropped, nothing said. */
  r = train_csv10_n4(eight, (const char *[]){"--epochs", "1", "--log-steps", NULL});
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_eq(e2e_count_lines(r.out, "step "), 2, "%s", r.out);
  cr_expect(!strstr(r.err, "drop"), "a drop message for 8 rows in batches of 4:\n%s", r.err);
  e2e_free(&r);

  /* Fewer rows than one batch: an error, not a silent no-op. */
  r = train_csv10_n4(three, (const char *[]){"--epochs", "1", NULL});
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "3") && strstr(r.err, "4"), "%s", r.err);
  e2e_free(&r);
  free(ten), free(eight), free(three);
  e2e_rmdir(dir);
  free(dir);
}

/* Writes each param of a digits weights file as text (%.9g, exact for float) for --set @FILE. */
static char *param_text_file(const char *dir, const char *name, const float *v, int n) {
  char *path = e2e_fmt("%s/%s.txt", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert(f, "cannot write %s", path);
  for (int i = 0; i < n; i++) fprintf(f, "%.9g%c", (double)v[i], i % 8 == 7 ? '\n' : ' ');
  fclose(f);
  return path;
}

static cJSON *run_json(const char *const *args) {
  const char *argv[64] = {"run", DIGITS, "-D", "N=1", "--json"};
  int n = 5;
  for (; args[n - 5]; n++) argv[n] = args[n - 5];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cJSON *j = cJSON_Parse(r.out);
  cr_assert(j, "not JSON:\n%s", r.out);
  e2e_free(&r);
  return j;
}

static const cJSON *tensor_data(const cJSON *j, const char *group, const char *name) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, group), name), "data");
  cr_assert(cJSON_IsArray(d), "no %s.%s.data", group, name);
  return d;
}

static bool same_numbers(const cJSON *a, const cJSON *b) {
  if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
  for (const cJSON *x = a->child, *y = b->child; x; x = x->next, y = y->next)
    if (x->valuedouble != y->valuedouble) return false;
  return true;
}

Test(train, run_load_uses_the_saved_weights, .timeout = 60) {
  char *dir = e2e_tmpdir("load");
  char *data = digits_rows(dir, "train.csv", 0, 64);
  char *w = e2e_fmt("%s/w.safetensors", dir);
  e2e_result r = train((const char *[]){"--data", data, "--epochs", "2", "--lr", "0.1", "-o", w, NULL});
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(e2e_exists(w), "-o did not write %s", w);
  e2e_free(&r);
  float *v[4];
  check_digits_file(w, v);

  /* One sample (row 100 of the shipped set) as x, its label. */
  char *row = digits_rows(dir, "row.csv", 100, 1);
  char *text = e2e_read(row, NULL);
  char *lastc = strrchr(text, ',');
  char *setlabel = e2e_fmt("label=%d", atoi(lastc + 1));
  *lastc = 0;
  char *xfile = e2e_write_file(dir, "x.txt", text);
  char *setx = e2e_fmt("x=@%s", xfile);

  cJSON *loaded = run_json((const char *[]){"--load", w, "--set", setx, "--set", setlabel, NULL});
  /* The params printed are the file's values, exactly (9 significant digits round-trip a float). */
  for (int i = 0; i < 4; i++) {
    const cJSON *d = tensor_data(loaded, "params", DIGITS_PARAMS[i]);
    cr_assert_eq(cJSON_GetArraySize(d), DIGITS_COUNTS[i]);
    int k = 0;
    for (const cJSON *e = d->child; e; e = e->next, k++)
      cr_assert_eq((float)e->valuedouble, v[i][k], "run --load: %s[%d] = %.9g, the file holds %.9g", DIGITS_PARAMS[i],
                   k, e->valuedouble, (double)v[i][k]);
  }
  /* The logits equal those computed with every param given by --set from the file. */
  const char *sets[32] = {"--set", setx, "--set", setlabel};
  char *param_sets[4];
  int ns = 4;
  for (int i = 0; i < 4; i++) {
    char *ptext = param_text_file(dir, DIGITS_PARAMS[i], v[i], DIGITS_COUNTS[i]);
    sets[ns++] = "--set";
    sets[ns++] = param_sets[i] = e2e_fmt("%s=@%s", DIGITS_PARAMS[i], ptext);
    free(ptext);
  }
  sets[ns] = NULL;
  cJSON *byset = run_json(sets);
  cr_expect(same_numbers(tensor_data(loaded, "outputs", "logits"), tensor_data(byset, "outputs", "logits")),
            "run --load and run --set of the same weights give different logits");
  cr_expect_eq(cJSON_GetObjectItemCaseSensitive(loaded, "loss")->valuedouble,
               cJSON_GetObjectItemCaseSensitive(byset, "loss")->valuedouble, "different losses");
  /* Without --load the initial weights give other logits. */
  cJSON *init = run_json((const char *[]){"--set", setx, "--set", setlabel, NULL});
  cr_expect(!same_numbers(tensor_data(loaded, "outputs", "logits"), tensor_data(init, "outputs", "logits")),
            "run without --load gives the trained logits");
  cJSON_Delete(loaded), cJSON_Delete(byset), cJSON_Delete(init);
  free4(v);
  for (int i = 0; i < 4; i++) free(param_sets[i]);
  free(text), free(data), free(w), free(row), free(setlabel), free(xfile), free(setx);
  e2e_rmdir(dir);
  free(dir);
}

Test(train, steps_zero_saves_the_initial_weights, .timeout = 30) {
  char *dir = e2e_tmpdir("init");
  char *data = digits_rows(dir, "train.csv", 0, 64);
  char *w = e2e_fmt("%s/init.safetensors", dir);
  e2e_result r = train((const char *[]){"--data", data, "--steps", "0", "--seed", "5", "-o", w, NULL});
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect_eq(e2e_count_lines(r.out, "epoch"), 0, "--steps 0 trained:\n%s", r.out);
  e2e_free(&r);
  float *v[4];
  check_digits_file(w, v);
  /* The initial weights depend only on the model and the seed: `gradc run --seed 5`
   * initialises the same. */
  cJSON *j = run_json((const char *[]){"--seed", "5", NULL});
  for (int i = 0; i < 4; i++) {
    const cJSON *d = tensor_data(j, "params", DIGITS_PARAMS[i]);
    int k = 0, nonzero = 0;
    for (const cJSON *e = d->child; e; e = e->next, k++) {
      cr_assert_eq((float)e->valuedouble, v[i][k], "init %s[%d] = %.9g, run --seed 5 has %.9g", DIGITS_PARAMS[i], k,
                   (double)v[i][k], e->valuedouble);
      nonzero += v[i][k] != 0;
    }
    if (DIGITS_RANKS[i] == 2) cr_expect_gt(nonzero, DIGITS_COUNTS[i] / 2, "%s is not kaiming-initialised", DIGITS_PARAMS[i]);
    else cr_expect_eq(nonzero, 0, "%s (zeros) is not zero", DIGITS_PARAMS[i]);
  }
  cJSON_Delete(j);
  free4(v);
  free(data), free(w);
  e2e_rmdir(dir);
  free(dir);
}

Test(train, momentum_and_weight_decay_change_the_trajectory, .timeout = 30) {
  char *dir = e2e_tmpdir("optim");
  char *data = csv10_rows(dir, "train.csv", 8);
  const char *steps[] = {"--steps", "4", "--log-steps", "--lr", "0.1", NULL};
  e2e_result p = train_csv10_n4(data, steps);
  cr_assert_eq(p.status, 0, "%s", e2e_describe(&p));
  e2e_result m = train_csv10_n4(data, (const char *[]){"--steps", "4", "--log-steps", "--lr", "0.1", "--momentum",
                                                       "0.9", NULL});
  cr_assert_eq(m.status, 0, "%s", e2e_describe(&m));
  e2e_result d = train_csv10_n4(data, (const char *[]){"--steps", "4", "--log-steps", "--lr", "0.1",
                                                       "--weight-decay", "0.01", NULL});
  cr_assert_eq(d.status, 0, "%s", e2e_describe(&d));
  cr_assert_eq(e2e_count_lines(p.out, "step "), 4, "--steps 4 --log-steps:\n%s", p.out);
  char *p1 = step_loss(p.out, 1), *p2 = step_loss(p.out, 2), *p3 = step_loss(p.out, 3), *p4 = step_loss(p.out, 4);
  char *m1 = step_loss(m.out, 1), *m2 = step_loss(m.out, 2), *m3 = step_loss(m.out, 3), *m4 = step_loss(m.out, 4);
  char *d1 = step_loss(d.out, 1), *d2 = step_loss(d.out, 2), *d4 = step_loss(d.out, 4);
  /* Step 1 is before any update: the same everywhere. */
  cr_expect_str_eq(m1, p1);
  cr_expect_str_eq(d1, p1);
  /* torch.optim.SGD: the momentum buffer starts as the first gradient, so the first
   * update (and the loss of step 2) is plain SGD's; from step 3 on it differs. */
  cr_expect_str_eq(m2, p2, "momentum changed the first update (buf = grad on the first step)");
  cr_expect_str_neq(m3, p3, "--momentum 0.9 did not change step 3:\n%s", m.out);
  cr_expect_str_neq(m4, p4, "--momentum 0.9 did not change step 4:\n%s", m.out);
  /* Weight decay changes the first update already. */
  cr_expect_str_neq(d2, p2, "--weight-decay 0.01 did not change step 2:\n%s", d.out);
  cr_expect_str_neq(d4, p4, "--weight-decay 0.01 did not change step 4:\n%s", d.out);
  free(p1), free(p2), free(p3), free(p4), free(m1), free(m2), free(m3), free(m4), free(d1), free(d2), free(d4);
  e2e_free(&p), e2e_free(&m), e2e_free(&d);
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- the NaN / infinity guard ---- */

static void expect_guard(const char *model, const char *data_text, const char *lr, const char *step,
                         const char *const *words) {
  char *dir = e2e_tmpdir("nan");
  char *data = e2e_write_file(dir, "data.csv", data_text);
  char *w = e2e_fmt("%s/w.safetensors", dir);
  e2e_result r;
  e2e_gradc(&r, "train", model, "--data", data, "--epochs", "2", "--lr", lr, "-o", w, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect_eq(r.signal, 0);
  char *stepword = e2e_fmt("step %s", step);
  cr_expect(strstr(r.err, stepword), "the message does not name %s:\n%s", stepword, r.err);
  bool any = false;
  for (const char *const *wd = words; *wd; wd++) any = any || strstr(r.err, *wd);
  cr_expect(any, "the message names neither the tensor nor the loss (expected one of '%s'...):\n%s", words[0], r.err);
  cr_expect(!e2e_exists(w), "-o was written after a NaN stop");
  cr_expect_eq(e2e_count_entries(dir, NULL, 0), 1, "files left behind next to -o");
  cr_expect(!strstr(r.err, "saved"), "%s", r.err);
  free(stepword), free(data), free(w);
  e2e_free(&r);
  e2e_rmdir(dir);
  free(dir);
}

/* loss = sum(x * w) + sum(sqrt(w)) with w = 0: the loss is finite, d/dw sqrt(w) is not. */
Test(train, nan_guard_names_the_gradient, .timeout = 30) {
  expect_guard(NANGRAD, "1,2\n3,4\n", "0.1", "1", (const char *[]){"'w'", NULL});
}

/* loss = sum(x / w) with w = 0: the loss itself is infinite at the first step. */
Test(train, nan_guard_names_the_loss, .timeout = 30) {
  expect_guard(INFLOSS, "1,2\n3,4\n", "0.1", "1", (const char *[]){"loss", NULL});
}

/* A learning rate of 1e30 on digits: the first update blows up, the second step's loss
 * (or a gradient) is NaN or infinite. */
Test(train, nan_guard_on_digits_huge_lr, .timeout = 30) {
  char *dir = e2e_tmpdir("huge");
  char *data = digits_rows(dir, "train.csv", 0, 64);
  char *text = e2e_read(data, NULL);
  cr_assert(text, "cannot read %s", data);
  free(data);
  e2e_rmdir(dir);
  free(dir);
  expect_guard(DIGITS, text, "1e30", "2", (const char *[]){"loss", "'w1'", "'b1'", "'w2'", "'b2'", NULL});
  free(text);
}

/* ---- the progress bar: on a terminal only ---- */

/* Runs gradc with stdout to a file and stderr to fd (a pipe's or a pty's write end,
 * closed here after the spawn); reads the other end (rfd) until the child is gone. */
static int run_with_stderr(const char *const *args, int wfd, int rfd, char **err, char **out) {
  const char *argv[64] = {GRADC_BIN};
  int n = 1;
  for (; args[n - 1]; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  char *opath = e2e_fmt("%s/tty_out.XXXXXX", E2E_TMP_DIR);
  int ofd = mkstemp(opath);
  cr_assert_geq(ofd, 0);
  unlink(opath);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, ofd, 1);
  posix_spawn_file_actions_adddup2(&fa, wfd, 2);
  posix_spawn_file_actions_addclose(&fa, rfd);
  pid_t pid;
  int rc = posix_spawn(&pid, GRADC_BIN, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  cr_assert_eq(rc, 0, "posix_spawn: %s", strerror(rc));
  close(wfd);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) { /* a pty's master reads EIO once the last slave is closed */
    if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
    ssize_t k = read(rfd, buf + len, cap - len - 1);
    if (k > 0) len += (size_t)k;
    else if (k < 0 && errno == EINTR) continue;
    else break;
  }
  buf[len] = 0;
  close(rfd);
  int ws;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  *err = buf;
  e2e_check_sanitizers(argv, buf);
  size_t olen = (size_t)lseek(ofd, 0, SEEK_END);
  *out = calloc(olen + 1, 1);
  if (pread(ofd, *out, olen, 0) < 0) (*out)[0] = 0;
  close(ofd);
  free(opath);
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

Test(train, progress_bar_only_on_a_terminal, .timeout = 60) {
  char *dir = e2e_tmpdir("tty");
  char *data = csv10_rows(dir, "train.csv", 16); /* 4 steps of 4 an epoch */
  const char *args[] = {"train", CSV10, "-D", "N=4", "--data", data, "--epochs", "2", NULL};
  /* stderr a pseudo-terminal: the bar is drawn (carriage returns, epoch i/E, steps). */
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  cr_assert_geq(master, 0, "posix_openpt: %s", strerror(errno));
  cr_assert(!grantpt(master) && !unlockpt(master), "grantpt/unlockpt: %s", strerror(errno));
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  cr_assert_geq(slave, 0, "open %s: %s", ptsname(master), strerror(errno));
  char *err, *out;
  int st = run_with_stderr(args, slave, master, &err, &out);
  cr_assert_eq(st, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", st, out, err);
  cr_expect(strchr(err, '\r'), "no progress bar on a terminal stderr:\n%s", err);
  cr_expect(strstr(err, "epoch 1/2") && strstr(err, "epoch 2/2"), "the bar does not show the epoch:\n%s", err);
  cr_expect(strstr(err, "4/4"), "the bar does not count the steps (4 per epoch):\n%s", err);
  cr_expect_eq(e2e_count_lines(out, "epoch"), 2, "the epoch lines still go to stdout:\n%s", out);
  cr_expect(!strchr(out, '\r'), "the progress bar leaked into stdout:\n%s", out);
  free(err), free(out);

  /* stderr a pipe: no bar. */
  int p[2];
  cr_assert_eq(pipe(p), 0);
  st = run_with_stderr(args, p[1], p[0], &err, &out);
  cr_assert_eq(st, 0, "exit %d\nstderr:\n%s", st, err);
  cr_expect(!strchr(err, '\r') && !strstr(err, "epoch 1/2") && !strstr(err, "#"), "a progress bar on a pipe:\n%s",
            err);
  cr_expect_eq(e2e_count_lines(out, "epoch"), 2, "%s", out);
  free(err), free(out);
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* -o /dev/null: the weights are written in place and the device stays a device (the
 * atomic rename is for regular files; common/outfile.h). */
Test(train, save_to_dev_null, .timeout = 30) {
  char *dir = e2e_tmpdir("devnull");
  char *data = csv10_rows(dir, "d.csv", 8);
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", data, "--epochs", "1", "-o", "/dev/null", NULL);
  cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  struct stat st;
  cr_expect(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "train -o /dev/null replaced the device");
  free(data);
  e2e_rmdir(dir);
  free(dir);
}

/* eval's mean is over all rows whatever -D sets the batch to (a later -D overrides an
 * earlier one: eval's own -D N=ROWS wins), and so is train's validation loss. */
Test(train, eval_ignores_a_batch_define, .timeout = 60) {
  char *dir = e2e_tmpdir("evald");
  char *data = csv10_rows(dir, "d.csv", 10), *w = e2e_fmt("%s/w.safetensors", dir);
  e2e_result r;
  e2e_gradc(&r, "train", CSV10, "--data", data, "--epochs", "2", "-o", w, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "eval", CSV10, "--weights", w, "--data", data, NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  char *want = strdup(r.out);
  e2e_free(&r);
  const char *batches[] = {"N=3", "N=4", "N=32"};
  for (int i = 0; i < 3; i++) {
    e2e_gradc(&r, "eval", CSV10, "-D", batches[i], "--weights", w, "--data", data, NULL);
    cr_expect_eq(r.status, 0, "%s", e2e_describe(&r));
    cr_expect_str_eq(r.out, want, "eval -D %s differs from eval", batches[i]);
    e2e_free(&r);
  }
  free(want), free(data), free(w);
  e2e_rmdir(dir);
  free(dir);
}
