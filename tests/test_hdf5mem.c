/* test_hdf5mem.c — memory stays bounded whatever the file size (Decision 11) on the
 * two HDF5 paths whose heap grew with the rows: the HDF5 source read segment by
 * segment as a fit reads it (the parent source open throughout, so every segment
 * shares one HDF5 file and its metadata cache), and the fit's --cache file
 * (pipeline/cache.c) written and read back segment by segment.
 *
 * Each case runs on a file of N rows and on one of 2N rows, everything else equal
 * (columns, chunk shape, rows a segment, chunk_rows), and samples the heap in use
 * after every chunk: glibc's mallinfo2() (uordblks + hblkhd), or the sanitizer
 * allocator's count under ASan. What is compared: the peak above the heap in use
 * before the source (or cache) was opened; HDF5's free lists are emptied
 * (H5garbage_collect) before each baseline. The 2N peak must be within 512 KiB of
 * the N peak. Before io/hdf5_mdc.c, HDF5's metadata cache kept every chunk-index
 * node (17.7 KB decoded, 64 chunks each) it had read while the file was open: 1-D
 * column datasets of 64-row chunks grew by ~4 MB from N to 2N here, and the cache
 * file (one group of datasets a segment, all of them open from the start) by more.
 * The values read back are checked too, so a bounded but wrong reader fails.
 */
#include "sf_test.h"

#include <hdf5.h>
#include <malloc.h>
#include <unistd.h>

#include "pipeline/cache.h"
#include "streamfit/sf_source.h"

#if defined(__SANITIZE_ADDRESS__)
/* libasan's (declared here: GCC ships no sanitizer/allocator_interface.h) */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_now(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static size_t heap_now(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

#define NCOL 21            /* x0..x19 and y, as bench/data/cls*.raw.h5 */
#define CROWS 64           /* rows a chunk: many chunks in a small file */
#define SEG_ROWS 4096      /* rows a segment */
#define TOLERANCE ((size_t)512 << 10)

static double val(size_t i, size_t j) { return (double)i * 0.5 + (double)j * 1e-3; }

static void col_name(char *buf, size_t n, size_t j)
{
    if (j + 1 < NCOL) snprintf(buf, n, "x%zu", j);
    else snprintf(buf, n, "y");
}

static char *tmp_name(const char *stem)
{
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/sf_%sXXXXXX", stem);
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    close(fd);
    return p;
}

/* A file of n rows: NCOL 1-D float64 datasets in CROWS-row chunks, unfiltered. */
static void write_columns(const char *file, size_t n)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dims[1] = {n}, chunk[1] = {CROWS};
    hid_t sp = H5Screate_simple(1, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(pl, 1, chunk) >= 0);
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t j = 0; j < NCOL; j++) {
        char name[8];
        col_name(name, sizeof name, j);
        for (size_t i = 0; i < n; i++) v[i] = val(i, j);
        hid_t d = H5Dcreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        assert_true(d >= 0);
        assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d);
    }
    free(v);
    H5Pclose(pl);
    H5Sclose(sp);
    assert_true(H5Fclose(f) >= 0);
}

/* Peak heap above the baseline while reading file (n rows) through its segments,
 * one after the other, with the parent source open: as a fit's pass reads it. */
static size_t source_peak(const char *file, size_t n)
{
    H5garbage_collect();
    size_t base = heap_now(), peak = base;
    char spec[128];
    snprintf(spec, sizeof spec, "%s:/", file);
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 1000;
    o.segment_rows = SEG_ROWS;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, spec, &o, &err), SF_OK);
    assert_int_equal(sf_source_n_columns(src), NCOL);
    size_t at[NCOL]; /* the source's column of dataset j (it orders them by name) */
    for (size_t j = 0; j < NCOL; j++) {
        char name[8];
        col_name(name, sizeof name, j);
        long k = sf_source_column_index(src, name);
        assert_true(k >= 0);
        at[j] = (size_t)k;
    }
    size_t n_seg = 0, rows = 0;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    assert_true(n_seg >= n / (2 * SEG_ROWS));
    for (size_t s = 0; s < n_seg; s++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, s, &seg, &err), SF_OK);
        const sf_table *t;
        sf_status st;
        while ((st = sf_source_next(seg, &t, &err)) == SF_OK) {
            for (size_t i = 0; i < t->n_rows; i++)
                for (size_t j = 0; j < NCOL; j += 5)
                    assert_double_bits(t->cols[at[j]].values[i], val(rows + i, j));
            rows += t->n_rows;
            size_t h = heap_now();
            if (h > peak) peak = h;
        }
        assert_int_equal(st, SF_END);
        sf_source_close(seg);
    }
    assert_int_equal(rows, n);
    sf_source_close(src);
    return peak - base;
}

