/* source.c — the public sf_source API: names data, checks arguments, dispatches
 * to the kind (CSV, HDF5 or svmlight, or several files: io/multi_source.c) through
 * sf_source_ops. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"

/* n_features and zero_based took 12 of the 32 reserved bytes: the size stays */
_Static_assert(sizeof(sf_source_options) == offsetof(sf_source_options, n_features) + 32,
               "sf_source_options changed size");

void sf_source_options_init(sf_source_options *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_rows = 16384;
    o->delimiter = ',';
    o->has_header = true;
    o->max_levels = 10000;
    o->segment_bytes = 32u << 20;
    o->segment_rows = SF_SEGMENT_ROWS_DEFAULT;
}

sf_status sfi_source_alloc(sf_source **out, const sf_source_ops *ops, const char *name,
                           const sf_source_options *opt, size_t n_cols,
                           const char *const *names, sf_error *err)
{
    *out = NULL;
    sf_source *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->ops = ops;
    pthread_mutex_init(&s->bad_mu, NULL);
    s->bad_slot = SIZE_MAX;
    sfi_strlcpy(s->name, name, sizeof s->name);
    s->opt = *opt;
    s->n_cols = n_cols;
    s->names = calloc(n_cols ? n_cols : 1, sizeof *s->names);
    s->types = calloc(n_cols ? n_cols : 1, sizeof *s->types);
    s->is_integer = calloc(n_cols ? n_cols : 1, sizeof *s->is_integer);
    if (!s->names || !s->types || !s->is_integer) goto fail;
    for (size_t j = 0; j < n_cols; j++) {
        s->names[j] = strdup(names[j] ? names[j] : "");
        if (!s->names[j]) goto fail;
    }
    *out = s;
    return SF_OK;
fail:
    sfi_source_free_header(s);
    return sfi_nomem(err);
}

void sfi_source_free_header(sf_source *s)
{
    if (!s) return;
    if (s->names)
        for (size_t j = 0; j < s->n_cols; j++) free(s->names[j]);
    free(s->names);
    free(s->types);
    free(s->is_integer);
    for (size_t g = 0; g < s->n_bad_slots; g++) free(s->bad_slots[g].kept);
    free(s->bad_slots);
    pthread_mutex_destroy(&s->bad_mu);
    free(s);
}

static void bad_log_add(sfi_bad_log *log, const sf_error *e)
{
    log->count++;
    if (log->n_kept < SF_SOURCE_BAD_KEPT) log->kept[log->n_kept++] = *e;
}

void sfi_source_bad_row(sf_source *src, const sf_error *e)
{
    bad_log_add(&src->bad, e);
    sf_source *p = src->bad_parent;
    if (!p) return;
    /* at once, under the parent's lock: segment readers run in parallel */
    pthread_mutex_lock(&p->bad_mu);
    if (src->bad_slot == SIZE_MAX) bad_log_add(&p->bad, e);
    else if (src->bad_slot < p->n_bad_slots) {
        sfi_bad_slot *g = &p->bad_slots[src->bad_slot];
        g->count++;
        if (!g->kept) g->kept = malloc(SF_SOURCE_BAD_KEPT * sizeof *g->kept);
        if (g->kept && g->n_kept < SF_SOURCE_BAD_KEPT) g->kept[g->n_kept++] = *e;
    }
    pthread_mutex_unlock(&p->bad_mu);
}

