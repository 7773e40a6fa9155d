/* test_kmeans.c — mini-batch k-means (estimators/kmeans.c) against scikit-learn
 * 1.2.1 (fixture: tests/reference/make_kmeans_fixtures.py) on blobs (600 x 5),
 * iris (150 x 4) and wine (178 x 13, features on scales from 0.1 to 1000).
 * - partial_fit over fixed batches, after EVERY step: cluster_centers_ to 1e-10
 *   relative (absolute floor 1e-10 × the largest |center|), _counts to 1e-12,
 *   inertia_ to 1e-10 relative; cases: explicit init with reassignment_ratio=0
 *   (with and without sample weights), two reassignment cases (one where more
 *   than half the batch is flagged and the cap applies), k-means++ (k = 4, 8) and
 *   random init with random_state, init_size subsampling, iris (also weighted),
 *   wine (k-means++; random init, weighted, batch_size 50);
 * - the k-means++ initial centers equal the rows sklearn's _kmeans_plusplus picks
 *   (bitwise);
 * - predict equal, transform to 1e-10 relative, score to 1e-10 relative;
 * - save → set_state → continue equals one uninterrupted fit, bitwise;
 * - distances on a pool of 2 or 3 workers: the same model, bitwise;
 * - Lloyd refinement: inertia never increases, and the fixed point equals
 *   sklearn's KMeans(algorithm="lloyd", tol=0) from the same start: inertia to
 *   1e-9 relative, centers to 1e-9, also from starts with one and two centers
 *   far from all rows (sklearn's relocation of empty clusters); merged
 *   per-segment accumulators agree with one accumulator to 1e-12;
 * - bad parameters and bad input: a clear error naming the field, model unchanged.
 * Stage "minibatch_kmeans", driven through its ops table as the pipeline does
 * (clone_empty per worker, merge in segment order, begin/end_pass):
 * - re-cutting blocks of 37 or 600 rows into batch_size=128 batches: centers and
 *   counts bitwise equal to each other and equal to sklearn's partial_fit over
 *   128-row batches (1e-10); blocks with or without y; fewer rows than
 *   batch_size: one step at the end of the pass = sklearn's partial_fit(X);
 * - refine: inertia never increases, ends at sklearn's KMeans(lloyd) inertia from
 *   the mini-batch centers (1e-9); 1 or 3 segments agree to 1e-12;
 * - predict / distances / score; JSON keys; save → load → continue bitwise equal
 *   to continuing the original; spec errors point at the value; a model group
 *   with one attribute or dataset replaced by a bad value is refused (SF_ERR_PARSE).
 * End to end through sf_pipeline_fit on a memory source (37-row chunks, 3
 * segments): the export is byte-identical for 1 and 2 threads; centers equal
 * sklearn's (mini-batch 1e-10, after refine 1e-9); sf_pipeline_score's inertia
 * 1e-9; save → load gives the same export; update after load = update of the
 * original (byte-identical export). The mini-batch pass alone (200-row batches,
 * 37- and 200-row blocks) on 1, 2 and 3 threads: exports byte-identical (the last
 * batch kept and measured at the end of the pass), centers and inertia_ equal
 * sklearn's to 1e-10.
 * Batches in parts (the stage labels and sums each block as it comes): 37-row
 * weighted blocks with reassignments, and a 60,000 x 8 pipeline whose chunks come
 * in parts and whose parts' labels go to the learner's pool, on 1, 2 and 3
 * threads: bitwise equal to sf_kmeans_partial_fit on whole batches; so are
 * k = 1 and k = 3 with 7-row batches from blocks of 1, 3 and 50 rows whose stride
 * is wider than the features, with zero weights among them.
 */
#include "sf_test.h"

#include <unistd.h>

#include "core/np_random.h"
#include "pipeline/stage.h"
#include "estimators/kmeans_internal.h"
#include "../tests/reference/kmeans_fixture.h"

static double max_abs(const double *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static void close_array(const double *got, const double *want, size_t n, double rel, const char *what,
                        size_t step)
{
    double floor = rel * max_abs(want, n);
    for (size_t i = 0; i < n; i++) {
        if (!(fabs(got[i] - want[i]) <= floor || fabs(got[i] - want[i]) <= rel * fabs(want[i])))
            print_error("%s, step %zu, index %zu: ", what, step, i);
        assert_double_close(got[i], want[i], rel, floor);
    }
}

static sf_kmeans *model_for(const km_case *c)
{
    sf_kmeans_params p;
    sf_kmeans_params_default(&p);
    p.n_clusters = c->k;
    p.init = c->init;
    p.init_centers = c->init_centers;
    p.init_n_features = c->init_centers ? c->p : 0;
    p.random_state = c->seed;
    p.reassignment_ratio = c->ratio;
    p.batch_size = c->batch_size;
    p.init_size = c->init_size;
    sf_kmeans *km = NULL;
    sf_error err;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_OK);
    return km;
}

static void run_case(const km_case *c)
{
    sf_kmeans *km = model_for(c);
    sf_error err;
    size_t a = 0, k = c->k, p = c->p;
    for (size_t s = 0; s < c->n_batches; s++) {
        size_t b = c->batches[s];
        sf_status st = sf_kmeans_partial_fit(km, c->data + a * p, b, p, p, c->weighted ? km_weights + a : NULL, &err);
        if (st != SF_OK) print_error("%s: %s\n", c->name, err.message);
        assert_int_equal(st, SF_OK);
        close_array(sf_kmeans_cluster_centers(km), c->centers + s * k * p, k * p, 1e-10, c->name, s);
        close_array(sf_kmeans_counts(km), c->counts + s * k, k, 1e-12, c->name, s);
        assert_double_close(sf_kmeans_inertia(km), c->inertia[s], 1e-10, 0);
        assert_int_equal(sf_kmeans_n_steps(km), s + 1);
        a += b;
    }
    sf_kmeans_free(km);
}

static void test_parity_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < KM_N_CASES; i++) run_case(&km_cases[i]);
}

static const km_case *find_case(const char *name)
{
    for (size_t i = 0; i < KM_N_CASES; i++)
        if (strcmp(km_cases[i].name, name) == 0) return &km_cases[i];
    fail();
    return NULL;
}

static void test_kmeanspp_init(void **state)
{
    (void)state;
    const km_case *c = find_case("kpp");
    sf_kmeans *km = model_for(c);
    double centers[4 * KM_BLOBS_P];
    sf_error err;
    assert_int_equal(sfi_kmeans_initial_centers(km, km_blobs, c->batches[0], c->p, c->p, centers, &err), SF_OK);
    for (size_t j = 0; j < 4; j++)
        for (size_t f = 0; f < c->p; f++) {
            assert_double_bits(centers[j * c->p + f], km_kpp_init_centers[j * c->p + f]);
            assert_double_bits(centers[j * c->p + f], km_blobs[km_kpp_init_idx[j] * c->p + f]);
        }
    sf_kmeans_free(km);
}

static sf_kmeans *fit_case(const km_case *c)
{
    sf_kmeans *km = model_for(c);
    sf_error err;
    size_t a = 0;
    for (size_t s = 0; s < c->n_batches; s++) {
        assert_int_equal(sf_kmeans_partial_fit(km, c->data + a * c->p, c->batches[s], c->p, c->p,
                                               c->weighted ? km_weights + a : NULL, &err),
                         SF_OK);
        a += c->batches[s];
    }
    return km;
}

static void test_predict_transform_score(void **state)
{
    (void)state;
    sf_kmeans *km = fit_case(find_case("kpp"));
    sf_error err;
    size_t labels[KM_BLOBS_N];
    assert_int_equal(sf_kmeans_predict(km, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, labels, &err), SF_OK);
    for (size_t i = 0; i < KM_BLOBS_N; i++) assert_int_equal(labels[i], km_kpp_predict[i]);
    double d[50 * 6];
    assert_int_equal(sf_kmeans_transform(km, km_blobs, 50, KM_BLOBS_P, KM_BLOBS_P, d, 6, &err), SF_OK);
    for (size_t i = 0; i < 50; i++)
        for (size_t j = 0; j < 4; j++) assert_double_close(d[i * 6 + j], km_kpp_transform[i * 4 + j], 1e-10, 1e-12);
    double inertia;
    assert_int_equal(sf_kmeans_inertia_of(km, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, NULL, &inertia, &err),
                     SF_OK);
    assert_double_close(-inertia, km_kpp_score, 1e-10, 0);
    assert_int_equal(sf_kmeans_inertia_of(km, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, km_weights, &inertia,
                                          &err),
                     SF_OK);
    assert_double_close(-inertia, km_kpp_score_w, 1e-10, 0);
    sf_kmeans_free(km);
}

