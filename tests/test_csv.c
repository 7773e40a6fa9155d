/* test_csv.c — the CSV source: RFC 4180, types, missing values, chunk invariance,
 * segments (union = whole file, row for row, with quoted newlines), standard
 * input, and an exact error for every kind of bad input. */
#include "sf_test.h"
#include "sf_rows.h"

#include <fcntl.h>
#include <unistd.h>

static sf_source *open_text(const char *text, char **path, sf_source_options *o, sf_error *err,
                            sf_status *st)
{
    *path = sf_test_write_tmp(text, strlen(text), ".csv");
    sf_source *s = NULL;
    *st = sf_source_open(&s, *path, o, err);
    return s;
}

static void test_basic_types(void **state)
{
    (void)state;
    const char *text = "x,n,name,m\n"
                       "1.5,1,alpha,NA\n"
                       "-2.25e3,2,\"be,ta\",\n"
                       "0.1,-3,alpha,7\n"
                       " 4 ,10,gamma,nan\n";
    char *path;
    sf_error err;
    sf_status st;
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 100;
    /* " 4 " keeps its spaces (Decision 10), so x is not numeric */
    sf_source *s = open_text(text, &path, &o, &err, &st);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_source_n_columns(s), 4);
    assert_string_equal(sf_source_column_name(s, 2), "name");
    assert_int_equal(sf_source_column_type(s, 0), SF_COL_CATEGORY);
    assert_int_equal(sf_source_column_type(s, 1), SF_COL_FLOAT);
    assert_true(sf_source_column_is_integer(s, 1));
    assert_int_equal(sf_source_column_type(s, 2), SF_COL_CATEGORY);
    assert_int_equal(sf_source_column_type(s, 3), SF_COL_FLOAT);
    assert_false(sf_source_column_is_integer(s, 3));
    assert_int_equal(sf_source_column_index(s, "m"), 3);
    assert_int_equal(sf_source_column_index(s, "zz"), -1);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->first_row, 1);
    assert_double_bits(t->cols[1].values[2], -3.0);
    assert_true(t->cols[1].is_integer);
    assert_string_equal(sf_dict_label(t->cols[2].dict, (size_t)t->cols[2].codes[1], NULL), "be,ta");
    assert_int_equal(t->cols[2].codes[0], t->cols[2].codes[2]);
    assert_true(t->cols[3].missing[0] && t->cols[3].missing[1] && t->cols[3].missing[3]);
    assert_true(isnan(t->cols[3].values[0]));
    assert_false(t->cols[3].missing[2]);
    assert_double_bits(t->cols[3].values[2], 7.0);
    assert_int_equal(t->line[0], 2);
    assert_int_equal(t->line[3], 5);
    assert_int_equal(sf_source_next(s, &t, &err), SF_END);
    assert_int_equal(sf_source_next(s, &t, &err), SF_END);
    /* rewind reads the same rows with the same codes */
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 4);
    assert_string_equal(sf_dict_label(t->cols[2].dict, (size_t)t->cols[2].codes[1], NULL), "be,ta");
    sf_source_close(s);
    unlink(path);
    free(path);
}

static void test_rfc4180(void **state)
{
    (void)state;
    /* BOM, CRLF, quoted delimiters, doubled quotes, newlines inside quotes, a last
     * record without a line end */
    const char *text = "\xEF\xBB\xBF" "id,text,v\r\n"
                       "1,\"a, b\",0.5\r\n"
                       "2,\"say \"\"hi\"\"\",1e-3\r\n"
                       "3,\"two\r\nlines\",2\r\n"
                       "\r\n"
                       "4,\"\",3\r\n"
                       "5,plain,4";
    char *path;
    sf_error err;
    sf_status st;
    sf_source *s = open_text(text, &path, NULL, &err, &st);
    assert_int_equal(st, SF_OK);
    assert_string_equal(sf_source_column_name(s, 0), "id");
    rows r = {0};
    assert_int_equal(read_all(s, &r, &err), SF_END);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.label[0 * 3 + 1], "a, b");
    assert_string_equal(r.label[1 * 3 + 1], "say \"hi\"");
    assert_string_equal(r.label[2 * 3 + 1], "two\r\nlines");
    assert_true(r.miss[3 * 3 + 1]); /* "" is missing */
    assert_string_equal(r.label[4 * 3 + 1], "plain");
    assert_double_bits(r.v[1 * 3 + 2], 1e-3);
    assert_double_bits(r.v[4 * 3 + 2], 4.0);
    /* physical lines: the quoted newline moves later records down; the blank
     * line is skipped */
    assert_int_equal(r.line[0], 2);
    assert_int_equal(r.line[2], 4);
    assert_int_equal(r.line[3], 7);
    assert_int_equal(r.line[4], 8);
    rows_free(&r);
    sf_source_close(s);
    unlink(path);
    free(path);
}

