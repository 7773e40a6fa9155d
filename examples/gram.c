/* gram.c — seeds 002/003: out-of-core AᵀA and Aᵀb over a chunked HDF5 matrix,
 * the normal equations AᵀA β = Aᵀb solved (seed 000's
 * da.linalg.solve(X.T @ X, X.T @ Y)), then A·β streamed back out: the C API for a
 * reduction of your own, with GSL's BLAS doing the arithmetic.
 *
 *   cc gram.c $(pkg-config --cflags --libs streamfit gsl) -o gram
 *   ./gram design.h5:/X /Y [fitted.h5]    # a 2-D dataset, b the 1-D dataset /Y
 *   ./gram data.h5:/ y [fitted.h5]        # a group of columns (or a CSV), b column "y"
 *
 * A is every numeric column but b. Rows with a missing value are left out (and
 * get NaN in A·β). The pattern:
 *   - the source is cut into segments (row ranges) fixed by the data;
 *   - a thread pool runs one task per segment: it opens the segment, reads it
 *     chunk by chunk, and adds each chunk's AᵀA (gsl_blas_dsyrk, a symmetric
 *     rank-k update) and Aᵀb (gsl_blas_dgemv) into that segment's partial sums;
 *   - the partial sums are added in segment order, so the result is bitwise the
 *     same for any number of threads.
 * Memory: a chunk per worker plus p² + p doubles per segment.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <streamfit/streamfit.h>

typedef struct {
    sf_source *src;      /* the whole source; tasks open their segment from it */
    size_t p;            /* columns of A */
    size_t *cols;        /* their indices in the source */
    size_t bcol;         /* b's index in the source */
    size_t chunk_rows;
    double *ata, *atb;   /* per segment: p x p (lower triangle) and p sums */
    uint64_t *rows, *dropped; /* per segment */
    double **scratch;    /* per worker: chunk_rows x (p + 1) doubles, A then b */
} gram_job;

/* Copies the complete rows of chunk t into x (n x p, row-major) and b; returns n. */
static size_t gather(const gram_job *job, const sf_table *t, double *x, double *b)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        bool missing = t->cols[job->bcol].missing[i];
        for (size_t j = 0; j < job->p && !missing; j++) missing = t->cols[job->cols[j]].missing[i];
        if (missing) continue;
        for (size_t j = 0; j < job->p; j++) x[n * job->p + j] = t->cols[job->cols[j]].values[i];
        b[n++] = t->cols[job->bcol].values[i];
    }
    return n;
}

/* One task: the partial AᵀA and Aᵀb of segment seg, run on worker `worker`. */
static sf_status gram_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    gram_job *job = ctx;
    size_t p = job->p;
    double *x = job->scratch[worker], *b = x + job->chunk_rows * p;
    gsl_matrix_view ata = gsl_matrix_view_array(job->ata + seg * p * p, p, p);
    gsl_vector_view atb = gsl_vector_view_array(job->atb + seg * p, p);
    sf_source *s;
    sf_status st = sf_source_open_segment(job->src, seg, &s, err);
    if (st != SF_OK) return st;
    const sf_table *t;
    while ((st = sf_source_next(s, &t, err)) == SF_OK) {
        size_t n = gather(job, t, x, b);
        job->rows[seg] += n;
        job->dropped[seg] += t->n_rows - n;
        if (n == 0) continue;
        gsl_matrix_const_view a = gsl_matrix_const_view_array(x, n, p);
        gsl_vector_const_view bv = gsl_vector_const_view_array(b, n);
        /* AᵀA += AᵀA of the chunk (lower triangle only); Aᵀb += Aᵀb of the chunk.
         * The shapes are right by construction, so GSL has nothing to report. */
        gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, &a.matrix, 1.0, &ata.matrix);
        gsl_blas_dgemv(CblasTrans, 1.0, &a.matrix, &bv.vector, 1.0, &atb.vector);
    }
    sf_source_close(s);
    return st == SF_END ? SF_OK : st;
}

static int fail(const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    return err->status == SF_ERR_IO ? 2 : 1;
}

/* The second pass, in data order: writes A·β as a 1-column dataset "fitted"
 * (NaN for incomplete rows) and returns the residual sum of squares. */
