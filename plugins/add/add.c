/* SPDX-License-Identifier: MIT */
/* add: elementwise sum of 2..8 inputs of one shape, the join of a residual
 * connection. y = x0 + x1 + ...; every input's gradient is dy itself, so
 * backward is one copy per wanted input. */
#include <stdio.h>
#include <string.h>

#include "cnn/layer.h"

#define ADD_MAX_INPUTS 8u

/* "2x3x8x8" into buf; always NUL-terminated. */
static void add_format_shape(char *buf, size_t size, const cnn_shape *s)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < s->rank && i < CNN_MAX_RANK && used < size; i++) {
        int n = snprintf(buf + used, size - used, i ? "x%lld" : "%lld",
                         (long long)s->dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static cnn_status add_check_inputs(const char *who, const cnn_shape *inputs,
                                   uint32_t n_inputs, cnn_errbuf *err)
{
    if (n_inputs < 2 || n_inputs > ADD_MAX_INPUTS)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: takes 2..%u inputs, got %u", who,
                              ADD_MAX_INPUTS, n_inputs);
    const cnn_shape *s0 = &inputs[0];
    if (s0->rank < 1 || s0->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input 0 has rank %d, need 1..%d", who,
                              (int)s0->rank, CNN_MAX_RANK);
    for (int32_t i = 0; i < s0->rank; i++)
        if (s0->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input 0 dim %d is %lld", who, (int)i,
                                  (long long)s0->dims[i]);
    int ok;
    (void)cnn_shape_numel_checked(s0, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input element count overflows", who);
    for (uint32_t k = 1; k < n_inputs; k++) {
        if (!cnn_shape_equal(&inputs[k], s0)) {
            char a[160], b[160];
            add_format_shape(a, sizeof a, &inputs[k]);
            add_format_shape(b, sizeof b, s0);
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input %u has %s, input 0 has %s", who,
                                  k, a, b);
        }
    }
    return CNN_OK;
}

static cnn_status add_infer_shape(const cnn_hparam_value *hp,
                                  const cnn_shape *inputs, uint32_t n_inputs,
                                  cnn_shape *output, cnn_errbuf *err)
{
    (void)hp;
    cnn_status st = add_check_inputs("add", inputs, n_inputs, err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

/* Shapes of one call's tensors, gathered so the infer_shape check applies. */
static cnn_status add_check_call(const cnn_layer *layer,
                                 const cnn_tensor *inputs, uint32_t n_inputs,
                                 const cnn_shape *out, cnn_errbuf *err)
{
    cnn_shape shapes[ADD_MAX_INPUTS];
    char who[CNN_NAME_MAX + 16];
    snprintf(who, sizeof who, "add '%s'", layer->name);
    if (n_inputs < 2 || n_inputs > ADD_MAX_INPUTS)
        return add_check_inputs(who, NULL, n_inputs, err);
    for (uint32_t k = 0; k < n_inputs; k++)
        shapes[k] = inputs[k].shape;
    cnn_status st = add_check_inputs(who, shapes, n_inputs, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(out, &shapes[0]))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: output shape differs from the inputs'",
                              who);
    return CNN_OK;
}

static void add_two(const float *restrict a, const float *restrict b,
                    float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void add_into(float *restrict y, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += b[i];
}

static cnn_status add_forward(const cnn_layer *layer,
                              const cnn_forward_args *args, cnn_errbuf *err)
{
    cnn_status st = add_check_call(layer, args->inputs, args->n_inputs,
                                   &args->output->shape, err);
    if (st != CNN_OK)
        return st;
    size_t n = cnn_tensor_numel(args->output);
    float *y = args->output->data;
    if (n == 0)
        return CNN_OK;
    if (!args->epilogue) {
        add_two(args->inputs[0].data, args->inputs[1].data, y, n);
        for (uint32_t k = 2; k < args->n_inputs; k++)
            add_into(y, args->inputs[k].data, n);
        return CNN_OK;
    }
    /* A folded relu (ABI 1.4; ResNet's joins): plane by plane, each
     * finished while it is in L1. */
    const cnn_shape *s = &args->output->shape;
    size_t planes = (size_t)(s->dims[0] * s->dims[1]), plane = n / planes;
    for (size_t p = 0; p < planes; p++) {
        size_t at = p * plane;
        add_two(args->inputs[0].data + at, args->inputs[1].data + at, y + at,
                plane);
        for (uint32_t k = 2; k < args->n_inputs; k++)
            add_into(y + at, args->inputs[k].data + at, plane);
        cnn_epilogue_apply(args->epilogue, (int64_t)(p % (size_t)s->dims[1]),
                           y + at, plane);
    }
    return CNN_OK;
}

static cnn_status add_backward(const cnn_layer *layer,
                               const cnn_backward_args *args, cnn_errbuf *err)
{
    if (!args->input_grads)
        return CNN_OK;
    cnn_status st = add_check_call(layer, args->inputs, args->n_inputs,
                                   &args->output_grad->shape, err);
    if (st != CNN_OK)
        return st;
    size_t bytes = cnn_tensor_numel(args->output_grad) * sizeof(float);
    const float *dy = args->output_grad->data;
    for (uint32_t k = 0; k < args->n_inputs; k++) {
        float *dx = args->input_grads[k].data;
        if (dx && dx != dy && bytes)
            memmove(dx, dy, bytes);
    }
    return CNN_OK;
}

static const cnn_layer_descriptor add_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "add",
    .summary = "elementwise sum of 2..8 same-shape inputs (residual join)",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 2,
    .max_inputs = ADD_MAX_INPUTS,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT |
             CNN_LAYER_FLAG_ACCEPTS_EPILOGUE,
    .infer_shape = add_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = add_forward,
    .backward = add_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(add_descriptor)
