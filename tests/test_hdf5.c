/* test_hdf5.c — the HDF5 source and sink.
 *
 * Fixtures come from tests/reference/make_hdf5_fixtures.py; every value there is a
 * closed formula of the row and column, recomputed here and compared bit for bit.
 * Every test ends with no HDF5 object left open (H5Fget_obj_count). */
#include "sf_test.h"

#include <hdf5.h>
#include <pthread.h>
#include <unistd.h>
#include <zlib.h>

#ifndef SF_TEST_DATA_DIR
#error "build with -DSF_TEST_DATA_DIR=\"<abs path of tests/data>\""
#endif

/* ---------------------------------------------------------------- helpers */

static const char *spec(const char *file, const char *path)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s%s%s", SF_TEST_DATA_DIR, file, path ? ":" : "",
             path ? path : "");
    return buf[k];
}

static void assert_no_open_handles(void)
{
    assert_int_equal(H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

static sf_source *open_ok(const char *s, size_t chunk_rows, const char *target,
                          uint64_t segment_rows, const char *types)
{
    sf_source_options o;
    sf_source_options_init(&o);
    if (chunk_rows) o.chunk_rows = chunk_rows;
    o.target = target;
    if (segment_rows) o.segment_rows = segment_rows;
    o.types = types;
    sf_source *src = NULL;
    sf_error err;
    sf_error_clear(&err);
    sf_status st = sf_source_open(&src, s, &o, &err);
    if (st != SF_OK) print_error("%s: %s\n", s, err.message);
    assert_int_equal(st, SF_OK);
    assert_non_null(src);
    return src;
}

static void assert_open_fails(const char *s, const char *target, sf_status want,
                              const char *message)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.target = target;
    sf_source *src = (sf_source *)&o; /* must be reset to NULL */
    sf_error err;
    sf_error_clear(&err);
    assert_int_equal(sf_source_open(&src, s, &o, &err), want);
    assert_null(src);
    assert_int_equal(err.status, want);
    if (strcmp(err.message, message) != 0) print_error("message: %s\n", err.message);
    assert_string_equal(err.message, message);
    assert_string_equal(err.where.source, s);
    assert_no_open_handles();
}

/* Everything a source yields, row-major. */
typedef struct collected {
    size_t n_rows, n_cols;
    double *v;     /* float columns; NaN where missing */
    char **lab;    /* category labels; NULL where missing or float */
    uint8_t *miss;
} collected;

static void collect(sf_source *src, collected *c, size_t segment)
{
    memset(c, 0, sizeof *c);
    c->n_cols = sf_source_n_columns(src);
    const sf_table *t;
    sf_error err;
    sf_status st;
    uint64_t expect_first = 1;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK) {
        assert_true(t->n_rows >= 1);
        assert_int_equal(t->n_cols, c->n_cols);
        assert_int_equal(t->first_row, expect_first);
        assert_int_equal(t->segment, segment);
        expect_first += t->n_rows;
        size_t n = c->n_rows + t->n_rows;
        c->v = realloc(c->v, n * c->n_cols * sizeof *c->v);
        c->lab = realloc(c->lab, n * c->n_cols * sizeof *c->lab);
        c->miss = realloc(c->miss, n * c->n_cols);
        for (size_t i = 0; i < t->n_rows; i++) {
            assert_int_equal(t->line[i], 0);
            for (size_t j = 0; j < c->n_cols; j++) {
                const sf_column *col = &t->cols[j];
                size_t at = (c->n_rows + i) * c->n_cols + j;
                c->miss[at] = col->missing[i];
                c->v[at] = NAN;
                c->lab[at] = NULL;
                if (col->type == SF_COL_FLOAT) {
                    c->v[at] = col->values[i];
                    assert_int_equal(col->missing[i], isnan(col->values[i]));
                } else if (col->codes[i] >= 0) {
                    assert_false(col->missing[i]);
                    c->lab[at] = strdup(sf_dict_label(col->dict, (size_t)col->codes[i], NULL));
                } else
                    assert_true(col->missing[i]);
            }
        }
        c->n_rows = n;
    }
    if (st != SF_END) print_error("next: %s\n", err.message);
    assert_int_equal(st, SF_END);
    /* exhausted stays exhausted */
    assert_int_equal(sf_source_next(src, &t, &err), SF_END);
}

static void collected_free(collected *c)
{
    for (size_t k = 0; k < c->n_rows * c->n_cols; k++) free(c->lab[k]);
    free(c->v);
    free(c->lab);
    free(c->miss);
    memset(c, 0, sizeof *c);
}

static void assert_same(const collected *a, const collected *b)
{
    assert_int_equal(a->n_rows, b->n_rows);
    assert_int_equal(a->n_cols, b->n_cols);
    for (size_t k = 0; k < a->n_rows * a->n_cols; k++) {
        assert_double_bits(a->v[k], b->v[k]);
        assert_int_equal(a->miss[k], b->miss[k]);
        if (a->lab[k] || b->lab[k]) {
            assert_non_null(a->lab[k]);
            assert_non_null(b->lab[k]);
            assert_string_equal(a->lab[k], b->lab[k]);
        }
    }
}

static collected read_all(const char *s, size_t chunk_rows, const char *target)
{
    sf_source *src = open_ok(s, chunk_rows, target, 0, NULL);
    collected c;
    collect(src, &c, 0);
    sf_source_close(src);
    return c;
}

static void assert_names(const sf_source *src, const char *const *names, size_t n)
{
    assert_int_equal(sf_source_n_columns(src), n);
    for (size_t j = 0; j < n; j++) assert_string_equal(sf_source_column_name(src, j), names[j]);
}

#define V(c, i, j) ((c).v[(i) * (c).n_cols + (j)])
#define LAB(c, i, j) ((c).lab[(i) * (c).n_cols + (j)])
#define MISS(c, i, j) ((c).miss[(i) * (c).n_cols + (j)])

/* mirrored from make_hdf5_fixtures.py */
static double x_value(size_t i, size_t j) { return (double)(i * 3 + j) * 0.5 - 10.0; }

static void check_xy(const collected *c, bool with_y)
{
    assert_int_equal(c->n_rows, 50);
    assert_int_equal(c->n_cols, with_y ? 4 : 3);
    for (size_t i = 0; i < 50; i++) {
        for (size_t j = 0; j < 3; j++) {
            if (i == 5 && j == 1) {
                assert_true(isnan(V(*c, i, j)));
                assert_true(MISS(*c, i, j));
            } else {
                assert_double_bits(V(*c, i, j), x_value(i, j));
                assert_false(MISS(*c, i, j));
            }
        }
        if (with_y) assert_double_bits(V(*c, i, 3), (double)i * 0.25 + 1.0);
    }
}

/* ------------------------------------------------------------ reading kinds */

