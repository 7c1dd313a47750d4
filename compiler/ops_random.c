/* ops_random.c — dropout and modes (issue 15): DROPOUT's rows of the operator table
 * (shape, derivative, float64 evaluation) and the reference implementation of its
 * generator, Philox4x32-10 (ops_random.h has the specification). No LLVM here: the
 * backend's emitter (lower_elem.c) builds the same rounds as IR. */
#include "ops_random.h"
#include <math.h>

void gc_philox4x32(uint32_t c[4], const uint32_t k[2]) {
  uint32_t k0 = k[0], k1 = k[1];
  for (int r = 0; r < GC_PHILOX_ROUNDS; r++) {
    uint64_t p0 = (uint64_t)GC_PHILOX_M0 * c[0], p1 = (uint64_t)GC_PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0, c[1] = (uint32_t)p1, c[2] = n2, c[3] = (uint32_t)p0;
    k0 += GC_PHILOX_W0, k1 += GC_PHILOX_W1;
  }
}

uint32_t gc_dropout_draw(uint64_t seed, uint32_t salt, uint32_t i) {
  uint32_t c[4] = {i, salt, 0, 0}, k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  gc_philox4x32(c, k);
  return c[0];
}

uint64_t gc_dropout_threshold(double p) {
  double t = ceil(p * 4294967296.0); /* exact: a power-of-two scaling */
  return t <= 0 ? 0 : t >= 4294967296.0 ? (uint64_t)1 << 32 : (uint64_t)t;
}

float gc_dropout_scale(double p) { return (float)(1.0 / (double)(float)(1.0 - p)); }

uint32_t gc_dropout_salt(SrcLoc loc) { return (uint32_t)loc.line * 65536u + (uint32_t)loc.col; }

const char *shape_dropout(Graph *g, Node *n) {
  Node *x = n->in[0];
  n->shape = x->shape;
  if (x->dtype != DT_F32)
    return arena_printf(g->arena, "'dropout' needs f32 operands, but its operand is %s", dtype_name(x->dtype));
  return NULL;
}

/* y = x * m with m this element's 0 or scale: dx = dy * m, the same mask drawn again
 * (same seed, site and index), so nothing is saved between forward and backward. */
void grad_dropout(Graph *g, Node *n, Node *dy, Node **dx) {
  dx[0] = g_dropout(g, dy, node_dropout(n)->p, node_dropout(n)->salt);
}

void ev_dropout(const Node *n, uint64_t seed, double *out, const double *x) {
  const DropoutAttr *a = node_dropout(n);
  uint64_t t = gc_dropout_threshold(a->p);
  double s = gc_dropout_scale(a->p);
  int64_t cnt = shape_count(n->shape);
  for (int64_t i = 0; i < cnt; i++) out[i] = x[i] * (gc_dropout_draw(seed, a->salt, (uint32_t)i) >= t ? s : 0.0);
}
