/* formats/st_read.c — reading a safetensors file against the tensors a caller expects
 * (st_open, st_read: formats/safetensors.h). The whole file is validated before
 * anything is copied: the framing (8-byte header length, at most 100 MB of header, at
 * most 4 GiB of file), the JSON header, every entry's name, dtype (F32 only), shape
 * (no conversion) and byte range, the ranges tiling the data section, no tensor
 * missing or extra but optional state ("NAME.STATE" for the caller's states, validated
 * alike), and
 * __metadata__.gradc_crc32 when present. */
#define _DEFAULT_SOURCE /* fdopen, fileno */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crc32.h"
#include "gradc/descriptor.h" /* GRADC_MAX_RANK */
#include "safetensors.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gradc's safetensors I/O assumes a little-endian host"
#endif

#define MAX_HEADER_BYTES (100ull << 20)

int st_fail(StFile *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->err, f->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int read_file(StFile *f) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
  int fd = open(f->path, O_RDONLY | O_NONBLOCK);
  FILE *fp = fd < 0 ? NULL : fdopen(fd, "rb");
  if (!fp) {
    int e = errno;
    if (fd >= 0) close(fd);
    return st_fail(f, "cannot read weights file '%s': %s", f->path, strerror(e));
  }
  struct stat st;
  int rc = 0;
  if (fstat(fileno(fp), &st) != 0) rc = st_fail(f, "cannot read weights file '%s': %s", f->path, strerror(errno));
  else if (!S_ISREG(st.st_mode)) rc = st_fail(f, "weights file '%s' is not a regular file", f->path);
  else if ((unsigned long long)st.st_size > ST_MAX_FILE_BYTES)
    rc = st_fail(f, "weights file '%s' is larger than 4 GiB", f->path);
  if (rc == 0) {
    f->size = (size_t)st.st_size;
    f->bytes = malloc(f->size + 1);
    if (!f->bytes) rc = st_fail(f, "weights file '%s': out of memory", f->path);
    else if (fread(f->bytes, 1, f->size, fp) != f->size)
      rc = st_fail(f, "cannot read weights file '%s': short read", f->path);
  }
  fclose(fp);
  return rc;
}

