/* linreg_solve.c — finalize (the solve, aliased columns, statsmodels' statistics),
 * prediction with intervals, and the optional residual pass (HC0..HC3, residual
 * diagnostics).
 *
 * finalize works on a copy of the factor R of the weighted [1 | x | y]: it folds
 * the pending rows and, for ridge, the rows sqrt(alpha)·e_j, then re-triangularizes
 * the model's columns in order with Householder reflections, dropping a column
 * whose part outside the span of the kept columns is <= tol times its norm (R's
 * lm.fit / LINPACK dqrdc2 rule: the later of two aliased columns goes, so the
 * result is R's, with NA as NaN). The y column rides along: what is left of it
 * below the kept rows joins the residual norm. Statistics follow statsmodels
 * 0.13.5, regression/linear_model.py: RegressionResults (ssr, centered_tss,
 * uncentered_tss, ess, rsquared, rsquared_adj, mse_*, fvalue, f_pvalue,
 * condition_number, info_criteria), WLS.loglike, and base/model.py's t-based
 * pvalues and conf_int. Distribution tails use the regularized incomplete beta
 * (Decision 7: GSL's tdist_Q is only a Cornish–Fisher expansion for ν > 30).
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

void sfi_lr_free_results(sf_linreg *s)
{
    free(s->kept);
    free(s->aliased);
    free(s->coef);
    free(s->bse);
    free(s->tvalues);
    free(s->pvalues);
    free(s->cov);
    free(s->sv);
    free(s->rinv);
    free(s->cov_kept);
    free(s->beta_kept);
    free(s->meat);
    s->kept = NULL;
    s->aliased = NULL;
    s->coef = s->bse = s->tvalues = s->pvalues = s->cov = s->sv = NULL;
    s->rinv = s->cov_kept = s->beta_kept = s->meat = NULL;
    s->is_finalized = false;
    s->phase = SFI_LR_PASS0;
    memset(&s->res, 0, sizeof s->res);
}

/* ---- distribution tails ---- */

/* I_x(a, b), with underflow as 0 and other failures as NaN. */
static double beta_inc(double a, double b, double x)
{
    gsl_sf_result r;
    int st = gsl_sf_beta_inc_e(a, b, x, &r);
    if (st == GSL_EUNDRFLW) return 0.0;
    return st ? NAN : r.val;
}

/* 2·P(T > |t|) for Student's t with nu degrees of freedom (scipy's 2*t.sf). */
static double t_two_sided(double t, double nu)
{
    if (isnan(t) || !(nu > 0)) return NAN;
    if (isinf(t)) return 0.0;
    return beta_inc(nu / 2, 0.5, nu / (nu + t * t));
}

/* P(F > f) for F(d1, d2) (scipy's f.sf). */
double sfi_lr_f_upper(double f, double d1, double d2)
{
    if (isnan(f) || !(d1 > 0) || !(d2 > 0)) return NAN;
    if (f <= 0) return 1.0;
    if (isinf(f)) return 0.0;
    return beta_inc(d2 / 2, d1 / 2, d2 / (d2 + d1 * f));
}

/* The t quantile with upper tail q (0 < q < 0.5): GSL's guess polished by Newton
 * steps on the incomplete-beta tail, so it agrees with scipy's t.isf to rounding. */
static double t_upper_quantile(double q, double nu)
{
    if (!(nu > 0)) return NAN;
    double t = gsl_cdf_tdist_Qinv(q, nu);
    double lnb = gsl_sf_lnbeta(nu / 2, 0.5);
    for (int it = 0; it < 50 && isfinite(t); it++) {
        double tail = 0.5 * beta_inc(nu / 2, 0.5, nu / (nu + t * t));
        double pdf = exp(-(nu + 1) / 2 * log1p(t * t / nu) - 0.5 * log(nu) - lnb);
        double step = (tail - q) / pdf;
        t += step;
        if (fabs(step) <= 1e-15 * fabs(t)) break;
    }
    return t;
}

static double quantile(const sf_linreg *s, double alpha)
{
    return s->res.use_t ? t_upper_quantile(alpha / 2, s->res.df_resid) : gsl_cdf_ugaussian_Qinv(alpha / 2);
}

