/* sgd.c — one SGD core for SGDClassifier, SGDRegressor, Perceptron and the two
 * PassiveAggressive estimators, as scikit-learn 1.2 runs them in
 * linear_model/_sgd_fast.pyx: _plain_sgd, with utils/_weight_vector.pyx.tp:
 * WeightVector64 for the weight scale and the lazy average.
 *
 * Bit-exactness: every formula below keeps sklearn's order of operations (the
 * dot product summed in feature order and then multiplied by wscale, c / wscale
 * computed before the multiply, ...), and nothing is contracted into an FMA (the
 * pragma below). Where sklearn calls OpenBLAS daxpy
 * (reset_wscale folding the average) we call fma(), as that kernel does on
 * AVX2/FMA machines.
 *
 * What sklearn keeps per partial_fit call (wscale, the average's a and b, the
 * cumulative L1 u and q, eta, the epoch's loss) is kept here for the life of the
 * model, so rows can arrive in chunks of any size and give the bitwise result of
 * one call over all of them; coef_ and intercept_ are derived after every call the
 * way sklearn's final reset_wscale() derives them.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* No a*b+c contracted into an FMA, whatever the flags (-march=native, gnu11,
 * clang's default): sklearn's compiled loops do not fuse, and parity is bitwise. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "core/np_random.h"
#include "core/sf_internal.h"
#include "streamfit/sf_pool.h"
#include "streamfit/sf_sgd.h"

#define MAX_DLOSS 1e12       /* _plain_sgd clips the loss derivative */
#define WSCALE_MIN 1e-9      /* WeightVector64.scale() folds below this */
#define SPARSE_INTERCEPT_DECAY 0.01 /* linear_model/_base.py: the intercept's step on CSR rows */

struct sf_sgd {
    sf_sgd_params params;
    bool classifier;
    sf_sgd_learning_rate lr;   /* effective (PA kinds: pa1 / pa2) */
    sf_sgd_loss core_loss;     /* the loss object _plain_sgd gets (PA: hinge / eps-insensitive) */
    double threshold;          /* Hinge threshold: 1, or 0 for the perceptron loss */
    double alpha, l1_ratio;    /* effective: PA passes alpha 1; l2 -> 0, l1 -> 1 */
    bool has_l2, has_l1, has_avg;
    double optimal_init;

    size_t p;                  /* features; 0 before the first data */
    size_t n_classes;
    double *classes;           /* sorted */
    double *cw;                /* class_weight expanded over classes (n_classes) */
    double *cw_labels, *cw_values;
    size_t n_cw;

    size_t n_vec;              /* weight vectors */
    size_t n_arrays;           /* w, [aw], [q] */
    double *arrays;            /* [w | aw | q], each n_vec x p */
    double *vs;                /* n_vec x SF_SGD_V_COUNT */
    double t_, n_iter, epoch_rows;

    double *coef, *intercept;  /* as sklearn reports them; derived */
    double *bak_arrays, *bak_vs; /* a copy taken before learning, for rollback */
    uint32_t *codes;           /* class index of each row of the current chunk */
    size_t codes_cap;
    sf_pool *pool;             /* borrowed: one-vs-all vectors learn on its workers */

    /* shuffle: rows wait in the buffer until a block of shuffle_block is complete */
    uint32_t *shuffle_seed;    /* per vector, sklearn's seed for dataset.shuffle */
    double *buf_x, *buf_y, *buf_w;
    size_t n_buf;
    const double **blk_rows;   /* scratch for one block: row pointers, y, w, codes */
    double *blk_y, *blk_w;
    uint32_t *blk_codes;
    size_t *blk_perm;

    /* early_stopping: each vector's state at its best epoch; held-out weight */
    double *best_arrays, *best_vs;
    double holdout_w;
    bool track_loss;

    /* coef_ / intercept_ are derived when first read after a change */
    pthread_mutex_t expose_mu;
    atomic_bool stale;

    /* a CSR call saves only the columns its rows touch (tb, n_arrays x n_vec x
     * n_touched), and a vector's full arrays on its first fold (folded[k]) */
    bool partial_snapshot;
    uint8_t *mark, *folded;
    uint32_t *touched;
    size_t n_touched;
    double *tb;
    size_t tb_cap;
    double *bak_buf;           /* shuffle + early_stopping: the buffer as a call found it */
};

/* ---------------------------------------------------------------- names */

static const char *const loss_names[] = {
    "hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron", "squared_error",
    "huber", "epsilon_insensitive", "squared_epsilon_insensitive"};
