/* svmlight_source.c — svmlight / libsvm text as a sparse chunk source.
 *
 * A line is `label [qid:N] index:value index:value ... [# comment]`, read as
 * scikit-learn 1.2's load_svmlight_file reads it (datasets/_svmlight_format_io.py
 * and _load_svmlight_file in _svmlight_format_fast.pyx): everything from '#' on
 * is a comment; tokens are split at ASCII whitespace; a line without tokens is
 * skipped; the label is a float (a multilabel "1,2" is an error, as it is with
 * multilabel=False); a first feature token starting with "qid" is accepted and
 * ignored (it needs a ':'); every other token is INDEX:VALUE with an integer
 * index (negative: an error; 0 when the file is one-based: an error) strictly
 * greater than the one before it on the line ("sorted and unique"), and a float
 * value. Explicit zeros are kept. Numbers go through sf_parse_double, the
 * correctly rounded parse Python's float() also does; Python extras (digit
 * underscores, non-ASCII digits) are refused. A label "nan" is a missing target
 * (the row is dropped and counted by the pipeline, as a CSV's missing target).
 *
 * A chunk has one column, "y" (the labels), and a CSR part of n_features columns.
 *
 * zero_based and n_features. sklearn decides both over the whole file after
 * loading it: zero_based="auto" means one-based unless some index is 0 (or the
 * file has no index at all), and n_features is the largest index + 1 (after the
 * shift). A streaming reader needs both before its first chunk, so unless the
 * options give both, sf_source_open scans the file once for its index tokens
 * only (memchr for line ends and colons, no value parsing, no allocation):
 * bench/RESULTS-sparse.md measures it at a small fraction of a parse pass. The
 * same scan finds the segment boundaries (the first line start after every
 * segment_bytes, as the CSV source cuts) and their line numbers, so segments name
 * absolute lines in errors; when no scan ran at open, sf_source_n_segments runs
 * a newline-only scan. sklearn's own split reading (offset/length) instead falls
 * back to zero_based=True: we keep its whole-file answer for every segment.
 *
 * The same scan keeps the distinct labels (sfi_source_known_labels): a
 * classifier learning first then needs no pass of its own to find its classes.
 *
 * Several files (a glob: io/multi_source.c) are one sfi_svm_set: the scan reads
 * every file and decides n_features, the index base and the labels over all of
 * them, as load_svmlight_files does (see decide()); each file's reader borrows
 * the set, and a single file is a set of one owned by its reader.
 *
 * ".svm.gz" (and the other names + ".gz") are inflated by zlib as they are read:
 * one segment; rewinds by inflating again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/source_impl.h"
#include "streamfit/sf_number.h"

enum { READ_SIZE = 1 << 20 };

/* One file of the source; its segment bounds once a scan ran. */
typedef struct svm_file {
    char *path;
    bool gz;
    uint64_t size;
    bool scanned;            /* bounds are known */
    uint64_t *bound_off;     /* n_bounds + 1 offsets: segment k is [off[k], off[k+1]) */
    uint64_t *bound_line;    /* first line of each segment */
    size_t n_bounds;
} svm_file;

/* The files read as one source (one, or a multi-file source's: io/multi_source.c)
 * and what is decided over all of them at open, or given; readers borrow it. */
struct sfi_svm_set {
    svm_file *files;
    size_t n_files;
    size_t n_features;
    bool one_based;          /* indices are shifted down by one */
    double *labels;          /* the distinct labels the index scan saw, sorted */
    size_t n_labels;
    bool labels_known;       /* the scan ran and saw at most MAX_LABELS of them */
};

/* A classifier's pipeline needs its classes before its first row; the scan at
 * open reads every label token anyway, so it keeps the distinct ones (up to
 * the pipeline's own limit on classes) and saves the pipeline a pass. */
enum { MAX_LABELS = 10000 };

