/* test_threads.c — the threaded paths when something fails, and the progress
 * callback: written to run under ThreadSanitizer (the CI's TSan step) as well as
 * plainly, so the abort paths of the pool, of read-ahead (readers blocked on
 * full queues, the learner failing, a reader failing) and of ordered prediction
 * are exercised with 1, 2 and 3 threads.
 *
 * What is compared (no tolerances: errors and outputs are compared exactly):
 * - An error is the same whatever the thread count: status, message, source,
 *   line and field; also the row for 2 and 3 threads (1 thread reads the file
 *   whole, where a row is counted from the file's start; 2+ read segments,
 *   where it is counted from the segment's: sf_table.first_row). Each case runs
 *   several times, so a race between workers cannot hide behind one lucky run.
 * - The error reported is the first in data order: of two bad rows far apart,
 *   the earlier one's, whether a reader (an unknown class label) or the learner
 *   (an infinite feature, rejected by partial_fit) finds it, and in a merged
 *   pass (the scaler, segments on every worker) too. The expected error is
 *   known from the data (which row, which field), not from our own output.
 * - A learner's error names its stage and the source and no block-relative row,
 *   as learn_block makes it when the reader learns itself (1 thread): before
 *   the fix, read-ahead's learner thread left the source empty and the row
 *   counted within its block.
 * - Ordered prediction into a sink that stops at a bad row: the sink holds, for
 *   every thread count, exactly the rows before the failing segment, and they
 *   equal the first rows of a successful run on clean data.
 * - A segment that cannot be opened (a glob's file removed after the open):
 *   prediction fails with "cannot open" and never hangs, for 1-6 threads, with
 *   workers ahead waiting for their turn; the sink holds exactly the first
 *   file's output.
 * - The progress callback (called from workers, one call at a time): each pass
 *   ends with one done report whose rows are all the rows, and rows never go
 *   down within a pass; its context is written without a lock, so TSan checks
 *   the "one call at a time" promise.
 * - HDF5 (deflated chunks, which segment readers inflate outside the library's
 *   lock): a scaler | shuffled SGD pipeline fit on it, also through a cache,
 *   predicts bitwise the same for 1, 2 and 3 threads; ordered prediction from
 *   it writes the same bytes as from the CSV (the values round-trip).
 * - A copy of a k-means or SGD model that held a pool (sf_*_set_pool) does not
 *   inherit it: it keeps learning after that pool is freed (under ASan a use
 *   after free otherwise) and matches the original bitwise (centers; the
 *   decision function of the first row).
 */
#include "sf_test.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "streamfit/streamfit.h"

enum { N = 3000, REPEAT = 3 };

/* What to spoil in the data: rows (0-based data records), or -1. */
typedef struct spoil {
    long inf_a, inf_b;      /* a or b is "inf" */
    long label;             /* y is "r" (the classes are p and q) */
    long level, level2;     /* g is "w" (the fit saw u and v) */
} spoil;

static const spoil CLEAN = {-1, -1, -1, -1, -1};

/* N rows of a,b (floats), g (u/v), y (p/q), x (a float: a regression target). */
static char *write_data(spoil s)
{
    size_t cap = (size_t)N * 96 + 64, k = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    k += (size_t)sprintf(t + k, "a,b,g,y,x\n");
    unsigned r = 12345;
    for (long i = 0; i < N; i++) {
        double v[2];
        for (int j = 0; j < 2; j++) {
            r = r * 1103515245u + 12345u;
            v[j] = (double)(r >> 8) / 16777216.0 * 4 - 2;
        }
        char a[32], b[32];
        snprintf(a, sizeof a, "%.17g", v[0]);
        snprintf(b, sizeof b, "%.17g", v[1]);
        if (i == s.inf_a) strcpy(a, "inf");
        if (i == s.inf_b) strcpy(b, "inf");
        const char *g = i == s.level || i == s.level2 ? "w" : i % 3 ? "u" : "v";
        const char *y = i == s.label ? "r" : v[0] > v[1] ? "p" : "q";
        k += (size_t)sprintf(t + k, "%s,%s,%s,%s,%.17g\n", a, b, g, y, v[0] - 2 * v[1] + (i % 3 ? 1 : 0));
    }
    char *path = sf_test_write_tmp(t, k, ".csv");
    free(t);
    return path;
}

