/* runtime/host.c — the host runtime: open a gradc shared object (dlopen), read and
 * validate its descriptor, allocate 64-byte aligned tensor, gradient and workspace
 * buffers, resolve the entry points and call them (NAME_packed where the object has
 * it, else through libffi); init, zero_grad, forward, backward and introspection. The
 * optimizer (its state buffers, stepping, clipping) is optim.c's.
 *
 * It does not parse JSON itself (runtime/descriptor.c) nor touch weight files
 * (runtime/safetensors.c). Nothing here aborts, exits or prints: failures return a
 * negative value with a message from gradc_error(). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <ffi.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "pool.h"

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym needs data and code pointers of one size");

int gradc__fail(gradc_model *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->err, sizeof m->err, fmt, ap);
  va_end(ap);
  return -1;
}

long gradc__find(const gradc_model *m, const char *name) {
  if (!name) return -1;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (strcmp(m->desc.tensors[i].name, name) == 0) return (long)i;
  return -1;
}

static void *sym(void *dl, const char *name) {
  dlerror();
  return dlsym(dl, name);
}

/* A zeroed buffer of at least n bytes (at least one alignment unit), 64-byte aligned. */
void *gradc__alloc(size_t n) {
  size_t a = GRADC_WORKSPACE_ALIGN;
  size_t r = n == 0 ? a : (n + a - 1) / a * a;
  void *p = aligned_alloc(a, r);
  if (p) memset(p, 0, r);
  return p;
}

/* ---- opening ---- */

static int load_descriptor(gradc_model *m, const char *path) {
  void *s = sym(m->dl, GRADC_DESCRIPTOR_SYMBOL);
  if (!s) return gradc__fail(m, "'%s' is not a gradc model: no symbol %s", path, GRADC_DESCRIPTOR_SYMBOL);
  const char *(*fn)(void);
  memcpy(&fn, &s, sizeof fn);
  const char *text = fn();
  if (!text) return gradc__fail(m, "'%s': the descriptor function returned NULL", path);
  char e[GRADC_ERR_LEN - 300];
  if (gradc_desc_parse(text, &m->desc, e, sizeof e)) return gradc__fail(m, "'%s': %s", path, e);
  return 0;
}

/* Every buffer, each allocation checked: a failure is an "out of memory" error naming
 * the buffer and its size, never a crash (gradc_close frees what was allocated). */
static int alloc_buffers(gradc_model *m, const char *path) {
  size_t n = m->desc.ntensors + 1;
  m->buf = calloc(n, sizeof *m->buf);
  m->grad = calloc(n, sizeof *m->grad);
  if (!m->buf || !m->grad)
    return gradc__fail(m, "'%s': out of memory allocating the tables of %zu tensors", path, m->desc.ntensors);
  if (!(m->workspace = gradc__alloc(m->desc.workspace_bytes)))
    return gradc__fail(m, "'%s': out of memory allocating the workspace (%zu bytes)", path, m->desc.workspace_bytes);
  for (size_t i = 0; i < m->desc.ntensors; i++) {
    const gradc_tensor_info *ti = &m->desc.tensors[i].info;
    size_t bytes = ti->count * sizeof(float); /* f32 and i32 are both 4 bytes */
    const char *what = NULL;
    if (!(m->buf[i] = gradc__alloc(bytes))) what = "tensor";
    else if (ti->trainable && !(m->grad[i] = gradc__alloc(bytes))) what = "gradient of";
    if (what) return gradc__fail(m, "'%s': out of memory allocating the %s '%s' (%zu bytes)", path, what, ti->name, bytes);
  }
  return 0;
}

static void *arg_pointer(gradc_model *m, const gradc_arg_desc *a) {
  switch (a->kind) {
  case GRADC_ARG_TENSOR: return m->buf[a->tensor];
  case GRADC_ARG_GRAD: return m->grad[a->tensor];
  case GRADC_ARG_LOSS: return &m->loss;
  case GRADC_ARG_WORKSPACE: return m->workspace;
  case GRADC_ARG_STATE: /* the train step's rule's state; none while another rule is in use */
    return m->opt == m->compiled && m->state[a->slot] ? m->state[a->slot][a->tensor] : NULL;
  case GRADC_ARG_HYPER: return m->values;
  case GRADC_ARG_SEED: return &m->step_seed; /* dropout and modes (issue 15) */
  }
  return NULL;
}

