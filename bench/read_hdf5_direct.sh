#!/bin/sh
# read_hdf5_direct.sh — HDF5 numeric read throughput with direct chunk reads
# (H5Dread_chunk, then zlib and the conversion in the reader's own thread; Decision 6)
# against the hyperslab path (H5Dread, which inflates under HDF5's global lock), page
# cache warm.
#
#   sh bench/read_hdf5_direct.sh [PATH/TO/streamfit]     (default: build/cli/streamfit)
#
# Environment: ROWS (default 2500000), REPEAT (runs per case, default 5: the best time
# and the largest peak RSS are kept; cases are interleaved run by run, so a busy moment
# hits all of them alike), THREADS (default "1 2"), BEFORE (optional: another streamfit,
# e.g. built from before the change, measured as a third variant), DATA (default
# bench/data, git-ignored).
#
# Data, made once: DATA/reg<ROWS>.csv by `streamfit gen regression --rows ROWS --seed 1`
# (the file bench/read.sh uses), then `streamfit convert` to DATA/reg<ROWS>.h5 (a group of
# 1-D float64 datasets in 16384-row chunks, deflate 1) and to DATA/reg<ROWS>.raw.h5
# (--compression 0, unfiltered chunks).
#
# Variants: "direct" is `streamfit read FILE:/` as built; "hyperslab" is the same binary
# with SF_HDF5_DIRECT=0 (the H5Dread path for every dataset); "before" is $BEFORE.
# GB/s = rows x columns x 8 bytes of float64 delivered / seconds, where seconds is the
# read pass as `streamfit read` reports it (opening included); "wall" and peak RSS are
# the whole process under GNU time (/usr/bin/time -v). Run nothing else meanwhile: the
# load average is printed before and after, since other work on the cores skews the
# threaded runs most.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
ROWS=${ROWS:-2500000}
REPEAT=${REPEAT:-5}
THREADS=${THREADS:-1 2}
BEFORE=${BEFORE:-}
DATA=${DATA:-$HERE/data}
TIME=/usr/bin/time
LC_ALL=C
export LC_ALL

die() { echo "read_hdf5_direct.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not executable"
mkdir -p "$DATA" || exit 1
W=$(mktemp -d "${TMPDIR:-/tmp}/sf_h5direct.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP

CSV=$DATA/reg$ROWS.csv
H5=$DATA/reg$ROWS.h5
RAW=$DATA/reg$ROWS.raw.h5

# ------------------------------------------------------------------ the data
if [ ! -s "$CSV" ]; then
    echo "generating $CSV" >&2
    "$SF" gen regression --rows "$ROWS" --seed 1 --out "$CSV" --quiet || die "gen failed"
fi
if [ ! -s "$H5" ] || [ "$H5" -ot "$CSV" ]; then
    echo "converting to $H5" >&2
    rm -f "$H5"
    "$SF" convert "$CSV" --out "$H5" --quiet || die "convert failed"
fi
if [ ! -s "$RAW" ] || [ "$RAW" -ot "$CSV" ]; then
    echo "converting to $RAW" >&2
    rm -f "$RAW"
    "$SF" convert "$CSV" --out "$RAW" --compression 0 --quiet || die "convert failed"
fi
cat "$H5" "$RAW" >/dev/null # warm the page cache

VARIANTS="hyperslab direct"
[ -n "$BEFORE" ] && VARIANTS="before $VARIANTS"

# one FILE_KIND VARIANT THREADS: one timed run; keeps the best in $W/best.<key>
one() {
    _file=$H5
    [ "$1" = raw ] && _file=$RAW
    _key="$1.$2.$3"
    case $2 in
    direct) set -- "$SF" read "$_file:/" --threads "$3" --quiet ;;
    hyperslab) set -- env SF_HDF5_DIRECT=0 "$SF" read "$_file:/" --threads "$3" --quiet ;;
    before) set -- "$BEFORE" read "$_file:/" --threads "$3" --quiet ;;
    esac
    "$TIME" -v -o "$W/run.time" "$@" >"$W/run.out" 2>"$W/run.err" ||
        { cat "$W/run.err" >&2; die "failed: $*"; }
    # "2500000 rows, 6 columns, 3 segments, 120.0 MB in 0.564 s: 212.8 MB/s"
    _line=$(awk 'NR == 1' "$W/run.out")
    _rs=$(echo "$_line" | awk '{ for (i = 1; i < NF; i++) if ($i == "in") { print $1, $3, $(i + 1); exit } }')
    _wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]
            print s }' "$W/run.time")
    _rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/run.time")
    echo "  $_key: $_line (wall $_wall s, peak RSS $_rss KiB)" >&2
    # best: rows cols seconds wall rss(max over runs)
    if [ -f "$W/best.$_key" ]; then
        read -r _r _c _s _w _m <"$W/best.$_key"
        set -- $_rs
        if awk -v a="$3" -v b="$_s" 'BEGIN { exit !(a < b) }'; then _s=$3; _w=$_wall; fi
        [ "$_rss" -gt "$_m" ] && _m=$_rss
        echo "$_r $_c $_s $_w $_m" >"$W/best.$_key"
    else
        echo "$_rs $_wall $_rss" >"$W/best.$_key"
    fi
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
k=1
while [ "$k" -le "$REPEAT" ]; do
    echo "round $k of $REPEAT" >&2
    for kind in deflate raw; do
        for t in $THREADS; do
            for v in $VARIANTS; do one "$kind" "$v" "$t"; done
        done
    done
    k=$((k + 1))
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ the report
echo "# HDF5 direct chunk reads, warm page cache ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- streamfit: $SF${BEFORE:+; before: $BEFORE}"
echo "- nproc $(nproc), $(lscpu | awk -F': *' '/Model name/ { print $2; exit }'); load average $LOAD0 before, $LOAD1 after"
echo "- deflate: $H5 ($(wc -c <"$H5" | tr -d ' ') bytes); raw: $RAW ($(wc -c <"$RAW" | tr -d ' ') bytes)"
echo "- best of $REPEAT runs; GB/s = rows x columns x 8 / seconds (the read pass)"
echo
echo "| file | variant | threads | rows | seconds | GB/s | wall s | peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for kind in deflate raw; do
    for t in $THREADS; do
        for v in $VARIANTS; do
            read -r r c s w m <"$W/best.$kind.$v.$t"
            awk -v k="$kind" -v v="$v" -v t="$t" -v r="$r" -v c="$c" -v s="$s" -v w="$w" -v m="$m" \
                'BEGIN { printf "| %s | %s | %s | %s | %.3f | %.2f | %.2f | %.1f |\n",
                         k, v, t, r, s, r * c * 8 / s / 1e9, w, m / 1024 }'
        done
    done
done
