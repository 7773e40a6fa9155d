#!/bin/sh
# test_cli_pipeline.sh — `streamfit fit / export / predict` end to end: the spec
# error caret, a fit saved and exported, the same model for --threads 1, 2 and 3,
# predict on a file and on standard input, and bad model files refused.
# usage: sh test_cli_pipeline.sh STREAMFIT
sf=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0
n=0
check() { # name, then a command that must succeed
    name=$1
    shift
    n=$((n + 1))
    if "$@" >"$dir/out" 2>"$dir/err"; then
        pass=$((pass + 1))
        echo "ok $n - $name"
    else
        fail=$((fail + 1))
        echo "not ok $n - $name"
        sed 's/^/#   /' "$dir/out" "$dir/err" | head -20
    fi
}

"$sf" gen regression --rows 20000 --seed 3 --out "$dir/d.csv" --quiet

spec_error() {
    "$sf" fit "$dir/d.csv" --pipeline "scaler | scaler(with_std=maybe)" --model "$dir/m.h5" 2>"$dir/e"
    [ $? -eq 1 ] || return 1
    [ "$(sed -n 2p "$dir/e")" = "  scaler | scaler(with_std=maybe)" ] || return 1
    [ "$(sed -n 3p "$dir/e")" = "                           ^" ] || return 1
    grep -q "with_std must be true or false, got a string" "$dir/e" && [ ! -e "$dir/m.h5" ]
}
check "a spec error points at the column with a caret; no model written" spec_error

fit_threads() {
    for t in 1 2 3; do
        "$sf" fit "$dir/d.csv" --pipeline "scaler | scaler(with_mean=false)" --target y \
            --threads $t --segment-bytes 100000 --model "$dir/m$t.h5" --quiet || return 1
        "$sf" export "$dir/m$t.h5" --json > "$dir/j$t" || return 1
    done
    cmp -s "$dir/j1" "$dir/j2" && cmp -s "$dir/j1" "$dir/j3"
}
check "fit: the same model (bitwise, via shortest-round-trip JSON) for --threads 1, 2, 3" fit_threads

export_json() {
    grep -q '"columns": \["a", "b", "c", "d", "cat1"\], "target": "y"' "$dir/j1" &&
        grep -q '"kind": "standard_scaler", "params": {"with_mean": true' "$dir/j1" &&
        grep -q '"n_samples_seen_": 20000' "$dir/j1"
}
check "export --json names columns, target and sklearn attributes" export_json

export_text() {
    "$sf" export "$dir/m1.h5" > "$dir/t" && grep -q "stages: standard_scaler | standard_scaler" "$dir/t"
}
check "export without --json prints a summary" export_text

predict_file() {
    "$sf" predict "$dir/d.csv" --model "$dir/m1.h5" --out "$dir/p.csv" --quiet || return 1
    [ "$(wc -l < "$dir/p.csv")" -eq 20001 ] && [ "$(head -1 "$dir/p.csv")" = "a,b,c,d,cat1" ]
}
check "predict writes one line per input row, with a header" predict_file

predict_stdin() {
    head -101 "$dir/d.csv" | "$sf" predict - --model "$dir/m1.h5" --quiet > "$dir/p2.csv" || return 1
    head -101 "$dir/p.csv" | cmp -s - "$dir/p2.csv"
}
check "predict from standard input equals predict from the file" predict_stdin

predict_missing() {
    printf 'a,b,c,d,cat1,y\n1,2,3,4,0,1\n1,,3,4,0,1\n' | "$sf" predict - --model "$dir/m1.h5" > "$dir/p3" 2>"$dir/e3" || return 1
    [ "$(sed -n 3p "$dir/p3")" = ",,,," ] && grep -q "1 of 2 rows had a missing feature" "$dir/e3"
}
check "predict: a row with a missing feature gives empty fields and is counted" predict_missing

# malformed rows at lines 500 ("x" in numeric a), 1500 (2 fields), 1800 (7 fields)
head -2001 "$dir/d.csv" | awk -F, -v OFS=, 'NR == 500 { $1 = "x" } NR == 1500 { $0 = "1,2" }
    NR == 1800 { $0 = $0 ",9" } { print }' > "$dir/bad.csv"
