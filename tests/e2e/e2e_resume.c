/* e2e_resume.c — `gradc train` checkpoints end to end: `--resume` continues a run bit
 * for bit (momentum buffers, data order, step, hyperparameters from the file), mid-epoch
 * too; the checkpoint is plain safetensors that --load, eval and compile --weights take;
 * a resume of another run (data, batch, model, frozen parameters, seed) is refused;
 * `--steps 0 -o` needs no data; `train` without -o says that nothing is saved; `train
 * --freeze`; a model with dropout resumes its masks (csv10_dropout.grad).
 *
 * The model is tests/e2e/models/csv10.grad with -D N=4 (3 features, 10 classes): 18
 * rows make 4 steps an epoch and drop 2 rows, so the shuffle decides every batch. */
#define _DEFAULT_SOURCE /* strndup */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define CSV10 E2E_MODELS_DIR "/csv10.grad"

/* n rows for csv10: 3 features, a label 0..9 (an LCG, so that they differ). */
static char *rows(const char *dir, const char *name, int n, unsigned seed) {
  char *text = calloc((size_t)n * 64 + 1, 1);
  for (int i = 0; i < n; i++) {
    double f[3];
    for (int k = 0; k < 3; k++) seed = seed * 1103515245u + 12345u, f[k] = (double)(seed >> 16 & 1023) / 256 - 2;
    sprintf(text + strlen(text), "%g,%g,%g,%d\n", f[0], f[1], f[2], (int)(seed >> 8) % 10);
  }
  char *path = e2e_fmt("%s/%s", dir, name);
  cr_assert(e2e_write(path, text), "cannot write %s", path);
  free(text);
  return path;
}

/* gradc train MODEL -D N=4 ARGS...; asserts the exit status. */
static e2e_result train_model(const char *model, int status, const char *const *args) {
  const char *argv[40] = {"train", model, "-D", "N=4"};
  int n = 4;
  for (; args[n - 4]; n++) argv[n] = args[n - 4];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  cr_assert_eq(r.status, status, "train: %s", e2e_describe(&r));
  return r;
}

/* gradc train csv10 -D N=4 ARGS...; asserts the exit status. */
static e2e_result train(int status, const char *const *args) { return train_model(CSV10, status, args); }


/* The line of s that starts with prefix (malloc'd), or NULL. */
static char *line_with(const char *s, const char *prefix) {
  for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, prefix, strlen(prefix))) return strndup(l, strcspn(l, "\n"));
  return NULL;
}

typedef struct {
  char *dir, *data, *val;
} Fixture;

static Fixture fixture(const char *tag) {
  Fixture f = {e2e_tmpdir(tag), NULL, NULL};
  f.data = rows(f.dir, "train.csv", 18, 1);
  f.val = rows(f.dir, "val.csv", 10, 2);
  return f;
}

static void done(Fixture *f) {
  free(f->data), free(f->val);
  e2e_rmdir(f->dir);
  free(f->dir);
}

