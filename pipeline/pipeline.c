/* pipeline.c — parse a spec, fit stage by stage over a source, transform.
 *
 * Fitting: one pass per stage, the stage fed blocks that went through the
 * already-fitted stages before it. A mergeable stage is fitted per segment (one
 * fresh partial state each, on the pool's threads) and the partial states are
 * merged in segment order: segments are fixed by the data, so the result is
 * bitwise the same for any thread count. Memory: each worker holds one chunk and
 * two blocks of chunk_rows rows.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"
#include "streamfit/sf_pipeline.h"
#include "streamfit/sf_pool.h"

void sf_fit_options_init(sf_fit_options *o)
{
    memset(o, 0, sizeof *o);
}

void sf_pipeline_free(sf_pipeline *pl)
{
    if (!pl) return;
    for (size_t k = 0; k < pl->n_stages; k++)
        if (pl->states && pl->states[k] && pl->ops[k]) pl->ops[k]->free(pl->states[k]);
    for (size_t j = 0; j < pl->n_features; j++) free(pl->features[j]);
    free(pl->features);
    free(pl->target);
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
    sfi_spec sp;
    SF_TRY(sfi_spec_parse(spec, &sp, err));
    sf_status st = SF_OK;
    sf_pipeline *pl = calloc(1, sizeof *pl);
    if (pl) {
        pl->ops = calloc(sp.n_stages, sizeof *pl->ops);
        pl->states = calloc(sp.n_stages, sizeof *pl->states);
        pl->width_in = calloc(sp.n_stages, sizeof *pl->width_in);
    }
    if (!pl || !pl->ops || !pl->states || !pl->width_in) {
        st = sfi_nomem(err);
        goto done;
    }
    pl->n_stages = sp.n_stages;
    for (size_t k = 0; k < sp.n_stages && st == SF_OK; k++) {
        const sfi_spec_stage *s = &sp.stages[k];
        pl->ops[k] = sfi_stage_find(s->kind);
        if (!pl->ops[k])
            st = sfi_spec_fail(err, s->column, "unknown stage %s (valid: %s)", s->kind, sfi_stage_list());
        else
            st = pl->ops[k]->create(&pl->states[k], s, err);
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

/* ---- column selection ---- */

typedef struct plan {
    size_t *cols;        /* source column of each feature */
    size_t p;
    long target, weight; /* source columns, or -1 */
    size_t chunk_rows;
} plan;

static sf_status pick_columns(sf_pipeline *pl, const sf_source *src, const sf_fit_options *o,
                              plan *pn, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, sf_source_name(src));
    size_t nc = sf_source_n_columns(src);
    pn->target = pn->weight = -1;
    pn->chunk_rows = src->opt.chunk_rows;
    if (o->target && (pn->target = sf_source_column_index(src, o->target)) < 0)
        return sfi_fail(err, SF_ERR_ARG, &w, "no target column \"%s\"", o->target);
    if (o->weight && (pn->weight = sf_source_column_index(src, o->weight)) < 0)
        return sfi_fail(err, SF_ERR_ARG, &w, "no weight column \"%s\"", o->weight);
    pn->cols = calloc(nc ? nc : 1, sizeof *pn->cols);
    if (!pn->cols) return sfi_nomem(err);
    if (o->columns && *o->columns) {
        const char *q = o->columns;
        while (*q) {
            const char *e = strchr(q, ',');
            size_t n = e ? (size_t)(e - q) : strlen(q);
            char name[256];
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, q, n);
            name[n] = '\0';
            long c = sf_source_column_index(src, name);
            if (c < 0) return sfi_fail(err, SF_ERR_ARG, &w, "no column \"%s\"", name);
            if (sf_source_column_type(src, (size_t)c) != SF_COL_FLOAT)
                return sfi_fail(err, SF_ERR_ARG, &w, "column \"%s\" is categorical: use a formula "
                                                     "with C(%s)", name, name);
            if (pn->p == nc) return sfi_fail(err, SF_ERR_ARG, &w, "column \"%s\" given twice", name);
            pn->cols[pn->p++] = (size_t)c;
            q = e ? e + 1 : q + n;
        }
    } else {
        for (size_t c = 0; c < nc; c++)
            if ((long)c != pn->target && (long)c != pn->weight &&
                sf_source_column_type(src, c) == SF_COL_FLOAT)
                pn->cols[pn->p++] = c;
    }
    if (pn->p == 0) return sfi_fail(err, SF_ERR_ARG, &w, "no numeric feature columns");
    if (pn->target >= 0 && sf_source_column_type(src, (size_t)pn->target) != SF_COL_FLOAT)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "categorical target \"%s\" is not supported yet",
                        o->target);
    /* remember the names */
    pl->features = calloc(pn->p, sizeof *pl->features);
    if (!pl->features) return sfi_nomem(err);
    pl->n_features = pn->p;
    for (size_t j = 0; j < pn->p; j++)
        if (!(pl->features[j] = strdup(sf_source_column_name(src, pn->cols[j])))) return sfi_nomem(err);
    pl->target = strdup(o->target ? o->target : "");
    return pl->target ? SF_OK : sfi_nomem(err);
}

