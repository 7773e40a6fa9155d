#!/bin/bash
# The main job, end to end on data it generates: build streamfit, generate seed
# 000's regression data (1,000,000 rows), describe it in parallel, convert it to
# HDF5 in bounded memory, and describe the HDF5 copy.
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/deps.sh
meson setup build >/dev/null 2>&1 || true
ninja -C build >/dev/null
sf=build/cli/streamfit
work=${WORK:-$(mktemp -d)}
rows=${ROWS:-1000000}
echo "== gen regression --rows $rows"
$sf gen regression --rows "$rows" --seed 1 --out "$work/regression.csv"
ls -l "$work/regression.csv"
echo "== describe (all threads)"
$sf describe "$work/regression.csv"
echo "== convert to HDF5"
$sf convert "$work/regression.csv" --out "$work/regression.h5"
echo "== describe the HDF5 copy"
$sf describe "$work/regression.h5:/"
echo "== read-only pass"
$sf read "$work/regression.csv"
echo "outputs in $work"