/* ---- finalize ---- */

static sf_status gsl_fail(sf_error *err, const char *what, int gst)
{
    return sfi_fail(err, SF_ERR_NUMERIC, NULL, "linear_regression: %s failed: %s", what, gsl_strerror(gst));
}

static sf_status alloc_results(sf_linreg *s, size_t k, sf_error *err)
{
    s->kept = malloc(k * sizeof *s->kept);
    s->aliased = calloc(k, 1);
    s->coef = malloc(k * sizeof(double));
    s->bse = malloc(k * sizeof(double));
    s->tvalues = malloc(k * sizeof(double));
    s->pvalues = malloc(k * sizeof(double));
    s->cov = malloc(k * k * sizeof(double));
    s->sv = malloc(k * sizeof(double));
    s->rinv = calloc(k * k, sizeof(double));
    s->cov_kept = malloc(k * k * sizeof(double));
    s->beta_kept = malloc(k * sizeof(double));
    if (!s->kept || !s->aliased || !s->coef || !s->bse || !s->tvalues || !s->pvalues || !s->cov ||
        !s->sv || !s->rinv || !s->cov_kept || !s->beta_kept) {
        sfi_lr_free_results(s);
        return sfi_nomem(err);
    }
    return SF_OK;
}

/* Singular values of the weighted design's model columns: those of R's
 * (p+1) x k block (one-sided Jacobi: accurate small singular values). */
static sf_status design_singular_values(sf_linreg *s, const double *w, sf_error *err)
{
    size_t m = s->nc - 1, k = s->k;
    double *a = malloc((m * k + k * k) * sizeof *a);
    if (!a) return sfi_nomem(err);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < k; j++) a[i * k + j] = w[i * s->nc + sfi_lr_col(s, j)];
    gsl_matrix_view av = gsl_matrix_view_array(a, m, k);
    gsl_matrix_view vv = gsl_matrix_view_array(a + m * k, k, k);
    gsl_vector_view sv = gsl_vector_view_array(s->sv, k);
    int gst = gsl_linalg_SV_decomp_jacobi(&av.matrix, &vv.matrix, &sv.vector);
    free(a);
    if (gst) return gsl_fail(err, "SVD", gst);
    return SF_OK;
}

/* statsmodels' const_idx: the first model column that is a nonzero multiple of
 * the ones column (factor column 0), i.e. whose rows below the first are 0. */
static long constant_column(const sf_linreg *s, const double *w)
{
    if (s->params.fit_intercept) return 0;
    size_t nc = s->nc;
    for (size_t m = 0; m < s->k; m++) {
        size_t c = sfi_lr_col(s, m);
        double orth = 0;
        for (size_t i = 1; i < nc - 1; i++) orth = hypot(orth, w[i * nc + c]);
        if (w[c] != 0 && orth <= s->params.tol * fabs(w[c])) return (long)m;
    }
    return -1;
}

/* Re-triangularizes the model columns of w in order, dropping aliased ones (see
 * the file comment). Fills kept/aliased/rank; returns the implicit-constant flag
 * through *ones_in_span (only meaningful without fit_intercept). */
static void drop_aliased(sf_linreg *s, double *w, bool *ones_in_span)
{
    size_t nc = s->nc, xrows = nc - 1, rank = 0;
    gsl_matrix_view wv = gsl_matrix_view_array(w, nc, nc);
    double ones_norm = 0;
    for (size_t i = 0; i < xrows; i++) ones_norm = hypot(ones_norm, w[i * nc]);
    for (size_t m = 0; m < s->k; m++) {
        size_t c = sfi_lr_col(s, m);
        double norm = 0;
        for (size_t i = 0; i < xrows; i++) norm = hypot(norm, w[i * nc + c]);
        gsl_vector_view v = gsl_matrix_subcolumn(&wv.matrix, c, rank, xrows - rank);
        double rest = gsl_blas_dnrm2(&v.vector);
        if (norm == 0 || rest <= s->params.tol * norm) {
            s->aliased[m] = 1;
            continue;
        }
        double tau = gsl_linalg_householder_transform(&v.vector);
        gsl_matrix_view right = gsl_matrix_submatrix(&wv.matrix, rank, c + 1, xrows - rank, nc - c - 1);
        gsl_linalg_householder_hm(tau, &v.vector, &right.matrix);
        if (!s->params.fit_intercept) {
            gsl_matrix_view ones = gsl_matrix_submatrix(&wv.matrix, rank, 0, xrows - rank, 1);
            gsl_linalg_householder_hm(tau, &v.vector, &ones.matrix);
        }
        s->kept[rank++] = m;
    }
    s->res.rank = rank;
    double ones_rest = 0;
    for (size_t i = rank; i < xrows; i++) ones_rest = hypot(ones_rest, w[i * nc]);
    *ones_in_span = ones_norm > 0 && ones_rest <= s->params.tol * ones_norm;
}

