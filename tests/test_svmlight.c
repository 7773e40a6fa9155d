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
 * Pipelines, against sklearn 1.2.1 (svm_models in the fixture: SGDClassifier with
 * several losses / penalties / averaging, 2 and 3 classes, SGDRegressor,
 * Perceptron, both PassiveAggressive kinds, and StandardScaler(with_mean=False)
 * before SGD), each after ONE partial_fit over the whole loaded CSR matrix:
 *   - streamfit's fit of the .svm file in chunks of 1, 7, 64 and 1000 rows, on
 *     1, 2 and 3 threads with segments of 2 KB (read-ahead on): coef_, intercept_
 *     and t_ within 1e-9 relative (+1e-12 absolute for the scaled pipeline, whose
 *     scale_ comes from our merged statistics); every unscaled model is expected
 *     and checked BITWISE equal;
 *   - the model saved and loaded predicts, on the file, sklearn's predict,
 *     decision_function and predict_proba of the first SVM_N_PRED rows, bitwise
 *     (1e-12 relative for the scaled one);
 *   - the scaled pipeline's JSON is byte-identical for 1, 2 and 3 threads; a fit
 *     on the first 150 rows updated with the rest (saved and loaded between)
 *     equals one fit on all rows, byte for byte (Decision 1);
 *   - a classifier on svmlight data gets its classes from the scan at open: its
 *     fit makes one pass (no class-discovery pass), unless n_features and
 *     zero_based are both given (no scan: the discovery pass is back);
 *   - refusals before any pass: linear_regression, minibatch_kmeans, a formula,
 *     scaler without with_mean=false (the message names with_mean); predicting a
 *     file with a larger index fails naming its line, a narrower file works.
 * Several files as one source (a glob; tests/reference/svmlight_multi_fixture.h,
 * from sklearn 1.2.1's load_svmlight_files, by the same script):
 *   - three sets (one-based files of different widths with a .gz member; a file
 *     whose "-0" index makes auto zero-based for both; a file without indices, so
 *     auto shifts neither): labels, CSR rows and n_features bit for bit, in chunks
 *     of 1, 5 and 37 rows and after a rewind; each file's own line numbers; the
 *     segments (~1 KB, across and within files) in order give the same rows and
 *     lines, their chunks name the global segment; n_features given larger works;
 *   - an SGD classifier (hinge; log_loss averaged) fitted on the glob in chunks of
 *     7 and 77 rows on 1 and 2 threads: coef_, intercept_ (bitwise) and t_ equal
 *     sklearn's one partial_fit over the stacked rows, and its JSON equals, byte
 *     for byte, the fit of svmlight_multicat_a.svm (the files' text concatenated);
 *     the classes come from the scan at open (one pass, no discovery pass);
 *   - errors: a bad line in the second segment of the second file names that file
 *     and line (read whole, with and without the scan, and in fits on 1 and 2
 *     threads); n_features below an index names the file with it (at open), or
 *     the first row past it (no scan); a one-based read of "-0" names its file and
 *     line; a glob without a match is SF_ERR_IO; svmlight and CSV files in one
 *     glob are refused naming the odd file.
 */
#include "sf_test.h"

#include <unistd.h>

#include "reference/svmlight_fixture.h"
#include "reference/svmlight_multi_fixture.h"

#define MULTI_A SF_TEST_DATA_DIR "/svmlight_multi_a_*"

static sf_source *open_opts(const char *path, size_t chunk, uint64_t seg_bytes, int zero_based, uint64_t n_features)
{
    sf_source_options o;
    sf_source_options_init(&o);
    if (seg_bytes) o.segment_bytes = seg_bytes;
    o.chunk_rows = chunk;
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

/* path read whole in chunks of `chunk` rows, then again after a rewind: want's rows. */
static void check_source(const char *path, size_t chunk, int zero_based, const svm_expect *want)
{
    static rows r;
    sf_source *s = open_opts(path, chunk, 0, zero_based, 0);
    assert_int_equal(sf_source_n_sparse_features(s), want->n_features);
    assert_int_equal(sf_source_n_columns(s), 1);
    assert_string_equal(sf_source_column_name(s, 0), "y");
    read_all(s, &r, false);
    check_rows(&r, want);
    sf_error err;
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    read_all(s, &r, false);
    check_rows(&r, want);
    sf_source_close(s);
}

static void test_tricky(void **state)
{
    (void)state;
    static const int modes[3] = {SF_ZERO_BASED_AUTO, SF_ZERO_BASED_YES, SF_ZERO_BASED_NO};
    const svm_expect *want[3] = {&svm_tricky_auto, &svm_tricky_true, &svm_tricky_false};
    static rows r;
    for (int m = 0; m < 3; m++)
        for (size_t chunk = 1; chunk <= 5; chunk += 2) {
            check_source(SF_TEST_DATA_DIR "/svmlight_tricky.svm", chunk, modes[m], want[m]);
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

/* Opens path (a file or a glob) and reads it whole: the status, the error in err. */
static sf_status read_path(const char *path, int zero_based, uint64_t n_features, sf_error *err)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.zero_based = zero_based;
    o.n_features = n_features;
    sf_source *s = NULL;
    sf_status st = sf_source_open(&s, path, &o, err);
    const sf_table *t;
    while (st == SF_OK) st = sf_source_next(s, &t, err);
    sf_source_close(s);
    return st;
}

/* text -> the error of reading it whole (at open or at next) */
static sf_status read_text(const char *text, int zero_based, uint64_t n_features, sf_error *err)
{
    char *path = sf_test_write_tmp(text, strlen(text), ".svm");
    sf_status st = read_path(path, zero_based, n_features, err);
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

/* ---- pipelines ---- */

/* The numbers of the JSON value after "key": (arrays flattened) into v. */
static size_t json_numbers(const char *json, const char *key, double *v, size_t max)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *q = strstr(json, pat);
    assert_non_null(q);
    q += strlen(pat);
    size_t n = 0;
    int depth = 0;
    do {
        if (*q == '[') depth++;
        else if (*q == ']') depth--;
        else if (*q == ',' || *q == ' ') {
        } else {
            char *end;
            double x = strtod(q, &end);
            assert_true(end > q);
            if (n < max) v[n] = x;
            n++;
            q = end;
            continue;
        }
        q++;
    } while (depth > 0);
    return n;
}

static size_t n_bitwise, n_compared;

static void expect_close(double got, double want, double rel, double abs_tol)
{
    n_compared++;
    if (memcmp(&got, &want, sizeof got) == 0) {
        n_bitwise++;
        return;
    }
    assert_double_close(got, want, rel, abs_tol);
}

static sf_pipeline *fit_file(const char *file, const char *spec, size_t chunk, size_t threads, sf_error *err,
                             sf_status *st_out)
{
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, spec, err), SF_OK);
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = chunk;
    so.segment_bytes = 2048;
    sf_source *src = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", file[0] == '/' ? "" : SF_TEST_DATA_DIR, file);
    sf_status st = sf_source_open(&src, path, &so, err);
    if (st != SF_OK) { /* an error at open is the fit's */
        *st_out = st;
        return pl;
    }
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    *st_out = sf_pipeline_fit(pl, src, &fo, err);
    sf_source_close(src);
    return pl;
}

static void check_model(const sf_pipeline *pl, const svm_model *m)
{
    bool exact = m->scale == NULL;
    double rel = exact ? 0 : 1e-9, abs_tol = exact ? 0 : 1e-12;
    char *json = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    static double v[4096];
    size_t nc = json_numbers(json, "coef_", v, 4096);
    assert_int_equal(nc, m->n_coef * (nc / m->n_coef));
    for (size_t i = 0; i < nc; i++) expect_close(v[i], m->coef[i], rel, abs_tol);
    size_t ni = json_numbers(json, "intercept_", v, 4096);
    assert_int_equal(ni, m->n_coef);
    for (size_t i = 0; i < ni; i++) expect_close(v[i], m->intercept[i], rel, abs_tol);
    assert_int_equal(json_numbers(json, "t_", v, 1), 1);
    assert_double_bits(v[0], m->t);
    assert_non_null(strstr(json, "\"sparse\": true"));
    if (m->scale) { /* scale_ from our merged statistics vs sklearn's mean_variance_axis */
        size_t ns = json_numbers(json, "scale_", v, 4096);
        for (size_t j = 0; j < ns; j++) assert_double_close(v[j], m->scale[j], 1e-14, 0);
    }
    free(json);
}

static void test_parity(void **state)
{
    (void)state;
    static const size_t chunks[4] = {1, 7, 64, 1000};
    for (size_t k = 0; k < SVM_N_MODELS; k++) {
        const svm_model *m = &svm_models[k];
        for (size_t c = 0; c < 4; c++)
            for (size_t threads = 1; threads <= 3; threads++) {
                if (c == 0 && threads > 1) continue; /* one row a chunk: slow, once is enough */
                sf_error err;
                sf_status st;
                sf_pipeline *pl = fit_file(m->file, m->spec, chunks[c], threads, &err, &st);
                if (st != SF_OK) fprintf(stderr, "%s: %s\n", m->name, err.message);
                assert_int_equal(st, SF_OK);
                check_model(pl, m);
                sf_pipeline_free(pl);
            }
    }
    fprintf(stderr, "parity: %zu of %zu coefficients and intercepts bitwise equal to sklearn's\n", n_bitwise,
            n_compared);
}

/* Reads n rows of q numbers from a CSV with a header into v. */
static void read_csv(const char *path, size_t n, size_t q, double *v)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    for (size_t i = 0; i < n; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        char *p = line;
        for (size_t j = 0; j < q; j++) {
            v[i * q + j] = strtod(p, &p);
            if (*p == ',') p++;
        }
    }
    fclose(f);
}

static void predict_to(const sf_pipeline *pl, const char *file, sf_output what, const char *out, sf_status want,
                       sf_error *err)
{
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, file, NULL, err), SF_OK);
    sf_sink *sink = NULL;
    assert_int_equal(sf_sink_open(&sink, out, NULL, err), SF_OK);
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.what = what;
    po.threads = 2;
    sf_status st = sf_pipeline_predict(pl, src, sink, &po, NULL, err);
    if (st != want) fprintf(stderr, "predict: %s\n", err->message);
    assert_int_equal(st, want);
    if (st == SF_OK) assert_int_equal(sf_sink_close(sink, err), SF_OK);
    else sf_sink_abort(sink);
    sf_source_close(src);
}

