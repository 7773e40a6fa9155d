#!/bin/sh
# test_cli.sh — the streamfit command line, end to end.
#
#   sh tests/test_cli.sh PATH/TO/streamfit PATH/TO/tests/data
#
# Needs only sh, awk, grep, diff and mktemp (no Python at test time). Prints one
# "ok N - name" / "not ok N - name" line per check (details on "# " lines), then
# "P passed, F failed"; exits 1 if any check failed.
#
#  (i)   describe --json on the describe_* fixtures: the same bytes for --threads 1
#        and 2 (default segments, and --segment-bytes 4096 for many segments), and
#        the values pandas gives (tests/data/*.describe.tsv, written by
#        tests/reference/make_describe_fixtures.py): mean and std within 1e-12
#        relative (1e-300 absolute floor), everything else exact. The regression
#        fixture is made here by `gen regression --rows 20000 --seed 7` (2 MB: too
#        big for tests/data; only its reference is kept).
#  (ii)  bad input: exit code, exactly one line on stderr naming the file and the
#        line (file:line:), nothing on stdout.
#  (iii) gen: the same seed gives the same bytes, another seed other bytes.
#  (iv)  convert CSV -> .h5 -> CSV: describe agrees on all three (skipped when the
#        build has no HDF5 and convert says so).
#  (v)   describe - (standard input) agrees with describe FILE.
#  (vi)  file.csv.gz, a glob of files with one header each, and --no-header agree
#        with describe FILE; a glob matching nothing exits 2, a later file with
#        other columns exits 1 naming it.
#  (vii) --where on tests/data/filter.csv: describe (1 and 2 threads, many
#        segments) and convert equal the same verbs on the rows awk selects, with
#        the dropped count reported; predict --where (2 threads, many segments)
#        writes the bytes of predict on awk's rows; fit, update and score report
#        the rows --where dropped; errors print the expression and a caret under
#        the exact column; read --where counts; --where on gen is a usage error.

SF=${1:?usage: sh tests/test_cli.sh PATH/TO/streamfit TESTS_DATA_DIR}
DATA=${2:?usage: sh tests/test_cli.sh PATH/TO/streamfit TESTS_DATA_DIR}
LC_ALL=C
export LC_ALL

