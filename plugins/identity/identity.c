/* SPDX-License-Identifier: MIT */
/* identity: y = x, dx = dy (nn.Identity, ONNX Identity): a placeholder an
 * importer can keep where a layer was removed, or a named tap for
 * `cnnrun features`. */
#include "cnn/elementwise.h"

static inline float identity_value(float x, const cnn_ew_params *p)
{
    (void)p;
    return x;
}

static inline float identity_grad(float x, float dy, const cnn_ew_params *p)
{
    (void)p;
    (void)x;
    return dy;
}

CNN_ELEMENTWISE_PLUGIN(identity, "identity: y = x", NULL, 0,
                       CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