head -2001 "$dir/p.csv" > "$dir/p2001.csv"

predict_bad_rows() {
    # Decision 14: one output line per input row, the malformed ones empty, counted
    "$sf" predict "$dir/bad.csv" --model "$dir/m1.h5" --threads 2 --segment-bytes 20000 \
        --out "$dir/pb.csv" 2>"$dir/eb" || return 1
    [ "$(wc -l < "$dir/pb.csv")" -eq 2001 ] || return 1
    for l in 500 1500 1800; do [ "$(sed -n ${l}p "$dir/pb.csv")" = ",,,," ] || return 1; done
    awk 'NR != 500 && NR != 1500 && NR != 1800' "$dir/pb.csv" > "$dir/pb1"
    awk 'NR != 500 && NR != 1500 && NR != 1800' "$dir/p2001.csv" | cmp -s - "$dir/pb1" || return 1
    grep -qx "streamfit: 3 of 2000 rows were malformed (empty output fields); first: $dir/bad.csv:500: expected a number, got \"x\" (column \"a\")" "$dir/eb" || return 1
    # the same from standard input (one chunk at a time)
    "$sf" predict - --model "$dir/m1.h5" < "$dir/bad.csv" 2>"$dir/eb2" | cmp -s - "$dir/pb.csv" || return 1
    grep -q "first: <stdin>:500: expected a number" "$dir/eb2" || return 1
    # a formula model: its design's column types are enforced too ("x" is not a level)
    "$sf" fit "$dir/d.csv" --pipeline linear_regression --formula "y ~ a + b + C(cat1)" \
        --model "$dir/fm.h5" --quiet || return 1
    "$sf" predict "$dir/d.csv" --model "$dir/fm.h5" --quiet | head -2001 > "$dir/fa" || return 1
    "$sf" predict "$dir/bad.csv" --model "$dir/fm.h5" --threads 2 --segment-bytes 20000 \
        --quiet > "$dir/fb" || return 1
    for l in 500 1500 1800; do [ "$(sed -n ${l}p "$dir/fb")" = "" ] || return 1; done
    awk 'NR != 500 && NR != 1500 && NR != 1800' "$dir/fa" > "$dir/fa1"
    awk 'NR != 500 && NR != 1500 && NR != 1800' "$dir/fb" | cmp -s - "$dir/fa1" && [ "$(wc -l < "$dir/fb")" -eq 2001 ]
}
check "predict: malformed rows give empty lines in place, counted with the first one's line" predict_bad_rows

predict_stop() {
    # --on-error stop: exit 1 after writing every prediction before the bad row
    "$sf" predict "$dir/bad.csv" --model "$dir/m1.h5" --threads 2 --segment-bytes 20000 \
        --on-error stop --out "$dir/ps.csv" 2>"$dir/es"; [ $? -eq 1 ] || return 1
    head -499 "$dir/p2001.csv" | cmp -s - "$dir/ps.csv" || return 1
    grep -qx "streamfit: $dir/bad.csv:500:1: error: expected a number, got \"x\" (field 1 \"a\")" "$dir/es" || return 1
    "$sf" predict - --model "$dir/m1.h5" --on-error stop < "$dir/bad.csv" > "$dir/ps2.csv" 2>/dev/null
    [ $? -eq 1 ] && cmp -s "$dir/ps.csv" "$dir/ps2.csv" || return 1
    "$sf" predict - --model "$dir/m1.h5" --on-error maybe < "$dir/bad.csv" 2>"$dir/es3"
    [ $? -eq 1 ] && grep -q "on-error must be stop or skip" "$dir/es3"
}
check "predict --on-error stop: exit 1, the rows before the bad one written" predict_stop