static const char *const penalty_names[] = {"none", "l2", "l1", "elasticnet"};
static const char *const lr_names[] = {"", "constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"};
static const char *const kind_names[] = {"sgd_classifier", "sgd_regressor", "perceptron",
                                         "passive_aggressive_classifier",
                                         "passive_aggressive_regressor"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int find_name(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (names[i][0] && strcmp(names[i], name) == 0) return (int)i;
    return -1;
}

sf_status sf_sgd_loss_from_name(const char *name, sf_sgd_loss *out)
{
    int i = find_name(loss_names, N_OF(loss_names), name);
    if (i < 0 && name && strcmp(name, "log") == 0) i = SF_SGD_LOSS_LOG_LOSS; /* sklearn's deprecated alias */
    if (i < 0) return SF_ERR_ARG;
    *out = (sf_sgd_loss)i;
    return SF_OK;
}

sf_status sf_sgd_penalty_from_name(const char *name, sf_sgd_penalty *out)
{
    int i = find_name(penalty_names, N_OF(penalty_names), name);
    if (i < 0) return SF_ERR_ARG;
    *out = (sf_sgd_penalty)i;
    return SF_OK;
}

sf_status sf_sgd_learning_rate_from_name(const char *name, sf_sgd_learning_rate *out)
{
    int i = find_name(lr_names, N_OF(lr_names), name);
    if (i < 0) return SF_ERR_ARG;
    *out = (sf_sgd_learning_rate)i;
    return SF_OK;
}

#define NAME_OR_EMPTY(tab, v) ((size_t)(v) < N_OF(tab) ? (tab)[(size_t)(v)] : "")
const char *sf_sgd_loss_name(sf_sgd_loss v) { return NAME_OR_EMPTY(loss_names, v); }
const char *sf_sgd_penalty_name(sf_sgd_penalty v) { return NAME_OR_EMPTY(penalty_names, v); }
const char *sf_sgd_learning_rate_name(sf_sgd_learning_rate v) { return NAME_OR_EMPTY(lr_names, v); }
const char *sf_sgd_kind_name(sf_sgd_kind v) { return NAME_OR_EMPTY(kind_names, v); }

/* ---------------------------------------------------------------- parameters */

/* Defaults from the __init__ of SGDClassifier, SGDRegressor, Perceptron,
 * PassiveAggressiveClassifier / Regressor (_stochastic_gradient.py, _perceptron.py,
 * _passive_aggressive.py), except max_iter and shuffle (see sf_sgd.h). */
void sf_sgd_params_default(sf_sgd_params *p, sf_sgd_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->loss = SF_SGD_LOSS_HINGE;
    p->penalty = SF_SGD_PENALTY_L2;
    p->alpha = 1e-4;
    p->l1_ratio = 0.15;
    p->fit_intercept = true;
    p->max_iter = 1;
    p->tol = 1e-3;
    p->n_iter_no_change = 5;
    p->epsilon = 0.1;
    p->learning_rate = SF_SGD_LR_OPTIMAL;
    p->eta0 = 0.0;
    p->power_t = 0.5;
    p->C = 1.0;
    p->random_state = -1;
    p->shuffle_block = 50000;
    p->holdout_period = 10;
    switch (kind) {
    case SF_SGD_CLASSIFIER: break;
    case SF_SGD_REGRESSOR:
        p->loss = SF_SGD_LOSS_SQUARED_ERROR;
        p->learning_rate = SF_SGD_LR_INVSCALING;
        p->eta0 = 0.01;
        p->power_t = 0.25;
        break;
    case SF_SGD_PERCEPTRON:
        p->loss = SF_SGD_LOSS_PERCEPTRON;
        p->penalty = SF_SGD_PENALTY_NONE;
        p->learning_rate = SF_SGD_LR_CONSTANT;
        p->eta0 = 1.0;
        p->random_state = 0;
        break;
    case SF_SGD_PA_CLASSIFIER:
        p->penalty = SF_SGD_PENALTY_NONE;
        p->learning_rate = SF_SGD_LR_PA1;
        p->eta0 = 1.0;
        break;
    case SF_SGD_PA_REGRESSOR:
        p->loss = SF_SGD_LOSS_EPSILON_INSENSITIVE;
        p->penalty = SF_SGD_PENALTY_NONE;
        p->l1_ratio = 0.0;
        p->learning_rate = SF_SGD_LR_PA1;
        p->eta0 = 1.0;
        break;
    }
}

static sf_status bad_field(sf_error *err, sf_status st, const char *field, const char *fmt, double v)
{
    sfi_fail(err, st, NULL, fmt, v);
    sfi_error_field(err, field);
    return st;
}

static bool loss_allowed(sf_sgd_kind kind, sf_sgd_loss loss)
{
    switch (kind) {
    case SF_SGD_CLASSIFIER: return loss <= SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE;
    case SF_SGD_REGRESSOR: return loss >= SF_SGD_LOSS_SQUARED_ERROR && loss <= SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE;
    case SF_SGD_PERCEPTRON: return loss == SF_SGD_LOSS_PERCEPTRON;
    case SF_SGD_PA_CLASSIFIER: return loss == SF_SGD_LOSS_HINGE || loss == SF_SGD_LOSS_SQUARED_HINGE;
    case SF_SGD_PA_REGRESSOR:
        return loss == SF_SGD_LOSS_EPSILON_INSENSITIVE || loss == SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE;
    }
    return false;
}

static bool is_pa(sf_sgd_kind k) { return k == SF_SGD_PA_CLASSIFIER || k == SF_SGD_PA_REGRESSOR; }

/* sklearn's _parameter_constraints and BaseSGD._more_validate_params. */
sf_status sf_sgd_params_check(const sf_sgd_params *p, sf_error *err)
{
    if (!p) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL parameters");
    if ((unsigned)p->kind > SF_SGD_PA_REGRESSOR) return bad_field(err, SF_ERR_ARG, "kind", "sgd: unknown kind %g", (double)p->kind);
    const char *kind = sf_sgd_kind_name(p->kind);
    if ((unsigned)p->loss > SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE || !loss_allowed(p->kind, p->loss)) {
        sfi_fail(err, SF_ERR_ARG, NULL, "%s: loss %s is not one of this estimator's losses", kind,
                 sf_sgd_loss_name(p->loss)[0] ? sf_sgd_loss_name(p->loss) : "(unknown)");
        sfi_error_field(err, "loss");
        return SF_ERR_ARG;
    }
    if ((unsigned)p->penalty > SF_SGD_PENALTY_ELASTICNET)
        return bad_field(err, SF_ERR_ARG, "penalty", "sgd: unknown penalty %g", (double)p->penalty);
    if (is_pa(p->kind) && p->penalty != SF_SGD_PENALTY_NONE)
        return bad_field(err, SF_ERR_ARG, "penalty", "passive-aggressive estimators have no penalty (%g)",
                         (double)p->penalty);
    if (!(p->alpha >= 0) || isinf(p->alpha)) return bad_field(err, SF_ERR_ARG, "alpha", "alpha must be >= 0, got %g", p->alpha);
    if (!(p->l1_ratio >= 0 && p->l1_ratio <= 1))
        return bad_field(err, SF_ERR_ARG, "l1_ratio", "l1_ratio must be in [0, 1], got %g", p->l1_ratio);
    if (p->max_iter < 1) return bad_field(err, SF_ERR_ARG, "max_iter", "max_iter must be >= 1, got %g", (double)p->max_iter);
    if (!isnan(p->tol) && !(p->tol >= 0)) return bad_field(err, SF_ERR_ARG, "tol", "tol must be >= 0 or None, got %g", p->tol);
    if (p->n_iter_no_change < 1)
        return bad_field(err, SF_ERR_ARG, "n_iter_no_change", "n_iter_no_change must be >= 1, got %g",
                         (double)p->n_iter_no_change);
    if (!(p->epsilon >= 0) || isinf(p->epsilon)) return bad_field(err, SF_ERR_ARG, "epsilon", "epsilon must be >= 0, got %g", p->epsilon);
    if (!(p->eta0 >= 0) || isinf(p->eta0)) return bad_field(err, SF_ERR_ARG, "eta0", "eta0 must be >= 0, got %g", p->eta0);
    if (!isfinite(p->power_t)) return bad_field(err, SF_ERR_ARG, "power_t", "power_t must be finite, got %g", p->power_t);
    if (!(p->C > 0) || isinf(p->C)) return bad_field(err, SF_ERR_ARG, "C", "C must be > 0, got %g", p->C);
    if (p->kind == SF_SGD_PERCEPTRON && p->average)
        return bad_field(err, SF_ERR_ARG, "average", "the perceptron does not average (average=%g)", (double)p->average);
    if (!is_pa(p->kind)) {
        sf_sgd_learning_rate lr = p->kind == SF_SGD_PERCEPTRON ? SF_SGD_LR_CONSTANT : p->learning_rate;
        if (lr < SF_SGD_LR_CONSTANT || lr > SF_SGD_LR_ADAPTIVE)
            return bad_field(err, SF_ERR_ARG, "learning_rate",
                             "learning_rate must be constant, optimal, invscaling or adaptive (%g)", (double)lr);
        if (lr != SF_SGD_LR_OPTIMAL && !(p->eta0 > 0))
            return bad_field(err, SF_ERR_ARG, "eta0", "eta0 must be > 0, got %g", p->eta0);
        if (lr == SF_SGD_LR_OPTIMAL && p->alpha == 0)
            return bad_field(err, SF_ERR_ARG, "alpha",
                             "alpha must be > 0 since learning_rate is 'optimal' (got %g)", p->alpha);
    }
    if (p->random_state < -1 || p->random_state > (int64_t)UINT32_MAX)
        return bad_field(err, SF_ERR_ARG, "random_state", "random_state must be None or in [0, 2^32), got %g",
                         (double)p->random_state);
    if (p->shuffle && (p->shuffle_block < 1 || p->shuffle_block > ((uint64_t)1 << 31) - 1))
        return bad_field(err, SF_ERR_ARG, "shuffle_block", "shuffle_block must be in [1, 2^31), got %g",
                         (double)p->shuffle_block);
    if (p->early_stopping && p->holdout_period < 2)
        return bad_field(err, SF_ERR_ARG, "holdout_period", "holdout_period must be >= 2, got %g",
                         (double)p->holdout_period);

    return SF_OK;
}

/* ---------------------------------------------------------------- losses */

/* LossFunction.loss / _dloss of _sgd_fast.pyx, one case per cdef class, with
 * the same expressions. */
static inline double loss_value(sf_sgd_loss loss, double th, double eps, double p, double y)
{
    double z, r;
    switch (loss) {
    case SF_SGD_LOSS_HINGE:
    case SF_SGD_LOSS_PERCEPTRON:
        z = p * y;
        return z <= th ? th - z : 0.0;
    case SF_SGD_LOSS_SQUARED_HINGE:
        z = th - p * y;
        return z > 0 ? z * z : 0.0;
    case SF_SGD_LOSS_LOG_LOSS:
        z = p * y;
        if (z > 18) return exp(-z);
        if (z < -18) return -z;
        return log(1.0 + exp(-z));
    case SF_SGD_LOSS_MODIFIED_HUBER:
        z = p * y;
        if (z >= 1.0) return 0.0;
        if (z >= -1.0) return (1.0 - z) * (1.0 - z);
        return -4.0 * z;
    case SF_SGD_LOSS_SQUARED_ERROR: return 0.5 * (p - y) * (p - y);
    case SF_SGD_LOSS_HUBER:
        r = p - y;
        if (fabs(r) <= eps) return 0.5 * r * r;
        return eps * fabs(r) - (0.5 * eps * eps);
    case SF_SGD_LOSS_EPSILON_INSENSITIVE:
        r = fabs(y - p) - eps;
        return r > 0 ? r : 0;
    case SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE:
        r = fabs(y - p) - eps;
        return r > 0 ? r * r : 0;
    }
    return 0.0;
}

static inline double loss_deriv(sf_sgd_loss loss, double th, double eps, double p, double y)
{
    double z, r;
    switch (loss) {
    case SF_SGD_LOSS_HINGE:
    case SF_SGD_LOSS_PERCEPTRON:
        z = p * y;
        return z <= th ? -y : 0.0;
    case SF_SGD_LOSS_SQUARED_HINGE:
        z = th - p * y;
        return z > 0 ? -2 * y * z : 0.0;
    case SF_SGD_LOSS_LOG_LOSS:
        z = p * y;
        if (z > 18.0) return exp(-z) * -y;
        if (z < -18.0) return -y;
        return -y / (exp(z) + 1.0);
    case SF_SGD_LOSS_MODIFIED_HUBER:
        z = p * y;
        if (z >= 1.0) return 0.0;
        if (z >= -1.0) return 2.0 * (1.0 - z) * -y;
        return -4.0 * y;
    case SF_SGD_LOSS_SQUARED_ERROR: return p - y;
    case SF_SGD_LOSS_HUBER:
        r = p - y;
        if (fabs(r) <= eps) return r;
        return r > 0.0 ? eps : -eps;
    case SF_SGD_LOSS_EPSILON_INSENSITIVE:
        if (y - p > eps) return -1;
        if (p - y > eps) return 1;
        return 0;
    case SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE:
        z = y - p;
        if (z > eps) return -2 * (z - eps);
        if (z < -eps) return 2 * (-z - eps);
        return 0;
    }
    return 0.0;
}

/* ---------------------------------------------------------------- object */

/* The loss object, rate and penalty flags _plain_sgd runs with for these parameters
 * (BaseSGDClassifier.partial_fit, Perceptron, PassiveAggressive*.partial_fit). */
static void derive(sf_sgd *s)
{
    const sf_sgd_params *p = &s->params;
    s->classifier = p->kind == SF_SGD_CLASSIFIER || p->kind == SF_SGD_PERCEPTRON ||
                    p->kind == SF_SGD_PA_CLASSIFIER;
    s->core_loss = p->loss;
    s->lr = p->learning_rate;
    s->alpha = p->alpha;
    s->threshold = p->loss == SF_SGD_LOSS_PERCEPTRON ? 0.0 : 1.0;
    if (p->kind == SF_SGD_PERCEPTRON) s->lr = SF_SGD_LR_CONSTANT;
    if (p->kind == SF_SGD_PA_CLASSIFIER) {
        s->lr = p->loss == SF_SGD_LOSS_HINGE ? SF_SGD_LR_PA1 : SF_SGD_LR_PA2;
        s->core_loss = SF_SGD_LOSS_HINGE; /* always Hinge(1.0): the loss picks the rule */
        s->alpha = 1.0;
    } else if (p->kind == SF_SGD_PA_REGRESSOR) {
        s->lr = p->loss == SF_SGD_LOSS_EPSILON_INSENSITIVE ? SF_SGD_LR_PA1 : SF_SGD_LR_PA2;
        s->core_loss = SF_SGD_LOSS_EPSILON_INSENSITIVE;
        s->alpha = 1.0;
    }
    s->l1_ratio = p->l1_ratio;
    if (p->penalty == SF_SGD_PENALTY_L2) s->l1_ratio = 0.0;
    else if (p->penalty == SF_SGD_PENALTY_L1) s->l1_ratio = 1.0;
    s->has_l2 = p->penalty == SF_SGD_PENALTY_L2 || p->penalty == SF_SGD_PENALTY_ELASTICNET;
    s->has_l1 = p->penalty == SF_SGD_PENALTY_L1 || p->penalty == SF_SGD_PENALTY_ELASTICNET;
    s->has_avg = p->average > 0;
    s->n_arrays = 1 + s->has_avg + s->has_l1;
    s->optimal_init = 0.0;
    if (s->lr == SF_SGD_LR_OPTIMAL) {
        /* Bottou's heuristic as _plain_sgd computes it: typw = sqrt(1 / sqrt(alpha)),
         * eta at t = 1 equals typw / max(1, dloss(-typw, 1)) (= typw: dloss <= 0). */
        double typw = sqrt(1.0 / sqrt(s->alpha));
        double d = loss_deriv(s->core_loss, s->threshold, p->epsilon, -typw, 1.0);
        double initial_eta0 = typw / (d > 1.0 ? d : 1.0);
        s->optimal_init = 1.0 / (initial_eta0 * s->alpha);
    }
}

sf_status sf_sgd_new(sf_sgd **out, const sf_sgd_params *p, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_new: NULL out");
    *out = NULL;
    sf_library_init();
    sf_sgd_params def;
    if (!p) {
        sf_sgd_params_default(&def, SF_SGD_CLASSIFIER);
        p = &def;
    }
    SF_TRY(sf_sgd_params_check(p, err));
    sf_sgd *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->params = *p;
    s->t_ = 1.0;
    pthread_mutex_init(&s->expose_mu, NULL);
    atomic_init(&s->stale, false);
    derive(s);
    *out = s;
    return SF_OK;
}

/* The arrays of a model, allocated before they replace the old ones. */
typedef struct model_mem {
    double *arrays, *vs, *coef, *intercept, *bak_arrays, *bak_vs;
    double *buf_x, *buf_y, *buf_w, *blk_y, *blk_w; /* shuffle only */
    const double **blk_rows;
    uint32_t *blk_codes, *shuffle_seed;
    size_t *blk_perm;
    double *best_arrays, *best_vs; /* early_stopping only */
} model_mem;
static sf_status alloc_model(const sf_sgd *s, size_t p, size_t n_vec, model_mem *m, sf_error *err);
static void install_model(sf_sgd *s, size_t p, size_t n_vec, const model_mem *m);
static void free_mem(model_mem *m);
static void ensure_exposed(const sf_sgd *s);
static void save_before_fold(sf_sgd *s, size_t k);
typedef struct rows rows;
static void score_holdout(sf_sgd *s, const rows *r, size_t i, double y, double w);

static void free_model(sf_sgd *s)
{
    model_mem m = {s->arrays,  s->vs,       s->coef,      s->intercept,    s->bak_arrays,
                   s->bak_vs,  s->buf_x,    s->buf_y,     s->buf_w,        s->blk_y,
                   s->blk_w,   s->blk_rows, s->blk_codes, s->shuffle_seed, s->blk_perm,
                   s->best_arrays, s->best_vs};
    free_mem(&m);
    s->best_arrays = s->best_vs = NULL;
    s->arrays = s->vs = s->coef = s->intercept = s->bak_arrays = s->bak_vs = NULL;
    s->buf_x = s->buf_y = s->buf_w = s->blk_y = s->blk_w = NULL;
    s->blk_rows = NULL;
    s->blk_codes = s->shuffle_seed = NULL;
    s->blk_perm = NULL;
    s->p = s->n_vec = s->n_buf = 0;
}
void sf_sgd_free(sf_sgd *s)
{
    if (!s) return;
    free_model(s);
    free(s->classes);
    free(s->cw);
    free(s->cw_labels);
    free(s->cw_values);
    free(s->codes);
    free(s->mark);
    free(s->folded);
    free(s->touched);
    free(s->tb);
    free(s->bak_buf);
    pthread_mutex_destroy(&s->expose_mu);
    free(s);
}

bool sf_sgd_is_classifier(const sf_sgd *s) { return s && s->classifier; }

void sf_sgd_set_pool(sf_sgd *s, sf_pool *pool)
{
    if (s) s->pool = pool;
}


static double *dup_doubles(const double *v, size_t n, bool *ok)
{
    if (!v || !n) return NULL;
    double *c = malloc(n * sizeof *c);
    if (c) memcpy(c, v, n * sizeof *c);
    else *ok = false;
    return c;
}

sf_status sf_sgd_clone(const sf_sgd *s, sf_sgd **out, sf_error *err)
{
    if (!s || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_clone: NULL argument");
    *out = NULL;
    sf_sgd *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    *c = *s;
    c->pool = NULL; /* borrowed by s for its own use: a snapshot may outlive it */
    c->classes = c->cw = c->cw_labels = c->cw_values = NULL;
    c->arrays = c->vs = c->coef = c->intercept = c->bak_arrays = c->bak_vs = NULL;
    c->buf_x = c->buf_y = c->buf_w = c->blk_y = c->blk_w = NULL;
    c->blk_rows = NULL;
    c->blk_codes = c->shuffle_seed = NULL;
    c->blk_perm = NULL;
    c->best_arrays = c->best_vs = NULL;
    c->n_buf = 0;
    c->mark = c->folded = NULL;
    c->touched = NULL;
    c->tb = NULL;
    c->bak_buf = NULL;
    c->tb_cap = c->n_touched = 0;
    c->partial_snapshot = false;
    pthread_mutex_init(&c->expose_mu, NULL);
    atomic_init(&c->stale, true);
    c->codes = NULL;
    c->codes_cap = 0;
    c->p = c->n_vec = 0;
    bool ok = true;
    c->classes = dup_doubles(s->classes, s->n_classes, &ok);
    c->cw = dup_doubles(s->cw, s->n_classes, &ok);
    c->cw_labels = dup_doubles(s->cw_labels, s->n_cw, &ok);
    c->cw_values = dup_doubles(s->cw_values, s->n_cw, &ok);
    model_mem m;
    if (ok && s->p) {
        ok = alloc_model(s, s->p, s->n_vec, &m, err) == SF_OK;
        if (ok) {
            install_model(c, s->p, s->n_vec, &m);
            memcpy(c->arrays, s->arrays, s->n_vec * s->n_arrays * s->p * sizeof(double));
            memcpy(c->vs, s->vs, s->n_vec * SF_SGD_V_COUNT * sizeof(double));
            ensure_exposed(s);
            memcpy(c->coef, s->coef, s->n_vec * s->p * sizeof(double));
            memcpy(c->intercept, s->intercept, s->n_vec * sizeof(double));
            if (s->n_buf) {
                memcpy(c->buf_x, s->buf_x, s->n_buf * s->p * sizeof(double));
                memcpy(c->buf_y, s->buf_y, s->n_buf * sizeof(double));
                memcpy(c->buf_w, s->buf_w, s->n_buf * sizeof(double));
            }
            c->n_buf = s->n_buf;
            if (s->best_arrays) {
                memcpy(c->best_arrays, s->best_arrays, s->n_vec * s->n_arrays * s->p * sizeof(double));
                memcpy(c->best_vs, s->best_vs, s->n_vec * SF_SGD_V_COUNT * sizeof(double));
            }
            c->holdout_w = s->holdout_w;
        }
    }
    if (!ok) {
        sf_sgd_free(c);
        return sfi_nomem(err);
    }
    *out = c;
    return SF_OK;
}

static size_t vectors_for(const sf_sgd *s)
{
    if (!s->classifier) return 1;
    return s->n_classes == 2 ? 1 : s->n_classes;
}

/* The arrays are [w | aw | q], each n_vec x p, so the state reads as three
 * matrices; vector k's rows are these. */
static double *vec_w(const sf_sgd *s, size_t k) { return s->arrays + k * s->p; }
static double *vec_aw(const sf_sgd *s, size_t k)
{
    return s->has_avg ? s->arrays + (s->n_vec + k) * s->p : NULL;
}
static double *vec_q(const sf_sgd *s, size_t k)
{
    return s->has_l1 ? s->arrays + ((1 + s->has_avg) * s->n_vec + k) * s->p : NULL;
}

/* Allocates a fresh model of p features and n_vec vectors into m (s untouched). */
static void free_mem(model_mem *m)
{
    free(m->arrays);
    free(m->bak_arrays);
    free(m->vs);
    free(m->bak_vs);
    free(m->coef);
    free(m->intercept);
    free(m->buf_x);
    free(m->buf_y);
    free(m->buf_w);
    free(m->blk_y);
    free(m->blk_w);
    free(m->blk_rows);
    free(m->blk_codes);
    free(m->shuffle_seed);
    free(m->blk_perm);
    free(m->best_arrays);
    free(m->best_vs);
    memset(m, 0, sizeof *m);
}

static sf_status alloc_model(const sf_sgd *s, size_t p, size_t n_vec, model_mem *m, sf_error *err)
{
    size_t na = n_vec * s->n_arrays * p;
    memset(m, 0, sizeof *m);
    m->arrays = calloc(na, sizeof(double));
    m->bak_arrays = calloc(na, sizeof(double));
    m->vs = calloc(n_vec * SF_SGD_V_COUNT, sizeof(double));
    m->bak_vs = calloc(n_vec * SF_SGD_V_COUNT, sizeof(double));
    m->coef = calloc(n_vec * p, sizeof(double));
    m->intercept = calloc(n_vec, sizeof(double));
    bool ok = m->arrays && m->bak_arrays && m->vs && m->bak_vs && m->coef && m->intercept;
    if (ok && s->params.shuffle) {
        size_t B = (size_t)s->params.shuffle_block;
        m->buf_x = malloc(B * p * sizeof(double));
        m->buf_y = malloc(B * sizeof(double));
        m->buf_w = malloc(B * sizeof(double));
        m->blk_y = malloc(B * sizeof(double));
        m->blk_w = malloc(B * sizeof(double));
        m->blk_rows = malloc(B * sizeof(double *));
        m->blk_codes = malloc(B * sizeof(uint32_t));
        m->blk_perm = malloc(B * sizeof(size_t));
        m->shuffle_seed = malloc(n_vec * sizeof(uint32_t));
        ok = m->buf_x && m->buf_y && m->buf_w && m->blk_y && m->blk_w && m->blk_rows && m->blk_codes &&
             m->blk_perm && m->shuffle_seed;
    }
    if (ok && s->params.early_stopping) {
        m->best_arrays = calloc(na, sizeof(double));
        m->best_vs = calloc(n_vec * SF_SGD_V_COUNT, sizeof(double));
        ok = m->best_arrays && m->best_vs;
    }
    if (!ok) {
        free_mem(m);
        return sfi_nomem(err);
    }
    return SF_OK;
}
/* sklearn's seed for dataset.shuffle of each weight vector in a partial_fit call
 * with an integer random_state (fit_binary, _fit_multiclass, _fit_regressor):
 * binary: RandomState(R): make_dataset's randint(1, 2^31 - 1), then
 * randint(0, 2^31 - 1); one-vs-all: class i starts from RandomState(seeds[i]),
 * seeds = RandomState(R).randint(0, 2^31 - 1, size=K); regressor: the shuffle's
 * draw comes first. */
static void shuffle_seeds(const sf_sgd *s, uint32_t *out, size_t n_vec)
{
    const int64_t max_int = 2147483647;
    sfi_np_rng r;
    sfi_np_seed(&r, (uint32_t)s->params.random_state);
    if (!s->classifier) {
        out[0] = (uint32_t)sfi_np_randint(&r, 0, max_int);
        return;
    }
    if (n_vec == 1) {
        sfi_np_randint(&r, 1, max_int);
        out[0] = (uint32_t)sfi_np_randint(&r, 0, max_int);
        return;
    }
    for (size_t k = 0; k < n_vec; k++) out[k] = (uint32_t)sfi_np_randint(&r, 0, max_int);
    for (size_t k = 0; k < n_vec; k++) {
        sfi_np_rng rk;
        sfi_np_seed(&rk, out[k]);
        sfi_np_randint(&rk, 1, max_int);
        out[k] = (uint32_t)sfi_np_randint(&rk, 0, max_int);
    }
}

static void install_model(sf_sgd *s, size_t p, size_t n_vec, const model_mem *m)
{
    free_model(s);
    s->p = p;
    s->n_vec = n_vec;
    s->arrays = m->arrays;
    s->bak_arrays = m->bak_arrays;
    s->vs = m->vs;
    s->bak_vs = m->bak_vs;
    s->coef = m->coef;
    s->intercept = m->intercept;
    s->buf_x = m->buf_x;
    s->buf_y = m->buf_y;
    s->buf_w = m->buf_w;
    s->blk_y = m->blk_y;
    s->blk_w = m->blk_w;
    s->blk_rows = m->blk_rows;
    s->blk_codes = m->blk_codes;
    s->blk_perm = m->blk_perm;
    s->shuffle_seed = m->shuffle_seed;
    s->best_arrays = m->best_arrays;
    s->best_vs = m->best_vs;
    s->n_buf = 0;
    s->holdout_w = 0;
    if (s->shuffle_seed) shuffle_seeds(s, s->shuffle_seed, n_vec);
}
/* The state of a weight vector before any data (WeightVector.__cinit__ and the
 * locals of _plain_sgd at its start). */
static void init_vec_scalars(const sf_sgd *s, double *v)
{
    memset(v, 0, SF_SGD_V_COUNT * sizeof *v);
    v[SF_SGD_V_WSCALE] = 1.0;
    v[SF_SGD_V_T] = s->t_;
    v[SF_SGD_V_ETA] = s->params.eta0;
    v[SF_SGD_V_AVERAGE_B] = 1.0;
    v[SF_SGD_V_BEST_LOSS] = INFINITY;
}

/* ---------------------------------------------------------------- classes */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Index of v in the sorted classes, or -1. */
static long class_index(const sf_sgd *s, double v)
{
    size_t lo = 0, hi = s->n_classes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->classes[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->n_classes && s->classes[lo] == v ? (long)lo : -1;
}

/* class_weight expanded over classes_ (sklearn's compute_class_weight with a dict). */
static sf_status expand_class_weight(const sf_sgd *s, const double *classes, size_t n, double *cw,
                                     sf_error *err)
{
    for (size_t i = 0; i < n; i++) cw[i] = 1.0;
    if (n == 0) return SF_OK; /* checked once the classes are known */
    for (size_t j = 0; j < s->n_cw; j++) {
        size_t i = 0;
        while (i < n && classes[i] != s->cw_labels[j]) i++;
        if (i == n) {
            sfi_fail(err, SF_ERR_ARG, NULL, "class_weight names %g, which is not a class", s->cw_labels[j]);
            sfi_error_field(err, "class_weight");
            return SF_ERR_ARG;
        }
        cw[i] = s->cw_values[j];
    }
    return SF_OK;
}

sf_status sf_sgd_set_classes(sf_sgd *s, const double *classes, size_t n, sf_error *err)
{
    if (!s || (n && !classes)) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_set_classes: NULL argument");
    if (!s->classifier)
        return sfi_fail(err, SF_ERR_STATE, NULL, "%s is not a classifier: it has no classes",
                        sf_sgd_kind_name(s->params.kind));
    double *c = malloc((n ? n : 1) * sizeof *c);
    double *cw = malloc((n ? n : 1) * sizeof *cw);
    if (!c || !cw) {
        free(c);
        free(cw);
        return sfi_nomem(err);
    }
    if (n) memcpy(c, classes, n * sizeof *c);
    sf_status st = SF_OK;
    for (size_t i = 0; i < n && st == SF_OK; i++)
        if (!isfinite(c[i])) st = sfi_fail(err, SF_ERR_ARG, NULL, "classes: %g is not a finite number", c[i]);
    if (st == SF_OK) {
        qsort(c, n, sizeof *c, cmp_double);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (m == 0 || c[i] != c[m - 1]) c[m++] = c[i];
        n = m;
        if (n < 2)
            st = sfi_fail(err, SF_ERR_ARG, NULL,
                          "the number of classes has to be greater than one; got %zu class", n);
    }
    if (st == SF_OK && s->n_classes) {
        bool same = s->n_classes == n && memcmp(s->classes, c, n * sizeof *c) == 0;
        if (!same)
            st = sfi_fail(err, SF_ERR_STATE, NULL,
                          "classes differ from the %zu classes fixed earlier (as sklearn's partial_fit)",
                          s->n_classes);
    }
    if (st == SF_OK) st = expand_class_weight(s, c, n, cw, err);
    if (st != SF_OK) {
        free(c);
        free(cw);
        return st;
    }
    free(s->classes);
    free(s->cw);
    s->classes = c;
    s->cw = cw;
    s->n_classes = n;
    return SF_OK;
}

static void unset_classes(sf_sgd *s)
{
    free(s->classes);
    free(s->cw);
    s->classes = s->cw = NULL;
    s->n_classes = 0;
}

sf_status sf_sgd_set_class_weight(sf_sgd *s, const double *labels, const double *weights, size_t n,
                                  sf_error *err)
{
    if (!s || (n && (!labels || !weights)))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_set_class_weight: NULL argument");
    if (!s->classifier)
        return sfi_fail(err, SF_ERR_STATE, NULL, "%s is not a classifier: it has no class_weight",
                        sf_sgd_kind_name(s->params.kind));
    for (size_t i = 0; i < n; i++)
        if (!(weights[i] >= 0) || isinf(weights[i]) || !isfinite(labels[i])) {
            sfi_fail(err, SF_ERR_ARG, NULL, "class_weight {%g: %g}: weights must be finite and >= 0",
                     labels[i], weights[i]);
            sfi_error_field(err, "class_weight");
            return SF_ERR_ARG;
        }
    double *l = malloc((n ? n : 1) * sizeof *l), *w = malloc((n ? n : 1) * sizeof *w);
    double *cw = malloc((s->n_classes ? s->n_classes : 1) * sizeof *cw);
    if (!l || !w || !cw) {
        free(l);
        free(w);
        free(cw);
        return sfi_nomem(err);
    }
    if (n) {
        memcpy(l, labels, n * sizeof *l);
        memcpy(w, weights, n * sizeof *w);
    }
    sf_sgd tmp = *s;
    tmp.cw_labels = l;
    tmp.cw_values = w;
    tmp.n_cw = n;
    sf_status st = expand_class_weight(&tmp, s->classes, s->n_classes, cw, err);
    if (st != SF_OK) {
        free(l);
        free(w);
        free(cw);
        return st;
    }
    free(s->cw_labels);
    free(s->cw_values);
    free(s->cw);
    s->cw_labels = l;
    s->cw_values = w;
    s->n_cw = n;
    s->cw = cw;
    return SF_OK;
}

/* ---------------------------------------------------------------- learning */

/* WeightVector64.reset_wscale: fold the scale (and the lazy average) into the
 * arrays. daxpy -> fma, dscal -> multiply by the reciprocal. */
static void reset_wscale(double *restrict w, double *restrict aw, size_t p, double *wscale,
                         double *avg_a, double *avg_b)
{
    if (aw) {
        double a = *avg_a;
        for (size_t j = 0; j < p; j++) aw[j] = fma(a, w[j], aw[j]);
        double r = 1.0 / *avg_b;
        for (size_t j = 0; j < p; j++) aw[j] *= r;
        *avg_a = 0.0;
        *avg_b = 1.0;
    }
    double c = *wscale;
    for (size_t j = 0; j < p; j++) w[j] *= c;
    *wscale = 1.0;
}

/* Rows to learn from: dense (n x ld) or CSR, as sklearn's ArrayDataset and
 * CSRDataset (utils/_seq_dataset.pyx.tp) hand them to _plain_sgd. */
struct rows {
    const double *x;          /* dense: the n x ld matrix; CSR: the stored values */
    size_t ld;
    const uint32_t *indices;  /* CSR: the column of each stored value */
    const size_t *indptr;     /* CSR: row i is [indptr[i], indptr[i + 1]) */
    const double *const *rowp;/* gathered (a shuffled block): dense row i is rowp[i] */
    const uint32_t *codes;    /* classifiers: the class index of row i */
    double decay;             /* intercept_decay: 1 dense, 0.01 CSR (linear_model/_base.py) */
};

enum { ROWS_DENSE, ROWS_CSR, ROWS_GATHERED };

/* What one vector learns from rows [0, n): the body of _plain_sgd's sample loop.
 * A dense row touches every feature, a CSR row only its stored ones, in stored
 * order (so the L1 truncation is lazy for sparse rows, as in sklearn). y holds
 * targets (regressor) or NULL with codes (classifier: +1 when the row's class is
 * pos, else -1). The state is loaded into locals and stored back. Inlined once
 * per mode (a constant), so the dense loops stay plain loops. */
static inline __attribute__((always_inline)) void
learn_rows(sf_sgd *s, size_t k, const rows *r, int mode, size_t n, const double *restrict y,
           uint32_t pos, const double *restrict sw, double w_pos, double w_neg, bool need_loss)
{
    const sf_sgd_params *prm = &s->params;
    const size_t p = s->p;
    double *restrict w = vec_w(s, k), *restrict aw = vec_aw(s, k), *restrict q = vec_q(s, k);
    const uint32_t *restrict codes = r->codes;
    const bool sparse = mode == ROWS_CSR;
    double *v = s->vs + k * SF_SGD_V_COUNT;
    const sf_sgd_learning_rate lr = s->lr;
    const sf_sgd_loss loss = s->core_loss;
    const double th = s->threshold, eps = prm->epsilon, alpha = s->alpha, l1_ratio = s->l1_ratio;
    const double eta0 = prm->eta0, power_t = prm->power_t, C = prm->C, optimal_init = s->optimal_init;
    const double avg_start = (double)prm->average, decay = r->decay;
    const bool hinge_pa = loss == SF_SGD_LOSS_HINGE, has_l2 = s->has_l2, has_l1 = s->has_l1;
    const bool fit_intercept = prm->fit_intercept;
    double wscale = v[SF_SGD_V_WSCALE], b = v[SF_SGD_V_INTERCEPT], t = v[SF_SGD_V_T];
    double eta = v[SF_SGD_V_ETA], avg_a = v[SF_SGD_V_AVERAGE_A], avg_b = v[SF_SGD_V_AVERAGE_B];
    double ab = v[SF_SGD_V_AVERAGE_INTERCEPT], u = v[SF_SGD_V_U], sumloss = v[SF_SGD_V_SUMLOSS];

    for (size_t i = 0; i < n; i++) {
        const double *restrict xi;
        const uint32_t *restrict ii = NULL;
        size_t nnz = p;
        if (sparse) {
            xi = r->x + r->indptr[i];
            ii = r->indices + r->indptr[i];
            nnz = r->indptr[i + 1] - r->indptr[i];
        } else if (mode == ROWS_GATHERED) {
            xi = r->rowp[i];
        } else {
            xi = r->x + i * r->ld;
        }
#define COL(e) (sparse ? ii[e] : (e))
        double yi = y ? y[i] : (codes[i] == pos ? 1.0 : -1.0);
        double dot = 0.0;
        for (size_t e = 0; e < nnz; e++) dot += w[COL(e)] * xi[e];
        double pr = dot * wscale + b;
        if (lr == SF_SGD_LR_OPTIMAL) eta = 1.0 / (alpha * (optimal_init + t - 1));
        else if (lr == SF_SGD_LR_INVSCALING) eta = eta0 / pow(t, power_t);
        if (need_loss) sumloss += loss_value(loss, th, eps, pr, yi);
        double cw = yi > 0.0 ? w_pos : w_neg;
        double update;
        if (lr == SF_SGD_LR_PA1 || lr == SF_SGD_LR_PA2) {
            double nx = 0.0;
            for (size_t e = 0; e < nnz; e++) nx += xi[e] * xi[e];
            if (lr == SF_SGD_LR_PA1) {
                if (nx == 0) continue; /* sklearn skips the row, t included */
                double step = loss_value(loss, th, eps, pr, yi) / nx;
                update = step < C ? step : C;
            } else {
                update = loss_value(loss, th, eps, pr, yi) / (nx + 0.5 / C);
            }
            if (hinge_pa) update *= yi;
            else if (yi - pr < 0) update *= -1;
        } else {
            double d = loss_deriv(loss, th, eps, pr, yi);
            if (d < -MAX_DLOSS) d = -MAX_DLOSS;
            else if (d > MAX_DLOSS) d = MAX_DLOSS;
            update = -eta * d;
        }
        update *= cw * (sw ? sw[i] : 1.0);

        if (has_l2) {
            double c = 1.0 - ((1.0 - l1_ratio) * eta * alpha);
            wscale *= c > 0 ? c : 0;
            if (wscale < WSCALE_MIN) {
                save_before_fold(s, k);
                reset_wscale(w, aw, p, &wscale, &avg_a, &avg_b);
            }
        }
        if (update != 0.0) {
            double c = update / wscale;
            for (size_t e = 0; e < nnz; e++) w[COL(e)] += xi[e] * c;
            if (fit_intercept) b += update * decay;
        }
        if (avg_start > 0 && avg_start <= t) {
            /* WeightVector.add_average (Bottou's lazy averaging) */
            double num_iter = t - avg_start + 1;
            double mu = 1.0 / num_iter, c = -update / wscale;
            for (size_t e = 0; e < nnz; e++) aw[COL(e)] += avg_a * xi[e] * c;
            if (num_iter > 1) avg_b /= (1.0 - mu);
            avg_a += mu * avg_b * wscale;
            ab += (b - ab) / num_iter;
        }
        if (has_l1) {
            /* _sgd_fast.pyx: l1penalty, Tsuruoka et al.'s cumulative penalty */
            u += l1_ratio * eta * alpha;
            for (size_t e = 0; e < nnz; e++) {
                size_t j = COL(e);
                double z = w[j];
                if (wscale * z > 0.0) {
                    double nw = w[j] - ((u + q[j]) / wscale);
                    w[j] = nw > 0.0 ? nw : 0.0;
                } else if (wscale * z < 0.0) {
                    double nw = w[j] + ((u - q[j]) / wscale);
                    w[j] = nw < 0.0 ? nw : 0.0;
                }
                q[j] += wscale * (w[j] - z);
            }
        }
        t += 1;
#undef COL
    }
    v[SF_SGD_V_WSCALE] = wscale;
    v[SF_SGD_V_INTERCEPT] = b;
    v[SF_SGD_V_T] = t;
    v[SF_SGD_V_AVERAGE_A] = avg_a;
    v[SF_SGD_V_AVERAGE_B] = avg_b;
    v[SF_SGD_V_AVERAGE_INTERCEPT] = ab;
    v[SF_SGD_V_U] = u;
    v[SF_SGD_V_SUMLOSS] = sumloss;
    if (lr == SF_SGD_LR_CONSTANT || lr == SF_SGD_LR_ADAPTIVE) v[SF_SGD_V_ETA] = eta;
}

static void learn_dense(sf_sgd *s, size_t k, const rows *r, size_t n, const double *y, uint32_t pos,
                        const double *sw, double w_pos, double w_neg, bool need_loss)
{
    learn_rows(s, k, r, ROWS_DENSE, n, y, pos, sw, w_pos, w_neg, need_loss);
}

static void learn_sparse(sf_sgd *s, size_t k, const rows *r, size_t n, const double *y, uint32_t pos,
                         const double *sw, double w_pos, double w_neg, bool need_loss)
{
    learn_rows(s, k, r, ROWS_CSR, n, y, pos, sw, w_pos, w_neg, need_loss);
}

static void learn_gathered(sf_sgd *s, size_t k, const rows *r, size_t n, const double *y, uint32_t pos,
                           const double *sw, double w_pos, double w_neg, bool need_loss)
{
    learn_rows(s, k, r, ROWS_GATHERED, n, y, pos, sw, w_pos, w_neg, need_loss);
}

/* coef_ / intercept_ as sklearn reports them after a call: its final
 * reset_wscale() applied to copies; the averaged ones once average <= t_ - 1
 * (_fit_binary, _fit_multiclass, _fit_regressor). */
static void expose(sf_sgd *s)
{
    bool use_avg = s->has_avg && (double)s->params.average <= s->t_ - 1.0;
    for (size_t k = 0; k < s->n_vec; k++) {
        const double *w = vec_w(s, k), *aw = vec_aw(s, k), *v = s->vs + k * SF_SGD_V_COUNT;
        double *c = s->coef + k * s->p;
        if (use_avg) {
            double a = v[SF_SGD_V_AVERAGE_A], r = 1.0 / v[SF_SGD_V_AVERAGE_B];
            for (size_t j = 0; j < s->p; j++) c[j] = fma(a, w[j], aw[j]) * r;
            s->intercept[k] = v[SF_SGD_V_AVERAGE_INTERCEPT];
        } else {
            double ws = v[SF_SGD_V_WSCALE];
            for (size_t j = 0; j < s->p; j++) c[j] = w[j] * ws;
            s->intercept[k] = v[SF_SGD_V_INTERCEPT];
        }
    }
}

static void mark_stale(sf_sgd *s) { atomic_store_explicit(&s->stale, true, memory_order_release); }

/* coef_ and intercept_ up to date: the first reader after a change derives them
 * (under a lock: predictions may run on many threads; learning never does). */
static void ensure_exposed(const sf_sgd *cs)
{
    sf_sgd *s = (sf_sgd *)cs; /* a cache: logically const */
    if (!s->p || !atomic_load_explicit(&s->stale, memory_order_acquire)) return;
    pthread_mutex_lock(&s->expose_mu);
    if (atomic_load_explicit(&s->stale, memory_order_relaxed)) {
        expose(s);
        atomic_store_explicit(&s->stale, false, memory_order_release);
    }
    pthread_mutex_unlock(&s->expose_mu);
}

static sf_status check_x(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld, sf_error *err)
{
    if (n > 0 && !x) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL data");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: no features");
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: row stride %zu < %zu features", ld, p);
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: number of features %zu does not match previous data %zu",
                        p, s->p);
    return SF_OK;
}

/* Input checks of sklearn's _validate_data / _check_sample_weight, plus the class
 * lookup (compute_class_weight's "classes should include all valid labels"),
 * filling s->codes. Nothing else is changed. */
/* True when no value of v[0..n) is NaN or infinite, in one branch-free pass: a
 * double is not finite when its 11 exponent bits are all set, i.e. when adding 1
 * to them carries into bit 63. Four accumulators so the loop vectorizes. */
static bool all_finite(const double *v, size_t n)
{
    const uint64_t expo = 0x7ff0000000000000u, one = 0x0010000000000000u, top = 0x8000000000000000u;
    uint64_t bad[4] = {0, 0, 0, 0}, bits[4];
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        memcpy(bits, v + j, sizeof bits);
        for (int k = 0; k < 4; k++) bad[k] |= ((bits[k] & expo) + one) & top;
    }
    for (; j < n; j++) {
        memcpy(bits, v + j, sizeof bits[0]);
        bad[0] |= ((bits[0] & expo) + one) & top;
    }
    return (bad[0] | bad[1] | bad[2] | bad[3]) == 0;
}

