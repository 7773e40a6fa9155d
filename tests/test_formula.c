/* test_formula.c — formulas and design matrices against patsy 0.5.3 (fixture made
 * by tests/reference/make_formula_fixtures.py from tests/data/formula_mixed.csv):
 * - for 45 formulas (seed 000's exact one among them, with lnames defined as
 *   np.arange(5)): column names and order equal, row count equal (patsy's
 *   NA_action="drop"), every value of X and y equal to 1e-15 relative. Measured:
 *   bitwise equal everywhere (center/standardize too, their statistics kept in
 *   long double as patsy keeps them) except log, log1p, exp, trigonometry, powers other
 *   than 2, 0.5, -1, 1, 0 (numpy computes those with fast paths), where
 *   numpy's own SIMD routines and glibc differ by at most one ulp (2.2e-16),
 *   and Poly contrasts (1e-14 absolute: QR by GSL here, LAPACK in numpy;
 *   measured 6.7e-16);
 * - the same through the CSV source read whole, in chunks of 7 and 13 rows, and
 *   cut into segments fitted separately and merged in segment order, and with
 *   three threads building from one finished design at once;
 * - 60 random formulas (seeded, from + : * / - ** and mixed factors): names,
 *   order and row counts equal, column sums to 1e-12;
 * - a 3000-term formula and a 1831-column (x1 + ... + x60)**2 parse, bind and
 *   build (no deep recursion, no quadratic term lists);
 * - parser errors point at the offending byte column with what was expected;
 * - save -> load (HDF5 group) gives the same columns and bitwise the same rows
 *   for every formula; a partial state saved, loaded and fitted further equals
 *   one uninterrupted fit (bitwise); tampered groups are refused as corrupt;
 *   the JSON export of a small design equals the expected text;
 * - bind, finish and build errors (unknown column, text in arithmetic, a level
 *   list missing a value, a level never seen, na=error) name what is wrong and
 *   leave the design usable; bad arguments are refused. */
#include "sf_test.h"

#include <pthread.h>
#include <unistd.h>

#include "../preprocess/design_io.h"
#include "../preprocess/formula_impl.h"
#include "../tests/reference/formula_fixture.h"
#include "../tests/reference/formula_random_fixture.h"

#define REL 1e-15
#define CSV SF_TEST_DATA_DIR "/formula_mixed.csv"

static sf_source *open_csv(size_t chunk_rows, uint64_t segment_bytes)
{
    sf_source_options o;
    sf_source_options_init(&o);
    if (chunk_rows) o.chunk_rows = chunk_rows;
    if (segment_bytes) o.segment_bytes = segment_bytes;
    sf_source *s = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&s, CSV, &o, &err), SF_OK);
    return s;
}

static sf_design *new_design(const formula_case *c)
{
    sf_design *d = NULL;
    sf_error err;
    sf_status st = sf_design_new(&d, c->formula, NULL, &err);
    if (st != SF_OK) print_error("%s: %s (column %llu)\n", c->formula, err.message, (unsigned long long)err.where.column);
    assert_int_equal(st, SF_OK);
    if (c->define) {
        char name[64];
        const char *eq = strchr(c->define, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - c->define), c->define);
        assert_int_equal(sf_design_define(d, name, eq + 1, &err), SF_OK);
    }
    return d;
}

static void fit_source(sf_design *d, sf_source *s)
{
    const sf_table *t;
    sf_error err;
    sf_status st;
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        st = sf_design_partial_fit(d, t, &err);
        if (st != SF_OK) print_error("fit: %s\n", err.message);
        assert_int_equal(st, SF_OK);
    }
    assert_int_equal(st, SF_END);
}

typedef struct built {
    size_t n, p;
    double *x, *y;
    uint64_t dropped;
} built;

static void build_source(const sf_design *d, sf_source *s, built *b)
{
    const sf_table *t;
    sf_error err;
    sf_status st;
    size_t p = sf_design_n_columns(d);
    while ((st = sf_source_next(s, &t, &err)) == SF_OK) {
        b->x = realloc(b->x, (b->n + t->n_rows) * (p ? p : 1) * sizeof *b->x);
        b->y = realloc(b->y, (b->n + t->n_rows) * sizeof *b->y);
        size_t got;
        st = sf_design_build(d, t, b->x + b->n * p, p, b->y + b->n, &got, &b->dropped, &err);
        if (st != SF_OK) print_error("build: %s\n", err.message);
        assert_int_equal(st, SF_OK);
        b->n += got;
    }
    assert_int_equal(st, SF_END);
    b->p = p;
}

static void compare(const formula_case *c, const sf_design *d, const built *b, const char *how)
{
    if (sf_design_n_columns(d) != c->p) print_error("%s [%s]: %zu columns, patsy %zu\n", c->formula, how, sf_design_n_columns(d), c->p);
    assert_int_equal(sf_design_n_columns(d), c->p);
    for (size_t j = 0; j < c->p; j++) {
        if (strcmp(sf_design_column_name(d, j), c->names[j]) != 0)
            print_error("%s: column %zu is %s, patsy %s\n", c->formula, j, sf_design_column_name(d, j), c->names[j]);
        assert_string_equal(sf_design_column_name(d, j), c->names[j]);
    }
    assert_int_equal(sf_design_has_response(d), c->has_y);
    if (b->n != c->n) print_error("%s [%s]: %zu rows, patsy %zu\n", c->formula, how, b->n, c->n);
    assert_int_equal(b->n, c->n);
    for (size_t j = 0; j < c->p; j++) {
        /* Poly's QR: GSL's Householder against numpy's LAPACK, equal to rounding */
        double abs_tol = strstr(c->names[j], "Poly") ? 1e-14 : 0;
        for (size_t i = 0; i < c->n; i++) {
            double got = b->x[i * c->p + j], want = c->x[i * c->p + j];
            if (!(fabs(got - want) <= abs_tol || fabs(got - want) <= REL * fabs(want)))
                print_error("%s [%s]: row %zu column %s\n", c->formula, how, i, c->names[j]);
            assert_double_close(got, want, REL, abs_tol);
        }
    }
    if (c->has_y)
        for (size_t i = 0; i < c->n; i++) assert_double_close(b->y[i], c->y[i], REL, 0);
}

/* Fits and builds case c over the CSV read whole (chunk_rows 0: default) or in
 * chunks, optionally cut into segments fitted apart and merged in order. */