/* Distances on a pool of 2 and 3 workers: bitwise the same model. */
static void test_pool(void **state)
{
    (void)state;
    const km_case *c = find_case("kpp8");
    sf_error err;
    sf_pool *pools[2] = {NULL, NULL};
    assert_int_equal(sf_pool_new(&pools[0], 2, &err), SF_OK);
    assert_int_equal(sf_pool_new(&pools[1], 3, &err), SF_OK);
    sf_kmeans *ref = model_for(c), *par[2] = {model_for(c), model_for(c)};
    sf_kmeans_set_pool(par[0], pools[0]);
    sf_kmeans_set_pool(par[1], pools[1]);
    for (int rep = 0; rep < 3; rep++) /* 600-row batches: three blocks */
        for (int t = 0; t < 3; t++) {
            sf_kmeans *km = t == 0 ? ref : par[t - 1];
            assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, NULL, &err),
                             SF_OK);
        }
    for (int t = 0; t < 2; t++) {
        assert_memory_equal(sf_kmeans_cluster_centers(ref), sf_kmeans_cluster_centers(par[t]),
                            8 * KM_BLOBS_P * sizeof(double));
        assert_memory_equal(sf_kmeans_counts(ref), sf_kmeans_counts(par[t]), 8 * sizeof(double));
        assert_double_bits(sf_kmeans_inertia(ref), sf_kmeans_inertia(par[t]));
        sf_kmeans_free(par[t]);
        sf_pool_free(pools[t]);
    }
    sf_kmeans_free(ref);
}

/* A model, its state copied out, restored into a new model: both continue equally. */
static void test_resume(void **state)
{
    (void)state;
    const km_case *c = find_case("reassign");
    size_t k = c->k, p = c->p, cut = 4, a = 0;
    sf_kmeans *km = model_for(c), *other = model_for(c);
    sf_error err;
    for (size_t s = 0; s < cut; s++) {
        assert_int_equal(sf_kmeans_partial_fit(km, c->data + a * p, c->batches[s], p, p, NULL, &err), SF_OK);
        a += c->batches[s];
    }
    double centers[6 * KM_BLOBS_P], counts[6];
    sf_kmeans_state ks;
    assert_int_equal(sf_kmeans_get_state(km, centers, counts, &ks, &err), SF_OK);
    assert_int_equal(sf_kmeans_set_state(other, p, centers, counts, &ks, &err), SF_OK);
    for (size_t s = cut; s < c->n_batches; s++) {
        assert_int_equal(sf_kmeans_partial_fit(km, c->data + a * p, c->batches[s], p, p, NULL, &err), SF_OK);
        assert_int_equal(sf_kmeans_partial_fit(other, c->data + a * p, c->batches[s], p, p, NULL, &err), SF_OK);
        a += c->batches[s];
    }
    for (size_t i = 0; i < k * p; i++)
        assert_double_bits(sf_kmeans_cluster_centers(km)[i], sf_kmeans_cluster_centers(other)[i]);
    for (size_t j = 0; j < k; j++) assert_double_bits(sf_kmeans_counts(km)[j], sf_kmeans_counts(other)[j]);
    assert_double_bits(sf_kmeans_inertia(km), sf_kmeans_inertia(other));
    assert_int_equal(sf_kmeans_n_steps(other), c->n_batches);
    /* and both equal sklearn's final step */
    close_array(sf_kmeans_cluster_centers(other), c->centers + (c->n_batches - 1) * k * p, k * p, 1e-10, "resume", 0);
    /* a copy continues the same way too */
    sf_kmeans *copy = NULL;
    assert_int_equal(sf_kmeans_copy(other, &copy, &err), SF_OK);
    assert_int_equal(sf_kmeans_partial_fit(other, km_blobs, 50, p, p, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_partial_fit(copy, km_blobs, 50, p, p, NULL, &err), SF_OK);
    for (size_t i = 0; i < k * p; i++)
        assert_double_bits(sf_kmeans_cluster_centers(copy)[i], sf_kmeans_cluster_centers(other)[i]);
    sf_kmeans_free(copy);
    sf_kmeans_free(km);
    sf_kmeans_free(other);
}

/* A fitted model whose centers are `start` (counts 0). */
static sf_kmeans *model_at(const double *start, size_t k, size_t p)
{
    sf_kmeans_params prm;
    sf_kmeans_params_default(&prm);
    prm.n_clusters = k;
    prm.random_state = 0;
    sf_kmeans *km = NULL;
    sf_error err;
    assert_int_equal(sf_kmeans_new(&km, &prm, &err), SF_OK);
    sf_kmeans_state ks;
    memset(&ks, 0, sizeof ks);
    sfi_np_rng r;
    sfi_np_seed(&r, 0);
    memcpy(ks.rng_key, r.key, sizeof ks.rng_key);
    ks.rng_pos = r.pos;
    ks.batch_size = 1024;
    double counts[16] = {0};
    assert_int_equal(sf_kmeans_set_state(km, p, start, counts, &ks, &err), SF_OK);
    return km;
}

/* Lloyd passes until no center moves; returns the number of passes. Each pass's
 * inertia (of the centers it started from) must not exceed the previous one. */
static size_t refine(sf_kmeans *km, const double *w, size_t n_seg)
{
    sf_error err;
    double prev = INFINITY;
    size_t passes = 0;
    size_t n = KM_BLOBS_N, p = KM_BLOBS_P;
    for (;;) {
        sf_kmeans_lloyd *acc = NULL, *part = NULL;
        assert_int_equal(sf_kmeans_lloyd_new(&acc, km, &err), SF_OK);
        assert_int_equal(sf_kmeans_lloyd_new(&part, km, &err), SF_OK);
        for (size_t g = 0; g < n_seg; g++) {
            size_t a = g * n / n_seg, b = (g + 1) * n / n_seg;
            sf_kmeans_lloyd_reset(part);
            assert_int_equal(sf_kmeans_lloyd_accumulate(part, km, km_blobs + a * p, b - a, p, p, w ? w + a : NULL, &err),
                             SF_OK);
            assert_int_equal(sf_kmeans_lloyd_merge(acc, part, &err), SF_OK);
        }
        double inertia = sf_kmeans_lloyd_inertia(acc);
        assert_true(inertia <= prev * (1 + 1e-15));
        prev = inertia;
        bool moved;
        assert_int_equal(sf_kmeans_lloyd_apply(km, acc, &moved, &err), SF_OK);
        assert_double_bits(sf_kmeans_inertia(km), inertia);
        sf_kmeans_lloyd_free(acc);
        sf_kmeans_lloyd_free(part);
        passes++;
        if (!moved || passes > 500) break;
    }
    return passes;
}

/* Lloyd from start (k centers) over n_seg segments until nothing moves: the
 * inertia and (if given) the centers of sklearn's KMeans(lloyd) to 1e-9. */
static void check_lloyd(const double *start, size_t k, const double *w, size_t n_seg, double want_inertia,
                        const double *want_centers, const char *what)
{
    sf_kmeans *km = model_at(start, k, KM_BLOBS_P);
    size_t passes = refine(km, w, n_seg);
    assert_true(passes < 500);
    assert_double_close(sf_kmeans_inertia(km), want_inertia, 1e-9, 0);
    if (want_centers) close_array(sf_kmeans_cluster_centers(km), want_centers, k * KM_BLOBS_P, 1e-9, what, passes);
    sf_kmeans_free(km);
}

static void test_lloyd(void **state)
{
    (void)state;
    check_lloyd(km_lloyd_start, 4, NULL, 1, km_lloyd_inertia, km_lloyd_centers, "lloyd");
    check_lloyd(km_lloyd_start, 4, km_weights, 3, km_lloyd_w_inertia, km_lloyd_w_centers, "lloyd weighted");
    check_lloyd(km_lloyd8_start, 8, NULL, 4, km_lloyd8_inertia, NULL, "lloyd k=8");
}

/* Starting centers far from every row: sklearn relocates each empty one to the
 * row farthest from its center; so do we (one and two empty clusters). */
static void test_lloyd_empty(void **state)
{
    (void)state;
    check_lloyd(km_lloyd_empty1_start, 5, NULL, 2, km_lloyd_empty1_inertia, km_lloyd_empty1_centers, "empty1");
    check_lloyd(km_lloyd_empty2_start, 6, NULL, 3, km_lloyd_empty2_inertia, km_lloyd_empty2_centers, "empty2");
}

/* One accumulator over everything vs three merged: equal to rounding. */
static void test_lloyd_merge(void **state)
{
    (void)state;
    size_t p = KM_BLOBS_P;
    sf_kmeans *one = model_at(km_lloyd8_start, 8, p), *three = model_at(km_lloyd8_start, 8, p);
    sf_kmeans_lloyd *acc = NULL, *parts[3], *merged = NULL;
    sf_error err;
    assert_int_equal(sf_kmeans_lloyd_new(&acc, one, &err), SF_OK);
    assert_int_equal(sf_kmeans_lloyd_accumulate(acc, one, km_blobs, KM_BLOBS_N, p, p, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_lloyd_new(&merged, three, &err), SF_OK);
    for (int g = 0; g < 3; g++) {
        assert_int_equal(sf_kmeans_lloyd_new(&parts[g], three, &err), SF_OK);
        assert_int_equal(sf_kmeans_lloyd_accumulate(parts[g], three, km_blobs + g * 200 * p, 200, p, p, NULL, &err),
                         SF_OK);
        assert_int_equal(sf_kmeans_lloyd_merge(merged, parts[g], &err), SF_OK);
        sf_kmeans_lloyd_free(parts[g]);
    }
    assert_double_close(sf_kmeans_lloyd_inertia(acc), sf_kmeans_lloyd_inertia(merged), 1e-12, 0);
    assert_int_equal(sf_kmeans_lloyd_apply(one, acc, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_lloyd_apply(three, merged, NULL, &err), SF_OK);
    close_array(sf_kmeans_cluster_centers(three), sf_kmeans_cluster_centers(one), 8 * p, 1e-12, "merge", 0);
    /* mismatched accumulators are refused */
    sf_kmeans *small = model_at(km_lloyd_start, 4, p);
    assert_int_equal(sf_kmeans_lloyd_merge(merged, acc, &err), SF_OK);
    assert_int_equal(sf_kmeans_lloyd_apply(small, acc, NULL, &err), SF_ERR_STATE);
    sf_kmeans_lloyd_free(acc);
    sf_kmeans_lloyd_free(merged);
    sf_kmeans_free(one);
    sf_kmeans_free(three);
    sf_kmeans_free(small);
}

static void test_bad_params(void **state)
{
    (void)state;
    sf_kmeans_params p;
    sf_kmeans *km = NULL;
    sf_error err;
    sf_kmeans_params_default(&p);
    p.n_clusters = 0;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "n_clusters");
    assert_null(km);
    sf_kmeans_params_default(&p);
    p.reassignment_ratio = 1.5;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "reassignment_ratio");
    p.reassignment_ratio = NAN;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    sf_kmeans_params_default(&p);
    p.random_state = (int64_t)1 << 32;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "random_state");
    sf_kmeans_params_default(&p);
    p.init = SF_KMEANS_INIT_ARRAY;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "init");
    sf_kmeans_params_default(&p);
    p.batch_size = 0;
    assert_int_equal(sf_kmeans_new(&km, &p, &err), SF_ERR_ARG);
    assert_string_equal(err.field_name, "batch_size");
    assert_null(km);
}