static void test_predict(void **state)
{
    (void)state;
    char model[] = "/tmp/sf_svm_model_XXXXXX", out[] = "/tmp/sf_svm_pred_XXXXXX.csv";
    int fd = mkstemp(model);
    close(fd);
    fd = mkstemps(out, 4);
    close(fd);
    static double v[SVM_N_PRED * 8];
    for (size_t k = 0; k < SVM_N_MODELS; k++) {
        const svm_model *m = &svm_models[k];
        sf_error err;
        sf_status st;
        sf_pipeline *pl = fit_file(m->file, m->spec, 50, 2, &err, &st);
        assert_int_equal(st, SF_OK);
        assert_int_equal(sf_pipeline_save(pl, model, &err), SF_OK);
        sf_pipeline_free(pl);
        assert_int_equal(sf_pipeline_load(&pl, model, &err), SF_OK);
        check_model(pl, m);
        char file[512];
        snprintf(file, sizeof file, "%s/%s", SF_TEST_DATA_DIR, m->file);
        double rel = m->scale ? 1e-12 : 0;
        predict_to(pl, file, SF_OUTPUT_PREDICT, out, SF_OK, &err);
        read_csv(out, SVM_N_PRED, 1, v);
        for (size_t i = 0; i < SVM_N_PRED; i++) assert_double_close(v[i], m->predict[i], rel, 0);
        if (sf_pipeline_n_classes(pl)) {
            predict_to(pl, file, SF_OUTPUT_DECISION, out, SF_OK, &err);
            read_csv(out, SVM_N_PRED, m->n_out, v);
            for (size_t i = 0; i < SVM_N_PRED * m->n_out; i++) assert_double_close(v[i], m->decision[i], rel, 1e-15);
        }
        if (m->proba) {
            predict_to(pl, file, SF_OUTPUT_PROBA, out, SF_OK, &err);
            read_csv(out, SVM_N_PRED, m->n_proba, v);
            for (size_t i = 0; i < SVM_N_PRED * m->n_proba; i++) assert_double_close(v[i], m->proba[i], rel, 1e-15);
        }
        sf_pipeline_free(pl);
    }
    unlink(model);
    unlink(out);
}

