/* test_hdf5_index.c — io/hdf5_index.c: chunk addresses read from a dataset's
 * version-1 B-tree, and the HDF5 source reading through them.
 *
 * Files are written here with plain HDF5 calls in both formats we meet: libver
 * "earliest" (version-1 object headers, as h5py / pandas / PyTables write by
 * default; with a 512-byte user block, so HDF5's addresses start past it) and
 * V18..V18 (version-2 headers with lookup3 checksums, as our sink writes), and by
 * our own sink. Datasets: 1-D columns extended by several appends (> 512 chunks
 * of 16 rows, a multi-level tree: > 64 chunks a node; a partial last chunk), a 2-D
 * dataset in 8 x 3 chunks (4 chunks across a row, the last narrower), a dataset
 * with chunks never written, unfiltered, deflated, shuffled and deflated. For
 * every chunk HDF5 lists (H5Dget_chunk_info: offset, address, size, filter mask)
 * the parsed table must hold exactly that, and nothing else (exact integer
 * comparison). Not usable (state -1, HDF5's calls kept): a contiguous dataset, a
 * layout version 4 (libver latest), and bytes read at a wrong base offset (the
 * check against HDF5 refuses them). Damaged copies (bytes flipped in B-tree nodes
 * and object headers) end in "not usable", a failed fill or an error, never a
 * crash (run under ASan). Reading through the source: every value bit for bit
 * against the formula it was written from (1-D columns by tables and next_rows,
 * whole and by segments; the 2-D dataset by segments), with chunks found by the
 * index (sfi_hdf5_index_chunks > 0) and read by pread/mmap; a column behind an
 * external link (another file's addresses) read by HDF5; and scaler and k-means
 * fits equal (JSON export, exact) to the H5Dread path's (SF_HDF5_DIRECT=0), 1 and
 * 2 threads. */
#include "sf_test.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include "io/hdf5_index.h"
#include "io/source_impl.h"
#include "streamfit/streamfit.h"
#include "h5_test_util.h"

SFI_FUNC uint64_t sfi_hdf5_direct_preads(const sf_source *src);
SFI_FUNC uint64_t sfi_hdf5_index_chunks(const sf_source *src);

#define CR 16     /* rows a chunk of the 1-D datasets */
#define NR 11205  /* their rows: 700 whole chunks and a partial one */
#define MR 1203   /* rows of the 2-D dataset "m" */
#define MC 10     /* its columns, in chunks of 3 */

static double val(size_t i, size_t j) { return (double)i * 0.25 - (double)j * 3.5 + (double)((i * 7919 + j) % 101); }

/* Appends rows [r0, r1) of column formula col (2-D: all MC columns) to d. */
static void append(hid_t d, int rank, size_t r0, size_t r1, size_t col)
{
    size_t w = rank == 2 ? MC : 1;
    double *v = malloc((r1 - r0) * w * sizeof *v);
    for (size_t i = r0; i < r1; i++)
        for (size_t j = 0; j < w; j++) v[(i - r0) * w + j] = val(i, rank == 2 ? j : col);
    hsize_t size[2] = {r1, MC}, start[2] = {r0, 0}, count[2] = {r1 - r0, MC};
    assert_true(H5Dset_extent(d, size) >= 0);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    free(v);
}

static hid_t create(hid_t f, const char *name, int rank, int filters, bool contiguous)
{
    hsize_t dims[2] = {0, MC}, maxd[2] = {H5S_UNLIMITED, MC}, cd[2] = {CR, 1};
    if (rank == 2) cd[0] = 8, cd[1] = 3;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (contiguous) dims[0] = maxd[0] = 100;
    else assert_true(H5Pset_chunk(dcpl, rank, cd) >= 0);
    if (filters == 2) assert_true(H5Pset_shuffle(dcpl) >= 0);
    if (filters >= 1) assert_true(H5Pset_deflate(dcpl, 1) >= 0);
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Sclose(sp);
    H5Pclose(dcpl);
    return d;
}

/* libver: 0 earliest (with a user block), 1 V18, 2 latest. filters: 0 none,
 * 1 deflate, 2 shuffle + deflate. Datasets c0, c1 (1-D, NR rows, appended in 7
 * steps, interleaved), m (2-D), holes (1-D: every third chunk row never written),
 * and flat (contiguous). */