static void snapshot(const sf_kmeans *km, double *c, double *n, sf_kmeans_state *s)
{
    sf_error err;
    assert_int_equal(sf_kmeans_get_state(km, c, n, s, &err), SF_OK);
}

static void test_bad_input(void **state)
{
    (void)state;
    const km_case *c = find_case("explicit");
    sf_kmeans *km = model_for(c);
    sf_error err;
    size_t p = c->p;
    size_t labels[4];
    /* before fitting */
    assert_int_equal(sf_kmeans_predict(km, km_blobs, 4, p, p, labels, &err), SF_ERR_STATE);
    double c0[4 * KM_BLOBS_P];
    assert_int_equal(sf_kmeans_get_state(km, c0, c0, &(sf_kmeans_state){0}, &err), SF_ERR_STATE);
    /* a first batch smaller than k */
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 3, p, p, NULL, &err), SF_ERR_ARG);
    assert_non_null(strstr(err.message, "n_samples=3 should be >= n_clusters=4"));
    assert_null(sf_kmeans_cluster_centers(km));
    /* centers of the wrong width */
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 100, 4, p, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 100, p, p, NULL, &err), SF_OK);
    double before_c[4 * KM_BLOBS_P], before_n[4], after_c[4 * KM_BLOBS_P], after_n[4];
    sf_kmeans_state before, after;
    snapshot(km, before_c, before_n, &before);
    double bad[10 * KM_BLOBS_P];
    memcpy(bad, km_blobs, sizeof bad);
    bad[3 * p + 2] = NAN;
    assert_int_equal(sf_kmeans_partial_fit(km, bad, 10, p, p, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 4);
    assert_int_equal(err.where.field, 3);
    bad[3 * p + 2] = 0;
    bad[12] = NAN; /* rows of stride 10: row 2, field 3 */
    assert_int_equal(sf_kmeans_partial_fit(km, bad, 5, p, 2 * p, NULL, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 2);
    assert_int_equal(err.where.field, 3);
    bad[12] = 0;
    bad[3 * p + 2] = INFINITY;
    assert_int_equal(sf_kmeans_partial_fit(km, bad, 10, p, p, NULL, &err), SF_ERR_ARG);
    double w[10] = {1, 1, 1, 1, -1, 1, 1, 1, 1, 1};
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 10, p, p, w, &err), SF_ERR_ARG);
    assert_int_equal(err.where.row, 5);
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 10, p + 1, p + 1, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 10, p, p - 1, NULL, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_kmeans_partial_fit(km, NULL, 10, p, p, NULL, &err), SF_ERR_ARG);
    assert_int_equal(sf_kmeans_transform(km, km_blobs, 10, p, p, after_c, 3, &err), SF_ERR_SHAPE);
    assert_int_equal(sf_kmeans_predict(km, bad, 10, p, p, labels, &err), SF_ERR_ARG);
    snapshot(km, after_c, after_n, &after);
    assert_memory_equal(before_c, after_c, sizeof before_c);
    assert_memory_equal(before_n, after_n, sizeof before_n);
    assert_memory_equal(&before, &after, sizeof before);
    /* a corrupt state is refused and changes nothing */
    sf_kmeans_state broken = before;
    broken.rng_pos = 700;
    assert_int_equal(sf_kmeans_set_state(km, p, before_c, before_n, &broken, &err), SF_ERR_ARG);
    double wide[4 * (KM_BLOBS_P + 1)] = {0};
    assert_int_equal(sf_kmeans_set_state(km, p + 1, wide, before_n, &before, &err), SF_ERR_SHAPE);
    before_n[1] = -1;
    assert_int_equal(sf_kmeans_set_state(km, p, before_c, before_n, &before, &err), SF_ERR_ARG);
    snapshot(km, after_c, after_n, &after);
    assert_memory_equal(&before, &after, sizeof before);
    /* n = 0 is a no-op */
    assert_int_equal(sf_kmeans_partial_fit(km, km_blobs, 0, p, p, NULL, &err), SF_OK);
    assert_int_equal(sf_kmeans_n_steps(km), 1);
    sf_kmeans_free(km);
    sf_kmeans_free(NULL);
}

/* ------------------------------------------------------------ the stage */

static void *stage_new(const char *text, sf_error *err, sf_status want)
{
    sfi_spec spec;
    assert_int_equal(sfi_spec_parse(text, &spec, err), SF_OK);
    const sfi_stage_ops *ops = sfi_stage_find(spec.stages[0].kind);
    assert_ptr_equal(ops, &sfi_kmeans_stage);
    void *st = NULL;
    sf_status got = ops->create(&st, &spec.stages[0], err);
    sfi_spec_free(&spec);
    if (got != want) print_error("%s: %s\n", text, err->message);
    assert_int_equal(got, want);
    return st;
}

