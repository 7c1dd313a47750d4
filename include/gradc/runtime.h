/* gradc/runtime.h — the host runtime (library gradcrt): open any gradc shared object,
 * own its parameter, gradient, optimiser-state and workspace buffers, call its entry
 * points (through their NAME_packed form when the object has one, as gradc's always
 * do, else through libffi), save and load weights as safetensors.
 *
 * The runtime never depends on the compiler. The freestanding part (SGD, zeroing,
 * seeded initialisation) is in gradc/runtime_core.h and links into firmware alone.
 *
 * Functions returning int return 0 on success and a negative value on failure, with a
 * message available from gradc_error(); nothing here aborts or exits. */
#ifndef GRADC_RUNTIME_H
#define GRADC_RUNTIME_H
#include <stddef.h>
#include <stdint.h>
#include "gradc/descriptor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gradc_model gradc_model;

gradc_model *gradc_open(const char *so_path, char *err, size_t errlen);
void gradc_close(gradc_model *m);
/* Every param from its INIT under seed; also zeroes every input, output, gradient and
 * momentum buffer and makes the loss NaN: a fresh start (set inputs after it). */
int gradc_init(gradc_model *m, uint64_t seed);
/* An input, param or output by name: float, or int32_t for i32 inputs; NULL if none. */
void *gradc_tensor(gradc_model *m, const char *name, size_t *count);
float *gradc_grad(gradc_model *m, const char *param, size_t *count);
int gradc_forward(gradc_model *m);  /* no gradient work */
int gradc_backward(gradc_model *m); /* forward + backward, accumulates into grads */
float gradc_loss(const gradc_model *m);
void gradc_zero_grad(gradc_model *m);
void gradc_sgd_step(gradc_model *m, float lr); /* theta <- theta - lr * grad (+ momentum, decay) */
int gradc_train_step(gradc_model *m, float lr); /* zero_grad, backward, sgd_step; lr finite, >= 0 */
int gradc_save(gradc_model *m, const char *path); /* safetensors, atomic */
int gradc_load(gradc_model *m, const char *path);
const char *gradc_error(const gradc_model *m);

/* ---- Introspection, weights, threads and optimiser options (used by the gradc driver;
 * docs/RUNTIME.md). ---- */

typedef enum { GRADC_ROLE_INPUT, GRADC_ROLE_PARAM, GRADC_ROLE_OUTPUT } gradc_role;
typedef enum { GRADC_F32, GRADC_I32 } gradc_dtype;

typedef struct {
  const char *name;
  gradc_role role;
  gradc_dtype dtype;
  int rank;
  int64_t shape[GRADC_MAX_RANK];
  size_t count;  /* elements */
  int trainable; /* params: 1 unless frozen */
  int batched;   /* dim 0 is the model's batch dimension (`batch N`) */
  int64_t classes; /* i32 inputs used as class labels: the number of classes, else 0 */
} gradc_tensor_info;

const char *gradc_model_name(const gradc_model *m);
int gradc_has_loss(const gradc_model *m);
int gradc_has_backward(const gradc_model *m);
size_t gradc_num_tensors(const gradc_model *m);
const gradc_tensor_info *gradc_tensor_at(const gradc_model *m, size_t i);
/* Reads the F32 tensors of a safetensors file into dst[i] (want[i].count floats each),
 * after validating the framing, the JSON header and every name, dtype, shape and byte
 * range against want[0..n): no tensor missing, none extra. All or nothing: on error
 * (-1, message in err naming the tensor) nothing is written. */
int gradc_read_safetensors(const char *path, const gradc_tensor_info *want, float *const *dst, size_t n, char *err,
                           size_t errlen);

/* The threads the model's large matrix products run on (an object compiled with parts,
 * see `gradc compile --threads`): 1, one after the other on the caller's thread; any
 * other n, the process's thread pool, which has GRADC_THREADS threads (a whole number,
 * at most 64; else the machine's online cores) and is shared by every model; a child
 * process after fork() runs on its own thread only. gradc_open does
 * gradc_set_threads(m, 0). Returns the number of threads now in effect (1 for a model
 * without parts). Not to be called while the model runs. The setting lives in the
 * shared object, so models opened from the same path (one dlopen handle) share it, and
 * share the code: a file replaced at that path is seen once every model from it closed. */
int gradc_set_threads(gradc_model *m, int n);

/* torch.optim.SGD semantics: d = g + wd * p; buf = momentum * buf + d (buf = d on
 * the first step); p -= lr * buf. Defaults: 0, 0. -1 (and no change) unless both are
 * finite and >= 0, as torch requires. */
int gradc_set_optimizer(gradc_model *m, float momentum, float weight_decay);

#ifdef __cplusplus
}
#endif
#endif
