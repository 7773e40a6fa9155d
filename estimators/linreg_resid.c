/* linreg_resid.c — the optional second pass over the rows: heteroskedasticity-
 * robust covariances and the residual diagnostics of statsmodels' summary, in
 * O(p²) memory.
 *
 * With u = R⁻ᵀ x̃ (x̃ = sqrt(w)·x over the kept columns) the leverage is h = ‖u‖²
 * and statsmodels' sandwich (regression/linear_model.py: _HCCM, cov_HC0..3,
 * pinv_wexog = R⁻¹R⁻ᵀX̃ᵀ) is R⁻¹ (Σ c·ẽ²·u uᵀ) R⁻ᵀ with c = 1 (HC0, HC1 then times
 * n/df_resid), 1/(1-h) (HC2), 1/(1-h)² (HC3); the middle sum is accumulated a
 * block of rows at a time (dtrmm, dsyrk). Inference then follows
 * get_robustcov_results: normal p-values and a Wald F test of the non-constant
 * coefficients. Residual moments merge by Pébay's formulas (exact, any segment
 * order); Durbin–Watson keeps each segment's first and last residual so segments
 * merged in order add the pair across their boundary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_sf_gamma.h>

#include "estimators/linreg_impl.h"

#define RESID_BLOCK 256

static bool robust(const sf_linreg *s) { return s->params.cov_type != SF_LINREG_NONROBUST; }

bool sf_linreg_wants_residual_pass(const sf_linreg *s)
{
    return s && s->is_finalized && s->phase == SFI_LR_PASS0 && s->params.alpha == 0 &&
           (robust(s) || s->params.diagnostics);
}

sf_status sf_linreg_begin_residual_pass(sf_linreg *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_begin_residual_pass: NULL model");
    if (!s->is_finalized || s->phase != SFI_LR_PASS0)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: the residual pass needs a fresh finalize");
    size_t r = s->res.rank;
    free(s->meat);
    s->meat = calloc(r * r + 1, sizeof *s->meat);
    if (!s->meat) return sfi_nomem(err);
    s->e_n = s->e_mean = s->e_m2 = s->e_m3 = s->e_m4 = 0;
    s->dw_sum = s->e_first = s->e_last = 0;
    s->phase = SFI_LR_RESID;
    return SF_OK;
}

/* Pébay (2008): fold the central moments (nb, mb, m2b, m3b, m4b) into s's. */
static void combine_moments(sf_linreg *s, double nb, double mb, double m2b, double m3b, double m4b)
{
    if (!(nb > 0)) return;
    double na = s->e_n, n = na + nb, d = mb - s->e_mean, dn = d / n;
    double m2a = s->e_m2, m3a = s->e_m3, m4a = s->e_m4;
    s->e_m4 = m4a + m4b + d * dn * dn * dn * na * nb * (na * na - na * nb + nb * nb) +
              6 * dn * dn * (na * na * m2b + nb * nb * m2a) + 4 * dn * (na * m3b - nb * m3a);
    s->e_m3 = m3a + m3b + d * dn * dn * na * nb * (na - nb) + 3 * dn * (na * m2b - nb * m2a);
    s->e_m2 = m2a + m2b + d * dn * na * nb;
    s->e_mean += dn * nb;
    s->e_n = n;
}

/* Adds Σ c·ẽ²·u uᵀ for nb rows whose kept columns (already × sqrt(w)) are in xk. */
static void add_meat(sf_linreg *s, double *xk, const double *e, size_t nb)
{
    size_t r = s->res.rank;
    gsl_matrix_view u = gsl_matrix_view_array(xk, nb, r);
    gsl_matrix_const_view ri = gsl_matrix_const_view_array(s->rinv, r, r);
    gsl_blas_dtrmm(CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, 1.0, &ri.matrix, &u.matrix); /* U = X̃ R⁻¹ */
    for (size_t i = 0; i < nb; i++) {
        double *ui = xk + i * r, h = 0;
        for (size_t a = 0; a < r; a++) h += ui[a] * ui[a];
        double f = e[i];
        if (s->params.cov_type == SF_LINREG_HC2) f /= sqrt(1 - h);
        else if (s->params.cov_type == SF_LINREG_HC3) f /= 1 - h;
        for (size_t a = 0; a < r; a++) ui[a] *= f;
    }
    gsl_matrix_view m = gsl_matrix_view_array(s->meat, r, r);
    gsl_blas_dsyrk(CblasUpper, CblasTrans, 1.0, &u.matrix, 1.0, &m.matrix);
}

