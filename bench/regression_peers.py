#!/usr/bin/python3
"""The Python side of bench/regression.sh: seed 000's workflow and its peers.

  design CSV OUT.h5 LEVEL   pandas + patsy from CSV (the post's design: patsy's
                            dmatrices of FORMULA), written with h5py as /X and /y,
                            deflate LEVEL (0 = uncompressed, contiguous)
  solve H5 METHOD           the coefficients from the HDF5 design by METHOD:
                              dask_solve   da.linalg.solve(X.T @ X, X.T @ y) (the post)
                              dask_lstsq   da.linalg.lstsq(X, y) (TSQR)
                              numpy_solve  in memory: np.linalg.solve(X.T @ X, X.T @ y)
                              lstsq        in memory: np.linalg.lstsq (the reference)
Prints one JSON line: {"seconds": inner time, "coef": [...]}; the shell measures
wall time and peak RSS of the whole process around it.
"""
import json
import sys
import time

import h5py
import numpy as np

FORMULA = "y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))"
BLOCK = 262144  # dask chunk rows: 2.5M rows -> 10 blocks


def design(csv, out, level):
    import pandas as pd
    import patsy
    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    y, X = patsy.dmatrices(FORMULA, df, return_type="matrix")
    # compressed: h5py's own chunking, as a user writing the post's file gets it
    kw = {"compression": "gzip", "compression_opts": level} if level > 0 else {}
    with h5py.File(out, "w") as f:
        f.create_dataset("X", data=np.asarray(X), **kw)
        f.create_dataset("y", data=np.asarray(y).ravel(), **kw)
    return time.perf_counter() - t0, None


def solve(path, method):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        if method.startswith("dask"):
            import dask.array as da
            X = da.from_array(f["X"], chunks=(BLOCK, f["X"].shape[1]))
            y = da.from_array(f["y"], chunks=(BLOCK,))
            if method == "dask_solve":
                coef = da.linalg.solve(X.T @ X, X.T @ y).compute()
            else:
                coef = da.linalg.lstsq(X, y)[0].compute()
        else:
            X = f["X"][...]
            y = f["y"][...]
            if method == "numpy_solve":
                coef = np.linalg.solve(X.T @ X, X.T @ y)
            else:
                coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return time.perf_counter() - t0, coef


def main():
    if sys.argv[1] == "design":
        secs, coef = design(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "solve":
        secs, coef = solve(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: regression_peers.py design CSV OUT.h5 LEVEL | solve H5 METHOD")
    print(json.dumps({"seconds": secs, "coef": None if coef is None else [repr(float(v)) for v in coef]}))


if __name__ == "__main__":
    main()
