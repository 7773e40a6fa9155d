/* deflate.c — see deflate.h. Measured on the chunks of a `streamfit convert`ed
 * 2M x 20 float64 file (16384-row chunks, deflate 1; bench numbers in the commit
 * that added this file), MB/s of decoded data per core: inflate zlib 250-297,
 * ISA-L 395-398, libdeflate 474-477; deflate level 1 zlib 44, libdeflate 138,
 * ISA-L 712-744. So inflating prefers libdeflate, then ISA-L; deflating ISA-L, then
 * libdeflate; zlib is the fallback for both and names the fault in a bad stream.
 * SF_INFLATE_* / SF_DEFLATE_* come from meson.build.
 */
#include "io/deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(SF_INFLATE_LIBDEFLATE) || defined(SF_DEFLATE_LIBDEFLATE)
#include <libdeflate.h>
#endif
#if defined(SF_INFLATE_ISAL) || defined(SF_DEFLATE_ISAL)
#include <isa-l.h>
#endif

#if defined(SF_INFLATE_LIBDEFLATE)
#define INFLATE_NAME "libdeflate"
#elif defined(SF_INFLATE_ISAL)
#define INFLATE_NAME "isa-l"
#else
#define INFLATE_NAME "zlib"
#endif
#if defined(SF_DEFLATE_ISAL)
#define DEFLATE_NAME "isa-l"
#elif defined(SF_DEFLATE_LIBDEFLATE)
#define DEFLATE_NAME "libdeflate"
#else
#define DEFLATE_NAME "zlib"
#endif

const char *sfi_deflate_libraries(void)
{
    return "inflate " INFLATE_NAME ", deflate " DEFLATE_NAME;
}

/* ------------------------------------------------------------------ inflating */

struct sfi_inflater {
    z_stream *zs; /* zlib: the fallback and the diagnosis; made when first needed */
#if defined(SF_INFLATE_LIBDEFLATE)
    struct libdeflate_decompressor *ld;
#elif defined(SF_INFLATE_ISAL)
    struct inflate_state *is;
#endif
};

sfi_inflater *sfi_inflater_new(void)
{
    sfi_inflater *z = calloc(1, sizeof *z);
    if (!z) return NULL;
#if defined(SF_INFLATE_LIBDEFLATE)
    z->ld = libdeflate_alloc_decompressor();
    if (!z->ld) {
        free(z);
        return NULL;
    }
#elif defined(SF_INFLATE_ISAL)
    z->is = malloc(sizeof *z->is);
    if (!z->is) {
        free(z);
        return NULL;
    }
#endif
    return z;
}

void sfi_inflater_free(sfi_inflater *z)
{
    if (!z) return;
    if (z->zs) inflateEnd(z->zs);
    free(z->zs);
#if defined(SF_INFLATE_LIBDEFLATE)
    libdeflate_free_decompressor(z->ld);
#elif defined(SF_INFLATE_ISAL)
    free(z->is);
#endif
    free(z);
}

static const char *zlib_inflate(sfi_inflater *z, const void *in, size_t n, void *out,
                                size_t cap, size_t *got)
{
    *got = 0;
    if (n > UINT32_MAX || cap > UINT32_MAX) return "the chunk is too large for zlib";
    if (!z->zs) {
        z_stream *zs = calloc(1, sizeof *zs);
        if (!zs) return "out of memory in zlib";
        if (inflateInit(zs) != Z_OK) {
            free(zs);
            return "out of memory in zlib";
        }
        z->zs = zs;
    } else if (inflateReset(z->zs) != Z_OK)
        return "zlib cannot restart";
    z_stream *zs = z->zs;
    zs->next_in = (Bytef *)(uintptr_t)in;
    zs->avail_in = (uInt)n;
    zs->next_out = out;
    zs->avail_out = (uInt)cap;
    int rc = inflate(zs, Z_FINISH);
    *got = cap - zs->avail_out;
    switch (rc) {
    case Z_STREAM_END: return NULL;
    case Z_DATA_ERROR: return zs->msg ? zs->msg : "invalid deflate data";
    case Z_MEM_ERROR: return "out of memory in zlib";
    case Z_NEED_DICT: return "the deflate data needs a preset dictionary";
    default:
        return zs->avail_out == 0 ? "it inflates to more than the chunk's size"
                                  : "the deflate data ends early";
    }
}