static void test_pytables_earray(void **state)
{
    (void)state;
    sf_source *src = open_ok(spec("xy_pytables.h5", "/X"), 0, NULL, 0, NULL);
    static const char *names[] = {"x0", "x1", "x2"};
    assert_names(src, names, 3);
    for (size_t j = 0; j < 3; j++) {
        assert_int_equal(sf_source_column_type(src, j), SF_COL_FLOAT);
        assert_false(sf_source_column_is_integer(src, j));
    }
    assert_string_equal(sf_source_name(src), spec("xy_pytables.h5", "/X"));
    assert_int_equal(sf_source_size(src), 50 * 3 * 8);
    assert_int_equal(sf_source_bytes_read(src), 0);
    collected c;
    collect(src, &c, 0);
    check_xy(&c, false);
    assert_int_equal(sf_source_bytes_read(src), 50 * 3 * 8);
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_target_column(void **state)
{
    (void)state;
    sf_source *src = open_ok(spec("xy_pytables.h5", "/X"), 0, "/y", 0, NULL);
    static const char *names[] = {"x0", "x1", "x2", "y"};
    assert_names(src, names, 4);
    collected c;
    collect(src, &c, 0);
    check_xy(&c, true);
    collected_free(&c);
    sf_source_close(src);
    /* a relative target is taken from the root */
    c = read_all(spec("xy_pytables.h5", "/X"), 0, "y");
    check_xy(&c, true);
    collected_free(&c);
    assert_no_open_handles();
}

static void test_int_matrix(void **state)
{
    (void)state;
    sf_source *src = open_ok(spec("int_matrix.h5", "/M"), 0, NULL, 0, NULL);
    static const char *names[] = {"p", "q", "r", "s"};
    assert_names(src, names, 4);
    for (size_t j = 0; j < 4; j++) assert_true(sf_source_column_is_integer(src, j));
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 20);
    for (size_t i = 0; i < 20; i++)
        for (size_t j = 0; j < 4; j++)
            assert_double_bits(V(c, i, j), ((double)(i * 4 + j) - 40.0) * 100000.0);
    collected_free(&c);
    sf_source_close(src);

    /* float32 with a fixed-length "columns" attribute */
    src = open_ok(spec("int_matrix.h5", "/F"), 4, NULL, 0, NULL);
    static const char *fnames[] = {"left", "right"};
    assert_names(src, fnames, 2);
    assert_false(sf_source_column_is_integer(src, 0));
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 6);
    for (size_t k = 0; k < 12; k++) assert_double_bits(c.v[k], ((double)k - 3.0) / 4.0);
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_vectors(void **state)
{
    (void)state;
    sf_source *src = open_ok(spec("int_matrix.h5", "/v"), 0, NULL, 0, NULL);
    static const char *vn[] = {"v"};
    assert_names(src, vn, 1);
    assert_true(sf_source_column_is_integer(src, 0));
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 20);
    for (size_t i = 0; i < 20; i++) assert_double_bits(c.v[i], (double)(i * 3));
    collected_free(&c);
    sf_source_close(src);

    /* h5py's bool is an int8 enum: no HDF5 conversion to double, read as integers */
    src = open_ok(spec("int_matrix.h5", "/flag"), 3, NULL, 0, NULL);
    static const char *fn[] = {"flag"};
    assert_names(src, fn, 1);
    assert_true(sf_source_column_is_integer(src, 0));
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 20);
    for (size_t i = 0; i < 20; i++) assert_double_bits(c.v[i], i % 3 == 0 ? 1.0 : 0.0);
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

static const char *const RGB[] = {"red", "grn", "blu"};
static const char *const VS[] = {"x", "yy", "\xc3\xa9t\xc3\xa9", "x"};

/* Checks column j of c against the group fixture's column `name`. */
static void check_group_column(const collected *c, size_t j, const char *name)
{
    assert_int_equal(c->n_rows, 12);
    for (size_t i = 0; i < 12; i++) {
        if (strcmp(name, "z") == 0 || strcmp(name, "unlisted") == 0)
            assert_double_bits(V(*c, i, j), (double)i * 1.5 - 4.0);
        else if (strcmp(name, "a") == 0)
            assert_double_bits(V(*c, i, j), (double)(i * 7 % 5));
        else if (strcmp(name, "s") == 0)
            assert_string_equal(LAB(*c, i, j), RGB[i % 3]);
        else
            assert_string_equal(LAB(*c, i, j), VS[i % 4]);
    }
}

static void check_group(const char *path, const char *const *names, size_t n)
{
    sf_source *src = open_ok(spec("columns_group.h5", path), 5, NULL, 0, NULL);
    assert_names(src, names, n);
    for (size_t j = 0; j < n; j++) {
        bool text = strcmp(names[j], "s") == 0 || strcmp(names[j], "v") == 0;
        assert_int_equal(sf_source_column_type(src, j), text ? SF_COL_CATEGORY : SF_COL_FLOAT);
        assert_int_equal(sf_source_column_is_integer(src, j), strcmp(names[j], "a") == 0);
    }
    collected c;
    collect(src, &c, 0);
    for (size_t j = 0; j < n; j++) check_group_column(&c, j, names[j]);
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_group_column_order(void **state)
{
    (void)state;
    static const char *tracked[] = {"z", "a", "s", "v"};   /* link creation order */
    static const char *by_name[] = {"a", "s", "v", "z"};   /* name order */
    static const char *listed[] = {"v", "z", "a"};         /* "columns" attribute */
    check_group("/g", tracked, 4);
    check_group("/h/", by_name, 4);
    check_group("/k", listed, 3);
    /* the target may be a member of the group: read once, as the last column */
    sf_source *src = open_ok(spec("columns_group.h5", "/g"), 0, "/g/z", 0, NULL);
    static const char *moved[] = {"a", "s", "v", "z"};
    assert_names(src, moved, 4);
    sf_source_close(src);
    assert_no_open_handles();
}

static void check_pandas(const char *file, const char *path)
{
    sf_source *src = open_ok(spec(file, path), 4, NULL, 0, NULL);
    /* "cé" was pickled as latin-1 (raw-unicode-escape); read back as UTF-8 */
    static const char *names[] = {"a", "n", "s", "c\xc3\xa9"};
    assert_names(src, names, 4);
    assert_int_equal(sf_source_column_type(src, 0), SF_COL_FLOAT);
    assert_int_equal(sf_source_column_type(src, 1), SF_COL_FLOAT);
    assert_true(sf_source_column_is_integer(src, 1));
    assert_false(sf_source_column_is_integer(src, 0));
    assert_int_equal(sf_source_column_type(src, 2), SF_COL_CATEGORY);
    assert_int_equal(sf_source_column_type(src, 3), SF_COL_FLOAT);
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 10);
    static const char *s[] = {"u", "v", "w", NULL, "u", "v", "w", "u", "v", "w"};
    for (size_t i = 0; i < 10; i++) {
        if (i == 2) assert_true(MISS(c, i, 0) && isnan(V(c, i, 0)));
        else assert_double_bits(V(c, i, 0), (double)i * 0.5);
        assert_double_bits(V(c, i, 1), (double)i - 3.0);
        if (s[i]) assert_string_equal(LAB(c, i, 2), s[i]);
        else assert_true(MISS(c, i, 2)); /* pandas wrote None as its nan_rep "nan" */
        assert_double_bits(V(c, i, 3), (double)i * 0.25 - 1.0);
    }
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_pandas_tables(void **state)
{
    (void)state;
    check_pandas("pandas_table.h5", "/df");          /* values_block_* array fields */
    check_pandas("pandas_table.h5", "/df/table");
    check_pandas("pandas_datacols.h5", "/df");       /* one field per column */
    check_pandas("pandas_datacols.h5", "/df/table");
    check_pandas("pandas_datacols.h5", "/mixed");    /* both, reordered as the frame */
}

static void test_pytables_table(void **state)
{
    (void)state;
    /* no pandas attributes: field names, an array field expands to v_0, v_1 */
    sf_source *src = open_ok(spec("xy_pytables.h5", "/t"), 4, NULL, 0, NULL);
    static const char *names[] = {"f", "i", "s", "v_0", "v_1"};
    assert_names(src, names, 5);
    assert_true(sf_source_column_is_integer(src, 1));
    assert_int_equal(sf_source_column_type(src, 2), SF_COL_CATEGORY);
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 6);
    static const char *s[] = {"ab", "cd", "e"};
    for (size_t i = 0; i < 6; i++) {
        assert_double_bits(V(c, i, 0), (double)i * 0.5);
        assert_double_bits(V(c, i, 1), (double)i - 2.0);
        assert_string_equal(LAB(c, i, 2), s[i % 3]);
        assert_double_bits(V(c, i, 3), (double)i);
        assert_double_bits(V(c, i, 4), i ? -(double)i : 0.0); /* numpy stored -0 as +0.0 */
    }
    collected_free(&c);
    sf_source_close(src);

    /* a "columns" list that PyTables pickled */
    src = open_ok(spec("xy_pytables.h5", "/named"), 0, NULL, 0, NULL);
    static const char *pn[] = {"first", "second"};
    assert_names(src, pn, 2);
    collect(src, &c, 0);
    for (size_t k = 0; k < 6; k++) assert_double_bits(c.v[k], (double)k);
    collected_free(&c);
    sf_source_close(src);
    assert_no_open_handles();
}

