#!/bin/sh
# kmeans.sh — mini-batch k-means: streamfit's minibatch_kmeans against scikit-learn's
# MiniBatchKMeans.partial_fit on the same chunks, 2M x 10 blobs, k = 8 (issue 7).
#
#   sh bench/kmeans.sh [PATH/TO/streamfit]      (default: build/cli/streamfit)
#
# Environment: PYTHON (default /usr/bin/python3, with python3-sklearn and h5py),
# ROWS (default 2000000), REPEAT (runs per case, best wall time kept; default 3),
# REFINE (Lloyd passes for the thread-scaling case; default 3), DATA (default
# bench/data, git-ignored), OUT (default bench/RESULTS.md: the section between the
# "kmeans.sh" markers is replaced, or appended).
#
# Data, made once: DATA/blobs<ROWS>.h5 by `streamfit gen blobs --features 10
# --centers 8 --seed 1` (1-D float64 datasets, deflate 1), DATA/blobs<ROWS>.raw.h5
# the same with --compression 0, DATA/blobs<ROWS>.csv by `streamfit convert`.
#
# Cases (random_state 0 everywhere):
# - 1024-row chunks: sklearn partial_fit on consecutive 1024-row chunks; streamfit
#   batch_size=1024 (the stage re-cuts its 50,000-row read chunks into 1024-row
#   batches: the same steps);
# - 50,000-row chunks: sklearn partial_fit on 50,000-row chunks (one step per
#   chunk; its _batch_size is min(1024, 50000), so init samples 3072 rows);
#   streamfit batch_size=50000, init_size=3072: the same steps.
# sklearn runs with OpenMP on all cores (its default; one run) and on one core
# (REPEAT runs); the faster is the reference. sklearn's time is its partial_fit loop alone (data already in memory; the h5py
# read is listed apart); streamfit's is the whole `streamfit fit` process (read,
# fit, model file). Inertia: of the final centers over all rows, sklearn's
# -score(X) and `streamfit score`. Peak RSS: GNU time, whole process.
# Threads: refine=REFINE adds exact Lloyd passes (distance-bound, parallel over
# segments); the time per refine pass is (fit with refine - fit without) / passes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
ROWS=${ROWS:-2000000}
REPEAT=${REPEAT:-3}
REFINE=${REFINE:-3}
DATA=${DATA:-$HERE/data}
OUT=${OUT:-$HERE/RESULTS.md}
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL

die() { echo "kmeans.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import sklearn, h5py' 2>/dev/null || die "$PYTHON lacks sklearn or h5py"
mkdir -p "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_kmeans.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP

H5=$DATA/blobs$ROWS.h5
RAW=$DATA/blobs$ROWS.raw.h5
CSV=$DATA/blobs$ROWS.csv
[ -f "$H5" ] || "$SF" gen blobs --rows "$ROWS" --features 10 --centers 8 --seed 1 --out "$H5" --quiet || die "gen failed"
[ -f "$RAW" ] || "$SF" gen blobs --rows "$ROWS" --features 10 --centers 8 --seed 1 --compression 0 --out "$RAW" --quiet ||
    die "gen failed"
[ -f "$CSV" ] || "$SF" convert "$H5:/" --out "$CSV" --quiet || die "convert failed"
COLS=x0,x1,x2,x3,x4,x5,x6,x7,x8,x9
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# best wall seconds and largest peak RSS (KiB) of REPEAT runs of a command
# (its last stdout line is kept in $W/last)
best() {
    b=""; r=0
    for i in $(seq "$REPEAT"); do
        "$TIME" -f "%e %M" -o "$W/t" "$@" >"$W/o" 2>"$W/e" || { cat "$W/e" >&2; die "failed: $*"; }
        tail -n 1 "$W/o" >"$W/last"
        s=$(cut -d' ' -f1 "$W/t"); m=$(cut -d' ' -f2 "$W/t")
        if [ -z "$b" ] || awk "BEGIN{exit !($s < $b)}"; then b=$s; fi
        [ "$m" -gt "$r" ] && r=$m
    done
    echo "$b $r"
}

sf_inertia() { "$SF" score "$1" --model "$2" --json --quiet | sed 's/.*"inertia": *\([^}]*\)}.*/\1/'; }

ROWS_MD=$W/rows
: >"$ROWS_MD"
for chunk in 1024 50000; do
    # scikit-learn: best partial_fit time of REPEAT runs (the script times it
    # itself), with OpenMP on all cores (its default) and on one; the faster is
    # the reference for the (xN) ratios
    sref=""
    for omp in all 1; do
        sbest=""; srss=0; sread=""
        # OpenMP on all cores spins when the cores are busy: one run is enough to show it
        n=$REPEAT; [ "$omp" = all ] && n=1
        for i in $(seq "$n"); do
            if [ "$omp" = 1 ]; then set -- env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1; else set -- env; fi
            "$TIME" -f "%e %M" -o "$W/t" "$@" "$PYTHON" "$HERE/kmeans_sklearn.py" "$H5" "$chunk" 8 0 >"$W/o" 2>"$W/e" ||
                { cat "$W/e" >&2; die "sklearn failed"; }
            set -- $(cat "$W/o")
            sread=$1; sfit=$2; sin=$3; ssteps=$4
            m=$(cut -d' ' -f2 "$W/t")
            if [ -z "$sbest" ] || awk "BEGIN{exit !($sfit < $sbest)}"; then sbest=$sfit; fi
            [ "$m" -gt "$srss" ] && srss=$m
        done
        if [ -z "$sref" ] || awk "BEGIN{exit !($sbest < $sref)}"; then sref=$sbest; fi
        echo "| scikit-learn partial_fit | $chunk | OpenMP $omp | $sbest (h5py read $sread apart) | $((srss / 1024)) | $sin | $ssteps |" >>"$ROWS_MD"
    done
    if [ "$chunk" = 1024 ]; then P="minibatch_kmeans(n_clusters=8, random_state=0)"
    else P="minibatch_kmeans(n_clusters=8, random_state=0, batch_size=50000, init_size=3072)"; fi
    for data in "$H5:/" "$RAW:/" "$CSV"; do
        for th in 1 2; do
            set -- $(best "$SF" fit "$data" --pipeline "$P" --columns $COLS --model "$W/m.h5" --threads "$th" \
                --chunk-rows 50000 --quiet)
            t=$1; rss=$2
            in=$(sf_inertia "$data" "$W/m.h5")
            steps=$("$SF" export "$W/m.h5" --json | sed 's/.*"n_steps_": *\([0-9]*\).*/\1/')
            x=$(awk "BEGIN{printf \"%.1f\", $sref / $t}")
            echo "| streamfit fit $(basename "$data" | sed 's/:.*//') | $chunk | $th | $t (x$x) | $((rss / 1024)) | $in | $steps |" >>"$ROWS_MD"
        done
    done
done

# thread scaling on the distance-bound part: refine passes over the raw HDF5
SCALE_MD=$W/scale
: >"$SCALE_MD"
for th in 1 2; do
    set -- $(best "$SF" fit "$RAW:/" --pipeline "minibatch_kmeans(n_clusters=8, random_state=0)" --columns $COLS \
        --model "$W/m.h5" --threads "$th" --quiet)
    t0=$1
    set -- $(best "$SF" fit "$RAW:/" --pipeline "minibatch_kmeans(n_clusters=8, random_state=0, refine=$REFINE)" \
        --columns $COLS --model "$W/m.h5" --threads "$th" --quiet)
    t1=$1; rss=$2
    passes=$("$SF" export "$W/m.h5" --json | sed 's/.*"refine_inertia_": *\[\([^]]*\)\].*/\1/' | tr ',' '\n' | wc -l)
    per=$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / $passes}")
    echo "$th $t0 $t1 $passes $per $((rss / 1024))" >>"$SCALE_MD"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

SECTION=$W/section
{
    echo "<!-- kmeans.sh begin -->"
    echo "# Mini-batch k-means (issue 7)"
    echo
    echo "Made by \`sh bench/kmeans.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC'); nproc $(nproc); load average"
    echo "before $LOAD_BEFORE, after $LOAD_AFTER (other work on the cores slows every case)."
    echo "Data: $ROWS x 10 blobs, 8 centers (\`streamfit gen blobs --seed 1\`): HDF5 deflate 1 ($(stat -c %s "$H5") B),"
    echo "HDF5 uncompressed (raw, $(stat -c %s "$RAW") B), CSV ($(stat -c %s "$CSV") B). k = 8, random_state 0."
    echo "Best of $REPEAT runs. sklearn: its partial_fit loop only (h5py read apart); streamfit: the whole"
    echo "\`streamfit fit\` process. (xN) = the faster sklearn time / streamfit's. Same chunks ⇒ the same steps: the"
    echo "inertia columns agree."
    echo
    echo "| run | chunk rows | threads | seconds | peak RSS MiB | final inertia | steps |"
    echo "|---|---|---|---|---|---|---|"
    cat "$ROWS_MD"
    echo
    echo "Thread scaling of the distance-bound part (exact Lloyd passes, refine=$REFINE, raw HDF5;"
    echo "seconds per pass = (fit with refine − fit without) / passes, passes including the final"
    echo "inertia pass):"
    echo
    echo "| threads | fit s | fit + refine s | refine passes | s per pass | peak RSS MiB |"
    echo "|---|---|---|---|---|---|"
    while read -r th t0 t1 passes per rss; do echo "| $th | $t0 | $t1 | $passes | $per | $rss |"; done <"$SCALE_MD"
    echo "<!-- kmeans.sh end -->"
} >"$SECTION"

if [ -f "$OUT" ] && grep -q '<!-- kmeans.sh begin -->' "$OUT"; then
    awk -v f="$SECTION" '/<!-- kmeans.sh begin -->/{while ((getline l < f) > 0) print l; skip=1; next}
        /<!-- kmeans.sh end -->/{skip=0; next} !skip' "$OUT" >"$W/new" && cp "$W/new" "$OUT"
else
    { [ -f "$OUT" ] && echo; cat "$SECTION"; } >>"$OUT"
fi
cat "$SECTION"
