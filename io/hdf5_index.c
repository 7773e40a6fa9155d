/* hdf5_index.c — a chunked dataset's version-1 B-tree chunk index read with pread
 * (see hdf5_index.h for why).
 *
 * Formats, from the HDF5 File Format Specification (version 2/3 documents) and
 * HDF5 1.10's own readers, which this follows field for field (ours, not copied):
 *   - object header prefix, version 1 (H5Ocache.c, H5O__prefix_deserialize):
 *     version 1, reserved, message count (2), reference count (4), chunk 0's size
 *     (4), padding to 16 bytes; messages: type (2), size (2, a multiple of 8),
 *     flags (1), reserved (3), data. No signature, no checksum.
 *   - version 2: "OHDR", version 2, flags, four times (16, flags bit 5), attribute
 *     phase change (4, bit 4), chunk 0's size (1/2/4/8 bytes by flags bits 0-1);
 *     messages: type (1), size (2), flags (1), creation order (2, flags bit 2),
 *     data; a gap shorter than a message header may end a chunk; each chunk ends
 *     in a lookup3 checksum of the bytes before it; continuation chunks begin
 *     "OCHK" (H5O__chunk_deserialize).
 *   - continuation message (type 0x10): address, length (sizeof_size bytes): a
 *     further chunk of messages.
 *   - data layout message (type 8), version 3, class 2 (chunked): dimensionality
 *     (rank + 1), the B-tree's address, then rank + 1 four-byte chunk dimensions,
 *     the last the element size (H5Olayout.c, H5O__layout_decode). Version 4
 *     (fixed/extensible arrays, version-2 B-trees) is not read here.
 *   - version-1 B-tree node (H5Bcache.c, H5B__cache_deserialize): "TREE", node type
 *     (1 = chunks), level (0 = leaf), entries used (2), left and right siblings,
 *     then key 0, child 0, ..., child n-1, key n. A chunk key (H5Dbtree.c,
 *     H5D__btree_decode_key) is the stored size (4), filter mask (4) and rank + 1
 *     eight-byte element offsets (the last 0). Child i holds the keys in
 *     [key i, key i+1); at a leaf, child i is the address of the chunk key i
 *     describes.
 * Every read is bounded and checked; the walk requires keys strictly increasing
 * within a node and chunks strictly increasing across the walk, levels falling by
 * one, and caps the nodes it reads, so a damaged file ends in `false`, never a
 * fault or a loop. */
#define _GNU_SOURCE
#include "io/hdf5_index.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OH_MAX_CHUNK ((uint64_t)1 << 24) /* an object header chunk larger is refused */
#define OH_MAX_CHUNKS 64                  /* continuation chunks followed at most */
#define BT_MAX_LEVEL 32                   /* deeper B-trees are refused */
#define MSG_CONT 0x10
#define MSG_LAYOUT 0x08

/* ------------------------------------------------------------ lookup3 */

#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

/* Bob Jenkins' lookup3.c, hashlittle() read byte by byte (HDF5: H5checksum.c,
 * H5_checksum_lookup3): the checksum of version-2 object header chunks. */
uint32_t sfi_h5_lookup3(const unsigned char *k, size_t n, uint32_t init)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n + init;
    while (n > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= ROT(c, 4), c += b;
        b -= a, b ^= ROT(a, 6), a += c;
        c -= b, c ^= ROT(b, 8), b += a;
        a -= c, a ^= ROT(c, 16), c += b;
        b -= a, b ^= ROT(a, 19), a += c;
        c -= b, c ^= ROT(b, 4), b += a;
        n -= 12;
        k += 12;
    }
    if (n == 0) return c;
    uint32_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) w[i / 4] += (uint32_t)k[i] << (8 * (i % 4));
    a += w[0], b += w[1], c += w[2];
    c ^= b, c -= ROT(b, 14);
    a ^= c, a -= ROT(c, 11);
    b ^= a, b -= ROT(a, 25);
    c ^= b, c -= ROT(b, 16);
    a ^= c, a -= ROT(c, 4);
    b ^= a, b -= ROT(a, 14);
    c ^= b, c -= ROT(b, 24);
    return c;
}

