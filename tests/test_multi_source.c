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
 *
 * Lazy planning: a glob of five CSV parts (quoted line ends, a header-only part
 * in the middle) cut in 2 KB segments is counted holding no descriptor a file,
 * its segments read last to first equal the whole read (values bitwise, each
 * file's line numbers), after which every plan's descriptor is closed; the
 * scaler's JSON export is the same string (so the same bits) on 1, 2 and 3
 * threads and has n_samples_seen_ 3692 (4000 rows less the 308 with c missing);
 * a file replaced after the count is SF_ERR_IO naming it. Fit errors on 1-3
 * threads: a bad field in the third file names its file, line (counted over
 * quoted line ends) and column; a 0-byte file in the middle names it; a
 * header-only file adds no rows (same JSON as without it); a differing header
 * names the file and column. HDF5 parts (uncompressed, as convert
 * --compression 0): the glob and its segments offer next_rows and fill blocks
 * with no table (24 chunks), a NaN among the wanted columns gives that chunk's
 * table tagged with the glob's segment index; the segments open and read with
 * every file renamed away (lent by the readers from the open: no file opened
 * again); fits on 1-3 threads, direct reads or H5Dread, equal the one-file
 * fit's JSON exactly (the 300-row segments fall alike); a part with other
 * columns is an error naming it. 24 HDF5 files: all segments read (values
 * bitwise) holding fewer descriptors than files, and none after the close, with
 * at most one idle lender keeping its closed segments' buffers (HDF5 spares);
 * four threads each holding segments of five of those files open at once (more
 * lenders in use than are kept idle) read every value bitwise, and no descriptor
 * stays open after the close (run under TSan too).
 */
#include "sf_test.h"
#include "sf_rows.h"

#include "io/source_impl.h"

/* io/multi_source.c, for the tests: the spare buffer sets its lenders hold */
SFI_FUNC size_t sfi_multi_spare_sets(const sf_source *src);

#include <pthread.h>
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

/* ------------------------------------------------------------------ lazy planning,
 * the rows path and the lenders (the tests below) */

/* The JSON export of "scaler" fitted on spec (columns a,b,c; target y when
 * target), or NULL with the fit's error formatted into msg. */
static char *fit_json(const char *spec, size_t threads, uint64_t segment_bytes, uint64_t segment_rows,
                      bool target, char *msg, size_t cap)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 100;
    o.segment_bytes = segment_bytes;
    o.segment_rows = segment_rows;
    sf_source *src = NULL;
    sf_error err;
    sf_status st = sf_source_open(&src, spec, &o, &err);
    sf_pipeline *pl = NULL;
    if (st == SF_OK) st = sf_pipeline_new(&pl, "scaler", &err);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.columns = "a,b,c";
    if (target) fo.target = "y";
    if (st == SF_OK) st = sf_pipeline_fit(pl, src, &fo, &err);
    char *json = NULL;
    if (st == SF_OK) assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    else if (msg) sf_error_format(&err, msg, cap);
    sf_pipeline_free(pl);
    sf_source_close(src);
    return json;
}

/* How many descriptors the process has open. */
static size_t open_fds(void)
{
    size_t n = 0;
    char path[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n += access(path, F_OK) == 0;
    }
    return n;
}

/* Segments of src opened and read last to first (blocks of each plan scanned out
 * of order), into r in file order. */