static char *make_file(int libver, int filters)
{
    char *path = h5t_tmp_path("sf_h5idx");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (libver == 0) assert_true(H5Pset_userblock(fcpl, 512) >= 0);
    if (libver == 1) assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0);
    if (libver == 2) assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    assert_true(f >= 0);
    hid_t c0 = create(f, "c0", 1, filters, false), c1 = create(f, "c1", 1, filters, false);
    hid_t m = create(f, "m", 2, filters, false), holes = create(f, "holes", 1, filters, false);
    hid_t flat = create(f, "flat", 1, 0, true);
    const size_t steps[] = {0, 5, 1600, 1601, 4000, 8000, 10000, NR};
    for (size_t s = 0; s + 1 < sizeof steps / sizeof *steps; s++) {
        append(c0, 1, steps[s], steps[s + 1], 0);
        append(c1, 1, steps[s], steps[s + 1], 1);
        size_t m0 = steps[s] * MR / NR, m1 = steps[s + 1] * MR / NR;
        if (m1 > m0) append(m, 2, m0, m1, 0);
    }
    hsize_t size[1] = {NR};
    assert_true(H5Dset_extent(holes, size) >= 0);
    for (size_t ci = 0; ci * CR < NR; ci++)
        if (ci % 3 != 1) {
            size_t r1 = (ci + 1) * CR < NR ? (ci + 1) * CR : NR;
            hid_t fs = H5Dget_space(holes);
            hsize_t start[1] = {ci * CR}, count[1] = {r1 - ci * CR};
            hid_t ms = H5Screate_simple(1, count, NULL);
            double v[CR];
            for (size_t i = 0; i < count[0]; i++) v[i] = val(start[0] + i, 7);
            assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
            assert_true(H5Dwrite(holes, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v) >= 0);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    H5Dclose(c0);
    H5Dclose(c1);
    H5Dclose(m);
    H5Dclose(holes);
    H5Dclose(flat);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    H5Fclose(f);
    return path;
}

/* The parsed table of dataset `name` against H5Dget_chunk_info for every chunk;
 * returns ix.state (the table checked only when 1). */
static int check_dataset(hid_t f, int fd, uint64_t base, const char *name)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    sfi_h5idx ix;
    sfi_h5idx_open(&ix, f, d, fd, base);
    if (ix.state != 1) {
        H5Dclose(d);
        return ix.state;
    }
    size_t tiles = sfi_h5idx_tiles(&ix);
    uint64_t rows = (ix.dims[0] + ix.cdims[0] - 1) / ix.cdims[0];
    unsigned char level = 0xff;
    assert_int_equal(pread(fd, &level, 1, (off_t)(base + ix.btree + 5)), 1);
    if (rows * tiles > 64) assert_true(level > 0 && level < 8); /* a tree of several levels */
    sfi_h5chunk *t = malloc(rows * tiles * sizeof *t);
    assert_true(sfi_h5idx_fill(&ix, fd, 0, rows, t));
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    assert_true(H5Dget_num_chunks(d, sp, &n) >= 0);
    size_t held = 0;
    for (size_t k = 0; k < rows * tiles; k++) held += t[k].size != 0;
    assert_int_equal(held, n);
    for (hsize_t k = 0; k < n; k++) {
        hsize_t off[2] = {0, 0}, size = 0;
        haddr_t addr = 0;
        unsigned mask = 0;
        assert_true(H5Dget_chunk_info(d, sp, k, off, &mask, &addr, &size) >= 0);
        const sfi_h5chunk *e = &t[(off[0] / ix.cdims[0]) * tiles + off[1] / ix.cdims[1]];
        assert_int_equal(e->addr, addr);
        assert_int_equal(e->size, size);
        assert_int_equal(e->mask, mask);
    }
    /* windows: any range gives the same entries */
    const uint64_t wins[][2] = {{0, 1}, {3, 70}, {rows - 1, rows}, {rows / 2, rows}};
    for (size_t w = 0; w < 4; w++) {
        if (wins[w][0] >= wins[w][1]) continue;
        sfi_h5chunk *u = malloc((wins[w][1] - wins[w][0]) * tiles * sizeof *u);
        assert_true(sfi_h5idx_fill(&ix, fd, wins[w][0], wins[w][1], u));
        assert_memory_equal(u, t + wins[w][0] * tiles, (wins[w][1] - wins[w][0]) * tiles * sizeof *u);
        free(u);
    }
    free(t);
    H5Sclose(sp);
    H5Dclose(d);
    return 1;
}

