/* linreg.c — least squares by QR updating: folding rows, merging states, the
 * resumable state.
 *
 * Rows of [1 | x | y], each scaled by sqrt(w), are buffered `block` at a time and
 * folded into the upper triangle R of [R; rows] by GSL's recursive Householder
 * QR for a triangle on top of a rectangle (gsl_linalg_QR_UR_decomp, BLAS-3).
 * Buffering makes the state independent of how the caller cuts its rows into
 * calls: rows are always folded in the same groups. Two states merge as a
 * triangle on top of a triangle (gsl_linalg_QR_UU_decomp), which is TSQR.
 * The weighted mean and centred sum of squares of y are kept apart with Chan's
 * update (Decision 9: TSS never from raw Σy²).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "estimators/linreg_impl.h"

void sf_linreg_params_default(sf_linreg_params *p)
{
    memset(p, 0, sizeof *p);
    p->fit_intercept = true;
    p->alpha = 0.0;
    p->cov_type = SF_LINREG_NONROBUST;
    p->tol = 1e-7;
    p->diagnostics = false;
}

static sf_status bad_param(sf_error *err, const char *field, const char *fmt, double v)
{
    sf_status st = sfi_fail(err, SF_ERR_ARG, NULL, fmt, v);
    sfi_error_field(err, field);
    return st;
}

sf_status sf_linreg_params_check(const sf_linreg_params *p, sf_error *err)
{
    if (!p) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_params_check: NULL params");
    if (!(p->alpha >= 0) || isinf(p->alpha))
        return bad_param(err, "alpha", "alpha must be finite and >= 0, got %g", p->alpha);
    if (!(p->tol >= 0 && p->tol < 1))
        return bad_param(err, "tol", "tol must be in [0, 1), got %g", p->tol);
    if ((int)p->cov_type < SF_LINREG_NONROBUST || (int)p->cov_type > SF_LINREG_HC3)
        return bad_param(err, "cov_type", "unknown cov_type %g", (double)p->cov_type);
    return SF_OK;
}

sf_status sf_linreg_new(sf_linreg **out, const sf_linreg_params *p, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_new: NULL out");
    *out = NULL;
    sf_linreg_params def;
    if (!p) {
        sf_linreg_params_default(&def);
        p = &def;
    }
    SF_TRY(sf_linreg_params_check(p, err));
    sf_library_init();
    sf_linreg *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->params = *p;
    *out = s;
    return SF_OK;
}

static void free_state(sf_linreg *s)
{
    free(s->r);
    free(s->buf);
    free(s->t);
    s->r = s->buf = s->t = NULL;
    s->p = s->nc = s->block = s->n_pending = 0;
}

void sf_linreg_free(sf_linreg *s)
{
    if (!s) return;
    sfi_lr_free_results(s);
    free_state(s);
    free(s);
}

/* Rows per fold: enough for BLAS-3 speed, a buffer of at most ~512 KiB. */
static size_t block_rows(size_t nc)
{
    size_t b = (size_t)65536 / nc;
    if (b > 4096) b = 4096;
    if (b < 64) b = 64;
    return b;
}

static sf_status alloc_state(sf_linreg *s, size_t p, sf_error *err)
{
    size_t nc = p + 2, block = block_rows(nc);
    double *r = calloc(nc * nc, sizeof *r);
    double *buf = malloc(block * nc * sizeof *buf);
    double *t = malloc(nc * nc * sizeof *t);
    if (!r || !buf || !t) {
        free(r);
        free(buf);
        free(t);
        return sfi_nomem(err);
    }
    s->r = r;
    s->buf = buf;
    s->t = t;
    s->p = p;
    s->nc = nc;
    s->block = block;
    s->n_pending = 0;
    return SF_OK;
}

static bool same_params(const sf_linreg_params *a, const sf_linreg_params *b)
{
    return a->fit_intercept == b->fit_intercept && a->alpha == b->alpha && a->cov_type == b->cov_type &&
           a->tol == b->tol && a->diagnostics == b->diagnostics;
}

