/* SPDX-License-Identifier: MIT */
/* The loaded graph: accessors, shape queries for other batch sizes, and
 * destruction. Loading it is graph_build.c's and graph_create.c's job. */
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "graph_internal.h"
#include "hook_site_internal.h"

void cnn_graph_destroy(cnn_graph *graph)
{
    if (!graph)
        return;
    /* Destroy in reverse so a layer never outlives what it was made after. */
    for (size_t i = graph->n_layers; graph->layers && i-- > 0;) {
        cnn_graph_layer *l = &graph->layers[i];
        if (l->created && l->desc && l->desc->destroy) {
            cnn_hook_site site = {l->name, l->type, cnn_plugin_path(l->plugin),
                                  "destroy"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            l->desc->destroy(&l->instance);
            cnn_hook_site_leave(prev);
        }
        free(l->name);
        free(l->type);
        free(l->hparams);
        free(l->inputs);
        free(l->input_shapes);
        free(l->params);
    }
    free(graph->layers);
    for (size_t i = 0; graph->classes && i < graph->n_classes; i++)
        free(graph->classes[i]);
    free(graph->classes);
    for (size_t i = 0; graph->settings && i < graph->n_settings; i++) {
        free(graph->settings[i].key);
        free(graph->settings[i].value);
    }
    free(graph->settings);
    for (size_t i = 0; graph->files && i < graph->n_files; i++)
        free(graph->files[i]);
    free(graph->files);
    free(graph->mean);
    free(graph->std);
    free(graph->backbone_path);
    free(graph->backbone_weights);
    cnn_rename_map_destroy(graph->rename);
    free(graph->name);
    free(graph->path);
    free(graph);
}

const char *cnn_graph_name(const cnn_graph *graph)
{
    return graph->name;
}

const char *cnn_graph_path(const cnn_graph *graph)
{
    return graph->path;
}

cnn_shape cnn_graph_input_shape(const cnn_graph *graph)
{
    return graph->input_shape;
}

const float *cnn_graph_input_mean(const cnn_graph *graph)
{
    return graph->mean;
}

const float *cnn_graph_input_std(const cnn_graph *graph)
{
    return graph->std;
}

size_t cnn_graph_class_count(const cnn_graph *graph)
{
    return graph->n_classes;
}

const char *cnn_graph_class_name(const cnn_graph *graph, size_t index)
{
    return index < graph->n_classes ? graph->classes[index] : NULL;
}

size_t cnn_graph_layer_count(const cnn_graph *graph)
{
    return graph->n_layers;
}

void cnn_graph_layer_info(const cnn_graph *graph, size_t index,
                          cnn_layer_info *info)
{
    const cnn_graph_layer *l;
    memset(info, 0, sizeof *info);
    if (index >= graph->n_layers)
        return;
    l = &graph->layers[index];
    info->name = l->name;
    info->type = l->type;
    info->plugin = l->plugin;
    info->descriptor = l->desc;
    info->layer = &l->instance;
    info->inputs = l->inputs;
    info->n_inputs = l->n_inputs;
    info->output_shape = l->output_shape;
    info->params = l->params;
    info->n_params = l->n_params;
    info->param_count = l->param_count;
    info->flops = l->flops;
    info->trainable = l->trainable;
    info->from_backbone = l->from_backbone;
    info->line = l->line;
}

int32_t cnn_graph_find_layer(const cnn_graph *graph, const char *name)
{
    for (size_t i = 0; name && i < graph->n_layers; i++)
        if (!strcmp(graph->layers[i].name, name))
            return (int32_t)i;
    return -1;
}

size_t cnn_graph_output_layer(const cnn_graph *graph)
{
    return graph->n_layers ? graph->n_layers - 1 : 0;
}

cnn_status cnn_graph_set_trainable(cnn_context *ctx, cnn_graph *graph,
                                   const char *layer_name, int trainable)
{
    int32_t i = cnn_graph_find_layer(graph, layer_name);
    if (i < 0)
        return cnn_fail(ctx, CNN_ERR_NOT_FOUND, "%s: no layer named '%s'",
                        graph->path, layer_name ? layer_name : "(null)");
    graph->layers[i].trainable = trainable != 0;
    return CNN_OK;
}

uint64_t cnn_graph_param_count(const cnn_graph *graph)
{
    uint64_t total = 0;
    for (size_t i = 0; i < graph->n_layers; i++)
        total += graph->layers[i].param_count;
    return total;
}

/* Running statistics (CNN_PARAM_STATE) count as non-trainable. */
uint64_t cnn_graph_trainable_param_count(const cnn_graph *graph)
{
    uint64_t total = 0;
    for (size_t i = 0; i < graph->n_layers; i++) {
        const cnn_graph_layer *l = &graph->layers[i];
        if (!l->trainable)
            continue;
        for (uint32_t p = 0; p < l->n_params; p++)
            if (!(l->params[p].flags & CNN_PARAM_STATE))
                total += cnn_shape_numel(&l->params[p].shape);
    }
    return total;
}

/* A plugin's answer is checked like any other input: the host allocates
 * buffers from it. */
static int shape_ok(const cnn_shape *s, int64_t n)
{
    int ok;
    if (s->rank < 1 || s->rank > CNN_MAX_RANK || s->dims[0] != n)
        return 0;
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 1)
            return 0;
    cnn_shape_numel_checked(s, &ok);
    return ok;
}

