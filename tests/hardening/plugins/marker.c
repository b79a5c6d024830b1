/* SPDX-License-Identifier: MIT */
/* A plugin that leaves a mark when its code runs at all: its constructor
 * appends its type's first letter to the file named by CNN_TEST_MARKER. A
 * refused plugin must leave no mark, because the refusal has to come
 * before dlopen. The
 * layer is the identity; MARKER_TYPE (its file name too) is "relu" for the
 * override tests and "evil" for a file no graph asks for. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn/layer.h"

#ifndef MARKER_TYPE
#error "MARKER_TYPE names the fixture"
#endif

__attribute__((constructor)) static void leave_mark(void)
{
    const char *path = getenv("CNN_TEST_MARKER");
    int fd;
    if (!path || !*path)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        (void)!write(fd, MARKER_TYPE, 1); /* 'r' for relu, 'e' for evil */
        close(fd);
    }
}

static cnn_status marker_infer(const cnn_hparam_value *hp, const cnn_shape *inputs,
                               uint32_t n_inputs, cnn_shape *output, cnn_errbuf *err)
{
    (void)hp;
    (void)n_inputs;
    (void)err;
    *output = inputs[0];
    return CNN_OK;
}

static cnn_status marker_forward(const cnn_layer *layer, const cnn_forward_args *args,
                                 cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    memcpy(args->output->data, args->inputs[0].data,
           cnn_tensor_numel(&args->inputs[0]) * sizeof(float));
    return CNN_OK;
}

static cnn_status marker_backward(const cnn_layer *layer, const cnn_backward_args *args,
                                  cnn_errbuf *err)
{
    (void)layer;
    (void)err;
    if (args->input_grads[0].data)
        memcpy(args->input_grads[0].data, args->output_grad->data,
               cnn_tensor_numel(args->output_grad) * sizeof(float));
    return CNN_OK;
}

static const cnn_layer_descriptor marker_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = MARKER_TYPE,
    .summary = "identity that marks a file when loaded (a test fixture)",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = marker_infer,
    .forward = marker_forward,
    .backward = marker_backward,
};

CNN_LAYER_PLUGIN(marker_descriptor)
