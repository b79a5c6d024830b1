/* SPDX-License-Identifier: MIT */
/* A layer that crashes on purpose, for the host's crash report: the
 * identity, except that the hook named by its `crash` hyperparameter
 * dereferences NULL (or, with `how: abort`, calls abort()). `forward_worker`
 * crashes inside a parallel_for chunk other than the first, which the
 * host's thread pool runs on a worker thread when --threads > 1.
 * Built without sanitizers (tests/hardening/meson.build) so that nothing
 * stops the signal before cnnrun's own handler reports it. */
#include <stdlib.h>
#include <string.h>

#include "cnn/layer.h"

enum { NONE, INFER_SHAPE, CREATE, PARAMS, FORWARD, FORWARD_WORKER, BACKWARD, DESTROY };
static const char *const crash_choices[] = {
    "none", "infer_shape", "create", "params", "forward", "forward_worker",
    "backward", "destroy", NULL};
static const char *const how_choices[] = {"segv", "abort", NULL};

static const cnn_hparam_spec crashy_hparams[] = {
    {"crash", CNN_HP_ENUM, "the hook that crashes", 0, 0, 0, 0, crash_choices},
    {"how", CNN_HP_ENUM, "a NULL write or abort()", 0, 0, 0, 0, how_choices},
};

static void crash(const cnn_hparam_value *hp, int64_t where)
{
    if (hp[0].i[0] != where)
        return;
    if (hp[1].i[0] == 1)
        abort();
    *(volatile int *)(size_t)(hp[0].i[0] - where) = 1; /* address 0 */
}

static cnn_status crashy_infer(const cnn_hparam_value *hp, const cnn_shape *inputs,
                               uint32_t n_inputs, cnn_shape *output, cnn_errbuf *err)
{
    (void)n_inputs;
    (void)err;
    crash(hp, INFER_SHAPE);
    *output = inputs[0];
    return CNN_OK;
}

static int state_token;

static cnn_status crashy_create(cnn_layer *layer, cnn_errbuf *err)
{
    (void)err;
    crash(layer->hparams, CREATE);
    layer->state = &state_token;
    return CNN_OK;
}

static void crashy_destroy(cnn_layer *layer)
{
    crash(layer->hparams, DESTROY);
}

static cnn_status crashy_params(const cnn_layer *layer, cnn_param_spec *specs,
                                uint32_t capacity, uint32_t *count, cnn_errbuf *err)
{
    (void)specs;
    (void)capacity;
    (void)err;
    crash(layer->hparams, PARAMS);
    *count = 0;
    return CNN_OK;
}

static void crash_in_chunk(void *arg, size_t begin, size_t end)
{
    (void)end;
    if (begin > 0)
        crash(arg, FORWARD_WORKER);
}

static cnn_status crashy_forward(const cnn_layer *layer, const cnn_forward_args *args,
                                 cnn_errbuf *err)
{
    (void)err;
    crash(layer->hparams, FORWARD);
    if (layer->hparams[0].i[0] == FORWARD_WORKER)
        args->env->parallel_for(args->env->host, 2, crash_in_chunk,
                                (void *)layer->hparams);
    memcpy(args->output->data, args->inputs[0].data,
           cnn_tensor_numel(&args->inputs[0]) * sizeof(float));
    return CNN_OK;
}

static cnn_status crashy_backward(const cnn_layer *layer, const cnn_backward_args *args,
                                  cnn_errbuf *err)
{
    (void)err;
    crash(layer->hparams, BACKWARD);
    if (args->input_grads[0].data)
        memcpy(args->input_grads[0].data, args->output_grad->data,
               cnn_tensor_numel(args->output_grad) * sizeof(float));
    return CNN_OK;
}

static const cnn_layer_descriptor crashy_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "crashy",
    .summary = "identity that crashes in the hook it is told to",
    .hparams = crashy_hparams,
    .n_hparams = 2,
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = crashy_infer,
    .create = crashy_create,
    .params = crashy_params,
    .forward = crashy_forward,
    .backward = crashy_backward,
    .destroy = crashy_destroy,
};

CNN_LAYER_PLUGIN(crashy_descriptor)
