/* SPDX-License-Identifier: MIT */
/* silu: y = x sigmoid(x), element-wise, any shape (nn.SiLU, F.silu; also
 * called swish: EfficientNet's activation). Backward from the saved input,
 * dx = dy s (1 + x (1 - s)) with s = sigmoid(x): y alone cannot give s.
 *
 * s is evaluated as in plugins/sigmoid, from e = exp(-|x|) <= 1 as
 * 1 / (1 + e) or e / (1 + e), so nothing overflows; 1 - s is the other
 * choice of the same select, so it keeps its precision where s is near 1
 * instead of cancelling. Selects, not branches, and cnn_expf_nonpos
 * (cnn/expf_vec.h) rather than libm's expf, so the compiler vectorises
 * both loops. x = -inf gives -inf * 0 = NaN, as PyTorch's x * sigmoid(x). */
#include <math.h>

#include "cnn/elementwise.h"
#include "cnn/expf_vec.h"

static inline float silu_value(float x, const cnn_ew_params *p)
{
    (void)p;
    float e = cnn_expf_nonpos(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    float s = x >= 0.0f ? r : e * r;
    return x * s;
}

static inline float silu_grad(float x, float dy, const cnn_ew_params *p)
{
    (void)p;
    float e = cnn_expf_nonpos(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    float s = x >= 0.0f ? r : e * r;
    float c = x >= 0.0f ? e * r : r; /* 1 - s */
    return dy * s * (1.0f + x * c);
}

CNN_ELEMENTWISE_PLUGIN(silu, "SiLU (swish): y = x sigmoid(x), elementwise",
                       NULL, 0, CNN_EW_FROM_INPUT, CNN_EW_COSTLY)
