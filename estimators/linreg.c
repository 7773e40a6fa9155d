/* linreg.c — least squares by QR updating: folding rows, merging states, the
 * resumable state.
 *
 * Rows of [1 | x | y], each scaled by sqrt(w), are buffered `block` at a time and
 * folded into the upper triangle R of [R; rows] by GSL's recursive Householder
 * QR for a triangle on top of a rectangle (gsl_linalg_QR_UR_decomp, BLAS-3).
 * Buffering makes the state independent of how the caller cuts its rows into
 * calls, bitwise: rows are always folded in the same groups, and the moments of y
 * are added per folded block too. Two states merge as a
 * triangle on top of a triangle (gsl_linalg_QR_UU_decomp), which is TSQR.
 * The weighted mean and centred sum of squares of y are kept apart with Chan's
 * update (Decision 9: TSS never from raw Σy²).
 */
#include <float.h>
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
    free(s->yw);
    free(s->t);
    s->r = s->buf = s->yw = s->t = NULL;
    s->p = s->nc = s->block = s->n_pending = 0;
}

void sf_linreg_free(sf_linreg *s)
{
    if (!s) return;
    sfi_lr_free_results(s);
    free_state(s);
    free(s);
}

/* Rows per fold: enough for BLAS-3 speed (a buffer of ~512 KiB), and at least
 * twice the columns so the block reflector's O(nc³) work stays small next to the
 * O(rows·nc²) of the fold. A function of nc only: the grouping of rows into
 * folds, and so the state, never depends on how calls cut the rows. */
static size_t block_rows(size_t nc)
{
    size_t b = (size_t)65536 / nc;
    if (b > 4096) b = 4096;
    if (b < 2 * nc) b = 2 * nc;
    return b;
}

static sf_status alloc_state(sf_linreg *s, size_t p, sf_error *err)
{
    size_t nc = p + 2, block = block_rows(nc);
    double *r = calloc(nc * nc, sizeof *r);
    double *buf = malloc(block * nc * sizeof *buf);
    double *yw = malloc(2 * block * sizeof *yw);
    double *t = malloc(nc * nc * sizeof *t);
    if (!r || !buf || !yw || !t) {
        free(r);
        free(buf);
        free(yw);
        free(t);
        return sfi_nomem(err);
    }
    s->r = r;
    s->buf = buf;
    s->yw = yw;
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
        st = sfi_lr_copy_results(c, s, err);
        if (st == SF_OK) st = sf_linreg_begin_residual_pass(c, err);
    }
    if (st != SF_OK) {
        sf_linreg_free(c);
        *out = NULL;
    }
    return st;
}

/* Locates the first bad value for the error message (the slow path). */
static sf_status bad_row(const double *x, size_t n, size_t p, size_t ld, const double *y, const double *w,
                         sf_error *err)
{
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
    return sfi_fail(err, SF_ERR_INTERNAL, NULL, "linear_regression: bad value not found");
}

sf_status sfi_lr_check_rows(const sf_linreg *s, const double *x, size_t n, size_t p, size_t ld,
                            const double *y, const double *w, sf_error *err)
{
    if (n > 0 && (!x || !y)) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression: NULL data or target");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: no features");
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: row stride %zu < %zu features", ld, p);
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "linear_regression: fitted on %zu features, got %zu", s->p, p);
    /* branch-free scan (fabs(v) <= DBL_MAX is false for NaN and ±inf): this check
     * runs over every value, so it must cost little next to the QR */
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const double *row = x + i * ld;
        ok &= fabs(y[i]) <= DBL_MAX;
        for (size_t j = 0; j < p; j++) ok &= fabs(row[j]) <= DBL_MAX;
        if (w) ok &= w[i] >= 0 && w[i] <= DBL_MAX;
    }
    return ok ? SF_OK : bad_row(x, n, p, ld, y, w, err);
}

/* Chan, Golub & LeVeque: fold (nb, mb, m2b) into m's weighted moments of y. */
static void combine_y(sfi_lr_moments *m, double nb, double mb, double m2b)
{
    if (!(nb > 0)) return;
    double na = m->sum_w, n = na + nb, d = mb - m->mean_y;
    m->mean_y += d * (nb / n);
    m->m2_y += m2b + d * d * (na * (nb / n));
    m->sum_w = n;
}

