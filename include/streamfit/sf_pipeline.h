/* sf_pipeline.h — a pipeline of stages fitted pass by pass over a source.
 *
 * A pipeline is written as a spec, stages separated by '|', scikit-learn style
 * parameters in parentheses: "scaler(with_mean=false) | …". Values: true/false
 * (True/False), numbers, bare or quoted strings, lists [...], null/None.
 *
 * Fitting runs one pass over the source for each stage, each stage fed by the
 * already-fitted stages before it (scikit-learn's Pipeline semantics). A stage
 * whose partial states merge (the scaler) is fitted per segment on all threads and
 * the states are merged in segment order, so the fitted pipeline is bitwise the
 * same for any number of threads.
 *
 * A fitted pipeline is immutable: any number of threads may call
 * sf_pipeline_transform on it at once.
 */
#ifndef SF_PIPELINE_H
#define SF_PIPELINE_H

#include "sf_design.h"
#include "sf_sink.h"
#include "sf_source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_pipeline sf_pipeline;

/** Parses spec into an unfitted pipeline. A bad spec fails with SF_ERR_ARG and
 *  err->where.source = "<pipeline>", err->where.column = the 1-based byte column
 *  of the offending token (print the spec and a caret under it). Caller frees
 *  with sf_pipeline_free(). */
SF_API sf_status sf_pipeline_new(sf_pipeline **out, const char *spec, sf_error *err);

/** Frees a pipeline; NULL is a no-op. */
SF_API void sf_pipeline_free(sf_pipeline *pl);

/** Where a fit stands, for a progress display. */
typedef struct sf_progress {
    size_t stage, n_stages;     /**< the stage learning (0-based) and how many */
    const char *kind;           /**< its kind ("standard_scaler"); NULL for a pass that
                                     only discovers classes */
    unsigned pass;              /**< the stage's pass (0-based: epochs, refinements) */
    uint64_t rows;              /**< rows read so far in this pass */
    uint64_t bytes, total_bytes;/**< source bytes so far and in all (0 = unknown) */
    bool done;                  /**< the pass has ended */
} sf_progress;

/** Called from the fit's worker threads, one call at a time, at most about every
 *  200 ms and once at the end of each pass; it must not call back into the
 *  pipeline. */
typedef void (*sf_progress_fn)(void *ctx, const sf_progress *p);

/** Progressive validation (as Vowpal Wabbit reports it): after each block an
 *  in-order learner (the SGD family) learned, the loss of the block's rows, each
 *  measured with the model as it stood before learning that row. Losses are
 *  the kind's own (log_loss, hinge, squared_error, …; one-vs-all: summed over
 *  the classes' binary problems) and unweighted, as sklearn's sumloss. */
typedef struct sf_loss_report {
    size_t stage;               /**< the stage learning (0-based) */
    const char *kind;           /**< its kind ("sgd_classifier") */
    unsigned pass;              /**< the epoch (0-based) */
    uint64_t rows;              /**< rows of this pass so far (learned and held out) */
    uint64_t block_rows;        /**< rows of the block just learned (0 in the end-of-pass report) */
    double block_loss;          /**< mean training loss of the block's learned rows (NaN: none) */
    double pass_loss;           /**< mean training loss over the pass so far */
    double holdout_loss;        /**< mean loss of the held-out rows so far (early_stopping;
                                     every holdout_period-th row), NaN when none */
    bool done;                  /**< the pass has ended: pass_loss and holdout_loss are
                                     the epoch's (early stopping judges holdout_loss) */
} sf_loss_report;

/** Called from the learning thread after each block and once at the end of each
 *  pass of an in-order learner; it must not call back into the pipeline. With
 *  shuffle=true rows wait for their shuffle block, so losses lag the blocks. */
typedef void (*sf_loss_fn)(void *ctx, const sf_loss_report *r);

