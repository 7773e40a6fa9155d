#!/bin/sh
# read.sh — how fast streamfit reads CSV and HDF5 next to pandas and h5py, and how
# much memory it needs, on `streamfit gen regression` data.
#
#   sh bench/read.sh [PATH/TO/streamfit]        (default: build/cli/streamfit)
#
# Environment: PYTHON (default /usr/bin/python3, with python3-pandas and
# python3-h5py), REPEAT (runs per case, best wall time kept; default 3), ROWS
# (default 2500000), BIG_ROWS (memory check; default 15000000, 0 skips it),
# COLD (1 = also cold-cache runs when /proc/sys/vm/drop_caches is writable; default 1),
# OUT (default bench/RESULTS.md).
#
# Data goes to bench/data/ (git-ignored) and is made once: reg<ROWS>.csv by
# `streamfit gen regression --rows ROWS --seed 1`, reg<ROWS>.h5 by `streamfit
# convert`. The memory check makes a >= 1.5 GB CSV there and deletes it after.
# Every run is timed by GNU time (/usr/bin/time -v): wall time and peak RSS of the
# whole process (Python start-up and imports included for pandas/h5py). The table
# keeps each case's best wall time of REPEAT runs and the largest peak RSS seen.
# MB/s is always the CSV's bytes / seconds, so HDF5 rows compare with CSV rows;
# "x pandas" is pandas' (default parser) time / this case's time.
# Run nothing else meanwhile: the machine's cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=read.sh
. "$HERE/timing.sh"
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
REPEAT=${REPEAT:-3}
ROWS=${ROWS:-2500000}
BIG_ROWS=${BIG_ROWS:-15000000}
COLD=${COLD:-1}
OUT=${OUT:-$HERE/RESULTS.md}
DATA=$HERE/data
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL

die() { echo "read.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import pandas, h5py' 2>/dev/null || die "$PYTHON lacks pandas or h5py"
mkdir -p "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_bench.XXXXXX") || exit 1
BIG=$DATA/big$BIG_ROWS.csv
trap 'rm -rf "$W"; rm -f "$BIG"' EXIT
trap 'exit 1' INT TERM HUP

CSV=$DATA/reg$ROWS.csv
H5=$DATA/reg$ROWS.h5
RES=$W/results     # label|threads|seconds|rss_kib|command|tool output
: >"$RES"

# measure LABEL THREADS MODE CMD...: REPEAT runs (MODE cold: caches dropped first)
measure() {
    _label=$1
    _thr=$2
    _mode=$3
    shift 3
    _best=
    _rss=0
    _k=1
    while [ "$_k" -le "$REPEAT" ]; do
        [ "$_mode" = cold ] && drop_caches
        run_timed "$W/run" "$@" || return 1
        echo "  $_label (threads $_thr, $_mode) run $_k: $SECS s, $RSS KiB: $(awk 'NR == 1' "$W/run.out")" >&2
        if [ -z "$_best" ] || awk -v a="$SECS" -v b="$_best" 'BEGIN { exit !(a < b) }'; then
            _best=$SECS
            _out=$(awk 'NR == 1' "$W/run.out")
        fi
        [ "$RSS" -gt "$_rss" ] && _rss=$RSS
        _k=$((_k + 1))
    done
    printf '%s|%s|%s|%s|%s|%s\n' "$_label" "$_thr" "$_best" "$_rss" "$*" "$_out" >>"$RES"
}

# ------------------------------------------------------------------ the data
if [ ! -s "$CSV" ]; then
    echo "generating $CSV" >&2
    run_timed "$W/gen" "$SF" gen regression --rows "$ROWS" --seed 1 --out "$CSV" --quiet ||
        die "gen failed"
    GEN_NOTE="generated in $SECS s (peak RSS $((RSS / 1024)) MiB)"
else
    GEN_NOTE="reused an existing file"
fi
CSV_BYTES=$(wc -c <"$CSV" | tr -d ' ')
if [ ! -s "$H5" ] || [ "$H5" -ot "$CSV" ]; then
    echo "converting to $H5" >&2
    rm -f "$H5"
    run_timed "$W/conv" "$SF" convert "$CSV" --out "$H5" --quiet || die "convert failed"
    CONV_NOTE="converted in $SECS s (peak RSS $((RSS / 1024)) MiB)"
else
    CONV_NOTE="reused an existing file"
fi
H5_BYTES=$(wc -c <"$H5" | tr -d ' ')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ warm runs
echo "warm-cache runs ($REPEAT each)" >&2
cat "$CSV" >/dev/null
cat "$H5" >/dev/null
measure "streamfit read CSV" 1 warm "$SF" read "$CSV" --threads 1 --quiet
measure "streamfit read CSV" 2 warm "$SF" read "$CSV" --threads 2 --quiet
measure "pandas read_csv(chunksize=50000)" 1 warm "$PYTHON" "$HERE/read_pandas.py" "$CSV"
measure "pandas read_csv(chunksize=50000, float_precision=\"round_trip\")" 1 warm \
    "$PYTHON" "$HERE/read_pandas.py" "$CSV" --round-trip
measure "streamfit read HDF5 (file.h5:/)" 1 warm "$SF" read "$H5:/" --threads 1 --quiet
measure "streamfit read HDF5 (file.h5:/)" 2 warm "$SF" read "$H5:/" --threads 2 --quiet
measure "h5py, 50000-row blocks" 1 warm "$PYTHON" "$HERE/read_h5py.py" "$H5" / --csv-bytes "$CSV_BYTES"

