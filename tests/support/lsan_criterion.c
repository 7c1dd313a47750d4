/* lsan_criterion.c — linked into every Criterion test executable.
 *
 * Criterion runs each test in a worker process (its own executable re-executed, with
 * BXFI_MAP in the environment); the process ctest starts only schedules the workers. In
 * that runner, Criterion 2.4's timeout watchdog (BoxFort's bxfi_push_timeout /
 * bxfi_cancel_timeout) loses a 48-byte request now and then when tests with .timeout
 * finish in parallel (--jobs 2), and LeakSanitizer then fails the whole executable for a
 * leak that is neither ours nor the product's. The runner runs no test code, so there,
 * and only there, leaks from libcriterion are suppressed; in the workers, where the
 * tests run, nothing is suppressed. */
#include <stdlib.h>

const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void) {
  return getenv("BXFI_MAP") ? "" : "leak:libcriterion.so\n";
}
