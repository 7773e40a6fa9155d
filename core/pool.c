/* pool.c — a fixed set of worker threads running parallel-for jobs.
 *
 * One job at a time: sf_pool_run publishes (fn, ctx, n_tasks), wakes the workers,
 * takes part itself as worker 0, and waits until every worker has left the job.
 * Tasks are claimed in increasing order under the mutex; a task is short compared
 * with the lock (a whole segment or chunk), so contention does not matter.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sf_internal.h"
#include "streamfit/sf_pool.h"

struct sf_pool {
    size_t n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;     /* bumped per job */
    bool stopping;
    bool running;            /* a job is on: a second sf_pool_run is refused */
    /* current job */
    sf_task_fn fn;
    void *ctx;
    size_t n_tasks, next_task, busy;
    size_t failed_task;      /* lowest failed task, or SIZE_MAX */
    sf_error failed_err;
};

typedef struct worker_arg { sf_pool *pool; size_t id; } worker_arg;

static void work(sf_pool *p, size_t id)
{
    sf_error err;
    pthread_mutex_lock(&p->mu);
    while (p->next_task < p->n_tasks && p->failed_task == SIZE_MAX) {
        size_t task = p->next_task++;
        pthread_mutex_unlock(&p->mu);
        sf_error_clear(&err);
        sf_status st = p->fn(p->ctx, task, id, &err);
        pthread_mutex_lock(&p->mu);
        if (SF_IS_ERROR(st) && task < p->failed_task) {
            if (err.status == SF_OK) err.status = st;
            p->failed_task = task;
            p->failed_err = err;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    sf_pool *p = a.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stopping) break;
        seen = p->generation;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        work(p, a.id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

sf_status sf_pool_new(sf_pool **out, size_t n_threads, sf_error *err)
{
    *out = NULL;
    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (size_t)n : 1;
    }
    if (n_threads > 1024) return sfi_fail(err, SF_ERR_ARG, NULL, "too many threads: %zu", n_threads);
    sf_pool *p = calloc(1, sizeof *p);
    if (!p) return sfi_nomem(err);
    p->n_threads = 1;
    p->failed_task = SIZE_MAX;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc(n_threads, sizeof *p->threads);
    if (!p->threads) {
        sf_pool_free(p);
        return sfi_nomem(err);
    }
    for (size_t i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            sf_pool_free(p);
            return sfi_nomem(err);
        }
        a->pool = p;
        a->id = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            sf_pool_free(p);
            return sfi_fail(err, SF_ERR_NOMEM, NULL, "cannot start thread %zu", i);
        }
        p->n_threads++;
    }
    *out = p;
    return SF_OK;
}

void sf_pool_free(sf_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

size_t sf_pool_size(const sf_pool *p) { return p ? p->n_threads : 0; }

sf_status sf_pool_run(sf_pool *p, size_t n_tasks, sf_task_fn fn, void *ctx, sf_error *err)
{
    if (!p || !fn) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pool_run: NULL pool or function");
    pthread_mutex_lock(&p->mu);
    if (p->running) {
        /* A second job (another thread's, or one a task starts on its own pool)
         * would overwrite the running job's fn, ctx and counter under its
         * workers, or wait for itself: refuse it rather than corrupt or hang. */
        pthread_mutex_unlock(&p->mu);
        return sfi_fail(err, SF_ERR_STATE, NULL, "sf_pool_run: the pool is running another job");
    }
    p->running = true;
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->next_task = 0;
    p->failed_task = SIZE_MAX;
    p->busy++; /* the caller; late workers of an earlier job may still hold counts */
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    work(p, 0);

    pthread_mutex_lock(&p->mu);
    p->busy--;
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    /* Workers that wake late see the exhausted task counter and leave at once. */
    sf_status st = SF_OK;
    if (p->failed_task != SIZE_MAX) {
        st = p->failed_err.status;
        if (err) *err = p->failed_err;
    }
    p->running = false;
    pthread_mutex_unlock(&p->mu);
    return st;
}