sf_status sf_linreg_residual_fit(sf_linreg *s, const double *x, size_t n, size_t p, size_t ld, const double *y,
                                 const double *w, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_residual_fit: NULL model");
    if (s->phase != SFI_LR_RESID) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not in the residual pass");
    SF_TRY(sfi_lr_check_rows(s, x, n, p, ld, y, w, err));
    if (n == 0) return SF_OK;
    size_t r = s->res.rank;
    double *e = malloc((RESID_BLOCK * (r + 1)) * sizeof *e);
    if (!e) return sfi_nomem(err);
    double *xk = e + RESID_BLOCK;
    /* the chunk's residual moments, two-pass, then Pébay */
    double cs = 0;
    for (size_t i = 0; i < n; i++) {
        double sw = w ? sqrt(w[i]) : 1.0;
        cs += sw * (y[i] - sfi_lr_predict_row(s, x + i * ld));
    }
    double cm = cs / (double)n, c1 = 0, c2 = 0, c3 = 0, c4 = 0;
    for (size_t a = 0; a < n; a += RESID_BLOCK) {
        size_t nb = n - a < RESID_BLOCK ? n - a : RESID_BLOCK;
        for (size_t i = 0; i < nb; i++) {
            const double *row = x + (a + i) * ld;
            double sw = w ? sqrt(w[a + i]) : 1.0;
            double ei = sw * (y[a + i] - sfi_lr_predict_row(s, row)), d = ei - cm;
            e[i] = ei;
            c1 += d;
            c2 += d * d;
            c3 += d * d * d;
            c4 += d * d * d * d;
            if (s->e_n > 0 || a + i > 0) s->dw_sum += (ei - s->e_last) * (ei - s->e_last);
            else s->e_first = ei;
            s->e_last = ei;
            for (size_t b = 0; b < r; b++) {
                size_t m = s->kept[b];
                double v = s->params.fit_intercept ? (m == 0 ? 1.0 : row[m - 1]) : row[m];
                xk[i * r + b] = sw * v;
            }
        }
        if (robust(s) && r > 0) add_meat(s, xk, e, nb);
    }
    free(e);
    /* c1 corrects the mean for rounding, as the scaler's two-pass sums */
    double dn = (double)n, mean = cm + c1 / dn;
    double m2 = c2 - c1 * c1 / dn;
    combine_moments(s, dn, mean, m2, c3 - 3 * c1 * c2 / dn + 2 * c1 * c1 * c1 / (dn * dn),
                    c4 - 4 * c1 * c3 / dn + 6 * c1 * c1 * c2 / (dn * dn) - 3 * c1 * c1 * c1 * c1 / (dn * dn * dn));
    return SF_OK;
}

sf_status sfi_lr_merge_residuals(sf_linreg *dst, const sf_linreg *src, sf_error *err)
{
    if (dst->phase != SFI_LR_RESID || src->phase != SFI_LR_RESID)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression merge: only one state is in the residual pass");
    size_t r = dst->res.rank;
    if (src->res.rank != r || src->k != dst->k ||
        memcmp(src->beta_kept, dst->beta_kept, r * sizeof *dst->beta_kept) != 0)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression merge: residual passes of different fits");
    if (!(src->e_n > 0)) return SF_OK;
    for (size_t i = 0; i < r * r; i++) dst->meat[i] += src->meat[i];
    if (dst->e_n > 0) {
        double d = src->e_first - dst->e_last;
        dst->dw_sum += src->dw_sum + d * d;
    } else {
        dst->dw_sum = src->dw_sum;
        dst->e_first = src->e_first;
    }
    dst->e_last = src->e_last;
    combine_moments(dst, src->e_n, src->e_mean, src->e_m2, src->e_m3, src->e_m4);
    return SF_OK;
}

