/* SPDX-License-Identifier: MIT */
/* Deterministic random numbers for initialisation and seeds: SplitMix64.
 * Small, fast, and identical on every platform, which reproducibility needs. */
#ifndef CNN_CORE_RNG_H
#define CNN_CORE_RNG_H

#include <stdint.h>

typedef struct cnn_rng {
    uint64_t state;
} cnn_rng;

static inline uint64_t cnn_rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t cnn_rng_next(cnn_rng *rng)
{
    rng->state += 0x9e3779b97f4a7c15ull;
    return cnn_rng_mix(rng->state);
}

/* Uniform in [0, 1) with 24 random bits, exact in float. */
static inline double cnn_rng_uniform(cnn_rng *rng)
{
    return (double)(cnn_rng_next(rng) >> 40) * (1.0 / 16777216.0);
}

/* Standard normal by Box-Muller (one value per call; simple beats fast here,
 * it runs once per parameter at initialisation). */
double cnn_rng_normal(cnn_rng *rng);

/* A seed derived from a parent seed and a string (a tensor name), so each
 * tensor's values do not depend on which others exist. */
uint64_t cnn_seed_derive(uint64_t seed, const char *name);

#endif