/* The model's column value for row `row` of the caller's x. */
static inline double xval(const sf_linreg *s, const double *row, size_t m)
{
    if (s->params.fit_intercept) return m == 0 ? 1.0 : row[m - 1];
    return row[m];
}

double sfi_lr_predict_row(const sf_linreg *s, const double *row)
{
    double v = 0;
    for (size_t a = 0; a < s->res.rank; a++) v += s->beta_kept[a] * xval(s, row, s->kept[a]);
    return v;
}

/* bse, tvalues, pvalues and the full cov_params from cov_kept. */
void sfi_lr_coefficient_tables(sf_linreg *s)
{
    size_t k = s->k, r = s->res.rank;
    for (size_t i = 0; i < k * k; i++) s->cov[i] = NAN;
    for (size_t m = 0; m < k; m++) s->bse[m] = s->tvalues[m] = s->pvalues[m] = NAN;
    if (s->params.alpha > 0) return;
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < r; b++) s->cov[s->kept[a] * k + s->kept[b]] = s->cov_kept[a * r + b];
    for (size_t a = 0; a < r; a++) {
        size_t m = s->kept[a];
        double se = sqrt(s->cov_kept[a * r + a]);
        s->bse[m] = se;
        s->tvalues[m] = s->coef[m] / se;
        s->pvalues[m] = s->res.use_t ? t_two_sided(s->tvalues[m], s->res.df_resid)
                                     : 2 * gsl_cdf_ugaussian_Q(fabs(s->tvalues[m]));
    }
}

/* Everything statsmodels derives from ssr, the TSS and the degrees of freedom. */
static void summary_statistics(sf_linreg *s, double ssr)
{
    sf_linreg_result *res = &s->res;
    double n = s->tot.nobs, kc = res->k_constant;
    res->ssr = ssr;
    res->centered_tss = s->tot.m2_y;
    res->uncentered_tss = s->tot.m2_y + s->tot.sum_w * s->tot.mean_y * s->tot.mean_y;
    double tss = kc ? res->centered_tss : res->uncentered_tss;
    res->ess = tss - ssr;
    res->rsquared = 1 - ssr / tss;
    res->rsquared_adj = 1 - (n - kc) / res->df_resid * (1 - res->rsquared);
    if (s->params.alpha > 0) {
        res->scale = res->sigma = res->fvalue = res->f_pvalue = NAN;
        res->llf = res->aic = res->bic = NAN;
        return;
    }
    res->scale = res->df_resid > 0 ? ssr / res->df_resid : NAN;
    res->sigma = sqrt(res->scale);
    double mse_model = res->df_model > 0 ? res->ess / res->df_model : NAN;
    res->fvalue = mse_model / res->scale;
    res->f_pvalue = res->df_model > 0 ? sfi_lr_f_upper(res->fvalue, res->df_model, res->df_resid) : NAN;
    double n2 = n / 2;
    res->llf = -log(ssr) * n2 - (1 + log(M_PI / n2)) * n2 + 0.5 * s->tot.sum_log_w;
    double kp = res->df_model + kc;
    res->aic = -2 * res->llf + 2 * kp;
    res->bic = -2 * res->llf + log(n) * kp;
}