typedef struct svm_reader {
    sf_source *src;
    sfi_svm_set *own;        /* a single file's set, freed with the reader; else NULL */
    sfi_svm_set *set;        /* a whole reader fills its file's bounds when counting */
    size_t file;             /* index into set->files */
    bool whole;              /* reads its whole file: may be cut into segments */
    int fd;
    gzFile gz;
    uint64_t start, end, start_line;
    uint64_t pos;            /* file offset of buf[0] */
    char *buf;
    size_t buf_len, buf_cap, buf_at;
    bool eof;
    uint64_t line;           /* line number of the next line */
    uint64_t rows;           /* rows read in this range */
    size_t segment;
    sf_table *t;
} svm_reader;

static const sf_source_ops svm_ops;

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* ---- input: a descriptor or a gzip stream ---- */

static sf_status io_fail(const char *path, sf_status st, sf_error *err, const char *what, const char *why)
{
    sf_where w;
    sfi_where_init(&w, path);
    return sfi_fail(err, st, &w, "%s: %s", what, why);
}

static sf_status in_open(const char *path, bool gz, int *fd, gzFile *gzf, uint64_t *size, sf_error *err)
{
    *gzf = NULL;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return io_fail(path, SF_ERR_IO, err, "cannot open", strerror(errno));
    struct stat sb;
    if (fstat(*fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        int e = errno;
        bool dir = S_ISDIR(sb.st_mode);
        close(*fd);
        *fd = -1;
        return io_fail(path, SF_ERR_IO, err, "cannot read", dir ? "is a directory" : strerror(e));
    }
    if (size) *size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    posix_fadvise(*fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!gz) return SF_OK;
    *gzf = gzdopen(*fd, "rb");
    if (!*gzf) {
        close(*fd);
        *fd = -1;
        return sfi_nomem(err);
    }
    gzbuffer(*gzf, 1 << 17);
    return SF_OK;
}

static void in_close(int *fd, gzFile *gz)
{
    if (*gz) gzclose(*gz);
    else if (*fd >= 0) close(*fd);
    *gz = NULL;
    *fd = -1;
}

/* Reads up to want bytes at the current position; *got = 0 at the end. */
static sf_status in_read(const char *path, int fd, gzFile gz, char *dst, size_t want, size_t *got, sf_error *err)
{
    *got = 0;
    if (!gz) {
        ssize_t n;
        do n = read(fd, dst, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) return io_fail(path, SF_ERR_IO, err, "read failed", strerror(errno));
        *got = (size_t)n;
        return SF_OK;
    }
    if (want > INT_MAX / 2) want = INT_MAX / 2;
    int n = gzread(gz, dst, (unsigned)want);
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    if (n < 0 && zerr == Z_ERRNO) return io_fail(path, SF_ERR_IO, err, "read failed", strerror(errno));
    if (n < 0) return io_fail(path, SF_ERR_PARSE, err, "corrupt gzip data", msg);
    if (n == 0 && zerr == Z_BUF_ERROR) return io_fail(path, SF_ERR_PARSE, err, "truncated gzip file", msg);
    if (n > 0 && gzdirect(gz))
        return io_fail(path, SF_ERR_PARSE, err, "not gzip data", "the name ends in .gz but the file is not compressed");
    *got = (size_t)n;
    return SF_OK;
}

/* ---- the scan at open: index range, segment bounds, line numbers ---- */

typedef struct scan_state {
    bool indices;            /* look at index tokens (else count lines only) */
    /* over the files scanned so far */
    bool any;                /* some index seen */
    bool all_have;           /* every file has an index */
    uint64_t min_idx, max_idx;
    size_t max_file;         /* where max_idx is (for an n_features error) */
    uint64_t max_line, max_col;
    double *labels;          /* sorted distinct labels, n_labels of them */
    size_t n_labels, cap_labels;
    bool too_many;           /* more than MAX_LABELS, or no memory for them */
    /* the file being scanned */
    size_t file;
    bool file_any;           /* it has an index */
    uint64_t line;           /* lines completed */
    uint64_t next_cut;       /* the next segment starts at the first line start >= this */
    uint64_t seg_bytes;
    uint64_t *off, *lines;
    size_t n, cap;
} scan_state;

static void add_label(scan_state *s, const char *p, size_t n)
{
    double v;
    if (s->too_many || sf_parse_double(p, n, &v) == SF_NUM_NONE || isnan(v)) return;
    size_t lo = 0, hi = s->n_labels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->labels[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->n_labels && s->labels[lo] == v) return;
    if (s->n_labels == s->cap_labels) {
        size_t cap = s->cap_labels ? 2 * s->cap_labels : 16;
        double *l = s->n_labels < MAX_LABELS ? realloc(s->labels, cap * sizeof *l) : NULL;
        if (!l) {
            s->too_many = true;
            return;
        }
        s->labels = l;
        s->cap_labels = cap;
    }
    memmove(s->labels + lo + 1, s->labels + lo, (s->n_labels - lo) * sizeof *s->labels);
    s->labels[lo] = v;
    s->n_labels++;
}

static bool add_bound(scan_state *s, uint64_t off, uint64_t line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        uint64_t *o = realloc(s->off, cap * sizeof *o);
        if (!o) return false;
        s->off = o;
        uint64_t *l = realloc(s->lines, cap * sizeof *l);
        if (!l) return false;
        s->lines = l;
        s->cap = cap;
    }
    s->off[s->n] = off;
    s->lines[s->n] = line;
    s->n++;
    return true;
}

