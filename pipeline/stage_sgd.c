/* stage_sgd.c — the SGD family as pipeline stages: sgd_classifier,
 * sgd_regressor, perceptron, passive_aggressive_classifier and
 * passive_aggressive_regressor, adapters from blocks and spec parameters (with
 * scikit-learn's names) to sf_sgd.
 *
 * Passes: one pass is one epoch. end_pass asks for another while max_iter is not
 * reached and sklearn fit()'s tol / n_iter_no_change rule has not stopped every
 * weight vector (sf_sgd_end_epoch); so `max_iter` (the CLI's --epochs) turns
 * partial_fit's single pass into fit()'s epochs.
 *
 * Order matters, so the stage is not mergeable: the pipeline feeds one state in
 * data order. clone_empty gives the unfitted state, except between the epochs of a
 * fit (an end_pass asked for more), where it gives a copy to go on from; merge
 * replaces its target with the state that learned from it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/np_random.h"
#include "pipeline/stage.h"
#include "streamfit/sf_number.h"
#include "streamfit/sf_sgd.h"

typedef struct sgd_stage {
    sf_sgd *m;
    double *spec_classes;       /* classes=[...] from the spec, sorted, or NULL */
    size_t n_spec_classes, classes_column;
    double *cw_labels, *cw_values; /* class_weight from the spec */
    size_t n_cw;
    bool mid_fit;               /* the last end_pass asked for another pass */
    bool holdout_given;         /* holdout_period was in the spec (over validation_fraction) */
} sgd_stage;

/* ---------------------------------------------------------------- parameters */

enum { K_CLS = 1, K_REG = 2, K_PER = 4, K_PAC = 8, K_PAR = 16, K_ALL = 31 };

/* Parameters per kind, as the sklearn constructors take them (plus classes). */
static const struct { const char *key; unsigned kinds; } known_params[] = {
    {"loss", K_CLS | K_REG | K_PAC | K_PAR}, {"penalty", K_CLS | K_REG | K_PER},
    {"alpha", K_CLS | K_REG | K_PER}, {"l1_ratio", K_CLS | K_REG | K_PER}, {"C", K_PAC | K_PAR},
    {"fit_intercept", K_ALL}, {"max_iter", K_ALL}, {"tol", K_ALL}, {"shuffle", K_ALL},
    {"verbose", K_ALL}, {"epsilon", K_CLS | K_REG | K_PAR}, {"n_jobs", K_CLS | K_PER | K_PAC},
    {"random_state", K_ALL}, {"learning_rate", K_CLS | K_REG}, {"eta0", K_CLS | K_REG | K_PER},
    {"power_t", K_CLS | K_REG}, {"early_stopping", K_ALL}, {"validation_fraction", K_ALL},
    {"n_iter_no_change", K_ALL}, {"class_weight", K_CLS | K_PER | K_PAC}, {"warm_start", K_ALL},
    {"average", K_CLS | K_REG | K_PAC | K_PAR}, {"classes", K_CLS | K_PER | K_PAC},
    {"shuffle_block", K_ALL}, {"holdout_period", K_ALL},
};

static unsigned kind_bit(sf_sgd_kind k) { return 1u << (unsigned)k; }

static bool kind_has(sf_sgd_kind k, const char *key)
{
    for (size_t i = 0; i < sizeof known_params / sizeof *known_params; i++)
        if (strcmp(known_params[i].key, key) == 0) return (known_params[i].kinds & kind_bit(k)) != 0;
    return false;
}

#define HELP_CLS                                                                              \
    "loss, penalty, alpha, l1_ratio, fit_intercept, max_iter, tol, shuffle, verbose, epsilon, "  \
    "n_jobs, random_state, learning_rate, eta0, power_t, early_stopping, validation_fraction, "  \
    "n_iter_no_change, class_weight, warm_start, average, classes, shuffle_block, holdout_period"
#define HELP_REG                                                                              \
    "loss, penalty, alpha, l1_ratio, fit_intercept, max_iter, tol, shuffle, verbose, epsilon, "  \
    "random_state, learning_rate, eta0, power_t, early_stopping, validation_fraction, "          \
    "n_iter_no_change, warm_start, average, shuffle_block, holdout_period"
#define HELP_PER                                                                              \
    "penalty, alpha, l1_ratio, fit_intercept, max_iter, tol, shuffle, verbose, eta0, n_jobs, "   \
    "random_state, early_stopping, validation_fraction, n_iter_no_change, class_weight, "        \
    "warm_start, classes, shuffle_block, holdout_period"
#define HELP_PAC                                                                              \
    "C, fit_intercept, max_iter, tol, early_stopping, validation_fraction, n_iter_no_change, "   \
    "shuffle, verbose, loss, n_jobs, random_state, warm_start, class_weight, average, classes, "   \
    "shuffle_block, holdout_period"
#define HELP_PAR                                                                              \
    "C, fit_intercept, max_iter, tol, early_stopping, validation_fraction, n_iter_no_change, "   \
    "shuffle, verbose, loss, epsilon, random_state, warm_start, average, shuffle_block, holdout_period"
static const char *const params_help[] = {HELP_CLS, HELP_REG, HELP_PER, HELP_PAC, HELP_PAR};

static sf_status want_string(const sfi_param *prm, const char **out, sf_error *err)
{
    if (prm->value.type != SFI_V_STRING)
        return sfi_spec_fail(err, prm->value.column, "%s must be a string", prm->key);
    *out = prm->value.str;
    return SF_OK;
}

static sf_status want_int(const sfi_param *prm, double lo, double *out, sf_error *err)
{
    if (prm->value.type != SFI_V_NUMBER || !prm->value.is_int || !(prm->value.num >= lo) ||
        prm->value.num > 4294967295.0)
        return sfi_spec_fail(err, prm->value.column, "%s must be an integer >= %g", prm->key, lo);
    *out = prm->value.num;
    return SF_OK;
}

static sf_status want_number(const sfi_param *prm, double *out, sf_error *err)
{
    return sfi_param_number(prm, out, err);
}

