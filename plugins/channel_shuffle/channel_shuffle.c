/* SPDX-License-Identifier: MIT */
/* channel_shuffle: interleaves the channels of `groups` groups, as
 * torch.nn.ChannelShuffle(groups):
 *
 *   y = x.view(N, g, C/g, P).transpose(1, 2).reshape(N, C, P)
 *
 * so output channel j g + i is input channel i (C/g) + j (i < g, j < C/g),
 * with P the product of the dims after C (any rank >= 2). ShuffleNet V2
 * mixes the two branches of every unit with it (groups 2); ONNX has no
 * operator for it, and torch exports it as Reshape, Transpose, Reshape.
 *
 * A permutation of whole channel planes: forward and backward are N C
 * plane copies, exact, with no parameters. Backward scatters dy back
 * through the inverse permutation and reads neither x nor y. */
#include <stdio.h>
#include <string.h>

#include "channel_shape.h"
#include "cnn/layer.h"

enum { HP_GROUPS };

static const cnn_hparam_spec channel_shuffle_hparams[] = {
    {"groups", CNN_HP_INT,
     "channel groups interleaved; must divide the input channels (dim 1)", 1,
     0, 1, 16777216, NULL},
};

/* Checks one input shape against groups; the output has the same shape.
 * `who` names the layer in messages from forward and backward (the host
 * prefixes infer_shape's with the layer's name itself). */
static cnn_status channel_shuffle_check(const char *who, int64_t groups,
                                        const cnn_shape *s, cnn_errbuf *err)
{
    cnn_status st = cnn_channel_shape_check(who, s, err);
    if (st != CNN_OK)
        return st;
    if (groups < 1 || s->dims[1] % groups != 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: groups %lld does not divide the input's "
                              "%lld channels (dim 1)",
                              who, (long long)groups, (long long)s->dims[1]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: element count overflows", who);
    return CNN_OK;
}

static cnn_status channel_shuffle_infer_shape(const cnn_hparam_value *hp,
                                              const cnn_shape *inputs,
                                              uint32_t n_inputs,
                                              cnn_shape *output,
                                              cnn_errbuf *err)
{
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "channel_shuffle: takes 1 input, got %u",
                              n_inputs);
    cnn_status st = channel_shuffle_check("channel_shuffle",
                                          hp[HP_GROUPS].i[0], &inputs[0], err);
    if (st != CNN_OK)
        return st;
    *output = inputs[0];
    return CNN_OK;
}

/* The input and output (or dy and dx) of one call: a valid input shape,
 * and the output of the same shape. */
static cnn_status channel_shuffle_check_call(const cnn_layer *layer,
                                             const cnn_shape *in,
                                             const cnn_shape *out,
                                             cnn_errbuf *err)
{
    char who[CNN_NAME_MAX + 32];
    snprintf(who, sizeof who, "channel_shuffle '%s'", layer->name);
    cnn_status st = channel_shuffle_check(who, layer->hparams[HP_GROUPS].i[0],
                                          in, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(in, out))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: output shape differs from the input's",
                              who);
    return CNN_OK;
}

/* Output channel o = j g + i comes from input channel i (C/g) + j. With
 * inverse set, the other way: dx channel i (C/g) + j from dy channel
 * j g + i. */
static void channel_shuffle_copy(const cnn_shape *s, int64_t groups,
                                 const float *src, float *dst, int inverse)
{
    size_t n = (size_t)s->dims[0], c = (size_t)s->dims[1];
    size_t g = (size_t)groups, cg = c / g;
    size_t plane = cnn_channel_plane(s), bytes = plane * sizeof(float);
    for (size_t b = 0; b < n; b++) {
        const float *sb = src + b * c * plane;
        float *db = dst + b * c * plane;
        for (size_t o = 0; o < c; o++) {
            size_t from = (o % g) * cg + o / g; /* input channel of o */
            if (inverse)
                memcpy(db + from * plane, sb + o * plane, bytes);
            else
                memcpy(db + o * plane, sb + from * plane, bytes);
        }
    }
}

static cnn_status channel_shuffle_forward(const cnn_layer *layer,
                                          const cnn_forward_args *args,
                                          cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st = channel_shuffle_check_call(layer, &x->shape,
                                               &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    channel_shuffle_copy(&x->shape, layer->hparams[HP_GROUPS].i[0], x->data,
                         args->output->data, 0);
    return CNN_OK;
}

static cnn_status channel_shuffle_backward(const cnn_layer *layer,
                                           const cnn_backward_args *args,
                                           cnn_errbuf *err)
{
    cnn_tensor *dx = args->input_grads ? &args->input_grads[0] : NULL;
    if (!dx || !dx->data)
        return CNN_OK;
    const cnn_tensor *dy = args->output_grad;
    cnn_status st = channel_shuffle_check_call(layer, &args->inputs[0].shape,
                                               &dy->shape, err);
    if (st != CNN_OK)
        return st;
    channel_shuffle_copy(&dy->shape, layer->hparams[HP_GROUPS].i[0], dy->data,
                         dx->data, 1);
    return CNN_OK;
}

static const cnn_layer_descriptor channel_shuffle_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "channel_shuffle",
    .summary = "shuffle channels across groups: output channel j * groups "
               "+ i is input channel i * (C / groups) + j "
               "(nn.ChannelShuffle)",
    .hparams = channel_shuffle_hparams,
    .n_hparams = sizeof channel_shuffle_hparams /
                 sizeof channel_shuffle_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward is a copy of dy: it never reads the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = channel_shuffle_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = channel_shuffle_forward,
    .backward = channel_shuffle_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(channel_shuffle_descriptor)
