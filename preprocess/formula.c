/* formula.c — patsy 0.5.3's formula language: tokens, the operator tree, term
 * expansion, and the embedded Python expressions of the factors.
 *
 * The steps follow patsy's own: tokens as Python's tokenizer gives them
 * (patsy/tokens.py python_tokenize), grouped into formula operators and Python
 * expressions (parse_formula.py _tokenize_formula, _read_python_expr), an
 * operator-precedence parse (infix_parser.py infix_parse), then the term algebra
 * of desc.py (Evaluator and the _eval_* functions). Factor names are
 * tokens.py pretty_untokenize of the expression's tokens, so "np.log( x )" and
 * "np.log(x)" are one factor, as in patsy.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess/formula_impl.h"
#include "streamfit/sf_number.h"

/* ---- arena: everything a parsed formula owns, freed at once ---- */

struct sfi_arena {
    struct sfi_arena *next;
    size_t used, cap;
    max_align_t data[];
};

static void *arena_alloc(sfi_arena **a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!*a || (*a)->used + n > (*a)->cap) {
        size_t cap = n > 8192 ? n : 8192;
        sfi_arena *b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = *a;
        b->used = 0;
        b->cap = cap;
        *a = b;
    }
    void *p = (char *)(*a)->data + (*a)->used;
    (*a)->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(sfi_arena **a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void arena_free(sfi_arena *a)
{
    while (a) {
        sfi_arena *n = a->next;
        free(a);
        a = n;
    }
}

sf_status sfi_formula_fail(sf_error *err, sfi_span span, const char *fmt, ...)
{
    if (!err) return SF_ERR_ARG;
    sf_where w;
    sfi_where_init(&w, "<formula>");
    w.line = 1;
    w.column = (uint64_t)span.start + 1;
    sfi_fail(err, SF_ERR_ARG, &w, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return SF_ERR_ARG;
}

/* ---- Python tokens ---- */

typedef enum { PT_NAME, PT_NUMBER, PT_STRING, PT_OP } pt_type;

typedef struct pytok {
    pt_type type;
    sfi_span span;
} pytok;

typedef struct lexer {
    const char *s;
    size_t n;
    pytok *t;
    size_t n_t, cap;
} lexer;

static bool is_id_start(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool is_id_char(unsigned char c) { return is_id_start(c) || is_digit(c); }

static bool tok_is(const lexer *lx, const pytok *t, const char *op)
{
    size_t n = strlen(op);
    return t->span.end - t->span.start == n && memcmp(lx->s + t->span.start, op, n) == 0;
}

static sf_status push_tok(lexer *lx, pt_type type, size_t a, size_t b, sf_error *err)
{
    if (lx->n_t == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 32;
        pytok *t = realloc(lx->t, cap * sizeof *t);
        if (!t) return sfi_nomem(err);
        lx->t = t;
        lx->cap = cap;
    }
    lx->t[lx->n_t++] = (pytok){type, {(uint32_t)a, (uint32_t)b}};
    return SF_OK;
}

/* Python's tokenizer, for the tokens an expression can hold (tokenize.py). */
static sf_status lex(lexer *lx, sf_error *err)
{
    static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">=", "<<", ">>", "->", ":="};
    const char *s = lx->s;
    size_t i = 0, n = lx->n;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            i++;
            continue;
        }
        size_t a = i;
        if (is_id_start(c)) {
            while (i < n && is_id_char((unsigned char)s[i])) i++;
            SF_TRY(push_tok(lx, PT_NAME, a, i, err));
        } else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit((unsigned char)s[i + 1]))) {
            if (c == '0' && i + 1 < n && strchr("xXoObB", s[i + 1])) {
                i += 2;
                while (i < n && (is_id_char((unsigned char)s[i]))) i++;
            } else {
                while (i < n && (is_digit((unsigned char)s[i]) || s[i] == '_')) i++;
                if (i < n && s[i] == '.') {
                    i++;
                    while (i < n && (is_digit((unsigned char)s[i]) || s[i] == '_')) i++;
                }
                if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                    size_t k = i + 1;
                    if (k < n && (s[k] == '+' || s[k] == '-')) k++;
                    if (k < n && is_digit((unsigned char)s[k])) {
                        i = k;
                        while (i < n && (is_digit((unsigned char)s[i]) || s[i] == '_')) i++;
                    }
                }
                if (i < n && (s[i] == 'j' || s[i] == 'J')) i++;
            }
            SF_TRY(push_tok(lx, PT_NUMBER, a, i, err));
        } else if (c == '\'' || c == '"') {
            i++;
            while (i < n && s[i] != (char)c) i += s[i] == '\\' && i + 1 < n ? 2 : 1;
            if (i >= n)
                return sfi_formula_fail(err, (sfi_span){(uint32_t)a, (uint32_t)n},
                                        "unclosed string");
            i++;
            SF_TRY(push_tok(lx, PT_STRING, a, i, err));
        } else if (c == '#') {
            return sfi_formula_fail(err, (sfi_span){(uint32_t)a, (uint32_t)a + 1},
                                    "comments are not allowed");
        } else {
            size_t len = 0;
            for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
                if (i + 1 < n && s[i] == ops2[k][0] && s[i + 1] == ops2[k][1]) len = 2;
            if (!len && c < 0x80 && strchr("+-*/%@&|^~<>()[]{},:;.=!", c) && c) len = 1;
            if (!len)
                return sfi_formula_fail(err, (sfi_span){(uint32_t)a, (uint32_t)a + 1},
                                        "unexpected character '%c'", c >= 0x20 && c < 0x7f ? c : '?');
            i += len;
            SF_TRY(push_tok(lx, PT_OP, a, i, err));
        }
    }
    return SF_OK;
}

/* patsy/tokens.py pretty_untokenize: the whitespace-normalised text of tokens
 * t[a..b), which names the factor. */
static char *pretty_untokenize(const lexer *lx, size_t a, size_t b, sfi_arena **arena)
{
    static const char *const both[] = {"+", "-", "*", "/", "%", "&", "^", "|", "<", ">", "==", "<>",
                                       "!=", "<=", ">=", "<<", ">>", "**", "//"};
    size_t cap = 1;
    for (size_t k = a; k < b; k++) cap += lx->t[k].span.end - lx->t[k].span.start + 2;
    char *out = arena_alloc(arena, cap);
    if (!out) return NULL;
    size_t len = 0, depth = 0;
    char brackets[256];
    bool prev_space_delim = false, prev_wants_space = false, prev_open_or_comma = false,
         prev_object = false;
    for (size_t k = a; k < b; k++) {
        const pytok *t = &lx->t[k];
        const char *txt = lx->s + t->span.start;
        size_t tl = t->span.end - t->span.start;
        if (t->type != PT_OP) {
            if (prev_wants_space || prev_space_delim) out[len++] = ' ';
            memcpy(out + len, txt, tl);
            len += tl;
            prev_wants_space = false;
            prev_space_delim = true;
        } else {
            if (tl == 1 && strchr("([{", txt[0])) {
                if (depth < sizeof brackets) brackets[depth] = txt[0];
                depth++;
            } else if (depth && tl == 1 && strchr(")]}", txt[0])) {
                depth--;
            }
            bool sp_both = false;
            for (size_t q = 0; q < sizeof both / sizeof both[0]; q++) sp_both = sp_both || tok_is(lx, t, both[q]);
            bool before = sp_both || tok_is(lx, t, "!") || tok_is(lx, t, "~");
            bool after = sp_both || tok_is(lx, t, ",") || tok_is(lx, t, ":");
            if (tok_is(lx, t, ":") && depth && depth <= sizeof brackets && brackets[depth - 1] == '[')
                after = false;
            if ((tok_is(lx, t, "*") || tok_is(lx, t, "**")) && prev_open_or_comma) before = after = false;
            if (tok_is(lx, t, "=") && depth == 0) before = after = true;
            if ((tok_is(lx, t, "+") || tok_is(lx, t, "-")) && !prev_object) before = after = false;
            if (prev_wants_space || before) out[len++] = ' ';
            memcpy(out + len, txt, tl);
            len += tl;
            prev_wants_space = after;
            prev_space_delim = false;
        }
        prev_object = t->type != PT_OP || tok_is(lx, t, ")");
        prev_open_or_comma = tok_is(lx, t, "(") || tok_is(lx, t, ",");
    }
    out[len] = '\0';
    return out;
}

