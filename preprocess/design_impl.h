/* design_impl.h — the design's private state, shared by design.c (bind, fit,
 * build) and design_io.c (model file, JSON); internal. */
#ifndef SF_DESIGN_IMPL_H
#define SF_DESIGN_IMPL_H

#include "preprocess/formula_impl.h"
#include "streamfit/sf_design.h"

#define SFI_MAX_TERM_FACTORS 16

/* A literal value: a level or a reference. */
typedef enum { DV_NUM, DV_STR, DV_BOOL } dv_kind;
typedef struct dvalue {
    dv_kind kind;
    bool is_int;      /* DV_NUM written as an integer (named "1", not "1.0") */
    double num;       /* DV_NUM, DV_BOOL (0 / 1) */
    const char *str;  /* DV_STR; borrowed from the formula's arena */
} dvalue;

/* A set of level keys (strings or numbers) in insertion order, hashed. */
typedef struct lset {
    bool is_str;
    size_t n, cap;
    char **str;
    size_t *len;
    double *num;
    uint32_t *slots; /* open addressing: 0 = empty, else index + 1 */
    size_t n_slots;
} lset;

/* Compiled numeric expressions: nodes in d->ev, children by index. */
typedef enum {
    EV_CONST, EV_COL, EV_NEG, EV_ADD, EV_SUB, EV_MUL, EV_DIV, EV_POW, EV_FN, EV_STAT, EV_CMP, EV_TEXTEQ,
    /* row filters (--where) only */
    EV_NOT, EV_AND, EV_OR, EV_TEXTIN, EV_NUMIN
} ev_op;
typedef struct evnode {
    ev_op op;
    int a, b;
    double c;
    size_t col;   /* EV_COL: index in d->cols */
    int fn;       /* EV_FN: index of log, log1p, exp, sqrt, abs, log10, log2, expm1 */
    size_t stat;  /* EV_STAT: index in d->stats */
    char cmp;     /* EV_CMP: '<' '>' 'l' 'g' '=' '!' (1.0 true, 0.0 false); EV_TEXTEQ: '=' '!'
                     (row filters also '<' '>' 'l' 'g'); EV_TEXTIN, EV_NUMIN: 'i' in, 'x' not in */
    const char *text; /* EV_TEXTEQ: text column col compared with this string */
    const sfi_node *list; /* EV_TEXTIN, EV_NUMIN: the list of strings / numbers */
    bool is_int;  /* integer-valued by numpy's int64 rules (for level names) */
    bool is_const;
    bool is_bool; /* true / false: a comparison, a boolean operator, True, False */
} evnode;

/* A source column the formula uses. */
typedef struct ucol {
    char *name;
    sfi_span span;     /* first reference, for errors */
    bool is_category;  /* text column: codes into a dictionary */
    bool is_integer;   /* the schema's integer flag */
    bool all_int;      /* fit: every chunk seen had the column all integers */
} ucol;

/* center() / standardize() (patsy/state.py). */
typedef enum { ST_CENTER, ST_STANDARDIZE } st_kind;
typedef struct dstat {
    st_kind kind;
    bool center, rescale;
    double ddof;
    int arg;          /* ev node of the argument */
    const char *name; /* callee */
    sfi_span span;
    /* Partial state in long double, as patsy's util.wide_dtype_for (numpy's
     * longdouble, the same x87 extended type): center: a compensated sum;
     * standardize: patsy's per-row Welford loop. */
    double n;
    long double sum, comp, mean, m2;
    /* finished: center's mean rounded to double (Center.transform), standardize's
     * long double mean and scale */
    double shift;
    long double lshift, scale;
} dstat;

/* A contrast matrix (contrasts.py ContrastMatrix): n_levels x k, row-major. */
typedef struct coding {
    size_t k;
    double *m;
    char **suffix;
} coding;

enum { CODE_NUMERIC = 0, CODE_FULL = 1, CODE_REDUCED = 2 };
enum { CT_TREATMENT = 0, CT_SUM = 1, CT_HELMERT = 2, CT_DIFF = 3, CT_POLY = 4 };