static void check_file(const char *path, uint64_t base, int expect_flat)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    const char *names[] = {"c0", "c1", "m", "holes"};
    for (size_t k = 0; k < 4; k++) assert_int_equal(check_dataset(f, fd, base, names[k]), expect_flat ? -1 : 1);
    assert_int_equal(check_dataset(f, fd, base, "flat"), -1);
    /* bytes read from the wrong place: the header does not parse, or the first and
     * last chunks disagree with HDF5's */
    assert_int_equal(check_dataset(f, fd, base + 8, "c0"), -1);
    assert_int_equal(check_dataset(f, fd, base + 4096, "m"), -1);
    close(fd);
    H5Fclose(f);
}

/* The 2-D dataset m through the source (a matrix: columns m0..m9), its 604
 * chunks found by the index (indexed) or by HDF5. */
static void check_matrix(const char *path, bool indexed)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 100;
    o.segment_rows = 160;
    char spec[200];
    snprintf(spec, sizeof spec, "%s:/m", path);
    sf_source *src = NULL;
    sf_error err;
    if (sf_source_open(&src, spec, &o, &err) != SF_OK) fail_msg("%s", err.message);
    assert_int_equal(src->n_cols, MC);
    size_t n_seg = 0, row = 0;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    for (size_t i = 0; i < n_seg; i++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, i, &seg, &err), SF_OK);
        const sf_table *t = NULL;
        while (sf_source_next(seg, &t, &err) == SF_OK) {
            for (size_t k = 0; k < t->n_rows; k++)
                for (size_t j = 0; j < MC; j++) assert_double_bits(t->cols[j].values[k], val(row + k, j));
            row += t->n_rows;
        }
        assert_true(indexed ? sfi_hdf5_index_chunks(seg) > 0 : sfi_hdf5_index_chunks(seg) == 0);
        sf_source_close(seg);
    }
    assert_int_equal(row, MR);
    sf_source_close(src);
}

static void test_formats(void **state)
{
    (void)state;
    for (int libver = 0; libver < 3; libver++)
        for (int filters = 0; filters < 3; filters++) {
            char *path = make_file(libver, filters);
            /* latest: layout version 4 (extensible arrays): not ours to read */
            check_file(path, libver == 0 ? 512 : 0, libver == 2);
            check_matrix(path, libver < 2);
            unlink(path);
            free(path);
        }
}

/* Our sink's files: a table group of 1-D float64 columns, deflated or not. */
static void test_sink_files(void **state)
{
    (void)state;
    for (int level = 0; level < 2; level++) {
        char *path = h5t_tmp_path("sf_h5idx");
        char *file = malloc(strlen(path) + 4);
        sprintf(file, "%s.h5", path);
        sf_sink_options o;
        sf_sink_options_init(&o);
        o.compression = level;
        o.chunk_rows = CR;
        o.threads = 2;
        sf_error err;
        sf_sink *s = NULL;
        assert_int_equal(sf_sink_open(&s, file, &o, &err), SF_OK);
        static const char *names[] = {"a", "b"};
        sf_coltype types[] = {SF_COL_FLOAT, SF_COL_FLOAT};
        sf_table *t = NULL;
        assert_int_equal(sf_table_new(&t, 2, types, names, NULL, 1000, &err), SF_OK);
        for (size_t r0 = 0; r0 < NR; r0 += 1000) {
            size_t n = NR - r0 < 1000 ? NR - r0 : 1000;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < 2; j++) {
                    t->cols[j].values[i] = val(r0 + i, j);
                    t->cols[j].missing[i] = false;
                }
            t->n_rows = n;
            assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
        }
        assert_int_equal(sf_sink_close(s, &err), SF_OK);
        sf_table_free(t);
        hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        int fd = open(file, O_RDONLY);
        char ds[64];
        for (size_t j = 0; j < 2; j++) {
            snprintf(ds, sizeof ds, "/%s", names[j]); /* the sink's table group: the root */
            assert_int_equal(check_dataset(f, fd, 0, ds), 1);
        }
        close(fd);
        H5Fclose(f);
        unlink(file);
        unlink(path);
        free(file);
        free(path);
    }
}

/* ------------------------------------------------------------ through the source */

#define NCOL 4 /* c0, c1, c2, y; then h: chunk rows ci % 3 == 1 never written */

