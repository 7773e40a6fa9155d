/* csv_scan.c — the out-of-line part of csv_scan.h: the block scan's line and
 * byte counters (SSE2 on x86-64, a byte loop elsewhere) and the test knobs.
 */
#include "io/csv_scan.h"

enum { DEFAULT_READ_SIZE = 1 << 20 };

static bool fast_on = true;
static size_t read_size = DEFAULT_READ_SIZE;

void sfi_csv_set_fast_path(bool on) { fast_on = on; }
void sfi_csv_set_read_size(size_t n) { read_size = n >= 2 ? n : DEFAULT_READ_SIZE; }
bool sfi_csv_fast_path(void) { return fast_on; }
size_t sfi_csv_read_size(void) { return read_size; }

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

uint64_t sfi_csv_line_ends(const char *p, size_t n, bool *quote)
{
    bool cr;
    uint64_t k = sfi_csv_count_lf(p, n, quote, &cr);
    if (!cr) return k;
    for (size_t i = 0; i + 1 < n; i++) k += p[i] == '\r' && p[i + 1] != '\n';
    return k;
}

size_t sfi_csv_count_byte(const char *p, size_t n, char c)
{
    size_t k = 0, i = 0;
#if defined(__SSE2__) && defined(__x86_64__)
    const __m128i zero = _mm_setzero_si128();
    const __m128i vc = _mm_set1_epi8(c);
    while (i + 16 <= n) {
        /* byte counters, summed before any can pass 255 (as sfi_csv_count_lf) */
        const size_t stop = n - i > 16 * 255 ? i + 16 * 255 : n;
        __m128i acc = zero;
        for (; i + 16 <= stop; i += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, vc));
        }
        const __m128i s = _mm_sad_epu8(acc, zero);
        k += (size_t)_mm_cvtsi128_si64(s) + (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s));
    }
#endif
    for (; i < n; i++) k += p[i] == c;
    return k;
}
