/* kmeans.c — MiniBatchKMeans.partial_fit (scikit-learn 1.2) and exact Lloyd passes.
 *
 * References (scikit-learn 1.2.1, read for the formulas; no code copied):
 * - cluster/_kmeans.py: MiniBatchKMeans.partial_fit, _check_params_vs_input
 *   (_batch_size, _init_size), _random_reassign, _mini_batch_step (reassignment),
 *   _BaseKMeans._init_centroids, _kmeans_plusplus;
 * - cluster/_k_means_minibatch.pyx: update_center_dense (the center update);
 * - cluster/_k_means_lloyd.pyx: _update_chunk_dense (labels: argmin over j of
 *   ||c_j||² - 2 x·c_j by GEMM in 256-row chunks, first minimum on ties);
 * - cluster/_k_means_common.pyx: _euclidean_dense_dense, _inertia_dense;
 * - metrics/pairwise.py: _euclidean_distances (k-means++ and transform).
 * Randomness: numpy's legacy RandomState, core/np_random.c.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__SSE2__) /* copy_past_cache's SSE2 stores (also i686 -msse2) */
#include <immintrin.h>
#endif

#include "core/np_random.h"
#include "core/sf_internal.h"
#include "estimators/kmeans_internal.h"

#define KM_BLOCK 256 /* rows per distance block, sklearn's CHUNK_SIZE */

struct sf_kmeans {
    sf_kmeans_params params; /* init_centers points at init_copy */
    double *init_copy;
    size_t k, p;             /* p = 0 until the first partial_fit */
    double *centers;         /* k x p */
    double *counts;          /* k: sklearn's _counts */
    sfi_np_rng rng;
    uint64_t n_steps, n_since_reassign, batch_size, init_size;
    double inertia;
    sf_pool *pool;           /* borrowed: partial_fit's distances, or NULL */
    struct step_work *work;  /* partial_fit's working memory, kept between calls
                              * (grown when needed; never shared with a copy) */
};

struct step_work;
static void step_work_free(struct step_work *s);

struct sf_kmeans_lloyd {
    size_t k, p;
    double *sums;   /* k x p: Σ w (x - c_j) */
    double *spread; /* k x p: Σ w |x - c_j|, the scale of the rounding in sums */
    double *weight; /* k: Σ w */
    double inertia;
    /* the k rows farthest from their centers, for clusters that end up empty
     * (_relocate_empty_clusters_dense); kept in the order they came */
    size_t n_far;
    double far_min;   /* the smallest kept distance once k are kept */
    double *far_d, *far_w, *far_x; /* k, k, k x p */
    size_t *far_label;
};

void sf_kmeans_params_default(sf_kmeans_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_clusters = 8;
    p->init = SF_KMEANS_INIT_KMEANSPP;
    p->batch_size = 1024;
    p->reassignment_ratio = 0.01;
    p->random_state = -1;
    p->compute_labels = true;
}

static sf_status bad_param(sf_error *err, const char *field, const char *msg)
{
    sf_status st = sfi_fail(err, SF_ERR_ARG, NULL, "%s: %s", field, msg);
    sfi_error_field(err, field);
    return st;
}

sf_status sf_kmeans_params_check(const sf_kmeans_params *p, sf_error *err)
{
    if (!p) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_params_check: NULL params");
    if (p->n_clusters < 1 || p->n_clusters > INT32_MAX)
        return bad_param(err, "n_clusters", "must be >= 1");
    if (p->batch_size < 1) return bad_param(err, "batch_size", "must be >= 1");
    if (!(p->reassignment_ratio >= 0 && p->reassignment_ratio <= 1))
        return bad_param(err, "reassignment_ratio", "must be in [0, 1]");
    if (p->random_state < -1 || p->random_state > (int64_t)UINT32_MAX)
        return bad_param(err, "random_state", "must be in [0, 2^32 - 1], or -1 for none");
    switch (p->init) {
    case SF_KMEANS_INIT_KMEANSPP:
    case SF_KMEANS_INIT_RANDOM:
        break;
    case SF_KMEANS_INIT_ARRAY:
        if (!p->init_centers || p->init_n_features < 1)
            return bad_param(err, "init", "explicit centers need init_centers and init_n_features");
        for (size_t i = 0; i < p->n_clusters * p->init_n_features; i++)
            if (!isfinite(p->init_centers[i])) return bad_param(err, "init", "centers must be finite");
        break;
    default:
        return bad_param(err, "init", "must be k-means++, random or an array of centers");
    }
    return SF_OK;
}

sf_status sf_kmeans_new(sf_kmeans **out, const sf_kmeans_params *p, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_new: NULL out");
    *out = NULL;
    sf_library_init();
    sf_kmeans_params def;
    if (!p) {
        sf_kmeans_params_default(&def);
        p = &def;
    }
    SF_TRY(sf_kmeans_params_check(p, err));
    sf_kmeans *km = calloc(1, sizeof *km);
    if (!km) return sfi_nomem(err);
    km->params = *p;
    km->k = p->n_clusters;
    km->inertia = NAN;
    if (p->init == SF_KMEANS_INIT_ARRAY) {
        size_t m = p->n_clusters * p->init_n_features;
        km->init_copy = malloc(m * sizeof *km->init_copy);
        if (!km->init_copy) {
            free(km);
            return sfi_nomem(err);
        }
        memcpy(km->init_copy, p->init_centers, m * sizeof *km->init_copy);
        km->params.init_centers = km->init_copy;
    } else {
        km->params.init_centers = NULL;
        km->params.init_n_features = 0;
    }
    /* sklearn's check_random_state: an int seeds RandomState(seed); None is the
     * global, unseeded state, here a clock seed */
    uint32_t seed = p->random_state >= 0 ? (uint32_t)p->random_state
                                         : (uint32_t)time(NULL) ^ (uint32_t)clock();
    sfi_np_seed(&km->rng, seed);
    *out = km;
    return SF_OK;
}

void sf_kmeans_free(sf_kmeans *km)
{
    if (!km) return;
    free(km->init_copy);
    free(km->centers);
    free(km->counts);
    step_work_free(km->work);
    free(km);
}

static double *dup_array(const double *a, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n) memcpy(d, a, n * sizeof *d);
    return d;
}