fit_bad_rows() {
    # fit stops by default, naming the line; --on-error skip drops and counts
    "$sf" fit "$dir/bad.csv" --pipeline scaler --types a=float --model "$dir/mb.h5" 2>"$dir/ef"
    [ $? -eq 1 ] && grep -q "bad.csv:500:1: error: expected a number" "$dir/ef" && [ ! -e "$dir/mb.h5" ] || return 1
    "$sf" fit "$dir/bad.csv" --pipeline scaler --types a=float --on-error skip --threads 2 \
        --segment-bytes 20000 --model "$dir/mb.h5" 2>"$dir/ef2" || return 1
    grep -q "on 1997 rows (0 dropped for missing values, 3 malformed rows skipped)" "$dir/ef2" || return 1
    "$sf" update "$dir/mb.h5" "$dir/bad.csv" --model "$dir/mb2.h5" --on-error skip 2>"$dir/ef3" || return 1
    grep -q "on 1997 rows (0 dropped, 3 malformed rows skipped)" "$dir/ef3" || return 1
    # score skips them by default, counted apart from rows with a missing value
    "$sf" fit "$dir/d.csv" --pipeline linear_regression --target y --columns a,b,c,d \
        --model "$dir/lr.h5" --quiet || return 1
    "$sf" score "$dir/bad.csv" --model "$dir/lr.h5" 2>"$dir/ef4" > "$dir/sc" || return 1
    [ "$(head -3 "$dir/sc" | tr '\t\n' ' ')" = "rows 1997 dropped 0 malformed 3 " ] || return 1
    grep -q "3 of 2000 rows were malformed (skipped); first: $dir/bad.csv:500: expected" "$dir/ef4"
}
check "fit / update / score: stop at a malformed row, or skip it and count it apart" fit_bad_rows

gzip_stdin() {
    gzip -c "$dir/bad.csv" | "$sf" predict - --model "$dir/m1.h5" 2>/dev/null | cmp -s - "$dir/pb.csv" || return 1
    gzip -c "$dir/d.csv" | "$sf" describe - | tail -n +2 > "$dir/dg" || return 1
    "$sf" describe "$dir/d.csv" | tail -n +2 | cmp -s - "$dir/dg"
}
check "gzip on standard input: sniffed and inflated (predict, describe)" gzip_stdin

describe_convert_skip() {
    # describe and convert stop by default; --on-error skip counts the rows as missing
    "$sf" describe "$dir/bad.csv" --types a=float 2>/dev/null; [ $? -eq 1 ] || return 1
    "$sf" describe "$dir/bad.csv" --types a=float --on-error skip > "$dir/ds" 2>"$dir/eds" || return 1
    grep -q "^a  *float  *1997  *3 " "$dir/ds" || return 1
    grep -q "3 of 2000 rows were malformed (counted as missing); first: $dir/bad.csv:500: expected a number" "$dir/eds" || return 1
    "$sf" convert "$dir/bad.csv" --out "$dir/bad.h5" --on-error skip 2>"$dir/ecs" || return 1
    grep -q "2 of 2000 rows were malformed (written as missing); first: $dir/bad.csv:1500: expected 6 fields, got 2" "$dir/ecs"
}
check "describe / convert --on-error skip: malformed rows counted as missing, told apart" describe_convert_skip

bad_models() {
    "$sf" export "$dir/nope.h5" 2>/dev/null; [ $? -eq 2 ] || return 1
    "$sf" export "$dir/d.csv" 2>"$dir/e4"; [ $? -eq 1 ] || return 1
    grep -q "not a streamfit model" "$dir/e4" || return 1
    head -c 3000 "$dir/m1.h5" > "$dir/cut.h5"
    "$sf" export "$dir/cut.h5" 2>/dev/null; [ $? -eq 1 ]
}
check "missing (exit 2), foreign and truncated (exit 1) model files are refused" bad_models

update_model() {
    head -10001 "$dir/d.csv" > "$dir/a.csv"
    { head -1 "$dir/d.csv"; tail -n +10002 "$dir/d.csv"; } > "$dir/b.csv"
    "$sf" fit "$dir/a.csv" --pipeline scaler --target y --model "$dir/ma.h5" --quiet || return 1
    cp "$dir/ma.h5" "$dir/ma0.h5"
    "$sf" update "$dir/ma.h5" "$dir/b.csv" --model "$dir/mab.h5" --quiet || return 1
    cmp -s "$dir/ma.h5" "$dir/ma0.h5" || return 1           # the input model is untouched
    "$sf" export "$dir/mab.h5" --json | grep -q '"rows_seen": 20000' || return 1
    "$sf" export "$dir/mab.h5" --json | grep -q '"pipeline": "scaler"' || return 1
    # a failed update (a column missing) leaves the model as it was
    printf 'x,y\n1,2\n' > "$dir/bad.csv"
    "$sf" update "$dir/ma.h5" "$dir/bad.csv" 2>"$dir/e6"; [ $? -eq 1 ] || return 1
    cmp -s "$dir/ma.h5" "$dir/ma0.h5"
}
check "update continues a saved model on new rows; failures leave it untouched" update_model

