/* SPDX-License-Identifier: MIT */
/* leakyrelu: y = x for x > 0, negative_slope * x otherwise (PyTorch's
 * nn.LeakyReLU, ONNX LeakyRelu with alpha = negative_slope). Like PyTorch,
 * the gradient at x == 0 is negative_slope * dy. */
#include "cnn/elementwise.h"

static const cnn_hparam_spec leakyrelu_hparams[] = {
    {"negative_slope", CNN_HP_FLOAT,
     "slope for x <= 0 (PyTorch negative_slope, ONNX alpha)", 0, 0.01, -1e6,
     1e6, NULL},
};

static inline float leakyrelu_value(float x, const cnn_ew_params *p)
{
    return x > 0.0f ? x : p->v[0] * x;
}

static inline float leakyrelu_grad(float x, float dy, const cnn_ew_params *p)
{
    return x > 0.0f ? dy : p->v[0] * dy;
}

CNN_ELEMENTWISE_PLUGIN(leakyrelu,
                       "leaky ReLU: y = x if x > 0 else negative_slope * x",
                       leakyrelu_hparams, 1, CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