static sf_status fitted_values(gram_job *job, const double *beta, const char *path, double *rss,
                               sf_error *err)
{
    size_t p = job->p;
    double *x = job->scratch[0], *b = x + job->chunk_rows * p;
    double *c = malloc(job->chunk_rows * sizeof *c), *out = malloc(job->chunk_rows * sizeof *out);
    sf_sink *sink = NULL;
    sf_status st = !c || !out ? SF_ERR_NOMEM : SF_OK;
    if (st != SF_OK) {
        sf_error_clear(err);
        err->status = st;
        snprintf(err->message, sizeof err->message, "out of memory");
    }
    if (st == SF_OK) st = sf_source_rewind(job->src, err);
    if (st == SF_OK) st = sf_sink_open(&sink, path, NULL, err);
    gsl_vector_const_view bv = gsl_vector_const_view_array(beta, p);
    static const char *const name[] = {"fitted"};
    const sf_table *t;
    *rss = 0;
    while (st == SF_OK && (st = sf_source_next(job->src, &t, err)) == SF_OK) {
        size_t n = gather(job, t, x, b);
        if (n > 0) {
            gsl_matrix_const_view a = gsl_matrix_const_view_array(x, n, p);
            gsl_vector_view cv = gsl_vector_view_array(c, n);
            gsl_blas_dgemv(CblasNoTrans, 1.0, &a.matrix, &bv.vector, 0.0, &cv.vector); /* c = A·β */
        }
        for (size_t i = 0, k = 0; i < t->n_rows; i++) { /* back to one value per input row */
            bool complete = k < n && !t->cols[job->bcol].missing[i];
            for (size_t j = 0; j < p && complete; j++) complete = !t->cols[job->cols[j]].missing[i];
            out[i] = complete ? c[k] : NAN;
            if (complete) {
                *rss += (b[k] - c[k]) * (b[k] - c[k]);
                k++;
            }
        }
        st = sf_sink_write_matrix(sink, "fitted", out, t->n_rows, 1, 1, name, err);
    }
    if (st == SF_END) st = sf_sink_close(sink, err);
    else sf_sink_abort(sink);
    free(c);
    free(out);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s DATA B_COLUMN|/B_DATASET [FITTED.h5]\n", argv[0]);
        return 1;
    }
    sf_error err;
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 8192;        /* rows per chunk: one chunk per worker in memory */
    so.segment_rows = 4 * 8192;  /* HDF5 rows per segment (a task); CSV cuts by bytes */
    const char *bname = argv[2];
    if (argv[2][0] == '/') {     /* b is a 1-D dataset beside the 2-D A: column "y" */
        so.target = argv[2];
        bname = "y";
    }
    gram_job job = {.chunk_rows = so.chunk_rows};
    sf_pool *pool = NULL;
    double *beta = NULL, *chol = NULL;
    size_t n_seg = 0, n_workers = 0;
    int rc = 0;
    if (sf_source_open(&job.src, argv[1], &so, &err) != SF_OK) return fail(&err);

    /* A's columns: every numeric column but b. */
    long bcol = sf_source_column_index(job.src, bname);
    if (bcol < 0 || sf_source_column_type(job.src, (size_t)bcol) != SF_COL_FLOAT) {
        fprintf(stderr, "%s: no numeric column \"%s\"\n", sf_source_name(job.src), bname);
        sf_source_close(job.src);
        return 1;
    }
    job.bcol = (size_t)bcol;
    size_t n_cols = sf_source_n_columns(job.src);
    job.cols = malloc(n_cols * sizeof *job.cols);
    if (!job.cols) goto nomem;
    for (size_t j = 0; j < n_cols; j++)
        if (j != job.bcol && sf_source_column_type(job.src, j) == SF_COL_FLOAT) job.cols[job.p++] = j;
    size_t p = job.p;
    if (p == 0) {
        fprintf(stderr, "%s: no numeric column besides \"%s\"\n", sf_source_name(job.src), bname);
        rc = 1;
        goto done;
    }

    /* Segments and the pool; per-segment sums, per-worker scratch. */
    if (sf_source_n_segments(job.src, &n_seg, &err) != SF_OK || sf_pool_new(&pool, 0, &err) != SF_OK)
        goto error;
    n_workers = sf_pool_size(pool);
    job.ata = calloc(n_seg * p * p, sizeof *job.ata);
    job.atb = calloc(n_seg * p, sizeof *job.atb);
    job.rows = calloc(n_seg, sizeof *job.rows);
    job.dropped = calloc(n_seg, sizeof *job.dropped);
    job.scratch = calloc(n_workers, sizeof *job.scratch);
    if (!job.ata || !job.atb || !job.rows || !job.dropped || !job.scratch) goto nomem;
    for (size_t w = 0; w < n_workers; w++)
        if (!(job.scratch[w] = malloc(job.chunk_rows * (p + 1) * sizeof(double)))) goto nomem;

    /* Pass 1, parallel: one task per segment. */
    if (sf_pool_run(pool, n_seg, gram_segment, &job, &err) != SF_OK) goto error;

    /* Merge in segment order into segment 0's sums; mirror the lower triangle. */
    for (size_t g = 1; g < n_seg; g++) {
        for (size_t k = 0; k < p * p; k++) job.ata[k] += job.ata[g * p * p + k];
        for (size_t j = 0; j < p; j++) job.atb[j] += job.atb[g * p + j];
        job.rows[0] += job.rows[g];
        job.dropped[0] += job.dropped[g];
    }
    for (size_t i = 0; i < p; i++)
        for (size_t j = i + 1; j < p; j++) job.ata[i * p + j] = job.ata[j * p + i];

    printf("A: %zu columns of %s, b: %s; %llu rows (%llu dropped for a missing value), "
           "%zu segments on %zu threads\n", p, sf_source_name(job.src), bname,
           (unsigned long long)job.rows[0], (unsigned long long)job.dropped[0], n_seg, n_workers);
    for (size_t i = 0; i < p; i++) {
        printf("AtA %s", sf_source_column_name(job.src, job.cols[i]));
        for (size_t j = 0; j <= i; j++) printf(" %.17g", job.ata[i * p + j]);
        printf("\n");
    }
    for (size_t i = 0; i < p; i++)
        printf("Atb %s %.17g\n", sf_source_column_name(job.src, job.cols[i]), job.atb[i]);

    /* Solve AᵀA β = Aᵀb by Cholesky (AᵀA is symmetric positive definite when A
     * has full column rank; GSL returns GSL_EDOM otherwise — its abort handler
     * is off once any streamfit constructor ran sf_library_init). */
    sf_library_init();
    beta = malloc(p * sizeof *beta);
    chol = malloc(p * p * sizeof *chol);
    if (!beta || !chol) goto nomem;
    memcpy(chol, job.ata, p * p * sizeof *chol);
    gsl_matrix_view cm = gsl_matrix_view_array(chol, p, p);
    gsl_vector_const_view bv = gsl_vector_const_view_array(job.atb, p);
    gsl_vector_view xv = gsl_vector_view_array(beta, p);
    int gs = gsl_linalg_cholesky_decomp1(&cm.matrix);
    if (gs == GSL_SUCCESS) gs = gsl_linalg_cholesky_solve(&cm.matrix, &bv.vector, &xv.vector);
    if (gs != GSL_SUCCESS) {
        fprintf(stderr, "AtA beta = Atb: %s (are A's columns linearly dependent?)\n", gsl_strerror(gs));
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < p; i++)
        printf("beta %s %.17g\n", sf_source_column_name(job.src, job.cols[i]), beta[i]);

    /* Pass 2, in order: A·β, one value per row, into an HDF5 file. */
    if (argc == 4) {
        double rss;
        if (fitted_values(&job, beta, argv[3], &rss, &err) != SF_OK) goto error;
        printf("A.beta written to %s:/fitted; residual sum of squares %.17g\n", argv[3], rss);
    }
    goto done;

nomem:
    fprintf(stderr, "out of memory\n");
    rc = 1;
    goto done;
error:
    rc = fail(&err);
done:
    for (size_t w = 0; job.scratch && w < n_workers; w++) free(job.scratch[w]);
    free(job.scratch);
    free(job.ata);
    free(job.atb);
    free(job.rows);
    free(job.dropped);
    free(job.cols);
    free(beta);
    free(chol);
    sf_pool_free(pool);
    sf_source_close(job.src);
    return rc;
}
