/* fit.c — fitting and updating a pipeline, pass by pass.
 *
 * Stage by stage (scikit-learn's Pipeline semantics): stage k learns on blocks that
 * went through the already-fitted stages before it, in as many passes as it asks
 * for (end_pass sets *again: epochs, refinement, a residual pass). A pass is either
 *  - merged: every segment of the source gets a fresh partial state (clone_empty of
 *    the stage, made after begin_pass) on the pool's threads, and the partial states
 *    are merged into the stage in segment order. Segments are fixed by the data, so
 *    the result is bitwise the same for any thread count; or
 *  - in order: the stage itself learns on the whole source in data order.
 * The first pass of a fit also counts rows and, when the last stage is a
 * classifier, discovers its classes (a pass of its own only when the classifier is
 * the first stage and the spec names no classes).
 *
 * Memory: each worker holds one chunk and three blocks of chunk_rows rows.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/source_impl.h"
#include "pipeline/cache.h"
#include "pipeline/pipeline_impl.h"
#include "streamfit/sf_pool.h"

enum { MAX_CLASSES = 10000, MAX_PASSES = 100000 };

void sf_fit_options_init(sf_fit_options *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- class discovery ---- */

/* A sorted set of numbers, or of labels (then v is unused). */
typedef struct classset {
    double *v;
    char **s;
    size_t n, cap;
} classset;

static void classset_free(classset *c)
{
    for (size_t i = 0; c->s && i < c->n; i++) free(c->s[i]);
    free(c->s);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static sf_status classset_grow(classset *c, bool labels, const char *column, sf_error *err)
{
    if (c->n < c->cap) return SF_OK;
    if (c->n >= MAX_CLASSES)
        return sfi_fail(err, SF_ERR_PARSE, NULL, "target \"%s\" has more than %d distinct values: "
                        "not class labels (use a regressor?)", column, MAX_CLASSES);
    size_t cap = c->cap ? 2 * c->cap : 8;
    if (labels) {
        char **s = realloc(c->s, cap * sizeof *s);
        if (!s) return sfi_nomem(err);
        c->s = s;
    } else {
        double *v = realloc(c->v, cap * sizeof *v);
        if (!v) return sfi_nomem(err);
        c->v = v;
    }
    c->cap = cap;
    return SF_OK;
}

static sf_status classset_add_value(classset *c, double x, const char *column, sf_error *err)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->v[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    if (lo < c->n && c->v[lo] == x) return SF_OK;
    SF_TRY(classset_grow(c, false, column, err));
    memmove(c->v + lo + 1, c->v + lo, (c->n - lo) * sizeof *c->v);
    c->v[lo] = x;
    c->n++;
    return SF_OK;
}

/* Index of label s in a sorted label array, or -1 (byte order: numpy's order of
 * str for ASCII and code-point order for UTF-8). */
static long label_index(char *const *labels, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(labels[mid], s);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -(long)lo - 2; /* insertion point encoded below -1 */
}

static sf_status classset_add_label(classset *c, const char *s, const char *column, sf_error *err)
{
    long at = label_index(c->s, c->n, s);
    if (at >= 0) return SF_OK;
    size_t lo = (size_t)(-(at + 2));
    SF_TRY(classset_grow(c, true, column, err));
    char *copy = strdup(s);
    if (!copy) return sfi_nomem(err);
    memmove(c->s + lo + 1, c->s + lo, (c->n - lo) * sizeof *c->s);
    c->s[lo] = copy;
    c->n++;
    return SF_OK;
}

static sf_status classset_merge(classset *dst, const classset *src, bool labels, const char *column,
                                sf_error *err)
{
    for (size_t i = 0; i < src->n; i++)
        SF_TRY(labels ? classset_add_label(dst, src->s[i], column, err)
                      : classset_add_value(dst, src->v[i], column, err));
    return SF_OK;
}

static sf_status add_feature(sfi_plan *pn, const sf_source *src, const char *name,
                             size_t nc, const sf_where *w, sf_error *err)
{
    long c = sf_source_column_index(src, name);
    if (c < 0) return sfi_fail(err, SF_ERR_ARG, w, "no column \"%s\"", name);
    if (sf_source_column_type(src, (size_t)c) != SF_COL_FLOAT)
        return sfi_fail(err, SF_ERR_ARG, w, "column \"%s\" is categorical: use a formula with C(%s)",
                        name, name);
    for (size_t j = 0; j < pn->p; j++)
        if (pn->cols[j] == (size_t)c) return sfi_fail(err, SF_ERR_ARG, w, "column \"%s\" given twice", name);
    if (pn->p == nc) return sfi_fail(err, SF_ERR_ARG, w, "too many columns");
    pn->cols[pn->p++] = (size_t)c;
    return SF_OK;
}

/* Resolves target, weight and features. names (n of them) fixes the features (an
 * update); otherwise o->columns, or every numeric column but target and weight. */
sf_status sfi_make_plan(sf_pipeline *pl, const sf_source *src, const sf_fit_options *o,
                           const char *target, char *const *names, size_t n_names, sfi_plan *pn,
                           sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, sf_source_name(src));
    bool fitted_cols = names || n_names;
    if (fitted_cols && pl->sparse != (sf_source_n_sparse_features(src) > 0))
        return sfi_fail(err, SF_ERR_ARG, &w, pl->sparse ? "this model was fitted on sparse (svmlight) data"
                                                        : "this model was fitted on columns, not on sparse (svmlight) data");
    if (sf_source_n_sparse_features(src)) {
        if (target && *target && strcmp(target, "y") != 0)
            return sfi_fail(err, SF_ERR_ARG, &w, "the target of svmlight data is its label: drop --target");
        return sfi_sparse_plan(pl, src, o, fitted_cols ? n_names : 0, pn, err);
    }
    size_t nc = sf_source_n_columns(src);
    memset(pn, 0, sizeof *pn);
    pn->target = pn->weight = -1;
    pn->chunk_rows = src->opt.chunk_rows;
    pn->target_name = target;
    if (pl->design) {
        /* the design builds features and response from the table; weights come
         * from their column, lined up by the rows the design built */
        if (o->weight && (pn->weight = sf_source_column_index(src, o->weight)) < 0)
            return sfi_fail(err, SF_ERR_ARG, &w, "no weight column \"%s\"", o->weight);
        if (pn->weight >= 0 && sf_source_column_type(src, (size_t)pn->weight) != SF_COL_FLOAT)
            return sfi_fail(err, SF_ERR_ARG, &w, "weight column \"%s\" is not numeric", o->weight);
        pn->design = pl->design;
        pn->p = sf_design_n_columns(pl->design);
        pn->target = sf_design_has_response(pl->design) ? 0 : -1;
        pn->target_name = sf_design_response_name(pl->design);
        pn->cols = calloc(1, sizeof *pn->cols);
        if (!pn->cols) return sfi_nomem(err);
        if (pn->p == 0) return sfi_fail(err, SF_ERR_ARG, &w, "the formula gives no design columns");
        return SF_OK;
    }
    if (target && *target && (pn->target = sf_source_column_index(src, target)) < 0)
        return sfi_fail(err, SF_ERR_ARG, &w, "no target column \"%s\"", target);
    if (o->weight && (pn->weight = sf_source_column_index(src, o->weight)) < 0)
        return sfi_fail(err, SF_ERR_ARG, &w, "no weight column \"%s\"", o->weight);
    if (pn->weight >= 0 && sf_source_column_type(src, (size_t)pn->weight) != SF_COL_FLOAT)
        return sfi_fail(err, SF_ERR_ARG, &w, "weight column \"%s\" is not numeric", o->weight);
    pn->cols = calloc(nc ? nc : 1, sizeof *pn->cols);
    if (!pn->cols) return sfi_nomem(err);
    if (names) {
        for (size_t j = 0; j < n_names; j++) SF_TRY(add_feature(pn, src, names[j], nc, &w, err));
    } else if (o->columns && *o->columns) {
        for (const char *q = o->columns; *q;) {
            const char *e = strchr(q, ',');
            size_t n = e ? (size_t)(e - q) : strlen(q);
            char name[256];
            if (n >= sizeof name) return sfi_fail(err, SF_ERR_ARG, &w, "column name too long");
            memcpy(name, q, n);
            name[n] = '\0';
            SF_TRY(add_feature(pn, src, name, nc, &w, err));
            q = e ? e + 1 : q + n;
        }
    } else {
        for (size_t c = 0; c < nc; c++)
            if ((long)c != pn->target && (long)c != pn->weight && sf_source_column_type(src, c) == SF_COL_FLOAT)
                pn->cols[pn->p++] = c;
    }
    if (pn->p == 0) return sfi_fail(err, SF_ERR_ARG, &w, "no numeric feature columns");
    if (pn->target >= 0 && sf_source_column_type(src, (size_t)pn->target) != SF_COL_FLOAT) {
        const sfi_stage_ops *last = pl->n_stages ? pl->ops[pl->n_stages - 1] : NULL;
        if (!last || !last->classifier)
            return sfi_fail(err, SF_ERR_ARG, &w, "target \"%s\" is categorical: it needs a classifier",
                            target);
        pn->target_labels = true;
    }
    return SF_OK;
}

static sf_status remember_columns(sf_pipeline *pl, const sf_source *src, const sfi_plan *pn, const char *target,
                                  sf_error *err)
{
    if (pn->sparse) {
        /* CSR columns have no names; the model keeps their number */
        pl->sparse = true;
        pl->n_features = pn->p;
        pl->target = strdup("y");
        return pl->target ? SF_OK : sfi_nomem(err);
    }
    pl->features = calloc(pn->p, sizeof *pl->features);
    if (!pl->features) return sfi_nomem(err);
    pl->n_features = pn->p;
    for (size_t j = 0; j < pn->p; j++) {
        const char *name = pn->design ? sf_design_column_name(pn->design, j) : sf_source_column_name(src, pn->cols[j]);
        if (!(pl->features[j] = strdup(name))) return sfi_nomem(err);
    }
    if (pn->design) target = pn->target_name;
    pl->target = strdup(target ? target : "");
    return pl->target ? SF_OK : sfi_nomem(err);
}

