/* linreg_summary.c — the regression table, laid out as statsmodels 0.13.5's
 * RegressionResults.summary() text (regression/linear_model.py: summary;
 * iolib/summary.py: the two-column top block, the coefficient table, the
 * diagnostics block and the numbered notes), with its Date/Time values left
 * blank so the text depends on the model only. Aliased columns get a row saying so, and a note
 * naming them, as R's summary(lm) reports "(k not defined because of
 * singularities)".
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimators/linreg_impl.h"

#define WIDTH 78

static void rule(sfi_buf *b, char c)
{
    char line[WIDTH + 2];
    memset(line, c, WIDTH);
    line[WIDTH] = '\n';
    line[WIDTH + 1] = '\0';
    sfi_buf_printf(b, "%s", line);
}

/* One line of the top block: "label   value   label   value". */
static void pair(sfi_buf *b, const char *l1, const char *v1, const char *l2, const char *v2)
{
    int w1 = 37 - (int)strlen(l1), w2 = 38 - (int)strlen(l2);
    sfi_buf_printf(b, "%s%*s   %s%*s\n", l1, w1 > 0 ? w1 : 1, v1, l2, w2 > 0 ? w2 : 1, v2);
}

/* statsmodels' %#8.3f-style cells, NaN as "nan". */
static void fmt(char *out, size_t n, const char *f, double v)
{
    if (isnan(v)) snprintf(out, n, "nan");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "inf" : "-inf");
    else snprintf(out, n, f, v);
}

/* iolib/summary.py's forg: %.4f (coef) / %.3f, or %.4g beyond [1e-4, 1e4). */
static void cell(char *out, size_t n, double v, int prec)
{
    if (isnan(v)) snprintf(out, n, "nan");
    else if (v != 0 && (fabs(v) >= 1e4 || fabs(v) < 1e-4)) snprintf(out, n, "%.*g", prec, v);
    else snprintf(out, n, "%.*f", prec, v);
}

static void top_block(const sf_linreg *s, sfi_buf *b, const char *yname, bool wls)
{
    const sf_linreg_result *r = &s->res;
    char v[8][40];
    const char *unc = r->k_constant ? "" : " (uncentered)";
    char l1[48], l2[48];
    snprintf(l1, sizeof l1, "R-squared%s:", unc);
    snprintf(l2, sizeof l2, "Adj. R-squared%s:", unc);
    fmt(v[0], sizeof v[0], "%#8.3f", r->rsquared);
    fmt(v[1], sizeof v[1], "%#8.3f", r->rsquared_adj);
    fmt(v[2], sizeof v[2], "%#8.4g", r->fvalue);
    fmt(v[3], sizeof v[3], "%#6.3g", r->f_pvalue);
    fmt(v[4], sizeof v[4], "%#8.5g", r->llf);
    fmt(v[5], sizeof v[5], "%#8.4g", r->aic);
    fmt(v[6], sizeof v[6], "%#8.4g", r->bic);
    char nobs[32], dfr[32], dfm[32];
    snprintf(nobs, sizeof nobs, "%.0f", r->nobs);
    snprintf(dfr, sizeof dfr, "%.0f", r->df_resid);
    snprintf(dfm, sizeof dfm, "%.0f", r->df_model);
    static const char *const cov_names[] = {"nonrobust", "HC0", "HC1", "HC2", "HC3"};
    const char *model = s->params.alpha > 0 ? "Ridge" : wls ? "WLS" : "OLS";
    char title[64];
    snprintf(title, sizeof title, "%s Regression Results", model);
    int pad = WIDTH - (int)strlen(title), left = pad / 2 + (pad & WIDTH & 1); /* Python's str.center */
    sfi_buf_printf(b, "%*s%s%*s\n", left, "", title, pad - left, "");
    rule(b, '=');
    pair(b, "Dep. Variable:", yname, l1, v[0]);
    pair(b, "Model:", model, l2, v[1]);
    pair(b, "Method:", "Least Squares", "F-statistic:", v[2]);
    pair(b, "", "", "Prob (F-statistic):", v[3]); /* statsmodels' Date: */
    pair(b, "", "", "Log-Likelihood:", v[4]);     /* and Time: */
    pair(b, "No. Observations:", nobs, "AIC:", v[5]);
    pair(b, "Df Residuals:", dfr, "BIC:", v[6]);
    pair(b, "Df Model:", dfm, "", "");
    pair(b, "Covariance Type:", cov_names[r->cov_type], "", "");
    rule(b, '=');
}

static void coefficient_block(const sf_linreg *s, sfi_buf *b, const char *const *names, size_t name_w)
{
    const sf_linreg_result *r = &s->res;
    double *lo = malloc(2 * r->n_params * sizeof *lo);
    if (!lo) {
        b->failed = true;
        return;
    }
    double *hi = lo + r->n_params;
    sf_linreg_conf_int(s, 0.05, lo, hi, NULL);
    const char *stat = r->use_t ? "t" : "z";
    sfi_buf_printf(b, "%-*s %10s %10s %10s %10s %11s %11s\n", (int)name_w, "", "coef", "std err", stat,
                   r->use_t ? "P>|t|" : "P>|z|", "[0.025", "0.975]");
    rule(b, '-');
    for (size_t m = 0; m < r->n_params; m++) {
        if (r->aliased[m]) {
            sfi_buf_printf(b, "%-*s %10s\n", (int)name_w, names[m], "(aliased)");
            continue;
        }
        char c[6][40];
        cell(c[0], sizeof c[0], r->params[m], 4);
        cell(c[1], sizeof c[1], r->bse[m], 3);
        cell(c[2], sizeof c[2], r->tvalues[m], 3);
        snprintf(c[3], sizeof c[3], "%.3f", r->pvalues[m]);
        cell(c[4], sizeof c[4], lo[m], 3);
        cell(c[5], sizeof c[5], hi[m], 3);
        sfi_buf_printf(b, "%-*s %10s %10s %10s %10s %11s %11s\n", (int)name_w, names[m], c[0], c[1], c[2], c[3],
                       c[4], c[5]);
    }
    free(lo);
    rule(b, '=');
}

