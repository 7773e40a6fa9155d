#!/bin/sh
# Runs every example program (examples/*.c) on small data made with the CLI and
# checks its output against numbers computed another way: the CLI's own fit
# (itself tested against statsmodels / scikit-learn), or awk on the same CSV.
# usage: test_examples.sh BUILD_DIR STREAMFIT_CLI TEST_DATA_DIR
set -eu
bin=$1
sf=$2
data=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1" >&2; failures=$((failures + 1)); }

# every example prints a usage line and exits 1 without arguments (exactly 1: a
# sanitizer's report would exit otherwise)
for ex in column_means regression classify kmeans gram filter_aggregate predict_service; do
    rc=0
    "$bin/$ex" > "$work/out" 2> "$work/err" || rc=$?
    if [ "$rc" -eq 1 ] && grep -q "^usage: " "$work/err"; then ok "$ex usage"
    else bad "$ex usage (exit $rc): $(cat "$work/err")"; fi
done

"$sf" gen regression --rows 5000 --seed 3 --out "$work/reg.csv" --quiet

# ---- column_means.c: the mean of column a, against awk's
m=$("$bin/column_means" "$work/reg.csv" | awk -F'\t' '$1 == "a" { print $2 }')
if awk -F, -v m="$m" 'NR > 1 { s += $1; n++ } END { e = m - s / n; exit !(m != "" && e < 1e-12 && e > -1e-12) }' \
    "$work/reg.csv"; then ok "column_means: mean of a $m, as awk"
else bad "column_means: mean of a '$m'"; fi

# ---- regression.c: the post's formula (levels = lnames); then a formula the CLI
# can fit too, whose table must equal the CLI's line for line.
"$bin/regression" "$work/reg.csv" > "$work/reg.txt"
if grep -q "OLS Regression Results" "$work/reg.txt" &&
    awk '$1 == "a:c" { found = 1; d = $2 - 11 / 12; if (d < -0.06 || d > 0.06) exit 1 }
         END { exit !found }' "$work/reg.txt" &&
    grep -q '^No. Observations: *5000 ' "$work/reg.txt"; then ok "regression: table, a:c within 0.06 of the true 11/12"
else bad "regression: table"; cat "$work/reg.txt"; fi
f='y ~ a + b + a:b + C(cat1)'
"$bin/regression" "$work/reg.csv" "$f" | sed -n '/OLS Regression Results/,/^Notes:/p' > "$work/reg2.txt"
"$sf" fit "$work/reg.csv" --formula "$f" --pipeline linear_regression --model "$work/reg.h5" --quiet
"$sf" export "$work/reg.h5" | sed -n '/OLS Regression Results/,/^Notes:/p' > "$work/reg_cli.txt"
if [ -s "$work/reg2.txt" ] && cmp -s "$work/reg2.txt" "$work/reg_cli.txt"; then ok "regression: table equals the CLI's"
else bad "regression: table differs from the CLI's"; diff "$work/reg2.txt" "$work/reg_cli.txt" || true; fi
rc=0
"$bin/regression" "$work/reg.csv" 'y ~ a +' > /dev/null 2> "$work/err" || rc=$?
if [ "$rc" -eq 1 ] && grep -q "<formula>:1:.*error" "$work/err"; then ok "regression: bad formula, exit 1"
else bad "regression: bad formula (exit $rc): $(cat "$work/err")"; fi

# ---- classify.c: seed 001 on HDF5 (20000 rows to learn from, 5000 held out).
# Its accuracy and predictions must equal the CLI's fit of the same pipeline.
"$sf" gen classification --rows 25000 --seed 2 --out "$work/all.csv" --quiet
head -n 20001 "$work/all.csv" > "$work/train.csv"
{ head -n 1 "$work/all.csv"; tail -n +20002 "$work/all.csv"; } > "$work/test.csv"
"$sf" convert "$work/train.csv" --out "$work/train.h5" --quiet
"$sf" convert "$work/test.csv" --out "$work/test.h5" --quiet
"$bin/classify" "$work/train.h5:/" "$work/test.h5:/" "$work/pred.h5" "$work/clf.h5" > "$work/clf.txt" 2> "$work/clf.err"
acc=$(awk '/^held-out accuracy:/ { print $3 }' "$work/clf.txt")
"$sf" fit "$work/train.h5:/" --pipeline "scaler | sgd_classifier(loss=log_loss, alpha=1e-4)" --target y --seed 0 \
    --model "$work/clf_cli.h5" --quiet
