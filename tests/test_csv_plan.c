/* test_csv_plan.c — lazy segment planning of CSV files (io/csv_plan.c).
 *
 * What is compared (all exact, no tolerances):
 * 1. Segments opened from two threads at once, in an interleaved order, hold the
 *    whole file's rows row for row (doubles bitwise, labels, missing flags and
 *    line numbers), for texts with quoted line ends, CRLF and bare CR line ends,
 *    and segment sizes down to one byte (empty segments appear there: a quoted
 *    record spans a whole segment).
 * 2. An error in a late segment, after quoted line ends and CRLFs, names the line
 *    the whole-file reader names (the line numbers before a segment are counted
 *    by the blocks' scans and summed).
 * 3. A fit through the pipeline (scaler | linear_regression) on tiny segments,
 *    empty ones among them: the model's JSON is byte for byte the same with 1 and
 *    2 threads, every row is seen once (rows_seen equals the file's rows), and it
 *    equals the model fitted on a single segment to 1e-12 relative or 1e-12
 *    absolute (values near zero; partial states merge in another grouping there).
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <pthread.h>
#include <unistd.h>

#include "streamfit/sf_pipeline.h"

/* Rows with quoted labels holding delimiters and line ends, and the line end
 * eol ("\n", "\r\n" or "\r"). */
static char *make_text(size_t n_rows, const char *eol)
{
    size_t cap = n_rows * 96 + 64, k = 0;
    char *t = malloc(cap);
    k += (size_t)sprintf(t + k, "a,b,label,y%s", eol);
    unsigned x = 4242;
    for (size_t i = 0; i < n_rows; i++) {
        x = x * 1103515245u + 12345u;
        double a = (double)(x % 100003) / 991.0 - 50.0;
        const char *lab[5] = {"red", "\"a \"\"q\"\" b\"", "\"bl,ue\"", "\"multi\nline\"",
                              "\"two\r\nlines\""};
        k += (size_t)sprintf(t + k, "%.17g,%zu,%s,%.3f%s", a, i % 97, lab[(x >> 16) % 5],
                             a * 0.5 + (double)(i % 7), eol);
    }
    return t;
}

typedef struct opener {
    sf_source *src;
    size_t n_seg, first, step;
    rows *per_seg; /* one per segment */
    sf_status st;
} opener;

static void *open_some(void *arg)
{
    opener *o = arg;
    for (size_t g = o->first; g < o->n_seg; g += o->step) {
        sf_source *seg = NULL;
        sf_error err;
        o->st = sf_source_open_segment(o->src, g, &seg, &err);
        if (o->st != SF_OK) return NULL;
        sf_status st = read_all(seg, &o->per_seg[g], &err);
        sf_source_close(seg);
        if (st != SF_END) {
            o->st = st;
            return NULL;
        }
    }
    return NULL;
}

static void check_threads_union(const char *path, uint64_t segment_bytes, size_t *n_empty)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 29;
    so.types = "label=category";
    so.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &so, &err), SF_OK);
    rows whole = {0};
    assert_int_equal(read_all(s, &whole, &err), SF_END);
    size_t n_seg = 0;
    assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
    rows *per = calloc(n_seg, sizeof *per);
    /* thread A opens the even segments from the end, B the odd ones from the
     * start: blocks are needed out of order and at once */
    opener a = {s, n_seg, 0, 2, per, SF_OK}, b = {s, n_seg, 1, 2, per, SF_OK};
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, open_some, &a), 0);
    open_some(&b);
    pthread_join(ta, NULL);
    assert_int_equal(a.st, SF_OK);
    assert_int_equal(b.st, SF_OK);
    /* concatenate in segment order */
    rows u = {0};
    for (size_t g = 0; g < n_seg; g++) {
        rows *r = &per[g];
        if (r->n == 0) {
            (*n_empty)++;
            continue;
        }
        size_t n0 = u.n, nc = r->n_cols;
        u.n_cols = nc;
        u.n += r->n;
        u.v = realloc(u.v, u.n * nc * sizeof *u.v);
        u.label = realloc(u.label, u.n * nc * sizeof *u.label);
        u.miss = realloc(u.miss, u.n * nc);
        u.line = realloc(u.line, u.n * sizeof *u.line);
        memcpy(u.v + n0 * nc, r->v, r->n * nc * sizeof *u.v);
        memcpy(u.label + n0 * nc, r->label, r->n * nc * sizeof *u.label);
        memcpy(u.miss + n0 * nc, r->miss, r->n * nc);
        memcpy(u.line + n0, r->line, r->n * sizeof *u.line);
        r->n = 0; /* the labels moved to u */
        rows_free(r);
    }
    free(per);
    assert_rows_equal(&whole, &u);
    rows_free(&whole);
    rows_free(&u);
    sf_source_close(s);
}

