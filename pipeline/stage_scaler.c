/* stage_scaler.c — the standard scaler as a pipeline stage (kind
 * "standard_scaler", alias "scaler"): an adapter from blocks and spec parameters
 * to sf_scaler. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/stage.h"
#include "streamfit/sf_scaler.h"

static sf_status scaler_create(void **st, const sfi_spec_stage *spec, sf_error *err)
{
    sf_scaler_params p;
    sf_scaler_params_default(&p);
    for (size_t i = 0; i < spec->n_params; i++) {
        const sfi_param *prm = &spec->params[i];
        bool copy;
        if (strcmp(prm->key, "with_mean") == 0) SF_TRY(sfi_param_bool(prm, &p.with_mean, err));
        else if (strcmp(prm->key, "with_std") == 0) SF_TRY(sfi_param_bool(prm, &p.with_std, err));
        else if (strcmp(prm->key, "copy") == 0) SF_TRY(sfi_param_bool(prm, &copy, err)); /* no-op here */
        else
            return sfi_spec_fail(err, prm->column, "unknown parameter %s for %s (valid: with_mean, "
                                                   "with_std, copy)", prm->key, spec->kind);
    }
    return sf_scaler_new((sf_scaler **)st, &p, err);
}

static sf_status scaler_clone_empty(const void *st, void **out, sf_error *err)
{
    return sf_scaler_clone_empty(st, (sf_scaler **)out, err);
}

static void scaler_free(void *st) { sf_scaler_free(st); }

static sf_status scaler_partial_fit(void *st, const sf_block *b, sf_error *err)
{
    if (b->csr)
        return sf_scaler_partial_fit_csr(st, b->csr->data, b->csr->indices, b->csr->indptr, b->n_rows,
                                         b->n_cols, b->w, err);
    return sf_scaler_partial_fit(st, b->x, b->n_rows, b->n_cols, b->ld, b->w, err);
}

static sf_status scaler_merge(void *dst, const void *src, sf_error *err)
{
    return sf_scaler_merge(dst, src, err);
}

static size_t scaler_n_outputs(const void *st, size_t n_in)
{
    (void)st;
    return n_in;
}

static sf_status scaler_transform(const void *st, const double *x, size_t n, size_t p, size_t ld,
                                  double *out, size_t out_ld, sf_error *err)
{
    return sf_scaler_transform(st, x, n, p, ld, out, out_ld, err);
}

/* sklearn's StandardScaler refuses to center sparse input */
static sf_status scaler_use_sparse(void *st, sf_error *err)
{
    if (sf_scaler_get_params(st).with_mean)
        return sfi_fail(err, SF_ERR_ARG, NULL, "standard_scaler cannot center sparse input: give it "
                                               "with_mean=false (as sklearn)");
    return SF_OK;
}

static sf_status scaler_transform_csr(const void *st, const sf_csr *x, size_t n, double *out, sf_error *err)
{
    return sf_scaler_transform_csr(st, x->data, x->indices, x->indptr, n, x->n_cols, out, err);
}

static void scaler_to_json(const void *st, sfi_buf *b)
{
    const sf_scaler *s = st;
    sf_scaler_params p = sf_scaler_get_params(s);
    size_t n = sf_scaler_n_features(s);
    sfi_buf_printf(b, "\"params\": {\"with_mean\": %s, \"with_std\": %s, \"copy\": true}",
                   p.with_mean ? "true" : "false", p.with_std ? "true" : "false");
    if (!n) return;
    /* sklearn: mean_ is None unless with_mean or with_std; var_/scale_ None without with_std */
    sfi_buf_printf(b, ", \"mean_\": ");
    if (p.with_mean || p.with_std) sfi_buf_json_array(b, sf_scaler_mean(s), n);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"var_\": ");
    if (p.with_std) sfi_buf_json_array(b, sf_scaler_var(s), n);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"scale_\": ");
    if (p.with_std) sfi_buf_json_array(b, sf_scaler_scale(s), n);
    else sfi_buf_printf(b, "null");
    /* a scalar when every column saw the same count, as sklearn collapses it */
    const double *ns = sf_scaler_n_samples_seen(s);
    bool same = true;
    for (size_t j = 1; j < n; j++) same = same && ns[j] == ns[0];
    sfi_buf_printf(b, ", \"n_samples_seen_\": ");
    if (same) sfi_buf_json_number(b, ns[0]);
    else sfi_buf_json_array(b, ns, n);
    sfi_buf_printf(b, ", \"n_features_in_\": %zu", n);
}

