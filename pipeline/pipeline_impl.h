/* pipeline_impl.h — the pipeline object, shared by pipeline.c and model_file.c;
 * internal. */
#ifndef SF_PIPELINE_IMPL_H
#define SF_PIPELINE_IMPL_H

#include "pipeline/stage.h"
#include "streamfit/sf_pipeline.h"

struct sf_pipeline {
    size_t n_stages;
    const sfi_stage_ops **ops;
    void **states;
    size_t *width_in;       /* input width of each stage (after fitting) */
    bool fitted;
    char **features;
    size_t n_features;
    char *target;
    uint64_t rows_seen, rows_dropped;
};

#endif
