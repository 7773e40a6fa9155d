/* design.c — binding a parsed formula to columns, fitting levels and stateful
 * transforms over chunks, and building patsy's design matrix rows.
 *
 * References (patsy 0.5.3): build.py (_examine_factor_types, _make_subterm_infos:
 * term buckets and ordering; _subterm_column_names_iter, _build_subterm: column
 * order and values), redundancy.py (pick_contrasts_for_term: full- or
 * reduced-rank coding), contrasts.py (Treatment, Sum, Helmert, Diff and the
 * "[T.b]" suffixes), categorical.py (CategoricalSniffer: levels sorted by
 * util.SortAnythingKey), state.py (Center, Standardize), missing.py (NAAction).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "preprocess/design_impl.h"
#include "preprocess/expr.h"

/* ---- values and level sets ---- */

static void value_text(const dvalue *v, char *buf, size_t n)
{
    /* contrasts.py _obj_to_readable_str: str as is, anything else repr() */
    if (v->kind == DV_STR) snprintf(buf, n, "%s", v->str);
    else if (v->kind == DV_BOOL) snprintf(buf, n, "%s", v->num != 0 ? "True" : "False");
    else if (v->is_int && fabs(v->num) < 9.007199254740992e15) snprintf(buf, n, "%.0f", v->num);
    else sfi_py_float_repr(v->num, buf, n);
}

/* repr(): strings quoted, for messages */
static void value_repr(const dvalue *v, char *buf, size_t n)
{
    if (v->kind == DV_STR) snprintf(buf, n, "'%s'", v->str);
    else value_text(v, buf, n);
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static double norm_zero(double v) { return v == 0 ? 0.0 : v; }

static uint64_t lset_hash_num(double v)
{
    v = norm_zero(v);
    return hash_bytes(&v, sizeof v);
}

static void lset_free(lset *s)
{
    if (s->str)
        for (size_t i = 0; i < s->n; i++) free(s->str[i]);
    free(s->str);
    free(s->len);
    free(s->num);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static long lset_find_str(const lset *s, const char *k, size_t n)
{
    if (!s->n_slots) return -1;
    uint64_t h = hash_bytes(k, n);
    for (size_t i = h & (s->n_slots - 1);; i = (i + 1) & (s->n_slots - 1)) {
        uint32_t e = s->slots[i];
        if (!e) return -1;
        if (s->len[e - 1] == n && memcmp(s->str[e - 1], k, n) == 0) return (long)e - 1;
    }
}

static long lset_find_num(const lset *s, double v)
{
    if (!s->n_slots) return -1;
    uint64_t h = lset_hash_num(v);
    for (size_t i = h & (s->n_slots - 1);; i = (i + 1) & (s->n_slots - 1)) {
        uint32_t e = s->slots[i];
        if (!e) return -1;
        if (s->num[e - 1] == v) return (long)e - 1;
    }
}

static uint64_t lset_hash_at(const void *ctx, size_t e)
{
    const lset *s = ctx;
    return s->is_str ? hash_bytes(s->str[e], s->len[e]) : lset_hash_num(s->num[e]);
}

static bool lset_reindex(lset *s, size_t slots)
{
    return sfi_hash_index(&s->slots, &s->n_slots, slots, s->n, lset_hash_at, s);
}

static bool lset_grow(lset *s)
{
    if (s->n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        if (s->is_str) {
            char **a = realloc(s->str, cap * sizeof *a);
            if (!a) return false;
            s->str = a;
            size_t *l = realloc(s->len, cap * sizeof *l);
            if (!l) return false;
            s->len = l;
        } else {
            double *a = realloc(s->num, cap * sizeof *a);
            if (!a) return false;
            s->num = a;
        }
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->n_slots) return lset_reindex(s, s->n_slots ? s->n_slots * 2 : 32);
    return true;
}

static void lset_insert_slot(lset *s, uint64_t h)
{
    size_t i = h & (s->n_slots - 1);
    while (s->slots[i]) i = (i + 1) & (s->n_slots - 1);
    s->slots[i] = (uint32_t)s->n;
}

/* Adds a key; *idx gets its index. Returns false on allocation failure. */
static bool lset_add_str(lset *s, const char *k, size_t n, long *idx)
{
    long f = lset_find_str(s, k, n);
    if (f >= 0) {
        *idx = f;
        return true;
    }
    if (!lset_grow(s)) return false;
    char *c = malloc(n + 1);
    if (!c) return false;
    memcpy(c, k, n);
    c[n] = '\0';
    s->str[s->n] = c;
    s->len[s->n] = n;
    s->n++;
    lset_insert_slot(s, hash_bytes(k, n));
    *idx = (long)s->n - 1;
    return true;
}

static bool lset_add_num(lset *s, double v, long *idx)
{
    v = norm_zero(v);
    long f = lset_find_num(s, v);
    if (f >= 0) {
        *idx = f;
        return true;
    }
    if (!lset_grow(s)) return false;
    s->num[s->n++] = v;
    lset_insert_slot(s, lset_hash_num(v));
    *idx = (long)s->n - 1;
    return true;
}

/* Drops keys added after the first n (rollback of a failed call). */
static void lset_truncate(lset *s, size_t n)
{
    if (n >= s->n) return;
    if (s->is_str)
        for (size_t i = n; i < s->n; i++) free(s->str[i]);
    s->n = n;
    if (!lset_reindex(s, s->n_slots)) {
        /* keep the old index usable: clear it (lookups then miss, adds rebuild) */
        memset(s->slots, 0, s->n_slots * sizeof *s->slots);
    }
}

/* ---- expression compilation ---- */

static const char *const math_fns[] = {"log", "log1p", "exp", "sqrt", "abs", "log10", "log2", "expm1",
                                       "square", "floor", "ceil", "sin", "cos", "tan", "tanh", "arctan"};
#define N_MATH_FNS (sizeof math_fns / sizeof math_fns[0])

/* "np.log" / "numpy.log" / "log" -> index in math_fns, or -1 */
static int math_fn(const char *name)
{
    if (strncmp(name, "np.", 3) == 0) name += 3;
    else if (strncmp(name, "numpy.", 6) == 0) name += 6;
    else if (strcmp(name, "absolute") == 0) return -1;
    if (strcmp(name, "absolute") == 0) name = "abs";
    for (size_t k = 0; k < N_MATH_FNS; k++)
        if (strcmp(name, math_fns[k]) == 0) return (int)k;
    return -1;
}

static sf_status unknown_fn(sf_error *err, const sfi_node *n)
{
    return sfi_formula_fail(err, n->name_span,
                            "unknown function '%s' (known: I, C, Q, log, log1p, exp, sqrt, abs, log10, "
                            "log2, expm1, square, floor, ceil, sin, cos, tan, tanh, arctan, center, standardize, scale)",
                            n->text);
}

static const define *find_define(const sf_design *d, const char *name)
{
    for (size_t i = 0; i < d->n_defs; i++)
        if (strcmp(d->defs[i].name, name) == 0) return &d->defs[i];
    return NULL;
}

static sf_status add_ev(sf_design *d, evnode e, int *out, sf_error *err)
{
    if (d->n_ev == d->cap_ev) {
        size_t cap = d->cap_ev ? d->cap_ev * 2 : 32;
        evnode *a = realloc(d->ev, cap * sizeof *a);
        if (!a) return sfi_nomem(err);
        d->ev = a;
        d->cap_ev = cap;
    }
    d->ev[d->n_ev] = e;
    *out = (int)d->n_ev++;
    return SF_OK;
}

/* Levenshtein distance of a and b, stopping above limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64 || nb > 64 || (na > nb ? na - nb : nb - na) > limit) return limit + 1;
    size_t row[65];
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            if (up + 1 < best) best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* The column whose name is nearest to name (at most 2 edits, or differing only
 * in case), for "did you mean"; NULL if none. */
static const char *closest_name(const schema *sc, const char *name)
{
    if (!sc || !sc->count) return NULL;
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < sc->count(sc); i++) {
        const char *c = sc->name(sc, i);
        if (!c) continue;
        size_t dist = strcasecmp(c, name) == 0 ? 0 : edit_distance(c, name, 2);
        if (dist < best_d) {
            best_d = dist;
            best = c;
        }
    }
    return best;
}

/* Finds (or adds) a used column; in dry mode (no schema) nothing is resolved. */
static sf_status use_column(sf_design *d, const schema *sc, const char *name, sfi_span span, size_t *out,
                            sf_error *err)
{
    for (size_t k = 0; k < d->n_cols; k++)
        if (strcmp(d->cols[k].name, name) == 0) {
            *out = k;
            return SF_OK;
        }
    long idx = sc ? sc->find(sc, name) : -1;
    if (idx < 0) {
        if (find_define(d, name))
            return sfi_formula_fail(err, span, "'%s' is a defined value, not a column", name);
        const char *near = closest_name(sc, name);
        if (near) return sfi_formula_fail(err, span, "unknown column '%s' (did you mean '%s'?)", name, near);
        return sfi_formula_fail(err, span, "unknown column '%s'", name);
    }
    ucol *a = realloc(d->cols, (d->n_cols + 1) * sizeof *a);
    if (!a) return sfi_nomem(err);
    d->cols = a;
    ucol *c = &a[d->n_cols];
    memset(c, 0, sizeof *c);
    c->name = strdup(name);
    if (!c->name) return sfi_nomem(err);
    c->span = span;
    c->is_category = sc->is_category(sc, (size_t)idx);
    c->is_integer = sc->is_integer(sc, (size_t)idx);
    c->all_int = true;
    *out = d->n_cols++;
    return SF_OK;
}

typedef struct cctx {
    const schema *sc; /* NULL: dry run at parse time */
    bool in_stat;
    bool where;       /* a row filter (--where), not a formula */
} cctx;

static sf_status compile(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err);
static sf_status literal(const sf_design *d, const sfi_node *n, dvalue *out, sf_error *err);

static double compare(char op, double a, double b)
{
    switch (op) {
    case '<': return a < b;
    case '>': return a > b;
    case 'l': return a <= b;
    case 'g': return a >= b;
    case '=': return a == b;
    default: return a != b;
    }
}

static double py_binop(char op, double a, double b)
{
    switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '^': return pow(a, b);
    default: return compare(op, a, b);
    }
}

static sf_status compile_column(sf_design *d, const cctx *cx, const char *name, sfi_span span, int *out,
                                sf_error *err)
{
    if (!cx->sc) return add_ev(d, (evnode){.op = EV_CONST, .a = -1, .b = -1}, out, err);
    size_t col;
    SF_TRY(use_column(d, cx->sc, name, span, &col, err));
    if (d->cols[col].is_category && cx->where)
        return sfi_formula_fail(err, span,
                                "column '%s' holds text: compare it with a quoted string (%s == 'x') or "
                                "a list of them (%s in ['x', 'y'])",
                                name, name, name);
    if (d->cols[col].is_category)
        return sfi_formula_fail(err, span,
                                "column '%s' holds text: it can only be a categorical factor on its own "
                                "or in C(), not part of arithmetic",
                                name);
    return add_ev(d, (evnode){.op = EV_COL, .col = col, .a = -1, .b = -1, .is_int = d->cols[col].is_integer}, out, err);
}

static bool is_q_call(const sfi_node *n)
{
    return n->kind == SFI_N_CALL && strcmp(n->text, "Q") == 0;
}

static sf_status check_q(const sfi_node *n, sf_error *err)
{
    if (n->n_kids != 1 || n->kids[0]->kind != SFI_N_STR)
        return sfi_formula_fail(err, n->span, "Q() takes one string: the column's name");
    return SF_OK;
}

static sf_status compile_call(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err)
{
    const char *name = n->text;
    int fn = math_fn(name);
    if (fn >= 0 || strcmp(name, "I") == 0) {
        if (n->n_kids != 1 || n->kids[0]->kind == SFI_N_KWARG)
            return sfi_formula_fail(err, n->span, "%s() takes exactly one argument", name);
        int a;
        SF_TRY(compile(d, cx, n->kids[0], &a, err));
        if (fn < 0) {
            *out = a;
            return SF_OK;
        }
        evnode e = {.op = EV_FN, .fn = fn, .a = a, .b = -1};
        e.is_int = (fn == 4 || fn == 8) && d->ev[a].is_int; /* abs and square keep integers */
        if (d->ev[a].is_const) {
            int k = a;
            double v = d->ev[k].c;
            e = (evnode){.op = EV_CONST, .is_const = true, .is_int = e.is_int, .a = -1, .b = -1};
            e.c = sfi_design_math(fn, v);
        }
        return add_ev(d, e, out, err);
    }
    if (strcmp(name, "Q") == 0) {
        SF_TRY(check_q(n, err));
        return compile_column(d, cx, n->kids[0]->text, n->kids[0]->span, out, err);
    }
    if (strcmp(name, "center") == 0 || strcmp(name, "standardize") == 0 || strcmp(name, "scale") == 0) {
        if (cx->where)
            return sfi_formula_fail(err, n->name_span, "%s() learns from the data: not available in a row filter",
                                    name);
        if (cx->in_stat)
            return sfi_formula_fail(err, n->name_span, "nested stateful transforms are not supported");
        bool is_center = strcmp(name, "center") == 0;
        dstat s = {.kind = is_center ? ST_CENTER : ST_STANDARDIZE, .center = true, .rescale = !is_center};
        const sfi_node *arg = NULL;
        for (size_t k = 0; k < n->n_kids; k++) {
            const sfi_node *a = n->kids[k];
            if (a->kind != SFI_N_KWARG) {
                if (arg) return sfi_formula_fail(err, a->span, "%s() takes one positional argument", name);
                arg = a;
                continue;
            }
            const sfi_node *v = a->kids[0];
            bool ok_kw = !is_center && (strcmp(a->text, "center") == 0 || strcmp(a->text, "rescale") == 0 ||
                                        strcmp(a->text, "ddof") == 0);
            if (!ok_kw)
                return sfi_formula_fail(err, a->name_span, "unknown argument '%s' for %s()%s", a->text, name,
                                        is_center ? "" : " (known: center, rescale, ddof)");
            if (strcmp(a->text, "ddof") == 0) {
                if (v->kind != SFI_N_NUM)
                    return sfi_formula_fail(err, v->span, "ddof must be a number");
                s.ddof = v->num;
            } else {
                if (v->kind != SFI_N_CONST || strcmp(v->text, "None") == 0)
                    return sfi_formula_fail(err, v->span, "%s must be True or False", a->text);
                bool b = strcmp(v->text, "True") == 0;
                if (strcmp(a->text, "center") == 0) s.center = b;
                else s.rescale = b;
            }
        }
        if (!arg) return sfi_formula_fail(err, n->span, "%s() needs an argument", name);
        cctx inner = *cx;
        inner.in_stat = true;
        SF_TRY(compile(d, &inner, arg, &s.arg, err));
        if (cx->sc) {
            dstat *a = realloc(d->stats, (d->n_stats + 1) * sizeof *a);
            if (!a) return sfi_nomem(err);
            d->stats = a;
            s.name = n->text;
            s.span = n->span;
            a[d->n_stats] = s;
        }
        return add_ev(d, (evnode){.op = EV_STAT, .stat = d->n_stats++, .a = s.arg, .b = -1}, out, err);
    }
    if (strcmp(name, "C") == 0)
        return sfi_formula_fail(err, n->name_span, "C() can only be used as a whole factor, not inside an expression");
    return unknown_fn(err, n);
}

