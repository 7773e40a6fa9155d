/* scaler.c — StandardScaler (scikit-learn 1.2 semantics), chunk by chunk.
 *
 * State per column: a shift K (the first value seen), n (count or weight sum), the
 * mean of x - K, and M2 (sum of squared deviations). A chunk is summarised with
 * sklearn's corrected two-pass sums (utils/extmath.py: _incremental_mean_and_var)
 * on shifted values: T = Σw·(x-K) / Σw, c = Σw·(x-K-T), mean = T + c/Σw,
 * M2_chunk = Σw·(x-K-T)² - c²/Σw; it is combined with the running state by Chan,
 * Golub & LeVeque's update on means. No Σx is kept, so a long stream of large
 * values cannot overflow (sklearn's last_sum = last_mean * last_n can), and the
 * shift keeps a column like 1e8 + N(0,1) accurate to rounding (x - K is exact by
 * Sterbenz's lemma), where sklearn's partial_fit loses ~1e-9 of var_.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/sf_internal.h"
#include "streamfit/sf_scaler.h"

struct sf_scaler {
    sf_scaler_params params;
    size_t p;
    double *n, *shift, *smean, *m2; /* the state; mean of x - shift in smean */
    double *mean, *var, *scale;     /* derived after every change */
    double *scratch;                /* 5p: chunk n, sum, correction, squares, shift */
};

void sf_scaler_params_default(sf_scaler_params *p)
{
    memset(p, 0, sizeof *p);
    p->with_mean = true;
    p->with_std = true;
}

sf_status sf_scaler_new(sf_scaler **out, const sf_scaler_params *p, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_new: NULL out");
    *out = NULL;
    sf_scaler *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    if (p) s->params = *p;
    else sf_scaler_params_default(&s->params);
    *out = s;
    return SF_OK;
}

static void free_arrays(sf_scaler *s)
{
    free(s->n);
    free(s->shift);
    free(s->smean);
    free(s->mean);
    free(s->m2);
    free(s->var);
    free(s->scale);
    free(s->scratch);
    s->n = s->shift = s->smean = s->mean = s->m2 = s->var = s->scale = s->scratch = NULL;
    s->p = 0;
}

void sf_scaler_free(sf_scaler *s)
{
    if (!s) return;
    free_arrays(s);
    free(s);
}

/* Sizes the state for p features, all columns unseen. */
static sf_status alloc_arrays(sf_scaler *s, size_t p, sf_error *err)
{
    double *a[8];
    size_t sizes[8] = {p, p, p, p, p, 5 * p, p, p};
    for (int k = 0; k < 8; k++) {
        a[k] = calloc(sizes[k], sizeof(double));
        if (!a[k]) {
            for (int j = 0; j < k; j++) free(a[j]);
            return sfi_nomem(err);
        }
    }
    s->n = a[0];
    s->mean = a[1];
    s->m2 = a[2];
    s->var = a[3];
    s->scale = a[4];
    s->scratch = a[5];
    s->shift = a[6];
    s->smean = a[7];
    s->p = p;
    for (size_t j = 0; j < p; j++) s->mean[j] = s->var[j] = s->scale[j] = NAN;
    return SF_OK;
}

