/* runtime/safetensors.c — gradc_save / gradc_load (a model's parameters as a
 * safetensors file) and gradc_save_checkpoint / gradc_load_checkpoint (the same with the
 * optimiser's state). The format: 8-byte little-endian header length N, N bytes of JSON
 * header padded with spaces so the data is 8-byte aligned, then the raw little-endian
 * F32 data; one entry per param under its name, then (a checkpoint with momentum) one
 * per trainable param's momentum buffer under "NAME.momentum";
 * "__metadata__": {"model": NAME, "gradc_crc32": CRC, ...}, a checkpoint adding
 * "gradc_momentum", "gradc_weight_decay" and its caller's strings.
 *
 * CRC is the CRC-32 (IEEE 802.3, as zlib's crc32) of the data section, as 8 lowercase
 * hex digits (safetensors metadata values are strings). Loading verifies it when the
 * key is present and refuses a mismatch; files without it (other writers) still load.
 *
 * Save is atomic: a temporary file in the same directory, flushed and fsync'ed, then
 * renamed over the target (common/outfile.h: a link is followed, a device such as
 * /dev/null written in place). Load validates the whole file against the model (names,
 * dtypes, shapes, byte ranges, no missing or extra tensors; optimiser state is allowed
 * beside the parameters, and skipped by gradc_load) before it copies anything, so a
 * rejected file leaves the model untouched.
 *
 * It does not read other dtypes or convert shapes. Nothing here aborts, exits or
 * prints. */
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

/* ---- what a file holds ---- */

/* One tensor of a file being written: a parameter, or a trainable parameter's momentum
 * buffer under "NAME.momentum". */
typedef struct {
  char *name; /* malloc'd */
  const gradc_tensor_info *info;
  const float *data;
} saved_tensor;

typedef struct {
  saved_tensor *t;
  size_t n;
} saved_list;

static void saved_free(saved_list *l) {
  for (size_t i = 0; l->t && i < l->n; i++) free(l->t[i].name);
  free(l->t);
}

static bool saved_add(saved_list *l, const gradc_tensor_info *ti, const float *data, const char *suffix) {
  size_t len = strlen(ti->name) + strlen(suffix) + 1;
  char *name = malloc(len);
  if (!name) return false;
  snprintf(name, len, "%s%s", ti->name, suffix);
  l->t[l->n++] = (saved_tensor){name, ti, data};
  return true;
}

/* Every parameter in order; with optimiser state, then every momentum buffer in order. */
static int saved_of(const gradc_model *m, bool state, saved_list *l) {
  l->n = 0;
  l->t = calloc(2 * m->desc.ntensors + 1, sizeof *l->t);
  bool ok = l->t != NULL;
  for (size_t i = 0; ok && i < m->desc.ntensors; i++)
    if (is_param(m, i)) ok = saved_add(l, &m->desc.tensors[i].info, m->buf[i], "");
  for (size_t i = 0; ok && state && i < m->desc.ntensors; i++)
    if (m->mom[i]) ok = saved_add(l, &m->desc.tensors[i].info, m->mom[i], GRADC_MOMENTUM_SUFFIX);
  if (!ok) saved_free(l);
  return ok ? 0 : -1;
}

/* ---- header ---- */

