/* csv_scan.h — the CSV reader's fast path for simple records; not installed.
 *
 * Most lines of a CSV file hold no quote: the reader (io/csv_source.c) splits
 * such a line itself, with one vector scan for the delimiter and the line end,
 * and hands its fields to the same handlers that libcsv's callbacks call.
 * Everything else (quotes, a bare CR, an empty line, a line not yet complete in
 * the buffer, a last line without a line end, a wrong field count) goes to
 * libcsv as before, so errors keep one code path.
 *
 * libcsv 3.0.3 (libcsv.c, csv_parse) with CSV_STRICT and a space function that
 * trims nothing turns an unquoted line "f0,f1,...,fn\n" (or "...\r\n") into the
 * fields f0..fn exactly as they stand, then ends the record at the CR or LF; a
 * line with nothing before its line end is no record at all. That is what
 * sfi_csv_split_simple reproduces. It is inline (it runs once per line): on
 * x86-64 (SSE2 is baseline) sixteen bytes are compared at once against the
 * delimiter and against '\n', '"', '\r', the bit masks giving the delimiters'
 * positions and the first special byte; elsewhere, and for the last bytes, a
 * byte loop does the same.
 */
#ifndef SF_CSV_SCAN_H
#define SF_CSV_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sf_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The number of LFs in p[0..n); *quote and *cr say whether a '"' or a CR
 * occurs there. (The segment scan of csv_source.c.) */
SFI_FUNC uint64_t sfi_csv_count_lf(const char *p, size_t n, bool *quote, bool *cr);

/* Test knobs, process-wide; set them only while no CSV source is being opened
 * or read. sfi_csv_set_fast_path(false) makes readers opened afterwards hand
 * every line to libcsv (the differential test compares both ways);
 * sfi_csv_set_read_size(n) sets the bytes a reader asks for per refill (n >= 2;
 * 0 restores the default of 1 MiB), so tests can put lines across refills. */
SFI_FUNC void sfi_csv_set_fast_path(bool on);
SFI_FUNC void sfi_csv_set_read_size(size_t n);
SFI_FUNC bool sfi_csv_fast_path(void);
SFI_FUNC size_t sfi_csv_read_size(void);

/* The line's first special byte is p[at]: a quote gives up; a CR must be
 * followed by an LF; the last field ends there. */
static inline size_t sfi_csv_finish_line(const char *p, size_t avail, size_t at, size_t *ends,
                                          size_t nf, size_t *n_fields)
{
    size_t len;
    if (p[at] == '"') return 0;
    if (p[at] == '\r') {
        if (at + 1 >= avail || p[at + 1] != '\n') return 0;
        len = at + 2;
    } else {
        len = at + 1;
    }
    if (at == 0) return 0; /* an empty line: libcsv skips it */
    ends[nf++] = at;
    *n_fields = nf;
    return len;
}

/* Splits the line at the front of p[0..avail) when it is simple, exactly as
 * libcsv (strict mode, no space trimming) would: it ends with LF or CRLF inside
 * p[0..avail), holds no '"' and no other CR, and is not empty. Then fields k
 * of the line are p[start_k, ends[k]) with start_0 = 0 and start_k =
 * ends[k-1] + 1; *n_fields is their number (at most max_fields, max_fields
 * >= 1) and the return value the bytes the line takes with its line end.
 * Returns 0 when the line is not simple or has more than max_fields fields.
 * delim must not be '"', '\r' or '\n'. */
static inline size_t sfi_csv_split_simple(const char *p, size_t avail, char delim,
                                           size_t *ends, size_t max_fields, size_t *n_fields)
{
    size_t nf = 0, i = 0;
    /* delimiters must leave room for the last field */
    const size_t max_delims = max_fields - 1;
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8(delim);
    const __m128i vn = _mm_set1_epi8('\n');
    const __m128i vq = _mm_set1_epi8('"');
    const __m128i vr = _mm_set1_epi8('\r');
    for (; i + 16 <= avail; i += 16) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vd));
        const __m128i sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vn), _mm_cmpeq_epi8(v, vq)),
                                        _mm_cmpeq_epi8(v, vr));
        const unsigned ms = (unsigned)_mm_movemask_epi8(sp);
        if (ms) md &= (1u << __builtin_ctz(ms)) - 1; /* delimiters before it */
        while (md) {
            if (nf == max_delims) return 0;
            ends[nf++] = i + (size_t)__builtin_ctz(md);
            md &= md - 1;
        }
        if (ms)
            return sfi_csv_finish_line(p, avail, i + (size_t)__builtin_ctz(ms), ends, nf, n_fields);
    }
#endif
    for (; i < avail; i++) {
        const char c = p[i];
        if (c == delim) {
            if (nf == max_delims) return 0;
            ends[nf++] = i;
        } else if (c == '\n' || c == '"' || c == '\r') {
            return sfi_csv_finish_line(p, avail, i, ends, nf, n_fields);
        }
    }
    return 0; /* no line end yet */
}

#endif