sf_status sf_linreg_finalize(sf_linreg *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_finalize: NULL model");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: no rows seen");
    if (s->phase == SFI_LR_RESID)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: finalize during the residual pass");
    size_t nc = s->nc, p = s->p, k = p + (s->params.fit_intercept ? 1 : 0);
    sfi_lr_free_results(s);
    s->tot = s->mo;
    sfi_lr_add_moments(&s->tot, s->yw, s->yw + s->block, s->n_pending);
    SF_TRY(alloc_results(s, k, err));
    s->k = k;
    size_t extra = s->n_pending > p ? s->n_pending : p;
    double *w = malloc((nc * nc + extra * nc) * sizeof *w);
    if (!w) {
        sfi_lr_free_results(s);
        return sfi_nomem(err);
    }
    double *rows = w + nc * nc;
    memcpy(w, s->r, nc * nc * sizeof *w);
    gsl_matrix_view wv = gsl_matrix_view_array(w, nc, nc);
    gsl_matrix_view tv = gsl_matrix_view_array(s->t, nc, nc);
    int gst = 0;
    if (s->n_pending) {
        memcpy(rows, s->buf, s->n_pending * nc * sizeof *rows);
        gsl_matrix_view a = gsl_matrix_view_array(rows, s->n_pending, nc);
        gst = gsl_linalg_QR_UR_decomp(&wv.matrix, &a.matrix, &tv.matrix);
    }
    sf_status st = gst ? gsl_fail(err, "QR update", gst) : design_singular_values(s, w, err);
    s->const_idx = constant_column(s, w);
    if (st == SF_OK && s->params.alpha > 0) {
        memset(rows, 0, p * nc * sizeof *rows);
        for (size_t j = 0; j < p; j++) rows[j * nc + j + 1] = sqrt(s->params.alpha);
        gsl_matrix_view a = gsl_matrix_view_array(rows, p, nc);
        gst = gsl_linalg_QR_UR_decomp(&wv.matrix, &a.matrix, &tv.matrix);
        if (gst) st = gsl_fail(err, "ridge rows", gst);
    }
    bool ones_in_span = false;
    if (st == SF_OK) drop_aliased(s, w, &ones_in_span);
    size_t r = s->res.rank;
    double ssr = w[(nc - 1) * nc + nc - 1];
    ssr *= ssr;
    for (size_t i = r; st == SF_OK && i < nc - 1; i++) ssr += w[i * nc + nc - 1] * w[i * nc + nc - 1];
    if (st == SF_OK && r > 0) {
        /* β = R⁻¹ z; (RᵀR)⁻¹ = R⁻¹R⁻ᵀ */
        for (size_t a = 0; a < r; a++) {
            s->beta_kept[a] = w[a * nc + nc - 1];
            for (size_t b = 0; b < r; b++) s->rinv[a * r + b] = b >= a ? w[a * nc + sfi_lr_col(s, s->kept[b])] : 0;
        }
        gsl_matrix_view rv = gsl_matrix_view_array(s->rinv, r, r);
        gsl_vector_view bv = gsl_vector_view_array(s->beta_kept, r);
        gst = gsl_blas_dtrsv(CblasUpper, CblasNoTrans, CblasNonUnit, &rv.matrix, &bv.vector);
        if (!gst) gst = gsl_linalg_tri_upper_invert(&rv.matrix);
        if (gst) st = gsl_fail(err, "triangular solve", gst);
    }
    free(w);
    if (st != SF_OK) {
        sfi_lr_free_results(s);
        return st;
    }
    sf_linreg_result *res = &s->res;
    for (size_t m = 0; m < k; m++) s->coef[m] = NAN;
    for (size_t a = 0; a < r; a++) s->coef[s->kept[a]] = s->beta_kept[a];
    if (s->params.alpha > 0) /* the QR gave the penalized objective */
        for (size_t a = 0; a < r; a++)
            if (!(s->params.fit_intercept && s->kept[a] == 0)) ssr -= s->params.alpha * s->beta_kept[a] * s->beta_kept[a];
    if (s->params.fit_intercept) res->k_constant = r > 0 && s->kept[0] == 0 ? 1 : 0;
    else res->k_constant = ones_in_span ? 1 : 0;
    res->n_params = k;
    res->nobs = s->tot.nobs;
    res->sum_w = s->tot.sum_w;
    res->df_resid = s->tot.nobs - (double)r;
    res->df_model = (double)r - res->k_constant;
    res->cov_type = SF_LINREG_NONROBUST;
    res->use_t = true;
    summary_statistics(s, ssr);
    if (r > 0) {
        gsl_matrix_view rv = gsl_matrix_view_array(s->rinv, r, r);
        gsl_matrix_view cv = gsl_matrix_view_array(s->cov_kept, r, r);
        gsl_blas_dsyrk(CblasUpper, CblasNoTrans, 1.0, &rv.matrix, 0.0, &cv.matrix);
        for (size_t a = 0; a < r; a++)
            for (size_t b = a; b < r; b++) {
                double v = s->cov_kept[a * r + b] * res->scale;
                s->cov_kept[a * r + b] = s->cov_kept[b * r + a] = v;
            }
    }
    sfi_lr_coefficient_tables(s);
    res->condition_number = s->sv[0] / s->sv[k - 1];
    res->aliased = s->aliased;
    res->params = s->coef;
    res->bse = s->bse;
    res->tvalues = s->tvalues;
    res->pvalues = s->pvalues;
    res->cov_params = s->cov;
    res->singular_values = s->sv;
    res->has_diagnostics = false;
    s->is_finalized = true;
    return SF_OK;
}

