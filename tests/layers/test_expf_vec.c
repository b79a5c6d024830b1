/* SPDX-License-Identifier: MIT */
/* cnn_expf (include/cnn/expf_vec.h) against double-precision exp: within
 * 1 ulp on a sample of every float bit pattern, and libm's answers at the
 * edges (overflow to +inf, underflow through the subnormals to 0, NaN). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/expf_vec.h"

/* Floats in order as integers, so a difference counts ulps. */
static int64_t ordered(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}

Test(expf_vec, within_one_ulp_on_a_sample_of_all_floats)
{
    int64_t worst = 0;
    float worst_x = 0.0f;
    /* A prime stride reaches every exponent and many mantissas: about
     * 4.3 million inputs. */
    for (uint64_t u = 0; u < (1ull << 32); u += 997) {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, sizeof x);
        float y = cnn_expf(x);
        if (isnan(x)) {
            cr_assert(isnan(y), "cnn_expf(NaN 0x%08x) = %g", b, (double)y);
            continue;
        }
        float ref = (float)exp((double)x);
        if (isinf(ref) || isinf(y)) {
            cr_assert(ref == y, "cnn_expf(%.9g) = %g, exp gives %g",
                      (double)x, (double)y, (double)ref);
            continue;
        }
        int64_t d = llabs(ordered(ref) - ordered(y));
        if (d > worst) {
            worst = d;
            worst_x = x;
        }
    }
    cr_assert(worst <= 1, "%lld ulp at x = %.9g", (long long)worst,
              (double)worst_x);
}

Test(expf_vec, edges_as_libm)
{
    const float xs[] = {0.0f,         -0.0f,        1.0f,
                        -1.0f,        88.7228317f,  88.7228394f,
                        100.0f,       -87.3365402f, -100.0f,
                        -103.9f,      -104.0f,      -1000.0f,
                        INFINITY,     -INFINITY,    1e-30f,
                        -1e-30f,      0.5f * 0.693147181f};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        float ref = (float)exp((double)xs[i]), y = cnn_expf(xs[i]);
        cr_assert(llabs(ordered(ref) - ordered(y)) <= 1 ||
                      (isinf(ref) && ref == y),
                  "cnn_expf(%.9g) = %.9g, exp gives %.9g", (double)xs[i],
                  (double)y, (double)ref);
    }
    cr_assert_eq(cnn_expf(INFINITY), INFINITY);
    cr_assert_eq(cnn_expf(-INFINITY), 0.0f);
    cr_assert_eq(cnn_expf(0.0f), 1.0f);
    cr_assert(isnan(cnn_expf(NAN)));
    cr_assert(isnan(cnn_expf(-NAN)));
}

/* A loop the compiler may vectorise gives the scalar results. */
Test(expf_vec, loop_equals_single_calls)
{
    enum { N = 1000 };
    float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = -120.0f + 0.21f * (float)i;
    for (int i = 0; i < N; i++)
        y[i] = cnn_expf(x[i]);
    for (int i = 0; i < N; i++) {
        volatile float xi = x[i];
        cr_assert_eq(ordered(y[i]), ordered(cnn_expf(xi)), "at x = %.9g",
                     (double)x[i]);
    }
}

/* cnn_expf_sum(hi, lo) against exp((double)hi + lo): the pair's sum is
 * not rounded to float first, so the error stays about |lo| + 1 units
 * (expf_vec.h) even where hi is large (-a^2/2 in plugins/gelu), where
 * rounding hi + lo first would cost up to |hi| units (82). */
Test(expf_vec, sum_of_two_parts_within_four_ulp)
{
    int64_t worst = 0;
    float worst_hi = 0.0f, worst_lo = 0.0f;
    uint64_t s = 12345;
    for (int i = 0; i < 2000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)(s >> 40) / (float)(1 << 24);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float v = (float)(s >> 40) / (float)(1 << 24);
        float hi = -85.0f + 170.0f * u, lo = -2.5f + 5.0f * v;
        double exact = exp((double)hi + (double)lo);
        if (exact < 1.2e-38 || exact > 3.0e38) /* subnormal or overflow */
            continue;
        float y = cnn_expf_sum(hi, lo);
        int64_t d = llabs(ordered((float)exact) - ordered(y));
        if (d > worst) {
            worst = d;
            worst_hi = hi;
            worst_lo = lo;
        }
    }
    cr_assert(worst <= 4, "%lld ulp at hi = %.9g, lo = %.9g", (long long)worst,
              (double)worst_hi, (double)worst_lo);
}

/* cnn_expf_nonpos (sigmoid's and silu's e^-|x|): cnn_expf's very value on
 * a sample of every non-positive float, subnormal results and 0 included,
 * and NaN through; in a loop too, as the plugins call it. */
Test(expf_vec, nonpos_is_cnn_expf_below_zero)
{
    enum { N = 1000 };
    float x[N], y[N];
    for (uint64_t u = 0x80000000u; u <= 0xFF800000u; u += 997) {
        uint32_t b = (uint32_t)u;
        float v;
        memcpy(&v, &b, sizeof v);
        cr_assert_eq(ordered(cnn_expf_nonpos(v)), ordered(cnn_expf(v)),
                     "cnn_expf_nonpos(%.9g) = %.9g, cnn_expf %.9g", (double)v,
                     (double)cnn_expf_nonpos(v), (double)cnn_expf(v));
    }
    cr_assert_eq(cnn_expf_nonpos(-INFINITY), 0.0f);
    cr_assert_eq(cnn_expf_nonpos(-0.0f), 1.0f);
    cr_assert(isnan(cnn_expf_nonpos(NAN)));
    cr_assert(isnan(cnn_expf_nonpos(-NAN)));
    for (int i = 0; i < N; i++)
        x[i] = -110.0f + 0.11f * (float)i;
    for (int i = 0; i < N; i++)
        y[i] = cnn_expf_nonpos(x[i]);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ordered(y[i]), ordered(cnn_expf(x[i])), "at x = %.9g",
                     (double)x[i]);
}
