/* runtime/descriptor.c — parse and validate a model descriptor (JSON, format in
 * include/gradc/descriptor.h) with cJSON into a gradc_desc (runtime/descriptor_parse.h).
 *
 * Checks: the version, the presence and JSON type of every field, names (C
 * identifiers, unique), roles and dtypes, shapes (rank <= GRADC_MAX_RANK, dimensions
 * positive integers, element and byte counts that do not overflow), init specs, and
 * entry-point arguments (each refers to a known tensor of the right role, a grad to a
 * trainable param, "loss" only if the model has one). Unknown entry kinds are kept by
 * name and otherwise ignored, as the format requires.
 *
 * It does not open files, resolve symbols or allocate tensor buffers; it never
 * crashes, aborts or prints on any input. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "descriptor_parse.h"

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */
#define MAX_TENSORS 100000
#define MAX_ENTRIES 1000

typedef struct {
  char *err;
  size_t errlen;
} perr;

static int fail(perr *e, const char *fmt, ...) {
  if (e->err && e->errlen > 0) {
    int n = snprintf(e->err, e->errlen, "invalid model descriptor: ");
    size_t off = n > 0 && (size_t)n < e->errlen ? (size_t)n : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err + off, e->errlen - off, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static bool is_identifier(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GRADC_MAX_NAME) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/* A finite JSON number. */
static bool get_double(const cJSON *n, double *out) {
  if (!cJSON_IsNumber(n)) return false;
  double d = n->valuedouble;
  if (!(d - d == 0.0)) return false;
  *out = d;
  return true;
}

/* A non-negative integral JSON number <= max (max <= 2^53). */
static bool get_uint(const cJSON *n, double max, uint64_t *out) {
  double d;
  if (!get_double(n, &d) || d < 0 || d > max) return false;
  uint64_t u = (uint64_t)d;
  if ((double)u != d) return false;
  *out = u;
  return true;
}

/* Field key of object o, required to be an identifier string; NULL after fail(). */
static const char *get_ident(perr *e, const cJSON *o, const char *key, const char *where) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!s) return fail(e, "%s: missing \"%s\"", where, key), NULL;
  if (!cJSON_IsString(s)) return fail(e, "%s: \"%s\" must be a string", where, key), NULL;
  if (!is_identifier(s->valuestring))
    return fail(e, "%s: \"%s\" is \"%.80s\", not a C identifier of at most %d characters", where,
                key, s->valuestring, GRADC_MAX_NAME),
           NULL;
  return s->valuestring;
}

/* ---- tensors ---- */

static int parse_role(perr *e, const cJSON *t, const char *where, gradc_tensor_info *info) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, "role");
  if (!cJSON_IsString(r)) return fail(e, "%s: \"role\" must be a string", where);
  if (strcmp(r->valuestring, "input") == 0) info->role = GRADC_ROLE_INPUT;
  else if (strcmp(r->valuestring, "param") == 0) info->role = GRADC_ROLE_PARAM;
  else if (strcmp(r->valuestring, "output") == 0) info->role = GRADC_ROLE_OUTPUT;
  else return fail(e, "%s: unknown role \"%.40s\" (input, param or output)", where, r->valuestring);
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  if (!cJSON_IsString(d)) return fail(e, "%s: \"dtype\" must be a string", where);
  if (strcmp(d->valuestring, "f32") == 0) info->dtype = GRADC_F32;
  else if (strcmp(d->valuestring, "i32") == 0) info->dtype = GRADC_I32;
  else return fail(e, "%s: unknown dtype \"%.40s\" (f32 or i32)", where, d->valuestring);
  if (info->dtype == GRADC_I32 && info->role == GRADC_ROLE_PARAM)
    return fail(e, "%s: a parameter must be f32 (i32 is for inputs and outputs)", where);
  return 0;
}

