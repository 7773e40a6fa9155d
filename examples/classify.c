/* classify.c — seed 001: a StandardScaler then an SGD classifier fitted on an
 * HDF5 file larger than memory, parallel prediction back into HDF5, and the
 * held-out accuracy.
 *
 *   cc classify.c $(pkg-config --cflags --libs streamfit) -o classify
 *   streamfit gen classification --rows 1000000 --out train.csv
 *   streamfit convert train.csv --out train.h5
 *   ./classify train.h5:/ test.h5:/ predictions.h5 [model.h5]
 *
 * DATA is "file.h5:/group" (a group of 1-D column datasets, as `streamfit
 * convert` and h5py write them), "file.h5:/X" (a 2-D dataset; add the target with
 * sf_source_options.target = "/y"), a PyTables/pandas table, or a CSV file. The
 * target column is "y"; every other numeric column is a feature.
 *
 * The fit reads the file twice: pass 1 fits the scaler on every thread (one
 * partial state per segment, merged in segment order: the same model for any
 * thread count); pass 2 feeds the scaled rows to the SGD classifier in data order
 * (scikit-learn's partial_fit, bitwise), other threads reading and scaling ahead.
 */
#include <stdio.h>

#include <streamfit/streamfit.h>

static const char *spec = "scaler | sgd_classifier(loss=log_loss, alpha=1e-4)";

static int fail(const sf_error *err)
{
    char msg[1024];
    sf_error_format(err, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    return err->status == SF_ERR_IO ? 2 : 1;
}

/* Progress: called from the fit's threads, one call at a time; here only at the
 * end of each pass. */
static void on_progress(void *ctx, const sf_progress *p)
{
    (void)ctx;
    if (p->done && p->kind)
        fprintf(stderr, "stage %zu/%zu %s, pass %u: %llu rows\n", p->stage + 1, p->n_stages, p->kind,
                p->pass + 1, (unsigned long long)p->rows);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s TRAIN_DATA TEST_DATA PREDICTIONS.h5 [MODEL.h5]\n", argv[0]);
        return 1;
    }
    sf_error err;
    sf_pipeline *pl = NULL;
    sf_source *train = NULL, *test = NULL;
    sf_sink *sink = NULL;
    int rc = 0;

    /* Both sources first: a wrong path fails before a long fit. */
    if (sf_pipeline_new(&pl, spec, &err) != SF_OK || sf_source_open(&train, argv[1], NULL, &err) != SF_OK ||
        sf_source_open(&test, argv[2], NULL, &err) != SF_OK)
        goto error;

    /* Fit: the target by name, the features every other numeric column. */
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = 0; /* all CPUs */
    fo.target = "y";
    fo.has_seed = true; /* random_state of the SGD stage: a reproducible fit */
    fo.seed = 0;
    fo.progress = on_progress;
    if (sf_pipeline_fit(pl, train, &fo, &err) != SF_OK) goto error;
    sf_source_close(train);
    train = NULL;
    printf("fitted on %llu rows (%llu dropped for missing values), %zu features, %zu classes\n",
           (unsigned long long)sf_pipeline_rows_seen(pl), (unsigned long long)sf_pipeline_rows_dropped(pl),
           sf_pipeline_n_features(pl), sf_pipeline_n_classes(pl));

    /* Held-out score: one parallel pass over the test data. */
    sf_score sc;
    if (sf_pipeline_score(pl, test, 0, &sc, &err) != SF_OK) goto error;
    printf("held-out accuracy: %.6f (log loss %.6f, %llu rows)\n", sc.accuracy, sc.log_loss,
           (unsigned long long)sc.n);

    /* Predict the test rows into HDF5: segments predicted on all threads and
     * written in input order. The sink writes a temporary file and renames it
     * into place only at sf_sink_close; on error sf_sink_abort leaves nothing. */
    if (sf_source_rewind(test, &err) != SF_OK || sf_sink_open(&sink, argv[3], NULL, &err) != SF_OK)
        goto error;
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.what = SF_OUTPUT_PREDICT; /* SF_OUTPUT_PROBA for predict_proba */
    sf_predict_stats ps;
    if (sf_pipeline_predict(pl, test, sink, &po, &ps, &err) != SF_OK) goto error;
    sf_status st = sf_sink_close(sink, &err);
    sink = NULL;
    if (st != SF_OK) goto error;
    printf("predicted %llu rows into %s\n", (unsigned long long)ps.rows, argv[3]);

    /* Keep the model for later (predict_service.c loads it). */
    if (argc == 5) {
        if (sf_pipeline_save(pl, argv[4], &err) != SF_OK) goto error;
        printf("model saved to %s\n", argv[4]);
    }
    goto done;

error:
    rc = fail(&err);
done:
    sf_sink_abort(sink);
    sf_source_close(test);
    sf_source_close(train);
    sf_pipeline_free(pl);
    return rc;
}