/* A list of numbers (classes=[...]): copied. */
static sf_status want_numbers(const sfi_param *prm, const sfi_value *v, double **out, size_t *n,
                              sf_error *err)
{
    if (v->type != SFI_V_LIST)
        return sfi_spec_fail(err, v->column, "%s must be a list of numbers", prm->key);
    double *a = malloc((v->n_items ? v->n_items : 1) * sizeof *a);
    if (!a) return sfi_nomem(err);
    for (size_t i = 0; i < v->n_items; i++) {
        if (v->items[i].type != SFI_V_NUMBER) {
            free(a);
            return sfi_spec_fail(err, v->items[i].column, "%s must be a list of numbers, or of strings",
                                 prm->key);
        }
        a[i] = v->items[i].num;
    }
    *out = a;
    *n = v->n_items;
    return SF_OK;
}

/* class_weight: None, or [[label, weight], ...] (sklearn's dict). */
static sf_status parse_class_weight(sgd_stage *ss, const sfi_param *prm, sf_error *err)
{
    const sfi_value *v = &prm->value;
    if (v->type == SFI_V_NULL) return SF_OK;
    if (v->type == SFI_V_STRING && strcmp(v->str, "balanced") == 0)
        return sfi_spec_fail(err, v->column, "class_weight 'balanced' is not supported when learning "
                                             "chunk by chunk (as sklearn's partial_fit): give "
                                             "[[label, weight], ...]");
    if (v->type != SFI_V_LIST)
        return sfi_spec_fail(err, v->column, "class_weight must be None or [[label, weight], ...]");
    ss->cw_labels = malloc((v->n_items ? v->n_items : 1) * sizeof(double));
    ss->cw_values = malloc((v->n_items ? v->n_items : 1) * sizeof(double));
    if (!ss->cw_labels || !ss->cw_values) return sfi_nomem(err);
    for (size_t i = 0; i < v->n_items; i++) {
        const sfi_value *it = &v->items[i];
        if (it->type != SFI_V_LIST || it->n_items != 2 || it->items[0].type != SFI_V_NUMBER ||
            it->items[1].type != SFI_V_NUMBER)
            return sfi_spec_fail(err, it->column, "class_weight entries must be [label, weight]");
        ss->cw_labels[i] = it->items[0].num;
        ss->cw_values[i] = it->items[1].num;
    }
    ss->n_cw = v->n_items;
    return SF_OK;
}

/* Reads one spec parameter into p or ss. */
static sf_status parse_param(sgd_stage *ss, sf_sgd_params *p, const sfi_param *prm, sf_error *err)
{
    const char *k = prm->key, *s = "";
    const sfi_value *v = &prm->value;
    double d;
    bool b;
    if (strcmp(k, "loss") == 0) {
        SF_TRY(want_string(prm, &s, err));
        if (sf_sgd_loss_from_name(s, &p->loss) != SF_OK)
            return sfi_spec_fail(err, v->column, "unknown loss %s", s);
    } else if (strcmp(k, "penalty") == 0) {
        if (v->type == SFI_V_NULL) p->penalty = SF_SGD_PENALTY_NONE;
        else {
            SF_TRY(want_string(prm, &s, err));
            if (sf_sgd_penalty_from_name(s, &p->penalty) != SF_OK)
                return sfi_spec_fail(err, v->column, "unknown penalty %s (valid: l2, l1, elasticnet, None)", s);
        }
    } else if (strcmp(k, "learning_rate") == 0) {
        SF_TRY(want_string(prm, &s, err));
        if (sf_sgd_learning_rate_from_name(s, &p->learning_rate) != SF_OK ||
            p->learning_rate > SF_SGD_LR_ADAPTIVE)
            return sfi_spec_fail(err, v->column,
                                 "unknown learning_rate %s (valid: constant, optimal, invscaling, adaptive)", s);
    } else if (strcmp(k, "alpha") == 0) SF_TRY(want_number(prm, &p->alpha, err));
    else if (strcmp(k, "l1_ratio") == 0) SF_TRY(want_number(prm, &p->l1_ratio, err));
    else if (strcmp(k, "C") == 0) SF_TRY(want_number(prm, &p->C, err));
    else if (strcmp(k, "epsilon") == 0) SF_TRY(want_number(prm, &p->epsilon, err));
    else if (strcmp(k, "eta0") == 0) SF_TRY(want_number(prm, &p->eta0, err));
    else if (strcmp(k, "power_t") == 0) SF_TRY(want_number(prm, &p->power_t, err));
    else if (strcmp(k, "fit_intercept") == 0) SF_TRY(sfi_param_bool(prm, &p->fit_intercept, err));
    else if (strcmp(k, "shuffle") == 0) SF_TRY(sfi_param_bool(prm, &p->shuffle, err));
    else if (strcmp(k, "early_stopping") == 0) SF_TRY(sfi_param_bool(prm, &p->early_stopping, err));
    else if (strcmp(k, "warm_start") == 0) SF_TRY(sfi_param_bool(prm, &b, err)); /* update is the warm start */
    else if (strcmp(k, "max_iter") == 0) {
        SF_TRY(want_int(prm, 1, &d, err));
        p->max_iter = (uint32_t)d;
    } else if (strcmp(k, "n_iter_no_change") == 0) {
        SF_TRY(want_int(prm, 1, &d, err));
        p->n_iter_no_change = (uint32_t)d;
    } else if (strcmp(k, "tol") == 0) {
        if (v->type == SFI_V_NULL) p->tol = NAN;
        else SF_TRY(want_number(prm, &p->tol, err));
    } else if (strcmp(k, "average") == 0) {
        if (v->type == SFI_V_BOOL) p->average = v->b ? 1 : 0;
        else {
            SF_TRY(want_int(prm, 0, &d, err));
            p->average = (uint64_t)d;
        }
    } else if (strcmp(k, "random_state") == 0) {
        if (v->type == SFI_V_NULL) p->random_state = -1;
        else {
            SF_TRY(want_int(prm, 0, &d, err));
            p->random_state = (int64_t)d;
        }
    } else if (strcmp(k, "shuffle_block") == 0) {
        SF_TRY(want_int(prm, 0, &d, err));
        p->shuffle_block = (uint64_t)d;
    } else if (strcmp(k, "verbose") == 0 || strcmp(k, "n_jobs") == 0) {
        /* accepted for sklearn compatibility; no effect (one learner) */
        if (v->type != SFI_V_NULL) SF_TRY(want_int(prm, strcmp(k, "n_jobs") == 0 ? -1e9 : 0, &d, err));
    } else if (strcmp(k, "validation_fraction") == 0) {
        /* early_stopping holds out every (1 / validation_fraction)-th row (at least
         * every second) */
        SF_TRY(want_number(prm, &d, err));
        if (!(d > 0 && d < 1)) return sfi_spec_fail(err, v->column, "validation_fraction must be in (0, 1)");
        long period = lround(1.0 / d);
        if (!ss->holdout_given) p->holdout_period = period < 2 ? 2 : (uint32_t)(period > 1000000 ? 1000000 : period);
    } else if (strcmp(k, "holdout_period") == 0) {
        SF_TRY(want_int(prm, 0, &d, err));
        p->holdout_period = (uint32_t)d;
        ss->holdout_given = true;
    } else if (strcmp(k, "class_weight") == 0) {
        SF_TRY(parse_class_weight(ss, prm, err));
    } else if (strcmp(k, "classes") == 0) {
        bool labels = v->type == SFI_V_LIST;
        for (size_t i = 0; i < v->n_items && labels; i++) labels = v->items[i].type == SFI_V_STRING;
        if (labels && v->n_items) return SF_OK; /* a categorical target's: the pipeline maps them to codes */
        SF_TRY(want_numbers(prm, v, &ss->spec_classes, &ss->n_spec_classes, err));
        ss->classes_column = v->column;
    }
    return SF_OK;
}