/* ---- the embedded Python expression: a recursive-descent parser ---- */

typedef struct xparser {
    const lexer *lx;
    size_t i, end; /* tokens [i, end) */
    sfi_arena **arena;
    sf_error *err;
    uint32_t shift; /* added to spans (a define's text is parsed on its own) */
    int depth;
    bool where;     /* a row filter: and / or / not, in / not in, chained comparisons */
} xparser;

static sfi_span xspan(const xparser *p, size_t k)
{
    if (k >= p->end) {
        uint32_t e = k > 0 ? p->lx->t[p->end - 1].span.end : 0;
        if (p->end == 0) e = 0;
        return (sfi_span){e + p->shift, e + p->shift + 1};
    }
    sfi_span s = p->lx->t[k].span;
    s.start += p->shift;
    s.end += p->shift;
    return s;
}

static bool xis(const xparser *p, const char *op)
{
    return p->i < p->end && p->lx->t[p->i].type == PT_OP && tok_is(p->lx, &p->lx->t[p->i], op);
}

/* The Python keyword kw at token k (a NAME token). */
static bool xkw_at(const xparser *p, size_t k, const char *kw)
{
    return k < p->end && p->lx->t[k].type == PT_NAME && tok_is(p->lx, &p->lx->t[k], kw);
}

static bool xkw(const xparser *p, const char *kw) { return xkw_at(p, p->i, kw); }

static sfi_node *xnode(xparser *p, sfi_nkind kind, sfi_span span)
{
    sfi_node *n = arena_alloc(p->arena, sizeof *n);
    if (!n) {
        sfi_nomem(p->err);
        return NULL;
    }
    n->kind = kind;
    n->span = span;
    n->name_span = span;
    return n;
}

static bool xkids(xparser *p, sfi_node *n, size_t k)
{
    n->kids = arena_alloc(p->arena, (k ? k : 1) * sizeof *n->kids);
    n->n_kids = k;
    if (!n->kids) sfi_nomem(p->err);
    return n->kids != NULL;
}

static sfi_node *x_expr(xparser *p);

