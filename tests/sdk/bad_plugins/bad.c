/* SPDX-License-Identifier: MIT */
/* Deliberately wrong plugins for `cnnrun check-plugin`: one smooth layer,
 *
 *   y = x + x^3 / 3 + w[c]        dy/dx = 1 + x^2,  dL/dw[c] = sum of dy
 *
 * (with a per-channel parameter w, so that parameter gradients are checked
 * too), compiled once per fault. BAD_TYPE is the type name and the file
 * name; exactly one BAD_* fault macro is set by tests/sdk/meson.build:
 *
 *   BAD_SIGN          backward returns -dx (a sign error)
 *   BAD_FACTOR        backward's parameter gradient is half the truth
 *   BAD_WRITE_PAST    forward writes one element past its output
 *   BAD_WRITE_BEFORE  backward writes one element before dx
 *   BAD_NONDET        forward depends on how often it was called
 *   BAD_UNWRITTEN     forward leaves the last output element alone
 *   BAD_ACCUMULATE    backward adds to dx instead of overwriting it
 *   BAD_WRITES_INPUT  forward scribbles on its (const) input
 *   BAD_WORKSPACE     forward writes past the workspace it asked for
 *   BAD_NO_MESSAGE    infer_shape rejects every shape without a message
 *   BAD_CRASH         forward dereferences NULL
 *   BAD_STATE         a running statistic (CNN_PARAM_STATE) that forward
 *                     updates in inference too, where it must not
 *   BAD_EPILOGUE_IGNORED    declares CNN_LAYER_FLAG_ACCEPTS_EPILOGUE but
 *                           forward ignores args->epilogue
 *   BAD_EPILOGUE_DESCRIBED  describes itself as the epilogue y = x + w[c]
 *                           (it forgets x^3 / 3)
 *   BAD_STALE_TOKEN   keeps the shift of its first call with a params
 *                     token (ABI 1.5) and uses it under every later token
 *   none of them      a correct layer (the control) */
#include <stddef.h>
#include <string.h>

#include "cnn/layer.h"

#ifndef BAD_TYPE
#error "BAD_TYPE names the fixture"
#endif

static cnn_status bad_infer(const cnn_hparam_value *hp, const cnn_shape *inputs,
                            uint32_t n_inputs, cnn_shape *output,
                            cnn_errbuf *err)
{
    (void)hp;
#ifdef BAD_NO_MESSAGE
    (void)inputs;
    (void)n_inputs;
    (void)output;
    (void)err;
    return CNN_ERR_SHAPE;
#else
    if (n_inputs != 1 || inputs[0].rank < 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              BAD_TYPE ": needs one input [N, C, ...]");
    *output = inputs[0];
    return CNN_OK;
#endif
}

static cnn_status bad_params(const cnn_layer *layer, cnn_param_spec *specs,
                             uint32_t capacity, uint32_t *count,
                             cnn_errbuf *err)
{
    (void)err;
#ifdef BAD_STATE
    *count = 2;
#else
    *count = 1;
#endif
    if (capacity < *count)
        return CNN_OK;
    memset(&specs[0], 0, sizeof specs[0]);
    strcpy(specs[0].name, "shift");
    specs[0].shape = cnn_shape_make(1, &layer->input_shapes[0].dims[1]);
    specs[0].init = CNN_INIT_ZEROS;
    specs[0].flags = CNN_PARAM_NO_DECAY;
#ifdef BAD_STATE
    specs[1] = specs[0];
    strcpy(specs[1].name, "calls");
    specs[1].flags = CNN_PARAM_NO_DECAY | CNN_PARAM_STATE;
#endif
    return CNN_OK;
}

/* Elements per channel block, and the channel count. */
static void bad_geometry(const cnn_shape *s, size_t *inner, size_t *channels)
{
    *channels = (size_t)s->dims[1];
    *inner = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *inner *= (size_t)s->dims[i];
}

