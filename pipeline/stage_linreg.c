/* stage_linreg.c — least squares by QR updating as a pipeline stage (kind
 * "linear_regression"): an adapter from blocks and spec parameters to sf_linreg.
 *
 * Pass 0 folds rows into the factor (merged per segment); end_pass finalizes and
 * asks for pass 1 when cov_type is HC0..HC3 or diagnostics=true; pass 1 folds
 * residuals (merged in segment order, so Durbin–Watson sees the rows in order).
 * An update (a state that already holds rows when pass 0 begins) skips pass 1:
 * the robust sums of the old rows are gone, so the result is the nonrobust one
 * and says so (cov_type in the results). With a formula whose design holds an
 * "Intercept" column, that column is the constant and fit_intercept is ignored
 * (Decision 9).
 *
 * JSON export (to_json): "params" holds the spec's parameters; then sklearn's
 * coef_ / intercept_ / n_features_in_, and statsmodels' names over exog_names
 * ("const" first with fit_intercept): params_ (statsmodels' params), bse,
 * tvalues, pvalues, conf_int (95 %), cov_params, cov_type, nobs, df_model,
 * df_resid, k_constant, ssr, ess, centered_tss, uncentered_tss, rsquared,
 * rsquared_adj, fvalue, f_pvalue, scale, sigma, llf, aic, bic,
 * condition_number, singular_values, aliased (names) and rank; after a residual
 * pass durbin_watson, jarque_bera, jb_pvalue, skew, kurtosis, omnibus,
 * omnibus_pvalue; and the resumable "state" (Decision 16). NaN is null.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/stage.h"
#include "streamfit/sf_linreg.h"

typedef struct lr_stage {
    sf_linreg *m;
    unsigned pass;
    bool continuing;   /* pass 0 began on a state that had rows: an update */
    bool observation;  /* interval=prediction (else confidence) */
    double level;      /* interval level */
    char **names;      /* feature names from set_names, or NULL */
    size_t n_names;
} lr_stage;

static const char *const cov_names[] = {"nonrobust", "HC0", "HC1", "HC2", "HC3"};

static void free_names(lr_stage *s)
{
    for (size_t j = 0; s->names && j < s->n_names; j++) free(s->names[j]);
    free(s->names);
    s->names = NULL;
    s->n_names = 0;
}

static void lr_free(void *st)
{
    lr_stage *s = st;
    if (!s) return;
    sf_linreg_free(s->m);
    free_names(s);
    free(s);
}

static sf_status param_string(const sfi_param *prm, const char *const *choices, int n, int *out, sf_error *err)
{
    if (prm->value.type == SFI_V_STRING)
        for (int i = 0; i < n; i++)
            if (strcasecmp(prm->value.str, choices[i]) == 0) {
                *out = i;
                return SF_OK;
            }
    char list[128] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    return sfi_spec_fail(err, prm->value.column, "%s must be one of %s", prm->key, list);
}

static sf_status param_range(const sfi_param *prm, double lo, double hi, bool lo_open, double *out, sf_error *err)
{
    SF_TRY(sfi_param_number(prm, out, err));
    if (!(lo_open ? *out > lo : *out >= lo) || !(*out < hi))
        return sfi_spec_fail(err, prm->value.column, "%s must be in %s%g, %g), got %g", prm->key, lo_open ? "(" : "[",
                             lo, hi, *out);
    return SF_OK;
}

static sf_status lr_create(void **st, const sfi_spec_stage *spec, sf_error *err)
{
    sf_linreg_params p;
    sf_linreg_params_default(&p);
    lr_stage *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->level = 0.95;
    static const char *const intervals[] = {"confidence", "prediction"};
    sf_status r = SF_OK;
    for (size_t i = 0; i < spec->n_params && r == SF_OK; i++) {
        const sfi_param *prm = &spec->params[i];
        int choice = 0;
        if (strcmp(prm->key, "fit_intercept") == 0) r = sfi_param_bool(prm, &p.fit_intercept, err);
        else if (strcmp(prm->key, "alpha") == 0) r = param_range(prm, 0, INFINITY, false, &p.alpha, err);
        else if (strcmp(prm->key, "tol") == 0) r = param_range(prm, 0, 1, false, &p.tol, err);
        else if (strcmp(prm->key, "diagnostics") == 0) r = sfi_param_bool(prm, &p.diagnostics, err);
        else if (strcmp(prm->key, "level") == 0) r = param_range(prm, 0, 1, true, &s->level, err);
        else if (strcmp(prm->key, "cov_type") == 0) {
            r = param_string(prm, cov_names, 5, &choice, err);
            p.cov_type = (sf_linreg_cov_type)choice;
        } else if (strcmp(prm->key, "interval") == 0) {
            r = param_string(prm, intervals, 2, &choice, err);
            s->observation = choice == 1;
        } else {
            r = sfi_spec_fail(err, prm->column, "unknown parameter %s for %s (valid: %s)", prm->key, spec->kind,
                              sfi_linreg_stage.params_help);
        }
    }
    if (r == SF_OK) r = sf_linreg_new(&s->m, &p, err);
    if (r != SF_OK) {
        lr_free(s);
        return r;
    }
    *st = s;
    return SF_OK;
}