static void stage_free(void *st)
{
    sgd_stage *ss = st;
    if (!ss) return;
    sf_sgd_free(ss->m);
    free(ss->spec_classes);
    free(ss->cw_labels);
    free(ss->cw_values);
    free(ss);
}

/* The column of the parameter named field; for a rule it shares with another
 * parameter (eta0 > 0 and alpha > 0 with learning_rate, random_state with
 * shuffle), that one's when only it was given; else the stage's own. */
static size_t field_column(const sfi_spec_stage *spec, const char *field)
{
    const char *other = strcmp(field, "eta0") == 0 || strcmp(field, "alpha") == 0 ? "learning_rate"
                        : strcmp(field, "random_state") == 0                     ? "shuffle"
                                                                                 : NULL;
    const char *keys[2] = {field, other};
    for (int k = 0; k < 2 && keys[k]; k++)
        for (size_t i = 0; i < spec->n_params; i++)
            if (strcmp(spec->params[i].key, keys[k]) == 0) return spec->params[i].value.column;
    return spec->column;
}

/* Makes the sf_sgd of ss (parameters, class weights, spec classes). */
static sf_status build_model(sgd_stage *ss, const sf_sgd_params *p, sf_error *err)
{
    SF_TRY(sf_sgd_new(&ss->m, p, err));
    if (ss->n_cw) SF_TRY(sf_sgd_set_class_weight(ss->m, ss->cw_labels, ss->cw_values, ss->n_cw, err));
    if (ss->spec_classes) SF_TRY(sf_sgd_set_classes(ss->m, ss->spec_classes, ss->n_spec_classes, err));
    return SF_OK;
}

static sf_status create_kind(sf_sgd_kind kind, void **out, const sfi_spec_stage *spec, sf_error *err)
{
    *out = NULL;
    sgd_stage *ss = calloc(1, sizeof *ss);
    if (!ss) return sfi_nomem(err);
    sf_sgd_params p;
    sf_sgd_params_default(&p, kind);
    sf_status st = SF_OK;
    for (size_t i = 0; i < spec->n_params && st == SF_OK; i++) {
        const sfi_param *prm = &spec->params[i];
        if (!kind_has(kind, prm->key))
            st = sfi_spec_fail(err, prm->column, "unknown parameter %s for %s (valid: %s)", prm->key,
                               spec->kind, params_help[kind]);
        else
            st = parse_param(ss, &p, prm, err);
    }
    if (st == SF_OK) {
        /* a parameter check of sf_sgd: point at the parameter it names */
        sf_error e;
        st = build_model(ss, &p, &e);
        if (st != SF_OK && st != SF_ERR_NOMEM && err) {
            const char *field = e.field_name[0] ? e.field_name : "classes";
            sfi_spec_fail(err, field_column(spec, field), "%s", e.message);
            err->status = st;
            sfi_strlcpy(err->field_name, e.field_name, sizeof err->field_name);
        } else if (st != SF_OK && err) {
            *err = e;
        }
    }
    if (st != SF_OK) {
        stage_free(ss);
        return st;
    }
    if (ss->spec_classes) { /* kept sorted and unique, as classes_ */
        memcpy(ss->spec_classes, sf_sgd_classes(ss->m), sf_sgd_n_classes(ss->m) * sizeof(double));
        ss->n_spec_classes = sf_sgd_n_classes(ss->m);
    }
    *out = ss;
    return SF_OK;
}

/* An unfitted stage with src's parameters, class weights and spec classes. */
static sf_status unfitted_copy(const sgd_stage *src, sgd_stage **out, sf_error *err)
{
    *out = NULL;
    sgd_stage *ss = calloc(1, sizeof *ss);
    if (!ss) return sfi_nomem(err);
    size_t ncw = src->n_cw ? src->n_cw : 1, ncl = src->n_spec_classes ? src->n_spec_classes : 1;
    ss->cw_labels = malloc(ncw * sizeof(double));
    ss->cw_values = malloc(ncw * sizeof(double));
    ss->spec_classes = src->spec_classes ? malloc(ncl * sizeof(double)) : NULL;
    if (!ss->cw_labels || !ss->cw_values || (src->spec_classes && !ss->spec_classes)) {
        stage_free(ss);
        return sfi_nomem(err);
    }
    ss->n_cw = src->n_cw;
    if (src->n_cw) {
        memcpy(ss->cw_labels, src->cw_labels, src->n_cw * sizeof(double));
        memcpy(ss->cw_values, src->cw_values, src->n_cw * sizeof(double));
    }
    ss->n_spec_classes = src->n_spec_classes;
    ss->classes_column = src->classes_column;
    if (src->spec_classes) memcpy(ss->spec_classes, src->spec_classes, ncl * sizeof(double));
    sf_sgd_params p = sf_sgd_get_params(src->m);
    sf_status st = build_model(ss, &p, err);
    if (st != SF_OK) {
        stage_free(ss);
        return st;
    }
    *out = ss;
    return SF_OK;
}