T=$(mktemp -d "${TMPDIR:-/tmp}/sf_cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

N=0
PASSED=0
FAILED=0

ok() {
    N=$((N + 1))
    PASSED=$((PASSED + 1))
    echo "ok $N - $1"
}

# not_ok NAME [FILE-WITH-DETAILS]
not_ok() {
    N=$((N + 1))
    FAILED=$((FAILED + 1))
    echo "not ok $N - $1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        awk 'NR <= 40 { print "#   " $0 }' "$2"
    fi
}

skip() {
    N=$((N + 1))
    PASSED=$((PASSED + 1))
    echo "ok $N - $1 # SKIP $2"
}

# describe --json lines -> the TSV layout of tests/data/*.describe.tsv:
#   name kind count missing mean std min max         (kind int or float)
#   name category count missing levels top freq
# Strings stay JSON-escaped; null -> nan. The first line ("rows") is printed as
#   #rows N
JSON2TSV='
function tokenize(line,    i, j, L, c, d, s) {
    ntok = 0
    L = length(line)
    i = 1
    while (i <= L) {
        c = substr(line, i, 1)
        if (c == "\"") {
            s = ""
            j = i + 1
            while (j <= L) {
                d = substr(line, j, 1)
                if (d == "\\") { s = s d substr(line, j + 1, 1); j += 2; continue }
                if (d == "\"") break
                s = s d
                j++
            }
            tok[++ntok] = "S" s
            i = j + 1
        } else if (index("{}[]:,", c)) {
            tok[++ntok] = "P" c
            i++
        } else if (c == " " || c == "\t" || c == "\r") {
            i++
        } else {
            j = i
            while (j <= L && !index("{}[]:, \t\r", substr(line, j, 1))) j++
            tok[++ntok] = "L" substr(line, i, j - i)
            i = j
        }
    }
}
function val(k) { return (k in F) ? F[k] : "?" }
function num(k,    v) { v = val(k); return (v == "null") ? "nan" : v }
/"rows": / {
    s = $0
    sub(/.*"rows": /, "", s)
    sub(/[^0-9].*/, "", s)
    print "#rows\t" s
}
/^ *\{"name": / {
    tokenize($0)
    split("", F)
    arr = 0; idx = -1; want_key = 1; key = ""
    for (k = 1; k <= ntok; k++) {
        t = tok[k]
        if (t == "P{") { if (arr) idx++; want_key = 1; continue }
        if (t == "P}") continue
        if (t == "P[") { arr = 1; idx = -1; continue }
        if (t == "P]") { arr = 0; continue }
        if (t == "P,") { want_key = 1; continue }
        if (t == "P:") { want_key = 0; continue }
        if (want_key) { key = substr(t, 2); continue }
        v = substr(t, 2)
        if (arr) { if (idx == 0) F["top." key] = v }
        else F[key] = v
    }
    if (val("type") == "category")
        print val("name") "\tcategory\t" val("count") "\t" val("missing") "\t" val("levels") "\t" \
              val("top.value") "\t" val("top.count")
    else
        print val("name") "\t" (val("integer") == "true" ? "int" : "float") "\t" val("count") "\t" \
              val("missing") "\t" num("mean") "\t" num("std") "\t" num("min") "\t" num("max")
}
'

# Compares two TSVs (reference first); "#rows" lines only if both have one.
# loose=1: int and float kinds are the same. Prints differences; exit 1 if any.
TSVCMP='
BEGIN { FS = "\t"; bad = 0 }
function isnan(s) { return s == "nan" || s == "-nan" || s == "NaN" || s == "null" }
function same_exact(a, b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b)
    if (a == b) return 1
    if (a ~ /^[-+0-9.eE]+$/ && b ~ /^[-+0-9.eE]+$/) return (a + 0) == (b + 0)
    return 0
}
function same_close(a, b,    d, m) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b)
    if (a == b) return 1
    a += 0; b += 0
    d = a - b; if (d < 0) d = -d
    m = a < 0 ? -a : a
    if (b < 0 ? -b > m : b > m) m = b < 0 ? -b : b
    return d <= 1e-12 * m || d <= 1e-300
}
function kind(k) { return (loose && k == "int") ? "float" : k }
FNR == NR {
    if ($1 == "#rows") { refrows = $2; next }
    nref++; for (i = 1; i <= NF; i++) R[nref, i] = $i; RN[nref] = NF
    next
}
{
    if ($1 == "#rows") { gotrows = $2; next }
    ngot++
    if (ngot > nref) { print "extra column: " $0; bad = 1; next }
    if (RN[ngot] != NF) { print "column " ngot ": " NF " fields, want " RN[ngot] ": " $0; bad = 1; next }
    name = R[ngot, 1]
    if ($1 != name) { print "column " ngot ": name \"" $1 "\", want \"" name "\""; bad = 1 }
    if (kind($2) != kind(R[ngot, 2])) { print name ": kind " $2 ", want " R[ngot, 2]; bad = 1 }
    split(R[ngot, 2] == "category" ? "count missing levels top freq" : \
          "count missing mean std min max", what, " ")
    for (i = 3; i <= NF; i++) {
        w = what[i - 2]
        close_ok = (w == "mean" || w == "std")
        if (R[ngot, 2] == "category" && w == "top") good = ($i == R[ngot, i])
        else if (close_ok) good = same_close(R[ngot, i], $i)
        else good = same_exact(R[ngot, i], $i)
        if (!good) {
            printf "%s: %s %s, want %s\n", name, w, $i, R[ngot, i]
            bad = 1
        }
    }
    if (refrows == "" && rows1 == "") rows1 = $3 + $4
}
END {
    if (ngot < nref) { print "missing columns: got " ngot ", want " nref; bad = 1 }
    if (refrows == "" && gotrows != "" && rows1 != "" && gotrows != rows1) {
        print "rows " gotrows ", want " rows1 " (count + missing of the first column)"
        bad = 1
    }
    if (refrows != "" && gotrows != "" && refrows != gotrows) {
        print "rows " gotrows ", want " refrows
        bad = 1
    }
    exit bad
}
'