static sf_block block_of(const double *x, size_t n, size_t p, double *y, double *w)
{
    sf_block b = {.n_rows = n, .n_cols = p, .ld = p, .capacity = n, .x = (double *)x, .y = y, .w = w};
    return b;
}

/* One pass the way the pipeline runs it: a worker state per segment from
 * clone_empty, merged in order into a fresh clone; returns the new state. */
static void *run_pass(void *st, unsigned pass, size_t n_seg, size_t chunk, bool with_y, bool *again)
{
    const sfi_stage_ops *ops = &sfi_kmeans_stage;
    sf_error err;
    double y[KM_BLOBS_N] = {0};
    assert_int_equal(ops->begin_pass(st, pass, &err), SF_OK);
    void *merged = NULL;
    assert_int_equal(ops->clone_empty(st, &merged, &err), SF_OK);
    for (size_t g = 0; g < n_seg; g++) {
        size_t a = g * KM_BLOBS_N / n_seg, e = (g + 1) * KM_BLOBS_N / n_seg;
        void *part = NULL;
        assert_int_equal(ops->clone_empty(st, &part, &err), SF_OK);
        for (size_t i = a; i < e; i += chunk) {
            size_t m = e - i < chunk ? e - i : chunk;
            sf_block b = block_of(km_blobs + i * KM_BLOBS_P, m, KM_BLOBS_P, with_y ? y + i : NULL, NULL);
            assert_int_equal(ops->partial_fit(part, &b, &err), SF_OK);
        }
        assert_int_equal(ops->merge(merged, part, &err), SF_OK);
        ops->free(part);
    }
    ops->free(st);
    assert_int_equal(ops->end_pass(merged, pass, again, &err), SF_OK);
    return merged;
}

/* Every pass the stage asks for; the number of passes in *passes. */
static void *fit_stage(const char *text, size_t chunk, size_t n_seg, bool with_y, unsigned *passes)
{
    sf_error err;
    void *st = stage_new(text, &err, SF_OK);
    void *fresh = NULL;
    assert_int_equal(sfi_kmeans_stage.clone_empty(st, &fresh, &err), SF_OK); /* as sf_pipeline_fit */
    sfi_kmeans_stage.free(st);
    st = fresh;
    bool again = true;
    unsigned pass = 0;
    while (again) {
        assert_false(sfi_kmeans_stage.pass_mergeable(st, pass) != (pass > 0));
        st = run_pass(st, pass, pass == 0 ? 1 : n_seg, chunk, with_y, &again);
        pass++;
        assert_true(pass < 100);
    }
    if (passes) *passes = pass;
    return st;
}

/* The sf_kmeans inside a stage, through its JSON-free route: get_state. */
static void stage_centers(void *st, double *centers, double *counts, sf_kmeans_state *ks)
{
    sf_kmeans *km = *(sf_kmeans **)st; /* km_stage's first member */
    sf_error err;
    assert_int_equal(sf_kmeans_get_state(km, centers, counts, ks, &err), SF_OK);
}

#define STAGE_SPEC "minibatch_kmeans(n_clusters=4, batch_size=128, random_state=42)"

static void test_stage_batches(void **state)
{
    (void)state;
    double c1[4 * KM_BLOBS_P], n1[4], c2[4 * KM_BLOBS_P], n2[4];
    sf_kmeans_state k1, k2;
    unsigned passes;
    void *a = fit_stage(STAGE_SPEC, 37, 1, false, &passes);
    assert_int_equal(passes, 1);
    void *b = fit_stage(STAGE_SPEC, 600, 1, true, NULL);
    stage_centers(a, c1, n1, &k1);
    stage_centers(b, c2, n2, &k2);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(n1, n2, sizeof n1);
    assert_int_equal(k1.n_steps, 5); /* 4 x 128 and the 88 left over */
    close_array(c1, km_stage_centers, 4 * KM_BLOBS_P, 1e-10, "stage", 0);
    close_array(n1, km_stage_counts, 4, 1e-12, "stage counts", 0);
    assert_double_close(k1.inertia, km_stage_inertia, 1e-10, 0);
    sfi_kmeans_stage.free(a);
    sfi_kmeans_stage.free(b);
}

/* Fewer rows than batch_size (1024): one step on all 600 at the end of the pass,
 * as sklearn's partial_fit(X). */
static void test_stage_short(void **state)
{
    (void)state;
    double c[4 * KM_BLOBS_P], n[4];
    sf_kmeans_state ks;
    void *st = fit_stage("minibatch_kmeans(n_clusters=4, random_state=42)", 37, 1, false, NULL);
    stage_centers(st, c, n, &ks);
    assert_int_equal(ks.n_steps, 1);
    assert_int_equal(ks.batch_size, KM_BLOBS_N);
    close_array(c, km_whole_centers, 4 * KM_BLOBS_P, 1e-10, "whole", 0);
    assert_double_close(ks.inertia, km_whole_inertia, 1e-10, 0);
    sfi_kmeans_stage.free(st);
}

static void test_stage_refine(void **state)
{
    (void)state;
    unsigned passes;
    void *a = fit_stage("minibatch_kmeans(n_clusters=4, batch_size=128, random_state=42, refine=20)", 50, 1, false,
                        &passes);
    void *b = fit_stage("minibatch_kmeans(n_clusters=4, batch_size=128, random_state=42, refine=20)", 64, 3, false,
                        NULL);
    assert_true(passes >= 2 && passes <= 21);
    double c1[4 * KM_BLOBS_P], n1[4], c2[4 * KM_BLOBS_P], n2[4];
    sf_kmeans_state k1, k2;
    stage_centers(a, c1, n1, &k1);
    stage_centers(b, c2, n2, &k2);
    assert_double_close(k1.inertia, km_stage_lloyd_inertia, 1e-9, 0);
    close_array(c1, km_stage_lloyd_centers, 4 * KM_BLOBS_P, 1e-9, "stage refine", 0);
    close_array(c2, c1, 4 * KM_BLOBS_P, 1e-12, "segments", 0);
    assert_double_close(k2.inertia, k1.inertia, 1e-12, 0);
    /* refine_inertia_ in the export: non-increasing, last = inertia_ */
    sfi_buf js = {0};
    sfi_kmeans_stage.to_json(a, &js);
    assert_false(js.failed);
    const char *h = strstr(js.data, "\"refine_inertia_\": [");
    assert_non_null(h);
    h += strlen("\"refine_inertia_\": [");
    double prev = INFINITY, v = NAN;
    int count = 0;
    while (*h != ']') {
        char *end;
        v = strtod(h, &end);
        assert_true(end > h);
        assert_true(v <= prev);
        prev = v;
        count++;
        h = end;
        while (*h == ',' || *h == ' ') h++;
    }
    assert_int_equal(count, passes - 1);
    assert_double_close(v, k1.inertia, 1e-15, 0);
    for (const char *key = "cluster_centers_\0counts_\0n_steps_\0inertia_\0\"params\"\0\"state\"\0"; *key;
         key += strlen(key) + 1)
        assert_non_null(strstr(js.data, key));
    free(js.data);
    sfi_kmeans_stage.free(a);
    sfi_kmeans_stage.free(b);
}

static void test_stage_outputs(void **state)
{
    (void)state;
    void *st = fit_stage(STAGE_SPEC, 100, 1, false, NULL);
    const sfi_stage_ops *ops = &sfi_kmeans_stage;
    sf_error err;
    sf_kmeans *km = *(sf_kmeans **)st;
    double out[20 * 4];
    size_t labels[20];
    assert_int_equal(ops->n_outputs(st, KM_BLOBS_P), 1);
    assert_int_equal(ops->transform(st, km_blobs, 20, KM_BLOBS_P, KM_BLOBS_P, out, 2, &err), SF_OK);
    assert_int_equal(sf_kmeans_predict(km, km_blobs, 20, KM_BLOBS_P, KM_BLOBS_P, labels, &err), SF_OK);
    for (size_t i = 0; i < 20; i++) assert_double_bits(out[i * 2], (double)labels[i]);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_TRANSFORM, KM_BLOBS_P), 4);
    assert_int_equal(ops->n_outputs_as(st, SFI_OUT_PROBA, KM_BLOBS_P), 0);
    double d[20 * 4];
    assert_int_equal(ops->output_as(st, SFI_OUT_TRANSFORM, km_blobs, 20, KM_BLOBS_P, KM_BLOBS_P, out, 4, &err), SF_OK);
    assert_int_equal(sf_kmeans_transform(km, km_blobs, 20, KM_BLOBS_P, KM_BLOBS_P, d, 4, &err), SF_OK);
    assert_memory_equal(out, d, sizeof d);
    double sum, count, inertia;
    sf_block b = block_of(km_blobs, KM_BLOBS_N, KM_BLOBS_P, NULL, NULL);
    assert_int_equal(ops->score(st, &b, &sum, &count, &err), SF_OK);
    assert_int_equal(sf_kmeans_inertia_of(km, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, NULL, &inertia, &err),
                     SF_OK);
    assert_double_bits(sum, -inertia);
    assert_double_bits(count, KM_BLOBS_N);
    ops->free(st);
}

