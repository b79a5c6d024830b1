/* SPDX-License-Identifier: MIT */
/* clip: y = min(max(x, min), max) (ONNX Clip, torch.clamp). With min > max
 * every output is max, as in both. The gradient passes where
 * min <= x <= max, torch.clamp's rule (its backward keeps the end points);
 * relu6 and hardsigmoid, which PyTorch derives from hardtanh, exclude
 * them. */
#include "cnn/elementwise.h"

static const cnn_hparam_spec clip_hparams[] = {
    {"min", CNN_HP_FLOAT, "lower bound (default: the lowest float)", 0,
     -3.4028234663852886e38, -3.4028234663852886e38, 3.4028234663852886e38,
     NULL},
    {"max", CNN_HP_FLOAT, "upper bound (default: the largest float)", 0,
     3.4028234663852886e38, -3.4028234663852886e38, 3.4028234663852886e38,
     NULL},
};

static inline float clip_value(float x, const cnn_ew_params *p)
{
    float y = x < p->v[0] ? p->v[0] : x;
    return y > p->v[1] ? p->v[1] : y;
}

static inline float clip_grad(float x, float dy, const cnn_ew_params *p)
{
    return x >= p->v[0] && x <= p->v[1] ? dy : 0.0f;
}

/* At inference the host may fold it into the layer below (ABI 1.4). */
static cnn_status clip_epilogue(const cnn_layer *layer,
                                const cnn_tensor *params, uint32_t n_params,
                                cnn_epilogue *ep, cnn_errbuf *err)
{
    cnn_ew_params p = cnn_ew_params_of(clip_hparams, layer->hparams, 2);
    (void)params, (void)n_params, (void)err;
    return cnn_ew_clamp_epilogue(ep, p.v[0], p.v[1]);
}

CNN_ELEMENTWISE_PLUGIN_CLAMP(clip, "clamp to [min, max] (ONNX Clip, torch.clamp)",
                       clip_hparams, 2, CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
