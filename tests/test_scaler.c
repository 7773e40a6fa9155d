/* test_scaler.c — the standard scaler against scikit-learn 1.2 (fixture made by
 * tests/reference/make_scaler_fixtures.py) on constant, near-constant, large-mean
 * and NaN columns, with and without sample weights, for chunk sizes 1, 37, 64, 300:
 * - mean_, var_, scale_, n_samples_seen_, transform: equal to sklearn's one-batch
 *   fit() (exact two-pass) to 1e-12 relative (transform: 1e-9 absolute near 0);
 * - equal to sklearn's partial_fit over 37-row chunks to 1e-12 relative on every
 *   column but two where sklearn's streaming path is wrong: column 0, whose first
 *   chunk is all NaN (sklearn: mean_ = var_ = NaN for good, since
 *   last_sum = NaN * 0), and column 1, 1e8 + N(0,1) (sklearn loses ~1e-9 of var_
 *   to cancellation in last_sum / last_over_new - new_sum); we give fit()'s values;
 * - merge == one fit; no overflow on long streams of large values; bad input
 *   leaves the state unchanged;
 * - the branch-free path for all-finite chunks gives the same bits as the general
 *   per-value loop (forced by a NaN row, which every sum skips), weighted or not. */
#include "sf_test.h"

#include "../tests/reference/scaler_fixture.h"

#define REL 1e-12

static sf_scaler *fit_chunks(bool wm, bool ws, bool weighted, size_t chunk)
{
    sf_scaler_params p;
    sf_scaler_params_default(&p);
    p.with_mean = wm;
    p.with_std = ws;
    sf_scaler *s = NULL;
    sf_error err;
    assert_int_equal(sf_scaler_new(&s, &p, &err), SF_OK);
    for (size_t a = 0; a < SCALER_N; a += chunk) {
        size_t n = SCALER_N - a < chunk ? SCALER_N - a : chunk;
        assert_int_equal(sf_scaler_partial_fit(s, scaler_x + a * SCALER_P, n, SCALER_P, SCALER_P,
                                               weighted ? scaler_w + a : NULL, &err),
                         SF_OK);
    }
    return s;
}

static void close_vec(const double *got, const double *want, size_t n, double abs_tol)
{
    for (size_t j = 0; j < n; j++) {
        if (isnan(want[j])) {
            assert_true(isnan(got[j]));
            continue;
        }
        if (!(fabs(got[j] - want[j]) <= abs_tol || fabs(got[j] - want[j]) <= REL * fabs(want[j])))
            print_error("index %zu (row %zu, column %zu): ", j, j / SCALER_P, j % SCALER_P);
        assert_double_close(got[j], want[j], REL, abs_tol);
    }
}

