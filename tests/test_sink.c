/* test_sink.c — the CSV sink: shortest round-trip numbers, quoting, missing values,
 * read back by the CSV source unchanged; the temporary-file protocol (an aborted
 * or failed write leaves an existing target untouched and no stray file; a
 * finished one replaces an existing target, CSV or HDF5, and leaves no stray
 * file either). */
#include "sf_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t count_tmp_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static sf_table *make_table(sf_dict **dict_out)
{
    static const char *names[] = {"x", "label"};
    sf_coltype types[] = {SF_COL_FLOAT, SF_COL_CATEGORY};
    sf_error err;
    sf_dict *d = NULL;
    assert_int_equal(sf_dict_new(&d, 0, &err), SF_OK);
    sf_dict *dicts[] = {NULL, d};
    sf_table *t = NULL;
    assert_int_equal(sf_table_new(&t, 2, types, names, dicts, 6, &err), SF_OK);
    const double xs[] = {0.1, -1e-300, 1.7976931348623157e308, NAN, 3.0, 2.5e-7};
    const char *labels[] = {"plain", "with,comma", "say \"hi\"", "two\nlines", NULL, "x"};
    for (size_t i = 0; i < 6; i++) {
        t->cols[0].values[i] = xs[i];
        t->cols[0].missing[i] = isnan(xs[i]);
        if (labels[i]) {
            int32_t code;
            assert_int_equal(sf_dict_intern(d, labels[i], strlen(labels[i]), &code, &err), SF_OK);
            t->cols[1].codes[i] = code;
            t->cols[1].missing[i] = 0;
        } else {
            t->cols[1].codes[i] = -1;
            t->cols[1].missing[i] = 1;
        }
    }
    t->n_rows = 6;
    *dict_out = d;
    return t;
}

static void test_csv_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/sf_sink_rtXXXXXX.csv";
    int fd = mkstemps(path, 4);
    close(fd);
    sf_dict *d;
    sf_table *t = make_table(&d);
    sf_sink *s = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);

    sf_source_options o;
    sf_source_options_init(&o);
    o.types = "label=category";
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, path, &o, &err), SF_OK);
    const sf_table *r;
    assert_int_equal(sf_source_next(src, &r, &err), SF_OK);
    assert_int_equal(r->n_rows, 12);
    for (size_t i = 0; i < 12; i++) {
        size_t k = i % 6;
        assert_int_equal(r->cols[0].missing[i], t->cols[0].missing[k]);
        if (!t->cols[0].missing[k]) assert_double_bits(r->cols[0].values[i], t->cols[0].values[k]);
        assert_int_equal(r->cols[1].missing[i], t->cols[1].missing[k]);
        if (!t->cols[1].missing[k])
            assert_string_equal(sf_dict_label(r->cols[1].dict, (size_t)r->cols[1].codes[i], NULL),
                                sf_dict_label(d, (size_t)t->cols[1].codes[k], NULL));
    }
    sf_source_close(src);
    /* the text itself: shortest round-trip numbers */
    FILE *f = fopen(path, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "x,label\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "0.1,plain\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "-1e-300,\"with,comma\"\n");
    fclose(f);
    unlink(path);
    sf_table_free(t);
    sf_dict_free(d);
}

static void test_abort_keeps_target(void **state)
{
    (void)state;
    char path[] = "/tmp/sf_sink_keepXXXXXX.csv";
    int fd = mkstemps(path, 4);
    assert_int_equal(write(fd, "old\n", 4), 4);
    close(fd);
    size_t before = count_tmp_files("/tmp", "sf_sink_keep");
    sf_dict *d;
    sf_table *t = make_table(&d);
    sf_sink *s = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(count_tmp_files("/tmp", "sf_sink_keep"), before + 1);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    sf_sink_abort(s);
    assert_int_equal(count_tmp_files("/tmp", "sf_sink_keep"), before);
    FILE *f = fopen(path, "r");
    char line[16];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "old\n");
    fclose(f);
    /* a shape change is refused, and close after it still cleans up */
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    double x[3] = {1, 2, 3};
    assert_int_equal(sf_sink_write_matrix(s, "m", x, 1, 3, 3, NULL, &err), SF_ERR_SHAPE);
    sf_sink_abort(s);
    assert_int_equal(count_tmp_files("/tmp", "sf_sink_keep"), before);
    unlink(path);
    sf_table_free(t);
    sf_dict_free(d);
}

