/* sf_pool.h — a small fixed-size thread pool that runs parallel-for jobs.
 *
 * sf_pool_run(pool, n_tasks, fn, ctx) calls fn(ctx, task, worker) once for every
 * task in [0, n_tasks), tasks handed out in increasing order to whichever worker is
 * free, and returns when all have finished. The calling thread is worker 0.
 */
#ifndef SF_POOL_H
#define SF_POOL_H

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_pool sf_pool;

/** A task: returns SF_OK or an error (filling err). After the first error no new
 *  tasks are started. */
typedef sf_status (*sf_task_fn)(void *ctx, size_t task, size_t worker, sf_error *err);

/** Creates a pool of n_threads workers in all (n_threads - 1 extra threads;
 *  0 means the number of online CPUs). Caller frees with sf_pool_free(). */
SF_API sf_status sf_pool_new(sf_pool **out, size_t n_threads, sf_error *err);

/** Stops and joins the workers; NULL is a no-op. */
SF_API void sf_pool_free(sf_pool *pool);

/** Number of workers (including the caller). */
SF_API size_t sf_pool_size(const sf_pool *pool);

/** Runs fn over n_tasks tasks on all workers; returns SF_OK, or the error of the
 *  lowest-numbered failed task, copied into err. One run at a time: a call while
 *  the pool runs a job (from another thread, or from one of its own tasks) fails
 *  with SF_ERR_STATE and runs nothing. */
SF_API sf_status sf_pool_run(sf_pool *pool, size_t n_tasks, sf_task_fn fn, void *ctx,
                             sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
