/* model.c — gc_onnx_import (gradc/onnx.h): the model's opset, its graph inputs (shapes
 * bound by -D and --shape, values by --const) and initializers, the nodes (import.c), the
 * graph outputs, and the .grad text put together: declarations, the nodes' statements, the
 * outputs. Also the parameters' values (safetensors) and ONNX tensor files. */
#define _DEFAULT_SOURCE
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "read.h"
#include "importer.h"
#include "safetensors.h"

struct gc_onnx {
  Pool pool;
  char *source;
  gc_onnx_tensor *t;
  int nt;
  OxValue **weights; /* the parameters, buffers and constants the model declares */
  int nweights;
  char *model;
  const char *batch; /* the batch dimension's name, or NULL */
  int64_t batch_size;
};

static void check_opset(Importer *im) {
  Onnx__ModelProto *m = im->m;
  im->opset = -1;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const char *d = m->opset_import[i]->domain;
    if (!d || !d[0] || !strcmp(d, "ai.onnx")) { /* clamped: an int64 in the file */
      int64_t v = m->opset_import[i]->version;
      im->opset = v < 0 ? 0 : v > 1000 ? 1000 : (int)v;
    }
  }
  if (im->opset < 0) im_fail(im, "the model imports no opset of the default ONNX domain");
  if (im->opset < 1 || im->opset > 17)
    im_fail(im, "opset %d is not supported: gradc imports opsets 6 to 17 (ONNX 1.1 to 1.12), and from opset 1 the "
            "operators whose definition has not changed since; re-export the model "
            "with torch.onnx.export(..., opset_version=17) or convert it with onnx.version_converter", im->opset);
}

/* The value of the symbolic dimension `name` on `axis` of input v (-D), remembered as a
 * size name of the model: `batch` for the first one on an axis 0, `dim` for the others. */
static int64_t symbolic(Importer *im, OxValue *v, const char *name, int axis) {
  for (int d = 0; d < im->ndims; d++)
    if (!strcmp(im->dimonnx[d], name)) return v->sym[axis] = im->dimname[d], im->dimval[d];
  const gc_onnx_options *o = im->o;
  const char *grad = names_sanitize(&im->pool, name); /* "batch" is a keyword: "batch_" */
  int i = o->ndefines;                                  /* the last -D for the name wins */
  while (i-- > 0 && strcmp(o->define_names[i], name) && strcmp(o->define_names[i], grad)) {}
  if (i < 0)
    im_fail(im, "input '%s' has the symbolic dimension '%s' (axis %d): give its size with -D %s=INT or the input's "
            "shape with --shape %s=DxDx..", v->onnx, name, axis, name, v->onnx);
  if (o->define_values[i] < 1 || o->define_values[i] > (1ll << 31) - 1)
    im_fail(im, "-D %s=%lld: a dimension is from 1 to 2^31 - 1", name, o->define_values[i]);
  if (im->ndims == OX_MAX_DIMS) im_fail(im, "more than %d symbolic dimensions", OX_MAX_DIMS);
  bool batch = axis == 0;
  for (int d = 0; d < im->ndims; d++) batch &= !im->dimbatch[d];
  im->dimonnx[im->ndims] = pool_strdup(&im->pool, name);
  im->dimname[im->ndims] = names_fresh(&im->names, &im->pool, name);
  im->dimbatch[im->ndims] = batch;
  im->dimval[im->ndims] = o->define_values[i];
  v->sym[axis] = im->dimname[im->ndims];
  return im->dimval[im->ndims++];
}