static sf_status check_dense(const double *x, size_t n, size_t p, size_t ld, sf_error *err)
{
    bool fine = ld == p && all_finite(x, n * p); /* the common case in one pass */
    for (size_t i = 0; i < n && !fine; i++) {
        const double *row = x + i * ld;
        for (size_t j = 0; j < p && !all_finite(row, p); j++)
            if (!isfinite(row[j])) {
                sf_where where = {.row = i + 1, .field = j + 1};
                return sfi_fail(err, SF_ERR_ARG, &where, "input contains %s",
                                isnan(row[j]) ? "NaN" : "infinity");
            }
    }
    return SF_OK;
}

/* CSR structure (row pointers non-decreasing, columns < p) and finite values. */
static sf_status check_csr(const double *data, const uint32_t *indices, const size_t *indptr, size_t n,
                           size_t p, sf_error *err)
{
    if (!indptr || (indptr[n] > indptr[0] && (!data || !indices)))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL CSR array");
    for (size_t i = 0; i < n; i++)
        if (indptr[i + 1] < indptr[i]) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "CSR row pointers decrease (%zu then %zu)", indptr[i],
                            indptr[i + 1]);
        }
    for (size_t i = 0; i < n; i++) {
        sf_where where = {.row = i + 1};
        for (size_t e = indptr[i]; e < indptr[i + 1]; e++) {
            where.field = (uint64_t)indices[e] + 1;
            if (indices[e] >= p)
                return sfi_fail(err, SF_ERR_SHAPE, &where, "CSR column %u is not below %zu features",
                                indices[e], p);
            if (!isfinite(data[e]))
                return sfi_fail(err, SF_ERR_ARG, &where, "input contains %s", isnan(data[e]) ? "NaN" : "infinity");
        }
    }
    return SF_OK;
}

