/* h5util.c — attributes and small datasets for model files. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "pipeline/h5util.h"

static sf_status h5fail(const sfi_h5ctx *c, const char *what, const char *name)
{
    sf_where w;
    sfi_where_init(&w, c->file);
    return sfi_fail(c->err, SF_ERR_PARSE, &w, "%s \"%s\"", what, name);
}

sf_status sfi_h5_attr_write_str(const sfi_h5ctx *c, hid_t obj, const char *name, const char *v)
{
    herr_t r = -1;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a = -1;
    H5E_BEGIN_TRY {
        H5Tset_size(t, strlen(v) + 1);
        H5Tset_cset(t, H5T_CSET_UTF8);
        a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) r = H5Awrite(a, t, v);
        if (a >= 0) H5Aclose(a);
        H5Sclose(s);
        H5Tclose(t);
    } H5E_END_TRY;
    if (r < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_IO, &w, "cannot write attribute \"%s\"", name);
    }
    return SF_OK;
}

/* A scalar attribute of file type ftype from *v of memory type mtype. */
static sf_status attr_write_scalar(const sfi_h5ctx *c, hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                                   const void *v)
{
    herr_t r = -1;
    H5E_BEGIN_TRY {
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) r = H5Awrite(a, mtype, v);
        if (a >= 0) H5Aclose(a);
        H5Sclose(s);
    } H5E_END_TRY;
    if (r < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_IO, &w, "cannot write attribute \"%s\"", name);
    }
    return SF_OK;
}

sf_status sfi_h5_attr_write_i64(const sfi_h5ctx *c, hid_t obj, const char *name, int64_t v)
{
    return attr_write_scalar(c, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

sf_status sfi_h5_attr_read_str(const sfi_h5ctx *c, hid_t obj, const char *name, char **out)
{
    *out = NULL;
    sf_status st = SF_OK;
    H5E_BEGIN_TRY {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
        hid_t t = a >= 0 ? H5Aget_type(a) : -1;
        hid_t s = a >= 0 ? H5Aget_space(a) : -1;
        if (a < 0 || t < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0 ||
            H5Sget_simple_extent_npoints(s) != 1)
            st = h5fail(c, "missing or malformed string attribute", name);
        else {
            size_t n = H5Tget_size(t);
            char *v = n < (1u << 20) ? calloc(n + 1, 1) : NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n);
            H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts no character sets */
            if (!v) st = sfi_nomem(c->err);
            else if (H5Aread(a, mt, v) < 0) st = h5fail(c, "cannot read attribute", name);
            H5Tclose(mt);
            if (st == SF_OK) *out = v;
            else free(v);
        }
        if (s >= 0) H5Sclose(s);
        if (t >= 0) H5Tclose(t);
        if (a >= 0) H5Aclose(a);
    } H5E_END_TRY;
    return st;
}

sf_status sfi_h5_attr_read_i64(const sfi_h5ctx *c, hid_t obj, const char *name, int64_t *out)
{
    sf_status st = SF_OK;
    H5E_BEGIN_TRY {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
        hid_t t = a >= 0 ? H5Aget_type(a) : -1;
        hid_t s = a >= 0 ? H5Aget_space(a) : -1;
        if (a < 0 || t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_npoints(s) != 1 ||
            H5Aread(a, H5T_NATIVE_INT64, out) < 0)
            st = h5fail(c, "missing or malformed integer attribute", name);
        if (s >= 0) H5Sclose(s);
        if (t >= 0) H5Tclose(t);
        if (a >= 0) H5Aclose(a);
    } H5E_END_TRY;
    return st;
}

sf_status sfi_h5_write_vec(const sfi_h5ctx *c, hid_t loc, const char *name, const double *v, size_t n)
{
    herr_t r = -1;
    H5E_BEGIN_TRY {
        hsize_t dims[1] = {n}, chunk[1] = {n ? n : 1};
        hid_t s = H5Screate_simple(1, dims, NULL);
        hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(pl, 1, chunk);
        H5Pset_fletcher32(pl);
        hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
        if (d >= 0) r = n ? H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0;
        if (d >= 0) H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(s);
    } H5E_END_TRY;
    if (r < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_IO, &w, "cannot write dataset \"%s\"", name);
    }
    return SF_OK;
}