sf_status sf_kmeans_copy(const sf_kmeans *km, sf_kmeans **out, sf_error *err)
{
    if (!km || !out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_copy: NULL argument");
    *out = NULL;
    sf_kmeans *c = malloc(sizeof *c);
    if (!c) return sfi_nomem(err);
    *c = *km;
    c->init_copy = c->centers = c->counts = NULL;
    c->pool = NULL; /* borrowed by km for its own use: a copy may outlive it */
    c->work = NULL;
    bool ok = true;
    if (km->init_copy) {
        c->init_copy = dup_array(km->init_copy, km->k * km->params.init_n_features);
        c->params.init_centers = c->init_copy;
        ok = c->init_copy != NULL;
    }
    if (km->p) {
        c->centers = dup_array(km->centers, km->k * km->p);
        c->counts = dup_array(km->counts, km->k);
        ok = ok && c->centers && c->counts;
    }
    if (!ok) {
        sf_kmeans_free(c);
        return sfi_nomem(err);
    }
    *out = c;
    return SF_OK;
}

/* ---------------------------------------------------------------- helpers */

/* Squared distance summed in sklearn's order (_euclidean_dense_dense: groups of
 * four, each group summed left to right, then added). */
static double sq_dist(const double *a, const double *b, size_t p)
{
    double r = 0;
    size_t f = 0;
    for (; f + 4 <= p; f += 4) {
        double d0 = a[f] - b[f], d1 = a[f + 1] - b[f + 1], d2 = a[f + 2] - b[f + 2], d3 = a[f + 3] - b[f + 3];
        r += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
    }
    for (; f < p; f++) r += (a[f] - b[f]) * (a[f] - b[f]);
    return r;
}

static double sq_norm(const double *a, size_t p)
{
    double r = 0;
    for (size_t f = 0; f < p; f++) r += a[f] * a[f];
    return r;
}

/* ---- distances without BLAS ----
 *
 * Every distance in this file comes from x·c dot products summed feature by
 * feature, f = 0, 1, …, p-1, in double with no fused multiply-add (C11 mode
 * compiles with -ffp-contract=off): the same bits on every machine, for any
 * number of threads and any BLAS. Two reasons not to call GEMM here: the shapes
 * are tiny (256 rows x p x k, with k = 8 and p = 10 on the benchmark) so a
 * GEMM's packing costs more than the products, and the pools call it from
 * several threads at once, which a single-threaded BLAS build (Debian's
 * openblas-serial, r0.3.21) does not survive: its buffers are shared. */

#define KM_CB 8 /* centers per register block (two vectors of 4); the table pads k to a multiple */
#define KM_RB 4 /* rows per register block */

/* The centers prepared for the kernel: transposed and padded with zero columns
 * to kp = k rounded up to KM_CB (ct is p x kp), and their squared norms. */
typedef struct ctab {
    double *ct; /* p x kp: ct[f * kp + j] = c_j[f] */
    double *cn; /* kp: ||c_j||², INFINITY on the padding */
    size_t k, kp, p;
} ctab;

static size_t padded_k(size_t k) { return (k + KM_CB - 1) / KM_CB * KM_CB; }

static void ctab_free(ctab *t)
{
    free(t->ct);
    free(t->cn);
    t->ct = t->cn = NULL;
}

static sf_status ctab_alloc(ctab *t, size_t k, size_t p, sf_error *err)
{
    t->k = k;
    t->p = p;
    t->kp = padded_k(k);
    t->ct = calloc(t->kp * p, sizeof *t->ct);
    t->cn = malloc(t->kp * sizeof *t->cn);
    if (!t->ct || !t->cn) {
        ctab_free(t);
        return sfi_nomem(err);
    }
    return SF_OK;
}

/* Loads q rows of c (stride ldc) into t (allocated for at least q rows of p). */
static void ctab_fill(ctab *t, const double *c, size_t q, size_t ldc)
{
    size_t p = t->p, kp = t->kp;
    for (size_t j = 0; j < q; j++) {
        const double *cj = c + j * ldc;
        double r = 0;
        for (size_t f = 0; f < p; f++) {
            t->ct[f * kp + j] = cj[f];
            r += cj[f] * cj[f];
        }
        t->cn[j] = r;
    }
    for (size_t j = q; j < kp; j++) t->cn[j] = INFINITY; /* their ct columns stay 0 */
}

/* out[i * kp + j] = x_i·c_j for the m rows of x and all kp (padded) centers of t:
 * register blocks of KM_RB rows x KM_CB centers, each product summed in feature
 * order. With GCC or Clang the KM_CB centers are two vectors of four doubles (the
 * compiler splits them on narrower machines); on x86-64 Linux with GCC the
 * kernel is compiled twice, for AVX2 and the baseline, and picked at load time.
 * No contraction: every variant gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) /* a sanitized resolver runs before its runtime */
#define KM_CLONES __attribute__((target_clones("avx2", "default")))
#define KM_X86 1
#else
#define KM_CLONES
#endif
#if defined(__GNUC__)
typedef double km_v4 __attribute__((vector_size(4 * sizeof(double))));

/* (a macro: a function returning a vector type changes the ABI with AVX) */
#define V4_LOAD(v, a) memcpy(&(v), (a), sizeof(v))

KM_CLONES static void xc_dots(const double *x, size_t m, size_t ld, const ctab *t, double *out)
{
    size_t p = t->p, kp = t->kp;
    const double *ct = t->ct;
    size_t i = 0;
    for (; i + KM_RB <= m; i += KM_RB) {
        const double *x0 = x + i * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
        for (size_t j0 = 0; j0 < kp; j0 += KM_CB) {
            km_v4 a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
            for (size_t f = 0; f < p; f++) {
                km_v4 c0, c1;
                V4_LOAD(c0, ct + f * kp + j0);
                V4_LOAD(c1, ct + f * kp + j0 + 4);
                a0 += x0[f] * c0;
                b0 += x0[f] * c1;
                a1 += x1[f] * c0;
                b1 += x1[f] * c1;
                a2 += x2[f] * c0;
                b2 += x2[f] * c1;
                a3 += x3[f] * c0;
                b3 += x3[f] * c1;
            }
            double *o = out + i * kp + j0;
            memcpy(o, &a0, sizeof a0);
            memcpy(o + 4, &b0, sizeof b0);
            memcpy(o + kp, &a1, sizeof a1);
            memcpy(o + kp + 4, &b1, sizeof b1);
            memcpy(o + 2 * kp, &a2, sizeof a2);
            memcpy(o + 2 * kp + 4, &b2, sizeof b2);
            memcpy(o + 3 * kp, &a3, sizeof a3);
            memcpy(o + 3 * kp + 4, &b3, sizeof b3);
        }
    }
    for (; i < m; i++)
        for (size_t j0 = 0; j0 < kp; j0 += KM_CB) {
            km_v4 a0 = {0}, b0 = {0};
            for (size_t f = 0; f < p; f++) {
                km_v4 c0, c1;
                V4_LOAD(c0, ct + f * kp + j0);
                V4_LOAD(c1, ct + f * kp + j0 + 4);
                a0 += x[i * ld + f] * c0;
                b0 += x[i * ld + f] * c1;
            }
            memcpy(out + i * kp + j0, &a0, sizeof a0);
            memcpy(out + i * kp + j0 + 4, &b0, sizeof b0);
        }
}
#else
static void xc_dots(const double *x, size_t m, size_t ld, const ctab *t, double *out)
{
    size_t p = t->p, kp = t->kp;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < kp; j++) {
            double r = 0;
            for (size_t f = 0; f < p; f++) r += x[i * ld + f] * t->ct[f * kp + j];
            out[i * kp + j] = r;
        }
}
#endif

#if defined(KM_X86)
/* The first j < k minimising cn[j] + -2 d_j with d_j = x·c_j summed in feature
 * order (xc_dots' bits), as assign's scan finds it, for one row. */
static size_t nearest_scalar(const double *x, const ctab *t)
{
    size_t best = 0;
    double low = 0;
    for (size_t j = 0; j < t->k; j++) {
        double d = 0;
        for (size_t f = 0; f < t->p; f++) d += x[f] * t->ct[f * t->kp + j];
        double v = t->cn[j] + -2.0 * d;
        if (j == 0 || v < low) {
            low = v;
            best = j;
        }
    }
    return best;
}

/* assign with AVX2, without a scratch or a branch on the data: the products of
 * a register block (4 rows x 8 centers) as xc_dots sums them (mul, then add:
 * the same bits), then per row its values cn + -2 d, their minimum (a min
 * tree) and the first center holding it (a compare and a bit scan). Without a
 * NaN among them that is the scan's first minimum; a row block with one
 * (overflow: the inputs are finite) takes nearest_scalar, as do the last n % 4
 * rows. Fitting 2M x 10, k = 8 in 50,000-row batches on one thread took 94.7
 * ms of CPU instead of 98.1 (median of 9). */