Test(resume, continues_bit_for_bit, .timeout = 90) {
  Fixture f = fixture("resume");
  char *a = e2e_fmt("%s/a.st", f.dir), *b = e2e_fmt("%s/b.st", f.dir), *c = e2e_fmt("%s/c.st", f.dir),
       *m = e2e_fmt("%s/m.st", f.dir), *m2 = e2e_fmt("%s/m2.st", f.dir), *l = e2e_fmt("%s/l.st", f.dir);
  const char *hyper[] = {"--momentum", "0.9", "--lr", "0.1", "--seed", "3"};
#define H hyper[0], hyper[1], hyper[2], hyper[3], hyper[4], hyper[5]
  e2e_result ra = train(0, (const char *[]){"--data", f.data, "--val", f.val, "--epochs", "1", H, "-o", a, NULL});
  /* The hyperparameters and the seed come from the checkpoint; --epochs is the total. */
  e2e_result rb = train(0, (const char *[]){"--data", f.data, "--val", f.val, "--epochs", "2", "--resume", a, "-o", b,
                                            NULL});
  e2e_result rc = train(0, (const char *[]){"--data", f.data, "--val", f.val, "--epochs", "2", H, "-o", c, NULL});
  cr_expect(e2e_same_file(b, c), "train --epochs 1 then --resume --epochs 2 differs from train --epochs 2");
  char *eb = line_with(rb.out, "epoch   2/2"), *ec = line_with(rc.out, "epoch   2/2");
  cr_assert(eb && ec, "no epoch 2 line:\n%s\n%s", rb.out, rc.out);
  cr_expect_str_eq(eb, ec, "the resumed epoch 2 reports other numbers");
  cr_expect(!line_with(rb.out, "epoch   1/"), "the resumed run trained epoch 1 again:\n%s", rb.out);
  /* The validation loss is over all 10 rows (not batches of 4): eval's. */
  e2e_result ev;
  e2e_gradc(&ev, "eval", CSV10, "--weights", c, "--data", f.val, NULL);
  char *el = line_with(ev.out, "loss ");
  cr_assert(el && strstr(ec, el + 5), "eval's %s is not the last epoch's val loss: %s", el, ec);
  free(el);
  e2e_free(&ev);
  /* Stopped in the middle of an epoch (--steps 3 of 4), resumed: the same again. */
  e2e_result rm = train(0, (const char *[]){"--data", f.data, "--steps", "3", H, "-o", m, NULL});
  e2e_result rm2 = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "--resume", m, "-o", m2, NULL});
  cr_expect(e2e_same_file(m2, c), "a run resumed mid-epoch differs from the uninterrupted run");
  /* What --load gave before: the weights alone, the shuffle from the start, no momentum. */
  e2e_result rl = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "--load", a, H, "-o", l, NULL});
  e2e_result rl2 = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "--resume", l, "-o", l, NULL});
  cr_expect(!e2e_same_file(l, c), "--load continued the run too: the test cannot tell resuming from restarting");
  e2e_free(&ra), e2e_free(&rb), e2e_free(&rc), e2e_free(&rm), e2e_free(&rm2), e2e_free(&rl), e2e_free(&rl2);
  free(eb), free(ec), free(a), free(b), free(c), free(m), free(m2), free(l);
  done(&f);
}

/* The header of a safetensors file (malloc'd JSON), after checking that its tensors tile
 * the data section. */
static cJSON *header_of(const char *path) {
  size_t n;
  unsigned char *bytes = (unsigned char *)e2e_read(path, &n);
  cr_assert(bytes && n >= 8, "cannot read %s", path);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | bytes[i];
  cr_assert_leq(hl, n - 8);
  cJSON *h = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)hl);
  cr_assert(cJSON_IsObject(h), "%s: the header is not JSON", path);
  double total = 0;
  for (cJSON *t = h->child; t; t = t->next) {
    if (!strcmp(t->string, "__metadata__")) continue;
    cr_assert_str_eq(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32", "%s", t->string);
    cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    total += cJSON_GetArrayItem(o, 1)->valuedouble - cJSON_GetArrayItem(o, 0)->valuedouble;
  }
  cr_assert_eq(total, (double)(n - 8 - hl), "%s: the tensors do not cover the data", path);
  free(bytes);
  return h;
}

/* The values of tensor name in a safetensors file (malloc'd), their count in *n. */
static float *tensor_of(const char *path, const char *name, size_t *n) {
  size_t size;
  unsigned char *bytes = (unsigned char *)e2e_read(path, &size);
  cJSON *h = header_of(path);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | bytes[i];
  cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(h, name), "data_offsets");
  cr_assert(o, "%s: no tensor %s", path, name);
  size_t begin = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, end = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
  float *v = malloc(end - begin);
  memcpy(v, bytes + 8 + hl + begin, end - begin);
  *n = (end - begin) / 4;
  cJSON_Delete(h);
  free(bytes);
  return v;
}

static const char *meta(const cJSON *h, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "__metadata__"), key);
  cr_assert(cJSON_IsString(v), "__metadata__.%s is not a string", key);
  return v->valuestring;
}

