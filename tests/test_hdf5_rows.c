/* test_hdf5_rows.c — the HDF5 source's next_rows op (io/hdf5_source.c): chunks of
 * 1-D column datasets (pandas / h5py style: one float64 dataset a column) read
 * straight into block rows, from mapped chunks or by pread.
 *
 * The files are written here with libhdf5 (H5Dwrite): NR rows in chunks of CR (an
 * odd size, so table chunks straddle file chunks and the last file chunk is
 * partial), the chunks of all columns interleaved chunk row by chunk row (as the
 * benchmark files are) or each column's chunks together. Every value is a closed
 * formula of row and column (val), compared bit for bit (assert_double_bits) with
 * what the op writes: the features in the plan's order (a subset, out of file
 * order), target and weight. Also: a column with NaN (those chunks come back as the
 * usual table with the NaN rows marked missing, the others as rows; every row
 * once, in order), an int32 column (read by pread and converted), the mapping off
 * (SF_HDF5_MMAP=0) and many segments, a file cut short while read (the same
 * values as the table path, no fault), and fits: a scaler and k-means fitted
 * through the pipeline equal bit for bit (JSON export) the fits with the direct
 * chunk path off (SF_HDF5_DIRECT=0, H5Dread), for 1 and 2 threads. */
#include "sf_test.h"

#include <hdf5.h>
#include <unistd.h>

#include "io/source_impl.h"
#include "streamfit/streamfit.h"
#include "h5_test_util.h"

SFI_FUNC uint64_t sfi_hdf5_direct_chunks(const sf_source *src);
SFI_FUNC uint64_t sfi_hdf5_direct_preads(const sf_source *src);
SFI_FUNC size_t sfi_part_rows(size_t chunk_rows, size_t p);

#define NR 5003 /* rows */
#define CR 777  /* rows a file chunk: 6 whole chunks and a partial one */
#define NC 6    /* float columns c0..c5; then y, w and (with_int) an int32 column k */

static double val(size_t i, size_t j)
{
    return (double)i * 0.5 - (double)j * 1.25 + (double)((i * 2654435761u + j) % 1009) * 1e-3;
}

static bool is_nan_row(size_t i) { return i % 1500 == 17 || i == 3100; }

/* Columns c0..c{NC-1}, y (= val(i, 10)), w (= 1 + i % 3), and with_int an int32
 * column k (= i % 50 - 7); with_nan, c3 is NaN on is_nan_row rows.
 * interleave: chunk row by chunk row across the columns. */
static char *make_file(bool interleave, bool with_nan, bool with_int)
{
    char *path = h5t_tmp_path("sf_h5rows");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *names[NC + 3] = {"c0", "c1", "c2", "c3", "c4", "c5", "y", "w", "k"};
    size_t n_ds = NC + 2 + with_int;
    hid_t ds[NC + 3];
    hsize_t dims[1] = {NR}, cdims[1] = {CR};
    hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, 1, cdims) >= 0);
    assert_true(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR) >= 0);
    for (size_t j = 0; j < n_ds; j++) {
        hid_t t = j == NC + 2 ? H5T_STD_I32LE : H5T_IEEE_F64LE;
        ds[j] = H5Dcreate2(f, names[j], t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds[j] >= 0);
    }
    double *v = malloc(NR * sizeof *v);
    int32_t *k = malloc(NR * sizeof *k);
    size_t n_runs = interleave ? (NR + CR - 1) / CR : 1;
    for (size_t run = 0; run < n_runs; run++) {
        hsize_t start[1] = {run * CR}, count[1] = {interleave ? (NR - run * CR < CR ? NR - run * CR : CR) : NR};
        for (size_t j = 0; j < n_ds; j++) {
            for (size_t i = start[0]; i < start[0] + count[0]; i++) {
                size_t r = i - start[0];
                if (j < NC) v[r] = with_nan && j == 3 && is_nan_row(i) ? NAN : val(i, j);
                else if (j == NC) v[r] = val(i, 10);
                else if (j == NC + 1) v[r] = 1.0 + (double)(i % 3);
                else k[r] = (int32_t)(i % 50) - 7;
            }
            hid_t fs = H5Dget_space(ds[j]), ms = H5Screate_simple(1, count, NULL);
            assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
            if (j == NC + 2) assert_true(H5Dwrite(ds[j], H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, k) >= 0);
            else assert_true(H5Dwrite(ds[j], H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v) >= 0);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    }
    free(v);
    free(k);
    for (size_t j = 0; j < n_ds; j++) H5Dclose(ds[j]);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    return path;
}

