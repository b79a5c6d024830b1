/* SPDX-License-Identifier: MIT */
/* Graphs: a YAML file describing a network, loaded, validated, resolved to
 * plugins, shape-checked and instantiated before any buffer is allocated.
 *
 * Format (see README.md and docs/graph-format.md):
 *   name: lenet5
 *   input: [1, 32, 32]            # C, H, W; or {shape: [...], mean: [...],
 *                                 #              std: [...], classes: [...]}
 *   backbone: {graph: base.yaml, weights: base.safetensors,
 *              cut_after: fc2, freeze: all}      # optional
 *   layers:
 *     - {name: conv1, type: conv, filters: 6, kernel: 5}
 *     - {name: act1, type: relu}
 *     - {name: sum, type: add, inputs: [act1, conv1]}
 *   train: {epochs: 2, batch: 64, ...}             # optional, host settings
 *
 * A layer takes the previous layer's output unless it names its inputs.
 * Layers are kept in a topological order; index -1 denotes the graph input. */
#ifndef CNN_GRAPH_H
#define CNN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/layer.h"
#include "cnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_graph cnn_graph;

#define CNN_GRAPH_INPUT (-1)

/* Parses, validates and instantiates the graph in path. Errors name
 * path:line:column, the layer and the key. */
cnn_status cnn_graph_load(cnn_context *ctx, const char *path,
                          cnn_graph **out);
/* The same from memory; origin names the text in messages. */
cnn_status cnn_graph_load_string(cnn_context *ctx, const char *yaml,
                                 size_t length, const char *origin,
                                 cnn_graph **out);
void cnn_graph_destroy(cnn_graph *graph);

const char *cnn_graph_name(const cnn_graph *graph);
const char *cnn_graph_path(const cnn_graph *graph); /* origin given at load */
/* Per-sample input shape with a batch of 1: {1, C, H, W}. */
cnn_shape cnn_graph_input_shape(const cnn_graph *graph);

/* Per-channel normalization declared in the graph; NULL when none. Each has
 * C entries. Pixels in [0,1] become (x - mean) / std. */
const float *cnn_graph_input_mean(const cnn_graph *graph);
const float *cnn_graph_input_std(const cnn_graph *graph);
/* Class names declared in the graph (input.classes), or 0. */
size_t cnn_graph_class_count(const cnn_graph *graph);
const char *cnn_graph_class_name(const cnn_graph *graph, size_t index);

typedef struct cnn_layer_info {
    const char *name;
    const char *type;
    const cnn_plugin *plugin;
    const cnn_layer_descriptor *descriptor;
    const cnn_layer *layer;      /* the instance handed to hooks */
    const int32_t *inputs;       /* layer indices or CNN_GRAPH_INPUT */
    uint32_t n_inputs;
    cnn_shape output_shape;      /* with batch 1 */
    const cnn_param_spec *params;
    uint32_t n_params;
    uint64_t param_count;        /* elements over all its parameters */
    uint64_t flops;              /* per sample, 0 when the plugin can't say */
    int trainable;               /* 0 when frozen */
    int from_backbone;           /* 1 when it came from the backbone graph */
    int line;                    /* where the layer starts in its file */
} cnn_layer_info;

size_t cnn_graph_layer_count(const cnn_graph *graph);
/* info's pointers are owned by the graph. */
void cnn_graph_layer_info(const cnn_graph *graph, size_t index,
                          cnn_layer_info *info);
/* Index of the named layer, or -1. */
int32_t cnn_graph_find_layer(const cnn_graph *graph, const char *name);
/* The layer whose output is the graph's output (the last one). */
size_t cnn_graph_output_layer(const cnn_graph *graph);

/* Marks one layer frozen (0) or trainable (1). */
cnn_status cnn_graph_set_trainable(cnn_context *ctx, cnn_graph *graph,
                                   const char *layer_name, int trainable);

/* Parameter totals, over all layers or only trainable ones (running
 * statistics, CNN_PARAM_STATE, are never trainable). */
uint64_t cnn_graph_param_count(const cnn_graph *graph);
uint64_t cnn_graph_trainable_param_count(const cnn_graph *graph);

/* Shape of the named layer's output for batch n (dims[0] = n). */
cnn_status cnn_graph_output_shape(cnn_context *ctx, const cnn_graph *graph,
                                  size_t layer, int64_t n, cnn_shape *out);

/* The backbone, when the graph declares one: its weights file (resolved
 * against the graph file's folder, NULL when none was given) and the names
 * of its layers that this graph keeps. */
const char *cnn_graph_backbone_weights(const cnn_graph *graph);
const char *cnn_graph_backbone_path(const cnn_graph *graph);

/* The rules of the graph file's rename: key, or its backbone's when it has
 * none (include "cnn/rename.h" to use them), applied to every weights file
 * loaded into the graph, the backbone's too; NULL when there are none. */
struct cnn_rename_map;
const struct cnn_rename_map *cnn_graph_rename_map(const cnn_graph *graph);

/* Settings from the graph's train: section, as scalar text; NULL when the
 * key is absent. *line tells where it was set (may be NULL). */
const char *cnn_graph_setting(const cnn_graph *graph, const char *key,
                              int *line);
/* Key i of the train: section, for validating them; NULL past the end. */
const char *cnn_graph_setting_key(const cnn_graph *graph, size_t index);

#ifdef __cplusplus
}
#endif
#endif
