#!/bin/sh
# compare.sh — every workload of the earlier issues against its Python peer, in one
# run, summed up in one table: workload, streamfit's wall time, the peer's, the
# ratio (peer / streamfit), the peak RSS of each, the issue's target and whether
# this run met it (the ratio reached and streamfit's peak RSS < 64 MiB).
#
#   sh bench/compare.sh [--large] [PATH/TO/streamfit]
#
# It runs the benchmark scripts one after another, each with the same size:
#   read.sh (CSV and HDF5 reads vs pandas / h5py), scaler.sh (scaler pass vs
#   StandardScaler.partial_fit), sgd.sh (scaler + SGD fit and predict vs
#   scikit-learn), kmeans.sh (mini-batch k-means vs MiniBatchKMeans.partial_fit),
#   regression.sh (QR least squares vs the normal-equations solve: dask's, or
#   numpy's in memory when dask is not installed; and from CSV with --formula vs
#   pandas + patsy), design.sh (CSV -> formula design -> HDF5 vs pandas + patsy +
#   PyTables).
# Each script's own report and log are kept in LOGS (read them for the cases the
# summary leaves out: 1 thread, cold cache, the exact commands). The summary takes
# from each report the streamfit case with THREADS threads on the compressed HDF5
# file (deflate 1, as `streamfit convert` writes) or the CSV, and the peer on the
# same file; times are each script's best wall time of REPEAT runs (whole
# processes under GNU time, Python start-up included; kmeans.sh times scikit-
# learn's partial_fit loop alone, the faster of OpenMP on all cores and on one).
#
# Environment: ROWS (rows of every data set; default 2000000, about the issues'
# sizes; --large multiplies it by 10 to show the cost growing linearly), REPEAT
# (runs per case; default 3), THREADS (streamfit's --threads; default 2), PYTHON
# (default /usr/bin/python3 with pandas, h5py, sklearn, patsy, tables), LOGS
# (default bench/data/compare-ROWS, git-ignored). The scripts make their data once
# in bench/data/ (git-ignored; at the default size about 3 GB) and reuse it.
# bench/RESULTS*.md are not touched: every script's OUT goes to LOGS.
#
# A quick check that everything runs (about a minute on 2 busy cores; at this size
# start-up dominates, so the ratios mean nothing):
#   ROWS=200000 REPEAT=1 sh bench/compare.sh
# A measurement: on a quiet machine (nothing else running: `uptime` load near 0;
# the cores are the measurement), with a release build:
#   meson setup build-rel --buildtype=release && ninja -C build-rel
#   sh bench/compare.sh build-rel/cli/streamfit          # ~15-30 minutes
#   sh bench/compare.sh --large build-rel/cli/streamfit  # 10x: hours, ~30 GB of data
# and record the printed table (with `uptime`, `nproc`, `lscpu`) in bench/RESULTS.md.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
LARGE=0
if [ "${1:-}" = "--large" ]; then
    LARGE=1
    shift
fi
if [ -n "${1:-}" ]; then SF=$1
elif [ -x "$ROOT/build-rel/cli/streamfit" ]; then SF=$ROOT/build-rel/cli/streamfit
else SF=$ROOT/build/cli/streamfit
fi
case $SF in /*) ;; *) SF=$(pwd)/$SF ;; esac
ROWS=${ROWS:-2000000}
[ "$LARGE" = 1 ] && ROWS=$((ROWS * 10))
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
LOGS=${LOGS:-$HERE/data/compare-$ROWS}
LC_ALL=C
export LC_ALL PYTHON REPEAT THREADS

die() { echo "compare.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"
mkdir -p "$LOGS" || die "cannot make $LOGS"
SUM=$LOGS/summary.txt   # workload|sf s|peer s|sf MiB|peer MiB|target ratio|target text
: >"$SUM"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

# run NAME [VAR=VALUE...]: runs bench/NAME.sh with ROWS and the variables; its
# report goes to LOGS/NAME.md (its OUT, or its stdout), its progress to LOGS/NAME.log.
run() {
    _name=$1
    shift
    echo "compare.sh: $_name.sh (ROWS=$ROWS) ..." >&2
    _t=$(date +%s)
    rm -f "$LOGS/$_name.md"
    if env ROWS="$ROWS" OUT="$LOGS/$_name.md" "$@" sh "$HERE/$_name.sh" "$SF" \
        >"$LOGS/$_name.out" 2>"$LOGS/$_name.log"; then
        echo "compare.sh: $_name.sh done in $(($(date +%s) - _t)) s" >&2
    else
        echo "compare.sh: $_name.sh FAILED (see $LOGS/$_name.log)" >&2
    fi
    # scripts that print their report rather than write OUT
    [ -s "$LOGS/$_name.md" ] || cp "$LOGS/$_name.out" "$LOGS/$_name.md"
}

# row WORKLOAD SF_S PEER_S SF_MIB PEER_MIB TARGET_RATIO TARGET_TEXT: one summary line
# (empty fields: not measured)
row() { printf '%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$SUM"; }

# cell FILE COL_MATCH COL_WANT PATTERN [COL2 VALUE2]: field COL_WANT of the first
# markdown table row whose field COL_MATCH equals PATTERN (and field COL2 equals
# VALUE2); fields counted from 1 after the leading "|", trimmed.
cell() {
    awk -F'|' -v m="$2" -v w="$3" -v p="$4" -v m2="${5:-0}" -v v2="${6:-}" '
        function trim(s) { gsub(/^ +| +$/, "", s); return s }
        /^\|/ && trim($(m + 1)) == p && (m2 == 0 || trim($(m2 + 1)) == v2) {
            s = trim($(w + 1)); sub(/ .*/, "", s); print s; exit }' "$1"
}

