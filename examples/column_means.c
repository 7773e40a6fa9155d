/* column_means.c — the smallest real use of libstreamfit from a C service: stream
 * any DATA (CSV, "-", or file.h5:/path) chunk by chunk and print each numeric
 * column's mean, in memory bounded by the chunk size.
 *
 *   cc column_means.c $(pkg-config --cflags --libs streamfit) -o column_means
 *   ./column_means data.csv
 */
#include <stdio.h>
#include <stdlib.h>

#include <streamfit/streamfit.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA\n", argv[0]);
        return 1;
    }
    sf_error err;
    sf_source *src = NULL;
    if (sf_source_open(&src, argv[1], NULL, &err) != SF_OK) {
        char msg[1024];
        sf_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return err.status == SF_ERR_IO ? 2 : 1;
    }
    size_t p = sf_source_n_columns(src);
    double *sum = calloc(p, sizeof *sum);
    unsigned long long *n = calloc(p, sizeof *n);
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(src, &t, &err)) == SF_OK)
        for (size_t j = 0; j < p; j++)
            if (t->cols[j].type == SF_COL_FLOAT)
                for (size_t i = 0; i < t->n_rows; i++)
                    if (!t->cols[j].missing[i]) {
                        sum[j] += t->cols[j].values[i];
                        n[j]++;
                    }
    int rc = 0;
    if (st != SF_END) {
        char msg[1024];
        sf_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        rc = 1;
    } else {
        for (size_t j = 0; j < p; j++)
            if (sf_source_column_type(src, j) == SF_COL_FLOAT)
                printf("%s\t%.17g\t(%llu values)\n", sf_source_column_name(src, j),
                       n[j] ? sum[j] / (double)n[j] : 0.0, n[j]);
    }
    free(sum);
    free(n);
    sf_source_close(src);
    return rc;
}
