/* csv_scan.h — the CSV reader's fast path for simple records; not installed.
 *
 * Most lines of a CSV file are simple: no quotes, or quotes only around fields
 * that hold no quote or line end. The reader (io/csv_source.c) splits such a
 * line itself, with one vector scan for the delimiter, quotes and the line end,
 * and hands its fields to the same handlers that libcsv's callbacks call.
 * Everything else (escaped quotes, line ends inside quotes, a bare CR, an empty
 * line, a line not yet complete in the buffer, a last line without a line end,
 * a wrong field count, malformed quoting) goes to libcsv as before, so errors
 * keep one code path.
 *
 * libcsv 3.0.3 (libcsv.c, csv_parse) with CSV_STRICT and a space function that
 * trims nothing turns a line "f0,f1,...,fn\n" (or "...\r\n") into the fields
 * f0..fn exactly as they stand (a field "..." that opens with a quote loses its
 * quotes, and its closing quote must be followed by the delimiter or the line
 * end), then ends the record at the CR or LF; a line with nothing before its
 * line end is no record at all. That is what sfi_csv_split_simple reproduces.
 * It is inline (it runs once per line): on
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
 * occurs there. (The block scan of csv_plan.c.) */
SFI_FUNC uint64_t sfi_csv_count_lf(const char *p, size_t n, bool *quote, bool *cr);

/* Line ends in p[0..n) as the reader counts them: every LF, and every CR not
 * followed by an LF (a CR in the last byte is not counted: the caller reads it
 * again with what follows); *quote: whether a '"' occurs. */
SFI_FUNC uint64_t sfi_csv_line_ends(const char *p, size_t n, bool *quote);

/* The number of bytes c in p[0..n). */
SFI_FUNC size_t sfi_csv_count_byte(const char *p, size_t n, char c);

/* Test knobs, process-wide; set them only while no CSV source is being opened
 * or read. sfi_csv_set_fast_path(false) makes readers opened afterwards hand
 * every line to libcsv (the differential test compares both ways);
 * sfi_csv_set_read_size(n) sets the bytes a reader asks for per refill (n >= 2;
 * 0 restores the default of 1 MiB), so tests can put lines across refills. */
SFI_FUNC void sfi_csv_set_fast_path(bool on);
SFI_FUNC void sfi_csv_set_read_size(size_t n);
SFI_FUNC bool sfi_csv_fast_path(void);
SFI_FUNC size_t sfi_csv_read_size(void);

/* Stores field [a, b) as field *nf of f (pairs); false when the line has more
 * fields than max_fields. */
static inline bool sfi_csv_push_field(size_t *f, size_t *nf, size_t max_fields, size_t a,
                                      size_t b)
{
    if (*nf == max_fields) return false;
    f[2 * *nf] = a;
    f[2 * *nf + 1] = b;
    (*nf)++;
    return true;
}

/* Bytes of the line end at p[at] (LF, or CR LF), or 0 for a CR without an LF
 * after it in p[0..avail). */
static inline size_t sfi_csv_eol_len(const char *p, size_t avail, size_t at)
{
    if (p[at] == '\n') return 1;
    return at + 1 < avail && p[at + 1] == '\n' ? 2 : 0;
}

/* Splits the line at the front of p[0..avail) when it is simple, as libcsv
 * (strict mode, no space trimming) would: it ends with LF or CRLF inside
 * p[0..avail), is not empty, holds no other CR, and every quote in it opens
 * or closes a quoted field: one starting right at a field start, holding no
 * quote, CR or LF, and followed right away by the delimiter or the line end.
 * Field k is then p[f[2k], f[2k+1]) (a quoted one without its quotes; f holds
 * 2 * max_fields entries), *n_fields the number of fields (<= max_fields), and
 * the return value the bytes the line takes with its line end. Returns 0 when
 * the line is not simple (libcsv then reads it, and reports what is wrong) or
 * has more than max_fields fields. delim must not be '"', '\r' or '\n'. */
static inline size_t sfi_csv_split_simple(const char *p, size_t avail, char delim, size_t *f,
                                          size_t max_fields, size_t *n_fields)
{
    size_t nf = 0, i = 0, start = 0; /* scan position, start of the current field */
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8(delim);
    const __m128i vn = _mm_set1_epi8('\n');
    const __m128i vq = _mm_set1_epi8('"');
    const __m128i vr = _mm_set1_epi8('\r');
#endif
    for (;;) {
        /* up to the next quote or line end, cutting at delimiters */
#if defined(__SSE2__)
        for (;;) {
            if (i + 16 > avail) break;
#if defined(__GNUC__) && !defined(__clang__)
/* GCC 12 at -O3, inlining this into a call on a short literal, reports the load
 * (guarded just above) as out of bounds at index -1: a false positive */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
            unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vd));
            const __m128i sp = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, vn), _mm_cmpeq_epi8(v, vq)), _mm_cmpeq_epi8(v, vr));
            const unsigned ms = (unsigned)_mm_movemask_epi8(sp);
            if (ms) md &= (1u << __builtin_ctz(ms)) - 1; /* delimiters before it */
            while (md) {
                const size_t at = i + (size_t)__builtin_ctz(md);
                if (!sfi_csv_push_field(f, &nf, max_fields - 1, start, at)) return 0;
                start = at + 1;
                md &= md - 1;
            }
            if (ms) {
                i += (size_t)__builtin_ctz(ms);
                goto special;
            }
            i += 16;
        }
#endif
        for (;; i++) {
            if (i >= avail) return 0; /* no line end yet */
            const char c = p[i];
            if (c == delim) {
                if (!sfi_csv_push_field(f, &nf, max_fields - 1, start, i)) return 0;
                start = i + 1;
            } else if (c == '\n' || c == '"' || c == '\r') {
                break;
            }
        }
#if defined(__SSE2__)
    special:
#endif
        if (p[i] != '"') {
            const size_t eol = sfi_csv_eol_len(p, avail, i);
            if (eol == 0 || i == 0) return 0; /* a bare CR; an empty line (libcsv skips it) */
            sfi_csv_push_field(f, &nf, max_fields, start, i);
            *n_fields = nf;
            return i + eol;
        }
        if (i != start) return 0; /* a quote inside an unquoted field */
        size_t close = i + 1;
        while (close < avail && p[close] != '"' && p[close] != '\n' && p[close] != '\r') close++;
        if (close + 1 >= avail || p[close] != '"') return 0; /* a line end inside, or no end yet */
        const char after = p[close + 1];
        if (after == delim) {
            if (!sfi_csv_push_field(f, &nf, max_fields - 1, i + 1, close)) return 0;
            start = i = close + 2;
            continue;
        }
        if (after != '\n' && after != '\r') return 0; /* "" inside, or text after the quote */
        const size_t eol = sfi_csv_eol_len(p, avail, close + 1);
        if (eol == 0) return 0;
        sfi_csv_push_field(f, &nf, max_fields, i + 1, close);
        *n_fields = nf;
        return close + 1 + eol;
    }
}

#endif
