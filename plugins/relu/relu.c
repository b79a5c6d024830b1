/* SPDX-License-Identifier: MIT */
/* relu: y = max(x, 0), element-wise, any shape (PyTorch's nn.ReLU, ONNX
 * Relu).
 *
 * backward reads the saved output: y > 0 exactly when x > 0, so
 * dx = dy where y > 0 and 0 elsewhere, which gives 0 at x == 0 like
 * PyTorch. A NaN input stays NaN (x < 0 is false for NaN) so divergence is
 * not hidden from the loss check. Both are selects the compiler vectorises;
 * cnn/elementwise.h writes the loops and the threading. */
#include <math.h>

#include "cnn/elementwise.h"

static inline float relu_value(float x, const cnn_ew_params *p)
{
    (void)p;
    return x < 0.0f ? 0.0f : x;
}

static inline float relu_grad(float y, float dy, const cnn_ew_params *p)
{
    (void)p;
    return y > 0.0f ? dy : 0.0f;
}

/* At inference the host may fold it into the layer below (ABI 1.4). */
static cnn_status relu_epilogue(const cnn_layer *layer,
                                  const cnn_tensor *params, uint32_t n_params,
                                  cnn_epilogue *ep, cnn_errbuf *err)
{
    (void)layer, (void)params, (void)n_params, (void)err;
    return cnn_ew_clamp_epilogue(ep, 0.0f, INFINITY);
}

CNN_ELEMENTWISE_PLUGIN_CLAMP(relu, "rectified linear unit: y = max(x, 0)", NULL, 0,
                       CNN_EW_FROM_OUTPUT, CNN_EW_CHEAP)