static void run_case(const formula_case *c, size_t chunk_rows, uint64_t segment_bytes)
{
    char how[64];
    snprintf(how, sizeof how, "chunk %zu, segments of %llu bytes", chunk_rows, (unsigned long long)segment_bytes);
    sf_error err;
    sf_design *d = new_design(c);
    sf_source *s = open_csv(chunk_rows, segment_bytes);
    sf_status st = sf_design_bind(d, s, &err);
    if (st != SF_OK) print_error("%s: bind: %s\n", c->formula, err.message);
    assert_int_equal(st, SF_OK);
    built b = {0, 0, NULL, NULL, 0};
    if (segment_bytes) {
        size_t n_seg;
        assert_int_equal(sf_source_n_segments(s, &n_seg, &err), SF_OK);
        assert_true(n_seg >= 3);
        if (sf_design_needs_fit(d))
            for (size_t g = 0; g < n_seg; g++) {
                sf_design *part;
                sf_source *seg;
                assert_int_equal(sf_design_clone_empty(d, &part, &err), SF_OK);
                assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
                fit_source(part, seg);
                assert_int_equal(sf_design_merge(d, part, &err), SF_OK);
                sf_source_close(seg);
                sf_design_free(part);
            }
        st = sf_design_finish(d, &err);
        if (st != SF_OK) print_error("%s: finish: %s\n", c->formula, err.message);
        assert_int_equal(st, SF_OK);
        for (size_t g = 0; g < n_seg; g++) {
            sf_source *seg;
            assert_int_equal(sf_source_open_segment(s, g, &seg, &err), SF_OK);
            build_source(d, seg, &b);
            sf_source_close(seg);
        }
    } else {
        if (sf_design_needs_fit(d)) {
            fit_source(d, s);
            assert_int_equal(sf_source_rewind(s, &err), SF_OK);
        }
        st = sf_design_finish(d, &err);
        if (st != SF_OK) print_error("%s: finish: %s\n", c->formula, err.message);
        assert_int_equal(st, SF_OK);
        build_source(d, s, &b);
    }
    compare(c, d, &b, how);
    free(b.x);
    free(b.y);
    sf_source_close(s);
    sf_design_free(d);
}

static void t_parity_whole(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FORMULA_CASES; k++) run_case(&formula_cases[k], 0, 0);
}

static void t_parity_chunks(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FORMULA_CASES; k++) {
        run_case(&formula_cases[k], 7, 0);
        run_case(&formula_cases[k], 13, 0);
    }
}

static void t_parity_segments(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FORMULA_CASES; k++) {
        run_case(&formula_cases[k], 5, 1500);
        run_case(&formula_cases[k], 50, 2500);
    }
}

/* A finished design is only read by sf_design_build: threads share one. */
typedef struct job {
    const formula_case *c;
    const sf_design *d;
    built b;
} job;

static void *build_job(void *arg)
{
    job *j = arg;
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = 3;
    sf_source *s = NULL;
    sf_error err;
    if (sf_source_open(&s, CSV, &o, &err) != SF_OK) return NULL;
    const sf_table *t;
    size_t p = sf_design_n_columns(j->d);
    while (sf_source_next(s, &t, &err) == SF_OK) {
        j->b.x = realloc(j->b.x, (j->b.n + t->n_rows) * p * sizeof *j->b.x);
        j->b.y = realloc(j->b.y, (j->b.n + t->n_rows) * sizeof *j->b.y);
        size_t got = 0;
        if (sf_design_build(j->d, t, j->b.x + j->b.n * p, p, j->b.y + j->b.n, &got, &j->b.dropped, &err) != SF_OK) break;
        j->b.n += got;
    }
    sf_source_close(s);
    return NULL;
}

static void t_build_threads(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FORMULA_CASES; k += 3) {
        const formula_case *c = &formula_cases[k];
        sf_design *d = new_design(c);
        sf_source *s = open_csv(0, 0);
        sf_error err;
        assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
        fit_source(d, s);
        assert_int_equal(sf_design_finish(d, &err), SF_OK);
        job jobs[3];
        pthread_t th[3];
        for (int q = 0; q < 3; q++) {
            jobs[q] = (job){c, d, {0, 0, NULL, NULL, 0}};
            assert_int_equal(pthread_create(&th[q], NULL, build_job, &jobs[q]), 0);
        }
        for (int q = 0; q < 3; q++) {
            pthread_join(th[q], NULL);
            compare(c, d, &jobs[q].b, "threads");
            free(jobs[q].b.x);
            free(jobs[q].b.y);
        }
        sf_design_free(d);
        sf_source_close(s);
    }
}

/* 60 random formulas (seeded) over the same data: names and row counts equal,
 * column sums to 1e-12 relative (the sum's own rounding: the values are
 * checked exactly on the 42 formulas above). */
static void t_random_formulas(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_RANDOM_CASES; k++) {
        const random_case *c = &random_cases[k];
        formula_case fc = {c->formula, NULL, 0, c->n, c->p, c->names, NULL, NULL};
        sf_design *d = new_design(&fc);
        sf_source *s = open_csv(23, 0);
        sf_error err;
        assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
        fit_source(d, s);
        assert_int_equal(sf_source_rewind(s, &err), SF_OK);
        sf_status st = sf_design_finish(d, &err);
        if (st != SF_OK) print_error("%s: %s\n", c->formula, err.message);
        assert_int_equal(st, SF_OK);
        if (sf_design_n_columns(d) != c->p) print_error("%s: %zu columns, patsy %zu\n", c->formula, sf_design_n_columns(d), c->p);
        assert_int_equal(sf_design_n_columns(d), c->p);
        for (size_t j = 0; j < c->p; j++) {
            if (strcmp(sf_design_column_name(d, j), c->names[j]) != 0)
                print_error("%s: column %zu is %s, patsy %s\n", c->formula, j, sf_design_column_name(d, j), c->names[j]);
            assert_string_equal(sf_design_column_name(d, j), c->names[j]);
        }
        built b = {0, 0, NULL, NULL, 0};
        build_source(d, s, &b);
        assert_int_equal(b.n, c->n);
        for (size_t j = 0; j < c->p; j++) {
            double sum = 0;
            for (size_t i = 0; i < b.n; i++) sum += b.x[i * c->p + j];
            assert_double_close(sum, c->sums[j], 1e-12, 1e-12);
        }
        free(b.x);
        free(b.y);
        sf_design_free(d);
        sf_source_close(s);
    }
}

