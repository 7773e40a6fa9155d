/* test_filter.c — row filters (sf_source_filter, the CLI's --where).
 *
 * What is compared, exactly (row selections are sets of row numbers; values
 * bitwise):
 * - the rows kept for 36 expressions on tests/data/filter.csv (missing numbers
 *   and text, integers, text columns) equal pandas 1.5.3's
 *   DataFrame.query(expr, engine="python") (tests/reference/filter_fixture.h, made
 *   by make_filter_fixtures.py), for chunk sizes 1, 7 and 60 (1 and 7 make chunks
 *   with no row kept); kept rows keep their values, lines and record numbers
 *   (sf_table_row); the counts are 60 seen and 60 - kept dropped;
 * - np.log / log and Q('fare') / fare give the same rows;
 * - bad expressions fail with SF_ERR_ARG, where.source "<where>", the exact
 *   1-based column and the message's words, leaving the inner source usable;
 * - on a 20,000-row CSV cut into ~40 segments: the filter read whole, segment by
 *   segment, and in a pool of 1 and 3 threads keeps the rows a C predicate keeps,
 *   in order; the counts (whole read, and the segments' sum) equal the
 *   predicate's; a rewind reads the same rows and does not add to the counts;
 * - a memory source filtered over several segments keeps the right values and
 *   record numbers (no line numbers there);
 * - a glob of two files whose dictionaries differ (codes in another order, a
 *   label absent from one) keeps the rows the labels say, for chunks of 1 and 8;
 * - an SGD fit (3 epochs) on the filter is bitwise the fit on a file of the
 *   kept rows (the models' JSON compared);
 * - parallel prediction (2 threads, many segments) through a filter writes the
 *   same bytes as prediction on a file holding only the kept rows, and a design
 *   error on a filtered chunk names the row's own record number and line.
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <unistd.h>

#include "reference/filter_fixture.h"

#define DATA SF_TEST_DATA_DIR "/filter.csv"

static sf_source *open_csv(const char *path, size_t chunk_rows, uint64_t segment_bytes)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    if (segment_bytes) o.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &o, &err), SF_OK);
    return s;
}

static sf_source *open_filter(sf_source *inner, const char *expr)
{
    sf_source *f = NULL;
    sf_error err;
    sf_status st = sf_source_filter(&f, inner, expr, &err);
    if (st != SF_OK) fail_msg("%s: %s (column %llu)", expr, err.message, (unsigned long long)err.where.column);
    return f;
}

static void t_pandas_parity(void **state)
{
    (void)state;
    sf_error err;
    sf_source *plain = open_csv(DATA, 60, 0);
    rows all = {0};
    assert_int_equal(read_all(plain, &all, &err), SF_END);
    sf_source_close(plain);
    assert_int_equal(all.n, FILTER_ROWS);
    const size_t chunks[] = {1, 7, 60};
    for (size_t c = 0; c < sizeof filter_cases / sizeof filter_cases[0]; c++) {
        const char *expr = filter_cases[c][0], *want = filter_cases[c][1];
        size_t n_want = 0;
        for (size_t i = 0; i < FILTER_ROWS; i++) n_want += want[i] == '1';
        for (size_t k = 0; k < 3; k++) {
            sf_source *f = open_filter(open_csv(DATA, chunks[k], 0), expr);
            char got[FILTER_ROWS + 1];
            memset(got, '0', FILTER_ROWS);
            got[FILTER_ROWS] = '\0';
            const sf_table *t;
            sf_status st;
            size_t n = 0;
            while ((st = sf_source_next(f, &t, &err)) == SF_OK) {
                assert_true(t->n_rows >= 1);
                for (size_t i = 0; i < t->n_rows; i++) {
                    uint64_t rec = sf_table_row(t, i);
                    assert_true(rec >= 1 && rec <= FILTER_ROWS);
                    assert_int_equal(t->line[i], rec + 1); /* the header is line 1 */
                    got[rec - 1] = '1';
                    n++;
                    for (size_t j = 0; j < t->n_cols; j++) { /* the row's own values */
                        const sf_column *col = &t->cols[j];
                        size_t a = (rec - 1) * all.n_cols + j;
                        assert_int_equal(col->missing[i], all.miss[a]);
                        if (col->missing[i]) continue;
                        if (col->type == SF_COL_FLOAT) assert_double_bits(col->values[i], all.v[a]);
                        else assert_string_equal(sf_dict_label(col->dict, (size_t)col->codes[i], NULL), all.label[a]);
                    }
                }
            }
            assert_int_equal(st, SF_END);
            if (strcmp(got, want) != 0) fail_msg("%s (chunk %zu):\n got  %s\n want %s", expr, chunks[k], got, want);
            assert_int_equal(n, n_want);
            uint64_t seen, dropped;
            assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
            assert_int_equal(seen, FILTER_ROWS);
            assert_int_equal(dropped, FILTER_ROWS - n_want);
            sf_source_close(f);
        }
    }
    rows_free(&all);
}

