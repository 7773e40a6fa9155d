/* stage_kmeans.c — mini-batch k-means as a pipeline stage (kind
 * "minibatch_kmeans"): an adapter from blocks and spec parameters to sf_kmeans.
 *
 * Pass 0 (in data order, not mergeable): the stage re-cuts the incoming blocks
 * into batches of batch_size rows itself (Decision 2: chunk size changes no
 * model) and takes one sklearn partial_fit step per full batch; the rows left
 * over when the pass ends (fewer than batch_size) are stepped as a last, smaller
 * batch by end_pass. y is ignored: a block may come with or without it.
 * Passes 1..refine (mergeable): exact Lloyd iterations, each worker summing its
 * segments against the same centers; end_pass moves the centers. One more
 * mergeable pass measures the inertia of the final centers, unless a Lloyd pass
 * left every center where it was (converged: its inertia is already known).
 * refine_inertia_ lists the inertia after 0, 1, … refinements.
 * init_sample=N (beyond sklearn): a first, mergeable pass draws a uniform sample
 * of N rows of the whole source (reservoir sampling per segment, merged in
 * segment order; every worker starts from the same seed), and k-means++ (or
 * random) picks the initial centers from it rather than from the first batch,
 * which matters when the data arrive sorted. Export then shows those centers as
 * init. Passes: sample, mini-batch, refine….
 * init: "k-means++", "random", a list of centers [[…], …], or any other string:
 * a data file (CSV with a header row, or file.h5:/dataset) whose rows are the
 * centers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/np_random.h"
#include "estimators/kmeans_internal.h"
#include "pipeline/stage.h"
#include "streamfit/sf_source.h"

typedef struct km_stage {
    sf_kmeans *km;
    unsigned refine;        /* Lloyd passes asked for */
    bool in_refine;         /* the current pass is a Lloyd / inertia pass */
    bool pass_open;         /* between begin_pass(0) and end_pass(0) */
    bool took_over;         /* a merge target that received the mini-batch worker */
    unsigned refine_done;   /* Lloyd updates applied */
    bool done;              /* refinement finished (converged or all passes run) */
    sf_kmeans_lloyd *acc;   /* the current refine pass's sums */
    double *history;        /* inertia after 0, 1, … refinements */
    size_t n_history;
    /* The mini-batch pass: the rows of the batch under way, copied into bat
     * (weights into wbat, 1 when a block has none) as they come. Once the model
     * has its centers, each block's rows are labelled and summed as they arrive
     * (sfi_kmeans_batch_feed: the block is still in cache; the pass hands the
     * stage its chunks in cache-sized parts, takes_parts), into bacc, and the
     * step ends when the batch is full (batch_close); the first batch is
     * buffered whole and initialises the model. The copy serves the step's
     * reassignment (rows of the batch) and compute_labels: inertia_ is the last
     * batch's after its step, which the model skips on every step; the stage
     * measures it once at the end of the pass from bat (the centers no longer
     * move: the same value). Measuring every step on the learner's pool
     * instead cost a second distance pass a step, more than the copy. */
    double *bat, *wbat;     /* batch_size x bat_p, batch_size */
    double *bacc;           /* sfi_kmeans_acc_size: the fed batch's sums */
    size_t bat_rows, bat_p;
    bool bat_fed;           /* the batch's rows were fed as they came */
    size_t last_rows;       /* rows of the last stepped batch, still in bat while bat_rows = 0 */
    bool compute_labels;
    /* init_sample=N: a first, mergeable pass draws a uniform sample of N rows of
     * the whole source (reservoir sampling, merged in segment order), and the
     * initial centers come from it instead of from the first batch */
    size_t init_sample;
    unsigned mb_pass;       /* the mini-batch pass: 1 after a sampling pass, else 0 */
    bool sampling;          /* the current pass is the sampling pass */
    double *sample;         /* init_sample x sample_p */
    size_t sample_rows, sample_p;
    uint64_t sample_seen;
    sfi_np_rng srng;
} km_stage;

static void km_stage_free_fields(km_stage *s)
{
    sf_kmeans_free(s->km);
    sf_kmeans_lloyd_free(s->acc);
    free(s->history);
    free(s->bat);
    free(s->wbat);
    free(s->bacc);
    free(s->sample);
}

static void km_stage_free(void *st)
{
    if (!st) return;
    km_stage_free_fields(st);
    free(st);
}

/* ------------------------------------------------------------ parameters */

static sf_status int_param(const sfi_param *prm, double lo, double hi, double *out, sf_error *err)
{
    double v;
    SF_TRY(sfi_param_number(prm, &v, err));
    if (v != floor(v) || v < lo || v > hi)
        return sfi_spec_fail(err, prm->value.column, "%s must be an integer in [%.0f, %.0f], got %g", prm->key,
                             lo, hi, v);
    *out = v;
    return SF_OK;
}

/* init=[[…], […]]: k rows of equal length. Fills a new array (caller frees). */
static sf_status init_list(const sfi_param *prm, double **out, size_t *k, size_t *p, sf_error *err)
{
    const sfi_value *v = &prm->value;
    if (v->n_items == 0 || v->items[0].type != SFI_V_LIST || v->items[0].n_items == 0)
        return sfi_spec_fail(err, v->column, "init must be k-means++, random or a list of centers [[...], ...]");
    *k = v->n_items;
    *p = v->items[0].n_items;
    double *c = malloc(*k * *p * sizeof *c);
    if (!c) return sfi_nomem(err);
    for (size_t i = 0; i < *k; i++) {
        const sfi_value *row = &v->items[i];
        if (row->type != SFI_V_LIST || row->n_items != *p) {
            free(c);
            return sfi_spec_fail(err, row->column, "init: every center needs %zu numbers", *p);
        }
        for (size_t j = 0; j < *p; j++) {
            if (row->items[j].type != SFI_V_NUMBER) {
                free(c);
                return sfi_spec_fail(err, row->items[j].column, "init: centers must be numbers");
            }
            c[i * *p + j] = row->items[j].num;
        }
    }
    *out = c;
    return SF_OK;
}