const sf_linreg_result *sf_linreg_get_result(const sf_linreg *s)
{
    return s && s->is_finalized ? &s->res : NULL;
}

sf_status sf_linreg_conf_int(const sf_linreg *s, double alpha, double *lower, double *upper, sf_error *err)
{
    if (!s || !lower || !upper) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_conf_int: NULL argument");
    if (!s->is_finalized) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not finalized");
    if (!(alpha > 0 && alpha < 1)) return sfi_fail(err, SF_ERR_ARG, NULL, "alpha must be in (0, 1), got %g", alpha);
    double q = quantile(s, alpha);
    for (size_t m = 0; m < s->k; m++) {
        lower[m] = s->coef[m] - q * s->bse[m];
        upper[m] = s->coef[m] + q * s->bse[m];
    }
    return SF_OK;
}

static sf_status check_predict(const sf_linreg *s, const double *x, size_t n, size_t p, size_t ld,
                               const double *out, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression: NULL model");
    if (!s->is_finalized) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not finalized");
    if (p != s->p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: fitted on %zu features, got %zu", s->p, p);
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: row stride %zu < %zu features", ld, p);
    if (n > 0 && (!x || !out)) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression: NULL data or output");
    return SF_OK;
}

sf_status sf_linreg_predict(const sf_linreg *s, const double *x, size_t n, size_t p, size_t ld, double *out,
                            sf_error *err)
{
    SF_TRY(check_predict(s, x, n, p, ld, out, err));
    for (size_t i = 0; i < n; i++) out[i] = sfi_lr_predict_row(s, x + i * ld);
    return SF_OK;
}

sf_status sf_linreg_predict_interval(const sf_linreg *s, const double *x, size_t n, size_t p, size_t ld,
                                     double alpha, bool observation, double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_predict(s, x, n, p, ld, out, err));
    if (out_ld < 4) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: interval output needs 4 columns");
    if (!(alpha > 0 && alpha < 1)) return sfi_fail(err, SF_ERR_ARG, NULL, "alpha must be in (0, 1), got %g", alpha);
    size_t r = s->res.rank;
    double *xk = malloc((r ? r : 1) * sizeof *xk);
    if (!xk) return sfi_nomem(err);
    double q = quantile(s, alpha);
    for (size_t i = 0; i < n; i++) {
        const double *row = x + i * ld;
        for (size_t a = 0; a < r; a++) xk[a] = xval(s, row, s->kept[a]);
        double var = 0; /* statsmodels' get_prediction: se_mean² = x C xᵀ */
        for (size_t a = 0; a < r; a++) {
            double t = 0;
            for (size_t b = 0; b < r; b++) t += s->cov_kept[a * r + b] * xk[b];
            var += xk[a] * t;
        }
        if (observation) var += s->res.scale;
        double *o = out + i * out_ld, yhat = sfi_lr_predict_row(s, row), se = sqrt(var);
        o[0] = yhat;
        o[1] = se;
        o[2] = yhat - q * se;
        o[3] = yhat + q * se;
    }
    free(xk);
    return SF_OK;
}