static sf_status stage_clone_empty(const void *st, void **out, sf_error *err)
{
    const sgd_stage *src = st;
    sgd_stage *ss = NULL;
    SF_TRY(unfitted_copy(src, &ss, err));
    if (src->mid_fit) { /* between epochs: go on from what was learned */
        sf_sgd *m = NULL;
        sf_status r = sf_sgd_clone(src->m, &m, err);
        if (r != SF_OK) {
            stage_free(ss);
            return r;
        }
        sf_sgd_free(ss->m);
        ss->m = m;
        ss->mid_fit = true;
    }
    *out = ss;
    return SF_OK;
}

/* An order-dependent learner does not merge: the pipeline's only merge for it is
 * the one state that learned in data order into the state it started from. */
static sf_status stage_merge(void *dst, const void *src, sf_error *err)
{
    sgd_stage *d = dst;
    const sgd_stage *s = src;
    if (sf_sgd_t(s->m) < sf_sgd_t(d->m))
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL,
                        "%s states do not merge: rows are learned in order by one state",
                        sf_sgd_kind_name(sf_sgd_get_params(d->m).kind));
    sf_sgd *m = NULL;
    SF_TRY(sf_sgd_clone(s->m, &m, err));
    sf_sgd_free(d->m);
    d->m = m;
    return SF_OK;
}

/* ---------------------------------------------------------------- learning */

static sf_status stage_partial_fit(void *st, const sf_block *b, sf_error *err)
{
    sgd_stage *ss = st;
    if (!b->y) return sfi_fail(err, SF_ERR_ARG, NULL, "%s needs a target column",
                               sf_sgd_kind_name(sf_sgd_get_params(ss->m).kind));
    if (b->csr)
        return sf_sgd_partial_fit_csr(ss->m, b->csr->data, b->csr->indices, b->csr->indptr, b->n_rows, b->n_cols,
                                      b->y, b->w, err);
    return sf_sgd_partial_fit(ss->m, b->x, b->n_rows, b->n_cols, b->ld, b->y, b->w, err);
}

/* CSR rows are learned as sklearn's partial_fit learns a CSR matrix; with
 * shuffle the rows wait in a dense buffer, which CSR rows do not fill */
static sf_status stage_use_sparse(void *st, sf_error *err)
{
    sgd_stage *ss = st;
    if (sf_sgd_get_params(ss->m).shuffle)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s: shuffle=true is not available on sparse input",
                        sf_sgd_kind_name(sf_sgd_get_params(ss->m).kind));
    return SF_OK;
}

static sf_status stage_set_classes(void *st, const double *classes, size_t n, sf_error *err)
{
    sgd_stage *ss = st;
    if (!ss->spec_classes) return sf_sgd_set_classes(ss->m, classes, n, err);
    /* classes=[...] fixes classes_; the target may hold a subset, as in sklearn */
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < ss->n_spec_classes && !found; j++) found = ss->spec_classes[j] == classes[i];
        if (!found)
            return sfi_spec_fail(err, ss->classes_column,
                                 "the target has the class %g, which classes=[...] does not list", classes[i]);
    }
    return SF_OK;
}

static sf_status stage_begin_pass(void *st, unsigned pass, sf_error *err)
{
    (void)err;
    sgd_stage *ss = st;
    if (pass == 0) {
        sf_sgd_reset_epochs(ss->m);
        ss->mid_fit = false;
    }
    return SF_OK;
}

static sf_status stage_end_pass(void *st, unsigned pass, bool *again, sf_error *err)
{
    (void)pass;
    sgd_stage *ss = st;
    sf_status r = sf_sgd_end_epoch(ss->m, again, err);
    ss->mid_fit = r == SF_OK && *again;
    return r;
}

/* shuffle=true also permutes the order of the segments in each epoch (issue 5:
 * files sorted by time or label bias an in-order learner): epoch e visits them in
 * the (e+1)-th permutation drawn from RandomState(random_state).permutation(n). */
static bool stage_segment_order(const void *st, unsigned pass, size_t n, size_t *order)
{
    const sgd_stage *ss = st;
    sf_sgd_params p = sf_sgd_get_params(ss->m);
    if (!p.shuffle || p.random_state < 0 || n < 2) return false;
    sfi_np_rng r;
    sfi_np_seed(&r, (uint32_t)p.random_state);
    for (unsigned e = 0; e <= pass; e++) sfi_np_permutation(&r, order, n);
    return true;
}

static void stage_set_pool(void *st, sf_pool *pool)
{
    sf_sgd_set_pool(((sgd_stage *)st)->m, pool);
}

static bool stage_pass_losses(void *st, bool start, double out[4])
{
    sgd_stage *ss = st;
    if (start) sf_sgd_track_loss(ss->m, true);
    sf_sgd_progress g = sf_sgd_get_progress(ss->m);
    out[0] = g.train_loss;
    out[1] = g.rows;
    out[2] = g.holdout_loss;
    out[3] = g.holdout_weight;
    return true;
}

/* ---------------------------------------------------------------- outputs */

static size_t stage_n_outputs(const void *st, size_t n_in)
{
    (void)st;
    (void)n_in;
    return 1;
}

static sf_status stage_transform(const void *st, const double *x, size_t n, size_t p, size_t ld,
                                 double *out, size_t out_ld, sf_error *err)
{
    const sgd_stage *ss = st;
    return sf_sgd_predict(ss->m, x, n, p, ld, out, out_ld, err);
}

static bool has_proba(const sf_sgd *m)
{
    sf_sgd_params p = sf_sgd_get_params(m);
    return p.kind == SF_SGD_CLASSIFIER && (p.loss == SF_SGD_LOSS_LOG_LOSS || p.loss == SF_SGD_LOSS_MODIFIED_HUBER);
}

static size_t stage_n_outputs_as(const void *st, sfi_output what, size_t n_in)
{
    const sgd_stage *ss = st;
    (void)n_in;
    switch (what) {
    case SFI_OUT_DEFAULT: return 1;
    case SFI_OUT_PROBA: return has_proba(ss->m) ? sf_sgd_n_classes(ss->m) : 0;
    case SFI_OUT_DECISION: return sf_sgd_n_decision(ss->m);
    default: return 0;
    }
}

static sf_status stage_output_as(const void *st, sfi_output what, const double *x, size_t n, size_t p,
                                 size_t ld, double *out, size_t out_ld, sf_error *err)
{
    const sgd_stage *ss = st;
    switch (what) {
    case SFI_OUT_DEFAULT: return sf_sgd_predict(ss->m, x, n, p, ld, out, out_ld, err);
    case SFI_OUT_PROBA: return sf_sgd_predict_proba(ss->m, x, n, p, ld, out, out_ld, err);
    case SFI_OUT_DECISION: return sf_sgd_decision_function(ss->m, x, n, p, ld, out, out_ld, err);
    default:
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s has no such output",
                        sf_sgd_kind_name(sf_sgd_get_params(ss->m).kind));
    }
}