/* init="centers.csv" (or "file.h5:/dataset"): every row of the data is a center,
 * every column a feature; all values numeric and present. */
static sf_status init_file(const sfi_param *prm, double **out, size_t *k, size_t *p, sf_error *err)
{
    const char *path = prm->value.str;
    sf_source *src = NULL;
    sf_status st = sf_source_open(&src, path, NULL, err);
    double *c = NULL;
    size_t rows = 0, cols = 0, cap = 0;
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK) {
        if (!cols) cols = t->n_cols;
        if (rows + t->n_rows > cap) {
            cap = 2 * (rows + t->n_rows);
            double *g = realloc(c, cap * cols * sizeof *g);
            if (!g) {
                st = sfi_nomem(err);
                break;
            }
            c = g;
        }
        for (size_t i = 0; i < t->n_rows && st == SF_OK; i++, rows++)
            for (size_t j = 0; j < cols && st == SF_OK; j++) {
                const sf_column *col = &t->cols[j];
                if (col->type != SF_COL_FLOAT || col->missing[i])
                    st = sfi_spec_fail(err, prm->value.column, "init: %s row %zu column %zu is not a number", path,
                                       rows + 1, j + 1);
                else c[rows * cols + j] = col->values[i];
            }
    }
    sf_source_close(src);
    if (st == SF_END) st = rows ? SF_OK : sfi_spec_fail(err, prm->value.column, "init: %s has no rows", path);
    else if (st != SF_OK && err && err->status != SF_OK && !strstr(err->message, "init"))
        sfi_error_prefix(err, "init");
    if (st != SF_OK) {
        free(c);
        return st;
    }
    *out = c;
    *k = rows;
    *p = cols;
    return SF_OK;
}

static const char *const ignored_params[] = {"max_iter", "tol", "max_no_improvement", "n_init", "verbose", NULL};

static sf_status parse_params(const sfi_spec_stage *spec, sf_kmeans_params *p, unsigned *refine,
                              size_t *init_sample, double **init, size_t *cols, sf_error *err)
{
    /* cols[]: the spec column of n_clusters, init, batch_size, reassignment_ratio, random_state */
    size_t init_k = 0;
    for (size_t i = 0; i < spec->n_params; i++) {
        const sfi_param *prm = &spec->params[i];
        const char *key = prm->key;
        double v = 0;
        bool ignored = false;
        for (size_t j = 0; ignored_params[j]; j++) ignored = ignored || strcmp(key, ignored_params[j]) == 0;
        if (ignored) continue; /* sklearn's partial_fit ignores them too */
        if (strcmp(key, "n_clusters") == 0) {
            SF_TRY(int_param(prm, 1, 2147483647.0, &v, err));
            p->n_clusters = (size_t)v;
            cols[0] = prm->value.column;
            if (!cols[1]) cols[1] = prm->value.column;
        } else if (strcmp(key, "init") == 0) {
            cols[1] = prm->value.column;
            if (prm->value.type == SFI_V_STRING && strcmp(prm->value.str, "k-means++") == 0) {
                p->init = SF_KMEANS_INIT_KMEANSPP;
            } else if (prm->value.type == SFI_V_STRING && strcmp(prm->value.str, "random") == 0) {
                p->init = SF_KMEANS_INIT_RANDOM;
            } else if (prm->value.type == SFI_V_STRING && !strpbrk(prm->value.str, "./")) {
                /* a file is named with a '.' or a '/' ("centers.csv"); a bare word is a typo */
                return sfi_spec_fail(err, prm->value.column, "init must be k-means++, random, a list of "
                                     "centers or a data file (centers.csv, file.h5:/path), got \"%s\"",
                                     prm->value.str);
            } else if (prm->value.type == SFI_V_LIST || prm->value.type == SFI_V_STRING) {
                free(*init);
                *init = NULL;
                if (prm->value.type == SFI_V_LIST) SF_TRY(init_list(prm, init, &init_k, &p->init_n_features, err));
                else SF_TRY(init_file(prm, init, &init_k, &p->init_n_features, err));
                p->init = SF_KMEANS_INIT_ARRAY;
                p->init_centers = *init;
                if (!cols[0]) p->n_clusters = init_k; /* n_clusters defaults to the list's length */
            } else {
                return sfi_spec_fail(err, prm->value.column,
                                     "init must be k-means++, random, a list of centers [[...], ...] or a file");
            }
        } else if (strcmp(key, "batch_size") == 0) {
            SF_TRY(int_param(prm, 1, 1e15, &v, err));
            p->batch_size = (size_t)v;
            cols[2] = prm->value.column;
        } else if (strcmp(key, "init_size") == 0) {
            if (prm->value.type == SFI_V_NULL) p->init_size = 0;
            else {
                SF_TRY(int_param(prm, 1, 1e15, &v, err));
                p->init_size = (size_t)v;
            }
        } else if (strcmp(key, "reassignment_ratio") == 0) {
            SF_TRY(sfi_param_number(prm, &p->reassignment_ratio, err));
            cols[3] = prm->value.column;
        } else if (strcmp(key, "random_state") == 0) {
            cols[4] = prm->value.column;
            if (prm->value.type == SFI_V_NULL) p->random_state = -1;
            else {
                SF_TRY(int_param(prm, 0, 4294967295.0, &v, err));
                p->random_state = (int64_t)v;
            }
        } else if (strcmp(key, "compute_labels") == 0) {
            SF_TRY(sfi_param_bool(prm, &p->compute_labels, err));
        } else if (strcmp(key, "refine") == 0) {
            SF_TRY(int_param(prm, 0, 100000, &v, err));
            *refine = (unsigned)v;
        } else if (strcmp(key, "init_sample") == 0) {
            SF_TRY(int_param(prm, 0, 1e9, &v, err));
            *init_sample = (size_t)v;
            cols[5] = prm->value.column;
        } else {
            return sfi_spec_fail(err, prm->column, "unknown parameter %s for %s (valid: %s)", key, spec->kind,
                                 sfi_kmeans_stage.params_help);
        }
    }
    if (p->init == SF_KMEANS_INIT_ARRAY && init_k != p->n_clusters)
        return sfi_spec_fail(err, cols[1], "init has %zu centers, n_clusters is %zu", init_k, p->n_clusters);
    if (*init_sample && p->init == SF_KMEANS_INIT_ARRAY)
        return sfi_spec_fail(err, cols[5], "init_sample needs init=k-means++ or init=random");
    if (*init_sample && *init_sample < p->n_clusters)
        return sfi_spec_fail(err, cols[5], "init_sample=%zu is smaller than n_clusters=%zu", *init_sample,
                             p->n_clusters);
    return SF_OK;
}

