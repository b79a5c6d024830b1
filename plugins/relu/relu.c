/* SPDX-License-Identifier: MIT */
/* relu: y = max(x, 0), elementwise, any shape.
 *
 * backward reads the saved output: y > 0 exactly when x > 0, so
 * dx = dy where y > 0 and 0 elsewhere, which gives 0 at x == 0 like
 * PyTorch. A NaN input stays NaN (x < 0 is false for NaN) so divergence is
 * not hidden from the loss check. The loops are branch-free selects over
 * restrict pointers and vectorise. relu is memory bound: small tensors run
 * on the calling thread, large ones (a VGG activation is 3 to 100 MB) are
 * cut into blocks for env->parallel_for, which adds the other cores'
 * bandwidth. */
#include <string.h>

#include "cnn/layer.h"

static cnn_status relu_shape_check(const cnn_shape *s, cnn_errbuf *err)
{
    if (s->rank < 1 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "relu: input rank %d, need 1..%d", (int)s->rank,
                              CNN_MAX_RANK);
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "relu: input dim %d is %lld", (int)i,
                                  (long long)s->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "relu: input element count overflows");
    return CNN_OK;
}

static cnn_status relu_infer_shape(const cnn_hparam_value *hp,
                                   const cnn_shape *inputs, uint32_t n_inputs,
                                   cnn_shape *output, cnn_errbuf *err)
{
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "relu: takes 1 input, got %u", n_inputs);
    cnn_status st = relu_shape_check(&inputs[0], err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static cnn_status relu_same(const cnn_layer *layer, const cnn_shape *a,
                            const cnn_shape *b, cnn_errbuf *err)
{
    cnn_status st = relu_shape_check(a, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(a, b))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "relu '%s': tensor shapes differ", layer->name);
    return CNN_OK;
}

static void relu_apply(const float *restrict x, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void relu_grad(const float *restrict y, const float *restrict dy,
                      float *restrict dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Below this many floats a pass stays on the calling thread. */
#ifndef RELU_PAR_MIN
#define RELU_PAR_MIN ((size_t)1 << 17)
#endif

typedef struct relu_run {
    const float *a, *b; /* forward: x; backward: y and dy */
    float *out;
    size_t n, slots;
} relu_run;

/* Block s of the slots: boundaries on multiples of 16 floats (64 bytes). */
static size_t relu_cut(const relu_run *r, size_t s)
{
    size_t b = s >= r->slots ? r->n : r->n * s / r->slots;
    return s >= r->slots ? b : b - b % 16;
}

static void relu_forward_range(void *arg, size_t s0, size_t s1)
{
    const relu_run *r = arg;
    size_t i0 = relu_cut(r, s0), i1 = relu_cut(r, s1);
    relu_apply(r->a + i0, r->out + i0, i1 - i0);
}

static void relu_backward_range(void *arg, size_t s0, size_t s1)
{
    const relu_run *r = arg;
    size_t i0 = relu_cut(r, s0), i1 = relu_cut(r, s1);
    relu_grad(r->a + i0, r->b + i0, r->out + i0, i1 - i0);
}

static void relu_run_pass(const cnn_layer_env *env, relu_run *r,
                          cnn_range_fn fn)
{
    r->slots = 1;
    /* Four blocks per thread: the pool hands them out one at a time, so a
     * preempted thread holds up a small piece. */
    if (r->n >= RELU_PAR_MIN && env && env->parallel_for && env->threads > 1)
        r->slots = 4 * (size_t)env->threads;
    if (r->slots > 1)
        env->parallel_for(env->host, r->slots, fn, r);
    else
        fn(r, 0, 1);
}

static cnn_status relu_forward(const cnn_layer *layer,
                               const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_tensor *x = &args->inputs[0];
    cnn_status st = relu_same(layer, &x->shape, &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    relu_run r = {x->data, NULL, args->output->data, cnn_tensor_numel(x), 1};
    relu_run_pass(args->env, &r, relu_forward_range);
    return CNN_OK;
}

static cnn_status relu_backward(const cnn_layer *layer,
                                const cnn_backward_args *args, cnn_errbuf *err)
{
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (!dx)
        return CNN_OK;
    const cnn_tensor *y = args->output;
    cnn_status st =
        relu_same(layer, &y->shape, &args->output_grad->shape, err);
    if (st != CNN_OK)
        return st;
    relu_run r = {y->data, args->output_grad->data, dx, cnn_tensor_numel(y),
                  1};
    relu_run_pass(args->env, &r, relu_backward_range);
    return CNN_OK;
}

static const cnn_layer_descriptor relu_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "relu",
    .summary = "rectified linear unit: y = max(x, 0)",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = relu_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = relu_forward,
    .backward = relu_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(relu_descriptor)