/* The typed CSR calls on bad input: clear errors, state unchanged. */
static void test_typed_csr(void **state)
{
    (void)state;
    sf_error err;
    sf_scaler_params sp;
    sf_scaler_params_default(&sp);
    sf_scaler *sc = NULL;
    assert_int_equal(sf_scaler_new(&sc, &sp, &err), SF_OK);
    const double data[4] = {1, 2, 3, INFINITY};
    const uint32_t ind[4] = {0, 2, 1, 1};
    const size_t ptr[4] = {0, 2, 3, 4};
    assert_int_equal(sf_scaler_partial_fit_csr(sc, data, ind, ptr, 2, 3, NULL, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "with_mean=false"));
    sf_scaler_free(sc);
    sp.with_mean = false;
    assert_int_equal(sf_scaler_new(&sc, &sp, &err), SF_OK);
    assert_int_equal(sf_scaler_partial_fit_csr(sc, data, ind, ptr, 3, 3, NULL, &err), SF_ERR_ARG); /* inf */
    assert_int_equal(sf_scaler_n_features(sc), 0);
    assert_int_equal(sf_scaler_partial_fit_csr(sc, data, ind, ptr, 2, 2, NULL, &err), SF_ERR_SHAPE); /* col 2 */
    assert_int_equal(sf_scaler_partial_fit_csr(sc, data, ind, ptr, 2, 3, NULL, &err), SF_OK);
    /* rows [1 0 2], [0 3 0]: var_ 0.25, 2.25, 1 (population), as the dense path gives */
    const double *var = sf_scaler_var(sc);
    assert_double_close(var[0], 0.25, 1e-15, 0);
    assert_double_close(var[1], 2.25, 1e-15, 0);
    assert_double_close(var[2], 1.0, 1e-15, 0);
    double out[3];
    assert_int_equal(sf_scaler_transform_csr(sc, data, ind, ptr, 2, 3, out, &err), SF_OK);
    assert_double_bits(out[1], 2 * (1.0 / sf_scaler_scale(sc)[2]));
    sf_scaler_free(sc);
    /* sgd: predictions need the model's width and in-range columns */
    sf_sgd_params gp;
    sf_sgd_params_default(&gp, SF_SGD_REGRESSOR);
    sf_sgd *g = NULL;
    assert_int_equal(sf_sgd_new(&g, &gp, &err), SF_OK);
    const double y[2] = {1, 2};
    double pred[2];
    assert_int_equal(sf_sgd_predict_csr(g, data, ind, ptr, 2, 3, pred, 1, &err), SF_ERR_STATE);
    assert_int_equal(sf_sgd_partial_fit_csr(g, data, ind, ptr, 2, 3, y, NULL, &err), SF_OK);
    assert_int_equal(sf_sgd_predict_csr(g, data, ind, ptr, 2, 4, pred, 1, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_sgd_predict_csr(g, data, ind, ptr, 3, 3, pred, 1, &err), SF_ERR_ARG); /* inf */
    assert_int_equal(sf_sgd_predict_csr(g, data, ind, ptr, 2, 3, pred, 1, &err), SF_OK);
    double dense[6] = {1, 0, 2, 0, 3, 0}, want[2];
    assert_int_equal(sf_sgd_predict(g, dense, 2, 3, 3, want, 1, &err), SF_OK);
    assert_double_bits(pred[0], want[0]);
    assert_double_bits(pred[1], want[1]);
    assert_int_equal(sf_sgd_predict_proba_csr(g, data, ind, ptr, 2, 3, pred, 1, &err), SF_ERR_UNSUPPORTED);
    sf_sgd_free(g);
}

static char *fit_json(const char *file, const char *spec, size_t chunk, size_t threads)
{
    sf_error err;
    sf_status st;
    sf_pipeline *pl = fit_file(file, spec, chunk, threads, &err, &st);
    assert_int_equal(st, SF_OK);
    char *json = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    sf_pipeline_free(pl);
    return json;
}

static void test_threads_and_update(void **state)
{
    (void)state;
    const char *spec = "scaler(with_mean=false) | sgd_classifier(loss=log_loss, average=3)";
    char *one = fit_json("svmlight_clf.svm", spec, 33, 1);
    for (size_t t = 2; t <= 3; t++) {
        char *j = fit_json("svmlight_clf.svm", spec, 33, t);
        assert_string_equal(j, one);
        free(j);
    }
    free(one);
    /* split the file after 150 rows (its line numbers differ; the model does not) */
    FILE *f = fopen(SF_TEST_DATA_DIR "/svmlight_clf.svm", "r");
    assert_non_null(f);
    static char a[65536], b[65536];
    size_t na = 0, nb = 0, rows = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (rows++ < 150) memcpy(a + na, line, n), na += n;
        else memcpy(b + nb, line, n), nb += n;
    }
    fclose(f);
    char *pa = sf_test_write_tmp(a, na, ".svm"), *pb = sf_test_write_tmp(b, nb, ".svm");
    char model[] = "/tmp/sf_svm_upd_XXXXXX";
    close(mkstemp(model));
    const char *sgd = "sgd_classifier(loss=hinge, penalty=elasticnet, average=10, classes=[-1, 1, 3])";
    sf_error err;
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, sgd, &err), SF_OK);
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 17;
    so.n_features = SVM_CLF_P; /* the first part's largest index may be lower */
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, pa, &so, &err), SF_OK);
    assert_int_equal(sf_pipeline_fit(pl, src, NULL, &err), SF_OK);
    sf_source_close(src);
    assert_int_equal(sf_pipeline_save(pl, model, &err), SF_OK);
    sf_pipeline_free(pl);
    assert_int_equal(sf_pipeline_load(&pl, model, &err), SF_OK);
    assert_int_equal(sf_source_open(&src, pb, &so, &err), SF_OK);
    assert_int_equal(sf_pipeline_update(pl, src, NULL, &err), SF_OK);
    sf_source_close(src);
    char *upd = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &upd, &err), SF_OK);
    sf_pipeline_free(pl);
    char *whole = fit_json("svmlight_clf.svm", sgd, 64, 2);
    assert_string_equal(upd, whole);
    free(upd);
    free(whole);
    unlink(pa);
    unlink(pb);
    unlink(model);
    free(pa);
    free(pb);
}