static void read_segments_backwards(sf_source *src, rows *r)
{
    size_t n = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n, &err), SF_OK);
    rows *part = calloc(n, sizeof *part);
    for (size_t g = n; g-- > 0;) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, g, &seg, &err), SF_OK);
        assert_int_equal(read_all(seg, &part[g], &err), SF_END);
        sf_source_close(seg);
    }
    for (size_t g = 0; g < n; g++) {
        size_t at = r->n, k = part[g].n, nc = part[g].n_cols;
        if (!k) {
            rows_free(&part[g]);
            continue;
        }
        r->n_cols = nc;
        r->v = realloc(r->v, (at + k) * nc * sizeof *r->v);
        r->label = realloc(r->label, (at + k) * nc * sizeof *r->label);
        r->miss = realloc(r->miss, (at + k) * nc);
        r->line = realloc(r->line, (at + k) * sizeof *r->line);
        memcpy(r->v + at * nc, part[g].v, k * nc * sizeof *r->v);
        memcpy(r->label + at * nc, part[g].label, k * nc * sizeof *r->label);
        memcpy(r->miss + at * nc, part[g].miss, k * nc);
        memcpy(r->line + at, part[g].line, k * sizeof *r->line);
        r->n = at + k;
        free(part[g].v);
        free(part[g].label); /* the labels moved to r */
        free(part[g].miss);
        free(part[g].line);
    }
    free(part);
}

/* Five CSV parts of the fixture's rows, quoted line ends and all, the third a
 * header alone: a glob read by segments in any order, and a fit on 1, 2 or 3
 * threads, planned lazily. */
