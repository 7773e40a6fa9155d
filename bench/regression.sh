#!/bin/sh
# regression.sh — least squares on seed 000's data (`streamfit gen regression`):
# streamfit's QR updating (linear_regression) from the HDF5 design, uncompressed
# and zlib-1, on 1 and 2 threads (and from CSV with --formula once the CLI has
# it), against the post's path: pandas + patsy build the design from CSV, and
# dask solves the normal equations da.linalg.solve(X.T @ X, X.T @ y) on the HDF5
# design; also dask's da.linalg.lstsq, and a plain `cat` of the design file.
# Without dask (python3-dask) the in-memory numpy solve of the same normal
# equations stands in, labelled so.
#
#   sh bench/regression.sh [PATH/TO/streamfit]      (default: build/cli/streamfit)
#
# Environment: PYTHON (default /usr/bin/python3 with pandas, patsy, h5py), REPEAT
# (runs per case, best wall time kept; default 3; REPEAT_BIG for BIG_ROWS,
# default 1), ROWS (default 2500000),
# BIG_ROWS (the growth check; default 25000000, 0 skips it), OUT (the markdown
# results; default bench/RESULTS-regression.md, rewritten).
# Data goes to bench/data/ (git-ignored), made once. Each run is timed by GNU time
# (wall time, CPU time = user + system over all threads, peak RSS of the whole
# process, Python start-up included); on a shared machine compare CPU times. "coef vs
# lstsq" is max_j |b_j - b*_j| / max_j |b*_j| against numpy's in-memory lstsq on the
# same design (ROWS only). Run nothing else meanwhile.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
PEERS=$HERE/regression_peers.py
REPEAT=${REPEAT:-3}
REPEAT_BIG=${REPEAT_BIG:-1}
ROWS=${ROWS:-2500000}
BIG_ROWS=${BIG_ROWS:-25000000}
OUT=${OUT:-$HERE/RESULTS-regression.md}
DATA=$HERE/data
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL
FORMULA='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))'

