#!/bin/sh
# svmlight.sh — sparse input: streamfit fitting an svmlight file as it streams it,
# against scikit-learn, which cannot stream svmlight (load_svmlight_file builds
# the whole CSR matrix in memory) and then learns with partial_fit in chunks.
#
#   sh bench/svmlight.sh [PATH/TO/streamfit]        (default: build/cli/streamfit)
#
# Environment: ROWS (default 2000000), FEATURES (default 1000000), NNZ per row
# (default 30): about 0.87 GB at the defaults; THREADS (streamfit's --threads;
# default 2), REPEAT (runs per case, best wall time kept; default 1), PYTHON
# (default /usr/bin/python3), OUT (default bench/RESULTS.md: its svmlight.sh section
# is replaced, as the other scripts do; OUT=- only prints).
#
# Data: bench/data/sparse<ROWS>x<FEATURES>x<NNZ>.svm, made once by
# bench/svmlight_gen.c (one-based indices, labels -1/1 from a hidden linear model).
# Cases, each timed by GNU time (wall, peak RSS):
#   sf scan     streamfit describe: the index scan at open + one parse pass
#   sf fit      fit "sgd_classifier(loss=hinge)": scan at open, a pass that finds
#               the classes, the learning pass
#   sf fit+cls  the same with classes=[-1,1] and --n-features/--zero-based false:
#               no scan, one pass
#   sf predict  predict --out preds.csv
#   sklearn     load_svmlight_file whole + SGDClassifier.partial_fit in chunks of
#               16384 rows (bench/svmlight_sklearn.py)
# and the predictions of both on the first 10000 rows are compared (they are the
# same model: sklearn's partial_fit on CSR rows, shuffle=False).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
ROWS=${ROWS:-2000000}
FEATURES=${FEATURES:-1000000}
NNZ=${NNZ:-30}
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-1}
OUT=${OUT:-$HERE/RESULTS.md}
. "$HERE/timing.sh"
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL
die() { echo "svmlight.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
mkdir -p "$HERE/data"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_svm_bench.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
DATA=$HERE/data/sparse${ROWS}x${FEATURES}x${NNZ}.svm
if [ ! -s "$DATA" ]; then
    cc -O2 -o "$W/gen" "$HERE/svmlight_gen.c" || die "cannot build svmlight_gen"
    "$W/gen" "$ROWS" "$FEATURES" "$NNZ" 1 >"$DATA.tmp" && mv "$DATA.tmp" "$DATA" || die "cannot write $DATA"
fi
MB=$(($(stat -c %s "$DATA") / 1048576))
: >"$W/res"

# measure LABEL CMD...: best wall time of REPEAT runs and the largest peak RSS.
measure() {
    label=$1
    shift
    best= rss=0 k=1
    while [ "$k" -le "$REPEAT" ]; do
        "$TIME" -f '%e %M' -o "$W/t" "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr" >&2; die "$label failed"; }
        read -r s m <"$W/t"
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
        [ "$m" -gt "$rss" ] && rss=$m
        k=$((k + 1))
    done
    printf '%s\t%s\t%s\t%s\n' "$label" "$best" "$((rss / 1024))" "$(head -c 200 "$W/stdout" | tr '\n\t' '  ')" >>"$W/res"
    echo "$label: $best s, $((rss / 1024)) MiB" >&2
}

measure "sf scan+describe" "$SF" describe "$DATA" --threads "$THREADS" --quiet
measure "sf fit" "$SF" fit "$DATA" --pipeline "sgd_classifier(loss=hinge)" --model "$W/m.h5" --threads "$THREADS" --quiet
measure "sf fit+cls, no scan" "$SF" fit "$DATA" --pipeline "sgd_classifier(loss=hinge, classes=[-1, 1])" \
    --n-features "$FEATURES" --zero-based false --model "$W/m2.h5" --threads "$THREADS" --quiet
measure "sf predict" "$SF" predict "$DATA" --model "$W/m.h5" --out "$W/preds.csv" --threads "$THREADS" --quiet
measure "sklearn load+partial_fit" "$PYTHON" "$HERE/svmlight_sklearn.py" "$DATA" "$FEATURES" "$W/sk.txt"
sed -n '2,10001p' "$W/preds.csv" >"$W/sf.txt"
AGREE=$(paste "$W/sf.txt" "$W/sk.txt" | awk '$1 == $2 { n++ } END { print n + 0 }')
LOAD=$(cat /proc/loadavg)
{
    echo "<!-- svmlight.sh begin -->"
    echo "## Sparse input: svmlight, streamfit vs scikit-learn"
    echo
    echo "Made by \`sh bench/svmlight.sh\` (ROWS=$ROWS FEATURES=$FEATURES NNZ=$NNZ THREADS=$THREADS REPEAT=$REPEAT)"
    echo "on $(nproc) CPUs, $(date -u +%Y-%m-%d); load average after the run: $LOAD."
    echo "Data: $(basename "$DATA"), $MB MiB, $ROWS rows x $FEATURES features, $NNZ stored values a row."
    echo
    echo "| case | wall s | peak RSS MiB | output |"
    echo "|---|---:|---:|---|"
    awk -F '\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$W/res"
    echo
    echo "Predictions on the first 10000 rows: $AGREE of 10000 equal (streamfit's model vs sklearn's)."
    echo "scikit-learn cannot stream svmlight: load_svmlight_file builds the whole matrix (its peak RSS above)."
    echo "<!-- svmlight.sh end -->"
} >"$W/section"
[ "$OUT" = - ] || replace_section "$OUT" svmlight.sh "$W/section"
cat "$W/section"
