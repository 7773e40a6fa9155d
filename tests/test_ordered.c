/* test_ordered.c — in-order passes: the learner on its own thread with every
 * worker reading ahead, the segment order of shuffle=true, and progressive
 * validation reports.
 *
 * What is compared, and how:
 * - Segment order: a pipeline fit of sgd_classifier(shuffle=true, random_state=R)
 *   over a CSV of many segments equals, bitwise (coef_, intercept_, t_), the typed
 *   sf_sgd fed the segments' rows in the order epoch e draws — the (e+1)-th
 *   RandomState(R).permutation(n_segments) — with sf_sgd_end_epoch between epochs;
 *   for 1, 2 and 3 threads, and from the cache. The order must differ from data
 *   order, so the test fails if the order is not applied.
 * - Progressive validation: the reports' block losses, weighted by block rows,
 *   add up to the epoch's mean; the first block's and the first epoch's mean
 *   losses equal the typed model's own sums over the same rows (1e-12
 *   relative); the second epoch's mean is lower;
 *   with early_stopping the held-out loss is reported and finite.
 * - The learner's own pool: a 3-class one-vs-all SGD and k-means give bitwise
 *   the same outputs for 1, 2 and 3 threads.
 */
#include "sf_test.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/np_random.h"
#include "streamfit/streamfit.h"

enum { N = 4000, P = 3 };

static double X[N * P], Y[N];

/* A CSV of N rows: three features and a binary target a little separable. */
static char *write_data(void)
{
    size_t cap = (size_t)N * 100 + 64, k = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    k += (size_t)sprintf(t + k, "a,b,c,y,z\n");
    unsigned x = 7;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++) {
            x = x * 1103515245u + 12345u;
            X[i * P + j] = (double)(x >> 8) / 16777216.0 * 4 - 2;
        }
        x = x * 1103515245u + 12345u;
        double noise = (double)(x >> 8) / 16777216.0 - 0.5;
        Y[i] = X[i * P] - 0.5 * X[i * P + 1] + noise > 0 ? 1 : 0;
        int z = X[i * P + 2] > 0.7 ? 2 : X[i * P + 2] > -0.7 ? 1 : 0; /* three classes */
        k += (size_t)sprintf(t + k, "%.17g,%.17g,%.17g,%g,%d\n", X[i * P], X[i * P + 1], X[i * P + 2], Y[i], z);
    }
    char *path = sf_test_write_tmp(t, k, ".csv");
    free(t);
    return path;
}

static sf_source *open_src(const char *path)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 113;
    so.segment_bytes = 9000; /* ~ 16 segments */
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, &so, &err), SF_OK);
    return src;
}

/* First row and row count of every segment, as the source cuts them. */
static size_t segments(sf_source *src, size_t *first, size_t *count)
{
    size_t n = 0, at = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    for (size_t g = 0; g < n; g++) {
        sf_source *s = NULL;
        assert_int_equal(sf_source_open_segment(src, g, &s, &err), SF_OK);
        const sf_table *t;
        size_t rows = 0;
        while (sf_source_next(s, &t, &err) == SF_OK) rows += t->n_rows;
        sf_source_close(s);
        first[g] = at;
        count[g] = rows;
        at += rows;
    }
    assert_int_equal(at, N);
    return n;
}

#define SPEC_SHUFFLE "sgd_classifier(loss=log_loss, shuffle=true, random_state=11, shuffle_block=300, " \
                     "max_iter=3, tol=None, classes=[0, 1])"

static sf_pipeline *fit_target(const char *path, const char *spec, size_t threads, const char *cache,
                               sf_loss_fn fn, void *ctx, const char *target)
{
    sf_source *src = open_src(path);
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = target;
    fo.columns = "a,b,c";
    fo.cache = cache;
    fo.loss = fn;
    fo.loss_ctx = ctx;
    sf_status st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(st, SF_OK);
    sf_source_close(src);
    return pl;
}

/* A typed log-loss classifier of classes 0 and 1; shuffled: as SPEC_SHUFFLE. */
static sf_sgd *typed_model(bool shuffled)
{
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.loss = SF_SGD_LOSS_LOG_LOSS;
    if (shuffled) {
        p.shuffle = true;
        p.random_state = 11;
        p.shuffle_block = 300;
        p.max_iter = 3;
        p.tol = NAN;
    }
    sf_sgd *s = NULL;
    sf_error err;
    assert_int_equal(sf_sgd_new(&s, &p, &err), SF_OK);
    const double classes[2] = {0, 1};
    assert_int_equal(sf_sgd_set_classes(s, classes, 2, &err), SF_OK);
    return s;
}

