#!/bin/sh
# linear.sh — "time linear in rows" (issues 5 and 6) and "memory bounded by chunk bytes x
# (threads + queue), whatever the file size" (Decision 11): streamfit ALONE (no Python
# peers: the issues give the peers' figures at the large size) on every workload of the
# earlier benchmarks at ROWS and at FACTOR x ROWS rows, with the large/small time ratio
# (linear = FACTOR), the seconds per million rows and the peak RSS at both sizes.
#
#   sh bench/linear.sh [PATH/TO/streamfit]   (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for REPEAT, THREADS, DATA, OUT, RECORD): ROWS (default
# 2000000: the classification and blobs data), REG_ROWS (the regression data, seed 000's
# size as regression.sh uses; default ROWS x 5/4 = 2500000), FACTOR (the large size is
# FACTOR x ROWS and FACTOR x REG_ROWS; default 10), LARGE_REPEAT (runs per case at the
# large size; default REPEAT; 1 is allowed: the large runs take ~FACTOR times longer).
#
# Workloads and their commands (the other scripts' own, at both sizes; --threads THREADS):
#   scaler pass                 scaler.sh's fit, HDF5 uncompressed and CSV, 50,000-row chunks
#   scaler + SGD fit, predict   sgd.sh's fit (CSV: with --cache) and predict, HDF5
#                               uncompressed, HDF5 deflate 1, CSV
#   k-means, 50,000-row chunks  kmeans.sh's fit on the uncompressed blobs file
#   least squares               regression.sh's fit on the uncompressed and the zlib-1 design
#                               and from CSV with --formula
#   formula design CSV -> HDF5  design.sh's `streamfit convert --formula`, uncompressed and zlib 1
# Data, made once in DATA and shared with the other scripts (same names, same makers):
# cls<N>.csv/.h5/.raw.h5 (timing.sh's gen_data), blobs<N>.raw.h5 (kmeans.sh's), and
# reg<N>.csv with the post's design reg<N>.design0.h5 / .design1.h5 written by
# bench/regression_peers.py (pandas + patsy, as regression.sh writes them: needs
# python3-pandas, -patsy, -h5py and a few GB of memory at 25M rows, once). At the default
# sizes the data takes ~30 GB (the 20M-row CSV ~8 GB, the 25M-row regression CSV ~2.5 GB)
# plus ~6 GB of temporary files in TMPDIR: the script checks the free space first.
# The runs of a workload alternate between the sizes (small, large, small, ...), so a change
# in the machine's load between runs falls on both sizes alike.
# Before every case its inputs are read once (`cat`), and the share of it resident in the
# page cache just before the runs is reported (fincore): a file larger than the free
# memory cannot be read warm, and its cases then measure the disk too.
#
# Verdict per workload: time met when it grows at most linearly: the large/small ratio of
# the median wall time at most 1.15 x FACTOR (the seconds per row at the large size at most
# 15% above the small size's; a ratio below FACTOR is the fixed start-up and open cost
# spread over more rows, not a fault); RSS met when the peak RSS is under 64 MiB at both sizes and the
# large size's peak at most 4 MiB above the small one's (memory bounded, not growing with rows).
# Run nothing else meanwhile: the cores are the measurement.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
bench_init linear.sh "$@"
ROWS=${ROWS:-2000000}
FACTOR=${FACTOR:-10}
REG_ROWS=${REG_ROWS:-$((ROWS * 5 / 4))}
LARGE_REPEAT=${LARGE_REPEAT:-$REPEAT}
CHUNK=50000
PEERS=$HERE/regression_peers.py
SGD_SPEC="scaler | sgd_classifier(loss=log_loss)"
KM_SPEC="minibatch_kmeans(n_clusters=8, random_state=0, batch_size=50000, init_size=3072)"
KM_COLS=x0,x1,x2,x3,x4,x5,x6,x7,x8,x9
LSQ_FORMULA='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))'
DESIGN_FORMULA='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)'
need_python pandas patsy h5py