/* Targets and weights (sklearn's _check_sample_weight, compute_class_weight's
 * "classes should include all valid labels"), filling s->codes. */
static sf_status check_targets(sf_sgd *s, size_t n, const double *y, const double *w, sf_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "target contains %s", isnan(y[i]) ? "NaN" : "infinity");
        }
        if (w && (!(w[i] >= 0) || isinf(w[i]))) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "sample weight must be finite and >= 0, got %g", w[i]);
        }
    }
    if (!s->classifier) return SF_OK;
    if (s->codes_cap < n) {
        uint32_t *c = realloc(s->codes, n * sizeof *c);
        if (!c) return sfi_nomem(err);
        s->codes = c;
        s->codes_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        long c = class_index(s, y[i]);
        if (c < 0) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "label %g is not one of the %zu classes", y[i],
                            s->n_classes);
        }
        s->codes[i] = (uint32_t)c;
    }
    return SF_OK;
}

/* sklearn checks the weights and the intercept after each call; we check the
 * averaged weights and the L1 accumulators too: an infinite weight that the L1
 * truncation later clamps to 0 (max(0, NaN) is 0) leaves q infinite, which sklearn
 * carries on with silently and which could not be saved and resumed. */
static bool vector_finite(const sf_sgd *s, size_t k)
{
    if (!isfinite(s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_INTERCEPT])) return false;
    for (size_t a = 0; a < s->n_arrays; a++)
        if (!all_finite(s->arrays + (a * s->n_vec + k) * s->p, s->p)) return false;
    return true;
}

