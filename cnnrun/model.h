/* SPDX-License-Identifier: MIT */
/* A graph with its parameters, as most subcommands want it: loaded,
 * initialised from a seed, then backbone weights and a weights file applied,
 * each step logged so a user sees what was loaded from where. */
#ifndef CNNRUN_MODEL_H
#define CNNRUN_MODEL_H

#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/io.h"
#include "cnn/params.h"
#include "cnn/rename.h"

typedef struct model {
    cnn_graph *graph;
    cnn_params *params;
    /* The names of the model's classes: the graph's input classes when it
     * declares them, else those `cnnrun train` stored with the weights
     * (metadata "classes", a JSON array; "" for an unnamed output). NULL/0
     * when neither has any. class_source says where they came from. */
    char **class_names;
    size_t n_class_names;
    char class_source[512];
    /* 1 when the weights file was a training checkpoint. */
    int from_checkpoint;
    /* The rename rules every weights file loaded into the graph goes
     * through: --rename's, then the graph's rename: key's; NULL: none. */
    cnn_rename_map *rename;
} model;

/* Loads graph_path; initialises parameters from seed; loads the backbone's
 * weights when the graph names them; then, when weights_path is given,
 * loads it strictly (every parameter, no extra tensor). On failure the
 * context holds the message and m is empty. */
cnn_status model_open(cnn_context *ctx, const char *graph_path,
                      const char *weights_path, uint64_t seed, model *m);
/* model_open with rename rules (--rename) tried before the graph's own;
 * rename may be NULL. */
cnn_status model_open_renamed(cnn_context *ctx, const char *graph_path,
                              const char *weights_path, uint64_t seed,
                              const cnn_rename_map *rename, model *m);
/* Renames file's tensors by m->rename (nothing without rules). */
cnn_status model_rename(cnn_context *ctx, const model *m,
                        cnn_tensor_file *file);
void model_close(model *m);

struct class_names;
/* The model's class names as class_match wants them (borrowed from m). */
void model_class_view(const model *m, struct class_names *out);

/* cnn_safetensors_read, but a file that is not safetensors at all (no
 * JSON header after the length) is named as such. */
cnn_status model_read_weights(cnn_context *ctx, const char *path,
                              cnn_tensor_file **out);

/* Reads the "classes" metadata of a weights or checkpoint file into a
 * malloc'd array of malloc'd names (*count of them); NULL/0 when absent. */
char **model_read_class_names(const cnn_tensor_file *file, size_t *count);
void model_free_class_names(char **names, size_t count);

/* The metadata value for "classes": a JSON array of the names, malloc'd
 * (free with free()), or NULL when out of memory. */
char *model_classes_json(const char *const *names, size_t count);

#endif
