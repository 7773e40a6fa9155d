/* design_io.c — a design's fitted state in a model file (HDF5 group) and as a
 * JSON fragment, so predict rebuilds exactly the columns the fit made.
 *
 * The group holds the formula, parameters and defines as attributes and string
 * datasets, the columns the formula was bound to (names and types), the learned
 * levels of each categorical factor ("levels_<i>": text or float64), the
 * center()/standardize() accumulators ("transform_<s>": long doubles stored as
 * exact double pairs) and, for readers, the design's column names. Loading
 * parses the formula again, restores the state and finishes; a column list that
 * comes out different from the stored one marks the file as corrupt.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/h5util.h"
#include "preprocess/design_impl.h"
#include "preprocess/design_io.h"

/* long double -> (hi, lo) with hi + lo exact: x87 has 64 mantissa bits */
static void split_ld(long double x, double *hi, double *lo)
{
    *hi = (double)x;
    *lo = isfinite(*hi) ? (double)(x - *hi) : 0.0;
}

static long double join_ld(double hi, double lo) { return (long double)hi + lo; }

static sf_status corrupt(const sfi_h5ctx *c, const char *what)
{
    sf_where w;
    sfi_where_init(&w, c->file);
    return sfi_fail(c->err, SF_ERR_PARSE, &w, "corrupt model file: design %s", what);
}

sf_status sfi_design_save(const sf_design *d, hid_t g, const sfi_h5ctx *c)
{
    if (!d->bound) return sfi_fail(c->err, SF_ERR_STATE, NULL, "cannot save a design that is not bound");
    SF_TRY(sfi_h5_attr_write_str(c, g, "formula", d->f->text));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "na_action", d->p.na_action));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "unknown_level", d->p.unknown_level));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "max_levels", (int64_t)d->p.max_levels));
    SF_TRY(sfi_h5_attr_write_i64(c, g, "finished", d->finished));
    SF_TRY(sfi_h5_attr_write_str(c, g, "response", d->has_response ? d->f->factors[d->response].name : ""));
    size_t nmax = d->n_defs > d->n_cols ? d->n_defs : d->n_cols;
    const char **a = calloc(nmax + 1, sizeof *a), **b = calloc(nmax + 1, sizeof *b);
    double *flags = calloc(d->n_cols + 1, sizeof *flags);
    sf_status st = a && b && flags ? SF_OK : sfi_nomem(c->err);
    for (size_t i = 0; i < d->n_defs && st == SF_OK; i++) {
        a[i] = d->defs[i].name;
        b[i] = d->defs[i].text;
    }
    if (st == SF_OK) st = sfi_h5_write_strings(c, g, "define_names", a, d->n_defs);
    if (st == SF_OK) st = sfi_h5_write_strings(c, g, "define_values", b, d->n_defs);
    for (size_t k = 0; k < d->n_cols && st == SF_OK; k++) {
        a[k] = d->cols[k].name;
        flags[k] = d->cols[k].is_category + 2 * d->cols[k].is_integer + 4 * d->cols[k].all_int;
    }
    if (st == SF_OK) st = sfi_h5_write_strings(c, g, "bound_columns", a, d->n_cols);
    if (st == SF_OK) st = sfi_h5_write_vec(c, g, "bound_flags", flags, d->n_cols);
    free(a);
    free(b);
    free(flags);
    if (st == SF_OK && d->finished)
        st = sfi_h5_write_strings(c, g, "column_names", (const char *const *)d->names, d->n_out);
    char name[64];
    for (size_t i = 0; i < d->f->n_factors && st == SF_OK; i++) {
        const dfactor *f = &d->fac[i];
        if (!f->categorical || f->levels_given) continue;
        snprintf(name, sizeof name, "levels_%zu", i);
        if (f->seen.is_str) st = sfi_h5_write_strings(c, g, name, (const char *const *)f->seen.str, f->seen.n);
        else st = sfi_h5_write_vec(c, g, name, f->seen.num, f->seen.n);
    }
    /* a partial state remembers the first value outside a levels=[...] list */
    for (size_t i = 0; i < d->f->n_factors && st == SF_OK; i++) {
        const dfactor *f = &d->fac[i];
        if (!f->bad_value) continue;
        snprintf(name, sizeof name, "bad_value_%zu", i);
        st = sfi_h5_attr_write_str(c, g, name, f->bad_value);
        double where[2] = {(double)f->bad_row, (double)f->bad_line};
        snprintf(name, sizeof name, "bad_where_%zu", i);
        if (st == SF_OK) st = sfi_h5_write_vec(c, g, name, where, 2);
    }
    for (size_t s = 0; s < d->n_stats && st == SF_OK; s++) {
        const dstat *x = &d->stats[s];
        double v[9];
        v[0] = x->n;
        split_ld(x->sum, &v[1], &v[2]);
        split_ld(x->comp, &v[3], &v[4]);
        split_ld(x->mean, &v[5], &v[6]);
        split_ld(x->m2, &v[7], &v[8]);
        snprintf(name, sizeof name, "transform_%zu", s);
        st = sfi_h5_write_vec(c, g, name, v, 9);
    }
    return st;
}

