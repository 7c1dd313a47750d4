/* gradc/descriptor.h — how a compiled model describes itself.
 *
 * Every object gradc emits for model M defines
 *     const char *M_descriptor(void);
 * and a shared object also exports the fixed, model-independent symbol
 *     const char *gradc_model_descriptor(void);     (GRADC_DESCRIPTOR_SYMBOL)
 * Both return the same NUL-terminated JSON text (version GRADC_DESCRIPTOR_VERSION):
 *
 * {
 *   "gradc": 1,                         descriptor version
 *   "model": "logreg",
 *   "workspace_bytes": 192,             size of the caller-owned workspace
 *   "loss": "loss",                     name of the minimised scalar, or null
 *   "tensors": [                        in ABI order: inputs, params, outputs
 *     {"name": "x", "role": "input",  "dtype": "f32", "shape": [5]},
 *     {"name": "y", "role": "input",  "dtype": "f32", "shape": [3]},
 *     {"name": "w", "role": "param",  "dtype": "f32", "shape": [5, 3],
 *      "trainable": true, "init": {"kind": "normal", "std": 1}},
 *     {"name": "b", "role": "param",  "dtype": "f32", "shape": [3],
 *      "trainable": true, "init": {"kind": "normal", "std": 1}},
 *     {"name": "z", "role": "output", "dtype": "f32", "shape": [3]}
 *   ],
 *   "entries": [
 *     {"name": "logreg_forward", "kind": "forward", "packed": "logreg_forward_packed",
 *      "args": ["input:x", "input:y", "param:w", "param:b", "output:z", "loss", "workspace"]},
 *     {"name": "logreg_backward", "kind": "backward", "packed": "logreg_backward_packed",
 *      "args": ["input:x", "input:y", "param:w", "param:b", "grad:w", "grad:b",
 *               "output:z", "loss", "workspace"]},
 *     {"name": "logreg_train_step", "kind": "train_step", "packed": "logreg_train_step_packed",
 *      "optimizer": {"name": "sgd", "hyper": ["lr", "momentum", "weight_decay"],
 *                    "state": ["momentum"]},
 *      "args": ["input:x", "input:y", "param:w", "param:b", "grad:w", "grad:b",
 *               "state:w", "state:b", "output:z", "loss", "hyper", "workspace"]}
 *   ]
 * }
 *
 * - "init" is one of {"kind":"const","value":V}, {"kind":"normal","std":S},
 *   {"kind":"uniform","lo":A,"hi":B}: the compiler resolves zeros/ones/randn/xavier/
 *   kaiming (which need fan-in and fan-out) into these three.
 * - Optional per param: "buffer": true for model state declared `buffer` (batch norm's
 *   running statistics): "trainable" is false, and the "backward" and "train_step"
 *   entries overwrite the tensor in place (training mode), "forward" only reads it.
 * - Optional per tensor: "batched": true when dim 0 is the model's `batch` dimension,
 *   "classes": C on an i32 input used as class labels (cross_entropy over C classes).
 * - Every argument of an entry point is a pointer: "input:N"/"param:N"/"output:N" the
 *   tensor's buffer; "grad:N" the gradient buffer of trainable param N; "state:S:N" its
 *   optimizer state tensor S ("state:N": the first, SGD's momentum buffer, as the
 *   descriptors of SGD write it) (zero before the first step); "loss" a float *; "hyper"
 *   the floats the train step's "optimizer" lists; "workspace" a buffer of
 *   workspace_bytes bytes, aligned at least as a float (64-byte alignment is fastest).
 *   Entry points return void.
 * - "optimizer" (train_step): the update rule, a name of gradc_optimizers[]
 *   (gradc/runtime_core.h: "sgd", "adam", "adamw", "rmsprop"), "hyper" the values its
 *   hyper argument holds, in order (the rule's user hyper-parameters, then the values
 *   derived per step: gradc_optimizer_values fills them), "state" its state tensors per
 *   trainable param. Absent (descriptors before it): SGD, hyper {lr, momentum,
 *   weight_decay}, state {momentum}.
 * - Entry kinds: "forward" computes the outputs and the loss; "backward" also ADDS
 *   d loss / d param into the grad buffers (zero them first, as PyTorch's .grad);
 *   "train_step" (models with a loss and trainable params) is one whole optimizer step:
 *   it STORES this step's gradients, then updates every param and state tensor in
 *   place as torch.optim's optimizer of that name does.
 * - Parameters baked in with --weights are not listed; inputs that --inference drops
 *   are not listed. Shapes have at most GRADC_MAX_RANK dimensions.
 * - "packed" (optional) names `void NAME(void **args)`, the same entry point with its
 *   arguments in one array, in "args" order: a loader can call it without libffi.
 * - "parallel" (optional, top level) names `void NAME(run, pool)`, which installs a
 *   parallel runner for the large matrix products the object splits into parts (see
 *   the generated header); without one the parts run one after the other.
 * - A loader ignores entry kinds it does not know.
 */
#ifndef GRADC_DESCRIPTOR_H
#define GRADC_DESCRIPTOR_H

#define GRADC_DESCRIPTOR_VERSION 1
#define GRADC_DESCRIPTOR_SYMBOL "gradc_model_descriptor"
#define GRADC_MAX_RANK 8
#define GRADC_WORKSPACE_ALIGN 64

#endif