static void format_shape(char *out, size_t len, const int64_t *dims, int rank) {
  size_t o = 0;
  o += (size_t)snprintf(out, len, "[");
  for (int i = 0; i < rank && o < len; i++)
    o += (size_t)snprintf(out + o, len - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (o < len) snprintf(out + o, len - o, "]");
}

/* The shape of a header entry must equal the param's shape. */
static int check_shape(StFile *f, const char *name, const cJSON *shape, const StTensor *ti) {
  int64_t dims[GRADC_MAX_RANK + 1];
  int rank = 0;
  bool ok = cJSON_IsArray(shape);
  for (const cJSON *d = ok ? shape->child : NULL; d; d = d->next, rank++) {
    if (!cJSON_IsNumber(d) || !(d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0) ||
        d->valuedouble != (double)(int64_t)d->valuedouble)
      return st_fail(f, "weights file '%s': tensor '%s' has a malformed shape", f->path, name);
    if (rank <= GRADC_MAX_RANK) dims[rank] = (int64_t)d->valuedouble;
  }
  if (!ok) return st_fail(f, "weights file '%s': tensor '%s' has no shape array", f->path, name);
  bool same = rank == ti->rank;
  for (int i = 0; same && i < rank; i++) same = dims[i] == ti->shape[i];
  if (same) return 0;
  char got[256], want[256];
  if (rank > GRADC_MAX_RANK) snprintf(got, sizeof got, "rank %d", rank);
  else format_shape(got, sizeof got, dims, rank);
  format_shape(want, sizeof want, ti->shape, ti->rank);
  return st_fail(f, "weights file '%s': tensor '%s' has shape %s, model expects %s", f->path, name, got, want);
}

/* data_offsets must be [begin, end] inside the data section, of the entry's byte size. */
static int check_offsets(StFile *f, const char *name, const cJSON *offs, size_t i) {
  const StTensor *ti = &f->want[i % f->n];
  double v[2];
  int n = 0;
  bool ok = cJSON_IsArray(offs) && cJSON_GetArraySize(offs) == 2;
  for (const cJSON *d = ok ? offs->child : NULL; d; d = d->next) {
    ok = ok && cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0 &&
         d->valuedouble == (double)(int64_t)d->valuedouble;
    v[n++ % 2] = ok ? d->valuedouble : 0;
  }
  if (!ok) return st_fail(f, "weights file '%s': tensor '%s' has malformed data_offsets", f->path, name);
  uint64_t b = (uint64_t)v[0], e = (uint64_t)v[1], want = (uint64_t)ti->count * sizeof(float);
  if (b > e || e > f->data_len)
    return st_fail(f, "weights file '%s': tensor '%s' has data_offsets [%llu, %llu] outside the data section (%zu bytes)",
                  f->path, name, (unsigned long long)b, (unsigned long long)e, f->data_len);
  if (e - b != want)
    return st_fail(f, "weights file '%s': tensor '%s' has %llu bytes of data, model expects %llu", f->path, name,
                  (unsigned long long)(e - b), (unsigned long long)want);
  f->begin[i] = (size_t)b;
  return 0;
}

static size_t entries(const StFile *f) { return (1 + f->nstates) * f->n; }

/* The entry a header name stands for: i for want[i], (1 + s) n + i for its state s, or -1. */
static long entry_of(const StFile *f, const char *name) {
  for (size_t k = 0; k < f->n; k++)
    if (strcmp(f->want[k].name, name) == 0) return (long)k;
  size_t len = strlen(name);
  for (size_t s = 0; s < f->nstates; s++) {
    size_t sl = strlen(f->states[s]);
    if (len <= sl + 1 || name[len - sl - 1] != '.' || strcmp(name + len - sl, f->states[s])) continue;
    for (size_t k = 0; k < f->n; k++)
      if (strlen(f->want[k].name) == len - sl - 1 && !strncmp(f->want[k].name, name, len - sl - 1))
        return (long)((1 + s) * f->n + k);
  }
  return -1;
}

static int check_entry(StFile *f, const cJSON *t) {
  long i = entry_of(f, t->string);
  if (i < 0)
    return st_fail(f, "weights file '%s': unexpected tensor '%.200s' (the model has no parameter of that name%s%.200s%s)",
                  f->path, t->string, f->model ? "; the file holds weights of model '" : "", f->model ? f->model : "",
                  f->model ? "'" : "");
  if (f->seen[i]) return st_fail(f, "weights file '%s': tensor '%s' appears twice", f->path, t->string);
  f->seen[i] = true;
  const StTensor *ti = &f->want[(size_t)i % f->n];
  if ((size_t)i >= f->n && f->trains && !f->trains[(size_t)i % f->n])
    return st_fail(f, "weights file '%s': optimiser state '%s' for parameter '%s', which this model does not train "
                  "(frozen)", f->path, t->string, ti->name);
  if (!cJSON_IsObject(t)) return st_fail(f, "weights file '%s': tensor '%s' is not an object", f->path, t->string);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  if (!cJSON_IsString(dt))
    return st_fail(f, "weights file '%s': tensor '%s' has no dtype", f->path, t->string);
  if (strcmp(dt->valuestring, "F32") != 0)
    return st_fail(f, "weights file '%s': tensor '%s' has dtype %.40s, model expects F32", f->path,
                       t->string, dt->valuestring);
  if (check_shape(f, t->string, cJSON_GetObjectItemCaseSensitive(t, "shape"), ti)) return -1;
  return check_offsets(f, t->string, cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), (size_t)i);
}

/* The tensors' byte ranges tile the data section: no overlap, no gap, nothing after
 * (as the safetensors format requires). Every param has at least one element. */
static int check_tiling(StFile *f) {
  size_t at = 0, present = 0, all = entries(f);
  for (size_t k = 0; k < all; k++) present += f->seen[k];
  for (size_t done = 0; done < present; done++) { /* the next range starts where the last ended */
    size_t k = 0;
    while (k < all && !(f->seen[k] && f->begin[k] == at)) k++;
    if (k == all)
      return st_fail(f, "weights file '%s': the tensors' data_offsets overlap or leave a gap at byte %zu of the data",
                    f->path, at);
    at += f->want[k % f->n].count * sizeof(float);
  }
  if (at != f->data_len)
    return st_fail(f, "weights file '%s': %zu bytes after the last tensor's data", f->path, f->data_len - at);
  return 0;
}

static int check_header(StFile *f, const cJSON *root) {
  if (!cJSON_IsObject(root)) return st_fail(f, "weights file '%s': the header is not a JSON object", f->path);
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  const cJSON *model = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "model") : NULL;
  f->model = cJSON_IsString(model) ? model->valuestring : NULL;
  int metas = 0;
  for (const cJSON *t = root->child; t; t = t->next) {
    if (strcmp(t->string, "__metadata__") == 0) { /* members of an object have names */
      /* safetensors: a map of strings to strings, once (a second one could hide a checksum) */
      bool strings = cJSON_IsObject(t);
      for (const cJSON *v = strings ? t->child : NULL; v; v = v->next) strings = strings && cJSON_IsString(v);
      if (!strings || ++metas > 1)
        return st_fail(f, "weights file '%s': __metadata__ %s", f->path,
                      strings ? "appears twice" : "is not a map of strings to strings");
      continue;
    }
    if (check_entry(f, t)) return -1;
  }
  for (size_t i = 0; i < f->n; i++)
    if (!f->seen[i]) return st_fail(f, "weights file '%s': missing tensor '%s'", f->path, f->want[i].name);
  return check_tiling(f);
}