Test(resume, checkpoint_is_plain_safetensors, .timeout = 90) {
  Fixture f = fixture("ckfile");
  char *a = e2e_fmt("%s/a.st", f.dir), *so = e2e_fmt("%s/a.so", f.dir);
  e2e_result r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "--momentum", "0.5", "-o", a, NULL});
  e2e_free(&r);
  cJSON *h = header_of(a);
  cr_expect_eq(cJSON_GetArraySize(h), 5, "__metadata__, w, b, w.momentum, b.momentum");
  cr_expect(cJSON_GetObjectItem(h, "w.momentum") && cJSON_GetObjectItem(h, "b.momentum"), "no momentum buffers");
  cr_expect_str_eq(meta(h, "model"), "csv10");
  cr_expect_str_eq(meta(h, "gradc_step"), "4");
  cr_expect_str_eq(meta(h, "gradc_epoch"), "1");
  cr_expect_str_eq(meta(h, "gradc_seed"), "0");
  cr_expect_str_eq(meta(h, "gradc_rows"), "18");
  cr_expect_str_eq(meta(h, "gradc_batch"), "4");
  cr_expect_str_eq(meta(h, "gradc_momentum"), "0.5");
  cr_expect_eq(strlen(meta(h, "gradc_rng")), 16);
  cJSON_Delete(h);
  /* Every reader of weights takes it (the parameters only). */
  e2e_gradc(&r, "eval", CSV10, "--weights", a, "--data", f.val, NULL);
  cr_expect_eq(r.status, 0, "eval: %s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "run", CSV10, "--load", a, NULL);
  cr_expect_eq(r.status, 0, "run --load: %s", e2e_describe(&r));
  e2e_free(&r);
  e2e_gradc(&r, "compile", CSV10, "--weights", a, "-o", so, NULL);
  cr_expect_eq(r.status, 0, "compile --weights: %s", e2e_describe(&r));
  e2e_free(&r);
  free(a), free(so);
  done(&f);
}

/* Exit status and words of a refused --resume. */
static void refused(int status, const char *const *args, const char *w1, const char *w2) {
  e2e_result r = train(status, args);
  cr_expect(strstr(r.err, w1) && strstr(r.err, w2), "expected '%s' and '%s' in:\n%s", w1, w2, r.err);
  cr_expect(!strstr(r.out, "epoch"), "trained anyway:\n%s", r.out);
  e2e_free(&r);
}

Test(resume, another_run_is_refused, .timeout = 90) {
  Fixture f = fixture("refuse");
  char *a = e2e_fmt("%s/a.st", f.dir), *fewer = rows(f.dir, "fewer.csv", 17, 1), *other = rows(f.dir, "o.csv", 18, 5);
  e2e_result r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "--momentum", "0.9", "--seed", "3", "-o",
                                           a, NULL});
  e2e_free(&r);
  refused(1, (const char *[]){"--data", fewer, "--resume", a, NULL}, "18 rows", "17 rows");
  refused(1, (const char *[]){"--data", other, "--resume", a, NULL}, "other values", "--load");
  refused(1, (const char *[]){"-D", "N=2", "--data", f.data, "--resume", a, NULL}, "batches of 4", "batches of 2");
  refused(1, (const char *[]){"--data", f.data, "--resume", a, "--freeze", "b", NULL}, "'b.momentum'", "frozen");
  refused(2, (const char *[]){"--data", f.data, "--resume", a, "--seed", "4", NULL}, "seed 3", "--load");
  refused(2, (const char *[]){"--data", f.data, "--resume", a, "--load", a, NULL}, "--load", "--resume");
  /* Another model with the same parameters. */
  char *src = e2e_read(CSV10, NULL), *at = strstr(src, "model csv10");
  cr_assert(at);
  memcpy(at, "model csv11", 11);
  char *model11 = e2e_fmt("%s/csv11.grad", f.dir);
  cr_assert(e2e_write(model11, src));
  e2e_gradc(&r, "train", model11, "-D", "N=4", "--data", f.data, "--resume", a, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "'csv10'") && strstr(r.err, "--load"), "%s", r.err);
  e2e_free(&r);
  /* A weights file from elsewhere (no step, no data order): --load, not --resume. */
  char *plain = e2e_fmt("%s/plain.st", f.dir);
  const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,10],\"data_offsets\":[0,120]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[120,160]}}";
  size_t hl = (strlen(h) + 7) / 8 * 8;
  char *bytes = calloc(8 + hl + 160, 1);
  for (int i = 0; i < 8; i++) bytes[i] = (char)(hl >> (8 * i) & 255);
  memset(bytes + 8, ' ', hl);
  memcpy(bytes + 8, h, strlen(h));
  FILE *fp = fopen(plain, "wb");
  cr_assert(fp && fwrite(bytes, 1, 8 + hl + 160, fp) == 8 + hl + 160);
  fclose(fp);
  refused(1, (const char *[]){"--data", f.data, "--resume", plain, NULL}, "not a training checkpoint", "--load");
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "--load", plain, NULL});
  e2e_free(&r);
  free(a), free(fewer), free(other), free(src), free(model11), free(plain), free(bytes);
  done(&f);
}

/* --epochs counts from the start of the run: a checkpoint already there trains no more;
 * a hyperparameter given anew is used, and said. */
