/* SPDX-License-Identifier: MIT */
/* ONNX import: cnn_onnx_import_buffer (protobuf unpacking with its depth
 * and memory bounds, constant folding, op mapping, YAML and weights) on the
 * input bytes, with no folder for external data. What an import returns is
 * then loaded as a graph with its weights, as `cnnrun import` checks it. */
#include <stdint.h>
#include <stdlib.h>

#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn_onnx.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnn_context *ctx = fuzz_context();
    cnn_onnx_imported *im = NULL;
    cnn_onnx_import_options opt = {"fuzz.onnx", NULL, {0, 0, 0}, NULL};
    const char *yaml;
    size_t len, n_tensors;
    cnn_graph *g = NULL;
    volatile float sink = 0.0f;

    if (!fuzz_ok(cnn_onnx_import_buffer(ctx, data, size, &opt, &im)))
        return 0;
    yaml = cnn_onnx_imported_yaml(im, &len);
    const cnn_named_tensor *t = cnn_onnx_imported_tensors(im, &n_tensors);
    for (size_t i = 0; i < n_tensors; i++) {
        size_t n = cnn_shape_numel(&t[i].tensor.shape);
        for (size_t j = 0; j < n; j++)
            sink += t[i].tensor.data[j];
    }
    (void)sink;
    if (fuzz_ok(cnn_graph_load_string(ctx, yaml, len, "fuzz.yaml", &g)))
        cnn_graph_destroy(g);
    cnn_onnx_imported_destroy(im);
    return 0;
}
