#!/usr/bin/python3
"""h5py's baseline for bench/read.sh: read the column group that `streamfit
convert` writes (one 1-D dataset per column, order in the "columns" attribute)
in blocks of N rows, every column of a block before the next block.

    /usr/bin/python3 bench/read_h5py.py FILE.h5 [GROUP] [--rows N] [--csv-bytes B]

GROUP defaults to "/", N to 50000 (streamfit's --chunk-rows). Each block is read
with ds.read_direct into a preallocated array (numeric) or ds[a:b] (strings).
Prints rows, seconds and MB/s, counted in --csv-bytes (the CSV's size) when given
so the figure compares with the CSV runs, else in the HDF5 file's size.
"""
import argparse
import os
import time

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("group", nargs="?", default="/")
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--csv-bytes", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    with h5py.File(a.path, "r") as f:
        g = f[a.group]
        names = list(g.attrs["columns"]) if "columns" in g.attrs else list(g.keys())
        names = [n.decode() if isinstance(n, bytes) else n for n in names]
        dsets = [g[n.replace("/", "%2F")] for n in names]
        n = dsets[0].shape[0]
        bufs = [np.empty(a.rows, dtype=d.dtype) if d.dtype.kind in "fiub" else None for d in dsets]
        rows = 0
        for start in range(0, n, a.rows):
            stop = min(start + a.rows, n)
            for d, b in zip(dsets, bufs):
                if b is not None:
                    d.read_direct(b, np.s_[start:stop], np.s_[0:stop - start])
                else:
                    d[start:stop]
            rows += stop - start
    dt = time.perf_counter() - t0
    mb = (a.csv_bytes or os.path.getsize(a.path)) / 1e6
    print("%d rows, %d columns, %.1f MB in %.3f s: %.1f MB/s" % (rows, len(dsets), mb, dt, mb / dt))


if __name__ == "__main__":
    main()