Test(resume, epochs_is_the_total, .timeout = 60) {
  Fixture f = fixture("total");
  char *a = e2e_fmt("%s/a.st", f.dir), *b = e2e_fmt("%s/b.st", f.dir);
  e2e_result r = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "-o", a, NULL});
  e2e_free(&r);
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "--resume", a, "-o", b, NULL});
  cr_expect(!strstr(r.out, "epoch"), "trained past --epochs 2:\n%s", r.out);
  cr_expect(strstr(r.err, "8 steps") && strstr(r.err, "no more"), "%s", r.err);
  e2e_free(&r);
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "3", "--resume", a, "--lr", "0.5", NULL});
  char *third = line_with(r.out, "epoch   3/3"), *second = line_with(r.out, "epoch   2/");
  cr_expect(third && !second, "%s", r.out);
  free(third), free(second);
  cr_expect(strstr(r.err, "--lr 0.5 replaces the checkpoint's 0.01"), "%s", r.err);
  e2e_free(&r);
  /* Without momentum there is no state to mismatch: the metadata says what was frozen. */
  refused(1, (const char *[]){"--data", f.data, "--epochs", "3", "--resume", a, "--freeze", "b", NULL},
          "froze nothing, this run freezes b", "--freeze");
  free(a), free(b);
  done(&f);
}

/* `--steps 0 -o` writes the initial weights without data; a run resumed from them is
 * the run from scratch. */
Test(resume, steps_zero_needs_no_data, .timeout = 60) {
  Fixture f = fixture("init");
  char *i = e2e_fmt("%s/i.st", f.dir), *a = e2e_fmt("%s/a.st", f.dir), *c = e2e_fmt("%s/c.st", f.dir);
  e2e_result r = train(0, (const char *[]){"--steps", "0", "--seed", "3", "-o", i, NULL});
  cr_expect(strstr(r.err, "saved"), "%s", r.err);
  e2e_free(&r);
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "--resume", i, "--momentum", "0.9", "-o", a, NULL});
  e2e_free(&r);
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "2", "--seed", "3", "--momentum", "0.9", "-o", c, NULL});
  e2e_free(&r);
  cr_expect(e2e_same_file(a, c), "a run resumed from --steps 0 differs from the run from scratch");
  r = train(2, (const char *[]){"--epochs", "1", NULL}); /* other runs still need data */
  cr_expect(strstr(r.err, "usage"), "%s", r.err);
  e2e_free(&r);
  free(i), free(a), free(c);
  done(&f);
}

/* Without -o: a note that nothing will be saved, and how to save. */
Test(resume, without_o_says_nothing_is_saved, .timeout = 60) {
  Fixture f = fixture("noout");
  char *a = e2e_fmt("%s/a.st", f.dir);
  e2e_result r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", NULL});
  cr_expect(strstr(r.err, "not be saved") && strstr(r.err, "-o"), "no note that nothing is saved:\n%s", r.err);
  e2e_free(&r);
  r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "-o", a, NULL});
  cr_expect(!strstr(r.err, "not be saved") && strstr(r.err, "saved"), "%s", r.err);
  e2e_free(&r);
  free(a);
  done(&f);
}