/* The text column a name or Q('name') refers to (its name and span), or NULL. */
static const char *text_column_ref(const sfi_node *col, sfi_span *sp)
{
    *sp = col->kind == SFI_N_NAME ? col->span : col->n_kids ? col->kids[0]->span : col->span;
    return col->kind == SFI_N_NAME ? col->text : is_q_call(col) && col->n_kids == 1 &&
           col->kids[0]->kind == SFI_N_STR ? col->kids[0]->text : NULL;
}

/* Adds e (EV_TEXTEQ or EV_TEXTIN) on the text column col refers to. */
static sf_status add_text_column_op(sf_design *d, const cctx *cx, const sfi_node *col, evnode e, int *out,
                                    sf_error *err)
{
    sfi_span sp;
    const char *name = text_column_ref(col, &sp);
    if (!name) return sfi_formula_fail(err, col->span, "a string can only be compared with a text column");
    if (cx->sc) {
        SF_TRY(use_column(d, cx->sc, name, sp, &e.col, err));
        if (!d->cols[e.col].is_category)
            return sfi_formula_fail(err, sp, "column '%s' is numeric: compare it with a number", name);
    }
    return add_ev(d, e, out, err);
}

/* g == 'lo' or 'lo' != g on a text column: pandas compares each value, a missing
 * one being unequal to any string. Row filters also order text (g < 'm', as
 * Python compares str: by code point, which is UTF-8's byte order); there a
 * missing value compares false (pandas raises TypeError on NaN < 'm'). */
static sf_status compile_text_eq(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err)
{
    const sfi_node *str = n->kids[0]->kind == SFI_N_STR ? n->kids[0] : n->kids[1];
    const sfi_node *col = str == n->kids[0] ? n->kids[1] : n->kids[0];
    char op = n->op;
    if (str == n->kids[0]) /* 'm' > g is g < 'm' */
        op = op == '<' ? '>' : op == '>' ? '<' : op == 'l' ? 'g' : op == 'g' ? 'l' : op;
    evnode e = {.op = EV_TEXTEQ, .a = -1, .b = -1, .cmp = op, .text = str->text, .is_int = true, .is_bool = true};
    return add_text_column_op(d, cx, col, e, out, err);
}

/* x in [..] / x not in [..] (a row filter): pandas' isin, a missing value being
 * in no list. Strings need a text column, numbers a numeric expression. */
static sf_status compile_in(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err)
{
    const sfi_node *list = n->kids[1];
    if (list->kind != SFI_N_LIST)
        return sfi_formula_fail(err, list->span, "'%s' needs a list: [1, 2] or ['a', 'b']",
                                n->op == 'i' ? "in" : "not in");
    int kind = -1; /* 0 numbers, 1 strings */
    for (size_t k = 0; k < list->n_kids; k++) {
        dvalue v;
        SF_TRY(literal(d, list->kids[k], &v, err));
        int vk = v.kind == DV_STR;
        if (kind >= 0 && vk != kind)
            return sfi_formula_fail(err, list->kids[k]->span, "the list mixes strings and numbers");
        kind = vk;
    }
    evnode e = {.a = -1, .b = -1, .cmp = n->op, .list = list, .is_int = true, .is_bool = true};
    if (kind < 0) { /* an empty list: by the column's type */
        sfi_span sp;
        const char *name = text_column_ref(n->kids[0], &sp);
        kind = name && cx->sc && cx->sc->find(cx->sc, name) >= 0 &&
               cx->sc->is_category(cx->sc, (size_t)cx->sc->find(cx->sc, name));
    }
    if (kind == 1) {
        e.op = EV_TEXTIN;
        return add_text_column_op(d, cx, n->kids[0], e, out, err);
    }
    e.op = EV_NUMIN;
    SF_TRY(compile(d, cx, n->kids[0], &e.a, err));
    return add_ev(d, e, out, err);
}

/* Operand k of a boolean operator must be true / false. */
static sf_status need_bool(const sf_design *d, const sfi_node *n, int k, const char *op, sf_error *err)
{
    if (d->ev[k].is_bool) return SF_OK;
    return sfi_formula_fail(err, n->span, "'%s' needs a condition (true or false), not a number: compare it "
                            "(e.g. x > 0)", op);
}

static sf_status compile_bool(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err)
{
    const char *name = n->op == 'n' ? "not" : n->op == '&' ? "and" : "or";
    int a, b = -1;
    SF_TRY(compile(d, cx, n->kids[0], &a, err));
    SF_TRY(need_bool(d, n->kids[0], a, name, err));
    if (n->op != 'n') {
        SF_TRY(compile(d, cx, n->kids[1], &b, err));
        SF_TRY(need_bool(d, n->kids[1], b, name, err));
    }
    evnode e = {.op = n->op == 'n' ? EV_NOT : n->op == '&' ? EV_AND : EV_OR, .a = a, .b = b, .is_int = true,
                .is_bool = true};
    const evnode *ea = &d->ev[a], *eb = b >= 0 ? &d->ev[b] : NULL;
    if (ea->is_const && (!eb || eb->is_const)) {
        double v = e.op == EV_NOT ? ea->c == 0 : e.op == EV_AND ? ea->c != 0 && eb->c != 0 : ea->c != 0 || eb->c != 0;
        e = (evnode){.op = EV_CONST, .c = v, .is_const = true, .is_int = true, .is_bool = true, .a = -1, .b = -1};
    }
    return add_ev(d, e, out, err);
}

static sf_status compile(sf_design *d, const cctx *cx, const sfi_node *n, int *out, sf_error *err)
{
    switch (n->kind) {
    case SFI_N_NUM:
        return add_ev(d, (evnode){.op = EV_CONST, .c = n->num, .is_const = true, .is_int = n->is_int, .a = -1, .b = -1},
                      out, err);
    case SFI_N_CONST:
        if (strcmp(n->text, "None") == 0) return sfi_formula_fail(err, n->span, "None is not a number");
        return add_ev(d, (evnode){.op = EV_CONST, .c = strcmp(n->text, "True") == 0, .is_const = true, .is_int = true,
                                  .is_bool = true, .a = -1, .b = -1},
                      out, err);
    case SFI_N_NAME: {
        /* data columns come before defined names, as patsy's VarLookupDict([data, env]) */
        const define *df = cx->sc && cx->sc->find(cx->sc, n->text) >= 0 ? NULL : find_define(d, n->text);
        if (df && df->val->kind == SFI_N_NUM)
            return add_ev(d, (evnode){.op = EV_CONST, .c = df->val->num, .is_const = true, .is_int = df->val->is_int,
                                      .a = -1, .b = -1},
                          out, err);
        return compile_column(d, cx, n->text, n->span, out, err);
    }
    case SFI_N_STR:
        if (cx->where) return sfi_formula_fail(err, n->span, "a string can only be compared with a text column");
        return sfi_formula_fail(err, n->span, "a string can only name a level or a column (in Q())");
    case SFI_N_LIST:
        if (cx->where) return sfi_formula_fail(err, n->span, "a list can only follow 'in' or 'not in'");
        return sfi_formula_fail(err, n->span, "a list can only be given as levels=[...]");
    case SFI_N_KWARG:
        return sfi_formula_fail(err, n->name_span, "unexpected keyword argument '%s'", n->text);
    case SFI_N_UNARY: {
        if (n->op == 'n') return compile_bool(d, cx, n, out, err);
        int a;
        SF_TRY(compile(d, cx, n->kids[0], &a, err));
        if (n->op == '+') {
            *out = a;
            return SF_OK;
        }
        evnode e = {.op = EV_NEG, .a = a, .b = -1, .is_int = d->ev[a].is_int};
        if (d->ev[a].is_const) {
            e.op = EV_CONST;
            e.is_const = true;
            e.c = -d->ev[a].c;
            e.a = -1;
        }
        return add_ev(d, e, out, err);
    }
    case SFI_N_BINARY: {
        if (n->op == '&' || n->op == '|') return compile_bool(d, cx, n, out, err);
        if (n->op == 'i' || n->op == 'x') return compile_in(d, cx, n, out, err);
        bool text_op = n->op == '=' || n->op == '!' || (cx->where && strchr("<>lg", n->op));
        if (text_op && (n->kids[0]->kind == SFI_N_STR || n->kids[1]->kind == SFI_N_STR))
            return compile_text_eq(d, cx, n, out, err);
        int a, b;
        SF_TRY(compile(d, cx, n->kids[0], &a, err));
        SF_TRY(compile(d, cx, n->kids[1], &b, err));
        const evnode *ea = &d->ev[a], *eb = &d->ev[b];
        evnode e = {.a = a, .b = b};
        e.op = n->op == '+' ? EV_ADD : n->op == '-' ? EV_SUB : n->op == '*' ? EV_MUL : n->op == '/' ? EV_DIV
               : n->op == '^' ? EV_POW : EV_CMP;
        e.cmp = n->op;
        /* numpy int64 rules: + - * and ** to a non-negative power stay integers; / does
         * not; a comparison is a boolean, an integer in arithmetic */
        e.is_bool = e.op == EV_CMP;
        e.is_int = e.op == EV_CMP ||
                   (ea->is_int && eb->is_int && e.op != EV_DIV && (e.op != EV_POW || (eb->is_const && eb->c >= 0)));
        if (ea->is_const && eb->is_const) {
            double v = py_binop(n->op, ea->c, eb->c);
            e = (evnode){.op = EV_CONST, .c = v, .is_const = true, .is_int = e.is_int, .is_bool = e.is_bool,
                         .a = -1, .b = -1};
        }
        return add_ev(d, e, out, err);
    }
    case SFI_N_CALL:
        return compile_call(d, cx, n, out, err);
    }
    return sfi_formula_fail(err, n->span, "unsupported expression");
}

/* ---- literal values: levels=[...], references ---- */

static sf_status literal(const sf_design *d, const sfi_node *n, dvalue *out, sf_error *err)
{
    memset(out, 0, sizeof *out);
    if (n->kind == SFI_N_NUM) {
        out->kind = DV_NUM;
        out->num = n->num;
        out->is_int = n->is_int;
        return SF_OK;
    }
    if (n->kind == SFI_N_UNARY && n->kids[0]->kind == SFI_N_NUM) {
        out->kind = DV_NUM;
        out->num = n->op == '-' ? -n->kids[0]->num : n->kids[0]->num;
        out->is_int = n->kids[0]->is_int;
        return SF_OK;
    }
    if (n->kind == SFI_N_STR) {
        out->kind = DV_STR;
        out->str = n->text;
        return SF_OK;
    }
    if (n->kind == SFI_N_CONST && strcmp(n->text, "None") != 0) {
        out->kind = DV_BOOL;
        out->num = strcmp(n->text, "True") == 0;
        out->is_int = true;
        return SF_OK;
    }
    if (n->kind == SFI_N_NAME) {
        const define *df = find_define(d, n->text);
        if (df && df->val->kind != SFI_N_NAME) return literal(d, df->val, out, err);
        return sfi_formula_fail(err, n->span, "unknown name '%s' (define it or write the value)", n->text);
    }
    return sfi_formula_fail(err, n->span, "expected a number or a string");
}