json2tsv() { awk "$JSON2TSV" "$1"; }

# check_tsv NAME REF.tsv GOT.tsv [loose]
check_tsv() {
    if awk -v loose="${4:-0}" "$TSVCMP" "$2" "$3" >"$T/cmp.out" 2>&1; then
        ok "$1"
    else
        not_ok "$1" "$T/cmp.out"
    fi
}

# check_same NAME A B: byte-identical files
check_same() {
    if diff "$2" "$3" >"$T/diff.out" 2>&1; then ok "$1"; else not_ok "$1" "$T/diff.out"; fi
}

# describe_to OUT ARGS...: runs describe --json; OUT.json, OUT.tsv, OUT.err; status in RC
describe_to() {
    _out=$1
    shift
    "$SF" describe "$@" --json --quiet >"$_out.json" 2>"$_out.err"
    RC=$?
    json2tsv "$_out.json" >"$_out.tsv"
}

# ---------------------------------------------------------------- prerequisites
if [ ! -x "$SF" ]; then
    echo "not ok 1 - streamfit is not executable: $SF"
    echo "0 passed, 1 failed"
    exit 1
fi

# --------------------------------------------------------- (i) describe fixtures
"$SF" gen regression --rows 20000 --seed 7 --out "$T/describe_regression.csv" --quiet \
    >"$T/gen.err" 2>&1 || not_ok "gen regression --rows 20000 --seed 7" "$T/gen.err"

for name in describe_basic describe_quoted describe_regression; do
    csv=$DATA/$name.csv
    [ -f "$csv" ] || csv=$T/$name.csv
    ref=$DATA/$name.describe.tsv
    if [ ! -f "$csv" ] || [ ! -f "$ref" ]; then
        echo "missing $csv or $ref" >"$T/why"
        not_ok "$name: fixture present" "$T/why"
        continue
    fi
    all_ran=1
    for run in "t1 --threads 1" "t2 --threads 2" "s1 --threads 1 --segment-bytes 4096" \
               "s2 --threads 2 --segment-bytes 4096"; do
        set -- $run
        tag=$1
        shift
        describe_to "$T/$name.$tag" "$csv" "$@"
        if [ "$RC" -ne 0 ]; then
            all_ran=0
            not_ok "$name: describe $* exits 0 (got $RC)" "$T/$name.$tag.err"
        fi
    done
    [ "$all_ran" = 1 ] || continue
    check_same "$name: --threads 1 and 2 print the same" "$T/$name.t1.json" "$T/$name.t2.json"
    check_same "$name: --segment-bytes 4096, --threads 1 and 2 print the same" \
        "$T/$name.s1.json" "$T/$name.s2.json"
    "$SF" read "$csv" --segment-bytes 4096 --threads 2 >"$T/read.out" 2>&1
    if awk '{ for (i = 1; i < NF; i++) if ($(i + 1) ~ /^segments/) n = $i } END { exit !(n > 1) }' \
        "$T/read.out"; then
        ok "$name: --segment-bytes 4096 makes several segments"
    else
        not_ok "$name: --segment-bytes 4096 makes several segments" "$T/read.out"
    fi
    check_tsv "$name: describe agrees with pandas" "$ref" "$T/$name.t1.tsv"
    check_tsv "$name: describe --segment-bytes 4096 --threads 2 agrees with pandas" \
        "$ref" "$T/$name.s2.tsv"
done

