#!/usr/bin/python3
"""Seed 000's workflow in Python, the peer of `streamfit convert --formula`:
pandas.read_csv(chunksize=50000) -> patsy.dmatrices per chunk -> PyTables EArray
appends of X and y, as the post does (zlib level 1, or uncompressed).

    design_patsy.py DATA.csv OUT.h5 COMPLEVEL [FORMULA]

The default formula is the post's with a response: "y ~ 0 + a + b + c + d + d:c +
a:b + a:c + C(cat1, Treatment, levels = lnames)" with lnames = np.arange(5).
Prints rows, columns and the seconds spent in read_csv, patsy and PyTables.
"""
import sys
import time

import numpy as np
import pandas as pd
import patsy
import tables

lnames = np.arange(5)  # noqa: F841  (the formula names it)


def main():
    data, out, complevel = sys.argv[1], sys.argv[2], int(sys.argv[3])
    formula = sys.argv[4] if len(sys.argv) > 4 else \
        "y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)"
    filters = tables.Filters(complevel=complevel, complib="zlib") if complevel else None
    h5 = tables.open_file(out, mode="w")
    x_arr = y_arr = None
    t_read = t_patsy = t_write = 0.0
    rows = 0
    t0 = time.perf_counter()
    for chunk in pd.read_csv(data, chunksize=50000):
        t1 = time.perf_counter()
        y, X = patsy.dmatrices(formula, chunk, eval_env=0)
        t2 = time.perf_counter()
        if x_arr is None:
            x_arr = h5.create_earray(h5.root, "X", tables.Float64Atom(), shape=(0, X.shape[1]),
                                     filters=filters, expectedrows=2500000)
            y_arr = h5.create_earray(h5.root, "y", tables.Float64Atom(), shape=(0,),
                                     filters=filters, expectedrows=2500000)
        x_arr.append(np.asarray(X))
        y_arr.append(np.asarray(y)[:, 0])
        t3 = time.perf_counter()
        t_read += t1 - t0
        t_patsy += t2 - t1
        t_write += t3 - t2
        rows += X.shape[0]
        t0 = time.perf_counter()
    columns = x_arr.shape[1]
    h5.close()
    print("rows %d columns %d read_csv %.2f s patsy %.2f s pytables %.2f s" % (rows, columns, t_read, t_patsy, t_write))


if __name__ == "__main__":
    main()
