/* score.c — how well a fitted pipeline does on a labelled source (Decision 14):
 * accuracy and log loss for classifiers (scikit-learn's score and log_loss),
 * R² and mean squared error for regressors (r2_score: 1 - SSE/SST with SST
 * about the mean of this data), inertia for k-means (its score is minus that).
 *
 * One parallel pass: each segment accumulates counts, Σ(y-ŷ)², and y's
 * mean and centred sum of squares (merged with Chan, Golub & LeVeque's update,
 * Decision 9: never raw Σy²); the segment states merge in segment order, so the
 * result is the same for any number of threads.
 *
 * Malformed rows a source skips (SF_ON_ERROR_SKIP) have every field missing: they
 * are dropped like rows with a missing value but counted apart (malformed).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"
#include "streamfit/sf_pool.h"

typedef struct acc {
    double n, correct, logloss, sse, mean, m2, inertia;
} acc;

static void acc_merge(acc *a, const acc *b)
{
    if (b->n == 0) return;
    double n = a->n + b->n, d = b->mean - a->mean;
    a->m2 += b->m2 + d * d * a->n * b->n / n;
    a->mean += d * b->n / n;
    a->n = n;
    a->correct += b->correct;
    a->logloss += b->logloss;
    a->sse += b->sse;
    a->inertia += b->inertia;
}

typedef struct score_job {
    const sf_pipeline *pl;
    const sfi_plan *pn;
    sf_source *src;
    bool whole;
    acc *accs;
    uint64_t *dropped;
    uint64_t *malformed;
    size_t n_proba;         /* proba columns when the classifier gives them */
} score_job;

/* Folds one block (already x, y) into a. */
static sf_status score_block(const score_job *job, const sf_block *b, double *pred, double *proba, acc *a,
                             sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    size_t n = b->n_rows, p = b->n_cols;
    if (last->unsupervised && last->score) {
        /* the stage's own sum (k-means: exact squared differences, as sklearn's
         * _inertia_dense; the distance formula would cancel on offset data) */
        double *bufs = NULL;
        const double *in;
        size_t ip, ild;
        sf_status st = sfi_last_stage_input(pl, b->x, n, p, b->ld, &bufs, &in, &ip, &ild, err);
        sf_block view = *b;
        view.x = (double *)in;
        view.n_cols = ip;
        view.ld = ild;
        double sum = 0, count = 0;
        if (st == SF_OK) st = last->score(pl->states[pl->n_stages - 1], &view, &sum, &count, err);
        free(bufs);
        a->inertia -= sum; /* score is minus the inertia */
        a->n += count;
        return st;
    }
    if (last->unsupervised) {
        /* k-means: distances to every center, the nearest one squared */
        size_t k = sf_pipeline_n_outputs_as(pl, SF_OUTPUT_TRANSFORM);
        if (k == 0) return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s gives no distances to score", last->kind);
        double *d = malloc(n * k * sizeof *d);
        if (!d) return sfi_nomem(err);
        sf_status st = sf_pipeline_predict_as(pl, SF_OUTPUT_TRANSFORM, b->x, n, p, b->ld, d, k, err);
        for (size_t i = 0; i < n && st == SF_OK; i++) {
            double m = INFINITY;
            for (size_t j = 0; j < k; j++) m = fmin(m, d[i * k + j]);
            a->inertia += (b->w ? b->w[i] : 1) * m * m;
            a->n += 1;
        }
        free(d);
        return st;
    }
    if (b->csr) {
        SF_TRY(sfi_predict_csr(pl, SFI_OUT_DEFAULT, b->csr, n, pred, 1, err));
        if (job->n_proba) SF_TRY(sfi_predict_csr(pl, SFI_OUT_PROBA, b->csr, n, proba, job->n_proba, err));
    } else {
        SF_TRY(sf_pipeline_predict_as(pl, SF_OUTPUT_PREDICT, b->x, n, p, b->ld, pred, 1, err));
        if (job->n_proba)
            SF_TRY(sf_pipeline_predict_as(pl, SF_OUTPUT_PROBA, b->x, n, p, b->ld, proba, job->n_proba, err));
    }
    for (size_t i = 0; i < n; i++) {
        double y = b->y[i];
        acc one = {.n = 1, .mean = y};
        if (last->classifier) {
            one.correct = pred[i] == y;
            if (job->n_proba) {
                /* sklearn's log_loss clips probabilities to [eps, 1 - eps] */
                size_t lo = 0, hi = pl->n_classes; /* classes are sorted */
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (pl->classes[mid] < y) lo = mid + 1;
                    else hi = mid;
                }
                bool known = lo < pl->n_classes && pl->classes[lo] == y;
                double q = known ? proba[i * job->n_proba + lo] : 0;
                const double eps = 2.220446049250313e-16;
                one.logloss = -log(fmin(fmax(q, eps), 1 - eps));
            }
        } else {
            one.sse = (y - pred[i]) * (y - pred[i]);
        }
        acc_merge(a, &one);
    }
    return SF_OK;
}