/* ------------------------------------------------- chunks, segments, rewind */

static void test_chunk_sizes_agree(void **state)
{
    (void)state;
    struct { const char *file, *path, *target; } cases[] = {
        {"xy_pytables.h5", "/X", "/y"},
        {"int_matrix.h5", "/M", NULL},
        {"columns_group.h5", "/g", NULL},
        {"pandas_table.h5", "/df", NULL},
        {"pandas_datacols.h5", "/mixed", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *s = spec(cases[k].file, cases[k].path);
        collected whole = read_all(s, 1000000, cases[k].target);
        assert_true(whole.n_rows > 0);
        size_t sizes[] = {1, 7, whole.n_rows};
        for (size_t m = 0; m < 3; m++) {
            collected c = read_all(s, sizes[m], cases[k].target);
            assert_same(&whole, &c);
            collected_free(&c);
        }
        collected_free(&whole);
    }
    assert_no_open_handles();
}

static void check_segments(const char *s, const char *target, uint64_t segment_rows,
                           size_t chunk_rows, size_t want_segments)
{
    collected whole = read_all(s, 0, target);
    sf_source *src = open_ok(s, chunk_rows, target, segment_rows, NULL);
    size_t n = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    assert_int_equal(n, want_segments);
    collected all = {0};
    all.n_cols = whole.n_cols;
    for (size_t i = 0; i < n; i++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, i, &seg, &err), SF_OK);
        assert_int_equal(sf_source_n_columns(seg), whole.n_cols);
        collected c;
        collect(seg, &c, i);
        assert_true(c.n_rows > 0);
        /* append c to all */
        size_t cells = (all.n_rows + c.n_rows) * all.n_cols, at = all.n_rows * all.n_cols;
        all.v = realloc(all.v, cells * sizeof *all.v);
        all.lab = realloc(all.lab, cells * sizeof *all.lab);
        all.miss = realloc(all.miss, cells);
        memcpy(all.v + at, c.v, c.n_rows * c.n_cols * sizeof *c.v);
        memcpy(all.lab + at, c.lab, c.n_rows * c.n_cols * sizeof *c.lab);
        memcpy(all.miss + at, c.miss, c.n_rows * c.n_cols);
        all.n_rows += c.n_rows;
        free(c.v);
        free(c.lab);
        free(c.miss);
        sf_source_close(seg);
    }
    assert_same(&whole, &all);
    /* again, on a fresh source, from the last segment (the short one) to the first:
     * a segment reader takes the buffers a closed one left (io/hdf5_source.c,
     * spares), also those of a shorter segment, and reads the same values */
    sf_source *again = open_ok(s, chunk_rows, target, segment_rows, NULL);
    size_t end = all.n_rows;
    for (size_t i = n; i-- > 0;) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(again, i, &seg, &err), SF_OK);
        collected c;
        collect(seg, &c, i);
        assert_true(c.n_rows > 0 && c.n_rows <= end);
        end -= c.n_rows;
        collected part = {.n_rows = c.n_rows, .n_cols = all.n_cols, .v = all.v + end * all.n_cols,
                          .lab = all.lab + end * all.n_cols, .miss = all.miss + end * all.n_cols};
        assert_same(&part, &c);
        collected_free(&c);
        sf_source_close(seg);
    }
    assert_int_equal(end, 0);
    sf_source_close(again);
    sf_source *seg = NULL;
    assert_int_equal(sf_source_open_segment(src, n, &seg, &err), SF_ERR_ARG);
    assert_null(seg);
    collected_free(&all);
    collected_free(&whole);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_segments(void **state)
{
    (void)state;
    /* /X is chunked by 8 rows: 10 rounds to the nearest whole chunk, 8, so 50 rows
     * make 7 segments; 13 rounds to 16 (4 segments) */
    check_segments(spec("xy_pytables.h5", "/X"), "/y", 10, 7, 7);
    check_segments(spec("xy_pytables.h5", "/X"), "/y", 13, 7, 4);
    /* chunks longer than the segments: each reader's table holds its segment (the
     * last one 2 rows), so a reader must not take a shorter one's buffers */
    check_segments(spec("xy_pytables.h5", "/X"), "/y", 10, 1000, 7);
    check_segments(spec("xy_pytables.h5", "/X"), NULL, 1, 3, 7);
    check_segments(spec("xy_pytables.h5", "/X"), NULL, 1000, 50000, 1);
    /* /M is contiguous, /g unfiltered: segments round to whole tables (6 -> 8
     * rows of 4-row chunks; 5 -> 6 rows of 2-row chunks), not to file chunks */
    check_segments(spec("int_matrix.h5", "/M"), NULL, 6, 4, 3);
    check_segments(spec("columns_group.h5", "/g"), NULL, 5, 2, 2);
    /* PyTables chose 1927-row chunks for the pandas table: one segment */
    check_segments(spec("pandas_datacols.h5", "/mixed"), NULL, 3, 2, 1);
    /* segments longer than any data: one segment, whatever the rounding (the sum
     * that rounds must not wrap: UINT64_MAX rows made 8-row segments, or a
     * division by zero when rounding up) */
    check_segments(spec("xy_pytables.h5", "/X"), "/y", UINT64_MAX, 7, 1);
    check_segments(spec("xy_pytables.h5", "/X"), "/y", UINT64_MAX - 3, 7, 1);
    check_segments(spec("int_matrix.h5", "/M"), NULL, UINT64_MAX, 4, 1);
    check_segments(spec("int_matrix.h5", "/M"), NULL, UINT64_MAX - 1, 3, 1);
}

