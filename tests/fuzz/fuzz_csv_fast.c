/* fuzz_csv_fast.c — libFuzzer target, differential: any bytes read by the CSV
 * source with its fast path (io/csv_scan.h) and with libcsv alone must give the
 * same open status and error text, the same chunks (sizes, first rows, integer
 * flags), cells (value bits, missing flags, labels), line numbers, and the same
 * final status and error text. Input bytes 0 and 1 pick the options and the
 * read buffer size (down to 2 bytes, so lines straddle refills). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/csv_scan.h"
#include "streamfit/streamfit.h"

typedef struct trace { unsigned char *p; size_t n, cap; } trace;

static void put(trace *t, const void *s, size_t n)
{
    if (t->n + n > t->cap) {
        size_t cap = (t->n + n) * 2;
        unsigned char *q = realloc(t->p, cap);
        if (!q) abort();
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
}

static void put_msg(trace *t, sf_status st, const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    put(t, &st, sizeof st);
    put(t, msg, strlen(msg) + 1);
}

/* Everything a reader yields, serialised. */
static void read_trace(const char *path, const sf_source_options *o, bool fast, size_t read_size,
                       trace *t)
{
    sfi_csv_set_fast_path(fast);
    sfi_csv_set_read_size(read_size);
    sf_source *s = NULL;
    sf_error err;
    sf_error_clear(&err);
    sf_status st = sf_source_open(&s, path, o, &err);
    put_msg(t, st, &err);
    if (st == SF_OK) {
        const sf_table *tb;
        while ((st = sf_source_next(s, &tb, &err)) == SF_OK) {
            put(t, &tb->n_rows, sizeof tb->n_rows);
            put(t, &tb->first_row, sizeof tb->first_row);
            put(t, tb->line, tb->n_rows * sizeof *tb->line);
            for (size_t j = 0; j < tb->n_cols; j++) {
                const sf_column *c = &tb->cols[j];
                put(t, &c->type, sizeof c->type);
                put(t, &c->is_integer, sizeof c->is_integer);
                put(t, c->missing, tb->n_rows);
                for (size_t i = 0; i < tb->n_rows; i++) {
                    if (c->type == SF_COL_FLOAT) {
                        put(t, &c->values[i], sizeof c->values[i]);
                    } else if (c->codes[i] >= 0) {
                        size_t len = 0;
                        const char *l = sf_dict_label(c->dict, (size_t)c->codes[i], &len);
                        put(t, &len, sizeof len);
                        put(t, l, len);
                    }
                }
            }
        }
        put_msg(t, st, &err);
        sf_source_close(s);
    }
    sfi_csv_set_fast_path(true);
    sfi_csv_set_read_size(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t knobs = data[0], knobs2 = data[1];
    data += 2;
    size -= 2;
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
    o.delimiter = (knobs & 0x80) ? ';' : (knobs & 0x40) ? '\t' : ',';
    o.has_header = !(knobs & 0x20);
    o.max_levels = 50;
    size_t read_size = (knobs2 & 0x80) ? 0 : 2 + knobs2; /* 0: the default 1 MiB */
    trace on = {0}, off = {0};
    read_trace(path, &o, true, read_size, &on);
    read_trace(path, &o, false, read_size, &off);
    if (on.n != off.n || memcmp(on.p, off.p, on.n) != 0) __builtin_trap();
    free(on.p);
    free(off.p);
    close(fd);
    return 0;
}