/* The source columns' values: c0..c2 and y = val(i, 10), h (0.0: the fill value). */
static double expect(const char *name, size_t i)
{
    if (name[0] == 'c') return val(i, (size_t)(name[1] - '0'));
    if (name[0] == 'y') return val(i, 10);
    return (i / CR) % 3 == 1 ? 0.0 : val(i, 7); /* written with holes */
}

static char *make_cols(int libver, int filters, bool holes)
{
    char *path = h5t_tmp_path("sf_h5idx");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (libver == 1) assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0);
    if (libver == 2) assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    assert_true(f >= 0);
    const char *names[NCOL] = {"c0", "c1", "c2", "y"};
    const size_t cols[NCOL] = {0, 1, 2, 10};
    hid_t d[NCOL];
    for (size_t j = 0; j < NCOL; j++) d[j] = create(f, names[j], 1, filters, false);
    const size_t steps[] = {0, 5, 1600, 1601, 4000, 8000, 10000, NR};
    for (size_t s = 0; s + 1 < sizeof steps / sizeof *steps; s++)
        for (size_t j = 0; j < NCOL; j++) append(d[j], 1, steps[s], steps[s + 1], cols[j]);
    hid_t h = create(f, "h", 1, filters, false);
    hsize_t size[1] = {NR};
    assert_true(H5Dset_extent(h, size) >= 0);
    for (size_t ci = 0; ci * CR < NR; ci++) {
        if (ci % 3 == 1 && holes) continue;
        hsize_t start[1] = {ci * CR}, count[1] = {(ci + 1) * CR < NR ? CR : NR - ci * CR};
        double v[CR];
        for (size_t i = 0; i < count[0]; i++) v[i] = val(start[0] + i, 7);
        hid_t fs = H5Dget_space(h), ms = H5Screate_simple(1, count, NULL);
        assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
        assert_true(H5Dwrite(h, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v) >= 0);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(h);
    for (size_t j = 0; j < NCOL; j++) H5Dclose(d[j]);
    H5Pclose(fapl);
    H5Fclose(f);
    return path;
}

/* Every table of s from its cursor on against expect(); returns the rows. */
static size_t check_tables(sf_source *s, size_t row)
{
    const sf_table *t = NULL;
    sf_error err;
    sf_status st;
    size_t first = row;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        for (size_t i = 0; i < t->n_rows; i++)
            for (size_t c = 0; c < s->n_cols; c++) {
                assert_false(t->cols[c].missing[i]);
                assert_double_bits(t->cols[c].values[i], expect(s->names[c], row + i));
            }
        row += t->n_rows;
    }
    assert_int_equal(st, SF_END);
    return row - first;
}

/* Whole source and segments, by tables and by next_rows (c2, c0, c1 and y): every
 * value, the chunks found through the index (indexed: else by HDF5's calls). */
static void check_source(const char *path, bool mapped, bool indexed)
{
    sf_source *src = h5t_open(path, 500, 1600);
    assert_int_equal(check_tables(src, 0), NR);
    if (indexed) {
        assert_true(sfi_hdf5_index_chunks(src) >= (NR / CR) * NCOL); /* windows refilled */
        assert_true(sfi_hdf5_direct_preads(src) > 0);
    } else
        assert_int_equal(sfi_hdf5_index_chunks(src), 0);
    size_t n_seg = 0, row = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    assert_true(n_seg > 5);
    size_t cols[3] = {h5t_col_of(src, "c2"), h5t_col_of(src, "c0"), h5t_col_of(src, "c1")};
    sfi_rows_want want = {.cols = cols, .p = 3, .target = (long)h5t_col_of(src, "y"), .weight = -1};
    sf_block *b = NULL;
    assert_int_equal(sf_block_new(&b, 500, 3, true, false, &err), SF_OK);
    for (size_t i = 0; i < n_seg; i++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, i, &seg, &err), SF_OK);
        size_t first = row;
        const sf_table *t = NULL;
        sf_status st;
        while ((st = seg->ops->next_rows(seg, &want, b, &t, &err)) == SF_OK) {
            assert_null(t);
            for (size_t k = 0; k < b->n_rows; k++) {
                for (size_t j = 0; j < 3; j++)
                    assert_double_bits(b->x[k * b->ld + j], expect(seg->names[cols[j]], row + k));
                assert_double_bits(b->y[k], val(row + k, 10));
            }
            row += b->n_rows;
        }
        assert_int_equal(st, SF_END);
        assert_true(indexed ? sfi_hdf5_index_chunks(seg) > 0 : sfi_hdf5_index_chunks(seg) == 0);
        if (mapped) assert_int_equal(sfi_hdf5_direct_preads(seg), 0);
        else if (indexed) assert_true(sfi_hdf5_direct_preads(seg) > 0);
        assert_int_equal(sf_source_rewind(seg, &err), SF_OK);
        assert_int_equal(check_tables(seg, first), row - first);
        sf_source_close(seg);
    }
    assert_int_equal(row, NR);
    sf_block_free(b);
    sf_source_close(src);
}

