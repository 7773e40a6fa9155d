#!/bin/sh
# compare.sh — every workload of the earlier issues against its Python peer, in one
# run (issue 8, item 5), summed up in one table: workload, streamfit's median wall
# time, the peer's, the ratio (peer / streamfit), the peak RSS of each, the result
# quality (do both sides compute the same thing), the issue's target and whether this
# run met it (the ratio reached and streamfit's peak RSS < 64 MiB); and a PNG bar
# chart of the ratios against the targets.
#
#   sh bench/compare.sh [--large] [PATH/TO/streamfit]
#
# It runs the benchmark scripts one after another, each with the same size:
#   read.sh (CSV and HDF5 reads vs pandas / h5py), scaler.sh (scaler pass vs
#   StandardScaler.partial_fit), sgd.sh (scaler + SGD fit and predict vs
#   scikit-learn), kmeans.sh (mini-batch k-means vs MiniBatchKMeans.partial_fit),
#   regression.sh (QR least squares vs dask's normal-equations solve, or numpy's in
#   memory when dask is not installed; and from CSV with --formula vs pandas +
#   patsy), design.sh (CSV -> formula design -> HDF5 vs pandas + patsy + PyTables).
# Each script's report and log are kept in LOGS (read them for the cases the summary
# leaves out: 1 thread, cold cache, the exact commands). The summary takes from each
# report the streamfit case with THREADS threads and the peer on the same file. For
# scaler, SGD and k-means it shows the uncompressed HDF5 file (the one the issues'
# figures were taken on: their targets apply to it) and the deflate-1 file
# (`streamfit convert`'s default; the same target shown for reference). Times are the
# median wall time of REPEAT runs of the whole process under GNU time (Python
# start-up included), except k-means' peer: scikit-learn's partial_fit loop reading
# each chunk from the same file with h5py (issue 7's figures are "from HDF5"), timed
# by itself, the faster of OpenMP on all cores and on one; its loop on data already
# in memory is shown beside it.
#
# Environment: ROWS (rows of every data set; default 2000000, about the issues'
# sizes; --large multiplies it by 10 to show the cost growing linearly), REPEAT
# (runs per case; default 3), THREADS (streamfit's --threads; default 2), PYTHON
# (default /usr/bin/python3), LOGS (default bench/data/compare-ROWS, git-ignored), OUT
# (optional, e.g. bench/RESULTS.md: the summary section, `<!-- compare.sh begin -->`
# to `<!-- compare.sh end -->`, and every script's section are replaced there with
# this run's, and the chart is copied beside it as compare.png). The scripts make
# their data once in bench/data/ (git-ignored; at the default size about 3 GB).
#
# Prerequisites (Debian 12): time, python3-sklearn, python3-pandas, python3-h5py,
# python3-patsy, python3-tables, python3-dask, and gnuplot-nox for the chart (without
# gnuplot the chart is skipped with a message).
#
# A quick check that everything runs (a few minutes on 2 busy cores; at this size
# start-up dominates, so the ratios mean nothing):
#   ROWS=200000 REPEAT=1 sh bench/compare.sh build-rel/cli/streamfit
# A measurement: on a quiet machine (nothing else running: `uptime` load near 0;
# the cores are the measurement), with a release build:
#   meson setup build-rel --buildtype=release && ninja -C build-rel
#   OUT=bench/RESULTS.md sh bench/compare.sh build-rel/cli/streamfit      # ~15-30 minutes
#   sh bench/compare.sh --large build-rel/cli/streamfit                  # 10x: hours, ~30 GB
# Whether streamfit's own time grows linearly (and its peak RSS not at all) from ROWS to
# 10 x ROWS is bench/linear.sh's report: streamfit alone at both sizes, the ratios and a
# verdict per workload, without the hours the peers take at the large size:
#   sh bench/linear.sh build-rel/cli/streamfit                           # 2M and 20M rows
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
BENCH=compare.sh
LARGE=0
if [ "${1:-}" = "--large" ]; then
    LARGE=1
    shift