static void check_case(bool wm, bool ws, bool weighted, const double *mean, const double *var,
                       const double *scale, const double *n_seen, const double *t,
                       const double *pmean, const double *pvar)
{
    {
        sf_scaler *s = fit_chunks(wm, ws, weighted, SCALER_CHUNK);
        for (size_t j = 2; j < SCALER_P; j++) {
            assert_double_close(sf_scaler_mean(s)[j], pmean[j], REL, 1e-300);
            /* var of a constant large-mean column is cancellation noise in sklearn */
            if (ws) assert_double_close(sf_scaler_var(s)[j], pvar[j], REL, 1e-28 * pmean[j] * pmean[j]);
        }
        assert_true(isnan(pmean[0])); /* sklearn's bug, documented above */
        assert_false(isnan(sf_scaler_mean(s)[0]));
        sf_scaler_free(s);
    }
    size_t chunks[] = {37, 1, 300, 64};
    for (size_t k = 0; k < 4; k++) {
        sf_scaler *s = fit_chunks(wm, ws, weighted, chunks[k]);
        assert_int_equal(sf_scaler_n_features(s), SCALER_P);
        close_vec(sf_scaler_mean(s), mean, SCALER_P, 1e-300);
        close_vec(sf_scaler_n_samples_seen(s), n_seen, SCALER_P, 0);
        if (ws) {
            for (size_t j = 0; j < SCALER_P; j++) /* constant columns: sklearn's var_ is noise */
                assert_double_close(sf_scaler_var(s)[j], var[j], REL, 1e-28 * mean[j] * mean[j] + 1e-300);
            close_vec(sf_scaler_scale(s), scale, SCALER_P, 1e-300);
        }
        double *out = malloc(sizeof scaler_x);
        sf_error err;
        assert_int_equal(sf_scaler_transform(s, scaler_x, SCALER_N, SCALER_P, SCALER_P, out,
                                             SCALER_P, &err), SF_OK);
        /* (x - mean_) / scale_ is conditioned by |x| / scale_: sklearn's fit() mean_ of
         * column 1 (1e8 + N(0,1)) is itself 6 ulps off, which moves its output by 1e-7 */
        for (size_t i = 0; i < SCALER_N; i++)
            for (size_t j = 0; j < SCALER_P; j++) {
                size_t k = i * SCALER_P + j;
                if (isnan(t[k])) {
                    assert_true(isnan(out[k]));
                    continue;
                }
                double tol = 1e-12 * (fabs(scaler_x[k]) + 1.0) / (ws ? scale[j] : 1.0);
                assert_double_close(out[k], t[k], REL, tol);
            }
        /* inverse_transform gives the data back */
        assert_int_equal(sf_scaler_inverse_transform(s, out, SCALER_N, SCALER_P, SCALER_P, out,
                                                     SCALER_P, &err), SF_OK);
        for (size_t i = 0; i < SCALER_N * SCALER_P; i++)
            if (!isnan(scaler_x[i])) assert_double_close(out[i], scaler_x[i], 1e-9, 1e-9);
        free(out);
        sf_scaler_free(s);
    }
}

static void test_parity_default(void **state)
{
    (void)state;
    check_case(true, true, false, scaler_default_mean, scaler_default_var, scaler_default_scale,
               scaler_default_n, scaler_default_t,
               scaler_default_pmean, scaler_default_pvar);
}

static void test_parity_weighted(void **state)
{
    (void)state;
    check_case(true, true, true, scaler_weighted_mean, scaler_weighted_var, scaler_weighted_scale,
               scaler_weighted_n, scaler_weighted_t,
               scaler_weighted_pmean, scaler_weighted_pvar);
}

static void test_parity_no_mean_no_std(void **state)
{
    (void)state;
    check_case(false, true, false, scaler_no_mean_mean, scaler_no_mean_var, scaler_no_mean_scale,
               scaler_no_mean_n, scaler_no_mean_t,
               scaler_no_mean_pmean, scaler_no_mean_pvar);
    check_case(true, false, false, scaler_no_std_mean, scaler_no_std_var, scaler_no_std_scale,
               scaler_no_std_n, scaler_no_std_t,
               scaler_no_std_pmean, scaler_no_std_pvar);
}

static void test_constant_rule(void **state)
{
    (void)state;
    sf_scaler *s = fit_chunks(true, true, false, 37);
    const double *scale = sf_scaler_scale(s);
    assert_true(scale[2] == 1.0);  /* constant */
    assert_true(scale[4] == 1.0);  /* near-constant with a large mean: sklearn's rule */
    assert_true(scale[3] < 1e-11); /* tiny variance around 0: kept */
    sf_scaler_free(s);
}