static void free_strings(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static sf_status load_state(sf_design *d, hid_t g, const sfi_h5ctx *c)
{
    char name[64];
    sf_status st = SF_OK;
    for (size_t i = 0; i < d->f->n_factors && st == SF_OK; i++) {
        const dfactor *f = &d->fac[i];
        if (!f->categorical || f->levels_given) continue;
        snprintf(name, sizeof name, "levels_%zu", i);
        if (f->on_text) {
            char **v;
            size_t n;
            st = sfi_h5_read_strings(c, g, name, &v, &n);
            if (st == SF_OK) st = sfi_design_add_levels(d, i, v, NULL, n, c->err);
            if (st == SF_OK && d->fac[i].seen.n != n) st = corrupt(c, "levels repeat");
            free_strings(v, n);
        } else {
            double *v;
            size_t n;
            st = sfi_h5_read_vec(c, g, name, 0, &v, &n);
            for (size_t k = 0; k < n && st == SF_OK; k++)
                if (isnan(v[k])) st = corrupt(c, "levels hold NaN");
            if (st == SF_OK) st = sfi_design_add_levels(d, i, NULL, v, n, c->err);
            if (st == SF_OK && d->fac[i].seen.n != n) st = corrupt(c, "levels repeat");
            free(v);
        }
    }
    for (size_t i = 0; i < d->f->n_factors && st == SF_OK; i++) {
        snprintf(name, sizeof name, "bad_value_%zu", i);
        htri_t has = -1;
        H5E_BEGIN_TRY { has = H5Aexists(g, name); } H5E_END_TRY;
        if (has <= 0) continue;
        dfactor *f = &d->fac[i];
        st = sfi_h5_attr_read_str(c, g, name, &f->bad_value);
        double *where = NULL;
        snprintf(name, sizeof name, "bad_where_%zu", i);
        if (st == SF_OK) st = sfi_h5_read_vec(c, g, name, 2, &where, NULL);
        if (st == SF_OK) {
            f->bad_row = (uint64_t)where[0];
            f->bad_line = (uint64_t)where[1];
        }
        free(where);
    }
    for (size_t s = 0; s < d->n_stats && st == SF_OK; s++) {
        snprintf(name, sizeof name, "transform_%zu", s);
        double *v;
        st = sfi_h5_read_vec(c, g, name, 9, &v, NULL);
        if (st != SF_OK) break;
        dstat *x = &d->stats[s];
        if (!(v[0] >= 0) || v[0] != floor(v[0])) st = corrupt(c, "transform count is not a count");
        x->n = v[0];
        x->sum = join_ld(v[1], v[2]);
        x->comp = join_ld(v[3], v[4]);
        x->mean = join_ld(v[5], v[6]);
        x->m2 = join_ld(v[7], v[8]);
        free(v);
    }
    return st;
}

sf_status sfi_design_load(sf_design **out, hid_t g, const sfi_h5ctx *c)
{
    *out = NULL;
    char *formula = NULL, *response = NULL;
    int64_t na = 0, unk = 0, maxl = 0, finished = 0;
    SF_TRY(sfi_h5_attr_read_str(c, g, "formula", &formula));
    sf_status st = sfi_h5_attr_read_i64(c, g, "na_action", &na);
    if (st == SF_OK) st = sfi_h5_attr_read_i64(c, g, "unknown_level", &unk);
    if (st == SF_OK) st = sfi_h5_attr_read_i64(c, g, "max_levels", &maxl);
    if (st == SF_OK) st = sfi_h5_attr_read_i64(c, g, "finished", &finished);
    if (st == SF_OK) st = sfi_h5_attr_read_str(c, g, "response", &response);
    sf_design_params p;
    sf_design_params_default(&p);
    p.na_action = (sf_na_action)na;
    p.unknown_level = (sf_unknown_level)unk;
    p.max_levels = maxl > 0 ? (size_t)maxl : 0;
    sf_design *d = NULL;
    if (st == SF_OK && (sf_design_new(&d, formula, &p, c->err) != SF_OK)) st = corrupt(c, "formula or parameters are invalid");
    char **dn = NULL, **dv = NULL, **cols = NULL, **names = NULL;
    size_t n_dn = 0, n_dv = 0, n_cols = 0, n_names = 0;
    double *flags = NULL;
    if (st == SF_OK) st = sfi_h5_read_strings(c, g, "define_names", &dn, &n_dn);
    if (st == SF_OK) st = sfi_h5_read_strings(c, g, "define_values", &dv, &n_dv);
    if (st == SF_OK && n_dn != n_dv) st = corrupt(c, "defines do not pair up");
    for (size_t i = 0; i < n_dn && st == SF_OK; i++)
        if (sf_design_define(d, dn[i], dv[i], c->err) != SF_OK) st = corrupt(c, "define is invalid");
    if (st == SF_OK) st = sfi_h5_read_strings(c, g, "bound_columns", &cols, &n_cols);
    if (st == SF_OK) st = sfi_h5_read_vec(c, g, "bound_flags", n_cols, &flags, NULL);
    bool *cat = NULL, *integer = NULL;
    if (st == SF_OK) {
        cat = calloc(n_cols + 1, sizeof *cat);
        integer = calloc(n_cols + 1, sizeof *integer);
        if (!cat || !integer) st = sfi_nomem(c->err);
    }
    for (size_t k = 0; k < n_cols && st == SF_OK; k++) {
        int fl = (int)flags[k];
        if (flags[k] != fl || fl < 0 || fl > 7) st = corrupt(c, "column flags are invalid");
        cat[k] = fl & 1;
        integer[k] = (fl & 2) != 0;
    }
    if (st == SF_OK) {
        schema sc;
        sfi_design_names_schema(&sc, n_cols, cols, cat, integer);
        if (sfi_design_bind_saved(d, &sc, c->err) != SF_OK || d->n_cols != n_cols) st = corrupt(c, "columns do not fit its formula");
        for (size_t k = 0; k < d->n_cols && st == SF_OK; k++) {
            if (strcmp(d->cols[k].name, cols[k]) != 0) st = corrupt(c, "columns are out of order");
            else d->cols[k].all_int = ((int)flags[k] & 4) != 0;
        }
    }
    if (st == SF_OK && strcmp(response, d->has_response ? d->f->factors[d->response].name : "") != 0)
        st = corrupt(c, "response does not fit its formula");
    if (st == SF_OK) st = load_state(d, g, c);
    if (st == SF_OK && finished) {
        if (sf_design_finish(d, c->err) != SF_OK) st = corrupt(c, "state does not finish");
        if (st == SF_OK) st = sfi_h5_read_strings(c, g, "column_names", &names, &n_names);
        bool same = st == SF_OK && n_names == d->n_out;
        for (size_t j = 0; same && j < n_names; j++) same = strcmp(names[j], d->names[j]) == 0;
        if (st == SF_OK && !same) st = corrupt(c, "columns differ from the stored column names");
    }
    free_strings(dn, n_dn);
    free_strings(dv, n_dv);
    free_strings(cols, n_cols);
    free_strings(names, n_names);
    free(flags);
    free(cat);
    free(integer);
    free(formula);
    free(response);
    if (st != SF_OK) {
        sf_design_free(d);
        return st;
    }
    *out = d;
    return SF_OK;
}

static void json_value(sfi_buf *b, const dvalue *v)
{
    if (v->kind == DV_STR) sfi_buf_json_string(b, v->str, strlen(v->str));
    else if (v->kind == DV_BOOL) sfi_buf_printf(b, "%s", v->num != 0 ? "true" : "false");
    else sfi_buf_json_number(b, v->num);
}

void sfi_design_to_json(const sf_design *d, sfi_buf *b)
{
    static const char *const contrasts[] = {"Treatment", "Sum", "Helmert", "Diff", "Poly"};
    sfi_buf_printf(b, "\"params\": {\"formula\": ");
    sfi_buf_json_string(b, d->f->text, strlen(d->f->text));
    sfi_buf_printf(b, ", \"na_action\": \"%s\", \"unknown_level\": \"%s\", \"max_levels\": %zu, \"defines\": {",
                   d->p.na_action == SF_NA_DROP ? "drop" : "error",
                   d->p.unknown_level == SF_UNKNOWN_ERROR ? "error" : "zero", d->p.max_levels);
    for (size_t i = 0; i < d->n_defs; i++) {
        sfi_buf_printf(b, "%s", i ? ", " : "");
        sfi_buf_json_string(b, d->defs[i].name, strlen(d->defs[i].name));
        sfi_buf_printf(b, ": ");
        sfi_buf_json_string(b, d->defs[i].text, strlen(d->defs[i].text));
    }
    sfi_buf_printf(b, "}}, \"columns\": [");
    for (size_t j = 0; j < d->n_out; j++) {
        sfi_buf_printf(b, "%s", j ? ", " : "");
        sfi_buf_json_string(b, d->names[j], strlen(d->names[j]));
    }
    sfi_buf_printf(b, "], \"response\": ");
    const char *resp = sf_design_response_name(d);
    if (resp) sfi_buf_json_string(b, resp, strlen(resp));
    else sfi_buf_printf(b, "null");
    sfi_buf_printf(b, ", \"intercept\": %s, \"factors\": [", sf_design_has_intercept(d) ? "true" : "false");
    for (size_t i = 0; d->fac && i < d->f->n_factors; i++) {
        const dfactor *f = &d->fac[i];
        sfi_buf_printf(b, "%s{\"name\": ", i ? ", " : "");
        sfi_buf_json_string(b, f->name, strlen(f->name));
        sfi_buf_printf(b, ", \"type\": \"%s\"", f->categorical ? "categorical" : "numerical");
        if (f->categorical) {
            sfi_buf_printf(b, ", \"contrast\": \"%s\"", contrasts[f->contrast]);
            if (f->has_ref) {
                sfi_buf_printf(b, ", \"%s\": ", f->contrast == CT_SUM ? "omit" : "reference");
                json_value(b, &f->ref);
            }
            if (f->levels) {
                sfi_buf_printf(b, ", \"levels\": [");
                for (size_t k = 0; k < f->n_levels; k++) {
                    sfi_buf_printf(b, "%s", k ? ", " : "");
                    json_value(b, &f->levels[k]);
                }
                sfi_buf_printf(b, "]");
            }
        }
        sfi_buf_printf(b, "}");
    }
    sfi_buf_printf(b, "], \"transforms\": [");
    for (size_t s = 0; s < d->n_stats; s++) {
        const dstat *x = &d->stats[s];
        sfi_buf_printf(b, "%s{\"expr\": ", s ? ", " : "");
        sfi_buf_json_string(b, d->f->text + x->span.start, x->span.end - x->span.start);
        sfi_buf_printf(b, ", \"kind\": \"%s\", \"n\": ", x->kind == ST_CENTER ? "center" : "standardize");
        sfi_buf_json_number(b, x->n);
        if (d->finished) {
            sfi_buf_printf(b, ", \"mean\": ");
            sfi_buf_json_number(b, (double)x->lshift);
            if (x->kind == ST_STANDARDIZE) {
                sfi_buf_printf(b, ", \"center\": %s, \"rescale\": %s, \"ddof\": ", x->center ? "true" : "false",
                               x->rescale ? "true" : "false");
                sfi_buf_json_number(b, x->ddof);
                sfi_buf_printf(b, ", \"scale\": ");
                sfi_buf_json_number(b, (double)x->scale);
            }
        }
        sfi_buf_printf(b, "}");
    }
    sfi_buf_printf(b, "]");
}
