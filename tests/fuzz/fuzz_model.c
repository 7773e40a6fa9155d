/* fuzz_model.c — libFuzzer target for the model loader (sf_pipeline_load).
 *
 * Decision 17: libhdf5 itself is not hardened against crafted file structure (its
 * own open CVEs), so the fuzzer does not flip raw bytes. It starts from a
 * structurally valid model (a "scaler | scaler(with_mean=false)" pipeline fitted
 * once and saved), and the input is a little program of edits made through the
 * HDF5 C API: values written into the fitted datasets, datasets replaced with other
 * lengths, types, shapes and layouts, attributes replaced with other types and
 * values (kinds, versions, counts, strings), links deleted, moved, duplicated or
 * left dangling, raw chunks overwritten so the fletcher32 checksum fails. The file
 * is closed and loaded: sf_pipeline_load must return an error or a pipeline that
 * works — it transforms a row, exports JSON, and saved again and reloaded gives
 * the same JSON — never crash, hang, leak or hit undefined behaviour.
 *
 * Input: a sequence of ops, each an opcode byte and its argument bytes (see
 * apply()); missing bytes read as 0, so every input is a valid program.
 */
#define _GNU_SOURCE
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamfit/streamfit.h"

/* ------------------------------------------------------------ input bytes */

typedef struct bytes {
    const uint8_t *p;
    size_t n;
} bytes;

static uint8_t u8(bytes *b)
{
    if (!b->n) return 0;
    b->n--;
    return *b->p++;
}

static uint64_t u64(bytes *b)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | u8(b);
    return v;
}

static double f64(bytes *b)
{
    static const double special[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 3.0, NAN, -NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX,
        DBL_MIN, 4.9406564584124654e-324, 1e300, 9223372036854775808.0};
    uint8_t s = u8(b) % 20;
    if (s < 16) return special[s];
    uint64_t bits = u64(b);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static int64_t i64(bytes *b)
{
    static const int64_t special[] = {0, 1, -1, 2, 3, 1000, 1001, INT64_MAX, INT64_MIN, 4294967296LL};
    uint8_t s = u8(b) % 11;
    return s < 10 ? special[s] : (int64_t)u64(b);
}

/* A string: one of the names the loader looks for, or up to 23 raw bytes. */
static void text(bytes *b, char *out, size_t *len)
{
    static const char *const known[] = {"standard_scaler", "scaler", "streamfit-model", "", "y",
                                        "x0", "no_such", "stage_0"};
    uint8_t s = u8(b) % 10;
    if (s < 8) {
        *len = strlen(known[s]);
        memcpy(out, known[s], *len + 1);
        return;
    }
    *len = u8(b) % 24;
    for (size_t k = 0; k < *len; k++) out[k] = (char)u8(b);
    out[*len] = '\0';
}

/* ------------------------------------------------------ the model's objects */

static const char *const groups[] = {"/", "/stage_0", "/stage_1"};
enum { N_GROUPS = 3 };
static const char *const vecs[] = {"n_samples_seen_", "shift", "shifted_mean", "m2",
                                   "mean_", "var_", "scale_"};
enum { N_VECS = 7, N_DSETS = 1 + 2 * N_VECS };
static const struct { int group; const char *name; } attrs[] = {
    {0, "format"}, {0, "version"}, {0, "n_stages"}, {0, "target"}, {0, "rows_seen"},
    {0, "rows_dropped"}, {1, "kind"}, {1, "with_mean"}, {1, "with_std"}, {2, "kind"},
    {2, "with_mean"}, {2, "with_std"}};
enum { N_ATTRS = 12 };

static void dset_path(unsigned i, char *out, size_t n)
{
    i %= N_DSETS;
    if (i == 0) snprintf(out, n, "/columns");
    else snprintf(out, n, "/stage_%u/%s", (i - 1) / N_VECS, vecs[(i - 1) % N_VECS]);
}

static void parent_of(const char *path, char *dir, const char **leaf)
{
    const char *slash = strrchr(path, '/');
    size_t k = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, k);
    dir[k] = '\0';
    *leaf = slash + 1;
}

