/* SPDX-License-Identifier: MIT */
/* A plugin as built against ABI 1.0: its descriptor ends after destroy. The
 * struct is the 1.0 layout written out, as an old header declared it, and is
 * followed in memory by a non-NULL pointer where 1.1's flops field would be,
 * so a host that read past struct_size would see a flops hook. */
#include <string.h>

#include "cnn/layer.h"

typedef struct descriptor_1_0 {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *type_name;
    const char *summary;
    const cnn_hparam_spec *hparams;
    uint32_t n_hparams;
    uint32_t min_inputs;
    uint32_t max_inputs;
    uint32_t flags;
    cnn_status (*infer_shape)(const cnn_hparam_value *hparams,
                              const cnn_shape *inputs, uint32_t n_inputs,
                              cnn_shape *output, cnn_errbuf *err);
    cnn_status (*create)(cnn_layer *layer, cnn_errbuf *err);
    cnn_status (*params)(const cnn_layer *layer, cnn_param_spec *specs,
                         uint32_t capacity, uint32_t *count, cnn_errbuf *err);
    cnn_status (*forward)(const cnn_layer *layer, const cnn_forward_args *args,
                          cnn_errbuf *err);
    cnn_status (*backward)(const cnn_layer *layer,
                           const cnn_backward_args *args, cnn_errbuf *err);
    void (*destroy)(cnn_layer *layer);
} descriptor_1_0;

_Static_assert(sizeof(descriptor_1_0) == CNN_LAYER_DESCRIPTOR_SIZE_1_0,
               "the 1.0 layout is the current one up to flops");

static cnn_status old_infer(const cnn_hparam_value *hparams,
                            const cnn_shape *inputs, uint32_t n_inputs,
                            cnn_shape *output, cnn_errbuf *err)
{
    (void)hparams;
    (void)n_inputs;
    (void)err;
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status old_forward(const cnn_layer *layer,
                              const cnn_forward_args *args, cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    memcpy(args->output->data, args->inputs[0].data,
           cnn_shape_numel(&args->output->shape) * sizeof(float));
    return CNN_OK;
}

static cnn_status old_backward(const cnn_layer *layer,
                               const cnn_backward_args *args, cnn_errbuf *err)
{
    (void)layer;
    (void)args;
    (void)err;
    return CNN_OK;
}

static uint64_t trap_flops(const cnn_hparam_value *hparams,
                           const cnn_shape *inputs, uint32_t n_inputs,
                           const cnn_shape *output)
{
    (void)hparams;
    (void)inputs;
    (void)n_inputs;
    (void)output;
    return 12345;
}

static const struct {
    descriptor_1_0 desc;
    uint64_t (*after)(const cnn_hparam_value *, const cnn_shape *, uint32_t,
                      const cnn_shape *);
} old_plugin = {
    {
        .abi_version = CNN_LAYER_ABI_MAKE(1u, 0u),
        .struct_size = (uint32_t)sizeof(descriptor_1_0),
        .type_name = "abi10",
        .summary = "identity layer built against ABI 1.0",
        .min_inputs = 1,
        .max_inputs = 1,
        .infer_shape = old_infer,
        .forward = old_forward,
        .backward = old_backward,
    },
    trap_flops,
};

CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void);
CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void)
{
    /* An old host header named this struct cnn_layer_descriptor. */
    return (const cnn_layer_descriptor *)(const void *)&old_plugin.desc;
}
