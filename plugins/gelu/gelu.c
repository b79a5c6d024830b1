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
 * Both forms are evaluated in double and rounded to float once, so y and dx
 * are within about an ulp of the exact values over the whole float range:
 * 1 + erf(z) cancels for z below about -2 (x < -3: the float result would
 * keep few correct digits), so Phi is taken as erfc(-x / sqrt(2)) / 2, and
 * 1 + tanh(u) as 2 sigmoid(2 u) from e = exp(-|2 u|) <= 1, 1 - s being the
 * other choice of the same select (as plugins/silu), so nothing overflows
 * or cancels.
 *
 * Cost: libm's erfc and exp are scalar calls with branches on the
 * argument's range, 5 to 25 ns an element on one core (measured: random
 * data in [-1, 1] to [-8, 8]), no more than erff or tanhf in float, which
 * would give up the tails; the macro spreads large tensors over the host's
 * threads. A vectorised approximation (as cnn_expf for silu) would be
 * faster. x = -inf gives NaN (-inf * 0), as PyTorch's formula does. */
#include <math.h>

#include "cnn/elementwise.h"

#define GELU_SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_INV_SQRT_2PI 0.39894228040143267794
#define GELU_CUBIC 0.044715

static const char *const gelu_approximate_choices[] = {"none", "tanh", NULL};

static const cnn_hparam_spec gelu_hparams[] = {
    {"approximate", CNN_HP_ENUM,
     "none: x Phi(x) with erf; tanh: PyTorch's tanh approximation", 0, 0, 0,
     0, gelu_approximate_choices},
};

/* s = sigmoid(2 u) and c = 1 - s of the tanh form, without overflow. */
static inline void gelu_tanh_parts(double x, double *s, double *c,
                                   double *du)
{
    double u = GELU_SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
    double e = exp(-fabs(2.0 * u));
    double r = 1.0 / (1.0 + e);
    *s = u >= 0.0 ? r : e * r;
    *c = u >= 0.0 ? e * r : r;
    *du = GELU_SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
}

static inline float gelu_value(float xf, const cnn_ew_params *p)
{
    double x = xf;
    if (p->v[0] != 0.0f) { /* tanh */
        double s, c, du;
        gelu_tanh_parts(x, &s, &c, &du);
        return (float)(x * s);
    }
    return (float)(0.5 * x * erfc(-x * M_SQRT1_2));
}

static inline float gelu_grad(float xf, float dy, const cnn_ew_params *p)
{
    double x = xf, d;
    if (p->v[0] != 0.0f) { /* tanh */
        double s, c, du;
        gelu_tanh_parts(x, &s, &c, &du);
        d = s + 2.0 * x * s * c * du;
    } else {
        d = 0.5 * erfc(-x * M_SQRT1_2) +
            x * GELU_INV_SQRT_2PI * exp(-0.5 * x * x);
    }
    return (float)((double)dy * d);
}

CNN_ELEMENTWISE_PLUGIN(gelu,
                       "GELU: y = x Phi(x) (erf, or PyTorch's tanh "
                       "approximation), elementwise",
                       gelu_hparams, 1, CNN_EW_FROM_INPUT, CNN_EW_COSTLY)
