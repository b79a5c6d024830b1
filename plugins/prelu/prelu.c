/* SPDX-License-Identifier: MIT */
/* prelu: y = x for x > 0, a x otherwise, with learned slopes a (PyTorch's
 * nn.PReLU, ONNX PRelu with a slope per channel): weight [C], one slope per
 * channel (dim 1), or [1], one shared slope; PyTorch's initial 0.25.
 *
 *   dx = dy for x > 0, a dy otherwise (PyTorch's rule at x == 0)
 *   da = sum over every element of its channel (N and the spatial dims) of
 *        dy x where x <= 0
 *
 * The slope is exempt from weight decay, as PyTorch's documentation of
 * nn.PReLU advises. Forward works per plane (a sample's channel) on the
 * element-wise helper's threads; backward per channel, each channel's
 * gradient summed in double over all samples, so the result does not
 * depend on the thread count. */
#include <string.h>

#include "cnn/elementwise.h"

enum { HP_NUM_PARAMETERS };

static const cnn_hparam_spec prelu_hparams[] = {
    {"num_parameters", CNN_HP_INT,
     "slopes: 0 = one per channel (C, dim 1), 1 = one shared; or C itself",
     0, 0, 0, 65536, NULL},
};

/* Channels the slopes cover (C or 1), and the layout around them. */
typedef struct prelu_geom {
    size_t n, c, plane; /* samples, channels (dim 1 or 1), elements each */
    int shared;         /* one slope for everything */
} prelu_geom;