/* Small chunks and ~20 segments: rows 1000 apart never share a chunk, whether
 * the file is read whole or by segment. */
static sf_source *open_src(const char *path)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 113;
    so.segment_bytes = 7000; /* CSV */
    so.segment_rows = 150;   /* HDF5: one 150-row chunk */
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, &so, &err), SF_OK);
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    assert_true(n_seg > 10);
    return src;
}

/* Fits spec on path with `threads`; returns the status, err filled. */
static sf_status try_fit(const char *path, const char *spec, const char *target, const char *columns,
                         const char *formula, size_t threads, sf_pipeline **keep, sf_error *err)
{
    sf_source *src = open_src(path);
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, spec, err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = target;
    fo.columns = columns;
    fo.formula = formula;
    fo.epochs = 2;
    sf_error_clear(err);
    sf_status st = sf_pipeline_fit(pl, src, &fo, err);
    sf_source_close(src);
    if (keep) *keep = pl;
    else sf_pipeline_free(pl);
    return st;
}

static void assert_same_error(const sf_error *a, const sf_error *b, bool same_row)
{
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->message, b->message);
    assert_string_equal(a->where.source, b->where.source);
    assert_int_equal(a->where.line, b->where.line);
    assert_int_equal(a->where.field, b->where.field);
    if (same_row) assert_int_equal(a->where.row, b->where.row);
}

/* Fits with 1, 2 and 3 threads, REPEAT times each: the same error every time,
 * returned in *first (the 1-thread run's). */
static void fit_fails_alike(const char *path, const char *spec, const char *target, const char *columns,
                            sf_error *first)
{
    sf_error two;
    for (size_t threads = 1; threads <= 3; threads++)
        for (int rep = 0; rep < (threads == 1 ? 1 : REPEAT); rep++) {
            sf_error e;
            sf_status st = try_fit(path, spec, target, columns, NULL, threads, NULL, &e);
            assert_true(SF_IS_ERROR(st));
            assert_int_equal(st, e.status);
            if (threads == 1) *first = e;
            else assert_same_error(&e, first, false);
            if (threads == 2 && rep == 0) two = e;
            else if (threads >= 2) assert_same_error(&e, &two, true);
        }
}

/* The learner fails (an infinite feature) on an in-order pass with read-ahead;
 * k-means fails while it holds the learner's own pool. */
static void test_learner_error(void **state)
{
    (void)state;
    spoil s = CLEAN;
    s.inf_a = 1500;
    char *path = write_data(s);
    static const char *const specs[] = {"sgd_classifier(classes=[\"p\", \"q\"])",
                                        "sgd_classifier(loss=log_loss, shuffle=true, random_state=3, "
                                        "shuffle_block=200, classes=[\"p\", \"q\"])",
                                        "minibatch_kmeans(n_clusters=3, random_state=1)",
                                        "scaler(with_mean=false) | sgd_regressor"};
    for (size_t c = 0; c < sizeof specs / sizeof *specs; c++) {
        bool reg = c == 3, km = c == 2;
        sf_error e;
        /* the scaler would reject the inf itself: give it only b */
        fit_fails_alike(path, specs[c], km ? NULL : reg ? "x" : "y", "a,b", &e);
        assert_int_equal(e.status, SF_ERR_ARG);
        assert_non_null(strstr(e.message, "infinity"));
        assert_non_null(strstr(e.message, "stage"));
        assert_string_equal(e.where.source, path);
        assert_int_equal(e.where.row, 0); /* the stage's row is within its block */
        assert_int_equal(e.where.field, 1);
    }
    unlink(path);
    free(path);
}

