/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/io.h"
#include "class_match.h"
#include "model.h"

/* Appends name to a comma-separated list, with "..." once it is long. */
static void list_add(char *list, size_t size, size_t *count, const char *name)
{
    size_t used = strlen(list);
    (*count)++;
    if (used + strlen(name) + 8 >= size) {
        if (used + 5 < size && strcmp(list + used - 3, "...") != 0)
            strcat(list, ", ...");
        return;
    }
    if (used)
        strcat(list, ", ");
    strcat(list, name);
}

cnn_status model_read_weights(cnn_context *ctx, const char *path,
                              cnn_tensor_file **out)
{
    cnn_status st = cnn_safetensors_read(ctx, path, out);
    unsigned char head[9];
    FILE *f;
    size_t got;
    if (st != CNN_ERR_FORMAT || !(f = fopen(path, "rb")))
        return st;
    got = fread(head, 1, sizeof head, f);
    fclose(f);
    /* A safetensors file starts with an 8-byte length and then its JSON
     * header's '{'; anything else is another format, whatever the length
     * its first bytes would give. */
    if (got < sizeof head || head[8] != '{') {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_context_message(ctx));
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s is not a safetensors file (cnnrun's weights and "
                                "checkpoints are; the reader says: %s)",
                                path, why);
    }
    return st;
}

/* Names a path written relative to a graph file the way a user can find
 * it: as resolved, and as an absolute path when its folder exists. */
static void describe_path(const char *path, char *out, size_t size)
{
    char dir[4096], real[4096];
    const char *slash = strrchr(path, '/');
    if (path[0] == '/' || !slash || (size_t)(slash - path) >= sizeof dir) {
        snprintf(out, size, "%s", path);
        return;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (realpath(dir, real))
        snprintf(out, size, "%s (that is, %s%s)", path, real, slash);
    else
        snprintf(out, size, "%s", path);
}

cnn_status model_rename(cnn_context *ctx, const model *m,
                        cnn_tensor_file *file)
{
    return m->rename ? cnn_tensor_file_rename(ctx, file, m->rename, NULL)
                     : CNN_OK;
}

/* The --rename rules, then the graph's. */
static cnn_status combine_renames(cnn_context *ctx, model *m,
                                  const cnn_rename_map *extra)
{
    const cnn_rename_map *own = cnn_graph_rename_map(m->graph);
    cnn_status st;
    if (!cnn_rename_map_count(extra) && !cnn_rename_map_count(own))
        return CNN_OK;
    st = cnn_rename_map_create(ctx, &m->rename);
    if (st == CNN_OK)
        st = cnn_rename_map_append(ctx, m->rename, extra);
    if (st == CNN_OK)
        st = cnn_rename_map_append(ctx, m->rename, own);
    return st;
}

/* Loads the backbone's weights by name and says what happened to every
 * tensor: taken, dropped with the old head, or left newly initialised. */
static cnn_status load_backbone(cnn_context *ctx, model *m, const char *path)
{
    cnn_tensor_file *file = NULL;
    char loaded[400] = "", dropped[400] = "", fresh[400] = "";
    size_t n_loaded = 0, n_dropped = 0, n_fresh = 0;
    cnn_status st = model_read_weights(ctx, path, &file);
    if (st == CNN_OK)
        st = model_rename(ctx, m, file);
    if (st != CNN_OK) {
        char why[1024], where[4400];
        snprintf(why, sizeof why, "%s", cnn_context_message(ctx));
        describe_path(path, where, sizeof where);
        return cnn_context_fail(ctx, st, "%s: backbone weights %s: %s",
                                cnn_graph_path(m->graph), where, why);
    }
    st = cnn_params_load_file(ctx, m->params, file,
                              CNN_PARAMS_ALLOW_MISSING | CNN_PARAMS_ALLOW_EXTRA,
                              NULL);
    if (st == CNN_OK) {
        for (size_t i = 0; i < cnn_tensor_file_count(file); i++) {
            const char *name = cnn_tensor_file_at(file, i)->name;
            if (cnn_params_find(m->params, name) >= 0)
                list_add(loaded, sizeof loaded, &n_loaded, name);
            else
                list_add(dropped, sizeof dropped, &n_dropped, name);
        }
        for (size_t i = 0; i < cnn_params_count(m->params); i++) {
            const char *name = cnn_params_name(m->params, i);
            if (!cnn_tensor_file_find(file, name))
                list_add(fresh, sizeof fresh, &n_fresh, name);
        }
        cnn_context_log(ctx, CNN_LOG_INFO, "backbone weights %s: loaded %zu tensors (%s)",
                        path, n_loaded, loaded);
        if (n_dropped)
            cnn_context_log(ctx, CNN_LOG_INFO, "dropped %zu not in this graph (%s)",
                            n_dropped, dropped);
        if (n_fresh)
            cnn_context_log(ctx, CNN_LOG_INFO, "newly initialised %zu (%s)", n_fresh, fresh);
    }
    cnn_tensor_file_destroy(file);
    return st;
}

char **model_read_class_names(const cnn_tensor_file *file, size_t *count)
{
    const char *text = cnn_tensor_file_metadata(file, "classes");
    json_t *array;
    char **names;
    size_t n;
    *count = 0;
    if (!text || !(array = json_loads(text, 0, NULL)))
        return NULL;
    n = json_is_array(array) ? json_array_size(array) : 0;
    names = n ? calloc(n, sizeof *names) : NULL;
    for (size_t i = 0; names && i < n; i++) {
        const char *name = json_string_value(json_array_get(array, i));
        names[i] = strdup(name ? name : "");
        if (!names[i])
            break;
        *count = i + 1;
    }
    json_decref(array);
    return names;
}

void model_free_class_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* The graph's declared classes win over the weights' stored ones. */
static void take_class_names(model *m, const cnn_tensor_file *file,
                             const char *weights_path)
{
    size_t declared = cnn_graph_class_count(m->graph);
    if (declared) {
        m->class_names = calloc(declared, sizeof *m->class_names);
        for (size_t i = 0; m->class_names && i < declared; i++) {
            m->class_names[i] = strdup(cnn_graph_class_name(m->graph, i));
            if (!m->class_names[i])
                break;
            m->n_class_names = i + 1;
        }
        snprintf(m->class_source, sizeof m->class_source, "graph %s",
                 cnn_graph_path(m->graph));
        return;
    }
    if (!file)
        return;
    m->class_names = model_read_class_names(file, &m->n_class_names);
    if (m->n_class_names)
        snprintf(m->class_source, sizeof m->class_source, "weights %s",
                 weights_path);
}

/* A checkpoint is weights plus optimiser state ("optim.*") and position
 * metadata: accepted wherever weights are, its optimiser state left out. */
static int is_checkpoint(const cnn_tensor_file *file)
{
    const char *format = cnn_tensor_file_metadata(file, "format");
    return format && strncmp(format, "cnnrun-checkpoint-", 18) == 0;
}

/* Exact loading, but a checkpoint's optimiser tensors are not parameters. */
static cnn_status load_weights(cnn_context *ctx, model *m,
                               const cnn_tensor_file *file, const char *path)
{
    size_t extra = 0;
    cnn_status st;
    if (!is_checkpoint(file)) {
        /* After renaming, a name left over is a rule missing: say so. */
        for (size_t i = 0; m->rename && i < cnn_tensor_file_count(file); i++) {
            const char *name = cnn_tensor_file_at(file, i)->name;
            if (cnn_params_find(m->params, name) < 0)
                return cnn_context_fail(
                    ctx, CNN_ERR_FORMAT,
                    "%s: tensor '%s' is not a parameter of graph '%s' after "
                    "renaming (no rename rule gives it a layer's name: add "
                    "one, or '%s: ~' to drop it)",
                    path, name, cnn_graph_name(m->graph), name);
        }
        return cnn_params_load_file(ctx, m->params, file, CNN_PARAMS_EXACT, NULL);
    }
    for (size_t i = 0; i < cnn_tensor_file_count(file); i++) {
        const char *name = cnn_tensor_file_at(file, i)->name;
        if (cnn_params_find(m->params, name) >= 0)
            continue;
        if (strncmp(name, "optim.", 6) != 0)
            return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                    "%s: unexpected tensor '%s' (not a parameter of "
                                    "graph '%s')", path, name,
                                    cnn_graph_name(m->graph));
        extra++;
    }
    st = cnn_params_load_file(ctx, m->params, file, CNN_PARAMS_ALLOW_EXTRA, NULL);
    if (st == CNN_OK) {
        m->from_checkpoint = 1;
        cnn_context_log(ctx, CNN_LOG_INFO,
                        "%s is a training checkpoint: its weights are used, "
                        "its optimiser state (%zu tensors) is ignored",
                        path, extra);
    }
    return st;
}

