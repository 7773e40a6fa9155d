#!/usr/bin/python3
"""scikit-learn's side of bench/kmeans.sh: MiniBatchKMeans.partial_fit over fixed chunks.

usage: kmeans_sklearn.py FILE.h5 CHUNK_ROWS K SEED [OUT_CENTERS.npy]
Reads x0..x{p-1} of FILE.h5 with h5py (timed apart), then times partial_fit over
consecutive CHUNK_ROWS-row chunks (the last one shorter) with random_state=SEED,
n_init=1, defaults otherwise (batch_size 1024, reassignment_ratio 0.01,
compute_labels=True), and the inertia of the final centers over all rows (score).
Prints: read_s fit_s inertia n_steps
"""
import sys
import time
import warnings

import h5py
import numpy as np
from sklearn.cluster import MiniBatchKMeans

warnings.simplefilter("ignore")
path, chunk, k, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
with h5py.File(path, "r") as f:
    cols = sorted((c for c in f.keys() if c.startswith("x")), key=lambda c: int(c[1:]))
    X = np.empty((f[cols[0]].shape[0], len(cols)))
    for j, c in enumerate(cols):
        X[:, j] = f[c][:]
t1 = time.perf_counter()
m = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1)
for a in range(0, X.shape[0], chunk):
    m.partial_fit(X[a:a + chunk])
t2 = time.perf_counter()
inertia = -m.score(X)
if len(sys.argv) > 5:
    np.save(sys.argv[5], m.cluster_centers_)
print("%.3f %.3f %r %d" % (t1 - t0, t2 - t1, inertia, m.n_steps_))
