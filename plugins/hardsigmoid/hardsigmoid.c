/* SPDX-License-Identifier: MIT */
/* hardsigmoid: y = max(0, min(1, alpha x + beta)). The defaults are
 * PyTorch's nn.Hardsigmoid (relu6(x + 3) / 6: alpha 1/6, beta 1/2); ONNX
 * HardSigmoid's default alpha is 0.2 (an importer writes it). The gradient
 * is alpha dy where 0 < alpha x + beta < 1 and 0 at and beyond the kinks,
 * PyTorch's rule. */
#include "cnn/elementwise.h"

static const cnn_hparam_spec hardsigmoid_hparams[] = {
    {"alpha", CNN_HP_FLOAT, "slope (PyTorch 1/6; ONNX's default is 0.2)", 0,
     0.16666666666666666, -1e6, 1e6, NULL},
    {"beta", CNN_HP_FLOAT, "offset", 0, 0.5, -1e6, 1e6, NULL},
};

static inline float hardsigmoid_value(float x, const cnn_ew_params *p)
{
    float z = p->v[0] * x + p->v[1];
    z = z < 0.0f ? 0.0f : z;
    return z > 1.0f ? 1.0f : z;
}

static inline float hardsigmoid_grad(float x, float dy,
                                     const cnn_ew_params *p)
{
    float z = p->v[0] * x + p->v[1];
    return z > 0.0f && z < 1.0f ? p->v[0] * dy : 0.0f;
}

CNN_ELEMENTWISE_PLUGIN(hardsigmoid,
                       "hard sigmoid: y = max(0, min(1, alpha x + beta))",
                       hardsigmoid_hparams, 2, CNN_EW_FROM_INPUT,
                       CNN_EW_CHEAP)
