/* opcheck.c — see opcheck.h. Included (not linked) by each test file. */
#include "opcheck.h"
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *mkdtemp(char *tmpl); /* POSIX.1-2008; declared here as the tests build with -std=c11 */

/* Directories not yet removed by oc_close (a failed assertion ends a test early): removed
 * at exit. */
#define OC_MAXDIRS 16
static char oc_dirs[OC_MAXDIRS][256];

static void oc_cleanup_dirs(void) {
  for (int i = 0; i < OC_MAXDIRS; i++)
    if (oc_dirs[i][0]) {
      char p[8192];
      snprintf(p, sizeof p, "%s/t.so", oc_dirs[i]);
      unlink(p);
      snprintf(p, sizeof p, "%s/t.h", oc_dirs[i]);
      unlink(p);
      rmdir(oc_dirs[i]);
      oc_dirs[i][0] = 0;
    }
}

static void oc_track(const char *dir, bool add) {
  static bool registered;
  if (!registered) registered = !atexit(oc_cleanup_dirs);
  for (int i = 0; i < OC_MAXDIRS; i++) {
    if (add && !oc_dirs[i][0]) {
      snprintf(oc_dirs[i], sizeof oc_dirs[i], "%s", dir);
      return;
    }
    if (!add && !strcmp(oc_dirs[i], dir)) {
      oc_dirs[i][0] = 0;
      return;
    }
  }
}

int oc_open(oc_model *om, const char *src, const char *const *freeze, int nfreeze, int opt_level, char *err,
            size_t errlen) {
  memset(om, 0, sizeof *om);
  snprintf(om->dir, sizeof om->dir, "/tmp/gradc_opcheck_XXXXXX");
  if (!mkdtemp(om->dir)) {
    snprintf(err, errlen, "mkdtemp failed");
    om->dir[0] = 0;
    return -1;
  }
  oc_track(om->dir, true);
  snprintf(om->so, sizeof om->so, "%s/t.so", om->dir);
  snprintf(om->hdr, sizeof om->hdr, "%s/t.h", om->dir);
  gc_options o = {0};
  o.path = "t.grad";
  o.source = src;
  o.freeze = freeze;
  o.nfreeze = nfreeze;
  o.opt_level = opt_level;
  o.emit = GC_EMIT_SO;
  o.out = om->so;
  int rc = gc_compile(&o, &om->res, err, errlen);
  if (rc) return rc;
  om->m = gradc_open(om->so, err, errlen);
  if (!om->m) return -1;
  return 0;
}

void oc_close(oc_model *om) {
  if (om->m) gradc_close(om->m);
  if (om->dl) dlclose(om->dl);
  om->m = NULL;
  om->dl = NULL;
  if (om->dir[0]) {
    unlink(om->so);
    unlink(om->hdr);
    rmdir(om->dir);
    oc_track(om->dir, false);
    om->dir[0] = 0;
  }
}

const char *oc_descriptor(oc_model *om) {
  if (!om->dl) om->dl = dlopen(om->so, RTLD_NOW | RTLD_LOCAL);
  if (!om->dl) return NULL;
  void *s = dlsym(om->dl, GRADC_DESCRIPTOR_SYMBOL);
  if (!s) return NULL;
  const char *(*fn)(void);
  memcpy(&fn, &s, sizeof fn);
  return fn();
}

int oc_entry_has_arg(oc_model *om, const char *kind, const char *arg) {
  const char *text = oc_descriptor(om);
  if (!text) return -1;
  cJSON *root = cJSON_Parse(text);
  if (!root) return -1;
  int found = -1;
  cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries"), *e;
  cJSON_ArrayForEach(e, entries) {
    cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
    if (!cJSON_IsString(k) || strcmp(k->valuestring, kind)) continue;
    found = 0;
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(e, "args")) {
      if (cJSON_IsString(a) && !strcmp(a->valuestring, arg)) found = 1;
    }
  }
  cJSON_Delete(root);
  return found;
}

uint64_t oc_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double oc_unif(uint64_t *s, double lo, double hi) {
  return lo + (hi - lo) * ((double)(oc_next(s) >> 11) * 0x1.0p-53);
}

uint64_t oc_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}