static void input_shape(Importer *im, OxValue *v, const Onnx__ValueInfoProto *vi) {
  const gc_onnx_options *o = im->o;
  for (int i = 0; i < o->nshapes; i++) {
    if (strcmp(o->shape_names[i], v->onnx) && strcmp(o->shape_names[i], v->name)) continue;
    v->rank = o->shape_ranks[i];
    for (int d = 0; d < v->rank; d++) v->dims[d] = o->shape_dims[i][d];
    return;
  }
  Onnx__TypeProto *tp = vi->type;
  const Onnx__TypeProto__Tensor *tt = ox_tensor_type(tp);
  if (!tt) im_fail(im, "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", v->onnx);
  Onnx__TensorShapeProto *s = tt->shape;
  if (!s) im_fail(im, "graph input '%s' has no shape: give it with --shape %s=DxDx..", v->onnx, v->onnx);
  if (s->n_dim > OX_MAX_RANK) im_fail(im, "graph input '%s' has rank %zu; at most 8 is supported", v->onnx, s->n_dim);
  v->rank = (int)s->n_dim;
  for (int d = 0; d < v->rank; d++) {
    Onnx__TensorShapeProto__Dimension *dim = s->dim[d];
    if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) v->dims[d] = dim->dim_value;
    else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
      v->dims[d] = symbolic(im, v, dim->dim_param, d);
    else im_fail(im, "graph input '%s' has an unknown size on axis %d: give its shape with --shape %s=DxDx..", v->onnx, d, v->onnx);
  }
}

static bool supported_type(int t) { return t == OX_T_FLOAT || t == OX_T_INT32 || t == OX_T_INT64 || t == OX_T_BOOL; }

static const gc_onnx_const *bound(Importer *im, const OxValue *v) {
  for (int i = 0; i < im->o->nconsts; i++)
    if (!strcmp(im->o->consts[i].name, v->onnx) || !strcmp(im->o->consts[i].name, v->name)) return &im->o->consts[i];
  return NULL;
}

/* A graph input with a dimension of size 0 (an empty list of axes) can only be a bound
 * one: it then holds no values. Returns whether v is one; fails if it is not bound. */
static bool empty_input(Importer *im, OxValue *v, const gc_onnx_const *c) {
  bool empty = false;
  for (int d = 0; d < v->rank; d++) empty |= v->dims[d] == 0;
  if (!empty) return false;
  if (!c) {
    if (im->o->unbound) snprintf(im->o->unbound, 256, "%s", v->onnx);
    im_fail(im, "graph input '%s' is empty (a dimension of size 0): gradc computes no empty tensors, but an empty "
            "list of values may be bound with --const %s=", v->onnx, v->onnx);
  }
  if (c->count) im_fail(im, "--const %s: %lld values given, the input is empty", c->name, (long long)c->count);
  v->count = 0;
  v->k = pool_alloc(&im->pool, sizeof *v->k);
  return true;
}

static void graph_input(Importer *im, const Onnx__ValueInfoProto *vi) {
  Onnx__TypeProto *tp = vi->type;
  const Onnx__TypeProto__Tensor *tt = ox_tensor_type(tp);
  if (!tt) im_fail(im, "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", vi->name);
  int type = tt->elem_type;
  if (!supported_type(type))
    im_fail(im, "graph input '%s' has element type %s; supported: float, int32, int64, bool", vi->name, ox_type_name(type));
  OxValue *v = im_value(im, vi->name, type);
  input_shape(im, v, vi);
  v->count = 1;
  const gc_onnx_const *c = bound(im, v);
  if (empty_input(im, v, c)) return;
  for (int d = 0; d < v->rank; d++) {
    if (v->dims[d] < 1) im_fail(im, "graph input '%s' has a dimension of size %lld; gradc needs sizes of at least 1",
                                v->onnx, (long long)v->dims[d]);
    if (v->dims[d] > (1ll << 31) / v->count) im_fail(im, "graph input '%s' has more than 2^31 elements", v->onnx);
    v->count *= v->dims[d];
  }
  if (c) {
    if (c->count != v->count)
      im_fail(im, "--const %s: %lld values given, the input has %lld", c->name, (long long)c->count, (long long)v->count);
    v->k = pool_alloc(&im->pool, (size_t)v->count * sizeof *v->k);
    memcpy(v->k, c->values, (size_t)v->count * sizeof *v->k);
    return;
  }
  v->input = true;
  v->source = v;
  v->i32 = type != OX_T_FLOAT && type != OX_T_BOOL;
}

