/* SPDX-License-Identifier: MIT */
/* One small identity layer, bent by -D switches into each fault the registry
 * must refuse (see meson.build for the list). Built as many plugins, each
 * named after the type it declares, so cnn_plugin_get reaches the check
 * under test rather than stopping at the type-name check. */
#include <string.h>

#include "cnn/layer.h"

#ifndef FIXTURE_TYPE
#error "FIXTURE_TYPE names the plugin file"
#endif
#ifndef FIXTURE_TYPE_NAME
#define FIXTURE_TYPE_NAME FIXTURE_TYPE
#endif
#ifndef FIXTURE_ABI
#define FIXTURE_ABI CNN_LAYER_ABI_VERSION
#endif
#ifndef FIXTURE_SIZE
#define FIXTURE_SIZE sizeof(cnn_layer_descriptor)
#endif
#ifndef FIXTURE_SUMMARY
#define FIXTURE_SUMMARY "identity layer for registry tests"
#endif
#ifndef FIXTURE_HP
#define FIXTURE_HP 0
#endif

static cnn_status fixture_infer(const cnn_hparam_value *hparams,
                                const cnn_shape *inputs, uint32_t n_inputs,
                                cnn_shape *output, cnn_errbuf *err)
{
    (void)hparams;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "expected one input, got %u",
                              n_inputs);
    *output = inputs[0];
    return CNN_OK;
}

#ifdef FIXTURE_NULL_FORWARD
#define FIXTURE_FORWARD NULL
#else
#define FIXTURE_FORWARD fixture_forward
static cnn_status fixture_forward(const cnn_layer *layer,
                                  const cnn_forward_args *args,
                                  cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    memcpy(args->output->data, args->inputs[0].data,
           cnn_shape_numel(&args->output->shape) * sizeof(float));
    return CNN_OK;
}
#endif

static cnn_status fixture_backward(const cnn_layer *layer,
                                   const cnn_backward_args *args,
                                   cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    if (args->input_grads[0].data)
        memcpy(args->input_grads[0].data, args->output_grad->data,
               cnn_shape_numel(&args->output_grad->shape) * sizeof(float));
    return CNN_OK;
}

#ifdef FIXTURE_CREATE_NO_DESTROY
static cnn_status fixture_create(cnn_layer *layer, cnn_errbuf *err)
{
    (void)err;
    layer->state = NULL;
    return CNN_OK;
}
#define FIXTURE_CREATE fixture_create
#else
#define FIXTURE_CREATE NULL
#endif

#if FIXTURE_HP == 6
static const char *const fixture_no_choices[] = {NULL};
#elif FIXTURE_HP == 0 || FIXTURE_HP == 7
static const char *const fixture_modes[] = {"fast", "exact", NULL};
#endif

/* FIXTURE_HP selects the hyperparameter table: 0 a valid one covering every
 * kind, the others one fault each. */
static const cnn_hparam_spec fixture_hparams[] = {
#if FIXTURE_HP == 1 /* bad name */
    {"Kernel", CNN_HP_INT, "bad name", 0, 3, 1, 11, NULL},
#elif FIXTURE_HP == 2 /* duplicate name */
    {"kernel", CNN_HP_INT, "kernel", 0, 3, 1, 11, NULL},
    {"kernel", CNN_HP_INT, "again", 0, 3, 1, 11, NULL},
#elif FIXTURE_HP == 3 /* unknown kind */
    {"kernel", (cnn_hparam_kind)42, "unknown kind", 0, 3, 1, 11, NULL},
#elif FIXTURE_HP == 4 /* min > max */
    {"kernel", CNN_HP_INT, "min > max", 0, 3, 11, 1, NULL},
#elif FIXTURE_HP == 5 /* default outside bounds */
    {"kernel", CNN_HP_INT2, "default 0", 0, 0, 1, 11, NULL},
#elif FIXTURE_HP == 6 /* ENUM without choices */
    {"mode", CNN_HP_ENUM, "no choices", 0, 0, 0, 0, fixture_no_choices},
#elif FIXTURE_HP == 7 /* ENUM default index out of range */
    {"mode", CNN_HP_ENUM, "default 2", 0, 2, 0, 0, fixture_modes},
#else
    {"units", CNN_HP_INT, "required count", 1, 0, 1, 1 << 20, NULL},
    {"kernel", CNN_HP_INT2, "window", 0, 3, 1, 11, NULL},
    {"rate", CNN_HP_FLOAT, "fraction", 0, 0.5, 0, 1, NULL},
    {"bias", CNN_HP_BOOL, "add a bias", 0, 1, 0, 0, NULL},
    {"mode", CNN_HP_ENUM, "algorithm", 0, 1, 0, 0, fixture_modes},
#endif
};

#ifdef FIXTURE_FLOPS
static uint64_t fixture_flops(const cnn_hparam_value *hparams,
                              const cnn_shape *inputs, uint32_t n_inputs,
                              const cnn_shape *output)
{
    (void)hparams;
    (void)inputs;
    (void)n_inputs;
    return cnn_shape_numel(output);
}
#define FIXTURE_FLOPS_HOOK fixture_flops
#else
#define FIXTURE_FLOPS_HOOK NULL
#endif

static const cnn_layer_descriptor fixture_descriptor = {
    .abi_version = FIXTURE_ABI,
    .struct_size = FIXTURE_SIZE,
    .type_name = FIXTURE_TYPE_NAME,
    .summary = FIXTURE_SUMMARY,
    .hparams = fixture_hparams,
    .n_hparams = sizeof fixture_hparams / sizeof fixture_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = fixture_infer,
    .create = FIXTURE_CREATE,
    .forward = FIXTURE_FORWARD,
    .backward = fixture_backward,
    .flops = FIXTURE_FLOPS_HOOK,
};

#if defined(FIXTURE_NO_SYMBOL)
/* The right descriptor behind the wrong symbol name. */
CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry_v2(void);
CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry_v2(void)
{
    return &fixture_descriptor;
}
#elif defined(FIXTURE_NULL_ENTRY)
CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void);
CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void)
{
    (void)&fixture_descriptor; /* built, but never handed out */
    return NULL;
}
#else
CNN_LAYER_PLUGIN(fixture_descriptor)
#endif
