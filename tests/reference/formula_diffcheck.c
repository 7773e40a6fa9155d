/* formula_diffcheck.c — the C side of formula_diffcheck.py: reads formulas, one
 * per line, from standard input and prints for each "F formula", then either
 * "E step message" or "N<TAB>names..." and one "R<TAB>values...<TAB>y" line per
 * row built from the CSV named by argv[1] (read in 17-row chunks, fitted, then
 * built). Built by formula_diffcheck.py against build/. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "streamfit/streamfit.h"
int main(int argc, char **argv)
{
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        sf_error err;
        sf_design *d;
        printf("F %s\n", line);
        if (sf_design_new(&d, line, NULL, &err) != SF_OK) { printf("E new %s\n", err.message); continue; }
        sf_source_options o; sf_source_options_init(&o); o.chunk_rows = 17;
        sf_source *s;
        if (sf_source_open(&s, argv[1], &o, &err) != SF_OK) { printf("E open %s\n", err.message); sf_design_free(d); continue; }
        const sf_table *t;
        if (sf_design_bind(d, s, &err) != SF_OK) { printf("E bind %s\n", err.message); goto next; }
        while (sf_source_next(s, &t, &err) == SF_OK) sf_design_partial_fit(d, t, &err);
        if (sf_design_finish(d, &err) != SF_OK) { printf("E finish %s\n", err.message); goto next; }
        size_t p = sf_design_n_columns(d);
        printf("N");
        for (size_t j = 0; j < p; j++) printf("\t%s", sf_design_column_name(d, j));
        printf("\n");
        sf_source_rewind(s, &err);
        double *x = malloc(17 * (p ? p : 1) * sizeof *x), y[17];
        while (sf_source_next(s, &t, &err) == SF_OK) {
            size_t n;
            if (sf_design_build(d, t, x, p ? p : 1, sf_design_has_response(d) ? y : NULL, &n, NULL, &err) != SF_OK) { printf("E build %s\n", err.message); break; }
            for (size_t i = 0; i < n; i++) {
                printf("R");
                for (size_t j = 0; j < p; j++) printf("\t%.17g", x[i * p + j]);
                if (sf_design_has_response(d)) printf("\t%.17g", y[i]);
                printf("\n");
            }
        }
        free(x);
    next:
        sf_source_close(s);
        sf_design_free(d);
    }
    return 0;
}
