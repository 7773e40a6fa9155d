/* test_deflate.c — io/deflate.c, whichever libraries the build chose (meson option
 * `deflate`): what it deflates, zlib inflates to the same bytes and what zlib
 * deflates, it inflates to the same bytes (deflate is lossless: compared with
 * memcmp, exact); a damaged stream fails with zlib's own words for the fault, the
 * same for every library (cut short, garbage, a bad checksum, too long for the room,
 * shorter than the room). The data: float64 rows like our chunks (random, and
 * constant runs that compress well), and empty input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/deflate.h"

#define N 100000 /* bytes of each sample */

static void fill(unsigned char *b, size_t n, int kind)
{
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v = kind == 0 ? (double)(x >> 11) * 0x1p-53 - 0.5 : (double)(i / 4096 % 5);
        memcpy(b + i, &v, 8);
    }
    for (size_t i = n / 8 * 8; i < n; i++) b[i] = (unsigned char)i;
}

static void test_round_trips(void **state)
{
    (void)state;
    printf("# %s\n", sfi_deflate_libraries());
    unsigned char *in = malloc(N), *z = malloc(sfi_deflate_bound(N)), *out = malloc(N + 1);
    sfi_inflater *inf = sfi_inflater_new();
    assert_non_null(inf);
    for (int level = 1; level <= 9; level += 4) {
        sfi_deflater *def = sfi_deflater_new(level);
        assert_non_null(def);
        for (int kind = 0; kind < 2; kind++) {
            size_t sizes[] = {0, 1, 8, 4097, N};
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                size_t n = sizes[k];
                fill(in, n, kind);
                size_t zn = sfi_deflate(def, in, n, z, sfi_deflate_bound(n));
                assert_true(zn > 0);
                /* zlib reads it as a zlib stream */
                uLongf got = N + 1;
                assert_int_equal(uncompress(out, &got, z, (uLong)zn), Z_OK);
                assert_int_equal(got, n);
                assert_memory_equal(out, in, n ? n : 1);
                /* and so do we, into a room of exactly its size */
                size_t g = 0;
                assert_null(sfi_inflate(inf, z, zn, out, n, &g));
                assert_int_equal(g, n);
                if (n) assert_memory_equal(out, in, n);
                if (kind == 1 && n == N) assert_true(zn < n / 10);
            }
        }
        sfi_deflater_free(def);
    }
    /* what zlib deflates, at every level, inflates the same */
    for (int level = 0; level <= 9; level += 3) {
        fill(in, N, level % 2);
        uLongf zn = (uLongf)sfi_deflate_bound(N);
        assert_int_equal(compress2(z, &zn, in, N, level), Z_OK);
        size_t g = 0;
        assert_null(sfi_inflate(inf, z, zn, out, N, &g));
        assert_int_equal(g, N);
        assert_memory_equal(out, in, N);
    }
    sfi_inflater_free(inf);
    free(in);
    free(z);
    free(out);
}

static void expect_fault(sfi_inflater *inf, const unsigned char *z, size_t zn, size_t cap,
                         const char *why)
{
    unsigned char *out = malloc(cap ? cap : 1);
    size_t g = 0;
    const char *msg = sfi_inflate(inf, z, zn, out, cap, &g);
    if (why) {
        assert_non_null(msg);
        assert_string_equal(msg, why);
    } else {
        assert_null(msg); /* inflates, to fewer bytes than the room */
        assert_true(g < cap);
    }
    free(out);
}

static void test_damaged_streams(void **state)
{
    (void)state;
    unsigned char *in = malloc(N), *z = malloc(sfi_deflate_bound(N));
    fill(in, N, 1);
    sfi_deflater *def = sfi_deflater_new(1);
    size_t zn = sfi_deflate(def, in, N, z, sfi_deflate_bound(N));
    sfi_deflater_free(def);
    assert_true(zn > 10);
    sfi_inflater *inf = sfi_inflater_new();
    expect_fault(inf, z, zn / 2, N, "the deflate data ends early");
    expect_fault(inf, z, zn, N - 1, "it inflates to more than the chunk's size");
    expect_fault(inf, z, zn, N + 8, NULL);
    unsigned char *bad = malloc(zn);
    memcpy(bad, z, zn);
    bad[zn - 1] ^= 0x40; /* the adler32 checksum */
    expect_fault(inf, bad, zn, N, "incorrect data check");
    memset(bad, 0xA5, zn);
    expect_fault(inf, bad, zn, N, "incorrect header check");
    expect_fault(inf, bad, 0, N, "the deflate data ends early");
    /* the inflater still works after faults */
    unsigned char *out = malloc(N);
    size_t g = 0;
    assert_null(sfi_inflate(inf, z, zn, out, N, &g));
    assert_int_equal(g, N);
    assert_memory_equal(out, in, N);
    sfi_inflater_free(inf);
    sfi_inflater_free(NULL);
    sfi_deflater_free(NULL);
    free(out);
    free(bad);
    free(in);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_damaged_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
