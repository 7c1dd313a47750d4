/* gradc/runtime.h — the host runtime (library gradcrt): open any gradc shared object,
 * own its parameter, gradient, optimiser-state and workspace buffers, call its entry
 * points (through their NAME_packed form when the object has one, as gradc's always
 * do, else through libffi), save and load weights as safetensors.
 *
 * The runtime never depends on the compiler. The freestanding part (the optimizers'
 * rules, learning-rate schedules, zeroing, seeded initialisation) is in
 * gradc/runtime_core.h and links into firmware alone.
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
 * optimizer state buffer and the optimizer's step count, and makes the loss NaN: a
 * fresh start (set inputs after it). */
int gradc_init(gradc_model *m, uint64_t seed);
/* Dropout (issue 15): the training calls (gradc_backward, gradc_train_step) of a model
 * with dropout pass the step seed gradc_dropout_seed(seed, steps) (gradc/runtime_core.h),
 * seed gradc_init's or gradc_set_seed's and steps gradc_optimizer_steps: a new mask each
 * optimizer step, the same masks for the same seed and step (a checkpoint keeps the step
 * count). gradc_set_seed changes the seed alone; gradc_step_seed is the next call's. */
int gradc_set_seed(gradc_model *m, uint64_t seed);
uint64_t gradc_step_seed(const gradc_model *m);
/* An input, param or output by name: float, or int32_t for an i32 input or output; NULL if none. */
void *gradc_tensor(gradc_model *m, const char *name, size_t *count);
float *gradc_grad(gradc_model *m, const char *param, size_t *count);
int gradc_forward(gradc_model *m);  /* no gradient work */
int gradc_backward(gradc_model *m); /* forward + backward, accumulates into grads */
float gradc_loss(const gradc_model *m);
void gradc_zero_grad(gradc_model *m);
void gradc_sgd_step(gradc_model *m, float lr); /* gradc_optimizer_step (SGD: theta -= lr * grad, + momentum, decay) */
int gradc_train_step(gradc_model *m, float lr); /* zero_grad, backward, optimizer step; lr finite, >= 0 */
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
  int buffer;    /* params declared `buffer` (model state such as batch norm's running statistics):
                    never trainable; the backward and train step entries overwrite them */
} gradc_tensor_info;

const char *gradc_model_name(const gradc_model *m);
int gradc_has_loss(const gradc_model *m);
int gradc_has_backward(const gradc_model *m);
size_t gradc_num_tensors(const gradc_model *m);
const gradc_tensor_info *gradc_tensor_at(const gradc_model *m, size_t i);
/* Reads the F32 tensors of a safetensors file into dst[i] (want[i].count floats each),
 * after validating the framing, the JSON header and every name, dtype, shape and byte
 * range against want[0..n): no tensor missing, none extra but a checkpoint's optimiser
 * state (NAME.momentum, NAME.exp_avg... for a wanted NAME: any state tensor of
 * gradc_optimizers[], validated alike, not read). All or nothing: on error
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
 * zeros before the first step): gradc_state(m, "momentum", param, count), NULL if none. */
float *gradc_momentum(gradc_model *m, const char *param, size_t *count);

/* ---- Checkpoints: what a training run needs to continue bit for bit. ----
 *
 * A checkpoint is a gradc_save file (safetensors, F32, atomic) with the optimiser's
 * state beside the parameters: one tensor "NAME.STATE" per state tensor of the rule that
 * exists (SGD's "NAME.momentum" when momentum is not 0: torch keeps no buffer with
 * momentum 0, nor does the file; Adam's "NAME.exp_avg", "NAME.exp_avg_sq", and with
 * amsgrad "NAME.max_exp_avg_sq") and trainable parameter NAME (NAME's shape), and in
 * "__metadata__": for SGD the strings "gradc_momentum" and "gradc_weight_decay" (%.9g);
 * for any other rule, or SGD with dampening or Nesterov, also "gradc_optimizer" (its
 * name), "gradc_optimizer_step" (the step count) and "gradc_hyper_NAME" (%.17g) for
 * each hyper-parameter but lr; then the caller's keys[i] = values[i] (the gradc driver's
 * step, epoch and data order). Keys are the caller's but for "model", "gradc_crc32"
 * and those above (any "gradc_hyper_" key). Every reader loads it: gradc_load,
 * gradc_read_safetensors and `--weights` validate the state tensors and skip them. */
