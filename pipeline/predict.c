/* predict.c — a fitted pipeline over a whole source into a sink, in input order.
 *
 * A splittable source is predicted segment by segment on the pool's threads. Each
 * worker keeps its segment's output (rows x outputs doubles plus a flag a row: a
 * few MB for a 32 MiB CSV segment, since outputs are narrow) and hands it over when
 * the segment is done; whichever worker finds the next segment due writes every
 * finished segment in order. A source read once (standard input) is predicted
 * chunk by chunk on the calling thread and each chunk written (and flushed, for
 * streaming jobs) before the next is read.
 *
 * A row with a missing feature gets empty output fields and is counted; so does
 * a malformed row the source skipped (SF_ON_ERROR_SKIP; counted apart). When the
 * source stops at a malformed row (SF_ON_ERROR_STOP) the rows before it are
 * written first: a segment that fails hands over what it predicted, is written
 * after the segments before it, and nothing after it is.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"
#include "preprocess/design_impl.h"
#include "streamfit/sf_pool.h"
#include "streamfit/sf_sink.h"

void sf_predict_options_init(sf_predict_options *o)
{
    memset(o, 0, sizeof *o);
}

/* Output of one segment (or one chunk). */
typedef struct outbuf {
    double *v;          /* n x q */
    double *y;          /* design rows: n responses */
    uint8_t *missing;   /* n */
    size_t n, cap;
    bool done;
    bool failed;        /* the segment stopped at an error: the last one written */
} outbuf;

typedef struct predict_job {
    const sf_pipeline *pl;
    const sf_design *design;    /* sf_design_convert: write its rows as /X and /y */
    uint64_t dropped;
    sf_output what;
    size_t q;
    const size_t *cols;     /* source column of each feature */
    sf_source *src;
    sf_sink *sink;
    char **names;           /* q output names */
    sf_dict *labels;        /* categorical target: class labels in class order */
    outbuf *out;            /* per segment */
    size_t n_seg, next;     /* next segment to write */
    pthread_mutex_t mu;
    uint64_t rows, unpredictable, malformed;
    sf_error write_err;
    sf_status write_st;
} predict_job;

static sf_status outbuf_reserve(outbuf *o, size_t n, size_t q, sf_error *err)
{
    if (o->n + n <= o->cap) return SF_OK;
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->n + n) cap *= 2;
    double *v = realloc(o->v, cap * (q ? q : 1) * sizeof *v);
    if (v) o->v = v;
    uint8_t *m = realloc(o->missing, cap);
    if (m) o->missing = m;
    double *y = realloc(o->y, cap * sizeof *y);
    if (y) o->y = y;
    if (!v || !m || !y) return sfi_nomem(err);
    o->cap = cap;
    return SF_OK;
}

static void outbuf_free(outbuf *o)
{
    free(o->y);
    free(o->v);
    free(o->missing);
    memset(o, 0, sizeof *o);
}

/* The CSR rows of t (a sparse source), predicted into o. */
static sf_status predict_csr_table(predict_job *job, const sf_table *t, outbuf *o, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    size_t q = job->q;
    SF_TRY(outbuf_reserve(o, t->n_rows, q, err));
    sfi_plan pn = {.sparse = true, .p = pl->n_features, .target = 0, .weight = -1, .chunk_rows = t->n_rows};
    sf_block *b = NULL;
    uint64_t none = 0;
    sf_status st = sfi_plan_block(&pn, pn.p, &b, err);
    if (st == SF_OK) st = sfi_sparse_rows(&pn, t, false, b, NULL, &none, sf_source_name(job->src), err);
    if (st == SF_OK) st = sfi_predict_csr(pl, (sfi_output)job->what, b->csr, b->n_rows, o->v + o->n * q, q, err);
    sf_block_free(b);
    if (st != SF_OK) return st;
    memset(o->missing + o->n, 0, t->n_rows);
    o->n += t->n_rows;
    return SF_OK;
}

/* Predicts the rows of t and appends them to o. x is a scratch n x p buffer. */
/* Malformed rows of t that miss marks (none when t has none). */
static uint64_t count_bad(const sf_table *t, const uint8_t *miss)
{
    uint64_t n = 0;
    for (size_t i = 0; t->bad && i < t->n_rows; i++) n += t->bad[i] && miss[i];
    return n;
}

