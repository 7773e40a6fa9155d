/* fit.c — `streamfit fit`, `export` and `predict`: the pipeline from the command
 * line. predict on a transformer-last pipeline writes the transformed matrix
 * (Decision 14): one output line per input row, empty fields for a row with a
 * missing feature (counted on stderr). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Prints a spec error as the spec and a caret under the offending column. */
static int report_spec(const sf_error *err, const char *spec)
{
    if (strcmp(err->where.source, "<pipeline>") != 0) return cli_report(err);
    fprintf(stderr, "streamfit: error in --pipeline: %s\n  %s\n  %*s^\n", err->message, spec,
            (int)(err->where.column ? err->where.column - 1 : 0), "");
    return EXIT_BAD_INPUT;
}

int cli_fit(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("fit needs DATA");
    if (!o->pipeline) return cli_usage_error("fit needs --pipeline SPEC (e.g. \"scaler\")");
    if (!o->model) return cli_usage_error("fit needs --model OUT.h5");
    sf_error err;
    sf_error_clear(&err);
    sf_pipeline *pl = NULL;
    sf_source *src = NULL;
    sf_status st = sf_pipeline_new(&pl, o->pipeline, &err);
    if (st != SF_OK) return report_spec(&err, o->pipeline);
    double t0 = cli_now();
    st = sf_source_open(&src, o->data, &o->src, &err);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = o->threads;
    fo.target = o->target;
    fo.columns = o->columns;
    fo.weight = o->weight;
    if (st == SF_OK) st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st == SF_OK) st = sf_pipeline_save(pl, o->model, &err);
    int rc = 0;
    if (st != SF_OK) rc = cli_report(&err);
    else if (!o->quiet)
        fprintf(stderr, "streamfit: fitted %zu stage%s on %llu rows (%llu dropped for missing values) "
                        "in %.2f s; model in %s\n",
                sf_pipeline_n_stages(pl), sf_pipeline_n_stages(pl) == 1 ? "" : "s",
                (unsigned long long)(sf_pipeline_rows_seen(pl) - sf_pipeline_rows_dropped(pl)),
                (unsigned long long)sf_pipeline_rows_dropped(pl), cli_now() - t0, o->model);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}

int cli_export(const cli_opts *o)
{
    const char *model = o->model ? o->model : o->data;
    if (!model) return cli_usage_error("export needs a model file");
    sf_error err;
    sf_pipeline *pl = NULL;
    char *json = NULL;
    sf_status st = sf_pipeline_load(&pl, model, &err);
    if (st == SF_OK) st = sf_pipeline_to_json(pl, &json, &err);
    if (st != SF_OK) {
        sf_pipeline_free(pl);
        return cli_report(&err);
    }
    if (o->json) printf("%s\n", json);
    else {
        printf("model %s: %zu stage%s, %zu feature columns, target %s\n", model, sf_pipeline_n_stages(pl),
               sf_pipeline_n_stages(pl) == 1 ? "" : "s", sf_pipeline_n_features(pl),
               *sf_pipeline_target(pl) ? sf_pipeline_target(pl) : "(none)");
        printf("fitted on %llu rows (%llu dropped for missing values)\n",
               (unsigned long long)(sf_pipeline_rows_seen(pl) - sf_pipeline_rows_dropped(pl)),
               (unsigned long long)sf_pipeline_rows_dropped(pl));
        printf("columns:");
        for (size_t j = 0; j < sf_pipeline_n_features(pl); j++) printf(" %s", sf_pipeline_feature_name(pl, j));
        printf("\nstages:");
        for (size_t k = 0; k < sf_pipeline_n_stages(pl); k++)
            printf("%s %s", k ? " |" : "", sf_pipeline_stage_kind(pl, k));
        printf("\n(--json prints every fitted attribute)\n");
    }
    free(json);
    sf_pipeline_free(pl);
    return 0;
}

int cli_predict(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("predict needs DATA");
    if (!o->model) return cli_usage_error("predict needs --model M.h5");
    sf_error err;
    sf_error_clear(&err);
    sf_pipeline *pl = NULL;
    sf_source *src = NULL;
    sf_sink *sink = NULL;
    double *x = NULL, *y = NULL;
    size_t *cols = NULL;
    uint64_t rows = 0, unpredictable = 0;
    sf_status st = sf_pipeline_load(&pl, o->model, &err);
    if (st == SF_OK) st = sf_source_open(&src, o->data, &o->src, &err);
    size_t p = sf_pipeline_n_features(pl), q = sf_pipeline_n_outputs(pl);
    if (st == SF_OK) {
        cols = calloc(p, sizeof *cols);
        if (!cols) st = SF_ERR_NOMEM;
        for (size_t j = 0; j < p && st == SF_OK; j++) {
            long c = sf_source_column_index(src, sf_pipeline_feature_name(pl, j));
            if (c < 0 || sf_source_column_type(src, (size_t)c) != SF_COL_FLOAT) {
                snprintf(err.message, sizeof err.message, "the model needs a numeric column \"%s\"",
                         sf_pipeline_feature_name(pl, j));
                snprintf(err.where.source, sizeof err.where.source, "%s", sf_source_name(src));
                st = err.status = SF_ERR_ARG;
            } else cols[j] = (size_t)c;
        }
    }
    if (st == SF_OK) st = sf_sink_open(&sink, o->out ? o->out : "-", &o->sink, &err);
    const char **names = calloc(q ? q : 1, sizeof *names);
    for (size_t j = 0; names && j < q && j < p; j++) names[j] = sf_pipeline_feature_name(pl, j);
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, &err)) == SF_OK) {
        double *nx = realloc(x, t->n_rows * p * sizeof *x), *ny = realloc(y, t->n_rows * q * sizeof *y);
        if (nx) x = nx;
        if (ny) y = ny;
        if (!nx || !ny) {
            st = SF_ERR_NOMEM;
            break;
        }
        /* rows with a missing feature are written as empty fields */
        size_t k = 0;
        for (size_t i = 0; i < t->n_rows; i++) {
            bool miss = false;
            for (size_t j = 0; j < p; j++) {
                x[k * p + j] = t->cols[cols[j]].values[i];
                miss = miss || t->cols[cols[j]].missing[i];
            }
            if (miss) unpredictable++;
            k++;
        }
        st = sf_pipeline_transform(pl, x, t->n_rows, p, p, y, q, &err);
        for (size_t i = 0; i < t->n_rows && st == SF_OK; i++)
            for (size_t j = 0; j < p; j++)
                if (t->cols[cols[j]].missing[i])
                    for (size_t m = 0; m < q; m++) y[i * q + m] = NAN;
        if (st == SF_OK) st = sf_sink_write_matrix(sink, "prediction", y, t->n_rows, q, q, names, &err);
        rows += t->n_rows;
    }
    if (st == SF_END) {
        st = sf_sink_close(sink, &err);
        sink = NULL;
    }
    int rc = 0;
    if (st != SF_OK) {
        if (err.status == SF_OK) err.status = st;
        rc = cli_report(&err);
    } else if (!o->quiet && unpredictable)
        fprintf(stderr, "streamfit: %llu of %llu rows had a missing feature (empty output fields)\n",
                (unsigned long long)unpredictable, (unsigned long long)rows);
    free(names);
    free(cols);
    free(x);
    free(y);
    sf_sink_abort(sink);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}
