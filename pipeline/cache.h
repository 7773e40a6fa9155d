/* cache.h — the blocks of a fit's first pass, kept in HDF5 so that later passes
 * and epochs read binary rows instead of parsing the source again; internal.
 *
 * Layout: one group a segment of the source, /seg_<k>, holding an extendable
 * float64 dataset "x" (rows x p) and, when the fit has them, "y" and "w" (rows).
 * A cache is written once, by the first pass (segments in any order, one writer
 * per segment), and read after sfi_cache_finish by segment, from any thread.
 * Debian's HDF5 is the thread-safe build: calls from several threads serialise.
 */
#ifndef SF_CACHE_H
#define SF_CACHE_H

#include "core/sf_internal.h"
#include "streamfit/sf_table.h"

typedef struct sfi_cache sfi_cache;

/* Creates (truncates) path for n_seg segments of p columns. */
SFI_FUNC sf_status sfi_cache_create(sfi_cache **out, const char *path, size_t n_seg, size_t p, bool has_y,
                                    bool has_w, size_t chunk_rows, sf_error *err);
/* Appends b's rows to segment seg; one thread per segment. */
SFI_FUNC sf_status sfi_cache_append(sfi_cache *c, size_t seg, const sf_block *b, sf_error *err);
/* Segment s is written (or read) for this pass: its datasets are closed, so that
 * HDF5 keeps no buffers for it; a later read opens them again. */
SFI_FUNC void sfi_cache_segment_done(sfi_cache *c, size_t s);
/* Ends the writing pass: the cache can be read. */
SFI_FUNC sf_status sfi_cache_finish(sfi_cache *c, sf_error *err);
SFI_FUNC bool sfi_cache_ready(const sfi_cache *c);
/* Reads up to b->capacity rows of segment seg from row *at on into b (n_rows = 0
 * at the end) and advances *at. */
SFI_FUNC sf_status sfi_cache_read(sfi_cache *c, size_t seg, uint64_t *at, sf_block *b, sf_error *err);
/* Closes the file (it stays on disk) and frees c; NULL is a no-op. */
SFI_FUNC void sfi_cache_close(sfi_cache *c);

#endif
