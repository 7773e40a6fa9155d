/* hdf5_sink.c — writes tables and matrices to HDF5 (sink kind "hdf5").
 *
 * Layout, readable as-is by h5py and PyTables:
 *   - a table becomes a group (the sink's group) holding one 1-D dataset per column,
 *     float64 or variable-length UTF-8 strings (category labels), and the group
 *     attribute "columns" (variable-length strings) giving the column order;
 *     io/hdf5_source.c reads such a group back as a table;
 *   - write_matrix appends to a named 2-D (p > 0) or 1-D (p == 0) float64 dataset
 *     with an optional "columns" attribute, as seed 000's PyTables EArrays.
 * Every dataset is extendable along rows (maxdims H5S_UNLIMITED on dim 0), chunked by
 * opt->chunk_rows rows, deflated at opt->compression (0 = no filter); no shuffle, no
 * fletcher32. io/sink.c owns the temporary-file-then-rename protocol.
 *
 * Float64 datasets are written chunk by chunk (the "chunk writer" below): rows are
 * copied into the dataset's current chunk, and a full chunk goes to a queue that
 * opt->threads threads empty: each deflates a chunk (io/deflate.c: ISA-L or libdeflate
 * when built in, else zlib; outside HDF5's global lock, so chunks deflate in parallel)
 * and writes it with H5Dwrite_chunk (direct chunk write, under the lock). The filter
 * pipeline is the one H5Pset_deflate declares, so h5py, PyTables and H5Dread read the
 * chunks as HDF5's own filter would have written them. The last, partial chunk of a
 * dataset is written at finish, its rows past the end NaN (the fill value), as HDF5
 * stores edge chunks whole. Memory: one chunk per dataset plus at most QUEUE_BYTES of
 * chunks in flight, whatever the number of rows. A chunk that fails to write fails the
 * sink: the write or finish that sees it reports HDF5's message. String columns keep
 * H5Dwrite.
 *
 * Files use the HDF5 1.8 format (libver bounds V18..V18): it stores attributes larger
 * than 64 KiB (a "columns" list of thousands of names) in dense storage, which the
 * 1.6-compatible default cannot, and every HDF5 >= 1.8 reader opens it.
 */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/deflate.h"
#include "io/hdf5_mdc.h"
#include "io/sink_impl.h"

/* A chunk of a 2-D dataset holds at most this many bytes (a wide design matrix
 * would otherwise make chunk_rows-row chunks of hundreds of megabytes). */
#define MAX_CHUNK_BYTES ((size_t)4 << 20)

/* Bytes of full chunks waiting for or being deflated and written, at most (one chunk
 * is always let through). */
#define QUEUE_BYTES ((size_t)4 << 20)

/* Chunks of ALIGN_THRESHOLD bytes or more start at multiples of the sink's alignment
 * (FILE_ALIGNMENT, or less: sink_alignment) in the file, and chunk buffers at
 * multiples of BUF_ALIGNMENT in memory: the kernel copies a write into the page
 * cache at ~2/3 of the speed when the buffer and the file offset lie at different
 * offsets within a cache line (HDF5 put chunks at 40 or 56 mod 64, malloc gives 16).
 * HDF5 puts the gap an aligned allocation leaves after the previous chunk in the
 * file's free-space manager: one section (~140 bytes of heap with its skip-list
 * node) a gap, kept while the file is open, so memory grew with the rows. Stored
 * chunks are aligned to a power of two that divides their size, so they leave no
 * gaps (sink_alignment). Deflated chunks end anywhere: each still leaves one (so
 * ~0.4 MB for the 3,000 chunks of the 25M-row zlib-1 design); tests/test_h5chunks.c
 * asks for them aligned to 4096, though they are written from an unaligned deflate
 * buffer.
 * The padding costs under 4 KiB a chunk. */
#define ALIGN_THRESHOLD ((hsize_t)64 << 10)
#define FILE_ALIGNMENT ((hsize_t)4096)
#define BUF_ALIGNMENT ((size_t)64)

static double *chunk_alloc(size_t bytes)
{
    return aligned_alloc(BUF_ALIGNMENT, (bytes + BUF_ALIGNMENT - 1) / BUF_ALIGNMENT * BUF_ALIGNMENT);
}

/* A float64 dataset written chunk by chunk. */
typedef struct chunked {
    hid_t dset;
    size_t width;          /* doubles per row: p, or 1 for a 1-D dataset */
    hsize_t crows;         /* rows per chunk */
    size_t chunk_bytes;
    hsize_t rows;          /* rows appended */
    hsize_t extent;        /* the dataset's: grown to a chunk's end as the chunk is handed
                              over, and to rows at finish (chunked_extend) */
    double *cur;           /* the chunk being filled: rows % crows rows so far */
} chunked;

/* A chunk on its way to the file. */
typedef struct cjob {
    hid_t dset;
    hsize_t off[2];
    double *buf;
    size_t bytes, cap;
    struct cjob *next;
} cjob;

/* The chunk writer: a queue of full chunks and the threads that deflate and write
 * them; the first failure is kept (HDF5's message) and fails the sink. */
