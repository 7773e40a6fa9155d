/* memory_source.c — a caller's row-major doubles as table chunks (source kind
 * "memory"), so a C service fits a pipeline on arrays it already holds.
 *
 * The arrays are borrowed, never copied whole: next() copies at most chunk_rows
 * rows into the source's own table (column-major, NaN = missing), so memory stays
 * bounded by the chunk, as with a file. Columns are x's p columns, then y, then w.
 * Segments are fixed row ranges of opt->segment_rows rows over the whole array
 * (as HDF5 row ranges), never cut by the thread count, so a mergeable stage
 * fitted per segment and merged in segment order is bitwise the same for any
 * number of threads.
 *
 * A column counts as integer (sf_source_column_is_integer, Decision 10) when its
 * first chunk holds whole numbers below 1e15 in magnitude and no NaN: what the CSV
 * source infers from the same numbers printed in shortest round-trip form.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "streamfit/sf_number.h"

typedef struct mem_reader {
    const double *x, *y, *w; /* borrowed from the caller */
    size_t n, p, ld;         /* the whole array: n rows, p columns of x, stride ld */
    size_t begin, end;       /* this reader's rows [begin, end) */
    size_t cursor;
    size_t segment;
    sf_dict **dicts;         /* per column; only for columns typed category */
    sf_table *table;
    sf_source *src;
} mem_reader;

static const sf_source_ops memory_ops;

static void mem_close(void *impl)
{
    mem_reader *r = impl;
    if (!r) return;
    if (r->dicts && r->src)
        for (size_t j = 0; j < r->src->n_cols; j++) sf_dict_free(r->dicts[j]);
    free(r->dicts);
    sf_table_free(r->table);
    free(r);
}

/* Value of column j in row i: x's columns, then y, then w. */
static double cell(const mem_reader *r, size_t i, size_t j)
{
    if (j < r->p) return r->x[i * r->ld + j];
    if (j == r->p && r->y) return r->y[i];
    return r->w[i];
}

/* A whole number that a CSV of its shortest text reads as an integer field. */
static bool is_whole(double v)
{
    return fabs(v) < 1e15 && v == trunc(v);
}

static sf_status fill_category(mem_reader *r, sf_column *c, size_t j, size_t k, sf_error *err)
{
    for (size_t i = 0; i < k; i++) {
        double v = cell(r, r->cursor + i, j);
        c->missing[i] = isnan(v);
        if (isnan(v)) {
            c->codes[i] = -1;
            continue;
        }
        char text[40];
        size_t len = sf_format_double(v, text, sizeof text);
        sf_status st = sf_dict_intern(r->dicts[j], text, len, &c->codes[i], err);
        if (st != SF_OK) {
            if (err) {
                err->where.row = r->cursor - r->begin + i + 1;
                err->where.field = j + 1;
                sfi_strlcpy(err->where.source, r->src->name, sizeof err->where.source);
                sfi_error_field(err, r->src->names[j]);
            }
            return st;
        }
    }
    return SF_OK;
}

static sf_status mem_next(sf_source *src, const sf_table **out, sf_error *err)
{
    mem_reader *r = src->impl;
    if (r->cursor >= r->end) return SF_END;
    size_t left = r->end - r->cursor;
    size_t k = left < r->table->capacity ? left : r->table->capacity;
    sf_table *t = r->table;
    for (size_t j = 0; j < src->n_cols; j++) {
        sf_column *c = &t->cols[j];
        if (c->type == SF_COL_CATEGORY) {
            SF_TRY(fill_category(r, c, j, k, err));
            c->is_integer = false;
            continue;
        }
        bool whole = true;
        for (size_t i = 0; i < k; i++) {
            double v = cell(r, r->cursor + i, j);
            bool m = isnan(v);
            c->missing[i] = m;
            c->values[i] = m ? NAN : v;
            whole = whole && !m && is_whole(v);
        }
        c->is_integer = whole;
    }
    t->n_rows = k;
    t->first_row = r->cursor - r->begin + 1;
    t->segment = r->segment;
    memset(t->line, 0, k * sizeof *t->line);
    r->cursor += k;
    src->bytes_read += (uint64_t)k * src->n_cols * sizeof(double);
    *out = t;
    return SF_OK;
}

static sf_status mem_rewind(sf_source *src, sf_error *err)
{
    (void)err;
    mem_reader *r = src->impl;
    r->cursor = r->begin;
    src->bytes_read = 0;
    return SF_OK;
}

static size_t n_segments_of(const mem_reader *r, const sf_source *src)
{
    uint64_t seg = src->opt.segment_rows;
    if (r->n == 0) return 1; /* no rows: one empty segment */
    return (size_t)(r->n / seg + (r->n % seg != 0)); /* no n + seg - 1: seg may be huge */
}

static sf_status mem_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    (void)err;
    *n_out = n_segments_of(src->impl, src);
    return SF_OK;
}

/* Gives src a reader over rows [begin, end) with its own table and dictionaries. */
static sf_status attach_reader(sf_source *src, const mem_reader *from, size_t begin, size_t end,
                               size_t segment, sf_error *err)
{
    mem_reader *r = calloc(1, sizeof *r);
    if (!r) return sfi_nomem(err);
    *r = (mem_reader){.x = from->x, .y = from->y, .w = from->w, .n = from->n, .p = from->p,
                      .ld = from->ld, .begin = begin, .end = end, .cursor = begin,
                      .segment = segment, .src = src};
    src->impl = r;
    r->dicts = calloc(src->n_cols ? src->n_cols : 1, sizeof *r->dicts);
    if (!r->dicts) return sfi_nomem(err);
    for (size_t j = 0; j < src->n_cols; j++)
        if (src->types[j] == SF_COL_CATEGORY)
            SF_TRY(sf_dict_new(&r->dicts[j], src->opt.max_levels, err));
    size_t rows = end - begin;
    size_t cap = rows < src->opt.chunk_rows ? rows : src->opt.chunk_rows;
    SF_TRY(sf_table_new(&r->table, src->n_cols, src->types, (const char *const *)src->names,
                        r->dicts, cap ? cap : 1, err));
    r->table->segment = segment;
    src->size = (uint64_t)rows * src->n_cols * sizeof(double);
    return SF_OK;
}

