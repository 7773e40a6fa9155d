/* sink.c — the public sf_sink API and the CSV kind.
 *
 * Every sink writes to "<target>.tmp-XXXXXX" in the target's directory and puts
 * it in the target's place only when sf_sink_close() succeeds, so an error or an abort
 * leaves any existing file untouched and no half-written one behind. A CSV target
 * that exists and is no regular file (/dev/null, a named pipe) is written in
 * place: renaming over it would replace the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/number_impl.h"
#include "io/sink_impl.h"
#include "streamfit/sf_number.h"

struct sf_sink {
    const sf_sink_ops *ops;
    void *impl;
    char *path;      /* final name, or NULL for standard output */
    char *tmp_path;  /* the file being written */
};

void sf_sink_options_init(sf_sink_options *o)
{
    memset(o, 0, sizeof *o);
    o->compression = 1;
    o->chunk_rows = 16384;
    o->delimiter = ',';
}

/* ---- CSV kind ---- */

/* Rows are assembled in `out` and handed to stdio a block at a time: a putc
 * and an fwrite per field (each taking the FILE's lock) cost as much as
 * formatting the numbers. */
#define CSV_OUT_SIZE 65536

typedef struct csv_sink {
    FILE *f;
    char delim;
    bool wrote_header;
    size_t n_cols;
    char display[256];
    size_t len; /* bytes waiting in out */
    char out[CSV_OUT_SIZE];
} csv_sink;

static sf_status csv_io_error(csv_sink *c, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, c->display);
    return sfi_fail(err, SF_ERR_IO, &w, "write failed: %s", strerror(errno));
}

static void out_flush(csv_sink *c)
{
    if (c->len) fwrite(c->out, 1, c->len, c->f);
    c->len = 0;
}

/* Where the next `need` (<= CSV_OUT_SIZE) bytes go; the caller adds what it
 * wrote to c->len. */
static char *out_room(csv_sink *c, size_t need)
{
    if (CSV_OUT_SIZE - c->len < need) out_flush(c);
    return c->out + c->len;
}

static void out_char(csv_sink *c, char ch)
{
    *out_room(c, 1) = ch;
    c->len++;
}

/* Quotes a field when it holds the delimiter, a quote, a line end, or would read
 * back as missing (an empty label is written as ""). */
static void put_text(csv_sink *c, const char *s, size_t n)
{
    bool quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == c->delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (n > CSV_OUT_SIZE / 2 - 1) {
        /* too long for the buffer, even quoted: straight to the FILE */
        out_flush(c);
        if (!quote) {
            fwrite(s, 1, n, c->f);
            return;
        }
        putc('"', c->f);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"') putc('"', c->f);
            putc(s[i], c->f);
        }
        putc('"', c->f);
        return;
    }
    char *o = out_room(c, 2 * n + 2), *const o0 = o;
    if (!quote) {
        memcpy(o, s, n);
        o += n;
    } else {
        *o++ = '"';
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"') *o++ = '"';
            *o++ = s[i];
        }
        *o++ = '"';
    }
    c->len += (size_t)(o - o0);
}

/* A delimiter (unless first) and, unless the field is empty, the number. */
static void put_field(csv_sink *c, bool first, bool empty, double v)
{
    char *o = out_room(c, 1 + SFI_FORMAT_ROOM);
    *o = c->delim;
    o += !first;
    if (!empty) o += sfi_format_double_raw(v, o);
    c->len = (size_t)(o - c->out);
}

/* Ends a call: the rows so far go to the FILE, and its error state is the
 * call's result (as when every field went to the FILE directly). */
static sf_status csv_end_call(csv_sink *c, sf_error *err)
{
    out_flush(c);
    return ferror(c->f) ? csv_io_error(c, err) : SF_OK;
}

static sf_status csv_write_table(void *impl, const sf_table *t, sf_error *err)
{
    csv_sink *c = impl;
    if (!c->wrote_header) {
        c->n_cols = t->n_cols;
        for (size_t j = 0; j < t->n_cols; j++) {
            if (j) out_char(c, c->delim);
            const char *name = t->names ? t->names[j] : "";
            put_text(c, name, strlen(name));
        }
        out_char(c, '\n');
        c->wrote_header = true;
    } else if (t->n_cols != c->n_cols) {
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "table has %zu columns, the sink %zu",
                        t->n_cols, c->n_cols);
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        for (size_t j = 0; j < t->n_cols; j++) {
            const sf_column *col = &t->cols[j];
            if (col->type == SF_COL_FLOAT || col->missing[i]) {
                put_field(c, j == 0, col->missing[i], col->type == SF_COL_FLOAT ? col->values[i] : 0);
            } else {
                if (j) out_char(c, c->delim);
                size_t n;
                const char *s = sf_dict_label(col->dict, (size_t)col->codes[i], &n);
                put_text(c, s ? s : "", s ? n : 0);
            }
        }
        out_char(c, '\n');
    }
    return csv_end_call(c, err);
}