typedef struct writer {
    pthread_mutex_t mu;
    pthread_cond_t work, room;
    pthread_t *th;
    size_t n_th, started;
    int level;             /* deflate level; 0 = store */
    cjob *head, *tail;     /* queued */
    cjob *spare;           /* written jobs, buffers kept for reuse */
    size_t queued_bytes;   /* queued or being written */
    size_t queue_max;      /* QUEUE_BYTES, or SF_HDF5_SINK_QUEUE_BYTES (tests) */
    bool stop;
    bool failed;
    char msg[200];
} writer;

typedef struct matrix_ds {
    char *name;
    chunked c;
    size_t p;
} matrix_ds;

typedef struct hdf5_sink {
    hid_t fid, gid, str_type;
    sf_sink_options opt;
    sf_where where;
    /* the table layout, fixed by the first write_table */
    bool have_table;
    size_t n_cols;
    char **names;
    sf_coltype *types;
    hid_t *cols;
    chunked *fcols;        /* float columns: written by the chunk writer */
    hsize_t rows;
    const char **sbuf;
    size_t buf_cap;
    /* write_matrix datasets */
    matrix_ds *mats;
    size_t n_mats;
    writer w;
    bool have_writer;
    hsize_t align;         /* chunks' file alignment (0: none), see sink_alignment */
} hdf5_sink;

static herr_t first_error_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && *e->desc) sfi_strlcpy(buf, e->desc, 200);
    return 0;
}

/* The most specific message on HDF5's error stack; call inside the TRY. */
static void h5_message(char buf[200])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error_cb, buf);
    if (!buf[0]) sfi_strlcpy(buf, "unknown HDF5 error", 200);
}

static sf_status fail_h5(hdf5_sink *s, sf_error *err, sf_status st, const char *what)
{
    char msg[200];
    h5_message(msg);
    return sfi_fail(err, st, &s->where, "%s: %s", what, msg);
}

static void close_id(hid_t *id)
{
    if (*id >= 0) H5Idec_ref(*id);
    *id = -1;
}

/* HDF5 link names cannot hold '/' and "." names the group itself: column "a/b" is
 * stored as link "a%2Fb" (its true name stays in "columns"). Mirrored by link_name()
 * in io/hdf5_source.c. */
static char *link_name(const char *name)
{
    if (!*name) return strdup("%00");
    if (strcmp(name, ".") == 0) return strdup("%2E");
    size_t n = 0;
    for (const char *p = name; *p; p++) n += *p == '/' ? 3 : 1;
    char *out = malloc(n + 1), *q = out;
    if (!out) return NULL;
    for (const char *p = name; *p; p++) {
        if (*p == '/') {
            memcpy(q, "%2F", 3);
            q += 3;
        } else
            *q++ = *p;
    }
    *q = '\0';
    return out;
}

/* ------------------------------------------------------------------ chunk writer */

/* Deflates (unless w->level is 0) and writes job j; the thread's deflater and
 * output buffer are made on first use. Returns false with HDF5's message in msg. */
static bool write_job(writer *w, cjob *j, sfi_deflater **def, unsigned char **zbuf,
                      size_t *zcap, char msg[200])
{
    const void *data = j->buf;
    size_t size = j->bytes;
    if (w->level > 0) {
        size_t bound = sfi_deflate_bound(j->bytes);
        if (*zcap < bound) {
            unsigned char *b = realloc(*zbuf, bound);
            if (!b) {
                sfi_strlcpy(msg, "out of memory", 200);
                return false;
            }
            *zbuf = b;
            *zcap = bound;
        }
        if (!*def && !(*def = sfi_deflater_new(w->level))) {
            sfi_strlcpy(msg, "out of memory", 200);
            return false;
        }
        size = sfi_deflate(*def, j->buf, j->bytes, *zbuf, *zcap);
        if (size == 0) {
            sfi_strlcpy(msg, "out of memory in deflate", 200);
            return false;
        }
        data = *zbuf;
    }
    herr_t rc;
    H5E_BEGIN_TRY { rc = H5Dwrite_chunk(j->dset, H5P_DEFAULT, 0, j->off, size, data); }
    H5E_END_TRY;
    if (rc < 0) {
        H5E_BEGIN_TRY { h5_message(msg); } H5E_END_TRY;
        return false;
    }
    return true;
}

/* Takes j off the books: its bytes leave the queue, it goes to the spares. */
static void job_done(writer *w, cjob *j, bool ok, const char *msg)
{
    pthread_mutex_lock(&w->mu);
    if (!ok && !w->failed) {
        w->failed = true;
        sfi_strlcpy(w->msg, msg, sizeof w->msg);
    }
    w->queued_bytes -= j->bytes;
    j->next = w->spare;
    w->spare = j;
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_thread(void *arg)
{
    writer *w = arg;
    sfi_deflater *def = NULL;
    unsigned char *zbuf = NULL;
    size_t zcap = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stop) pthread_cond_wait(&w->work, &w->mu);
        cjob *j = w->head;
        if (j) {
            w->head = j->next;
            if (!w->head) w->tail = NULL;
        }
        bool skip = w->failed;
        pthread_mutex_unlock(&w->mu);
        if (!j) break; /* stopped and nothing queued */
        char msg[200] = "";
        bool ok = skip || write_job(w, j, &def, &zbuf, &zcap, msg);
        job_done(w, j, ok, msg);
    }
    sfi_deflater_free(def);
    free(zbuf);
    return NULL;
}

