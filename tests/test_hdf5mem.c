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
 *
 * The HDF5 sink (io/hdf5_sink.c) as `convert --formula` drives it: /X (12 columns)
 * and /y written 320 vs 3,200 chunks a dataset, stored and deflated; the 3,200-chunk
 * peak must be within the same 512 KiB of the 320-chunk one (with the sink on the
 * readers' 128 KiB metadata cache it was ~890 KiB above: the cache filled with
 * chunk-index nodes only on the larger file). And stored chunks whose size is not a
 * multiple of 4 KiB must leave no free-space section a chunk (HDF5 counts them with
 * H5Fget_free_sections; 64 for 64 chunks before).
 */
#include "sf_test.h"

#include <hdf5.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include "io/sink_impl.h"
#include "pipeline/cache.h"
#include "streamfit/sf_sink.h"
#include "streamfit/sf_source.h"

#include "sf_heap.h"

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

/* A fresh temporary file name, ending in ".h5" when h5 (a sink's kind is by its
 * extension). */
static char *tmp_file(const char *stem, bool h5)
{
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/sf_%sXXXXXX%s", stem, h5 ? ".h5" : "");
    int fd = mkstemps(p, h5 ? 3 : 0);
    assert_true(fd >= 0);
    close(fd);
    return p;
}

static char *tmp_name(const char *stem) { return tmp_file(stem, false); }

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

/* Peak heap above the baseline while an HDF5 sink writes n rows of a design as
 * convert --formula does: /X (DESIGN_P columns) and /y appended DESIGN_BLOCK rows
 * at a time in chunks of `crows` rows, deflated at `level`, then closed (the close
 * is in the peak). One chunk in flight at a time (SF_HDF5_SINK_QUEUE_BYTES=1), so
 * the chunk buffers held do not depend on the writer threads' timing. The last
 * row is read back with HDF5 and checked. */
#define DESIGN_P 12
#define DESIGN_BLOCK 4096

/* A value that deflates poorly (so deflated chunks stay large): a hash of (i, j). */
static double noisy(size_t i, size_t j)
{
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15u ^ ((uint64_t)j + 1) * 0xC2B2AE3D27D4EB4Fu;
    h ^= h >> 29;
    return (double)(h >> 11) * 0x1p-53;
}