/* levels=[...], range(a[, b[, s]]), np.arange(...), or a defined name. */
static sf_status level_list(const sf_design *d, const sfi_node *n, dvalue **out, size_t *n_out, sf_error *err)
{
    if (n->kind == SFI_N_NAME) {
        const define *df = find_define(d, n->text);
        if (!df) return sfi_formula_fail(err, n->span, "unknown name '%s' (define it or write the list)", n->text);
        if (df->val->kind == SFI_N_NAME)
            return sfi_formula_fail(err, n->span, "'%s' must be a list of levels", n->text);
        return level_list(d, df->val, out, n_out, err);
    }
    if (n->kind == SFI_N_LIST) {
        dvalue *v = calloc(n->n_kids ? n->n_kids : 1, sizeof *v);
        if (!v) return sfi_nomem(err);
        for (size_t k = 0; k < n->n_kids; k++) {
            sf_status st = literal(d, n->kids[k], &v[k], err);
            if (st != SF_OK) {
                free(v);
                return st;
            }
        }
        *out = v;
        *n_out = n->n_kids;
        return SF_OK;
    }
    bool is_range = n->kind == SFI_N_CALL && strcmp(n->text, "range") == 0;
    bool is_arange = n->kind == SFI_N_CALL && (strcmp(n->text, "np.arange") == 0 || strcmp(n->text, "numpy.arange") == 0);
    if (!is_range && !is_arange)
        return sfi_formula_fail(err, n->span, "expected a list of levels: [...], range(n) or np.arange(n)");
    double a[3] = {0, 0, 1};
    bool all_int = true;
    if (n->n_kids < 1 || n->n_kids > 3)
        return sfi_formula_fail(err, n->span, "%s() takes 1 to 3 numbers", n->text);
    for (size_t k = 0; k < n->n_kids; k++) {
        dvalue v;
        SF_TRY(literal(d, n->kids[k], &v, err));
        if (v.kind == DV_STR) return sfi_formula_fail(err, n->kids[k]->span, "expected a number");
        if (!v.is_int && is_range) return sfi_formula_fail(err, n->kids[k]->span, "range() takes integers");
        all_int = all_int && v.is_int;
        a[n->n_kids == 1 ? 1 : k] = v.num;
    }
    if (n->n_kids == 1) a[0] = 0;
    if (a[2] == 0) return sfi_formula_fail(err, n->span, "the step must not be zero");
    double cnt = ceil((a[1] - a[0]) / a[2]);
    if (!(cnt >= 0)) cnt = 0;
    if (cnt > 100000) return sfi_formula_fail(err, n->span, "too many levels");
    size_t m = (size_t)cnt;
    dvalue *v = calloc(m ? m : 1, sizeof *v);
    if (!v) return sfi_nomem(err);
    for (size_t k = 0; k < m; k++) {
        v[k].kind = DV_NUM;
        v[k].is_int = all_int;
        v[k].num = a[0] + (double)k * a[2]; /* numpy's arange: start + i * step */
    }
    *out = v;
    *n_out = m;
    return SF_OK;
}

/* Treatment, Treatment(ref), Treatment(reference=ref), Sum, Sum(omit), Helmert, Diff */
static sf_status contrast_spec(const sf_design *d, const sfi_node *n, bool resolve, dfactor *f, sf_error *err)
{
    static const char *const names[] = {"Treatment", "Sum", "Helmert", "Diff", "Poly"};
    static const char *const kw[] = {"reference", "omit", NULL, NULL, "scores"};
    const char *name = n->text;
    if (n->kind != SFI_N_NAME && n->kind != SFI_N_CALL)
        return sfi_formula_fail(err, n->span, "expected a contrast: Treatment, Sum, Helmert, Diff or Poly");
    if (strncmp(name, "patsy.", 6) == 0) name += 6;
    int k;
    for (k = 0; k < 5; k++)
        if (strcmp(name, names[k]) == 0) break;
    if (k == 5)
        return sfi_formula_fail(err, n->name_span, "unknown contrast '%s' (known: Treatment, Sum, Helmert, Diff, Poly)",
                                name);
    f->contrast = k;
    if (n->kind == SFI_N_NAME) return SF_OK;
    if (n->n_kids > 1 || (n->n_kids == 1 && !kw[k]))
        return sfi_formula_fail(err, n->span, "%s takes %s", name, kw[k] ? "one argument" : "no arguments");
    if (n->n_kids == 0) return SF_OK;
    const sfi_node *a = n->kids[0];
    if (a->kind == SFI_N_KWARG) {
        if (strcmp(a->text, kw[k]) != 0)
            return sfi_formula_fail(err, a->name_span, "unknown argument '%s' for %s (expected %s)", a->text, name, kw[k]);
        a = a->kids[0];
    }
    if (a->kind == SFI_N_CONST && strcmp(a->text, "None") == 0) return SF_OK;
    if (!resolve && a->kind == SFI_N_NAME) return SF_OK; /* a define, resolved at bind */
    if (k == CT_POLY) {
        if (!resolve) return SF_OK;
        SF_TRY(level_list(d, a, &f->scores, &f->n_scores, err));
        for (size_t q = 0; q < f->n_scores; q++)
            if (f->scores[q].kind == DV_STR) return sfi_formula_fail(err, a->span, "Poly scores must be numbers");
        f->ref_span = a->span;
        return SF_OK;
    }
    SF_TRY(literal(d, a, &f->ref, err));
    f->has_ref = true;
    f->ref_span = a->span;
    return SF_OK;
}

static bool has_stat(const sf_design *d, int k)
{
    if (k < 0) return false;
    const evnode *e = &d->ev[k];
    if (e->op == EV_STAT) return true;
    if (e->op == EV_CONST || e->op == EV_COL || e->op == EV_TEXTEQ) return false;
    return has_stat(d, e->a) || (e->op != EV_NEG && e->op != EV_FN && has_stat(d, e->b));
}

static bool uses_column(const sf_design *d, int k)
{
    if (k < 0) return false;
    const evnode *e = &d->ev[k];
    if (e->op == EV_COL || e->op == EV_TEXTEQ) return true;
    if (e->op == EV_CONST) return false;
    return uses_column(d, e->a) || (e->op != EV_NEG && e->op != EV_FN && e->op != EV_STAT && uses_column(d, e->b));
}

/* The level -> index map of f's levels; a level listed twice is an error. */
static sf_status build_lookup(dfactor *f, const dvalue *lv, size_t n, sf_error *err)
{
    lset_free(&f->lookup);
    f->lookup.is_str = n && lv[0].kind == DV_STR;
    for (size_t i = 0; i < n; i++) {
        long idx;
        bool ok = f->lookup.is_str ? lset_add_str(&f->lookup, lv[i].str, strlen(lv[i].str), &idx)
                                   : lset_add_num(&f->lookup, lv[i].num, &idx);
        if (!ok) return sfi_nomem(err);
        if ((size_t)idx != i) {
            char txt[256];
            value_repr(&lv[i], txt, sizeof txt);
            return sfi_formula_fail(err, f->levels_node ? f->levels_node->span : f->span, "level %s is listed twice",
                                    txt);
        }
    }
    return SF_OK;
}

static sf_status compile_factor(sf_design *d, const cctx *cx, size_t i, sf_error *err)
{
    const sfi_factor_src *src = &d->f->factors[i];
    dfactor *f = &d->fac[i];
    const sfi_node *n = src->expr;
    f->name = src->name;
    f->span = src->span;
    f->root = -1;
    const sfi_node *data = NULL;
    if (n->kind == SFI_N_CALL && strcmp(n->text, "C") == 0) {
        f->categorical = true;
        const sfi_node *contrast = NULL, *levels = NULL;
        size_t npos = 0;
        for (size_t k = 0; k < n->n_kids; k++) {
            const sfi_node *a = n->kids[k];
            if (a->kind == SFI_N_KWARG) {
                if (strcmp(a->text, "levels") == 0 && !levels) levels = a->kids[0];
                else if (strcmp(a->text, "contrast") == 0 && !contrast) contrast = a->kids[0];
                else return sfi_formula_fail(err, a->name_span, "unknown or repeated argument '%s' for C() (known: contrast, levels)", a->text);
            } else if (npos == 0) {
                data = a;
                npos++;
            } else if (npos == 1 && !contrast) {
                contrast = a;
                npos++;
            } else if (npos == 2 && !levels) {
                levels = a;
                npos++;
            } else {
                return sfi_formula_fail(err, a->span, "too many arguments for C()");
            }
        }
        if (!data) return sfi_formula_fail(err, n->span, "C() needs the data as its first argument");
        if (contrast) SF_TRY(contrast_spec(d, contrast, cx->sc != NULL, f, err));
        if (levels) {
            f->levels_node = levels;
            if (cx->sc) {
                SF_TRY(level_list(d, levels, &f->given, &f->n_given, err));
                f->levels_given = true;
                bool has_str = false, has_num = false;
                for (size_t k = 0; k < f->n_given; k++) {
                    has_str = has_str || f->given[k].kind == DV_STR;
                    has_num = has_num || f->given[k].kind != DV_STR;
                }
                if (has_str && has_num)
                    return sfi_formula_fail(err, levels->span, "levels must be all numbers or all strings");
                SF_TRY(build_lookup(f, f->given, f->n_given, err));
            }
        }
        if (data->kind == SFI_N_CALL && strcmp(data->text, "C") == 0)
            return sfi_formula_fail(err, data->name_span, "C() inside C() is not supported");
    } else {
        data = n;
    }
    /* a bare column (or Q("...")) of text is categorical automatically */
    const char *colname = data->kind == SFI_N_NAME ? data->text : NULL;
    if (is_q_call(data)) {
        SF_TRY(check_q(data, err));
        colname = data->kids[0]->text;
    }
    if (colname && cx->sc && (cx->sc->find(cx->sc, colname) >= 0 || !find_define(d, colname))) {
        size_t col;
        SF_TRY(use_column(d, cx->sc, colname, data->kind == SFI_N_NAME ? data->span : data->kids[0]->span, &col, err));
        if (d->cols[col].is_category) {
            f->categorical = true;
            f->on_text = true;
            f->col = col;
            return SF_OK;
        }
    }
    SF_TRY(compile(d, cx, data, &f->root, err));
    if ((d->ev[f->root].op == EV_CMP || d->ev[f->root].op == EV_TEXTEQ) && !f->levels_given) {
        /* numpy gives booleans: categorical (build.py guess_categorical), with
         * both levels known (CategoricalSniffer on a bool array) */
        f->categorical = true;
        if (cx->sc) {
            f->given = calloc(2, sizeof *f->given);
            if (!f->given) return sfi_nomem(err);
            f->given[0] = (dvalue){DV_BOOL, true, 0, NULL};
            f->given[1] = (dvalue){DV_BOOL, true, 1, NULL};
            f->n_given = 2;
            f->levels_given = true;
            SF_TRY(build_lookup(f, f->given, 2, err));
        }
    }
    if (f->categorical && has_stat(d, f->root))
        return sfi_formula_fail(err, data->span, "stateful transforms inside C() are not supported");
    if (cx->sc && !uses_column(d, f->root))
        return sfi_formula_fail(err, data->span, "factor '%s' uses no column", f->name);
    return SF_OK;
}

/* ---- binding ---- */

static bool term_is_response_ok(const sf_design *d, const sfi_term *t)
{
    return t->n == 1 && !d->fac[t->f[0]].categorical;
}

/* redundancy.py: a subterm is a set of (factor, includes_intercept) pairs */
typedef struct rsub {
    size_t n;
    size_t f[SFI_MAX_TERM_FACTORS];
    bool plus[SFI_MAX_TERM_FACTORS];
} rsub;

static bool rsub_has(const rsub *s, size_t f, bool plus)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->f[i] == f && s->plus[i] == plus) return true;
    return false;
}

static bool rsub_can_absorb(const rsub *lng, const rsub *sht)
{
    if (lng->n != sht->n + 1) return false;
    for (size_t i = 0; i < sht->n; i++)
        if (!rsub_has(lng, sht->f[i], sht->plus[i])) return false;
    return true;
}

static bool rsub_same_factors(const rsub *a, const rsub *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (!rsub_has(b, a->f[i], a->plus[i])) return false;
    return true;
}

/* pick_contrasts_for_term: codings for the categorical factors of a term, given
 * the subterms already used in its bucket. */
static sf_status pick_contrasts(const sf_design *d, const sfi_term *t, rsub **used, size_t *n_used, rsub **out,
                                size_t *n_out, sf_error *err)
{
    size_t cats[SFI_MAX_TERM_FACTORS], m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (d->fac[t->f[i]].categorical) cats[m++] = t->f[i];
    size_t n_sub = (size_t)1 << m;
    /* subsets sorted by size, then lexicographically by position (_subsets_sorted) */
    unsigned *order = malloc(n_sub * sizeof *order);
    rsub *subs = malloc(n_sub * sizeof *subs);
    if (!order || !subs) {
        free(order);
        free(subs);
        return sfi_nomem(err);
    }
    size_t k = 0;
    for (size_t size = 0; size <= m; size++) {
        /* combinations of `size` positions in lexicographic order */
        size_t idx[SFI_MAX_TERM_FACTORS];
        for (size_t q = 0; q < size; q++) idx[q] = q;
        for (;;) {
            unsigned mask = 0;
            for (size_t q = 0; q < size; q++) mask |= 1u << idx[q];
            order[k++] = mask;
            long q = (long)size - 1;
            while (q >= 0 && idx[q] == m - size + (size_t)q) q--;
            if (q < 0) break;
            idx[q]++;
            for (size_t r = (size_t)q + 1; r < size; r++) idx[r] = idx[r - 1] + 1;
        }
    }
    size_t ns = 0;
    for (size_t s = 0; s < n_sub; s++) {
        rsub r = {0};
        for (size_t q = 0; q < m; q++)
            if (order[s] & (1u << q)) {
                r.f[r.n] = cats[q];
                r.plus[r.n++] = false;
            }
        bool seen = false;
        for (size_t u = 0; u < *n_used && !seen; u++) seen = rsub_same_factors(&(*used)[u], &r);
        if (!seen) subs[ns++] = r;
    }
    free(order);
    rsub *nu = realloc(*used, (*n_used + ns + 1) * sizeof *nu);
    if (!nu) {
        free(subs);
        return sfi_nomem(err);
    }
    memcpy(nu + *n_used, subs, ns * sizeof *subs);
    *used = nu;
    *n_used += ns;
    /* _simplify_subterms */
    bool again = true;
    while (again) {
        again = false;
        for (size_t si = 0; si < ns && !again; si++)
            for (size_t li = si + 1; li < ns && !again; li++)
                if (rsub_can_absorb(&subs[li], &subs[si])) {
                    rsub nw = subs[si];
                    for (size_t q = 0; q < subs[li].n; q++)
                        if (!rsub_has(&subs[si], subs[li].f[q], subs[li].plus[q])) {
                            nw.f[nw.n] = subs[li].f[q];
                            nw.plus[nw.n++] = true;
                        }
                    subs[li] = nw;
                    memmove(subs + si, subs + si + 1, (ns - si - 1) * sizeof *subs);
                    ns--;
                    again = true;
                }
    }
    *out = subs;
    *n_out = ns;
    return SF_OK;
}