/* libhdf5 trusts a chunk's stored size and filter mask: its fletcher32 filter reads
 * the checksum from the last 4 bytes of a chunk even when the chunk is shorter (an
 * out-of-bounds read, found by tests/fuzz/fuzz_model.c), and a chunk stored with its
 * filters skipped is copied at whatever size it has. So before reading a chunked
 * dataset we check what we wrote could be there: filters among fletcher32, deflate
 * and shuffle, every chunk stored with all of them (mask 0), a chunk's size exactly
 * its data plus the 4-byte checksum unless deflated (then more than the checksum),
 * and at most 4096 chunks (we write one). Call inside H5E_BEGIN_TRY. */
static bool chunks_sane(hid_t d, hid_t file_type)
{
    hid_t pl = H5Dget_create_plist(d);
    if (pl < 0) return false;
    bool ok = true, fletcher = false, deflate = false;
    hsize_t chunk[1] = {0};
    if (H5Pget_layout(pl) == H5D_CHUNKED) {
        int nf = H5Pget_nfilters(pl);
        ok = nf >= 0 && H5Pget_chunk(pl, 1, chunk) == 1 && chunk[0] > 0;
        for (int k = 0; ok && k < nf; k++) {
            unsigned flags, cd[8];
            size_t ncd = 8;
            H5Z_filter_t id = H5Pget_filter2(pl, (unsigned)k, &flags, &ncd, cd, 0, NULL, NULL);
            fletcher = fletcher || id == H5Z_FILTER_FLETCHER32;
            deflate = deflate || id == H5Z_FILTER_DEFLATE;
            ok = id == H5Z_FILTER_FLETCHER32 || id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE;
        }
        hsize_t n = 0;
        hid_t space = ok ? H5Dget_space(d) : -1;
        ok = space >= 0 && H5Dget_num_chunks(d, space, &n) >= 0 && n <= 4096;
        size_t elem = H5Tget_size(file_type);
        hsize_t want = chunk[0] * elem + (fletcher ? 4 : 0);
        for (hsize_t i = 0; ok && i < n; i++) {
            hsize_t off[1], size = 0;
            unsigned mask = 1;
            haddr_t addr;
            ok = H5Dget_chunk_info(d, space, i, off, &mask, &addr, &size) >= 0 && mask == 0 &&
                 (deflate ? size > (fletcher ? 4u : 0u) : size == want);
        }
        if (space >= 0) H5Sclose(space);
    }
    H5Pclose(pl);
    return ok;
}

sf_status sfi_h5_read_vec(const sfi_h5ctx *c, hid_t loc, const char *name, size_t n, double **out,
                          size_t *n_out)
{
    *out = NULL;
    sf_status st = SF_OK;
    H5E_BEGIN_TRY {
        hid_t d = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
        hid_t s = d >= 0 ? H5Dget_space(d) : -1;
        hid_t t = d >= 0 ? H5Dget_type(d) : -1;
        hssize_t np = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
        if (d < 0 || s < 0 || H5Sget_simple_extent_ndims(s) != 1 ||
            (H5Tget_class(t) != H5T_FLOAT && H5Tget_class(t) != H5T_INTEGER))
            st = h5fail(c, "missing or malformed dataset", name);
        else if (!chunks_sane(d, t))
            st = h5fail(c, "corrupt chunks in dataset", name);
        else if (np < 0 || (n && (size_t)np != n) || (size_t)np > (SIZE_MAX / 16)) {
            sf_where w;
            sfi_where_init(&w, c->file);
            st = sfi_fail(c->err, SF_ERR_PARSE, &w, "dataset \"%s\" has %lld values, expected %zu",
                          name, (long long)np, n);
        } else {
            double *v = malloc(((size_t)np ? (size_t)np : 1) * sizeof *v);
            if (!v) st = sfi_nomem(c->err);
            else if (np && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
                st = h5fail(c, "cannot read dataset (corrupt or checksum mismatch)", name);
            if (st == SF_OK) {
                *out = v;
                if (n_out) *n_out = (size_t)np;
            } else free(v);
        }
        if (t >= 0) H5Tclose(t);
        if (s >= 0) H5Sclose(s);
        if (d >= 0) H5Dclose(d);
    } H5E_END_TRY;
    return st;
}

/* A transfer property list whose conversion buffer fits n variable-length strings
 * (or H5P_DEFAULT when it cannot be made). HDF5's default buffer is 1 MiB, zeroed on
 * every converting H5Dread/H5Dwrite: for a model's few names that calloc and its
 * page faults were 58% of a scaler model's save (4.3 ms). Close with xfer_close. */
static hid_t strings_xfer(size_t n)
{
    hid_t x = H5Pcreate(H5P_DATASET_XFER);
    size_t elem = sizeof(hvl_t) > sizeof(char *) ? sizeof(hvl_t) : sizeof(char *);
    size_t bytes = (n ? n : 1) * elem;
    if (bytes > ((size_t)1 << 20)) bytes = (size_t)1 << 20; /* HDF5's own size, at most */
    if (x >= 0 && H5Pset_buffer(x, bytes, NULL, NULL) < 0) {
        H5Pclose(x);
        x = -1;
    }
    return x >= 0 ? x : H5P_DEFAULT;
}

static void xfer_close(hid_t x)
{
    if (x != H5P_DEFAULT) H5Pclose(x);
}

sf_status sfi_h5_write_strings(const sfi_h5ctx *c, hid_t loc, const char *name,
                               const char *const *v, size_t n)
{
    herr_t r = -1;
    H5E_BEGIN_TRY {
        hsize_t dims[1] = {n};
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        hid_t s = H5Screate_simple(1, dims, NULL);
        hid_t d = H5Dcreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t x = strings_xfer(n);
        if (d >= 0) r = n ? H5Dwrite(d, t, H5S_ALL, H5S_ALL, x, v) : 0;
        xfer_close(x);
        if (d >= 0) H5Dclose(d);
        H5Sclose(s);
        H5Tclose(t);
    } H5E_END_TRY;
    if (r < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_IO, &w, "cannot write dataset \"%s\"", name);
    }
    return SF_OK;
}

