#!/bin/sh
# scaler.sh — the standard scaler pass (issue 3, item 10): `streamfit fit --pipeline
# scaler` on ROWS x 20 from HDF5 (uncompressed: the file issue 3's figures were taken
# on; and deflate 1, as `streamfit convert` writes by default) and from CSV, with 1
# and THREADS threads, against scikit-learn's StandardScaler.partial_fit fed by h5py /
# pandas chunks of the same size (bench/scaler_sklearn.py).
#
#   sh bench/scaler.sh [PATH/TO/streamfit]   (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for PYTHON, REPEAT, THREADS, DATA, OUT, RECORD): ROWS
# (default 2000000), CHUNK (rows per chunk on both sides, default 50000), COLD (1 = one
# cold-cache case per side when /proc/sys/vm/drop_caches is writable; default 1).
#
# Data, made once: DATA/cls<ROWS>.csv by `streamfit gen classification --rows ROWS
# --seed 1` (x0..x19 ~ N(0,1), y in {0,1}); DATA/cls<ROWS>.h5 by `streamfit convert`
# (a group of 1-D float64 datasets, deflate 1) and DATA/cls<ROWS>.raw.h5
# (--compression 0). Both sides fit x0..x19 (y is the target, not scaled). Wall
# seconds include start-up, Python's imports and streamfit's model save; the "own"
# column is the fitting pass as each program reports it (streamfit: open + fit +
# save; Python: the chunk loop). Ratios are scikit-learn's wall time over streamfit's
# on the same file. Result quality: the fitted mean_ and var_ of both sides, max
# relative difference, per file.
# Run nothing else meanwhile: the cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
bench_init scaler.sh "$@"
ROWS=${ROWS:-2000000}
CHUNK=${CHUNK:-50000}
COLD=${COLD:-1}
need_python sklearn pandas h5py
gen_data classification "$ROWS"