/* One weight vector's share of a chunk: a pool task. Vectors touch disjoint
 * state, so any number of workers gives the bitwise same model. */
typedef struct learn_job {
    sf_sgd *s;
    const rows *r;
    size_t n;
    const double *y, *w;
    bool need_loss;
} learn_job;

static sf_status learn_task(void *ctx, size_t k, size_t worker, sf_error *err)
{
    (void)worker;
    (void)err;
    const learn_job *j = ctx;
    sf_sgd *s = j->s;
    if (s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_STOPPED] != 0) return SF_OK;
    void (*run)(sf_sgd *, size_t, const rows *, size_t, const double *, uint32_t, const double *, double,
                double, bool) = j->r->indptr ? learn_sparse : j->r->rowp ? learn_gathered : learn_dense;
    if (!s->classifier) run(s, k, j->r, j->n, j->y, 0, j->w, 1.0, 1.0, j->need_loss);
    else if (s->n_classes == 2) /* fit_binary(i=1): positive class classes_[1] */
        run(s, k, j->r, j->n, NULL, 1, j->w, s->cw[1], s->cw[0], j->need_loss);
    else /* one-vs-all; the negative weight is 1 (_fit_multiclass) */
        run(s, k, j->r, j->n, NULL, (uint32_t)k, j->w, s->cw[k], 1.0, j->need_loss);
    return SF_OK;
}

/* Learns rows r (already checked) after checking targets and weights: the part
 * of partial_fit shared by dense and CSR rows. */
static void snapshot(sf_sgd *s)
{
    s->partial_snapshot = false;
    memcpy(s->bak_arrays, s->arrays, s->n_vec * s->n_arrays * s->p * sizeof(double));
    memcpy(s->bak_vs, s->vs, s->n_vec * SF_SGD_V_COUNT * sizeof(double));
}

/* Array a (0 w, 1 aw or q, 2 q) of vector k. */
static double *array_of(const sf_sgd *s, double *base, size_t a, size_t k)
{
    return base + (a * s->n_vec + k) * s->p;
}

/* A CSR call: the columns its rows touch, saved (O(their number), not O(p)). */
static sf_status snapshot_csr(sf_sgd *s, const rows *r, size_t n, sf_error *err)
{
    if (!s->mark) {
        s->mark = calloc(s->p, 1);
        s->folded = calloc(s->n_vec, 1);
        s->touched = malloc(s->p * sizeof *s->touched);
        if (!s->mark || !s->folded || !s->touched) return sfi_nomem(err);
    }
    s->n_touched = 0;
    for (size_t e = r->indptr[0]; e < r->indptr[n]; e++) {
        uint32_t j = r->indices[e];
        if (!s->mark[j]) {
            s->mark[j] = 1;
            s->touched[s->n_touched++] = j;
        }
    }
    for (size_t t = 0; t < s->n_touched; t++) s->mark[s->touched[t]] = 0;
    size_t need = s->n_arrays * s->n_vec * s->n_touched;
    if (need > s->tb_cap) {
        double *tb = realloc(s->tb, need * sizeof *tb);
        if (!tb) return sfi_nomem(err);
        s->tb = tb;
        s->tb_cap = need;
    }
    for (size_t a = 0; a < s->n_arrays; a++)
        for (size_t k = 0; k < s->n_vec; k++) {
            const double *src = array_of(s, s->arrays, a, k);
            double *dst = s->tb + (a * s->n_vec + k) * s->n_touched;
            for (size_t t = 0; t < s->n_touched; t++) dst[t] = src[s->touched[t]];
        }
    memset(s->folded, 0, s->n_vec);
    memcpy(s->bak_vs, s->vs, s->n_vec * SF_SGD_V_COUNT * sizeof(double));
    s->partial_snapshot = true;
    return SF_OK;
}

/* Before vector k's first fold in a CSR call: its arrays as they were when the
 * call began, in full (the untouched columns are still as they were). */
static void save_before_fold(sf_sgd *s, size_t k)
{
    if (!s->partial_snapshot || s->folded[k]) return;
    s->folded[k] = 1;
    for (size_t a = 0; a < s->n_arrays; a++) {
        double *bak = array_of(s, s->bak_arrays, a, k);
        memcpy(bak, array_of(s, s->arrays, a, k), s->p * sizeof(double));
        const double *saved = s->tb + (a * s->n_vec + k) * s->n_touched;
        for (size_t t = 0; t < s->n_touched; t++) bak[s->touched[t]] = saved[t];
    }
}

static void rollback(sf_sgd *s)
{
    memcpy(s->vs, s->bak_vs, s->n_vec * SF_SGD_V_COUNT * sizeof(double));
    if (!s->partial_snapshot) {
        memcpy(s->arrays, s->bak_arrays, s->n_vec * s->n_arrays * s->p * sizeof(double));
        return;
    }
    for (size_t a = 0; a < s->n_arrays; a++)
        for (size_t k = 0; k < s->n_vec; k++) {
            double *dst = array_of(s, s->arrays, a, k);
            if (s->folded[k]) {
                memcpy(dst, array_of(s, s->bak_arrays, a, k), s->p * sizeof(double));
            } else {
                const double *saved = s->tb + (a * s->n_vec + k) * s->n_touched;
                for (size_t t = 0; t < s->n_touched; t++) dst[s->touched[t]] = saved[t];
            }
        }
}

/* The check after a call (vector_finite). In a CSR call only the touched
 * columns can have overflowed: a fold only scales w by wscale <= 1 and folds a
 * finite average. */
static bool model_finite(const sf_sgd *s)
{
    if (!s->partial_snapshot) {
        for (size_t k = 0; k < s->n_vec; k++)
            if (!vector_finite(s, k)) return false;
        return true;
    }
    for (size_t k = 0; k < s->n_vec; k++) {
        if (!isfinite(s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_INTERCEPT])) return false;
        for (size_t a = 0; a < s->n_arrays; a++) {
            const double *v = array_of(s, s->arrays, a, k);
            for (size_t t = 0; t < s->n_touched; t++)
                if (!isfinite(v[s->touched[t]])) return false;
        }
    }
    return true;
}

static bool need_loss(const sf_sgd *s)
{
    return (s->params.max_iter > 1 && !isnan(s->params.tol)) || s->params.early_stopping || s->track_loss;
}

/* Runs every vector over rows r (on the pool when there is one). */
static sf_status run_vectors(sf_sgd *s, const rows *r, size_t n, const double *y, const double *w, sf_error *err)
{
    learn_job job = {.s = s, .r = r, .n = n, .y = y, .w = w, .need_loss = need_loss(s)};
    if (s->pool && s->n_vec > 1 && sf_pool_size(s->pool) > 1)
        return sf_pool_run(s->pool, s->n_vec, learn_task, &job, err); /* the tasks cannot fail */
    for (size_t k = 0; k < s->n_vec; k++) learn_task(&job, k, 0, err);
    return SF_OK;
}

/* utils/_random.pxd: our_rand_r, a 32-bit xorshift, reduced to [0, 2^31). */
static uint32_t our_rand_r(uint32_t *seed)
{
    if (*seed == 0) *seed = 1;
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    return *seed % ((uint32_t)0x7fffffff + 1);
}

/* The rows a shuffled call sees: the buffered rows, then the chunk's. */
typedef struct vrows {
    const double *x, *y, *w;
    size_t ld, n_buf;
} vrows;

/* One block of m rows starting at virtual row `start`: each vector permutes it
 * as sklearn's SequentialDataset.shuffle does (Fisher-Yates with our_rand_r,
 * utils/_seq_dataset.pyx.tp) with its own seed, then learns it in that order. */
