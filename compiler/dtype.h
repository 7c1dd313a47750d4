/* dtype.h — the element types of gradc's values, their sizes and names.
 *
 * Every value of the syntax tree (a declared input or parameter) and of the graph IR
 * (a Node) has one. Element sizes are taken from here (dtype_size; node_bytes in
 * graph.h), never written as a constant.
 *
 * Only f32 and i32 are produced today: f32 everywhere, i32 for class labels (an input
 * read by cross_entropy). i64, i8 and bool are declared, with their sizes and names,
 * for what comes next (integer indices, int8 quantisation, masks); no op takes or gives
 * them yet, and the IR verifier refuses them (verify.c).
 *
 * Depends on nothing: the compiler, the tape and the tools can all include it. */
#ifndef GRADC_DTYPE_H
#define GRADC_DTYPE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  DT_F32,  /* 32-bit IEEE float */
  DT_I32,  /* 32-bit signed integer */
  DT_I64,  /* 64-bit signed integer (declared, not produced yet) */
  DT_I8,   /* 8-bit signed integer (declared, not produced yet) */
  DT_BOOL, /* one byte, 0 or 1 (declared, not produced yet) */
  DT__COUNT
} DType;

/* Bytes per element. */
static inline size_t dtype_size(DType t) {
  switch (t) {
  case DT_F32: return 4;
  case DT_I32: return 4;
  case DT_I64: return 8;
  case DT_I8: return 1;
  case DT_BOOL: return 1;
  default: return 0;
  }
}

/* The name as the language writes it ("f32", "i32", ...); "?" for no dtype. */
static inline const char *dtype_name(DType t) {
  switch (t) {
  case DT_F32: return "f32";
  case DT_I32: return "i32";
  case DT_I64: return "i64";
  case DT_I8: return "i8";
  case DT_BOOL: return "bool";
  default: return "?";
  }
}

/* Whether t is one of the dtypes above. */
static inline bool dtype_valid(DType t) { return (unsigned)t < DT__COUNT; }

/* Whether the IR produces values of dtype t today (f32 and i32). */
static inline bool dtype_produced(DType t) { return t == DT_F32 || t == DT_I32; }

#endif