static sf_status stage_output_csr(const void *st, sfi_output what, const sf_csr *x, size_t n, double *out,
                                  size_t out_ld, sf_error *err)
{
    const sgd_stage *ss = st;
    switch (what) {
    case SFI_OUT_DEFAULT:
        return sf_sgd_predict_csr(ss->m, x->data, x->indices, x->indptr, n, x->n_cols, out, out_ld, err);
    case SFI_OUT_PROBA:
        return sf_sgd_predict_proba_csr(ss->m, x->data, x->indices, x->indptr, n, x->n_cols, out, out_ld, err);
    case SFI_OUT_DECISION:
        return sf_sgd_decision_function_csr(ss->m, x->data, x->indices, x->indptr, n, x->n_cols, out, out_ld, err);
    default:
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s has no such output",
                        sf_sgd_kind_name(sf_sgd_get_params(ss->m).kind));
    }
}

/* Score pieces of a block, so blocks add up:
 * - classifiers: sum = Σ w·[predict == y], count = Σ w; accuracy = sum / count
 *   (sklearn's score, accuracy_score with sample weights);
 * - regressors: sum = Σ w·(y - predict)², count = Σ w, the pieces of the weighted
 *   mean squared error. R² = 1 - (sum / count) / var_w(y) needs the target's
 *   weighted variance over all blocks (ddof 0), which the caller accumulates from
 *   centred sums (Decision 9); this hook cannot give it block by block. */
static sf_status stage_score(const void *st, const sf_block *b, double *sum, double *count, sf_error *err)
{
    const sgd_stage *ss = st;
    *sum = *count = 0;
    if (!b->y) return sfi_fail(err, SF_ERR_ARG, NULL, "scoring needs a target column");
    if (b->n_rows == 0) return SF_OK;
    double *pred = malloc(b->n_rows * sizeof *pred);
    if (!pred) return sfi_nomem(err);
    sf_status r = b->csr ? stage_output_csr(st, SFI_OUT_DEFAULT, b->csr, b->n_rows, pred, 1, err)
                         : sf_sgd_predict(ss->m, b->x, b->n_rows, b->n_cols, b->ld, pred, 1, err);
    bool cls = sf_sgd_is_classifier(ss->m);
    for (size_t i = 0; r == SF_OK && i < b->n_rows; i++) {
        double w = b->w ? b->w[i] : 1.0, e = b->y[i] - pred[i];
        *sum += cls ? w * (pred[i] == b->y[i]) : w * e * e;
        *count += w;
    }
    free(pred);
    return r;
}

/* ---------------------------------------------------------------- export */

static const char *const vec_names[SF_SGD_V_COUNT] = {
    "wscale", "intercept", "t", "eta", "average_a", "average_b", "average_intercept", "u",
    "sumloss", "best_loss", "no_improvement", "stopped", "holdout_loss"};

static void json_matrix(sfi_buf *b, const double *v, size_t rows, size_t cols)
{
    sfi_buf_printf(b, "[");
    for (size_t r = 0; r < rows; r++) {
        if (r) sfi_buf_printf(b, ", ");
        sfi_buf_json_array(b, v + r * cols, cols);
    }
    sfi_buf_printf(b, "]");
}

static void json_params(const sgd_stage *ss, sfi_buf *b)
{
    sf_sgd_params p = sf_sgd_get_params(ss->m);
    sf_sgd_kind k = p.kind;
    sfi_buf_printf(b, "\"params\": {");
    const char *sep = "";
#define SEP() (sfi_buf_printf(b, "%s", sep), sep = ", ")
    if (kind_has(k, "loss")) SEP(), sfi_buf_printf(b, "\"loss\": \"%s\"", sf_sgd_loss_name(p.loss));
    if (kind_has(k, "penalty")) {
        SEP();
        if (p.penalty == SF_SGD_PENALTY_NONE) sfi_buf_printf(b, "\"penalty\": null");
        else sfi_buf_printf(b, "\"penalty\": \"%s\"", sf_sgd_penalty_name(p.penalty));
    }
    static const char *const nums[] = {"alpha", "l1_ratio", "C", "epsilon", "eta0", "power_t"};
    const double vals[] = {p.alpha, p.l1_ratio, p.C, p.epsilon, p.eta0, p.power_t};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        if (kind_has(k, nums[i])) {
            SEP();
            sfi_buf_printf(b, "\"%s\": ", nums[i]);
            sfi_buf_json_number(b, vals[i]);
        }
    if (kind_has(k, "learning_rate"))
        SEP(), sfi_buf_printf(b, "\"learning_rate\": \"%s\"", sf_sgd_learning_rate_name(p.learning_rate));
    SEP(), sfi_buf_printf(b, "\"fit_intercept\": %s, \"max_iter\": %u, \"tol\": ",
                          p.fit_intercept ? "true" : "false", (unsigned)p.max_iter);
    sfi_buf_json_number(b, p.tol); /* NaN (None) prints as null */
    sfi_buf_printf(b, ", \"n_iter_no_change\": %u, \"shuffle\": %s, \"random_state\": ", (unsigned)p.n_iter_no_change,
                   p.shuffle ? "true" : "false");
    if (p.random_state < 0) sfi_buf_printf(b, "null");
    else sfi_buf_printf(b, "%lld", (long long)p.random_state);
    sfi_buf_printf(b, ", \"shuffle_block\": %llu, \"early_stopping\": %s, \"holdout_period\": %u",
                   (unsigned long long)p.shuffle_block, p.early_stopping ? "true" : "false",
                   (unsigned)p.holdout_period);
    if (kind_has(k, "average")) {
        if (p.average <= 1) sfi_buf_printf(b, ", \"average\": %s", p.average ? "true" : "false");
        else sfi_buf_printf(b, ", \"average\": %llu", (unsigned long long)p.average);
    }
    if (kind_has(k, "class_weight")) {
        sfi_buf_printf(b, ", \"class_weight\": ");
        if (!ss->n_cw) sfi_buf_printf(b, "null");
        for (size_t i = 0; i < ss->n_cw; i++) {
            char key[40];
            sf_format_double(ss->cw_labels[i], key, sizeof key);
            sfi_buf_printf(b, "%s\"%s\": ", i ? ", " : "{", key);
            sfi_buf_json_number(b, ss->cw_values[i]);
        }
        if (ss->n_cw) sfi_buf_printf(b, "}");
    }
#undef SEP
    sfi_buf_printf(b, "}");
}