const char *sfi_inflate(sfi_inflater *z, const void *in, size_t n, void *out, size_t cap,
                        size_t *got)
{
    *got = 0;
#if defined(SF_INFLATE_LIBDEFLATE)
    size_t actual = 0;
    if (libdeflate_zlib_decompress(z->ld, in, n, out, cap, &actual) == LIBDEFLATE_SUCCESS) {
        *got = actual;
        return NULL;
    }
#elif defined(SF_INFLATE_ISAL)
    if (n <= UINT32_MAX && cap <= UINT32_MAX) {
        struct inflate_state *s = z->is;
        isal_inflate_init(s);
        s->crc_flag = ISAL_ZLIB;
        s->next_in = (uint8_t *)(uintptr_t)in;
        s->avail_in = (uint32_t)n;
        s->next_out = out;
        s->avail_out = (uint32_t)cap;
        if (isal_inflate(s) == ISAL_DECOMP_OK && s->block_state == ISAL_BLOCK_FINISH) {
            *got = cap - s->avail_out;
            return NULL;
        }
    }
#endif
    /* zlib inflates, or says what is wrong with the stream */
    return zlib_inflate(z, in, n, out, cap, got);
}

/* ------------------------------------------------------------------ deflating */

struct sfi_deflater {
    int level;
#if defined(SF_DEFLATE_ISAL)
    struct isal_zstream zs;
    unsigned char *level_buf;
    uint32_t level_buf_size;
    uint32_t isal_level;
#elif defined(SF_DEFLATE_LIBDEFLATE)
    struct libdeflate_compressor *lc;
#endif
};

sfi_deflater *sfi_deflater_new(int level)
{
    if (level < 1) level = 1;
    if (level > 9) level = 9;
    sfi_deflater *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->level = level;
#if defined(SF_DEFLATE_ISAL)
    /* ISA-L has levels 0-3 (0 keeps no history worth the name): zlib 1-3 -> 1, 4-6 -> 2,
     * 7-9 -> 3 */
    static const uint32_t sizes[4] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                      ISAL_DEF_LVL3_DEFAULT};
    z->isal_level = (uint32_t)(level + 2) / 3;
    z->level_buf_size = sizes[z->isal_level];
    z->level_buf = malloc(z->level_buf_size);
    if (!z->level_buf) {
        free(z);
        return NULL;
    }
#elif defined(SF_DEFLATE_LIBDEFLATE)
    z->lc = libdeflate_alloc_compressor(level);
    if (!z->lc) {
        free(z);
        return NULL;
    }
#endif
    return z;
}

void sfi_deflater_free(sfi_deflater *z)
{
    if (!z) return;
#if defined(SF_DEFLATE_ISAL)
    free(z->level_buf);
#elif defined(SF_DEFLATE_LIBDEFLATE)
    libdeflate_free_compressor(z->lc);
#endif
    free(z);
}

size_t sfi_deflate_bound(size_t n)
{
    /* zlib's bound; a library that does not fit in it leaves the chunk to zlib */
    return (size_t)compressBound((uLong)n);
}

size_t sfi_deflate(sfi_deflater *z, const void *in, size_t n, void *out, size_t cap)
{
#if defined(SF_DEFLATE_ISAL)
    if (n <= UINT32_MAX && cap <= UINT32_MAX) {
        struct isal_zstream *s = &z->zs;
        isal_deflate_init(s);
        s->level = z->isal_level;
        s->level_buf = z->level_buf;
        s->level_buf_size = z->level_buf_size;
        s->gzip_flag = IGZIP_ZLIB;
        s->end_of_stream = 1;
        s->flush = NO_FLUSH;
        s->next_in = (uint8_t *)(uintptr_t)in;
        s->avail_in = (uint32_t)n;
        s->next_out = out;
        s->avail_out = (uint32_t)cap;
        if (isal_deflate(s) == COMP_OK && s->internal_state.state == ZSTATE_END)
            return s->total_out;
    }
#elif defined(SF_DEFLATE_LIBDEFLATE)
    size_t got = libdeflate_zlib_compress(z->lc, in, n, out, cap);
    if (got) return got;
#endif
    uLongf len = (uLongf)cap;
    if (compress2(out, &len, in, (uLong)n, z->level) != Z_OK) return 0;
    return (size_t)len;
}