void sfi_source_bad_adopt(sf_source *parent, sf_source *child, size_t slot)
{
    child->bad_parent = parent;
    child->bad_slot = slot;
    if (slot == SIZE_MAX) return;
    pthread_mutex_lock(&parent->bad_mu);
    if (slot >= parent->n_bad_slots) {
        size_t n = slot + 1 > 2 * parent->n_bad_slots ? slot + 1 : 2 * parent->n_bad_slots;
        sfi_bad_slot *g = realloc(parent->bad_slots, n * sizeof *g);
        if (g) {
            memset(g + parent->n_bad_slots, 0, (n - parent->n_bad_slots) * sizeof *g);
            parent->bad_slots = g;
            parent->n_bad_slots = n;
        } else {
            child->bad_parent = NULL; /* out of memory: the segment keeps its own count */
        }
    }
    /* the segment is read again from its start: its earlier count is replaced */
    if (child->bad_parent) {
        free(parent->bad_slots[slot].kept);
        memset(&parent->bad_slots[slot], 0, sizeof parent->bad_slots[slot]);
    }
    pthread_mutex_unlock(&parent->bad_mu);
}

/* The malformed rows of one full pass: the source's own reads or its segments',
 * whichever saw more (a fit may read some passes whole and others by segment). */
static void bad_total(sf_source *s, uint64_t *count, sf_error *kept, size_t *n_kept)
{
    pthread_mutex_lock(&s->bad_mu);
    uint64_t seg = 0;
    for (size_t g = 0; g < s->n_bad_slots; g++) seg += s->bad_slots[g].count;
    *n_kept = 0;
    if (s->bad.count >= seg) {
        *count = s->bad.count;
        for (size_t k = 0; k < s->bad.n_kept; k++) kept[(*n_kept)++] = s->bad.kept[k];
    } else {
        *count = seg;
        for (size_t g = 0; g < s->n_bad_slots; g++)
            for (size_t k = 0; k < s->bad_slots[g].n_kept && *n_kept < SF_SOURCE_BAD_KEPT; k++)
                kept[(*n_kept)++] = s->bad_slots[g].kept[k];
    }
    pthread_mutex_unlock(&s->bad_mu);
}

void sf_source_bad_rows(const sf_source *src, uint64_t *count, sf_error *first)
{
    for (const sf_source *in; (in = sfi_filter_inner(src));) src = in; /* a filter's are its inner source's */
    uint64_t n = 0;
    size_t n_kept = 0;
    sf_error kept[SF_SOURCE_BAD_KEPT];
    /* the lock is the only thing written: the counts themselves are read */
    if (src) bad_total((sf_source *)src, &n, kept, &n_kept);
    if (count) *count = n;
    if (first) {
        if (n_kept) *first = kept[0];
        else sf_error_clear(first);
    }
}

bool sf_source_bad_row_error(const sf_source *src, size_t k, sf_error *out)
{
    for (const sf_source *in; (in = sfi_filter_inner(src));) src = in; /* a filter's are its inner source's */
    uint64_t n = 0;
    size_t n_kept = 0;
    sf_error kept[SF_SOURCE_BAD_KEPT];
    if (src) bad_total((sf_source *)src, &n, kept, &n_kept);
    if (k < n_kept) {
        if (out) *out = kept[k];
        return true;
    }
    if (out) sf_error_clear(out);
    return false;
}

sf_status sfi_source_apply_types(sf_source *s, sf_error *err)
{
    const char *p = s->opt.types;
    if (!p || !*p) return SF_OK;
    sf_where w;
    sfi_where_init(&w, s->name);
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end)
            return sfi_fail(err, SF_ERR_ARG, &w, "bad --types entry \"%.*s\": expected NAME=TYPE",
                            (int)(end - p), p);
        bool optional = *p == '?'; /* "?name=type": ignored without such a column */
        const char *name = p + optional;
        size_t nlen = (size_t)(eq - name), tlen = (size_t)(end - eq - 1);
        long col = -1;
        for (size_t j = 0; j < s->n_cols; j++)
            if (strlen(s->names[j]) == nlen && memcmp(s->names[j], name, nlen) == 0) col = (long)j;
        if (col < 0 && optional) {
            p = *end ? end + 1 : end;
            continue;
        }
        if (col < 0)
            return sfi_fail(err, SF_ERR_ARG, &w, "--types names an unknown column \"%.*s\"",
                            (int)nlen, name);
        const char *t = eq + 1;
