/* cmd_compile.c — `gradc compile`: options to gc_options, then gc_compile. */
#define _DEFAULT_SOURCE /* mkstemps, mkdtemp, strdup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "driver.h"
#include "gradc/runtime_core.h" /* gradc_optimizer_find */

static const char *emit_names[] = {"so", "obj", "asm", "llvm", "header", "ir", "dot"};
static const char *emit_ext[] = {".so", ".o", ".s", ".ll", ".h", ".ir", ".dot"};

/* --dump-after: a comma-separated list of graph passes or `all`, into *bits (and the
 * passes named, `all` apart, into *named). 0, or 2 after a message. */
static int parse_dump(const char *v, unsigned *bits, unsigned *named) {
  static const struct {
    const char *name;
    unsigned bits;
  } passes[] = {{"build", GC_PASS_BUILD},
                {"bake", GC_PASS_BAKE},
                {"autodiff", GC_PASS_AUTODIFF},
                {"optimize", GC_PASS_OPTIMIZE},
                {"all", GC_PASS_BUILD | GC_PASS_BAKE | GC_PASS_AUTODIFF | GC_PASS_OPTIMIZE}};
  const char *p = v;
  do {
    size_t n = strcspn(p, ",");
    int k = 0;
    while (k < 5 && (strlen(passes[k].name) != n || strncmp(passes[k].name, p, n))) k++;
    if (k == 5)
      return fprintf(stderr, "gradc compile: --dump-after %s: expected build, bake, autodiff, optimize or all "
                             "(or a comma-separated list of them)\n", v), 2;
    *bits |= passes[k].bits;
    if (k < 4) *named |= passes[k].bits;
    p += n + (p[n] == ',');
  } while (*p);
  return 0;
}

/* Options that do not go together (a pass named in --dump-after that will not run,
 * --stats without generated code, -o - for a binary): says so, returns 2; else 0. */
static int conflicts(const gc_options *o, unsigned dump_named) {
  if ((dump_named & GC_PASS_BAKE) && !o->weights)
    return fprintf(stderr, "gradc compile: --dump-after bake: parameters are baked only with --weights\n"), 2;
  if ((o->optimizer || o->optimizer_full) && o->inference)
    return fprintf(stderr, "gradc compile: --%s: --inference compiles no train step\n",
                   o->optimizer ? "optimizer" : "all-hyper"), 2;
  if ((dump_named & GC_PASS_AUTODIFF) && o->inference)
    return fprintf(stderr, "gradc compile: --dump-after autodiff: --inference compiles no backward pass\n"), 2;
  if (o->stats && (o->emit == GC_EMIT_HEADER || o->emit == GC_EMIT_IR || o->emit == GC_EMIT_DOT))
    return fprintf(stderr, "gradc compile: --stats measures generated code: use it with --emit so, obj, asm or llvm\n"),
           2;
  if (o->out && !strcmp(o->out, "-") && (o->emit == GC_EMIT_SO || o->emit == GC_EMIT_OBJ))
    return fprintf(stderr, "gradc compile: -o -: --emit %s writes a binary and its header; give a file name\n",
                   emit_names[o->emit]), 2;
  return 0;
}

/* --optimizer NAME and --all-hyper at argv[*i]: 1 if consumed, 0 if not one of them,
 * -1 after a message (an unknown rule). */
static int optimizer_option(gc_options *o, int argc, char **argv, int *i) {
  const char *v = opt_value("--optimizer", argc, argv, i);
  if (v && !gradc_optimizer_find(v))
    return fprintf(stderr, "gradc compile: --optimizer %s: expected sgd, adam, adamw or rmsprop\n", v), -1;
  if (v) o->optimizer = v;
  else if (!strcmp(argv[*i], "--all-hyper")) o->optimizer_full = true;
  else return 0;
  return 1;
}

/* Default output: the model file's base name with the emitted kind's extension. */
static char *default_out(const char *model, int emit) {
  const char *base = strrchr(model, '/');
  base = base ? base + 1 : model;
  size_t n = strcspn(base, ".");
  char *out = malloc(n + 8);
  snprintf(out, n + 8, "%.*s%s", (int)n, base, emit_ext[emit]);
  return out;
}

/* `-o -`: a text kind is compiled into a private temporary directory (the compiler
 * writes its outputs by path, atomically), opened, removed, then copied to standard
 * output (so that nothing is left behind if the reader goes away). */
