/* pipeline_impl.h — the pipeline object, shared by pipeline.c, fit.c and
 * model_file.c; internal. */
#ifndef SF_PIPELINE_IMPL_H
#define SF_PIPELINE_IMPL_H

#include "pipeline/stage.h"
#include "streamfit/sf_design.h"
#include "streamfit/sf_pipeline.h"

struct sf_pipeline {
    char *spec_text;        /* the spec it was made from ("" for very old files) */
    sfi_spec spec;          /* parsed spec_text: fresh stages for a refit */
    size_t n_stages;
    const sfi_stage_ops **ops;
    void **states;
    size_t *width_in;       /* input width of each stage (after fitting) */
    bool fitted;
    char **features;
    size_t n_features;
    char *target;
    sf_design *design;      /* the formula's design (finished once fitted), or NULL:
                             * features are then its column names, target its response */
    uint64_t rows_seen, rows_dropped;
    /* classifiers: the sorted classes, as values; for a categorical target the
     * values are codes 0..n-1 of the sorted labels in class_labels */
    double *classes;
    char **class_labels;
    size_t n_classes;
    bool sparse;            /* fitted on CSR rows (svmlight): features is NULL,
                             * n_features is the CSR width */
};

/* Runs x (n x p, stride ld) through stages [0, upto) into *out (buf1/buf2, n x buf_ld
 * each, take turns; *out may be x itself when upto = 0). */
SFI_FUNC sf_status sfi_run_stages(const sf_pipeline *pl, size_t upto, const double *x, size_t n, size_t p,
                                  size_t ld, double *buf1, double *buf2, size_t buf_ld, const double **out,
                                  size_t *out_p, size_t *out_ld, sf_error *err);

/* ---- the plan: which source columns feed the pipeline ---- */

typedef struct sfi_plan {
    size_t *cols;          /* source column of each feature */
    size_t p;
    long target, weight;   /* source columns, or -1 */
    bool target_labels;    /* categorical target: y = index of its label in classes */
    const char *target_name;
    size_t chunk_rows;
    const sf_design *design;  /* builds the rows (features, y) when set; cols unused */
    bool sparse;           /* CSR features (p of them) and the label column as target */
} sfi_plan;

/* Resolves target, weight and features of src. With pl->design (finished and
 * bound) the design builds the rows. Otherwise names (n_names of them) fixes the
 * features (an update, a score), or o->columns, or every numeric column but
 * target and weight. Caller frees pn->cols. */
SFI_FUNC sf_status sfi_make_plan(sf_pipeline *pl, const sf_source *src, const sf_fit_options *o,
                                 const char *target, char *const *names, size_t n_names, sfi_plan *pn,
                                 sf_error *err);
/* Copies the usable rows of t into b (features, y, w); counts dropped rows (a
 * missing feature, target or weight). A categorical target becomes the index of
 * its label among pl's classes (NaN while they are unknown); an unknown label is
 * an error naming the row. */
/* Columns cols[0..p) of every row of t into row-major x (stride ld), cache-blocked. */
SFI_FUNC void sfi_gather_rows(const sf_table *t, const size_t *cols, size_t p, double *x, size_t ld);
SFI_FUNC sf_status sfi_table_to_block(const sf_pipeline *pl, const sfi_plan *pn, const sf_table *t, sf_block *b,
                                      uint64_t *dropped, const char *source, sf_error *err);

/* Runs x (n rows) through every stage but the last: *in (stride *ild, *ip columns)
 * is x itself for a one-stage pipeline, else rows in *bufs, which the caller frees. */
SFI_FUNC sf_status sfi_last_stage_input(const sf_pipeline *pl, const double *x, size_t n, size_t p, size_t ld,
                                        double **bufs, const double **in, size_t *ip, size_t *ild, sf_error *err);

/* True when src can be read only once, as a whole (standard input): it has no
 * segment readers. */
SFI_FUNC bool sfi_source_read_once(sf_source *src);

/* Frees what the fit learned about columns and classes (not the stages). */
SFI_FUNC void sfi_pipeline_forget_columns(sf_pipeline *pl);

/* ---- sparse input (pipeline/sparse.c) ---- */

/* Every stage takes CSR input (its use_sparse hook, called on the current states),
 * else SF_ERR_UNSUPPORTED naming the stage, before any pass. */
SFI_FUNC sf_status sfi_sparse_check(sf_pipeline *pl, const char *source, sf_error *err);
/* The plan of a sparse source: the label column as target, p = n_model (the fitted
 * model's width) or the source's CSR width. Formula, --columns, --weight and
 * --cache are refused. Caller frees pn->cols. */
SFI_FUNC sf_status sfi_sparse_plan(const sf_pipeline *pl, const sf_source *src, const sf_fit_options *o,
                                   size_t n_model, sfi_plan *pn, sf_error *err);
/* Copies t's CSR rows into b (with their labels into b->y); with need_y, rows with
 * a missing label are dropped and counted, and missing[i] (if not NULL) flags
 * them. An index >= pn->p is SF_ERR_SHAPE naming the row's line. */
SFI_FUNC sf_status sfi_sparse_rows(const sfi_plan *pn, const sf_table *t, bool need_y, sf_block *b,
                                   uint8_t *missing, uint64_t *dropped, const char *source, sf_error *err);
/* Runs n CSR rows x (indptr[0] = 0) through stages [0, upto): *out shares x's
 * structure, its values in *scratch (grown to *cap; the caller frees it). */
SFI_FUNC sf_status sfi_run_stages_csr(const sf_pipeline *pl, size_t upto, const sf_csr *x, size_t n,
                                      double **scratch, size_t *cap, sf_csr *out, sf_error *err);
/* The pipeline's output `what` on n CSR rows. */
SFI_FUNC sf_status sfi_predict_csr(const sf_pipeline *pl, sfi_output what, const sf_csr *x, size_t n, double *out,
                                   size_t out_ld, sf_error *err);
/* A block for pn's rows: CSR for a sparse plan, else dense of width columns. */
SFI_FUNC sf_status sfi_plan_block(const sfi_plan *pn, size_t width, sf_block **out, sf_error *err);

#endif