/* ------------------------------------------------------------ reading */

static uint64_t le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* An address of n bytes; UINT64_MAX for HDF5's undefined address (all ones). */
static uint64_t le_addr(const unsigned char *p, unsigned n)
{
    uint64_t v = le(p, n);
    return n < 8 && v == (((uint64_t)1 << (8 * n)) - 1) ? UINT64_MAX : v;
}

/* Reads n bytes at HDF5 address addr: all of them, or false. */
static bool read_at(int fd, uint64_t base, uint64_t addr, unsigned char *buf, size_t n)
{
    if (addr == UINT64_MAX || addr > (uint64_t)INT64_MAX - base || n > (uint64_t)INT64_MAX - base - addr)
        return false;
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(base + addr + got));
        if (k <= 0) return false;
        got += (size_t)k;
    }
    return true;
}

/* ------------------------------------------------------------ object header */

typedef struct {
    int fd;
    uint64_t base;
    unsigned sa, ss;            /* sizeof_addr, sizeof_size */
    int version;                /* 1 or 2 */
    unsigned oh_flags;          /* version 2's prefix flags */
    uint64_t cont_addr[OH_MAX_CHUNKS], cont_len[OH_MAX_CHUNKS];
    size_t n_cont;
    const unsigned char *layout; /* the layout message's data (in `held`) */
    size_t layout_len;
    int n_layout;
    unsigned char *held;         /* the chunk holding it (owned) */
} oh_walk;

/* The messages of one header chunk: msgs[0, n). false when malformed. */
static bool oh_messages(oh_walk *w, const unsigned char *msgs, size_t n)
{
    size_t hdr = w->version == 1 ? 8 : 4 + ((w->oh_flags & 0x04) ? 2 : 0);
    size_t at = 0;
    while (n - at >= hdr) {
        const unsigned char *m = msgs + at;
        unsigned type = w->version == 1 ? (unsigned)le(m, 2) : m[0];
        size_t size = (size_t)le(m + (w->version == 1 ? 2 : 1), 2);
        unsigned flags = m[w->version == 1 ? 4 : 3];
        if (size > n - at - hdr || (w->version == 1 && size % 8)) return false;
        const unsigned char *data = m + hdr;
        if (type == MSG_CONT) {
            if (size < (size_t)w->sa + w->ss || w->n_cont == OH_MAX_CHUNKS) return false;
            w->cont_addr[w->n_cont] = le_addr(data, w->sa);
            w->cont_len[w->n_cont++] = le(data + w->sa, w->ss);
        } else if (type == MSG_LAYOUT) {
            if (flags & 0x02) return false; /* "shared": a layout never is */
            w->n_layout++;
            w->layout = data;
            w->layout_len = size;
        }
        at += hdr + size;
    }
    /* version 1 chunks hold whole messages; version 2 may end in a short gap */
    return w->version == 2 || at == n;
}

/* Reads one header chunk of `len` bytes at addr (the first: prefix included) and
 * walks its messages. The chunk is kept when it holds the layout message. */
static bool oh_chunk(oh_walk *w, uint64_t addr, uint64_t len, bool first)
{
    if (len < 8 || len > OH_MAX_CHUNK) return false;
    unsigned char *buf = malloc((size_t)len);
    if (!buf || !read_at(w->fd, w->base, addr, buf, (size_t)len)) {
        free(buf);
        return false;
    }
    size_t start = 0, end = (size_t)len;
    bool ok = true;
    if (w->version == 2) {
        /* a lookup3 checksum of the bytes before it ends every chunk */
        end -= 4;
        ok = sfi_h5_lookup3(buf, end, 0) == (uint32_t)le(buf + end, 4);
        if (first) {
            start = 6 + ((w->oh_flags & 0x20) ? 16 : 0) + ((w->oh_flags & 0x10) ? 4 : 0) +
                    ((size_t)1 << (w->oh_flags & 3));
        } else {
            ok = ok && memcmp(buf, "OCHK", 4) == 0;
            start = 4;
        }
    } else if (first)
        start = 16;
    ok = ok && start <= end;
    int had = w->n_layout;
    if (ok) ok = oh_messages(w, buf + start, end - start);
    if (w->n_layout > had) {
        free(w->held); /* a second layout message: refused by the caller */
        w->held = buf;
    } else
        free(buf);
    return ok;
}