static void learn_block(sf_sgd *s, const vrows *v, size_t start, size_t m)
{
    for (size_t k = 0; k < s->n_vec; k++) {
        if (s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_STOPPED] != 0) continue;
        size_t *ind = s->blk_perm;
        for (size_t i = 0; i < m; i++) ind[i] = i;
        uint32_t seed = s->shuffle_seed[k];
        for (uint32_t i = 0; i + 1 < (uint32_t)m; i++) {
            uint32_t j = i + our_rand_r(&seed) % ((uint32_t)m - i);
            size_t t = ind[i];
            ind[i] = ind[j];
            ind[j] = t;
        }
        for (size_t i = 0; i < m; i++) {
            size_t q = start + ind[i];
            bool buffered = q < v->n_buf;
            size_t c = q - v->n_buf;
            s->blk_rows[i] = buffered ? s->buf_x + q * s->p : v->x + c * v->ld;
            s->blk_y[i] = buffered ? s->buf_y[q] : v->y[c];
            s->blk_w[i] = buffered ? s->buf_w[q] : v->w ? v->w[c] : 1.0;
            if (s->classifier) s->blk_codes[i] = (uint32_t)class_index(s, s->blk_y[i]);
        }
        rows r = {.rowp = s->blk_rows, .codes = s->blk_codes, .decay = 1.0};
        learn_job job = {.s = s, .r = &r, .n = m, .y = s->blk_y, .w = s->blk_w, .need_loss = need_loss(s)};
        learn_task(&job, k, 0, NULL);
    }
}

/* shuffle: learns the complete blocks of the buffered rows followed by n new rows
 * (with flush, also the incomplete last one); returns the rows learned. */
static size_t shuffled_blocks(sf_sgd *s, const double *x, size_t n, size_t ld, const double *y,
                              const double *w, bool flush)
{
    size_t B = (size_t)s->params.shuffle_block, total = s->n_buf + n, done = 0;
    vrows v = {.x = x, .y = y, .w = w, .ld = ld, .n_buf = s->n_buf};
    for (; done + B <= total; done += B) learn_block(s, &v, done, B);
    if (flush && done < total) {
        learn_block(s, &v, done, total - done);
        done = total;
    }
    return done;
}

/* After shuffled_blocks learned `done` of the buffered + new rows: the rest
 * becomes the buffer. */
static void keep_rest(sf_sgd *s, const double *x, size_t n, size_t ld, const double *y, const double *w,
                      size_t done)
{
    size_t total = s->n_buf + n;
    if (done == 0) { /* no block complete: append the rows */
        for (size_t i = 0; i < n; i++) {
            memcpy(s->buf_x + (s->n_buf + i) * s->p, x + i * ld, s->p * sizeof(double));
            s->buf_y[s->n_buf + i] = y[i];
            s->buf_w[s->n_buf + i] = w ? w[i] : 1.0;
        }
        s->n_buf += n;
        return;
    }
    size_t first = done - s->n_buf, keep = total - done; /* the new rows' tail (done >= B > n_buf) */
    for (size_t i = 0; i < keep; i++) {
        memcpy(s->buf_x + i * s->p, x + (first + i) * ld, s->p * sizeof(double));
        s->buf_y[i] = y[first + i];
        s->buf_w[i] = w ? w[first + i] : 1.0;
    }
    s->n_buf = keep;
}

static sf_status overflow(sf_error *err)
{
    return sfi_fail(err, SF_ERR_NUMERIC, NULL,
                    "floating-point under-/overflow in the weights; scaling the input "
                    "(standard scaler) might help");
}

/* shuffle: learns what blocks the new rows complete; the rest waits. Rows count
 * in the epoch when they arrive, in t_ when they are learned. */
static sf_status learn_shuffled(sf_sgd *s, const double *x, size_t n, size_t ld, const double *y,
                                const double *w, bool flush, sf_error *err)
{
    snapshot(s);
    size_t done = shuffled_blocks(s, x, n, ld, y, w, flush);
    if (!model_finite(s)) {
        rollback(s);
        return overflow(err);
    }
    keep_rest(s, x, n, ld, y, w, done);
    s->t_ += (double)done;
    s->epoch_rows += (double)n;
    mark_stale(s);
    return SF_OK;
}

/* shuffle with early_stopping: the held-out rows are scored when they arrive,
 * with what the blocks completed before them taught; the other rows go the
 * shuffled way. The buffer is saved first, as the runs between held-out rows
 * change it. */
static sf_status learn_shuffled_holdout(sf_sgd *s, const rows *r, size_t n, const double *y, const double *w,
                                        sf_error *err)
{
    size_t p = s->p, nb = s->n_buf;
    if (!s->bak_buf) {
        s->bak_buf = malloc(((size_t)s->params.shuffle_block * (p + 2)) * sizeof(double));
        if (!s->bak_buf) return sfi_nomem(err);
    }
    memcpy(s->bak_buf, s->buf_x, nb * p * sizeof(double));
    memcpy(s->bak_buf + nb * p, s->buf_y, nb * sizeof(double));
    memcpy(s->bak_buf + nb * (p + 1), s->buf_w, nb * sizeof(double));
    double t0 = s->t_, hw0 = s->holdout_w;
    snapshot(s);
    const uint64_t period = s->params.holdout_period, seen = (uint64_t)s->epoch_rows;
    size_t a = 0;
    for (size_t i = 0; i <= n; i++) {
        bool held = i < n && (seen + i) % period == period - 1;
        if (!held && i < n) continue;
        if (i > a) {
            const double *xa = r->x + a * r->ld, *ya = y + a, *wa = w ? w + a : NULL;
            size_t done = shuffled_blocks(s, xa, i - a, r->ld, ya, wa, false);
            keep_rest(s, xa, i - a, r->ld, ya, wa, done);
            s->t_ += (double)done;
        }
        if (held) {
            score_holdout(s, r, i, y[i], w ? w[i] : 1.0);
            s->t_ += 1; /* sklearn counts validation rows in t_ */
        }
        a = i + 1;
    }
    if (!model_finite(s)) {
        rollback(s);
        memcpy(s->buf_x, s->bak_buf, nb * p * sizeof(double));
        memcpy(s->buf_y, s->bak_buf + nb * p, nb * sizeof(double));
        memcpy(s->buf_w, s->bak_buf + nb * (p + 1), nb * sizeof(double));
        s->n_buf = nb;
        s->t_ = t0;
        s->holdout_w = hw0;
        return overflow(err);
    }
    s->epoch_rows += (double)n;
    mark_stale(s);
    return SF_OK;
}

/* rows [a, b) of r as rows of their own. */
static rows sub_rows(const rows *r, size_t a)
{
    rows q = *r;
    if (q.indptr) q.indptr += a;
    else q.x += a * q.ld;
    if (q.codes) q.codes += a;
    return q;
}

/* The loss of one held-out row for each vector, with the model of this moment as
 * sklearn would report it (averaged weights once averaging has started). */
static void score_holdout(sf_sgd *s, const rows *r, size_t i, double y, double w)
{
    const size_t p = s->p;
    const double *xi = r->indptr ? r->x + r->indptr[i] : r->x + i * r->ld;
    const uint32_t *ii = r->indptr ? r->indices + r->indptr[i] : NULL;
    size_t nnz = r->indptr ? r->indptr[i + 1] - r->indptr[i] : p;
    bool avg = s->has_avg && (double)s->params.average <= s->t_ - 1.0;
    for (size_t k = 0; k < s->n_vec; k++) {
        double *v = s->vs + k * SF_SGD_V_COUNT;
        if (v[SF_SGD_V_STOPPED] != 0) continue;
        const double *wk = vec_w(s, k), *awk = vec_aw(s, k);
        double d = 0, da = 0;
        for (size_t e = 0; e < nnz; e++) {
            size_t j = ii ? ii[e] : e;
            d += wk[j] * xi[e];
            if (avg) da += awk[j] * xi[e];
        }
        double pr = avg ? (da + v[SF_SGD_V_AVERAGE_A] * d) / v[SF_SGD_V_AVERAGE_B] + v[SF_SGD_V_AVERAGE_INTERCEPT]
                        : d * v[SF_SGD_V_WSCALE] + v[SF_SGD_V_INTERCEPT];
        double yk = !s->classifier ? y : (r->codes[i] == (s->n_vec == 1 ? 1u : (uint32_t)k) ? 1.0 : -1.0);
        v[SF_SGD_V_HOLDOUT_LOSS] += w * loss_value(s->core_loss, s->threshold, s->params.epsilon, pr, yk);
    }
    s->holdout_w += w;
}

/* early_stopping: every holdout_period-th row of the epoch is scored, not
 * learned; the rows between are learned as usual. */
static sf_status learn_with_holdout(sf_sgd *s, const rows *r, size_t n, const double *y, const double *w,
                                    sf_error *err)
{
    const uint64_t period = s->params.holdout_period, seen = (uint64_t)s->epoch_rows;
    size_t a = 0;
    for (size_t i = 0; i < n; i++) {
        if ((seen + i) % period != period - 1) continue;
        if (i > a) {
            rows q = sub_rows(r, a);
            SF_TRY(run_vectors(s, &q, i - a, y ? y + a : NULL, w ? w + a : NULL, err));
        }
        score_holdout(s, r, i, y[i], w ? w[i] : 1.0);
        a = i + 1;
    }
    if (a < n) {
        rows q = sub_rows(r, a);
        SF_TRY(run_vectors(s, &q, n - a, y + a, w ? w + a : NULL, err));
    }
    return SF_OK;
}

static sf_status learn(sf_sgd *s, const rows *r, size_t n, size_t p, const double *y, const double *w,
                       sf_error *err)
{
    if (!y) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL target");
    bool set_here = false;
    if (s->classifier && !s->n_classes) { /* classes from this first chunk, then fixed */
        SF_TRY(sf_sgd_set_classes(s, y, n, err));
        set_here = true;
    }
    sf_status st = check_targets(s, n, y, w, err);
    model_mem m;
    bool fresh = st == SF_OK && !s->p;
    if (fresh) st = alloc_model(s, p, vectors_for(s), &m, err);
    if (st != SF_OK) {
        if (set_here) unset_classes(s); /* the call failed: classes are not fixed after all */
        return st;
    }
    if (fresh) {
        install_model(s, p, vectors_for(s), &m);
        for (size_t k = 0; k < s->n_vec; k++) init_vec_scalars(s, s->vs + k * SF_SGD_V_COUNT);
    }
    if (s->params.shuffle) {
        rows rc = *r;
        rc.codes = s->codes;
        st = s->params.early_stopping ? learn_shuffled_holdout(s, &rc, n, y, w, err)
                                      : learn_shuffled(s, r->x, n, r->ld, y, w, false, err);
        if (st != SF_OK && fresh) free_model(s);
        if (st != SF_OK && set_here) unset_classes(s);
        return st;
    }
    if (r->indptr && !fresh) st = snapshot_csr(s, r, n, err);
    else snapshot(s);
    if (st != SF_OK) return st;
    rows rc = *r;
    rc.codes = s->codes;
    if (s->params.early_stopping) st = learn_with_holdout(s, &rc, n, y, w, err);
    else st = run_vectors(s, &rc, n, y, w, err);
    if (st != SF_OK || !model_finite(s)) {
        if (fresh) free_model(s);
        else rollback(s);
        if (set_here) unset_classes(s);
        if (st != SF_OK) return st;
        return sfi_fail(err, SF_ERR_NUMERIC, NULL,
                        "floating-point under-/overflow in the weights; scaling the input "
                        "(standard scaler) might help");
    }
    s->t_ += (double)n;
    s->epoch_rows += (double)n;
    mark_stale(s);
    return SF_OK;
}

sf_status sf_sgd_flush(sf_sgd *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_flush: NULL model");
    if (!s->n_buf) return SF_OK;
    return learn_shuffled(s, NULL, 0, 0, NULL, NULL, true, err);
}

