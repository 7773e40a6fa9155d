/* test_csv_variants.c — CSV read through zlib ("file.csv.gz") and CSV without a
 * header row.
 *
 * What is compared: a .csv.gz (written here with zlib's gzopen/gzwrite, as
 * `gzip` writes it) yields the same rows as the plain file row for row: doubles
 * bitwise, labels as text, missing flags and line numbers; for chunk sizes 1, 7
 * and the whole file; after a rewind; through its single segment; and for a
 * stream of two concatenated gzip members. A truncated, corrupt or uncompressed
 * ".gz" is SF_ERR_PARSE with a message naming the file. Without a header the
 * columns are x0, x1, … and every record (the first included) is a data row,
 * equal to the same file read with a header line prepended (line numbers shifted
 * by one). No tolerances: every comparison is exact.
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <unistd.h>
#include <zlib.h>

/* Text with floats, integers, categories (quoted delimiters and newlines) and
 * missing values. */
static char *make_text(size_t n_rows, bool header)
{
    size_t cap = n_rows * 80 + 64, k = 0;
    char *t = malloc(cap);
    if (header) k += (size_t)sprintf(t + k, "a,b,label,c\n");
    unsigned x = 777;
    for (size_t i = 0; i < n_rows; i++) {
        x = x * 1103515245u + 12345u;
        double a = (double)(x % 1000003) / 997.0 - 500.0;
        const char *lab[5] = {"red", "green", "\"bl,ue\"", "\"multi\nline\"", "NA"};
        k += (size_t)sprintf(t + k, "%.17g,%zu,%s,%s\n", a, i, lab[(x >> 16) % 5],
                             (i % 11 == 0) ? "" : "1.25");
    }
    return t;
}

/* Writes text gzip-compressed (as n_members concatenated members). */
static char *write_gz(const char *text, size_t n, int n_members)
{
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/sf_test_XXXXXX.csv.gz");
    int fd = mkstemps(path, 7);
    assert_true(fd >= 0);
    close(fd);
    size_t done = 0;
    for (int m = 0; m < n_members; m++) {
        size_t part = m + 1 == n_members ? n - done : n / (size_t)n_members;
        gzFile g = gzopen(path, m == 0 ? "wb" : "ab");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, text + done, (unsigned)part), (int)part);
        assert_int_equal(gzclose(g), Z_OK);
        done += part;
    }
    return path;
}

static void read_path(const char *path, size_t chunk_rows, bool has_header, rows *r)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    o.has_header = has_header;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    assert_int_equal(read_all(s, r, &err), SF_END);
    sf_source_close(s);
}

static void test_gz_same_rows(void **state)
{
    (void)state;
    char *text = make_text(3000, true);
    size_t n = strlen(text);
    char *plain = sf_test_write_tmp(text, n, ".csv");
    char *gz = write_gz(text, n, 1);
    char *gz2 = write_gz(text, n, 2);
    rows want = {0};
    read_path(plain, 100000, true, &want);
    assert_int_equal(want.n, 3000);
    size_t sizes[] = {1, 7, 100000};
    for (size_t k = 0; k < 3; k++) {
        rows got = {0};
        read_path(gz, sizes[k], true, &got);
        assert_rows_equal(&want, &got);
        rows_free(&got);
    }
    rows two = {0};
    read_path(gz2, 64, true, &two);
    assert_rows_equal(&want, &two);
    rows_free(&two);

    /* rewind, one segment, progress in compressed bytes */
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 500;
    o.segment_bytes = 1024; /* would split the plain file; a gzip stream stays whole */
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, gz, &o, &err), SF_OK);
    rows first = {0}, again = {0}, seg = {0};
    assert_int_equal(read_all(s, &first, &err), SF_END);
    assert_true(sf_source_bytes_read(s) > 0);
    assert_true(sf_source_bytes_read(s) <= sf_source_size(s));
    assert_true(sf_source_size(s) < n); /* the compressed size */
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(read_all(s, &again, &err), SF_END);
    assert_rows_equal(&want, &first);
    assert_rows_equal(&want, &again);
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
    assert_int_equal(n_seg, 1);
    sf_source *g = NULL;
    assert_int_equal(sf_source_open_segment(s, 0, &g, &err), SF_OK);
    assert_int_equal(read_all(g, &seg, &err), SF_END);
    assert_rows_equal(&want, &seg);
    assert_int_equal(sf_source_open_segment(s, 1, &(sf_source *){NULL}, &err), SF_ERR_ARG);
    sf_source_close(g);
    sf_source_close(s);
    rows_free(&first);
    rows_free(&again);
    rows_free(&seg);
    rows_free(&want);
    unlink(plain);
    unlink(gz);
    unlink(gz2);
    free(plain);
    free(gz);
    free(gz2);
    free(text);
}

/* Opens and reads path to the end; returns the first error and its message. */
static sf_status read_error(const char *path, char *msg, size_t cap)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 100;
    sf_source *s = NULL;
    sf_error err;
    sf_error_clear(&err);
    sf_status st = sf_source_open(&s, path, &o, &err);
    if (st == SF_OK) {
        const sf_table *t;
        while ((st = sf_source_next(s, &t, &err)) == SF_OK) {}
        if (st == SF_END) st = SF_OK;
    }
    sf_source_close(s);
    sf_error_format(&err, msg, cap);
    return st;
}