/* ---- one pass ---- */

/* ---- progress ---- */

typedef struct progress {
    sf_progress_fn fn;
    void *ctx;
    sf_progress now;        /* stage, kind, pass of the running pass */
    atomic_uint_fast64_t rows, bytes;
    pthread_mutex_t mu;
    double last;
} progress;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_tell(progress *pg, bool done)
{
    if (!pg || !pg->fn) return;
    if (done) pthread_mutex_lock(&pg->mu);
    else if (pthread_mutex_trylock(&pg->mu) != 0) return;
    double t = mono_now();
    if (done || t - pg->last >= 0.2) {
        sf_progress p = pg->now;
        p.rows = atomic_load(&pg->rows);
        p.bytes = atomic_load(&pg->bytes);
        p.done = done;
        pg->fn(pg->ctx, &p);
        pg->last = t;
    }
    pthread_mutex_unlock(&pg->mu);
}

static void progress_add(progress *pg, uint64_t rows, uint64_t bytes)
{
    if (!pg || !pg->fn) return;
    atomic_fetch_add(&pg->rows, rows);
    atomic_fetch_add(&pg->bytes, bytes);
    progress_tell(pg, false);
}

typedef struct pass_job {
    sf_pipeline *pl;
    size_t stage;           /* the stage learning, or n_stages for a discovery-only pass */
    bool merged;            /* a partial state per segment; else pl->states[stage] learns */
    const sfi_plan *pn;
    sf_source *src;
    bool whole;             /* read src itself (one segment) */
    void **partials;        /* per segment */
    /* merged passes: segment g's partial state is merged into the stage (and
     * freed) as soon as it and every segment before it are read, in segment
     * order as before, so at most about one partial per worker is alive
     * (Decision 11: memory must not grow with the number of segments) */
    pthread_mutex_t merge_mu;
    void *templ;            /* clone_empty of the stage before any merge: every
                             * segment's partial is cloned from it, as the stage
                             * changes while the pass merges */
    bool *read_done;        /* per segment */
    size_t merged_upto;     /* segments [0, merged_upto) are merged */
    uint64_t *seen, *dropped;
    classset *found;        /* per segment, when discovering classes */
    size_t max_width;
    size_t n_seg;
    bool ahead;             /* in order with read-ahead (run_ordered) */
    struct rbufs *wb;       /* per pool worker: its block and stage buffers, kept
                             * from segment to segment (no fresh pages a segment) */
    sfi_cache *cache;       /* written by the first pass, read by the later ones */
    progress *prog;
    const size_t *order;    /* in-order passes: the segments in visiting order; NULL = 0, 1, … */
    unsigned pass;          /* the learning stage's pass */
    sf_loss_fn loss;        /* progressive validation: told after each learned block */
    void *loss_ctx;
    double loss_at[4];      /* the stage's pass_losses sums at the last report */
} pass_job;

/* Collects the distinct targets of t's usable rows into c. */
static sf_status discover(const sfi_plan *pn, const sf_table *t, classset *c, sf_error *err)
{
    const sf_column *col = &t->cols[pn->target];
    if (!pn->target_labels) {
        double last = NAN;
        for (size_t i = 0; i < t->n_rows; i++) {
            double v = col->values[i];
            if (col->missing[i] || v == last) continue;
            SF_TRY(classset_add_value(c, v, pn->target_name, err));
            last = v;
        }
        return SF_OK;
    }
    size_t nd = sf_dict_size(col->dict);
    uint8_t *seen = calloc(nd ? nd : 1, 1);
    if (!seen) return sfi_nomem(err);
    for (size_t i = 0; i < t->n_rows; i++)
        if (col->codes[i] >= 0 && (size_t)col->codes[i] < nd) seen[col->codes[i]] = 1;
    sf_status st = SF_OK;
    for (size_t k = 0; k < nd && st == SF_OK; k++)
        if (seen[k]) st = classset_add_label(c, sf_dict_label(col->dict, k, NULL), pn->target_name, err);
    free(seen);
    return st;
}

/* Rows [0, t->n_rows) of columns cols[0..p) of t into x (row stride ld): the
 * tiled transpose of sfi_gather_cols, up to 64 columns at a time. */
void sfi_gather_rows(const sf_table *t, const size_t *cols, size_t p, double *x, size_t ld)
{
    const void *v[64];
    for (size_t j0 = 0; j0 < p; j0 += 64) {
        size_t m = p - j0 < 64 ? p - j0 : 64;
        for (size_t j = 0; j < m; j++) v[j] = t->cols[cols[j0 + j]].values;
        (void)sfi_gather_cols(v, m, t->n_rows, x + j0, ld);
    }
}

/* Copies the usable rows of t into b; counts dropped rows (a missing feature,
 * target or weight: patsy's NA_action="drop", Decision 13). A categorical target
 * becomes the index of its label among the pipeline's classes (NaN while they are
 * not known yet); a label outside them is an error naming the row. */
sf_status sfi_table_to_block(const sf_pipeline *pl, const sfi_plan *pn, const sf_table *t, sf_block *b,
                                uint64_t *dropped, const char *source, sf_error *err)
{
    if (pn->sparse) return sfi_sparse_rows(pn, t, true, b, NULL, dropped, source, err);
    if (pn->design) {
        size_t n = 0, *rows = NULL;
        if (pn->weight >= 0 && !(rows = malloc((t->n_rows ? t->n_rows : 1) * sizeof *rows))) return sfi_nomem(err);
        sf_status st = sf_design_build_rows(pn->design, t, b->x, b->ld, b->y, rows, &n, dropped, err);
        if (st != SF_OK && err && !err->where.source[0]) sfi_strlcpy(err->where.source, source, sizeof err->where.source);
        if (st == SF_OK && rows) {
            /* a row with a missing weight is dropped too */
            const sf_column *wc = &t->cols[pn->weight];
            size_t k = 0;
            for (size_t r = 0; r < n; r++) {
                if (wc->missing[rows[r]]) {
                    (*dropped)++;
                    continue;
                }
                if (k != r) {
                    memmove(b->x + k * b->ld, b->x + r * b->ld, pn->p * sizeof *b->x);
                    if (b->y) b->y[k] = b->y[r];
                }
                b->w[k++] = wc->values[rows[r]];
            }
            n = k;
        }
        free(rows);
        b->n_rows = st == SF_OK ? n : 0;
        b->first_row = t->first_row;
        return st;
    }
    /* the common case: nothing missing, a numeric target: a column-wise gather */
    bool complete = !pn->target_labels;
    for (size_t j = 0; j < pn->p && complete; j++) complete = !memchr(t->cols[pn->cols[j]].missing, 1, t->n_rows);
    if (complete && pn->target >= 0) complete = !memchr(t->cols[pn->target].missing, 1, t->n_rows);
    if (complete && pn->weight >= 0) complete = !memchr(t->cols[pn->weight].missing, 1, t->n_rows);
    if (complete) {
        sfi_gather_rows(t, pn->cols, pn->p, b->x, b->ld);
        if (b->y) memcpy(b->y, t->cols[pn->target].values, t->n_rows * sizeof *b->y);
        if (b->w) memcpy(b->w, t->cols[pn->weight].values, t->n_rows * sizeof *b->w);
        b->n_rows = t->n_rows;
        b->first_row = t->first_row;
        return SF_OK;
    }
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
        if (b->y && !pn->target_labels) b->y[k] = t->cols[pn->target].values[i];
        if (b->y && pn->target_labels) {
            b->y[k] = NAN;
            if (pl->class_labels) {
                const sf_column *col = &t->cols[pn->target];
                const char *label = sf_dict_label(col->dict, (size_t)col->codes[i], NULL);
                long at = label_index(pl->class_labels, pl->n_classes, label);
                if (at < 0) {
                    sf_where w;
                    sfi_where_init(&w, source);
                    w.row = sf_table_row(t, i);
                    w.line = t->line ? t->line[i] : 0;
                    return sfi_fail(err, SF_ERR_PARSE, &w, "class \"%s\" of target \"%s\" was not seen "
                                    "when the model was fitted", label, pn->target_name);
                }
                b->y[k] = (double)at;
            }
        }
        if (b->w) b->w[k] = t->cols[pn->weight].values[i];
        k++;
    }
    b->n_rows = k;
    b->first_row = t->first_row;
    return SF_OK;
}

struct ordered;

/* Reads segment seg (or the whole source), counts rows, discovers classes, runs
 * the blocks through the stages before job->stage and hands each to `learn`. */
typedef struct rbufs rbufs;
typedef sf_status (*learn_fn)(pass_job *job, size_t seg, void *state, const sf_block *b, rbufs *rb,
                              const char *source, sf_error *err);

/* A reader's buffers: the block it reads into and the two its stages write into
 * by turns (CSR rows: into a scratch of their values, in learn_block). Dense ones
 * all hold chunk_rows x max_width doubles. In an in-order pass the last stage
 * before the learner writes straight into a queue block (so that buffer is not
 * made), and with no stage before, the reader's block changes places with a
 * free queue block (queue_block). */
struct rbufs {
    sf_block *b;
    double *buf[2];
    size_t width;           /* doubles a row each dense buffer has room for */
    struct qitem *taken;    /* in-order passes: the queue block the stages write to */
};

static void rbufs_free(rbufs *rb)
{
    sf_block_free(rb->b);
    free(rb->buf[0]);
    free(rb->buf[1]);
    memset(rb, 0, sizeof *rb);
}

