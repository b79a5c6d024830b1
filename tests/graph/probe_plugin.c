/* SPDX-License-Identifier: MIT */
/* A test plugin ("probe") for the hooks the built-in layers do not use: it
 * keeps state from create to destroy, declares as many parameters as asked
 * (more than the host's first guess of room), reports flops, and fails in
 * the hook named by `fail`. The output has the input's shape. */
#include <stdlib.h>
#include <string.h>

#include "cnn/layer.h"

static const char *const probe_failures[] = {"none", "shape", "create",
                                             "params", NULL};
enum { FAIL_NONE, FAIL_SHAPE, FAIL_CREATE, FAIL_PARAMS };

static const cnn_hparam_spec probe_hparams[] = {
    {"params", CNN_HP_INT, "how many [2, 3] parameters to declare", 0, 6, 0,
     16, NULL},
    {"fail", CNN_HP_ENUM, "the hook that fails", 0, FAIL_NONE, 0, 0,
     probe_failures},
};

typedef struct probe_state {
    int64_t n_params;
} probe_state;

static cnn_status probe_infer_shape(const cnn_hparam_value *hp,
                                    const cnn_shape *inputs, uint32_t n,
                                    cnn_shape *output, cnn_errbuf *err)
{
    (void)n;
    if (hp[1].i[0] == FAIL_SHAPE)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "probe refuses shape "
                              "rank %d",
                              (int)inputs[0].rank);
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status probe_create(cnn_layer *layer, cnn_errbuf *err)
{
    probe_state *s;
    if (layer->hparams[1].i[0] == FAIL_CREATE)
        return cnn_layer_fail(err, CNN_ERR_PLUGIN,
                              "probe create failed "
                              "on purpose");
    s = malloc(sizeof *s);
    if (!s)
        return cnn_layer_fail(err, CNN_ERR_NOMEM, "out of memory");
    s->n_params = layer->hparams[0].i[0];
    layer->state = s;
    return CNN_OK;
}

static cnn_status probe_params(const cnn_layer *layer, cnn_param_spec *specs,
                               uint32_t capacity, uint32_t *count,
                               cnn_errbuf *err)
{
    const probe_state *s = layer->state;
    if (layer->hparams[1].i[0] == FAIL_PARAMS)
        return cnn_layer_fail(err, CNN_ERR_PLUGIN, "probe params failed");
    *count = (uint32_t)s->n_params;
    for (uint32_t i = 0; i < *count && i < capacity; i++) {
        memset(&specs[i], 0, sizeof specs[i]);
        specs[i].name[0] = 'p';
        specs[i].name[1] = (char)('a' + i);
        specs[i].shape = cnn_shape2(2, 3);
        specs[i].init = CNN_INIT_ZEROS;
        specs[i].fan_in = 3;
        specs[i].fan_out = 2;
    }
    return CNN_OK;
}

static cnn_status probe_forward(const cnn_layer *layer,
                                const cnn_forward_args *args, cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    memcpy(args->output->data, args->inputs[0].data,
           cnn_tensor_numel(&args->inputs[0]) * sizeof(float));
    return CNN_OK;
}

static cnn_status probe_backward(const cnn_layer *layer,
                                 const cnn_backward_args *args,
                                 cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    if (args->input_grads[0].data)
        memcpy(args->input_grads[0].data, args->output_grad->data,
               cnn_tensor_numel(args->output_grad) * sizeof(float));
    return CNN_OK;
}

static void probe_destroy(cnn_layer *layer)
{
    free(layer->state);
    layer->state = NULL;
}

static uint64_t probe_flops(const cnn_hparam_value *hp,
                            const cnn_shape *inputs, uint32_t n,
                            const cnn_shape *output)
{
    (void)hp;
    (void)inputs;
    (void)n;
    return 1000u + (uint64_t)cnn_shape_numel(output);
}

static const cnn_layer_descriptor probe_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "probe",
    .summary = "test plugin for the graph loader",
    .hparams = probe_hparams,
    .n_hparams = sizeof probe_hparams / sizeof probe_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = probe_infer_shape,
    .create = probe_create,
    .params = probe_params,
    .forward = probe_forward,
    .backward = probe_backward,
    .destroy = probe_destroy,
    .flops = probe_flops,
};

CNN_LAYER_PLUGIN(probe_descriptor)