__attribute__((target("avx2"))) static void assign_avx2(const double *x, size_t n, size_t ld, const ctab *t,
                                                        size_t *labels)
{
    size_t p = t->p, kp = t->kp;
    const double *ct = t->ct;
    const __m256d m2 = _mm256_set1_pd(-2.0);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const double *xr[4] = {x + i * ld, x + (i + 1) * ld, x + (i + 2) * ld, x + (i + 3) * ld};
        double bv[4] = {0};
        size_t bi[4] = {0};
        __m256d bad = _mm256_setzero_pd();
        for (size_t j0 = 0; j0 < kp; j0 += KM_CB) {
            __m256d a[4], b[4];
            for (int r = 0; r < 4; r++) a[r] = b[r] = _mm256_setzero_pd();
            for (size_t f = 0; f < p; f++) {
                __m256d c0 = _mm256_loadu_pd(ct + f * kp + j0), c1 = _mm256_loadu_pd(ct + f * kp + j0 + 4);
                for (int r = 0; r < 4; r++) {
                    __m256d xf = _mm256_set1_pd(xr[r][f]);
                    a[r] = _mm256_add_pd(a[r], _mm256_mul_pd(xf, c0));
                    b[r] = _mm256_add_pd(b[r], _mm256_mul_pd(xf, c1));
                }
            }
            __m256d cl = _mm256_loadu_pd(t->cn + j0), ch = _mm256_loadu_pd(t->cn + j0 + 4);
            for (int r = 0; r < 4; r++) {
                __m256d vl = _mm256_add_pd(cl, _mm256_mul_pd(m2, a[r]));
                __m256d vh = _mm256_add_pd(ch, _mm256_mul_pd(m2, b[r]));
                bad = _mm256_or_pd(bad, _mm256_cmp_pd(vl, vh, _CMP_UNORD_Q));
                __m256d m = _mm256_min_pd(vl, vh);
                m = _mm256_min_pd(m, _mm256_permute2f128_pd(m, m, 1));
                m = _mm256_min_pd(m, _mm256_permute_pd(m, 5));
                unsigned eq = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(vl, m, _CMP_EQ_OQ)) |
                              (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(vh, m, _CMP_EQ_OQ)) << 4;
                double low = _mm256_cvtsd_f64(m);
                if (j0 == 0 || low < bv[r]) {
                    bv[r] = low;
                    bi[r] = j0 + (size_t)__builtin_ctz(eq | 256u);
                }
            }
        }
        bool nan = _mm256_movemask_pd(bad) != 0;
        for (int r = 0; r < 4; r++) labels[i + r] = nan ? nearest_scalar(xr[r], t) : bi[r];
    }
    for (; i < n; i++) labels[i] = nearest_scalar(x + i * ld, t);
}
#endif

/* labels of n rows against the centers of t: argmin_j ||c_j||² - 2 x·c_j, first
 * minimum on ties (Decision 9; sklearn's _update_chunk_dense adds ||c||² to
 * -2 x·c, the scaling by -2 is exact). scratch holds KM_BLOCK x t->kp doubles. */
static void assign(const double *x, size_t n, size_t ld, const ctab *t, double *scratch, size_t *labels)
{
#if defined(KM_X86)
    if (__builtin_cpu_supports("avx2")) {
        assign_avx2(x, n, ld, t, labels);
        return;
    }
#endif
    size_t k = t->k, kp = t->kp;
    const double *cn = t->cn;
    for (size_t a = 0; a < n; a += KM_BLOCK) {
        size_t m = n - a < KM_BLOCK ? n - a : KM_BLOCK;
        xc_dots(x + a * ld, m, ld, t, scratch);
        for (size_t i = 0; i < m; i++) {
            const double *d = scratch + i * kp;
            size_t best = 0;
            double low = cn[0] + -2.0 * d[0];
            for (size_t j = 1; j < k; j++) {
                double v = cn[j] + -2.0 * d[j];
                if (v < low) {
                    low = v;
                    best = j;
                }
            }
            labels[a + i] = best;
        }
    }
}

static double weight_of(const double *w, size_t i) { return w ? w[i] : 1.0; }

/* assign() over blocks of KM_BLOCK rows on a pool: each block's labels depend on
 * its rows only, so the result is the same for any number of workers. keep_x,
 * if not NULL, receives a packed copy of the rows (p = t->p columns) and keep_w
 * their weights (1 without w), copied while the block is in cache. */
typedef struct assign_job {
    const double *x, *w;
    const ctab *t;
    size_t n, ld;
    double *scratch; /* KM_BLOCK x kp per worker */
    size_t *labels;
    double *keep_x, *keep_w;
} assign_job;

/* dst[0..n) = src[0..n), written around the cache where SSE2 has streaming
 * stores: the copy of a batch (sfi_kmeans_partial_fit_keep's keep_x) is read
 * once more at most, and writing it through the cache read each line first
 * (2M x 10, 50,000-row batches: 0.009 s of 0.09 s on one thread). */
static void copy_past_cache(double *dst, const double *src, size_t n)
{
#if defined(__SSE2__)
    size_t i = 0;
    if (((uintptr_t)dst & 15) && n) {
        dst[0] = src[0];
        i = 1;
    }
    for (; i + 2 <= n; i += 2) _mm_stream_pd(dst + i, _mm_loadu_pd(src + i));
    if (i < n) dst[i] = src[i];
    _mm_sfence(); /* ordered before whatever the caller does next (another thread reads it) */
#else
    memcpy(dst, src, n * sizeof *dst);
#endif
}

static sf_status assign_task(void *ctx, size_t task, size_t worker, sf_error *err)
{
    (void)err;
    const assign_job *j = ctx;
    size_t a = task * KM_BLOCK, m = j->n - a < KM_BLOCK ? j->n - a : KM_BLOCK, p = j->t->p;
    const double *x = j->x + a * j->ld;
    assign(x, m, j->ld, j->t, j->scratch + worker * KM_BLOCK * j->t->kp, j->labels + a);
    if (j->keep_x) {
        if (j->ld == p) copy_past_cache(j->keep_x + a * p, x, m * p);
        else
            for (size_t i = 0; i < m; i++) memcpy(j->keep_x + (a + i) * p, x + i * j->ld, p * sizeof *x);
        for (size_t i = 0; i < m; i++) j->keep_w[a + i] = weight_of(j->w, a + i);
    }
    return SF_OK;
}

/* A pool run wakes its workers and waits for them (tens of microseconds when
 * the cores are busy reading ahead): only work of at least KM_POOL_WORK
 * multiply-adds goes to the pool (2M x 10, k = 8, 1024-row batches on 2
 * threads: 0.142 s and 152 ms of CPU with a pool run and a measuring pass a
 * step, 0.088 s and 98 ms with neither). The labels are the same either way. */
#define KM_POOL_WORK ((size_t)1 << 20)

static bool assign_pooled(sf_pool *pool, const assign_job *job)
{
    return pool && sf_pool_size(pool) > 1 && job->n > KM_BLOCK && job->n * job->t->kp * job->t->p >= KM_POOL_WORK;
}

static sf_status assign_on(sf_pool *pool, const assign_job *job, sf_error *err)
{
    size_t tasks = (job->n + KM_BLOCK - 1) / KM_BLOCK;
    if (assign_pooled(pool, job)) return sf_pool_run(pool, tasks, assign_task, (void *)job, err);
    for (size_t t = 0; t < tasks; t++) assign_task((void *)job, t, 0, err);
    return SF_OK;
}

/* The distance work of one call on a fitted model: its centers prepared, a
 * block of products and (labels) a block of labels. */
typedef struct dwork {
    ctab t;
    double *scratch; /* KM_BLOCK x t.kp */
    size_t *labels;  /* KM_BLOCK, or NULL */
} dwork;

static void dwork_free(dwork *d)
{
    ctab_free(&d->t);
    free(d->scratch);
    free(d->labels);
}

static sf_status dwork_new(dwork *d, const double *centers, size_t k, size_t p, bool labels, sf_error *err)
{
    memset(d, 0, sizeof *d);
    SF_TRY(ctab_alloc(&d->t, k, p, err));
    d->scratch = malloc(KM_BLOCK * d->t.kp * sizeof *d->scratch);
    if (labels) d->labels = malloc(KM_BLOCK * sizeof *d->labels);
    if (!d->scratch || (labels && !d->labels)) {
        dwork_free(d);
        return sfi_nomem(err);
    }
    ctab_fill(&d->t, centers, k, p);
    return SF_OK;
}

/* Whether any of the n x p values is NaN or ±inf: its exponent bits are all
 * ones, so (bits & EXP) + 2^52 reaches bit 63 exactly then; or-ed over
 * contiguous memory (integer operations of one cycle, which vectorise: the
 * floating-point sum of x * 0 it replaces waited on its adds' latency); the
 * row-by-row search for the culprit runs only when this says so. */
