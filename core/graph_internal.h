/* SPDX-License-Identifier: MIT */
/* The loaded graph as the core sees it: graph_create.c fills it from the
 * plan graph_build.c makes, graph.c answers the public accessors, and the
 * executor may use the layers directly (cnn_graph_layer_instance gives the
 * non-const cnn_layer its hooks take). */
#ifndef CNN_CORE_GRAPH_INTERNAL_H
#define CNN_CORE_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/rename.h"

typedef struct cnn_graph_layer {
    char *name;                       /* owned */
    char *type;                       /* owned */
    const cnn_plugin *plugin;         /* owned by the context */
    const cnn_layer_descriptor *desc; /* the registry's copy */
    cnn_hparam_value *hparams;        /* owned; desc->n_hparams entries */
    int32_t *inputs;                  /* owned; indices or -1 */
    uint32_t n_inputs;
    cnn_shape *input_shapes; /* owned; batch 1 */
    cnn_shape output_shape;  /* batch 1 */
    cnn_layer instance;      /* handed to every hook */
    int created;             /* create ran: destroy must run */
    cnn_param_spec *params;  /* owned */
    uint32_t n_params;
    uint64_t param_count;
    uint64_t flops;
    int trainable;
    int from_backbone;
    const char *file; /* the graph file it came from; owned by the graph */
    int line;
    int column;
} cnn_graph_layer;

typedef struct cnn_graph_setting_entry {
    char *key;
    char *value;
    int line;
} cnn_graph_setting_entry;

struct cnn_graph {
    char *name;
    char *path;
    cnn_shape input_shape; /* {1, C, H, W} */
    float *mean;           /* C entries or NULL */
    float *std;
    char **classes;
    size_t n_classes;
    cnn_graph_layer *layers; /* topological order */
    size_t n_layers;
    char *backbone_path;    /* resolved; NULL without a backbone */
    char *backbone_weights; /* resolved; NULL when not given */
    cnn_rename_map *rename; /* rename: rules (this file's or a backbone's) */
    cnn_graph_setting_entry *settings;
    size_t n_settings;
    char **files; /* every graph file read, for cnn_graph_layer.file */
    size_t n_files;
};

/* For the executor: the layer record, its instance (non-const, for the
 * hooks' state) and its descriptor. index < cnn_graph_layer_count. */
cnn_graph_layer *cnn_graph_layer_at(cnn_graph *graph, size_t index);
cnn_layer *cnn_graph_layer_instance(cnn_graph *graph, size_t index);
const cnn_layer_descriptor *cnn_graph_layer_descriptor(const cnn_graph *graph,
                                                       size_t index);

/* Runs infer_shape along the graph for batch n, writing every layer's output
 * shape into shapes (n_layers entries). Errors name the layer. */
cnn_status cnn_graph_infer_shapes(cnn_context *ctx, const cnn_graph *graph,
                                  int64_t n, cnn_shape *shapes);

#endif