static void test_threads_union(void **state)
{
    (void)state;
    const char *eols[] = {"\n", "\r\n", "\r"};
    size_t empty = 0;
    for (size_t e = 0; e < 3; e++) {
        char *text = make_text(700, eols[e]);
        char *path = sf_test_write_tmp(text, strlen(text), ".csv");
        uint64_t sizes[] = {1, 13, 64, 333, 4096, 1u << 20};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_threads_union(path, sizes[k], &empty);
        unlink(path);
        free(path);
        free(text);
    }
    assert_true(empty > 0); /* the tiny sizes cut inside quoted records */
}

/* A bad number in the last rows: each segment that reads it names the line. */
static void test_error_line(void **state)
{
    (void)state;
    char *body = make_text(300, "\r\n");
    size_t n = strlen(body);
    char *text = malloc(n + 64);
    memcpy(text, body, n);
    strcpy(text + n, "1.5,3,red,oops\r\n2.5,4,red,1\r\n");
    /* physical lines: the header, 300 records (one in five holds "\n" inside
     * quotes, one in five "\r\n": each a line end more), then the bad one */
    uint64_t want_line = 0;
    for (size_t i = 0; i < n; i++)
        want_line += text[i] == '\n' || (text[i] == '\r' && text[i + 1] != '\n');
    want_line += 1;
    char *path = sf_test_write_tmp(text, strlen(text), ".csv");
    sf_source_options so;
    sf_source_options_init(&so);
    so.types = "label=category";
    so.chunk_rows = 50;
    sf_source *s = NULL;
    sf_error err;
    /* the whole file */
    assert_int_equal(sf_source_open(&s, path, &so, &err), SF_OK);
    rows r = {0};
    assert_int_equal(read_all(s, &r, &err), SF_ERR_PARSE);
    assert_int_equal(err.where.line, want_line);
    rows_free(&r);
    sf_source_close(s);
    uint64_t sizes[] = {7, 500, 3000};
    for (size_t k = 0; k < 3; k++) {
        so.segment_bytes = sizes[k];
        assert_int_equal(sf_source_open(&s, path, &so, &err), SF_OK);
        size_t n_seg = 0, seen = 0;
        assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
        assert_true(n_seg > 2);
        for (size_t g = n_seg; g-- > 0;) { /* the last first: no block read before */
            sf_source *seg = NULL;
            assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
            rows u = {0};
            sf_status st = read_all(seg, &u, &err);
            if (st != SF_END) {
                assert_int_equal(st, SF_ERR_PARSE);
                assert_int_equal(err.where.line, want_line);
                seen++;
            }
            rows_free(&u);
            sf_source_close(seg);
        }
        assert_int_equal(seen, 1);
        sf_source_close(s);
    }
    unlink(path);
    free(path);
    free(text);
    free(body);
}

static char *fit_json(const char *path, uint64_t segment_bytes, size_t threads, uint64_t *seen)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 23;
    so.segment_bytes = segment_bytes;
    so.types = "label=category";
    sf_source *s = NULL;
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, &so, &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&pl, "scaler | linear_regression", &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = "y";
    fo.columns = "a,b";
    if (sf_pipeline_fit(pl, s, &fo, &err) != SF_OK) fail_msg("%s", err.message);
    char *json = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    *seen = sf_pipeline_rows_seen(pl);
    sf_pipeline_free(pl);
    sf_source_close(s);
    return json;
}

/* The numbers of a JSON text, in order. */
static size_t json_numbers(const char *j, double *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = j; *p && n < cap;) {
        if ((*p == '-' || (*p >= '0' && *p <= '9')) && (p == j || strchr(":[, ", p[-1]))) {
            char *end;
            out[n++] = strtod(p, &end);
            p = end;
        } else {
            p++;
        }
    }
    return n;
}

static void test_fit_empty_segments(void **state)
{
    (void)state;
    char *text = make_text(400, "\n");
    char *path = sf_test_write_tmp(text, strlen(text), ".csv");
    uint64_t seen1, seen2, seen_whole;
    char *one = fit_json(path, 5, 1, &seen1);
    char *two = fit_json(path, 5, 2, &seen2);
    char *whole = fit_json(path, 1u << 30, 2, &seen_whole);
    assert_string_equal(one, two);
    assert_int_equal(seen1, 400);
    assert_int_equal(seen2, 400);
    assert_int_equal(seen_whole, 400);
    double a[256], b[256];
    size_t na = json_numbers(one, a, 256), nb = json_numbers(whole, b, 256);
    assert_int_equal(na, nb);
    assert_true(na > 4);
    for (size_t i = 0; i < na; i++) assert_double_close(a[i], b[i], 1e-12, 1e-12);
    free(one);
    free(two);
    free(whole);
    unlink(path);
    free(path);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_union),
        cmocka_unit_test(test_error_line),
        cmocka_unit_test(test_fit_empty_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