static void test_csv_glob_lazy(void **state)
{
    (void)state;
    char dir[64], path[5][128], whole[128], pattern[160];
    snprintf(dir, sizeof dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    size_t cuts[6] = {0, 700, 1500, 1500, 2600, 4000};
    for (size_t k = 0; k < 5; k++) {
        snprintf(path[k], sizeof path[k], "%s/p%zu.csv", dir, k);
        write_file(path[k], cuts[k], cuts[k + 1], false);
    }
    snprintf(whole, sizeof whole, "%s/whole.csv", dir);
    write_file(whole, 0, 4000, false);
    snprintf(pattern, sizeof pattern, "%s/p*.csv", dir);

    rows want = {0}, back = {0};
    read_spec(pattern, 100000, &want);
    assert_int_equal(want.n, 4000);
    size_t fds = open_fds();
    sf_source *s = open_ok(pattern, 50, 2048);
    size_t n = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_true(n > 60);
    /* counted without holding a descriptor a file (the first file's reader: one) */
    assert_true(open_fds() <= fds + 1);
    read_segments_backwards(s, &back);
    assert_rows_equal(&want, &back); /* with each file's own line numbers */
    assert_true(open_fds() <= fds + 1); /* every plan resolved: its descriptor closed */
    sf_source_close(s);
    rows_free(&want);
    rows_free(&back);

    /* the same model for any thread count (the design's promise: bitwise), and
     * within rounding of the model of the file holding every row */
    char *one = fit_json(pattern, 1, 2048, 0, false, NULL, 0);
    char *ref = fit_json(whole, 2, 2048, 0, false, NULL, 0);
    assert_non_null(one);
    for (size_t t = 2; t <= 3; t++) {
        char *got = fit_json(pattern, t, 2048, 0, false, NULL, 0);
        assert_string_equal(got, one);
        free(got);
    }
    assert_true(strstr(one, "\"n_samples_seen_\": 3692") || strstr(one, "\"n_samples_seen_\":3692"));
    free(one);
    free(ref);

    /* a file replaced after the count: the scan that opening its segment needs
     * finds it is not the file planned */
    s = open_ok(pattern, 50, 2048);
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    char moved[160];
    snprintf(moved, sizeof moved, "%s/new.tmp", dir);
    write_file(moved, cuts[3], cuts[4], false); /* p3.csv's rows again, same size, another inode */
    assert_int_equal(rename(moved, path[3]), 0);
    sf_status st = SF_OK;
    char msg[1024] = "";
    for (size_t g = n; g-- > 0 && st == SF_OK;) {
        sf_source *seg = NULL;
        st = sf_source_open_segment(s, g, &seg, &err);
        sf_source_close(seg);
    }
    assert_int_equal(st, SF_ERR_IO);
    sf_error_format(&err, msg, sizeof msg);
    char want_msg[512];
    snprintf(want_msg, sizeof want_msg, "%s: error: the file changed since its segments were planned", path[3]);
    assert_string_equal(msg, want_msg);
    sf_source_close(s);
    for (size_t k = 0; k < 5; k++) unlink(path[k]);
    unlink(whole);
    rmdir(dir);
}

/* Errors of a fit on a glob of CSV files cut in many segments: a malformed row
 * in the third file names that file, line and column on any thread count; an
 * empty file (no header) in the middle is an error naming it; a header alone is
 * a file without rows. */
static void test_csv_glob_errors(void **state)
{
    (void)state;
    char dir[64], path[4][128], pattern[160], msg[1024], want[1024];
    snprintf(dir, sizeof dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (size_t k = 0; k < 4; k++) {
        snprintf(path[k], sizeof path[k], "%s/f%zu.csv", dir, k);
        write_file(path[k], 1000 * k, 1000 * k + 1000, false);
    }
    snprintf(pattern, sizeof pattern, "%s/f*.csv", dir);

    /* f2.csv, record 877 (line 878 after the header, and 2 more for two quoted
     * line ends before it): a text in float column b */
    FILE *f = fopen(path[2], "wb");
    assert_non_null(f);
    fputs(header, f);
    size_t line = 2, bad_line = 0;
    char t[256];
    for (size_t i = 2000; i < 3000; i++) {
        if (i == 2877) {
            bad_line = line;
            fprintf(f, "1.5,oops,red,0.5\n");
            line++;
            continue;
        }
        int k = row_text(t, i);
        for (int j = 0; j < k; j++) line += t[j] == '\n';
        fputs(t, f);
    }
    fclose(f);
    for (size_t th = 1; th <= 3; th++) {
        char *json = fit_json(pattern, th, 4096, 0, false, msg, sizeof msg);
        assert_null(json);
        snprintf(want, sizeof want, "%s:%zu:5: error: expected a number, got \"oops\"", path[2], bad_line);
        if (strncmp(msg, want, strlen(want)) != 0) fail_msg("%s\nexpected %s", msg, want);
    }
    write_file(path[2], 2000, 3000, false);

    /* an empty file in the middle: no header, an error naming it */
    write_text(path[1], "");
    char *json = fit_json(pattern, 2, 4096, 0, false, msg, sizeof msg);
    assert_null(json);
    snprintf(want, sizeof want, "%s: error: empty file: no header row", path[1]);
    assert_string_equal(msg, want);
    /* a header alone: no rows there; the fit is that of the other files */
    write_text(path[1], header);
    char *with = fit_json(pattern, 3, 4096, 0, false, NULL, 0);
    unlink(path[1]);
    char *without = fit_json(pattern, 1, 4096, 0, false, NULL, 0);
    assert_non_null(with);
    assert_string_equal(with, without);
    free(with);
    free(without);
    /* a later header that differs, while fitting on many segments */
    write_text(path[1], "a,b,label,d\n1,2,x,3\n");
    assert_null(fit_json(pattern, 2, 4096, 0, false, msg, sizeof msg));
    snprintf(want, sizeof want,
             "%s:1: error: columns differ from the first file's: column 4 is \"d\", expected \"c\" (field 4)", path[1]);
    assert_string_equal(msg, want);
    for (size_t k = 0; k < 4; k++) unlink(path[k]);
    rmdir(dir);
}

/* Float rows a, b, c, y of rows [from, to) as CSV; nan_row (if in range) has c missing. */
static void write_floats(const char *path, size_t from, size_t to, size_t nan_row)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("a,b,c,y\n", f);
    for (size_t i = from; i < to; i++) {
        unsigned x = (unsigned)i * 2654435761u + 7u;
        double a = (double)(x % 100003) / 977.0 - 50.0, b = (double)(x % 7919) * 0.125, c = (double)(i % 17) / 3.0;
        if (i == nan_row) fprintf(f, "%.17g,%.17g,,%u\n", a, b, x % 2);
        else fprintf(f, "%.17g,%.17g,%.17g,%u\n", a, b, c, x % 2);
    }
    fclose(f);
}

/* csv as an uncompressed HDF5 file of 1-D columns (as `streamfit convert
 * --compression 0`), chunks of 100 rows. */
static void csv_to_h5(const char *csv, const char *h5)
{
    sf_source *src = open_ok(csv, 100, 32u << 20);
    sf_sink_options so;
    sf_sink_options_init(&so);
    so.compression = 0;
    so.chunk_rows = 100;
    so.threads = 1;
    sf_sink *sink = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&sink, h5, &so, &err), SF_OK);
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK) assert_int_equal(sf_sink_write_table(sink, t, &err), SF_OK);
    assert_int_equal(st, SF_END);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);
    sf_source_close(src);
}

