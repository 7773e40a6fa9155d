/* csv_plan.c — lazy segment planning of a CSV file (see csv_plan.h).
 *
 * Blocks are the ranges between blind cuts. A block's state goes UNSCANNED -> BUSY
 * (one thread scans it, without the lock) -> DONE or FAILED; threads that need a
 * block another one is scanning wait on the condition variable, so every block
 * is read once. Scanning a block depends on nothing else, so no wait can last
 * longer than one block's scan. The prefix sums (line and quote parity at each
 * blind cut) and the true cuts are computed under the lock.
 *
 * A plan made by sfi_csv_plan_open owns its descriptor and holds it only while
 * blocks remain to scan or cuts to resolve: opened under the lock before a
 * claim or a resolve that reads, closed under the lock once every cut is
 * resolved (no scan can then be in flight: each resolved cut's blocks are DONE).
 */
#define _GNU_SOURCE
#include "io/csv_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/csv_scan.h"

/* bytes per pread when scanning a block: they stay in the L2 cache */
enum { PIECE = 1 << 17 };
/* bytes per pread when looking for a cut (a line or two is enough) */
enum { PEEK = 1 << 13 };

enum { UNSCANNED, BUSY, DONE, FAILED };

struct sfi_csv_plan {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;             /* -1: closed (an owned descriptor, reopened by name when needed) */
    bool owns_fd;       /* sfi_csv_plan_open: the plan opens and closes it */
    dev_t dev;          /* owned: the file planned, so a reopen finds the same one */
    ino_t ino;
    size_t n_resolved;  /* cuts 1..n-1 resolved: when n - 1, nothing is read again */
    char *name;
    uint64_t size, data_line;
    size_t n;           /* segments */
    uint64_t *cut;      /* n + 1 blind cuts: cut[0] the data start, cut[n] the size */
    /* per block k = [cut[k], cut[k+1]) */
    uint8_t *state;
    uint64_t *ends;     /* line ends in it */
    uint8_t *odd;       /* an odd number of quotes in it */
    size_t n_done;      /* blocks 0..n_done-1 are DONE */
    /* per cut: line number and quote parity before it (for k <= n_prefix) */
    size_t n_prefix;
    uint64_t *line_at;
    uint8_t *odd_at;
    /* per cut: the true cut (a record start) and its line, once resolved */
    uint8_t *resolved;
    uint64_t *tcut, *tline;
    sf_status st;       /* a failed scan: every later caller gets it */
    sf_error err;
};

static sf_status io_fail(const sfi_csv_plan *p, sf_error *err, const char *why)
{
    sf_where w;
    sfi_where_init(&w, p->name);
    return sfi_fail(err, SF_ERR_IO, &w, "read failed: %s", why);
}

/* Reads up to want bytes at off; *got < want only at the end of the file. */
static sf_status read_at(const sfi_csv_plan *p, int fd, char *buf, size_t want, uint64_t off, size_t *got,
                         sf_error *err)
{
    size_t n = 0;
    *got = 0;
    while (n < want) {
        ssize_t k = pread(fd, buf + n, want - n, (off_t)(off + n));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return io_fail(p, err, strerror(errno));
        if (k == 0) break;
        n += (size_t)k;
    }
    *got = n;
    return SF_OK;
}

/* The bytes last read by find_lf: cuts closer than PEEK apart (small segments)
 * are found in them without reading again. */
typedef struct peek_window {
    char *buf;
    uint64_t at;
    size_t len;
} peek_window;

/* The offset of the first LF at or after from, or the size when there is none. */
static sf_status find_lf(const sfi_csv_plan *p, peek_window *pw, uint64_t from, uint64_t *at,
                         sf_error *err)
{
    while (from < p->size) {
        if (from < pw->at || from >= pw->at + pw->len) {
            SF_TRY(read_at(p, p->fd, pw->buf, PEEK, from, &pw->len, err));
            pw->at = from;
            if (pw->len == 0) break;
        }
        const size_t skip = (size_t)(from - pw->at);
        const char *lf = memchr(pw->buf + skip, '\n', pw->len - skip);
        if (lf) {
            *at = pw->at + (uint64_t)(lf - pw->buf);
            return SF_OK;
        }
        from = pw->at + pw->len;
    }
    *at = p->size;
    return SF_OK;
}

