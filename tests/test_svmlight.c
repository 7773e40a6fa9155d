/* test_svmlight.c — the svmlight / libsvm source and sparse pipelines.
 *
 * Reader (compared exactly, bit for bit):
 *   - tests/data/svmlight_tricky.svm (comments, qid, blank lines, CRLF, explicit
 *     zeros, exponents) read with zero_based auto / true / false gives the labels,
 *     CSR indptr / indices / data and n_features that sklearn 1.2.1's
 *     load_svmlight_file gives (tests/reference/svmlight_fixture.h, made by
 *     tests/reference/make_svmlight_fixtures.py);
 *   - any chunk size and any segment size give the same rows; segments name
 *     absolute line numbers;
 *   - bad lines fail with SF_ERR_PARSE naming the file, line and byte column of
 *     the token and quoting it (our own positions: sklearn gives none);
 *     n_features below the file's is refused at open with the line of the index.
 * Pipelines (see the second half).
 */
#include "sf_test.h"

#include <unistd.h>

#include "reference/svmlight_fixture.h"

static sf_source *open_opts(const char *path, size_t chunk, uint64_t seg_bytes, int zero_based, uint64_t n_features)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk;
    if (seg_bytes) o.segment_bytes = seg_bytes;
    o.zero_based = zero_based;
    o.n_features = n_features;
    sf_source *s = NULL;
    sf_error err;
    sf_status st = sf_source_open(&s, path, &o, &err);
    if (st != SF_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, SF_OK);
    return s;
}

/* All rows of a source (or segment): labels, CSR, lines. */
typedef struct rows {
    double y[4096];
    size_t indptr[4097];
    uint32_t ind[65536];
    double data[65536];
    uint64_t line[4096];
    size_t n, nnz;
} rows;

static void read_all(sf_source *s, rows *r, bool append)
{
    if (!append) {
        r->n = r->nnz = 0;
        r->indptr[0] = 0;
    }
    const sf_table *t;
    sf_error err;
    sf_status st;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        assert_non_null(t->csr);
        assert_int_equal(t->n_cols, 1);
        for (size_t i = 0; i < t->n_rows; i++) {
            r->y[r->n] = t->cols[0].values[i];
            r->line[r->n] = t->line[i];
            for (size_t e = t->csr->indptr[i]; e < t->csr->indptr[i + 1]; e++) {
                r->ind[r->nnz] = t->csr->indices[e];
                r->data[r->nnz++] = t->csr->data[e];
            }
            r->indptr[++r->n] = r->nnz;
        }
    }
    if (st != SF_END) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, SF_END);
}

static void check_rows(const rows *r, const svm_expect *x)
{
    assert_int_equal(r->n, x->n_rows);
    assert_int_equal(r->nnz, x->nnz);
    for (size_t i = 0; i < r->n; i++) {
        assert_double_bits(r->y[i], x->y[i]);
        assert_int_equal(r->indptr[i + 1], x->indptr[i + 1]);
    }
    for (size_t e = 0; e < r->nnz; e++) {
        assert_int_equal(r->ind[e], x->indices[e]);
        assert_double_bits(r->data[e], x->data[e]);
    }
}

static void test_tricky(void **state)
{
    (void)state;
    static const int modes[3] = {SF_ZERO_BASED_AUTO, SF_ZERO_BASED_YES, SF_ZERO_BASED_NO};
    const svm_expect *want[3] = {&svm_tricky_auto, &svm_tricky_true, &svm_tricky_false};
    static rows r;
    for (int m = 0; m < 3; m++)
        for (size_t chunk = 1; chunk <= 5; chunk += 2) {
            sf_source *s = open_opts(SF_TEST_DATA_DIR "/svmlight_tricky.svm", chunk, 0, modes[m], 0);
            assert_int_equal(sf_source_n_sparse_features(s), want[m]->n_features);
            assert_string_equal(sf_source_column_name(s, 0), "y");
            read_all(s, &r, false);
            check_rows(&r, want[m]);
            /* rewind: the same again */
            sf_error err;
            assert_int_equal(sf_source_rewind(s, &err), SF_OK);
            read_all(s, &r, false);
            check_rows(&r, want[m]);
            sf_source_close(s);
        }
    /* the lines of the rows (comments and blank lines counted) */
    sf_source *s = open_opts(SF_TEST_DATA_DIR "/svmlight_tricky.svm", 2, 0, 0, 0);
    read_all(s, &r, false);
    for (size_t i = 0; i < r.n; i++) assert_int_equal(r.line[i], svm_tricky_lines[i]);
    sf_source_close(s);
    /* n_features given, larger than the file's: more columns, same entries */
    s = open_opts(SF_TEST_DATA_DIR "/svmlight_tricky.svm", 3, 0, 0, 100);
    assert_int_equal(sf_source_n_sparse_features(s), 100);
    read_all(s, &r, false);
    check_rows(&r, &svm_tricky_auto);
    sf_source_close(s);
}