stdin_two_passes() {
    # standard input cannot be read twice: the second stage reads a temporary cache
    "$sf" fit - --pipeline "scaler | scaler(with_mean=false)" --target y --model "$dir/ms.h5" --quiet \
        < "$dir/d.csv" || return 1
    "$sf" export "$dir/ms.h5" --json | grep -q '"rows_seen": 20000' || return 1
    "$sf" fit "$dir/d.csv" --pipeline "scaler | scaler(with_mean=false)" --target y --model "$dir/mc.h5" \
        --cache "$dir/cache.h5" --quiet && [ -s "$dir/cache.h5" ]
}
check "a two-pass fit from standard input (temporary cache) and with --cache" stdin_two_passes

kmeans_cli() {
    "$sf" gen blobs --rows 30000 --centers 3 --features 5 --seed 4 --out "$dir/b.csv" --quiet
    for t in 1 2 3; do
        "$sf" fit "$dir/b.csv" --pipeline "scaler | minibatch_kmeans(n_clusters=3, refine=1)" --seed 7 \
            --columns x0,x1,x2,x3,x4 --threads $t --segment-bytes 200000 --model "$dir/k$t.h5" --quiet || return 1
        "$sf" export "$dir/k$t.h5" --json > "$dir/k$t.json" || return 1
    done
    cmp -s "$dir/k1.json" "$dir/k2.json" && cmp -s "$dir/k1.json" "$dir/k3.json" || return 1
    grep -q '"random_state": 7' "$dir/k1.json" || return 1
    "$sf" score "$dir/b.csv" --model "$dir/k1.h5" --json | grep -q '"inertia"' || return 1
    "$sf" predict "$dir/b.csv" --model "$dir/k1.h5" --out "$dir/kp.csv" --quiet || return 1
    [ "$(head -1 "$dir/kp.csv")" = cluster ] && [ "$(wc -l < "$dir/kp.csv")" -eq 30001 ] || return 1
    "$sf" predict "$dir/b.csv" --model "$dir/k1.h5" --transform --out "$dir/kd.csv" --quiet || return 1
    [ "$(head -1 "$dir/kd.csv")" = "distance_0,distance_1,distance_2" ] || return 1
    "$sf" predict "$dir/b.csv" --model "$dir/k1.h5" --proba 2>"$dir/e7"; [ $? -eq 1 ] || return 1
    "$sf" update "$dir/k1.h5" "$dir/b.csv" --model "$dir/k1u.h5" --quiet &&
        "$sf" export "$dir/k1u.h5" --json | grep -q '"rows_seen": 60000'
}
check "k-means through the CLI: the same model for 1/2/3 threads, score, predict, distances, update" kmeans_cli