static void stage_to_json(const void *st, sfi_buf *b)
{
    const sgd_stage *ss = st;
    json_params(ss, b);
    size_t p = sf_sgd_n_features(ss->m), rows = sf_sgd_n_coef_rows(ss->m);
    if (sf_sgd_is_classifier(ss->m) && sf_sgd_n_classes(ss->m)) {
        sfi_buf_printf(b, ", \"classes_\": ");
        sfi_buf_json_array(b, sf_sgd_classes(ss->m), sf_sgd_n_classes(ss->m));
    }
    if (!p) return;
    sfi_buf_printf(b, ", \"coef_\": ");
    if (sf_sgd_is_classifier(ss->m)) json_matrix(b, sf_sgd_coef(ss->m), rows, p); /* binary: [[...]] */
    else sfi_buf_json_array(b, sf_sgd_coef(ss->m), p);
    sfi_buf_printf(b, ", \"intercept_\": ");
    sfi_buf_json_array(b, sf_sgd_intercept(ss->m), rows);
    sfi_buf_printf(b, ", \"t_\": ");
    sfi_buf_json_number(b, sf_sgd_t(ss->m));
    /* sklearn: 1 after partial_fit, the epochs after fit */
    unsigned n_iter = sf_sgd_n_iter(ss->m);
    sfi_buf_printf(b, ", \"n_iter_\": %u, \"n_features_in_\": %zu", n_iter ? n_iter : 1, p);
    sf_sgd_state s;
    if (sf_sgd_get_state(ss->m, &s, NULL) != SF_OK) return;
    sfi_buf_printf(b, ", \"state\": {\"t_\": ");
    sfi_buf_json_number(b, s.t_);
    sfi_buf_printf(b, ", \"n_iter\": ");
    sfi_buf_json_number(b, s.n_iter);
    sfi_buf_printf(b, ", \"epoch_rows\": ");
    sfi_buf_json_number(b, s.epoch_rows);
    sfi_buf_printf(b, ", \"optimal_init\": ");
    sfi_buf_json_number(b, s.optimal_init);
    sfi_buf_printf(b, ", \"w\": ");
    json_matrix(b, s.w, rows, p);
    sfi_buf_printf(b, ", \"average_w\": ");
    if (s.average_w) json_matrix(b, s.average_w, rows, p);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"q\": ");
    if (s.q) json_matrix(b, s.q, rows, p);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"holdout_weight\": ");
    sfi_buf_json_number(b, s.holdout_weight);
    static const char *const best_names[3] = {"best_w", "best_average_w", "best_q"};
    const double *best[3] = {s.best_w, s.best_average_w, s.best_q};
    for (int i = 0; i < 3; i++) {
        sfi_buf_printf(b, ", \"%s\": ", best_names[i]);
        if (best[i]) json_matrix(b, best[i], rows, p);
        else sfi_buf_printf(b, "null");
    }
    sfi_buf_printf(b, ", \"best_vec\": ");
    if (s.best_vec) json_matrix(b, s.best_vec, rows, SF_SGD_V_COUNT);
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"buffer_x\": ");
    json_matrix(b, s.buffer_x, s.n_buffered, p);
    sfi_buf_printf(b, ", \"buffer_y\": ");
    sfi_buf_json_array(b, s.buffer_y, s.n_buffered);
    sfi_buf_printf(b, ", \"buffer_w\": ");
    sfi_buf_json_array(b, s.buffer_w, s.n_buffered);
    for (size_t v = 0; v < SF_SGD_V_COUNT; v++) {
        sfi_buf_printf(b, ", \"%s\": [", vec_names[v]);
        for (size_t r = 0; r < rows; r++) {
            if (r) sfi_buf_printf(b, ", ");
            sfi_buf_json_number(b, s.vec[r * SF_SGD_V_COUNT + v]);
        }
        sfi_buf_printf(b, "]");
    }
    sfi_buf_printf(b, "}");
}

/* ---------------------------------------------------------------- model file */


static const char *const real_params[] = {"alpha", "l1_ratio", "tol", "epsilon", "eta0", "power_t", "C"};
static const char *const int_params[] = {"fit_intercept", "max_iter",      "n_iter_no_change",
                                         "average",       "shuffle",       "random_state",
                                         "shuffle_block", "early_stopping", "holdout_period"};
enum { N_INT_PARAMS = sizeof int_params / sizeof *int_params };
static const char *const state_scalars[] = {"t_", "n_iter", "epoch_rows", "optimal_init"};