/* HDF5 files in a glob take the rows path (next_rows, forwarded to each file's
 * reader, whole and by segment), lend their segments without opening the file
 * again, and fit bitwise as the file holding every row when the segments fall
 * alike (parts of whole 300-row segments); a NaN goes the table way. */
static void test_hdf5_glob_rows(void **state)
{
    (void)state;
    char dir[64], csv[160], h5[4][160], whole_csv[160], whole[160], pattern[200], spec[200];
    snprintf(dir, sizeof dir, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    const size_t nan_row = 1234;
    for (size_t k = 0; k < 4; k++) {
        snprintf(csv, sizeof csv, "%s/part.csv", dir);
        snprintf(h5[k], sizeof h5[k], "%s/p%zu.h5", dir, k);
        write_floats(csv, 600 * k, 600 * k + 600, nan_row);
        csv_to_h5(csv, h5[k]);
    }
    snprintf(whole_csv, sizeof whole_csv, "%s/all.csv", dir);
    snprintf(whole, sizeof whole, "%s/all.hdf5", dir);
    write_floats(whole_csv, 0, 2400, nan_row);
    csv_to_h5(whole_csv, whole);
    snprintf(pattern, sizeof pattern, "%s/p*.h5:/", dir);
    snprintf(spec, sizeof spec, "%s:/", whole);

    /* the rows path, whole and by segment: rows straight into the block */
    sf_source *s = NULL;
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 100;
    o.segment_rows = 300;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pattern, &o, &err), SF_OK);
    assert_non_null(s->ops->next_rows);
    size_t cols[2] = {0, 1};
    sfi_rows_want want = {.cols = cols, .p = 2, .target = 3, .weight = -1};
    sf_block *b = NULL;
    assert_int_equal(sf_block_new(&b, 100, 2, true, false, &err), SF_OK);
    const sf_table *t = NULL;
    size_t direct = 0, tables = 0;
    sf_status st;
    double sum = 0;
    while ((st = s->ops->next_rows(s, &want, b, &t, &err)) == SF_OK) {
        if (t) tables++;
        else {
            direct++;
            for (size_t i = 0; i < b->n_rows; i++) sum += b->x[i * b->ld] + b->y[i];
        }
    }
    assert_int_equal(st, SF_END);
    assert_int_equal(direct, 24);
    assert_int_equal(tables, 0); /* the NaN is in c, not wanted */
    assert_true(sum != 0);
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_int_equal(n, 8);
    /* the segments are lent by the files' readers opened at open: they read on
     * with the files moved away (no file is opened again) */
    char away[4][200];
    for (size_t k = 0; k < 4; k++) {
        snprintf(away[k], sizeof away[k], "%.150s.away", h5[k]);
        assert_int_equal(rename(h5[k], away[k]), 0);
    }
    for (size_t g = n; g-- > 0;) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
        assert_non_null(seg->ops->next_rows);
        size_t rows_seen = 0;
        while ((st = seg->ops->next_rows(seg, &want, b, &t, &err)) == SF_OK) {
            assert_null(t);
            assert_int_equal(b->first_row, rows_seen + 1); /* within the segment */
            rows_seen += b->n_rows;
        }
        assert_int_equal(st, SF_END);
        assert_int_equal(rows_seen, 300);
        /* a NaN among the wanted columns: that chunk as a table, of this segment */
        sfi_rows_want with_c = {.cols = (size_t[]){0, 2}, .p = 2, .target = -1, .weight = -1};
        assert_int_equal(sf_source_rewind(seg, &err), SF_OK);
        size_t nan_tables = 0;
        while ((st = seg->ops->next_rows(seg, &with_c, b, &t, &err)) == SF_OK)
            if (t) {
                nan_tables++;
                assert_int_equal(t->segment, g);
                assert_true(t->cols[2].missing[nan_row % 100]);
            }
        assert_int_equal(st, SF_END);
        assert_int_equal(nan_tables, g == nan_row / 300);
        sf_source_close(seg);
    }
    for (size_t k = 0; k < 4; k++) assert_int_equal(rename(away[k], h5[k]), 0);
    sf_block_free(b);
    sf_source_close(s);

    /* fits: any thread count, direct reads or H5Dread, glob or one file: the same bits */
    char *ref = fit_json(spec, 1, 0, 300, true, NULL, 0);
    assert_non_null(ref);
    assert_non_null(strstr(ref, "2399")); /* the row with the NaN dropped */
    for (size_t th = 1; th <= 3; th++) {
        char *got = fit_json(pattern, th, 0, 300, true, NULL, 0);
        assert_string_equal(got, ref);
        free(got);
    }
    setenv("SF_HDF5_DIRECT", "0", 1);
    char *slow = fit_json(pattern, 2, 0, 300, true, NULL, 0);
    unsetenv("SF_HDF5_DIRECT");
    assert_string_equal(slow, ref);
    free(slow);
    free(ref);

    /* a later file with other columns: an error naming it */
    snprintf(csv, sizeof csv, "%s/other.csv", dir);
    write_text(csv, "a,b,d,y\n1,2,3,4\n");
    csv_to_h5(csv, h5[2]);
    char msg[1024];
    assert_null(fit_json(pattern, 2, 0, 300, true, msg, sizeof msg));
    assert_non_null(strstr(msg, h5[2]));
    assert_non_null(strstr(msg, "\"d\""));
    unlink(csv);
    for (size_t k = 0; k < 4; k++) unlink(h5[k]);
    unlink(whole_csv);
    unlink(whole);
    rmdir(dir);
}