char *model_classes_json(const char *const *names, size_t count)
{
    json_t *array = json_array();
    char *text;
    for (size_t i = 0; array && i < count; i++)
        json_array_append_new(array, json_string(names[i] ? names[i] : ""));
    text = array ? json_dumps(array, JSON_COMPACT) : NULL;
    json_decref(array);
    return text;
}

cnn_status model_open(cnn_context *ctx, const char *graph_path,
                      const char *weights_path, uint64_t seed, model *m)
{
    return model_open_renamed(ctx, graph_path, weights_path, seed, NULL, m);
}

cnn_status model_open_renamed(cnn_context *ctx, const char *graph_path,
                              const char *weights_path, uint64_t seed,
                              const cnn_rename_map *rename, model *m)
{
    cnn_status st;
    const char *backbone;
    memset(m, 0, sizeof *m);
    st = cnn_graph_load(ctx, graph_path, &m->graph);
    if (st == CNN_OK)
        st = combine_renames(ctx, m, rename);
    if (st == CNN_OK)
        st = cnn_params_create(ctx, m->graph, &m->params);
    if (st != CNN_OK)
        goto fail;
    cnn_params_init(m->params, seed);
    backbone = cnn_graph_backbone_weights(m->graph);
    /* A full weights file replaces everything, so the backbone's is not
     * read first. */
    if (backbone && !weights_path) {
        st = load_backbone(ctx, m, backbone);
        if (st != CNN_OK)
            goto fail;
    }
    if (weights_path) {
        cnn_tensor_file *file = NULL;
        st = model_read_weights(ctx, weights_path, &file);
        if (st == CNN_OK)
            st = model_rename(ctx, m, file);
        if (st == CNN_OK)
            st = load_weights(ctx, m, file, weights_path);
        if (st == CNN_OK)
            take_class_names(m, file, weights_path);
        cnn_tensor_file_destroy(file);
        if (st != CNN_OK)
            goto fail;
    } else {
        take_class_names(m, NULL, NULL);
    }
    return CNN_OK;
fail:
    model_close(m);
    return st;
}

void model_close(model *m)
{
    model_free_class_names(m->class_names, m->n_class_names);
    cnn_rename_map_destroy(m->rename);
    cnn_params_destroy(m->params);
    cnn_graph_destroy(m->graph);
    memset(m, 0, sizeof *m);
}

void model_class_view(const model *m, class_names *out)
{
    out->names = (const char *const *)m->class_names;
    out->count = m->n_class_names;
    out->source = m->class_source;
}
