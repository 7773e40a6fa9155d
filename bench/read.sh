#!/bin/sh
# read.sh — how fast streamfit reads CSV and HDF5 next to pandas and h5py, and how
# much memory it needs (issue 2), on `streamfit gen regression` data.
#
#   sh bench/read.sh [PATH/TO/streamfit]     (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for PYTHON, REPEAT, THREADS, DATA, OUT, RECORD):
# ROWS (default 2500000), BIG_ROWS (memory check; default 15000000, 0 skips it),
# COLD (1 = also cold-cache runs when /proc/sys/vm/drop_caches is writable; default 1).
#
# Data, made once in DATA (git-ignored): reg<ROWS>.csv by `streamfit gen regression
# --rows ROWS --seed 1`, reg<ROWS>.h5 by `streamfit convert` (deflate 1). The memory
# check makes a >= 1.5 GB CSV there and deletes it after. Every case is the whole
# process (Python start-up and imports included for pandas/h5py); MB/s is always the
# CSV's bytes / median wall seconds, so HDF5 rows compare with CSV rows; "x pandas" is
# pandas' (default parser) wall time / this case's. Result quality (not timed): the
# rows each tool counted, and a checksum of the values: per column mean, min and max
# from `streamfit describe --json` against pandas (round_trip parser) and h5py.
# Run nothing else meanwhile: the machine's cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
bench_init read.sh "$@"
ROWS=${ROWS:-2500000}
BIG_ROWS=${BIG_ROWS:-15000000}
COLD=${COLD:-1}
need_python pandas h5py
BIG=$DATA/big$BIG_ROWS.csv
CLEANUP=$BIG
gen_data regression "$ROWS"
CSV_BYTES=$(wc -c <"$CSV" | tr -d ' ')
MBS="sprintf(\"%.1f\", $CSV_BYTES / 1e6 / w)"

# ------------------------------------------------------------------ warm runs
echo "warm-cache runs ($REPEAT each)" >&2
cat "$CSV" "$H5" >/dev/null
measure sf_csv_1 "streamfit read CSV, 1 thread" "$SF" read "$CSV" --threads 1 --quiet
measure sf_csv_t "streamfit read CSV, $THREADS threads" "$SF" read "$CSV" --threads "$THREADS" --quiet
measure pandas "pandas read_csv(chunksize=50000)" "$PYTHON" "$HERE/read_pandas.py" "$CSV"
measure pandas_rt "pandas read_csv(chunksize=50000, float_precision=\"round_trip\")" \
    "$PYTHON" "$HERE/read_pandas.py" "$CSV" --round-trip
measure sf_h5_1 "streamfit read HDF5 deflate 1 (file.h5:/), 1 thread" "$SF" read "$H5:/" --threads 1 --quiet
measure sf_h5_t "streamfit read HDF5 deflate 1 (file.h5:/), $THREADS threads" \
    "$SF" read "$H5:/" --threads "$THREADS" --quiet
measure h5py "h5py, 50000-row blocks, HDF5 deflate 1" "$PYTHON" "$HERE/read_h5py.py" "$H5" / --csv-bytes "$CSV_BYTES"

# ------------------------------------------------------------------ cold runs
if [ "$COLD" = 1 ] && drop_caches; then
    COLD_NOTE="page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every run"
    echo "cold-cache runs ($REPEAT each)" >&2
    measure -c cold_sf_csv_1 "streamfit read CSV, cold cache, 1 thread" "$SF" read "$CSV" --threads 1 --quiet
    measure -c cold_sf_csv_t "streamfit read CSV, cold cache, $THREADS threads" \
        "$SF" read "$CSV" --threads "$THREADS" --quiet
    measure -c cold_pandas "pandas read_csv(chunksize=50000), cold cache" "$PYTHON" "$HERE/read_pandas.py" "$CSV"
    # how fast the storage itself is once the page cache is empty
    measure -c -n 1 cold_cat "cat of the CSV, cold cache" cat "$CSV" &&
        COLD_NOTE="$COLD_NOTE. With the cache dropped, \`cat\` reads the CSV in $(get cold_cat wall) s"
elif [ "$COLD" = 1 ]; then
    COLD_NOTE="not measured: writing /proc/sys/vm/drop_caches is not permitted here"
else
    COLD_NOTE="not measured (COLD=0)"
fi

# ------------------------------------------------------------ memory bound
BIG_NOTE="not measured (BIG_ROWS=0)"
if [ "$BIG_ROWS" -gt 0 ]; then
    echo "memory check: generating $BIG_ROWS rows" >&2
    if "$SF" gen regression --rows "$BIG_ROWS" --seed 2 --out "$BIG" --quiet; then
        BIG_BYTES=$(wc -c <"$BIG" | tr -d ' ')
        BIG_NOTE="$BIG_ROWS rows, $BIG_BYTES bytes (\`streamfit gen regression --seed 2\`)"
        measure big_read "memory: streamfit read big CSV, $THREADS threads" \
            "$SF" read "$BIG" --threads "$THREADS" --quiet
        measure big_describe "memory: streamfit describe big CSV, $THREADS threads" \
            "$SF" describe "$BIG" --threads "$THREADS" --quiet
    else
        BIG_NOTE="gen of $BIG_ROWS rows failed"
    fi
    rm -f "$BIG"
