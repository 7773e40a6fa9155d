/* filter_source.c — a source that keeps the rows of another for which a row
 * filter holds (kind "filter"; sf_source_filter, the CLI's --where).
 *
 * next() takes the inner source's chunk, evaluates the predicate on it column-wise
 * (preprocess/expr.h, the formula language's expression engine), and hands the
 * chunk on untouched when every row is kept; else it copies the kept rows into its
 * own table, with each row's physical line and record number (sf_table.row), so
 * later errors name the right line and row. A chunk with no row kept is skipped,
 * never ended on. Text comparisons look labels up in each chunk's dictionary
 * (dictionaries belong to a file or a segment).
 *
 * Segments are the inner source's, each wrapped with the same compiled predicate
 * (shared, read only), so parallel passes and predict stay parallel and ordered.
 * Counts: a read that reaches the end records its rows seen and dropped in a slot
 * of the top-level filter — its segment's, or the whole source's — overwriting
 * the slot's previous pass (every pass over the same data filters the same rows).
 * sf_source_filter_counts() reports the whole source's last complete read when
 * there was one, else the sum of the segments' slots.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "preprocess/expr.h"

/* What the top-level filter and its segment readers share; the top level owns it. */
typedef struct filter_shared {
    sfi_expr *expr;
    size_t n_seg;                       /* 0 until counted */
    _Atomic uint64_t *seg_seen, *seg_dropped;
    _Atomic uint64_t whole_seen, whole_dropped;
    atomic_bool whole_done;
} filter_shared;

typedef struct filter_reader {
    sf_source *src;
    sf_source *inner;      /* owned */
    filter_shared *sh;     /* owned by the top level, borrowed by segments */
    bool top;
    size_t slot;           /* segment readers: their segment */
    sf_table *out;         /* kept rows of the last chunk, or NULL */
    uint64_t *rows;        /* out->row: out->capacity record numbers */
    uint8_t *keep;
    size_t keep_cap;
    sfi_expr_buf buf;
    uint64_t seen, dropped; /* this read so far */
} filter_reader;

static const sf_source_ops filter_ops;

static void shared_free(filter_shared *sh)
{
    if (!sh) return;
    sfi_expr_free(sh->expr);
    free(sh->seg_seen);
    free(sh->seg_dropped);
    free(sh);
}

static void filter_close(void *impl)
{
    filter_reader *r = impl;
    if (!r) return;
    sf_source_close(r->inner);
    if (r->out) r->out->row = NULL;
    sf_table_free(r->out);
    free(r->rows);
    free(r->keep);
    sfi_expr_buf_free(&r->buf);
    if (r->top) shared_free(r->sh);
    free(r);
}

/* A header like inner's around a new reader; takes inner on success. */
static sf_status wrap(sf_source **out, sf_source *inner, filter_shared *sh, bool top, size_t slot,
                      sf_error *err)
{
    sf_source *s = NULL;
    SF_TRY(sfi_source_alloc(&s, &filter_ops, inner->name, &inner->opt, inner->n_cols,
                            (const char *const *)inner->names, err));
    filter_reader *r = calloc(1, sizeof *r);
    if (!r) {
        sfi_source_free_header(s);
        return sfi_nomem(err);
    }
    memcpy(s->types, inner->types, inner->n_cols * sizeof *s->types);
    memcpy(s->is_integer, inner->is_integer, inner->n_cols * sizeof *s->is_integer);
    s->size = inner->size;
    s->bytes_read = inner->bytes_read;
    *r = (filter_reader){.src = s, .inner = inner, .sh = sh, .top = top, .slot = slot};
    s->impl = r;
    *out = s;
    return SF_OK;
}

