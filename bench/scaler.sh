#!/bin/sh
# scaler.sh — the standard scaler pass (issue 3, item 10): `streamfit fit --pipeline
# scaler` on 2M x 20 from HDF5 and from CSV, with 1 and 2 threads, against
# scikit-learn's StandardScaler.partial_fit fed by h5py / pandas chunks of the same
# size (bench/scaler_sklearn.py). Prints a markdown section for bench/RESULTS.md:
#
#   sh bench/scaler.sh [PATH/TO/streamfit] >> bench/RESULTS.md
#
# (default streamfit: build-rel/cli/streamfit, made by `meson setup build-rel
# --buildtype=release && ninja -C build-rel`). Progress goes to stderr.
#
# Environment: PYTHON (default /usr/bin/python3, with sklearn, pandas, h5py), ROWS
# (default 2000000), REPEAT (runs per case, best wall time and largest peak RSS
# kept; default 3), CHUNK (rows per chunk on both sides, default 50000 =
# streamfit's --chunk-rows default), COLD (1 = one cold-cache case per side when
# /proc/sys/vm/drop_caches is writable; default 1), DATA (default bench/data,
# git-ignored).
#
# Data, made once: DATA/cls<ROWS>.csv by `streamfit gen classification --rows ROWS
# --seed 1` (x0..x19 ~ N(0,1), y in {0,1}); DATA/cls<ROWS>.h5 by `streamfit
# convert` (a group of 1-D float64 datasets, deflate 1: convert's default), and
# DATA/cls<ROWS>.raw.h5 (--compression 0). Both sides fit x0..x19 (y is the target,
# not scaled). Every run is the whole process under GNU time (/usr/bin/time -v):
# wall seconds include start-up, Python's imports and streamfit's model save; the
# "pass" column is the fitting pass as each program reports it, "cpu" the process's
# user + system seconds (of the best-wall run; steadier than wall time when other
# jobs share the cores). Ratios are
# scikit-learn's wall time over streamfit's on the same file. After the runs the
# fitted mean_ and var_ of both sides are compared (max relative difference).
# Run nothing else meanwhile: the cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=scaler.sh
. "$HERE/timing.sh"
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build-rel/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
ROWS=${ROWS:-2000000}
REPEAT=${REPEAT:-3}
CHUNK=${CHUNK:-50000}
COLD=${COLD:-1}
DATA=${DATA:-$HERE/data}
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL

die() { echo "scaler.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import sklearn, pandas, h5py' 2>/dev/null || die "$PYTHON lacks sklearn, pandas or h5py"
mkdir -p "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_scaler.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP

CSV=$DATA/cls$ROWS.csv
H5=$DATA/cls$ROWS.h5
RAW=$DATA/cls$ROWS.raw.h5
RES=$W/results   # key|label|seconds|rss_kib|pass seconds|command|cpu seconds

# The pass time each program reports: streamfit's "in X s;" on stderr, the
# Python peer's "in X s;" on stdout.
pass_secs() {
    cat "$1.out" "$1.err" | sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' | head -1
}

# measure KEY LABEL MODE CMD...: REPEAT runs (MODE cold: caches dropped first)
measure() {
    _key=$1
    _label=$2
    _mode=$3
    shift 3
    _best=
    _rss=0
    _k=1
    while [ "$_k" -le "$REPEAT" ]; do
        [ "$_mode" = cold ] && drop_caches
        run_timed "$W/run" "$@" || return 1
        _p=$(pass_secs "$W/run")
        echo "  $_label run $_k: $SECS s (pass $_p s, cpu $CPU s), $RSS KiB" >&2
        if [ -z "$_best" ] || awk -v a="$SECS" -v b="$_best" 'BEGIN { exit !(a < b) }'; then
            _best=$SECS
            _pass=$_p
            _cpu=$CPU
            cp "$W/run.out" "$W/$_key.out"
        fi
        [ "$RSS" -gt "$_rss" ] && _rss=$RSS
        _k=$((_k + 1))
    done
    printf '%s|%s|%s|%s|%s|%s|%s\n' "$_key" "$_label" "$_best" "$_rss" "$_pass" "$*" "$_cpu" >>"$RES"
}

# ------------------------------------------------------------------ the data
if [ ! -s "$CSV" ]; then
    echo "generating $CSV" >&2
    run_timed "$W/gen" "$SF" gen classification --rows "$ROWS" --seed 1 --out "$CSV" --quiet ||
        die "gen failed"
fi
if [ ! -s "$H5" ] || [ "$H5" -ot "$CSV" ]; then
    echo "converting to $H5" >&2
    rm -f "$H5"
    run_timed "$W/conv" "$SF" convert "$CSV" --out "$H5" --quiet || die "convert failed"
fi
if [ ! -s "$RAW" ] || [ "$RAW" -ot "$CSV" ]; then
    echo "converting to $RAW" >&2
    rm -f "$RAW"
    run_timed "$W/conv" "$SF" convert "$CSV" --out "$RAW" --compression 0 --quiet || die "convert failed"
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$RES"

# ------------------------------------------------------------------ warm runs
fit() { # KEY LABEL MODE DATA THREADS
    measure "$1" "$2" "$3" "$SF" fit "$4" --pipeline scaler --target y --threads "$5" \
        --chunk-rows "$CHUNK" --model "$W/$1.h5"
}
peer() { # KEY LABEL MODE FILE [ARGS]
    _k=$1 _l=$2 _m=$3 _f=$4
    shift 4
    measure "$_k" "$_l" "$_m" "$PYTHON" "$HERE/scaler_sklearn.py" "$_f" --chunk-rows "$CHUNK" \
        --json "$W/$_k.json" "$@"
}
echo "warm-cache runs ($REPEAT each)" >&2
cat "$CSV" "$H5" "$RAW" >/dev/null
fit sf_h5_1 "streamfit, HDF5 (deflate 1)" warm "$H5:/" 1
fit sf_h5_2 "streamfit, HDF5 (deflate 1)" warm "$H5:/" 2
peer sk_h5 "sklearn + h5py, HDF5 (deflate 1)" warm "$H5"
fit sf_raw_1 "streamfit, HDF5 (uncompressed)" warm "$RAW:/" 1
fit sf_raw_2 "streamfit, HDF5 (uncompressed)" warm "$RAW:/" 2
peer sk_raw "sklearn + h5py, HDF5 (uncompressed)" warm "$RAW"
fit sf_csv_1 "streamfit, CSV" warm "$CSV" 1
fit sf_csv_2 "streamfit, CSV" warm "$CSV" 2
peer sk_csv "sklearn + pandas (float_precision=round_trip), CSV" warm "$CSV"
peer sk_csvfast "sklearn + pandas (default float parser), CSV" warm "$CSV" --fast-parse

if [ "$COLD" = 1 ] && drop_caches; then
    COLD_NOTE="page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every run"
    echo "cold-cache runs ($REPEAT each)" >&2
    fit sf_csv_2c "streamfit, CSV, cold cache" cold "$CSV" 2
    peer sk_csvc "sklearn + pandas (round_trip), CSV, cold cache" cold "$CSV"
elif [ "$COLD" = 1 ]; then
    COLD_NOTE="not measured: writing /proc/sys/vm/drop_caches is not permitted here"
else
    COLD_NOTE="not measured (COLD=0)"
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------- same fit on both sides
"$SF" export "$W/sf_h5_1.h5" --json >"$W/sf.json" || die "export failed"
AGREE=$("$PYTHON" - "$W/sf.json" "$W/sk_h5.json" "$W/sk_csv.json" <<'EOF'
import json, sys
sf = json.load(open(sys.argv[1]))["stages"][0]
out = []
for path in sys.argv[2:]:
    sk = json.load(open(path))
    worst = 0.0
    for k in ("mean_", "var_"):
        for a, b in zip(sf[k], sk[k]):
            worst = max(worst, abs(a - b) / max(abs(a), abs(b), 1e-300))
    out.append("%.1e" % worst)
print(" / ".join(out))
EOF
)

# ------------------------------------------------------------------ the report
get() { awk -F'|' -v k="$1" -v f="$2" '$1 == k { print $f }' "$RES"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "**missed**") }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "## Scaler pass, $ROWS x 20 ($(date -u '+%Y-%m-%d %H:%M UTC'), \`sh bench/scaler.sh\`)"
echo
echo "Machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'), $(lscpu | sed -n 's/^Thread(s) per core: */threads per core: /p')),"
echo "$(free -g | awk '/^Mem:/ { print $2 }') GB RAM; load average $LOAD0 before the runs, $LOAD1 after"
echo "(other jobs shared the machine). streamfit $("$SF" --version | awk '{ print $2 }') built with"
echo "\`meson setup build-rel --buildtype=release\`; $("$PYTHON" -c 'import sys, sklearn, pandas, h5py, numpy; print("Python", sys.version.split()[0], "scikit-learn", sklearn.__version__, "pandas", pandas.__version__, "h5py", h5py.__version__, "numpy", numpy.__version__)')."
echo
echo "Data: \`streamfit gen classification --rows $ROWS --seed 1\` ($(wc -c <"$CSV" | tr -d ' ') bytes of CSV,"
echo "21 columns), \`streamfit convert\` to HDF5 deflate 1 ($(wc -c <"$H5" | tr -d ' ') bytes) and"
echo "uncompressed ($(wc -c <"$RAW" | tr -d ' ') bytes). Both sides fit x0..x19 in $CHUNK-row chunks."
echo "Best wall time of $REPEAT runs (whole process under \`$TIME -v\`), largest peak RSS; \"pass\" is"
echo "the fitting pass as each program reports it (streamfit: open + fit + save; Python: the"
echo "chunk loop), \"cpu\" user + system seconds of that run."
echo
echo "| case | threads | wall s | pass s | cpu s | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"
awk -F'|' '{ t = ($1 ~ /_2c?$/) ? 2 : 1; if ($1 ~ /^sk/) t = 1
    printf "| %s | %d | %.2f | %s | %.2f | %.1f |\n", $2, t, $3, $5, $7, $4 / 1024 }' "$RES"
