/* formula_impl.h — the parsed formula, shared by formula.c (parser, term
 * expansion) and design.c (binding, fitting, building); internal.
 *
 * A formula is parsed the way patsy 0.5.3 parses it: Python tokens are grouped
 * into formula operators and embedded Python expressions (patsy/parse_formula.py),
 * the operator tree is evaluated into term lists (patsy/desc.py), and every
 * distinct embedded expression becomes one factor, named by its whitespace-
 * normalised code (patsy/tokens.py pretty_untokenize), with its own small Python
 * expression tree for evaluation. Spans are byte offsets into the formula text.
 */
#ifndef SF_FORMULA_IMPL_H
#define SF_FORMULA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sf_internal.h"

typedef struct sfi_span {
    uint32_t start, end; /* byte offsets, end exclusive */
} sfi_span;

/* Python expression nodes (the subset formulas use). */
typedef enum sfi_nkind {
    SFI_N_NUM,    /* num, is_int */
    SFI_N_STR,    /* text: the decoded string */
    SFI_N_NAME,   /* text: dotted name as written without spaces ("np.log") */
    SFI_N_CONST,  /* True / False / None: text */
    SFI_N_UNARY,  /* op '-' or '+' (row filters: 'n', not); kids[0] */
    SFI_N_BINARY, /* op '+', '-', '*', '/', '^' (power), or a comparison: '<', '>',
                     'l' (<=), 'g' (>=), '=' (==), '!' (!=); row filters also '&'
                     (and), '|' (or), 'i' (in), 'x' (not in); kids[0], kids[1] */
    SFI_N_CALL,   /* text: callee's dotted name; kids: arguments (KWARG for keywords) */
    SFI_N_LIST,   /* [a, b] or (a, b): kids */
    SFI_N_KWARG   /* text: keyword; kids[0]: value */
} sfi_nkind;

typedef struct sfi_node {
    sfi_nkind kind;
    sfi_span span;       /* the whole node */
    sfi_span name_span;  /* CALL: the callee; KWARG: the keyword */
    char op;
    bool is_int;         /* NUM written as a decimal integer */
    double num;
    char *text;
    struct sfi_node **kids;
    size_t n_kids;
} sfi_node;

/* A factor: one distinct embedded Python expression. */
typedef struct sfi_factor_src {
    char *name;       /* patsy's EvalFactor.name(): the normalised code */
    sfi_span span;    /* its first occurrence */
    sfi_node *expr;
} sfi_factor_src;

/* A term: the interaction of its factors, in formula order (the intercept has none). */
typedef struct sfi_term {
    size_t n;
    size_t *f;     /* factor indices */
    uint64_t mask; /* bit (index % 64) of each factor: a quick inequality test */
} sfi_term;

typedef struct sfi_arena sfi_arena;

typedef struct sfi_formula {
    char *text;             /* a copy of the formula */
    size_t n_factors;
    sfi_factor_src *factors;
    size_t n_lhs, n_rhs;
    sfi_term *lhs, *rhs;    /* patsy's ModelDesc term lists: unique, the rhs intercept first */
    sfi_span lhs_span;      /* the left-hand side, for errors about the response */
    bool has_tilde;
    sfi_arena *arena;       /* owns everything above but text */
} sfi_formula;

/* Parses text into *out (caller frees with sfi_formula_free). Syntax errors are
 * SF_ERR_ARG with where.source "<formula>" and where.column the 1-based byte
 * column of the offending token. */
SFI_FUNC sf_status sfi_formula_parse(const char *text, sfi_formula **out, sf_error *err);
SFI_FUNC void sfi_formula_free(sfi_formula *f);

/* Parses a standalone Python expression (a define's value) into a node tree
 * owned by f's arena; columns in errors are 1-based within text. */
SFI_FUNC sf_status sfi_expr_parse(sfi_formula *f, const char *text, sfi_node **out, sf_error *err);

/* Parses a row filter (--where): a Python expression with, beyond a formula's,
 * and / or / not (Python's precedence), in / not in, and chained comparisons
 * (a < b < c is a < b and b < c). Nodes are owned by f's arena. */
SFI_FUNC sf_status sfi_where_parse(sfi_formula *f, const char *text, sfi_node **out, sf_error *err);

/* Fills err for a problem at span (columns are 1-based bytes). Returns SF_ERR_ARG. */
SFI_FUNC sf_status sfi_formula_fail(sf_error *err, sfi_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rebuilds an open-addressing index of n entries into a fresh table of `size`
 * slots (a power of two; 0 = empty, else entry + 1), hashing entry e with
 * hash(ctx, e). On allocation failure returns false and leaves *slots as it was. */
SFI_FUNC bool sfi_hash_index(uint32_t **slots, size_t *n_slots, size_t size, size_t n,
                             uint64_t (*hash)(const void *ctx, size_t e), const void *ctx);

/* Python's repr() of a float ("1.0", "0.1", "1e+16", "1e-05", "inf", "nan"). */
SFI_FUNC void sfi_py_float_repr(double v, char *buf, size_t n);

#endif