/* Two bad rows far apart: the earlier one's error, whichever finds it. */
static void test_first_error_in_data_order(void **state)
{
    (void)state;
    const char *spec = "sgd_classifier(classes=[\"p\", \"q\"])";
    for (int order = 0; order < 2; order++) {
        spoil s = CLEAN;
        s.label = order ? 2400 : 700;   /* a reader's error: class "r" was not named */
        s.inf_a = order ? 700 : 2400;   /* the learner's: infinity */
        char *path = write_data(s);
        sf_error e;
        fit_fails_alike(path, spec, "y", "a,b", &e);
        if (order == 0) {
            assert_int_equal(e.status, SF_ERR_PARSE);
            assert_non_null(strstr(e.message, "class \"r\""));
            assert_int_equal(e.where.line, 700 + 2); /* the header is line 1 */
        } else {
            assert_int_equal(e.status, SF_ERR_ARG);
            assert_non_null(strstr(e.message, "infinity"));
        }
        unlink(path);
        free(path);
    }
}

/* A merged pass (the scaler: a partial state per segment on every worker):
 * the error of the lowest segment, i.e. the first in data order. */
static void test_merged_pass_error(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        spoil s = CLEAN;
        s.inf_a = order ? 2500 : 900;
        s.inf_b = order ? 900 : 2500;
        char *path = write_data(s);
        sf_error e;
        fit_fails_alike(path, "scaler", NULL, "a,b", &e);
        assert_non_null(strstr(e.message, "infinity"));
        assert_int_equal(e.where.field, order ? 2 : 1);
        unlink(path);
        free(path);
    }
}

/* Reads a CSV's bytes. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    b[len] = '\0';
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Predicts path into a CSV; returns the status and the output's bytes. */
static sf_status predict_to(const sf_pipeline *pl, const char *path, size_t threads, char **bytes, size_t *n,
                            sf_error *err)
{
    sf_source *src = open_src(path);
    char *out = sf_test_write_tmp("", 0, ".csv");
    sf_sink *sink = NULL;
    assert_int_equal(sf_sink_open(&sink, out, NULL, err), SF_OK);
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.threads = threads;
    sf_status st = sf_pipeline_predict(pl, src, sink, &po, NULL, err);
    sf_error e2;
    assert_int_equal(sf_sink_close(sink, &e2), SF_OK);
    sf_source_close(src);
    *bytes = slurp(out, n);
    unlink(out);
    free(out);
    return st;
}

/* Ordered prediction and scoring stop at the first bad segment, alike for any
 * thread count; the sink then holds exactly the segments before it. */
static void test_predict_and_score_error(void **state)
{
    (void)state;
    char *clean = write_data(CLEAN);
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(try_fit(clean, "linear_regression", NULL, NULL, "x ~ a + b + C(g)", 2, &pl, &err), SF_OK);
    char *full = NULL;
    size_t n_full = 0;
    assert_int_equal(predict_to(pl, clean, 3, &full, &n_full, &err), SF_OK);
    spoil s = CLEAN;
    s.level = 1400;  /* g = "w": a level the formula did not learn */
    s.level2 = 2600;
    char *bad = write_data(s);
    sf_error first, e;
    char *first_out = NULL;
    size_t n_first = 0;
    for (size_t threads = 1; threads <= 3; threads++)
        for (int rep = 0; rep < (threads == 1 ? 1 : REPEAT); rep++) {
            char *got = NULL;
            size_t n = 0;
            sf_error_clear(&e);
            assert_true(SF_IS_ERROR(predict_to(pl, bad, threads, &got, &n, &e)));
            if (!first_out) {
                first = e;
                first_out = got;
                n_first = n;
                continue;
            }
            assert_same_error(&e, &first, true); /* predict reads by segment for any thread count */
            assert_int_equal(n, n_first);
            assert_memory_equal(got, first_out, n);
            free(got);
        }
    assert_int_equal(first.where.line, 1400 + 2);
    /* the rows written: whole segments before row 1400, as a clean run wrote them */
    size_t lines = 0;
    for (size_t i = 0; i < n_first; i++) lines += first_out[i] == '\n';
    assert_true(lines > 1 && lines - 1 <= 1400);
    assert_true(n_first < n_full);
    assert_memory_equal(first_out, full, n_first);
    /* scoring the bad data: the same error, any thread count */
    for (size_t threads = 1; threads <= 3; threads++)
        for (int rep = 0; rep < (threads == 1 ? 1 : REPEAT); rep++) {
            sf_source *src = open_src(bad);
            sf_score sc;
            sf_error_clear(&e);
            assert_true(SF_IS_ERROR(sf_pipeline_score(pl, src, threads, &sc, &e)));
            sf_source_close(src);
            assert_same_error(&e, &first, true);
        }
    free(first_out);
    free(full);
    sf_pipeline_free(pl);
    unlink(clean);
    unlink(bad);
    free(clean);
    free(bad);
}