#define IS(word) (tlen == strlen(word) && memcmp(t, word, tlen) == 0)
        if (IS("category") || IS("cat") || IS("str") || IS("string"))
            s->types[col] = SF_COL_CATEGORY;
        else if (IS("float") || IS("double") || IS("float64")) {
            s->types[col] = SF_COL_FLOAT;
            s->is_integer[col] = false;
        } else if (IS("int") || IS("integer") || IS("int64")) {
            s->types[col] = SF_COL_FLOAT;
            s->is_integer[col] = true;
        } else
            return sfi_fail(err, SF_ERR_ARG, &w,
                            "unknown type \"%.*s\" for column \"%.*s\" (valid: float, int, category)",
                            (int)tlen, t, (int)nlen, name);
#undef IS
        p = *end ? end + 1 : end;
    }
    return SF_OK;
}

/* "file.h5:/path" splits at the last ":/" (Decision 14). */
static bool split_hdf5(const char *spec, char **file, const char **path)
{
    const char *cut = NULL;
    for (const char *q = strstr(spec, ":/"); q; q = strstr(q + 1, ":/")) cut = q;
    if (!cut) return false;
    *file = strndup(spec, (size_t)(cut - spec));
    *path = cut + 1;
    return *file != NULL;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static const char *type_name(sf_coltype t)
{
    return t == SF_COL_CATEGORY ? "category" : "float";
}

sf_status sfi_source_check_columns(const sf_source *like, const sf_source *s, bool check_types,
                                   sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, s->name);
    w.line = sfi_source_is_csv(s) ? 1 : 0;
    size_t n = like->n_cols < s->n_cols ? like->n_cols : s->n_cols;
    for (size_t j = 0; j < n; j++) {
        w.field = j + 1;
        if (strcmp(like->names[j], s->names[j]) != 0)
            return sfi_fail(err, SF_ERR_PARSE, &w,
                            "columns differ from the first file's: column %zu is \"%s\", expected \"%s\"",
                            j + 1, s->names[j], like->names[j]);
        if (check_types && like->types[j] != s->types[j])
            return sfi_fail(err, SF_ERR_PARSE, &w,
                            "column \"%s\" is %s here but %s in the first file", s->names[j],
                            type_name(s->types[j]), type_name(like->types[j]));
    }
    if (like->n_cols == s->n_cols) return SF_OK;
    w.field = n + 1;
    if (s->n_cols > n)
        return sfi_fail(err, SF_ERR_PARSE, &w, "columns differ from the first file's: extra column %zu \"%s\"",
                        n + 1, s->names[n]);
    return sfi_fail(err, SF_ERR_PARSE, &w, "columns differ from the first file's: column %zu \"%s\" is missing",
                    n + 1, like->names[n]);
}

sf_status sfi_source_open_file(sf_source **out, const char *file, const char *dataset,
                               const sf_source_options *opt, const sf_source *like, sf_error *err)
{
    *out = NULL;
    if (!dataset && (has_suffix(file, ".h5") || has_suffix(file, ".hdf5") || has_suffix(file, ".hdf")))
        dataset = "/";
    if (!dataset && sfi_is_svmlight_name(file)) {
        if (like) { /* several svmlight files are one set (io/multi_source.c): here the first is not */
            sf_where w;
            sfi_where_init(&w, file);
            return sfi_fail(err, SF_ERR_PARSE, &w, "an svmlight file, but the first file is not");
        }
        return sfi_svmlight_open(out, file, opt, err);
    }
    if (!dataset) return sfi_csv_open(out, file, opt, like, err);
    SF_TRY(sfi_hdf5_open(out, file, dataset, opt, err));
    if (!like) return SF_OK;
    sf_status st = sfi_source_check_columns(like, *out, true, err);
    if (st != SF_OK) {
        sf_source_close(*out);
        *out = NULL;
    }
    return st;
}

