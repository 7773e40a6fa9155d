/* test_linreg.c — least squares by QR updating against statsmodels 0.13.5
 * (fixture made by tests/reference/make_linreg_fixtures.py).
 *
 * What is compared, and how closely:
 * - OLS, WLS, no-intercept (uncentered R²) and a rank-deficient design (two
 *   aliased columns: NaN coefficients as R's lm; the rest equal statsmodels on the
 *   design without them): params, bse, tvalues, pvalues, cov_params,
 *   conf_int(0.05), nobs, df_model, df_resid, ssr, ess, the TSS, rsquared,
 *   rsquared_adj, fvalue, f_pvalue, scale, llf, aic, bic, condition number,
 *   singular values, k_constant, predictions with mean / observation intervals:
 *   1e-9 relative (REL), for rows fed in chunks of 1, 7 and all rows, which are
 *   bitwise the same fit;
 * - ridge (alpha = 2.5, weighted) against a direct least-squares solve of the
 *   augmented system (numpy lstsq, itself checked against sklearn's Ridge): 1e-9;
 * - the residual pass: Durbin–Watson, Jarque–Bera, skew, kurtosis, omnibus and
 *   HC0..HC3 bse, pvalues, fvalue, f_pvalue: 1e-9 relative;
 * - merge of segment states == one fit (1e-12 relative on params and ssr), and
 *   bitwise equal for the same segments merged in the same order; save (get_state)
 *   → load (set_state) → more rows == one uninterrupted fit in one call, bitwise;
 * - accuracy on the ill-conditioned polynomials y = Σ x^k (x = 0..20, k = 0..5)
 *   and y = Σ 10^-k x^k: correct digits (min over coefficients of
 *   -log10 |b - b_true| / |b_true|) printed beside the normal equations' figure:
 *   at least R's lm's 9.2 on the first; on the second R's 13.3 beats the exact
 *   least-squares solution of the data (13.18 digits) by luck, we require 12.5
 *   (we get 12.8, LAPACK's QR 13.2); and > normal equations + 2 on both;
 * - the regression table: statsmodels' summary() text exactly (Date/Time blank);
 * - through the pipeline from CSV (several segments): the JSON export bitwise
 *   equal for 1, 2, 3 threads (both passes merged in segment order), statsmodels'
 *   values (OLS, HC1, diagnostics) to 1e-9, save → load → same export and
 *   interval predictions, fit(A) + save + load + update(B) == fit(A∪B) to 1e-12;
 * - a tampered model file is refused as corrupt; degenerate data (fewer rows
 *   than columns, constant target, zero column, zero weights) gives NaN, not a crash;
 * - bad input (shape, NaN, negative weight, bad params) → a clear error and the
 *   state unchanged.
 */
#include "sf_test.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <hdf5.h>
#include <unistd.h>

#include "../tests/reference/linreg_fixture.h"
#include "pipeline/stage.h"

sf_status sfi_linreg_stage_summary(const void *st, const char *yname, char **out, sf_error *err);

#define REL 1e-9

static sf_linreg *fit_chunks(const sf_linreg_params *prm, const double *x, size_t p, const double *w, size_t chunk)
{
    sf_linreg *s = NULL;
    sf_error err;
    assert_int_equal(sf_linreg_new(&s, prm, &err), SF_OK);
    for (size_t a = 0; a < LR_N; a += chunk) {
        size_t n = LR_N - a < chunk ? LR_N - a : chunk;
        assert_int_equal(sf_linreg_partial_fit(s, x + a * p, n, p, p, lr_y + a, w ? w + a : NULL, &err), SF_OK);
    }
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    return s;
}

static void close_vec(const char *what, const double *got, const double *want, size_t n, double rel)
{
    for (size_t j = 0; j < n; j++) {
        if (isnan(want[j])) {
            if (!isnan(got[j])) print_error("%s[%zu]: want NaN, got %.17g\n", what, j, got[j]);
            assert_true(isnan(got[j]));
            continue;
        }
        if (!(fabs(got[j] - want[j]) <= rel * fabs(want[j]))) print_error("%s[%zu]: ", what, j);
        assert_double_close(got[j], want[j], rel, 0);
    }
}

/* Our result's fields in the fixture's *_stats order. */
static void stats_vec(const sf_linreg_result *r, double *v)
{
    double s[] = {r->nobs, r->df_model, r->df_resid, r->ssr, r->ess, r->centered_tss, r->uncentered_tss,
                  r->rsquared, r->rsquared_adj, r->fvalue, r->f_pvalue, r->scale, r->llf, r->aic, r->bic,
                  r->condition_number, r->k_constant};
    memcpy(v, s, sizeof s);
}

typedef struct lr_case {
    const double *params, *bse, *tvalues, *pvalues, *cov, *ci_lo, *ci_hi, *stats, *sv, *pred;
} lr_case;

#define CASE(c) {c##_params, c##_bse, c##_tvalues, c##_pvalues, c##_cov, c##_ci_lo, c##_ci_hi, c##_stats, c##_sv, c##_pred}

/* Compares s to a statsmodels case; `map` gives, per model column of s, the index
 * in the reference (or -1: aliased, expected NaN). */
static void check_case(const sf_linreg *s, const lr_case *c, const int *map, size_t k, bool check_sv)
{
    const sf_linreg_result *r = sf_linreg_get_result(s);
    assert_non_null(r);
    assert_int_equal(r->n_params, k);
    size_t kr = 0;
    for (size_t m = 0; m < k; m++) kr += map[m] >= 0;
    assert_int_equal(r->rank, kr);
    double lo[16], hi[16];
    sf_error err;
    assert_int_equal(sf_linreg_conf_int(s, 0.05, lo, hi, &err), SF_OK);
    for (size_t m = 0; m < k; m++) {
        if (map[m] < 0) {
            assert_true(r->aliased[m]);
            assert_true(isnan(r->params[m]) && isnan(r->bse[m]) && isnan(r->pvalues[m]) && isnan(lo[m]));
            for (size_t j = 0; j < k; j++) assert_true(isnan(r->cov_params[m * k + j]));
            continue;
        }
        size_t i = (size_t)map[m];
        assert_false(r->aliased[m]);
        close_vec("params", &r->params[m], &c->params[i], 1, REL);
        close_vec("bse", &r->bse[m], &c->bse[i], 1, REL);
        close_vec("tvalues", &r->tvalues[m], &c->tvalues[i], 1, REL);
        close_vec("pvalues", &r->pvalues[m], &c->pvalues[i], 1, REL);
        close_vec("ci_lo", &lo[m], &c->ci_lo[i], 1, REL);
        close_vec("ci_hi", &hi[m], &c->ci_hi[i], 1, REL);
        for (size_t j = 0; j < k; j++)
            if (map[j] >= 0) close_vec("cov", &r->cov_params[m * k + j], &c->cov[i * kr + (size_t)map[j]], 1, REL);
    }
    double v[17];
    stats_vec(r, v);
    if (!check_sv) v[15] = c->stats[15];
    close_vec("stats", v, c->stats, 17, REL);
    if (check_sv) close_vec("singular values", r->singular_values, c->sv, k, REL);
}