/* train --freeze b: b keeps its initial value, w learns, the checkpoint says so. */
Test(resume, train_freeze, .timeout = 60) {
  Fixture f = fixture("freeze");
  char *a = e2e_fmt("%s/a.st", f.dir), *i = e2e_fmt("%s/i.st", f.dir);
  e2e_result r = train(0, (const char *[]){"--data", f.data, "--epochs", "1", "--freeze", "b", "--momentum", "0.9",
                                           "-o", a, NULL});
  e2e_free(&r);
  r = train(0, (const char *[]){"--steps", "0", "-o", i, NULL});
  e2e_free(&r);
  cJSON *h = header_of(a);
  cr_expect_str_eq(meta(h, "gradc_frozen"), "b");
  cr_expect(cJSON_GetObjectItem(h, "w.momentum") && !cJSON_GetObjectItem(h, "b.momentum"), "momentum of a frozen b");
  cJSON_Delete(h);
  size_t nb, nbi, nw, nwi;
  float *b = tensor_of(a, "b", &nb), *bi = tensor_of(i, "b", &nbi), *w = tensor_of(a, "w", &nw),
        *wi = tensor_of(i, "w", &nwi);
  cr_expect(nb == 10 && nbi == 10 && !memcmp(b, bi, 40), "the frozen b changed");
  cr_expect(nw == 30 && nwi == 30 && memcmp(w, wi, 120), "w did not learn");
  free(b), free(bi), free(w), free(wi), free(a), free(i);
  e2e_gradc(&r, "train", CSV10, "--data", f.data, "--freeze", "bb", NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  cr_expect(strstr(r.err, "'bb'") && strstr(r.err, "did you mean 'b'"), "%s", r.err);
  e2e_free(&r);
  done(&f);
}

/* ---- dropout and modes (issue 15) ----
 * A model with dropout: its masks come from the run's seed and step count, which the
 * checkpoint keeps, so a resumed run is the uninterrupted one bit for bit. */
static void train_dropout(const char *const *args) {
  const char *argv[40] = {"train", E2E_MODELS_DIR "/csv10_dropout.grad", "-D", "N=4"};
  int n = 4;
  for (; args[n - 4]; n++) argv[n] = args[n - 4];
  argv[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, argv);
  cr_assert_eq(r.status, 0, "train: %s", e2e_describe(&r));
  e2e_free(&r);
}

Test(resume, dropout_masks_continue, .timeout = 90) {
  Fixture f = fixture("resume_dropout");
  char *a = e2e_fmt("%s/a.st", f.dir), *b = e2e_fmt("%s/b.st", f.dir), *c = e2e_fmt("%s/c.st", f.dir),
       *d = e2e_fmt("%s/d.st", f.dir);
  train_dropout((const char *[]){"--data", f.data, "--epochs", "1", "--lr", "0.5", "--seed", "3", "-o", a, NULL});
  train_dropout((const char *[]){"--data", f.data, "--epochs", "2", "--resume", a, "-o", b, NULL});
  train_dropout((const char *[]){"--data", f.data, "--epochs", "2", "--lr", "0.5", "--seed", "3", "-o", c, NULL});
  cr_expect(e2e_same_file(b, c), "a resumed run with dropout differs from the uninterrupted one");
  /* another seed: other initial weights, data order and masks */
  train_dropout((const char *[]){"--data", f.data, "--epochs", "2", "--lr", "0.5", "--seed", "4", "-o", d, NULL});
  cr_expect(!e2e_same_file(d, c), "seeds 3 and 4 trained the same weights");
  free(a), free(b), free(c), free(d);
  done(&f);
}

/* ---- batch norm and buffers (issue 15) ----
 * A model with batch_norm: its running statistics (buffers rm, rv) are saved in the
 * checkpoint, changed by training, and a resumed run continues them bit for bit. */
Test(resume, keeps_running_statistics, .timeout = 90) {
  Fixture f = fixture("resume_bn");
  const char *model = E2E_MODELS_DIR "/csv10_bn.grad";
  char *a = e2e_fmt("%s/a.st", f.dir), *b = e2e_fmt("%s/b.st", f.dir), *c = e2e_fmt("%s/c.st", f.dir);
  e2e_result ra = train_model(model, 0, (const char *[]){"--data", f.data, "--epochs", "1", "--seed", "5", "-o", a, NULL});
  e2e_result rb = train_model(model, 0, (const char *[]){"--data", f.data, "--epochs", "2", "--resume", a, "-o", b, NULL});
  e2e_result rc = train_model(model, 0, (const char *[]){"--data", f.data, "--epochs", "2", "--seed", "5", "-o", c, NULL});
  cr_expect(e2e_same_file(b, c), "a resumed run with batch norm differs from the uninterrupted one");
  size_t nm = 0, nv = 0;
  float *rm = tensor_of(a, "rm", &nm), *rv = tensor_of(a, "rv", &nv);
  cr_assert(rm && rv && nm == 8 && nv == 8, "the checkpoint lacks the running statistics");
  int moved = 0;
  for (int i = 0; i < 8; i++) moved += rm[i] != 0.0f && rv[i] != 1.0f;
  cr_expect(moved > 0, "training left the running statistics at their initial values");
  cJSON *h = header_of(a);
  cr_expect_str_eq(meta(h, "gradc_frozen"), "", "buffers are not frozen parameters");
  cr_expect(!cJSON_GetObjectItem(h, "rm.momentum"), "a buffer has optimizer state");
  cJSON_Delete(h);
  free(rm), free(rv);
  e2e_free(&ra), e2e_free(&rb), e2e_free(&rc);
  free(a), free(b), free(c);
  done(&f);
}
