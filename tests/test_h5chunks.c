/* test_h5chunks.c — the HDF5 sink's chunk writer (io/hdf5_sink.c): float64 datasets
 * deflated on the writer threads and stored with H5Dwrite_chunk. Every file is read
 * back with libhdf5's own H5Dread (HDF5's deflate filter, not our reader) and with
 * our source, and compared bit for bit (assert_double_bits) with the values written:
 * uneven writes across chunk boundaries, missing values (NaN), a matrix with a row
 * stride wider than its columns, the last partial chunk, 1 and 3 threads, levels 0,
 * 1 and 9. The filter pipeline must be what H5Pset_deflate declares (deflate, its
 * level in cd_values[0]) or none, and the chunks the sink's usual shape, so h5py and
 * PyTables read the files as before. A bad category code fails before anything is
 * written: the sink goes on, and the file holds only the good rows. Chunks of 64 KiB
 * or more start at multiples of 4096 in the file. */
#include "sf_test.h"

#include <hdf5.h>
#include <unistd.h>

#include "io/source_impl.h"
#include "streamfit/sf_source.h"
#include "streamfit/streamfit.h"
#include "h5_test_util.h"

#define NR 41007 /* rows: 41 chunks of 1000, and a partial one */

static double val(size_t i, size_t j)
{
    if ((i * 7 + j) % 101 == 0) return NAN;
    return (double)i * 0.25 - (double)j * 1e-3 + (double)((i * 2654435761u) % 977) * 1e-7;
}

/* The dataset's filters and chunk rows, and its values read with H5Dread. */
static double *read_h5(const char *file, const char *name, int level, hsize_t crows, size_t p,
                       size_t *n_out)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t dcpl = H5Dget_create_plist(d), sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    assert_int_equal(rank, p ? 2 : 1);
    hsize_t dims[2] = {0, 1}, cd[2] = {0, 1};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    assert_int_equal(H5Pget_chunk(dcpl, rank, cd), rank);
    assert_int_equal(cd[0], crows);
    if (p) assert_int_equal(dims[1], p);
    assert_int_equal(H5Pget_nfilters(dcpl), level > 0 ? 1 : 0);
    if (level > 0) {
        unsigned flags = 0, cdv[4] = {0};
        size_t ncd = 4;
        assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &ncd, cdv, 0, NULL, NULL),
                         H5Z_FILTER_DEFLATE);
        assert_int_equal(ncd, 1);
        assert_int_equal(cdv[0], level);
    }
    size_t n = (size_t)dims[0] * (p ? p : 1);
    double *v = malloc((n ? n : 1) * sizeof *v);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    *n_out = (size_t)dims[0];
    return v;
}

static void check_case(int level, size_t threads)
{
    char *file = h5t_tmp_path("sf_h5chunks");
    sf_error err;
    sf_sink_options o;
    sf_sink_options_init(&o);
    o.compression = level;
    o.chunk_rows = 1000;
    o.threads = threads;
    sf_sink *s = NULL;
    assert_int_equal(sf_sink_open(&s, file, &o, &err), SF_OK);
    /* a table: x0, x1 float (with missing), lab category */
    static const char *names[] = {"x0", "x1", "lab"};
    sf_coltype types[] = {SF_COL_FLOAT, SF_COL_FLOAT, SF_COL_CATEGORY};
    sf_dict *dict = NULL;
    assert_int_equal(sf_dict_new(&dict, 0, &err), SF_OK);
    int32_t c0, c1;
    assert_int_equal(sf_dict_intern(dict, "a", 1, &c0, &err), SF_OK);
    assert_int_equal(sf_dict_intern(dict, "bb", 2, &c1, &err), SF_OK);
    sf_dict *dicts[] = {NULL, NULL, dict};
    sf_table *t = NULL;
    assert_int_equal(sf_table_new(&t, 3, types, names, dicts, 20000, &err), SF_OK);
    /* matrix rows: 5 of a stride of 7 */
    double *x = malloc(20000 * 7 * sizeof *x), *yexp = malloc(NR * sizeof *yexp);
    size_t writes[] = {7, 993, 0, 1, 19999, 20000, 7};
    size_t row = 0;
    for (size_t w = 0; w < sizeof writes / sizeof *writes; w++) {
        size_t n = writes[w];
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < 2; j++) {
                double v = val(row + i, j);
                t->cols[j].missing[i] = isnan(v);
                t->cols[j].values[i] = isnan(v) ? 12345.0 : v; /* a missing value's slot */
            }
            t->cols[2].codes[i] = (row + i) % 3 == 0 ? -1 : ((row + i) % 3 == 1 ? c0 : c1);
            t->cols[2].missing[i] = (row + i) % 3 == 0;
            for (size_t j = 0; j < 7; j++) x[i * 7 + j] = j < 5 ? val(row + i, j + 2) : -1.0;
        }
        for (size_t i = 0; i < n; i++) yexp[row + i] = x[i]; /* y: the first n of x */
        t->n_rows = n;
        assert_int_equal(sf_sink_write_table(s, t, &err), SF_OK);
        assert_int_equal(sf_sink_write_matrix(s, "M", x, n, 5, 7, NULL, &err), SF_OK);
        assert_int_equal(sf_sink_write_matrix(s, "y", x, n, 0, 0, NULL, &err), SF_OK);
        if (w == 3) {
            /* a code with no label: refused before anything is written */
            t->n_rows = 2;
            t->cols[2].codes[1] = 99;
            t->cols[2].missing[1] = 0;
            assert_int_equal(sf_sink_write_table(s, t, &err), SF_ERR_ARG);
            assert_non_null(strstr(err.message, "category code 99 has no label"));
        }
        row += n;
    }
    assert_int_equal(row, NR);
    assert_int_equal(sf_sink_close(s, &err), SF_OK);

    size_t n;
    double *v;
    for (size_t j = 0; j < 2; j++) {
        v = read_h5(file, names[j], level, 1000, 0, &n);
        assert_int_equal(n, NR);
        for (size_t i = 0; i < NR; i++) assert_double_bits(v[i], isnan(val(i, j)) ? NAN : val(i, j));
        free(v);
    }
    v = read_h5(file, "M", level, 1000, 5, &n);
    assert_int_equal(n, NR);
    for (size_t i = 0; i < NR; i++)
        for (size_t j = 0; j < 5; j++) assert_double_bits(v[i * 5 + j], val(i, j + 2));
    free(v);
    v = read_h5(file, "y", level, 1000, 0, &n);
    assert_int_equal(n, NR);
    for (size_t i = 0; i < NR; i++) assert_double_bits(v[i], yexp[i]);
    free(v);

    /* and through our source (direct chunk reads when they apply) */
    char spec[200];
    snprintf(spec, sizeof spec, "%s:/M", file);
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 777;
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, spec, &so, &err), SF_OK);
    const sf_table *ct;
    sf_status st;
    size_t got = 0;
    while ((st = sf_source_next(src, &ct, &err)) == SF_OK) {
        for (size_t i = 0; i < ct->n_rows; i++)
            for (size_t j = 0; j < 5; j++) {
                double e = val(got + i, j + 2);
                if (isnan(e)) assert_true(ct->cols[j].missing[i]);
                else assert_double_bits(ct->cols[j].values[i], e);
            }
        got += ct->n_rows;
    }
    assert_int_equal(st, SF_END);
    assert_int_equal(got, NR);
    sf_source_close(src);
    sf_table_free(t);
    sf_dict_free(dict);
    free(x);
    free(yexp);
    unlink(file);
    free(file);
}

