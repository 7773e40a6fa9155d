/* test_serving.c — serving from C (issue 3, item 8): a pipeline loaded from a model
 * file is immutable, and any number of threads may transform their own rows
 * through it at once.
 *
 * A "scaler | scaler(with_mean=false)" pipeline is fitted (memory source), saved
 * and loaded. The loaded pipeline must transform bitwise like the fitted one
 * (serially), and 4 threads, released together by a barrier, each transform their
 * own rows through the one loaded pipeline in many small calls of different sizes
 * (so the calls interleave): every thread's output must equal, bit for bit, the
 * serial sf_pipeline_transform of the same rows. The serial result is also checked
 * against sf_scaler driven by hand on the same data (relative 1e-12: the merge
 * order differs), so a pipeline that transformed nothing would fail too.
 */
#include "sf_test.h"

#include <pthread.h>
#include <unistd.h>

enum { P = 5, FIT_ROWS = 3000, THREADS = 4, ROWS = 4000, REPS = 20 };

typedef struct worker {
    const sf_pipeline *pl;
    const double *x;    /* this thread's ROWS x P rows */
    double *out;        /* ROWS x P */
    pthread_barrier_t *go;
    sf_status st;
    char msg[512];
} worker;

static void *serve(void *arg)
{
    worker *w = arg;
    sf_error err;
    pthread_barrier_wait(w->go);
    for (int rep = 0; rep < REPS && w->st == SF_OK; rep++) {
        /* calls of 1..37 rows, a different cut each repetition */
        for (size_t i = 0; i < ROWS && w->st == SF_OK;) {
            size_t n = 1 + (i * 7 + (size_t)rep * 13) % 37;
            if (n > ROWS - i) n = ROWS - i;
            w->st = sf_pipeline_transform(w->pl, w->x + i * P, n, P, P, w->out + i * P, P, &err);
            i += n;
        }
    }
    if (w->st != SF_OK) snprintf(w->msg, sizeof w->msg, "%s", err.message);
    return NULL;
}

static void fill(double *x, size_t n, unsigned seed)
{
    unsigned s = seed;
    for (size_t i = 0; i < n * P; i++) {
        s = s * 1664525u + 1013904223u;
        double u = (double)(s >> 8) / 16777216.0;
        x[i] = (i % P == 4) ? 1e6 + u : (double)(i % P) * 2 - 3 + u;
    }
}

static void test_loaded_pipeline_serves_threads(void **state)
{
    (void)state;
    static double fitx[FIT_ROWS * P];
    fill(fitx, FIT_ROWS, 1);
    sf_error err;
    sf_source *src = NULL;
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 250;
    so.segment_rows = 700;
    assert_int_equal(sf_source_from_memory(&src, fitx, FIT_ROWS, P, P, NULL, NULL, NULL, &so, &err), SF_OK);
    sf_pipeline *fitted = NULL, *pl = NULL;
    assert_int_equal(sf_pipeline_new(&fitted, "scaler | scaler(with_mean=false)", &err), SF_OK);
    assert_int_equal(sf_pipeline_fit(fitted, src, NULL, &err), SF_OK);
    sf_source_close(src);
    char model[64];
    snprintf(model, sizeof model, "/tmp/sf_serving_XXXXXX");
    int fd = mkstemp(model);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sf_pipeline_save(fitted, model, &err), SF_OK);
    assert_int_equal(sf_pipeline_load(&pl, model, &err), SF_OK);
    unlink(model);

    static double x[THREADS][ROWS * P], serial[THREADS][ROWS * P], par[THREADS][ROWS * P];
    static double direct[ROWS * P], tmp[ROWS * P];
    for (size_t t = 0; t < THREADS; t++) {
        fill(x[t], ROWS, 100 + (unsigned)t);
        assert_int_equal(sf_pipeline_transform(pl, x[t], ROWS, P, P, serial[t], P, &err), SF_OK);
        assert_int_equal(sf_pipeline_transform(fitted, x[t], ROWS, P, P, tmp, P, &err), SF_OK);
        assert_memory_equal(tmp, serial[t], sizeof tmp); /* load gave back the same model */
    }
    /* the serial result against the scalers fitted by hand */
    sf_scaler *a = NULL, *b = NULL;
    sf_scaler_params bp;
    sf_scaler_params_default(&bp);
    bp.with_mean = false;
    assert_int_equal(sf_scaler_new(&a, NULL, &err), SF_OK);
    assert_int_equal(sf_scaler_new(&b, &bp, &err), SF_OK);
    assert_int_equal(sf_scaler_partial_fit(a, fitx, FIT_ROWS, P, P, NULL, &err), SF_OK);
    static double fz[FIT_ROWS * P];
    assert_int_equal(sf_scaler_transform(a, fitx, FIT_ROWS, P, P, fz, P, &err), SF_OK);
    assert_int_equal(sf_scaler_partial_fit(b, fz, FIT_ROWS, P, P, NULL, &err), SF_OK);
    assert_int_equal(sf_scaler_transform(a, x[0], ROWS, P, P, tmp, P, &err), SF_OK);
    assert_int_equal(sf_scaler_transform(b, tmp, ROWS, P, P, direct, P, &err), SF_OK);
    for (size_t i = 0; i < ROWS * P; i++) assert_double_close(serial[0][i], direct[i], 1e-12, 1e-12);
    sf_scaler_free(a);
    sf_scaler_free(b);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (size_t t = 0; t < THREADS; t++) {
        w[t] = (worker){.pl = pl, .x = x[t], .out = par[t], .go = &go, .st = SF_OK};
        assert_int_equal(pthread_create(&th[t], NULL, serve, &w[t]), 0);
    }
    for (size_t t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        if (w[t].st != SF_OK) print_error("thread %zu: %s\n", t, w[t].msg);
        assert_int_equal(w[t].st, SF_OK);
        assert_memory_equal(par[t], serial[t], sizeof par[t]);
    }
    pthread_barrier_destroy(&go);
    sf_pipeline_free(pl);
    sf_pipeline_free(fitted);
}

int main(void)
{
    sf_library_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_loaded_pipeline_serves_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