static sf_source *open_src(const char *path, size_t chunk_rows, uint64_t segment_rows)
{
    sf_source *src = h5t_open(path, chunk_rows, segment_rows);
    assert_non_null(src->ops->next_rows);
    return src;
}

/* The value of source column `name` at row i as the file holds it. */
static double expect(const char *name, size_t i, bool with_nan)
{
    if (name[0] == 'c') {
        size_t j = (size_t)(name[1] - '0');
        return with_nan && j == 3 && is_nan_row(i) ? NAN : val(i, j);
    }
    if (name[0] == 'y') return val(i, 10);
    if (name[0] == 'w') return 1.0 + (double)(i % 3);
    return (double)((int)(i % 50) - 7);
}

/* Reads every segment of path with next_rows (features `feat`, target y, weight
 * w) and checks every row; returns the chunks that came back as tables. */
static size_t check_rows(const char *path, size_t chunk_rows, uint64_t segment_rows, const char *const *feat,
                         size_t p, bool with_nan, bool expect_mapped)
{
    sf_source *src = open_src(path, chunk_rows, segment_rows);
    size_t cols[8];
    for (size_t j = 0; j < p; j++) cols[j] = h5t_col_of(src, feat[j]);
    sfi_rows_want want = {.cols = cols, .p = p, .target = (long)h5t_col_of(src, "y"), .weight = (long)h5t_col_of(src, "w")};
    size_t n_seg = 0, tables = 0, row = 0;
    sf_error err;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    sf_block *b = NULL;
    assert_int_equal(sf_block_new(&b, chunk_rows, p, true, true, &err), SF_OK);
    for (size_t s = 0; s < n_seg; s++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, s, &seg, &err), SF_OK);
        const sf_table *t = NULL;
        sf_status st;
        size_t seg_first = row;
        while ((st = seg->ops->next_rows(seg, &want, b, &t, &err)) == SF_OK) {
            if (t) {
                tables++;
                assert_int_equal(t->first_row, row - seg_first + 1);
                for (size_t i = 0; i < t->n_rows; i++)
                    for (size_t c = 0; c < seg->n_cols; c++) {
                        double e = expect(seg->names[c], row + i, with_nan);
                        assert_int_equal(t->cols[c].missing[i], isnan(e));
                        assert_double_bits(t->cols[c].values[i], e);
                    }
                row += t->n_rows;
                continue;
            }
            assert_int_equal(b->first_row, row - seg_first + 1);
            assert_true(b->n_rows > 0 && b->n_rows <= chunk_rows);
            for (size_t i = 0; i < b->n_rows; i++) {
                for (size_t j = 0; j < p; j++) assert_double_bits(b->x[i * b->ld + j], expect(feat[j], row + i, with_nan));
                assert_double_bits(b->y[i], val(row + i, 10));
                assert_double_bits(b->w[i], 1.0 + (double)((row + i) % 3));
            }
            row += b->n_rows;
        }
        assert_int_equal(st, SF_END);
        if (expect_mapped) assert_int_equal(sfi_hdf5_direct_preads(seg), 0);
        assert_true(sfi_hdf5_direct_chunks(seg) > 0);
        sf_source_close(seg);
    }
    assert_int_equal(row, NR);
    sf_block_free(b);
    sf_source_close(src);
    return tables;
}

