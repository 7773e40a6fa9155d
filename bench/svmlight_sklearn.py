#!/usr/bin/python3
"""scikit-learn's path for bench/svmlight.sh: load_svmlight_file (it cannot
stream: the whole file becomes one CSR matrix in memory), then
SGDClassifier(loss=hinge, shuffle=False).partial_fit over chunks of N rows
(classes given), in file order as streamfit learns.

    /usr/bin/python3 bench/svmlight_sklearn.py DATA.svm N_FEATURES PRED_OUT [--rows N] [--check K]

Prints the seconds spent loading and in partial_fit; writes the predictions of
the first K rows (default 10000), one a line, to PRED_OUT for the comparison
with streamfit's.
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import SGDClassifier

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("n_features", type=int)
ap.add_argument("pred_out")
ap.add_argument("--rows", type=int, default=16384)
ap.add_argument("--check", type=int, default=10000)
a = ap.parse_args()
t0 = time.perf_counter()
X, y = load_svmlight_file(a.data, n_features=a.n_features, zero_based=False)
t1 = time.perf_counter()
m = SGDClassifier(loss="hinge", shuffle=False)
classes = np.unique(y)
for s in range(0, X.shape[0], a.rows):
    m.partial_fit(X[s:s + a.rows], y[s:s + a.rows], classes=classes)
t2 = time.perf_counter()
np.savetxt(a.pred_out, m.predict(X[:a.check]), fmt="%.17g")
print("load %.3f s, partial_fit %.3f s, %d rows, %d stored values" % (t1 - t0, t2 - t1, X.shape[0], X.nnz))
