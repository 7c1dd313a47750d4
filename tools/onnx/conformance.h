/* conformance.h — one ONNX backend test through gradc (conformance.c), for the runner's
 * main (conformance_main.c). */
#ifndef GRADC_CONFORMANCE_H
#define GRADC_CONFORMANCE_H
#include <stddef.h>

enum { CONF_PASS, CONF_FAIL, CONF_UNSUPPORTED };

/* Imports, compiles (in the directory tmp) and runs the test in testdir; the reason of a
 * failure in reason. */
int conf_run_test(const char *testdir, const char *tmp, char *reason, size_t rlen);

#endif