/* Finds the layout message of the object header at addr (w->layout). */
static bool oh_read(oh_walk *w, uint64_t addr)
{
    unsigned char pre[48];
    if (!read_at(w->fd, w->base, addr, pre, 16)) return false;
    uint64_t len;
    if (memcmp(pre, "OHDR", 4) == 0) {
        w->version = 2;
        if (pre[4] != 2 || (pre[5] & ~0x3fu)) return false;
        w->oh_flags = pre[5];
        size_t at = 6 + ((pre[5] & 0x20) ? 16 : 0) + ((pre[5] & 0x10) ? 4 : 0);
        unsigned nb = 1u << (pre[5] & 3);
        if (!read_at(w->fd, w->base, addr, pre, at + nb)) return false;
        len = le(pre + at, nb);
        if (len > OH_MAX_CHUNK) return false;
        len += at + nb + 4; /* prefix, messages, checksum */
    } else {
        if (pre[0] != 1) return false;
        w->version = 1;
        len = le(pre + 8, 4);
        if (len > OH_MAX_CHUNK) return false;
        len += 16;
    }
    if (!oh_chunk(w, addr, len, true)) return false;
    for (size_t i = 0; i < w->n_cont; i++)
        if (!oh_chunk(w, w->cont_addr[i], w->cont_len[i], false)) return false;
    return w->n_layout == 1;
}

/* The layout message: version 3, chunked, the rank and shape HDF5 reports. */
static bool parse_layout(sfi_h5idx *ix, const unsigned char *p, size_t n)
{
    if (n < 3 || p[0] != 3 || p[1] != 2 || p[2] != ix->rank + 1) return false;
    size_t need = 3 + ix->sizeof_addr + 4 * (size_t)(ix->rank + 1);
    if (n < need) return false;
    ix->btree = le_addr(p + 3, ix->sizeof_addr);
    const unsigned char *d = p + 3 + ix->sizeof_addr;
    for (unsigned u = 0; u < ix->rank; u++)
        if (le(d + 4 * u, 4) != ix->cdims[u]) return false;
    return le(d + 4 * ix->rank, 4) == ix->esize && ix->btree != UINT64_MAX;
}

/* ------------------------------------------------------------ the B-tree */

typedef struct {
    const sfi_h5idx *ix;
    int fd;
    uint64_t lo, hi;        /* chunk rows wanted */
    size_t tiles;
    sfi_h5chunk *out;
    unsigned ks;            /* bytes a key */
    uint64_t last[3];       /* the last chunk met (element offsets) */
    bool any;
    size_t budget;          /* nodes left to read */
} bt_walk;

