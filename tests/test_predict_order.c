/* test_predict_order.c — sf_pipeline_predict over a source of many segments on 4
 * threads writes its rows in input order with bounded buffering (pipeline/predict.c:
 * the worker due streams, workers ahead hold at most SF_PREDICT_HOLD_BYTES and then
 * wait their turn). A scaler's output on a 3-column CSV of 20000 rows in 4 KiB
 * segments, 37-row chunks, written as CSV (shortest round trip) and read back: every
 * row equals sf_pipeline_transform of the same input row, bitwise, with the hold at
 * 1 byte (every worker ahead waits after each chunk) and at its default. A parse
 * error in a middle segment while others wait fails the call with that error
 * (no hang).
 *
 * Chunks split into slices and pieces (SF_PREDICT_PIECE_BYTES: 3 to 4 rows a piece
 * and a slice, so each 37-row chunk is predicted in ~10 slices and written in ~10
 * pieces): a CSV whose every 53rd row misses "b" and every 97th is malformed
 * (skipped: SF_ON_ERROR_SKIP), predicted on 4 threads, hold 1 byte and default.
 * The scaler's rows: each equals sf_pipeline_transform of its input row, bitwise,
 * and the rows without a prediction are exactly the missing and malformed ones
 * (empty fields), counted apart in the stats. A formula pipeline (scaler over the
 * design of "c ~ a + b + a:b", whose design builds the rows itself): the output
 * read back equals, bitwise, the one written on 1 thread in whole chunks (default
 * pieces), with the same counts. */
#include "sf_test.h"
#include "sf_rows.h"

#include <unistd.h>

#define NROWS 20000

static double cell(size_t i, size_t j)
{
    return (double)((i * 7919 + j * 104729) % 100003) / 997.0 - 50.0 + (double)j;
}

/* Row i of the gappy CSV: "b" missing, malformed (two fields), or whole. */
static bool gap_missing(size_t i) { return i % 53 == 5; }
static bool gap_malformed(size_t i) { return i % 97 == 11; }

/* NROWS rows; row bad_row holds "oops"; gappy: the gaps above. */
static char *write_csv(size_t bad_row, bool gappy)
{
    char *path = strdup("/tmp/sf_porderXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "a,b,c\n");
    for (size_t i = 0; i < NROWS; i++) {
        if (i == bad_row) fprintf(f, "%.17g,oops,%.17g\n", cell(i, 0), cell(i, 2));
        else if (gappy && gap_malformed(i)) fprintf(f, "%.17g,%.17g\n", cell(i, 0), cell(i, 1));
        else if (gappy && gap_missing(i)) fprintf(f, "%.17g,,%.17g\n", cell(i, 0), cell(i, 2));
        else fprintf(f, "%.17g,%.17g,%.17g\n", cell(i, 0), cell(i, 1), cell(i, 2));
    }
    fclose(f);
    return path;
}

/* skip: malformed rows skipped, every column a number */
static sf_source *open_csv(const char *path, bool skip)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_bytes = 4096;
    o.chunk_rows = 37;
    if (skip) {
        o.on_error = SF_ON_ERROR_SKIP;
        o.types = "a=float,b=float,c=float";
    }
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, &o, &err), SF_OK);
    return src;
}

static sf_status predict_to(const sf_pipeline *pl, const char *in, const char *out, sf_error *err)
{
    sf_source *src = open_csv(in, false);
    sf_sink *sink = NULL;
    assert_int_equal(sf_sink_open(&sink, out, NULL, err), SF_OK);
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.threads = 4;
    sf_status st = sf_pipeline_predict(pl, src, sink, &po, NULL, err);
    if (st == SF_OK) assert_int_equal(sf_sink_close(sink, err), SF_OK);
    else sf_sink_abort(sink);
    sf_source_close(src);
    return st;
}

/* Reads the scaler's output back: every row is sf_pipeline_transform of its input
 * row, bitwise; gappy: the rows missing "b" and the malformed ones have every field
 * missing. */
static void check_scaled(const sf_pipeline *pl, const char *out, bool gappy)
{
    sf_error err;
    sf_source *back = NULL;
    assert_int_equal(sf_source_open(&back, out, NULL, &err), SF_OK);
    const sf_table *t;
    sf_status st;
    size_t row = 0;
    while ((st = sf_source_next(back, &t, &err)) == SF_OK) {
        assert_int_equal(t->n_cols, 3);
        for (size_t i = 0; i < t->n_rows; i++, row++) {
            bool none = gappy && (gap_missing(row) || gap_malformed(row));
            double x[3] = {cell(row, 0), cell(row, 1), cell(row, 2)}, want[3];
            if (!none) assert_int_equal(sf_pipeline_transform(pl, x, 1, 3, 3, want, 3, &err), SF_OK);
            for (size_t j = 0; j < 3; j++) {
                if (none) assert_true(t->cols[j].missing[i]);
                else assert_double_bits(t->cols[j].values[i], want[j]);
            }
        }
    }
    assert_int_equal(st, SF_END);
    assert_int_equal(row, NROWS);
    sf_source_close(back);
}