static void count_passes(void *ctx, const sf_progress *p)
{
    size_t *n = ctx;
    if (p->done) n[p->kind ? 0 : 1]++;
}

static void test_one_pass(void **state)
{
    (void)state;
    /* and over a glob: the scan of every file saw every label (5 is only in the last file) */
    const char *paths[2] = {SF_TEST_DATA_DIR "/svmlight_clf.svm", MULTI_A};
    const size_t n_features[2] = {SVM_CLF_P, 36}, n_classes[2] = {3, SVM_MULTI_A_N_CLASSES};
    const double last_class[2] = {3.0, 5.0};
    for (int k = 0; k < 4; k++) {
        int given = k % 2, f = k / 2;
        sf_pipeline *pl = NULL;
        sf_error err;
        assert_int_equal(sf_pipeline_new(&pl, "sgd_classifier(loss=log_loss)", &err), SF_OK);
        sf_source *src = open_opts(paths[f], 100, 0, given ? SF_ZERO_BASED_NO : 0, given ? n_features[f] : 0);
        size_t passes[2] = {0, 0}; /* learning, discovery */
        sf_fit_options fo;
        sf_fit_options_init(&fo);
        fo.progress = count_passes;
        fo.progress_ctx = passes;
        fo.threads = 2;
        assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
        assert_int_equal(passes[0], 1);
        assert_int_equal(passes[1], given ? 1 : 0);
        assert_int_equal(sf_pipeline_n_classes(pl), n_classes[f]);
        assert_double_bits(sf_pipeline_classes(pl)[n_classes[f] - 1], last_class[f]);
        sf_source_close(src);
        sf_pipeline_free(pl);
    }
}

