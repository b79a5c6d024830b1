/* SPDX-License-Identifier: MIT */
/* gelu: y = x Phi(x), element-wise, any shape, with Phi the standard
 * normal distribution function (nn.GELU, F.gelu; the activation of BERT,
 * ViT and ConvNeXt). `approximate` is PyTorch's:
 *
 *   none:  y = 0.5 x (1 + erf(x / sqrt(2))) = 0.5 x erfc(-x / sqrt(2))
 *   tanh:  y = 0.5 x (1 + tanh(u)),  u = sqrt(2 / pi) (x + 0.044715 x^3)
 *
 * Backward from the saved input (y alone cannot give Phi), the exact
 * derivative of each form:
 *
 *   none:  dx = dy (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh:  dx = dy (s + 2 x s (1 - s) u'),  s = (1 + tanh(u)) / 2
 *                                           = sigmoid(2 u),
 *          u' = sqrt(2 / pi) (1 + 3 0.044715 x^2)
 *
 * The erf form, the one ConvNeXt and BERT use, runs in float arithmetic
 * the compiler vectorises (gelu_tail: cnn_expf and a Chebyshev fit of
 * erfc, no libm call; forward needs one exponential, cnn_expf_sum, and
 * multiply-adds fused, plugins/meson.build: [1, 384, 56, 56] 2.9 -> 1.9
 * ms):
 * measured against double on 500,000 floats of |x| <= 12.8, y is within
 * 7.7 units of float rounding (2^-24 of |y|); on every 97th float, dx
 * within 8.3 of |dy| (Phi + |x| phi), also in the far tail (Phi is
 * taken from erfc, never as 1 + erf, which cancels below x = -3). Below
 * x = -12.8 y is -0 (|y| < 3e-36 there). PyTorch's CPU kernel fits erf
 * with 1.5e-7 absolute error instead. libm's erfc in double had taken
 * 48.6 of ConvNeXt-Tiny's 160 ms at batch 1.
 *
 * The tanh form is computed in float the same way (gelu_tanh_parts: y
 * within 3.1 u of |y| (1 + |2 u|), dx alike, for |x| <= 9.9; s is 0 or 1
 * beyond), so that both forms' loops vectorise. x = -inf gives NaN (-inf * 0), as
 * PyTorch's formula does. */
#include <math.h>

#include "cnn/elementwise.h"
#include "cnn/expf_vec.h"

#define GELU_SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_INV_SQRT_2PI 0.39894228040143267794
#define GELU_CUBIC 0.044715

static const char *const gelu_approximate_choices[] = {"none", "tanh", NULL};

static const cnn_hparam_spec gelu_hparams[] = {
    {"approximate", CNN_HP_ENUM,
     "none: x Phi(x) with erf; tanh: PyTorch's tanh approximation", 0, 0, 0,
     0, gelu_approximate_choices},
};

/* The tanh form: 0.5 (1 + tanh(u)) = s = sigmoid(2 u) and c = 1 - s from
 * e = exp(-|2 u|) <= 1 (as plugins/silu), so nothing overflows or
 * cancels, and u'. In float: u's rounding (a few 2^-24 of u) is
 * multiplied by |2 u| in s where s is small, so s keeps a relative error
 * of about |2 u| 2^-23 in the tail (1e-6 at x = -5); PyTorch's kernel
 * computes 1 + tanh(u) there, which cancels outright. */
static inline float gelu_tanh_parts(float x, float *c, float *du)
{
    float x2 = x * x;
    float u = (float)GELU_SQRT_2_OVER_PI * x * (1.0f + (float)GELU_CUBIC * x2);
    /* e below the smallest normal float (|x| > 9.9) is taken as 0: see
     * gelu_tail. */
    float m = fabsf(2.0f * u);
    float e = m < 87.0f ? cnn_expf(-m) : 0.0f;
    float r = 1.0f / (1.0f + e);
    *c = u >= 0.0f ? e * r : r;
    *du = (float)GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * (float)GELU_CUBIC * x2);
    return u >= 0.0f ? r : e * r;
}

/* a^2 - h exactly, for h = a * a rounded. With a hardware FMA, one
 * fmaf; without (a build for any x86-64, -Dnative=false), glibc's fmaf is
 * a call that emulates it, and a call keeps the loop from vectorising:
 * Dekker's product instead, a split into two 12-bit halves whose products
 * are exact. */
static inline float gelu_square_rest(float a, float h)
{
#if defined(__FMA__) || defined(FP_FAST_FMAF)
    return fmaf(a, a, -h);
#else
    float c = 4097.0f * a; /* 2^12 + 1: Veltkamp's split */
    float ah = c - (c - a), al = a - ah;
    return ((ah * ah - h) + 2.0f * ah * al) + al * al;
#endif
}