static int parse_shape(perr *e, const cJSON *t, const char *where, gradc_tensor_info *info) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "shape");
  if (!cJSON_IsArray(s)) return fail(e, "%s: \"shape\" must be an array", where);
  int rank = cJSON_GetArraySize(s);
  if (rank > GRADC_MAX_RANK) return fail(e, "%s: rank %d exceeds %d", where, rank, GRADC_MAX_RANK);
  size_t count = 1, limit = (SIZE_MAX - 2 * GRADC_WORKSPACE_ALIGN) / sizeof(float);
  int i = 0;
  for (const cJSON *d = s->child; d; d = d->next, i++) {
    uint64_t v;
    if (!get_uint(d, MAX_EXACT_INT, &v) || v == 0)
      return fail(e, "%s: shape dimension %d must be a positive integer", where, i);
    if (v > limit / count) return fail(e, "%s: element count overflows", where);
    count *= (size_t)v;
    info->shape[i] = (int64_t)v;
  }
  info->rank = rank;
  info->count = count;
  return 0;
}

static int parse_init(perr *e, const cJSON *t, const char *where, gradc_tensor_desc *td) {
  td->init.kind = GRADC_INIT_CONST;
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "init");
  if (!in) return 0; /* default: zeros */
  if (td->info.role != GRADC_ROLE_PARAM) return fail(e, "%s: only params have \"init\"", where);
  if (!cJSON_IsObject(in)) return fail(e, "%s: \"init\" must be an object", where);
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(in, "kind");
  if (!cJSON_IsString(k)) return fail(e, "%s: init \"kind\" must be a string", where);
  const char *ka = "value", *kb = NULL;
  if (strcmp(k->valuestring, "const") == 0) td->init.kind = GRADC_INIT_CONST;
  else if (strcmp(k->valuestring, "normal") == 0) td->init.kind = GRADC_INIT_NORMAL, ka = "std";
  else if (strcmp(k->valuestring, "uniform") == 0)
    td->init.kind = GRADC_INIT_UNIFORM, ka = "lo", kb = "hi";
  else return fail(e, "%s: unknown init kind \"%.40s\" (const, normal or uniform)", where, k->valuestring);
  if (!get_double(cJSON_GetObjectItemCaseSensitive(in, ka), &td->init.a))
    return fail(e, "%s: init \"%s\" must be a finite number", where, ka);
  if (kb && !get_double(cJSON_GetObjectItemCaseSensitive(in, kb), &td->init.b))
    return fail(e, "%s: init \"%s\" must be a finite number", where, kb);
  if (td->init.kind == GRADC_INIT_NORMAL && td->init.a < 0)
    return fail(e, "%s: init std must not be negative", where);
  if (kb && td->init.b < td->init.a) return fail(e, "%s: init uniform has hi < lo", where);
  return 0;
}

static int parse_trainable(perr *e, const cJSON *t, const char *where, gradc_tensor_info *info) {
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(t, "trainable");
  info->trainable = info->role == GRADC_ROLE_PARAM;
  if (!tr) return 0;
  if (!cJSON_IsBool(tr)) return fail(e, "%s: \"trainable\" must be true or false", where);
  if (info->role != GRADC_ROLE_PARAM && cJSON_IsTrue(tr))
    return fail(e, "%s: only params can be trainable", where);
  info->trainable = info->role == GRADC_ROLE_PARAM && cJSON_IsTrue(tr);
  /* "buffer": model state (batch norm's running statistics, issue 15): a param that is
   * never trained and that the training entry points overwrite. */
  const cJSON *bu = cJSON_GetObjectItemCaseSensitive(t, "buffer");
  if (bu && (!cJSON_IsBool(bu) || (cJSON_IsTrue(bu) && (info->role != GRADC_ROLE_PARAM || info->trainable))))
    return fail(e, "%s: \"buffer\" must be true or false, and true only on a param that is not trainable", where);
  info->buffer = cJSON_IsTrue(bu);
  return 0;
}

