/* SPDX-License-Identifier: MIT */
/* prelu: y = x for x > 0, a[c] x otherwise, with one learned slope per
 * channel (PyTorch's nn.PReLU(num_parameters=C), except that the slopes
 * start at 0, a plain ReLU: it keeps to the ABI 1.1 init rules, which
 * had no constant; the built-in plugins/prelu uses 1.2's CNN_INIT_CONSTANT
 * for PyTorch's 0.25).
 *
 * Written from docs/plugin-abi.md and cnn/layer.h alone, as a new author
 * would, to keep the document sufficient: tests/sdk/sdk_install.sh builds
 * it against the installed SDK with the documented compiler line and runs
 * check-plugin on it. Unlike examples/lrn it has a parameter, so it covers
 * the params hook, parameter gradients and frozen layers. */
#include <string.h>

#include "cnn/layer.h"

static cnn_status prelu_infer_shape(const cnn_hparam_value *hp,
                                    const cnn_shape *inputs, uint32_t n_inputs,
                                    cnn_shape *output, cnn_errbuf *err)
{
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "prelu takes 1 input, got %u",
                              n_inputs);
    if (inputs[0].rank < 2 || inputs[0].dims[1] < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu needs an input [N, C, ...] with C >= 1, "
                              "got rank %d",
                              (int)inputs[0].rank);
    *output = inputs[0];
    return CNN_OK;
}

/* One slope per channel, exempt from weight decay like PyTorch's
 * recommendation for PReLU. */
static cnn_status prelu_params(const cnn_layer *layer, cnn_param_spec *specs,
                               uint32_t capacity, uint32_t *count,
                               cnn_errbuf *err)
{
    (void)err;
    *count = 1;
    if (capacity < 1)
        return CNN_OK;
    memset(&specs[0], 0, sizeof specs[0]);
    strcpy(specs[0].name, "weight");
    specs[0].shape = cnn_shape_make(1, &layer->input_shapes[0].dims[1]);
    specs[0].init = CNN_INIT_ZEROS;
    specs[0].flags = CNN_PARAM_NO_DECAY;
    return CNN_OK;
}

/* Elements per channel block (the pixels), and channels. */
static void prelu_geometry(const cnn_shape *s, size_t *pixels, size_t *channels)
{
    *channels = (size_t)s->dims[1];
    *pixels = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *pixels *= (size_t)s->dims[i];
}

static cnn_status prelu_forward(const cnn_layer *layer,
                                const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    const float *a = args->params[0].data;
    float *y = args->output->data;
    size_t pixels, channels, n = cnn_tensor_numel(x);
    if (!cnn_shape_equal(&x->shape, &args->output->shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu '%s': output shape differs from input",
                              layer->name);
    prelu_geometry(&x->shape, &pixels, &channels);
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i];
        y[i] = v > 0.0f ? v : a[(i / pixels) % channels] * v;
    }
    return CNN_OK;
}

static cnn_status prelu_backward(const cnn_layer *layer,
                                 const cnn_backward_args *args, cnn_errbuf *err)
{
    const float *x = args->inputs[0].data, *dy = args->output_grad->data;
    const float *a = args->params[0].data;
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    float *da = args->param_grads ? args->param_grads[0].data : NULL;
    size_t pixels, channels, n = cnn_shape_numel(&args->inputs[0].shape);
    (void)layer;
    (void)err;
    prelu_geometry(&args->inputs[0].shape, &pixels, &channels);
    if (dx)
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : a[(i / pixels) % channels] * dy[i];
    if (da) {
        /* Overwrite, then sum in a fixed order: deterministic. */
        for (size_t c = 0; c < channels; c++)
            da[c] = 0.0f;
        for (size_t i = 0; i < n; i++)
            if (!(x[i] > 0.0f))
                da[(i / pixels) % channels] += dy[i] * x[i];
    }
    return CNN_OK;
}

static const cnn_layer_descriptor prelu_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "prelu",
    .summary = "parametric ReLU: one learned negative slope per channel",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = prelu_infer_shape,
    .create = NULL,
    .params = prelu_params,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(prelu_descriptor)
