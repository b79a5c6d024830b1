/* SPDX-License-Identifier: MIT */
/* A graph with its parameters, as most subcommands want it: loaded,
 * initialised from a seed, then backbone weights and a weights file applied,
 * each step logged so a user sees what was loaded from where. */
#ifndef CNNRUN_MODEL_H
#define CNNRUN_MODEL_H

#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/params.h"

typedef struct model {
    cnn_graph *graph;
    cnn_params *params;
    /* Class names stored with the weights by `cnnrun train` (metadata
     * "classes", a JSON array), so predictions can be named even when the
     * graph declares none. NULL/0 when the file has none. */
    char **class_names;
    size_t n_class_names;
} model;

/* Loads graph_path; initialises parameters from seed; loads the backbone's
 * weights when the graph names them; then, when weights_path is given,
 * loads it strictly (every parameter, no extra tensor). On failure the
 * context holds the message and m is empty. */
cnn_status model_open(cnn_context *ctx, const char *graph_path,
                      const char *weights_path, uint64_t seed, model *m);
void model_close(model *m);

/* The metadata value for "classes": a JSON array of the names, malloc'd
 * (free with free()), or NULL when out of memory. */
char *model_classes_json(const char *const *names, size_t count);

#endif
