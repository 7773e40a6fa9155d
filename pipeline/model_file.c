/* model_file.c — saving and loading a fitted pipeline as HDF5 (DESIGN.md):
 *
 *   /            attrs format="streamfit-model", version=1, n_stages, target,
 *                pipeline (the spec), rows_seen, rows_dropped; datasets "columns"
 *                (feature names), and for classifiers "classes" (sorted values)
 *                and, for a categorical target, "class_labels"
 *   /stage_K     attrs kind; the stage's parameters (attributes) and fitted state
 *                (1-D float64 datasets with fletcher32 checksums)
 *
 * Written to a temporary file beside the target and renamed over it only when
 * complete, so a crash or a full disk never leaves a half-written model over a
 * good one. Loading checks format, version, kinds and shapes and refuses a
 * corrupt, truncated or foreign file with SF_ERR_PARSE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipeline_impl.h"
#include "preprocess/design_io.h"

enum { MODEL_VERSION = 1 };

static sf_status write_model(const sf_pipeline *pl, const char *tmp, const sfi_h5ctx *c)
{
    hid_t f = -1;
    H5E_BEGIN_TRY { f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
    if (f < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_IO, &w, "cannot create the model file");
    }
    sf_status st = sfi_h5_attr_write_str(c, f, "format", "streamfit-model");
    if (st == SF_OK) st = sfi_h5_attr_write_i64(c, f, "version", MODEL_VERSION);
    if (st == SF_OK) st = sfi_h5_attr_write_i64(c, f, "n_stages", (int64_t)pl->n_stages);
    if (st == SF_OK) st = sfi_h5_attr_write_str(c, f, "target", pl->target ? pl->target : "");
    if (st == SF_OK) st = sfi_h5_attr_write_i64(c, f, "rows_seen", (int64_t)pl->rows_seen);
    if (st == SF_OK) st = sfi_h5_attr_write_i64(c, f, "rows_dropped", (int64_t)pl->rows_dropped);
    if (st == SF_OK) st = sfi_h5_attr_write_str(c, f, "pipeline", pl->spec_text ? pl->spec_text : "");
    /* a sparse model's CSR features have no names: their number instead */
    if (st == SF_OK && pl->sparse) st = sfi_h5_attr_write_i64(c, f, "sparse_n_features", (int64_t)pl->n_features);
    if (st == SF_OK && !pl->sparse)
        st = sfi_h5_write_strings(c, f, "columns", (const char *const *)pl->features, pl->n_features);
    if (st == SF_OK && pl->n_classes) st = sfi_h5_write_vec(c, f, "classes", pl->classes, pl->n_classes);
    if (st == SF_OK && pl->class_labels)
        st = sfi_h5_write_strings(c, f, "class_labels", (const char *const *)pl->class_labels, pl->n_classes);
    if (st == SF_OK && pl->design) {
        hid_t g = -1;
        H5E_BEGIN_TRY { g = H5Gcreate2(f, "design", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
        st = g < 0 ? sfi_fail(c->err, SF_ERR_IO, NULL, "cannot create group design")
                   : sfi_design_save(pl->design, g, c);
        if (g >= 0) H5E_BEGIN_TRY { H5Gclose(g); } H5E_END_TRY;
    }
    for (size_t k = 0; k < pl->n_stages && st == SF_OK; k++) {
        char name[32];
        snprintf(name, sizeof name, "stage_%zu", k);
        hid_t g = -1;
        H5E_BEGIN_TRY { g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
        if (g < 0) {
            st = sfi_fail(c->err, SF_ERR_IO, NULL, "cannot create group %s", name);
            break;
        }
        st = sfi_h5_attr_write_str(c, g, "kind", pl->ops[k]->kind);
        if (st == SF_OK) st = pl->ops[k]->save(pl->states[k], g, c);
        H5E_BEGIN_TRY { H5Gclose(g); } H5E_END_TRY;
    }
    herr_t r = -1;
    H5E_BEGIN_TRY {
        if (st == SF_OK) r = H5Fflush(f, H5F_SCOPE_GLOBAL);
        if (H5Fclose(f) < 0) r = -1;
    } H5E_END_TRY;
    if (st == SF_OK && r < 0) {
        sf_where w;
        sfi_where_init(&w, c->file);
        st = sfi_fail(c->err, SF_ERR_IO, &w, "cannot write the model file (disk full?)");
    }
    return st;
}

sf_status sf_pipeline_save(const sf_pipeline *pl, const char *path, sf_error *err)
{
    if (!pl || !path || !*path) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_save: bad argument");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    sfi_h5ctx c = {path, err};
    /* the new model is renamed over path: never over a device or a pipe (as root,
     * `--model /dev/null` replaced /dev/null with a regular file) */
    if (!sfi_is_regular_or_absent(path)) {
        sf_where w;
        sfi_where_init(&w, path);
        return sfi_fail(err, SF_ERR_IO, &w, "a model file must be a regular file, not a device, pipe or directory");
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return sfi_nomem(err);
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        sf_where w;
        sfi_where_init(&w, path);
        free(tmp);
        return sfi_fail(err, SF_ERR_IO, &w, "cannot create: %s", strerror(errno));
    }
    fchmod(fd, 0644);
    close(fd);
    sf_status st = write_model(pl, tmp, &c);
    if (st == SF_OK && rename(tmp, path) != 0) {
        sf_where w;
        sfi_where_init(&w, path);
        st = sfi_fail(err, SF_ERR_IO, &w, "cannot rename into place: %s", strerror(errno));
    }
    if (st != SF_OK) unlink(tmp);
    free(tmp);
    return st;
}

static sf_status refuse(const sfi_h5ctx *c, const char *what)
{
    sf_where w;
    sfi_where_init(&w, c->file);
    return sfi_fail(c->err, SF_ERR_PARSE, &w, "not a streamfit model: %s", what);
}

static bool has_link(hid_t f, const char *name)
{
    htri_t r = -1;
    H5E_BEGIN_TRY { r = H5Lexists(f, name, H5P_DEFAULT); } H5E_END_TRY;
    return r > 0;
}

/* The spec (so the pipeline can be refitted); its stages must be the file's. */
static sf_status read_spec(sf_pipeline *pl, hid_t f, const sfi_h5ctx *c)
{
    htri_t has = -1;
    H5E_BEGIN_TRY { has = H5Aexists(f, "pipeline"); } H5E_END_TRY;
    if (has <= 0) return SF_OK;
    SF_TRY(sfi_h5_attr_read_str(c, f, "pipeline", &pl->spec_text));
    sf_error e;
    if (*pl->spec_text && sfi_spec_parse(pl->spec_text, &pl->spec, &e) != SF_OK)
        return refuse(c, "its pipeline attribute does not parse");
    return SF_OK;
}

static sf_status read_classes(sf_pipeline *pl, hid_t f, const sfi_h5ctx *c)
{
    if (!has_link(f, "classes")) return SF_OK;
    SF_TRY(sfi_h5_read_vec(c, f, "classes", 0, &pl->classes, &pl->n_classes));
    if (pl->n_classes == 0) return refuse(c, "empty classes");
    for (size_t i = 1; i < pl->n_classes; i++)
        if (!(pl->classes[i - 1] < pl->classes[i])) return refuse(c, "classes not sorted");
    if (!has_link(f, "class_labels")) return SF_OK;
    size_t n = 0;
    SF_TRY(sfi_h5_read_strings(c, f, "class_labels", &pl->class_labels, &n));
    if (n != pl->n_classes) {
        for (size_t i = 0; i < n; i++) free(pl->class_labels[i]);
        free(pl->class_labels);
        pl->class_labels = NULL;
        return refuse(c, "class_labels and classes differ in length");
    }
    for (size_t i = 0; i < n; i++)
        if (pl->classes[i] != (double)i || (i && strcmp(pl->class_labels[i - 1], pl->class_labels[i]) >= 0))
            return refuse(c, "class_labels not sorted or classes not their codes");
    return SF_OK;
}

/* The formula's design; its columns must be the file's feature columns. */
static sf_status read_design(sf_pipeline *pl, hid_t f, const sfi_h5ctx *c)
{
    if (!has_link(f, "design")) return SF_OK;
    if (pl->sparse) return refuse(c, "a sparse model with a design");
    hid_t g = -1;
    H5E_BEGIN_TRY { g = H5Gopen2(f, "design", H5P_DEFAULT); } H5E_END_TRY;
    if (g < 0) return refuse(c, "unreadable design group");
    sf_status st = sfi_design_load(&pl->design, g, c);
    H5E_BEGIN_TRY { H5Gclose(g); } H5E_END_TRY;
    SF_TRY(st);
    if (!sf_design_is_finished(pl->design) || sf_design_n_columns(pl->design) != pl->n_features)
        return refuse(c, "its design and its feature columns differ");
    for (size_t j = 0; j < pl->n_features; j++)
        if (strcmp(sf_design_column_name(pl->design, j), pl->features[j]) != 0)
            return refuse(c, "its design and its feature columns differ");
    return SF_OK;
}

static sf_status read_model(sf_pipeline *pl, hid_t f, const sfi_h5ctx *c)
{
    char *format = NULL;
    if (sfi_h5_attr_read_str(c, f, "format", &format) != SF_OK || strcmp(format, "streamfit-model") != 0) {
        free(format);
        return refuse(c, "no format=\"streamfit-model\" attribute");
    }
    free(format);
    int64_t version, n_stages, seen, dropped;
    SF_TRY(sfi_h5_attr_read_i64(c, f, "version", &version));
    if (version != MODEL_VERSION) {
        sf_where w;
        sfi_where_init(&w, c->file);
        return sfi_fail(c->err, SF_ERR_UNSUPPORTED, &w, "model format version %lld, this streamfit "
                        "reads version %d", (long long)version, MODEL_VERSION);
    }
    SF_TRY(sfi_h5_attr_read_i64(c, f, "n_stages", &n_stages));
    SF_TRY(sfi_h5_attr_read_i64(c, f, "rows_seen", &seen));
    SF_TRY(sfi_h5_attr_read_i64(c, f, "rows_dropped", &dropped));
    if (n_stages < 1 || n_stages > 1000) return refuse(c, "bad n_stages");
    SF_TRY(sfi_h5_attr_read_str(c, f, "target", &pl->target));
    htri_t sparse = -1;
    H5E_BEGIN_TRY { sparse = H5Aexists(f, "sparse_n_features"); } H5E_END_TRY;
    if (sparse > 0) {
        int64_t nf;
        SF_TRY(sfi_h5_attr_read_i64(c, f, "sparse_n_features", &nf));
        if (nf < 1 || nf > INT32_MAX + 1LL) return refuse(c, "bad sparse_n_features");
        pl->sparse = true;
        pl->n_features = (size_t)nf;
    } else {
        SF_TRY(sfi_h5_read_strings(c, f, "columns", &pl->features, &pl->n_features));
    }
    if (pl->n_features == 0) return refuse(c, "no feature columns");
    SF_TRY(read_spec(pl, f, c));
    SF_TRY(read_classes(pl, f, c));
    SF_TRY(read_design(pl, f, c));
    if (seen < 0 || dropped < 0 || dropped > seen) return refuse(c, "bad rows_seen / rows_dropped");
    for (size_t j = 0; pl->features && j < pl->n_features; j++)
        for (size_t i = 0; i < j; i++)
            if (strcmp(pl->features[i], pl->features[j]) == 0) return refuse(c, "a feature column named twice");
    pl->rows_seen = (uint64_t)seen;
    pl->rows_dropped = (uint64_t)dropped;
    pl->n_stages = (size_t)n_stages;
    pl->ops = calloc(pl->n_stages, sizeof *pl->ops);
    pl->states = calloc(pl->n_stages, sizeof *pl->states);
    pl->width_in = calloc(pl->n_stages, sizeof *pl->width_in);
    if (!pl->ops || !pl->states || !pl->width_in) return sfi_nomem(c->err);
    size_t width = pl->n_features;
    for (size_t k = 0; k < pl->n_stages; k++) {
        char name[32];
        snprintf(name, sizeof name, "stage_%zu", k);
        hid_t g = -1;
        H5E_BEGIN_TRY {
            if (H5Lexists(f, name, H5P_DEFAULT) > 0) g = H5Gopen2(f, name, H5P_DEFAULT);
        } H5E_END_TRY;
        if (g < 0) return refuse(c, "a stage group is missing");
        char *kind = NULL;
        sf_status st = sfi_h5_attr_read_str(c, g, "kind", &kind);
        if (st == SF_OK && !(pl->ops[k] = sfi_stage_find(kind))) {
            sf_where w;
            sfi_where_init(&w, c->file);
            st = sfi_fail(c->err, SF_ERR_UNSUPPORTED, &w, "unknown stage kind \"%s\" in %s", kind, name);
        }
        free(kind);
        pl->width_in[k] = width;
        if (st == SF_OK) st = pl->ops[k]->load(&pl->states[k], g, width, c);
        H5E_BEGIN_TRY { H5Gclose(g); } H5E_END_TRY;
        if (st != SF_OK) return st;
        if (pl->spec.n_stages && (pl->spec.n_stages != pl->n_stages ||
                                  sfi_stage_find(pl->spec.stages[k].kind) != pl->ops[k]))
            return refuse(c, "its pipeline attribute names other stages than it holds");
        if (pl->ops[k]->estimator && k + 1 != pl->n_stages) return refuse(c, "an estimator before the last stage");
        width = pl->ops[k]->n_outputs(pl->states[k], width);
    }
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    if (last->classifier && !pl->n_classes) return refuse(c, "a classifier without classes");
    pl->fitted = true;
    return SF_OK;
}

sf_status sf_pipeline_load(sf_pipeline **out, const char *path, sf_error *err)
{
    if (!out || !path) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_load: NULL argument");
    *out = NULL;
    sf_library_init();
    sfi_h5ctx c = {path, err};
    sf_where w;
    sfi_where_init(&w, path);
    if (access(path, R_OK) != 0) return sfi_fail(err, SF_ERR_IO, &w, "cannot open: %s", strerror(errno));
    htri_t is_h5 = -1;
    hid_t f = -1;
    H5E_BEGIN_TRY {
        is_h5 = H5Fis_hdf5(path);
        /* strong close: a corrupt file may fail half-way with objects still open */
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
        if (is_h5 > 0) f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
    } H5E_END_TRY;
    if (is_h5 <= 0) return sfi_fail(err, SF_ERR_PARSE, &w, "not a streamfit model: not an HDF5 file");
    if (f < 0) return sfi_fail(err, SF_ERR_PARSE, &w, "corrupt or truncated HDF5 file");
    sf_pipeline *pl = calloc(1, sizeof *pl);
    sf_status st = pl ? read_model(pl, f, &c) : sfi_nomem(err);
    H5E_BEGIN_TRY { H5Fclose(f); } H5E_END_TRY;
    if (st != SF_OK) {
        sf_pipeline_free(pl); /* skips stages that were not loaded */
        return st;
    }
    *out = pl;
    return SF_OK;
}