static void test_in_order(void **state)
{
    (void)state;
    sf_error err;
    char *in = write_csv((size_t)-1, false);
    size_t n_seg = 0;
    sf_source *src = open_csv(in, false);
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    assert_true(n_seg > 50);
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "scaler", &err), SF_OK);
    assert_int_equal(sf_pipeline_fit(pl, src, NULL, &err), SF_OK);
    sf_source_close(src);
    char out[64];
    snprintf(out, sizeof out, "%s.out.csv", in);
    const char *holds[] = {"1", NULL};
    for (size_t h = 0; h < 2; h++) {
        if (holds[h]) setenv("SF_PREDICT_HOLD_BYTES", holds[h], 1);
        else unsetenv("SF_PREDICT_HOLD_BYTES");
        assert_int_equal(predict_to(pl, in, out, &err), SF_OK);
        check_scaled(pl, out, false);
    }
    /* a bad cell in a middle segment: its error, while the workers ahead wait */
    setenv("SF_PREDICT_HOLD_BYTES", "1", 1);
    char *bad = write_csv(NROWS / 2, false);
    assert_int_equal(predict_to(pl, bad, out, &err), SF_ERR_PARSE);
    assert_non_null(strstr(err.message, "oops"));
    printf("# %s (line %llu row %llu)\n", err.message, (unsigned long long)err.where.line, (unsigned long long)err.where.row);
    assert_int_equal(err.where.line, NROWS / 2 + 2);
    unsetenv("SF_PREDICT_HOLD_BYTES");
    unlink(out);
    unlink(bad);
    unlink(in);
    free(bad);
    free(in);
    sf_pipeline_free(pl);
}

static void predict_gappy(const sf_pipeline *pl, const char *in, const char *out, size_t threads,
                          sf_predict_stats *stats)
{
    sf_error err;
    sf_source *src = open_csv(in, true);
    sf_sink *sink = NULL;
    assert_int_equal(sf_sink_open(&sink, out, NULL, &err), SF_OK);
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.threads = threads;
    if (sf_pipeline_predict(pl, src, sink, &po, stats, &err) != SF_OK) fail_msg("predict: %s", err.message);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);
    sf_source_close(src);
}

static void test_small_pieces(void **state)
{
    (void)state;
    sf_error err;
    char *in = write_csv((size_t)-1, true);
    size_t n_missing = 0, n_malformed = 0;
    for (size_t i = 0; i < NROWS; i++) {
        n_malformed += gap_malformed(i);
        n_missing += gap_missing(i) && !gap_malformed(i);
    }
    sf_pipeline *pl = NULL, *fpl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "scaler", &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&fpl, "scaler", &err), SF_OK);
    sf_source *src = open_csv(in, true);
    assert_int_equal(sf_pipeline_fit(pl, src, NULL, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.formula = "c ~ a + b + a:b";
    if (sf_pipeline_fit(fpl, src, &fo, &err) != SF_OK) fail_msg("fit: %s", err.message);
    sf_source_close(src);
    char out[64], ref[64];
    snprintf(out, sizeof out, "%s.out.csv", in);
    snprintf(ref, sizeof ref, "%s.ref.csv", in);
    /* the formula pipeline on 1 thread in whole chunks: the reference file */
    sf_predict_stats want = {0}, got;
    predict_gappy(fpl, in, ref, 1, &want);
    assert_int_equal(want.rows, NROWS);
    assert_int_equal(want.malformed, n_malformed);
    rows want_rows = {0};
    sf_source *rsrc = NULL;
    assert_int_equal(sf_source_open(&rsrc, ref, NULL, &err), SF_OK);
    assert_int_equal(read_all(rsrc, &want_rows, &err), SF_END);
    sf_source_close(rsrc);
    setenv("SF_PREDICT_PIECE_BYTES", "100", 1); /* 4 rows of 3 outputs, 3 of 4 */
    const char *holds[] = {"1", NULL};
    for (size_t h = 0; h < 2; h++) {
        if (holds[h]) setenv("SF_PREDICT_HOLD_BYTES", holds[h], 1);
        else unsetenv("SF_PREDICT_HOLD_BYTES");
        memset(&got, 0, sizeof got);
        predict_gappy(pl, in, out, 4, &got);
        assert_int_equal(got.rows, NROWS);
        assert_int_equal(got.unpredictable, n_missing);
        assert_int_equal(got.malformed, n_malformed);
        check_scaled(pl, out, true);
        sf_source *back = NULL;
        /* the formula pipeline in slices and pieces: the reference, bitwise */
        memset(&got, 0, sizeof got);
        predict_gappy(fpl, in, out, 4, &got);
        assert_int_equal(got.rows, want.rows);
        assert_int_equal(got.unpredictable, want.unpredictable);
        assert_int_equal(got.malformed, want.malformed);
        rows got_rows = {0};
        assert_int_equal(sf_source_open(&back, out, NULL, &err), SF_OK);
        assert_int_equal(read_all(back, &got_rows, &err), SF_END);
        sf_source_close(back);
        assert_rows_equal(&got_rows, &want_rows);
        rows_free(&got_rows);
    }
    unsetenv("SF_PREDICT_HOLD_BYTES");
    unsetenv("SF_PREDICT_PIECE_BYTES");
    rows_free(&want_rows);
    unlink(out);
    unlink(ref);
    unlink(in);
    free(in);
    sf_pipeline_free(pl);
    sf_pipeline_free(fpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_small_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