/* The index tokens of one line [p, e) (no '\n'): for every ':' past the label,
 * the digits between the token start and it. Malformed tokens (and negative
 * indices other than -0, which Python's int() reads as 0) are skipped: the parse
 * reports them with their place. */
static void scan_line(scan_state *s, const char *p, const char *e)
{
    const char *hash = memchr(p, '#', (size_t)(e - p));
    if (hash) e = hash;
    const char *q = p;
    while (q < e && is_space((unsigned char)*q)) q++;
    const char *label = q;
    while (q < e && !is_space((unsigned char)*q)) q++;
    if (q > label) add_label(s, label, (size_t)(q - label));
    for (const char *c; q < e && (c = memchr(q, ':', (size_t)(e - q))) != NULL; q = c + 1) {
        const char *t = c;
        while (t > q && !is_space((unsigned char)t[-1])) t--;
        if (c - t >= 3 && memcmp(t, "qid", 3) == 0) continue;
        const char *d = t;
        bool neg = d < c && *d == '-';
        if (d < c && (*d == '+' || *d == '-')) d++;
        if (d == c || c - d > 19) continue;
        uint64_t v = 0;
        bool digits = true;
        for (const char *k = d; k < c && digits; k++) {
            digits = *k >= '0' && *k <= '9';
            v = v * 10 + (uint64_t)(*k - '0');
        }
        if (!digits || (neg && v != 0)) continue;
        if (!s->any || v < s->min_idx) s->min_idx = v;
        if (!s->any || v > s->max_idx) {
            s->max_idx = v;
            s->max_file = s->file;
            s->max_line = s->line + 1;
            s->max_col = (uint64_t)(t - p) + 1;
        }
        s->any = s->file_any = true;
    }
}

