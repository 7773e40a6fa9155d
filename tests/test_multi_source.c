/* test_multi_source.c — several files (a glob pattern) read in order as one
 * source (Decision 12).
 *
 * What is compared, exactly unless said: the rows of "part-" + '*' (three CSV
 * parts, one of them gzip-compressed) equal the rows of the parts read one by
 * one (values bitwise, labels as text, missing flags, per-file line numbers) and
 * the values of the file holding all rows, for chunk sizes 1, 7 and the whole;
 * again after a rewind; the union of the segments (the concatenation of every
 * file's segments) equals the whole, with their count the sum of the files'.
 * A later file whose header differs is SF_ERR_PARSE naming that file and the
 * first differing column; text in a float column of a later file is the parse
 * error naming its file, line and column; a pattern matching nothing is SF_ERR_IO
 * "no file matches". HDF5 files in a glob (every .h5 file of a directory, then
 * ":/M") read and split the same way. A pipeline fit ("scaler") on the glob equals the fit on the whole
 * file to 1e-12 relative (transformed rows compared), and is bitwise the same
 * for 1 and 2 threads.
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct fixture {
    char dir[64];
    char whole[128];   /* every row in one file */
    char part[3][128]; /* part-1.csv, part-2.csv.gz, part-3.csv */
    char pattern[128]; /* dir/part-* */
} fixture;

static const char *const header = "a,b,label,c\n";

/* Row i of the data: floats, integers, a categorical column, missing values. */
static int row_text(char *t, size_t i)
{
    unsigned x = (unsigned)i * 2654435761u + 17u;
    double a = (double)(x % 1000003) / 997.0 - 500.0;
    const char *lab[4] = {"red", "green", "\"bl,ue\"", "\"two\nlines\""};
    return sprintf(t, "%.17g,%zu,%s,%s\n", a, i, lab[(x >> 16) % 4], i % 13 == 0 ? "" : "0.5");
}

static void write_file(const char *path, size_t from, size_t to, bool gzip)
{
    size_t cap = (to - from) * 80 + 64, k = 0;
    char *t = malloc(cap);
    k += (size_t)sprintf(t, "%s", header);
    for (size_t i = from; i < to; i++) k += (size_t)row_text(t + k, i);
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, t, (unsigned)k), (int)k);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(t, 1, k, f), k);
        fclose(f);
    }
    free(t);
}

static void fixture_make(fixture *fx, size_t n_rows)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->whole, sizeof fx->whole, "%s/whole.csv", fx->dir);
    snprintf(fx->part[0], sizeof fx->part[0], "%s/part-1.csv", fx->dir);
    snprintf(fx->part[1], sizeof fx->part[1], "%s/part-2.csv.gz", fx->dir);
    snprintf(fx->part[2], sizeof fx->part[2], "%s/part-3.csv", fx->dir);
    snprintf(fx->pattern, sizeof fx->pattern, "%s/part-*", fx->dir);
    write_file(fx->whole, 0, n_rows, false);
    size_t cut1 = n_rows / 3, cut2 = n_rows / 3 + n_rows / 5;
    write_file(fx->part[0], 0, cut1, false);
    write_file(fx->part[1], cut1, cut2, true);
    write_file(fx->part[2], cut2, n_rows, false);
}

static void fixture_remove(fixture *fx)
{
    unlink(fx->whole);
    for (size_t i = 0; i < 3; i++) unlink(fx->part[i]);
    rmdir(fx->dir);
}

static sf_source *open_ok(const char *spec, size_t chunk_rows, uint64_t segment_bytes)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    o.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    sf_status st = sf_source_open(&s, spec, &o, &err);
    if (st != SF_OK) {
        char m[1024];
        sf_error_format(&err, m, sizeof m);
        print_error("%s\n", m);
    }
    assert_int_equal(st, SF_OK);
    return s;
}

static void read_spec(const char *spec, size_t chunk_rows, rows *r)
{
    sf_source *s = open_ok(spec, chunk_rows, 32u << 20);
    sf_error err;
    assert_int_equal(read_all(s, r, &err), SF_END);
    sf_source_close(s);
}

