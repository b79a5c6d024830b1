/* SPDX-License-Identifier: MIT */
/* The parameter store's layout, shared by params.c and params_io.c. */
#ifndef CNN_CORE_PARAMS_INTERNAL_H
#define CNN_CORE_PARAMS_INTERNAL_H

#include <stddef.h>

#include "cnn/params.h"

/* "<layer>.<param>": layer names have at most 127 characters (graph_doc.h). */
#define CNN_PARAM_NAME_MAX 200

typedef struct cnn_param_entry {
    char name[CNN_PARAM_NAME_MAX]; /* "<layer>.<param>" */
    cnn_param_spec spec;
    size_t layer;
    size_t offset; /* into data and grad, in floats */
} cnn_param_entry;

struct cnn_params {
    const cnn_graph *graph;
    cnn_param_entry *entries;
    /* Views, kept in arrays of their own because the executor hands a
     * layer's run of them to its hooks as a cnn_tensor array. */
    cnn_tensor *values;
    cnn_tensor *grads;
    size_t count;
    float *data;
    float *grad;
    size_t numel;
    size_t n_layers;
    size_t *layer_first; /* per layer: index of its first entry */
    size_t *layer_count; /* per layer: how many entries */
};

#endif