/* A segment that cannot be opened (a file of a glob removed after the source
 * was opened) fails the prediction: an error, never a hang, for any thread
 * count, with the output of the segments before it written. With workers that
 * wait for their segment's turn (SF_PREDICT_HOLD_BYTES=1 makes every worker
 * ahead wait after each chunk), a failed open must still count as the
 * segment's end, or the workers after it wait for ever. */
static void test_predict_segment_open_fails(void **state)
{
    (void)state;
    char dir[] = "/tmp/sf-threads-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[8][64], glob[64];
    for (int k = 0; k < 8; k++) snprintf(path[k], sizeof path[k], "%s/f%d.csv", dir, k);
    snprintf(glob, sizeof glob, "%s/f*.csv", dir);
    char *data = write_data(CLEAN);
    size_t n_data = 0;
    char *text = slurp(data, &n_data);
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(try_fit(data, "linear_regression", "x", "a,b", NULL, 2, &pl, &err), SF_OK);
    char *want = NULL;
    size_t n_want = 0;
    assert_int_equal(predict_to(pl, data, 1, &want, &n_want, &err), SF_OK);
    setenv("SF_PREDICT_HOLD_BYTES", "1", 1);
    for (size_t threads = 1; threads <= 6; threads++)
        for (int rep = 0; rep < (threads < 3 ? 1 : REPEAT); rep++) {
            for (int k = 0; k < 8; k++) {
                FILE *f = fopen(path[k], "wb");
                assert_non_null(f);
                assert_int_equal(fwrite(text, 1, n_data, f), n_data);
                fclose(f);
            }
            sf_source_options so;
            sf_source_options_init(&so);
            so.chunk_rows = 100;
            sf_source *src = NULL;
            assert_int_equal(sf_source_open(&src, glob, &so, &err), SF_OK);
            size_t n_seg = 0;
            assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
            assert_int_equal(n_seg, 8);
            unlink(path[1]);
            char *out = sf_test_write_tmp("", 0, ".csv");
            sf_sink *sink = NULL;
            assert_int_equal(sf_sink_open(&sink, out, NULL, &err), SF_OK);
            sf_predict_options po;
            sf_predict_options_init(&po);
            po.threads = threads;
            sf_error e;
            sf_error_clear(&e);
            assert_true(SF_IS_ERROR(sf_pipeline_predict(pl, src, sink, &po, NULL, &e)));
            assert_non_null(strstr(e.message, "cannot open"));
            assert_int_equal(sf_sink_close(sink, &err), SF_OK);
            sf_source_close(src);
            size_t n = 0;
            char *got = slurp(out, &n);
            assert_int_equal(n, n_want); /* the first file's rows, as from it alone */
            assert_memory_equal(got, want, n);
            free(got);
            unlink(out);
            free(out);
        }
    unsetenv("SF_PREDICT_HOLD_BYTES");
    for (int k = 0; k < 8; k++) unlink(path[k]);
    rmdir(dir);
    free(want);
    free(text);
    sf_pipeline_free(pl);
    unlink(data);
    free(data);
}