/* Segments of a few hundred bytes: their rows in order are the whole file's. */
static void test_segments(void **state)
{
    (void)state;
    static rows whole, parts;
    sf_source *s = open_opts(SF_TEST_DATA_DIR "/svmlight_clf.svm", 7, 0, 0, 0);
    read_all(s, &whole, false);
    sf_source_close(s);
    assert_int_equal(whole.n, SVM_CLF_N);
    for (uint64_t seg = 300; seg <= 5000; seg = seg * 3 + 1)
        for (int given = 0; given < 2; given++) {
            /* given: both options, so no scan at open (the segment scan counts lines) */
            s = open_opts(SF_TEST_DATA_DIR "/svmlight_clf.svm", 5, seg, given ? SF_ZERO_BASED_NO : 0,
                          given ? SVM_CLF_P : 0);
            size_t n_seg = 0;
            sf_error err;
            assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
            assert_true(n_seg > 1);
            parts.n = parts.nnz = 0;
            parts.indptr[0] = 0;
            for (size_t g = 0; g < n_seg; g++) {
                sf_source *sg = NULL;
                assert_int_equal(sf_source_open_segment(s, g, &sg, &err), SF_OK);
                assert_int_equal(sf_source_n_sparse_features(sg), SVM_CLF_P);
                read_all(sg, &parts, true);
                sf_source_close(sg);
            }
            assert_int_equal(parts.n, whole.n);
            assert_int_equal(parts.nnz, whole.nnz);
            assert_memory_equal(parts.indptr, whole.indptr, (whole.n + 1) * sizeof *whole.indptr);
            assert_memory_equal(parts.ind, whole.ind, whole.nnz * sizeof *whole.ind);
            assert_memory_equal(parts.data, whole.data, whole.nnz * sizeof *whole.data);
            assert_memory_equal(parts.y, whole.y, whole.n * sizeof *whole.y);
            assert_memory_equal(parts.line, whole.line, whole.n * sizeof *whole.line);
            sf_source_close(s);
        }
}

/* text -> the error of reading it whole (at open or at next) */
static sf_status read_text(const char *text, int zero_based, uint64_t n_features, sf_error *err)
{
    char *path = sf_test_write_tmp(text, strlen(text), ".svm");
    sf_source_options o;
    sf_source_options_init(&o);
    o.zero_based = zero_based;
    o.n_features = n_features;
    sf_source *s = NULL;
    sf_status st = sf_source_open(&s, path, &o, err);
    const sf_table *t;
    while (st == SF_OK) st = sf_source_next(s, &t, err);
    sf_source_close(s);
    unlink(path);
    free(path);
    return st;
}

static void expect_error(const char *text, int zb, uint64_t nf, uint64_t line, uint64_t col, const char *msg)
{
    sf_error err;
    sf_status st = read_text(text, zb, nf, &err);
    if (st != SF_ERR_PARSE || err.where.line != line || err.where.column != col || !strstr(err.message, msg))
        fprintf(stderr, "text %s: status %d, line %llu col %llu: %s\n", text, (int)st,
                (unsigned long long)err.where.line, (unsigned long long)err.where.column, err.message);
    assert_int_equal(st, SF_ERR_PARSE);
    assert_int_equal(err.where.line, line);
    assert_int_equal(err.where.column, col);
    assert_non_null(strstr(err.message, msg));
    assert_non_null(strstr(err.where.source, ".svm"));
}

static void test_bad_lines(void **state)
{
    (void)state;
    expect_error("1 1:2\n1 1:2 3\n", 0, 0, 2, 7, "expected INDEX:VALUE, got \"3\"");
    expect_error("1 1:2\n\n# c\n1 0:2\n", SF_ZERO_BASED_NO, 0, 4, 3, "index 0 in a one-based file, got \"0:2\"");
    expect_error("1 3:1 2:1\n", 0, 0, 1, 7, "sorted and unique, got \"2:1\"");
    expect_error("1 3:1 3:1\n", 0, 0, 1, 7, "sorted and unique");
    expect_error("1 1:abc\n", 0, 0, 1, 3, "expected a number after the index, got \"1:abc\"");
    expect_error("1 1:\n", 0, 0, 1, 3, "expected a number after the index");
    expect_error("1 x:1\n", 0, 0, 1, 3, "expected an integer feature index, got \"x:1\"");
    expect_error("1 -1:1\n", 0, 0, 1, 3, "negative feature index");
    expect_error("2 1:1\n  abc 1:2\n", 0, 0, 2, 3, "expected a number for the label, got \"abc\"");
    expect_error("1,2 1:1\n", 0, 0, 1, 1, "multilabel");
    expect_error("1 qid 1:1\n", 0, 0, 1, 3, "expected qid:VALUE");
    /* n_features below the file's: at open, where the largest index is */
    expect_error("1 1:1\n1 2:1 7:2\n", 0, 3, 2, 7, "n_features was set to 3");
    /* with both options there is no scan: the line with the index fails */
    expect_error("1 1:1\n1 2:1 7:2\n", SF_ZERO_BASED_YES, 3, 2, 7, "beyond the 3 features");
    /* good: a file without any index has 1 feature (sklearn's n_f = 0 + 1) */
    sf_error err;
    assert_int_equal(read_text("1\n-1 # none\n", 0, 0, &err), SF_END);
    char *path = sf_test_write_tmp("3\n", 2, ".libsvm");
    sf_source *s = open_opts(path, 4, 0, 0, 0);
    assert_int_equal(sf_source_n_sparse_features(s), 1);
    sf_source_close(s);
    unlink(path);
    free(path);
    /* bad options */
    sf_source_options o;
    sf_source_options_init(&o);
    o.zero_based = 7;
    assert_int_equal(sf_source_open(&s, SF_TEST_DATA_DIR "/svmlight_tricky.svm", &o, &err), SF_ERR_ARG);
    assert_null(s);
    assert_int_equal(sf_source_open(&s, "/nonexistent/x.svm", NULL, &err), SF_ERR_IO);
}

int main(void)
{
    sf_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricky),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