KM_CLONES static bool any_nonfinite(const double *x, size_t n, size_t p, size_t ld)
{
    const uint64_t exp = 0x7ff0000000000000u, one = 0x0010000000000000u;
    uint64_t acc = 0;
    size_t runs = ld == p ? 1 : n, len = ld == p ? n * p : p;
    for (size_t r = 0; r < runs; r++) {
        const double *v = x + r * ld;
        for (size_t j = 0; j < len; j++) {
            uint64_t b;
            memcpy(&b, v + j, sizeof b);
            acc |= (b & exp) + one;
        }
    }
    return acc >> 63;
}

/* any_nonfinite over tasks of KM_CHECK rows on a pool */
#define KM_CHECK 8192
typedef struct finite_job {
    const double *x;
    size_t n, p, ld;
    atomic_int bad;
} finite_job;

static sf_status finite_task(void *ctx, size_t task, size_t worker, sf_error *err)
{
    (void)worker;
    (void)err;
    finite_job *j = ctx;
    size_t a = task * KM_CHECK, m = j->n - a < KM_CHECK ? j->n - a : KM_CHECK;
    if (any_nonfinite(j->x + a * j->ld, m, j->p, j->ld)) atomic_store_explicit(&j->bad, 1, memory_order_relaxed);
    return SF_OK;
}

static bool any_nonfinite_on(sf_pool *pool, const double *x, size_t n, size_t p, size_t ld)
{
    if (!pool || n < 2 * KM_CHECK) return any_nonfinite(x, n, p, ld);
    finite_job j = {.x = x, .n = n, .p = p, .ld = ld};
    atomic_init(&j.bad, 0);
    sf_error e;
    if (sf_pool_run(pool, (n + KM_CHECK - 1) / KM_CHECK, finite_task, &j, &e) != SF_OK)
        return any_nonfinite(x, n, p, ld);
    return atomic_load(&j.bad) != 0;
}

/* The input checks; a fitting call scans the rows on the model's pool (only the
 * thread that learns uses it). */
