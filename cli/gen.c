/* gen.c — `streamfit gen KIND --rows N --out FILE [--seed S]`: deterministic
 * synthetic data, written in chunks (bounded memory) as CSV or HDF5.
 *
 * regression: seed 000's data: a, b, c, d ~ N(0, 1), cat1 uniform in 0..4, and
 *   y = X beta + N(0, 1) where X is patsy's design for
 *   "0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))"
 *   in patsy's column order [cat1 = 0..4, a, b, c, d, d:c, a:b, a:c] and
 *   beta = arange(0, 1, 1/12) as in the post.
 * classification: seed 001's shape: x0..x{F-1} ~ N(0, 1), y in {0, 1} drawn from a
 *   logistic model with fixed random weights (so it is learnable, not separable).
 * blobs: K Gaussian clusters (std 1) around centres uniform in [-10, 10]^F; the
 *   true cluster is the column "label".
 * Random numbers: GSL's MT19937 seeded with --seed, Gaussian by the ziggurat.
 */
#define _GNU_SOURCE
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { GEN_CHUNK = 16384 };

int cli_gen(const cli_opts *o)
{
    if (!o->kind) return cli_usage_error("gen needs a kind: regression, classification or blobs");
    if (!o->out) return cli_usage_error("gen needs --out FILE (.csv or .h5)");
    if (o->rows == 0) return cli_usage_error("gen needs --rows N (N > 0)");
    int kind = !strcmp(o->kind, "regression") ? 0 : !strcmp(o->kind, "classification") ? 1
             : !strcmp(o->kind, "blobs") ? 2 : -1;
    if (kind < 0)
        return cli_usage_error("unknown gen kind \"%s\" (regression, classification, blobs)", o->kind);
    size_t nf = kind == 0 ? 4 : o->features;
    if (nf == 0 || nf > 10000) return cli_usage_error("--features must be 1-10000");
    if (kind == 2 && (o->centers == 0 || o->centers > 10000))
        return cli_usage_error("--centers must be 1-10000");

    size_t n_cols = kind == 0 ? 6 : nf + 1;
    char **names = calloc(n_cols, sizeof *names);
    sf_coltype *types = calloc(n_cols, sizeof *types);
    double *w = NULL, *centers = NULL;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    sf_table *t = NULL;
    sf_sink *sink = NULL;
    sf_error err;
    sf_error_clear(&err);
    sf_status st = SF_OK;
    int rc = 0;
    if (!names || !types || !rng) {
        rc = cli_usage_error("out of memory");
        goto done;
    }
    gsl_rng_set(rng, (unsigned long)o->seed);
    static const char *const reg_names[] = {"a", "b", "c", "d", "cat1", "y"};
    for (size_t j = 0; j < n_cols; j++) {
        char buf[32];
        if (kind == 0) snprintf(buf, sizeof buf, "%s", reg_names[j]);
        else if (j < nf) snprintf(buf, sizeof buf, "x%zu", j);
        else snprintf(buf, sizeof buf, "%s", kind == 1 ? "y" : "label");
        names[j] = strdup(buf);
        if (!names[j]) {
            rc = cli_usage_error("out of memory");
            goto done;
        }
    }
    if (kind == 1) {
        w = malloc((nf + 1) * sizeof *w);
        if (!w) goto nomem;
        for (size_t j = 0; j <= nf; j++) w[j] = gsl_ran_gaussian_ziggurat(rng, 1.0) / sqrt((double)nf) * 3.0;
    }
    if (kind == 2) {
        centers = malloc(o->centers * nf * sizeof *centers);
        if (!centers) goto nomem;
        for (size_t k = 0; k < o->centers * nf; k++) centers[k] = gsl_ran_flat(rng, -10.0, 10.0);
    }
    if ((st = sf_table_new(&t, n_cols, types, (const char *const *)names, NULL, GEN_CHUNK, &err)) != SF_OK ||
        (st = sf_sink_open(&sink, o->out, &o->sink, &err)) != SF_OK)
        goto done;
    cli_progress prog;
    cli_progress_start(&prog, o, "gen");
    for (uint64_t done_rows = 0; done_rows < o->rows;) {
        size_t n = o->rows - done_rows < GEN_CHUNK ? (size_t)(o->rows - done_rows) : GEN_CHUNK;
        t->n_rows = n;
        for (size_t i = 0; i < n; i++) {
            if (kind == 0) {
                double a = gsl_ran_gaussian_ziggurat(rng, 1.0), b = gsl_ran_gaussian_ziggurat(rng, 1.0);
                double c = gsl_ran_gaussian_ziggurat(rng, 1.0), d = gsl_ran_gaussian_ziggurat(rng, 1.0);
                unsigned long cat = gsl_rng_uniform_int(rng, 5);
                /* beta_k = k/12 over [cat1=0..4, a, b, c, d, d:c, a:b, a:c] */
                double x[12] = {0, 0, 0, 0, 0, a, b, c, d, d * c, a * b, a * c};
                x[cat] = 1.0;
                double y = 0;
                for (int k = 0; k < 12; k++) y += x[k] * ((double)k / 12.0);
                y += gsl_ran_gaussian_ziggurat(rng, 1.0);
                t->cols[0].values[i] = a;
                t->cols[1].values[i] = b;
                t->cols[2].values[i] = c;
                t->cols[3].values[i] = d;
                t->cols[4].values[i] = (double)cat;
                t->cols[5].values[i] = y;
            } else if (kind == 1) {
                double z = w[nf];
                for (size_t j = 0; j < nf; j++) {
                    double x = gsl_ran_gaussian_ziggurat(rng, 1.0);
                    t->cols[j].values[i] = x;
                    z += w[j] * x;
                }
                double p = 1.0 / (1.0 + exp(-z));
                t->cols[nf].values[i] = gsl_rng_uniform(rng) < p ? 1.0 : 0.0;
            } else {
                unsigned long k = gsl_rng_uniform_int(rng, (unsigned long)o->centers);
                for (size_t j = 0; j < nf; j++)
                    t->cols[j].values[i] = centers[k * nf + j] + gsl_ran_gaussian_ziggurat(rng, 1.0);
                t->cols[nf].values[i] = (double)k;
            }
        }
        for (size_t j = 0; j < n_cols; j++) memset(t->cols[j].missing, 0, n);
        if ((st = sf_sink_write_table(sink, t, &err)) != SF_OK) goto done;
        done_rows += n;
        cli_progress_update(&prog, done_rows, 0, 0);
    }
    cli_progress_end(&prog);
    st = sf_sink_close(sink, &err);
    sink = NULL;
    goto done;
nomem:
    rc = cli_usage_error("out of memory");
done:
    if (st != SF_OK) rc = cli_report(&err);
    sf_sink_abort(sink);
    sf_table_free(t);
    if (names)
        for (size_t j = 0; j < n_cols; j++) free(names[j]);
    free(names);
    free(types);
    free(w);
    free(centers);
    if (rng) gsl_rng_free(rng);
    return rc;
}
