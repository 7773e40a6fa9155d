#!/bin/sh
# sgd.sh — seed 001's workflow (a scaler pass, then an SGD classifier fed chunk by
# chunk, then prediction written to disk) in streamfit and in scikit-learn, on
# `streamfit gen classification` data (20 features, target y), from HDF5 and CSV.
#
#   sh bench/sgd.sh [PATH/TO/streamfit]        (default: build/cli/streamfit)
#
# Environment: PYTHON (default /usr/bin/python3, with python3-sklearn, pandas,
# h5py), REPEAT (runs per case, best wall time kept; default 3), ROWS (default
# 2000000), BIG_ROWS (a second size for "time linear in rows"; default 0 = skip),
# THREADS (streamfit's --threads; default 2), OUT (default bench/RESULTS-sgd.md:
# bench/read.sh rewrites RESULTS.md whole).
#
# Data goes to bench/data/ (git-ignored), made once: cls<ROWS>.csv by `streamfit
# gen classification --rows ROWS --seed 1`, cls<ROWS>.h5 by `streamfit convert`,
# and held-out rows hold<ROWS>.csv/.h5 for the accuracies: rows ROWS+1 ..
# ROWS + ROWS/10 of the same generator (gen's rows do not depend on --rows).
# streamfit: fit DATA --pipeline "scaler | sgd_classifier(loss=log_loss)" (CSV:
# with --cache, so the second pass reads binary rows), then predict --out preds.h5. scikit-learn: bench/sgd_sklearn.py, the same chunks
# (50000 rows) through StandardScaler.partial_fit then SGDClassifier.partial_fit
# (shuffle=False), predict chunk by chunk into an HDF5 file. Every run is timed by
# GNU time (wall time, peak RSS, Python start-up and imports included).
# Run nothing else meanwhile: the machine's cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=sgd.sh
. "$HERE/timing.sh"
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
REPEAT=${REPEAT:-3}
ROWS=${ROWS:-2000000}
BIG_ROWS=${BIG_ROWS:-0}
THREADS=${THREADS:-2}
OUT=${OUT:-$HERE/RESULTS-sgd.md}
DATA=$HERE/data
TIME=/usr/bin/time
SPEC="scaler | sgd_classifier(loss=log_loss)"
LC_ALL=C
export LC_ALL

