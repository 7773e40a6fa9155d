/* main.c — `streamfit <verb> …`: argument parsing and dispatch.
 * The only code that prints or exits; errors are one line, exit 1 for bad input
 * or usage, 2 for I/O (DESIGN.md, "The command line"). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/profile.h"

/* two strings: ISO C caps a string literal at 4095 characters */
static const char usage[] =
    "usage: streamfit <verb> [options]\n"
    "\n"
    "verbs:\n"
    "  describe DATA [--json] [--top N]   per-column count, missing, mean, std, min, max;\n"
    "                                     levels and most frequent values of categories\n"
    "  convert DATA --out FILE.h5         CSV to HDF5 (or HDF5 to CSV) in bounded memory\n"
    "      [--formula F] [--define N=V]   or the formula's design matrix as /X and /y (seed 000)\n"
    "  gen regression|classification|blobs --rows N --out FILE [--seed S]\n"
    "                                     deterministic synthetic data (CSV or .h5)\n"
    "  read DATA                          a read-only pass; prints rows and MB/s\n"
    "  fit DATA --pipeline SPEC --model OUT.h5 [--target COL] [--columns a,b] [--weight COL]\n"
    "                                     fit a pipeline, e.g. --pipeline \"scaler | sgd_classifier(alpha=1e-4)\"\n"
    "      [--formula \"y ~ a + b + a:b + C(cat, levels=lnames)\"] [--define lnames=np.arange(5)]\n"
    "                                     patsy's design matrix as features\n"
    "      [--epochs N] [--seed S]        (max_iter and random_state of the stages that have them)\n"
    "      [--cache F.h5]                 keep the first pass's rows for later passes (no re-parsing)\n"
    "      [--na drop|error]              formula rows with a missing value: dropped and counted, or an error\n"
    "      [--unknown-levels error|zero]  at predict, a level the fit never saw: an error, or all-zero coding\n"
    "      [--init FILE]                  k-means: initial centers, one a row (CSV or F.h5:/C)\n"
    "      [--progress-loss]              SGD family: each row's loss before it is learned, per epoch\n"
    "      [--loss-log F.csv]             (progressive validation); the log has every block\n"
    "  predict DATA --model M.h5 [--out F.csv|F.h5|-] [--proba|--decision|--transform|--interval]\n"
    "                                     run rows through a fitted pipeline, in input order\n"
    "  update M.h5 DATA [--model OUT.h5]  continue every stage of a saved model on new rows\n"
    "  score DATA --model M.h5 [--json]   accuracy / log loss, R² / MSE, or inertia on labelled rows\n"
    "  export M.h5 [--json]               the fitted model, as text or scikit-learn-named JSON\n"
    "\n"
    "DATA is file.csv, file.csv.gz, - (CSV on standard input), file.h5:/dataset,\n"
    "  file.svm (svmlight / libsvm, also .gz), or a quoted glob of files of one kind\n"
    "  ('trips-2015-*.csv', 'part-*.svm'), read in order as one source.\n"
    "stages: scaler, linear_regression, sgd_classifier, sgd_regressor, perceptron,\n"
    "  passive_aggressive_classifier, passive_aggressive_regressor, minibatch_kmeans\n"
    "  (scikit-learn's parameter names; an unknown one lists the valid ones)\n"
    "\n";