# ------------------------------------------------------------- (ii) bad input
B=$T/bad
mkdir "$B"
printf 'a,b\n1,2\n3,4\n5\n6,7\n' >"$B/ragged.csv"
printf 'a,b\n1,2\n3,4,5\n6,7\n' >"$B/extra.csv"
printf 'a,b\n1,2\n3,4\n5,x\n7,8\n' >"$B/nonnum.csv"
printf 'a,b\n1,2\n3,"oops\n5,6\n7,8\n' >"$B/quote.csv"
: >"$B/empty.csv"
printf 'a,b\n' >"$B/header.csv"
printf 'a,b\n1,2\n3,4\n' >"$B/good.csv"

# expect_error NAME RC PATTERN... -- ARGS...: exit code RC, nothing on stdout,
# one line on stderr that holds every PATTERN (fixed strings)
expect_error() {
    _name=$1
    _rc=$2
    shift 2
    _pats=$T/pats
    : >"$_pats"
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        printf '%s\n' "$1" >>"$_pats"
        shift
    done
    shift
    if [ -n "${STDIN_FILE:-}" ]; then
        "$SF" "$@" >"$T/e.out" 2>"$T/e.err" <"$STDIN_FILE"
    else
        "$SF" "$@" >"$T/e.out" 2>"$T/e.err" </dev/null
    fi
    _got=$?
    _why=$T/e.why
    : >"$_why"
    [ "$_got" -eq "$_rc" ] || echo "exit code $_got, want $_rc" >>"$_why"
    _lines=$(awk 'END { print NR }' "$T/e.err")
    [ "$_lines" -eq 1 ] || echo "stderr has $_lines lines, want 1" >>"$_why"
    [ -s "$T/e.out" ] && echo "stdout is not empty" >>"$_why"
    while IFS= read -r _p; do
        grep -F -q -e "$_p" "$T/e.err" || echo "stderr lacks \"$_p\"" >>"$_why"
    done <"$_pats"
    if [ -s "$_why" ]; then
        echo "command: streamfit $*" >>"$_why"
        awk '{ print "stderr: " $0 }' "$T/e.err" >>"$_why"
        not_ok "$_name" "$_why"
    else
        ok "$_name"
    fi
}

expect_error "missing file: exit 2" 2 "$B/nosuch.csv" -- describe "$B/nosuch.csv"
expect_error "missing file (read): exit 2" 2 "$B/nosuch.csv" -- read "$B/nosuch.csv"
expect_error "ragged row (too few fields)" 1 "$B/ragged.csv:4:" -- describe "$B/ragged.csv"
expect_error "ragged row (too many fields)" 1 "$B/extra.csv:3:" -- describe "$B/extra.csv"
expect_error "ragged row, --segment-bytes 8 --threads 2" 1 "$B/ragged.csv:4:" -- \
    describe "$B/ragged.csv" --segment-bytes 8 --threads 2
expect_error "non-number in a float column (--chunk-rows 2)" 1 "$B/nonnum.csv:4:" '"x"' -- \
    describe "$B/nonnum.csv" --chunk-rows 2
expect_error "non-number in a float column, --segment-bytes 8 --threads 2" 1 \
    "$B/nonnum.csv:4:" '"x"' -- describe "$B/nonnum.csv" --chunk-rows 2 --segment-bytes 8 --threads 2
expect_error "non-number in a float column, read" 1 "$B/nonnum.csv:4:" -- \
    read "$B/nonnum.csv" --chunk-rows 2
expect_error "unterminated quote" 1 "$B/quote.csv:3:" -- describe "$B/quote.csv"
expect_error "empty file" 1 "$B/empty.csv" -- describe "$B/empty.csv"
expect_error "header-only file" 1 "$B/header.csv" -- describe "$B/header.csv"
expect_error "--types names an unknown column" 1 "nosuch" -- \
    describe "$B/good.csv" --types nosuch=float
expect_error "--types with an unknown type" 1 "nosuch" -- describe "$B/good.csv" --types a=nosuch
expect_error "unknown verb" 1 "frobnicate" -- frobnicate "$B/good.csv"
expect_error "bad option value (--threads abc)" 1 "--threads" -- describe "$B/good.csv" --threads abc
expect_error "bad option value (--chunk-rows 0)" 1 "--chunk-rows" -- \
    describe "$B/good.csv" --chunk-rows 0
