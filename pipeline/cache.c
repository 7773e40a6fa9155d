/* cache.c — first-pass blocks in HDF5 (see cache.h). Uncompressed chunked
 * datasets: the point is to read faster than the source parses, and a cache is a
 * scratch file, not a deliverable. Every HDF5 call is silenced (H5E_BEGIN_TRY). */
#define _GNU_SOURCE
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/hdf5_mdc.h"
#include "pipeline/cache.h"

typedef struct seg {
    hid_t x, y, w;          /* datasets, or -1 */
    uint64_t rows;
} seg;

struct sfi_cache {
    char *path;
    hid_t file;
    size_t n_seg, p;
    bool has_y, has_w, ready;
    seg *segs;
};

static sf_status cache_fail(const sfi_cache *c, sf_error *err, const char *what, size_t s)
{
    sf_where w;
    sfi_where_init(&w, c->path);
    return sfi_fail(err, SF_ERR_IO, &w, "cache: cannot %s (segment %zu; disk full?)", what, s);
}

/* An extendable float64 dataset of rows x cols (cols = 0: 1-D). */
static hid_t make_dataset(hid_t g, const char *name, size_t cols, size_t chunk_rows)
{
    int rank = cols ? 2 : 1;
    hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
    hid_t d = -1;
    H5E_BEGIN_TRY {
        hid_t sp = H5Screate_simple(rank, dims, maxd);
        hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(pl, rank, chunk);
        d = H5Dcreate2(g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        H5Pclose(pl);
        H5Sclose(sp);
    } H5E_END_TRY;
    return d;
}

void sfi_cache_close(sfi_cache *c)
{
    if (!c) return;
    H5E_BEGIN_TRY {
        for (size_t s = 0; c->segs && s < c->n_seg; s++) {
            if (c->segs[s].x >= 0) H5Dclose(c->segs[s].x);
            if (c->segs[s].y >= 0) H5Dclose(c->segs[s].y);
            if (c->segs[s].w >= 0) H5Dclose(c->segs[s].w);
        }
        if (c->file >= 0) H5Fclose(c->file);
    } H5E_END_TRY;
    free(c->segs);
    free(c->path);
    free(c);
}

sf_status sfi_cache_create(sfi_cache **out, const char *path, size_t n_seg, size_t p, bool has_y, bool has_w,
                           size_t chunk_rows, sf_error *err)
{
    *out = NULL;
    sfi_cache *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    c->file = -1;
    c->n_seg = n_seg;
    c->p = p;
    c->has_y = has_y;
    c->has_w = has_w;
    c->path = strdup(path);
    c->segs = calloc(n_seg ? n_seg : 1, sizeof *c->segs);
    if (!c->path || !c->segs) {
        sfi_cache_close(c);
        return sfi_nomem(err);
    }
    for (size_t s = 0; s < n_seg; s++) c->segs[s].x = c->segs[s].y = c->segs[s].w = -1;
    /* chunks of about 128 KiB of x: HDF5 keeps a partly written chunk of every
     * dataset in memory, and a 32 MiB-segmented source has many segments */
    size_t rows = (1u << 14) / (p ? p : 1);
    if (rows > chunk_rows) rows = chunk_rows;
    if (rows < 64) rows = 64;
    /* a small fixed metadata cache (io/hdf5_mdc.h): HDF5's default one would keep
     * the chunk index of every segment's datasets, in proportion to the rows */
    H5E_BEGIN_TRY {
        hid_t fapl = sfi_h5_fapl_new();
        c->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl >= 0 ? fapl : H5P_DEFAULT);
        if (fapl >= 0) H5Pclose(fapl);
    } H5E_END_TRY;
    sf_status st = c->file < 0 ? cache_fail(c, err, "create the file", 0) : SF_OK;
    for (size_t s = 0; s < n_seg && st == SF_OK; s++) {
        char name[40];
        snprintf(name, sizeof name, "seg_%zu", s);
        hid_t g = -1;
        H5E_BEGIN_TRY { g = H5Gcreate2(c->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
        if (g < 0) {
            st = cache_fail(c, err, "create a group", s);
            break;
        }
        seg *sg = &c->segs[s];
        sg->x = make_dataset(g, "x", p, rows);
        if (has_y) sg->y = make_dataset(g, "y", 0, rows);
        if (has_w) sg->w = make_dataset(g, "w", 0, rows);
        H5E_BEGIN_TRY { H5Gclose(g); } H5E_END_TRY;
        if (sg->x < 0 || (has_y && sg->y < 0) || (has_w && sg->w < 0)) st = cache_fail(c, err, "create datasets", s);
        /* closed until the segment's first rows: an open dataset holds its object
         * header and chunk cache, and there are segments in proportion to the rows */
        sfi_cache_segment_done(c, s);
    }
    if (st != SF_OK) {
        sfi_cache_close(c);
        return st;
    }
    *out = c;
    return SF_OK;
}

/* Opens segment s's datasets again after sfi_cache_segment_done. */
static bool reopen(sfi_cache *c, size_t s)
{
    seg *sg = &c->segs[s];
    if (sg->x >= 0) return true;
    char name[48];
    H5E_BEGIN_TRY {
        snprintf(name, sizeof name, "seg_%zu/x", s);
        sg->x = H5Dopen2(c->file, name, H5P_DEFAULT);
        if (c->has_y) {
            snprintf(name, sizeof name, "seg_%zu/y", s);
            sg->y = H5Dopen2(c->file, name, H5P_DEFAULT);
        }
        if (c->has_w) {
            snprintf(name, sizeof name, "seg_%zu/w", s);
            sg->w = H5Dopen2(c->file, name, H5P_DEFAULT);
        }
    } H5E_END_TRY;
    return sg->x >= 0 && (!c->has_y || sg->y >= 0) && (!c->has_w || sg->w >= 0);
}

/* Writes n rows (stride ld, cols columns; 0 = a vector) at row `at` of d. */
static herr_t put_rows(hid_t d, uint64_t at, const double *v, size_t n, size_t cols, size_t ld)
{
    int rank = cols ? 2 : 1;
    hsize_t size[2] = {at + n, cols}, start[2] = {at, 0}, count[2] = {n, cols};
    hsize_t mdims[2] = {n, cols ? ld : 0}, mcount[2] = {n, cols}, mstart[2] = {0, 0};
    herr_t r = -1;
    H5E_BEGIN_TRY {
        if (H5Dset_extent(d, size) >= 0) {
            hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, mdims, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
            H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
            r = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    } H5E_END_TRY;
    return r;
}

sf_status sfi_cache_append(sfi_cache *c, size_t s, const sf_block *b, sf_error *err)
{
    if (s >= c->n_seg || b->n_cols != c->p || c->ready)
        return sfi_fail(err, SF_ERR_STATE, NULL, "cache: bad append (segment %zu)", s);
    if (b->n_rows == 0) return SF_OK;
    seg *sg = &c->segs[s];
    if (!reopen(c, s)) return cache_fail(c, err, "open datasets", s);
    if (put_rows(sg->x, sg->rows, b->x, b->n_rows, c->p, b->ld) < 0 ||
        (c->has_y && put_rows(sg->y, sg->rows, b->y, b->n_rows, 0, 0) < 0) ||
        (c->has_w && put_rows(sg->w, sg->rows, b->w, b->n_rows, 0, 0) < 0))
        return cache_fail(c, err, "write rows", s);
    sg->rows += b->n_rows;
    return SF_OK;
}

void sfi_cache_segment_done(sfi_cache *c, size_t s)
{
    if (!c || s >= c->n_seg) return;
    seg *sg = &c->segs[s];
    H5E_BEGIN_TRY {
        if (sg->x >= 0) H5Dclose(sg->x);
        if (sg->y >= 0) H5Dclose(sg->y);
        if (sg->w >= 0) H5Dclose(sg->w);
    } H5E_END_TRY;
    sg->x = sg->y = sg->w = -1;
}

sf_status sfi_cache_finish(sfi_cache *c, sf_error *err)
{
    herr_t r = -1;
    H5E_BEGIN_TRY { r = H5Fflush(c->file, H5F_SCOPE_GLOBAL); } H5E_END_TRY;
    if (r < 0) return cache_fail(c, err, "flush the file", 0);
    c->ready = true;
    return SF_OK;
}

bool sfi_cache_ready(const sfi_cache *c) { return c && c->ready; }

static herr_t get_rows(hid_t d, uint64_t at, double *v, size_t n, size_t cols, size_t ld)
{
    int rank = cols ? 2 : 1;
    hsize_t start[2] = {at, 0}, count[2] = {n, cols};
    hsize_t mdims[2] = {n, cols ? ld : 0}, mcount[2] = {n, cols}, mstart[2] = {0, 0};
    herr_t r = -1;
    H5E_BEGIN_TRY {
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, mdims, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
        r = H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v);
        H5Sclose(ms);
        H5Sclose(fs);
    } H5E_END_TRY;
    return r;
}

sf_status sfi_cache_read(sfi_cache *c, size_t s, uint64_t *at, sf_block *b, sf_error *err)
{
    if (s >= c->n_seg || !c->ready || b->n_cols != c->p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "cache: bad read (segment %zu)", s);
    seg *sg = &c->segs[s];
    size_t n = sg->rows - *at < b->capacity ? (size_t)(sg->rows - *at) : b->capacity;
    if (n && !reopen(c, s)) {
        sf_where w;
        sfi_where_init(&w, c->path);
        return sfi_fail(err, SF_ERR_IO, &w, "cache: cannot open segment %zu", s);
    }
    b->n_rows = 0;
    if (n == 0) return SF_OK;
    if (get_rows(sg->x, *at, b->x, n, c->p, b->ld) < 0 || (c->has_y && b->y && get_rows(sg->y, *at, b->y, n, 0, 0) < 0) ||
        (c->has_w && b->w && get_rows(sg->w, *at, b->w, n, 0, 0) < 0)) {
        sf_where w;
        sfi_where_init(&w, c->path);
        return sfi_fail(err, SF_ERR_IO, &w, "cache: cannot read rows (segment %zu)", s);
    }
    b->first_row = *at + 1;
    b->n_rows = n;
    *at += n;
    return SF_OK;
}