/* seed 000: levels are in the formula, nothing to fit */
static void t_seed000_needs_no_fit(void **state)
{
    (void)state;
    const formula_case *c = NULL;
    for (size_t k = 0; k < N_FORMULA_CASES; k++)
        if (formula_cases[k].define) c = &formula_cases[k];
    assert_non_null(c);
    sf_design *d = new_design(c);
    sf_source *s = open_csv(0, 0);
    sf_error err;
    assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
    assert_false(sf_design_needs_fit(d));
    assert_false(sf_design_has_intercept(d));
    assert_false(sf_design_has_response(d));
    assert_null(sf_design_response_name(d));
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    assert_int_equal(sf_design_n_columns(d), 12);
    assert_string_equal(sf_design_column_name(d, 0), "C(cat1, Treatment, levels=lnames)[0]");
    assert_null(sf_design_column_name(d, 12));
    sf_source_close(s);
    sf_design_free(d);
}

/* ---- parser errors ---- */

typedef struct bad_formula {
    const char *formula;
    unsigned column;
    const char *message; /* a substring */
} bad_formula;

static void t_syntax_errors(void **state)
{
    (void)state;
    static const bad_formula bad[] = {
        {"y ~ a +", 8, "expected a term after '+'"},
        {"y ~ (a + b", 5, "unclosed '('"},
        {"y ~ a + b)", 10, "unmatched ')'"},
        {"y ~ a + * b", 9, "expected a term"},
        {"y ~ foo(a)", 5, "unknown function 'foo'"},
        {"y ~ a + np.frobnicate(b)", 9, "unknown function 'np.frobnicate'"},
        {"y ~ np.sinh(b)", 5, "unknown function 'np.sinh'"},
        {"y ~ I(log(a) == 'x')", 7, "a string can only be compared with a text column"},
        {"y ~ log(a", 8, "unclosed '('"},
        {"y ~ 2 + a", 5, "numbers besides '0' and '1'"},
        {"y ~ (a + b)**0", 14, "'**' requires a positive integer"},
        {"y ~ (a + b)**c", 14, "'**' requires a positive integer"},
        {"y ~ -a", 5, "unary minus can only be applied to 1 or 0"},
        {"y ~ a ~ b", 7, "'~' can only be used once"},
        {"y ~ 1:a", 5, "intercept cannot interact"},
        {"y ~ a # comment", 7, "comments are not allowed"},
        {"y ~ a $ b", 7, "unexpected character '$'"},
        {"y ~ C(a, Poly(bogus=1))", 15, "unknown argument 'bogus' for Poly (expected scores)"},
        {"y ~ C(a, Bogus)", 10, "unknown contrast 'Bogus'"},
        {"y ~ C(a, levels=[1, 2], contrast=Sum, x=1)", 39, "unknown or repeated argument 'x'"},
        {"y ~ I(a // 2)", 9, "operator '//' is not supported"},
        {"y ~ I(a < b < c)", 13, "chained comparisons"},
        {"y ~ I(\"a)", 7, "unclosed string"},
        {"y ~ log(C(a))", 9, "C() can only be used as a whole factor"},
        {"y ~ center(center(a))", 12, "nested stateful transforms"},
        {"y ~ standardize(a, bogus=True)", 20, "unknown argument 'bogus'"},
        {"y ~ (a + b) c", 13, "expected an operator"},
        {"", 0, NULL}, /* empty formula is "~ 1": valid */
        {"y ~ ", 5, "expected a term after '~'"},
        {"y ~ a]", 6, "unmatched ']'"},
        {"y ~ Q(a)", 5, "Q() takes one string"},
        {"y ~ C(center(a))", 7, "stateful transforms inside C()"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sf_design *d = (sf_design *)&k;
        sf_error err;
        sf_status st = sf_design_new(&d, bad[k].formula, NULL, &err);
        if (!bad[k].message) {
            assert_int_equal(st, SF_OK);
            sf_design_free(d);
            continue;
        }
        if (st != SF_ERR_ARG || err.where.column != bad[k].column || !strstr(err.message, bad[k].message))
            print_error("%s: status %d column %llu: %s\n", bad[k].formula, st, (unsigned long long)err.where.column,
                        err.message);
        assert_int_equal(st, SF_ERR_ARG);
        assert_null(d);
        assert_string_equal(err.where.source, "<formula>");
        assert_int_equal(err.where.column, bad[k].column);
        assert_non_null(strstr(err.message, bad[k].message));
        char buf[700];
        sf_error_format(&err, buf, sizeof buf);
        assert_non_null(strstr(buf, "<formula>:1:"));
    }
}

/* ---- term expansion and naming without data ---- */

typedef struct terms_case {
    const char *formula;
    const char *names; /* expected columns, space-separated, numeric columns only */
} terms_case;

static sf_table *numeric_table(const char *const *names, size_t n_cols, size_t n_rows)
{
    sf_coltype types[4000];
    for (size_t j = 0; j < n_cols; j++) types[j] = SF_COL_FLOAT;
    sf_table *t;
    sf_error err;
    assert_int_equal(sf_table_new(&t, n_cols, types, names, NULL, n_rows, &err), SF_OK);
    t->n_rows = n_rows;
    t->first_row = 1;
    for (size_t j = 0; j < n_cols; j++)
        for (size_t i = 0; i < n_rows; i++) {
            t->cols[j].values[i] = (double)(i + 1) * (double)(j + 2);
            t->cols[j].missing[i] = 0;
        }
    return t;
}

static void t_term_expansion(void **state)
{
    (void)state;
    /* expected names printed by patsy 0.5.3's dmatrix on a 3-column numeric frame */
    static const terms_case cases[] = {
        {"a + b + c", "Intercept a b c"},
        {"a * b", "Intercept a b a:b"},
        {"a * b * c", "Intercept a b a:b c a:c b:c a:b:c"},
        {"(a + b + c)**2", "Intercept a b c a:b a:c b:c"},
        {"(a + b + c)**3", "Intercept a b c a:b a:c b:c a:b:c"},
        {"(a + b)**5", "Intercept a b a:b"},
        {"a / b", "Intercept a a:b"},
        {"(a + b) / c", "Intercept a b a:b:c"},
        {"a / (b + c)", "Intercept a a:b a:c"},
        {"a * b - a:b", "Intercept a b"},
        {"a + b - a", "Intercept b"},
        {"a + 0", "a"},
        {"0 + a", "a"},
        {"-1 + a", "a"},
        {"a - 1", "a"},
        {"a + -1", "Intercept a"},
        {"a - 1 + 1", "Intercept a"},
        {"a + b - 0", "Intercept a b"},
        {"0 + a + 1", "Intercept a"},
        {"a + a + a", "Intercept a"},
        {"a:b + b:a", "Intercept a:b"},
        {"b:a + a:b", "Intercept b:a"},
        {"a + a:a", "Intercept a"},
        {"c + a:b + b", "Intercept c a:b b"},
        {"a:b + c + b:c:a", "Intercept a:b c b:c:a"},
        {"~ a", "Intercept a"},
        {"1 + a", "Intercept a"},
        {"a + (b - b)", "Intercept a"},
        {"I(a + b) + I(a+b)", "Intercept I(a + b)"},
        {"np.log( a ) + np . log(a)", "Intercept np.log(a)"},
        {"I(-a) + I(a ** -1) + I(2*a)", "Intercept I(-a) I(a ** -1) I(2 * a)"},
        {"", "Intercept"},
        {"0", ""},
        {"a + zz - zz", "Intercept a"}, /* patsy never reads a factor no term keeps */
    };
    const char *const names[] = {"a", "b", "c"};
    sf_table *t = numeric_table(names, 3, 4);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sf_design *d;
        sf_error err;
        sf_status st = sf_design_new(&d, cases[k].formula, NULL, &err);
        if (st != SF_OK) print_error("%s: %s\n", cases[k].formula, err.message);
        assert_int_equal(st, SF_OK);
        assert_int_equal(sf_design_bind_table(d, t, &err), SF_OK);
        assert_false(sf_design_needs_fit(d));
        assert_int_equal(sf_design_finish(d, &err), SF_OK);
        char got[512] = "";
        for (size_t j = 0; j < sf_design_n_columns(d); j++) {
            if (j) strcat(got, " ");
            strcat(got, sf_design_column_name(d, j));
        }
        if (strcmp(got, cases[k].names) != 0) print_error("%s: got \"%s\"\n", cases[k].formula, got);
        assert_string_equal(got, cases[k].names);
        sf_design_free(d);
    }
    sf_table_free(t);
}

