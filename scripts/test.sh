#!/bin/bash
# Builds streamfit and runs every test: warnings as errors, then again under
# AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), then a short
# libFuzzer run of the CSV source, the model loader and the formula parser. Prints "N passed, M failed" at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/deps.sh

passed=0
failed=0
count() { # summarise one meson test log
    local log=$1
    local ok fail
    ok=$(grep -E '^Ok: ' "$log" | awk '{print $2}' | tail -1)
    fail=$(grep -E '^(Fail|Unexpected Pass|Timeout): ' "$log" | awk '{s += $NF} END {print s + 0}')
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0}))
}

echo "== build (warnings as errors) and test"
meson setup build --reconfigure -Dwerror=true >/dev/null 2>&1 || meson setup build -Dwerror=true >/dev/null
ninja -C build
meson test -C build --print-errorlogs --num-processes 2 | tee build/test-summary.log
count build/test-summary.log

echo "== release build (-O3, warnings as errors: what the benchmarks run) and test"
meson setup build-relw --reconfigure --buildtype=release -Dwerror=true >/dev/null 2>&1 ||
    meson setup build-relw --buildtype=release -Dwerror=true >/dev/null
ninja -C build-relw
meson test -C build-relw --print-errorlogs --num-processes 2 | tee build-relw/test-summary.log
count build-relw/test-summary.log

echo "== meson install + pkg-config: examples/link/Makefile builds examples against the installed library"
dest=$(mktemp -d)
meson install -C build --destdir "$dest" >/dev/null
pcdir=$(dirname "$(find "$dest" -name streamfit.pc | head -1)")
libdir=$(dirname "$(find "$dest" -name libstreamfit.so | head -1)")
mk() { PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" make -s -C "$dest" -f "$PWD/examples/link/Makefile" \
    EXAMPLE="$1" CFLAGS="-std=c11 -Wall -Wextra -Wpedantic -Werror" LDFLAGS="-Wl,-rpath,$libdir"; }
if mk column_means && mk gram &&
    printf 'a,b\n1,x\n3,y\n' > "$dest/t.csv" && "$dest/column_means" "$dest/t.csv" | grep -q '^a	2	' &&
    printf 'a,b\n1,2\n3,4\n' > "$dest/g.csv" && "$dest/gram" "$dest/g.csv" b | grep -q '^Atb a 14$'; then
    passed=$((passed + 1)); echo "install: ok"
else
    failed=$((failed + 1)); echo "install: FAILED"
fi
rm -rf "$dest"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
san_args="-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true -Dc_args=-fno-sanitize-recover=all"
meson setup build-asan --reconfigure $san_args >/dev/null 2>&1 || meson setup build-asan $san_args >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 | tee build-asan/test-summary.log
count build-asan/test-summary.log

echo "== libFuzzer: CSV source (${FUZZ_SECONDS:-30} s)"
CC=clang meson setup build-fuzz --reconfigure -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null 2>&1 ||
    CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
fuzz() { # target, seed corpus folder, max input length
    local target=$1 seeds=$2 max_len=$3 corpus
    ninja -C build-fuzz "tests/fuzz/$target"
    corpus=$(mktemp -d)
    cp "$seeds"/* "$corpus"/
    # ASan returns freed memory to the system, so peak RSS measures live memory
    if (cd "$corpus" && ASAN_OPTIONS=allocator_release_to_os_interval_ms=500:quarantine_size_mb=64 \
            "$OLDPWD/build-fuzz/tests/fuzz/$target" -max_total_time="${FUZZ_SECONDS:-30}" \
            -max_len="$max_len" -print_final_stats=1 "$corpus" > "$corpus/log" 2>&1); then
        passed=$((passed + 1))
        echo "$target: no crash in ${FUZZ_SECONDS:-30} s ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$corpus/log" | awk '{print $2}') runs)"
    else
        failed=$((failed + 1)); tail -40 "$corpus/log"
    fi
    rm -rf "$corpus"
}
fuzz fuzz_csv tests/fuzz/corpus 1024
echo "== libFuzzer: model loader on edited valid model files (${FUZZ_SECONDS:-30} s)"
fuzz fuzz_model tests/fuzz/corpus_model 256
echo "== libFuzzer: formula parser and design builder (${FUZZ_SECONDS:-30} s)"
fuzz fuzz_formula tests/fuzz/corpus_formula 512
echo "== libFuzzer: the CSV fast path against libcsv alone, same tables and errors (${FUZZ_SECONDS:-30} s)"
fuzz fuzz_csv_fast tests/fuzz/corpus 1024
echo "== libFuzzer: --where row filters over a small table (${FUZZ_SECONDS:-30} s)"
fuzz fuzz_where tests/fuzz/corpus_where 256

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