typedef struct dfactor {
    const char *name; /* borrowed from the formula */
    sfi_span span;
    bool categorical;
    bool on_rhs;      /* used by a right-hand-side term (not only the response) */
    bool on_text;     /* categorical over a text column d->cols[col] */
    size_t col;
    int root;         /* numeric expression (numeric factors; categorical over numbers) */
    int contrast;
    bool has_ref;
    dvalue ref;
    dvalue *scores;   /* Poly(scores): one number per level, or NULL (0, 1, 2, ...) */
    size_t n_scores;
    sfi_span ref_span;
    const sfi_node *levels_node;
    bool levels_given;
    dvalue *given;
    size_t n_given;
    bool need_full, need_reduced;
    /* fit */
    lset seen;
    char *bad_value;  /* first value missing from levels=[...], with where it was */
    uint64_t bad_row, bad_line;
    /* finish */
    size_t n_levels;
    dvalue *levels;
    char **level_str; /* text levels (owned by lookup) */
    lset lookup;      /* level key -> index */
    int32_t *direct;  /* numeric levels that are small non-negative integers: value -> index (-2: none) */
    size_t n_direct;
    bool is_bool;     /* text of pandas' booleans only: levels False, True */
    coding coding[2]; /* [0] full rank, [1] reduced rank */
} dfactor;

typedef struct dsub {
    size_t n;
    size_t f[SFI_MAX_TERM_FACTORS];
    int coding[SFI_MAX_TERM_FACTORS];
} dsub;

typedef struct dterm {
    const sfi_term *term;
    size_t n_sub;
    dsub *sub;
} dterm;

typedef struct define {
    char *name, *text;
    sfi_node *val;
} define;

/* One factor's part of one output column: a numeric value, or contrast column c. */
typedef struct plan_op {
    size_t f;
    const double *m; /* NULL: numeric; else the coding matrix (n_levels x k) */
    size_t k, c;
} plan_op;

/* Where bind finds columns: a source, a table, or saved names. */
typedef struct schema schema;
struct schema {
    long (*find)(const schema *s, const char *name);
    size_t (*count)(const schema *s);
    const char *(*name)(const schema *s, size_t i);
    bool (*is_category)(const schema *s, size_t i);
    bool (*is_integer)(const schema *s, size_t i);
    const sf_source *src;
    const sf_table *t;
    const sf_design *d;
    size_t n;
    char *const *names;
    const bool *cat, *integer;
};

struct sf_design {
    sf_design_params p;
    sfi_formula *f;
    size_t n_defs;
    define *defs;
    /* bind */
    bool bound, needs_fit, has_response;
    size_t response;
    size_t n_cols;
    ucol *cols;
    size_t n_ev, cap_ev;
    evnode *ev;
    size_t n_stats;
    dstat *stats;
    dfactor *fac;     /* f->n_factors */
    size_t n_terms;
    dterm *terms;     /* right-hand side in patsy's order */
    /* finish */
    bool finished;
    size_t n_out;
    char **names;
    plan_op *plan;
    size_t *plan_start; /* n_out + 1 */
};

SFI_FUNC double sfi_design_math(int fn, double x);
SFI_FUNC void sfi_design_unbind(sf_design *d);
SFI_FUNC void sfi_design_unfinish(sf_design *d);
/* A schema made of d's own bound columns (to clone a design). */
SFI_FUNC void sfi_design_saved_schema(const sf_design *d, schema *sc);
/* A schema of saved column names and flags (a loaded model). */
SFI_FUNC void sfi_design_names_schema(schema *sc, size_t n, char *const *names, const bool *cat,
                                      const bool *integer);
SFI_FUNC sf_status sfi_design_bind_saved(sf_design *d, const schema *sc, sf_error *err);
/* Loads a fitted state: learned levels (text or numbers) of factor i. */
SFI_FUNC sf_status sfi_design_add_levels(sf_design *d, size_t i, char *const *str, const double *num, size_t n,
                                         sf_error *err);

#endif
