/* test_bad_rows.c — malformed CSV rows (sf_source_options.on_error) and gzip on
 * standard input.
 *
 * What is compared (all exact: counts, flags, values as parsed, whole error
 * lines as sf_error_format prints them, against texts written here by hand):
 * - STOP: the rows before a bad row come first (a short chunk), then the error,
 *   whether the bad row is in the first chunk (read while the types are
 *   inferred), in a later chunk, or only bad under an enforced type;
 * - SKIP: a bad row stays in its chunk with every field missing and its
 *   table->bad flag set, good chunks have bad == NULL, types are inferred as
 *   without the bad rows, the count and the first errors come in data order,
 *   a rewind starts the count again and a second pass does not double it;
 * - segments: the line numbers of bad rows in later segments (after quoted
 *   newlines), the parent's count is the segments' sum and survives a second
 *   pass; a glob of files counts every file's;
 * - non-resumable input (malformed quoting) stops even under SKIP;
 * - gzip on standard input (two members) reads as the plain text; a truncated
 *   one is a one-line error;
 * - sf_pipeline_input_types: the model's columns as an optional types string;
 *   an optional "?name=type" entry without its column is ignored.
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static sf_source *open_text(const char *text, char **path, const sf_source_options *o, sf_status *st,
                            sf_error *err)
{
    *path = sf_test_write_tmp(text, strlen(text), ".csv");
    sf_source *s = NULL;
    *st = sf_source_open(&s, *path, o, err);
    return s;
}

/* err formatted, with the temporary file's name replaced by "F". */
static const char *fmt(const sf_error *e, const char *path)
{
    static char out[1200];
    char buf[1024];
    sf_error_format(e, buf, sizeof buf);
    size_t n = strlen(path);
    const char *at = strstr(buf, path);
    if (at) snprintf(out, sizeof out, "%.*sF%s", (int)(at - buf), buf, at + n);
    else snprintf(out, sizeof out, "%s", buf);
    return out;
}

