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
 * parallel across and within files. One file is open at a time while the source
 * is read whole; the source offers next_rows (rows straight into blocks) when
 * its first file's reader does, and forwards it to each file's reader.
 *
 * CSV files are planned lazily as one file is (io/csv_plan.c): the open that
 * checks a file's columns notes where its rows start; counting the segments
 * plans each plain file's blind cuts (a few bytes read at each, no scan), and a
 * worker opening a segment scans only the blocks of that file up to its own, so
 * no serial scan of every file precedes a pass. A plan holds no descriptor while
 * no range of it is being found (a glob of many files stays far from the
 * descriptor limit); a gzip file is one segment, its whole data.
 *
 * Other kinds (HDF5) lend their segments: each file's own source (its "lender",
 * opened once: at open or at the count) opens them as it does for one file
 * (sharing the file's ids: no H5Fopen a segment) and a thin reader gives the
 * chunks the source's segment index. Lenders are shared by their segments'
 * readers and closed when idle beyond IDLE_LENDERS open, least recently used
 * first.
 *
 * svmlight files (the first file's name says so; then every file's must) share
 * one sfi_svm_set (io/svmlight_source.c): n_features, zero_based "auto" and the
 * labels are decided over all files at open, as sklearn's load_svmlight_files
 * does, and each file's reader borrows them instead of scanning again; its
 * segment bounds come from that scan, so a segment opens directly by range.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/csv_plan.h"
#include "io/source_impl.h"

/* open lenders kept while no segment reader holds them */
enum { IDLE_LENDERS = 16 };

typedef struct multi_seg {
    size_t file;  /* index into files */
    size_t local; /* segment index within the file */
} multi_seg;

typedef struct multi_file {
    bool csv;            /* a CSV file: segments by byte range */
    sfi_csv_range data;  /* CSV: all its rows (end UINT64_MAX: gzip, one segment) */
    sfi_csv_plan *plan;  /* plain CSV: its segments, once counted */
    size_t n_segs;       /* other kinds: its segments, when counted at open (else 0) */
    /* other kinds: the file's own source, lending its segments (NULL: closed) */
    sf_source *lender;
    size_t users;        /* segment readers holding lender */
    uint64_t last_use;
} multi_file;

typedef struct multi_reader {
    sf_source *src;
    char **files;
    multi_file *info;     /* n_files */
    size_t n_files;
    char *dataset;        /* HDF5 path inside every file, or NULL */
    sfi_svm_set *svm;     /* svmlight files: what was decided over all of them; else NULL */
    sf_source *cur;       /* the open file (reading whole) */
    size_t cur_i;
    uint64_t done_bytes;  /* bytes of the files before cur */
    multi_seg *segs;      /* NULL until counted */
    size_t n_segs;
    pthread_mutex_t mu;   /* the lenders (info[].lender, users, last_use), n_lenders, clock */
    size_t n_lenders;
    uint64_t clock;
    size_t spared;        /* the idle lender that may keep its segments' buffers (SIZE_MAX: none) */
} multi_reader;

/* A segment lent by a file's source: the source's segment index on its chunks. */
typedef struct lent_reader {
    multi_reader *m;
    size_t file;
    sf_source *seg;
    size_t segment;
} lent_reader;

static const sf_source_ops multi_ops, multi_rows_ops, lent_ops;

static bool is_multi(const sf_source *src)
{
    return src && (src->ops == &multi_ops || src->ops == &multi_rows_ops);
}

static void multi_close(void *impl)
{
    multi_reader *m = impl;
    if (!m) return;
    sf_source_close(m->cur);
    for (size_t i = 0; m->info && i < m->n_files; i++) {
        sf_source_close(m->info[i].lender);
        sfi_csv_plan_free(m->info[i].plan);
    }
    for (size_t i = 0; i < m->n_files; i++) free(m->files[i]);
    free(m->files);
    free(m->info);
    free(m->dataset);
    free(m->segs);
    sfi_svmlight_set_free(m->svm); /* after its readers */
    pthread_mutex_destroy(&m->mu);
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

/* Notes what later counts and segment opens need of file i, open as fs: where a
 * CSV file's rows start; for other kinds, when fs has the source's options
 * (full), its segment count and, when keep is set, fs itself as the file's
 * lender while few are open (*kept: fs is the lender now). */
static void note_file(multi_reader *m, size_t i, sf_source *fs, bool full, bool keep, bool *kept)
{
    multi_file *f = &m->info[i];
    *kept = false;
    f->csv = sfi_source_is_csv(fs);
    if (f->csv) sfi_csv_data_range(fs, &f->data);
    if (f->csv || m->svm || !full) return;
    size_t k = 0;
    sf_error e;
    if (sf_source_n_segments(fs, &k, &e) == SF_OK) f->n_segs = k; /* else counted later */
    if (keep && !f->lender && m->n_lenders < IDLE_LENDERS) {
        f->lender = fs;
        m->n_lenders++;
        *kept = true;
    }
}

/* Closes idle lenders, least recently used first, while more than IDLE_LENDERS
 * are open. Lock held. */
static void trim_lenders(multi_reader *m)
{
    while (m->n_lenders > IDLE_LENDERS) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < m->n_files; i++) {
            const multi_file *f = &m->info[i];
            if (f->lender && f->users == 0 && (best == SIZE_MAX || f->last_use < m->info[best].last_use)) best = i;
        }
        if (best == SIZE_MAX) return; /* all in use */
        sf_source_close(m->info[best].lender);
        m->info[best].lender = NULL;
        m->n_lenders--;
    }
}

