/* csv_scan.c — splitting simple CSV records without libcsv (see csv_scan.h).
 *
 * libcsv 3.0.3 (libcsv.c, csv_parse) with CSV_STRICT and a space function that
 * trims nothing turns an unquoted line "f0,f1,...,fn\n" (or "...\r\n") into the
 * fields f0..fn exactly as they stand, then ends the record at the CR or LF; a
 * line with nothing before its line end is no record at all. That is what
 * sfi_csv_split_simple reproduces; anything else is left to libcsv.
 *
 * On x86-64 (SSE2 is baseline) sixteen bytes are compared at once against the
 * delimiter and against '\n', '"', '\r'; the bit masks give the delimiters'
 * positions and the first special byte. Elsewhere, and for the last bytes, a
 * byte loop does the same.
 */
#include "io/csv_scan.h"

#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { DEFAULT_READ_SIZE = 1 << 20 };

static bool fast_on = true;
static size_t read_size = DEFAULT_READ_SIZE;

void sfi_csv_set_fast_path(bool on) { fast_on = on; }
void sfi_csv_set_read_size(size_t n) { read_size = n >= 2 ? n : DEFAULT_READ_SIZE; }
bool sfi_csv_fast_path(void) { return fast_on; }
size_t sfi_csv_read_size(void) { return read_size; }

/* The line's first special byte is p[at]: a quote gives up; a CR must be
 * followed by an LF; the last field ends there. */
static size_t finish(const char *p, size_t avail, size_t at, size_t *ends, size_t nf,
                     size_t *n_fields)
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

size_t sfi_csv_split_simple(const char *p, size_t avail, char delim, size_t *ends,
                            size_t max_fields, size_t *n_fields)
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
        if (ms) return finish(p, avail, i + (size_t)__builtin_ctz(ms), ends, nf, n_fields);
    }
#endif
    for (; i < avail; i++) {
        const char c = p[i];
        if (c == delim) {
            if (nf == max_delims) return 0;
            ends[nf++] = i;
        } else if (c == '\n' || c == '"' || c == '\r') {
            return finish(p, avail, i, ends, nf, n_fields);
        }
    }
    return 0; /* no line end yet */
}

uint64_t sfi_csv_count_lf(const char *p, size_t n, bool *quote, bool *cr)
{
    uint64_t k = 0;
    size_t i = 0;
    bool q = false, r = false;
#if defined(__SSE2__) && defined(__x86_64__)
    const __m128i zero = _mm_setzero_si128();
    const __m128i vn = _mm_set1_epi8('\n');
    const __m128i vq = _mm_set1_epi8('"');
    const __m128i vr = _mm_set1_epi8('\r');
    __m128i any_q = zero, any_r = zero;
    while (i + 16 <= n) {
        /* byte counters (a match is -1: subtracting counts up), summed before
         * any can pass 255 */
        const size_t stop = n - i > 16 * 255 ? i + 16 * 255 : n;
        __m128i acc = zero;
        for (; i + 16 <= stop; i += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, vn));
            any_q = _mm_or_si128(any_q, _mm_cmpeq_epi8(v, vq));
            any_r = _mm_or_si128(any_r, _mm_cmpeq_epi8(v, vr));
        }
        const __m128i s = _mm_sad_epu8(acc, zero);
        k += (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s));
    }
    q = _mm_movemask_epi8(any_q) != 0;
    r = _mm_movemask_epi8(any_r) != 0;
#endif
    for (; i < n; i++) {
        k += p[i] == '\n';
        q |= p[i] == '"';
        r |= p[i] == '\r';
    }
    *quote = q;
    *cr = r;
    return k;
}