static void test_stop_partial_then_error(void **state)
{
    (void)state;
    struct {
        const char *text, *types;
        size_t chunk_rows;
        size_t rows[4]; /* chunk sizes before the error, 0-terminated */
        const char *msg;
    } cases[] = {
        /* in the first chunk: the types come from the two rows before */
        {"a,b\n1,2\n3,4\n5\n7,8\n", NULL, 100, {2}, "F:4: error: expected 2 fields, got 1 (row 3)"},
        {"a,b\n1,2\n3,4,9\n7,8\n", NULL, 100, {1}, "F:3:5: error: expected 2 fields, got more (row 2, field 3)"},
        /* in a later chunk: a full chunk, then the row before the bad one */
        {"a,b\n1,2\n3,4\n5,6\n7,8\n9\n", NULL, 3, {3, 1}, "F:6: error: expected 2 fields, got 1 (row 5)"},
        /* bad only under the enforced type (found while the first chunk is replayed) */
        {"a,b\n1,2\n3,4\nx,5\n7,8\n", "a=float", 100, {2},
         "F:4: error: expected a number, got \"x\" (row 3, field 1 \"a\")"},
        {"a,b\n1,2\n3,4\n5,6\n7,y\n", "b=float", 2, {2, 1},
         "F:5:3: error: expected a number, got \"y\" (row 4, field 2 \"b\")"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sf_source_options o;
        sf_source_options_init(&o);
        o.chunk_rows = cases[c].chunk_rows;
        o.types = cases[c].types;
        char *path;
        sf_status st;
        sf_error err;
        sf_source *s = open_text(cases[c].text, &path, &o, &st, &err);
        assert_int_equal(st, SF_OK);
        const sf_table *t;
        double first = 1;
        for (size_t k = 0; cases[c].rows[k]; k++) {
            assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
            assert_int_equal(t->n_rows, cases[c].rows[k]);
            assert_null(t->bad);
            assert_double_bits(t->cols[0].values[0], first);
            first += 2 * (double)t->n_rows;
        }
        assert_int_equal(sf_source_next(s, &t, &err), SF_ERR_PARSE);
        assert_string_equal(fmt(&err, path), cases[c].msg);
        assert_int_equal(sf_source_next(s, &t, &err), SF_ERR_STATE); /* stays failed */
        uint64_t n = 9;
        sf_source_bad_rows(s, &n, NULL);
        assert_int_equal(n, 0); /* stopped, not skipped */
        sf_source_close(s);
        unlink(path);
        free(path);
    }
}

/* The first chunk's bad row, at open, with nothing before it: open fails. */
static void test_stop_first_row(void **state)
{
    (void)state;
    char *path;
    sf_status st;
    sf_error err;
    sf_source *s = open_text("a,b\n1\n3,4\n", &path, NULL, &st, &err);
    assert_int_equal(st, SF_ERR_PARSE);
    assert_null(s);
    assert_string_equal(fmt(&err, path), "F:2: error: expected 2 fields, got 1 (row 1)");
    unlink(path);
    free(path);
}

static void test_skip_flags_and_counts(void **state)
{
    (void)state;
    /* rows: 1 good, 2 short, 3 good, 4 long (its "zz" would make a category), 5
     * "x" in b (float from the good rows: bad only once b is float, in the replay),
     * 6 good, 7 short (second chunk), 8 good */
    const char *text = "a,b,c\n1,2,p\n3,4\n5,6,q\n7,zz,r,s\n9,x,t\n11,12,u\n13\n15,16,v\n";
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 6;
    o.on_error = SF_ON_ERROR_SKIP;
    o.types = "b=float";
    char *path;
    sf_status st;
    sf_error err;
    sf_source *s = open_text(text, &path, &o, &st, &err);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_source_column_type(s, 0), SF_COL_FLOAT);
    assert_int_equal(sf_source_column_type(s, 1), SF_COL_FLOAT);
    assert_int_equal(sf_source_column_type(s, 2), SF_COL_CATEGORY);
    /* a is integer: the bad rows' texts took no part in inference */
    assert_true(sf_source_column_is_integer(s, 0));
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 6);
    assert_non_null(t->bad);
    const uint8_t bad1[6] = {0, 1, 0, 1, 1, 0};
    const double a1[6] = {1, NAN, 5, NAN, NAN, 11};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(t->bad[i], bad1[i]);
        for (size_t j = 0; j < 3; j++) assert_int_equal(t->cols[j].missing[i], bad1[i]);
        if (bad1[i]) assert_int_equal(t->cols[2].codes[i], -1);
        else assert_double_bits(t->cols[0].values[i], a1[i]);
        assert_int_equal(t->line[i], i + 2);
    }
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 2);
    assert_int_equal(t->first_row, 7);
    assert_int_equal(t->bad[0], 1);
    assert_int_equal(t->bad[1], 0);
    assert_double_bits(t->cols[1].values[1], 16);
    assert_int_equal(sf_source_next(s, &t, &err), SF_END);

    uint64_t n = 0;
    sf_error first;
    sf_source_bad_rows(s, &n, &first);
    assert_int_equal(n, 4);
    const char *want[4] = {
        "F:3: error: expected 3 fields, got 2 (row 2)",
        "F:5: error: expected 3 fields, got 4 (row 4)",
        "F:6: error: expected a number, got \"x\" (row 5, field 2 \"b\")",
        "F:8: error: expected 3 fields, got 1 (row 7)",
    };
    assert_string_equal(fmt(&first, path), want[0]);
    for (size_t k = 0; k < 4; k++) {
        sf_error e;
        assert_true(sf_source_bad_row_error(s, k, &e));
        assert_string_equal(fmt(&e, path), want[k]);
    }
    assert_false(sf_source_bad_row_error(s, 4, &first));
    assert_int_equal(first.status, SF_OK);

    /* a rewind starts the count again; a second pass counts the same rows */
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    sf_source_bad_rows(s, &n, NULL);
    assert_int_equal(n, 0);
    rows r = {0};
    assert_int_equal(read_all(s, &r, &err), SF_END);
    rows_free(&r);
    sf_source_bad_rows(s, &n, NULL);
    assert_int_equal(n, 4);
    sf_source_close(s);
    unlink(path);
    free(path);
}

/* Malformed quoting cannot be resumed (the record's end is unknown): it stops. */
static void test_skip_cannot_resume_quoting(void **state)
{
    (void)state;
    sf_source_options o;
    sf_source_options_init(&o);
    o.on_error = SF_ON_ERROR_SKIP;
    char *path;
    sf_status st;
    sf_error err;
    sf_source *s = open_text("a,b\n1,2\n3,4\n3,\"x\"y\n5,6\n", &path, &o, &st, &err);
    assert_int_equal(st, SF_OK);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 2);
    assert_int_equal(sf_source_next(s, &t, &err), SF_ERR_PARSE);
    assert_string_equal(fmt(&err, path), "F:4: error: malformed quoting (a quote inside an unquoted field, "
                                         "or text after a closing quote) (row 3)");
    sf_source_close(s);
    unlink(path);
    free(path);
}

/* Bad rows in later segments keep their physical line numbers (quoted newlines
 * before them); the parent counts its segments' bad rows once per pass. */