/** How to fit. Initialise with sf_fit_options_init(). */
typedef struct sf_fit_options {
    size_t threads;             /**< workers; 0 = all CPUs */
    const char *target;         /**< target column, or NULL (transformers only) */
    const char *columns;        /**< comma-separated feature columns; NULL = every
                                     numeric column but the target and weight */
    const char *weight;         /**< sample-weight column, or NULL */
    const char *formula;        /**< a patsy formula "y ~ a + C(b)" (sf_design.h):
                                     its design builds the features and the target
                                     (target and columns must then be NULL); NULL =
                                     columns as they are */
    const char *defines;        /**< names the formula uses, one "NAME=VALUE" a line
                                     ("lnames=np.arange(5)"; sf_design_define), or NULL */
    unsigned epochs;            /**< max_iter of the stages that have one and whose
                                     spec does not set it; 0 = the stage's default */
    const char *cache;          /**< HDF5 file that keeps the first pass's rows for
                                     the later passes and epochs (no re-parsing);
                                     NULL = none, except that standard input with
                                     a pipeline that may need a second pass gets a
                                     temporary one (deleted after the fit) */
    sf_progress_fn progress;    /**< progress callback, or NULL */
    void *progress_ctx;         /**< passed to progress */
    bool has_seed;              /**< seed below is the random_state of the stages
                                     that have one and whose spec does not set it */
    uint64_t seed;
    sf_loss_fn loss;            /**< progressive-validation callback, or NULL */
    void *loss_ctx;             /**< passed to loss */
    const sf_design_params *design; /**< the formula's NA and unknown-level rules
                                     (saved with the model; predict follows them);
                                     NULL = defaults (drop, error) */
    const char *init;           /**< init of the stages that have one and whose spec
                                     does not set it: a file of initial centers
                                     ("c.csv", "c.h5:/C"; k-means), or NULL */
    uint8_t reserved[16];
} sf_fit_options;

/** Fills o with the defaults. */
SF_API void sf_fit_options_init(sf_fit_options *o);

/** Fits every stage on src (rewound as needed; it must be rewindable, and
 *  splittable for parallel passes). Rows with a missing feature, target or weight
 *  are dropped and counted (sf_pipeline_rows_dropped). On error the pipeline is
 *  left unfitted. */
SF_API sf_status sf_pipeline_fit(sf_pipeline *pl, sf_source *src, const sf_fit_options *opt,
                                 sf_error *err);

/** True once fitted (or loaded). */
SF_API bool sf_pipeline_is_fitted(const sf_pipeline *pl);

/** Number of stages, and the canonical kind of stage i ("standard_scaler");
 *  borrowed, valid until the pipeline is freed. */
SF_API size_t sf_pipeline_n_stages(const sf_pipeline *pl);
SF_API const char *sf_pipeline_stage_kind(const sf_pipeline *pl, size_t i);

/** The feature columns the first stage sees (after fitting: with a formula, the
 *  design's column names), and the target name ("" if none); borrowed, valid
 *  until the pipeline is freed. A model fitted on sparse (svmlight) data has
 *  n_features CSR columns without names: feature_name is NULL for them. */
SF_API size_t sf_pipeline_n_features(const sf_pipeline *pl);
SF_API const char *sf_pipeline_feature_name(const sf_pipeline *pl, size_t i);
SF_API const char *sf_pipeline_target(const sf_pipeline *pl);

/** Continues every stage of a fitted (or loaded) pipeline on the rows of src, in
 *  order, each stage learning on the new rows as transformed by the already-updated
 *  stages before it (DESIGN.md Decision 1): fitting on A, saving, loading and
 *  updating on B gives the model one fit over A then B gives (bitwise for learners
 *  that learn in order, to rounding for merged statistics). The features and target
 *  are the fitted ones, looked up by name in src; opt gives threads and weight (its
 *  columns, target, epochs and seed are ignored). On error the pipeline is left
 *  unfitted (part-way updated): keep the file it came from. */
SF_API sf_status sf_pipeline_update(sf_pipeline *pl, sf_source *src, const sf_fit_options *opt,
                                    sf_error *err);

/** The formula's design of a fitted pipeline, or NULL; borrowed (read only). */
SF_API const sf_design *sf_pipeline_design(const sf_pipeline *pl);

/** The spec the pipeline was made from; borrowed. */
SF_API const char *sf_pipeline_spec(const sf_pipeline *pl);

/** A classifier pipeline's classes, sorted (0 and NULL otherwise); borrowed. With a
 *  categorical target the values are 0..n-1 and sf_pipeline_class_label(pl, i)
 *  gives the label of class i (NULL for a numeric target). */
SF_API size_t sf_pipeline_n_classes(const sf_pipeline *pl);
SF_API const double *sf_pipeline_classes(const sf_pipeline *pl);
SF_API const char *sf_pipeline_class_label(const sf_pipeline *pl, size_t i);