/* scipy.stats._stats_py: skewtest's Z (D'Agostino) for biased skewness b2. */
static double skew_z(double b2, double n)
{
    double y = b2 * sqrt(((n + 1) * (n + 3)) / (6.0 * (n - 2)));
    double beta2 = 3.0 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2.0) * (n + 5) * (n + 7) * (n + 9));
    double w2 = -1 + sqrt(2 * (beta2 - 1));
    double delta = 1 / sqrt(0.5 * log(w2)), alpha = sqrt(2.0 / (w2 - 1));
    if (y == 0) y = 1;
    return delta * log(y / alpha + sqrt((y / alpha) * (y / alpha) + 1));
}

/* scipy.stats._stats_py: kurtosistest's Z (Anscombe & Glynn) for b2 = m4/m2². */
static double kurtosis_z(double b2, double n)
{
    double e = 3.0 * (n - 1) / (n + 1);
    double varb2 = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1.) * (n + 3) * (n + 5));
    double x = (b2 - e) / sqrt(varb2);
    double sb1 = 6.0 * (n * n - 5 * n + 2) / ((n + 7) * (n + 9)) * sqrt((6.0 * (n + 3) * (n + 5)) / (n * (n - 2) * (n - 3)));
    double a = 6.0 + 8.0 / sb1 * (2.0 / sb1 + sqrt(1 + 4.0 / (sb1 * sb1)));
    double term1 = 1 - 2 / (9.0 * a);
    double denom = 1 + x * sqrt(2 / (a - 4.0));
    if (denom == 0) return NAN;
    double term2 = (denom > 0 ? 1 : -1) * cbrt((1 - 2.0 / a) / fabs(denom));
    return (term1 - term2) / sqrt(2 / (9.0 * a));
}

/* statsmodels' fvalue for a robust covariance: the Wald F test that every
 * non-constant coefficient is 0 (f_test on the identity without the constant's row). */
static void robust_f(sf_linreg *s)
{
    sf_linreg_result *res = &s->res;
    size_t r = res->rank, q = 0;
    res->fvalue = res->f_pvalue = NAN;
    long ci = -1; /* position of the explicit constant among the kept columns */
    for (size_t a = 0; a < r; a++)
        if (s->const_idx >= 0 && s->kept[a] == (size_t)s->const_idx) ci = (long)a;
    if (res->k_constant && ci < 0) return; /* statsmodels #2444: NaN for an implicit constant */
    q = r - (ci >= 0 ? 1 : 0);
    if (q == 0) return;
    size_t *idx = malloc(q * sizeof *idx);
    double *c = malloc((q * q + q) * sizeof *c);
    if (!c || !idx) {
        free(idx);
        free(c);
        return;
    }
    for (size_t a = 0, j = 0; a < r; a++)
        if ((long)a != ci) idx[j++] = a;
    double *b = c + q * q;
    for (size_t a = 0; a < q; a++) {
        b[a] = s->beta_kept[idx[a]];
        for (size_t d = 0; d < q; d++) c[a * q + d] = s->cov_kept[idx[a] * r + idx[d]];
    }
    gsl_matrix_view cv = gsl_matrix_view_array(c, q, q);
    gsl_vector_view bv = gsl_vector_view_array(b, q);
    if (gsl_linalg_cholesky_decomp1(&cv.matrix) == 0) {
        /* βᵀ C⁻¹ β = ‖L⁻¹β‖² */
        gsl_blas_dtrsv(CblasLower, CblasNoTrans, CblasNonUnit, &cv.matrix, &bv.vector);
        double nrm = gsl_blas_dnrm2(&bv.vector);
        res->fvalue = nrm * nrm / (double)q;
        res->f_pvalue = sfi_lr_f_upper(res->fvalue, (double)q, res->df_resid);
    }
    free(idx);
    free(c);
}

/* The robust covariance R⁻¹ M R⁻ᵀ of the kept coefficients. */
static sf_status robust_cov(sf_linreg *s, sf_error *err)
{
    size_t r = s->res.rank;
    if (r == 0) return SF_OK;
    double *a = malloc(r * r * sizeof *a);
    if (!a) return sfi_nomem(err);
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < i; j++) s->meat[i * r + j] = s->meat[j * r + i];
    memcpy(a, s->meat, r * r * sizeof *a);
    gsl_matrix_view av = gsl_matrix_view_array(a, r, r);
    gsl_matrix_const_view ri = gsl_matrix_const_view_array(s->rinv, r, r);
    gsl_blas_dtrmm(CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, 1.0, &ri.matrix, &av.matrix);
    gsl_blas_dtrmm(CblasRight, CblasUpper, CblasTrans, CblasNonUnit, 1.0, &ri.matrix, &av.matrix);
    double f = s->params.cov_type == SF_LINREG_HC1 ? s->tot.nobs / s->res.df_resid : 1.0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) s->cov_kept[i * r + j] = 0.5 * f * (a[i * r + j] + a[j * r + i]);
    free(a);
    return SF_OK;
}