static void source_bounded(size_t chunks)
{
    char *small = tmp_name("mem1"), *large = tmp_name("mem2");
    size_t n = chunks * CROWS;
    write_columns(small, n);
    write_columns(large, 2 * n);
    size_t p1 = source_peak(small, n), p2 = source_peak(large, 2 * n);
    print_message("HDF5 source, %zu vs %zu chunks a column: peak heap %.0f vs %.0f KiB\n", chunks,
                  2 * chunks, p1 / 1024.0, p2 / 1024.0);
    assert_true(p2 < p1 + TOLERANCE);
    unlink(small);
    unlink(large);
    free(small);
    free(large);
}

/* 300 -> 600 chunks a column: chunk addresses looked up by coordinate (<= 512) and by
 * H5Dread_chunk (> 512) */
static void test_source_lookup(void **state)
{
    (void)state;
    source_bounded(300);
}

static void test_source_many_chunks(void **state)
{
    (void)state;
    source_bounded(640);
}

/* Peak heap above the baseline while a cache of n_seg segments of SEG_ROWS rows of
 * 20 columns and y is written segment by segment, then read back the same way. */
static size_t cache_peak(const char *path, size_t n_seg)
{
    const size_t p = NCOL - 1, cap = 1000;
    sf_error err;
    sf_block *b = NULL;
    assert_int_equal(sf_block_new(&b, cap, p, true, false, &err), SF_OK);
    H5garbage_collect();
    size_t base = heap_now(), peak = base;
    sfi_cache *c = NULL;
    assert_int_equal(sfi_cache_create(&c, path, n_seg, p, true, false, cap, &err), SF_OK);
    for (size_t s = 0; s < n_seg; s++) {
        for (size_t r0 = 0; r0 < SEG_ROWS; r0 += cap) {
            b->n_rows = SEG_ROWS - r0 < cap ? SEG_ROWS - r0 : cap;
            for (size_t i = 0; i < b->n_rows; i++) {
                for (size_t j = 0; j < p; j++) b->x[i * b->ld + j] = val(s * SEG_ROWS + r0 + i, j);
                b->y[i] = val(s * SEG_ROWS + r0 + i, p);
            }
            assert_int_equal(sfi_cache_append(c, s, b, &err), SF_OK);
            size_t h = heap_now();
            if (h > peak) peak = h;
        }
        sfi_cache_segment_done(c, s);
    }
    assert_int_equal(sfi_cache_finish(c, &err), SF_OK);
    for (size_t s = 0; s < n_seg; s++) {
        uint64_t at = 0, row = s * SEG_ROWS;
        while (sfi_cache_read(c, s, &at, b, &err) == SF_OK && b->n_rows) {
            for (size_t i = 0; i < b->n_rows; i += 7) {
                assert_double_bits(b->x[i * b->ld + i % p], val(row + i, i % p));
                assert_double_bits(b->y[i], val(row + i, p));
            }
            row += b->n_rows;
            size_t h = heap_now();
            if (h > peak) peak = h;
        }
        assert_int_equal(at, SEG_ROWS);
        sfi_cache_segment_done(c, s);
    }
    sfi_cache_close(c);
    sf_block_free(b);
    return peak - base;
}

static void test_cache_bounded(void **state)
{
    (void)state;
    char *path = tmp_name("memc");
    const size_t n_seg = 40;
    size_t p1 = cache_peak(path, n_seg), p2 = cache_peak(path, 2 * n_seg);
    print_message("cache, %zu vs %zu segments: peak heap %.0f vs %.0f KiB\n", n_seg, 2 * n_seg,
                  p1 / 1024.0, p2 / 1024.0);
    assert_true(p2 < p1 + TOLERANCE);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_lookup),
        cmocka_unit_test(test_source_many_chunks),
        cmocka_unit_test(test_cache_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
