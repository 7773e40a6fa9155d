/* test_pool.c — every task runs once, on any worker count; the lowest failing
 * task's error is reported; the pool is reusable; a second run while one is on
 * (another thread's, or a task's on its own pool) is refused with SF_ERR_STATE
 * and leaves the running job intact. */
#include "sf_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct job { atomic_int hits[1000]; size_t fail_from; } job;

static sf_status task(void *ctx, size_t i, size_t worker, sf_error *err)
{
    (void)worker;
    job *j = ctx;
    atomic_fetch_add(&j->hits[i], 1);
    if (i >= j->fail_from) {
        err->status = SF_ERR_NUMERIC;
        snprintf(err->message, sizeof err->message, "task %zu failed", i);
        return SF_ERR_NUMERIC;
    }
    return SF_OK;
}

static void test_all_tasks_once(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 4; n++) {
        sf_pool *p = NULL;
        sf_error err;
        assert_int_equal(sf_pool_new(&p, n, &err), SF_OK);
        assert_int_equal(sf_pool_size(p), n);
        for (int rep = 0; rep < 20; rep++) {
            static job j;
            memset(&j, 0, sizeof j);
            j.fail_from = SIZE_MAX;
            size_t n_tasks = (size_t)rep * 50;
            assert_int_equal(sf_pool_run(p, n_tasks, task, &j, &err), SF_OK);
            for (size_t i = 0; i < 1000; i++) assert_int_equal(j.hits[i], i < n_tasks ? 1 : 0);
        }
        sf_pool_free(p);
    }
}

static void test_failure(void **state)
{
    (void)state;
    sf_pool *p = NULL;
    sf_error err;
    assert_int_equal(sf_pool_new(&p, 3, &err), SF_OK);
    static job j;
    memset(&j, 0, sizeof j);
    j.fail_from = 10;
    assert_int_equal(sf_pool_run(p, 500, task, &j, &err), SF_ERR_NUMERIC);
    assert_string_equal(err.message, "task 10 failed");
    /* the pool still works afterwards */
    memset(&j, 0, sizeof j);
    j.fail_from = SIZE_MAX;
    assert_int_equal(sf_pool_run(p, 100, task, &j, &err), SF_OK);
    sf_pool_free(p);
    assert_int_equal(sf_pool_run(NULL, 1, task, &j, &err), SF_ERR_ARG);
}

/* ---- one job at a time ---- */

typedef struct busy_job {
    sf_pool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, tried;
    atomic_int hits;
    sf_status nested;       /* what a task's own sf_pool_run returned */
} busy_job;

static sf_status count_task(void *ctx, size_t i, size_t worker, sf_error *err)
{
    (void)i;
    (void)worker;
    (void)err;
    atomic_fetch_add(&((busy_job *)ctx)->hits, 1);
    return SF_OK;
}

/* Task 0 says it started, then waits (at most 5 s) until the main thread has
 * tried a second run; every task also tries a run on its own pool. */
static sf_status blocking_task(void *ctx, size_t i, size_t worker, sf_error *err)
{
    (void)worker;
    busy_job *b = ctx;
    sf_error e;
    sf_status nested = sf_pool_run(b->pool, 1, count_task, b, &e);
    pthread_mutex_lock(&b->mu);
    if (nested != SF_ERR_STATE) b->nested = nested;
    if (i == 0) {
        b->started = true;
        pthread_cond_broadcast(&b->cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        while (!b->tried && pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0) {}
    }
    pthread_mutex_unlock(&b->mu);
    return count_task(ctx, i, worker, err);
}

static void *run_blocking(void *arg)
{
    busy_job *b = arg;
    sf_error e;
    return sf_pool_run(b->pool, 4, blocking_task, b, &e) == SF_OK ? arg : NULL;
}

static void test_one_job_at_a_time(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 3; n++) {
        static busy_job b;
        memset(&b, 0, sizeof b);
        b.nested = SF_ERR_STATE;
        pthread_mutex_init(&b.mu, NULL);
        pthread_cond_init(&b.cv, NULL);
        sf_error err;
        assert_int_equal(sf_pool_new(&b.pool, n, &err), SF_OK);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, run_blocking, &b), 0);
        pthread_mutex_lock(&b.mu);
        while (!b.started) pthread_cond_wait(&b.cv, &b.mu);
        pthread_mutex_unlock(&b.mu);
        /* the other thread's job is on: this one is refused, nothing of it runs */
        assert_int_equal(sf_pool_run(b.pool, 100, count_task, &b, &err), SF_ERR_STATE);
        assert_non_null(strstr(err.message, "running another job"));
        pthread_mutex_lock(&b.mu);
        b.tried = true;
        pthread_cond_broadcast(&b.cv);
        pthread_mutex_unlock(&b.mu);
        void *ok = NULL;
        assert_int_equal(pthread_join(t, &ok), 0);
        assert_ptr_equal(ok, &b);
        assert_int_equal(b.nested, SF_ERR_STATE); /* a task's run on its own pool: refused */
        assert_int_equal(atomic_load(&b.hits), 4); /* the running job's tasks, each once */
        /* and the pool runs jobs again */
        assert_int_equal(sf_pool_run(b.pool, 10, count_task, &b, &err), SF_OK);
        assert_int_equal(atomic_load(&b.hits), 14);
        sf_pool_free(b.pool);
        pthread_cond_destroy(&b.cv);
        pthread_mutex_destroy(&b.mu);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_tasks_once),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_one_job_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