/* ------------------------------------------------------------------ edits */

/* Overwrites up to 8 values of an existing numeric dataset, in place. */
static void op_values(hid_t f, bytes *b)
{
    char path[64];
    dset_path(u8(b), path, sizeof path);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t s = d >= 0 ? H5Dget_space(d) : -1;
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    if (n > 0 && n < 4096 && t >= 0 && H5Tget_class(t) == H5T_FLOAT) {
        double *v = malloc((size_t)n * sizeof *v);
        if (v && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
            int count = 1 + u8(b) % 8;
            for (int k = 0; k < count; k++) {
                size_t at = u8(b) % (size_t)n;
                v[at] = f64(b);
            }
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        }
        free(v);
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (d >= 0) H5Dclose(d);
}

/* A string type: variable or fixed length, ASCII or UTF-8. */
static hid_t string_type(bytes *b, size_t fixed)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    uint8_t k = u8(b);
    H5Tset_size(t, (k & 1) ? H5T_VARIABLE : (fixed ? fixed : 1));
    H5Tset_cset(t, (k & 2) ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
    if (k & 4) H5Tset_strpad(t, H5T_STR_SPACEPAD);
    return t;
}

/* Replaces a dataset by one of another length, type, shape or layout. */
static void op_replace(hid_t f, bytes *b)
{
    char path[64], dir[64];
    const char *leaf;
    dset_path(u8(b), path, sizeof path);
    parent_of(path, dir, &leaf);
    hid_t g = H5Gopen2(f, dir, H5P_DEFAULT);
    if (g < 0) return;
    H5Ldelete(g, leaf, H5P_DEFAULT);
    hsize_t n = u8(b) % 8, dims[2] = {n, 2};
    uint8_t shape = u8(b) % 5, kind = u8(b) % 9, layout = u8(b) % 4;
    hid_t s = shape == 0 ? H5Screate(H5S_SCALAR)
            : shape == 1 ? H5Screate(H5S_NULL)
            : H5Screate_simple(shape == 2 ? 2 : 1, dims, NULL);
    hid_t t;
    switch (kind) {
    case 0: t = H5Tcopy(H5T_IEEE_F64LE); break;
    case 1: t = H5Tcopy(H5T_IEEE_F64BE); break;
    case 2: t = H5Tcopy(H5T_IEEE_F32LE); break;
    case 3: t = H5Tcopy(H5T_STD_I64LE); break;
    case 4: t = H5Tcopy(H5T_STD_U8LE); break;
    case 5: t = string_type(b, 4); break;
    case 6: t = H5Tcopy(H5T_NATIVE_LDOUBLE); break;
    case 7:
        t = H5Tcreate(H5T_COMPOUND, sizeof(double));
        H5Tinsert(t, "v", 0, H5T_NATIVE_DOUBLE);
        break;
    default: t = H5Tenum_create(H5T_NATIVE_INT); {
            int zero = 0;
            H5Tenum_insert(t, "zero", &zero);
        }
    }
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {n ? n : 1, 2};
    if (layout >= 1 && shape >= 2) H5Pset_chunk(pl, shape == 2 ? 2 : 1, chunk);
    if (layout == 2 && shape >= 2) H5Pset_fletcher32(pl);
    if (layout == 3 && shape >= 2) H5Pset_deflate(pl, 1);
    hid_t d = H5Dcreate2(g, leaf, t, s, H5P_DEFAULT, pl, H5P_DEFAULT);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (d >= 0 && np > 0 && H5Tget_class(t) != H5T_STRING && H5Tget_class(t) != H5T_ENUM) {
        double v[16];
        for (hssize_t k = 0; k < np && k < 16; k++) v[k] = f64(b);
        if (kind == 7) {
            hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
            H5Tinsert(mt, "v", 0, H5T_NATIVE_DOUBLE);
            H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            H5Tclose(mt);
        } else
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    } else if (d >= 0 && np > 0 && H5Tget_class(t) == H5T_STRING) {
        char buf[16][24];
        const char *ptr[16];
        for (hssize_t k = 0; k < np && k < 16; k++) {
            size_t len;
            text(b, buf[k], &len);
            ptr[k] = buf[k];
        }
        if (H5Tis_variable_str(t) > 0) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptr);
        else {
            char flat[16 * 4];
            for (hssize_t k = 0; k < np && k < 16; k++) memcpy(flat + 4 * k, buf[k], 4);
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat);
        }
    }
    if (d >= 0) H5Dclose(d);
    H5Pclose(pl);
    H5Tclose(t);
    H5Sclose(s);
    H5Gclose(g);
}