/* quoting 0: no quotes at all; 1: quoted commas; 2: also quoted newlines */
static char *make_big_text(size_t n_rows, int quoting)
{
    size_t cap = n_rows * 80 + 64, k = 0;
    char *t = malloc(cap);
    k += (size_t)sprintf(t + k, "a,b,label,c\n");
    unsigned x = 12345;
    for (size_t i = 0; i < n_rows; i++) {
        x = x * 1103515245u + 12345u;
        double a = (double)(x % 100000) / 997.0 - 50.0;
        const char *lab[5] = {"red", "green", "\"bl,ue\"", "\"multi\nline\"", "NA"};
        const char *plain[] = {"red", "green", "blue"};
        size_t li = (x >> 16) % (quoting == 2 ? 5 : quoting == 1 ? 3 : 2);
        if (quoting == 0) lab[li] = plain[li];
        k += (size_t)sprintf(t + k, "%.17g,%zu,%s,%s\n", a, i, lab[li], (i % 11 == 0) ? "" : "1.25");
    }
    return t;
}

static void read_with_chunks(const char *path, size_t chunk_rows, rows *r)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    o.types = "label=category";
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    assert_int_equal(read_all(s, r, &err), SF_END);
    sf_source_close(s);
}

static void test_chunk_invariance(void **state)
{
    (void)state;
    char *text = make_big_text(500, 2);
    char *path = sf_test_write_tmp(text, strlen(text), ".csv");
    rows all = {0};
    read_with_chunks(path, 100000, &all);
    assert_int_equal(all.n, 500);
    size_t sizes[] = {1, 2, 3, 7, 499};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        rows r = {0};
        read_with_chunks(path, sizes[k], &r);
        assert_rows_equal(&all, &r);
        rows_free(&r);
    }
    rows_free(&all);
    unlink(path);
    free(path);
    free(text);
}

/* Segments are cut lazily (io/csv_plan.c): a segment is empty only when a record
 * with a quoted line end spans it (allow_empty: segments shorter than such a
 * record); the counts of empty ones are returned in *n_empty. */
static void check_segments_union(const char *path, uint64_t segment_bytes, size_t min_segments,
                                 bool allow_empty, size_t *n_empty)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 37;
    o.types = "label=category";
    o.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    rows whole = {0};
    assert_int_equal(read_all(s, &whole, &err), SF_END);
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
    if (n_seg < min_segments) print_error("segment_bytes %llu: %zu segments\n", (unsigned long long)segment_bytes, n_seg);
    assert_true(n_seg >= min_segments);
    rows u = {0};
    for (size_t g = 0; g < n_seg; g++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
        size_t before = u.n;
        assert_int_equal(read_all(seg, &u, &err), SF_END);
        if (u.n == before) (*n_empty)++;
        if (!allow_empty) assert_true(u.n > before);
        sf_source_close(seg);
    }
    assert_int_equal(sf_source_open_segment(s, n_seg, &(sf_source *){NULL}, &err), SF_ERR_ARG);
    assert_rows_equal(&whole, &u);
    rows_free(&whole);
    rows_free(&u);
    sf_source_close(s);
}