/* The rows expr keeps, as a '0'/'1' string (caller frees). */
static char *mask_of(const char *expr)
{
    sf_error err;
    sf_source *f = open_filter(open_csv(DATA, 7, 0), expr);
    char *m = calloc(FILTER_ROWS + 1, 1);
    memset(m, '0', FILTER_ROWS);
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(f, &t, &err)) == SF_OK)
        for (size_t i = 0; i < t->n_rows; i++) m[sf_table_row(t, i) - 1] = '1';
    assert_int_equal(st, SF_END);
    sf_source_close(f);
    return m;
}

static void t_spellings(void **state)
{
    (void)state;
    const char *same[][2] = {
        {"np.log(fare) > 2.5", "log(fare) > 2.5"},
        {"numpy.sqrt(trip_time_in_secs) > 30", "sqrt(trip_time_in_secs) > 30"},
        {"Q('fare') > 5 and Q('vendor') == 'CMT'", "fare > 5 and vendor == 'CMT'"},
        {"(fare > 5)", "fare > 5"},
        {"5 < fare", "fare > 5"},
        {"'M' <= flag", "flag >= 'M'"},
        {"vendor in ('CMT', 'VTS')", "vendor == 'CMT' or vendor == 'VTS'"},
        {"vendor not in []", "True"},
        {"passenger_count in [-1, 1, 2.0]", "passenger_count == 1 or passenger_count == 2"},
        {"not not fare > 5", "fare > 5"},
        {"fare > 5 or fare > 5 and False", "fare > 5"},
        {"(passenger_count > 1) + (fare > 10) >= 1", "passenger_count > 1 or fare > 10"},
        {"1 < 2", "True"},
        {"not True", "False"},
        {"fare > 10 & passenger_count < 2 | ~(vendor == 'CMT')",
         "fare > 10 and passenger_count < 2 or not vendor == 'CMT'"},
    };
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
        char *a = mask_of(same[k][0]), *b = mask_of(same[k][1]);
        if (strcmp(a, b) != 0) fail_msg("%s\n  %s\n%s\n  %s", same[k][0], a, same[k][1], b);
        free(a);
        free(b);
    }
    char *none = mask_of("False"), *every = mask_of("True");
    for (size_t i = 0; i < FILTER_ROWS; i++) {
        assert_int_equal(none[i], '0');
        assert_int_equal(every[i], '1');
    }
    free(none);
    free(every);
}

