/* e2e_freestanding.c — what README "Firmware" promises of an object file, checked with
 * the ARM toolchain (arm-none-eabi-gcc, -nm, -readelf, -objdump) on real links:
 *
 * - Cortex-M objects, every entry point, training and inference, link with -nostdlib
 *   and nothing but memcpy and memset (and libgcc's float helpers for a core without
 *   an FPU): no __aeabi_memclr4 or other helper of the run-time ABI.
 * - A --gc-sections link drops the descriptor, its string and the _packed wrappers
 *   that nothing calls, and keeps them when something does; the flash it keeps is no
 *   more than --stats counts without the descriptor.
 * - The float ABI: thumbv7em-none-eabihf objects pass floats in VFP registers and link
 *   only into hard-float programs; thumbv7em-none-eabi --cpu cortex-m4 objects use the
 *   FPU with the base (soft-float) calling convention and link into softfp programs.
 * - --cpu x86-64 on the host gives code for any x86-64 (no AVX registers). */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "e2e_util.h"

#define DIGITS GRADC_SOURCE_DIR "/models/digits.grad"
#define DIGITS_CNN GRADC_SOURCE_DIR "/models/digits_cnn.grad"

/* memcpy and memset as a C library would give them, compiled so that gcc does not
 * turn the loops back into calls of themselves. */
static const char *const mem_c =
    "#include <stddef.h>\n"
    "void *memcpy(void *d, const void *s, size_t n) {\n"
    "  char *p = d; const char *q = s; while (n--) *p++ = *q++; return d; }\n"
    "void *memset(void *d, int c, size_t n) { char *p = d; while (n--) *p++ = (char)c; return d; }\n";

static void tool_present(const char *path) {
  cr_assert(!strstr(path, "NOTFOUND"), "%s is missing (tools/setup/install-deps.sh installs gcc-arm-none-eabi)", path);
}

/* Runs the NULL-terminated argv; returns the result (the caller frees it). */
static e2e_result run(const char *const *argv) {
  tool_present(argv[0]);
  e2e_result r;
  e2e_run(&r, argv);
  return r;
}

/* gradc compile MODEL --emit obj -o OUT with up to 8 more arguments (NULL-terminated). */
static void gradc_obj(const char *model, const char *out, const char *const *extra) {
  const char *args[16] = {"compile", model, "--emit", "obj", "-o", out};
  int n = 6;
  for (; extra && *extra && n < 15; extra++) args[n++] = *extra;
  args[n] = NULL;
  e2e_result r;
  e2e_gradcv(&r, args);
  cr_assert_eq(r.status, 0, "gradc compile %s -o %s: %s", model, out, e2e_describe(&r));
  e2e_free(&r);
}

typedef struct {
  const char *triple, *cpu;
  const char *flags[4]; /* gcc's for the same core and float ABI */
  bool libgcc;          /* no FPU: libgcc's float helpers */
} Core;

static const Core M4_HARD = {"thumbv7em-none-eabihf", "cortex-m4", {"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"}, false};
static const Core M4_SOFTFP = {"thumbv7em-none-eabi", "cortex-m4", {"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16"}, false};
static const Core M0 = {"thumbv6m-none-eabi", "cortex-m0", {"-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-mthumb"}, true};

/* arm-none-eabi-gcc -nostdlib for core: dir/main.c, dir/mem.c and the objects (NULL-
 * terminated) into elf, with extra linker options; returns the result. */
static e2e_result arm_link(const Core *c, const char *dir, const char *elf, const char *const *objs, const char *ldopt) {
  const char *argv[32] = {E2E_ARM_GCC};
  int n = 1;
  for (int i = 0; i < 4; i++) argv[n++] = c->flags[i];
  static const char *const common[] = {"-nostdlib", "-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
                                       "-O1", "-e", "entry", "-Wl,--no-warn-execstack", NULL};
  for (const char *const *p = common; *p; p++) argv[n++] = *p;
  if (ldopt) argv[n++] = ldopt;
  char *main_c = e2e_fmt("%s/main.c", dir), *mem = e2e_fmt("%s/mem.c", dir), *inc = e2e_fmt("-I%s", dir);
  argv[n++] = inc, argv[n++] = main_c, argv[n++] = mem;
  for (; *objs && n < 26; objs++) argv[n++] = *objs;
  if (c->libgcc) argv[n++] = "-lgcc";
  argv[n++] = "-o", argv[n++] = elf, argv[n] = NULL;
  cr_assert(e2e_write(mem, mem_c));
  e2e_result r = run(argv);
  free(main_c), free(mem), free(inc);
  return r;
}

