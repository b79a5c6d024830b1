/* SPDX-License-Identifier: MIT */
/* tanh: y = tanh(x), elementwise, any shape; backward from the saved output,
 * dx = dy * (1 - y^2), so the input need not be kept.
 *
 * tanhf costs tens of cycles per element, so large tensors are split into
 * blocks over the host's parallel_for; small ones stay on the calling thread
 * where the dispatch would cost more than it saves. */
#include <math.h>

#include "cnn/layer.h"

/* Elements per parallel_for index: large enough to amortise the call, and
 * the host may split [0, blocks) as finely as it likes. */
#define TANH_BLOCK 8192u
#define TANH_MIN_PARALLEL_BLOCKS 4u

typedef struct tanh_job {
    const float *a; /* forward: x; backward: y */
    const float *b; /* backward: dy */
    float *out;
    size_t n;
} tanh_job;

static void tanh_fwd_range(void *arg, size_t begin, size_t end)
{
    const tanh_job *job = arg;
    size_t lo = begin * TANH_BLOCK;
    size_t hi = end * TANH_BLOCK < job->n ? end * TANH_BLOCK : job->n;
    const float *restrict x = job->a;
    float *restrict y = job->out;
    for (size_t i = lo; i < hi; i++)
        y[i] = tanhf(x[i]);
}

static void tanh_bwd_range(void *arg, size_t begin, size_t end)
{
    const tanh_job *job = arg;
    size_t lo = begin * TANH_BLOCK;
    size_t hi = end * TANH_BLOCK < job->n ? end * TANH_BLOCK : job->n;
    const float *restrict y = job->a;
    const float *restrict dy = job->b;
    float *restrict dx = job->out;
    for (size_t i = lo; i < hi; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

static void tanh_run(const cnn_layer_env *env, cnn_range_fn fn, tanh_job *job)
{
    size_t blocks = job->n / TANH_BLOCK + (job->n % TANH_BLOCK != 0);
    if (env && env->parallel_for && env->threads > 1 &&
        blocks >= TANH_MIN_PARALLEL_BLOCKS)
        env->parallel_for(env->host, blocks, fn, job);
    else
        fn(job, 0, blocks);
}

static cnn_status tanh_shape_check(const cnn_shape *s, cnn_errbuf *err)
{
    if (s->rank < 1 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "tanh: input rank %d, need 1..%d", (int)s->rank,
                              CNN_MAX_RANK);
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "tanh: input dim %d is %lld", (int)i,
                                  (long long)s->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "tanh: input element count overflows");
    return CNN_OK;
}

static cnn_status tanh_infer_shape(const cnn_hparam_value *hp,
                                   const cnn_shape *inputs, uint32_t n_inputs,
                                   cnn_shape *output, cnn_errbuf *err)
{
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "tanh: takes 1 input, got %u", n_inputs);
    cnn_status st = tanh_shape_check(&inputs[0], err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static cnn_status tanh_same(const cnn_layer *layer, const cnn_shape *a,
                            const cnn_shape *b, cnn_errbuf *err)
{
    cnn_status st = tanh_shape_check(a, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(a, b))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "tanh '%s': tensor shapes differ", layer->name);
    return CNN_OK;
}

static cnn_status tanh_forward(const cnn_layer *layer,
                               const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st = tanh_same(layer, &x->shape, &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    tanh_job job = {x->data, NULL, args->output->data, cnn_tensor_numel(x)};
    tanh_run(args->env, tanh_fwd_range, &job);
    return CNN_OK;
}

static cnn_status tanh_backward(const cnn_layer *layer,
                                const cnn_backward_args *args, cnn_errbuf *err)
{
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (!dx)
        return CNN_OK;
    const cnn_tensor *y = args->output;
    cnn_status st =
        tanh_same(layer, &y->shape, &args->output_grad->shape, err);
    if (st != CNN_OK)
        return st;
    tanh_job job = {y->data, args->output_grad->data, dx,
                    cnn_tensor_numel(y)};
    tanh_run(args->env, tanh_bwd_range, &job);
    return CNN_OK;
}

static const cnn_layer_descriptor tanh_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "tanh",
    .summary = "hyperbolic tangent, elementwise",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = tanh_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = tanh_forward,
    .backward = tanh_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(tanh_descriptor)
