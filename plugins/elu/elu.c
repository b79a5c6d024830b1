/* SPDX-License-Identifier: MIT */
/* elu: y = x for x > 0, alpha (exp(x) - 1) otherwise (PyTorch's nn.ELU,
 * ONNX Elu). expm1f keeps the precision of small negative x; the gradient
 * for x <= 0 is dy alpha exp(x), from the input as in PyTorch. */
#include <math.h>

#include "cnn/elementwise.h"

static const cnn_hparam_spec elu_hparams[] = {
    {"alpha", CNN_HP_FLOAT, "scale of the negative part", 0, 1.0, -1e6, 1e6,
     NULL},
};

static inline float elu_value(float x, const cnn_ew_params *p)
{
    return x > 0.0f ? x : p->v[0] * expm1f(x);
}

static inline float elu_grad(float x, float dy, const cnn_ew_params *p)
{
    return x > 0.0f ? dy : dy * p->v[0] * expf(x);
}

CNN_ELEMENTWISE_PLUGIN(elu, "exponential linear unit: alpha (exp(x) - 1) "
                            "for x <= 0",
                       elu_hparams, 1, CNN_EW_FROM_INPUT, CNN_EW_COSTLY)