# ------------------------------------------------------------------ disk and cache
# est KIND: bytes per row of a data file (measured at 2M rows), for the disk check.
est() {
    case $1 in
    cls.csv) echo 395 ;; cls.h5) echo 155 ;; cls.raw.h5) echo 170 ;; blobs.raw.h5) echo 89 ;;
    reg.csv) echo 100 ;; reg.design0.h5) echo 104 ;; reg.design1.h5) echo 64 ;;
    esac
}
# the bytes still to write: the missing data files, and the largest temporary files
# (the CSV SGD fit's --cache: 21 doubles a row; the design written by convert)
need=0
for n in "$ROWS" $((ROWS * FACTOR)); do
    for k in cls.csv cls.h5 cls.raw.h5 blobs.raw.h5; do
        [ -s "$DATA/${k%%.*}$n.${k#*.}" ] || need=$((need + n * $(est "$k")))
    done
done
for n in "$REG_ROWS" $((REG_ROWS * FACTOR)); do
    for k in reg.csv reg.design0.h5 reg.design1.h5; do
        [ -s "$DATA/reg$n.${k#*.}" ] || need=$((need + n * $(est "$k")))
    done
done
tmp_need=$((ROWS * FACTOR * 168 + REG_ROWS * FACTOR * 104))
free_data=$(($(df -Pk "$DATA" | awk 'NR == 2 { print $4 }') * 1024))
free_tmp=$(($(df -Pk "$W" | awk 'NR == 2 { print $4 }') * 1024))
gb() { awk -v b="$1" 'BEGIN { printf "%.1f GB", b / 1e9 }'; }
if [ "$(df -P "$DATA" | awk 'NR == 2 { print $1 }')" = "$(df -P "$W" | awk 'NR == 2 { print $1 }')" ]; then
    [ $((need + tmp_need)) -lt "$free_data" ] ||
        die "needs about $(gb $((need + tmp_need))) on $DATA and ${TMPDIR:-/tmp} (one disk), $(gb "$free_data") free"
else
    [ "$need" -lt "$free_data" ] || die "needs about $(gb "$need") on $DATA, $(gb "$free_data") free"
    [ "$tmp_need" -lt "$free_tmp" ] || die "needs about $(gb "$tmp_need") in ${TMPDIR:-/tmp}, $(gb "$free_tmp") free"
fi
DF0=$(df -h "$DATA" | awk 'NR == 2 { print $3 " used, " $4 " free of " $2 }')

# resident FILE: the percentage of FILE in the page cache now (? without fincore).
resident() {
    command -v fincore >/dev/null 2>&1 || { echo "?"; return; }
    fincore -b -n -o RES,SIZE "$1" 2>/dev/null | awk '{ printf "%.0f\n", ($2 > 0 ? 100 * $1 / $2 : 0) }'
}
avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }

# ------------------------------------------------------------------ the cases
# size s|l: the small (s) or the large (l) size's row counts, runs and files.
size() {
    SZ=$1
    if [ "$SZ" = s ]; then N=$ROWS NR=$REG_ROWS NRUN=$REPEAT
    else N=$((ROWS * FACTOR)) NR=$((REG_ROWS * FACTOR)) NRUN=$LARGE_REPEAT; fi
    CSV=$DATA/cls$N.csv H5=$DATA/cls$N.h5 RAW=$DATA/cls$N.raw.h5 BRAW=$DATA/blobs$N.raw.h5
    RCSV=$DATA/reg$NR.csv D0=$DATA/reg$NR.design0.h5 D1=$DATA/reg$NR.design1.h5
}

# make_data: every data file at both sizes, each made once (timing.sh's gen_data, and
# kmeans.sh's and regression.sh's makers).
make_data() {
    for sz in s l; do
        size "$sz"
        gen_data classification "$N"
        ensure "$BRAW" - "$SF" gen blobs --rows "$N" --features 10 --centers 8 --seed 1 --compression 0 \
            --out "$BRAW" --quiet
        ensure "$RCSV" - "$SF" gen regression --rows "$NR" --seed 1 --out "$RCSV" --quiet
        ensure "$D0" "$RCSV" "$PYTHON" "$PEERS" design "$RCSV" "$D0" 0
        ensure "$D1" "$RCSV" "$PYTHON" "$PEERS" design "$RCSV" "$D1" 1
    done
}

# input BASE: IN = the file BASE reads at the current size.
input() {
    case $1 in
    *_raw) IN=$RAW ;; *_h5) IN=$H5 ;; *_csv) IN=$CSV ;;
    kmeans) IN=$BRAW ;; lsq0) IN=$D0 ;; lsq1) IN=$D1 ;; lsqcsv | design*) IN=$RCSV ;;
    esac
}