echo
h5r=$(ratio "$(get sk_h5 3)" "$(get sf_h5_2 3)")
h5r1=$(ratio "$(get sk_h5 3)" "$(get sf_h5_1 3)")
rawr=$(ratio "$(get sk_raw 3)" "$(get sf_raw_2 3)")
rawr1=$(ratio "$(get sk_raw 3)" "$(get sf_raw_1 3)")
csvr=$(ratio "$(get sk_csv 3)" "$(get sf_csv_2 3)")
csvr1=$(ratio "$(get sk_csv 3)" "$(get sf_csv_1 3)")
csvf=$(ratio "$(get sk_csvfast 3)" "$(get sf_csv_2 3)")
thh=$(ratio "$(get sf_h5_1 3)" "$(get sf_h5_2 3)")
thr=$(ratio "$(get sf_raw_1 3)" "$(get sf_raw_2 3)")
thc=$(ratio "$(get sf_csv_1 3)" "$(get sf_csv_2 3)")
cpur() { ratio "$(get "$1" 7)" "$(get "$2" 7)"; }
maxrss=$(awk -F'|' '$1 ~ /^sf/ && $4 > m { m = $4 } END { print m }' "$RES")
echo "| target (issue 3) | measured | |"
echo "|---|---|---|"
echo "| HDF5 >= 5x faster than sklearn + h5py | deflate 1: ${h5r}x (2 threads), ${h5r1}x (1); uncompressed: ${rawr}x (2), ${rawr1}x (1); by cpu s (1 thread): deflate $(cpur sk_h5 sf_h5_1)x, uncompressed $(cpur sk_raw sf_raw_1)x | $(verdict "$h5r" 5) / $(verdict "$rawr" 5) |"
echo "| CSV >= 3x faster than sklearn + pandas | round_trip parser: ${csvr}x (2 threads), ${csvr1}x (1); default parser: ${csvf}x (2); by cpu s (1 thread): round_trip $(cpur sk_csv sf_csv_1)x, default $(cpur sk_csvfast sf_csv_1)x | $(verdict "$csvr" 3) / $(verdict "$csvf" 3) |"
echo "| 2 threads >= 1.7x faster than 1 | HDF5 deflate ${thh}x, uncompressed ${thr}x, CSV ${thc}x | $(verdict "$thh" 1.7) / $(verdict "$thr" 1.7) / $(verdict "$thc" 1.7) |"
echo "| peak RSS < 64 MiB | largest streamfit case $(mib "$maxrss") MiB | $(awk -v k="$maxrss" 'BEGIN { print (k < 65536 ? "met" : "**missed**") }') |"
echo
echo "Same fit: largest relative difference of mean_ and var_ between streamfit (HDF5) and"
echo "scikit-learn (HDF5 / CSV): $AGREE. Cold cache: $COLD_NOTE."
echo
echo '```'
awk -F'|' '{ printf "%s\n", $6 }' "$RES"
echo '```'