/* Saves stage st into group "stage" of a new file at path (a mkstemp template);
 * returns the open file and the group in *g. */
static hid_t save_stage(const void *st, char *path, const sfi_h5ctx *c, hid_t *g)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    *g = H5Gcreate2(f, "stage", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_int_equal(sfi_kmeans_stage.save(st, *g, c), SF_OK);
    return f;
}

/* save → load → one more pass of blocks equals continuing the original (Decision 1). */
static void test_stage_save_load(void **state)
{
    (void)state;
    const sfi_stage_ops *ops = &sfi_kmeans_stage;
    void *st = fit_stage("minibatch_kmeans(init=[[0,0,0,0,0],[5,5,5,5,5],[-5,-5,-5,-5,-5]], batch_size=64, "
                         "reassignment_ratio=0.3, random_state=9, refine=2)",
                         100, 1, false, NULL);
    char path[] = "/tmp/sf_kmeans_XXXXXX";
    sf_error err;
    sfi_h5ctx c = {.file = path, .err = &err};
    hid_t g, f = save_stage(st, path, &c, &g);
    H5Gclose(g);
    H5Fclose(f);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    g = H5Gopen2(f, "stage", H5P_DEFAULT);
    void *back = NULL;
    assert_int_equal(ops->load(&back, g, KM_BLOBS_P + 1, &c), SF_ERR_PARSE); /* wrong width: corrupt */
    assert_null(back);
    assert_int_equal(ops->load(&back, g, KM_BLOBS_P, &c), SF_OK);
    H5Gclose(g);
    H5Fclose(f);
    unlink(path);
    sfi_buf j1 = {0}, j2 = {0};
    ops->to_json(st, &j1);
    ops->to_json(back, &j2);
    assert_string_equal(j1.data, j2.data);
    free(j1.data);
    free(j2.data);
    /* continue both with a mini-batch pass (update) */
    bool again;
    st = run_pass(st, 0, 1, 70, false, &again);
    back = run_pass(back, 0, 1, 70, false, &again);
    double c1[3 * KM_BLOBS_P], n1[3], c2[3 * KM_BLOBS_P], n2[3];
    sf_kmeans_state k1, k2;
    stage_centers(st, c1, n1, &k1);
    stage_centers(back, c2, n2, &k2);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(n1, n2, sizeof n1);
    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_int_equal(k1.n_steps, 2 * 10); /* continued: 600 rows in 64-row batches, twice */
    ops->free(st);
    ops->free(back);
}

/* A saved stage with one attribute or dataset replaced by a bad value of the
 * right type (the file stays valid HDF5, Decision 17): load refuses it with
 * SF_ERR_PARSE and a message naming the problem. */
typedef struct km_mutation {
    const char *name;
    bool is_attr, is_str;
    int64_t i;
    const char *str;
    double v;       /* dataset: value written at index `at` */
    size_t at, len; /* dataset length (0 = the saved one) */
    const char *expect;
} km_mutation;

static void test_stage_load_corrupt(void **state)
{
    (void)state;
    const sfi_stage_ops *ops = &sfi_kmeans_stage;
    void *st = fit_stage("minibatch_kmeans(n_clusters=3, batch_size=100, random_state=4)", 100, 1, false, NULL);
    const size_t p = KM_BLOBS_P;
    static const km_mutation muts[] = {
        {"n_clusters", true, false, 0, NULL, 0, 0, 0, "n_clusters"},
        {"batch_size", true, false, -5, NULL, 0, 0, 0, "batch_size"},
        {"rng_pos", true, false, 625, NULL, 0, 0, 0, "rng_pos"},
        {"random_state", true, false, (int64_t)1 << 33, NULL, 0, 0, 0, "random_state"},
        {"init", true, true, 0, "bogus", 0, 0, 0, "init"},
        {"reassignment_ratio", true, true, 0, "0.1x", 0, 0, 0, "reassignment_ratio"},
        {"reassignment_ratio", true, true, 0, "7", 0, 0, 0, "reassignment_ratio"},
        {"counts_", false, false, 0, NULL, -1, 1, 3, "count"},
        {"cluster_centers_", false, false, 0, NULL, NAN, 4, 3 * KM_BLOBS_P, "non-finite"},
        {"cluster_centers_", false, false, 0, NULL, 1, 0, 3 * KM_BLOBS_P - 1, "cluster_centers_"},
        {"rng_key", false, false, 0, NULL, 4294967296.0, 5, 624, "rng_key"},
        {"rng_key", false, false, 0, NULL, 0.5, 5, 624, "rng_key"},
        {"inertia_", false, false, 0, NULL, 1, 0, 2, "inertia_"},
    };
    for (size_t m = 0; m < sizeof muts / sizeof muts[0]; m++) {
        const km_mutation *mu = &muts[m];
        char path[] = "/tmp/sf_kmeans_bad_XXXXXX";
        sf_error err;
        sfi_h5ctx c = {.file = path, .err = &err};
        hid_t g, f = save_stage(st, path, &c, &g);
        if (mu->is_attr) {
            assert_true(H5Adelete(g, mu->name) >= 0);
            if (mu->is_str) assert_int_equal(sfi_h5_attr_write_str(&c, g, mu->name, mu->str), SF_OK);
            else assert_int_equal(sfi_h5_attr_write_i64(&c, g, mu->name, mu->i), SF_OK);
        } else {
            double *v = NULL;
            size_t n = 0;
            assert_int_equal(sfi_h5_read_vec(&c, g, mu->name, 0, &v, &n), SF_OK);
            double *nv = calloc(mu->len, sizeof *nv);
            memcpy(nv, v, (n < mu->len ? n : mu->len) * sizeof *nv);
            if (mu->at < mu->len) nv[mu->at] = mu->v;
            assert_true(H5Ldelete(g, mu->name, H5P_DEFAULT) >= 0);
            assert_int_equal(sfi_h5_write_vec(&c, g, mu->name, nv, mu->len), SF_OK);
            free(v);
            free(nv);
        }
        H5Gclose(g);
        H5Fclose(f);
        f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        g = H5Gopen2(f, "stage", H5P_DEFAULT);
        void *back = (void *)1;
        sf_status got = ops->load(&back, g, p, &c);
        if (got != SF_ERR_PARSE || !strstr(err.message, mu->expect))
            print_error("mutation %zu (%s): status %d, \"%s\"\n", m, mu->name, got, err.message);
        assert_int_equal(got, SF_ERR_PARSE);
        assert_null(back);
        assert_non_null(strstr(err.message, mu->expect));
        H5Gclose(g);
        H5Fclose(f);
        unlink(path);
    }
    ops->free(st);
}