static void test_rows_plain(void **state)
{
    (void)state;
    const char *feat[] = {"c4", "c0", "c1", "c5", "c2"}; /* a subset, out of order: 4 + 1 columns */
    for (int il = 0; il < 2; il++) {
        char *path = make_file(il, false, false);
        size_t sizes[] = {1000, 333, CR, NR, 64};
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            assert_int_equal(check_rows(path, sizes[s], 0, feat, 5, false, true), 0);
            assert_int_equal(check_rows(path, sizes[s], 2000, feat, 3, false, true), 0);
        }
        /* the mapping off: pread, the same rows */
        setenv("SF_HDF5_MMAP", "0", 1);
        assert_int_equal(check_rows(path, 1000, 1500, feat, 5, false, false), 0);
        setenv("SF_HDF5_MMAP", "1", 1);
        unlink(path);
        free(path);
    }
}

static void test_rows_nan(void **state)
{
    (void)state;
    const char *feat[] = {"c0", "c1", "c2", "c3", "c4", "c5"};
    char *path = make_file(true, true, false);
    /* NaN rows 17, 1517, 3017, 3100, 4517: the chunks holding them are tables */
    assert_int_equal(check_rows(path, 1000, 0, feat, 6, true, false), 4);
    assert_int_equal(check_rows(path, 1000, 2000, feat, 6, true, false), 4);
    setenv("SF_HDF5_MMAP", "0", 1);
    assert_int_equal(check_rows(path, 1000, 0, feat, 6, true, false), 4);
    setenv("SF_HDF5_MMAP", "1", 1);
    /* without the NaN column: no table at all */
    const char *clean[] = {"c0", "c5"};
    assert_int_equal(check_rows(path, 700, 0, clean, 2, true, true), 0);
    unlink(path);
    free(path);
}

static void test_rows_int_column(void **state)
{
    (void)state;
    const char *feat[] = {"c1", "k", "c2"};
    char *path = make_file(false, false, true);
    assert_int_equal(check_rows(path, 1000, 0, feat, 3, false, false), 0);
    unlink(path);
    free(path);
}

/* One reader asked for other columns with the same want (same address, p, target
 * and weight; only cols changed, as a second fit of the source on other columns
 * asks): the rows are the new columns', not those of the chunk row still mapped. */
static void test_rows_want_changed(void **state)
{
    (void)state;
    char *path = make_file(true, false, false);
    sf_source *src = open_src(path, 700, 0); /* 700 < CR: both reads in chunk row 0 */
    size_t cols[2] = {h5t_col_of(src, "c0"), h5t_col_of(src, "c1")};
    sfi_rows_want want = {.cols = cols, .p = 2, .target = (long)h5t_col_of(src, "y"), .weight = (long)h5t_col_of(src, "w")};
    sf_block *b = NULL;
    sf_error err;
    assert_int_equal(sf_block_new(&b, 700, 2, true, true, &err), SF_OK);
    const char *names[2][2] = {{"c0", "c1"}, {"c2", "c3"}};
    for (int round = 0; round < 2; round++) {
        if (round) {
            assert_int_equal(sf_source_rewind(src, &err), SF_OK);
            cols[0] = h5t_col_of(src, "c2");
            cols[1] = h5t_col_of(src, "c3");
        }
        const sf_table *t = NULL;
        assert_int_equal(src->ops->next_rows(src, &want, b, &t, &err), SF_OK);
        assert_null(t);
        assert_int_equal(b->n_rows, 700);
        for (size_t i = 0; i < b->n_rows; i++)
            for (size_t j = 0; j < 2; j++) assert_double_bits(b->x[i * b->ld + j], expect(names[round][j], i, false));
    }
    assert_int_equal(sfi_hdf5_direct_preads(src), 0); /* both from the mapping */
    sf_block_free(b);
    sf_source_close(src);
    unlink(path);
    free(path);
}

