/* tests/runtime/test_faults.c — the runtime under faults: corrupted weights files
 * (checksum), a full disk or a file-size limit while saving, and allocation failure
 * while opening a model.
 *
 * Built twice (tests/runtime/CMakeLists.txt): as the Criterion suite test_faults, and
 * with FAULTS_FAKE_SO defined as small stand-in models whose descriptors ask for more
 * memory than any machine has (FAULTS_WS workspace bytes, FAULTS_X elements in x). */

#ifdef FAULTS_FAKE_SO
/* ---- the stand-in model: one input, one param, one output; never called ---- */
#define STR2(x) #x
#define STR(x) STR2(x)
void faults_forward(const float *x, const float *w, float *y, void *ws) {
  (void)x, (void)w, (void)y, (void)ws;
}
static const char desc[] =
    "{\"gradc\": 1, \"model\": \"huge\", \"workspace_bytes\": " STR(FAULTS_WS) ", \"loss\": null,"
    "\"tensors\": ["
    "{\"name\": \"x\", \"role\": \"input\", \"dtype\": \"f32\", \"shape\": [" STR(FAULTS_X) "]},"
    "{\"name\": \"w\", \"role\": \"param\", \"dtype\": \"f32\", \"shape\": [4], \"trainable\": true,"
    " \"init\": {\"kind\": \"const\", \"value\": 0}},"
    "{\"name\": \"y\", \"role\": \"output\", \"dtype\": \"f32\", \"shape\": [4]}],"
    "\"entries\": [{\"name\": \"faults_forward\", \"kind\": \"forward\","
    " \"args\": [\"input:x\", \"param:w\", \"output:y\", \"workspace\"]}]}";
const char *gradc_model_descriptor(void) {
  return desc;
}

#else
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gradc/runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define FAULTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULTS_ASAN 1
#endif
#endif

#ifdef FAULTS_ASAN
/* Under AddressSanitizer an impossible allocation aborts unless told to return NULL as
 * the C library does; RLIMIT_AS cannot be used (the shadow memory is reserved). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1";
}
#endif

#define SCRATCH_TAG "faults"
#include "../support/scratch_dir.h"

/* Names of the files in dir other than `keep` (temporary files left behind). */
static int stray_files(const char *keep, char *first, size_t len) {
  int n = 0;
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (e->d_name[0] != '.' && strcmp(e->d_name, keep) != 0) {
      if (!n++) snprintf(first, len, "%s", e->d_name);
    }
  if (d) closedir(d);
  return n;
}