static sf_status check_data(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                            const double *w, bool fitting, sf_error *err)
{
    if (!km) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL model");
    if (!fitting && !km->p) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: not fitted");
    if (n > 0 && !x) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL data");
    if (p == 0) return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: no features");
    if (ld < p) return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: row stride %zu < %zu features", ld, p);
    if (km->p && p != km->p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: fitted on %zu features, got %zu", km->p, p);
    if (!w && !any_nonfinite_on(fitting ? km->pool : NULL, x, n, p, ld)) return SF_OK;
    for (size_t i = 0; i < n; i++) {
        const double *row = x + i * ld;
        for (size_t j = 0; j < p; j++)
            if (!isfinite(row[j])) {
                sf_where where = {.row = i + 1, .field = j + 1};
                return sfi_fail(err, SF_ERR_ARG, &where, "k-means: input contains %s",
                                isnan(row[j]) ? "NaN" : "infinity");
            }
        if (w && !(w[i] >= 0 && isfinite(w[i]))) {
            sf_where where = {.row = i + 1};
            return sfi_fail(err, SF_ERR_ARG, &where, "sample weight must be finite and >= 0, got %g", w[i]);
        }
    }
    return SF_OK;
}

/* ---------------------------------------------------------- initialisation */

/* Working memory of the first call: everything is allocated before anything in
 * the model changes, so a failure leaves it as it was. */
typedef struct init_work {
    double *centers, *counts;
    double *sub;        /* init_size x p rows drawn with replacement, or NULL */
    double *xnorm;      /* squared norms of the rows initialisation sees */
    double *closest, *cumsum, *cand_d, *pots; /* k-means++ */
    double *scratch;    /* KM_BLOCK x cands.kp */
    ctab cands;         /* the candidate centers of a k-means++ round */
    size_t *idx;
} init_work;

static void init_work_free(init_work *w)
{
    free(w->centers);
    free(w->counts);
    free(w->sub);
    free(w->xnorm);
    free(w->closest);
    free(w->cumsum);
    free(w->cand_d);
    free(w->pots);
    free(w->scratch);
    ctab_free(&w->cands);
    free(w->idx);
}

static size_t n_local_trials(size_t k) { return 2 + (size_t)log((double)k); }

/* First index i with cum[i] >= v (numpy searchsorted, side="left"), at most n-1. */
static size_t search_left(const double *cum, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < n ? lo : n - 1;
}

/* Squared distances from each of q candidate rows (indices cand) to all n rows,
 * as metrics.pairwise._euclidean_distances: (-2 c·x + ||c||²) + ||x||², clipped
 * at 0; out is q x n. w->cands holds room for q centers. */
static void cand_dists(const double *x, size_t n, size_t ld, const double *xnorm, const size_t *cand, size_t q,
                       init_work *w, double *out)
{
    ctab *t = &w->cands;
    for (size_t c = 0; c < q; c++)
        for (size_t f = 0; f < t->p; f++) t->ct[f * t->kp + c] = x[cand[c] * ld + f];
    for (size_t a = 0; a < n; a += KM_BLOCK) {
        size_t m = n - a < KM_BLOCK ? n - a : KM_BLOCK;
        xc_dots(x + a * ld, m, ld, t, w->scratch);
        for (size_t c = 0; c < q; c++) {
            double cn = xnorm[cand[c]], *d = out + c * n + a;
            for (size_t i = 0; i < m; i++) {
                double v = -2.0 * w->scratch[i * t->kp + c] + cn + xnorm[a + i];
                d[i] = v > 0 ? v : 0;
            }
        }
    }
}

/* _kmeans_plusplus: greedy k-means++ on the n rows of x into w->centers. */
static sf_status kmeanspp(sf_kmeans *km, sfi_np_rng *rng, const double *x, size_t n, size_t p, size_t ld,
                          init_work *w, sf_error *err)
{
    (void)err;
    size_t k = km->k, L = n_local_trials(k);
    size_t cand[64];
    if (L > 64) L = 64; /* 2 + ln k > 64 needs k > e^62 */
    double *pots = w->pots;
    size_t c0 = (size_t)sfi_np_randint(rng, 0, (int64_t)n);
    memcpy(w->centers, x + c0 * ld, p * sizeof(double));
    cand_dists(x, n, ld, w->xnorm, &c0, 1, w, w->closest);
    double pot = 0;
    for (size_t i = 0; i < n; i++) pot += w->closest[i];
    for (size_t c = 1; c < k; c++) {
        double cum = 0;
        for (size_t i = 0; i < n; i++) w->cumsum[i] = cum += w->closest[i];
        for (size_t t = 0; t < L; t++) cand[t] = search_left(w->cumsum, n, sfi_np_random_sample(rng) * pot);
        cand_dists(x, n, ld, w->xnorm, cand, L, w, w->cand_d);
        size_t best = 0;
        for (size_t t = 0; t < L; t++) {
            double *d = w->cand_d + t * n, s = 0;
            for (size_t i = 0; i < n; i++) {
                if (w->closest[i] < d[i]) d[i] = w->closest[i];
                s += d[i];
            }
            pots[t] = s;
            if (s < pots[best]) best = t;
        }
        pot = pots[best];
        memcpy(w->closest, w->cand_d + best * n, n * sizeof(double));
        memcpy(w->centers + c * p, x + cand[best] * ld, p * sizeof(double));
    }
    return SF_OK;
}

/* _init_centroids on the first batch; fills w->centers, draws from *rng. */
static sf_status init_centers(sf_kmeans *km, sfi_np_rng *rng, const double *x, size_t n, size_t p,
                              size_t ld, init_work *w, sf_error *err)
{
    size_t k = km->k;
    const sf_kmeans_params *pr = &km->params;
    if (pr->init == SF_KMEANS_INIT_ARRAY && pr->init_n_features != p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL,
                        "k-means: the initial centers have %zu features, the data %zu",
                        pr->init_n_features, p);
    /* _check_params_vs_input: _batch_size, _init_size */
    size_t bs = pr->batch_size < n ? pr->batch_size : n;
    size_t is = pr->init_size;
    if (is == 0) {
        is = 3 * bs;
        if (is < k) is = 3 * k;
    } else if (is < k) {
        is = 3 * k;
    }
    if (is > n) is = n;
    km->batch_size = bs;
    km->init_size = is;
    w->centers = malloc(k * p * sizeof(double));
    w->counts = calloc(k, sizeof(double));
    if (!w->centers || !w->counts) return sfi_nomem(err);
    /* the subsample is drawn whatever init is, as sklearn does */
    if (is < n) {
        w->sub = malloc(is * p * sizeof(double));
        if (!w->sub) return sfi_nomem(err);
        for (size_t t = 0; t < is; t++) {
            size_t r = (size_t)sfi_np_randint(rng, 0, (int64_t)n);
            memcpy(w->sub + t * p, x + r * ld, p * sizeof(double));
        }
        x = w->sub;
        n = is;
        ld = p;
    }
    switch (pr->init) {
    case SF_KMEANS_INIT_ARRAY:
        memcpy(w->centers, km->init_copy, k * p * sizeof(double));
        return SF_OK;
    case SF_KMEANS_INIT_RANDOM: {
        w->idx = malloc(n * sizeof *w->idx);
        if (!w->idx) return sfi_nomem(err);
        sfi_np_permutation(rng, w->idx, n);
        for (size_t j = 0; j < k; j++) memcpy(w->centers + j * p, x + w->idx[j] * ld, p * sizeof(double));
        return SF_OK;
    }
    case SF_KMEANS_INIT_KMEANSPP:
    default: {
        size_t L = n_local_trials(k);
        w->xnorm = malloc(n * sizeof(double));
        w->closest = malloc(n * sizeof(double));
        w->cumsum = malloc(n * sizeof(double));
        w->cand_d = malloc(L * n * sizeof(double));
        w->pots = malloc(L * sizeof(double));
        w->scratch = malloc(KM_BLOCK * padded_k(L) * sizeof(double));
        if (!w->xnorm || !w->closest || !w->cumsum || !w->cand_d || !w->pots || !w->scratch) return sfi_nomem(err);
        SF_TRY(ctab_alloc(&w->cands, L, p, err));
        for (size_t i = 0; i < n; i++) w->xnorm[i] = sq_norm(x + i * ld, p);
        return kmeanspp(km, rng, x, n, p, ld, w, err);
    }
    }
}

/* ------------------------------------------------------------ the step */

/* Working memory of a step: sized for `rows` rows and `workers` distance
 * workers, grown when a call needs more; the model's k and p are fixed. */
typedef struct step_work {
    size_t rows, workers;   /* room for */
    size_t *labels;         /* rows */
    size_t *perm;           /* rows: reassignment's choice */
    double *scratch;        /* workers x KM_BLOCK x t.kp */
    ctab t;                 /* the centers for the kernel */
    double *acc;            /* k x p + k: the centers' new sums, then their weights */
    size_t *order;          /* k */
    bool *to;               /* k */
} step_work;

static void step_work_free(step_work *s)
{
    if (!s) return;
    free(s->labels);
    free(s->perm);
    free(s->scratch);
    ctab_free(&s->t);
    free(s->acc);
    free(s->order);
    free(s->to);
    free(s);
}

/* km->work with room for n rows of p features on `workers` workers. On failure
 * the model keeps what it had (its working memory is no part of its state). */
static sf_status step_work_reserve(sf_kmeans *km, size_t n, size_t p, size_t workers, sf_error *err)
{
    size_t k = km->k;
    step_work *s = km->work;
    if (s && s->t.p != p) { /* a failed first call left memory for other data */
        step_work_free(s);
        s = km->work = NULL;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return sfi_nomem(err);
        s->acc = malloc(k * (p + 1) * sizeof *s->acc);
        s->order = malloc(k * sizeof *s->order);
        s->to = malloc(k * sizeof *s->to);
        if (!s->acc || !s->order || !s->to || ctab_alloc(&s->t, k, p, err) != SF_OK) {
            step_work_free(s);
            return sfi_nomem(err);
        }
        km->work = s;
    }
    if (s->rows < n) {
        size_t *l = malloc(n * sizeof *l), *q = malloc(n * sizeof *q);
        if (!l || !q) {
            free(l);
            free(q);
            return sfi_nomem(err);
        }
        free(s->labels);
        free(s->perm);
        s->labels = l;
        s->perm = q;
        s->rows = n;
    }
    if (s->workers < workers) {
        double *b = malloc(workers * KM_BLOCK * s->t.kp * sizeof *b);
        if (!b) return sfi_nomem(err);
        free(s->scratch);
        s->scratch = b;
        s->workers = workers;
    }
    return SF_OK;
}

/* _random_reassign: evaluated before the step, on the counts before it. */
static bool due_for_reassign(sf_kmeans *km)
{
    km->n_since_reassign += km->batch_size;
    bool empty = false;
    for (size_t j = 0; j < km->k; j++) empty = empty || km->counts[j] == 0;
    if (empty || km->n_since_reassign >= 10 * (uint64_t)km->k) {
        km->n_since_reassign = 0;
        return true;
    }
    return false;
}

/* The reassignment part of _mini_batch_step. */
static void reassign(sf_kmeans *km, const double *x, size_t n, size_t ld, step_work *s)
{
    size_t k = km->k, p = km->p;
    double *W = km->counts;
    double top = W[0];
    for (size_t j = 1; j < k; j++)
        if (W[j] > top) top = W[j];
    double thr = km->params.reassignment_ratio * top;
    size_t m = 0;
    for (size_t j = 0; j < k; j++) m += (s->to[j] = W[j] < thr);
    if ((double)m > 0.5 * (double)n) {
        /* keep only the int(0.5 n) smallest: argsort(W)[int(0.5 n):] are spared.
         * A stable sort; numpy's argsort is stable for k <= 16 (insertion sort) */
        for (size_t j = 0; j < k; j++) s->order[j] = j;
        for (size_t a = 1; a < k; a++)
            for (size_t b = a; b > 0 && W[s->order[b]] < W[s->order[b - 1]]; b--) {
                size_t t = s->order[b];
                s->order[b] = s->order[b - 1];
                s->order[b - 1] = t;
            }
        for (size_t r = (size_t)(0.5 * (double)n); r < k; r++) s->to[s->order[r]] = false;
        m = 0;
        for (size_t j = 0; j < k; j++) m += s->to[j];
    }
    if (m) {
        /* random_state.choice(n, replace=False, size=m) = permutation(n)[:m],
         * given to the flagged centers in increasing index order */
        sfi_np_permutation(&km->rng, s->perm, n);
        size_t t = 0;
        for (size_t j = 0; j < k; j++)
            if (s->to[j]) memcpy(km->centers + j * p, x + s->perm[t++] * ld, p * sizeof(double));
    }
    /* the reassigned centers get the smallest remaining count (sklearn's "dirty hack") */
    double low = INFINITY;
    for (size_t j = 0; j < k; j++)
        if (!s->to[j] && W[j] < low) low = W[j];
    for (size_t j = 0; j < k; j++)
        if (s->to[j]) W[j] = low;
}

/* acc[labels[i]] += x_i w_i and wsum[labels[i]] += w_i for i = 0, 1, …, n-1 in
 * that order: each sum is the same chain of additions as one row at a time.
 * Four features at a time; without weights x_i · 1 = x_i, so the product is
 * left out (the same bits). */
KM_CLONES static void add_rows(double *acc, double *wsum, const double *x, size_t n, size_t p, size_t ld,
                               const double *w, const size_t *labels)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = labels[i];
        double *a = acc + j * p;
        const double *row = x + i * ld;
        size_t f = 0;
        if (w) {
            double wi = w[i];
            wsum[j] += wi;
#if defined(__GNUC__)
            for (; f + 4 <= p; f += 4) {
                km_v4 av, xv;
                V4_LOAD(av, a + f);
                V4_LOAD(xv, row + f);
                av += xv * wi;
                memcpy(a + f, &av, sizeof av);
            }
#endif
            for (; f < p; f++) a[f] += row[f] * wi;
        } else {
            wsum[j] += 1.0;
#if defined(__GNUC__)
            for (; f + 4 <= p; f += 4) {
                km_v4 av, xv;
                V4_LOAD(av, a + f);
                V4_LOAD(xv, row + f);
                av += xv;
                memcpy(a + f, &av, sizeof av);
            }
#endif
            for (; f < p; f++) a[f] += row[f];
        }
    }
}