static sf_status stage_save(const void *st, hid_t g, const sfi_h5ctx *c)
{
    const sgd_stage *ss = st;
    sf_sgd_params p = sf_sgd_get_params(ss->m);
    const double reals[] = {p.alpha, p.l1_ratio, p.tol, p.epsilon, p.eta0, p.power_t, p.C};
    const int64_t ints[N_INT_PARAMS] = {p.fit_intercept, p.max_iter,        p.n_iter_no_change,
                                        (int64_t)p.average, p.shuffle,       p.random_state,
                                        (int64_t)p.shuffle_block, p.early_stopping, p.holdout_period};
    sf_status r = sfi_h5_attr_write_str(c, g, "loss", sf_sgd_loss_name(p.loss));
    if (r == SF_OK) r = sfi_h5_attr_write_str(c, g, "penalty", sf_sgd_penalty_name(p.penalty));
    if (r == SF_OK) r = sfi_h5_attr_write_str(c, g, "learning_rate", sf_sgd_learning_rate_name(p.learning_rate));
    for (size_t i = 0; i < 7 && r == SF_OK; i++) r = sfi_h5_attr_write_f64(c, g, real_params[i], reals[i]);
    for (size_t i = 0; i < N_INT_PARAMS && r == SF_OK; i++) r = sfi_h5_attr_write_i64(c, g, int_params[i], ints[i]);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "class_weight_labels", ss->cw_labels, ss->n_cw);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "class_weight_values", ss->cw_values, ss->n_cw);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "spec_classes", ss->spec_classes, ss->n_spec_classes);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "classes_", sf_sgd_classes(ss->m), sf_sgd_n_classes(ss->m));
    size_t nf = sf_sgd_n_features(ss->m), rows = sf_sgd_n_coef_rows(ss->m);
    if (r == SF_OK) r = sfi_h5_attr_write_i64(c, g, "fitted", nf > 0);
    if (r != SF_OK || !nf) return r;
    sf_sgd_state s;
    r = sf_sgd_get_state(ss->m, &s, c->err);
    const double scal[] = {s.t_, s.n_iter, s.epoch_rows, s.optimal_init};
    for (size_t i = 0; i < 4 && r == SF_OK; i++) r = sfi_h5_attr_write_f64(c, g, state_scalars[i], scal[i]);
    /* sklearn's attributes for readers, then the resumable state */
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "coef_", sf_sgd_coef(ss->m), rows * nf);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "intercept_", sf_sgd_intercept(ss->m), rows);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "w", s.w, rows * nf);
    if (r == SF_OK && s.average_w) r = sfi_h5_write_vec(c, g, "average_w", s.average_w, rows * nf);
    if (r == SF_OK && s.q) r = sfi_h5_write_vec(c, g, "q", s.q, rows * nf);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "vec", s.vec, rows * SF_SGD_V_COUNT);
    /* early_stopping: the best epoch's state and the held-out weight so far */
    if (r == SF_OK) r = sfi_h5_attr_write_f64(c, g, "holdout_weight", s.holdout_weight);
    if (r == SF_OK && s.best_w) r = sfi_h5_write_vec(c, g, "best_w", s.best_w, rows * nf);
    if (r == SF_OK && s.best_average_w) r = sfi_h5_write_vec(c, g, "best_average_w", s.best_average_w, rows * nf);
    if (r == SF_OK && s.best_q) r = sfi_h5_write_vec(c, g, "best_q", s.best_q, rows * nf);
    if (r == SF_OK && s.best_vec) r = sfi_h5_write_vec(c, g, "best_vec", s.best_vec, rows * SF_SGD_V_COUNT);
    /* shuffle: rows waiting for their block */
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "buffer_x", s.buffer_x, s.n_buffered * nf);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "buffer_y", s.buffer_y, s.n_buffered);
    if (r == SF_OK) r = sfi_h5_write_vec(c, g, "buffer_w", s.buffer_w, s.n_buffered);
    return r;
}

/* A state check failed on load: the file is corrupt. */
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

static sf_status read_params(sf_sgd_kind kind, hid_t g, const sfi_h5ctx *c, sf_sgd_params *p)
{
    sf_sgd_params_default(p, kind);
    char *names[3] = {NULL, NULL, NULL};
    static const char *const keys[3] = {"loss", "penalty", "learning_rate"};
    sf_status r = SF_OK;
    for (int i = 0; i < 3 && r == SF_OK; i++) r = sfi_h5_attr_read_str(c, g, keys[i], &names[i]);
    if (r == SF_OK && (sf_sgd_loss_from_name(names[0], &p->loss) != SF_OK ||
                       sf_sgd_penalty_from_name(names[1], &p->penalty) != SF_OK ||
                       sf_sgd_learning_rate_from_name(names[2], &p->learning_rate) != SF_OK))
        r = corrupt(c, sfi_fail(c->err, SF_ERR_PARSE, NULL, "unknown loss, penalty or learning_rate"));
    for (int i = 0; i < 3; i++) free(names[i]);
    double *reals[] = {&p->alpha, &p->l1_ratio, &p->tol, &p->epsilon, &p->eta0, &p->power_t, &p->C};
    for (size_t i = 0; i < 7 && r == SF_OK; i++) r = sfi_h5_attr_read_f64(c, g, real_params[i], reals[i]);
    int64_t ints[N_INT_PARAMS] = {0};
    for (size_t i = 0; i < N_INT_PARAMS && r == SF_OK; i++) r = sfi_h5_attr_read_i64(c, g, int_params[i], &ints[i]);
    if (r != SF_OK) return r;
    if (ints[1] < 1 || ints[1] > UINT32_MAX || ints[2] < 1 || ints[2] > UINT32_MAX || ints[3] < 0 || ints[6] < 0 ||
        ints[8] < 0 || ints[8] > UINT32_MAX)
        return corrupt(c, sfi_fail(c->err, SF_ERR_PARSE, NULL,
                                   "bad max_iter, n_iter_no_change, average or shuffle_block"));
    p->fit_intercept = ints[0] != 0;
    p->max_iter = (uint32_t)ints[1];
    p->n_iter_no_change = (uint32_t)ints[2];
    p->average = (uint64_t)ints[3];
    p->shuffle = ints[4] != 0;
    p->random_state = ints[5];
    p->shuffle_block = (uint64_t)ints[6];
    p->early_stopping = ints[7] != 0;
    p->holdout_period = (uint32_t)ints[8];
    return SF_OK;
}