/* One segment read in its own thread (cmocka's asserts stay on the main thread). */
typedef struct seg_job {
    sf_source *seg;
    double *out;     /* rows x cols of float values */
    size_t rows, cols;
    sf_status st;
} seg_job;

static void *read_segment(void *arg)
{
    seg_job *job = arg;
    const sf_table *t;
    sf_error err;
    /* HDF5 prints errors per thread: silence this one as the library's users do */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    while ((job->st = sf_source_next(job->seg, &t, &err)) == SF_OK) {
        for (size_t i = 0; i < t->n_rows; i++)
            for (size_t j = 0; j < job->cols; j++)
                job->out[(job->rows + i) * job->cols + j] = t->cols[j].values[i];
        job->rows += t->n_rows;
    }
    return NULL;
}

static void test_segments_in_threads(void **state)
{
    (void)state;
    const char *s = spec("xy_pytables.h5", "/X");
    collected whole = read_all(s, 0, "/y");
    sf_source *src = open_ok(s, 3, "/y", 8, NULL);
    size_t n;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    assert_int_equal(n, 7);
    seg_job jobs[7];
    pthread_t tid[7];
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (seg_job){NULL, calloc(8 * 4, sizeof(double)), 0, 4, SF_OK};
        assert_int_equal(sf_source_open_segment(src, i, &jobs[i].seg, &err), SF_OK);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, read_segment, &jobs[i]), 0);
    size_t row = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(jobs[i].st, SF_END);
        for (size_t k = 0; k < jobs[i].rows * 4; k++)
            assert_double_bits(jobs[i].out[k], whole.v[row * 4 + k]);
        row += jobs[i].rows;
        free(jobs[i].out);
        sf_source_close(jobs[i].seg);
    }
    assert_int_equal(row, 50);
    collected_free(&whole);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_rewind(void **state)
{
    (void)state;
    const char *s = spec("columns_group.h5", "/g");
    collected whole = read_all(s, 0, NULL);
    sf_source *src = open_ok(s, 5, NULL, 0, NULL);
    const sf_table *t;
    sf_error err;
    assert_int_equal(sf_source_next(src, &t, &err), SF_OK);
    assert_int_equal(sf_source_next(src, &t, &err), SF_OK);
    assert_int_equal(t->first_row, 6);
    assert_int_equal(sf_source_rewind(src, &err), SF_OK);
    assert_int_equal(sf_source_bytes_read(src), 0);
    collected c;
    collect(src, &c, 0);
    assert_same(&whole, &c);
    collected_free(&c);
    /* a second full pass after the end */
    assert_int_equal(sf_source_rewind(src, &err), SF_OK);
    collect(src, &c, 0);
    assert_same(&whole, &c);
    collected_free(&c);
    collected_free(&whole);
    sf_source_close(src);
    assert_no_open_handles();
}

static void test_types_override(void **state)
{
    (void)state;
    /* an integer column typed category: labels are the shortest decimal texts */
    sf_source *src = open_ok(spec("int_matrix.h5", "/M"), 0, NULL, 0, "q=category");
    assert_int_equal(sf_source_column_type(src, 1), SF_COL_CATEGORY);
    collected c;
    collect(src, &c, 0);
    assert_string_equal(LAB(c, 0, 1), "-3900000");
    assert_string_equal(LAB(c, 19, 1), "3700000");
    collected_free(&c);
    sf_source_close(src);
    /* a string column typed float fails on its first text */
    src = open_ok(spec("columns_group.h5", "/g"), 0, NULL, 0, "s=float");
    const sf_table *t;
    sf_error err;
    assert_int_equal(sf_source_next(src, &t, &err), SF_ERR_PARSE);
    assert_string_equal(err.message, "expected a number, got \"red\"");
    assert_int_equal(err.where.row, 1);
    assert_int_equal(err.where.field, 3);
    assert_string_equal(err.field_name, "s");
    sf_source_close(src);
    assert_no_open_handles();
}

/* ------------------------------------------------------------------ errors */

static void test_errors(void **state)
{
    (void)state;
    assert_open_fails(spec("no_such_file.h5", "/X"), NULL, SF_ERR_IO,
                      "cannot open: No such file or directory");
    assert_open_fails(spec("not_hdf5.h5", "/X"), NULL, SF_ERR_PARSE, "not an HDF5 file");
    assert_open_fails(spec("xy_pytables.h5", "/Z"), NULL, SF_ERR_ARG,
                      "no dataset or group \"/Z\" in the file");
    assert_open_fails(spec("xy_pytables.h5", "/Z/W"), NULL, SF_ERR_ARG,
                      "no dataset or group \"/Z/W\" in the file");
    assert_open_fails(spec("string2d.h5", "/S"), NULL, SF_ERR_UNSUPPORTED,
                      "expected a numeric dataset, got a string dataset");
    assert_open_fails(spec("int_matrix.h5", "/cube"), NULL, SF_ERR_UNSUPPORTED,
                      "expected a 1-D or 2-D dataset, got 3-D");
    assert_open_fails(spec("xy_pytables.h5", "/X"), "/y_short", SF_ERR_SHAPE,
                      "target \"/y_short\" has 49 rows, the data has 50");
    assert_open_fails(spec("xy_pytables.h5", "/X"), "/nope", SF_ERR_ARG,
                      "no dataset or group \"/nope\" in the file");
    assert_open_fails(spec("xy_pytables.h5", "/X"), "/X", SF_ERR_SHAPE,
                      "target \"/X\" must be a 1-D dataset, got 2-D");
    assert_open_fails(spec("columns_group.h5", "/bad_len"), NULL, SF_ERR_SHAPE,
                      "column \"b\" has 11 rows, the data has 12");
    assert_open_fails(spec("columns_group.h5", "/"), NULL, SF_ERR_ARG,
                      "the group holds no datasets");
    assert_open_fails(spec("pandas_table.h5", "/fixed"), NULL, SF_ERR_UNSUPPORTED,
                      "pandas \"frame\" storage is not supported: write it with "
                      "to_hdf(..., format=\"table\")");

    /* truncated: HDF5's own reason follows the prefix */
    const char *s = spec("truncated.h5", "/X");
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, s, NULL, &err), SF_ERR_PARSE);
    assert_null(src);
    assert_true(strncmp(err.message, "corrupt HDF5 file: ", 19) == 0);
    assert_true(strlen(err.message) > 19);
    assert_string_equal(err.where.source, s);

    /* a directory is not a file */
    assert_open_fails(spec(".", "/X"), NULL, SF_ERR_IO, "cannot open: Is a directory");

    sf_source_close(NULL);
    sf_sink_abort(NULL);
    assert_no_open_handles();
}

/* --------------------------------------------------------------------- sink */

