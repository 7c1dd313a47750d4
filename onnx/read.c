/* read.c — reading ONNX files: a ModelProto (protobuf-c, with the onnx.proto Debian's
 * libonnx-dev ships, compiled at build time) and the values of a TensorProto, from its
 * typed fields, its raw bytes or an external data file beside the model.
 *
 * Everything is checked before it is used: the file's size, every tensor's element count
 * against what its bytes hold, external data locations (relative, inside the model's
 * folder: a location that leaves it is refused, as onnx.checker does). */
#define _DEFAULT_SOURCE
#include "read.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (2ll << 30)  /* protobuf's own limit on a message */
#define MAX_ELEMENTS (1ll << 31)

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* The whole of a file, or NULL with a message. */
static unsigned char *slurp(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_BYTES) {
    fail(err, errlen, "'%s' is not a regular file of at most 2 GiB", path);
    fclose(f);
    return NULL;
  }
  unsigned char *b = malloc(st.st_size ? (size_t)st.st_size : 1);
  size_t n = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (!b || n != (size_t)st.st_size) {
    free(b);
    fail(err, errlen, "cannot read '%s'", path);
    return NULL;
  }
  *len = n;
  return b;
}

/* protobuf-c leaves a proto2 string that is absent NULL: the names the importer reads
 * become "" (malloc'd, as free_unpacked frees them), in subgraphs too. 0, or -1 when out
 * of memory or nested more than 64 deep. */
static int no_null(char **s) { return *s || (*s = strdup("")) ? 0 : -1; }

static int fill_names(Onnx__GraphProto *g, int depth) {
  if (depth > 64 || no_null(&g->name)) return -1;
  Onnx__ValueInfoProto **lists[] = {g->input, g->output, g->value_info};
  size_t counts[] = {g->n_input, g->n_output, g->n_value_info};
  for (int l = 0; l < 3; l++)
    for (size_t i = 0; i < counts[l]; i++)
      if (no_null(&lists[l][i]->name)) return -1;
  for (size_t i = 0; i < g->n_initializer; i++)
    if (no_null(&g->initializer[i]->name)) return -1;
  for (size_t i = 0; i < g->n_node; i++) {
    Onnx__NodeProto *n = g->node[i];
    if (no_null(&n->name) || no_null(&n->op_type) || no_null(&n->domain)) return -1;
    for (size_t j = 0; j < n->n_attribute; j++) {
      Onnx__AttributeProto *a = n->attribute[j];
      if (no_null(&a->name) || (a->t && no_null(&a->t->name)) || (a->g && fill_names(a->g, depth + 1))) return -1;
      for (size_t k = 0; k < a->n_graphs; k++)
        if (fill_names(a->graphs[k], depth + 1)) return -1;
      for (size_t k = 0; k < a->n_tensors; k++)
        if (no_null(&a->tensors[k]->name)) return -1;
    }
  }
  return 0;
}

Onnx__ModelProto *ox_read_model(const char *path, char *err, size_t errlen) {
  size_t len;
  unsigned char *b = slurp(path, &len, err, errlen);
  if (!b) return NULL;
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, b);
  free(b);
  if (!m) fail(err, errlen, "'%s' is not an ONNX model: its protobuf cannot be decoded (truncated or corrupt)", path);
  else if (!m->graph) {
    onnx__model_proto__free_unpacked(m, NULL);
    m = NULL;
    fail(err, errlen, "'%s' is not an ONNX model: it has no graph", path);
  } else if (fill_names(m->graph, 0)) {
    onnx__model_proto__free_unpacked(m, NULL);
    m = NULL;
    fail(err, errlen, "'%s': its graphs are nested more than 64 deep", path);
  }
  return m;
}

void ox_free_model(Onnx__ModelProto *m) {
  if (m) onnx__model_proto__free_unpacked(m, NULL);
}

