/* convert.c — `streamfit convert DATA --out FILE`: chunk by chunk from any source
 * to any sink (CSV -> HDF5 column group, HDF5 -> CSV), in bounded memory. */
#include <string.h>

#include "cli/cli.h"

int cli_convert(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("convert needs DATA");
    if (!o->out) return cli_usage_error("convert needs --out FILE (.h5 or .csv)");
    sf_error err;
    sf_error_clear(&err);
    sf_source *src = NULL;
    sf_sink *sink = NULL;
    cli_progress prog;
    cli_progress_start(&prog, o, "convert");
    sf_status st = sf_source_open(&src, o->data, &o->src, &err);
    if (st == SF_OK) st = sf_sink_open(&sink, o->out, &o->sink, &err);
    uint64_t rows = 0;
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, &err)) == SF_OK) {
        st = sf_sink_write_table(sink, t, &err);
        rows += t->n_rows;
        cli_progress_update(&prog, rows, sf_source_bytes_read(src), sf_source_size(src));
    }
    if (st == SF_END) {
        st = sf_sink_close(sink, &err);
        sink = NULL;
    }
    cli_progress_end(&prog);
    sf_sink_abort(sink);
    sf_source_close(src);
    if (st != SF_OK) return cli_report(&err);
    if (!o->quiet)
        fprintf(stderr, "streamfit: wrote %llu rows to %s\n", (unsigned long long)rows, o->out);
    return 0;
}