static char *tmp_h5(void)
{
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/sf_test_h5_XXXXXX.h5");
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

/* A table of a float column x, a category column label, and a float column "a/b". */
static sf_table *sink_table(sf_dict *d, size_t n, size_t offset)
{
    static const char *names[] = {"x", "label", "a/b"};
    sf_coltype types[] = {SF_COL_FLOAT, SF_COL_CATEGORY, SF_COL_FLOAT};
    sf_dict *dicts[] = {NULL, d, NULL};
    sf_table *t = NULL;
    sf_error err;
    assert_int_equal(sf_table_new(&t, 3, types, names, dicts, n, &err), SF_OK);
    static const char *labels[] = {"cat", "dog", "", "\xc3\xa9t\xc3\xa9", NULL};
    for (size_t i = 0; i < n; i++) {
        size_t r = i + offset;
        double x = r % 6 == 4 ? NAN : (double)r * 0.1 - 1.0;
        t->cols[0].values[i] = x;
        t->cols[0].missing[i] = isnan(x);
        const char *l = labels[r % 5];
        if (l) {
            assert_int_equal(sf_dict_intern(d, l, strlen(l), &t->cols[1].codes[i], &err), SF_OK);
            t->cols[1].missing[i] = 0;
        } else {
            t->cols[1].codes[i] = -1;
            t->cols[1].missing[i] = 1;
        }
        t->cols[2].values[i] = (double)r;
        t->cols[2].missing[i] = 0;
    }
    t->n_rows = n;
    return t;
}

static void test_sink_table_round_trip(void **state)
{
    (void)state;
    char *path = tmp_h5();
    char target[128];
    snprintf(target, sizeof target, "%s:/out/tbl", path);
    sf_sink_options so;
    sf_sink_options_init(&so);
    so.chunk_rows = 4;
    sf_sink *sink = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&sink, target, &so, &err), SF_OK);
    sf_dict *d = NULL;
    assert_int_equal(sf_dict_new(&d, 0, &err), SF_OK);
    sf_table *t1 = sink_table(d, 7, 0), *t2 = sink_table(d, 6, 7);
    assert_int_equal(sf_sink_write_table(sink, t1, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(sink, t2, &err), SF_OK);
    /* a table of another layout is refused and changes nothing */
    static const char *other_names[] = {"x"};
    sf_coltype ft[] = {SF_COL_FLOAT};
    sf_table *other = NULL;
    assert_int_equal(sf_table_new(&other, 1, ft, other_names, NULL, 1, &err), SF_OK);
    other->n_rows = 1;
    other->cols[0].values[0] = 1;
    other->cols[0].missing[0] = 0;
    assert_int_equal(sf_sink_write_table(sink, other, &err), SF_ERR_SHAPE);
    sf_table_free(other);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);

    sf_source *src = open_ok(target, 5, NULL, 0, NULL);
    static const char *names[] = {"x", "label", "a/b"};
    assert_names(src, names, 3);
    assert_int_equal(sf_source_column_type(src, 1), SF_COL_CATEGORY);
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 13);
    static const char *labels[] = {"cat", "dog", "", "\xc3\xa9t\xc3\xa9", ""};
    for (size_t r = 0; r < 13; r++) {
        if (r % 6 == 4) assert_true(MISS(c, r, 0));
        else assert_double_bits(V(c, r, 0), (double)r * 0.1 - 1.0);
        /* a missing category is written as an empty label and read back as missing,
         * as an empty CSV field is */
        if (labels[r % 5][0]) assert_string_equal(LAB(c, r, 1), labels[r % 5]);
        else assert_true(MISS(c, r, 1));
        assert_double_bits(V(c, r, 2), (double)r);
    }
    collected_free(&c);
    sf_source_close(src);
    sf_table_free(t1);
    sf_table_free(t2);
    sf_dict_free(d);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