/* Python operators formulas have no use for get a message of their own. */
static bool x_unsupported_op(xparser *p)
{
    static const char *const ops[] = {"//", "%", "&", "|", "^", "~", "@", "<<", ">>"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (xis(p, ops[k])) {
            const pytok *t = &p->lx->t[p->i];
            sfi_formula_fail(p->err, xspan(p, p->i), "operator '%.*s' is not supported",
                             (int)(t->span.end - t->span.start), p->lx->s + t->span.start);
            return true;
        }
    return false;
}

static sfi_node *x_fail_here(xparser *p, const char *what)
{
    sfi_span sp = xspan(p, p->i);
    if (p->i >= p->end)
        sfi_formula_fail(p->err, sp, "expected %s, got the end of the expression", what);
    else
        sfi_formula_fail(p->err, sp, "expected %s, got '%.*s'", what,
                         (int)(sp.end - sp.start), p->lx->s + sp.start - p->shift);
    return NULL;
}

static char *decode_string(xparser *p, sfi_span sp)
{
    const char *s = p->lx->s + sp.start - p->shift;
    size_t n = sp.end - sp.start;
    char *out = arena_alloc(p->arena, n);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        if (s[i] == '\\' && i + 2 < n) {
            i++;
            char c = s[i];
            out[k++] = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

/* A comma-separated list up to the closing token; for calls, items may be
 * keyword=value. */
static bool x_items(xparser *p, sfi_node *n, const char *close, bool call)
{
    sfi_node *tmp[64];
    size_t k = 0;
    while (!xis(p, close)) {
        if (k == 64) {
            sfi_formula_fail(p->err, xspan(p, p->i), "too many items (at most 64)");
            return false;
        }
        sfi_node *item;
        if (call && p->i + 1 < p->end && p->lx->t[p->i].type == PT_NAME &&
            p->lx->t[p->i + 1].type == PT_OP && tok_is(p->lx, &p->lx->t[p->i + 1], "=")) {
            sfi_span ks = xspan(p, p->i);
            p->i += 2;
            sfi_node *v = x_expr(p);
            if (!v) return false;
            item = xnode(p, SFI_N_KWARG, (sfi_span){ks.start, v->span.end});
            if (!item || !xkids(p, item, 1)) return false;
            item->name_span = ks;
            item->text = arena_strndup(p->arena, p->lx->s + ks.start - p->shift, ks.end - ks.start);
            if (!item->text) return false;
            item->kids[0] = v;
        } else {
            item = x_expr(p);
            if (!item) return false;
        }
        tmp[k++] = item;
        if (xis(p, ",")) {
            p->i++;
            continue;
        }
        if (!xis(p, close)) {
            if (x_unsupported_op(p)) return false;
            char what[32];
            snprintf(what, sizeof what, "',' or '%s'", close);
            x_fail_here(p, what);
            return false;
        }
    }
    if (!xkids(p, n, k)) return false;
    memcpy(n->kids, tmp, k * sizeof *tmp);
    n->span.end = xspan(p, p->i).end;
    p->i++; /* the closing token */
    return true;
}

static sfi_node *x_atom(xparser *p)
{
    if (p->i >= p->end) return x_fail_here(p, "a value");
    const pytok *t = &p->lx->t[p->i];
    sfi_span sp = xspan(p, p->i);
    const char *txt = p->lx->s + t->span.start;
    size_t tl = t->span.end - t->span.start;
    if (t->type == PT_NUMBER) {
        sfi_node *n = xnode(p, SFI_N_NUM, sp);
        if (!n) return NULL;
        char buf[128];
        size_t k = 0;
        bool is_float = false;
        for (size_t q = 0; q < tl && k + 1 < sizeof buf; q++) {
            if (txt[q] == '_') continue;
            if (strchr(".eE", txt[q])) is_float = true;
            buf[k++] = txt[q];
        }
        buf[k] = '\0';
        if (tl >= 2 && txt[0] == '0' && strchr("xXoObB", txt[1])) {
            int base = strchr("xX", txt[1]) ? 16 : strchr("oO", txt[1]) ? 8 : 2;
            char *endp;
            unsigned long long v = strtoull(buf + 2, &endp, base);
            if (*endp || endp == buf + 2) {
                sfi_formula_fail(p->err, sp, "malformed number '%.*s'", (int)tl, txt);
                return NULL;
            }
            n->num = (double)v;
            n->is_int = true;
        } else if (buf[k - 1] == 'j' || buf[k - 1] == 'J') {
            sfi_formula_fail(p->err, sp, "complex numbers are not supported");
            return NULL;
        } else if (sf_parse_double(buf, k, &n->num) == SF_NUM_NONE) {
            sfi_formula_fail(p->err, sp, "malformed number '%.*s'", (int)tl, txt);
            return NULL;
        } else {
            n->is_int = !is_float;
        }
        p->i++;
        return n;
    }
    if (t->type == PT_STRING) {
        sfi_node *n = xnode(p, SFI_N_STR, sp);
        if (!n || !(n->text = decode_string(p, sp))) return NULL;
        p->i++;
        return n;
    }
    if (t->type == PT_NAME) {
        static const char *const kws[] = {"and", "or", "not", "in", "is", "if", "else", "lambda"};
        for (size_t k = 0; p->where && k < sizeof kws / sizeof kws[0]; k++)
            if (xkw(p, kws[k])) return x_fail_here(p, "a value");
        /* a dotted name: np.log */
        size_t a = p->i;
        p->i++;
        while (p->i + 1 < p->end && xis(p, ".") && p->lx->t[p->i + 1].type == PT_NAME) p->i += 2;
        sfi_span whole = {sp.start, xspan(p, p->i - 1).end};
        char *name = pretty_untokenize(p->lx, a, p->i, p->arena);
        if (!name) {
            sfi_nomem(p->err);
            return NULL;
        }
        bool is_const = p->i == a + 1 && (strcmp(name, "True") == 0 || strcmp(name, "False") == 0 ||
                                          strcmp(name, "None") == 0);
        if (xis(p, "(")) {
            sfi_node *n = xnode(p, SFI_N_CALL, whole);
            if (!n) return NULL;
            n->text = name;
            n->name_span = whole;
            p->i++;
            if (!x_items(p, n, ")", true)) return NULL;
            return n;
        }
        sfi_node *n = xnode(p, is_const ? SFI_N_CONST : SFI_N_NAME, whole);
        if (n) n->text = name;
        return n;
    }
    if (tl == 1 && (txt[0] == '(' || txt[0] == '[')) {
        bool paren = txt[0] == '(';
        p->i++;
        if (paren) {
            /* (expr) or a tuple */
            sfi_node *first = NULL;
            if (!xis(p, ")")) {
                first = x_expr(p);
                if (!first) return NULL;
                if (xis(p, ")")) {
                    p->i++;
                    return first;
                }
            }
            sfi_node *n = xnode(p, SFI_N_LIST, sp);
            if (!n) return NULL;
            if (first) {
                if (!xis(p, ",")) return x_fail_here(p, "',' or ')'");
                p->i++;
                sfi_node tmp;
                memset(&tmp, 0, sizeof tmp);
                if (!x_items(p, &tmp, ")", false)) return NULL;
                if (!xkids(p, n, tmp.n_kids + 1)) return NULL;
                n->kids[0] = first;
                memcpy(n->kids + 1, tmp.kids, tmp.n_kids * sizeof *tmp.kids);
                n->span.end = tmp.span.end;
            } else {
                if (!x_items(p, n, ")", false)) return NULL;
            }
            return n;
        }
        sfi_node *n = xnode(p, SFI_N_LIST, sp);
        if (!n || !x_items(p, n, "]", false)) return NULL;
        return n;
    }
    return x_fail_here(p, "a value");
}

static sfi_node *x_primary(xparser *p)
{
    sfi_node *n = x_atom(p);
    if (n && (xis(p, "[") || xis(p, "."))) {
        sfi_formula_fail(p->err, xspan(p, p->i), "indexing and attributes are not supported here");
        return NULL;
    }
    return n;
}

static sfi_node *x_unary(xparser *p);

static sfi_node *x_power(xparser *p)
{
    sfi_node *base = x_primary(p);
    if (!base || !xis(p, "**")) return base;
    p->i++;
    sfi_node *ex = x_unary(p); /* right-associative, binds tighter than unary on its left */
    if (!ex) return NULL;
    sfi_node *n = xnode(p, SFI_N_BINARY, (sfi_span){base->span.start, ex->span.end});
    if (!n || !xkids(p, n, 2)) return NULL;
    n->op = '^';
    n->kids[0] = base;
    n->kids[1] = ex;
    return n;
}

/* A prefix operator at the current token: skips it, parses its operand with
 * `operand` (nesting bounded) and makes the unary node coded op. */
static sfi_node *x_prefix(xparser *p, char op, sfi_node *(*operand)(xparser *))
{
    sfi_span sp = xspan(p, p->i);
    p->i++;
    if (++p->depth > 200) {
        sfi_formula_fail(p->err, sp, "expression nested too deeply");
        return NULL;
    }
    sfi_node *a = operand(p);
    p->depth--;
    if (!a) return NULL;
    sfi_node *n = xnode(p, SFI_N_UNARY, (sfi_span){sp.start, a->span.end});
    if (!n || !xkids(p, n, 1)) return NULL;
    n->op = op;
    n->kids[0] = a;
    return n;
}

static sfi_node *x_unary(xparser *p)
{
    /* pandas: ~ negates a condition, binding as Python's ~ */
    if (p->where && xis(p, "~")) return x_prefix(p, 'n', x_unary);
    if (xis(p, "-") || xis(p, "+")) return x_prefix(p, p->lx->s[p->lx->t[p->i].span.start], x_unary);
    return x_power(p);
}

static sfi_node *x_binary(xparser *p, sfi_node *(*sub)(xparser *), const char *ops)
{
    sfi_node *left = sub(p);
    while (left && p->i < p->end && p->lx->t[p->i].type == PT_OP &&
           p->lx->t[p->i].span.end - p->lx->t[p->i].span.start == 1 &&
           strchr(ops, p->lx->s[p->lx->t[p->i].span.start])) {
        char op = p->lx->s[p->lx->t[p->i].span.start];
        p->i++;
        sfi_node *right = sub(p);
        if (!right) return NULL;
        sfi_node *n = xnode(p, SFI_N_BINARY, (sfi_span){left->span.start, right->span.end});
        if (!n || !xkids(p, n, 2)) return NULL;
        n->op = op;
        n->kids[0] = left;
        n->kids[1] = right;
        left = n;
    }
    return left;
}

static sfi_node *x_term(xparser *p) { return x_binary(p, x_unary, "*/"); }

/* A binary node op(l, r) spanning both. */
static sfi_node *x_join(xparser *p, char op, sfi_node *l, sfi_node *r)
{
    sfi_node *n = xnode(p, SFI_N_BINARY, (sfi_span){l->span.start, r->span.end});
    if (!n || !xkids(p, n, 2)) return NULL;
    n->op = op;
    n->kids[0] = l;
    n->kids[1] = r;
    return n;
}

/* The comparison operator at the cursor: its code ('<' '>' 'l' 'g' '=' '!', and
 * in a row filter 'i' for in, 'x' for not in) and its number of tokens; 0 if none. */
static char x_cmp_op(const xparser *p, size_t *n_tok)
{
    static const char *const cmp[] = {"<=", ">=", "==", "!=", "<", ">"};
    static const char code[] = {'l', 'g', '=', '!', '<', '>'};
    *n_tok = 1;
    for (int k = 0; k < 6; k++)
        if (xis(p, cmp[k])) return code[k];
    if (!p->where) return 0;
    if (xkw(p, "in")) return 'i';
    if (xkw(p, "not") && xkw_at(p, p->i + 1, "in")) {
        *n_tok = 2;
        return 'x';
    }
    return 0;
}

/* A comparison: one in a formula (patsy hands it to Python; chains are refused),
 * a chain in a row filter (Python's a < b < c is a < b and b < c). */
static sfi_node *x_compare(xparser *p)
{
    if (++p->depth > 200) {
        sfi_formula_fail(p->err, xspan(p, p->i), "expression nested too deeply");
        return NULL;
    }
    sfi_node *n = x_binary(p, x_term, "+-");
    sfi_node *left = n, *chain = NULL;
    size_t nt;
    char op;
    while (n && (op = x_cmp_op(p, &nt)) != 0) {
        if (chain && !p->where) {
            sfi_formula_fail(p->err, xspan(p, p->i), "chained comparisons are not supported");
            return NULL;
        }
        p->i += nt;
        sfi_node *r = x_binary(p, x_term, "+-");
        if (!r) return NULL;
        sfi_node *c = x_join(p, op, left, r);
        if (!c) return NULL;
        chain = chain ? x_join(p, '&', chain, c) : c;
        if (!chain) return NULL;
        left = r;
        if (!p->where && x_cmp_op(p, &nt)) {
            sfi_formula_fail(p->err, xspan(p, p->i), "chained comparisons are not supported");
            return NULL;
        }
    }
    p->depth--;
    return n ? (chain ? chain : n) : NULL;
}

/* not x: Python's boolean negation, below the comparisons. */
static sfi_node *x_not(xparser *p)
{
    return xkw(p, "not") ? x_prefix(p, 'n', x_not) : x_compare(p);
}

/* A left-associative chain of keyword operators ("and" coded '&', "or" '|'). As
 * in pandas' query, & and | are and / or, with their precedence (below the
 * comparisons, unlike Python's bitwise operators). */
static sfi_node *x_bool(xparser *p, sfi_node *(*sub)(xparser *), const char *kw, char op)
{
    const char sym[2] = {op, '\0'};
    sfi_node *left = sub(p);
    while (left && (xkw(p, kw) || xis(p, sym))) {
        p->i++;
        sfi_node *right = sub(p);
        if (!right) return NULL;
        left = x_join(p, op, left, right);
    }
    return left;
}

static sfi_node *x_and(xparser *p) { return x_bool(p, x_not, "and", '&'); }

/* An expression: a comparison in a formula; in a row filter, Python's boolean
 * operators too, with its precedence (or < and < not < comparisons). */
static sfi_node *x_expr(xparser *p)
{
    if (!p->where) return x_compare(p);
    return x_bool(p, x_and, "or", '|');
}

static sfi_node *parse_python(const lexer *lx, size_t a, size_t b, sfi_arena **arena, uint32_t shift,
                              bool where, sf_error *err)
{
    xparser p = {lx, a, b, arena, err, shift, 0, where};
    sfi_node *n = x_expr(&p);
    if (n && p.i < p.end) {
        if (!x_unsupported_op(&p)) x_fail_here(&p, "an operator");
        return NULL;
    }
    return n;
}

/* ---- formula tokens (parse_formula.py _tokenize_formula) ---- */

typedef enum {
    FT_TILDE, FT_PLUS, FT_MINUS, FT_STAR, FT_SLASH, FT_COLON, FT_POW, FT_LPAREN, FT_RPAREN,
    FT_EXPR, FT_ZERO, FT_ONE, FT_NUMBER
} ft_type;

typedef struct ftok {
    ft_type type;
    sfi_span span;
    size_t t0, t1; /* FT_EXPR etc.: Python tokens [t0, t1) */
} ftok;

static int magic_type(const lexer *lx, const pytok *t)
{
    static const char *const magic[] = {"~", "+", "-", "*", "/", ":", "**", "(", ")"};
    if (t->type != PT_OP) return -1;
    for (int k = 0; k < 9; k++)
        if (tok_is(lx, t, magic[k])) return k;
    return -1;
}

static bool is_float_text(const char *s)
{
    /* Python's float() accepts these too, so patsy calls them numbers */
    static const char *const words[] = {"inf", "infinity", "nan"};
    for (int k = 0; k < 3; k++)
        if (strcasecmp(s, words[k]) == 0) return true;
    double v;
    char buf[128];
    size_t k = 0;
    for (const char *q = s; *q && k + 1 < sizeof buf; q++)
        if (*q != '_') buf[k++] = *q;
    buf[k] = '\0';
    return k && sf_parse_double(buf, k, &v) != SF_NUM_NONE;
}

static sf_status formula_tokens(const lexer *lx, sfi_arena **arena, ftok **out, size_t *n_out,
                                char ***texts, sf_error *err)
{
    ftok *ft = malloc((lx->n_t + 1) * sizeof *ft);
    char **tx = calloc(lx->n_t + 1, sizeof *tx);
    if (!ft || !tx) {
        free(ft);
        free(tx);
        return sfi_nomem(err);
    }
    size_t n = 0, i = 0;
    while (i < lx->n_t) {
        int m = magic_type(lx, &lx->t[i]);
        if (m >= 0) {
            ft[n++] = (ftok){(ft_type)m, lx->t[i].span, i, i + 1};
            i++;
            continue;
        }
        size_t a = i;
        int level = 0;
        size_t open[256];
        while (i < lx->n_t) {
            const pytok *t = &lx->t[i];
            int mm = magic_type(lx, t);
            if (level == 0 && mm >= 0 && mm != FT_LPAREN) break;
            if (t->type == PT_OP && t->span.end - t->span.start == 1) {
                char c = lx->s[t->span.start];
                if (c == '(' || c == '[' || c == '{') {
                    if (level < 256) open[level] = i;
                    level++;
                } else if (c == ')' || c == ']' || c == '}') {
                    if (--level < 0) {
                        free(ft);
                        free(tx);
                        return sfi_formula_fail(err, t->span, "unmatched '%c'", c);
                    }
                }
            }
            i++;
        }
        if (level > 0) {
            free(ft);
            free(tx);
            size_t o = open[level - 1 < 256 ? level - 1 : 255];
            return sfi_formula_fail(err, lx->t[o].span, "unclosed '%c' in the expression",
                                    lx->s[lx->t[o].span.start]);
        }
        char *text = pretty_untokenize(lx, a, i, arena);
        if (!text) {
            free(ft);
            free(tx);
            return sfi_nomem(err);
        }
        ft_type type = strcmp(text, "0") == 0 ? FT_ZERO
                       : strcmp(text, "1") == 0 ? FT_ONE
                       : is_float_text(text)    ? FT_NUMBER
                                                : FT_EXPR;
        tx[n] = text;
        ft[n++] = (ftok){type, {lx->t[a].span.start, lx->t[i - 1].span.end}, a, i};
    }
    *out = ft;
    *n_out = n;
    *texts = tx;
    return SF_OK;
}

/* ---- the operator tree (infix_parser.py infix_parse) ---- */

typedef struct pnode {
    int type;      /* ft_type, or FT_TILDE; unary ops are marked by n_args == 1 */
    sfi_span span; /* patsy's origin: the token and its arguments (and parentheses) */
    sfi_span tok;  /* the operator or atom token */
    size_t ft;     /* index of the token */
    struct pnode *args[2];
    int n_args;
} pnode;

typedef struct stack_op {
    int type; /* ft_type; -1 = open paren */
    int arity;
    int prec;
    size_t ft;
} stack_op;

static int binary_prec(int type)
{
    switch (type) {
    case FT_TILDE: return -100;
    case FT_PLUS: case FT_MINUS: return 100;
    case FT_STAR: case FT_SLASH: return 200;
    case FT_COLON: return 300;
    case FT_POW: return 500;
    default: return 0;
    }
}

static const char *ft_name(int type)
{
    static const char *const names[] = {"~", "+", "-", "*", "/", ":", "**", "(", ")"};
    return type >= 0 && type <= FT_RPAREN ? names[type] : "term";
}

typedef struct infix {
    const ftok *ft;
    size_t n_ft;
    sfi_arena **arena;
    sf_error *err;
    stack_op *ops;
    size_t n_ops;
    pnode **nouns;
    size_t n_nouns;
} infix;

static sfi_span combine(sfi_span a, sfi_span b)
{
    return (sfi_span){a.start < b.start ? a.start : b.start, a.end > b.end ? a.end : b.end};
}

static sf_status run_op(infix *c)
{
    stack_op so = c->ops[--c->n_ops];
    pnode *n = arena_alloc(c->arena, sizeof *n);
    if (!n) return sfi_nomem(c->err);
    n->type = so.type;
    n->n_args = so.arity;
    n->ft = so.ft;
    n->tok = c->ft[so.ft].span;
    n->span = n->tok;
    for (int k = so.arity - 1; k >= 0; k--) {
        n->args[k] = c->nouns[--c->n_nouns];
        n->span = combine(n->span, n->args[k]->span);
    }
    c->nouns[c->n_nouns++] = n;
    return SF_OK;
}

static sf_status infix_parse(infix *c, size_t text_len, pnode **out)
{
    bool want_noun = true;
    for (size_t k = 0; k < c->n_ft; k++) {
        const ftok *t = &c->ft[k];
        if (want_noun) {
            if (t->type == FT_LPAREN) {
                c->ops[c->n_ops++] = (stack_op){-1, 0, -9999999, k};
            } else if (t->type == FT_TILDE || t->type == FT_PLUS || t->type == FT_MINUS) {
                c->ops[c->n_ops++] = (stack_op){t->type, 1, t->type == FT_TILDE ? -100 : 100, k};
            } else if (t->type >= FT_EXPR) {
                pnode *n = arena_alloc(c->arena, sizeof *n);
                if (!n) return sfi_nomem(c->err);
                n->type = t->type;
                n->span = n->tok = t->span;
                n->ft = k;
                c->nouns[c->n_nouns++] = n;
                want_noun = false;
            } else {
                return sfi_formula_fail(c->err, t->span,
                                        "expected a term (a column, a function call, 0, 1 or '('), got '%s'",
                                        ft_name(t->type));
            }
        } else {
            if (t->type == FT_RPAREN) {
                while (c->n_ops && c->ops[c->n_ops - 1].type != -1) SF_TRY(run_op(c));
                if (!c->n_ops) return sfi_formula_fail(c->err, t->span, "unmatched ')'");
                pnode *top = c->nouns[c->n_nouns - 1];
                top->span = combine(combine(c->ft[c->ops[c->n_ops - 1].ft].span, top->span), t->span);
                c->n_ops--;
            } else if (t->type <= FT_POW) {
                int prec = binary_prec(t->type);
                while (c->n_ops && prec <= c->ops[c->n_ops - 1].prec) SF_TRY(run_op(c));
                c->ops[c->n_ops++] = (stack_op){t->type, 2, prec, k};
                want_noun = true;
            } else {
                const char *what = t->type == FT_LPAREN ? "(" : NULL;
                if (what)
                    return sfi_formula_fail(c->err, t->span, "expected an operator (+ - * / : ** ~) or ')', got '('");
                return sfi_formula_fail(c->err, t->span,
                                        "expected an operator (+ - * / : ** ~) or ')' before this term");
            }
        }
    }
    if (want_noun) {
        uint32_t e = (uint32_t)text_len;
        if (c->n_ft == 0) return sfi_formula_fail(c->err, (sfi_span){e, e + 1}, "empty formula");
        return sfi_formula_fail(c->err, (sfi_span){e, e + 1},
                                "expected a term after '%s', got the end of the formula",
                                ft_name(c->ft[c->n_ft - 1].type));
    }
    while (c->n_ops) {
        if (c->ops[c->n_ops - 1].type == -1)
            return sfi_formula_fail(c->err, c->ft[c->ops[c->n_ops - 1].ft].span, "unclosed '('");
        SF_TRY(run_op(c));
    }
    *out = c->nouns[0];
    return SF_OK;
}

/* ---- term algebra (desc.py) ---- */

/* More terms than anyone writes: a bound on the work a formula can ask for. */
#define MAX_TERMS 100000

typedef struct texpr {
    bool intercept, intercept_removed;
    sfi_span intercept_origin;
    size_t n;
    sfi_term *terms;
} texpr;

typedef struct evaluator {
    sfi_formula *f;
    const lexer *lx;
    const ftok *ft;
    char **ft_text;
    sf_error *err;
    int depth;
} evaluator;

static bool term_eq(const sfi_term *a, const sfi_term *b)
{
    if (a->n != b->n || a->mask != b->mask) return false;
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++) found = a->f[i] == b->f[j];
        if (!found) return false;
    }
    return true;
}

/* A growing list of distinct terms with a hash index: formulas with thousands of
 * terms (y ~ x1 + ... + x5000) stay linear. */
typedef struct termset {
    sfi_term *v;
    size_t n, cap;
    uint32_t *slots; /* 0 = empty, else index + 1 */
    size_t n_slots;
} termset;

static uint64_t term_hash(const sfi_term *t)
{
    /* order-free: terms are sets of factors */
    uint64_t h = t->n * 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t z = (uint64_t)t->f[i] + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        h += z ^ (z >> 31);
    }
    return h;
}