static int key_cmp(const unsigned char *a, const unsigned char *b, unsigned n)
{
    for (unsigned u = 0; u < n; u++) {
        uint64_t x = le(a + 8 + 8 * u, 8), y = le(b + 8 + 8 * u, 8);
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

/* One leaf entry: key k, chunk address addr. */
static bool bt_chunk(bt_walk *w, const unsigned char *k, uint64_t addr)
{
    const sfi_h5idx *ix = w->ix;
    unsigned nd = ix->rank + 1;
    uint64_t off[3] = {0, 0, 0};
    for (unsigned u = 0; u < nd; u++) off[u] = le(k + 8 + 8 * u, 8);
    if (w->any) {
        int c = 0;
        for (unsigned u = 0; u < nd && !c; u++) c = off[u] < w->last[u] ? -1 : off[u] > w->last[u];
        if (c <= 0) return false; /* chunks strictly increasing across the tree */
    }
    memcpy(w->last, off, sizeof off);
    w->any = true;
    uint32_t size = (uint32_t)le(k, 4);
    if (off[ix->rank] != 0 || size == 0 || addr == UINT64_MAX || off[0] % ix->cdims[0] ||
        (ix->rank == 2 && off[1] % ix->cdims[1]))
        return false;
    uint64_t ci = off[0] / ix->cdims[0];
    if (ci < w->lo || ci >= w->hi || off[0] >= ix->dims[0] || (ix->rank == 2 && off[1] >= ix->dims[1]))
        return true; /* outside the window, or past the extent (a shrunk dataset) */
    size_t t = ix->rank == 2 ? (size_t)(off[1] / ix->cdims[1]) : 0;
    sfi_h5chunk *e = &w->out[(size_t)(ci - w->lo) * w->tiles + t];
    e->addr = addr;
    e->size = size;
    e->mask = (uint32_t)le(k + 4, 4);
    return true;
}

/* The node at addr, expected at `level` (-1: the root, any level). */
static bool bt_node(bt_walk *w, uint64_t addr, int level)
{
    if (w->budget == 0) return false;
    w->budget--;
    unsigned sa = w->ix->sizeof_addr;
    size_t head = 8 + 2 * (size_t)sa;
    unsigned char h[24];
    if (!read_at(w->fd, w->ix->base, addr, h, head) || memcmp(h, "TREE", 4) != 0 || h[4] != 1) return false;
    int lev = h[5];
    size_t n = (size_t)le(h + 6, 2);
    if ((level >= 0 && lev != level) || lev > BT_MAX_LEVEL || n == 0) return false;
    size_t step = w->ks + sa, len = head + n * step + w->ks;
    unsigned char *buf = malloc(len);
    if (!buf || !read_at(w->fd, w->ix->base, addr, buf, len)) {
        free(buf);
        return false;
    }
    const unsigned char *k0 = buf + head;
    unsigned nd = w->ix->rank + 1;
    uint64_t lo_row = w->lo * w->ix->cdims[0], hi_row = w->hi * w->ix->cdims[0];
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const unsigned char *k = k0 + i * step, *kn = k + step;
        uint64_t child = le_addr(k + w->ks, sa);
        /* left keys strictly increasing (the right-most key of a tree may be odd:
         * H5D__btree_cmp3; the walk checks the chunks themselves in order) */
        bool rightmost = i + 1 == n;
        ok = rightmost || key_cmp(k, kn, nd) < 0;
        if (!ok) break;
        if (lev == 0) ok = bt_chunk(w, k, child);
        else if (le(k + 8, 8) < hi_row && (rightmost || le(kn + 8, 8) >= lo_row))
            /* child i holds the keys in [key i, key i+1): rows in the window */
            ok = bt_node(w, child, lev - 1);
    }
    free(buf);
    return ok;
}

bool sfi_h5idx_fill(const sfi_h5idx *ix, int fd, uint64_t lo, uint64_t hi, sfi_h5chunk *out)
{
    if (ix->state <= 0 || lo >= hi) return false;
    size_t tiles = sfi_h5idx_tiles(ix);
    bt_walk w = {.ix = ix, .fd = fd, .lo = lo, .hi = hi, .tiles = tiles, .out = out,
                 .ks = 8 + 8 * (ix->rank + 1)};
    uint64_t n = hi - lo;
    if (n > SIZE_MAX / sizeof *out / tiles) return false;
    memset(out, 0, (size_t)n * tiles * sizeof *out);
    /* a whole tree's nodes for a window of n rows, at the sparsest fill HDF5 leaves */
    w.budget = 256 + 8 * (size_t)n * tiles;
    return bt_node(&w, ix->btree, -1);
}

size_t sfi_h5idx_tiles(const sfi_h5idx *ix)
{
    return ix->rank == 2 ? (size_t)((ix->dims[1] + ix->cdims[1] - 1) / ix->cdims[1]) : 1;
}

/* ------------------------------------------------------------ opening */

/* Our chunk (ci, t) against H5Dget_chunk_info_by_coord's. */
static bool agrees(const sfi_h5idx *ix, hid_t dset, int fd, uint64_t ci, size_t t)
{
    size_t tiles = sfi_h5idx_tiles(ix);
    sfi_h5chunk *row = malloc(tiles * sizeof *row);
    bool ok = row && sfi_h5idx_fill(ix, fd, ci, ci + 1, row);
    hsize_t off[2] = {ci * ix->cdims[0], (hsize_t)t * ix->cdims[1]}, size = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask = 0;
    if (ok && H5Dget_chunk_info_by_coord(dset, off, &mask, &addr, &size) < 0) ok = false;
    if (ok) {
        const sfi_h5chunk *e = &row[t];
        ok = addr == HADDR_UNDEF ? e->size == 0
                                 : e->size != 0 && e->addr == addr && e->size == size && e->mask == mask;
    }
    free(row);
    return ok;
}

void sfi_h5idx_open(sfi_h5idx *ix, hid_t fid, hid_t dset, int fd, uint64_t base)
{
    memset(ix, 0, sizeof *ix);
    ix->state = -1;
    ix->base = base;
    if (fd < 0) return;
    hid_t fcpl = H5Fget_create_plist(fid), dcpl = H5Dget_create_plist(dset);
    hid_t sp = H5Dget_space(dset), ft = H5Dget_type(dset);
    size_t sa = 0, ss = 0;
    unsigned intent = 0;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[2] = {0, 1}, cdims[2] = {0, 1};
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    haddr_t oaddr = HADDR_UNDEF;
#define SFI_OH_ADDR(d) \
    (H5Oget_info3(d, &oi, H5O_INFO_BASIC) >= 0 && H5VLnative_token_to_addr(d, oi.token, &oaddr) >= 0)
#else
    H5O_info_t oi;
    haddr_t oaddr = HADDR_UNDEF;
#define SFI_OH_ADDR(d) (H5Oget_info2(d, &oi, H5O_INFO_BASIC) >= 0 && (oaddr = oi.addr, true))
#endif
    bool ok = fcpl >= 0 && dcpl >= 0 && ft >= 0 && (rank == 1 || rank == 2) &&
              H5Fget_intent(fid, &intent) >= 0 && intent == H5F_ACC_RDONLY &&
              H5Pget_sizes(fcpl, &sa, &ss) >= 0 && (sa == 2 || sa == 4 || sa == 8) &&
              (ss == 2 || ss == 4 || ss == 8) && H5Pget_layout(dcpl) == H5D_CHUNKED &&
              H5Sget_simple_extent_dims(sp, dims, NULL) == rank && H5Pget_chunk(dcpl, rank, cdims) == rank &&
              SFI_OH_ADDR(dset) && oaddr != HADDR_UNDEF;
    if (ok) {
        ix->rank = (unsigned)rank;
        ix->sizeof_addr = (unsigned)sa;
        ix->dims[0] = dims[0], ix->dims[1] = dims[1];
        ix->cdims[0] = cdims[0], ix->cdims[1] = cdims[1];
        ix->esize = (uint32_t)H5Tget_size(ft);
        ok = ix->esize > 0 && cdims[0] > 0 && cdims[1] > 0 && dims[0] > 0 && dims[1] > 0;
    }
    if (H5Iis_valid(fcpl) > 0) H5Pclose(fcpl);
    if (H5Iis_valid(dcpl) > 0) H5Pclose(dcpl);
    if (H5Iis_valid(sp) > 0) H5Sclose(sp);
    if (H5Iis_valid(ft) > 0) H5Tclose(ft);
    if (!ok) return;
    oh_walk w = {.fd = fd, .base = base, .sa = (unsigned)sa, .ss = (unsigned)ss};
    ok = oh_read(&w, oaddr) && parse_layout(ix, w.layout, w.layout_len);
    free(w.held);
    if (!ok) return;
    /* the first and the last chunk as HDF5 finds them (the last: a walk of the
     * whole index, once) */
    ix->state = 1;
    uint64_t last = (ix->dims[0] - 1) / ix->cdims[0];
    if (!agrees(ix, dset, fd, 0, 0) || !agrees(ix, dset, fd, last, sfi_h5idx_tiles(ix) - 1)) ix->state = -1;
}
