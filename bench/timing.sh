# timing.sh — sourced by the benchmark scripts (`. "$HERE/timing.sh"`): one way to
# time a command and to drop the page cache. Needs TIME (GNU time) and BENCH (the
# script's name, for messages) set by the caller.

# run_timed FILE CMD...: runs CMD under GNU time, keeping its stdout in FILE.out and
# stderr in FILE.err; sets SECS (wall), RSS (peak KiB) and CPU (user + system s);
# fails, printing CMD's stderr, if CMD fails.
run_timed() {
    _f=$1
    shift
    "$TIME" -v -o "$_f.time" "$@" >"$_f.out" 2>"$_f.err"
    _rc=$?
    if [ "$_rc" -ne 0 ]; then
        echo "$BENCH: failed ($_rc): $*" >&2
        cat "$_f.err" >&2
        return 1
    fi
    SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]
            print s }' "$_f.time")
    RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$_f.time")
    CPU=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$_f.time")
}

# drop_caches: empties the page cache where allowed (root); quietly nothing elsewhere.
drop_caches() {
    sync
    (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null
}