static sf_status csv_write_matrix(void *impl, const char *name, const double *x, size_t n,
                                  size_t p, size_t ld, const char *const *col_names,
                                  sf_error *err)
{
    csv_sink *c = impl;
    size_t width = p ? p : 1;
    if (!c->wrote_header) {
        for (size_t j = 0; j < width; j++) {
            if (j) out_char(c, c->delim);
            const char *h = col_names ? col_names[j] : name;
            put_text(c, h, strlen(h));
        }
        out_char(c, '\n');
        c->wrote_header = true;
        c->n_cols = width;
    } else if (width != c->n_cols) {
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "matrix has %zu columns, the sink %zu", width,
                        c->n_cols);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < width; j++) {
            double v = p ? x[i * ld + j] : x[i];
            put_field(c, j == 0, isnan(v), v); /* NaN: an empty field, as missing */
        }
        out_char(c, '\n');
    }
    return csv_end_call(c, err);
}

static sf_status csv_finish(void *impl, sf_error *err)
{
    csv_sink *c = impl;
    sf_status st = SF_OK;
    out_flush(c);
    if (fflush(c->f) != 0 || ferror(c->f)) st = csv_io_error(c, err);
    if (c->f != stdout && fclose(c->f) != 0 && st == SF_OK) st = csv_io_error(c, err);
    free(c);
    return st;
}

static void csv_discard(void *impl)
{
    csv_sink *c = impl;
    if (!c) return;
    if (c->f != stdout) fclose(c->f);
    free(c);
}

static sf_status csv_flush(void *impl, sf_error *err)
{
    csv_sink *c = impl;
    out_flush(c);
    return fflush(c->f) != 0 ? csv_io_error(c, err) : SF_OK;
}

static const sf_sink_ops csv_sink_ops = {
    .flush = csv_flush,
    .kind = "csv",
    .write_table = csv_write_table,
    .write_matrix = csv_write_matrix,
    .finish = csv_finish,
    .discard = csv_discard,
};

/* ---- dispatch ---- */

static bool is_hdf5_name(const char *path, char **file, const char **group)
{
    const char *cut = NULL;
    for (const char *q = strstr(path, ":/"); q; q = strstr(q + 1, ":/")) cut = q;
    if (cut) {
        *file = strndup(path, (size_t)(cut - path));
        *group = cut + 1;
        return true;
    }
    size_t n = strlen(path);
    static const char *const ext[] = {".h5", ".hdf5", ".hdf"};
    for (size_t i = 0; i < 3; i++) {
        size_t m = strlen(ext[i]);
        if (n >= m && strcmp(path + n - m, ext[i]) == 0) {
            *file = strdup(path);
            *group = "/";
            return true;
        }
    }
    return false;
}

/* Whether path names a regular file or nothing yet (not a device, FIFO or socket):
 * what may be replaced by renaming a temporary file over it. */
bool sfi_is_regular_or_absent(const char *path)
{
    struct stat sb;
    return stat(path, &sb) != 0 || S_ISREG(sb.st_mode);
}

static sf_status make_tmp(const char *target, char **tmp_out, int *fd_out, sf_error *err)
{
    size_t n = strlen(target) + 16;
    char *tmp = malloc(n);
    if (!tmp) return sfi_nomem(err);
    snprintf(tmp, n, "%s.tmp-XXXXXX", target);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        sf_where w;
        sfi_where_init(&w, target);
        free(tmp);
        return sfi_fail(err, SF_ERR_IO, &w, "cannot create: %s", strerror(errno));
    }
    *tmp_out = tmp;
    *fd_out = fd;
    return SF_OK;
}