static void initializer(Importer *im, const Onnx__TensorProto *t) {
  if (!t->name || !t->name[0]) im_fail(im, "an initializer has no name");
  if (im_find(im, t->name)) im_fail(im, "initializer '%s' is defined twice", t->name);
  if (!supported_type(t->data_type))
    im_fail(im, "initializer '%s' has element type %s; supported: float, int32, int64, bool", t->name, ox_type_name(t->data_type));
  OxValue *v = im_value(im, t->name, t->data_type);
  char err[1024];
  v->k = ox_tensor_values(t, im->dir, &v->count, err, sizeof err);
  if (!v->k) im_fail(im, "%s", err);
  pool_adopt(&im->pool, v->k);
  v->rank = (int)t->n_dims;
  for (int d = 0; d < v->rank; d++) v->dims[d] = t->dims[d];
  v->param = t->data_type == OX_T_FLOAT;
  if (v->param)
    for (int d = 0; d < v->rank; d++)
      if (!v->dims[d]) v->param = false; /* an empty tensor is no parameter (a Resize's roi) */
}

static void graph_inputs(Importer *im) {
  Onnx__GraphProto *g = im->m->graph;
  for (size_t i = 0; i < g->n_initializer; i++) initializer(im, g->initializer[i]);
  for (size_t i = 0; i < g->n_input; i++) {
    for (size_t j = 0; j < i; j++)
      if (!strcmp(g->input[j]->name, g->input[i]->name)) im_fail(im, "graph input '%s' is declared twice", g->input[i]->name);
    if (!im_find(im, g->input[i]->name)) graph_input(im, g->input[i]); /* else an initializer's default */
  }
}

/* ---- the graph's outputs ---- */

static void add_tensor(gc_onnx *r, const OxValue *v, const char *name, int kind) {
  gc_onnx_tensor *t = &r->t[r->nt++];
  *t = (gc_onnx_tensor){.onnx_name = pool_strdup(&r->pool, v->onnx), .name = pool_strdup(&r->pool, name),
                        .kind = kind, .onnx_type = v->type, .i32 = v->i32, .rank = v->rank};
  for (int d = 0; d < v->rank; d++) t->dims[d] = v->dims[d];
}

/* Each graph output as a value the model outputs: an integer held in f32 is converted to
 * i32; a constant, an input, a parameter or a value output twice gets a statement of its own. */
static void graph_outputs(Importer *im, gc_onnx *r) {
  Onnx__GraphProto *g = im->m->graph;
  NameSet seen = {0};
  text_add(&im->body, "# the graph's outputs\n");
  for (size_t i = 0; i < g->n_output; i++) {
    OxValue *v = im_find(im, g->output[i]->name);
    if (!v) im_fail(im, "graph output '%s' is not computed by any node", g->output[i]->name);
    if (v->k && !v->count)
      im_fail(im, "graph output '%s' is empty (a dimension of size 0): gradc computes no empty tensors", v->onnx);
    bool integer = v->type != OX_T_FLOAT && v->type != OX_T_BOOL;
    bool convert = integer && !v->i32;
    const char *name = v->name;
    if (v->k || v->input || v->param || convert || names_has(&seen, v->name)) {
      name = names_fresh(&im->names, &im->pool, pool_printf(&im->pool, "%s_out", v->name));
      text_add(&im->body, convert ? "%s = int(round(%s))\n" : "%s = %s\n", name, v->name);
      v->declared = true;
    }
    names_add(&seen, &im->pool, v->name);
    text_add(&im->outs, "output %s\n", name);
    OxValue shown = *v;
    shown.i32 = v->i32 || convert;
    add_tensor(r, &shown, name, GC_ONNX_OUTPUT);
  }
}

/* ---- the model's text ---- */

