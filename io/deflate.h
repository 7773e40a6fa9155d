/* deflate.h — zlib-format deflate streams (HDF5's deflate filter) through the fastest
 * library the build found: libdeflate or ISA-L, else zlib (meson option `deflate`).
 * Not installed. Each object is used by one thread at a time.
 */
#ifndef SF_DEFLATE_H
#define SF_DEFLATE_H

#include <stddef.h>

#include "core/sf_internal.h"

typedef struct sfi_inflater sfi_inflater;
typedef struct sfi_deflater sfi_deflater;

/* A decompressor, or NULL when out of memory. Free with sfi_inflater_free (NULL ok). */
SFI_FUNC sfi_inflater *sfi_inflater_new(void);
SFI_FUNC void sfi_inflater_free(sfi_inflater *z);

/* Inflates the whole zlib stream in[0..n) into out[0..cap), *got bytes. Returns NULL,
 * or why it failed: zlib's own words whichever library inflated (a failed stream is
 * inflated again by zlib to name the fault), or "the deflate data ends early", or "it
 * inflates to more than the chunk's size" when cap is too small. */
SFI_FUNC const char *sfi_inflate(sfi_inflater *z, const void *in, size_t n, void *out, size_t cap,
                                 size_t *got);

/* A compressor at zlib level 1-9 (mapped to the library's nearest), or NULL when out of
 * memory. Free with sfi_deflater_free (NULL ok). */
SFI_FUNC sfi_deflater *sfi_deflater_new(int level);
SFI_FUNC void sfi_deflater_free(sfi_deflater *z);

/* Room that sfi_deflate always fits n bytes in. */
SFI_FUNC size_t sfi_deflate_bound(size_t n);

/* Compresses in[0..n) into one zlib stream in out[0..cap) (cap >= sfi_deflate_bound(n));
 * returns its length, 0 when out of memory. */
SFI_FUNC size_t sfi_deflate(sfi_deflater *z, const void *in, size_t n, void *out, size_t cap);

/* The libraries in use, e.g. "inflate libdeflate, deflate isa-l". */
SFI_FUNC const char *sfi_deflate_libraries(void);

#endif
