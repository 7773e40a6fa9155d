/* test_pool.c — every task runs once, on any worker count; the lowest failing
 * task's error is reported; the pool is reusable. */
#include "sf_test.h"

#include <stdatomic.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_tasks_once),
        cmocka_unit_test(test_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