static void check_predictions(const sf_linreg *s, const double *xnew, const double *want)
{
    double out[LR_NNEW * 4];
    sf_error err;
    assert_int_equal(sf_linreg_predict_interval(s, xnew, LR_NNEW, LR_P, LR_P, 0.05, false, out, 4, &err), SF_OK);
    for (size_t i = 0; i < LR_NNEW; i++) {
        close_vec("mean", &out[i * 4], &want[i * 6], 1, REL);
        close_vec("mean_se", &out[i * 4 + 1], &want[i * 6 + 1], 1, REL);
        /* interval ends: relative to the terms they are made of (mean ± q·se) */
        for (int j = 0; j < 2; j++) assert_double_close(out[i * 4 + 2 + j], want[i * 6 + 2 + j], 0, REL * (fabs(out[i * 4]) + 3 * out[i * 4 + 1]));
    }
    assert_int_equal(sf_linreg_predict_interval(s, xnew, LR_NNEW, LR_P, LR_P, 0.05, true, out, 4, &err), SF_OK);
    for (size_t i = 0; i < LR_NNEW; i++)
        for (int j = 0; j < 2; j++) assert_double_close(out[i * 4 + 2 + j], want[i * 6 + 4 + j], 0, REL * (fabs(out[i * 4]) + 3 * out[i * 4 + 1]));
    double yhat[LR_NNEW];
    assert_int_equal(sf_linreg_predict(s, xnew, LR_NNEW, LR_P, LR_P, yhat, &err), SF_OK);
    for (size_t i = 0; i < LR_NNEW; i++) close_vec("predict", &yhat[i], &want[i * 6], 1, REL);
}

static const int map_int[] = {0, 1, 2, 3, 4};

/* Fitted with all rows, in chunks of 1 and of 7: each equals statsmodels, and
 * all three are bitwise the same (rows are folded in fixed blocks). */
static void check_chunk_sizes(const double *w, const lr_case *c, const double *pred)
{
    size_t chunks[] = {LR_N, 1, 7};
    sf_linreg *first = NULL;
    for (size_t k = 0; k < 3; k++) {
        sf_linreg *s = fit_chunks(NULL, lr_x, LR_P, w, chunks[k]);
        check_case(s, c, map_int, LR_P + 1, true);
        check_predictions(s, lr_xnew, pred);
        if (!first) {
            first = s;
            continue;
        }
        const sf_linreg_result *a = sf_linreg_get_result(first), *b = sf_linreg_get_result(s);
        for (size_t m = 0; m < LR_P + 1; m++) {
            assert_double_bits(a->params[m], b->params[m]);
            assert_double_bits(a->bse[m], b->bse[m]);
        }
        double va[17], vb[17];
        stats_vec(a, va);
        stats_vec(b, vb);
        for (int i = 0; i < 17; i++) assert_double_bits(va[i], vb[i]);
        sf_linreg_free(s);
    }
    sf_linreg_free(first);
}

static void test_ols(void **state)
{
    (void)state;
    lr_case c = CASE(ols);
    check_chunk_sizes(NULL, &c, ols_pred);
}

static void test_wls(void **state)
{
    (void)state;
    lr_case c = CASE(wls);
    check_chunk_sizes(lr_w, &c, wls_pred);
}

static void test_no_intercept(void **state)
{
    (void)state;
    lr_case c = CASE(noint);
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.fit_intercept = false;
    sf_linreg *s = fit_chunks(&prm, lr_x, LR_P, NULL, 7);
    check_case(s, &c, map_int, LR_P, true);
    assert_int_equal(sf_linreg_get_result(s)->k_constant, 0);
    check_predictions(s, lr_xnew, noint_pred);
    sf_linreg_free(s);
}

static void test_rank_deficient(void **state)
{
    (void)state;
    lr_case c = CASE(rankdef);
    static const int map[] = {0, 1, 2, 3, 4, -1, -1}; /* const, x1..x4, 2x1 - x3, x2 */
    size_t chunks[] = {1, 7, LR_N};
    for (size_t k = 0; k < 3; k++) {
        sf_linreg *s = fit_chunks(NULL, lr_xrank, LR_P + 2, NULL, chunks[k]);
        check_case(s, &c, map, LR_P + 3, false);
        const sf_linreg_result *r = sf_linreg_get_result(s);
        assert_true(r->condition_number > 1e12); /* the design itself is singular */
        /* predictions use the kept columns only */
        double xr[LR_P + 2] = {lr_xnew[0], lr_xnew[1], lr_xnew[2], lr_xnew[3], 1e6, -1e6}, yhat;
        sf_error err;
        assert_int_equal(sf_linreg_predict(s, xr, 1, LR_P + 2, LR_P + 2, &yhat, &err), SF_OK);
        close_vec("predict", &yhat, &rankdef_pred[0], 1, REL);
        sf_linreg_free(s);
    }
}

static void test_ridge(void **state)
{
    (void)state;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.alpha = lr_ridge_alpha;
    size_t chunks[] = {1, 7, LR_N};
    for (size_t k = 0; k < 3; k++) {
        sf_linreg *s = fit_chunks(&prm, lr_x, LR_P, lr_w, chunks[k]);
        const sf_linreg_result *r = sf_linreg_get_result(s);
        close_vec("ridge params", r->params, ridge_params, LR_P + 1, REL);
        close_vec("ridge ssr", &r->ssr, &ridge_stats[0], 1, 1e-8);
        close_vec("ridge R2", &r->rsquared, &ridge_stats[1], 1, 1e-9);
        assert_true(isnan(r->bse[1]) && isnan(r->pvalues[1]) && isnan(r->fvalue));
        sf_linreg_free(s);
    }
}

