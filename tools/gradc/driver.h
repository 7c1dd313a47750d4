/* driver.h — the gradc commands and the option parsing they share. */
#ifndef GRADC_DRIVER_H
#define GRADC_DRIVER_H
#include <stdbool.h>
#include "gradc/compiler.h"
#include "gradc/onnx.h"
#include "gradc/runtime.h"
#include "gradc/tape.h"

int cmd_compile(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_import(int argc, char **argv);
int usage_of(const char *cmd);
/* An unknown option `arg` of cmd: says so, with the nearest option of cmd's usage text
 * if one is close (--epoch: did you mean '--epochs'?), then the usage; returns 2. */
int unknown_option(const char *cmd, const char *arg);

/* Options common to the commands that build a model. */
typedef struct {
  const char *model;
  const char *names[64];
  long long values[64];
  int ndefines;
  int cli_defines; /* how many of them the command line gave (the driver may append more) */
  const char *freeze[64]; /* --freeze P1,P2,...: parameters frozen for this build */
  int nfreeze;
  /* An .onnx model (onnx_args.c): --shape NAME=DxD.., --const NAME=VALUES; train's --loss
   * and --output attach a loss to an output. */
  const char *shape_names[16];
  int64_t shape_dims[16][8];
  const int64_t *shape_ptrs[16];
  int shape_ranks[16], nshapes;
  gc_onnx_const consts[16];
  int nconsts;
  const char *loss, *loss_output;
} ModelArgs;

/* Whether the model file is an ONNX model (by its extension). */
bool is_onnx(const char *path);
/* --shape, --const, --loss and --output at argv[*i] (parse_model_arg calls it): as
 * parse_define. */
int parse_onnx_arg(ModelArgs *m, int argc, char **argv, int *i);
/* The .onnx model m->model imported (with m's -D, --shape, --const and loss), or NULL with
 * *status 0 when the model is not an ONNX file; NULL with *status 1 after a message. The
 * caller gives gc_onnx_source() as the model's text and frees it. */
gc_onnx *import_model(const ModelArgs *m, const char *cmd, int *status);
/* run's --set for an .onnx model: a --set naming a graph input whose values the import needs
 * (a Reshape's shape) binds it as --const would; used[i] marks the sets taken. 0, or 2 after
 * a message. */
int bind_sets(ModelArgs *m, const char *const *sets, int nsets, bool *used);
/* gradc_init(mod, seed), then for an .onnx model its initializers loaded (the parameters'
 * values an imported model starts from); 0, or 1 (the runtime's message in gradc_error,
 * or a message printed). */
int init_model(gradc_model *mod, uint64_t seed, const ModelArgs *m);
/* --set NAME=VALUES with NAME an imported tensor's ONNX name ("fc1.weight"): the spec with
 * its .grad name; else a copy of spec. malloc'd (NULL when out of memory). */
char *onnx_set_spec(const gc_onnx *om, const char *spec);
/* The -D options the compiler reads: for an .onnx model, those of the command line are
 * the importer's (ONNX symbolic dimensions, fixed in the imported text, where `batch` is
 * renamed `batch_`), and only those the driver appends (train's batch) reach gc_compile. */
void compiler_defines(const ModelArgs *m, const char *const **names, const long long **values, int *n);

/* Parses `-D NAME=INT` (as one or two arguments) at argv[*i]; returns 1 if consumed,
 * 0 if argv[*i] is not -D, -1 on a malformed one (message printed). */
int parse_define(ModelArgs *m, int argc, char **argv, int *i);
/* The options every command that builds a model takes: -D (parse_define) and
 * `--freeze P1,P2,...` (names checked by the compiler, with a suggestion). Returns as
 * parse_define does. */
int parse_model_arg(ModelArgs *m, int argc, char **argv, int *i);
/* The value of option `opt` at argv[*i] ("--lr 0.1" or "--lr=0.1"), or NULL. */
const char *opt_value(const char *opt, int argc, char **argv, int *i);
bool parse_double(const char *s, double *out);
bool parse_int(const char *s, long long lo, long long hi, long long *out);
/* --seed: a whole number from 0 to 2^64 - 1 (the generator's seed is a uint64). */
#define SEED_RANGE "an integer from 0 to 18446744073709551615"
bool parse_seed(const char *s, uint64_t *out);

/* Compiles the model for the host into a fresh temporary directory, opens it with the
 * runtime and removes the directory at once (the loaded code stays mapped), so that
 * nothing is left behind however the command ends. Prints errors; returns NULL with
 * *status set (1 or 2). */
gradc_model *build_and_open(const ModelArgs *m, bool inference, int *status);
/* The same, also returning what the compiler reports (batch dimension, workspace). */
gradc_model *build_and_open_res(const ModelArgs *m, bool inference, int *status, gc_result *res);
/* The compiler library's settings the environment gives (docs/CLI.md; the library reads
 * none itself): GRADC_CC (o->cc; unset or empty: cc), GRADC_CODEGEN_THREADS
 * (o->codegen_threads: a number 2 or more, as atoi reads it, two threads; any other
 * non-empty value, one; unset or empty, automatic) and GRADC_PROFILE_KERNELS
 * (o->profile_kernels: a value starting with 1). Every command that compiles calls it. */
void env_options(gc_options *o);
/* A private directory under $TMPDIR (else /tmp) in dir; 0, or 1 after saying why. */
int make_tmpdir(char *dir, size_t len);

/* 0 if m has a loss to differentiate (`minimize`); else says so for cmd and returns 1. */
int needs_loss(const char *cmd, gradc_model *m);
/* Random inputs under seed: floats standard normal, class labels uniform among their
 * classes (other i32 inputs 0). */
void random_inputs(gradc_model *m, uint64_t seed);
/* Copies m's inputs and parameters into the tape engine t: the same values in both.
 * 0, or 1 after a message (prefixed with cmd) if t lacks one of them. */
int copy_to_tape(gradc_model *m, tape_model *t, const char *cmd);

/* Fills tensor `name` from VALUES (see `gradc help run`); prints errors, returns 0/1. */
int set_tensor(gradc_model *mod, const char *spec);

#endif