static sf_status mem_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    const mem_reader *parent = src->impl;
    size_t n = n_segments_of(parent, src);
    if (i >= n) {
        sf_where w;
        sfi_where_init(&w, src->name);
        return sfi_fail(err, SF_ERR_ARG, &w, "segment %zu of %zu", i, n);
    }
    size_t seg = (size_t)src->opt.segment_rows;
    size_t begin = i * seg, end = parent->n - begin > seg ? begin + seg : parent->n;
    sf_source *s = NULL;
    SF_TRY(sfi_source_alloc(&s, &memory_ops, src->name, &src->opt, src->n_cols,
                            (const char *const *)src->names, err));
    memcpy(s->types, src->types, src->n_cols * sizeof *s->types);
    memcpy(s->is_integer, src->is_integer, src->n_cols * sizeof *s->is_integer);
    sf_status st = attach_reader(s, parent, begin, end, i, err);
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

static const sf_source_ops memory_ops = {
    .kind = "memory",
    .next = mem_next,
    .rewind = mem_rewind,
    .n_segments = mem_n_segments,
    .open_segment = mem_open_segment,
    .close = mem_close,
};

/* ------------------------------------------------------------------ opening */

static sf_status check_args(const double *x, size_t n, size_t p, size_t ld, const double *y,
                            const double *w, const sf_source_options *o, const sf_where *at,
                            sf_error *err)
{
    if (p == 0 && !y && !w) return sfi_fail(err, SF_ERR_ARG, at, "no columns: p is 0 and no y or w");
    if (p && ld < p) return sfi_fail(err, SF_ERR_ARG, at, "ld (%zu) is smaller than p (%zu)", ld, p);
    if (n && p && !x) return sfi_fail(err, SF_ERR_ARG, at, "x is NULL with %zu rows", n);
    if (n && p && (n - 1) > (SIZE_MAX / sizeof(double) - p) / ld)
        return sfi_fail(err, SF_ERR_ARG, at, "n x ld overflows the address space");
    if (o->chunk_rows == 0) return sfi_fail(err, SF_ERR_ARG, at, "chunk_rows must be positive");
    return SF_OK;
}

/* Column names: the caller's, or x0, x1, …, y, weight. Fills names[0..n_cols). */
static sf_status column_names(const char *const *given, size_t n_cols, size_t p, bool has_y,
                              char **names, const sf_where *at, sf_error *err)
{
    for (size_t j = 0; j < n_cols; j++) {
        if (given) {
            if (!given[j]) return sfi_fail(err, SF_ERR_ARG, at, "names[%zu] is NULL", j);
            names[j] = strdup(given[j]);
        } else if (j < p) {
            names[j] = malloc(24);
            if (names[j]) snprintf(names[j], 24, "x%zu", j);
        } else
            names[j] = strdup(j == p && has_y ? "y" : "weight");
        if (!names[j]) return sfi_nomem(err);
        for (size_t i = 0; i < j; i++)
            if (strcmp(names[i], names[j]) == 0)
                return sfi_fail(err, SF_ERR_ARG, at, "column name \"%s\" given twice", names[j]);
    }
    return SF_OK;
}

/* Whether each float column's first chunk holds whole numbers only (CSV's rule). */
static void infer_integers(sf_source *s, const mem_reader *r)
{
    size_t k = r->n < s->opt.chunk_rows ? r->n : s->opt.chunk_rows;
    for (size_t j = 0; j < s->n_cols; j++) {
        bool whole = k > 0;
        for (size_t i = 0; i < k && whole; i++) whole = is_whole(cell(r, i, j));
        s->is_integer[j] = whole;
    }
}

sf_status sf_source_from_memory(sf_source **out, const double *x, size_t n, size_t p, size_t ld,
                                const double *y, const double *w, const char *const *names,
                                const sf_source_options *opt, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_from_memory: NULL out");
    *out = NULL;
    sf_where at;
    sfi_where_init(&at, "<memory>");
    sf_source_options o;
    if (opt) o = *opt;
    else sf_source_options_init(&o);
    if (o.max_levels == 0) o.max_levels = 10000;
    if (o.segment_rows == 0) o.segment_rows = SF_SEGMENT_ROWS_DEFAULT;
    SF_TRY(check_args(x, n, p, ld, y, w, &o, &at, err));
    size_t n_cols = p + (y != NULL) + (w != NULL);
    char **own = calloc(n_cols, sizeof *own);
    if (!own) return sfi_nomem(err);
    sf_source *s = NULL;
    sf_status st = column_names(names, n_cols, p, y != NULL, own, &at, err);
    if (st == SF_OK)
        st = sfi_source_alloc(&s, &memory_ops, "<memory>", &o, n_cols, (const char *const *)own, err);
    for (size_t j = 0; j < n_cols; j++) free(own[j]);
    free(own);
    if (st != SF_OK) return st;
    mem_reader whole = {.x = x, .y = y, .w = w, .n = n, .p = p, .ld = ld};
    infer_integers(s, &whole);
    st = sfi_source_apply_types(s, err);
    if (st == SF_OK) st = attach_reader(s, &whole, 0, n, 0, err);
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}