static void t_errors(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        unsigned column;
        const char *words;
    } bad[] = {
        {"", 1, "empty expression"},
        {"fare >", 7, "got the end of the expression"},
        {"fare > 1 and", 13, "expected a value"},
        {"not", 4, "expected a value"},
        {"fares > 1", 1, "unknown column 'fares' (did you mean 'fare'?)"},
        {"fare > 1 and vendor + 1 > 2", 14, "column 'vendor' holds text"},
        {"fare == 'x'", 1, "column 'fare' is numeric"},
        {"'x' != passenger_count", 8, "column 'passenger_count' is numeric"},
        {"fare + 1", 1, "must be a condition"},
        {"vendor", 1, "holds text"},
        {"fare > 1 and passenger_count", 14, "'and' needs a condition"},
        {"not fare", 5, "'not' needs a condition"},
        {"~fare < 2", 2, "'not' needs a condition"}, /* pandas: ~ binds to fare (TypeError) */
        {"fare > 1 & fare // 3", 17, "operator '//' is not supported"},
        {"fare > 1 &", 11, "got the end of the expression"},
        {"center(fare) > 0", 1, "learns from the data"},
        {"vendor in 'CMT'", 11, "'in' needs a list"},
        {"vendor in ['CMT', 2]", 19, "mixes strings and numbers"},
        {"fare in ['a']", 1, "column 'fare' is numeric"},
        {"vendor in [1]", 1, "holds text"},
        {"foo(fare) > 1", 1, "unknown function 'foo'"},
        {"fare > 'x' + 1", 8, "a string can only be compared with a text column"},
        {"[1, 2] == fare", 1, "a list can only follow"},
        {"fare > 1 and and fare < 2", 14, "expected a value, got 'and'"},
        {"fare is None", 6, "expected an operator"},
        {"fare > \"unclosed", 8, "unclosed string"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sf_source *inner = open_csv(DATA, 16, 0), *f = (sf_source *)&f;
        sf_error err;
        sf_error_clear(&err);
        sf_status st = sf_source_filter(&f, inner, bad[k].expr, &err);
        if (st != SF_ERR_ARG || strcmp(err.where.source, "<where>") != 0 || err.where.column != bad[k].column ||
            !strstr(err.message, bad[k].words))
            fail_msg("\"%s\": status %d, source \"%s\", column %llu (want %u), message \"%s\" (want \"%s\")",
                     bad[k].expr, (int)st, err.where.source, (unsigned long long)err.where.column, bad[k].column,
                     err.message, bad[k].words);
        assert_null(f);
        const sf_table *t; /* the inner source is untouched: still the caller's */
        assert_int_equal(sf_source_next(inner, &t, &err), SF_OK);
        assert_int_equal(t->n_rows, 16);
        sf_source_close(inner);
    }
    sf_error err;
    sf_source *f = NULL, *inner = open_csv(DATA, 16, 0);
    uint64_t a, b;
    assert_int_equal(sf_source_filter(NULL, inner, "True", &err), SF_ERR_ARG);
    assert_int_equal(sf_source_filter(&f, NULL, "True", &err), SF_ERR_ARG);
    assert_int_equal(sf_source_filter(&f, inner, NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_source_filter_counts(inner, &a, &b, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "not a filtered source"));
    assert_int_equal(sf_source_filter_counts(NULL, &a, &b, &err), SF_ERR_ARG);
    sf_source_close(inner);
}

/* ---- many segments, threads ---- */

#define BIG_ROWS 20000

/* Row i of the big file, and whether the C predicate below keeps it. */
static int big_row(char *t, size_t i, bool *keep)
{
    unsigned x = (unsigned)i * 2654435761u + 7u;
    double secs = (double)(x % 3600);
    int pass = (int)((x >> 12) % 5);
    const char *lab[4] = {"CMT", "VTS", "DDS", ""};
    const char *v = lab[(x >> 20) % 4];
    bool secs_missing = i % 29 == 3;
    /* "trip_time_in_secs > 1200 and passenger_count >= 2 or vendor == 'DDS'" */
    *keep = (!secs_missing && secs > 1200 && pass >= 2) || strcmp(v, "DDS") == 0;
    if (i % 500 < 100) *keep = false, v = "CMT", pass = 0; /* whole chunks with no row kept */
    double y = 0.5 * secs / 100.0 + pass + (i % 7) * 0.25;
    if (secs_missing) return sprintf(t, ",%d,%s,%.17g\n", pass, v, y);
    return sprintf(t, "%.17g,%d,%s,%.17g\n", secs, pass, v, y);
}

static const char *const big_expr = "trip_time_in_secs > 1200 and passenger_count >= 2 or vendor == 'DDS'";

typedef struct big {
    char *path, *kept_path; /* every row; only the kept rows */
    uint8_t keep[BIG_ROWS];
    size_t n_keep;
} big;

static void big_make(big *b)
{
    static const char header[] = "trip_time_in_secs,passenger_count,vendor,y\n";
    size_t cap = (size_t)BIG_ROWS * 64 + 64, n = 0, m = 0;
    char *all = malloc(cap), *kept = malloc(cap);
    n += (size_t)sprintf(all, "%s", header);
    m += (size_t)sprintf(kept, "%s", header);
    b->n_keep = 0;
    for (size_t i = 0; i < BIG_ROWS; i++) {
        bool k;
        int len = big_row(all + n, i, &k);
        if (k) {
            memcpy(kept + m, all + n, (size_t)len);
            m += (size_t)len;
        }
        n += (size_t)len;
        b->keep[i] = k;
        b->n_keep += k;
    }
    b->path = sf_test_write_tmp(all, n, ".csv");
    b->kept_path = sf_test_write_tmp(kept, m, ".csv");
    free(all);
    free(kept);
}

static void big_free(big *b)
{
    unlink(b->path);
    unlink(b->kept_path);
    free(b->path);
    free(b->kept_path);
}

/* Checks that r holds exactly the kept rows, in order (by line: row i is line i + 2). */
static void assert_kept(const big *b, const rows *r)
{
    assert_int_equal(r->n, b->n_keep);
    size_t k = 0;
    for (size_t i = 0; i < BIG_ROWS; i++)
        if (b->keep[i]) assert_int_equal(r->line[k++], i + 2);
}

typedef struct seg_job {
    sf_source *src;
    rows *per_seg;
} seg_job;

static sf_status read_seg(void *ctx, size_t g, size_t worker, sf_error *err)
{
    (void)worker;
    seg_job *j = ctx;
    sf_source *s = NULL;
    sf_status st = sf_source_open_segment(j->src, g, &s, err);
    if (st != SF_OK) return st;
    st = read_all(s, &j->per_seg[g], err);
    sf_source_close(s);
    return st == SF_END ? SF_OK : st;
}

static void t_segments_threads(void **state)
{
    (void)state;
    big b;
    big_make(&b);
    sf_error err;
    uint64_t seen, dropped;
    /* whole */
    sf_source *f = open_filter(open_csv(b.path, 100, 16 << 10), big_expr);
    rows whole = {0};
    assert_int_equal(read_all(f, &whole, &err), SF_END);
    assert_kept(&b, &whole);
    assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
    assert_int_equal(seen, BIG_ROWS);
    assert_int_equal(dropped, BIG_ROWS - b.n_keep);
    /* a rewind reads the same rows and replaces, not adds to, the counts */
    assert_int_equal(sf_source_rewind(f, &err), SF_OK);
    rows again = {0};
    assert_int_equal(read_all(f, &again, &err), SF_END);
    assert_rows_equal(&whole, &again);
    assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
    assert_int_equal(seen, BIG_ROWS);
    assert_int_equal(dropped, BIG_ROWS - b.n_keep);
    rows_free(&again);
    sf_source_close(f);
    /* segment by segment, in order */
    f = open_filter(open_csv(b.path, 100, 16 << 10), big_expr);
    rows segs = {0};
    size_t n_seg = read_segments(f, &segs);
    assert_true(n_seg >= 20);
    assert_rows_equal(&whole, &segs);
    assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
    assert_int_equal(seen, BIG_ROWS);
    assert_int_equal(dropped, BIG_ROWS - b.n_keep);
    rows_free(&segs);
    /* in a pool, 1 and 3 threads, the segments concatenated in order */
    for (size_t threads = 1; threads <= 3; threads += 2) {
        sf_pool *pool = NULL;
        assert_int_equal(sf_pool_new(&pool, threads, &err), SF_OK);
        seg_job j = {f, calloc(n_seg, sizeof(rows))};
        assert_int_equal(sf_pool_run(pool, n_seg, read_seg, &j, &err), SF_OK);
        rows cat = {0};
        for (size_t g = 0; g < n_seg; g++) {
            rows *r = &j.per_seg[g];
            for (size_t i = 0; i < r->n; i++) { /* append row i of r */
                size_t nc = r->n_cols, k = cat.n;
                cat.n_cols = nc;
                cat.v = realloc(cat.v, (k + 1) * nc * sizeof *cat.v);
                cat.label = realloc(cat.label, (k + 1) * nc * sizeof *cat.label);
                cat.miss = realloc(cat.miss, (k + 1) * nc);
                cat.line = realloc(cat.line, (k + 1) * sizeof *cat.line);
                memcpy(cat.v + k * nc, r->v + i * nc, nc * sizeof *cat.v);
                memcpy(cat.miss + k * nc, r->miss + i * nc, nc);
                for (size_t c = 0; c < nc; c++)
                    cat.label[k * nc + c] = r->label[i * nc + c] ? strdup(r->label[i * nc + c]) : NULL;
                cat.line[k] = r->line[i];
                cat.n++;
            }
            rows_free(r);
        }
        assert_rows_equal(&whole, &cat);
        assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
        assert_int_equal(dropped, BIG_ROWS - b.n_keep);
        rows_free(&cat);
        free(j.per_seg);
        sf_pool_free(pool);
    }
    sf_source_close(f);
    rows_free(&whole);
    big_free(&b);
}

static void t_memory_source(void **state)
{
    (void)state;
    enum { N = 1000, P = 2 };
    double *x = malloc(N * P * sizeof *x);
    for (size_t i = 0; i < N; i++) {
        x[i * P] = (double)((i * 37) % 101) / 100.0;
        x[i * P + 1] = i % 9 == 0 ? NAN : (double)i;
    }
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 64;
    o.segment_rows = 300;
    sf_source *m = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&m, x, N, P, P, NULL, NULL, NULL, &o, &err), SF_OK);
    sf_source *f = open_filter(m, "x0 > 0.5 and not x1 < 100");
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(f, &n_seg, &err), SF_OK);
    assert_int_equal(n_seg, 4);
    size_t want = 0, got = 0;
    for (size_t g = 0; g < n_seg; g++) {
        sf_source *s = NULL;
        assert_int_equal(sf_source_open_segment(f, g, &s, &err), SF_OK);
        const sf_table *t;
        sf_status st;
        while ((st = sf_source_next(s, &t, &err)) == SF_OK)
            for (size_t i = 0; i < t->n_rows; i++, got++) {
                size_t r = g * 300 + sf_table_row(t, i) - 1; /* record numbers count within the segment */
                assert_double_bits(t->cols[0].values[i], x[r * P]);
                assert_true(x[r * P] > 0.5 && !(x[r * P + 1] < 100));
            }
        assert_int_equal(st, SF_END);
        sf_source_close(s);
    }
    for (size_t i = 0; i < N; i++) want += x[i * P] > 0.5 && !(x[i * P + 1] < 100);
    assert_int_equal(got, want);
    uint64_t seen, dropped;
    assert_int_equal(sf_source_filter_counts(f, &seen, &dropped, &err), SF_OK);
    assert_int_equal(seen, N);
    assert_int_equal(dropped, N - want);
    sf_source_close(f);
    free(x);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fh = fopen(path, "rb");
    assert_non_null(fh);
    fseek(fh, 0, SEEK_END);
    long len = ftell(fh);
    fseek(fh, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    assert_int_equal(fread(s, 1, (size_t)len, fh), (size_t)len);
    fclose(fh);
    *n = (size_t)len;
    return s;
}