static bool same_numeric_set(const sf_design *d, const sfi_term *a, const sfi_term *b)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (d->fac[a->f[i]].categorical) continue;
        na++;
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++) found = b->f[j] == a->f[i];
        if (!found) return false;
    }
    for (size_t j = 0; j < b->n; j++) nb += !d->fac[b->f[j]].categorical;
    return na == nb;
}

static size_t n_numeric(const sf_design *d, const sfi_term *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) k += !d->fac[t->f[i]].categorical;
    return k;
}

/* _make_subterm_infos: bucket terms by their set of numeric factors (buckets in
 * order of appearance, the all-categorical bucket first), sort each bucket by
 * degree, and pick codings per bucket. */
static sf_status plan_terms(sf_design *d, sf_error *err)
{
    const sfi_formula *f = d->f;
    size_t n = f->n_rhs;
    size_t *bucket = malloc((n + 1) * sizeof *bucket);
    size_t *rep = malloc((n + 1) * sizeof *rep); /* a representative term per bucket */
    d->terms = calloc(n + 1, sizeof *d->terms);
    if (!bucket || !rep || !d->terms) {
        free(bucket);
        free(rep);
        return sfi_nomem(err);
    }
    size_t nb = 0;
    long empty = -1;
    for (size_t i = 0; i < n; i++) {
        size_t b;
        for (b = 0; b < nb; b++)
            if (same_numeric_set(d, &f->rhs[i], &f->rhs[rep[b]])) break;
        if (b == nb) rep[nb++] = i;
        bucket[i] = b;
        if (n_numeric(d, &f->rhs[i]) == 0) empty = (long)b;
    }
    size_t nt = 0;
    sf_status st = SF_OK;
    for (long pass = -1; pass < (long)nb && st == SF_OK; pass++) {
        long b = pass < 0 ? empty : pass;
        if (b < 0 || (pass >= 0 && pass == empty)) continue;
        rsub *used = NULL;
        size_t n_used = 0;
        for (size_t deg = 0; deg <= SFI_MAX_TERM_FACTORS && st == SF_OK; deg++)
            for (size_t i = 0; i < n && st == SF_OK; i++) {
                if (bucket[i] != (size_t)b || f->rhs[i].n != deg) continue;
                dterm *t = &d->terms[nt++];
                t->term = &f->rhs[i];
                rsub *subs;
                size_t ns;
                st = pick_contrasts(d, t->term, &used, &n_used, &subs, &ns, err);
                if (st != SF_OK) break;
                t->sub = calloc(ns ? ns : 1, sizeof *t->sub);
                if (!t->sub) {
                    free(subs);
                    st = sfi_nomem(err);
                    break;
                }
                t->n_sub = ns;
                for (size_t s = 0; s < ns; s++) {
                    dsub *ds = &t->sub[s];
                    /* factors in term order: numeric always, categorical if coded */
                    for (size_t q = 0; q < t->term->n; q++) {
                        size_t fi = t->term->f[q];
                        if (!d->fac[fi].categorical) {
                            ds->f[ds->n] = fi;
                            ds->coding[ds->n++] = CODE_NUMERIC;
                            continue;
                        }
                        for (size_t r = 0; r < subs[s].n; r++)
                            if (subs[s].f[r] == fi) {
                                ds->f[ds->n] = fi;
                                ds->coding[ds->n++] = subs[s].plus[r] ? CODE_FULL : CODE_REDUCED;
                                if (subs[s].plus[r]) d->fac[fi].need_full = true;
                                else d->fac[fi].need_reduced = true;
                            }
                    }
                }
                free(subs);
            }
        free(used);
    }
    d->n_terms = nt;
    free(bucket);
    free(rep);
    return st;
}

static sf_status bind_schema(sf_design *d, const schema *sc, sf_error *err)
{
    if (d->bound) return sfi_fail(err, SF_ERR_STATE, NULL, "the design is already bound");
    const sfi_formula *f = d->f;
    for (size_t i = 0; i < f->n_rhs; i++)
        if (f->rhs[i].n > SFI_MAX_TERM_FACTORS)
            return sfi_formula_fail(err, f->factors[f->rhs[i].f[0]].span, "a term has more than %d factors",
                                    SFI_MAX_TERM_FACTORS);
    d->fac = calloc(f->n_factors ? f->n_factors : 1, sizeof *d->fac);
    if (!d->fac) return sfi_nomem(err);
    d->n_ev = 0;
    cctx cx = {sc, false, false};
    sf_status st = SF_OK;
    for (size_t i = 0; i < f->n_factors && st == SF_OK; i++) st = compile_factor(d, &cx, i, err);
    if (st == SF_OK && f->n_lhs) {
        if (f->n_lhs != 1 || !term_is_response_ok(d, &f->lhs[0]))
            st = sfi_formula_fail(err, f->lhs_span,
                                  "the response must be one numeric column or expression (got '%.*s')",
                                  (int)(f->lhs_span.end - f->lhs_span.start), f->text + f->lhs_span.start);
        else {
            d->has_response = true;
            d->response = f->lhs[0].f[0];
        }
    }
    if (st == SF_OK) st = plan_terms(d, err);
    if (st != SF_OK) {
        sfi_design_unbind(d);
        return st;
    }
    for (size_t i = 0; i < f->n_rhs; i++)
        for (size_t q = 0; q < f->rhs[i].n; q++) d->fac[f->rhs[i].f[q]].on_rhs = true;
    d->needs_fit = d->n_stats > 0;
    for (size_t i = 0; i < f->n_factors; i++)
        if (d->fac[i].categorical && !d->fac[i].levels_given) d->needs_fit = true;
    for (size_t i = 0; i < f->n_factors; i++) {
        dfactor *fa = &d->fac[i];
        fa->seen.is_str = fa->on_text;
    }
    d->bound = true;
    return SF_OK;
}

void sfi_design_unbind(sf_design *d)
{
    if (d->fac)
        for (size_t i = 0; i < d->f->n_factors; i++) {
            dfactor *f = &d->fac[i];
            free(f->given);
            free(f->scores);
            lset_free(&f->seen);
            lset_free(&f->lookup);
            for (int c = 0; c < 2; c++) {
                free(f->coding[c].m);
                if (f->coding[c].suffix)
                    for (size_t k = 0; k < f->coding[c].k; k++) free(f->coding[c].suffix[k]);
                free(f->coding[c].suffix);
            }
            free(f->levels);
            free(f->direct);
            free(f->bad_value);
        }
    free(d->fac);
    d->fac = NULL;
    for (size_t k = 0; k < d->n_cols; k++) free(d->cols[k].name);
    free(d->cols);
    d->cols = NULL;
    d->n_cols = 0;
    free(d->stats);
    d->stats = NULL;
    d->n_stats = 0;
    if (d->terms)
        for (size_t t = 0; t < d->n_terms; t++) free(d->terms[t].sub);
    free(d->terms);
    d->terms = NULL;
    d->n_terms = 0;
    d->has_response = false;
    d->bound = false;
    d->needs_fit = false;
    sfi_design_unfinish(d);
}

void sfi_design_unfinish(sf_design *d)
{
    if (d->names)
        for (size_t j = 0; j < d->n_out; j++) free(d->names[j]);
    free(d->names);
    d->names = NULL;
    free(d->plan);
    free(d->plan_start);
    d->plan = NULL;
    d->plan_start = NULL;
    d->n_out = 0;
    d->finished = false;
}

/* schema callbacks */
static long src_find(const schema *s, const char *name) { return sf_source_column_index(s->src, name); }
static bool src_is_cat(const schema *s, size_t i) { return sf_source_column_type(s->src, i) == SF_COL_CATEGORY; }
static bool src_is_int(const schema *s, size_t i) { return sf_source_column_is_integer(s->src, i); }
static size_t src_count(const schema *s) { return sf_source_n_columns(s->src); }
static const char *src_name(const schema *s, size_t i) { return sf_source_column_name(s->src, i); }
static size_t tab_count(const schema *s) { return s->t->n_cols; }
static const char *tab_name(const schema *s, size_t i) { return s->t->names ? s->t->names[i] : NULL; }

static long tab_find(const schema *s, const char *name)
{
    for (size_t i = 0; i < s->t->n_cols; i++)
        if (s->t->names && s->t->names[i] && strcmp(s->t->names[i], name) == 0) return (long)i;
    return -1;
}
static bool tab_is_cat(const schema *s, size_t i) { return s->t->cols[i].type == SF_COL_CATEGORY; }
static bool tab_is_int(const schema *s, size_t i) { return s->t->cols[i].is_integer; }

sf_status sf_design_bind(sf_design *d, const sf_source *src, sf_error *err)
{
    if (!d || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "design or source is NULL");
    schema sc = {.find = src_find, .count = src_count, .name = src_name, .is_category = src_is_cat,
                 .is_integer = src_is_int, .src = src};
    return bind_schema(d, &sc, err);
}

sf_status sf_design_bind_table(sf_design *d, const sf_table *t, sf_error *err)
{
    if (!d || !t) return sfi_fail(err, SF_ERR_ARG, NULL, "design or table is NULL");
    schema sc = {.find = tab_find, .count = tab_count, .name = tab_name, .is_category = tab_is_cat,
                 .is_integer = tab_is_int, .t = t};
    return bind_schema(d, &sc, err);
}

sf_status sfi_design_bind_saved(sf_design *d, const schema *sc, sf_error *err) { return bind_schema(d, sc, err); }

/* ---- new / free / define ---- */

void sf_design_params_default(sf_design_params *p)
{
    memset(p, 0, sizeof *p);
    p->na_action = SF_NA_DROP;
    p->unknown_level = SF_UNKNOWN_ERROR;
    p->max_levels = 10000;
}

sf_status sf_design_new(sf_design **out, const char *formula, const sf_design_params *p, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "out is NULL");
    *out = NULL;
    sf_design_params prm;
    if (p) prm = *p;
    else sf_design_params_default(&prm);
    if (prm.na_action != SF_NA_DROP && prm.na_action != SF_NA_ERROR)
        return sfi_fail(err, SF_ERR_ARG, NULL, "na_action must be SF_NA_DROP or SF_NA_ERROR");
    if (prm.unknown_level != SF_UNKNOWN_ERROR && prm.unknown_level != SF_UNKNOWN_ZERO)
        return sfi_fail(err, SF_ERR_ARG, NULL, "unknown_level must be SF_UNKNOWN_ERROR or SF_UNKNOWN_ZERO");
    if (prm.max_levels == 0) prm.max_levels = 10000;
    if (prm.max_levels > 100000000) return sfi_fail(err, SF_ERR_ARG, NULL, "max_levels is too large");
    sf_library_init(); /* Poly's QR goes through GSL */
    sf_design *d = calloc(1, sizeof *d);
    if (!d) return sfi_nomem(err);
    d->p = prm;
    sf_status st = sfi_formula_parse(formula, &d->f, err);
    if (st == SF_OK) {
        /* check functions and arguments now, so such errors come with the syntax errors */
        d->fac = calloc(d->f->n_factors ? d->f->n_factors : 1, sizeof *d->fac);
        if (!d->fac) st = sfi_nomem(err);
        cctx cx = {NULL, false, false};
        for (size_t i = 0; i < d->f->n_factors && st == SF_OK; i++) st = compile_factor(d, &cx, i, err);
        free(d->fac);
        d->fac = NULL;
        free(d->stats);
        d->stats = NULL;
        d->n_stats = 0;
        d->n_ev = 0;
    }
    if (st != SF_OK) {
        sf_design_free(d);
        return st;
    }
    *out = d;
    return SF_OK;
}

void sf_design_free(sf_design *d)
{
    if (!d) return;
    sfi_design_unbind(d);
    free(d->ev);
    for (size_t i = 0; i < d->n_defs; i++) {
        free(d->defs[i].name);
        free(d->defs[i].text);
    }
    free(d->defs);
    sfi_formula_free(d->f);
    free(d);
}