/* Optional data-layout facts for loaders of training data: "batched" (dim 0 is the
 * model's batch dimension) and "classes" (an i32 input holding class labels). */
static int parse_layout(perr *e, const cJSON *t, const char *where, gradc_tensor_info *info) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(t, "batched");
  if (b && (!cJSON_IsBool(b) || (cJSON_IsTrue(b) && info->rank < 1)))
    return fail(e, "%s: \"batched\" must be a boolean, and only on a tensor of rank >= 1", where);
  info->batched = cJSON_IsTrue(b);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "classes");
  size_t classes = 0;
  if (c && (info->dtype != GRADC_I32 || !get_uint(c, (size_t)1 << 31, &classes) || classes == 0))
    return fail(e, "%s: \"classes\" must be a positive integer, on an i32 input", where);
  info->classes = (int64_t)classes;
  return 0;
}

static int parse_tensor(perr *e, const cJSON *t, size_t i, gradc_desc *d) {
  char where[64];
  snprintf(where, sizeof where, "tensors[%zu]", i);
  if (!cJSON_IsObject(t)) return fail(e, "%s must be an object", where);
  const char *name = get_ident(e, t, "name", where);
  if (!name) return -1;
  for (size_t j = 0; j < i; j++)
    if (strcmp(d->tensors[j].name, name) == 0) return fail(e, "%s: duplicate tensor name \"%s\"", where, name);
  char where2[GRADC_MAX_NAME + 64];
  snprintf(where2, sizeof where2, "tensor \"%s\"", name);
  gradc_tensor_desc *td = &d->tensors[i];
  if (!(td->name = dup_str(name))) return fail(e, "out of memory");
  td->info.name = td->name;
  if (parse_role(e, t, where2, &td->info) || parse_shape(e, t, where2, &td->info) ||
      parse_trainable(e, t, where2, &td->info) || parse_init(e, t, where2, td) ||
      parse_layout(e, t, where2, &td->info))
    return -1;
  return 0;
}

static int parse_tensors(perr *e, const cJSON *root, gradc_desc *d) {
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "tensors");
  if (!cJSON_IsArray(ts)) return fail(e, "\"tensors\" must be an array");
  int n = cJSON_GetArraySize(ts);
  if (n > MAX_TENSORS) return fail(e, "too many tensors (%d)", n);
  d->tensors = calloc((size_t)n + 1, sizeof *d->tensors);
  if (!d->tensors) return fail(e, "out of memory");
  size_t i = 0;
  for (const cJSON *t = ts->child; t; t = t->next, i++) {
    d->ntensors = i + 1; /* so that gradc_desc_free frees the name on failure */
    if (parse_tensor(e, t, i, d)) return -1;
  }
  d->ntensors = i;
  return 0;
}

/* ---- entries ---- */

static long find_tensor(const gradc_desc *d, const char *name) {
  for (size_t i = 0; i < d->ntensors; i++)
    if (strcmp(d->tensors[i].name, name) == 0) return (long)i;
  return -1;
}

/* "state:S:N" (S one of the optimizer's state tensors) or "state:N" (its first): the
 * slot into out, the rest (N) returned; NULL after fail(). */
static const char *state_slot(perr *e, const gradc_optimizer_desc *o, const char *where, const char *s,
                              gradc_arg_desc *out) {
  const char *colon = strchr(s, ':');
  out->slot = 0;
  if (colon) {
    size_t n = (size_t)(colon - s);
    out->slot = -1;
    for (size_t k = 0; k < o->nstate; k++)
      if (strlen(o->state[k]) == n && !strncmp(o->state[k], s, n)) out->slot = (int)k;
  }
  if (out->slot < 0 || (size_t)out->slot >= o->nstate)
    return fail(e, "%s: argument \"state:%.80s\" names no state tensor of optimizer \"%s\"", where, s, o->name),
           NULL;
  return colon ? colon + 1 : s;
}