sf_status sf_linreg_clone_empty(const sf_linreg *s, sf_linreg **out, sf_error *err)
{
    if (!s || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_clone_empty: NULL argument");
    SF_TRY(sf_linreg_new(out, &s->params, err));
    sf_linreg *c = *out;
    sf_status st = SF_OK;
    if (s->p) st = alloc_state(c, s->p, err);
    if (st == SF_OK && s->phase == SFI_LR_RESID) {
        /* a worker of the residual pass: the fit, and empty residual sums */
        sf_linreg_state ss;
        st = sf_linreg_get_state(s, &ss, err);
        if (st == SF_OK) st = sf_linreg_set_state(c, &ss, err);
        if (st == SF_OK) st = sf_linreg_finalize(c, err);
        if (st == SF_OK) st = sf_linreg_begin_residual_pass(c, err);
    }
    if (st != SF_OK) {
        sf_linreg_free(c);
        *out = NULL;
    }
    return st;
}

sf_status sfi_lr_check_rows(const sf_linreg *s, const double *x, size_t n, size_t p, size_t ld,
                            const double *y, const double *w, sf_error *err)
{
    if (n > 0 && (!x || !y)) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression: NULL data or target");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: no features");
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: row stride %zu < %zu features", ld, p);
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: fitted on %zu features, got %zu", s->p, p);
    for (size_t i = 0; i < n; i++) {
        sf_where where = {.row = i + 1};
        if (w && (!(w[i] >= 0) || isinf(w[i])))
            return sfi_fail(err, SF_ERR_ARG, &where, "sample weight must be finite and >= 0, got %g", w[i]);
        if (!isfinite(y[i])) return sfi_fail(err, SF_ERR_ARG, &where, "target is %g", y[i]);
        const double *row = x + i * ld;
        for (size_t j = 0; j < p; j++)
            if (!isfinite(row[j])) {
                where.field = j + 1;
                return sfi_fail(err, SF_ERR_ARG, &where, "input contains %s", isnan(row[j]) ? "NaN" : "infinity");
            }
    }
    return SF_OK;
}

/* Folds the buffered rows into R. Shapes are ours, so a GSL failure is a bug. */
static sf_status fold_pending(sf_linreg *s, sf_error *err)
{
    if (!s->n_pending) return SF_OK;
    gsl_matrix_view r = gsl_matrix_view_array(s->r, s->nc, s->nc);
    gsl_matrix_view a = gsl_matrix_view_array(s->buf, s->n_pending, s->nc);
    gsl_matrix_view t = gsl_matrix_view_array(s->t, s->nc, s->nc);
    int gst = gsl_linalg_QR_UR_decomp(&r.matrix, &a.matrix, &t.matrix);
    s->n_pending = 0;
    if (gst) return sfi_fail(err, SF_ERR_INTERNAL, NULL, "QR update failed: %s", gsl_strerror(gst));
    return SF_OK;
}

/* Appends one weighted row [1 | x | y]·sqrt(w) (already scaled when scaled). */
static sf_status push_row(sf_linreg *s, const double *row, sf_error *err)
{
    memcpy(s->buf + s->n_pending * s->nc, row, s->nc * sizeof *row);
    if (++s->n_pending == s->block) return fold_pending(s, err);
    return SF_OK;
}

/* Chan, Golub & LeVeque: fold (nb, mb, m2b) into the weighted moments of y. */
static void combine_y(sf_linreg *s, double nb, double mb, double m2b)
{
    if (!(nb > 0)) return;
    double na = s->sum_w, n = na + nb, d = mb - s->mean_y;
    s->mean_y += d * (nb / n);
    s->m2_y += m2b + d * d * (na * (nb / n));
    s->sum_w = n;
}

sf_status sf_linreg_partial_fit(sf_linreg *s, const double *x, size_t n, size_t p, size_t ld,
                                const double *y, const double *w, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_partial_fit: NULL model");
    if (s->phase == SFI_LR_RESID)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: partial_fit during the residual pass");
    SF_TRY(sfi_lr_check_rows(s, x, n, p, ld, y, w, err));
    if (n == 0) return SF_OK;
    if (!s->p) SF_TRY(alloc_state(s, p, err));
    sfi_lr_free_results(s);
    /* the chunk's weighted mean and centred squares of y, two-pass */
    double cw = 0, cs = 0, slw = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        cw += wi;
        cs += wi * y[i];
        if (w) slw += log(wi);
    }
    double cm = cw > 0 ? cs / cw : 0, cc = 0, c2 = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, d = y[i] - cm;
        cc += wi * d;
        c2 += wi * d * d;
    }
    if (cw > 0) combine_y(s, cw, cm + cc / cw, c2 - cc * cc / cw);
    s->nobs += (double)n;
    s->sum_log_w += slw;
    sf_status st = SF_OK;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        double sw = w ? sqrt(w[i]) : 1.0;
        double *dst = s->buf + s->n_pending * s->nc;
        const double *row = x + i * ld;
        dst[0] = sw;
        for (size_t j = 0; j < p; j++) dst[j + 1] = sw * row[j];
        dst[p + 1] = sw * y[i];
        if (++s->n_pending == s->block) st = fold_pending(s, err);
    }
    return st;
}