static void expect_refused(const char *spec, sf_status want, const char *msg)
{
    sf_error err;
    sf_status st;
    sf_pipeline *pl = fit_file("svmlight_bin.svm", spec, 100, 1, &err, &st);
    if (st != want || !strstr(err.message, msg)) fprintf(stderr, "%s: %d %s\n", spec, (int)st, err.message);
    assert_int_equal(st, want);
    assert_non_null(strstr(err.message, msg));
    assert_int_equal(sf_pipeline_rows_seen(pl), 0); /* refused before any pass */
    sf_pipeline_free(pl);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("linear_regression", SF_ERR_UNSUPPORTED, "(linear_regression) does not take sparse input");
    expect_refused("minibatch_kmeans(n_clusters=2)", SF_ERR_UNSUPPORTED, "does not take sparse input");
    expect_refused("scaler | sgd_classifier", SF_ERR_ARG, "with_mean=false");
    expect_refused("scaler(with_mean=false) | linear_regression", SF_ERR_UNSUPPORTED, "stage 2 (linear_regression)");
    expect_refused("sgd_classifier(shuffle=true)", SF_ERR_UNSUPPORTED, "shuffle");
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, "sgd_regressor", &err), SF_OK);
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, SF_TEST_DATA_DIR "/svmlight_reg.svm", NULL, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.formula = "y ~ x";
    assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "formula"));
    /* fitted on 25 features: a file with fewer predicts, one with index 30 fails at its line */
    fo.formula = NULL;
    assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
    sf_source_close(src);
    char out[] = "/tmp/sf_svm_pred_XXXXXX.csv";
    close(mkstemps(out, 4));
    char *narrow = sf_test_write_tmp("1 1:2\n0 3:1\n", 12, ".svm");
    predict_to(pl, narrow, SF_OUTPUT_PREDICT, out, SF_OK, &err);
    char *wide = sf_test_write_tmp("1 1:2\n0 3:1\n\n2 4:1 30:2\n", 24, ".svm");
    predict_to(pl, wide, SF_OUTPUT_PREDICT, out, SF_ERR_SHAPE, &err);
    assert_int_equal(err.where.line, 4);
    assert_non_null(strstr(err.message, "model has 25 features"));
    /* a CSV for a sparse model, and svmlight for a dense one */
    sf_pipeline_free(pl);
    unlink(narrow);
    unlink(wide);
    unlink(out);
    free(narrow);
    free(wide);
}