/* Records a finished read in its slot. */
static void record(filter_reader *r)
{
    filter_shared *sh = r->sh;
    if (r->top) {
        atomic_store(&sh->whole_seen, r->seen);
        atomic_store(&sh->whole_dropped, r->dropped);
        atomic_store(&sh->whole_done, true);
    } else if (r->slot < sh->n_seg) {
        atomic_store(&sh->seg_seen[r->slot], r->seen);
        atomic_store(&sh->seg_dropped[r->slot], r->dropped);
    }
}

/* Room for n rows in r->out, made like t (types; names and dictionaries are
 * borrowed from t each chunk). */
static sf_status ensure_out(filter_reader *r, const sf_table *t, sf_error *err)
{
    if (r->out && r->out->capacity >= t->n_rows) return SF_OK;
    size_t cap = t->n_rows > r->src->opt.chunk_rows ? t->n_rows : r->src->opt.chunk_rows;
    sf_table *nt = NULL;
    uint64_t *rows = malloc(cap * sizeof *rows);
    sf_status st = rows ? sf_table_new(&nt, t->n_cols, r->src->types, t->names, NULL, cap, err) : sfi_nomem(err);
    if (st != SF_OK) {
        free(rows);
        return st;
    }
    if (r->out) r->out->row = NULL;
    sf_table_free(r->out);
    free(r->rows);
    r->out = nt;
    r->rows = rows;
    return SF_OK;
}

/* Copies the kept rows of t into r->out. */
static sf_status compact(filter_reader *r, const sf_table *t, size_t k, sf_error *err)
{
    SF_TRY(ensure_out(r, t, err));
    sf_table *o = r->out;
    const uint8_t *keep = r->keep;
    for (size_t j = 0; j < t->n_cols; j++) {
        const sf_column *c = &t->cols[j];
        sf_column *d = &o->cols[j];
        d->is_integer = c->is_integer;
        d->dict = c->dict;
        /* branch-free: every row is written, the cursor moves past kept ones
         * (out has room for all of t's rows) */
        size_t q = 0;
        if (c->type == SF_COL_CATEGORY)
            for (size_t i = 0; i < t->n_rows; i++) {
                d->codes[q] = c->codes[i];
                d->missing[q] = c->missing[i];
                q += keep[i];
            }
        else
            for (size_t i = 0; i < t->n_rows; i++) {
                d->values[q] = c->values[i];
                d->missing[q] = c->missing[i];
                q += keep[i];
            }
    }
    size_t q = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        o->line[q] = t->line ? t->line[i] : 0;
        r->rows[q] = sf_table_row(t, i);
        q += keep[i];
    }
    o->n_rows = k;
    o->names = t->names;
    o->segment = t->segment;
    o->first_row = r->rows[0];
    o->row = r->rows;
    return SF_OK;
}

static sf_status filter_next(sf_source *src, const sf_table **out, sf_error *err)
{
    filter_reader *r = src->impl;
    for (;;) {
        const sf_table *t;
        sf_status st = sf_source_next(r->inner, &t, err);
        src->bytes_read = r->inner->bytes_read;
        if (st == SF_END) record(r);
        if (st != SF_OK) return st;
        if (r->keep_cap < t->n_rows) {
            uint8_t *nk = realloc(r->keep, t->n_rows);
            if (!nk) return sfi_nomem(err);
            r->keep = nk;
            r->keep_cap = t->n_rows;
        }
        size_t k;
        st = sfi_expr_eval(r->sh->expr, t, &r->buf, r->keep, &k, err);
        if (st != SF_OK) return st;
        r->seen += t->n_rows;
        r->dropped += t->n_rows - k;
        if (k == t->n_rows) {
            *out = t;
            return SF_OK;
        }
        if (k == 0) continue;
        SF_TRY(compact(r, t, k, err));
        *out = r->out;
        return SF_OK;
    }
}

static sf_status filter_rewind(sf_source *src, sf_error *err)
{
    filter_reader *r = src->impl;
    SF_TRY(sf_source_rewind(r->inner, err));
    r->seen = r->dropped = 0;
    src->bytes_read = r->inner->bytes_read;
    return SF_OK;
}