static cnn_status prelu_geometry(const cnn_hparam_value *hp,
                                 const cnn_shape *s, prelu_geom *g,
                                 cnn_errbuf *err)
{
    int64_t k = hp[HP_NUM_PARAMETERS].i[0];
    cnn_status st = cnn_ew_check_shape("prelu", s, err);
    if (st != CNN_OK)
        return st;
    g->shared = k == 1;
    if (!g->shared && s->rank < 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu: one slope per channel needs an input "
                              "[N, C, ...], got rank %d; set "
                              "num_parameters: 1 for a shared slope",
                              (int)s->rank);
    if (!g->shared && k != 0 && k != s->dims[1])
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu: num_parameters %lld matches neither 1 "
                              "nor the input's %lld channels",
                              (long long)k, (long long)s->dims[1]);
    g->n = (size_t)s->dims[0];
    g->c = g->shared || s->rank < 2 ? 1 : (size_t)s->dims[1];
    g->plane = 1;
    for (int32_t i = g->shared ? 1 : 2; i < s->rank; i++)
        g->plane *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_status prelu_infer_shape(const cnn_hparam_value *hp,
                                    const cnn_shape *inputs, uint32_t n_inputs,
                                    cnn_shape *output, cnn_errbuf *err)
{
    prelu_geom g;
    cnn_status st;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu: takes 1 input, got %u", n_inputs);
    st = prelu_geometry(hp, &inputs[0], &g, err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static cnn_status prelu_params(const cnn_layer *layer, cnn_param_spec *specs,
                               uint32_t capacity, uint32_t *count,
                               cnn_errbuf *err)
{
    prelu_geom g;
    cnn_status st = prelu_geometry(layer->hparams, &layer->input_shapes[0],
                                   &g, err);
    if (st != CNN_OK)
        return st;
    *count = 1;
    if (capacity < 1)
        return CNN_OK;
    memset(&specs[0], 0, sizeof specs[0]);
    strcpy(specs[0].name, "weight");
    int64_t c = (int64_t)g.c;
    specs[0].shape = cnn_shape_make(1, &c);
    specs[0].init = CNN_INIT_CONSTANT;
    specs[0].init_value = 0.25f;
    specs[0].fan_in = 1;
    specs[0].fan_out = 1;
    specs[0].flags = CNN_PARAM_NO_DECAY;
    return CNN_OK;
}

typedef struct prelu_run {
    prelu_geom g;
    const float *x, *a, *dy;
    float *y, *dx, *da;
} prelu_run;

static void prelu_forward_planes(void *arg, size_t begin, size_t end)
{
    const prelu_run *r = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float a = r->a[pl % r->g.c];
        const float *restrict x = r->x + pl * r->g.plane;
        float *restrict y = r->y + pl * r->g.plane;
        for (size_t i = 0; i < r->g.plane; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * x[i];
    }
}

static void prelu_backward_channels(void *arg, size_t begin, size_t end)
{
    const prelu_run *r = arg;
    const size_t c_all = r->g.c, plane = r->g.plane;
    for (size_t c = begin; c < end; c++) {
        const float a = r->a[c];
        double acc = 0.0;
        for (size_t n = 0; n < r->g.n; n++) {
            size_t off = (n * c_all + c) * plane;
            const float *restrict x = r->x + off;
            const float *restrict dy = r->dy + off;
            if (r->dx) {
                float *restrict dx = r->dx + off;
                for (size_t i = 0; i < plane; i++)
                    dx[i] = x[i] > 0.0f ? dy[i] : a * dy[i];
            }
            if (r->da) {
                /* Blocks of float sums (vectorised), added in double. */
                for (size_t i0 = 0; i0 < plane; i0 += 1024) {
                    size_t i1 = plane - i0 < 1024 ? plane : i0 + 1024;
                    float part = 0.0f;
                    for (size_t i = i0; i < i1; i++)
                        part += x[i] > 0.0f ? 0.0f : x[i] * dy[i];
                    acc += part;
                }
            }
        }
        if (r->da)
            r->da[c] = (float)acc;
    }
}

static void prelu_parallel(const cnn_layer_env *env, size_t units,
                           size_t work, cnn_range_fn fn, void *arg)
{
    if (units > 1 && work >= ((size_t)1 << 16) && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, units, fn, arg);
    else if (units)
        fn(arg, 0, units);
}

static cnn_status prelu_bind(const cnn_layer *layer, const cnn_tensor *x,
                             const cnn_shape *other, const cnn_tensor *params,
                             uint32_t n_params, prelu_run *r, cnn_errbuf *err)
{
    memset(r, 0, sizeof *r);
    cnn_status st = cnn_ew_check_pair("prelu", layer, &x->shape, other, err);
    if (st == CNN_OK)
        st = prelu_geometry(layer->hparams, &x->shape, &r->g, err);
    if (st != CNN_OK)
        return st;
    if (n_params != 1 || params[0].shape.rank != 1 ||
        params[0].shape.dims[0] != (int64_t)r->g.c)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "prelu '%s': weight is not [%zu]", layer->name,
                              r->g.c);
    r->x = x->data;
    r->a = params[0].data;
    return CNN_OK;
}

static cnn_status prelu_forward(const cnn_layer *layer,
                                const cnn_forward_args *args, cnn_errbuf *err)
{
    prelu_run r;
    cnn_status st = prelu_bind(layer, &args->inputs[0], &args->output->shape,
                               args->params, args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = args->output->data;
    prelu_parallel(args->env, r.g.n * r.g.c, cnn_tensor_numel(args->output),
                   prelu_forward_planes, &r);
    return CNN_OK;
}

static cnn_status prelu_backward(const cnn_layer *layer,
                                 const cnn_backward_args *args,
                                 cnn_errbuf *err)
{
    prelu_run r;
    cnn_status st = prelu_bind(layer, &args->inputs[0],
                               &args->output_grad->shape, args->params,
                               args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.dy = args->output_grad->data;
    r.dx = args->input_grads ? args->input_grads[0].data : NULL;
    r.da = args->param_grads ? args->param_grads[0].data : NULL;
    if (!r.dx && !r.da)
        return CNN_OK;
    prelu_parallel(args->env, r.g.c, cnn_tensor_numel(args->output_grad),
                   prelu_backward_channels, &r);
    if (r.g.n == 0 && r.da)
        memset(r.da, 0, r.g.c * sizeof *r.da);
    return CNN_OK;
}

static const cnn_layer_descriptor prelu_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "prelu",
    .summary = "parametric ReLU: learned slope for x <= 0, per channel or "
               "shared (nn.PReLU)",
    .hparams = prelu_hparams,
    .n_hparams = 1,
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = prelu_infer_shape,
    .create = NULL,
    .params = prelu_params,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(prelu_descriptor)