"$sf" score "$work/test.h5:/" --model "$work/clf_cli.h5" > "$work/score.txt"
cli_acc=$(awk '$1 == "accuracy" { print $2 }' "$work/score.txt")
if awk -v a="$acc" 'BEGIN { exit !(a + 0 > 0.7) }' && [ "$acc" = "$cli_acc" ]; then
    ok "classify: held-out accuracy $acc > 0.7, equal to the CLI's"
else bad "classify: accuracy '$acc' (CLI: '$cli_acc')"; cat "$work/clf.txt" "$work/clf.err"; fi
"$sf" predict "$work/test.h5:/" --model "$work/clf_cli.h5" --out "$work/pred_cli.csv" --quiet
"$sf" convert "$work/pred.h5:/" --out "$work/pred.csv" --quiet
if [ "$(wc -l < "$work/pred.csv")" -eq 5001 ] && cmp -s "$work/pred.csv" "$work/pred_cli.csv"; then
    ok "classify: 5000 predictions in HDF5, equal to the CLI's"
else bad "classify: predictions differ from the CLI's"; fi
if grep -q "standard_scaler" "$work/clf.err" && grep -q "sgd_classifier" "$work/clf.err"; then ok "classify: progress"
else bad "classify: progress lines"; fi

# ---- kmeans.c: 5 blobs of std 1 in 20 dimensions: the inertia per row is about 20
# when the clusters are found, and equals the CLI's fit of the same spec.
"$sf" gen blobs --rows 5000 --seed 4 --out "$work/blobs.csv" --quiet
cols=x0,x1,x2,x3,x4,x5,x6,x7,x8,x9,x10,x11,x12,x13,x14,x15,x16,x17,x18,x19
"$bin/kmeans" "$work/blobs.csv" 5 "$cols" > "$work/km.txt"
"$sf" fit "$work/blobs.csv" --pipeline "minibatch_kmeans(n_clusters=5, refine=3)" --seed 0 --columns "$cols" \
    --model "$work/km.h5" --quiet
cli_inertia=$("$sf" score "$work/blobs.csv" --model "$work/km.h5" --json | sed 's/.*"inertia": \([^}]*\)}.*/\1/')
inertia=$(awk '/^inertia:/ { print $2 }' "$work/km.txt")
if awk -v a="$inertia" -v b="$cli_inertia" 'BEGIN { exit !(a / 5000 > 18 && a / 5000 < 22 && a == b) }'; then
    ok "kmeans: inertia $inertia (per row ~20), equal to the CLI's"
else bad "kmeans: inertia '$inertia' (CLI: '$cli_inertia')"; cat "$work/km.txt"; fi

# ---- gram.c: AᵀA, Aᵀb and A·β over a column group of 80000 rows (3 segments),
# against awk's sums on the same CSV (relative 1e-9: only the summation order differs).
"$sf" gen regression --rows 80000 --seed 5 --out "$work/big.csv" --quiet
"$sf" convert "$work/big.csv" --out "$work/big.h5" --quiet
"$bin/gram" "$work/big.h5:/" y "$work/fitted.h5" > "$work/gram.txt"
# awk: column k of A is CSV field k (a b c d cat1), b is field 6
if awk -F, 'NR == FNR { if ($1 == "AtA") d[$2] = $(NF); if ($1 == "Atb") v[$2] = $3; next }
        FNR == 1 { for (k = 1; k <= 5; k++) name[k] = $k; next }
        { for (k = 1; k <= 5; k++) { ss[k] += $k * $k; sb[k] += $k * $6 } }
        END { if (length(d) != 5 || length(v) != 5) exit 1
              for (k = 1; k <= 5; k++) {
                  e1 = (d[name[k]] - ss[k]) / ss[k]; e2 = (v[name[k]] - sb[k]) / (sb[k] < 0 ? -sb[k] : sb[k])
                  if (e1 > 1e-9 || e1 < -1e-9 || e2 > 1e-9 || e2 < -1e-9) exit 1 } }' \
        FS=' ' "$work/gram.txt" FS=, "$work/big.csv" &&
    grep -q '80000 rows (0 dropped.*3 segments' "$work/gram.txt"; then
    ok "gram: AtA diagonal and Atb equal awk's sums to 1e-9 over 3 segments"