/* ---- progress from the workers ---- */

typedef struct progress_log {
    size_t calls, passes_done;
    uint64_t last_rows;
    unsigned pass;
    size_t stage;
    bool bad_order, bad_done;
} progress_log;

static void on_progress(void *ctx, const sf_progress *p)
{
    progress_log *g = ctx; /* no lock: the library promises one call at a time */
    g->calls++;
    if (p->stage != g->stage || p->pass != g->pass) {
        g->stage = p->stage;
        g->pass = p->pass;
        g->last_rows = 0;
    }
    if (p->rows < g->last_rows) g->bad_order = true;
    g->last_rows = p->rows;
    if (p->done) {
        g->passes_done++;
        if (p->rows != N) g->bad_done = true;
        g->last_rows = 0;
    }
}

static void test_progress(void **state)
{
    (void)state;
    char *path = write_data(CLEAN);
    for (size_t threads = 1; threads <= 3; threads++) {
        sf_source *src = open_src(path);
        sf_pipeline *pl = NULL;
        sf_error err;
        /* a merged pass (the scaler), then two in-order epochs (read-ahead) */
        assert_int_equal(sf_pipeline_new(&pl, "scaler | sgd_classifier(max_iter=2, tol=None)", &err), SF_OK);
        progress_log g = {0};
        sf_fit_options fo;
        sf_fit_options_init(&fo);
        fo.threads = threads;
        fo.target = "y";
        fo.columns = "a,b";
        fo.progress = on_progress;
        fo.progress_ctx = &g;
        assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
        assert_false(g.bad_order);
        assert_false(g.bad_done);
        assert_int_equal(g.passes_done, 3);
        assert_true(g.calls >= 3);
        sf_pipeline_free(pl);
        sf_source_close(src);
    }
    unlink(path);
    free(path);
}

/* ---- HDF5: segment readers inflate chunks outside the library's lock ---- */

/* The CSV's rows in a deflated HDF5 file of 150-row chunks: many segments. */
static char *to_hdf5(const char *csv)
{
    char *h5 = sf_test_write_tmp("", 0, ".h5");
    sf_source *src = NULL;
    sf_sink *sink = NULL;
    sf_error err;
    sf_sink_options ko;
    sf_sink_options_init(&ko);
    ko.chunk_rows = 150;
    assert_int_equal(sf_source_open(&src, csv, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_open(&sink, h5, &ko, &err), SF_OK);
    const sf_table *t;
    while (sf_source_next(src, &t, &err) == SF_OK) assert_int_equal(sf_sink_write_table(sink, t, &err), SF_OK);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);
    sf_source_close(src);
    return h5;
}

/* Fits spec on path ("f.h5:/" or a CSV) with small segments; returns the
 * decision/prediction of the first rows of X. */
static void fit_predict(const char *path, const char *spec, size_t threads, const char *cache, double *out)
{
    sf_source *src = open_src(path);
    sf_error err;
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = "x";
    fo.columns = "a,b";
    fo.cache = cache;
    sf_status st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(st, SF_OK);
    const double x[6] = {0.5, -1, 1.5, 0.25, -2, 2};
    assert_int_equal(sf_pipeline_predict_as(pl, SF_OUTPUT_PREDICT, x, 3, 2, 2, out, 1, &err), SF_OK);
    sf_pipeline_free(pl);
    sf_source_close(src);
}

/* A merged pass (the scaler) and in-order epochs with read-ahead (SGD) over a
 * deflated HDF5 file, also from a cache: the same model as from the CSV, for
 * 1, 2 and 3 threads; ordered prediction from it writes what the CSV's does. */