int64_t ox_elements(const Onnx__TensorProto *t, char *err, size_t errlen) {
  int64_t n = 1;
  if (t->n_dims > 8) return fail(err, errlen, "tensor '%s' has rank %zu; at most 8 is supported", t->name ? t->name : "", t->n_dims);
  for (size_t i = 0; i < t->n_dims; i++) {
    if (t->dims[i] < 0) return fail(err, errlen, "tensor '%s' has a negative dimension", t->name ? t->name : "");
    if (t->dims[i] && n > MAX_ELEMENTS / t->dims[i])
      return fail(err, errlen, "tensor '%s' declares more than 2^31 elements", t->name ? t->name : "");
    n *= t->dims[i];
  }
  return n;
}

static size_t elem_bytes(int type) {
  switch (type) {
  case OX_T_FLOAT: case OX_T_INT32: return 4;
  case OX_T_INT64: case OX_T_DOUBLE: return 8;
  case OX_T_BOOL: case OX_T_UINT8: case OX_T_INT8: return 1;
  default: return 0;
  }
}

/* Little-endian element i of raw bytes b as a double. */
static double raw_at(const unsigned char *b, int type, int64_t i) {
  switch (type) {
  case OX_T_FLOAT: { float f; memcpy(&f, b + 4 * i, 4); return f; }
  case OX_T_INT32: { int32_t v; memcpy(&v, b + 4 * i, 4); return v; }
  case OX_T_INT64: { int64_t v; memcpy(&v, b + 8 * i, 8); return (double)v; }
  case OX_T_DOUBLE: { double v; memcpy(&v, b + 8 * i, 8); return v; }
  case OX_T_INT8: return (int8_t)b[i];
  default: return b[i]; /* bool, uint8 */
  }
}

/* An external_data number (offset, length): a non-negative decimal integer, else -1. */
static long long ext_number(const char *v) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  return !v[0] || *end || errno || n < 0 ? -1 : n;
}

/* Whether path, resolved, is inside the folder dir (resolved): a location that leaves it
 * (an absolute path, "..", a symbolic link out of it) is refused, as onnx.checker does. */
static bool inside(const char *real, const char *realdir) {
  size_t n = strlen(realdir);
  if (n == 1) return real[1] != 0; /* the folder is "/" */
  return !strncmp(real, realdir, n) && real[n] == '/';
}

/* Whether a location has a ".." component. */
static bool dotdot(const char *loc) {
  for (const char *p = loc; (p = strstr(p, "..")); p += 2)
    if ((p == loc || p[-1] == '/') && (!p[2] || p[2] == '/')) return true;
  return false;
}

/* The bytes of an external tensor: "location" relative to dir, inside it. */
static unsigned char *external(const Onnx__TensorProto *t, const char *dir, size_t need, char *err, size_t errlen) {
  const char *loc = NULL, *name = t->name ? t->name : "";
  long long off = 0, len = -1;
  for (size_t i = 0; i < t->n_external_data; i++) {
    const char *k = t->external_data[i]->key, *v = t->external_data[i]->value;
    if (!k || !v) continue;
    if (!strcmp(k, "location")) loc = v;
    else if (!strcmp(k, "offset") || !strcmp(k, "length")) {
      long long n = ext_number(v);
      if (n < 0) { fail(err, errlen, "tensor '%s': external data %s '%s' is not a non-negative integer", name, k, v); return NULL; }
      *(k[0] == 'o' ? &off : &len) = n;
    }
  }
  if (!loc || !loc[0]) { fail(err, errlen, "tensor '%s' is stored externally but names no location", name); return NULL; }
  char path[PATH_MAX], real[PATH_MAX], realdir[PATH_MAX];
  if (loc[0] == '/' || dotdot(loc) || snprintf(path, sizeof path, "%s/%s", dir, loc) >= (int)sizeof path || !realpath(dir, realdir)) {
    fail(err, errlen, "tensor '%s': external data '%s' is outside the model's folder '%s' (refused)", name, loc, dir);
    return NULL;
  }
  if (!realpath(path, real)) {
    fail(err, errlen, "tensor '%s': cannot open its external data '%s': %s", name, path, strerror(errno));
    return NULL;
  }
  if (!inside(real, realdir)) {
    fail(err, errlen, "tensor '%s': external data '%s' is outside the model's folder '%s' (refused)", name, loc, dir);
    return NULL;
  }
  size_t flen;
  unsigned char *b = slurp(real, &flen, err, errlen);
  if (!b) return NULL;
  if (len >= 0 && (unsigned long long)len != need) {
    free(b);
    fail(err, errlen, "tensor '%s': external data '%s' has length %lld, the tensor needs %zu bytes", name, loc, len, need);
    return NULL;
  }
  if ((unsigned long long)off > flen || flen - (size_t)off < need) {
    free(b);
    fail(err, errlen, "tensor '%s': external data '%s' holds %zu bytes; the tensor needs %zu at offset %lld", name, loc,
         flen, need, off);
    return NULL;
  }
  memmove(b, b + off, need);
  return b;
}