/* File i's lender, opened if closed, held until release_lender. From any thread:
 * the open is under the lock (an HDF5 open holds HDF5's global lock anyway). */
static sf_status hold_lender(multi_reader *m, size_t i, sf_source **out, sf_error *err)
{
    multi_file *f = &m->info[i];
    sf_status st = SF_OK;
    pthread_mutex_lock(&m->mu);
    if (!f->lender) {
        sf_source *l = NULL;
        st = open_member(m, i, &m->src->opt, m->src, &l, err);
        if (st == SF_OK) {
            f->lender = l;
            m->n_lenders++;
        }
    }
    if (st == SF_OK) {
        f->users++;
        f->last_use = ++m->clock;
        *out = f->lender;
        trim_lenders(m);
    }
    pthread_mutex_unlock(&m->mu);
    return st;
}

/* File i's lender went idle: the buffers its closed segments left (HDF5's
 * spares) serve its next segment; those the idle lender before it kept, a file
 * whose segments are done, are freed. So one idle lender keeps buffers, not
 * every one of IDLE_LENDERS (each a closed segment's table, chunk and decode
 * buffers: 16 of them grew a read of a glob by 96 MB for 50,000 x 10 chunks).
 * Lock held. */
static void idle_lender(multi_reader *m, size_t i)
{
    size_t j = m->spared;
    if (j != SIZE_MAX && j != i && m->info[j].lender && m->info[j].users == 0)
        sfi_hdf5_drop_spares(m->info[j].lender);
    m->spared = i;
}

static void release_lender(multi_reader *m, size_t i)
{
    pthread_mutex_lock(&m->mu);
    if (--m->info[i].users == 0) idle_lender(m, i);
    trim_lenders(m);
    pthread_mutex_unlock(&m->mu);
}

/* The next chunk of s: with want, through its next_rows when it offers it (with
 * sf_source_next's stickiness, as pipeline/fit.c calls it), else its table. */
static sf_status member_next(sf_source *s, const sfi_rows_want *want, sf_block *b, const sf_table **out,
                             sf_error *err)
{
    if (!want || !s->ops->next_rows || s->failed) return sf_source_next(s, out, err);
    sf_status st = s->ops->next_rows(s, want, b, out, err);
    if (SF_IS_ERROR(st)) s->failed = true;
    return st;
}

