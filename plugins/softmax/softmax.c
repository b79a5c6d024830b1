/* SPDX-License-Identifier: MIT */
/* softmax over dim 1: y[n,c,p] = exp(x[n,c,p] - m) / sum_c exp(x[n,c,p] - m)
 * with m = max_c x[n,c,p], so exp never overflows. Rank 2 is the classifier
 * case; for higher ranks every trailing position p (every pixel of an NCHW
 * map) gets its own distribution over the channels.
 *
 * backward is the exact Jacobian-vector product
 *   dx = y * (dy - sum_c dy * y),
 * not the fused p - onehot shortcut; a trainer that fuses softmax with
 * cross-entropy sees CNN_LAYER_FLAG_PROBABILITIES and skips this hook.
 *
 * For p > 1 the loops run over contiguous positions with the channel loop
 * outside, so the inner loop is unit-stride and vectorises; that needs two
 * rows of per-position accumulators from the host's workspace. */
#include <math.h>
#include <string.h>

#include "cnn/layer.h"

/* N, C and the product of the trailing dims. */
typedef struct softmax_dims {
    size_t n, c, p;
} softmax_dims;

static cnn_status softmax_dims_of(const cnn_shape *s, softmax_dims *d,
                                  cnn_errbuf *err)
{
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "softmax: input rank %d, need 2..%d "
                              "(batch, classes, ...)",
                              (int)s->rank, CNN_MAX_RANK);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "softmax: batch size %lld is negative",
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "softmax: input dim %d is %lld, must be "
                                  ">= 1",
                                  (int)i, (long long)s->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "softmax: input element count overflows");
    d->n = (size_t)s->dims[0];
    d->c = (size_t)s->dims[1];
    d->p = 1;
    for (int32_t i = 2; i < s->rank; i++)
        d->p *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_status softmax_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    softmax_dims d = {0, 0, 0};
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "softmax: takes 1 input, got %u", n_inputs);
    cnn_status st = softmax_dims_of(&inputs[0], &d, err);
    if (st != CNN_OK)
        return st;
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status softmax_check(const cnn_layer *layer, const cnn_shape *x,
                                const cnn_shape *y, softmax_dims *d,
                                cnn_errbuf *err)
{
    cnn_status st = softmax_dims_of(x, d, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(x, y))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "softmax '%s': output shape differs from input",
                              layer->name);
    return CNN_OK;
}

/* One distribution in a contiguous row of c values. */
static void softmax_row(const float *restrict x, float *restrict y, size_t c)
{
    float m = x[0];
    for (size_t j = 1; j < c; j++)
        m = x[j] > m ? x[j] : m;
    float s = 0.0f;
    for (size_t j = 0; j < c; j++) {
        y[j] = expf(x[j] - m);
        s += y[j];
    }
    float inv = 1.0f / s;
    for (size_t j = 0; j < c; j++)
        y[j] *= inv;
}

/* p distributions with stride p between channels; acc has 2p floats. */
static void softmax_plane(const float *restrict x, float *restrict y,
                          size_t c, size_t p, float *restrict acc)
{
    float *restrict m = acc;
    float *restrict s = acc + p;
    memcpy(m, x, p * sizeof *m);
    for (size_t j = 1; j < c; j++) {
        const float *restrict xj = x + j * p;
        for (size_t q = 0; q < p; q++)
            m[q] = xj[q] > m[q] ? xj[q] : m[q];
    }
    memset(s, 0, p * sizeof *s);
    for (size_t j = 0; j < c; j++) {
        const float *restrict xj = x + j * p;
        float *restrict yj = y + j * p;
        for (size_t q = 0; q < p; q++) {
            yj[q] = expf(xj[q] - m[q]);
            s[q] += yj[q];
        }
    }
    for (size_t q = 0; q < p; q++)
        s[q] = 1.0f / s[q];
    for (size_t j = 0; j < c; j++) {
        float *restrict yj = y + j * p;
        for (size_t q = 0; q < p; q++)
            yj[q] *= s[q];
    }
}

