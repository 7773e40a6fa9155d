/* test_model_corrupt.c — model files whose raw chunks were overwritten are refused
 * before libhdf5 reads them (what tests/fuzz/fuzz_model.c found: libhdf5's
 * fletcher32 filter reads the checksum from the last 4 bytes of a chunk even when
 * the stored chunk is shorter, and copies a chunk stored with its filters skipped
 * at whatever size it has — heap overflows under ASan).
 *
 * A saved "scaler" model has one of its fitted datasets' chunk replaced through
 * H5Dwrite_chunk (the file stays structurally valid HDF5): a 1-byte chunk, a chunk
 * of the right size with filters marked skipped, a chunk of the right size with a
 * wrong checksum, a chunk one byte short. Each load must fail with SF_ERR_PARSE
 * and the exact message, *out NULL; the untouched model must still load. Also the
 * fuzzer's other seeds as plain cases: a chunked string "columns" dataset.
 */
#include "sf_test.h"

#include <hdf5.h>
#include <unistd.h>

static char model[64];

static void save_model(void)
{
    double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};
    sf_source *src = NULL;
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&src, x, 4, 3, 3, NULL, NULL, NULL, NULL, &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&pl, "scaler", &err), SF_OK);
    assert_int_equal(sf_pipeline_fit(pl, src, NULL, &err), SF_OK);
    snprintf(model, sizeof model, "/tmp/sf_corrupt_XXXXXX");
    int fd = mkstemp(model);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sf_pipeline_save(pl, model, &err), SF_OK);
    sf_pipeline_free(pl);
    sf_source_close(src);
}

static void expect_refused(const char *msg)
{
    sf_pipeline *pl = (sf_pipeline *)1;
    sf_error err;
    assert_int_equal(sf_pipeline_load(&pl, model, &err), SF_ERR_PARSE);
    assert_null(pl);
    if (strcmp(err.message, msg) != 0) print_error("got \"%s\"\n", err.message);
    assert_string_equal(err.message, msg);
}

/* Overwrites the one chunk of stage_0/<name> with n raw bytes and filter mask. */
static void write_chunk(const char *name, const void *raw, size_t n, uint32_t mask)
{
    save_model();
    hid_t f = H5Fopen(model, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gopen2(f, "stage_0", H5P_DEFAULT);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hsize_t off[1] = {0};
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, mask, off, n, raw) >= 0);
    H5Dclose(d);
    H5Gclose(g);
    assert_true(H5Fclose(f) >= 0);
}

static void test_bad_chunks_refused(void **state)
{
    (void)state;
    unsigned char raw[3 * 8 + 4];
    memset(raw, 0x41, sizeof raw);
    write_chunk("m2", raw, 1, 0);
    expect_refused("corrupt chunks in dataset \"m2\"");
    unlink(model);
    write_chunk("shift", raw, 3 * 8, 1); /* fletcher32 marked as skipped */
    expect_refused("corrupt chunks in dataset \"shift\"");
    unlink(model);
    write_chunk("m2", raw, sizeof raw - 1, 0);
    expect_refused("corrupt chunks in dataset \"m2\"");
    unlink(model);
    /* the right size, a wrong checksum: libhdf5's own check refuses it */
    write_chunk("n_samples_seen_", raw, sizeof raw, 0);
    expect_refused("cannot read dataset (corrupt or checksum mismatch) \"n_samples_seen_\"");
    unlink(model);
}

static void test_chunked_columns_refused(void **state)
{
    (void)state;
    save_model();
    hid_t f = H5Fopen(model, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Ldelete(f, "columns", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hsize_t n = 3;
    hid_t s = H5Screate_simple(1, &n, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, &n);
    hid_t d = H5Dcreate2(f, "columns", t, s, H5P_DEFAULT, pl, H5P_DEFAULT);
    const char *names[3] = {"x0", "x1", "x2"};
    assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(s);
    H5Tclose(t);
    assert_true(H5Fclose(f) >= 0);
    expect_refused("chunked string dataset \"columns\"");
    unlink(model);
    /* and the model as saved loads */
    save_model();
    sf_pipeline *ok = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_load(&ok, model, &err), SF_OK);
    assert_int_equal(sf_pipeline_n_features(ok), 3);
    sf_pipeline_free(ok);
    unlink(model);
}

/* Row counts that cannot be (negative, more dropped than seen) are refused. */
static void test_bad_row_counts_refused(void **state)
{
    (void)state;
    const char *names[2] = {"rows_seen", "rows_dropped"};
    const int64_t values[2] = {-1, 99};
    for (int k = 0; k < 2; k++) {
        save_model();
        hid_t f = H5Fopen(model, H5F_ACC_RDWR, H5P_DEFAULT);
        assert_true(f >= 0);
        hid_t a = H5Aopen(f, names[k], H5P_DEFAULT);
        assert_true(a >= 0);
        assert_true(H5Awrite(a, H5T_NATIVE_INT64, &values[k]) >= 0);
        H5Aclose(a);
        H5Fclose(f);
        expect_refused("not a streamfit model: bad rows_seen / rows_dropped");
        unlink(model);
    }
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    sf_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_chunks_refused),
        cmocka_unit_test(test_chunked_columns_refused),
        cmocka_unit_test(test_bad_row_counts_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