static void decl_dims(Importer *im, Text *t, const OxValue *v) {
  text_add(t, "%s[", v->i32 ? "i32" : "f32");
  for (int d = 0; d < v->rank; d++) {
    if (v->sym[d]) text_add(t, "%s%s", d ? ", " : "", v->sym[d]);
    else text_add(t, "%s%lld", d ? ", " : "", (long long)v->dims[d]);
  }
  text_add(t, "]");
  (void)im;
}

static void declarations(Importer *im, gc_onnx *r, Text *t) {
  for (int d = 0; d < im->ndims; d++)
    text_add(t, "%s %s = %lld\n", im->dimbatch[d] ? "batch" : "dim", im->dimname[d], (long long)im->dimval[d]);
  for (int pass = 0; pass < 4; pass++)
    for (size_t i = 0; i < im->nvals; i++) {
      OxValue *v = im->vals[i];
      bool is_input = v->input, is_param = v->declared && v->param && !v->buffer;
      bool is_buffer = v->declared && v->buffer, is_const = v->declared && v->k && !v->param;
      if (!(pass == 0 ? is_input : pass == 1 ? is_param : pass == 2 ? is_buffer : is_const)) continue;
      text_add(t, "%s %s : ", pass == 0 ? "input" : pass == 2 ? "buffer" : "param", v->name);
      decl_dims(im, t, v);
      if (pass == 3) text_add(t, " frozen");
      if (strcmp(v->onnx, v->name) || v->type != OX_T_FLOAT)
        text_add(t, "  # ONNX '%s', %s", v->onnx, ox_type_name(v->type));
      text_add(t, "\n");
      if (pass == 0) add_tensor(r, v, v->name, GC_ONNX_INPUT);
      else {
        add_tensor(r, v, v->name, GC_ONNX_PARAM);
        r->weights[r->nweights++] = v;
      }
    }
  for (size_t i = 0; i < im->nvals; i++)
    if (im->vals[i]->k && bound(im, im->vals[i])) add_tensor(r, im->vals[i], im->vals[i]->name, GC_ONNX_BOUND);
}

static char *model_name(Importer *im) {
  if (im->o->model_name) return names_fresh(&im->names, &im->pool, im->o->model_name);
  char *copy = pool_strdup(&im->pool, im->file), *base = basename(copy), *dot = strrchr(base, '.');
  if (dot && dot != base) *dot = 0;
  return names_fresh(&im->names, &im->pool, base);
}

static void assemble(Importer *im, gc_onnx *r) {
  Text t = {0};
  graph_outputs(im, r); /* the last step that may fail: t is not left behind */
  const Onnx__ModelProto *m = im->m;
  text_add(&t, "# Imported by gradc from %s: ONNX IR version %lld, opset %d", im->file, (long long)m->ir_version, im->opset);
  if (m->producer_name && m->producer_name[0])
    text_add(&t, ", produced by %s%s%s", m->producer_name, m->producer_version && m->producer_version[0] ? " " : "",
             m->producer_version ? m->producer_version : "");
  text_add(&t, ".\n# Each node's statements follow a comment naming it; names that are not C identifiers\n"
               "# are mapped (the ONNX name is shown beside each declaration).\n");
  r->model = model_name(im);
  for (int d = 0; d < im->ndims; d++)
    if (im->dimbatch[d]) r->batch = pool_strdup(&r->pool, im->dimname[d]), r->batch_size = im->dimval[d];
  text_add(&t, "model %s\n", r->model);
  declarations(im, r, &t);
  text_add(&t, "%s%s", im->body.s ? im->body.s : "", im->outs.s ? im->outs.s : "");
  r->source = pool_strdup(&r->pool, t.s);
  text_free(&t);
}

/* ---- the interface ---- */

static void importer_free(Importer *im) {
  text_free(&im->body);
  text_free(&im->snip);
  text_free(&im->outs);
  ox_free_model(im->m);
}