sf_status sf_linreg_end_residual_pass(sf_linreg *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_end_residual_pass: NULL model");
    if (s->phase != SFI_LR_RESID) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not in the residual pass");
    sf_linreg_result *res = &s->res;
    if (robust(s)) {
        SF_TRY(robust_cov(s, err));
        res->cov_type = s->params.cov_type;
        res->use_t = false; /* statsmodels' default for a robust cov_type */
        sfi_lr_coefficient_tables(s);
        robust_f(s);
    }
    /* statsmodels.stats.stattools: jarque_bera (biased moments), omni_normtest, durbin_watson */
    double n = s->e_n, m2 = s->e_m2 / n;
    res->skew = (s->e_m3 / n) / pow(m2, 1.5);
    res->kurtosis = (s->e_m4 / n) / (m2 * m2);
    res->jarque_bera = n / 6 * (res->skew * res->skew + 0.25 * (res->kurtosis - 3) * (res->kurtosis - 3));
    res->jb_pvalue = exp(-res->jarque_bera / 2); /* chi2(2).sf */
    if (n >= 8) {
        double zs = skew_z(res->skew, n), zk = kurtosis_z(res->kurtosis, n);
        res->omnibus = zs * zs + zk * zk;
        res->omnibus_pvalue = exp(-res->omnibus / 2);
    } else {
        res->omnibus = res->omnibus_pvalue = NAN;
    }
    double sum_sq = s->e_m2 + n * s->e_mean * s->e_mean;
    res->durbin_watson = s->dw_sum / sum_sq;
    res->has_diagnostics = true;
    s->phase = SFI_LR_RESID_DONE;
    return SF_OK;
}

sf_status sf_linreg_get_residual_state(const sf_linreg *s, sf_linreg_residual_state *rs, sf_error *err)
{
    if (!s || !rs) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_get_residual_state: NULL argument");
    if (s->phase == SFI_LR_PASS0) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: no residual pass");
    rs->rank = s->res.rank;
    rs->meat = s->meat;
    double v[] = {s->e_n, s->e_mean, s->e_m2, s->e_m3, s->e_m4, s->dw_sum, s->e_first, s->e_last};
    memcpy(rs->sums, v, sizeof v);
    return SF_OK;
}

sf_status sf_linreg_set_residual_state(sf_linreg *s, const sf_linreg_residual_state *rs, sf_error *err)
{
    if (!s || !rs) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_set_residual_state: NULL argument");
    if (!s->is_finalized || s->phase != SFI_LR_PASS0)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: the residual state needs a fresh finalize");
    size_t r = s->res.rank;
    if (rs->rank != r || (r && !rs->meat))
        return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression residual state: rank %zu, the fit has %zu", rs->rank, r);
    for (size_t i = 0; i < r * r; i++)
        if (!isfinite(rs->meat[i])) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression residual state: not finite");
    for (int i = 0; i < 8; i++)
        if (!isfinite(rs->sums[i]) || ((i == 0 || i == 2 || i == 4) && rs->sums[i] < 0)) /* n, M2, M4 */
            return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression residual state: bad sums");
    SF_TRY(sf_linreg_begin_residual_pass(s, err));
    if (r) memcpy(s->meat, rs->meat, r * r * sizeof *s->meat);
    s->e_n = rs->sums[0];
    s->e_mean = rs->sums[1];
    s->e_m2 = rs->sums[2];
    s->e_m3 = rs->sums[3];
    s->e_m4 = rs->sums[4];
    s->dw_sum = rs->sums[5];
    s->e_first = rs->sums[6];
    s->e_last = rs->sums[7];
    return sf_linreg_end_residual_pass(s, err);
}