static void diagnostics_block(const sf_linreg *s, sfi_buf *b)
{
    const sf_linreg_result *r = &s->res;
    char v[8][40];
    fmt(v[0], sizeof v[0], "%#6.3f", r->omnibus);
    fmt(v[1], sizeof v[1], "%#8.3f", r->durbin_watson);
    fmt(v[2], sizeof v[2], "%#6.3f", r->omnibus_pvalue);
    fmt(v[3], sizeof v[3], "%#8.3f", r->jarque_bera);
    fmt(v[4], sizeof v[4], "%#6.3f", r->skew);
    fmt(v[5], sizeof v[5], "%#8.3g", r->jb_pvalue);
    fmt(v[6], sizeof v[6], "%#6.3f", r->kurtosis);
    fmt(v[7], sizeof v[7], "%#8.3g", r->condition_number);
    pair(b, "Omnibus:", v[0], "Durbin-Watson:", v[1]);
    pair(b, "Prob(Omnibus):", v[2], "Jarque-Bera (JB):", v[3]);
    pair(b, "Skew:", v[4], "Prob(JB):", v[5]);
    pair(b, "Kurtosis:", v[6], "Cond. No.", v[7]);
    rule(b, '=');
}

static void notes(const sf_linreg *s, sfi_buf *b, const char *const *names)
{
    const sf_linreg_result *r = &s->res;
    int k = 0;
    sfi_buf_printf(b, "\nNotes:\n");
    if (!r->k_constant)
        sfi_buf_printf(b, "[%d] R² is computed without centering (uncentered) since the model does not contain a "
                          "constant.\n", ++k);
    if (s->params.alpha > 0)
        sfi_buf_printf(b, "[%d] Ridge penalty alpha = %g on the non-constant coefficients: no standard errors.\n", ++k,
                       s->params.alpha);
    else if (r->cov_type == SF_LINREG_NONROBUST)
        sfi_buf_printf(b, "[%d] Standard Errors assume that the covariance matrix of the errors is correctly "
                          "specified.\n", ++k);
    else
        sfi_buf_printf(b, "[%d] Standard Errors are heteroscedasticity robust (HC%d)\n", ++k,
                       (int)r->cov_type - (int)SF_LINREG_HC0);
    double ev = r->singular_values[r->n_params - 1];
    ev *= ev;
    if (ev < 1e-10)
        sfi_buf_printf(b, "[%d] The smallest eigenvalue is %6.3g. This might indicate that there are\nstrong "
                          "multicollinearity problems or that the design matrix is singular.\n", ++k, ev);
    else if (r->condition_number > 1000)
        sfi_buf_printf(b, "[%d] The condition number is large, %6.3g. This might indicate that there are\nstrong "
                          "multicollinearity or other numerical problems.\n", ++k, r->condition_number);
    if (r->rank < r->n_params) {
        sfi_buf_printf(b, "[%d] %zu coefficient%s not defined because of singularities (aliased, as R's lm):", ++k,
                       r->n_params - r->rank, r->n_params - r->rank > 1 ? "s" : "");
        for (size_t m = 0; m < r->n_params; m++)
            if (r->aliased[m]) sfi_buf_printf(b, " %s", names[m]);
        sfi_buf_printf(b, "\n");
    }
    if (!r->has_diagnostics)
        sfi_buf_printf(b, "[%d] Residual diagnostics (omnibus, Durbin-Watson, Jarque-Bera) need the second pass: "
                          "diagnostics=true.\n", ++k);
}

sf_status sf_linreg_summary(const sf_linreg *s, const char *const *names, size_t n_names, const char *yname,
                            char **out, sf_error *err)
{
    if (!s || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_summary: NULL argument");
    *out = NULL;
    if (!s->is_finalized) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not finalized");
    if (names && n_names != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression summary: %zu names for %zu features", n_names, s->p);
    size_t k = s->res.n_params;
    char **own = calloc(k, sizeof *own);
    if (!own) return sfi_nomem(err);
    size_t name_w = 10;
    bool ok = true;
    for (size_t m = 0; m < k && ok; m++) {
        size_t j = s->params.fit_intercept ? m - 1 : m; /* feature index unless the constant */
        int len;
        if (s->params.fit_intercept && m == 0) len = asprintf(&own[m], "const");
        else if (names) len = asprintf(&own[m], "%s", names[j]);
        else len = asprintf(&own[m], "x%zu", j + 1);
        ok = len >= 0;
        if (!ok) own[m] = NULL;
        else if ((size_t)len > name_w) name_w = (size_t)len;
    }
    sfi_buf b = {0};
    if (ok) {
        bool wls = s->tot.sum_w != s->tot.nobs || s->tot.sum_log_w != 0;
        top_block(s, &b, yname ? yname : "y", wls);
        coefficient_block(s, &b, (const char *const *)own, name_w);
        if (s->res.has_diagnostics) diagnostics_block(s, &b);
        notes(s, &b, (const char *const *)own);
    }
    for (size_t m = 0; m < k; m++) free(own[m]);
    free(own);
    if (!ok || b.failed || !b.data) {
        free(b.data);
        return sfi_nomem(err);
    }
    *out = b.data;
    return SF_OK;
}