/* Reads file f once. buf holds a partial line between reads. */
static sf_status run_scan(const svm_file *f, scan_state *s, sf_error *err)
{
    int fd;
    gzFile gz;
    SF_TRY(in_open(f->path, f->gz, &fd, &gz, NULL, err));
    size_t cap = READ_SIZE, len = 0;
    char *buf = malloc(cap);
    sf_status st = buf ? SF_OK : sfi_nomem(err);
    uint64_t pos = 0; /* file offset of buf[0] */
    bool eof = false;
    if (st == SF_OK && !add_bound(s, 0, 1)) st = sfi_nomem(err);
    while (st == SF_OK && !eof) {
        if (cap - len < READ_SIZE / 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = sfi_nomem(err);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got;
        st = in_read(f->path, fd, gz, buf + len, cap - len, &got, err);
        if (st != SF_OK) break;
        eof = got == 0;
        len += got;
        size_t at = 0;
        for (;;) {
            char *nl = memchr(buf + at, '\n', len - at);
            if (!nl && !(eof && at < len)) break;
            size_t end = nl ? (size_t)(nl - buf) : len;
            if (s->indices) scan_line(s, buf + at, buf + end);
            s->line++;
            at = nl ? end + 1 : len;
            uint64_t here = pos + at;
            if (s->seg_bytes && here >= s->next_cut && here < f->size) {
                if (!add_bound(s, here, s->line + 1)) {
                    st = sfi_nomem(err);
                    break;
                }
                s->next_cut = here + s->seg_bytes;
            }
        }
        memmove(buf, buf + at, len - at);
        len -= at;
        pos += at;
    }
    free(buf);
    in_close(&fd, &gz);
    return st;
}

/* Scans file i of set: its segment bounds (the first line start after every
 * segment_bytes, as the CSV source cuts; a .gz file is one segment) and, with
 * s->indices, its index tokens and labels into s. */
static sf_status scan_file(sfi_svm_set *set, size_t i, scan_state *s, uint64_t segment_bytes, sf_error *err)
{
    svm_file *f = &set->files[i];
    s->file = i;
    s->file_any = false;
    s->line = 0;
    s->seg_bytes = f->gz ? 0 : segment_bytes;
    s->next_cut = s->seg_bytes;
    s->off = s->lines = NULL;
    s->n = s->cap = 0;
    sf_status st = run_scan(f, s, err);
    if (st == SF_OK && !add_bound(s, f->gz ? UINT64_MAX : f->size, s->line + 1)) st = sfi_nomem(err);
    if (st == SF_OK) {
        f->bound_off = s->off;
        f->bound_line = s->lines;
        f->n_bounds = s->n - 1;
        f->scanned = true;
    } else {
        free(s->off);
        free(s->lines);
    }
    s->off = s->lines = NULL;
    if (!s->file_any) s->all_have = false;
    return st;
}

/* n_features and the index base over all files, as sklearn 1.2's
 * load_svmlight_files (datasets/_svmlight_format_io.py) decides them after
 * loading every file: indices shift down by one when zero_based is False, or
 * "auto" and every file has an index and all of them are > 0; n_f is the largest
 * (shifted) index + 1 (a file without indices counts 0), and n_features, when
 * given, must be at least n_f. */
static sf_status decide(sfi_svm_set *set, const scan_state *s, const sf_source_options *opt, sf_error *err)
{
    int zb = opt->zero_based;
    set->one_based = zb == SF_ZERO_BASED_NO || (zb == SF_ZERO_BASED_AUTO && s->all_have && s->min_idx > 0);
    uint64_t top = s->any ? s->max_idx - (set->one_based && s->max_idx > 0 ? 1 : 0) : 0;
    uint64_t n_f = top + 1;
    sf_where w;
    sfi_where_init(&w, set->files[s->max_file].path);
    w.line = s->max_line;
    w.column = s->max_col;
    if (s->any && s->max_idx > INT32_MAX)
        return sfi_fail(err, SF_ERR_PARSE, &w, "feature index %llu is too large (at most %d)",
                        (unsigned long long)s->max_idx, INT32_MAX);
    if (opt->n_features == 0) set->n_features = (size_t)n_f;
    else if (opt->n_features < n_f)
        return sfi_fail(err, SF_ERR_PARSE, &w, "n_features was set to %llu, but the %s index %llu "
                        "(%llu features)", (unsigned long long)opt->n_features,
                        set->n_files > 1 ? "files have" : "file has",
                        (unsigned long long)s->max_idx, (unsigned long long)n_f);
    return SF_OK;
}

void sfi_svmlight_set_free(sfi_svm_set *set)
{
    if (!set) return;
    for (size_t i = 0; i < set->n_files; i++) {
        free(set->files[i].path);
        free(set->files[i].bound_off);
        free(set->files[i].bound_line);
    }
    free(set->files);
    free(set->labels);
    free(set);
}

sf_status sfi_svmlight_set_open(sfi_svm_set **out, const char *const *paths, size_t n,
                                const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    if (opt->zero_based < SF_ZERO_BASED_AUTO || opt->zero_based > SF_ZERO_BASED_NO)
        return sfi_fail(err, SF_ERR_ARG, NULL, "zero_based must be auto, true or false (got %d)", opt->zero_based);
    if (opt->n_features > INT32_MAX + 1ULL)
        return sfi_fail(err, SF_ERR_ARG, NULL, "n_features %llu is too large (at most %lld)",
                        (unsigned long long)opt->n_features, INT32_MAX + 1LL);
    sfi_svm_set *set = calloc(1, sizeof *set);
    if (!set || !(set->files = calloc(n ? n : 1, sizeof *set->files))) {
        free(set);
        return sfi_nomem(err);
    }
    set->n_files = n;
    set->n_features = (size_t)opt->n_features;
    set->one_based = opt->zero_based == SF_ZERO_BASED_NO;
    sf_status st = SF_OK;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        svm_file *f = &set->files[i];
        if (!(f->path = strdup(paths[i]))) {
            st = sfi_nomem(err);
            break;
        }
        size_t len = strlen(f->path);
        f->gz = len > 3 && strcmp(f->path + len - 3, ".gz") == 0;
        int fd;
        gzFile gz;
        st = in_open(f->path, f->gz, &fd, &gz, &f->size, err); /* a missing file fails here, at open */
        if (st == SF_OK) in_close(&fd, &gz);
    }
    if (st == SF_OK && (opt->n_features == 0 || opt->zero_based == SF_ZERO_BASED_AUTO)) {
        scan_state s = {.indices = true, .all_have = true};
        for (size_t i = 0; i < n && st == SF_OK; i++) st = scan_file(set, i, &s, opt->segment_bytes, err);
        if (st == SF_OK) st = decide(set, &s, opt, err);
        if (st == SF_OK && !s.too_many) {
            set->labels = s.labels;
            set->n_labels = s.n_labels;
            set->labels_known = true;
            s.labels = NULL;
        }
        free(s.labels);
    }
    if (st != SF_OK) {
        sfi_svmlight_set_free(set);
        return st;
    }
    *out = set;
    return SF_OK;
}

