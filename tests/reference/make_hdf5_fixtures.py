#!/usr/bin/python3
"""Writes the small HDF5 fixtures of tests/test_hdf5.c into tests/data/.

Run from anywhere: /usr/bin/python3 tests/reference/make_hdf5_fixtures.py
Needs Debian's python3-tables, python3-h5py and python3-pandas. Every value is a
closed formula of the row and column index (exactly representable doubles) so the
C test recomputes it; the script draws no random numbers. HDF5 object headers may
carry modification times, so the bytes can differ between runs; the contents do not.

Files (each < 100 KB):
  xy_pytables.h5      PyTables EArrays as seed 000 writes them: /X float64 (50 x 3),
                      zlib level 1, chunkshape (8, 3), appended in two batches, X[5,1]
                      is NaN; /y float64 (50,); /y_short (49,) for the shape error;
                      /t a PyTables Table (f float64, i int32, s 4-byte string, v
                      float64[2]); /named (3 x 2) with a pickled "columns" list.
  int_matrix.h5       h5py: /M int32 (20 x 4) contiguous with a "columns" attribute of
                      variable-length strings; /F float32 (6 x 2) with a fixed-length
                      "columns" attribute; /v uint8 (20,); /flag bool (20,) (h5py
                      writes an int8 enum); /cube float64 (2 x 2 x 2).
  columns_group.h5    h5py groups of 1-D columns (12 rows): /g tracks link creation
                      order (z, a, s, v), /h does not (name order a, s, v, z), /k has a
                      "columns" attribute ["v", "z", "a"], /bad_len has columns of
                      unequal length. s is fixed-length ASCII, v variable-length UTF-8.
  pandas_table.h5     pandas to_hdf(format="table") of the frame below under key "df"
                      (values_block_* array fields, names only in pickled attributes);
                      its numeric columns in pandas' fixed format under "fixed" (refused).
  pandas_datacols.h5  the same frame with data_columns=True under key "df" (one field
                      per column) and with data_columns=["a", "s"] under key "mixed".
  string2d.h5         /S, a 2-D fixed-length string dataset (bad: not numeric).
  truncated.h5        the first 4096 bytes of xy_pytables.h5 (bad: truncated).
  not_hdf5.h5         a text file (bad: not HDF5).
"""
import os
import shutil
import warnings

import h5py
import numpy as np
import pandas as pd
import tables

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data")


def path(name):
    return os.path.join(OUT, name)


def x_value(i, j):
    # mirrored in tests/test_hdf5.c (x_value)
    return (i * 3 + j) * 0.5 - 10.0


def pytables_xy():
    n = 50
    X = np.array([[x_value(i, j) for j in range(3)] for i in range(n)])
    X[5, 1] = np.nan
    y = np.arange(n) * 0.25 + 1.0
    filters = tables.Filters(complevel=1, complib="zlib")
    with tables.open_file(path("xy_pytables.h5"), mode="w") as h5:
        xa = h5.create_earray(h5.root, "X", tables.Float64Atom(), shape=(0, 3),
                              filters=filters, chunkshape=(8, 3))
        ya = h5.create_earray(h5.root, "y", tables.Float64Atom(), shape=(0,),
                              filters=filters, chunkshape=(8,))
        ys = h5.create_earray(h5.root, "y_short", tables.Float64Atom(), shape=(0,),
                              filters=filters, chunkshape=(8,))
        for lo, hi in ((0, 23), (23, n)):  # two appends, as seed 000's loop does
            xa.append(X[lo:hi])
            ya.append(y[lo:hi])
        ys.append(y[:n - 1])
        # a plain PyTables Table (no pandas attributes): an array field expands into
        # columns "v_0", "v_1"; PyTables orders the fields by name
        desc = {"f": tables.Float64Col(pos=0), "i": tables.Int32Col(pos=1),
                "s": tables.StringCol(4, pos=2), "v": tables.Float64Col(shape=(2,), pos=3)}
        t = h5.create_table(h5.root, "t", desc, chunkshape=(4,))
        t.append([(i * 0.5, i - 2, [b"ab", b"cd", b"e"][i % 3], (i, -i)) for i in range(6)])
        # a Python list attribute, which PyTables pickles
        c = h5.create_array(h5.root, "named", np.arange(6.0).reshape(3, 2))
        c.attrs.columns = ["first", "second"]


