/* sf_kmeans.h — mini-batch k-means: scikit-learn 1.2's MiniBatchKMeans.partial_fit,
 * batch by batch, on plain row-major arrays, plus exact Lloyd refinement passes.
 *
 * Each sf_kmeans_partial_fit is one sklearn partial_fit step on that batch: the
 * first call initialises the centers on it (greedy k-means++, random rows, or the
 * given centers) with numpy's RandomState(random_state) draws, then every call
 * assigns the rows to the nearest center (argmin of ||c||² - 2x·c), moves each
 * center to the weighted mean of everything it has absorbed (learning rate
 * 1 / accumulated weight) and, on sklearn's schedule, reassigns centers whose
 * weight fell below reassignment_ratio × the largest to random rows of the batch.
 *
 * Refinement: sf_kmeans_lloyd accumulates, over any number of blocks, the
 * per-center weighted sums for one exact Lloyd iteration against the current
 * centers; partial accumulators (one per segment) merge, so one iteration is one
 * parallel pass over data of any size. sf_kmeans_lloyd_apply moves the centers.
 */
#ifndef SF_KMEANS_H
#define SF_KMEANS_H

#include <stdbool.h>
#include "sf_core.h"
#include "sf_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How the first batch chooses the initial centers. */
typedef enum sf_kmeans_init {
    SF_KMEANS_INIT_KMEANSPP = 0, /**< greedy k-means++, 2 + int(ln k) local trials */
    SF_KMEANS_INIT_RANDOM = 1,   /**< rows permutation(n)[:k] of the first batch */
    SF_KMEANS_INIT_ARRAY = 2     /**< init_centers as given */
} sf_kmeans_init;

/** Parameters, as scikit-learn names them. */
typedef struct sf_kmeans_params {
    size_t n_clusters;          /**< k >= 1; default 8 */
    sf_kmeans_init init;        /**< default k-means++ */
    const double *init_centers; /**< SF_KMEANS_INIT_ARRAY: k x init_n_features, row-major;
                                     copied by sf_kmeans_new */
    size_t init_n_features;     /**< columns of init_centers */
    size_t batch_size;          /**< default 1024; the first batch freezes
                                     min(batch_size, its rows) as sklearn's _batch_size */
    size_t init_size;           /**< rows sampled for initialisation; 0 = sklearn's None
                                     (3 × _batch_size, at least 3k) */
    double reassignment_ratio;  /**< in [0, 1] (sklearn takes more, then fails on an empty
                                     min); default 0.01; 0 disables reassignment */
    int64_t random_state;       /**< seed in [0, 2^32); -1 = none (seeded from the clock,
                                     not reproducible, as sklearn's None); default -1 */
    bool compute_labels;        /**< inertia_ of each batch after its step; default true */
    uint8_t reserved[32];
} sf_kmeans_params;

/** Fills p with scikit-learn's defaults. */
SF_API void sf_kmeans_params_default(sf_kmeans_params *p);

/** SF_OK, or SF_ERR_ARG naming the bad field (err->field_name). */
SF_API sf_status sf_kmeans_params_check(const sf_kmeans_params *p, sf_error *err);

typedef struct sf_kmeans sf_kmeans;

/** Creates an unfitted model (p may be NULL: defaults); copies init_centers.
 *  The feature count is fixed by the first partial_fit. Caller frees with
 *  sf_kmeans_free(). */
SF_API sf_status sf_kmeans_new(sf_kmeans **out, const sf_kmeans_params *p, sf_error *err);

/** Frees a model; NULL is a no-op. */
SF_API void sf_kmeans_free(sf_kmeans *km);

/** A deep copy (parameters, centers, counts, random state). Caller frees it. */
SF_API sf_status sf_kmeans_copy(const sf_kmeans *km, sf_kmeans **out, sf_error *err);

/** One partial_fit step on the n x p batch x (row stride ld >= p); w: n sample
 *  weights (finite, >= 0) or NULL. The first call initialises on this batch and
 *  needs n >= n_clusters. Non-finite x, a changed p (SF_ERR_SHAPE), bad weights:
 *  an error and km unchanged. n = 0 is a no-op. */
SF_API sf_status sf_kmeans_partial_fit(sf_kmeans *km, const double *x, size_t n, size_t p,
                                       size_t ld, const double *w, sf_error *err);

/** Lets sf_kmeans_partial_fit compute its distances on pool's workers (borrowed;
 *  NULL = the calling thread only, the default). The centers are updated in row
 *  order on the caller's thread, so every result is bitwise the same for any pool
 *  size. The pool must run nothing else during partial_fit; a copy does not
 *  inherit it (it may outlive the pool). */
SF_API void sf_kmeans_set_pool(sf_kmeans *km, sf_pool *pool);

/** labels[i] = the nearest center of row i (first on ties). Thread-safe on a
 *  model no one is changing. SF_ERR_STATE before fitting. */
SF_API sf_status sf_kmeans_predict(const sf_kmeans *km, const double *x, size_t n, size_t p,
                                   size_t ld, size_t *labels, sf_error *err);

/** out (n x k, row stride out_ld >= k) = Euclidean distances to every center,
 *  as sklearn's transform (sqrt(max(||x||² - 2x·c + ||c||², 0))). Thread-safe. */
