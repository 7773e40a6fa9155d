#!/bin/sh
# design.sh — seed 000's workflow: CSV -> patsy design matrix -> HDF5 (issue 4),
# streamfit against pandas read_csv(chunksize=50000) + patsy.dmatrices + PyTables
# EArray appends (bench/design_patsy.py), uncompressed and zlib level 1 as the post.
#
#   sh bench/design.sh [PATH/TO/streamfit]   (default: build-rel/cli/streamfit, else build/)
#
# Environment (see bench/timing.sh for PYTHON, REPEAT, THREADS, DATA, OUT, RECORD):
# ROWS (default 2500000).
# The CSV is made once in DATA by `streamfit gen regression --rows ROWS --seed 1`.
# streamfit's side is `streamfit convert CSV --formula F --define lnames=np.arange(5)
# --out X.h5` (the post's formula as written); the design builder alone (no CSV parse,
# no HDF5) is timed by bench/design_bench.c, compiled here against the library beside
# the streamfit given. Result quality: both design files (/X and /y) compared, max
# absolute difference.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/timing.sh"
bench_init design.sh "$@"
ROWS=${ROWS:-2500000}
FORMULA='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)'
need_python pandas patsy tables h5py
CSV=$DATA/reg$ROWS.csv
ensure "$CSV" - "$SF" gen regression --rows "$ROWS" --seed 1 --out "$CSV" --quiet
cat "$CSV" >/dev/null

for z in 0 1; do
    zl=uncompressed
    [ "$z" = 1 ] && zl="zlib 1"
    measure "patsy$z" "pandas + patsy + PyTables, $zl" "$PYTHON" "$HERE/design_patsy.py" "$CSV" "$W/p$z.h5" "$z" \
        "$FORMULA" || die "the Python side failed"
    measure "sf$z" "streamfit convert --formula, $zl, --threads $THREADS" "$SF" convert "$CSV" --formula "$FORMULA" \
        --define 'lnames=np.arange(5)' --compression "$z" --threads "$THREADS" --out "$W/s$z.h5" ||
        die "streamfit convert failed"
    value "diff$z" "$("$PYTHON" - "$W/p$z.h5" "$W/s$z.h5" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
if a["X"].shape != b["X"].shape or a["y"].shape != b["y"].shape:
    print("shapes differ: X %s / %s" % (a["X"].shape, b["X"].shape))
else:
    d = 0.0
    for k in ("X", "y"):
        for s in range(0, a[k].shape[0], 1 << 18):
            d = max(d, float(np.max(np.abs(a[k][s:s + (1 << 18)] - b[k][s:s + (1 << 18)]), initial=0)))
    print("%d x %d, max abs diff %.3g" % (a["X"].shape + (d,)))
EOF
)"
done

BUILD=$(dirname "$(dirname "$SF")")
if cc -O2 -std=c11 -I"$ROOT/include" "$HERE/design_bench.c" -o "$W/design_bench" -L"$BUILD" -lstreamfit \
    -Wl,-rpath,"$BUILD" 2>"$W/cc.log"; then
    BUILDER=$("$W/design_bench" "$CSV" "${FORMULA#y ~ }" "$REPEAT"; "$W/design_bench" "$CSV" "$FORMULA" "$REPEAT")
else
    BUILDER="(cannot build bench/design_bench.c against $BUILD: $(head -c 300 "$W/cc.log"))"
fi

{
    echo "## CSV -> design matrix -> HDF5, seed 000 (issue 4)"
    echo
    machine pandas patsy tables numpy
    echo
    echo "Data: \`streamfit gen regression --rows $ROWS --seed 1\` ($(wc -c <"$CSV" | tr -d ' ') bytes); formula"
    echo "\`$FORMULA\` with lnames = np.arange(5)."
    echo
    results_table
    echo
    echo "Targets (issue 4): >= 10x faster than pandas + patsy + PyTables writing uncompressed:"
    echo "$(ratio "$(get patsy0 wall)" "$(get sf0 wall)")x, $(verdict "$(ratio "$(get patsy0 wall)" "$(get sf0 wall)")" 10); >= 4x writing zlib 1: $(ratio "$(get patsy1 wall)" "$(get sf1 wall)")x,"
    echo "$(verdict "$(ratio "$(get patsy1 wall)" "$(get sf1 wall)")" 4); peak RSS under 64 MiB."
    echo
    echo "Result quality: the design files of both sides, /X and /y: uncompressed $(val diff0); zlib 1 $(val diff1)"
    echo "(design_patsy.py reads the CSV with pandas' default float parser, which can be an ulp off the"
    echo "exact value streamfit parses)."
    echo
    echo "The design builder alone (bench/design_bench.c), one thread, chunks in memory (best of $REPEAT):"
    echo
    echo '```'
    echo "$BUILDER"
    echo '```'
    echo
    commands
} | publish
