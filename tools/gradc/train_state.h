/* train_state.h — what a `gradc train` checkpoint carries beyond the runtime's part
 * (parameters, the optimizer's state buffers, rule, hyper-parameters and step count;
 * gradc_save_checkpoint), as
 * `__metadata__` strings, and the checks that make `--resume` continue the same run.
 *
 *   gradc_checkpoint     "1", the format of these keys
 *   gradc_step           optimiser steps taken
 *   gradc_epoch          whole epochs done (gradc_step / steps per epoch)
 *   gradc_run_epochs     the run's --epochs (absent when --steps alone limited it)
 *   gradc_run_steps      the run's --steps (absent when not given)
 *   gradc_seed           --seed: the initial weights' and the data order's
 *   gradc_rng            the data order's generator state after the shuffles so far,
 *                        16 hex digits (the generator of runtime_core.h, named "shuffle")
 *   gradc_lr             the learning rate (%.9g)
 *   gradc_frozen         the frozen parameters, comma-separated ("" for none)
 *   gradc_clip_grad_norm --clip-grad-norm (%.9g; absent: none)
 *   gradc_schedule       step, cosine or onecycle (absent: none), with
 *     gradc_schedule_steps   cosine's T_max, onecycle's total steps (after the warm-up)
 *     gradc_step_size, gradc_gamma        step's
 *   gradc_warmup, gradc_warmup_start      the linear warm-up's steps and start factor
 *                        (absent: none)
 * (the optimizer, its hyper-parameters and state are the runtime's part)
 *   gradc_rows, gradc_batch, gradc_data_fnv1a64
 *                        the training data: rows, rows per step, FNV-1a 64 of its values
 *                        (absent when no data was read: `--steps 0`)
 *
 * The data order is a permutation of the rows, shuffled in place once per epoch: a
 * resumed run rebuilds it by replaying the shuffles from the seed, and checks that the
 * generator then has the state recorded. */
#ifndef GRADC_TRAIN_STATE_H
#define GRADC_TRAIN_STATE_H
#include <stdbool.h>
#include <stdint.h>
#include "data.h"
#include "gradc/runtime.h"
#include "gradc/runtime_core.h"

typedef struct {
  long long step;         /* optimiser steps taken */
  long long run_epochs;   /* the run's limits: -1 when not given */
  long long run_steps;
  uint64_t seed;          /* the data order's (and the initial weights') seed */
  uint64_t rng;           /* the data order's generator state after the shuffles so far */
  double lr;
  gradc_schedule sched;   /* the learning-rate schedule (kind CONST: none), with its length */
  double clip;            /* --clip-grad-norm, 0 for none */
  bool has_data;          /* rows, batch and hash known */
  size_t rows, batch;
  uint64_t data_hash;
} TrainState;

/* FNV-1a 64 of the table's values (their float bytes, row-major). */
uint64_t data_hash(const Table *t);
/* Saves m with its optimiser state and s (as above) to path: 0, or 1 after a message. */
int state_save(gradc_model *m, const char *path, const TrainState *s);
/* After gradc_load_checkpoint(m, path): reads s from the checkpoint's metadata and
 * checks it against this run (the model's name and frozen parameters; the data, when
 * data is given). 0, or 1 after a message naming what differs. */
int state_read(gradc_model *m, const char *path, const Table *data, size_t batch, TrainState *s);

#endif