sf_status sf_design_define(sf_design *d, const char *name, const char *value, sf_error *err)
{
    if (!d || !name || !value) return sfi_fail(err, SF_ERR_ARG, NULL, "design, name or value is NULL");
    if (d->bound) return sfi_fail(err, SF_ERR_STATE, NULL, "define names before binding the design");
    bool ok = name[0] && (name[0] == '_' || (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z'));
    for (const char *c = name; *c && ok; c++)
        ok = *c == '_' || (*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z');
    if (!ok) return sfi_fail(err, SF_ERR_ARG, NULL, "'%s' is not a valid name", name);
    sfi_node *val;
    sf_status st = sfi_expr_parse(d->f, value, &val, err);
    if (st != SF_OK) {
        if (err) snprintf(err->where.source, sizeof err->where.source, "<define %s>", name);
        return st;
    }
    define *a = realloc(d->defs, (d->n_defs + 1) * sizeof *a);
    if (!a) return sfi_nomem(err);
    d->defs = a;
    define df = {strdup(name), strdup(value), val};
    if (!df.name || !df.text) {
        free(df.name);
        free(df.text);
        return sfi_nomem(err);
    }
    /* a later definition replaces an earlier one */
    for (size_t i = 0; i < d->n_defs; i++)
        if (strcmp(d->defs[i].name, name) == 0) {
            free(d->defs[i].name);
            free(d->defs[i].text);
            d->defs[i] = df;
            return SF_OK;
        }
    d->defs[d->n_defs++] = df;
    return SF_OK;
}

/* ---- accessors ---- */

bool sf_design_needs_fit(const sf_design *d) { return d && d->needs_fit; }
bool sf_design_is_finished(const sf_design *d) { return d && d->finished; }
size_t sf_design_n_columns(const sf_design *d) { return d && d->finished ? d->n_out : 0; }

const char *sf_design_column_name(const sf_design *d, size_t j)
{
    return d && d->finished && j < d->n_out ? d->names[j] : NULL;
}

bool sf_design_has_response(const sf_design *d)
{
    return d && (d->bound ? d->has_response : d->f->n_lhs > 0);
}

const char *sf_design_response_name(const sf_design *d)
{
    if (!d) return NULL;
    if (d->bound) return d->has_response ? d->f->factors[d->response].name : NULL;
    return d->f->n_lhs == 1 && d->f->lhs[0].n == 1 ? d->f->factors[d->f->lhs[0].f[0]].name : NULL;
}

static void mark_needed_without_y(const sf_design *d, bool *need);

size_t sf_design_n_inputs(const sf_design *d) { return d && d->bound ? d->n_cols : 0; }

const char *sf_design_input(const sf_design *d, size_t i, sf_design_input_type *type, bool *response_only)
{
    if (!d || !d->bound || i >= d->n_cols) return NULL;
    const ucol *c = &d->cols[i];
    if (type)
        *type = c->is_category  ? SF_DESIGN_INPUT_CATEGORY
                : c->is_integer ? SF_DESIGN_INPUT_INTEGER
                                : SF_DESIGN_INPUT_FLOAT;
    if (response_only) {
        *response_only = false;
        if (d->has_response && !d->fac[d->response].on_rhs) {
            /* a small scratch on the stack for usual formulas, else the heap;
             * if that fails, say the column is needed (the safe answer) */
            bool small[64], *need = d->n_cols <= 64 ? small : calloc(d->n_cols, sizeof *need);
            if (need) {
                memset(need, 0, d->n_cols * sizeof *need);
                mark_needed_without_y(d, need);
                *response_only = !need[i];
                if (need != small) free(need);
            }
        }
    }
    return c->name;
}

bool sf_design_has_intercept(const sf_design *d)
{
    if (!d) return false;
    for (size_t i = 0; i < d->f->n_rhs; i++)
        if (d->f->rhs[i].n == 0) return true;
    return false;
}

const char *sf_design_formula(const sf_design *d) { return d ? d->f->text : NULL; }

sf_design_params sf_design_get_params(const sf_design *d)
{
    sf_design_params p;
    if (d) p = d->p;
    else sf_design_params_default(&p);
    return p;
}

sf_status sf_design_clone_empty(const sf_design *d, sf_design **out, sf_error *err)
{
    if (!d || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "design or out is NULL");
    *out = NULL;
    sf_design *c;
    SF_TRY(sf_design_new(&c, d->f->text, &d->p, err));
    sf_status st = SF_OK;
    for (size_t i = 0; i < d->n_defs && st == SF_OK; i++) st = sf_design_define(c, d->defs[i].name, d->defs[i].text, err);
    if (st == SF_OK && d->bound) {
        schema sc;
        sfi_design_saved_schema(d, &sc);
        st = bind_schema(c, &sc, err);
        /* keep the column order of the original so states line up */
    }
    if (st != SF_OK) {
        sf_design_free(c);
        return st;
    }
    *out = c;
    return SF_OK;
}

/* ---- evaluation over a chunk ---- */

double sfi_design_math(int fn, double x)
{
    switch (fn) {
    case 0: return log(x);
    case 1: return log1p(x);
    case 2: return exp(x);
    case 3: return sqrt(x);
    case 4: return fabs(x);
    case 5: return log10(x);
    case 6: return log2(x);
    case 7: return expm1(x);
    case 8: return x * x;
    case 9: return floor(x);
    case 10: return ceil(x);
    case 11: return sin(x);
    case 12: return cos(x);
    case 13: return tan(x);
    case 14: return tanh(x);
    default: return atan(x);
    }
}

typedef struct evctx {
    const sf_design *d;
    const sf_table *t;
    const size_t *tcol; /* d->cols[k] is t->cols[tcol[k]] */
    size_t n;
    double *buf;        /* n_ev x n scratch */
    size_t off;         /* rows [off, off + n) of t (row filters evaluate in blocks) */
} evctx;

typedef struct evres {
    const double *p;
    double c;
    bool is_const;
} evres;

/* Ops with one operand (a). */
static bool ev_unary(ev_op op)
{
    return op == EV_NEG || op == EV_FN || op == EV_STAT || op == EV_NOT || op == EV_NUMIN;
}

/* A number of an in-list: 2, -2.5, True. */
static double list_number(const sfi_node *n)
{
    if (n->kind == SFI_N_UNARY) return n->op == '-' ? -n->kids[0]->num : n->kids[0]->num;
    if (n->kind == SFI_N_CONST) return strcmp(n->text, "True") == 0;
    return n->num;
}

/* Python's str comparison of label s[0..l) with text[0..len): by code point,
 * which for UTF-8 is the byte order. */
static int text_order(const char *s, size_t l, const char *text, size_t len)
{
    int r = memcmp(s, text, l < len ? l : len);
    return r ? r : (l > len) - (l < len);
}

/* Text column comparisons: a code looked up once a chunk (dictionaries are per
 * chunk source), then compared row by row; a missing value equals nothing. */
static void eval_text(const evnode *e, const sf_column *col, size_t off, size_t n, double *o)
{
    sf_column c0 = *col; /* the block's rows */
    c0.codes += off;
    c0.missing += off;
    const sf_column *c = &c0;
    size_t len = e->text ? strlen(e->text) : 0;
    if (e->op == EV_TEXTIN) {
        int32_t codes[64];
        size_t k = 0;
        for (size_t q = 0; q < e->list->n_kids && q < 64; q++) {
            const char *t = e->list->kids[q]->text;
            int32_t code = c->dict ? sf_dict_find(c->dict, t, strlen(t)) : -1;
            if (code >= 0) codes[k++] = code;
        }
        double hit = e->cmp == 'i';
        for (size_t i = 0; i < n; i++) {
            bool in = false;
            for (size_t q = 0; q < k && !c->missing[i]; q++) in |= c->codes[i] == codes[q];
            o[i] = in ? hit : !hit;
        }
        return;
    }
    if (e->cmp == '=' || e->cmp == '!') {
        int32_t code = c->dict ? sf_dict_find(c->dict, e->text, len) : -1;
        double hit = e->cmp == '=';
        for (size_t i = 0; i < n; i++)
            o[i] = code >= 0 && c->codes[i] == code && !c->missing[i] ? hit : !hit;
        return;
    }
    size_t nd = c->dict ? sf_dict_size(c->dict) : 0;
    for (size_t i = 0; i < n; i++) {
        o[i] = 0;
        if (c->missing[i] || c->codes[i] < 0 || (size_t)c->codes[i] >= nd) continue;
        size_t l;
        const char *s = sf_dict_label(c->dict, (size_t)c->codes[i], &l);
        o[i] = compare(e->cmp, text_order(s, l, e->text, len), 0);
    }
}

/* Evaluates node k elementwise, as numpy would on float64 arrays (its
 * fast_scalar_power paths for x**2, x**0.5, x**-1, x**1, x**0 included). */
static evres eval_node(const evctx *cx, int k)
{
    const evnode *e = &cx->d->ev[k];
    size_t n = cx->n;
    evres r = {NULL, e->c, e->is_const};
    if (e->is_const) return r;
    if (e->op == EV_COL) {
        r.p = cx->t->cols[cx->tcol[e->col]].values + cx->off;
        return r;
    }
    double *o = cx->buf + (size_t)k * n;
    if (e->op == EV_TEXTEQ || e->op == EV_TEXTIN) {
        eval_text(e, &cx->t->cols[cx->tcol[e->col]], cx->off, n, o);
        r.p = o;
        return r;
    }
    r.p = o;
    evres a = eval_node(cx, e->a);
    if (a.is_const && !ev_unary(e->op)) {
        /* binary ops take a constant left operand below */
    } else if (a.is_const) {
        /* center(2) and the like: the constant as a column */
        for (size_t i = 0; i < n; i++) o[i] = a.c;
        a.p = o;
        a.is_const = false;
    }
    switch (e->op) {
    case EV_NEG:
        for (size_t i = 0; i < n; i++) o[i] = -a.p[i];
        return r;
    case EV_FN:
        for (size_t i = 0; i < n; i++) o[i] = sfi_design_math(e->fn, a.p[i]);
        return r;
    case EV_NOT:
        for (size_t i = 0; i < n; i++) o[i] = a.p[i] == 0;
        return r;
    case EV_NUMIN: {
        double v[64], hit = e->cmp == 'i';
        size_t nv = e->list->n_kids < 64 ? e->list->n_kids : 64;
        for (size_t q = 0; q < nv; q++) v[q] = list_number(e->list->kids[q]);
        for (size_t i = 0; i < n; i++) {
            bool in = false;
            for (size_t q = 0; q < nv; q++) in |= a.p[i] == v[q];
            o[i] = in ? hit : !hit;
        }
        return r;
    }
    case EV_STAT: {
        /* state.py: Center subtracts a mean rounded to double; Standardize, on
         * the pandas Series patsy sees, subtracts and divides in long double
         * (the Series takes the dtype of its statistics) and the design
         * matrix rounds the result to double once */
        const dstat *s = &cx->d->stats[e->stat];
        for (size_t i = 0; i < n; i++) {
            if (s->kind == ST_CENTER) {
                o[i] = a.p[i] - s->shift;
                continue;
            }
            long double v = a.p[i];
            if (s->center) v -= s->lshift;
            if (s->rescale) v /= s->scale;
            o[i] = (double)v;
        }
        return r;
    }
    default:
        break;
    }
    evres b = eval_node(cx, e->b);
    if (e->op == EV_POW && b.is_const && !a.is_const) {
        double c = b.c;
        if (c == 2) for (size_t i = 0; i < n; i++) o[i] = a.p[i] * a.p[i];
        else if (c == 0.5) for (size_t i = 0; i < n; i++) o[i] = sqrt(a.p[i]);
        else if (c == -1) for (size_t i = 0; i < n; i++) o[i] = 1.0 / a.p[i];
        else if (c == 1) for (size_t i = 0; i < n; i++) o[i] = a.p[i];
        else if (c == 0) for (size_t i = 0; i < n; i++) o[i] = 1.0;
        else for (size_t i = 0; i < n; i++) o[i] = pow(a.p[i], c);
        return r;
    }
#define SF_BINLOOP(EXPR)                                                         \
    do {                                                                         \
        if (a.is_const) for (size_t i = 0; i < n; i++) { double x = a.c, y = b.p[i]; o[i] = (EXPR); } \
        else if (b.is_const) for (size_t i = 0; i < n; i++) { double x = a.p[i], y = b.c; o[i] = (EXPR); } \
        else for (size_t i = 0; i < n; i++) { double x = a.p[i], y = b.p[i]; o[i] = (EXPR); } \
    } while (0)
    switch (e->op) {
    case EV_ADD: SF_BINLOOP(x + y); break;
    case EV_SUB: SF_BINLOOP(x - y); break;
    case EV_MUL: SF_BINLOOP(x * y); break;
    case EV_DIV: SF_BINLOOP(x / y); break;
    case EV_CMP: SF_BINLOOP(compare(e->cmp, x, y)); break;
    case EV_AND: SF_BINLOOP(x != 0 && y != 0); break;
    case EV_OR: SF_BINLOOP(x != 0 || y != 0); break;
    default: SF_BINLOOP(pow(x, y)); break;
    }
#undef SF_BINLOOP
    return r;
}

static void mark_columns(const sf_design *d, int k, bool *need)
{
    if (k < 0) return;
    const evnode *e = &d->ev[k];
    if (e->op == EV_COL || e->op == EV_TEXTEQ || e->op == EV_TEXTIN) need[e->col] = true;
    if (e->op == EV_CONST || e->op == EV_COL || e->op == EV_TEXTEQ || e->op == EV_TEXTIN) return;
    mark_columns(d, e->a, need);
    if (!ev_unary(e->op)) mark_columns(d, e->b, need);
}

/* True when the response is left out of this build (no y wanted) and so are the
 * columns only it uses. */
static bool skips(const sf_design *d, size_t f, bool want_y)
{
    return !want_y && d->has_response && f == d->response && !d->fac[f].on_rhs;
}

/* Marks in need[] the columns a build without y reads: every factor's but the
 * response's, unless a right-hand-side term uses the response too. */
static void mark_needed_without_y(const sf_design *d, bool *need)
{
    for (size_t f = 0; f < d->f->n_factors; f++) {
        if (skips(d, f, false)) continue;
        if (d->fac[f].on_text) need[d->fac[f].col] = true;
        else mark_columns(d, d->fac[f].root, need);
    }
}

/* Finds the design's columns in t by name and checks their types; columns only
 * the response uses may be absent when no y is wanted (tcol SIZE_MAX). */
static sf_status resolve(const sf_design *d, const sf_table *t, size_t *tcol, bool want_y, sf_error *err)
{
    bool need_all = want_y || !d->has_response || d->fac[d->response].on_rhs;
    bool *need = need_all ? NULL : calloc(d->n_cols + 1, sizeof *need);
    if (!need_all && !need) return sfi_nomem(err);
    if (need) mark_needed_without_y(d, need); /* need_all is false only without y */
    for (size_t k = 0; k < d->n_cols; k++) {
        size_t j;
        for (j = 0; j < t->n_cols; j++)
            if (t->names && t->names[j] && strcmp(t->names[j], d->cols[k].name) == 0) break;
        if (j == t->n_cols && need && !need[k]) {
            tcol[k] = SIZE_MAX;
            continue;
        }
        if (j == t->n_cols) {
            free(need);
            sf_status st = sfi_fail(err, SF_ERR_ARG, NULL, "the data has no column '%s' (used by the formula)",
                                    d->cols[k].name);
            sfi_error_field(err, d->cols[k].name);
            return st;
        }
        bool is_cat = t->cols[j].type == SF_COL_CATEGORY;
        if (is_cat != d->cols[k].is_category) {
            free(need);
            sf_status st = sfi_fail(err, SF_ERR_ARG, NULL,
                                    "column '%s' is %s here but was %s when the design was made (set its type)",
                                    d->cols[k].name, is_cat ? "text" : "numeric",
                                    d->cols[k].is_category ? "text" : "numeric");
            sfi_error_field(err, d->cols[k].name);
            return st;
        }
        tcol[k] = j;
    }
    free(need);
    return SF_OK;
}

static sf_status scratch(const sf_design *d, const sf_table *t, bool want_y, size_t **tcol, double **buf,
                         sf_error *err)
{
    *tcol = malloc((d->n_cols ? d->n_cols : 1) * sizeof **tcol);
    *buf = malloc((d->n_ev ? d->n_ev : 1) * (t->n_rows ? t->n_rows : 1) * sizeof **buf);
    if (!*tcol || !*buf) {
        free(*tcol);
        free(*buf);
        return sfi_nomem(err);
    }
    sf_status st = resolve(d, t, *tcol, want_y, err);
    if (st != SF_OK) {
        free(*tcol);
        free(*buf);
    }
    return st;
}

static const char *factor_label(const sf_table *t, size_t tc, size_t i, size_t *len)
{
    return sf_dict_label(t->cols[tc].dict, (size_t)t->cols[tc].codes[i], len);
}

/* ---- fitting ---- */


static sf_status record_bad(dfactor *f, const char *text, const sf_table *t, size_t i, sf_error *err)
{
    if (f->bad_value) return SF_OK;
    f->bad_value = strdup(text);
    if (!f->bad_value) return sfi_nomem(err);
    f->bad_row = sf_table_row(t, i);
    f->bad_line = t->line ? t->line[i] : 0;
    return SF_OK;
}

static sf_status too_many_levels(const sf_design *d, const dfactor *f, sf_error *err)
{
    sf_status st = sfi_formula_fail(err, f->span, "more than %zu levels in '%s' (raise max_levels)", d->p.max_levels,
                                    f->name);
    sfi_error_field(err, f->name);
    return st;
}

/* Learns factor f's levels from chunk rows (text codes or numbers). */
static sf_status fit_levels(sf_design *d, dfactor *f, const evctx *cx, sf_error *err)
{
    const sf_table *t = cx->t;
    size_t n = t->n_rows;
    if (f->on_text) {
        size_t tc = cx->tcol[f->col];
        size_t nd = sf_dict_size(t->cols[tc].dict);
        uint8_t *done = calloc(nd ? nd : 1, 1);
        if (!done) return sfi_nomem(err);
        sf_status st = SF_OK;
        for (size_t i = 0; i < n && st == SF_OK; i++) {
            int32_t c = t->cols[tc].codes[i];
            if (c < 0 || t->cols[tc].missing[i] || (size_t)c >= nd || done[c]) continue;
            done[c] = 1;
            size_t len;
            const char *s = factor_label(t, tc, i, &len);
            long idx;
            if (f->levels_given) {
                if (!f->lookup.is_str || lset_find_str(&f->lookup, s, len) < 0) st = record_bad(f, s, t, i, err);
            } else if (!lset_add_str(&f->seen, s, len, &idx)) {
                st = sfi_nomem(err);
            } else if (f->seen.n > d->p.max_levels) {
                st = too_many_levels(d, f, err);
            }
        }
        free(done);
        return st;
    }
    evres v = eval_node(cx, f->root);
    for (size_t i = 0; i < n; i++) {
        double x = v.is_const ? v.c : v.p[i];
        if (isnan(x)) continue;
        long idx;
        if (f->levels_given) {
            if (f->lookup.is_str || lset_find_num(&f->lookup, x) < 0) {
                char txt[40];
                dvalue v = {DV_NUM, d->ev[f->root].is_int && x == floor(x), x, NULL};
                value_text(&v, txt, sizeof txt);
                SF_TRY(record_bad(f, txt, t, i, err));
            }
        } else if (!lset_add_num(&f->seen, x, &idx)) {
            return sfi_nomem(err);
        } else if (f->seen.n > d->p.max_levels) {
            return too_many_levels(d, f, err);
        }
    }
    return SF_OK;
}

/* long double a += b with Neumaier's compensation in *comp */
static void neumaier(long double *a, long double *comp, long double b)
{
    long double t = *a + b;
    if (fabsl(*a) >= fabsl(b)) *comp += (*a - t) + b;
    else *comp += (b - t) + *a;
    *a = t;
}

/* One row of patsy's Standardize.memorize_chunk loop, or Center's np.sum. */
static void stat_add(dstat *s, double x)
{
    s->n += 1;
    if (s->kind == ST_CENTER) {
        neumaier(&s->sum, &s->comp, x);
    } else {
        long double delta = x - s->mean;
        s->mean += delta / s->n;
        s->m2 += delta * (x - s->mean);
    }
}

sf_status sf_design_partial_fit(sf_design *d, const sf_table *t, sf_error *err)
{
    if (!d || !t) return sfi_fail(err, SF_ERR_ARG, NULL, "design or table is NULL");
    if (!d->bound) return sfi_fail(err, SF_ERR_STATE, NULL, "bind the design before fitting it");
    if (d->finished) return sfi_fail(err, SF_ERR_STATE, NULL, "the design is already finished");
    if (t->n_rows == 0) return SF_OK;
    size_t *tcol;
    double *buf;
    SF_TRY(scratch(d, t, true, &tcol, &buf, err));
    evctx cx = {d, t, tcol, t->n_rows, buf, 0};
    size_t nf = d->f->n_factors;
    size_t *before = malloc((nf ? nf : 1) * sizeof *before);
    dstat *ns = malloc((d->n_stats ? d->n_stats : 1) * sizeof *ns);
    sf_status st = SF_OK;
    if (!before || !ns) st = sfi_nomem(err);
    for (size_t i = 0; i < nf && st == SF_OK; i++) before[i] = d->fac[i].seen.n;
    for (size_t s = 0; s < d->n_stats && st == SF_OK; s++) {
        ns[s] = d->stats[s];
        evres v = eval_node(&cx, ns[s].arg);
        for (size_t i = 0; i < t->n_rows; i++) {
            double x = v.is_const ? v.c : v.p[i];
            if (!isnan(x)) stat_add(&ns[s], x);
        }
    }
    size_t i_fail = nf;
    for (size_t i = 0; i < nf && st == SF_OK; i++) {
        dfactor *f = &d->fac[i];
        if (!f->categorical) continue;
        bool had_bad = f->bad_value != NULL;
        st = fit_levels(d, f, &cx, err);
        if (st != SF_OK) {
            i_fail = i;
            if (!had_bad) {
                free(f->bad_value);
                f->bad_value = NULL;
            }
        }
    }
    if (st == SF_OK) {
        if (d->n_stats) memcpy(d->stats, ns, d->n_stats * sizeof *ns);
        for (size_t k = 0; k < d->n_cols; k++)
            if (!d->cols[k].is_category) d->cols[k].all_int = d->cols[k].all_int && t->cols[tcol[k]].is_integer;
    } else if (before) {
        for (size_t i = 0; i < nf && i <= i_fail; i++) lset_truncate(&d->fac[i].seen, before[i]);
    }
    free(before);
    free(ns);
    free(tcol);
    free(buf);
    return st;
}

sf_status sf_design_merge(sf_design *dst, const sf_design *src, sf_error *err)
{
    if (!dst || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "design is NULL");
    if (!dst->bound || !src->bound || dst->finished || strcmp(dst->f->text, src->f->text) != 0 ||
        dst->n_cols != src->n_cols || dst->n_stats != src->n_stats)
        return sfi_fail(err, SF_ERR_STATE, NULL, "merging designs that are not partial states of one bound design");
    size_t nf = dst->f->n_factors;
    size_t *before = malloc((nf ? nf : 1) * sizeof *before);
    if (!before) return sfi_nomem(err);
    sf_status st = SF_OK;
    size_t i;
    for (i = 0; i < nf && st == SF_OK; i++) {
        dfactor *a = &dst->fac[i];
        const dfactor *b = &src->fac[i];
        before[i] = a->seen.n;
        long idx;
        for (size_t k = 0; k < b->seen.n && st == SF_OK; k++) {
            bool ok = b->seen.is_str ? lset_add_str(&a->seen, b->seen.str[k], b->seen.len[k], &idx)
                                     : lset_add_num(&a->seen, b->seen.num[k], &idx);
            if (!ok) st = sfi_nomem(err);
            else if (a->seen.n > dst->p.max_levels) st = too_many_levels(dst, a, err);
        }
    }
    if (st != SF_OK) {
        for (size_t q = 0; q < i; q++) lset_truncate(&dst->fac[q].seen, before[q]);
        free(before);
        return st;
    }
    free(before);
    for (i = 0; i < nf; i++) {
        dfactor *a = &dst->fac[i];
        const dfactor *b = &src->fac[i];
        if (!a->bad_value && b->bad_value && (a->bad_value = strdup(b->bad_value))) {
            a->bad_row = b->bad_row;
            a->bad_line = b->bad_line;
        }
    }
    for (size_t s = 0; s < dst->n_stats; s++) {
        dstat *a = &dst->stats[s];
        const dstat *b = &src->stats[s];
        if (b->n == 0) continue;
        if (a->n == 0) {
            a->n = b->n;
            a->sum = b->sum;
            a->comp = b->comp;
            a->mean = b->mean;
            a->m2 = b->m2;
            continue;
        }
        long double n = (long double)a->n + b->n;
        if (a->kind == ST_CENTER) {
            neumaier(&a->sum, &a->comp, b->sum);
            a->comp += b->comp;
        } else {
            /* Chan, Golub & LeVeque */
            long double delta = b->mean - a->mean;
            a->mean += delta * (b->n / n);
            a->m2 += b->m2 + delta * delta * (a->n * (b->n / n));
        }
        a->n = n;
    }
    for (size_t k = 0; k < dst->n_cols; k++) dst->cols[k].all_int = dst->cols[k].all_int && src->cols[k].all_int;
    return SF_OK;
}

sf_status sfi_design_add_levels(sf_design *d, size_t i, char *const *str, const double *num, size_t n, sf_error *err)
{
    dfactor *f = &d->fac[i];
    long idx;
    for (size_t k = 0; k < n; k++) {
        bool ok = str ? lset_add_str(&f->seen, str[k], strlen(str[k]), &idx) : lset_add_num(&f->seen, num[k], &idx);
        if (!ok) return sfi_nomem(err);
    }
    return SF_OK;
}

/* ---- finishing: levels, contrasts, names ---- */

static bool expr_is_int(const sf_design *d, int k)
{
    const evnode *e = &d->ev[k];
    switch (e->op) {
    case EV_CONST: return e->is_int;
    case EV_COL: return d->cols[e->col].is_integer && d->cols[e->col].all_int;
    case EV_NEG: return expr_is_int(d, e->a);
    case EV_FN: return (e->fn == 4 || e->fn == 8) && expr_is_int(d, e->a);
    case EV_CMP: case EV_TEXTEQ: return true;
    case EV_ADD: case EV_SUB: case EV_MUL: return expr_is_int(d, e->a) && expr_is_int(d, e->b);
    case EV_POW: return expr_is_int(d, e->a) && expr_is_int(d, e->b) && d->ev[e->b].is_const && d->ev[e->b].c >= 0;
    default: return false;
    }
}

static int cmp_num(const void *a, const void *b)
{
    double x = ((const dvalue *)a)->num, y = ((const dvalue *)b)->num;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    /* Python compares str by code point: for UTF-8 that is byte order */
    const unsigned char *x = (const unsigned char *)((const dvalue *)a)->str;
    const unsigned char *y = (const unsigned char *)((const dvalue *)b)->str;
    return strcmp((const char *)x, (const char *)y);
}

/* contrasts.py _get_level: a level equal to ref, else an integer index. */
static sf_status ref_index(const dfactor *f, size_t *out, sf_error *err)
{
    const dvalue *r = &f->ref;
    for (size_t i = 0; i < f->n_levels; i++) {
        const dvalue *l = &f->levels[i];
        bool eq = (r->kind == DV_STR) == (l->kind == DV_STR) &&
                  (r->kind == DV_STR ? strcmp(r->str, l->str) == 0 : r->num == l->num);
        if (eq) {
            *out = i;
            return SF_OK;
        }
    }
    char txt[256];
    value_repr(r, txt, sizeof txt);
    if (r->kind != DV_STR && r->is_int) {
        double k = r->num < 0 ? r->num + (double)f->n_levels : r->num;
        if (k >= 0 && k < (double)f->n_levels) {
            *out = (size_t)k;
            return SF_OK;
        }
        return sfi_formula_fail(err, f->ref_span, "specified level %s is out of range (%zu levels)", txt, f->n_levels);
    }
    return sfi_formula_fail(err, f->ref_span, "specified level %s not found among the levels of '%s'", txt, f->name);
}

/* contrasts.py Poly._code_either: orthogonal polynomials from the QR
 * decomposition of the centred scores' Vandermonde matrix, columns signed so
 * R's diagonal is positive, divided as patsy divides (by row norms, broadcast
 * over columns), the constant column set to 1. numpy's LAPACK and GSL's
 * Householder QR agree to rounding, not bitwise. */
static sf_status poly_coding(dfactor *f, bool full, coding *c, sf_error *err)
{
    size_t n = f->n_levels;
    if (f->scores && f->n_scores != n)
        return sfi_formula_fail(err, f->ref_span, "number of levels (%zu) does not match number of scores (%zu)", n,
                                f->n_scores);
    gsl_matrix *a = gsl_matrix_alloc(n, n), *q = gsl_matrix_alloc(n, n), *r = gsl_matrix_alloc(n, n);
    gsl_vector *tau = gsl_vector_alloc(n);
    sf_status st = a && q && r && tau ? SF_OK : sfi_nomem(err);
    if (st == SF_OK) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += f->scores ? f->scores[i].num : (double)i;
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double sc = (f->scores ? f->scores[i].num : (double)i) - mean;
            for (size_t j = 0; j < n; j++) gsl_matrix_set(a, i, j, pow(sc, (double)j));
        }
        if (gsl_linalg_QR_decomp(a, tau) != GSL_SUCCESS || gsl_linalg_QR_unpack(a, tau, q, r) != GSL_SUCCESS)
            st = sfi_formula_fail(err, f->span, "the Poly contrast of '%s' failed (QR)", f->name);
    }
    if (st == SF_OK) {
        for (size_t j = 0; j < n; j++) {
            double rj = gsl_matrix_get(r, j, j), sg = rj > 0 ? 1 : rj < 0 ? -1 : 0;
            for (size_t i = 0; i < n; i++) gsl_matrix_set(q, i, j, gsl_matrix_get(q, i, j) * sg);
        }
        double *rn = malloc(n * sizeof *rn);
        if (!rn) st = sfi_nomem(err);
        for (size_t i = 0; rn && i < n; i++) {
            double s2 = 0;
            for (size_t j = 0; j < n; j++) s2 += gsl_matrix_get(q, i, j) * gsl_matrix_get(q, i, j);
            rn[i] = sqrt(s2);
        }
        for (size_t i = 0; rn && i < n; i++)
            for (size_t j = 0; j < n; j++) gsl_matrix_set(q, i, j, gsl_matrix_get(q, i, j) / rn[j]);
        free(rn);
    }
    size_t k = full ? n : n - 1, off = full ? 0 : 1;
    if (st == SF_OK) {
        c->k = k;
        c->m = calloc(n * (k ? k : 1), sizeof *c->m);
        c->suffix = calloc(k ? k : 1, sizeof *c->suffix);
        if (!c->m || !c->suffix) st = sfi_nomem(err);
    }
    static const char *const low[] = {".Constant", ".Linear", ".Quadratic", ".Cubic"};
    for (size_t j = 0; j < k && st == SF_OK; j++) {
        size_t deg = j + off;
        for (size_t i = 0; i < n; i++) c->m[i * k + j] = deg == 0 ? 1.0 : gsl_matrix_get(q, i, deg);
        char buf[32];
        if (deg < 4) snprintf(buf, sizeof buf, "%s", low[deg]);
        else snprintf(buf, sizeof buf, "^%zu", deg);
        if (!(c->suffix[j] = strdup(buf))) st = sfi_nomem(err);
    }
    gsl_matrix_free(a);
    gsl_matrix_free(q);
    gsl_matrix_free(r);
    gsl_vector_free(tau);
    return st;
}

static sf_status make_coding(dfactor *f, bool full, coding *c, sf_error *err)
{
    if (f->contrast == CT_POLY) return poly_coding(f, full, c, err);
    size_t n = f->n_levels;
    size_t omit = 0;
    bool has_omit = !full || f->contrast == CT_SUM;
    if (f->contrast == CT_TREATMENT && !full) omit = 0;
    if (f->contrast == CT_SUM) omit = n - 1;
    if (f->has_ref && (f->contrast == CT_TREATMENT || f->contrast == CT_SUM) && has_omit)
        SF_TRY(ref_index(f, &omit, err));
    size_t k = full ? n : n - 1;
    c->k = k;
    c->m = calloc(n * (k ? k : 1), sizeof *c->m);
    c->suffix = calloc(k ? k : 1, sizeof *c->suffix);
    if (!c->m || !c->suffix) return sfi_nomem(err);
    char lv[320];
    for (size_t j = 0; j < k; j++) {
        /* the level each column is named after, and its prefix */
        const char *fmt = "[%s]";
        size_t li = j;
        bool named = true;
        char *s = NULL;
        switch (f->contrast) {
        case CT_TREATMENT:
            if (!full) {
                fmt = "[T.%s]";
                li = j < omit ? j : j + 1;
            }
            break;
        case CT_SUM:
            if (full && j == 0) {
                named = false;
                s = strdup("[mean]");
            } else {
                size_t r = full ? j - 1 : j;
                li = r < omit ? r : r + 1;
                fmt = "[S.%s]";
            }
            break;
        case CT_HELMERT:
            fmt = "[H.%s]";
            if (full && j == 0) {
                named = false;
                s = strdup("[H.intercept]");
            } else {
                li = full ? j : j + 1;
            }
            break;
        default:
            fmt = "[D.%s]";
            li = j;
            break;
        }
        if (named) {
            value_text(&f->levels[li], lv, sizeof lv);
            size_t len = strlen(lv) + 8;
            s = malloc(len);
            if (s) snprintf(s, len, fmt, lv);
        }
        if (!s) return sfi_nomem(err);
        c->suffix[j] = s;
    }
    for (size_t i = 0; i < n; i++) {
        double *row = c->m + i * k;
        switch (f->contrast) {
        case CT_TREATMENT:
            if (full) row[i] = 1;
            else if (i != omit) row[i < omit ? i : i - 1] = 1;
            break;
        case CT_SUM: {
            double *r = full ? row + 1 : row;
            if (full) row[0] = 1;
            if (i == omit)
                for (size_t j = 0; j + 1 < n; j++) r[j] = -1;
            else
                r[i < omit ? i : i - 1] = 1;
            break;
        }
        case CT_HELMERT: {
            double *r = full ? row + 1 : row;
            if (full) row[0] = 1;
            for (size_t j = 0; j + 1 < n; j++) r[j] = i == j + 1 ? (double)(j + 1) : i <= j ? -1.0 : 0.0;
            break;
        }
        default: {
            double *r = full ? row + 1 : row;
            if (full) row[0] = 1;
            double nl = (double)n;
            for (size_t j = 0; j + 1 < n; j++)
                r[j] = i <= j ? (double)((long)j + 1 - (long)n) / nl : (double)(j + 1) / nl;
            break;
        }
        }
    }
    return SF_OK;
}

/* pandas reads a column of these as booleans (its default true_values and
 * false_values): 1, 0, or -1 for anything else */
static int bool_token(const char *s)
{
    if (!strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "true")) return 1;
    if (!strcmp(s, "False") || !strcmp(s, "FALSE") || !strcmp(s, "false")) return 0;
    return -1;
}