sgd_cli() {
    # seed 001: scaler pass, then the classifier in data order (read-ahead on 2+ threads)
    "$sf" gen classification --rows 20000 --features 6 --seed 5 --out "$dir/c.csv" --quiet
    for t in 1 2 3; do
        "$sf" fit "$dir/c.csv" --pipeline "scaler | sgd_classifier(loss=log_loss, alpha=1e-4)" --target y \
            --threads $t --segment-bytes 150000 --epochs 2 --model "$dir/s$t.h5" --quiet || return 1
        "$sf" export "$dir/s$t.h5" --json > "$dir/s$t.json" || return 1
    done
    cmp -s "$dir/s1.json" "$dir/s2.json" && cmp -s "$dir/s1.json" "$dir/s3.json" || return 1
    grep -q '"max_iter": 2' "$dir/s1.json" || return 1
    acc=$("$sf" score "$dir/c.csv" --model "$dir/s1.h5" | awk '$1 == "accuracy" {print $2}')
    awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' || return 1
    "$sf" predict "$dir/c.csv" --model "$dir/s1.h5" --proba --out "$dir/sp.csv" --quiet || return 1
    [ "$(head -1 "$dir/sp.csv")" = "proba_0,proba_1" ] || return 1
    # a categorical target: classes are the sorted labels, predictions are labels
    awk -F, 'NR == 1 {print $0 ",label"; next} {print $0 "," ($NF == 1 ? "yes" : "no")}' "$dir/c.csv" |
        cut -d, -f1-6,8 > "$dir/cl.csv"
    "$sf" fit "$dir/cl.csv" --pipeline "scaler | sgd_classifier" --target label --model "$dir/sl.h5" --quiet || return 1
    "$sf" export "$dir/sl.h5" --json | grep -q '"target_labels": \["no", "yes"\]' || return 1
    "$sf" predict "$dir/cl.csv" --model "$dir/sl.h5" --out "$dir/slp.csv" --quiet || return 1
    [ "$(head -1 "$dir/slp.csv")" = label ] || return 1
    [ "$(tail -n +2 "$dir/slp.csv" | sort -u | tr '\n' ' ')" = "no yes " ] || return 1
    "$sf" score "$dir/cl.csv" --model "$dir/sl.h5" | grep -q accuracy
}
check "SGD through the CLI: the same model for 1/2/3 threads (in order, read-ahead), epochs, score, proba, string labels" sgd_cli

formula_cli() {
    # seed 000: the post's formula, QR least squares, the regression table
    "$sf" gen regression --rows 20000 --seed 8 --out "$dir/r.csv" --quiet
    f='y ~ 0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels=range(5))'
    for t in 1 2 3; do
        "$sf" fit "$dir/r.csv" --formula "$f" --pipeline linear_regression --threads $t --segment-bytes 100000 \
            --model "$dir/r$t.h5" --quiet || return 1
        "$sf" export "$dir/r$t.h5" --json > "$dir/r$t.json" || return 1
    done
    cmp -s "$dir/r1.json" "$dir/r2.json" && cmp -s "$dir/r1.json" "$dir/r3.json" || return 1
    grep -q '"kind": "design"' "$dir/r1.json" || return 1
    grep -q '"columns": \["C(cat1, Treatment, levels=range(5))\[0\]",' "$dir/r1.json" || return 1
    "$sf" export "$dir/r1.h5" > "$dir/table.txt" || return 1
    grep -q "OLS Regression Results" "$dir/table.txt" && grep -q "^a:c " "$dir/table.txt" || return 1
    ! grep -q "^const " "$dir/table.txt" || return 1       # Decision 9: the formula decides
    "$sf" score "$dir/r.csv" --model "$dir/r1.h5" | grep -q '^r2' || return 1
    # predict: a row with a missing factor is empty; an unseen level is an error naming it
    printf 'a,b,c,d,cat1,y\n0.1,0.2,0.3,0.4,2,0\n0.1,,0.3,0.4,2,0\n' > "$dir/new.csv"
    "$sf" predict "$dir/new.csv" --model "$dir/r1.h5" --out "$dir/rp.csv" --quiet || return 1
    [ "$(sed -n 3p "$dir/rp.csv")" = "" ] && [ "$(wc -l < "$dir/rp.csv")" -eq 3 ] || return 1
    printf 'a,b,c,d,cat1,y\n0.1,0.2,0.3,0.4,9,0\n' > "$dir/bad.csv"
    "$sf" predict "$dir/bad.csv" --model "$dir/r1.h5" 2>"$dir/e8"; [ $? -eq 1 ] || return 1
    grep -q "bad.csv.*value '9' of 'C(cat1, Treatment, levels=range(5))'" "$dir/e8" || return 1
    # convert --formula: seed 000's design as /X and /y, in input order, read back
    "$sf" convert "$dir/r.csv" --formula "$f" --out "$dir/design.h5" --segment-bytes 100000 --quiet || return 1
    "$sf" convert "$dir/design.h5:/X" --target /y --out "$dir/design.csv" --quiet || return 1
    [ "$(wc -l < "$dir/design.csv")" -eq 20001 ] || return 1
    head -1 "$dir/design.csv" | grep -q '^"C(cat1, Treatment, levels=range(5))\[0\]",.*,a:c,y$' || return 1
    # row 1: cat1 one-hot, then a, b, c, d, d:c, a:b, a:c of the first CSV row
    awk -F, 'NR == 2 { printf "%.6f %.6f %.6f\n", $1, $4, $1 * $3 }' "$dir/r.csv" > "$dir/want1"
    awk -F, 'NR == 2 { printf "%.6f %.6f %.6f\n", $6, $9, $12 }' "$dir/design.csv" > "$dir/got1"
    cmp -s "$dir/want1" "$dir/got1" || return 1
    # the same design on 1 thread and on 3 (pipeline/predict.c writes segments in
    # order outside its lock; 1-byte hold: every worker ahead waits after each chunk)
    "$sf" convert "$dir/r.csv" --formula "$f" --out "$dir/d1.h5" --threads 1 --quiet || return 1
    "$sf" convert "$dir/d1.h5:/X" --target /y --out "$dir/d1.csv" --quiet || return 1
    for hold in 1 ""; do
        SF_PREDICT_HOLD_BYTES=$hold "$sf" convert "$dir/r.csv" --formula "$f" --out "$dir/d3.h5" --threads 3 \
            --segment-bytes 30000 --quiet || return 1
        "$sf" convert "$dir/d3.h5:/X" --target /y --out "$dir/d3.csv" --quiet || return 1
        cmp -s "$dir/d1.csv" "$dir/d3.csv" || return 1
    done
    # weights with a formula: lined up with the rows the design builds (WLS)
    awk -F, 'BEGIN { OFS = "," } NR == 1 { print $0, "w"; next } { print $0, NR % 3 + 1 }' "$dir/r.csv" > "$dir/rw.csv"
    "$sf" fit "$dir/rw.csv" --formula 'y ~ a + b' --weight w --pipeline linear_regression --model "$dir/rw.h5" \
        --quiet || return 1
    "$sf" export "$dir/rw.h5" | grep -q "Model: *WLS" || return 1
    # a formula error points at the spot
    "$sf" fit "$dir/r.csv" --formula 'y ~ a + nosuch' --pipeline linear_regression --model "$dir/x.h5" \
        2>"$dir/e9"; [ $? -eq 1 ] || return 1
    [ "$(sed -n 3p "$dir/e9")" = "          ^" ] && grep -q "unknown column 'nosuch'" "$dir/e9"
}
check "formula regression through the CLI: same model for 1/2/3 threads, table, score, predict, errors with a caret" formula_cli

