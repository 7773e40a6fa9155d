/* fuzz_where.c — libFuzzer target for row filters (sf_source_filter, --where):
 * any bytes must give a filter or a clean SF_ERR_ARG with where.source "<where>"
 * pointing inside the text (column 1 .. length + 1), never a crash, a hang or a
 * leak. A filter that compiles is read over a small memory source (numeric a, b
 * with NaN, integer k, text g with a missing value), in chunks of 4 rows so
 * some chunks keep nothing; then `not (EXPR)` must keep exactly the other rows. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamfit/streamfit.h"

enum { N = 10, P = 4 };

static sf_source *data(void)
{
    static double x[N * P];
    static const char *const names[] = {"a", "b", "k", "g"};
    for (size_t i = 0; i < N; i++) {
        x[i * P] = (double)i - 4.5;
        x[i * P + 1] = i % 4 == 1 ? NAN : (double)(i * i) / 7.0;
        x[i * P + 2] = (double)(i % 3);
        x[i * P + 3] = i == 6 ? NAN : (double)(i % 3); /* labels "0", "1", "2" */
    }
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 4;
    o.types = "g=category";
    sf_source *s = NULL;
    return sf_source_from_memory(&s, x, N, P, P, NULL, NULL, names, &o, NULL) == SF_OK ? s : NULL;
}

/* Reads the filter of text; keep[i] = 1 for the rows kept. -1: did not compile. */
static int run(const char *text, uint8_t *keep)
{
    sf_source *inner = data(), *f = NULL;
    if (!inner) return -1;
    sf_error err;
    sf_status st = sf_source_filter(&f, inner, text, &err);
    if (st != SF_OK) {
        if (st != SF_ERR_ARG && st != SF_ERR_NOMEM) abort();
        if (st == SF_ERR_ARG &&
            (strcmp(err.where.source, "<where>") != 0 || err.where.column < 1 ||
             err.where.column > strlen(text) + 1))
            abort();
        sf_source_close(inner);
        return -1;
    }
    memset(keep, 0, N);
    const sf_table *t;
    while ((st = sf_source_next(f, &t, &err)) == SF_OK)
        for (size_t i = 0; i < t->n_rows; i++) {
            uint64_t r = sf_table_row(t, i);
            if (r < 1 || r > N || keep[r - 1]) abort();
            keep[r - 1] = 1;
        }
    if (st != SF_END) abort();
    uint64_t seen = 0, dropped = 0, kept = 0;
    for (size_t i = 0; i < N; i++) kept += keep[i];
    if (sf_source_filter_counts(f, &seen, &dropped, &err) != SF_OK || seen != N || dropped != N - kept) abort();
    sf_source_close(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (size > 2048) return 0;
    char *text = malloc(size + 1), *neg = malloc(size + 8);
    if (!text || !neg) {
        free(text);
        free(neg);
        return 0;
    }
    memcpy(text, bytes, size);
    text[size] = '\0';
    uint8_t a[N], b[N];
    if (strlen(text) == size && run(text, a) == 0) {
        snprintf(neg, size + 8, "not (%s)", text);
        if (run(neg, b) == 0)
            for (size_t i = 0; i < N; i++)
                if (a[i] == b[i]) abort();
    }
    free(text);
    free(neg);
    return 0;
}
