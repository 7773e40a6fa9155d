/* sf_rows.h — test helpers: a source read whole into rows (values, labels,
 * missing flags, line numbers) and a row-for-row comparison (bitwise doubles,
 * labels compared as text since dictionaries differ between readers). */
#ifndef SF_ROWS_H
#define SF_ROWS_H
#include "sf_test.h"

typedef struct rows {
    size_t n, n_cols;
    double *v;       /* float value, or category code mapped to label index */
    char **label;    /* category label or NULL */
    uint8_t *miss;
    uint64_t *line;
} rows;

static inline void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n * r->n_cols; i++) free(r->label[i]);
    free(r->v);
    free(r->label);
    free(r->miss);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static inline void rows_add(rows *r, const sf_table *t)
{
    size_t nc = t->n_cols, n = r->n + t->n_rows;
    r->n_cols = nc;
    r->v = realloc(r->v, n * nc * sizeof *r->v);
    r->label = realloc(r->label, n * nc * sizeof *r->label);
    r->miss = realloc(r->miss, n * nc);
    r->line = realloc(r->line, n * sizeof *r->line);
    for (size_t i = 0; i < t->n_rows; i++) {
        size_t k = r->n + i;
        r->line[k] = t->line[i];
        for (size_t j = 0; j < nc; j++) {
            const sf_column *c = &t->cols[j];
            r->miss[k * nc + j] = c->missing[i];
            r->label[k * nc + j] = NULL;
            r->v[k * nc + j] = 0;
            if (c->type == SF_COL_FLOAT) r->v[k * nc + j] = c->values[i];
            else if (c->codes[i] >= 0)
                r->label[k * nc + j] = strdup(sf_dict_label(c->dict, (size_t)c->codes[i], NULL));
        }
    }
    r->n = n;
}

/* Reads a whole source into rows; returns the final status. */
static inline sf_status read_all(sf_source *s, rows *r, sf_error *err)
{
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(s, &t, err)) == SF_OK) rows_add(r, t);
    return st;
}

static inline void assert_rows_equal(const rows *a, const rows *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->n_cols, b->n_cols);
    for (size_t k = 0; k < a->n * a->n_cols; k++) {
        assert_int_equal(a->miss[k], b->miss[k]);
        if (a->label[k] || b->label[k]) assert_string_equal(a->label[k], b->label[k]);
        else if (!a->miss[k]) assert_double_bits(a->v[k], b->v[k]);
    }
    for (size_t i = 0; i < a->n; i++) assert_int_equal(a->line[i], b->line[i]);
}

/* Reads every segment of s in order into r; returns the number of segments. */
static inline size_t read_segments(sf_source *s, rows *r)
{
    sf_error err;
    size_t n = 0;
    assert_int_equal(sf_source_n_segments(s, &n, &err), SF_OK);
    for (size_t g = 0; g < n; g++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
        assert_int_equal(read_all(seg, r, &err), SF_END);
        sf_source_close(seg);
    }
    return n;
}

#endif