static void test_gz_bad(void **state)
{
    (void)state;
    char *text = make_text(20000, true);
    size_t n = strlen(text);
    char *gz = write_gz(text, n, 1);
    FILE *f = fopen(gz, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char msg[1024], want[1024];

    /* cut in the middle: an error at the cut, never a short clean read */
    char *cut = sf_test_write_tmp(bytes, (size_t)size / 2, ".csv.gz");
    assert_int_equal(read_error(cut, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want, "%s: error: truncated gzip file: unexpected end of file", cut);
    assert_string_equal(msg, want);
    /* only the 8-byte trailer (CRC, length) missing */
    char *no_trailer = sf_test_write_tmp(bytes, (size_t)size - 8, ".csv.gz");
    assert_int_equal(read_error(no_trailer, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want, "%s: error: truncated gzip file: unexpected end of file", no_trailer);
    assert_string_equal(msg, want);

    /* damaged deflate data or checksum */
    for (long k = size / 3; k < size / 3 + 64; k++) bytes[k] ^= 0x5a;
    char *bad = sf_test_write_tmp(bytes, (size_t)size, ".csv.gz");
    assert_int_equal(read_error(bad, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want, "%s: error: ", bad);
    assert_memory_equal(msg, want, strlen(want));
    assert_non_null(strstr(msg, "gzip"));

    /* not compressed at all */
    char *flat = sf_test_write_tmp(text, n, ".csv.gz");
    assert_int_equal(read_error(flat, msg, sizeof msg), SF_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s: error: not gzip data: the name ends in .gz but the file is not compressed", flat);
    assert_string_equal(msg, want);

    /* a missing file is I/O */
    assert_int_equal(read_error("/nonexistent/x.csv.gz", msg, sizeof msg), SF_ERR_IO);
    char *paths[] = {gz, cut, no_trailer, bad, flat};
    for (size_t k = 0; k < 5; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
    free(bytes);
    free(text);
}

/* Rows of text without a header equal the rows of the same text after the
 * header "x0,x1,x2,x3", one line earlier. */
static void check_no_header(const char *body, size_t chunk_rows, uint64_t segment_bytes,
                            const char *suffix)
{
    size_t n = strlen(body);
    char *with = malloc(n + 13);
    memcpy(with, "x0,x1,x2,x3\n", 12);
    memcpy(with + 12, body, n + 1);
    char *p_with = sf_test_write_tmp(with, n + 12, ".csv");
    char *p_without = strcmp(suffix, ".gz") == 0 ? write_gz(body, n, 1)
                                                 : sf_test_write_tmp(body, n, ".csv");
    rows want = {0};
    read_path(p_with, 100000, true, &want);
    for (size_t i = 0; i < want.n; i++) want.line[i] -= 1;

    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    o.has_header = false;
    o.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, p_without, &o, &err), SF_OK);
    assert_int_equal(sf_source_n_columns(s), 4);
    assert_string_equal(sf_source_column_name(s, 0), "x0");
    assert_string_equal(sf_source_column_name(s, 3), "x3");
    assert_int_equal(sf_source_column_type(s, 2), SF_COL_CATEGORY);
    assert_true(sf_source_column_is_integer(s, 1));
    rows got = {0}, again = {0}, u = {0};
    assert_int_equal(read_all(s, &got, &err), SF_END);
    assert_rows_equal(&want, &got);
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(read_all(s, &again, &err), SF_END);
    assert_rows_equal(&want, &again);
    read_segments(s, &u);
    assert_rows_equal(&want, &u);
    sf_source_close(s);
    rows_free(&want);
    rows_free(&got);
    rows_free(&again);
    rows_free(&u);
    unlink(p_with);
    unlink(p_without);
    free(p_with);
    free(p_without);
    free(with);
}

static void test_no_header(void **state)
{
    (void)state;
    char *body = make_text(700, false);
    check_no_header(body, 100000, 32u << 20, ".csv");
    check_no_header(body, 1, 2000, ".csv"); /* many segments, one-row chunks */
    check_no_header(body, 50, 2000, ".gz");
    check_no_header("1,2,a,3.5\n", 10, 32u << 20, ".csv"); /* one record */
    check_no_header("1,2,a,3.5", 10, 32u << 20, ".csv");   /* no line end */
    free(body);

    /* a BOM, --types on the generated names, an empty file */
    sf_source_options o;
    sf_source_options_init(&o);
    o.has_header = false;
    o.types = "x0=category";
    const char bom[] = "\xEF\xBB\xBF" "7,8\n9,10\n";
    char *path = sf_test_write_tmp(bom, strlen(bom), ".csv");
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    assert_int_equal(t->n_rows, 2);
    assert_int_equal(t->cols[0].type, SF_COL_CATEGORY);
    assert_string_equal(sf_dict_label(t->cols[0].dict, (size_t)t->cols[0].codes[1], NULL), "9");
    assert_double_bits(t->cols[1].values[0], 8.0);
    assert_int_equal(t->line[0], 1);
    assert_int_equal(t->first_row, 1);
    sf_source_close(s);
    unlink(path);
    free(path);
    char *empty = sf_test_write_tmp("", 0, ".csv");
    char msg[512], want[512];
    o.types = NULL;
    assert_int_equal(sf_source_open(&s, empty, &o, &err), SF_ERR_PARSE);
    sf_error_format(&err, msg, sizeof msg);
    snprintf(want, sizeof want, "%s: error: empty file: no rows", empty);
    assert_string_equal(msg, want);
    assert_null(s);
    unlink(empty);
    free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gz_same_rows),
        cmocka_unit_test(test_gz_bad),
        cmocka_unit_test(test_no_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
