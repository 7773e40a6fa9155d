/* sf_design.h — design matrices from patsy formulas, chunk by chunk.
 *
 * A design turns table chunks into the rows patsy 0.5.3's
 * dmatrices(formula, data) would build for the same data: the same columns, in
 * the same order, with the same names and values. Its life has four steps:
 *   new (parse) -> bind (resolve names against a source's columns) ->
 *   fit (only when sf_design_needs_fit: learn categorical levels and center() /
 *   standardize() statistics with partial_fit over chunks, merging per-segment
 *   states in segment order) -> finish (fix levels and columns) -> build.
 * The formula language: y ~ terms with + - : * / ** and parentheses, 0 / 1 / -1
 * for the intercept; factors are column names, Q("odd name"), I(expr) with
 * + - * / ** and numbers, log log1p exp sqrt abs log10 log2 expm1 square floor
 * ceil sin cos tan tanh arctan (bare, np. or numpy.), one comparison (< > <= >= == !=: a boolean, so a categorical factor
 * with levels False and True, or 0/1 inside arithmetic; a text column can be
 * compared with a string by == or !=), center(x),
 * standardize(x[, center=, rescale=, ddof=]) (alias scale),
 * and C(x[, Treatment | Treatment(ref) | Sum | Sum(omit) | Helmert | Diff | Poly | Poly(scores)]
 * [, levels=[...] | levels=range(a, b) | levels=np.arange(n) | levels=NAME]),
 * where NAME was given with sf_design_define. String columns are categorical
 * automatically (text of pandas' True/False words is boolean, as pandas reads
 * it); numeric columns are numeric unless wrapped in C().
 * Where it differs from patsy: center()/standardize() skip NaN arguments
 * (patsy's statistics would turn NaN and drop every row); log, exp, log1p and
 * general powers come from libm, within an ulp of numpy's own routines; names
 * are columns before defined names, and a dotted name (Sepal.Length) is a
 * column, not an attribute.
 */
#ifndef SF_DESIGN_H
#define SF_DESIGN_H

#include <stdbool.h>
#include "sf_source.h"
#include "sf_table.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What to do with a row where a factor is missing (NaN, or an empty category). */
typedef enum sf_na_action {
    SF_NA_DROP = 0, /**< patsy's NA_action="drop": skip the row and count it */
    SF_NA_ERROR = 1 /**< patsy's "raise": fail naming the row and the factor */
} sf_na_action;

/** What to do at build time with a categorical value the fit never saw. */
typedef enum sf_unknown_level {
    SF_UNKNOWN_ERROR = 0, /**< fail naming the row and the value (patsy) */
    SF_UNKNOWN_ZERO = 1   /**< code the factor as all zeros in that row */
} sf_unknown_level;

/** Parameters. Initialise with sf_design_params_default(). */
typedef struct sf_design_params {
    sf_na_action na_action;         /**< default SF_NA_DROP */
    sf_unknown_level unknown_level; /**< default SF_UNKNOWN_ERROR */
    size_t max_levels;              /**< per categorical factor; default 10000 */
    uint8_t reserved[32];
} sf_design_params;

/** Fills p with the defaults above. */
SF_API void sf_design_params_default(sf_design_params *p);

typedef struct sf_design sf_design;

/** Parses formula (p may be NULL: defaults). A syntax error (or an unknown
 *  function, a misplaced argument) is SF_ERR_ARG with err->where.source
 *  "<formula>", err->where.line 1 and err->where.column the 1-based byte column
 *  of the offending token; the message says what was expected.
 *  Caller frees with sf_design_free(). */
SF_API sf_status sf_design_new(sf_design **out, const char *formula, const sf_design_params *p,
                               sf_error *err);

/** Frees a design; NULL is a no-op. */
SF_API void sf_design_free(sf_design *d);

/** Gives a name used in the formula a value, written as a Python literal: a list
 *  "[0, 1, 2]", "range(5)", "np.arange(5)", a number or a string (seed 000's
 *  `levels = lnames` with sf_design_define(d, "lnames", "np.arange(5)")).
 *  Before bind only (SF_ERR_STATE after). Errors in value: SF_ERR_ARG with
 *  where.source "<define NAME>" and the column in value. */
SF_API sf_status sf_design_define(sf_design *d, const char *name, const char *value, sf_error *err);

/** Resolves the formula's names against src's columns and decides, as patsy does,
 *  which factors are categorical (string columns, C(...)) and which numeric;
 *  fixes the term order and each categorical factor's coding (full or reduced
 *  rank). An unknown column, a string column inside arithmetic, or a
 *  non-numeric response is SF_ERR_ARG pointing into the formula like a syntax
 *  error. d is unchanged on error; binding again is SF_ERR_STATE. */
SF_API sf_status sf_design_bind(sf_design *d, const sf_source *src, sf_error *err);

/** As sf_design_bind, with the schema of a table chunk (its names, types and
 *  integer flags) in place of a source. */
SF_API sf_status sf_design_bind_table(sf_design *d, const sf_table *t, sf_error *err);

