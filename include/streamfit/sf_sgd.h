/* sf_sgd.h — linear models learned one row at a time: scikit-learn 1.2's
 * SGDClassifier, SGDRegressor, Perceptron, PassiveAggressiveClassifier and
 * PassiveAggressiveRegressor, on one core (sklearn's _plain_sgd), on plain
 * row-major arrays.
 *
 * Rows are learned in data order. Learning is bitwise independent of how the rows
 * are cut into partial_fit calls: all of sklearn's per-call state (the weight scale,
 * the lazy averaged weights, the cumulative L1 accumulators u and q, the update
 * counter) lives in the object, so any chunking equals sklearn's single
 * partial_fit over all rows with shuffle=False — bit for bit. (sklearn's own
 * partial_fit restarts the L1 bookkeeping and the average's lazy form at every
 * call, so *its* chunked results depend on the chunking; ours do not.)
 *
 * Epochs: call sf_sgd_end_epoch() after each pass over the data; it applies
 * sklearn fit()'s stopping rule (tol, n_iter_no_change) and the adaptive rate's
 * eta / 5 per weight vector and says whether another pass is wanted, so passes
 * until it says no equal sklearn's fit(shuffle=False) on the same rows.
 *
 * Deviations from sklearn, all deliberate:
 * - max_iter defaults to 1 (one pass: partial_fit's semantics), not 1000;
 * - shuffle defaults to false (data order). shuffle=true permutes the rows in
 *   fixed blocks of shuffle_block rows counted from the start of each epoch
 *   (buffered in the model, so chunking still changes nothing), each block exactly
 *   as sklearn's partial_fit(shuffle=True, random_state=R) permutes a call of that
 *   many rows; it needs an integer random_state (SF_ERR_ARG at the first
 *   partial_fit otherwise) and dense rows;
 * - early_stopping holds out every holdout_period-th row of each epoch (as Vowpal
 *   Wabbit; sklearn draws a random validation_fraction instead), scores it with
 *   the model of that moment, stops a weight vector after n_iter_no_change epochs
 *   whose mean held-out loss did not improve by tol, and gives back its best
 *   epoch's state (sklearn keeps the last);
 * - negative sample weights are refused;
 * - averaged classifiers keep their SGD intercept correctly across calls
 *   (sklearn 1.2 loses it from the second partial_fit call on);
 * - passive-aggressive kinds accept sample weights (sklearn's do not): they scale
 *   the step as in SGD.
 * As in sklearn, a row of weight 0 still counts in t_ and still shrinks the
 * weights (L2) and advances the L1 penalty.
 *
 * Cost: each row costs its features (CSR: its stored values) per weight vector.
 * A dense call adds O(vectors x features) for its rollback copy and overflow
 * check; a CSR call only O(the columns its rows touch) (plus a vector's whole
 * arrays on a weight-scale fold), so wide sparse data learns at the cost of its
 * non-zeros in chunks of any size. coef_ is derived when first read after a change.
 * Unlike sklearn, an overflow also in the averaged weights or the L1 accumulators
 * is an error (sklearn carries an infinite q on silently).
 */
#ifndef SF_SGD_H
#define SF_SGD_H

#include <stdbool.h>
#include "sf_core.h"
#include "sf_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The five estimators. */
typedef enum sf_sgd_kind {
    SF_SGD_CLASSIFIER = 0,      /**< SGDClassifier */
    SF_SGD_REGRESSOR = 1,       /**< SGDRegressor */
    SF_SGD_PERCEPTRON = 2,      /**< Perceptron */
    SF_SGD_PA_CLASSIFIER = 3,   /**< PassiveAggressiveClassifier */
    SF_SGD_PA_REGRESSOR = 4     /**< PassiveAggressiveRegressor */
} sf_sgd_kind;

/** Losses, as sklearn names them (sf_sgd_loss_from_name). */
typedef enum sf_sgd_loss {
    SF_SGD_LOSS_HINGE = 0,
    SF_SGD_LOSS_LOG_LOSS,
    SF_SGD_LOSS_MODIFIED_HUBER,
    SF_SGD_LOSS_SQUARED_HINGE,
    SF_SGD_LOSS_PERCEPTRON,
    SF_SGD_LOSS_SQUARED_ERROR,
    SF_SGD_LOSS_HUBER,
    SF_SGD_LOSS_EPSILON_INSENSITIVE,
    SF_SGD_LOSS_SQUARED_EPSILON_INSENSITIVE
} sf_sgd_loss;