static void test_segments(void **state)
{
    (void)state;
    for (int quoting = 0; quoting <= 2; quoting++) {
        char *text = make_big_text(quoting == 0 ? 40000 : 3000, quoting);
        char *path = sf_test_write_tmp(text, strlen(text), ".csv");
        /* small segments so that many cuts fall near quoted newlines; without quotes
         * the scan takes its fast path (blocks of 1 MiB: 40000 rows > 2 MiB) */
        uint64_t sizes[] = {1, 50, 97, 1000, 4096, 1u << 20, 1u << 30};
        /* the 2 MiB quote-free text skips the tiny sizes: one segment per line there
         * means 40000 segment readers, minutes under AddressSanitizer, nothing new */
        size_t empty = 0;
        for (size_t k = quoting == 0 ? 3 : 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_segments_union(path, sizes[k], sizes[k] < strlen(text) / 2 ? 2 : 1,
                                 quoting == 2 && sizes[k] < 64, &empty);
        /* cuts inside quoted line ends do happen at the tiny sizes */
        if (quoting == 2) assert_true(empty > 0);
        unlink(path);
        free(path);
        free(text);
    }
}

static void test_stdin(void **state)
{
    (void)state;
    char *text = make_big_text(200, 2);
    char *path = sf_test_write_tmp(text, strlen(text), ".csv");
    rows file = {0};
    read_with_chunks(path, 16, &file);
    int saved = dup(STDIN_FILENO);
    int fd = open(path, O_RDONLY);
    dup2(fd, STDIN_FILENO);
    close(fd);
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 16;
    o.types = "label=category";
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, "-", &o, &err), SF_OK);
    assert_string_equal(sf_source_name(s), "<stdin>");
    rows in = {0};
    assert_int_equal(read_all(s, &in, &err), SF_END);
    assert_rows_equal(&file, &in);
    assert_int_equal(sf_source_rewind(s, &err), SF_ERR_UNSUPPORTED);
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    assert_int_equal(n, 1);
    sf_source_close(s);
    dup2(saved, STDIN_FILENO);
    close(saved);
    rows_free(&file);
    rows_free(&in);
    unlink(path);
    free(path);
    free(text);
}

static void test_types_override(void **state)
{
    (void)state;
    const char *text = "k,y\n1,2\n2,3\n3,4\n";
    char *path;
    sf_error err;
    sf_status st;
    sf_source_options o;
    sf_source_options_init(&o);
    o.types = "k=category,y=float";
    sf_source *s = open_text(text, &path, &o, &err, &st);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_source_column_type(s, 0), SF_COL_CATEGORY);
    assert_false(sf_source_column_is_integer(s, 1));
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_string_equal(sf_dict_label(t->cols[0].dict, (size_t)t->cols[0].codes[2], NULL), "3");
    sf_source_close(s);
    unlink(path);
    free(path);
}

static void test_delimiter(void **state)
{
    (void)state;
    const char *text = "a;b\n1,5;x\n2;y\n";
    char *path;
    sf_error err;
    sf_status st;
    sf_source_options o;
    sf_source_options_init(&o);
    o.delimiter = ';';
    sf_source *s = open_text(text, &path, &o, &err, &st);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_source_n_columns(s), 2);
    assert_int_equal(sf_source_column_type(s, 0), SF_COL_CATEGORY); /* "1,5" is not a number */
    sf_source_close(s);
    unlink(path);
    free(path);
}

/* Opens text and reads it to the end; returns the first error, formatted. */
static sf_status first_error(const char *text, const char *types, size_t chunk_rows, char *msg,
                             size_t n, char **path_out)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.types = types;
    o.chunk_rows = chunk_rows;
    sf_error err;
    sf_error_clear(&err);
    sf_status st;
    char *path;
    sf_source *s = open_text(text, &path, &o, &err, &st);
    if (st == SF_OK) {
        const sf_table *t;
        while ((st = sf_source_next(s, &t, &err)) == SF_OK) {}
        if (st == SF_END) st = SF_OK;
        if (st != SF_OK) {
            /* the source stays failed */
            sf_error e2;
            assert_int_equal(sf_source_next(s, &t, &e2), SF_ERR_STATE);
        }
    }
    sf_source_close(s);
    sf_error_format(&err, msg, n);
    unlink(path);
    *path_out = path;
    return st;
}

