/* pipeline.c — the pipeline object: made from a spec, its accessors, running rows
 * through the fitted stages (transform, predict and the other outputs), JSON.
 * Fitting is in fit.c, model files in model_file.c. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"
#include "preprocess/design_io.h"
#include "streamfit/sf_pipeline.h"
#include "streamfit/sf_pool.h"

void sfi_pipeline_forget_columns(sf_pipeline *pl)
{
    for (size_t j = 0; pl->features && j < pl->n_features; j++) free(pl->features[j]);
    free(pl->features);
    free(pl->target);
    for (size_t i = 0; pl->class_labels && i < pl->n_classes; i++) free(pl->class_labels[i]);
    free(pl->class_labels);
    free(pl->classes);
    pl->features = NULL;
    pl->target = NULL;
    pl->class_labels = NULL;
    pl->classes = NULL;
    pl->n_features = pl->n_classes = 0;
    pl->sparse = false;
    pl->rows_seen = pl->rows_dropped = 0;
    sf_design_free(pl->design);
    pl->design = NULL;
}

void sf_pipeline_free(sf_pipeline *pl)
{
    if (!pl) return;
    for (size_t k = 0; k < pl->n_stages; k++)
        if (pl->states && pl->states[k] && pl->ops[k]) pl->ops[k]->free(pl->states[k]);
    sfi_pipeline_forget_columns(pl);
    sfi_spec_free(&pl->spec);
    free(pl->spec_text);
    free(pl->states);
    free(pl->ops);
    free(pl->width_in);
    free(pl);
}

sf_status sf_pipeline_new(sf_pipeline **out, const char *spec, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_new: NULL out");
    *out = NULL;
    sf_library_init();
    if (!spec) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_new: NULL spec");
    sfi_spec sp;
    SF_TRY(sfi_spec_parse(spec, &sp, err));
    sf_status st = SF_OK;
    sf_pipeline *pl = calloc(1, sizeof *pl);
    if (pl) {
        pl->spec = sp;
        memset(&sp, 0, sizeof sp);
        pl->spec_text = strdup(spec);
        pl->ops = calloc(pl->spec.n_stages, sizeof *pl->ops);
        pl->states = calloc(pl->spec.n_stages, sizeof *pl->states);
        pl->width_in = calloc(pl->spec.n_stages, sizeof *pl->width_in);
    }
    if (!pl || !pl->ops || !pl->states || !pl->width_in || !pl->spec_text) {
        st = sfi_nomem(err);
        goto done;
    }
    pl->n_stages = pl->spec.n_stages;
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        const sfi_spec_stage *s = &pl->spec.stages[k];
        pl->ops[k] = sfi_stage_find(s->kind);
        if (!pl->ops[k])
            st = sfi_spec_fail(err, s->column, "unknown stage %s (valid: %s)", s->kind, sfi_stage_list());
        else
            st = pl->ops[k]->create(&pl->states[k], s, err);
        if (st == SF_OK && pl->ops[k]->estimator && k + 1 != pl->n_stages)
            st = sfi_spec_fail(err, s->column, "%s is an estimator: it must be the last stage", s->kind);
    }
done:
    sfi_spec_free(&sp);
    if (st != SF_OK) {
        sf_pipeline_free(pl);
        return st;
    }
    *out = pl;
    return SF_OK;
}

bool sf_pipeline_is_fitted(const sf_pipeline *pl) { return pl && pl->fitted; }
size_t sf_pipeline_n_stages(const sf_pipeline *pl) { return pl ? pl->n_stages : 0; }
const char *sf_pipeline_stage_kind(const sf_pipeline *pl, size_t i)
{
    return pl && i < pl->n_stages ? pl->ops[i]->kind : NULL;
}
size_t sf_pipeline_n_features(const sf_pipeline *pl) { return pl ? pl->n_features : 0; }
const char *sf_pipeline_feature_name(const sf_pipeline *pl, size_t i)
{
    return pl && pl->features && i < pl->n_features ? pl->features[i] : NULL;
}
const char *sf_pipeline_target(const sf_pipeline *pl) { return pl && pl->target ? pl->target : ""; }
uint64_t sf_pipeline_rows_seen(const sf_pipeline *pl) { return pl ? pl->rows_seen : 0; }
uint64_t sf_pipeline_rows_dropped(const sf_pipeline *pl) { return pl ? pl->rows_dropped : 0; }

sf_status sfi_run_stages(const sf_pipeline *pl, size_t upto, const double *x, size_t n, size_t p,
                         size_t ld, double *buf1, double *buf2, size_t buf_ld, const double **out,
                         size_t *out_p, size_t *out_ld, sf_error *err)
{
    const double *cur = x;
    size_t cur_p = p, cur_ld = ld;
    for (size_t k = 0; k < upto; k++) {
        double *dst = (cur == buf1) ? buf2 : buf1;
        size_t q = pl->ops[k]->n_outputs(pl->states[k], cur_p);
        SF_TRY(pl->ops[k]->transform(pl->states[k], cur, n, cur_p, cur_ld, dst, buf_ld, err));
        cur = dst;
        cur_p = q;
        cur_ld = buf_ld;
    }
    *out = cur;
    *out_p = cur_p;
    *out_ld = cur_ld;
    return SF_OK;
}

sf_status sfi_last_stage_input(const sf_pipeline *pl, const double *x, size_t n, size_t p, size_t ld,
                               double **bufs, const double **in, size_t *ip, size_t *ild, sf_error *err)
{
    *bufs = NULL;
    *in = x;
    *ip = p;
    *ild = ld;
    if (pl->n_stages < 2 || n == 0) return SF_OK;
    size_t maxw = p;
    for (size_t k = 0, w = p; k + 1 < pl->n_stages; k++) {
        w = pl->ops[k]->n_outputs(pl->states[k], w);
        if (w > maxw) maxw = w;
    }
    double *b = malloc(2 * n * maxw * sizeof *b);
    if (!b) return sfi_nomem(err);
    sf_status st = sfi_run_stages(pl, pl->n_stages - 1, x, n, p, ld, b, b + n * maxw, maxw, in, ip, ild, err);
    if (st != SF_OK) {
        free(b);
        return st;
    }
    *bufs = b;
    return SF_OK;
}

size_t sf_pipeline_n_classes(const sf_pipeline *pl) { return pl ? pl->n_classes : 0; }
const double *sf_pipeline_classes(const sf_pipeline *pl) { return pl ? pl->classes : NULL; }
const char *sf_pipeline_class_label(const sf_pipeline *pl, size_t i)
{
    return pl && pl->class_labels && i < pl->n_classes ? pl->class_labels[i] : NULL;
}
const sf_design *sf_pipeline_design(const sf_pipeline *pl) { return pl ? pl->design : NULL; }
const char *sf_pipeline_spec(const sf_pipeline *pl) { return pl && pl->spec_text ? pl->spec_text : ""; }

/* Width of the last stage's input. */
static size_t last_width_in(const sf_pipeline *pl)
{
    size_t w = pl->n_features;
    for (size_t k = 0; k + 1 < pl->n_stages; k++) w = pl->ops[k]->n_outputs(pl->states[k], w);
    return w;
}