/* Wide formulas: thousands of terms in a + chain, a large interaction. */
static void t_wide_formula(void **state)
{
    (void)state;
    enum { W = 3000 };
    static char names_buf[W][8];
    const char *names[W];
    size_t len = 0, cap = W * 8 + 16;
    char *f = malloc(cap);
    len += (size_t)snprintf(f, cap, "x0 ~ ");
    for (size_t j = 0; j < W; j++) {
        snprintf(names_buf[j], sizeof names_buf[j], "x%zu", j);
        names[j] = names_buf[j];
        if (j) len += (size_t)snprintf(f + len, cap - len, "%sx%zu", j > 1 ? " + " : "", j);
    }
    sf_table *t = numeric_table(names, W, 3);
    sf_design *d;
    sf_error err;
    assert_int_equal(sf_design_new(&d, f, NULL, &err), SF_OK);
    assert_int_equal(sf_design_bind_table(d, t, &err), SF_OK);
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    assert_int_equal(sf_design_n_columns(d), W);
    assert_string_equal(sf_design_column_name(d, W - 1), "x2999");
    double *x = malloc(3 * W * sizeof *x), y[3];
    size_t n;
    assert_int_equal(sf_design_build(d, t, x, W, y, &n, NULL, &err), SF_OK);
    assert_int_equal(n, 3);
    assert_double_bits(x[2 * W + 7], t->cols[7].values[2]);
    assert_double_bits(y[1], t->cols[0].values[1]);
    sf_design_free(d);
    /* (x1 + ... + x60)**2: 60 + 1770 terms and the intercept */
    len = (size_t)snprintf(f, cap, "(");
    for (size_t j = 1; j <= 60; j++) len += (size_t)snprintf(f + len, cap - len, "%sx%zu", j > 1 ? " + " : "", j);
    snprintf(f + len, cap - len, ")**2");
    assert_int_equal(sf_design_new(&d, f, NULL, &err), SF_OK);
    assert_int_equal(sf_design_bind_table(d, t, &err), SF_OK);
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    assert_int_equal(sf_design_n_columns(d), 1 + 60 + 1770);
    assert_string_equal(sf_design_column_name(d, 61), "x1:x2");
    sf_design_free(d);
    free(x);
    free(f);
    sf_table_free(t);
}

/* ---- bind errors ---- */

static void t_bind_errors(void **state)
{
    (void)state;
    static const bad_formula bad[] = {
        {"y ~ a + nosuch", 9, "unknown column 'nosuch'"},
        {"y ~ a + cat", 9, "unknown column 'cat' (did you mean 'cat1'?)"},
        {"y ~ I(a == 'x')", 7, "column 'a' is numeric"},
        {"y ~ A + b", 5, "unknown column 'A' (did you mean 'a'?)"},
        {"y ~ I(a + g)", 11, "column 'g' holds text"},
        {"g ~ a", 1, "the response must be one numeric column"},
        {"y + a ~ b", 1, "the response must be one numeric column"},
        {"y ~ C(cat1, levels=lnames)", 20, "unknown name 'lnames'"},
        {"y ~ C(cat1, levels=[1, 'a'])", 20, "all numbers or all strings"},
        {"y ~ C(cat1, levels=[1, 2, 1])", 20, "listed twice"},
        {"y ~ I(2 * 3)", 5, "uses no column"},
        {"y ~ a + standardize(2, ddof=1)", 9, "uses no column"},
    };
    sf_source *s = open_csv(0, 0);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sf_design *d;
        sf_error err;
        sf_status st = sf_design_new(&d, bad[k].formula, NULL, &err);
        if (st != SF_OK) print_error("%s: %s\n", bad[k].formula, err.message);
        assert_int_equal(st, SF_OK);
        st = sf_design_bind(d, s, &err);
        if (st != SF_ERR_ARG || err.where.column != bad[k].column || !strstr(err.message, bad[k].message))
            print_error("%s: status %d column %llu: %s\n", bad[k].formula, st, (unsigned long long)err.where.column,
                        err.message);
        assert_int_equal(st, SF_ERR_ARG);
        assert_int_equal(err.where.column, bad[k].column);
        assert_non_null(strstr(err.message, bad[k].message));
        /* unchanged: a failed bind can be retried */
        assert_int_equal(sf_design_bind(d, s, &err), SF_ERR_ARG);
        sf_design_free(d);
    }
    sf_source_close(s);
}

