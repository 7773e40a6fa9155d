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
#include "streamfit/sf_table.h"

typedef struct sfi_stage_ops {
    const char *kind;          /* canonical name, used in exports and model files */
    const char *alias;         /* accepted in specs, or NULL */
    const char *params_help;   /* "with_mean, with_std": for unknown-parameter errors */
    bool mergeable;            /* partial states merge exactly: fitted per segment */
    /* Makes an unfitted state from the spec's parameters (errors point at them). */
    sf_status (*create)(void **st, const sfi_spec_stage *spec, sf_error *err);
    /* Same parameters, nothing learned: a worker's partial state. */
    sf_status (*clone_empty)(const void *st, void **out, sf_error *err);
    void (*free)(void *st);
    /* Learns from a block (x n_rows x n_cols, optional y and w). */
    sf_status (*partial_fit)(void *st, const sf_block *b, sf_error *err);
    /* dst ⊕= src (mergeable kinds). */
    sf_status (*merge)(void *dst, const void *src, sf_error *err);
    /* Output width for an input width (after fitting). */
    size_t (*n_outputs)(const void *st, size_t n_in);
    /* out = stage(x); must be safe to call from many threads at once. */
    sf_status (*transform)(const void *st, const double *x, size_t n, size_t p, size_t ld,
                           double *out, size_t out_ld, sf_error *err);
    /* Appends "\"params\": {...}, <fitted attributes>" (no braces) to b. */
    void (*to_json)(const void *st, sfi_buf *b);
    /* Writes parameters (attributes) and the resumable state (datasets) into group. */
    sf_status (*save)(const void *st, hid_t group, const sfi_h5ctx *c);
    /* Makes a fitted state from a group written by save; n_in is the input width
     * the pipeline expects (a mismatch is a corrupt file). */
    sf_status (*load)(void **st, hid_t group, size_t n_in, const sfi_h5ctx *c);
} sfi_stage_ops;

/* Looks kind (or an alias) up; NULL if unknown. */
SFI_FUNC const sfi_stage_ops *sfi_stage_find(const char *kind);
/* "standard_scaler (scaler), …" for error messages. */
SFI_FUNC const char *sfi_stage_list(void);

SFI_FUNC extern const sfi_stage_ops sfi_scaler_stage;

#endif