sf_status sf_sgd_partial_fit(sf_sgd *s, const double *x, size_t n, size_t p, size_t ld, const double *y,
                             const double *w, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_partial_fit: NULL model");
    SF_TRY(check_x(s, x, n, p, ld, err));
    if (n == 0) return SF_OK;
    SF_TRY(check_dense(x, n, p, ld, err));
    if (s->params.shuffle && s->params.random_state < 0) {
        /* checked here, not with the parameters: a pipeline's --seed comes later */
        sfi_fail(err, SF_ERR_ARG, NULL, "shuffle=true needs an integer random_state (or --seed), so the "
                                        "order is reproducible");
        sfi_error_field(err, "random_state");
        return SF_ERR_ARG;
    }
    rows r = {.x = x, .ld = ld, .decay = 1.0};
    return learn(s, &r, n, p, y, w, err);
}

sf_status sf_sgd_partial_fit_csr(sf_sgd *s, const double *data, const uint32_t *indices,
                                 const size_t *indptr, size_t n, size_t p, const double *y, const double *w,
                                 sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_partial_fit_csr: NULL model");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: no features");
    if (s->p && p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: number of features %zu does not match previous data %zu",
                        p, s->p);
    if (n == 0) return SF_OK;
    if (s->params.shuffle)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "sgd: shuffle=true takes dense rows only, for now");
    SF_TRY(check_csr(data, indices, indptr, n, p, err));
    rows r = {.x = data, .indices = indices, .indptr = indptr, .decay = SPARSE_INTERCEPT_DECAY};
    return learn(s, &r, n, p, y, w, err);
}

/* early_stopping: vector k's learning state now is its best so far. */
static void keep_best(sf_sgd *s, size_t k)
{
    size_t np = s->n_vec * s->p;
    for (size_t a = 0; a < s->n_arrays; a++)
        memcpy(s->best_arrays + a * np + k * s->p, s->arrays + a * np + k * s->p, s->p * sizeof(double));
    memcpy(s->best_vs + k * SF_SGD_V_COUNT, s->vs + k * SF_SGD_V_COUNT, SF_SGD_V_COUNT * sizeof(double));
}

/* early_stopping: vector k goes back to its best epoch's learning state; the
 * stopping bookkeeping stays. */
static void back_to_best(sf_sgd *s, size_t k)
{
    size_t np = s->n_vec * s->p;
    for (size_t a = 0; a < s->n_arrays; a++)
        memcpy(s->arrays + a * np + k * s->p, s->best_arrays + a * np + k * s->p, s->p * sizeof(double));
    double *v = s->vs + k * SF_SGD_V_COUNT;
    const double *b = s->best_vs + k * SF_SGD_V_COUNT;
    for (int i = 0; i <= SF_SGD_V_U; i++) v[i] = b[i]; /* the learning scalars, not the epoch's */
}

/* The end of an epoch in _plain_sgd (no validation set): the tolerance rule on
 * the epoch's summed loss, then eta / 5 for the adaptive rate or a stop. */
sf_status sf_sgd_end_epoch(sf_sgd *s, bool *again, sf_error *err)
{
    if (!s || !again) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_end_epoch: NULL argument");
    *again = false;
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "sgd: an epoch ended before any data");
    SF_TRY(sf_sgd_flush(s, err)); /* the epoch's last, shorter block */
    double tol = isnan(s->params.tol) ? -INFINITY : s->params.tol;
    bool going = false, es = s->params.early_stopping;
    for (size_t k = 0; k < s->n_vec; k++) {
        double *v = s->vs + k * SF_SGD_V_COUNT;
        if (v[SF_SGD_V_STOPPED] != 0) continue;
        /* the epoch's loss: summed training loss against tol * rows (sklearn), or
         * the mean held-out loss against tol */
        double loss = es ? (s->holdout_w > 0 ? v[SF_SGD_V_HOLDOUT_LOSS] / s->holdout_w : INFINITY)
                         : v[SF_SGD_V_SUMLOSS];
        double slack = es ? tol : tol * s->epoch_rows;
        if (tol > -INFINITY && loss > v[SF_SGD_V_BEST_LOSS] - slack)
            v[SF_SGD_V_NO_IMPROVEMENT] += 1;
        else
            v[SF_SGD_V_NO_IMPROVEMENT] = 0;
        if (loss < v[SF_SGD_V_BEST_LOSS]) {
            v[SF_SGD_V_BEST_LOSS] = loss;
            if (es) keep_best(s, k);
        }
        if (v[SF_SGD_V_NO_IMPROVEMENT] >= (double)s->params.n_iter_no_change) {
            if (s->lr == SF_SGD_LR_ADAPTIVE && v[SF_SGD_V_ETA] > 1e-6) {
                v[SF_SGD_V_ETA] = v[SF_SGD_V_ETA] / 5;
                v[SF_SGD_V_NO_IMPROVEMENT] = 0;
            } else {
                v[SF_SGD_V_STOPPED] = 1;
                if (es) back_to_best(s, k);
            }
        }
        v[SF_SGD_V_SUMLOSS] = 0;
        v[SF_SGD_V_HOLDOUT_LOSS] = 0;
        going = going || v[SF_SGD_V_STOPPED] == 0;
    }
    if (es) mark_stale(s);
    s->n_iter += 1;
    s->epoch_rows = 0;
    s->holdout_w = 0;
    *again = going && s->n_iter < (double)s->params.max_iter;
    return SF_OK;
}

void sf_sgd_reset_epochs(sf_sgd *s)
{
    if (!s) return;
    for (size_t k = 0; k < s->n_vec; k++) {
        double *v = s->vs + k * SF_SGD_V_COUNT;
        v[SF_SGD_V_SUMLOSS] = 0;
        v[SF_SGD_V_BEST_LOSS] = INFINITY;
        v[SF_SGD_V_NO_IMPROVEMENT] = 0;
        v[SF_SGD_V_STOPPED] = 0;
        v[SF_SGD_V_HOLDOUT_LOSS] = 0;
    }
    s->n_iter = 0;
    s->epoch_rows = 0;
    s->holdout_w = 0;
}

/* ---------------------------------------------------------------- prediction */

sf_sgd_progress sf_sgd_get_progress(const sf_sgd *s)
{
    sf_sgd_progress g = {0, 0, 0, 0};
    if (!s || !s->p) return g;
    for (size_t k = 0; k < s->n_vec; k++) {
        g.train_loss += s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_SUMLOSS];
        g.holdout_loss += s->vs[k * SF_SGD_V_COUNT + SF_SGD_V_HOLDOUT_LOSS];
    }
    g.rows = s->epoch_rows;
    g.holdout_weight = s->holdout_w;
    return g;
}

void sf_sgd_track_loss(sf_sgd *s, bool on)
{
    if (s) s->track_loss = on;
}

size_t sf_sgd_n_decision(const sf_sgd *s)
{
    if (!s) return 0;
    if (!s->classifier) return 1;
    return s->n_classes == 2 ? 1 : s->n_classes;
}

static sf_status check_fitted(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                              const double *out, size_t out_ld, size_t width, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL model");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "sgd: not fitted");
    SF_TRY(check_x(s, x, n, p, ld, err));
    if (n > 0 && !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL output");
    if (out_ld < width) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: output stride %zu < %zu", out_ld, width);
    ensure_exposed(s);
    return SF_OK;
}

/* Rows to predict: dense (x, ld) or CSR (data, indices, indptr). */
typedef struct pred_in {
    const double *x;
    size_t ld;
    const double *data;
    const uint32_t *indices;
    const size_t *indptr;
} pred_in;

/* X @ coef_.T + intercept_ (LinearClassifierMixin.decision_function) for rows
 * [a, a + m), one row at a time: dense rows in feature order; CSR rows in stored
 * order from 0, as scipy's csr_matvec(s) accumulates safe_sparse_dot. */
static void decide(const sf_sgd *s, const pred_in *in, size_t a, size_t m, double *out, size_t out_ld)
{
    for (size_t i = 0; i < m; i++) {
        for (size_t k = 0; k < s->n_vec; k++) {
            const double *c = s->coef + k * s->p;
            double d = 0.0;
            if (in->x) {
                const double *xi = in->x + (a + i) * in->ld;
                for (size_t j = 0; j < s->p; j++) d += xi[j] * c[j];
            } else {
                for (size_t e = in->indptr[a + i]; e < in->indptr[a + i + 1]; e++) d += in->data[e] * c[in->indices[e]];
            }
            out[i * out_ld + k] = d + s->intercept[k];
        }
    }
}

sf_status sf_sgd_decision_function(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                                   double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_fitted(s, x, n, p, ld, out, out_ld, sf_sgd_n_decision(s), err));
    pred_in in = {.x = x, .ld = ld};
    decide(s, &in, 0, n, out, out_ld);
    return SF_OK;
}

/* Rows per block of the scratch decisions of predict / predict_proba. */
#define PRED_BLOCK 256

static double label_of(const sf_sgd *s, const double *d)
{
    if (!s->classifier) return d[0];
    if (s->n_classes == 2) return s->classes[d[0] > 0 ? 1 : 0];
    size_t best = 0;
    for (size_t k = 1; k < s->n_classes; k++)
        if (d[k] > d[best]) best = k; /* first maximum on ties, as argmax */
    return s->classes[best];
}

static sf_status predict_rows(const sf_sgd *s, const pred_in *in, size_t n, double *out, size_t out_ld,
                              sf_error *err)
{
    size_t K = s->n_vec;
    double *d = malloc(PRED_BLOCK * K * sizeof *d);
    if (!d) return sfi_nomem(err);
    for (size_t a = 0; a < n; a += PRED_BLOCK) {
        size_t m = n - a < PRED_BLOCK ? n - a : PRED_BLOCK;
        decide(s, in, a, m, d, K);
        for (size_t i = 0; i < m; i++) out[(a + i) * out_ld] = label_of(s, d + i * K);
    }
    free(d);
    return SF_OK;
}

sf_status sf_sgd_predict(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld, double *out,
                         size_t out_ld, sf_error *err)
{
    SF_TRY(check_fitted(s, x, n, p, ld, out, out_ld, 1, err));
    pred_in in = {.x = x, .ld = ld};
    return predict_rows(s, &in, n, out, out_ld, err);
}

/* SGDClassifier.predict_proba: _predict_proba_lr for log_loss (expit, then OvR
 * normalisation), the clipped decision for modified_huber. */
static double one_proba(bool log_loss, double d)
{
    if (log_loss) return 1 / (1 + exp(-d)); /* scipy's expit */
    double pr = d < -1 ? -1 : d > 1 ? 1 : d;
    pr += 1.0;
    return pr / 2.0;
}

static void proba_row(const sf_sgd *s, const double *d, double *o)
{
    size_t K = s->n_classes;
    bool log_loss = s->params.loss == SF_SGD_LOSS_LOG_LOSS;
    if (K == 2) {
        double pr = one_proba(log_loss, d[0]);
        o[0] = 1 - pr;
        o[1] = pr;
        return;
    }
    double sum = 0;
    for (size_t k = 0; k < K; k++) {
        o[k] = one_proba(log_loss, d[k]);
        sum += o[k];
    }
    if (!log_loss && sum == 0) { /* all clipped to 0: uniform */
        for (size_t k = 0; k < K; k++) o[k] = 1;
        sum = (double)K;
    }
    for (size_t k = 0; k < K; k++) o[k] /= sum;
}

static sf_status proba_supported(const sf_sgd *s, sf_error *err)
{
    if (s && (s->params.kind != SF_SGD_CLASSIFIER ||
              (s->params.loss != SF_SGD_LOSS_LOG_LOSS && s->params.loss != SF_SGD_LOSS_MODIFIED_HUBER)))
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL,
                        "probability estimates are only available for sgd_classifier with loss "
                        "log_loss or modified_huber");
    return SF_OK;
}

static sf_status proba_rows(const sf_sgd *s, const pred_in *in, size_t n, double *out, size_t out_ld,
                            sf_error *err)
{
    size_t K = s->n_vec;
    double *d = malloc(PRED_BLOCK * K * sizeof *d);
    if (!d) return sfi_nomem(err);
    for (size_t a = 0; a < n; a += PRED_BLOCK) {
        size_t m = n - a < PRED_BLOCK ? n - a : PRED_BLOCK;
        decide(s, in, a, m, d, K);
        for (size_t i = 0; i < m; i++) proba_row(s, d + i * K, out + (a + i) * out_ld);
    }
    free(d);
    return SF_OK;
}

sf_status sf_sgd_predict_proba(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                               double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(proba_supported(s, err));
    SF_TRY(check_fitted(s, x, n, p, ld, out, out_ld, s->n_classes, err));
    pred_in in = {.x = x, .ld = ld};
    return proba_rows(s, &in, n, out, out_ld, err);
}

