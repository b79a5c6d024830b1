/* SPDX-License-Identifier: MIT */
/* A graph file as parsed, before any plugin is consulted.
 *
 * graph_yaml.c (libyaml, syntax errors, aliases) and graph_doc.c (the
 * format's sections) turn YAML text into this struct and check everything
 * that needs no plugin: node kinds, duplicate keys, the top-level, input,
 * backbone and train keys, layer names, input shapes and normalization.
 * Layer hyperparameters stay text (with their marks) because only the
 * plugin's descriptor says what they mean; graph_build.c validates them.
 * Every item keeps the line:column where it starts (1-based) so errors can
 * point at it. The document owns all its strings. */
#ifndef CNN_CORE_GRAPH_DOC_H
#define CNN_CORE_GRAPH_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/rename.h"

/* Longest layer or graph name, without the NUL. */
#define CNN_GRAPH_NAME_MAX 127
/* Most layers in one graph, its backbone's included. The loader's checks
 * are quadratic in it, and real networks have hundreds to a few thousand. */
#define CNN_GRAPH_LAYERS_MAX 10000
/* Most values one hyperparameter may carry ("[h, w]" has two). */
#define CNN_DOC_MAX_ITEMS 4

typedef struct cnn_doc_mark {
    int line;   /* 1-based */
    int column; /* 1-based */
} cnn_doc_mark;

typedef struct cnn_doc_text {
    char *text; /* NULL when absent */
    cnn_doc_mark mark;
} cnn_doc_text;

typedef struct cnn_doc_hparam {
    cnn_doc_text key;
    char *items[CNN_DOC_MAX_ITEMS]; /* scalar texts */
    size_t n_items;                 /* 1 for a scalar, 2 for "[h, w]" */
    int is_sequence;    /* written as a sequence, even of one item */
    cnn_doc_mark value; /* where the value starts */
} cnn_doc_hparam;

typedef struct cnn_doc_layer {
    cnn_doc_mark mark; /* the layer's mapping */
    cnn_doc_text name;
    cnn_doc_text type;
    int has_inputs; /* 0: the previous layer (or the graph input) */
    cnn_doc_mark inputs_mark;
    cnn_doc_text *inputs; /* layer names; "input" is the graph input */
    size_t n_inputs;
    int trainable; /* -1 when not given, else 0 or 1 */
    cnn_doc_mark trainable_mark;
    cnn_doc_hparam *hparams; /* the other keys, in file order */
    size_t n_hparams;
} cnn_doc_layer;

typedef enum cnn_doc_freeze {
    CNN_DOC_FREEZE_NONE = 0, /* also the default */
    CNN_DOC_FREEZE_ALL = 1,
    CNN_DOC_FREEZE_LIST = 2,
    CNN_DOC_FREEZE_ALL_BUT_LAST = 3
} cnn_doc_freeze;

typedef struct cnn_doc_backbone {
    int present;
    cnn_doc_mark mark;
    cnn_doc_text graph;     /* as written, relative to this file's folder */
    cnn_doc_text weights;   /* text NULL when absent */
    cnn_doc_text cut_after; /* text NULL: keep the whole backbone */
    cnn_doc_freeze freeze;
    cnn_doc_mark freeze_mark;
    cnn_doc_text *freeze_names; /* CNN_DOC_FREEZE_LIST */
    size_t n_freeze_names;
    int64_t all_but_last; /* CNN_DOC_FREEZE_ALL_BUT_LAST */
} cnn_doc_backbone;

/* One rename rule as written: FROM, and TO (text NULL: drop). */
typedef struct cnn_doc_rename_rule {
    cnn_doc_text from;
    cnn_doc_text to;
} cnn_doc_rename_rule;

/* The rename: key: a file of rules (relative to this file's folder) or
 * the rules themselves, in order. */
typedef struct cnn_doc_rename {
    int present;
    cnn_doc_mark mark;
    cnn_doc_text file; /* text NULL when the rules are inline */
    cnn_doc_rename_rule *rules;
    size_t n_rules;
} cnn_doc_rename;

typedef struct cnn_doc_setting {
    cnn_doc_text key;
    cnn_doc_text value;
} cnn_doc_setting;

typedef struct cnn_graph_doc {
    char *origin; /* the path or name messages start with */
    cnn_doc_text name;

    int has_input;
    cnn_doc_mark input_mark;
    int has_shape;
    int64_t shape[3]; /* C, H, W */
    cnn_doc_mark shape_mark;
    float *mean; /* NULL when not given; n_norm entries, as is std */
    float *std;
    size_t n_norm;
    cnn_doc_mark mean_mark;
    cnn_doc_mark std_mark;
    int has_classes;
    cnn_doc_text *classes;
    size_t n_classes;
    cnn_doc_mark classes_mark;

    cnn_doc_mark layers_mark;
    cnn_doc_layer *layers;
    size_t n_layers;

    cnn_doc_backbone backbone;

    cnn_doc_rename rename;

    cnn_doc_setting *settings; /* the train: section in file order */
    size_t n_settings;
} cnn_graph_doc;

/* Parses one YAML document. On failure the message on ctx starts with
 * "origin:line:column: ". */
cnn_status cnn_graph_doc_parse(cnn_context *ctx, const char *text,
                               size_t length, const char *origin,
                               cnn_graph_doc **out);
/* Reads path (size-capped) and parses it; origin is path. */
cnn_status cnn_graph_doc_load(cnn_context *ctx, const char *path,
                              cnn_graph_doc **out);
void cnn_graph_doc_free(cnn_graph_doc *doc);
/* Frees the rules and file text of a rename: key (the struct stays). */
void cnn_doc_rename_free(cnn_doc_rename *rename);
/* rename_yaml.c: appends doc's rename: rules to map, reading the rename
 * file it names (beside doc's file) when it names one. */
cnn_status cnn_doc_rename_build(cnn_context *ctx, const cnn_graph_doc *doc,
                                cnn_rename_map *map);

/* 1 when name matches [A-Za-z_][A-Za-z0-9_.-]* and is not too long. */
int cnn_graph_layer_name_valid(const char *name);

/* The reserved name by which a layer's inputs refer to the graph input. */
#define CNN_GRAPH_INPUT_NAME "input"

#endif