# go BASE KEY: one run of BASE at the current size, added to KEY's runs.
go() {
    input "$1"
    case $1 in
    scaler_*)
        _d=$IN:/
        [ "$1" = scaler_csv ] && _d=$IN
        measure_once "$2" "$SF" fit "$_d" --pipeline scaler --target y --threads "$THREADS" \
            --chunk-rows "$CHUNK" --model "$W/scaler.h5" --quiet ;;
    sgdfit_csv)
        measure_once "$2" "$SF" fit "$IN" --pipeline "$SGD_SPEC" --model "$W/sgd_csv_$SZ.h5" --target y \
            --threads "$THREADS" --cache "$W/cache.h5" --quiet ;;
    sgdfit_*)
        measure_once "$2" "$SF" fit "$IN:/" --pipeline "$SGD_SPEC" --model "$W/sgd_${1#*_}_$SZ.h5" --target y \
            --threads "$THREADS" --quiet ;;
    sgdpred_*)
        _d=$IN:/
        [ "$1" = sgdpred_csv ] && _d=$IN
        measure_once "$2" "$SF" predict "$_d" --model "$W/sgd_${1#*_}_$SZ.h5" --out "$W/preds.h5" \
            --threads "$THREADS" --quiet ;;
    kmeans)
        measure_once "$2" "$SF" fit "$IN:/" --pipeline "$KM_SPEC" --columns "$KM_COLS" --model "$W/km.h5" \
            --threads "$THREADS" --chunk-rows "$CHUNK" --quiet ;;
    lsq0 | lsq1)
        measure_once "$2" "$SF" fit "$IN:/X" --target /y --pipeline 'linear_regression(fit_intercept=false)' \
            --model "$W/lm.h5" --threads "$THREADS" --quiet ;;
    lsqcsv)
        measure_once "$2" "$SF" fit "$IN" --formula "$LSQ_FORMULA" --pipeline linear_regression \
            --model "$W/lm.h5" --threads "$THREADS" --quiet ;;
    design0 | design1)
        measure_once "$2" "$SF" convert "$IN" --formula "$DESIGN_FORMULA" --define 'lnames=np.arange(5)' \
            --compression "${1#design}" --threads "$THREADS" --out "$W/design.h5" --quiet ;;
    esac
}

# case_ BASE LABEL: BASE at both sizes, the runs alternating (small, large, small, ...)
# so that a change in the machine's load falls on both sizes alike. Reads both inputs
# once first and records their page-cache residency and the free memory. A failed case
# is listed in FAILED and the rest goes on.
CASES=$W/cases
: >"$CASES"
FAILED=
case_() {
    echo "$1|$2" >>"$CASES"
    for sz in s l; do
        size "$sz"
        input "$1"
        cat "$IN" >/dev/null
    done
    for sz in s l; do
        size "$sz"
        input "$1"
        value "res_$1_$sz" "$(resident "$IN")"
        value "avail_$1_$sz" "$(avail_kib)"
    done
    _n=$REPEAT
    [ "$LARGE_REPEAT" -gt "$_n" ] && _n=$LARGE_REPEAT
    _i=1
    _bad=
    while [ "$_i" -le "$_n" ]; do
        for sz in s l; do
            size "$sz"
            case " $_bad " in *" $sz "*) continue ;; esac
            [ "$_i" -le "$NRUN" ] || continue
            go "$1" "$1_$sz" || { _bad="$_bad $sz"; FAILED="$FAILED $1_$sz"; echo "$BENCH: $1_$sz failed" >&2; }
        done
        _i=$((_i + 1))
    done
    rm -f "$W/cache.h5" "$W/preds.h5" "$W/design.h5"
    for sz in s l; do
        size "$sz"
        case " $_bad " in *" $sz "*) continue ;; esac
        case $1 in lsq* | design*) _r=$NR ;; *) _r=$N ;; esac
        summarize "$1_$sz" "$2 ($_r rows)"
    done
}

