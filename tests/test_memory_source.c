/* test_memory_source.c — the memory source (sf_source_from_memory, Decision 12).
 *
 * What is compared, all exactly (bit for bit, tolerance 0):
 *   - chunk invariance: every chunk size yields the caller's numbers in order (read
 *     through a stride ld > p), NaN as missing, first_row counting rows;
 *   - segment union: the segments' rows, concatenated in order, are the whole
 *     source's, each segment numbering its rows from 1;
 *   - rewind: a second pass equals the first;
 *   - bad arguments fail with SF_ERR_ARG naming the problem, *out NULL;
 *   - a "scaler" pipeline fitted from memory equals (JSON text of shortest
 *     round-trip numbers, and transform output bits) the same pipeline fitted from
 *     a CSV file of the same numbers printed by sf_format_double, with a target,
 *     weights and NaN rows (dropped on both sides); and a fit from memory over
 *     several segments is bitwise the same for 1, 2 and 3 threads.
 * The arrays are allocated to their last element ((n-1)*ld + p), so ASan catches
 * any read past them.
 */
#include "sf_test.h"

#include <unistd.h>

enum { N = 1000, P = 4, LD = 6 };

/* x (N x P, stride LD, allocated to its last element), y and w with a NaN in
 * some rows, a whole-number column (col 1) and a large-mean column (col 3). */
typedef struct data {
    double *x, *y, *w;
} data;

static data make_data(unsigned seed, bool nan_rows)
{
    data d;
    d.x = malloc(((N - 1) * LD + P) * sizeof *d.x);
    d.y = malloc(N * sizeof *d.y);
    d.w = malloc(N * sizeof *d.w);
    unsigned s = seed;
    for (size_t i = 0; i < N; i++) {
        double *row = d.x + i * LD;
        for (size_t j = 0; j < P; j++) {
            s = s * 1103515245u + 12345u;
            double u = (double)(s >> 8) / 16777216.0;
            row[j] = j == 1 ? (double)(s % 50) : j == 3 ? 1e9 + u : u * 6 - 3;
        }
        if (i + 1 < N) row[P] = row[P + 1] = -777; /* padding between rows */
        if (nan_rows && i % 17 == 4) row[2] = NAN;
        d.y[i] = (double)(i % 3);
        d.w[i] = 0.5 + (double)(i % 4);
    }
    return d;
}

static void free_data(data *d)
{
    free(d->x);
    free(d->y);
    free(d->w);
}

static sf_source *open_mem(const data *d, size_t chunk, uint64_t seg_rows, bool y, bool w)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk;
    o.segment_rows = seg_rows;
    static const char *const names[] = {"a", "b", "c", "d", "target", "wt"};
    const char *nm[6] = {"a", "b", "c", "d", NULL, NULL};
    size_t k = P;
    if (y) nm[k++] = names[4];
    if (w) nm[k++] = names[5];
    sf_source *s = NULL;
    sf_error err;
    sf_status st = sf_source_from_memory(&s, d->x, N, P, LD, y ? d->y : NULL, w ? d->w : NULL, nm, &o, &err);
    if (st != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(st, SF_OK);
    return s;
}

/* Reads s to its end, checking every value against the arrays from row `first` on. */
static size_t check_rows(sf_source *s, const data *d, size_t first, size_t chunk)
{
    const sf_table *t;
    sf_error err;
    sf_status st;
    size_t row = first, in_seg = 1;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        assert_true(t->n_rows >= 1 && t->n_rows <= chunk);
        assert_int_equal(t->first_row, in_seg);
        assert_int_equal(t->n_cols, P + 2);
        for (size_t i = 0; i < t->n_rows; i++, row++) {
            for (size_t j = 0; j < P; j++) {
                double want = d->x[row * LD + j];
                assert_int_equal(t->cols[j].missing[i], isnan(want));
                if (!isnan(want)) assert_double_bits(t->cols[j].values[i], want);
            }
            assert_double_bits(t->cols[P].values[i], d->y[row]);
            assert_double_bits(t->cols[P + 1].values[i], d->w[row]);
        }
        in_seg += t->n_rows;
    }
    assert_int_equal(st, SF_END);
    return row - first;
}

