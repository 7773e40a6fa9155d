/* fit.c — `streamfit fit`, `export` and `predict`: the pipeline from the command
 * line. predict on a transformer-last pipeline writes the transformed matrix
 * (Decision 14): one output line per input row, empty fields for a row with a
 * missing feature or a malformed row (each counted on stderr), unless
 * `--on-error stop`. fit and update stop at a malformed row unless
 * `--on-error skip`. With a model, the data's column types are the model's
 * (enforced, not inferred). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/profile.h"

/* One line per pass on a terminal: pass k of stage s, rows, MB/s, ETA; and the
 * --profile rows (cli/profile.h). */
typedef struct fit_progress {
    cli_progress line;
    size_t stage;
    unsigned pass;
    bool started;
} fit_progress;

static void on_progress(void *ctx, const sf_progress *p)
{
    fit_progress *f = ctx;
    cli_profile_fit_progress(p);
    if (!f->line.on) return;
    if (!f->started || f->stage != p->stage || f->pass != p->pass) {
        f->line.t0 = cli_now();
        f->started = true;
        f->stage = p->stage;
        f->pass = p->pass;
    }
    char what[128];
    snprintf(what, sizeof what, "stage %zu/%zu %s, pass %u", p->stage + 1, p->n_stages,
             p->kind ? p->kind : "(classes)", p->pass + 1);
    f->line.what = what;
    f->line.last = 0; /* the library already paces its calls */
    cli_progress_update(&f->line, p->rows, p->bytes, p->total_bytes);
    if (p->done) cli_progress_end(&f->line);
}

sf_source_options cli_source_options(const cli_opts *o, bool skip_default, const sf_pipeline *model,
                                     bool with_target, char **owned)
{
    sf_source_options so = o->src;
    *owned = NULL;
    so.on_error = o->on_error >= 0 ? (sf_on_error)o->on_error
                                   : skip_default ? SF_ON_ERROR_SKIP : SF_ON_ERROR_STOP;
    char *t = NULL;
    sf_error e;
    if (!model || sf_pipeline_input_types(model, with_target, &t, &e) != SF_OK || !*t) {
        free(t);
        return so;
    }
    /* the user's --types come after the model's: they win */
    char *joined = NULL;
    if (o->src.types && *o->src.types && asprintf(&joined, "%s,%s", t, o->src.types) >= 0) {
        free(t);
        t = joined;
    }
    *owned = t;
    so.types = t;
    return so;
}

uint64_t cli_report_malformed(const cli_opts *o, const sf_source *src, uint64_t rows, const char *what)
{
    uint64_t n = 0;
    sf_error first;
    sf_source_bad_rows(src, &n, &first);
    if (n == 0 || o->quiet) return n;
    /* the line only: a column is known for some reads and not others (a replayed first chunk) */
    char where[320] = "";
    if (first.where.line)
        snprintf(where, sizeof where, "%s:%llu", first.where.source, (unsigned long long)first.where.line);
    else snprintf(where, sizeof where, "%s", first.where.source);
    fprintf(stderr, "streamfit: %llu of %llu rows %s malformed (%s); first: %s: %s", (unsigned long long)n,
            (unsigned long long)rows, n == 1 ? "was" : "were", what, where, first.message);
    if (first.field_name[0]) fprintf(stderr, " (column \"%s\")", first.field_name);
    fputc('\n', stderr);
    return n;
}

/* Bytes a finished pass read: the source's size when known (its segments read
 * it whole), else its own count (standard input). */