/* The blind cuts: every segment_bytes from the previous cut, after the next LF
 * (as the whole-file scan cut before, quotes aside); none at the very end. */
static sf_status blind_cuts(sfi_csv_plan *p, uint64_t data_offset, uint64_t segment_bytes,
                            sf_error *err)
{
    size_t cap = 16;
    peek_window pw = {malloc(PEEK), 0, 0};
    p->cut = malloc(cap * sizeof *p->cut);
    if (!pw.buf || !p->cut) {
        free(pw.buf);
        return sfi_nomem(err);
    }
    size_t n = 0;
    p->cut[n++] = data_offset;
    uint64_t pos = data_offset;
    sf_status st = SF_OK;
    while (pos < p->size && segment_bytes < p->size - pos) {
        uint64_t lf;
        st = find_lf(p, &pw, pos + segment_bytes - 1, &lf, err);
        if (st != SF_OK || lf + 1 >= p->size) break;
        if (n + 1 == cap) {
            uint64_t *c = realloc(p->cut, 2 * cap * sizeof *c);
            if (!c) {
                st = sfi_nomem(err);
                break;
            }
            p->cut = c;
            cap *= 2;
        }
        p->cut[n++] = pos = lf + 1;
    }
    free(pw.buf);
    p->cut[n] = p->size; /* room kept: n + 1 < cap */
    p->n = n;
    return st;
}

sf_status sfi_csv_plan_new(sfi_csv_plan **out, int fd, const char *name, uint64_t data_offset,
                           uint64_t data_line, uint64_t size, uint64_t segment_bytes,
                           sf_error *err)
{
    *out = NULL;
    sfi_csv_plan *p = calloc(1, sizeof *p);
    if (!p) return sfi_nomem(err);
    p->fd = fd;
    p->size = size < data_offset ? data_offset : size;
    p->data_line = data_line;
    p->name = strdup(name);
    if (!p->name || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->name);
        free(p);
        return sfi_nomem(err);
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->name);
        free(p);
        return sfi_nomem(err);
    }
    sf_status st = blind_cuts(p, data_offset, segment_bytes ? segment_bytes : 1, err);
    if (st != SF_OK) {
        sfi_csv_plan_free(p);
        return st;
    }
    size_t n = p->n;
    p->state = calloc(n, 1);
    p->ends = calloc(n, sizeof *p->ends);
    p->odd = calloc(n, 1);
    p->line_at = calloc(n + 1, sizeof *p->line_at);
    p->odd_at = calloc(n + 1, 1);
    p->resolved = calloc(n + 1, 1);
    p->tcut = calloc(n + 1, sizeof *p->tcut);
    p->tline = calloc(n + 1, sizeof *p->tline);
    if (!p->state || !p->ends || !p->odd || !p->line_at || !p->odd_at || !p->resolved ||
        !p->tcut || !p->tline) {
        sfi_csv_plan_free(p);
        return sfi_nomem(err);
    }
    p->line_at[0] = data_line;
    /* the data start and the end are record boundaries */
    p->resolved[0] = p->resolved[n] = 1;
    p->tcut[0] = data_offset;
    p->tline[0] = data_line;
    p->tcut[n] = p->size;
    *out = p;
    return SF_OK;
}

