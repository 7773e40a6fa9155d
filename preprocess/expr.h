/* expr.h — row filters (--where): a Python boolean expression over a source's
 * columns, compiled and evaluated by the formula language's expression engine
 * (preprocess/design.c) column-wise over whole chunks; internal.
 *
 * The language is a formula's embedded Python (numbers, columns, Q('name'),
 * + - * / **, unary -, the comparisons, log/exp/sqrt/abs/... with or without
 * np.) plus and / or / not with Python's precedence (pandas' & | ~ as and / or /
 * not, & and | as loose as and / or), in / not in [..] lists of
 * strings or numbers, chained comparisons, True / False, and comparisons of text
 * columns with quoted strings (== != < > <= >=). Semantics are numpy's and
 * pandas' DataFrame.query: a comparison with a missing value is false, so
 * NaN != 1 is true; a missing text value equals no string and is in no list
 * (pandas raises TypeError when ordering NaN against a string: false here).
 */
#ifndef SF_EXPR_H
#define SF_EXPR_H

#include "core/sf_internal.h"
#include "streamfit/sf_source.h"

typedef struct sfi_expr sfi_expr;

/* Scratch space of one evaluating thread; zero-initialise, free with
 * sfi_expr_buf_free(). */
typedef struct sfi_expr_buf {
    double *buf;
    size_t cap;     /* doubles in buf */
    size_t *tcol;
    size_t n_tcol;
} sfi_expr_buf;

/* Compiles text against schema's columns. Errors are SF_ERR_ARG with
 * where.source "<where>" and where.column the 1-based byte column in text:
 * syntax, unknown column (with a "did you mean"), a text column in arithmetic or
 * a numeric one compared with a string, a result that is not true/false. */
SFI_FUNC sf_status sfi_expr_compile(sfi_expr **out, const char *text, const sf_source *schema, sf_error *err);
SFI_FUNC void sfi_expr_free(sfi_expr *x);

/* Evaluates x on every row of t (which has the schema's columns): keep[i] = 1
 * where it holds, else 0; *n_keep the count. x is only read: threads may share
 * it, each with its own b. Errors: SF_ERR_ARG when t lacks a column; SF_ERR_NOMEM. */
SFI_FUNC sf_status sfi_expr_eval(const sfi_expr *x, const sf_table *t, sfi_expr_buf *b, uint8_t *keep,
                                 size_t *n_keep, sf_error *err);
SFI_FUNC void sfi_expr_buf_free(sfi_expr_buf *b);

#endif
