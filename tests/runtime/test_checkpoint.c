/* tests/runtime/test_checkpoint.c — checkpoints through the runtime, on the fake model
 * (tests/runtime/fake_model.c: params w[4] and b trainable, s[2] frozen):
 * gradc_save_checkpoint / gradc_load_checkpoint carry the momentum buffers, the
 * optimiser settings and the caller's metadata, so that training resumed from a
 * checkpoint continues bit for bit; the file stays plain safetensors (every tensor F32,
 * metadata strings) that gradc_load and gradc_read_safetensors accept; a plain weights
 * file loads as a checkpoint with zeroed state; bad state is refused whole; Adam's and
 * RMSprop's state and step count resume alike, the model taking the checkpoint's rule. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gradc/runtime.h"

#define SCRATCH_TAG "ckpt"
#include "../support/scratch_dir.h"

/* The fake model initialised under seed, with x set. */
static gradc_model *fake_seeded(uint64_t seed) {
  char err[512];
  gradc_model *m = gradc_open(FAKE_SO, err, sizeof err);
  cr_assert_not_null(m, "gradc_open: %s", err);
  cr_assert_eq(gradc_init(m, seed), 0);
  float *x = gradc_tensor(m, "x", NULL);
  x[0] = 1, x[1] = -2, x[2] = 3, x[3] = 0.5f;
  return m;
}

static gradc_model *fake(void) {
  return fake_seeded(3);
}

/* Every param, then every momentum buffer, as bytes: what must be equal bit for bit. */
typedef struct {
  float v[4 + 1 + 2 + 4 + 1];
} state;

static state state_of(gradc_model *m) {
  state s;
  memcpy(s.v, gradc_tensor(m, "w", NULL), 16);
  memcpy(s.v + 4, gradc_tensor(m, "b", NULL), 4);
  memcpy(s.v + 5, gradc_tensor(m, "s", NULL), 8);
  memcpy(s.v + 7, gradc_momentum(m, "w", NULL), 16);
  memcpy(s.v + 11, gradc_momentum(m, "b", NULL), 4);
  return s;
}

static void steps(gradc_model *m, int n) {
  for (int i = 0; i < n; i++) cr_assert_eq(gradc_train_step(m, 0.1f), 0, "%s", gradc_error(m));
}

static const char *keys[] = {"step", "note"};
static const char *values[] = {"2", "resumable"};

Test(checkpoint, resumed_training_equals_uninterrupted, .init = make_dir, .fini = remove_dir) {
  gradc_model *a = fake();
  cr_assert_eq(gradc_set_optimizer(a, 0.9f, 0.01f), 0);
  steps(a, 2);
  cr_assert_eq(gradc_save_checkpoint(a, at("c.st"), keys, values, 2), 0, "%s", gradc_error(a));
  steps(a, 3); /* the uninterrupted run */

  gradc_model *b = fake_seeded(99); /* as a fresh process: other init, default optimiser */
  cr_assert_eq(gradc_load_checkpoint(b, at("c.st")), 0, "%s", gradc_error(b));
  cr_assert_str_eq(gradc_checkpoint_meta(b, "step"), "2");
  cr_assert_str_eq(gradc_checkpoint_meta(b, "note"), "resumable");
  cr_assert_str_eq(gradc_checkpoint_meta(b, "model"), "fake");
  cr_assert_str_eq(gradc_checkpoint_meta(b, GRADC_META_MOMENTUM), "0.899999976");
  cr_assert_null(gradc_checkpoint_meta(b, "absent"));
  steps(b, 3); /* momentum 0.9 and weight decay 0.01 came from the file */
  state sa = state_of(a), sb = state_of(b);
  cr_assert(!memcmp(&sa, &sb, sizeof sa), "resumed training differs from the uninterrupted run");

  /* Without the state (a plain gradc_load), the same three steps end elsewhere. */
  gradc_model *c = fake();
  cr_assert_eq(gradc_set_optimizer(c, 0.9f, 0.01f), 0);
  cr_assert_eq(gradc_load(c, at("c.st")), 0, "%s", gradc_error(c));
  steps(c, 3);
  state sc = state_of(c);
  cr_assert(memcmp(sa.v, sc.v, 16), "momentum made no difference: the test shows nothing");
  gradc_close(a), gradc_close(b), gradc_close(c);
}