sf_status sf_scaler_clone_empty(const sf_scaler *s, sf_scaler **out, sf_error *err)
{
    if (!s || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_clone_empty: NULL argument");
    SF_TRY(sf_scaler_new(out, &s->params, err));
    if (s->p) {
        sf_status st = alloc_arrays(*out, s->p, err);
        if (st != SF_OK) {
            sf_scaler_free(*out);
            *out = NULL;
            return st;
        }
    }
    return SF_OK;
}

/* var_ and scale_ from the state. Constant columns get scale 1 by sklearn's
 * preprocessing/_data.py: _is_constant_feature:
 * var <= n·eps·var + (n·mean·eps)², eps = float64 machine epsilon. */
static void finalize_column(sf_scaler *s, size_t j)
{
    double n = s->n[j];
    if (n <= 0) {
        s->mean[j] = s->var[j] = s->scale[j] = NAN;
        return;
    }
    double var = s->m2[j] / n;
    s->mean[j] = s->shift[j] + s->smean[j];
    s->var[j] = var;
    double bound = n * DBL_EPSILON * var + (n * s->mean[j] * DBL_EPSILON) * (n * s->mean[j] * DBL_EPSILON);
    s->scale[j] = var <= bound ? 1.0 : sqrt(var);
}

/* Chan et al.: fold (nb, mean mb of x - kb, M2b) into column j. */
static void combine(sf_scaler *s, size_t j, double nb, double kb, double mb, double m2b)
{
    if (!(nb > 0)) return;
    double na = s->n[j];
    if (na <= 0) {
        s->n[j] = nb;
        s->shift[j] = kb;
        s->smean[j] = mb;
        s->m2[j] = m2b;
        return;
    }
    mb += kb - s->shift[j]; /* to our shift; exact when the shifts are close */
    double n = na + nb, d = mb - s->smean[j];
    s->smean[j] += d * (nb / n);
    s->m2[j] += m2b + d * d * (na * (nb / n));
    s->n[j] = n;
}

/* The common chunk, every value finite and every weight finite and >= 0: the
 * sums of sf_scaler_partial_fit's general loops, the same operations in the same
 * order per column (so the same bits), without their per-value branches, so the
 * compiler vectorises across columns. A shift still unset (NaN) becomes row 0's
 * value, the first non-missing one. Returns false, with cn, sum and k to be reset
 * by the caller, when a value or weight is not so. */
static bool sum_finite(const double *x, size_t n, size_t p, size_t ld, const double *w,
                       double *restrict cn, double *restrict sum, double *restrict k)
{
    for (size_t i = 0; w && i < n; i++)
        if (!(w[i] >= 0) || isinf(w[i])) return false;
    double *chk = cn; /* cn is n or Σw: set at the end; meanwhile Σ v·0 (NaN when v is not finite) */
    for (size_t j = 0; j < p; j++)
        if (isnan(k[j])) k[j] = x[j];
    for (size_t i = 0; i < n; i++) {
        const double *restrict row = x + i * ld;
        double wi = w ? w[i] : 1.0;
        for (size_t j = 0; j < p; j++) {
            chk[j] += row[j] * 0.0;
            sum[j] += wi * (row[j] - k[j]);
        }
    }
    bool ok = true;
    for (size_t j = 0; j < p; j++) ok = ok && chk[j] == 0.0;
    if (!ok) return false;
    double wsum = 0; /* the general loop adds wi to cn[j] row by row: the same sum */
    for (size_t i = 0; i < n; i++) wsum += w ? w[i] : 1.0;
    for (size_t j = 0; j < p; j++) cn[j] = wsum;
    return true;
}

/* The second pass of sf_scaler_partial_fit on a chunk sum_finite accepted. */
static void deviations_finite(const double *x, size_t n, size_t p, size_t ld, const double *w,
                              const double *restrict k, const double *restrict mean,
                              double *restrict corr, double *restrict sq)
{
    for (size_t i = 0; i < n; i++) {
        const double *restrict row = x + i * ld;
        double wi = w ? w[i] : 1.0;
        for (size_t j = 0; j < p; j++) {
            double t = (row[j] - k[j]) - mean[j];
            corr[j] += wi * t;
            sq[j] += wi * t * t;
        }
    }
}

static sf_status check_shape(const sf_scaler *s, const double *x, size_t n, size_t p, size_t ld,
                             sf_error *err)
{
    if (n > 0 && !x) return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL data");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: no features");
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: row stride %zu < %zu features", ld, p);
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: fitted on %zu features, got %zu", s->p, p);
    return SF_OK;
}