static uint64_t source_bytes(const sf_source *src)
{
    uint64_t size = sf_source_size(src);
    return size ? size : sf_source_bytes_read(src);
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
    if (st != SF_OK) return cli_report_caret(&err, o->pipeline, NULL);
    double t0 = cli_now();
    char *types = NULL;
    sf_source_options so = cli_source_options(o, false, NULL, false, &types);
    st = cli_open_source(o, o->data, &so, &src, &err);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = o->threads;
    fo.target = o->target;
    fo.columns = o->columns;
    fo.weight = o->weight;
    fo.epochs = o->epochs;
    fo.cache = o->cache;
    fo.formula = o->formula;
    fo.defines = o->defines;
    fo.design = &o->design;
    fo.init = o->init;
    fit_progress fp = {0};
    cli_progress_start(&fp.line, o, "fit");
    if (fp.line.on || cli_profile_on()) {
        fo.progress = on_progress;
        fo.progress_ctx = &fp;
    }
    fo.has_seed = o->has_seed;
    fo.seed = o->seed;
    cli_loss loss;
    int lrc = cli_loss_start(&loss, o, &fo);
    if (lrc) {
        sf_source_close(src);
        sf_pipeline_free(pl);
        return lrc;
    }
    if (st == SF_OK && !o->columns && !o->formula && !o->quiet) {
        /* Decision 13: categorical columns are not features without a formula */
        char names[512] = "";
        size_t n = 0, k = 0;
        for (size_t j = 0; j < sf_source_n_columns(src); j++) {
            const char *c = sf_source_column_name(src, j);
            if (sf_source_column_type(src, j) != SF_COL_CATEGORY || (o->target && !strcmp(c, o->target)) ||
                (o->weight && !strcmp(c, o->weight)))
                continue;
            if (k < sizeof names) k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", n ? ", " : "", c);
            n++;
        }
        if (n)
            fprintf(stderr, "streamfit: left out %zu categorical column%s (use a formula with C(...)): %s\n", n,
                    n == 1 ? "" : "s", names);
    }
    if (st == SF_OK) st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st == SF_OK) st = sf_pipeline_save(pl, o->model, &err);
    lrc = cli_loss_finish(&loss, o);
    int rc = 0;
    uint64_t bad = 0;
    if (st == SF_OK) sf_source_bad_rows(src, &bad, NULL);
    /* a malformed row has every field missing: the pipeline dropped it too */
    uint64_t dropped = sf_pipeline_rows_dropped(pl);
    dropped -= bad < dropped ? bad : dropped;
    if (st != SF_OK) rc = cli_report_caret(&err, o->pipeline, o->formula);
    else if (!o->quiet) {
        char by_where[64] = "";
        if (o->where)
            snprintf(by_where, sizeof by_where, "%llu dropped by --where, ",
                     (unsigned long long)cli_where_dropped(o, src));
        char skipped[64] = "";
        if (bad) snprintf(skipped, sizeof skipped, ", %llu malformed row%s skipped", (unsigned long long)bad,
                          bad == 1 ? "" : "s");
        fprintf(stderr, "streamfit: fitted %zu stage%s on %llu rows (%s%llu dropped for missing values%s) "
                        "in %.3f s; model in %s\n",
                sf_pipeline_n_stages(pl), sf_pipeline_n_stages(pl) == 1 ? "" : "s",
                (unsigned long long)(sf_pipeline_rows_seen(pl) - sf_pipeline_rows_dropped(pl)), by_where,
                (unsigned long long)dropped, skipped, cli_now() - t0, o->model);
        cli_report_malformed(o, src, sf_pipeline_rows_seen(pl), "skipped");
    }
    if (rc == 0) rc = lrc;
    free(types);
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
        if (sf_pipeline_n_features(pl) && !sf_pipeline_feature_name(pl, 0)) /* svmlight: unnamed */
            printf(" sparse, indices 0..%zu", sf_pipeline_n_features(pl) - 1);
        for (size_t j = 0; j < sf_pipeline_n_features(pl) && sf_pipeline_feature_name(pl, 0); j++)
            printf(" %s", sf_pipeline_feature_name(pl, j));
        printf("\nstages:");
        for (size_t k = 0; k < sf_pipeline_n_stages(pl); k++)
            printf("%s %s", k ? " |" : "", sf_pipeline_stage_kind(pl, k));
        printf("\n");
        char *table = NULL;
        sf_error e2;
        if (sf_pipeline_summary(pl, &table, &e2) == SF_OK) printf("\n%s\n", table);
        free(table);
        printf("(--json prints every fitted attribute)\n");
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
    sf_predict_options po;
    sf_predict_options_init(&po);
    po.threads = o->threads;
    po.what = o->output;
    sf_predict_stats stats = {0};
    sf_status st = sf_pipeline_load(&pl, o->model, &err);
    if (st == SF_OK && sf_pipeline_n_outputs_as(pl, po.what) == 0) {
        fprintf(stderr, "streamfit: %s (%s) does not give that output\n", o->model,
                sf_pipeline_stage_kind(pl, sf_pipeline_n_stages(pl) - 1));
        sf_pipeline_free(pl);
        return EXIT_BAD_INPUT;
    }
    /* the model's column types, enforced; malformed rows skipped unless --on-error stop */
    char *types = NULL;
    sf_source_options so = cli_source_options(o, true, pl, false, &types);
    if (st == SF_OK) st = cli_open_source(o, o->data, &so, &src, &err);
    if (st == SF_OK) st = sf_sink_open(&sink, o->out ? o->out : "-", &o->sink, &err);
    /* the library reports no progress while predicting: rows known at the end */
    cli_profile_pass_begin("pass 1", false);
    bool opened = st == SF_OK;
    if (st == SF_OK) st = sf_pipeline_predict(pl, src, sink, &po, &stats, &err);
    if (st == SF_OK) {
        cli_profile_add(stats.rows, source_bytes(src));
        cli_profile_pass_end();
    }
    int rc = 0;
    if (st != SF_OK && opened && st == SF_ERR_PARSE) {
        /* stopped at bad data: the predictions of the rows before it are kept */
        rc = cli_report(&err);
        sf_error e2;
        if (sf_sink_close(sink, &e2) != SF_OK) cli_report(&e2);
        sink = NULL;
    } else if (st == SF_OK) {
        st = sf_sink_close(sink, &err);
        sink = NULL;
    }
    if (st != SF_OK && rc == 0) rc = cli_report(&err);
    else if (st == SF_OK && !o->quiet && stats.unpredictable)
        fprintf(stderr, "streamfit: %llu of %llu rows had a missing feature (empty output fields)\n",
                (unsigned long long)stats.unpredictable, (unsigned long long)stats.rows);
    if (st == SF_OK && !o->quiet && o->where)
        fprintf(stderr, "streamfit: --where kept %llu rows and dropped %llu (no output line for them)\n",
                (unsigned long long)stats.rows, (unsigned long long)cli_where_dropped(o, src));
    if (st == SF_OK) cli_report_malformed(o, src, stats.rows, "empty output fields");
    free(types);
    sf_sink_abort(sink);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}