/* Gives rb its buffers for job (kept when it has them). */
static sf_status rbufs_make(pass_job *job, rbufs *rb, sf_error *err)
{
    const sfi_plan *pn = job->pn;
    bool stages = job->stage < job->pl->n_stages && job->stage > 0 && !pn->sparse;
    if (rb->b && (!rb->b->csr != !pn->sparse || (!pn->sparse && rb->width < job->max_width))) rbufs_free(rb);
    rb->width = job->max_width;
    if (!rb->b) {
        SF_TRY(sfi_plan_block(pn, pn->sparse ? pn->p : job->max_width, &rb->b, err));
        if (!pn->sparse) rb->b->n_cols = rb->b->ld = pn->p;
    }
    for (size_t i = 0; stages && i < 2 && i < job->stage; i++)
        if (!rb->buf[i] && !(job->ahead && i == (job->stage - 1) % 2) &&
            !(rb->buf[i] = malloc(pn->chunk_rows * job->max_width * sizeof *rb->buf[i])))
            return sfi_nomem(err);
    return SF_OK;
}

/* A learning stage's error: the stage numbered and named, and, unless it already
 * points into the data, the source named (the row the stage counted is within
 * its block: not the data's). Every path that calls a stage's partial_fit uses
 * this, so an error reads the same for any thread count (read-ahead learns on a
 * thread of its own). */
static void blame_stage(const pass_job *job, const char *source, sf_error *err)
{
    if (!err || err->where.source[0] != '\0') return;
    sfi_error_prefix(err, "stage %zu (%s)", job->stage + 1, job->pl->ops[job->stage]->kind);
    sfi_strlcpy(err->where.source, source, sizeof err->where.source);
    err->where.row = 0;
}

typedef struct ordered ordered;
typedef struct qitem { /* a queue block of an in-order pass */
    sf_block *b;
    struct qitem *next;
} qitem;
static sf_status queue_take(pass_job *job, ordered *o, size_t seg, qitem **out, sf_error *err);
static void queue_put_back(ordered *o, qitem *it);

/* Runs b through the stages before job->stage and hands it to learn. */
static sf_status learn_block(pass_job *job, size_t seg, void *state, learn_fn learn, rbufs *rb, const char *source,
                             sf_error *err)
{
    sf_pipeline *pl = job->pl;
    const sf_block *b = rb->b;
    sf_block view = *b;
    if (b->csr) {
        /* the stages before rewrite the values; the structure is the block's */
        double *scratch = NULL;
        size_t cap = 0;
        sf_csr xs;
        sf_status st = sfi_run_stages_csr(pl, job->stage, b->csr, b->n_rows, &scratch, &cap, &xs, err);
        view.csr = &xs;
        if (st == SF_OK) st = learn(job, seg, state, &view, rb, source, err);
        free(scratch);
        if (st != SF_OK) blame_stage(job, source, err);
        return st;
    }
    const double *x;
    size_t p, ld;
    double *bufs[2] = {rb->buf[0], rb->buf[1]};
    if (job->ahead && job->stage > 0) {
        /* the last stage writes into the queue block (stages write buf1, buf2, buf1, …) */
        SF_TRY(queue_take(job, state, seg, &rb->taken, err));
        bufs[(job->stage - 1) % 2] = rb->taken->b->x;
    }
    sf_status st = sfi_run_stages(pl, job->stage, b->x, b->n_rows, b->n_cols, b->ld, bufs[0], bufs[1],
                                  job->max_width, &x, &p, &ld, err);
    view.x = (double *)x;
    view.n_cols = p;
    view.ld = ld;
    if (st == SF_OK) {
        st = learn(job, seg, state, &view, rb, source, err);
        if (st != SF_OK) blame_stage(job, source, err);
    }
    if (rb->taken) { /* not queued: a stage failed */
        queue_put_back(state, rb->taken);
        rb->taken = NULL;
    }
    return st;
}

/* A merged pass hands a stage that takes_parts its chunks in parts of at most
 * PART_BYTES of features: the reader writes a part and the stage reads it while
 * it is still in the core's cache (a 50,000 x 20 chunk is 8 MB: written out to
 * memory by the gather and read back by the stage; in parts the 2M x 20 scaler
 * pass took 0.119 / 0.075 s on 1 / 2 threads instead of 0.129 / 0.082 s, the
 * deflate-1 one 0.453 instead of 0.488 s). The parts divide chunk_rows, so they fall
 * on the same rows whether a chunk comes as rows or as a table; they depend on
 * the options and the plan only, never on the threads. */
#define PART_BYTES (1u << 20)

SFI_FUNC size_t sfi_part_rows(size_t chunk_rows, size_t p);
size_t sfi_part_rows(size_t chunk_rows, size_t p)
{
    size_t bytes = chunk_rows * (p ? p : 1) * sizeof(double);
    if (bytes <= PART_BYTES) return 0;
    for (size_t m = (bytes + PART_BYTES - 1) / PART_BYTES; m <= chunk_rows / 512; m++)
        if (chunk_rows % m == 0) return chunk_rows / m;
    return 0; /* no divisor leaves parts of 512 rows or more: whole chunks */
}

/* learn_block over rb->b in parts of part rows (0: whole). */
static sf_status learn_parts(pass_job *job, size_t seg, void *state, learn_fn learn, rbufs *rb, size_t part,
                             const char *source, sf_error *err)
{
    sf_block *whole = rb->b;
    if (!part || whole->csr || whole->n_rows <= part) return learn_block(job, seg, state, learn, rb, source, err);
    sf_status st = SF_OK;
    for (size_t at = 0; at < whole->n_rows && st == SF_OK; at += part) {
        sf_block v = *whole;
        v.n_rows = whole->n_rows - at < part ? whole->n_rows - at : part;
        v.capacity = whole->capacity - at;
        v.x = whole->x + at * whole->ld;
        v.y = whole->y ? whole->y + at : NULL;
        v.w = whole->w ? whole->w + at : NULL;
        v.first_row = whole->first_row + at;
        rb->b = &v; /* a merged pass: learn_block takes no queue block */
        st = learn_block(job, seg, state, learn, rb, source, err);
        rb->b = whole;
    }
    return st;
}

/* Rows [a, a + n) of t as a table of their own (v, with cols for its columns). */
static const sf_table *table_part(const sf_table *t, size_t a, size_t n, sf_table *v, sf_column *cols)
{
    *v = *t;
    for (size_t j = 0; j < t->n_cols; j++) {
        cols[j] = t->cols[j];
        if (cols[j].values) cols[j].values += a;
        if (cols[j].codes) cols[j].codes += a;
        if (cols[j].missing) cols[j].missing += a;
    }
    v->cols = cols;
    v->n_rows = n;
    v->capacity = t->capacity - a;
    v->first_row = t->first_row + a;
    if (t->line) v->line = t->line + a;
    if (t->row) v->row = t->row + a;
    if (t->bad) v->bad = t->bad + a;
    return v;
}

/* The next chunk of src: with want, rows straight into b when the source can
 * (*t = NULL; sf_source_next's checks and stickiness), else its table. */
static sf_status next_chunk(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **t,
                            sf_error *err)
{
    if (!want || src->failed) return sf_source_next(src, t, err);
    sf_status st = src->ops->next_rows(src, want, b, t, err);
    if (SF_IS_ERROR(st)) src->failed = true;
    return st;
}

/* discover() over a block's targets (its rows are all the chunk's). */
static sf_status discover_y(const sfi_plan *pn, const sf_block *b, classset *c, sf_error *err)
{
    double last = NAN;
    for (size_t i = 0; i < b->n_rows; i++) {
        double v = b->y[i];
        if (v == last) continue;
        SF_TRY(classset_add_value(c, v, pn->target_name, err));
        last = v;
    }
    return SF_OK;
}

/* Reads segment seg (or the whole source; or the cache once it is written):
 * counts rows, discovers classes, fills the cache, and hands every block to
 * learn through the stages before job->stage. */