static sf_status km_create(void **out, const sfi_spec_stage *spec, sf_error *err)
{
    *out = NULL;
    sf_kmeans_params p;
    sf_kmeans_params_default(&p);
    unsigned refine = 0;
    size_t init_sample = 0;
    double *init = NULL;
    size_t cols[6] = {0};
    sf_status st = parse_params(spec, &p, &refine, &init_sample, &init, cols, err);
    km_stage *s = NULL;
    if (st == SF_OK) {
        s = calloc(1, sizeof *s);
        if (!s) st = sfi_nomem(err);
    }
    if (st == SF_OK) {
        s->compute_labels = p.compute_labels;
        p.compute_labels = false; /* measured by the stage: see km_stage */
        st = sf_kmeans_new(&s->km, &p, err);
        if (st != SF_OK && err) {
            /* point at the offending value */
            static const char *const names[5] = {"n_clusters", "init", "batch_size", "reassignment_ratio",
                                                 "random_state"};
            for (int j = 0; j < 5; j++)
                if (strcmp(err->field_name, names[j]) == 0 && cols[j]) {
                    char msg[sizeof err->message];
                    sfi_strlcpy(msg, err->message, sizeof msg);
                    st = sfi_spec_fail(err, cols[j], "%s", msg);
                }
        }
    }
    free(init); /* sf_kmeans_new copied it */
    if (st != SF_OK) {
        km_stage_free(s);
        return st;
    }
    s->refine = refine;
    s->init_sample = init_sample;
    *out = s;
    return SF_OK;
}

/* ------------------------------------------------------------ passes */

static double *dup_doubles(const double *v, size_t n, size_t cap)
{
    double *d = malloc((cap ? cap : 1) * sizeof *d);
    if (d && n) memcpy(d, v, n * sizeof *d);
    return d;
}

/* A deep copy of s: model, refinement record, buffered rows; a fresh (empty)
 * Lloyd accumulator when s is in a refine pass. */
static sf_status copy_stage(const km_stage *s, km_stage **out, sf_error *err)
{
    *out = NULL;
    km_stage *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    c->refine = s->refine;
    c->in_refine = s->in_refine;
    c->pass_open = s->pass_open;
    c->refine_done = s->refine_done;
    c->done = s->done;
    c->n_history = s->n_history;
    c->bat_rows = s->bat_rows;
    c->bat_p = s->bat_p;
    c->bat_fed = s->bat_fed;
    c->compute_labels = s->compute_labels;
    c->last_rows = s->last_rows;
    c->init_sample = s->init_sample;
    c->mb_pass = s->mb_pass;
    c->sampling = s->sampling;
    c->srng = s->srng;
    c->sample_p = s->sample_p;
    size_t bs = sf_kmeans_get_params(s->km).batch_size;
    sf_status r = sf_kmeans_copy(s->km, &c->km, err);
    if (r == SF_OK && s->n_history && !(c->history = dup_doubles(s->history, s->n_history, s->n_history)))
        r = sfi_nomem(err);
    size_t held = s->bat_rows > s->last_rows ? s->bat_rows : s->last_rows;
    if (r == SF_OK && s->bat) {
        c->bat = dup_doubles(s->bat, held * s->bat_p, bs * s->bat_p);
        c->wbat = dup_doubles(s->wbat, held, bs);
        if (!c->bat || !c->wbat) r = sfi_nomem(err);
    }
    if (r == SF_OK && s->bacc && !(c->bacc = dup_doubles(s->bacc, sfi_kmeans_acc_size(s->km),
                                                         sfi_kmeans_acc_size(s->km))))
        r = sfi_nomem(err);
    if (r == SF_OK && s->in_refine) r = sf_kmeans_lloyd_new(&c->acc, c->km, err);
    if (r != SF_OK) {
        km_stage_free(c);
        return r;
    }
    *out = c;
    return SF_OK;
}

/* Outside a pass: the unfitted state (sf_pipeline_fit starts from it). Inside
 * the mini-batch pass: the state itself, so a worker continues it (update);
 * inside a Lloyd pass: the same centers with empty sums. */
