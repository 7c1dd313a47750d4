/* runtime/pool.c — the host runtime's thread pool for the parts of split matrix
 * products (see pool.h).
 *
 * One pool per process, made on first use. A job is (task, ctx, n); its tasks are
 * claimed one at a time through a 64-bit word holding the job's generation (high
 * half) and the next task index (low half), by the caller and the workers alike, with
 * a compare-and-swap. A claim names its generation, so a worker that is late for a job
 * can never take a task of the next one: before the dispatcher rewrites the job's
 * fields it closes the word under the new generation (index CLOSED), which makes
 * every claim of the old generation fail. The dispatcher returns when `left`, the
 * tasks not yet finished, reaches zero; it never waits for a worker that is not
 * running a task of its job.
 *
 * Workers poll for a new generation for a while (the jobs of a training step come
 * microseconds apart; a poll now and then yields the CPU), then sleep on a condition
 * variable; `sleeping` tells the
 * dispatcher whether it must wake them. A second thread that dispatches while the
 * pool is busy runs its tasks alone. After fork() the child has no workers, and runs
 * every job alone. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define CLOSED 0xffffffffu /* the index of a word whose job is being set up */
#define SPIN (1 << 15)     /* polls before a worker sleeps: about a millisecond */
#define MAX_THREADS 64

struct gradc_pool {
  _Atomic uint64_t claim;  /* generation << 32 | next task index */
  atomic_int left;         /* tasks of the current job not yet finished */
  _Atomic(gradc_task_fn) task;
  _Atomic(void *) ctx;
  atomic_int n;
  atomic_int sleeping;     /* workers waiting on `wake` */
  atomic_flag busy;        /* held by the thread dispatching a job */
  uint32_t gen;            /* the last generation dispatched (owned by the holder of busy) */
  int nworkers;
  pthread_mutex_t mu;
  pthread_cond_t wake;
};

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Polling step n of a wait: mostly a pause, every 256th a sched_yield, so that a waiter
 * that shares a CPU with the thread it waits for (another job took the other cores)
 * lets it run instead of burning its time slice. */
static inline void poll_wait(int n) {
  if (n & 255) relax();
  else sched_yield();
}

/* Claims and runs tasks of generation g until none is left. */
static void work(gradc_pool *p, uint32_t g) {
  for (;;) {
    uint64_t c = atomic_load(&p->claim);
    if ((uint32_t)(c >> 32) != g) return; /* a later job: not ours to take */
    uint32_t i = (uint32_t)c;
    if (i == CLOSED) { /* being set up: the fields are not ready */
      relax();
      continue;
    }
    gradc_task_fn task = atomic_load(&p->task);
    void *ctx = atomic_load(&p->ctx);
    if (i >= (uint32_t)atomic_load(&p->n)) return;
    /* succeeds only if the word still says (g, i): then task, ctx and n were g's */
    if (!atomic_compare_exchange_weak(&p->claim, &c, c + 1)) continue;
    task(ctx, (int32_t)i);
    atomic_fetch_sub(&p->left, 1);
  }
}

static uint32_t generation(const gradc_pool *p) { return (uint32_t)(atomic_load(&p->claim) >> 32); }

static void *worker(void *arg) {
  gradc_pool *p = arg;
  uint32_t seen = 0; /* the pool's first generation: a job may come before this thread runs */
  for (;;) {
    uint32_t g;
    for (int spin = 0; (g = generation(p)) == seen && spin < SPIN; spin++) poll_wait(spin);
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleeping, 1);
      while ((g = generation(p)) == seen) pthread_cond_wait(&p->wake, &p->mu);
      atomic_fetch_sub(&p->sleeping, 1);
      pthread_mutex_unlock(&p->mu);
    }
    seen = g;
    work(p, g);
  }
  return NULL;
}

static gradc_pool *global;

static void after_fork_in_child(void) {
  if (global) global->nworkers = 0; /* the workers did not come along */
}

/* GRADC_THREADS when it is a whole number >= 1 (at most MAX_THREADS), else the online
 * cores: a malformed value ("4abc", "0") is ignored rather than read as 1. */
static int wanted_threads(void) {
  const char *s = getenv("GRADC_THREADS");
  char *end = NULL;
  long n = s && *s ? strtol(s, &end, 10) : 0;
  if (!end || *end || n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static void make_pool(void) {
  int threads = wanted_threads();
  if (threads < 2) return;
  gradc_pool *p = calloc(1, sizeof *p);
  if (!p) return;
  atomic_init(&p->claim, 0);
  atomic_flag_clear(&p->busy);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < threads - 1; i++) {
    pthread_t t;
    if (pthread_create(&t, &attr, worker, p)) break;
    p->nworkers++;
  }
  pthread_attr_destroy(&attr);
  pthread_atfork(NULL, NULL, after_fork_in_child);
  global = p; /* with no worker started it is still a valid (serial) pool */
}

gradc_pool *gradc__pool(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_pool);
  return global;
}

int gradc__pool_threads(const gradc_pool *p) { return p ? p->nworkers + 1 : 1; }

void gradc__pool_run(void *pool, gradc_task_fn task, void *ctx, int32_t n) {
  gradc_pool *p = pool;
  if (!p || p->nworkers == 0 || n < 2 || atomic_flag_test_and_set(&p->busy)) {
    for (int32_t i = 0; i < n; i++) task(ctx, i);
    return;
  }
  uint32_t g = ++p->gen;
  atomic_store(&p->claim, (uint64_t)g << 32 | CLOSED); /* no claim of the last job succeeds now */
  atomic_store(&p->task, task);
  atomic_store(&p->ctx, ctx);
  atomic_store(&p->n, n);
  atomic_store(&p->left, n);
  atomic_store(&p->claim, (uint64_t)g << 32); /* open */
  if (atomic_load(&p->sleeping)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
  work(p, g);
  for (int n = 1; atomic_load(&p->left) > 0; n++) poll_wait(n);
  atomic_flag_clear(&p->busy);
}
