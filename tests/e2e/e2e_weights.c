/* e2e_weights.c — safetensors files that do not match the model, through the CLI and
 * the runtime (docs/FORMATS.md, "What gradc reads": loading checks every name, dtype,
 * shape and byte range and rejects a file that does not match the model with a message
 * naming the tensor).
 *
 * Every file is written here, byte by byte, for models/logreg.grad (w: f32[5, 3],
 * b: f32[3]). Each bad file must make `gradc eval --weights`, `gradc run --load` and
 * `gradc compile --inference --weights` exit 1 with a message naming the tensor or the
 * problem (compile writing nothing), and make gradc_load on gen/logreg.so (compiled by
 * this gradc at build time) fail, leaving the parameters byte for byte as they were. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"
#include "gradc/runtime.h"

#define LOGREG_SO E2E_GEN_DIR "/logreg.so"

/* The values of the valid file: w[k] = (k + 1) / 100, b = -1, -2, -3. */
static void values(float *v /* 18 */) {
  for (int k = 0; k < 15; k++) v[k] = (float)(k + 1) / 100.0f;
  v[15] = -1, v[16] = -2, v[17] = -3;
}

/* Writes a safetensors file: 8-byte little-endian length (hlen_field, or the header's
 * padded length if 0), the header JSON padded with spaces to 8 bytes, then data_len
 * bytes of data (the valid values, then zeros). */
static char *write_st(const char *dir, const char *name, const char *header, size_t data_len, uint64_t hlen_field) {
  char *path = e2e_fmt("%s/%s", dir, name);
  size_t n = strlen(header), padded = (n + 7) / 8 * 8;
  uint64_t h = hlen_field ? hlen_field : padded;
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(h >> (8 * i));
  fwrite(len, 1, 8, f);
  fwrite(header, 1, n, f);
  for (size_t i = n; i < padded; i++) fputc(' ', f);
  float v[18];
  values(v);
  unsigned char *data = calloc(data_len + 1, 1);
  memcpy(data, v, data_len < sizeof v ? data_len : sizeof v);
  fwrite(data, 1, data_len, f);
  free(data);
  cr_assert_eq(fclose(f), 0);
  return path;
}

#define META "\"__metadata__\":{\"model\":\"logreg\"}"
#define W_OK "\"w\":{\"dtype\":\"F32\",\"shape\":[5,3],\"data_offsets\":[0,60]}"
#define B_OK "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[60,72]}"

static char *valid_file(const char *dir) {
  return write_st(dir, "valid.safetensors", "{" META "," W_OK "," B_OK "}", 72, 0);
}

static char *data_csv(const char *dir) {
  char *path = e2e_fmt("%s/data.csv", dir);
  cr_assert(e2e_write(path, "1,2,3,4,5,1,0,1\n-1,0.5,0,2,1,0,0,1\n"));
  return path;
}

/* ---- the valid file works everywhere (so that the rejections below mean something) ---- */

Test(weights, valid_file_is_accepted, .timeout = 30) {
  char *dir = e2e_tmpdir("wok");
  char *w = valid_file(dir), *data = data_csv(dir);
  e2e_result r;
  e2e_gradc(&r, "eval", E2E_LOGREG, "--weights", w, "--data", data, NULL);
  cr_expect_eq(r.status, 0, "eval: %s", e2e_describe(&r));
  cr_expect(!strncmp(r.out, "loss ", 5), "eval: %s", r.out);
  e2e_free(&r);

  e2e_gradc(&r, "run", E2E_LOGREG, "--load", w, "--json", NULL);
  cr_assert_eq(r.status, 0, "run --load: %s", e2e_describe(&r));
  cJSON *j = cJSON_Parse(r.out);
  cr_assert(j, "%s", r.out);
  const cJSON *pw = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                                                         cJSON_GetObjectItemCaseSensitive(j, "params"), "w"),
                                                     "data");
  float v[18];
  values(v);
  int k = 0;
  for (const cJSON *e = pw ? pw->child : NULL; e; e = e->next, k++)
    cr_expect_eq((float)e->valuedouble, v[k], "w[%d] = %g, the file holds %g", k, e->valuedouble, (double)v[k]);
  cr_expect_eq(k, 15);
  cJSON_Delete(j);
  e2e_free(&r);

  char *so = e2e_fmt("%s/baked.so", dir);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--inference", "--weights", w, "-o", so, NULL);
  cr_expect_eq(r.status, 0, "compile --weights: %s", e2e_describe(&r));
  cr_expect(e2e_exists(so), "no %s", so);
  e2e_free(&r);

  char err[512];
  gradc_model *m = gradc_open(LOGREG_SO, err, sizeof err);
  cr_assert(m, "gradc_open %s: %s", LOGREG_SO, err);
  cr_assert_eq(gradc_init(m, 0), 0);
  cr_assert_eq(gradc_load(m, w), 0, "gradc_load: %s", gradc_error(m));
  size_t nw, nb;
  float *pw2 = gradc_tensor(m, "w", &nw), *pb = gradc_tensor(m, "b", &nb);
  cr_assert(pw2 && pb && nw == 15 && nb == 3);
  cr_expect(!memcmp(pw2, v, sizeof(float) * 15) && !memcmp(pb, v + 15, sizeof(float) * 3),
            "gradc_load did not read the file's values");
  gradc_close(m);
  free(w), free(data), free(so);
  e2e_rmdir(dir);
  free(dir);
}

