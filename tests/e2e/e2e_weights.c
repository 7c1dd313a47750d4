/* e2e_weights.c — weights files, bad and good.
 *
 * Bad: safetensors files that do not match the model, through the CLI and the runtime
 * (docs/FORMATS.md, "What gradc reads": loading checks every name, dtype, shape and byte
 * range and rejects a file that does not match the model with a message naming the tensor). Every file
 * is written here, byte by byte, for models/logreg.grad (w: f32[5, 3], b: f32[3]).
 * Each bad file must make `gradc eval --weights`, `gradc run --load` and `gradc
 * compile --inference --weights` exit 1 with a message naming the tensor or the
 * problem (compile writing nothing), and make gradc_load on gen/logreg.so (compiled by
 * this gradc at build time) fail, leaving the parameters byte for byte as they were.
 *
 * Good: baked in with `gradc compile --weights` (the "baking" section at the end). */
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

/* ---- baking: `compile --weights` reads a parameter however the model reaches it ----
 * Each model reads a parameter through an alias (reshape, flatten, detach; conv2d's
 * bias is a reshape too) in one kind of kernel: elementwise, rows (softmax, a row
 * sum), a reduction, a matrix product (small, with an epilogue, and large enough to be
 * packed and split), a transpose, a convolution, a pooling. Baked into a .so, its
 * forward must give exactly what `gradc run --load` gives from the same file; baked
 * for a Cortex-M it must compile. */

typedef struct {
  const char *name;
  int rank;
  int64_t d[4];
} BakedParam;

typedef struct {
  const char *model; /* one input x, one output y */
  const char *body;
  BakedParam p[2];
} BakeCase;

#define CORTEX_M "--target", "thumbv7em-none-eabihf", "--cpu", "cortex-m4"

static int64_t count_of(const BakedParam *p) {
  int64_t n = 1;
  for (int k = 0; k < p->rank; k++) n *= p->d[k];
  return n;
}

/* The parameters' file: element k of parameter i is ((k * 7 + i) % 13 - 6) / 4 (exact
 * in binary and in decimal, both signs, no two neighbours equal). */
static char *write_params(const char *dir, const BakedParam *ps) {
  char header[1024] = "{";
  int64_t off = 0;
  for (int i = 0; i < 2 && ps[i].name; i++) {
    char shape[64] = "";
    for (int k = 0; k < ps[i].rank; k++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "," : "", (long long)ps[i].d[k]);
    int64_t bytes = 4 * count_of(&ps[i]);
    snprintf(header + strlen(header), sizeof header - strlen(header),
             "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%lld,%lld]}", i ? "," : "", ps[i].name,
             shape, (long long)off, (long long)(off + bytes));
    off += bytes;
  }
  strcat(header, "}");
  char *path = e2e_fmt("%s/w.safetensors", dir);
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  size_t n = strlen(header), padded = (n + 7) / 8 * 8;
  for (int i = 0; i < 8; i++) fputc((int)((padded >> (8 * i)) & 0xff), f);
  fputs(header, f);
  for (size_t i = n; i < padded; i++) fputc(' ', f);
  for (int i = 0; i < 2 && ps[i].name; i++)
    for (int64_t k = 0; k < count_of(&ps[i]); k++) {
      float v = (float)((k * 7 + i) % 13 - 6) / 4.0f;
      fwrite(&v, sizeof v, 1, f);
    }
  cr_assert_eq(fclose(f), 0);
  return path;
}

/* Input element i: (i * 5 % 11 - 5) / 4, written for `--set x=@FILE` too. */
static float input_value(size_t i) { return (float)((int)(i * 5 % 11) - 5) / 4.0f; }

static char *write_input(const char *dir, size_t n) {
  char *path = e2e_fmt("%s/x.txt", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f, "cannot write %s", path);
  for (size_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? "," : "", (double)input_value(i));
  cr_assert_eq(fclose(f), 0);
  return path;
}

/* `gradc run MODEL --load W --set x=@X --json`: the parsed report. */
static cJSON *run_load(const char *model, const char *w, const char *x_file) {
  char *set = e2e_fmt("x=@%s", x_file);
  e2e_result r;
  e2e_gradc(&r, "run", model, "--load", w, "--set", set, "--json", NULL);
  cr_assert_eq(r.status, 0, "run --load: %s", e2e_describe(&r));
  cJSON *j = cJSON_Parse(r.out);
  cr_assert(j, "run --json printed no JSON: %s", r.out);
  e2e_free(&r);
  free(set);
  return j;
}

/* The baked .so's forward on the same x (labels, if any, zero) equals run's report:
 * output `out` element for element, and the loss if the build has one. */