sf_status sfi_csv_plan_open(sfi_csv_plan **out, const char *path, uint64_t data_offset,
                            uint64_t data_line, uint64_t segment_bytes, sf_error *err)
{
    *out = NULL;
    sf_where w;
    sfi_where_init(&w, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sfi_fail(err, SF_ERR_IO, &w, "cannot open: %s", strerror(errno));
    struct stat sb;
    bool stat_ok = fstat(fd, &sb) == 0; /* sb is unset when it fails */
    if (!stat_ok || !S_ISREG(sb.st_mode)) {
        sf_status st = sfi_fail(err, SF_ERR_IO, &w, "cannot cut into segments: %s",
                                stat_ok ? "not a regular file" : strerror(errno));
        close(fd);
        return st;
    }
    sf_status st = sfi_csv_plan_new(out, fd, path, data_offset, data_line, (uint64_t)sb.st_size,
                                    segment_bytes, err);
    close(fd);
    if (st != SF_OK) return st;
    (*out)->fd = -1; /* opened again by the first opener that scans */
    (*out)->owns_fd = true;
    (*out)->dev = sb.st_dev;
    (*out)->ino = sb.st_ino;
    return SF_OK;
}

/* An owned plan's descriptor, opened again when closed: the same file (device,
 * inode and size as planned), else SF_ERR_IO. Lock held. */
static sf_status hold_fd(sfi_csv_plan *p, sf_error *err)
{
    if (p->fd >= 0) return SF_OK;
    sf_where w;
    sfi_where_init(&w, p->name);
    int fd = open(p->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sfi_fail(err, SF_ERR_IO, &w, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_dev != p->dev || sb.st_ino != p->ino || (uint64_t)sb.st_size != p->size) {
        close(fd);
        return sfi_fail(err, SF_ERR_IO, &w, "the file changed since its segments were planned");
    }
    p->fd = fd;
    return SF_OK;
}

/* Closes an owned descriptor once every cut is resolved: no block or cut is read
 * again (a scan in flight is of a block before a cut not yet resolved). Lock held. */
static void drop_fd(sfi_csv_plan *p)
{
    if (p->owns_fd && p->fd >= 0 && p->n_resolved + 1 >= p->n) {
        close(p->fd);
        p->fd = -1;
    }
}

size_t sfi_csv_plan_count(const sfi_csv_plan *p) { return p->n; }

void sfi_csv_plan_free(sfi_csv_plan *p)
{
    if (!p) return;
    if (p->owns_fd && p->fd >= 0) close(p->fd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->name);
    free(p->cut);
    free(p->state);
    free(p->ends);
    free(p->odd);
    free(p->line_at);
    free(p->odd_at);
    free(p->resolved);
    free(p->tcut);
    free(p->tline);
    free(p);
}

/* Line ends and quote parity of block k (no lock held: reads only cut[]). */
static sf_status scan_block(const sfi_csv_plan *p, int fd, size_t k, uint64_t *ends, uint8_t *odd,
                            sf_error *err)
{
    /* 64-byte aligned: a copy out of the page cache into a buffer at another
     * offset within a cache line than the file data runs at half the speed */
    uint64_t off = p->cut[k], end = p->cut[k + 1], e = 0;
    /* a small block (small segments) gets a small buffer */
    const size_t cap = end - off < PIECE ? ((size_t)(end - off) + 63) / 64 * 64 : PIECE;
    char *buf = aligned_alloc(64, cap ? cap : 64);
    if (!buf) return sfi_nomem(err);
    size_t q = 0;
    sf_status st = SF_OK;
    while (off < end) {
        size_t want = end - off < PIECE ? (size_t)(end - off) : PIECE, got = 0;
        st = read_at(p, fd, buf, want, off, &got, err);
        if (st != SF_OK) break;
        if (got == 0) {
            st = io_fail(p, err, "the file is shorter than when it was opened");
            break;
        }
        /* a CR ending the piece is read again with the next one, so a bare CR
         * (a line end too) is told from CRLF */
        if (got > 1 && off + got < end && buf[got - 1] == '\r') got--;
        bool quote;
        e += sfi_csv_line_ends(buf, got, &quote);
        if (quote) q += sfi_csv_count_byte(buf, got, '"');
        off += got;
    }
    free(buf);
    *ends = e;
    *odd = (uint8_t)(q & 1);
    return st;
}

/* Makes blocks 0..last DONE, scanning those no thread has taken (block last
 * first: the caller's own), then the prefix sums up to cut last + 1. Called and
 * returns with the lock held. */
static sf_status need_blocks(sfi_csv_plan *p, size_t last, sf_error *err)
{
    for (;;) {
        if (SF_IS_ERROR(p->st)) {
            if (err) *err = p->err;
            return p->st;
        }
        if (p->n_done > last) break;
        /* the caller's own block, then the first one no thread has taken (from
         * n_done up: each claim is O(1) when blocks are needed in order) */
        size_t claim = p->state[last] == UNSCANNED ? last : SIZE_MAX;
        for (size_t j = p->n_done; claim == SIZE_MAX && j < last; j++)
            if (p->state[j] == UNSCANNED) claim = j;
        if (claim == SIZE_MAX) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        sf_error my;
        sf_status st = hold_fd(p, &my);
        if (st != SF_OK) {
            p->st = st; /* sticky, as a failed scan */
            p->err = my;
            if (err) *err = my;
            pthread_cond_broadcast(&p->cv);
            return st;
        }
        const int fd = p->fd; /* stays open while a block is BUSY */
        p->state[claim] = BUSY;
        pthread_mutex_unlock(&p->mu);
        uint64_t e = 0;
        uint8_t o = 0;
        st = scan_block(p, fd, claim, &e, &o, &my);
        pthread_mutex_lock(&p->mu);
        if (st != SF_OK) {
            p->state[claim] = FAILED;
            if (!SF_IS_ERROR(p->st)) {
                p->st = st;
                p->err = my;
            }
        } else {
            p->ends[claim] = e;
            p->odd[claim] = o;
            p->state[claim] = DONE;
            while (p->n_done < p->n && p->state[p->n_done] == DONE) p->n_done++;
        }
        pthread_cond_broadcast(&p->cv);
    }
    for (; p->n_prefix <= last; p->n_prefix++) {
        size_t j = p->n_prefix;
        p->line_at[j + 1] = p->line_at[j] + p->ends[j];
        p->odd_at[j + 1] = p->odd_at[j] ^ p->odd[j];
    }
    return SF_OK;
}

/* Resolves cut k (0 < k < n; blocks 0..k-1 DONE): a blind cut after an even
 * number of quotes starts a record; after an odd one its LF is inside a quoted
 * field, and the true cut is after the next LF outside quotes (the whole-file
 * scan's rule: a quote toggles, "" twice). Lock held. */
static sf_status resolve(sfi_csv_plan *p, size_t k, sf_error *err)
{
    if (p->resolved[k]) return SF_OK;
    uint64_t at = p->cut[k], line = p->line_at[k];
    if (p->odd_at[k]) {
        SF_TRY(hold_fd(p, err));
        char *buf = malloc(PEEK + 1);
        if (!buf) return sfi_nomem(err);
        bool quoted = true, found = false;
        while (!found && at < p->size) {
            size_t got = 0;
            sf_status st = read_at(p, p->fd, buf, PEEK + 1, at, &got, err);
            if (st != SF_OK) {
                free(buf);
                return st;
            }
            if (got == 0) break;
            /* the last byte only shows whether a CR before it is bare */
            size_t use = got > PEEK ? PEEK : got, i = 0;
            for (; i < use; i++) {
                char c = buf[i];
                if (c == '"') quoted = !quoted;
                else if (c == '\r' && i + 1 < got && buf[i + 1] != '\n') line++;
                else if (c == '\n') {
                    line++;
                    if (!quoted) {
                        found = true;
                        i++;
                        break;
                    }
                }
            }
            at += i;
        }
        free(buf);
        if (!found) at = p->size;
    }
    p->tcut[k] = at;
    p->tline[k] = line;
    p->resolved[k] = 1;
    p->n_resolved++;
    return SF_OK;
}

sf_status sfi_csv_plan_range(sfi_csv_plan *p, size_t i, uint64_t *start, uint64_t *end,
                             uint64_t *line, sf_error *err)
{
    if (i >= p->n) return sfi_fail(err, SF_ERR_ARG, NULL, "segment %zu of %zu", i, p->n);
    pthread_mutex_lock(&p->mu);
    sf_status st = SF_OK;
    /* the end of the last segment is the end of the file: its block is not read */
    size_t last_cut = i + 1 < p->n ? i + 1 : i;
    if (last_cut > 0) st = need_blocks(p, last_cut - 1, err);
    if (st == SF_OK && i > 0) st = resolve(p, i, err);
    if (st == SF_OK && i + 1 < p->n) st = resolve(p, i + 1, err);
    if (st == SF_OK) {
        *start = p->tcut[i];
        *line = p->tline[i];
        *end = p->tcut[i + 1];
    }
    drop_fd(p);
    pthread_mutex_unlock(&p->mu);
    return st;
}