bool sfi_hash_index(uint32_t **slots, size_t *n_slots, size_t size, size_t n,
                    uint64_t (*hash)(const void *ctx, size_t e), const void *ctx)
{
    uint32_t *t = calloc(size, sizeof *t);
    if (!t) return false;
    for (size_t e = 0; e < n; e++) {
        size_t i = hash(ctx, e) & (size - 1);
        while (t[i]) i = (i + 1) & (size - 1);
        t[i] = (uint32_t)e + 1;
    }
    free(*slots);
    *slots = t;
    *n_slots = size;
    return true;
}

static uint64_t termset_hash_at(const void *ctx, size_t e) { return term_hash(&((const termset *)ctx)->v[e]); }

static bool termset_reindex(termset *s, size_t slots)
{
    return sfi_hash_index(&s->slots, &s->n_slots, slots, s->n, termset_hash_at, s);
}

static bool termset_has(const termset *s, const sfi_term *t)
{
    if (!s->n_slots) return false;
    for (size_t i = term_hash(t) & (s->n_slots - 1); s->slots[i]; i = (i + 1) & (s->n_slots - 1))
        if (term_eq(&s->v[s->slots[i] - 1], t)) return true;
    return false;
}

/* Appends t unless present; false on allocation failure. */
static bool termset_add(termset *s, const sfi_term *t)
{
    if (termset_has(s, t)) return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        sfi_term *v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->n_slots && !termset_reindex(s, s->n_slots ? 2 * s->n_slots : 32)) return false;
    s->v[s->n] = *t;
    size_t i = term_hash(t) & (s->n_slots - 1);
    while (s->slots[i]) i = (i + 1) & (s->n_slots - 1);
    s->slots[i] = (uint32_t)++s->n;
    return true;
}