static void test_hdf5_threads(void **state)
{
    (void)state;
    char *csv = write_data(CLEAN);
    char *h5 = to_hdf5(csv);
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/", h5);
    const char *model = "scaler | sgd_regressor(max_iter=3, tol=None, shuffle=true, random_state=2)";
    double want[3], got[3];
    /* the scaler merges per-segment moments and shuffle visits segments: the
     * model depends on the segmentation (by bytes for the CSV, by chunks for
     * HDF5), never on the thread count */
    fit_predict(spec, model, 1, NULL, want);
    char *cache = sf_test_write_tmp("", 0, ".h5");
    for (size_t threads = 1; threads <= 3; threads++)
        for (int c = 0; c < 2; c++) {
            if (threads == 1 && !c) continue;
            fit_predict(spec, model, threads, c ? cache : NULL, got);
            for (size_t i = 0; i < 3; i++) assert_double_bits(got[i], want[i]);
        }
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(try_fit(csv, "scaler | sgd_regressor", "x", "a,b", NULL, 2, &pl, &err), SF_OK);
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(predict_to(pl, csv, 3, &a, &na, &err), SF_OK);
    for (size_t threads = 1; threads <= 3; threads++) {
        assert_int_equal(predict_to(pl, spec, threads, &b, &nb, &err), SF_OK);
        assert_int_equal(nb, na);
        assert_memory_equal(a, b, na);
        free(b);
    }
    free(a);
    sf_pipeline_free(pl);
    unlink(cache);
    unlink(h5);
    unlink(csv);
    free(cache);
    free(h5);
    free(csv);
}

/* ---- read-ahead's memory: bounded by the workers, not by the segments ---- */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    long kib = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

typedef struct stall { long rss; bool stalled; } stall;

/* The learner's first report: it stops for a while, the readers do not. */
static void stall_learner(void *ctx, const sf_loss_report *r)
{
    (void)r;
    stall *s = ctx;
    if (s->stalled) return;
    s->stalled = true;
    struct timespec t = {.tv_sec = 0, .tv_nsec = 600 * 1000 * 1000};
    nanosleep(&t, NULL);
    s->rss = rss_kib();
}

/* 200 one-block segments (a glob of small files, or HDF5 segments of one
 * chunk) and a learner that stalls on its first block: readers that may run
 * ahead by whole segments would copy all of them (12.8 MB) into their queues
 * while it waits; they may run only a few segments ahead. */
static void test_read_ahead_memory(void **state)
{
    (void)state;
    enum { ROWS = 200000, COLS = 8 };
    double *x = malloc((size_t)ROWS * COLS * sizeof *x), *y = malloc(ROWS * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (size_t i = 0; i < ROWS; i++) {
        for (size_t j = 0; j < COLS; j++) x[i * COLS + j] = (double)((i * 7 + j * 13) % 101) / 50.0 - 1;
        y[i] = x[i * COLS] - x[i * COLS + 1];
    }
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 1000;
    so.segment_rows = 1000;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&src, x, ROWS, COLS, COLS, y, NULL, NULL, &so, &err), SF_OK);
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "sgd_regressor(max_iter=1, tol=None)", &err), SF_OK);
    stall s = {0};
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = 3;
    fo.target = "y";
    fo.loss = stall_learner;
    fo.loss_ctx = &s;
    long before = rss_kib();
    assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
    assert_true(s.stalled);
    assert_true(before > 0 && s.rss > 0);
    /* 3 workers x 2 queued blocks of 64 KiB, their own blocks, the threads:
     * well under the 12.8 MB of the data */
    if (getenv("SF_TEST_VERBOSE") || s.rss - before >= 6 * 1024) print_error("read-ahead held %ld KiB\n", s.rss - before);
    assert_true(s.rss - before < 6 * 1024);
    sf_pipeline_free(pl);
    sf_source_close(src);
    free(x);
    free(y);
}

