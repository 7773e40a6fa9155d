/* test_format.c — sf_format_double (the fast formatter) against
 * sfi_format_double_ref (the snprintf "%.{15,16,17}g" one it replaces), the
 * CSV sink's text, and sfi_format_label against sfi_format_label_ref.
 *
 * What is compared: the returned length and every byte of the text, for the
 * whole buffer (n = 32 and 64) and, for the special and edge values, for every
 * buffer size n = 0..40 (truncation). Tolerance: none (byte-identical). The
 * values: NaNs, infinities, signed zeros, the limits; 10^k and 2^k over the
 * whole exponent range with their neighbours; numbers around the 1e15..1e17
 * band where the three precisions are all tried, decimal ties, carries to a
 * new digit; 10^7 doubles like our data (N(0,1), integers, 0.1 * k, k / 100,
 * float32 values, scaled normals) and 10^6 random bit patterns (10^7 with
 * SF_FORMAT_FULL=1 in the environment: the reference costs about 2.4 us a
 * random bit pattern here, against 0.6 us a data-like value, so the full run
 * takes 20-25 s); all seeded. Every text must also read back
 * (sf_parse_double) to the same bits. Numbers as category labels: the same
 * kinds of values, 1.5 * 10^5 of them (the reference loops up to 17 times).
 * The CSV sink (which assembles rows in its own buffer and formats straight
 * into it) must write exactly the text built here field by field with the
 * reference formatter: quoting, missing cells, NaN, a label longer than its
 * buffer, rows across its buffer's end. Under a sanitizer the random counts
 * are divided by 50.
 *
 * SF_FORMAT_BENCH=1 in the environment prints ns/value of the formatters on
 * N(0,1) doubles, integers and 0.1 * k (no assertion on speed).
 */
#define _POSIX_C_SOURCE 200809L

#include "sf_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "io/number_impl.h"
#include "streamfit/sf_number.h"
#include "streamfit/sf_sink.h"
#include "streamfit/sf_table.h"

#if defined(__SANITIZE_ADDRESS__)
#define SF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SF_SANITIZED 1
#endif
#endif
#ifdef SF_SANITIZED
#define RANDOM_N 200000L
#else
#define RANDOM_N 10000000L
#endif

static long random_bits_n(void)
{
    const char *full = getenv("SF_FORMAT_FULL");
    return full && *full ? RANDOM_N : RANDOM_N / 10;
}

/* ------------------------------------------------------------------------- */

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static uint64_t rng(void) { return sf_test_splitmix64(&rng_state); }

