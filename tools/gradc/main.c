/* main.c — the gradc command line: parses the command and hands it to its cmd_*.
 *
 * The driver is a thin layer: compiling is gc_compile (the compiler library), running
 * is the runtime (gradc_open & co.) on a shared object compiled for the host.
 * Exit status: 0 success, 1 the user's input was wrong, 2 a usage error. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "diag.h" /* diag_nearest */
#include "driver.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} commands[] = {
    {"compile", cmd_compile,
     "gradc compile MODEL.grad [-o OUT] [--emit so|obj|asm|llvm|header|ir|dot]\n"
     "              [--target TRIPLE] [--cpu CPU] [-O0|-O1|-O2|-O3] [-D NAME=INT]...\n"
     "              [--inference] [--weights W.safetensors] [--freeze P1,P2,...] [--stats]\n"
     "              [--threads T] [--dump-after PASS,...] [--optimizer NAME [--all-hyper]]\n"
     "  Compiles the model (forward, and backward unless --inference) to native code.\n"
     "  so (default) and obj also write OUT's header (OUT with .h); -o - writes a text\n"
     "  kind (asm, llvm, header, ir, dot) to standard output. --stats prints the\n"
     "  footprint: code, constants, workspace and buffers, stack frames. --threads: large\n"
     "  matrix products are split into at most T parts that the runtime's thread pool\n"
     "  runs at once (default: this machine's cores, at most 8, for the host; 1 for\n"
     "  other targets). --dump-after build|bake|autodiff|optimize|all (a comma-separated\n"
     "  list) prints the graph after those passes to stderr, in --emit ir's form.\n"
     "  --optimizer sgd|adam|adamw|rmsprop: the train step's update rule (default sgd;\n"
     "  its hyper argument: the header's MODEL_HYPER_COUNT floats); --all-hyper: sgd's\n"
     "  also holds dampening and nesterov (without, they are 0: {lr, momentum, weight_decay}).\n"},
    {"run", cmd_run,
     "gradc run MODEL.grad [-D NAME=INT]... [--seed S] [--load W.safetensors]\n"
     "          [--set NAME=VALUES]... [--backward] [--train-steps K --lr LR] [--json]\n"
     "          [--freeze P1,P2,...]\n"
     "  Builds the model for this machine, runs it once and prints loss, outputs,\n"
     "  parameters and (with --backward or --train-steps) gradients.\n"
     "  VALUES: comma-separated row-major numbers, one number for the whole tensor,\n"
     "  or @FILE. Tensors not set take their INIT under --seed (inputs: zeros).\n"},
    {"train", cmd_train,
     "gradc train MODEL.grad --data TRAIN.csv [--val VAL.csv] [--epochs E] [--lr LR]\n"
     "            [--optimizer sgd|adam|adamw|rmsprop] [--momentum M] [--dampening D]\n"
     "            [--nesterov] [--betas B1,B2] [--eps E] [--weight-decay WD] [--amsgrad]\n"
     "            [--alpha A] [--centered] [--clip-grad-norm X]\n"
     "            [--schedule step|cosine|onecycle] [--step-size N] [--gamma G]\n"
     "            [--cycle-momentum BASE,MAX|off] [--warmup N] [--warmup-start F] [--seed S] [--load W | --resume W]\n"
     "            [-o OUT.safetensors] [--steps K] [--log-steps] [--freeze P1,P2,...]\n"
     "            [-D NAME=INT]...\n"
     "  A torch.optim optimizer (SGD by default, Adam, AdamW, RMSprop) on CSV rows: the\n"
     "  inputs in declaration order, each flattened without the batch dimension; one\n"
     "  batch per step, shuffled each epoch under --seed. Prints one line per epoch;\n"
     "  stops on a NaN or infinity. Each optimizer takes its own options (--momentum:\n"
     "  sgd, rmsprop; --dampening, --nesterov: sgd; --betas, --amsgrad: adam, adamw;\n"
     "  --eps: adam, adamw, rmsprop; --alpha, --centered: rmsprop; --weight-decay: all).\n"
     "  --clip-grad-norm X clips the gradients' global norm to X before each step.\n"
     "  --schedule: step (--step-size N, --gamma G), cosine or onecycle (cycling the\n"
     "  momentum, --cycle-momentum 0.85,0.95 or off) over the run's\n"
     "  --epochs; --warmup N warms the rate up linearly from LR*F (--warmup-start F) first.\n"
     "  -o writes a checkpoint: the weights, the optimizer's state, the step and the data\n"
     "  order (without -o nothing is saved, and train says so). --resume W continues the\n"
     "  run that wrote W bit for bit, with its optimizer, --lr, hyper-parameters,\n"
     "  clipping, schedule and seed unless given, on the same data; --load W starts a new\n"
     "  run from W's weights. --epochs E trains until the run has done E epochs, counted\n"
     "  from its start; --steps K stops after K optimiser steps in all (0: no data needed,\n"
     "  -o writes the initial weights); with both, the first reached. --log-steps prints\n"
     "  every step's loss. Defaults: --epochs 10 (without --steps) --optimizer sgd --lr\n"
     "  0.01 (adam, adamw: 0.001) --momentum 0 --weight-decay 0 (adamw: 0.01) --seed 0.\n"},
    {"import", cmd_import,
     "gradc import MODEL.onnx [-o MODEL.grad] [--weights-out W.safetensors] [-D NAME=INT]...\n"
     "             [--shape NAME=DxDx..]... [--const NAME=VALUES]... [--loss L [--output NAME]]\n"
     "  Writes the ONNX model (opsets 7 to 17) as a .grad model, one group of statements per\n"
     "  ONNX node, and its initializers as a safetensors file (default: beside the .grad).\n"
     "  -D sets a symbolic dimension (a batch); --shape gives an input's whole shape; --const\n"
     "  binds a graph input whose values decide shapes (a Reshape's shape, Slice's starts).\n"
     "  --loss cross_entropy|mse|bce_with_logits appends a loss on an output (--output NAME\n"
     "  when there are several) with a `label` or `target` input, for training. Every\n"
     "  command that builds a model also takes MODEL.onnx and these options.\n"},
    {"eval", cmd_eval,
     "gradc eval MODEL.grad --weights W.safetensors --data TEST.csv [-D NAME=INT]... [--freeze P1,P2,...]\n"
     "  Prints the mean loss over all rows and, for a classifier, the accuracy.\n"},
    {"bench", cmd_bench,
     "gradc bench MODEL.grad [-D NAME=INT]... [--steps N] [--seed S] [--json] [--freeze P1,P2,...]\n"
     "  Times one training step and one inference of the compiled model against the\n"
     "  dynamic tape baseline, in this process, on the same inputs: median of repeats,\n"
     "  microseconds per call, ratio, GFLOP/s of the matrix products.\n"},
    {"check", cmd_check,
     "gradc check MODEL.grad [-D NAME=INT]... [--seed S] [--freeze P1,P2,...]\n"
     "  Compares the compiled gradients with central finite differences of the float64\n"
     "  reference evaluator and with the dynamic tape baseline's gradients, for every\n"
     "  trainable parameter, on random inputs; prints a table of max abs/rel errors;\n"
     "  exit 1 on a mismatch beyond tolerance.\n"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage_all(FILE *f) {
  fprintf(f, "gradc %s — a compiler for neural-network training and inference\n\nusage:\n", gc_version());
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %.*s\n", (int)strcspn(commands[i].usage, "\n"), commands[i].usage);
  fprintf(f, "  gradc --version | gradc help [COMMAND]\n\n'gradc help COMMAND' gives a command's options.\n");
}

/* An unknown command: says so, with the nearest command's name if one is close. */
static int unknown_command(const char *cmd) {
  const char *names[NCOMMANDS + 1];
  for (int i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
  names[NCOMMANDS] = "help";
  const char *near = diag_nearest(cmd, names, NCOMMANDS + 1);
  fprintf(stderr, "gradc: unknown command '%s'%s%s%s\n", cmd, near ? "; did you mean '" : "", near ? near : "",
          near ? "'?" : "");
  usage_all(stderr);
  return 2;
}

/* Output that could not be written (a full disk, a closed pipe) is a failure. */
static int flushed(int rc) {
  if (rc || (fflush(stdout) == 0 && !ferror(stdout))) return rc; /* a failure already said why */
  fprintf(stderr, "gradc: cannot write standard output: %s\n", strerror(errno));
  return rc ? rc : 1;
}

/* The options a command's usage text names ("--epochs", "-o", "-O0", ...), into out. */
static int options_of(const char *usage, char out[][32], int max) {
  int n = 0;
  for (const char *p = usage; *p && n < max; p++) {
    if (*p != '-' || (p > usage && !strchr(" [|", p[-1])) || !(p[1] == '-' || (p[1] >= 'A' && p[1] <= 'z'))) continue;
    size_t len = strspn(p, "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    if (len >= 32) continue;
    memcpy(out[n], p, len);
    out[n][len] = 0;
    bool seen = false;
    for (int i = 0; i < n; i++) seen |= !strcmp(out[i], out[n]);
    n += !seen;
    p += len - 1;
  }
  return n;
}

int unknown_option(const char *cmd, const char *arg) {
  char opts[64][32], name[64];
  const char *cands[64], *near = NULL;
  snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg); /* --epoch=3: the option is --epoch */
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, cmd)) {
      int n = options_of(commands[i].usage, opts, 64);
      for (int k = 0; k < n; k++) cands[k] = opts[k];
      near = diag_nearest(name, cands, n);
    }
  fprintf(stderr, "gradc %s: unknown option '%s'%s%s%s\n", cmd, name, near ? "; did you mean '" : "",
          near ? near : "", near ? "'?" : "");
  return usage_of(cmd);
}

int usage_of(const char *cmd) {
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, cmd)) fprintf(stderr, "usage: %s", commands[i].usage);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage_all(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("gradc %s\n", gc_version());
    return flushed(0);
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    if (argc > 2 && strcmp(argv[2], "help")) {
      for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, argv[2])) return printf("usage: %s", commands[i].usage), flushed(0);
      return unknown_command(argv[2]);
    }
    usage_all(stdout);
    return flushed(0);
  }
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, cmd)) return flushed(commands[i].run(argc - 2, argv + 2));
  return unknown_command(cmd);
}
