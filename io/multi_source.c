/* multi_source.c — several files read in order as one source (kind "multi",
 * Decision 12): a glob pattern such as 'trips-2015-*.csv', expanded by glob(3)
 * in sorted order.
 *
 * Every file must have the first file's columns (the same names in the same
 * order; checked for all files at open, so a fit does not fail an hour in). The
 * column types are inferred from the first file's first chunk (or given by
 * --types) and then enforced on every file: text in a float column of a later
 * file is the usual parse error naming that file, line and column. Each file's
 * reader has its own categorical dictionaries (consumers map by label). Rows
 * keep their file's line numbers, and first_row counts within the file.
 *
 * The segments are the concatenation of every file's segments, so passes run in
 * parallel across and within files. Counting them (n_segments) opens each file
 * once and, for CSV, keeps its byte ranges, so opening a segment later (from any
 * worker thread) reads only that range. One file is open at a time while the
 * source is read whole.
 *
 * svmlight files (the first file's name says so; then every file's must) share
 * one sfi_svm_set (io/svmlight_source.c): n_features, zero_based "auto" and the
 * labels are decided over all files at open, as sklearn's load_svmlight_files
 * does, and each file's reader borrows them instead of scanning again; its
 * segment bounds come from that scan, so a segment opens directly by range.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/source_impl.h"

typedef struct multi_seg {
    size_t file;         /* index into files */
    size_t local;        /* segment index within the file */
    bool csv;            /* range is valid: reopen by byte range */
    sfi_csv_range range;
} multi_seg;

typedef struct multi_reader {
    sf_source *src;
    char **files;
    size_t n_files;
    char *dataset;        /* HDF5 path inside every file, or NULL */
    sfi_svm_set *svm;     /* svmlight files: what was decided over all of them; else NULL */
    sf_source *cur;       /* the open file (reading whole), or the lent segment */
    size_t cur_i;
    uint64_t done_bytes;  /* bytes of the files before cur */
    multi_seg *segs;      /* NULL until counted */
    size_t n_segs;
    /* a segment reader of a non-CSV file: the file source its segment came from */
    sf_source *lender;
    size_t segment;
} multi_reader;

static const sf_source_ops multi_ops, multi_seg_ops;

static void multi_close(void *impl)
{
    multi_reader *m = impl;
    if (!m) return;
    sf_source_close(m->cur);
    sf_source_close(m->lender);
    for (size_t i = 0; i < m->n_files; i++) free(m->files[i]);
    free(m->files);
    free(m->dataset);
    free(m->segs);
    sfi_svmlight_set_free(m->svm); /* after its readers */
    free(m);
}

/* File i's reader; like: the source whose columns it must have (NULL: the first file). */
static sf_status open_member(multi_reader *m, size_t i, const sf_source_options *opt, const sf_source *like,
                             sf_source **out, sf_error *err)
{
    if (m->svm) return sfi_svmlight_open_member(out, m->svm, i, opt, err);
    return sfi_source_open_file(out, m->files[i], m->dataset, opt, like, err);
}

static sf_status open_file(multi_reader *m, size_t i, sf_source **out, sf_error *err)
{
    SF_TRY(open_member(m, i, &m->src->opt, m->src, out, err));
    sfi_source_bad_adopt(m->src, *out, SIZE_MAX); /* its malformed rows count as ours */
    return SF_OK;
}

static sf_status multi_next(sf_source *src, const sf_table **out, sf_error *err)
{
    multi_reader *m = src->impl;
    for (;;) {
        if (!m->cur) SF_TRY(open_file(m, m->cur_i, &m->cur, err));
        sf_status st = sf_source_next(m->cur, out, err);
        if (st == SF_END && m->cur_i + 1 < m->n_files) {
            m->done_bytes += sf_source_bytes_read(m->cur);
            sf_source_close(m->cur);
            m->cur = NULL;
            m->cur_i++;
            continue;
        }
        src->bytes_read = m->done_bytes + (m->cur ? sf_source_bytes_read(m->cur) : 0);
        return st;
    }
}

static sf_status multi_rewind(sf_source *src, sf_error *err)
{
    multi_reader *m = src->impl;
    if (m->cur && m->cur_i == 0) SF_TRY(sf_source_rewind(m->cur, err));
    else {
        sf_source *first = NULL;
        SF_TRY(open_file(m, 0, &first, err));
        sf_source_close(m->cur);
        m->cur = first;
        m->cur_i = 0;
    }
    m->done_bytes = 0;
    src->bytes_read = 0;
    return SF_OK;
}