static void test_merge_equals_one_fit(void **state)
{
    (void)state;
    /* segments of uneven sizes merged in order vs one sequential fit */
    size_t cuts[] = {0, 13, 100, 101, 250, SCALER_N};
    sf_scaler *all = fit_chunks(true, true, true, 50), *acc = NULL;
    sf_error err;
    assert_int_equal(sf_scaler_clone_empty(all, &acc, &err), SF_OK);
    for (size_t g = 0; g + 1 < sizeof cuts / sizeof cuts[0]; g++) {
        sf_scaler *part = NULL;
        assert_int_equal(sf_scaler_new(&part, NULL, &err), SF_OK);
        assert_int_equal(sf_scaler_partial_fit(part, scaler_x + cuts[g] * SCALER_P, cuts[g + 1] - cuts[g],
                                               SCALER_P, SCALER_P, scaler_w + cuts[g], &err), SF_OK);
        assert_int_equal(sf_scaler_merge(acc, part, &err), SF_OK);
        sf_scaler_free(part);
    }
    close_vec(sf_scaler_mean(acc), sf_scaler_mean(all), SCALER_P, 1e-300);
    close_vec(sf_scaler_var(acc), sf_scaler_var(all), SCALER_P, 1e-300);
    close_vec(sf_scaler_n_samples_seen(acc), sf_scaler_n_samples_seen(all), SCALER_P, 0);
    /* merging an empty scaler is the identity */
    sf_scaler *empty = NULL;
    assert_int_equal(sf_scaler_new(&empty, NULL, &err), SF_OK);
    double before = sf_scaler_mean(acc)[1];
    assert_int_equal(sf_scaler_merge(acc, empty, &err), SF_OK);
    assert_double_bits(sf_scaler_mean(acc)[1], before);
    sf_scaler_free(empty);
    sf_scaler_free(acc);
    sf_scaler_free(all);
}

/* Chunks that are all finite take sum_finite; the same chunks with an all-NaN row
 * appended take the general loop. The NaN row adds nothing, so every bit agrees. */
static void test_finite_path_same_bits(void **state)
{
    (void)state;
    enum { N = 300, P = 7, CH = 64 };
    static double x[N][P], xx[CH + 1][P], w[N], ww[CH + 1];
    for (size_t i = 0; i < N; i++) {
        w[i] = 0.25 + (double)(i % 5);
        for (size_t j = 0; j < P; j++) x[i][j] = sin(0.37 * (double)i + (double)j) * 1e3 + (double)j * 1e6;
    }
    for (int weighted = 0; weighted < 2; weighted++) {
        sf_scaler *fast = NULL, *slow = NULL;
        sf_error err;
        assert_int_equal(sf_scaler_new(&fast, NULL, &err), SF_OK);
        assert_int_equal(sf_scaler_new(&slow, NULL, &err), SF_OK);
        for (size_t a = 0; a < N; a += CH) {
            size_t n = N - a < CH ? N - a : CH;
            memcpy(xx, x[a], n * sizeof xx[0]);
            memcpy(ww, w + a, n * sizeof *ww);
            for (size_t j = 0; j < P; j++) xx[n][j] = NAN;
            ww[n] = 1.0;
            assert_int_equal(sf_scaler_partial_fit(fast, x[a], n, P, P, weighted ? w + a : NULL, &err), SF_OK);
            assert_int_equal(sf_scaler_partial_fit(slow, xx[0], n + 1, P, P, weighted ? ww : NULL, &err), SF_OK);
        }
        for (size_t j = 0; j < P; j++) {
            assert_double_bits(sf_scaler_mean(fast)[j], sf_scaler_mean(slow)[j]);
            assert_double_bits(sf_scaler_var(fast)[j], sf_scaler_var(slow)[j]);
            assert_double_bits(sf_scaler_n_samples_seen(fast)[j], sf_scaler_n_samples_seen(slow)[j]);
        }
        sf_scaler_free(fast);
        sf_scaler_free(slow);
    }
}

static void test_long_stream_no_overflow(void **state)
{
    (void)state;
    /* 1e305 over 2e6 rows: sklearn's last_sum = mean * n overflows to inf and its
     * mean_ becomes inf/nan; ours stays exact */
    sf_scaler *s = NULL;
    sf_error err;
    assert_int_equal(sf_scaler_new(&s, NULL, &err), SF_OK);
    double x[100];
    for (int k = 0; k < 100; k++) x[k] = 1e305;
    for (int rep = 0; rep < 20000; rep++)
        assert_int_equal(sf_scaler_partial_fit(s, x, 100, 1, 1, NULL, &err), SF_OK);
    assert_double_bits(sf_scaler_mean(s)[0], 1e305);
    assert_double_bits(sf_scaler_var(s)[0], 0.0);
    assert_double_bits(sf_scaler_scale(s)[0], 1.0);
    assert_double_bits(sf_scaler_n_samples_seen(s)[0], 2e6);
    sf_scaler_free(s);
}

