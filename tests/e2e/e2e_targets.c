/* e2e_targets.c — every target LLVM 16 registers, through gradc compile, and what the
 * objects need from a link.
 *
 * Each target `llc-16 --version` lists has a representative triple here (a target
 * missing from the table fails the test): models/digits.grad builds for it (-O1, an
 * object), or gradc refuses it with the reason, exit status 1, never a signal, and no
 * file left behind; the triples that crashed at random (a fatal error on a
 * code-generation thread) or on every run are compiled several times, as objects and
 * as shared objects, and must say the same each time. Object formats LLVM has no
 * writer for are refused, and an unknown --cpu names the target's CPUs.
 *
 * What a link needs (README "Firmware"): the objects of every target that builds call
 * nothing but memcpy/memset, besides the compiler's helpers for what the core lacks
 * and symbols the linker defines; Cortex-M objects (all entry points) link with
 * -nostdlib and only memcpy/memset (and libgcc's float helpers on a core without an
 * FPU); a --gc-sections link drops the descriptor and the packed wrappers nothing
 * calls; the float ABIs (eabihf, eabi with an FPU) and the portable host build
 * (--cpu x86-64) are what README says. */
#define _DEFAULT_SOURCE /* strndup */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define DIGITS GRADC_SOURCE_DIR "/models/digits.grad"
#define DIGITS_CNN GRADC_SOURCE_DIR "/models/digits_cnn.grad"

typedef struct {
  const char *name;    /* as llc-16 --version lists it */
  const char *triple;  /* a representative triple */
  const char *refusal; /* NULL: it builds; else words of gradc's message */
} Target;

#define GPU "it is a GPU"
#define BPF "BPF functions take at most 5 arguments"
#define PTR16 "needs 32- or 64-bit pointers"
static const Target targets[] = {
    {"aarch64", "aarch64-none-elf", NULL},
    {"aarch64_32", "arm64_32-apple-watchos", NULL},
    {"aarch64_be", "aarch64_be-none-elf", NULL},
    {"amdgcn", "amdgcn-amd-amdhsa", GPU},
    {"arm", "arm-none-eabi", NULL},
    {"arm64", "arm64-apple-macos", NULL},
    {"arm64_32", "arm64_32-apple-watchos", NULL},
    {"armeb", "armeb-none-eabi", NULL},
    {"avr", "avr-unknown-unknown", PTR16},
    {"bpf", "bpf", BPF},
    {"bpfeb", "bpfeb", BPF},
    {"bpfel", "bpfel", BPF},
    {"hexagon", "hexagon-unknown-elf", NULL},
    {"lanai", "lanai-unknown-unknown", NULL},
    /* LLVM 16 cannot select its float bit operations: a fatal error, caught */
    {"loongarch32", "loongarch32-unknown-none-elf", "Cannot select: i32 = LoongArchISD::BSTRINS"},
    {"loongarch64", "loongarch64-unknown-elf", NULL},
    {"m68k", "m68k-unknown-elf", "M68k backend is experimental"},
    {"mips", "mips-unknown-elf", NULL},
    {"mips64", "mips64-unknown-elf", NULL},
    {"mips64el", "mips64el-unknown-elf", NULL},
    {"mipsel", "mipsel-unknown-elf", NULL},
    {"msp430", "msp430-none-elf", PTR16},
    {"nvptx", "nvptx-nvidia-cuda", GPU},
    {"nvptx64", "nvptx64-nvidia-cuda", GPU},
    {"ppc32", "powerpc-unknown-elf", NULL},
    {"ppc32le", "powerpcle-unknown-elf", NULL},
    {"ppc64", "powerpc64-unknown-linux-gnu", NULL},
    {"ppc64le", "powerpc64le-unknown-linux-gnu", NULL},
    {"r600", "r600-unknown-unknown", GPU},
    {"riscv32", "riscv32-unknown-elf", NULL},
    {"riscv64", "riscv64-unknown-elf", NULL},
    {"sparc", "sparc-unknown-elf", NULL},
    {"sparcel", "sparcel-unknown-elf", NULL},
    {"sparcv9", "sparcv9-unknown-elf", NULL},
    {"systemz", "s390x-unknown-linux-gnu", NULL},
    {"thumb", "thumbv7em-none-eabihf", NULL},
    {"thumbeb", "thumbeb-none-eabi", NULL},
    {"ve", "ve-unknown-linux-gnu", NULL},
    {"wasm32", "wasm32-unknown-unknown", NULL},
    {"wasm64", "wasm64-unknown-unknown", NULL},
    {"x86", "i686-unknown-linux-gnu", NULL},
    {"x86-64", "x86_64-unknown-linux-gnu", NULL},
    {"xcore", "xcore-unknown-unknown", "writes no object files"},
    {"xtensa", "xtensa-none-elf", "Xtensa backend is experimental"},
};
#define NTARGETS (int)(sizeof targets / sizeof *targets)

