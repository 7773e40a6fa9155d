/* filter_aggregate.c — seed 004's "count long trips": stream a CSV of taxi trips,
 * keep the rows a predicate accepts, and aggregate them, in parallel over
 * segments of the file and in memory bounded by chunk x threads.
 *
 *   cc filter_aggregate.c $(pkg-config --cflags --libs streamfit) -o filter_aggregate
 *   ./filter_aggregate trips.csv ["PREDICATE"]
 *
 * The CSV needs the columns trip_time_in_secs, passenger_count and
 * trip_distance (any others are read and ignored). The pandas original:
 *   long = df.query("trip_time_in_secs > 1200 and passenger_count >= 2")
 *   len(long), len(df), long.trip_distance.sum()
 * The predicate is a row filter (sf_source_filter, the CLI's --where): the same
 * expression, evaluated column-wise on each chunk, with pandas' semantics (a
 * missing field never matches: NaN > 1200 is false). The filtered source has the
 * file's segments, so the pool below reads them in parallel, and it counts the
 * rows it saw and dropped.
 */
#include <stdio.h>
#include <stdlib.h>

#include <streamfit/streamfit.h>

/* What each segment adds up; merged in segment order at the end. */
typedef struct {
    uint64_t matched;
    double distance; /* Σ trip_distance over the matched rows with one */
} totals;

typedef struct {
    sf_source *src;  /* the filtered source: only matching rows come out */
    size_t distance; /* column index */
    totals *seg;     /* one per segment */
} count_job;

/* A pool task: reads segment seg chunk by chunk and fills seg's totals. */
static sf_status count_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    count_job *job = ctx;
    totals *tot = &job->seg[seg];
    sf_source *s;
    sf_status st = sf_source_open_segment(job->src, seg, &s, err);
    if (st != SF_OK) return st;
    const sf_table *t;
    while ((st = sf_source_next(s, &t, err)) == SF_OK) {
        const sf_column *dist = &t->cols[job->distance];
        tot->matched += t->n_rows;
        for (size_t i = 0; i < t->n_rows; i++)
            if (!dist->missing[i]) tot->distance += dist->values[i];
    }
    sf_source_close(s);
    return st == SF_END ? SF_OK : st;
}

static int fail(const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg); /* a bad predicate: "<where>:1:COLUMN: error: ..." */
    return err->status == SF_ERR_IO ? 2 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s TRIPS.csv [PREDICATE]\n", argv[0]);
        return 1;
    }
    const char *predicate = argc == 3 ? argv[2] : "trip_time_in_secs > 1200 and passenger_count >= 2";
    sf_error err;
    sf_source_options so;
    sf_source_options_init(&so);
    so.segment_bytes = 4 << 20; /* a task per 4 MiB of CSV (default 32 MiB) */
    count_job job = {0};
    sf_pool *pool = NULL;
    sf_source *file = NULL;
    int rc = 0;
    if (sf_source_open(&file, argv[1], &so, &err) != SF_OK) return fail(&err);
    /* Unknown columns and type errors are reported here, before any row is read. */
    if (sf_source_filter(&job.src, file, predicate, &err) != SF_OK) {
        sf_source_close(file); /* not taken: still ours */
        return fail(&err);
    }
    long dist = sf_source_column_index(job.src, "trip_distance");
    if (dist < 0 || sf_source_column_type(job.src, (size_t)dist) != SF_COL_FLOAT) {
        fprintf(stderr, "%s: no numeric column \"trip_distance\"\n", sf_source_name(job.src));
        sf_source_close(job.src);
        return 1;
    }
    job.distance = (size_t)dist;

    /* Segments are cut at record boundaries, fixed by the file, not the threads. */
    size_t n_seg;
    if (sf_source_n_segments(job.src, &n_seg, &err) != SF_OK || sf_pool_new(&pool, 0, &err) != SF_OK)
        goto error;
    job.seg = calloc(n_seg, sizeof *job.seg);
    if (!job.seg) {
        fprintf(stderr, "out of memory\n");
        rc = 1;
        goto done;
    }
    if (sf_pool_run(pool, n_seg, count_segment, &job, &err) != SF_OK) goto error;

    totals all = {0};
    for (size_t g = 0; g < n_seg; g++) { /* in segment order: the same sum for any threads */
        all.matched += job.seg[g].matched;
        all.distance += job.seg[g].distance;
    }
    uint64_t rows, dropped; /* what the filter saw over all segments */
    if (sf_source_filter_counts(job.src, &rows, &dropped, &err) != SF_OK) goto error;
    printf("trips: %llu (%zu segments on %zu threads)\n", (unsigned long long)rows, n_seg, sf_pool_size(pool));
    printf("long trips (%s): %llu (%.4f)\n", predicate, (unsigned long long)all.matched,
           rows ? (double)all.matched / (double)rows : 0.0);
    printf("their trip_distance: total %.17g, mean %.6f\n", all.distance,
           all.matched ? all.distance / (double)all.matched : 0.0);
    goto done;

error:
    rc = fail(&err);
done:
    free(job.seg);
    sf_pool_free(pool);
    sf_source_close(job.src); /* closes the file too */
    return rc;
}
