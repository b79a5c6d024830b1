/* SPDX-License-Identifier: MIT */
/* globalmaxpool: the maximum of each channel's plane, [N, C, H, W] ->
 * [N, C, 1, 1] (nn.AdaptiveMaxPool2d(1), ONNX GlobalMaxPool; any rank
 * >= 3, every dim after C reduced to 1).
 *
 *   y[n, c] = max_p x[n, c, p],   dx[n, c, p] = dy[n, c] at the maximum, 0
 *                                 elsewhere
 *
 * The maximum is the first among equal values in memory order (a NaN wins,
 * the first NaN if several), as maxpool's; backward finds it again in the
 * saved input, so the layer keeps no state. */
#include <math.h>
#include <string.h>

#include "cnn/layer.h"
#include "cnn/pool_window.h"

/* Planes (N C) and their size. */
static cnn_status gmp_dims(const cnn_shape *s, size_t *planes, size_t *plane,
                           cnn_errbuf *err)
{
    int ok;
    if (s->rank < 3 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalmaxpool needs an input [N, C, H, ...] "
                              "of rank 3..%d, got rank %d",
                              CNN_MAX_RANK, (int)s->rank);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalmaxpool: batch size %lld is negative",
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "globalmaxpool: input dim %d is %lld, must "
                                  "be >= 1",
                                  (int)i, (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalmaxpool: input element count overflows");
    *planes = (size_t)s->dims[0] * (size_t)s->dims[1];
    *plane = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *plane *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_shape gmp_out_shape(const cnn_shape *in)
{
    cnn_shape o = *in;
    for (int32_t i = 2; i < o.rank; i++)
        o.dims[i] = 1;
    return o;
}

static cnn_status gmp_infer_shape(const cnn_hparam_value *hp,
                                  const cnn_shape *inputs, uint32_t n_inputs,
                                  cnn_shape *output, cnn_errbuf *err)
{
    size_t planes, plane;
    cnn_status st;
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalmaxpool takes 1 input, got %u", n_inputs);
    st = gmp_dims(&inputs[0], &planes, &plane, err);
    if (st == CNN_OK)
        *output = gmp_out_shape(&inputs[0]);
    return st;
}

typedef struct gmp_run {
    size_t plane;
    const float *x, *dy;
    float *y, *dx;
} gmp_run;

/* The index of the plane's maximum: strictly greater replaces (a tie
 * keeps the earlier element), and the first NaN wins. */
static size_t gmp_argmax(const float *x, size_t n)
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

static void gmp_forward_planes(void *arg, size_t begin, size_t end)
{
    const gmp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * r->plane;
        r->y[pl] = x[gmp_argmax(x, r->plane)];
    }
}

static void gmp_backward_planes(void *arg, size_t begin, size_t end)
{
    const gmp_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * r->plane;
        float *dx = r->dx + pl * r->plane;
        memset(dx, 0, r->plane * sizeof *dx);
        dx[gmp_argmax(x, r->plane)] = r->dy[pl];
    }
}

static cnn_status gmp_bind(const cnn_layer *layer, const cnn_shape *in,
                           const cnn_shape *out, gmp_run *r, size_t *planes,
                           cnn_errbuf *err)
{
    memset(r, 0, sizeof *r);
    cnn_status st = gmp_dims(in, planes, &r->plane, err);
    if (st != CNN_OK)
        return st;
    cnn_shape want = gmp_out_shape(in);
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "globalmaxpool '%s': output tensor is not "
                              "[%lld, %lld, 1, ...]",
                              layer->name, (long long)in->dims[0],
                              (long long)in->dims[1]);
    return CNN_OK;
}

static cnn_status gmp_forward(const cnn_layer *layer,
                              const cnn_forward_args *a, cnn_errbuf *err)
{
    gmp_run r;
    size_t planes;
    cnn_status st = gmp_bind(layer, &a->inputs[0].shape, &a->output->shape,
                             &r, &planes, err);
    if (st != CNN_OK)
        return st;
    r.x = a->inputs[0].data;
    r.y = a->output->data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gmp_forward_planes,
                        &r);
    return CNN_OK;
}

static cnn_status gmp_backward(const cnn_layer *layer,
                               const cnn_backward_args *a, cnn_errbuf *err)
{
    gmp_run r;
    size_t planes;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    cnn_status st = gmp_bind(layer, &a->inputs[0].shape,
                             &a->output_grad->shape, &r, &planes, err);
    if (st != CNN_OK)
        return st;
    r.x = a->inputs[0].data;
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    cnn_pool_for_planes(a->env, planes, planes * r.plane, gmp_backward_planes,
                        &r);
    return CNN_OK;
}

static const cnn_layer_descriptor globalmaxpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "globalmaxpool",
    .summary = "maximum over each channel's plane: [N, C, H, W] -> "
               "[N, C, 1, 1]",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = gmp_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = gmp_forward,
    .backward = gmp_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(globalmaxpool_descriptor)