static sf_status km_clone_empty(const void *st, void **out, sf_error *err)
{
    const km_stage *s = st;
    *out = NULL;
    if (s->in_refine || s->pass_open || s->sampling) {
        /* a sampling worker starts with an empty reservoir: copy_stage leaves it out */
        return copy_stage(s, (km_stage **)out, err);
    }
    km_stage *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    c->refine = s->refine;
    c->compute_labels = s->compute_labels;
    c->init_sample = s->init_sample;
    sf_kmeans_params p = sf_kmeans_get_params(s->km);
    sf_status r = sf_kmeans_new(&c->km, &p, err);
    if (r != SF_OK) {
        km_stage_free(c);
        return r;
    }
    *out = c;
    return SF_OK;
}

static bool km_fitted(const km_stage *s) { return sf_kmeans_n_features(s->km) > 0; }

/* Room for a batch of p columns (and, on a fitted model, its sums). */
static sf_status batch_room(km_stage *s, size_t p, size_t bs, sf_error *err)
{
    if (!s->bat) {
        s->bat = malloc(bs * p * sizeof *s->bat);
        s->wbat = malloc(bs * sizeof *s->wbat);
        if (!s->bat || !s->wbat) {
            free(s->bat);
            free(s->wbat);
            s->bat = s->wbat = NULL;
            return sfi_nomem(err);
        }
        s->bat_p = p;
    }
    if (km_fitted(s) && !s->bacc && !(s->bacc = malloc(sfi_kmeans_acc_size(s->km) * sizeof *s->bacc)))
        return sfi_nomem(err);
    return SF_OK;
}

/* The step on the batch in bat: the end of a fed one, else (the first batch)
 * sklearn's partial_fit on it whole, which initialises the model. */
static sf_status close_batch(km_stage *s, sf_error *err)
{
    size_t n = s->bat_rows, p = s->bat_p;
    if (s->bat_fed) SF_TRY(sfi_kmeans_batch_close(s->km, s->bacc, s->bat, n, p, p, s->wbat, err));
    else SF_TRY(sfi_kmeans_partial_fit_keep(s->km, s->bat, n, p, p, s->wbat, NULL, NULL, err));
    s->last_rows = n;
    s->bat_rows = 0;
    return SF_OK;
}

/* Rows x (n x p, checked) into the batch under way, fed to the model once it
 * has its centers; a full batch takes its step. */
static sf_status add_to_batch(km_stage *s, const double *x, size_t n, size_t p, size_t ld, const double *w,
                              size_t bs, sf_error *err)
{
    if (s->bat_rows == 0) {
        SF_TRY(batch_room(s, p, bs, err));
        s->bat_fed = km_fitted(s);
    }
    double *to = s->bat + s->bat_rows * p, *wto = s->wbat + s->bat_rows;
    if (s->bat_fed) {
        SF_TRY(sfi_kmeans_batch_feed(s->km, x, n, p, ld, w, s->bacc, s->bat_rows == 0, to, wto, err));
    } else {
        for (size_t i = 0; i < n; i++) {
            memcpy(to + i * p, x + i * ld, p * sizeof *x);
            wto[i] = w ? w[i] : 1.0;
        }
    }
    s->bat_rows += n;
    return s->bat_rows == bs ? close_batch(s, err) : SF_OK;
}

/* Algorithm R over the block's rows (weights play no part, as in sklearn's init). */
static sf_status sample_rows(km_stage *s, const sf_block *b, sf_error *err)
{
    size_t n = b->n_rows, p = b->n_cols;
    if (n == 0) return SF_OK;
    SF_TRY(sfi_kmeans_check_rows(s->km, b->x, n, p, b->ld, NULL, err));
    if (!s->sample) {
        s->sample = malloc(s->init_sample * p * sizeof *s->sample);
        if (!s->sample) return sfi_nomem(err);
        s->sample_p = p;
    } else if (p != s->sample_p) {
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: blocks of %zu and %zu columns", s->sample_p, p);
    }
    for (size_t i = 0; i < n; i++) {
        s->sample_seen++;
        size_t slot = s->sample_rows < s->init_sample
                          ? s->sample_rows++
                          : (size_t)sfi_np_randint(&s->srng, 0, (int64_t)s->sample_seen);
        if (slot < s->init_sample) memcpy(s->sample + slot * p, b->x + i * b->ld, p * sizeof *s->sample);
    }
    return SF_OK;
}

/* dst's sample ⊕= src's: draws min(N, seen_a + seen_b) rows without replacement
 * from the union, each from A with probability (rows of A's population left) /
 * (rows left in both), from randomly ordered reservoirs. */
