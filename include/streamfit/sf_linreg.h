/* sf_linreg.h — least squares by QR updating: exact (weighted, ridge) linear
 * regression on data of any size, with the statistics of statsmodels' OLS/WLS.
 *
 * partial_fit folds rows of [1 | x | y] (each scaled by sqrt(w)) into the upper
 * triangular factor R of a Householder QR, a block of rows at a time
 * (gsl_linalg_QR_UR_decomp), so memory is O(p²) whatever the number of rows. The
 * y column rides along as the last column: its part of R is Qᵀy and its last
 * diagonal entry is the residual norm. Two states fitted on different rows merge
 * (gsl_linalg_QR_UU_decomp, TSQR) into the state of one fit. finalize solves
 * R β = Qᵀy, detects aliased columns as R's lm does (reported, coefficient NaN) and
 * computes what statsmodels' OLS(...).fit() / WLS(...).fit() report.
 *
 * An optional second pass over the same rows (sf_linreg_residual_fit) gives the
 * heteroskedasticity-robust covariances HC0..HC3 and the residual diagnostics of
 * statsmodels' summary (Durbin–Watson, Jarque–Bera, omnibus) in O(p²) memory.
 */
#ifndef SF_LINREG_H
#define SF_LINREG_H

#include <stdbool.h>
#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Covariance of the coefficients, as statsmodels' cov_type names it. */
typedef enum sf_linreg_cov_type {
    SF_LINREG_NONROBUST = 0, /**< scale · (XᵀWX)⁻¹ */
    SF_LINREG_HC0,           /**< White's sandwich */
    SF_LINREG_HC1,           /**< HC0 · n / df_resid */
    SF_LINREG_HC2,           /**< e² / (1 - h) */
    SF_LINREG_HC3            /**< e² / (1 - h)² */
} sf_linreg_cov_type;

/** Parameters. */
typedef struct sf_linreg_params {
    bool fit_intercept;          /**< prepend a column of ones (statsmodels' const); default true */
    double alpha;                /**< ridge penalty on the non-intercept coefficients (>= 0,
                                      extra rows sqrt(alpha)·I, so still a QR solve); default 0 */
    sf_linreg_cov_type cov_type; /**< robust types need the second pass; default nonrobust */
    double tol;                  /**< aliasing tolerance: a column whose part outside the span
                                      of the columns before it is <= tol times its norm is
                                      aliased (R's lm.fit tol); default 1e-7 */
    bool diagnostics;            /**< ask for the second pass for Durbin–Watson, Jarque–Bera,
                                      omnibus even when cov_type is nonrobust; default false */
    uint8_t reserved[32];
} sf_linreg_params;

/** Fills p with the defaults. */
SF_API void sf_linreg_params_default(sf_linreg_params *p);

/** Checks p; SF_ERR_ARG naming the bad field (err->field_name) otherwise. */
SF_API sf_status sf_linreg_params_check(const sf_linreg_params *p, sf_error *err);

typedef struct sf_linreg sf_linreg;

/** Creates an unfitted model (p NULL: defaults). The feature count is fixed by the
 *  first partial_fit. Caller frees with sf_linreg_free(). SF_ERR_ARG on bad p. */
SF_API sf_status sf_linreg_new(sf_linreg **out, const sf_linreg_params *p, sf_error *err);

/** Frees a model; NULL is a no-op. */
SF_API void sf_linreg_free(sf_linreg *s);

/** Creates a model with s's parameters and feature count and no rows seen: a
 *  worker's partial state. If s is in its residual pass (sf_linreg_begin_residual_pass)
 *  the clone carries s's fitted coefficients and empty residual sums, for a
 *  worker of that pass. Caller frees with sf_linreg_free(). */
SF_API sf_status sf_linreg_clone_empty(const sf_linreg *s, sf_linreg **out, sf_error *err);

/** Folds n rows (x: n x p, row stride ld >= p; y: n targets; w: n weights >= 0 or
 *  NULL for 1) into the factorization. NaN or ±inf anywhere is SF_ERR_ARG (with
 *  the row and field), a p different from earlier calls SF_ERR_SHAPE; on error s
 *  is unchanged. Results of an earlier finalize are dropped. n = 0 is a no-op. */
SF_API sf_status sf_linreg_partial_fit(sf_linreg *s, const double *x, size_t n, size_t p,
                                       size_t ld, const double *y, const double *w,
                                       sf_error *err);