expect_error "unknown option" 1 "--nosuch" -- describe "$B/good.csv" --nosuch
STDIN_FILE=$B/nonnum.csv expect_error "non-number on standard input" 1 "<stdin>:4:" -- \
    describe - --chunk-rows 2
STDIN_FILE=$B/ragged.csv expect_error "ragged row on standard input" 1 "<stdin>:4:" -- describe -

# ------------------------------------------------------------------ (iii) gen
for kind in regression classification blobs; do
    "$SF" gen "$kind" --rows 3000 --seed 11 --out "$T/g1.csv" --quiet >"$T/g.err" 2>&1 &&
        "$SF" gen "$kind" --rows 3000 --seed 11 --out "$T/g2.csv" --quiet >>"$T/g.err" 2>&1 &&
        "$SF" gen "$kind" --rows 3000 --seed 12 --out "$T/g3.csv" --quiet >>"$T/g.err" 2>&1
    if [ "$?" -ne 0 ]; then
        not_ok "gen $kind: runs" "$T/g.err"
        continue
    fi
    check_same "gen $kind: the same seed gives the same bytes" "$T/g1.csv" "$T/g2.csv"
    if diff "$T/g1.csv" "$T/g3.csv" >/dev/null 2>&1; then
        echo "seeds 11 and 12 gave the same file" >"$T/why"
        not_ok "gen $kind: another seed gives other bytes" "$T/why"
    else
        ok "gen $kind: another seed gives other bytes"
    fi
done

# ------------------------------------------------------- (iv) convert round trip
for name in describe_basic describe_quoted describe_regression; do
    csv=$DATA/$name.csv
    [ -f "$csv" ] || csv=$T/$name.csv
    [ -f "$csv" ] || continue
    h5=$T/$name.h5
    "$SF" convert "$csv" --out "$h5" --quiet >"$T/conv.err" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q -i -e 'unsupported' -e 'not supported' -e 'not built' "$T/conv.err"; then
        skip "$name: convert CSV -> HDF5 -> CSV" "convert says: $(awk 'NR == 1' "$T/conv.err")"
        continue
    fi
    if [ "$rc" -ne 0 ]; then
        not_ok "$name: convert to .h5 exits 0 (got $rc)" "$T/conv.err"
        continue
    fi
    describe_to "$T/$name.csv0" "$csv"
    describe_to "$T/$name.h5d" "$h5:/"
    if [ "$RC" -ne 0 ]; then
        not_ok "$name: describe FILE.h5:/ exits 0 (got $RC)" "$T/$name.h5d.err"
    else
        # HDF5 columns are float64: integer-valued columns read back as float
        check_tsv "$name: describe of the .h5 agrees with describe of the CSV" \
            "$T/$name.csv0.tsv" "$T/$name.h5d.tsv" 1
    fi
    "$SF" convert "$h5:/" --out "$T/$name.back.csv" --quiet >"$T/conv.err" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        not_ok "$name: convert FILE.h5:/ back to CSV exits 0 (got $rc)" "$T/conv.err"
        continue
    fi
    describe_to "$T/$name.back" "$T/$name.back.csv"
    check_tsv "$name: CSV -> .h5 -> CSV keeps describe's output" \
        "$T/$name.csv0.tsv" "$T/$name.back.tsv"
done

# ----------------------------------------------------------- (v) standard input
for name in describe_basic describe_quoted describe_regression; do
    csv=$DATA/$name.csv
    [ -f "$csv" ] || csv=$T/$name.csv
    [ -f "$csv" ] || continue
    describe_to "$T/$name.file" "$csv"
    "$SF" describe - --json --quiet <"$csv" >"$T/$name.stdin.json" 2>"$T/$name.stdin.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        not_ok "$name: describe - exits 0 (got $rc)" "$T/$name.stdin.err"
        continue
    fi
    json2tsv "$T/$name.stdin.json" >"$T/$name.stdin.tsv"
    check_tsv "$name: describe - (standard input) agrees with describe FILE" \
        "$T/$name.file.tsv" "$T/$name.stdin.tsv"
