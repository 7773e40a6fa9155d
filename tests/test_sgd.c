/* test_sgd.c — the SGD family against scikit-learn 1.2.1 (fixture made by
 * tests/reference/make_sgd_fixtures.py), on 40 rows of 4 and of 19 features:
 * - coef_, intercept_, t_ of every case (each loss x penalty x learning rate,
 *   averaged or not, 2 and 3 classes and regression, perceptron, PA-I / PA-II,
 *   class and sample weights, a weight-scale reset) equal sklearn's single
 *   partial_fit over all rows (shuffle=False) to 1e-9 relative (1e-12 absolute
 *   near 0), and the run counts how many are bitwise equal (all of them, so far);
 *   epoch cases equal sklearn's fit(shuffle=False) the same way, n_iter_ exactly;
 * - feeding the rows in chunks of 1, 2, 3 and 7 gives the bitwise same model as
 *   one call (chunk invariance), also for epochs;
 * - decision_function, predict_proba to 1e-12 relative (1e-14 absolute), predict
 *   exactly, score to 1e-12;
 * - get_state -> set_state in a new model -> the rest of the rows is bitwise the
 *   uninterrupted fit;
 * - bad parameters name their field; bad input (NaN, infinity, unknown labels,
 *   shapes, negative weights, overflow) is an error that leaves the model as it
 *   was (bitwise). */
#include "sf_test.h"

#include "../tests/reference/sgd_fixture.h"

#define REL 1e-9
#define ABS 1e-12

static size_t n_bitwise, n_compared;

typedef struct data {
    const double *x, *y, *sw;
    size_t p;
} data;

static data case_data(const sgd_case *c)
{
    data d = {.x = c->data == 4 ? sgd_x4 : sgd_x19, .p = (size_t)c->data};
    if (c->data == 4) d.y = c->target == 2 ? sgd_y4_2 : c->target == 3 ? sgd_y4_3 : sgd_y4_r;
    else d.y = c->target == 2 ? sgd_y19_2 : c->target == 3 ? sgd_y19_3 : sgd_y19_r;
    d.sw = c->weighted & 1 ? sgd_sw : NULL;
    return d;
}

static sf_sgd_params case_params(const sgd_case *c)
{
    sf_sgd_params p;
    sf_sgd_params_default(&p, (sf_sgd_kind)c->kind);
    p.loss = (sf_sgd_loss)c->loss;
    p.penalty = (sf_sgd_penalty)c->penalty;
    p.learning_rate = (sf_sgd_learning_rate)c->lr;
    p.average = (uint64_t)c->average;
    p.alpha = c->alpha;
    p.eta0 = c->eta0;
    p.power_t = c->power_t;
    p.l1_ratio = c->l1_ratio;
    p.epsilon = c->epsilon;
    p.C = c->C;
    p.max_iter = (uint32_t)c->max_iter;
    p.tol = c->tol;
    p.n_iter_no_change = (uint32_t)c->n_iter_no_change;
    p.fit_intercept = c->fit_intercept != 0;
    return p;
}

static sf_sgd *new_case_model(const sgd_case *c)
{
    sf_sgd_params p = case_params(c);
    sf_sgd *s = NULL;
    sf_error err;
    if (sf_sgd_new(&s, &p, &err) != SF_OK) print_error("%s\n", err.message);
    assert_non_null(s);
    static const double classes2[] = {5.0, 3.0}, classes3[] = {7.0, -2.0, 2.0};
    if (c->target == 2) assert_int_equal(sf_sgd_set_classes(s, classes2, 2, &err), SF_OK);
    if (c->target == 3) assert_int_equal(sf_sgd_set_classes(s, classes3, 3, &err), SF_OK);
    if (c->weighted & 2) {
        if (c->target == 2) assert_int_equal(sf_sgd_set_class_weight(s, sgd_cw2_labels, sgd_cw2_values, 1, &err), SF_OK);
        else assert_int_equal(sf_sgd_set_class_weight(s, sgd_cw3_labels, sgd_cw3_values, 2, &err), SF_OK);
    }
    return s;
}

