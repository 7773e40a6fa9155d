/* convert.c — `streamfit convert DATA --out FILE`: chunk by chunk from any source
 * to any sink (CSV -> HDF5 column group, HDF5 -> CSV), in bounded memory. */
#include <string.h>

#include "cli/cli.h"
#include "cli/profile.h"

/* Segment size of a CSV converted to a design. The segments are written in order
 * (pipeline/predict.c): the worker ahead of the one due holds its rows until its
 * turn, and with the default 32 MiB segments (~33 MB of design rows each) it
 * reached the bound on what it may hold and waited, half of the time; with small
 * segments it is a segment or two ahead and never waits, and the rows it holds
 * are still in cache when they are written (2M rows, --threads 2: 0.56 s -> 0.33 s
 * with the other changes of that commit; 2, 4 or 8 MiB within noise of each other). */
#define DESIGN_SEGMENT_BYTES ((uint64_t)4 << 20)

/* convert --formula: the design matrix as /X and the response as /y (seed 000). */
static int convert_design(const cli_opts *o)
{
    sf_error err;
    sf_error_clear(&err);
    sf_source *src = NULL;
    sf_sink *sink = NULL;
    sf_design *d = NULL;
    uint64_t rows = 0, dropped = 0;
    sf_status st = sf_design_new(&d, o->formula, &o->design, &err);
    if (st == SF_OK) st = sf_design_define_lines(d, o->defines, &err);
    /* CSV segments of DESIGN_SEGMENT_BYTES unless --segment-mb or --segment-bytes
     * set a size */
    sf_source_options so = o->src;
    if (!o->has_segment) so.segment_bytes = DESIGN_SEGMENT_BYTES;
    if (st == SF_OK) st = cli_open_source(o, o->data, &so, &src, &err);
    if (st == SF_OK) st = sf_design_bind(d, src, &err);
    /* the library reports no progress here: a pass's rows are known at its end */
    cli_profile_pass_begin("design pass", false);
    if (st == SF_OK) st = sf_design_fit_source(d, src, o->threads, &err);
    if (st == SF_OK) cli_profile_pass_end();
    cli_profile_pass_begin("convert pass", false);
    if (st == SF_OK) st = sf_sink_open(&sink, o->out, &o->sink, &err);
    if (st == SF_OK) st = sf_design_convert(d, src, sink, o->threads, &rows, &dropped, &err);
    if (st == SF_OK) {
        cli_profile_add(rows, sf_source_size(src));
        cli_profile_pass_end();
    }
    if (st == SF_OK) {
        st = sf_sink_close(sink, &err);
        sink = NULL;
    }
    sf_sink_abort(sink);
    uint64_t by_where = cli_where_dropped(o, src);
    /* --on-error skip: malformed rows are among the dropped ones, told apart */
    if (st == SF_OK) cli_report_malformed(o, src, rows, "dropped");
    sf_source_close(src);
    size_t p = sf_design_n_columns(d);
    sf_design_free(d);
    if (st != SF_OK) return cli_report_caret(&err, NULL, o->formula);
    if (!o->quiet)
        fprintf(stderr, "streamfit: wrote a %llu x %zu design (X, y) to %s; %llu rows dropped for missing values%s",
                (unsigned long long)(rows - dropped), p, o->out, (unsigned long long)dropped, o->where ? "" : "\n");
    if (!o->quiet && o->where) fprintf(stderr, ", %llu by --where\n", (unsigned long long)by_where);
    return 0;
}

int cli_convert(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("convert needs DATA");
    if (!o->out) return cli_usage_error("convert needs --out FILE (.h5 or .csv)");
    if (o->formula) return convert_design(o);
    sf_error err;
    sf_error_clear(&err);
    sf_source *src = NULL;
    sf_sink *sink = NULL;
    cli_progress prog;
    cli_progress_start(&prog, o, "convert");
    sf_status st = cli_open_source(o, o->data, NULL, &src, &err);
    if (st == SF_OK) st = sf_sink_open(&sink, o->out, &o->sink, &err);
    uint64_t rows = 0, bytes = 0; /* counting what opening the source read too */
    const sf_table *t;
    cli_profile_pass_begin("pass 1", true);
    while (st == SF_OK && (st = sf_source_next(src, &t, &err)) == SF_OK) {
        st = sf_sink_write_table(sink, t, &err);
        rows += t->n_rows;
        cli_profile_add(t->n_rows, sf_source_bytes_read(src) - bytes);
        bytes = sf_source_bytes_read(src);
        cli_progress_update(&prog, rows, sf_source_bytes_read(src), sf_source_size(src));
    }
    if (st == SF_END) {
        st = sf_sink_close(sink, &err);
        sink = NULL;
        if (st == SF_OK) cli_profile_pass_end();
    }
    cli_progress_end(&prog);
    sf_sink_abort(sink);
    uint64_t by_where = cli_where_dropped(o, src);
    /* --on-error skip: written as rows with every field missing */
    if (st == SF_OK) cli_report_malformed(o, src, rows, "written as missing");
    sf_source_close(src);
    if (st != SF_OK) return cli_report(&err);
    if (!o->quiet && o->where)
        fprintf(stderr, "streamfit: wrote %llu rows to %s (%llu dropped by --where)\n", (unsigned long long)rows,
                o->out, (unsigned long long)by_where);
    else if (!o->quiet)
        fprintf(stderr, "streamfit: wrote %llu rows to %s\n", (unsigned long long)rows, o->out);
    return 0;
}