# ------------------------------------------------------------------ read.sh
run read COLD=0 BIG_ROWS=0
F=$LOGS/read.md
# | tool | threads | seconds | MB/s | peak RSS MiB | x pandas |
row "read CSV (vs pandas read_csv, chunks of 50000)" \
    "$(cell "$F" 1 3 "streamfit read CSV" 2 "$THREADS")" "$(cell "$F" 1 3 "pandas read_csv(chunksize=50000)")" \
    "$(cell "$F" 1 5 "streamfit read CSV" 2 "$THREADS")" "$(cell "$F" 1 5 "pandas read_csv(chunksize=50000)")" \
    1 "faster (no ratio set)"
row "read HDF5 deflate 1 (vs h5py, blocks of 50000)" \
    "$(cell "$F" 1 3 "streamfit read HDF5 (file.h5:/)" 2 "$THREADS")" "$(cell "$F" 1 3 "h5py, 50000-row blocks")" \
    "$(cell "$F" 1 5 "streamfit read HDF5 (file.h5:/)" 2 "$THREADS")" "$(cell "$F" 1 5 "h5py, 50000-row blocks")" \
    1 "faster (no ratio set)"

# ------------------------------------------------------------------ scaler.sh
run scaler COLD=0
F=$LOGS/scaler.md
# | case | threads | wall s | pass s | cpu s | peak RSS MiB |
row "scaler pass, HDF5 deflate 1 (vs sklearn + h5py)" \
    "$(cell "$F" 1 3 "streamfit, HDF5 (deflate 1)" 2 "$THREADS")" "$(cell "$F" 1 3 "sklearn + h5py, HDF5 (deflate 1)")" \
    "$(cell "$F" 1 6 "streamfit, HDF5 (deflate 1)" 2 "$THREADS")" "$(cell "$F" 1 6 "sklearn + h5py, HDF5 (deflate 1)")" \
    5 "issue 3: >= 5x"
row "scaler pass, CSV (vs sklearn + pandas round_trip)" \
    "$(cell "$F" 1 3 "streamfit, CSV" 2 "$THREADS")" \
    "$(cell "$F" 1 3 "sklearn + pandas (float_precision=round_trip), CSV")" \
    "$(cell "$F" 1 6 "streamfit, CSV" 2 "$THREADS")" \
    "$(cell "$F" 1 6 "sklearn + pandas (float_precision=round_trip), CSV")" \
    3 "issue 3: >= 3x"