static void test_sink_matrix_round_trip(void **state)
{
    (void)state;
    char *path = tmp_h5();
    sf_sink_options so;
    sf_sink_options_init(&so);
    so.chunk_rows = 3;
    so.compression = 0;
    sf_sink *sink = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&sink, path, &so, &err), SF_OK);
    /* 5 x 4 storage, 3 columns used (ld = 4) */
    double x[20], y[5];
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 4; j++) x[i * 4 + j] = j == 3 ? -999.0 : x_value(i, j);
        y[i] = (double)i * 0.25 + 1.0;
    }
    static const char *cols[] = {"a", "b", "c"};
    assert_int_equal(sf_sink_write_matrix(sink, "X", x, 5, 3, 4, cols, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(sink, "y", y, 5, 0, 0, NULL, &err), SF_OK);
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 3; j++) x[i * 3 + j] = x_value(i + 5, j);
        y[i] = (double)(i + 5) * 0.25 + 1.0;
    }
    assert_int_equal(sf_sink_write_matrix(sink, "X", x, 5, 3, 3, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(sink, "y", y, 5, 0, 0, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(sink, "X", x, 1, 2, 2, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);

    char s[128];
    snprintf(s, sizeof s, "%s:/X", path);
    sf_source *src = open_ok(s, 4, "/y", 0, NULL);
    static const char *names[] = {"a", "b", "c", "y"};
    assert_names(src, names, 4);
    collected c;
    collect(src, &c, 0);
    assert_int_equal(c.n_rows, 10);
    for (size_t i = 0; i < 10; i++) {
        for (size_t j = 0; j < 3; j++) assert_double_bits(V(c, i, j), x_value(i, j));
        assert_double_bits(V(c, i, 3), (double)i * 0.25 + 1.0);
    }
    collected_free(&c);
    /* one default-size segment */
    size_t n;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    assert_int_equal(n, 1);
    sf_source_close(src);
    src = open_ok(s, 4, NULL, 4, NULL); /* unfiltered: whole 4-row tables, not 3-row chunks */
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    assert_int_equal(n, 3);
    sf_source_close(src);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

static void test_sink_abort_and_errors(void **state)
{
    (void)state;
    char *path = tmp_h5();
    sf_sink *sink = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&sink, path, NULL, &err), SF_OK);
    double v[2] = {1, 2};
    assert_int_equal(sf_sink_write_matrix(sink, "v", v, 2, 0, 0, NULL, &err), SF_OK);
    sf_sink_abort(sink);
    /* the (empty) file mkstemps made is untouched */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    /* a directory that does not exist */
    assert_int_equal(sf_sink_open(&sink, "/nonexistent-dir/x.h5", NULL, &err), SF_ERR_IO);
    assert_null(sink);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

/* ------------------------------------------------------- direct chunk reads
 *
 * io/hdf5_source.c reads chunked numeric datasets with deflate/shuffle (or no)
 * filters itself (chunk lookup, pread of the stored bytes, inflate with io/deflate.c),
 * everything else through H5Dread; with
 * SF_HDF5_DIRECT=0 it always uses H5Dread. These tests write their own files and
 * read each through both paths: the values must be the same bits. */

/* Internal (io/hdf5_source.c): chunks the source decoded itself. */
uint64_t sfi_hdf5_direct_chunks(const sf_source *src);
/* ... and of those, the chunks read with pread() from HDF5's file descriptor. */
uint64_t sfi_hdf5_direct_preads(const sf_source *src);

enum { F_SHUF = 1, F_DEFL = 2, F_FLETCHER = 4 };

/* Creates dataset name under loc: rank 1 or 2, chunked (chunk != NULL, extendable
 * in every dimension) with the filters in flags, or contiguous; writes data (mtype)
 * when not NULL. */
static void make_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                    const hsize_t *dims, const hsize_t *chunk, int flags, const void *data)
{
    hsize_t maxd[2] = {H5S_UNLIMITED, H5S_UNLIMITED};
    hid_t sp = H5Screate_simple(rank, dims, chunk ? maxd : NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(sp >= 0 && dcpl >= 0);
    if (chunk) {
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
        if (flags & F_SHUF) assert_true(H5Pset_shuffle(dcpl) >= 0);
        if (flags & F_DEFL) assert_true(H5Pset_deflate(dcpl, 1) >= 0);
        if (flags & F_FLETCHER) assert_true(H5Pset_fletcher32(dcpl) >= 0);
    }
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (data) assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

#define DN 100 /* rows of the direct-read fixtures */

/* Float values with every special case: NaN, -0, ±inf, subnormals, huge. */
static double dval(size_t i, size_t j)
{
    switch ((i + 2 * j) % 9) {
    case 0: return NAN;
    case 1: return -0.0;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return 4.9406564584124654e-324 * (double)(i + 1);
    case 5: return 1.7976931348623157e308 / (double)(i + 1);
    case 6: return -1e-310 * (double)(j + 1);
    default: return (double)(i * 7 + j) * 0.1 - 3.0;
    }
}

/* A file of chunked (and a few not) datasets of every numeric type taken directly,
 * chunk sizes prime to the read sizes; the caller unlinks and frees the path. latest:
 * HDF5 1.10's file format (other chunk indexes: extensible array, v2 B-tree) instead
 * of the default (v1 B-trees, as our sink and PyTables write). userblock: a 1024-byte
 * user block before HDF5's data (every file address shifts: the pread path must add
 * it). */
static char *make_direct_file(bool latest, bool userblock)
{
    char *path = tmp_h5();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(fapl >= 0 && fcpl >= 0);
    if (latest)
        assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    if (userblock) assert_true(H5Pset_userblock(fcpl, 1024) >= 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    assert_true(f >= 0);
    hid_t g = H5Gcreate2(f, "/g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    double d[DN];
    float fl[DN];
    int8_t i8[DN];
    uint8_t u8[DN];
    int16_t i16[DN];
    uint16_t u16[DN];
    int32_t i32[DN];
    uint32_t u32[DN];
    int64_t i64[DN];
    uint64_t u64[DN];
    for (size_t i = 0; i < DN; i++) {
        d[i] = dval(i, 0);
        fl[i] = (float)dval(i, 1);
        i8[i] = (int8_t)(i % 2 ? -128 + (int)i : 127 - (int)i);
        u8[i] = (uint8_t)(255 - i);
        i16[i] = (int16_t)(i % 2 ? -32768 + (int)i * 3 : 32767 - (int)i);
        u16[i] = (uint16_t)(65535 - i * 11);
        i32[i] = i % 2 ? INT32_MIN + (int32_t)i : INT32_MAX - (int32_t)i * 1000;
        u32[i] = UINT32_MAX - (uint32_t)i * 77;
        /* beyond 2^53: the cast rounds, as HDF5's conversion does */
        i64[i] = i % 3 == 0 ? INT64_MIN + (int64_t)i
               : i % 3 == 1 ? INT64_MAX - (int64_t)i * 1025
                            : ((int64_t)1 << 53) + (int64_t)i;
        u64[i] = UINT64_MAX - (uint64_t)i * 3000;
    }
    hsize_t n[1] = {DN};
    hsize_t c7[1] = {7}, c16[1] = {16}, c9[1] = {9}, c5[1] = {5}, c11[1] = {11}, c13[1] = {13},
            c100[1] = {100}, c256[1] = {256};
    make_ds(g, "f64_deflate", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c7, F_DEFL, d);
    make_ds(g, "f64_plain", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c16, 0, d);
    make_ds(g, "f64_shuffle_deflate", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c9,
            F_SHUF | F_DEFL, d);
    make_ds(g, "f64_shuffle", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c5, F_SHUF, d);
    make_ds(g, "f64_big_endian", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 1, n, c11, F_DEFL, d);
    make_ds(g, "f64_one_chunk", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c100, F_DEFL, d);
    make_ds(g, "f64_big_chunk", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c256, F_DEFL, d);
    make_ds(g, "f32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n, c13, F_SHUF | F_DEFL, fl);
    make_ds(g, "i8", H5T_STD_I8LE, H5T_NATIVE_INT8, 1, n, c7, F_DEFL, i8);
    make_ds(g, "u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, n, c16, F_SHUF | F_DEFL, u8);
    make_ds(g, "i16", H5T_STD_I16LE, H5T_NATIVE_INT16, 1, n, c9, F_SHUF | F_DEFL, i16);
    make_ds(g, "u16", H5T_STD_U16LE, H5T_NATIVE_UINT16, 1, n, c5, 0, u16);
    make_ds(g, "i32", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n, c11, F_SHUF, i32);
    make_ds(g, "u32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, n, c13, F_DEFL, u32);
    make_ds(g, "i64", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, n, c7, F_SHUF | F_DEFL, i64);
    make_ds(g, "u64", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, n, c16, F_DEFL, u64);
    /* not taken directly: contiguous, fletcher32, a big-endian integer */
    make_ds(g, "x_contiguous", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, NULL, 0, d);
    make_ds(g, "x_fletcher", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c9, F_FLETCHER | F_DEFL,
            d);
    make_ds(g, "x_i32be", H5T_STD_I32BE, H5T_NATIVE_INT32, 1, n, c9, F_DEFL, i32);
    /* chunks 3-5 never written: H5Dread supplies the fill value for those reads */
    make_ds(g, "y_sparse", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, (hsize_t[]){10}, F_DEFL,
            NULL);
    hid_t ds = H5Dopen2(g, "y_sparse", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t starts[2] = {0, 60}, counts[2] = {30, 40};
    for (int k = 0; k < 2; k++) {
        hsize_t st[1] = {starts[k]}, ct[1] = {counts[k]};
        hid_t ms = H5Screate_simple(1, ct, NULL);
        assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0);
        assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, d + starts[k]) >= 0);
        H5Sclose(ms);
    }
    H5Sclose(fs);
    H5Dclose(ds);
    if (latest) {
        /* the partial last chunk is stored unfiltered, its filter mask saying nothing */
        hid_t sp = H5Screate_simple(1, n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 1, c7) >= 0 && H5Pset_deflate(dcpl, 1) >= 0 &&
                    H5Pset_chunk_opts(dcpl, H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) >= 0);
        ds = H5Dcreate2(g, "x_partial_unfiltered", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT);
        assert_true(ds >= 0);
        assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d) >= 0);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(sp);
    }
    H5Gclose(g);

    /* matrices: PyTables' layout (whole rows, shuffle + deflate), chunks that split
     * the columns (the last tile narrower), chunks wider than the data */
    double m[DN * 5];
    for (size_t i = 0; i < DN; i++)
        for (size_t j = 0; j < 5; j++) m[i * 5 + j] = dval(i, j);
    hsize_t md[2] = {DN, 5};
    make_ds(f, "/X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md, (hsize_t[]){8, 5},
            F_SHUF | F_DEFL, m);
    make_ds(f, "/Xtiles", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md, (hsize_t[]){6, 2}, F_DEFL,
            m);
    make_ds(f, "/Xwide", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md, (hsize_t[]){4, 8}, 0, m);
    make_ds(f, "/Xcontiguous", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md, NULL, 0, m);
    int32_t mi[DN * 5];
    for (size_t k = 0; k < DN * 5; k++) mi[k] = (int32_t)(k * 2654435761u);
    make_ds(f, "/Xint", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, md, (hsize_t[]){9, 3},
            F_SHUF | F_DEFL, mi);
    assert_true(H5Fclose(f) >= 0);
    return path;
}

static uint64_t last_preads; /* of the last read_with */

static collected read_with(const char *s, size_t chunk_rows, const char *target,
                           const char *types, bool direct, uint64_t *chunks)
{
    if (direct) unsetenv("SF_HDF5_DIRECT");
    else setenv("SF_HDF5_DIRECT", "0", 1);
    sf_source *src = open_ok(s, chunk_rows, target, 0, types);
    collected c;
    collect(src, &c, 0);
    *chunks = sfi_hdf5_direct_chunks(src);
    last_preads = sfi_hdf5_direct_preads(src);
    sf_source_close(src);
    unsetenv("SF_HDF5_DIRECT");
    return c;
}

static void check_direct_matches_hyperslab(bool latest, bool userblock)
{
    char *path = make_direct_file(latest, userblock);
    char s[6][160];
    const char *paths[] = {"/g", "/X", "/Xtiles", "/Xwide", "/Xcontiguous", "/Xint"};
    for (size_t k = 0; k < 6; k++) snprintf(s[k], sizeof s[k], "%s:%s", path, paths[k]);
    struct { const char *s, *target, *types; bool direct; } cases[] = {
        {s[0], NULL, NULL, true},
        {s[0], NULL, "i32=category,f64_deflate=category,u8=category", true},
        {s[1], "/g/f64_shuffle_deflate", NULL, true},
        {s[2], NULL, NULL, true},
        {s[3], "/g/i64", NULL, true},
        {s[4], NULL, NULL, false},
        {s[5], NULL, NULL, true},
    };
    size_t sizes[] = {1, 3, 7, 8, 50, 50000};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        uint64_t n_slow, n_fast;
        collected slow = read_with(cases[k].s, 0, cases[k].target, cases[k].types, false,
                                   &n_slow);
        assert_int_equal(slow.n_rows, DN);
        assert_int_equal(n_slow, 0);
        for (size_t m = 0; m < sizeof sizes / sizeof *sizes; m++) {
            collected fast = read_with(cases[k].s, sizes[m], cases[k].target, cases[k].types,
                                       true, &n_fast);
            assert_same(&slow, &fast);
            if (cases[k].direct) assert_true(n_fast > 0);
            else assert_int_equal(n_fast, 0);
            /* every chunk decoded was read with pread (the default sec2 driver) */
            assert_int_equal(last_preads, n_fast);
            collected_free(&fast);
        }
        collected_free(&slow);
    }

    /* and against the values written */
    uint64_t n;
    collected c = read_with(s[0], 6, NULL, NULL, true, &n);
    sf_source *src = open_ok(s[0], 0, NULL, 0, NULL);
    for (size_t j = 0; j < sf_source_n_columns(src); j++) {
        const char *name = sf_source_column_name(src, j);
        bool f64 = strncmp(name, "f64_", 4) == 0 || strcmp(name, "x_contiguous") == 0 ||
                   strcmp(name, "x_fletcher") == 0;
        for (size_t i = 0; i < DN && (f64 || strcmp(name, "f32") == 0); i++) {
            double want = f64 ? dval(i, 0) : (double)(float)dval(i, 1);
            if (isnan(want)) assert_true(MISS(c, i, j));
            else assert_double_bits(V(c, i, j), want);
        }
        if (strcmp(name, "i64") == 0) {
            assert_double_bits(V(c, 0, j), (double)INT64_MIN);
            assert_double_bits(V(c, 2, j), (double)(((int64_t)1 << 53) + 2));
            assert_double_bits(V(c, 5, j), 9007199254740996.0); /* 2^53 + 5, rounded */
        }
        if (strcmp(name, "u64") == 0)
            assert_double_bits(V(c, 1, j), (double)(UINT64_MAX - 3000));
        if (strcmp(name, "i16") == 0) assert_double_bits(V(c, 1, j), -32765.0);
        if (strcmp(name, "x_partial_unfiltered") == 0) {
            assert_true(MISS(c, 99, j));
            assert_double_bits(V(c, 98, j), dval(98, 0));
        }
        if (strcmp(name, "y_sparse") == 0) {
            assert_double_bits(V(c, 29, j), dval(29, 0));
            assert_double_bits(V(c, 30, j), 0.0); /* the default fill value */
            assert_double_bits(V(c, 59, j), 0.0);
            assert_true(MISS(c, 63, j));
            assert_double_bits(V(c, 64, j), dval(64, 0));
        }
    }
    assert_int_equal(sf_source_n_columns(src), latest ? 21 : 20);
    sf_source_close(src);
    collected_free(&c);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

static void test_direct_matches_hyperslab(void **state)
{
    (void)state;
    check_direct_matches_hyperslab(false, false);
    check_direct_matches_hyperslab(true, false);
    check_direct_matches_hyperslab(false, true);
}

/* More chunks than direct reads look up one by one (DIRECT_LOOKUP_MAX, 512: HDF5
 * 1.10 walks its chunk index from the start for each lookup): the chunks are
 * located by the chunk index read by io/hdf5_index.c and read by pread, or with
 * that off (SF_HDF5_INDEX=0) read by H5Dread_chunk; the values are H5Dread's. */
static void test_direct_many_chunks(void **state)
{
    (void)state;
    enum { N = 1400 };
    char *path = tmp_h5();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    static double v[N];
    for (size_t i = 0; i < N; i++) v[i] = i % 97 == 5 ? NAN : (double)i * 0.125 - 3.0;
    hsize_t n[1] = {N}, c2[1] = {2};
    make_ds(f, "plain", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c2, 0, v);
    make_ds(f, "deflate", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, c2, F_DEFL, v);
    assert_true(H5Fclose(f) >= 0);
    char s[160];
    snprintf(s, sizeof s, "%s:/", path);
    uint64_t n_slow, n_fast;
    collected slow = read_with(s, 0, NULL, NULL, false, &n_slow);
    assert_int_equal(slow.n_rows, N);
    size_t sizes[] = {1, 3, 700, 5000};
    for (int index = 0; index < 2; index++)
        for (size_t m = 0; m < sizeof sizes / sizeof *sizes; m++) {
            if (!index) setenv("SF_HDF5_INDEX", "0", 1);
            collected fast = read_with(s, sizes[m], NULL, NULL, true, &n_fast);
            unsetenv("SF_HDF5_INDEX");
            assert_same(&slow, &fast);
            assert_true(n_fast >= 2 * N / 2); /* every chunk of both, decoded directly */
            if (index) assert_true(last_preads >= 2 * N / 2); /* ... by pread */
            else assert_int_equal(last_preads, 0);            /* ... through H5Dread_chunk */
            collected_free(&fast);
        }
    collected_free(&slow);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

static void test_direct_segments(void **state)
{
    (void)state;
    char *path = make_direct_file(false, false);
    char s[160];
    /* /X is chunked by 8 rows: 13 rounds to the nearest whole chunk, 16, so 100
     * rows make 7 segments */
    snprintf(s, sizeof s, "%s:/X", path);
    check_segments(s, "/g/f64_deflate", 13, 7, 7);
    check_segments(s, NULL, 1, 3, 13);
    snprintf(s, sizeof s, "%s:/Xtiles", path);
    check_segments(s, "/g/u64", 22, 5, 5); /* 6-row chunks: 24-row segments */
    snprintf(s, sizeof s, "%s:/g", path);
    /* the group's first dataset (f32) has 13-row chunks */
    check_segments(s, NULL, 33, 4, 3); /* 39-row segments */
    /* every segment reader decodes only its own chunks (13-row chunks of f32) */
    sf_source *src = open_ok(s, 10, NULL, 26, NULL);
    sf_source *seg;
    sf_error err;
    assert_int_equal(sf_source_open_segment(src, 1, &seg, &err), SF_OK);
    const sf_table *t;
    size_t rows = 0;
    while (sf_source_next(seg, &t, &err) == SF_OK) {
        assert_int_equal(t->first_row, rows + 1);
        rows += t->n_rows;
    }
    assert_int_equal(rows, 26);
    assert_true(sfi_hdf5_direct_chunks(seg) > 0);
    sf_source_close(seg);
    sf_source_close(src);
    unlink(path);
    free(path);
    assert_no_open_handles();
}

/* A 1-D float64 dataset /c/a of 50 rows in 10-row deflated chunks, written chunk by
 * chunk with H5Dwrite_chunk: 0 and 4 valid, 1 cut in half, 2 garbage, 3 deflating 8
 * rows only, 4 stored raw with the filter marked skipped. */
static char *make_corrupt_file(void)
{
    char *path = tmp_h5();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "/c", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    make_ds(g, "a", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){50}, (hsize_t[]){10},
            F_DEFL, NULL);
    hid_t d = H5Dopen2(g, "a", H5P_DEFAULT);
    assert_true(d >= 0);
    for (size_t ci = 0; ci < 5; ci++) {
        double v[10];
        for (size_t i = 0; i < 10; i++) v[i] = (double)(ci * 10 + i) + 0.5;
        unsigned char z[256];
        uLongf zn = sizeof z;
        size_t nbytes = ci == 3 ? 8 * sizeof(double) : sizeof v;
        assert_int_equal(compress2(z, &zn, (const Bytef *)v, nbytes, 1), Z_OK);
        uint32_t mask = 0;
        const void *data = z;
        size_t len = zn;
        if (ci == 1) len = zn / 2;
        if (ci == 2) memset(z, 0xA5, len);
        if (ci == 4) {
            mask = 1; /* deflate (filter 0) skipped: the bytes are raw */
            data = v;
            len = sizeof v;
        }
        hsize_t off[1] = {ci * 10};
        assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, mask, off, len, data) >= 0);
    }
    H5Dclose(d);
    H5Gclose(g);
    H5Fclose(f);
    return path;
}

static void expect_chunk_error(sf_source *src, uint64_t row, const char *why)
{
    const sf_table *t;
    sf_error err;
    sf_status st;
    uint64_t seen = 0;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK) {
        for (size_t i = 0; i < t->n_rows; i++)
            assert_double_bits(t->cols[0].values[i], (double)(t->first_row - 1 + i) + 0.5);
        seen += t->n_rows;
    }
    assert_int_equal(st, SF_ERR_PARSE);
    if (!strstr(err.message, why)) print_error("message: %s\n", err.message);
    assert_non_null(strstr(err.message, why));
    assert_int_equal(err.where.row, row);
    assert_int_equal(err.where.field, 1);
    assert_string_equal(err.field_name, "a");
    assert_non_null(strstr(err.where.source, ":/c"));
    /* the source stays failed */
    assert_int_equal(sf_source_next(src, &t, &err), SF_ERR_STATE);
}