static sf_status merge_samples(km_stage *d, const km_stage *s, sf_error *err)
{
    if (!s->sample_seen) return SF_OK;
    if (d->sample_seen && d->sample_p != s->sample_p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: samples of %zu and %zu columns", d->sample_p, s->sample_p);
    size_t p = s->sample_p, N = d->init_sample, na = d->sample_rows, nb = s->sample_rows;
    uint64_t ca = d->sample_seen, cb = s->sample_seen;
    size_t m = (uint64_t)N < ca + cb ? N : (size_t)(ca + cb);
    double *out = malloc(N * p * sizeof *out);
    size_t *pa = malloc((na ? na : 1) * sizeof *pa), *pb = malloc((nb ? nb : 1) * sizeof *pb);
    if (!out || !pa || !pb) {
        free(out);
        free(pa);
        free(pb);
        return sfi_nomem(err);
    }
    sfi_np_permutation(&d->srng, pa, na);
    sfi_np_permutation(&d->srng, pb, nb);
    uint64_t ta = 0, tb = 0;
    for (size_t t = 0; t < m; t++) {
        bool from_a = sfi_np_random_sample(&d->srng) * (double)(ca - ta + cb - tb) < (double)(ca - ta);
        if (from_a && ta >= na) from_a = false; /* cannot happen for exact reservoirs; kept safe */
        if (!from_a && tb >= nb) from_a = true;
        const double *row = from_a ? d->sample + pa[ta++] * p : s->sample + pb[tb++] * p;
        memcpy(out + t * p, row, p * sizeof *out);
    }
    free(pa);
    free(pb);
    free(d->sample);
    d->sample = out;
    d->sample_rows = m;
    d->sample_p = p;
    d->sample_seen = ca + cb;
    return SF_OK;
}

static sf_status km_partial_fit(void *st, const sf_block *b, sf_error *err)
{
    km_stage *s = st;
    if (s->sampling) return sample_rows(s, b, err);
    if (s->in_refine) return sf_kmeans_lloyd_accumulate(s->acc, s->km, b->x, b->n_rows, b->n_cols, b->ld, b->w, err);
    size_t n = b->n_rows, p = b->n_cols, bs = sf_kmeans_get_params(s->km).batch_size;
    if (n == 0) return SF_OK;
    /* the whole block is checked first, so a bad row refuses it before any step */
    SF_TRY(sfi_kmeans_check_rows(s->km, b->x, n, p, b->ld, b->w, err));
    if ((s->bat_rows || s->last_rows) && p != s->bat_p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: blocks of %zu and %zu columns", s->bat_p, p);
    /* the block's rows fill the batch under way, then the next ones */
    for (size_t i = 0; i < n;) {
        size_t take = bs - s->bat_rows < n - i ? bs - s->bat_rows : n - i;
        SF_TRY(add_to_batch(s, b->x + i * b->ld, take, p, b->ld, b->w ? b->w + i : NULL, bs, err));
        i += take;
    }
    return SF_OK;
}

/* the mini-batch pass computes each batch's distances on the pool (sf_kmeans.h) */
static void km_set_pool(void *st, sf_pool *pool)
{
    km_stage *s = st;
    sf_kmeans_set_pool(s->km, pool);
}

/* The mini-batch pass is one ordered stream: a merge only hands a worker's state
 * to a fresh one. Lloyd passes add the sums. */
static sf_status km_merge(void *dst, const void *src, sf_error *err)
{
    km_stage *d = dst;
    const km_stage *s = src;
    if (d->in_refine != s->in_refine)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means merge: states of different passes");
    if (d->in_refine) return sf_kmeans_lloyd_merge(d->acc, s->acc, err);
    if (d->sampling != s->sampling)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means merge: states of different passes");
    if (d->sampling) return merge_samples(d, s, err);
    /* the mini-batch pass is one ordered stream (one segment): its worker's state
     * replaces the fresh one */
    if (d->took_over)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: the mini-batch pass runs in order and cannot merge");
    km_stage *c;
    SF_TRY(copy_stage(s, &c, err));
    km_stage old = *d;
    *d = *c;
    d->took_over = true;
    free(c);
    km_stage_free_fields(&old);
    return SF_OK;
}

static sf_status push_history(km_stage *s, double v, sf_error *err)
{
    double *h = realloc(s->history, (s->n_history + 1) * sizeof *h);
    if (!h) return sfi_nomem(err);
    h[s->n_history++] = v;
    s->history = h;
    return SF_OK;
}

/* The seed of the sampling pass: random_state, or the clock when it is None. */
static uint32_t sample_seed(const km_stage *s)
{
    int64_t rs = sf_kmeans_get_params(s->km).random_state;
    return rs >= 0 ? (uint32_t)rs : (uint32_t)time(NULL) ^ (uint32_t)clock();
}

static sf_status km_begin_pass(void *st, unsigned pass, sf_error *err)
{
    km_stage *s = st;
    if (pass == 0 && s->init_sample && !km_fitted(s)) {
        s->sampling = true;
        s->mb_pass = 1;
        s->sample_rows = 0;
        s->sample_seen = 0;
        sfi_np_seed(&s->srng, sample_seed(s));
        return SF_OK;
    }
    if (pass == 0) s->mb_pass = 0;
    if (pass == s->mb_pass) {
        s->sampling = false;
        s->in_refine = false;
        s->pass_open = true;
        return SF_OK;
    }
    if (!km_fitted(s)) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: refine before any data");
    if (!s->acc) SF_TRY(sf_kmeans_lloyd_new(&s->acc, s->km, err));
    sf_kmeans_lloyd_reset(s->acc);
    s->in_refine = true;
    return SF_OK;
}

/* End of the sampling pass: the initial centers by the model's own init
 * (k-means++ or random, same random_state) on the sample, then a model that
 * starts from them. */
static sf_status end_sampling(km_stage *s, sf_error *err)
{
    sf_kmeans_params p = sf_kmeans_get_params(s->km);
    if (s->sample_rows < p.n_clusters)
        return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: %zu rows to sample for n_clusters=%zu", s->sample_rows,
                        p.n_clusters);
    sf_kmeans_params q = p;
    q.init_size = s->sample_rows; /* no subsampling of the sample */
    q.compute_labels = false;
    sf_kmeans *tmp = NULL, *km = NULL;
    double *centers = malloc(p.n_clusters * s->sample_p * sizeof *centers);
    sf_status st = centers ? sf_kmeans_new(&tmp, &q, err) : sfi_nomem(err);
    if (st == SF_OK)
        st = sfi_kmeans_initial_centers(tmp, s->sample, s->sample_rows, s->sample_p, s->sample_p, centers, err);
    if (st == SF_OK) {
        q = p;
        q.init = SF_KMEANS_INIT_ARRAY;
        q.init_centers = centers;
        q.init_n_features = s->sample_p;
        st = sf_kmeans_new(&km, &q, err);
    }
    sf_kmeans_free(tmp);
    free(centers);
    if (st != SF_OK) return st;
    sf_kmeans_free(s->km);
    s->km = km;
    free(s->sample);
    s->sample = NULL;
    s->sampling = false;
    return SF_OK;
}

static sf_status km_end_pass(void *st, unsigned pass, bool *again, sf_error *err)
{
    km_stage *s = st;
    *again = false;
    if (s->sampling) {
        SF_TRY(end_sampling(s, err));
        *again = true;
        return SF_OK;
    }
    if (pass == s->mb_pass) {
        s->pass_open = false;
        s->took_over = false;
        /* the leftover rows: one last, smaller batch */
        if (s->bat_rows) SF_TRY(close_batch(s, err));
        if (s->last_rows && s->compute_labels) {
            double inertia;
            SF_TRY(sf_kmeans_inertia_of(s->km, s->bat, s->last_rows, s->bat_p, s->bat_p, s->wbat, &inertia, err));
            sfi_kmeans_set_inertia(s->km, inertia);
        }
        free(s->bat);
        free(s->wbat);
        free(s->bacc);
        s->bat = s->wbat = s->bacc = NULL;
        s->last_rows = 0;
        if (!km_fitted(s)) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: no rows to fit");
        s->refine_done = 0;
        s->done = s->refine == 0;
        s->n_history = 0;
        *again = !s->done;
        return SF_OK;
    }
    if (!s->in_refine || !s->acc)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: end of refine pass %u without its begin", pass);
    double inertia = sf_kmeans_lloyd_inertia(s->acc);
    SF_TRY(push_history(s, inertia, err));
    if (s->refine_done < s->refine) {
        bool moved;
        SF_TRY(sf_kmeans_lloyd_apply(s->km, s->acc, &moved, err));
        s->refine_done++;
        s->done = !moved; /* a fixed point: the inertia just measured is final */
    } else {
        sfi_kmeans_set_inertia(s->km, inertia);
        s->done = true;
    }
    s->in_refine = !s->done;
    *again = !s->done;
    return SF_OK;
}

static bool km_pass_mergeable(const void *st, unsigned pass)
{
    const km_stage *s = st;
    return s->sampling || pass > s->mb_pass;
}

/* ------------------------------------------------------------ outputs */

static size_t km_n_outputs(const void *st, size_t n_in)
{
    (void)st;
    (void)n_in;
    return 1;
}

static sf_status km_predict(const void *st, const double *x, size_t n, size_t p, size_t ld, double *out,
                            size_t out_ld, sf_error *err)
{
    const km_stage *s = st;
    size_t *labels = malloc((n ? n : 1) * sizeof *labels);
    if (!labels) return sfi_nomem(err);
    sf_status r = sf_kmeans_predict(s->km, x, n, p, ld, labels, err);
    for (size_t i = 0; i < n && r == SF_OK; i++) out[i * out_ld] = (double)labels[i];
    free(labels);
    return r;
}

static size_t km_n_outputs_as(const void *st, sfi_output what, size_t n_in)
{
    const km_stage *s = st;
    (void)n_in;
    if (what == SFI_OUT_DEFAULT) return 1;
    if (what == SFI_OUT_TRANSFORM) return sf_kmeans_n_clusters(s->km);
    return 0;
}

static sf_status km_output_as(const void *st, sfi_output what, const double *x, size_t n, size_t p, size_t ld,
                              double *out, size_t out_ld, sf_error *err)
{
    const km_stage *s = st;
    if (what == SFI_OUT_DEFAULT) return km_predict(st, x, n, p, ld, out, out_ld, err);
    if (what == SFI_OUT_TRANSFORM) return sf_kmeans_transform(s->km, x, n, p, ld, out, out_ld, err);
    return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "minibatch_kmeans: no such output");
}

