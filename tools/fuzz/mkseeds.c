/* mkseeds.c — writes the seed inputs that need the compiler or the runtime (run.sh
 * calls it; the text seeds are copied by the script itself):
 *
 *   mkseeds OUTDIR MODEL.grad...
 *
 * For each model: OUTDIR/descriptor/NAME.json and NAME_inference.json, the descriptor
 * text of the model compiled as a shared object (read through the fixed
 * gradc_model_descriptor symbol, as a loader does). For each model with parameters:
 * OUTDIR/safetensors/NAME.safetensors, its initial weights as gradc_save writes them.
 * Builds happen in a private temporary directory, removed afterwards. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_tmp.h"
#include "gradc/compiler.h"
#include "gradc/runtime.h"

static int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) return perror(path), -1;
  return 0;
}

static int one(const char *outdir, const char *model, int inference) {
  char so[8192], err[8192], out[8192];
  fuzz_tmp_path("m.so", so, sizeof so);
  gc_options o = {.path = model, .inference = inference, .opt_level = 1, .emit = GC_EMIT_SO, .out = so};
  gc_result res;
  if (gc_compile(&o, &res, err, sizeof err) != 0) {
    fprintf(stderr, "mkseeds: %s: skipped: %s\n", model, err);
    return 0;
  }
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  const char *(*desc)(void) = h ? (const char *(*)(void))dlsym(h, GRADC_DESCRIPTOR_SYMBOL) : NULL;
  if (!desc) return fprintf(stderr, "mkseeds: %s: %s\n", so, dlerror()), -1;
  snprintf(out, sizeof out, "%s/descriptor/%s%s.json", outdir, res.model, inference ? "_inference" : "");
  int rc = write_text(out, desc());
  dlclose(h);
  if (rc || inference) return rc;
  gradc_model *m = gradc_open(so, err, sizeof err);
  if (!m) return fprintf(stderr, "mkseeds: %s: %s\n", so, err), -1;
  int nparams = 0;
  for (size_t i = 0; i < gradc_num_tensors(m); i++) nparams += gradc_tensor_at(m, i)->role == GRADC_ROLE_PARAM;
  snprintf(out, sizeof out, "%s/safetensors/%s.safetensors", outdir, res.model);
  if (nparams && (gradc_init(m, 1) || gradc_save(m, out))) rc = (fprintf(stderr, "mkseeds: %s\n", gradc_error(m)), -1);
  gradc_close(m);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: mkseeds OUTDIR MODEL.grad...\n"), 2;
  int rc = 0;
  for (int i = 2; i < argc; i++) rc |= one(argv[1], argv[i], 0) | one(argv[1], argv[i], 1);
  return rc ? 1 : 0;
}