sf_status sf_linreg_merge(sf_linreg *dst, const sf_linreg *src, sf_error *err)
{
    if (!dst || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_merge: NULL argument");
    if (!same_params(&dst->params, &src->params))
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression merge: different parameters");
    if (dst->phase == SFI_LR_RESID || src->phase == SFI_LR_RESID) return sfi_lr_merge_residuals(dst, src, err);
    if (!src->p) return SF_OK;
    if (dst->p && dst->p != src->p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression merge: %zu features vs %zu", dst->p, src->p);
    double *s2 = malloc(src->nc * src->nc * sizeof *s2);
    if (!s2) return sfi_nomem(err);
    if (!dst->p) {
        sf_status st = alloc_state(dst, src->p, err);
        if (st != SF_OK) {
            free(s2);
            return st;
        }
    }
    sfi_lr_free_results(dst);
    sf_status st = SF_OK;
    for (size_t i = 0; i < src->n_pending && st == SF_OK; i++) st = push_row(dst, src->buf + i * src->nc, err);
    if (st == SF_OK) {
        memcpy(s2, src->r, src->nc * src->nc * sizeof *s2);
        gsl_matrix_view u = gsl_matrix_view_array(dst->r, dst->nc, dst->nc);
        gsl_matrix_view v = gsl_matrix_view_array(s2, dst->nc, dst->nc);
        gsl_matrix_view t = gsl_matrix_view_array(dst->t, dst->nc, dst->nc);
        int gst = gsl_linalg_QR_UU_decomp(&u.matrix, &v.matrix, &t.matrix);
        if (gst) st = sfi_fail(err, SF_ERR_INTERNAL, NULL, "QR merge failed: %s", gsl_strerror(gst));
    }
    free(s2);
    if (st != SF_OK) return st;
    combine_y(dst, src->sum_w, src->mean_y, src->m2_y);
    dst->nobs += src->nobs;
    dst->sum_log_w += src->sum_log_w;
    return SF_OK;
}

size_t sf_linreg_n_features(const sf_linreg *s) { return s ? s->p : 0; }

sf_linreg_params sf_linreg_get_params(const sf_linreg *s)
{
    sf_linreg_params p;
    if (s) return s->params;
    sf_linreg_params_default(&p);
    return p;
}

sf_status sf_linreg_get_state(const sf_linreg *s, sf_linreg_state *st, sf_error *err)
{
    if (!s || !st) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_get_state: NULL argument");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "linear_regression: not fitted");
    st->n_features = s->p;
    st->r = s->r;
    st->n_pending = s->n_pending;
    st->pending = s->buf;
    st->nobs = s->nobs;
    st->sum_w = s->sum_w;
    st->mean_y = s->mean_y;
    st->m2_y = s->m2_y;
    st->sum_log_w = s->sum_log_w;
    return SF_OK;
}

static sf_status check_state(const sf_linreg_state *st, size_t block, sf_error *err)
{
    size_t nc = st->n_features + 2;
    if (!st->r || (st->n_pending && !st->pending))
        return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: missing arrays");
    if (st->n_pending >= block)
        return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: %zu pending rows, block is %zu",
                        st->n_pending, block);
    if (!(st->nobs >= 0) || !(st->sum_w >= 0) || !(st->m2_y >= 0) || !isfinite(st->nobs) ||
        !isfinite(st->sum_w) || !isfinite(st->mean_y) || !isfinite(st->m2_y) || isnan(st->sum_log_w) ||
        st->sum_log_w == INFINITY || st->nobs != floor(st->nobs))
        return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: bad counts or moments");
    for (size_t i = 0; i < nc; i++)
        for (size_t j = 0; j < nc; j++) {
            double v = st->r[i * nc + j];
            if (!isfinite(v) || (j < i && v != 0))
                return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: R[%zu][%zu] = %g", i, j, v);
        }
    for (size_t i = 0; i < st->n_pending * nc; i++)
        if (!isfinite(st->pending[i]))
            return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: a pending row is not finite");
    return SF_OK;
}

sf_status sf_linreg_set_state(sf_linreg *s, const sf_linreg_state *st, sf_error *err)
{
    if (!s || !st || st->n_features == 0 || st->n_features > ((size_t)1 << 20))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_linreg_set_state: bad argument");
    size_t nc = st->n_features + 2;
    SF_TRY(check_state(st, block_rows(nc), err));
    sf_linreg tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.params = s->params;
    SF_TRY(alloc_state(&tmp, st->n_features, err));
    memcpy(tmp.r, st->r, nc * nc * sizeof *tmp.r);
    if (st->n_pending) memcpy(tmp.buf, st->pending, st->n_pending * nc * sizeof *tmp.buf);
    tmp.n_pending = st->n_pending;
    tmp.nobs = st->nobs;
    tmp.sum_w = st->sum_w;
    tmp.mean_y = st->mean_y;
    tmp.m2_y = st->m2_y;
    tmp.sum_log_w = st->sum_log_w;
    sfi_lr_free_results(s);
    free_state(s);
    *s = tmp;
    return SF_OK;
}