static void write_main(const char *dir, const char *body) {
  char *p = e2e_fmt("%s/main.c", dir);
  cr_assert(e2e_write(p, body));
  free(p);
}

Test(freestanding, nostdlib_link_with_memcpy_memset, .timeout = 120) {
  const Core *cores[] = {&M4_HARD, &M4_SOFTFP, &M0};
  static const struct {
    const char *model, *extra[4];
  } builds[] = {
      {DIGITS, {NULL}},                          /* forward, backward, train step */
      {DIGITS_CNN, {NULL}},                      /* convolutions, pooling */
      {DIGITS, {"--inference", "-D", "N=1", NULL}},
  };
  char *dir = e2e_tmpdir("nostdlib");
  write_main(dir, "void entry(void) {}\n"); /* no --gc-sections: every function is linked */
  for (int c = 0; c < 3; c++)
    for (int b = 0; b < 3; b++) {
      char *obj = e2e_fmt("%s/m%d_%d.o", dir, c, b), *elf = e2e_fmt("%s/m%d_%d.elf", dir, c, b);
      const char *extra[8] = {"--target", cores[c]->triple, "--cpu", cores[c]->cpu};
      for (int i = 0; builds[b].extra[i]; i++) extra[4 + i] = builds[b].extra[i];
      gradc_obj(builds[b].model, obj, extra);
      e2e_result r = arm_link(cores[c], dir, elf, (const char *[]){obj, NULL}, NULL);
      cr_expect_eq(r.status, 0, "%s %s%s: the -nostdlib link with only memcpy/memset failed: %s", cores[c]->triple,
                   builds[b].model, builds[b].extra[0] ? " --inference" : "", r.err);
      e2e_free(&r);
      free(obj), free(elf);
    }
  e2e_rmdir(dir);
  free(dir);
}

/* The defined symbols of elf, one per line ("T name"). */
static char *symbols(const char *elf) {
  e2e_result r = run((const char *[]){E2E_ARM_NM, elf, NULL});
  cr_assert_eq(r.status, 0, "nm %s: %s", elf, e2e_describe(&r));
  char *s = strdup(r.out);
  e2e_free(&r);
  return s;
}

static bool has(const char *nm, const char *sym) {
  char *pat = e2e_fmt(" %s\n", sym);
  bool found = strstr(nm, pat) != NULL;
  free(pat);
  return found;
}

static bool has_descriptor_text(const char *elf) {
  size_t n;
  char *b = e2e_read(elf, &n);
  cr_assert(b, "cannot read %s", elf);
  bool found = memmem(b, n, "\"gradc\":1", 9) != NULL;
  free(b);
  return found;
}

/* A number from --stats ("code 288"). */
static long long stat_of(const char *stats, const char *key) {
  const char *p = strstr(stats, key);
  cr_assert(p, "no '%s' in --stats: %s", key, stats);
  return atoll(p + strlen(key));
}

/* .text + .rodata (+ .data) of a linked image: arm-none-eabi-size's text column. */
static long long flash_of(const char *elf) {
  e2e_result r = run((const char *[]){E2E_ARM_SIZE, elf, NULL});
  cr_assert_eq(r.status, 0, "size %s: %s", elf, e2e_describe(&r));
  const char *line = strchr(r.out, '\n');
  long long text = line ? atoll(line + 1) : -1;
  e2e_free(&r);
  return text;
}