static void expect_same_forward(const char *so, const cJSON *run, const char *out) {
  char err[512];
  gradc_model *m = gradc_open(so, err, sizeof err);
  cr_assert(m, "gradc_open %s: %s", so, err);
  cr_assert_eq(gradc_init(m, 0), 0, "%s", gradc_error(m));
  size_t nx, ny;
  float *x = gradc_tensor(m, "x", &nx);
  cr_assert(x, "%s has no input x", so);
  for (size_t i = 0; i < nx; i++) x[i] = input_value(i);
  cr_assert_eq(gradc_forward(m), 0, "%s", gradc_error(m));
  const float *y = gradc_tensor(m, out, &ny);
  cr_assert(y, "%s has no output %s", so, out);
  const cJSON *want = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "outputs"), out), "data");
  cr_assert_eq((size_t)cJSON_GetArraySize(want), ny, "%s: run reports %d values of %s, the .so has %zu", so,
               cJSON_GetArraySize(want), out, ny);
  size_t k = 0, wrong = 0;
  for (const cJSON *e = want->child; e; e = e->next, k++)
    if ((float)e->valuedouble != y[k] && wrong++ < 5)
      cr_expect_fail("%s: %s[%zu] = %.9g baked, %.9g from run --load", so, out, k, (double)y[k], e->valuedouble);
  cr_expect_eq(wrong, 0, "%s: %zu of %zu values of %s differ", so, wrong, ny, out);
  const cJSON *loss = cJSON_GetObjectItemCaseSensitive(run, "loss");
  if (gradc_has_loss(m))
    cr_expect_eq(gradc_loss(m), (float)loss->valuedouble, "%s: loss %.9g baked, %.9g from run --load", so,
                 (double)gradc_loss(m), loss->valuedouble);
  gradc_close(m);
}

/* Compiles model with --weights w (and the options that follow) to dir/FILE. */
static char *compile_baked(const char *dir, const char *model, const char *w, const char *file,
                           const char *const *opts) {
  char *so = e2e_fmt("%s/%s", dir, file);
  const char *args[16] = {"compile", model, "--weights", w, "-o", so};
  int n = 6;
  while (*opts) args[n++] = *opts++;
  args[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, args);
  cr_assert_eq(r.status, 0, "compile --weights -o %s: %s", file, e2e_describe(&r));
  e2e_free(&r);
  return so;
}

/* model baked with w: an inference build and a training build give run --load's
 * output `out` (and loss) on the same x of nx values; a Cortex-M object compiles. */
static void bake_and_compare(const char *dir, const char *model, const char *w, size_t nx, const char *out) {
  char *x = write_input(dir, nx);
  cJSON *run = run_load(model, w, x);
  char *so = compile_baked(dir, model, w, "inference.so", (const char *[]){"--inference", NULL});
  expect_same_forward(so, run, out);
  free(so);
  so = compile_baked(dir, model, w, "training.so", (const char *[]){NULL}); /* not --inference */
  expect_same_forward(so, run, out);
  free(so);
  char *obj = compile_baked(dir, model, w, "m4.o", (const char *[]){"--inference", CORTEX_M, "--emit", "obj", NULL});
  cr_expect(e2e_exists(obj), "no Cortex-M object %s", obj);
  free(obj);
  cJSON_Delete(run);
  free(x);
}

static void bake_case(const BakeCase *c, size_t nx) {
  char *dir = e2e_tmpdir("bake");
  char *model = e2e_fmt("%s/%s.grad", dir, c->model), *src = e2e_fmt("model %s\n%s", c->model, c->body);
  cr_assert(e2e_write(model, src));
  char *w = write_params(dir, c->p);
  bake_and_compare(dir, model, w, nx, "y");
  free(model), free(src), free(w);
  e2e_rmdir(dir);
  free(dir);
}

