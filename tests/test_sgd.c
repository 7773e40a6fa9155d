/* test_sgd.c — the SGD family against scikit-learn 1.2.1 (fixture made by
 * tests/reference/make_sgd_fixtures.py), on 40 rows of 4 and of 19 features:
 * - coef_, intercept_, t_ of every case (each loss x penalty x learning rate,
 *   averaged or not, 2 and 3 classes and regression, perceptron, PA-I / PA-II,
 *   class and sample weights, a weight-scale reset, dense and CSR rows) equal
 *   sklearn's single partial_fit over all rows (shuffle=False) to 1e-9 relative
 *   (1e-12 absolute near 0), and the run counts how many are bitwise equal (all
 *   of them, so far); epoch cases equal sklearn's fit(shuffle=False) the same
 *   way, n_iter_ exactly;
 * - shuffle=true against sklearn's partial_fit(shuffle=True, random_state=R) once
 *   per block of rows: bitwise for one block, 1e-9 for several (sklearn restarts
 *   its per-call state); any chunking and a resumed buffer give the same model;
 * - feeding the rows in chunks of 1, 2, 3 and 7 gives the bitwise same model as
 *   one call (chunk invariance), also for epochs; so do one-vs-all vectors
 *   learning on a pool's threads; concurrent first predictions (coef_ is derived
 *   lazily) equal serial ones (also clean under ThreadSanitizer);
 * - decision_function, predict_proba to 1e-12 relative (1e-14 absolute), predict
 *   exactly, score to 1e-12;
 * - early_stopping: held-out rows are not learned (bitwise a model fed only the
 *   others), their loss is the model's of that moment (1e-12), the stopping rule,
 *   and the best epoch's model given back (bitwise); resumable;
 * - get_state -> set_state in a new model -> the rest of the rows is bitwise the
 *   uninterrupted fit;
 * - bad parameters name their field; bad input (NaN, infinity, unknown labels,
 *   shapes, negative weights, overflow) is an error that leaves the model as it
 *   was (bitwise), also a CSR call that folded the weight scale before failing;
 * - the five stage kinds: spec parameters (sklearn names, errors at the column),
 *   learning, epochs through end_pass, outputs and score equal the typed API
 *   bitwise; save -> load -> continue equals the uninterrupted fit; JSON export;
 *   model groups with corrupt contents (zero wscale, NaN weights, one class, a
 *   missing parameter) are refused as corrupt files; a CSV pipeline
 *   "scaler | sgd_classifier(...)" equals the scaler then sf_sgd on the same
 *   rows; through sf_pipeline_fit with epochs, coef_ is bitwise sklearn's fit();
 *   fit on A, save, load, update on B is bitwise one pass over A then B. */
#include "sf_test.h"

#include "../tests/reference/sgd_fixture.h"
#include "pipeline/stage.h"

#include <pthread.h>
#include <unistd.h>

#define REL 1e-9
#define ABS 1e-12

static size_t n_bitwise, n_compared;

typedef struct data {
    const double *x, *y, *sw;
    size_t p;
    bool sparse; /* data -4: sgd_x4s as CSR, zeros left out (scipy's csr_matrix) */
    double csr_data[SGD_N * 4];
    uint32_t csr_indices[SGD_N * 4];
    size_t csr_indptr[SGD_N + 1];
} data;

