/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "rng.h"

double cnn_rng_normal(cnn_rng *rng)
{
    /* 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - cnn_rng_uniform(rng);
    double u2 = cnn_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t cnn_seed_derive(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return cnn_rng_mix(seed ^ cnn_rng_mix(h));
}