static sf_status read_segment(pass_job *job, size_t seg, size_t worker, void *state, learn_fn learn, sf_error *err)
{
    sf_pipeline *pl = job->pl;
    const sfi_plan *pn = job->pn;
    sf_source *src = job->src;
    bool learning = job->stage < pl->n_stages;
    bool cached = sfi_cache_ready(job->cache);
    sf_status st = SF_OK;
    rbufs *rb = &job->wb[worker];
    if (!job->whole && !cached) SF_TRY(sf_source_open_segment(job->src, seg, &src, err));
    st = rbufs_make(job, rb, err);
    sf_block *b = rb->b;
    const char *name = sf_source_name(job->src);
    /* in-order passes too hand a stage that takes_parts its chunks in parts
     * (k-means labels and sums each part while it is in cache: 2M x 10, k = 8,
     * 50,000-row batches, 1 thread: 0.094 -> 0.090 s, 5,267 -> 3,805 page
     * faults), but not from the cache: learn_parts hands views, which a
     * read-ahead queue cannot take */
    size_t part = learning && pl->ops[job->stage]->takes_parts && !pn->sparse && (job->merged || !cached)
                      ? sfi_part_rows(job->src->opt.chunk_rows, pn->p)
                      : 0;
    if (cached) {
        uint64_t at = 0;
        while (st == SF_OK && (st = sfi_cache_read(job->cache, seg, &at, b, err)) == SF_OK && b->n_rows) {
            progress_add(job->prog, b->n_rows, 0);
            if (learning) st = learn_parts(job, seg, state, learn, rb, part, name, err);
        }
    } else {
        const sf_table *t;
        uint64_t bytes = 0;
        /* a plan of float columns only: rows straight into the block when the
         * source offers it (no missing value: else it gives the table) */
        sfi_rows_want want = {.cols = pn->cols, .p = pn->p, .target = pn->target, .weight = pn->weight, .max_rows = part};
        sf_column *vcols = NULL; /* a table part's columns */
        bool rows = st == SF_OK && src->ops->next_rows && !pn->design && !pn->sparse && !pn->target_labels;
        while (st == SF_OK && (st = next_chunk(src, rows ? &want : NULL, b, &t, err)) == SF_OK) {
            if (!t) {
                job->seen[seg] += b->n_rows;
                uint64_t b_now = sf_source_bytes_read(src);
                progress_add(job->prog, b->n_rows, b_now - bytes);
                bytes = b_now;
                if (job->found) st = discover_y(pn, b, &job->found[seg], err);
                if (st == SF_OK && job->cache) st = sfi_cache_append(job->cache, seg, b, err);
                if (st == SF_OK && learning && b->n_rows) st = learn_block(job, seg, state, learn, rb, src->name, err);
                continue;
            }
            job->seen[seg] += t->n_rows;
            uint64_t b_now = sf_source_bytes_read(src);
            progress_add(job->prog, t->n_rows, b_now - bytes);
            bytes = b_now;
            if (job->found && !pn->design) st = discover(pn, t, &job->found[seg], err);
            /* in parts of the table's rows (before rows with missing values drop),
             * so they fall where the rows path cuts them */
            size_t step = part && t->n_rows > part ? part : t->n_rows;
            if (step < t->n_rows && !vcols && !(vcols = malloc(t->n_cols * sizeof *vcols))) st = sfi_nomem(err);
            for (size_t a = 0; st == SF_OK && a < t->n_rows; a += step) {
                sf_table v;
                const sf_table *tp =
                    step < t->n_rows ? table_part(t, a, t->n_rows - a < step ? t->n_rows - a : step, &v, vcols) : t;
                st = sfi_table_to_block(pl, pn, tp, b, &job->dropped[seg], src->name, err);
                for (size_t i = 0; st == SF_OK && job->found && pn->design && i < b->n_rows; i++)
                    st = classset_add_value(&job->found[seg], b->y[i], pn->target_name, err);
                if (st == SF_OK && job->cache) st = sfi_cache_append(job->cache, seg, b, err);
                if (st == SF_OK && learning && b->n_rows) st = learn_block(job, seg, state, learn, rb, src->name, err);
            }
            if (st != SF_OK) break;
        }
        free(vcols);
        if (st == SF_END) st = SF_OK;
    }
    /* a cache segment is written or read by one pass task: let HDF5 drop its buffers */
    if (job->cache && !job->whole) sfi_cache_segment_done(job->cache, seg);
    if (!job->whole && !cached) sf_source_close(src);
    return st;
}

/* Progressive validation: tells job->loss what the stage's pass_losses sums
 * gained since the last report (block_rows rows; done: the end-of-pass report). */
static void report_loss(pass_job *job, void *state, uint64_t block_rows, bool done)
{
    const sfi_stage_ops *ops = job->pl->ops[job->stage];
    double now[4];
    if (!job->loss || !ops->pass_losses || !ops->pass_losses(state, false, now)) return;
    const double *was = job->loss_at;
    /* rows learned = rows seen - rows held out (their weight: exact for unit weights) */
    double learned = (now[1] - was[1]) - (now[3] - was[3]), all = now[1] - now[3];
    sf_loss_report r = {.stage = job->stage, .kind = ops->kind, .pass = job->pass,
                        .rows = (uint64_t)now[1], .block_rows = block_rows,
                        .block_loss = learned > 0 ? (now[0] - was[0]) / learned : NAN,
                        .pass_loss = all > 0 ? now[0] / all : NAN,
                        .holdout_loss = now[3] > 0 ? now[2] / now[3] : NAN, .done = done};
    memcpy(job->loss_at, now, sizeof now);
    job->loss(job->loss_ctx, &r);
}

static sf_status learn_now(pass_job *job, size_t seg, void *state, const sf_block *b, rbufs *rb,
                           const char *source, sf_error *err)
{
    (void)seg;
    (void)rb;
    (void)source; /* learn_block names it */
    SF_TRY(job->pl->ops[job->stage]->partial_fit(state, b, err));
    if (!job->merged) report_loss(job, state, b->n_rows, false);
    return SF_OK;
}

static sf_status pass_segment(void *ctx, size_t task, size_t worker, sf_error *err)
{
    pass_job *job = ctx;
    size_t seg = job->order ? job->order[task] : task;
    sf_pipeline *pl = job->pl;
    bool learning = job->stage < pl->n_stages;
    void *state = learning ? pl->states[job->stage] : NULL;
    if (learning && job->merged) {
        SF_TRY(pl->ops[job->stage]->clone_empty(job->templ, &job->partials[seg], err));
        state = job->partials[seg];
    }
    sf_status st = read_segment(job, seg, worker, state, learn_now, err);
    if (st != SF_OK || !learning || !job->merged) return st;
    /* merge every read segment whose predecessors are merged, in order */
    pthread_mutex_lock(&job->merge_mu);
    job->read_done[seg] = true;
    while (st == SF_OK && job->merged_upto < job->n_seg && job->read_done[job->merged_upto]) {
        size_t g = job->merged_upto;
        st = pl->ops[job->stage]->merge(pl->states[job->stage], job->partials[g], err);
        pl->ops[job->stage]->free(job->partials[g]);
        job->partials[g] = NULL;
        job->merged_upto++;
    }
    pthread_mutex_unlock(&job->merge_mu);
    return st;
}

/* ---- an in-order pass with read-ahead ----
 *
 * The learner runs on a thread of its own and takes the blocks of the segments in
 * visiting order (job->order, else 0, 1, …). Pool task i reads the i-th segment
 * of that order on every worker, runs its blocks through the fitted stages and
 * queues copies, at most QUEUE_DEPTH a segment and only for the `workers`
 * segments from the learner's on; a reader ahead of the learner waits for room.
 * All workers read: a learner faster than parsing or inflating (k-means, a
 * scaler-fed SGD on compressed HDF5) is fed by all of them, and a slower one
 * leaves them waiting on full queues, not spinning. No deadlock: tasks start in
 * order, so the segment the learner waits for has its reader, which never waits
 * for the window (its segment is the window's first) and waits for room only
 * while the learner has its blocks to take; the learner moves on, or fails and
 * wakes every reader to stop.
 * Memory, in bytes (Decision 11): a reading reader holds a table and a block
 * (counted as two chunks), a queue block (free, queued or being learned) one
 * chunk, and two queue blocks are kept for the learner's segment (the one
 * learned, the next); together within chunk bytes x (workers + QUEUE_DEPTH).
 * A reader of a later segment starts, and queues, only within that; the reader
 * of the learner's segment always starts and always gets a block when the
 * learner has none and none is queued for it (no deadlock: the learner always
 * gets its next block; the bound is passed by at most that one block). So
 * readers do not sit on tables and blocks of later segments while the learner's
 * segment is read, and the peak depends on neither the number nor the size of
 * the segments. */
enum { QUEUE_DEPTH = 2 };


typedef struct segq {
    qitem *head, *tail;
    size_t count;
    size_t pos;             /* its place in the visiting order */
    bool done;              /* the reader finished (or failed: st) */
    char source[256];       /* its source's name (a file of a glob), for the learner's errors: */
    bool named;             /* written once, under the lock, before its first block */
    sf_status st;
    sf_error err;
} segq;

typedef struct ordered {
    pass_job *job;
    segq *q;                /* per segment */
    qitem *spare;           /* recycled blocks */
    size_t width;           /* the learning stage's input width */
    size_t at, window;      /* the learner's place in the visiting order; readers queue
                             * only for the `window` (= workers) segments from there */
    size_t chunk, budget;   /* bytes: one block; chunk x (workers + QUEUE_DEPTH) */
    size_t reading, made;   /* readers reading (2 chunks each); queue blocks made */
    bool learning;          /* the learner holds a block */
    bool abort;             /* the learner failed: readers stop */
    sf_status st;           /* the learner's result */
    sf_error err;           /* and its error */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} ordered;

/* Bytes held by the readers and the queue blocks (at least the learner's two). */
static size_t held(const ordered *o, size_t more_reading, size_t more_made)
{
    size_t made = o->made + more_made;
    return ((o->reading + more_reading) * 2 + (made > 2 ? made : 2)) * o->chunk;
}

/* Whether the reader of segment q may queue a block now (room in its queue
 * aside). The learner's segment: a free block, or one made within the bound, or
 * one made anyway when the learner would wait for it. A later segment: only if
 * the blocks queued for later segments, one more, and the learner's two stay
 * within the bound with the readers. */
static bool may_queue(const ordered *o, const segq *q)
{
    if (q->pos == o->at)
        return o->spare || held(o, 0, 1) <= o->budget || (q->count == 0 && !o->learning);
    size_t ahead = 0;
    for (size_t i = o->at + 1; i < o->at + o->window && i < o->job->n_seg; i++)
        ahead += o->q[o->job->order ? o->job->order[i] : i].count;
    return (o->reading * 2 + ahead + 1 + 2) * o->chunk <= o->budget && (o->spare || held(o, 0, 1) <= o->budget);
}

/* Waits for room to queue a block of segment seg and takes a free one (or makes
 * one): *out, or NULL after the learner failed (SF_ERR_STATE: its error is the
 * one reported). */