/* ---- several files as one source (a glob) ---- */

/* The glob's rows, whole and by segment, are load_svmlight_files' stacked. */
static void test_multi_rows(void **state)
{
    (void)state;
    static rows whole, parts;
    const char *globs[3] = {MULTI_A, SF_TEST_DATA_DIR "/svmlight_multi_b_*.svm",
                            SF_TEST_DATA_DIR "/svmlight_multi_c_*.svm"};
    const svm_expect *want[3] = {&svm_multi_a, &svm_multi_b, &svm_multi_c};
    for (int k = 0; k < 3; k++)
        for (size_t chunk = 1; chunk <= 64; chunk = chunk * 8 - 3) {
            check_source(globs[k], chunk, SF_ZERO_BASED_AUTO, want[k]);
        }
    /* set a: each file's rows keep their own line numbers (file 3 starts with a
     * blank line and a comment) */
    sf_source *s = open_opts(MULTI_A, 16, 0, 0, 0);
    read_all(s, &whole, false);
    sf_source_close(s);
    assert_int_equal(whole.line[0], 1);
    assert_int_equal(whole.line[svm_multi_a_file_rows[0]], 1);
    assert_int_equal(whole.line[svm_multi_a_file_rows[0] + svm_multi_a_file_rows[1]], 3);
    assert_int_equal(whole.line[whole.n - 1], svm_multi_a_file_rows[2] + 2);
    /* segments of ~1 KB across and within files (the .gz file is one): in order,
     * the whole source, with the same lines; chunks name the global segment */
    for (int given = 0; given < 2; given++) {
        s = open_opts(MULTI_A, 5, 1000, given ? SF_ZERO_BASED_NO : 0, given ? svm_multi_a.n_features : 0);
        size_t n_seg = 0;
        sf_error err;
        assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
        assert_true(n_seg >= 8);
        parts.n = parts.nnz = 0;
        parts.indptr[0] = 0;
        for (size_t g = 0; g < n_seg; g++) {
            sf_source *sg = NULL;
            assert_int_equal(sf_source_open_segment(s, g, &sg, &err), SF_OK);
            assert_int_equal(sf_source_n_sparse_features(sg), svm_multi_a.n_features);
            const sf_table *t;
            assert_int_equal(sf_source_next(sg, &t, &err), SF_OK);
            assert_int_equal(t->segment, g);
            assert_int_equal(sf_source_rewind(sg, &err), SF_OK);
            read_all(sg, &parts, true);
            sf_source_close(sg);
        }
        check_rows(&parts, &svm_multi_a);
        assert_memory_equal(parts.line, whole.line, whole.n * sizeof *whole.line);
        sf_source_close(s);
    }
    /* n_features given larger: wider rows, the same entries */
    s = open_opts(MULTI_A, 64, 0, 0, 100);
    assert_int_equal(sf_source_n_sparse_features(s), 100);
    read_all(s, &whole, false);
    check_rows(&whole, &svm_multi_a);
    sf_source_close(s);
}

