/* fuzz_descriptor.c — libFuzzer target for the model descriptor parser (the JSON a
 * loader reads from a compiled .so through gradc_model_descriptor()).
 *
 * Input: the descriptor text. It is NUL-terminated and given to gradc_desc_parse; on
 * success every field is read back (so ASan sees any dangling or short allocation),
 * the entry lookup is exercised, and the result is freed; on failure the error message
 * must be a terminated string and gradc_desc_free on the emptied struct harmless. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor_parse.h"

static volatile size_t sink;

static void touch(const gradc_desc *d) {
  sink += strlen(d->model) + d->workspace_bytes + (d->loss ? strlen(d->loss) : 0);
  for (size_t i = 0; i < d->ntensors; i++) {
    const gradc_tensor_desc *t = &d->tensors[i];
    sink += strlen(t->name) + strlen(t->info.name) + t->info.count + (size_t)t->info.rank + (size_t)t->info.role;
    if (t->info.rank < 0 || t->info.rank > GRADC_MAX_RANK) __builtin_trap();
    for (int r = 0; r < t->info.rank; r++) sink += (size_t)t->info.shape[r];
    sink += (size_t)t->init.kind + (size_t)(t->init.a != t->init.b);
  }
  for (size_t e = 0; e < d->nentries; e++) {
    const gradc_entry_desc *en = &d->entries[e];
    sink += strlen(en->name) + (en->packed ? strlen(en->packed) : 0) + en->kind;
    for (size_t k = 0; k < en->nargs; k++) {
      const gradc_arg_desc *a = &en->args[k];
      if ((a->kind == GRADC_ARG_TENSOR || a->kind == GRADC_ARG_GRAD || a->kind == GRADC_ARG_STATE) &&
          a->tensor >= d->ntensors)
        __builtin_trap(); /* an argument naming a tensor the descriptor does not have */
      sink += a->kind;
    }
  }
  for (int k = GRADC_ENTRY_FORWARD; k <= GRADC_ENTRY_OTHER; k++) sink += gradc_desc_entry(d, (gradc_entry_kind)k) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  gradc_desc d;
  memset(&d, 0xa5, sizeof d); /* the parser must initialise it either way */
  char err[512];
  err[0] = 'x';
  if (gradc_desc_parse(text, &d, err, sizeof err) == 0) {
    touch(&d);
  } else {
    if (!memchr(err, 0, sizeof err)) __builtin_trap();
    sink += strlen(err);
  }
  gradc_desc_free(&d);
  free(text);
  return 0;
}