# The pass time each program reports: streamfit's "in X s;" on stderr, the
# Python peer's "in X s;" on stdout.
pass_secs() { cat "$1.out" "$1.err" | sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' | head -1; }

fit() { # [-c] KEY LABEL DATA THREADS
    _c=
    [ "$1" = -c ] && { _c=-c; shift; }
    measure $_c -p pass_secs "$1" "$2" "$SF" fit "$3" --pipeline scaler --target y --threads "$4" \
        --chunk-rows "$CHUNK" --model "$W/$1.h5"
}
peer() { # [-c] KEY LABEL FILE [ARGS]
    _c=
    [ "$1" = -c ] && { _c=-c; shift; }
    _k=$1 _l=$2 _f=$3
    shift 3
    measure $_c -p pass_secs "$_k" "$_l" "$PYTHON" "$HERE/scaler_sklearn.py" "$_f" --chunk-rows "$CHUNK" \
        --json "$W/$_k.json" "$@"
}
echo "warm-cache runs ($REPEAT each)" >&2
cat "$CSV" "$H5" "$RAW" >/dev/null
fit sf_raw_1 "streamfit, HDF5 uncompressed, 1 thread" "$RAW:/" 1
fit sf_raw_t "streamfit, HDF5 uncompressed, $THREADS threads" "$RAW:/" "$THREADS"
peer sk_raw "sklearn + h5py, HDF5 uncompressed" "$RAW"
fit sf_h5_1 "streamfit, HDF5 deflate 1, 1 thread" "$H5:/" 1
fit sf_h5_t "streamfit, HDF5 deflate 1, $THREADS threads" "$H5:/" "$THREADS"
peer sk_h5 "sklearn + h5py, HDF5 deflate 1" "$H5"
fit sf_csv_1 "streamfit, CSV, 1 thread" "$CSV" 1
fit sf_csv_t "streamfit, CSV, $THREADS threads" "$CSV" "$THREADS"
peer sk_csv "sklearn + pandas (float_precision=round_trip), CSV" "$CSV"
peer sk_csvfast "sklearn + pandas (default float parser), CSV" "$CSV" --fast-parse

if [ "$COLD" = 1 ] && drop_caches; then
    COLD_NOTE="page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every run"
    echo "cold-cache runs ($REPEAT each)" >&2
    fit -c cold_sf_csv_t "streamfit, CSV, cold cache, $THREADS threads" "$CSV" "$THREADS"
    peer -c cold_sk_csv "sklearn + pandas (round_trip), CSV, cold cache" "$CSV"
elif [ "$COLD" = 1 ]; then
    COLD_NOTE="not measured: writing /proc/sys/vm/drop_caches is not permitted here"
else
    COLD_NOTE="not measured (COLD=0)"
fi

# ------------------------------------------------------- same fit on both sides
for f in raw h5 csv; do
    "$SF" export "$W/sf_${f}_t.h5" --json >"$W/sf_$f.json" || die "export failed"
    d=$("$PYTHON" - "$W/sf_$f.json" "$W/sk_$f.json" <<'EOF'
import json, sys
sf = json.load(open(sys.argv[1]))["stages"][0]
sk = json.load(open(sys.argv[2]))
print("%.1e" % max(abs(a - b) / max(abs(a), abs(b), 1e-300)
                   for k in ("mean_", "var_") for a, b in zip(sf[k], sk[k])))
EOF
) || d="?"
    value "agree_$f" "$d"
done

# ------------------------------------------------------------------ the report
r() { ratio "$(get "$1" wall)" "$(get "$2" wall)"; }
cpur() { ratio "$(get "$1" cpu)" "$(get "$2" cpu)"; }
ownr() { ratio "$(get "$1" pass)" "$(get "$2" pass)"; }
{
    echo "## Scaler pass, $ROWS x 20 (issue 3)"
    echo
    machine sklearn pandas h5py numpy
    echo
    echo "Data: \`streamfit gen classification --rows $ROWS --seed 1\` ($(wc -c <"$CSV" | tr -d ' ') bytes of CSV,"
    echo "21 columns), \`streamfit convert\` to HDF5 uncompressed ($(wc -c <"$RAW" | tr -d ' ') bytes) and deflate 1"
    echo "($(wc -c <"$H5" | tr -d ' ') bytes). Both sides fit x0..x19 in $CHUNK-row chunks; \"own s\" is the fitting"
    echo "pass as each program reports it (streamfit: open + fit + save; Python: the chunk loop)."
    echo
    results_table '^(sf|sk)_'
    echo
    echo "| target (issue 3) | measured | |"
    echo "|---|---|---|"
    echo "| HDF5 >= 5x faster than sklearn + h5py (issue's file: uncompressed) | uncompressed: $(r sk_raw sf_raw_t)x ($THREADS threads), $(r sk_raw sf_raw_1)x (1); deflate 1: $(r sk_h5 sf_h5_t)x ($THREADS), $(r sk_h5 sf_h5_1)x (1); by cpu s (1 thread): uncompressed $(cpur sk_raw sf_raw_1)x, deflate $(cpur sk_h5 sf_h5_1)x | $(verdict "$(r sk_raw sf_raw_t)" 5) / $(verdict "$(r sk_h5 sf_h5_t)" 5) |"
    echo "| CSV >= 3x faster than sklearn + pandas | round_trip parser: $(r sk_csv sf_csv_t)x ($THREADS threads), $(r sk_csv sf_csv_1)x (1); default parser: $(r sk_csvfast sf_csv_t)x ($THREADS); by cpu s (1 thread): round_trip $(cpur sk_csv sf_csv_1)x, default $(cpur sk_csvfast sf_csv_1)x | $(verdict "$(r sk_csv sf_csv_t)" 3) / $(verdict "$(r sk_csvfast sf_csv_t)" 3) |"
    echo "| $THREADS threads >= 1.7x faster than 1 on the scaler pass (own s: open + pass + save, as streamfit reports it) | HDF5 uncompressed $(ownr sf_raw_1 sf_raw_t)x, deflate $(ownr sf_h5_1 sf_h5_t)x, CSV $(ownr sf_csv_1 sf_csv_t)x; whole process (wall, start-up included): $(r sf_raw_1 sf_raw_t)x, $(r sf_h5_1 sf_h5_t)x, $(r sf_csv_1 sf_csv_t)x | $(verdict "$(ownr sf_raw_1 sf_raw_t)" 1.7) / $(verdict "$(ownr sf_h5_1 sf_h5_t)" 1.7) / $(verdict "$(ownr sf_csv_1 sf_csv_t)" 1.7) |"
    maxrss=$(awk -F'|' '$1 ~ /^sf_/ && $5 > m { m = $5 } END { print m + 0 }' "$RES")
    echo "| peak RSS < 64 MiB | largest streamfit case $(awk -v k="$maxrss" 'BEGIN { printf "%.1f", k / 1024 }') MiB | $(awk -v k="$maxrss" 'BEGIN { print (k < 65536 ? "met" : "**missed**") }') |"
    echo
    echo "Result quality (the same fit): largest relative difference of mean_ and var_ between"
    echo "streamfit ($THREADS threads) and scikit-learn: HDF5 uncompressed $(val agree_raw), deflate 1"
    echo "$(val agree_h5), CSV $(val agree_csv)."
    echo
    echo "Cold cache: $COLD_NOTE."
    if grep -q '^cold_' "$RES"; then
        echo
        results_table '^cold_'
    fi
    echo
    commands
} | publish