static void writer_init(writer *w, const sf_sink_options *opt)
{
    memset(w, 0, sizeof *w);
    w->level = opt->compression;
    size_t n = opt->threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (size_t)cpus : 1;
    }
    if (n > 64) n = 64;
    if (w->level == 0) n = 1; /* storing is the lock's work: one thread overlaps it */
    w->n_th = n;
    /* the environment's bytes in flight (the tests: 1 lets one chunk through at a
     * time, so the buffers held do not depend on the threads' timing) */
    const char *env = getenv("SF_HDF5_SINK_QUEUE_BYTES");
    char *end = NULL;
    unsigned long long q = env ? strtoull(env, &end, 10) : 0;
    w->queue_max = env && end != env && *end == '\0' && q > 0 ? (size_t)q : QUEUE_BYTES;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->room, NULL);
}

/* Starts the threads (first chunk); none started = chunks are written inline. */
static void writer_start(writer *w)
{
    if (w->th) return;
    w->th = calloc(w->n_th, sizeof *w->th);
    for (size_t k = 0; w->th && k < w->n_th; k++) {
        if (pthread_create(&w->th[k], NULL, writer_thread, w) != 0) break;
        w->started++;
    }
    if (!w->th) w->n_th = 0;
}

/* Waits until every queued chunk is written; false when one failed. */
static bool writer_drain(writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->queued_bytes > 0) pthread_cond_wait(&w->room, &w->mu);
    bool ok = !w->failed;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* Stops and joins the threads (dropping what is queued when drop) and frees the spares. */
static void writer_end(writer *w, bool drop)
{
    pthread_mutex_lock(&w->mu);
    if (drop) w->failed = true; /* the threads skip what is left */
    w->stop = true;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    for (size_t k = 0; k < w->started; k++) pthread_join(w->th[k], NULL);
    free(w->th);
    w->th = NULL;
    w->started = 0;
    while (w->spare) {
        cjob *j = w->spare;
        w->spare = j->next;
        free(j->buf);
        free(j);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->room);
}

static bool writer_failed(writer *w)
{
    pthread_mutex_lock(&w->mu);
    bool f = w->failed;
    pthread_mutex_unlock(&w->mu);
    return f;
}

static sf_status writer_failure(hdf5_sink *s, sf_error *err)
{
    return sfi_fail(err, SF_ERR_IO, &s->where, "cannot write: %s", s->w.msg);
}

/* Hands c's current (full, or padded last) chunk to the writer and gives c an empty
 * one. Waits while the queue is full. */
static sf_status submit(hdf5_sink *s, chunked *c, sf_error *err)
{
    writer *w = &s->w;
    writer_start(w);
    pthread_mutex_lock(&w->mu);
    while (w->queued_bytes > 0 && w->queued_bytes + c->chunk_bytes > w->queue_max && !w->failed)
        pthread_cond_wait(&w->room, &w->mu);
    if (w->failed) {
        pthread_mutex_unlock(&w->mu);
        return writer_failure(s, err);
    }
    /* a spare holding a buffer of this chunk size: buffers are reused, never freed and
     * made again (glibc's moving mmap threshold turns that churn into RSS growth) */
    cjob **pj = &w->spare;
    while (*pj && (*pj)->cap != c->chunk_bytes) pj = &(*pj)->next;
    cjob *j = *pj;
    if (j) *pj = j->next;
    pthread_mutex_unlock(&w->mu);
    if (!j && !(j = calloc(1, sizeof *j))) return sfi_nomem(err);
    double *fresh = j->buf;
    if (!fresh && !(fresh = chunk_alloc(c->chunk_bytes))) {
        free(j);
        return sfi_nomem(err);
    }
    hsize_t ci = (c->rows - 1) / c->crows;
    j->dset = c->dset;
    j->off[0] = ci * c->crows;
    j->off[1] = 0;
    j->buf = c->cur;
    j->bytes = c->chunk_bytes;
    j->next = NULL;
    c->cur = fresh;
    j->cap = c->chunk_bytes; /* the buffer it holds now is the chunk's */
    if (w->started == 0) {
        /* no threads: write it here */
        char msg[200] = "";
        sfi_deflater *def = NULL;
        unsigned char *zbuf = NULL;
        size_t zcap = 0;
        pthread_mutex_lock(&w->mu);
        w->queued_bytes += j->bytes;
        pthread_mutex_unlock(&w->mu);
        bool ok = write_job(w, j, &def, &zbuf, &zcap, msg);
        sfi_deflater_free(def);
        free(zbuf);
        job_done(w, j, ok, msg);
        return ok ? SF_OK : writer_failure(s, err);
    }
    pthread_mutex_lock(&w->mu);
    w->queued_bytes += j->bytes;
    if (w->tail) w->tail->next = j;
    else w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    return SF_OK;
}

