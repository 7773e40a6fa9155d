/* cli.h — shared pieces of the streamfit command: options, errors, progress.
 * Only cli/ may print or exit. */
#ifndef SF_CLI_H
#define SF_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "streamfit/streamfit.h"

typedef struct cli_opts {
    sf_source_options src;
    sf_sink_options sink;
    size_t threads;          /* 0 = all CPUs */
    bool quiet, json;
    const char *out;
    const char *data;
    /* gen */
    const char *kind;
    uint64_t rows;
    uint64_t seed;
    size_t features, centers;
    size_t top;              /* describe: most frequent levels shown */
    /* fit / predict / export */
    const char *pipeline, *model, *target, *columns, *weight;
    const char *data2;       /* update: DATA after M.h5 */
    const char *cache;       /* fit / update: --cache F.h5 */
    const char *formula;     /* fit: --formula "y ~ a + C(b)" */
    const char *defines;     /* --define NAME=VALUE, one a line */
    const char *profile;     /* --profile F.csv (cli/profile.h) */
    const char *where;       /* --where EXPR: the row filter (not saved in models) */
    unsigned epochs;
    bool has_seed;           /* --seed given (fit: random_state default) */
    bool has_segment;        /* --segment-mb or --segment-bytes given */
    sf_output output;        /* predict: --proba, --decision, --transform, --interval */
    bool progress_loss;      /* fit / update: --progress-loss */
    sf_design_params design; /* --na drop|error, --unknown-levels error|zero, --max-levels */
    const char *init;        /* fit: --init FILE (k-means initial centers) */
    const char *loss_log;    /* fit / update: --loss-log F.csv */
    int on_error;            /* --on-error: an sf_on_error, or -1 = the verb's default
                                (predict, score: skip; the others: stop) */
} cli_opts;

/* Exit codes (DESIGN.md): 0 ok, 1 bad input or usage, 2 I/O. */
enum { EXIT_BAD_INPUT = 1, EXIT_IO = 2 };

/* Prints err as one line on stderr and returns the exit code for its status. */
int cli_report(const sf_error *err);
/* A --pipeline or --formula error (where.source "<pipeline>" / "<formula>") as
 * the text and a caret under the offending column; any other error as cli_report.
 * spec or formula may be NULL. */
int cli_report_caret(const sf_error *err, const char *spec, const char *formula);
/* `streamfit help VERB`: the verb's help on stdout (0), or a usage error. */
int cli_help(const char *verb);
/* Opens data with so (NULL: o's source options) and, with --where, filters it
 * (sf_source_filter): the one way verbs open their data. On failure *out is NULL. */
sf_status cli_open_source(const cli_opts *o, const char *data, const sf_source_options *so, sf_source **out,
                          sf_error *err);
/* Rows --where dropped on src's last complete pass; 0 without --where. */
uint64_t cli_where_dropped(const cli_opts *o, const sf_source *src);
/* Prints "streamfit: msg" on stderr and returns EXIT_BAD_INPUT. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --progress-loss / --loss-log (cli/loss.c): start sets fo's loss callback when
 * either is given (returns EXIT_IO when the log cannot be made); finish closes
 * the log (EXIT_IO on a write error). */
typedef struct cli_loss {
    bool print, header;
    FILE *log;
    size_t stage;
    unsigned pass;
    uint64_t next;
    double since_sum, since_rows;
} cli_loss;
int cli_loss_start(cli_loss *l, const cli_opts *o, sf_fit_options *fo);
int cli_loss_finish(cli_loss *l, const cli_opts *o);

/* Progress line on stderr when it is a terminal and not --quiet. */
typedef struct cli_progress {
    bool on;
    double t0, last;
    const char *what;
} cli_progress;
void cli_progress_start(cli_progress *p, const cli_opts *o, const char *what);
void cli_progress_update(cli_progress *p, uint64_t rows, uint64_t bytes, uint64_t total);
void cli_progress_end(cli_progress *p);
double cli_now(void);

int cli_describe(const cli_opts *o);
int cli_convert(const cli_opts *o);
int cli_gen(const cli_opts *o);
int cli_read(const cli_opts *o);
int cli_fit(const cli_opts *o);
int cli_export(const cli_opts *o);
int cli_predict(const cli_opts *o);
int cli_update(const cli_opts *o);
int cli_score(const cli_opts *o);

/* The source options of a verb: --on-error or the verb's default (skip_default),
 * and with a model, its column types enforced ahead of the user's --types
 * (with_target: the target's too). *owned is a string to free after the open. */
sf_source_options cli_source_options(const cli_opts *o, bool skip_default, const sf_pipeline *model,
                                     bool with_target, char **owned);
/* "streamfit: 2 of 1000 rows were malformed (what); first: <stdin>:5: expected …"
 * on stderr when src skipped any (not with --quiet). Returns how many. */
uint64_t cli_report_malformed(const cli_opts *o, const sf_source *src, uint64_t rows, const char *what);

#endif