/* ---- a step in three parts ----
 * update_center_dense: c_j <- (c_j W_j + Σ x_i w_i) · (1 / (W_j + Σ w_i)), the
 * sums taken in row order; centers with no weight in the batch stay. The labels
 * depend on the centers before the step only, so the rows of a batch can come
 * in parts (batch_open, then batch_feed on each part in row order, then
 * batch_close on the whole batch): each sum is the same chain of additions, and
 * a part that arrives while it is in cache is labelled and summed there.
 * (Split over the pool by centers, each center's sums still in row order, the
 * update took more time: every task streams the whole batch.) acc holds k x p
 * sums, then k weights. */
static void batch_open(const sf_kmeans *km, double *acc)
{
    size_t k = km->k, p = km->p;
    for (size_t j = 0; j < k; j++) {
        acc[k * p + j] = 0;
        for (size_t f = 0; f < p; f++) acc[j * p + f] = km->centers[j * p + f] * km->counts[j];
    }
}

/* The labels of n rows (into s->labels) and their sums into acc; keep_x, keep_w
 * as in assign_job. On the pool, the labels first; on one thread, block by
 * block while the block is in cache. */
static sf_status batch_feed(sf_kmeans *km, step_work *s, const double *x, size_t n, size_t ld, const double *w,
                            double *acc, double *keep_x, double *keep_w, sf_error *err)
{
    size_t k = km->k, p = km->p;
    ctab_fill(&s->t, km->centers, k, p);
    assign_job aj = {.x = x, .w = w, .t = &s->t, .n = n, .ld = ld, .scratch = s->scratch, .labels = s->labels,
                     .keep_x = keep_x, .keep_w = keep_w};
    if (assign_pooled(km->pool, &aj)) {
        SF_TRY(sf_pool_run(km->pool, (n + KM_BLOCK - 1) / KM_BLOCK, assign_task, &aj, err));
        add_rows(acc, acc + k * p, x, n, p, ld, w, s->labels);
        return SF_OK;
    }
    for (size_t t = 0; t * KM_BLOCK < n; t++) {
        size_t a = t * KM_BLOCK, m = n - a < KM_BLOCK ? n - a : KM_BLOCK;
        assign_task(&aj, t, 0, err);
        add_rows(acc, acc + k * p, x + a * ld, m, p, ld, w ? w + a : NULL, s->labels + a);
    }
    return SF_OK;
}

/* The end of a step on the batch's n rows (x, weights w): _random_reassign's
 * schedule (on the counts before the step), the new centers from acc, the
 * reassignment, partial_fit's inertia_ (compute_labels). */
static sf_status batch_close(sf_kmeans *km, step_work *s, const double *acc, const double *x, size_t n,
                             size_t ld, const double *w, sf_error *err)
{
    size_t k = km->k, p = km->p;
    bool random_reassign = due_for_reassign(km);
    double *c = km->centers;
    for (size_t j = 0; j < k; j++) {
        double wsum = acc[k * p + j];
        if (!(wsum > 0)) continue;
        km->counts[j] += wsum;
        double alpha = 1 / km->counts[j];
        for (size_t f = 0; f < p; f++) c[j * p + f] = acc[j * p + f] * alpha;
    }
    if (random_reassign && km->params.reassignment_ratio > 0) reassign(km, x, n, ld, s);
    if (km->params.compute_labels) {
        ctab_fill(&s->t, km->centers, k, p);
        assign_job aj = {.x = x, .w = w, .t = &s->t, .n = n, .ld = ld, .scratch = s->scratch, .labels = s->labels};
        SF_TRY(assign_on(km->pool, &aj, err));
        double inertia = 0;
        for (size_t i = 0; i < n; i++)
            inertia += sq_dist(x + i * ld, km->centers + s->labels[i] * p, p) * weight_of(w, i);
        km->inertia = inertia;
    }
    km->n_steps++;
    return SF_OK;
}

/* One _mini_batch_step plus partial_fit's inertia_ (compute_labels); keep_x and
 * keep_w as in assign_job. */
static sf_status step(sf_kmeans *km, const double *x, size_t n, size_t ld, const double *w, step_work *s,
                      double *keep_x, double *keep_w, sf_error *err)
{
    batch_open(km, s->acc);
    SF_TRY(batch_feed(km, s, x, n, ld, w, s->acc, keep_x, keep_w, err));
    return batch_close(km, s, s->acc, x, n, ld, w, err);
}

sf_status sf_kmeans_partial_fit(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                const double *w, sf_error *err)
{
    SF_TRY(check_data(km, x, n, p, ld, w, true, err));
    return sfi_kmeans_partial_fit_checked(km, x, n, p, ld, w, err);
}

sf_status sfi_kmeans_partial_fit_checked(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                         const double *w, sf_error *err)
{
    return sfi_kmeans_partial_fit_keep(km, x, n, p, ld, w, NULL, NULL, err);
}

sf_status sfi_kmeans_partial_fit_keep(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                      const double *w, double *keep_x, double *keep_w, sf_error *err)
{
    if (n == 0) return SF_OK;
    bool first = km->p == 0;
    if (first && n < km->k)
        return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: n_samples=%zu should be >= n_clusters=%zu", n, km->k);
    SF_TRY(step_work_reserve(km, n, p, km->pool ? sf_pool_size(km->pool) : 1, err));
    if (first) {
        init_work iw = {0};
        sfi_np_rng rng = km->rng;
        uint64_t bs = km->batch_size, is = km->init_size;
        sf_status st = init_centers(km, &rng, x, n, p, ld, &iw, err);
        if (st != SF_OK) {
            km->batch_size = bs;
            km->init_size = is;
            init_work_free(&iw);
            return st;
        }
        km->centers = iw.centers;
        km->counts = iw.counts;
        iw.centers = iw.counts = NULL;
        init_work_free(&iw);
        km->rng = rng;
        km->p = p;
        km->n_since_reassign = 0;
    }
    return step(km, x, n, ld, w, km->work, keep_x, keep_w, err);
}

/* --------------------------------------------------------- prediction */

sf_status sf_kmeans_predict(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                            size_t *labels, sf_error *err)
{
    SF_TRY(check_data(km, x, n, p, ld, NULL, false, err));
    if (n == 0) return SF_OK;
    if (!labels) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL labels");
    dwork d;
    SF_TRY(dwork_new(&d, km->centers, km->k, p, false, err));
    assign(x, n, ld, &d.t, d.scratch, labels);
    dwork_free(&d);
    return SF_OK;
}

sf_status sf_kmeans_transform(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                              double *out, size_t out_ld, sf_error *err)
{
    SF_TRY(check_data(km, x, n, p, ld, NULL, false, err));
    if (n == 0) return SF_OK;
    size_t k = km->k;
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL output");
    if (out_ld < k) return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means: output stride %zu < %zu clusters", out_ld, k);
    dwork d;
    SF_TRY(dwork_new(&d, km->centers, k, p, false, err));
    /* euclidean_distances: d = -2 x·c; d += ||x||²; d += ||c||²; max(d, 0); sqrt */
    for (size_t a = 0; a < n; a += KM_BLOCK) {
        size_t m = n - a < KM_BLOCK ? n - a : KM_BLOCK;
        xc_dots(x + a * ld, m, ld, &d.t, d.scratch);
        for (size_t i = 0; i < m; i++) {
            double xn = sq_norm(x + (a + i) * ld, p), *o = out + (a + i) * out_ld;
            const double *dot = d.scratch + i * d.t.kp;
            for (size_t j = 0; j < k; j++) {
                double v = -2.0 * dot[j] + xn + d.t.cn[j];
                o[j] = sqrt(v > 0 ? v : 0);
            }
        }
    }
    dwork_free(&d);
    return SF_OK;
}