/* The CRC-32 of the data section: every saved tensor's bytes, in order. */
static uint32_t data_crc(const saved_list *l) {
  crc_table tab;
  crc_table_init(&tab);
  uint32_t crc = 0;
  for (size_t i = 0; i < l->n; i++) crc = crc32_update(&tab, crc, l->t[i].data, l->t[i].info->count * sizeof(float));
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

/* What a checkpoint adds to __metadata__: the optimiser's settings, then the caller's. */
typedef struct {
  bool state;
  const char *const *keys, *const *values;
  size_t n;
} save_extra;

static bool add_number(cJSON *meta, const char *key, float v) {
  char s[32];
  snprintf(s, sizeof s, "%.9g", (double)v);
  return add(meta, key, cJSON_CreateString(s));
}

static cJSON *build_meta(const gradc_model *m, const saved_list *l, const save_extra *x) {
  cJSON *meta = cJSON_CreateObject();
  char crc[9];
  snprintf(crc, sizeof crc, "%08x", (unsigned)data_crc(l));
  bool ok = meta && add(meta, "model", cJSON_CreateString(m->desc.model)) &&
            add(meta, "gradc_crc32", cJSON_CreateString(crc));
  if (ok && x->state)
    ok = add_number(meta, GRADC_META_MOMENTUM, m->opt.momentum) &&
         add_number(meta, GRADC_META_WEIGHT_DECAY, m->opt.weight_decay);
  for (size_t i = 0; ok && i < x->n; i++) ok = add(meta, x->keys[i], cJSON_CreateString(x->values[i]));
  if (!ok) cJSON_Delete(meta);
  return ok ? meta : NULL;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes; NULL if out of memory
 * (every cJSON allocation is checked: a header missing an entry is never written). */
static char *build_header(const gradc_model *m, const saved_list *l, const save_extra *x, size_t *len) {
  cJSON *root = cJSON_CreateObject();
  bool ok = root && add(root, "__metadata__", build_meta(m, l, x));
  uint64_t off = 0;
  for (size_t i = 0; ok && i < l->n; i++) {
    ok = add(root, l->t[i].name, tensor_entry(l->t[i].info, off));
    off += l->t[i].info->count * sizeof(float);
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

static int write_all(FILE *f, const saved_list *l, const char *header, size_t hlen) {
  unsigned char lenbytes[8];
  for (int i = 0; i < 8; i++) lenbytes[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  if (fwrite(lenbytes, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen) return -1;
  for (size_t i = 0; i < l->n; i++) {
    size_t n = l->t[i].info->count;
    if (fwrite(l->t[i].data, sizeof(float), n, f) != n) return -1;
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
static int write_and_commit(const saved_list *l, int fd, OutFile *o, const char *header, size_t hlen) {
  FILE *f = fdopen(fd, "wb");
  int rc = f ? write_all(f, l, header, hlen) : -1;
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

static int save_file(gradc_model *m, const char *path, const saved_list *l, const save_extra *x) {
  unsigned long long bytes = 0; /* what gradc_load accepts, and no more */
  for (size_t i = 0; i < l->n; i++) bytes += l->t[i].info->count * sizeof(float);
  if (bytes > MAX_FILE_BYTES - (1u << 20))
    return gradc__fail(m, "cannot save weights to '%s': %llu bytes of tensors; a weights file holds at most 4 GiB",
                       path, bytes);
  size_t hlen = 0;
  char *header = build_header(m, l, x, &hlen);
  if (!header) return gradc__fail(m, "cannot save weights to '%s': out of memory", path);
  OutFile o;
  bool in_place = outfile_in_place(path); /* a device, a FIFO: no file to keep unchanged */
  int rc = 0, fd = outfile_begin(&o, path, "");
  if (fd < 0 || write_and_commit(l, fd, &o, header, hlen) != 0) {
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

/* A key the runtime writes itself, or one a reader could not tell from a tensor. */
static bool reserved_key(const char *k) {
  return !strcmp(k, "model") || !strcmp(k, "gradc_crc32") || !strcmp(k, GRADC_META_MOMENTUM) ||
         !strcmp(k, GRADC_META_WEIGHT_DECAY);
}

static int save_with(gradc_model *m, const char *path, const save_extra *x) {
  if (!m) return -1;
  if (!path || !*path) return gradc__fail(m, "cannot save weights: no path given");
  for (size_t i = 0; i < x->n; i++) {
    if (!x->keys || !x->values || !x->keys[i] || !x->values[i])
      return gradc__fail(m, "cannot save a checkpoint to '%s': metadata entry %zu is NULL", path, i);
    if (reserved_key(x->keys[i]))
      return gradc__fail(m, "cannot save a checkpoint to '%s': metadata key '%s' is the runtime's own", path,
                         x->keys[i]);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(x->keys[i], x->keys[j]))
        return gradc__fail(m, "cannot save a checkpoint to '%s': metadata key '%s' given twice", path, x->keys[i]);
  }
  saved_list l;
  /* torch keeps no momentum buffer when momentum is 0: neither does the file. */
  if (saved_of(m, x->state && m->opt.momentum != 0.0f, &l))
    return gradc__fail(m, "cannot save weights to '%s': out of memory", path);
  int rc = save_file(m, path, &l, x);
  saved_free(&l);
  return rc;
}

int gradc_save(gradc_model *m, const char *path) {
  save_extra none = {false, NULL, NULL, 0};
  return save_with(m, path, &none);
}

int gradc_save_checkpoint(gradc_model *m, const char *path, const char *const *keys, const char *const *values,
                          size_t n) {
  save_extra x = {true, keys, values, n};
  return save_with(m, path, &x);
}

/* ---- load ---- */

/* The file being read. Its entries are want[0..n) (required) and, at index n + i, the
 * optional optimiser state "NAME.momentum" of want[i] (same dtype and shape). */
typedef struct {
  const char *path;
  unsigned char *bytes;
  size_t size;
  const unsigned char *data; /* the data section */
  size_t data_len;
  const gradc_tensor_info *want; /* the tensors expected, and nothing else */
  size_t n;
  const bool *trains; /* a checkpoint's load: which want[i] may have state; NULL: any, skipped */
  size_t *begin;      /* per entry (2n): byte offset of its data within the section */
  bool *seen;
  const char *model; /* __metadata__.model, if the file says (for messages) */
  cJSON *root;       /* the header, once valid */
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
static int check_shape(st_file *f, const char *name, const cJSON *shape, const gradc_tensor_info *ti) {
  int64_t dims[GRADC_MAX_RANK + 1];
  int rank = 0;
  bool ok = cJSON_IsArray(shape);
  for (const cJSON *d = ok ? shape->child : NULL; d; d = d->next, rank++) {
    if (!cJSON_IsNumber(d) || !(d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0) ||
        d->valuedouble != (double)(int64_t)d->valuedouble)
      return stfail(f, "weights file '%s': tensor '%s' has a malformed shape", f->path, name);
    if (rank <= GRADC_MAX_RANK) dims[rank] = (int64_t)d->valuedouble;
  }
  if (!ok) return stfail(f, "weights file '%s': tensor '%s' has no shape array", f->path, name);
  bool same = rank == ti->rank;
  for (int i = 0; same && i < rank; i++) same = dims[i] == ti->shape[i];
  if (same) return 0;
  char got[256], want[256];
  if (rank > GRADC_MAX_RANK) snprintf(got, sizeof got, "rank %d", rank);
  else format_shape(got, sizeof got, dims, rank);
  format_shape(want, sizeof want, ti->shape, ti->rank);
  return stfail(f, "weights file '%s': tensor '%s' has shape %s, model expects %s", f->path, name, got, want);
}

/* data_offsets must be [begin, end] inside the data section, of the entry's byte size. */
static int check_offsets(st_file *f, const char *name, const cJSON *offs, size_t i) {
  const gradc_tensor_info *ti = &f->want[i % f->n];
  double v[2];
  int n = 0;
  bool ok = cJSON_IsArray(offs) && cJSON_GetArraySize(offs) == 2;
  for (const cJSON *d = ok ? offs->child : NULL; d; d = d->next) {
    ok = ok && cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 9007199254740992.0 &&
         d->valuedouble == (double)(int64_t)d->valuedouble;
    v[n++ % 2] = ok ? d->valuedouble : 0;
  }
  if (!ok) return stfail(f, "weights file '%s': tensor '%s' has malformed data_offsets", f->path, name);
  uint64_t b = (uint64_t)v[0], e = (uint64_t)v[1], want = (uint64_t)ti->count * sizeof(float);
  if (b > e || e > f->data_len)
    return stfail(f, "weights file '%s': tensor '%s' has data_offsets [%llu, %llu] outside the data section (%zu bytes)",
                  f->path, name, (unsigned long long)b, (unsigned long long)e, f->data_len);
  if (e - b != want)
    return stfail(f, "weights file '%s': tensor '%s' has %llu bytes of data, model expects %llu", f->path, name,
                  (unsigned long long)(e - b), (unsigned long long)want);
  f->begin[i] = (size_t)b;
  return 0;
}

/* The entry a header name stands for: i for want[i], n + i for its momentum, or -1. */
static long entry_of(const st_file *f, const char *name) {
  for (size_t k = 0; k < f->n; k++)
    if (strcmp(f->want[k].name, name) == 0) return (long)k;
  size_t len = strlen(name), sl = strlen(GRADC_MOMENTUM_SUFFIX);
  if (len <= sl || strcmp(name + len - sl, GRADC_MOMENTUM_SUFFIX)) return -1;
  for (size_t k = 0; k < f->n; k++)
    if (strlen(f->want[k].name) == len - sl && !strncmp(f->want[k].name, name, len - sl)) return (long)(f->n + k);
  return -1;
}

static int check_entry(st_file *f, const cJSON *t) {
  long i = entry_of(f, t->string);
  if (i < 0)
    return stfail(f, "weights file '%s': unexpected tensor '%.200s' (the model has no parameter of that name%s%.200s%s)",
                  f->path, t->string, f->model ? "; the file holds weights of model '" : "", f->model ? f->model : "",
                  f->model ? "'" : "");
  if (f->seen[i]) return stfail(f, "weights file '%s': tensor '%s' appears twice", f->path, t->string);
  f->seen[i] = true;
  const gradc_tensor_info *ti = &f->want[(size_t)i % f->n];
  if ((size_t)i >= f->n && f->trains && !f->trains[i - (long)f->n])
    return stfail(f, "weights file '%s': optimiser state '%s' for parameter '%s', which this model does not train "
                  "(frozen)", f->path, t->string, ti->name);
  if (!cJSON_IsObject(t)) return stfail(f, "weights file '%s': tensor '%s' is not an object", f->path, t->string);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  if (!cJSON_IsString(dt))
    return stfail(f, "weights file '%s': tensor '%s' has no dtype", f->path, t->string);
  if (strcmp(dt->valuestring, "F32") != 0)
    return stfail(f, "weights file '%s': tensor '%s' has dtype %.40s, model expects F32", f->path,
                       t->string, dt->valuestring);
  if (check_shape(f, t->string, cJSON_GetObjectItemCaseSensitive(t, "shape"), ti)) return -1;
  return check_offsets(f, t->string, cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), (size_t)i);
}

/* The tensors' byte ranges tile the data section: no overlap, no gap, nothing after
 * (as the safetensors format requires). Every param has at least one element. */
static int check_tiling(st_file *f) {
  size_t at = 0, entries = 0;
  for (size_t k = 0; k < 2 * f->n; k++) entries += f->seen[k];
  for (size_t done = 0; done < entries; done++) { /* the next range starts where the last ended */
    size_t k = 0;
    while (k < 2 * f->n && !(f->seen[k] && f->begin[k] == at)) k++;
    if (k == 2 * f->n)
      return stfail(f, "weights file '%s': the tensors' data_offsets overlap or leave a gap at byte %zu of the data",
                    f->path, at);
    at += f->want[k % f->n].count * sizeof(float);
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

/* Everything but the copy: the framing, the JSON, every tensor. The header stays in
 * f->root. */
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
  f->root = cJSON_ParseWithLengthOpts((const char *)f->bytes + 8, (size_t)n, &end, 0);
  if (!f->root || !all_space((const unsigned char *)end, f->data))
    return stfail(f, "weights file '%s': the header is not valid JSON", f->path);
  int rc = check_header(f, f->root);
  if (rc == 0) rc = check_crc(f, f->root);
  return rc;
}

/* Reads and validates f->path against f->want[0..n) (set by the caller). */
static int st_open(st_file *f, char *err, size_t errlen) {
  f->err = err, f->errlen = errlen;
  f->begin = calloc(2 * f->n + 1, sizeof *f->begin);
  f->seen = calloc(2 * f->n + 1, sizeof *f->seen);
  int rc = !f->begin || !f->seen ? stfail(f, "weights file '%s': out of memory", f->path) : 0;
  if (rc == 0) rc = read_file(f);
  if (rc == 0) rc = validate(f);
  return rc;
}

static void st_close(st_file *f) {
  cJSON_Delete(f->root);
  free(f->bytes);
  free(f->begin);
  free(f->seen);
}

/* Entry i's data into dst; an absent entry (optimiser state the file lacks) as zeros. */
static void st_copy(const st_file *f, size_t i, float *dst) {
  size_t bytes = f->want[i % f->n].count * sizeof(float);
  if (f->seen[i]) memcpy(dst, f->data + f->begin[i], bytes);
  else memset(dst, 0, bytes);
}

int gradc_read_safetensors(const char *path, const gradc_tensor_info *want, float *const *dst, size_t n, char *err,
                           size_t errlen) {
  char scratch[8];
  st_file f = {.path = path ? path : "", .want = want, .n = n};
  int rc = st_open(&f, err ? err : scratch, err ? errlen : sizeof scratch);
  for (size_t i = 0; rc == 0 && i < n; i++) st_copy(&f, i, dst[i]);
  st_close(&f);
  return rc;
}

/* The model's parameters as the reader's want[] (and, per param, its buffers). */
typedef struct {
  gradc_tensor_info *want;
  size_t *index; /* the model's tensor index of want[k] */
  bool *trains;
  size_t n;
} param_list;

static int params_of(const gradc_model *m, param_list *p) {
  p->n = 0;
  p->want = calloc(m->desc.ntensors + 1, sizeof *p->want);
  p->index = calloc(m->desc.ntensors + 1, sizeof *p->index);
  p->trains = calloc(m->desc.ntensors + 1, sizeof *p->trains);
  if (!p->want || !p->index || !p->trains) return -1;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (is_param(m, i)) {
      p->want[p->n] = m->desc.tensors[i].info;
      p->trains[p->n] = m->mom[i] != NULL;
      p->index[p->n++] = i;
    }
  return 0;
}

static void params_free(param_list *p) {
  free(p->want);
  free(p->index);
  free(p->trains);
}

int gradc_load(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path) return gradc__fail(m, "cannot load weights: no path given");
  param_list p;
  char err[1024];
  int rc = params_of(m, &p) ? gradc__fail(m, "weights file '%s': out of memory", path) : 0;
  st_file f = {.path = path, .want = p.want, .n = p.n};
  if (rc == 0 && st_open(&f, err, sizeof err)) rc = gradc__fail(m, "%s", err);
  for (size_t k = 0; rc == 0 && k < p.n; k++) st_copy(&f, k, m->buf[p.index[k]]);
  st_close(&f);
  params_free(&p);
  return rc;
}

/* ---- checkpoints ---- */

/* A __metadata__ number the runtime wrote (%.9g of a float), finite and >= 0, into *out;
 * *out unchanged when the file has no such key (not a checkpoint). */
static int meta_hyper(st_file *f, const char *key, float *out, bool *present) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->root, "__metadata__");
  const cJSON *v = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
  *present = v != NULL;
  if (!v) return 0;
  char *end;
  errno = 0;
  double d = strtod(v->valuestring, &end);
  if (end == v->valuestring || *end || errno == ERANGE || !(d >= 0 && d <= 3.4028234663852886e38))
    return stfail(f, "weights file '%s': __metadata__.%s is '%.40s', not a number >= 0", f->path, key, v->valuestring);
  *out = (float)d;
  return 0;
}

/* The file's optimiser settings (the model's own where it records none) and state: the
 * state is whole (every trainable parameter's momentum, or none) and present when the
 * file records a momentum. */
static int file_optimiser(st_file *f, const bool *trains, float opt[2]) {
  bool has_mom, has_wd;
  if (meta_hyper(f, GRADC_META_MOMENTUM, &opt[0], &has_mom) || meta_hyper(f, GRADC_META_WEIGHT_DECAY, &opt[1], &has_wd))
    return -1;
  size_t have = 0, trainable = 0, missing = 0;
  for (size_t k = 0; k < f->n; k++) {
    trainable += trains[k];
    have += f->seen[f->n + k];
    if (trains[k] && !f->seen[f->n + k] && !missing) missing = k + 1;
  }
  if (have == 0 && (!has_mom || opt[0] == 0.0f)) return 0;
  if (missing)
    return stfail(f, "weights file '%s': missing optimiser state '%s%s' (the file holds the momentum of %zu of the "
                  "model's %zu trainable parameters)", f->path, f->want[missing - 1].name, GRADC_MOMENTUM_SUFFIX, have,
                  trainable);
  return 0;
}

/* __metadata__ as the model's copy: key, value, key, value..., NULL (malloc'd). */
static char **meta_copy(const cJSON *root) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  size_t n = cJSON_IsObject(meta) ? (size_t)cJSON_GetArraySize(meta) : 0, k = 0;
  char **out = calloc(2 * n + 1, sizeof *out);
  for (const cJSON *v = n && out ? meta->child : NULL; v; v = v->next) {
    if (!(out[k++] = strdup(v->string)) || !(out[k++] = strdup(v->valuestring))) {
      gradc__meta_free(out);
      return NULL;
    }
  }
  return out;
}

void gradc__meta_free(char **meta) {
  for (size_t i = 0; meta && meta[i]; i++) free(meta[i]);
  free(meta);
}

/* Everything checked, the copy of the metadata made: now the buffers change. */
static void commit_checkpoint(gradc_model *m, const st_file *f, const param_list *p, char **meta, const float opt[2]) {
  for (size_t k = 0; k < p->n; k++) {
    size_t i = p->index[k];
    st_copy(f, k, m->buf[i]);
    if (m->mom[i]) st_copy(f, p->n + k, m->mom[i]);
  }
  m->opt.momentum = opt[0];
  m->opt.weight_decay = opt[1];
  gradc__meta_free(m->meta);
  m->meta = meta;
}

int gradc_load_checkpoint(gradc_model *m, const char *path) {
  if (!m) return -1;
  if (!path) return gradc__fail(m, "cannot load a checkpoint: no path given");
  param_list p;
  char err[1024];
  int rc = params_of(m, &p) ? gradc__fail(m, "weights file '%s': out of memory", path) : 0;
  st_file f = {.path = path, .want = p.want, .n = p.n, .trains = p.trains};
  float opt[2] = {m->opt.momentum, m->opt.weight_decay};
  if (rc == 0 && (st_open(&f, err, sizeof err) || file_optimiser(&f, p.trains, opt)))
    rc = gradc__fail(m, "%s", err);
  char **meta = rc == 0 ? meta_copy(f.root) : NULL;
  if (rc == 0 && !meta) rc = gradc__fail(m, "weights file '%s': out of memory", path);
  if (rc == 0) commit_checkpoint(m, &f, &p, meta, opt);
  st_close(&f);
  params_free(&p);
  return rc;
}

const char *gradc_checkpoint_meta(const gradc_model *m, const char *key) {
  for (size_t i = 0; m && key && m->meta && m->meta[i]; i += 2)
    if (!strcmp(m->meta[i], key)) return m->meta[i + 1];
  return NULL;
}
