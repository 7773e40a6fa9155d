/* design_bench.c — the design builder alone, on seed 000's data: reads a CSV once
 * into memory through the CSV source (chunks kept), then times building patsy's
 * design for a formula over all chunks, single-threaded, best of REPEAT runs.
 *
 *   design_bench FILE.csv [FORMULA] [REPEAT]
 *
 * Prints rows, columns, seconds and rows/s of the build alone (the CSV parse is
 * the source's, timed by bench/read.sh). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "streamfit/streamfit.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: design_bench FILE.csv [FORMULA] [REPEAT]\n");
        return 1;
    }
    const char *formula = argc > 2 ? argv[2] : "0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)";
    int repeat = argc > 3 ? atoi(argv[3]) : 3;
    sf_error err;
    sf_source *src;
    if (sf_source_open(&src, argv[1], NULL, &err) != SF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sf_design *d;
    if (sf_design_new(&d, formula, NULL, &err) != SF_OK || sf_design_define(d, "lnames", "np.arange(5)", &err) != SF_OK ||
        sf_design_bind(d, src, &err) != SF_OK) {
        fprintf(stderr, "%s (column %llu)\n", err.message, (unsigned long long)err.where.column);
        return 1;
    }
    /* keep copies of the chunks (float columns only: seed 000's data has no text) */
    size_t n_chunks = 0, cap = 0;
    sf_table **chunks = NULL;
    const sf_table *t;
    size_t rows = 0;
    while (sf_source_next(src, &t, &err) == SF_OK) {
        if (sf_design_needs_fit(d)) sf_design_partial_fit(d, t, &err);
        sf_coltype types[64];
        for (size_t j = 0; j < t->n_cols; j++) types[j] = t->cols[j].type;
        sf_table *c;
        if (sf_table_new(&c, t->n_cols, types, t->names, NULL, t->n_rows, &err) != SF_OK) return 1;
        c->n_rows = t->n_rows;
        c->first_row = t->first_row;
        for (size_t j = 0; j < t->n_cols; j++) {
            memcpy(c->cols[j].values, t->cols[j].values, t->n_rows * sizeof(double));
            memcpy(c->cols[j].missing, t->cols[j].missing, t->n_rows);
            c->cols[j].is_integer = t->cols[j].is_integer;
        }
        if (n_chunks == cap) chunks = realloc(chunks, (cap = cap ? 2 * cap : 64) * sizeof *chunks);
        chunks[n_chunks++] = c;
        rows += t->n_rows;
    }
    if (sf_design_finish(d, &err) != SF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    size_t p = sf_design_n_columns(d);
    double *x = malloc(chunks[0]->n_rows * p * sizeof *x), *y = malloc(chunks[0]->n_rows * sizeof *y);
    double best = 1e300, sum = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        for (size_t k = 0; k < n_chunks; k++) {
            size_t n;
            if (sf_design_build(d, chunks[k], x, p, y, &n, NULL, &err) != SF_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            sum += x[0];
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("rows %zu columns %zu build %.3f s (%.1f Mrows/s) [check %g]\n", rows, p, best, rows / best / 1e6, sum);
    for (size_t k = 0; k < n_chunks; k++) sf_table_free(chunks[k]);
    free(chunks);
    free(x);
    free(y);
    sf_design_free(d);
    sf_source_close(src);
    return 0;
}