sf_status sf_scaler_partial_fit(sf_scaler *s, const double *x, size_t n, size_t p, size_t ld,
                                const double *w, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_partial_fit: NULL scaler");
    SF_TRY(check_shape(s, x, n, p, ld, err));
    if (n == 0) return SF_OK;
    /* Validate and sum in one read of the chunk; nothing is changed until it passes. */
    double *scratch = s->p ? s->scratch : calloc(5 * p, sizeof *scratch);
    if (!scratch) return sfi_nomem(err);
    double *cn = scratch, *sum = scratch + p, *corr = scratch + 2 * p, *sq = scratch + 3 * p;
    double *k = scratch + 4 * p;
    memset(scratch, 0, 4 * p * sizeof *scratch);
    for (size_t j = 0; j < p; j++) k[j] = s->p && s->n[j] > 0 ? s->shift[j] : NAN;
    sf_status st = SF_OK;
    bool finite = sum_finite(x, n, p, ld, w, cn, sum, k);
    if (!finite) {
        memset(scratch, 0, 2 * p * sizeof *scratch);
        for (size_t j = 0; j < p; j++) k[j] = s->p && s->n[j] > 0 ? s->shift[j] : NAN;
    }
    for (size_t i = 0; i < n && st == SF_OK && !finite; i++) {
        double wi = w ? w[i] : 1.0;
        if (!(wi >= 0) || isinf(wi)) {
            sf_where where = {.row = i + 1};
            st = sfi_fail(err, SF_ERR_ARG, &where, "sample weight must be finite and >= 0, got %g", wi);
            break;
        }
        const double *row = x + i * ld;
        for (size_t j = 0; j < p; j++) {
            double v = row[j];
            if (isnan(v)) continue;
            if (isinf(v)) {
                sf_where where = {.row = i + 1, .field = j + 1};
                st = sfi_fail(err, SF_ERR_ARG, &where, "input contains infinity");
                break;
            }
            if (isnan(k[j])) k[j] = v;
            cn[j] += wi;
            sum[j] += wi * (v - k[j]);
        }
    }
    if (st == SF_OK && !s->p) st = alloc_arrays(s, p, err);
    if (st != SF_OK) {
        if (scratch != s->scratch) free(scratch);
        return st;
    }
    if (scratch != s->scratch) { /* first call: keep using the state's own scratch */
        memcpy(s->scratch, scratch, 5 * p * sizeof *scratch);
        free(scratch);
        scratch = s->scratch;
        cn = scratch, sum = scratch + p, corr = scratch + 2 * p, sq = scratch + 3 * p, k = scratch + 4 * p;
    }
    for (size_t j = 0; j < p; j++) sum[j] = cn[j] > 0 ? sum[j] / cn[j] : 0; /* T */
    if (finite) deviations_finite(x, n, p, ld, w, k, sum, corr, sq);
    for (size_t i = 0; i < n && !finite; i++) {
        double wi = w ? w[i] : 1.0;
        const double *row = x + i * ld;
        for (size_t j = 0; j < p; j++) {
            double v = row[j];
            if (isnan(v)) continue;
            double t = (v - k[j]) - sum[j];
            corr[j] += wi * t;
            sq[j] += wi * t * t;
        }
    }
    for (size_t j = 0; j < p; j++) {
        if (!(cn[j] > 0)) continue;
        combine(s, j, cn[j], k[j], sum[j] + corr[j] / cn[j], sq[j] - corr[j] * corr[j] / cn[j]);
        finalize_column(s, j);
    }
    return SF_OK;
}

/* ---- CSR rows (StandardScaler on a scipy.sparse CSR matrix, with_mean=False) ----
 *
 * A chunk's column j holds its stored entries and implicit zeros. Its summary is
 * the same corrected two-pass as above with shift 0 (sparse data are centred near
 * 0, and sklearn's sparse path, sparsefuncs_fast.pyx: _csr_mean_variance_axis0,
 * uses none): T = Σw·x / n_j, c = Σw·(x-T) - Wz·T, M2 = Σw·(x-T)² + Wz·T² - c²/n_j
 * over the stored non-NaN entries, with Wz the weight of the implicit zeros
 * (n_j = the chunk's weight minus that of its NaN entries, sklearn's
 * n_samples_seen_ per feature). The scratch's shift row holds Σw of the entries. */

static sf_status check_csr_args(const sf_scaler *s, const double *data, const uint32_t *indices,
                                const size_t *indptr, size_t n, size_t p, sf_error *err)
{
    if (s->params.with_mean)
        return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: cannot center sparse data: pass with_mean=false "
                                               "(as sklearn's StandardScaler)");
    if (!indptr || (n > 0 && indptr[n] > indptr[0] && (!data || !indices)))
        return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL CSR array");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: no features");
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: fitted on %zu features, got %zu", s->p, p);
    for (size_t i = 0; i < n; i++) {
        if (indptr[i + 1] < indptr[i])
            return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: CSR row pointers decrease at row %zu", i + 1);
        for (size_t e = indptr[i]; e < indptr[i + 1]; e++) {
            sf_where where = {.row = i + 1, .field = (uint64_t)indices[e] + 1};
            if (indices[e] >= p)
                return sfi_fail(err, SF_ERR_SHAPE, &where, "scaler: CSR column %u is not below %zu features",
                                indices[e], p);
            if (isinf(data[e])) return sfi_fail(err, SF_ERR_ARG, &where, "input contains infinity");
        }
    }
    return SF_OK;
}