static sf_status lr_clone_empty(const void *st, void **out, sf_error *err)
{
    const lr_stage *s = st;
    lr_stage *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    *c = (lr_stage){.pass = s->pass, .continuing = s->continuing, .observation = s->observation, .level = s->level};
    sf_status r = sf_linreg_clone_empty(s->m, &c->m, err);
    if (r != SF_OK) {
        free(c);
        return r;
    }
    *out = c;
    return SF_OK;
}

static sf_status lr_partial_fit(void *st, const sf_block *b, sf_error *err)
{
    lr_stage *s = st;
    if (!b->y) return sfi_fail(err, SF_ERR_ARG, NULL, "linear_regression needs a target");
    if (s->pass == 0) return sf_linreg_partial_fit(s->m, b->x, b->n_rows, b->n_cols, b->ld, b->y, b->w, err);
    return sf_linreg_residual_fit(s->m, b->x, b->n_rows, b->n_cols, b->ld, b->y, b->w, err);
}

static sf_status lr_merge(void *dst, const void *src, sf_error *err)
{
    return sf_linreg_merge(((lr_stage *)dst)->m, ((const lr_stage *)src)->m, err);
}

static size_t lr_n_outputs(const void *st, size_t n_in)
{
    (void)st;
    (void)n_in;
    return 1;
}

static sf_status lr_transform(const void *st, const double *x, size_t n, size_t p, size_t ld, double *out,
                              size_t out_ld, sf_error *err)
{
    const lr_stage *s = st;
    if (out_ld == 1) return sf_linreg_predict(s->m, x, n, p, ld, out, err);
    for (size_t i = 0; i < n; i++) SF_TRY(sf_linreg_predict(s->m, x + i * ld, 1, p, ld, out + i * out_ld, err));
    return SF_OK;
}

static sf_status lr_set_names(void *st, const char *const *names, size_t n, sf_error *err)
{
    lr_stage *s = st;
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return sfi_nomem(err);
    bool has_intercept = false;
    for (size_t j = 0; j < n; j++) {
        v[j] = strdup(names[j]);
        if (!v[j]) {
            for (size_t i = 0; i < j; i++) free(v[i]);
            free(v);
            return sfi_nomem(err);
        }
        has_intercept = has_intercept || strcmp(names[j], "Intercept") == 0;
    }
    sf_linreg_params p = sf_linreg_get_params(s->m);
    if (has_intercept && p.fit_intercept && sf_linreg_n_features(s->m) == 0) {
        /* Decision 9: the formula's Intercept is the constant */
        sf_linreg *m;
        p.fit_intercept = false;
        sf_status r = sf_linreg_new(&m, &p, err);
        if (r != SF_OK) {
            for (size_t j = 0; j < n; j++) free(v[j]);
            free(v);
            return r;
        }
        sf_linreg_free(s->m);
        s->m = m;
    }
    free_names(s);
    s->names = v;
    s->n_names = n;
    return SF_OK;
}

static sf_status lr_begin_pass(void *st, unsigned pass, sf_error *err)
{
    lr_stage *s = st;
    s->pass = pass;
    if (pass == 0) {
        s->continuing = sf_linreg_n_features(s->m) > 0;
        return SF_OK;
    }
    return sf_linreg_begin_residual_pass(s->m, err);
}

static sf_status lr_end_pass(void *st, unsigned pass, bool *again, sf_error *err)
{
    lr_stage *s = st;
    *again = false;
    if (pass == 0) {
        SF_TRY(sf_linreg_finalize(s->m, err));
        *again = !s->continuing && sf_linreg_wants_residual_pass(s->m);
        return SF_OK;
    }
    return sf_linreg_end_residual_pass(s->m, err);
}

