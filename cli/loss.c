/* loss.c — `fit` / `update --progress-loss` and `--loss-log F.csv`: progressive
 * validation as Vowpal Wabbit prints it (sf_loss_report in sf_pipeline.h).
 *
 * --progress-loss prints on stderr a line each time the rows of the epoch pass a
 * doubling count (the first block, 2x, 4x, ...) and one at each epoch's end: the
 * mean loss of the epoch so far, the mean since the line before, and with
 * early_stopping the held-out rows' mean loss. --loss-log writes every report
 * (every block) as a CSV row. */
#include <math.h>
#include <stdlib.h>

#include "cli/cli.h"

static void print_loss(FILE *f, double v)
{
    if (isnan(v)) fprintf(f, " %13s", "");
    else fprintf(f, " %13.6f", v);
}

static void on_loss(void *ctx, const sf_loss_report *r)
{
    cli_loss *l = ctx;
    if (l->log)
        fprintf(l->log, "%zu,%s,%u,%llu,%llu,%.17g,%.17g,%.17g,%d\n", r->stage + 1, r->kind, r->pass + 1,
                (unsigned long long)r->rows, (unsigned long long)r->block_rows, r->block_loss, r->pass_loss,
                r->holdout_loss, r->done ? 1 : 0);
    if (!l->print) return;
    if (!l->header || l->stage != r->stage) {
        fprintf(stderr, "streamfit: progressive validation of stage %zu (%s): each row's loss before it is "
                        "learned\n  %5s %12s %13s %13s %13s\n",
                r->stage + 1, r->kind, "epoch", "rows", "average loss", "since last", "holdout loss");
        l->header = true;
        l->stage = r->stage;
    }
    if (l->pass != r->pass || l->next == 0) { /* a new epoch */
        l->pass = r->pass;
        l->next = r->block_rows ? r->block_rows : 1;
        l->since_sum = l->since_rows = 0;
    }
    if (!r->done && !isnan(r->block_loss)) {
        l->since_sum += r->block_loss * (double)r->block_rows;
        l->since_rows += (double)r->block_rows;
    }
    if (!r->done && r->rows < l->next) return;
    while (l->next <= r->rows) l->next *= 2;
    fprintf(stderr, "  %5u %12llu", r->pass + 1, (unsigned long long)r->rows);
    print_loss(stderr, r->pass_loss);
    print_loss(stderr, l->since_rows > 0 ? l->since_sum / l->since_rows : NAN);
    print_loss(stderr, r->holdout_loss);
    fputs(r->done ? "  end of epoch\n" : "\n", stderr);
    l->since_sum = l->since_rows = 0;
    if (r->done) l->next = 0;
}

int cli_loss_start(cli_loss *l, const cli_opts *o, sf_fit_options *fo)
{
    *l = (cli_loss){.print = o->progress_loss};
    if (o->loss_log) {
        l->log = fopen(o->loss_log, "w");
        if (!l->log) {
            fprintf(stderr, "streamfit: cannot write %s\n", o->loss_log);
            return EXIT_IO;
        }
        fputs("stage,kind,epoch,rows,block_rows,block_loss,epoch_loss,holdout_loss,end_of_epoch\n", l->log);
    }
    if (l->print || l->log) {
        fo->loss = on_loss;
        fo->loss_ctx = l;
    }
    return 0;
}

int cli_loss_finish(cli_loss *l, const cli_opts *o)
{
    if (!l->log) return 0;
    bool bad = ferror(l->log) != 0;
    bad = fclose(l->log) != 0 || bad;
    l->log = NULL;
    if (bad) {
        fprintf(stderr, "streamfit: error writing %s\n", o->loss_log);
        return EXIT_IO;
    }
    return 0;
}