static sf_status scaler_save(const void *st, hid_t g, const sfi_h5ctx *c)
{
    const sf_scaler *s = st;
    sf_scaler_params p = sf_scaler_get_params(s);
    size_t n = sf_scaler_n_features(s);
    SF_TRY(sfi_h5_attr_write_i64(c, g, "with_mean", p.with_mean));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "with_std", p.with_std));
    double *v = malloc(4 * (n ? n : 1) * sizeof *v);
    if (!v) return sfi_nomem(c->err);
    sf_status st2 = sf_scaler_get_state(s, v, v + n, v + 2 * n, v + 3 * n, c->err);
    /* the resumable state, then sklearn's attributes for readers of the file */
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "n_samples_seen_", v, n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "shift", v + n, n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "shifted_mean", v + 2 * n, n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "m2", v + 3 * n, n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "mean_", sf_scaler_mean(s), n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "var_", sf_scaler_var(s), n);
    if (st2 == SF_OK) st2 = sfi_h5_write_vec(c, g, "scale_", sf_scaler_scale(s), n);
    free(v);
    return st2;
}

static sf_status scaler_load(void **out, hid_t g, size_t n_in, const sfi_h5ctx *c)
{
    *out = NULL;
    int64_t wm, ws;
    SF_TRY(sfi_h5_attr_read_i64(c, g, "with_mean", &wm));
    SF_TRY(sfi_h5_attr_read_i64(c, g, "with_std", &ws));
    sf_scaler_params p;
    sf_scaler_params_default(&p);
    p.with_mean = wm != 0;
    p.with_std = ws != 0;
    double *v[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[4] = {"n_samples_seen_", "shift", "shifted_mean", "m2"};
    sf_status st = SF_OK;
    for (int k = 0; k < 4 && st == SF_OK; k++) st = sfi_h5_read_vec(c, g, names[k], n_in, &v[k], NULL);
    sf_scaler *s = NULL;
    if (st == SF_OK) st = sf_scaler_new(&s, &p, c->err);
    if (st == SF_OK) {
        st = sf_scaler_set_state(s, n_in, v[0], v[1], v[2], v[3], c->err);
        if (st != SF_OK && c->err) {
            sfi_error_prefix(c->err, "corrupt model file");
            sfi_strlcpy(c->err->where.source, c->file, sizeof c->err->where.source);
            st = SF_ERR_PARSE;
            c->err->status = st;
        }
    }
    for (int k = 0; k < 4; k++) free(v[k]);
    if (st != SF_OK) {
        sf_scaler_free(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

const sfi_stage_ops sfi_scaler_stage = {
    .kind = "standard_scaler",
    .alias = "scaler",
    .params_help = "with_mean, with_std, copy",
    .mergeable = true,
    .takes_parts = true, /* per-call moments merged: the same to rounding */
    .create = scaler_create,
    .clone_empty = scaler_clone_empty,
    .free = scaler_free,
    .partial_fit = scaler_partial_fit,
    .merge = scaler_merge,
    .n_outputs = scaler_n_outputs,
    .transform = scaler_transform,
    .to_json = scaler_to_json,
    .save = scaler_save,
    .load = scaler_load,
    .use_sparse = scaler_use_sparse,
    .transform_csr = scaler_transform_csr,
};