static sf_status predict_table(predict_job *job, const sf_table *t, double **x, size_t *x_cap, outbuf *o,
                               uint64_t *unpredictable, uint64_t *malformed, sf_error *err)
{
    if (job->design) {
        /* the design's rows and responses, dropped rows counted */
        SF_TRY(outbuf_reserve(o, t->n_rows, job->q, err));
        size_t n = 0;
        sf_status st = sf_design_build(job->design, t, o->v + o->n * job->q, job->q,
                                       sf_design_has_response(job->design) ? o->y + o->n : NULL, &n, unpredictable, err);
        if (st != SF_OK && err && !err->where.source[0])
            sfi_strlcpy(err->where.source, sf_source_name(job->src), sizeof err->where.source);
        o->n += st == SF_OK ? n : 0;
        /* a malformed row (every field missing) is among the dropped rows here */
        return st;
    }
    if (t->csr) return predict_csr_table(job, t, o, err);
    size_t p = job->pl->n_features, q = job->q;
    if (*x_cap < t->n_rows) {
        double *nx = realloc(*x, t->n_rows * p * sizeof *nx);
        if (!nx) return sfi_nomem(err);
        *x = nx;
        *x_cap = t->n_rows;
    }
    SF_TRY(outbuf_reserve(o, t->n_rows, q, err));
    size_t k = 0;
    uint8_t *miss = o->missing + o->n;
    if (job->pl->design) {
        /* the design builds the rows it can; the others stay empty */
        uint64_t dropped = 0;
        size_t *rows = malloc(t->n_rows * sizeof *rows);
        if (!rows) return sfi_nomem(err);
        sf_status st = sf_design_build_rows(job->pl->design, t, *x, p, NULL, rows, &k, &dropped, err);
        if (st != SF_OK) {
            free(rows);
            if (err && !err->where.source[0])
                sfi_strlcpy(err->where.source, sf_source_name(job->src), sizeof err->where.source);
            return st;
        }
        memset(miss, 1, t->n_rows);
        for (size_t r = 0; r < k; r++) miss[rows[r]] = 0;
        free(rows);
        uint64_t bad = count_bad(t, miss);
        *malformed += bad;
        *unpredictable += dropped - (bad < dropped ? bad : dropped);
    }
    for (size_t i = 0; i < t->n_rows && !job->pl->design; i++) {
        bool m = t->bad && t->bad[i];
        if (m) (*malformed)++;
        for (size_t j = 0; j < p && !m; j++) m = t->cols[job->cols[j]].missing[i];
        miss[i] = m;
        if (m) {
            *unpredictable += !(t->bad && t->bad[i]);
            continue;
        }
        for (size_t j = 0; j < p; j++) (*x)[k * p + j] = t->cols[job->cols[j]].values[i];
        k++;
    }
    /* predict the complete rows, then spread them back over their places */
    double *dst = o->v + o->n * q;
    sf_status st = sf_pipeline_predict_as(job->pl, job->what, *x, k, p, p, dst, q, err);
    if (st != SF_OK) return st;
    for (size_t i = t->n_rows; i-- > 0;) {
        if (miss[i]) {
            for (size_t m = 0; m < q; m++) dst[i * q + m] = NAN;
            continue;
        }
        k--;
        if (k != i) memmove(dst + i * q, dst + k * q, q * sizeof *dst);
    }
    o->n += t->n_rows;
    return SF_OK;
}