/* ---- a borrowed pool stays with the model that borrowed it ---- */

/* A copy made while the model holds a pool keeps learning after that pool is
 * freed (ASan: a use after free when the copy inherited the pointer), and gives
 * the bitwise same model as the original continued on the calling thread. */
static void test_copy_leaves_pool(void **state)
{
    (void)state;
    enum { R = 700, C = 3 }; /* > 256 rows: k-means' distances go to the pool */
    static double x[R * C], y[R];
    unsigned r = 99;
    for (size_t i = 0; i < R; i++) {
        for (size_t j = 0; j < C; j++) {
            r = r * 1103515245u + 12345u;
            x[i * C + j] = (double)(r >> 8) / 16777216.0 + (double)(i % 3);
        }
        y[i] = (double)(i % 3);
    }
    sf_error err;
    sf_pool *pool = NULL;
    assert_int_equal(sf_pool_new(&pool, 3, &err), SF_OK);
    sf_kmeans_params kp;
    sf_kmeans_params_default(&kp);
    kp.n_clusters = 3;
    kp.random_state = 5;
    sf_kmeans *km = NULL, *kcopy = NULL;
    assert_int_equal(sf_kmeans_new(&km, &kp, &err), SF_OK);
    sf_kmeans_set_pool(km, pool);
    assert_int_equal(sf_kmeans_partial_fit(km, x, R, C, C, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_copy(km, &kcopy, &err), SF_OK);
    sf_sgd_params sp;
    sf_sgd_params_default(&sp, SF_SGD_CLASSIFIER);
    sf_sgd *sgd = NULL, *scopy = NULL;
    assert_int_equal(sf_sgd_new(&sgd, &sp, &err), SF_OK);
    const double classes[3] = {0, 1, 2}; /* one-vs-all: three vectors on the pool */
    assert_int_equal(sf_sgd_set_classes(sgd, classes, 3, &err), SF_OK);
    sf_sgd_set_pool(sgd, pool);
    assert_int_equal(sf_sgd_partial_fit(sgd, x, R, C, C, y, NULL, &err), SF_OK);
    assert_int_equal(sf_sgd_clone(sgd, &scopy, &err), SF_OK);
    sf_kmeans_set_pool(km, NULL);
    sf_sgd_set_pool(sgd, NULL);
    sf_pool_free(pool);
    assert_int_equal(sf_kmeans_partial_fit(kcopy, x, R, C, C, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_partial_fit(km, x, R, C, C, NULL, &err), SF_OK);
    for (size_t i = 0; i < 3 * C; i++)
        assert_double_bits(sf_kmeans_cluster_centers(kcopy)[i], sf_kmeans_cluster_centers(km)[i]);
    assert_int_equal(sf_sgd_partial_fit(scopy, x, R, C, C, y, NULL, &err), SF_OK);
    assert_int_equal(sf_sgd_partial_fit(sgd, x, R, C, C, y, NULL, &err), SF_OK);
    double d1[3], d2[3];
    assert_int_equal(sf_sgd_decision_function(scopy, x, 1, C, C, d1, 3, &err), SF_OK);
    assert_int_equal(sf_sgd_decision_function(sgd, x, 1, C, C, d2, 3, &err), SF_OK);
    for (size_t i = 0; i < 3; i++) assert_double_bits(d1[i], d2[i]);
    sf_kmeans_free(km);
    sf_kmeans_free(kcopy);
    sf_sgd_free(sgd);
    sf_sgd_free(scopy);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learner_error),      cmocka_unit_test(test_first_error_in_data_order),
        cmocka_unit_test(test_merged_pass_error),  cmocka_unit_test(test_predict_and_score_error),
        cmocka_unit_test(test_predict_segment_open_fails),
        cmocka_unit_test(test_progress),          cmocka_unit_test(test_copy_leaves_pool),
        cmocka_unit_test(test_hdf5_threads),       cmocka_unit_test(test_read_ahead_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