static void termset_free(termset *s)
{
    free(s->v);
    free(s->slots);
}

/* Copies a termset's terms into the arena as out's term list. */
static sf_status termset_out(evaluator *ev, const termset *s, texpr *out)
{
    out->terms = arena_alloc(&ev->f->arena, (s->n + 1) * sizeof *out->terms);
    if (!out->terms) return sfi_nomem(ev->err);
    if (s->n) memcpy(out->terms, s->v, s->n * sizeof *s->v);
    out->n = s->n;
    return SF_OK;
}

/* Builds a texpr from terms a then b, keeping first occurrences (uniqueify_list). */
static sf_status texpr_terms(evaluator *ev, texpr *out, const sfi_term *a, size_t na, const sfi_term *b,
                             size_t nb)
{
    if (na + nb > MAX_TERMS)
        return sfi_formula_fail(ev->err, (sfi_span){0, 1}, "the formula expands to more than %d terms", MAX_TERMS);
    termset s = {0};
    sf_status st = SF_OK;
    for (size_t k = 0; k < na + nb && st == SF_OK; k++)
        if (!termset_add(&s, k < na ? &a[k] : &b[k - na])) st = sfi_nomem(ev->err);
    if (st == SF_OK) st = termset_out(ev, &s, out);
    termset_free(&s);
    return st;
}