/* Segment states merged in order equal one fit. */
static void test_merge(void **state)
{
    (void)state;
    size_t cuts[] = {0, 13, 14, 70, LR_N};
    sf_linreg *whole = fit_chunks(NULL, lr_x, LR_P, lr_w, 5);
    sf_linreg *acc[2] = {NULL, NULL};
    sf_error err;
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(sf_linreg_new(&acc[rep], NULL, &err), SF_OK);
        for (size_t g = 0; g + 1 < 5; g++) {
            sf_linreg *seg;
            assert_int_equal(sf_linreg_clone_empty(acc[rep], &seg, &err), SF_OK);
            size_t a = cuts[g], n = cuts[g + 1] - a;
            assert_int_equal(sf_linreg_partial_fit(seg, lr_x + a * LR_P, n, LR_P, LR_P, lr_y + a, lr_w + a, &err), SF_OK);
            assert_int_equal(sf_linreg_merge(acc[rep], seg, &err), SF_OK);
            sf_linreg_free(seg);
        }
        assert_int_equal(sf_linreg_finalize(acc[rep], &err), SF_OK);
    }
    const sf_linreg_result *a = sf_linreg_get_result(acc[0]), *b = sf_linreg_get_result(acc[1]);
    const sf_linreg_result *o = sf_linreg_get_result(whole);
    for (size_t m = 0; m < LR_P + 1; m++) {
        assert_double_close(a->params[m], o->params[m], 1e-12, 0);
        assert_double_bits(a->params[m], b->params[m]);
        assert_double_bits(a->bse[m], b->bse[m]);
    }
    assert_double_close(a->ssr, o->ssr, 1e-12, 0);
    assert_double_close(a->centered_tss, o->centered_tss, 1e-12, 0);
    lr_case c = CASE(wls);
    check_case(acc[0], &c, map_int, LR_P + 1, true);
    sf_linreg_free(whole);
    sf_linreg_free(acc[0]);
    sf_linreg_free(acc[1]);
}

/* More rows than a block (several folds, then pending rows): chunks of 1, 997,
 * 4096 and all rows give bitwise the same fit; the state saved mid-way (rows
 * pending) and continued gives it too; segments merged give it to 1e-12. */
