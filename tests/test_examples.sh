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

# every example prints a usage line and exits 1 without arguments
for ex in regression classify kmeans; do
    if "$bin/$ex" > "$work/out" 2> "$work/err"; then bad "$ex without arguments succeeded"
    elif grep -q "^usage: " "$work/err"; then ok "$ex usage"
    else bad "$ex usage line: $(cat "$work/err")"; fi
done

"$sf" gen regression --rows 5000 --seed 3 --out "$work/reg.csv" --quiet

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
if "$bin/regression" "$work/reg.csv" 'y ~ a +' > /dev/null 2> "$work/err"; then bad "regression: bad formula accepted"
elif grep -q "error" "$work/err"; then ok "regression: bad formula"
else bad "regression: bad formula message: $(cat "$work/err")"; fi

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

echo "$failures failed"
[ "$failures" -eq 0 ]