done

# ------------------------------------------------- (vi) .gz, globs, --no-header
csv=$DATA/describe_basic.csv
describe_to "$T/basic.file" "$csv"
gzip -c "$csv" >"$T/basic.csv.gz"
describe_to "$T/basic.gz" "$T/basic.csv.gz"
check_tsv "describe FILE.csv.gz agrees with describe FILE" "$T/basic.file.tsv" "$T/basic.gz.tsv"
mkdir "$T/parts"
awk -v dir="$T/parts" 'NR == 1 { h = $0; next }
    { f = sprintf("%s/p-%d.csv", dir, int((NR - 2) / 1100)); if (!(f in seen)) { print h > f; seen[f] = 1 }
      print > f }' "$csv"
describe_to "$T/basic.glob" "$T/parts/p-*.csv" --threads 2
check_tsv "describe 'DIR/p-*.csv' (3 files) agrees with describe FILE" "$T/basic.file.tsv" "$T/basic.glob.tsv"
awk 'NR > 1' "$csv" >"$T/nohead.csv"
describe_to "$T/basic.nohead" "$T/nohead.csv" --no-header
if [ "$RC" -eq 0 ] && grep -q '"rows": 3000,' "$T/basic.nohead.json" &&
    grep -q '"name": "x5", "type": "category"' "$T/basic.nohead.json"; then
    ok "describe --no-header: every line a row, columns x0, x1, ..."
else
    not_ok "describe --no-header: every line a row, columns x0, x1, ..." "$T/basic.nohead.err"
fi
expect_error "a glob matching nothing: exit 2" 2 "no file matches" -- describe "$T/parts/q-*.csv"
printf 'other,columns\n1,2\n' >"$T/parts/p-9.csv"
expect_error "a glob with a file of other columns: exit 1, names it" 1 "$T/parts/p-9.csv:1:" -- \
    describe "$T/parts/p-*.csv"

# ---------------------------------------------------------------- (vii) --where
FD=$DATA/filter.csv
W="trip_time_in_secs > 1200 and passenger_count >= 2"
awk -F, 'NR == 1 || ($1 != "" && $1 + 0 > 1200 && $2 != "" && $2 + 0 >= 2)' "$FD" >"$T/where.csv"
# pandas keeps the full file's dtypes (float64: the columns have NaN), so do we
describe_to "$T/where.ref" "$T/where.csv" --types trip_time_in_secs=float,passenger_count=float
for th in 1 2; do
    describe_to "$T/where.$th" "$FD" --where "$W" --threads $th --segment-bytes 256
    check_tsv "describe --where (--threads $th, many segments) equals describe of awk's rows" \
        "$T/where.ref.tsv" "$T/where.$th.tsv"
done
if grep -q '"rows": 10, "where": "trip_time_in_secs > 1200 and passenger_count >= 2", "where_dropped": 50,' \
    "$T/where.1.json"; then
    ok "describe --where --json: rows 10, where_dropped 50"
else
    not_ok "describe --where --json: rows 10, where_dropped 50" "$T/where.1.json"
fi
"$SF" describe "$FD" --where "$W" --quiet >"$T/where.txt" 2>&1
if grep -q '^.*filter.csv: 10 rows, 5 columns (--where dropped 50 rows)$' "$T/where.txt"; then
    ok "describe --where: the text report says how many rows were dropped"
else
    not_ok "describe --where: the text report says how many rows were dropped" "$T/where.txt"
fi
"$SF" convert "$FD" --out "$T/where.conv.csv" --where "$W" 2>"$T/where.conv.err" &&
    "$SF" convert "$T/where.csv" --out "$T/where.conv.ref.csv" --quiet 2>&1
check_same "convert --where writes awk's rows" "$T/where.conv.ref.csv" "$T/where.conv.csv"
if grep -q 'wrote 10 rows to .* (50 dropped by --where)' "$T/where.conv.err"; then
    ok "convert --where reports the dropped rows"
else
    not_ok "convert --where reports the dropped rows" "$T/where.conv.err"