static void expect_error(const char *text, const char *types, size_t chunk_rows, sf_status want,
                         const char *want_msg)
{
    char msg[1024], expect[1024], *path;
    sf_status st = first_error(text, types, chunk_rows, msg, sizeof msg, &path);
    snprintf(expect, sizeof expect, want_msg, path);
    free(path);
    assert_int_equal(st, want);
    assert_string_equal(msg, expect);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("a,b\n1,2\n3,4,5\n", NULL, 100, SF_ERR_PARSE,
                 "%s:3:5: error: expected 2 fields, got more (row 2, field 3)");
    expect_error("a,b\n1,2\n3\n", NULL, 100, SF_ERR_PARSE,
                 "%s:3: error: expected 2 fields, got 1 (row 2)");
    expect_error("a,b\n1,2\n3,x y\n", NULL, 1, SF_ERR_PARSE,
                 "%s:3:3: error: expected a number, got \"x y\" (row 2, field 2 \"b\")");
    expect_error("a,b\n1,2\n3,x\n", "a=float,b=float", 100, SF_ERR_PARSE,
                 "%s:3: error: expected a number, got \"x\" (row 2, field 2 \"b\")");
    expect_error("a,b\n1,2\n3,\"open\n4,5\n", NULL, 100, SF_ERR_PARSE,
                 "%s:3: error: unterminated quoted field (row 2)");
    expect_error("a,b\n1,2\n3,\"x\"y\n", NULL, 100, SF_ERR_PARSE,
                 "%s:3: error: malformed quoting (a quote inside an unquoted field, or text after a "
                 "closing quote) (row 2)");
    expect_error("", NULL, 100, SF_ERR_PARSE, "%s: error: empty file: no header row");
    expect_error("a,b\n", NULL, 100, SF_ERR_PARSE, "%s:2: error: no data rows after the header");
    expect_error("a,b\n1,2\n", "c=float", 100, SF_ERR_ARG,
                 "%s: error: --types names an unknown column \"c\"");
    expect_error("a,b\n1,2\n", "a=complex", 100, SF_ERR_ARG,
                 "%s: error: unknown type \"complex\" for column \"a\" (valid: float, int, category)");
    expect_error("a,a\n1,2\n", NULL, 100, SF_ERR_PARSE,
                 "%s:1: error: duplicate column name \"a\" (field 2)");

    sf_source *s = (sf_source *)1;
    sf_error err;
    assert_int_equal(sf_source_open(&s, "/nonexistent/x.csv", NULL, &err), SF_ERR_IO);
    assert_null(s);
    char msg[512];
    sf_error_format(&err, msg, sizeof msg);
    assert_string_equal(msg, "/nonexistent/x.csv: error: cannot open: No such file or directory");
    assert_int_equal(sf_source_open(&s, "", NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_source_open(&s, "/tmp", NULL, &err), SF_ERR_IO);
}

static void test_max_levels(void **state)
{
    (void)state;
    char text[4096];
    size_t k = (size_t)sprintf(text, "c\n");
    for (int i = 0; i < 50; i++) k += (size_t)sprintf(text + k, "v%d\n", i);
    sf_source_options o;
    sf_source_options_init(&o);
    o.max_levels = 20;
    o.chunk_rows = 10;
    char *path;
    sf_error err;
    sf_status st;
    sf_source *s = open_text(text, &path, &o, &err, &st);
    assert_int_equal(st, SF_OK);
    const sf_table *t;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {}
    assert_int_equal(st, SF_ERR_ARG);
    assert_int_equal(err.where.line, 22);
    assert_string_equal(err.field_name, "c");
    assert_non_null(strstr(err.message, "max_levels"));
    sf_source_close(s);
    unlink(path);
    free(path);
}

static void test_numbers_exact(void **state)
{
    (void)state;
    /* values whose correct rounding a naive parser gets wrong */
    const char *text = "v\n0.1\n9007199254740993\n2.2250738585072011e-308\n1e23\n"
                       "4.9406564584124654e-324\n1.7976931348623157e308\n-0\ninf\n-Infinity\n";
    char *path;
    sf_error err;
    sf_status st;
    sf_source *s = open_text(text, &path, NULL, &err, &st);
    assert_int_equal(st, SF_OK);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    const char *lines[] = {"0.1", "9007199254740993", "2.2250738585072011e-308", "1e23",
                           "4.9406564584124654e-324", "1.7976931348623157e308", "-0", "inf",
                           "-Infinity"};
    for (size_t i = 0; i < 9; i++) assert_double_bits(t->cols[0].values[i], strtod(lines[i], NULL));
    assert_false(t->cols[0].is_integer);
    sf_source_close(s);
    unlink(path);
    free(path);
}

static void test_null_args(void **state)
{
    (void)state;
    sf_source_close(NULL);
    sf_error err;
    const sf_table *t;
    assert_int_equal(sf_source_next(NULL, &t, &err), SF_ERR_ARG);
    assert_int_equal(sf_source_rewind(NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_source_n_columns(NULL), 0);
    assert_null(sf_source_column_name(NULL, 0));
    assert_int_equal(sf_source_open(NULL, "x.csv", NULL, NULL), SF_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_types),    cmocka_unit_test(test_rfc4180),
        cmocka_unit_test(test_chunk_invariance), cmocka_unit_test(test_segments),
        cmocka_unit_test(test_stdin),          cmocka_unit_test(test_types_override),
        cmocka_unit_test(test_delimiter),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_max_levels),     cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