/* ---- fit, finish and build errors ---- */

static sf_design *save_load(const sf_design *d, const char *group);

static sf_design *fitted(const char *formula, const sf_design_params *p, sf_source *s, sf_status want_finish,
                         sf_error *err)
{
    sf_design *d;
    assert_int_equal(sf_design_new(&d, formula, p, err), SF_OK);
    assert_int_equal(sf_design_bind(d, s, err), SF_OK);
    fit_source(d, s);
    assert_int_equal(sf_source_rewind(s, err), SF_OK);
    assert_int_equal(sf_design_finish(d, err), want_finish);
    return d;
}

static void t_levels_missing_value(void **state)
{
    (void)state;
    sf_source *s = open_csv(0, 0);
    sf_error err;
    sf_design *d = fitted("y ~ a + C(cat1, levels=[0, 1, 2])", NULL, s, SF_ERR_ARG, &err);
    assert_non_null(strstr(err.message, "the levels of 'C(cat1, levels=[0, 1, 2])' miss the value '"));
    assert_true(strstr(err.message, "value '3'") || strstr(err.message, "value '4'"));
    assert_string_equal(err.where.source, "<formula>");
    assert_int_equal(err.where.column, 24); /* the caret under [0, 1, 2] */
    unsigned long long row = 0, line = 0;
    const char *at = strstr(err.message, "(data row ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "(data row %llu, line %llu)", &row, &line), 2);
    assert_true(row > 0 && line == row + 1); /* one header line */
    assert_false(sf_design_is_finished(d));
    assert_int_equal(sf_design_n_columns(d), 0);
    sf_design_free(d);
    d = fitted("y ~ C(g, levels=['lo', 'hi'])", NULL, s, SF_ERR_ARG, &err);
    assert_non_null(strstr(err.message, "the value 'mid'"));
    char msg[sizeof err.message];
    memcpy(msg, err.message, sizeof msg);
    /* the finding survives a save and a load of the partial state */
    sf_design *back = save_load(d, "/partial");
    assert_int_equal(sf_design_finish(back, &err), SF_ERR_ARG);
    assert_string_equal(err.message, msg);
    sf_design_free(back);
    sf_design_free(d);
    d = fitted("y ~ C(g, Treatment('nope'))", NULL, s, SF_ERR_ARG, &err);
    assert_non_null(strstr(err.message, "specified level 'nope' not found"));
    assert_int_equal(err.where.column, 20);
    sf_design_free(d);
    d = fitted("y ~ C(g, Treatment(7))", NULL, s, SF_ERR_ARG, &err);
    assert_non_null(strstr(err.message, "out of range"));
    sf_design_free(d);
    sf_source_close(s);
}

/* A table with one text column g and a numeric column a, for build errors. */
typedef struct small {
    sf_table *t;
    sf_dict *dict;
} small;

static small make_small(const char *const *labels, const double *a, size_t n)
{
    static const char *const names[] = {"g", "a"};
    small s;
    sf_error err;
    assert_int_equal(sf_dict_new(&s.dict, 0, &err), SF_OK);
    sf_coltype types[2] = {SF_COL_CATEGORY, SF_COL_FLOAT};
    sf_dict *dicts[2] = {s.dict, NULL};
    assert_int_equal(sf_table_new(&s.t, 2, types, names, dicts, n, &err), SF_OK);
    s.t->n_rows = n;
    s.t->first_row = 101;
    for (size_t i = 0; i < n; i++) {
        if (labels[i]) {
            assert_int_equal(sf_dict_intern(s.dict, labels[i], strlen(labels[i]), &s.t->cols[0].codes[i], &err), SF_OK);
            s.t->cols[0].missing[i] = 0;
        } else {
            s.t->cols[0].codes[i] = -1;
            s.t->cols[0].missing[i] = 1;
        }
        s.t->cols[1].values[i] = a[i];
        s.t->cols[1].missing[i] = isnan(a[i]);
    }
    return s;
}

static void free_small(small *s)
{
    sf_table_free(s->t);
    sf_dict_free(s->dict);
}

static void t_build_errors(void **state)
{
    (void)state;
    const char *fit_labels[] = {"p", "q", "p", NULL};
    const double fit_a[] = {1, 2, NAN, 4};
    small fit = make_small(fit_labels, fit_a, 4);
    const char *new_labels[] = {"q", "r", "p", NULL};
    const double new_a[] = {5, 6, 7, 8};
    small other = make_small(new_labels, new_a, 4);
    for (int mode = 0; mode < 3; mode++) {
        sf_design_params p;
        sf_design_params_default(&p);
        if (mode == 1) p.unknown_level = SF_UNKNOWN_ZERO;
        if (mode == 2) p.na_action = SF_NA_ERROR;
        sf_design *d;
        sf_error err;
        assert_int_equal(sf_design_new(&d, "a ~ g + a:g", &p, &err), SF_OK);
        double x[4 * 8], y[4];
        size_t n_out = 99;
        uint64_t dropped = 0;
        assert_int_equal(sf_design_build(d, fit.t, x, 8, y, &n_out, &dropped, &err), SF_ERR_STATE);
        assert_int_equal(n_out, 0);
        assert_int_equal(sf_design_bind_table(d, fit.t, &err), SF_OK);
        assert_true(sf_design_needs_fit(d));
        assert_int_equal(sf_design_partial_fit(d, fit.t, &err), SF_OK);
        assert_int_equal(sf_design_finish(d, &err), SF_OK);
        assert_int_equal(sf_design_partial_fit(d, fit.t, &err), SF_ERR_STATE);
        /* Intercept, g[T.q], a:g[p], a:g[q] */
        assert_int_equal(sf_design_n_columns(d), 4);
        assert_string_equal(sf_design_column_name(d, 3), "a:g[q]");
        assert_string_equal(sf_design_response_name(d), "a");
        assert_int_equal(sf_design_build(d, fit.t, x, 3, y, &n_out, &dropped, &err), SF_ERR_SHAPE);
        sf_status st = sf_design_build(d, fit.t, x, 8, y, &n_out, &dropped, &err);
        if (mode == 2) {
            assert_int_equal(st, SF_ERR_ARG);
            assert_int_equal(err.where.row, 103);
            assert_non_null(strstr(err.message, "missing value in 'a'"));
        } else {
            assert_int_equal(st, SF_OK);
            assert_int_equal(n_out, 2);
            assert_int_equal(dropped, 2);
            double want[2][4] = {{1, 0, 1, 0}, {1, 1, 0, 2}};
            for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 4; j++) assert_double_bits(x[i * 8 + j], want[i][j]);
            assert_double_bits(y[1], 2.0);
        }
        dropped = 0;
        st = sf_design_build(d, other.t, x, 8, y, &n_out, &dropped, &err);
        if (mode == 1) {
            assert_int_equal(st, SF_OK);
            assert_int_equal(n_out, 3);
            double want[3][4] = {{1, 1, 0, 5}, {1, 0, 0, 0}, {1, 0, 7, 0}};
            for (size_t i = 0; i < 3; i++)
                for (size_t j = 0; j < 4; j++) assert_double_bits(x[i * 8 + j], want[i][j]);
        } else {
            assert_int_equal(st, SF_ERR_ARG);
            assert_int_equal(err.where.row, 102);
            assert_string_equal(err.field_name, "g");
            assert_non_null(strstr(err.message, "value 'r' of 'g' was not seen"));
        }
        sf_design_free(d);
    }
    free_small(&fit);
    free_small(&other);
}

