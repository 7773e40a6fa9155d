/* np_random.h — numpy's legacy RandomState(seed) on MT19937; internal.
 *
 * scikit-learn draws every random number through numpy.random.RandomState, so
 * reproducing its results (k-means++ seeds, reassignment, SGD shuffles) needs
 * the same stream: MT19937 seeded by Matsumoto–Nishimura's init_genrand
 * (numpy/random/_mt19937.pyx: _legacy_seeding → mt19937_seed), doubles of 53
 * bits from two 32-bit words (mt19937_next_double), and bounded integers by
 * masked rejection (distributions.c: random_bounded_uint64, random_interval).
 *
 * Why not gsl_rng_mt19937: its seeding equals init_genrand except that seed 0
 * becomes 4357 (rng/mt.c: mt_set), and its state is opaque, while model files
 * must store and restore the exact position (Decision 1). The stream is checked
 * against numpy's output and, for seeds != 0, against GSL's (tests/test_np_random.c).
 */
#ifndef SF_NP_RANDOM_H
#define SF_NP_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "core/sf_internal.h"

#define SFI_NP_STATE_LEN 624

typedef struct sfi_np_rng {
    uint32_t key[SFI_NP_STATE_LEN];
    uint32_t pos; /* next word to temper; SFI_NP_STATE_LEN = regenerate first */
} sfi_np_rng;

/* RandomState(seed) for 0 <= seed < 2^32. */
SFI_FUNC void sfi_np_seed(sfi_np_rng *r, uint32_t seed);

/* The next tempered 32-bit word (numpy's next_uint32). */
SFI_FUNC uint32_t sfi_np_next32(sfi_np_rng *r);

/* RandomState.random_sample(): [0, 1) with 53 random bits. uniform(0, 1, size)
 * draws the same values. */
SFI_FUNC double sfi_np_random_sample(sfi_np_rng *r);

/* RandomState.randint(low, high) for one value (dtype int64, high > low):
 * low + a draw in [0, high - low - 1] by masked rejection. Drawing n values with
 * randint(low, high, size=n) is n calls in order. */
SFI_FUNC int64_t sfi_np_randint(sfi_np_rng *r, int64_t low, int64_t high);

/* RandomState.permutation(n) into idx[0..n): arange(n) shuffled by the legacy
 * Fisher–Yates (for i = n-1 … 1: swap i with random_interval(i)). choice(n,
 * replace=False, size=m) is the first m entries of it. */
SFI_FUNC void sfi_np_permutation(sfi_np_rng *r, size_t *idx, size_t n);

/* Whether a state is usable (pos in range, key not all zero); for set_state. */
SFI_FUNC bool sfi_np_state_valid(const sfi_np_rng *r);

#endif
