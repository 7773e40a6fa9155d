/* sparse.c — the pipeline on CSR blocks (a sparse source: svmlight).
 *
 * A sparse source yields chunks with a "y" column (the label) and CSR features.
 * The plan takes every CSR column as a feature and y as the target; blocks carry
 * the CSR rows (sf_block.csr) instead of x. Stages that take CSR say so through
 * their use_sparse hook; transformers keep the structure (transform_csr writes
 * new values for the same entries), so the rows' indptr and indices are shared
 * by every stage and only the values are rewritten. Everything else refuses a
 * sparse source before any pass (a formula, linear_regression, k-means).
 */
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"

sf_status sfi_sparse_check(sf_pipeline *pl, const char *source, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, source);
    for (size_t k = 0; k < pl->n_stages; k++) {
        const sfi_stage_ops *ops = pl->ops[k];
        bool ok = ops->use_sparse && (ops->estimator ? ops->output_csr != NULL : ops->transform_csr != NULL);
        if (!ok)
            return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "stage %zu (%s) does not take sparse input (svmlight "
                            "data): use sgd_classifier, sgd_regressor, perceptron, passive_aggressive_* or "
                            "scaler(with_mean=false)", k + 1, ops->kind);
        sf_status st = ops->use_sparse(pl->states[k], err);
        if (st != SF_OK) {
            sfi_error_prefix(err, "stage %zu (%s)", k + 1, ops->kind);
            return st;
        }
    }
    return SF_OK;
}

sf_status sfi_sparse_plan(const sf_pipeline *pl, const sf_source *src, const sf_fit_options *o, size_t n_model,
                          sfi_plan *pn, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, sf_source_name(src));
    if (o->formula) return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "a formula cannot be used on sparse (svmlight) data");
    if (o->columns && *o->columns)
        return sfi_fail(err, SF_ERR_ARG, &w, "svmlight data has no named columns: drop --columns");
    if (o->weight) return sfi_fail(err, SF_ERR_ARG, &w, "svmlight data has no weight column: drop --weight");
    if (o->cache) return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "the cache holds dense rows: drop --cache "
                                  "(svmlight files are read again for every pass)");
    if (pl->design) return sfi_fail(err, SF_ERR_ARG, &w, "this model has a formula: it needs a table, not svmlight data");
    memset(pn, 0, sizeof *pn);
    pn->sparse = true;
    pn->weight = -1;
    pn->target = 0; /* the label column */
    pn->target_name = "y";
    pn->chunk_rows = src->opt.chunk_rows;
    size_t n_src = sf_source_n_sparse_features(src);
    /* a fitted model keeps its width: a file with fewer features is fine, a larger
     * index is an error at its line (sfi_sparse_rows) */
    pn->p = n_model ? n_model : n_src;
    pn->cols = calloc(1, sizeof *pn->cols);
    return pn->cols ? SF_OK : sfi_nomem(err);
}

/* The line's error for an index the model does not have. */
static sf_status too_wide(const sf_table *t, size_t i, uint32_t col, size_t p, const char *source, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, source);
    w.row = t->first_row + i;
    w.line = t->line ? t->line[i] : 0;
    return sfi_fail(err, SF_ERR_SHAPE, &w, "feature index for column %u, but the model has %zu features", col, p);
}

sf_status sfi_sparse_rows(const sfi_plan *pn, const sf_table *t, bool need_y, sf_block *b, uint8_t *missing,
                          uint64_t *dropped, const char *source, sf_error *err)
{
    const sf_csr *a = t->csr;
    sf_csr *c = b->csr;
    const sf_column *y = &t->cols[pn->target];
    SF_TRY(sf_csr_reserve(c, a->indptr[t->n_rows] - a->indptr[0], err));
    size_t k = 0, nnz = 0;
    c->indptr[0] = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        size_t e0 = a->indptr[i], e1 = a->indptr[i + 1];
        if (e1 > e0 && a->indices[e1 - 1] >= pn->p) return too_wide(t, i, a->indices[e1 - 1], pn->p, source, err);
        bool skip = need_y && y->missing[i];
        if (missing) missing[i] = skip;
        if (skip) {
            (*dropped)++;
            continue;
        }
        memcpy(c->indices + nnz, a->indices + e0, (e1 - e0) * sizeof *c->indices);
        memcpy(c->data + nnz, a->data + e0, (e1 - e0) * sizeof *c->data);
        nnz += e1 - e0;
        if (b->y) b->y[k] = y->values[i];
        c->indptr[++k] = nnz;
    }
    b->n_rows = k;
    b->first_row = t->first_row;
    return SF_OK;
}

sf_status sfi_run_stages_csr(const sf_pipeline *pl, size_t upto, const sf_csr *x, size_t n, double **scratch,
                             size_t *cap, sf_csr *out, sf_error *err)
{
    *out = *x;
    if (upto == 0 || n == 0) return SF_OK;
    size_t base = x->indptr[0], nnz = x->indptr[n] - base;
    if (base != 0) return sfi_fail(err, SF_ERR_ARG, NULL, "CSR rows must start at entry 0");
    if (*cap < nnz) {
        double *d = realloc(*scratch, (nnz ? nnz : 1) * sizeof *d);
        if (!d) return sfi_nomem(err);
        *scratch = d;
        *cap = nnz;
    }
    /* the first stage reads the block's values, the rest rewrite the scratch */
    for (size_t k = 0; k < upto; k++) {
        SF_TRY(pl->ops[k]->transform_csr(pl->states[k], out, n, *scratch, err));
        out->data = *scratch;
    }
    return SF_OK;
}

sf_status sfi_predict_csr(const sf_pipeline *pl, sfi_output what, const sf_csr *x, size_t n, double *out,
                          size_t out_ld, sf_error *err)
{
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    if (!last->output_csr)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s gives no output on sparse rows: predict needs an "
                        "estimator last", last->kind);
    double *scratch = NULL;
    size_t cap = 0;
    sf_csr in;
    sf_status st = sfi_run_stages_csr(pl, pl->n_stages - 1, x, n, &scratch, &cap, &in, err);
    if (st == SF_OK) st = last->output_csr(pl->states[pl->n_stages - 1], what, &in, n, out, out_ld, err);
    free(scratch);
    return st;
}

sf_status sfi_plan_block(const sfi_plan *pn, size_t width, sf_block **out, sf_error *err)
{
    if (pn->sparse)
        return sf_block_new_csr(out, pn->chunk_rows, pn->p, 16 * pn->chunk_rows, pn->target >= 0, pn->weight >= 0,
                                err);
    return sf_block_new(out, pn->chunk_rows, width, pn->target >= 0, pn->weight >= 0, err);
}