sf_status sf_kmeans_inertia_of(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                               const double *w, double *inertia, sf_error *err)
{
    SF_TRY(check_data(km, x, n, p, ld, w, false, err));
    if (!inertia) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL inertia");
    *inertia = 0;
    if (n == 0) return SF_OK;
    dwork d;
    SF_TRY(dwork_new(&d, km->centers, km->k, p, true, err));
    double sum = 0;
    for (size_t a = 0; a < n; a += KM_BLOCK) {
        size_t m = n - a < KM_BLOCK ? n - a : KM_BLOCK;
        assign(x + a * ld, m, ld, &d.t, d.scratch, d.labels);
        for (size_t i = 0; i < m; i++)
            sum += sq_dist(x + (a + i) * ld, km->centers + d.labels[i] * p, p) * weight_of(w, a + i);
    }
    dwork_free(&d);
    *inertia = sum;
    return SF_OK;
}

/* --------------------------------------------------------- attributes */

void sf_kmeans_set_pool(sf_kmeans *km, sf_pool *pool)
{
    if (km) km->pool = pool;
}

size_t sf_kmeans_n_features(const sf_kmeans *km) { return km ? km->p : 0; }
size_t sf_kmeans_n_clusters(const sf_kmeans *km) { return km ? km->k : 0; }
const double *sf_kmeans_cluster_centers(const sf_kmeans *km) { return km && km->p ? km->centers : NULL; }
const double *sf_kmeans_counts(const sf_kmeans *km) { return km && km->p ? km->counts : NULL; }
uint64_t sf_kmeans_n_steps(const sf_kmeans *km) { return km ? km->n_steps : 0; }
double sf_kmeans_inertia(const sf_kmeans *km) { return km ? km->inertia : NAN; }

sf_kmeans_params sf_kmeans_get_params(const sf_kmeans *km)
{
    sf_kmeans_params p;
    if (km) return km->params;
    sf_kmeans_params_default(&p);
    return p;
}

sf_status sf_kmeans_get_state(const sf_kmeans *km, double *centers, double *counts, sf_kmeans_state *s,
                              sf_error *err)
{
    if (!km || !centers || !counts || !s)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_get_state: NULL argument");
    if (!km->p) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: not fitted");
    memcpy(centers, km->centers, km->k * km->p * sizeof *centers);
    memcpy(counts, km->counts, km->k * sizeof *counts);
    memset(s, 0, sizeof *s);
    s->n_steps = km->n_steps;
    s->n_since_last_reassign = km->n_since_reassign;
    s->batch_size = km->batch_size;
    s->init_size = km->init_size;
    s->inertia = km->inertia;
    memcpy(s->rng_key, km->rng.key, sizeof s->rng_key);
    s->rng_pos = km->rng.pos;
    return SF_OK;
}

sf_status sf_kmeans_set_state(sf_kmeans *km, size_t p, const double *centers, const double *counts,
                              const sf_kmeans_state *s, sf_error *err)
{
    if (!km || !centers || !counts || !s || p == 0)
        return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_set_state: bad argument");
    size_t k = km->k;
    if (km->params.init == SF_KMEANS_INIT_ARRAY && km->params.init_n_features != p)
        return sfi_fail(err, SF_ERR_SHAPE, NULL, "k-means state: %zu features, initial centers %zu", p,
                        km->params.init_n_features);
    for (size_t i = 0; i < k * p; i++)
        if (!isfinite(centers[i])) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means state: non-finite center");
    for (size_t j = 0; j < k; j++)
        if (!(counts[j] >= 0) || !isfinite(counts[j]))
            return sfi_fail(err, SF_ERR_ARG, NULL, "k-means state: count %zu is %g", j + 1, counts[j]);
    sfi_np_rng rng;
    memcpy(rng.key, s->rng_key, sizeof rng.key);
    rng.pos = s->rng_pos;
    if (!sfi_np_state_valid(&rng)) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means state: bad random state");
    if (s->batch_size < 1) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means state: batch_size 0");
    double *c = dup_array(centers, k * p), *n = dup_array(counts, k);
    if (!c || !n) {
        free(c);
        free(n);
        return sfi_nomem(err);
    }
    free(km->centers);
    free(km->counts);
    km->centers = c;
    km->counts = n;
    km->p = p;
    km->rng = rng;
    km->n_steps = s->n_steps;
    km->n_since_reassign = s->n_since_last_reassign;
    km->batch_size = s->batch_size;
    km->init_size = s->init_size;
    km->inertia = s->inertia;
    return SF_OK;
}

/* ------------------------------------------------------------- Lloyd */

sf_status sf_kmeans_lloyd_new(sf_kmeans_lloyd **out, const sf_kmeans *km, sf_error *err)
{
    if (!out || !km) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_lloyd_new: NULL argument");
    *out = NULL;
    if (!km->p) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: not fitted");
    sf_kmeans_lloyd *a = calloc(1, sizeof *a);
    if (!a) return sfi_nomem(err);
    a->k = km->k;
    a->p = km->p;
    a->sums = calloc(a->k * a->p, sizeof *a->sums);
    a->spread = calloc(a->k * a->p, sizeof *a->spread);
    a->weight = calloc(a->k, sizeof *a->weight);
    a->far_d = malloc(a->k * sizeof *a->far_d);
    a->far_w = malloc(a->k * sizeof *a->far_w);
    a->far_x = malloc(a->k * a->p * sizeof *a->far_x);
    a->far_label = malloc(a->k * sizeof *a->far_label);
    if (!a->sums || !a->spread || !a->weight || !a->far_d || !a->far_w || !a->far_x || !a->far_label) {
        sf_kmeans_lloyd_free(a);
        return sfi_nomem(err);
    }
    *out = a;
    return SF_OK;
}

void sf_kmeans_lloyd_free(sf_kmeans_lloyd *a)
{
    if (!a) return;
    free(a->sums);
    free(a->spread);
    free(a->weight);
    free(a->far_d);
    free(a->far_w);
    free(a->far_x);
    free(a->far_label);
    free(a);
}

void sf_kmeans_lloyd_reset(sf_kmeans_lloyd *a)
{
    if (!a) return;
    memset(a->sums, 0, a->k * a->p * sizeof *a->sums);
    memset(a->spread, 0, a->k * a->p * sizeof *a->spread);
    memset(a->weight, 0, a->k * sizeof *a->weight);
    a->inertia = 0;
    a->n_far = 0;
}

/* Keeps row (distance d to its center, weight w) among the k farthest; on equal
 * distances the one kept first stays. */
static void far_offer(sf_kmeans_lloyd *a, double d, double w, size_t label, const double *row)
{
    size_t t;
    if (a->n_far < a->k) {
        t = a->n_far++;
    } else {
        if (!(d > a->far_min)) return;
        t = 0;
        for (size_t u = 1; u < a->k; u++)
            if (a->far_d[u] < a->far_d[t]) t = u;
    }
    a->far_d[t] = d;
    a->far_w[t] = w;
    a->far_label[t] = label;
    memcpy(a->far_x + t * a->p, row, a->p * sizeof *row);
    if (a->n_far == a->k) {
        a->far_min = a->far_d[0];
        for (size_t u = 1; u < a->k; u++)
            if (a->far_d[u] < a->far_min) a->far_min = a->far_d[u];
    }
}

static sf_status lloyd_match(const sf_kmeans_lloyd *a, size_t k, size_t p, sf_error *err)
{
    if (a->k != k || a->p != p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: accumulator for %zu x %zu, model %zu x %zu",
                        a->k, a->p, k, p);
    return SF_OK;
}

