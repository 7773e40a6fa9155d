/* sf_scaler.h — the standard scaler: scikit-learn 1.2's StandardScaler, chunk by
 * chunk, on plain row-major arrays.
 *
 * partial_fit folds a chunk into per-column (n, mean, M2) with the corrected
 * two-pass sums of sklearn's _incremental_mean_and_var, then combines with the
 * running state by Chan, Golub & LeVeque's update written on means (not sums), so
 * a long stream with a large mean cannot overflow (sklearn issue 5602). NaNs are
 * ignored per column (per-column n_samples_seen_); sample weights are allowed.
 * Two states fitted on different rows merge exactly as one fit would.
 */
#ifndef SF_SCALER_H
#define SF_SCALER_H

#include <stdbool.h>
#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Parameters, as scikit-learn names them. */
typedef struct sf_scaler_params {
    bool with_mean;    /**< centre the data; default true */
    bool with_std;     /**< scale to unit variance; default true */
    uint8_t reserved[16];
} sf_scaler_params;

/** Fills p with scikit-learn's defaults. */
SF_API void sf_scaler_params_default(sf_scaler_params *p);

typedef struct sf_scaler sf_scaler;

/** Creates an unfitted scaler (p may be NULL: defaults). The number of features
 *  is fixed by the first partial_fit. Caller frees with sf_scaler_free(). */
SF_API sf_status sf_scaler_new(sf_scaler **out, const sf_scaler_params *p, sf_error *err);

/** Frees a scaler; NULL is a no-op. */
SF_API void sf_scaler_free(sf_scaler *s);

/** Creates a fresh scaler with s's parameters and feature count and no data seen
 *  (a worker's partial state for a parallel pass). Caller frees it. */
SF_API sf_status sf_scaler_clone_empty(const sf_scaler *s, sf_scaler **out, sf_error *err);

/** Folds n rows of the n x p matrix x (row stride ld >= p) into the statistics.
 *  w: n sample weights (>= 0, finite) or NULL. NaN entries are skipped; ±inf is
 *  SF_ERR_ARG. p must match earlier calls (SF_ERR_SHAPE). On error s is unchanged.
 *  n = 0 is a no-op. */
SF_API sf_status sf_scaler_partial_fit(sf_scaler *s, const double *x, size_t n, size_t p,
                                       size_t ld, const double *w, sf_error *err);

/** partial_fit on n CSR rows: row i holds data[indptr[i] .. indptr[i+1]) in the
 *  columns indices[...] (< p), every other entry 0; indptr need not start at 0.
 *  As sklearn's StandardScaler on a sparse matrix: with_mean must be false
 *  (SF_ERR_ARG otherwise); NaN entries are ignored; statistics agree with the
 *  dense path on the same rows to rounding. w: n weights or NULL. On error s is
 *  unchanged. */
SF_API sf_status sf_scaler_partial_fit_csr(sf_scaler *s, const double *data, const uint32_t *indices,
                                           const size_t *indptr, size_t n, size_t p, const double *w,
                                           sf_error *err);

/** Scales n CSR rows (same layout) into out: out[e - indptr[0]] is the entry
 *  data[e] times 1 / scale_ of its column (sklearn's inplace_column_scale; a copy
 *  without with_std). The structure is unchanged; out may be data + indptr[0].
 *  with_mean true is SF_ERR_ARG. */
SF_API sf_status sf_scaler_transform_csr(const sf_scaler *s, const double *data, const uint32_t *indices,
                                         const size_t *indptr, size_t n, size_t p, double *out, sf_error *err);

/** dst ⊕= src: dst becomes the scaler fitted on dst's rows then src's rows.
 *  Both must have the same parameters and, if fitted, feature count
 *  (SF_ERR_STATE). Merging an unfitted scaler is the identity. */
SF_API sf_status sf_scaler_merge(sf_scaler *dst, const sf_scaler *src, sf_error *err);

/** out = (x - mean_) / scale_ (each part only if with_mean / with_std), n x p with
 *  row stride out_ld; out may equal x (in place, with out_ld == ld). NaN stays
 *  NaN. SF_ERR_STATE before any data was seen; SF_ERR_SHAPE if p differs. */
SF_API sf_status sf_scaler_transform(const sf_scaler *s, const double *x, size_t n, size_t p,
                                     size_t ld, double *out, size_t out_ld, sf_error *err);

/** out = x * scale_ + mean_: the inverse of sf_scaler_transform. */
SF_API sf_status sf_scaler_inverse_transform(const sf_scaler *s, const double *x, size_t n,
                                             size_t p, size_t ld, double *out, size_t out_ld,
                                             sf_error *err);

/** Number of features (0 before the first partial_fit). */
SF_API size_t sf_scaler_n_features(const sf_scaler *s);

/** The fitted attributes, p values each, as scikit-learn's mean_, var_ (ddof 0),
 *  scale_ (1 for constant columns by sklearn's _is_constant_feature rule) and
 *  n_samples_seen_ (a sum of weights when weights were given). A column that saw
 *  no value has NaN mean_, var_ and scale_, as sklearn. Borrowed; valid until the
 *  next call that changes s. NULL before any data. */
SF_API const double *sf_scaler_mean(const sf_scaler *s);
SF_API const double *sf_scaler_var(const sf_scaler *s);
SF_API const double *sf_scaler_scale(const sf_scaler *s);
SF_API const double *sf_scaler_n_samples_seen(const sf_scaler *s);

/** The parameters s was made with. */
SF_API sf_scaler_params sf_scaler_get_params(const sf_scaler *s);

/** Copies the resumable state (for model files), p values each, into caller
 *  arrays: n_samples_seen_, the per-column shift, the mean of x - shift, and M2.
 *  SF_ERR_STATE before any data. */
SF_API sf_status sf_scaler_get_state(const sf_scaler *s, double *n_samples_seen, double *shift,
                                     double *shifted_mean, double *m2, sf_error *err);

/** Restores a state saved by sf_scaler_get_state(): continuing from it is bitwise
 *  the same as continuing the original. SF_ERR_ARG on a negative count or M2;
 *  s is unchanged on error. */
SF_API sf_status sf_scaler_set_state(sf_scaler *s, size_t p, const double *n_samples_seen,
                                     const double *shift, const double *shifted_mean,
                                     const double *m2, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
