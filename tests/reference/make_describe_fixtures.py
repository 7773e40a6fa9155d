#!/usr/bin/python3
"""Writes the CSV fixtures of `streamfit describe` (tests/test_cli.sh) into
tests/data/, with the values pandas gives for them.

Run from anywhere:
    /usr/bin/python3 tests/reference/make_describe_fixtures.py [PATH/TO/streamfit]

PATH/TO/streamfit (default: build/cli/streamfit under the repository) is the built
CLI; it is only needed for describe_regression (below). Without it that fixture is
skipped with a message and the others are still written. Needs Debian's
python3-numpy and python3-pandas. Everything is drawn from numpy's PCG64 with a
fixed seed, so two runs write the same bytes.

Fixtures:
  describe_basic.csv      3000 rows, LF line ends: x ~ N(0,1) written with repr
                          (shortest round trip, often 17 significant digits); big =
                          1e9 + N(0,1) (numerical care: a large mean, unit spread);
                          const = 2.5 in every row; n, integers in [-500, 500]; m =
                          N(5,2) rounded to 4 decimals with ~10% missing written as
                          "", NA, NaN or null; s, a string column with 7 levels of
                          distinct frequencies (no ties for the top) and 30 missing.
  describe_quoted.csv     500 rows, CRLF line ends and a UTF-8 byte order mark; a
                          quoted header name with a comma; string fields quoted
                          with commas, doubled quotes, LF and CRLF inside them, and
                          non-ASCII UTF-8; distinct level frequencies.
  describe_regression.*   `streamfit gen regression --rows 20000 --seed 7`. The CSV
                          (2 MB) exceeds the 200 KB budget of tests/data, so only
                          its .describe.tsv is kept: tests/test_cli.sh regenerates
                          the CSV with the CLI under test (which also pins `gen`'s
                          output). The CSV is made in a temporary directory here.

For each fixture NAME.csv, NAME.describe.tsv holds one line per column, in file
order, of pandas' read_csv(path, float_precision="round_trip") and describe():
  numeric:   name TAB kind TAB count TAB missing TAB mean TAB std TAB min TAB max
             kind is "int" (int64 dtype) or "float"; numbers are repr(float);
             std has ddof=1; "nan" where pandas gives NaN.
  string:    name TAB category TAB count TAB missing TAB levels TAB top TAB freq
             levels, top, freq are describe()'s unique, top, freq.
Names and top are written as the body of a JSON string the way `streamfit
describe --json` prints it: '"' and '\\' escaped with a backslash, bytes below 0x20
as \\u00xx (lowercase hex), everything else (UTF-8 included) as is, so a field
never holds a tab or a line end and the test compares text for text.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "data")
SEED = 20240611


def path(name):
    return os.path.join(OUT, name)


def json_body(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def num(v):
    v = float(v)
    return "nan" if math.isnan(v) else repr(v)


def reference(csv_path, tsv_path):
    df = pd.read_csv(csv_path, float_precision="round_trip")
    lines = []
    for c in df.columns:
        col = df[c]
        missing = int(col.isna().sum())
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            d = col.describe()
            kind = "int" if pd.api.types.is_integer_dtype(col.dtype) else "float"
            fields = [json_body(c), kind, str(int(d["count"])), str(missing),
                      num(d["mean"]), num(d["std"]), num(d["min"]), num(d["max"])]
        else:
            d = col.describe()
            vc = col.value_counts()
            # the reference needs an unambiguous top
            assert len(vc) < 2 or vc.iloc[0] != vc.iloc[1], (csv_path, c, "tie for the top")
            assert vc.index[0] == d["top"] and int(vc.iloc[0]) == int(d["freq"])
            fields = [json_body(c), "category", str(int(d["count"])), str(missing),
                      str(int(d["unique"])), json_body(str(d["top"])), str(int(d["freq"]))]
        lines.append("\t".join(fields))
    with open(tsv_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d bytes) and %s" % (csv_path, os.path.getsize(csv_path), tsv_path))


def exact_counts(total, weights):
    """Splits total into len(weights) distinct positive counts close to weights."""
    w = np.asarray(weights, dtype=float)
    counts = np.floor(w / w.sum() * total).astype(int)
    counts[0] += total - counts.sum()
    assert len(set(counts.tolist())) == len(counts) and counts.min() > 0
    return counts


def basic(rng):
    n = 3000
    x = rng.standard_normal(n)
    big = 1e9 + rng.standard_normal(n)
    ints = rng.integers(-500, 501, n)
    m = np.round(rng.normal(5.0, 2.0, n), 4)
    m_missing = rng.random(n) < 0.10
    na_tokens = ["", "NA", "NaN", "null"]
    levels = ["red", "green", "blue", "cyan", "pink", "gray", "teal"]
    s_missing = np.zeros(n, dtype=bool)
    s_missing[rng.choice(n, 30, replace=False)] = True
    counts = exact_counts(n - 30, [30, 22, 16, 12, 9, 7, 4])
    labels = np.repeat(np.arange(len(levels)), counts)
    rng.shuffle(labels)
    with open(path("describe_basic.csv"), "w", newline="\n") as f:
        f.write("x,big,const,n,m,s\n")
        k = 0
        for i in range(n):
            mv = na_tokens[i % 4] if m_missing[i] else repr(float(m[i]))
            if s_missing[i]:
                sv = ""
            else:
                sv = levels[labels[k]]
                k += 1
            f.write("%r,%r,2.5,%d,%s,%s\n" % (float(x[i]), float(big[i]), int(ints[i]), mv, sv))
    reference(path("describe_basic.csv"), path("describe_basic.describe.tsv"))


def quote(s):
    return '"' + s.replace('"', '""') + '"'


def quoted(rng):
    n = 500
    # labels as pandas reads them; \r\n and \n inside quotes are kept as they are
    notes = ['top "one",\r\nnext line', "plain", "with, comma", 'say "hi"', "two\nlines", "crlf\r\ninside",
             '"quoted", and, commas', "caf\u00e9 \u00fcber \u65e5\u672c", ", leading comma"]
    cities = ["Z\u00fcrich", "S\u00e3o Paulo", "Oslo", "K\u00f8benhavn", "Montr\u00e9al"]
    note_counts = exact_counts(n, [24, 20, 15, 12, 10, 8, 6, 4, 2])
    city_counts = exact_counts(n - 25, [9, 7, 5, 3, 1])
    note_idx = np.repeat(np.arange(len(notes)), note_counts)
    city_idx = np.repeat(np.arange(len(cities)), city_counts)
    rng.shuffle(note_idx)
    rng.shuffle(city_idx)
    city_missing = np.zeros(n, dtype=bool)
    city_missing[rng.choice(n, 25, replace=False)] = True
    val = rng.standard_normal(n) * 1e-3
    rows = ['id,"label, quoted",val,city']
    k = 0
    for i in range(n):
        note = notes[note_idx[i]]
        if city_missing[i]:
            city = ""
        else:
            city = cities[city_idx[k]]
            k += 1
        # quote every label with a special character; quote some plain ones too
        nf = quote(note) if (any(ch in note for ch in ',"\r\n') or i % 3 == 0) else note
        cf = quote(city) if (city and i % 2 == 0) else city
        rows.append("%d,%s,%r,%s" % (i + 1, nf, float(val[i]), cf))
    data = ("\r\n".join(rows) + "\r\n").encode("utf-8")
    with open(path("describe_quoted.csv"), "wb") as f:
        f.write(b"\xef\xbb\xbf" + data)
    df = pd.read_csv(path("describe_quoted.csv"))
    assert list(df.columns) == ["id", "label, quoted", "val", "city"], list(df.columns)
    reference(path("describe_quoted.csv"), path("describe_quoted.describe.tsv"))


def regression(cli):
    if not cli or not os.access(cli, os.X_OK):
        print("skipped describe_regression: no streamfit CLI at %r (pass its path)" % cli)
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "describe_regression.csv")
        subprocess.run([cli, "gen", "regression", "--rows", "20000", "--seed", "7", "--out", csv,
                        "--quiet"], check=True)
        reference(csv, path("describe_regression.describe.tsv"))


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cli", "streamfit")
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    basic(rng)
    quoted(rng)
    regression(cli)
    for name in ("describe_basic.csv", "describe_quoted.csv"):
        assert os.path.getsize(path(name)) < 200 * 1024, name


if __name__ == "__main__":
    main()