/* Deletes a dataset, a stage group or an attribute. */
static void op_delete(hid_t f, bytes *b)
{
    unsigned k = u8(b) % (N_DSETS + N_GROUPS + N_ATTRS);
    if (k < N_DSETS) {
        char path[64];
        dset_path(k, path, sizeof path);
        H5Ldelete(f, path, H5P_DEFAULT);
    } else if (k < N_DSETS + N_GROUPS) {
        if (k - N_DSETS > 0) H5Ldelete(f, groups[k - N_DSETS], H5P_DEFAULT);
    } else {
        k -= N_DSETS + N_GROUPS;
        H5Adelete_by_name(f, groups[attrs[k].group], attrs[k].name, H5P_DEFAULT);
    }
}

/* Replaces an attribute with one of another type, shape or value. */
static void op_attr(hid_t f, bytes *b)
{
    unsigned k = u8(b) % N_ATTRS;
    hid_t o = H5Oopen(f, groups[attrs[k].group], H5P_DEFAULT);
    if (o < 0) return;
    H5Adelete(o, attrs[k].name);
    uint8_t kind = u8(b) % 9;
    hsize_t two = 2;
    hid_t s = kind == 6 ? H5Screate(H5S_NULL) : kind == 7 ? H5Screate_simple(1, &two, NULL)
                                                         : H5Screate(H5S_SCALAR);
    char str[32];
    size_t len = 0;
    hid_t t;
    if (kind == 0 || kind == 6 || kind == 7) t = H5Tcopy(H5T_STD_I64LE);
    else if (kind == 1) t = H5Tcopy(H5T_STD_I8LE);
    else if (kind == 2) t = H5Tcopy(H5T_STD_U64BE);
    else if (kind == 3) t = H5Tcopy(H5T_IEEE_F64LE);
    else {
        text(b, str, &len);
        t = string_type(b, len + (kind == 4 ? 0 : 1));
    }
    hid_t a = H5Acreate2(o, attrs[k].name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && kind != 6) {
        if (H5Tget_class(t) == H5T_STRING) {
            const char *ptr = str;
            H5Awrite(a, t, H5Tis_variable_str(t) > 0 ? (const void *)&ptr : (const void *)str);
        } else if (kind == 3) {
            double v = f64(b);
            H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
        } else {
            int64_t v[2] = {i64(b), i64(b)};
            H5Awrite(a, H5T_NATIVE_INT64, v);
        }
    }
    if (a >= 0) H5Aclose(a);
    H5Tclose(t);
    H5Sclose(s);
    H5Oclose(o);
}

/* Rewrites /columns with 0-5 names (duplicates, empty, raw bytes). */
static void op_columns(hid_t f, bytes *b)
{
    H5Ldelete(f, "columns", H5P_DEFAULT);
    hsize_t n = u8(b) % 6;
    char buf[6][24];
    const char *ptr[6];
    for (hsize_t k = 0; k < n; k++) {
        size_t len;
        text(b, buf[k], &len);
        ptr[k] = buf[k];
    }
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, (u8(b) & 1) ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "columns", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && n) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptr);
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    H5Tclose(t);
}

/* Overwrites the first raw chunk of a chunked dataset, filters bypassed, so the
 * stored fletcher32 checksum (or the chunk's size) no longer matches. */
