/* hdf5_mdc.h — the file-access property list every HDF5 file streamfit streams through
 * is opened or created with: a metadata cache of a fixed, small size. Not installed.
 *
 * Why: HDF5 keeps the chunk index (v1 B-tree nodes) of every dataset it has looked a
 * chunk up in, in the file's metadata cache, for as long as the file is open. Its
 * default cache starts at 2 MiB and grows adaptively up to 32 MiB, and it counts a
 * node at its size on disk (2 KiB for a 1-D dataset's node of 64 chunks) while the
 * decoded node takes 8.5 times that in memory (HDF5 1.10's native key holds 33
 * dimensions whatever the rank: 65 keys x 272 bytes = 17.7 KB). Reading a file chunk
 * by chunk therefore pinned memory in proportion to its number of chunks: 462 nodes,
 * 8.2 MB of heap, for 21 columns of 20M rows in 16,384-row chunks (heaptrack: H5B_find
 * -> H5AC_protect -> H5FL_blk_malloc), the whole file's index; HDF5 held 27.7 MB at
 * the peak of a 20M-row CSV fit writing and reading its --cache file.
 * With a fixed cache of SFI_H5_MDC_BYTES the nodes beyond it are evicted (least
 * recently used first) and their memory goes back to HDF5's free lists, which HDF5
 * bounds itself (1 MiB a list). A lookup needs only the path from the root to one
 * leaf, so a reader's working set is a few nodes a dataset; one that does not fit is
 * read again from the file (the page cache): no measurable cost on a 20M-row scaler
 * pass even with a 4 KiB cache. */
#ifndef SF_HDF5_MDC_H
#define SF_HDF5_MDC_H

#include <hdf5.h>

#include "core/sf_internal.h"

/* On-disk bytes of metadata the cache holds (HDF5 counts entries by their size on
 * disk): 64 B-tree nodes of a 1-D dataset, at most ~1.1 MB of decoded nodes. Measured
 * on the 20M-row, 21-column scaler pass with 2 threads (5 runs each): 512 KiB costs
 * 3.5 MiB more peak RSS for cpu time within the noise (2% less, median). */
#define SFI_H5_MDC_BYTES ((size_t)128 << 10)

/* The cache of a file an HDF5 sink writes (io/hdf5_sink.c). A writer appends: its
 * working set is the right-most path of each dataset's chunk B-tree (two or three
 * nodes of ~2-2.6 KiB on disk) and the few headers it updates, yet an LRU cache
 * keeps every node it has made until it is full, so SFI_H5_MDC_BYTES (~55 nodes,
 * ~1 MB decoded) filled up only on large files: `convert --formula` of 25M rows
 * (1,526 chunks a dataset) held ~1 MB more than of 2.5M rows (153 chunks, about
 * ten nodes in all). Measured with 2 threads, the ordered-output hold off
 * (SF_PREDICT_HOLD_BYTES=1) and the source's per-segment bad-row logs made small,
 * so that only the sink differs: peak RSS 2.5M / 25M rows uncompressed 31.0 /
 * 31.2 MiB (128 KiB: 31.1 / 32.4), zlib-1 33.9 / 34.8 (34.0 / 35.7); cpu at 25M
 * 5.2-5.5 s against 5.9-6.1 uncompressed, 10.2-10.4 against 10.1-10.6 zlib-1. */
#define SFI_H5_MDC_SINK_BYTES ((size_t)16 << 10)

/* A new file-access property list (close it with H5Pclose) with the fixed metadata
 * cache above, or -1 when HDF5 cannot make one (then open with H5P_DEFAULT). Runs
 * HDF5 calls: call it inside the caller's H5E_BEGIN_TRY. */
SFI_FUNC hid_t sfi_h5_fapl_new(void);

/* The same with a cache of `bytes` (at least HDF5's minimum, 1 KiB). */
SFI_FUNC hid_t sfi_h5_fapl_sized(size_t bytes);

#endif
