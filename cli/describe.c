/* describe.c — `streamfit describe DATA`: one pass, parallel over segments.
 *
 * Each segment accumulates, per numeric column, the library's standard-scaler
 * state (count, shifted mean and M2: exact merges, see sf_scaler.h) plus missing,
 * min and max; per categorical column, level counts. Segment states are merged in
 * segment order, so the output is the same for any --threads. std is the sample
 * standard deviation (ddof=1), as pandas' describe().
 *
 * A sparse source (svmlight) also reports its CSR part: features, stored values,
 * density (stored / rows x features), stored values per row, and its labels with
 * their counts while there are at most MAX_LABELS distinct ones.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/profile.h"

typedef struct col_acc {
    uint64_t count, missing;
    sf_scaler *moments;     /* numeric: n, mean, var (ddof 0) */
    double min, max;
    sf_dict *levels;        /* category: owned labels, first-appearance order */
    uint64_t *freq;         /* category: count per code */
    size_t freq_cap;
} col_acc;

enum { MAX_LABELS = 32 };

/* Distinct labels (sorted) and their counts; many = more than MAX_LABELS. */
typedef struct label_acc {
    double v[MAX_LABELS];
    uint64_t n[MAX_LABELS];
    size_t k;
    bool many;
} label_acc;

typedef struct seg_acc {
    col_acc *cols;
    uint64_t rows;
    uint64_t nnz, max_row_nnz;  /* sparse sources */
    label_acc labels;
} seg_acc;

static void label_add(label_acc *a, double v, uint64_t count)
{
    if (a->many || isnan(v)) return;
    size_t i = 0;
    while (i < a->k && a->v[i] < v) i++;
    if (i < a->k && a->v[i] == v) {
        a->n[i] += count;
        return;
    }
    if (a->k == MAX_LABELS) {
        a->many = true;
        return;
    }
    memmove(a->v + i + 1, a->v + i, (a->k - i) * sizeof *a->v);
    memmove(a->n + i + 1, a->n + i, (a->k - i) * sizeof *a->n);
    a->v[i] = v;
    a->n[i] = count;
    a->k++;
}

static void sparse_add(seg_acc *s, const sf_table *t)
{
    const sf_csr *c = t->csr;
    s->nnz += c->indptr[t->n_rows] - c->indptr[0];
    for (size_t i = 0; i < t->n_rows; i++) {
        uint64_t m = c->indptr[i + 1] - c->indptr[i];
        if (m > s->max_row_nnz) s->max_row_nnz = m;
        if (!s->labels.many) label_add(&s->labels, t->cols[0].values[i], 1);
    }
}

typedef struct describe_job {
    sf_source *src;
    size_t n_cols;
    bool whole;             /* read src itself (standard input) */
    seg_acc *segs;
    size_t n_seg;
    cli_progress *progress;
    const char *where;      /* --where, or NULL */
    uint64_t where_dropped;
} describe_job;

static sf_status nomem(sf_error *err)
{
    err->status = SF_ERR_NOMEM;
    snprintf(err->message, sizeof err->message, "out of memory");
    return SF_ERR_NOMEM;
}

static sf_status merge_numeric(col_acc *a, const col_acc *b, sf_error *err)
{
    if (b->count == 0) return SF_OK;
    if (!a->moments) {
        sf_status st = sf_scaler_new(&a->moments, NULL, err);
        if (st != SF_OK) return st;
    }
    sf_status st = sf_scaler_merge(a->moments, b->moments, err);
    if (st != SF_OK) return st;
    if (a->count == 0 || b->min < a->min) a->min = b->min;
    if (a->count == 0 || b->max > a->max) a->max = b->max;
    a->count += b->count;
    return SF_OK;
}