static size_t sink_peak(const char *path, size_t n, size_t crows, int level)
{
    double *x = malloc(DESIGN_BLOCK * DESIGN_P * sizeof *x), *y = malloc(DESIGN_BLOCK * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    sf_sink_options o;
    sf_sink_options_init(&o);
    o.compression = level;
    o.chunk_rows = crows;
    o.threads = 2;
    sf_error err;
    assert_int_equal(setenv("SF_HDF5_SINK_QUEUE_BYTES", "1", 1), 0);
    H5garbage_collect();
    size_t base = heap_now(), peak = base;
    sf_sink *s = NULL;
    assert_int_equal(sf_sink_open(&s, path, &o, &err), SF_OK);
    for (size_t r0 = 0; r0 < n; r0 += DESIGN_BLOCK) {
        size_t k = n - r0 < DESIGN_BLOCK ? n - r0 : DESIGN_BLOCK;
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < DESIGN_P; j++) x[i * DESIGN_P + j] = noisy(r0 + i, j);
            y[i] = noisy(r0 + i, DESIGN_P);
        }
        assert_int_equal(sf_sink_write_matrix(s, "X", x, k, DESIGN_P, DESIGN_P, NULL, &err), SF_OK);
        assert_int_equal(sf_sink_write_matrix(s, "y", y, k, 0, 1, NULL, &err), SF_OK);
        size_t h = heap_now();
        if (h > peak) peak = h;
    }
    assert_int_equal(sf_sink_close(s, &err), SF_OK);
    size_t h = heap_now();
    if (h > peak) peak = h;
    unsetenv("SF_HDF5_SINK_QUEUE_BYTES");
    free(x);
    free(y);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t dx = H5Dopen2(f, "X", H5P_DEFAULT), dy = H5Dopen2(f, "y", H5P_DEFAULT);
    hid_t sx = H5Dget_space(dx), sy = H5Dget_space(dy);
    hsize_t dims[2] = {0, 0};
    assert_int_equal(H5Sget_simple_extent_dims(sx, dims, NULL), 2);
    assert_int_equal(dims[0], n);
    assert_int_equal(dims[1], DESIGN_P);
    hsize_t start[2] = {n - 1, 0}, count[2] = {1, DESIGN_P}, one = 1, last = n - 1;
    double row[DESIGN_P], yv = 0;
    hid_t mx = H5Screate_simple(2, count, NULL), my = H5Screate_simple(1, &one, NULL);
    assert_true(H5Sselect_hyperslab(sx, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    assert_true(H5Sselect_hyperslab(sy, H5S_SELECT_SET, &last, NULL, &one, NULL) >= 0);
    assert_true(H5Dread(dx, H5T_NATIVE_DOUBLE, mx, sx, H5P_DEFAULT, row) >= 0);
    assert_true(H5Dread(dy, H5T_NATIVE_DOUBLE, my, sy, H5P_DEFAULT, &yv) >= 0);
    for (size_t j = 0; j < DESIGN_P; j++) assert_double_bits(row[j], noisy(n - 1, j));
    assert_double_bits(yv, noisy(n - 1, DESIGN_P));
    H5Sclose(mx);
    H5Sclose(my);
    H5Sclose(sx);
    H5Sclose(sy);
    H5Dclose(dx);
    H5Dclose(dy);
    H5Fclose(f);
    return peak - base;
}

/* 320 vs 3,200 chunks a dataset of 32 rows (3 KiB chunks of /X: many B-tree nodes
 * in a small file), as 2.5M vs 25M rows in 16,384-row chunks make 153 vs 1,526.
 * Before io/hdf5_mdc.h's SFI_H5_MDC_SINK_BYTES the 128 KiB cache filled with nodes
 * only on the larger file: ~1 MiB more (here ~0.9 MiB, deflated or not). */
static void sink_bounded(int level)
{
    char *a = tmp_file("mems", true), *b = tmp_file("mems", true);
    const size_t crows = 32, n = 320 * crows;
    size_t p1 = sink_peak(a, n, crows, level), p2 = sink_peak(b, 10 * n, crows, level);
    print_message("HDF5 sink, deflate %d, %zu vs %zu chunks a dataset: peak heap %.0f vs %.0f KiB\n",
                  level, n / crows, 10 * n / crows, p1 / 1024.0, p2 / 1024.0);
    assert_true(p2 < p1 + TOLERANCE);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}

static void test_sink_bounded(void **state)
{
    (void)state;
    sink_bounded(0); /* stored */
    sink_bounded(1); /* deflated */
}

/* The free-space sections of a file an HDF5 sink writes n chunks of crows rows of
 * /X and /y to, at `level`: HDF5 keeps one for every gap the chunks' file alignment
 * leaves (~140 bytes of heap each while the file is open: memory in proportion to
 * the rows). Stored 1,000-row chunks (96,000 bytes of /X, not a multiple of 4 KiB)
 * left one each before io/hdf5_sink.c's sink_alignment; deflated chunks over 64 KiB
 * still do (see ALIGN_THRESHOLD there). */
/* io/hdf5_sink.c's, for the tests */
SFI_FUNC size_t sfi_hdf5_sink_free_sections(void *impl);

static size_t sink_sections(size_t crows, int level, size_t n_chunks)
{
    char *path = tmp_file("memf", true);
    unlink(path); /* the kind itself creates with O_EXCL (io/sink.c reserves the name) */
    sf_sink_options o;
    sf_sink_options_init(&o);
    o.compression = level;
    o.chunk_rows = crows;
    o.threads = 2;
    sf_error err;
    void *impl = NULL;
    assert_int_equal(sfi_hdf5_sink_open(&impl, path, NULL, path, &o, &err), SF_OK);
    double *x = malloc(crows * DESIGN_P * sizeof *x), *y = malloc(crows * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (size_t c = 0; c < n_chunks; c++) {
        for (size_t i = 0; i < crows; i++) {
            for (size_t j = 0; j < DESIGN_P; j++) x[i * DESIGN_P + j] = noisy(c * crows + i, j);
            y[i] = noisy(c * crows + i, DESIGN_P);
        }
        assert_int_equal(sfi_hdf5_sink_ops.write_matrix(impl, "X", x, crows, DESIGN_P, DESIGN_P, NULL, &err), SF_OK);
        assert_int_equal(sfi_hdf5_sink_ops.write_matrix(impl, "y", y, crows, 0, 1, NULL, &err), SF_OK);
    }
    size_t n = sfi_hdf5_sink_free_sections(impl);
    assert_int_equal(sfi_hdf5_sink_ops.finish(impl, &err), SF_OK);
    free(x);
    free(y);
    unlink(path);
    free(path);
    return n;
}

static void test_sink_no_gaps(void **state)
{
    (void)state;
    size_t s16 = sink_sections(1000, 0, 16), s64 = sink_sections(1000, 0, 64);
    print_message("HDF5 sink, stored, 16 / 64 chunks: %zu / %zu free-space sections\n", s16, s64);
    /* a couple from HDF5's own metadata, none a chunk (before: 16 / 64) */
    assert_true(s64 <= 2 && s64 == s16);
}

/* Peak heap above the baseline while a CSV of n rows is read segment by segment
 * (segments of 2 KiB: many of them), every segment opened from the source and
 * closed after it, the source open throughout: as a fit or convert --formula reads
 * it. Each opened segment takes a slot in its source's bad-row log (io/source.c). */
static size_t csv_segments_peak(size_t n)
{
    char *path = tmp_name("memv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "a,b\n");
    for (size_t i = 0; i < n; i++) fprintf(f, "%zu,%zu.5\n", i, i % 97);
    fclose(f);
    H5garbage_collect();
    size_t base = heap_now(), peak = base;
    sf_source_options o;
    sf_source_options_init(&o);
    o.segment_bytes = 2048;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, &o, &err), SF_OK);
    size_t n_seg = 0, rows = 0;
    assert_int_equal(sf_source_n_segments(src, &n_seg, &err), SF_OK);
    for (size_t k = 0; k < n_seg; k++) {
        sf_source *seg = NULL;
        assert_int_equal(sf_source_open_segment(src, k, &seg, &err), SF_OK);
        const sf_table *t;
        while (sf_source_next(seg, &t, &err) == SF_OK) {
            for (size_t i = 0; i < t->n_rows; i++) assert_double_bits(t->cols[0].values[i], (double)(rows + i));
            rows += t->n_rows;
        }
        sf_source_close(seg);
        size_t h = heap_now();
        if (h > peak) peak = h;
    }
    assert_int_equal(rows, n);
    sf_source_close(src);
    unlink(path);
    free(path);
    return peak - base;
}

/* 400 vs 4,000 segments: each kept ~3.7 KB (a bad-row log with room for
 * SF_SOURCE_BAD_KEPT errors) for as long as the source was open: 14.7 MiB more. */
static void test_csv_segments_bounded(void **state)
{
    (void)state;
    size_t n = 400 * 2048 / 12; /* ~12 bytes a line */
    size_t p1 = csv_segments_peak(n), p2 = csv_segments_peak(10 * n);
    print_message("CSV, ~400 vs ~4,000 segments: peak heap %.0f vs %.0f KiB\n", p1 / 1024.0, p2 / 1024.0);
    assert_true(p2 < p1 + TOLERANCE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_lookup),
        cmocka_unit_test(test_source_many_chunks),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_sink_bounded),
        cmocka_unit_test(test_sink_no_gaps),
        cmocka_unit_test(test_csv_segments_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
