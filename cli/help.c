/* help.c — `streamfit help VERB` and `streamfit VERB --help`: what the verb does,
 * its options, and examples to copy (issue 8, item 6). The data options shared by
 * every verb that reads (--threads, --chunk-rows, --types, …) are listed once, in
 * `streamfit --help`. */
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *verb;
    const char *text;
} helps[] = {
    {"describe",
     "usage: streamfit describe DATA [--json] [--top N]\n"
     "\n"
     "One pass over DATA: per column its type (float, int, category), count, missing,\n"
     "mean, std, min and max (pandas' describe(); std with ddof 1); for categories the\n"
     "number of levels and the N most frequent (default 5). Bounded memory, all threads.\n"
     "\n"
     "examples:\n"
     "  streamfit describe trips.csv\n"
     "  streamfit describe 'trips-2015-*.csv' --json > summary.json\n"
     "  streamfit describe trips.csv --where \"trip_time_in_secs > 1200 and passenger_count >= 2\"\n"
     "  streamfit describe data.h5:/X --top 10\n"
     "  zcat big.csv.gz | streamfit describe -\n"},
    {"convert",
     "usage: streamfit convert DATA --out FILE.h5|FILE.csv [--compression N]\n"
     "                        [--formula F [--define NAME=VALUE]... [--na drop|error]]\n"
     "\n"
     "CSV to HDF5 (a group of 1-D column datasets, deflate level N, default 1) or\n"
     "HDF5 to CSV, chunk by chunk. With --formula, writes patsy's design matrix of F\n"
     "instead: /X (rows x columns, the column names in its \"columns\" attribute) and\n"
     "/y, exactly as patsy.dmatrices(F, data) builds them (seed 000's workflow); a\n"
     "formula that needs levels or statistics first makes a pass to learn them.\n"
     "\n"
     "examples:\n"
     "  streamfit convert trips.csv --out trips.h5\n"
     "  streamfit convert trips.h5:/ --out trips.csv\n"
     "  streamfit convert data.csv --out design.h5 --compression 0 \\\n"
     "      --formula \"y ~ 0 + a + b + a:b + C(cat1, Treatment, levels=lnames)\" \\\n"
     "      --define \"lnames=range(5)\"\n"},
    {"gen",
     "usage: streamfit gen regression|classification|blobs --rows N --out FILE.csv|FILE.h5\n"
     "                    [--seed S] [--features F] [--centers K]\n"
     "\n"
     "Deterministic synthetic data, written in chunks: regression is seed 000's data\n"
     "(a, b, c, d, cat1 and y from the post's formula), classification seed 001's\n"
     "(x0..x{F-1}, F = 20 by default, and a binary y from a logistic model), blobs K\n"
     "Gaussian clusters (K = 5) with their true cluster in \"label\".\n"
     "\n"
     "examples:\n"
     "  streamfit gen regression --rows 2500000 --out reg.csv\n"
     "  streamfit gen classification --rows 1000000 --features 20 --seed 1 --out cls.h5\n"
     "  streamfit gen blobs --rows 200000 --centers 8 --features 10 --out blobs.csv\n"},
    {"read",
     "usage: streamfit read DATA\n"
     "\n"
     "A read-only pass over DATA on all threads (parse, convert, discard): rows, MB\n"
     "and MB/s. What reading costs, before any model.\n"
     "\n"
     "examples:\n"
     "  streamfit read trips.csv --threads 1\n"
     "  streamfit read trips.h5:/ --chunk-rows 50000\n"},
    {"fit",
     "usage: streamfit fit DATA --pipeline SPEC --model OUT.h5\n"
     "                    (--target COL [--columns a,b,...] | --formula F [--define N=V]...)\n"
     "                    [--weight COL] [--epochs N] [--seed S] [--cache F.h5]\n"
     "                    [--na drop|error] [--unknown-levels error|zero] [--init FILE]\n"
     "                    [--progress-loss] [--loss-log F.csv] [--profile F.csv]\n"
     "\n"
     "Fits a pipeline of stages, stage by stage, in as many passes over DATA as they\n"
     "need. SPEC is \"stage(param=value, ...) | stage(...)\" with scikit-learn's names:\n"
     "  scaler, linear_regression, sgd_classifier, sgd_regressor, perceptron,\n"
     "  passive_aggressive_classifier, passive_aggressive_regressor, minibatch_kmeans.\n"
     "Mergeable stages (scaler, linear_regression, k-means refinement) fit per segment\n"
     "on all threads; learners that learn in order (SGD family, mini-batch k-means)\n"
     "learn on one thread in data order while the others read ahead. The model is\n"
     "bitwise the same for any --threads. Without --columns every numeric column but\n"
     "the target and weight is a feature. Rows with a missing feature or target are\n"
     "dropped and counted. --epochs sets max_iter, --seed random_state where the spec\n"
     "does not. --cache keeps the first pass's rows (parsed, designed) for later passes.\n"
     "With a formula, --na error refuses a row with a missing value (default: drop and\n"
     "count, as patsy) and --unknown-levels zero codes a level the fit never saw as\n"
     "zeros at predict time (default: an error naming the row); both are saved with\n"
     "the model. --init FILE gives k-means its initial centers, one a row.\n"
     "--progress-loss prints each epoch's progressive-validation loss (every row's\n"
     "loss before it is learned; held-out loss with early_stopping); --loss-log writes\n"
     "it for every block.\n"
     "\n"
     "examples:\n"
     "  streamfit fit cls.csv --pipeline \"scaler | sgd_classifier(loss=log_loss, alpha=1e-4)\" \\\n"
     "      --target y --model m.h5\n"
     "  streamfit fit reg.csv --pipeline linear_regression --model lm.h5 \\\n"
     "      --formula \"y ~ a + b + a:b + C(cat1, levels=lnames)\" --define \"lnames=range(5)\"\n"
     "  streamfit fit blobs.h5:/ --pipeline \"minibatch_kmeans(n_clusters=8, refine=3)\" \\\n"
     "      --columns x0,x1,x2,x3 --model k.h5\n"
     "  streamfit fit big.csv --pipeline \"scaler | sgd_regressor(early_stopping=true)\" --target y \\\n"
     "      --epochs 5 --cache /tmp/big-cache.h5 --progress-loss --model r.h5\n"},
    {"predict",
     "usage: streamfit predict DATA --model M.h5 [--out F.csv|F.h5|-]\n"
     "                        [--proba|--decision|--transform|--interval]\n"
     "\n"
     "Runs DATA's rows through a fitted pipeline on all threads, writing one output\n"
     "row per input row in input order (CSV with a header, or HDF5; stdout by\n"
     "default). A row with a missing feature gets empty fields and is counted. The\n"
     "columns the model needs are found by name. --proba: one column per class;\n"
     "--decision: decision_function; --transform: k-means distances, or a\n"
     "transformer-last pipeline's matrix; --interval: linear regression's prediction,\n"
     "standard error and 95% interval. With DATA = - it is a streaming job: each\n"
     "row's prediction is written (and flushed) as soon as the row has arrived.\n"
     "\n"
     "examples:\n"
     "  streamfit predict new.csv --model m.h5 --out preds.h5\n"
     "  streamfit predict new.h5:/ --model m.h5 --proba --out proba.csv\n"
     "  tail -f events.csv | streamfit predict - --model m.h5\n"},
    {"update",
     "usage: streamfit update M.h5 DATA [--model OUT.h5] [--cache F.h5] [--progress-loss]\n"
     "\n"
     "Online learning across days: continues every stage of a saved model on new\n"
     "rows, as if the first fit had gone on over them (bitwise for learners that learn\n"
     "in order). Writes M.h5 in place (atomically: the old model survives a failure),\n"
     "or OUT.h5.\n"
     "\n"
     "examples:\n"
     "  streamfit update m.h5 day2.csv\n"
     "  streamfit update m.h5 'day-*.csv' --model m-all.h5\n"},
    {"score",
     "usage: streamfit score DATA --model M.h5 [--json]\n"
     "\n"
     "The last stage's score on labelled rows, in one parallel pass: accuracy and\n"
     "log loss (classifiers with probabilities), R² and MSE (regressors), inertia\n"
     "(k-means, no target needed).\n"
     "\n"
     "examples:\n"
     "  streamfit score holdout.csv --model m.h5\n"
     "  streamfit score holdout.h5:/ --model k.h5 --json\n"},
    {"export",
     "usage: streamfit export M.h5 [--json]\n"
     "\n"
     "The fitted model: without --json a readable summary (a regression table like\n"
     "statsmodels' summary() for linear_regression, with the formula's column\n"
     "names); with --json every stage's parameters and fitted attributes under\n"
     "scikit-learn's names (coef_, intercept_, mean_, cluster_centers_, ...).\n"
     "\n"
     "examples:\n"
     "  streamfit export lm.h5\n"
     "  streamfit export m.h5 --json | python3 -c 'import json,sys; print(json.load(sys.stdin))'\n"},
};

int cli_help(const char *verb)
{
    for (size_t k = 0; k < sizeof helps / sizeof helps[0]; k++)
        if (!strcmp(verb, helps[k].verb)) {
            fputs(helps[k].text, stdout);
            fputs("\ncommon options (streamfit --help): --threads N, --chunk-rows N, --types SPEC,\n"
                  "  --delimiter C, --no-header, --max-levels N, --segment-mb N, --quiet, --profile F.csv\n",
                  stdout);
            if (strcmp(verb, "gen") != 0 && strcmp(verb, "export") != 0)
                fputs("  --where EXPR: only the rows where EXPR holds, as pandas' df.query(EXPR) selects\n"
                      "  them (\"a > 1 and b in ['x', 'y']\"); the rows it drops are counted\n",
                      stdout);
            return 0;
        }
    return cli_usage_error("no help for \"%s\": verbs are describe, convert, gen, read, fit, predict, update, "
                           "score, export",
                           verb);
}
