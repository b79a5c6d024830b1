/* SPDX-License-Identifier: MIT */
/* dropout: inverted dropout, the identity outside training.
 *
 * In training, element i (flat index over the whole tensor, batch included)
 * is kept iff cnn_uniform_hash(seed, i) >= rate, and kept values are scaled
 * by 1 / (1 - rate) so the expected activation matches inference. The mask
 * is never stored: the hash is stateless and backward gets forward's seed,
 * so backward recomputes the identical mask (hence
 * CNN_LAYER_FLAG_STOCHASTIC). rate = 1 would divide by zero and drop
 * everything, so the bound is [0, 1) even though hyperparameter bounds are
 * inclusive: infer_shape rejects 1. Backward reads only dy and the seed,
 * so the layer runs in place (CNN_LAYER_FLAG_IN_PLACE). */
#include <string.h>

#include "cnn/layer.h"

enum { HP_RATE };

static const cnn_hparam_spec dropout_hparams[] = {
    {"rate", CNN_HP_FLOAT, "probability of zeroing an element, 0 <= rate < 1",
     0, 0.5, 0.0, 1.0, NULL},
};

static cnn_status dropout_rate(const cnn_hparam_value *hp, double *rate,
                               cnn_errbuf *err)
{
    double r = hp[HP_RATE].f;
    /* Written so that NaN fails too. */
    if (!(r >= 0.0 && r < 1.0))
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "dropout: rate %g out of range, need 0 <= rate "
                              "< 1",
                              r);
    *rate = r;
    return CNN_OK;
}

static cnn_status dropout_shape_check(const cnn_shape *s, cnn_errbuf *err)
{
    if (s->rank < 1 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dropout: input rank %d, need 1..%d",
                              (int)s->rank, CNN_MAX_RANK);
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "dropout: input dim %d is %lld", (int)i,
                                  (long long)s->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dropout: input element count overflows");
    return CNN_OK;
}

static cnn_status dropout_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    double rate = 0.0;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dropout: takes 1 input, got %u", n_inputs);
    cnn_status st = dropout_rate(hp, &rate, err);
    if (st != CNN_OK)
        return st;
    st = dropout_shape_check(&inputs[0], err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static cnn_status dropout_same(const cnn_layer *layer, const cnn_shape *a,
                               const cnn_shape *b, cnn_errbuf *err)
{
    cnn_status st = dropout_shape_check(a, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(a, b))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dropout '%s': tensor shapes differ",
                              layer->name);
    return CNN_OK;
}

/* out = in * mask * scale; forward and backward are the same map. in and
 * out may be the same buffer (CNN_LAYER_FLAG_IN_PLACE), so no restrict. */
static void dropout_apply(const float *in, float *out, size_t n,
                          uint64_t seed, double rate)
{
    float scale = (float)(1.0 / (1.0 - rate));
    for (size_t i = 0; i < n; i++) {
        int keep = (double)cnn_uniform_hash(seed, (uint64_t)i) >= rate;
        out[i] = keep ? in[i] * scale : 0.0f;
    }
}

static cnn_status dropout_forward(const cnn_layer *layer,
                                  const cnn_forward_args *args,
                                  cnn_errbuf *err)
{
    double rate = 0.0;
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st = dropout_rate(layer->hparams, &rate, err);
    if (st == CNN_OK)
        st = dropout_same(layer, &x->shape, &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = cnn_tensor_numel(x);
    if (n == 0)
        return CNN_OK;
    if (!args->training || rate == 0.0) {
        if (args->output->data != x->data)
            memmove(args->output->data, x->data, n * sizeof(float));
        return CNN_OK;
    }
    dropout_apply(x->data, args->output->data, n, args->seed, rate);
    return CNN_OK;
}

static cnn_status dropout_backward(const cnn_layer *layer,
                                   const cnn_backward_args *args,
                                   cnn_errbuf *err)
{
    double rate = 0.0;
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (!dx)
        return CNN_OK;
    const cnn_tensor *dy = args->output_grad;
    cnn_status st = dropout_rate(layer->hparams, &rate, err);
    if (st == CNN_OK)
        st = dropout_same(layer, &args->inputs[0].shape, &dy->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = cnn_tensor_numel(dy);
    if (n == 0)
        return CNN_OK;
    if (!args->training || rate == 0.0) {
        if (dx != dy->data)
            memmove(dx, dy->data, n * sizeof(float));
        return CNN_OK;
    }
    dropout_apply(dy->data, dx, n, args->seed, rate);
    return CNN_OK;
}

static const cnn_layer_descriptor dropout_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "dropout",
    .summary = "inverted dropout while training, identity otherwise",
    .hparams = dropout_hparams,
    .n_hparams = sizeof dropout_hparams / sizeof dropout_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* The mask comes from the seed, never from x or y: forward may write
     * over x, backward dx over dy, and a layer after it over y. */
    .flags = CNN_LAYER_FLAG_STOCHASTIC | CNN_LAYER_FLAG_IN_PLACE |
             CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = dropout_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(dropout_descriptor)