sf_status sf_sink_open(sf_sink **out, const char *path, const sf_sink_options *opt,
                       sf_error *err)
{
    if (!out || !path || !*path) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sink_open: no path");
    *out = NULL;
    sf_sink_options o;
    if (opt) o = *opt;
    else sf_sink_options_init(&o);
    if (o.compression < 0 || o.compression > 9)
        return sfi_fail(err, SF_ERR_ARG, NULL, "compression must be 0-9, got %d", o.compression);
    if (o.chunk_rows == 0) o.chunk_rows = 16384;
    sf_sink *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    char *file = NULL;
    const char *group = NULL;
    sf_status st;
    int fd = -1;
    if (is_hdf5_name(path, &file, &group)) {
        if (!file) {
            free(s);
            return sfi_nomem(err);
        }
        s->path = file;
        if (!sfi_is_regular_or_absent(file)) {
            sf_where w;
            sfi_where_init(&w, file);
            st = sfi_fail(err, SF_ERR_IO, &w, "an HDF5 file must be a regular file, not a device or pipe");
            goto fail;
        }
        st = make_tmp(file, &s->tmp_path, &fd, err);
        if (st != SF_OK) goto fail;
        /* HDF5 creates the file anew under this unique name, with O_EXCL: opened
         * with O_TRUNC (an existing file), ext4 takes it for a file replaced by
         * truncation and starts writing all of it back at close, in the closing
         * thread (auto_da_alloc: 0.03-0.06 s for a 200 MB design) */
        close(fd);
        unlink(s->tmp_path);
        s->ops = &sfi_hdf5_sink_ops;
        st = sfi_hdf5_sink_open(&s->impl, s->tmp_path, group, path, &o, err);
        if (st != SF_OK) goto fail;
        *out = s;
        return SF_OK;
    }
    csv_sink *c = calloc(1, sizeof *c);
    if (!c) {
        st = sfi_nomem(err);
        goto fail;
    }
    c->delim = o.delimiter ? o.delimiter : ',';
    s->ops = &csv_sink_ops;
    s->impl = c;
    if (strcmp(path, "-") == 0) {
        c->f = stdout;
        sfi_strlcpy(c->display, "<stdout>", sizeof c->display);
    } else if (!sfi_is_regular_or_absent(path)) {
        /* a device or a FIFO (/dev/null, a named pipe): written in place, never
         * replaced by a renamed temporary file */
        sfi_strlcpy(c->display, path, sizeof c->display);
        c->f = fopen(path, "w");
        if (!c->f) {
            st = sfi_fail(err, SF_ERR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
    } else {
        s->path = strdup(path);
        if (!s->path) {
            st = sfi_nomem(err);
            goto fail;
        }
        sfi_strlcpy(c->display, path, sizeof c->display);
        st = make_tmp(path, &s->tmp_path, &fd, err);
        if (st != SF_OK) goto fail;
        fchmod(fd, 0644); /* mkstemp makes 0600; outputs are ordinary files */
        c->f = fdopen(fd, "w");
        if (!c->f) {
            close(fd);
            st = sfi_fail(err, SF_ERR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
        setvbuf(c->f, NULL, _IOFBF, 1 << 20);
    }
    *out = s;
    return SF_OK;
fail:
    if (s->ops == &csv_sink_ops) {
        csv_sink *cs = s->impl;
        if (cs && cs->f && cs->f != stdout) fclose(cs->f);
        free(cs);
        s->impl = NULL;
        s->ops = NULL;
    }
    if (s->tmp_path) unlink(s->tmp_path);
    free(s->tmp_path);
    free(s->path);
    free(s);
    return st;
}

sf_status sf_sink_write_table(sf_sink *s, const sf_table *t, sf_error *err)
{
    if (!s || !t) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sink_write_table: NULL argument");
    return s->ops->write_table(s->impl, t, err);
}

sf_status sf_sink_write_matrix(sf_sink *s, const char *name, const double *x, size_t n, size_t p,
                               size_t ld, const char *const *col_names, sf_error *err)
{
    if (!s || !name || (!x && n)) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sink_write_matrix: NULL argument");
    if (p && ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "row stride %zu < columns %zu", ld, p);
    return s->ops->write_matrix(s->impl, name, x, n, p, ld, col_names, err);
}

sf_status sf_sink_flush(sf_sink *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sink_flush: NULL sink");
    return s->ops->flush ? s->ops->flush(s->impl, err) : SF_OK;
}

static void free_sink(sf_sink *s)
{
    free(s->tmp_path);
    free(s->path);
    free(s);
}

sf_status sf_sink_close(sf_sink *s, sf_error *err)
{
    if (!s) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_sink_close: NULL sink");
    sf_status st = s->ops->finish(s->impl, err);
    /* rename(): over an existing file ext4 writes the new one back inside the call
     * (auto_da_alloc, for programs that replace a file without fsync; 0.04-0.07 s
     * of a 200 MB design), so a machine crash leaves the old file or the new one,
     * never an empty one, as swapping them (renameat2 RENAME_EXCHANGE) could */
    if (st == SF_OK && s->path && rename(s->tmp_path, s->path) != 0) {
        sf_where w;
        sfi_where_init(&w, s->path);
        st = sfi_fail(err, SF_ERR_IO, &w, "cannot rename into place: %s", strerror(errno));
    }
    if (st != SF_OK && s->tmp_path) unlink(s->tmp_path);
    free_sink(s);
    return st;
}

void sf_sink_abort(sf_sink *s)
{
    if (!s) return;
    s->ops->discard(s->impl);
    if (s->tmp_path) unlink(s->tmp_path);
    free_sink(s);
}

/* For the tests: a sink that writes through ops into impl (a kind of the test's
 * own; its finish or discard frees impl). No file, no rename. */
SFI_FUNC sf_status sfi_sink_wrap(sf_sink **out, const sf_sink_ops *ops, void *impl, sf_error *err);
sf_status sfi_sink_wrap(sf_sink **out, const sf_sink_ops *ops, void *impl, sf_error *err)
{
    if (!out || !ops || !ops->write_table || !ops->finish || !ops->discard)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sfi_sink_wrap: NULL argument");
    sf_sink *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->ops = ops;
    s->impl = impl;
    *out = s;
    return SF_OK;
}
