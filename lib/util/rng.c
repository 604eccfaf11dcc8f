/* rng.c - the deterministic random numbers of the library (xoshiro256**
 * seeded by splitmix64): initialisation, LoRA, shuffles, resampling tests. */
#include "config.h"
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void lr_rng_seed(lr_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lr_rng_next(lr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double lr_rng_uniform(lr_rng *r)
{
    return (double)(lr_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double lr_rng_normal(lr_rng *r)
{
    /* Box-Muller; one value per call keeps the stream simple to reproduce */
    double u1 = lr_rng_uniform(r), u2 = lr_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void lr_rng_shuffle(lr_rng *r, int *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(lr_rng_next(r) % i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
