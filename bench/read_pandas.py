#!/usr/bin/python3
"""pandas' baseline for bench/read.sh: read a CSV in chunks and drop them.

    /usr/bin/python3 bench/read_pandas.py FILE.csv [--round-trip] [--chunksize N]

read_csv(FILE, chunksize=N) (default 50000, as streamfit's --chunk-rows) with the
default C parser and float converter, or float_precision="round_trip" (exact
shortest-round-trip parsing, what streamfit's number parser does). Each chunk is
consumed with len(chunk). Prints rows, columns, seconds and MB/s (file bytes) of
the read loop alone; bench/read.sh times the whole process (imports included).
"""
import argparse
import os
import time

import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--round-trip", action="store_true")
    ap.add_argument("--chunksize", type=int, default=50000)
    a = ap.parse_args()
    kw = {"float_precision": "round_trip"} if a.round_trip else {}
    t0 = time.perf_counter()
    rows = cols = 0
    with pd.read_csv(a.path, chunksize=a.chunksize, **kw) as reader:
        for chunk in reader:
            rows += len(chunk)
            cols = chunk.shape[1]
    dt = time.perf_counter() - t0
    mb = os.path.getsize(a.path) / 1e6
    print("%d rows, %d columns, %.1f MB in %.3f s: %.1f MB/s" % (rows, cols, mb, dt, mb / dt))


if __name__ == "__main__":
    main()