/* Reads the state datasets into st (arrays owned by the caller through bufs). */
static sf_status read_state(hid_t g, const sfi_h5ctx *c, const sf_sgd *m, size_t n_in, sf_sgd_state *s,
                            double *bufs[11])
{
    sf_sgd_params p = sf_sgd_get_params(m);
    size_t rows = sf_sgd_n_coef_rows(m);
    memset(s, 0, sizeof *s);
    s->n_features = n_in;
    s->n_vectors = rows;
    double *scal[] = {&s->t_, &s->n_iter, &s->epoch_rows, &s->optimal_init};
    sf_status r = SF_OK;
    for (size_t i = 0; i < 4 && r == SF_OK; i++) r = sfi_h5_attr_read_f64(c, g, state_scalars[i], scal[i]);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "w", rows * n_in, &bufs[0], NULL);
    bool l1 = p.penalty == SF_SGD_PENALTY_L1 || p.penalty == SF_SGD_PENALTY_ELASTICNET;
    if (r == SF_OK && p.average) r = sfi_h5_read_vec(c, g, "average_w", rows * n_in, &bufs[1], NULL);
    if (r == SF_OK && l1) r = sfi_h5_read_vec(c, g, "q", rows * n_in, &bufs[2], NULL);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "vec", rows * SF_SGD_V_COUNT, &bufs[3], NULL);
    size_t nb = 0, nbx = 0, nbw = 0;
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "buffer_y", 0, &bufs[5], &nb);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "buffer_x", 0, &bufs[4], &nbx);
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "buffer_w", 0, &bufs[6], &nbw);
    if (r == SF_OK && (nbx != nb * n_in || nbw != nb))
        r = corrupt(c, sfi_fail(c->err, SF_ERR_PARSE, NULL, "buffered rows of different lengths"));
    if (r == SF_OK) r = sfi_h5_attr_read_f64(c, g, "holdout_weight", &s->holdout_weight);
    if (r == SF_OK && p.early_stopping) r = sfi_h5_read_vec(c, g, "best_w", rows * n_in, &bufs[7], NULL);
    if (r == SF_OK && p.early_stopping && p.average)
        r = sfi_h5_read_vec(c, g, "best_average_w", rows * n_in, &bufs[8], NULL);
    if (r == SF_OK && p.early_stopping && l1) r = sfi_h5_read_vec(c, g, "best_q", rows * n_in, &bufs[9], NULL);
    if (r == SF_OK && p.early_stopping)
        r = sfi_h5_read_vec(c, g, "best_vec", rows * SF_SGD_V_COUNT, &bufs[10], NULL);
    s->best_w = bufs[7];
    s->best_average_w = bufs[8];
    s->best_q = bufs[9];
    s->best_vec = bufs[10];
    s->n_buffered = nb;
    s->buffer_x = nb ? bufs[4] : NULL;
    s->buffer_y = nb ? bufs[5] : NULL;
    s->buffer_w = nb ? bufs[6] : NULL;
    s->w = bufs[0];
    s->average_w = bufs[1];
    s->q = bufs[2];
    s->vec = bufs[3];
    return r;
}

static sf_status load_kind(sf_sgd_kind kind, void **out, hid_t g, size_t n_in, const sfi_h5ctx *c)
{
    *out = NULL;
    sf_sgd_params p;
    SF_TRY(read_params(kind, g, c, &p));
    sgd_stage *ss = calloc(1, sizeof *ss);
    if (!ss) return sfi_nomem(c->err);
    double *classes = NULL, *bufs[11] = {NULL};
    size_t n_classes = 0;
    int64_t fitted = 0;
    sf_status r = sfi_h5_read_vec(c, g, "class_weight_labels", 0, &ss->cw_labels, &ss->n_cw);
    size_t n_values = 0;
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "class_weight_values", 0, &ss->cw_values, &n_values);
    if (r == SF_OK && n_values != ss->n_cw)
        r = corrupt(c, sfi_fail(c->err, SF_ERR_PARSE, NULL, "class_weight labels and values differ in length"));
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "spec_classes", 0, &ss->spec_classes, &ss->n_spec_classes);
    if (r == SF_OK && !ss->n_spec_classes) {
        free(ss->spec_classes);
        ss->spec_classes = NULL;
    }
    if (r == SF_OK) r = sfi_h5_read_vec(c, g, "classes_", 0, &classes, &n_classes);
    if (r == SF_OK) r = sfi_h5_attr_read_i64(c, g, "fitted", &fitted);
    if (r == SF_OK) {
        r = build_model(ss, &p, c->err);
        if (r == SF_OK && n_classes) r = sf_sgd_set_classes(ss->m, classes, n_classes, c->err);
        if (r != SF_OK) r = corrupt(c, r);
    }
    if (r == SF_OK && fitted) {
        sf_sgd_state s;
        r = read_state(g, c, ss->m, n_in, &s, bufs);
        if (r == SF_OK && (r = sf_sgd_set_state(ss->m, &s, c->err)) != SF_OK) r = corrupt(c, r);
    }
    free(classes);
    for (int i = 0; i < 11; i++) free(bufs[i]);
    if (r != SF_OK) {
        stage_free(ss);
        return r;
    }
    *out = ss;
    return SF_OK;
}

/* ---------------------------------------------------------------- the five kinds */

#define SGD_KIND(NAME, KIND, CLASSIFIER, HELP)                                                    \
    static sf_status create_##NAME(void **st, const sfi_spec_stage *spec, sf_error *err)      \
    {                                                                                         \
        return create_kind(KIND, st, spec, err);                                              \
    }                                                                                         \
    static sf_status load_##NAME(void **st, hid_t g, size_t n_in, const sfi_h5ctx *c)         \
    {                                                                                         \
        return load_kind(KIND, st, g, n_in, c);                                               \
    }                                                                                         \
    const sfi_stage_ops sfi_##NAME##_stage = {                                                \
        .kind = #NAME,                                                                        \
        .params_help = HELP,                                                                  \
        .mergeable = false,                                                                   \
        .estimator = true,                                                                    \
        .classifier = CLASSIFIER,                                                             \
        .create = create_##NAME,                                                              \
        .clone_empty = stage_clone_empty,                                                     \
        .free = stage_free,                                                                   \
        .partial_fit = stage_partial_fit,                                                     \
        .merge = stage_merge,                                                                 \
        .n_outputs = stage_n_outputs,                                                         \
        .transform = stage_transform,                                                         \
        .to_json = stage_to_json,                                                             \
        .save = stage_save,                                                                   \
        .load = load_##NAME,                                                                  \
        .set_classes = CLASSIFIER ? stage_set_classes : NULL,                                 \
        .begin_pass = stage_begin_pass,                                                       \
        .end_pass = stage_end_pass,                                                           \
        .n_outputs_as = stage_n_outputs_as,                                                   \
        .output_as = stage_output_as,                                                         \
        .score = stage_score,                                                                 \
        .segment_order = stage_segment_order,                                                 \
        .pass_losses = stage_pass_losses,                                                     \
        .set_pool = stage_set_pool,                                                           \
        .use_sparse = stage_use_sparse,                                                       \
        .output_csr = stage_output_csr,                                                       \
    };

SGD_KIND(sgd_classifier, SF_SGD_CLASSIFIER, true, HELP_CLS)
SGD_KIND(sgd_regressor, SF_SGD_REGRESSOR, false, HELP_REG)
SGD_KIND(perceptron, SF_SGD_PERCEPTRON, true, HELP_PER)
SGD_KIND(passive_aggressive_classifier, SF_SGD_PA_CLASSIFIER, true, HELP_PAC)
SGD_KIND(passive_aggressive_regressor, SF_SGD_PA_REGRESSOR, false, HELP_PAR)