/* Feeds rows [a, b) in chunks of `chunk` rows. */
static sf_status feed(sf_sgd *s, const data *d, size_t a, size_t b, size_t chunk, sf_error *err)
{
    for (size_t i = a; i < b; i += chunk) {
        size_t n = b - i < chunk ? b - i : chunk;
        sf_status st = sf_sgd_partial_fit(s, d->x + i * d->p, n, d->p, d->p, d->y + i,
                                          d->sw ? d->sw + i : NULL, err);
        if (st != SF_OK) return st;
    }
    return SF_OK;
}

/* One partial_fit pass, or epochs until sf_sgd_end_epoch says stop. */
static sf_status run_case(sf_sgd *s, const sgd_case *c, size_t chunk, sf_error *err)
{
    data d = case_data(c);
    for (;;) {
        sf_status st = feed(s, &d, 0, SGD_N, chunk, err);
        if (st != SF_OK || c->max_iter == 1) return st;
        bool again;
        st = sf_sgd_end_epoch(s, &again, err);
        if (st != SF_OK || !again) return st;
    }
}

static const char *describe(const sgd_case *c, char *buf, size_t n)
{
    snprintf(buf, n, "case %s loss=%s penalty=%s lr=%s average=%d target=%d p=%d weighted=%d max_iter=%d",
             sgd_kind_names[c->kind], sgd_loss_names[c->loss], sgd_penalty_names[c->penalty],
             sgd_lr_names[c->lr], c->average, c->target, c->data, c->weighted, c->max_iter);
    return buf;
}

static void compare_to_sklearn(const sf_sgd *s, const sgd_case *c, size_t idx)
{
    char what[256];
    size_t rows = sf_sgd_n_coef_rows(s), p = sf_sgd_n_features(s);
    assert_int_equal(rows, c->target == 3 ? 3 : 1);
    const double *coef = sf_sgd_coef(s), *b = sf_sgd_intercept(s), *want = sgd_values + c->off;
    bool bitwise = true;
    for (size_t i = 0; i < rows * (p + 1); i++) {
        double got = i < rows * p ? coef[i] : b[i - rows * p];
        double exp_ = want[i];
        double diff = fabs(got - exp_);
        if (!(diff <= ABS || diff <= REL * fabs(exp_)))
            print_error("%zu: %s, value %zu\n", idx, describe(c, what, sizeof what), i);
        assert_double_close(got, exp_, REL, ABS);
        bitwise = bitwise && memcmp(&got, &exp_, sizeof got) == 0;
    }
    if (!bitwise) print_message("not bitwise: %zu: %s\n", idx, describe(c, what, sizeof what));
    assert_double_bits(sf_sgd_t(s), c->t);
    if (c->max_iter > 1) assert_int_equal(sf_sgd_n_iter(s), c->n_iter);
    n_bitwise += bitwise;
    n_compared++;
}

