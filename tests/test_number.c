/* test_number.c — sf_parse_double / sf_format_double against glibc strtod.
 *
 * Every parsed string is compared bit for bit with strtod (the process never
 * calls setlocale, so strtod runs in the C locale). Inputs are copied to the
 * end of a heap block so AddressSanitizer catches any read past len.
 */
#define _POSIX_C_SOURCE 200809L

#include "sf_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamfit/sf_number.h"

/* ------------------------------------------------------------------------- */

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rng(void) { return sf_test_splitmix64(&rng_state); }

static double rng_unit(void) /* [0, 1) */
{
    return (double)(rng() >> 11) * 0x1.0p-53;
}

static double rng_normal(void)
{
    double u1 = rng_unit(), u2 = rng_unit();
    if (u1 <= 0.0)
        u1 = 0x1.0p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double rng_finite_bits(void)
{
    for (;;) {
        uint64_t b = rng();
        if (((b >> 52) & 0x7FF) != 0x7FF)
            return sf_test_of_bits(b);
    }
}

/* ------------------------------------------------------------------------- */
/* Parsing through a guarded heap copy, comparing with strtod.               */

#define GUARD_SIZE 4096
static char *guard_buf;
static long n_checked;
static long n_failed;

static const char *place(const char *s, size_t len, char **owned)
{
    *owned = NULL;
    if (len <= GUARD_SIZE) {
        char *dst = guard_buf + GUARD_SIZE - len;
        memcpy(dst, s, len);
        return dst;
    }
    *owned = malloc(len);
    assert_non_null(*owned);
    memcpy(*owned, s, len);
    return *owned;
}

static sf_numkind parse_guarded(const char *s, size_t len, double *out)
{
    char *owned;
    const char *p = place(s, len, &owned);
    sf_numkind k = sf_parse_double(p, len, out);
    free(owned);
    return k;
}

static bool same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) && !signbit(a) == !signbit(b);
    return sf_test_bits_of(a) == sf_test_bits_of(b);
}

static void report(const char *what, const char *s, double got, double want)
{
    n_failed++;
    if (n_failed <= 20) {
        size_t len = strlen(s);
        print_error("%s: \"%.*s%s\" (len %zu): got %a (%016llx), want %a (%016llx)\n", what,
                    (int)(len > 120 ? 120 : len), s, len > 120 ? "..." : "", len, got,
                    (unsigned long long)sf_test_bits_of(got), want, (unsigned long long)sf_test_bits_of(want));
    }
}

/* s must be NUL-terminated and wholly a number for strtod. */
static double check_vs_strtod(const char *s)
{
    size_t len = strlen(s);
    char *end;
    double want = strtod(s, &end);
    if (end != s + len) {
        report("strtod does not consume (test bug)", s, 0, want);
        return want;
    }
    double got = -12345.0;
    sf_numkind k = parse_guarded(s, len, &got);
    n_checked++;
    if (k == SF_NUM_NONE || !same_double(got, want))
        report(k == SF_NUM_NONE ? "rejected" : "mismatch", s, got, want);
    return got;
}

static void check_expect(const char *s, double expect)
{
    double got = check_vs_strtod(s);
    if (!same_double(got, expect))
        report("unexpected value", s, got, expect);
}

static void finish(void)
{
    if (n_failed != 0)
        print_error("%ld of %ld checks failed\n", n_failed, n_checked);
    assert_int_equal(n_failed, 0);
}

static int setup(void **state)
{
    (void)state;
    guard_buf = malloc(GUARD_SIZE);
    n_checked = n_failed = 0;
    return guard_buf == NULL;
}

static int teardown(void **state)
{
    (void)state;
    free(guard_buf);
    guard_buf = NULL;
    return 0;
}

/* Shortest of %.15g/%.16g/%.17g that strtod reads back (independent of the
 * library's formatter). */
static void shortest_ref(double v, char *buf, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (sf_test_bits_of(strtod(buf, NULL)) == sf_test_bits_of(v))
            return;
    }
}

/* ------------------------------------------------------------------------- */