/** Rows seen and rows dropped for missing values by the last fit (plus updates). */
SF_API uint64_t sf_pipeline_rows_seen(const sf_pipeline *pl);
SF_API uint64_t sf_pipeline_rows_dropped(const sf_pipeline *pl);

/** What a pipeline gives for a row: the last stage's transform (transformers) or
 *  prediction (estimators: the class value, the regression value, the cluster), or
 *  one of the other outputs its last stage offers. */
typedef enum sf_output {
    SF_OUTPUT_PREDICT = 0,  /**< transform or predict */
    SF_OUTPUT_PROBA = 1,    /**< classifiers: predict_proba, one column per class */
    SF_OUTPUT_DECISION = 2, /**< decision_function: 1 column (binary) or one per class */
    SF_OUTPUT_TRANSFORM = 3,/**< estimators with a transform (k-means: distances) */
    SF_OUTPUT_INTERVAL = 4  /**< regression: prediction, standard error, lower, upper */
} sf_output;

/** Number of output columns of the whole pipeline for SF_OUTPUT_PREDICT. */
SF_API size_t sf_pipeline_n_outputs(const sf_pipeline *pl);

/** Number of output columns for what; 0 if the last stage does not offer it (or
 *  the pipeline is not fitted). */
SF_API size_t sf_pipeline_n_outputs_as(const sf_pipeline *pl, sf_output what);

/** Runs n rows (n x n_features, row stride ld) through the fitted stages and writes
 *  the last stage's output `what` into out (n x sf_pipeline_n_outputs_as, stride
 *  out_ld). Thread-safe on a fitted pipeline. SF_ERR_STATE if not fitted,
 *  SF_ERR_SHAPE on a wrong width or stride, SF_ERR_UNSUPPORTED if the last stage
 *  does not offer what. */
SF_API sf_status sf_pipeline_predict_as(const sf_pipeline *pl, sf_output what, const double *x,
                                        size_t n, size_t p, size_t ld, double *out, size_t out_ld,
                                        sf_error *err);

/** sf_pipeline_predict_as(pl, SF_OUTPUT_PREDICT, …). */
SF_API sf_status sf_pipeline_transform(const sf_pipeline *pl, const double *x, size_t n,
                                       size_t p, size_t ld, double *out, size_t out_ld,
                                       sf_error *err);

/** How to predict a source. Initialise with sf_predict_options_init(). */
typedef struct sf_predict_options {
    size_t threads;             /**< workers; 0 = all CPUs */
    sf_output what;             /**< which output; default SF_OUTPUT_PREDICT */
    uint8_t reserved[32];
} sf_predict_options;

/** Fills o with the defaults. */
SF_API void sf_predict_options_init(sf_predict_options *o);

/** What a prediction run saw. */
typedef struct sf_predict_stats {
    uint64_t rows;              /**< input rows */
    uint64_t unpredictable;     /**< rows with a missing feature: empty output fields */
    uint64_t malformed;         /**< malformed rows the source skipped (SF_ON_ERROR_SKIP):
                                     empty output fields too, not in unpredictable */
} sf_predict_stats;

/** The column types a fitted pipeline needs, as an sf_source_options.types
 *  string: "?a=float,?b=float" for its feature columns (every entry optional, so
 *  a missing column is reported by predict, naming it), and with with_target the
 *  target's ("?y=float", or "?y=category" for class labels). Opening the data with
 *  them enforced (not inferred) makes a non-number in a feature column a malformed
 *  row, not a categorical column. A formula pipeline gives the columns its design
 *  was bound to ("?cat1=category,?a=int,…"; without with_target, not a column
 *  only its response names); a sparse (svmlight) pipeline gives "". *out is
 *  malloc'd; the caller frees it. SF_ERR_STATE if not fitted. */
SF_API sf_status sf_pipeline_input_types(const sf_pipeline *pl, bool with_target, char **out,
                                         sf_error *err);

/** Predicts every row of src (its columns found by the fitted feature names) and
 *  writes one output row per input row to sink, in input order, as a table:
 *  columns named for the output (the target or "prediction"; proba_<class>;
 *  decision or decision_<class>; distance_<j>; prediction, se, lower, upper), a
 *  category column of labels for a classifier with a categorical target. A
 *  splittable source is predicted on opt->threads workers; a source read once
 *  (standard input) chunk by chunk, the sink flushed after each chunk. The sink
 *  stays open (the caller closes or aborts it). stats may be NULL.
 *  Malformed rows: a source opened with SF_ON_ERROR_SKIP gives them empty output
 *  fields (stats->malformed); with SF_ON_ERROR_STOP the first one fails the run
 *  after every row before it was written to the sink (and flushed, for a source
 *  read once), so closing the sink keeps them. */