/* Copies the usable rows of t into b; counts dropped rows (a missing feature,
 * target or weight: patsy's NA_action="drop", Decision 13). */
static void table_to_block(const plan *pn, const sf_table *t, sf_block *b, uint64_t *dropped)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        bool skip = false;
        for (size_t j = 0; j < pn->p && !skip; j++) skip = t->cols[pn->cols[j]].missing[i];
        if (pn->target >= 0) skip = skip || t->cols[pn->target].missing[i];
        if (pn->weight >= 0) skip = skip || t->cols[pn->weight].missing[i];
        if (skip) {
            (*dropped)++;
            continue;
        }
        double *row = b->x + k * b->ld;
        for (size_t j = 0; j < pn->p; j++) row[j] = t->cols[pn->cols[j]].values[i];
        if (b->y) b->y[k] = t->cols[pn->target].values[i];
        if (b->w) b->w[k] = t->cols[pn->weight].values[i];
        k++;
    }
    b->n_rows = k;
    b->first_row = t->first_row;
}

/* ---- one pass ---- */

typedef struct pass_job {
    sf_pipeline *pl;
    size_t stage;
    const plan *pn;
    sf_source *src;
    bool whole;             /* read src itself (one segment) */
    void **partials;        /* per segment */
    uint64_t *seen, *dropped;
    size_t max_width;
} pass_job;

/* Runs block b through stages [0, upto) into *out (which may be b's buffer). */
static sf_status run_stages(const sf_pipeline *pl, size_t upto, const double *x, size_t n,
                            size_t p, size_t ld, double *buf1, double *buf2, size_t buf_ld,
                            const double **out, size_t *out_p, size_t *out_ld, sf_error *err)
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

static sf_status pass_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    pass_job *job = ctx;
    sf_pipeline *pl = job->pl;
    const plan *pn = job->pn;
    sf_source *src = job->src;
    sf_status st = SF_OK;
    sf_block *b = NULL;
    double *buf1 = NULL, *buf2 = NULL;
    if (!job->whole) SF_TRY(sf_source_open_segment(job->src, seg, &src, err));
    st = pl->ops[job->stage]->clone_empty(pl->states[job->stage], &job->partials[seg], err);
    if (st == SF_OK) st = sf_block_new(&b, pn->chunk_rows, pn->p, pn->target >= 0, pn->weight >= 0, err);
    if (st == SF_OK && job->stage > 0) {
        buf1 = malloc(pn->chunk_rows * job->max_width * sizeof *buf1);
        buf2 = malloc(pn->chunk_rows * job->max_width * sizeof *buf2);
        if (!buf1 || !buf2) st = sfi_nomem(err);
    }
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK) {
        job->seen[seg] += t->n_rows;
        table_to_block(pn, t, b, &job->dropped[seg]);
        if (b->n_rows == 0) continue;
        sf_block view = *b;
        const double *x;
        size_t p, ld;
        st = run_stages(pl, job->stage, b->x, b->n_rows, b->n_cols, b->ld, buf1, buf2,
                        job->max_width, &x, &p, &ld, err);
        if (st != SF_OK) break;
        view.x = (double *)x;
        view.n_cols = p;
        view.ld = ld;
        st = pl->ops[job->stage]->partial_fit(job->partials[seg], &view, err);
        if (st != SF_OK && err) {
            /* the stage counted rows of its block: point at the data instead */
            sfi_error_prefix(err, "stage %zu (%s)", job->stage + 1, pl->ops[job->stage]->kind);
            sfi_strlcpy(err->where.source, src->name, sizeof err->where.source);
            err->where.row = 0;
        }
    }
    if (st == SF_END) st = SF_OK;
    free(buf1);
    free(buf2);
    sf_block_free(b);
    if (!job->whole) sf_source_close(src);
    return st;
}

