/* emit.h — writing objects, assembly, IR, shared objects, headers, descriptors. */
#ifndef GRADC_EMIT_H
#define GRADC_EMIT_H
#include <stdio.h>
#include "gradc/compiler.h"
#include "lower.h"

/* One compiled model: its graph and entry points (forward first). g is the graph the
 * training entry points compute (the only one without them); the forward entry computes
 * entries[0]->g, the eval-mode graph, which differs when dropout or batch_norm makes
 * the modes differ (Graph.mode_dependent). Both have the same leaves. */
typedef struct {
  Graph *g;
  Entry *entries[3]; /* forward, backward, train step */
  int nentries;
  int64_t ws_bytes; /* the largest entry's plan */
  bool parallel;    /* some kernel is split into parts: the object has NAME_set_parallel */
  const char *source_name;
} Unit;

char *descriptor_json(const Unit *u);
void emit_descriptor(Lower *L, const Unit *u, bool fixed_symbol);
void emit_header(FILE *f, const Unit *u, const char *source_name);
LLVMTargetMachineRef emit_target_machine(const char *triple, const char *cpu, int opt, char *err, size_t errlen);
/* Machine code of mod (LLVMObjectFile or LLVMAssemblyFile) written to path. */
int emit_machine_code(LLVMModuleRef mod, LLVMTargetMachineRef tm, LLVMCodeGenFileType kind, const char *path,
                      char *err, size_t errlen);
/* A second target machine like tm (triple, CPU, features; -O level opt), for a thread. */
LLVMTargetMachineRef emit_clone_target_machine(LLVMTargetMachineRef tm, int opt);
int emit_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, char *err, size_t errlen);
/* Writes mod as o->emit (SO, OBJ, ASM or LLVM) to o->out, atomically (an SO linked by
 * o->cc, its machine code on o->codegen_threads; o->opt_level for its second target
 * machine). Returns the number of object files (1, or 2 for an SO whose machine code
 * was generated in two halves), or -1 with err. */
int emit_file(LLVMModuleRef mod, LLVMTargetMachineRef tm, const gc_options *o, char *err, size_t errlen);
/* emit_parallel.c: mod's machine code as the object file obj0 or, for a large module,
 * as obj0 and obj1 (every function defined in one of them; mod is cut to obj0's half),
 * generated on two threads where this process may use two cores (threads: 1 or 2
 * overrides, as gc_options.codegen_threads; the bytes do not depend on it). Returns the
 * number of files written, or -1 with err. */
int emit_objects(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt, int threads, const char *obj0,
                 const char *obj1, char *err, size_t errlen);
/* emit_target.c: the targets gradc builds for, and LLVM's errors caught.
 * The object format LLVM 16 writes for a (normalised) triple. */
typedef enum { OBJ_ELF, OBJ_MACHO, OBJ_COFF, OBJ_XCOFF, OBJ_GOFF, OBJ_WASM, OBJ_OTHER } EmitFormat;
EmitFormat emit_object_format(const char *triple);
/* 0, or -1 with the reason in err for a target LLVM 16 cannot build gradc's code for
 * (checked before any code is generated). */
int emit_check_target(LLVMTargetRef target, const char *triple, char *err, size_t errlen);
/* 0, or -1 with err for a CPU LLVM does not know for the target (naming those it does). */
int emit_check_cpu(LLVMTargetRef target, const char *triple, const char *cpu, char *err, size_t errlen);
/* Installs the fatal-error handler (once per process) and names the target its message
 * mentions: an LLVM fatal error removes the files registered with emit_fatal_file, says
 * so on stderr and ends the process with exit status 1, on any thread. */
void emit_guard_target(const char *triple);
void emit_fatal_file(const char *path, bool add);
/* While on (from the main thread, around the LLVM work of a compile): a crash inside
 * LLVM (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) ends the process as a fatal error
 * does. off restores the handlers there were. */
void emit_crash_guard(bool on);
/* An error LLVM diagnoses in ctx between begin and end makes end return -1 with it in
 * err (instead of LLVM's exit(1)); warnings and remarks are dropped. */
typedef struct {
  LLVMContextRef ctx;
  LLVMDiagnosticHandler prev;
  void *prev_arg;
  bool failed;
  char msg[512];
} DiagCatch;
void emit_catch_begin(DiagCatch *c, LLVMContextRef ctx);
int emit_catch_end(DiagCatch *c, char *err, size_t errlen);
/* Before code generation (emit_optimize ends with it): on ELF, every function and
 * global variable in a section of its own (.text.NAME, .rodata.NAME, ...), so that a
 * --gc-sections link drops what nothing calls; on targets whose code generator would
 * turn memset/memcpy into helpers of their own (__aeabi_memclr4 on ARM EABI), plain
 * calls to memset and memcpy instead. */
void emit_prepare_codegen(LLVMModuleRef mod, LLVMTargetMachineRef tm);

/* Writes text produced by write(f, arg) to out, atomically. */
int emit_text(const char *out, void (*write)(FILE *, const void *), const void *arg, char *err, size_t errlen);

/* The footprint of the module for the target (gc_result.foot). */
int emit_footprint(LLVMModuleRef mod, LLVMTargetMachineRef tm, const Unit *u, gc_result *res, char *err,
                   size_t errlen);

/* irprint.c / dot.c */
void print_ir(FILE *f, const Unit *u);
void print_dot(FILE *f, const Unit *u);

#endif
