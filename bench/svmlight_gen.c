/* svmlight_gen.c — writes a synthetic sparse classification file in svmlight
 * format for bench/svmlight.sh: ROWS rows, NNZ distinct random features of
 * FEATURES per row (one-based, sorted), values with 4 significant digits, label
 * 1 or -1 from the sign of a hidden linear model (so the task is learnable).
 * Usage: svmlight_gen ROWS FEATURES NNZ SEED > file.svm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t s;
static uint64_t next(void) /* splitmix64 */
{
    uint64_t z = (s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double unif(void) { return (double)(next() >> 11) / 9007199254740992.0; }
static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: svmlight_gen ROWS FEATURES NNZ SEED\n");
        return 1;
    }
    long rows = atol(argv[1]), p = atol(argv[2]), k = atol(argv[3]);
    s = (uint64_t)atol(argv[4]);
    uint32_t *idx = malloc((size_t)k * sizeof *idx);
    double *val = malloc((size_t)k * sizeof *val);
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    for (long i = 0; i < rows; i++) {
        long m = 0;
        while (m < k) { /* k distinct indices */
            uint32_t j = (uint32_t)(next() % (uint64_t)p);
            int dup = 0;
            for (long a = 0; a < m && !dup; a++) dup = idx[a] == j;
            if (!dup) idx[m++] = j;
        }
        qsort(idx, (size_t)k, sizeof *idx, cmp);
        double score = 0;
        for (long a = 0; a < k; a++) {
            val[a] = unif() * 2 - 1;
            uint64_t h = idx[a] * 0x9e3779b97f4a7c15u;
            score += val[a] * ((double)(h >> 11) / 9007199254740992.0 - 0.5);
        }
        printf("%d", score > 0 ? 1 : -1);
        for (long a = 0; a < k; a++) printf(" %u:%.4g", idx[a] + 1, val[a]);
        putchar('\n');
    }
    free(idx);
    free(val);
    return 0;
}