static void test_random_doubles(void **state)
{
    (void)state;
    /* 10^6 doubles x 4 forms = 4 * 10^6 strings (a few seconds under ASan) */
    const long n = 1000000;
    char buf[512];
    for (long i = 0; i < n; i++) {
        double v;
        switch (i % 5) {
        case 0:
        case 1:
            v = rng_finite_bits();
            break;
        case 2:
            v = rng_normal();
            break;
        case 3:
            v = (rng_unit() * 2.0 - 1.0) * 1000.0;
            break;
        default:
            v = rng_normal() * pow(10.0, (double)((int)(rng() % 61) - 30));
            break;
        }
        snprintf(buf, sizeof buf, "%.17g", v);
        check_expect(buf, v);
        shortest_ref(v, buf, sizeof buf);
        check_expect(buf, v);
        snprintf(buf, sizeof buf, "%.6g", v);
        check_vs_strtod(buf);
        snprintf(buf, sizeof buf, "%.10f", v);
        check_vs_strtod(buf);
    }
    assert_true(n_checked == 4 * n);
    finish();
}

/* Random decimal texts: 1..40 digits (leading zeros allowed), optional point,
 * optional exponent across the whole double range. */
static void test_random_texts(void **state)
{
    (void)state;
    char buf[128];
    for (long i = 0; i < 200000; i++) {
        size_t k = 0;
        uint64_t r = rng();
        if (r & 1)
            buf[k++] = (r & 2) ? '-' : '+';
        int nd = 1 + (int)((r >> 2) % 40);
        int dot = (int)((r >> 8) % (uint64_t)(nd + 2)) - 1; /* -1: none */
        int lead0 = (int)((r >> 16) % 4) == 0 ? (int)((r >> 20) % 5) : 0;
        for (int j = 0; j < nd; j++) {
            if (j == dot)
                buf[k++] = '.';
            int d = j < lead0 ? 0 : (int)(rng() % 10);
            /* favour long runs of 9s / 0s now and then */
            if ((r >> 24) % 7 == 0 && j > nd / 2)
                d = (r >> 27) & 1 ? 9 : 0;
            buf[k++] = (char)('0' + d);
        }
        if (dot == nd)
            buf[k++] = '.';
        if ((r >> 32) % 3 != 0) {
            int e = (int)((r >> 36) % 700) - 360;
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%c%d", (r >> 48) & 1 ? 'e' : 'E', e);
        }
        buf[k] = '\0';
        check_vs_strtod(buf);
    }
    finish();
}

/* ------------------------------------------------------------------------- */
/* Exact decimal expansions of midpoints between adjacent doubles.           */

typedef struct big {
    uint32_t limb[200]; /* base 1e9, least significant first */
    int n;
} big;

static void big_set(big *b, uint64_t v)
{
    b->n = 0;
    do {
        b->limb[b->n++] = (uint32_t)(v % 1000000000u);
        v /= 1000000000u;
    } while (v != 0);
}

static void big_mul_small(big *b, uint32_t m) /* m < 2^31 */
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t x = (uint64_t)b->limb[i] * m + carry;
        b->limb[i] = (uint32_t)(x % 1000000000u);
        carry = x / 1000000000u;
    }
    while (carry != 0) {
        b->limb[b->n++] = (uint32_t)(carry % 1000000000u);
        carry /= 1000000000u;
    }
}

static void big_mul_pow(big *b, uint32_t base, int e)
{
    uint32_t chunk = 1;
    int per = 0;
    while ((uint64_t)chunk * base < (UINT64_C(1) << 30)) {
        chunk *= base;
        per++;
    }
    for (; e >= per; e -= per)
        big_mul_small(b, chunk);
    for (; e > 0; e--)
        big_mul_small(b, base);
}

static void big_add_small(big *b, int delta) /* delta = +1 or -1, b > 0 */
{
    for (int i = 0; i < b->n; i++) {
        int64_t x = (int64_t)b->limb[i] + delta;
        if (x < 0) {
            b->limb[i] = 999999999u;
            delta = -1;
        } else if (x >= 1000000000) {
            b->limb[i] = 0;
            delta = 1;
        } else {
            b->limb[i] = (uint32_t)x;
            return;
        }
    }
    if (delta > 0)
        b->limb[b->n++] = 1;
}

static size_t big_str(const big *b, char *out)
{
    size_t k = (size_t)sprintf(out, "%u", b->limb[b->n - 1]);
    for (int i = b->n - 2; i >= 0; i--)
        k += (size_t)sprintf(out + k, "%09u", b->limb[i]);
    while (b->n > 1 && k > 1 && out[0] == '0') /* never happens, top limb != 0 */
        memmove(out, out + 1, k--);
    return k;
}

