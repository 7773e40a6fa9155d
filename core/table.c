/* table.c — category dictionaries, table chunks and blocks (dense, or CSR rows).
 *
 * A dictionary interns labels in order of first appearance (codes 0, 1, …) with an
 * open-addressing hash index. Labels live in one growing arena of NUL-terminated
 * strings and are kept as offsets, so the arena can move when it grows.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sf_internal.h"
#include "streamfit/sf_table.h"

struct sf_dict {
    size_t n, max_levels;
    size_t *offset;       /* n label offsets into arena */
    size_t *length;       /* n label lengths */
    size_t cap_labels;
    char *arena;
    size_t arena_len, arena_cap;
    int32_t *slots;       /* hash index: code or -1; size is a power of two */
    size_t n_slots;
};

const char *sf_coltype_name(sf_coltype t)
{
    return t == SF_COL_CATEGORY ? "category" : "float";
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

sf_status sf_dict_new(sf_dict **out, size_t max_levels, sf_error *err)
{
    *out = NULL;
    sf_dict *d = calloc(1, sizeof *d);
    if (!d) return sfi_nomem(err);
    d->max_levels = max_levels ? max_levels : 10000;
    d->n_slots = 16;
    d->slots = malloc(d->n_slots * sizeof *d->slots);
    if (!d->slots) {
        free(d);
        return sfi_nomem(err);
    }
    memset(d->slots, 0xff, d->n_slots * sizeof *d->slots);
    *out = d;
    return SF_OK;
}

void sf_dict_free(sf_dict *d)
{
    if (!d) return;
    free(d->offset);
    free(d->length);
    free(d->arena);
    free(d->slots);
    free(d);
}

size_t sf_dict_size(const sf_dict *d) { return d ? d->n : 0; }

const char *sf_dict_label(const sf_dict *d, size_t code, size_t *len_out)
{
    if (!d || code >= d->n) {
        if (len_out) *len_out = 0;
        return NULL;
    }
    if (len_out) *len_out = d->length[code];
    return d->arena + d->offset[code];
}

static size_t find_slot(const sf_dict *d, const char *s, size_t n, uint64_t h)
{
    size_t mask = d->n_slots - 1, i = (size_t)h & mask;
    for (;;) {
        int32_t c = d->slots[i];
        if (c < 0) return i;
        if (d->length[c] == n && memcmp(d->arena + d->offset[c], s, n) == 0) return i;
        i = (i + 1) & mask;
    }
}

int32_t sf_dict_find(const sf_dict *d, const char *s, size_t n)
{
    if (!d) return -1;
    return d->slots[find_slot(d, s, n, hash_bytes(s, n))];
}

static sf_status grow_index(sf_dict *d, sf_error *err)
{
    size_t ns = d->n_slots * 2;
    int32_t *slots = malloc(ns * sizeof *slots);
    if (!slots) return sfi_nomem(err);
    memset(slots, 0xff, ns * sizeof *slots);
    free(d->slots);
    d->slots = slots;
    d->n_slots = ns;
    for (size_t c = 0; c < d->n; c++) {
        const char *s = d->arena + d->offset[c];
        size_t i = find_slot(d, s, d->length[c], hash_bytes(s, d->length[c]));
        d->slots[i] = (int32_t)c;
    }
    return SF_OK;
}

sf_status sf_dict_intern(sf_dict *d, const char *s, size_t n, int32_t *code_out, sf_error *err)
{
    uint64_t h = hash_bytes(s, n);
    size_t slot = find_slot(d, s, n, h);
    if (d->slots[slot] >= 0) {
        *code_out = d->slots[slot];
        return SF_OK;
    }
    if (d->n >= d->max_levels)
        return sfi_fail(err, SF_ERR_ARG, NULL,
                        "more than %zu distinct values in a categorical column (max_levels)",
                        d->max_levels);
    /* Reserve everything first so a failure leaves the dictionary unchanged. */
    if (d->n == d->cap_labels) {
        size_t cap = d->cap_labels ? d->cap_labels * 2 : 16;
        size_t *off = realloc(d->offset, cap * sizeof *off);
        if (!off) return sfi_nomem(err);
        d->offset = off;
        size_t *len = realloc(d->length, cap * sizeof *len);
        if (!len) return sfi_nomem(err);
        d->length = len;
        d->cap_labels = cap;
    }
    if (d->arena_len + n + 1 > d->arena_cap) {
        size_t cap = d->arena_cap ? d->arena_cap : 256;
        while (cap < d->arena_len + n + 1) cap *= 2;
        char *a = realloc(d->arena, cap);
        if (!a) return sfi_nomem(err);
        d->arena = a;
        d->arena_cap = cap;
    }
    if ((d->n + 1) * 2 > d->n_slots) {
        SF_TRY(grow_index(d, err));
        slot = find_slot(d, s, n, h);
    }
    memcpy(d->arena + d->arena_len, s, n);
    d->arena[d->arena_len + n] = '\0';
    d->offset[d->n] = d->arena_len;
    d->length[d->n] = n;
    d->arena_len += n + 1;
    d->slots[slot] = (int32_t)d->n;
    *code_out = (int32_t)d->n;
    d->n++;
    return SF_OK;
}

sf_status sf_table_new(sf_table **out, size_t n_cols, const sf_coltype *types,
                       const char *const *names, sf_dict *const *dicts, size_t capacity,
                       sf_error *err)
{
    *out = NULL;
    if (capacity == 0) return sfi_fail(err, SF_ERR_ARG, NULL, "table capacity must be positive");
    sf_table *t = calloc(1, sizeof *t);
    if (!t) return sfi_nomem(err);
    t->n_cols = n_cols;
    t->capacity = capacity;
    t->names = names;
    t->cols = calloc(n_cols ? n_cols : 1, sizeof *t->cols);
    t->line = calloc(capacity, sizeof *t->line);
    if (!t->cols || !t->line) goto fail;
    for (size_t j = 0; j < n_cols; j++) {
        sf_column *c = &t->cols[j];
        c->type = types ? types[j] : SF_COL_FLOAT;
        c->missing = calloc(capacity, 1);
        if (!c->missing) goto fail;
        if (c->type == SF_COL_CATEGORY) {
            c->codes = malloc(capacity * sizeof *c->codes);
            c->dict = dicts ? dicts[j] : NULL;
            if (!c->codes) goto fail;
        } else {
            c->values = malloc(capacity * sizeof *c->values);
            if (!c->values) goto fail;
        }
    }
    *out = t;
    return SF_OK;
fail:
    sf_table_free(t);
    return sfi_nomem(err);
}

/* ---- CSR parts ---- */

sf_status sf_csr_reserve(sf_csr *c, size_t nnz, sf_error *err)
{
    if (nnz <= c->nnz_capacity) return SF_OK;
    size_t cap = c->nnz_capacity ? c->nnz_capacity : 1024;
    while (cap < nnz) cap *= 2;
    uint32_t *ind = realloc(c->indices, cap * sizeof *ind);
    if (!ind) return sfi_nomem(err);
    c->indices = ind; /* the old entries stay valid either way */
    double *data = realloc(c->data, cap * sizeof *data);
    if (!data) return sfi_nomem(err);
    c->data = data;
    c->nnz_capacity = cap;
    return SF_OK;
}

static void csr_free(sf_csr *c)
{
    if (!c) return;
    free(c->indptr);
    free(c->indices);
    free(c->data);
    free(c);
}

static sf_status csr_new(sf_csr **out, size_t rows, size_t n_cols, size_t nnz, sf_error *err)
{
    sf_csr *c = calloc(1, sizeof *c);
    if (!c) return sfi_nomem(err);
    c->n_cols = n_cols;
    c->indptr = calloc(rows + 1, sizeof *c->indptr);
    if (!c->indptr || sf_csr_reserve(c, nnz ? nnz : 1, err) != SF_OK) {
        csr_free(c);
        return sfi_nomem(err);
    }
    *out = c;
    return SF_OK;
}

sf_status sf_table_add_csr(sf_table *t, size_t n_cols, size_t nnz_capacity, sf_error *err)
{
    if (!t) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_table_add_csr: NULL table");
    if (t->csr) return sfi_fail(err, SF_ERR_STATE, NULL, "the table has a CSR part already");
    return csr_new(&t->csr, t->capacity, n_cols, nnz_capacity, err);
}

void sf_table_free(sf_table *t)
{
    if (!t) return;
    csr_free(t->csr);
    if (t->cols) {
        for (size_t j = 0; j < t->n_cols; j++) {
            free(t->cols[j].values);
            free(t->cols[j].codes);
            free(t->cols[j].missing);
        }
    }
    free(t->cols);
    free(t->line);
    free(t);
}

sf_status sf_block_new(sf_block **out, size_t capacity, size_t n_cols, bool has_y, bool has_w,
                       sf_error *err)
{
    *out = NULL;
    if (capacity == 0) return sfi_fail(err, SF_ERR_ARG, NULL, "block capacity must be positive");
    sf_block *b = calloc(1, sizeof *b);
    if (!b) return sfi_nomem(err);
    b->capacity = capacity;
    b->n_cols = n_cols;
    b->ld = n_cols;
    b->x = malloc((capacity * (n_cols ? n_cols : 1)) * sizeof *b->x);
    if (has_y) b->y = malloc(capacity * sizeof *b->y);
    if (has_w) b->w = malloc(capacity * sizeof *b->w);
    if (!b->x || (has_y && !b->y) || (has_w && !b->w)) {
        sf_block_free(b);
        return sfi_nomem(err);
    }
    *out = b;
    return SF_OK;
}

sf_status sf_block_new_csr(sf_block **out, size_t capacity, size_t n_cols, size_t nnz_capacity, bool has_y,
                           bool has_w, sf_error *err)
{
    *out = NULL;
    if (capacity == 0) return sfi_fail(err, SF_ERR_ARG, NULL, "block capacity must be positive");
    sf_block *b = calloc(1, sizeof *b);
    if (!b) return sfi_nomem(err);
    b->capacity = capacity;
    b->n_cols = n_cols;
    sf_status st = csr_new(&b->csr, capacity, n_cols, nnz_capacity, err);
    if (has_y) b->y = malloc(capacity * sizeof *b->y);
    if (has_w) b->w = malloc(capacity * sizeof *b->w);
    if (st != SF_OK || (has_y && !b->y) || (has_w && !b->w)) {
        sf_block_free(b);
        return sfi_nomem(err);
    }
    *out = b;
    return SF_OK;
}

sf_status sf_block_copy(sf_block *dst, const sf_block *src, sf_error *err)
{
    if (!dst || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_block_copy: NULL block");
    size_t n = src->n_rows;
    if (!dst->csr != !src->csr || dst->n_cols != src->n_cols || dst->capacity < n)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "sf_block_copy: blocks of different shapes");
    if (src->csr) {
        const sf_csr *a = src->csr;
        sf_csr *c = dst->csr;
        size_t base = a->indptr[0], nnz = a->indptr[n] - base;
        SF_TRY(sf_csr_reserve(c, nnz, err));
        for (size_t i = 0; i <= n; i++) c->indptr[i] = a->indptr[i] - base;
        memcpy(c->indices, a->indices + base, nnz * sizeof *c->indices);
        memcpy(c->data, a->data + base, nnz * sizeof *c->data);
    } else {
        for (size_t i = 0; i < n; i++) memcpy(dst->x + i * dst->ld, src->x + i * src->ld, src->n_cols * sizeof *dst->x);
    }
    if (dst->y && src->y) memcpy(dst->y, src->y, n * sizeof *dst->y);
    if (dst->w && src->w) memcpy(dst->w, src->w, n * sizeof *dst->w);
    dst->n_rows = n;
    dst->first_row = src->first_row;
    return SF_OK;
}

void sf_block_free(sf_block *b)
{
    if (!b) return;
    csr_free(b->csr);
    free(b->x);
    free(b->y);
    free(b->w);
    free(b);
}

/* ---- columns to rows ----
 *
 * The transpose every dense block is built with: row tiles of GATHER_TILE rows
 * that stay in cache while the columns write into them, four columns at a time
 * as 4 x 4 transposes of 4-double vectors (vector extensions, __builtin_shufflevector:
 * GCC >= 12 and clang; AVX2 in its clone, pairs of SSE2 registers otherwise), checking for NaN on the way. */
#define GATHER_TILE 128
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) /* as estimators/kmeans.c */
#define GATHER_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define GATHER_CLONES
#endif