/* An undefined symbol an object may have: memcpy/memset (as Mach-O and XCOFF spell
 * them), a compiler helper (libgcc / compiler-rt: __addsf3, __aeabi_fmul, __mulsi3,
 * __hexagon_divsf3 — none for memory), or a symbol the linker or C runtime defines. */
static bool allowed(const char *s) {
  static const char *const ok[] = {"memcpy", "memset", "_memcpy", "_memset", ".memcpy", ".memset",
                                   "_GLOBAL_OFFSET_TABLE_", ".TOC.", "_gp_disp", "_fltused", NULL};
  for (const char *const *p = ok; *p; p++)
    if (!strcmp(s, *p)) return true;
  return !strncmp(s, "__", 2) && !strstr(s, "mem") && !strstr(s, "bzero");
}

/* The undefined symbols of obj that are not allowed, space-separated ("" if none). */
static char *foreign(const char *obj) { return e2e_undefined(obj, allowed); }

/* gradc compile MODEL --target TRIPLE -O1 --emit EMIT [extra] -o DIR/out.EMIT; returns
 * the result (the caller frees it) and the output's path in *out. */
static e2e_result compile(const char *dir, const char *model, const char *triple, const char *emit, const char *extra,
                          char **out) {
  *out = e2e_fmt("%s/out.%s", dir, emit);
  const char *args[16] = {"compile", model, "--target", triple, "-O1", "--emit", emit, "-o", *out};
  int n = 9;
  if (extra) args[n++] = extra;
  args[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, args);
  return r;
}

/* A refusal: exit status 1, no signal, the words and the triple in the message, and
 * nothing left in dir. Returns the message (malloc'd). */
static char *expect_refused(const e2e_result *r, const char *dir, const char *triple, const char *words,
                            const char *how) {
  cr_expect_eq(r->signal, 0, "%s %s: killed by signal %d: %s", triple, how, r->signal, e2e_describe(r));
  cr_expect_eq(r->status, 1, "%s %s: expected a refusal (exit status 1): %s", triple, how, e2e_describe(r));
  char *arch = strndup(triple, strcspn(triple, "-")); /* the message names the triple normalised */
  cr_expect(strstr(r->err, words) && strstr(r->err, arch), "%s %s: the message does not say '%s': %s", triple, how,
            words, r->err);
  free(arch);
  char names[1024];
  cr_expect_eq(e2e_count_entries(dir, names, sizeof names), 0, "%s %s: left behind: %s", triple, how, names);
  return strdup(r->err);
}

static void check_target(const Target *t) {
  char *dir = e2e_tmpdir("target"), *out;
  e2e_result r = compile(dir, DIGITS, t->triple, "obj", NULL, &out);
  if (t->refusal) {
    free(expect_refused(&r, dir, t->triple, t->refusal, "--emit obj"));
  } else {
    cr_expect(r.status == 0 && r.signal == 0, "%s (%s): %s", t->triple, t->name, e2e_describe(&r));
    char *bad = r.status == 0 ? foreign(out) : strdup("");
    cr_expect_str_eq(bad, "", "%s: the object needs more than memcpy/memset and compiler helpers: %s", t->triple, bad);
    free(bad);
  }
  e2e_free(&r);
  free(out);
  e2e_rmdir(dir);
  free(dir);
}

static void check_range(int from, int to) {
  for (int i = from; i < to && i < NTARGETS; i++) check_target(&targets[i]);
}

Test(targets, builds_or_refused_a, .timeout = 120) { check_range(0, 12); }
Test(targets, builds_or_refused_b, .timeout = 120) { check_range(12, 24); }
Test(targets, builds_or_refused_c, .timeout = 120) { check_range(24, 36); }
Test(targets, builds_or_refused_d, .timeout = 120) { check_range(36, NTARGETS); }