/* The next chunk (want: or rows into b) of the files in turn. */
static sf_status multi_read(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **out,
                            sf_error *err)
{
    multi_reader *m = src->impl;
    for (;;) {
        if (!m->cur) SF_TRY(open_file(m, m->cur_i, &m->cur, err));
        sf_status st = member_next(m->cur, want, b, out, err);
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

static sf_status multi_next(sf_source *src, const sf_table **out, sf_error *err)
{
    return multi_read(src, NULL, NULL, out, err);
}

static sf_status multi_next_rows(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **t_out,
                                 sf_error *err)
{
    *t_out = NULL;
    return multi_read(src, want, b, t_out, err);
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

/* File i's segment count: a plain CSV file's blind cuts (its plan), a gzip
 * file's one, an svmlight member's (from the scan at open), a lender's. */
static sf_status count_file(multi_reader *m, size_t i, size_t *k, sf_error *err)
{
    multi_file *f = &m->info[i];
    sf_source *fs = NULL;
    sf_status st;
    if (f->csv && f->data.end == UINT64_MAX) {
        *k = 1;
        return SF_OK;
    }
    if (f->csv) {
        if (!f->plan)
            SF_TRY(sfi_csv_plan_open(&f->plan, m->files[i], f->data.start, f->data.line,
                                     m->src->opt.segment_bytes, err));
        *k = sfi_csv_plan_count(f->plan);
        return SF_OK;
    }
    if (m->svm) {
        st = open_member(m, i, &m->src->opt, m->src, &fs, err);
        if (st == SF_OK) st = sf_source_n_segments(fs, k, err);
        sf_source_close(fs);
        return st;
    }
    if (f->n_segs) {
        *k = f->n_segs;
        return SF_OK;
    }
    SF_TRY(hold_lender(m, i, &fs, err));
    st = sf_source_n_segments(fs, k, err);
    release_lender(m, i);
    return st;
}

/* Counts every file's segments (no file is scanned: see the top). */
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
        size_t k = 0;
        st = count_file(m, f, &k, err);
        if (st == SF_OK && n + k > cap) {
            size_t c = cap ? 2 * cap : 16;
            while (c < n + k) c *= 2;
            multi_seg *ns = realloc(segs, c * sizeof *ns);
            if (!ns) st = sfi_nomem(err);
            else {
                segs = ns;
                cap = c;
            }
        }
        for (size_t g = 0; g < k && st == SF_OK; g++) segs[n++] = (multi_seg){.file = f, .local = g};
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

/* Segment i lent by its file's source, in a reader that names it segment i. */
static sf_status open_lent(sf_source *src, size_t i, sf_error *err, sf_source **out)
{
    multi_reader *m = src->impl;
    const multi_seg *g = &m->segs[i];
    sf_source *fs = NULL, *seg = NULL, *s = NULL;
    lent_reader *w = NULL;
    SF_TRY(hold_lender(m, g->file, &fs, err));
    sf_status st = sf_source_open_segment(fs, g->local, &seg, err);
    if (st == SF_OK)
        st = sfi_source_alloc(&s, &lent_ops, m->files[g->file], &src->opt, src->n_cols,
                              (const char *const *)src->names, err);
    if (st == SF_OK && !(w = calloc(1, sizeof *w))) st = sfi_nomem(err);
    if (st != SF_OK) {
        sf_source_close(seg);
        sfi_source_free_header(s);
        release_lender(m, g->file);
        return st;
    }
    memcpy(s->types, src->types, src->n_cols * sizeof *s->types);
    memcpy(s->is_integer, src->is_integer, src->n_cols * sizeof *s->is_integer);
    s->size = sf_source_size(seg);
    s->sparse_n_features = seg->sparse_n_features;
    *w = (lent_reader){.m = m, .file = g->file, .seg = seg, .segment = i};
    s->impl = w;
    /* its malformed rows count in our slot i (where sf_source_open_segment puts s's) */
    sfi_source_bad_adopt(src, seg, i);
    *out = s;
    return SF_OK;
}

/* Reads segment i's rows. Called from worker threads once the segments are
 * counted: then it reads m's segments and plans (each plan locks itself) and
 * takes m's lock for the lenders. */
static sf_status multi_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    multi_reader *m = src->impl;
    size_t n;
    if (!m->segs) SF_TRY(multi_n_segments(src, &n, err)); /* before any worker starts */
    if (i >= m->n_segs) return sfi_fail(err, SF_ERR_ARG, NULL, "segment %zu of %zu", i, m->n_segs);
    const multi_seg *g = &m->segs[i];
    const multi_file *f = &m->info[g->file];
    if (f->csv) {
        sfi_csv_range r = f->data;
        if (f->plan) {
            r.whole = sfi_csv_plan_count(f->plan) == 1;
            SF_TRY(sfi_csv_plan_range(f->plan, g->local, &r.start, &r.end, &r.line, err));
        }
        return sfi_csv_open_range(out, src, m->files[g->file], &r, i, err);
    }
    if (m->svm) return sfi_svmlight_open_part(out, m->svm, g->file, g->local, i, &src->opt, err);
    return open_lent(src, i, err, out);
}

static sf_status lent_next(sf_source *src, const sf_table **out, sf_error *err)
{
    lent_reader *w = src->impl;
    sf_status st = sf_source_next(w->seg, out, err);
    if (st == SF_OK) ((sf_table *)*out)->segment = w->segment; /* the table is the reader's own */
    src->bytes_read = sf_source_bytes_read(w->seg);
    return st;
}

static sf_status lent_next_rows(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **t_out,
                                sf_error *err)
{
    lent_reader *w = src->impl;
    *t_out = NULL;
    sf_status st = member_next(w->seg, want, b, t_out, err);
    if (st == SF_OK && *t_out) ((sf_table *)*t_out)->segment = w->segment;
    src->bytes_read = sf_source_bytes_read(w->seg);
    return st;
}

static sf_status lent_rewind(sf_source *src, sf_error *err)
{
    lent_reader *w = src->impl;
    SF_TRY(sf_source_rewind(w->seg, err));
    src->bytes_read = 0;
    return SF_OK;
}

static sf_status lent_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    (void)src;
    (void)err;
    *n_out = 1;
    return SF_OK;
}

static sf_status lent_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    (void)src;
    (void)i;
    (void)out;
    return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "a segment cannot be split again");
}

