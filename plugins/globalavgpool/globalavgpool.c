/* SPDX-License-Identifier: MIT */
/* globalavgpool: the mean of each channel's plane, [N, C, H, W] ->
 * [N, C, 1, 1] (nn.AdaptiveAvgPool2d(1), ONNX GlobalAveragePool; any rank
 * >= 3, every dim after C reduced to 1).
 *
 *   y[n, c] = (1 / P) sum_p x[n, c, p],   dx[n, c, p] = dy[n, c] / P
 *
 * with P the plane's size. Each plane is summed in float blocks added in
 * double, so a 56x56 plane keeps float32's precision; planes are spread
 * over the host's threads by cnn/pool_window.h's loop. */
#include <string.h>

#include "cnn/layer.h"
#include "cnn/pool_window.h"

/* Planes (N C) and their size. */
static cnn_status gap_dims(const cnn_shape *s, size_t *planes, size_t *plane,
                           cnn_errbuf *err)
{
    int ok;
    if (s->rank < 3 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalavgpool needs an input [N, C, H, ...] "
                              "of rank 3..%d, got rank %d",
                              CNN_MAX_RANK, (int)s->rank);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalavgpool: batch size %lld is negative",
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "globalavgpool: input dim %d is %lld, must "
                                  "be >= 1",
                                  (int)i, (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalavgpool: input element count overflows");
    *planes = (size_t)s->dims[0] * (size_t)s->dims[1];
    *plane = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *plane *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_shape gap_out_shape(const cnn_shape *in)
{
    cnn_shape o = *in;
    for (int32_t i = 2; i < o.rank; i++)
        o.dims[i] = 1;
    return o;
}

static cnn_status gap_infer_shape(const cnn_hparam_value *hp,
                                  const cnn_shape *inputs, uint32_t n_inputs,
                                  cnn_shape *output, cnn_errbuf *err)
{
    size_t planes, plane;
    cnn_status st;
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalavgpool takes 1 input, got %u", n_inputs);
    st = gap_dims(&inputs[0], &planes, &plane, err);
    if (st == CNN_OK)
        *output = gap_out_shape(&inputs[0]);
    return st;
}

typedef struct gap_run {
    size_t plane;
    const float *x, *dy;
    float *y, *dx;
} gap_run;

static void gap_forward_planes(void *arg, size_t begin, size_t end)
{
    const gap_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *restrict x = r->x + pl * r->plane;
        double acc = 0.0;
        for (size_t i0 = 0; i0 < r->plane; i0 += 1024) {
            size_t i1 = r->plane - i0 < 1024 ? r->plane : i0 + 1024;
            float part = 0.0f;
            for (size_t i = i0; i < i1; i++)
                part += x[i];
            acc += part;
        }
        r->y[pl] = (float)(acc / (double)r->plane);
    }
}

static void gap_backward_planes(void *arg, size_t begin, size_t end)
{
    const gap_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        float d = r->dy[pl] / (float)r->plane;
        float *restrict dx = r->dx + pl * r->plane;
        for (size_t i = 0; i < r->plane; i++)
            dx[i] = d;
    }
}

static cnn_status gap_bind(const cnn_layer *layer, const cnn_shape *in,
                           const cnn_shape *out, gap_run *r, size_t *planes,
                           cnn_errbuf *err)
{
    memset(r, 0, sizeof *r);
    cnn_status st = gap_dims(in, planes, &r->plane, err);
    if (st != CNN_OK)
        return st;
    cnn_shape want = gap_out_shape(in);
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalavgpool '%s': output tensor is not "
                              "[%lld, %lld, 1, ...]",
                              layer->name, (long long)in->dims[0],
                              (long long)in->dims[1]);
    return CNN_OK;
}

static cnn_status gap_forward(const cnn_layer *layer,
                              const cnn_forward_args *a, cnn_errbuf *err)
{
    gap_run r;
    size_t planes;
    cnn_status st = gap_bind(layer, &a->inputs[0].shape, &a->output->shape,
                             &r, &planes, err);
    if (st != CNN_OK)
        return st;
    r.x = a->inputs[0].data;
    r.y = a->output->data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gap_forward_planes,
                        &r);
    return CNN_OK;
}

static cnn_status gap_backward(const cnn_layer *layer,
                               const cnn_backward_args *a, cnn_errbuf *err)
{
    gap_run r;
    size_t planes;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    cnn_status st = gap_bind(layer, &a->inputs[0].shape,
                             &a->output_grad->shape, &r, &planes, err);
    if (st != CNN_OK)
        return st;
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gap_backward_planes,
                        &r);
    return CNN_OK;
}

static const cnn_layer_descriptor globalavgpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "globalavgpool",
    .summary = "mean over each channel's plane: [N, C, H, W] -> [N, C, 1, 1]",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = gap_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = gap_forward,
    .backward = gap_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(globalavgpool_descriptor)
