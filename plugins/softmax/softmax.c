/* SPDX-License-Identifier: MIT */
/* softmax over one axis (default 1, the channels; -1 the last):
 *   y[o,c,p] = exp(x[o,c,p] - m) / sum_c exp(x[o,c,p] - m)
 * with m = max_c x[o,c,p], so exp never overflows; o runs over the dims
 * before the axis (the batch included), p over those after it. Rank 2 with
 * axis 1 is the classifier case; on [N, C, H, W] axis 1 gives every pixel
 * its own distribution over the channels, axis -1 (ONNX's and Keras's
 * default) one per row. The batch dim is never the axis.
 *
 * backward is the exact Jacobian-vector product
 *   dx = y * (dy - sum_c dy * y),
 * not the fused p - onehot shortcut. A trainer that fuses softmax with
 * cross-entropy sees CNN_LAYER_FLAG_PROBABILITIES and skips this hook;
 * cnnrun does so only for a softmax that ends the graph with an [N, C]
 * output, where the only axis this plugin accepts (1, or -1) is dim 1.
 *
 * Built a second time with SOFTMAX_LOG=1 as logsoftmax
 * (plugins/logsoftmax/meson.build), which shares everything but the maths:
 *   y = x - m - log(sum_c exp(x - m)),   dx = dy - exp(y) sum_c dy
 * (nn.LogSoftmax, ONNX LogSoftmax); that one does not carry the flag.
 *
 * For p > 1 the loops run over contiguous positions with the channel loop
 * outside, so the inner loop is unit-stride and vectorises; that needs two
 * rows of per-position accumulators from the host's workspace. */
#include <math.h>
#include <string.h>

#include "cnn/layer.h"

#ifndef SOFTMAX_LOG
#define SOFTMAX_LOG 0
#endif
#if SOFTMAX_LOG
#define SOFTMAX_NAME "logsoftmax"
#else
#define SOFTMAX_NAME "softmax"
#endif

enum { HP_AXIS };

static const cnn_hparam_spec softmax_hparams[] = {
    {"axis", CNN_HP_INT,
     "the dim normalised over: 1 (channels) .. rank - 1, or -1 (last) .. "
     "-(rank - 1); never the batch dim 0",
     0, 1, -(CNN_MAX_RANK - 1), CNN_MAX_RANK - 1, NULL},
};

/* The product of the dims before the axis (n), the axis (c), and the
 * product of those after it (p). */
typedef struct softmax_dims {
    size_t n, c, p;
} softmax_dims;

static cnn_status softmax_dims_of(const cnn_hparam_value *hp,
                                  const cnn_shape *s, softmax_dims *d,
                                  cnn_errbuf *err)
{
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME ": input rank %d, need 2..%d "
                              "(batch, classes, ...)",
                              (int)s->rank, CNN_MAX_RANK);
    int64_t axis = hp[HP_AXIS].i[0];
    int64_t a = axis < 0 ? axis + s->rank : axis;
    if (a < 1 || a >= s->rank)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME ": axis %lld is not a dim of a "
                              "rank-%d input other than the batch: use 1..%d "
                              "or -1..-%d",
                              (long long)axis, (int)s->rank,
                              (int)s->rank - 1, (int)s->rank - 1);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME ": batch size %lld is negative",
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  SOFTMAX_NAME ": input dim %d is %lld, must "
                                  "be >= 1",
                                  (int)i, (long long)s->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME ": input element count overflows");
    d->n = 1;
    for (int64_t i = 0; i < a; i++)
        d->n *= (size_t)s->dims[i];
    d->c = (size_t)s->dims[a];
    d->p = 1;
    for (int64_t i = a + 1; i < s->rank; i++)
        d->p *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_status softmax_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    softmax_dims d = {0, 0, 0};
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME ": takes 1 input, got %u",
                              n_inputs);
    cnn_status st = softmax_dims_of(hp, &inputs[0], &d, err);
    if (st != CNN_OK)
        return st;
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status softmax_check(const cnn_layer *layer, const cnn_shape *x,
                                const cnn_shape *y, softmax_dims *d,
                                cnn_errbuf *err)
{
    cnn_status st = softmax_dims_of(layer->hparams, x, d, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(x, y))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              SOFTMAX_NAME " '%s': output shape differs from "
                              "input",
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
#if SOFTMAX_LOG
    float lse = m + logf(s);
    for (size_t j = 0; j < c; j++)
        y[j] = x[j] - lse;
#else
    float inv = 1.0f / s;
    for (size_t j = 0; j < c; j++)
        y[j] *= inv;
#endif
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
#if SOFTMAX_LOG
    for (size_t q = 0; q < p; q++)
        s[q] = m[q] + logf(s[q]);
    for (size_t j = 0; j < c; j++) {
        const float *restrict xj = x + j * p;
        float *restrict yj = y + j * p;
        for (size_t q = 0; q < p; q++)
            yj[q] = xj[q] - s[q];
    }
#else
    for (size_t q = 0; q < p; q++)
        s[q] = 1.0f / s[q];
    for (size_t j = 0; j < c; j++) {
        float *restrict yj = y + j * p;
        for (size_t q = 0; q < p; q++)
            yj[q] *= s[q];
    }
#endif
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
                               SOFTMAX_NAME " '%s': no workspace for %zu "
                               "floats",
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
#if SOFTMAX_LOG
    float sum = 0.0f;
    for (size_t j = 0; j < c; j++)
        sum += dy[j];
    for (size_t j = 0; j < c; j++)
        dx[j] = dy[j] - expf(y[j]) * sum;
#else
    float dot = 0.0f;
    for (size_t j = 0; j < c; j++)
        dot += dy[j] * y[j];
    for (size_t j = 0; j < c; j++)
        dx[j] = y[j] * (dy[j] - dot);
#endif
}

static void softmax_plane_grad(const float *restrict y,
                               const float *restrict dy, float *restrict dx,
                               size_t c, size_t p, float *restrict dot)
{
    memset(dot, 0, p * sizeof *dot);
    for (size_t j = 0; j < c; j++) {
        const float *restrict dyj = dy + j * p;
#if SOFTMAX_LOG
        for (size_t q = 0; q < p; q++)
            dot[q] += dyj[q];
#else
        const float *restrict yj = y + j * p;
        for (size_t q = 0; q < p; q++)
            dot[q] += dyj[q] * yj[q];
#endif
    }
    for (size_t j = 0; j < c; j++) {
        const float *restrict yj = y + j * p;
        const float *restrict dyj = dy + j * p;
        float *restrict dxj = dx + j * p;
        for (size_t q = 0; q < p; q++)
#if SOFTMAX_LOG
            dxj[q] = dyj[q] - expf(yj[q]) * dot[q];
#else
            dxj[q] = yj[q] * (dyj[q] - dot[q]);
#endif
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
    .type_name = SOFTMAX_NAME,
#if SOFTMAX_LOG
    .summary = "log of the softmax over one axis (default 1, channels)",
    .flags = 0,
#else
    .summary = "softmax over one axis (default 1, channels; -1 the last)",
    .flags = CNN_LAYER_FLAG_PROBABILITIES,
#endif
    .hparams = softmax_hparams,
    .n_hparams = sizeof softmax_hparams / sizeof softmax_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = softmax_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(softmax_descriptor)