/* Writes o's rows to the sink as a table (a category column for class labels). */
static sf_status write_out(predict_job *job, const outbuf *o, sf_error *err)
{
    if (o->n == 0) return SF_OK;
    if (job->design) {
        SF_TRY(sf_sink_write_matrix(job->sink, "X", o->v, o->n, job->q, job->q, (const char *const *)job->names, err));
        if (!sf_design_has_response(job->design)) return SF_OK;
        return sf_sink_write_matrix(job->sink, "y", o->y, o->n, 0, 0, NULL, err);
    }
    size_t q = job->q;
    sf_coltype *types = malloc(q * sizeof *types);
    if (!types) return sfi_nomem(err);
    for (size_t m = 0; m < q; m++) types[m] = job->labels ? SF_COL_CATEGORY : SF_COL_FLOAT;
    sf_dict *dicts[1] = {job->labels};
    sf_table *t = NULL;
    sf_status st = sf_table_new(&t, q, types, (const char *const *)job->names, job->labels ? dicts : NULL,
                                o->n, err);
    free(types);
    if (st != SF_OK) return st;
    for (size_t i = 0; i < o->n; i++)
        for (size_t m = 0; m < q; m++) {
            sf_column *c = &t->cols[m];
            double v = o->v[i * q + m];
            c->missing[i] = o->missing[i] || isnan(v);
            if (job->labels) c->codes[i] = c->missing[i] ? -1 : (int32_t)v;
            else c->values[i] = v;
        }
    t->n_rows = o->n;
    st = sf_sink_write_table(job->sink, t, err);
    sf_table_free(t);
    return st;
}

/* Writes every finished segment that is due, in order; called with mu held. A
 * failed segment's rows are the last written. */
static void write_due(predict_job *job)
{
    while (job->write_st == SF_OK && job->next < job->n_seg && job->out[job->next].done) {
        bool failed = job->out[job->next].failed;
        job->write_st = write_out(job, &job->out[job->next], &job->write_err);
        outbuf_free(&job->out[job->next]);
        job->next = failed ? job->n_seg : job->next + 1;
    }
}

static sf_status predict_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    predict_job *job = ctx;
    sf_source *src = NULL;
    SF_TRY(sf_source_open_segment(job->src, seg, &src, err));
    outbuf o = {0};
    double *x = NULL;
    size_t x_cap = 0;
    uint64_t rows = 0, unpredictable = 0, malformed = 0;
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(src, &t, err)) == SF_OK) {
        rows += t->n_rows;
        if ((st = predict_table(job, t, &x, &x_cap, &o, &unpredictable, &malformed, err)) != SF_OK) break;
    }
    sf_source_close(src);
    free(x);
    /* an error: the rows before it are handed over and written all the same */
    pthread_mutex_lock(&job->mu);
    o.done = true;
    o.failed = st != SF_END;
    job->out[seg] = o;
    job->rows += rows;
    job->unpredictable += unpredictable;
    job->malformed += malformed;
    write_due(job);
    if (st == SF_END) {
        st = job->write_st;
        if (st != SF_OK && err) *err = job->write_err;
    }
    pthread_mutex_unlock(&job->mu);
    return st;
}

static sf_status predict_stream(predict_job *job, sf_error *err)
{
    outbuf o = {0};
    double *x = NULL;
    size_t x_cap = 0;
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(job->src, &t, err)) == SF_OK) {
        job->rows += t->n_rows;
        o.n = 0;
        st = predict_table(job, t, &x, &x_cap, &o, &job->unpredictable, &job->malformed, err);
        if (st == SF_OK) st = write_out(job, &o, err);
        if (st == SF_OK) st = sf_sink_flush(job->sink, err);
        if (st != SF_OK) break;
    }
    outbuf_free(&o);
    free(x);
    return st == SF_END ? SF_OK : st;
}

/* Output names: the target or "prediction", proba_<class>, decision[_<class>],
 * distance_<j>, or prediction/se/lower/upper; a transformer keeps the feature
 * names while the width is unchanged. */
static sf_status output_names(predict_job *job, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    size_t q = job->q;
    job->names = calloc(q, sizeof *job->names);
    if (!job->names) return sfi_nomem(err);
    static const char *const interval[4] = {"prediction", "se", "lower", "upper"};
    for (size_t m = 0; m < q; m++) {
        char cls[64] = "";
        if (pl->n_classes > m) {
            if (pl->class_labels) snprintf(cls, sizeof cls, "%s", pl->class_labels[m]);
            else snprintf(cls, sizeof cls, "%.17g", pl->classes[m]);
        }
        int r = 0;
        switch (job->what) {
        case SF_OUTPUT_PREDICT:
            if (!last->estimator && q == pl->n_features) r = asprintf(&job->names[m], "%s", pl->features[m]);
            else if (!last->estimator) r = asprintf(&job->names[m], "x%zu", m);
            else if (last->unsupervised) r = asprintf(&job->names[m], "cluster");
            else r = asprintf(&job->names[m], "%s", *pl->target && q == 1 ? pl->target : "prediction");
            break;
        case SF_OUTPUT_PROBA: r = asprintf(&job->names[m], "proba_%s", cls); break;
        case SF_OUTPUT_DECISION:
            r = q == 1 ? asprintf(&job->names[m], "decision") : asprintf(&job->names[m], "decision_%s", cls);
            break;
        case SF_OUTPUT_TRANSFORM: r = asprintf(&job->names[m], "distance_%zu", m); break;
        case SF_OUTPUT_INTERVAL: r = asprintf(&job->names[m], "%s", m < 4 ? interval[m] : "x"); break;
        }
        if (r < 0) {
            job->names[m] = NULL;
            return sfi_nomem(err);
        }
    }
    return SF_OK;
}