static void assert_same_model(const sf_sgd *a, const sf_sgd *b)
{
    size_t rows = sf_sgd_n_coef_rows(a), p = sf_sgd_n_features(a);
    assert_int_equal(rows, sf_sgd_n_coef_rows(b));
    assert_int_equal(p, sf_sgd_n_features(b));
    for (size_t i = 0; i < rows * p; i++) assert_double_bits(sf_sgd_coef(a)[i], sf_sgd_coef(b)[i]);
    for (size_t i = 0; i < rows; i++) assert_double_bits(sf_sgd_intercept(a)[i], sf_sgd_intercept(b)[i]);
    assert_double_bits(sf_sgd_t(a), sf_sgd_t(b));
    assert_int_equal(sf_sgd_n_iter(a), sf_sgd_n_iter(b));
    sf_sgd_state sa, sb;
    assert_int_equal(sf_sgd_get_state(a, &sa, NULL), SF_OK);
    assert_int_equal(sf_sgd_get_state(b, &sb, NULL), SF_OK);
    size_t np = rows * p;
    assert_memory_equal(sa.w, sb.w, np * sizeof(double));
    if (sa.average_w) assert_memory_equal(sa.average_w, sb.average_w, np * sizeof(double));
    if (sa.q) assert_memory_equal(sa.q, sb.q, np * sizeof(double));
    assert_memory_equal(sa.vec, sb.vec, rows * SF_SGD_V_COUNT * sizeof(double));
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < (int)(sizeof sgd_loss_names / sizeof *sgd_loss_names); i++) {
        sf_sgd_loss l;
        assert_int_equal(sf_sgd_loss_from_name(sgd_loss_names[i], &l), SF_OK);
        assert_int_equal(l, i);
        assert_string_equal(sf_sgd_loss_name(l), sgd_loss_names[i]);
    }
    for (int i = 0; i < (int)(sizeof sgd_penalty_names / sizeof *sgd_penalty_names); i++) {
        sf_sgd_penalty v;
        assert_int_equal(sf_sgd_penalty_from_name(sgd_penalty_names[i], &v), SF_OK);
        assert_int_equal(v, i);
    }
    for (int i = 1; i < (int)(sizeof sgd_lr_names / sizeof *sgd_lr_names); i++) {
        sf_sgd_learning_rate v;
        assert_int_equal(sf_sgd_learning_rate_from_name(sgd_lr_names[i], &v), SF_OK);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < (int)(sizeof sgd_kind_names / sizeof *sgd_kind_names); i++)
        assert_string_equal(sf_sgd_kind_name((sf_sgd_kind)i), sgd_kind_names[i]);
    sf_sgd_loss l;
    assert_int_equal(sf_sgd_loss_from_name("log", &l), SF_OK);
    assert_int_equal(l, SF_SGD_LOSS_LOG_LOSS);
    assert_int_equal(sf_sgd_loss_from_name("logistic", &l), SF_ERR_ARG);
}

static void test_parity_and_chunks(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 2, 3, 7};
    n_bitwise = n_compared = 0;
    for (size_t idx = 0; idx < SGD_N_CASES; idx++) {
        const sgd_case *c = &sgd_cases[idx];
        sf_error err;
        sf_sgd *whole = new_case_model(c);
        sf_status st = run_case(whole, c, SGD_N, &err);
        if (c->status) {
            assert_int_equal(st, SF_ERR_NUMERIC);
            sf_sgd_free(whole);
            continue;
        }
        if (st != SF_OK) print_error("case %zu: %s\n", idx, err.message);
        assert_int_equal(st, SF_OK);
        compare_to_sklearn(whole, c, idx);
        for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
            sf_sgd *part = new_case_model(c);
            assert_int_equal(run_case(part, c, chunks[k], &err), SF_OK);
            assert_same_model(whole, part);
            sf_sgd_free(part);
        }
        sf_sgd_free(whole);
    }
    print_message("sgd parity: %zu of %zu cases bitwise equal to scikit-learn\n", n_bitwise, n_compared);
    assert_int_equal(n_bitwise, n_compared);
}

static void close_array(const double *got, const double *want, size_t n, double rel, double abs_tol)
{
    for (size_t i = 0; i < n; i++) assert_double_close(got[i], want[i], rel, abs_tol);
}

static void test_predictions(void **state)
{
    (void)state;
    for (size_t i = 0; i < SGD_N_PREDS; i++) {
        const sgd_pred *pr = &sgd_preds[i];
        const sgd_case *c = &sgd_cases[pr->case_index];
        data d = case_data(c);
        sf_sgd *s = new_case_model(c);
        sf_error err;
        assert_int_equal(run_case(s, c, 5, &err), SF_OK);
        size_t nd = sf_sgd_n_decision(s);
        double *out = malloc(SGD_N * 3 * sizeof *out);
        assert_int_equal(sf_sgd_decision_function(s, d.x, SGD_N, d.p, d.p, out, nd, &err), SF_OK);
        close_array(out, pr->decision, SGD_N * nd, 1e-12, 1e-14);
        assert_int_equal(sf_sgd_predict(s, d.x, SGD_N, d.p, d.p, out, 1, &err), SF_OK);
        if (c->target) /* class values: exact */
            for (size_t r = 0; r < SGD_N; r++) assert_double_bits(out[r], pr->predict[r]);
        else
            close_array(out, pr->predict, SGD_N, 1e-12, 1e-14);
        if (pr->n_proba) {
            size_t k = sf_sgd_n_classes(s);
            assert_int_equal(pr->n_proba, SGD_N * k);
            assert_int_equal(sf_sgd_predict_proba(s, d.x, SGD_N, d.p, d.p, out, k, &err), SF_OK);
            close_array(out, pr->proba, SGD_N * k, 1e-12, 1e-14);
        } else {
            assert_int_equal(sf_sgd_predict_proba(s, d.x, SGD_N, d.p, d.p, out, 3, &err), SF_ERR_UNSUPPORTED);
        }
        double score;
        assert_int_equal(sf_sgd_score(s, d.x, SGD_N, d.p, d.p, d.y, NULL, &score, &err), SF_OK);
        assert_double_close(score, pr->score, 1e-12, 1e-15);
        assert_int_equal(sf_sgd_score(s, d.x, SGD_N, d.p, d.p, d.y, sgd_sw, &score, &err), SF_OK);
        assert_double_close(score, pr->wscore, 1e-12, 1e-15);
        free(out);
        sf_sgd_free(s);
    }
}