static sf_status accumulate_float(col_acc *a, const sf_column *c, size_t n, sf_error *err)
{
    uint64_t k = 0;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (c->missing[i]) continue;
        double v = c->values[i];
        k++;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    a->missing += n - k;
    if (k == 0) return SF_OK;
    if (!a->moments) {
        sf_status st = sf_scaler_new(&a->moments, NULL, err);
        if (st != SF_OK) return st;
    }
    /* one column is a contiguous n x 1 matrix; missing values are NaN, skipped */
    sf_status st = sf_scaler_partial_fit(a->moments, c->values, n, 1, 1, NULL, err);
    if (st != SF_OK) return st;
    if (a->count == 0 || mn < a->min) a->min = mn;
    if (a->count == 0 || mx > a->max) a->max = mx;
    a->count += k;
    return SF_OK;
}

static sf_status grow_freq(col_acc *a, size_t need, sf_error *err)
{
    if (need <= a->freq_cap) return SF_OK;
    size_t cap = a->freq_cap ? a->freq_cap : 16;
    while (cap < need) cap *= 2;
    uint64_t *f = realloc(a->freq, cap * sizeof *f);
    if (!f) return nomem(err);
    memset(f + a->freq_cap, 0, (cap - a->freq_cap) * sizeof *f);
    a->freq = f;
    a->freq_cap = cap;
    return SF_OK;
}

static sf_status accumulate_category(col_acc *a, const sf_column *c, size_t n, sf_error *err)
{
    sf_status st = grow_freq(a, sf_dict_size(c->dict), err);
    if (st != SF_OK) return st;
    for (size_t i = 0; i < n; i++) {
        if (c->missing[i]) a->missing++;
        else {
            a->freq[c->codes[i]]++;
            a->count++;
        }
    }
    return SF_OK;
}

/* Adds k occurrences of label to a's owned dictionary. */
static sf_status add_level(col_acc *a, const char *label, size_t len, uint64_t k, sf_error *err)
{
    int32_t code;
    sf_status st = sf_dict_intern(a->levels, label, len, &code, err);
    if (st != SF_OK) return st;
    if ((st = grow_freq(a, (size_t)code + 1, err)) != SF_OK) return st;
    a->freq[code] += k;
    return SF_OK;
}

/* Replaces code-indexed counts by counts over an owned copy of the labels:
 * a segment's dictionaries die with the segment. */
static sf_status own_levels(col_acc *a, const sf_dict *d, size_t max_levels, sf_error *err)
{
    uint64_t *by_code = a->freq;
    size_t n = a->freq_cap < sf_dict_size(d) ? a->freq_cap : sf_dict_size(d);
    a->freq = NULL;
    a->freq_cap = 0;
    sf_status st = sf_dict_new(&a->levels, max_levels, err);
    for (size_t c = 0; c < n && st == SF_OK; c++) {
        size_t len;
        const char *label = sf_dict_label(d, c, &len);
        if (by_code[c]) st = add_level(a, label, len, by_code[c], err);
    }
    free(by_code);
    return st;
}

static sf_status run_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    (void)worker;
    describe_job *job = ctx;
    seg_acc *s = &job->segs[seg];
    sf_source *src = job->src;
    if (!job->whole) {
        sf_status st = sf_source_open_segment(job->src, seg, &src, err);
        if (st != SF_OK) return st;
    }
    const sf_dict **dicts = calloc(job->n_cols, sizeof *dicts);
    s->cols = calloc(job->n_cols, sizeof *s->cols);
    sf_status st = (!dicts || !s->cols) ? nomem(err) : SF_OK;
    const sf_table *t;
    uint64_t bytes = 0; /* counting what opening the source read too */
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK) {
        uint64_t now = sf_source_bytes_read(src);
        cli_profile_add(t->n_rows, now - bytes);
        bytes = now;
        for (size_t j = 0; j < job->n_cols && st == SF_OK; j++) {
            const sf_column *c = &t->cols[j];
            if (c->type == SF_COL_FLOAT) st = accumulate_float(&s->cols[j], c, t->n_rows, err);
            else {
                dicts[j] = c->dict;
                st = accumulate_category(&s->cols[j], c, t->n_rows, err);
            }
        }
        s->rows += t->n_rows;
        if (t->csr) sparse_add(s, t);
        if (job->whole)
            cli_progress_update(job->progress, s->rows, sf_source_bytes_read(src), sf_source_size(src));
    }
    if (st == SF_END) st = SF_OK;
    for (size_t j = 0; j < job->n_cols && st == SF_OK; j++)
        if (sf_source_column_type(src, j) == SF_COL_CATEGORY)
            st = own_levels(&s->cols[j], dicts[j], SIZE_MAX / 2, err);
    free(dicts);
    if (!job->whole) sf_source_close(src);
    return st;
}