static sf_status finish_factor(sf_design *d, dfactor *f, sf_error *err)
{
    if (f->bad_value) {
        /* a formula error: the caret goes under the level list, the message
         * says where in the data the value is */
        char lv[64] = "";
        if (f->n_given) {
            size_t k = 0;
            for (size_t i = 0; i < f->n_given && i < 4 && k + 24 < sizeof lv; i++) {
                value_repr(&f->given[i], lv + k, sizeof lv - k);
                k = strlen(lv);
                if (i + 1 < f->n_given && k + 2 < sizeof lv) k += (size_t)snprintf(lv + k, sizeof lv - k, ", ");
            }
            if (f->n_given > 4) snprintf(lv + k, sizeof lv - k, "...");
        }
        char at[64] = "";
        if (f->bad_line) snprintf(at, sizeof at, " (data row %llu, line %llu)", (unsigned long long)f->bad_row,
                                  (unsigned long long)f->bad_line);
        else snprintf(at, sizeof at, " (data row %llu)", (unsigned long long)f->bad_row);
        sf_status st = sfi_formula_fail(err, f->levels_node ? f->levels_node->span : f->span,
                                        "the levels of '%s' miss the value '%s' found in the data%s (levels: [%s])",
                                        f->name, f->bad_value, at, lv);
        return st;
    }
    size_t n = f->levels_given ? f->n_given : f->seen.n;
    if (n == 0)
        return sfi_formula_fail(err, f->span, "categorical factor '%s' has no levels (no non-missing value seen)", f->name);
    f->levels = calloc(n, sizeof *f->levels);
    if (!f->levels) return sfi_nomem(err);
    f->n_levels = n;
    if (f->levels_given) {
        memcpy(f->levels, f->given, n * sizeof *f->levels);
    } else {
        bool is_int = !f->on_text && expr_is_int(d, f->root);
        for (size_t i = 0; i < n; i++) {
            if (f->seen.is_str) {
                f->levels[i].kind = DV_STR;
                f->levels[i].str = f->seen.str[i];
            } else {
                f->levels[i].kind = DV_NUM;
                f->levels[i].num = f->seen.num[i];
                f->levels[i].is_int = is_int && f->seen.num[i] == floor(f->seen.num[i]);
            }
        }
        qsort(f->levels, n, sizeof *f->levels, f->seen.is_str ? cmp_str : cmp_num);
        bool all_bool = f->seen.is_str;
        for (size_t i = 0; i < n && all_bool; i++) all_bool = bool_token(f->levels[i].str) >= 0;
        if (all_bool) {
            /* a boolean column has both levels, seen or not (categorical.py
             * CategoricalSniffer.sniff) */
            dvalue *two = realloc(f->levels, 2 * sizeof *two);
            if (!two) return sfi_nomem(err);
            f->levels = two;
            f->levels[0] = (dvalue){DV_BOOL, true, 0, NULL};
            f->levels[1] = (dvalue){DV_BOOL, true, 1, NULL};
            f->n_levels = n = 2;
            f->is_bool = true;
        } else {
            SF_TRY(build_lookup(f, f->levels, n, err));
        }
    }
    /* a table for small integer levels spares a hash lookup per row */
    double top = -1;
    bool small = !f->on_text && !f->lookup.is_str;
    for (size_t i = 0; i < n && small; i++) {
        double v = f->levels[i].num;
        small = v >= 0 && v < 65536 && v == floor(v);
        top = fmax(top, v);
    }
    if (small) {
        f->n_direct = (size_t)top + 1;
        f->direct = malloc(f->n_direct * sizeof *f->direct);
        if (!f->direct) return sfi_nomem(err);
        for (size_t v = 0; v < f->n_direct; v++) f->direct[v] = -2;
        for (size_t i = 0; i < n; i++) f->direct[(size_t)f->levels[i].num] = (int32_t)i;
    }
    if (f->need_full) SF_TRY(make_coding(f, true, &f->coding[0], err));
    if (f->need_reduced) SF_TRY(make_coding(f, false, &f->coding[1], err));
    return SF_OK;
}

