/* runtime/safetensors.c — gradc_save and gradc_load: a model's parameters as a
 * safetensors file (8-byte little-endian header length N, N bytes of JSON header padded
 * with spaces so the data is 8-byte aligned, then the raw little-endian F32 data; one
 * entry per param under its name, "__metadata__": {"model": NAME, "gradc_crc32": CRC}).
 *
 * CRC is the CRC-32 (IEEE 802.3, as zlib's crc32) of the data section, as 8 lowercase
 * hex digits (safetensors metadata values are strings). Loading verifies it when the
 * key is present and refuses a mismatch; files without it (other writers) still load.
 *
 * Save is atomic: a temporary file in the same directory, flushed and fsync'ed, then
 * renamed over the target (common/outfile.h: a link is followed, a device such as
 * /dev/null written in place). Load validates the whole file against the model (names,
 * dtypes, shapes, byte ranges, no missing or extra tensors) before it copies anything,
 * so a rejected file leaves the parameters untouched.
 *
 * It does not read other dtypes, convert shapes, or touch gradients or optimiser
 * state. Nothing here aborts, exits or prints. */
#define _DEFAULT_SOURCE /* mkstemps (outfile.h), fsync */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "host_internal.h"
#include "outfile.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gradc's safetensors I/O assumes a little-endian host"
#endif

#define MAX_FILE_BYTES (4ull << 30)
#define MAX_HEADER_BYTES (100ull << 20)

/* ---- CRC-32 (IEEE: reflected polynomial 0xEDB88320, initial and final xor ~0) ---- */

typedef struct {
  uint32_t t[256];
} crc_table;

static void crc_table_init(crc_table *tab) { /* ~2k operations: per call, no shared state */
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    tab->t[i] = c;
  }
}