/* Learns rows [0, cut), moves the state into a fresh model, learns the rest. */
static sf_sgd *resumed(const sgd_case *c, size_t cut)
{
    data d = case_data(c);
    sf_error err;
    sf_sgd *a = new_case_model(c);
    assert_int_equal(feed(a, &d, 0, cut, 4, &err), SF_OK);
    sf_sgd_state st;
    assert_int_equal(sf_sgd_get_state(a, &st, &err), SF_OK);
    sf_sgd *b = new_case_model(c);
    assert_int_equal(sf_sgd_set_state(b, &st, &err), SF_OK);
    sf_sgd_free(a);
    assert_int_equal(feed(b, &d, cut, SGD_N, 3, &err), SF_OK);
    return b;
}

static void test_state_roundtrip(void **state)
{
    (void)state;
    size_t tried = 0;
    for (size_t idx = 0; idx < SGD_N_CASES; idx += 7) {
        const sgd_case *c = &sgd_cases[idx];
        if (c->max_iter != 1 || c->status) continue;
        sf_sgd *whole = new_case_model(c);
        assert_int_equal(run_case(whole, c, SGD_N, NULL), SF_OK);
        sf_sgd *b = resumed(c, 17);
        assert_same_model(whole, b);
        sf_sgd_free(b);
        sf_sgd_free(whole);
        tried++;
    }
    assert_true(tried > 50);
}

/* Epochs resumed between and within epochs. */
static void test_state_epochs(void **state)
{
    (void)state;
    for (size_t idx = 0; idx < SGD_N_CASES; idx++) {
        const sgd_case *c = &sgd_cases[idx];
        if (c->max_iter == 1) continue;
        data d = case_data(c);
        sf_sgd *whole = new_case_model(c);
        assert_int_equal(run_case(whole, c, SGD_N, NULL), SF_OK);
        sf_sgd *s = new_case_model(c);
        bool again = true;
        for (unsigned e = 0; again; e++) {
            size_t cut = 5 + e % 30; /* save in the middle of each epoch */
            assert_int_equal(feed(s, &d, 0, cut, 6, NULL), SF_OK);
            sf_sgd_state st;
            assert_int_equal(sf_sgd_get_state(s, &st, NULL), SF_OK);
            sf_sgd *t = new_case_model(c);
            assert_int_equal(sf_sgd_set_state(t, &st, NULL), SF_OK);
            sf_sgd_free(s);
            s = t;
            assert_int_equal(feed(s, &d, cut, SGD_N, 11, NULL), SF_OK);
            assert_int_equal(sf_sgd_end_epoch(s, &again, NULL), SF_OK);
        }
        assert_same_model(whole, s);
        assert_int_equal(sf_sgd_n_iter(s), c->n_iter);
        sf_sgd_free(s);
        sf_sgd_free(whole);
    }
}

static void expect_field(const sf_sgd_params *p, sf_status st, const char *field)
{
    sf_error err;
    sf_sgd *s = (sf_sgd *)1;
    assert_int_equal(sf_sgd_params_check(p, &err), st);
    assert_string_equal(err.field_name, field);
    assert_int_equal(sf_sgd_new(&s, p, &err), st);
    assert_null(s);
}

