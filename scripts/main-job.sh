#!/bin/bash
# The main job, end to end on data it generates (no server, no download):
#  seed 000 — a regression on a CSV larger than a chunk: the patsy formula of the
#             post, least squares by QR updating, the regression table with
#             statsmodels' residual diagnostics (a second pass);
#  seed 001 — a scaler pass, then an SGD classifier fed in data order, held-out
#             accuracy and log loss, and parallel prediction written to HDF5;
#  plus mini-batch k-means with exact refinement on blobs.
# Prints rows/s and peak memory (GNU time) for every fit.
# Environment: ROWS (default 1000000 per data set), THREADS (default: all CPUs),
# WORK (default: a fresh temporary folder, kept for a look afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/deps.sh
meson setup build-release --buildtype=release >/dev/null 2>&1 || true
ninja -C build-release >/dev/null
sf=$PWD/build-release/cli/streamfit
work=${WORK:-$(mktemp -d)}
rows=${ROWS:-1000000}
threads=${THREADS:-0}
report="$work/report.txt"
: > "$report"

# timed NAME ROWS CMD…: runs CMD under GNU time; appends rows/s and peak RSS to the report
timed() {
    local name=$1 n=$2
    shift 2
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@"
    read -r secs kb < "$work/time.txt"
    awk -v name="$name" -v n="$n" -v s="$secs" -v kb="$kb" 'BEGIN {
        printf "%-44s %9.2f s %12.0f rows/s %8.1f MiB peak\n", name, s, (s > 0 ? n / s : 0), kb / 1024 }' |
        tee -a "$report"
}


echo "== seed 000: regression data, $rows rows"
"$sf" gen regression --rows "$rows" --seed 1 --out "$work/regression.csv" --quiet
ls -l "$work/regression.csv"
formula='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))'
timed "fit linear_regression --formula (CSV)" "$rows" \
    "$sf" fit "$work/regression.csv" --formula "$formula" --pipeline "linear_regression(diagnostics=true)" \
    --model "$work/regression.h5" --threads "$threads" --quiet
if [ -e "$work/regression.h5" ]; then
    "$sf" export "$work/regression.h5"
    "$sf" score "$work/regression.csv" --model "$work/regression.h5" --threads "$threads"
fi

echo "== seed 001: classification data, $rows rows to learn from and $((rows / 5)) held out"
# one draw, split: the held-out rows come from the same model
"$sf" gen classification --rows $((rows + rows / 5)) --seed 2 --out "$work/all.csv" --quiet
head -n $((rows + 1)) "$work/all.csv" > "$work/train.csv"
{ head -n 1 "$work/all.csv"; tail -n +$((rows + 2)) "$work/all.csv"; } > "$work/test.csv"
rm "$work/all.csv"
"$sf" convert "$work/train.csv" --out "$work/train.h5" --quiet
timed "fit scaler | sgd_classifier (CSV, 2 passes)" "$rows" \
    "$sf" fit "$work/train.csv" --pipeline "scaler | sgd_classifier(loss=log_loss, alpha=1e-4)" --target y \
    --model "$work/sgd.h5" --threads "$threads" --cache "$work/cache.h5" --quiet
timed "fit scaler | sgd_classifier (HDF5, 2 passes)" "$rows" \
    "$sf" fit "$work/train.h5:/" --pipeline "scaler | sgd_classifier(loss=log_loss, alpha=1e-4)" --target y \
    --model "$work/sgd_h5.h5" --threads "$threads" --quiet
echo "held-out score:"
"$sf" score "$work/test.csv" --model "$work/sgd.h5" --threads "$threads" | tee -a "$report"
timed "predict --proba into HDF5" "$((rows / 5))" \
    "$sf" predict "$work/test.csv" --model "$work/sgd.h5" --proba --out "$work/proba.h5" --threads "$threads" --quiet
ls -l "$work/proba.h5"

echo "== mini-batch k-means on blobs, then 3 exact Lloyd passes"
"$sf" gen blobs --rows "$rows" --centers 8 --features 10 --seed 4 --out "$work/blobs.csv" --quiet
timed "fit minibatch_kmeans(refine=3) (CSV)" "$rows" \
    "$sf" fit "$work/blobs.csv" --pipeline "minibatch_kmeans(n_clusters=8, refine=3)" --seed 0 \
    --columns x0,x1,x2,x3,x4,x5,x6,x7,x8,x9 --model "$work/kmeans.h5" --threads "$threads" \
    --cache "$work/blobs_cache.h5" --quiet
"$sf" score "$work/blobs.csv" --model "$work/kmeans.h5" --threads "$threads"

echo
echo "== report (threads: ${THREADS:-all CPUs}; machine: $(nproc) CPUs)"
cat "$report"
echo "outputs in $work"
