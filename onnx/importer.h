/* importer.h — the import's state, shared by import.c (the walk over the graph, checking and
 * folding each node), node.c (what converters call) and model.c (the .grad text and the
 * public gc_onnx functions). Converters see only import.h. */
#ifndef GRADC_ONNX_IMPORTER_H
#define GRADC_ONNX_IMPORTER_H
#include <limits.h>
#include <linux/limits.h> /* PATH_MAX */
#include <setjmp.h>
#include "gradc/onnx.h"
#include "import.h"
#include "text.h"

#define OX_MAX_DIMS 32 /* symbolic dimensions of one model */

struct Importer {
  const gc_onnx_options *o;
  Onnx__ModelProto *m;
  const char *file;     /* o->path, as named in messages */
  char dir[PATH_MAX];   /* its folder (external data) */
  char *err;
  size_t errlen;
  jmp_buf fail;
  int opset;
  Pool pool;
  NameSet names;
  OxValue **vals;       /* every value, in order of creation */
  size_t nvals, capvals;
  Text body;            /* the statements of the nodes kept */
  Text snip;            /* the statements of the node being converted */
  Text outs;            /* the model's output statements */
  OxValue *refs[2 * OX_MAX_IO + 16]; /* the values the node's statements read */
  int nrefs;
  const char *dimonnx[OX_MAX_DIMS]; /* symbolic dimensions, as ONNX names them */
  const char *dimname[OX_MAX_DIMS]; /* ... and as .grad size names */
  int64_t dimval[OX_MAX_DIMS];
  bool dimbatch[OX_MAX_DIMS];
  int ndims;
};

_Noreturn void im_fail(Importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
OxValue *im_value(Importer *im, const char *onnx_name, int type);
OxValue *im_find(Importer *im, const char *onnx_name);
/* The statements of the graph's nodes, checked and folded (import.c). */
void im_nodes(Importer *im);
/* Records that the current node's statements read v. */
void im_ref(Importer *im, OxValue *v);
/* The type of a declaration: "f32[2, 3]", "i32[]". */
const char *im_type(Importer *im, const OxValue *v);

#endif