static void free_acc(col_acc *a)
{
    sf_scaler_free(a->moments);
    sf_dict_free(a->levels);
    free(a->freq);
}

static sf_status merge_segments(describe_job *job, size_t n_seg, col_acc *total, sf_error *err)
{
    for (size_t j = 0; j < job->n_cols; j++) {
        bool cat = sf_source_column_type(job->src, j) == SF_COL_CATEGORY;
        if (cat) {
            sf_status st = sf_dict_new(&total[j].levels, SIZE_MAX / 2, err);
            if (st != SF_OK) return st;
        }
        for (size_t g = 0; g < n_seg; g++) {
            col_acc *a = &job->segs[g].cols[j];
            total[j].missing += a->missing;
            if (!cat) {
                sf_status st = merge_numeric(&total[j], a, err);
                if (st != SF_OK) return st;
                continue;
            }
            total[j].count += a->count;
            for (size_t c = 0; c < sf_dict_size(a->levels); c++) {
                size_t len;
                const char *label = sf_dict_label(a->levels, c, &len);
                sf_status st = add_level(&total[j], label, len, a->freq[c], err);
                if (st != SF_OK) return st;
            }
        }
    }
    return SF_OK;
}

/* Codes of the `top` most frequent levels, ties in order of first appearance
 * (pandas' value_counts order for ties in a stable sort). */
static size_t top_levels(const col_acc *a, size_t top, size_t *out)
{
    size_t n = sf_dict_size(a->levels), k = 0;
    for (size_t c = 0; c < n; c++) {
        size_t pos = k < top ? k++ : top;
        while (pos > 0 && a->freq[out[pos - 1]] < a->freq[c]) {
            if (pos < top) out[pos] = out[pos - 1];
            pos--;
        }
        if (pos < top) out[pos] = c;
    }
    return k;
}

static void print_json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_json_number(double v)
{
    char buf[40];
    if (isnan(v)) fputs("null", stdout);
    else if (isinf(v)) fputs(v > 0 ? "\"inf\"" : "\"-inf\"", stdout);
    else {
        sf_format_double(v, buf, sizeof buf);
        fputs(buf, stdout);
    }
}

static double col_mean(const col_acc *a)
{
    return a->count ? sf_scaler_mean(a->moments)[0] : NAN;
}

static double col_std(const col_acc *a)
{
    if (a->count < 2) return NAN;
    double n = (double)a->count;
    return sqrt(sf_scaler_var(a->moments)[0] * (n / (n - 1)));
}

static void print_sparse(const describe_job *job, size_t n_seg, uint64_t rows, bool json);

