# timing.sh — sourced by every benchmark script in bench/ (`. "$HERE/timing.sh"`, HERE
# being bench/): the set-up they share, one way to time a case, and one way to write
# the report. The prerequisites of the benchmarks (Debian 12 packages): time (GNU
# time, /usr/bin/time), python3-sklearn, python3-pandas, python3-h5py, python3-patsy,
# python3-tables, python3-dask (regression.sh's peer), and
# gnuplot-nox (compare.sh's chart; it is skipped when gnuplot is missing).
#
# A case is REPEAT runs of a whole process under GNU time (/usr/bin/time -v). The
# report gives the MEDIAN wall time of the runs (issue 8; the mean of the middle two
# for an even REPEAT), the median CPU seconds (user + system over all threads: steadier
# than wall time when other jobs share the cores), the largest peak RSS of any run,
# and with a pass function (-p) the median of a time the program prints itself (a
# pass, or a loop timed inside). The output of the median run (by wall time) is kept
# for the script to read.
#
# Every script: HERE=...; . "$HERE/timing.sh"; bench_init NAME.sh "$@"; then measure
# cases, record values (value NAME VALUE), write its report to standard output of a
# block piped into `publish`. Environment read here: PYTHON (default
# /usr/bin/python3), REPEAT (runs per case; default 3), THREADS (streamfit's --threads;
# default 2), DATA (default bench/data, git-ignored), OUT (default bench/RESULTS.md:
# the script's section there, between `<!-- NAME.sh begin -->` and `<!-- NAME.sh end
# -->`, is replaced in place, or appended; OUT=- only prints it), RECORD (optional: a file
# that gets the raw results, for compare.sh).

die() { echo "${BENCH:-bench}: $*" >&2; exit 1; }

# bench_init NAME [PATH/TO/streamfit]: checks and sets SF (default build-rel's
# streamfit, else build's), ROOT, PYTHON, REPEAT, THREADS, DATA, OUT, TIME, W (a
# temporary directory removed at exit, with the files listed in CLEANUP), RES and
# VALUES (the results), LOAD0 (load average now).
bench_init() {
    BENCH=$1
    pick_streamfit "${2:-}"
    PYTHON=${PYTHON:-/usr/bin/python3}
    REPEAT=${REPEAT:-3}
    THREADS=${THREADS:-2}
    DATA=${DATA:-$HERE/data}
    OUT=${OUT:-$HERE/RESULTS.md}
    TIME=/usr/bin/time
    CLEANUP=
    LC_ALL=C
    export LC_ALL
    [ -x "$SF" ] || die "no streamfit at $SF (build it, or pass its path)"
    [ -x "$TIME" ] || die "needs GNU time at $TIME (Debian: apt-get install time)"
    mkdir -p "$DATA" || die "cannot make $DATA"
    W=$(mktemp -d "${TMPDIR:-/tmp}/sf_bench.XXXXXX") || exit 1
    trap 'rm -rf "$W"; [ -z "$CLEANUP" ] || rm -f $CLEANUP' EXIT
    trap 'exit 1' INT TERM HUP
    RES=$W/results # key|label|wall|cpu|rss KiB|pass|runs|min wall|max wall|command
    VALUES=$W/values # name|value
    : >"$RES"
    : >"$VALUES"
    LOAD0=$(load_now)
}