int cli_update(const cli_opts *o)
{
    if (!o->data || !o->data2) return cli_usage_error("update needs M.h5 DATA");
    const char *out = o->model ? o->model : o->data;
    sf_error err;
    sf_error_clear(&err);
    sf_pipeline *pl = NULL;
    sf_source *src = NULL;
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = o->threads;
    fo.weight = o->weight;
    fo.cache = o->cache;
    fit_progress fp = {0};
    cli_progress_start(&fp.line, o, "update");
    if (fp.line.on || cli_profile_on()) {
        fo.progress = on_progress;
        fo.progress_ctx = &fp;
    }
    cli_loss loss;
    int lrc = cli_loss_start(&loss, o, &fo);
    if (lrc) return lrc;
    double t0 = cli_now();
    uint64_t seen0 = 0, dropped0 = 0;
    sf_status st = sf_pipeline_load(&pl, o->data, &err);
    char *types = NULL;
    if (st == SF_OK) {
        seen0 = sf_pipeline_rows_seen(pl);
        dropped0 = sf_pipeline_rows_dropped(pl);
        sf_source_options so = cli_source_options(o, false, pl, true, &types);
        st = cli_open_source(o, o->data2, &so, &src, &err);
    }
    if (st == SF_OK) st = sf_pipeline_update(pl, src, &fo, &err);
    /* written to a temporary file and renamed: the old model survives a failure */
    if (st == SF_OK) st = sf_pipeline_save(pl, out, &err);
    lrc = cli_loss_finish(&loss, o);
    int rc = 0;
    uint64_t bad = 0;
    if (st == SF_OK) sf_source_bad_rows(src, &bad, NULL);
    if (st != SF_OK) rc = cli_report(&err);
    else if (!o->quiet) {
        char by_where[64] = "";
        if (o->where)
            snprintf(by_where, sizeof by_where, "%llu dropped by --where, ",
                     (unsigned long long)cli_where_dropped(o, src));
        uint64_t dropped = sf_pipeline_rows_dropped(pl) - dropped0;
        char skipped[64] = "";
        if (bad) snprintf(skipped, sizeof skipped, ", %llu malformed row%s skipped", (unsigned long long)bad,
                          bad == 1 ? "" : "s");
        fprintf(stderr, "streamfit: updated %zu stage%s on %llu rows (%s%llu dropped%s%s) in %.3f s; model in %s\n",
                sf_pipeline_n_stages(pl), sf_pipeline_n_stages(pl) == 1 ? "" : "s",
                (unsigned long long)(sf_pipeline_rows_seen(pl) - seen0 - dropped), by_where,
                (unsigned long long)(dropped - (bad < dropped ? bad : dropped)), o->where ? " for missing values" : "",
                skipped, cli_now() - t0, out);
        cli_report_malformed(o, src, sf_pipeline_rows_seen(pl) - seen0, "skipped");
    }
    if (rc == 0) rc = lrc;
    free(types);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}

