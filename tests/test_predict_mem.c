/* test_predict_mem.c — the memory of sf_pipeline_predict with many outputs a row
 * (pipeline/predict.c) is bounded by the chunk's output and the threads, and the
 * rows still come out in order and exact.
 *
 * A k-means model of K = 64 clusters over P = 2 columns gives 64 distances a row
 * (--transform): 513 bytes of output a row from 16 bytes of input. It predicts a
 * memory source of 8 segments of 65,536 rows (chunks of 4,096 rows) on 1 and on 3
 * threads into a sink of the test's own (io/sink.c's sfi_sink_wrap), with the
 * hold of the segments not due set to threads x 4 MiB (SF_PREDICT_HOLD_BYTES,
 * pipeline/predict.c's default). The heap in use (glibc's mallinfo2(): uordblks +
 * hblkhd, or the sanitizer allocator's count under ASan) is sampled by a thread
 * every 50 us and at every write; what is compared is the peak above the heap in
 * use just before the call, against
 *     threads x (hold a thread + 2 chunks of output) + 1 chunk of output + 1 MiB
 * (a chunk of output: 4,096 rows x 64 doubles and a flag): 11.0 MiB on 1 thread,
 * 27.0 on 3. Before the output was kept in pieces the peak on 3 threads was 46.2
 * MiB: each worker's output buffer grew to the whole hold and was kept at that size
 * for the next segment, and a finished segment was written through one table of
 * up to 65,536 rows (37.7 MB at 64 outputs); in pieces it is 14.9 MiB (1 thread:
 * 4.6 MiB before, 1.4 after).
 *
 * Every row written must be, bitwise, sf_pipeline_predict_as of the same input
 * rows (in blocks of 256 rows, serially), in input order, none missing; the call's
 * row count must be the source's.
 */
#include "sf_test.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "io/sink_impl.h"

#include "sf_heap.h"

SFI_FUNC sf_status sfi_sink_wrap(sf_sink **out, const sf_sink_ops *ops, void *impl, sf_error *err);

#define P 2                  /* input columns */
#define K 64                 /* clusters: outputs a row */
#define CROWS 4096           /* rows a chunk */
#define SEG_ROWS 65536       /* rows a segment */
#define NSEG 8
#define NROWS ((size_t)NSEG * SEG_ROWS)
#define HOLD_A_THREAD ((size_t)4 << 20)
#define BLOCK 256            /* rows of the serial reference at a time */

static double cell(size_t i, size_t j)
{
    return (double)((i * 7919 + j * 104729) % 100003) / 997.0 - 50.0 + (double)(i % 13) * (double)j;
}

/* The test's sink: checks each row against the serial prediction, samples the heap. */
typedef struct check_sink {
    const sf_pipeline *pl;
    const double *x;
    size_t next;             /* rows written so far */
    size_t wrong;            /* cells that differ (asserted on the main thread) */
    size_t first_wrong;      /* the row of the first one */
    double exp[BLOCK * K];   /* the serial prediction of rows [exp_row, exp_row + BLOCK) */
    size_t exp_row, exp_n;
    size_t peak;             /* heap in use at the writes, at most */
} check_sink;

static sf_status check_write_table(void *impl, const sf_table *t, sf_error *err)
{
    check_sink *c = impl;
    size_t h = heap_now();
    if (h > c->peak) c->peak = h;
    if (t->n_cols != K) return sfi_fail(err, SF_ERR_SHAPE, NULL, "%zu columns", t->n_cols);
    for (size_t i = 0; i < t->n_rows; i++, c->next++) {
        size_t r = c->next;
        if (r >= NROWS) return sfi_fail(err, SF_ERR_SHAPE, NULL, "more rows than the source");
        if (r < c->exp_row || r >= c->exp_row + c->exp_n) {
            c->exp_row = r - r % BLOCK;
            c->exp_n = NROWS - c->exp_row < BLOCK ? NROWS - c->exp_row : BLOCK;
            SF_TRY(sf_pipeline_predict_as(c->pl, SF_OUTPUT_TRANSFORM, c->x + c->exp_row * P, c->exp_n, P, P,
                                          c->exp, K, err));
        }
        const double *e = c->exp + (r - c->exp_row) * K;
        for (size_t m = 0; m < K; m++) {
            double v = t->cols[m].values[i];
            bool same = !t->cols[m].missing[i] && memcmp(&v, &e[m], sizeof v) == 0;
            if (!same && c->wrong++ == 0) c->first_wrong = r;
        }
    }
    return SF_OK;
}

