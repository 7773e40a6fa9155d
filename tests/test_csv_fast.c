/* test_csv_fast.c — the CSV reader's fast path for simple records (io/csv_scan.c).
 *
 * 1. sfi_csv_split_simple on hand-written lines: fields, the bytes taken, and
 *    every case that must be left to libcsv (escaped quotes, line ends inside
 *    quotes, text after a closing quote, a quote inside an unquoted field, bare
 *    CR, empty line, no line end yet, too many fields), at lengths around the
 *    16-byte blocks;
 *    sfi_csv_count_lf (the segment scan) against a byte loop.
 * 2. Differential: generated tricky files (quoted and unquoted fields, quoted
 *    delimiters, newlines and quotes, spaces and tabs around fields, CRLF, bare
 *    CR, empty lines, a BOM, a last line without a line end, bad rows of every
 *    kind) are read with the fast path on and off, with read buffers from 2 bytes
 *    up (so lines straddle refills) and chunk sizes from 1 row. Compared exactly:
 *    the open status and error text, every chunk's size, first row, segment and
 *    integer flags, every value bitwise, missing flag, label and line number, the
 *    final status and error text (file:line:column, row, field), bytes read.
 * 3. pandas' missing-value tokens and near misses, in category and float columns.
 * 4. Segments with the fast path on: the union of small segments equals the whole
 *    file read with libcsv alone, row for row (values, labels, lines).
 * No tolerances: everything is compared exactly.
 */
#include "sf_test.h"
#include "sf_rows.h"

#include <unistd.h>

#include "io/csv_scan.h"

/* ------------------------------------------------------------ split_simple */

/* Splits line (NUL-terminated, ',' delimiter); want_len 0: must be refused;
 * else the bytes taken and the fields' texts. */
static void expect_split(const char *line, size_t max_fields, size_t want_len, size_t want_nf,
                         const char *const *want)
{
    size_t f[128], nf = 999;
    size_t len = sfi_csv_split_simple(line, strlen(line), ',', f, max_fields, &nf);
    assert_int_equal(len, want_len);
    if (!want_len) return;
    assert_int_equal(nf, want_nf);
    for (size_t k = 0; k < nf; k++) {
        assert_true(f[2 * k] <= f[2 * k + 1]);
        assert_int_equal(f[2 * k + 1] - f[2 * k], strlen(want[k]));
        assert_memory_equal(line + f[2 * k], want[k], strlen(want[k]));
    }
}

#define FIELDS(...) (const char *const[]){__VA_ARGS__}

