#!/bin/sh
# read_hdf5_direct.sh — HDF5 numeric read throughput with direct chunk reads
# (H5Dread_chunk, then zlib and the conversion in the reader's own thread; Decision 6)
# against the hyperslab path (H5Dread, which inflates under HDF5's global lock), page
# cache warm.
#
#   sh bench/read_hdf5_direct.sh [PATH/TO/streamfit]  (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for PYTHON, DATA, OUT, RECORD): ROWS (default
# 2500000), REPEAT (runs per case, default 5: the median times and the largest peak RSS
# are reported; cases are interleaved run by run, so a busy moment hits all of them
# alike), THREADS (default "1 2": the thread counts), BEFORE (optional: another
# streamfit, e.g. built from before the change, measured as a third variant).
#
# Data, made once: DATA/reg<ROWS>.csv by `streamfit gen regression --rows ROWS --seed 1`
# (the file bench/read.sh uses), then `streamfit convert` to DATA/reg<ROWS>.h5 (a group of
# 1-D float64 datasets in 16384-row chunks, deflate 1) and to DATA/reg<ROWS>.raw.h5
# (--compression 0, unfiltered chunks).
#
# Variants: "direct" is `streamfit read FILE:/` as built; "hyperslab" is the same binary
# with SF_HDF5_DIRECT=0 (the H5Dread path for every dataset); "before" is $BEFORE.
# GB/s = rows x columns x 8 bytes of float64 delivered / seconds, where seconds is the
# read pass as `streamfit read` reports it (opening included; the median of the runs);
# "wall" and peak RSS are the whole process under GNU time (/usr/bin/time -v). Run nothing else meanwhile: the
# load average is printed before and after, since other work on the cores skews the
# threaded runs most.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
REPEAT=${REPEAT:-5}
THREAD_COUNTS=${THREADS:-1 2}
THREADS=$THREAD_COUNTS
bench_init read_hdf5_direct.sh "$@"
ROWS=${ROWS:-2500000}
BEFORE=${BEFORE:-}
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not executable"
gen_data regression "$ROWS"
cat "$H5" "$RAW" >/dev/null # warm the page cache

VARIANTS="hyperslab direct"
[ -n "$BEFORE" ] && VARIANTS="before $VARIANTS"

# "2500000 rows, 6 columns, 3 segments, 120.0 MB in 0.564 s: 212.8 MB/s": the read pass
read_secs() { awk '{ for (i = 1; i < NF; i++) if ($i == "in") { print $(i + 1); exit } }' "$1.out"; }

# one FILE_KIND VARIANT THREADS: one timed run of case FILE_KIND.VARIANT.THREADS
one() {
    f=$H5
    [ "$1" = raw ] && f=$RAW
    case $2 in
    direct) set -- "$1.$2.$3" "$SF" read "$f:/" --threads "$3" --quiet ;;
    hyperslab) set -- "$1.$2.$3" env SF_HDF5_DIRECT=0 "$SF" read "$f:/" --threads "$3" --quiet ;;
    before) set -- "$1.$2.$3" "$BEFORE" read "$f:/" --threads "$3" --quiet ;;
    esac
    measure_once -p read_secs "$@" || die "failed: $*"
}

k=1
while [ "$k" -le "$REPEAT" ]; do
    echo "round $k of $REPEAT" >&2
    for kind in deflate raw; do
        for t in $THREAD_COUNTS; do
            for v in $VARIANTS; do one "$kind" "$v" "$t"; done
        done
    done
    k=$((k + 1))
done
for kind in deflate raw; do
    for t in $THREAD_COUNTS; do
        for v in $VARIANTS; do summarize "$kind.$v.$t" "$kind, $v, $t threads"; done
    done
done

# ------------------------------------------------------------------ the report
{
    echo "## HDF5 direct chunk reads, warm page cache (Decision 6)"
    echo
    machine h5py
    echo
    echo "Data: $H5 ($(wc -c <"$H5" | tr -d ' ') bytes, deflate 1) and $RAW ($(wc -c <"$RAW" | tr -d ' ') bytes,"
    echo "uncompressed); variants: direct (as built), hyperslab (SF_HDF5_DIRECT=0)${BEFORE:+, before ($BEFORE)}."
    echo "GB/s = rows x columns x 8 / the read pass's median seconds (\"own s\")."
    echo
    echo "| file | variant | threads | rows | own s | GB/s | wall s | peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for kind in deflate raw; do
        for t in $THREAD_COUNTS; do
            for v in $VARIANTS; do
                k=$kind.$v.$t
                # shellcheck disable=SC2046
                set -- $(first_line "$k")
                awk -v k="$kind" -v v="$v" -v t="$t" -v r="$1" -v c="$3" -v s="$(get "$k" pass)" \
                    -v w="$(get "$k" wall)" -v m="$(get "$k" mib)" \
                    'BEGIN { printf "| %s | %s | %s | %s | %.3f | %.2f | %.2f | %s |\n", k, v, t, r, s, r * c * 8 / s / 1e9, w, m }'
            done
        done
    done
    echo
    commands
} | publish