/* Sets the extent of c's dataset to rows rows. */
static sf_status chunked_extend(hdf5_sink *s, chunked *c, hsize_t rows, sf_error *err)
{
    if (c->extent == rows) return SF_OK;
    hsize_t size[2] = {rows, c->width};
    if (H5Dset_extent(c->dset, size) < 0) return fail_h5(s, err, SF_ERR_IO, "cannot write");
    c->extent = rows;
    return SF_OK;
}

/* Appends n rows to c: row i is x[i * ld .. + c->width), NaN where miss[i] (miss may
 * be NULL). The dataset grows as a chunk fills, before the chunk is handed over (so
 * it lies inside it), not at every append: H5Dset_extent dirties the dataset's
 * object header, and with the sink's small metadata cache each call cost a header
 * flush and checksum. A k-means model's 128 distances written 511 rows at a time
 * (pipeline/predict.c's pieces) spent 13% of the time in HDF5, 5% when the extent
 * grew a chunk at a time. */
static sf_status chunked_append(hdf5_sink *s, chunked *c, const double *x, size_t n, size_t ld,
                                const uint8_t *miss, sf_error *err)
{
    if (n == 0) return SF_OK;
    if (writer_failed(&s->w)) return writer_failure(s, err);
    if (!c->cur && !(c->cur = chunk_alloc(c->chunk_bytes))) return sfi_nomem(err);
    size_t w = c->width;
    for (size_t i = 0; i < n;) {
        size_t r0 = (size_t)(c->rows % c->crows), k = (size_t)c->crows - r0;
        if (k > n - i) k = n - i;
        double *dst = c->cur + r0 * w;
        if (w == ld && !miss) memcpy(dst, x + i * ld, k * w * sizeof *dst);
        else
            for (size_t r = 0; r < k; r++) {
                if (miss && miss[i + r])
                    for (size_t m = 0; m < w; m++) dst[r * w + m] = NAN;
                else memcpy(dst + r * w, x + (i + r) * ld, w * sizeof *dst);
            }
        c->rows += k;
        i += k;
        if (c->rows % c->crows == 0) {
            SF_TRY(chunked_extend(s, c, c->rows, err));
            SF_TRY(submit(s, c, err));
        }
    }
    return SF_OK;
}

/* Gives c's dataset its final extent and writes c's partial last chunk, its rows
 * past the end NaN. */
static sf_status chunked_finish(hdf5_sink *s, chunked *c, sf_error *err)
{
    SF_TRY(chunked_extend(s, c, c->rows, err));
    size_t r0 = (size_t)(c->rows % c->crows);
    if (r0 == 0 || !c->cur) return SF_OK;
    for (size_t i = r0 * c->width; i < (size_t)c->crows * c->width; i++) c->cur[i] = NAN;
    return submit(s, c, err);
}


static void sink_free(hdf5_sink *s)
{
    if (!s) return;
    if (s->have_writer) writer_end(&s->w, true); /* before the datasets close */
    s->have_writer = false;
    for (size_t j = 0; j < s->n_cols; j++) {
        if (s->cols) close_id(&s->cols[j]);
        if (s->names) free(s->names[j]);
    }
    free(s->cols);
    for (size_t j = 0; s->fcols && j < s->n_cols; j++) free(s->fcols[j].cur);
    free(s->fcols);
    free(s->names);
    free(s->types);
    free(s->sbuf);
    for (size_t k = 0; k < s->n_mats; k++) {
        free(s->mats[k].name);
        free(s->mats[k].c.cur);
        close_id(&s->mats[k].c.dset);
    }
    free(s->mats);
    close_id(&s->str_type);
    close_id(&s->gid);
    close_id(&s->fid);
    free(s);
}

/* The file alignment of a sink's chunks: FILE_ALIGNMENT when they are deflated (see
 * ALIGN_THRESHOLD), else the largest power of two up to FILE_ALIGNMENT dividing a
 * chunk of one column (chunk_rows doubles), which divides every chunk the sink
 * writes (create_extendable keeps capped 2-D chunks to it), so they leave no gaps:
 * 1,000-row chunks of 12 columns (96,000 bytes) left one each at 4096; none below
 * a cache line. */
static hsize_t sink_alignment(const sf_sink_options *opt)
{
    if (opt->compression > 0) return FILE_ALIGNMENT;
    hsize_t b = (hsize_t)opt->chunk_rows * sizeof(double), a = b & (~b + 1); /* its lowest set bit */
    if (a > FILE_ALIGNMENT) a = FILE_ALIGNMENT;
    return a >= BUF_ALIGNMENT ? a : 0;
}

