#!/usr/bin/python3
"""scikit-learn's path for bench/sgd.sh (seed 001): chunks from h5py or pandas ->
StandardScaler.partial_fit (pass 1) -> transform + SGDClassifier.partial_fit
(pass 2, shuffle=False, the same data order as streamfit), or prediction of a
fitted model chunk by chunk.

    /usr/bin/python3 bench/sgd_sklearn.py fit DATA MODEL.pkl [--loss log_loss] [--rows N]
    /usr/bin/python3 bench/sgd_sklearn.py predict DATA MODEL.pkl OUT.h5 [--rows N]

DATA is a CSV (pandas read_csv(chunksize=N, float_precision="round_trip")) or an
HDF5 column group as `streamfit convert` writes it (one 1-D dataset per column,
order in the "columns" attribute; target column "y"). N defaults to 50000
(streamfit's --chunk-rows). fit prints the seconds spent in partial_fit of each
stage; predict writes the predictions as streamfit does: a 1-D float64 dataset
named after the target ("y") in a group whose "columns" attribute lists it.
"""
import argparse
import pickle
import time

import h5py
import numpy as np
import pandas as pd
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler


def chunks(path, rows):
    """Yields (X, y) blocks in file order."""
    if path.endswith(".csv"):
        for d in pd.read_csv(path, chunksize=rows, float_precision="round_trip"):
            y = d.pop("y").to_numpy(dtype=np.float64)
            yield d.to_numpy(dtype=np.float64), y
        return
    with h5py.File(path, "r") as f:
        cols = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["columns"]]
        feats = [c for c in cols if c != "y"]
        n = f[feats[0]].shape[0]
        for a in range(0, n, rows):
            b = min(n, a + rows)
            X = np.empty((b - a, len(feats)), order="F")  # columns contiguous for read_direct
            for j, c in enumerate(feats):
                f[c].read_direct(X[:, j], np.s_[a:b])
            yield X, f["y"][a:b].astype(np.float64)


def fit(a):
    sc = StandardScaler()
    t_sc = t_sgd = 0.0
    for X, _ in chunks(a.data, a.rows):
        t = time.perf_counter()
        sc.partial_fit(X)
        t_sc += time.perf_counter() - t
    clf = SGDClassifier(loss=a.loss, shuffle=False)
    for X, y in chunks(a.data, a.rows):
        t = time.perf_counter()
        clf.partial_fit(sc.transform(X), y, classes=np.array([0.0, 1.0]))
        t_sgd += time.perf_counter() - t
    with open(a.model, "wb") as f:
        pickle.dump((sc, clf), f)
    print("scaler partial_fit %.3f s, sgd transform+partial_fit %.3f s, t_ %d" % (t_sc, t_sgd, clf.t_))


def predict(a):
    with open(a.model, "rb") as f:
        sc, clf = pickle.load(f)
    out = [clf.predict(sc.transform(X)) for X, _ in chunks(a.data, a.rows)]
    with h5py.File(a.out, "w") as f:  # as streamfit writes it: a column group
        f.create_dataset("y", data=np.concatenate(out))
        f.attrs["columns"] = ["y"]
    print("rows %d" % sum(len(o) for o in out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("verb", choices=["fit", "predict"])
    ap.add_argument("data")
    ap.add_argument("model")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--loss", default="log_loss")
    ap.add_argument("--rows", type=int, default=50000)
    a = ap.parse_args()
    fit(a) if a.verb == "fit" else predict(a)


if __name__ == "__main__":
    main()