/* ---- rejections ---- */

static bool has_all(const char *s, const char *const *words) {
  for (; *words; words++)
    if (!strstr(s, *words)) return false;
  return true;
}

/* Every way of using the bad file fails cleanly, saying words. */
static void rejected(const char *bad, const char *dir, const char *const *words) {
  char *data = data_csv(dir);
  char joined[256] = "";
  for (const char *const *w = words; *w; w++) snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "'%s' ", *w);

  /* gradc eval */
  e2e_result r;
  e2e_gradc(&r, "eval", E2E_LOGREG, "--weights", bad, "--data", data, NULL);
  cr_expect_eq(r.status, 1, "eval: %s", e2e_describe(&r));
  cr_expect(has_all(r.err, words), "eval: the message lacks one of %s:\n%s", joined, r.err);
  cr_expect(!strstr(r.out, "loss"), "eval printed a loss with a bad weights file:\n%s", r.out);
  e2e_free(&r);

  /* gradc run --load */
  e2e_gradc(&r, "run", E2E_LOGREG, "--load", bad, NULL);
  cr_expect_eq(r.status, 1, "run --load: %s", e2e_describe(&r));
  cr_expect(has_all(r.err, words), "run --load: the message lacks one of %s:\n%s", joined, r.err);
  cr_expect_eq(r.outlen, 0, "run --load printed results with a bad weights file:\n%s", r.out);
  e2e_free(&r);

  /* gradc compile --inference --weights: exit 1, nothing written */
  char *outdir = e2e_tmpdir("wout");
  char *so = e2e_fmt("%s/baked.so", outdir);
  e2e_gradc(&r, "compile", E2E_LOGREG, "--inference", "--weights", bad, "-o", so, NULL);
  cr_expect_eq(r.status, 1, "compile --weights: %s", e2e_describe(&r));
  cr_expect(has_all(r.err, words), "compile --weights: the message lacks one of %s:\n%s", joined, r.err);
  char names[512];
  cr_expect_eq(e2e_count_entries(outdir, names, sizeof names), 0, "compile --weights with a bad file wrote: %s", names);
  e2e_free(&r);
  free(so);
  e2e_rmdir(outdir);
  free(outdir);

  /* gradc_load: fails, says why, and leaves every parameter as it was. */
  char err[512];
  gradc_model *m = gradc_open(LOGREG_SO, err, sizeof err);
  cr_assert(m, "gradc_open %s: %s", LOGREG_SO, err);
  cr_assert_eq(gradc_init(m, 42), 0, "%s", gradc_error(m));
  size_t nw, nb;
  float *w = gradc_tensor(m, "w", &nw), *b = gradc_tensor(m, "b", &nb);
  cr_assert(w && b && nw == 15 && nb == 3);
  float keep_w[15], keep_b[3];
  memcpy(keep_w, w, sizeof keep_w);
  memcpy(keep_b, b, sizeof keep_b);
  cr_expect_lt(gradc_load(m, bad), 0, "gradc_load accepted %s", bad);
  cr_expect(has_all(gradc_error(m), words), "gradc_error lacks one of %s: %s", joined, gradc_error(m));
  cr_expect(!memcmp(w, keep_w, sizeof keep_w), "a rejected gradc_load changed w");
  cr_expect(!memcmp(b, keep_b, sizeof keep_b), "a rejected gradc_load changed b");
  /* Still usable afterwards. */
  cr_expect_eq(gradc_forward(m), 0, "%s", gradc_error(m));
  gradc_close(m);
  free(data);
}