static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void spit(const char *path, const void *b, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static gradc_model *open_fake(void) {
  char err[1024];
  gradc_model *m = gradc_open(FAKE_SO, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  cr_assert_eq(gradc_init(m, 7), 0);
  size_t n;
  float *w = gradc_tensor(m, "w", &n);
  for (size_t i = 0; i < n; i++) w[i] = 1.5f + (float)i;
  *(float *)gradc_tensor(m, "b", NULL) = -2.25f;
  return m;
}

/* w, b and s, flattened: the fake model's 7 parameter values. */
static void params_of(gradc_model *m, float out[7]) {
  memcpy(out, gradc_tensor(m, "w", NULL), 16);
  memcpy(out + 4, gradc_tensor(m, "b", NULL), 4);
  memcpy(out + 5, gradc_tensor(m, "s", NULL), 8);
}

static void set_params(gradc_model *m, float v) {
  float *w = gradc_tensor(m, "w", NULL);
  for (int i = 0; i < 4; i++) w[i] = v;
  *(float *)gradc_tensor(m, "b", NULL) = v;
}

/* A safetensors file in memory: the header parsed, where the data section starts. */
typedef struct {
  unsigned char *bytes;
  size_t len, data;
  cJSON *header;
} st_bytes;

static st_bytes st_read(const char *path) {
  st_bytes s = {0};
  s.bytes = slurp(path, &s.len);
  cr_assert_geq(s.len, 8);
  uint64_t h = 0;
  for (int i = 7; i >= 0; i--) h = h << 8 | s.bytes[i];
  cr_assert_leq(h, s.len - 8);
  s.data = 8 + (size_t)h;
  s.header = cJSON_ParseWithLength((const char *)s.bytes + 8, (size_t)h);
  cr_assert_not_null(s.header, "%s: header is not JSON", path);
  return s;
}

static void st_free(st_bytes *s) {
  free(s->bytes);
  cJSON_Delete(s->header);
}

/* CRC-32 (IEEE), bit by bit: independent of the runtime's table-driven one. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

/* ---- checksum ---- */

Test(checksum, reference_value_of_crc32) {
  cr_assert_eq(crc32_bitwise((const unsigned char *)"123456789", 9), 0xCBF43926u); /* the standard check value */
}

/* The saved metadata keeps "model" and holds the CRC-32 of the data section, as a
 * string of 8 hex digits. */
Test(checksum, save_writes_crc32_of_data_section, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  st_bytes s = st_read(at("w.st"));
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(s.header, "__metadata__");
  cr_assert(cJSON_IsObject(meta));
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(meta, "model");
  cr_assert(cJSON_IsString(model) && !strcmp(model->valuestring, "fake"));
  const cJSON *crc = cJSON_GetObjectItemCaseSensitive(meta, "gradc_crc32");
  cr_assert(cJSON_IsString(crc), "no __metadata__.gradc_crc32 string");
  char want[16];
  snprintf(want, sizeof want, "%08x", (unsigned)crc32_bitwise(s.bytes + s.data, s.len - s.data));
  cr_assert_str_eq(crc->valuestring, want);
  cr_assert_eq(s.len - s.data, 28u, "the data section is the 7 params");
  for (const cJSON *v = meta->child; v; v = v->next)
    cr_assert(cJSON_IsString(v), "metadata value '%s' is not a string (safetensors requires strings)", v->string);
  st_free(&s);
  gradc_close(m);
}

static void expect_refused(gradc_model *m, const char *path, const char *what) {
  float before[7], after[7];
  params_of(m, before);
  cr_assert_lt(gradc_load(m, path), 0, "a file with %s loaded", what);
  const char *e = gradc_error(m);
  cr_assert(strstr(e, path), "\"%s\" does not name the file", e);
  params_of(m, after);
  cr_assert_eq(memcmp(before, after, sizeof before), 0, "a refused file (%s) changed the parameters", what);
}

/* Without the check, a flipped bit in the data loads silently as a wrong weight. */
Test(checksum, flipped_bit_in_data_is_refused, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  st_bytes s = st_read(at("w.st"));
  for (size_t off = s.data; off < s.len; off += 5) {
    for (int bit = 0; bit < 8; bit += 3) {
      s.bytes[off] ^= (unsigned char)(1u << bit);
      spit(at("bad.st"), s.bytes, s.len);
      s.bytes[off] ^= (unsigned char)(1u << bit);
      set_params(m, 42.0f);
      expect_refused(m, at("bad.st"), "a flipped bit");
      cr_assert(strstr(gradc_error(m), "checksum mismatch: the data was corrupted on disk"), "%s", gradc_error(m));
      /* The reader the compiler uses for --weights refuses it too, writing nothing. */
      gradc_tensor_info want[3];
      float w[4] = {9, 9, 9, 9}, b = 9, sv[2] = {9, 9};
      float *dst[3] = {w, &b, sv};
      for (size_t i = 0, k = 0; i < gradc_num_tensors(m); i++)
        if (gradc_tensor_at(m, i)->role == GRADC_ROLE_PARAM) want[k++] = *gradc_tensor_at(m, i);
      char err[1024];
      cr_assert_lt(gradc_read_safetensors(at("bad.st"), want, dst, 3, err, sizeof err), 0);
      cr_assert(strstr(err, "checksum mismatch"), "%s", err);
      cr_assert(w[0] == 9 && w[3] == 9 && b == 9 && sv[1] == 9, "refused file was partly read");
    }
  }
  /* The untouched file still loads, with the saved values. */
  set_params(m, 42.0f);
  cr_assert_eq(gradc_load(m, at("w.st")), 0, "%s", gradc_error(m));
  cr_assert_eq(((float *)gradc_tensor(m, "w", NULL))[1], 2.5f);
  st_free(&s);
  gradc_close(m);
}

Test(checksum, truncated_file_is_refused, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  size_t len;
  unsigned char *b = slurp(at("w.st"), &len);
  for (size_t cut = 0; cut < len; cut += cut < 16 || cut > len - 16 ? 1 : 37) {
    spit(at("cut.st"), b, cut);
    expect_refused(m, at("cut.st"), "a truncation");
  }
  free(b);
  gradc_close(m);
}

/* Rewrites the file's header with __metadata__ changed by edit (padded to 8 bytes). */
static void rewrite_meta(const char *from, const char *to, void (*edit)(cJSON *meta)) {
  st_bytes s = st_read(from);
  edit(cJSON_GetObjectItemCaseSensitive(s.header, "__metadata__"));
  char *h = cJSON_PrintUnformatted(s.header);
  size_t hl = strlen(h), padded = (hl + 7) / 8 * 8, dl = s.len - s.data;
  unsigned char *out = malloc(8 + padded + dl);
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  memcpy(out + 8, h, hl);
  memset(out + 8 + hl, ' ', padded - hl);
  memcpy(out + 8 + padded, s.bytes + s.data, dl);
  spit(to, out, 8 + padded + dl);
  free(out);
  cJSON_free(h);
  st_free(&s);
}

static void strip_crc(cJSON *meta) {
  cJSON_DeleteItemFromObjectCaseSensitive(meta, "gradc_crc32");
}
static void bad_crc_text(cJSON *meta) {
  cJSON_ReplaceItemInObjectCaseSensitive(meta, "gradc_crc32", cJSON_CreateString("0xZZ"));
}
static void bad_crc_number(cJSON *meta) {
  cJSON_ReplaceItemInObjectCaseSensitive(meta, "gradc_crc32", cJSON_CreateNumber(12345));
}

/* Files written by other tools have no gradc_crc32: they still load (all checks but
 * the checksum apply). */
Test(checksum, file_without_the_key_is_accepted, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  float saved[7], got[7];
  params_of(m, saved);
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  rewrite_meta(at("w.st"), at("plain.st"), strip_crc);
  st_bytes s = st_read(at("plain.st"));
  cr_assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s.header, "__metadata__"),
                                                  "gradc_crc32"));
  /* ...even when its data differs from what was saved: nothing to check it against. */
  s.bytes[s.data] ^= 1;
  spit(at("plain_changed.st"), s.bytes, s.len);
  st_free(&s);
  set_params(m, 42.0f);
  cr_assert_eq(gradc_load(m, at("plain.st")), 0, "%s", gradc_error(m));
  params_of(m, got);
  cr_assert_eq(memcmp(saved, got, sizeof got), 0);
  cr_assert_eq(gradc_load(m, at("plain_changed.st")), 0, "%s", gradc_error(m));
  gradc_close(m);
}