static void lent_close(void *impl)
{
    lent_reader *w = impl;
    if (!w) return;
    sf_source_close(w->seg);
    release_lender(w->m, w->file);
    free(w);
}

static const sf_source_ops multi_ops = {
    .kind = "multi",
    .next = multi_next,
    .rewind = multi_rewind,
    .n_segments = multi_n_segments,
    .open_segment = multi_open_segment,
    .close = multi_close,
};

/* files whose readers offer next_rows (HDF5) */
static const sf_source_ops multi_rows_ops = {
    .kind = "multi",
    .next = multi_next,
    .rewind = multi_rewind,
    .n_segments = multi_n_segments,
    .open_segment = multi_open_segment,
    .close = multi_close,
    .next_rows = multi_next_rows,
};

static const sf_source_ops lent_ops = {
    .kind = "multi-segment",
    .next = lent_next,
    .rewind = lent_rewind,
    .n_segments = lent_n_segments,
    .open_segment = lent_open_segment,
    .close = lent_close,
    .next_rows = lent_next_rows,
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
    multi_file *info = calloc(n, sizeof *info);
    if (!m || !info || pthread_mutex_init(&m->mu, NULL) != 0) {
        for (size_t i = 0; i < n; i++) free(files[i]);
        free(files);
        free(info);
        free(m);
        return sfi_nomem(err);
    }
    m->files = files;
    m->info = info;
    m->spared = SIZE_MAX;
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
        st = sfi_source_alloc(&s, first->ops->next_rows ? &multi_rows_ops : &multi_ops, pattern, opt, first->n_cols,
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
    /* every file's columns now (noting where a CSV file's rows start, keeping
     * other kinds' readers to lend segments), and the total size for progress */
    bool kept = false;
    /* the first file's reader: the file's lender when it is of a kind that lends
     * (then opened again when the source is read whole), else read whole */
    note_file(m, 0, first, true, true, &kept);
    if (kept) m->cur = NULL;
    /* a CSV reader opened to check a file is closed unread: a table of one row
     * (50,000 rows of 20 columns zeroed took 0.5 ms a file) */
    sf_source_options check = *opt;
    bool csv = sfi_source_is_csv(first);
    if (csv) check.chunk_rows = 1;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        if (stat(files[i], &sb) == 0) s->size += (uint64_t)sb.st_size;
        if (i == 0) continue;
        sf_source *other = NULL;
        kept = false;
        st = open_member(m, i, &check, s, &other, err);
        if (st == SF_OK) note_file(m, i, other, !csv, true, &kept);
        if (!kept) sf_source_close(other);
    }
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

SFI_FUNC size_t sfi_multi_spare_sets(const sf_source *src);
size_t sfi_multi_spare_sets(const sf_source *src)
{
    if (!is_multi(src)) return 0;
    multi_reader *m = src->impl;
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_files; i++) n += sfi_hdf5_spare_sets(m->info[i].lender);
    pthread_mutex_unlock(&m->mu);
    return n;
}

const sfi_svm_set *sfi_multi_svm_set(const sf_source *src)
{
    return is_multi(src) ? ((const multi_reader *)src->impl)->svm : NULL;
}
