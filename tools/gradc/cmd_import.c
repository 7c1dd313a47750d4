/* cmd_import.c — `gradc import MODEL.onnx`: the ONNX model as a .grad model and a
 * safetensors file of its initializers (gradc/onnx.h does the work). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver.h"

/* path with its extension replaced by ext ("m.onnx" -> "m.grad"). */
static char *with_ext(const char *path, const char *ext) {
  const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
  size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
  char *s = malloc(n + strlen(ext) + 1);
  if (s) sprintf(s, "%.*s%s", (int)n, path, ext);
  return s;
}

/* Writes text to path through a temporary file renamed into place. */
static int write_text(const char *path, const char *text) {
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp) return -1;
  snprintf(tmp, n, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
  int rc = f && fputs(text, f) >= 0 ? 0 : -1;
  if (f && fclose(f)) rc = -1;
  if (!rc && rename(tmp, path)) rc = -1;
  if (rc && fd >= 0) unlink(tmp);
  free(tmp);
  return rc;
}

/* The names that changed (not C identifiers, or taken), as the user will look for them. */
static void show_mapping(const gc_onnx *om) {
  bool any = false;
  for (int i = 0; i < gc_onnx_count(om); i++) {
    const gc_onnx_tensor *t = gc_onnx_tensor_at(om, i);
    if (!strcmp(t->onnx_name, t->name)) continue;
    if (!any) fprintf(stderr, "gradc import: names mapped (ONNX -> .grad):\n");
    any = true;
    static const char *const kinds[] = {"input", "output", "param", "bound input"};
    fprintf(stderr, "  %-8s %s -> %s\n", kinds[t->kind], t->onnx_name, t->name);
  }
}

int cmd_import(int argc, char **argv) {
  ModelArgs ma = {0};
  const char *out = NULL, *wout = NULL, *v;
  for (int i = 0; i < argc; i++) {
    int d = parse_model_arg(&ma, argc, argv, &i);
    if (d < 0) return 2;
    if (d) continue;
    if ((v = opt_value("-o", argc, argv, &i))) out = v;
    else if ((v = opt_value("--weights-out", argc, argv, &i))) wout = v;
    else if (argv[i][0] == '-' && argv[i][1]) return unknown_option("import", argv[i]);
    else if (ma.model) return fprintf(stderr, "gradc import: more than one model file\n"), 2;
    else ma.model = argv[i];
  }
  if (!ma.model) return usage_of("import");
  if (!is_onnx(ma.model)) return fprintf(stderr, "gradc import: %s: expected an ONNX model (MODEL.onnx)\n", ma.model), 2;
  int status;
  gc_onnx *om = import_model(&ma, "import", &status);
  if (!om) return status;
  char *grad = out ? strdup(out) : with_ext(ma.model, ".grad");
  char *w = wout ? strdup(wout) : with_ext(grad, ".safetensors");
  char err[4096];
  int rc = 0;
  if (write_text(grad, gc_onnx_source(om))) {
    fprintf(stderr, "gradc import: cannot write %s: %s\n", grad, strerror(errno));
    rc = 1;
  } else if (gc_onnx_write_weights(om, w, err, sizeof err)) {
    fprintf(stderr, "gradc import: %s\n", err);
    rc = 1;
  } else {
    show_mapping(om);
    fprintf(stderr, "gradc import: wrote %s and %s (the initializers)\n", grad, w);
  }
  free(grad);
  free(w);
  gc_onnx_free(om);
  return rc;
}