static void test_matrix_csv(void **state)
{
    (void)state;
    char path[] = "/tmp/sf_sink_mXXXXXX.csv";
    int fd = mkstemps(path, 4);
    close(fd);
    sf_sink *s = NULL;
    sf_error err;
    const char *names[] = {"p", "q"};
    double x[6] = {1, 2, 99, 3.5, 4, 99};
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(s, "m", x, 2, 2, 3, names, &err), SF_OK);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    FILE *f = fopen(path, "r");
    char buf[64] = {0};
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_string_equal(buf, "p,q\n1,2\n3.5,4\n");
    unlink(path);
}

/* Writes an HDF5 matrix /m of n rows (row i: i, -i) to path and closes the sink. */
static void write_h5(const char *path, size_t n)
{
    sf_sink *s = NULL;
    sf_error err;
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    for (size_t i = 0; i < n; i++) {
        double x[2] = {(double)i, -(double)i};
        assert_int_equal(sf_sink_write_matrix(s, "m", x, 1, 2, 2, NULL, &err), SF_OK);
    }
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
}

/* Rows of path's /m, each checked against write_h5's values. */
static size_t read_h5_rows(const char *path)
{
    char spec[128];
    snprintf(spec, sizeof spec, "%s:/m", path);
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, spec, NULL, &err), SF_OK);
    const sf_table *t;
    sf_status st;
    size_t rows = 0;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK)
        for (size_t i = 0; i < t->n_rows; i++, rows++) {
            assert_double_bits(t->cols[0].values[i], (double)rows);
            assert_double_bits(t->cols[1].values[i], -(double)rows);
        }
    assert_int_equal(st, SF_END);
    sf_source_close(src);
    return rows;
}

/* A target that exists is replaced whole (sf_sink_close renames the temporary
 * over it, io/sink.c), one that does not is made, both 0644, and no
 * temporary file is left either way; a hard link to the old file keeps the old
 * content, as with rename(). */
static void test_replace_existing(void **state)
{
    (void)state;
    char dir[] = "/tmp/sf_sink_replXXXXXX";
    assert_non_null(mkdtemp(dir));
    char h5[64], csv[64], link_to_old[64];
    snprintf(h5, sizeof h5, "%s/d.h5", dir);
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    snprintf(link_to_old, sizeof link_to_old, "%s/old.h5", dir);
    write_h5(h5, 5); /* made */
    assert_int_equal(read_h5_rows(h5), 5);
    assert_int_equal(link(h5, link_to_old), 0);
    write_h5(h5, 3); /* replaced */
    assert_int_equal(read_h5_rows(h5), 3);
    assert_int_equal(read_h5_rows(link_to_old), 5);
    struct stat sb;
    assert_int_equal(stat(h5, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(sb.st_nlink, 1);
    assert_int_equal(count_tmp_files(dir, "d."), 0);

    FILE *f = fopen(csv, "w");
    fputs("old,file\n1,2\n", f);
    fclose(f);
    sf_sink *s = NULL;
    sf_error err;
    const char *names[] = {"p"};
    double x[1] = {7};
    assert_int_equal(sf_sink_open(&s, csv, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(s, "m", x, 1, 1, 1, names, &err), SF_OK);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    char buf[64] = {0};
    f = fopen(csv, "r");
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_string_equal(buf, "p\n7\n");
    assert_int_equal(count_tmp_files(dir, "d."), 0);
    unlink(h5);
    unlink(csv);
    unlink(link_to_old);
    assert_int_equal(rmdir(dir), 0); /* nothing else left in it */
}

static void test_bad_args(void **state)
{
    (void)state;
    sf_sink *s = NULL;
    sf_error err;
    sf_sink_options o;
    sf_sink_options_init(&o);
    o.compression = 12;
    assert_int_equal(sf_sink_open(&s, "/tmp/x.h5", &o, &err), SF_ERR_ARG);
    assert_null(s);
    assert_int_equal(sf_sink_open(&s, "/nonexistent-dir/x.csv", NULL, &err), SF_ERR_IO);
    assert_null(s);
    assert_int_equal(sf_sink_open(&s, "", NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_sink_close(NULL, &err), SF_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_round_trip),
        cmocka_unit_test(test_abort_keeps_target),
        cmocka_unit_test(test_matrix_csv),
        cmocka_unit_test(test_replace_existing),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