typedef enum sf_sgd_penalty {
    SF_SGD_PENALTY_NONE = 0,
    SF_SGD_PENALTY_L2,
    SF_SGD_PENALTY_L1,
    SF_SGD_PENALTY_ELASTICNET
} sf_sgd_penalty;

/** Learning-rate schedules; pa1 / pa2 are chosen by the passive-aggressive kinds. */
typedef enum sf_sgd_learning_rate {
    SF_SGD_LR_CONSTANT = 1,   /**< eta = eta0 */
    SF_SGD_LR_OPTIMAL,        /**< eta = 1 / (alpha (t0 + t - 1)), Bottou's t0 */
    SF_SGD_LR_INVSCALING,     /**< eta = eta0 / t^power_t */
    SF_SGD_LR_ADAPTIVE,       /**< eta0, divided by 5 when an epoch stops improving */
    SF_SGD_LR_PA1,            /**< passive-aggressive I: min(C, loss / |x|^2) */
    SF_SGD_LR_PA2             /**< passive-aggressive II: loss / (|x|^2 + 1 / 2C) */
} sf_sgd_learning_rate;

/** Parameters, with scikit-learn's names. sf_sgd_params_default() fills the
 *  defaults of one kind; fields a kind does not have are ignored by it. */
typedef struct sf_sgd_params {
    sf_sgd_kind kind;
    sf_sgd_loss loss;          /**< classifier: hinge; regressor: squared_error;
                                *   perceptron: perceptron (fixed); PA classifier:
                                *   hinge (PA-I) or squared_hinge (PA-II); PA
                                *   regressor: epsilon_insensitive (PA-I) or
                                *   squared_epsilon_insensitive (PA-II) */
    sf_sgd_penalty penalty;    /**< l2; perceptron: none; PA: none (fixed) */
    double alpha;              /**< 1e-4: regularisation strength */
    double l1_ratio;           /**< 0.15: elasticnet mixing, in [0, 1] */
    bool fit_intercept;        /**< true */
    uint32_t max_iter;         /**< epochs wanted by sf_sgd_end_epoch; default 1 (sklearn's fit: 1000) */
    double tol;                /**< 1e-3: stop when an epoch's loss > best - tol * n; NAN = None */
    uint32_t n_iter_no_change; /**< 5: epochs without improvement before stopping */
    bool shuffle;              /**< false (sklearn: true): see above */
    int64_t random_state;      /**< -1 = None (classifier, regressor, PA); perceptron 0 */
    uint64_t shuffle_block;    /**< 50000 (the CLI's chunk rows): rows permuted together */
    bool early_stopping;       /**< false: see above */
    uint32_t holdout_period;   /**< 10 (sklearn's validation_fraction 0.1): with
                                *   early_stopping, row i of an epoch (from 0) is held
                                *   out when i % holdout_period == holdout_period - 1 */
    double epsilon;            /**< 0.1: huber and epsilon-insensitive losses */
    sf_sgd_learning_rate learning_rate; /**< classifier: optimal; regressor: invscaling;
                                *   perceptron: constant; PA: set from loss */
    double eta0;               /**< classifier 0; regressor 0.01; perceptron, PA 1 */
    double power_t;            /**< classifier 0.5; regressor 0.25 */
    uint64_t average;          /**< 0 = off; 1 = average every step; k = start at sample k */
    double C;                  /**< 1.0: passive-aggressive step bound */
    uint8_t reserved[32];
} sf_sgd_params;

/** Fills p with scikit-learn's defaults for kind (with the deviations above). */
SF_API void sf_sgd_params_default(sf_sgd_params *p, sf_sgd_kind kind);

/** Checks p the way sklearn's parameter validation does; on error names the
 *  field in err->field_name ("loss", "eta0", ...). random_state must be -1 or in
 *  [0, 2^32). */
SF_API sf_status sf_sgd_params_check(const sf_sgd_params *p, sf_error *err);

/** Names <-> values ("log_loss", "elasticnet", "invscaling", "sgd_classifier");
 *  "log" is accepted for log_loss and "none" for no penalty. SF_ERR_ARG if unknown. */
SF_API sf_status sf_sgd_loss_from_name(const char *name, sf_sgd_loss *out);
SF_API sf_status sf_sgd_penalty_from_name(const char *name, sf_sgd_penalty *out);
SF_API sf_status sf_sgd_learning_rate_from_name(const char *name, sf_sgd_learning_rate *out);
SF_API const char *sf_sgd_loss_name(sf_sgd_loss loss);
SF_API const char *sf_sgd_penalty_name(sf_sgd_penalty penalty);
SF_API const char *sf_sgd_learning_rate_name(sf_sgd_learning_rate lr);
SF_API const char *sf_sgd_kind_name(sf_sgd_kind kind);