sf_status sf_kmeans_lloyd_accumulate(sf_kmeans_lloyd *a, const sf_kmeans *km, const double *x, size_t n,
                                     size_t p, size_t ld, const double *w, sf_error *err)
{
    if (!a) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_lloyd_accumulate: NULL accumulator");
    SF_TRY(check_data(km, x, n, p, ld, w, false, err));
    SF_TRY(lloyd_match(a, km->k, km->p, err));
    if (n == 0) return SF_OK;
    dwork dw;
    SF_TRY(dwork_new(&dw, km->centers, km->k, p, true, err));
    const size_t *labels = dw.labels;
    for (size_t b = 0; b < n; b += KM_BLOCK) {
        size_t m = n - b < KM_BLOCK ? n - b : KM_BLOCK;
        assign(x + b * ld, m, ld, &dw.t, dw.scratch, dw.labels);
        for (size_t i = 0; i < m; i++) {
            /* sums of x - c_j rather than of x: small residuals keep the mean
             * accurate over billions of rows */
            const double *row = x + (b + i) * ld, *c = km->centers + labels[i] * p;
            double wi = weight_of(w, b + i), *s = a->sums + labels[i] * p, *sp = a->spread + labels[i] * p;
            for (size_t f = 0; f < p; f++) {
                double r = wi * (row[f] - c[f]);
                s[f] += r;
                sp[f] += fabs(r);
            }
            a->weight[labels[i]] += wi;
            double d = sq_dist(row, c, p);
            a->inertia += d * wi;
            far_offer(a, d, wi, labels[i], row);
        }
    }
    dwork_free(&dw);
    return SF_OK;
}

sf_status sf_kmeans_lloyd_merge(sf_kmeans_lloyd *dst, const sf_kmeans_lloyd *src, sf_error *err)
{
    if (!dst || !src) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_lloyd_merge: NULL argument");
    SF_TRY(lloyd_match(dst, src->k, src->p, err));
    for (size_t i = 0; i < dst->k * dst->p; i++) {
        dst->sums[i] += src->sums[i];
        dst->spread[i] += src->spread[i];
    }
    for (size_t j = 0; j < dst->k; j++) dst->weight[j] += src->weight[j];
    dst->inertia += src->inertia;
    for (size_t t = 0; t < src->n_far; t++)
        far_offer(dst, src->far_d[t], src->far_w[t], src->far_label[t], src->far_x + t * src->p);
    return SF_OK;
}

double sf_kmeans_lloyd_inertia(const sf_kmeans_lloyd *a) { return a ? a->inertia : NAN; }

/* _relocate_empty_clusters_dense on the accumulated sums: the i-th empty cluster
 * (by index) takes the i-th farthest row (by distance, then arrival), which
 * leaves its old cluster. sums / weight are the caller's copies; relocated[j]
 * gets the row index + 1 in far_x. Nothing happens when every kept distance is
 * 0 (more clusters than distinct rows), as sklearn. */
static void relocate_empty(const sf_kmeans *km, const sf_kmeans_lloyd *a, double *sums, double *weight,
                           size_t *order, size_t *relocated)
{
    size_t k = a->k, p = a->p;
    double top = 0;
    for (size_t t = 0; t < a->n_far; t++) top = fmax(top, a->far_d[t]);
    if (!(top > 0)) return;
    for (size_t t = 0; t < a->n_far; t++) order[t] = t;
    for (size_t u = 1; u < a->n_far; u++) /* stable, descending distance */
        for (size_t v = u; v > 0 && a->far_d[order[v]] > a->far_d[order[v - 1]]; v--) {
            size_t tmp = order[v];
            order[v] = order[v - 1];
            order[v - 1] = tmp;
        }
    size_t next = 0;
    for (size_t j = 0; j < k && next < a->n_far; j++) {
        if (a->weight[j] != 0) continue;
        size_t e = order[next++], old = a->far_label[e];
        const double *x = a->far_x + e * p, *c = km->centers + old * p;
        double w = a->far_w[e];
        for (size_t f = 0; f < p; f++) sums[old * p + f] -= w * (x[f] - c[f]);
        weight[old] -= w;
        weight[j] = w;
        relocated[j] = e + 1;
    }
}

sf_status sf_kmeans_lloyd_apply(sf_kmeans *km, const sf_kmeans_lloyd *a, bool *moved, sf_error *err)
{
    if (!km || !a) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_kmeans_lloyd_apply: NULL argument");
    if (!km->p) return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: not fitted");
    SF_TRY(lloyd_match(a, km->k, km->p, err));
    size_t k = km->k, p = km->p;
    double *sums = dup_array(a->sums, k * p), *weight = dup_array(a->weight, k);
    size_t *order = malloc(k * sizeof *order), *relocated = calloc(k, sizeof *relocated);
    if (!sums || !weight || !order || !relocated) {
        free(sums);
        free(weight);
        free(order);
        free(relocated);
        return sfi_nomem(err);
    }
    relocate_empty(km, a, sums, weight, order, relocated);
    bool any = false;
    for (size_t j = 0; j < k; j++) {
        double W = weight[j];
        km->counts[j] = W;
        double *c = km->centers + j * p;
        if (relocated[j]) {
            const double *x = a->far_x + (relocated[j] - 1) * p;
            for (size_t f = 0; f < p; f++) any = any || c[f] != x[f];
            memcpy(c, x, p * sizeof *c);
            continue;
        }
        if (!(W > 0)) continue; /* still empty (or emptied by a relocation): stays */
        for (size_t f = 0; f < p; f++) {
            /* the mean of x - c is the move; one that is rounding noise (below
             * 16 eps of the residuals' and the center's scale) is no move: with
             * the same labels the center stays put and the iteration ends, as
             * sklearn's strict convergence (the same labels twice) */
            double delta = sums[j * p + f] / W;
            double noise = 16 * DBL_EPSILON * (a->spread[j * p + f] / W + fabs(c[f]));
            if (!(fabs(delta) > noise)) continue;
            any = true;
            c[f] += delta;
        }
    }
    km->inertia = a->inertia;
    if (moved) *moved = any;
    free(sums);
    free(weight);
    free(order);
    free(relocated);
    return SF_OK;
}

sf_status sfi_kmeans_initial_centers(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                     double *centers, sf_error *err)
{
    SF_TRY(check_data(km, x, n, p, ld, NULL, true, err));
    if (!centers) return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: NULL centers");
    if (n < km->k)
        return sfi_fail(err, SF_ERR_ARG, NULL, "k-means: n_samples=%zu should be >= n_clusters=%zu", n, km->k);
    sf_kmeans tmp = *km; /* init_centers only writes batch_size / init_size */
    sfi_np_rng rng = km->rng;
    init_work iw = {0};
    sf_status st = init_centers(&tmp, &rng, x, n, p, ld, &iw, err);
    if (st == SF_OK) memcpy(centers, iw.centers, km->k * p * sizeof *centers);
    init_work_free(&iw);
    return st;
}

sf_status sfi_kmeans_check_rows(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                const double *w, sf_error *err)
{
    return check_data(km, x, n, p, ld, w, true, err);
}

void sfi_kmeans_set_inertia(sf_kmeans *km, double inertia) { km->inertia = inertia; }

size_t sfi_kmeans_acc_size(const sf_kmeans *km) { return km->k * (km->p + 1); }

sf_status sfi_kmeans_batch_feed(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld, const double *w,
                                double *acc, bool open, double *keep_x, double *keep_w, sf_error *err)
{
    if (!km->p || p != km->p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: a batch in parts of %zu features needs a model fitted on "
                        "them (it has %zu)", p, km->p);
    if (n == 0) return SF_OK;
    SF_TRY(step_work_reserve(km, n, p, km->pool ? sf_pool_size(km->pool) : 1, err));
    if (open) batch_open(km, acc);
    return batch_feed(km, km->work, x, n, ld, w, acc, keep_x, keep_w, err);
}

sf_status sfi_kmeans_batch_close(sf_kmeans *km, const double *acc, const double *x, size_t n, size_t p,
                                 size_t ld, const double *w, sf_error *err)
{
    if (!km->p || p != km->p)
        return sfi_fail(err, SF_ERR_STATE, NULL, "k-means: a batch in parts of %zu features needs a model fitted on "
                        "them (it has %zu)", p, km->p);
    SF_TRY(step_work_reserve(km, n, p, km->pool ? sf_pool_size(km->pool) : 1, err));
    return batch_close(km, km->work, acc, x, n, ld, w, err);
}