static data case_data(const sgd_case *c)
{
    data d = {.x = c->data == 4 ? sgd_x4 : c->data == -4 ? sgd_x4s : sgd_x19, .p = (size_t)abs(c->data)};
    d.sparse = c->data < 0;
    for (size_t i = 0, e = 0; d.sparse && i < SGD_N; i++) {
        for (size_t j = 0; j < d.p; j++)
            if (d.x[i * d.p + j] != 0) {
                d.csr_data[e] = d.x[i * d.p + j];
                d.csr_indices[e++] = (uint32_t)j;
            }
        d.csr_indptr[i + 1] = e;
    }
    if (abs(c->data) == 4) d.y = c->target == 2 ? sgd_y4_2 : c->target == 3 ? sgd_y4_3 : sgd_y4_r;
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

static const sgd_shuffle *case_shuffle(const sgd_case *c)
{
    for (size_t i = 0; i < SGD_N_SHUFFLES; i++)
        if (&sgd_cases[sgd_shuffles[i].case_index] == c) return &sgd_shuffles[i];
    return NULL;
}

static sf_sgd *new_case_model(const sgd_case *c)
{
    sf_sgd_params p = case_params(c);
    const sgd_shuffle *sh = case_shuffle(c);
    if (sh) {
        p.shuffle = true;
        p.random_state = sh->random_state;
        p.shuffle_block = (uint64_t)sh->block;
    }
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
        sf_status st = d->sparse ? sf_sgd_partial_fit_csr(s, d->csr_data, d->csr_indices, d->csr_indptr + i, n,
                                                          d->p, d->y + i, d->sw ? d->sw + i : NULL, err)
                                 : sf_sgd_partial_fit(s, d->x + i * d->p, n, d->p, d->p, d->y + i,
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
        if (st == SF_OK && c->max_iter == 1) st = sf_sgd_flush(s, err); /* shuffle's last block */
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
    if (!bitwise && idx < SGD_N_PLAIN_CASES) print_message("not bitwise: %zu: %s\n", idx, describe(c, what, sizeof what));
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
    assert_double_bits(sa.epoch_rows, sb.epoch_rows);
    assert_double_bits(sa.holdout_weight, sb.holdout_weight);
    assert_int_equal(sa.n_buffered, sb.n_buffered);
    if (sa.n_buffered) {
        assert_memory_equal(sa.buffer_x, sb.buffer_x, sa.n_buffered * p * sizeof(double));
        assert_memory_equal(sa.buffer_y, sb.buffer_y, sa.n_buffered * sizeof(double));
        assert_memory_equal(sa.buffer_w, sb.buffer_w, sa.n_buffered * sizeof(double));
    }
    if (sa.best_w) assert_memory_equal(sa.best_w, sb.best_w, np * sizeof(double));
    if (sa.best_vec) assert_memory_equal(sa.best_vec, sb.best_vec, rows * SF_SGD_V_COUNT * sizeof(double));
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
    for (size_t idx = 0; idx < SGD_N_PLAIN_CASES; idx++) {
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

/* shuffle=true: blocks permuted as sklearn's partial_fit(shuffle=True,
 * random_state=R) permutes calls of that many rows; any chunking gives the same
 * model; a saved state with rows in the buffer resumes exactly. */
static void test_shuffle(void **state)
{
    (void)state;
    size_t bitwise = 0;
    for (size_t i = 0; i < SGD_N_SHUFFLES; i++) {
        const sgd_case *c = &sgd_cases[sgd_shuffles[i].case_index];
        sf_error err;
        sf_sgd *whole = new_case_model(c);
        assert_int_equal(run_case(whole, c, SGD_N, &err), SF_OK);
        size_t before = n_bitwise;
        compare_to_sklearn(whole, c, (size_t)sgd_shuffles[i].case_index);
        bitwise += n_bitwise - before;
        static const size_t chunks[] = {1, 3, 7, 16};
        for (size_t k = 0; k < 4; k++) {
            sf_sgd *part = new_case_model(c);
            assert_int_equal(run_case(part, c, chunks[k], &err), SF_OK);
            assert_same_model(whole, part);
            sf_sgd_free(part);
        }
        /* resume with rows waiting in the buffer */
        data d = case_data(c);
        sf_sgd *a = new_case_model(c), *b = new_case_model(c);
        assert_int_equal(feed(a, &d, 0, 21, 5, &err), SF_OK);
        sf_sgd_state st;
        assert_int_equal(sf_sgd_get_state(a, &st, &err), SF_OK);
        assert_int_equal(st.n_buffered, 21 % (size_t)sgd_shuffles[i].block);
        assert_int_equal(sf_sgd_set_state(b, &st, &err), SF_OK);
        sf_sgd_free(a);
        assert_int_equal(feed(b, &d, 21, SGD_N, 6, &err), SF_OK);
        assert_int_equal(sf_sgd_flush(b, &err), SF_OK);
        assert_same_model(whole, b);
        sf_sgd_free(b);
        sf_sgd_free(whole);
    }
    print_message("sgd shuffle: %zu of %d cases bitwise equal to scikit-learn (one call per block)\n", bitwise,
                  SGD_N_SHUFFLES);
    assert_true(bitwise >= 14); /* the one-call cases (40 and 64 rows) at least */
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.shuffle = true;
    p.random_state = 1;
    sf_sgd *s;
    assert_int_equal(sf_sgd_new(&s, &p, NULL), SF_OK);
    size_t ptr[2] = {0, 1};
    uint32_t ind[1] = {0};
    double one = 1, yy = 3;
    assert_int_equal(sf_sgd_partial_fit_csr(s, &one, ind, ptr, 1, 4, &yy, NULL, NULL), SF_ERR_UNSUPPORTED);
    sf_sgd_free(s);
}

/* early_stopping: the held-out rows are not learned (the model equals one fed
 * only the other rows), their loss is the model's of that moment, and the fit
 * stops after n_iter_no_change epochs without improvement, back at its best
 * epoch. */
static void test_early_stopping(void **state)
{
    (void)state;
    static const struct { sf_sgd_kind kind; sf_sgd_loss loss; const double *y; } cases[] = {
        {SF_SGD_REGRESSOR, SF_SGD_LOSS_SQUARED_ERROR, sgd_y4_r},
        {SF_SGD_CLASSIFIER, SF_SGD_LOSS_HINGE, sgd_y4_2},
        {SF_SGD_CLASSIFIER, SF_SGD_LOSS_LOG_LOSS, sgd_y4_3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        sf_sgd_params p;
        sf_sgd_params_default(&p, cases[c].kind);
        p.loss = cases[c].loss;
        p.learning_rate = SF_SGD_LR_CONSTANT;
        p.eta0 = 0.1;
        p.max_iter = 200;
        p.tol = 1e-4;
        p.n_iter_no_change = 3;
        p.early_stopping = true;
        p.holdout_period = 4;
        sf_sgd *es, *plain;
        assert_int_equal(sf_sgd_new(&es, &p, NULL), SF_OK);
        sf_sgd_params q = p;
        q.early_stopping = false;
        q.tol = NAN;
        assert_int_equal(sf_sgd_new(&plain, &q, NULL), SF_OK);
        static const double classes2[] = {3, 5}, classes3[] = {-2, 2, 7};
        for (int m = 0; m < 2 && c > 0; m++)
            assert_int_equal(sf_sgd_set_classes(m ? plain : es, c == 1 ? classes2 : classes3, c == 1 ? 2 : 3, NULL),
                             SF_OK);
        /* epoch 1, row by row: the plain model learns the kept rows only */
        double hold = 0, rows_held = 0;
        for (size_t i = 0; i < SGD_N; i++) {
            const double *xi = sgd_x4 + i * 4;
            if (i % 4 == 3) {
                if (!sf_sgd_n_features(plain)) continue;
                double d[3];
                assert_int_equal(sf_sgd_decision_function(plain, xi, 1, 4, 4, d, 3, NULL), SF_OK);
                size_t K = sf_sgd_n_decision(plain);
                for (size_t k = 0; k < K; k++) {
                    double yk = cases[c].kind == SF_SGD_REGRESSOR ? cases[c].y[i]
                                : (K == 1 ? (cases[c].y[i] == 5.0 ? 1.0 : -1.0)
                                          : (cases[c].y[i] == sf_sgd_classes(plain)[k] ? 1.0 : -1.0));
                    double r = d[k] - yk, z = d[k] * yk;
                    hold += p.loss == SF_SGD_LOSS_SQUARED_ERROR ? 0.5 * r * r
                            : p.loss == SF_SGD_LOSS_HINGE       ? (z <= 1 ? 1 - z : 0)
                                                                : log(1 + exp(-z));
                }
                rows_held += 1;
                continue;
            }
            assert_int_equal(sf_sgd_partial_fit(plain, xi, 1, 4, 4, cases[c].y + i, NULL, NULL), SF_OK);
        }
        for (size_t a = 0; a < SGD_N; a += 7) {
            size_t n = SGD_N - a < 7 ? SGD_N - a : 7;
            assert_int_equal(sf_sgd_partial_fit(es, sgd_x4 + a * 4, n, 4, 4, cases[c].y + a, NULL, NULL), SF_OK);
        }
        size_t rows = sf_sgd_n_coef_rows(es);
        for (size_t i = 0; i < rows * 4; i++) assert_double_bits(sf_sgd_coef(es)[i], sf_sgd_coef(plain)[i]);
        for (size_t i = 0; i < rows; i++) assert_double_bits(sf_sgd_intercept(es)[i], sf_sgd_intercept(plain)[i]);
        assert_double_bits(sf_sgd_t(es), SGD_N + 1.0); /* held-out rows count in t_, as sklearn's */
        sf_sgd_progress g = sf_sgd_get_progress(es);
        assert_double_bits(g.holdout_weight, rows_held);
        assert_double_close(g.holdout_loss, hold, 1e-12, 1e-14);
        assert_double_bits(g.rows, SGD_N);

        /* epochs until the rule stops; the result is the best epoch's model */
        sf_sgd *snaps[200] = {NULL};
        double mean[200];
        bool again = true;
        unsigned e = 0;
        for (; again; e++) {
            if (e) {
                for (size_t a = 0; a < SGD_N; a += 9) {
                    size_t n = SGD_N - a < 9 ? SGD_N - a : 9;
                    assert_int_equal(sf_sgd_partial_fit(es, sgd_x4 + a * 4, n, 4, 4, cases[c].y + a, NULL, NULL),
                                     SF_OK);
                }
            }
            g = sf_sgd_get_progress(es);
            mean[e] = g.holdout_loss / g.holdout_weight;
            assert_int_equal(sf_sgd_clone(es, &snaps[e], NULL), SF_OK);
            assert_int_equal(sf_sgd_end_epoch(es, &again, NULL), SF_OK);
        }
        assert_true(e < 200);
        unsigned best = 0, since = 0;
        for (unsigned k = 1; k < e; k++) {
            if (mean[k] < mean[best]) best = k;
        }
        /* the rule: stop after 3 epochs each not better than the best by tol */
        double b = INFINITY;
        for (unsigned k = 0; k < e; k++) {
            since = mean[k] > b - p.tol ? since + 1 : 0;
            if (mean[k] < b) b = mean[k];
        }
        assert_int_equal(since, 3);
        if (rows == 1) { /* one vector: the model is the best epoch's */
            for (size_t i = 0; i < 4; i++) assert_double_bits(sf_sgd_coef(es)[i], sf_sgd_coef(snaps[best])[i]);
            assert_double_bits(sf_sgd_intercept(es)[0], sf_sgd_intercept(snaps[best])[0]);
            assert_true(best + 3 == e - 1);
        }
        /* a saved state resumes with the best epoch kept */
        sf_sgd_state st;
        assert_int_equal(sf_sgd_get_state(snaps[e - 1], &st, NULL), SF_OK); /* before the last end_epoch */
        assert_non_null(st.best_w);
        sf_sgd *back;
        assert_int_equal(sf_sgd_new(&back, &p, NULL), SF_OK);
        if (c > 0) assert_int_equal(sf_sgd_set_classes(back, c == 1 ? classes2 : classes3, c == 1 ? 2 : 3, NULL), SF_OK);
        assert_int_equal(sf_sgd_set_state(back, &st, NULL), SF_OK);
        assert_int_equal(sf_sgd_end_epoch(back, &again, NULL), SF_OK);
        assert_false(again);
        assert_same_model(es, back);
        sf_sgd_free(back);
        for (unsigned k = 0; k < e; k++) sf_sgd_free(snaps[k]);
        sf_sgd_free(es);
        sf_sgd_free(plain);
    }
}

/* early_stopping with shuffle: the held-out rows leave the stream before the
 * shuffled blocks are cut (the model equals a shuffled one fed only the other
 * rows), any chunking gives the same model and losses. */
static void test_early_stopping_shuffle(void **state)
{
    (void)state;
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.loss = SF_SGD_LOSS_LOG_LOSS;
    p.shuffle = true;
    p.random_state = 5;
    p.shuffle_block = 8;
    p.early_stopping = true;
    p.holdout_period = 5;
    p.max_iter = 3;
    sf_sgd_params q = p;
    q.early_stopping = false;
    double kept_x[SGD_N * 4], kept_y[SGD_N];
    size_t nk = 0;
    for (size_t i = 0; i < SGD_N; i++)
        if (i % 5 != 4) {
            memcpy(kept_x + nk * 4, sgd_x4 + i * 4, 4 * sizeof(double));
            kept_y[nk++] = sgd_y4_3[i];
        }
    static const double classes[] = {-2, 2, 7};
    sf_sgd *plain, *ref = NULL;
    assert_int_equal(sf_sgd_new(&plain, &q, NULL), SF_OK);
    assert_int_equal(sf_sgd_set_classes(plain, classes, 3, NULL), SF_OK);
    assert_int_equal(sf_sgd_partial_fit(plain, kept_x, nk, 4, 4, kept_y, NULL, NULL), SF_OK);
    assert_int_equal(sf_sgd_flush(plain, NULL), SF_OK);
    static const size_t chunks[] = {40, 1, 7, 3};
    for (size_t c = 0; c < 4; c++) {
        sf_sgd *s;
        assert_int_equal(sf_sgd_new(&s, &p, NULL), SF_OK);
        assert_int_equal(sf_sgd_set_classes(s, classes, 3, NULL), SF_OK);
        for (size_t a = 0; a < SGD_N; a += chunks[c]) {
            size_t n = SGD_N - a < chunks[c] ? SGD_N - a : chunks[c];
            assert_int_equal(sf_sgd_partial_fit(s, sgd_x4 + a * 4, n, 4, 4, sgd_y4_3 + a, NULL, NULL), SF_OK);
        }
        sf_sgd_progress g = sf_sgd_get_progress(s);
        assert_double_bits(g.holdout_weight, 8.0);
        assert_double_bits(g.rows, SGD_N);
        assert_int_equal(sf_sgd_flush(s, NULL), SF_OK);
        for (size_t i = 0; i < 12; i++) assert_double_bits(sf_sgd_coef(s)[i], sf_sgd_coef(plain)[i]);
        assert_double_bits(sf_sgd_t(s), SGD_N + 1.0);
        if (!ref) {
            ref = s;
            continue;
        }
        assert_same_model(ref, s);
        sf_sgd_free(s);
    }
    /* an overflow in a later run of the call: the model, buffer included, as it was */
    sf_sgd *before;
    double x[20 * 4], y[20];
    memcpy(x, sgd_x4, sizeof x);
    memcpy(y, sgd_y4_3, sizeof y);
    assert_int_equal(sf_sgd_partial_fit(ref, sgd_x4, 5, 4, 4, sgd_y4_3, NULL, NULL), SF_OK);
    assert_int_equal(sf_sgd_clone(ref, &before, NULL), SF_OK);
    x[2 * 4] = 1e308; /* learned in a block this call completes */
    sf_error err;
    assert_int_equal(sf_sgd_partial_fit(ref, x, 20, 4, 4, y, NULL, &err), SF_ERR_NUMERIC);
    assert_same_model(before, ref);
    sf_sgd_free(before);
    sf_sgd_free(ref);
    sf_sgd_free(plain);
}

/* One-vs-all vectors learning on a pool's workers: bitwise the serial model. */
static void test_parallel_ova(void **state)
{
    (void)state;
    sf_pool *pool = NULL;
    assert_int_equal(sf_pool_new(&pool, 3, NULL), SF_OK);
    size_t tried = 0;
    for (size_t idx = 0; idx < SGD_N_CASES; idx++) {
        const sgd_case *c = &sgd_cases[idx];
        if (c->target != 3 || c->status) continue;
        sf_sgd *serial = new_case_model(c), *par = new_case_model(c);
        sf_sgd_set_pool(par, pool);
        assert_int_equal(run_case(serial, c, 7, NULL), SF_OK);
        assert_int_equal(run_case(par, c, 7, NULL), SF_OK);
        assert_same_model(serial, par);
        sf_sgd_free(serial);
        sf_sgd_free(par);
        tried++;
    }
    assert_true(tried > 100);
    sf_pool_free(pool);
}

/* Predictions from many threads at once, the first of them right after learning
 * (coef_ is derived lazily): all equal the serial ones. */
typedef struct pred_job {
    const sf_sgd *s;
    double out[SGD_N * 3];
    sf_status st;
} pred_job;

static void *predict_thread(void *arg)
{
    pred_job *j = arg;
    j->st = sf_sgd_decision_function(j->s, sgd_x4, SGD_N, 4, 4, j->out, 3, NULL);
    return NULL;
}

static void test_concurrent_predict(void **state)
{
    (void)state;
    const sgd_case *c = &sgd_cases[0];
    while (c->target != 3) c++;
    for (int round = 0; round < 20; round++) {
        sf_sgd *s = new_case_model(c);
        assert_int_equal(run_case(s, c, 13, NULL), SF_OK);
        pred_job jobs[4];
        pthread_t th[4];
        for (int t = 0; t < 4; t++) {
            jobs[t].s = s;
            assert_int_equal(pthread_create(&th[t], NULL, predict_thread, &jobs[t]), 0);
        }
        for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
        double want[SGD_N * 3];
        assert_int_equal(sf_sgd_decision_function(s, sgd_x4, SGD_N, 4, 4, want, 3, NULL), SF_OK);
        for (int t = 0; t < 4; t++) {
            assert_int_equal(jobs[t].st, SF_OK);
            assert_memory_equal(jobs[t].out, want, sizeof want);
        }
        sf_sgd_free(s);
    }
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
    for (size_t idx = 0; idx < SGD_N_PLAIN_CASES; idx += 7) {
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
    p.shuffle = true; /* random_state None: refused when learning starts */
    sf_sgd *sh;
    sf_error err;
    assert_int_equal(sf_sgd_new(&sh, &p, &err), SF_OK);
    assert_int_equal(sf_sgd_partial_fit(sh, sgd_x4, 5, 4, 4, sgd_y4_2, NULL, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "random_state");
    assert_int_equal(sf_sgd_n_features(sh), 0);
    sf_sgd_free(sh);
    p.random_state = -2;
    expect_field(&p, SF_ERR_ARG, "random_state");
    p.random_state = 3;
    p.shuffle_block = 0;
    expect_field(&p, SF_ERR_ARG, "shuffle_block");
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.early_stopping = true;
    p.holdout_period = 1;
    expect_field(&p, SF_ERR_ARG, "holdout_period");
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
    /* CSR: decreasing row pointers, a column out of range, NaN, another width */
    double cd[3] = {1.0, NAN, 2.0};
    uint32_t ci[3] = {0, 5, 3};
    size_t cp[3] = {0, 2, 1};
    double cy[2] = {2.0, 7.0};
    assert_int_equal(sf_sgd_partial_fit_csr(s, cd, ci, cp, 2, 4, cy, NULL, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "decrease"));
    cp[2] = 3;
    assert_int_equal(sf_sgd_partial_fit_csr(s, cd, ci, cp, 2, 4, cy, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(err.where.field, 6);
    ci[1] = 1;
    assert_int_equal(sf_sgd_partial_fit_csr(s, cd, ci, cp, 2, 4, cy, NULL, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "NaN"));
    cd[1] = 0.5;
    assert_int_equal(sf_sgd_partial_fit_csr(s, cd, ci, cp, 2, 5, cy, NULL, &err), SF_ERR_SHAPE);
    snapshot after = snap(s);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(sf_sgd_partial_fit_csr(s, cd, ci, cp, 2, 4, cy, NULL, &err), SF_OK);
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

/* A CSR call saves only the columns it touches, and a vector's whole arrays on
 * its first weight-scale fold: an overflow late in the call, after a fold or
 * not, still gives back the model as it was, bitwise. */
static void test_csr_rollback(void **state)
{
    (void)state;
    enum { P = 6, N = 40 };
    double data[N * 3];
    uint32_t ind[N * 3];
    size_t ptr[N + 1];
    double y3[N], yr[N];
    size_t e = 0;
    unsigned u = 11;
    for (size_t i = 0; i < N; i++) {
        ptr[i] = e;
        for (uint32_t j = (uint32_t)(i % 3); j < P; j += 3) { /* 2 columns per row */
            u = u * 1103515245u + 12345u;
            data[e] = (double)(u >> 8) / 16777216.0 - 0.5;
            ind[e++] = j;
        }
        yr[i] = data[ptr[i]] * 2 + 1;
        y3[i] = (double)(i % 3);
    }
    ptr[N] = e;
    for (int kind = 0; kind < 2; kind++) {
        for (size_t bad_row = 23; bad_row <= 38; bad_row += 15) { /* before / after the first fold */
            sf_sgd_params p;
            sf_sgd_params_default(&p, kind ? SF_SGD_CLASSIFIER : SF_SGD_REGRESSOR);
            p.loss = kind ? SF_SGD_LOSS_SQUARED_HINGE : SF_SGD_LOSS_SQUARED_ERROR;
            p.learning_rate = SF_SGD_LR_CONSTANT;
            p.eta0 = 0.5;
            p.alpha = 1.0; /* wscale halves each row: a fold after ~30 rows */
            p.penalty = SF_SGD_PENALTY_ELASTICNET;
            p.average = 1;
            const double *y = kind ? y3 : yr;
            sf_sgd *s, *ref;
            assert_int_equal(sf_sgd_new(&s, &p, NULL), SF_OK);
            double classes[3] = {0, 1, 2};
            if (kind) assert_int_equal(sf_sgd_set_classes(s, classes, 3, NULL), SF_OK);
            assert_int_equal(sf_sgd_partial_fit_csr(s, data, ind, ptr, 20, P, y, NULL, NULL), SF_OK);
            assert_int_equal(sf_sgd_clone(s, &ref, NULL), SF_OK);
            double keep = data[ptr[bad_row]], keep_y = yr[bad_row];
            data[ptr[bad_row]] = 1e308; /* and a far target: a step that overflows */
            yr[bad_row] = 1e300;
            sf_error err;
            assert_int_equal(sf_sgd_partial_fit_csr(s, data, ind, ptr + 20, N - 20, P, y + 20, NULL, &err),
                             SF_ERR_NUMERIC);
            data[ptr[bad_row]] = keep;
            yr[bad_row] = keep_y;
            assert_same_model(ref, s);
            assert_int_equal(sf_sgd_partial_fit_csr(s, data, ind, ptr + 20, N - 20, P, y + 20, NULL, NULL), SF_OK);
            assert_int_equal(sf_sgd_partial_fit_csr(ref, data, ind, ptr + 20, N - 20, P, y + 20, NULL, NULL), SF_OK);
            assert_same_model(ref, s);
            sf_sgd_free(s);
            sf_sgd_free(ref);
        }
    }
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

/* ---------------------------------------------------------------- stages */

static void *stage_new(const char *spec_text, const sfi_stage_ops **ops, sf_error *err, sf_status want)
{
    sfi_spec sp;
    assert_int_equal(sfi_spec_parse(spec_text, &sp, err), SF_OK);
    *ops = sfi_stage_find(sp.stages[0].kind);
    assert_non_null(*ops);
    void *st = NULL;
    sf_status r = (*ops)->create(&st, &sp.stages[0], err);
    if (r != want) print_error("%s: %s\n", spec_text, err->message);
    assert_int_equal(r, want);
    sfi_spec_free(&sp);
    return st;
}

static void expect_stage_error(const char *spec_text, sf_status want, size_t column, const char *needle)
{
    const sfi_stage_ops *ops;
    sf_error err;
    void *st = stage_new(spec_text, &ops, &err, want);
    assert_null(st);
    if (err.where.column != column || !strstr(err.message, needle))
        print_error("%s: column %llu: %s\n", spec_text, (unsigned long long)err.where.column, err.message);
    assert_int_equal(err.where.column, column);
    assert_non_null(strstr(err.message, needle));
}

static void test_stage_params(void **state)
{
    (void)state;
    expect_stage_error("sgd_classifier(los=hinge)", SF_ERR_ARG, 16, "unknown parameter los");
    expect_stage_error("sgd_classifier(loss=hing)", SF_ERR_ARG, 21, "unknown loss hing");
    expect_stage_error("sgd_regressor(loss=hinge)", SF_ERR_ARG, 20, "loss hinge");
    expect_stage_error("sgd_classifier(learning_rate=constant)", SF_ERR_ARG, 30, "eta0 must be > 0");
    expect_stage_error("sgd_classifier(alpha=0)", SF_ERR_ARG, 22, "alpha must be > 0");
    expect_stage_error("sgd_classifier(max_iter=2.5)", SF_ERR_ARG, 25, "max_iter must be an integer");

    expect_stage_error("sgd_classifier(early_stopping=true, holdout_period=1)", SF_ERR_ARG, 52,
                       "holdout_period");
    expect_stage_error("sgd_classifier(validation_fraction=1.5)", SF_ERR_ARG, 36, "validation_fraction");
    expect_stage_error("sgd_classifier(shuffle=true, random_state=1, shuffle_block=0)", SF_ERR_ARG, 60,
                       "shuffle_block");
    expect_stage_error("sgd_classifier(class_weight='balanced')", SF_ERR_ARG, 29, "balanced");
    expect_stage_error("sgd_classifier(class_weight=[[1, 2], [3]])", SF_ERR_ARG, 38, "[label, weight]");
    expect_stage_error("sgd_classifier(classes=[1], loss=log_loss)", SF_ERR_ARG, 24, "greater than one");
    expect_stage_error("sgd_classifier(classes=[1, 2], class_weight=[[3, 1.5]])", SF_ERR_ARG, 45,
                       "not a class");
    expect_stage_error("passive_aggressive_classifier(penalty=l2)", SF_ERR_ARG, 31, "unknown parameter penalty");
    expect_stage_error("perceptron(average=true)", SF_ERR_ARG, 12, "unknown parameter average");
    expect_stage_error("sgd_regressor(classes=[1, 2])", SF_ERR_ARG, 15, "unknown parameter classes");
    expect_stage_error("sgd_classifier(penalty='l3')", SF_ERR_ARG, 24, "unknown penalty");
    expect_stage_error("passive_aggressive_regressor(C=0)", SF_ERR_ARG, 32, "C must be > 0");
    const sfi_stage_ops *ops;
    sf_error err;
    expect_stage_error("sgd_classifier(classes=[1, 'b'])", SF_ERR_ARG, 28, "list of numbers, or of strings");
    void *labels = stage_new("sgd_classifier(classes=['cat', 'dog'])", &ops, &err, SF_OK); /* the pipeline's */
    ops->free(labels);
    void *st = stage_new("sgd_classifier(penalty=None, tol=None, average=10, verbose=0, n_jobs=-1, "
                         "random_state=3, warm_start=false, validation_fraction=0.2)", &ops, &err, SF_OK);
    assert_true(ops->classifier && ops->estimator && !ops->mergeable);
    ops->free(st);
}

/* Blocks of `chunk` rows of a fixture data set, through a stage's ops. */
static void stage_feed(const sfi_stage_ops *ops, void *st, const double *x, const double *y,
                       const double *w, size_t p, size_t a, size_t b, size_t chunk)
{
    sf_error err;
    for (size_t i = a; i < b; i += chunk) {
        size_t n = b - i < chunk ? b - i : chunk;
        sf_block blk = {.n_rows = n, .n_cols = p, .ld = p, .capacity = n, .x = (double *)x + i * p,
                        .y = (double *)y + i, .w = w ? (double *)w + i : NULL};
        sf_status r = ops->partial_fit(st, &blk, &err);
        if (r != SF_OK) print_error("%s\n", err.message);
        assert_int_equal(r, SF_OK);
    }
}

/* Epochs the way the pipeline runs them: begin_pass, one state fed in order, end_pass. */
static void *stage_fit(const sfi_stage_ops *ops, void *st, const double *x, const double *y,
                       const double *w, size_t p, size_t chunk)
{
    sf_error err;
    bool again = true;
    for (unsigned pass = 0; again; pass++) {
        void *fresh = NULL, *merged = NULL;
        assert_int_equal(ops->clone_empty(st, &fresh, &err), SF_OK);
        assert_int_equal(ops->clone_empty(st, &merged, &err), SF_OK);
        ops->free(st);
        assert_int_equal(ops->begin_pass(fresh, pass, &err), SF_OK);
        stage_feed(ops, fresh, x, y, w, p, 0, SGD_N, chunk);
        assert_int_equal(ops->merge(merged, fresh, &err), SF_OK);
        ops->free(fresh);
        st = merged;
        assert_int_equal(ops->end_pass(st, pass, &again, &err), SF_OK);
    }
    return st;
}

static void test_stage_learning(void **state)
{
    (void)state;
    /* the epoch case of the fixture: 3-class elasticnet log loss, adaptive rate */
    size_t idx = 0;
    while (!(sgd_cases[idx].max_iter > 1 && sgd_cases[idx].lr == SF_SGD_LR_ADAPTIVE && sgd_cases[idx].target == 3 &&
             sgd_cases[idx].data == 4))
        idx++;
    const sgd_case *c = &sgd_cases[idx];
    const sfi_stage_ops *ops;
    sf_error err;
    const char *spec = "sgd_classifier(loss=log_loss, penalty=elasticnet, alpha=0.01, l1_ratio=0.3, "
                       "learning_rate=adaptive, eta0=0.1, max_iter=40, tol=0.01, n_iter_no_change=2, "
                       "epsilon=0.3, classes=[7, -2, 2])";
    void *st = stage_new(spec, &ops, &err, SF_OK);
    st = stage_fit(ops, st, sgd_x4, sgd_y4_3, NULL, 4, 6);
    sf_sgd *direct = new_case_model(c);
    assert_int_equal(run_case(direct, c, 6, &err), SF_OK);
    compare_to_sklearn(direct, c, idx);
    char *json = NULL;
    sfi_buf b = {0};
    ops->to_json(st, &b);
    json = b.data;
    assert_non_null(strstr(json, "\"classes_\": [-2, 2, 7]"));
    assert_non_null(strstr(json, "\"n_iter_\": "));
    assert_non_null(strstr(json, "\"learning_rate\": \"adaptive\""));
    assert_non_null(strstr(json, "\"state\": {"));
    free(json);

    /* outputs and score through the ops equal the typed API */
    double got[SGD_N * 3], want[SGD_N * 3];
    assert_int_equal(ops->n_outputs(st, 4), 1);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_PROBA, 4), 3);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_DECISION, 4), 3);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_INTERVAL, 4), 0);
    assert_int_equal(ops->transform(st, sgd_x4, SGD_N, 4, 4, got, 1, &err), SF_OK);
    assert_int_equal(sf_sgd_predict(direct, sgd_x4, SGD_N, 4, 4, want, 1, &err), SF_OK);
    assert_memory_equal(got, want, SGD_N * sizeof(double));
    assert_int_equal(ops->output_as(st, SFI_OUT_PROBA, sgd_x4, SGD_N, 4, 4, got, 3, &err), SF_OK);
    assert_int_equal(sf_sgd_predict_proba(direct, sgd_x4, SGD_N, 4, 4, want, 3, &err), SF_OK);
    assert_memory_equal(got, want, sizeof got);
    assert_int_equal(ops->output_as(st, SFI_OUT_DECISION, sgd_x4, SGD_N, 4, 4, got, 3, &err), SF_OK);
    assert_int_equal(sf_sgd_decision_function(direct, sgd_x4, SGD_N, 4, 4, want, 3, &err), SF_OK);
    assert_memory_equal(got, want, sizeof got);
    assert_int_equal(ops->output_as(st, SFI_OUT_TRANSFORM, sgd_x4, SGD_N, 4, 4, got, 3, &err), SF_ERR_UNSUPPORTED);
    double sum = 0, count = 0, acc;
    sf_block blk = {.n_rows = SGD_N, .n_cols = 4, .ld = 4, .x = (double *)sgd_x4, .y = (double *)sgd_y4_3};
    assert_int_equal(ops->score(st, &blk, &sum, &count, &err), SF_OK);
    assert_int_equal(sf_sgd_score(direct, sgd_x4, SGD_N, 4, 4, sgd_y4_3, NULL, &acc, &err), SF_OK);
    assert_double_bits(sum / count, acc);
    /* the target may hold a subset of classes=[...], not more */
    double some[2] = {-2, 7}, more[2] = {2, 9};
    assert_int_equal(ops->set_classes(st, some, 2, &err), SF_OK);
    assert_int_equal(ops->set_classes(st, more, 2, &err), SF_ERR_ARG);
    assert_int_equal(err.where.column, (size_t)(strstr(spec, "[7") - spec) + 1);
    ops->free(st);
    sf_sgd_free(direct);
}

static hid_t h5_tmp(char **path)
{
    *path = sf_test_write_tmp("", 0, ".h5");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fcreate(*path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

/* save -> load -> continue equals the uninterrupted fit, for each kind. */
static void test_stage_save_load(void **state)
{
    (void)state;
    static const struct { const char *spec; const double *y; } kinds[] = {
        {"sgd_classifier(loss=modified_huber, penalty=elasticnet, average=5, alpha=0.01, "
         "class_weight=[[5, 0.5]])", sgd_y4_2},
        {"sgd_regressor(penalty=l1, average=true, max_iter=3, tol=None)", sgd_y4_r},
        {"perceptron(penalty=l2, classes=[-2, 2, 7])", sgd_y4_3},
        {"passive_aggressive_classifier(loss=squared_hinge, C=0.1, average=true)", sgd_y4_3},
        {"passive_aggressive_regressor(epsilon=0.2)", sgd_y4_r},
        {"sgd_classifier(loss=log_loss, shuffle=true, random_state=3, shuffle_block=16)", sgd_y4_3},
        {"sgd_regressor(early_stopping=true, validation_fraction=0.2, average=3, penalty=l1, max_iter=9)", sgd_y4_r},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const sfi_stage_ops *ops;
        sf_error err;
        void *whole = stage_new(kinds[k].spec, &ops, &err, SF_OK);
        void *part = stage_new(kinds[k].spec, &ops, &err, SF_OK);
        stage_feed(ops, whole, sgd_x4, kinds[k].y, NULL, 4, 0, SGD_N, 9);
        stage_feed(ops, part, sgd_x4, kinds[k].y, NULL, 4, 0, 23, 9);
        char *path;
        hid_t f = h5_tmp(&path);
        assert_true(f >= 0);
        hid_t g = H5Gcreate2(f, "stage_0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        sfi_h5ctx c = {.file = path, .err = &err};
        assert_int_equal(ops->save(part, g, &c), SF_OK);
        void *back = NULL;
        assert_int_equal(ops->load(&back, g, 4, &c), SF_OK);
        sfi_buf ja = {0}, jb = {0};
        ops->to_json(part, &ja);
        ops->to_json(back, &jb);
        assert_string_equal(ja.data, jb.data);
        free(ja.data);
        free(jb.data);
        void *wrong = (void *)1;
        assert_int_equal(ops->load(&wrong, g, 5, &c), SF_ERR_PARSE); /* another input width */
        assert_null(wrong);
        H5Gclose(g);
        H5Fclose(f);
        unlink(path);
        free(path);
        stage_feed(ops, back, sgd_x4, kinds[k].y, NULL, 4, 23, SGD_N, 4);
        ja = (sfi_buf){0};
        jb = (sfi_buf){0};
        ops->to_json(whole, &ja);
        ops->to_json(back, &jb);
        assert_string_equal(ja.data, jb.data); /* shortest round-trip numbers: bitwise */
        if (k == 0) assert_non_null(strstr(ja.data, "\"coef_\": [["));
        if (k == 1) assert_non_null(strstr(ja.data, "\"coef_\": [0") || strstr(ja.data, "\"coef_\": [-") ||
                                    strstr(ja.data, "\"coef_\": [1"));
        free(ja.data);
        free(jb.data);
        ops->free(whole);
        ops->free(part);
        ops->free(back);
    }
}

static sf_pipeline *fit_pipeline(const char *path, const sf_source_options *so, const char *spec)
{
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_open(&src, path, so, &err), SF_OK);
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = 2;
    fo.target = "y";
    sf_status r = sf_pipeline_fit(pl, src, &fo, &err);
    if (r != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(r, SF_OK);
    sf_source_close(src);
    return pl;
}

/* Overwrites values of a 1-D float64 dataset in place. */
static void poke(hid_t g, const char *name, size_t at, double v)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t start[1] = {at}, count[1] = {1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(1, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

/* Structurally valid model groups with wrong contents are refused as corrupt,
 * naming the file (Decision 17: our checks, not libhdf5's, are under test). */
static void test_stage_corrupt(void **state)
{
    (void)state;
    static const struct { const char *dataset; size_t at; double v; const char *needle; } cases[] = {
        {"vec", SF_SGD_V_WSCALE, 0.0, "wscale"},
        {"vec", SF_SGD_V_AVERAGE_B, -1.0, "average_b"},
        {"vec", SF_SGD_V_T, NAN, "t of vector"},
        {"w", 2, INFINITY, "weight"},
        {"q", 1, NAN, "weight"},
        {"classes_", 1, 3.0, "greater than one"},
        {NULL, 0, 0, "attribute \"alpha\""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const sfi_stage_ops *ops;
        sf_error err;
        void *st = stage_new("sgd_classifier(penalty=elasticnet, average=true)", &ops, &err, SF_OK);
        stage_feed(ops, st, sgd_x4, sgd_y4_2, NULL, 4, 0, SGD_N, 8);
        char *path;
        hid_t f = h5_tmp(&path);
        hid_t g = H5Gcreate2(f, "stage_0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        sfi_h5ctx c = {.file = path, .err = &err};
        assert_int_equal(ops->save(st, g, &c), SF_OK);
        if (cases[k].dataset) poke(g, cases[k].dataset, cases[k].at, cases[k].v);
        else assert_true(H5Adelete(g, "alpha") >= 0); /* a parameter missing */
        void *back = (void *)1;
        sf_status r = ops->load(&back, g, 4, &c);
        if (r != SF_ERR_PARSE || !strstr(err.message, cases[k].needle))
            print_error("%s: %d %s\n", cases[k].dataset ? cases[k].dataset : "alpha", r, err.message);
        assert_int_equal(r, SF_ERR_PARSE);
        assert_null(back);
        assert_non_null(strstr(err.message, cases[k].needle));
        assert_string_equal(err.where.source, path);
        H5Gclose(g);
        H5Fclose(f);
        unlink(path);
        free(path);
        ops->free(st);
    }
}

/* A whole pipeline over a CSV: the scaler's pass, then the learner's pass. */
static void test_pipeline_csv(void **state)
{
    (void)state;
    size_t n = 500, k = 0;
    char *text = malloc(n * 80 + 32);
    k += (size_t)sprintf(text + k, "a,b,c,y\n");
    double *x = malloc(n * 3 * sizeof *x), *y = malloc(n * sizeof *y);
    unsigned u = 7;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 3; j++) {
            u = u * 1103515245u + 12345u;
            x[i * 3 + j] = (double)(u >> 8) / 16777216.0 * (j + 1) + 10.0 * (double)j;
        }
        y[i] = x[i * 3] + 0.5 * x[i * 3 + 1] - 0.2 * x[i * 3 + 2] > 1.75 ? 1 : 0;
        k += (size_t)sprintf(text + k, "%.17g,%.17g,%.17g,%g\n", x[i * 3], x[i * 3 + 1], x[i * 3 + 2], y[i]);
    }
    char *path = sf_test_write_tmp(text, k, ".csv");
    free(text);
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 37;
    sf_error err;
    sf_pipeline *pl = fit_pipeline(path, &so, "scaler | sgd_classifier(loss=log_loss, average=true, classes=[0, 1])");
    /* the same rows through the same scaler (a pipeline of it alone: the same
     * segments, so bitwise the same statistics), then sf_sgd in one call */
    sf_pipeline *scaler = fit_pipeline(path, &so, "scaler");
    double *xs = malloc(n * 3 * sizeof *xs);
    assert_int_equal(sf_pipeline_transform(scaler, x, n, 3, 3, xs, 3, &err), SF_OK);
    sf_pipeline_free(scaler);
    sf_sgd_params p;
    sf_sgd_params_default(&p, SF_SGD_CLASSIFIER);
    p.loss = SF_SGD_LOSS_LOG_LOSS;
    p.average = 1;
    sf_sgd *m = NULL;
    assert_int_equal(sf_sgd_new(&m, &p, &err), SF_OK);
    assert_int_equal(sf_sgd_partial_fit(m, xs, n, 3, 3, y, NULL, &err), SF_OK);
    double *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    assert_int_equal(sf_pipeline_transform(pl, x, n, 3, 3, got, 1, &err), SF_OK);
    assert_int_equal(sf_sgd_predict(m, xs, n, 3, 3, want, 1, &err), SF_OK);
    assert_memory_equal(got, want, n * sizeof *got);
    char *json = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    char t_want[64];
    snprintf(t_want, sizeof t_want, "\"t_\": %zu", n + 1);
    assert_non_null(strstr(json, t_want));
    char coef0[64];
    snprintf(coef0, sizeof coef0, "\"coef_\": [[");
    const char *at = strstr(json, coef0);
    assert_non_null(at);
    assert_double_bits(strtod(at + strlen(coef0), NULL), sf_sgd_coef(m)[0]);
    free(json);
    free(got);
    free(want);
    free(xs);
    free(x);
    free(y);
    sf_sgd_free(m);
    sf_pipeline_free(pl);
    unlink(path);
    free(path);
}

/* Through the pipeline's C API: a classifier learning first (classes found by the
 * pipeline), epochs from the fit options, save, load, update on new rows. */
static char *write_csv(const double *x, const double *y, size_t a, size_t b, size_t p)
{
    char *text = malloc((b - a) * (p + 1) * 28 + 64);
    size_t k = 0;
    for (size_t j = 0; j < p; j++) k += (size_t)sprintf(text + k, "x%zu,", j);
    k += (size_t)sprintf(text + k, "y\n");
    for (size_t i = a; i < b; i++) {
        for (size_t j = 0; j < p; j++) k += (size_t)sprintf(text + k, "%.17g,", x[i * p + j]);
        k += (size_t)sprintf(text + k, "%.17g\n", y[i]);
    }
    char *path = sf_test_write_tmp(text, k, ".csv");
    free(text);
    return path;
}

static sf_source *open_csv(const char *path)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = 6;
    sf_source *src = NULL;
    assert_int_equal(sf_source_open(&src, path, &so, NULL), SF_OK);
    return src;
}

static void test_pipeline_epochs_update(void **state)
{
    (void)state;
    char *all = write_csv(sgd_x4, sgd_y4_3, 0, SGD_N, 4), *first = write_csv(sgd_x4, sgd_y4_3, 0, 23, 4);
    char *rest = write_csv(sgd_x4, sgd_y4_3, 23, SGD_N, 4);
    sf_error err;
    /* epochs: the fixture's fit() case, through sf_pipeline_fit with epochs = 40 */
    size_t idx = 0;
    while (!(sgd_cases[idx].max_iter > 1 && sgd_cases[idx].lr == SF_SGD_LR_ADAPTIVE &&
             sgd_cases[idx].target == 3 && sgd_cases[idx].data == 4))
        idx++;
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, "sgd_classifier(loss=log_loss, penalty=elasticnet, alpha=0.01, "
                                          "l1_ratio=0.3, learning_rate=adaptive, eta0=0.1, tol=0.01, "
                                          "n_iter_no_change=2, epsilon=0.3)", &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = 2;
    fo.target = "y";
    fo.epochs = 40;
    sf_source *src = open_csv(all);
    sf_status r = sf_pipeline_fit(pl, src, &fo, &err);
    if (r != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(r, SF_OK);
    sf_source_close(src);
    char *json = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    const char *at = strstr(json, "\"coef_\": [[");
    assert_non_null(at);
    at += strlen("\"coef_\": [[");
    const double *want = sgd_values + sgd_cases[idx].off;
    for (size_t i = 0; i < 12; i++) { /* 3 x 4, printed shortest round-trip */
        char *end;
        assert_double_bits(strtod(at, &end), want[i]);
        at = end + strspn(end, ", []");
    }
    char n_iter[32];
    snprintf(n_iter, sizeof n_iter, "\"n_iter_\": %d,", sgd_cases[idx].n_iter);
    assert_non_null(strstr(json, n_iter));
    free(json);
    sf_pipeline_free(pl);

    /* fit on the first 23 rows, save, load, update on the rest == one pass over all */
    const char *spec = "sgd_classifier(loss=modified_huber, penalty=l1, average=7, alpha=0.01)";
    sf_pipeline *a = NULL, *b = NULL, *loaded = NULL;
    fo.epochs = 0;
    assert_int_equal(sf_pipeline_new(&a, spec, &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&b, spec, &err), SF_OK);
    src = open_csv(all);
    assert_int_equal(sf_pipeline_fit(a, src, &fo, &err), SF_OK);
    sf_source_close(src);
    src = open_csv(first);
    assert_int_equal(sf_pipeline_fit(b, src, &fo, &err), SF_OK);
    sf_source_close(src);
    char model[128];
    snprintf(model, sizeof model, "%s.model.h5", first);
    assert_int_equal(sf_pipeline_save(b, model, &err), SF_OK);
    assert_int_equal(sf_pipeline_load(&loaded, model, &err), SF_OK);
    src = open_csv(rest);
    r = sf_pipeline_update(loaded, src, &fo, &err);
    if (r != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(r, SF_OK);
    sf_source_close(src);
    char *ja = NULL, *jb = NULL;
    assert_int_equal(sf_pipeline_to_json(a, &ja, &err), SF_OK);
    assert_int_equal(sf_pipeline_to_json(loaded, &jb, &err), SF_OK);
    const char *sa = strstr(ja, "\"stages\""), *sb = strstr(jb, "\"stages\"");
    assert_non_null(sa);
    assert_non_null(sb);
    assert_string_equal(sa, sb); /* every fitted number and the learning state, bitwise */
    free(ja);
    free(jb);
    unlink(model);
    sf_pipeline_free(a);
    sf_pipeline_free(b);
    sf_pipeline_free(loaded);
    char *paths[3] = {all, first, rest};
    for (int i = 0; i < 3; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parity_and_chunks),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_parallel_ova),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_early_stopping_shuffle),
        cmocka_unit_test(test_predictions),
        cmocka_unit_test(test_concurrent_predict),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_state_epochs),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_state),
        cmocka_unit_test(test_csr_rollback),
        cmocka_unit_test(test_stage_params),
        cmocka_unit_test(test_stage_learning),
        cmocka_unit_test(test_stage_save_load),
        cmocka_unit_test(test_stage_corrupt),
        cmocka_unit_test(test_pipeline_csv),
        cmocka_unit_test(test_pipeline_epochs_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
