/* tests/runtime/test_pool.c — the runtime's thread pool (runtime/pool.c), which runs the
 * parts of split matrix products: every task of every job runs exactly once and before
 * the dispatcher returns, with jobs back to back, jobs of every size, two threads
 * dispatching at once, workers that have gone to sleep, and in a forked child (which
 * has no workers). tests/test_parallel.c checks the generated code that uses it. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

#define MAXN 300

typedef struct {
  atomic_int runs[MAXN];
  atomic_int running; /* tasks inside task() right now */
  atomic_int most;    /* the most seen at once */
} Job;

static void task(void *ctx, int32_t i) {
  Job *j = ctx;
  int now = atomic_fetch_add(&j->running, 1) + 1;
  for (int m = atomic_load(&j->most); now > m && !atomic_compare_exchange_weak(&j->most, &m, now);) {
  }
  for (volatile int spin = 0; spin < 2000; spin++) { /* long enough for others to join in */
  }
  atomic_fetch_add(&j->runs[i], 1);
  atomic_fetch_sub(&j->running, 1);
}

/* Runs a job of n tasks and checks each ran once, all before the call returned. */
static int run_checked(gradc_pool *p, int n) {
  Job *j = calloc(1, sizeof *j);
  cr_assert(j);
  gradc__pool_run(p, task, j, n);
  for (int i = 0; i < n; i++) cr_assert_eq(atomic_load(&j->runs[i]), 1, "job of %d: task %d ran %d times", n, i, j->runs[i]);
  for (int i = n; i < MAXN; i++) cr_assert_eq(atomic_load(&j->runs[i]), 0);
  int most = atomic_load(&j->most);
  free(j);
  return most;
}

static void three_threads(void) { setenv("GRADC_THREADS", "3", 1); }

Test(pool, size_from_gradc_threads, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  cr_expect_eq(gradc__pool_threads(p), 3);
  cr_expect_eq(gradc__pool(), p, "one pool per process");
}

static void one_thread(void) { setenv("GRADC_THREADS", "1", 1); }

Test(pool, one_thread_means_no_pool, .init = one_thread) {
  cr_expect_null(gradc__pool());
  cr_expect_eq(gradc__pool_threads(NULL), 1);
  cr_expect_eq(run_checked(NULL, 17), 1, "without a pool the caller runs the tasks alone");
}

Test(pool, every_task_once_in_every_job, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  for (int round = 0; round < 3; round++)
    for (int n = 0; n <= MAXN; n += (n < 10 ? 1 : 37)) run_checked(p, n);
}

/* Each of three tasks waits until all three have started: the job can only finish
 * with every thread of the pool running one of them at the same time. */
typedef struct {
  atomic_int arrived;
  atomic_int timed_out;
} Meet;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void meet(void *ctx, int32_t i) {
  (void)i;
  Meet *m = ctx;
  atomic_fetch_add(&m->arrived, 1);
  for (double t0 = now(); atomic_load(&m->arrived) < 3;)
    if (now() - t0 > 10) {
      atomic_store(&m->timed_out, 1);
      return;
    }
}

Test(pool, tasks_run_at_once_on_every_thread, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  for (int k = 0; k < 3; k++) {
    Meet m = {0};
    gradc__pool_run(p, meet, &m, 3);
    cr_assert_eq(atomic_load(&m.timed_out), 0, "round %d: the three tasks never ran at the same time", k);
  }
}

Test(pool, workers_wake_from_sleep, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  for (int k = 0; k < 4; k++) {
    usleep(20000); /* far longer than the workers poll: they are asleep now */
    run_checked(p, 64);
  }
}

static void *dispatcher(void *arg) {
  for (int k = 0; k < 200; k++) run_checked(arg, 1 + k % 50);
  return NULL;
}

Test(pool, two_threads_dispatching_at_once, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, dispatcher, p), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

Test(pool, forked_child_runs_jobs_alone, .init = three_threads) {
  gradc_pool *p = gradc__pool();
  cr_assert_not_null(p);
  run_checked(p, 40); /* the workers exist and have worked */
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    alarm(10); /* a child waiting for workers it does not have would hang: die instead */
    Job *j = calloc(1, sizeof *j);
    gradc__pool_run(p, task, j, 40);
    int ok = j->most == 1;
    for (int i = 0; i < 40; i++) ok &= j->runs[i] == 1;
    _exit(ok ? 0 : 3);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
  run_checked(p, 40); /* and the parent's pool still works */
}
