/* cmd_compile.c — `gradc compile`: options to gc_options, then gc_compile. */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver.h"

static const char *emit_names[] = {"so", "obj", "asm", "llvm", "header", "ir", "dot"};
static const char *emit_ext[] = {".so", ".o", ".s", ".ll", ".h", ".ir", ".dot"};

/* Default output: the model file's base name with the emitted kind's extension. */
static char *default_out(const char *model, int emit) {
  const char *base = strrchr(model, '/');
  base = base ? base + 1 : model;
  size_t n = strcspn(base, ".");
  char *out = malloc(n + 8);
  snprintf(out, n + 8, "%.*s%s", (int)n, base, emit_ext[emit]);
  return out;
}

/* --stats: what the object needs, in bytes, for someone sizing a microcontroller. */
static void print_stats(const gc_result *r) {
  const gc_footprint *f = &r->foot;
  printf("footprint of %s (bytes)\n", r->model);
  printf("  flash   code %lld, constants %lld (baked weights included), descriptor %lld\n", (long long)f->code,
         (long long)f->constants, (long long)f->descriptor);
  printf("  total in flash: %lld (%lld without the descriptor, which a --gc-sections link drops)\n",
         (long long)(f->code + f->constants + f->descriptor), (long long)(f->code + f->constants));
  printf("  ram     workspace %lld, inputs %lld, outputs+loss %lld, params %lld, grads %lld, momentum %lld\n",
         (long long)r->workspace_bytes, (long long)f->inputs, (long long)f->outputs, (long long)f->params,
         (long long)f->grads, (long long)f->momentum);
  for (int k = 0; k < f->nentries; k++)
    printf("  stack   %s: frame %lld (its own allocations; register spills and callee saves not counted)\n",
           f->entry[k], (long long)f->frame[k]);
}

int cmd_compile(int argc, char **argv) {
  ModelArgs m = {0};
  gc_options o = {.opt_level = 2, .emit = GC_EMIT_SO};
  const char *freeze[64];
  int nfreeze = 0;
  const char *v;
  for (int i = 0; i < argc; i++) {
    int d = parse_define(&m, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if ((v = opt_value("-o", argc, argv, &i))) {
      o.out = v;
    } else if ((v = opt_value("--emit", argc, argv, &i))) {
      int k = 0;
      while (k < 7 && strcmp(emit_names[k], v)) k++;
      if (k == 7) return fprintf(stderr, "gradc: --emit %s: expected so, obj, asm, llvm, header, ir or dot\n", v), 2;
      o.emit = (gc_emit)k;
    } else if ((v = opt_value("--target", argc, argv, &i))) {
      o.triple = v;
    } else if ((v = opt_value("--cpu", argc, argv, &i))) {
      o.cpu = v;
    } else if ((v = opt_value("--weights", argc, argv, &i))) {
      o.weights = v;
    } else if ((v = opt_value("--threads", argc, argv, &i))) {
      long long t;
      if (!parse_int(v, 1, 64, &t)) return fprintf(stderr, "gradc: --threads %s: expected an integer from 1 to 64\n", v), 2;
      o.threads = (int)t;
    } else if (!strcmp(argv[i], "--stats")) {
      o.stats = true;
    } else if (!strcmp(argv[i], "--inference")) {
      o.inference = true;
    } else if ((v = opt_value("--freeze", argc, argv, &i))) {
      for (char *t = strtok((char *)v, ","); t && nfreeze < 64; t = strtok(NULL, ",")) freeze[nfreeze++] = t;
    } else if (argv[i][0] == '-' && argv[i][1] == 'O' && argv[i][2] >= '0' && argv[i][2] <= '3' && !argv[i][3]) {
      o.opt_level = argv[i][2] - '0';
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "gradc compile: unknown option '%s'\n", argv[i]);
      return usage_of("compile");
    } else if (m.model) {
      fprintf(stderr, "gradc compile: more than one model file ('%s', '%s')\n", m.model, argv[i]);
      return 2;
    } else {
      m.model = argv[i];
    }
  }
  if (!m.model) return usage_of("compile");
  o.path = m.model;
  o.define_names = m.names;
  o.define_values = m.values;
  o.ndefines = m.ndefines;
  o.freeze = freeze;
  o.nfreeze = nfreeze;
  char *out = o.out ? NULL : default_out(m.model, o.emit);
  if (out) o.out = out;
  char err[8192];
  gc_result res;
  int rc = gc_compile(&o, &res, err, sizeof err);
  if (rc) {
    fputs(err, stderr);
    if (err[0] && err[strlen(err) - 1] != '\n') fputc('\n', stderr);
    free(out);
    return 1;
  }
  fprintf(stderr, "gradc: wrote %s%s%s (model %s, workspace %lld bytes, %d+%d kernels)\n", o.out,
          res.header_path[0] ? " and " : "", res.header_path, res.model, (long long)res.workspace_bytes,
          res.nkernels_forward, res.nkernels_backward);
  if (o.stats) print_stats(&res);
  free(out);
  return 0;
}