make_data
echo "$BENCH: $REPEAT run(s) at $ROWS rows (regression $REG_ROWS), $LARGE_REPEAT at $((ROWS * FACTOR))" >&2
case_ scaler_raw "scaler pass, HDF5 uncompressed"
case_ scaler_csv "scaler pass, CSV"
for f in raw h5 csv; do
    case $f in raw) l="HDF5 uncompressed" ;; h5) l="HDF5 deflate 1" ;; csv) l=CSV ;; esac
    case_ "sgdfit_$f" "scaler + SGD fit, $l"
    case_ "sgdpred_$f" "scaler + SGD predict, $l"
done
case_ kmeans "mini-batch k-means, 50,000-row chunks, HDF5 uncompressed"
case_ lsq0 "least squares, HDF5 design (uncompressed)"
case_ lsq1 "least squares, HDF5 design (zlib-1)"
case_ lsqcsv "least squares, CSV with --formula"
case_ design0 "formula design CSV -> HDF5, uncompressed"
case_ design1 "formula design CSV -> HDF5, zlib 1"
DF1=$(df -h "$DATA" | awk 'NR == 2 { print $3 " used, " $4 " free of " $2 }')

# ------------------------------------------------------------------ the report
NL=$((ROWS * FACTOR))
NRL=$((REG_ROWS * FACTOR))
MEM_KIB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
# row BASE: the table line of one workload
row() {
    _b=$1
    _lab=$(awk -F'|' -v b="$_b" '$1 == b { print $2 }' "$CASES")
    case $_b in lsq* | design*) _ns=$REG_ROWS ;; *) _ns=$ROWS ;; esac
    awk -v lab="$_lab" -v ns="$_ns" -v f="$FACTOR" \
        -v ws="$(get "${_b}_s" wall)" -v wl="$(get "${_b}_l" wall)" \
        -v cs="$(get "${_b}_s" cpu)" -v cl="$(get "${_b}_l" cpu)" \
        -v rs="$(get "${_b}_s" rss)" -v rl="$(get "${_b}_l" rss)" \
        -v ks="$(val "res_${_b}_s")" -v kl="$(val "res_${_b}_l")" 'BEGIN {
        ok = (ws > 0 && wl > 0)
        xw = ok ? wl / ws : 0; xc = (cs > 0 && cl > 0) ? cl / cs : 0
        lin = ok ? xw / f : 0
        t = !ok ? "not measured" : (lin <= 1.15 ? "met" : "**missed**")
        linc = xc / f; tc = !xc ? "-" : (linc <= 1.15 ? "met" : "**missed**")
        r = (rs == "" || rl == "") ? "not measured" : (rs < 65536 && rl < 65536 ? (rl - rs <= 4096 ? "met" : "**missed** (grows)") : "**missed**")
        printf "| %s | %s / %s | %s | %s / %s | %s / %s | %s | %s / %s | %s / %s | time %s (%.2f of linear), cpu %s (%.2f), RSS %s |\n",
            lab, ws == "" ? "-" : sprintf("%.2f", ws), wl == "" ? "-" : sprintf("%.2f", wl), ok ? sprintf("%.2f", xw) : "-",
            sprintf("%.3f", ws / (ns / 1e6)), ok ? sprintf("%.3f", wl / (ns * f / 1e6)) : "-",
            cs == "" ? "-" : sprintf("%.2f", cs), cl == "" ? "-" : sprintf("%.2f", cl), xc ? sprintf("%.2f", xc) : "-",
            rs == "" ? "-" : sprintf("%.1f", rs / 1024), rl == "" ? "-" : sprintf("%.1f", rl / 1024),
            ks == "" ? "-" : ks "%", kl == "" ? "-" : kl "%", t, lin, tc, linc, r
    }'
}
# verdicts for the summary line
n_cases=$(wc -l <"$CASES" | tr -d ' ')
n_time=0 n_cpu=0 n_rss=0
for b in $(cut -d'|' -f1 "$CASES"); do
    row "$b" | grep -q 'time met' && n_time=$((n_time + 1))
    row "$b" | grep -q 'cpu met' && n_cpu=$((n_cpu + 1))
    row "$b" | grep -q 'RSS met' && n_rss=$((n_rss + 1))
done
value time_met "$n_time/$n_cases"
value cpu_met "$n_cpu/$n_cases"
value rss_met "$n_rss/$n_cases"
maxrss=$(awk -F'|' '$5 > m { m = $5 } END { printf "%.1f", m / 1024 }' "$RES")
value max_rss_mib "$maxrss"

