#!/bin/sh
# sgd.sh — seed 001's workflow (a scaler pass, then an SGD classifier fed chunk by
# chunk, then prediction written to disk) in streamfit and in scikit-learn (issue 5),
# on `streamfit gen classification` data (20 features, target y), from HDF5
# (uncompressed: the file issue 5's figures were taken on; and deflate 1, as
# `streamfit convert` writes by default) and from CSV.
#
#   sh bench/sgd.sh [PATH/TO/streamfit]      (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for PYTHON, REPEAT, THREADS, DATA, OUT, RECORD): ROWS
# (default 2000000), BIG_ROWS (a second size for "time linear in rows"; default 0 =
# skip).
#
# Data, made once in DATA (git-ignored): cls<ROWS>.csv by `streamfit gen
# classification --rows ROWS --seed 1`, cls<ROWS>.h5 (deflate 1) and cls<ROWS>.raw.h5
# (uncompressed) by `streamfit convert`, and held-out rows hold<ROWS>.csv/.h5 for the
# accuracies: rows ROWS+1 .. ROWS + ROWS/10 of the same generator (gen's rows do not
# depend on --rows). streamfit: fit DATA --pipeline "scaler | sgd_classifier(loss=
# log_loss)" (CSV: with --cache, so the second pass reads binary rows), then predict
# --out preds.h5. scikit-learn: bench/sgd_sklearn.py, the same chunks (50000 rows)
# through StandardScaler.partial_fit then SGDClassifier.partial_fit (shuffle=False),
# predict chunk by chunk into an HDF5 file. Result quality: the accuracy of both
# models (fitted on the uncompressed HDF5) on the held-out rows, and on how many rows
# their predictions agree. Run nothing else meanwhile: the cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
bench_init sgd.sh "$@"
ROWS=${ROWS:-2000000}
BIG_ROWS=${BIG_ROWS:-0}
SPEC="scaler | sgd_classifier(loss=log_loss)"
need_python sklearn pandas h5py

# one_size ROWS: the fit and predict cases on ROWS rows, keys
# {fit,predict}_{raw,h5,csv}_{sf,sk}[_ROWS when not the main size].
one_size() {
    nrows=$1
    sfx=
    [ "$nrows" = "$ROWS" ] || sfx=_$nrows
    gen_data classification "$nrows"
    cat "$CSV" "$H5" "$RAW" >/dev/null
    for f in raw h5 csv; do
        case $f in
        raw) d=$RAW:/ p=$RAW l="HDF5 uncompressed" c= ;;
        h5) d=$H5:/ p=$H5 l="HDF5 deflate 1" c= ;;
        csv) d=$CSV p=$CSV l=CSV c="--cache $W/cache.h5" ;;
        esac
        # shellcheck disable=SC2086
        measure "fit_${f}_sf$sfx" "fit, $l, streamfit ($nrows rows)" "$SF" fit "$d" --pipeline "$SPEC" \
            --model "$W/sf_$f.h5" --target y --threads "$THREADS" $c --quiet
        measure "fit_${f}_sk$sfx" "fit, $l, scikit-learn ($nrows rows)" \
            "$PYTHON" "$HERE/sgd_sklearn.py" fit "$p" "$W/sk_$f.pkl"
        measure "predict_${f}_sf$sfx" "predict, $l, streamfit ($nrows rows)" "$SF" predict "$d" \
            --model "$W/sf_$f.h5" --out "$W/p_sf.h5" --threads "$THREADS" --quiet
        measure "predict_${f}_sk$sfx" "predict, $l, scikit-learn ($nrows rows)" \
            "$PYTHON" "$HERE/sgd_sklearn.py" predict "$p" "$W/sk_$f.pkl" "$W/p_sk.h5"
    done
}

# hold_data NAME ROWS SKIP: DATA/NAME.csv (rows SKIP+1 .. SKIP+ROWS of `gen
# classification --seed 1`) and NAME.h5, once.
hold_data() {
    ensure "$DATA/$1.csv" - sh -c '"$1" gen classification --rows "$2" --seed 1 --out "$3.gen" --quiet &&
        { head -n 1 "$3.gen"; tail -n +"$4" "$3.gen"; } >"$3" && rm -f "$3.gen"' \
        sh "$SF" $(($2 + $3)) "$DATA/$1.csv" $(($3 + 2))
    ensure "$DATA/$1.h5" "$DATA/$1.csv" "$SF" convert "$DATA/$1.csv" --out "$DATA/$1.h5" --quiet
}

one_size "$ROWS"
# accuracy on held-out rows, both models fitted on the uncompressed HDF5 file
HOLD=$((ROWS / 10))
hold_data "hold$ROWS" "$HOLD" "$ROWS"
"$SF" predict "$DATA/hold$ROWS.h5:/" --model "$W/sf_raw.h5" --out "$W/h_sf.h5" --quiet || die "predict failed"
"$PYTHON" "$HERE/sgd_sklearn.py" predict "$DATA/hold$ROWS.h5" "$W/sk_raw.pkl" "$W/h_sk.h5" >/dev/null ||
    die "sklearn predict failed"
ACCS=$("$PYTHON" - "$DATA/hold$ROWS.h5" "$W/h_sf.h5" "$W/h_sk.h5" <<'EOF'
import sys, h5py, numpy as np
def first_column(path):
    f = h5py.File(path, "r")
    c = f.attrs["columns"][0]
    return f[c.decode() if isinstance(c, bytes) else str(c)][:]
y = h5py.File(sys.argv[1], "r")["y"][:]
a, b = first_column(sys.argv[2]), first_column(sys.argv[3])
print("%.4f %.4f %.4f" % (100 * np.mean(a == y), 100 * np.mean(b == y), 100 * np.mean(a == b)))
EOF
) || die "the accuracy step failed"
# shellcheck disable=SC2086
set -- $ACCS
value acc_sf "$1"
value acc_sk "$2"
value agree "$3"
ACC="held-out accuracy streamfit $1%, scikit-learn $2%; the same prediction on $3% of rows"
[ "$BIG_ROWS" -gt 0 ] && one_size "$BIG_ROWS"

{
    echo "## SGD classifier: seed 001 (scaler pass, SGD pass, prediction) against scikit-learn (issue 5)"
    echo
    machine sklearn numpy pandas h5py
    echo
    echo "Data: \`streamfit gen classification --rows $ROWS --seed 1\` (20 features, target y), as CSV and"
    echo "\`streamfit convert\`ed to HDF5 uncompressed and deflate 1. \"x\" columns: scikit-learn's wall / streamfit's."
    echo
    results_table
    echo
    echo "| workload | streamfit / scikit-learn wall s | x | target (issue 5; set on the uncompressed HDF5 and CSV) |"
    echo "|---|---:|---:|---|"
    for k in $(awk -F'|' '$1 ~ /_sf/ { print $1 }' "$RES"); do
        s=$(echo "$k" | sed 's/_sf/_sk/')
        case $k in fit_csv*) t=6 ;; *) t=5 ;; esac
        x=$(ratio "$(get "$s" wall)" "$(get "$k" wall)")
        echo "| $(get "$k" label | sed 's/, streamfit//') | $(awk -v a="$(get "$k" wall)" -v b="$(get "$s" wall)" 'BEGIN { printf "%.2f / %.2f", a, b }') | ${x}x | >= ${t}x: $(verdict "$x" "$t") |"
    done
    echo
    echo "Result quality: $ACC ($HOLD rows after the $ROWS fitted)."
    echo
    echo "### Exact commands and what each printed (median run)"
    echo
    commands
} | publish