static sf_status find_columns(predict_job *job, size_t *cols, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    sf_where w;
    sfi_where_init(&w, sf_source_name(job->src));
    for (size_t j = 0; j < pl->n_features; j++) {
        long c = sf_source_column_index(job->src, pl->features[j]);
        if (c < 0) return sfi_fail(err, SF_ERR_ARG, &w, "the model needs a column \"%s\"", pl->features[j]);
        if (sf_source_column_type(job->src, (size_t)c) != SF_COL_FLOAT)
            return sfi_fail(err, SF_ERR_ARG, &w, "the model needs column \"%s\" to be numeric", pl->features[j]);
        cols[j] = (size_t)c;
    }
    return SF_OK;
}

static sf_status make_labels(predict_job *job, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    if (!pl || !pl->class_labels || job->what != SF_OUTPUT_PREDICT) return SF_OK;
    SF_TRY(sf_dict_new(&job->labels, pl->n_classes + 1, err));
    for (size_t i = 0; i < pl->n_classes; i++) {
        int32_t code;
        SF_TRY(sf_dict_intern(job->labels, pl->class_labels[i], strlen(pl->class_labels[i]), &code, err));
    }
    return SF_OK;
}

/* Runs job over its source: in order on the pool's workers, or chunk by chunk. */
static sf_status run_job(predict_job *job, size_t threads, sf_error *err)
{
    size_t n_seg = 1;
    SF_TRY(sf_source_n_segments(job->src, &n_seg, err));
    if (n_seg <= 1) return predict_stream(job, err);
    sf_pool *pool = NULL;
    job->n_seg = n_seg;
    job->out = calloc(n_seg, sizeof *job->out);
    pthread_mutex_init(&job->mu, NULL);
    sf_status st = job->out ? sf_pool_new(&pool, threads, err) : sfi_nomem(err);
    if (st == SF_OK) st = sf_pool_run(pool, n_seg, predict_segment, job, err);
    for (size_t g = 0; job->out && g < n_seg; g++) outbuf_free(&job->out[g]);
    free(job->out);
    job->out = NULL;
    pthread_mutex_destroy(&job->mu);
    sf_pool_free(pool);
    return st;
}

sf_status sf_design_convert(const sf_design *d, sf_source *src, sf_sink *sink, size_t threads, uint64_t *rows_out,
                            uint64_t *dropped, sf_error *err)
{
    if (!d || !src || !sink) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_design_convert: NULL argument");
    if (!sf_design_is_finished(d)) return sfi_fail(err, SF_ERR_STATE, NULL, "finish the design first");
    predict_job job = {.design = d, .src = src, .sink = sink, .q = sf_design_n_columns(d)};
    job.names = calloc(job.q ? job.q : 1, sizeof *job.names);
    if (!job.names) return sfi_nomem(err);
    for (size_t j = 0; j < job.q; j++) job.names[j] = (char *)sf_design_column_name(d, j);
    sf_status st = run_job(&job, threads, err);
    free(job.names);
    if (rows_out) *rows_out = job.rows;
    if (dropped) *dropped = job.unpredictable;
    return st;
}

