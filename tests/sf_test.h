/* sf_test.h — what every cmocka test includes. */
#ifndef SF_TEST_H
#define SF_TEST_H
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "streamfit/streamfit.h"

/* cmocka 1.1.5's assert_float_equal casts to float (Decision 18): ours is double. */
#define assert_double_close(a, b, rel, abs_tol)                                           \
    do {                                                                                  \
        double sf_a_ = (a), sf_b_ = (b);                                                  \
        double sf_d_ = fabs(sf_a_ - sf_b_);                                               \
        if (!(sf_d_ <= (abs_tol) || sf_d_ <= (rel) * fmax(fabs(sf_a_), fabs(sf_b_)))) {   \
            print_error("%.17g != %.17g (diff %.3g)\n", sf_a_, sf_b_, sf_d_);             \
            fail();                                                                       \
        }                                                                                 \
    } while (0)

/* Exact bitwise equality of doubles (NaN equals NaN of the same bits). */
#define assert_double_bits(a, b)                                                          \
    do {                                                                                  \
        double sf_a_ = (a), sf_b_ = (b);                                                  \
        if (memcmp(&sf_a_, &sf_b_, sizeof(double)) != 0) {                                \
            print_error("%.17g != %.17g (bits differ)\n", sf_a_, sf_b_);                  \
            fail();                                                                       \
        }                                                                                 \
    } while (0)

/* splitmix64 (Steele, Lea, Flood 2014): the tests' seeded random bits. */
static inline uint64_t sf_test_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A double's bits and back. */
static inline uint64_t sf_test_bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static inline double sf_test_of_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Writes text to a fresh temporary file; returns its path (caller frees and
 * unlinks); aborts the test program if it cannot. */
static inline char *sf_test_write_tmp(const char *text, size_t n, const char *suffix)
{
    char *path = malloc(64);
    if (!path) abort();
    snprintf(path, 64, "/tmp/sf_test_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) abort(); /* a test cannot go on without its file */
    FILE *f = fdopen(fd, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
    return path;
}

#endif
