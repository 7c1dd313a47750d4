/* runtime/pool.h — internal: the host runtime's process-wide thread pool, which runs
 * the parts of a compiled model's split matrix products (NAME_set_parallel). */
#ifndef GRADC_POOL_H
#define GRADC_POOL_H
#include <stdint.h>

typedef struct gradc_pool gradc_pool;
typedef void (*gradc_task_fn)(void *ctx, int32_t i);

/* The pool, made on first use with GRADC_THREADS (default: the online cores, at most
 * 64) threads in all: the caller and GRADC_THREADS - 1 workers. NULL when that is one
 * thread or the workers cannot be started. */
gradc_pool *gradc__pool(void);
/* Threads a job may run on (the caller included); 1 for NULL. */
int gradc__pool_threads(const gradc_pool *p);
/* The parallel runner a model's NAME_set_parallel takes: calls task(ctx, i) once for
 * every i in [0, n), on the pool's threads and the caller's, and returns when all are
 * done. If the pool is busy with another thread's job, the caller runs them alone. */
void gradc__pool_run(void *pool, gradc_task_fn task, void *ctx, int32_t n);

#endif