else bad "gram: AtA / Atb against awk"; cat "$work/gram.txt"; fi
"$sf" convert "$work/fitted.h5:/fitted" --out "$work/fitted.csv" --quiet
if paste -d, "$work/big.csv" "$work/fitted.csv" | awk -F, 'NR == FNR { if ($1 ~ /^beta/) { split($0, f, " "); beta[f[2]] = f[3] } next }
        FNR == 1 { for (k = 1; k <= 5; k++) name[k] = $k; next }
        { c = 0; for (k = 1; k <= 5; k++) c += $k * beta[name[k]]; n++
          e = c - $7; if (e < 0) e = -e; if (e > 1e-9 * (1 + (c < 0 ? -c : c))) exit 1 }
        END { exit n != 80000 }' "$work/gram.txt" - ; then ok "gram: A.beta equals awk's to 1e-9 on every row"
else bad "gram: A.beta against awk"; fi
# seed 000's layout: a PyTables EArray /X (50 x 3, X[i][j] = (3i + j) / 2 - 10, X[5][1]
# NaN) and /y. Its columns are collinear, so only the sums are checked (the solve
# may fail): row 5 dropped, diagonal Σ x_ij² over the other 49 rows.
rc=0
"$bin/gram" "$data/xy_pytables.h5:/X" /y > "$work/gram2.txt" 2>&1 || rc=$?
if [ "$rc" -le 1 ] && grep -q '49 rows (1 dropped' "$work/gram2.txt" &&
    awk 'BEGIN { for (i = 0; i < 50; i++) if (i != 5) for (j = 0; j < 3; j++) { x = (3 * i + j) * 0.5 - 10; ss[j] += x * x } }
        $1 == "AtA" { j = NR - 2; if ($NF != ss[j]) exit 1; n++ } END { exit n != 3 }' "$work/gram2.txt"; then
    ok "gram: a PyTables EArray with /y, the NaN row dropped"
else bad "gram: PyTables EArray"; cat "$work/gram2.txt"; fi

# ---- filter_aggregate.c: a trips CSV of 200000 rows (7.6 MB: 2 segments of 4 MiB),
# 1% of passenger_count missing; the count and the distance sum must equal awk's.
awk 'BEGIN { srand(7); print "medallion,pickup_datetime,passenger_count,trip_time_in_secs,trip_distance"
    for (i = 0; i < 200000; i++) {
        pc = (rand() < 0.01) ? "" : int(1 + rand() * 6)
        printf "M%04d,2013-01-%02d 10:00:00,%s,%d,%.2f\n", int(rand() * 5000), 1 + int(rand() * 14), pc,
            int(60 + rand() * 3000), rand() * 20 } }' > "$work/trips.csv"