fi
pick_streamfit "${1:-}"
ROWS=${ROWS:-2000000}
[ "$LARGE" = 1 ] && ROWS=$((ROWS * 10))
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
LOGS=${LOGS:-$HERE/data/compare-$ROWS}
OUT=${OUT:-}
LC_ALL=C
export LC_ALL PYTHON REPEAT THREADS

[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"
mkdir -p "$LOGS" || die "cannot make $LOGS"
SUM=$LOGS/summary.txt # short|workload|sf s|peer s|sf MiB|peer MiB|quality|target ratio|target text
: >"$SUM"
LOAD0=$(load_now)
T0=$(date +%s)
SCRIPTS=

# run NAME [VAR=VALUE...]: runs bench/NAME.sh with ROWS and the variables; its
# report goes to LOGS/NAME.md, its raw results to LOGS/NAME.tsv, its progress to
# LOGS/NAME.log.
run() {
    _name=$1
    shift
    echo "compare.sh: $_name.sh (ROWS=$ROWS) ..." >&2
    _t=$(date +%s)
    rm -f "$LOGS/$_name.md" "$LOGS/$_name.tsv"
    if env ROWS="$ROWS" OUT="$LOGS/$_name.md" RECORD="$LOGS/$_name.tsv" "$@" sh "$HERE/$_name.sh" "$SF" \
        >/dev/null 2>"$LOGS/$_name.log"; then
        echo "compare.sh: $_name.sh done in $(($(date +%s) - _t)) s" >&2
        SCRIPTS="$SCRIPTS $_name"
    else
        echo "compare.sh: $_name.sh FAILED (see $LOGS/$_name.log)" >&2
        touch "$LOGS/$_name.tsv"
    fi
}

# g NAME KEY FIELD: a field of a case of NAME.sh (wall, mib, ...; see timing.sh's get);
# v NAME VALUE: a value NAME.sh recorded.
g() { RES=$LOGS/$1.tsv get "$2" "$3"; }
v() { awk -F'|' -v k="=$2" '$1 == k { x = $2 } END { print x }' "$LOGS/$1.tsv"; }

# row SHORT WORKLOAD SF_S PEER_S SF_MIB PEER_MIB QUALITY TARGET_RATIO TARGET_TEXT:
# one summary line (empty fields: not measured)
row() { printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$SUM"; }

# ------------------------------------------------------------------ read.sh
run read COLD=0 BIG_ROWS=0
row "read CSV" "read CSV, $THREADS threads (vs pandas read_csv, default parser, chunks of 50000)" \
    "$(g read sf_csv_t wall)" "$(g read pandas wall)" "$(g read sf_csv_t mib)" "$(g read pandas mib)" \
    "$(v read q_csv)" 3 "issue 2: >= 3x pandas with 2 threads (and >= 180 MB/s on 1 thread: $(v read csv_1_mbs) MB/s here)"
row "read HDF5 deflate 1" "read HDF5 deflate 1, $THREADS threads (vs h5py, blocks of 50000)" \
    "$(g read sf_h5_t wall)" "$(g read h5py wall)" "$(g read sf_h5_t mib)" "$(g read h5py mib)" \
    "$(v read q_h5)" 1 "faster (issue 2 sets no ratio but >= 1 GB/s from the page cache: $(v read h5_t_mbs) MB/s here)"

# ------------------------------------------------------------------ scaler.sh
run scaler COLD=0
for c in "raw|HDF5 uncompressed|issue 3: >= 5x (the issue's file)" \
    "h5|HDF5 deflate 1|issue 3's >= 5x (set on the uncompressed file)" \
    "csv|CSV|issue 3: >= 3x (vs pandas with the round_trip parser)"; do
    f=${c%%|*}
    l=${c#*|}
    tt=${l#*|}
    l=${l%%|*}
    t=5
    [ "$f" = csv ] && t=3
    row "scaler $(echo "$l" | sed 's/HDF5 //')" "scaler pass, $l (vs sklearn StandardScaler.partial_fit)" \
        "$(g scaler "sf_${f}_t" wall)" "$(g scaler "sk_$f" wall)" "$(g scaler "sf_${f}_t" mib)" "$(g scaler "sk_$f" mib)" \
        "mean_, var_ max rel. diff $(v scaler "agree_$f")" "$t" "$tt"
done

# ------------------------------------------------------------------ sgd.sh
run sgd BIG_ROWS=0
q="held-out accuracy $(v sgd acc_sf)% / $(v sgd acc_sk)%, same prediction on $(v sgd agree)% of rows"
for w in fit predict; do
    for c in "raw|HDF5 uncompressed" "h5|HDF5 deflate 1" "csv|CSV"; do
        f=${c%|*}
        l=${c#*|}
        t=5
        [ "$w$f" = fitcsv ] && t=6
        case $f in
        raw) tt="issue 5: >= ${t}x (the issue's file)" ;;
        h5) tt="issue 5's >= ${t}x (set on the uncompressed file)" ;;
        csv) tt="issue 5: >= ${t}x" ;;
        esac
        row "SGD $w $(echo "$l" | sed 's/HDF5 //')" "scaler + SGD $w, $l (vs scikit-learn)" \
            "$(g sgd "${w}_${f}_sf" wall)" "$(g sgd "${w}_${f}_sk" wall)" \
            "$(g sgd "${w}_${f}_sf" mib)" "$(g sgd "${w}_${f}_sk" mib)" "$q" "$t" "$tt"
    done
done

# ------------------------------------------------------------------ kmeans.sh
run kmeans
for c in "1024|4" "50000|2"; do
    chunk=${c%|*}
    t=${c#*|}
    for f in raw h5; do
        k=sf_${chunk}_${f}_$THREADS
        if [ "$f" = raw ]; then l="HDF5 uncompressed" tt="issue 7: >= ${t}x (the issue's file)"
        else l="HDF5 deflate 1" tt="issue 7's >= ${t}x (set on the uncompressed file)"; fi
        r=skr_${chunk}_$f
        skm=$(awk -v a="$(g kmeans "${r}_all" mib)" -v b="$(g kmeans "${r}_1" mib)" 'BEGIN { print (a > b ? a : b) }')
        ski=$(v kmeans "inertia_${r}_1")
        sfi=$(v kmeans "inertia_$k")
        row "k-means $chunk $(echo "$l" | sed 's/HDF5 //')" \
            "mini-batch k-means, $chunk-row chunks, $l (vs MiniBatchKMeans.partial_fit loop reading each chunk with h5py)" \
            "$(g kmeans "$k" wall)" "$(v kmeans "$r")" "$(g kmeans "$k" mib)" "$skm" \
            "final inertia $sfi / $ski (rel. diff $(awk -v a="$sfi" -v b="$ski" 'BEGIN { d = a - b; if (d < 0) d = -d
                printf "%.1e", (b != 0 ? d / b : d) }')); sklearn's loop on the data in memory: $(v kmeans "sk_$chunk") s" "$t" "$tt"
    done
done

# ------------------------------------------------------------------ regression.sh
run regression BIG_ROWS=0
peer=$(v regression peer)
pl="dask solve"
[ "$peer" = numpy_solve ] && pl="numpy in-memory solve: no dask here"
for z in 0 1; do
    zl=uncompressed t=1.5
    [ "$z" = 1 ] && zl=zlib-1 t=2
    pq=$(v regression "coef_${peer}_$zl")
    [ -n "$pq" ] || pq=$(v regression "coef_${peer}_uncompressed")
    row "lstsq $zl" "least squares, HDF5 design $zl (vs $pl)" \
        "$(g regression "sf${z}_${THREADS}_$ROWS" wall)" "$(g regression "peer${z}_$ROWS" wall)" \
        "$(g regression "sf${z}_${THREADS}_$ROWS" mib)" "$(g regression "peer${z}_$ROWS" mib)" \
        "coef. vs lstsq: streamfit $(v regression "coef_streamfit_$zl"), $peer $pq" "$t" "issue 6: >= ${t}x"
done
row "lstsq CSV --formula" "least squares, CSV with --formula (vs pandas + patsy design)" \
    "$(g regression "sfcsv_${THREADS}_$ROWS" wall)" "$(g regression "design0_$ROWS" wall)" \
    "$(g regression "sfcsv_${THREADS}_$ROWS" mib)" "$(g regression "design0_$ROWS" mib)" \
    "coef. vs lstsq: streamfit $(v regression coef_streamfit_csv)" 8 "issue 6: >= 8x"

# ------------------------------------------------------------------ design.sh
run design
for z in 0 1; do
    if [ "$z" = 1 ]; then zl="zlib 1" t=4; else zl="uncompressed" t=10; fi
    row "design $zl" "CSV -> formula design -> HDF5 $zl (vs pandas + patsy + PyTables)" \
        "$(g design "sf$z" wall)" "$(g design "patsy$z" wall)" "$(g design "sf$z" mib)" "$(g design "patsy$z" mib)" \
        "design files: $(v design "diff$z")" "$t" "issue 4: >= ${t}x"
done

# ------------------------------------------------------------------ the summary
LOAD1=$(load_now)
# short|ratio|target|met for the chart, and the table
awk -F'|' -v OFS='\t' '{
    sf = $3; pe = $4; ok = (sf != "" && pe != "" && sf + 0 > 0)
    r = ok ? pe / sf : 0; m = (ok && r >= $8 && $5 != "" && $5 + 0 < 64)
    if (ok) print $1, r, $8, m }' "$SUM" >"$LOGS/chart.dat"
CHART="no chart: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
if command -v gnuplot >/dev/null 2>&1; then
    if gnuplot -e "in='$LOGS/chart.dat'; out='$LOGS/compare.png'; title='streamfit vs its Python peers: $ROWS rows, median of $REPEAT run(s), --threads $THREADS'" \
        "$HERE/compare.gp" 2>"$LOGS/gnuplot.log"; then
        CHART="![peer time / streamfit time per workload, log scale, with the targets](compare.png)"
    else
        CHART="no chart: gnuplot failed (see $LOGS/gnuplot.log)"
    fi
fi
{
    echo "## Summary: streamfit against the Python peers (\`sh bench/compare.sh\`)"
    echo
    echo "$ROWS rows per data set, median of $REPEAT run(s) per case, streamfit --threads $THREADS;"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'));" \
        "load average $LOAD0 before, $LOAD1 after; $(($(date +%s) - T0)) s in all."
    echo "streamfit: $("$SF" --version) ($SF). Each script's full report is its section below."
    echo "Targets are the issues'; for scaler, SGD and k-means they were set on the uncompressed HDF5"
    echo "file, and the deflate-1 rows show the same ratio for reference. \"met\" also needs streamfit's"
    echo "peak RSS < 64 MiB."
    echo
    echo "| workload | streamfit s | peer s | ratio | streamfit MiB | peer MiB | result quality | target | met |"
    echo "|---|---:|---:|---:|---:|---:|---|---|---|"
    awk -F'|' '{
        sf = $3; pe = $4; ok = (sf != "" && pe != "" && sf + 0 > 0)
        r = ok ? pe / sf : 0
        if (!ok) v = "not measured"
        else if (r >= $8 && $5 != "" && $5 + 0 < 64) v = "met"
        else if (r >= $8) v = "**missed** (RSS)"
        else if ($5 != "" && $5 + 0 < 64) v = "**missed**"
        else v = "**missed** (and RSS)"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, sf == "" ? "-" : sprintf("%.2f", sf),
            pe == "" ? "-" : sprintf("%.3g", pe), ok ? sprintf("%.2fx", r) : "-", $5 == "" ? "-" : $5, $6 == "" ? "-" : $6,
            $7 == "" ? "-" : $7, $9, v
    }' "$SUM"
    echo
    echo "$CHART"
} >"$LOGS/summary.md"
{ echo "<!-- compare.sh begin -->"; cat "$LOGS/summary.md"; echo "<!-- compare.sh end -->"; } >"$LOGS/compare-section.md"
cat "$LOGS/summary.md"
if [ -n "$OUT" ]; then
    replace_section "$OUT" compare.sh "$LOGS/compare-section.md"
    for s in $SCRIPTS; do replace_section "$OUT" "$s.sh" "$LOGS/$s.md"; done
    [ -f "$LOGS/compare.png" ] && cp "$LOGS/compare.png" "$(dirname "$OUT")/compare.png"
    echo "compare.sh: wrote the summary and the sections of$SCRIPTS into $OUT" >&2
fi