/* The file: every tensor F32 under its name, the momentum under NAME.momentum (none for
 * the frozen s), metadata strings; what any safetensors reader opens. */
Test(checkpoint, file_is_plain_safetensors, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake();
  gradc_set_optimizer(m, 0.5f, 0);
  steps(m, 1);
  cr_assert_eq(gradc_save_checkpoint(m, at("c.st"), keys, values, 2), 0, "%s", gradc_error(m));
  FILE *f = fopen(at("c.st"), "rb");
  cr_assert_not_null(f);
  unsigned char len[8];
  cr_assert_eq(fread(len, 1, 8, f), 8);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | len[i];
  char *h = calloc(hl + 1, 1);
  cr_assert_eq(fread(h, 1, hl, f), hl);
  float data[12];
  cr_assert_eq(fread(data, 4, 12, f), 12, "the data section is not 12 floats (w, b, s, w.momentum, b.momentum)");
  cr_assert_eq(fgetc(f), EOF, "bytes after the data");
  fclose(f);
  cJSON *j = cJSON_Parse(h);
  cr_assert_not_null(j);
  cr_assert_eq(cJSON_GetArraySize(j), 6, "__metadata__, w, b, s, w.momentum, b.momentum:\n%s", h);
  const char *names[] = {"w", "b", "s", "w.momentum", "b.momentum"};
  int begin[] = {0, 16, 20, 28, 44};
  for (int i = 0; i < 5; i++) {
    cJSON *t = cJSON_GetObjectItem(j, names[i]);
    cr_assert_not_null(t, "no %s:\n%s", names[i], h);
    cr_assert_str_eq(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32");
    cr_assert_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valueint, begin[i], "%s", names[i]);
  }
  cr_assert(!memcmp(data + 7, gradc_momentum(m, "w", NULL), 16), "w.momentum is not w's buffer");
  cJSON *meta = cJSON_GetObjectItem(j, "__metadata__");
  for (cJSON *v = meta->child; v; v = v->next)
    cr_assert(cJSON_IsString(v), "__metadata__.%s is not a string", v->string);
  cr_assert_str_eq(cJSON_GetObjectItem(meta, "note")->valuestring, "resumable");
  cr_assert_str_eq(cJSON_GetObjectItem(meta, GRADC_META_WEIGHT_DECAY)->valuestring, "0");
  cJSON_Delete(j);
  free(h);

  /* The readers of weights accept it and read the parameters only. */
  gradc_tensor_info want = *gradc_tensor_at(m, 1); /* w */
  cr_assert_str_eq(want.name, "w");
  gradc_tensor_info all[3] = {want, *gradc_tensor_at(m, 2), *gradc_tensor_at(m, 3)};
  float w[4], b[1], s[2];
  float *dst[3] = {w, b, s};
  char err[512];
  cr_assert_eq(gradc_read_safetensors(at("c.st"), all, dst, 3, err, sizeof err), 0, "%s", err);
  cr_assert(!memcmp(w, data, 16));
  gradc_model *p = fake();
  cr_assert_eq(gradc_load(p, at("c.st")), 0, "%s", gradc_error(p));
  cr_assert(!memcmp(gradc_tensor(p, "w", NULL), data, 16));
  cr_assert_eq(gradc_momentum(p, "w", NULL)[0], 0.0f, "gradc_load touched the momentum");
  gradc_close(p), gradc_close(m);
}

/* With momentum 0 there is no buffer to save (torch keeps none); a plain weights file
 * loads as a checkpoint with zeroed buffers and the optimiser settings unchanged. */