typedef struct sf_sgd sf_sgd;

/** Creates an unfitted model (p NULL: the classifier's defaults) after checking p.
 *  The feature count is fixed by the first partial_fit. Caller frees with
 *  sf_sgd_free(). */
SF_API sf_status sf_sgd_new(sf_sgd **out, const sf_sgd_params *p, sf_error *err);

/** Frees a model; NULL is a no-op. */
SF_API void sf_sgd_free(sf_sgd *s);

/** A deep copy of s (parameters, classes, class weights, learned state): a
 *  snapshot to keep, e.g. the best epoch. It does not inherit s's pool
 *  (sf_sgd_set_pool): it may outlive it. Caller frees it. */
SF_API sf_status sf_sgd_clone(const sf_sgd *s, sf_sgd **out, sf_error *err);

/** Lets the one-vs-all weight vectors of a multi-class model learn each chunk in
 *  parallel on pool's workers (borrowed: it must outlive its use; NULL: serial).
 *  The model is bitwise the same for any number of workers. partial_fit then
 *  calls sf_pool_run, so the pool must not be running other work at the time. */
SF_API void sf_sgd_set_pool(sf_sgd *s, sf_pool *pool);

/** True for the three classifier kinds. */
SF_API bool sf_sgd_is_classifier(const sf_sgd *s);

/** Classifiers: fixes the classes (distinct values, any order; kept sorted as
 *  sklearn's classes_). At least 2. Before the first partial_fit; setting the
 *  same classes again is allowed, different ones are SF_ERR_STATE (sklearn).
 *  Without this call the first partial_fit takes the distinct values of its y.
 *  Two classes learn one weight vector (positive class: the larger), more learn
 *  one per class, one-vs-all. */
SF_API sf_status sf_sgd_set_classes(sf_sgd *s, const double *classes, size_t n, sf_error *err);

/** Classifiers: class_weight as a dict {labels[i]: weights[i]} (other classes 1).
 *  Weights must be finite and >= 0; a label that is not a class is SF_ERR_ARG once
 *  the classes are known. n = 0 clears it. Applies to rows learned afterwards. */
SF_API sf_status sf_sgd_set_class_weight(sf_sgd *s, const double *labels, const double *weights,
                                         size_t n, sf_error *err);

/** Learns from n rows of the n x p matrix x (row stride ld >= p), in order
 *  (with shuffle: rows wait in the model until their block is complete, then the
 *  block is learned in its permuted order; see sf_sgd_flush).
 *  y: n targets (classifiers: class values); w: n sample weights (finite, >= 0)
 *  or NULL. NaN or infinity in x, y or w, a label that is not a class, or p
 *  different from earlier calls is an error; so is an overflow of the weights
 *  (SF_ERR_NUMERIC, as sklearn's "Floating-point under-/overflow"). On any error
 *  s is unchanged. n = 0 is a no-op. */
SF_API sf_status sf_sgd_partial_fit(sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                                    const double *y, const double *w, sf_error *err);

/** With shuffle: learns the rows buffered towards an incomplete block now (as
 *  a last, shorter block). sf_sgd_end_epoch does it first; call it yourself at the
 *  end of data when not counting epochs. A no-op without buffered rows. */
SF_API sf_status sf_sgd_flush(sf_sgd *s, sf_error *err);

/** sf_sgd_partial_fit on n rows in CSR form (not with shuffle): row i holds the values
 *  data[indptr[i] .. indptr[i+1]) in the columns indices[...] (< p), learned in
 *  stored order at the cost of the stored entries, as sklearn's partial_fit on a
 *  scipy.sparse CSR matrix — including its smaller intercept step (intercept_decay
 *  0.01 instead of 1), so a model fed CSR rows differs from one fed the same rows
 *  dense, exactly as in sklearn. indptr has n + 1 entries and need not start at 0.
 *  Same errors and guarantees as sf_sgd_partial_fit. */
SF_API sf_status sf_sgd_partial_fit_csr(sf_sgd *s, const double *data, const uint32_t *indices,
                                        const size_t *indptr, size_t n, size_t p, const double *y,
                                        const double *w, sf_error *err);