Test(checksum, malformed_key_is_refused, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("w.st")), 0, "%s", gradc_error(m));
  rewrite_meta(at("w.st"), at("t.st"), bad_crc_text);
  expect_refused(m, at("t.st"), "a malformed checksum");
  cr_assert(strstr(gradc_error(m), "gradc_crc32"), "%s", gradc_error(m));
  rewrite_meta(at("w.st"), at("n.st"), bad_crc_number);
  expect_refused(m, at("n.st"), "a numeric checksum");
  gradc_close(m);
}

/* ---- a full disk, or a file-size limit, while saving ---- */

/* In a child: change the params, make writes fail past `limit` bytes, save over path.
 * Exits 0 if the save failed with a message naming path and `reason`, 1 if it
 * succeeded, 2 if the message was wrong (printed to stderr). */
static void child_saves_over_limit(const char *path, rlim_t limit, const char *reason) {
  gradc_model *m = open_fake();
  set_params(m, 99.0f);
  signal(SIGXFSZ, SIG_IGN); /* else the kernel kills the writer; ignored, write() returns EFBIG */
  struct rlimit rl = {limit, limit};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
  if (gradc_save(m, path) == 0) _exit(1);
  const char *e = gradc_error(m);
  if (!strstr(e, path) || !strstr(e, reason)) {
    fprintf(stderr, "unexpected message: %s\n", e);
    _exit(2);
  }
  gradc_close(m);
  _exit(0);
}

