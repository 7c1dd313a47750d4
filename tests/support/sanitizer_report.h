/* sanitizer_report.h — finds an AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer
 * report in text a child process wrote (its captured stderr), so that a test that runs a
 * sanitized gradc fails on the child's findings instead of passing over them.
 * Header-only (static functions): included by tests/e2e/e2e_util.c and the tests that
 * spawn gradc themselves. */
#ifndef GRADC_TESTS_SANITIZER_REPORT_H
#define GRADC_TESTS_SANITIZER_REPORT_H
#include <stddef.h>
#include <string.h>

/* The start of the line holding the first sanitizer report marker in text, or NULL. */
static inline const char *sanitizer_report(const char *text) {
  static const char *const markers[] = {
      "ERROR: LeakSanitizer",  "ERROR: AddressSanitizer", "ERROR: UndefinedBehaviorSanitizer",
      "runtime error:",        NULL,
  };
  if (!text) return NULL;
  const char *first = NULL;
  for (const char *const *m = markers; *m; m++) {
    const char *p = strstr(text, *m);
    if (p && (!first || p < first)) first = p;
  }
  if (!first) return NULL;
  while (first > text && first[-1] != '\n') first--;
  return first;
}

#endif