static bool lr_pass_mergeable(const void *st, unsigned pass)
{
    (void)st;
    (void)pass;
    return true;
}

static size_t lr_n_outputs_as(const void *st, sfi_output what, size_t n_in)
{
    (void)st;
    (void)n_in;
    return what == SFI_OUT_DEFAULT ? 1 : what == SFI_OUT_INTERVAL ? 4 : 0;
}

static sf_status lr_output_as(const void *st, sfi_output what, const double *x, size_t n, size_t p, size_t ld,
                              double *out, size_t out_ld, sf_error *err)
{
    const lr_stage *s = st;
    if (what == SFI_OUT_DEFAULT) return lr_transform(st, x, n, p, ld, out, out_ld, err);
    if (what != SFI_OUT_INTERVAL)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "linear_regression gives predictions and intervals only");
    return sf_linreg_predict_interval(s->m, x, n, p, ld, 1 - s->level, s->observation, out, out_ld, err);
}

/* ---- export ---- */

static void json_key_number(sfi_buf *b, const char *key, double v)
{
    sfi_buf_printf(b, ", \"%s\": ", key);
    sfi_buf_json_number(b, v);
}

/* The name of model column m: "const" (statsmodels' add_constant) or a feature. */
static void json_column_name(const lr_stage *s, sfi_buf *b, size_t m, bool intercept)
{
    if (intercept && m == 0) {
        sfi_buf_json_string(b, "const", 5);
        return;
    }
    size_t j = intercept ? m - 1 : m;
    if (s->names && j < s->n_names) {
        sfi_buf_json_string(b, s->names[j], strlen(s->names[j]));
        return;
    }
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "x%zu", j + 1);
    sfi_buf_json_string(b, tmp, (size_t)len);
}

static void json_results(const lr_stage *s, const sf_linreg_result *r, bool intercept, sfi_buf *b)
{
    size_t k = r->n_params, p = sf_linreg_n_features(s->m);
    sfi_buf_printf(b, ", \"coef_\": ");
    sfi_buf_json_array(b, r->params + (intercept ? 1 : 0), p);
    json_key_number(b, "intercept_", intercept ? r->params[0] : 0.0);
    sfi_buf_printf(b, ", \"n_features_in_\": %zu, \"exog_names\": [", p);
    for (size_t m = 0; m < k; m++) {
        if (m) sfi_buf_printf(b, ", ");
        json_column_name(s, b, m, intercept);
    }
    sfi_buf_printf(b, "], \"aliased\": [");
    for (size_t m = 0, first = 1; m < k; m++)
        if (r->aliased[m]) {
            if (!first) sfi_buf_printf(b, ", ");
            json_column_name(s, b, m, intercept);
            first = 0;
        }
    sfi_buf_printf(b, "], \"rank\": %zu", r->rank);
    /* statsmodels' params over exog_names ("params" itself holds the spec's parameters) */
    static const char *const arrays[] = {"params_", "bse", "tvalues", "pvalues"};
    const double *vals[] = {r->params, r->bse, r->tvalues, r->pvalues};
    for (int a = 0; a < 4; a++) {
        sfi_buf_printf(b, ", \"%s\": ", arrays[a]);
        sfi_buf_json_array(b, vals[a], k);
    }
    double *lo = malloc(2 * k * sizeof *lo);
    if (lo && sf_linreg_conf_int(s->m, 0.05, lo, lo + k, NULL) == SF_OK) {
        sfi_buf_printf(b, ", \"conf_int\": [");
        for (size_t m = 0; m < k; m++) {
            double pair[2] = {lo[m], lo[k + m]};
            if (m) sfi_buf_printf(b, ", ");
            sfi_buf_json_array(b, pair, 2);
        }
        sfi_buf_printf(b, "]");
    }
    free(lo);
    sfi_buf_printf(b, ", \"cov_params\": [");
    for (size_t m = 0; m < k; m++) {
        if (m) sfi_buf_printf(b, ", ");
        sfi_buf_json_array(b, r->cov_params + m * k, k);
    }
    sfi_buf_printf(b, "], \"cov_type\": \"%s\"", cov_names[r->cov_type]);
    const char *names[] = {"nobs", "df_model", "df_resid", "k_constant", "ssr", "ess", "centered_tss",
                           "uncentered_tss", "rsquared", "rsquared_adj", "fvalue", "f_pvalue", "scale", "sigma",
                           "llf", "aic", "bic", "condition_number"};
    double v[] = {r->nobs, r->df_model, r->df_resid, r->k_constant, r->ssr, r->ess, r->centered_tss,
                  r->uncentered_tss, r->rsquared, r->rsquared_adj, r->fvalue, r->f_pvalue, r->scale, r->sigma,
                  r->llf, r->aic, r->bic, r->condition_number};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) json_key_number(b, names[i], v[i]);
    sfi_buf_printf(b, ", \"singular_values\": ");
    sfi_buf_json_array(b, r->singular_values, k);
    if (r->has_diagnostics) {
        const char *dn[] = {"durbin_watson", "jarque_bera", "jb_pvalue", "skew", "kurtosis", "omnibus",
                            "omnibus_pvalue"};
        double dv[] = {r->durbin_watson, r->jarque_bera, r->jb_pvalue, r->skew, r->kurtosis, r->omnibus,
                       r->omnibus_pvalue};
        for (int i = 0; i < 7; i++) json_key_number(b, dn[i], dv[i]);
    }
}

