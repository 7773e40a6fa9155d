#!/usr/bin/python3
"""scikit-learn's side of bench/kmeans.sh: MiniBatchKMeans.partial_fit over fixed chunks.

usage: kmeans_sklearn.py [--read-in-loop] FILE.h5 CHUNK_ROWS K SEED [OUT_CENTERS.npy]

partial_fit over consecutive CHUNK_ROWS-row chunks of x0..x{p-1} (the last one
shorter) with random_state=SEED, n_init=1, defaults otherwise (batch_size 1024,
reassignment_ratio 0.01, compute_labels=True).

- default (in memory): h5py reads the whole columns first (timed apart, read_s),
  then the timed loop is partial_fit alone on slices of that array (fit_s);
- --read-in-loop (out of core, as a user streaming a file does it): the timed
  loop reads each chunk's rows of every column from the open file with h5py,
  stacks them into a CHUNK_ROWS x p array and calls partial_fit (fit_s includes
  the reading; read_s is 0). Like `streamfit fit`, which reads inside its loop.

Either way the inertia of the final centers over all rows (score) is computed
after the timed loop, on the whole file read then.
Prints: read_s fit_s inertia n_steps
"""
import sys
import time
import warnings

import h5py
import numpy as np
from sklearn.cluster import MiniBatchKMeans

warnings.simplefilter("ignore")
args = sys.argv[1:]
in_loop = "--read-in-loop" in args
args = [a for a in args if a != "--read-in-loop"]
path, chunk, k, seed = args[0], int(args[1]), int(args[2]), int(args[3])


def columns(f):
    return sorted((c for c in f.keys() if c.startswith("x")), key=lambda c: int(c[1:]))


def read_all(f, cols):
    X = np.empty((f[cols[0]].shape[0], len(cols)))
    for j, c in enumerate(cols):
        X[:, j] = f[c][:]
    return X


m = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1)
with h5py.File(path, "r") as f:
    cols = columns(f)
    if in_loop:
        dsets = [f[c] for c in cols]
        n = dsets[0].shape[0]
        t0 = t1 = time.perf_counter()
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            Xc = np.empty((b - a, len(dsets)))
            for j, d in enumerate(dsets):
                Xc[:, j] = d[a:b]
            m.partial_fit(Xc)
        t2 = time.perf_counter()
        X = read_all(f, cols)
    else:
        t0 = time.perf_counter()
        X = read_all(f, cols)
        t1 = time.perf_counter()
        for a in range(0, X.shape[0], chunk):
            m.partial_fit(X[a:a + chunk])
        t2 = time.perf_counter()
inertia = -m.score(X)
if len(args) > 4:
    np.save(args[4], m.cluster_centers_)
print("%.3f %.3f %r %d" % (t1 - t0, t2 - t1, inertia, m.n_steps_))