static void test_chunk_invariance(void **state)
{
    (void)state;
    data d = make_data(3, true);
    static const size_t chunks[] = {1, 7, 999, 1000, 50000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        sf_source *s = open_mem(&d, chunks[c], 0, true, true);
        assert_int_equal(sf_source_n_columns(s), P + 2);
        assert_string_equal(sf_source_column_name(s, 4), "target");
        assert_int_equal(sf_source_column_index(s, "wt"), 5);
        assert_string_equal(sf_source_name(s), "<memory>");
        assert_int_equal(sf_source_size(s), (uint64_t)N * (P + 2) * 8);
        /* b holds whole numbers, c has NaN (so float, as pandas), d is large */
        assert_false(sf_source_column_is_integer(s, 0));
        assert_true(sf_source_column_is_integer(s, 1));
        assert_false(sf_source_column_is_integer(s, 2));
        assert_true(sf_source_column_is_integer(s, 4));
        assert_int_equal(sf_source_column_type(s, 3), SF_COL_FLOAT);
        assert_int_equal(check_rows(s, &d, 0, chunks[c]), N);
        assert_int_equal(sf_source_bytes_read(s), (uint64_t)N * (P + 2) * 8);
        sf_source_close(s);
    }
    free_data(&d);
}

static void test_segment_union(void **state)
{
    (void)state;
    data d = make_data(5, true);
    static const uint64_t segs[] = {1, 13, 250, 999, 1000, 1u << 20, UINT64_MAX};
    for (size_t g = 0; g < sizeof segs / sizeof segs[0]; g++) {
        sf_source *s = open_mem(&d, 40, segs[g], true, true);
        size_t n = 0;
        sf_error err;
        assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
        assert_int_equal(n, N / segs[g] + (N % segs[g] != 0));
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
            sf_source *seg = NULL;
            assert_int_equal(sf_source_open_segment(s, i, &seg, &err), SF_OK);
            assert_int_equal(sf_source_n_columns(seg), P + 2);
            assert_true(sf_source_column_is_integer(seg, 1));
            const sf_table *t;
            /* every chunk says which segment it came from */
            if (sf_source_next(seg, &t, &err) == SF_OK) assert_int_equal(t->segment, i);
            assert_int_equal(sf_source_rewind(seg, &err), SF_OK);
            rows += check_rows(seg, &d, rows, 40);
            sf_source_close(seg);
        }
        assert_int_equal(rows, N);
        sf_source *seg = (sf_source *)1;
        assert_int_equal(sf_source_open_segment(s, n, &seg, &err), SF_ERR_ARG);
        assert_null(seg);
        /* the whole source is untouched by its segments */
        assert_int_equal(check_rows(s, &d, 0, 40), N);
        sf_source_close(s);
    }
    free_data(&d);
}

static void test_rewind(void **state)
{
    (void)state;
    data d = make_data(9, false);
    sf_source *s = open_mem(&d, 64, 0, true, true);
    const sf_table *t;
    sf_error err;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->first_row, 65);
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(sf_source_bytes_read(s), 0);
    assert_int_equal(check_rows(s, &d, 0, 64), N);
    assert_int_equal(sf_source_next(s, &t, &err), SF_END);
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(check_rows(s, &d, 0, 64), N);
    sf_source_close(s);
    free_data(&d);
}

static void test_defaults_and_types(void **state)
{
    (void)state;
    double x[6] = {1, 2.5, 3, NAN, 1, 2.5};
    double y[3] = {0, 1, 0};
    sf_source *s = NULL;
    sf_error err;
    /* default names; no rows is an empty source with one empty segment */
    assert_int_equal(sf_source_from_memory(&s, x, 3, 2, 2, y, y, NULL, NULL, &err), SF_OK);
    assert_string_equal(sf_source_column_name(s, 0), "x0");
    assert_string_equal(sf_source_column_name(s, 1), "x1");
    assert_string_equal(sf_source_column_name(s, 2), "y");
    assert_string_equal(sf_source_column_name(s, 3), "weight");
    sf_source_close(s);
    assert_int_equal(sf_source_from_memory(&s, NULL, 0, 2, 2, NULL, NULL, NULL, NULL, &err), SF_OK);
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_int_equal(n, 1);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_END);
    sf_source *seg = NULL;
    assert_int_equal(sf_source_open_segment(s, 0, &seg, &err), SF_OK);
    assert_int_equal(sf_source_next(seg, &t, &err), SF_END);
    sf_source_close(seg);
    sf_source_close(s);
    /* a column typed category: labels are the numbers' shortest texts */
    sf_source_options o;
    sf_source_options_init(&o);
    o.types = "x1=category";
    assert_int_equal(sf_source_from_memory(&s, x, 3, 2, 2, NULL, NULL, NULL, &o, &err), SF_OK);
    assert_int_equal(sf_source_column_type(s, 1), SF_COL_CATEGORY);
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->cols[1].codes[0], 0);
    assert_int_equal(t->cols[1].codes[1], -1);
    assert_int_equal(t->cols[1].codes[2], 0);
    assert_string_equal(sf_dict_label(t->cols[1].dict, 0, NULL), "2.5");
    assert_true(t->cols[0].missing[0] == 0 && t->cols[0].is_integer);
    sf_source_close(s);
    o.types = "x1=category";
    o.max_levels = 1;
    double two[4] = {1, 2, 1, 3};
    assert_int_equal(sf_source_from_memory(&s, two, 2, 2, 2, NULL, NULL, NULL, &o, &err), SF_OK);
    assert_int_equal(sf_source_next(s, &t, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "x1");
    assert_int_equal(err.where.row, 2);
    sf_source_close(s);
}

