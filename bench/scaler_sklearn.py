#!/usr/bin/python3
"""scikit-learn's peer for bench/scaler.sh: one StandardScaler pass fed in chunks.

    /usr/bin/python3 bench/scaler_sklearn.py FILE.csv|FILE.h5 [--target y] [--chunk-rows N]
        [--fast-parse] [--json OUT]

CSV: pandas.read_csv(FILE, chunksize=N, float_precision="round_trip") (the exact
parse streamfit does; --fast-parse uses pandas' default, inexact float parser).
HDF5: the column group `streamfit convert` writes (one 1-D dataset per column,
order in the "columns" attribute), each N-row block read with h5py's read_direct
into a preallocated (N, p) float64 array, column by column.
Every column but --target is a feature, as `streamfit fit --target y` does; each
chunk goes to StandardScaler.partial_fit. N defaults to 50000 (streamfit's
--chunk-rows). Prints rows, features, seconds of the pass and the fitted mean_[0],
var_[0]; --json writes mean_ and var_ (for bench/scaler.sh to compare with
`streamfit export --json`).
"""
import argparse
import json
import time

import numpy as np
from sklearn.preprocessing import StandardScaler


def chunks_csv(path, target, n, fast):
    import pandas as pd
    kw = {} if fast else {"float_precision": "round_trip"}
    with pd.read_csv(path, chunksize=n, **kw) as reader:
        for chunk in reader:
            yield chunk.drop(columns=[target]).to_numpy(dtype=np.float64)


def chunks_h5(path, target, n):
    import h5py
    with h5py.File(path, "r") as f:
        names = [c.decode() if isinstance(c, bytes) else c for c in f.attrs.get("columns", list(f.keys()))]
        names = [c for c in names if c != target]
        dsets = [f[c.replace("/", "%2F")] for c in names]
        rows = dsets[0].shape[0]
        buf = np.empty((len(dsets), n), dtype=np.float64)
        for start in range(0, rows, n):
            stop = min(start + n, rows)
            k = stop - start
            for j, d in enumerate(dsets):
                d.read_direct(buf[j], np.s_[start:stop], np.s_[0:k])
            yield buf[:, :k].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--target", default="y")
    ap.add_argument("--chunk-rows", type=int, default=50000)
    ap.add_argument("--fast-parse", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    t0 = time.perf_counter()
    if a.path.endswith((".h5", ".hdf5")):
        it = chunks_h5(a.path, a.target, a.chunk_rows)
    else:
        it = chunks_csv(a.path, a.target, a.chunk_rows, a.fast_parse)
    sc = StandardScaler()
    rows = p = 0
    for x in it:
        sc.partial_fit(x)
        rows += x.shape[0]
        p = x.shape[1]
    dt = time.perf_counter() - t0
    print("%d rows, %d features in %.3f s; mean_[0] %r var_[0] %r" % (rows, p, dt, sc.mean_[0], sc.var_[0]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"mean_": sc.mean_.tolist(), "var_": sc.var_.tolist()}, f)


if __name__ == "__main__":
    main()
