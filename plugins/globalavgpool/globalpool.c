/* SPDX-License-Identifier: MIT */
/* Global pooling, [N, C, H, W] -> [N, C, 1, 1] (any rank >= 3, every dim
 * after C reduced to 1). One source, built twice:
 *
 * globalavgpool (nn.AdaptiveAvgPool2d(1), ONNX GlobalAveragePool):
 *   y[n, c] = (1 / P) sum_p x[n, c, p],   dx[n, c, p] = dy[n, c] / P
 * with P the plane's size. Each plane is summed in blocks of 1024 floats,
 * each as 32 interleaved float sums, added in double, so a 56x56 plane
 * keeps float32's precision.
 *
 * globalmaxpool (GLOBALPOOL_MAX=1, plugins/globalmaxpool/meson.build;
 * nn.AdaptiveMaxPool2d(1), ONNX GlobalMaxPool):
 *   y[n, c] = max_p x[n, c, p],   dx[n, c, p] = dy[n, c] at the maximum
 * The maximum is the first among equal values in memory order (a NaN wins,
 * the first NaN if several), as maxpool's; backward finds it again in the
 * saved input, so the layer keeps no state.
 *
 * Planes are spread over the host's threads by cnn/pool_window.h's loop,
 * which also checks the shapes. */
#include <math.h>
#include <string.h>

#include "cnn/layer.h"
#include "cnn/pool_window.h"

#ifndef GLOBALPOOL_MAX
#define GLOBALPOOL_MAX 0
#endif
#if GLOBALPOOL_MAX
#define GP_NAME "globalmaxpool"
#else
#define GP_NAME "globalavgpool"
#endif

static cnn_status gp_infer_shape(const cnn_hparam_value *hp,
                                 const cnn_shape *inputs, uint32_t n_inputs,
                                 cnn_shape *output, cnn_errbuf *err)
{
    size_t planes = 0, plane = 0;
    cnn_status st;
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              GP_NAME " takes 1 input, got %u", n_inputs);
    st = cnn_pool_global_dims(GP_NAME, &inputs[0], &planes, &plane, err);
    if (st == CNN_OK)
        *output = cnn_pool_global_shape(&inputs[0]);
    return st;
}

typedef struct gp_run {
    size_t plane;
    const float *x, *dy;
    float *y, *dx;
} gp_run;

#if GLOBALPOOL_MAX
/* The index of the plane's maximum: strictly greater replaces (a tie
 * keeps the earlier element), and the first NaN wins. */
static size_t gp_argmax(const float *x, size_t n)
{
    size_t best = 0;
    float bv = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > bv || (isnan(x[i]) && !isnan(bv))) {
            bv = x[i];
            best = i;
        }
    return best;
}

static void gp_forward_planes(void *arg, size_t begin, size_t end)
{
    const gp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * r->plane;
        r->y[pl] = x[gp_argmax(x, r->plane)];
    }
}

static void gp_backward_planes(void *arg, size_t begin, size_t end)
{
    const gp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * r->plane;
        float *dx = r->dx + pl * r->plane;
        memset(dx, 0, r->plane * sizeof *dx);
        dx[gp_argmax(x, r->plane)] = r->dy[pl];
    }
}
#else
#define GP_LANES 32
static void gp_forward_planes(void *arg, size_t begin, size_t end)
{
    const gp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *restrict x = r->x + pl * r->plane;
        double acc = 0.0;
        for (size_t i0 = 0; i0 < r->plane; i0 += 1024) {
            size_t i1 = r->plane - i0 < 1024 ? r->plane : i0 + 1024;
            /* GP_LANES independent sums, which the compiler keeps in
             * vector registers: one running sum is an add's latency per
             * element (EfficientNet-B0's pools, 1.6 ms at batch 1). */
            float part[GP_LANES] = {0};
            size_t i = i0;
            for (; i + GP_LANES <= i1; i += GP_LANES)
                for (size_t k = 0; k < GP_LANES; k++)
                    part[k] += x[i + k];
            for (; i < i1; i++)
                acc += x[i];
            for (size_t k = 0; k < GP_LANES; k++)
                acc += part[k];
        }
        r->y[pl] = (float)(acc / (double)r->plane);
    }
}

static void gp_backward_planes(void *arg, size_t begin, size_t end)
{
    const gp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        float d = r->dy[pl] / (float)r->plane;
        float *restrict dx = r->dx + pl * r->plane;
        for (size_t i = 0; i < r->plane; i++)
            dx[i] = d;
    }
}
#endif

static cnn_status gp_forward(const cnn_layer *layer,
                             const cnn_forward_args *a, cnn_errbuf *err)
{
    gp_run r;
    size_t planes = 0;
    memset(&r, 0, sizeof r);
    cnn_status st = cnn_pool_global_check(GP_NAME, layer, &a->inputs[0].shape,
                                          &a->output->shape, &planes,
                                          &r.plane, err);
    if (st != CNN_OK)
        return st;
    r.x = a->inputs[0].data;
    r.y = a->output->data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gp_forward_planes,
                        &r);
    return CNN_OK;
}

static cnn_status gp_backward(const cnn_layer *layer,
                              const cnn_backward_args *a, cnn_errbuf *err)
{
    gp_run r;
    size_t planes = 0;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    memset(&r, 0, sizeof r);
    cnn_status st = cnn_pool_global_check(GP_NAME, layer, &a->inputs[0].shape,
                                          &a->output_grad->shape, &planes,
                                          &r.plane, err);
    if (st != CNN_OK)
        return st;
    r.x = a->inputs[0].data;
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gp_backward_planes,
                        &r);
    return CNN_OK;
}

static const cnn_layer_descriptor gp_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = GP_NAME,
#if GLOBALPOOL_MAX
    .summary = "maximum over each channel's plane: [N, C, H, W] -> "
               "[N, C, 1, 1]",
#else
    .summary = "mean over each channel's plane: [N, C, H, W] -> [N, C, 1, 1]",
#endif
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = gp_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = gp_forward,
    .backward = gp_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(gp_descriptor)
