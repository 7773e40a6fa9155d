/* read.c — `streamfit read DATA`: a read-only pass (parse into typed chunks and
 * drop them), parallel over segments; prints rows, bytes and MB/s. It measures
 * the source alone, for bench/read.sh (with --where: the source and its filter). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/profile.h"

typedef struct read_job {
    sf_source *src;
    bool whole;
    uint64_t *rows, *bytes;
} read_job;

static sf_status read_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    read_job *job = ctx;
    sf_source *src = job->src;
    if (!job->whole) {
        sf_status st = sf_source_open_segment(job->src, seg, &src, err);
        if (st != SF_OK) return st;
    }
    const sf_table *t;
    sf_status st;
    uint64_t bytes = 0; /* counting what opening the source read too */
    while ((st = sf_source_next(src, &t, err)) == SF_OK) {
        job->rows[seg] += t->n_rows;
        uint64_t now = sf_source_bytes_read(src);
        cli_profile_add(t->n_rows, now - bytes);
        bytes = now;
    }
    job->bytes[seg] = sf_source_bytes_read(src);
    if (!job->whole) sf_source_close(src);
    return st == SF_END ? SF_OK : st;
}

int cli_read(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("read needs DATA");
    sf_error err;
    sf_error_clear(&err);
    read_job job = {0};
    sf_pool *pool = NULL;
    size_t n_seg = 1;
    double t0 = cli_now();
    sf_status st = cli_open_source(o, o->data, NULL, &job.src, &err);
    if (st == SF_OK) st = sf_source_n_segments(job.src, &n_seg, &err);
    job.whole = strcmp(o->data, "-") == 0;
    if (job.whole) n_seg = 1;
    if (st == SF_OK) {
        job.rows = calloc(n_seg, sizeof *job.rows);
        job.bytes = calloc(n_seg, sizeof *job.bytes);
        if (!job.rows || !job.bytes) st = SF_ERR_NOMEM;
    }
    if (st == SF_OK) st = sf_pool_new(&pool, job.whole ? 1 : o->threads, &err);
    cli_profile_pass_begin("pass 1", true);
    if (st == SF_OK) st = sf_pool_run(pool, n_seg, read_segment, &job, &err);
    if (st == SF_OK) cli_profile_pass_end();
    int rc = 0;
    if (st != SF_OK) rc = cli_report(&err);
    else {
        uint64_t rows = 0, bytes = 0;
        for (size_t g = 0; g < n_seg; g++) {
            rows += job.rows[g];
            bytes += job.bytes[g];
        }
        if (!bytes) bytes = sf_source_size(job.src);
        double dt = cli_now() - t0;
        printf("%llu rows, %zu columns, %zu segments, %.1f MB in %.3f s: %.1f MB/s", (unsigned long long)rows,
               sf_source_n_columns(job.src), n_seg, (double)bytes / 1e6, dt, (double)bytes / 1e6 / dt);
        if (o->where) printf(" (--where dropped %llu rows)", (unsigned long long)cli_where_dropped(o, job.src));
        printf("\n");
    }
    free(job.rows);
    free(job.bytes);
    sf_pool_free(pool);
    sf_source_close(job.src);
    return rc;
}