static sf_status queue_take(pass_job *job, ordered *o, size_t seg, qitem **out, sf_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&o->mu);
    /* Room in the segment's queue, and the segment within `window` of the
     * learner's: without the window, readers of segments of one or two blocks
     * finish them and go on to the next, and a slow learner finds the whole
     * source copied into its queues. The learner's own segment is always in the
     * window, so its reader never waits on it. */
    segq *sq = &o->q[seg];
    while (!o->abort && (sq->count >= QUEUE_DEPTH || sq->pos >= o->at + o->window || !may_queue(o, sq)))
        pthread_cond_wait(&o->cv, &o->mu);
    qitem *it = o->spare;
    if (it) o->spare = it->next;
    bool abort = o->abort;
    if (!it && !abort) o->made++; /* the block made below */
    pthread_mutex_unlock(&o->mu);
    if (abort) {
        if (it) queue_put_back(o, it);
        return SF_ERR_STATE;
    }
    if (!it) {
        it = calloc(1, sizeof *it);
        if (!it || sfi_plan_block(job->pn, job->pn->sparse ? o->width : job->max_width, &it->b, err) != SF_OK) {
            free(it);
            pthread_mutex_lock(&o->mu);
            o->made--;
            pthread_cond_broadcast(&o->cv);
            pthread_mutex_unlock(&o->mu);
            return sfi_nomem(err);
        }
    }
    *out = it;
    return SF_OK;
}

/* Gives a block taken by queue_take back unqueued. */
static void queue_put_back(ordered *o, qitem *it)
{
    pthread_mutex_lock(&o->mu);
    it->next = o->spare;
    o->spare = it;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* Queues block b (the rows learn_block made, after the stages before) for the
 * learner. Its dense rows are already in the block taken for them (rb->taken:
 * the stages wrote there) or in the reader's block, whose buffers then change
 * places with the free block's; y and w (the stages leave them in the reader's
 * block) change places likewise. CSR rows are copied. */
static sf_status queue_block(pass_job *job, size_t seg, void *state, const sf_block *b, rbufs *rb,
                             const char *source, sf_error *err)
{
    ordered *o = state;
    qitem *it = rb->taken;
    rb->taken = NULL;
    if (!it) SF_TRY(queue_take(job, o, seg, &it, err));
    sf_block *d = it->b;
    if (b->csr && sf_block_copy(d, b, err) != SF_OK) {
        queue_put_back(o, it);
        return SF_ERR_NOMEM;
    }
    if (!b->csr) {
        if (b->x == rb->b->x) {
            double *t = d->x;
            d->x = rb->b->x;
            rb->b->x = t;
        } else if (b->x != d->x) {
            queue_put_back(o, it);
            return sfi_fail(err, SF_ERR_STATE, NULL, "internal: a queued block's rows in no buffer of its reader");
        }
        d->ld = b->ld;
        double *t = d->y;
        d->y = rb->b->y, rb->b->y = t;
        t = d->w;
        d->w = rb->b->w, rb->b->w = t;
    }
    d->n_rows = b->n_rows;
    d->n_cols = b->n_cols;
    d->first_row = b->first_row;
    it->next = NULL;
    pthread_mutex_lock(&o->mu);
    segq *q = &o->q[seg];
    if (!q->named) { /* before its first block; the learner reads it after taking one */
        sfi_strlcpy(q->source, source, sizeof q->source);
        q->named = true;
    }
    if (q->tail) q->tail->next = it;
    else q->head = it;
    q->tail = it;
    q->count++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return SF_OK;
}

static sf_status reader_task(void *ctx, size_t task, size_t worker, sf_error *err)
{
    (void)err;
    ordered *o = ctx;
    pass_job *job = o->job;
    size_t seg = job->order ? job->order[task] : task;
    sf_error e;
    sf_error_clear(&e);
    /* The pool starts every task (this one reports through its queue, never to the
     * pool): once the learner has failed, a segment not yet started is not read
     * at all (it would be opened and read up to its first block for nothing). */
    pthread_mutex_lock(&o->mu);
    /* a segment after the learner's starts within the window and the bytes */
    segq *q = &o->q[seg];
    while (!o->abort && q->pos != o->at && (q->pos >= o->at + o->window || held(o, 1, 0) > o->budget))
        pthread_cond_wait(&o->cv, &o->mu);
    bool abort = o->abort;
    if (!abort) o->reading++;
    pthread_mutex_unlock(&o->mu);
    sf_status st = abort ? SF_ERR_STATE : read_segment(job, seg, worker, o, queue_block, &e);
    pthread_mutex_lock(&o->mu);
    if (!abort) o->reading--;
    o->q[seg].done = true;
    o->q[seg].st = st;
    o->q[seg].err = e;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return SF_OK; /* the learner reports it, in data order */
}

/* The learner: the blocks of every segment in visiting order. */
static void *learner_main(void *arg)
{
    ordered *o = arg;
    pass_job *job = o->job;
    const sfi_stage_ops *ops = job->pl->ops[job->stage];
    void *state = job->pl->states[job->stage];
    sf_status st = SF_OK;
    for (size_t i = 0; i < job->n_seg && st == SF_OK;) {
        size_t seg = job->order ? job->order[i] : i;
        pthread_mutex_lock(&o->mu);
        segq *q = &o->q[seg];
        while (!q->head && !q->done) pthread_cond_wait(&o->cv, &o->mu);
        qitem *it = q->head;
        if (it) {
            q->head = it->next;
            if (!q->head) q->tail = NULL;
            q->count--;
            o->learning = true;
            pthread_cond_broadcast(&o->cv);
        } else if (q->st != SF_OK) {
            st = q->st;
            o->err = q->err;
        } else {
            o->at = ++i; /* the window moves on: wake the readers it now takes in */
            pthread_cond_broadcast(&o->cv);
        }
        pthread_mutex_unlock(&o->mu);
        if (!it) continue;
        st = ops->partial_fit(state, it->b, &o->err);
        /* located as learn_block locates it when the reader learns (q->source
         * was written, under the lock, before the block was queued) */
        if (st != SF_OK) blame_stage(job, q->source, &o->err);
        else report_loss(job, state, it->b->n_rows, false);
        pthread_mutex_lock(&o->mu);
        it->next = o->spare;
        o->spare = it;
        o->learning = false;
        pthread_cond_broadcast(&o->cv); /* a free block for a waiting reader */
        pthread_mutex_unlock(&o->mu);
    }
    pthread_mutex_lock(&o->mu);
    o->st = st;
    if (st != SF_OK) o->abort = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static sf_status run_ordered(pass_job *job, sf_pool *pool, size_t width, sf_error *err)
{
    ordered o = {.job = job, .width = width, .window = sf_pool_size(pool)};
    const sfi_plan *pn = job->pn;
    /* a block's bytes: its values (CSR: the 16 entries a row it starts with) and y, w */
    size_t per_row = pn->sparse ? 16 * (sizeof(double) + sizeof(uint32_t)) + sizeof(size_t)
                                : width * sizeof(double);
    o.chunk = pn->chunk_rows * (per_row + ((pn->target >= 0) + (pn->weight >= 0)) * sizeof(double));
    o.budget = o.chunk * (o.window + QUEUE_DEPTH);
    sf_error_clear(&o.err);
    o.q = calloc(job->n_seg, sizeof *o.q);
    if (!o.q) return sfi_nomem(err);
    for (size_t i = 0; i < job->n_seg; i++) o.q[job->order ? job->order[i] : i].pos = i;
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    pthread_t learner;
    sf_status st = SF_OK;
    if (pthread_create(&learner, NULL, learner_main, &o) != 0)
        st = sfi_fail(err, SF_ERR_NOMEM, NULL, "cannot start the learning thread");
    if (st == SF_OK) {
        sf_error pool_err;
        sf_status pst = sf_pool_run(pool, job->n_seg, reader_task, &o, &pool_err);
        if (pst != SF_OK) {
            /* the pool itself failed (reader tasks report through their queues):
             * stop the learner, which may wait for a segment never read */
            pthread_mutex_lock(&o.mu);
            o.abort = true;
            for (size_t g = 0; g < job->n_seg; g++)
                if (!o.q[g].done) {
                    o.q[g].done = true;
                    o.q[g].st = pst;
                    o.q[g].err = pool_err;
                }
            pthread_cond_broadcast(&o.cv);
            pthread_mutex_unlock(&o.mu);
        }
        pthread_join(learner, NULL);
        st = o.st;
        if (st != SF_OK && err) *err = o.err;
    }
    for (size_t g = 0; g < job->n_seg; g++)
        for (qitem *it = o.q[g].head, *nx; it; it = nx) {
            nx = it->next;
            sf_block_free(it->b);
            free(it);
        }
    for (qitem *it = o.spare, *nx; it; it = nx) {
        nx = it->next;
        sf_block_free(it->b);
        free(it);
    }
    pthread_cond_destroy(&o.cv);
    pthread_mutex_destroy(&o.mu);
    free(o.q);
    return st;
}

bool sfi_source_read_once(sf_source *src)
{
    sf_source *probe = NULL;
    sf_error e;
    bool once = sf_source_open_segment(src, 0, &probe, &e) != SF_OK;
    sf_source_close(probe);
    return once;
}

/* Where the passes of one fit or update stand. */
typedef struct run {
    sf_pipeline *pl;
    sf_source *src;
    const sfi_plan *pn;
    sf_pool *pool;
    size_t n_seg;
    bool stdin_like;        /* no segment readers: the source itself, once */
    bool consumed;          /* the source itself was read (rewind before reading it again) */
    bool counted;           /* rows counted (by the first pass) */
    bool want_classes;      /* discover classes on the next pass */
    uint64_t seen, dropped;
    classset classes;
    sfi_cache *cache;       /* blocks of the first pass, or NULL */
    progress prog;
    sf_loss_fn loss;        /* progressive validation, or NULL */
    void *loss_ctx;
    rbufs *wb;              /* per pool worker, kept from pass to pass (run_pass) */
} run;

static void run_free_buffers(run *r)
{
    for (size_t w = 0; r->wb && w < sf_pool_size(r->pool); w++) rbufs_free(&r->wb[w]);
    free(r->wb);
    r->wb = NULL;
}

static sf_status run_init(run *r, sf_pipeline *pl, sf_source *src, const sfi_plan *pn, sf_pool *pool,
                          sf_error *err)
{
    memset(r, 0, sizeof *r);
    r->pl = pl;
    r->src = src;
    r->pn = pn;
    r->pool = pool;
    r->n_seg = 1;
    r->prog.now.n_stages = pl->n_stages;
    SF_TRY(sf_source_n_segments(src, &r->n_seg, err));
    if (r->n_seg == 1) r->stdin_like = sfi_source_read_once(src);
    return SF_OK;
}

/* Checks that stage k's segment order holds each of 0..n-1 once. Read-ahead
 * relies on it: a segment visited twice would be read by two tasks into one
 * queue (the learner could pass it while one still fills it, never to drain it
 * again: a deadlock); one never visited would never be learned. */
static sf_status check_order(const size_t *order, size_t n, size_t k, const char *kind, sf_error *err)
{
    uint8_t *seen = calloc(n ? n : 1, 1);
    if (!seen) return sfi_nomem(err);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        ok = order[i] < n && !seen[order[i]];
        if (ok) seen[order[i]] = 1;
    }
    free(seen);
    return ok ? SF_OK : sfi_fail(err, SF_ERR_STATE, NULL, "stage %zu (%s): its segment order is not a permutation",
                                 k + 1, kind);
}