static int parse_arg(perr *e, const gradc_desc *d, const char *where, const cJSON *a, gradc_arg_desc *out,
                     const gradc_optimizer_desc *train) {
  if (!cJSON_IsString(a)) return fail(e, "%s: every argument must be a string", where);
  const char *s = a->valuestring;
  if (strcmp(s, "loss") == 0) {
    if (!d->loss) return fail(e, "%s: argument \"loss\" but the model has no loss", where);
    out->kind = GRADC_ARG_LOSS;
    return 0;
  }
  if (strcmp(s, "workspace") == 0) return out->kind = GRADC_ARG_WORKSPACE, 0;
  if (train && strcmp(s, "hyper") == 0) return out->kind = GRADC_ARG_HYPER, 0;
  if (strcmp(s, "seed") == 0) return out->kind = GRADC_ARG_SEED, 0; /* dropout and modes (issue 15) */
  static const char *prefixes[] = {"input:", "param:", "output:", "grad:", "state:"};
  for (int r = 0; r < (train ? 5 : 4); r++) {
    size_t pl = strlen(prefixes[r]);
    if (strncmp(s, prefixes[r], pl) != 0) continue;
    const char *name = r == 4 ? state_slot(e, train, where, s + pl, out) : s + pl;
    if (!name) return -1;
    long t = find_tensor(d, name);
    if (t < 0) return fail(e, "%s: argument \"%.80s\" names no tensor", where, s);
    const gradc_tensor_info *ti = &d->tensors[t].info;
    bool grad = r >= 3; /* grad: and state: both belong to a trainable param */
    if (grad ? !ti->trainable : ti->role != (gradc_role)r)
      return fail(e, "%s: argument \"%.80s\": tensor \"%s\" is not %s", where, s, ti->name,
                  grad ? "a trainable param" : (r == 0 ? "an input" : r == 1 ? "a param" : "an output"));
    out->kind = r == 4 ? GRADC_ARG_STATE : grad ? GRADC_ARG_GRAD : GRADC_ARG_TENSOR;
    out->tensor = (size_t)t;
    return 0;
  }
  return fail(e, "%s: unknown argument \"%.80s\"", where, s);
}

/* An array of at most max identifier strings, copied into *out (count *n). */
static int name_list(perr *e, const cJSON *a, const char *where, const char *key, int max, char ***out, size_t *n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max)
    return fail(e, "%s: optimizer \"%s\" must be an array of at most %d names", where, key, max);
  if (!(*out = calloc((size_t)max + 1, sizeof **out))) return fail(e, "out of memory");
  for (const cJSON *s = a->child; s; s = s->next) {
    if (!cJSON_IsString(s) || !is_identifier(s->valuestring))
      return fail(e, "%s: optimizer \"%s\" must hold names (C identifiers)", where, key);
    if (!((*out)[(*n)++] = dup_str(s->valuestring))) return fail(e, "out of memory");
  }
  return 0;
}

/* The train step's "optimizer" object, or (absent) SGD as before there were others. */
static int parse_optimizer(perr *e, const cJSON *o, const char *where, gradc_optimizer_desc *out) {
  if (!o) {
    static const char *legacy[] = {"sgd", "lr", "momentum", "weight_decay", "momentum"};
    out->hyper = calloc(4, sizeof *out->hyper), out->state = calloc(2, sizeof *out->state);
    if (!(out->name = dup_str(legacy[0])) || !out->hyper || !out->state) return fail(e, "out of memory");
    for (int i = 0; i < 3; i++)
      if (!(out->hyper[out->nhyper++] = dup_str(legacy[1 + i]))) return fail(e, "out of memory");
    if (!(out->state[out->nstate++] = dup_str(legacy[4]))) return fail(e, "out of memory");
    return 0;
  }
  if (!cJSON_IsObject(o)) return fail(e, "%s: \"optimizer\" must be an object", where);
  const char *name = get_ident(e, o, "name", where);
  if (!name) return -1;
  if (!(out->name = dup_str(name))) return fail(e, "out of memory");
  if (name_list(e, cJSON_GetObjectItemCaseSensitive(o, "hyper"), where, "hyper", GRADC_OPT_MAX_VALUES, &out->hyper,
                &out->nhyper) ||
      name_list(e, cJSON_GetObjectItemCaseSensitive(o, "state"), where, "state", GRADC_OPT_MAX_STATE, &out->state,
                &out->nstate))
    return -1;
  return 0;
}