static void test_stage_spec_errors(void **state)
{
    (void)state;
    sf_error err;
    stage_new("minibatch_kmeans(n_clusters=0)", &err, SF_ERR_ARG);
    assert_int_equal(err.where.column, 29);
    stage_new("minibatch_kmeans(n_clusters=2.5)", &err, SF_ERR_ARG);
    stage_new("minibatch_kmeans(reassignment_ratio=7)", &err, SF_ERR_ARG);
    assert_int_equal(err.where.column, 37);
    assert_non_null(strstr(err.message, "reassignment_ratio"));
    stage_new("minibatch_kmeans(n_cluster=3)", &err, SF_ERR_ARG);
    assert_non_null(strstr(err.message, "unknown parameter n_cluster"));
    stage_new("minibatch_kmeans(init=kmeans)", &err, SF_ERR_ARG); /* a bare word: a typo */
    stage_new("minibatch_kmeans(init=no_such_centers.csv)", &err, SF_ERR_IO); /* a file name: missing */
    /* centers from a CSV file; a non-numeric one is refused */
    char *path = sf_test_write_tmp("a,b\n1,2\n3,4.5\n-1,0\n", 19, ".csv");
    char spec[256];
    snprintf(spec, sizeof spec, "minibatch_kmeans(init=\"%s\")", path ? path : "");
    void *fs = stage_new(spec, &err, SF_OK);
    sfi_buf js = {0};
    sfi_kmeans_stage.to_json(fs, &js);
    assert_non_null(strstr(js.data, "\"n_clusters\": 3, \"init\": [[1, 2], [3, 4.5], [-1, 0]]"));
    free(js.data);
    sfi_kmeans_stage.free(fs);
    unlink(path);
    free(path);
    path = sf_test_write_tmp("a,b\n1,x\n", 8, ".csv");
    snprintf(spec, sizeof spec, "minibatch_kmeans(init=\"%s\")", path ? path : "");
    stage_new(spec, &err, SF_ERR_ARG);
    assert_non_null(strstr(err.message, "not a number"));
    unlink(path);
    free(path);
    stage_new("minibatch_kmeans(init=[[1,2],[3]])", &err, SF_ERR_ARG);
    stage_new("minibatch_kmeans(n_clusters=3, init=[[1,2],[3,4]])", &err, SF_ERR_ARG);
    assert_non_null(strstr(err.message, "init has 2 centers, n_clusters is 3"));
    stage_new("minibatch_kmeans(random_state=-2)", &err, SF_ERR_ARG);
    stage_new("minibatch_kmeans(refine=-1)", &err, SF_ERR_ARG);
    void *st = stage_new("minibatch_kmeans(init=[[1,2],[3,4]], random_state=None, init_size=null, max_iter=5, "
                         "tol=0.1, n_init=3, compute_labels=false)",
                         &err, SF_OK);
    /* a block with a NaN is refused whole, before any step */
    double x[6] = {0, 1, 2, 3, NAN, 5};
    sf_block b = block_of(x, 3, 2, NULL, NULL);
    assert_int_equal(sfi_kmeans_stage.begin_pass(st, 0, &err), SF_OK);
    assert_int_equal(sfi_kmeans_stage.partial_fit(st, &b, &err), SF_ERR_ARG);
    bool again;
    assert_int_equal(sfi_kmeans_stage.end_pass(st, 0, &again, &err), SF_ERR_STATE); /* nothing seen */
    sfi_kmeans_stage.free(st);
}

/* ------------------------------------------------------------ end to end */

/* The numbers of the JSON array after "key": [[a, b], [c]] or [a, b]. */
static size_t json_numbers(const char *js, const char *key, double *out, size_t max)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *h = strstr(js, pat);
    assert_non_null(h);
    h += strlen(pat);
    size_t n = 0;
    int depth = 0;
    do {
        if (*h == '[') depth++, h++;
        else if (*h == ']') depth--, h++;
        else if (*h == ',' || *h == ' ') h++;
        else {
            char *end;
            double v = strtod(h, &end);
            assert_true(end > h);
            if (n < max) out[n] = v;
            n++;
            h = end;
        }
    } while (depth > 0);
    return n;
}

/* x (KM_BLOBS_N rows of the blobs' width) as a memory source of chunk_rows-row
 * chunks and segments. */
static sf_source *rows_source(const double *x, size_t chunk_rows, size_t segment_rows)
{
    sf_source_options so;
    sf_source_options_init(&so);
    so.chunk_rows = chunk_rows;
    if (segment_rows) so.segment_rows = segment_rows;
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&src, x, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, NULL, NULL, NULL, &so, &err),
                     SF_OK);
    return src;
}

static sf_source *blobs_source(size_t chunk_rows, size_t segment_rows)
{
    return rows_source(km_blobs, chunk_rows, segment_rows);
}

/* A pipeline fitted on src with threads workers, and its export in *json. */
static sf_pipeline *fit_on(sf_source *src, const char *spec, size_t threads, char **json)
{
    sf_error err;
    sf_pipeline *pl = NULL;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    sf_status st = sf_pipeline_fit(pl, src, &fo, &err);
    if (st != SF_OK) print_error("%s\n", err.message);
    assert_int_equal(st, SF_OK);
    assert_int_equal(sf_pipeline_to_json(pl, json, &err), SF_OK);
    return pl;
}

static sf_pipeline *fit_pipeline(const char *spec, size_t threads, char **json)
{
    sf_source *src = blobs_source(37, 200);
    sf_pipeline *pl = fit_on(src, spec, threads, json);
    sf_source_close(src);
    return pl;
}

static void test_pipeline_end_to_end(void **state)
{
    (void)state;
    const char *spec = "minibatch_kmeans(n_clusters=4, batch_size=128, random_state=42, refine=20)";
    char *j1 = NULL, *j2 = NULL, *j3 = NULL;
    sf_pipeline *one = fit_pipeline(spec, 1, &j1), *two = fit_pipeline(spec, 2, &j2);
    assert_string_equal(j1, j2);
    double c[4 * KM_BLOBS_P];
    assert_int_equal(json_numbers(j1, "cluster_centers_", c, 4 * KM_BLOBS_P), 4 * KM_BLOBS_P);
    close_array(c, km_stage_lloyd_centers, 4 * KM_BLOBS_P, 1e-9, "pipeline refine", 0);
    double inertia;
    assert_int_equal(json_numbers(j1, "inertia_", &inertia, 1), 1);
    assert_double_close(inertia, km_stage_lloyd_inertia, 1e-9, 0);
    sf_source *src = NULL;
    sf_error err;
    assert_int_equal(sf_source_from_memory(&src, km_blobs, KM_BLOBS_N, KM_BLOBS_P, KM_BLOBS_P, NULL, NULL, NULL,
                                           NULL, &err),
                     SF_OK);
    sf_score sc;
    assert_int_equal(sf_pipeline_score(one, src, 2, &sc, &err), SF_OK);
    assert_double_close(sc.inertia, km_stage_lloyd_inertia, 1e-9, 0);
    assert_double_close(sc.score, -km_stage_lloyd_inertia, 1e-9, 0);
    sf_source_close(src);
    /* distances through the pipeline */
    assert_int_equal(sf_pipeline_n_outputs_as(one, SF_OUTPUT_TRANSFORM), 4);
    double d[10 * 4], lab[10];
    assert_int_equal(sf_pipeline_predict_as(one, SF_OUTPUT_TRANSFORM, km_blobs, 10, KM_BLOBS_P, KM_BLOBS_P, d, 4,
                                            &err),
                     SF_OK);
    assert_int_equal(sf_pipeline_transform(one, km_blobs, 10, KM_BLOBS_P, KM_BLOBS_P, lab, 1, &err), SF_OK);
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++) assert_true(d[i * 4 + (size_t)lab[i]] <= d[i * 4 + j]);
    /* save, load, same export; then update both the same way */
    char path[] = "/tmp/sf_kmeans_model_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sf_pipeline_save(one, path, &err), SF_OK);
    sf_pipeline *back = NULL;
    assert_int_equal(sf_pipeline_load(&back, path, &err), SF_OK);
    unlink(path);
    assert_int_equal(sf_pipeline_to_json(back, &j3, &err), SF_OK);
    assert_string_equal(j1, j3);
    free(j3);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = 2;
    sf_pipeline *both[2] = {one, back};
    char *after[2];
    for (int t = 0; t < 2; t++) {
        assert_int_equal(sf_source_from_memory(&src, km_blobs + 100 * KM_BLOBS_P, 300, KM_BLOBS_P, KM_BLOBS_P, NULL,
                                               NULL, NULL, NULL, &err),
                         SF_OK);
        sf_status st = sf_pipeline_update(both[t], src, &fo, &err);
        if (st != SF_OK) print_error("update: %s\n", err.message);
        assert_int_equal(st, SF_OK);
        sf_source_close(src);
        assert_int_equal(sf_pipeline_to_json(both[t], &after[t], &err), SF_OK);
    }
    assert_string_equal(after[0], after[1]);
    assert_string_not_equal(after[0], j1);
    free(after[0]);
    free(after[1]);
    free(j1);
    free(j2);
    sf_pipeline_free(one);
    sf_pipeline_free(two);
    sf_pipeline_free(back);
}

