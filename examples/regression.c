/* regression.c — seed 000 with the typed C API: a patsy formula's design matrix
 * built chunk by chunk from a CSV file, least squares by QR updating, and
 * statsmodels' regression table. Memory stays O(chunk + p²) whatever the file size.
 *
 *   cc regression.c $(pkg-config --cflags --libs streamfit) -o regression
 *   streamfit gen regression --rows 2500000 --out reg.csv
 *   ./regression reg.csv
 *   ./regression reg.csv 'y ~ a + b + a:b + C(cat1)'
 *
 * Without a formula it fits the post's:
 *   y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)
 * with lnames = np.arange(5), as patsy + statsmodels' OLS(y, X).fit().summary().
 *
 * The same fit through the pipeline is three calls (fit options with .formula,
 * sf_pipeline_fit on "linear_regression", sf_pipeline_summary); this file shows
 * the steps underneath, for programs that want the design rows themselves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <streamfit/streamfit.h>

static const char *default_formula =
    "y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)";

/* Prints err as "file:line:column: error: message" (a formula error with the
 * formula and a caret under the mistake) and returns the exit status. */
static int fail(const sf_error *err, const char *formula)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    if (strcmp(err->where.source, "<formula>") == 0 && err->where.column > 0)
        fprintf(stderr, "  %s\n  %*s^\n", formula, (int)(err->where.column - 1), "");
    return err->status == SF_ERR_IO ? 2 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DATA.csv [FORMULA]\n", argv[0]);
        return 1;
    }
    const char *formula = argc == 3 ? argv[2] : default_formula;
    sf_error err;
    sf_source *src = NULL;
    sf_design *d = NULL;
    sf_linreg *lr = NULL;
    double *x = NULL, *y = NULL;
    char *table = NULL;
    const char **names = NULL;
    int rc = 0;

    /* 1. The source: the header is read and the column types inferred here. */
    sf_source_options so;
    sf_source_options_init(&so);
    if (sf_source_open(&src, argv[1], &so, &err) != SF_OK) return fail(&err, formula);

    /* 2. The design: parse, give the formula's free name a value, resolve the
     *    names against the columns. */
    if (sf_design_new(&d, formula, NULL, &err) != SF_OK ||
        sf_design_define(d, "lnames", "np.arange(5)", &err) != SF_OK ||
        sf_design_bind(d, src, &err) != SF_OK)
        goto error;

    /* 3. A formula that must learn from the data (categorical levels not listed,
     *    center(), standardize()) takes one pass first. With levels given, as
     *    here, it needs none. (A parallel program fits a clone per segment,
     *    sf_design_clone_empty, and merges them in order with sf_design_merge.) */
    if (sf_design_needs_fit(d)) {
        const sf_table *t;
        sf_status st;
        while ((st = sf_source_next(src, &t, &err)) == SF_OK)
            if (sf_design_partial_fit(d, t, &err) != SF_OK) goto error;
        if (st != SF_END || sf_source_rewind(src, &err) != SF_OK) goto error;
    }
    if (sf_design_finish(d, &err) != SF_OK) goto error;
    if (!sf_design_has_response(d)) {
        fprintf(stderr, "the formula needs a response: \"y ~ ...\"\n");
        rc = 1;
        goto done;
    }

    /* 4. The model. The design decides the constant: "0 + ..." has none, and a
     *    formula with an Intercept column carries it as a feature. */
    sf_linreg_params lp;
    sf_linreg_params_default(&lp);
    lp.fit_intercept = false;
    if (sf_linreg_new(&lr, &lp, &err) != SF_OK) goto error;

    /* 5. One pass: each chunk's design rows folded into the QR factor. Rows with
     *    a missing value are dropped and counted (patsy's NA_action="drop"). */
    size_t p = sf_design_n_columns(d);
    x = malloc(so.chunk_rows * p * sizeof *x);
    y = malloc(so.chunk_rows * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "out of memory\n");
        rc = 1;
        goto done;
    }
    uint64_t dropped = 0;
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK) {
        size_t n;
        if (sf_design_build(d, t, x, p, y, &n, &dropped, &err) != SF_OK ||
            sf_linreg_partial_fit(lr, x, n, p, p, y, NULL, &err) != SF_OK)
            goto error;
    }
    if (st != SF_END) goto error;

    /* 6. Solve R β = Qᵀy and print the table with the design's column names. */
    if (sf_linreg_finalize(lr, &err) != SF_OK) goto error;
    names = malloc(p * sizeof *names);
    if (!names) {
        fprintf(stderr, "out of memory\n");
        rc = 1;
        goto done;
    }
    for (size_t j = 0; j < p; j++) names[j] = sf_design_column_name(d, j);
    if (sf_linreg_summary(lr, names, p, sf_design_response_name(d), &table, &err) != SF_OK) goto error;
    fputs(table, stdout);
    printf("rows dropped for missing values: %llu\n", (unsigned long long)dropped);
    goto done;

error:
    rc = fail(&err, formula);
done:
    free(table);
    free(names);
    free(x);
    free(y);
    sf_linreg_free(lr);
    sf_design_free(d);
    sf_source_close(src);
    return rc;
}