/* sklearn's score is minus the inertia, a total (not a mean): *sum is the
 * block's -Σ w ||x - c||², *count its rows. */
static sf_status km_score(const void *st, const sf_block *b, double *sum, double *count, sf_error *err)
{
    const km_stage *s = st;
    double inertia;
    SF_TRY(sf_kmeans_inertia_of(s->km, b->x, b->n_rows, b->n_cols, b->ld, b->w, &inertia, err));
    *sum = -inertia;
    *count = (double)b->n_rows;
    return SF_OK;
}

/* ------------------------------------------------------------ export */

static const char *init_name(sf_kmeans_init i)
{
    return i == SF_KMEANS_INIT_RANDOM ? "random" : i == SF_KMEANS_INIT_ARRAY ? "array" : "k-means++";
}

static void json_matrix(sfi_buf *b, const double *v, size_t rows, size_t cols)
{
    sfi_buf_printf(b, "[");
    for (size_t i = 0; i < rows; i++) {
        if (i) sfi_buf_printf(b, ", ");
        sfi_buf_json_array(b, v + i * cols, cols);
    }
    sfi_buf_printf(b, "]");
}

static void km_to_json(const void *st, sfi_buf *b)
{
    const km_stage *s = st;
    sf_kmeans_params p = sf_kmeans_get_params(s->km);
    size_t k = p.n_clusters, nf = sf_kmeans_n_features(s->km);
    sfi_buf_printf(b, "\"params\": {\"n_clusters\": %zu, \"init\": ", k);
    if (p.init == SF_KMEANS_INIT_ARRAY) json_matrix(b, p.init_centers, k, p.init_n_features);
    else sfi_buf_json_string(b, init_name(p.init), strlen(init_name(p.init)));
    sfi_buf_printf(b, ", \"batch_size\": %zu, \"init_size\": ", p.batch_size);
    if (p.init_size) sfi_buf_printf(b, "%zu", p.init_size);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"reassignment_ratio\": ");
    sfi_buf_json_number(b, p.reassignment_ratio);
    sfi_buf_printf(b, ", \"random_state\": ");
    if (p.random_state >= 0) sfi_buf_printf(b, "%lld", (long long)p.random_state);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"compute_labels\": %s, \"refine\": %u, \"init_sample\": %zu}",
                   s->compute_labels ? "true" : "false", s->refine, s->init_sample);
    if (!nf) return;
    double *centers = malloc(k * nf * sizeof *centers), *counts = malloc(k * sizeof *counts);
    sf_kmeans_state ks;
    if (!centers || !counts || sf_kmeans_get_state(s->km, centers, counts, &ks, NULL) != SF_OK) {
        b->failed = true;
        free(centers);
        free(counts);
        return;
    }
    sfi_buf_printf(b, ", \"cluster_centers_\": ");
    json_matrix(b, centers, k, nf);
    sfi_buf_printf(b, ", \"counts_\": ");
    sfi_buf_json_array(b, counts, k);
    sfi_buf_printf(b, ", \"n_steps_\": %llu, \"inertia_\": ", (unsigned long long)ks.n_steps);
    sfi_buf_json_number(b, ks.inertia);
    sfi_buf_printf(b, ", \"refine_inertia_\": ");
    sfi_buf_json_array(b, s->history, s->n_history);
    sfi_buf_printf(b, ", \"n_features_in_\": %zu", nf);
    sfi_buf_printf(b, ", \"state\": {\"n_since_last_reassign\": %llu, \"batch_size\": %llu, \"init_size\": %llu, "
                      "\"random_state\": {\"key\": [",
                   (unsigned long long)ks.n_since_last_reassign, (unsigned long long)ks.batch_size,
                   (unsigned long long)ks.init_size);
    for (size_t i = 0; i < 624; i++) sfi_buf_printf(b, "%s%u", i ? ", " : "", (unsigned)ks.rng_key[i]);
    sfi_buf_printf(b, "], \"pos\": %u}}", (unsigned)ks.rng_pos);
    free(centers);
    free(counts);
}