/* One pass over the source: stage k learns (k = n_stages: nothing learns) in its
 * pass `pass`. */
static sf_status run_pass(run *r, size_t k, unsigned pass, bool merged, sf_error *err)
{
    sf_pipeline *pl = r->pl;
    pass_job job = {.pl = pl, .stage = k, .merged = merged, .pn = r->pn, .src = r->src, .cache = r->cache,
                    .prog = &r->prog, .pass = pass};
    bool learning = k < pl->n_stages;
    size_t *order = NULL;
    if (learning && !merged && pl->ops[k]->pass_losses && r->loss) {
        job.loss = r->loss;
        job.loss_ctx = r->loss_ctx;
        pl->ops[k]->pass_losses(pl->states[k], true, job.loss_at);
    }
    atomic_store(&r->prog.rows, 0);
    atomic_store(&r->prog.bytes, 0);
    r->prog.now.stage = k < pl->n_stages ? k : 0;
    r->prog.now.kind = k < pl->n_stages ? pl->ops[k]->kind : NULL;
    size_t n_seg = r->n_seg;
    bool cached = sfi_cache_ready(r->cache);
    r->prog.now.total_bytes = cached ? 0 : sf_source_size(r->src);
    /* in order with read-ahead: segments to read ahead and a worker to spare */
    bool ahead = !merged && learning && (!r->stdin_like || cached) && r->n_seg > 1 && sf_pool_size(r->pool) > 1;
    /* the stage may visit the segments in an order of its own (shuffle) */
    if (!merged && learning && pl->ops[k]->segment_order && r->n_seg > 1 && (!r->stdin_like || cached)) {
        order = malloc(r->n_seg * sizeof *order);
        if (!order) return sfi_nomem(err);
        if (pl->ops[k]->segment_order(pl->states[k], pass, r->n_seg, order)) job.order = order;
        sf_status os = job.order ? check_order(order, r->n_seg, k, pl->ops[k]->kind, err) : SF_OK;
        if (os != SF_OK) {
            free(order);
            return os;
        }
    }
    /* the cache is read by segment (in order on a one-worker pool); else an
     * in-order pass without read-ahead, and standard input, read the source itself
     * (segment by segment when the stage has an order of its own) */
    /* CSR rows on one worker: the segments in order, one after another, so the
     * chunks are cut where read-ahead cuts them and a stage whose statistics
     * depend on the chunking (the scaler, in order on sparse rows) is the same
     * for any thread count. A one-worker pool runs the tasks in order. */
    bool by_segment = !merged && r->pn->sparse && !r->stdin_like && r->n_seg > 1 && !ahead &&
                      sf_pool_size(r->pool) == 1;
    job.whole = !cached && (r->stdin_like || (!merged && !ahead && !by_segment && !job.order));
    if (job.whole) {
        n_seg = 1;
        if (r->consumed) {
            sf_status st = sf_source_rewind(r->src, err);
            if (st != SF_OK) free(order);
            if (st == SF_ERR_UNSUPPORTED)
                return sfi_fail(err, st, NULL, "%s cannot be read twice, and this pipeline needs another "
                                "pass over it: give a cache file", sf_source_name(r->src));
            SF_TRY(st);
        }
        r->consumed = true;
    }
    /* the learner's own work (distances, one-vs-all classes) on a pool of its
     * own: the fit's workers are busy reading ahead */
    sf_pool *lpool = NULL;
    if (learning && !merged && pl->ops[k]->set_pool && sf_pool_size(r->pool) > 1) {
        sf_status ps = sf_pool_new(&lpool, sf_pool_size(r->pool), err);
        if (ps != SF_OK) {
            free(order);
            return ps;
        }
        pl->ops[k]->set_pool(pl->states[k], lpool);
    }
    job.max_width = r->pn->p;
    for (size_t s = 0; s < k && s < pl->n_stages; s++) {
        size_t q = pl->ops[s]->n_outputs(pl->states[s], pl->width_in[s]);
        if (q > job.max_width) job.max_width = q;
    }
    /* the workers' buffers serve every pass of the run */
    if (!r->wb) r->wb = calloc(sf_pool_size(r->pool) ? sf_pool_size(r->pool) : 1, sizeof *r->wb);
    job.wb = r->wb;
    job.partials = calloc(n_seg, sizeof *job.partials);
    job.read_done = calloc(n_seg, sizeof *job.read_done);
    pthread_mutex_init(&job.merge_mu, NULL);
    job.seen = calloc(n_seg, sizeof *job.seen);
    job.dropped = calloc(n_seg, sizeof *job.dropped);
    if (r->want_classes) job.found = calloc(n_seg, sizeof *job.found);
    sf_status st = (!job.wb || !job.partials || !job.read_done || !job.seen || !job.dropped || (r->want_classes && !job.found))
                       ? sfi_nomem(err) : SF_OK;
    if (st == SF_OK && learning && merged) st = pl->ops[k]->clone_empty(pl->states[k], &job.templ, err);
    job.n_seg = n_seg;
    size_t width = r->pn->p;
    for (size_t s = 0; s < k && s < pl->n_stages; s++) width = pl->ops[s]->n_outputs(pl->states[s], width);
    job.ahead = ahead;
    if (st == SF_OK && ahead) st = run_ordered(&job, r->pool, width, err);
    else if (st == SF_OK) st = sf_pool_run(r->pool, n_seg, pass_segment, &job, err);
    /* the partials were merged in segment order as the segments were read
     * (pass_segment): bitwise the same for any number of threads */
    if (st == SF_OK && k < pl->n_stages && merged && job.merged_upto != n_seg)
        st = sfi_fail(err, SF_ERR_STATE, NULL, "internal: %zu of %zu segments merged", job.merged_upto, n_seg);
    if (st == SF_OK && job.loss) report_loss(&job, pl->states[k], 0, true);
    if (st == SF_OK) progress_tell(&r->prog, true);
    if (st == SF_OK && r->cache && !cached) st = sfi_cache_finish(r->cache, err);
    if (st == SF_OK && !r->counted) {
        for (size_t g = 0; g < n_seg; g++) {
            r->seen += job.seen[g];
            r->dropped += job.dropped[g];
        }
        r->counted = true;
    }
    for (size_t g = 0; g < n_seg && st == SF_OK && job.found; g++)
        st = classset_merge(&r->classes, &job.found[g], r->pn->target_labels, r->pn->target_name, err);
    if (job.found) {
        r->want_classes = false;
        for (size_t g = 0; g < n_seg; g++) classset_free(&job.found[g]);
    }
    for (size_t g = 0; g < n_seg; g++)
        if (job.partials && job.partials[g]) pl->ops[k]->free(job.partials[g]);
    free(job.partials);
    if (job.templ) pl->ops[k]->free(job.templ);
    free(job.read_done);
    pthread_mutex_destroy(&job.merge_mu);
    free(job.seen);
    free(job.dropped);
    free(job.found);
    free(order);
    if (lpool) {
        pl->ops[k]->set_pool(pl->states[k], NULL);
        sf_pool_free(lpool);
    }
    return st;
}

/* The cache for this run: the caller's file, or a temporary one when the source
 * cannot be read twice and the pipeline may need to (*tmp_path set: unlink it). */
static sf_status open_cache(run *r, const sf_fit_options *o, char **tmp_path, sf_error *err)
{
    *tmp_path = NULL;
    sf_pipeline *pl = r->pl;
    bool may_repeat = pl->n_stages > 1 || pl->ops[0]->end_pass || pl->ops[0]->classifier;
    const char *path = o->cache;
    if (!path && r->stdin_like && may_repeat) {
        const char *dir = getenv("TMPDIR");
        if (asprintf(tmp_path, "%s/streamfit-cache-XXXXXX", dir && *dir ? dir : "/tmp") < 0) {
            *tmp_path = NULL;
            return sfi_nomem(err);
        }
        int fd = mkstemp(*tmp_path);
        if (fd < 0) {
            sf_where w;
            sfi_where_init(&w, *tmp_path);
            return sfi_fail(err, SF_ERR_IO, &w, "cannot create a temporary cache");
        }
        close(fd);
        path = *tmp_path;
    }
    if (!path) return SF_OK;
    return sfi_cache_create(&r->cache, path, r->n_seg, r->pn->p, r->pn->target >= 0, r->pn->weight >= 0,
                            r->pn->chunk_rows, err);
}

