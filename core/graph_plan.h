/* SPDX-License-Identifier: MIT */
/* Between the two stages of loading a graph: graph_build.c resolves the
 * documents (the file and its backbones) into a plan of ordered, validated
 * layers; graph_create.c turns the plan into a cnn_graph. */
#ifndef CNN_CORE_GRAPH_PLAN_H
#define CNN_CORE_GRAPH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/plugin.h"
#include "context_internal.h"
#include "graph_doc.h"

/* A layer on its way into the graph; src and doc point into plan->docs. */
typedef struct cnn_graph_pending {
    const cnn_graph_doc *doc;
    const cnn_doc_layer *src;
    const cnn_plugin *plugin;
    const cnn_layer_descriptor *desc;
    cnn_hparam_value *hparams; /* owned; validated, descriptor order */
    int32_t *inputs;           /* owned; indices into the plan, or -1 */
    uint32_t n_inputs;
    int trainable;
    int from_backbone;
} cnn_graph_pending;

typedef struct cnn_graph_plan {
    cnn_graph_pending *layers; /* topological order */
    size_t n;
    const cnn_graph_doc *shape_doc;   /* gave input.shape */
    const cnn_graph_doc *norm_doc;    /* gave input.mean and input.std */
    const cnn_graph_doc *classes_doc; /* gave input.classes; may be NULL */
    const cnn_graph_doc *rename_doc;  /* gave rename:; may be NULL */
    cnn_graph_doc **docs;             /* owned: every file read, top first */
    size_t n_docs;
} cnn_graph_plan;

/* Takes doc (freed with the plan, or at once on failure) and resolves it,
 * loading its backbones. Messages start with path:line:column. */
cnn_status cnn_graph_plan_make(cnn_context *ctx, cnn_graph_doc *doc,
                               cnn_graph_plan *out);
void cnn_graph_plan_free(cnn_graph_plan *plan);

/* status with "origin:line:column: " before the formatted message. */
cnn_status cnn_graph_fail_at(cnn_context *ctx, const cnn_graph_doc *doc,
                             cnn_doc_mark m, cnn_status status,
                             const char *fmt, ...) CNN_PRINTF(5, 6);
/* malloc'd copies; NULL when memory is exhausted. */
char *cnn_graph_strdup(const char *s);
/* rel resolved against the folder of base (a path or an origin name): rel
 * itself when absolute or when base has no folder. */
char *cnn_graph_path_beside(const char *base, const char *rel);

/* graph_sugar.c: replaces every layer's `activation: TYPE` key (unless its
 * own plugin declares one) by a layer `<name>_act` of that type right after
 * it, and points later layers that name the layer at its activation. The
 * type must be an installed plugin taking one input. */
cnn_status cnn_graph_expand_activations(cnn_context *ctx, cnn_graph_doc *doc);
/* The failure for a layer type no plugin provides (the context holds
 * cnn_plugin_get's message): "did you mean" the closest installed type,
 * and the list of installed types. */
cnn_status cnn_graph_unknown_type(cnn_context *ctx, const cnn_graph_doc *doc,
                                  cnn_doc_mark mark, const char *layer,
                                  const char *type);

#endif