missing_column() {
    printf 'a,b\n1,2\n' | "$sf" predict - --model "$dir/m1.h5" 2>"$dir/e5"; [ $? -eq 1 ] &&
        grep -q 'the model needs a column "c"' "$dir/e5"
}
check "predict names a column the model needs and the data lacks" missing_column

fit_profile() {
    "$sf" fit "$dir/d.csv" --pipeline "scaler | scaler(with_mean=false)" --target y --threads 2 \
        --segment-bytes 100000 --model "$dir/mp.h5" --profile "$dir/p.csv" 2>/dev/null || return 1
    [ "$(head -1 "$dir/p.csv")" = "time_s,verb,pass,event,rows,mb_read,cpu_pct,rss_mib" ] || return 1
    # one pass_end row per pass, rows counted over all passes; time never goes back, RSS > 0
    grep -q '^[0-9.]*,fit,stage 1/2 standard_scaler pass 1,pass_end,20000,' "$dir/p.csv" || return 1
    grep -q '^[0-9.]*,fit,stage 2/2 standard_scaler pass 1,pass_end,40000,' "$dir/p.csv" || return 1
    [ "$(grep -c ',pass_end,' "$dir/p.csv")" -eq 2 ] && tail -1 "$dir/p.csv" | grep -q ',end,40000,' || return 1
    awk -F, 'NR == 2 { t0 = $1 } NR > 1 { if ($1 < t || $8 <= 0 || NF != 8) bad = 1; t = $1 }
             END { exit !(NR >= 4 && !bad && t > t0) }' "$dir/p.csv"
}
check "fit --profile: a CSV row per pass and at the end, time increasing, RSS > 0" fit_profile

