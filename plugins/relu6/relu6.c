/* SPDX-License-Identifier: MIT */
/* relu6: y = min(max(x, 0), 6) (PyTorch's nn.ReLU6, MobileNetV2's
 * activation; ONNX Clip(0, 6)). The gradient passes where 0 < x < 6, as in
 * PyTorch's hardtanh backward, and is 0 at both kinks. */
#include "cnn/elementwise.h"

static inline float relu6_value(float x, const cnn_ew_params *p)
{
    (void)p;
    float y = x < 0.0f ? 0.0f : x;
    return y > 6.0f ? 6.0f : y;
}

static inline float relu6_grad(float x, float dy, const cnn_ew_params *p)
{
    (void)p;
    return x > 0.0f && x < 6.0f ? dy : 0.0f;
}

/* At inference the host may fold it into the layer below (ABI 1.4). */
static cnn_status relu6_epilogue(const cnn_layer *layer,
                                  const cnn_tensor *params, uint32_t n_params,
                                  cnn_epilogue *ep, cnn_errbuf *err)
{
    (void)layer, (void)params, (void)n_params, (void)err;
    return cnn_ew_clamp_epilogue(ep, 0.0f, 6.0f);
}

CNN_ELEMENTWISE_PLUGIN_CLAMP(relu6, "ReLU capped at 6: y = min(max(x, 0), 6)", NULL,
                       0, CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
