/* random_models.c — the random-model differential tester as a program: generates
 * models with tests/support/randmodel.c from consecutive seeds and checks each
 * (compiled forward and gradients against the float64 reference evaluator and the
 * tape), for a number of models or seconds. Prints every failing model with its seed
 * and what disagreed; exit status 1 if any failed, 2 on a usage error.
 *
 *   random_models [--seed S] [--count N] [--seconds T] [--print SEED]
 *
 * --print SEED writes that seed's model to stdout (to reproduce or minimise a failure:
 * `gradc run model.grad --backward` and `gradc check model.grad`). The fuzz smoke step
 * (tools/fuzz/run.sh) runs it under the sanitizers. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "support/randmodel.h"

static int usage(void) {
  fprintf(stderr, "usage: random_models [--seed S] [--count N] [--seconds T] [--print SEED]\n");
  return 2;
}

static int number(const char *s, unsigned long long *out) {
  char *end;
  *out = strtoull(s, &end, 10);
  return *s && !*end ? 0 : -1;
}

int main(int argc, char **argv) {
  unsigned long long seed = 0, n = 0, secs = 0, v;
  static char src[1 << 16], why[1 << 14];
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc || number(argv[i + 1], &v)) return usage();
    if (!strcmp(argv[i], "--seed")) seed = v;
    else if (!strcmp(argv[i], "--count")) n = v;
    else if (!strcmp(argv[i], "--seconds")) secs = v;
    else if (!strcmp(argv[i], "--print")) {
      rm_generate(v, src, sizeof src);
      fputs(src, stdout);
      return 0;
    } else return usage();
  }
  if (!n && !secs) n = 100;
  char dir[] = "/tmp/gradc_random_models_XXXXXX";
  if (!mkdtemp(dir)) return perror("mkdtemp"), 2;
  time_t start = time(NULL);
  unsigned long long done = 0, failed = 0;
  for (unsigned long long s = seed; (!n || done < n) && (!secs || time(NULL) - start < (time_t)secs); s++, done++) {
    rm_generate(s, src, sizeof src);
    if (rm_check(src, dir, s % 2 ? "x86-64" : NULL, 2, why, sizeof why)) {
      failed++;
      printf("== seed %llu FAILED (%s)\n%s-- model:\n%s\n", s, s % 2 ? "--cpu x86-64" : "host cpu", why, src);
      fflush(stdout);
    }
  }
  rmdir(dir);
  printf("random models: %llu checked from seed %llu, %llu failed\n", done, seed, failed);
  return failed ? 1 : 0;
}