static void print_json(const describe_job *job, const col_acc *tot, uint64_t rows, size_t top)
{
    size_t *idx = malloc((top ? top : 1) * sizeof *idx);
    printf("{\"source\": ");
    const char *name = sf_source_name(job->src);
    print_json_string(name, strlen(name));
    printf(", \"rows\": %llu, ", (unsigned long long)rows);
    if (job->where) {
        printf("\"where\": ");
        print_json_string(job->where, strlen(job->where));
        printf(", \"where_dropped\": %llu, ", (unsigned long long)job->where_dropped);
    }
    printf("\"columns\": [");
    for (size_t j = 0; j < job->n_cols; j++) {
        const col_acc *a = &tot[j];
        const char *cn = sf_source_column_name(job->src, j);
        printf("%s\n  {\"name\": ", j ? "," : "");
        print_json_string(cn, strlen(cn));
        bool cat = sf_source_column_type(job->src, j) == SF_COL_CATEGORY;
        printf(", \"type\": \"%s\", \"count\": %llu, \"missing\": %llu", cat ? "category" : "float",
               (unsigned long long)a->count, (unsigned long long)a->missing);
        if (!cat) {
            printf(", \"integer\": %s", sf_source_column_is_integer(job->src, j) ? "true" : "false");
            double vals[4] = {col_mean(a), col_std(a), a->count ? a->min : NAN,
                              a->count ? a->max : NAN};
            const char *keys[4] = {"mean", "std", "min", "max"};
            for (int k = 0; k < 4; k++) {
                printf(", \"%s\": ", keys[k]);
                print_json_number(vals[k]);
            }
        } else {
            printf(", \"levels\": %zu, \"top\": [", sf_dict_size(a->levels));
            size_t k = idx ? top_levels(a, top, idx) : 0;
            for (size_t i = 0; i < k; i++) {
                size_t len;
                const char *label = sf_dict_label(a->levels, idx[i], &len);
                printf("%s{\"value\": ", i ? ", " : "");
                print_json_string(label, len);
                printf(", \"count\": %llu}", (unsigned long long)a->freq[idx[i]]);
            }
            printf("]");
        }
        printf("}");
    }
    printf("\n]");
    if (sf_source_n_sparse_features(job->src)) print_sparse(job, job->n_seg, rows, true);
    printf("}\n");
    free(idx);
}

static void print_text(const describe_job *job, const col_acc *tot, uint64_t rows, size_t top)
{
    size_t *idx = malloc((top ? top : 1) * sizeof *idx);
    printf("%s: %llu rows, %zu columns", sf_source_name(job->src), (unsigned long long)rows, job->n_cols);
    if (job->where) printf(" (--where dropped %llu rows)", (unsigned long long)job->where_dropped);
    printf("\n");
    printf("%-16s %-8s %12s %10s %14s %14s %14s %14s\n", "column", "type", "count", "missing",
           "mean", "std", "min", "max");
    for (size_t j = 0; j < job->n_cols; j++) {
        const col_acc *a = &tot[j];
        bool cat = sf_source_column_type(job->src, j) == SF_COL_CATEGORY;
        printf("%-16s %-8s %12llu %10llu", sf_source_column_name(job->src, j),
               cat ? "category" : (sf_source_column_is_integer(job->src, j) ? "int" : "float"),
               (unsigned long long)a->count, (unsigned long long)a->missing);
        if (!cat) {
            printf(" %14.6g %14.6g %14.6g %14.6g\n", col_mean(a), col_std(a),
                   a->count ? a->min : NAN, a->count ? a->max : NAN);
            continue;
        }
        printf("  %zu levels; most frequent:", sf_dict_size(a->levels));
        size_t k = idx ? top_levels(a, top, idx) : 0;
        for (size_t i = 0; i < k; i++)
            printf(" %s (%llu)", sf_dict_label(a->levels, idx[i], NULL),
                   (unsigned long long)a->freq[idx[i]]);
        printf("\n");
    }
    free(idx);
}