/* Without the error checks on every write, flush, fsync and close, the save would
 * report success (or rename a short temporary file over the checkpoint). */
Test(full_disk, file_size_limit_fails_cleanly_and_keeps_old_checkpoint, .init = make_dir, .fini = remove_dir) {
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("ckpt.st")), 0, "%s", gradc_error(m));
  size_t len0, len1;
  unsigned char *before = slurp(at("ckpt.st"), &len0);
  rlim_t limits[] = {0, 8, (rlim_t)len0 / 2, (rlim_t)len0 - 1};
  for (size_t k = 0; k < sizeof limits / sizeof *limits; k++) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) child_saves_over_limit(at("ckpt.st"), limits[k], strerror(EFBIG));
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "limit %llu: the saving child died (signal %d)", (unsigned long long)limits[k],
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_neq(WEXITSTATUS(st), 1, "limit %llu: saving past the file size limit reported success",
                  (unsigned long long)limits[k]);
    cr_assert_eq(WEXITSTATUS(st), 0, "limit %llu: child status %d", (unsigned long long)limits[k], WEXITSTATUS(st));
    unsigned char *after = slurp(at("ckpt.st"), &len1);
    cr_assert(len1 == len0 && memcmp(before, after, len0) == 0,
              "limit %llu: the previous checkpoint changed", (unsigned long long)limits[k]);
    free(after);
    char stray[300];
    cr_assert_eq(stray_files("ckpt.st", stray, sizeof stray), 0, "a temporary file was left behind: %s", stray);
  }
  /* And it still loads, with the values saved first. */
  set_params(m, 0.0f);
  cr_assert_eq(gradc_load(m, at("ckpt.st")), 0, "%s", gradc_error(m));
  cr_assert_eq(*(float *)gradc_tensor(m, "b", NULL), -2.25f);
  free(before);
  gradc_close(m);
}

/* A real full file system: mounting one needs root, as the suite runs (tools/setup/
 * test.sh, CI); elsewhere the test fails, saying so. */
static char mnt[300];
static int mounted;

static void unmount_dir(void) {
  if (mounted) umount2(mnt, MNT_DETACH);
  mounted = 0;
  remove_dir();
}

Test(full_disk, full_tmpfs_fails_cleanly_and_keeps_old_checkpoint, .init = make_dir, .fini = unmount_dir) {
  snprintf(mnt, sizeof mnt, "%s", dir);
  /* A test that cannot run fails: the suite runs as root (tools/setup/test.sh, CI). */
  cr_assert(geteuid() == 0 && mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0,
            "cannot mount a 64 KiB tmpfs at %s (%s): run the suite as root", mnt, strerror(errno));
  mounted = 1;
  gradc_model *m = open_fake();
  cr_assert_eq(gradc_save(m, at("ckpt.st")), 0, "%s", gradc_error(m));
  size_t len0, len1;
  unsigned char *before = slurp(at("ckpt.st"), &len0);
  /* Fill the file system. */
  FILE *f = fopen(at("filler"), "wb");
  cr_assert_not_null(f);
  static char block[4096];
  setvbuf(f, NULL, _IONBF, 0);
  while (fwrite(block, 1, sizeof block, f) == sizeof block) {}
  while (fwrite(block, 1, 1, f) == 1) {}
  cr_assert_eq(errno, ENOSPC, "filling the tmpfs: %s", strerror(errno));
  fclose(f);
  set_params(m, 99.0f);
  cr_assert_lt(gradc_save(m, at("ckpt.st")), 0, "saving onto a full disk reported success");
  cr_assert(strstr(gradc_error(m), at("ckpt.st")) && strstr(gradc_error(m), strerror(ENOSPC)), "%s",
            gradc_error(m));
  unsigned char *after = slurp(at("ckpt.st"), &len1);
  cr_assert(len1 == len0 && memcmp(before, after, len0) == 0, "the previous checkpoint changed");
  unlink(at("filler"));
  char stray[300];
  cr_assert_eq(stray_files("ckpt.st", stray, sizeof stray), 0, "a temporary file was left behind: %s", stray);
  cr_assert_eq(gradc_load(m, at("ckpt.st")), 0, "%s", gradc_error(m));
  cr_assert_eq(*(float *)gradc_tensor(m, "b", NULL), -2.25f);
  free(before);
  free(after);
  gradc_close(m);
}