static void test_direct_corrupt_chunks(void **state)
{
    (void)state;
    char *path = make_corrupt_file();
    char s[160];
    snprintf(s, sizeof s, "%s:/c", path);
    /* chunk 1 is cut short: rows 1-10 come out, then the error at row 11 */
    sf_source *src = open_ok(s, 3, NULL, 0, NULL);
    expect_chunk_error(src, 11,
                       "corrupt HDF5 file: reading \"/c/a\": chunk of rows 11-20: the deflate "
                       "data ends early");
    sf_source_close(src);
    /* segments of one chunk each: 2 is garbage, 3 inflates short, 0 and 4 read */
    src = open_ok(s, 4, NULL, 10, NULL);
    size_t n;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    assert_int_equal(n, 5);
    sf_source *seg;
    assert_int_equal(sf_source_open_segment(src, 2, &seg, &err), SF_OK);
    expect_chunk_error(seg, 21, "corrupt HDF5 file: reading \"/c/a\": chunk of rows 21-30: ");
    sf_source_close(seg);
    assert_int_equal(sf_source_open_segment(src, 3, &seg, &err), SF_OK);
    expect_chunk_error(seg, 31, "chunk of rows 31-40: it inflates to 64 bytes, not the "
                                "chunk's 80");
    sf_source_close(seg);
    for (size_t i = 0; i < 5; i += 4) {
        assert_int_equal(sf_source_open_segment(src, i, &seg, &err), SF_OK);
        collected c;
        collect(seg, &c, i);
        assert_int_equal(c.n_rows, 10);
        for (size_t r = 0; r < 10; r++) assert_double_bits(c.v[r], (double)(i * 10 + r) + 0.5);
        assert_int_equal(sfi_hdf5_direct_chunks(seg), 1);
        collected_free(&c);
        sf_source_close(seg);
    }
    sf_source_close(src);
    /* H5Dread fails as well on the damaged chunks, with HDF5's own words */
    setenv("SF_HDF5_DIRECT", "0", 1);
    src = open_ok(s, 3, NULL, 0, NULL);
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK) continue;
    assert_int_equal(st, SF_ERR_PARSE);
    assert_true(strncmp(err.message, "corrupt HDF5 file: reading \"/c/a\": ", 35) == 0);
    sf_source_close(src);
    unsetenv("SF_HDF5_DIRECT");
    unlink(path);
    free(path);
    assert_no_open_handles();
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pytables_earray),
        cmocka_unit_test(test_target_column),
        cmocka_unit_test(test_int_matrix),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_group_column_order),
        cmocka_unit_test(test_pandas_tables),
        cmocka_unit_test(test_pytables_table),
        cmocka_unit_test(test_chunk_sizes_agree),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_segments_in_threads),
        cmocka_unit_test(test_rewind),
        cmocka_unit_test(test_types_override),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_sink_table_round_trip),
        cmocka_unit_test(test_sink_matrix_round_trip),
        cmocka_unit_test(test_sink_abort_and_errors),
        cmocka_unit_test(test_direct_matches_hyperslab),
        cmocka_unit_test(test_direct_segments),
        cmocka_unit_test(test_direct_corrupt_chunks),
        cmocka_unit_test(test_direct_many_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