static sf_status do_open(void **impl_out, const char *tmp_path, const char *group,
                         const char *display, const sf_sink_options *opt, sf_error *err)
{
    hdf5_sink *s = calloc(1, sizeof *s);
    if (!s) return sfi_nomem(err);
    s->fid = s->gid = s->str_type = -1;
    s->opt = *opt;
    if (s->opt.chunk_rows == 0) s->opt.chunk_rows = 16384;
    writer_init(&s->w, &s->opt);
    s->have_writer = true;
    sfi_where_init(&s->where, display ? display : tmp_path);
    sf_status st = SF_OK;
    hid_t fapl = -1, lcpl = -1;
    if (opt->compression < 0 || opt->compression > 9) {
        st = sfi_fail(err, SF_ERR_ARG, &s->where, "compression must be 0-9, got %d",
                      opt->compression);
        goto done;
    }
    if (opt->compression > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
        st = sfi_fail(err, SF_ERR_UNSUPPORTED, &s->where,
                      "this HDF5 library has no deflate filter");
        goto done;
    }
    /* a small fixed metadata cache: io/hdf5_mdc.h */
    fapl = sfi_h5_fapl_sized(SFI_H5_MDC_SINK_BYTES);
    s->align = sink_alignment(&s->opt);
    if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
        (s->align && H5Pset_alignment(fapl, ALIGN_THRESHOLD, s->align) < 0)) {
        st = fail_h5(s, err, SF_ERR_INTERNAL, "cannot set file access properties");
        goto done;
    }
    /* io/sink.c removed the name mkstemp reserved: created with O_EXCL, not
     * truncated (see sf_sink_open) */
    s->fid = H5Fcreate(tmp_path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    if (s->fid < 0) {
        st = fail_h5(s, err, SF_ERR_IO, "cannot create");
        goto done;
    }
    /* io/sink.c made the name with mkstemp (mode 0600); outputs are ordinary files */
    chmod(tmp_path, 0644);
    if (!group || !*group || strcmp(group, "/") == 0) {
        s->gid = H5Gopen2(s->fid, "/", H5P_DEFAULT);
    } else {
        lcpl = H5Pcreate(H5P_LINK_CREATE);
        if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
            s->gid = H5Gcreate2(s->fid, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    }
    if (s->gid < 0) {
        st = fail_h5(s, err, SF_ERR_ARG, "cannot create the group");
        goto done;
    }
    s->str_type = H5Tcopy(H5T_C_S1);
    if (s->str_type < 0 || H5Tset_size(s->str_type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(s->str_type, H5T_CSET_UTF8) < 0)
        st = fail_h5(s, err, SF_ERR_INTERNAL, "cannot make the string type");
done:
    close_id(&fapl);
    close_id(&lcpl);
    if (st != SF_OK) {
        sink_free(s);
        return st;
    }
    *impl_out = s;
    return SF_OK;
}

sf_status sfi_hdf5_sink_open(void **impl_out, const char *tmp_path, const char *group,
                             const char *display, const sf_sink_options *opt, sf_error *err)
{
    *impl_out = NULL;
    sf_sink_options o;
    if (opt) o = *opt;
    else sf_sink_options_init(&o);
    sf_status st;
    H5E_BEGIN_TRY { st = do_open(impl_out, tmp_path, group, display, &o, err); } H5E_END_TRY;
    return st;
}

/* Writes a "columns" attribute (1-D, variable-length UTF-8 strings) on obj. */
static bool write_names(hdf5_sink *s, hid_t obj, const char *const *names, size_t n)
{
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t a = sp >= 0 ? H5Acreate2(obj, "columns", s->str_type, sp, H5P_DEFAULT, H5P_DEFAULT)
                      : -1;
    bool ok = a >= 0 && H5Awrite(a, s->str_type, names) >= 0;
    close_id(&a);
    close_id(&sp);
    return ok;
}

/* Creates an empty extendable dataset: rank 1 (p == 0) or 2, chunked (*chunk_rows rows
 * a chunk), deflated. */
static hid_t create_extendable(hdf5_sink *s, const char *name, hid_t ftype, size_t p,
                               bool nan_fill, hsize_t *chunk_rows)
{
    int rank = p ? 2 : 1;
    hsize_t dims[2] = {0, p}, maxdims[2] = {H5S_UNLIMITED, p};
    hsize_t chunk[2] = {s->opt.chunk_rows, p ? p : 1};
    size_t row_bytes = (p ? p : 1) * sizeof(double);
    if (p && chunk[0] * row_bytes > MAX_CHUNK_BYTES) {
        chunk[0] = MAX_CHUNK_BYTES / row_bytes ? MAX_CHUNK_BYTES / row_bytes : 1;
        /* stored: whole units of rows whose bytes the alignment divides, so the
         * chunks leave no gaps (see ALIGN_THRESHOLD); the unit is the power of two
         * align / gcd(align, row_bytes) */
        hsize_t low = (hsize_t)row_bytes & (~(hsize_t)row_bytes + 1);
        hsize_t unit = s->opt.compression == 0 && s->align > low ? s->align / low : 1;
        if (chunk[0] >= unit) chunk[0] -= chunk[0] % unit;
    }
    hid_t sp = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t d = -1;
    const double nan = NAN;
    bool ok = sp >= 0 && dcpl >= 0 && lcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 &&
              H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
              (s->opt.compression == 0 ||
               H5Pset_deflate(dcpl, (unsigned)s->opt.compression) >= 0) &&
              (!nan_fill || H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) >= 0);
    if (ok) d = H5Dcreate2(s->gid, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
    *chunk_rows = chunk[0];
    close_id(&lcpl);
    close_id(&dcpl);
    close_id(&sp);
    return d;
}

/* A chunk-written float64 dataset d of width p (0: 1-D). */
static chunked chunked_of(hid_t d, size_t p, hsize_t chunk_rows)
{
    chunked c = {.dset = d, .width = p ? p : 1, .crows = chunk_rows};
    c.chunk_bytes = (size_t)chunk_rows * c.width * sizeof(double);
    return c;
}

/* Grows d by n rows from `rows` and writes buf (memory type mtype, memory space ms)
 * into them. On failure the dataset is shrunk back. */
static bool append_rows(hid_t d, hsize_t rows, hsize_t n, size_t p, hid_t mtype, hid_t ms,
                        const void *buf)
{
    hsize_t size[2] = {rows + n, p}, start[2] = {rows, 0}, count[2] = {n, p};
    if (H5Dset_extent(d, size) < 0) return false;
    hid_t fs = H5Dget_space(d);
    bool ok = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
              H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    close_id(&fs);
    if (!ok) {
        size[0] = rows;
        H5Dset_extent(d, size);
    }
    return ok;
}

/* First write_table: fixes the layout and creates the column datasets. */
static sf_status create_table(hdf5_sink *s, const sf_table *t, sf_error *err)
{
    size_t n = t->n_cols;
    if (n == 0) return sfi_fail(err, SF_ERR_ARG, &s->where, "the table has no columns");
    if (!t->names) return sfi_fail(err, SF_ERR_ARG, &s->where, "the table has no column names");
    s->names = calloc(n, sizeof *s->names);
    s->types = calloc(n, sizeof *s->types);
    s->cols = malloc(n * sizeof *s->cols);
    s->fcols = calloc(n, sizeof *s->fcols);
    if (!s->names || !s->types || !s->cols || !s->fcols) goto nomem;
    s->n_cols = n;
    for (size_t j = 0; j < n; j++) s->cols[j] = -1;
    for (size_t j = 0; j < n; j++) {
        s->names[j] = strdup(t->names[j] ? t->names[j] : "");
        if (!s->names[j]) goto nomem;
        s->types[j] = t->cols[j].type;
    }
    sf_status st = SF_OK;
    for (size_t j = 0; j < n && st == SF_OK; j++) {
        char *ln = link_name(s->names[j]);
        if (!ln) goto nomem;
        bool cat = s->types[j] == SF_COL_CATEGORY;
        if (H5Lexists(s->gid, ln, H5P_DEFAULT) > 0)
            st = sfi_fail(err, SF_ERR_ARG, &s->where,
                          "column \"%s\" appears twice or clashes with a dataset",
                          s->names[j]);
        else {
            hsize_t crows = 0;
            s->cols[j] =
                create_extendable(s, ln, cat ? s->str_type : H5T_IEEE_F64LE, 0, !cat, &crows);
            if (s->cols[j] < 0) st = fail_h5(s, err, SF_ERR_IO, "cannot create a dataset");
            else if (!cat) s->fcols[j] = chunked_of(s->cols[j], 0, crows); /* borrows the id */
            if (st != SF_OK) sfi_error_field(err, s->names[j]);
        }
        free(ln);
    }
    if (st == SF_OK && H5Aexists(s->gid, "columns") > 0 && H5Adelete(s->gid, "columns") < 0)
        st = fail_h5(s, err, SF_ERR_IO, "cannot replace attribute \"columns\"");
    if (st == SF_OK && !write_names(s, s->gid, (const char *const *)s->names, n))
        st = fail_h5(s, err, SF_ERR_IO, "cannot write attribute \"columns\"");
    if (st != SF_OK) {
        /* undo: a failed call leaves the sink as it was */
        for (size_t j = 0; j < n; j++) {
            if (s->cols[j] >= 0) {
                char *ln = link_name(s->names[j]);
                close_id(&s->cols[j]);
                if (ln) H5Ldelete(s->gid, ln, H5P_DEFAULT);
                free(ln);
            }
        }
    }
    if (st == SF_OK) {
        s->have_table = true;
        return SF_OK;
    }
    for (size_t j = 0; j < n; j++) free(s->names[j]);
    free(s->names);
    free(s->types);
    free(s->cols);
    free(s->fcols);
    s->names = NULL;
    s->types = NULL;
    s->cols = NULL;
    s->fcols = NULL;
    s->n_cols = 0;
    return st;
nomem:
    if (s->names)
        for (size_t j = 0; j < n; j++) free(s->names[j]);
    free(s->names);
    free(s->types);
    free(s->cols);
    free(s->fcols);
    s->names = NULL;
    s->types = NULL;
    s->cols = NULL;
    s->fcols = NULL;
    s->n_cols = 0;
    return sfi_nomem(err);
}

static sf_status check_same_layout(hdf5_sink *s, const sf_table *t, sf_error *err)
{
    if (t->n_cols != s->n_cols)
        return sfi_fail(err, SF_ERR_SHAPE, &s->where,
                        "the table has %zu columns, the first one written had %zu", t->n_cols,
                        s->n_cols);
    for (size_t j = 0; j < s->n_cols; j++) {
        const char *nm = t->names && t->names[j] ? t->names[j] : "";
        if (strcmp(nm, s->names[j]) != 0 || t->cols[j].type != s->types[j]) {
            sf_where w = s->where;
            w.field = j + 1;
            sfi_fail(err, SF_ERR_SHAPE, &w,
                     "column %zu is \"%s\" (%s), the first table's was \"%s\" (%s)", j + 1, nm,
                     sf_coltype_name(t->cols[j].type), s->names[j],
                     sf_coltype_name(s->types[j]));
            sfi_error_field(err, nm);
            return SF_ERR_SHAPE;
        }
    }
    return SF_OK;
}

/* Marks the sink failed after err's failure (a write that may have left columns of
 * different lengths): every later write and finish reports it. */
static sf_status sink_break(hdf5_sink *s, sf_status st, const sf_error *err)
{
    pthread_mutex_lock(&s->w.mu);
    if (!s->w.failed) {
        s->w.failed = true;
        sfi_strlcpy(s->w.msg, err ? err->message : "an earlier write failed", sizeof s->w.msg);
    }
    pthread_mutex_unlock(&s->w.mu);
    return st;
}

/* The label of every category cell of t, checked before anything is written. */
static sf_status check_labels(hdf5_sink *s, const sf_table *t, sf_error *err)
{
    for (size_t j = 0; j < s->n_cols; j++) {
        const sf_column *col = &t->cols[j];
        if (col->type != SF_COL_CATEGORY) continue;
        for (size_t i = 0; i < t->n_rows; i++) {
            int32_t code = col->codes[i];
            if (code < 0 || (col->missing && col->missing[i]) ||
                sf_dict_label(col->dict, (size_t)code, NULL))
                continue;
            sf_where w = s->where;
            w.row = s->rows + i + 1;
            w.field = j + 1;
            sfi_fail(err, SF_ERR_ARG, &w, "category code %d has no label in the column's dictionary",
                     (int)code);
            sfi_error_field(err, s->names[j]);
            return SF_ERR_ARG;
        }
    }
    return SF_OK;
}

static sf_status do_write_table(hdf5_sink *s, const sf_table *t, sf_error *err)
{
    if (writer_failed(&s->w)) return writer_failure(s, err);
    if (s->have_table) SF_TRY(check_same_layout(s, t, err));
    else SF_TRY(create_table(s, t, err));
    size_t n = t->n_rows;
    if (n == 0) return SF_OK;
    SF_TRY(check_labels(s, t, err));
    bool strings = false;
    for (size_t j = 0; j < s->n_cols; j++) strings = strings || s->types[j] == SF_COL_CATEGORY;
    if (strings && n > s->buf_cap) {
        const char **c = malloc(n * sizeof *c);
        if (!c) return sfi_nomem(err);
        free(s->sbuf);
        s->sbuf = c;
        s->buf_cap = n;
    }
    hsize_t dims[1] = {n};
    hid_t ms = strings ? H5Screate_simple(1, dims, NULL) : -1;
    if (strings && ms < 0) return fail_h5(s, err, SF_ERR_INTERNAL, "cannot make a dataspace");
    sf_status st = SF_OK;
    for (size_t j = 0; j < s->n_cols && st == SF_OK; j++) {
        const sf_column *col = &t->cols[j];
        if (col->type == SF_COL_FLOAT) {
            st = chunked_append(s, &s->fcols[j], col->values, n, 1, col->missing, err);
        } else {
            for (size_t i = 0; i < n; i++) {
                int32_t code = col->codes[i];
                bool none = code < 0 || (col->missing && col->missing[i]);
                s->sbuf[i] = none ? "" : sf_dict_label(col->dict, (size_t)code, NULL);
            }
            if (!append_rows(s->cols[j], s->rows, n, 0, s->str_type, ms, s->sbuf))
                st = fail_h5(s, err, SF_ERR_IO, "cannot write");
        }
        if (st != SF_OK) {
            sfi_error_field(err, s->names[j]);
            /* columns before j have the rows, the others not: the sink is done */
            sink_break(s, st, err);
        }
    }
    if (st == SF_OK) s->rows += n;
    close_id(&ms);
    return st;
}

static sf_status hdf5_write_table(void *impl, const sf_table *t, sf_error *err)
{
    sf_status st;
    H5E_BEGIN_TRY { st = do_write_table(impl, t, err); } H5E_END_TRY;
    return st;
}

static sf_status do_write_matrix(hdf5_sink *s, const char *name, const double *x, size_t n,
                                 size_t p, size_t ld, const char *const *col_names,
                                 sf_error *err)
{
    if (!name || !*name) return sfi_fail(err, SF_ERR_ARG, &s->where, "no dataset name");
    if (writer_failed(&s->w)) return writer_failure(s, err);
    if (p && ld < p)
        return sfi_fail(err, SF_ERR_SHAPE, &s->where, "row stride %zu < columns %zu", ld, p);
    matrix_ds *m = NULL;
    for (size_t k = 0; k < s->n_mats; k++)
        if (strcmp(s->mats[k].name, name) == 0) m = &s->mats[k];
    if (m && m->p != p)
        return sfi_fail(err, SF_ERR_SHAPE, &s->where,
                        "dataset \"%s\" has %zu columns, got a matrix of %zu", name, m->p, p);
    if (!m) {
        matrix_ds *grown = realloc(s->mats, (s->n_mats + 1) * sizeof *grown);
        if (!grown) return sfi_nomem(err);
        s->mats = grown;
        matrix_ds fresh = {strdup(name), chunked_of(-1, p, 1), p};
        if (!fresh.name) return sfi_nomem(err);
        if (H5Lexists(s->gid, name, H5P_DEFAULT) > 0) {
            free(fresh.name);
            return sfi_fail(err, SF_ERR_ARG, &s->where,
                            "dataset \"%s\" already exists in the output", name);
        }
        hsize_t crows = 0;
        hid_t d = create_extendable(s, name, H5T_IEEE_F64LE, p, true, &crows);
        fresh.c = chunked_of(d, p, crows);
        if (d < 0) {
            free(fresh.name);
            return fail_h5(s, err, SF_ERR_ARG, "cannot create the dataset");
        }
        if (col_names && p && !write_names(s, d, col_names, p)) {
            sf_status st = fail_h5(s, err, SF_ERR_IO, "cannot write attribute \"columns\"");
            close_id(&fresh.c.dset);
            H5Ldelete(s->gid, name, H5P_DEFAULT);
            free(fresh.name);
            return st;
        }
        s->mats[s->n_mats] = fresh;
        m = &s->mats[s->n_mats++];
    }
    sf_status st = chunked_append(s, &m->c, x, n, p ? ld : 1, NULL, err);
    return st == SF_OK ? SF_OK : sink_break(s, st, err);
}

static sf_status hdf5_write_matrix(void *impl, const char *name, const double *x, size_t n,
                                   size_t p, size_t ld, const char *const *col_names,
                                   sf_error *err)
{
    sf_status st;
    H5E_BEGIN_TRY { st = do_write_matrix(impl, name, x, n, p, ld, col_names, err); } H5E_END_TRY;
    return st;
}

/* Closes every handle, then the file: HDF5 writes its metadata cache and the
 * superblock at H5Fclose, so that is where a full disk shows. Frees the sink. */
static sf_status do_finish(hdf5_sink *s, sf_error *err)
{
    sf_status st = writer_failed(&s->w) ? writer_failure(s, err) : SF_OK;
    for (size_t j = 0; st == SF_OK && s->fcols && j < s->n_cols; j++)
        if (s->types[j] == SF_COL_FLOAT) st = chunked_finish(s, &s->fcols[j], err);
    for (size_t k = 0; st == SF_OK && k < s->n_mats; k++) st = chunked_finish(s, &s->mats[k].c, err);
    if (st == SF_OK && !writer_drain(&s->w)) st = writer_failure(s, err);
    writer_end(&s->w, st != SF_OK);
    s->have_writer = false;
    if (st == SF_OK && H5Fflush(s->fid, H5F_SCOPE_LOCAL) < 0) st = fail_h5(s, err, SF_ERR_IO, "cannot write");
    hid_t fid = s->fid;
    s->fid = -1;
    sink_free(s); /* closes datasets, group and types; fid stays open */
    if (H5Fclose(fid) < 0 && st == SF_OK) {
        char msg[200];
        h5_message(msg);
        st = sfi_fail(err, SF_ERR_IO, NULL, "cannot write: %s", msg);
    }
    return st;
}

static sf_status hdf5_finish(void *impl, sf_error *err)
{
    sf_status st;
    hdf5_sink *s = impl;
    sf_where w = s->where;
    H5E_BEGIN_TRY { st = do_finish(s, err); } H5E_END_TRY;
    if (st != SF_OK && err && !err->where.source[0]) err->where = w;
    return st;
}

static void hdf5_discard(void *impl)
{
    H5E_BEGIN_TRY { sink_free(impl); } H5E_END_TRY;
}

/* For the tests: the free-space sections HDF5 tracks in the file an HDF5 sink
 * (impl from sfi_hdf5_sink_open) writes, once its queued chunks are written (see
 * ALIGN_THRESHOLD); SIZE_MAX when HDF5 cannot tell. */
SFI_FUNC size_t sfi_hdf5_sink_free_sections(void *impl);
size_t sfi_hdf5_sink_free_sections(void *impl)
{
    hdf5_sink *s = impl;
    if (s->have_writer && !writer_drain(&s->w)) return SIZE_MAX;
    hssize_t n;
    H5E_BEGIN_TRY { n = H5Fget_free_sections(s->fid, H5FD_MEM_DEFAULT, 0, NULL); } H5E_END_TRY;
    return n < 0 ? SIZE_MAX : (size_t)n;
}

const sf_sink_ops sfi_hdf5_sink_ops = {
    .kind = "hdf5",
    .write_table = hdf5_write_table,
    .write_matrix = hdf5_write_matrix,
    .finish = hdf5_finish,
    .discard = hdf5_discard,
};