/* The typed field (float_data, int32_data, int64_data, double_data) of t's type: its
 * length, and element i as a double. */
static size_t typed_count(const Onnx__TensorProto *t) {
  return t->data_type == OX_T_FLOAT ? t->n_float_data
         : t->data_type == OX_T_INT64 ? t->n_int64_data
         : t->data_type == OX_T_DOUBLE ? t->n_double_data
         : t->n_int32_data;
}

static double typed_at(const Onnx__TensorProto *t, int64_t i) {
  return t->data_type == OX_T_FLOAT ? t->float_data[i]
         : t->data_type == OX_T_INT64 ? (double)t->int64_data[i]
         : t->data_type == OX_T_DOUBLE ? t->double_data[i]
         : t->int32_data[i];
}

double *ox_tensor_values(const Onnx__TensorProto *t, const char *dir, int64_t *count, char *err, size_t errlen) {
  const char *name = t->name ? t->name : "";
  size_t es = elem_bytes(t->data_type);
  if (!es) {
    fail(err, errlen, "tensor '%s' has element type %s; supported: float, int32, int64, bool (and double, int8, uint8 "
         "values converted)", name, ox_type_name(t->data_type));
    return NULL;
  }
  int64_t n = ox_elements(t, err, errlen);
  if (n < 0) return NULL;
  /* The data first, checked against the declared size: nothing is allocated for a size
   * the file does not hold. */
  const unsigned char *raw = NULL;
  unsigned char *ext = NULL;
  if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    raw = ext = external(t, dir ? dir : ".", (size_t)n * es, err, errlen);
    if (!ext) return NULL;
  } else if (t->has_raw_data) {
    if (t->raw_data.len != (size_t)n * es) {
      fail(err, errlen, "tensor '%s' declares %lld elements (%lld bytes) but its raw data has %zu bytes", name,
           (long long)n, (long long)n * (long long)es, t->raw_data.len);
      return NULL;
    }
    raw = t->raw_data.data;
  } else if (typed_count(t) != (size_t)n) {
    fail(err, errlen, "tensor '%s' declares %lld elements but holds %zu", name, (long long)n, typed_count(t));
    return NULL;
  }
  double *v = malloc(n ? (size_t)n * sizeof *v : sizeof *v);
  if (!v) {
    free(ext);
    fail(err, errlen, "out of memory for tensor '%s'", name);
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) v[i] = raw ? raw_at(raw, t->data_type, i) : typed_at(t, i);
  free(ext);
  *count = n;
  return v;
}

const char *ox_type_name(int type) {
  static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                      "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                      "complex128", "bfloat16"};
  return type >= 0 && type < (int)(sizeof names / sizeof *names) ? names[type] : "unknown";
}