static sf_status filter_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    filter_reader *r = src->impl;
    SF_TRY(sf_source_n_segments(r->inner, n_out, err));
    filter_shared *sh = r->sh;
    if (!r->top || sh->n_seg == *n_out) return SF_OK;
    /* slots for the segments' counts: before any worker starts */
    _Atomic uint64_t *a = calloc(*n_out ? *n_out : 1, sizeof *a), *b = calloc(*n_out ? *n_out : 1, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return sfi_nomem(err);
    }
    for (size_t i = 0; i < *n_out; i++) {
        atomic_init(&a[i], 0);
        atomic_init(&b[i], 0);
    }
    free(sh->seg_seen);
    free(sh->seg_dropped);
    sh->seg_seen = a;
    sh->seg_dropped = b;
    sh->n_seg = *n_out;
    return SF_OK;
}

static sf_status filter_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    filter_reader *r = src->impl;
    size_t n;
    if (r->top && !r->sh->n_seg) SF_TRY(filter_n_segments(src, &n, err));
    sf_source *seg = NULL;
    SF_TRY(sf_source_open_segment(r->inner, i, &seg, err));
    sf_status st = wrap(out, seg, r->sh, false, r->top ? i : r->slot, err);
    if (st != SF_OK) sf_source_close(seg);
    return st;
}

static const sf_source_ops filter_ops = {
    .kind = "filter",
    .next = filter_next,
    .rewind = filter_rewind,
    .n_segments = filter_n_segments,
    .open_segment = filter_open_segment,
    .close = filter_close,
};

sf_status sf_source_filter(sf_source **out, sf_source *inner, const char *expr, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_filter: NULL out");
    *out = NULL;
    if (!inner || !expr) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_filter: NULL source or expression");
    if (sf_source_n_sparse_features(inner) > 0) {
        /* compact() moves dense columns only; a CSR part would need its rows moved too */
        sf_where w;
        sfi_where_init(&w, inner->name);
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "row filters (--where) do not take sparse (svmlight) data");
    }
    filter_shared *sh = calloc(1, sizeof *sh);
    if (!sh) return sfi_nomem(err);
    atomic_init(&sh->whole_seen, 0);
    atomic_init(&sh->whole_dropped, 0);
    atomic_init(&sh->whole_done, false);
    sf_status st = sfi_expr_compile(&sh->expr, expr, inner, err);
    if (st == SF_OK) st = wrap(out, inner, sh, true, 0, err);
    if (st != SF_OK) shared_free(sh);
    return st;
}

sf_status sf_source_filter_counts(const sf_source *src, uint64_t *seen, uint64_t *dropped, sf_error *err)
{
    if (!src || !seen || !dropped)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_filter_counts: NULL argument");
    if (src->ops != &filter_ops) {
        sf_where w;
        sfi_where_init(&w, src->name);
        return sfi_fail(err, SF_ERR_ARG, &w, "not a filtered source (sf_source_filter)");
    }
    const filter_reader *r = src->impl;
    const filter_shared *sh = r->sh;
    *seen = *dropped = 0;
    if (r->top && atomic_load(&sh->whole_done)) {
        *seen = atomic_load(&sh->whole_seen);
        *dropped = atomic_load(&sh->whole_dropped);
    } else if (r->top) {
        for (size_t i = 0; i < sh->n_seg; i++) {
            *seen += atomic_load(&sh->seg_seen[i]);
            *dropped += atomic_load(&sh->seg_dropped[i]);
        }
    } else if (r->slot < sh->n_seg) {
        *seen = atomic_load(&sh->seg_seen[r->slot]);
        *dropped = atomic_load(&sh->seg_dropped[r->slot]);
    }
    return SF_OK;
}

const sf_source *sfi_filter_inner(const sf_source *src)
{
    return src && src->ops == &filter_ops ? ((const filter_reader *)src->impl)->inner : NULL;
}