typedef double gv4 __attribute__((vector_size(32)));
typedef int64_t gm4 __attribute__((vector_size(32)));

SFI_FUNC bool sfi_gather_cols(const void *const *v, size_t p, size_t n, double *x, size_t ld);
GATHER_CLONES bool sfi_gather_cols(const void *const *v, size_t p, size_t n, double *x, size_t ld)
{
    gm4 bad = {0, 0, 0, 0};
    for (size_t i0 = 0; i0 < n; i0 += GATHER_TILE) {
        size_t i1 = n - i0 < GATHER_TILE ? n : i0 + GATHER_TILE, j = 0;
        for (; j + 4 <= p; j += 4) {
            const unsigned char *v0 = v[j], *v1 = v[j + 1], *v2 = v[j + 2], *v3 = v[j + 3];
            size_t i = i0;
            for (; i + 4 <= i1; i += 4) {
                gv4 a, b, c, d;
                memcpy(&a, v0 + 8 * i, sizeof a);
                memcpy(&b, v1 + 8 * i, sizeof b);
                memcpy(&c, v2 + 8 * i, sizeof c);
                memcpy(&d, v3 + 8 * i, sizeof d);
                bad |= (a != a) | (b != b) | (c != c) | (d != d);
                gv4 t0 = __builtin_shufflevector(a, b, 0, 4, 2, 6), t1 = __builtin_shufflevector(a, b, 1, 5, 3, 7);
                gv4 t2 = __builtin_shufflevector(c, d, 0, 4, 2, 6), t3 = __builtin_shufflevector(c, d, 1, 5, 3, 7);
                gv4 r0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), r1 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
                gv4 r2 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7), r3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
                double *row = x + i * ld + j;
                memcpy(row, &r0, sizeof r0);
                memcpy(row + ld, &r1, sizeof r1);
                memcpy(row + 2 * ld, &r2, sizeof r2);
                memcpy(row + 3 * ld, &r3, sizeof r3);
            }
            for (; i < i1; i++)
                for (size_t q = 0; q < 4; q++) {
                    double e;
                    memcpy(&e, (const unsigned char *)v[j + q] + 8 * i, sizeof e);
                    x[i * ld + j + q] = e;
                    bad[0] |= e != e;
                }
        }
        for (; j < p; j++) {
            const unsigned char *vj = v[j];
            for (size_t i = i0; i < i1; i++) {
                double e;
                memcpy(&e, vj + 8 * i, sizeof e);
                x[i * ld + j] = e;
                bad[0] |= e != e;
            }
        }
    }
    return (bad[0] | bad[1] | bad[2] | bad[3]) != 0;
}
