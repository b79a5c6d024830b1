/* SPDX-License-Identifier: MIT */
/* A plugin as an author built it against an older header: the descriptor is
 * the ABI 1.0 layout written out (it ends after destroy, before 1.1's
 * flops), followed in memory by a non-NULL pointer where flops would be, so
 * a host that read past struct_size would find a hook that is not there.
 * The layer doubles its input: y = 2 x, dx = 2 dy.
 *
 * COMPAT_MAJOR and COMPAT_MINOR set the declared version (default 1.0) and
 * COMPAT_TYPE the type name: built as 2.0 it stands for a plugin from a
 * future major version, which the host must refuse, naming both versions. */
#include <string.h>

#include "cnn/layer.h"

#ifndef COMPAT_MAJOR
#define COMPAT_MAJOR 1u
#endif
#ifndef COMPAT_MINOR
#define COMPAT_MINOR 0u
#endif
#ifndef COMPAT_TYPE
#define COMPAT_TYPE "old_abi"
#endif

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
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "takes 1 input");
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status old_forward(const cnn_layer *layer,
                              const cnn_forward_args *args, cnn_errbuf *err)
{
    size_t n = cnn_shape_numel(&args->output->shape);
    (void)layer;
    (void)err;
    for (size_t i = 0; i < n; i++)
        args->output->data[i] = 2.0f * args->inputs[0].data[i];
    return CNN_OK;
}

static cnn_status old_backward(const cnn_layer *layer,
                               const cnn_backward_args *args, cnn_errbuf *err)
{
    size_t n = cnn_shape_numel(&args->output->shape);
    float *dx = args->input_grads ? args->input_grads[0].data : NULL;
    (void)layer;
    (void)err;
    if (dx)
        for (size_t i = 0; i < n; i++)
            dx[i] = 2.0f * args->output_grad->data[i];
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
        .abi_version = CNN_LAYER_ABI_MAKE(COMPAT_MAJOR, COMPAT_MINOR),
        .struct_size = (uint32_t)sizeof(descriptor_1_0),
        .type_name = COMPAT_TYPE,
        .summary = "y = 2 x, built against an older layer ABI header",
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
    /* The old header called this struct cnn_layer_descriptor too. */
    return (const cnn_layer_descriptor *)(const void *)&old_plugin.desc;
}