/** dst ⊕= src: dst becomes the model fitted on dst's rows then src's rows (rows
 *  still waiting in src's block buffer are appended to dst's). Same parameters and
 *  feature count needed (SF_ERR_STATE); an empty src is the identity. In the
 *  residual pass both must be in it with the same fit, and src's residual sums
 *  (rows after dst's) are added. */
SF_API sf_status sf_linreg_merge(sf_linreg *dst, const sf_linreg *src, sf_error *err);

/** Solves and computes the statistics from the rows seen (s is not changed
 *  otherwise: more partial_fit may follow). SF_ERR_STATE before any row. */
SF_API sf_status sf_linreg_finalize(sf_linreg *s, sf_error *err);

/** The fitted results, as statsmodels' RegressionResults names them. Arrays have
 *  n_params entries (intercept first when fit_intercept, then the features), in
 *  that order; aliased coefficients are NaN in params, bse, tvalues, pvalues and in
 *  their row and column of cov_params. With alpha > 0 only params, ssr (the
 *  unpenalized residual sum of squares), rsquared and rsquared_adj are given; the
 *  inferential fields are NaN. */
typedef struct sf_linreg_result {
    size_t n_params;          /**< p + fit_intercept */
    size_t rank;              /**< columns not aliased */
    const unsigned char *aliased; /**< 1 for an aliased column */
    const double *params, *bse, *tvalues, *pvalues;
    const double *cov_params; /**< n_params x n_params, row-major */
    const double *singular_values; /**< of the (weighted) design, descending */
    double nobs, sum_w;       /**< rows, sum of weights */
    double df_model, df_resid;
    int k_constant;           /**< 1 when the design holds a constant (explicit or implicit) */
    double ssr, ess, centered_tss, uncentered_tss;
    double rsquared, rsquared_adj; /**< uncentered when k_constant is 0, as statsmodels */
    double fvalue, f_pvalue;
    double scale, sigma;      /**< ssr / df_resid and its square root */
    double llf, aic, bic;
    double condition_number;
    sf_linreg_cov_type cov_type; /**< the type of cov_params and bse */
    bool use_t;               /**< t (nonrobust) or normal (robust) inference, as statsmodels */
    bool has_diagnostics;     /**< the residual pass ran: the fields below are set */
    double durbin_watson, jarque_bera, jb_pvalue, skew, kurtosis, omnibus, omnibus_pvalue;
} sf_linreg_result;

/** The results of the last finalize. Borrowed; valid until the next call that
 *  changes s. NULL if not finalized since the last change. */
SF_API const sf_linreg_result *sf_linreg_get_result(const sf_linreg *s);

/** Confidence intervals params ± q·bse (q: t quantile on df_resid, or normal when
 *  !use_t) at level 1 - alpha, into lower and upper (n_params each; NaN for
 *  aliased). SF_ERR_STATE if not finalized, SF_ERR_ARG unless 0 < alpha < 1. */
SF_API sf_status sf_linreg_conf_int(const sf_linreg *s, double alpha, double *lower, double *upper,
                                    sf_error *err);

/** out[i] = the prediction for row i of x (n x p, stride ld); aliased columns do
 *  not contribute (R's predict on a rank-deficient fit). Thread-safe on a
 *  finalized model. SF_ERR_STATE if not finalized, SF_ERR_SHAPE on a wrong p. */
SF_API sf_status sf_linreg_predict(const sf_linreg *s, const double *x, size_t n, size_t p,
                                   size_t ld, double *out, sf_error *err);

/** Predictions with standard errors and intervals at level 1 - alpha, four
 *  columns per row in out (stride out_ld >= 4): prediction, standard error,
 *  lower, upper. observation = false: the interval for the mean (statsmodels'
 *  mean_ci, se = sqrt(xᵀ cov x)); true: for a new observation (obs_ci, se² adds
 *  scale). Thread-safe on a finalized model. */
SF_API sf_status sf_linreg_predict_interval(const sf_linreg *s, const double *x, size_t n,
                                            size_t p, size_t ld, double alpha, bool observation,
                                            double *out, size_t out_ld, sf_error *err);

/** The second pass: true when the parameters ask for it (robust cov_type or
 *  diagnostics) and the model is finalized but has not had it. */
SF_API bool sf_linreg_wants_residual_pass(const sf_linreg *s);

/** Starts the residual pass on a finalized model: residual sums are zeroed.
 *  SF_ERR_STATE if not finalized. */
