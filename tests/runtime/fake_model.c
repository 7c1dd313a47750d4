/* tests/runtime/fake_model.c — a hand-written stand-in for a gradc-compiled shared
 * object, so the runtime can be tested without the compiler:
 *
 *   model fake
 *   input  x : f32[4]
 *   param  w : f32[4] = randn          (init normal std 1)
 *   param  b : f32[]  = 0.5
 *   param  s : f32[2] = ones frozen
 *   y    = x * w + b                   (s is passed but unused)
 *   loss = mean(y)
 *   output y
 *   minimize loss
 *
 * fake_backward runs forward and ADDS dloss/dw = x/4 and dloss/db = 1 into the grads,
 * as the ABI requires. Every entry point checks that all its buffers are 64-byte
 * aligned and poisons y (NaN) if not. The workspace holds x*w between the two steps.
 *
 * FAKE_VARIANT selects broken or reduced builds for the loader's error tests:
 *   0 the model above; 1 descriptor version 2; 2 malformed descriptor JSON;
 *   3 --inference (no backward, loss null); 4 no descriptor symbol at all;
 *   5 the descriptor names an entry point the object does not define;
 *   6 the descriptor names a parallel-runner setter ("parallel") the object lacks.
 * It does not implement anything beyond that one model. */
#include <stdint.h>

#ifndef FAKE_VARIANT
#define FAKE_VARIANT 0
#endif

#define FAKE_NAN (0.0f / 0.0f)

static int aligned(const void *p) {
  return ((uintptr_t)p & 63u) == 0;
}

static int all_aligned(const void *const *ps, int n) {
  for (int i = 0; i < n; i++)
    if (!aligned(ps[i])) return 0;
  return 1;
}

/* y = x*w + b via the workspace; returns the loss mean(y). */
static float run_forward(const float *x, const float *w, const float *b, float *y, void *ws) {
  float *t = (float *)ws;
  float sum = 0.0f;
  for (int i = 0; i < 4; i++) t[i] = x[i] * w[i];
  for (int i = 0; i < 4; i++) {
    y[i] = t[i] + b[0];
    sum += y[i];
  }
  return sum / 4.0f;
}

static void poison(float *y) {
  for (int i = 0; i < 4; i++) y[i] = FAKE_NAN;
}

#if FAKE_VARIANT == 3
void fake_forward(const float *x, const float *w, const float *b, const float *s, float *y, void *ws) {
  const void *ps[] = {x, w, b, s, y, ws};
  if (!all_aligned(ps, 6)) {
    poison(y);
    return;
  }
  (void)run_forward(x, w, b, y, ws);
}
#else
void fake_forward(const float *x, const float *w, const float *b, const float *s, float *y, float *loss,
                  void *ws) {
  const void *ps[] = {x, w, b, s, y, ws};
  if (!all_aligned(ps, 6)) {
    poison(y);
    return;
  }
  *loss = run_forward(x, w, b, y, ws);
}

void fake_backward(const float *x, const float *w, const float *b, const float *s, float *gw, float *gb,
                   float *y, float *loss, void *ws) {
  const void *ps[] = {x, w, b, s, gw, gb, y, ws};
  if (!all_aligned(ps, 8)) {
    poison(y);
    return;
  }
  *loss = run_forward(x, w, b, y, ws);
  for (int i = 0; i < 4; i++) gw[i] += x[i] / 4.0f; /* dloss/dy_i = 1/4, dy_i/dw_i = x_i */
  gb[0] += 1.0f;                                    /* sum of dloss/dy_i */
}
#endif

#define TENSORS                                                                                 \
  "\"tensors\": ["                                                                              \
  "{\"name\": \"x\", \"role\": \"input\", \"dtype\": \"f32\", \"shape\": [4]},"                \
  "{\"name\": \"w\", \"role\": \"param\", \"dtype\": \"f32\", \"shape\": [4], \"trainable\": true," \
  " \"init\": {\"kind\": \"normal\", \"std\": 1.0}},"                                           \
  "{\"name\": \"b\", \"role\": \"param\", \"dtype\": \"f32\", \"shape\": [], \"trainable\": true," \
  " \"init\": {\"kind\": \"const\", \"value\": 0.5}},"                                          \
  "{\"name\": \"s\", \"role\": \"param\", \"dtype\": \"f32\", \"shape\": [2], \"trainable\": false," \
  " \"init\": {\"kind\": \"const\", \"value\": 1}},"                                            \
  "{\"name\": \"y\", \"role\": \"output\", \"dtype\": \"f32\", \"shape\": [4]}],"

#define FORWARD_ARGS "\"input:x\", \"param:w\", \"param:b\", \"param:s\", \"output:y\""
#define BACKWARD_ARGS "\"input:x\", \"param:w\", \"param:b\", \"param:s\", \"grad:w\", \"grad:b\", \"output:y\""

#if FAKE_VARIANT == 1
#define VERSION "2"
#else
#define VERSION "1"
#endif

#if FAKE_VARIANT == 3
static const char desc[] =
    "{\"gradc\": 1, \"model\": \"fake\", \"workspace_bytes\": 16, \"loss\": null," TENSORS
    "\"entries\": [{\"name\": \"fake_forward\", \"kind\": \"forward\", \"args\": [" FORWARD_ARGS
    ", \"workspace\"]}]}";
#elif FAKE_VARIANT == 2
static const char desc[] = "{\"gradc\": 1, \"model\": \"fake\", \"workspace_bytes\": 16, " TENSORS;
#else
#if FAKE_VARIANT == 5
#define BACKWARD_NAME "fake_missing"
#else
#define BACKWARD_NAME "fake_backward"
#endif
#if FAKE_VARIANT == 6
#define PARALLEL "\"parallel\": \"fake_set_parallel\", "
#else
#define PARALLEL ""
#endif
static const char desc[] =
    "{\"gradc\": " VERSION ", \"model\": \"fake\", \"workspace_bytes\": 16, " PARALLEL "\"loss\": \"loss\"," TENSORS
    "\"entries\": ["
    "{\"name\": \"fake_forward\", \"kind\": \"forward\", \"args\": [" FORWARD_ARGS
    ", \"loss\", \"workspace\"]},"
    "{\"name\": \"fake_future_entry\", \"kind\": \"some_future_kind\", \"args\": [\"lr\"]},"
    "{\"name\": \"" BACKWARD_NAME "\", \"kind\": \"backward\", \"args\": [" BACKWARD_ARGS
    ", \"loss\", \"workspace\"]}]}";
#endif

const char *fake_descriptor(void) {
  return desc;
}

#if FAKE_VARIANT != 4
const char *gradc_model_descriptor(void) {
  return desc;
}
#endif