static sf_status fit_stage(sf_pipeline *pl, size_t k, sf_source *src, const plan *pn, sf_pool *pool,
                           bool first_pass, sf_error *err)
{
    size_t n_seg = 1;
    SF_TRY(sf_source_n_segments(src, &n_seg, err));
    pass_job job = {.pl = pl, .stage = k, .pn = pn, .src = src};
    bool stdin_like = false;
    if (n_seg == 1) {
        sf_source *probe = NULL;
        sf_error e;
        if (sf_source_open_segment(src, 0, &probe, &e) != SF_OK) stdin_like = true;
        sf_source_close(probe);
    }
    job.whole = stdin_like;
    if (job.whole && !first_pass) SF_TRY(sf_source_rewind(src, err));
    if (!pl->ops[k]->mergeable && n_seg > 1) {
        /* an order-dependent learner: one reader in data order */
        job.whole = true;
        n_seg = 1;
        if (!first_pass) SF_TRY(sf_source_rewind(src, err));
    }
    job.max_width = pn->p;
    for (size_t s = 0; s < k; s++) {
        size_t q = pl->ops[s]->n_outputs(pl->states[s], pl->width_in[s]);
        if (q > job.max_width) job.max_width = q;
    }
    job.partials = calloc(n_seg, sizeof *job.partials);
    job.seen = calloc(n_seg, sizeof *job.seen);
    job.dropped = calloc(n_seg, sizeof *job.dropped);
    sf_status st = (!job.partials || !job.seen || !job.dropped) ? sfi_nomem(err) : SF_OK;
    if (st == SF_OK) st = sf_pool_run(pool, n_seg, pass_segment, &job, err);
    /* merge in segment order into a fresh state: bitwise the same for any threads */
    void *merged = NULL;
    if (st == SF_OK) st = pl->ops[k]->clone_empty(pl->states[k], &merged, err);
    for (size_t g = 0; g < n_seg && st == SF_OK; g++) st = pl->ops[k]->merge(merged, job.partials[g], err);
    if (st == SF_OK) {
        pl->ops[k]->free(pl->states[k]);
        pl->states[k] = merged;
        merged = NULL;
        if (first_pass) {
            pl->rows_seen = pl->rows_dropped = 0;
            for (size_t g = 0; g < n_seg; g++) {
                pl->rows_seen += job.seen[g];
                pl->rows_dropped += job.dropped[g];
            }
        }
    }
    if (merged) pl->ops[k]->free(merged);
    for (size_t g = 0; g < n_seg; g++)
        if (job.partials && job.partials[g]) pl->ops[k]->free(job.partials[g]);
    free(job.partials);
    free(job.seen);
    free(job.dropped);
    return st;
}