/** Ends an epoch (a pass over all the data): per weight vector, sklearn fit()'s
 *  rule on the epoch's summed loss — no improvement when loss > best - tol * rows;
 *  after n_iter_no_change such epochs the adaptive rate divides eta by 5 (while
 *  eta > 1e-6), other rates stop that vector. *again is true while some vector
 *  goes on and fewer than max_iter epochs were made. SF_ERR_STATE before any data. */
SF_API sf_status sf_sgd_end_epoch(sf_sgd *s, bool *again, sf_error *err);

/** Losses of the epoch under way, for progress reports (progressive
 *  validation): the training loss of each row measured before learning it
 *  (sklearn's sumloss, summed over one-vs-all vectors) and the rows seen; with
 *  early_stopping, the held-out rows' loss (summed over vectors) and weight.
 *  Training losses are summed only while they are needed (epochs with tol,
 *  early_stopping) or asked for with sf_sgd_track_loss. */
typedef struct sf_sgd_progress {
    double train_loss, rows, holdout_loss, holdout_weight;
} sf_sgd_progress;
SF_API sf_sgd_progress sf_sgd_get_progress(const sf_sgd *s);

/** Sums training losses from now on even when no rule needs them. */
SF_API void sf_sgd_track_loss(sf_sgd *s, bool on);

/** Clears the epoch bookkeeping (epochs made, best loss, stopped vectors) so a
 *  later fit starts its epochs afresh; the learned state, t_ and eta stay. */
SF_API void sf_sgd_reset_epochs(sf_sgd *s);

/** Number of columns of decision_function / predict_proba: 1 for regressors and
 *  binary classifiers' decision, else the number of classes (proba: always the
 *  number of classes). 0 before the classes are known. */
SF_API size_t sf_sgd_n_decision(const sf_sgd *s);

/** out[i*out_ld + k] = x_i . coef_[k] + intercept_[k] for each of the
 *  sf_sgd_n_decision() columns. SF_ERR_STATE before any fit; SF_ERR_SHAPE on a
 *  feature-count mismatch. Thread-safe against other const calls. */
SF_API sf_status sf_sgd_decision_function(const sf_sgd *s, const double *x, size_t n, size_t p,
                                          size_t ld, double *out, size_t out_ld, sf_error *err);

/** out[i*out_ld]: the class (sklearn: classes_[score > 0] for two classes, the
 *  first argmax for more) or the regression value. */
SF_API sf_status sf_sgd_predict(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                                double *out, size_t out_ld, sf_error *err);

/** Class probabilities, n x n_classes (sklearn's predict_proba): log_loss gives
 *  expit(decision), normalised over classes when more than two; modified_huber
 *  gives (clip(decision, -1, 1) + 1) / 2, likewise (all-zero rows: uniform).
 *  SF_ERR_UNSUPPORTED for other losses and kinds. */
SF_API sf_status sf_sgd_predict_proba(const sf_sgd *s, const double *x, size_t n, size_t p,
                                      size_t ld, double *out, size_t out_ld, sf_error *err);

/** decision_function, predict and predict_proba on n CSR rows (layout as in
 *  sf_sgd_partial_fit_csr; indices < p; p must be the model's n_features):
 *  sklearn's results on a scipy.sparse CSR matrix, whose safe_sparse_dot sums
 *  each row's stored entries in stored order. Same errors as the dense calls,
 *  plus the CSR checks of sf_sgd_partial_fit_csr. Thread-safe like them. */
SF_API sf_status sf_sgd_decision_function_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                              const size_t *indptr, size_t n, size_t p, double *out,
                                              size_t out_ld, sf_error *err);
SF_API sf_status sf_sgd_predict_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                    const size_t *indptr, size_t n, size_t p, double *out, size_t out_ld,
                                    sf_error *err);
SF_API sf_status sf_sgd_predict_proba_csr(const sf_sgd *s, const double *data, const uint32_t *indices,
                                          const size_t *indptr, size_t n, size_t p, double *out,
                                          size_t out_ld, sf_error *err);

/** sklearn's score() on these rows: accuracy for classifiers, R² for regressors
 *  (weighted when w is given). n must be > 0. */
SF_API sf_status sf_sgd_score(const sf_sgd *s, const double *x, size_t n, size_t p, size_t ld,
                              const double *y, const double *w, double *score, sf_error *err);

