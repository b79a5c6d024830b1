/* SPDX-License-Identifier: MIT */
/* cnn_expf: e^x in plain float arithmetic, for element-wise plugins.
 *
 * A loop that calls libm's expf runs one element at a time (tens of cycles
 * each: EfficientNet-B0's sigmoids took 36 of its 51 ms at batch 1). This
 * function has no call and no branch, so a loop over it, such as the ones
 * CNN_ELEMENTWISE_PLUGIN writes, is vectorised by the compiler at -O3 (16
 * lanes with AVX-512, 8 with AVX2) and runs in well under a nanosecond an
 * element.
 *
 * Method (Cephes's expf): x = n ln2 + r with n = round(x / ln2) and
 * |r| <= ln2 / 2, ln2 split in two so r is exact; e^r by a degree-7
 * polynomial; 2^n applied as two factors 2^(n/2) 2^(n - n/2), so results
 * down in the subnormal range and up to FLT_MAX need no special case.
 * Within 1 ulp of e^x rounded from double precision: measured on every 7th
 * float bit pattern once, and tests/layers/test_expf_vec.c checks every
 * 997th; +inf and 0 where libm's expf overflows and underflows; NaN in
 * gives NaN out.
 *
 * Rounding to n uses the 1.5 * 2^23 trick and reads n from the sum's bits,
 * and 2^n is built in unsigned arithmetic, so no float-to-int conversion
 * or signed shift can be undefined (NaN or inf included). */
#ifndef CNN_EXPF_VEC_H
#define CNN_EXPF_VEC_H

#include <stdint.h>
#include <string.h>

static inline float cnn_bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t cnn_float_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* n = round(x / ln2) for |x| < 2^22 ln2, and n as a float in *nf. */
static inline int32_t cnn_expf_round(float x, float *nf)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = x * 1.44269504088896341f + shifter;
    *nf = t - shifter;
    /* t's low mantissa bits hold n + 2^22 (two's complement). */
    return (int32_t)(cnn_float_to_bits(t) - 0x4B400000u);
}

/* r = x - n ln2 with n = round(x / ln2), ln2 in two parts so that r is
 * exact, for |x| < 2^22 ln2. */
static inline float cnn_expf_reduce(float x, int32_t *n)
{
    float nf;
    *n = cnn_expf_round(x, &nf);
    float r = x - nf * 0.693359375f;
    return r - nf * -2.12194440e-4f;
}

/* e^r for |r| <= about ln2 / 2. */
static inline float cnn_expf_poly(float r)
{
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

/* e^r 2^n for |r| <= about ln2 / 2 and n in [-150, 128]. */
static inline float cnn_expf_scaled(float r, int32_t n)
{
    float p = cnn_expf_poly(r);
    /* For NaN, n is garbage but bounded to the mask below; p is NaN. */
    int32_t n1 = n / 2, n2 = n - n1;
    float s1 = cnn_bits_to_float(((uint32_t)(n1 + 127) & 0xFFu) << 23);
    float s2 = cnn_bits_to_float(((uint32_t)(n2 + 127) & 0xFFu) << 23);
    return p * s1 * s2;
}

static inline float cnn_expf(float x)
{
    const float hi = 88.72283935546875f;  /* above: +inf (e^hi ~ FLT_MAX) */
    const float lo = -103.97208404541016f; /* below: 0 (under half of the
                                              smallest subnormal) */
    /* Clamped so n stays in [-150, 128]; NaN passes through the selects
     * (every comparison with it is false). */
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    int32_t n;
    float r = cnn_expf_reduce(xc, &n);
    float y = cnn_expf_scaled(r, n);
    y = x > hi ? __builtin_inff() : y;
    return x < lo ? 0.0f : y;
}

/* e^x for x <= 0 (or NaN), as sigmoid and silu need it (e^-|x|): the
 * result is at most 1, so 2^n is one factor 2^(n + 64), normal for every
 * n >= -150, and 2^-64 after it rounds into the subnormal range once, as
 * cnn_expf's two factors do. The same value as cnn_expf (tested on every
 * 997th non-positive float) for fewer operations: silu 0.50 -> 0.35 ns an
 * element on Zen 4. Garbage for x > 0. */
static inline float cnn_expf_nonpos(float x)
{
    const float lo = -103.97208404541016f; /* as cnn_expf's */
    float xc = x < lo ? lo : x;
    int32_t n;
    float r = cnn_expf_reduce(xc, &n);
    float s = cnn_bits_to_float(((uint32_t)(n + 127 + 64) & 0xFFu) << 23);
    float y = cnn_expf_poly(r) * s * 5.42101086242752217e-20f; /* 2^-64 */
    return x < lo ? 0.0f : y;
}

/* e^(hi + lo) for a small lo (|lo| up to a few units), without rounding
 * hi + lo first: n is taken from hi + lo, r = hi - n ln2 (n ln2's high
 * part has 9 significant bits, so the product is exact), and lo joins r
 * after it. Each of those two roundings is relative to |hi - n ln2| <=
 * |lo| + ln2 / 2, not to |hi| (82 at hi = -82, which would cost 82 units
 * of e^x): about |lo| + 1 units in all, with the polynomial's one (tested
 * within 4 for |lo| <= 2.5). For finite hi >= -103 and hi + lo within
 * cnn_expf's range. Used by plugins/gelu, whose argument -a^2/2 comes as
 * a float and its FMA remainder, and |lo| stays under 1.3 there. */
static inline float cnn_expf_sum(float hi, float lo)
{
    float x = hi + lo;
    x = x > 88.0f ? 88.0f : x;
    x = x < -103.0f ? -103.0f : x;
    float nf;
    int32_t n = cnn_expf_round(x, &nf);
    float r = hi - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    return cnn_expf_scaled(r + lo, n);
}

#endif