/* Text columns of pandas' boolean words: patsy sees booleans, levels False and
 * True whichever were seen (values printed by patsy 0.5.3 for this file). */
static void t_boolean_text(void **state)
{
    (void)state;
    const char text[] = "y,flag,h\n1,TRUE,true\n2,TRUE,\n3,,false\n4,TRUE,false\n5,TRUE,True\n";
    char *path = sf_test_write_tmp(text, sizeof text - 1, ".csv");
    sf_source *s;
    sf_error err;
    assert_int_equal(sf_source_open(&s, path, NULL, &err), SF_OK);
    sf_design *d;
    assert_int_equal(sf_design_new(&d, "y ~ flag + h", NULL, &err), SF_OK);
    assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
    fit_source(d, s);
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(sf_design_n_columns(d), 3);
    assert_string_equal(sf_design_column_name(d, 1), "flag[T.True]");
    assert_string_equal(sf_design_column_name(d, 2), "h[T.True]");
    built b = {0, 0, NULL, NULL, 0};
    build_source(d, s, &b);
    const double want[3][3] = {{1, 1, 1}, {1, 1, 0}, {1, 1, 1}}, want_y[3] = {1, 4, 5};
    assert_int_equal(b.n, 3);
    assert_int_equal(b.dropped, 2);
    for (size_t i = 0; i < 3; i++) {
        assert_double_bits(b.y[i], want_y[i]);
        for (size_t j = 0; j < 3; j++) assert_double_bits(b.x[i * 3 + j], want[i][j]);
    }
    free(b.x);
    free(b.y);
    sf_design_free(d);
    sf_source_close(s);
    unlink(path);
    free(path);
}

/* Prediction data has no response column: without y the response is left out,
 * rows_out tells which rows were built. */
static void t_predict_without_response(void **state)
{
    (void)state;
    sf_source *s = open_csv(0, 0);
    sf_error err;
    sf_design *d = fitted("np.log(y + 10) ~ g + a", NULL, s, SF_OK, &err);
    const char *labels[] = {"mid", NULL, "hi", "lo"};
    const double a[] = {0.5, 1, NAN, -2};
    small p = make_small(labels, a, 4);
    double x[4 * 4], y[4];
    size_t rows[4], n = 0;
    uint64_t dropped = 0;
    /* the inputs: y is read by the response alone, so a build without y skips it */
    static const struct { const char *name; sf_design_input_type type; bool response_only; } in[] = {
        {"y", SF_DESIGN_INPUT_FLOAT, true}, {"g", SF_DESIGN_INPUT_CATEGORY, false}, {"a", SF_DESIGN_INPUT_FLOAT, false}};
    assert_int_equal(sf_design_n_inputs(d), 3);
    for (size_t j = 0; j < 3; j++) {
        sf_design_input_type type = (sf_design_input_type)-1;
        bool only = !in[j].response_only;
        assert_string_equal(sf_design_input(d, j, &type, &only), in[j].name);
        assert_int_equal(type, in[j].type);
        assert_int_equal(only, in[j].response_only);
    }
    assert_null(sf_design_input(d, 3, NULL, NULL));
    assert_int_equal(sf_design_build_rows(d, p.t, x, 4, y, rows, &n, &dropped, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "no column 'y'"));
    assert_int_equal(sf_design_build_rows(d, p.t, x, 4, NULL, rows, &n, &dropped, &err), SF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(dropped, 2);
    assert_int_equal(rows[0], 0);
    assert_int_equal(rows[1], 3);
    const double want[2][4] = {{1, 0, 1, 0.5}, {1, 1, 0, -2}};
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 4; j++) assert_double_bits(x[i * 4 + j], want[i][j]);
    free_small(&p);
    sf_design_free(d);
    /* a response column a right-hand-side term reads too is needed without y;
     * an unbound design has no inputs yet */
    assert_int_equal(sf_design_new(&d, "y ~ a + I(y * 2)", NULL, &err), SF_OK);
    assert_int_equal(sf_design_n_inputs(d), 0);
    assert_null(sf_design_input(d, 0, NULL, NULL));
    assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
    assert_int_equal(sf_design_n_inputs(d), 2);
    for (size_t j = 0; j < 2; j++) {
        bool only = true;
        assert_non_null(sf_design_input(d, j, NULL, &only));
        assert_false(only);
    }
    sf_design_free(d);
    sf_source_close(s);
}

/* Defined names: a number in arithmetic, a string as a reference, a list as
 * levels; patsy names the columns by the names, not the values. */