static void json_state(const lr_stage *s, sfi_buf *b)
{
    sf_linreg_state ss;
    if (sf_linreg_get_state(s->m, &ss, NULL) != SF_OK) return;
    size_t nc = ss.n_features + 2;
    sfi_buf_printf(b, ", \"state\": {\"n_features\": %zu, \"r\": ", ss.n_features);
    sfi_buf_json_array(b, ss.r, nc * nc);
    sfi_buf_printf(b, ", \"pending\": ");
    sfi_buf_json_array(b, ss.pending, ss.n_pending * nc);
    sfi_buf_printf(b, ", \"pending_y\": ");
    sfi_buf_json_array(b, ss.pending_y, ss.n_pending);
    sfi_buf_printf(b, ", \"pending_w\": ");
    sfi_buf_json_array(b, ss.pending_w, ss.n_pending);
    const char *names[] = {"nobs", "sum_w", "mean_y", "m2_y", "sum_log_w"};
    double v[] = {ss.nobs, ss.sum_w, ss.mean_y, ss.m2_y, ss.sum_log_w};
    for (int i = 0; i < 5; i++) json_key_number(b, names[i], v[i]);
    sf_linreg_residual_state rs;
    if (sf_linreg_get_residual_state(s->m, &rs, NULL) == SF_OK) {
        sfi_buf_printf(b, ", \"residual_meat\": ");
        sfi_buf_json_array(b, rs.meat, rs.rank * rs.rank);
        sfi_buf_printf(b, ", \"residual_sums\": ");
        sfi_buf_json_array(b, rs.sums, 8);
    }
    sfi_buf_printf(b, "}");
}

static void lr_to_json(const void *st, sfi_buf *b)
{
    const lr_stage *s = st;
    sf_linreg_params p = sf_linreg_get_params(s->m);
    sfi_buf_printf(b, "\"params\": {\"fit_intercept\": %s", p.fit_intercept ? "true" : "false");
    json_key_number(b, "alpha", p.alpha);
    sfi_buf_printf(b, ", \"cov_type\": \"%s\"", cov_names[p.cov_type]);
    json_key_number(b, "tol", p.tol);
    sfi_buf_printf(b, ", \"diagnostics\": %s, \"interval\": \"%s\"", p.diagnostics ? "true" : "false",
                   s->observation ? "prediction" : "confidence");
    json_key_number(b, "level", s->level);
    sfi_buf_printf(b, "}");
    const sf_linreg_result *r = sf_linreg_get_result(s->m);
    if (r) json_results(s, r, p.fit_intercept, b);
    json_state(s, b);
}

/* ---- model files ---- */

