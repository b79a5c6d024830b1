/* SPDX-License-Identifier: MIT */
/* The loader's random numbers: xoshiro256** seeded through splitmix64.
 *
 * Each stream is keyed by (seed, epoch, index, purpose) and nothing else, so
 * a batch is the same whichever thread makes it and whenever it is made.
 * Kept here rather than in core/rng.c so the data layer's sequences never
 * change when the training RNG does (resumed runs must see the same data). */
#ifndef CNN_CORE_DATA_RNG_H
#define CNN_CORE_DATA_RNG_H

#include <stdint.h>

enum {
    CNN_DATA_STREAM_SHUFFLE = 1,
    CNN_DATA_STREAM_AUGMENT = 2,
    CNN_DATA_STREAM_CROP = 3 /* RandomResizedCrop: its own stream, so the
                              * flip and padding draws stay what they were */
};

typedef struct cnn_data_rng {
    uint64_t s[4];
} cnn_data_rng;

/* splitmix64's output function: a bijective 64-bit mixer. */
static inline uint64_t cnn_data_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline uint64_t cnn_data_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline void cnn_data_rng_init(cnn_data_rng *r, uint64_t seed,
                                     uint64_t epoch, uint64_t index,
                                     uint64_t stream)
{
    const uint64_t golden = UINT64_C(0x9e3779b97f4a7c15);
    /* Chained mixing keeps (1, 2) and (2, 1) apart, unlike a plain xor. */
    uint64_t h = cnn_data_mix64(seed + golden);
    h = cnn_data_mix64(h ^ (stream + golden));
    h = cnn_data_mix64(h ^ (epoch + golden));
    h = cnn_data_mix64(h ^ (index + golden));
    for (int i = 0; i < 4; i++) {
        h += golden; /* the splitmix64 sequence from h */
        r->s[i] = cnn_data_mix64(h);
    }
}

static inline uint64_t cnn_data_rng_next(cnn_data_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = cnn_data_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = cnn_data_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n >= 1, without modulo bias (rejection). */
static inline uint64_t cnn_data_rng_below(cnn_data_rng *r, uint64_t n)
{
    const uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t x = cnn_data_rng_next(r);
        if (x >= threshold)
            return x % n;
    }
}

#endif