static void test_bad_params(void **state)
{
    (void)state;
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_REGRESSOR);
    p.loss = SF_SGD_LOSS_HINGE;
    expect_field(&p, SF_ERR_ARG, "loss");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.alpha = -1;
    expect_field(&p, SF_ERR_ARG, "alpha");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.alpha = 0; /* optimal needs alpha > 0 */
    expect_field(&p, SF_ERR_ARG, "alpha");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.learning_rate = SF_SGD_LR_CONSTANT; /* eta0 = 0 */
    expect_field(&p, SF_ERR_ARG, "eta0");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.l1_ratio = 1.5;
    expect_field(&p, SF_ERR_ARG, "l1_ratio");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.l1_ratio = NAN;
    expect_field(&p, SF_ERR_ARG, "l1_ratio");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.learning_rate = SF_SGD_LR_PA1;
    expect_field(&p, SF_ERR_ARG, "learning_rate");
    sf_sgd_params_default(&p, SF_SGD_PA_CLASSIFIER);
    p.C = 0;
    expect_field(&p, SF_ERR_ARG, "C");
    sf_sgd_params_default(&p, SF_SGD_PA_CLASSIFIER);
    p.penalty = SF_SGD_PENALTY_L2;
    expect_field(&p, SF_ERR_ARG, "penalty");
    sf_sgd_params_default(&p, SF_SGD_PERCEPTRON);
    p.average = 1;
    expect_field(&p, SF_ERR_ARG, "average");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.max_iter = 0;
    expect_field(&p, SF_ERR_ARG, "max_iter");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.tol = -1;
    expect_field(&p, SF_ERR_ARG, "tol");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.shuffle = true;
    expect_field(&p, SF_ERR_UNSUPPORTED, "shuffle");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.tol = NAN; /* None */
    assert_int_equal(sf_sgd_params_check(&p, NULL), SF_OK);
}

/* A fitted 3-class model and a copy of its state, to check errors change nothing. */
typedef struct snapshot {
    double coef[3 * 4], intercept[3], t;
} snapshot;

static snapshot snap(const sf_sgd *s)
{
    snapshot z;
    memcpy(z.coef, sf_sgd_coef(s), sizeof z.coef);
    memcpy(z.intercept, sf_sgd_intercept(s), sizeof z.intercept);
    z.t = sf_sgd_t(s);
    return z;
}