static int prepare_call(gradc_model *m, const char *path, const gradc_entry_desc *e, gradc_call *c) {
  void *s = sym(m->dl, e->name);
  if (!s) return gradc__fail(m, "'%s': entry point '%s' not found", path, e->name);
  memcpy(&c->fn, &s, sizeof c->fn);
  void *ps = e->packed ? sym(m->dl, e->packed) : NULL;
  if (e->packed && !ps) return gradc__fail(m, "'%s': entry point '%s' not found", path, e->packed);
  memcpy(&c->packed, &ps, sizeof c->packed);
  size_t n = e->nargs + 1;
  c->types = calloc(n, sizeof *c->types);
  c->vals = calloc(n, sizeof *c->vals);
  c->avalues = calloc(n, sizeof *c->avalues);
  if (!c->types || !c->vals || !c->avalues) return gradc__fail(m, "'%s': out of memory", path);
  c->nargs = e->nargs;
  for (size_t i = 0; i < e->nargs; i++) {
    c->types[i] = &ffi_type_pointer;
    c->vals[i] = arg_pointer(m, &e->args[i]);
    c->avalues[i] = &c->vals[i];
  }
  if (ffi_prep_cif(&c->cif, FFI_DEFAULT_ABI, (unsigned)c->nargs, &ffi_type_void, c->types) != FFI_OK)
    return gradc__fail(m, "'%s': libffi cannot prepare a call to '%s'", path, e->name);
  return 0;
}

static int open_model(gradc_model *m, const char *so_path) {
  /* A bare file name means the file here, not a search of the library path. */
  char local[4096];
  const char *p = so_path;
  if (!strchr(so_path, '/') && snprintf(local, sizeof local, "./%s", so_path) < (int)sizeof local) p = local;
  m->dl = dlopen(p, RTLD_NOW | RTLD_LOCAL);
  if (!m->dl) {
    const char *de = dlerror();
    return gradc__fail(m, "cannot open model '%s': %s", so_path, de ? de : "dlopen failed");
  }
  if (load_descriptor(m, so_path)) return -1;
  if (alloc_buffers(m, so_path)) return -1;
  const gradc_entry_desc *f = gradc_desc_entry(&m->desc, GRADC_ENTRY_FORWARD);
  const gradc_entry_desc *b = gradc_desc_entry(&m->desc, GRADC_ENTRY_BACKWARD);
  const gradc_entry_desc *t = gradc_desc_entry(&m->desc, GRADC_ENTRY_TRAIN_STEP);
  if (f && prepare_call(m, so_path, f, &m->forward)) return -1;
  if (b && prepare_call(m, so_path, b, &m->backward)) return -1;
  if (gradc__optimizer_open(m, so_path)) return -1;
  if (t && prepare_call(m, so_path, t, &m->train)) return -1;
  for (size_t k = 0; k < m->desc.nentries; k++) /* dropout (issue 15): an entry takes the step seed */
    for (size_t i = 0; i < m->desc.entries[k].nargs; i++) m->random |= m->desc.entries[k].args[i].kind == GRADC_ARG_SEED;
  m->has_forward = f != NULL;
  m->has_backward = b != NULL;
  m->has_train = t != NULL && b != NULL;
  m->threads = 1;
  if (m->desc.parallel) {
    void *s = sym(m->dl, m->desc.parallel);
    if (!s) return gradc__fail(m, "'%s': function '%s' not found", so_path, m->desc.parallel);
    memcpy(&m->set_parallel, &s, sizeof m->set_parallel);
    gradc_set_threads(m, 0);
  }
  return 0;
}

gradc_model *gradc_open(const char *so_path, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  gradc_model *m = calloc(1, sizeof *m);
  if (!m) {
    if (err && errlen) snprintf(err, errlen, "out of memory");
    return NULL;
  }
  m->loss = NAN;
  if (!so_path) gradc__fail(m, "no model path given");
  if (!so_path || open_model(m, so_path)) {
    if (err && errlen) snprintf(err, errlen, "%s", m->err);
    gradc_close(m);
    return NULL;
  }
  return m;
}

static void free_call(gradc_call *c) {
  free(c->types);
  free(c->vals);
  free(c->avalues);
}

void gradc_close(gradc_model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->desc.ntensors; i++) {
    if (m->buf) free(m->buf[i]);
    if (m->grad) free(m->grad[i]);
  }
  gradc__optimizer_free(m);
  free(m->buf);
  free(m->grad);
  free(m->workspace);
  free_call(&m->forward);
  free_call(&m->backward);
  free_call(&m->train);
  gradc__meta_free(m->meta);
  gradc_desc_free(&m->desc);
  if (m->dl) dlclose(m->dl);
  free(m);
}

