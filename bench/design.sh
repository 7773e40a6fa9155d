#!/bin/sh
# design.sh — seed 000's workflow: CSV -> patsy design matrix -> HDF5, streamfit
# against pandas read_csv(chunksize=50000) + patsy.dmatrices + PyTables EArray
# appends (bench/design_patsy.py), uncompressed and zlib level 1 as the post.
#
#   sh bench/design.sh [PATH/TO/streamfit]          (default: build/cli/streamfit)
#
# Environment: PYTHON (default /usr/bin/python3 with pandas, patsy, tables),
# ROWS (default 2500000), REPEAT (best of; default 3), THREADS (default 2),
# OUT (default bench/RESULTS-design.md).
# The CSV is made once in bench/data/ by `streamfit gen regression --rows ROWS
# --seed 1`. streamfit's side is `streamfit convert CSV --formula F --out X.h5`
# (levels=range(5) in place of lnames) when the CLI has --formula; the design builder alone (no CSV parse, no HDF5) is
# always timed by bench/design_bench.c, compiled here against build/.
# Every run is timed by GNU time: wall seconds and peak RSS of the process.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SF=${1:-$ROOT/build/cli/streamfit}
PYTHON=${PYTHON:-/usr/bin/python3}
ROWS=${ROWS:-2500000}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
OUT=${OUT:-$HERE/RESULTS-design.md}
DATA=$HERE/data
TIME=/usr/bin/time
FORMULA='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)'
LC_ALL=C
export LC_ALL

die() { echo "design.sh: $*" >&2; exit 1; }
[ -x "$SF" ] || die "no streamfit at $SF"
[ -x "$TIME" ] || die "needs GNU time at $TIME"
"$PYTHON" -c 'import pandas, patsy, tables' 2>/dev/null || die "$PYTHON lacks pandas, patsy or tables"
mkdir -p "$DATA"
CSV=$DATA/reg$ROWS.csv
[ -f "$CSV" ] || "$SF" gen regression --rows "$ROWS" --seed 1 --out "$CSV" || die "gen failed"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# best wall time and largest RSS of REPEAT runs of a command: prints "SECONDS RSS_MIB"
best() {
    b=""; m=0
    for _ in $(seq "$REPEAT"); do
        "$TIME" -f "%e %M" -o "$TMP/t" "$@" > "$TMP/out" 2>&1 || { cat "$TMP/out" >&2; die "failed: $*"; }
        read -r s k < "$TMP/t"
        if [ -z "$b" ] || [ "$(echo "$s < $b" | bc)" = 1 ]; then b=$s; fi
        [ "$k" -gt "$m" ] && m=$k
    done
    echo "$b $(echo "scale=1; $m / 1024" | bc)"
}

{
echo "# CSV -> design matrix -> HDF5 (seed 000)"
echo
echo "Made by \`sh bench/design.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC'); $(nproc) cores;"
echo "$(wc -c < "$CSV") bytes, $ROWS rows; formula \`$FORMULA\` with lnames = np.arange(5);"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare within one run)."
echo
echo "| tool | seconds | peak RSS MiB | x pandas+patsy |"
echo "|---|---:|---:|---:|"
set -- $(best "$PYTHON" "$HERE/design_patsy.py" "$CSV" "$TMP/p0.h5" 0 "$FORMULA"); P0=$1
echo "| pandas + patsy + PyTables, uncompressed | $1 | $2 | 1.00 |"
set -- $(best "$PYTHON" "$HERE/design_patsy.py" "$CSV" "$TMP/p1.h5" 1 "$FORMULA"); P1=$1
echo "| pandas + patsy + PyTables, zlib 1 | $1 | $2 | 1.00 |"
# the post's formula as it is, lnames given with --define
CLI_FORMULA=$FORMULA
if "$SF" 2>&1 | grep -q -- "--formula F"; then
    for z in 0 1; do
        set -- $(best "$SF" convert "$CSV" --formula "$CLI_FORMULA" --define 'lnames=np.arange(5)' \
                 --compression "$z" --threads "$THREADS" \
                 --out "$TMP/s$z.h5")
        ref=$P0; [ "$z" = 1 ] && ref=$P1
        echo "| streamfit convert --formula, $([ "$z" = 1 ] && echo zlib 1 || echo uncompressed), $THREADS threads | $1 | $2 | $(echo "scale=2; $ref / $1" | bc) |"
    done
else
    echo "| streamfit convert --formula | (not in this CLI yet) | | |"
fi
cc -O2 -std=c11 -I"$ROOT/include" "$HERE/design_bench.c" -o "$TMP/design_bench" -L"$ROOT/build" -lstreamfit \
    -Wl,-rpath,"$ROOT/build" || die "cannot build design_bench"
echo
echo "The design builder alone, one thread, chunks in memory (best of $REPEAT):"
echo
echo '```'
"$TMP/design_bench" "$CSV" "${FORMULA#y ~ }" "$REPEAT"
"$TMP/design_bench" "$CSV" "$FORMULA" "$REPEAT"
echo '```'
} | tee "$OUT"