sf_status sf_pipeline_fit(sf_pipeline *pl, sf_source *src, const sf_fit_options *opt, sf_error *err)
{
    if (!pl || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_fit: NULL argument");
    sf_fit_options o;
    if (opt) o = *opt;
    else sf_fit_options_init(&o);
    /* start from unfitted stages, whatever happened before */
    for (size_t j = 0; j < pl->n_features; j++) free(pl->features[j]);
    free(pl->features);
    free(pl->target);
    pl->features = NULL;
    pl->target = NULL;
    pl->n_features = 0;
    pl->fitted = false;
    plan pn = {0};
    sf_pool *pool = NULL;
    sf_status st = pick_columns(pl, src, &o, &pn, err);
    if (st == SF_OK) st = sf_pool_new(&pool, o.threads, err);
    size_t width = pn.p;
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        void *fresh = NULL;
        st = pl->ops[k]->clone_empty(pl->states[k], &fresh, err);
        if (st != SF_OK) break;
        pl->ops[k]->free(pl->states[k]);
        pl->states[k] = fresh;
        pl->width_in[k] = width;
        st = fit_stage(pl, k, src, &pn, pool, k == 0, err);
        if (st == SF_OK && sf_pipeline_n_stages(pl) > 0 && !sf_pipeline_rows_seen(pl))
            st = sfi_fail(err, SF_ERR_PARSE, NULL, "no rows to fit");
        if (st == SF_OK && pl->rows_seen == pl->rows_dropped) {
            sf_where w;
            sfi_where_init(&w, sf_source_name(src));
            st = sfi_fail(err, SF_ERR_PARSE, &w, "every row has a missing value (%llu dropped)",
                          (unsigned long long)pl->rows_dropped);
        }
        width = pl->ops[k]->n_outputs(pl->states[k], width);
    }
    sf_pool_free(pool);
    free(pn.cols);
    if (st == SF_OK) pl->fitted = true;
    return st;
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
    return pl && i < pl->n_features ? pl->features[i] : NULL;
}
const char *sf_pipeline_target(const sf_pipeline *pl) { return pl && pl->target ? pl->target : ""; }
uint64_t sf_pipeline_rows_seen(const sf_pipeline *pl) { return pl ? pl->rows_seen : 0; }
uint64_t sf_pipeline_rows_dropped(const sf_pipeline *pl) { return pl ? pl->rows_dropped : 0; }

size_t sf_pipeline_n_outputs(const sf_pipeline *pl)
{
    if (!pl || !pl->fitted) return 0;
    size_t w = pl->n_features;
    for (size_t k = 0; k < pl->n_stages; k++) w = pl->ops[k]->n_outputs(pl->states[k], w);
    return w;
}

sf_status sf_pipeline_transform(const sf_pipeline *pl, const double *x, size_t n, size_t p,
                                size_t ld, double *out, size_t out_ld, sf_error *err)
{
    if (!pl) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_transform: NULL pipeline");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    if (p != pl->n_features)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "pipeline expects %zu features, got %zu", pl->n_features, p);
    size_t q = sf_pipeline_n_outputs(pl);
    if (out_ld < q) return sfi_fail(err, SF_ERR_SHAPE, NULL, "output stride %zu < %zu outputs", out_ld, q);
    if (n == 0) return SF_OK;
    size_t maxw = p;
    for (size_t k = 0, w = p; k < pl->n_stages; k++) {
        w = pl->ops[k]->n_outputs(pl->states[k], w);
        if (w > maxw) maxw = w;
    }
    double *buf1 = malloc(n * maxw * sizeof *buf1), *buf2 = malloc(n * maxw * sizeof *buf2);
    sf_status st = (!buf1 || !buf2) ? sfi_nomem(err) : SF_OK;
    const double *res;
    size_t rp, rld;
    if (st == SF_OK) st = run_stages(pl, pl->n_stages, x, n, p, ld, buf1, buf2, maxw, &res, &rp, &rld, err);
    if (st == SF_OK)
        for (size_t i = 0; i < n; i++) memcpy(out + i * out_ld, res + i * rld, rp * sizeof *out);
    free(buf1);
    free(buf2);
    return st;
}

sf_status sf_pipeline_to_json(const sf_pipeline *pl, char **json_out, sf_error *err)
{
    if (!pl || !json_out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_to_json: NULL argument");
    *json_out = NULL;
    sfi_buf b = {0};
    sfi_buf_printf(&b, "{\"format\": \"streamfit-model\", \"version\": 1, \"columns\": [");
    for (size_t j = 0; j < pl->n_features; j++) {
        if (j) sfi_buf_printf(&b, ", ");
        sfi_buf_json_string(&b, pl->features[j], strlen(pl->features[j]));
    }
    sfi_buf_printf(&b, "], \"target\": ");
    const char *t = sf_pipeline_target(pl);
    if (*t) sfi_buf_json_string(&b, t, strlen(t));
    else sfi_buf_printf(&b, "null");
    sfi_buf_printf(&b, ", \"rows_seen\": %llu, \"rows_dropped\": %llu, \"stages\": [",
                   (unsigned long long)pl->rows_seen, (unsigned long long)pl->rows_dropped);
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