/* "__metadata__": {"gradc_crc32": "8 hex digits"}, when present, must match the data
 * section. Absent (another writer, or no metadata at all): nothing to check. */
static int check_crc(StFile *f, const cJSON *root) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  const cJSON *c = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "gradc_crc32") : NULL;
  if (!c) return 0;
  const char *s = cJSON_IsString(c) ? c->valuestring : "";
  bool hex = strlen(s) == 8;
  uint32_t want = 0;
  for (int i = 0; hex && i < 8; i++) {
    char ch = s[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
    if (d < 0) hex = false;
    want = want << 4 | (uint32_t)(d & 15);
  }
  if (!hex)
    return st_fail(f, "weights file '%s': __metadata__.gradc_crc32 is not a checksum (8 hex digits)", f->path);
  crc_table tab;
  crc_table_init(&tab);
  if (crc32_update(&tab, 0, f->data, f->data_len) != want)
    return st_fail(f, "weights file '%s': checksum mismatch: the data was corrupted on disk", f->path);
  return 0;
}

static bool all_space(const unsigned char *p, const unsigned char *end) {
  for (; p < end; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return false;
  return true;
}

/* Everything but the copy: the framing, the JSON, every tensor. The header stays in
 * f->root. */
static int validate(StFile *f) {
  if (f->size < 8)
    return st_fail(f, "weights file '%s' is truncated: %zu bytes, shorter than the 8-byte header length",
                       f->path, f->size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | f->bytes[i];
  if (n > MAX_HEADER_BYTES)
    return st_fail(f, "weights file '%s': header length %llu exceeds the 100 MB limit", f->path, (unsigned long long)n);
  if (n > f->size - 8)
    return st_fail(f, "weights file '%s' is truncated: header length %llu exceeds the %zu bytes after it", f->path,
                       (unsigned long long)n, f->size - 8);
  f->data = f->bytes + 8 + n;
  f->data_len = f->size - 8 - (size_t)n;
  const char *end = NULL;
  f->root = cJSON_ParseWithLengthOpts((const char *)f->bytes + 8, (size_t)n, &end, 0);
  if (!f->root || !all_space((const unsigned char *)end, f->data))
    return st_fail(f, "weights file '%s': the header is not valid JSON", f->path);
  int rc = check_header(f, f->root);
  if (rc == 0) rc = check_crc(f, f->root);
  return rc;
}

int st_open(StFile *f, const char *path, const StTensor *want, size_t n, const bool *trains,
            const char *const *states, size_t nstates, char *err, size_t errlen) {
  *f = (StFile){.path = path, .want = want, .n = n, .trains = trains, .states = states, .nstates = nstates,
                .err = err, .errlen = errlen};
  f->begin = calloc(entries(f) + 1, sizeof *f->begin);
  f->seen = calloc(entries(f) + 1, sizeof *f->seen);
  int rc = !f->begin || !f->seen ? st_fail(f, "weights file '%s': out of memory", f->path) : 0;
  if (rc == 0) rc = read_file(f);
  if (rc == 0) rc = validate(f);
  return rc;
}

void st_close(StFile *f) {
  cJSON_Delete(f->root);
  free(f->bytes);
  free(f->begin);
  free(f->seen);
  *f = (StFile){0};
}

bool st_has(const StFile *f, size_t i) { return f->seen[i]; }

void st_copy(const StFile *f, size_t i, float *dst) {
  size_t bytes = f->want[i % f->n].count * sizeof(float);
  if (f->seen[i]) memcpy(dst, f->data + f->begin[i], bytes);
  else memset(dst, 0, bytes);
}

/* The header's __metadata__ (validated: a map of strings to strings), or NULL. */
static const cJSON *meta_of(const StFile *f) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->root, "__metadata__");
  return cJSON_IsObject(meta) ? meta : NULL;
}

const char *st_meta(const StFile *f, const char *key) {
  const cJSON *meta = meta_of(f), *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
  return v ? v->valuestring : NULL;
}

size_t st_meta_count(const StFile *f) {
  const cJSON *meta = meta_of(f);
  return meta ? (size_t)cJSON_GetArraySize(meta) : 0;
}

void st_meta_at(const StFile *f, size_t i, const char **key, const char **value) {
  const cJSON *v = meta_of(f)->child;
  while (i--) v = v->next;
  *key = v->string, *value = v->valuestring;
}

int st_read(const char *path, const StTensor *want, float *const *dst, size_t n, const char *const *states,
            size_t nstates, char *err, size_t errlen) {
  char scratch[8];
  StFile f;
  int rc = st_open(&f, path ? path : "", want, n, NULL, states, nstates, err ? err : scratch,
                   err ? errlen : sizeof scratch);
  for (size_t i = 0; rc == 0 && i < n; i++) st_copy(&f, i, dst[i]);
  st_close(&f);
  return rc;
}