static void close_cache(run *r, char *tmp_path)
{
    sfi_cache_close(r->cache);
    r->cache = NULL;
    if (tmp_path) unlink(tmp_path);
    free(tmp_path);
}

/* Hands the discovered classes to the pipeline (a fit) or checks them (an update). */
static sf_status adopt_classes(run *r, sf_error *err)
{
    sf_pipeline *pl = r->pl;
    classset *c = &r->classes;
    if (c->n == 0) return sfi_fail(err, SF_ERR_PARSE, NULL, "no rows with a target to learn classes from");
    pl->classes = malloc(c->n * sizeof *pl->classes);
    if (!pl->classes) return sfi_nomem(err);
    for (size_t i = 0; i < c->n; i++) pl->classes[i] = r->pn->target_labels ? (double)i : c->v[i];
    pl->n_classes = c->n;
    if (r->pn->target_labels) {
        pl->class_labels = c->s;
        c->s = NULL;
        c->n = 0;
    }
    return SF_OK;
}

/* Input names of stage k: the features while the width is unchanged, else x0, x1, … */
static sf_status stage_names(const sf_pipeline *pl, size_t k, char ***out, sf_error *err)
{
    size_t n = pl->width_in[k];
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return sfi_nomem(err);
    bool same = n == pl->n_features;
    for (size_t s = 0; s < k && same; s++) same = pl->ops[s]->n_outputs(pl->states[s], pl->width_in[s]) == n;
    for (size_t j = 0; j < n; j++) {
        if (same) v[j] = strdup(pl->features[j]);
        else if (asprintf(&v[j], "x%zu", j) < 0) v[j] = NULL;
        if (!v[j]) {
            for (size_t i = 0; i < j; i++) free(v[i]);
            free(v);
            return sfi_nomem(err);
        }
    }
    *out = v;
    return SF_OK;
}

/* Every pass stage k asks for. */
static sf_status fit_stage(run *r, size_t k, sf_error *err)
{
    sf_pipeline *pl = r->pl;
    const sfi_stage_ops *ops = pl->ops[k];
    void *st = pl->states[k];
    if (ops->set_names && !pl->sparse) {
        char **names = NULL;
        SF_TRY(stage_names(pl, k, &names, err));
        sf_status s2 = ops->set_names(st, (const char *const *)names, pl->width_in[k], err);
        for (size_t j = 0; j < pl->width_in[k]; j++) free(names[j]);
        free(names);
        SF_TRY(s2);
    }
    for (unsigned pass = 0;; pass++) {
        if (pass >= MAX_PASSES)
            return sfi_fail(err, SF_ERR_STATE, NULL, "stage %zu (%s) asked for more than %d passes", k + 1,
                            ops->kind, MAX_PASSES);
        r->prog.now.pass = pass;
        if (ops->begin_pass) SF_TRY(ops->begin_pass(st, pass, err));
        bool merged = ops->pass_mergeable ? ops->pass_mergeable(st, pass) : ops->mergeable;
        /* on CSR rows a partial state per segment is as wide as the data's features
         * (a million, say): learn in order instead, on one state (memory bounded,
         * and the same for any thread count) */
        if (r->pn->sparse) merged = false;
        SF_TRY(run_pass(r, k, pass, merged, err));
        bool again = false;
        if (ops->end_pass) SF_TRY(ops->end_pass(st, pass, &again, err));
        if (!again) return SF_OK;
    }
}

/* A fresh stage k from the spec; --epochs and --seed fill max_iter and
 * random_state where the kind has them and the spec does not set them. */
static bool kind_has_param(const sfi_stage_ops *ops, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = ops->params_help; q && (q = strstr(q, name)); q += n)
        if ((q == ops->params_help || q[-1] == ' ' || q[-1] == ',') && (q[n] == '\0' || q[n] == ','))
            return true;
    return false;
}

static sf_status fresh_stage(sf_pipeline *pl, size_t k, const sf_fit_options *o, void **out, sf_error *err)
{
    const sfi_spec_stage *s = &pl->spec.stages[k];
    sfi_param extra[4];
    size_t n_extra = 0;
    memset(extra, 0, sizeof extra);
    bool has_iter = false, has_seed = false, has_init = false;
    for (size_t i = 0; i < s->n_params; i++) {
        has_iter = has_iter || strcmp(s->params[i].key, "max_iter") == 0;
        has_seed = has_seed || strcmp(s->params[i].key, "random_state") == 0;
        has_init = has_init || strcmp(s->params[i].key, "init") == 0;
    }
    if (o->init && !has_init && kind_has_param(pl->ops[k], "init")) {
        extra[n_extra] = (sfi_param){.key = "init", .column = s->column,
                                     .value = {.type = SFI_V_STRING, .str = (char *)o->init, .column = s->column}};
        n_extra++;
    }
    /* Decision 9: with a formula its Intercept column decides, fit_intercept is off */
    bool no_intercept = o->formula && kind_has_param(pl->ops[k], "fit_intercept");
    if (no_intercept) {
        extra[n_extra] = (sfi_param){.key = "fit_intercept", .column = s->column,
                                     .value = {.type = SFI_V_BOOL, .b = false, .column = s->column}};
        n_extra++;
    }
    if (o->epochs && !has_iter && kind_has_param(pl->ops[k], "max_iter")) {
        extra[n_extra] = (sfi_param){.key = "max_iter", .column = s->column,
                                     .value = {.type = SFI_V_NUMBER, .num = o->epochs, .is_int = true,
                                               .column = s->column}};
        n_extra++;
    }
    if (o->has_seed && !has_seed && kind_has_param(pl->ops[k], "random_state")) {
        extra[n_extra] = (sfi_param){.key = "random_state", .column = s->column,
                                     .value = {.type = SFI_V_NUMBER, .num = (double)o->seed, .is_int = true,
                                               .column = s->column}};
        n_extra++;
    }
    if (!n_extra) return pl->ops[k]->create(out, s, err);
    sfi_spec_stage copy = *s;
    copy.params = malloc((s->n_params + n_extra) * sizeof *copy.params);
    if (!copy.params) return sfi_nomem(err);
    copy.n_params = 0;
    for (size_t i = 0; i < s->n_params; i++)
        if (!no_intercept || strcmp(s->params[i].key, "fit_intercept") != 0) copy.params[copy.n_params++] = s->params[i];
    memcpy(copy.params + copy.n_params, extra, n_extra * sizeof *extra);
    copy.n_params += n_extra;
    sf_status st = pl->ops[k]->create(out, &copy, err);
    free(copy.params);
    return st;
}

/* Classes named by the last stage's classes=[…] parameter, if any. */
static sf_status spec_classes(const sf_pipeline *pl, const sfi_plan *pn, classset *c, bool *given, sf_error *err)
{
    *given = false;
    const sfi_spec_stage *s = &pl->spec.stages[pl->n_stages - 1];
    for (size_t i = 0; i < s->n_params; i++) {
        const sfi_param *prm = &s->params[i];
        if (strcmp(prm->key, "classes") != 0) continue;
        if (prm->value.type != SFI_V_LIST || prm->value.n_items == 0)
            return sfi_spec_fail(err, prm->value.column, "classes must be a non-empty list");
        for (size_t j = 0; j < prm->value.n_items; j++) {
            const sfi_value *v = &prm->value.items[j];
            if (pn->target_labels && v->type == SFI_V_STRING)
                SF_TRY(classset_add_label(c, v->str, pn->target_name, err));
            else if (!pn->target_labels && v->type == SFI_V_NUMBER)
                SF_TRY(classset_add_value(c, v->num, pn->target_name, err));
            else
                return sfi_spec_fail(err, v->column, "classes of a %s target must be %s",
                                     pn->target_labels ? "categorical" : "numeric",
                                     pn->target_labels ? "strings" : "numbers");
        }
        *given = true;
    }
    return SF_OK;
}

static sf_status check_rows(const run *r, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, sf_source_name(r->src));
    if (r->seen == 0) return sfi_fail(err, SF_ERR_PARSE, &w, "no rows to fit");
    if (r->seen == r->dropped)
        return sfi_fail(err, SF_ERR_PARSE, &w, "every row has a missing value (%llu dropped)",
                        (unsigned long long)r->dropped);
    return SF_OK;
}

static sf_status fit_all(sf_pipeline *pl, sf_source *src, const sf_fit_options *o, sfi_plan *pn, sf_pool *pool,
                         sf_error *err)
{
    run r;
    SF_TRY(run_init(&r, pl, src, pn, pool, err));
    r.prog.fn = o->progress;
    r.prog.ctx = o->progress_ctx;
    r.loss = o->loss;
    r.loss_ctx = o->loss_ctx;
    pthread_mutex_init(&r.prog.mu, NULL);
    char *tmp = NULL;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    sf_status st = open_cache(&r, o, &tmp, err);
    if (last->classifier) {
        bool given = false;
        if (pn->target < 0) st = sfi_fail(err, SF_ERR_ARG, NULL, "%s needs a target column", last->kind);
        if (st == SF_OK) st = spec_classes(pl, pn, &r.classes, &given, err);
        /* svmlight: the scan at open saw every label (a pass saved) */
        const double *known;
        size_t n_known;
        if (st == SF_OK && !given && pn->sparse && sfi_source_known_labels(src, &known, &n_known) && n_known) {
            for (size_t i = 0; i < n_known && st == SF_OK; i++)
                st = classset_add_value(&r.classes, known[i], pn->target_name, err);
            given = true;
        }
        r.want_classes = !given;
        /* a classifier that learns first needs its classes before its first row:
         * the one pass spent on bookkeeping (name them with classes=[…] to save it) */
        if (st == SF_OK && !given && pl->n_stages == 1) st = run_pass(&r, pl->n_stages, 0, true, err);
        if (st == SF_OK && !given && pl->n_stages == 1) st = check_rows(&r, err);
    }
    size_t width = pn->p;
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        pl->width_in[k] = width;
        if (k == pl->n_stages - 1 && last->classifier) {
            st = adopt_classes(&r, err);
            if (st == SF_OK) st = last->set_classes(pl->states[k], pl->classes, pl->n_classes, err);
        }
        if (st == SF_OK) st = fit_stage(&r, k, err);
        if (st == SF_OK) st = check_rows(&r, err);
        width = pl->ops[k]->n_outputs(pl->states[k], width);
    }
    pl->rows_seen = r.seen;
    pl->rows_dropped = r.dropped;
    run_free_buffers(&r);
    classset_free(&r.classes);
    close_cache(&r, tmp);
    pthread_mutex_destroy(&r.prog.mu);
    return st;
}