/* ---- reading lines ---- */

static sf_status read_more(svm_reader *r, sf_error *err)
{
    if (r->buf_at > 0) {
        memmove(r->buf, r->buf + r->buf_at, r->buf_len - r->buf_at);
        r->pos += r->buf_at;
        r->buf_len -= r->buf_at;
        r->buf_at = 0;
    }
    if (r->buf_cap - r->buf_len < READ_SIZE / 2) {
        size_t cap = r->buf_cap ? r->buf_cap * 2 : READ_SIZE;
        char *b = realloc(r->buf, cap);
        if (!b) return sfi_nomem(err);
        r->buf = b;
        r->buf_cap = cap;
    }
    size_t want = r->buf_cap - r->buf_len;
    if (r->end != UINT64_MAX) {
        uint64_t left = r->end - (r->pos + r->buf_len);
        if (left < want) want = (size_t)left;
    }
    size_t got = 0;
    if (want > 0) SF_TRY(in_read(r->src->name, r->fd, r->gz, r->buf + r->buf_len, want, &got, err));
    if (got == 0) r->eof = true;
    r->buf_len += got;
    r->src->bytes_read = r->gz ? (uint64_t)gzoffset(r->gz) : r->src->bytes_read + got;
    return SF_OK;
}

/* A parse error at byte p of line [line_start, ...) showing the token [p, p + n). */
static sf_status bad(svm_reader *r, const char *line_start, const char *p, size_t n, sf_error *err,
                     const char *what)
{
    sf_where w;
    sfi_where_init(&w, r->src->name);
    w.line = r->line;
    w.column = (uint64_t)(p - line_start) + 1;
    w.row = r->rows + 1;
    if (n > 40) n = 40;
    return sfi_fail(err, SF_ERR_PARSE, &w, "%s, got \"%.*s\"", what, (int)n, p);
}