static void test_levels_and_threads(void **state)
{
    (void)state;
    check_case(1, 1);
    check_case(1, 3);
    check_case(0, 2);
    check_case(9, 0);
}

/* Chunks of 64 KiB or more start at multiples of 4096 in the file (io/hdf5_sink.c
 * sets the file's alignment: the kernel's copy into the page cache is faster with
 * the chunk buffer and the file offset aligned alike): a 12-column matrix of
 * 16384-row chunks (1.5 MiB) and its 1-D response (128 KiB chunks), uncompressed
 * and at level 1 (a deflated chunk under 64 KiB may lie anywhere), every chunk's
 * address checked and every value read back. */
static void test_chunks_aligned(void **state)
{
    (void)state;
    enum { P = 12, ROWS = 50000 };
    double *x = malloc((size_t)ROWS * P * sizeof *x);
    for (size_t i = 0; i < (size_t)ROWS * P; i++) x[i] = val(i / P, i % P);
    for (int level = 0; level <= 1; level++) {
        char *file = h5t_tmp_path("sf_h5chunks");
        sf_error err;
        sf_sink_options o;
        sf_sink_options_init(&o);
        o.compression = level;
        o.threads = 2;
        sf_sink *s = NULL;
        assert_int_equal(sf_sink_open(&s, file, &o, &err), SF_OK);
        for (size_t r = 0; r < ROWS; r += 7000) {
            size_t n = ROWS - r < 7000 ? ROWS - r : 7000;
            assert_int_equal(sf_sink_write_matrix(s, "X", x + r * P, n, P, P, NULL, &err), SF_OK);
            assert_int_equal(sf_sink_write_matrix(s, "y", x + r * P, n, 0, P, NULL, &err), SF_OK);
        }
        assert_int_equal(sf_sink_close(s, &err), SF_OK);
        hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        static const char *names[] = {"X", "y"};
        for (size_t k = 0; k < 2; k++) {
            hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT);
            assert_true(d >= 0);
            hid_t sp = H5Dget_space(d);
            hsize_t n_chunks = 0;
            assert_true(H5Dget_num_chunks(d, sp, &n_chunks) >= 0);
            assert_int_equal(n_chunks, (ROWS + 16383) / 16384);
            for (hsize_t c = 0; c < n_chunks; c++) {
                haddr_t addr = HADDR_UNDEF;
                hsize_t size = 0;
                assert_true(H5Dget_chunk_info(d, sp, c, NULL, NULL, &addr, &size) >= 0);
                if (level == 0) assert_int_equal(size, k ? 16384 * 8 : 16384 * 8 * P);
                if (size >= 65536) assert_int_equal(addr % 4096, 0); /* deflated: may be less */
            }
            H5Sclose(sp);
            H5Dclose(d);
        }
        H5Fclose(f);
        size_t n = 0;
        double *v = read_h5(file, "X", level, 16384, P, &n);
        assert_int_equal(n, ROWS);
        for (size_t i = 0; i < (size_t)ROWS * P; i++) assert_double_bits(v[i], x[i]);
        free(v);
        v = read_h5(file, "y", level, 16384, 0, &n);
        assert_int_equal(n, ROWS);
        /* a 1-D write takes n consecutive values: those after each write's start */
        for (size_t i = 0; i < ROWS; i++) assert_double_bits(v[i], x[(i - i % 7000) * P + i % 7000]);
        free(v);
        unlink(file);
        free(file);
    }
    free(x);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_threads),
        cmocka_unit_test(test_chunks_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