/* ---- the formula's design: parsed, bound, and fitted in a pass of its own when it
 * must learn levels or transform statistics (merged in segment order) ---- */

typedef struct design_job {
    sf_source *src;
    bool whole;
    sf_design *main;
    sf_design **parts;
} design_job;

static sf_status design_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    design_job *job = ctx;
    sf_source *src = job->src;
    if (!job->whole) SF_TRY(sf_source_open_segment(job->src, seg, &src, err));
    sf_status st = sf_design_clone_empty(job->main, &job->parts[seg], err);
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK)
        st = sf_design_partial_fit(job->parts[seg], t, err);
    if (st == SF_END) st = SF_OK;
    if (!job->whole) sf_source_close(src);
    return st;
}

/* The design pass on a pool: per segment, merged in segment order, then finish. */
static sf_status fit_design(sf_design *d, sf_source *src, sf_pool *pool, sf_error *err)
{
    sf_status st = SF_OK;
    if (sf_design_needs_fit(d)) {
        design_job job = {.src = src, .main = d};
        size_t n_seg = 1;
        st = sf_source_n_segments(src, &n_seg, err);
        if (st == SF_OK && n_seg == 1) {
            job.whole = sfi_source_read_once(src);
            if (job.whole)
                st = sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "this formula learns its levels (or transform "
                              "statistics) in a pass of its own, and %s cannot be read twice: use a file, or "
                              "give every C(...) its levels=[...]", sf_source_name(src));
        }
        if (st == SF_OK) {
            job.parts = calloc(n_seg, sizeof *job.parts);
            st = job.parts ? sf_pool_run(pool, n_seg, design_segment, &job, err) : sfi_nomem(err);
        }
        for (size_t g = 0; g < n_seg && st == SF_OK; g++) st = sf_design_merge(d, job.parts[g], err);
        for (size_t g = 0; job.parts && g < n_seg; g++) sf_design_free(job.parts[g]);
        free(job.parts);
    }
    if (st == SF_OK) st = sf_design_finish(d, err);
    return st;
}

sf_status sf_design_fit_source(sf_design *d, sf_source *src, size_t threads, sf_error *err)
{
    if (!d || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_design_fit_source: NULL argument");
    sf_pool *pool = NULL;
    SF_TRY(sf_pool_new(&pool, threads, err));
    sf_status st = fit_design(d, src, pool, err);
    sf_pool_free(pool);
    return st;
}

sf_status sf_design_define_lines(sf_design *d, const char *defines, sf_error *err)
{
    for (const char *q = defines; q && *q;) {
        const char *e = strchr(q, '\n');
        size_t n = e ? (size_t)(e - q) : strlen(q);
        char *line = strndup(q, n);
        if (!line) return sfi_nomem(err);
        char *eq = strchr(line, '=');
        sf_status st = SF_OK;
        if (!eq || eq == line) st = sfi_fail(err, SF_ERR_ARG, NULL, "a define is NAME=VALUE, got \"%s\"", line);
        else {
            *eq = '\0';
            st = sf_design_define(d, line, eq + 1, err);
        }
        free(line);
        SF_TRY(st);
        q = e ? e + 1 : q + n;
    }
    return SF_OK;
}

static sf_status make_design(sf_pipeline *pl, sf_source *src, const char *formula, const char *defines,
                             const sf_design_params *dp, sf_pool *pool, sf_error *err)
{
    sf_design *d = NULL;
    SF_TRY(sf_design_new(&d, formula, dp, err));
    sf_status st = sf_design_define_lines(d, defines, err);
    if (st == SF_OK) st = sf_design_bind(d, src, err);
    if (st == SF_OK) st = fit_design(d, src, pool, err);
    if (st != SF_OK) {
        sf_design_free(d);
        return st;
    }
    pl->design = d;
    return SF_OK;
}

sf_status sf_pipeline_fit(sf_pipeline *pl, sf_source *src, const sf_fit_options *opt, sf_error *err)
{
    if (!pl || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_fit: NULL argument");
    if (pl->spec.n_stages != pl->n_stages)
        return sfi_fail(err, SF_ERR_STATE, NULL, "this model was saved without its spec: it can be "
                                                "updated, not refitted");
    sf_fit_options o;
    if (opt) o = *opt;
    else sf_fit_options_init(&o);
    for (size_t k = 0; k < pl->n_stages; k++)
        if (pl->ops[k]->estimator && k + 1 != pl->n_stages)
            return sfi_fail(err, SF_ERR_ARG, NULL, "%s must be the last stage", pl->ops[k]->kind);
    /* start from unfitted stages, whatever happened before */
    sfi_pipeline_forget_columns(pl);
    pl->fitted = false;
    sfi_plan pn = {0};
    sf_pool *pool = NULL;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    sf_status st = SF_OK;
    bool sparse = sf_source_n_sparse_features(src) > 0; /* svmlight: the target is the label */
    if (sparse && o.formula)
        st = sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s: a formula cannot be used on sparse (svmlight) data",
                      sf_source_name(src));
    if (st == SF_OK && last->estimator && !last->unsupervised && !o.target && !o.formula && !sparse)
        st = sfi_fail(err, SF_ERR_ARG, NULL, "%s needs a target column (--target, or a formula)", last->kind);
    if (st == SF_OK && o.formula && (o.target || o.columns))
        st = sfi_fail(err, SF_ERR_ARG, NULL, "with a formula the target and the features come from it: "
                      "drop --target and --columns");
    if (st == SF_OK) st = sf_pool_new(&pool, o.threads, err);
    if (st == SF_OK && o.formula) st = make_design(pl, src, o.formula, o.defines, o.design, pool, err);
    if (st == SF_OK && pl->design && last->estimator && !last->unsupervised && !sf_design_has_response(pl->design))
        st = sfi_fail(err, SF_ERR_ARG, NULL, "%s needs a response: write the formula as \"y ~ ...\"", last->kind);
    if (st == SF_OK) st = sfi_make_plan(pl, src, &o, o.target, NULL, 0, &pn, err);
    if (st == SF_OK) st = remember_columns(pl, src, &pn, o.target, err);
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        void *fresh = NULL;
        st = fresh_stage(pl, k, &o, &fresh, err);
        if (st == SF_OK) {
            pl->ops[k]->free(pl->states[k]);
            pl->states[k] = fresh;
        }
    }
    if (st == SF_OK && pn.sparse) st = sfi_sparse_check(pl, sf_source_name(src), err);
    if (st == SF_OK) st = fit_all(pl, src, &o, &pn, pool, err);
    sf_pool_free(pool);
    free(pn.cols);
    if (st == SF_OK) pl->fitted = true;
    return st;
}

sf_status sf_pipeline_update(sf_pipeline *pl, sf_source *src, const sf_fit_options *opt, sf_error *err)
{
    if (!pl || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_update: NULL argument");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "update needs a fitted pipeline");
    sf_fit_options o;
    if (opt) o = *opt;
    else sf_fit_options_init(&o);
    sfi_plan pn = {0};
    sf_pool *pool = NULL;
    run r;
    const char *target = *pl->target ? pl->target : NULL;
    sf_status st = sfi_make_plan(pl, src, &o, target, pl->features, pl->n_features, &pn, err);
    if (st == SF_OK && pn.sparse) st = sfi_sparse_check(pl, sf_source_name(src), err);
    if (st == SF_OK && pn.target_labels != (pl->class_labels != NULL))
        st = sfi_fail(err, SF_ERR_ARG, NULL, "target \"%s\" was %s when the model was fitted", target,
                      pl->class_labels ? "categorical" : "numeric");
    if (st == SF_OK) st = sf_pool_new(&pool, o.threads, err);
    char *tmp = NULL;
    bool ran = false;
    if (st == SF_OK) st = run_init(&r, pl, src, &pn, pool, err);
    if (st == SF_OK) {
        ran = true;
        r.prog.fn = o.progress;
        r.prog.ctx = o.progress_ctx;
        r.loss = o.loss;
        r.loss_ctx = o.loss_ctx;
        pthread_mutex_init(&r.prog.mu, NULL);
        st = open_cache(&r, &o, &tmp, err);
    }
    /* Decision 1: each stage continues from its state on the new rows, as
     * transformed by the already-updated stages before it. A failure part-way
     * leaves the earlier stages updated: the caller keeps the file it loaded. */
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        st = fit_stage(&r, k, err);
        if (st == SF_OK) st = check_rows(&r, err);
    }
    if (st == SF_OK) {
        pl->rows_seen += r.seen;
        pl->rows_dropped += r.dropped;
    } else {
        pl->fitted = false; /* half-updated: refuse to save or predict with it */
    }
    if (ran) {
        run_free_buffers(&r);
        classset_free(&r.classes);
        close_cache(&r, tmp);
        pthread_mutex_destroy(&r.prog.mu);
    }
    sf_pool_free(pool);
    free(pn.cols);
    return st;
}