static void test_segments(void **state)
{
    (void)state;
    size_t n_rows = 3000;
    size_t cap = n_rows * 40 + 64, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "a,b,c\n");
    uint64_t line = 2, n_bad = 0, lines[64];
    for (size_t i = 0; i < n_rows; i++) {
        if (i % 100 == 7) len += (size_t)snprintf(text + len, cap - len, "%zu,\"two\nlines\",1\n", i);
        else if (i % 211 == 5) {
            if (n_bad < 64) lines[n_bad] = line;
            n_bad++;
            len += (size_t)snprintf(text + len, cap - len, "%zu,bad\n", i);
        } else len += (size_t)snprintf(text + len, cap - len, "%zu,x%zu,%zu\n", i, i % 7, i);
        line += i % 100 == 7 ? 2 : 1;
    }
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 64;
    o.segment_bytes = 4096;
    o.on_error = SF_ON_ERROR_SKIP;
    char *path;
    sf_status st;
    sf_error err;
    sf_source *s = open_text(text, &path, &o, &st, &err);
    assert_int_equal(st, SF_OK);
    size_t n_seg = 0;
    for (int pass = 0; pass < 2; pass++) {
        rows r = {0};
        n_seg = read_segments(s, &r);
        assert_int_equal(r.n, n_rows);
        rows_free(&r);
        uint64_t n = 0;
        sf_source_bad_rows(s, &n, NULL);
        assert_int_equal(n, n_bad);
    }
    assert_true(n_seg > 4);
    sf_error e;
    for (size_t k = 0; k < SF_SOURCE_BAD_KEPT; k++) {
        assert_true(sf_source_bad_row_error(s, k, &e));
        assert_int_equal(e.where.line, lines[k]);
        assert_string_equal(e.message, "expected 3 fields, got 2");
    }
    /* the whole file read at once finds the same rows, numbered the same */
    rows r = {0};
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(read_all(s, &r, &err), SF_END);
    assert_int_equal(r.n, n_rows);
    rows_free(&r);
    uint64_t n = 0;
    sf_source_bad_rows(s, &n, &e);
    assert_int_equal(n, n_bad);
    assert_int_equal(e.where.line, lines[0]);
    assert_int_equal(e.where.row, 6);
    sf_source_close(s);

    /* STOP: each segment stops at its first bad row, named by its line */
    o.on_error = SF_ON_ERROR_STOP;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
    size_t k = 0, stopped = 0;
    for (size_t g = 0; g < n_seg; g++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
        const sf_table *t;
        while ((st = sf_source_next(seg, &t, &err)) == SF_OK) {}
        sf_source_close(seg);
        if (st == SF_END) continue;
        assert_int_equal(st, SF_ERR_PARSE);
        while (k < n_bad && lines[k] < err.where.line) k++;
        assert_true(k < n_bad);
        assert_int_equal(err.where.line, lines[k]);
        stopped++;
    }
    assert_true(stopped >= 5);
    sf_source_close(s);
    unlink(path);
    free(path);
    free(text);
}

/* A glob: each file's bad rows count for the whole source. */
static void test_glob(void **state)
{
    (void)state;
    char dir[] = "/tmp/sf_bad_rows_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p1[64], p2[64], pat[64];
    snprintf(p1, sizeof p1, "%s/d-1.csv", dir);
    snprintf(p2, sizeof p2, "%s/d-2.csv", dir);
    snprintf(pat, sizeof pat, "%s/d-*.csv", dir);
    FILE *f = fopen(p1, "w");
    fputs("a,b\n1,2\n3\n", f);
    fclose(f);
    f = fopen(p2, "w");
    fputs("a,b\n5,6\n7,8,9\n9,x\n", f);
    fclose(f);
    sf_source_options o;
    sf_source_options_init(&o);
    o.on_error = SF_ON_ERROR_SKIP;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, pat, &o, &err), SF_OK);
    rows r = {0};
    assert_int_equal(read_all(s, &r, &err), SF_END);
    assert_int_equal(r.n, 5);
    rows_free(&r);
    uint64_t n = 0;
    sf_error e;
    sf_source_bad_rows(s, &n, &e);
    assert_int_equal(n, 3); /* "9,x" is bad: b is float from the first file */
    assert_int_equal(e.where.line, 3);
    assert_true(sf_source_bad_row_error(s, 2, &e));
    assert_int_equal(e.where.line, 4);
    assert_true(strstr(e.where.source, "d-2.csv") != NULL);
    assert_string_equal(e.message, "expected a number, got \"x\"");
    sf_source_close(s);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

/* Reads path's bytes gzip-compressed (in two members) from standard input. */
static sf_status read_stdin_from(const char *file, const sf_source_options *o, rows *r, sf_error *err)
{
    int saved = dup(STDIN_FILENO);
    int fd = open(file, O_RDONLY);
    dup2(fd, STDIN_FILENO);
    close(fd);
    sf_source *s = NULL;
    sf_status st = sf_source_open(&s, "-", o, err);
    if (st == SF_OK) st = read_all(s, r, err);
    sf_source_close(s);
    dup2(saved, STDIN_FILENO);
    close(saved);
    return st;
}