static void test_many_rows(void **state)
{
    (void)state;
    enum { N = 10000, P = 3 };
    double *x = malloc(N * P * sizeof *x), *y = malloc(N * sizeof *y), *w = malloc(N * sizeof *w);
    uint64_t g = 88172645463325252u;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++) {
            g ^= g << 13, g ^= g >> 7, g ^= g << 17; /* xorshift64 */
            x[i * P + j] = (double)(g >> 11) / 9007199254740992.0 * (j + 1) + 100.0 * (double)j;
        }
        g ^= g << 13, g ^= g >> 7, g ^= g << 17;
        w[i] = 0.5 + (double)(g >> 11) / 9007199254740992.0;
        y[i] = 1 + 2 * x[i * P] - x[i * P + 1] + 0.5 * x[i * P + 2] + w[i];
    }
    size_t chunks[] = {N, 1, 997, 4096};
    const sf_linreg_result *ref = NULL;
    sf_linreg *keep = NULL;
    sf_error err;
    for (size_t k = 0; k < 4; k++) {
        sf_linreg *s;
        assert_int_equal(sf_linreg_new(&s, NULL, &err), SF_OK);
        for (size_t a = 0; a < N; a += chunks[k]) {
            size_t n = N - a < chunks[k] ? N - a : chunks[k];
            assert_int_equal(sf_linreg_partial_fit(s, x + a * P, n, P, P, y + a, w + a, &err), SF_OK);
        }
        assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
        const sf_linreg_result *r = sf_linreg_get_result(s);
        if (!ref) {
            ref = r;
            keep = s;
            continue;
        }
        for (size_t m = 0; m < P + 1; m++) assert_double_bits(r->params[m], ref->params[m]);
        assert_double_bits(r->rsquared, ref->rsquared);
        assert_double_bits(r->llf, ref->llf);
        sf_linreg_free(s);
    }
    /* save mid-way with rows pending, continue on a fresh model */
    sf_linreg *a, *b;
    assert_int_equal(sf_linreg_new(&a, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_new(&b, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(a, x, 5000, P, P, y, w, &err), SF_OK);
    sf_linreg_state st;
    assert_int_equal(sf_linreg_get_state(a, &st, &err), SF_OK);
    assert_true(st.n_pending > 0 && st.nobs == 4096);
    assert_int_equal(sf_linreg_set_state(b, &st, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(b, x + 5000 * P, N - 5000, P, P, y + 5000, w + 5000, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(b, &err), SF_OK);
    for (size_t m = 0; m < P + 1; m++) assert_double_bits(sf_linreg_get_result(b)->params[m], ref->params[m]);
    assert_double_bits(sf_linreg_get_result(b)->rsquared, ref->rsquared);
    /* two segments merged */
    sf_linreg *c;
    assert_int_equal(sf_linreg_new(&c, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(c, x + 5000 * P, N - 5000, P, P, y + 5000, w + 5000, &err), SF_OK);
    sf_linreg_free(b);
    assert_int_equal(sf_linreg_new(&b, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(b, x, 5000, P, P, y, w, &err), SF_OK);
    assert_int_equal(sf_linreg_merge(b, c, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(b, &err), SF_OK);
    for (size_t m = 0; m < P + 1; m++) assert_double_close(sf_linreg_get_result(b)->params[m], ref->params[m], 1e-12, 0);
    assert_double_close(sf_linreg_get_result(b)->rsquared, ref->rsquared, 1e-12, 0);
    sf_linreg_free(a);
    sf_linreg_free(b);
    sf_linreg_free(c);
    sf_linreg_free(keep);
    free(x);
    free(y);
    free(w);
}

/* get_state → set_state on a new model → more rows == one uninterrupted fit. */
static void test_state_round_trip(void **state)
{
    (void)state;
    sf_error err;
    sf_linreg *one, *first, *second;
    assert_int_equal(sf_linreg_new(&one, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_new(&first, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_new(&second, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(one, lr_x, LR_N, LR_P, LR_P, lr_y, lr_w, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(first, lr_x, 50, LR_P, LR_P, lr_y, lr_w, &err), SF_OK);
    sf_linreg_state st;
    assert_int_equal(sf_linreg_get_state(first, &st, &err), SF_OK);
    assert_true(st.n_pending == 50); /* still buffered: the state carries them */
    assert_int_equal(sf_linreg_set_state(second, &st, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(second, lr_x + 50 * LR_P, LR_N - 50, LR_P, LR_P, lr_y + 50, lr_w + 50, &err),
                     SF_OK);
    assert_int_equal(sf_linreg_finalize(one, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(second, &err), SF_OK);
    const sf_linreg_result *a = sf_linreg_get_result(one), *b = sf_linreg_get_result(second);
    for (size_t m = 0; m < LR_P + 1; m++) {
        assert_double_bits(a->params[m], b->params[m]);
        assert_double_bits(a->bse[m], b->bse[m]);
    }
    assert_double_bits(a->rsquared, b->rsquared);
    assert_double_bits(a->llf, b->llf);
    /* a corrupt state is refused and leaves the model unchanged */
    sf_linreg_state bad;
    assert_int_equal(sf_linreg_get_state(first, &bad, &err), SF_OK);
    double r2[(LR_P + 2) * (LR_P + 2)];
    memcpy(r2, bad.r, sizeof r2);
    r2[LR_P + 2] = 1.0; /* below the diagonal */
    bad.r = r2;
    assert_int_equal(sf_linreg_set_state(second, &bad, &err), SF_ERR_ARG);
    assert_non_null(sf_linreg_get_result(second));
    bad.r = st.r;
    bad.m2_y = -1;
    assert_int_equal(sf_linreg_set_state(second, &bad, &err), SF_ERR_ARG);
    sf_linreg_free(one);
    sf_linreg_free(first);
    sf_linreg_free(second);
}

static void residual_pass(sf_linreg *s, const double *w, size_t chunk)
{
    sf_error err;
    assert_true(sf_linreg_wants_residual_pass(s));
    assert_int_equal(sf_linreg_begin_residual_pass(s, &err), SF_OK);
    for (size_t a = 0; a < LR_N; a += chunk) {
        size_t n = LR_N - a < chunk ? LR_N - a : chunk;
        assert_int_equal(sf_linreg_residual_fit(s, lr_x + a * LR_P, n, LR_P, LR_P, lr_y + a, w ? w + a : NULL, &err),
                         SF_OK);
    }
    assert_int_equal(sf_linreg_end_residual_pass(s, &err), SF_OK);
    assert_false(sf_linreg_wants_residual_pass(s));
}

static void check_diag(const sf_linreg_result *r, const double *want)
{
    assert_true(r->has_diagnostics);
    double v[] = {r->durbin_watson, r->jarque_bera, r->jb_pvalue, r->skew, r->kurtosis, r->omnibus, r->omnibus_pvalue};
    close_vec("diagnostics", v, want, 7, REL);
}

static void check_hc(const double *x, const double *w, bool intercept, const double *want[4], const double *diag)
{
    size_t k = LR_P + (intercept ? 1 : 0);
    for (int t = 0; t < 4; t++) {
        sf_linreg_params prm;
        sf_linreg_params_default(&prm);
        prm.fit_intercept = intercept;
        prm.cov_type = (sf_linreg_cov_type)(SF_LINREG_HC0 + t);
        sf_linreg *s = fit_chunks(&prm, x, LR_P, w, 7);
        residual_pass(s, w, t == 0 ? 1 : 11);
        const sf_linreg_result *r = sf_linreg_get_result(s);
        assert_int_equal(r->cov_type, prm.cov_type);
        assert_false(r->use_t);
        close_vec("HC bse", r->bse, want[t], k, REL);
        close_vec("HC pvalues", r->pvalues, want[t] + k, k, REL);
        close_vec("HC fvalue", &r->fvalue, want[t] + 2 * k, 2, REL);
        check_diag(r, diag);
        sf_linreg_free(s);
    }
}

static void test_residual_pass(void **state)
{
    (void)state;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.diagnostics = true;
    sf_linreg *s = fit_chunks(&prm, lr_x, LR_P, NULL, LR_N);
    residual_pass(s, NULL, 7);
    check_diag(sf_linreg_get_result(s), ols_diag);
    lr_case c = CASE(ols); /* nonrobust: the first pass's tables are kept */
    check_case(s, &c, map_int, LR_P + 1, true);
    sf_linreg_free(s);
    const double *ols_hc[] = {ols_hc0, ols_hc1, ols_hc2, ols_hc3};
    const double *wls_hc[] = {wls_hc0, wls_hc1, wls_hc2, wls_hc3};
    const double *noint_hc[] = {noint_hc0, noint_hc1, noint_hc2, noint_hc3};
    check_hc(lr_x, NULL, true, ols_hc, ols_diag);
    check_hc(lr_x, lr_w, true, wls_hc, wls_diag);
    check_hc(lr_x, NULL, false, noint_hc, noint_diag);
}

/* The residual pass fitted per segment and merged in order equals one pass. */
static void test_residual_merge(void **state)
{
    (void)state;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.cov_type = SF_LINREG_HC3;
    sf_linreg *s = fit_chunks(&prm, lr_x, LR_P, lr_w, LR_N);
    sf_error err;
    assert_int_equal(sf_linreg_begin_residual_pass(s, &err), SF_OK);
    size_t cuts[] = {0, 1, 40, 41, LR_N};
    for (size_t g = 0; g + 1 < 5; g++) {
        sf_linreg *seg;
        assert_int_equal(sf_linreg_clone_empty(s, &seg, &err), SF_OK);
        size_t a = cuts[g], n = cuts[g + 1] - a;
        assert_int_equal(sf_linreg_residual_fit(seg, lr_x + a * LR_P, n, LR_P, LR_P, lr_y + a, lr_w + a, &err), SF_OK);
        assert_int_equal(sf_linreg_merge(s, seg, &err), SF_OK);
        sf_linreg_free(seg);
    }
    assert_int_equal(sf_linreg_end_residual_pass(s, &err), SF_OK);
    const sf_linreg_result *r = sf_linreg_get_result(s);
    close_vec("HC3 bse", r->bse, wls_hc3, LR_P + 1, REL);
    check_diag(r, wls_diag);
    sf_linreg_free(s);
}

/* The regression table is statsmodels' summary() text, character for character
 * (Date/Time values blank); a rank-deficient fit names its aliased columns. */
static void test_summary(void **state)
{
    (void)state;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.diagnostics = true;
    sf_linreg *s = fit_chunks(&prm, lr_x, LR_P, NULL, 7);
    char *text = NULL;
    sf_error err;
    sf_linreg *fresh;
    assert_int_equal(sf_linreg_new(&fresh, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_summary(fresh, NULL, 0, NULL, &text, &err), SF_ERR_STATE);
    sf_linreg_free(fresh);
    residual_pass(s, NULL, 7);
    const char *names[] = {"x1", "x2", "x3", "x4"};
    assert_int_equal(sf_linreg_summary(s, names, 3, NULL, &text, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_linreg_summary(s, names, LR_P, "y", &text, &err), SF_OK);
    if (strcmp(text, ols_summary) != 0) {
        FILE *f = fopen("/tmp/sf_linreg_summary.txt", "w");
        if (f) fputs(text, f), fclose(f);
        print_error("the table differs from statsmodels': ours is in /tmp/sf_linreg_summary.txt\n");
    }
    assert_string_equal(text, ols_summary);
    free(text);
    sf_linreg_free(s);

    s = fit_chunks(NULL, lr_xrank, LR_P + 2, NULL, LR_N);
    assert_int_equal(sf_linreg_summary(s, NULL, 0, NULL, &text, &err), SF_OK);
    assert_non_null(strstr(text, "x5          (aliased)\n"));
    assert_non_null(strstr(text, "2 coefficients not defined because of singularities (aliased, as R's lm): x5 x6\n"));
    free(text);
    sf_linreg_free(s);
}

/* ---- accuracy on ill-conditioned polynomials ---- */

/* Correct digits: min over coefficients of -log10(relative error), capped at 15.9. */
static double digits(const double *b, const double *truth, size_t k)
{
    double d = 15.9;
    for (size_t j = 0; j < k; j++) {
        double e = fabs(b[j] - truth[j]) / fabs(truth[j]);
        if (e > 0 && -log10(e) < d) d = -log10(e);
    }
    return d;
}

/* The normal equations (XᵀX) b = Xᵀy by Cholesky, for comparison. */
static double normal_equation_digits(const double *x, const double *y, size_t n, size_t k, const double *truth)
{
    gsl_matrix_const_view xv = gsl_matrix_const_view_array(x, n, k);
    gsl_vector_const_view yv = gsl_vector_const_view_array(y, n);
    gsl_matrix *a = gsl_matrix_alloc(k, k);
    gsl_vector *b = gsl_vector_alloc(k);
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, &xv.matrix, &xv.matrix, 0.0, a);
    gsl_blas_dgemv(CblasTrans, 1.0, &xv.matrix, &yv.vector, 0.0, b);
    assert_int_equal(gsl_linalg_cholesky_decomp1(a), 0);
    assert_int_equal(gsl_linalg_cholesky_svx(a, b), 0);
    double d = digits(b->data, truth, k);
    gsl_matrix_free(a);
    gsl_vector_free(b);
    return d;
}

/* y_i = Σ_k c_k x_i^k with c_k = scale_k / 10^e (exact integers scale_k), x = 0..20:
 * y·10^e is an exact integer, so one division gives y correctly rounded. */
static void polynomial_case(const double *scale, int e, double want_digits, double r_digits, const char *name)
{
    enum { N = 21, K = 6 };
    double x[N * (K - 1)], xfull[N * K], y[N], coef[K], den = pow(10, e);
    for (size_t j = 0; j < K; j++) coef[j] = scale[j] / den;
    for (size_t i = 0; i < N; i++) {
        double t = (double)i, v = 1, yi = 0;
        for (size_t j = 0; j < K; j++) {
            xfull[i * K + j] = v;
            if (j > 0) x[i * (K - 1) + j - 1] = v;
            yi += scale[j] * v; /* exact: < 2^53 */
            v *= t;
        }
        y[i] = yi / den;
    }
    sf_linreg *s;
    sf_error err;
    assert_int_equal(sf_linreg_new(&s, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(s, x, N, K - 1, K - 1, y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    const sf_linreg_result *r = sf_linreg_get_result(s);
    assert_int_equal(r->rank, K);
    double ours = digits(r->params, coef, K), ne = normal_equation_digits(xfull, y, N, K, coef);
    print_message("%s: QR %.1f correct digits, normal equations %.1f (R's lm: %.1f)\n", name, ours, ne, r_digits);
    assert_true(ours >= want_digits);
    assert_true(ours > ne + 2);
    sf_linreg_free(s);
}

static void test_polynomial_accuracy(void **state)
{
    (void)state;
    const double ones[] = {1, 1, 1, 1, 1, 1};
    const double tenths[] = {1e5, 1e4, 1e3, 100, 10, 1};
    polynomial_case(ones, 0, 9.2, 9.2, "y = 1 + x + ... + x^5");
    /* R's 13.3 is luck: the exact least-squares solution of these (correctly
     * rounded) y has only 13.18 correct digits (exact rational arithmetic in
     * Python), LAPACK's QR gets 13.2 and we get 12.8, i.e. within 10^0.4 of the
     * exact solution's own error; we require 12.5. */
    polynomial_case(tenths, 5, 12.5, 13.3, "y = 1 + 0.1x + ... + 1e-5 x^5");
}

/* ---- through the pipeline (C API): CSV → linear_regression ---- */

/* The fixture's rows [from, to) as CSV x1..x4,y (%.17g: read back exactly). */
static char *write_csv(size_t from, size_t to)
{
    size_t cap = 64 + (to - from) * 5 * 26, k = 0;
    char *t = malloc(cap);
    k += (size_t)snprintf(t + k, cap - k, "x1,x2,x3,x4,y\n");
    for (size_t i = from; i < to; i++) {
        for (size_t j = 0; j < LR_P; j++) k += (size_t)snprintf(t + k, cap - k, "%.17g,", lr_x[i * LR_P + j]);
        k += (size_t)snprintf(t + k, cap - k, "%.17g\n", lr_y[i]);
    }
    char *path = sf_test_write_tmp(t, k, ".csv");
    free(t);
    return path;
}

static sf_status pipeline_run(sf_pipeline *pl, const char *path, size_t threads, bool update, sf_error *err)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 9;
    so.segment_bytes = 1500; /* several segments */
    sf_source *src = NULL;
    sf_status st = sf_source_open(&src, path, &so, err);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = "y";
    if (st == SF_OK) st = update ? sf_pipeline_update(pl, src, &fo, err) : sf_pipeline_fit(pl, src, &fo, err);
    sf_source_close(src);
    return st;
}

static sf_pipeline *pipeline_fit(const char *spec, const char *path, size_t threads)
{
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_status st = pipeline_run(pl, path, threads, false, &err);
    if (st != SF_OK) {
        char m[1024];
        sf_error_format(&err, m, sizeof m);
        print_error("%s\n", m);
    }
    assert_int_equal(st, SF_OK);
    return pl;
}

static char *to_json(const sf_pipeline *pl)
{
    char *json = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    return json;
}

/* Reads the n numbers of the JSON array after "key": in json. */
static void json_numbers(const char *json, const char *key, double *v, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": [", key); /* an array, not the params object */
    const char *q = strstr(json, pat);
    if (!q) {
        snprintf(pat, sizeof pat, "\"%s\": ", key);
        q = strstr(json, pat);
    }
    assert_non_null(q);
    q += strlen(pat);
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(q, &end);
        assert_true(end != q);
        q = end + strspn(end, ", ]");
    }
}

/* Fitted from CSV on 1, 2 and 3 threads: bitwise the same JSON export; the
 * statsmodels OLS parity holds; save → load gives the same export and
 * predictions with intervals. */
static void test_pipeline_ols(void **state)
{
    (void)state;
    char *path = write_csv(0, LR_N);
    sf_pipeline *pl[3];
    char *json[3];
    for (size_t t = 0; t < 3; t++) {
        pl[t] = pipeline_fit("linear_regression(interval=confidence, level=0.95)", path, t + 1);
        json[t] = to_json(pl[t]);
        if (t) assert_string_equal(json[t], json[0]);
    }
    double v[LR_P + 1];
    json_numbers(json[0], "params_", v, LR_P + 1);
    close_vec("params", v, ols_params, LR_P + 1, REL);
    json_numbers(json[0], "bse", v, LR_P + 1);
    close_vec("bse", v, ols_bse, LR_P + 1, REL);
    json_numbers(json[0], "rsquared", v, 1);
    close_vec("rsquared", v, &ols_stats[7], 1, REL);
    json_numbers(json[0], "coef_", v, LR_P);
    close_vec("coef_", v, ols_params + 1, LR_P, REL);
    assert_non_null(strstr(json[0], "\"exog_names\": [\"const\", \"x1\", \"x2\", \"x3\", \"x4\"]"));
    assert_non_null(strstr(json[0], "\"state\": {"));

    char model[] = "/tmp/sf_linreg_XXXXXX";
    int fd = mkstemp(model);
    assert_true(fd >= 0);
    close(fd);
    sf_error err;
    assert_int_equal(sf_pipeline_save(pl[0], model, &err), SF_OK);
    sf_pipeline *back = NULL;
    assert_int_equal(sf_pipeline_load(&back, model, &err), SF_OK);
    char *jb = to_json(back);
    assert_string_equal(jb, json[0]);
    assert_int_equal(sf_pipeline_n_outputs_as(back, SF_OUTPUT_INTERVAL), 4);
    double out[LR_NNEW * 4];
    assert_int_equal(sf_pipeline_predict_as(back, SF_OUTPUT_INTERVAL, lr_xnew, LR_NNEW, LR_P, LR_P, out, 4, &err), SF_OK);
    for (size_t i = 0; i < LR_NNEW; i++) {
        close_vec("mean", &out[i * 4], &ols_pred[i * 6], 1, REL);
        close_vec("mean_se", &out[i * 4 + 1], &ols_pred[i * 6 + 1], 1, REL);
    }
    assert_int_equal(sf_pipeline_predict_as(back, SF_OUTPUT_PROBA, lr_xnew, 1, LR_P, LR_P, out, 4, &err),
                     SF_ERR_UNSUPPORTED);
    free(jb);
    sf_pipeline_free(back);
    unlink(model);
    for (size_t t = 0; t < 3; t++) {
        free(json[t]);
        sf_pipeline_free(pl[t]);
    }
    unlink(path);
    free(path);
}

/* HC1 and diagnostics take a second, merged pass: statsmodels' values, bitwise
 * the same for 1 and 3 threads, and the residual pass survives save → load. */
static void test_pipeline_robust(void **state)
{
    (void)state;
    char *path = write_csv(0, LR_N);
    sf_pipeline *a = pipeline_fit("linear_regression(cov_type=HC1, diagnostics=true)", path, 1);
    sf_pipeline *b = pipeline_fit("linear_regression(cov_type=HC1, diagnostics=true)", path, 3);
    char *ja = to_json(a), *jb = to_json(b);
    assert_string_equal(ja, jb);
    double v[LR_P + 1];
    json_numbers(ja, "bse", v, LR_P + 1);
    close_vec("HC1 bse", v, ols_hc1, LR_P + 1, REL);
    json_numbers(ja, "durbin_watson", v, 1);
    close_vec("durbin_watson", v, &ols_diag[0], 1, REL);
    json_numbers(ja, "omnibus", v, 1);
    close_vec("omnibus", v, &ols_diag[5], 1, REL);
    char model[] = "/tmp/sf_linreg_XXXXXX";
    int fd = mkstemp(model);
    close(fd);
    sf_error err;
    assert_int_equal(sf_pipeline_save(a, model, &err), SF_OK);
    sf_pipeline *back = NULL;
    assert_int_equal(sf_pipeline_load(&back, model, &err), SF_OK);
    char *jl = to_json(back);
    assert_string_equal(jl, ja);
    free(jl);
    sf_pipeline_free(back);
    unlink(model);
    free(ja);
    free(jb);
    sf_pipeline_free(a);
    sf_pipeline_free(b);
    unlink(path);
    free(path);
}

/* Decision 1: fit on A, save, load, update on B == one fit on A then B (to
 * rounding: the segments differ), and bad spec parameters are refused. */
static void test_pipeline_update(void **state)
{
    (void)state;
    char *pa = write_csv(0, 50), *pb = write_csv(50, LR_N), *pall = write_csv(0, LR_N);
    sf_pipeline *one = pipeline_fit("linear_regression", pall, 2);
    sf_pipeline *first = pipeline_fit("linear_regression", pa, 2);
    char model[] = "/tmp/sf_linreg_XXXXXX";
    int fd = mkstemp(model);
    close(fd);
    sf_error err;
    assert_int_equal(sf_pipeline_save(first, model, &err), SF_OK);
    sf_pipeline *back = NULL;
    assert_int_equal(sf_pipeline_load(&back, model, &err), SF_OK);
    assert_int_equal(pipeline_run(back, pb, 2, true, &err), SF_OK);
    char *j1 = to_json(one), *j2 = to_json(back);
    double v1[LR_P + 1], v2[LR_P + 1];
    json_numbers(j1, "params_", v1, LR_P + 1);
    json_numbers(j2, "params_", v2, LR_P + 1);
    close_vec("updated params", v2, v1, LR_P + 1, 1e-12);
    close_vec("params", v2, ols_params, LR_P + 1, REL);
    free(j1);
    free(j2);
    sf_pipeline_free(one);
    sf_pipeline_free(first);
    sf_pipeline_free(back);
    unlink(model);
    const char *bad[] = {"linear_regression(alpha=-1)", "linear_regression(cov_type=HC9)",
                         "linear_regression(level=1.5)", "linear_regression(fit_intercept=3)",
                         "linear_regression(alpah=1)"};
    for (size_t i = 0; i < 5; i++) {
        sf_pipeline *pl = NULL;
        sf_error e2;
        assert_int_equal(sf_pipeline_new(&pl, bad[i], &e2), SF_ERR_ARG);
        assert_true(e2.where.column > 1);
        assert_null(pl);
    }
    char *files[] = {pa, pb, pall};
    for (int i = 0; i < 3; i++) {
        unlink(files[i]);
        free(files[i]);
    }
}

/* The adapter through its ops table: a formula design whose first column is
 * "Intercept" makes that column the constant (Decision 9: fit_intercept is
 * ignored), so the fit equals statsmodels' OLS with const, and the table uses the
 * design's names. */
static void test_stage_formula_intercept(void **state)
{
    (void)state;
    const sfi_stage_ops *ops = sfi_stage_find("linear_regression");
    assert_ptr_equal(ops, &sfi_linreg_stage);
    sfi_spec spec;
    sf_error err;
    assert_int_equal(sfi_spec_parse("linear_regression(fit_intercept=true)", &spec, &err), SF_OK);
    void *st = NULL;
    assert_int_equal(ops->create(&st, &spec.stages[0], &err), SF_OK);
    sfi_spec_free(&spec);
    const char *names[] = {"Intercept", "a", "b", "c", "d"};
    assert_int_equal(ops->set_names(st, names, 5, &err), SF_OK);
    double *x = malloc(LR_N * (LR_P + 1) * sizeof *x);
    for (size_t i = 0; i < LR_N; i++) {
        x[i * (LR_P + 1)] = 1.0;
        memcpy(x + i * (LR_P + 1) + 1, lr_x + i * LR_P, LR_P * sizeof *x);
    }
    sf_block b = {.n_rows = LR_N, .n_cols = LR_P + 1, .ld = LR_P + 1, .x = x, .y = (double *)lr_y};
    bool again = true;
    assert_int_equal(ops->begin_pass(st, 0, &err), SF_OK);
    assert_int_equal(ops->partial_fit(st, &b, &err), SF_OK);
    assert_int_equal(ops->end_pass(st, 0, &again, &err), SF_OK);
    assert_false(again);
    sfi_buf j = {0};
    ops->to_json(st, &j);
    double v[LR_P + 1];
    json_numbers(j.data, "params_", v, LR_P + 1);
    close_vec("params", v, ols_params, LR_P + 1, REL);
    json_numbers(j.data, "rsquared", v, 1);
    close_vec("rsquared (centred: the Intercept column is a constant)", v, &ols_stats[7], 1, REL);
    assert_non_null(strstr(j.data, "\"fit_intercept\": false"));
    free(j.data);
    char *text = NULL;
    assert_int_equal(sfi_linreg_stage_summary(st, "y", &text, &err), SF_OK);
    assert_non_null(strstr(text, "\nIntercept      3.3065      0.913"));
    assert_non_null(strstr(text, "\nd              0.1189"));
    assert_null(strstr(text, "const"));
    free(text);
    double out[4];
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_INTERVAL, LR_P + 1), 4);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_PROBA, LR_P + 1), 0);
    assert_int_equal(ops->output_as(st, SFI_OUT_INTERVAL, x, 1, LR_P + 1, LR_P + 1, out, 4, &err), SF_OK);
    assert_true(out[2] < out[0] && out[0] < out[3]);
    b.y = NULL;
    assert_int_equal(ops->partial_fit(st, &b, &err), SF_ERR_ARG); /* no target */
    ops->free(st);
    free(x);
}

/* A model file whose state was tampered with (a NaN in R, R not triangular, a
 * negative M2) is refused as corrupt, not loaded into garbage. */
static void test_corrupt_model_file(void **state)
{
    (void)state;
    char *path = write_csv(0, LR_N);
    sf_pipeline *pl = pipeline_fit("linear_regression(diagnostics=true)", path, 2);
    char model[] = "/tmp/sf_linreg_XXXXXX";
    int fd = mkstemp(model);
    close(fd);
    sf_error err;
    for (int c = 0; c < 3; c++) {
        assert_int_equal(sf_pipeline_save(pl, model, &err), SF_OK);
        hid_t f = H5Fopen(model, H5F_ACC_RDWR, H5P_DEFAULT);
        assert_true(f >= 0);
        const char *dset = c == 2 ? "/stage_0/moments" : "/stage_0/r";
        hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
        assert_true(d >= 0);
        double v[(LR_P + 2) * (LR_P + 2)];
        assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        if (c == 0) v[3] = NAN;
        else if (c == 1) v[LR_P + 2] = 0.5; /* below the diagonal */
        else v[3] = -1;                     /* M2 of y */
        assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d);
        H5Fclose(f);
        sf_pipeline *back = NULL;
        assert_int_equal(sf_pipeline_load(&back, model, &err), SF_ERR_PARSE);
        assert_null(back);
        assert_non_null(strstr(err.message, "corrupt model file"));
    }
    unlink(model);
    sf_pipeline_free(pl);
    unlink(path);
    free(path);
}

/* Degenerate data gives NaN or inf where statsmodels does, never a crash: fewer
 * rows than columns, a constant target, all-zero weights, a zero column. */
static void test_degenerate(void **state)
{
    (void)state;
    sf_error err;
    sf_linreg *s;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.diagnostics = true;
    /* 3 rows, 5 columns: rank 3, df_resid 0 */
    assert_int_equal(sf_linreg_new(&s, &prm, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(s, lr_x, 3, LR_P, LR_P, lr_y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    const sf_linreg_result *r = sf_linreg_get_result(s);
    assert_int_equal(r->rank, 3);
    assert_double_bits(r->df_resid, 0.0);
    assert_true(isnan(r->bse[0]) && isnan(r->scale));
    assert_int_equal(sf_linreg_begin_residual_pass(s, &err), SF_OK);
    assert_int_equal(sf_linreg_residual_fit(s, lr_x, 3, LR_P, LR_P, lr_y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_end_residual_pass(s, &err), SF_OK);
    assert_true(isnan(sf_linreg_get_result(s)->omnibus)); /* fewer than 8 residuals */
    char *text;
    assert_int_equal(sf_linreg_summary(s, NULL, 0, NULL, &text, &err), SF_OK);
    free(text);
    sf_linreg_free(s);
    /* constant target, a zero column, zero weights */
    double x[20 * 2], y[20], w[20];
    for (size_t i = 0; i < 20; i++) {
        x[2 * i] = (double)i;
        x[2 * i + 1] = 0;
        y[i] = 4.0;
        w[i] = 0;
    }
    assert_int_equal(sf_linreg_new(&s, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(s, x, 20, 2, 2, y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    r = sf_linreg_get_result(s);
    assert_true(r->aliased[2]);               /* the zero column */
    assert_double_close(r->params[0], 4.0, 1e-14, 0);
    assert_true(fabs(r->params[1]) < 1e-14);
    assert_double_bits(r->centered_tss, 0.0);
    sf_linreg_free(s);
    assert_int_equal(sf_linreg_new(&s, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(s, x, 20, 2, 2, y, w, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    r = sf_linreg_get_result(s);
    assert_int_equal(r->rank, 0);             /* nothing carries weight */
    assert_true(isnan(r->params[0]) && isnan(r->params[1]));
    double out[4];
    assert_int_equal(sf_linreg_predict_interval(s, x, 1, 2, 2, 0.05, true, out, 4, &err), SF_OK);
    sf_linreg_free(s);
}

/* ---- errors ---- */

static void test_bad_input(void **state)
{
    (void)state;
    sf_error err;
    sf_linreg_params prm;
    sf_linreg_params_default(&prm);
    prm.alpha = -1;
    sf_linreg *s = NULL;
    assert_int_equal(sf_linreg_new(&s, &prm, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "alpha");
    assert_null(s);
    prm.alpha = 0;
    prm.tol = 2;
    assert_int_equal(sf_linreg_params_check(&prm, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "tol");
    prm.tol = 1e-7;
    prm.cov_type = (sf_linreg_cov_type)9;
    assert_int_equal(sf_linreg_params_check(&prm, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "cov_type");

    assert_int_equal(sf_linreg_new(&s, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_ERR_STATE);
    assert_int_equal(sf_linreg_partial_fit(s, lr_x, 10, LR_P, LR_P, lr_y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_finalize(s, &err), SF_OK);
    double x[2 * LR_P], y[2] = {1, 2}, w[2] = {1, -1}, before = sf_linreg_get_result(s)->params[1];
    memcpy(x, lr_x, sizeof x);
    assert_int_equal(sf_linreg_partial_fit(s, x, 2, LR_P + 1, LR_P + 1, y, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_linreg_partial_fit(s, x, 2, LR_P, LR_P - 1, y, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_linreg_partial_fit(s, x, 2, LR_P, LR_P, y, w, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 2);
    x[LR_P + 2] = NAN;
    assert_int_equal(sf_linreg_partial_fit(s, x, 2, LR_P, LR_P, y, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 2);
    assert_int_equal(err.where.field, 3);
    y[0] = INFINITY;
    x[LR_P + 2] = 0;
    assert_int_equal(sf_linreg_partial_fit(s, x, 2, LR_P, LR_P, y, NULL, &err), SF_ERR_ARG);
    /* failed calls changed nothing: the results are still there */
    assert_non_null(sf_linreg_get_result(s));
    assert_double_bits(sf_linreg_get_result(s)->params[1], before);
    double out[4];
    assert_int_equal(sf_linreg_predict(s, x, 1, LR_P + 1, LR_P + 1, out, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_linreg_conf_int(s, 1.5, out, out, &err), SF_ERR_ARG);
    assert_int_equal(sf_linreg_residual_fit(s, lr_x, 1, LR_P, LR_P, lr_y, NULL, &err), SF_ERR_STATE);
    /* different feature counts do not merge */
    sf_linreg *o;
    assert_int_equal(sf_linreg_new(&o, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_partial_fit(o, lr_xrank, 3, LR_P + 2, LR_P + 2, lr_y, NULL, &err), SF_OK);
    assert_int_equal(sf_linreg_merge(s, o, &err), SF_ERR_STATE);
    sf_linreg_free(o);
    sf_linreg_free(s);
    sf_linreg_free(NULL);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ols),
        cmocka_unit_test(test_wls),
        cmocka_unit_test(test_no_intercept),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_ridge),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_residual_pass),
        cmocka_unit_test(test_residual_merge),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_polynomial_accuracy),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_stage_formula_intercept),
        cmocka_unit_test(test_pipeline_ols),
        cmocka_unit_test(test_pipeline_robust),
        cmocka_unit_test(test_pipeline_update),
        cmocka_unit_test(test_corrupt_model_file),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