die() { echo "sgd.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import sklearn, pandas, h5py' 2>/dev/null || die "$PYTHON lacks sklearn, pandas or h5py"
mkdir -p "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_sgd_bench.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP
RES=$W/results     # label, seconds, rss_kib, command, first line of output; tab-separated
TAB=$(printf '\t')
: >"$RES"

# measure LABEL CMD...: REPEAT runs, best wall time and largest peak RSS kept.
measure() {
    _label=$1
    shift
    _best=
    _rss=0
    _k=1
    while [ "$_k" -le "$REPEAT" ]; do
        run_timed "$W/run" "$@" || return 1
        echo "  $_label run $_k: $SECS s, $RSS KiB" >&2
        if [ -z "$_best" ] || awk -v a="$SECS" -v b="$_best" 'BEGIN { exit !(a < b) }'; then
            _best=$SECS
            _out=$(cat "$W/run.out" "$W/run.err" | awk 'NF { print; exit }')
        fi
        [ "$RSS" -gt "$_rss" ] && _rss=$RSS
        _k=$((_k + 1))
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$_label" "$_best" "$_rss" "$*" "$_out" >>"$RES"
}

# make_data NAME ROWS [SKIP]: bench/data/NAME.csv (rows SKIP+1 .. SKIP+ROWS of
# `gen classification --seed 1`) and NAME.h5, once.
make_data() {
    if [ ! -s "$DATA/$1.csv" ]; then
        echo "generating $DATA/$1.csv" >&2
        _skip=${3:-0}
        "$SF" gen classification --rows $(($2 + _skip)) --seed 1 --out "$W/gen.csv" --quiet || die "gen failed"
        { head -n 1 "$W/gen.csv"; tail -n +$((_skip + 2)) "$W/gen.csv"; } >"$DATA/$1.csv"
        rm -f "$W/gen.csv"
    fi
    if [ ! -s "$DATA/$1.h5" ] || [ "$DATA/$1.h5" -ot "$DATA/$1.csv" ]; then
        rm -f "$DATA/$1.h5"
        "$SF" convert "$DATA/$1.csv" --out "$DATA/$1.h5" --quiet || die "convert failed"
    fi
}

# one_size ROWS: the fit and predict cases on ROWS rows.
one_size() {
    _n=$1
    make_data "cls$_n" "$_n"
    _csv=$DATA/cls$_n.csv
    _h5=$DATA/cls$_n.h5
    cat "$_csv" "$_h5" >/dev/null
    measure "fit, HDF5, streamfit ($_n rows)" "$SF" fit "$_h5:/" --pipeline "$SPEC" --model "$W/sf.h5" \
        --target y --threads "$THREADS" --quiet
    measure "fit, HDF5, scikit-learn ($_n rows)" "$PYTHON" "$HERE/sgd_sklearn.py" fit "$_h5" "$W/sk.pkl"
    measure "fit, CSV, streamfit ($_n rows)" "$SF" fit "$_csv" --pipeline "$SPEC" --model "$W/sf.h5" \
        --target y --threads "$THREADS" --cache "$W/cache.h5" --quiet
    measure "fit, CSV, scikit-learn ($_n rows)" "$PYTHON" "$HERE/sgd_sklearn.py" fit "$_csv" "$W/sk.pkl"
    measure "predict, HDF5, streamfit ($_n rows)" "$SF" predict "$_h5:/" --model "$W/sf.h5" \
        --out "$W/p_sf.h5" --threads "$THREADS" --quiet
    measure "predict, HDF5, scikit-learn ($_n rows)" "$PYTHON" "$HERE/sgd_sklearn.py" predict "$_h5" \
        "$W/sk.pkl" "$W/p_sk.h5"
    measure "predict, CSV, streamfit ($_n rows)" "$SF" predict "$_csv" --model "$W/sf.h5" \
        --out "$W/p_sf.h5" --threads "$THREADS" --quiet
    measure "predict, CSV, scikit-learn ($_n rows)" "$PYTHON" "$HERE/sgd_sklearn.py" predict "$_csv" \
        "$W/sk.pkl" "$W/p_sk.h5"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
one_size "$ROWS"
# accuracy on held-out rows, both models fitted on ROWS rows (the CSV fit ran last)
HOLD=$((ROWS / 10))
make_data "hold$ROWS" "$HOLD" "$ROWS"
"$SF" predict "$DATA/hold$ROWS.h5:/" --model "$W/sf.h5" --out "$W/h_sf.h5" --quiet || die "predict failed"
"$PYTHON" "$HERE/sgd_sklearn.py" predict "$DATA/hold$ROWS.h5" "$W/sk.pkl" "$W/h_sk.h5" >/dev/null ||
    die "sklearn predict failed"
ACC=$("$PYTHON" - "$DATA/hold$ROWS.h5" "$W/h_sf.h5" "$W/h_sk.h5" <<'EOF'
import sys, h5py, numpy as np
def first_column(path):
    f = h5py.File(path, "r")
    c = f.attrs["columns"][0]
    return f[c.decode() if isinstance(c, bytes) else str(c)][:]
y = h5py.File(sys.argv[1], "r")["y"][:]
a, b = first_column(sys.argv[2]), first_column(sys.argv[3])
print("streamfit %.4f%%, scikit-learn %.4f%%, the same prediction on %.4f%% of rows"
      % (100 * np.mean(a == y), 100 * np.mean(b == y), 100 * np.mean(a == b)))
EOF
)
[ "$BIG_ROWS" -gt 0 ] && one_size "$BIG_ROWS"

{
    echo "# SGD classifier: seed 001 (scaler pass, SGD pass, prediction) against scikit-learn"
    echo
    echo "Made by \`sh bench/sgd.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC')."
    echo
    echo "## Machine"
    echo
    echo '```'
    echo "nproc: $(nproc)"
    lscpu | grep 'Model name' || true
    echo "load average before the runs: $LOAD0"
    echo "streamfit: $("$SF" --version 2>/dev/null | head -1) ($SF), --threads $THREADS"
    echo "python: $("$PYTHON" -c 'import sys, sklearn, numpy, pandas, h5py; print(sys.version.split()[0], "sklearn", sklearn.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__, "h5py", h5py.__version__)')"
    echo '```'
    echo
    echo "## Results ($REPEAT runs each, best wall time; peak RSS of the whole process)"
    echo
    echo "| case | seconds | peak RSS MiB | x scikit-learn |"
    echo "|---|---:|---:|---:|"
    awk -F"$TAB" '{
        lab[NR] = $1; sec[NR] = $2; rss[NR] = $3
        if ($1 ~ /scikit-learn/) { k = $1; sub(/scikit-learn/, "streamfit", k); sk[k] = $2 }
    } END {
        for (i = 1; i <= NR; i++) {
            x = (lab[i] in sk) ? sprintf("%.1f", sk[lab[i]] / sec[i]) : ""
            printf "| %s | %.2f | %.0f | %s |\n", lab[i], sec[i], rss[i] / 1024, x
        }
    }' "$RES"
    echo
    echo "Accuracy on $HOLD held-out rows (the generator's next rows): $ACC."
    echo
    echo "## Exact commands and what each printed (best run)"
    echo
    awk -F"$TAB" '{ printf "- `%s`\n  %s\n", $4, $5 }' "$RES"
} >"$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