static double rng_unit(void) /* (0, 1) */
{
    return ((double)(rng() >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(void) /* Box-Muller */
{
    return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit());
}

static long n_checked;

/* Fast and reference texts of v, with a buffer of n bytes, must be equal;
 * with a full buffer the text must read back to v. */
static void check_n(double v, size_t n)
{
    char got[80], want[80];
    memset(got, 'X', sizeof got);
    memset(want, 'X', sizeof want);
    const size_t lg = sf_format_double(v, n ? got : NULL, n);
    const size_t lw = sfi_format_double_ref(v, n ? want : NULL, n);
    if (lg != lw || (n > 0 && memcmp(got, want, lw + 1) != 0) || got[n] != 'X') {
        print_error("%a (%.17g), n = %zu: got \"%.*s\" (%zu), want \"%.*s\" (%zu)\n", v, v, n,
                    (int)(n ? lg : 0), got, lg, (int)(n ? lw : 0), want, lw);
        fail();
    }
    n_checked++;
}

static void check(double v)
{
    char got[64], want[64];
    const size_t lg = sf_format_double(v, got, 32);
    const size_t lw = sfi_format_double_ref(v, want, 32);
    if (lg != lw || memcmp(got, want, lw + 1) != 0) {
        print_error("%a (%.17g): got \"%s\", want \"%s\"\n", v, v, got, want);
        fail();
    }
    if (!isnan(v)) {
        double back;
        if (sf_parse_double(got, lg, &back) == SF_NUM_NONE || sf_test_bits_of(back) != sf_test_bits_of(v)) {
            print_error("%a: \"%s\" does not read back\n", v, got);
            fail();
        }
    }
    n_checked++;
}

static void check_both_signs(double v)
{
    check(v);
    check(-v);
}

/* v and its neighbours up to k steps each way (finite ones), both signs. */
static void check_around(double v, int k)
{
    check_both_signs(v);
    double up = v, down = v;
    for (int i = 0; i < k; i++) {
        up = nextafter(up, INFINITY);
        down = nextafter(down, -INFINITY);
        if (isfinite(up)) check_both_signs(up);
        if (isfinite(down)) check_both_signs(down);
    }
}

/* ------------------------------------------------------------------------- */

static void test_specials(void **state)
{
    (void)state;
    const double vals[] = {
        NAN, -NAN, sf_test_of_bits(UINT64_C(0x7FF0000000000001)), sf_test_of_bits(UINT64_C(0xFFF8000000000123)),
        INFINITY, -INFINITY, 0.0, -0.0, DBL_MAX, -DBL_MAX, DBL_MIN, -DBL_MIN, DBL_TRUE_MIN,
        -DBL_TRUE_MIN, sf_test_of_bits(UINT64_C(0x000FFFFFFFFFFFFF)), DBL_EPSILON, 1.0, -1.0, 0.1, 0.5,
        1e15, 1e16, 1e17, 999999999999999.9, 9999999999999998.0, 99999999999999984.0, 1e-4,
        1e-5, 0.000123456789012345678, 1.0 / 3.0, 2.0 / 3.0, 5e-324, 1e-323, 1e308, 1e-308,
        123456789012345678.0, 1234567890123456.5, 1000000000000005.0, 4.35, 0.3, 9007199254740993.0,
    };
    /* fixed texts: the reference itself must keep meaning what it meant */
    struct {
        double v;
        const char *s;
    } fixed[] = {
        {0.1, "0.1"},       {1e300, "1e+300"}, {-0.0, "-0"},       {0.0, "0"},
        {INFINITY, "inf"},  {-INFINITY, "-inf"}, {NAN, "nan"},     {-NAN, "nan"},
        {1.5, "1.5"},       {-2.0, "-2"},      {100.0, "100"},     {1e21, "1e+21"},
        {DBL_MAX, "1.7976931348623157e+308"},    {DBL_TRUE_MIN, "4.94065645841247e-324"},
        {0.30000000000000004, "0.30000000000000004"}, {1.0 / 3.0, "0.3333333333333333"},
        {1234567890123450.0, "1234567890123450"}, {-67781863784671560.0, "-67781863784671560"},
        {1e15, "1e+15"}, {123456789012345680.0, "1.2345678901234568e+17"}, {1e-5, "1e-05"},
        {0.0001, "0.0001"}, {1000000000000005.0, "1000000000000005"},
        {1234567890123456.5, "1234567890123456.5"}, {1e16, "1e+16"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        size_t len = sf_format_double(fixed[i].v, buf, sizeof buf);
        if (strcmp(buf, fixed[i].s) != 0)
            print_error("%a: got \"%s\", want \"%s\"\n", fixed[i].v, buf, fixed[i].s);
        assert_string_equal(buf, fixed[i].s);
        assert_int_equal(len, strlen(fixed[i].s));
        check(fixed[i].v);
    }
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        for (size_t n = 0; n <= 40; n++)
            check_n(vals[i], n);
        check_n(vals[i], 64);
        check(vals[i]);
    }
}

static void test_powers(void **state)
{
    (void)state;
    /* 10^k as read from text (the nearest double), with neighbours */
    for (int k = -325; k <= 309; k++) {
        char t[16];
        snprintf(t, sizeof t, "1e%d", k);
        double v;
        assert_int_not_equal(sf_parse_double(t, strlen(t), &v), SF_NUM_NONE);
        if (v != 0 && isfinite(v)) check_around(v, 3);
        /* and k-digit multiples around the carry points */
        snprintf(t, sizeof t, "9.99e%d", k);
        assert_int_not_equal(sf_parse_double(t, strlen(t), &v), SF_NUM_NONE);
        if (v != 0 && isfinite(v)) check_around(v, 1);
    }
    /* 2^k, every exponent, and its neighbours */
    for (int k = -1074; k <= 1023; k++)
        check_around(ldexp(1.0, k), 3);
    /* 3 * 2^k and (2^53 - 1) * 2^k: odd significands of both ends */
    for (int k = -1074; k <= 971; k++) {
        check_both_signs(ldexp(3.0, k));
        check_both_signs(ldexp(9007199254740991.0, k));
    }
    /* the 1e15..1e17 band where all three precisions are tried: around every
     * 10^j boundary and through integers whose 15th/16th digit is a tie */
    for (long j = 0; j < 20000; j++) {
        check_both_signs(1e15 + (double)j);
        check_both_signs(1e16 + 2.0 * (double)j);
        check_both_signs(1e17 - 16.0 * (double)j);
        check_both_signs(1e15 - 0.125 * (double)j);
        check_both_signs(1234567890123400.0 + 0.5 * (double)j);
    }
    for (int j = 0; j < 10000; j++) {
        /* decimal ties at 15 and 16 digits */
        check_both_signs((double)(rng() % 900000000000000u + 100000000000000u) * 10.0 + 5.0);
        check_both_signs((double)(rng() % 9000000000000000u + 1000000000000000u) + 0.5);
    }
}

static void test_random_bits(void **state)
{
    (void)state;
    rng_state = UINT64_C(0x853C49E6748FEA9B);
    const long n = random_bits_n();
    for (long i = 0; i < n; i++)
        check(sf_test_of_bits(rng()));
    /* subnormals alone (about 1 in 2048 of the above) */
    for (long i = 0; i < n / 20; i++)
        check(sf_test_of_bits(rng() & UINT64_C(0x800FFFFFFFFFFFFF)) * (i % 7 ? 1 : 0x1p-30));
}

/* Doubles of the kinds our data holds. */
static double data_like(long i)
{
    switch (i % 10) {
    case 0:
    case 1:
        return rng_normal();
    case 2: /* integers of every size */
        return (double)(int64_t)(rng() >> (rng() % 64));
    case 3: /* small counts and codes */
        return (double)(rng() % 100000) - 500.0;
    case 4:
        return 0.1 * (double)(rng() % 10000000);
    case 5: /* prices */
        return (double)(rng() % 10000000) / 100.0;
    case 6: /* float32 data widened */
        return (double)(float)(rng_normal() * 100.0);
    case 7:
        return rng_normal() * pow(10.0, (double)((int)(rng() % 41) - 20));
    case 8: /* results of arithmetic */
        return rng_unit() * 3.0 - 1.0;
    default:
        return (double)(rng() % 1000) * 1e-6 + (double)(rng() % 1000);
    }
}

static void test_random_data(void **state)
{
    (void)state;
    rng_state = UINT64_C(0xDA3E39CB94B95BDB);
    for (long i = 0; i < RANDOM_N; i++)
        check(data_like(i));
}

/* ------------------------------------------------------------------------- */
/* Numbers as category labels: sfi_format_label against the snprintf loop. */

static void check_label(double v, size_t n)
{
    char got[80], want[80];
    memset(got, 'X', sizeof got);
    const size_t lg = sfi_format_label(v, got, n);
    const size_t lw = sfi_format_label_ref(v, want, n);
    if (lg != lw || memcmp(got, want, lw + 1) != 0 || got[n] != 'X') {
        print_error("label %a (%.17g), n = %zu: got \"%s\", want \"%s\"\n", v, v, n, got, want);
        fail();
    }
    n_checked++;
}

static void test_labels(void **state)
{
    (void)state;
    const double vals[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -3.0, 0.5, 0.1, 1e15,
                           1e15 + 1, 9007199254740991.0, 9007199254740992.0, 9007199254740994.0,
                           -9007199254740993.0, 1e16, 1e17, 1e300, DBL_MAX, DBL_MIN, DBL_TRUE_MIN,
                           1234567.25, 1e-5, 123456789012345678.0, 5e-324, 0.3, 2.0 / 3.0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        for (size_t n = 1; n <= 40; n++) check_label(vals[i], n);
        check_label(-vals[i], 40);
    }
    for (int k = -1074; k <= 1023; k += 7) {
        check_label(ldexp(1.0, k), 40);
        check_label(nextafter(ldexp(1.0, k), 0), 40);
        check_label(ldexp(3.0, k), 40);
    }
    rng_state = UINT64_C(0x5DEECE66D);
    const long n = RANDOM_N / 200;
    for (long i = 0; i < n; i++) {
        check_label(sf_test_of_bits(rng()), 40);
        check_label(data_like(i), 40);
        check_label((double)(rng() % 20000) / 8.0 - 1000.0, 40); /* short binary fractions */
    }
}

/* ------------------------------------------------------------------------- */
/* The CSV sink against a text built here. */

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = 2 * (t->len + n + 1);
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_number(text *t, double v)
{
    char b[64];
    text_add(t, b, sfi_format_double_ref(v, b, sizeof b));
}

/* A CSV field as RFC 4180 quotes it when it holds ',', '"', CR or LF, or is
 * empty (an empty label would read back as missing). */
static void text_label(text *t, const char *s)
{
    if (*s && !strpbrk(s, ",\"\r\n")) {
        text_add(t, s, strlen(s));
        return;
    }
    text_add(t, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') text_add(t, "\"", 1);
        text_add(t, s, 1);
    }
    text_add(t, "\"", 1);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    text t = {0};
    char b[65536];
    size_t k;
    while ((k = fread(b, 1, sizeof b, f)) > 0) text_add(&t, b, k);
    fclose(f);
    *len = t.len;
    return t.p;
}

static void test_csv_sink(void **state)
{
    (void)state;
    char path[] = "/tmp/sf_format_sinkXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sf_error err;
    sf_dict *d = NULL;
    assert_int_equal(sf_dict_new(&d, 0, &err), SF_OK);
    /* a label far longer than the sink's buffer, with quotes in it */
    char *huge = malloc(150001);
    assert_non_null(huge);
    for (size_t i = 0; i < 150000; i++) huge[i] = i % 1000 == 999 ? '"' : (char)('a' + i % 26);
    huge[150000] = '\0';
    const char *labels[] = {"plain", "with,comma", "say \"hi\"", "two\nlines", "", "cr\r", huge};
    const size_t n_labels = sizeof labels / sizeof labels[0];
    int32_t codes[sizeof labels / sizeof labels[0]];
    for (size_t k = 0; k < n_labels; k++)
        assert_int_equal(sf_dict_intern(d, labels[k], strlen(labels[k]), &codes[k], &err), SF_OK);
    const sf_coltype types[] = {SF_COL_FLOAT, SF_COL_CATEGORY, SF_COL_FLOAT};
    const char *const names[] = {"a", "lab,el", "b"};
    sf_dict *dicts[] = {NULL, d, NULL};
    const size_t rows = 3000;
    sf_table *t = NULL;
    assert_int_equal(sf_table_new(&t, 3, types, names, dicts, rows, &err), SF_OK);
    t->n_rows = rows;
    rng_state = UINT64_C(0x1234567);
    text want = {0};
    text_add(&want, "a,\"lab,el\",b\n", 13);
    for (size_t i = 0; i < rows; i++) {
        const double a = data_like((long)i), b = i % 11 == 3 ? NAN : rng_normal() * 1e-3;
        t->cols[0].values[i] = a;
        t->cols[0].missing[i] = i % 7 == 2;
        t->cols[2].values[i] = b; /* NaN but not missing: written "nan" */
        t->cols[2].missing[i] = i % 13 == 5;
        const bool lab_missing = i % 5 == 1;
        const size_t k = i % 97 == 50 ? n_labels - 1 : (size_t)(rng() % (n_labels - 1));
        t->cols[1].codes[i] = lab_missing ? -1 : codes[k];
        t->cols[1].missing[i] = lab_missing;
        if (!t->cols[0].missing[i]) text_number(&want, a);
        text_add(&want, ",", 1);
        if (!lab_missing) text_label(&want, labels[k]);
        text_add(&want, ",", 1);
        if (!t->cols[2].missing[i]) text_number(&want, b);
        text_add(&want, "\n", 1);
    }
    sf_sink *s = NULL;
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    assert_int_equal(sf_sink_flush(s, &err), SF_OK);
    assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    /* the rows twice, the header once */
    const size_t head = 13;
    char *rows_text = malloc(want.len - head);
    assert_non_null(rows_text);
    memcpy(rows_text, want.p + head, want.len - head);
    text_add(&want, rows_text, want.len - head);
    free(rows_text);
    size_t got_len;
    char *got = read_all(path, &got_len);
    assert_int_equal(got_len, want.len);
    assert_memory_equal(got, want.p, want.len);
    free(got);

    /* a matrix: NaN is an empty field */
    const size_t n = 4000, p = 3, ld = 4;
    double *x = malloc(n * ld * sizeof *x);
    assert_non_null(x);
    text mw = {0};
    text_add(&mw, "c0,c1,c2\n", 9);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p; j++) {
            x[i * ld + j] = (i + j) % 9 == 4 ? NAN : data_like((long)(i * p + j));
            if (j) text_add(&mw, ",", 1);
            if (!isnan(x[i * ld + j])) text_number(&mw, x[i * ld + j]);
        }
        text_add(&mw, "\n", 1);
    }
    const char *const cn[] = {"c0", "c1", "c2"};
    assert_int_equal(sf_sink_open(&s, path, NULL, &err), SF_OK);
    assert_int_equal(sf_sink_write_matrix(s, "m", x, n, p, ld, cn, &err), SF_OK);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    got = read_all(path, &got_len);
    assert_int_equal(got_len, mw.len);
    assert_memory_equal(got, mw.p, mw.len);
    free(got);

    unlink(path);
    free(x);
    free(mw.p);
    free(want.p);
    sf_table_free(t);
    sf_dict_free(d);
    free(huge);
}