/* Term(l.factors + r.factors), unique factors in order. */
static sf_status term_join(evaluator *ev, const sfi_term *l, const sfi_term *r, sfi_term *out)
{
    out->f = arena_alloc(&ev->f->arena, (l->n + r->n + 1) * sizeof *out->f);
    if (!out->f) return sfi_nomem(ev->err);
    out->n = 0;
    out->mask = 0;
    for (size_t k = 0; k < l->n + r->n; k++) {
        size_t f = k < l->n ? l->f[k] : r->f[k - l->n];
        bool dup = false;
        for (size_t q = 0; q < out->n && !dup; q++) dup = out->f[q] == f;
        if (!dup) {
            out->f[out->n++] = f;
            out->mask |= (uint64_t)1 << (f % 64);
        }
    }
    return SF_OK;
}

static sf_status check_interactable(evaluator *ev, const texpr *e)
{
    if (e->intercept)
        return sfi_formula_fail(ev->err, e->intercept_origin, "the intercept cannot interact with anything else");
    return SF_OK;
}

static sf_status interaction(evaluator *ev, const texpr *l, const texpr *r, texpr *out, sfi_span at)
{
    SF_TRY(check_interactable(ev, l));
    SF_TRY(check_interactable(ev, r));
    if (l->n * r->n > MAX_TERMS)
        return sfi_formula_fail(ev->err, at, "the formula expands to more than %d terms", MAX_TERMS);
    sfi_term *tmp = arena_alloc(&ev->f->arena, (l->n * r->n + 1) * sizeof *tmp);
    if (!tmp) return sfi_nomem(ev->err);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < r->n; j++) SF_TRY(term_join(ev, &l->terms[i], &r->terms[j], &tmp[k++]));
    memset(out, 0, sizeof *out);
    return texpr_terms(ev, out, tmp, k, NULL, 0);
}

static sf_status add_factor(evaluator *ev, size_t ftk, size_t *idx)
{
    sfi_formula *f = ev->f;
    const char *name = ev->ft_text[ftk];
    for (size_t i = 0; i < f->n_factors; i++)
        if (strcmp(f->factors[i].name, name) == 0) {
            *idx = i;
            return SF_OK;
        }
    const ftok *t = &ev->ft[ftk];
    sfi_node *expr = parse_python(ev->lx, t->t0, t->t1, &f->arena, 0, false, ev->err);
    if (!expr) return ev->err ? ev->err->status : SF_ERR_ARG;
    sfi_factor_src *nf = arena_alloc(&f->arena, (f->n_factors + 1) * sizeof *nf);
    if (!nf) return sfi_nomem(ev->err);
    if (f->n_factors) memcpy(nf, f->factors, f->n_factors * sizeof *nf);
    nf[f->n_factors] = (sfi_factor_src){(char *)name, t->span, expr};
    f->factors = nf;
    *idx = f->n_factors++;
    return SF_OK;
}

static sf_status eval_node(evaluator *ev, const pnode *n, texpr *out);

/* A left-leaning chain a + b - c + ... (desc.py _eval_binary_plus and
 * _eval_binary_minus, step by step) walked iteratively, so a formula may have
 * thousands of terms without deep recursion or quadratic copying. */