# ------------------------------------------------------------------ sgd.sh
run sgd BIG_ROWS=0
F=$LOGS/sgd.md
# | case | seconds | peak RSS MiB | x scikit-learn |
for c in "fit, HDF5|5" "fit, CSV|6" "predict, HDF5|5" "predict, CSV|5"; do
    what=${c%|*}
    t=${c#*|}
    sf="$what, streamfit ($ROWS rows)"
    sk="$what, scikit-learn ($ROWS rows)"
    row "scaler + SGD $what (vs scikit-learn)" "$(cell "$F" 1 2 "$sf")" "$(cell "$F" 1 2 "$sk")" \
        "$(cell "$F" 1 3 "$sf")" "$(cell "$F" 1 3 "$sk")" "$t" "issue 5: >= ${t}x"
done

# ------------------------------------------------------------------ kmeans.sh
run kmeans
F=$LOGS/kmeans.md
# | run | chunk rows | threads | seconds | peak RSS MiB | final inertia | steps |
for c in "1024|4" "50000|2"; do
    chunk=${c%|*}
    t=${c#*|}
    sk=$(awk -F'|' -v c="$chunk" '$2 ~ /scikit-learn/ && $3 + 0 == c { split($5, a, " "); if (b == "" || a[1] < b) b = a[1] }
        END { print b }' "$F")
    skm=$(awk -F'|' -v c="$chunk" '$2 ~ /scikit-learn/ && $3 + 0 == c { if ($6 + 0 > m) m = $6 + 0 } END { print m }' "$F")
    sf=$(awk -F'|' -v c="$chunk" -v th="$THREADS" -v f="blobs$ROWS.h5" '
        { gsub(/^ +| +$/, "", $2) } $2 == "streamfit fit " f && $3 + 0 == c && $4 + 0 == th {
        split($5, a, " "); print a[1], $6 + 0; exit }' "$F")
    row "mini-batch k-means, $chunk-row chunks, HDF5 deflate 1 (vs MiniBatchKMeans)" "${sf% *}" "$sk" \
        "${sf#* }" "$skm" "$t" "issue 7: >= ${t}x"
done

# ------------------------------------------------------------------ regression.sh
run regression BIG_ROWS=0
F=$LOGS/regression.md
# | rows | what | threads | wall s | cpu s | peak MiB |
peer=$(awk -F'|' '$3 ~ /dask: solve/ { print "dask"; exit }' "$F")
for z in uncompressed zlib-1; do
    if [ "$peer" = dask ]; then p="dask: solve(X.T @ X, X.T @ y), HDF5 design ($z)"; pl="dask solve"
    else p="numpy in memory: solve(X.T @ X, X.T @ y) (no dask here)"; pl="numpy in-memory solve: no dask here"; fi
    t=1.5
    [ "$z" = zlib-1 ] && t=2
    s="streamfit linear_regression, HDF5 design ($z)"
    row "least squares, HDF5 design $z (vs $pl)" "$(cell "$F" 2 4 "$s" 3 "$THREADS")" "$(cell "$F" 2 4 "$p")" \
        "$(cell "$F" 2 6 "$s" 3 "$THREADS")" "$(cell "$F" 2 6 "$p")" "$t" "issue 6: >= ${t}x"
done
s="streamfit linear_regression, CSV with --formula"
p="pandas + patsy from CSV, design to HDF5 (uncompressed)"
row "least squares, CSV with --formula (vs pandas + patsy)" "$(cell "$F" 2 4 "$s" 3 "$THREADS")" \
    "$(cell "$F" 2 4 "$p")" "$(cell "$F" 2 6 "$s" 3 "$THREADS")" "$(cell "$F" 2 6 "$p")" 8 "issue 6: >= 8x"

# ------------------------------------------------------------------ design.sh
run design
F=$LOGS/design.md
# | tool | seconds | peak RSS MiB | x pandas+patsy |
# streamfit's side: design.sh's own when it ran it, else measured here the same way
# (best of REPEAT under GNU time) with this CLI's convert --formula
CSV=$HERE/data/reg$ROWS.csv
for z in 0 1; do
    if [ "$z" = 1 ]; then zl="zlib 1"; t=4; else zl="uncompressed"; t=10; fi
    p="pandas + patsy + PyTables, $zl"
    s=$(awk -F'|' -v z="$zl" '$2 ~ "streamfit convert --formula, " z { print $3 + 0, $4 + 0; exit }' "$F")
    if [ -z "$s" ] && [ -s "$CSV" ]; then
        b=""
        m=0
        for _ in $(seq "$REPEAT"); do
            /usr/bin/time -f "%e %M" -o "$LOGS/design.time" "$SF" convert "$CSV" --out "$LOGS/design.h5" \
                --formula 'y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))' \
                --compression "$z" --threads "$THREADS" --quiet 2>>"$LOGS/design.log" || { b=""; break; }
            read -r sec kib <"$LOGS/design.time"
            if [ -z "$b" ] || awk -v a="$sec" -v b="$b" 'BEGIN { exit !(a < b) }'; then b=$sec; fi
            [ "$kib" -gt "$m" ] && m=$kib
        done
        rm -f "$LOGS/design.h5"
        [ -n "$b" ] && s="$b $(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }')"
        [ -n "$b" ] && echo "streamfit convert --formula ($zl): measured by compare.sh: $s" >>"$LOGS/design.log"
    fi
    row "CSV -> formula design -> HDF5 $zl (vs pandas + patsy + PyTables)" "${s% *}" "$(cell "$F" 1 2 "$p")" \
        "${s#* }" "$(cell "$F" 1 3 "$p")" "$t" "issue 4: >= ${t}x"
done

# ------------------------------------------------------------------ the summary
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "streamfit against the Python peers: $ROWS rows per data set, best of $REPEAT, streamfit --threads $THREADS"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'));" \
        "load average $LOAD0 before, $LOAD1 after; $(($(date +%s) - T0)) s in all"
    echo "streamfit: $("$SF" --version) ($SF); reports and logs in $LOGS"
    echo
    echo "| workload | streamfit s | peer s | ratio | streamfit MiB | peer MiB | target | met |"
    echo "|---|---:|---:|---:|---:|---:|---|---|"
    awk -F'|' '{
        sf = $2; pe = $3; ok = (sf != "" && pe != "" && sf + 0 > 0)
        r = ok ? pe / sf : 0
        if (!ok) v = "not measured"
        else if (r >= $6 && $4 != "" && $4 + 0 < 64) v = "met"
        else if (r >= $6) v = "**missed** (RSS)"
        else if ($4 != "" && $4 + 0 < 64) v = "**missed**"
        else v = "**missed** (and RSS)"
        printf "| %s | %s | %s | %s | %s | %s | %s, RSS < 64 MiB | %s |\n", $1, sf == "" ? "-" : sf,
            pe == "" ? "-" : pe, ok ? sprintf("%.2fx", r) : "-", $4 == "" ? "-" : $4, $5 == "" ? "-" : $5, $7, v
    }' "$SUM"
} | tee "$LOGS/summary.md"