static void predict_to(const sf_pipeline *pl, sf_source *src, const char *out)
{
    sf_error err;
    sf_sink *sink = NULL;
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.threads = 2;
    sf_predict_stats stats;
    assert_int_equal(sf_sink_open(&sink, out, NULL, &err), SF_OK);
    if (sf_pipeline_predict(pl, src, sink, &po, &stats, &err) != SF_OK) fail_msg("%s", err.message);
    assert_int_equal(sf_sink_close(sink, &err), SF_OK);
}

static void t_predict_order(void **state)
{
    (void)state;
    big b;
    big_make(&b);
    sf_error err;
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "scaler | linear_regression", &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.target = "y";
    fo.columns = "trip_time_in_secs,passenger_count";
    fo.threads = 2;
    sf_source *kept = open_csv(b.kept_path, 100, 0);
    assert_int_equal(sf_pipeline_fit(pl, kept, &fo, &err), SF_OK);
    sf_source_close(kept);
    char out1[] = "/tmp/sf_filter_pred1_XXXXXX.csv", out2[] = "/tmp/sf_filter_pred2_XXXXXX.csv";
    close(mkstemps(out1, 4));
    close(mkstemps(out2, 4));
    sf_source *f = open_filter(open_csv(b.path, 100, 16 << 10), big_expr);
    predict_to(pl, f, out1);
    sf_source_close(f);
    kept = open_csv(b.kept_path, 100, 16 << 10);
    predict_to(pl, kept, out2);
    sf_source_close(kept);
    size_t n1, n2;
    char *a = slurp(out1, &n1), *c = slurp(out2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, c, n1);
    size_t lines = 0;
    for (size_t i = 0; i < n1; i++) lines += a[i] == '\n';
    assert_true(lines >= b.n_keep);
    free(a);
    free(c);
    unlink(out1);
    unlink(out2);
    sf_pipeline_free(pl);
    big_free(&b);
}