/* ------------------------------------------------------------ model file */

static sf_status km_save(const void *st, hid_t g, const sfi_h5ctx *c)
{
    const km_stage *s = st;
    sf_kmeans_params p = sf_kmeans_get_params(s->km);
    size_t k = p.n_clusters, nf = sf_kmeans_n_features(s->km);
    char ratio[40];
    snprintf(ratio, sizeof ratio, "%.17g", p.reassignment_ratio);
    SF_TRY(sfi_h5_attr_write_i64(c, g, "n_clusters", (int64_t)k));
    SF_TRY(sfi_h5_attr_write_str(c, g, "init", init_name(p.init)));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "batch_size", (int64_t)p.batch_size));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "init_size", (int64_t)p.init_size));
    SF_TRY(sfi_h5_attr_write_str(c, g, "reassignment_ratio", ratio));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "random_state", p.random_state));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "compute_labels", s->compute_labels));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "refine", s->refine));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "init_sample", (int64_t)s->init_sample));
    if (p.init == SF_KMEANS_INIT_ARRAY)
        SF_TRY(sfi_h5_write_vec(c, g, "init_centers", p.init_centers, k * p.init_n_features));
    if (!nf) return sfi_fail(c->err, SF_ERR_STATE, NULL, "minibatch_kmeans: not fitted");
    double *centers = malloc(k * nf * sizeof *centers), *counts = malloc(k * sizeof *counts);
    double *key = malloc(624 * sizeof *key);
    sf_kmeans_state ks;
    sf_status r = (!centers || !counts || !key) ? sfi_nomem(c->err) : SF_OK;
    if (r == SF_OK) r = sf_kmeans_get_state(s->km, centers, counts, &ks, c->err);
    if (r == SF_OK) {
        for (size_t i = 0; i < 624; i++) key[i] = ks.rng_key[i]; /* uint32: exact in a double */
        r = sfi_h5_write_vec(c, g, "cluster_centers_", centers, k * nf);
    }
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "counts_", counts, k);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "inertia_", &ks.inertia, 1);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "refine_inertia_", s->history, s->n_history);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "rng_key", key, 624);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "rng_pos", ks.rng_pos);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "n_steps_", (int64_t)ks.n_steps);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "n_since_last_reassign", (int64_t)ks.n_since_last_reassign);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "batch_size_", (int64_t)ks.batch_size);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "init_size_", (int64_t)ks.init_size);
    free(centers);
    free(counts);
    free(key);
    return r;
}

static sf_status corrupt(const sfi_h5ctx *c, const char *what)
{
    sf_where w;
    sfi_where_init(&w, c->file);
    return sfi_fail(c->err, SF_ERR_PARSE, &w, "corrupt model file: minibatch_kmeans %s", what);
}

static sf_status read_u64(const sfi_h5ctx *c, hid_t g, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    SF_TRY(sfi_h5_attr_read_i64(c, g, name, out));
    if (*out < lo || *out > hi) return corrupt(c, name);
    return SF_OK;
}