/* Parses line [p, e) into row t->n_rows (or skips it: blank or comment only). */
static sf_status parse_line(svm_reader *r, const char *p, const char *e, sf_error *err)
{
    const char *ls = p;
    const char *hash = memchr(p, '#', (size_t)(e - p));
    if (hash) e = hash;
    while (p < e && is_space((unsigned char)*p)) p++;
    if (p == e) return SF_OK;
    sf_table *t = r->t;
    sf_csr *c = t->csr;
    size_t i = t->n_rows;
    const char *tok = p;
    while (p < e && !is_space((unsigned char)*p)) p++;
    double label;
    if (memchr(tok, ',', (size_t)(p - tok)))
        return bad(r, ls, tok, (size_t)(p - tok), err, "multilabel targets are not supported");
    if (sf_parse_double(tok, (size_t)(p - tok), &label) == SF_NUM_NONE)
        return bad(r, ls, tok, (size_t)(p - tok), err, "expected a number for the label");
    size_t nnz = c->indptr[i];
    long long prev = -1;
    bool first = true;
    const bool zero_ok = r->src->opt.zero_based != SF_ZERO_BASED_NO; /* bool("auto") is True */
    const unsigned shift = r->set->one_based ? 1 : 0;
    for (;;) {
        while (p < e && is_space((unsigned char)*p)) p++;
        if (p == e) break;
        tok = p;
        while (p < e && !is_space((unsigned char)*p)) p++;
        size_t n = (size_t)(p - tok);
        const char *colon = memchr(tok, ':', n);
        if (first && n >= 3 && memcmp(tok, "qid", 3) == 0) {
            first = false;
            if (!colon) return bad(r, ls, tok, n, err, "expected qid:VALUE");
            continue;
        }
        first = false;
        if (!colon) return bad(r, ls, tok, n, err, "expected INDEX:VALUE");
        const char *d = tok;
        bool neg = d < colon && *d == '-';
        if (d < colon && (*d == '+' || *d == '-')) d++;
        long long idx = 0;
        bool ok = d < colon && colon - d <= 18;
        for (const char *k = d; k < colon && ok; k++) {
            ok = *k >= '0' && *k <= '9';
            idx = idx * 10 + (*k - '0');
        }
        if (!ok) return bad(r, ls, tok, n, err, "expected an integer feature index");
        if (neg) idx = -idx;
        if (idx < 0 || (!zero_ok && idx == 0))
            return bad(r, ls, tok, n, err, idx < 0 ? "negative feature index" : "feature index 0 in a one-based file");
        if (idx <= prev) return bad(r, ls, tok, n, err, "feature indices must be sorted and unique");
        if (idx > INT32_MAX) return bad(r, ls, tok, n, err, "feature index too large");
        prev = idx;
        double v;
        if (sf_parse_double(colon + 1, (size_t)(p - colon - 1), &v) == SF_NUM_NONE)
            return bad(r, ls, tok, n, err, "expected a number after the index");
        uint64_t col = (uint64_t)idx - shift; /* idx >= shift: 0 is refused or absent when one-based */
        if (col >= c->n_cols) {
            char what[96];
            snprintf(what, sizeof what, "feature index %lld is beyond the %zu features", idx, c->n_cols);
            return bad(r, ls, tok, n, err, what);
        }
        if (nnz == c->nnz_capacity) SF_TRY(sf_csr_reserve(c, nnz + 1, err));
        c->indices[nnz] = (uint32_t)col;
        c->data[nnz] = v;
        nnz++;
    }
    sf_column *y = &t->cols[0];
    y->values[i] = label;
    y->missing[i] = isnan(label);
    t->line[i] = r->line;
    c->indptr[i + 1] = nnz;
    t->n_rows = i + 1;
    r->rows++;
    return SF_OK;
}

