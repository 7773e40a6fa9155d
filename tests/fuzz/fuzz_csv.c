/* fuzz_csv.c — libFuzzer target for the CSV source: any bytes must give rows or a
 * clean error, never a crash, a hang or a leak; and the union of the segments must
 * equal the whole-file read whenever both succeed. Input byte 0 picks options
 * (bit 6: skip malformed rows; then the segments must also skip the same number
 * of rows as the whole read, and every skipped row must be flagged). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "streamfit/streamfit.h"

static uint64_t read_all(sf_source *s, uint64_t *rows, uint64_t *bad, int *ok)
{
    const sf_table *t;
    sf_error err;
    sf_status st;
    uint64_t sum = 0;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        *rows += t->n_rows;
        for (size_t i = 0; t->bad && i < t->n_rows; i++) *bad += t->bad[i];
        for (size_t j = 0; j < t->n_cols; j++)
            for (size_t i = 0; i < t->n_rows; i++)
                sum += t->cols[j].missing[i] ? 7 : (uint64_t)(t->cols[j].type == SF_COL_FLOAT ? 1 : 3);
    }
    *ok = st == SF_END;
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t knobs = data[0];
    data++;
    size--;
    int fd = memfd_create("fuzz.csv", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 1 + (knobs & 7);
    o.segment_bytes = 1 + (uint64_t)((knobs >> 3) & 31) * 3;
    o.delimiter = (knobs & 0x80) ? ';' : ',';
    o.max_levels = 50;
    o.on_error = (knobs & 0x40) ? SF_ON_ERROR_SKIP : SF_ON_ERROR_STOP;
    sf_source *s = NULL;
    sf_error err;
    if (sf_source_open(&s, path, &o, &err) == SF_OK) {
        uint64_t rows = 0, seg_rows = 0, bad = 0, seg_bad = 0, counted = 0, seg_counted = 0;
        int ok = 0, seg_ok = 1;
        uint64_t sum = read_all(s, &rows, &bad, &ok);
        sf_source_bad_rows(s, &counted, NULL);
        if (ok && counted != bad) __builtin_trap();
        size_t n = 0;
        uint64_t seg_sum = 0;
        /* the segments' count alone (a rewind starts the source's own again) */
        if (sf_source_rewind(s, &err) == SF_OK && sf_source_n_segments(s, &n, &err) == SF_OK) {
            for (size_t g = 0; g < n && seg_ok; g++) {
                sf_source *seg = NULL;
                if (sf_source_open_segment(s, g, &seg, &err) != SF_OK) {
                    seg_ok = 0;
                    break;
                }
                int k = 0;
                seg_sum += read_all(seg, &seg_rows, &seg_bad, &k);
                seg_ok = k;
                sf_source_close(seg);
            }
            /* quote parity decides segment cuts; a file that reads cleanly as a
             * whole must read the same in segments */
            if (ok && seg_ok && (seg_rows != rows || seg_sum != sum || seg_bad != bad)) __builtin_trap();
            sf_source_bad_rows(s, &seg_counted, NULL);
            if (ok && seg_ok && seg_counted != counted) __builtin_trap();
        }
        sf_source_close(s);
    }
    char msg[1024];
    sf_error_format(&err, msg, sizeof msg);
    close(fd);
    return 0;
}