/* ---- allocation failure while opening ---- */

/* This process's address space in bytes (VmSize). */
static rlim_t address_space(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* In a child (optionally with RLIMIT_AS = the current address space + headroom):
 * gradc_open must return NULL with a message containing `want`. Exit 0 if so, 1 if it
 * opened, 2 if the message was wrong. */
static void expect_open_oom(const char *so, rlim_t headroom, const char *want) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
#ifndef FAULTS_ASAN
    if (headroom) {
      rlim_t as = address_space() + headroom;
      struct rlimit rl = {as, as};
      if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
    }
#else
    (void)headroom;
    (void)address_space;
#endif
    char err[1024];
    gradc_model *m = gradc_open(so, err, sizeof err);
    if (m) _exit(1);
    if (!strstr(err, "out of memory") || !strstr(err, want) || !strstr(err, so)) {
      fprintf(stderr, "unexpected message: %s\n", err);
      _exit(2);
    }
    _exit(0);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "%s: gradc_open crashed (signal %d) instead of reporting out of memory", so,
            WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  cr_assert_neq(WEXITSTATUS(st), 1, "%s: gradc_open succeeded", so);
  cr_assert_eq(WEXITSTATUS(st), 0, "%s: child status %d", so, WEXITSTATUS(st));
}

/* A workspace of 2^46 bytes (64 TiB): without the NULL check the runtime would memset
 * (or hand the model) a NULL workspace and crash. The child also caps its address space
 * at +1 GiB so that the allocation fails even where the kernel overcommits. */
Test(alloc, absurd_workspace_is_out_of_memory_not_a_crash) {
  expect_open_oom(FAULTS_HUGEWS_SO, (rlim_t)1 << 30, "workspace (70368744177664 bytes)");
}

/* The same without the address-space cap: the allocator itself refuses 64 TiB (unless
 * the kernel is set to overcommit always, when the test cannot tell). */
Test(alloc, absurd_workspace_without_rlimit) {
  FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
  int mode = f ? fgetc(f) : '0';
  if (f) fclose(f);
  cr_assert(mode != '1', "vm.overcommit_memory = 1: every allocation succeeds, so this test cannot tell");
  expect_open_oom(FAULTS_HUGEWS_SO, 0, "workspace");
}

/* An input of 2^40 floats (4 TiB): the tensor buffer fails, named in the message. */
Test(alloc, absurd_tensor_is_out_of_memory_not_a_crash) {
  expect_open_oom(FAULTS_HUGEX_SO, (rlim_t)1 << 30, "tensor 'x'");
}

/* A plausible model (1 GiB of workspace) on a machine with less memory: RLIMIT_AS at
 * the current size + 256 MiB lets dlopen and the small buffers succeed and the
 * workspace fail. */
#ifndef FAULTS_ASAN /* AddressSanitizer reserves terabytes of address space: no RLIMIT_AS */
Test(alloc, workspace_beyond_address_space_limit) {
  expect_open_oom(FAULTS_GIGWS_SO, (rlim_t)256 << 20, "workspace (1073741824 bytes)");
}
#endif
#endif