static void test_rows(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, 2000);
    rows parts = {0}, whole = {0};
    for (size_t i = 0; i < 3; i++) read_spec(fx.part[i], 100000, &parts);
    read_spec(fx.whole, 100000, &whole);
    assert_int_equal(parts.n, 2000);
    size_t sizes[] = {1, 7, 100000};
    for (size_t k = 0; k < 3; k++) {
        rows got = {0};
        read_spec(fx.pattern, sizes[k], &got);
        assert_rows_equal(&parts, &got);
        /* the same values as one file; only the line numbers restart per file */
        memcpy(got.line, whole.line, whole.n * sizeof *whole.line);
        assert_rows_equal(&whole, &got);
        rows_free(&got);
    }

    /* schema, name, progress, rewind */
    sf_source *s = open_ok(fx.pattern, 300, 32u << 20);
    sf_error err;
    assert_string_equal(sf_source_name(s), fx.pattern);
    assert_int_equal(sf_source_n_columns(s), 4);
    assert_int_equal(sf_source_column_type(s, 2), SF_COL_CATEGORY);
    assert_true(sf_source_column_is_integer(s, 1));
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->first_row, 1);
    rows first = {0}, again = {0};
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(read_all(s, &first, &err), SF_END);
    assert_int_equal(sf_source_bytes_read(s), sf_source_size(s)); /* every byte of 3 files */
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(read_all(s, &again, &err), SF_END);
    assert_rows_equal(&parts, &first);
    assert_rows_equal(&parts, &again);
    sf_source_close(s);
    rows_free(&first);
    rows_free(&again);
    rows_free(&parts);
    rows_free(&whole);
    fixture_remove(&fx);
}

static void test_segments(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, 3000);
    rows want = {0};
    read_spec(fx.pattern, 100000, &want);
    size_t per_file = 0;
    for (size_t i = 0; i < 3; i++) {
        sf_source *p = open_ok(fx.part[i], 50, 4096);
        size_t k = 0;
        sf_error err;
        assert_int_equal(sf_source_n_segments(p, &k, &err), SF_OK);
        per_file += k;
        sf_source_close(p);
    }
    sf_source *s = open_ok(fx.pattern, 50, 4096);
    sf_error err;
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_int_equal(n, per_file);
    assert_true(n >= 10); /* many in the plain parts, one in the .gz */
    rows u = {0};
    for (size_t g = 0; g < n; g++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
        size_t before = u.n;
        const sf_table *t;
        assert_int_equal(sf_source_next(seg, &t, &err), SF_OK);
        assert_int_equal(t->segment, g);
        rows_add(&u, t);
        assert_int_equal(read_all(seg, &u, &err), SF_END);
        assert_true(u.n > before);
        sf_source_close(seg);
    }
    assert_int_equal(sf_source_open_segment(s, n, &(sf_source *){NULL}, &err), SF_ERR_ARG);
    assert_rows_equal(&want, &u);
    sf_source_close(s);
    rows_free(&want);
    rows_free(&u);
    fixture_remove(&fx);
}