SF_API sf_status sf_pipeline_predict(const sf_pipeline *pl, sf_source *src, sf_sink *sink,
                                     const sf_predict_options *opt, sf_predict_stats *stats,
                                     sf_error *err);

/** How well a fitted estimator pipeline does on labelled data (Decision 14).
 *  Fields that do not apply are NaN. */
typedef struct sf_score {
    uint64_t n;                 /**< rows scored */
    uint64_t dropped;           /**< rows with a missing feature or target */
    uint64_t malformed;         /**< malformed rows the source skipped (not in dropped) */
    double score;               /**< scikit-learn's score(): accuracy, R², -inertia */
    double accuracy;            /**< classifiers */
    double log_loss;            /**< classifiers with predict_proba (log_loss, eps-clipped) */
    double r2, mse;             /**< regressors (r2_score, mean_squared_error) */
    double inertia;             /**< k-means: sum of squared distances to the nearest center */
} sf_score;

/** Scores pl on every row of src (features and target found by the fitted
 *  names; the target is not needed for k-means) in one parallel pass; the result
 *  is the same for any threads. SF_ERR_UNSUPPORTED if the last stage is not an
 *  estimator; SF_ERR_ARG if a column is missing. */
SF_API sf_status sf_pipeline_score(const sf_pipeline *pl, sf_source *src, size_t threads, sf_score *out,
                                   sf_error *err);

/** sf_design_define for every "NAME=VALUE" line of defines (NULL: none); a line
 *  without '=' is SF_ERR_ARG. */
SF_API sf_status sf_design_define_lines(sf_design *d, const char *defines, sf_error *err);

/** Fits a bound design (sf_design_bind) on every row of src when it needs it
 *  (levels, transform statistics: per segment on `threads` workers, merged in
 *  segment order), then finishes it. SF_ERR_UNSUPPORTED for a source read once
 *  (standard input) when a pass is needed. */
SF_API sf_status sf_design_fit_source(sf_design *d, sf_source *src, size_t threads, sf_error *err);

/** Seed 000's job: writes the design matrix of every row of src to sink as the
 *  2-D dataset "X" (its "columns" attribute: the design's column names) and, when
 *  the formula has a response, the 1-D dataset "y"; in input order, built on
 *  `threads` workers, rows with a missing factor dropped and counted in *dropped.
 *  d must be finished. The sink stays open. rows_out/dropped may be NULL. */
SF_API sf_status sf_design_convert(const sf_design *d, sf_source *src, sf_sink *sink, size_t threads,
                                   uint64_t *rows_out, uint64_t *dropped, sf_error *err);

/** Saves a fitted pipeline as an HDF5 model file: written to a temporary file and
 *  renamed over path only when complete (an existing file survives any failure).
 *  SF_ERR_STATE if not fitted, SF_ERR_IO if the file cannot be written or path is
 *  not a regular file (a device, pipe or directory is never replaced). */
SF_API sf_status sf_pipeline_save(const sf_pipeline *pl, const char *path, sf_error *err);

/** Loads a model file written by sf_pipeline_save. A missing file is SF_ERR_IO; a
 *  foreign, corrupt or truncated file SF_ERR_PARSE; a newer format version or an
 *  unknown stage kind SF_ERR_UNSUPPORTED. Caller frees with sf_pipeline_free(). */
SF_API sf_status sf_pipeline_load(sf_pipeline **out, const char *path, sf_error *err);

/** A readable report of the last stage (linear_regression: the regression table
 *  as statsmodels' summary() lays it out, with the feature or formula column
 *  names), NUL-terminated, in *out; caller frees it with free().
 *  SF_ERR_UNSUPPORTED when the last stage has none. */
SF_API sf_status sf_pipeline_summary(const sf_pipeline *pl, char **out, sf_error *err);

/** The fitted pipeline as JSON (DESIGN.md decision 16), NUL-terminated, in *json_out;
 *  caller frees it with free(). */
SF_API sf_status sf_pipeline_to_json(const sf_pipeline *pl, char **json_out, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
