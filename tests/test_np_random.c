/* test_np_random.c — numpy's legacy RandomState stream (core/np_random.c) against
 * values numpy 1.24 printed (tests/reference/make_np_random_fixtures.py):
 * seeding (key words and pos for seeds 0, 1, 4357, 2^32-1), raw words across two
 * regenerations, random_sample / uniform, randint on 32- and 64-bit ranges with
 * scalar and size= calls (and where the stream stands afterwards), permutation,
 * choice(replace=False) and the state after 700 words. All exact (integers
 * equal, doubles bitwise). Also: for seeds != 0 the stream equals GSL's
 * gsl_rng_mt19937, and for seed 0 it differs (GSL seeds 4357 instead). */
#include "sf_test.h"

#include <gsl/gsl_rng.h>

#include "core/np_random.h"
#include "../tests/reference/np_random_fixture.h"

static void check_key(uint32_t seed, const uint32_t *want, uint32_t pos)
{
    sfi_np_rng r;
    sfi_np_seed(&r, seed);
    assert_int_equal(r.key[0], want[0]);
    assert_int_equal(r.key[1], want[1]);
    assert_int_equal(r.key[2], want[2]);
    assert_int_equal(r.key[311], want[3]);
    assert_int_equal(r.key[623], want[4]);
    assert_int_equal(r.pos, pos);
}

static void test_seeding(void **state)
{
    (void)state;
    check_key(0, np_key_0, NP_POS_0);
    check_key(1, np_key_1, NP_POS_1);
    check_key(4357, np_key_4357, NP_POS_4357);
    check_key(4294967295u, np_key_4294967295, NP_POS_4294967295);
}

static void test_raw_words(void **state)
{
    (void)state;
    sfi_np_rng r;
    sfi_np_seed(&r, 5489);
    static const int at[] = {0, 1, 2, 623, 624, 625, 1247, 1248, 1299};
    uint32_t w[1300];
    for (int i = 0; i < 1300; i++) w[i] = sfi_np_next32(&r);
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) assert_int_equal(w[at[k]], np_raw_5489[k]);
}

static void test_random_sample(void **state)
{
    (void)state;
    sfi_np_rng r;
    sfi_np_seed(&r, 0);
    for (int i = 0; i < 8; i++) assert_double_bits(sfi_np_random_sample(&r), np_sample_0[i]);
    sfi_np_seed(&r, 42);
    for (int i = 0; i < 8; i++) assert_double_bits(sfi_np_random_sample(&r), np_sample_42[i]);
    for (int i = 0; i < 4; i++) assert_double_bits(sfi_np_random_sample(&r), np_uniform_42_after8[i]);
}

static void test_randint(void **state)
{
    (void)state;
    const int64_t *want[NP_RANDINT_NCASES] = {np_randint_0, np_randint_1, np_randint_2, np_randint_3,
                                              np_randint_4, np_randint_5, np_randint_6};
    for (int c = 0; c < NP_RANDINT_NCASES; c++) {
        sfi_np_rng r;
        sfi_np_seed(&r, 7);
        for (int i = 0; i < 20; i++) {
            int64_t v = sfi_np_randint(&r, np_randint_cases[c][0], np_randint_cases[c][1]);
            if (v != want[c][i]) print_error("case %d draw %d\n", c, i);
            assert_true(v == want[c][i]);
        }
        assert_true((int64_t)sfi_np_next32(&r) == want[c][20]); /* same number of words consumed */
    }
}

static void test_permutation_choice(void **state)
{
    (void)state;
    sfi_np_rng r;
    sfi_np_seed(&r, 2023);
    size_t idx[1000];
    sfi_np_permutation(&r, idx, 10);
    for (int i = 0; i < 10; i++) assert_int_equal(idx[i], np_perm_10[i]);
    sfi_np_permutation(&r, idx, 1000);
    for (int i = 0; i < 20; i++) assert_int_equal(idx[i], np_perm_1000_head[i]);
    assert_double_bits(sfi_np_random_sample(&r), np_perm_after[0]);
    assert_double_bits(sfi_np_random_sample(&r), np_perm_after[1]);
    sfi_np_seed(&r, 11);
    sfi_np_permutation(&r, idx, 50);
    for (int i = 0; i < 5; i++) assert_int_equal(idx[i], np_choice_50_5[i]);
    sfi_np_permutation(&r, idx, 1); /* n = 1 and n = 0 draw nothing */
    sfi_np_permutation(&r, idx, 0);
    assert_int_equal(idx[0], 0);
}

static void test_state(void **state)
{
    (void)state;
    sfi_np_rng r, copy;
    sfi_np_seed(&r, 123);
    for (int i = 0; i < 700; i++) sfi_np_next32(&r);
    assert_int_equal(r.key[0], np_key_123_after700[0]);
    assert_int_equal(r.key[76], np_key_123_after700[1]);
    assert_int_equal(r.key[623], np_key_123_after700[2]);
    assert_int_equal(r.pos, NP_POS_123_AFTER700);
    assert_true(sfi_np_state_valid(&r));
    copy = r; /* a restored state continues the same stream */
    for (int i = 0; i < 1000; i++) assert_int_equal(sfi_np_next32(&r), sfi_np_next32(&copy));
    copy.pos = 625;
    assert_false(sfi_np_state_valid(&copy));
    memset(&copy, 0, sizeof copy);
    assert_false(sfi_np_state_valid(&copy));
}

static void test_gsl_seeding(void **state)
{
    (void)state;
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(g);
    static const uint32_t seeds[] = {1, 42, 4357, 4294967295u};
    sfi_np_rng r;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gsl_rng_set(g, seeds[s]);
        sfi_np_seed(&r, seeds[s]);
        for (int i = 0; i < 2000; i++) assert_int_equal(sfi_np_next32(&r), gsl_rng_get(g));
    }
    /* seed 0: GSL substitutes 4357, numpy does not */
    gsl_rng_set(g, 0);
    sfi_np_seed(&r, 0);
    assert_int_not_equal(sfi_np_next32(&r), gsl_rng_get(g));
    sfi_np_seed(&r, 4357);
    gsl_rng_set(g, 0);
    assert_int_equal(sfi_np_next32(&r), gsl_rng_get(g));
    gsl_rng_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeding),        cmocka_unit_test(test_raw_words),
        cmocka_unit_test(test_random_sample),  cmocka_unit_test(test_randint),
        cmocka_unit_test(test_permutation_choice), cmocka_unit_test(test_state),
        cmocka_unit_test(test_gsl_seeding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