/* The size of sym in elf (nm -S). */
static long long symbol_size(const char *elf, const char *sym) {
  e2e_result r = run((const char *[]){E2E_ARM_NM, "-S", elf, NULL});
  cr_assert_eq(r.status, 0, "nm -S %s: %s", elf, e2e_describe(&r));
  char *pat = e2e_fmt(" %s\n", sym);
  long long size = -1;
  for (char *l = r.out, *e; l && (e = strstr(l, pat)); l = e + 1) {
    char *start = e;
    while (start > r.out && start[-1] != '\n') start--;
    unsigned long long addr, sz;
    char type;
    if (sscanf(start, "%llx %llx %c", &addr, &sz, &type) == 3 && (type == 'T' || type == 't')) size = (long long)sz;
    break;
  }
  free(pat);
  e2e_free(&r);
  cr_assert(size > 0, "no size for %s in %s", sym, elf);
  return size;
}

#define DIGITS_ARGS "static float x[DIGITS_X_SIZE], y[DIGITS_LOGITS_SIZE], w1[DIGITS_W1_SIZE], b1[DIGITS_B1_SIZE],\n" \
                    "  w2[DIGITS_W2_SIZE], b2[DIGITS_B2_SIZE], ws[DIGITS_WORKSPACE_BYTES / 4 + 1];\n"

Test(freestanding, gc_sections_drop_what_nothing_calls, .timeout = 120) {
  char *dir = e2e_tmpdir("gc"), *obj = e2e_fmt("%s/digits.o", dir), *elf = e2e_fmt("%s/a.elf", dir);
  e2e_result st;
  e2e_gradc(&st, "compile", DIGITS, "--inference", "-D", "N=1", "--target", M4_HARD.triple, "--cpu", M4_HARD.cpu,
            "--emit", "obj", "--stats", "-o", obj, NULL);
  cr_assert_eq(st.status, 0, "%s", e2e_describe(&st));
  const char *ld[] = {obj, NULL};
  write_main(dir, "#include \"digits.h\"\n" DIGITS_ARGS "void entry(void) { digits_forward(x, w1, b1, w2, b2, y, ws); }\n");
  e2e_result r = arm_link(&M4_HARD, dir, elf, ld, "-Wl,--gc-sections");
  cr_assert_eq(r.status, 0, "%s", r.err);
  e2e_free(&r);
  char *nm = symbols(elf);
  cr_expect(has(nm, "digits_forward"), "digits_forward is gone: %s", nm);
  cr_expect(!has(nm, "digits_descriptor") && !has(nm, "digits_forward_packed"),
            "the descriptor or the packed wrapper survived --gc-sections: %s", nm);
  cr_expect(!has_descriptor_text(elf), "the descriptor's text survived --gc-sections");
  /* the flash the model keeps: the image's, less entry() and the unwinding index's two
   * entries (8 bytes each, entry's and digits_forward's) */
  const char *stats = st.out[0] ? st.out : st.err;
  long long kept = flash_of(elf) - symbol_size(elf, "entry") - 16;
  long long counted = stat_of(stats, "code ") + stat_of(stats, "constants ");
  cr_expect(kept > 0 && kept <= counted, "the image keeps %lld bytes of the model, --stats counts %lld without the descriptor",
            kept, counted);
  free(nm);
  write_main(dir, "#include \"digits.h\"\nconst char *entry(void) { return digits_descriptor(); }\n");
  r = arm_link(&M4_HARD, dir, elf, ld, "-Wl,--gc-sections");
  cr_assert_eq(r.status, 0, "%s", r.err);
  e2e_free(&r);
  nm = symbols(elf);
  cr_expect(has(nm, "digits_descriptor") && has_descriptor_text(elf), "the descriptor asked for is gone: %s", nm);
  cr_expect(!has(nm, "digits_forward"), "digits_forward kept though nothing calls it: %s", nm);
  free(nm);
  e2e_free(&st);
  /* a training object: the train step alone keeps none of the wrappers */
  gradc_obj(DIGITS, obj, (const char *[]){"--target", M4_HARD.triple, "--cpu", M4_HARD.cpu, NULL});
  write_main(dir, "#include \"digits.h\"\n" DIGITS_ARGS
                  "static int32_t l[DIGITS_LABEL_SIZE];\n"
                  "static float g[DIGITS_W1_SIZE], m[DIGITS_W1_SIZE], h[3], loss;\n"
                  "void entry(void) { digits_train_step(x, l, w1, b1, w2, b2, g, g, g, g, m, m, m, m, y, &loss, h, ws); }\n");
  r = arm_link(&M4_HARD, dir, elf, ld, "-Wl,--gc-sections");
  cr_assert_eq(r.status, 0, "%s", r.err);
  e2e_free(&r);
  nm = symbols(elf);
  cr_expect(has(nm, "digits_train_step"), "digits_train_step is gone: %s", nm);
  cr_expect(!has(nm, "digits_train_step_packed") && !has(nm, "digits_backward_packed") &&
                !has(nm, "digits_forward_packed") && !has(nm, "digits_descriptor"),
            "wrappers or the descriptor survived --gc-sections: %s", nm);
  free(nm);
  free(obj), free(elf);
  e2e_rmdir(dir);
  free(dir);
}