{
    echo "## Time linear in rows: streamfit alone at $ROWS and $NL rows (issues 5 and 6, Decision 11)"
    echo
    machine
    echo "At $NL rows (regression $NRL): $LARGE_REPEAT run(s) per case."
    echo
    echo "Data (made once in bench/data/, shared with the other scripts): \`streamfit gen classification"
    echo "--seed 1\` (20 features, target y) as CSV and \`streamfit convert\`ed to HDF5 uncompressed and"
    echo "deflate 1; \`streamfit gen blobs --features 10 --centers 8 --seed 1 --compression 0\`; \`streamfit gen"
    echo "regression --seed 1\` at $REG_ROWS and $NRL rows with the post's design written by pandas + patsy"
    echo "(bench/regression_peers.py) uncompressed and zlib-1. Files:"
    echo
    echo "| file | bytes |"
    echo "|---|---:|"
    for n in "$ROWS" "$NL"; do
        for k in cls.csv cls.h5 cls.raw.h5 blobs.raw.h5; do
            f=${k%%.*}$n.${k#*.}
            [ -f "$DATA/$f" ] && echo "| $f | $(wc -c <"$DATA/$f" | tr -d ' ') |"
        done
    done
    for n in "$REG_ROWS" "$NRL"; do
        for k in csv design0.h5 design1.h5; do
            [ -f "$DATA/reg$n.$k" ] && echo "| reg$n.$k | $(wc -c <"$DATA/reg$n.$k" | tr -d ' ') |"
        done
    done
    echo
    echo "Disk ($DATA): $DF0 before the runs, $DF1 after. Page cache: $(awk -v k="$MEM_KIB" 'BEGIN { printf "%.1f", k / 1048576 }') GiB of RAM;"
    echo "every input is read once (\`cat\`) before its case, and \"cached\" is the share of it resident in"
    echo "the page cache just before the runs (fincore): below 100% a run reads the rest from the disk."
    awk -F'|' '$1 ~ /^avail_/ { if (m == "" || $2 < m) m = $2 } END { if (m != "") printf "Least free memory (MemAvailable) before a case: %.1f GiB.\n", m / 1048576 }' "$VALUES"
    echo
    echo "\"x\": large / small (linear = $FACTOR). s per M rows: wall seconds per million rows (small / large)."
    echo "Verdict: time met when it grows at most linearly, the wall-time ratio at most 1.15 x $FACTOR (below"
    echo "$FACTOR: the fixed start-up and open cost spread over more rows); cpu the same for the cpu"
    echo "seconds (steadier when other work shares the cores); RSS met when under 64 MiB at both sizes and at"
    echo "most 4 MiB larger at the large size (bounded, not growing with the rows). The"
    echo "runs of a workload alternate between the two sizes, so a change of load falls on both."
    echo
    echo "| workload | wall s small / large | x | s per M rows | cpu s small / large | x cpu | peak RSS MiB small / large | cached small / large | verdict |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for b in $(cut -d'|' -f1 "$CASES"); do row "$b"; done
    echo
    echo "Time at most linear (wall ratio <= 1.15 x $FACTOR): $n_time of $n_cases workloads (cpu: $n_cpu); peak RSS under 64 MiB and bounded: $n_rss of $n_cases"
    echo "(largest $maxrss MiB).$([ -n "$FAILED" ] && echo " FAILED:$FAILED.")"
    if [ "$ROWS" = 2000000 ] && [ "$REG_ROWS" = 2500000 ] && [ "$FACTOR" = 10 ]; then
        echo
        echo "The peers at the large size, as the issues measured them on this machine (not run here):"
        echo "scikit-learn's scaler + SGD path 8.3 s from HDF5 and 102 s from CSV at 20M rows (streamfit:"
        echo "$(get sgdfit_raw_l wall) s and $(get sgdfit_csv_l wall) s); pandas + patsy from CSV 58 s at 25M rows (streamfit's least"
        echo "squares from CSV with --formula: $(get lsqcsv_l wall) s); dask's lstsq 4.7 GiB peak at 25M rows (streamfit's"
        echo "least squares: $(get lsq0_l mib) / $(get lsq1_l mib) / $(get lsqcsv_l mib) MiB)."
    fi
    echo
    echo "### Exact commands"
    echo
    commands
} | publish