/* The parameters from the group's attributes (init_centers: a new array). */
static sf_status load_params(hid_t g, size_t n_in, const sfi_h5ctx *c, sf_kmeans_params *p, double **init,
                             int64_t *refine, int64_t *init_sample)
{
    int64_t v;
    char *s = NULL;
    sf_kmeans_params_default(p);
    SF_TRY(read_u64(c, g, "n_clusters", 1, INT32_MAX, &v));
    p->n_clusters = (size_t)v;
    SF_TRY(read_u64(c, g, "batch_size", 1, INT64_MAX, &v));
    p->batch_size = (size_t)v;
    SF_TRY(read_u64(c, g, "init_size", 0, INT64_MAX, &v));
    p->init_size = (size_t)v;
    SF_TRY(read_u64(c, g, "random_state", -1, UINT32_MAX, &p->random_state));
    SF_TRY(read_u64(c, g, "compute_labels", 0, 1, &v));
    p->compute_labels = v != 0;
    SF_TRY(read_u64(c, g, "refine", 0, 100000, refine));
    SF_TRY(read_u64(c, g, "init_sample", 0, 1000000000, init_sample));
    SF_TRY(sfi_h5_attr_read_str(c, g, "reassignment_ratio", &s));
    char *end;
    p->reassignment_ratio = strtod(s, &end);
    bool bad = end == s || *end;
    free(s);
    if (bad) return corrupt(c, "reassignment_ratio");
    SF_TRY(sfi_h5_attr_read_str(c, g, "init", &s));
    if (strcmp(s, "k-means++") == 0) p->init = SF_KMEANS_INIT_KMEANSPP;
    else if (strcmp(s, "random") == 0) p->init = SF_KMEANS_INIT_RANDOM;
    else if (strcmp(s, "array") == 0) p->init = SF_KMEANS_INIT_ARRAY;
    else bad = true;
    free(s);
    if (bad) return corrupt(c, "init");
    if (p->init == SF_KMEANS_INIT_ARRAY) {
        SF_TRY(sfi_h5_read_vec(c, g, "init_centers", p->n_clusters * n_in, init, NULL));
        p->init_centers = *init;
        p->init_n_features = n_in;
    }
    return SF_OK;
}

static sf_status km_load(void **out, hid_t g, size_t n_in, const sfi_h5ctx *c)
{
    *out = NULL;
    sf_kmeans_params p;
    double *init = NULL, *centers = NULL, *counts = NULL, *inertia = NULL, *key = NULL, *hist = NULL;
    size_t n_hist = 0;
    int64_t refine = 0, pos = 0, steps = 0, since = 0, bs = 0, is = 0;
    km_stage *s = NULL;
    int64_t init_sample = 0;
    sf_status r = load_params(g, n_in, c, &p, &init, &refine, &init_sample);
    if (r == SF_OK && n_in == 0) r = corrupt(c, "input width 0");
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "cluster_centers_", p.n_clusters * n_in, &centers, NULL);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "counts_", p.n_clusters, &counts, NULL);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "inertia_", 1, &inertia, NULL);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "refine_inertia_", 0, &hist, &n_hist);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "rng_key", 624, &key, NULL);
    if (r == SF_OK) r = read_u64(c, g, "rng_pos", 0, 624, &pos);
    if (r == SF_OK) r = read_u64(c, g, "n_steps_", 0, INT64_MAX, &steps);
    if (r == SF_OK) r = read_u64(c, g, "n_since_last_reassign", 0, INT64_MAX, &since);
    if (r == SF_OK) r = read_u64(c, g, "batch_size_", 1, INT64_MAX, &bs);
    if (r == SF_OK) r = read_u64(c, g, "init_size_", 0, INT64_MAX, &is);
    sf_kmeans_state ks;
    memset(&ks, 0, sizeof ks);
    for (size_t i = 0; r == SF_OK && i < 624; i++) {
        if (!(key[i] >= 0 && key[i] <= UINT32_MAX && key[i] == floor(key[i]))) r = corrupt(c, "rng_key");
        else ks.rng_key[i] = (uint32_t)key[i];
    }
    if (r == SF_OK) {
        ks.rng_pos = (uint32_t)pos;
        ks.n_steps = (uint64_t)steps;
        ks.n_since_last_reassign = (uint64_t)since;
        ks.batch_size = (uint64_t)bs;
        ks.init_size = (uint64_t)is;
        ks.inertia = inertia[0];
        s = calloc(1, sizeof *s);
        if (!s) r = sfi_nomem(c->err);
    }
    if (r == SF_OK) {
        s->compute_labels = p.compute_labels;
        p.compute_labels = false;
        r = sf_kmeans_new(&s->km, &p, c->err);
        if (r == SF_OK) r = sf_kmeans_set_state(s->km, n_in, centers, counts, &ks, c->err);
        if (r != SF_OK && r != SF_ERR_NOMEM && c->err) { /* bad parameters or state: a corrupt file */
            char msg[sizeof c->err->message];
            sfi_strlcpy(msg, c->err->message, sizeof msg);
            r = corrupt(c, msg);
        }
    }
    if (r == SF_OK) {
        s->refine = (unsigned)refine;
        s->init_sample = (size_t)init_sample;
        s->history = hist;
        s->n_history = n_hist;
        s->refine_done = s->refine;
        s->done = true;
        hist = NULL;
    }
    free(init);
    free(centers);
    free(counts);
    free(inertia);
    free(key);
    free(hist);
    if (r != SF_OK) {
        km_stage_free(s);
        return r;
    }
    *out = s;
    return SF_OK;
}

const sfi_stage_ops sfi_kmeans_stage = {
    .kind = "minibatch_kmeans",
    .alias = NULL,
    .params_help = "n_clusters, init, batch_size, init_size, reassignment_ratio, random_state, compute_labels, "
                   "refine, init_sample (ignored as in sklearn's partial_fit: max_iter, tol, max_no_improvement, n_init, verbose)",
    .mergeable = false,
    .estimator = true,
    .unsupervised = true,
    .takes_parts = true, /* batches re-cut from the blocks, each row summed in order: bitwise the same */
    .create = km_create,
    .clone_empty = km_clone_empty,
    .free = km_stage_free,
    .partial_fit = km_partial_fit,
    .merge = km_merge,
    .n_outputs = km_n_outputs,
    .transform = km_predict,
    .to_json = km_to_json,
    .save = km_save,
    .load = km_load,
    .begin_pass = km_begin_pass,
    .end_pass = km_end_pass,
    .pass_mergeable = km_pass_mergeable,
    .n_outputs_as = km_n_outputs_as,
    .output_as = km_output_as,
    .score = km_score,
    .set_pool = km_set_pool,
};