def h5py_int_matrix():
    with h5py.File(path("int_matrix.h5"), "w") as f:
        M = np.array([[(i * 4 + j - 40) * 100000 for j in range(4)] for i in range(20)],
                     dtype=np.int32)
        d = f.create_dataset("M", data=M)
        d.attrs["columns"] = ["p", "q", "r", "s"]          # variable-length strings
        F = (np.arange(12, dtype=np.float32).reshape(6, 2) - 3.0) / 4.0
        d = f.create_dataset("F", data=F, chunks=(4, 2))
        d.attrs["columns"] = np.array([b"left", b"right"])  # fixed-length strings
        f.create_dataset("v", data=np.arange(20, dtype=np.uint8) * 3)
        f.create_dataset("flag", data=(np.arange(20) % 3 == 0))
        f.create_dataset("cube", data=np.zeros((2, 2, 2)))


def h5py_groups():
    n = 12
    z = np.arange(n) * 1.5 - 4.0
    a = (np.arange(n) * 7 % 5).astype(np.int32)
    s = np.array([b"red", b"grn", b"blu"] * 4, dtype="S3")
    v = ["x", "yy", "\u00e9t\u00e9", "x"] * 3
    with h5py.File(path("columns_group.h5"), "w") as f:
        for name, track in (("g", True), ("h", False)):
            g = f.create_group(name, track_order=track)
            g["z"] = z
            g["a"] = a
            g["s"] = s
            g.create_dataset("v", data=v, dtype=h5py.string_dtype("utf-8"))
        k = f.create_group("k")
        k["z"] = z
        k["a"] = a
        k.create_dataset("v", data=v, dtype=h5py.string_dtype("utf-8"))
        k["unlisted"] = z
        k.attrs["columns"] = ["v", "z", "a"]
        b = f.create_group("bad_len")
        b["a"] = z
        b["b"] = z[:-1]


def pandas_frame():
    n = 10
    df = pd.DataFrame({
        "a": np.arange(n) * 0.5,
        "n": np.arange(n, dtype=np.int64) - 3,
        "s": ["u", "v", "w", None, "u", "v", "w", "u", "v", "w"],
        # a non-ASCII name: pickled as raw-unicode-escape, UTF-8 as a field name
        "c\u00e9": np.arange(n) * 0.25 - 1.0,
    })
    df.loc[2, "a"] = np.nan
    return df


def pandas_tables():
    df = pandas_frame()
    # complevel 9 keeps the PyTables column indexes pandas creates under 100 KB
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df.to_hdf(path("pandas_table.h5"), key="df", mode="w", format="table",
                  complevel=9, complib="zlib")
        df[["a", "n", "c\u00e9"]].to_hdf(path("pandas_table.h5"), key="fixed", mode="a",
                                   format="fixed")
        df.to_hdf(path("pandas_datacols.h5"), key="df", mode="w", format="table",
                  data_columns=True, complevel=9, complib="zlib")
        df.to_hdf(path("pandas_datacols.h5"), key="mixed", mode="a", format="table",
                  data_columns=["a", "s"], complevel=9, complib="zlib", index=False)
    for fn, key in (("pandas_table.h5", "df"), ("pandas_datacols.h5", "df"),
                    ("pandas_datacols.h5", "mixed")):
        back = pd.read_hdf(path(fn), key)
        assert list(back.columns) == ["a", "n", "s", "c\u00e9"], back.columns


def bad_files():
    with h5py.File(path("string2d.h5"), "w") as f:
        f.create_dataset("S", data=np.array([[b"a", b"b"], [b"c", b"d"], [b"e", b"f"]]))
    with open(path("xy_pytables.h5"), "rb") as src:
        head = src.read(4096)
    with open(path("truncated.h5"), "wb") as dst:
        dst.write(head)
    with open(path("not_hdf5.h5"), "w") as dst:
        dst.write("a,b\n1,2\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    pytables_xy()
    h5py_int_matrix()
    h5py_groups()
    pandas_tables()
    bad_files()
    for fn in sorted(os.listdir(OUT)):
        if fn.endswith(".h5"):
            size = os.path.getsize(path(fn))
            assert size < 100 * 1024, (fn, size)


if __name__ == "__main__":
    main()