SF_API sf_status sf_linreg_begin_residual_pass(sf_linreg *s, sf_error *err);

/** Folds the residuals of n rows (same rows as the first pass, in order, for
 *  Durbin–Watson) into the residual sums. SF_ERR_STATE outside the residual pass;
 *  input checks as partial_fit; on error s is unchanged. */
SF_API sf_status sf_linreg_residual_fit(sf_linreg *s, const double *x, size_t n, size_t p,
                                        size_t ld, const double *y, const double *w,
                                        sf_error *err);

/** Ends the residual pass: the result gains the robust covariance (bse, tvalues,
 *  pvalues, fvalue as statsmodels' get_robustcov_results) and the diagnostics.
 *  SF_ERR_STATE outside the residual pass. */
SF_API sf_status sf_linreg_end_residual_pass(sf_linreg *s, sf_error *err);

/** The residual pass's sums (for model files): the rank x rank middle of the
 *  sandwich (in the coordinates of the kept factor; zeros when cov_type is
 *  nonrobust) and, in sums, the count, mean, M2, M3, M4 of the whitened residuals,
 *  Σ of squared successive differences, and the first and last residual. */
typedef struct sf_linreg_residual_state {
    size_t rank;
    const double *meat;
    double sums[8];
} sf_linreg_residual_state;

/** Fills rs during or after the residual pass. Borrowed; valid until the next
 *  call that changes s. SF_ERR_STATE if the pass never began. */
SF_API sf_status sf_linreg_get_residual_state(const sf_linreg *s, sf_linreg_residual_state *rs,
                                              sf_error *err);

/** On a model just finalized from the same first-pass state: restores a finished
 *  residual pass (as begin, these sums, end). SF_ERR_ARG on sums that do not fit
 *  (rank, non-finite); SF_ERR_STATE if s is not freshly finalized. */
SF_API sf_status sf_linreg_set_residual_state(sf_linreg *s, const sf_linreg_residual_state *rs,
                                              sf_error *err);

/** Number of features (0 before the first partial_fit). */
SF_API size_t sf_linreg_n_features(const sf_linreg *s);

/** The parameters s was made with. */
SF_API sf_linreg_params sf_linreg_get_params(const sf_linreg *s);

/** The resumable first-pass state. The factor is that of the weighted rows
 *  [1 | x | y] (n_cols = p + 2 columns); rows not yet folded wait in `pending`
 *  with their raw targets and weights. The counts and moments are those of the
 *  folded rows (a block's are added when it is folded). */
typedef struct sf_linreg_state {
    size_t n_features;     /**< p */
    const double *r;       /**< (p+2) x (p+2) row-major, upper triangular */
    size_t n_pending;      /**< rows buffered, < the block size */
    const double *pending; /**< n_pending x (p+2) row-major, already scaled by sqrt(w) */
    const double *pending_y, *pending_w; /**< n_pending targets and weights (1 when none) */
    double nobs;           /**< rows seen */
    double sum_w;          /**< sum of weights */
    double mean_y;         /**< weighted mean of y */
    double m2_y;           /**< weighted sum of squared deviations of y from mean_y */
    double sum_log_w;      /**< sum of log(w), for WLS's log-likelihood */
} sf_linreg_state;

/** Fills st with s's state. Borrowed; valid until the next call that changes s.
 *  SF_ERR_STATE before any row. */
SF_API sf_status sf_linreg_get_state(const sf_linreg *s, sf_linreg_state *st, sf_error *err);

/** Restores a state from sf_linreg_get_state() (arrays are copied): continuing
 *  from it is bitwise the same as continuing the original. SF_ERR_ARG on an
 *  inconsistent state (non-finite, negative counts, too many pending rows, a
 *  non-triangular r); s is unchanged on error. */
SF_API sf_status sf_linreg_set_state(sf_linreg *s, const sf_linreg_state *st, sf_error *err);

/** Formats the regression table of a finalized model as statsmodels' summary()
 *  lays it out (top block, coefficient table, diagnostics when the residual pass
 *  ran, notes incl. aliased columns). names: n_names = p feature names or NULL
 *  (x1, x2, ...); yname: the target's name or NULL ("y"). *out: a new string.
 *  Caller frees *out with free(). SF_ERR_STATE if not finalized. */
SF_API sf_status sf_linreg_summary(const sf_linreg *s, const char *const *names, size_t n_names,
                                   const char *yname, char **out, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
