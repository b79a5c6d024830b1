/* SPDX-License-Identifier: MIT */
/* hardswish: y = x relu6(x + 3) / 6 (PyTorch's nn.Hardswish, ONNX
 * HardSwish, MobileNetV3's activation): 0 for x <= -3, x for x >= 3.
 * The gradient is PyTorch's: 0 for x < -3, x / 3 + 1/2 for -3 <= x <= 3,
 * 1 above. */
#include "cnn/elementwise.h"

static inline float hardswish_value(float x, const cnn_ew_params *p)
{
    (void)p;
    float r = x + 3.0f;
    r = r < 0.0f ? 0.0f : r;
    r = r > 6.0f ? 6.0f : r;
    return x * r * (1.0f / 6.0f);
}

static inline float hardswish_grad(float x, float dy, const cnn_ew_params *p)
{
    (void)p;
    float mid = dy * (x * (1.0f / 3.0f) + 0.5f);
    return x < -3.0f ? 0.0f : x <= 3.0f ? mid : dy;
}

CNN_ELEMENTWISE_PLUGIN(hardswish, "hard swish: y = x relu6(x + 3) / 6", NULL,
                       0, CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
