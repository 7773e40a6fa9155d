/* stage.h — the ops table every stage kind implements; internal.
 *
 * The pipeline treats all stages alike through these functions (GSL multilarge's
 * type table, dav1d's demuxers[]). A stage's state is private to its kind; the
 * typed C API of the kind (e.g. sf_scaler) does the math, the adapter here only
 * maps blocks and parameters onto it.
 */
#ifndef SF_STAGE_H
#define SF_STAGE_H

#include <hdf5.h>

#include "pipeline/h5util.h"
#include "pipeline/spec.h"
#include "streamfit/sf_pool.h"
#include "streamfit/sf_table.h"

/* What a stage writes when the pipeline predicts (sf_pipeline_predict's `what`). */
typedef enum sfi_output {
    SFI_OUT_DEFAULT = 0, /* transformers: transform; estimators: predict (1 column) */
    SFI_OUT_PROBA,       /* classifiers: one column per class (predict_proba) */
    SFI_OUT_DECISION,    /* decision_function: 1 column (binary) or one per class */
    SFI_OUT_TRANSFORM,   /* estimators with a transform (k-means: distances) */
    SFI_OUT_INTERVAL     /* regression: predict, standard error, lower, upper */
} sfi_output;

typedef struct sfi_stage_ops {
    const char *kind;          /* canonical name, used in exports and model files */
    const char *alias;         /* accepted in specs, or NULL */
    const char *params_help;   /* "with_mean, with_std": for unknown-parameter errors */
    bool mergeable;            /* partial states merge exactly: fitted per segment */
    bool estimator;            /* learns from y; must be the last stage */
    bool classifier;           /* needs set_classes before its first partial_fit */
    bool unsupervised;         /* an estimator that needs no y (k-means) */
    bool takes_parts;          /* a pass may hand it a chunk in parts (cache-sized,
                                  dividing chunk_rows): merged, its fit does not depend on
                                  block bounds beyond rounding; in order (k-means), it
                                  gathers a chunk's parts into one step, bitwise */
    /* Makes an unfitted state from the spec's parameters (errors point at them). */
    sf_status (*create)(void **st, const sfi_spec_stage *spec, sf_error *err);
    /* A worker's partial state for the current pass: same parameters and what earlier
     * passes fitted (e.g. coefficients for a residual pass), this pass's accumulators
     * empty. Before pass 0 it is the unfitted state. */
    sf_status (*clone_empty)(const void *st, void **out, sf_error *err);
    void (*free)(void *st);
    /* Learns from a block (x n_rows x n_cols, optional y and w). */
    sf_status (*partial_fit)(void *st, const sf_block *b, sf_error *err);
    /* dst ⊕= src (mergeable kinds). */
    sf_status (*merge)(void *dst, const void *src, sf_error *err);
    /* Output width for an input width (after fitting). */
    size_t (*n_outputs)(const void *st, size_t n_in);
    /* out = stage(x); must be safe to call from many threads at once. Estimators:
     * the prediction (class value, regression value, cluster index), one column. */
    sf_status (*transform)(const void *st, const double *x, size_t n, size_t p, size_t ld,
                           double *out, size_t out_ld, sf_error *err);
    /* Appends "\"params\": {...}, <fitted attributes>" (no braces) to b. */
    void (*to_json)(const void *st, sfi_buf *b);
    /* Writes parameters (attributes) and the resumable state (datasets) into group. */
    sf_status (*save)(const void *st, hid_t group, const sfi_h5ctx *c);
    /* Makes a fitted state from a group written by save; n_in is the input width
     * the pipeline expects (a mismatch is a corrupt file). */
    sf_status (*load)(void **st, hid_t group, size_t n_in, const sfi_h5ctx *c);

    /* ---- optional (NULL = the default in brackets) ---- */
    /* Classifiers: the sorted distinct target values, discovered by the pipeline on
     * its first pass (string targets arrive as codes 0..n-1 of the sorted labels;
     * the pipeline keeps the labels). Called once, before the first partial_fit;
     * a classes= parameter, if the kind has one, must agree. */
    sf_status (*set_classes)(void *st, const double *classes, size_t n, sf_error *err);
    /* Feature names of the stage's input (borrowed for the call: copy them), for
     * reports such as aliased regression columns. [ignored] */
    sf_status (*set_names)(void *st, const char *const *names, size_t n, sf_error *err);
    /* Called on the merged (or only) state before pass `pass` (0, 1, ...) and after
     * it. end_pass finalizes (the QR solve, scale_, statistics) and sets *again when
     * the stage wants another pass over the data (epochs, refine, a residual pass).
     * A state that asked for another pass gets begin_pass(pass + 1) before it.
     * [no-op; one pass] */
    sf_status (*begin_pass)(void *st, unsigned pass, sf_error *err);
    sf_status (*end_pass)(void *st, unsigned pass, bool *again, sf_error *err);
    /* Whether pass `pass` is fitted per segment and merged. [the mergeable flag] */
    bool (*pass_mergeable)(const void *st, unsigned pass);
    /* Other outputs: width (0 = not offered by this kind or these parameters) and
     * values; thread-safe like transform. [SFI_OUT_DEFAULT only] */
    size_t (*n_outputs_as)(const void *st, sfi_output what, size_t n_in);
    sf_status (*output_as)(const void *st, sfi_output what, const double *x, size_t n, size_t p,
                           size_t ld, double *out, size_t out_ld, sf_error *err);
    /* Estimators: the score sklearn's score() gives (accuracy, R², minus inertia) on
     * a block, as a sum over rows plus a count, so blocks add up. [none] */
    sf_status (*score)(const void *st, const sf_block *b, double *sum, double *count, sf_error *err);
    /* A readable report of the fitted stage (a regression table) for `export`,
     * with its input's names (n of them) and the target's; *out is a new string. */
    sf_status (*summary)(const void *st, const char *const *names, size_t n, const char *target, char **out,
                         sf_error *err);
    /* In-order passes: the order in which pass `pass` visits the source's n
     * segments, written into order as a permutation of 0..n-1; false = data
     * order. It may depend only on the parameters and pass (reproducible, and the
     * same for any thread count). [data order] */
    bool (*segment_order)(const void *st, unsigned pass, size_t n, size_t *order);
    /* In-order passes: progressive-validation sums of the pass under way:
     * out[0] the training loss of the rows learned so far, each measured before
     * learning it; out[1] rows seen (learned and held out); out[2] the held-out
     * rows' loss; out[3] their weight. start = true (before the pass's first
     * block) turns the summing on. false = not offered. [none] */
    bool (*pass_losses)(void *st, bool start, double out[4]);
    /* In-order passes: a pool (borrowed, NULL after the pass) the stage's own
     * work on a block may run on (k-means distances, one-vs-all classes), run
     * only from partial_fit on the learning thread; results must not depend on
     * its size. [none] */
    void (*set_pool)(void *st, sf_pool *pool);

    /* ---- sparse input: CSR blocks (b->csr set, b->x NULL) from a sparse source ---- */
    /* Says the stage's input will be CSR blocks, in partial_fit and score; called
     * on the fresh state before any pass. Fails naming the parameter that forbids
     * it (the scaler's with_mean). NULL: the kind refuses sparse input, and the
     * pipeline says so before any pass. */
    sf_status (*use_sparse)(void *st, sf_error *err);
    /* Transformers: the values of n CSR rows after the stage, whose structure is
     * unchanged (scaling without centring), into out[e - x->indptr[0]]; out may
     * be x->data + x->indptr[0]. Thread-safe like transform. */
    sf_status (*transform_csr)(const void *st, const sf_csr *x, size_t n, double *out, sf_error *err);
    /* Estimators: output_as on n CSR rows (SFI_OUT_DEFAULT: the prediction). */
    sf_status (*output_csr)(const void *st, sfi_output what, const sf_csr *x, size_t n, double *out,
                            size_t out_ld, sf_error *err);
} sfi_stage_ops;

/* Looks kind (or an alias) up; NULL if unknown. */
SFI_FUNC const sfi_stage_ops *sfi_stage_find(const char *kind);
/* "standard_scaler (scaler), …" for error messages. */
SFI_FUNC const char *sfi_stage_list(void);

/* Every kind, one line each (registry.c lists them in this order). */
SFI_FUNC extern const sfi_stage_ops sfi_scaler_stage;
SFI_FUNC extern const sfi_stage_ops sfi_kmeans_stage;
SFI_FUNC extern const sfi_stage_ops sfi_sgd_classifier_stage;
SFI_FUNC extern const sfi_stage_ops sfi_sgd_regressor_stage;
SFI_FUNC extern const sfi_stage_ops sfi_perceptron_stage;
SFI_FUNC extern const sfi_stage_ops sfi_passive_aggressive_classifier_stage;
SFI_FUNC extern const sfi_stage_ops sfi_passive_aggressive_regressor_stage;
SFI_FUNC extern const sfi_stage_ops sfi_linreg_stage;

#endif