# pick_streamfit [PATH]: SF = PATH made absolute, or build-rel's streamfit when built,
# else build's; ROOT = the source tree.
pick_streamfit() {
    ROOT=$(dirname "$HERE")
    if [ -n "$1" ]; then SF=$1
    elif [ -x "$ROOT/build-rel/cli/streamfit" ]; then SF=$ROOT/build-rel/cli/streamfit
    else SF=$ROOT/build/cli/streamfit
    fi
    case $SF in /*) ;; *) SF=$(pwd)/$SF ;; esac
}

# need_python MODULE...: dies unless PYTHON imports every MODULE.
need_python() {
    for _m in "$@"; do
        "$PYTHON" -c "import $_m" 2>/dev/null || die "$PYTHON lacks $_m (Debian: python3-${_m%%.*})"
    done
}

load_now() { cut -d' ' -f1-3 /proc/loadavg; }

# drop_caches: empties the page cache where allowed (root); fails quietly elsewhere.
drop_caches() {
    sync
    (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null
}

# ensure FILE DEP CMD...: makes FILE by running CMD unless FILE is there, not empty and
# not older than DEP (- for none); dies if CMD fails.
ensure() {
    _f=$1
    _d=$2
    shift 2
    if [ -s "$_f" ] && { [ "$_d" = - ] || [ ! "$_f" -ot "$_d" ]; }; then return 0; fi
    echo "$BENCH: making $_f" >&2
    rm -f "$_f"
    "$@" >"$W/ensure.log" 2>&1 || { cat "$W/ensure.log" >&2; rm -f "$_f"; die "failed: $*"; }
}

# gen_data KIND ROWS: DATA/P<ROWS>.csv by `streamfit gen KIND --rows ROWS --seed 1`
# (P: reg for regression, cls for classification), its HDF5 copy .h5 (deflate 1, as
# `streamfit convert` writes) and .raw.h5 (uncompressed), each made once; sets CSV, H5
# and RAW to their paths.
gen_data() {
    case $1 in regression) _p=reg ;; classification) _p=cls ;; *) die "gen_data: $1?" ;; esac
    CSV=$DATA/$_p$2.csv
    H5=$DATA/$_p$2.h5
    RAW=$DATA/$_p$2.raw.h5
    ensure "$CSV" - "$SF" gen "$1" --rows "$2" --seed 1 --out "$CSV" --quiet
    ensure "$H5" "$CSV" "$SF" convert "$CSV" --out "$H5" --quiet
    ensure "$RAW" "$CSV" "$SF" convert "$CSV" --out "$RAW" --compression 0 --quiet
}

# quote_args ARG...: the arguments as one shell command line (an argument with a
# character other than letters, digits and _./:=,+@%- in single quotes).
quote_args() {
    _qs=
    for _qa in "$@"; do
        case $_qa in
        '' | *[!A-Za-z0-9_./:=,+@%-]*) _qa="'$(printf '%s' "$_qa" | sed "s/'/'\\\\''/g")'" ;;
        esac
        _qs="${_qs:+$_qs }$_qa"
    done
    printf '%s\n' "$_qs"
}

# measure_once [-c] [-p FUNC] KEY CMD...: one run of CMD under GNU time, added to
# KEY's runs (-c: the page cache dropped first; -p: FUNC FILE prints the time the
# program reports, FILE.out and FILE.err being its output). Fails, printing CMD's
# stderr, if CMD fails.
measure_once() {
    _ocold=0
    _opf=
    while :; do
        case $1 in
        -c) _ocold=1; shift ;;
        -p) _opf=$2; shift 2 ;;
        *) break ;;
        esac
    done
    _okey=$1
    shift
    [ "$_ocold" = 1 ] && drop_caches
    _ok=$(($(cat "$W/runs.$_okey" 2>/dev/null | wc -l) + 1))
    _of=$W/$_okey.$_ok
    "$TIME" -v -o "$_of.time" "$@" >"$_of.out" 2>"$_of.err"
    _orc=$?
    if [ "$_orc" -ne 0 ]; then
        echo "$BENCH: failed ($_orc): $*" >&2
        cat "$_of.err" >&2
        return 1
    fi
    _op=-
    [ -n "$_opf" ] && _op=$("$_opf" "$_of")
    awk -F': ' -v k="$_ok" -v p="${_op:--}" '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; w = s }
        /User time|System time/ { c += $2 }
        /Maximum resident set size/ { r = $2 }
        END { print k, w, c, r, p }' "$_of.time" >>"$W/runs.$_okey"
    quote_args "$@" >"$W/cmd.$_okey"
    tail -n 1 "$W/runs.$_okey" | {
        read -r _ _ow _oc _or _op
        echo "  $_okey run $_ok: wall $_ow s, cpu $_oc s, peak RSS $((_or / 1024)) MiB${_opf:+, own time $_op s}" >&2
    }
}

# summarize KEY LABEL: the runs of KEY as one line of RES (median wall, median cpu,
# largest RSS, median own time, runs, fastest and slowest wall); the median run's
# output is kept as W/KEY.out and W/KEY.err.
summarize() {
    set -- "$1" "$2" "$(awk '
        function med(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { n++; k[n] = $1; w[n] = $2 + 0; ws[n] = $2 + 0; c[n] = $3 + 0; if ($4 > r) r = $4; p[n] = $5; pn += ($5 != "-") }
        END {
            mw = med(ws, n)   # ws sorted now: pick the run nearest the median
            best = 1
            for (i = 1; i <= n; i++) if ((w[i] - mw) ^ 2 < (w[best] - mw) ^ 2) best = i
            mp = "-"
            if (pn == n) { for (i = 1; i <= n; i++) q[i] = p[i] + 0; mp = med(q, n) }
            printf "%s|%s|%d|%s|%d|%s|%s\n", mw, med(c, n), r, mp, n, ws[1], ws[n] "|" k[best]
        }' "$W/runs.$1")"
    _run=${3##*|}
    cp "$W/$1.$_run.out" "$W/$1.out"
    cp "$W/$1.$_run.err" "$W/$1.err"
    rm -f "$W/$1".[0-9]*.*
    printf '%s|%s|%s|%s\n' "$1" "$2" "${3%|*}" "$(cat "$W/cmd.$1")" >>"$RES"
}

# measure [-c] [-n N] [-p FUNC] KEY LABEL CMD...: REPEAT (or N) runs of CMD, summed up
# as one case (see measure_once and summarize).
measure() {
    _mn=$REPEAT
    _opts=
    while :; do
        case $1 in
        -c) _opts="$_opts -c"; shift ;;
        -n) _mn=$2; shift 2 ;;
        -p) _opts="$_opts -p $2"; shift 2 ;;
        *) break ;;
        esac
    done
    _mkey=$1
    _mlabel=$2
    shift 2
    rm -f "$W/runs.$_mkey"
    _i=1
    while [ "$_i" -le "$_mn" ]; do
        # shellcheck disable=SC2086
        measure_once $_opts "$_mkey" "$@" || return 1
        _i=$((_i + 1))
    done
    summarize "$_mkey" "$_mlabel"
}

# get KEY FIELD: a field of a case: label, wall, cpu, rss (KiB), mib, pass, runs,
# min, max, cmd.
get() {
    awk -F'|' -v k="$1" -v f="$2" '
        BEGIN { split("key label wall cpu rss pass runs min max cmd", n, " "); for (i in n) c[n[i]] = i }
        $1 == k { if (f == "mib") printf "%.1f\n", $5 / 1024
            else if (f == "cmd") { for (i = 1; i < 10; i++) sub(/^[^|]*[|]/, ""); print }
            else print $(c[f]); exit }' "$RES"
}

# first_line KEY: the first non-empty line the median run of KEY printed.
first_line() { cat "$W/$1.out" "$W/$1.err" | LC_ALL=C tr -c '[:print:]\t\n' '?' | awk 'NF { print; exit }'; }

# value NAME VALUE: a figure of the run for the report and for compare.sh (RECORD).
value() { printf '%s|%s\n' "$1" "$2" >>"$VALUES"; }
val() { awk -F'|' -v k="$1" '$1 == k { v = $2 } END { print v }' "$VALUES"; }

# ratio A B: A / B with two decimals (0 when B is not positive).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# verdict RATIO TARGET: met or **missed**.
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "**missed**") }'; }

# results_table [-b BASEKEY] [-x HEADER AWKEXPR] [KEYREGEX]: the cases whose key
# matches KEYREGEX as a markdown table: median wall (fastest-slowest when runs > 1),
# cpu, peak RSS, the own time when any case has one, HEADER (AWKEXPR of w, the wall
# seconds) and "x BASE" (BASEKEY's wall / this wall).
results_table() {
    _base=
    _xh=
    _xe=0
    while :; do
        case ${1:-} in
        -b) _base=$2; shift 2 ;;
        -x) _xh=$2; _xe=$3; shift 3 ;;
        *) break ;;
        esac
    done
    awk -F'|' -v re="${1:-.}" -v bw="$([ -n "$_base" ] && get "$_base" wall)" -v bl="$_base" -v xh="$_xh" '
        $1 ~ re { n++; l[n] = $0; if ($6 != "-") own = 1 }
        END {
            h = "| case | wall s (median"; s = "|---|---:"
            h = h ", range) | cpu s | peak RSS MiB |"; s = s "|---:|---:|"
            if (own) { h = h " own s |"; s = s "---:|" }
            if (xh != "") { h = h " " xh " |"; s = s "---:|" }
            if (bw != "") { h = h " x " bl " |"; s = s "---:|" }
            print h; print s
            for (i = 1; i <= n; i++) {
                split(l[i], f, "|"); w = f[3] + 0
                o = sprintf("| %s | %.2f%s | %.2f | %.1f |", f[2], w,
                    f[7] > 1 ? sprintf(" (%.2f-%.2f)", f[8], f[9]) : "", f[4], f[5] / 1024)
                if (own) o = o " " f[6] " |"
                if (xh != "") o = o " " (w > 0 ? sprintf("%.1f", '"$_xe"') : "-") " |"
                if (bw != "") o = o " " (w > 0 ? sprintf("%.2f", bw / w) : "-") " |"
                print o
            }
        }' "$RES"
}

# commands [KEYREGEX]: the exact commands of the cases and the first line each printed.
commands() {
    echo '```'
    # the command is field 10 to the end (it may hold a '|': a pipeline spec)
    awk -F'|' -v re="${1:-.}" '$1 ~ re { c = $0; for (i = 1; i < 10; i++) sub(/^[^|]*[|]/, "", c); print $1 "|" c }' \
        "$RES" | while IFS='|' read -r _k _c; do
        echo "$_c"
        _l=$(first_line "$_k")
        [ -n "$_l" ] && echo "    -> $_l"
    done
    echo '```'
}

# python_versions MODULE...: "Python 3.11.2, pandas 1.5.3, ..." of PYTHON.
python_versions() {
    "$PYTHON" - "$@" <<'EOF'
import importlib, sys
out = ["Python " + sys.version.split()[0]]
for m in sys.argv[1:]:
    out.append("%s %s" % (m, getattr(importlib.import_module(m), "__version__", "?")))
print(", ".join(out))
EOF
}

# machine MODULE...: the paragraph every report starts with (machine, load, versions).
machine() {
    echo "Made by \`sh bench/$BENCH\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores"
    echo "($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/^Mem:/ { print $2 }') GB RAM, $(uname -sr);"
    echo "load average $LOAD0 before the runs, $(load_now) after (other work on the cores inflates"
    echo "wall times; cpu s is steadier). $("$SF" --version) ($SF), --threads $THREADS;"
    echo "$(python_versions "$@"). Every case: $REPEAT run(s) of the whole process under GNU time"
    echo "(\`$TIME -v\`); median wall time, median cpu (user + system) seconds, largest peak RSS."
}

# replace_section FILE NAME SECTION: FILE's part between `<!-- NAME begin -->` and
# `<!-- NAME end -->` becomes the file SECTION (markers included), or SECTION is
# appended when FILE has no such part.
replace_section() {
    if [ -f "$1" ] && grep -q "^<!-- $2 begin -->" "$1"; then
        awk -v f="$3" -v b="<!-- $2 begin -->" -v e="<!-- $2 end -->" '
            $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
            $0 == e { skip = 0; next }
            !skip' "$1" >"$1.tmp-$$" && mv "$1.tmp-$$" "$1"
    else
        { [ -s "$1" ] && echo; cat "$3"; } >>"$1"
    fi
}

# publish: the report on standard input becomes this script's section: in OUT between
# its markers (see replace_section; OUT=- skips it) and on standard output; RECORD, when
# set, gets RES and the values (lines "=name|value").
publish() {
    { echo "<!-- $BENCH begin -->"; cat; echo "<!-- $BENCH end -->"; } >"$W/section"
    if [ "$OUT" != - ]; then
        replace_section "$OUT" "$BENCH" "$W/section"
        echo "$BENCH: wrote its section of $OUT" >&2
    fi
    cat "$W/section"
    if [ -n "${RECORD:-}" ]; then
        { cat "$RES"; sed 's/^/=/' "$VALUES"; } >"$RECORD"
    fi
}