Test(checkpoint, no_momentum_no_state, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake();
  steps(m, 1);
  cr_assert_eq(gradc_save_checkpoint(m, at("c.st"), NULL, NULL, 0), 0, "%s", gradc_error(m));
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  gradc_model *p = fake();
  gradc_set_optimizer(p, 0.9f, 0);
  steps(p, 1); /* nonzero buffers, which the loads must clear */
  cr_assert_eq(gradc_load_checkpoint(p, at("w.st")), 0, "%s", gradc_error(p));
  cr_assert_eq(gradc_momentum(p, "w", NULL)[1], 0.0f, "the buffers were not cleared");
  cr_assert_null(gradc_checkpoint_meta(p, GRADC_META_MOMENTUM));
  cr_assert_str_eq(gradc_checkpoint_meta(p, "model"), "fake");
  steps(p, 1);
  cr_assert_eq(gradc_load_checkpoint(p, at("c.st")), 0, "%s", gradc_error(p));
  cr_assert_eq(gradc_momentum(p, "w", NULL)[1], 0.0f, "the buffers were not cleared");
  cr_assert_str_eq(gradc_checkpoint_meta(p, GRADC_META_MOMENTUM), "0");
  cr_assert(!memcmp(gradc_tensor(p, "w", NULL), gradc_tensor(m, "w", NULL), 16));
  gradc_close(p), gradc_close(m);
}

/* Writes a fake-model file with the given extra header entries and data (after w, b, s). */
static void write_file(const char *path, const char *meta, const char *extra, const float *more, int nmore) {
  char h[1024];
  snprintf(h, sizeof h,
           "{\"__metadata__\":{%s},\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
           "\"s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}%s}",
           meta, extra);
  size_t hl = (strlen(h) + 7) / 8 * 8;
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  for (int i = 0; i < 8; i++) fputc((int)((uint64_t)hl >> (8 * i)) & 255, f);
  fprintf(f, "%-*s", (int)hl, h);
  float p[7] = {1, 2, 3, 4, 5, 6, 7};
  fwrite(p, 4, 7, f);
  if (nmore) fwrite(more, 4, (size_t)nmore, f);
  fclose(f);
}

static void expect_refused(const char *path, const char *words) {
  gradc_model *m = fake();
  gradc_set_optimizer(m, 0.25f, 0);
  steps(m, 1);
  state before = state_of(m);
  cr_assert_lt(gradc_load_checkpoint(m, path), 0, "a bad checkpoint loaded");
  cr_assert(strstr(gradc_error(m), words), "'%s' not in: %s", words, gradc_error(m));
  state after = state_of(m);
  cr_assert(!memcmp(&before, &after, sizeof before), "a refused checkpoint changed the model");
  gradc_close(m);
}

Test(checkpoint, bad_state_is_refused_whole, .init = make_dir, .fini = remove_dir) {
  float mom[4] = {9, 9, 9, 9};
  /* s is frozen: it has no optimiser state. */
  write_file(at("frozen.st"), "", ",\"s.momentum\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[28,36]}", mom, 2);
  expect_refused(at("frozen.st"), "frozen");
  /* w's momentum without b's. */
  write_file(at("half.st"), "\"gradc_momentum\":\"0.9\"",
             ",\"w.momentum\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[28,44]}", mom, 4);
  expect_refused(at("half.st"), "missing optimiser state 'b.momentum'");
  /* A momentum recorded, no state. */
  write_file(at("none.st"), "\"gradc_momentum\":\"0.9\"", "", NULL, 0);
  expect_refused(at("none.st"), "missing optimiser state 'w.momentum'");
  /* A state of the wrong shape. */
  write_file(at("shape.st"), "", ",\"w.momentum\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[28,40]}", mom, 3);
  expect_refused(at("shape.st"), "'w.momentum' has shape [3]");
  /* Settings that are not numbers >= 0. */
  write_file(at("neg.st"), "\"gradc_weight_decay\":\"-1\"", "", NULL, 0);
  expect_refused(at("neg.st"), "gradc_weight_decay");
  /* gradc_load ignores the state, whatever it is (the params are fine). */
  gradc_model *m = fake();
  cr_assert_eq(gradc_load(m, at("frozen.st")), 0, "%s", gradc_error(m));
  cr_assert_eq(gradc_load(m, at("half.st")), 0, "%s", gradc_error(m));
  cr_assert_eq(((float *)gradc_tensor(m, "w", NULL))[3], 4.0f);
  gradc_close(m);
}