static sf_pipeline *fit(const char *path, const char *spec, size_t threads, const char *cache, sf_loss_fn fn,
                        void *ctx)
{
    return fit_target(path, spec, threads, cache, fn, ctx, "y");
}

/* The typed model fed the segments in each epoch's order. */
static sf_sgd *expected_shuffled(const size_t *first, const size_t *count, size_t n_seg, bool *differs)
{
    sf_sgd *s = typed_model(true);
    sf_error err;
    sfi_np_rng r;
    sfi_np_seed(&r, 11);
    size_t order[64];
    assert_true(n_seg <= 64);
    *differs = false;
    bool again = true;
    for (unsigned e = 0; again; e++) {
        sfi_np_permutation(&r, order, n_seg);
        for (size_t i = 0; i < n_seg; i++) {
            *differs = *differs || order[i] != i;
            const size_t g = order[i];
            /* blocks of the pipeline's chunk size: shuffle makes block sizes irrelevant */
            assert_int_equal(sf_sgd_partial_fit(s, X + first[g] * P, count[g], P, P, Y + first[g], NULL, &err),
                             SF_OK);
        }
        assert_int_equal(sf_sgd_end_epoch(s, &again, &err), SF_OK);
    }
    assert_int_equal(sf_sgd_n_iter(s), 3);
    return s;
}

/* Bitwise: the pipeline's decision function equals the typed model's on all rows. */
static void assert_same_model(const sf_pipeline *pl, const sf_sgd *s)
{
    static double got[N], want[N];
    sf_error err;
    assert_int_equal(sf_pipeline_predict_as(pl, SF_OUTPUT_DECISION, X, N, P, P, got, 1, &err), SF_OK);
    assert_int_equal(sf_sgd_decision_function(s, X, N, P, P, want, 1, &err), SF_OK);
    for (size_t i = 0; i < N; i++) assert_double_bits(got[i], want[i]);
}

static void test_segment_order(void **state)
{
    (void)state;
    char *path = write_data();
    sf_source *src = open_src(path);
    size_t first[64], count[64];
    size_t n_seg = segments(src, first, count);
    sf_source_close(src);
    assert_true(n_seg >= 8);
    bool differs = false;
    sf_sgd *want = expected_shuffled(first, count, n_seg, &differs);
    assert_true(differs);
    for (size_t threads = 1; threads <= 3; threads++) {
        sf_pipeline *pl = fit(path, SPEC_SHUFFLE, threads, NULL, NULL, NULL);
        assert_same_model(pl, want);
        sf_pipeline_free(pl);
    }
    /* later epochs from the cache, read in the same orders */
    char *cache = sf_test_write_tmp("", 0, ".h5");
    sf_pipeline *pl = fit(path, SPEC_SHUFFLE, 2, cache, NULL, NULL);
    assert_same_model(pl, want);
    sf_pipeline_free(pl);
    /* without shuffle: data order, which is not the shuffled model */
    pl = fit(path, "sgd_classifier(loss=log_loss, max_iter=3, tol=None, classes=[0, 1])", 2, NULL, NULL, NULL);
    static double a[N], b[N];
    sf_error err;
    assert_int_equal(sf_pipeline_predict_as(pl, SF_OUTPUT_DECISION, X, N, P, P, a, 1, &err), SF_OK);
    assert_int_equal(sf_sgd_decision_function(want, X, N, P, P, b, 1, &err), SF_OK);
    assert_true(memcmp(a, b, sizeof a) != 0);
    sf_pipeline_free(pl);
    sf_sgd_free(want);
    unlink(cache);
    free(cache);
    unlink(path);
    free(path);
}

typedef struct reports {
    sf_loss_report r[1024];
    size_t n;
} reports;

static void collect(void *ctx, const sf_loss_report *r)
{
    reports *rs = ctx;
    if (rs->n < 1024) rs->r[rs->n++] = *r;
}

/* The typed model's mean progressive loss over the first n rows, from a zero model. */
static double typed_loss(size_t n)
{
    sf_sgd *s = typed_model(false);
    sf_error err;
    sf_sgd_track_loss(s, true);
    assert_int_equal(sf_sgd_partial_fit(s, X, n, P, P, Y, NULL, &err), SF_OK);
    sf_sgd_progress g = sf_sgd_get_progress(s);
    sf_sgd_free(s);
    assert_double_bits(g.rows, (double)n);
    return g.train_loss / g.rows;
}