/* Fitting on the filter equals fitting on a file of the kept rows: an in-order
 * learner (SGD, 3 epochs, rewinding the source) bitwise, whole JSON compared. */
static void t_fit_parity(void **state)
{
    (void)state;
    big b;
    big_make(&b);
    sf_error err;
    char *json[2];
    for (int k = 0; k < 2; k++) {
        sf_pipeline *pl = NULL;
        assert_int_equal(sf_pipeline_new(&pl, "sgd_regressor(eta0=0.001, random_state=3)", &err), SF_OK);
        sf_fit_options fo;
        sf_fit_options_init(&fo);
        fo.target = "y";
        fo.columns = "trip_time_in_secs,passenger_count";
        fo.epochs = 3;
        fo.threads = 2;
        sf_source *src = k ? open_csv(b.kept_path, 100, 16 << 10) : open_filter(open_csv(b.path, 100, 16 << 10), big_expr);
        if (sf_pipeline_fit(pl, src, &fo, &err) != SF_OK) fail_msg("%s", err.message);
        assert_int_equal(sf_pipeline_to_json(pl, &json[k], &err), SF_OK);
        sf_source_close(src);
        sf_pipeline_free(pl);
    }
    assert_string_equal(json[0], json[1]);
    free(json[0]);
    free(json[1]);
    big_free(&b);
}

