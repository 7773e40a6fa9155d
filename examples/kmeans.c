/* kmeans.c — mini-batch k-means (scikit-learn's MiniBatchKMeans) on a file larger
 * than memory, then a few exact Lloyd passes over the whole file ("refine"), and
 * the inertia: the sum of squared distances from each row to its nearest center.
 *
 *   cc kmeans.c $(pkg-config --cflags --libs streamfit) -o kmeans
 *   streamfit gen blobs --rows 1000000 --centers 8 --features 10 --out blobs.csv
 *   ./kmeans blobs.csv 8 x0,x1,x2,x3,x4,x5,x6,x7,x8,x9
 *
 * COLUMNS (comma-separated) picks the features; without it every numeric column
 * is one. The mini-batch passes learn in data order on one thread (others read
 * ahead); each refinement pass sums every segment on its own thread and merges
 * the sums in segment order, so the centers are the same for any thread count.
 */
#include <stdio.h>
#include <stdlib.h>

#include <streamfit/streamfit.h>

static int fail(const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    return err->status == SF_ERR_IO ? 2 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s DATA N_CLUSTERS [COLUMNS]\n", argv[0]);
        return 1;
    }
    char *end;
    long k = strtol(argv[2], &end, 10);
    if (*end || k < 1) {
        fprintf(stderr, "N_CLUSTERS must be a positive integer, got \"%s\"\n", argv[2]);
        return 1;
    }
    /* The spec: scikit-learn's parameter names and defaults (batch_size=1024,
     * max_iter=100 …), plus refine=N exact Lloyd passes after the mini-batches. */
    char spec[128];
    snprintf(spec, sizeof spec, "minibatch_kmeans(n_clusters=%ld, refine=3)", k);

    sf_error err;
    sf_pipeline *pl = NULL;
    sf_source *src = NULL;
    int rc = 0;
    if (sf_pipeline_new(&pl, spec, &err) != SF_OK || sf_source_open(&src, argv[1], NULL, &err) != SF_OK)
        goto error;

    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.columns = argc == 4 ? argv[3] : NULL; /* no target: k-means is unsupervised */
    fo.has_seed = true;                       /* random_state: the initial centers */
    fo.seed = 0;
    if (sf_pipeline_fit(pl, src, &fo, &err) != SF_OK) goto error;

    /* The inertia over the whole file: one more parallel pass. */
    sf_score sc;
    if (sf_pipeline_score(pl, src, 0, &sc, &err) != SF_OK) goto error;
    printf("%s on %zu features, %llu rows (%llu dropped for missing values)\n", spec,
           sf_pipeline_n_features(pl), (unsigned long long)sc.n, (unsigned long long)sc.dropped);
    printf("inertia: %.17g\n", sc.inertia);
    printf("inertia per row: %.6f\n", sc.n ? sc.inertia / (double)sc.n : 0.0);

    /* One row through the fitted model: its cluster and its distances to every
     * center (SF_OUTPUT_TRANSFORM, scikit-learn's transform()). Any number of
     * threads may do this at once on the fitted pipeline. */
    size_t p = sf_pipeline_n_features(pl), nk = sf_pipeline_n_outputs_as(pl, SF_OUTPUT_TRANSFORM);
    double *row = calloc(p, sizeof *row), *dist = calloc(nk, sizeof *dist), label;
    if (!row || !dist) {
        fprintf(stderr, "out of memory\n");
        rc = 1;
    } else if (sf_pipeline_predict_as(pl, SF_OUTPUT_PREDICT, row, 1, p, p, &label, 1, &err) != SF_OK ||
               sf_pipeline_predict_as(pl, SF_OUTPUT_TRANSFORM, row, 1, p, p, dist, nk, &err) != SF_OK) {
        rc = fail(&err);
    } else {
        printf("the origin is in cluster %.0f, at distance %.6f from its center\n", label,
               dist[(size_t)label]);
    }
    free(row);
    free(dist);
    goto done;

error:
    rc = fail(&err);
done:
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}