/* A segment shares its source's HDF5 ids: it reads on after the source is closed. */
static void test_segment_outlives_source(void **state)
{
    (void)state;
    char *path = make_file(false, false, false);
    sf_source *src = open_src(path, 500, 2000);
    sf_source *seg = NULL;
    sf_error err;
    assert_int_equal(sf_source_open_segment(src, 1, &seg, &err), SF_OK);
    sf_source_close(src);
    size_t c2 = h5t_col_of(seg, "c2"), row = 2000;
    const sf_table *t = NULL;
    sf_status st;
    while ((st = sf_source_next(seg, &t, &err)) == SF_OK) {
        for (size_t i = 0; i < t->n_rows; i++) assert_double_bits(t->cols[c2].values[i], val(row + i, 2));
        row += t->n_rows;
    }
    assert_int_equal(st, SF_END);
    assert_int_equal(row, 4000);
    sf_source_close(seg);
    unlink(path);
    free(path);
}

/* A file cut short while it is read (HDF5 refuses to open one): HDF5's sec2
 * driver reads the missing bytes as zeros, and next_rows gives the same values
 * as the table path (never a fault on a mapped page past the end). */
static void test_rows_truncated(void **state)
{
    (void)state;
    const size_t w = NC + 2;
    double *got[2];
    for (int rows = 0; rows < 2; rows++) {
        char *path = make_file(true, false, false);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        fclose(fp);
        sf_source *src = open_src(path, 1000, 0);
        assert_int_equal(truncate(path, size / 2), 0);
        const char *names[NC + 2] = {"c0", "c1", "c2", "c3", "c4", "c5", "y", "w"};
        size_t cols[NC + 2];
        for (size_t j = 0; j < w; j++) cols[j] = h5t_col_of(src, names[j]);
        sfi_rows_want want = {.cols = cols, .p = NC, .target = (long)cols[NC], .weight = (long)cols[NC + 1]};
        sf_block *b = NULL;
        sf_error err;
        assert_int_equal(sf_block_new(&b, 1000, NC, true, true, &err), SF_OK);
        got[rows] = calloc(NR * w, sizeof *got[rows]);
        const sf_table *t = NULL;
        sf_status st;
        size_t row = 0;
        while ((st = rows ? src->ops->next_rows(src, &want, b, &t, &err) : sf_source_next(src, &t, &err)) == SF_OK) {
            size_t n = t ? t->n_rows : b->n_rows;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < w; j++)
                    got[rows][(row + i) * w + j] = t ? t->cols[cols[j]].values[i]
                                                     : j < NC ? b->x[i * b->ld + j] : j == NC ? b->y[i] : b->w[i];
            row += n;
        }
        assert_int_equal(st, SF_END);
        assert_int_equal(row, NR);
        sf_block_free(b);
        sf_source_close(src);
        unlink(path);
        free(path);
    }
    for (size_t i = 0; i < NR * w; i++) assert_double_bits(got[1][i], got[0][i]);
    size_t intact = 0; /* values as written: some, not all */
    for (size_t i = 0; i < NR; i++)
        for (size_t j = 0; j < NC; j++) intact += memcmp(&got[1][i * w + j], &(double){val(i, j)}, sizeof(double)) == 0;
    assert_true(intact > 0 && intact < NR * NC);
    free(got[0]);
    free(got[1]);
}

static char *fit_json(const char *path, const char *spec, const char *columns, size_t threads, bool direct)
{
    return h5t_fit_json(path, spec, columns, threads, direct, 600, 1554);
}