static sf_status lr_save(const void *st, hid_t g, const sfi_h5ctx *c)
{
    const lr_stage *s = st;
    sf_linreg_params p = sf_linreg_get_params(s->m);
    SF_TRY(sfi_h5_attr_write_i64(c, g, "fit_intercept", p.fit_intercept));
    SF_TRY(sfi_h5_attr_write_f64(c, g, "alpha", p.alpha));
    SF_TRY(sfi_h5_attr_write_str(c, g, "cov_type", cov_names[p.cov_type]));
    SF_TRY(sfi_h5_attr_write_f64(c, g, "tol", p.tol));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "diagnostics", p.diagnostics));
    SF_TRY(sfi_h5_attr_write_str(c, g, "interval", s->observation ? "prediction" : "confidence"));
    SF_TRY(sfi_h5_attr_write_f64(c, g, "level", s->level));
    sf_linreg_state ss;
    SF_TRY(sf_linreg_get_state(s->m, &ss, c->err));
    size_t nc = ss.n_features + 2;
    double moments[] = {ss.nobs, ss.sum_w, ss.mean_y, ss.m2_y, ss.sum_log_w};
    SF_TRY(sfi_h5_write_vec(c, g, "r", ss.r, nc * nc));
    SF_TRY(sfi_h5_write_vec(c, g, "pending", ss.pending, ss.n_pending * nc));
    SF_TRY(sfi_h5_write_vec(c, g, "pending_y", ss.pending_y, ss.n_pending));
    SF_TRY(sfi_h5_write_vec(c, g, "pending_w", ss.pending_w, ss.n_pending));
    SF_TRY(sfi_h5_write_vec(c, g, "moments", moments, 5));
    sf_linreg_residual_state rs;
    bool has_resid = sf_linreg_get_residual_state(s->m, &rs, NULL) == SF_OK;
    SF_TRY(sfi_h5_attr_write_i64(c, g, "has_residual_pass", has_resid));
    if (has_resid) {
        SF_TRY(sfi_h5_write_vec(c, g, "residual_meat", rs.meat, rs.rank * rs.rank));
        SF_TRY(sfi_h5_write_vec(c, g, "residual_sums", rs.sums, 8));
    }
    SF_TRY(sfi_h5_attr_write_i64(c, g, "has_feature_names", s->names != NULL));
    if (s->names) SF_TRY(sfi_h5_write_strings(c, g, "feature_names", (const char *const *)s->names, s->n_names));
    /* for readers of the file: statsmodels' params and bse */
    const sf_linreg_result *r = sf_linreg_get_result(s->m);
    if (r) {
        SF_TRY(sfi_h5_write_vec(c, g, "params", r->params, r->n_params));
        SF_TRY(sfi_h5_write_vec(c, g, "bse", r->bse, r->n_params));
    }
    return SF_OK;
}

static sf_status corrupt(const sfi_h5ctx *c, sf_status st)
{
    if (c->err && st != SF_ERR_NOMEM) {
        sfi_error_prefix(c->err, "corrupt model file");
        sfi_strlcpy(c->err->where.source, c->file, sizeof c->err->where.source);
        c->err->status = SF_ERR_PARSE;
        return SF_ERR_PARSE;
    }
    return st;
}