static sf_status score_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    score_job *job = ctx;
    const sfi_plan *pn = job->pn;
    sf_source *src = job->src;
    if (!job->whole) SF_TRY(sf_source_open_segment(job->src, seg, &src, err));
    sf_block *b = NULL;
    double *pred = malloc(pn->chunk_rows * sizeof *pred);
    double *proba = job->n_proba ? malloc(pn->chunk_rows * job->n_proba * sizeof *proba) : NULL;
    sf_status st = (!pred || (job->n_proba && !proba)) ? sfi_nomem(err) : SF_OK;
    if (st == SF_OK) st = sfi_plan_block(pn, pn->p, &b, err);
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK) {
        st = sfi_table_to_block(job->pl, pn, t, b, &job->dropped[seg], src->name, err);
        for (size_t i = 0; t->bad && i < t->n_rows; i++) job->malformed[seg] += t->bad[i];
        if (st == SF_OK && b->n_rows) st = score_block(job, b, pred, proba, &job->accs[seg], err);
    }
    if (st == SF_END) st = SF_OK;
    sf_block_free(b);
    free(pred);
    free(proba);
    if (!job->whole) sf_source_close(src);
    return st;
}

sf_status sf_pipeline_score(const sf_pipeline *pl, sf_source *src, size_t threads, sf_score *out, sf_error *err)
{
    if (!pl || !src || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_score: NULL argument");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    if (!last->estimator) return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "score needs an estimator last");
    memset(out, 0, sizeof *out);
    sf_fit_options o;
    sf_fit_options_init(&o);
    sfi_plan pn = {0};
    const char *target = last->unsupervised || !*pl->target ? NULL : pl->target;
    sf_status st = sfi_make_plan((sf_pipeline *)pl, src, &o, target, pl->features, pl->n_features, &pn, err);
    if (st == SF_OK && !last->unsupervised && pn.target < 0)
        st = sfi_fail(err, SF_ERR_ARG, NULL, "score needs the target column \"%s\"", pl->target);
    size_t n_seg = 1;
    if (st == SF_OK) st = sf_source_n_segments(src, &n_seg, err);
    score_job job = {.pl = pl, .pn = &pn, .src = src};
    if (st == SF_OK && n_seg == 1) job.whole = sfi_source_read_once(src);
    if (last->classifier) job.n_proba = sf_pipeline_n_outputs_as(pl, SF_OUTPUT_PROBA);
    job.accs = calloc(n_seg, sizeof *job.accs);
    job.dropped = calloc(n_seg, sizeof *job.dropped);
    job.malformed = calloc(n_seg, sizeof *job.malformed);
    if (st == SF_OK && (!job.accs || !job.dropped || !job.malformed)) st = sfi_nomem(err);
    sf_pool *pool = NULL;
    if (st == SF_OK) st = sf_pool_new(&pool, threads, err);
    if (st == SF_OK) st = sf_pool_run(pool, n_seg, score_segment, &job, err);
    acc a = {0};
    for (size_t g = 0; g < n_seg && st == SF_OK; g++) {
        acc_merge(&a, &job.accs[g]);
        out->dropped += job.dropped[g];
        out->malformed += job.malformed[g];
    }
    out->dropped -= out->malformed < out->dropped ? out->malformed : out->dropped;
    if (st == SF_OK && a.n == 0) st = sfi_fail(err, SF_ERR_PARSE, NULL, "no rows to score");
    if (st == SF_OK) {
        out->n = (uint64_t)a.n;
        out->accuracy = out->log_loss = out->r2 = out->mse = out->inertia = NAN;
        if (last->unsupervised) {
            out->inertia = a.inertia;
            out->score = -a.inertia;
        } else if (last->classifier) {
            out->accuracy = a.correct / a.n;
            if (job.n_proba) out->log_loss = a.logloss / a.n;
            out->score = out->accuracy;
        } else {
            out->mse = a.sse / a.n;
            /* sklearn's r2_score: a constant y gives 1 if predicted exactly, else 0 */
            out->r2 = a.m2 > 0 ? 1 - a.sse / a.m2 : (a.sse == 0 ? 1 : 0);
            out->score = out->r2;
        }
    }
    sf_pool_free(pool);
    free(job.accs);
    free(job.dropped);
    free(job.malformed);
    free(pn.cols);
    return st;
}