size_t sf_pipeline_n_outputs_as(const sf_pipeline *pl, sf_output what)
{
    if (!pl || !pl->fitted || pl->n_stages == 0) return 0;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    void *st = pl->states[pl->n_stages - 1];
    size_t w = last_width_in(pl);
    if (what == SF_OUTPUT_PREDICT) return last->n_outputs(st, w);
    if (!last->n_outputs_as || !last->output_as) return 0;
    return last->n_outputs_as(st, (sfi_output)what, w);
}

size_t sf_pipeline_n_outputs(const sf_pipeline *pl)
{
    return sf_pipeline_n_outputs_as(pl, SF_OUTPUT_PREDICT);
}

sf_status sf_pipeline_predict_as(const sf_pipeline *pl, sf_output what, const double *x, size_t n,
                                 size_t p, size_t ld, double *out, size_t out_ld, sf_error *err)
{
    if (!pl) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_predict_as: NULL pipeline");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    if (p != pl->n_features)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "pipeline expects %zu features, got %zu", pl->n_features, p);
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "row stride %zu < %zu features", ld, p);
    size_t q = sf_pipeline_n_outputs_as(pl, what);
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    if (q == 0)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s does not give that output (with these "
                        "parameters)", last->kind);
    if (out_ld < q) return sfi_fail(err, SF_ERR_SHAPE, NULL, "output stride %zu < %zu outputs", out_ld, q);
    if (n == 0) return SF_OK;
    if (!x || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_predict_as: NULL array");
    double *bufs = NULL;
    const double *in;
    size_t ip, ild;
    sf_status st = sfi_last_stage_input(pl, x, n, p, ld, &bufs, &in, &ip, &ild, err);
    void *ls = pl->states[pl->n_stages - 1];
    if (st == SF_OK && what == SF_OUTPUT_PREDICT)
        st = last->transform(ls, in, n, ip, ild, out, out_ld, err);
    else if (st == SF_OK)
        st = last->output_as(ls, (sfi_output)what, in, n, ip, ild, out, out_ld, err);
    free(bufs);
    return st;
}

