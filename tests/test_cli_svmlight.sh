#!/bin/sh
# test_cli_svmlight.sh — svmlight data through the command line.
#
#   sh tests/test_cli_svmlight.sh PATH/TO/streamfit PATH/TO/tests/data
#
# fit (no --target: the label is the target), predict, score, describe and
# update on tests/data/svmlight_*.svm; predictions are the same for --threads 1
# and 3 and for one-row and 1000-row chunks; a .svm.gz file gives the same
# predictions; a narrower file predicts, a wider one exits 1 naming its line;
# refusals (linear_regression, scaler with centring, --zero-based junk) exit 1
# with one line on stderr; a quoted glob of three parts of a file (one .gz)
# fits the model of the whole file, byte for byte, on 1 and 2 threads, and a
# bad line in one of them names that file and line. The numbers themselves are
# checked against sklearn in tests/test_svmlight.c.

SF=${1:?usage: sh tests/test_cli_svmlight.sh PATH/TO/streamfit TESTS_DATA_DIR}
DATA=${2:?usage: sh tests/test_cli_svmlight.sh PATH/TO/streamfit TESTS_DATA_DIR}
LC_ALL=C
export LC_ALL
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
fails=0
check() { # name, then a command that must succeed
    name=$1
    shift
    n=$((n + 1))
    if "$@" >"$T/out" 2>"$T/err"; then echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        sed 's/^/# /' "$T/err" | head -5
        fails=$((fails + 1))
    fi
}
fails_with() { # name, exit code, stderr pattern, command...
    name=$1 code=$2 pat=$3
    shift 3
    n=$((n + 1))
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" = "$code" ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q -- "$pat" "$T/err"; then echo "ok $n - $name"
    else
        echo "not ok $n - $name (exit $rc)"
        sed 's/^/# /' "$T/err" | head -5
        fails=$((fails + 1))
    fi
}

CLF=$DATA/svmlight_clf.svm
check "fit a classifier without --target" "$SF" fit "$CLF" --pipeline "sgd_classifier(loss=log_loss)" --model "$T/m.h5" --quiet
check "predict, 3 threads, small segments" "$SF" predict "$CLF" --model "$T/m.h5" --out "$T/p3.csv" --threads 3 --segment-bytes 2000
check "predict, 1 thread, one-row chunks" "$SF" predict "$CLF" --model "$T/m.h5" --out "$T/p1.csv" --threads 1 --chunk-rows 1
check "same predictions" cmp "$T/p1.csv" "$T/p3.csv"
check "one line a row plus the header" test "$(wc -l <"$T/p1.csv")" = 421
check "proba" "$SF" predict "$CLF" --model "$T/m.h5" --out "$T/pp.csv" --proba
check "proba header" grep -q '^proba_-1,proba_1,proba_3$' "$T/pp.csv"
gzip -c "$CLF" >"$T/clf.svm.gz"
check "predict a .svm.gz" "$SF" predict "$T/clf.svm.gz" --model "$T/m.h5" --out "$T/pg.csv"
check "same predictions from .gz" cmp "$T/p1.csv" "$T/pg.csv"
check "export" sh -c "'$SF' export '$T/m.h5' >'$T/export.txt'"
check "export: sparse columns" grep -q '^columns: sparse, indices 0..39$' "$T/export.txt"
check "score" sh -c "'$SF' score '$CLF' --model '$T/m.h5' >'$T/score.txt'"
check "score says accuracy" grep -q '^accuracy' "$T/score.txt"
check "fit in 1000-row chunks on 3 threads" "$SF" fit "$CLF" --pipeline "sgd_classifier(loss=log_loss)" --model "$T/m2.h5" --quiet --chunk-rows 1000 --threads 3
check "predict with it" "$SF" predict "$CLF" --model "$T/m2.h5" --out "$T/p4.csv"
check "chunking changes nothing" cmp "$T/p1.csv" "$T/p4.csv"
check "describe" sh -c "'$SF' describe '$CLF' --threads 3 --segment-bytes 3000 >'$T/d.txt'"
check "describe: the sparse line" grep -q '^sparse: 40 features, 2072 stored values, density 0.123333' "$T/d.txt"
check "describe: labels" grep -q '^labels: -1 (134) 1 (146) 3 (140)$' "$T/d.txt"
check "scaled regression" "$SF" fit "$DATA/svmlight_reg.svm" --pipeline "scaler(with_mean=false) | sgd_regressor" --model "$T/r.h5" --quiet
check "update it" "$SF" update "$T/r.h5" "$DATA/svmlight_reg.svm" --quiet
printf '1 1:2\n0 3:1\n' >"$T/narrow.svm"
check "a narrower file predicts" "$SF" predict "$T/narrow.svm" --model "$T/r.h5" --out "$T/pn.csv"
printf '1 1:2\n\n0 3:1 26:4\n' >"$T/wide.svm"
fails_with "a wider file names its line" 1 'wide.svm:3:.*model has 25 features' "$SF" predict "$T/wide.svm" --model "$T/r.h5" --out "$T/pw.csv"
fails_with "linear_regression refused" 1 'does not take sparse input' "$SF" fit "$CLF" --pipeline linear_regression --model "$T/x.h5"
fails_with "centring refused" 1 'with_mean=false' "$SF" fit "$CLF" --pipeline "scaler | sgd_classifier" --model "$T/x.h5"
fails_with "bad --zero-based" 1 'zero-based' "$SF" fit "$CLF" --pipeline sgd_classifier --model "$T/x.h5" --zero-based maybe
fails_with "bad line" 1 'bad.svm:2:8: .*sorted and unique' sh -c "printf '1 1:1\n-1 3:1 2:1\n' >'$T/bad.svm'; '$SF' fit '$T/bad.svm' --pipeline sgd_classifier --model '$T/x.h5'"
# several files as one source (a quoted glob; the middle one gzipped): the same
# model as the one file they were cut from, on 1 and 2 threads
mkdir "$T/parts"
sed -n '1,150p' "$CLF" >"$T/parts/clf-1.svm"
sed -n '151,300p' "$CLF" | gzip -c >"$T/parts/clf-2.svm.gz"
sed -n '301,$p' "$CLF" >"$T/parts/clf-3.svm"
check "fit the whole file" "$SF" fit "$CLF" --pipeline "sgd_classifier(loss=log_loss)" --model "$T/mw.h5" --quiet --threads 1
for th in 1 2; do
    check "fit a glob of 3 files, $th threads" "$SF" fit "$T/parts/clf-*" --pipeline "sgd_classifier(loss=log_loss)" --model "$T/mg$th.h5" --quiet --threads $th --segment-bytes 2000
    check "export it ($th threads)" sh -c "'$SF' export '$T/mg$th.h5' --json >'$T/eg$th.json'"