sf_status sf_scaler_partial_fit_csr(sf_scaler *s, const double *data, const uint32_t *indices,
                                    const size_t *indptr, size_t n, size_t p, const double *w, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_partial_fit_csr: NULL scaler");
    SF_TRY(check_csr_args(s, data, indices, indptr, n, p, err));
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (!(wi >= 0) || isinf(wi)) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "sample weight must be finite and >= 0, got %g", wi);
        }
        wsum += wi;
    }
    if (n == 0) return SF_OK;
    if (!s->p) SF_TRY(alloc_arrays(s, p, err));
    double *cn = s->scratch, *sum = cn + p, *corr = cn + 2 * p, *sq = cn + 3 * p, *we = cn + 4 * p;
    memset(s->scratch, 0, 5 * p * sizeof *s->scratch);
    for (size_t j = 0; j < p; j++) cn[j] = wsum;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        for (size_t e = indptr[i]; e < indptr[i + 1]; e++) {
            uint32_t j = indices[e];
            if (isnan(data[e])) cn[j] -= wi;
            else {
                sum[j] += wi * data[e];
                we[j] += wi;
            }
        }
    }
    for (size_t j = 0; j < p; j++) sum[j] = cn[j] > 0 ? sum[j] / cn[j] : 0; /* T */
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        for (size_t e = indptr[i]; e < indptr[i + 1]; e++) {
            uint32_t j = indices[e];
            if (isnan(data[e])) continue;
            double t = data[e] - sum[j];
            corr[j] += wi * t;
            sq[j] += wi * t * t;
        }
    }
    for (size_t j = 0; j < p; j++) {
        if (!(cn[j] > 0)) continue;
        double wz = cn[j] - we[j], t = sum[j];
        double c = corr[j] - wz * t;
        combine(s, j, cn[j], 0.0, t + c / cn[j], sq[j] + wz * t * t - c * c / cn[j]);
        finalize_column(s, j);
    }
    return SF_OK;
}

sf_status sf_scaler_transform_csr(const sf_scaler *s, const double *data, const uint32_t *indices,
                                  const size_t *indptr, size_t n, size_t p, double *out, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL scaler");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "scaler: not fitted");
    SF_TRY(check_csr_args(s, data, indices, indptr, n, p, err));
    if (n == 0) return SF_OK;
    if (!out && indptr[n] > indptr[0]) return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL output");
    size_t base = indptr[0];
    /* preprocessing/_data.py: transform's inplace_column_scale(X, 1 / scale_): a
     * multiplication by the reciprocal, not the dense path's division */
    for (size_t e = base; e < indptr[n]; e++)
        out[e - base] = s->params.with_std ? data[e] * (1.0 / s->scale[indices[e]]) : data[e];
    return SF_OK;
}