static void test_progressive_validation(void **state)
{
    (void)state;
    char *path = write_data();
    for (size_t threads = 1; threads <= 2; threads++) {
        reports *rs = calloc(1, sizeof *rs);
        assert_non_null(rs);
        sf_pipeline *pl = fit(path, "sgd_classifier(loss=log_loss, max_iter=2, tol=None, classes=[0, 1])", threads,
                              NULL, collect, rs);
        /* per epoch: blocks, then one done report */
        size_t i = 0;
        for (unsigned e = 0; e < 2; e++) {
            double sum = 0;
            uint64_t rows = 0;
            size_t first = i;
            for (; i < rs->n && !rs->r[i].done; i++) {
                assert_int_equal(rs->r[i].pass, e);
                assert_string_equal(rs->r[i].kind, "sgd_classifier");
                assert_true(rs->r[i].block_rows > 0);
                rows += rs->r[i].block_rows;
                assert_int_equal(rs->r[i].rows, rows);
                sum += rs->r[i].block_loss * (double)rs->r[i].block_rows;
                assert_true(isnan(rs->r[i].holdout_loss));
            }
            assert_true(i < rs->n);
            assert_int_equal(rows, N);
            assert_int_equal(rs->r[i].rows, N);
            assert_double_close(rs->r[i].pass_loss, sum / N, 1e-12, 0);
            if (e == 0) assert_double_close(rs->r[first].block_loss, typed_loss(rs->r[first].block_rows), 1e-12, 0);
            else assert_true(rs->r[i].pass_loss < rs->r[first - 1].pass_loss); /* epoch 2 learns from a trained model */
            i++;
        }
        assert_int_equal(i, rs->n);
        /* the first epoch's mean equals the typed model's own sum over the same rows */
        size_t done0 = 0;
        while (!rs->r[done0].done) done0++;
        assert_double_close(rs->r[done0].pass_loss, typed_loss(N), 1e-12, 0);
        sf_pipeline_free(pl);
        free(rs);
    }
    /* early stopping: every 5th row held out, its mean loss reported */
    reports *rs = calloc(1, sizeof *rs);
    assert_non_null(rs);
    sf_pipeline *pl = fit(path,
                          "sgd_classifier(loss=hinge, early_stopping=true, holdout_period=5, max_iter=3, "
                          "classes=[0, 1])",
                          2, NULL, collect, rs);
    size_t dones = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].done) {
            dones++;
            assert_true(isfinite(rs->r[i].holdout_loss) && rs->r[i].holdout_loss >= 0);
            assert_true(isfinite(rs->r[i].pass_loss));
        }
    assert_true(dones >= 1 && dones <= 3);
    sf_pipeline_free(pl);
    free(rs);
    /* a merged stage (scaler) reports nothing */
    rs = calloc(1, sizeof *rs);
    assert_non_null(rs);
    pl = fit(path, "scaler", 2, NULL, collect, rs);
    assert_int_equal(rs->n, 0);
    sf_pipeline_free(pl);
    free(rs);
    unlink(path);
    free(path);
}

/* The learner's own pool (one-vs-all classes, k-means distances) changes no bit:
 * the same outputs for 1, 2 and 3 threads. */
static void test_learner_pool(void **state)
{
    (void)state;
    char *path = write_data();
    static const struct {
        const char *spec, *target;
        sf_output what;
        size_t width;
    } cases[] = {
        {"sgd_classifier(loss=hinge, max_iter=2, tol=None)", "z", SF_OUTPUT_DECISION, 3},
        {"scaler | minibatch_kmeans(n_clusters=5, random_state=0, batch_size=113)", NULL, SF_OUTPUT_TRANSFORM, 5},
    };
    static double first[N * 5], got[N * 5];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t threads = 1; threads <= 3; threads++) {
            sf_pipeline *pl = fit_target(path, cases[c].spec, threads, NULL, NULL, NULL, cases[c].target);
            sf_error err;
            assert_int_equal(sf_pipeline_n_outputs_as(pl, cases[c].what), cases[c].width);
            assert_int_equal(sf_pipeline_predict_as(pl, cases[c].what, X, N, P, P, threads == 1 ? first : got,
                                                    cases[c].width, &err),
                             SF_OK);
            if (threads > 1)
                for (size_t i = 0; i < N * cases[c].width; i++) assert_double_bits(got[i], first[i]);
            sf_pipeline_free(pl);
        }
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_order),
        cmocka_unit_test(test_progressive_validation),
        cmocka_unit_test(test_learner_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