static void write_gz_members(const char *path, const char *text, size_t cut, size_t keep)
{
    gzFile g = gzopen(path, "wb");
    gzwrite(g, text, (unsigned)cut);
    gzclose(g);
    g = gzopen(path, "ab");
    gzwrite(g, text + cut, (unsigned)(strlen(text) - cut));
    gzclose(g);
    if (keep) assert_int_equal(truncate(path, (off_t)keep), 0);
}

static void test_gzip_stdin(void **state)
{
    (void)state;
    size_t cap = 400 * 32, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "a,b,c\n");
    for (int i = 0; i < 400; i++) len += (size_t)snprintf(text + len, cap - len, "%d,%.3f,k%d\n", i, i / 7.0, i % 5);
    char *plain = sf_test_write_tmp(text, len, ".csv");
    char gz[96];
    snprintf(gz, sizeof gz, "%s.gz", plain);
    write_gz_members(gz, text, len / 3, 0);
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 50;
    rows want = {0}, got = {0};
    sf_error err;
    assert_int_equal(read_stdin_from(plain, &o, &want, &err), SF_END);
    assert_int_equal(read_stdin_from(gz, &o, &got, &err), SF_END);
    assert_int_equal(want.n, 400);
    assert_rows_equal(&want, &got);
    rows_free(&got);
    /* cut short: a one-line error, not a crash or a silent end */
    struct stat sb;
    assert_int_equal(stat(gz, &sb), 0);
    write_gz_members(gz, text, len / 3, (size_t)sb.st_size - 20);
    assert_int_equal(read_stdin_from(gz, &o, &got, &err), SF_ERR_PARSE);
    char msg[512];
    sf_error_format(&err, msg, sizeof msg);
    assert_string_equal(msg, "<stdin>: error: truncated gzip data: the input ends inside a member");
    rows_free(&got);
    rows_free(&want);
    unlink(gz);
    unlink(plain);
    free(plain);
    free(text);
}

static void test_options_layout(void **state)
{
    (void)state;
    /* on_error took reserved bytes: the struct keeps its size (ABI) */
    struct old {
        size_t chunk_rows;
        char delimiter;
        bool has_header;
        const char *types, *target;
        size_t max_levels;
        uint64_t segment_bytes, segment_rows;
        uint8_t reserved[32];
    };
    assert_int_equal(sizeof(sf_source_options), sizeof(struct old));
    sf_source_options o;
    sf_source_options_init(&o);
    assert_int_equal(o.on_error, SF_ON_ERROR_STOP);
    uint64_t n = 7;
    sf_error e;
    sf_source_bad_rows(NULL, &n, &e); /* NULL: nothing */
    assert_int_equal(n, 0);
    assert_false(sf_source_bad_row_error(NULL, 0, NULL));
    /* "?name=type": ignored when there is no such column */
    o.types = "?c=float,?a=category";
    char *path;
    sf_status st;
    sf_source *s = open_text("a,b\n1,2\n", &path, &o, &st, &e);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_source_column_type(s, 0), SF_COL_CATEGORY);
    sf_source_close(s);
    o.types = "c=float";
    assert_int_equal(sf_source_open(&s, path, &o, &e), SF_ERR_ARG);
    unlink(path);
    free(path);
}

static void test_input_types(void **state)
{
    (void)state;
    const double x[8] = {1, 2, 2, 1, 3, 5, 4, 3}, y[4] = {1, 2, 3, 4};
    const char *names[] = {"a", "b", "y"};
    sf_source *src = NULL;
    sf_pipeline *pl = NULL;
    sf_error err;
    char *t = (char *)"unchanged";
    assert_int_equal(sf_source_from_memory(&src, x, 4, 2, 2, y, NULL, names, NULL, &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&pl, "linear_regression", &err), SF_OK);
    assert_int_equal(sf_pipeline_input_types(pl, false, &t, &err), SF_ERR_STATE);
    assert_null(t);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.target = "y";
    assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
    assert_int_equal(sf_pipeline_input_types(pl, false, &t, &err), SF_OK);
    assert_string_equal(t, "?a=float,?b=float");
    free(t);
    assert_int_equal(sf_pipeline_input_types(pl, true, &t, &err), SF_OK);
    assert_string_equal(t, "?a=float,?b=float,?y=float");
    free(t);
    assert_int_equal(sf_pipeline_input_types(pl, true, NULL, &err), SF_ERR_ARG);
    sf_pipeline_free(pl);
    sf_source_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_partial_then_error),
        cmocka_unit_test(test_stop_first_row),
        cmocka_unit_test(test_skip_flags_and_counts),
        cmocka_unit_test(test_skip_cannot_resume_quoting),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_gzip_stdin),
        cmocka_unit_test(test_options_layout),
        cmocka_unit_test(test_input_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