done
check "export the whole-file model" sh -c "'$SF' export '$T/mw.h5' --json >'$T/ew.json'"
check "glob model = whole-file model (1 thread)" cmp "$T/ew.json" "$T/eg1.json"
check "glob model = whole-file model (2 threads)" cmp "$T/ew.json" "$T/eg2.json"
check "predict the glob" "$SF" predict "$T/parts/clf-*" --model "$T/mw.h5" --out "$T/pglob.csv" --proba --threads 2
check "predict the whole file" "$SF" predict "$CLF" --model "$T/mw.h5" --out "$T/pwhole.csv" --proba
check "same predictions" cmp "$T/pglob.csv" "$T/pwhole.csv"
check "update with the glob" "$SF" update "$T/mw.h5" "$T/parts/clf-*" --model "$T/uw2.h5" --quiet --threads 2
check "update with the whole file" "$SF" update "$T/mw.h5" "$CLF" --model "$T/uw1.h5" --quiet --threads 1
check "export both updates" sh -c "'$SF' export '$T/uw1.h5' --json >'$T/u1.json' && '$SF' export '$T/uw2.h5' --json >'$T/u2.json'"
check "the same update" cmp "$T/u1.json" "$T/u2.json"
check "describe the glob" sh -c "'$SF' describe '$T/parts/clf-*' >'$T/dg.txt'"
check "describe: labels over all files" grep -q '^labels: -1 (134) 1 (146) 3 (140)$' "$T/dg.txt"
printf '1 1:1\n\n-1 4:1 2:1\n' >"$T/parts/clf-4.svm"
fails_with "a bad line names its file and line" 1 'clf-4.svm:3:.*sorted and unique' "$SF" fit "$T/parts/clf-*" --pipeline sgd_classifier --model "$T/x.h5"
fails_with "n_features below an index names the file" 1 'clf-.*n_features was set to 20' "$SF" fit "$T/parts/clf-*" --pipeline sgd_classifier --model "$T/x.h5" --n-features 20
fails_with "a glob without a match" 2 'no file matches' "$SF" fit "$T/parts/none-*.svm" --pipeline sgd_classifier --model "$T/x.h5"
echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
