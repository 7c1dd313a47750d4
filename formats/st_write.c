/* formats/st_write.c — writing a safetensors file (st_write, formats/safetensors.h):
 * the header JSON (metadata first: the model's name, the data's CRC-32, the caller's
 * strings; then one entry per tensor, in order), padded with spaces to a multiple of 8
 * bytes, then the data. Atomic: a temporary file in the same directory, flushed and
 * fsync'ed, then renamed over the target (common/outfile.h: a link is followed, a
 * device such as /dev/null written in place). */
#define _DEFAULT_SOURCE /* mkstemps (outfile.h), fsync */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crc32.h"
#include "outfile.h"
#include "safetensors.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gradc's safetensors I/O assumes a little-endian host"
#endif


/* ---- header ---- */

/* The CRC-32 of the data section: every tensor's bytes, in order. */
static uint32_t data_crc(const StTensor *t, size_t n) {
  crc_table tab;
  crc_table_init(&tab);
  uint32_t crc = 0;
  for (size_t i = 0; i < n; i++) crc = crc32_update(&tab, crc, t[i].data, t[i].count * sizeof(float));
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

static cJSON *tensor_entry(const StTensor *t, uint64_t begin) {
  cJSON *o = cJSON_CreateObject();
  int64_t offs[2] = {(int64_t)begin, (int64_t)(begin + t->count * sizeof(float))};
  if (!o) return NULL;
  if (!add(o, "dtype", cJSON_CreateString("F32")) || !add(o, "shape", int_array(t->shape, t->rank)) ||
      !add(o, "data_offsets", int_array(offs, 2)))
    return cJSON_Delete(o), NULL;
  return o;
}

/* What __metadata__ holds: the model's name, the CRC, then the caller's strings. */
typedef struct {
  const char *model;
  const char *const *keys, *const *values;
  size_t n;
} meta_list;

static cJSON *build_meta(const StTensor *t, size_t n, const meta_list *x) {
  cJSON *meta = cJSON_CreateObject();
  char crc[9];
  snprintf(crc, sizeof crc, "%08x", (unsigned)data_crc(t, n));
  bool ok = meta && add(meta, "model", cJSON_CreateString(x->model)) &&
            add(meta, "gradc_crc32", cJSON_CreateString(crc));
  for (size_t i = 0; ok && i < x->n; i++) ok = add(meta, x->keys[i], cJSON_CreateString(x->values[i]));
  if (!ok) cJSON_Delete(meta);
  return ok ? meta : NULL;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes; NULL if out of memory
 * (every cJSON allocation is checked: a header missing an entry is never written). */
static char *build_header(const StTensor *t, size_t n, const meta_list *x, size_t *len) {
  cJSON *root = cJSON_CreateObject();
  bool ok = root && add(root, "__metadata__", build_meta(t, n, x));
  uint64_t off = 0;
  for (size_t i = 0; ok && i < n; i++) {
    ok = add(root, t[i].name, tensor_entry(&t[i], off));
    off += t[i].count * sizeof(float);
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text) return NULL;
  size_t len0 = strlen(text), padded = (len0 + 7) / 8 * 8;
  char *out = malloc(padded + 1);
  if (out) {
    memcpy(out, text, len0);
    memset(out + len0, ' ', padded - len0);
    out[padded] = '\0';
    *len = padded;
  }
  cJSON_free(text);
  return out;
}

/* ---- the file ---- */

static int write_all(FILE *f, const StTensor *t, size_t n, const char *header, size_t hlen) {
  unsigned char lenbytes[8];
  for (int i = 0; i < 8; i++) lenbytes[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  if (fwrite(lenbytes, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen) return -1;
  for (size_t i = 0; i < n; i++)
    if (fwrite(t[i].data, sizeof(float), t[i].count, f) != t[i].count) return -1;
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
static int write_and_commit(const StTensor *t, size_t n, int fd, OutFile *o, const char *header, size_t hlen) {
  FILE *f = fdopen(fd, "wb");
  int rc = f ? write_all(f, t, n, header, hlen) : -1;
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

int st_write(const char *path, const StTensor *t, size_t n, const char *model, const char *const *keys,
             const char *const *values, size_t nkeys, char *err, size_t errlen) {
  unsigned long long bytes = 0; /* what st_open accepts, and no more */
  for (size_t i = 0; i < n; i++) bytes += t[i].count * sizeof(float);
  if (bytes > ST_MAX_FILE_BYTES - (1u << 20))
    return snprintf(err, errlen, "cannot save weights to '%s': %llu bytes of tensors; a weights file holds at most "
                    "4 GiB", path, bytes), -1;
  meta_list x = {model, keys, values, nkeys};
  size_t hlen = 0;
  char *header = build_header(t, n, &x, &hlen);
  if (!header) return snprintf(err, errlen, "cannot save weights to '%s': out of memory", path), -1;
  OutFile o;
  bool in_place = outfile_in_place(path); /* a device, a FIFO: no file to keep unchanged */
  int rc = 0, fd = outfile_begin(&o, path, "");
  if (fd < 0 || write_and_commit(t, n, fd, &o, header, hlen) != 0) {
    int e = errno;
    /* A full disk (ENOSPC), a quota (EDQUOT) or a file size limit (EFBIG) all end here,
     * before the rename: whatever was at path is still there, unchanged. */
    snprintf(err, errlen, "cannot save weights to '%s': %s%s", path, strerror(e),
             in_place ? "" : " (any previous file there is unchanged)");
    rc = -1;
  } else {
    sync_parent_dir(path);
  }
  free(header);
  return rc;
}