static void expect_bad(sf_status want, const char *msg, const double *x, size_t n, size_t p,
                       size_t ld, const double *y, const double *w, const char *const *names,
                       const sf_source_options *o)
{
    sf_source *s = (sf_source *)1;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&s, x, n, p, ld, y, w, names, o, &err), want);
    assert_null(s);
    if (strcmp(err.message, msg) != 0) print_error("got \"%s\"\n", err.message);
    assert_string_equal(err.message, msg);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    double x[8] = {0};
    sf_error err;
    assert_int_equal(sf_source_from_memory(NULL, x, 2, 2, 2, NULL, NULL, NULL, NULL, &err), SF_ERR_ARG);
    expect_bad(SF_ERR_ARG, "no columns: p is 0 and no y or w", x, 2, 0, 0, NULL, NULL, NULL, NULL);
    expect_bad(SF_ERR_ARG, "ld (1) is smaller than p (2)", x, 2, 2, 1, NULL, NULL, NULL, NULL);
    expect_bad(SF_ERR_ARG, "x is NULL with 2 rows", NULL, 2, 2, 2, NULL, NULL, NULL, NULL);
    expect_bad(SF_ERR_ARG, "n x ld overflows the address space", x, SIZE_MAX / 4, 2, 2, NULL, NULL,
               NULL, NULL);
    const char *const dup[] = {"a", "b", "a"};
    expect_bad(SF_ERR_ARG, "column name \"a\" given twice", x, 2, 2, 2, x, NULL, dup, NULL);
    const char *const hole[] = {"a", NULL};
    expect_bad(SF_ERR_ARG, "names[1] is NULL", x, 2, 2, 2, NULL, NULL, hole, NULL);
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 0;
    expect_bad(SF_ERR_ARG, "chunk_rows must be positive", x, 2, 2, 2, NULL, NULL, NULL, &o);
    sf_source_options_init(&o);
    o.types = "x9=float";
    expect_bad(SF_ERR_ARG, "--types names an unknown column \"x9\"", x, 2, 2, 2, NULL, NULL, NULL, &o);
    /* y alone is a valid one-column source */
    sf_source *s = NULL;
    assert_int_equal(sf_source_from_memory(&s, NULL, 4, 0, 0, x, NULL, NULL, NULL, &err), SF_OK);
    assert_int_equal(sf_source_n_columns(s), 1);
    assert_string_equal(sf_source_column_name(s, 0), "y");
    sf_source_close(s);
}

/* ---- fitting from memory equals fitting from a CSV of the same numbers ---- */

static void put_number(FILE *f, double v)
{
    char buf[40];
    if (!isnan(v)) {
        sf_format_double(v, buf, sizeof buf);
        fputs(buf, f);
    }
}

static char *write_csv(const data *d)
{
    char *path = sf_test_write_tmp("", 0, ".csv");
    FILE *f = fopen(path, "w");
    fputs("a,b,c,d,target,wt\n", f);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++) {
            put_number(f, d->x[i * LD + j]);
            fputc(',', f);
        }
        put_number(f, d->y[i]);
        fputc(',', f);
        put_number(f, d->w[i]);
        fputc('\n', f);
    }
    fclose(f);
    return path;
}

static sf_pipeline *fit(sf_source *src, const char *spec, size_t threads, const char *weight)
{
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = "target";
    fo.weight = weight;
    fo.columns = "a,b,c,d";
    sf_status st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(st, SF_OK);
    return pl;
}

static void assert_same_fit(const sf_pipeline *a, const sf_pipeline *b, const data *d)
{
    char *ja, *jb;
    sf_error err;
    assert_int_equal(sf_pipeline_to_json(a, &ja, &err), SF_OK);
    assert_int_equal(sf_pipeline_to_json(b, &jb, &err), SF_OK);
    assert_string_equal(ja, jb); /* shortest round-trip numbers: equal text, equal bits */
    free(ja);
    free(jb);
    static double ya[N * P], yb[N * P];
    assert_int_equal(sf_pipeline_transform(a, d->x, N, P, LD, ya, P, &err), SF_OK);
    assert_int_equal(sf_pipeline_transform(b, d->x, N, P, LD, yb, P, &err), SF_OK);
    assert_memory_equal(ya, yb, sizeof ya);
}