static void t_defines(void **state)
{
    (void)state;
    sf_source *s = open_csv(0, 0);
    sf_error err;
    sf_design *d;
    assert_int_equal(sf_design_new(&d, "y ~ I(a * k2) + C(g, Treatment(ref)) + C(z, levels=zs)", NULL, &err), SF_OK);
    assert_int_equal(sf_design_define(d, "k2", "2", &err), SF_OK);
    assert_int_equal(sf_design_define(d, "ref", "'mid'", &err), SF_OK);
    assert_int_equal(sf_design_define(d, "zs", "[3, 2, 1]", &err), SF_OK);
    assert_int_equal(sf_design_define(d, "zs", "(3, 1, 2)", &err), SF_OK); /* the last one counts */
    assert_int_equal(sf_design_define(d, "a", "100", &err), SF_OK); /* a column wins over a define */
    assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
    assert_int_equal(sf_design_define(d, "late", "1", &err), SF_ERR_STATE);
    fit_source(d, s);
    assert_int_equal(sf_source_rewind(s, &err), SF_OK);
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    static const char *const names[] = {"Intercept", "C(g, Treatment(ref))[T.hi]", "C(g, Treatment(ref))[T.lo]",
                                        "C(z, levels=zs)[T.1]", "C(z, levels=zs)[T.2]", "I(a * k2)"};
    assert_int_equal(sf_design_n_columns(d), 6);
    for (size_t j = 0; j < 6; j++) assert_string_equal(sf_design_column_name(d, j), names[j]);
    const sf_table *t;
    assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
    double x[60 * 6], y[60];
    size_t rows[60], n;
    assert_int_equal(sf_design_build_rows(d, t, x, 6, y, rows, &n, NULL, &err), SF_OK);
    size_t ia = (size_t)sf_source_column_index(s, "a");
    for (size_t i = 0; i < n; i++) assert_double_bits(x[i * 6 + 5], 2 * t->cols[ia].values[rows[i]]);
    sf_design_free(d);
    sf_source_close(s);
}