static void free_optimizer(gradc_optimizer_desc *o) {
  for (size_t i = 0; o->hyper && i < o->nhyper; i++) free(o->hyper[i]);
  for (size_t i = 0; o->state && i < o->nstate; i++) free(o->state[i]);
  free(o->hyper);
  free(o->state);
  free(o->name);
}

static int parse_entry_kind(perr *e, const cJSON *en, const char *where, gradc_entry_desc *ed) {
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(en, "kind");
  if (!cJSON_IsString(k)) return fail(e, "%s: \"kind\" must be a string", where);
  if (strcmp(k->valuestring, "forward") == 0) ed->kind = GRADC_ENTRY_FORWARD;
  else if (strcmp(k->valuestring, "backward") == 0) ed->kind = GRADC_ENTRY_BACKWARD;
  else if (strcmp(k->valuestring, "train_step") == 0) ed->kind = GRADC_ENTRY_TRAIN_STEP;
  else ed->kind = GRADC_ENTRY_OTHER;
  return 0;
}

static int parse_entry(perr *e, const cJSON *en, size_t i, gradc_desc *d) {
  char where[GRADC_MAX_NAME + 64];
  snprintf(where, sizeof where, "entries[%zu]", i);
  if (!cJSON_IsObject(en)) return fail(e, "%s must be an object", where);
  gradc_entry_desc *ed = &d->entries[i];
  const char *name = get_ident(e, en, "name", where);
  if (!name || parse_entry_kind(e, en, where, ed)) return -1;
  if (!(ed->name = dup_str(name))) return fail(e, "out of memory");
  const cJSON *pk = cJSON_GetObjectItemCaseSensitive(en, "packed");
  if (pk) {
    const char *pn = get_ident(e, en, "packed", where);
    if (!pn) return -1;
    if (!(ed->packed = dup_str(pn))) return fail(e, "out of memory");
  }
  snprintf(where, sizeof where, "entry \"%s\"", name);
  if (ed->kind == GRADC_ENTRY_OTHER) return 0;
  for (size_t j = 0; j < i; j++)
    if (d->entries[j].kind == ed->kind) return fail(e, "%s: a second entry of the same kind", where);
  if (ed->kind != GRADC_ENTRY_FORWARD && !d->loss) return fail(e, "%s: %s without a loss", where,
                                                               ed->kind == GRADC_ENTRY_BACKWARD ? "backward" : "train_step");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(en, "args");
  if (!cJSON_IsArray(args)) return fail(e, "%s: \"args\" must be an array", where);
  bool train = ed->kind == GRADC_ENTRY_TRAIN_STEP;
  if (train && parse_optimizer(e, cJSON_GetObjectItemCaseSensitive(en, "optimizer"), where, &ed->opt)) return -1;
  int n = cJSON_GetArraySize(args);
  if (n > (2 + GRADC_OPT_MAX_STATE) * MAX_TENSORS) return fail(e, "%s: too many arguments", where);
  if (!(ed->args = calloc((size_t)n + 1, sizeof *ed->args))) return fail(e, "out of memory");
  for (const cJSON *a = args->child; a; a = a->next)
    if (parse_arg(e, d, where, a, &ed->args[ed->nargs++], train ? &ed->opt : NULL)) return -1;
  return 0;
}