/* ---- the same on CSR rows ---- */

static sf_status check_fitted_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                  const size_t *indptr, size_t n, size_t p, const double *out, size_t out_ld,
                                  size_t width, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL model");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "sgd: not fitted");
    if (p != s->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: X has %zu features, but the model expects %zu", p, s->p);
    SF_TRY(check_csr(data, indices, indptr, n, p, err));
    if (n > 0 && !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd: NULL output");
    if (out_ld < width) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: output stride %zu < %zu", out_ld, width);
    ensure_exposed(s);
    return SF_OK;
}

sf_status sf_sgd_decision_function_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                       const size_t *indptr, size_t n, size_t p, double *out, size_t out_ld,
                                       sf_error *err)
{
    SF_TRY(check_fitted_csr(s, data, indices, indptr, n, p, out, out_ld, sf_sgd_n_decision(s), err));
    pred_in in = {.data = data, .indices = indices, .indptr = indptr};
    decide(s, &in, 0, n, out, out_ld);
    return SF_OK;
}

sf_status sf_sgd_predict_csr(const sf_sgd *s, const double *data, const uint32_t *indices, const size_t *indptr,
                             size_t n, size_t p, double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_fitted_csr(s, data, indices, indptr, n, p, out, out_ld, 1, err));
    pred_in in = {.data = data, .indices = indices, .indptr = indptr};
    return predict_rows(s, &in, n, out, out_ld, err);
}

sf_status sf_sgd_predict_proba_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                   const size_t *indptr, size_t n, size_t p, double *out, size_t out_ld,
                                   sf_error *err)
{
    SF_TRY(proba_supported(s, err));
    SF_TRY(check_fitted_csr(s, data, indices, indptr, n, p, out, out_ld, s ? s->n_classes : 0, err));
    pred_in in = {.data = data, .indices = indices, .indptr = indptr};
    return proba_rows(s, &in, n, out, out_ld, err);
}

sf_status sf_sgd_score(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld, const double *y,
                       const double *w, double *score, sf_error *err)
{
    if (!y || !score) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_score: NULL argument");
    if (n == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "sgd: score of no rows");
    double *pred = malloc(n * sizeof *pred);
    if (!pred) return sfi_nomem(err);
    sf_status st = sf_sgd_predict(s, x, n, p, ld, pred, 1, err);
    if (st != SF_OK) {
        free(pred);
        return st;
    }
    /* accuracy_score: np.average(y == pred, weights=w); r2_score with its
     * force_finite rule (a constant y gives 1 if predicted exactly, else 0) */
    double sw = 0, hit = 0, ymean = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi;
        hit += wi * (y[i] == pred[i]);
        ymean += wi * y[i];
    }
    if (s->classifier) {
        *score = hit / sw;
    } else {
        ymean /= sw;
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1.0;
            num += wi * (y[i] - pred[i]) * (y[i] - pred[i]);
            den += wi * (y[i] - ymean) * (y[i] - ymean);
        }
        *score = den != 0 ? 1 - num / den : (num == 0 ? 1.0 : 0.0);
    }
    free(pred);
    return SF_OK;
}

/* ---------------------------------------------------------------- attributes */

size_t sf_sgd_n_features(const sf_sgd *s) { return s ? s->p : 0; }
size_t sf_sgd_n_classes(const sf_sgd *s) { return s && s->classifier ? s->n_classes : 0; }
const double *sf_sgd_classes(const sf_sgd *s) { return s && s->n_classes ? s->classes : NULL; }
size_t sf_sgd_n_coef_rows(const sf_sgd *s) { return s ? (s->p ? s->n_vec : vectors_for(s)) : 0; }
const double *sf_sgd_coef(const sf_sgd *s)
{
    if (!s || !s->p) return NULL;
    ensure_exposed(s);
    return s->coef;
}

const double *sf_sgd_intercept(const sf_sgd *s)
{
    if (!s || !s->p) return NULL;
    ensure_exposed(s);
    return s->intercept;
}
double sf_sgd_t(const sf_sgd *s) { return s ? s->t_ : 0; }
unsigned sf_sgd_n_iter(const sf_sgd *s) { return s ? (unsigned)s->n_iter : 0; }

sf_sgd_params sf_sgd_get_params(const sf_sgd *s)
{
    sf_sgd_params p;
    if (s) return s->params;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    return p;
}

/* ---------------------------------------------------------------- state */

sf_status sf_sgd_get_state(const sf_sgd *s, sf_sgd_state *out, sf_error *err)
{
    if (!s || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_get_state: NULL argument");
    if (!s->p) return sfi_fail(err, SF_ERR_STATE, NULL, "sgd: not fitted");
    memset(out, 0, sizeof *out);
    out->n_features = s->p;
    out->n_vectors = s->n_vec;
    out->t_ = s->t_;
    out->n_iter = s->n_iter;
    out->epoch_rows = s->epoch_rows;
    out->optimal_init = s->optimal_init;
    size_t np = s->n_vec * s->p;
    out->w = s->arrays;
    out->average_w = s->has_avg ? s->arrays + np : NULL;
    out->q = s->has_l1 ? s->arrays + (1 + s->has_avg) * np : NULL;
    out->vec = s->vs;
    out->holdout_weight = s->holdout_w;
    if (s->best_arrays) {
        out->best_w = s->best_arrays;
        out->best_average_w = s->has_avg ? s->best_arrays + np : NULL;
        out->best_q = s->has_l1 ? s->best_arrays + (1 + s->has_avg) * np : NULL;
        out->best_vec = s->best_vs;
    }
    out->n_buffered = s->n_buf;
    out->buffer_x = s->n_buf ? s->buf_x : NULL;
    out->buffer_y = s->n_buf ? s->buf_y : NULL;
    out->buffer_w = s->n_buf ? s->buf_w : NULL;
    return SF_OK;
}

static sf_status bad_state(sf_error *err, const char *what, size_t k, double v)
{
    return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: %s of vector %zu is %g", what, k + 1, v);
}

static sf_status check_state(const sf_sgd *s, const sf_sgd_state *st, sf_error *err)
{
    if (!st->n_features || !st->w || !st->vec)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: no features or no arrays");
    if (s->classifier && !s->n_classes)
        return sfi_fail(err, SF_ERR_STATE, NULL, "sgd state: set the classes before the state");
    if (st->n_vectors != vectors_for(s))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: %zu weight vectors, the model has %zu",
                        st->n_vectors, vectors_for(s));
    if (s->has_avg != (st->average_w != NULL))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: averaged weights %s",
                        s->has_avg ? "missing" : "given without average");
    if (s->has_l1 != (st->q != NULL))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: L1 accumulators %s",
                        s->has_l1 ? "missing" : "given without an L1 penalty");
    if (!(st->t_ >= 1) || !isfinite(st->t_)) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: t_ is %g", st->t_);
    if (s->params.early_stopping != (st->best_w != NULL) || (st->best_w && !st->best_vec) ||
        (st->best_w && s->has_avg != (st->best_average_w != NULL)) ||
        (st->best_w && s->has_l1 != (st->best_q != NULL)) || !(st->holdout_weight >= 0))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: the best epoch's state %s",
                        s->params.early_stopping ? "is missing or incomplete" : "given without early_stopping");
    if (st->n_buffered && (!s->params.shuffle || st->n_buffered >= s->params.shuffle_block ||
                           !st->buffer_x || !st->buffer_y || !st->buffer_w))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: %zu buffered rows, shuffle_block %llu",
                        st->n_buffered, (unsigned long long)s->params.shuffle_block);
    for (size_t i = 0; i < st->n_buffered; i++) {
        bool ok = all_finite(st->buffer_x + i * st->n_features, st->n_features) && isfinite(st->buffer_y[i]) &&
                  st->buffer_w[i] >= 0 && isfinite(st->buffer_w[i]) &&
                  (!s->classifier || class_index(s, st->buffer_y[i]) >= 0);
        if (!ok) return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: buffered row %zu is not valid", i + 1);
    }
    if (!(st->n_iter >= 0) || !(st->epoch_rows >= 0) || !isfinite(st->optimal_init))
        return sfi_fail(err, SF_ERR_ARG, NULL, "sgd state: bad epoch counters");
    size_t np = st->n_vectors * st->n_features;
    for (size_t i = 0; i < np; i++)
        if (!isfinite(st->w[i]) || (st->average_w && !isfinite(st->average_w[i])) ||
            (st->q && !isfinite(st->q[i])))
            return bad_state(err, "a weight", i / st->n_features, NAN);
    for (size_t k = 0; k < st->n_vectors; k++) {
        const double *v = st->vec + k * SF_SGD_V_COUNT;
        if (!(v[SF_SGD_V_WSCALE] >= WSCALE_MIN && v[SF_SGD_V_WSCALE] <= 1)) return bad_state(err, "wscale", k, v[SF_SGD_V_WSCALE]);
        if (!(v[SF_SGD_V_AVERAGE_B] > 0) || !isfinite(v[SF_SGD_V_AVERAGE_B])) return bad_state(err, "average_b", k, v[SF_SGD_V_AVERAGE_B]);
        if (!(v[SF_SGD_V_T] >= 1) || !isfinite(v[SF_SGD_V_T])) return bad_state(err, "t", k, v[SF_SGD_V_T]);
        if (!(v[SF_SGD_V_ETA] >= 0) || !isfinite(v[SF_SGD_V_ETA])) return bad_state(err, "eta", k, v[SF_SGD_V_ETA]);
        if (!(v[SF_SGD_V_NO_IMPROVEMENT] >= 0)) return bad_state(err, "no-improvement count", k, v[SF_SGD_V_NO_IMPROVEMENT]);
        if (v[SF_SGD_V_STOPPED] != 0 && v[SF_SGD_V_STOPPED] != 1) return bad_state(err, "stopped flag", k, v[SF_SGD_V_STOPPED]);
        static const int finite_ones[] = {SF_SGD_V_INTERCEPT, SF_SGD_V_AVERAGE_A, SF_SGD_V_AVERAGE_INTERCEPT,
                                          SF_SGD_V_U, SF_SGD_V_SUMLOSS};
        for (size_t i = 0; i < N_OF(finite_ones); i++)
            if (!isfinite(v[finite_ones[i]])) return bad_state(err, "a scalar", k, v[finite_ones[i]]);
        if (isnan(v[SF_SGD_V_BEST_LOSS])) return bad_state(err, "best loss", k, NAN);
    }
    return SF_OK;
}

sf_status sf_sgd_set_state(sf_sgd *s, const sf_sgd_state *st, sf_error *err)
{
    if (!s || !st) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sgd_set_state: NULL argument");
    SF_TRY(check_state(s, st, err));
    model_mem m;
    size_t p = st->n_features, nv = st->n_vectors, np = nv * p;
    SF_TRY(alloc_model(s, p, nv, &m, err));
    install_model(s, p, nv, &m);
    memcpy(s->arrays, st->w, np * sizeof(double));
    if (s->has_avg) memcpy(s->arrays + np, st->average_w, np * sizeof(double));
    if (s->has_l1) memcpy(s->arrays + (1 + s->has_avg) * np, st->q, np * sizeof(double));
    memcpy(s->vs, st->vec, nv * SF_SGD_V_COUNT * sizeof(double));
    if (st->n_buffered) {
        memcpy(s->buf_x, st->buffer_x, st->n_buffered * p * sizeof(double));
        memcpy(s->buf_y, st->buffer_y, st->n_buffered * sizeof(double));
        memcpy(s->buf_w, st->buffer_w, st->n_buffered * sizeof(double));
    }
    s->n_buf = st->n_buffered;
    if (st->best_w) {
        memcpy(s->best_arrays, st->best_w, np * sizeof(double));
        if (s->has_avg) memcpy(s->best_arrays + np, st->best_average_w, np * sizeof(double));
        if (s->has_l1) memcpy(s->best_arrays + (1 + s->has_avg) * np, st->best_q, np * sizeof(double));
        memcpy(s->best_vs, st->best_vec, nv * SF_SGD_V_COUNT * sizeof(double));
    }
    s->holdout_w = st->holdout_weight;
    s->t_ = st->t_;
    s->n_iter = st->n_iter;
    s->epoch_rows = st->epoch_rows;
    s->optimal_init = st->optimal_init;
    mark_stale(s);
    return SF_OK;
}