/* The import proper; 0, or -1 after a failure (the message in im->err). */
static int run(Importer *im, gc_onnx *r) {
  if (setjmp(im->fail)) return -1;
  char *copy = pool_strdup(&im->pool, im->o->path);
  snprintf(im->dir, sizeof im->dir, "%s", dirname(copy));
  im->m = ox_read_model(im->o->path, im->err, im->errlen);
  if (!im->m) return -1;
  check_opset(im);
  graph_inputs(im);
  im_nodes(im);
  /* Each value at most twice (a bound input kept as a constant is a parameter too), each
   * output, and a loss's input. */
  r->t = pool_alloc(&r->pool, (2 * im->nvals + im->m->graph->n_output + 2) * sizeof *r->t);
  r->weights = pool_alloc(&r->pool, (im->nvals + 1) * sizeof *r->weights);
  assemble(im, r);
  return 0;
}

gc_onnx *gc_onnx_import(const gc_onnx_options *o, char *err, size_t errlen) {
  gc_onnx *r = calloc(1, sizeof *r);
  Importer *im = calloc(1, sizeof *im);
  if (!r || !im) {
    free(r), free(im);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  im->o = o, im->file = o->path, im->err = err, im->errlen = errlen;
  if (o->unbound) o->unbound[0] = 0;
  int rc = run(im, r);
  /* The values outlive the importer (the weights): its pool joins the result's. */
  for (size_t i = 0; i < im->pool.n; i++) pool_adopt(&r->pool, im->pool.p[i]);
  free(im->pool.p);
  importer_free(im);
  free(im);
  if (rc) {
    gc_onnx_free(r);
    return NULL;
  }
  return r;
}

void gc_onnx_free(gc_onnx *m) {
  if (!m) return;
  pool_free(&m->pool);
  free(m);
}

const char *gc_onnx_source(const gc_onnx *m) { return m->source; }
int gc_onnx_count(const gc_onnx *m) { return m->nt; }
const gc_onnx_tensor *gc_onnx_tensor_at(const gc_onnx *m, int i) { return i >= 0 && i < m->nt ? &m->t[i] : NULL; }

int gc_onnx_write_weights(const gc_onnx *m, const char *path, char *err, size_t errlen) {
  StTensor *t = calloc((size_t)m->nweights + 1, sizeof *t);
  float **data = calloc((size_t)m->nweights + 1, sizeof *data);
  int rc = -1;
  if (!t || !data) { snprintf(err, errlen, "out of memory"); goto done; }
  for (int i = 0; i < m->nweights; i++) {
    const OxValue *v = m->weights[i];
    data[i] = malloc((size_t)(v->count ? v->count : 1) * sizeof **data);
    if (!data[i]) { snprintf(err, errlen, "out of memory"); goto done; }
    for (int64_t j = 0; j < v->count; j++) data[i][j] = (float)v->k[j];
    t[i] = (StTensor){.name = v->name, .rank = v->rank, .shape = v->dims, .count = (size_t)v->count, .data = data[i]};
  }
  rc = st_write(path, t, (size_t)m->nweights, m->model, NULL, NULL, 0, err, errlen);
done:
  for (int i = 0; data && i < m->nweights; i++) free(data[i]);
  free(data);
  free(t);
  return rc;
}

int gc_onnx_read_tensor(const char *path, gc_onnx_data *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) { snprintf(err, errlen, "cannot open '%s'", path); return -1; }
  unsigned char *b = NULL;
  size_t len = 0, cap = 0, n;
  do {
    if (len == cap) {
      cap = cap ? 2 * cap : 65536;
      unsigned char *g = realloc(b, cap);
      if (!g) { free(b); fclose(f); snprintf(err, errlen, "out of memory"); return -1; }
      b = g;
    }
    n = fread(b + len, 1, cap - len, f);
    len += n;
  } while (n > 0 && len < (2ull << 30));
  fclose(f);
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, b);
  free(b);
  if (!t) { snprintf(err, errlen, "'%s' is not a TensorProto (truncated or corrupt)", path); return -1; }
  char *copy = strdup(path);
  out->data = copy ? ox_tensor_values(t, dirname(copy), &out->count, err, errlen) : NULL;
  free(copy);
  if (out->data) {
    snprintf(out->name, sizeof out->name, "%s", t->name ? t->name : "");
    out->onnx_type = t->data_type;
    out->rank = (int)t->n_dims;
    for (int d = 0; d < out->rank; d++) out->dims[d] = t->dims[d];
  }
  onnx__tensor_proto__free_unpacked(t, NULL);
  return out->data ? 0 : -1;
}