static bool unchunked(hid_t d)
{
    hid_t pl = H5Dget_create_plist(d);
    bool ok = pl >= 0 && H5Pget_layout(pl) != H5D_CHUNKED;
    if (pl >= 0) H5Pclose(pl);
    return ok;
}

sf_status sfi_h5_read_strings(const sfi_h5ctx *c, hid_t loc, const char *name, char ***out,
                              size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    sf_status st = SF_OK;
    H5E_BEGIN_TRY {
        hid_t d = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
        hid_t s = d >= 0 ? H5Dget_space(d) : -1;
        hid_t t = d >= 0 ? H5Dget_type(d) : -1;
        hssize_t np = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
        if (d < 0 || H5Sget_simple_extent_ndims(s) != 1 || H5Tget_class(t) != H5T_STRING ||
            H5Tis_variable_str(t) <= 0 || np < 0 || np > 1000000)
            st = h5fail(c, "missing or malformed string dataset", name);
        else if (!unchunked(d)) /* we write it contiguous; raw chunks could hold any heap ids */
            st = h5fail(c, "chunked string dataset", name);
        else {
            size_t n = (size_t)np;
            char **raw = calloc(n ? n : 1, sizeof *raw), **copy = calloc(n ? n : 1, sizeof *copy);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            hid_t x = strings_xfer(n);
            if (!raw || !copy) st = sfi_nomem(c->err);
            else if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, x, raw) < 0)
                st = h5fail(c, "cannot read dataset", name);
            xfer_close(x);
            for (size_t i = 0; i < n && st == SF_OK; i++)
                if (!(copy[i] = strdup(raw[i] ? raw[i] : ""))) st = sfi_nomem(c->err);
            if (raw && n) H5Dvlen_reclaim(mt, s, H5P_DEFAULT, raw);
            H5Tclose(mt);
            free(raw);
            if (st == SF_OK) {
                *out = copy;
                *n_out = n;
            } else if (copy) {
                for (size_t i = 0; i < n; i++) free(copy[i]);
                free(copy);
            }
        }
        if (t >= 0) H5Tclose(t);
        if (s >= 0) H5Sclose(s);
        if (d >= 0) H5Dclose(d);
    } H5E_END_TRY;
    return st;
}

sf_status sfi_h5_attr_write_f64(const sfi_h5ctx *c, hid_t obj, const char *name, double v)
{
    return attr_write_scalar(c, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

sf_status sfi_h5_attr_read_f64(const sfi_h5ctx *c, hid_t obj, const char *name, double *out)
{
    sf_status st = SF_OK;
    H5E_BEGIN_TRY {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
        hid_t t = a >= 0 ? H5Aget_type(a) : -1;
        hid_t s = a >= 0 ? H5Aget_space(a) : -1;
        if (a < 0 || t < 0 || H5Tget_class(t) != H5T_FLOAT || H5Sget_simple_extent_npoints(s) != 1 ||
            H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0) {
            sf_where w;
            sfi_where_init(&w, c->file);
            st = sfi_fail(c->err, SF_ERR_PARSE, &w, "missing or malformed number attribute \"%s\"", name);
        }
        if (s >= 0) H5Sclose(s);
        if (t >= 0) H5Tclose(t);
        if (a >= 0) H5Aclose(a);
    } H5E_END_TRY;
    return st;
}