fi

# streamfit read's own figures: "N rows, ..., X MB in S s: R MB/s" (CSV: file bytes;
# HDF5: the float64 values delivered), for issue 2's 180 MB/s and 1 GB/s
own_mbs() { first_line "$1" | sed -n 's/.*: \([0-9.]*\) MB\/s$/\1/p'; }
value csv_1_mbs "$(own_mbs sf_csv_1)"
value h5_t_mbs "$(own_mbs sf_h5_t)"

# ------------------------------------------------------- the same values read
rows_of() { first_line "$1" | awk '{ print $1 }'; }
"$SF" describe "$CSV" --json >"$W/describe.json" || die "describe failed"
CHECK=$("$PYTHON" - "$W/describe.json" "$CSV" "$H5" <<'PY'
import json, sys
import h5py, numpy as np, pandas as pd
desc = json.load(open(sys.argv[1]))
sf = {c["name"]: c for c in desc["columns"]}
print(desc["rows"])
def stats(chunks):
    n, s, lo, hi = 0, {}, {}, {}
    for d in chunks:
        n += len(next(iter(d.values())))
        for k, v in d.items():
            s[k] = s.get(k, 0.0) + float(np.sum(v))
            lo[k] = min(lo.get(k, np.inf), float(np.min(v)))
            hi[k] = max(hi.get(k, -np.inf), float(np.max(v)))
    return n, {k: s[k] / n for k in s}, lo, hi
def csv_chunks():
    for d in pd.read_csv(sys.argv[2], chunksize=50000, float_precision="round_trip"):
        yield {k: d[k].to_numpy(dtype=np.float64) for k in d.columns}
def h5_chunks():
    with h5py.File(sys.argv[3], "r") as f:
        names = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["columns"]]
        n = f[names[0]].shape[0]
        for a in range(0, n, 50000):
            yield {k: f[k][a:a + 50000].astype(np.float64) for k in names}
for tool, chunks in (("pandas", csv_chunks()), ("h5py", h5_chunks())):
    n, mean, lo, hi = stats(chunks)
    dm = max(abs(mean[k] - sf[k]["mean"]) for k in mean)
    same = all(lo[k] == sf[k]["min"] and hi[k] == sf[k]["max"] for k in mean)
    print("%d %.1e %s" % (n, dm, "equal" if same else "DIFFER"))
PY
) || die "the checksum step failed"
set -- $CHECK
value q_csv "rows $(rows_of sf_csv_t) / $(rows_of pandas); checksum (describe $1 rows, pandas $2): column means within $3, min/max $4"
value q_h5 "rows $(rows_of sf_h5_t) / $(rows_of h5py); checksum (h5py $5 rows): column means within $6, min/max $7"
QUALITY="CSV $(val q_csv); HDF5 $(val q_h5) (rows: streamfit read / the peer; checksum: per column mean, min and max of \`streamfit describe --json\` against pandas with the round_trip parser and h5py)"

# ------------------------------------------------------------------ the report
{
    echo "## Read throughput and memory (issue 2)"
    echo
    machine pandas numpy h5py
    cat /usr/lib/*/hdf5/serial/libhdf5.settings 2>/dev/null | awk -F': *' '
        /HDF5 Version/ && !v { v = $2 } /Threadsafety/ && !t { t = $2 }
        END { if (v != "") print "libhdf5 (C) " v ", thread-safe: " t "." }'
    echo
    echo "Data: \`streamfit gen regression --rows $ROWS --seed 1\` ($CSV_BYTES bytes of CSV; columns a, b,"
    echo "c, d, cat1, y), \`streamfit convert\` to HDF5 ($(wc -c <"$H5" | tr -d ' ') bytes; 1-D float64 datasets, deflate 1)."
    echo
    echo "### Warm cache (MB/s = CSV bytes / s)"
    echo
    results_table -b pandas -x MB/s "$MBS" '^(sf_|pandas|h5py)'
    echo
    echo "Targets (issue 2): CSV >= 180 MB/s on one thread: $(val csv_1_mbs) MB/s (streamfit's own figure, the"
    echo "pass without start-up); >= 3x pandas' chunked read_csv with $THREADS threads: $(ratio "$(get pandas wall)" "$(get sf_csv_t wall)")x;"
    echo "HDF5 numeric reads >= 1 GB/s from the page cache: $(val h5_t_mbs) MB/s of float64 values ($THREADS threads,"
    echo "deflate 1); peak RSS < 64 MiB on a >= 1.5 GB CSV: see \"Memory bound\"."
    echo
    echo "Result quality: $QUALITY."
    echo
    echo "### Cold cache"
    echo
    echo "$COLD_NOTE."
    if grep -q '^cold_' "$RES"; then
        echo
        results_table -b cold_pandas -x MB/s "$MBS" '^cold_'
    fi
    echo
    echo "### Memory bound (goal: peak RSS < 64 MiB)"
    echo
    echo "$BIG_NOTE; the file was deleted afterwards."
    if grep -q '^big_' "$RES"; then
        echo
        results_table -x MB/s "sprintf(\"%.1f\", ${BIG_BYTES:-0} / 1e6 / w)" '^big_'
    fi
    echo
    echo "### Exact commands and what each printed (median run)"
    echo
    commands
} | publish
