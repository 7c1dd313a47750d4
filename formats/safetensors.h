/* formats/safetensors.h — the safetensors file format as gradc writes and reads it
 * (docs/FORMATS.md), apart from any model: library gradc_formats, which depends on
 * libc and cJSON only. The runtime's gradc_save / gradc_load / checkpoints
 * (runtime/safetensors.c) and the compiler's --weights (compiler/weights.c) are built
 * on it.
 *
 * The file: 8-byte little-endian header length N, N bytes of JSON header padded with
 * spaces so the data is 8-byte aligned, then the raw little-endian F32 data. gradc's
 * header starts with "__metadata__": {"model": NAME, "gradc_crc32": CRC, ...}, CRC the
 * CRC-32 (IEEE 802.3, as zlib's crc32) of the data section as 8 lowercase hex digits;
 * reading verifies it when the key is present (files of other writers lack it).
 *
 * Writing is atomic (common/outfile.h). Reading validates the whole file against the
 * tensors the caller expects (names, dtypes, shapes, byte ranges, nothing missing or
 * extra but optional state: "NAME.STATE" beside a tensor NAME, for STATE among the
 * caller's state names — a checkpoint's optimizer state, "w.momentum", "w.exp_avg")
 * before anything is copied. Every message names the file
 * and the tensor. Nothing here aborts, exits or prints. */
#ifndef GRADC_FORMATS_SAFETENSORS_H
#define GRADC_FORMATS_SAFETENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest file st_open reads; st_write refuses tensors of more than that less 1 MiB
 * (room for the header). */
#define ST_MAX_FILE_BYTES (4ull << 30)

/* A tensor of a file: F32, of shape[0..rank) (count elements). data: the values, when
 * writing; unused when reading. */
typedef struct {
  const char *name;
  int rank;
  const int64_t *shape;
  size_t count;
  const float *data;
} StTensor;

/* ---- writing ---- */

/* Writes t[0..n) to path, atomically, with "__metadata__": {"model": model,
 * "gradc_crc32": CRC, keys[i]: values[i] for i < nkeys}. 0, or -1 with the message
 * ("cannot save weights to 'PATH': ...") in err; on failure whatever was at path is
 * unchanged. */
int st_write(const char *path, const StTensor *t, size_t n, const char *model, const char *const *keys,
             const char *const *values, size_t nkeys, char *err, size_t errlen);

/* ---- reading ---- */

/* A file being read against want[0..n) (required) and, as entry (1 + s) n + i, the
 * optional state "NAME.STATE" of want[i] for STATE = states[s] (same dtype and shape).
 * Read the fields through the functions below. */
typedef struct {
  const char *path;
  unsigned char *bytes;
  size_t size;
  const unsigned char *data; /* the data section */
  size_t data_len;
  const StTensor *want; /* the tensors expected, and nothing else */
  size_t n;
  const bool *trains; /* which want[i] may have state; NULL: any (validated, skipped) */
  const char *const *states; /* the optional states' names */
  size_t nstates;
  size_t *begin;      /* per entry ((1 + nstates) n): byte offset of its data within the section */
  bool *seen;
  const char *model;  /* __metadata__.model, if the file says (for messages) */
  struct cJSON *root; /* the header, once valid */
  char *err;
  size_t errlen;
} StFile;

/* Reads and validates path against want[0..n) and their optional states[0..nstates)
 * (state of a want[i] with trains[i] false is an error, when trains is not NULL). 0, or
 * -1 with the message in err. Call st_close after either. */
int st_open(StFile *f, const char *path, const StTensor *want, size_t n, const bool *trains,
            const char *const *states, size_t nstates, char *err, size_t errlen);
void st_close(StFile *f);
/* Whether the file holds entry i (i < n: always, once open; (1 + s) n + i: want[i]'s
 * state s). */
bool st_has(const StFile *f, size_t i);
/* Entry i's data into dst (its want's count floats); an absent entry as zeros. */
void st_copy(const StFile *f, size_t i, float *dst);
/* The __metadata__ string under key, or NULL; and its entries in order (key and value
 * of entry i < st_meta_count). */
const char *st_meta(const StFile *f, const char *key);
size_t st_meta_count(const StFile *f);
void st_meta_at(const StFile *f, size_t i, const char **key, const char **value);
/* A message about the open file into its err (a check of the caller's); returns -1. */
int st_fail(StFile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The whole read: want[i]'s data into dst[i], all or nothing (on error, -1 with the
 * message naming the tensor in err, and nothing written). State entries (of states) are
 * validated and skipped. path NULL reads as ""; err may be NULL. */
int st_read(const char *path, const StTensor *want, float *const *dst, size_t n, const char *const *states,
            size_t nstates, char *err, size_t errlen);

#endif