#define GRADC_MOMENTUM_SUFFIX ".momentum"
#define GRADC_META_MOMENTUM "gradc_momentum"
#define GRADC_META_WEIGHT_DECAY "gradc_weight_decay"
#define GRADC_META_OPTIMIZER "gradc_optimizer"
#define GRADC_META_OPTIMIZER_STEP "gradc_optimizer_step"
#define GRADC_META_HYPER_PREFIX "gradc_hyper_"
int gradc_save_checkpoint(gradc_model *m, const char *path, const char *const *keys, const char *const *values,
                          size_t n);
/* The parameters, the rule the file is a checkpoint of (the model switches to it, as
 * gradc_use_optimizer, when it is another), every state buffer (zeros where the file
 * holds none, as after a run with momentum 0), the hyper-parameters and step count the
 * file records (kept when it records none: a plain weights file loads too; a file of
 * SGD's first format has no step count: 1 if it holds state, else 0) and its
 * __metadata__, which gradc_checkpoint_meta then returns. Checked whole before
 * anything changes: a rejected file (a parameter's state missing, state for a frozen
 * parameter, state of another rule) leaves the model as it was. */
int gradc_load_checkpoint(gradc_model *m, const char *path);
/* A __metadata__ string of the last checkpoint gradc_load_checkpoint loaded, or NULL;
 * valid until the next load or gradc_close. */
const char *gradc_checkpoint_meta(const gradc_model *m, const char *key);

/* The optimizer's momentum and weight decay (SGD: torch.optim.SGD semantics: d = g +
 * wd * p; buf = momentum * buf + d (buf = d on the first step); p -= lr * buf).
 * Defaults: 0, 0. -1 (and no change) unless both are finite and >= 0, as torch
 * requires, or with a momentum other than 0 for a rule without one (Adam's). */
int gradc_set_optimizer(gradc_model *m, float momentum, float weight_decay);

/* ---- The optimizer (docs/RUNTIME.md, "Optimizers") ----
 *
 * A model's steps apply one rule of the core's table (gradc_optimizers[],
 * gradc/runtime_core.h: "sgd", "adam", "adamw", "rmsprop", torch.optim semantics). It
 * starts as the rule its train step was compiled with (`gradc compile --optimizer`; SGD
 * for a model without one), with torch's defaults. gradc_train_step runs the compiled
 * train step while it applies the same rule with the same values (gradc_uses_fused_step);
 * otherwise — another rule, clipping, a hyper-parameter the train step does not read
 * (SGD's dampening and nesterov unless compiled with --all-hyper) — it runs backward into
 * the gradient buffers, clips, and applies the rule per parameter with the core's
 * interpreter of the same description (gradc_core_update_n): the same arithmetic. */

/* Another rule (or the same, afresh): torch's defaults, zeroed state, step count 0. */
int gradc_use_optimizer(gradc_model *m, const char *name);
const char *gradc_optimizer_name(const gradc_model *m);
/* A user hyper-parameter of the rule by name ("lr", "momentum", "beta1", "amsgrad"...:
 * gradc_optimizer.hyper_names), checked against its range (finite, >= 0; betas in
 * [0, 1); flags 0 or 1). Rules between them (Nesterov needs momentum and no dampening)
 * are checked by each step. gradc_train_step(m, lr) sets "lr". */
int gradc_set_hyper(gradc_model *m, const char *name, double value);
int gradc_get_hyper(gradc_model *m, const char *name, double *value);
/* A trainable parameter's state tensor of the rule by name ("momentum", "exp_avg",
 * "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg"), NULL if none. */
float *gradc_state(gradc_model *m, const char *state, const char *param, size_t *count);
/* Steps taken since gradc_init or gradc_use_optimizer (torch's state["step"]): Adam's
 * bias corrections use it; checkpoints keep it. */
uint64_t gradc_optimizer_steps(const gradc_model *m);
/* One step of the rule from the gradient buffers as they are (after gradc_backward),
 * clipped first when clipping is on. */
int gradc_optimizer_step(gradc_model *m, float lr);
/* Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_): before each step,
 * the 2-norm of all gradients together; above max_norm, every gradient is scaled by
 * max_norm / (norm + 1e-6). It needs every gradient before any update, so steps take the
 * unfused path. 0 (the default) turns it off; -1 unless finite and >= 0. */
int gradc_set_clip_grad_norm(gradc_model *m, double max_norm);
/* The total gradient norm the last clipped step measured (NaN before one). */
float gradc_grad_norm(const gradc_model *m);
/* 1 when the next gradc_train_step runs the compiled train step, else 0. */
int gradc_uses_fused_step(const gradc_model *m);

#ifdef __cplusplus
}
#endif
#endif