/* Opens spec and reads it to the end; the first error, formatted. */
static sf_status first_error(const char *spec, char *msg, size_t cap)
{
    sf_source *s = NULL;
    sf_error err;
    sf_error_clear(&err);
    sf_status st = sf_source_open(&s, spec, NULL, &err);
    if (st == SF_OK) {
        assert_non_null(s);
        const sf_table *t;
        while ((st = sf_source_next(s, &t, &err)) == SF_OK) {}
        if (st == SF_END) st = SF_OK;
    } else assert_null(s);
    sf_source_close(s);
    sf_error_format(&err, msg, cap);
    return st;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_errors(void **state)
{
    (void)state;
    char dir[64], a[128], b[128], c[128], pattern[128], msg[1024], want[1024];
    snprintf(dir, sizeof dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/m1.csv", dir);
    snprintf(b, sizeof b, "%s/m2.csv", dir);
    snprintf(c, sizeof c, "%s/m3.csv", dir);
    snprintf(pattern, sizeof pattern, "%s/m?.csv", dir);
    write_text(a, "x,y,z\n1,2,3\n");
    write_text(b, "x,y,z\n4,5,6\n");

    /* a differing column name, a missing column, an extra one */
    write_text(c, "x,q,z\n7,8,9\n");
    assert_int_equal(first_error(pattern, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s:1: error: columns differ from the first file's: column 2 is \"q\", expected \"y\" (field 2)", c);
    assert_string_equal(msg, want);
    write_text(c, "x,y\n7,8\n");
    assert_int_equal(first_error(pattern, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s:1: error: columns differ from the first file's: column 3 \"z\" is missing (field 3)", c);
    assert_string_equal(msg, want);
    write_text(c, "x,y,z,w\n7,8,9,10\n");
    assert_int_equal(first_error(pattern, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s:1: error: columns differ from the first file's: extra column 4 \"w\" (field 4)", c);
    assert_string_equal(msg, want);

    /* the first file's types hold in the later files */
    write_text(c, "x,y,z\n7,8,9\n10,abc,12\n");
    assert_int_equal(first_error(pattern, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s:3:4: error: expected a number, got \"abc\" (row 2, field 2 \"y\")", c);
    assert_string_equal(msg, want);
    write_text(c, "x,y,z\n7,8,9\n");
    assert_int_equal(first_error(pattern, msg, sizeof msg), SF_OK);

    /* without headers: every record is a row, also each file's first */
    write_text(a, "1,2,3\n");
    write_text(b, "4,5,6\n7,8,9\n");
    write_text(c, "10,11,12");
    sf_source_options o;
    sf_source_options_init(&o);
    o.has_header = false;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pattern, &o, &err), SF_OK);
    rows nh = {0};
    assert_int_equal(read_all(s, &nh, &err), SF_END);
    assert_int_equal(nh.n, 4);
    for (size_t k = 0; k < 12; k++) assert_double_bits(nh.v[k], (double)(k + 1));
    assert_int_equal(nh.line[0], 1);
    assert_int_equal(nh.line[2], 2);
    assert_int_equal(nh.line[3], 1);
    assert_string_equal(sf_source_column_name(s, 2), "x2");
    sf_source_close(s);
    rows_free(&nh);

    /* nothing matches; a file with glob characters in its name is that file */
    char none[160];
    snprintf(none, sizeof none, "%s/nothing-*.csv", dir);
    assert_int_equal(first_error(none, msg, sizeof msg), SF_ERR_IO);
    snprintf(want, sizeof want, "%s: error: no file matches", none);
    assert_string_equal(msg, want);
    char odd[160];
    snprintf(odd, sizeof odd, "%s/odd[1].csv", dir);
    write_text(odd, "x\n1\n");
    rows r = {0};
    read_spec(odd, 10, &r);
    assert_int_equal(r.n, 1);
    rows_free(&r);
    unlink(odd);
    unlink(a);
    unlink(b);
    unlink(c);
    rmdir(dir);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_hdf5_glob(void **state)
{
    (void)state;
    char dir[64], f1[128], f2[128], pattern[160], one[200];
    snprintf(dir, sizeof dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(f1, sizeof f1, "%s/a.h5", dir);
    snprintf(f2, sizeof f2, "%s/b.h5", dir);
    copy_file(SF_TEST_DATA_DIR "/int_matrix.h5", f1);
    copy_file(SF_TEST_DATA_DIR "/int_matrix.h5", f2);
    snprintf(pattern, sizeof pattern, "%s/*.h5:/M", dir);
    snprintf(one, sizeof one, "%s:/M", f1);
    rows want = {0}, got = {0}, u = {0};
    read_spec(one, 100, &want);
    read_spec(one, 100, &want); /* twice: the two copies */
    read_spec(pattern, 3, &got);
    assert_rows_equal(&want, &got);
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_rows = 2;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pattern, &o, &err), SF_OK);
    assert_true(read_segments(s, &u) >= 2);
    assert_rows_equal(&want, &u);
    sf_source_close(s);
    rows_free(&want);
    rows_free(&got);
    rows_free(&u);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
}

static sf_pipeline *fit_scaler(const char *spec, size_t threads)
{
    sf_source *src = open_ok(spec, 97, 4096);
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, "scaler", &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.columns = "a,b,c";
    sf_status st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st != SF_OK) {
        char m[1024];
        sf_error_format(&err, m, sizeof m);
        print_error("%s\n", m);
    }
    assert_int_equal(st, SF_OK);
    sf_source_close(src);
    return pl;
}

static void test_pipeline_fit(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, 3000);
    sf_pipeline *whole = fit_scaler(fx.whole, 2);
    sf_pipeline *glob1 = fit_scaler(fx.pattern, 1);
    sf_pipeline *glob2 = fit_scaler(fx.pattern, 2);
    assert_int_equal(sf_pipeline_rows_seen(glob1), sf_pipeline_rows_seen(whole));
    assert_int_equal(sf_pipeline_rows_dropped(glob1), sf_pipeline_rows_dropped(whole));
    assert_true(sf_pipeline_rows_dropped(whole) > 0); /* rows with c missing */
    double x[6] = {0.5, 3, 1.25, -400, 2999, 0.5}, want[6], got1[6], got2[6];
    sf_error err;
    assert_int_equal(sf_pipeline_transform(whole, x, 2, 3, 3, want, 3, &err), SF_OK);
    assert_int_equal(sf_pipeline_transform(glob1, x, 2, 3, 3, got1, 3, &err), SF_OK);
    assert_int_equal(sf_pipeline_transform(glob2, x, 2, 3, 3, got2, 3, &err), SF_OK);
    for (size_t j = 0; j < 6; j++) {
        assert_double_close(got1[j], want[j], 1e-12, 0);
        assert_double_bits(got1[j], got2[j]);
    }
    sf_pipeline_free(whole);
    sf_pipeline_free(glob1);
    sf_pipeline_free(glob2);
    fixture_remove(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hdf5_glob),
        cmocka_unit_test(test_pipeline_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