/* Opens every file once, counts its segments and keeps CSV byte ranges. */
static sf_status multi_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    multi_reader *m = src->impl;
    if (m->segs) {
        *n_out = m->n_segs;
        return SF_OK;
    }
    multi_seg *segs = NULL;
    size_t n = 0, cap = 0;
    sf_status st = SF_OK;
    for (size_t f = 0; f < m->n_files && st == SF_OK; f++) {
        sf_source *fs = NULL;
        size_t k = 0;
        st = open_file(m, f, &fs, err);
        if (st == SF_OK) st = sf_source_n_segments(fs, &k, err);
        for (size_t g = 0; g < k && st == SF_OK; g++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                multi_seg *ns = realloc(segs, cap * sizeof *ns);
                if (!ns) {
                    st = sfi_nomem(err);
                    break;
                }
                segs = ns;
            }
            segs[n] = (multi_seg){.file = f, .local = g, .csv = sfi_source_is_csv(fs)};
            if (segs[n].csv) st = sfi_csv_range_of(fs, g, &segs[n].range, err);
            n++;
        }
        sf_source_close(fs);
    }
    if (st != SF_OK) {
        free(segs);
        return st;
    }
    m->segs = segs;
    m->n_segs = n;
    *n_out = n;
    return SF_OK;
}

/* Reads segment i's rows. Called from worker threads once the segments are
 * counted: then it only reads m. */
static sf_status multi_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    multi_reader *m = src->impl;
    size_t n;
    if (!m->segs) SF_TRY(multi_n_segments(src, &n, err)); /* before any worker starts */
    if (i >= m->n_segs) return sfi_fail(err, SF_ERR_ARG, NULL, "segment %zu of %zu", i, m->n_segs);
    const multi_seg *g = &m->segs[i];
    if (g->csv) return sfi_csv_open_range(out, src, m->files[g->file], &g->range, i, err);
    if (m->svm) return sfi_svmlight_open_part(out, m->svm, g->file, g->local, i, &src->opt, err);
    /* other kinds: the file's own source lends the segment; a wrapper owns both */
    sf_source *fs = NULL, *seg = NULL, *s = NULL;
    multi_reader *w = NULL;
    sf_status st = open_member(m, g->file, &src->opt, src, &fs, err);
    if (st == SF_OK) st = sf_source_open_segment(fs, g->local, &seg, err);
    if (st == SF_OK)
        st = sfi_source_alloc(&s, &multi_seg_ops, m->files[g->file], &src->opt, src->n_cols,
                              (const char *const *)src->names, err);
    if (st == SF_OK && !(w = calloc(1, sizeof *w))) st = sfi_nomem(err);
    if (st != SF_OK) {
        sf_source_close(seg);
        sf_source_close(fs);
        sfi_source_free_header(s);
        return st;
    }
    memcpy(s->types, src->types, src->n_cols * sizeof *s->types);
    memcpy(s->is_integer, src->is_integer, src->n_cols * sizeof *s->is_integer);
    s->size = sf_source_size(seg);
    *w = (multi_reader){.src = s, .cur = seg, .lender = fs, .segment = i};
    s->impl = w;
    *out = s;
    return SF_OK;
}

static sf_status seg_next(sf_source *src, const sf_table **out, sf_error *err)
{
    multi_reader *w = src->impl;
    sf_status st = sf_source_next(w->cur, out, err);
    if (st == SF_OK) ((sf_table *)*out)->segment = w->segment; /* the table is the reader's own */
    src->bytes_read = sf_source_bytes_read(w->cur);
    return st;
}

static sf_status seg_rewind(sf_source *src, sf_error *err)
{
    multi_reader *w = src->impl;
    SF_TRY(sf_source_rewind(w->cur, err));
    src->bytes_read = 0;
    return SF_OK;
}

static sf_status seg_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    (void)src;
    (void)err;
    *n_out = 1;
    return SF_OK;
}

static sf_status seg_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    (void)src;
    (void)i;
    (void)out;
    return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "a segment cannot be split again");
}