progress_loss() {
    # progressive validation: a line per doubling and per epoch on stderr, every
    # block in the log; the log's block losses add up to each epoch's mean
    "$sf" gen classification --rows 20000 --features 6 --seed 5 --out "$dir/c.csv" --quiet
    "$sf" fit "$dir/c.csv" --pipeline "scaler | sgd_classifier(loss=log_loss, shuffle=true, random_state=3)" \
        --target y --threads 2 --segment-bytes 150000 --chunk-rows 1000 --epochs 3 --model "$dir/pl.h5" \
        --progress-loss --loss-log "$dir/loss.csv" 2>"$dir/pl.err" || return 1
    grep -q 'progressive validation of stage 2 (sgd_classifier)' "$dir/pl.err" || return 1
    [ "$(grep -c 'end of epoch' "$dir/pl.err")" -eq 3 ] || return 1
    [ "$(head -1 "$dir/loss.csv")" = "stage,kind,epoch,rows,block_rows,block_loss,epoch_loss,holdout_loss,end_of_epoch" ] || return 1
    awk -F, 'NR > 1 && $9 == 0 { s[$3] += $5 * $6; n[$3] += $5 }
             NR > 1 && $9 == 1 { e++; d = s[$3] / n[$3] - $7; if (n[$3] != 20000 || d > 1e-9 || d < -1e-9) bad = 1 }
             END { exit !(e == 3 && !bad) }' "$dir/loss.csv" || return 1
    # shuffle=true visits the segments in another order each epoch: still the same model for 1 and 2 threads
    "$sf" fit "$dir/c.csv" --pipeline "scaler | sgd_classifier(loss=log_loss, shuffle=true, random_state=3)" \
        --target y --threads 1 --segment-bytes 150000 --chunk-rows 1000 --epochs 3 --model "$dir/pl1.h5" --quiet || return 1
    [ "$("$sf" export "$dir/pl.h5" --json)" = "$("$sf" export "$dir/pl1.h5" --json)" ]
}
check "fit --progress-loss / --loss-log: per-epoch lines, a log row per block adding up; shuffled segments thread-independent" progress_loss

verb_help() {
    # every verb has help with examples; VERB --help is the same text; an unknown verb is a usage error
    for v in describe convert gen read fit predict update score export; do
        "$sf" help $v > "$dir/h1" || return 1
        "$sf" $v --help > "$dir/h2" || return 1
        cmp -s "$dir/h1" "$dir/h2" && grep -q "^usage: streamfit $v" "$dir/h1" && grep -q '^examples:' "$dir/h1" || return 1
    done
    "$sf" help nope 2>/dev/null; [ $? -eq 1 ]
}
check "help VERB and VERB --help: usage and examples for every verb" verb_help

design_options() {
    # --na error refuses a missing value (naming the line); --unknown-levels zero is saved with
    # the model and codes a level the fit never saw as zeros at predict; the default is an error
    printf 'a,g,y\n1,x,2\n2,y,3\n,x,4\n3,y,5\n4,x,7\n' > "$dir/na.csv"
    printf 'a,g\n1,x\n2,z\n' > "$dir/nn.csv"
    "$sf" fit "$dir/na.csv" --pipeline linear_regression --formula "y ~ a + g" --model "$dir/na.h5" --na error \
        2>"$dir/na.err"
    [ $? -eq 1 ] && grep -q 'na.csv:4: error: missing value in .a.' "$dir/na.err" || return 1
    "$sf" fit "$dir/na.csv" --pipeline linear_regression --formula "y ~ a + g" --model "$dir/na.h5" --quiet || return 1
    "$sf" predict "$dir/nn.csv" --model "$dir/na.h5" > /dev/null 2>"$dir/nn.err"
    [ $? -eq 1 ] && grep -q "value 'z' of 'g' was not seen" "$dir/nn.err" || return 1
    "$sf" fit "$dir/na.csv" --pipeline linear_regression --formula "y ~ a + g" --model "$dir/n0.h5" \
        --unknown-levels zero --quiet || return 1
    "$sf" export "$dir/n0.h5" --json | grep -q '"unknown_level": "zero"' || return 1
    # row 2 (a = 2, g unseen): the intercept and 2 * coef(a) alone
    "$sf" predict "$dir/nn.csv" --model "$dir/n0.h5" > "$dir/n0.out" || return 1
    [ "$(wc -l < "$dir/n0.out")" -eq 3 ] || return 1
    "$sf" fit "$dir/na.csv" --pipeline linear_regression --formula "y ~ a + g" --model "$dir/n1.h5" --na maybe 2>/dev/null
    [ $? -eq 1 ]
}
check "--na error, --unknown-levels zero (saved with the model) and their defaults" design_options