/* files HDF5 files of 10 rows each (rows 10k .. 10k + 9 of write_floats) in a fresh
 * directory dir (mkdtemp template: "/tmp/sf_multi_" plus six X's); pattern globs them. */
static void make_h5_parts(char *dir, size_t dir_size, char *pattern, size_t pattern_size, size_t files)
{
    char csv[160], h5[160];
    snprintf(dir, dir_size, "/tmp/sf_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(csv, sizeof csv, "%s/part.csv", dir);
    for (size_t k = 0; k < files; k++) {
        write_floats(csv, 10 * k, 10 * k + 10, SIZE_MAX);
        snprintf(h5, sizeof h5, "%s/p%02zu.h5", dir, k);
        csv_to_h5(csv, h5);
    }
    unlink(csv);
    snprintf(pattern, pattern_size, "%s/p*.h5:/", dir);
}

/* More HDF5 files than lenders kept open: every segment read, descriptors bounded. */
static void test_hdf5_many_lenders(void **state)
{
    (void)state;
    char dir[64], h5[160], pattern[200];
    enum { FILES = 24 };
    make_h5_parts(dir, sizeof dir, pattern, sizeof pattern, FILES);
    size_t fds = open_fds();
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_rows = 5;
    o.chunk_rows = 5;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pattern, &o, &err), SF_OK);
    rows u = {0};
    assert_int_equal(read_segments(s, &u), 2 * FILES);
    assert_int_equal(u.n, 10 * FILES);
    for (size_t i = 0; i < u.n; i++) {
        unsigned x = (unsigned)i * 2654435761u + 7u;
        assert_double_bits(u.v[i * 4], (double)(x % 100003) / 977.0 - 50.0);
    }
    size_t held = open_fds() - fds;
    assert_true(held <= 2 * 17); /* at most 16 idle lenders and the first file (+ HDF5's own) */
    assert_true(held < FILES);
    /* the idle lenders of files done keep no buffers of their closed segments:
     * only the file read last may (16 idle lenders kept a set each, 6 MB each for
     * 50,000 x 10 chunks: RSS grew by 96 MB over a glob, for nothing) */
    assert_true(sfi_multi_spare_sets(s) <= 1);
    sf_source_close(s);
    assert_int_equal(open_fds(), fds);
    rows_free(&u);
    for (size_t k = 0; k < FILES; k++) {
        snprintf(h5, sizeof h5, "%s/p%02zu.h5", dir, k);
        unlink(h5);
    }
    rmdir(dir);
}

