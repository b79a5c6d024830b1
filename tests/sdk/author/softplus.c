/* SPDX-License-Identifier: MIT */
/* softplus: y = log(1 + exp(beta x)) / beta, or x where beta x > threshold
 * (PyTorch's nn.Softplus), written as a third party would with the SDK's
 * element-wise helper: the two scalar functions and one macro.
 * tests/sdk/sdk_install.sh builds it against the installed headers and
 * runs check-plugin on it. */
#include <math.h>

#include "cnn/elementwise.h"

static const cnn_hparam_spec softplus_hparams[] = {
    {"beta", CNN_HP_FLOAT, "sharpness", 0, 1.0, 1e-3, 1e3, NULL},
    {"threshold", CNN_HP_FLOAT, "linear above beta x > threshold", 0, 20.0,
     0.0, 100.0, NULL},
};

static inline float softplus_value(float x, const cnn_ew_params *p)
{
    float bx = p->v[0] * x;
    return bx > p->v[1] ? x : log1pf(expf(bx)) / p->v[0];
}

/* d/dx = sigmoid(beta x), from the input. */
static inline float softplus_grad(float x, float dy, const cnn_ew_params *p)
{
    float bx = p->v[0] * x;
    return bx > p->v[1] ? dy : dy / (1.0f + expf(-bx));
}

CNN_ELEMENTWISE_PLUGIN(softplus, "softplus: log(1 + exp(beta x)) / beta",
                       softplus_hparams, 2, CNN_EW_FROM_INPUT, CNN_EW_COSTLY)