sf_status sf_pipeline_transform(const sf_pipeline *pl, const double *x, size_t n, size_t p,
                                size_t ld, double *out, size_t out_ld, sf_error *err)
{
    return sf_pipeline_predict_as(pl, SF_OUTPUT_PREDICT, x, n, p, ld, out, out_ld, err);
}

sf_status sf_pipeline_summary(const sf_pipeline *pl, char **out, sf_error *err)
{
    if (!pl || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_summary: NULL argument");
    *out = NULL;
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    if (!last->summary) return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s has no summary", last->kind);
    /* the last stage's inputs keep the feature names while no stage changes the width */
    size_t w = last_width_in(pl);
    const char *const *names = w == pl->n_features ? (const char *const *)pl->features : NULL;
    return last->summary(pl->states[pl->n_stages - 1], names, names ? w : 0, pl->target, out, err);
}

sf_status sf_pipeline_to_json(const sf_pipeline *pl, char **json_out, sf_error *err)
{
    if (!pl || !json_out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_to_json: NULL argument");
    *json_out = NULL;
    sfi_buf b = {0};
    sfi_buf_printf(&b, "{\"format\": \"streamfit-model\", \"version\": 1, \"columns\": ");
    if (pl->sparse) {
        /* CSR features have no names: their number instead */
        sfi_buf_printf(&b, "null, \"sparse\": true, \"n_features\": %zu", pl->n_features);
    } else {
        sfi_buf_printf(&b, "[");
        for (size_t j = 0; j < pl->n_features; j++) {
            if (j) sfi_buf_printf(&b, ", ");
            sfi_buf_json_string(&b, pl->features[j], strlen(pl->features[j]));
        }
        sfi_buf_printf(&b, "]");
    }
    sfi_buf_printf(&b, ", \"target\": ");
    const char *t = sf_pipeline_target(pl);
    if (*t) sfi_buf_json_string(&b, t, strlen(t));
    else sfi_buf_printf(&b, "null");
    sfi_buf_printf(&b, ", \"pipeline\": ");
    sfi_buf_json_string(&b, sf_pipeline_spec(pl), strlen(sf_pipeline_spec(pl)));
    if (pl->n_classes) {
        /* classes_ of the classifier stage are these values; with a categorical
         * target they are codes of target_labels */
        sfi_buf_printf(&b, ", \"classes\": ");
        sfi_buf_json_array(&b, pl->classes, pl->n_classes);
    }
    if (pl->class_labels) {
        sfi_buf_printf(&b, ", \"target_labels\": [");
        for (size_t i = 0; i < pl->n_classes; i++) {
            if (i) sfi_buf_printf(&b, ", ");
            sfi_buf_json_string(&b, pl->class_labels[i], strlen(pl->class_labels[i]));
        }
        sfi_buf_printf(&b, "]");
    }
    sfi_buf_printf(&b, ", \"rows_seen\": %llu, \"rows_dropped\": %llu, \"stages\": [",
                   (unsigned long long)pl->rows_seen, (unsigned long long)pl->rows_dropped);
    if (pl->design) {
        /* Decision 16: the design is a stage */
        sfi_buf_printf(&b, "{\"kind\": \"design\", ");
        sfi_design_to_json(pl->design, &b);
        sfi_buf_printf(&b, "}%s", pl->n_stages ? ", " : "");
    }
    for (size_t k = 0; k < pl->n_stages; k++) {
        sfi_buf_printf(&b, "%s{\"kind\": \"%s\", ", k ? ", " : "", pl->ops[k]->kind);
        pl->ops[k]->to_json(pl->states[k], &b);
        sfi_buf_printf(&b, "}");
    }
    sfi_buf_printf(&b, "]}");
    if (b.failed) {
        free(b.data);
        return sfi_nomem(err);
    }
    *json_out = b.data;
    return SF_OK;
}
