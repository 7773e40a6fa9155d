/* np_random.c — numpy's legacy RandomState stream (see np_random.h). */
#include <stdbool.h>

#include "core/np_random.h"

enum { MT_N = SFI_NP_STATE_LEN, MT_M = 397 };

void sfi_np_seed(sfi_np_rng *r, uint32_t seed)
{
    /* init_genrand (Knuth's multiplier), as numpy's mt19937_seed: no special
     * case for 0, unlike GSL's mt_set */
    r->key[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++) {
        uint32_t prev = r->key[i - 1];
        r->key[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
    }
    r->pos = MT_N;
}

/* One block of 624 words (Matsumoto & Nishimura 1998, genrand). */
static void regenerate(sfi_np_rng *r)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (r->key[i] & 0x80000000u) | (r->key[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = r->key[(i + MT_M) % MT_N] ^ (y >> 1);
        r->key[i] = (y & 1u) ? v ^ 0x9908b0dfu : v;
    }
    r->pos = 0;
}

uint32_t sfi_np_next32(sfi_np_rng *r)
{
    if (r->pos >= MT_N) regenerate(r);
    uint32_t y = r->key[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static uint64_t next64(sfi_np_rng *r)
{
    uint64_t hi = sfi_np_next32(r); /* numpy: high word drawn first */
    return hi << 32 | sfi_np_next32(r);
}

double sfi_np_random_sample(sfi_np_rng *r)
{
    /* mt19937_next_double: 27 + 26 bits */
    uint32_t a = sfi_np_next32(r) >> 5, b = sfi_np_next32(r) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* The smallest 2^k - 1 >= v. */
static uint64_t mask_for(uint64_t v)
{
    v |= v >> 1;
    v |= v >> 2;
    v |= v >> 4;
    v |= v >> 8;
    v |= v >> 16;
    v |= v >> 32;
    return v;
}

/* A draw in [0, rng] by masked rejection, 32-bit words when rng fits in 32 bits
 * (distributions.c: random_bounded_uint64 with use_masked, and random_interval,
 * which draw identically). */
static uint64_t bounded(sfi_np_rng *r, uint64_t rng)
{
    if (rng == 0) return 0;
    uint64_t mask = mask_for(rng), v;
    if (rng <= 0xffffffffu) {
        do v = sfi_np_next32(r) & mask;
        while (v > rng);
    } else {
        do v = next64(r) & mask;
        while (v > rng);
    }
    return v;
}

int64_t sfi_np_randint(sfi_np_rng *r, int64_t low, int64_t high)
{
    uint64_t rng = (uint64_t)high - (uint64_t)low - 1u;
    return (int64_t)((uint64_t)low + bounded(r, rng));
}

void sfi_np_permutation(sfi_np_rng *r, size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)bounded(r, i);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

bool sfi_np_state_valid(const sfi_np_rng *r)
{
    if (r->pos > MT_N) return false;
    for (int i = 0; i < MT_N; i++)
        if (r->key[i]) return true;
    return false;
}