static sf_status svm_next(sf_source *src, const sf_table **out, sf_error *err)
{
    svm_reader *r = src->impl;
    if (!r->t) {
        sf_coltype type = SF_COL_FLOAT;
        const char *const names[1] = {"y"};
        SF_TRY(sf_table_new(&r->t, 1, &type, names, NULL, src->opt.chunk_rows, err));
        r->t->names = (const char *const *)src->names;
        SF_TRY(sf_table_add_csr(r->t, r->set->n_features, 16 * src->opt.chunk_rows, err));
    }
    sf_table *t = r->t;
    t->n_rows = 0;
    t->csr->indptr[0] = 0;
    t->first_row = r->rows + 1;
    t->segment = r->segment;
    while (t->n_rows < src->opt.chunk_rows) {
        size_t left = r->buf_len - r->buf_at;
        char *b = left ? r->buf + r->buf_at : NULL;
        char *nl = left ? memchr(b, '\n', left) : NULL;
        if (!nl && !r->eof) {
            SF_TRY(read_more(r, err));
            continue;
        }
        if (!left) break;
        char *e = nl ? nl : b + left;
        SF_TRY(parse_line(r, b, e, err));
        r->buf_at += (size_t)(e - b) + (nl ? 1 : 0);
        r->line++;
    }
    if (t->n_rows == 0) return SF_END;
    *out = t;
    return SF_OK;
}

static sf_status seek_start(svm_reader *r, sf_error *err)
{
    if (r->gz) {
        if (gzrewind(r->gz) != 0) return io_fail(r->src->name, SF_ERR_IO, err, "cannot rewind", "gzrewind failed");
    } else if (lseek(r->fd, (off_t)r->start, SEEK_SET) < 0) {
        return io_fail(r->src->name, SF_ERR_IO, err, "cannot seek", strerror(errno));
    }
    r->pos = r->start;
    r->buf_len = r->buf_at = 0;
    r->eof = false;
    r->line = r->start_line;
    r->rows = 0;
    r->src->bytes_read = 0;
    return SF_OK;
}

static sf_status svm_rewind(sf_source *src, sf_error *err)
{
    return seek_start(src->impl, err);
}

static sf_status svm_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    svm_reader *r = src->impl;
    svm_file *f = &r->set->files[r->file];
    if (!r->whole || f->gz) {
        *n_out = 1;
        return SF_OK;
    }
    if (!f->scanned) { /* no scan at open (both options given): count lines only */
        scan_state s = {.indices = false};
        SF_TRY(scan_file(r->set, r->file, &s, src->opt.segment_bytes, err));
    }
    *n_out = f->n_bounds;
    return SF_OK;
}

static void svm_close(void *impl)
{
    svm_reader *r = impl;
    if (!r) return;
    in_close(&r->fd, &r->gz);
    free(r->buf);
    sf_table_free(r->t);
    sfi_svmlight_set_free(r->own);
    free(r);
}

/* A reader of [start, end) of file `file` of set, as source *out named by the
 * file; whole: the file's own reader (it counts and lends segments). */