static void t_bad_arguments(void **state)
{
    (void)state;
    sf_error err;
    sf_design *d = NULL;
    sf_design_free(NULL);
    assert_int_equal(sf_design_new(NULL, "y ~ x", NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_design_new(&d, NULL, NULL, &err), SF_ERR_ARG);
    sf_design_params p;
    sf_design_params_default(&p);
    p.na_action = (sf_na_action)7;
    assert_int_equal(sf_design_new(&d, "y ~ x", &p, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "na_action"));
    assert_int_equal(sf_design_new(&d, "y ~ a", NULL, &err), SF_OK);
    assert_int_equal(sf_design_finish(d, &err), SF_ERR_STATE);
    assert_int_equal(sf_design_define(d, "1x", "3", &err), SF_ERR_ARG);
    assert_int_equal(sf_design_define(d, "k", "[1, 2", &err), SF_ERR_ARG);
    assert_string_equal(err.where.source, "<define k>");
    assert_int_equal(sf_design_partial_fit(d, NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_design_bind(d, NULL, &err), SF_ERR_ARG);
    assert_true(sf_design_has_response(d));
    assert_string_equal(sf_design_response_name(d), "y");
    assert_true(sf_design_has_intercept(d));
    assert_string_equal(sf_design_formula(d), "y ~ a");
    sf_design_free(d);
}

/* ---- model file and JSON ---- */

static hid_t tmp_h5(char **path)
{
    *path = sf_test_write_tmp("", 0, ".h5");
    hid_t f = H5Fcreate(*path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static sf_design *save_load(const sf_design *d, const char *group)
{
    char *path;
    hid_t f = tmp_h5(&path);
    sf_error err;
    sfi_h5ctx c = {path, &err};
    hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    sf_status st = sfi_design_save(d, g, &c);
    if (st != SF_OK) print_error("save: %s\n", err.message);
    assert_int_equal(st, SF_OK);
    sf_design *back = NULL;
    st = sfi_design_load(&back, g, &c);
    if (st != SF_OK) print_error("load: %s\n", err.message);
    assert_int_equal(st, SF_OK);
    H5Gclose(g);
    H5Fclose(f);
    unlink(path);
    free(path);
    return back;
}

static void build_all(const sf_design *d, built *b)
{
    sf_source *s = open_csv(11, 0);
    build_source(d, s, b);
    sf_source_close(s);
}

static void t_save_load(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FORMULA_CASES; k++) {
        const formula_case *c = &formula_cases[k];
        sf_design *d = new_design(c);
        sf_source *s = open_csv(17, 0);
        sf_error err;
        assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
        /* half the data, a save and a load, then the rest: as one fit */
        sf_design *half = NULL;
        if (sf_design_needs_fit(d)) {
            const sf_table *t;
            assert_int_equal(sf_source_next(s, &t, &err), SF_OK);
            assert_int_equal(sf_design_partial_fit(d, t, &err), SF_OK);
            half = save_load(d, "/half");
            assert_false(sf_design_is_finished(half));
            while (sf_source_next(s, &t, &err) == SF_OK) {
                assert_int_equal(sf_design_partial_fit(d, t, &err), SF_OK);
                assert_int_equal(sf_design_partial_fit(half, t, &err), SF_OK);
            }
            assert_int_equal(sf_design_finish(half, &err), SF_OK);
        }
        assert_int_equal(sf_design_finish(d, &err), SF_OK);
        sf_design *back = save_load(d, "/design");
        assert_true(sf_design_is_finished(back));
        assert_int_equal(sf_design_n_columns(back), c->p);
        built b1 = {0, 0, NULL, NULL, 0}, b2 = {0, 0, NULL, NULL, 0}, b3 = {0, 0, NULL, NULL, 0};
        build_all(d, &b1);
        build_all(back, &b2);
        build_all(half ? half : back, &b3);
        assert_int_equal(b1.n, b2.n);
        assert_int_equal(b1.n, b3.n);
        for (size_t j = 0; j < c->p; j++) {
            assert_string_equal(sf_design_column_name(back, j), c->names[j]);
            for (size_t i = 0; i < b1.n; i++) {
                assert_double_bits(b2.x[i * c->p + j], b1.x[i * c->p + j]);
                assert_double_bits(b3.x[i * c->p + j], b1.x[i * c->p + j]);
            }
        }
        compare(c, back, &b2, "loaded");
        free(b1.x), free(b1.y), free(b2.x), free(b2.y), free(b3.x), free(b3.y);
        sf_design_free(back);
        sf_design_free(half);
        sf_design_free(d);
        sf_source_close(s);
    }
}

/* A saved group with one dataset replaced must be refused. */
static void t_load_corrupt(void **state)
{
    (void)state;
    sf_source *s = open_csv(0, 0);
    sf_error err;
    sf_design *d = fitted("y ~ g + center(b) + C(cat1)", NULL, s, SF_OK, &err);
    static const char *const tamper[] = {"levels_1", "column_names", "bound_columns", "transform_0", "levels_3"};
    for (size_t k = 0; k < sizeof tamper / sizeof tamper[0]; k++) {
        char *path;
        hid_t f = tmp_h5(&path);
        sfi_h5ctx c = {path, &err};
        hid_t g = H5Gcreate2(f, "/d", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_int_equal(sfi_design_save(d, g, &c), SF_OK);
        assert_true(H5Ldelete(g, tamper[k], H5P_DEFAULT) >= 0);
        const char *const two[] = {"lo", "lo"};
        const double nums[] = {0, 0, 1, 2};
        if (k == 0) assert_int_equal(sfi_h5_write_strings(&c, g, tamper[k], two, 2), SF_OK);
        if (k == 1) assert_int_equal(sfi_h5_write_strings(&c, g, tamper[k], two, 1), SF_OK);
        if (k == 2) assert_int_equal(sfi_h5_write_strings(&c, g, tamper[k], two, 2), SF_OK);
        if (k == 3) assert_int_equal(sfi_h5_write_vec(&c, g, tamper[k], nums, 4), SF_OK);
        if (k == 4) assert_int_equal(sfi_h5_write_vec(&c, g, tamper[k], nums, 2), SF_OK);
        sf_design *back = (sf_design *)&k;
        sf_status st = sfi_design_load(&back, g, &c);
        if (st != SF_ERR_PARSE) print_error("%s: %d %s\n", tamper[k], st, err.message);
        assert_int_equal(st, SF_ERR_PARSE);
        assert_null(back);
        assert_string_equal(err.where.source, path);
        H5Gclose(g);
        H5Fclose(f);
        unlink(path);
        free(path);
    }
    sf_design_free(d);
    sf_source_close(s);
}

static void t_json(void **state)
{
    (void)state;
    sf_source *s = open_csv(0, 0);
    sf_error err;
    sf_design *d;
    assert_int_equal(sf_design_new(&d, "y ~ C(z, Sum) + standardize(b, ddof=1):C(cat1, levels=ks)", NULL, &err), SF_OK);
    assert_int_equal(sf_design_define(d, "ks", "range(5)", &err), SF_OK);
    assert_int_equal(sf_design_bind(d, s, &err), SF_OK);
    fit_source(d, s);
    assert_int_equal(sf_design_finish(d, &err), SF_OK);
    sfi_buf b = {0};
    sfi_design_to_json(d, &b);
    assert_false(b.failed);
    const char *want_head =
        "\"params\": {\"formula\": \"y ~ C(z, Sum) + standardize(b, ddof=1):C(cat1, levels=ks)\", "
        "\"na_action\": \"drop\", \"unknown_level\": \"error\", \"max_levels\": 10000, \"defines\": {\"ks\": \"range(5)\"}}, "
        "\"columns\": [\"Intercept\", \"C(z, Sum)[S.1]\", \"C(z, Sum)[S.2]\", "
        "\"standardize(b, ddof=1):C(cat1, levels=ks)[0]\", \"standardize(b, ddof=1):C(cat1, levels=ks)[1]\", "
        "\"standardize(b, ddof=1):C(cat1, levels=ks)[2]\", \"standardize(b, ddof=1):C(cat1, levels=ks)[3]\", "
        "\"standardize(b, ddof=1):C(cat1, levels=ks)[4]\"], \"response\": \"y\", \"intercept\": true, "
        "\"factors\": [{\"name\": \"y\", \"type\": \"numerical\"}, {\"name\": \"C(z, Sum)\", \"type\": \"categorical\", "
        "\"contrast\": \"Sum\", \"levels\": [1, 2, 3]}, {\"name\": \"standardize(b, ddof=1)\", \"type\": \"numerical\"}, "
        "{\"name\": \"C(cat1, levels=ks)\", \"type\": \"categorical\", \"contrast\": \"Treatment\", \"levels\": [0, 1, 2, 3, 4]}], "
        "\"transforms\": [{\"expr\": \"standardize(b, ddof=1)\", \"kind\": \"standardize\", \"n\": 50, \"mean\": ";
    if (strncmp(b.data, want_head, strlen(want_head)) != 0) print_error("%s\n", b.data);
    assert_true(strncmp(b.data, want_head, strlen(want_head)) == 0);
    assert_non_null(strstr(b.data, "\"center\": true, \"rescale\": true, \"ddof\": 1, \"scale\": "));
    free(b.data);
    sf_design_free(d);
    sf_source_close(s);
}

static void t_py_float_repr(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {{1.0, "1.0"}, {0.1, "0.1"}, {-2.5, "-2.5"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
                 {0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {123456789.125, "123456789.125"},
                 {1e300, "1e+300"}, {0.0, "0.0"}, {2.0 / 3, "0.6666666666666666"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char buf[40];
        sfi_py_float_repr(cases[k].v, buf, sizeof buf);
        assert_string_equal(buf, cases[k].s);
    }
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_py_float_repr),
        cmocka_unit_test(t_syntax_errors),
        cmocka_unit_test(t_term_expansion),
        cmocka_unit_test(t_wide_formula),
        cmocka_unit_test(t_bind_errors),
        cmocka_unit_test(t_parity_whole),
        cmocka_unit_test(t_parity_chunks),
        cmocka_unit_test(t_parity_segments),
        cmocka_unit_test(t_random_formulas),
        cmocka_unit_test(t_build_threads),
        cmocka_unit_test(t_seed000_needs_no_fit),
        cmocka_unit_test(t_save_load),
        cmocka_unit_test(t_load_corrupt),
        cmocka_unit_test(t_json),
        cmocka_unit_test(t_levels_missing_value),
        cmocka_unit_test(t_build_errors),
        cmocka_unit_test(t_boolean_text),
        cmocka_unit_test(t_defines),
        cmocka_unit_test(t_predict_without_response),
        cmocka_unit_test(t_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