# ------------------------------------------------------------------ cold runs
if [ "$COLD" = 1 ] && drop_caches; then
    COLD_NOTE="page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every run"
    echo "cold-cache runs ($REPEAT each)" >&2
    measure "streamfit read CSV, cold cache" 1 cold "$SF" read "$CSV" --threads 1 --quiet
    measure "streamfit read CSV, cold cache" 2 cold "$SF" read "$CSV" --threads 2 --quiet
    measure "pandas read_csv(chunksize=50000), cold cache" 1 cold \
        "$PYTHON" "$HERE/read_pandas.py" "$CSV"
    # how fast the storage itself is once the page cache is empty
    drop_caches
    run_timed "$W/cat" cat "$CSV" &&
        COLD_NOTE="$COLD_NOTE. With the cache dropped, \`cat\` reads the CSV in $SECS s ($(awk -v b="$CSV_BYTES" -v s="$SECS" 'BEGIN { printf "%.0f", (s > 0 ? b / 1e6 / s : 0) }') MB/s)"
elif [ "$COLD" = 1 ]; then
    COLD_NOTE="not measured: writing /proc/sys/vm/drop_caches is not permitted here"
else
    COLD_NOTE="not measured (COLD=0)"
fi

# ------------------------------------------------------------ memory bound
BIG_NOTE="not measured (BIG_ROWS=0)"
if [ "$BIG_ROWS" -gt 0 ]; then
    echo "memory check: generating $BIG_ROWS rows" >&2
    if run_timed "$W/biggen" "$SF" gen regression --rows "$BIG_ROWS" --seed 2 --out "$BIG" --quiet; then
        BIG_BYTES=$(wc -c <"$BIG" | tr -d ' ')
        BIG_NOTE="$BIG_ROWS rows, $BIG_BYTES bytes, generated in $SECS s (gen peak RSS $((RSS / 1024)) MiB)"
        measure "memory: streamfit read big CSV" 2 warm "$SF" read "$BIG" --threads 2 --quiet
        measure "memory: streamfit describe big CSV" 2 warm "$SF" describe "$BIG" --threads 2 --quiet
    else
        BIG_NOTE="gen of $BIG_ROWS rows failed"
    fi
    rm -f "$BIG"
fi

# ------------------------------------------------------------------ the report
pandas_secs=$(awk -F'|' '$1 == "pandas read_csv(chunksize=50000)" { print $3 }' "$RES")
table() { # $1: awk condition on the label; $2: bytes for MB/s; $3: pandas' seconds or ""
    echo "| tool | threads | seconds | MB/s | peak RSS MiB | x pandas |"
    echo "|---|---:|---:|---:|---:|---:|"
    awk -F'|' -v bytes="$2" -v base="$3" "$1"' {
        printf "| %s | %s | %.2f | %.1f | %.1f | %s |\n", $1, $2, $3, bytes / 1e6 / $3, $4 / 1024,
            (base != "" && $3 > 0) ? sprintf("%.2f", base / $3) : "-" }' "$RES"
}
{
    echo "# Read throughput and memory"
    echo
    echo "Made by \`sh bench/read.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC')."
    echo
    echo "## Machine"
    echo
    echo '```'
    echo "nproc: $(nproc)"
    lscpu | grep 'Model name'
    free -g
    echo "load average before the runs: $LOAD0"
    echo "kernel: $(uname -sr)"
    echo "streamfit: $("$SF" --version) ($SF)"
    for f in /usr/lib/*/hdf5/serial/libhdf5.settings; do
        [ -f "$f" ] && grep -E 'HDF5 Version|Threadsafety' "$f" | sed 's/^ */libhdf5 (C): /'
    done
    echo "python: $("$PYTHON" -c 'import sys, pandas, numpy, h5py; print(sys.version.split()[0], "pandas", pandas.__version__, "numpy", numpy.__version__, "h5py", h5py.__version__, "HDF5", h5py.version.hdf5_version)')"
    echo '```'
    echo
    echo "## Data"
    echo
    echo "- CSV: \`$SF gen regression --rows $ROWS --seed 1 --out $CSV\` —"
    echo "  $CSV_BYTES bytes ($GEN_NOTE); columns a, b, c, d, cat1, y."
    echo "- HDF5: \`$SF convert $CSV --out $H5\` — $H5_BYTES bytes (group of 1-D float64"
    echo "  datasets, deflate 1; $CONV_NOTE)."
    echo
    echo "## Warm cache ($REPEAT runs each, best wall time; MB/s = CSV bytes / s)"
    echo
    table '$1 !~ /cold|memory/' "$CSV_BYTES" "$pandas_secs"
    echo
    echo "## Cold cache"
    echo
    echo "$COLD_NOTE."
    if grep -q cold "$RES"; then
        echo
        table '$1 ~ /cold/' "$CSV_BYTES" "$(awk -F'|' '$1 ~ /^pandas.*cold/ { print $3 }' "$RES")"
    fi
    echo
    echo "## Memory bound (goal: peak RSS < 64 MiB)"
    echo
    echo "$BIG_NOTE; the file was deleted afterwards."
    if grep -q memory "$RES"; then
        echo
        table '$1 ~ /memory/' "${BIG_BYTES:-0}" ""
    fi
    echo
    echo "## Exact commands and what each printed (best run)"
    echo
    echo "Each under \`$TIME -v\`."
    echo
    echo '```'
    awk -F'|' '{ printf "%s\n    -> %s\n", $5, $6 }' "$RES"
    echo '```'
} >"$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