/* arm-none-eabi-readelf -A of obj (the build attributes). */
static char *attributes(const char *obj) {
  e2e_result r = run((const char *[]){E2E_ARM_READELF, "-A", obj, NULL});
  cr_assert_eq(r.status, 0, "readelf -A %s: %s", obj, e2e_describe(&r));
  char *s = strdup(r.out);
  e2e_free(&r);
  return s;
}

Test(freestanding, float_abi, .timeout = 120) {
  char *dir = e2e_tmpdir("fpabi"), *hf = e2e_fmt("%s/hf.o", dir), *sf = e2e_fmt("%s/sf.o", dir);
  char *elf = e2e_fmt("%s/a.elf", dir);
  gradc_obj(DIGITS, hf, (const char *[]){"--target", M4_HARD.triple, "--cpu", M4_HARD.cpu, NULL});
  gradc_obj(DIGITS, sf, (const char *[]){"--target", M4_SOFTFP.triple, "--cpu", M4_SOFTFP.cpu, NULL});
  char *a = attributes(hf);
  cr_expect(strstr(a, "Tag_ABI_VFP_args: VFP registers") && strstr(a, "Tag_FP_arch: VFPv4-D16"), "eabihf: %s", a);
  free(a);
  a = attributes(sf);
  cr_expect(!strstr(a, "Tag_ABI_VFP_args") && strstr(a, "Tag_FP_arch: VFPv4-D16"),
            "eabi --cpu cortex-m4: not FPU code with the base calling convention: %s", a);
  free(a);
  e2e_result r = run((const char *[]){E2E_ARM_OBJDUMP, "-d", sf, NULL});
  cr_expect(r.status == 0 && strstr(r.out, "vadd.f32") && strstr(r.out, "vmul.f32"), "eabi --cpu cortex-m4: no FPU instructions");
  e2e_free(&r);
  write_main(dir, "void entry(void) {}\n");
  r = arm_link(&M4_SOFTFP, dir, elf, (const char *[]){hf, NULL}, NULL);
  cr_expect(r.status != 0 && strstr(r.err, "uses VFP register arguments"), "an eabihf object linked into a softfp program: %s",
            e2e_describe(&r));
  e2e_free(&r);
  r = arm_link(&M4_SOFTFP, dir, elf, (const char *[]){sf, NULL}, NULL);
  cr_expect_eq(r.status, 0, "the eabi object does not link into a softfp program: %s", r.err);
  e2e_free(&r);
  r = arm_link(&M4_HARD, dir, elf, (const char *[]){hf, NULL}, NULL);
  cr_expect_eq(r.status, 0, "the eabihf object does not link into a hard-float program: %s", r.err);
  e2e_free(&r);
  free(hf), free(sf), free(elf);
  e2e_rmdir(dir);
  free(dir);
}

#if defined(__x86_64__)
Test(freestanding, portable_host_build, .timeout = 60) {
  e2e_result r;
  e2e_gradc(&r, "compile", DIGITS, "--cpu", "x86-64", "--emit", "asm", "-o", "-", NULL);
  cr_assert_eq(r.status, 0, "%s", e2e_describe(&r));
  cr_expect(strstr(r.out, "%xmm") && !strstr(r.out, "%ymm") && !strstr(r.out, "%zmm"),
            "--cpu x86-64 uses AVX registers, which not every x86-64 has");
  e2e_free(&r);
}
#endif