/* init_sample on blobs sorted by cluster (the first batch sees one cluster): the
 * export is the same for 1 and 2 threads, the initial centers are rows of the
 * data from more than one cluster, and without reassignment the fit ends nearer
 * the optimum than with the first batch's k-means++ (with reassignment on, sorted
 * batches hand the idle centers to rows of the current cluster either way: sort
 * order hurts mini-batch k-means whatever the init). */
static double fit_sorted(const char *spec, size_t threads, char **json, double *init)
{
    static double sorted[KM_BLOBS_N * KM_BLOBS_P];
    size_t r = 0;
    for (size_t c = 0; c < 4; c++)
        for (size_t i = 0; i < KM_BLOBS_N; i++)
            if (km_kpp_predict[i] == c) memcpy(sorted + r++ * KM_BLOBS_P, km_blobs + i * KM_BLOBS_P, sizeof(double) * KM_BLOBS_P);
    assert_int_equal(r, KM_BLOBS_N);
    sf_source *src = rows_source(sorted, 64, 150);
    sf_error err;
    sf_pipeline *pl = fit_on(src, spec, threads, json);
    if (init) assert_int_equal(json_numbers(*json, "init", init, 4 * KM_BLOBS_P), 4 * KM_BLOBS_P);
    assert_int_equal(sf_source_rewind(src, &err), SF_OK);
    sf_score sc;
    assert_int_equal(sf_pipeline_score(pl, src, 1, &sc, &err), SF_OK);
    sf_source_close(src);
    sf_pipeline_free(pl);
    return sc.inertia;
}

static void test_init_sample(void **state)
{
    (void)state;
    const char *spec = "minibatch_kmeans(n_clusters=4, batch_size=64, random_state=3, reassignment_ratio=0, "
                       "init_sample=120)";
    char *j1, *j2, *j0;
    double init[4 * KM_BLOBS_P];
    double in1 = fit_sorted(spec, 1, &j1, init);
    fit_sorted(spec, 2, &j2, NULL);
    assert_string_equal(j1, j2);
    double in0 = fit_sorted("minibatch_kmeans(n_clusters=4, batch_size=64, random_state=3, reassignment_ratio=0)", 1,
                            &j0, NULL);
    print_message("sorted blobs: inertia %.6g with init_sample, %.6g without, optimum %.6g\n", in1, in0,
                  km_stage_lloyd_inertia);
    assert_true(in1 < in0);
    /* each sorted cluster streams into its own center: the running means are the
     * cluster means, sklearn's Lloyd optimum */
    assert_double_close(in1, km_stage_lloyd_inertia, 1e-9, 0);
    /* every initial center is a row; they come from at least two clusters */
    bool seen[4] = {false};
    for (size_t j = 0; j < 4; j++) {
        size_t found = KM_BLOBS_N;
        for (size_t i = 0; i < KM_BLOBS_N && found == KM_BLOBS_N; i++)
            if (memcmp(init + j * KM_BLOBS_P, km_blobs + i * KM_BLOBS_P, sizeof(double) * KM_BLOBS_P) == 0) found = i;
        assert_true(found < KM_BLOBS_N);
        seen[km_kpp_predict[found]] = true;
    }
    assert_true(seen[0] + seen[1] + seen[2] + seen[3] >= 2);
    free(j0);
    free(j1);
    free(j2);
}

/* The mini-batch pass alone through the pipeline: sklearn's 128-row batches. */
static void test_pipeline_minibatch(void **state)
{
    (void)state;
    char *js = NULL;
    sf_pipeline *pl = fit_pipeline("minibatch_kmeans(n_clusters=4, batch_size=128)", 1, &js);
    sf_pipeline_free(pl);
    free(js);
    sf_source *src = blobs_source(50, 0);
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, "minibatch_kmeans(n_clusters=4, batch_size=128)", &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.has_seed = true; /* --seed fills random_state */
    fo.seed = 42;
    assert_int_equal(sf_pipeline_fit(pl, src, &fo, &err), SF_OK);
    sf_source_close(src);
    assert_int_equal(sf_pipeline_to_json(pl, &js, &err), SF_OK);
    double c[4 * KM_BLOBS_P];
    assert_int_equal(json_numbers(js, "cluster_centers_", c, 4 * KM_BLOBS_P), 4 * KM_BLOBS_P);
    close_array(c, km_stage_centers, 4 * KM_BLOBS_P, 1e-10, "pipeline minibatch", 0);
    assert_int_equal(json_numbers(js, "counts_", c, 4), 4);
    close_array(c, km_stage_counts, 4, 1e-12, "pipeline counts", 0);
    free(js);
    sf_pipeline_free(pl);
}

/* The mini-batch pass on 1, 2 and 3 threads, 200-row batches: cut from 37-row
 * blocks and straight from 200-row blocks. The stage keeps the last batch and
 * measures it at the end of the pass: the same inertia_, bitwise (exports
 * byte-identical), and centers and inertia_ equal sklearn's (1e-10). */
static void test_pipeline_threads_inertia(void **state)
{
    (void)state;
    const char *spec = "minibatch_kmeans(n_clusters=4, batch_size=200, random_state=42)";
    size_t chunks[2] = {37, 200};
    for (size_t c = 0; c < 2; c++) {
        char *js[3] = {NULL, NULL, NULL};
        for (size_t t = 0; t < 3; t++) {
            sf_source *src = blobs_source(chunks[c], 200);
            sf_pipeline_free(fit_on(src, spec, t + 1, &js[t]));
            sf_source_close(src);
        }
        assert_string_equal(js[0], js[1]);
        assert_string_equal(js[0], js[2]);
        double v[4 * KM_BLOBS_P];
        assert_int_equal(json_numbers(js[1], "cluster_centers_", v, 4 * KM_BLOBS_P), 4 * KM_BLOBS_P);
        close_array(v, km_stage200_centers, 4 * KM_BLOBS_P, 1e-10, "200-row batches", 0);
        assert_int_equal(json_numbers(js[1], "inertia_", v, 1), 1);
        assert_double_close(v[0], km_stage200_inertia, 1e-10, 0);
        for (size_t t = 0; t < 3; t++) free(js[t]);
    }
}

/* Rows that look like n draws around k centers (a fixed generator: the same
 * numbers on every machine), n x p into x. */
static void synthetic_rows(double *x, size_t n, size_t p, size_t k)
{
    uint64_t z = 88172645463325252u;
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < p; f++) {
            z ^= z << 13, z ^= z >> 7, z ^= z << 17;
            double u = (double)(z >> 11) / 9007199254740992.0; /* [0, 1) */
            x[i * p + f] = (double)((i * 7 + f) % k) * 4.0 + 2.0 * u - 1.0;
        }
}

/* A model (k clusters, batch_size bs, random_state rs, reassignment_ratio r)
 * after sf_kmeans_partial_fit on the n rows of x (p columns, weights w or NULL)
 * in consecutive batches of bs rows, the last one shorter. */
static sf_kmeans *fit_in_batches(size_t k, size_t bs, int64_t rs, double r, const double *x, size_t n, size_t p,
                                 const double *w)
{
    sf_kmeans_params kp;
    sf_kmeans_params_default(&kp);
    kp.n_clusters = k;
    kp.batch_size = bs;
    kp.random_state = rs;
    kp.reassignment_ratio = r;
    sf_kmeans *km = NULL;
    sf_error err;
    assert_int_equal(sf_kmeans_new(&km, &kp, &err), SF_OK);
    for (size_t i = 0; i < n; i += bs) {
        size_t m = n - i < bs ? n - i : bs;
        assert_int_equal(sf_kmeans_partial_fit(km, x + i * p, m, p, p, w ? w + i : NULL, &err), SF_OK);
    }
    return km;
}

/* The stage fed 37-row blocks with weights (so batches start and end inside
 * blocks, and every step but the first is summed part by part as the blocks
 * come) against the model stepping on whole 128-row batches (and the 88 left
 * over) with the same weights: bitwise the same centers, counts, steps and
 * inertia_, with reassignments on (ratio 0.95 flags centers on most steps). */