/* Writes "<digits>e<exp>" or "d.ddde<exp>" for digits * 10^exp. */
static void big_text(const big *b, int e10, bool with_point, const char *extra_digits,
                     char *out)
{
    size_t k = big_str(b, out);
    size_t nx = strlen(extra_digits);
    memcpy(out + k, extra_digits, nx + 1);
    k += nx;
    e10 -= (int)nx;
    if (with_point && k > 1) {
        memmove(out + 2, out + 1, k - 1);
        out[1] = '.';
        k++;
        e10 += (int)(k - 2);
    }
    sprintf(out + k, "e%d", e10);
}

/* Midpoint between x (finite, >= 0) and its successor, exact, then one unit
 * below and above in the last digit, plus far-away digits past 800. */
static void check_midpoint(double x, int variant)
{
    static char text[4000];
    static char zeros_then_one[200];
    static char many_zeros[1200];
    if (zeros_then_one[0] == '\0') {
        memset(zeros_then_one, '0', 149);
        zeros_then_one[149] = '1';
        memset(many_zeros, '0', 1100);
    }
    uint64_t bx = sf_test_bits_of(x);
    uint64_t ef = (bx >> 52) & 0x7FF, f = bx & ((UINT64_C(1) << 52) - 1);
    uint64_t m = ef == 0 ? f : f | (UINT64_C(1) << 52);
    int e = ef == 0 ? -1074 : (int)ef - 1075;
    double lo = x, hi = nextafter(x, INFINITY);
    double tie = (m & 1) ? hi : lo;

    big b;
    big_set(&b, 2 * m + 1); /* midpoint = (2m+1) * 2^(e-1) */
    int e10 = 0;
    if (e - 1 < 0) {
        big_mul_pow(&b, 5, 1 - e);
        e10 = e - 1;
    } else {
        big_mul_pow(&b, 2, e - 1);
    }
    bool pt = variant & 1;
    big_text(&b, e10, pt, "", text);
    check_expect(text, tie);
    big_text(&b, e10, pt, many_zeros, text); /* > 800 digits, still a tie */
    check_expect(text, tie);
    big_text(&b, e10, pt, zeros_then_one, text); /* tie + tiny, past 800 digits */
    check_expect(text, hi);
    big lower = b, upper = b;
    big_add_small(&lower, -1);
    big_add_small(&upper, +1);
    big_text(&lower, e10, pt, "", text);
    check_expect(text, lo);
    big_text(&upper, e10, pt, "", text);
    check_expect(text, hi);
}

static void test_midpoints(void **state)
{
    (void)state;
    check_midpoint(0.0, 0);                  /* 2^-1075 ties to 0 */
    check_midpoint(DBL_TRUE_MIN, 1);         /* odd subnormal */
    check_midpoint(2 * DBL_TRUE_MIN, 0);
    check_midpoint(DBL_MIN, 1);              /* 2.2250738585072014e-308 */
    check_midpoint(nextafter(DBL_MIN, 0), 0);
    check_midpoint(1.0, 1);
    check_midpoint(nextafter(1.0, 2.0), 0);
    check_midpoint(9007199254740992.0, 1);   /* 2^53 */
    check_midpoint(nextafter(DBL_MAX, 0), 0);
    check_midpoint(DBL_MAX, 1);              /* ties to 2^1024: inf */
    for (int i = 0; i < 1500; i++) {
        double x = fabs(rng_finite_bits());
        if (x == DBL_MAX)
            continue;
        check_midpoint(x, i);
    }
    for (int i = 0; i < 300; i++)
        check_midpoint(fabs(rng_normal()), i);
    finish();
}

/* Texts that Eisel-Lemire decides (more than 2^53, at most 19 digits, as CSV
 * files of Python reprs are full of), near the rounding boundaries: the shortest
 * text of a random double with one more digit appended (1, 5 or 9: below, at and
 * above a tie at that digit), and the 17-digit texts of both neighbours of a
 * double; the rounding (round bit, sticky bit) and the product's top bit are
 * computed without branches since 2026-11-26. Against strtod. (Exact ties, where
 * the even mantissa decides, are test_midpoints' and test_edge_cases'.) */