static const char usage_options[] =
    "options:\n"
    "  --threads N        worker threads (default: all CPUs)\n"
    "  --chunk-rows N     rows per chunk (default 16384)\n"
    "  --types SPEC       column types, e.g. cat1=category,y=float,n=int\n"
    "  --on-error stop|skip  a malformed CSV row (wrong field count, a non-number in a\n"
    "                     numeric column): stop (fit, update, describe, convert) after\n"
    "                     the rows before it, or skip it and count it (predict: an\n"
    "                     empty output line; score); predict and score skip by default\n"
    "  --delimiter C      CSV field delimiter (default ,; \\t for tab)\n"
    "  --no-header        the CSV has no header row: columns are x0, x1, ...\n"
    "  --target COL|/PATH the target column; /PATH names an HDF5 dataset beside a\n"
    "                     2-D design (seed 000's /X and /y), read as column PATH\n"
    "  --max-levels N     distinct values allowed per categorical column (10000)\n"
    "  --segment-mb N     CSV segment size for parallel passes (default 32; convert --formula 4)\n"
    "  --n-features N     svmlight (.svm/.svmlight/.libsvm): number of features\n"
    "                     (default: the largest index + 1, over all files)\n"
    "  --zero-based MODE  svmlight indices: auto (default: one-based unless an\n"
    "                     index is 0 or a file has none; over all files), true, false\n"
    "  --compression N    HDF5 deflate level 0-9 (default 1)\n"
    "  --features N, --centers K   gen: shape of classification/blobs data\n"
    "  --where EXPR       fit, predict, score, update, describe, convert, read: only the rows\n"
    "                     where EXPR holds, as pandas' DataFrame.query: comparisons,\n"
    "                     and/or/not (& | ~), arithmetic, log/exp/sqrt/abs, text columns against\n"
    "                     quoted strings, in [..] lists; a missing value compares false.\n"
    "                     e.g. --where \"trip_time_in_secs > 1200 and passenger_count >= 2\"\n"
    "                     Dropped rows are counted in the report; predict writes no line\n"
    "                     for them. A property of the run: models do not store it.\n"
    "  --quiet            no progress line\n"
    "  --profile F.csv    every 250 ms and at each pass's end: time, pass, rows, MB read,\n"
    "                     CPU%, RSS (plot it with bench/plot_profile.gp)\n"
    "  --version, --help\n"
    "\n"
    "streamfit help VERB (or VERB --help): the verb's options and examples.\n";

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("streamfit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    return EXIT_BAD_INPUT;
}

static const char *where_text; /* --where, for its caret errors */

sf_status cli_open_source(const cli_opts *o, const char *data, const sf_source_options *so, sf_source **out,
                          sf_error *err)
{
    sf_status st = sf_source_open(out, data, so ? so : &o->src, err);
    if (st != SF_OK || !o->where) return st;
    sf_source *f = NULL;
    st = sf_source_filter(&f, *out, o->where, err);
    if (st != SF_OK) sf_source_close(*out);
    *out = f; /* it owns the source now */
    return st;
}

uint64_t cli_where_dropped(const cli_opts *o, const sf_source *src)
{
    uint64_t seen = 0, dropped = 0;
    sf_error err;
    if (!o->where || !src || sf_source_filter_counts(src, &seen, &dropped, &err) != SF_OK) return 0;
    return dropped;
}

int cli_report(const sf_error *err)
{
    if (!strcmp(err->where.source, "<where>") && where_text) return cli_report_caret(err, NULL, NULL);
    char buf[1024];
    sf_error_format(err, buf, sizeof buf);
    fprintf(stderr, "streamfit: %s\n", buf);
    return err->status == SF_ERR_IO ? EXIT_IO : EXIT_BAD_INPUT;
}

/* Prints a spec or formula error as the text and a caret under the offending
 * column (Decision 14); any other error as one line. */