/** False when every categorical factor has its levels in the formula and there
 *  is no stateful transform: sf_design_finish may then be called without data. */
SF_API bool sf_design_needs_fit(const sf_design *d);

/** A fresh copy of a bound design with nothing fitted (a worker's partial state
 *  for a segment). Caller frees with sf_design_free(). */
SF_API sf_status sf_design_clone_empty(const sf_design *d, sf_design **out, sf_error *err);

/** Learns from a chunk: the levels of categorical factors (all non-missing
 *  values; merged by label text, so per-segment dictionaries do not matter),
 *  and center()/standardize() statistics (NaN arguments are skipped; patsy
 *  would make every row NaN instead). Columns are found in t by name.
 *  SF_ERR_STATE before bind or after finish; SF_ERR_ARG for a column missing
 *  from t or of the wrong type, or more than max_levels levels (naming the
 *  factor). d is unchanged on error. */
SF_API sf_status sf_design_partial_fit(sf_design *d, const sf_table *t, sf_error *err);

/** dst ⊕= src: merges src's partial state into dst, in segment order (src came
 *  after dst). Both must come from the same bound design (SF_ERR_STATE). */
SF_API sf_status sf_design_merge(sf_design *dst, const sf_design *src, sf_error *err);

/** Fixes the levels (sorted as patsy sorts them: numbers numerically, strings
 *  lexicographically; or as listed in levels=[...]), the statistics, the
 *  contrasts and the output columns. Errors: a levels=[...] list that misses a
 *  value present in the data (naming the value, the row and the line), a
 *  reference level that is not a level, a categorical factor with no levels.
 *  d stays unfinished on error. */
SF_API sf_status sf_design_finish(sf_design *d, sf_error *err);

/** True once finished (or loaded from a model file). */
SF_API bool sf_design_is_finished(const sf_design *d);

/** Number of design columns (0 before finish). */
SF_API size_t sf_design_n_columns(const sf_design *d);

/** Name of design column j, as patsy names it ("Intercept", "a:b",
 *  "C(cat1)[T.2]"). Borrowed; valid until d is freed. NULL if j is out of range. */
SF_API const char *sf_design_column_name(const sf_design *d, size_t j);

/** True when the formula has a left-hand side (one numeric response). */
SF_API bool sf_design_has_response(const sf_design *d);

/** The response's name ("y", "np.log(y)"), or NULL. Borrowed; valid until d is freed. */
SF_API const char *sf_design_response_name(const sf_design *d);

/** The type a source column the formula reads is bound with. */
typedef enum sf_design_input_type {
    SF_DESIGN_INPUT_FLOAT = 0,   /**< a numeric column */
    SF_DESIGN_INPUT_INTEGER = 1, /**< a numeric column of integers (the source's flag) */
    SF_DESIGN_INPUT_CATEGORY = 2 /**< a text column, coded into levels */
} sf_design_input_type;

/** Number of source columns the formula reads (0 before bind; a loaded design
 *  is bound), in the order the formula first names them. */
SF_API size_t sf_design_n_inputs(const sf_design *d);

/** Source column i the formula reads: its name (borrowed, valid until d is
 *  freed; NULL if i is out of range or d unbound). If non-NULL, *type gets its
 *  type and *response_only whether only the response reads it (a build without
 *  y, as for prediction, does not need that column). */
SF_API const char *sf_design_input(const sf_design *d, size_t i, sf_design_input_type *type,
                                   bool *response_only);

/** True when the right-hand side has patsy's Intercept column. */
SF_API bool sf_design_has_intercept(const sf_design *d);

/** The formula text d was made from. Borrowed; valid until d is freed. */
SF_API const char *sf_design_formula(const sf_design *d);

/** The parameters d was made with. */
SF_API sf_design_params sf_design_get_params(const sf_design *d);

/** Builds the rows of chunk t: x gets *n_out rows of sf_design_n_columns values
 *  (row stride ld >= the column count; x may be NULL when there are no columns)
 *  and y the response. Both must have room for t->n_rows rows. With y NULL the
 *  response is left out: its columns may be absent from t (predict) and its
 *  missing values drop nothing. Rows with a missing factor are skipped and
 *  added to *n_dropped (NULL allowed) under SF_NA_DROP, or fail under
 *  SF_NA_ERROR; a categorical value the fit never saw fails (or codes as zeros
 *  under SF_UNKNOWN_ZERO). Errors name the row (sf_table_row(t, i)), its line and
 *  the factor. Thread-safe: d is only read. SF_ERR_STATE before finish. */
SF_API sf_status sf_design_build(const sf_design *d, const sf_table *t, double *x, size_t ld,
                                 double *y, size_t *n_out, uint64_t *n_dropped, sf_error *err);

/** As sf_design_build, and rows_out (NULL allowed; room for t->n_rows) gets the
 *  index in t of each row built, so a caller can align weights or leave empty
 *  output lines for dropped rows. */
SF_API sf_status sf_design_build_rows(const sf_design *d, const sf_table *t, double *x, size_t ld,
                                      double *y, size_t *rows_out, size_t *n_out,
                                      uint64_t *n_dropped, sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