static void test_bad_input(void **state)
{
    (void)state;
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.penalty = SF_SGD_PENALTY_ELASTICNET;
    p.average = 3;
    sf_sgd *s;
    sf_error err;
    assert_int_equal(sf_sgd_new(&s, &p, &err), SF_OK);
    double bad_x[2 * 4];
    assert_int_equal(sf_sgd_predict(s, sgd_x4, 2, 4, 4, bad_x, 1, &err), SF_ERR_STATE);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 20, 4, 4, sgd_y4_3, NULL, &err), SF_OK);
    snapshot before = snap(s);
    memcpy(bad_x, sgd_x4 + 20 * 4, sizeof bad_x);
    bad_x[6] = NAN;
    assert_int_equal(sf_sgd_partial_fit(s, bad_x, 2, 4, 4, sgd_y4_3 + 20, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 2);
    assert_int_equal(err.where.field, 3);
    bad_x[6] = INFINITY;
    assert_int_equal(sf_sgd_partial_fit(s, bad_x, 2, 4, 4, sgd_y4_3 + 20, NULL, &err), SF_ERR_ARG);
    double y_bad[2] = {2.0, 5.0};
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 4, y_bad, NULL, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "label 5"));
    y_bad[1] = NAN;
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 4, y_bad, NULL, &err), SF_ERR_ARG);
    double w_bad[2] = {1.0, -0.5};
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 4, sgd_y4_3, w_bad, &err), SF_ERR_ARG);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 3, 4, sgd_y4_3, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 3, sgd_y4_3, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 4, NULL, NULL, &err), SF_ERR_ARG);
    double other[3] = {-2.0, 2.0, 8.0};
    assert_int_equal(sf_sgd_set_classes(s, other, 3, &err), SF_ERR_STATE);
    double same[4] = {7.0, 2.0, -2.0, 2.0};
    assert_int_equal(sf_sgd_set_classes(s, same, 4, &err), SF_OK);
    double lab[1] = {4.0}, wt[1] = {2.0};
    assert_int_equal(sf_sgd_set_class_weight(s, lab, wt, 1, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "class_weight");
    snapshot after = snap(s);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(sf_sgd_decision_function(s, sgd_x4, 2, 5, 5, bad_x, 3, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_sgd_decision_function(s, sgd_x4, 2, 4, 4, bad_x, 2, &err), SF_ERR_SHAPE);
    sf_sgd_free(s);

    /* one class in the first chunk, no classes set */
    assert_int_equal(sf_sgd_new(&s, NULL, &err), SF_OK);
    double y_one[2] = {3.0, 3.0};
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 2, 4, 4, y_one, NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_sgd_n_classes(s), 0);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 6, 4, 4, sgd_y4_2, NULL, &err), SF_OK);
    assert_int_equal(sf_sgd_n_classes(s), 2);
    assert_double_bits(sf_sgd_classes(s)[0], 3.0);
    sf_sgd_free(s);

    /* overflow: SF_ERR_NUMERIC and the model as before */
    sf_sgd_params_default(&p, SF_SGD_REGRESSOR);
    p.learning_rate = SF_SGD_LR_CONSTANT;
    p.eta0 = 1e300;
    assert_int_equal(sf_sgd_new(&s, &p, &err), SF_OK);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4, 1, 4, 4, sgd_y4_r, NULL, &err), SF_OK);
    double c0[4];
    memcpy(c0, sf_sgd_coef(s), sizeof c0);
    double t0 = sf_sgd_t(s);
    assert_int_equal(sf_sgd_partial_fit(s, sgd_x4 + 4, 10, 4, 4, sgd_y4_r + 1, NULL, &err), SF_ERR_NUMERIC);
    assert_memory_equal(c0, sf_sgd_coef(s), sizeof c0);
    assert_double_bits(t0, sf_sgd_t(s));
    assert_int_equal(sf_sgd_set_classes(s, other, 3, &err), SF_ERR_STATE);
    assert_int_equal(sf_sgd_predict_proba(s, sgd_x4, 1, 4, 4, c0, 1, &err), SF_ERR_UNSUPPORTED);
    sf_sgd_free(s);
}

static void test_bad_state(void **state)
{
    (void)state;
    const sgd_case *c = &sgd_cases[2]; /* binary hinge, no penalty, averaged */
    sf_sgd *a = new_case_model(c);
    assert_int_equal(run_case(a, c, SGD_N, NULL), SF_OK);
    sf_sgd_state st;
    sf_error err;
    assert_int_equal(sf_sgd_get_state(a, &st, &err), SF_OK);
    sf_sgd_params p = case_params(c);
    sf_sgd *b;
    assert_int_equal(sf_sgd_new(&b, &p, &err), SF_OK);
    assert_int_equal(sf_sgd_set_state(b, &st, &err), SF_ERR_STATE); /* classes first */
    assert_int_equal(sf_sgd_set_classes(b, sf_sgd_classes(a), 2, &err), SF_OK);
    double vec[SF_SGD_V_COUNT];
    memcpy(vec, st.vec, sizeof vec);
    sf_sgd_state bad = st;
    bad.vec = vec;
    vec[SF_SGD_V_WSCALE] = 0;
    assert_int_equal(sf_sgd_set_state(b, &bad, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "wscale"));
    memcpy(vec, st.vec, sizeof vec);
    vec[SF_SGD_V_AVERAGE_B] = -1;
    assert_int_equal(sf_sgd_set_state(b, &bad, &err), SF_ERR_ARG);
    bad = st;
    bad.average_w = NULL;
    assert_int_equal(sf_sgd_set_state(b, &bad, &err), SF_ERR_ARG);
    bad = st;
    bad.n_vectors = 3;
    assert_int_equal(sf_sgd_set_state(b, &bad, &err), SF_ERR_ARG);
    assert_int_equal(sf_sgd_n_features(b), 0);
    assert_int_equal(sf_sgd_set_state(b, &st, &err), SF_OK);
    assert_same_model(a, b);
    sf_sgd_free(a);
    sf_sgd_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parity_and_chunks),
        cmocka_unit_test(test_predictions),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_state_epochs),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