/* Threads that each hold segments of five files open at once while others open
 * and close theirs: more lenders in use than IDLE_LENDERS, idle ones closed
 * meanwhile (io/multi_source.c: hold_lender, trim_lenders; io/hdf5_source.c:
 * the spares segments of a file pass on). */
typedef struct lend_job {
    sf_source *src;
    size_t t, n_seg, bad, read;
    sf_status st;
} lend_job;

static double lend_value(size_t row)
{
    unsigned x = (unsigned)row * 2654435761u + 7u;
    return (double)(x % 100003) / 977.0 - 50.0;
}

static void *lend_worker(void *arg)
{
    lend_job *j = arg;
    sf_error err;
    enum { HELD = 5 };
    for (size_t round = 0; round < 4 && j->st == SF_OK; round++) {
        sf_source *seg[HELD] = {NULL};
        size_t g[HELD];
        for (size_t h = 0; h < HELD && j->st == SF_OK; h++) {
            /* a file a held segment, spread over the threads and rounds */
            g[h] = ((j->t * 7 + round * 11 + h * 2) * 2 + (round + h) % 2) % j->n_seg;
            j->st = sf_source_open_segment(j->src, g[h], &seg[h], &err);
        }
        for (size_t h = 0; h < HELD && j->st == SF_OK; h++) {
            const sf_table *tb;
            size_t at = 0;
            while ((j->st = sf_source_next(seg[h], &tb, &err)) == SF_OK)
                for (size_t i = 0; i < tb->n_rows; i++, at++) {
                    uint64_t bits_a, bits_b;
                    double want = lend_value(5 * g[h] + at);
                    memcpy(&bits_a, &tb->cols[0].values[i], 8);
                    memcpy(&bits_b, &want, 8);
                    j->bad += bits_a != bits_b;
                    j->read++;
                }
            if (j->st == SF_END) j->st = at == 5 ? SF_OK : SF_ERR_STATE;
        }
        for (size_t h = 0; h < HELD; h++) sf_source_close(seg[h]);
    }
    return NULL;
}

static void test_hdf5_lenders_threads(void **state)
{
    (void)state;
    char dir[64], h5[160], pattern[200];
    enum { FILES = 24, THREADS = 4 };
    make_h5_parts(dir, sizeof dir, pattern, sizeof pattern, FILES);
    size_t fds = open_fds();
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_rows = 5;
    o.chunk_rows = 5;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pattern, &o, &err), SF_OK);
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_int_equal(n, 2 * FILES);
    lend_job jobs[THREADS];
    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++) {
        jobs[t] = (lend_job){.src = s, .t = t, .n_seg = n};
        assert_int_equal(pthread_create(&th[t], NULL, lend_worker, &jobs[t]), 0);
    }
    for (size_t t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].st, SF_OK);
        assert_int_equal(jobs[t].read, 4 * 5 * 5);
        assert_int_equal(jobs[t].bad, 0);
    }
    sf_source_close(s);
    assert_int_equal(open_fds(), fds);
    for (size_t k = 0; k < FILES; k++) {
        snprintf(h5, sizeof h5, "%s/p%02zu.h5", dir, k);
        unlink(h5);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hdf5_glob),
        cmocka_unit_test(test_pipeline_fit),
        cmocka_unit_test(test_csv_glob_lazy),
        cmocka_unit_test(test_csv_glob_errors),
        cmocka_unit_test(test_hdf5_glob_rows),
        cmocka_unit_test(test_hdf5_many_lenders),
        cmocka_unit_test(test_hdf5_lenders_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
