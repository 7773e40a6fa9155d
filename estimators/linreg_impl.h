/* linreg_impl.h — the private state of sf_linreg, shared by linreg.c (folding,
 * merging, state), linreg_solve.c (finalize, predict, the residual pass) and
 * linreg_summary.c (the table); internal.
 *
 * Column layout of the factor: 0 = the ones column, 1..p = the features, p+1 = y
 * (nc = p + 2 columns). The ones column is always folded, even without
 * fit_intercept, so finalize can tell whether the design holds an implicit
 * constant (statsmodels' k_constant) without another pass.
 */
#ifndef SF_LINREG_IMPL_H
#define SF_LINREG_IMPL_H

#include "core/sf_internal.h"
#include "streamfit/sf_linreg.h"

enum { SFI_LR_PASS0 = 0, SFI_LR_RESID = 1, SFI_LR_RESID_DONE = 2 };

/* Rows, Σw, weighted mean and centred squares of y (Chan), Σ log w. */
typedef struct sfi_lr_moments {
    double nobs, sum_w, mean_y, m2_y, sum_log_w;
} sfi_lr_moments;

struct sf_linreg {
    sf_linreg_params params;
    size_t p, nc;       /* features; columns of the factor (p + 2) */
    size_t block;       /* rows folded at a time */
    double *r;          /* nc x nc upper triangular */
    double *buf;        /* block x nc: pending rows, folded when full */
    double *yw;         /* 2 x block: the pending rows' raw y, then w */
    size_t n_pending;
    double *t;          /* nc x nc: block reflector workspace of the QR routines */
    sfi_lr_moments mo;  /* of the folded rows: a block's are added when it is folded,
                           so the state never depends on how calls cut the rows */
    sfi_lr_moments tot; /* finalize: all rows, pending ones included */

    /* finalize's results (valid when is_finalized) */
    bool is_finalized;
    sf_linreg_result res;
    size_t k;           /* model columns: p + fit_intercept */
    size_t *kept;       /* rank model-column indices not aliased */
    unsigned char *aliased;
    double *coef, *bse, *tvalues, *pvalues, *cov, *sv; /* k, k, k, k, k*k, k */
    double *rinv;       /* rank x rank inverse of the kept factor */
    double *cov_kept;   /* rank x rank covariance of the kept coefficients */
    double *beta_kept;  /* rank */
    long const_idx;     /* model column that is a nonzero constant (statsmodels' const_idx), or -1 */

    /* the residual pass */
    int phase;
    double *meat;       /* rank x rank: Σ c e² u uᵀ, u = R⁻ᵀ x̃ */
    double e_n, e_mean, e_m2, e_m3, e_m4; /* moments of the whitened residuals */
    double dw_sum, e_first, e_last;       /* Durbin–Watson: Σ(e_t - e_{t-1})² and the ends */
};

/* Model column m (0..k-1) as a factor column. */
static inline size_t sfi_lr_col(const sf_linreg *s, size_t m)
{
    return s->params.fit_intercept ? m : m + 1;
}

/* Validates n rows of x, y, w (finite, w >= 0) and the shape. */
SFI_FUNC sf_status sfi_lr_check_rows(const sf_linreg *s, const double *x, size_t n, size_t p,
                                     size_t ld, const double *y, const double *w, sf_error *err);
/* Adds the moments of n rows (y, w) to m: two-pass sums, then Chan. */
SFI_FUNC void sfi_lr_add_moments(sfi_lr_moments *m, const double *y, const double *w, size_t n);
/* Drops finalize's results and any residual pass (back to the first pass). */
SFI_FUNC void sfi_lr_free_results(sf_linreg *s);
/* sf_linreg_merge during the residual pass. */
SFI_FUNC sf_status sfi_lr_merge_residuals(sf_linreg *dst, const sf_linreg *src, sf_error *err);
/* bse, tvalues, pvalues and cov_params from cov_kept and use_t. */
SFI_FUNC void sfi_lr_coefficient_tables(sf_linreg *s);
/* P(F > f) for F(d1, d2), as scipy's f.sf. */
SFI_FUNC double sfi_lr_f_upper(double f, double d1, double d2);
/* The prediction for one row from the kept coefficients. */
SFI_FUNC double sfi_lr_predict_row(const sf_linreg *s, const double *row);

#endif