Test(checkpoint, reserved_and_repeated_keys_are_refused, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake();
  const char *k1[] = {"gradc_crc32"}, *k2[] = {"a", "a"}, *v[] = {"1", "2"};
  cr_assert_lt(gradc_save_checkpoint(m, at("c.st"), k1, v, 1), 0);
  cr_assert(strstr(gradc_error(m), "'gradc_crc32'"), "%s", gradc_error(m));
  cr_assert_lt(gradc_save_checkpoint(m, at("c.st"), k2, v, 2), 0);
  cr_assert(strstr(gradc_error(m), "twice"), "%s", gradc_error(m));
  FILE *f = fopen(at("c.st"), "rb");
  cr_assert_null(f, "a refused checkpoint was written");
  gradc_close(m);
}

/* ---- other rules: Adam's two (three with amsgrad) state tensors, the step count its
 * bias corrections use, the hyper-parameters; the model takes the checkpoint's rule ---- */

static void adam_state(gradc_model *m, float *out) {
  const char *names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  for (int s = 0; s < 3; s++) {
    memcpy(out + 5 * s, gradc_state(m, names[s], "w", NULL), 16);
    memcpy(out + 5 * s + 4, gradc_state(m, names[s], "b", NULL), 4);
  }
}

Test(checkpoint, adam_resumes_bit_for_bit, .init = make_dir, .fini = remove_dir) {
  gradc_model *a = fake();
  cr_assert_eq(gradc_use_optimizer(a, "adam"), 0, "%s", gradc_error(a));
  cr_assert_eq(gradc_set_hyper(a, "amsgrad", 1), 0);
  cr_assert_eq(gradc_set_hyper(a, "beta2", 0.99), 0);
  steps(a, 3);
  cr_assert_eq(gradc_optimizer_steps(a), 3);
  cr_assert_eq(gradc_save_checkpoint(a, at("adam.st"), NULL, NULL, 0), 0, "%s", gradc_error(a));
  steps(a, 4);

  gradc_model *b = fake_seeded(99); /* SGD, as opened */
  cr_assert_str_eq(gradc_optimizer_name(b), "sgd");
  cr_assert_eq(gradc_load_checkpoint(b, at("adam.st")), 0, "%s", gradc_error(b));
  cr_assert_str_eq(gradc_optimizer_name(b), "adam");
  cr_assert_eq(gradc_optimizer_steps(b), 3);
  double v;
  cr_assert_eq(gradc_get_hyper(b, "beta2", &v), 0);
  cr_assert_eq(v, 0.99);
  cr_assert_str_eq(gradc_checkpoint_meta(b, GRADC_META_OPTIMIZER), "adam");
  cr_assert_str_eq(gradc_checkpoint_meta(b, GRADC_META_HYPER_PREFIX "amsgrad"), "1");
  cr_assert_null(gradc_checkpoint_meta(b, GRADC_META_MOMENTUM), "SGD's keys in an Adam checkpoint");
  steps(b, 4);
  float sa[15], sb[15];
  adam_state(a, sa), adam_state(b, sb);
  cr_assert(!memcmp(sa, sb, sizeof sa), "resumed Adam state differs");
  cr_assert(!memcmp(gradc_tensor(a, "w", NULL), gradc_tensor(b, "w", NULL), 16), "resumed Adam differs");

  /* A plain load takes the weights only; the state of Adam is skipped. */
  gradc_model *c = fake();
  cr_assert_eq(gradc_load(c, at("adam.st")), 0, "%s", gradc_error(c));
  cr_assert_str_eq(gradc_optimizer_name(c), "sgd");
  gradc_close(a), gradc_close(b), gradc_close(c);
}