static float *softmax_workspace(const cnn_layer *layer,
                                const cnn_layer_env *env, size_t p,
                                cnn_errbuf *err, cnn_status *st)
{
    float *acc = NULL;
    if (env && env->workspace)
        acc = env->workspace(env->host, 2 * p);
    *st = acc ? CNN_OK
              : cnn_layer_fail(err, CNN_ERR_NOMEM,
                               "softmax '%s': no workspace for %zu floats",
                               layer->name, 2 * p);
    return acc;
}

static cnn_status softmax_forward(const cnn_layer *layer,
                                  const cnn_forward_args *args,
                                  cnn_errbuf *err)
{
    softmax_dims d = {0, 0, 0};
    cnn_status st = softmax_check(layer, &args->inputs[0].shape,
                                  &args->output->shape, &d, err);
    if (st != CNN_OK || d.n == 0)
        return st;
    const float *x = args->inputs[0].data;
    float *y = args->output->data;
    size_t plane = d.c * d.p;
    if (d.p == 1) {
        for (size_t i = 0; i < d.n; i++)
            softmax_row(x + i * plane, y + i * plane, d.c);
        return CNN_OK;
    }
    float *acc = softmax_workspace(layer, args->env, d.p, err, &st);
    if (!acc)
        return st;
    for (size_t i = 0; i < d.n; i++)
        softmax_plane(x + i * plane, y + i * plane, d.c, d.p, acc);
    return CNN_OK;
}

static void softmax_row_grad(const float *restrict y, const float *restrict dy,
                             float *restrict dx, size_t c)
{
    float dot = 0.0f;
    for (size_t j = 0; j < c; j++)
        dot += dy[j] * y[j];
    for (size_t j = 0; j < c; j++)
        dx[j] = y[j] * (dy[j] - dot);
}

static void softmax_plane_grad(const float *restrict y,
                               const float *restrict dy, float *restrict dx,
                               size_t c, size_t p, float *restrict dot)
{
    memset(dot, 0, p * sizeof *dot);
    for (size_t j = 0; j < c; j++) {
        const float *restrict yj = y + j * p;
        const float *restrict dyj = dy + j * p;
        for (size_t q = 0; q < p; q++)
            dot[q] += dyj[q] * yj[q];
    }
    for (size_t j = 0; j < c; j++) {
        const float *restrict yj = y + j * p;
        const float *restrict dyj = dy + j * p;
        float *restrict dxj = dx + j * p;
        for (size_t q = 0; q < p; q++)
            dxj[q] = yj[q] * (dyj[q] - dot[q]);
    }
}

static cnn_status softmax_backward(const cnn_layer *layer,
                                   const cnn_backward_args *args,
                                   cnn_errbuf *err)
{
    softmax_dims d = {0, 0, 0};
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (!dx)
        return CNN_OK;
    cnn_status st = softmax_check(layer, &args->output->shape,
                                  &args->output_grad->shape, &d, err);
    if (st != CNN_OK || d.n == 0)
        return st;
    const float *y = args->output->data;
    const float *dy = args->output_grad->data;
    size_t plane = d.c * d.p;
    if (d.p == 1) {
        for (size_t i = 0; i < d.n; i++)
            softmax_row_grad(y + i * plane, dy + i * plane, dx + i * plane,
                             d.c);
        return CNN_OK;
    }
    float *acc = softmax_workspace(layer, args->env, d.p, err, &st);
    if (!acc)
        return st;
    for (size_t i = 0; i < d.n; i++)
        softmax_plane_grad(y + i * plane, dy + i * plane, dx + i * plane, d.c,
                           d.p, acc);
    return CNN_OK;
}

static const cnn_layer_descriptor softmax_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "softmax",
    .summary = "softmax over dim 1 (channels), per position for rank > 2",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = CNN_LAYER_FLAG_PROBABILITIES,
    .infer_shape = softmax_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(softmax_descriptor)