int cli_score(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("score needs DATA");
    if (!o->model) return cli_usage_error("score needs --model M.h5");
    sf_error err;
    sf_error_clear(&err);
    sf_pipeline *pl = NULL;
    sf_source *src = NULL;
    sf_score sc;
    sf_status st = sf_pipeline_load(&pl, o->model, &err);
    char *types = NULL;
    sf_source_options so = cli_source_options(o, true, pl, true, &types);
    if (st == SF_OK) st = cli_open_source(o, o->data, &so, &src, &err);
    cli_profile_pass_begin("pass 1", false);
    if (st == SF_OK) st = sf_pipeline_score(pl, src, o->threads, &sc, &err);
    if (st == SF_OK) {
        cli_profile_add(sc.n + sc.dropped, source_bytes(src));
        cli_profile_pass_end();
    }
    int rc = 0;
    if (st != SF_OK) rc = cli_report(&err);
    else if (o->json) {
        printf("{\"rows\": %llu, \"dropped\": %llu, ", (unsigned long long)sc.n, (unsigned long long)sc.dropped);
        if (sc.malformed) printf("\"malformed\": %llu, ", (unsigned long long)sc.malformed);
        printf("\"score\": %.17g", sc.score);
        if (o->where) printf(", \"where_dropped\": %llu", (unsigned long long)cli_where_dropped(o, src));
        const char *names[] = {"accuracy", "log_loss", "r2", "mse", "inertia"};
        const double vals[] = {sc.accuracy, sc.log_loss, sc.r2, sc.mse, sc.inertia};
        for (int i = 0; i < 5; i++)
            if (!isnan(vals[i])) printf(", \"%s\": %.17g", names[i], vals[i]);
        printf("}\n");
    } else {
        printf("rows\t%llu\ndropped\t%llu\n", (unsigned long long)sc.n, (unsigned long long)sc.dropped);
        if (o->where) printf("where_dropped\t%llu\n", (unsigned long long)cli_where_dropped(o, src));
        if (sc.malformed) printf("malformed\t%llu\n", (unsigned long long)sc.malformed);
        if (!isnan(sc.accuracy)) printf("accuracy\t%.6f\n", sc.accuracy);
        if (!isnan(sc.log_loss)) printf("log_loss\t%.6f\n", sc.log_loss);
        if (!isnan(sc.r2)) printf("r2\t%.6f\nmse\t%.6g\n", sc.r2, sc.mse);
        if (!isnan(sc.inertia)) printf("inertia\t%.6g\n", sc.inertia);
    }
    if (st == SF_OK) cli_report_malformed(o, src, sc.n + sc.dropped + sc.malformed, "skipped");
    free(types);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return rc;
}
