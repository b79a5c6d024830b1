/* SPDX-License-Identifier: MIT */
/* flatten: merges dims start_dim..end_dim into one, torch.flatten's
 * semantics (negative dims count from the end); the defaults, 1 and -1,
 * give [N, d1 * d2 * ...], nn.Flatten. The batch dim 0 never folds.
 *
 * Tensors are contiguous row-major, so C,H,W order (PyTorch's) is the
 * memory order already and both directions are one copy. The copy is
 * skipped when the host hands the same buffer in and out. */
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"

enum { HP_START_DIM, HP_END_DIM };

static const cnn_hparam_spec flatten_hparams[] = {
    {"start_dim", CNN_HP_INT,
     "first dim merged (1 .. rank - 1, or negative from the end); never 0, "
     "the batch",
     0, 1, -(CNN_MAX_RANK - 1), CNN_MAX_RANK - 1, NULL},
    {"end_dim", CNN_HP_INT,
     "last dim merged (-1: the last), not before start_dim", 0, -1,
     -(CNN_MAX_RANK - 1), CNN_MAX_RANK - 1, NULL},
};

static cnn_status flatten_check(const cnn_hparam_value *hp,
                                const cnn_shape *s, cnn_shape *out,
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
    int64_t sd = hp[HP_START_DIM].i[0], ed = hp[HP_END_DIM].i[0];
    int64_t a = sd < 0 ? sd + s->rank : sd, b = ed < 0 ? ed + s->rank : ed;
    if (a < 1 || a >= s->rank)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: start_dim %lld is not a dim of a "
                              "rank-%d input after the batch (use 1..%d or "
                              "-1..-%d)",
                              (long long)sd, (int)s->rank, (int)s->rank - 1,
                              (int)s->rank - 1);
    if (b < a || b >= s->rank)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: end_dim %lld (dim %lld of a rank-%d "
                              "input) comes before start_dim %lld or past "
                              "the last dim",
                              (long long)ed, (long long)b, (int)s->rank,
                              (long long)sd);
    int64_t f = 1;
    for (int32_t i = 1; i < s->rank; i++) {
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "flatten: input dim %d is %lld, must be "
                                  ">= 1",
                                  (int)i, (long long)s->dims[i]);
        if (i >= a && i <= b && f > INT64_MAX / s->dims[i])
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "flatten: feature count overflows at dim %d",
                                  (int)i);
        if (i >= a && i <= b)
            f *= s->dims[i];
    }
    cnn_shape o;
    memset(&o, 0, sizeof o);
    o.rank = s->rank - (int32_t)(b - a);
    for (int32_t i = 0; i < a; i++)
        o.dims[i] = s->dims[i];
    o.dims[a] = f;
    for (int32_t i = (int32_t)b + 1; i < s->rank; i++)
        o.dims[i - (b - a)] = s->dims[i];
    *out = o;
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
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten: takes 1 input, got %u", n_inputs);
    return flatten_check(hp, &inputs[0], output, err);
}

/* The flat shape of `in` must be `out`; both are then the same bytes. */
static cnn_status flatten_pair(const cnn_layer *layer, const cnn_shape *in,
                               const cnn_shape *out, cnn_errbuf *err)
{
    cnn_shape want;
    cnn_status st = flatten_check(layer->hparams, in, &want, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(&want, out))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "flatten '%s': output shape differs from the "
                              "inferred one",
                              layer->name);
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
    .summary = "merge dims start_dim..end_dim (default: [N, ...] to "
               "[N, features] in C,H,W order)",
    .hparams = flatten_hparams,
    .n_hparams = sizeof flatten_hparams / sizeof flatten_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = flatten_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(flatten_descriptor)