cnn_status cnn_graph_infer_shapes(cnn_context *ctx, const cnn_graph *graph,
                                  int64_t n, cnn_shape *shapes)
{
    uint32_t most = 1;
    cnn_shape *in;
    cnn_shape input = graph->input_shape;
    input.dims[0] = n;
    for (size_t i = 0; i < graph->n_layers; i++)
        if (graph->layers[i].n_inputs > most)
            most = graph->layers[i].n_inputs;
    in = calloc(most, sizeof *in);
    if (!in)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < graph->n_layers; i++) {
        const cnn_graph_layer *l = &graph->layers[i];
        char msg[CNN_MESSAGE_MAX] = "";
        cnn_errbuf err = {msg, sizeof msg};
        cnn_status st;
        for (uint32_t j = 0; j < l->n_inputs; j++)
            in[j] = l->inputs[j] < 0 ? input : shapes[l->inputs[j]];
        memset(&shapes[i], 0, sizeof shapes[i]);
        {
            cnn_hook_site site = {l->name, l->type, cnn_plugin_path(l->plugin),
                                  "infer_shape"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            st = l->desc->infer_shape(l->hparams, in, l->n_inputs, &shapes[i],
                                      &err);
            cnn_hook_site_leave(prev);
        }
        if (st == CNN_OK && !shape_ok(&shapes[i], n))
            st = cnn_layer_fail(&err, CNN_ERR_PLUGIN,
                                "plugin %s returned an invalid output shape "
                                "(rank %d) for batch %lld",
                                l->type, (int)shapes[i].rank, (long long)n);
        if (st != CNN_OK) {
            free(in);
            msg[sizeof msg - 1] = '\0';
            return cnn_fail(ctx, st, "%s:%d:%d: layer '%s': %s", l->file,
                            l->line, l->column, l->name,
                            msg[0] ? msg : "infer_shape failed");
        }
    }
    free(in);
    return CNN_OK;
}

cnn_status cnn_graph_output_shape(cnn_context *ctx, const cnn_graph *graph,
                                  size_t layer, int64_t n, cnn_shape *out)
{
    cnn_shape *shapes;
    cnn_status st;
    if (layer >= graph->n_layers)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: layer index %zu out of range (%zu layers)",
                        graph->path, layer, graph->n_layers);
    if (n < 1)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: batch size must be at least 1, got %lld",
                        graph->path, (long long)n);
    shapes = calloc(graph->n_layers, sizeof *shapes);
    if (!shapes)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    st = cnn_graph_infer_shapes(ctx, graph, n, shapes);
    if (st == CNN_OK)
        *out = shapes[layer];
    free(shapes);
    return st;
}

const char *cnn_graph_backbone_weights(const cnn_graph *graph)
{
    return graph->backbone_weights;
}

const cnn_rename_map *cnn_graph_rename_map(const cnn_graph *graph)
{
    return graph ? graph->rename : NULL;
}

const char *cnn_graph_backbone_path(const cnn_graph *graph)
{
    return graph->backbone_path;
}

const char *cnn_graph_setting(const cnn_graph *graph, const char *key,
                              int *line)
{
    for (size_t i = 0; key && i < graph->n_settings; i++) {
        if (!strcmp(graph->settings[i].key, key)) {
            if (line)
                *line = graph->settings[i].line;
            return graph->settings[i].value;
        }
    }
    if (line)
        *line = 0;
    return NULL;
}

const char *cnn_graph_setting_key(const cnn_graph *graph, size_t index)
{
    return index < graph->n_settings ? graph->settings[index].key : NULL;
}

cnn_graph_layer *cnn_graph_layer_at(cnn_graph *graph, size_t index)
{
    return index < graph->n_layers ? &graph->layers[index] : NULL;
}

cnn_layer *cnn_graph_layer_instance(cnn_graph *graph, size_t index)
{
    return index < graph->n_layers ? &graph->layers[index].instance : NULL;
}

const cnn_layer_descriptor *cnn_graph_layer_descriptor(const cnn_graph *graph,
                                                       size_t index)
{
    return index < graph->n_layers ? graph->layers[index].desc : NULL;
}