static int parse_entries(perr *e, const cJSON *root, gradc_desc *d) {
  const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "entries");
  if (!cJSON_IsArray(es)) return fail(e, "\"entries\" must be an array");
  int n = cJSON_GetArraySize(es);
  if (n > MAX_ENTRIES) return fail(e, "too many entries (%d)", n);
  if (!(d->entries = calloc((size_t)n + 1, sizeof *d->entries))) return fail(e, "out of memory");
  size_t i = 0;
  for (const cJSON *en = es->child; en; en = en->next, i++) {
    d->nentries = i + 1;
    if (parse_entry(e, en, i, d)) return -1;
  }
  d->nentries = i;
  if (!gradc_desc_entry(d, GRADC_ENTRY_FORWARD)) return fail(e, "no \"forward\" entry");
  return 0;
}

/* ---- header fields ---- */

static int parse_header(perr *e, const cJSON *root, gradc_desc *d) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "gradc");
  uint64_t ver;
  if (!v) return fail(e, "missing \"gradc\" (the descriptor version)");
  if (!get_uint(v, MAX_EXACT_INT, &ver) || ver != GRADC_DESCRIPTOR_VERSION)
    return fail(e, "unsupported descriptor version %.17g (this runtime reads version %d)",
                cJSON_IsNumber(v) ? v->valuedouble : -1.0, GRADC_DESCRIPTOR_VERSION);
  const char *model = get_ident(e, root, "model", "descriptor");
  if (!model) return -1;
  if (!(d->model = dup_str(model))) return fail(e, "out of memory");
  uint64_t ws;
  if (!get_uint(cJSON_GetObjectItemCaseSensitive(root, "workspace_bytes"), MAX_EXACT_INT, &ws) ||
      ws > SIZE_MAX - 2 * GRADC_WORKSPACE_ALIGN)
    return fail(e, "\"workspace_bytes\" must be a non-negative integer");
  d->workspace_bytes = (size_t)ws;
  if (cJSON_GetObjectItemCaseSensitive(root, "parallel")) {
    const char *pn = get_ident(e, root, "parallel", "descriptor");
    if (!pn) return -1;
    if (!(d->parallel = dup_str(pn))) return fail(e, "out of memory");
  }
  const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
  if (!loss) return fail(e, "missing \"loss\" (a name or null)");
  if (cJSON_IsNull(loss)) return 0;
  const char *ln = get_ident(e, root, "loss", "descriptor");
  if (!ln) return -1;
  if (!(d->loss = dup_str(ln))) return fail(e, "out of memory");
  return 0;
}

int gradc_desc_parse(const char *text, gradc_desc *d, char *err, size_t errlen) {
  perr e = {err, errlen};
  memset(d, 0, sizeof *d);
  if (!text) return fail(&e, "no text");
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!root) {
    size_t off = end && end >= text ? (size_t)(end - text) : 0;
    return fail(&e, "malformed JSON near byte %zu", off);
  }
  int rc = -1;
  if (!cJSON_IsObject(root)) fail(&e, "the top level must be a JSON object");
  else if (!parse_header(&e, root, d) && !parse_tensors(&e, root, d) && !parse_entries(&e, root, d))
    rc = 0;
  cJSON_Delete(root);
  if (rc) gradc_desc_free(d);
  return rc;
}

void gradc_desc_free(gradc_desc *d) {
  if (!d) return;
  for (size_t i = 0; d->tensors && i < d->ntensors; i++) free(d->tensors[i].name);
  for (size_t i = 0; d->entries && i < d->nentries; i++) {
    free(d->entries[i].name);
    free(d->entries[i].packed);
    free(d->entries[i].args);
    free_optimizer(&d->entries[i].opt);
  }
  free(d->tensors);
  free(d->entries);
  free(d->model);
  free(d->loss);
  free(d->parallel);
  memset(d, 0, sizeof *d);
}

const gradc_entry_desc *gradc_desc_entry(const gradc_desc *d, gradc_entry_kind kind) {
  for (size_t i = 0; i < d->nentries; i++)
    if (d->entries[i].kind == kind) return &d->entries[i];
  return NULL;
}