static sf_status eval_chain(evaluator *ev, const pnode *n, texpr *out)
{
    size_t depth = 0;
    const pnode *p = n;
    while (p->n_args == 2 && (p->type == FT_PLUS || p->type == FT_MINUS)) {
        depth++;
        p = p->args[0];
    }
    const pnode **spine = malloc(depth * sizeof *spine);
    if (!spine) return sfi_nomem(ev->err);
    p = n;
    for (size_t i = depth; i-- > 0;) {
        spine[i] = p;
        p = p->args[0];
    }
    texpr acc;
    termset s = {0};
    sf_status st = eval_node(ev, p, &acc);
    for (size_t k = 0; k < acc.n && st == SF_OK; k++)
        if (!termset_add(&s, &acc.terms[k])) st = sfi_nomem(ev->err);
    for (size_t i = 0; i < depth && st == SF_OK; i++) {
        const pnode *rn = spine[i]->args[1];
        bool zero = rn->type == FT_ZERO && rn->n_args == 0, one = rn->type == FT_ONE && rn->n_args == 0;
        if (spine[i]->type == FT_PLUS && zero) {
            acc.intercept = false;
            acc.intercept_removed = true;
            continue;
        }
        if (spine[i]->type == FT_MINUS && zero) {
            acc.intercept = true;
            acc.intercept_removed = false;
            acc.intercept_origin = rn->span;
            continue;
        }
        if (spine[i]->type == FT_MINUS && one) {
            acc.intercept = false;
            acc.intercept_removed = true;
            continue;
        }
        texpr r;
        st = eval_node(ev, rn, &r);
        if (st != SF_OK) break;
        if (spine[i]->type == FT_PLUS) {
            if (r.intercept) {
                acc.intercept = true;
                acc.intercept_removed = false;
                acc.intercept_origin = r.intercept_origin;
            }
            for (size_t k = 0; k < r.n && st == SF_OK; k++)
                if (!termset_add(&s, &r.terms[k])) st = sfi_nomem(ev->err);
            if (st == SF_OK && s.n > MAX_TERMS)
                st = sfi_formula_fail(ev->err, spine[i]->tok, "the formula expands to more than %d terms", MAX_TERMS);
        } else {
            termset drop = {0}, keep = {0};
            for (size_t k = 0; k < r.n && st == SF_OK; k++)
                if (!termset_add(&drop, &r.terms[k])) st = sfi_nomem(ev->err);
            for (size_t k = 0; k < s.n && st == SF_OK; k++)
                if (!termset_has(&drop, &s.v[k]) && !termset_add(&keep, &s.v[k])) st = sfi_nomem(ev->err);
            termset_free(&drop);
            termset_free(&s);
            s = keep;
            if (r.intercept) {
                acc.intercept = false;
                acc.intercept_removed = true;
            }
        }
    }
    if (st == SF_OK) {
        out->intercept = acc.intercept;
        out->intercept_removed = acc.intercept_removed;
        out->intercept_origin = acc.intercept_origin;
        st = termset_out(ev, &s, out);
    }
    termset_free(&s);
    free(spine);
    return st;
}

static sf_status eval_binary(evaluator *ev, const pnode *n, texpr *out)
{
    texpr l, r;
    memset(out, 0, sizeof *out);
    const pnode *rn = n->args[1];
    switch (n->type) {
    case FT_PLUS:
    case FT_MINUS:
        return eval_chain(ev, n, out);
    case FT_STAR: {
        SF_TRY(eval_node(ev, n->args[0], &l));
        SF_TRY(eval_node(ev, rn, &r));
        texpr i;
        SF_TRY(interaction(ev, &l, &r, &i, n->tok));
        texpr lr;
        memset(&lr, 0, sizeof lr);
        SF_TRY(texpr_terms(ev, &lr, l.terms, l.n, r.terms, r.n));
        return texpr_terms(ev, out, lr.terms, lr.n, i.terms, i.n);
    }
    case FT_SLASH: {
        SF_TRY(eval_node(ev, n->args[0], &l));
        SF_TRY(eval_node(ev, rn, &r));
        SF_TRY(check_interactable(ev, &l));
        /* a/b = a + (all of a's factors):b */
        sfi_term all = {0, NULL, 0};
        for (size_t i = 0; i < l.n; i++) {
            sfi_term joined;
            SF_TRY(term_join(ev, &all, &l.terms[i], &joined));
            all = joined;
        }
        texpr comb;
        memset(&comb, 0, sizeof comb);
        comb.n = 1;
        comb.terms = &all;
        texpr i;
        SF_TRY(interaction(ev, &comb, &r, &i, n->tok));
        return texpr_terms(ev, out, l.terms, l.n, i.terms, i.n);
    }
    case FT_COLON:
        SF_TRY(eval_node(ev, n->args[0], &l));
        SF_TRY(eval_node(ev, rn, &r));
        return interaction(ev, &l, &r, out, n->tok);
    case FT_POW: {
        SF_TRY(eval_node(ev, n->args[0], &l));
        SF_TRY(check_interactable(ev, &l));
        long power = -1;
        if (rn->n_args == 0 && (rn->type == FT_ONE || rn->type == FT_NUMBER)) {
            const char *s = ev->ft_text[rn->ft];
            char *end;
            long v = strtol(s, &end, 10);
            if (*s && !*end) power = v; /* int(expr): plain decimal integers only */
        }
        if (power < 1) return sfi_formula_fail(ev->err, rn->span, "'**' requires a positive integer");
        texpr all = l, big = l;
        if ((size_t)power > l.n) power = (long)l.n;
        for (long k = 1; k < power; k++) {
            texpr nb;
            SF_TRY(interaction(ev, &l, &big, &nb, n->tok));
            big = nb;
            texpr na;
            memset(&na, 0, sizeof na);
            SF_TRY(texpr_terms(ev, &na, all.terms, all.n, big.terms, big.n));
            all = na;
        }
        return texpr_terms(ev, out, all.terms, all.n, NULL, 0);
    }
    case FT_TILDE:
        return sfi_formula_fail(ev->err, n->tok, "'~' can only be used once, and only at the top level");
    default:
        return sfi_formula_fail(ev->err, n->tok, "unexpected operator");
    }
}

static sf_status eval_node(evaluator *ev, const pnode *n, texpr *out)
{
    memset(out, 0, sizeof *out);
    if (++ev->depth > 400) return sfi_formula_fail(ev->err, n->tok, "formula nested too deeply");
    sf_status st = SF_OK;
    if (n->n_args == 2) {
        st = eval_binary(ev, n, out);
    } else if (n->n_args == 1) {
        const pnode *a = n->args[0];
        if (n->type == FT_PLUS) {
            st = eval_node(ev, a, out);
        } else if (n->type == FT_MINUS) {
            if (a->type == FT_ZERO && a->n_args == 0) {
                out->intercept = true;
                out->intercept_origin = n->span;
            } else if (a->type == FT_ONE && a->n_args == 0) {
                out->intercept_removed = true;
            } else {
                st = sfi_formula_fail(ev->err, n->span, "unary minus can only be applied to 1 or 0");
            }
        } else {
            st = sfi_formula_fail(ev->err, n->tok, "'~' can only be used once, and only at the top level");
        }
    } else if (n->type == FT_ZERO) {
        out->intercept_removed = true;
    } else if (n->type == FT_ONE) {
        out->intercept = true;
        out->intercept_origin = n->span;
    } else if (n->type == FT_NUMBER) {
        st = sfi_formula_fail(ev->err, n->span, "numbers besides '0' and '1' are only allowed with **");
    } else {
        size_t idx = 0;
        st = add_factor(ev, n->ft, &idx);
        if (st == SF_OK) {
            sfi_term *t = arena_alloc(&ev->f->arena, sizeof *t);
            size_t *fi = arena_alloc(&ev->f->arena, sizeof *fi);
            if (!t || !fi) return sfi_nomem(ev->err);
            *fi = idx;
            t->n = 1;
            t->f = fi;
            t->mask = (uint64_t)1 << (idx % 64);
            out->n = 1;
            out->terms = t;
        }
    }
    ev->depth--;
    return st;
}