/* The normal tail Q(a) = Phi(-a) = erfc(a / sqrt 2) / 2 of a >= 0, and the
 * density phi(a), in float arithmetic the compiler vectorises (no libm
 * call: cnn_expf). erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), with
 * Numerical Recipes' Chebyshev fit P (relative error under 1.2e-7 for
 * every z >= 0). -z^2 = -a^2 / 2 is split into a float h and the rest l
 * (an FMA gives l exactly), so that its rounding, up to 2^-24 of a^2 (5e-6
 * at a = 13), stays out of exp. This part, for 0 <= a <= 12.8: t, P(t)
 * and a^2 = h + l exactly. */
static inline float gelu_erfc_fit(float a, float *t_out, float *h, float *l)
{
    float z = a * (float)M_SQRT1_2;
    float t = 1.0f / (1.0f + 0.5f * z);
    float q = 0.17087277f;
    q = q * t - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    *t_out = t;
    *h = a * a;
    *l = gelu_square_rest(a, *h);
    return q;
}

/* Q(a) and phi(a), for backward. */
static inline float gelu_tail(float a, float *pdf)
{
    /* Beyond 12.8, Q and phi fall below the smallest normal float, where
     * arithmetic on subnormals runs many times slower (ConvNeXt-sized
     * tensors of pixels: 6.2 against 2.7 ms): both are 0 there. a^2 would
     * overflow from 1.8e19 on. */
    int flush = !(a <= 12.8f); /* and NaN: y = x * 1 keeps it */
    float t, h, l, q = gelu_erfc_fit(flush ? 12.8f : a, &t, &h, &l);
    float e = cnn_expf(-0.5f * h);
    float pd = e * (1.0f - 0.5f * l) * (float)GELU_INV_SQRT_2PI;
    float tail = 0.5f * t * e * cnn_expf(q - 0.5f * l);
    *pdf = flush ? 0.0f : pd;
    return flush ? 0.0f : tail;
}

/* Q(a) alone (the forward pass): as gelu_tail, with one exponential of the
 * two-part argument -h/2 + (q - l/2) (cnn_expf_sum), not two. */
static inline float gelu_tail_value(float a)
{
    int flush = !(a <= 12.8f);
    float t, h, l, q = gelu_erfc_fit(flush ? 12.8f : a, &t, &h, &l);
    float tail = 0.5f * t * cnn_expf_sum(-0.5f * h, q - 0.5f * l);
    return flush ? 0.0f : tail;
}

static inline float gelu_erf_value(float x)
{
    float tail = gelu_tail_value(fabsf(x));
    return x * (x < 0.0f ? tail : 1.0f - tail);
}

static inline float gelu_tanh_value(float x)
{
    float c, du;
    return x * gelu_tanh_parts(x, &c, &du);
}

static inline float gelu_erf_grad(float x, float dy)
{
    float pdf, tail = gelu_tail(fabsf(x), &pdf);
    return dy * ((x < 0.0f ? tail : 1.0f - tail) + x * pdf);
}

static inline float gelu_tanh_grad(float x, float dy)
{
    float c, du, s = gelu_tanh_parts(x, &c, &du);
    return dy * (s + 2.0f * x * s * c * du);
}

/* One loop per form, each branch-free: a test of the form inside the
 * loop made GCC compute both (it does not split the loop on it), 7.8
 * against 2.6 ms on [1, 384, 56, 56]. gelu is not IN_PLACE: out never
 * aliases a. */
static void gelu_ew_fwd(void *arg, size_t i0, size_t i1)
{
    const cnn_ew_pass *q = (const cnn_ew_pass *)arg;
    const float *restrict x = q->a + i0;
    float *restrict y = q->out + i0;
    size_t n = i1 - i0;
    if (q->p.v[0] != 0.0f) /* approximate: tanh (the enum's index) */
        for (size_t i = 0; i < n; i++)
            y[i] = gelu_tanh_value(x[i]);
    else
        for (size_t i = 0; i < n; i++)
            y[i] = gelu_erf_value(x[i]);
}

/* dx may be written over dy (b == out): no restrict on those two. */
static void gelu_ew_bwd(void *arg, size_t i0, size_t i1)
{
    const cnn_ew_pass *q = (const cnn_ew_pass *)arg;
    const float *restrict x = q->a + i0;
    const float *dy = q->b + i0;
    float *dx = q->out + i0;
    size_t n = i1 - i0;
    if (q->p.v[0] != 0.0f)
        for (size_t i = 0; i < n; i++)
            dx[i] = gelu_tanh_grad(x[i], dy[i]);
    else
        for (size_t i = 0; i < n; i++)
            dx[i] = gelu_erf_grad(x[i], dy[i]);
}

CNN_ELEMENTWISE_PLUGIN_WITH_BLOCKS(gelu, "gelu",
                                   "GELU: y = x Phi(x) (erf, or PyTorch's "
                                   "tanh approximation), elementwise",
                                   gelu_hparams, 1, CNN_EW_FROM_INPUT,
                                   CNN_EW_COSTLY, NULL)