static void test_eisel_lemire_rounding(void **state)
{
    (void)state;
    char text[64];
    for (int i = 0; i < 20000; i++) {
        double x = i % 2 ? rng_normal() : (rng_unit() - 0.5) * 1e6;
        if (i % 3 == 0) x = nextafter(x, INFINITY);
        snprintf(text, sizeof text, "%.17g", x);
        check_vs_strtod(text);
        snprintf(text, sizeof text, "%.16e", x);
        size_t n = strcspn(text, "e");
        char tail[16];
        snprintf(tail, sizeof tail, "%s", text + n);
        const char digit[3] = {'1', '5', '9'};
        text[n] = digit[i % 3];
        snprintf(text + n + 1, sizeof text - n - 1, "%s", tail);
        check_vs_strtod(text);
        snprintf(text, sizeof text, "%.18f", fabs(x) < 1 ? x : x / 1e6);
        check_vs_strtod(text);
    }
    finish();
}

/* ------------------------------------------------------------------------- */

static void test_edge_cases(void **state)
{
    (void)state;
    check_expect("4.9406564584124654e-324", DBL_TRUE_MIN);
    check_expect("2.2250738585072009e-308", nextafter(DBL_MIN, 0));
    check_expect("2.2250738585072014e-308", DBL_MIN);
    check_expect("2.2250738585072011e-308", nextafter(DBL_MIN, 0));
    check_expect("2.4703282292062327e-324", 0.0);
    check_expect("2.4703282292062328e-324", DBL_TRUE_MIN);
    check_expect("9007199254740993", 9007199254740992.0);
    check_expect("9007199254740993.0000000000000000000000000000000", 9007199254740992.0);
    check_expect("900719925474099300000000000000000000e-20", 9007199254740992.0);
    check_expect("9007199254740993.0000000000000000000000000000001", 9007199254740994.0);
    check_expect("9007199254740992.9999999999999999999999999999999", 9007199254740992.0);
    check_expect("9007199254740995", 9007199254740996.0);
    check_expect("4503599627370496.5", 4503599627370496.0);
    check_expect("4503599627370497.5", 4503599627370498.0);
    check_expect("1e23", 1e23);
    check_expect("8.98846567431158e307", 8.98846567431158e307);
    check_expect("1.7976931348623157e308", DBL_MAX);
    check_expect("179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368", DBL_MAX);
    check_expect("1.7976931348623158e308", DBL_MAX);
    check_expect("1.7976931348623159e308", INFINITY);
    check_expect("-1.7976931348623159e308", -INFINITY);
    check_expect("1e400", INFINITY);
    check_expect("1e-400", 0.0);
    check_expect("-1e-400", -0.0);
    check_expect("0e999999999", 0.0);
    check_expect("1e-99999999999999999999", 0.0);
    check_expect("1e99999999999999999999", INFINITY);
    check_expect("0.000000000000000000000000000000000000000001e99999999999999999999", INFINITY);
    check_expect("000000000000000000000001.5", 1.5);
    check_expect("0.00000000000000000000000000000000000000000000000000000000000000000015", 1.5e-67);
    check_expect("-0", -0.0);
    check_expect("+0.0", 0.0);
    check_expect("0", 0.0);
    check_expect("-0.000e-5", -0.0);
    check_expect(".5", 0.5);
    check_expect("-.5", -0.5);
    check_expect("5.", 5.0);
    check_expect("5.e3", 5000.0);
    check_expect("0.1", 0.1);
    check_expect("0.50000000000000000", 0.5);
    check_expect("0.50000000000000000000000000000000000000000000000", 0.5);
    check_expect("1.00000000000000000000000000000000000000000000001", 1.0);
    check_expect("18446744073709551615", 18446744073709551615.0);
    check_expect("18446744073709551616", 18446744073709551616.0);
    check_expect("99999999999999999999", 1e20);
    check_expect("1E5", 1e5);
    check_expect("1e+5", 1e5);
    check_expect("123456789012345678901234567890", 123456789012345678901234567890.0);
    check_expect("7.2057594037927933e16", 72057594037927936.0);
    check_expect("1448997445238699", 1448997445238699.0);
    check_expect("2.2250738585072012e-308", DBL_MIN);
    check_expect("3.0e-324", 0x1p-1074);
    check_expect("inf", INFINITY);
    check_expect("-inf", -INFINITY);
    check_expect("+INF", INFINITY);
    check_expect("-Infinity", -INFINITY);
    check_expect("iNfInItY", INFINITY);
    check_expect("NaN", NAN);
    check_expect("nan", NAN);
    check_expect("-nan", -NAN);

    /* very long texts (> the guard block: exact-size heap copies) */
    {
        size_t n = 20000;
        char *s = malloc(n + 16);
        assert_non_null(s);
        s[0] = '1';
        memset(s + 1, '0', n);
        strcpy(s + 1 + n, "e-20000");
        check_expect(s, 1.0);
        s[0] = '0';
        s[1] = '.';
        memset(s + 2, '0', n - 1);
        strcpy(s + 1 + n, "7e20000");
        check_expect(s, 7.0);
        memset(s, '9', n);
        strcpy(s + n, "e-19999");
        check_expect(s, 10.0);
        free(s);
    }
    /* 1 + 2^-53 (a tie) with a nonzero digit 1000 places further */
    {
        char s[1200];
        strcpy(s, "1.00000000000000011102230246251565404236316680908203125");
        size_t k = strlen(s);
        check_expect(s, 1.0);
        memset(s + k, '0', 1000);
        strcpy(s + k + 1000, "1");
        check_expect(s, nextafter(1.0, 2.0));
    }
    finish();
}