static void test_split_simple(void **state)
{
    (void)state;
    expect_split("a,b\n", 8, 4, 2, FIELDS("a", "b"));
    expect_split("a,b\r\nc,d\n", 8, 5, 2, FIELDS("a", "b"));
    expect_split(",\n", 8, 2, 2, FIELDS("", ""));
    expect_split("a,,\n", 8, 4, 3, FIELDS("a", "", ""));
    expect_split(" a\t, b \n", 8, 8, 2, FIELDS(" a\t", " b ")); /* spaces kept */
    expect_split("x\n", 1, 2, 1, FIELDS("x"));
    expect_split("a,b,c\n", 3, 6, 3, FIELDS("a", "b", "c"));
    expect_split("a,b,c\n", 2, 0, 0, NULL); /* more fields than allowed */
    expect_split("a,b,c\n", 1, 0, 0, NULL);
    /* quoted fields: without their quotes; delimiters inside are text */
    expect_split("a,\"b\"\n", 8, 6, 2, FIELDS("a", "b"));
    expect_split("\"a,b\",c\n", 8, 8, 2, FIELDS("a,b", "c"));
    expect_split("\"\",\"\"\r\n", 8, 7, 2, FIELDS("", ""));
    expect_split("\"\"\n", 8, 3, 1, FIELDS("")); /* a record, unlike an empty line */
    expect_split("\" x \",\"y\"\n", 8, 10, 2, FIELDS(" x ", "y"));
    expect_split("\"a\",\"b\",c\n", 2, 0, 0, NULL); /* more fields than allowed */
    /* left to libcsv: empty line (libcsv skips it), no line end yet, CR with
     * its LF not yet read, bare CR, a quote inside an unquoted field, escaped
     * quote, line end inside quotes, text or a space after the closing quote,
     * space before the opening quote, unterminated, bare CR after a quote */
    static const char *const refused[] = {
        "\n",           "\r\n",          "a,b",           "a,b\r",       "a\rb\n",
        "a,b\"\n",      "a\"b,c\n",      "\"a\"\"b\"\n",    "\"a\nb\"\n",    "\"a\r\nb\"\n",
        "\"a\"b\n",     "\"a\" ,b\n",    " \"a\",b\n",     "a,\"b\n",      "a,\"b",
        "a,\"b\"",      "a,\"b\"\r",     "a,\"b\"\rc\n",   ""};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
        expect_split(refused[k], 8, 0, 0, NULL);
    /* every length and position around the 16-byte blocks */
    char line[80];
    size_t f[8];
    for (size_t n = 1; n < 70; n++) {
        for (size_t d = 0; d + 1 < n; d++) {
            memset(line, 'x', n);
            line[d] = ',';
            line[n] = '\n';
            line[n + 1] = '\0';
            size_t nf = 0;
            assert_int_equal(sfi_csv_split_simple(line, n + 1, ',', f, 4, &nf), n + 1);
            assert_int_equal(nf, 2);
            assert_int_equal(f[0], 0);
            assert_int_equal(f[1], d);
            assert_int_equal(f[2], d + 1);
            assert_int_equal(f[3], n);
            /* a quote inside a field gives up; so does a cut-off line */
            for (size_t q = 0; q <= n; q += 5) {
                if (q == 0 || q == d + 1) continue; /* field starts: quoted fields */
                char c = line[q];
                line[q] = '"';
                assert_int_equal(sfi_csv_split_simple(line, n + 1, ',', f, 4, &nf), 0);
                line[q] = c;
            }
            assert_int_equal(sfi_csv_split_simple(line, n, ',', f, 4, &nf), 0);
            /* the line after the first one is not looked at */
            line[n + 1] = '"';
            assert_int_equal(sfi_csv_split_simple(line, n + 2, ',', f, 4, &nf), n + 1);
            /* the second field quoted, when it can be: "x..x" */
            if (n - d >= 3) {
                line[d + 1] = '"';
                line[n - 1] = '"';
                assert_int_equal(sfi_csv_split_simple(line, n + 1, ',', f, 4, &nf), n + 1);
                assert_int_equal(nf, 2);
                assert_int_equal(f[2], d + 2);
                assert_int_equal(f[3], n - 1);
            }
        }
    }
    /* a tab delimiter; a comma is then ordinary text */
    size_t nf = 0;
    assert_int_equal(sfi_csv_split_simple("1,5\t2\n", 6, '\t', f, 4, &nf), 6);
    assert_int_equal(nf, 2);
    assert_int_equal(f[1], 3);
}

/* sfi_csv_count_lf against a byte loop: all-LF runs (the byte counters must be
 * summed before they wrap at 256), random text, every length up to 70. */
static void test_count_lf(void **state)
{
    (void)state;
    enum { N = 9000 };
    char *buf = malloc(N);
    assert_non_null(buf);
    memset(buf, '\n', N);
    bool q = true, cr = true;
    assert_int_equal(sfi_csv_count_lf(buf, N, &q, &cr), N);
    assert_false(q);
    assert_false(cr);
    uint64_t s = 88172645463325252u;
    for (int rep = 0; rep < 200; rep++) {
        size_t n = rep < 70 ? (size_t)rep : (size_t)(s % N);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            static const char pick[] = "\n\n\n\nab,\r\"";
            buf[i] = pick[s % 10 < 8 || rep % 3 ? s % 7 : 7 + s % 3];
        }
        uint64_t want = 0;
        bool wq = false, wr = false;
        for (size_t i = 0; i < n; i++) {
            want += buf[i] == '\n';
            wq |= buf[i] == '"';
            wr |= buf[i] == '\r';
        }
        assert_int_equal(sfi_csv_count_lf(buf, n, &q, &cr), want);
        assert_int_equal(q, wq);
        assert_int_equal(cr, wr);
    }
    free(buf);
}

