/* SPDX-License-Identifier: MIT */
/* tanh: y = tanh(x), element-wise, any shape (nn.Tanh, ONNX Tanh);
 * backward from the saved output, dx = dy (1 - y^2), so the input need not
 * be kept. tanhf costs tens of cycles per element, so the helper spreads
 * large tensors over the host's threads sooner than for relu. */
#include <math.h>

#include "cnn/elementwise.h"

static inline float tanh_value(float x, const cnn_ew_params *p)
{
    (void)p;
    return tanhf(x);
}

static inline float tanh_grad(float y, float dy, const cnn_ew_params *p)
{
    (void)p;
    return dy * (1.0f - y * y);
}

CNN_ELEMENTWISE_PLUGIN(tanh, "hyperbolic tangent, elementwise", NULL, 0,
                       CNN_EW_FROM_OUTPUT, CNN_EW_COSTLY)