/* A design error on a filtered chunk names the row's own record number and line. */
static void t_error_row(void **state)
{
    (void)state;
    sf_error err;
    sf_design *d = NULL;
    assert_int_equal(sf_design_new(&d, "fare ~ C(vendor)", NULL, &err), SF_OK);
    sf_source *fit = open_filter(open_csv(DATA, 60, 0), "vendor != 'DDS'");
    assert_int_equal(sf_design_bind(d, fit, &err), SF_OK);
    assert_int_equal(sf_design_fit_source(d, fit, 1, &err), SF_OK);
    sf_source_close(fit);
    /* the first DDS row with fare > 20 (pandas' selection) */
    char *dds = mask_of("vendor == 'DDS' and fare > 20");
    size_t first = 0;
    while (first < FILTER_ROWS && dds[first] != '1') first++;
    assert_true(first < FILTER_ROWS);
    sf_source *f = open_filter(open_csv(DATA, 60, 0), "fare > 20");
    const sf_table *t;
    assert_int_equal(sf_source_next(f, &t, &err), SF_OK);
    assert_non_null(t->row); /* rows were dropped: not consecutive */
    double x[60 * 8], y[60];
    size_t n_out;
    sf_error_clear(&err);
    assert_int_equal(sf_design_build(d, t, x, 8, y, &n_out, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, first + 1);
    assert_int_equal(err.where.line, first + 2);
    free(dds);
    sf_source_close(f);
    sf_design_free(d);
}

/* Several files, each with its own dictionary (codes in another order, a label
 * absent from one file): text comparisons look labels up per chunk. */
static void t_glob_dictionaries(void **state)
{
    (void)state;
    char dir[] = "/tmp/sf_filter_glob_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p1[96], p2[96], pat[96];
    snprintf(p1, sizeof p1, "%s/f-1.csv", dir);
    snprintf(p2, sizeof p2, "%s/f-2.csv", dir);
    snprintf(pat, sizeof pat, "%s/f-*.csv", dir);
    FILE *f = fopen(p1, "w");
    fputs("v,x\nVTS,1\nCMT,2\nVTS,3\n,4\nDDS,5\n", f);
    fclose(f);
    f = fopen(p2, "w");
    fputs("v,x\nDDS,6\nCMT,7\nCMT,8\n,9\n", f); /* no VTS; DDS is code 0 here */
    fclose(f);
    static const struct {
        const char *expr, *want; /* x of the kept rows */
    } cases[] = {
        {"v == 'VTS'", "1 3"},
        {"v != 'VTS'", "2 4 5 6 7 8 9"},
        {"v in ['DDS', 'VTS']", "1 3 5 6"},
        {"v not in ['DDS', 'nosuch']", "1 2 3 4 7 8 9"},
        {"v < 'D'", "2 7 8"},
        {"v >= 'DDS' and x > 2", "3 5 6"},
        {"not v == 'CMT'", "1 3 4 5 6 9"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (size_t chunk = 1; chunk <= 8; chunk += 7) {
            sf_source *src = open_filter(open_csv(pat, chunk, 0), cases[k].expr);
            char got[64] = "";
            size_t len = 0;
            const sf_table *t;
            sf_error err;
            sf_status st;
            while ((st = sf_source_next(src, &t, &err)) == SF_OK)
                for (size_t i = 0; i < t->n_rows; i++)
                    len += (size_t)snprintf(got + len, sizeof got - len, "%s%g", len ? " " : "", t->cols[1].values[i]);
            assert_int_equal(st, SF_END);
            if (strcmp(got, cases[k].want) != 0)
                fail_msg("%s (chunk %zu): got \"%s\", want \"%s\"", cases[k].expr, chunk, got, cases[k].want);
            sf_source_close(src);
        }
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_pandas_parity), cmocka_unit_test(t_spellings),     cmocka_unit_test(t_errors),
        cmocka_unit_test(t_segments_threads), cmocka_unit_test(t_memory_source), cmocka_unit_test(t_predict_order),
        cmocka_unit_test(t_error_row), cmocka_unit_test(t_glob_dictionaries),
        cmocka_unit_test(t_fit_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
