/* SPDX-License-Identifier: MIT */
/* avgpool: 2-D average pooling, as PyTorch's AvgPool2d with its defaults
 * (floor mode, count_include_pad = True).
 *
 *   y[n, c, i, j] = (1 / (kh kw)) * sum over the window (i sh - ph + a,
 *                   j sw - pw + b), 0 <= a < kh, 0 <= b < kw, of x, padding
 *                   being zeros
 *   dx[n, c, p]   = sum of dy[n, c, i, j] / (kh kw) over the windows holding p
 *
 * The divisor is always the full window, padding included: in floor mode no
 * window reaches past the padded input, so this equals PyTorch's
 * count_include_pad divisor. Padding is at most half the window, as PyTorch
 * requires. */
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"
#include "pool_window.h"

static const cnn_hparam_spec avgpool_hparams[] = {
    {"size", CNN_HP_INT2, "window size, n or [h, w]", 1, 0, 1, 1024, NULL},
    {"stride", CNN_HP_INT2, "stride, n or [h, w]; 0 means the window size", 0,
     0, 0, 1024, NULL},
    {"padding", CNN_HP_INT2,
     "zero padding on each side, n or [h, w]; at most half the window", 0, 0,
     0, 1024, NULL},
};

/* Below this many input floats, a pass is not worth spreading on threads. */
#ifndef POOL_PAR_MIN_WORK
#define POOL_PAR_MIN_WORK ((size_t)1 << 15)
#endif

static cnn_status avgpool_infer_shape(const cnn_hparam_value *hp,
                                 const cnn_shape *inputs,
                                 uint32_t n_inputs, cnn_shape *output,
                                 cnn_errbuf *err)
{
    return pool_infer_shape("avgpool", hp, inputs, n_inputs, output, err);
}

typedef struct pool_run {
    pool_geom g;
    const float *x, *dy;
    float *y, *dx;
} pool_run;

/* The window of output (i, j), clipped to the input: rows [*h0, *h1),
 * columns [*w0, *w1). */
static inline void avgpool_window(const pool_geom *g, int64_t i, int64_t j,
                                  int64_t *h0, int64_t *h1, int64_t *w0,
                                  int64_t *w1)
{
    int64_t a = i * g->sh - g->ph, b = j * g->sw - g->pw;
    *h1 = a + g->kh < g->h ? a + g->kh : g->h;
    *w1 = b + g->kw < g->w ? b + g->kw : g->w;
    *h0 = a < 0 ? 0 : a;
    *w0 = b < 0 ? 0 : b;
}

static void avgpool_forward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w), out_plane = (size_t)(g->oh * g->ow);
    float inv = 1.0f / (float)(g->kh * g->kw);

    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        float *y = r->y + pl * out_plane;
        for (int64_t i = 0; i < g->oh; i++) {
            for (int64_t j = 0; j < g->ow; j++) {
                int64_t h0, h1, w0, w1;
                float s = 0.0f;
                avgpool_window(g, i, j, &h0, &h1, &w0, &w1);
                for (int64_t a = h0; a < h1; a++)
                    for (int64_t b = w0; b < w1; b++)
                        s += x[a * g->w + b];
                *y++ = s * inv;
            }
        }
    }
}

static void avgpool_backward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w), out_plane = (size_t)(g->oh * g->ow);
    float inv = 1.0f / (float)(g->kh * g->kw);

    for (size_t pl = begin; pl < end; pl++) {
        const float *dy = r->dy + pl * out_plane;
        float *dx = r->dx + pl * in_plane;
        memset(dx, 0, in_plane * sizeof *dx);
        for (int64_t i = 0; i < g->oh; i++) {
            for (int64_t j = 0; j < g->ow; j++) {
                int64_t h0, h1, w0, w1;
                float d = *dy++ * inv;
                avgpool_window(g, i, j, &h0, &h1, &w0, &w1);
                for (int64_t a = h0; a < h1; a++)
                    for (int64_t b = w0; b < w1; b++)
                        dx[a * g->w + b] += d;
            }
        }
    }
}

static void pool_parallel(const cnn_layer_env *env, size_t n, size_t work,
                          cnn_range_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (n > 1 && work >= POOL_PAR_MIN_WORK && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, n, fn, arg);
    else
        fn(arg, 0, n);
}

/* Validates the input and output shapes the host passed. */
static cnn_status avgpool_bind(const cnn_layer *layer, const cnn_tensor *inputs,
                               uint32_t n_inputs, const cnn_shape *out,
                               pool_run *r, cnn_errbuf *err)
{
    cnn_status st;

    memset(r, 0, sizeof *r);
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s' takes 1 input, got %u",
                              layer->name, n_inputs);
    st = pool_geometry("avgpool", layer->hparams, &inputs[0].shape, &r->g, err);
    if (st != CNN_OK)
        return st;
    cnn_shape want = cnn_shape4(inputs[0].shape.dims[0],
                                inputs[0].shape.dims[1], r->g.oh, r->g.ow);
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s': output tensor is not "
                              "[%lld, %lld, %lld, %lld]",
                              layer->name, (long long)want.dims[0],
                              (long long)want.dims[1], (long long)want.dims[2],
                              (long long)want.dims[3]);
    r->x = inputs[0].data;
    return CNN_OK;
}

static cnn_status avgpool_forward(const cnn_layer *layer,
                                  const cnn_forward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = avgpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output->shape, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = a->output->data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    pool_parallel(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  avgpool_forward_range, &r);
    return CNN_OK;
}

static cnn_status avgpool_backward(const cnn_layer *layer,
                                   const cnn_backward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = avgpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output_grad->shape, &r, err);
    if (st != CNN_OK)
        return st;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    if (!cnn_shape_equal(&a->input_grads[0].shape, &a->inputs[0].shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s': input gradient shape "
                              "differs from the input's",
                              layer->name);
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    pool_parallel(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  avgpool_backward_range, &r);
    return CNN_OK;
}

static const cnn_layer_descriptor avgpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "avgpool",
    .summary = "2-D average pooling, PyTorch AvgPool2d defaults (count_include_pad)",
    .hparams = avgpool_hparams,
    .n_hparams = sizeof avgpool_hparams / sizeof avgpool_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = avgpool_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(avgpool_descriptor)