Test(checkpoint, rmsprop_resumes_and_state_of_another_rule_is_refused, .init = make_dir, .fini = remove_dir) {
  gradc_model *a = fake();
  cr_assert_eq(gradc_use_optimizer(a, "rmsprop"), 0);
  cr_assert_eq(gradc_set_hyper(a, "momentum", 0.5), 0);
  steps(a, 1);
  cr_assert_eq(gradc_save_checkpoint(a, at("r.st"), NULL, NULL, 0), 0, "%s", gradc_error(a));
  gradc_model *b = fake();
  cr_assert_eq(gradc_load_checkpoint(b, at("r.st")), 0, "%s", gradc_error(b));
  cr_assert_str_eq(gradc_optimizer_name(b), "rmsprop");
  cr_assert(!memcmp(gradc_momentum(a, "w", NULL), gradc_momentum(b, "w", NULL), 16), "RMSprop's momentum buffer");
  cr_assert_eq(gradc_state(b, "grad_avg", "w", NULL)[0], 0.0f, "not centered: the buffer stays zero");
  gradc_close(a), gradc_close(b);
  /* An SGD checkpoint (its first format's keys) holding Adam's state. */
  float st[5] = {9, 9, 9, 9, 9};
  write_file(at("mixed.st"), "\"gradc_momentum\":\"0\"",
             ",\"w.exp_avg\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[28,44]},"
             "\"b.exp_avg\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[44,48]}", st, 5);
  expect_refused(at("mixed.st"), "optimiser state 'w.exp_avg' is not optimizer sgd's");
  write_file(at("unknown.st"), "\"gradc_optimizer\":\"adagrad\"", "", NULL, 0);
  expect_refused(at("unknown.st"), "optimizer 'adagrad', which this runtime does not know");
  write_file(at("badhyper.st"), "\"gradc_optimizer\":\"adam\",\"gradc_hyper_beta1\":\"1\"", "", NULL, 0);
  expect_refused(at("badhyper.st"), "the recorded beta1: must be in [0, 1)");
}

Test(checkpoint, hyper_parameters_by_name, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = fake();
  cr_assert_lt(gradc_set_hyper(m, "beta1", 0.5), 0);
  cr_assert(strstr(gradc_error(m), "optimizer sgd has no hyper-parameter 'beta1' (it has lr, momentum, weight_decay, "
                                   "dampening, nesterov)"), "%s", gradc_error(m));
  cr_assert_lt(gradc_set_hyper(m, "nesterov", 0.5), 0);
  cr_assert(strstr(gradc_error(m), "nesterov 0.5: must be 0 or 1"), "%s", gradc_error(m));
  cr_assert_eq(gradc_set_hyper(m, "nesterov", 1), 0);
  cr_assert_lt(gradc_train_step(m, 0.1f), 0, "Nesterov without momentum");
  cr_assert(strstr(gradc_error(m), "Nesterov momentum needs a momentum above 0"), "%s", gradc_error(m));
  cr_assert_eq(gradc_use_optimizer(m, "adamw"), 0);
  double wd;
  cr_assert_eq(gradc_get_hyper(m, "weight_decay", &wd), 0);
  cr_assert_eq(wd, 0.01, "AdamW's default weight decay is torch's");
  cr_assert_lt(gradc_set_optimizer(m, 0.9f, 0), 0, "Adam has no momentum");
  cr_assert_lt(gradc_use_optimizer(m, "adagrad"), 0);
  cr_assert_lt(gradc_set_clip_grad_norm(m, -1), 0);
  gradc_close(m);
}