/* ---- buffers ---- */

int gradc_init(gradc_model *m, uint64_t seed) {
  if (!m) return -1;
  for (size_t i = 0; i < m->desc.ntensors; i++) {
    const gradc_tensor_desc *t = &m->desc.tensors[i];
    if (t->info.role == GRADC_ROLE_PARAM)
      gradc_core_init_tensor(m->buf[i], t->info.count, &t->init, seed, t->name);
    else gradc_core_zero_bytes(m->buf[i], t->info.count * sizeof(float));
    if (m->grad[i]) gradc_core_zero(m->grad[i], t->info.count);
  }
  gradc__optimizer_reset(m);
  m->loss = NAN;
  m->seed = seed;
  return 0;
}

/* ---- dropout and modes (issue 15): the step seed ---- */

int gradc_set_seed(gradc_model *m, uint64_t seed) {
  if (!m) return -1;
  m->seed = seed;
  return 0;
}

uint64_t gradc_step_seed(const gradc_model *m) { return m ? gradc_dropout_seed(m->seed, m->step) : 0; }

void gradc__draw_seed(gradc_model *m) { m->step_seed = gradc_step_seed(m); }

void *gradc_tensor(gradc_model *m, const char *name, size_t *count) {
  long i = m ? gradc__find(m, name) : -1;
  if (count) *count = i < 0 ? 0 : m->desc.tensors[i].info.count;
  return i < 0 ? NULL : m->buf[i];
}

float *gradc_grad(gradc_model *m, const char *param, size_t *count) {
  long i = m ? gradc__find(m, param) : -1;
  if (i >= 0 && !m->grad[i]) i = -1;
  if (count) *count = i < 0 ? 0 : m->desc.tensors[i].info.count;
  return i < 0 ? NULL : m->grad[i];
}

void gradc_zero_grad(gradc_model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->desc.ntensors; i++)
    if (m->grad[i]) gradc_core_zero(m->grad[i], m->desc.tensors[i].info.count);
}

/* ---- calls ---- */

void gradc__call(gradc_call *c) {
  if (c->packed) c->packed(c->vals);
  else ffi_call(&c->cif, c->fn, NULL, c->avalues);
}

int gradc_forward(gradc_model *m) {
  if (!m) return -1;
  if (!m->has_forward) return gradc__fail(m, "model '%s' has no forward entry point", m->desc.model);
  gradc__call(&m->forward);
  return 0;
}

int gradc_backward(gradc_model *m) {
  if (!m) return -1;
  if (!m->has_backward)
    return gradc__fail(m, "model '%s' has no backward entry point (compiled with --inference?)",
                       m->desc.model);
  gradc__draw_seed(m);
  gradc__call(&m->backward);
  return 0;
}

float gradc_loss(const gradc_model *m) {
  return m && m->desc.loss ? m->loss : NAN;
}

void gradc__point_train(gradc_model *m) {
  const gradc_entry_desc *t = gradc_desc_entry(&m->desc, GRADC_ENTRY_TRAIN_STEP);
  for (size_t i = 0; t && m->train.vals && i < t->nargs; i++) m->train.vals[i] = arg_pointer(m, &t->args[i]);
}

int gradc_set_threads(gradc_model *m, int n) {
  if (!m) return 1;
  gradc_pool *pool = n == 1 || !m->set_parallel ? NULL : gradc__pool();
  if (m->set_parallel) m->set_parallel(pool ? gradc__pool_run : NULL, pool);
  return m->threads = gradc__pool_threads(pool);
}

/* ---- introspection ---- */

const char *gradc_error(const gradc_model *m) {
  return m ? m->err : "no model";
}

const char *gradc_model_name(const gradc_model *m) {
  return m ? m->desc.model : NULL;
}

int gradc_has_loss(const gradc_model *m) {
  return m && m->desc.loss != NULL;
}

int gradc_has_backward(const gradc_model *m) {
  return m && m->has_backward;
}

size_t gradc_num_tensors(const gradc_model *m) {
  return m ? m->desc.ntensors : 0;
}

const gradc_tensor_info *gradc_tensor_at(const gradc_model *m, size_t i) {
  return m && i < m->desc.ntensors ? &m->desc.tensors[i].info : NULL;
}