static void factor_unfinish(dfactor *f)
{
    for (int c = 0; c < 2; c++) {
        free(f->coding[c].m);
        if (f->coding[c].suffix)
            for (size_t k = 0; k < f->coding[c].k; k++) free(f->coding[c].suffix[k]);
        free(f->coding[c].suffix);
        memset(&f->coding[c], 0, sizeof f->coding[c]);
    }
    free(f->levels);
    f->levels = NULL;
    f->n_levels = 0;
    free(f->direct);
    f->direct = NULL;
    f->n_direct = 0;
    f->is_bool = false;
    if (!f->levels_given) lset_free(&f->lookup);
}

/* _subterm_column_names_iter and _build_subterm: the first factor varies fastest. */
static sf_status make_columns(sf_design *d, sf_error *err)
{
    size_t n_out = 0, n_ops = 0;
    for (size_t t = 0; t < d->n_terms; t++)
        for (size_t s = 0; s < d->terms[t].n_sub; s++) {
            const dsub *sb = &d->terms[t].sub[s];
            size_t cols = 1;
            for (size_t q = 0; q < sb->n; q++)
                if (sb->coding[q] != CODE_NUMERIC) cols *= d->fac[sb->f[q]].coding[sb->coding[q] - 1].k;
            n_out += cols;
            n_ops += cols * sb->n;
        }
    d->names = calloc(n_out ? n_out : 1, sizeof *d->names);
    d->plan = calloc(n_ops ? n_ops : 1, sizeof *d->plan);
    d->plan_start = calloc(n_out + 1, sizeof *d->plan_start);
    if (!d->names || !d->plan || !d->plan_start) return sfi_nomem(err);
    d->n_out = n_out;
    size_t j = 0, op = 0;
    for (size_t t = 0; t < d->n_terms; t++)
        for (size_t s = 0; s < d->terms[t].n_sub; s++) {
            const dsub *sb = &d->terms[t].sub[s];
            size_t idx[SFI_MAX_TERM_FACTORS] = {0}, lim[SFI_MAX_TERM_FACTORS];
            bool empty = false;
            for (size_t q = 0; q < sb->n; q++) {
                lim[q] = sb->coding[q] == CODE_NUMERIC ? 1 : d->fac[sb->f[q]].coding[sb->coding[q] - 1].k;
                empty = empty || lim[q] == 0;
            }
            if (empty) continue;
            for (;;) {
                size_t len = 1;
                for (size_t q = 0; q < sb->n; q++) {
                    const dfactor *f = &d->fac[sb->f[q]];
                    len += strlen(f->name) + 1;
                    if (sb->coding[q] != CODE_NUMERIC) len += strlen(f->coding[sb->coding[q] - 1].suffix[idx[q]]);
                }
                char *name = malloc(len < 10 ? 10 : len);
                if (!name) return sfi_nomem(err);
                size_t k = 0;
                if (sb->n == 0) k = (size_t)sprintf(name, "Intercept");
                d->plan_start[j] = op;
                for (size_t q = 0; q < sb->n; q++) {
                    const dfactor *f = &d->fac[sb->f[q]];
                    if (q) name[k++] = ':';
                    k += (size_t)sprintf(name + k, "%s", f->name);
                    plan_op *po = &d->plan[op++];
                    po->f = sb->f[q];
                    if (sb->coding[q] != CODE_NUMERIC) {
                        const coding *c = &f->coding[sb->coding[q] - 1];
                        k += (size_t)sprintf(name + k, "%s", c->suffix[idx[q]]);
                        po->m = c->m;
                        po->k = c->k;
                        po->c = idx[q];
                    }
                }
                d->names[j++] = name;
                size_t q = 0;
                while (q < sb->n && ++idx[q] == lim[q]) idx[q++] = 0;
                if (q == sb->n) break;
            }
        }
    d->plan_start[j] = op;
    return SF_OK;
}

sf_status sf_design_finish(sf_design *d, sf_error *err)
{
    if (!d) return sfi_fail(err, SF_ERR_ARG, NULL, "design is NULL");
    if (!d->bound) return sfi_fail(err, SF_ERR_STATE, NULL, "bind the design before finishing it");
    if (d->finished) return SF_OK;
    sf_status st = SF_OK;
    for (size_t s = 0; s < d->n_stats && st == SF_OK; s++) {
        dstat *x = &d->stats[s];
        if (x->n == 0) {
            st = sfi_formula_fail(err, x->span, "%s() saw no value", x->name);
            break;
        }
        if (x->kind == ST_CENTER) {
            x->lshift = (x->sum + x->comp) / x->n;
            x->shift = (double)x->lshift;
        } else {
            x->lshift = x->mean;
            x->shift = (double)x->mean;
            x->scale = sqrtl(x->m2 / ((long double)x->n - x->ddof));
        }
    }
    size_t nf = d->f->n_factors;
    for (size_t i = 0; i < nf && st == SF_OK; i++)
        if (d->fac[i].categorical) st = finish_factor(d, &d->fac[i], err);
    if (st == SF_OK) st = make_columns(d, err);
    if (st != SF_OK) {
        for (size_t i = 0; i < nf; i++) factor_unfinish(&d->fac[i]);
        sfi_design_unfinish(d);
        return st;
    }
    d->finished = true;
    return SF_OK;
}