"$bin/filter_aggregate" "$work/trips.csv" > "$work/trips.txt"
expect=$(awk -F, 'NR > 1 { n++; if ($4 > 1200 && $3 != "" && $3 >= 2) { m++; s += $5 } }
    END { printf "%d %d %.17g", n, m, s }' "$work/trips.csv")
got=$(awk '/^trips:/ { n = $2; seg = $3 } /^long trips/ { m = $(NF - 1) } /^their trip_distance/ { s = $4 }
    END { printf "%s %s %s %s", n, m, s, seg }' "$work/trips.txt" | tr -d '(,')
if echo "$expect $got" | awk '{ e = ($3 - $6) / $3; exit !($1 == $4 && $2 == $5 && e < 1e-9 && e > -1e-9 && $7 == 2) }'; then
    ok "filter_aggregate: $(echo "$got" | cut -d' ' -f2) long trips over 2 segments, as awk counts"
else bad "filter_aggregate: got '$got', awk '$expect'"; cat "$work/trips.txt"; fi

# ---- predict_service.c: the model classify.c saved, two requests piped in (and a
# bad one between them): the answers equal the CLI's predictions of the same rows.
head -n 3 "$work/test.csv" > "$work/two.csv"
"$sf" predict "$work/two.csv" --model "$work/clf.h5" --out - --quiet | tail -n 2 > "$work/two_cli.txt"
"$sf" predict "$work/two.csv" --model "$work/clf.h5" --proba --out - --quiet | tail -n 2 > "$work/two_cli_proba.txt"
# the features are the 20 columns before y
cut -d, -f1-20 "$work/two.csv" | tail -n 2 > "$work/requests.txt"
{ head -n 1 "$work/requests.txt"; echo "1,2,x"; tail -n 1 "$work/requests.txt"; } |
    "$bin/predict_service" "$work/clf.h5" > "$work/answers.txt" 2> "$work/service.err"
if [ "$(sed -n 2p "$work/answers.txt")" = 'error: "x" is not a number' ] &&
    sed 2d "$work/answers.txt" | cmp -s - "$work/two_cli.txt"; then
    ok "predict_service: two answers equal the CLI's, a bad request answered with an error"
else bad "predict_service: answers"; cat "$work/answers.txt" "$work/service.err"; fi
"$bin/predict_service" "$work/clf.h5" --proba < "$work/requests.txt" > "$work/answers_proba.txt" 2> "$work/service.err"
if cmp -s "$work/answers_proba.txt" "$work/two_cli_proba.txt"; then ok "predict_service: --proba equals the CLI's"
else bad "predict_service: --proba"; cat "$work/answers_proba.txt" "$work/two_cli_proba.txt"; fi
# one request at a time over pipes: each answer must come before the next request
mkfifo "$work/req" "$work/resp"
if timeout 30 sh -c '
    "$1" "$2" < "$3/req" > "$3/resp" 2>/dev/null &
    exec 3> "$3/req" 4< "$3/resp"
    head -n 1 "$3/requests.txt" >&3; read -r a <&4
    tail -n 1 "$3/requests.txt" >&3; read -r b <&4
    exec 3>&-; wait $! || exit 1
    [ "$a" = "$(head -n 1 "$3/two_cli.txt")" ] && [ "$b" = "$(tail -n 1 "$3/two_cli.txt")" ]' \
    sh "$bin/predict_service" "$work/clf.h5" "$work"; then ok "predict_service: answers each request at once"
else bad "predict_service: request/answer over pipes"; fi

# ---- error paths: one line on standard error, exit 1 (bad input) or 2 (I/O);
# under the sanitizers these also show that nothing leaks on the way out.
printf 'medallion,trip_time_in_secs\nA,1300\n' > "$work/short.csv"
expect_exit() { # CODE NAME CMD...: CMD must fail with exit CODE and say why on stderr
    code=$1 name=$2
    shift 2
    rc=0
    "$@" > "$work/out" 2> "$work/err" || rc=$?
    if [ "$rc" -eq "$code" ] && [ -s "$work/err" ]; then ok "$name: exit $code ($(head -n 1 "$work/err"))"
    else bad "$name: exit $rc, expected $code: $(cat "$work/err")"; fi
}
expect_exit 2 "classify: missing test file" "$bin/classify" "$work/train.h5:/" "$work/nope.csv" "$work/p.h5"
expect_exit 1 "classify: no target column" "$bin/classify" "$work/blobs.csv" "$work/blobs.csv" "$work/p.h5"
expect_exit 1 "kmeans: bad N_CLUSTERS" "$bin/kmeans" "$work/blobs.csv" 0
expect_exit 1 "kmeans: unknown column" "$bin/kmeans" "$work/blobs.csv" 3 x0,nope
expect_exit 1 "gram: unknown b column" "$bin/gram" "$work/big.h5:/" nope
expect_exit 2 "gram: missing file" "$bin/gram" "$work/nope.h5:/X" /y
expect_exit 1 "filter_aggregate: missing column" "$bin/filter_aggregate" "$work/short.csv"
expect_exit 2 "predict_service: missing model" "$bin/predict_service" "$work/nope.h5"
expect_exit 1 "predict_service: --proba of a regression" "$bin/predict_service" "$work/reg.h5" --proba
expect_exit 1 "regression: unknown column" "$bin/regression" "$work/reg.csv" "y ~ a + zz"

echo "$failures failed"
[ "$failures" -eq 0 ]
