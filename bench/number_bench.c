/* number_bench.c — sf_parse_double versus strtod.
 *
 * Builds pools of 10^6 texts (random doubles printed with %.17g, and short
 * texts such as "%.4g" / "%.2f" / small integers), then parses 10^7 texts per
 * pool (10 passes) with each parser and prints ns/number and MB/s. Results
 * are checked to agree bit for bit.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "streamfit/sf_number.h"

#define POOL 1000000
#define PASSES 10

typedef struct pool {
    char *text;      /* NUL-separated texts */
    size_t *off;     /* start of text i */
    uint32_t *len;   /* length of text i */
    size_t bytes;    /* total text bytes (without NULs) */
} pool;

static uint64_t rng_state = 42;

static uint64_t rng(void) /* splitmix64 */
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng() >> 11) * 0x1.0p-53;
}

static double rng_normal(void)
{
    double u1 = rng_unit(), u2 = rng_unit();
    if (u1 <= 0.0)
        u1 = 0x1.0p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int make_pool(pool *p, int kind)
{
    size_t cap = (size_t)POOL * 32;
    p->text = malloc(cap);
    p->off = malloc(sizeof *p->off * POOL);
    p->len = malloc(sizeof *p->len * POOL);
    if (!p->text || !p->off || !p->len)
        return -1;
    size_t at = 0;
    p->bytes = 0;
    for (size_t i = 0; i < POOL; i++) {
        int n;
        if (kind == 0) {
            /* data-like magnitudes: N(0,1) scaled by 10^[-8, 8] */
            double v = rng_normal() * pow(10.0, (double)((int)(rng() % 17) - 8));
            n = snprintf(p->text + at, cap - at, "%.17g", v);
        } else {
            switch (rng() % 4) {
            case 0:
                n = snprintf(p->text + at, cap - at, "%.4g", rng_normal() * 100.0);
                break;
            case 1:
                n = snprintf(p->text + at, cap - at, "%.2f", rng_unit() * 1000.0);
                break;
            case 2:
                n = snprintf(p->text + at, cap - at, "%d", (int)(rng() % 100000));
                break;
            default:
                n = snprintf(p->text + at, cap - at, "%.6g", rng_normal());
                break;
            }
        }
        p->off[i] = at;
        p->len[i] = (uint32_t)n;
        p->bytes += (size_t)n;
        at += (size_t)n + 1;
    }
    return 0;
}

static void free_pool(pool *p)
{
    free(p->text);
    free(p->off);
    free(p->len);
}

static void run(const char *name, const pool *p)
{
    /* agreement check */
    size_t bad = 0;
    for (size_t i = 0; i < POOL; i++) {
        const char *s = p->text + p->off[i];
        double a = strtod(s, NULL), b = 0;
        if (sf_parse_double(s, p->len[i], &b) == SF_NUM_NONE || memcmp(&a, &b, sizeof a) != 0)
            bad++;
    }

    volatile double sink = 0;
    double t_sf = 0, t_sd = 0, best_sf = 1e30, best_sd = 1e30;
    /* passes alternate between the parsers; the best pass is also shown as
     * the machine may be shared */
    for (int pass = 0; pass < PASSES; pass++) {
        double acc = 0;
        double t0 = now_s();
        for (size_t i = 0; i < POOL; i++) {
            double v = 0;
            sf_parse_double(p->text + p->off[i], p->len[i], &v);
            acc += v;
        }
        double t1 = now_s();
        for (size_t i = 0; i < POOL; i++)
            acc += strtod(p->text + p->off[i], NULL);
        double t2 = now_s();
        sink = acc;
        t_sf += t1 - t0;
        t_sd += t2 - t1;
        if (t1 - t0 < best_sf)
            best_sf = t1 - t0;
        if (t2 - t1 < best_sd)
            best_sd = t2 - t1;
    }
    (void)sink;

    double n = (double)POOL * PASSES;
    double mb = (double)p->bytes * PASSES / 1e6;
    printf("%-6s (avg %4.1f bytes)  sf_parse_double %5.1f ns/number (best pass %5.1f, %4.0f MB/s)"
           "   strtod %5.1f ns/number (best pass %5.1f, %4.0f MB/s)   speedup %.1fx   mismatches %zu\n",
           name, (double)p->bytes / POOL, t_sf * 1e9 / n, best_sf * 1e9 / POOL, mb / t_sf,
           t_sd * 1e9 / n, best_sd * 1e9 / POOL, mb / t_sd, t_sd / t_sf, bad);
}

int main(void)
{
    pool p17, pshort;
    if (make_pool(&p17, 0) != 0 || make_pool(&pshort, 1) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    printf("%d passes x %d texts = %d parses per parser and pool\n", PASSES, POOL, PASSES * POOL);
    run("%.17g", &p17);
    run("short", &pshort);
    free_pool(&p17);
    free_pool(&pshort);
    return 0;
}