#define REJECT(NAME, HEADER, DATA_LEN, HLEN, ...)                  \
  Test(weights, NAME, .timeout = 30) {                             \
    char *dir = e2e_tmpdir("wbad");                                \
    char *bad = write_st(dir, #NAME ".safetensors", HEADER, DATA_LEN, HLEN); \
    rejected(bad, dir, (const char *[]){__VA_ARGS__, NULL});       \
    free(bad);                                                     \
    e2e_rmdir(dir);                                                \
    free(dir);                                                     \
  }

/* Shorter than the 8-byte length field. */
Test(weights, truncated_to_five_bytes, .timeout = 30) {
  char *dir = e2e_tmpdir("wbad");
  char *bad = e2e_fmt("%s/short.safetensors", dir);
  FILE *f = fopen(bad, "wb");
  fwrite("\x40\0\0\0\0", 1, 5, f);
  fclose(f);
  rejected(bad, dir, (const char *[]){"truncated", NULL});
  free(bad);
  e2e_rmdir(dir);
  free(dir);
}

/* An empty file. */
Test(weights, empty_file, .timeout = 30) {
  char *dir = e2e_tmpdir("wbad");
  char *bad = e2e_fmt("%s/empty.safetensors", dir);
  cr_assert(e2e_write(bad, ""));
  rejected(bad, dir, (const char *[]){"empty.safetensors", NULL});
  free(bad);
  e2e_rmdir(dir);
  free(dir);
}

/* The data section cut short: w is all there, b's range runs past the end. */
REJECT(truncated_data, "{" META "," W_OK "," B_OK "}", 68, 0, "'b'")

/* The header length field is larger than the file. */
REJECT(oversized_header_length, "{" META "," W_OK "," B_OK "}", 72, 4096, "header length")

/* A header length near 2^63 (must not overflow or try to allocate it). */
REJECT(absurd_header_length, "{" META "," W_OK "," B_OK "}", 72, 0x7ffffffffffffff8ull, "header length")

/* w stored as F16 (30 bytes). */
REJECT(wrong_dtype_f16,
       "{" META ",\"w\":{\"dtype\":\"F16\",\"shape\":[5,3],\"data_offsets\":[0,30]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[30,42]}}",
       42, 0, "'w'", "F16")

/* w transposed: the byte size matches, the shape does not. */
REJECT(wrong_shape, "{" META ",\"w\":{\"dtype\":\"F32\",\"shape\":[3,5],\"data_offsets\":[0,60]}," B_OK "}", 72, 0,
       "'w'", "[3, 5]", "[5, 3]")

/* w with the right shape but too few bytes in data_offsets. */
REJECT(wrong_byte_range, "{" META ",\"w\":{\"dtype\":\"F32\",\"shape\":[5,3],\"data_offsets\":[0,56]}," B_OK "}", 72, 0,
       "'w'")

/* b absent. */
REJECT(missing_tensor, "{" META "," W_OK "}", 60, 0, "'b'", "missing")

/* An extra tensor c after two valid ones. */
REJECT(extra_tensor,
       "{" META "," W_OK "," B_OK ",\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[72,80]}}", 80, 0,
       "'c'")

/* Not JSON at all. */
REJECT(header_not_json, "{\"w\": [1, 2", 72, 0, "JSON")
/* The ranges must tile the data section (safetensors): no overlap, nothing after. */
REJECT(overlapping_ranges, "{" META "," W_OK ",\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}}", 72, 0,
       "overlap")
REJECT(trailing_bytes, "{" META "," W_OK "," B_OK "}", 80, 0, "8 bytes after")
/* A second __metadata__ could carry a checksum the first hides: refused. */
REJECT(metadata_twice, "{" META ",\"__metadata__\":{\"gradc_crc32\":\"00000000\"}," W_OK "," B_OK "}", 72, 0,
       "__metadata__", "twice")
/* safetensors metadata maps strings to strings. */
REJECT(metadata_not_strings, "{\"__metadata__\":{\"model\":1}," W_OK "," B_OK "}", 72, 0, "__metadata__",
       "map of strings")
/* Another model's weights: the message says whose they are. */
REJECT(another_models_weights, "{\"__metadata__\":{\"model\":\"digits\"},\"w1\":{\"dtype\":\"F32\",\"shape\":[18],"
       "\"data_offsets\":[0,72]}}", 72, 0, "'w1'", "model 'digits'")

/* One failure, one message: `gradc run --load` says why once. */
Test(weights, run_load_error_said_once, .timeout = 30) {
  char *dir = e2e_tmpdir("wbad");
  char *bad = write_st(dir, "missing.safetensors", "{" META "," W_OK "}", 60, 0);
  e2e_result r;
  e2e_gradc(&r, "run", E2E_LOGREG, "--load", bad, NULL);
  cr_expect_eq(r.status, 1, "%s", e2e_describe(&r));
  const char *first = strstr(r.err, "missing tensor 'b'");
  cr_expect(first, "%s", r.err);
  cr_expect(!first || !strstr(first + 1, "missing tensor 'b'"), "the message is printed twice:\n%s", r.err);
  e2e_free(&r);
  free(bad);
  e2e_rmdir(dir);
  free(dir);
}