static sf_status check_write_matrix(void *impl, const char *name, const double *x, size_t n, size_t p,
                                    size_t ld, const char *const *col_names, sf_error *err)
{
    (void)impl, (void)name, (void)x, (void)n, (void)p, (void)ld, (void)col_names;
    return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "predict writes tables");
}

static sf_status check_finish(void *impl, sf_error *err)
{
    (void)impl, (void)err;
    return SF_OK;
}

static void check_discard(void *impl) { (void)impl; }

static const sf_sink_ops check_ops = {
    .kind = "check",
    .write_table = check_write_table,
    .write_matrix = check_write_matrix,
    .finish = check_finish,
    .discard = check_discard,
};

/* The sampling thread. */
typedef struct sampler {
    pthread_t th;
    atomic_int stop;
    size_t peak;
} sampler;

static void *sample(void *arg)
{
    sampler *s = arg;
    struct timespec ts = {0, 50000};
    while (!atomic_load(&s->stop)) {
        size_t h = heap_now();
        if (h > s->peak) s->peak = h;
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static double *make_x(size_t n)
{
    double *x = malloc(n * P * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < P; j++) x[i * P + j] = cell(i, j);
    return x;
}

static sf_source *memory_source(const double *x, size_t n)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = CROWS;
    o.segment_rows = SEG_ROWS;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&src, x, n, P, P, NULL, NULL, NULL, &o, &err), SF_OK);
    return src;
}

/* Predicts x's rows on `threads` threads; returns the peak heap above the start. */
static size_t predict_peak(const sf_pipeline *pl, const double *x, size_t threads)
{
    char hold[32];
    snprintf(hold, sizeof hold, "%zu", threads * HOLD_A_THREAD);
    setenv("SF_PREDICT_HOLD_BYTES", hold, 1);
    sf_error err;
    sf_source *src = memory_source(x, NROWS);
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    assert_int_equal(n_seg, NSEG);
    check_sink *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->pl = pl;
    c->x = x;
    sf_sink *sink = NULL;
    assert_int_equal(sfi_sink_wrap(&sink, &check_ops, c, &err), SF_OK);
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.what = SF_OUTPUT_TRANSFORM;
    po.threads = threads;
    sf_predict_stats stats = {0};
    malloc_trim(0);
    size_t base = heap_now();
    sampler s = {.peak = base};
    c->peak = base;
    assert_int_equal(pthread_create(&s.th, NULL, sample, &s), 0);
    sf_status st = sf_pipeline_predict(pl, src, sink, &po, &stats, &err);
    atomic_store(&s.stop, 1);
    pthread_join(s.th, NULL);
    if (st != SF_OK) fail_msg("predict: %s", err.message);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);
    sf_source_close(src);
    unsetenv("SF_PREDICT_HOLD_BYTES");
    assert_int_equal(stats.rows, NROWS);
    assert_int_equal(c->next, NROWS);
    if (c->wrong) fail_msg("%zu cells differ from the serial prediction, the first in row %zu", c->wrong, c->first_wrong);
    size_t peak = s.peak > c->peak ? s.peak : c->peak;
    free(c);
    return peak - base;
}

static void test_many_outputs(void **state)
{
    (void)state;
    sf_error err;
    double *x = make_x(NROWS);
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "minibatch_kmeans(n_clusters=64, random_state=0)", &err), SF_OK);
    sf_source *fit_src = memory_source(x, 16384);
    if (sf_pipeline_fit(pl, fit_src, NULL, &err) != SF_OK) fail_msg("fit: %s", err.message);
    sf_source_close(fit_src);
    assert_int_equal(sf_pipeline_n_outputs_as(pl, SF_OUTPUT_TRANSFORM), K);
    const size_t chunk_out = (size_t)CROWS * (K * sizeof(double) + 1);
    const size_t threads[] = {1, 3};
    for (size_t k = 0; k < 2; k++) {
        size_t t = threads[k];
        size_t bound = t * (HOLD_A_THREAD + 2 * chunk_out) + chunk_out + ((size_t)1 << 20);
        size_t peak = predict_peak(pl, x, t);
        print_message("%zu thread(s): peak heap %.1f MiB above the start, bound %.1f MiB\n", t,
                      (double)peak / (1 << 20), (double)bound / (1 << 20));
        assert_true(peak <= bound);
    }
    sf_pipeline_free(pl);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