void sfi_lr_add_moments(sfi_lr_moments *m, const double *y, const double *w, size_t n)
{
    double cw = 0, cs = 0, slw = 0;
    for (size_t i = 0; i < n; i++) {
        cw += w[i];
        cs += w[i] * y[i];
        if (w[i] != 1.0) slw += log(w[i]); /* log 1 = +0 adds nothing: skip it */
    }
    double cm = cw > 0 ? cs / cw : 0, cc = 0, c2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = y[i] - cm;
        cc += w[i] * d;
        c2 += w[i] * d * d;
    }
    if (cw > 0) combine_y(m, cw, cm + cc / cw, c2 - cc * cc / cw);
    m->nobs += (double)n;
    m->sum_log_w += slw;
}

/* Folds the buffered rows into R and their moments into mo. Shapes are ours,
 * so a GSL failure is a bug. */
static sf_status fold_pending(sf_linreg *s, sf_error *err)
{
    if (!s->n_pending) return SF_OK;
    sfi_lr_add_moments(&s->mo, s->yw, s->yw + s->block, s->n_pending);
    gsl_matrix_view r = gsl_matrix_view_array(s->r, s->nc, s->nc);
    gsl_matrix_view a = gsl_matrix_view_array(s->buf, s->n_pending, s->nc);
    gsl_matrix_view t = gsl_matrix_view_array(s->t, s->nc, s->nc);
    int gst = gsl_linalg_QR_UR_decomp(&r.matrix, &a.matrix, &t.matrix);
    s->n_pending = 0;
    if (gst) return sfi_fail(err, SF_ERR_INTERNAL, NULL, "QR update failed: %s", gsl_strerror(gst));
    return SF_OK;
}

/* Appends one row already scaled ([1 | x | y]·sqrt(w)) with its raw y and w. */
static sf_status push_row(sf_linreg *s, const double *row, double y, double w, sf_error *err)
{
    memcpy(s->buf + s->n_pending * s->nc, row, s->nc * sizeof *row);
    s->yw[s->n_pending] = y;
    s->yw[s->block + s->n_pending] = w;
    if (++s->n_pending == s->block) return fold_pending(s, err);
    return SF_OK;
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
    sf_status st = SF_OK;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        double wi = w ? w[i] : 1.0, sw = sqrt(wi);
        double *dst = s->buf + s->n_pending * s->nc;
        const double *row = x + i * ld;
        dst[0] = sw;
        for (size_t j = 0; j < p; j++) dst[j + 1] = sw * row[j];
        dst[p + 1] = sw * y[i];
        s->yw[s->n_pending] = y[i];
        s->yw[s->block + s->n_pending] = wi;
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
    for (size_t i = 0; i < src->n_pending && st == SF_OK; i++)
        st = push_row(dst, src->buf + i * src->nc, src->yw[i], src->yw[src->block + i], err);
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
    combine_y(&dst->mo, src->mo.sum_w, src->mo.mean_y, src->mo.m2_y);
    dst->mo.nobs += src->mo.nobs;
    dst->mo.sum_log_w += src->mo.sum_log_w;
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
    st->pending_y = s->yw;
    st->pending_w = s->yw + s->block;
    st->nobs = s->mo.nobs;
    st->sum_w = s->mo.sum_w;
    st->mean_y = s->mo.mean_y;
    st->m2_y = s->mo.m2_y;
    st->sum_log_w = s->mo.sum_log_w;
    return SF_OK;
}

static sf_status check_state(const sf_linreg_state *st, size_t block, sf_error *err)
{
    size_t nc = st->n_features + 2;
    if (!st->r || (st->n_pending && (!st->pending || !st->pending_y || !st->pending_w)))
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
    for (size_t i = 0; i < st->n_pending; i++)
        if (!isfinite(st->pending_y[i]) || !(st->pending_w[i] >= 0) || !isfinite(st->pending_w[i]))
            return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression state: a pending target or weight is bad");
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
    if (st->n_pending) {
        memcpy(tmp.buf, st->pending, st->n_pending * nc * sizeof *tmp.buf);
        memcpy(tmp.yw, st->pending_y, st->n_pending * sizeof *tmp.yw);
        memcpy(tmp.yw + tmp.block, st->pending_w, st->n_pending * sizeof *tmp.yw);
    }
    tmp.n_pending = st->n_pending;
    tmp.mo = (sfi_lr_moments){st->nobs, st->sum_w, st->mean_y, st->m2_y, st->sum_log_w};
    sfi_lr_free_results(s);
    free_state(s);
    *s = tmp;
    return SF_OK;
}
