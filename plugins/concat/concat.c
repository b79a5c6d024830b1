/* SPDX-License-Identifier: MIT */
/* concat: joins 2..256 inputs along dim 1 (channels), as torch.cat(xs, 1).
 * DenseNet joins every earlier layer of a block: 33 inputs in
 * DenseNet-121, 49 in DenseNet-201.
 *
 * Inputs must agree in rank, batch and every dim after 1. Row-major NCHW
 * makes each input's slab for one sample a contiguous block of
 * C_k * (product of trailing dims) floats, and the output for one sample is
 * those blocks back to back, so both directions are N * n_inputs copies. */
#include <stdio.h>
#include <string.h>

#include "channel_shape.h"
#include "cnn/layer.h"

#define CONCAT_MAX_INPUTS 256u

/* Dims from `from` on, "3x8x8"; always NUL-terminated. */
static void concat_format_dims(char *buf, size_t size, const cnn_shape *s,
                               int32_t from)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = from; i < s->rank && i < CNN_MAX_RANK && used < size;
         i++) {
        int n = snprintf(buf + used, size - used, i > from ? "x%lld" : "%lld",
                         (long long)s->dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Input k's shape sits `stride` bytes after input k - 1's: an array of
 * shapes (infer_shape) or of tensors (a call), checked without a copy. */
static const cnn_shape *shape_at(const void *first, size_t stride, uint32_t k)
{
    return (const cnn_shape *)((const char *)first + (size_t)k * stride);
}

static cnn_status concat_check_inputs(const char *who, const void *first,
                                      size_t stride, uint32_t n_inputs,
                                      cnn_shape *output, cnn_errbuf *err)
{
    if (n_inputs < 2 || n_inputs > CONCAT_MAX_INPUTS)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: takes 2..%u inputs, got %u", who,
                              CONCAT_MAX_INPUTS, n_inputs);
    const cnn_shape *s0 = shape_at(first, stride, 0);
    int64_t channels = 0;
    for (uint32_t k = 0; k < n_inputs; k++) {
        const cnn_shape *s = shape_at(first, stride, k);
        if (s->rank < 2 || s->rank > CNN_MAX_RANK)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input %u has rank %d, need 2..%d "
                                  "(batch, channels, ...)",
                                  who, k, (int)s->rank, CNN_MAX_RANK);
        if (s->rank != s0->rank)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input %u has rank %d, input 0 has "
                                  "rank %d",
                                  who, k, (int)s->rank, (int)s0->rank);
        if (s->dims[0] != s0->dims[0] || s->dims[0] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input %u has batch %lld, input 0 has "
                                  "batch %lld",
                                  who, k, (long long)s->dims[0],
                                  (long long)s0->dims[0]);
        for (int32_t i = 1; i < s->rank; i++) {
            if (s->dims[i] < 1)
                return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                      "%s: input %u dim %d is %lld, must be "
                                      ">= 1",
                                      who, k, (int)i, (long long)s->dims[i]);
            if (i >= 2 && s->dims[i] != s0->dims[i]) {
                char a[160], b[160];
                concat_format_dims(a, sizeof a, s, 1);
                concat_format_dims(b, sizeof b, s0, 1);
                return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                      "%s: input %u has %s, input 0 has %s "
                                      "(only dim 1 may differ)",
                                      who, k, a, b);
            }
        }
        if (s->dims[1] > INT64_MAX - channels)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: channel count overflows at input %u",
                                  who, k);
        channels += s->dims[1];
    }
    *output = *s0;
    output->dims[1] = channels;
    int ok;
    (void)cnn_shape_numel_checked(output, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: output element count overflows", who);
    return CNN_OK;
}

static cnn_status concat_infer_shape(const cnn_hparam_value *hp,
                                     const cnn_shape *inputs,
                                     uint32_t n_inputs, cnn_shape *output,
                                     cnn_errbuf *err)
{
    (void)hp;
    return concat_check_inputs("concat", inputs, sizeof *inputs, n_inputs,
                               output, err);
}

static cnn_status concat_check_call(const cnn_layer *layer,
                                    const cnn_tensor *inputs,
                                    uint32_t n_inputs, const cnn_shape *out,
                                    cnn_errbuf *err)
{
    cnn_shape want = {0};
    char who[CNN_NAME_MAX + 16];
    snprintf(who, sizeof who, "concat '%s'", layer->name);
    cnn_status st = concat_check_inputs(who, inputs ? &inputs[0].shape : NULL,
                                        sizeof *inputs,
                                        n_inputs, &want, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(out, &want)) {
        char a[160], b[160];
        concat_format_dims(a, sizeof a, out, 0);
        concat_format_dims(b, sizeof b, &want, 0);
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: output has %s, inputs make %s", who, a, b);
    }
    return CNN_OK;
}

static cnn_status concat_forward(const cnn_layer *layer,
                                 const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_tensor *out = args->output;
    cnn_status st = concat_check_call(layer, args->inputs, args->n_inputs,
                                      &out->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = (size_t)out->shape.dims[0];
    size_t inner = cnn_channel_plane(&out->shape);
    size_t out_stride = (size_t)out->shape.dims[1] * inner;
    size_t offset = 0;
    for (uint32_t k = 0; k < args->n_inputs; k++) {
        const cnn_tensor *x = &args->inputs[k];
        size_t block = (size_t)x->shape.dims[1] * inner;
        for (size_t i = 0; i < n; i++)
            memcpy(out->data + i * out_stride + offset, x->data + i * block,
                   block * sizeof(float));
        offset += block;
    }
    return CNN_OK;
}

static cnn_status concat_backward(const cnn_layer *layer,
                                  const cnn_backward_args *args,
                                  cnn_errbuf *err)
{
    if (!args->input_grads)
        return CNN_OK;
    const cnn_tensor *dy = args->output_grad;
    cnn_status st = concat_check_call(layer, args->inputs, args->n_inputs,
                                      &dy->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = (size_t)dy->shape.dims[0];
    size_t inner = cnn_channel_plane(&dy->shape);
    size_t dy_stride = (size_t)dy->shape.dims[1] * inner;
    size_t offset = 0;
    for (uint32_t k = 0; k < args->n_inputs; k++) {
        size_t block = (size_t)args->inputs[k].shape.dims[1] * inner;
        float *dx = args->input_grads[k].data;
        if (dx)
            for (size_t i = 0; i < n; i++)
                memcpy(dx + i * block, dy->data + i * dy_stride + offset,
                       block * sizeof(float));
        offset += block;
    }
    return CNN_OK;
}

static const cnn_layer_descriptor concat_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "concat",
    .summary = "concatenate 2..256 inputs along dim 1 (channels)",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 2,
    .max_inputs = CONCAT_MAX_INPUTS,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = concat_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = concat_forward,
    .backward = concat_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(concat_descriptor)