static void test_stage_fed_parts(void **state)
{
    (void)state;
    const char *spec = "minibatch_kmeans(n_clusters=4, batch_size=128, random_state=5, reassignment_ratio=0.95)";
    sf_error err;
    double w[KM_BLOBS_N];
    for (size_t i = 0; i < KM_BLOBS_N; i++) w[i] = 0.25 + (double)(i % 7) * 0.5;
    void *st = stage_new(spec, &err, SF_OK);
    assert_int_equal(sfi_kmeans_stage.begin_pass(st, 0, &err), SF_OK);
    for (size_t i = 0; i < KM_BLOBS_N; i += 37) {
        size_t m = KM_BLOBS_N - i < 37 ? KM_BLOBS_N - i : 37;
        sf_block b = block_of(km_blobs + i * KM_BLOBS_P, m, KM_BLOBS_P, NULL, w + i);
        assert_int_equal(sfi_kmeans_stage.partial_fit(st, &b, &err), SF_OK);
    }
    bool again;
    assert_int_equal(sfi_kmeans_stage.end_pass(st, 0, &again, &err), SF_OK);
    assert_false(again);
    sf_kmeans *ref = fit_in_batches(4, 128, 5, 0.95, km_blobs, KM_BLOBS_N, KM_BLOBS_P, w);
    double c[4 * KM_BLOBS_P], n[4];
    sf_kmeans_state ks;
    stage_centers(st, c, n, &ks);
    assert_memory_equal(c, sf_kmeans_cluster_centers(ref), sizeof c);
    assert_memory_equal(n, sf_kmeans_counts(ref), sizeof n);
    assert_int_equal(ks.n_steps, sf_kmeans_n_steps(ref));
    assert_int_equal(ks.n_steps, 5);
    assert_double_bits(ks.inertia, sf_kmeans_inertia(ref));
    sf_kmeans_free(ref);
    /* reassignments did happen: without them the centers differ */
    ref = fit_in_batches(4, 128, 5, 0, km_blobs, KM_BLOBS_N, KM_BLOBS_P, w);
    assert_true(memcmp(c, sf_kmeans_cluster_centers(ref), sizeof c) != 0);
    sf_kmeans_free(ref);
    sfi_kmeans_stage.free(st);
}

/* Large enough for the in-order pass to hand the stage its chunks in parts
 * (40,000 x 8 doubles: 4 parts of 10,000 rows) and for each part's labels to
 * go to the learner's pool (10,000 rows x 16 centers x 8 features): 1, 2 and 3
 * threads give byte-identical exports, and the centers, counts and inertia_ are
 * bitwise those of sf_kmeans_partial_fit on the same 25,000-row batches (the
 * last of 10,000), which the pipeline cuts across parts, chunks and segments. */
#define PARTS_N 60000
#define PARTS_P 8
#define PARTS_K 16
static void test_pipeline_parts(void **state)
{
    (void)state;
    double *x = malloc(PARTS_N * PARTS_P * sizeof *x);
    assert_non_null(x);
    synthetic_rows(x, PARTS_N, PARTS_P, PARTS_K);
    const char *spec = "minibatch_kmeans(n_clusters=16, batch_size=25000, random_state=3)";
    char *js[3] = {NULL, NULL, NULL};
    sf_error err;
    for (size_t t = 0; t < 3; t++) {
        sf_source_options so;
        sf_source_options_init(&so);
        so.chunk_rows = 40000;
        so.segment_rows = 30000;
        sf_source *src = NULL;
        assert_int_equal(sf_source_from_memory(&src, x, PARTS_N, PARTS_P, PARTS_P, NULL, NULL, NULL, &so, &err),
                         SF_OK);
        sf_pipeline_free(fit_on(src, spec, t + 1, &js[t]));
        sf_source_close(src);
    }
    assert_string_equal(js[0], js[1]);
    assert_string_equal(js[0], js[2]);
    sf_kmeans_params dflt;
    sf_kmeans_params_default(&dflt);
    sf_kmeans *ref = fit_in_batches(PARTS_K, 25000, 3, dflt.reassignment_ratio, x, PARTS_N, PARTS_P, NULL);
    double v[PARTS_K * PARTS_P];
    assert_int_equal(json_numbers(js[0], "cluster_centers_", v, PARTS_K * PARTS_P), PARTS_K * PARTS_P);
    assert_memory_equal(v, sf_kmeans_cluster_centers(ref), sizeof v);
    assert_int_equal(json_numbers(js[0], "counts_", v, PARTS_K), PARTS_K);
    assert_memory_equal(v, sf_kmeans_counts(ref), PARTS_K * sizeof *v);
    assert_int_equal(json_numbers(js[0], "inertia_", v, 1), 1);
    assert_double_bits(v[0], sf_kmeans_inertia(ref));
    sf_kmeans_free(ref);
    for (size_t t = 0; t < 3; t++) free(js[t]);
    free(x);
}

/* Edges of the batch fed in parts: k = 1 and k = 3, 7-row batches cut from
 * blocks of 1, 3 and 50 rows (batches smaller than a block, blocks smaller than
 * a batch) with a row stride wider than the features (ld = p + 3), weights with
 * zeros: bitwise sf_kmeans_partial_fit on the whole 7-row batches. */
static void test_stage_fed_edges(void **state)
{
    (void)state;
    enum { N = 200, LD = KM_BLOBS_P + 3 };
    static double xs[N * LD];
    double w[N];
    for (size_t i = 0; i < N; i++) {
        for (size_t f = 0; f < LD; f++) xs[i * LD + f] = f < KM_BLOBS_P ? km_blobs[i * KM_BLOBS_P + f] : NAN;
        w[i] = i % 5 == 0 ? 0.0 : 0.5 + (double)(i % 3);
    }
    const size_t sizes[3] = {1, 3, 50};
    for (size_t k = 1; k <= 3; k += 2) {
        char spec[160];
        snprintf(spec, sizeof spec, "minibatch_kmeans(n_clusters=%zu, batch_size=7, random_state=9, reassignment_ratio=0.5)", k);
        sf_error err;
        void *st = stage_new(spec, &err, SF_OK);
        assert_int_equal(sfi_kmeans_stage.begin_pass(st, 0, &err), SF_OK);
        for (size_t i = 0, b = 0; i < N; b++) {
            size_t m = sizes[b % 3] < N - i ? sizes[b % 3] : N - i;
            sf_block blk = {.n_rows = m, .n_cols = KM_BLOBS_P, .ld = LD, .capacity = m, .x = xs + i * LD, .w = w + i};
            assert_int_equal(sfi_kmeans_stage.partial_fit(st, &blk, &err), SF_OK);
            i += m;
        }
        bool again;
        assert_int_equal(sfi_kmeans_stage.end_pass(st, 0, &again, &err), SF_OK);
        sf_kmeans *ref = fit_in_batches(k, 7, 9, 0.5, km_blobs, N, KM_BLOBS_P, w);
        double c[3 * KM_BLOBS_P], n[3];
        sf_kmeans_state ks;
        stage_centers(st, c, n, &ks);
        assert_memory_equal(c, sf_kmeans_cluster_centers(ref), k * KM_BLOBS_P * sizeof *c);
        assert_memory_equal(n, sf_kmeans_counts(ref), k * sizeof *n);
        assert_int_equal(ks.n_steps, sf_kmeans_n_steps(ref));
        assert_double_bits(ks.inertia, sf_kmeans_inertia(ref));
        sf_kmeans_free(ref);
        sfi_kmeans_stage.free(st);
    }
}

int main(void)
{
    sf_library_init();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_cases),   cmocka_unit_test(test_kmeanspp_init),
        cmocka_unit_test(test_predict_transform_score), cmocka_unit_test(test_resume),
        cmocka_unit_test(test_pool),           cmocka_unit_test(test_lloyd),
        cmocka_unit_test(test_lloyd_empty),          cmocka_unit_test(test_lloyd_merge),
        cmocka_unit_test(test_bad_params),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_stage_batches),  cmocka_unit_test(test_stage_short),
        cmocka_unit_test(test_stage_refine),
        cmocka_unit_test(test_stage_outputs),  cmocka_unit_test(test_stage_save_load),
        cmocka_unit_test(test_stage_spec_errors), cmocka_unit_test(test_stage_load_corrupt),
        cmocka_unit_test(test_pipeline_end_to_end),
        cmocka_unit_test(test_pipeline_minibatch), cmocka_unit_test(test_init_sample),
        cmocka_unit_test(test_pipeline_threads_inertia),
        cmocka_unit_test(test_stage_fed_parts), cmocka_unit_test(test_stage_fed_edges),  cmocka_unit_test(test_pipeline_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