sf_status sf_pipeline_predict(const sf_pipeline *pl, sf_source *src, sf_sink *sink, const sf_predict_options *opt,
                              sf_predict_stats *stats, sf_error *err)
{
    if (!pl || !src || !sink) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_predict: NULL argument");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    sf_predict_options o;
    if (opt) o = *opt;
    else sf_predict_options_init(&o);
    predict_job job = {.pl = pl, .what = o.what, .src = src, .sink = sink};
    job.q = sf_pipeline_n_outputs_as(pl, o.what);
    if (job.q == 0)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s does not give that output",
                        pl->ops[pl->n_stages - 1]->kind);
    size_t *cols = calloc(pl->n_features, sizeof *cols);
    if (!cols) return sfi_nomem(err);
    job.cols = cols;
    sf_status st = SF_OK;
    /* sparse (svmlight) data for a model fitted on it, and only then */
    sf_where w;
    sfi_where_init(&w, sf_source_name(src));
    bool sparse = sf_source_n_sparse_features(src) > 0;
    if (sparse != pl->sparse)
        st = sfi_fail(err, SF_ERR_ARG, &w, pl->sparse ? "this model was fitted on sparse (svmlight) data"
                                                      : "this model was fitted on columns, not on sparse (svmlight) data");
    if (st == SF_OK && sparse && !pl->ops[pl->n_stages - 1]->output_csr)
        st = sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "predict on sparse data needs an estimator last");
    if (st == SF_OK && !pl->design && !sparse) st = find_columns(&job, cols, err);
    if (st == SF_OK) st = output_names(&job, err);
    if (st == SF_OK) st = make_labels(&job, err);
    if (st == SF_OK) st = run_job(&job, o.threads, err);
    if (stats) {
        stats->rows = job.rows;
        stats->unpredictable = job.unpredictable;
        stats->malformed = job.malformed;
    }
    for (size_t m = 0; job.names && m < job.q; m++) free(job.names[m]);
    free(job.names);
    sf_dict_free(job.labels);
    free(cols);
    return st;
}

/* True when name is an identifier of expr ("y" in "np.log(y)", not in "y2"). */
static bool names_in(const char *expr, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = expr ? strstr(expr, name) : NULL; p; p = strstr(p + 1, name)) {
        bool before = p > expr && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.');
        bool after = isalnum((unsigned char)p[n]) || p[n] == '_';
        if (!before && !after) return true;
    }
    return false;
}

/* Appends "?name=type" to s (capacity cap, length *k); a name holding the
 * syntax's ',' or '=' cannot be named and is left to inference. */
static void add_type(char *s, size_t cap, size_t *k, const char *name, const char *type)
{
    if (strpbrk(name, ",=")) return;
    *k += (size_t)snprintf(s + *k, cap - *k, "%s?%s=%s", *k ? "," : "", name, type);
}

sf_status sf_pipeline_input_types(const sf_pipeline *pl, bool with_target, char **out, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_input_types: NULL out");
    *out = NULL;
    if (!pl) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_input_types: NULL pipeline");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    if (pl->sparse) { /* svmlight rows: no named columns to type */
        *out = calloc(1, 1);
        return *out ? SF_OK : sfi_nomem(err);
    }
    const sf_design *d = pl->design;
    size_t cap = 16 + strlen(pl->target) + 16;
    for (size_t j = 0; !d && j < pl->n_features; j++) cap += strlen(pl->features[j]) + 16;
    for (size_t j = 0; d && j < d->n_cols; j++) cap += strlen(d->cols[j].name) + 16;
    char *s = malloc(cap);
    if (!s) return sfi_nomem(err);
    size_t k = 0;
    s[0] = '\0';
    if (d) {
        /* the columns the design was bound to, as they were; without the target,
         * not a column the response alone names (predict input may lack it or
         * hold anything there) */
        const char *response = sf_design_response_name(d);
        for (size_t j = 0; j < d->n_cols; j++) {
            const ucol *c = &d->cols[j];
            if (!with_target && names_in(response, c->name)) continue;
            add_type(s, cap, &k, c->name, c->is_category ? "category" : c->is_integer ? "int" : "float");
        }
    } else {
        for (size_t j = 0; j < pl->n_features; j++) add_type(s, cap, &k, pl->features[j], "float");
        if (with_target && *pl->target) add_type(s, cap, &k, pl->target, pl->class_labels ? "category" : "float");
    }
    *out = s;
    return SF_OK;
}