/* The shipped CNN, trained for an epoch: both conv2d calls have a bias. */
Test(bake, digits_cnn, .timeout = 90) {
  char *dir = e2e_tmpdir("bake_cnn");
  char *w = e2e_fmt("%s/cnn.safetensors", dir);
  e2e_result r;
  e2e_gradc(&r, "train", GRADC_SOURCE_DIR "/models/digits_cnn.grad", "--data",
            GRADC_SOURCE_DIR "/models/data/digits_train.csv", "--epochs", "1", "--lr", "0.05", "--seed", "0", "-o", w,
            NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  e2e_free(&r);
  bake_and_compare(dir, GRADC_SOURCE_DIR "/models/digits_cnn.grad", w, 32 * 64, "logits");
  free(w);
  e2e_rmdir(dir);
  free(dir);
}

#define BAKE(NAME, NX, BODY, ...)                                           \
  Test(bake, NAME, .timeout = 60) {                                         \
    bake_case(&(BakeCase){#NAME, BODY, {__VA_ARGS__}}, NX);                 \
  }
#define P(NAME, ...) {NAME, sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}}
#define X(...) "input x : f32[" #__VA_ARGS__ "]\n"

/* the case */
BAKE(reshape_elementwise, 8, X(2, 4) "param c : f32[4]\ny = x + reshape(c, [1, 4])\noutput y\n", P("c", 4))
BAKE(flatten_elementwise, 8, X(2, 4) "param c : f32[2, 2, 2]\ny = x * flatten(c)\noutput y\n", P("c", 2, 2, 2))
BAKE(detach_elementwise, 8, X(2, 4) "param c : f32[2, 4]\ny = tanh(x * detach(c))\noutput y\n", P("c", 2, 4))
BAKE(aliases_chained, 8,
     X(2, 4) "param c : f32[8]\ny = x - detach(reshape(flatten(reshape(c, [4, 2])), [2, 4]))\noutput y\n", P("c", 8))
BAKE(reshape_rows_softmax, 12, X(3, 4) "param c : f32[4]\ny = softmax(x + reshape(c, [1, 4]), axis=1)\noutput y\n",
     P("c", 4))
BAKE(flatten_rows_sum, 12, X(3, 4) "param c : f32[2, 2]\ny = sum(x * flatten(reshape(c, [1, 4])), axis=1)\noutput y\n",
     P("c", 2, 2))
BAKE(reshape_reduction, 2, X(2) "param c : f32[4]\ny = x + sum(reshape(c, [2, 2]), axis=1)\noutput y\n", P("c", 4))
BAKE(reshape_matmul, 12, X(3, 4) "param w : f32[12]\ny = x @ reshape(w, [4, 3])\noutput y\n", P("w", 12))
BAKE(reshape_matmul_left, 12, X(4, 3) "param w : f32[12]\ny = reshape(w, [3, 4]) @ x\noutput y\n", P("w", 12))
BAKE(flatten_matmul, 12, X(3, 4) "param w : f32[4, 3, 1]\ny = x @ flatten(w)\noutput y\n", P("w", 4, 3, 1))
BAKE(detach_matmul, 12, X(3, 4) "param w : f32[4, 3]\ny = x @ detach(w)\noutput y\n", P("w", 4, 3))
BAKE(reshape_matmul_epilogue, 12,
     X(3, 4) "param w : f32[4, 5]\nparam b : f32[5]\ny = relu(x @ w + reshape(b, [1, 5]))\noutput y\n", P("w", 4, 5),
     P("b", 5))
/* large (matmul.c): packed in blocks of k, a function of its own, in parts on a machine
 * with several cores */
BAKE(reshape_matmul_large, 64 * 300,
     X(64, 300) "param w : f32[38400]\nparam b : f32[128]\n"
                "y = x @ reshape(w, [300, 128]) + reshape(b, [1, 128])\noutput y\n",
     P("w", 38400), P("b", 128))
BAKE(reshape_transpose, 12, X(3, 4) "param w : f32[12]\ny = x @ transpose(reshape(w, [3, 4]))\noutput y\n", P("w", 12))
BAKE(reshape_conv_weight, 25,
     X(1, 1, 5, 5) "param w : f32[18]\ny = conv2d(x, reshape(w, [2, 1, 3, 3]), padding=1)\noutput y\n", P("w", 18))
BAKE(conv_bias, 25, X(1, 1, 5, 5) "param w : f32[2, 1, 3, 3]\nparam b : f32[2]\ny = conv2d(x, w, b)\noutput y\n",
     P("w", 2, 1, 3, 3), P("b", 2))
BAKE(detach_conv, 25, X(1, 1, 5, 5) "param w : f32[2, 1, 3, 3]\ny = conv2d(x, detach(w))\noutput y\n",
     P("w", 2, 1, 3, 3))
BAKE(reshape_max_pool, 1, X(1) "param p : f32[16]\ny = max_pool2d(reshape(p, [1, 1, 4, 4]), 2) * x\noutput y\n",
     P("p", 16))
BAKE(detach_avg_pool, 1, X(1) "param p : f32[16]\ny = avg_pool2d(reshape(detach(p), [1, 1, 4, 4]), 2) * x\noutput y\n",
     P("p", 16))
/* an output that is the parameter itself (z keeps x read) */
BAKE(reshape_output, 1, X(1) "param p : f32[4]\ny = reshape(p, [2, 2])\nz = x * 2\noutput y\noutput z\n", P("p", 4))
/* every operator, on a baked parameter read directly and through aliases, with a loss
 * (the training build has gradient entries) */
BAKE(every_op, 8,
     X(2, 4) "param a : f32[8]\nparam w : f32[4, 4]\nA = reshape(a, [2, 4])\n"
             "h = exp(A) + log(abs(A) + 1) + sqrt(abs(A)) + tanh(A) + sigmoid(A) + relu(A)"
             " + leaky_relu(A, slope=0.1) + gelu(A) + softplus(A)\n"
             "m = maximum(x, A) - minimum(x, flatten(A)) + A * A / (abs(A) + 1) + detach(A) ** 2\n"
             "s = sum(A, axis=1, keepdims=true) + mean(A, axis=0) + max(A, axis=1, keepdims=true) + sum(a)\n"
             "t = softmax(A, axis=1) + log_softmax(x @ transpose(w) + A, axis=1)\n"
             "y = h + m + s + t\noutput y\nloss = mse(y, x) + bce_with_logits(A, sigmoid(x))\nminimize loss\n",
     P("a", 8), P("w", 4, 4))