/* The top level (desc.py _eval_any_tilde). */
static sf_status eval_top(evaluator *ev, const pnode *root)
{
    sfi_formula *f = ev->f;
    texpr lhs, rhs;
    memset(&lhs, 0, sizeof lhs);
    lhs.intercept_removed = true;
    if (root->type == FT_TILDE && root->n_args == 2) {
        if (root->args[0]->type == FT_TILDE && root->args[0]->n_args)
            return sfi_formula_fail(ev->err, root->tok, "'~' can only be used once, and only at the top level");
        SF_TRY(eval_node(ev, root->args[0], &lhs));
        SF_TRY(eval_node(ev, root->args[1], &rhs));
        f->lhs_span = root->args[0]->span;
        f->has_tilde = true;
    } else if (root->type == FT_TILDE && root->n_args == 1) {
        SF_TRY(eval_node(ev, root->args[0], &rhs));
        f->has_tilde = true;
    } else {
        SF_TRY(eval_node(ev, root, &rhs));
    }
    sfi_term icpt = {0, NULL, 0};
    bool rhs_icpt = !rhs.intercept_removed;
    f->lhs = arena_alloc(&f->arena, (lhs.n + 1) * sizeof *f->lhs);
    f->rhs = arena_alloc(&f->arena, (rhs.n + 1) * sizeof *f->rhs);
    if (!f->lhs || !f->rhs) return sfi_nomem(ev->err);
    texpr tmp;
    memset(&tmp, 0, sizeof tmp);
    SF_TRY(texpr_terms(ev, &tmp, &icpt, lhs.intercept ? 1 : 0, lhs.terms, lhs.n));
    f->lhs = tmp.terms;
    f->n_lhs = tmp.n;
    SF_TRY(texpr_terms(ev, &tmp, &icpt, rhs_icpt ? 1 : 0, rhs.terms, rhs.n));
    f->rhs = tmp.terms;
    f->n_rhs = tmp.n;
    return SF_OK;
}

/* Keeps only the factors some final term uses, renumbered in order of first
 * appearance: patsy evaluates no other (a - b never reads b). */
static sf_status drop_unused_factors(sfi_formula *f, sf_error *err)
{
    size_t *map = malloc((f->n_factors + 1) * sizeof *map);
    if (!map) return sfi_nomem(err);
    for (size_t i = 0; i < f->n_factors; i++) map[i] = SIZE_MAX;
    for (int side = 0; side < 2; side++) {
        sfi_term *terms = side ? f->rhs : f->lhs;
        size_t n = side ? f->n_rhs : f->n_lhs;
        for (size_t t = 0; t < n; t++)
            for (size_t q = 0; q < terms[t].n; q++) map[terms[t].f[q]] = 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n_factors; i++)
        if (map[i] == 0) {
            f->factors[k] = f->factors[i];
            map[i] = k++;
        }
    f->n_factors = k;
    for (int side = 0; side < 2; side++) {
        sfi_term *terms = side ? f->rhs : f->lhs;
        size_t n = side ? f->n_rhs : f->n_lhs;
        for (size_t t = 0; t < n; t++) {
            terms[t].mask = 0;
            for (size_t q = 0; q < terms[t].n; q++) {
                terms[t].f[q] = map[terms[t].f[q]];
                terms[t].mask |= (uint64_t)1 << (terms[t].f[q] % 64);
            }
        }
    }
    free(map);
    return SF_OK;
}

sf_status sfi_formula_parse(const char *text, sfi_formula **out, sf_error *err)
{
    *out = NULL;
    if (!text) return sfi_fail(err, SF_ERR_ARG, NULL, "formula is NULL");
    size_t len = strlen(text);
    if (len > 100000) return sfi_fail(err, SF_ERR_ARG, NULL, "formula longer than 100000 bytes");
    sfi_formula *f = calloc(1, sizeof *f);
    lexer lx = {text, len, NULL, 0, 0};
    ftok *ft = NULL;
    char **ft_text = NULL;
    size_t n_ft = 0;
    infix ix;
    memset(&ix, 0, sizeof ix);
    sf_status st = SF_OK;
    if (!f || !(f->text = malloc(len + 1))) {
        st = sfi_nomem(err);
        goto done;
    }
    memcpy(f->text, text, len + 1);
    lx.s = f->text;
    st = lex(&lx, err);
    if (st == SF_OK) st = formula_tokens(&lx, &f->arena, &ft, &n_ft, &ft_text, err);
    if (st != SF_OK) goto done;
    if (n_ft == 0) {
        /* patsy: an empty formula is "~ 1" */
        f->rhs = arena_alloc(&f->arena, sizeof *f->rhs);
        if (!f->rhs) {
            st = sfi_nomem(err);
            goto done;
        }
        f->n_rhs = 1;
        f->has_tilde = true;
        goto done;
    }
    ix = (infix){ft, n_ft, &f->arena, err, malloc((n_ft + 1) * sizeof *ix.ops), 0,
                 malloc((n_ft + 1) * sizeof *ix.nouns), 0};
    if (!ix.ops || !ix.nouns) {
        st = sfi_nomem(err);
        goto done;
    }
    pnode *root = NULL;
    st = infix_parse(&ix, len, &root);
    if (st != SF_OK) goto done;
    evaluator ev = {f, &lx, ft, ft_text, err, 0};
    st = eval_top(&ev, root);
    if (st == SF_OK) st = drop_unused_factors(f, err);
done:
    free(lx.t);
    free(ft);
    free(ft_text);
    free(ix.ops);
    free(ix.nouns);
    if (st != SF_OK) {
        sfi_formula_free(f);
        return st;
    }
    *out = f;
    return SF_OK;
}

void sfi_formula_free(sfi_formula *f)
{
    if (!f) return;
    arena_free(f->arena);
    free(f->text);
    free(f);
}

static sf_status parse_text(sfi_formula *f, const char *text, bool where, sfi_node **out, sf_error *err)
{
    *out = NULL;
    lexer lx = {text, strlen(text), NULL, 0, 0};
    sf_status st = lex(&lx, err);
    if (st == SF_OK) {
        if (lx.n_t == 0) {
            st = sfi_formula_fail(err, (sfi_span){0, 1}, "empty expression");
        } else {
            *out = parse_python(&lx, 0, lx.n_t, &f->arena, 0, where, err);
            if (!*out) st = err ? err->status : SF_ERR_ARG;
        }
    }
    free(lx.t);
    return st;
}

sf_status sfi_expr_parse(sfi_formula *f, const char *text, sfi_node **out, sf_error *err)
{
    return parse_text(f, text, false, out, err);
}

sf_status sfi_where_parse(sfi_formula *f, const char *text, sfi_node **out, sf_error *err)
{
    return parse_text(f, text, true, out, err);
}

/* Python's float repr: the shortest digits that round-trip, written fixed for
 * decimal exponents -4 <= e < 16 and in scientific notation otherwise
 * (Python/pystrtod.c, format code 'r'). */
void sfi_py_float_repr(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx */
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (e >= -5 + 1 && e < 16) {
        if (e < 0) {
            out[k++] = '0';
            out[k++] = '.';
            for (int z = 0; z < -e - 1; z++) out[k++] = '0';
            for (size_t q = 0; q < nd; q++) out[k++] = digits[q];
        } else {
            for (int q = 0; q <= e; q++) out[k++] = (size_t)q < nd ? digits[q] : '0';
            out[k++] = '.';
            if ((size_t)e + 1 < nd)
                for (size_t q = (size_t)e + 1; q < nd; q++) out[k++] = digits[q];
            else
                out[k++] = '0';
        }
        out[k] = '\0';
    } else {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (size_t q = 1; q < nd; q++) out[k++] = digits[q];
        }
        k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(buf, n, "%s", out);
}
