/* gradc/tape.h — the dynamic tape baseline, library gradc_tape (docs/RUNTIME.md,
 * "The tape baseline").
 *
 * An eager engine that runs a .grad model the way PyTorch eager runs the same network:
 * every operator executes as it is reached, mallocs its result and, when an operand
 * requires a gradient, appends a record {op, inputs, output, saved tensors} to a tape.
 * Backward walks the tape in reverse and calls hand-written backward kernels that
 * accumulate gradients. It shares no derivative code with the compiler's symbolic pass,
 * so it serves as the baseline of `gradc bench` and as an independent oracle.
 *
 * Parameters start at their constant INIT (zeros unless `ones` or a number; random
 * initialisers give zeros: there is no RNG here); callers copy values in through
 * tape_tensor. Functions returning int return 0 on success and -1 with a message
 * (tape_error) on failure; nothing here aborts or exits on a bad model. */
#ifndef GRADC_TAPE_H
#define GRADC_TAPE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tape_model tape_model;

/* Parses MODEL text (path for messages), resolves -D overrides and runs one forward on
 * the initial values to validate shapes; NULL + message in err on error. */
tape_model *tape_open(const char *path, const char *source, const char *const *define_names,
                      const long long *define_values, int ndefines, char *err, size_t errlen);
void tape_close(tape_model *m);
/* An input, a parameter, or an output (the values of the last run): float, or int32_t
 * for an i32 input or output; NULL if there is none by that name. */
void *tape_tensor(tape_model *m, const char *name, size_t *count);
/* The accumulated gradient of a trainable (not frozen) parameter; NULL otherwise. */
float *tape_grad(tape_model *m, const char *param, size_t *count);
/* Modes, as the compiled entry points: tape_forward runs in eval mode (model.eval():
 * dropout is the identity), tape_backward in training mode (dropout draws its masks from
 * the step seed set by tape_set_seed, 0 until set: the compiled entries' `seed`). */
int tape_forward(tape_model *m);  /* eager forward: allocates every intermediate, records the tape */
int tape_backward(tape_model *m); /* forward, then backward over the tape; ADDS into the grads */
void tape_set_seed(tape_model *m, uint64_t step_seed);
float tape_loss(const tape_model *m); /* of the last run; NaN without a loss */
void tape_zero_grad(tape_model *m);
void tape_sgd_step(tape_model *m, float lr); /* plain SGD, p -= lr * g */
const char *tape_error(const tape_model *m);

#ifdef __cplusplus
}
#endif
#endif