static void test_fit_equals_csv(void **state)
{
    (void)state;
    data d = make_data(11, true);
    char *csv = write_csv(&d);
    static const char *const specs[] = {"scaler", "scaler(with_mean=false) | scaler"};
    for (size_t k = 0; k < 2; k++) {
        for (int weighted = 0; weighted < 2; weighted++) {
            const char *wcol = weighted ? "wt" : NULL;
            /* one segment on both sides, same chunks: the same partial_fit calls */
            sf_source_options o;
            sf_source_options_init(&o);
            o.chunk_rows = 77;
            o.segment_bytes = 1u << 30;
            sf_source *file = NULL, *mem = open_mem(&d, 77, 1u << 20, true, true);
            sf_error err;
            assert_int_equal(sf_source_open(&file, csv, &o, &err), SF_OK);
            sf_pipeline *a = fit(file, specs[k], 2, wcol), *b = fit(mem, specs[k], 2, wcol);
            size_t dropped = 0;
            for (size_t i = 0; i < N; i++) dropped += i % 17 == 4;
            assert_int_equal(sf_pipeline_rows_dropped(b), dropped);
            assert_int_equal(sf_pipeline_rows_seen(b), N);
            assert_same_fit(a, b, &d);
            sf_pipeline_free(a);
            sf_pipeline_free(b);
            sf_source_close(file);
            sf_source_close(mem);
        }
    }
    unlink(csv);
    free(csv);
    free_data(&d);
}

static void test_fit_threads_bitwise(void **state)
{
    (void)state;
    data d = make_data(13, true);
    sf_pipeline *pl[3];
    for (size_t t = 0; t < 3; t++) {
        sf_source *mem = open_mem(&d, 29, 97, true, true); /* 11 segments */
        pl[t] = fit(mem, "scaler | scaler(with_mean=false)", t + 1, "wt");
        sf_source_close(mem);
    }
    assert_same_fit(pl[0], pl[1], &d);
    assert_same_fit(pl[0], pl[2], &d);
    /* the segmented fit is the per-segment scalers merged in order: check it
     * against sf_scaler driven by hand over the same row ranges */
    sf_scaler *merged = NULL;
    sf_error err;
    assert_int_equal(sf_scaler_new(&merged, NULL, &err), SF_OK);
    double *rows = malloc(29 * P * sizeof *rows), *w = malloc(29 * sizeof *w);
    for (size_t s = 0; s * 97 < N; s++) {
        sf_scaler *part = NULL;
        assert_int_equal(sf_scaler_new(&part, NULL, &err), SF_OK);
        size_t end = (s + 1) * 97 < N ? (s + 1) * 97 : N;
        for (size_t c = s * 97; c < end; c += 29) {
            size_t k = 0;
            for (size_t i = c; i < end && i < c + 29; i++) {
                if (isnan(d.x[i * LD + 2])) continue;
                memcpy(rows + k * P, d.x + i * LD, P * sizeof *rows);
                w[k++] = d.w[i];
            }
            if (k) assert_int_equal(sf_scaler_partial_fit(part, rows, k, P, P, w, &err), SF_OK);
        }
        assert_int_equal(sf_scaler_merge(merged, part, &err), SF_OK);
        sf_scaler_free(part);
    }
    double x[P] = {0.25, 7, -1, 1e9 + 0.5}, got[P], want[P];
    assert_int_equal(sf_scaler_transform(merged, x, 1, P, P, want, P, &err), SF_OK);
    /* the pipeline's second stage rescales: compare its first stage alone */
    sf_pipeline *one = NULL;
    sf_source *mem = open_mem(&d, 29, 97, true, true);
    one = fit(mem, "scaler", 3, "wt");
    assert_int_equal(sf_pipeline_transform(one, x, 1, P, P, got, P, &err), SF_OK);
    for (size_t j = 0; j < P; j++) assert_double_bits(got[j], want[j]);
    sf_pipeline_free(one);
    sf_source_close(mem);
    sf_scaler_free(merged);
    free(rows);
    free(w);
    for (size_t t = 0; t < 3; t++) sf_pipeline_free(pl[t]);
    free_data(&d);
}

int main(void)
{
    sf_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_invariance),
        cmocka_unit_test(test_segment_union),
        cmocka_unit_test(test_rewind),
        cmocka_unit_test(test_defaults_and_types),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_fit_equals_csv),
        cmocka_unit_test(test_fit_threads_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