static void test_source_reads(void **state)
{
    (void)state;
    /* libver latest: layout version 4, not ours to read: HDF5's lookups (over 512
     * chunks: H5Dread_chunk, no pread), the same values */
    for (int libver = 0; libver < 3; libver++)
        for (int filters = 0; filters < 3; filters++) {
            char *path = make_cols(libver, filters, true);
            setenv("SF_HDF5_MMAP", "1", 1); /* uncompressed chunks mapped */
            check_source(path, filters == 0, libver < 2);
            unsetenv("SF_HDF5_MMAP"); /* the default: pread */
            check_source(path, false, libver < 2);
            unlink(path);
            free(path);
        }
}

/* A column reached through an external link lives in another file: its chunks'
 * addresses are that file's, so neither the index nor pread on this file's
 * descriptor may locate them (HDF5 reads them); the other columns still go direct.
 * Chunk counts below and above DIRECT_LOOKUP_MAX. */
static void test_external_link(void **state)
{
    (void)state;
    for (size_t rows = 2000; rows <= NR; rows += NR - 2000) {
        char *other = h5t_tmp_path("sf_h5idx"), *path = h5t_tmp_path("sf_h5idx");
        hid_t f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(f >= 0);
        hid_t d = create(f, "pad", 1, 0, false); /* so c0's chunks lie elsewhere */
        append(d, 1, 0, 3000, 5);
        H5Dclose(d);
        d = create(f, "c0", 1, 0, false);
        append(d, 1, 0, rows, 0);
        H5Dclose(d);
        H5Fclose(f);
        f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(f >= 0);
        d = create(f, "c1", 1, 0, false);
        append(d, 1, 0, rows, 1);
        H5Dclose(d);
        d = create(f, "y", 1, 0, false);
        append(d, 1, 0, rows, 10);
        H5Dclose(d);
        /* c0 of the other file */
        assert_true(H5Lcreate_external(other, "/c0", f, "c0", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        H5Fclose(f);
        sf_source *src = h5t_open(path, 500, 1600);
        const sf_table *t = NULL;
        sf_error err;
        size_t row = 0;
        while (sf_source_next(src, &t, &err) == SF_OK) {
            for (size_t i = 0; i < t->n_rows; i++)
                for (size_t c = 0; c < src->n_cols; c++)
                    assert_double_bits(t->cols[c].values[i], expect(src->names[c], row + i));
            row += t->n_rows;
        }
        assert_int_equal(row, rows);
        assert_true(sfi_hdf5_direct_preads(src) > 0); /* c1 and y */
        sf_source_close(src);
        unlink(path);
        unlink(other);
        free(path);
        free(other);
    }
}

/* A fit's JSON export with the direct chunk path on or off. */
static char *fit_json(const char *path, const char *spec, size_t threads, bool direct)
{
    return h5t_fit_json(path, spec, "c0,c1,c2", threads, direct, 600, 1600);
}

static void test_fits_equal(void **state)
{
    (void)state;
    for (int filters = 0; filters < 2; filters++) {
        char *path = make_cols(1, filters, true);
        const char *specs[] = {"scaler", "minibatch_kmeans(n_clusters=3, random_state=0, batch_size=500)"};
        for (size_t s = 0; s < 2; s++) {
            char *ref = fit_json(path, specs[s], 1, false);
            for (size_t threads = 1; threads <= 2; threads++) {
                char *got = fit_json(path, specs[s], threads, true);
                assert_string_equal(got, ref);
                free(got);
            }
            free(ref);
        }
        unlink(path);
        free(path);
    }
}

/* ------------------------------------------------------------ damaged files */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A damaged copy read every way: the parser on each dataset, with HDF5's ids
 * from the intact original `f` but the copy's bytes (so the parser alone meets the
 * damage), and a fill of all chunks when it takes the dataset; then, with_source,
 * the source on the copy (HDF5 and the parser together), only for a B-tree node's
 * damaged type or level, which HDF5 reports as errors: HDF5 1.10.8 itself
 * overflows heap buffers on other damage (H5Dread on a damaged object header or a
 * chunk key's size; H5Dread_chunk writes the damaged size it finds into a buffer
 * sized by H5Dget_chunk_storage_size). Returns whether the parser turned a dataset down. Anything may fail;
 * nothing may crash or read out of bounds. */
static bool read_damaged(hid_t f, const char *copy, bool with_source)
{
    bool refused = false;
    int fd = open(copy, O_RDONLY);
    assert_true(fd >= 0);
    const char *names[] = {"c0", "c1", "c2", "y", "h"};
    for (size_t k = 0; k < 5; k++) {
        hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT);
        assert_true(d >= 0);
        sfi_h5idx ix;
        sfi_h5idx_open(&ix, f, d, fd, 0);
        refused |= ix.state != 1;
        if (ix.state == 1) {
            uint64_t rows = (ix.dims[0] + ix.cdims[0] - 1) / ix.cdims[0];
            sfi_h5chunk *t = malloc(rows * sizeof *t);
            refused |= !sfi_h5idx_fill(&ix, fd, 0, rows, t);
            free(t);
        }
        H5Dclose(d);
    }
    close(fd);
    if (!with_source) return refused;
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 700;
    char spec[200];
    snprintf(spec, sizeof spec, "%s:/", copy);
    sf_source *src = NULL;
    sf_error err;
    if (sf_source_open(&src, spec, &o, &err) == SF_OK) {
        const sf_table *t;
        while (sf_source_next(src, &t, &err) == SF_OK) {}
        sf_source_close(src);
    }
    return refused;
}