/** Number of features (0 before the first partial_fit or set_state). */
SF_API size_t sf_sgd_n_features(const sf_sgd *s);
/** Number of classes (0 for regressors and before they are known). */
SF_API size_t sf_sgd_n_classes(const sf_sgd *s);
/** The sorted classes_ (borrowed; NULL when not known). */
SF_API const double *sf_sgd_classes(const sf_sgd *s);
/** Rows of coef_: 1 for regressors and binary classifiers, else n_classes. */
SF_API size_t sf_sgd_n_coef_rows(const sf_sgd *s);
/** coef_ (rows x n_features) and intercept_ (rows) as sklearn reports them after
 *  the same rows: the averaged ones once averaging has started, else the SGD ones.
 *  Borrowed; valid until the next call that changes s. NULL before any data. */
SF_API const double *sf_sgd_coef(const sf_sgd *s);
SF_API const double *sf_sgd_intercept(const sf_sgd *s);
/** t_: 1 + the number of rows learned (every epoch counts its rows). */
SF_API double sf_sgd_t(const sf_sgd *s);
/** Epochs ended by sf_sgd_end_epoch (sklearn's n_iter_ after fit). */
SF_API unsigned sf_sgd_n_iter(const sf_sgd *s);
/** The parameters s was made with. */
SF_API sf_sgd_params sf_sgd_get_params(const sf_sgd *s);

/** Per-weight-vector scalars of the learning state (indices into sf_sgd_state.vec). */
enum {
    SF_SGD_V_WSCALE = 0,       /**< the weight scale: coef = w * wscale */
    SF_SGD_V_INTERCEPT,        /**< the SGD intercept */
    SF_SGD_V_T,                /**< this vector's update counter (sklearn's local t) */
    SF_SGD_V_ETA,              /**< constant / adaptive rate now */
    SF_SGD_V_AVERAGE_A,        /**< lazy average: avg = (aw + a * w) / b */
    SF_SGD_V_AVERAGE_B,
    SF_SGD_V_AVERAGE_INTERCEPT,
    SF_SGD_V_U,                /**< cumulative L1 penalty so far */
    SF_SGD_V_SUMLOSS,          /**< this epoch's summed loss so far */
    SF_SGD_V_BEST_LOSS,        /**< best epoch loss (+inf: none yet) */
    SF_SGD_V_NO_IMPROVEMENT,   /**< epochs without improvement */
    SF_SGD_V_STOPPED,          /**< 1 when the stopping rule ended this vector */
    SF_SGD_V_HOLDOUT_LOSS,     /**< early_stopping: this epoch's held-out loss so far */
    SF_SGD_V_COUNT
};

/** The resumable learning state. Arrays are row-major, one row per weight vector.
 *  From sf_sgd_get_state() they are borrowed (valid until s changes). */
typedef struct sf_sgd_state {
    size_t n_features;
    size_t n_vectors;          /**< sf_sgd_n_coef_rows() */
    double t_;
    double n_iter;             /**< epochs ended */
    double epoch_rows;         /**< rows seen in the epoch under way */
    double optimal_init;       /**< t0 of the optimal rate: 1 / (eta_1 alpha) */
    const double *w;           /**< n_vectors x n_features, unscaled */
    const double *average_w;   /**< the same shape, or NULL when average == 0 */
    const double *q;           /**< the same shape (L1 applied so far), or NULL without L1 */
    const double *vec;         /**< n_vectors x SF_SGD_V_COUNT */
    double holdout_weight;     /**< early_stopping: held-out rows' weight this epoch */
    const double *best_w;      /**< early_stopping: the best epoch's w, average_w, q */
    const double *best_average_w;
    const double *best_q;
    const double *best_vec;    /**< and its scalars (n_vectors x SF_SGD_V_COUNT) */
    size_t n_buffered;         /**< shuffle: rows waiting for their block (< shuffle_block) */
    const double *buffer_x;    /**< n_buffered x n_features, or NULL */
    const double *buffer_y;    /**< n_buffered targets, or NULL */
    const double *buffer_w;    /**< n_buffered weights (1 when none were given), or NULL */
} sf_sgd_state;

/** Describes s's state with borrowed pointers. SF_ERR_STATE before any data. */
SF_API sf_status sf_sgd_get_state(const sf_sgd *s, sf_sgd_state *out, sf_error *err);

/** Restores a state from sf_sgd_get_state() (copied): continuing from it is
 *  bitwise the same as continuing the original. Classifiers need their classes set
 *  first (n_vectors must match). Arrays are checked (finite weights, wscale > 0,
 *  average_b > 0, ...): SF_ERR_ARG names the bad part; s is unchanged on error. */
SF_API sf_status sf_sgd_set_state(sf_sgd *s, const sf_sgd_state *st, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