/* ------------------------------------------------------------ generator */

typedef struct rng { uint64_t s; } rng;

static uint32_t rnd(rng *g, uint32_t n)
{
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return (uint32_t)((g->s * UINT64_C(2685821657736338717)) >> 33) % n;
}

typedef struct text { char *p; size_t n, cap; } text;

static void put(text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* s quoted as RFC 4180 says */
static void put_quoted(text *t, const char *s)
{
    puts_(t, "\"");
    for (; *s; s++) {
        if (*s == '"') puts_(t, "\"");
        put(t, s, 1);
    }
    puts_(t, "\"");
}

typedef struct gen_cfg {
    char delim;
    int eol;          /* 0 LF, 1 CRLF, 2 mixed with bare CR */
    bool header, bom, no_final_eol;
    int quote_rate;   /* percent of fields quoted */
    int empty_rate;   /* percent of records preceded by an empty line */
    size_t rows, cols;
    bool cat[8];      /* column j holds labels */
    int bad;          /* 0 none, else the kind of bad row */
    size_t bad_row;
} gen_cfg;

static void put_eol(text *t, const gen_cfg *c, rng *g)
{
    int e = c->eol;
    if (e == 2) e = (int)rnd(g, 10) < 1 ? 2 : (int)rnd(g, 2);
    puts_(t, e == 0 ? "\n" : e == 1 ? "\r\n" : "\r");
}

static void number_text(char *b, size_t n, rng *g)
{
    static const char *const na[] = {"", "NA", "NaN", "nan", "null", "NULL", "N/A", "-nan"};
    static const char *const odd[] = {"-0", ".5", "5.", "1e300", "-2.5E-3", "inf", "-Infinity",
                                      "4.9406564584124654e-324", "123456789012345678901234",
                                      "0.1000000000000000055511151231257827"};
    double x = ((double)rnd(g, 2000000) - 1e6) / (1.0 + rnd(g, 1000));
    switch (rnd(g, 12)) {
    case 0: snprintf(b, n, "%s", na[rnd(g, 8)]); break;
    case 1: snprintf(b, n, "%s", odd[rnd(g, 10)]); break;
    case 2: snprintf(b, n, "%d", (int)rnd(g, 2001) - 1000); break;
    case 3: snprintf(b, n, "%.3f", x); break;
    case 4: snprintf(b, n, "%g", x * 1e-7); break;
    default: snprintf(b, n, "%.17g", x); break;
    }
}

static void label_text(char *b, size_t n, rng *g, char delim)
{
    static const char *const w[] = {"red", "green", "blue", "x y", " lead", "trail ", "\ttab",
                                    "a\tb", "1.5", "NA", "", "  ", "dé", "z"};
    switch (rnd(g, 20)) {
    case 0: snprintf(b, n, "in%cside", delim); break;       /* needs quotes */
    case 1: snprintf(b, n, "two\nlines"); break;              /* needs quotes */
    case 2: snprintf(b, n, "cr\r\nlf"); break;                /* needs quotes */
    case 3: snprintf(b, n, "say \"hi\""); break;              /* needs quotes */
    default: snprintf(b, n, "%s", w[rnd(g, 14)]); break;
    }
}

static bool needs_quotes(const char *s, char delim)
{
    for (; *s; s++)
        if (*s == delim || *s == '"' || *s == '\n' || *s == '\r') return true;
    return false;
}

static void put_field(text *t, const gen_cfg *c, rng *g, size_t j)
{
    char b[128];
    if (c->cat[j]) label_text(b, sizeof b, g, c->delim);
    else number_text(b, sizeof b, g);
    if (needs_quotes(b, c->delim) || (int)rnd(g, 100) < c->quote_rate) put_quoted(t, b);
    else puts_(t, b);
}

static void put_bad_row(text *t, const gen_cfg *c, rng *g)
{
    char d[2] = {c->delim, 0};
    size_t nc = c->cols;
    for (size_t j = 0; j < nc; j++) {
        if (j) puts_(t, d);
        bool last = j + 1 == nc;
        switch (c->bad) {
        case 1: /* one field too few */
            if (last) return;
            puts_(t, "1");
            break;
        case 2: /* one field too many */
            puts_(t, "2");
            if (last) {
                puts_(t, d);
                puts_(t, "3");
            }
            break;
        case 3: /* not a number in a float column (or a label) */
            puts_(t, j == nc / 2 ? (rnd(g, 2) ? "x7" : " 7") : "4");
            break;
        case 4: /* a quote inside an unquoted field */
            puts_(t, j == nc / 2 ? (rnd(g, 2) ? "a\"b" : "a\"b\"") : "5");
            break;
        case 5: /* text after a closing quote */
            puts_(t, j == nc / 2 ? "\"a\"b" : "6");
            break;
        default: /* an unterminated quote */
            puts_(t, j == nc / 2 ? "\"open" : "8");
            break;
        }
    }
}

static char *make_file(const gen_cfg *c, rng *g, size_t *len)
{
    text t = {0};
    char d[2] = {c->delim, 0};
    if (c->bom) puts_(&t, "\xEF\xBB\xBF");
    if (c->header) {
        for (size_t j = 0; j < c->cols; j++) {
            char name[32];
            snprintf(name, sizeof name, "c%zu", j);
            if (j) puts_(&t, d);
            if (rnd(g, 4) == 0) put_quoted(&t, name);
            else puts_(&t, name);
        }
        put_eol(&t, c, g);
    }
    for (size_t i = 0; i < c->rows; i++) {
        if ((int)rnd(g, 100) < c->empty_rate) put_eol(&t, c, g);
        if (c->bad && i == c->bad_row) put_bad_row(&t, c, g);
        else
            for (size_t j = 0; j < c->cols; j++) {
                if (j) puts_(&t, d);
                put_field(&t, c, g, j);
            }
        if (i + 1 < c->rows || !c->no_final_eol) put_eol(&t, c, g);
    }
    if (!t.p) puts_(&t, "");
    *len = t.n;
    return t.p;
}

/* ------------------------------------------------------------ reading */

typedef struct result {
    sf_status open_st, end_st;
    char open_msg[1024], end_msg[1024];
    rows r;
    text chunks; /* per chunk: n_rows, first_row, segment, is_integer flags */
    uint64_t bytes;
    size_t n_cols;
    char types[16];
} result;

static void read_file(const char *path, const sf_source_options *o, bool fast, size_t read_size,
                      result *res)
{
    memset(res, 0, sizeof *res);
    sfi_csv_set_fast_path(fast);
    sfi_csv_set_read_size(read_size);
    sf_source *s = NULL;
    sf_error err;
    sf_error_clear(&err);
    res->open_st = sf_source_open(&s, path, o, &err);
    if (res->open_st != SF_OK) {
        sf_error_format(&err, res->open_msg, sizeof res->open_msg);
        goto done;
    }
    res->n_cols = sf_source_n_columns(s);
    for (size_t j = 0; j < res->n_cols && j < sizeof res->types; j++)
        res->types[j] = (char)('0' + sf_source_column_type(s, j) * 2 +
                               sf_source_column_is_integer(s, j));
    const sf_table *tb;
    while ((res->end_st = sf_source_next(s, &tb, &err)) == SF_OK) {
        rows_add(&res->r, tb);
        char b[64];
        snprintf(b, sizeof b, "%zu@%llu/%zu:", tb->n_rows, (unsigned long long)tb->first_row,
                 tb->segment);
        puts_(&res->chunks, b);
        for (size_t j = 0; j < tb->n_cols; j++) puts_(&res->chunks, tb->cols[j].is_integer ? "i" : "f");
    }
    if (res->end_st != SF_END) sf_error_format(&err, res->end_msg, sizeof res->end_msg);
    res->bytes = sf_source_bytes_read(s);
    sf_source_close(s);
done:
    sfi_csv_set_fast_path(true);
    sfi_csv_set_read_size(0);
}

static void result_free(result *res)
{
    rows_free(&res->r);
    free(res->chunks.p);
}

static void assert_results_equal(const result *a, const result *b)
{
    assert_int_equal(a->open_st, b->open_st);
    assert_string_equal(a->open_msg, b->open_msg);
    assert_int_equal(a->n_cols, b->n_cols);
    assert_string_equal(a->types, b->types);
    assert_int_equal(a->end_st, b->end_st);
    assert_string_equal(a->end_msg, b->end_msg);
    assert_string_equal(a->chunks.p ? a->chunks.p : "", b->chunks.p ? b->chunks.p : "");
    assert_rows_equal(&a->r, &b->r);
    assert_int_equal(a->bytes, b->bytes);
}

static void random_cfg(gen_cfg *c, rng *g)
{
    static const char delims[] = {',', ',', ',', ';', '\t', '|'};
    memset(c, 0, sizeof *c);
    c->delim = delims[rnd(g, 6)];
    c->eol = (int)rnd(g, 3);
    c->header = rnd(g, 5) != 0;
    c->bom = rnd(g, 5) == 0;
    c->no_final_eol = rnd(g, 3) == 0;
    c->quote_rate = (int)rnd(g, 4) == 0 ? 0 : (int)rnd(g, 30);
    c->empty_rate = (int)rnd(g, 3) == 0 ? (int)rnd(g, 20) : 0;
    c->rows = 1 + rnd(g, 120);
    c->cols = 1 + rnd(g, 6);
    for (size_t j = 0; j < c->cols; j++) c->cat[j] = rnd(g, 3) == 0;
    if (rnd(g, 5) == 0) {
        c->bad = 1 + (int)rnd(g, 6);
        c->bad_row = rnd(g, (uint32_t)c->rows);
    }
}

/* n_cases files from seed; each read both ways under several buffer sizes. */
static void differential(uint64_t seed, int n_cases, int *n_errors, int *n_clean)
{
    static const size_t read_sizes[] = {2, 3, 16, 17, 61, 256, 4093, 0};
    static const size_t chunks[] = {1, 2, 3, 7, 64, 16384};
    rng g = {seed};
    for (int k = 0; k < n_cases; k++) {
        gen_cfg c;
        random_cfg(&c, &g);
        size_t len;
        char *txt = make_file(&c, &g, &len);
        char *path = sf_test_write_tmp(txt, len, ".csv");
        sf_source_options o;
        sf_source_options_init(&o);
        o.delimiter = c.delim;
        o.has_header = c.header;
        o.chunk_rows = chunks[rnd(&g, 6)];
        char types[128] = "";
        if (c.header && rnd(&g, 2))
            for (size_t j = 0; j < c.cols; j++)
                if (c.cat[j]) {
                    size_t m = strlen(types);
                    snprintf(types + m, sizeof types - m, "%sc%zu=category", m ? "," : "", j);
                }
        o.types = types[0] ? types : NULL;
        for (int rep = 0; rep < 2; rep++) {
            size_t rs = read_sizes[rnd(&g, 8)];
            result on, off;
            read_file(path, &o, true, rs, &on);
            read_file(path, &o, false, rs, &off);
            assert_results_equal(&on, &off);
            if (rep == 0 && on.open_st == SF_OK && on.end_st == SF_END) {
                /* segments with the fast path on: union == the whole file (libcsv) */
                sf_source_options so = o;
                so.segment_bytes = 1 + rnd(&g, 300);
                sfi_csv_set_read_size(rs);
                sf_source *s = NULL;
                sf_error err;
                assert_int_equal(sf_source_open(&s, path, &so, &err), SF_OK);
                rows u = {0};
                read_segments(s, &u);
                assert_rows_equal(&off.r, &u);
                rows_free(&u);
                sf_source_close(s);
                sfi_csv_set_read_size(0);
                (*n_clean)++;
            } else if (rep == 0) {
                (*n_errors)++;
            }
            result_free(&on);
            result_free(&off);
        }
        unlink(path);
        free(path);
        free(txt);
    }
}

static void test_differential(void **state)
{
    (void)state;
    int n_errors = 0, n_clean = 0;
    differential(UINT64_C(0x9E3779B97F4A7C15), 400, &n_errors, &n_clean);
    /* the generator must produce both kinds, or the comparison proves little */
    assert_true(n_errors >= 40);
    assert_true(n_clean >= 150);
}

/* A file larger than the default 1 MiB read buffer: lines cross real refills. */
static void test_big_file(void **state)
{
    (void)state;
    rng g = {12345};
    gen_cfg c;
    memset(&c, 0, sizeof c);
    c.delim = ',';
    c.eol = 1;
    c.header = true;
    c.quote_rate = 1;
    c.rows = 30000;
    c.cols = 6;
    c.cat[4] = true;
    size_t len;
    char *txt = make_file(&c, &g, &len);
    assert_true(len > (size_t)2 << 20);
    char *path = sf_test_write_tmp(txt, len, ".csv");
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 1000;
    result on, off;
    read_file(path, &o, true, 0, &on);
    read_file(path, &o, false, 0, &off);
    assert_int_equal(on.end_st, SF_END);
    assert_int_equal(on.r.n, 30000);
    assert_results_equal(&on, &off);
    result_free(&on);
    result_free(&off);
    unlink(path);
    free(path);
    free(txt);
}

/* Missing-value tokens: pandas' default na_values (pandas/_libs/parsers.pyx,
 * STR_NA_VALUES) are missing in a category column, near misses are labels; in a
 * float column every token is a missing NaN. Read both ways. */
static void test_na_tokens(void **state)
{
    (void)state;
    static const char *const na[] = {"",     "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN",
                                     "-NaN", "-nan", "1.#IND",   "1.#QNAN", "<NA>", "N/A",
                                     "NA",   "NULL", "NaN",      "None",    "n/a",  "nan",
                                     "null"};
    static const char *const not_na[] = {"NAN", "na", "Na", "nul", "#N/A N/", "-1.#IN", "1.#QNANX",
                                         "<NA", "NONE", "none", "Null", "-", "1", "#", "n", "N",
                                         "-NA", "<na>", "NULLS", "1.#INDX"};
    const size_t n_na = sizeof na / sizeof na[0], n_not = sizeof not_na / sizeof not_na[0];
    text t = {0};
    puts_(&t, "lab,x\n");
    for (size_t i = 0; i < n_na + n_not; i++) {
        puts_(&t, i < n_na ? na[i] : not_na[i - n_na]);
        puts_(&t, ",");
        puts_(&t, i < n_na ? na[i] : "1");
        puts_(&t, "\n");
    }
    char *path = sf_test_write_tmp(t.p, t.n, ".csv");
    sf_source_options o;
    sf_source_options_init(&o);
    o.types = "lab=category";
    for (int fast = 0; fast <= 1; fast++) {
        result res;
        read_file(path, &o, fast, 0, &res);
        assert_int_equal(res.end_st, SF_END);
        assert_int_equal(res.r.n, n_na + n_not);
        for (size_t i = 0; i < res.r.n; i++) {
            bool want = i < n_na;
            assert_int_equal(res.r.miss[i * 2], want);
            assert_int_equal(res.r.miss[i * 2 + 1], want);
            if (!want) assert_string_equal(res.r.label[i * 2], not_na[i - n_na]);
        }
        result_free(&res);
    }
    unlink(path);
    free(path);
    free(t.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_simple),
        cmocka_unit_test(test_count_lf),
        cmocka_unit_test(test_na_tokens),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_big_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