kmeans_init_file() {
    # --init FILE: k-means starts from the file's centers (as init=[[...]] in the spec)
    "$sf" gen blobs --rows 2000 --centers 2 --features 2 --seed 4 --out "$dir/b.csv" --quiet
    printf 'x0,x1\n0,0\n5,5\n' > "$dir/c0.csv"
    "$sf" fit "$dir/b.csv" --pipeline "minibatch_kmeans(n_clusters=2, reassignment_ratio=0)" --columns x0,x1 \
        --init "$dir/c0.csv" --seed 3 --model "$dir/ki.h5" --quiet || return 1
    "$sf" fit "$dir/b.csv" --pipeline "minibatch_kmeans(n_clusters=2, reassignment_ratio=0, init=[[0, 0], [5, 5]])" \
        --columns x0,x1 --seed 3 --model "$dir/ks.h5" --quiet || return 1
    # the same stage (params, centers, counts, steps) but for the spec string
    [ "$("$sf" export "$dir/ki.h5" --json | sed 's/.*"stages"//')" = \
      "$("$sf" export "$dir/ks.h5" --json | sed 's/.*"stages"//')" ] || return 1
    "$sf" fit "$dir/b.csv" --pipeline "minibatch_kmeans(n_clusters=2)" --columns x0,x1 --init "$dir/none.csv" \
        --model "$dir/kn.h5" 2>/dev/null
    [ $? -eq 2 ]
}
check "fit --init FILE: k-means from the file's centers equals init=[[...]] in the spec; a missing file is exit 2" kmeans_init_file

special_outputs() {
    # --out to a device or a named pipe writes into it (a temporary file renamed over
    # it would replace the device); an HDF5 output must be a regular file
    printf 'a,y\n1,2\n2,4\n3,6\n' > "$dir/sp.csv"
    "$sf" fit "$dir/sp.csv" --pipeline linear_regression --target y --model "$dir/sp.h5" --quiet || return 1
    mkfifo "$dir/fifo" || return 1
    cat "$dir/fifo" > "$dir/fifo.out" &
    "$sf" predict "$dir/sp.csv" --model "$dir/sp.h5" --out "$dir/fifo" --quiet || return 1
    wait
    [ -p "$dir/fifo" ] && [ "$(wc -l < "$dir/fifo.out")" -eq 4 ] || return 1
    "$sf" predict "$dir/sp.csv" --model "$dir/sp.h5" --out /dev/null --quiet || return 1
    [ -c /dev/null ] || return 1
    "$sf" predict "$dir/sp.csv" --model "$dir/sp.h5" --out "$dir/fifo.h5" --quiet 2>/dev/null || true
    mkfifo "$dir/f2.h5" && "$sf" predict "$dir/sp.csv" --model "$dir/sp.h5" --out "$dir/f2.h5" 2>"$dir/f2.err"
    [ $? -eq 2 ] && grep -q 'regular file' "$dir/f2.err" && [ -p "$dir/f2.h5" ] || return 1
    # a model over a pipe (or a device: /dev/null as root) is refused, the pipe left
    "$sf" fit "$dir/sp.csv" --pipeline linear_regression --target y --model "$dir/f2.h5" 2>"$dir/f3.err"
    [ $? -eq 2 ] && grep -q 'regular file' "$dir/f3.err" && [ -p "$dir/f2.h5" ] || return 1
    "$sf" update "$dir/sp.h5" "$dir/sp.csv" --model "$dir/f2.h5" 2>/dev/null
    [ $? -eq 2 ] && [ -p "$dir/f2.h5" ] && [ -c /dev/null ]
}
check "--out to a named pipe or /dev/null writes into it, never replaces it; HDF5 output or a model to a pipe is refused" special_outputs

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