static cnn_status bad_forward(const cnn_layer *layer, const cnn_forward_args *a,
                              cnn_errbuf *err)
{
    const float *x = a->inputs[0].data, *w = a->params[0].data;
    float *y = a->output->data;
    size_t n = cnn_shape_numel(&a->output->shape), inner, channels;
    (void)layer;
    (void)err;
    bad_geometry(&a->output->shape, &inner, &channels);
#ifdef BAD_UNWRITTEN
    n--;
#endif
#ifdef BAD_STALE_TOKEN
    {
        static float kept[64];
        static size_t kept_channels;
        if (a->params_token && !kept_channels && channels <= 64) {
            memcpy(kept, w, channels * sizeof *kept);
            kept_channels = channels;
        }
        if (a->params_token && kept_channels == channels)
            w = kept;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v + v * v * v / 3.0f + w[(i / inner) % channels];
    }
#ifdef BAD_WRITE_PAST
    y[n] = 0.0f;
#endif
#ifdef BAD_NONDET
    {
        static unsigned calls;
        y[0] += 1e-3f * (float)(calls++ % 3);
    }
#endif
#ifdef BAD_WRITES_INPUT
    ((float *)a->inputs[0].data)[0] = x[0];
    ((float *)a->inputs[0].data)[n - 1] += 1.0f;
#endif
#ifdef BAD_WORKSPACE
    {
        float *ws = a->env->workspace(a->env->host, 16);
        if (ws)
            for (size_t i = 0; i <= 16; i++)
                ws[i] = 0.0f;
    }
#endif
#ifdef BAD_STATE
    /* Allowed in training; inference must leave state alone. */
    for (size_t c = 0; c < channels; c++)
        a->params[1].data[c] += 1.0f;
#endif
#ifdef BAD_CRASH
    {
        float *volatile nowhere = NULL;
        y[0] = *nowhere;
    }
#endif
    return CNN_OK;
}

static cnn_status bad_backward(const cnn_layer *layer,
                               const cnn_backward_args *a, cnn_errbuf *err)
{
    const float *x = a->inputs[0].data, *dy = a->output_grad->data;
    float *dx = a->input_grads ? a->input_grads[0].data : NULL;
    size_t n = cnn_shape_numel(&a->output->shape), inner, channels;
    (void)layer;
    (void)err;
    bad_geometry(&a->output->shape, &inner, &channels);
    if (dx) {
#ifdef BAD_WRITE_BEFORE
        dx[-1] = 0.0f;
#endif
        for (size_t i = 0; i < n; i++) {
            float g = dy[i] * (1.0f + x[i] * x[i]);
#if defined(BAD_SIGN)
            dx[i] = -g;
#elif defined(BAD_ACCUMULATE)
            dx[i] += g;
#else
            dx[i] = g;
#endif
        }
    }
    if (a->param_grads) {
        float *dw = a->param_grads[0].data;
        for (size_t c = 0; c < channels; c++)
            dw[c] = 0.0f;
        for (size_t i = 0; i < n; i++)
            dw[(i / inner) % channels] += dy[i];
#ifdef BAD_FACTOR
        for (size_t c = 0; c < channels; c++)
            dw[c] *= 0.5f;
#endif
#ifdef BAD_STATE
        for (size_t c = 0; c < channels; c++)
            a->param_grads[1].data[c] = 0.0f;
#endif
    }
    return CNN_OK;
}

#ifdef BAD_EPILOGUE_DESCRIBED
static cnn_status bad_epilogue(const cnn_layer *layer, const cnn_tensor *params,
                               uint32_t n_params, cnn_epilogue *ep,
                               cnn_errbuf *err)
{
    (void)layer;
    (void)n_params;
    (void)err;
    for (int64_t c = 0; c < ep->channels; c++)
        ep->shift[c] = params[0].data[c];
    ep->affine = 1;
    return CNN_OK;
}
#endif

static const cnn_layer_descriptor bad_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = BAD_TYPE,
    .summary = "check-plugin fixture: y = x + x^3 / 3 + shift[c]",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
#ifdef BAD_EPILOGUE_IGNORED
    .flags = CNN_LAYER_FLAG_ACCEPTS_EPILOGUE,
#else
    .flags = 0,
#endif
    .infer_shape = bad_infer,
    .create = NULL,
    .params = bad_params,
    .forward = bad_forward,
    .backward = bad_backward,
    .destroy = NULL,
    .flops = NULL,
#ifdef BAD_EPILOGUE_DESCRIBED
    .epilogue = bad_epilogue,
#endif
};

CNN_LAYER_PLUGIN(bad_descriptor)
