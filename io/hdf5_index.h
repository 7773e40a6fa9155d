/* hdf5_index.h — where a chunked HDF5 dataset's chunks are, read from its chunk
 * index with pread (io/hdf5_index.c), for io/hdf5_source.c's direct chunk reads.
 *
 * HDF5 1.10 has no chunk iterator, and H5Dget_chunk_info_by_coord walks the index
 * from its start (a lookup costs the chunk's position): looking every chunk up that
 * way is quadratic. The files we read (our sink's "1.8" format, h5py / pandas /
 * PyTables defaults) index chunks with a version-1 B-tree named by a version-3
 * layout message; this reads that tree itself, a window of chunk rows at a time, in
 * O(depth + chunks). Anything else (layout version 4 indexes, other layouts, a file
 * that does not parse, a check against HDF5 that disagrees) reports itself unusable
 * and the caller keeps HDF5's calls. Internal: not part of the public API. */
#ifndef SF_IO_HDF5_INDEX_H
#define SF_IO_HDF5_INDEX_H

#include <hdf5.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/sf_internal.h"

/* A dataset's chunk index as parsed by sfi_h5idx_open (plain values: copied freely). */
typedef struct sfi_h5idx {
    int state;             /* 0 not looked at yet, 1 usable, -1 not (use HDF5's calls) */
    unsigned rank;         /* 1 or 2 */
    unsigned sizeof_addr;  /* bytes of a file address (2, 4 or 8) */
    uint64_t btree;        /* the root node's address (HDF5's, before the base) */
    uint64_t base;         /* file offset of HDF5's address 0 (the user block) */
    uint64_t dims[2];      /* the dataset's extent (dims[1] = 1 when 1-D) */
    uint64_t cdims[2];     /* its chunk shape (cdims[1] = 1 when 1-D) */
    uint32_t esize;        /* bytes an element */
} sfi_h5idx;

/* One chunk: its HDF5 address, stored bytes (0: never written) and filter mask. */
typedef struct sfi_h5chunk {
    uint64_t addr;
    uint32_t size, mask;
} sfi_h5chunk;

/* Reads dataset dset's object header (file fid, read through descriptor fd whose
 * offset `base` is HDF5's address 0) and fills *ix: state 1 when its chunks are
 * indexed by a version-1 B-tree whose first and last chunks agree with
 * H5Dget_chunk_info_by_coord (the only HDF5 calls: once a dataset), else state -1.
 * Never fails otherwise; reads are bounded and checked. */
SFI_FUNC void sfi_h5idx_open(sfi_h5idx *ix, hid_t fid, hid_t dset, int fd, uint64_t base);

/* Chunks across a row: ceil(dims[1] / cdims[1]). */
SFI_FUNC size_t sfi_h5idx_tiles(const sfi_h5idx *ix);

/* The chunks of chunk rows [lo, hi) (rows [lo·cdims[0], hi·cdims[0])) into
 * out[(ci - lo)·tiles + t] (t: the chunk's column tile), size 0 for a chunk the
 * tree does not hold, by reading ix's B-tree from fd (no HDF5 call). false when the
 * tree does not parse (a damaged or truncated file: out is then unspecified). */
SFI_FUNC bool sfi_h5idx_fill(const sfi_h5idx *ix, int fd, uint64_t lo, uint64_t hi, sfi_h5chunk *out);

/* Jenkins' lookup3 hash ("hashlittle") of n bytes, as HDF5 checksums metadata. */
SFI_FUNC uint32_t sfi_h5_lookup3(const unsigned char *p, size_t n, uint32_t init);

#endif
