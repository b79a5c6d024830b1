/* SPDX-License-Identifier: MIT */
/* Graph YAML: parsing, validation against the built-in plugins of this
 * build tree, shape inference and instantiation, through the public
 * cnn_graph_load_string. A graph that loads is then walked the way
 * `cnnrun summary` walks it, so every accessor reads what the loader
 * built.
 *
 * The text is loaded as if it were the file fuzz.yaml in the scratch
 * folder, beside a small base.yaml, so `backbone: {graph: base.yaml, ...}`
 * in an input reaches the backbone merge and cut. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cnn/graph.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_yaml[] =
    "name: base\n"
    "input: {shape: [3, 8, 8], mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2]}\n"
    "layers:\n"
    "  - {name: conv1, type: conv, filters: 4, kernel: 3, padding: 1}\n"
    "  - {name: relu1, type: relu}\n"
    "  - {name: pool1, type: maxpool, size: 2}\n"
    "  - {name: fc1, type: dense, units: 5}\n";

static char origin[FUZZ_PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *slash;
    (void)argc, (void)argv;
    fuzz_write_file(origin, "base.yaml", (const uint8_t *)base_yaml,
                    strlen(base_yaml));
    slash = strrchr(origin, '/');
    snprintf(slash + 1, sizeof origin - (size_t)(slash + 1 - origin),
             "fuzz.yaml");
    return 0;
}

static void walk(cnn_context *ctx, const cnn_graph *g)
{
    volatile uint64_t sink = 0;
    size_t n = cnn_graph_layer_count(g);
    cnn_shape in = cnn_graph_input_shape(g);
    sink += (uint64_t)in.rank;
    sink += cnn_graph_param_count(g) + cnn_graph_trainable_param_count(g);
    for (size_t i = 0; i < n; i++) {
        cnn_layer_info info;
        cnn_shape s;
        cnn_graph_layer_info(g, i, &info);
        sink += info.param_count + info.flops + (uint64_t)info.n_inputs;
        sink += (uint64_t)cnn_graph_find_layer(g, info.name);
        if (cnn_graph_output_shape(ctx, g, i, 2, &s) == CNN_OK)
            sink += (uint64_t)s.rank;
    }
    for (size_t c = 0; c < cnn_graph_class_count(g); c++)
        sink += (uint64_t)cnn_graph_class_name(g, c)[0];
    for (size_t k = 0; cnn_graph_setting_key(g, k); k++) {
        int line = 0;
        const char *v = cnn_graph_setting(g, cnn_graph_setting_key(g, k), &line);
        sink += (uint64_t)line + (v ? (uint64_t)v[0] : 0);
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnn_context *ctx = fuzz_context();
    cnn_graph *g = NULL;
    if (fuzz_ok(cnn_graph_load_string(ctx, (const char *)data, size, origin,
                                      &g))) {
        walk(ctx, g);
        cnn_graph_destroy(g);
    }
    return 0;
}
