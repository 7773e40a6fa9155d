/* filter_aggregate.c — seed 004's "count long trips": stream a CSV of taxi trips,
 * keep the rows a C predicate accepts, and aggregate them, in parallel over
 * segments of the file and in memory bounded by chunk x threads.
 *
 *   cc filter_aggregate.c $(pkg-config --cflags --libs streamfit) -o filter_aggregate
 *   ./filter_aggregate trips.csv
 *
 * The CSV needs the columns trip_time_in_secs, passenger_count and
 * trip_distance (any others are read and ignored). The pandas original:
 *   is_long = (df.trip_time_in_secs > 1200) & (df.passenger_count >= 2)
 *   sum(is_long), len(df), df.trip_distance[is_long].sum()
 * A missing field never matches (NaN > 1200 is false in pandas too).
 */
#include <stdio.h>
#include <stdlib.h>

#include <streamfit/streamfit.h>

/* The predicate: one row's values in, keep or not. */
static bool is_long_trip(double secs, double passengers)
{
    return secs > 1200 && passengers >= 2;
}

/* What each segment adds up; merged in segment order at the end. */
typedef struct {
    uint64_t rows, matched;
    double distance; /* Σ trip_distance over the matched rows with one */
} totals;

typedef struct {
    sf_source *src;
    size_t secs, passengers, distance; /* column indices */
    totals *seg;                       /* one per segment */
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
        const sf_column *secs = &t->cols[job->secs], *pass = &t->cols[job->passengers],
                        *dist = &t->cols[job->distance];
        tot->rows += t->n_rows;
        for (size_t i = 0; i < t->n_rows; i++) {
            if (secs->missing[i] || pass->missing[i] || !is_long_trip(secs->values[i], pass->values[i]))
                continue;
            tot->matched++;
            if (!dist->missing[i]) tot->distance += dist->values[i];
        }
    }
    sf_source_close(s);
    return st == SF_END ? SF_OK : st;
}

static int fail(const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    return err->status == SF_ERR_IO ? 2 : 1;
}

/* The index of a numeric column called name, or -1 with a message. */
static long numeric_column(const sf_source *src, const char *name)
{
    long j = sf_source_column_index(src, name);
    if (j < 0 || sf_source_column_type(src, (size_t)j) != SF_COL_FLOAT) {
        fprintf(stderr, "%s: no numeric column \"%s\"\n", sf_source_name(src), name);
        return -1;
    }
    return j;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TRIPS.csv\n", argv[0]);
        return 1;
    }
    sf_error err;
    sf_source_options so;
    sf_source_options_init(&so);
    so.segment_bytes = 4 << 20; /* a task per 4 MiB of CSV (default 32 MiB) */
    count_job job = {0};
    sf_pool *pool = NULL;
    int rc = 0;
    if (sf_source_open(&job.src, argv[1], &so, &err) != SF_OK) return fail(&err);
    long secs = numeric_column(job.src, "trip_time_in_secs");
    long pass = numeric_column(job.src, "passenger_count");
    long dist = numeric_column(job.src, "trip_distance");
    if (secs < 0 || pass < 0 || dist < 0) {
        sf_source_close(job.src);
        return 1;
    }
    job.secs = (size_t)secs;
    job.passengers = (size_t)pass;
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
        all.rows += job.seg[g].rows;
        all.matched += job.seg[g].matched;
        all.distance += job.seg[g].distance;
    }
    printf("trips: %llu (%zu segments on %zu threads)\n", (unsigned long long)all.rows, n_seg,
           sf_pool_size(pool));
    printf("long trips (trip_time_in_secs > 1200 and passenger_count >= 2): %llu (%.4f)\n",
           (unsigned long long)all.matched, all.rows ? (double)all.matched / (double)all.rows : 0.0);
    printf("their trip_distance: total %.17g, mean %.6f\n", all.distance,
           all.matched ? all.distance / (double)all.matched : 0.0);
    goto done;

error:
    rc = fail(&err);
done:
    free(job.seg);
    sf_pool_free(pool);
    sf_source_close(job.src);
    return rc;
}