static sf_status open_reader(sf_source **out, const sf_source_options *opt, sfi_svm_set *set, size_t file,
                             bool whole, uint64_t start, uint64_t end, uint64_t line, size_t segment,
                             sf_error *err)
{
    const svm_file *f = &set->files[file];
    const char *const names[1] = {"y"};
    sf_source *s = NULL;
    SF_TRY(sfi_source_alloc(&s, &svm_ops, f->path, opt, 1, names, err));
    svm_reader *r = calloc(1, sizeof *r);
    if (!r) {
        sfi_source_free_header(s);
        return sfi_nomem(err);
    }
    r->fd = -1;
    r->src = s;
    r->set = set;
    r->file = file;
    r->whole = whole;
    r->start = start;
    r->end = end;
    r->start_line = line;
    r->segment = segment;
    s->impl = r;
    s->sparse_n_features = set->n_features;
    s->size = end == UINT64_MAX ? f->size : end - start;
    sf_status st = in_open(f->path, f->gz, &r->fd, &r->gz, NULL, err);
    if (st == SF_OK) st = seek_start(r, err);
    if (st != SF_OK) {
        svm_close(r);
        s->impl = NULL;
        sfi_source_free_header(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

/* Segment `local` of file `file` (its bounds known), telling its chunks they
 * come from segment `segment` of the whole source. */
static sf_status open_part(sf_source **out, const sf_source_options *opt, sfi_svm_set *set, size_t file,
                           size_t local, size_t segment, sf_error *err)
{
    const svm_file *f = &set->files[file];
    size_t n = f->gz ? 1 : f->n_bounds;
    if (!f->gz && !f->scanned) return sfi_fail(err, SF_ERR_STATE, NULL, "segments not counted");
    if (local >= n) return sfi_fail(err, SF_ERR_ARG, NULL, "segment %zu of %zu", local, n);
    if (f->gz) return open_reader(out, opt, set, file, false, 0, UINT64_MAX, 1, segment, err);
    return open_reader(out, opt, set, file, false, f->bound_off[local], f->bound_off[local + 1],
                       f->bound_line[local], segment, err);
}

static sf_status svm_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    *out = NULL;
    svm_reader *r = src->impl;
    if (!r->whole) return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "a segment cannot be split again");
    size_t n;
    SF_TRY(svm_n_segments(src, &n, err));
    return open_part(out, &src->opt, r->set, r->file, i, i, err);
}

static const sf_source_ops svm_ops = {
    .kind = "svmlight",
    .next = svm_next,
    .rewind = svm_rewind,
    .n_segments = svm_n_segments,
    .open_segment = svm_open_segment,
    .close = svm_close,
};

sf_status sfi_svmlight_open_member(sf_source **out, sfi_svm_set *set, size_t i, const sf_source_options *opt,
                                   sf_error *err)
{
    *out = NULL;
    return open_reader(out, opt, set, i, true, 0, UINT64_MAX, 1, 0, err);
}

sf_status sfi_svmlight_open_part(sf_source **out, sfi_svm_set *set, size_t file, size_t local, size_t segment,
                                 const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    return open_part(out, opt, set, file, local, segment, err);
}

bool sfi_source_known_labels(const sf_source *src, const double **labels, size_t *n)
{
    *labels = NULL;
    *n = 0;
    const sfi_svm_set *set = src->ops == &svm_ops ? ((const svm_reader *)src->impl)->set : sfi_multi_svm_set(src);
    if (!set || !set->labels_known) return false;
    *labels = set->labels;
    *n = set->n_labels;
    return true;
}

bool sfi_is_svmlight_name(const char *path)
{
    static const char *const ext[] = {".svm", ".svmlight", ".libsvm"};
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".gz") == 0) n -= 3;
    for (size_t k = 0; k < sizeof ext / sizeof *ext; k++) {
        size_t m = strlen(ext[k]);
        if (n > m && strncmp(path + n - m, ext[k], m) == 0) return true;
    }
    return false;
}

sf_status sfi_svmlight_open(sf_source **out, const char *path, const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    sfi_svm_set *set = NULL;
    SF_TRY(sfi_svmlight_set_open(&set, &path, 1, opt, err));
    sf_status st = sfi_svmlight_open_member(out, set, 0, opt, err);
    if (st != SF_OK) {
        sfi_svmlight_set_free(set);
        return st;
    }
    ((svm_reader *)(*out)->impl)->own = set;
    return SF_OK;
}