static const sf_source_ops multi_ops = {
    .kind = "multi",
    .next = multi_next,
    .rewind = multi_rewind,
    .n_segments = multi_n_segments,
    .open_segment = multi_open_segment,
    .close = multi_close,
};

static const sf_source_ops multi_seg_ops = {
    .kind = "multi-segment",
    .next = seg_next,
    .rewind = seg_rewind,
    .n_segments = seg_n_segments,
    .open_segment = seg_open_segment,
    .close = multi_close,
};

/* Expands pattern: regular files (and anything not a directory), sorted. */
static sf_status expand(const char *pattern, char ***files, size_t *n, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, pattern);
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pattern, GLOB_MARK, NULL, &g);
    if (rc == GLOB_NOSPACE) {
        globfree(&g);
        return sfi_nomem(err);
    }
    if (rc != 0 && rc != GLOB_NOMATCH) {
        globfree(&g);
        return sfi_fail(err, SF_ERR_IO, &w, "cannot list the files that match");
    }
    char **out = calloc(g.gl_pathc ? g.gl_pathc : 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; out && i < g.gl_pathc; i++) {
        size_t len = strlen(g.gl_pathv[i]);
        if (len && g.gl_pathv[i][len - 1] == '/') continue; /* a directory */
        if (!(out[k] = strdup(g.gl_pathv[i]))) {
            while (k) free(out[--k]);
            free(out);
            out = NULL;
        } else k++;
    }
    globfree(&g);
    if (!out) return sfi_nomem(err);
    if (k == 0) {
        free(out);
        return sfi_fail(err, SF_ERR_IO, &w, "no file matches");
    }
    *files = out;
    *n = k;
    return SF_OK;
}

sf_status sfi_multi_open(sf_source **out, const char *pattern, const char *dataset,
                         const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    /* a name with glob characters that exists as it is names that one file */
    struct stat sb;
    if (stat(pattern, &sb) == 0) return sfi_source_open_file(out, pattern, dataset, opt, NULL, err);
    char **files = NULL;
    size_t n = 0;
    SF_TRY(expand(pattern, &files, &n, err));
    multi_reader *m = calloc(1, sizeof *m);
    if (!m) {
        for (size_t i = 0; i < n; i++) free(files[i]);
        free(files);
        return sfi_nomem(err);
    }
    m->files = files;
    m->n_files = n;
    sf_status st = SF_OK;
    if (dataset && !(m->dataset = strdup(dataset))) st = sfi_nomem(err);
    if (st == SF_OK && !dataset && sfi_is_svmlight_name(files[0])) {
        for (size_t i = 1; i < n && st == SF_OK; i++)
            if (!sfi_is_svmlight_name(files[i])) {
                sf_where w;
                sfi_where_init(&w, files[i]);
                st = sfi_fail(err, SF_ERR_PARSE, &w, "not an svmlight file (.svm, .svmlight, .libsvm), "
                              "but the first file, %s, is", files[0]);
            }
        if (st == SF_OK) st = sfi_svmlight_set_open(&m->svm, (const char *const *)files, n, opt, err);
    }
    sf_source *first = NULL, *s = NULL;
    if (st == SF_OK) st = open_member(m, 0, opt, NULL, &first, err);
    if (st == SF_OK)
        st = sfi_source_alloc(&s, &multi_ops, pattern, opt, first->n_cols,
                              (const char *const *)first->names, err);
    if (st != SF_OK) {
        sf_source_close(first);
        multi_close(m);
        return st;
    }
    memcpy(s->types, first->types, s->n_cols * sizeof *s->types);
    memcpy(s->is_integer, first->is_integer, s->n_cols * sizeof *s->is_integer);
    s->sparse_n_features = first->sparse_n_features;
    s->impl = m;
    m->src = s;
    m->cur = first;
    sfi_source_bad_adopt(s, first, SIZE_MAX);
    /* every file's columns now, and the total size for progress */
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        if (stat(files[i], &sb) == 0) s->size += (uint64_t)sb.st_size;
        if (i == 0) continue;
        sf_source *other = NULL;
        st = open_file(m, i, &other, err);
        sf_source_close(other);
    }
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

const sfi_svm_set *sfi_multi_svm_set(const sf_source *src)
{
    return src && src->ops == &multi_ops ? ((const multi_reader *)src->impl)->svm : NULL;
}