/* A temporary directory of files: names[i] holds texts[i]. */
static char *write_dir(const char *const *names, const char *const *texts, size_t n)
{
    char *dir = strdup("/tmp/sf_svm_multi_XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(texts[i], 1, strlen(texts[i]), f), strlen(texts[i]));
        fclose(f);
    }
    return dir;
}

static void remove_dir(char *dir, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    free(dir);
}

/* pattern in dir, read whole */
static sf_status read_glob(const char *dir, const char *pattern, int zero_based, uint64_t n_features,
                           sf_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, pattern);
    return read_path(path, zero_based, n_features, err);
}

static void expect_at(sf_status st, const sf_error *err, sf_status want, const char *file, uint64_t line,
                      const char *msg)
{
    if (st != want || !strstr(err->where.source, file) || err->where.line != line || !strstr(err->message, msg))
        fprintf(stderr, "status %d at %s:%llu: %s\n", (int)st, err->where.source,
                (unsigned long long)err->where.line, err->message);
    assert_int_equal(st, want);
    assert_non_null(strstr(err->where.source, file));
    assert_int_equal(err->where.line, line);
    assert_non_null(strstr(err->message, msg));
}

static void test_multi_errors(void **state)
{
    (void)state;
    /* a bad line in the second file, in its second segment: named with its file
     * and its line in that file, when read whole, by segment, and by a fit */
    static char big[8192];
    size_t at = 0;
    for (int i = 1; i <= 80; i++)
        at += (size_t)snprintf(big + at, sizeof big - at, i == 70 ? "1 5:1 3:2\n" : "%d 1:0.5 4:%d.25 7:1 8:0.125 9:3\n",
                               i % 2, i);
    const char *names[2] = {"p_1.svm", "p_2.svm"};
    const char *texts[2] = {"1 1:1\n-1 2:1\n", big};
    char *dir = write_dir(names, texts, 2);
    sf_error err;
    expect_at(read_glob(dir, "p_*.svm", 0, 0, &err), &err, SF_ERR_PARSE, "p_2.svm", 70, "sorted and unique");
    expect_at(read_glob(dir, "p_*.svm", SF_ZERO_BASED_NO, 9, &err), &err, SF_ERR_PARSE, "p_2.svm", 70,
              "sorted and unique");
    char path[512];
    snprintf(path, sizeof path, "%s/p_*.svm", dir);
    for (size_t threads = 1; threads <= 2; threads++) {
        sf_status st;
        sf_pipeline *pl = fit_file(path, "sgd_classifier", 8, threads, &err, &st);
        expect_at(st, &err, SF_ERR_PARSE, "p_2.svm", 70, "sorted and unique");
        sf_pipeline_free(pl);
    }
    /* n_features below the largest index: at open, naming the file that has it */
    expect_at(read_glob(dir, "p_*.svm", 0, 5, &err), &err, SF_ERR_PARSE, "p_2.svm", 1,
              "n_features was set to 5, but the files have index 9");
    /* both given (no scan): the first row past it fails */
    expect_at(read_glob(dir, "p_*.svm", SF_ZERO_BASED_NO, 5, &err), &err, SF_ERR_PARSE, "p_2.svm", 1,
              "beyond the 5 features");
    /* no match: the usual I/O error */
    sf_status st = read_glob(dir, "none_*.svm", 0, 0, &err);
    assert_int_equal(st, SF_ERR_IO);
    assert_non_null(strstr(err.message, "no file matches"));
    remove_dir(dir, names, 2);
    /* set b read one-based: its "-0" index is refused where it is */
    st = read_path(SF_TEST_DATA_DIR "/svmlight_multi_b_*.svm", SF_ZERO_BASED_NO, 0, &err);
    expect_at(st, &err, SF_ERR_PARSE, "svmlight_multi_b_2.svm", 1, "index 0 in a one-based file");
    /* svmlight and CSV files in one glob: refused at open, naming the odd one */
    const char *mixed[2] = {"m_1.svm", "m_2.csv"};
    const char *mtext[2] = {"1 1:1\n", "y,x\n1,2\n"};
    dir = write_dir(mixed, mtext, 2);
    st = read_glob(dir, "m_*", 0, 0, &err);
    expect_at(st, &err, SF_ERR_PARSE, "m_2.csv", 0, "not an svmlight file");
    remove_dir(dir, mixed, 2);
    const char *mixed2[2] = {"m_1.csv", "m_2.svm"};
    const char *mtext2[2] = {"y,x\n1,2\n", "1 1:1\n"};
    dir = write_dir(mixed2, mtext2, 2);
    st = read_glob(dir, "m_*", 0, 0, &err);
    expect_at(st, &err, SF_ERR_PARSE, "m_2.svm", 0, "the first file is not");
    remove_dir(dir, mixed2, 2);
}