static void test_rejections(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", " 1", "1 ", "1e", "1e+", "1E-", "e5", "E5", ".", "+", "-", "+-1", "--1",
        "1.2.3", "0x10", "0X1p3", "1,5", "infx", "inf ", "infinit", "infinityy", "in",
        "nanx", "nan(1)", "na", "-", ".e5", "-.e1", "1e5.5", "1..", "..1", "1e1e1",
        "+.", "\t1", "1\n", "one", "1_000", "\xd9\xa1", "1e 5", "1 e5", "e", "-e1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double out = 4242.5;
        sf_numkind k = parse_guarded(bad[i], strlen(bad[i]), &out);
        if (k != SF_NUM_NONE || sf_test_bits_of(out) != sf_test_bits_of(4242.5))
            print_error("accepted \"%s\"\n", bad[i]);
        assert_int_equal(k, SF_NUM_NONE);
        assert_true(sf_test_bits_of(out) == sf_test_bits_of(4242.5));
    }
    double out = 1.0;
    assert_int_equal(sf_parse_double(NULL, 0, &out), SF_NUM_NONE);
    assert_int_equal(sf_parse_double("1", 0, &out), SF_NUM_NONE);
    assert_true(out == 1.0);
    /* embedded NUL */
    assert_int_equal(sf_parse_double("1\0" "2", 3, &out), SF_NUM_NONE);
}

static void test_kinds_and_lengths(void **state)
{
    (void)state;
    double out = 0;
    assert_int_equal(parse_guarded("123", 3, &out), SF_NUM_INT);
    assert_true(out == 123.0);
    assert_int_equal(parse_guarded("-0", 2, &out), SF_NUM_INT);
    assert_true(out == 0.0 && signbit(out));
    assert_int_equal(parse_guarded("+7", 2, &out), SF_NUM_INT);
    assert_int_equal(parse_guarded("12345678901234567890123", 23, &out), SF_NUM_INT);
    assert_true(out == 12345678901234567890123.0);
    assert_int_equal(parse_guarded("1.", 2, &out), SF_NUM_FLOAT);
    assert_int_equal(parse_guarded("1e5", 3, &out), SF_NUM_FLOAT);
    assert_int_equal(parse_guarded(".5", 2, &out), SF_NUM_FLOAT);
    assert_int_equal(parse_guarded("inf", 3, &out), SF_NUM_FLOAT);
    assert_int_equal(parse_guarded("nan", 3, &out), SF_NUM_FLOAT);
    /* not NUL-terminated: only len bytes count */
    assert_int_equal(sf_parse_double("12345", 3, &out), SF_NUM_INT);
    assert_true(out == 123.0);
    assert_int_equal(sf_parse_double("1.5e10", 4, &out), SF_NUM_NONE);
    assert_int_equal(sf_parse_double("1.5e10", 3, &out), SF_NUM_FLOAT);
    assert_true(out == 1.5);
    assert_int_equal(sf_parse_double("infinity", 3, &out), SF_NUM_FLOAT);
    assert_true(isinf(out));
    assert_int_equal(sf_parse_double("0.12345678901234567891,", 22, &out), SF_NUM_FLOAT);
    assert_true(out == 0.12345678901234567891);
}