sf_status sf_scaler_merge(sf_scaler *dst, const sf_scaler *src, sf_error *err)
{
    if (!dst || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_merge: NULL argument");
    if (dst->params.with_mean != src->params.with_mean || dst->params.with_std != src->params.with_std)
        return sfi_fail(err, SF_ERR_STATE, NULL, "scaler merge: different parameters");
    if (!src->p) return SF_OK;
    if (dst->p && dst->p != src->p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "scaler merge: %zu features vs %zu", dst->p, src->p);
    if (!dst->p) SF_TRY(alloc_arrays(dst, src->p, err));
    for (size_t j = 0; j < src->p; j++) {
        if (!(src->n[j] > 0)) continue;
        combine(dst, j, src->n[j], src->shift[j], src->smean[j], src->m2[j]);
        finalize_column(dst, j);
    }
    return SF_OK;
}

static sf_status check_fitted(const sf_scaler *s, const double *x, size_t n, size_t p, size_t ld,
                              const double *out, size_t out_ld, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL scaler");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "scaler: not fitted");
    SF_TRY(check_shape(s, x, n, p, ld, err));
    if (n > 0 && !out) return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: NULL output");
    if (out_ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "scaler: output stride %zu < %zu", out_ld, p);
    if (out == x && out_ld != ld)
        return sfi_fail(err, SF_ERR_ARG, NULL, "scaler: in-place transform needs out_ld == ld");
    return SF_OK;
}

sf_status sf_scaler_transform(const sf_scaler *s, const double *x, size_t n, size_t p, size_t ld,
                              double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_fitted(s, x, n, p, ld, out, out_ld, err));
    /* one loop per case, with the parameters in restrict pointers (the output may be
     * the input, never the state), so the compiler vectorises each */
    const double *restrict mean = s->mean, *restrict scale = s->scale;
    bool wm = s->params.with_mean, ws = s->params.with_std;
    for (size_t i = 0; i < n; i++) {
        const double *row = x + i * ld;
        double *o = out + i * out_ld;
        if (wm && ws) /* a true division, as sklearn's dense transform */
            for (size_t j = 0; j < p; j++) o[j] = (row[j] - mean[j]) / scale[j];
        else if (wm)
            for (size_t j = 0; j < p; j++) o[j] = row[j] - mean[j];
        else if (ws)
            for (size_t j = 0; j < p; j++) o[j] = row[j] / scale[j];
        else if (o != row)
            memmove(o, row, p * sizeof *o);
    }
    return SF_OK;
}

sf_status sf_scaler_inverse_transform(const sf_scaler *s, const double *x, size_t n, size_t p,
                                      size_t ld, double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_fitted(s, x, n, p, ld, out, out_ld, err));
    bool wm = s->params.with_mean, ws = s->params.with_std;
    for (size_t i = 0; i < n; i++) {
        const double *row = x + i * ld;
        double *o = out + i * out_ld;
        for (size_t j = 0; j < p; j++) {
            double v = row[j];
            if (ws) v *= s->scale[j];
            if (wm) v += s->mean[j];
            o[j] = v;
        }
    }
    return SF_OK;
}

size_t sf_scaler_n_features(const sf_scaler *s) { return s ? s->p : 0; }
const double *sf_scaler_mean(const sf_scaler *s) { return s && s->p ? s->mean : NULL; }
const double *sf_scaler_var(const sf_scaler *s) { return s && s->p ? s->var : NULL; }
const double *sf_scaler_scale(const sf_scaler *s) { return s && s->p ? s->scale : NULL; }
const double *sf_scaler_n_samples_seen(const sf_scaler *s) { return s && s->p ? s->n : NULL; }

sf_scaler_params sf_scaler_get_params(const sf_scaler *s)
{
    sf_scaler_params p;
    if (s) return s->params;
    sf_scaler_params_default(&p);
    return p;
}

sf_status sf_scaler_get_state(const sf_scaler *s, double *n_seen, double *shift, double *smean,
                              double *m2, sf_error *err)
{
    if (!s || !n_seen || !shift || !smean || !m2)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_get_state: NULL argument");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "scaler: not fitted");
    size_t bytes = s->p * sizeof(double);
    memcpy(n_seen, s->n, bytes);
    memcpy(shift, s->shift, bytes);
    memcpy(smean, s->smean, bytes);
    memcpy(m2, s->m2, bytes);
    return SF_OK;
}

sf_status sf_scaler_set_state(sf_scaler *s, size_t p, const double *n_seen, const double *shift,
                              const double *smean, const double *m2, sf_error *err)
{
    if (!s || !n_seen || !shift || !smean || !m2 || p == 0)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_scaler_set_state: bad argument");
    for (size_t j = 0; j < p; j++)
        if (!(n_seen[j] >= 0) || isinf(n_seen[j]) || (n_seen[j] > 0 && !(m2[j] >= 0)))
            return sfi_fail(err, SF_ERR_ARG, NULL, "scaler state: column %zu has n=%g M2=%g", j + 1,
                            n_seen[j], m2[j]);
    sf_scaler tmp = {.params = s->params};
    SF_TRY(alloc_arrays(&tmp, p, err));
    for (size_t j = 0; j < p; j++) {
        tmp.n[j] = n_seen[j];
        tmp.shift[j] = shift[j];
        tmp.smean[j] = smean[j];
        tmp.m2[j] = m2[j];
        finalize_column(&tmp, j);
    }
    free_arrays(s);
    *s = tmp;
    return SF_OK;
}