SF_API sf_status sf_kmeans_transform(const sf_kmeans *km, const double *x, size_t n, size_t p,
                                     size_t ld, double *out, size_t out_ld, sf_error *err);

/** *inertia = Σ w_i ||x_i - c(x_i)||² over the rows (w NULL: all 1); sklearn's
 *  score is its negative. Sums in row order. Thread-safe. */
SF_API sf_status sf_kmeans_inertia_of(const sf_kmeans *km, const double *x, size_t n, size_t p,
                                      size_t ld, const double *w, double *inertia, sf_error *err);

/** Attributes. Borrowed arrays are valid until the next call that changes km;
 *  NULL / 0 before fitting. */
SF_API size_t sf_kmeans_n_features(const sf_kmeans *km);
SF_API size_t sf_kmeans_n_clusters(const sf_kmeans *km);
SF_API const double *sf_kmeans_cluster_centers(const sf_kmeans *km); /**< k x p, row-major */
SF_API const double *sf_kmeans_counts(const sf_kmeans *km);          /**< sklearn's _counts */
SF_API uint64_t sf_kmeans_n_steps(const sf_kmeans *km);
/** inertia_: of the last batch after its step (sklearn), or of the whole data
 *  after sf_kmeans_lloyd_apply (as KMeans). NaN before any. */
SF_API double sf_kmeans_inertia(const sf_kmeans *km);
/** The parameters (init_centers points at the model's copy). */
SF_API sf_kmeans_params sf_kmeans_get_params(const sf_kmeans *km);

/** The resumable state besides centers and counts. */
typedef struct sf_kmeans_state {
    uint64_t n_steps;
    uint64_t n_since_last_reassign; /**< sklearn's _n_since_last_reassign */
    uint64_t batch_size;            /**< sklearn's _batch_size */
    uint64_t init_size;             /**< sklearn's _init_size */
    double inertia;
    uint32_t rng_key[624];          /**< numpy RandomState: MT19937 key and position */
    uint32_t rng_pos;
    uint8_t reserved[28];
} sf_kmeans_state;

/** Copies the state into caller arrays: centers (k x p), counts (k) and *s.
 *  SF_ERR_STATE before fitting. */
SF_API sf_status sf_kmeans_get_state(const sf_kmeans *km, double *centers, double *counts,
                                     sf_kmeans_state *s, sf_error *err);

/** Restores a state from sf_kmeans_get_state() for p features: continuing from
 *  it is bitwise the same as continuing the original. SF_ERR_ARG on non-finite
 *  centers, negative counts or a bad random state; km unchanged on error. */
SF_API sf_status sf_kmeans_set_state(sf_kmeans *km, size_t p, const double *centers,
                                     const double *counts, const sf_kmeans_state *s,
                                     sf_error *err);

/* ---- exact Lloyd refinement ---- */

typedef struct sf_kmeans_lloyd sf_kmeans_lloyd;

/** An empty accumulator for one Lloyd iteration of the fitted km (its k and p).
 *  Caller frees with sf_kmeans_lloyd_free(). */
SF_API sf_status sf_kmeans_lloyd_new(sf_kmeans_lloyd **out, const sf_kmeans *km, sf_error *err);
SF_API void sf_kmeans_lloyd_free(sf_kmeans_lloyd *acc);
/** Empties acc. */
SF_API void sf_kmeans_lloyd_reset(sf_kmeans_lloyd *acc);

/** Adds n rows: each to its nearest current center of km (which must not change
 *  during the pass): Σw, Σw(x - c) per center, and Σw||x - c||². Reads km only,
 *  so workers may share it. acc unchanged on error. */
SF_API sf_status sf_kmeans_lloyd_accumulate(sf_kmeans_lloyd *acc, const sf_kmeans *km,
                                            const double *x, size_t n, size_t p, size_t ld,
                                            const double *w, sf_error *err);

/** dst ⊕= src (same k and p): merging the segments' accumulators in segment
 *  order gives the same result for any number of threads. */
SF_API sf_status sf_kmeans_lloyd_merge(sf_kmeans_lloyd *dst, const sf_kmeans_lloyd *src,
                                       sf_error *err);

/** The inertia of km's current centers over the accumulated rows. */
SF_API double sf_kmeans_lloyd_inertia(const sf_kmeans_lloyd *acc);

/** Moves every center that received weight to the weighted mean of its rows; a
 *  center that received none is relocated as sklearn's Lloyd does it: the i-th
 *  empty center (by index) becomes the i-th farthest row from its center, which
 *  leaves its old cluster (when several are empty, sklearn's argpartition order
 *  may pair them differently). A move within rounding noise (16 eps of the
 *  residuals' and the center's scale) is not made, so with the same labels as
 *  the pass before nothing moves: *moved (may be NULL) false is sklearn's strict
 *  convergence. Sets inertia_ to the inertia of the centers used for the pass.
 *  Counts become the pass's per-center weights. */
SF_API sf_status sf_kmeans_lloyd_apply(sf_kmeans *km, const sf_kmeans_lloyd *acc, bool *moved,
                                       sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