static void test_bad_input_keeps_state(void **state)
{
    (void)state;
    sf_scaler *s = fit_chunks(true, true, false, 37);
    double mean0 = sf_scaler_mean(s)[0], n0 = sf_scaler_n_samples_seen(s)[0];
    sf_error err;
    double bad[2 * SCALER_P];
    memcpy(bad, scaler_x + 100 * SCALER_P, sizeof bad);
    bad[SCALER_P + 3] = INFINITY;
    assert_int_equal(sf_scaler_partial_fit(s, bad, 2, SCALER_P, SCALER_P, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 2);
    assert_int_equal(err.where.field, 4);
    double w[2] = {1, -1};
    bad[SCALER_P + 3] = 0;
    assert_int_equal(sf_scaler_partial_fit(s, bad, 2, SCALER_P, SCALER_P, w, &err), SF_ERR_ARG);
    assert_int_equal(sf_scaler_partial_fit(s, bad, 2, SCALER_P - 1, SCALER_P, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_scaler_partial_fit(s, bad, 2, SCALER_P, SCALER_P - 1, NULL, &err), SF_ERR_SHAPE);
    assert_double_bits(sf_scaler_mean(s)[0], mean0);
    assert_double_bits(sf_scaler_n_samples_seen(s)[0], n0);
    sf_scaler *fresh = NULL;
    assert_int_equal(sf_scaler_new(&fresh, NULL, &err), SF_OK);
    double out[SCALER_P];
    assert_int_equal(sf_scaler_transform(fresh, bad, 1, SCALER_P, SCALER_P, out, SCALER_P, &err), SF_ERR_STATE);
    sf_scaler_params p;
    sf_scaler_params_default(&p);
    p.with_mean = false;
    sf_scaler *other = NULL;
    assert_int_equal(sf_scaler_new(&other, &p, &err), SF_OK);
    assert_int_equal(sf_scaler_merge(s, other, &err), SF_ERR_STATE);
    sf_scaler_free(other);
    sf_scaler_free(fresh);
    sf_scaler_free(s);
    sf_scaler_free(NULL);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    sf_scaler *s = fit_chunks(true, true, true, 37), *r = NULL;
    sf_error err;
    double n[SCALER_P], k[SCALER_P], m[SCALER_P], m2[SCALER_P];
    assert_int_equal(sf_scaler_get_state(s, n, k, m, m2, &err), SF_OK);
    assert_int_equal(sf_scaler_new(&r, NULL, &err), SF_OK);
    assert_int_equal(sf_scaler_get_state(r, n, k, m, m2, &err), SF_ERR_STATE);
    assert_int_equal(sf_scaler_set_state(r, SCALER_P, n, k, m, m2, &err), SF_OK);
    /* continuing both on the same rows keeps them bitwise together (Decision 1) */
    assert_int_equal(sf_scaler_partial_fit(s, scaler_x, 10, SCALER_P, SCALER_P, NULL, &err), SF_OK);
    assert_int_equal(sf_scaler_partial_fit(r, scaler_x, 10, SCALER_P, SCALER_P, NULL, &err), SF_OK);
    for (size_t j = 0; j < SCALER_P; j++) {
        assert_double_bits(sf_scaler_mean(r)[j], sf_scaler_mean(s)[j]);
        assert_double_bits(sf_scaler_var(r)[j], sf_scaler_var(s)[j]);
        assert_double_bits(sf_scaler_scale(r)[j], sf_scaler_scale(s)[j]);
    }
    double before = sf_scaler_mean(r)[1];
    m2[1] = -1;
    assert_int_equal(sf_scaler_set_state(r, SCALER_P, n, k, m, m2, &err), SF_ERR_ARG);
    assert_double_bits(sf_scaler_mean(r)[1], before);
    sf_scaler_free(r);
    sf_scaler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_default),        cmocka_unit_test(test_parity_weighted),
        cmocka_unit_test(test_parity_no_mean_no_std), cmocka_unit_test(test_constant_rule),
        cmocka_unit_test(test_merge_equals_one_fit),  cmocka_unit_test(test_long_stream_no_overflow),
        cmocka_unit_test(test_bad_input_keeps_state), cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_finite_path_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