static int copy_to_stdout(const char *path, const char *dir) {
  FILE *f = fopen(path, "rb");
  int e = errno;
  unlink(path), rmdir(dir);
  if (!f) return fprintf(stderr, "gradc: cannot read the compiled output: %s\n", strerror(e)), 1;
  char buf[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    if (fwrite(buf, 1, n, stdout) != n) break;
  if (ferror(f) || ferror(stdout) || fflush(stdout))
    rc = 1, fprintf(stderr, "gradc: cannot write to standard output: %s\n", strerror(errno));
  fclose(f);
  return rc;
}

/* --stats: what the object needs, in bytes, for someone sizing a microcontroller (on
 * out: stdout, or stderr when the compiled text went to stdout). */
static void print_stats(FILE *out, const gc_result *r, const char *optimizer) {
  const gc_footprint *f = &r->foot;
  fprintf(out, "footprint of %s (bytes)\n", r->model);
  fprintf(out, "  flash   code %lld, constants %lld (baked weights included), descriptor %lld\n", (long long)f->code,
          (long long)f->constants, (long long)f->descriptor);
  fprintf(out, "  total in flash: %lld (%lld without the descriptor, which a --gc-sections link drops)\n",
          (long long)(f->code + f->constants + f->descriptor), (long long)(f->code + f->constants));
  fprintf(out, "  ram     workspace %lld, inputs %lld, outputs+loss %lld, params %lld, grads %lld, %s %lld\n",
          (long long)r->workspace_bytes, (long long)f->inputs, (long long)f->outputs, (long long)f->params,
          (long long)f->grads, optimizer && strcmp(optimizer, "sgd") ? "optimizer state" : "momentum",
          (long long)f->momentum);
  for (int k = 0; k < f->nentries; k++)
    fprintf(out, "  stack   %s: frame %lld (its own allocations; register spills and callee saves not counted)\n",
            f->entry[k], (long long)f->frame[k]);
}

/* -o naming the model file, or (for so and obj) a .h path the header would overwrite:
 * says so and returns 1. */
static int clobbers(const gc_options *o) {
  struct stat a, b;
  if (stat(o->out, &a) == 0 && stat(o->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return fprintf(stderr, "gradc compile: -o %s: that is the model file itself\n", o->out), 1;
  const char *ext = strrchr(o->out, '.');
  if ((o->emit == GC_EMIT_SO || o->emit == GC_EMIT_OBJ) && ext && !strcmp(ext, ".h") && !strchr(ext, '/') &&
      (stat(o->out, &a) != 0 || S_ISREG(a.st_mode)))
    return fprintf(stderr, "gradc compile: -o %s: the header goes beside the %s as OUT with .h, here OUT itself; "
                           "name the output %s\n", o->out, o->emit == GC_EMIT_SO ? "shared object" : "object",
                   o->emit == GC_EMIT_SO ? "NAME.so" : "NAME.o"), 1;
  return 0;
}

/* What `gradc compile` was asked. */
typedef struct {
  ModelArgs m;
  gc_options o;
  const char *freeze[64];
  int nfreeze;
  unsigned dump_named;
} CompileArgs;

/* Option argv[*i] (advancing *i past its value): 0 when taken, else the exit status. */
static int compile_option(CompileArgs *a, int argc, char **argv, int *i) {
  gc_options *o = &a->o;
  const char *v;
  int rc;
  if ((v = opt_value("-o", argc, argv, i))) {
    o->out = v;
  } else if ((v = opt_value("--emit", argc, argv, i))) {
    int k = 0;
    while (k < 7 && strcmp(emit_names[k], v)) k++;
    if (k == 7) return fprintf(stderr, "gradc: --emit %s: expected so, obj, asm, llvm, header, ir or dot\n", v), 2;
    o->emit = (gc_emit)k;
  } else if ((v = opt_value("--target", argc, argv, i))) {
    o->triple = v;
  } else if ((v = opt_value("--cpu", argc, argv, i))) {
    o->cpu = v;
  } else if ((v = opt_value("--weights", argc, argv, i))) {
    o->weights = v;
  } else if ((v = opt_value("--threads", argc, argv, i))) {
    long long t;
    if (!parse_int(v, 1, 64, &t)) return fprintf(stderr, "gradc: --threads %s: expected an integer from 1 to 64\n", v), 2;
    o->threads = (int)t;
  } else if ((v = opt_value("--dump-after", argc, argv, i))) {
    if (parse_dump(v, &o->dump_after, &a->dump_named)) return 2;
  } else if ((rc = optimizer_option(o, argc, argv, i))) {
    if (rc < 0) return 2;
  } else if (!strcmp(argv[*i], "--stats")) {
    o->stats = true;
  } else if (!strcmp(argv[*i], "--inference")) {
    o->inference = true;
  } else if ((v = opt_value("--freeze", argc, argv, i))) {
    for (char *t = strtok((char *)v, ","); t; t = strtok(NULL, ",")) {
      if (a->nfreeze == 64) return fprintf(stderr, "gradc compile: --freeze: more than 64 parameters\n"), 2;
      a->freeze[a->nfreeze++] = t;
    }
  } else if (argv[*i][0] == '-' && argv[*i][1] == 'O' && argv[*i][2] >= '0' && argv[*i][2] <= '3' && !argv[*i][3]) {
    o->opt_level = argv[*i][2] - '0';
  } else {
    return unknown_option("compile", argv[*i]);
  }
  return 0;
}

/* The command line into a; 0, or the exit status. */
static int compile_args(CompileArgs *a, int argc, char **argv) {
  a->o = (gc_options){.opt_level = 2, .emit = GC_EMIT_SO};
  env_options(&a->o);
  for (int i = 0; i < argc; i++) {
    int d = parse_define(&a->m, argc, argv, &i), rc;
    if (!d) d = parse_onnx_arg(&a->m, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if (argv[i][0] == '-' && argv[i][1]) {
      if ((rc = compile_option(a, argc, argv, &i))) return rc;
    } else if (a->m.model) {
      return fprintf(stderr, "gradc compile: more than one model file ('%s', '%s')\n", a->m.model, argv[i]), 2;
    } else {
      a->m.model = argv[i];
    }
  }
  if (!a->m.model) return usage_of("compile");
  a->o.path = a->m.model;
  compiler_defines(&a->m, &a->o.define_names, &a->o.define_values, &a->o.ndefines);
  a->o.freeze = a->freeze;
  a->o.nfreeze = a->nfreeze;
  return conflicts(&a->o, a->dump_named) ? 2 : 0;
}

/* After gc_compile: its warnings, its error, or what was written (or the bytes, to stdout). */
static int report(const gc_options *o, const gc_result *res, int rc, const char *err, bool to_stdout,
                  const char *tmpdir) {
  fputs(res->warnings, stderr);
  if (rc) {
    if (rc == 2) fputs("gradc compile: ", stderr); /* not the model's fault: output, target, linker */
    fputs(err, stderr);
    if (err[0] && err[strlen(err) - 1] != '\n') fputc('\n', stderr);
    return 1;
  }
  if (to_stdout) return copy_to_stdout(o->out, tmpdir);
  fprintf(stderr, "gradc: wrote %s%s%s (model %s, workspace %lld bytes, %d+%d kernels)\n", o->out,
          res->header_path[0] ? " and " : "", res->header_path, res->model, (long long)res->workspace_bytes,
          res->nkernels_forward, res->nkernels_backward);
  return 0;
}

/* An .onnx model's initializers: baked (--inference without --weights, the firmware case)
 * from a temporary file in dir, or else written beside the output (OUT with .safetensors)
 * for the program that loads the compiled model. 0, or 1 after a message. */
static int onnx_weights(gc_options *o, const gc_onnx *om, char *dir, size_t dirlen, char *path, size_t len) {
  char err[4096];
  if (o->weights) return 0;
  if (o->inference) {
    if (make_tmpdir(dir, dirlen)) return 1;
    snprintf(path, len, "%s/initializers.safetensors", dir);
  } else if (o->emit == GC_EMIT_SO || o->emit == GC_EMIT_OBJ) {
    const char *dot = strrchr(o->out, '.'), *slash = strrchr(o->out, '/');
    size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - o->out) : strlen(o->out);
    snprintf(path, len, "%.*s.safetensors", (int)n, o->out);
  } else {
    return 0;
  }
  if (gc_onnx_write_weights(om, path, err, sizeof err)) return fprintf(stderr, "gradc compile: %s\n", err), 1;
  if (o->inference) o->weights = path;
  else fprintf(stderr, "gradc: wrote %s (the initializers: load them with gradc_load)\n", path);
  return 0;
}

int cmd_compile(int argc, char **argv) {
  CompileArgs a = {0};
  int rc = compile_args(&a, argc, argv);
  if (rc) return rc;
  gc_options *o = &a.o;
  gc_onnx *om = import_model(&a.m, "compile", &rc);
  if (rc) return rc;
  if (om) o->source = gc_onnx_source(om);
  bool to_stdout = o->out && !strcmp(o->out, "-");
  char tmpdir[4096] = "", *out = NULL;
  if (to_stdout) {
    if (make_tmpdir(tmpdir, sizeof tmpdir)) return 1;
    size_t n = strlen(tmpdir) + 16;
    out = malloc(n);
    snprintf(out, n, "%s/out%s", tmpdir, emit_ext[o->emit]);
  } else if (!o->out) {
    out = default_out(a.m.model, o->emit);
  }
  if (out) o->out = out;
  if (!to_stdout && clobbers(o)) return free(out), gc_onnx_free(om), 2;
  char err[8192], wdir[4096] = "", wpath[4200];
  gc_result res;
  /* baked initializers are written before the compile, the file beside a training object
   * after it (a failed compile leaves nothing) */
  if (om && o->inference && onnx_weights(o, om, wdir, sizeof wdir, wpath, sizeof wpath)) rc = 1;
  else rc = report(o, &res, gc_compile(o, &res, err, sizeof err), err, to_stdout, tmpdir);
  if (!rc && om && !o->inference && onnx_weights(o, om, wdir, sizeof wdir, wpath, sizeof wpath)) rc = 1;
  if (!rc && o->stats) print_stats(to_stdout ? stderr : stdout, &res, o->optimizer);
  if (to_stdout) unlink(out), rmdir(tmpdir); /* after a compile error; else done already */
  if (wdir[0]) unlink(wpath), rmdir(wdir);
  free(out);
  gc_onnx_free(om);
  return rc;
}