static void op_chunk(hid_t f, bytes *b)
{
    char path[64];
    dset_path(u8(b), path, sizeof path);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return;
    hid_t pl = H5Dget_create_plist(d), s = H5Dget_space(d);
    /* 1-D, not empty: libhdf5 crashes writing a raw chunk outside an empty extent */
    bool one_d = s >= 0 && H5Sget_simple_extent_ndims(s) == 1 && H5Sget_simple_extent_npoints(s) > 0;
    if (s >= 0) H5Sclose(s);
    if (pl >= 0 && one_d && H5Pget_layout(pl) == H5D_CHUNKED) {
        uint8_t raw[64];
        size_t n = 1 + u8(b) % 63;
        for (size_t k = 0; k < n; k++) raw[k] = u8(b);
        hsize_t off[1] = {0};
        H5Dwrite_chunk(d, H5P_DEFAULT, u8(b) & 1, off, n, raw);
    }
    if (pl >= 0) H5Pclose(pl);
    H5Dclose(d);
}

/* Link games: a stage linked twice, swapped, copied to a third stage; dangling
 * and looping soft links; a dataset name that is a group; an external link. */
static void op_link(hid_t f, bytes *b)
{
    char path[64];
    dset_path(u8(b), path, sizeof path);
    switch (u8(b) % 7) {
    case 0:
        H5Ldelete(f, "stage_1", H5P_DEFAULT);
        H5Lcreate_hard(f, "stage_0", f, "stage_1", H5P_DEFAULT, H5P_DEFAULT);
        break;
    case 1:
        H5Lmove(f, "stage_0", f, "tmp", H5P_DEFAULT, H5P_DEFAULT);
        H5Lmove(f, "stage_1", f, "stage_0", H5P_DEFAULT, H5P_DEFAULT);
        H5Lmove(f, "tmp", f, "stage_1", H5P_DEFAULT, H5P_DEFAULT);
        break;
    case 2: H5Ocopy(f, "stage_0", f, "stage_2", H5P_DEFAULT, H5P_DEFAULT); break;
    case 3:
        H5Ldelete(f, path, H5P_DEFAULT);
        H5Lcreate_soft("/nowhere", f, path, H5P_DEFAULT, H5P_DEFAULT);
        break;
    case 4:
        H5Ldelete(f, path, H5P_DEFAULT);
        H5Lcreate_soft(path, f, path, H5P_DEFAULT, H5P_DEFAULT);
        break;
    case 5:
        H5Ldelete(f, path, H5P_DEFAULT);
        H5Lcreate_hard(f, "/", f, path, H5P_DEFAULT, H5P_DEFAULT);
        break;
    default:
        H5Ldelete(f, path, H5P_DEFAULT);
        H5Lcreate_external("/nonexistent/sf_fuzz.h5", "/x", f, path, H5P_DEFAULT, H5P_DEFAULT);
    }
}