static void test_damaged(void **state)
{
    (void)state;
    for (int libver = 0; libver < 2; libver++) {
        char *path = make_cols(libver, libver, false); /* holes: H5Dread fills them */
        size_t n;
        unsigned char *orig = slurp(path, &n);
        /* B-tree nodes and v2 object header chunks by signature, v1 headers by address */
        size_t at[512], n_at = 0, n_tree = 0;
        for (size_t i = 0; i + 4 <= n && n_at < 500; i++)
            if (memcmp(orig + i, "TREE", 4) == 0) at[n_at++] = i, n_tree++;
        for (size_t i = 0; i + 4 <= n && n_at < 505; i++)
            if (memcmp(orig + i, "OHDR", 4) == 0 || memcmp(orig + i, "OCHK", 4) == 0) at[n_at++] = i;
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        const char *names[] = {"c0", "y", "h"};
        for (size_t k = 0; k < 3 && libver == 0; k++) {
            H5O_info_t oi;
            hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT);
            assert_int_equal(H5Oget_info2(d, &oi, H5O_INFO_BASIC), 0);
            at[n_at++] = (size_t)oi.addr;
            H5Dclose(d);
        }
        assert_true(n_tree > 10);
        char *copy = h5t_tmp_path("sf_h5idx");
        size_t refused = 0, tried = 0;
        for (size_t a = 0; a < n_at; a++)
            for (size_t v = 0; v < (a < n_tree ? 2u : 8u); v++) {
                /* a TREE node: its type, level, entry count, a sibling, a key's
                 * size, mask and offset, a child; a header: its prefix and messages */
                static const size_t tree_pos[] = {4, 5, 6, 7, 14, 24, 28, 35, 57, 60};
                size_t pos = at[a] + (a < n_tree ? tree_pos[(a * 2 + v) % 10] : 4 + 11 * v);
                if (pos >= n) continue;
                unsigned char *b = malloc(n);
                memcpy(b, orig, n);
                b[pos] ^= (unsigned char)(v & 1 ? 0x80 : 0x05);
                FILE *out = fopen(copy, "wb");
                assert_int_equal(fwrite(b, 1, n, out), n);
                fclose(out);
                free(b);
                refused += read_damaged(f, copy, a < n_tree && pos - at[a] <= 5);
                tried++;
            }
        /* the parser notices damage, it does not read blind */
        assert_true(refused > tried / 3);
        H5Fclose(f);
        unlink(copy);
        free(copy);
        free(orig);
        unlink(path);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_sink_files),
        cmocka_unit_test(test_source_reads),
        cmocka_unit_test(test_fits_equal),
        cmocka_unit_test(test_external_link),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