Test(targets, every_registered_target_is_listed, .timeout = 30) {
  e2e_result r;
  const char *argv[] = {E2E_LLC, "--version", NULL};
  e2e_run(&r, argv);
  cr_assert_eq(r.status, 0, "llc --version: %s", e2e_describe(&r));
  const char *p = strstr(r.out, "Registered Targets:");
  cr_assert(p, "llc --version lists no targets: %s", r.out);
  int n = 0;
  for (p = strchr(p, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
    char name[64] = "";
    if (sscanf(p + 1, " %63s -", name) != 1) continue;
    bool listed = false;
    for (int i = 0; i < NTARGETS; i++) listed |= !strcmp(targets[i].name, name);
    cr_expect(listed, "LLVM registers target '%s', which this test does not try", name);
    n++;
  }
  cr_expect_geq(n, 40, "only %d registered targets read from: %s", n, r.out);
  e2e_free(&r);
}

/* The triples that ended by a signal, at random or every time (a fatal error on a
 * code-generation thread, an abort, a crash in LLVM): the same refusal on every run,
 * as an object and as a shared object (two code-generation threads). */
Test(targets, refusals_are_deterministic, .timeout = 120) {
  static const struct {
    const char *triple, *words;
  } cases[] = {
      {"wasm32-unknown-none-elf", "WebAssembly code only as WebAssembly objects"},
      {"wasm64-unknown-none-elf", "WebAssembly code only as WebAssembly objects"},
      {"loongarch32-unknown-none-elf", "LLVM 16 cannot generate code for target"},
      {"xtensa-none-elf", "Xtensa backend is experimental"},
      {"xtensa", "Xtensa backend is experimental"},
      {"xtensa-esp32-elf", "Xtensa backend is experimental"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (const char *const *emit = (const char *[]){"obj", "so", NULL}; *emit; emit++) {
      char *first = NULL;
      for (int run = 0; run < 4; run++) {
        char *dir = e2e_tmpdir("refuse"), *out;
        e2e_result r = compile(dir, DIGITS, cases[i].triple, *emit, NULL, &out);
        char *said = expect_refused(&r, dir, cases[i].triple, cases[i].words, *emit);
        if (!first) first = said;
        else cr_expect_str_eq(said, first, "%s --emit %s: another message on run %d", cases[i].triple, *emit, run + 1);
        if (said != first) free(said);
        e2e_free(&r);
        free(out);
        e2e_rmdir(dir);
        free(dir);
      }
      free(first);
    }
}

/* Whether LLVM can build a model for loongarch32 depends on the model: an inference
 * build of digits has no float bit operations, and builds. XCore has no object
 * writer, but assembly. */
Test(targets, partial_backends, .timeout = 60) {
  char *dir = e2e_tmpdir("partial"), *out;
  e2e_result r = compile(dir, DIGITS, "loongarch32-unknown-none-elf", "obj", "--inference", &out);
  cr_expect_eq(r.status, 0, "loongarch32 --inference: %s", e2e_describe(&r));
  e2e_free(&r), free(out);
  r = compile(dir, DIGITS, "xcore-unknown-unknown", "asm", NULL, &out);
  cr_expect_eq(r.status, 0, "xcore --emit asm: %s", e2e_describe(&r));
  e2e_free(&r), free(out);
  e2e_rmdir(dir);
  free(dir);
}

/* Object formats: LLVM 16's writers where it has them, a refusal where not (it aborted
 * or crashed). */
Test(targets, object_formats, .timeout = 120) {
  static const Target cases[] = {
      {"Mach-O", "x86_64-apple-darwin", NULL},
      {"COFF", "x86_64-pc-windows-msvc", NULL},
      {"COFF", "i686-pc-windows-gnu", NULL},
      {"XCOFF", "powerpc64-ibm-aix", NULL},
      {"ELF", "x86_64-pc-windows-elf", NULL},
      {"GOFF", "s390x-ibm-zos", "cannot write GOFF"},
      {"COFF", "x86_64-unknown-linux-gnu-coff", "COFF objects only for Windows"},
      {"Mach-O", "riscv32-unknown-unknown-macho", "Mach-O objects only for"},
      {"Wasm", "x86_64-unknown-unknown-wasm", "WebAssembly objects only for wasm32 and wasm64"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_target(&cases[i]);
}

Test(targets, cpu_messages, .timeout = 60) {
  char *dir = e2e_tmpdir("cpu"), *out;
  e2e_result r = compile(dir, DIGITS, "thumbv7em-none-eabihf", "obj", "--cpu=cortex-m44", &out);
  cr_expect(r.status == 1 && strstr(r.err, "--cpu 'cortex-m44' is not a processor LLVM knows") &&
                strstr(r.err, "did you mean 'cortex-m4'?") && strstr(r.err, "its processors:") &&
                strstr(r.err, " cortex-m0plus,"),
            "an unknown CPU: %s", e2e_describe(&r));
  e2e_free(&r), free(out);
  r = compile(dir, DIGITS, "xtensa-esp32-elf", "obj", "--cpu=esp32", &out);
  cr_expect(r.status == 1 && strstr(r.err, "Xtensa backend is experimental"), "xtensa --cpu esp32: %s",
            e2e_describe(&r));
  e2e_free(&r), free(out);
  r = compile(dir, DIGITS, "x86_64-unknown-linux-gnu", "obj", "--cpu=i486", &out);
  cr_expect(r.status == 1 && strstr(r.err, "--cpu 'i486' cannot generate code") && strstr(r.err, "64-bit code"),
            "a known CPU without the triple's basics: %s", e2e_describe(&r));
  e2e_free(&r), free(out);
  char names[1024];
  cr_expect_eq(e2e_count_entries(dir, names, sizeof names), 0, "left behind: %s", names);
  e2e_rmdir(dir);
  free(dir);
}