die() { echo "regression.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import pandas, patsy, h5py' 2>/dev/null || die "$PYTHON lacks pandas, patsy or h5py"
if "$PYTHON" -c 'import dask.array' 2>/dev/null; then HAVE_DASK=1; else HAVE_DASK=0; fi
if "$SF" --help 2>&1 | grep -q -- --formula; then HAVE_FORMULA=1; else HAVE_FORMULA=0; fi
mkdir -p "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_regbench.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP
ROWS_OUT=$W/rows   # rows|label|threads|wall s|cpu s|peak MiB
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$ROWS_OUT"

# best LABEL THREADS NROWS CMD...: REPEAT runs under GNU time; the best wall time
# (and that run's CPU time) and the largest peak RSS go to the table, the last
# run's stdout to $W/last.out.
best() {
    _label=$1 _thr=$2 _n=$3
    shift 3
    _best= _cpu= _rss=0 _k=1
    while [ "$_k" -le "$REPEAT" ]; do
        "$TIME" -v -o "$W/t" "$@" >"$W/last.out" 2>"$W/last.err" || {
            echo "regression.sh: failed: $*" >&2
            cat "$W/last.err" >&2
            return 1
        }
        _s=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
                 for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$W/t")
        _r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/t")
        _c=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$W/t")
        echo "  $_label ($_n rows, threads $_thr) run $_k: $_s s, cpu $_c s, $((_r / 1024)) MiB" >&2
        if [ -z "$_best" ] || awk -v a="$_s" -v b="$_best" 'BEGIN { exit !(a < b) }'; then
            _best=$_s
            _cpu=$_c
        fi
        [ "$_r" -gt "$_rss" ] && _rss=$_r
        _k=$((_k + 1))
    done
    printf '%s|%s|%s|%s|%s|%s\n' "$_n" "$_label" "$_thr" "$_best" "$_cpu" "$((_rss / 1024))" >>"$ROWS_OUT"
}

# coef_of_model M.h5 > FILE: streamfit's coefficients, one per line.
coef_of_model() {
    "$SF" export "$1" --json | "$PYTHON" -c '
import json, sys
st = json.load(sys.stdin)["stages"][-1]
print("\n".join(repr(v) for v in st["params_"]))'
}

# coef_of_peer > FILE: the coefficients in $W/last.out (a peer's JSON line).
coef_of_peer() {
    "$PYTHON" -c 'import json, sys; print("\n".join(json.load(sys.stdin)["coef"]))' <"$W/last.out"
}

run_size() {
    n=$1
    csv=$DATA/reg$n.csv
    d0=$DATA/reg$n.design0.h5
    d1=$DATA/reg$n.design1.h5
    [ -s "$csv" ] || { echo "generating $csv" >&2; "$SF" gen regression --rows "$n" --seed 1 --out "$csv" --quiet ||
        die "gen failed"; }
    best "pandas + patsy from CSV, design to HDF5 (uncompressed)" 1 "$n" "$PYTHON" "$PEERS" design "$csv" "$d0" 0 ||
        return 1
    best "pandas + patsy from CSV, design to HDF5 (zlib-1)" 1 "$n" "$PYTHON" "$PEERS" design "$csv" "$d1" 1 || return 1
    best "cat of the uncompressed design" 1 "$n" cat "$d0"
    for d in "$d0" "$d1"; do
        case $d in *design0*) z="uncompressed" ;; *) z="zlib-1" ;; esac
        for t in 1 2; do
            best "streamfit linear_regression, HDF5 design ($z)" "$t" "$n" "$SF" fit "$d:/X" --target /y \
                --pipeline 'linear_regression(fit_intercept=false)' --model "$W/m.h5" --threads "$t" --quiet ||
                return 1
        done
        coef_of_model "$W/m.h5" >"$W/coef.$n.streamfit.$z"
        if [ "$HAVE_DASK" = 1 ]; then
            best "dask: solve(X.T @ X, X.T @ y), HDF5 design ($z)" 2 "$n" "$PYTHON" "$PEERS" solve "$d" dask_solve ||
                return 1
            coef_of_peer >"$W/coef.$n.dask_solve.$z"
        fi
    done
    if [ "$HAVE_DASK" = 1 ]; then
        best "dask: lstsq(X, y), HDF5 design (uncompressed)" 2 "$n" "$PYTHON" "$PEERS" solve "$d0" dask_lstsq ||
            return 1
        coef_of_peer >"$W/coef.$n.dask_lstsq.uncompressed"
    else
        best "numpy in memory: solve(X.T @ X, X.T @ y) (no dask here)" 2 "$n" "$PYTHON" "$PEERS" solve "$d0" \
            numpy_solve || return 1
        coef_of_peer >"$W/coef.$n.numpy_solve.uncompressed"
    fi
    if [ "$HAVE_FORMULA" = 1 ]; then
        for t in 1 2; do
            best "streamfit linear_regression, CSV with --formula" "$t" "$n" "$SF" fit "$csv" --formula "$FORMULA" \
                --pipeline linear_regression --model "$W/m.h5" --threads "$t" --quiet || return 1
        done
    fi
    if [ "$n" = "$ROWS" ]; then
        REPEAT=1 best "numpy in memory: lstsq (the reference)" 2 "$n" "$PYTHON" "$PEERS" solve "$d0" lstsq || return 1
        coef_of_peer >"$W/coef.ref"
    fi
}

run_size "$ROWS" || die "the $ROWS-row runs failed"
if [ "$BIG_ROWS" != 0 ]; then
    REPEAT=$REPEAT_BIG
    run_size "$BIG_ROWS" || die "the $BIG_ROWS-row runs failed"
fi

# ------------------------------------------------------------------ the table
{
    echo "# Least squares on seed 000's design"
    echo
    echo "Made by \`sh bench/regression.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S') UTC; $(nproc) cores;"
    echo "load average before the runs: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "(the machine is shared: compare within one run, and compare CPU seconds)."
    echo
    echo "| rows | what | threads | wall s | cpu s | peak MiB |"
    echo "|---:|---|---:|---:|---:|---:|"
    awk -F'|' '{ printf "| %s | %s | %s | %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, $6 }' "$ROWS_OUT"
    echo
    echo "Coefficients against numpy's in-memory lstsq on the same design ($ROWS rows),"
    echo "max_j |b_j - b*_j| / max_j |b*_j|:"
    echo
    for f in "$W"/coef."$ROWS".*; do
        [ -e "$f" ] || continue
        printf -- '- %s: ' "${f#"$W"/coef."$ROWS".}"
        paste "$f" "$W/coef.ref" | awk '{ d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2
            if (d > md) md = d; if (a > ma) ma = a } END { printf "%.2e\n", md / ma }'
    done
    [ "$HAVE_DASK" = 1 ] || echo "- dask is not installed here: the numpy row stands in for the post's solve."
    [ "$HAVE_FORMULA" = 1 ] || echo "- this streamfit has no --formula yet: no CSV rows for streamfit."
} | tee "$W/table.md"
[ -n "$OUT" ] && cp "$W/table.md" "$OUT"
exit 0
