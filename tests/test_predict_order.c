/* test_predict_order.c — sf_pipeline_predict over a source of many segments on 4
 * threads writes its rows in input order with bounded buffering (pipeline/predict.c:
 * the worker due streams, workers ahead hold at most SF_PREDICT_HOLD_BYTES and then
 * wait their turn). A scaler's output on a 3-column CSV of 20000 rows in 4 KiB
 * segments, 37-row chunks, written as CSV (shortest round trip) and read back: every
 * row equals sf_pipeline_transform of the same input row, bitwise, with the hold at
 * 1 byte (every worker ahead waits after each chunk) and at its default. A parse
 * error in a middle segment while others wait fails the call with that error
 * (no hang). */
#include "sf_test.h"

#include <unistd.h>

#define NROWS 20000

static double cell(size_t i, size_t j)
{
    return (double)((i * 7919 + j * 104729) % 100003) / 997.0 - 50.0 + (double)j;
}

static char *write_csv(size_t bad_row)
{
    char *path = strdup("/tmp/sf_porderXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "a,b,c\n");
    for (size_t i = 0; i < NROWS; i++) {
        if (i == bad_row) fprintf(f, "%.17g,oops,%.17g\n", cell(i, 0), cell(i, 2));
        else fprintf(f, "%.17g,%.17g,%.17g\n", cell(i, 0), cell(i, 1), cell(i, 2));
    }
    fclose(f);
    return path;
}

static sf_source *open_csv(const char *path)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_bytes = 4096;
    o.chunk_rows = 37;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, &o, &err), SF_OK);
    return src;
}

static sf_status predict_to(const sf_pipeline *pl, const char *in, const char *out, sf_error *err)
{
    sf_source *src = open_csv(in);
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

static void test_in_order(void **state)
{
    (void)state;
    sf_error err;
    char *in = write_csv((size_t)-1);
    size_t n_seg = 0;
    sf_source *src = open_csv(in);
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
        sf_source *back = NULL;
        assert_int_equal(sf_source_open(&back, out, NULL, &err), SF_OK);
        const sf_table *t;
        sf_status st;
        size_t row = 0;
        while ((st = sf_source_next(back, &t, &err)) == SF_OK) {
            assert_int_equal(t->n_cols, 3);
            for (size_t i = 0; i < t->n_rows; i++, row++) {
                double x[3] = {cell(row, 0), cell(row, 1), cell(row, 2)}, want[3];
                assert_int_equal(sf_pipeline_transform(pl, x, 1, 3, 3, want, 3, &err), SF_OK);
                for (size_t j = 0; j < 3; j++) assert_double_bits(t->cols[j].values[i], want[j]);
            }
        }
        assert_int_equal(st, SF_END);
        assert_int_equal(row, NROWS);
        sf_source_close(back);
    }
    /* a bad cell in a middle segment: its error, while the workers ahead wait */
    setenv("SF_PREDICT_HOLD_BYTES", "1", 1);
    char *bad = write_csv(NROWS / 2);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