/* ------------------------------------------------------------------------- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double bench_one(size_t (*fmt)(double, char *, size_t), const double *v, size_t n)
{
    char buf[40];
    size_t sink = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) sink += fmt(v[i], buf, sizeof buf);
    double t = (now_ns() - t0) / (double)n;
    assert_true(sink > 0);
    return t;
}

static size_t format_raw(double v, char *buf, size_t n)
{
    assert_true(n >= SFI_FORMAT_ROOM);
    return sfi_format_double_raw(v, buf);
}

static void test_bench(void **state)
{
    (void)state;
    const char *env = getenv("SF_FORMAT_BENCH");
    if (!env || !*env) {
        skip();
        return;
    }
    const size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    const char *what[] = {"N(0,1)", "integers 0..10^6", "0.1*k"};
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < n; i++)
            v[i] = kind == 0 ? rng_normal()
                   : kind == 1 ? (double)(rng() % 1000000)
                               : 0.1 * (double)(rng() % 1000000);
        /* the machine is shared: interleave the two, keep each one's best */
        double tf = INFINITY, tr = INFINITY, tw = INFINITY;
        const bool fast_only = strcmp(env, "fast") == 0; /* for a profile */
        for (int r = 0; r < 5; r++) {
            tf = fmin(tf, bench_one(sf_format_double, v, n));
            tw = fmin(tw, bench_one(format_raw, v, n));
            if (!fast_only) tr = fmin(tr, bench_one(sfi_format_double_ref, v, n));
        }
        print_message("%-18s fast %6.1f ns/value (raw %5.1f), reference %6.1f ns/value (%.1fx)\n",
                      what[kind], tf, tw, tr, tr / tf);
        double lf = INFINITY, lr = INFINITY;
        for (int r = 0; r < 3 && !fast_only; r++) {
            lf = fmin(lf, bench_one(sfi_format_label, v, n / 10));
            lr = fmin(lr, bench_one(sfi_format_label_ref, v, n / 10));
        }
        if (!fast_only)
            print_message("%-18s as labels: fast %6.1f ns/value, reference %7.1f ns/value\n",
                          what[kind], lf, lr);
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),    cmocka_unit_test(test_powers),
        cmocka_unit_test(test_random_bits), cmocka_unit_test(test_random_data),
        cmocka_unit_test(test_labels),      cmocka_unit_test(test_csv_sink),
        cmocka_unit_test(test_bench),
    };
    const char *bench = getenv("SF_FORMAT_BENCH");
    if (bench && *bench) {
        const struct CMUnitTest only[] = {cmocka_unit_test(test_bench)};
        return cmocka_run_group_tests(only, NULL, NULL);
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    print_message("%ld values compared\n", n_checked);
    return rc;
}