/* Every text up to a length over a small alphabet: accepted exactly when
 * strtod consumes it all (hex excluded), with the same value. Covers the
 * grammar and the 8-byte windows on both sides of the 8-byte length split. */
static void grammar_sweep(const char *alphabet, int maxlen)
{
    const int na = (int)strlen(alphabet);
    char text[16];
    int idx[16];
    for (int len = 1; len <= maxlen; len++) {
        for (int i = 0; i < len; i++)
            idx[i] = 0;
        for (;;) {
            for (int i = 0; i < len; i++)
                text[i] = alphabet[idx[i]];
            text[len] = '\0';
            char *end;
            double want = strtod(text, &end);
            bool strtod_ok = end == text + len && strpbrk(text, "xX") == NULL;
            double got = 4242.5;
            sf_numkind k = parse_guarded(text, (size_t)len, &got);
            n_checked++;
            if (strtod_ok != (k != SF_NUM_NONE))
                report(strtod_ok ? "rejected" : "accepted", text, got, want);
            else if (strtod_ok && !same_double(got, want))
                report("mismatch", text, got, want);
            else if (!strtod_ok && sf_test_bits_of(got) != sf_test_bits_of(4242.5))
                report("out touched", text, got, 4242.5);
            int i = len - 1;
            while (i >= 0 && ++idx[i] == na)
                idx[i--] = 0;
            if (i < 0)
                break;
        }
    }
}

static void test_grammar_sweep(void **state)
{
    (void)state;
    grammar_sweep("05.e+-infax", 5);
    grammar_sweep("1.e-", 10);
    grammar_sweep("09.E+", 8);
    finish();
}

/* ------------------------------------------------------------------------- */

static void check_format(double v)
{
    char buf[64], ref[64];
    size_t len = sf_format_double(v, buf, 32);
    assert_int_equal(len, strlen(buf));
    assert_true(len < 32);
    double back = 0;
    sf_numkind k = sf_parse_double(buf, len, &back);
    bool ok = isnan(v) ? isnan(back) : same_double(back, v);
    if (k == SF_NUM_NONE || !ok) {
        print_error("format %a -> \"%s\" does not read back\n", v, buf);
        fail();
    }
    if (isfinite(v)) {
        int n17 = snprintf(ref, sizeof ref, "%.17g", v);
        if ((int)len > n17) {
            print_error("format %a -> \"%s\" longer than \"%s\"\n", v, buf, ref);
            fail();
        }
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[64];
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
        {1e15, "1e+15"}, {123456789012345680.0, "1.2345678901234568e+17"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        size_t len = sf_format_double(fixed[i].v, buf, sizeof buf);
        if (strcmp(buf, fixed[i].s) != 0)
            print_error("format %a: got \"%s\", want \"%s\"\n", fixed[i].v, buf, fixed[i].s);
        assert_string_equal(buf, fixed[i].s);
        assert_int_equal(len, strlen(fixed[i].s));
        check_format(fixed[i].v);
    }
    for (long i = 0; i < 100000; i++) {
        double v;
        switch (i % 4) {
        case 0:
        case 1:
            v = sf_test_of_bits(rng()); /* includes the odd inf/nan */
            break;
        case 2:
            v = rng_normal();
            break;
        default:
            v = rng_unit() * 100.0;
            break;
        }
        check_format(v);
    }
}

/* If the host switches to a locale with a decimal comma, formatting must still
 * use '.'. Skipped when no such locale is installed. */
static void test_format_foreign_locale(void **state)
{
    (void)state;
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                        "fr_FR.utf8", "de_DE", "fr_FR"};
    const char *ok = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !ok; i++)
        if (setlocale(LC_NUMERIC, names[i]) != NULL)
            ok = names[i];
    if (!ok) {
        skip();
        return;
    }
    char buf[64];
    double out = 0;
    sf_format_double(1.25, buf, sizeof buf);
    assert_int_equal(sf_parse_double("1.25", 4, &out), SF_NUM_FLOAT);
    assert_true(out == 1.25);
    setlocale(LC_NUMERIC, "C");
    assert_string_equal(buf, "1.25");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_and_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grammar_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eisel_lemire_rounding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_texts, setup, teardown),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_foreign_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