/* Fits of the glob equal sklearn's partial_fit over load_svmlight_files' rows
 * and, byte for byte, the fit of the files' text concatenated into one file. */
static void test_multi_fit(void **state)
{
    (void)state;
    for (size_t k = 0; k < SVM_MULTI_N_MODELS; k++) {
        const svm_model *m = &svm_multi_models[k];
        char *cat = fit_json("svmlight_multicat_a.svm", m->spec, 64, 1);
        for (size_t chunk = 7; chunk <= 1000; chunk *= 11)
            for (size_t threads = 1; threads <= 2; threads++) {
                sf_error err;
                sf_status st;
                sf_pipeline *pl = fit_file(m->file, m->spec, chunk, threads, &err, &st);
                if (st != SF_OK) fprintf(stderr, "%s: %s\n", m->name, err.message);
                assert_int_equal(st, SF_OK);
                check_model(pl, m);
                assert_int_equal(sf_pipeline_n_classes(pl), SVM_MULTI_A_N_CLASSES);
                for (size_t c = 0; c < SVM_MULTI_A_N_CLASSES; c++)
                    assert_double_bits(sf_pipeline_classes(pl)[c], svm_multi_a_classes[c]);
                char *json = NULL;
                assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
                assert_string_equal(json, cat);
                free(json);
                sf_pipeline_free(pl);
            }
        free(cat);
    }
}

int main(void)
{
    sf_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricky),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_typed_csr),
        cmocka_unit_test(test_threads_and_update),
        cmocka_unit_test(test_one_pass),
        cmocka_unit_test(test_multi_rows),
        cmocka_unit_test(test_multi_errors),
        cmocka_unit_test(test_multi_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