fi
# fit, predict, update, score
FIT="--pipeline linear_regression --target fare --columns trip_time_in_secs,passenger_count"
# shellcheck disable=SC2086
"$SF" fit "$FD" $FIT --model "$T/where.h5" --where "vendor != 'DDS'" 2>"$T/where.fit.err"
if grep -q 'fitted 1 stage on [0-9]* rows ([0-9]* dropped by --where, [0-9]* dropped for missing values)' \
    "$T/where.fit.err"; then
    ok "fit --where reports the rows it dropped"
else
    not_ok "fit --where reports the rows it dropped" "$T/where.fit.err"
fi
"$SF" predict "$FD" --model "$T/where.h5" --where "$W" --threads 2 --segment-bytes 256 \
    --out "$T/where.pred.csv" 2>"$T/where.pred.err"
"$SF" predict "$T/where.csv" --model "$T/where.h5" --out "$T/where.pred.ref.csv" --quiet
check_same "predict --where (2 threads, many segments) writes the lines of awk's rows, in order" \
    "$T/where.pred.ref.csv" "$T/where.pred.csv"
if grep -q -e '--where kept 10 rows and dropped 50' "$T/where.pred.err"; then
    ok "predict --where counts on stderr"
else
    not_ok "predict --where counts on stderr" "$T/where.pred.err"
fi
"$SF" score "$FD" --model "$T/where.h5" --where "$W" --json >"$T/where.score" 2>&1
if grep -q '"where_dropped": 50' "$T/where.score"; then ok "score --where --json: where_dropped"
else not_ok "score --where --json: where_dropped" "$T/where.score"; fi
"$SF" update "$T/where.h5" "$FD" --model "$T/where2.h5" --where "$W" 2>"$T/where.upd.err"
if grep -q '(50 dropped by --where, [0-9]* dropped for missing values)' "$T/where.upd.err"; then
    ok "update --where reports the rows it dropped"
else
    not_ok "update --where reports the rows it dropped" "$T/where.upd.err"
fi
# errors: the expression and a caret under the column
where_caret() { # NAME EXPR COLUMN MESSAGE
    "$SF" describe "$FD" --where "$2" >"$T/wc.out" 2>"$T/wc.err"
    _rc=$?
    {
        printf 'streamfit: error in --where: %s\n  %s\n' "$4" "$2"
        printf '  %*s^\n' $(($3 - 1)) ''
    } >"$T/wc.want"
    if [ "$_rc" -eq 1 ] && [ ! -s "$T/wc.out" ] && diff "$T/wc.want" "$T/wc.err" >"$T/wc.diff"; then
        ok "$1"
    else
        echo "exit $_rc" >>"$T/wc.diff"
        not_ok "$1" "$T/wc.diff"
    fi
}
where_caret "--where unknown column: caret at column 1" "fares > 1" 1 \
    "unknown column 'fares' (did you mean 'fare'?)"
where_caret "--where text column in arithmetic: caret at column 14" "fare > 1 and vendor + 1 > 2" 14 \
    "column 'vendor' holds text: compare it with a quoted string (vendor == 'x') or a list of them (vendor in ['x', 'y'])"
where_caret "--where not a condition: caret at column 1" "fare * 2" 1 \
    "a row filter must be a condition (true or false), not a number: compare it (e.g. x > 0)"
where_caret "--where syntax: caret after the end" "fare >" 7 \
    "expected a value, got the end of the expression"
expect_error "--where on gen: a usage error" 1 "--where filters the rows of" -- gen regression --rows 5 \
    --out "$T/g.csv" --where "$W"
if "$SF" read "$FD" --where "$W" --segment-bytes 256 --threads 2 2>&1 | grep -q '^10 rows, 5 columns, .* (--where dropped 50 rows)$'; then
    ok "read --where: the kept rows and the dropped count"
else
    "$SF" read "$FD" --where "$W" >"$T/wr.out" 2>&1
    not_ok "read --where: the kept rows and the dropped count" "$T/wr.out"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