/* The CSR part of a sparse source, merged in segment order. */
static void print_sparse(const describe_job *job, size_t n_seg, uint64_t rows, bool json)
{
    uint64_t nnz = 0, max_row = 0;
    label_acc lab = {.k = 0};
    for (size_t g = 0; g < n_seg; g++) {
        const seg_acc *s = &job->segs[g];
        nnz += s->nnz;
        if (s->max_row_nnz > max_row) max_row = s->max_row_nnz;
        lab.many = lab.many || s->labels.many;
        for (size_t i = 0; i < s->labels.k; i++) label_add(&lab, s->labels.v[i], s->labels.n[i]);
    }
    size_t p = sf_source_n_sparse_features(job->src);
    double density = rows ? (double)nnz / ((double)rows * (double)p) : 0;
    double per_row = rows ? (double)nnz / (double)rows : 0;
    if (json) {
        printf(", \"sparse\": {\"n_features\": %zu, \"nnz\": %llu, \"density\": ", p, (unsigned long long)nnz);
        print_json_number(density);
        printf(", \"nnz_per_row\": ");
        print_json_number(per_row);
        printf(", \"max_row_nnz\": %llu}, \"labels\": ", (unsigned long long)max_row);
        if (lab.many) printf("null");
        for (size_t i = 0; i < lab.k && !lab.many; i++) {
            printf("%s{\"value\": ", i ? ", " : "[");
            print_json_number(lab.v[i]);
            printf(", \"count\": %llu}", (unsigned long long)lab.n[i]);
        }
        if (!lab.many) printf(lab.k ? "]" : "[]");
        return;
    }
    printf("sparse: %zu features, %llu stored values, density %.6g, %.6g per row (max %llu)\n", p,
           (unsigned long long)nnz, density, per_row, (unsigned long long)max_row);
    if (lab.many) {
        printf("labels: more than %d distinct values\n", MAX_LABELS);
        return;
    }
    printf("labels:");
    for (size_t i = 0; i < lab.k; i++) printf(" %.17g (%llu)", lab.v[i], (unsigned long long)lab.n[i]);
    printf("\n");
}

int cli_describe(const cli_opts *o)
{
    if (!o->data) return cli_usage_error("describe needs DATA (a CSV file, -, or file.h5:/path)");
    sf_error err;
    sf_error_clear(&err);
    describe_job job;
    memset(&job, 0, sizeof job);
    sf_pool *pool = NULL;
    col_acc *tot = NULL;
    size_t n_seg = 1;
    int rc = 0;
    cli_progress prog;
    cli_progress_start(&prog, o, "describe");
    job.progress = &prog;
    sf_status st = cli_open_source(o, o->data, NULL, &job.src, &err);
    if (st == SF_OK) st = sf_source_n_segments(job.src, &n_seg, &err);
    if (st != SF_OK) goto done;
    job.n_cols = sf_source_n_columns(job.src);
    job.whole = strcmp(o->data, "-") == 0;
    if (job.whole) n_seg = 1;
    job.segs = calloc(n_seg, sizeof *job.segs);
    tot = calloc(job.n_cols ? job.n_cols : 1, sizeof *tot);
    if (!job.segs || !tot) {
        st = nomem(&err);
        goto done;
    }
    if ((st = sf_pool_new(&pool, job.whole ? 1 : o->threads, &err)) != SF_OK) goto done;
    cli_profile_pass_begin("pass 1", true);
    if ((st = sf_pool_run(pool, n_seg, run_segment, &job, &err)) != SF_OK) goto done;
    cli_profile_pass_end();
    uint64_t rows = 0;
    for (size_t g = 0; g < n_seg; g++) rows += job.segs[g].rows;
    if ((st = merge_segments(&job, n_seg, tot, &err)) != SF_OK) goto done;
    job.where = o->where;
    job.where_dropped = cli_where_dropped(o, job.src);
    cli_progress_end(&prog);
    job.n_seg = n_seg;
    if (o->json) print_json(&job, tot, rows, o->top);
    else print_text(&job, tot, rows, o->top);
    if (!o->json && sf_source_n_sparse_features(job.src)) print_sparse(&job, n_seg, rows, false);
    cli_report_malformed(o, job.src, rows, "counted as missing"); /* --on-error skip */
done:
    cli_progress_end(&prog);
    if (st != SF_OK) rc = cli_report(&err);
    if (job.segs)
        for (size_t g = 0; g < n_seg; g++) {
            if (job.segs[g].cols)
                for (size_t j = 0; j < job.n_cols; j++) free_acc(&job.segs[g].cols[j]);
            free(job.segs[g].cols);
        }
    if (tot)
        for (size_t j = 0; j < job.n_cols; j++) free_acc(&tot[j]);
    free(tot);
    free(job.segs);
    sf_pool_free(pool);
    sf_source_close(job.src);
    return rc;
}
