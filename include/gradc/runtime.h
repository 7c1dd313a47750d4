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
/* An input, param or output by name: float, or int32_t for an i32 input or output; NULL if none. */
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
 * range against want[0..n): no tensor missing, none extra but a checkpoint's optimiser
 * state (NAME.momentum for a wanted NAME, validated alike, not read). All or nothing: on error
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

/* A trainable parameter's momentum buffer (torch's optimizer.state[p]["momentum_buffer"],
 * zeros before the first step), NULL if none. */
float *gradc_momentum(gradc_model *m, const char *param, size_t *count);

/* ---- Checkpoints: what a training run needs to continue bit for bit. ----
 *
 * A checkpoint is a gradc_save file (safetensors, F32, atomic) with the optimiser's
 * state beside the parameters: when momentum is not 0, one tensor "NAME.momentum" per
 * trainable parameter NAME (its momentum buffer, NAME's shape; torch keeps no buffer
 * with momentum 0, nor does the file), and in "__metadata__" the strings
 * "gradc_momentum" and "gradc_weight_decay" (%.9g) and the caller's keys[i] = values[i]
 * (the gradc driver's step, epoch and data order). Keys are the caller's but for
 * "model", "gradc_crc32" and the two above. Every reader loads it: gradc_load,
 * gradc_read_safetensors and `--weights` validate the state tensors and skip them. */
#define GRADC_MOMENTUM_SUFFIX ".momentum"
#define GRADC_META_MOMENTUM "gradc_momentum"
#define GRADC_META_WEIGHT_DECAY "gradc_weight_decay"
int gradc_save_checkpoint(gradc_model *m, const char *path, const char *const *keys, const char *const *values,
                          size_t n);
/* The parameters, every momentum buffer (zeros where the file holds none, as after a
 * run with momentum 0), the momentum and weight decay the file records (kept when it
 * records none: a plain weights file loads too) and its __metadata__, which
 * gradc_checkpoint_meta then returns. Checked whole before anything changes: a
 * rejected file (a parameter's state missing, state for a frozen parameter) leaves the
 * model as it was. */
int gradc_load_checkpoint(gradc_model *m, const char *path);
/* A __metadata__ string of the last checkpoint gradc_load_checkpoint loaded, or NULL;
 * valid until the next load or gradc_close. */
const char *gradc_checkpoint_meta(const gradc_model *m, const char *key);

/* torch.optim.SGD semantics: d = g + wd * p; buf = momentum * buf + d (buf = d on
 * the first step); p -= lr * buf. Defaults: 0, 0. -1 (and no change) unless both are
 * finite and >= 0, as torch requires. */
int gradc_set_optimizer(gradc_model *m, float momentum, float weight_decay);

#ifdef __cplusplus
}
#endif
#endif
