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

/** How to fit. Initialise with sf_fit_options_init(). */
typedef struct sf_fit_options {
    size_t threads;             /**< workers; 0 = all CPUs */
    const char *target;         /**< target column, or NULL (transformers only) */
    const char *columns;        /**< comma-separated feature columns; NULL = every
                                     numeric column but the target and weight */
    const char *weight;         /**< sample-weight column, or NULL */
    uint8_t reserved[32];
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

/** The feature columns the first stage sees (after fitting), and the target name
 *  ("" if none); borrowed, valid until the pipeline is freed. */
SF_API size_t sf_pipeline_n_features(const sf_pipeline *pl);
SF_API const char *sf_pipeline_feature_name(const sf_pipeline *pl, size_t i);
SF_API const char *sf_pipeline_target(const sf_pipeline *pl);

/** Rows seen and rows dropped for missing values by the last fit. */
SF_API uint64_t sf_pipeline_rows_seen(const sf_pipeline *pl);
SF_API uint64_t sf_pipeline_rows_dropped(const sf_pipeline *pl);

/** Number of output columns of the whole pipeline. */
SF_API size_t sf_pipeline_n_outputs(const sf_pipeline *pl);

/** Runs n rows of features (n x n_features, row stride ld) through every stage
 *  into out (n x n_outputs, stride out_ld). Thread-safe on a fitted pipeline.
 *  SF_ERR_STATE if not fitted, SF_ERR_SHAPE on a wrong width. */
SF_API sf_status sf_pipeline_transform(const sf_pipeline *pl, const double *x, size_t n,
                                       size_t p, size_t ld, double *out, size_t out_ld,
                                       sf_error *err);

/** Saves a fitted pipeline as an HDF5 model file: written to a temporary file and
 *  renamed over path only when complete (an existing file survives any failure).
 *  SF_ERR_STATE if not fitted, SF_ERR_IO if the file cannot be written. */
SF_API sf_status sf_pipeline_save(const sf_pipeline *pl, const char *path, sf_error *err);

/** Loads a model file written by sf_pipeline_save. A missing file is SF_ERR_IO; a
 *  foreign, corrupt or truncated file SF_ERR_PARSE; a newer format version or an
 *  unknown stage kind SF_ERR_UNSUPPORTED. Caller frees with sf_pipeline_free(). */
SF_API sf_status sf_pipeline_load(sf_pipeline **out, const char *path, sf_error *err);

/** The fitted pipeline as JSON (DESIGN.md decision 16), NUL-terminated, in *json_out;
 *  caller frees it with free(). */
SF_API sf_status sf_pipeline_to_json(const sf_pipeline *pl, char **json_out, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
