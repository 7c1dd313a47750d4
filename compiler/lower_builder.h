/* lower_builder.h — the LLVM code generator's context (Lower) and the builder helpers
 * every kernel emitter uses (lower_builder.c): constants, stack slots, counted loops,
 * the address of a node's element (function argument, workspace slice, alias or baked
 * constant), loads and stores of floats and of whole or partial vectors, intrinsics.
 * The bottom of the backend: it emits no kernel and knows no operator. */
#ifndef GRADC_LOWER_BUILDER_H
#define GRADC_LOWER_BUILDER_H
#include <llvm-c/Core.h>
#include "entry.h"
#include "gradc/runtime_core.h" /* GRADC_OPT_MAX_VALUES */

typedef struct Lower Lower;
struct Lower {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef f32, i32, ix, i8, ptr, vd; /* ix: the target's pointer-sized index type */
  LLVMValueRef fn;   /* the function being emitted */
  LLVMValueRef ws;   /* its workspace argument */
  LLVMValueRef *args;/* its arguments, as in Entry.args */
  Entry *e;          /* the entry point being emitted */
  int vw;            /* floats per SIMD vector on the target (1: no vectors) */
  bool profile;      /* gc_options.profile_kernels: every kernel a function of its own */
  LLVMValueRef train;    /* gradient core: i1, true in train-step mode */
  LLVMValueRef part;     /* in the function of one part of a split kernel: its index (ix) */
  LLVMValueRef *slice;   /* in a kernel's function: by node id, its workspace buffers' parameters */
  LLVMValueRef *scratch; /* ... and its packing scratch's */
  LLVMValueRef hyper[GRADC_OPT_MAX_VALUES]; /* the optimizer's values already loaded
                            for the update epilogues being emitted (a block's loop), or
                            NULL: they load their own */
  int lanes;             /* > 1 while elementwise code is emitted on vectors of that many
                            floats (a matmul epilogue): lw_f32 and the lw_*_t types follow */
  LLVMValueRef elem_at;   /* while an elementwise member that draws random numbers (dropout)
                            is emitted: the row-major index (ix) of its element — of the
                            first lane, the others following — in its own shape */
  Graph *g;
};

typedef struct {
  LLVMBasicBlockRef head, body, exit;
  LLVMValueRef slot, iv;
  bool no_unroll; /* set before lw_loop_end: the body is already wide (micro-kernels) */
} Loop;

/* A float constant (a splat vector while L->lanes > 1). */
LLVMValueRef lw_f32(Lower *L, double v);
/* The f32 / i32 type of elementwise values (vectors while L->lanes > 1), and an i32
 * constant of that shape. */
LLVMTypeRef lw_float_t(Lower *L);
LLVMTypeRef lw_int_t(Lower *L);
LLVMValueRef lw_i32(Lower *L, int64_t v);
/* An index constant, of the target's pointer width (32-bit microcontrollers do no
 * 64-bit arithmetic). */
LLVMValueRef lw_ix(Lower *L, int64_t v);
/* for (iv = 0; iv < n; iv++) { ... lw_loop_end } */
LLVMValueRef lw_loop(Lower *L, Loop *lp, int64_t n, const char *name);
/* The same with a bound computed at run time (an ix value). */
LLVMValueRef lw_loop_v(Lower *L, Loop *lp, LLVMValueRef n, const char *name);
void lw_loop_end(Lower *L, Loop *lp);
/* The workspace slice the plan reserved for kernel scratch of node x (of the part
 * being emitted, when the kernel is split). */
LLVMValueRef lw_scratch(Lower *L, Node *x);
/* Opens one loop per dimension of s; idx receives the induction variables. */
void lw_loops(Lower *L, Loop *lps, Shape s, LLVMValueRef *idx);
void lw_loops_end(Lower *L, Loop *lps, Shape s);
/* A stack slot (promoted to a register by the optimiser). */
LLVMValueRef lw_slot(Lower *L, LLVMTypeRef t, const char *name);

/* Element of node x at the multi-index idx of a rank-`rank` iteration space that x
 * broadcasts into (size-1 and missing leading dims of x are read at 0). */
LLVMValueRef lw_addr(Lower *L, Node *x, const LLVMValueRef *idx, int rank);
LLVMValueRef lw_load(Lower *L, Node *x, const LLVMValueRef *idx, int rank);
/* The alignment of every buffer's elements, which vector loads and stores assume: that
 * of one f32 element (a buffer is an array of its dtype). */
#define LW_ALIGN ((unsigned)dtype_size(DT_F32))
/* Vectors: x in every lane of vector type vt (x itself if vt is not a vector); loads
 * and stores of vectors aligned as one element (LW_ALIGN); a mask of `lanes` leading true lanes out of vw;
 * loads / stores of a vector of which only `lanes` leading elements exist (a partial
 * vector at a row's end; the missing lanes load as copies of the last, and are not
 * written). */
LLVMValueRef lw_splat(Lower *L, LLVMTypeRef vt, LLVMValueRef x);
LLVMValueRef lw_vload(Lower *L, LLVMTypeRef vt, LLVMValueRef ptr);
void lw_vstore(Lower *L, LLVMValueRef v, LLVMValueRef ptr);
LLVMValueRef lw_lane_mask(Lower *L, int vw, int lanes);
LLVMValueRef lw_masked_load(Lower *L, LLVMTypeRef vt, LLVMValueRef ptr, int lanes);
void lw_masked_store(Lower *L, LLVMValueRef v, LLVMValueRef ptr, int lanes);

LLVMValueRef lw_call_intrinsic(Lower *L, const char *name, LLVMValueRef x);
/* a * b + c, fused where the target has FMA (llvm.fmuladd), floats or vectors. */
LLVMValueRef lw_fmuladd(Lower *L, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef lw_select_gt(Lower *L, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f);

/* The context for emitting into module mod (lower_dispose frees its builder). */
void lower_init(Lower *L, LLVMContextRef ctx, LLVMModuleRef mod);
void lower_dispose(Lower *L);

/* The plan's buffer for node x (its alias base's, for an alias); the element offset
 * sum_i idx[i] * st[i] of a multi-index; the address of x's element at offset off. */
Buffer *lw_buffer(Lower *L, Node *x);
LLVMValueRef lw_offset(Lower *L, const LLVMValueRef *idx, const int64_t *st, int rank);
LLVMValueRef lw_elem_ptr(Lower *L, Node *x, LLVMValueRef off);

#endif