/* The typed model from the group's parameters and state. */
static sf_status load_model(lr_stage *s, hid_t g, size_t n_in, const sfi_h5ctx *c)
{
    sf_linreg_params p;
    sf_linreg_params_default(&p);
    int64_t fi, diag, has_resid;
    char *cov = NULL, *interval = NULL;
    SF_TRY(sfi_h5_attr_read_i64(c, g, "fit_intercept", &fi));
    SF_TRY(sfi_h5_attr_read_i64(c, g, "diagnostics", &diag));
    SF_TRY(sfi_h5_attr_read_i64(c, g, "has_residual_pass", &has_resid));
    SF_TRY(sfi_h5_attr_read_f64(c, g, "alpha", &p.alpha));
    SF_TRY(sfi_h5_attr_read_f64(c, g, "tol", &p.tol));
    SF_TRY(sfi_h5_attr_read_f64(c, g, "level", &s->level));
    SF_TRY(sfi_h5_attr_read_str(c, g, "cov_type", &cov));
    sf_status st = sfi_h5_attr_read_str(c, g, "interval", &interval);
    int ct = -1;
    for (int i = 0; i < 5 && cov; i++)
        if (strcmp(cov, cov_names[i]) == 0) ct = i;
    if (st == SF_OK && (ct < 0 || !(s->level > 0 && s->level < 1) ||
                        (strcmp(interval, "confidence") != 0 && strcmp(interval, "prediction") != 0)))
        st = sfi_fail(c->err, SF_ERR_ARG, NULL, "bad cov_type, interval or level");
    if (st == SF_OK) s->observation = strcmp(interval, "prediction") == 0;
    free(cov);
    free(interval);
    SF_TRY(st);
    p.fit_intercept = fi != 0;
    p.diagnostics = diag != 0;
    p.cov_type = (sf_linreg_cov_type)ct;
    SF_TRY(sf_linreg_new(&s->m, &p, c->err));
    size_t nc = n_in + 2, n_pending = 0, n_meat = 0, n_stray = 0;
    double *r = NULL, *pending = NULL, *py = NULL, *pw = NULL, *moments = NULL, *meat = NULL, *sums = NULL;
    st = sfi_h5_read_vec(c, g, "r", nc * nc, &r, NULL);
    if (st == SF_OK) st = sfi_h5_read_vec(c, g, "pending", 0, &pending, &n_pending);
    if (st == SF_OK && n_pending % nc) st = sfi_fail(c->err, SF_ERR_ARG, NULL, "pending rows of the wrong width");
    n_pending /= nc;
    /* n = 0 asks for any length: an empty pending set reads as such */
    if (st == SF_OK) st = sfi_h5_read_vec(c, g, "pending_y", n_pending, &py, n_pending ? NULL : &n_stray);
    if (st == SF_OK) st = sfi_h5_read_vec(c, g, "pending_w", n_pending, &pw, n_pending ? NULL : &n_stray);
    if (st == SF_OK && n_stray) st = sfi_fail(c->err, SF_ERR_ARG, NULL, "pending targets without pending rows");
    if (st == SF_OK) st = sfi_h5_read_vec(c, g, "moments", 5, &moments, NULL);
    if (st == SF_OK) {
        sf_linreg_state ss = {.n_features = n_in, .r = r, .n_pending = n_pending, .pending = pending,
                              .pending_y = py, .pending_w = pw, .nobs = moments[0], .sum_w = moments[1],
                              .mean_y = moments[2], .m2_y = moments[3], .sum_log_w = moments[4]};
        st = sf_linreg_set_state(s->m, &ss, c->err);
    }
    if (st == SF_OK) st = sf_linreg_finalize(s->m, c->err);
    if (st == SF_OK && has_resid) {
        st = sfi_h5_read_vec(c, g, "residual_meat", 0, &meat, &n_meat);
        if (st == SF_OK) st = sfi_h5_read_vec(c, g, "residual_sums", 8, &sums, NULL);
        if (st == SF_OK) {
            const sf_linreg_result *res = sf_linreg_get_result(s->m);
            sf_linreg_residual_state rs = {.rank = res->rank, .meat = meat};
            memcpy(rs.sums, sums, sizeof rs.sums);
            if (n_meat != res->rank * res->rank)
                st = sfi_fail(c->err, SF_ERR_ARG, NULL, "residual sums of the wrong size");
            else st = sf_linreg_set_residual_state(s->m, &rs, c->err);
        }
    }
    free(r);
    free(pending);
    free(py);
    free(pw);
    free(moments);
    free(meat);
    free(sums);
    return st;
}

static sf_status lr_load(void **out, hid_t g, size_t n_in, const sfi_h5ctx *c)
{
    *out = NULL;
    lr_stage *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(c->err);
    sf_status st = n_in ? load_model(s, g, n_in, c) : sfi_fail(c->err, SF_ERR_ARG, NULL, "no features");
    int64_t has_names = 0;
    if (st == SF_OK) st = sfi_h5_attr_read_i64(c, g, "has_feature_names", &has_names);
    if (st == SF_OK && has_names) {
        st = sfi_h5_read_strings(c, g, "feature_names", &s->names, &s->n_names);
        if (st == SF_OK && s->n_names != n_in)
            st = sfi_fail(c->err, SF_ERR_ARG, NULL, "feature names of the wrong count");
    }
    if (st != SF_OK) {
        lr_free(s);
        return corrupt(c, st);
    }
    *out = s;
    return SF_OK;
}

static sf_status lr_summary(const void *st, const char *const *names, size_t n, const char *target, char **out,
                            sf_error *err)
{
    const lr_stage *s = st;
    return sf_linreg_summary(s->m, names, n, target && *target ? target : NULL, out, err);
}

const sfi_stage_ops sfi_linreg_stage = {
    .summary = lr_summary,
    .kind = "linear_regression",
    .alias = NULL,
    .params_help = "fit_intercept, alpha, cov_type, tol, diagnostics, interval, level",
    .mergeable = true,
    .takes_parts = true, /* rows buffered in fixed groups: bitwise the same */
    .estimator = true,
    .create = lr_create,
    .clone_empty = lr_clone_empty,
    .free = lr_free,
    .partial_fit = lr_partial_fit,
    .merge = lr_merge,
    .n_outputs = lr_n_outputs,
    .transform = lr_transform,
    .to_json = lr_to_json,
    .save = lr_save,
    .load = lr_load,
    .set_names = lr_set_names,
    .begin_pass = lr_begin_pass,
    .end_pass = lr_end_pass,
    .pass_mergeable = lr_pass_mergeable,
    .n_outputs_as = lr_n_outputs_as,
    .output_as = lr_output_as,
};