int cli_report_caret(const sf_error *err, const char *spec, const char *formula)
{
    const char *text = NULL, *flag = NULL;
    if (!strcmp(err->where.source, "<pipeline>")) text = spec, flag = "--pipeline";
    else if (!strcmp(err->where.source, "<formula>") && formula) text = formula, flag = "--formula";
    else if (!strcmp(err->where.source, "<where>") && where_text) text = where_text, flag = "--where";
    if (!text) return cli_report(err);
    fprintf(stderr, "streamfit: error in %s: %s\n  %s\n  %*s^\n", flag, err->message, text,
            (int)(err->where.column ? err->where.column - 1 : 0), "");
    return EXIT_BAD_INPUT;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc < 2) {
        fputs(usage, stderr);
        fputs(usage_options, stderr);
        return EXIT_BAD_INPUT;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "help") && argc > 2) return cli_help(argv[2]);
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
        fputs(usage, stdout);
        fputs(usage_options, stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return cli_help(verb);
    if (!strcmp(verb, "--version")) {
        printf("streamfit %s\n", sf_version());
        return 0;
    }
    cli_opts o;
    memset(&o, 0, sizeof o);
    sf_source_options_init(&o.src);
    sf_sink_options_init(&o.sink);
    o.top = 5;
    o.centers = 5;
    o.features = 20;
    o.seed = 42;
    sf_design_params_default(&o.design);
    o.on_error = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
#define NEED_NUM(flag)                                                      \
    do {                                                                    \
        if (!parse_u64(v, &n))                                              \
            return cli_usage_error("%s needs a non-negative integer, got \"%s\"", flag, \
                                   v ? v : "");                             \
        i++;                                                                \
    } while (0)
#define NEED_STR(flag)                                                      \
    do {                                                                    \
        if (!v) return cli_usage_error("%s needs a value", flag);           \
        i++;                                                                \
    } while (0)
        if (!strcmp(a, "--threads")) { NEED_NUM(a); o.threads = (size_t)n; o.sink.threads = (size_t)n; }
        else if (!strcmp(a, "--chunk-rows")) {
            NEED_NUM(a);
            if (n == 0) return cli_usage_error("--chunk-rows must be positive");
            o.src.chunk_rows = (size_t)n;
            o.sink.chunk_rows = (size_t)n < 16384 ? (size_t)n : 16384;
        }
        else if (!strcmp(a, "--types")) { NEED_STR(a); o.src.types = v; }
        else if (!strcmp(a, "--on-error")) {
            NEED_STR(a);
            if (!strcmp(v, "stop")) o.on_error = SF_ON_ERROR_STOP;
            else if (!strcmp(v, "skip")) o.on_error = SF_ON_ERROR_SKIP;
            else return cli_usage_error("--on-error must be stop or skip, got \"%s\"", v);
            o.src.on_error = (sf_on_error)o.on_error;
        }
        else if (!strcmp(a, "--delimiter")) {
            NEED_STR(a);
            if (!strcmp(v, "\\t") || !strcmp(v, "tab")) o.src.delimiter = '\t';
            else if (strlen(v) == 1) o.src.delimiter = v[0];
            else return cli_usage_error("--delimiter must be one character, got \"%s\"", v);
            o.sink.delimiter = o.src.delimiter;
        }
        else if (!strcmp(a, "--no-header")) o.src.has_header = false;
        else if (!strcmp(a, "--max-levels")) {
            NEED_NUM(a);
            o.src.max_levels = (size_t)n;
            o.design.max_levels = (size_t)n;
        }
        else if (!strcmp(a, "--na")) {
            NEED_STR(a);
            if (!strcmp(v, "drop")) o.design.na_action = SF_NA_DROP;
            else if (!strcmp(v, "error")) o.design.na_action = SF_NA_ERROR;
            else return cli_usage_error("--na must be drop or error, got \"%s\"", v);
        }
        else if (!strcmp(a, "--unknown-levels")) {
            NEED_STR(a);
            if (!strcmp(v, "error")) o.design.unknown_level = SF_UNKNOWN_ERROR;
            else if (!strcmp(v, "zero")) o.design.unknown_level = SF_UNKNOWN_ZERO;
            else return cli_usage_error("--unknown-levels must be error or zero, got \"%s\"", v);
        }
        else if (!strcmp(a, "--init")) { NEED_STR(a); o.init = v; }
        else if (!strcmp(a, "--segment-mb")) {
            NEED_NUM(a);
            if (n == 0) return cli_usage_error("--segment-mb must be positive");
            o.src.segment_bytes = n << 20;
            o.has_segment = true;
        }
        else if (!strcmp(a, "--segment-bytes")) { NEED_NUM(a); o.src.segment_bytes = n; o.has_segment = true; }
        else if (!strcmp(a, "--n-features")) { NEED_NUM(a); o.src.n_features = n; }
        else if (!strcmp(a, "--zero-based")) {
            NEED_STR(a);
            if (!strcmp(v, "auto")) o.src.zero_based = SF_ZERO_BASED_AUTO;
            else if (!strcmp(v, "true")) o.src.zero_based = SF_ZERO_BASED_YES;
            else if (!strcmp(v, "false")) o.src.zero_based = SF_ZERO_BASED_NO;
            else return cli_usage_error("--zero-based must be auto, true or false, got \"%s\"", v);
        }
        else if (!strcmp(a, "--compression")) {
            NEED_NUM(a);
            if (n > 9) return cli_usage_error("--compression must be 0-9, got %llu", (unsigned long long)n);
            o.sink.compression = (int)n;
        }
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) { NEED_STR(a); o.out = v; }
        else if (!strcmp(a, "--pipeline")) { NEED_STR(a); o.pipeline = v; }
        else if (!strcmp(a, "--model")) { NEED_STR(a); o.model = v; }
        else if (!strcmp(a, "--target")) {
            /* "/y": an HDF5 dataset beside a 2-D design, read as the column "y" */
            NEED_STR(a);
            o.src.target = v[0] == '/' ? v : NULL;
            o.target = v[0] == '/' ? strrchr(v, '/') + 1 : v;
        }
        else if (!strcmp(a, "--columns")) { NEED_STR(a); o.columns = v; }
        else if (!strcmp(a, "--cache")) { NEED_STR(a); o.cache = v; }
        else if (!strcmp(a, "--profile")) { NEED_STR(a); o.profile = v; }
        else if (!strcmp(a, "--formula")) { NEED_STR(a); o.formula = v; }
        else if (!strcmp(a, "--where")) { NEED_STR(a); o.where = where_text = v; }
        else if (!strcmp(a, "--define")) {
            NEED_STR(a);
            static char defines[8192];
            size_t k = strlen(defines);
            if (k + strlen(v) + 2 > sizeof defines) return cli_usage_error("--define: too many or too long");
            snprintf(defines + k, sizeof defines - k, "%s%s", k ? "\n" : "", v);
            o.defines = defines;
        }
        else if (!strcmp(a, "--weight")) { NEED_STR(a); o.weight = v; }
        else if (!strcmp(a, "--rows")) { NEED_NUM(a); o.rows = n; }
        else if (!strcmp(a, "--seed")) { NEED_NUM(a); o.seed = n; o.has_seed = true; }
        else if (!strcmp(a, "--epochs")) {
            NEED_NUM(a);
            if (n == 0 || n > 1000000) return cli_usage_error("--epochs must be 1 to 1000000");
            o.epochs = (unsigned)n;
        }
        else if (!strcmp(a, "--proba")) o.output = SF_OUTPUT_PROBA;
        else if (!strcmp(a, "--decision")) o.output = SF_OUTPUT_DECISION;
        else if (!strcmp(a, "--transform")) o.output = SF_OUTPUT_TRANSFORM;
        else if (!strcmp(a, "--interval")) o.output = SF_OUTPUT_INTERVAL;
        else if (!strcmp(a, "--features")) { NEED_NUM(a); o.features = (size_t)n; }
        else if (!strcmp(a, "--centers")) { NEED_NUM(a); o.centers = (size_t)n; }
        else if (!strcmp(a, "--top")) { NEED_NUM(a); o.top = (size_t)n; }
        else if (!strcmp(a, "--progress-loss")) o.progress_loss = true;
        else if (!strcmp(a, "--loss-log")) { NEED_STR(a); o.loss_log = v; }
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) o.quiet = true;
        else if (a[0] == '-' && a[1] == '-') return cli_usage_error("unknown option %s", a);
        else if (!o.data && strcmp(verb, "gen") != 0) o.data = a;
        else if (!o.data2 && !strcmp(verb, "update")) o.data2 = a;
        else if (!o.kind && !strcmp(verb, "gen")) o.kind = a;
        else return cli_usage_error("unexpected argument \"%s\"", a);
#undef NEED_NUM
#undef NEED_STR
    }
    static const struct {
        const char *name;
        int (*run)(const cli_opts *);
    } verbs[] = {{"describe", cli_describe}, {"convert", cli_convert}, {"gen", cli_gen},
                 {"read", cli_read},         {"fit", cli_fit},         {"export", cli_export},
                 {"predict", cli_predict},   {"update", cli_update},   {"score", cli_score}};
    for (size_t k = 0; k < sizeof verbs / sizeof verbs[0]; k++) {
        if (strcmp(verb, verbs[k].name) != 0) continue;
        if (o.where && (!strcmp(verb, "gen") || !strcmp(verb, "export")))
            return cli_usage_error("--where filters the rows of fit, predict, score, update, describe, convert "
                                   "and read, not %s", verb);
        if (o.profile) {
            int rc = cli_profile_start(o.profile, verb);
            if (rc != 0) return rc;
        }
        int rc = verbs[k].run(&o);
        cli_profile_stop();
        return rc;
    }
    return cli_usage_error("unknown verb \"%s\" (try streamfit --help)", verb);
}