/* Continues crc (start with 0) over n bytes. */
static uint32_t crc32_update(const crc_table *tab, uint32_t crc, const void *p, size_t n) {
  const unsigned char *b = p;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = tab->t[(crc ^ b[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

static bool is_param(const gradc_model *m, size_t i) {
  return m->desc.tensors[i].info.role == GRADC_ROLE_PARAM;
}

/* ---- header ---- */

/* The CRC-32 of the data section gradc_save writes: every param's bytes, in order. */
static uint32_t data_crc(const gradc_model *m) {
  crc_table tab;
  crc_table_init(&tab);
  uint32_t crc = 0;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (is_param(m, i)) crc = crc32_update(&tab, crc, m->buf[i], m->desc.tensors[i].info.count * sizeof(float));
  return crc;
}

/* Adds item to parent (an object when name is set, else an array); false, with item
 * freed, if item is NULL (out of memory) or cannot be added. */
static bool add(cJSON *parent, const char *name, cJSON *item) {
  if (!item) return false;
  if (name ? cJSON_AddItemToObject(parent, name, item) : cJSON_AddItemToArray(parent, item)) return true;
  cJSON_Delete(item);
  return false;
}

static cJSON *int_array(const int64_t *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < n; i++)
    if (!add(a, NULL, cJSON_CreateNumber((double)v[i]))) return cJSON_Delete(a), NULL;
  return a;
}

static cJSON *tensor_entry(const gradc_tensor_info *ti, uint64_t begin) {
  cJSON *o = cJSON_CreateObject();
  int64_t offs[2] = {(int64_t)begin, (int64_t)(begin + ti->count * sizeof(float))};
  if (!o) return NULL;
  if (!add(o, "dtype", cJSON_CreateString("F32")) || !add(o, "shape", int_array(ti->shape, ti->rank)) ||
      !add(o, "data_offsets", int_array(offs, 2)))
    return cJSON_Delete(o), NULL;
  return o;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes; NULL if out of memory
 * (every cJSON allocation is checked: a header missing an entry is never written). */
static char *build_header(const gradc_model *m, size_t *len) {
  cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
  if (!root || !meta) return cJSON_Delete(root), cJSON_Delete(meta), NULL;
  char crc[9];
  snprintf(crc, sizeof crc, "%08x", (unsigned)data_crc(m));
  bool ok = add(meta, "model", cJSON_CreateString(m->desc.model)) && add(meta, "gradc_crc32", cJSON_CreateString(crc));
  ok = add(root, "__metadata__", meta) && ok; /* add frees meta if it fails */
  uint64_t off = 0;
  for (size_t i = 0; ok && i < m->desc.ntensors; i++) {
    if (!is_param(m, i)) continue;
    const gradc_tensor_info *ti = &m->desc.tensors[i].info;
    ok = add(root, ti->name, tensor_entry(ti, off));
    off += ti->count * sizeof(float);
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text) return NULL;
  size_t n = strlen(text), padded = (n + 7) / 8 * 8;
  char *out = malloc(padded + 1);
  if (out) {
    memcpy(out, text, n);
    memset(out + n, ' ', padded - n);
    out[padded] = '\0';
    *len = padded;
  }
  cJSON_free(text);
  return out;
}

/* ---- save ---- */

static int write_all(FILE *f, const gradc_model *m, const char *header, size_t hlen) {
  unsigned char lenbytes[8];
  for (int i = 0; i < 8; i++) lenbytes[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  if (fwrite(lenbytes, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen) return -1;
  for (size_t i = 0; i < m->desc.ntensors; i++) {
    if (!is_param(m, i)) continue;
    size_t n = m->desc.tensors[i].info.count;
    if (fwrite(m->buf[i], sizeof(float), n, f) != n) return -1;
  }
  return 0;
}

/* Make the rename durable; best effort (some file systems refuse to fsync a directory). */
static void sync_parent_dir(const char *path) {
  char *dir = strdup(path);
  if (!dir) return;
  char *slash = strrchr(dir, '/');
  const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
  int fd = open(d, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

/* Writes the file through o's temporary (whose descriptor is fd), flushed to disk, and
 * commits it (rename over the target); on failure the temporary is removed, errno set. */
static int write_and_commit(const gradc_model *m, int fd, OutFile *o, const char *header, size_t hlen) {
  FILE *f = fdopen(fd, "wb");
  int rc = f ? write_all(f, m, header, hlen) : -1;
  if (rc == 0 && fflush(f) != 0) rc = -1;
  if (rc == 0 && fsync(fd) != 0) rc = -1;
  int saved = errno;
  if ((f ? fclose(f) : close(fd)) != 0 && rc == 0) rc = -1, saved = errno;
  errno = saved;
  if (rc) {
    outfile_abort(o);
    errno = saved;
    return -1;
  }
  return outfile_commit(o, 0666);
}

int gradc_save(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path || !*path) return gradc__fail(m, "cannot save weights: no path given");
  unsigned long long bytes = 0; /* what gradc_load accepts, and no more */
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (is_param(m, i)) bytes += m->desc.tensors[i].info.count * sizeof(float);
  if (bytes > MAX_FILE_BYTES - (1u << 20))
    return gradc__fail(m, "cannot save weights to '%s': %llu bytes of parameters; a weights file holds at most 4 GiB",
                       path, bytes);
  size_t hlen = 0;
  char *header = build_header(m, &hlen);
  if (!header) return gradc__fail(m, "cannot save weights to '%s': out of memory", path);
  OutFile o;
  bool in_place = outfile_in_place(path); /* a device, a FIFO: no file to keep unchanged */
  int rc = 0, fd = outfile_begin(&o, path, "");
  if (fd < 0 || write_and_commit(m, fd, &o, header, hlen) != 0) {
    int e = errno;
    /* A full disk (ENOSPC), a quota (EDQUOT) or a file size limit (EFBIG) all end here,
     * before the rename: whatever was at path is still there, unchanged. */
    rc = gradc__fail(m, "cannot save weights to '%s': %s%s", path, strerror(e),
                     in_place ? "" : " (any previous file there is unchanged)");
  } else {
    sync_parent_dir(path);
  }
  free(header);
  return rc;
}

/* ---- load ---- */

typedef struct {
  const char *path;
  unsigned char *bytes;
  size_t size;
  const unsigned char *data; /* the data section */
  size_t data_len;
  const gradc_tensor_info *want; /* the tensors expected, and nothing else */
  size_t n;
  size_t *begin; /* per tensor: byte offset of its data within the section */
  bool *seen;
  const char *model; /* __metadata__.model, if the file says (for messages) */
  char *err;
  size_t errlen;
} st_file;

static int stfail(st_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stfail(st_file *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->err, f->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int read_file(st_file *f) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
  int fd = open(f->path, O_RDONLY | O_NONBLOCK);
  FILE *fp = fd < 0 ? NULL : fdopen(fd, "rb");
  if (!fp) {
    int e = errno;
    if (fd >= 0) close(fd);
    return stfail(f, "cannot read weights file '%s': %s", f->path, strerror(e));
  }
  struct stat st;
  int rc = 0;
  if (fstat(fileno(fp), &st) != 0) rc = stfail(f, "cannot read weights file '%s': %s", f->path, strerror(errno));
  else if (!S_ISREG(st.st_mode)) rc = stfail(f, "weights file '%s' is not a regular file", f->path);
  else if ((unsigned long long)st.st_size > MAX_FILE_BYTES)
    rc = stfail(f, "weights file '%s' is larger than 4 GiB", f->path);
  if (rc == 0) {
    f->size = (size_t)st.st_size;
    f->bytes = malloc(f->size + 1);
    if (!f->bytes) rc = stfail(f, "weights file '%s': out of memory", f->path);
    else if (fread(f->bytes, 1, f->size, fp) != f->size)
      rc = stfail(f, "cannot read weights file '%s': short read", f->path);
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
static int check_shape(st_file *f, const cJSON *shape, const gradc_tensor_info *ti) {
  int64_t dims[GRADC_MAX_RANK + 1];
  int rank = 0;
  bool ok = cJSON_IsArray(shape);
  for (const cJSON *d = ok ? shape->child : NULL; d; d = d->next, rank++) {
    if (!cJSON_IsNumber(d) || !(d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0) ||
        d->valuedouble != (double)(int64_t)d->valuedouble)
      return stfail(f, "weights file '%s': tensor '%s' has a malformed shape", f->path, ti->name);
    if (rank <= GRADC_MAX_RANK) dims[rank] = (int64_t)d->valuedouble;
  }
  if (!ok) return stfail(f, "weights file '%s': tensor '%s' has no shape array", f->path, ti->name);
  bool same = rank == ti->rank;
  for (int i = 0; same && i < rank; i++) same = dims[i] == ti->shape[i];
  if (same) return 0;
  char got[256], want[256];
  if (rank > GRADC_MAX_RANK) snprintf(got, sizeof got, "rank %d", rank);
  else format_shape(got, sizeof got, dims, rank);
  format_shape(want, sizeof want, ti->shape, ti->rank);
  return stfail(f, "weights file '%s': tensor '%s' has shape %s, model expects %s", f->path, ti->name,
                     got, want);
}

/* data_offsets must be [begin, end] inside the data section, of the param's byte size. */
static int check_offsets(st_file *f, const cJSON *offs, size_t i) {
  const gradc_tensor_info *ti = &f->want[i];
  double v[2];
  int n = 0;
  bool ok = cJSON_IsArray(offs) && cJSON_GetArraySize(offs) == 2;
  for (const cJSON *d = ok ? offs->child : NULL; d; d = d->next) {
    ok = ok && cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0 &&
         d->valuedouble == (double)(int64_t)d->valuedouble;
    v[n++ % 2] = ok ? d->valuedouble : 0;
  }
  if (!ok) return stfail(f, "weights file '%s': tensor '%s' has malformed data_offsets", f->path, ti->name);
  uint64_t b = (uint64_t)v[0], e = (uint64_t)v[1], want = (uint64_t)ti->count * sizeof(float);
  if (b > e || e > f->data_len)
    return stfail(f, "weights file '%s': tensor '%s' has data_offsets [%llu, %llu] outside the data section (%zu bytes)",
                       f->path, ti->name, (unsigned long long)b, (unsigned long long)e, f->data_len);
  if (e - b != want)
    return stfail(f, "weights file '%s': tensor '%s' has %llu bytes of data, model expects %llu", f->path,
                       ti->name, (unsigned long long)(e - b), (unsigned long long)want);
  f->begin[i] = (size_t)b;
  return 0;
}

static int check_entry(st_file *f, const cJSON *t) {
  long i = -1;
  for (size_t k = 0; k < f->n && i < 0; k++)
    if (strcmp(f->want[k].name, t->string) == 0) i = (long)k;
  if (i < 0)
    return stfail(f, "weights file '%s': unexpected tensor '%.200s' (the model has no parameter of that name%s%.200s%s)",
                  f->path, t->string, f->model ? "; the file holds weights of model '" : "", f->model ? f->model : "",
                  f->model ? "'" : "");
  if (f->seen[i]) return stfail(f, "weights file '%s': tensor '%s' appears twice", f->path, t->string);
  f->seen[i] = true;
  if (!cJSON_IsObject(t)) return stfail(f, "weights file '%s': tensor '%s' is not an object", f->path, t->string);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  if (!cJSON_IsString(dt))
    return stfail(f, "weights file '%s': tensor '%s' has no dtype", f->path, t->string);
  if (strcmp(dt->valuestring, "F32") != 0)
    return stfail(f, "weights file '%s': tensor '%s' has dtype %.40s, model expects F32", f->path,
                       t->string, dt->valuestring);
  const gradc_tensor_info *ti = &f->want[i];
  if (check_shape(f, cJSON_GetObjectItemCaseSensitive(t, "shape"), ti)) return -1;
  return check_offsets(f, cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), (size_t)i);
}

/* The tensors' byte ranges tile the data section: no overlap, no gap, nothing after
 * (as the safetensors format requires). Every param has at least one element. */
static int check_tiling(st_file *f) {
  size_t at = 0;
  for (size_t done = 0; done < f->n; done++) { /* the next range starts where the last ended */
    size_t k = 0;
    while (k < f->n && f->begin[k] != at) k++;
    if (k == f->n)
      return stfail(f, "weights file '%s': the tensors' data_offsets overlap or leave a gap at byte %zu of the data",
                    f->path, at);
    at += f->want[k].count * sizeof(float);
  }
  if (at != f->data_len)
    return stfail(f, "weights file '%s': %zu bytes after the last tensor's data", f->path, f->data_len - at);
  return 0;
}

static int check_header(st_file *f, const cJSON *root) {
  if (!cJSON_IsObject(root)) return stfail(f, "weights file '%s': the header is not a JSON object", f->path);
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
        return stfail(f, "weights file '%s': __metadata__ %s", f->path,
                      strings ? "appears twice" : "is not a map of strings to strings");
      continue;
    }
    if (check_entry(f, t)) return -1;
  }
  for (size_t i = 0; i < f->n; i++)
    if (!f->seen[i]) return stfail(f, "weights file '%s': missing tensor '%s'", f->path, f->want[i].name);
  return check_tiling(f);
}

/* "__metadata__": {"gradc_crc32": "8 hex digits"}, when present, must match the data
 * section. Absent (another writer, or no metadata at all): nothing to check. */
static int check_crc(st_file *f, const cJSON *root) {
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
    return stfail(f, "weights file '%s': __metadata__.gradc_crc32 is not a checksum (8 hex digits)", f->path);
  crc_table tab;
  crc_table_init(&tab);
  if (crc32_update(&tab, 0, f->data, f->data_len) != want)
    return stfail(f, "weights file '%s': checksum mismatch: the data was corrupted on disk", f->path);
  return 0;
}

static bool all_space(const unsigned char *p, const unsigned char *end) {
  for (; p < end; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return false;
  return true;
}

/* Everything but the copy: the framing, the JSON, every tensor. */
static int validate(st_file *f) {
  if (f->size < 8)
    return stfail(f, "weights file '%s' is truncated: %zu bytes, shorter than the 8-byte header length",
                       f->path, f->size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | f->bytes[i];
  if (n > MAX_HEADER_BYTES)
    return stfail(f, "weights file '%s': header length %llu exceeds the 100 MB limit", f->path, (unsigned long long)n);
  if (n > f->size - 8)
    return stfail(f, "weights file '%s' is truncated: header length %llu exceeds the %zu bytes after it", f->path,
                       (unsigned long long)n, f->size - 8);
  f->data = f->bytes + 8 + n;
  f->data_len = f->size - 8 - (size_t)n;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)f->bytes + 8, (size_t)n, &end, 0);
  if (!root || !all_space((const unsigned char *)end, f->data))
    return cJSON_Delete(root), stfail(f, "weights file '%s': the header is not valid JSON", f->path);
  int rc = check_header(f, root);
  if (rc == 0) rc = check_crc(f, root);
  cJSON_Delete(root);
  return rc;
}

int gradc_read_safetensors(const char *path, const gradc_tensor_info *want, float *const *dst, size_t n, char *err,
                           size_t errlen) {
  char scratch[8];
  st_file f = {.path = path ? path : "", .want = want, .n = n, .err = err ? err : scratch,
               .errlen = err ? errlen : sizeof scratch};
  f.begin = calloc(n + 1, sizeof *f.begin);
  f.seen = calloc(n + 1, sizeof *f.seen);
  int rc = !f.begin || !f.seen ? stfail(&f, "weights file '%s': out of memory", f.path) : 0;
  if (rc == 0) rc = read_file(&f);
  if (rc == 0) rc = validate(&f);
  for (size_t i = 0; rc == 0 && i < n; i++) memcpy(dst[i], f.data + f.begin[i], want[i].count * sizeof(float));
  free(f.bytes);
  free(f.begin);
  free(f.seen);
  return rc;
}

int gradc_load(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path) return gradc__fail(m, "cannot load weights: no path given");
  gradc_tensor_info *want = calloc(m->desc.ntensors + 1, sizeof *want);
  float **dst = calloc(m->desc.ntensors + 1, sizeof *dst);
  size_t n = 0;
  for (size_t i = 0; want && dst && i < m->desc.ntensors; i++)
    if (is_param(m, i)) want[n] = m->desc.tensors[i].info, dst[n++] = m->buf[i];
  char err[1024];
  int rc = !want || !dst ? gradc__fail(m, "weights file '%s': out of memory", path) : 0;
  if (rc == 0 && gradc_read_safetensors(path, want, dst, n, err, sizeof err)) rc = gradc__fail(m, "%s", err);
  free(want);
  free(dst);
  return rc;
}
