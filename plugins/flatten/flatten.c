/* SPDX-License-Identifier: MIT */
/* flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...].
 *
 * Tensors are contiguous row-major, so C,H,W order (PyTorch's nn.Flatten) is
 * the memory order already and both directions are one copy. The copy is
 * skipped when the host hands the same buffer in and out. */
#include <string.h>

#include "cnn/layer.h"

static cnn_status flatten_check(const cnn_shape *s, cnn_shape *out,
                                cnn_errbuf *err)
{
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: input rank %d, need 2..%d "
                              "(batch first)",
                              (int)s->rank, CNN_MAX_RANK);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: batch size %lld is negative",
                              (long long)s->dims[0]);
    int64_t f = 1;
    for (int32_t i = 1; i < s->rank; i++) {
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "flatten: input dim %d is %lld, must be "
                                  ">= 1",
                                  (int)i, (long long)s->dims[i]);
        if (f > INT64_MAX / s->dims[i])
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "flatten: feature count overflows at dim %d",
                                  (int)i);
        f *= s->dims[i];
    }
    *out = cnn_shape2(s->dims[0], f);
    int ok;
    (void)cnn_shape_numel_checked(out, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: element count overflows");
    return CNN_OK;
}

static cnn_status flatten_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: takes 1 input, got %u", n_inputs);
    return flatten_check(&inputs[0], output, err);
}

/* The flat shape of `in` must be `out`; both are then the same bytes. */
static cnn_status flatten_pair(const cnn_layer *layer, const cnn_shape *in,
                               const cnn_shape *out, cnn_errbuf *err)
{
    cnn_shape want;
    cnn_status st = flatten_check(in, &want, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(&want, out))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten '%s': output is not %lldx%lld",
                              layer->name, (long long)want.dims[0],
                              (long long)want.dims[1]);
    return CNN_OK;
}

static cnn_status flatten_forward(const cnn_layer *layer,
                                  const cnn_forward_args *args,
                                  cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st = flatten_pair(layer, &x->shape, &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = cnn_tensor_numel(x);
    if (n && args->output->data != x->data)
        memmove(args->output->data, x->data, n * sizeof(float));
    return CNN_OK;
}

static cnn_status flatten_backward(const cnn_layer *layer,
                                   const cnn_backward_args *args,
                                   cnn_errbuf *err)
{
    cnn_tensor *dx = args->input_grads ? &args->input_grads[0] : NULL;
    if (!dx || !dx->data)
        return CNN_OK;
    const cnn_tensor *dy = args->output_grad;
    cnn_status st =
        flatten_pair(layer, &args->inputs[0].shape, &dy->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = cnn_tensor_numel(dy);
    if (n && dx->data != dy->data)
        memmove(dx->data, dy->data, n * sizeof(float));
    return CNN_OK;
}

static const cnn_layer_descriptor flatten_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "flatten",
    .summary = "reshape [N, ...] to [N, features] in C,H,W order",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = flatten_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(flatten_descriptor)