/* Sets one of the integer attributes to an edge value, keeping its type. */
static void op_int(hid_t f, bytes *b)
{
    static const unsigned ints[] = {1, 2, 4, 5, 7, 8, 10, 11};
    unsigned k = ints[u8(b) % 8];
    hid_t a = H5Aopen_by_name(f, groups[attrs[k].group], attrs[k].name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return;
    hid_t s = H5Aget_space(a), t = H5Aget_type(a);
    int64_t v = i64(b);
    if (H5Sget_simple_extent_npoints(s) == 1 && H5Tget_class(t) == H5T_INTEGER)
        H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Tclose(t);
    H5Sclose(s);
    H5Aclose(a);
}

static void apply(hid_t f, bytes *b)
{
    for (int ops = 0; b->n && ops < 24; ops++) {
        switch (u8(b) % 8) {
        case 0: op_values(f, b); break;
        case 1: op_replace(f, b); break;
        case 2: op_delete(f, b); break;
        case 3: op_attr(f, b); break;
        case 4: op_columns(f, b); break;
        case 5: /* last: our own edits must not read the broken chunk back (libhdf5
                 * would read past it, the very bug the loader guards against) */
            op_chunk(f, b);
            return;
        case 6: op_link(f, b); break;
        default: op_int(f, b);
        }
    }
}

/* --------------------------------------------------------- template and run */

static uint8_t *templ;
static size_t templ_len;
static char work[64], again[64];

static void remove_files(void)
{
    unlink(work);
    unlink(again);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_model: %s\n", what);
    abort();
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* Fits and saves the model every input starts from; keeps its bytes. */
static void make_template(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5set_free_list_limits(1 << 20, 1 << 18, 1 << 20, 1 << 18, 1 << 20, 1 << 18);
    sf_library_init();
    snprintf(work, sizeof work, "/tmp/sf_fuzz_model_%d.h5", (int)getpid());
    snprintf(again, sizeof again, "/tmp/sf_fuzz_model_%d.again.h5", (int)getpid());
    atexit(remove_files);
    double x[40 * 3];
    for (int i = 0; i < 40 * 3; i++) x[i] = (double)((i * 37) % 23) * 0.5 - 4 + (i % 3) * 100;
    static const char *const names[] = {"x0", "x1", "x2"};
    double y[40];
    for (int i = 0; i < 40; i++) y[i] = i % 2;
    const char *const all[] = {names[0], names[1], names[2], "y"};
    sf_source *src = NULL;
    sf_pipeline *pl = NULL;
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.target = "y";
    fo.threads = 1;
    sf_error err;
    if (sf_source_from_memory(&src, x, 40, 3, 3, y, NULL, all, NULL, &err) != SF_OK ||
        sf_pipeline_new(&pl, "scaler | scaler(with_mean=false)", &err) != SF_OK ||
        sf_pipeline_fit(pl, src, &fo, &err) != SF_OK || sf_pipeline_save(pl, work, &err) != SF_OK)
        die(err.message);
    sf_pipeline_free(pl);
    sf_source_close(src);
    FILE *fp = fopen(work, "rb");
    if (!fp) die("cannot reopen the template");
    fseek(fp, 0, SEEK_END);
    templ_len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    templ = malloc(templ_len);
    if (!templ || fread(templ, 1, templ_len, fp) != templ_len) die("cannot read the template");
    fclose(fp);
}

/* A loaded pipeline must work: transform a row, export, and survive save → load. */
static void exercise(sf_pipeline *pl)
{
    size_t p = sf_pipeline_n_features(pl), q = sf_pipeline_n_outputs(pl);
    if (p == 0 || q == 0) __builtin_trap();
    double *x = calloc(p, sizeof *x), *out = calloc(q, sizeof *out);
    if (!x || !out) die("out of memory");
    for (size_t j = 0; j < p; j++) x[j] = (double)j - 1;
    sf_error err;
    sf_status st = sf_pipeline_transform(pl, x, 1, p, p, out, q, &err);
    if (st != SF_OK && st != SF_ERR_NOMEM) __builtin_trap();
    char *json = NULL, *json2 = NULL;
    sf_pipeline *back = NULL;
    if (sf_pipeline_to_json(pl, &json, &err) != SF_OK) __builtin_trap();
    if (sf_pipeline_save(pl, again, &err) != SF_OK) __builtin_trap();
    if (sf_pipeline_load(&back, again, &err) != SF_OK) __builtin_trap();
    if (sf_pipeline_to_json(back, &json2, &err) != SF_OK || strcmp(json, json2) != 0) __builtin_trap();
    free(json);
    free(json2);
    sf_pipeline_free(back);
    free(x);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!templ) make_template();
    if (!write_file(work, templ, templ_len)) die("cannot write the work file");
    bytes b = {data, size};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(work, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0) die("cannot open the work file");
    apply(f, &b);
    if (H5Fclose(f) < 0) return 0; /* an edit HDF5 could not write: not a model */
    sf_pipeline *pl = NULL;
    sf_error err;
    sf_status st = sf_pipeline_load(&pl, work, &err);
    if (st == SF_OK) exercise(pl);
    else if (pl || !SF_IS_ERROR(st) || !err.message[0]) __builtin_trap();
    sf_pipeline_free(pl);
    /* HDF5 keeps freed blocks on its own free lists; over thousands of file opens
     * they grow the process past libFuzzer's RSS limit */
    H5garbage_collect();
    return 0;
}
