/* SPDX-License-Identifier: MIT */
/* slice: channels [start, end) of dim 1, as x[:, start:end] on
 * [N, C, ...] (any rank >= 2): the output is [N, end - start, ...].
 * ShuffleNet V2 splits every stride-1 unit's input in two halves with
 * torch's x.chunk(2, dim=1), which ONNX exports as two Slice nodes on the
 * channel axis; this is one of them. 0 <= start < end <= C is required:
 * no negative or clamped bounds.
 *
 * Row-major NCHW makes a sample's channel block one contiguous run of
 * (end - start) * P floats (P the product of the dims after C), so forward
 * is N copies. Backward writes the whole input gradient: dy's block in
 * place and zeros in the channels the slice does not take (the ABI's
 * input gradients are overwritten, never accumulated). No parameters;
 * backward reads neither x nor y. */
#include <stdio.h>
#include <string.h>

#include "channel_shape.h"
#include "cnn/layer.h"

enum { HP_START, HP_END };

static const cnn_hparam_spec slice_hparams[] = {
    {"start", CNN_HP_INT, "first channel (dim 1) taken, 0 .. C - 1", 0, 0, 0,
     16777216, NULL},
    {"end", CNN_HP_INT,
     "one past the last channel taken, start + 1 .. C (x[:, start:end])", 1,
     0, 1, 16777216, NULL},
};

/* Checks the input shape against start and end and gives the output
 * shape. `who` names the layer in messages from forward and backward
 * (the host prefixes infer_shape's with the layer's name itself). */
static cnn_status slice_check(const char *who, const cnn_hparam_value *hp,
                              const cnn_shape *s, cnn_shape *out,
                              cnn_errbuf *err)
{
    int64_t start = hp[HP_START].i[0], end = hp[HP_END].i[0];
    cnn_status st = cnn_channel_shape_check(who, s, err);
    if (st != CNN_OK)
        return st;
    if (start < 0 || start >= end)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: start %lld and end %lld take no channel "
                              "(need 0 <= start < end)",
                              who, (long long)start, (long long)end);
    if (end > s->dims[1])
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: end %lld is past the input's %lld "
                              "channels (dim 1; need start < end <= %lld)",
                              who, (long long)end, (long long)s->dims[1],
                              (long long)s->dims[1]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: element count overflows", who);
    *out = *s;
    out->dims[1] = end - start;
    return CNN_OK;
}

static cnn_status slice_infer_shape(const cnn_hparam_value *hp,
                                    const cnn_shape *inputs, uint32_t n_inputs,
                                    cnn_shape *output, cnn_errbuf *err)
{
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "slice: takes 1 input, got %u", n_inputs);
    return slice_check("slice", hp, &inputs[0], output, err);
}

/* The input shape of one call and its output (or dy) shape. */
static cnn_status slice_check_call(const cnn_layer *layer, const cnn_shape *in,
                                   const cnn_shape *out, cnn_errbuf *err)
{
    char who[CNN_NAME_MAX + 16];
    cnn_shape want;
    snprintf(who, sizeof who, "slice '%s'", layer->name);
    cnn_status st = slice_check(who, layer->hparams, in, &want, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: output shape differs from the inferred "
                              "one",
                              who);
    return CNN_OK;
}

static cnn_status slice_forward(const cnn_layer *layer,
                                const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st =
        slice_check_call(layer, &x->shape, &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = (size_t)x->shape.dims[0], plane = cnn_channel_plane(&x->shape);
    size_t in_stride = (size_t)x->shape.dims[1] * plane;
    size_t offset = (size_t)layer->hparams[HP_START].i[0] * plane;
    size_t block = (size_t)args->output->shape.dims[1] * plane;
    for (size_t i = 0; i < n; i++)
        memcpy(args->output->data + i * block,
               x->data + i * in_stride + offset, block * sizeof(float));
    return CNN_OK;
}

static cnn_status slice_backward(const cnn_layer *layer,
                                 const cnn_backward_args *args,
                                 cnn_errbuf *err)
{
    cnn_tensor *dx = args->input_grads ? &args->input_grads[0] : NULL;
    if (!dx || !dx->data)
        return CNN_OK;
    const cnn_tensor *dy = args->output_grad;
    const cnn_shape *in = &args->inputs[0].shape;
    cnn_status st = slice_check_call(layer, in, &dy->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = (size_t)in->dims[0], plane = cnn_channel_plane(in);
    size_t in_stride = (size_t)in->dims[1] * plane;
    size_t offset = (size_t)layer->hparams[HP_START].i[0] * plane;
    size_t block = (size_t)dy->shape.dims[1] * plane;
    size_t after = in_stride - offset - block;
    for (size_t i = 0; i < n; i++) {
        float *d = dx->data + i * in_stride;
        memset(d, 0, offset * sizeof(float));
        memcpy(d + offset, dy->data + i * block, block * sizeof(float));
        memset(d + offset + block, 0, after * sizeof(float));
    }
    return CNN_OK;
}

static const cnn_layer_descriptor slice_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "slice",
    .summary = "channels [start, end) of dim 1 (x[:, start:end])",
    .hparams = slice_hparams,
    .n_hparams = sizeof slice_hparams / sizeof slice_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the input's shape, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = slice_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = slice_forward,
    .backward = slice_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(slice_descriptor)