void gc_onnx_data_free(gc_onnx_data *d) {
  free(d->data);
  d->data = NULL;
}

int gc_onnx_graph_inputs(const char *path, char (*names)[256], int max, char *err, size_t errlen) {
  Onnx__ModelProto *m = ox_read_model(path, err, errlen);
  if (!m) return -1;
  const Onnx__GraphProto *g = m->graph;
  int n = 0;
  for (size_t i = 0; i < g->n_input && n < max; i++) {
    bool init = false;
    for (size_t j = 0; j < g->n_initializer && !init; j++)
      init = g->initializer[j]->name && !strcmp(g->initializer[j]->name, g->input[i]->name);
    if (!init) snprintf(names[n++], 256, "%s", g->input[i]->name);
  }
  ox_free_model(m);
  return n;
}

/* ---- a loss for training ---- */

static bool has_name(const gc_onnx *m, const char *name) {
  for (int i = 0; i < m->nt; i++)
    if (!strcmp(m->t[i].name, name)) return true;
  return false;
}

int gc_onnx_add_loss(gc_onnx *m, const char *loss, const char *output, char *err, size_t errlen) {
  const gc_onnx_tensor *out = NULL;
  int nout = 0;
  for (int i = 0; i < m->nt; i++)
    if (m->t[i].kind == GC_ONNX_OUTPUT) {
      nout++;
      if (!output ? !out : !strcmp(m->t[i].name, output) || !strcmp(m->t[i].onnx_name, output)) out = &m->t[i];
    }
  if (output && !out) return snprintf(err, errlen, "the model has no output '%s'", output), -1;
  if (!output && (!out || nout > 1))
    return snprintf(err, errlen, "the model has %d outputs: name the one the loss reads with --output NAME", nout), -1;
  bool ce = !strcmp(loss, "cross_entropy");
  if (!ce && strcmp(loss, "mse") && strcmp(loss, "bce_with_logits"))
    return snprintf(err, errlen, "unknown loss '%s': expected cross_entropy, mse or bce_with_logits", loss), -1;
  const char *in = ce ? "label" : "target";
  if (has_name(m, in) || has_name(m, "loss") || strstr(m->source, "\nloss ="))
    return snprintf(err, errlen, "the model already has a value named '%s' or 'loss'", in), -1;
  if (ce && out->rank < 2) return snprintf(err, errlen, "cross_entropy needs an output [N, C, ...], '%s' has rank %d", out->name, out->rank), -1;
  Text t = {0};
  text_add(&t, "%s# the loss (gradc %s --loss %s)\ninput %s : %s[", m->source, "train", loss, in, ce ? "i32" : "f32");
  gc_onnx_tensor lab = {.onnx_name = in, .name = in, .kind = GC_ONNX_INPUT, .onnx_type = ce ? 7 : 1, .i32 = ce};
  for (int d = 0; d < out->rank; d++) {
    if (ce && d == 1) continue;
    bool batched = d == 0 && m->batch && out->dims[0] == m->batch_size;
    if (batched) text_add(&t, "%s%s", lab.rank ? ", " : "", m->batch);
    else text_add(&t, "%s%lld", lab.rank ? ", " : "", (long long)out->dims[d]);
    lab.dims[lab.rank++] = out->dims[d];
  }
  text_add(&t, "]\nloss = %s(%s, %s)\nminimize loss\n", loss, out->name, in);
  m->source = pool_strdup(&m->pool, t.s);
  text_free(&t);
  m->t[m->nt++] = lab;
  return 0;
}