/* ---- building ---- */

static sf_status row_fail(const sf_table *t, size_t i, sf_error *err, const char *field, const char *fmt,
                          const char *a, const char *b)
{
    sf_where w;
    sfi_where_init(&w, "");
    w.row = sf_table_row(t, i);
    w.line = t->line ? t->line[i] : 0;
    sf_status st = sfi_fail(err, SF_ERR_ARG, &w, fmt, a, b);
    sfi_error_field(err, field);
    return st;
}

/* Level index of each row of categorical factor f: -1 missing, -2 never seen. */
static sf_status factor_codes(const sf_design *d, const dfactor *f, const evctx *cx, int32_t *lv, sf_error *err)
{
    const sf_table *t = cx->t;
    size_t n = t->n_rows;
    if (f->on_text) {
        size_t tc = cx->tcol[f->col];
        size_t nd = sf_dict_size(t->cols[tc].dict);
        int32_t *map = malloc((nd ? nd : 1) * sizeof *map);
        if (!map) return sfi_nomem(err);
        for (size_t c = 0; c < nd; c++) map[c] = -3;
        for (size_t i = 0; i < n; i++) {
            int32_t c = t->cols[tc].codes[i];
            if (c < 0 || t->cols[tc].missing[i] || (size_t)c >= nd) {
                lv[i] = -1;
                continue;
            }
            if (map[c] == -3) {
                size_t len;
                const char *s = factor_label(t, tc, i, &len);
                long idx = f->is_bool ? bool_token(s) : f->lookup.is_str ? lset_find_str(&f->lookup, s, len) : -1;
                map[c] = idx < 0 ? -2 : (int32_t)idx;
            }
            lv[i] = map[c];
        }
        free(map);
        return SF_OK;
    }
    (void)d;
    evres v = eval_node(cx, f->root);
    for (size_t i = 0; i < n; i++) {
        double x = v.is_const ? v.c : v.p[i];
        if (isnan(x)) {
            lv[i] = -1;
            continue;
        }
        if (f->direct) {
            lv[i] = x >= 0 && x < (double)f->n_direct && x == (double)(size_t)x ? f->direct[(size_t)x] : -2;
            continue;
        }
        long idx = f->lookup.is_str ? -1 : lset_find_num(&f->lookup, x);
        lv[i] = idx < 0 ? -2 : (int32_t)idx;
    }
    return SF_OK;
}

static void unknown_text(const dfactor *f, const evctx *cx, size_t i, char *buf, size_t n)
{
    if (f->on_text) {
        size_t tc = cx->tcol[f->col];
        snprintf(buf, n, "%s", factor_label(cx->t, tc, i, NULL));
    } else {
        evres r = eval_node(cx, f->root);
        double x = r.is_const ? r.c : r.p[i];
        dvalue v = {DV_NUM, cx->d->ev[f->root].is_int && x == floor(x), x, NULL};
        value_text(&v, buf, n);
    }
}

/* _build_subterm: each column is the product, in the term's factor order, of
 * numeric values and contrast entries. patsy starts from 1, and 1 * v is v
 * exactly, so the first factor starts the product. Rows go in blocks so a
 * block's output stays in cache while its columns are filled one by one. */
static void write_rows(const sf_design *d, const double *const *val, const int32_t *lv, size_t n,
                       const uint32_t *rows, size_t n_rows, double *x, size_t ld)
{
    enum { BLOCK = 256 };
    for (size_t b0 = 0; b0 < n_rows; b0 += BLOCK) {
        size_t b1 = n_rows - b0 < BLOCK ? n_rows : b0 + BLOCK;
        for (size_t j = 0; j < d->n_out; j++) {
            const plan_op *first = d->plan + d->plan_start[j], *end = d->plan + d->plan_start[j + 1];
            double *out = x + j;
            if (first == end) {
                for (size_t q = b0; q < b1; q++) out[q * ld] = 1.0;
                continue;
            }
            for (const plan_op *po = first; po < end; po++) {
                bool start = po == first;
                if (!po->m) {
                    const double *v = val[po->f];
                    if (start) for (size_t q = b0; q < b1; q++) out[q * ld] = v[rows[q]];
                    else for (size_t q = b0; q < b1; q++) out[q * ld] *= v[rows[q]];
                } else {
                    const int32_t *l = lv + po->f * n;
                    const double *m = po->m + po->c;
                    size_t k = po->k;
                    for (size_t q = b0; q < b1; q++) {
                        int32_t li = l[rows[q]];
                        double u = li < 0 ? 0.0 : m[(size_t)li * k];
                        out[q * ld] = start ? u : out[q * ld] * u;
                    }
                }
            }
        }
    }
}

sf_status sf_design_build(const sf_design *d, const sf_table *t, double *x, size_t ld, double *y, size_t *n_out,
                          uint64_t *n_dropped, sf_error *err)
{
    return sf_design_build_rows(d, t, x, ld, y, NULL, n_out, n_dropped, err);
}

sf_status sf_design_build_rows(const sf_design *d, const sf_table *t, double *x, size_t ld, double *y,
                               size_t *rows_out, size_t *n_out, uint64_t *n_dropped, sf_error *err)
{
    if (n_out) *n_out = 0;
    if (!d || !t || !n_out) return sfi_fail(err, SF_ERR_ARG, NULL, "design, table or n_out is NULL");
    if (!d->finished) return sfi_fail(err, SF_ERR_STATE, NULL, "finish the design before building rows");
    if (d->n_out && (!x || ld < d->n_out))
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "x is NULL or its row stride %zu is below %zu columns", ld, d->n_out);
    size_t n = t->n_rows, nf = d->f->n_factors;
    if (n == 0) return SF_OK;
    size_t *tcol;
    double *buf;
    bool want_y = y != NULL;
    SF_TRY(scratch(d, t, want_y, &tcol, &buf, err));
    evctx cx = {d, t, tcol, n, buf, 0};
    const double **val = calloc(nf ? nf : 1, sizeof *val);
    int32_t *lv = malloc((nf ? nf : 1) * n * sizeof *lv);
    uint8_t *keep = malloc(n);
    uint32_t *kept_rows = malloc(n * sizeof *kept_rows);
    sf_status st = SF_OK;
    if (!val || !lv || !keep || !kept_rows) st = sfi_nomem(err);
    for (size_t f = 0; f < nf && st == SF_OK; f++) {
        const dfactor *fa = &d->fac[f];
        if (fa->categorical) {
            st = factor_codes(d, fa, &cx, lv + f * n, err);
            if (st != SF_OK) break;
            /* patsy converts to levels before it looks for missing values */
            if (d->p.unknown_level == SF_UNKNOWN_ERROR)
                for (size_t i = 0; i < n; i++)
                    if (lv[f * n + i] == -2) {
                        char txt[256];
                        unknown_text(fa, &cx, i, txt, sizeof txt);
                        st = row_fail(t, i, err, fa->name,
                                      fa->levels_given ? "value '%s' of '%s' is not among the levels given in the formula"
                                                       : "value '%s' of '%s' was not seen when the design was fitted",
                                      txt, fa->name);
                        break;
                    }
        }
    }
    for (size_t f = 0; f < nf && st == SF_OK; f++) {
        const dfactor *fa = &d->fac[f];
        if (fa->categorical || skips(d, f, want_y)) continue;
        /* bind refused constant factors; each node has its own scratch slot */
        val[f] = eval_node(&cx, fa->root).p;
    }
    size_t kept = 0;
    uint64_t dropped = 0;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        bool ok = true;
        size_t bad = 0;
        for (size_t f = 0; f < nf && ok; f++) {
            if (d->fac[f].categorical) ok = lv[f * n + i] != -1;
            else ok = !val[f] || !isnan(val[f][i]);
            bad = f;
        }
        keep[i] = ok;
        if (ok) {
            kept++;
            continue;
        }
        dropped++;
        if (d->p.na_action == SF_NA_ERROR)
            st = row_fail(t, i, err, d->fac[bad].name, "missing value in '%s'%s", d->fac[bad].name,
                          " (rows with missing values are an error under na=error)");
    }
    if (st == SF_OK) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++)
            if (keep[i]) kept_rows[r++] = (uint32_t)i;
        if (x) write_rows(d, val, lv, n, kept_rows, r, x, ld);
        if (y && d->has_response)
            for (size_t q = 0; q < r; q++) y[q] = val[d->response][kept_rows[q]];
        if (rows_out)
            for (size_t q = 0; q < r; q++) rows_out[q] = kept_rows[q];
        *n_out = r;
        if (n_dropped) *n_dropped += dropped;
    }
    free(val);
    free(lv);
    free(keep);
    free(kept_rows);
    free(tcol);
    free(buf);
    return st;
}

/* ---- a schema of a design's own columns ---- */

static long saved_find(const schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return (long)i;
    return -1;
}
static bool saved_cat(const schema *s, size_t i) { return s->cat[i]; }
static bool saved_int(const schema *s, size_t i) { return s->integer[i]; }

static long design_find(const schema *s, const char *name)
{
    const sf_design *d = s->d;
    for (size_t i = 0; i < d->n_cols; i++)
        if (strcmp(d->cols[i].name, name) == 0) return (long)i;
    return -1;
}
static bool design_cat(const schema *s, size_t i) { return s->d->cols[i].is_category; }
static bool design_int(const schema *s, size_t i) { return s->d->cols[i].is_integer; }

void sfi_design_saved_schema(const sf_design *d, schema *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->find = design_find;
    sc->is_category = design_cat;
    sc->is_integer = design_int;
    sc->d = d;
}

void sfi_design_names_schema(schema *sc, size_t n, char *const *names, const bool *cat, const bool *integer)
{
    memset(sc, 0, sizeof *sc);
    sc->find = saved_find;
    sc->is_category = saved_cat;
    sc->is_integer = saved_int;
    sc->n = n;
    sc->names = names;
    sc->cat = cat;
    sc->integer = integer;
}

/* ---- row filters (preprocess/expr.h): the expression engine on its own ---- */

struct sfi_expr {
    sf_design *d; /* a design with no terms: its columns, expression nodes and arena */
    int root;
};

void sfi_expr_free(sfi_expr *x)
{
    if (!x) return;
    sf_design_free(x->d);
    free(x);
}

sf_status sfi_expr_compile(sfi_expr **out, const char *text, const sf_source *src, sf_error *err)
{
    *out = NULL;
    if (!text || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "row filter: NULL text or source");
    sfi_expr *x = calloc(1, sizeof *x);
    sf_design *d = calloc(1, sizeof *d);
    sfi_formula *f = calloc(1, sizeof *f);
    char *copy = strdup(text);
    if (!x || !d || !f || !copy) {
        free(x);
        free(d);
        free(f);
        free(copy);
        return sfi_nomem(err);
    }
    f->text = copy;
    d->f = f;
    sf_design_params_default(&d->p);
    x->d = d;
    schema sc = {.find = src_find, .count = src_count, .name = src_name, .is_category = src_is_cat,
                 .is_integer = src_is_int, .src = src};
    cctx cx = {&sc, false, true};
    sfi_node *root = NULL;
    sf_status st = sfi_where_parse(f, text, &root, err);
    if (st == SF_OK) st = compile(d, &cx, root, &x->root, err);
    if (st == SF_OK && !d->ev[x->root].is_bool)
        st = sfi_formula_fail(err, root->span, "a row filter must be a condition (true or false), not a number: "
                              "compare it (e.g. x > 0)");
    if (st != SF_OK) {
        if (err && strcmp(err->where.source, "<formula>") == 0)
            sfi_strlcpy(err->where.source, "<where>", sizeof err->where.source);
        sfi_expr_free(x);
        return st;
    }
    *out = x;
    return SF_OK;
}

sf_status sfi_expr_eval(const sfi_expr *x, const sf_table *t, sfi_expr_buf *b, uint8_t *keep, size_t *n_keep,
                        sf_error *err)
{
    const sf_design *d = x->d;
    /* blocks of rows: the scratch (a row of doubles per node) stays small and in cache */
    enum { BLOCK = 1024 };
    size_t n = t->n_rows, need = d->n_ev * (n < BLOCK ? n : BLOCK);
    if (b->cap < need) {
        double *nb = realloc(b->buf, need * sizeof *nb);
        if (!nb) return sfi_nomem(err);
        b->buf = nb;
        b->cap = need;
    }
    if (b->n_tcol < d->n_cols) {
        size_t *nt = realloc(b->tcol, d->n_cols * sizeof *nt);
        if (!nt) return sfi_nomem(err);
        b->tcol = nt;
        b->n_tcol = d->n_cols;
    }
    SF_TRY(resolve(d, t, b->tcol, true, err));
    size_t k = 0;
    for (size_t off = 0; off < n; off += BLOCK) {
        size_t m = n - off < BLOCK ? n - off : BLOCK;
        evctx cx = {d, t, b->tcol, m, b->buf, off};
        evres r = eval_node(&cx, x->root);
        for (size_t i = 0; i < m; i++) {
            keep[off + i] = r.is_const ? r.c != 0 : r.p[i] != 0;
            k += keep[off + i];
        }
    }
    *n_keep = k;
    return SF_OK;
}

void sfi_expr_buf_free(sfi_expr_buf *b)
{
    if (!b) return;
    free(b->buf);
    free(b->tcol);
    memset(b, 0, sizeof *b);
}