static bool is_pattern(const char *s) { return strpbrk(s, "*?[") != NULL; }

sf_status sf_source_open(sf_source **out, const char *spec, const sf_source_options *opt,
                         sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_open: NULL out");
    *out = NULL;
    if (!spec || !*spec) return sfi_fail(err, SF_ERR_ARG, NULL, "no data named");
    sf_source_options o;
    if (opt) o = *opt;
    else sf_source_options_init(&o);
    if (o.chunk_rows == 0) return sfi_fail(err, SF_ERR_ARG, NULL, "chunk_rows must be positive");
    if (o.max_levels == 0) o.max_levels = 10000;
    if (o.segment_bytes == 0) o.segment_bytes = 32u << 20;
    if (o.segment_rows == 0) o.segment_rows = SF_SEGMENT_ROWS_DEFAULT;
    char *file = NULL;
    const char *path = NULL;
    if (!split_hdf5(spec, &file, &path) && path) return sfi_nomem(err);
    const char *name = file ? file : spec;
    sf_status st = strcmp(name, "-") != 0 && is_pattern(name)
                       ? sfi_multi_open(out, name, path, &o, err)
                       : sfi_source_open_file(out, name, path, &o, NULL, err);
    free(file);
    return st;
}

size_t sf_source_n_sparse_features(const sf_source *src) { return src ? src->sparse_n_features : 0; }

void sf_source_close(sf_source *src)
{
    if (!src) return;
    if (src->ops && src->ops->close) src->ops->close(src->impl);
    sfi_source_free_header(src);
}

sf_status sf_source_next(sf_source *src, const sf_table **out, sf_error *err)
{
    if (!src || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_next: NULL argument");
    *out = NULL;
    if (src->failed) {
        sf_where w;
        sfi_where_init(&w, src->name);
        return sfi_fail(err, SF_ERR_STATE, &w, "source already failed; rewind or close it");
    }
    sf_status st = src->ops->next(src, out, err);
    if (SF_IS_ERROR(st)) src->failed = true;
    return st;
}

sf_status sf_source_rewind(sf_source *src, sf_error *err)
{
    if (!src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_rewind: NULL source");
    sf_status st = src->ops->rewind(src, err);
    if (st == SF_OK) {
        src->failed = false;
        pthread_mutex_lock(&src->bad_mu);
        memset(&src->bad, 0, sizeof src->bad);
        pthread_mutex_unlock(&src->bad_mu);
    }
    return st;
}

size_t sf_source_n_columns(const sf_source *src) { return src ? src->n_cols : 0; }

const char *sf_source_column_name(const sf_source *src, size_t i)
{
    return src && i < src->n_cols ? src->names[i] : NULL;
}

sf_coltype sf_source_column_type(const sf_source *src, size_t i)
{
    return src && i < src->n_cols ? src->types[i] : SF_COL_FLOAT;
}

bool sf_source_column_is_integer(const sf_source *src, size_t i)
{
    return src && i < src->n_cols && src->is_integer[i];
}

long sf_source_column_index(const sf_source *src, const char *name)
{
    if (!src || !name) return -1;
    for (size_t j = 0; j < src->n_cols; j++)
        if (strcmp(src->names[j], name) == 0) return (long)j;
    return -1;
}

const char *sf_source_name(const sf_source *src) { return src ? src->name : NULL; }
uint64_t sf_source_bytes_read(const sf_source *src) { return src ? src->bytes_read : 0; }
uint64_t sf_source_size(const sf_source *src) { return src ? src->size : 0; }

sf_status sf_source_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    if (!src || !n_out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_n_segments: NULL argument");
    return src->ops->n_segments(src, n_out, err);
}

sf_status sf_source_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    if (!src || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_source_open_segment: NULL argument");
    *out = NULL;
    sf_status st = src->ops->open_segment(src, i, out, err);
    if (st == SF_OK) sfi_source_bad_adopt(src, *out, i);
    return st;
}