static void test_fits_equal(void **state)
{
    (void)state;
    for (int nan = 0; nan < 2; nan++) {
        char *path = make_file(true, nan, false);
        const char *specs[] = {"scaler", "minibatch_kmeans(n_clusters=3, random_state=0, batch_size=500)",
                               "scaler | sgd_regressor(random_state=0, max_iter=2)"};
        for (size_t s = 0; s < 3; s++) {
            char *ref = fit_json(path, specs[s], "c0,c1,c2,c3,c4,c5", 1, false);
            for (size_t threads = 1; threads <= 2; threads++) {
                char *got = fit_json(path, specs[s], "c0,c1,c2,c3,c4,c5", threads, true);
                assert_string_equal(got, ref);
                free(got);
            }
            free(ref);
        }
        unlink(path);
        free(path);
    }
}

/* Merged passes hand the scaler and least squares their chunks in parts
 * (pipeline/fit.c, sfi_part_rows): parts divide chunk_rows, hold at most 1 MiB of
 * features and at least 512 rows, or there are none. */
static void test_part_rows(void **state)
{
    (void)state;
    assert_int_equal(sfi_part_rows(50000, 20), 6250); /* 8 MB in 8 parts of 1 MB */
    assert_int_equal(sfi_part_rows(16384, 20), 4096);
    assert_int_equal(sfi_part_rows(600, 6), 0);       /* small enough whole */
    assert_int_equal(sfi_part_rows(50021, 20), 0);    /* prime: no part divides it */
    for (size_t rows = 1000; rows < 200000; rows += 997)
        for (size_t p = 1; p < 40; p += 7) {
            size_t k = sfi_part_rows(rows, p);
            if (!k) continue;
            assert_int_equal(rows % k, 0);
            assert_true(k >= 512 && k < rows && k * p * sizeof(double) <= (1u << 20));
        }
}

/* With chunks big enough to be cut in parts (30,000 rows x 6 features: 2 parts),
 * the rows path (mapped chunk rows, parts read straight into the block) and the
 * table path (SF_HDF5_DIRECT=0: whole tables cut into parts after) give the same
 * fits, for 1, 2 and 3 threads, with and without NaN rows (dropped). */
static void test_parts_equal(void **state)
{
    (void)state;
    assert_int_equal(sfi_part_rows(30000, 6), 15000);
    char *path = h5t_tmp_path("sf_h5rows");
    enum { ROWS = 95000 };
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *names[NC + 1] = {"c0", "c1", "c2", "c3", "c4", "c5", "y"};
    hsize_t dims[1] = {ROWS}, cdims[1] = {CR};
    hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, 1, cdims) >= 0);
    double *v = malloc(ROWS * sizeof *v);
    for (size_t j = 0; j <= NC; j++) {
        for (size_t i = 0; i < ROWS; i++) v[i] = j == 2 && i % 20011 == 5 ? NAN : val(i, j < NC ? j : 10);
        hid_t ds = H5Dcreate2(f, names[j], H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(ds);
    }
    free(v);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    const char *specs[] = {"scaler", "linear_regression", "scaler | linear_regression"};
    for (size_t s = 0; s < 3; s++) {
        char *ref = h5t_fit_json(path, specs[s], "c0,c1,c2,c3,c4,c5", 1, false, 30000, 40000);
        for (size_t threads = 1; threads <= 3; threads++) {
            char *got = h5t_fit_json(path, specs[s], "c0,c1,c2,c3,c4,c5", threads, true, 30000, 40000);
            assert_string_equal(got, ref);
            free(got);
        }
        free(ref);
    }
    unlink(path);
    free(path);
}

int main(void)
{
    setenv("SF_HDF5_MMAP", "1", 1); /* the mapped path unless a test turns it off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_plain),
        cmocka_unit_test(test_rows_nan),
        cmocka_unit_test(test_rows_int_column),
        cmocka_unit_test(test_rows_truncated),
        cmocka_unit_test(test_rows_want_changed),
        cmocka_unit_test(test_segment_outlives_source),
        cmocka_unit_test(test_fits_equal),
        cmocka_unit_test(test_part_rows),
        cmocka_unit_test(test_parts_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
