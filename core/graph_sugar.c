/* SPDX-License-Identifier: MIT */
/* The conveniences a Keras user expects from a graph file, kept out of the
 * loader proper: `activation: relu` on a layer, expanded into a separate
 * layer `<layer>_act` of that type (the core still knows no layer by name:
 * any installed plugin that takes one input will do), and "did you mean"
 * for a layer type no plugin provides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_plan.h"

#define ACTIVATION_KEY "activation"
#define ACTIVATION_SUFFIX "_act"

/* The layer's `activation` key, unless its own plugin declares one (then
 * the key is the plugin's and is left alone); -1 when none. */
static int activation_key(cnn_context *ctx, const cnn_doc_layer *l)
{
    const cnn_plugin *plugin;
    for (size_t k = 0; k < l->n_hparams; k++) {
        if (strcmp(l->hparams[k].key.text, ACTIVATION_KEY) != 0)
            continue;
        if (cnn_plugin_get(ctx, l->type.text, &plugin) == CNN_OK &&
            cnn_descriptor_hparam_index(cnn_plugin_descriptor(plugin), ACTIVATION_KEY) >= 0)
            return -1;
        /* An unknown type is reported when the layer itself is resolved. */
        cnn_context_clear_error(ctx);
        return (int)k;
    }
    return -1;
}

/* Checks the activation names a plugin with exactly one input. */
static cnn_status check_activation(cnn_context *ctx, const cnn_graph_doc *doc,
                                   const cnn_doc_layer *l, const cnn_doc_hparam *hp)
{
    const cnn_plugin *plugin;
    const cnn_layer_descriptor *desc;
    if (hp->is_sequence || hp->n_items != 1)
        return cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                 "layer '%s': activation takes one layer type, such as relu",
                                 l->name.text);
    if (cnn_plugin_get(ctx, hp->items[0], &plugin) != CNN_OK)
        return cnn_graph_unknown_type(ctx, doc, hp->value, l->name.text, hp->items[0]);
    desc = cnn_plugin_descriptor(plugin);
    if (desc->min_inputs > 1 || desc->max_inputs < 1)
        return cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                 "layer '%s': activation '%s' takes %u to %u inputs; an "
                                 "activation must take one",
                                 l->name.text, hp->items[0], desc->min_inputs,
                                 desc->max_inputs);
    for (uint32_t j = 0; j < desc->n_hparams; j++)
        if (desc->hparams[j].required)
            return cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                     "layer '%s': activation '%s' needs its key '%s'; write "
                                     "it as a layer of its own",
                                     l->name.text, hp->items[0], desc->hparams[j].name);
    if (strlen(l->name.text) + strlen(ACTIVATION_SUFFIX) > CNN_GRAPH_NAME_MAX)
        return cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                 "layer '%s': the name is too long to add '%s' for its "
                                 "activation", l->name.text, ACTIVATION_SUFFIX);
    return CNN_OK;
}

/* layer -> (layer without the key) + {name: layer_act, type: value,
 * inputs: [layer]}. dst has room for both. */
static cnn_status split_layer(cnn_context *ctx, cnn_doc_layer *src, int key,
                              cnn_doc_layer *dst)
{
    cnn_doc_hparam hp = src->hparams[key];
    cnn_doc_layer *act = dst + 1;
    size_t len = strlen(src->name.text);
    dst[0] = *src;
    memmove(dst[0].hparams + key, dst[0].hparams + key + 1,
            (dst[0].n_hparams - (size_t)key - 1) * sizeof hp);
    dst[0].n_hparams--;
    memset(act, 0, sizeof *act);
    act->mark = hp.key.mark;
    act->name.mark = hp.key.mark;
    act->type.mark = hp.value;
    act->type.text = hp.items[0];
    act->trainable = -1;
    act->has_inputs = 1;
    act->inputs_mark = hp.key.mark;
    act->inputs = calloc(1, sizeof *act->inputs);
    act->name.text = malloc(len + sizeof ACTIVATION_SUFFIX);
    if (act->inputs)
        act->inputs[0].text = cnn_graph_strdup(src->name.text);
    if (!act->inputs || !act->name.text || !act->inputs[0].text) {
        if (act->inputs)
            free(act->inputs[0].text);
        free(act->inputs);
        free(act->name.text);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    act->n_inputs = 1;
    act->inputs[0].mark = hp.key.mark;
    memcpy(act->name.text, src->name.text, len);
    memcpy(act->name.text + len, ACTIVATION_SUFFIX, sizeof ACTIVATION_SUFFIX);
    free(hp.key.text); /* the type text moved to act; the key is gone */
    for (size_t k = 1; k < CNN_DOC_MAX_ITEMS; k++)
        free(hp.items[k]);
    return CNN_OK;
}

cnn_status cnn_graph_expand_activations(cnn_context *ctx, cnn_graph_doc *doc)
{
    size_t extra = 0, n = doc->n_layers, at = 0;
    int *keys = calloc(n + 1, sizeof *keys);
    unsigned char *added;
    cnn_doc_layer *layers;
    cnn_status st = CNN_OK;
    if (!keys)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        keys[i] = activation_key(ctx, &doc->layers[i]);
        if (keys[i] >= 0) {
            st = check_activation(ctx, doc, &doc->layers[i],
                                  &doc->layers[i].hparams[keys[i]]);
            if (st != CNN_OK) {
                free(keys);
                return st;
            }
            extra++;
        }
    }
    if (!extra || n + extra > CNN_GRAPH_LAYERS_MAX) {
        free(keys);
        return CNN_OK; /* too many layers is reported by the loader */
    }
    layers = calloc(n + extra, sizeof *layers);
    added = calloc(n + extra, 1);
    if (!layers || !added) {
        free(layers);
        free(added);
        free(keys);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i] < 0 || st != CNN_OK) {
            layers[at++] = doc->layers[i];
            continue;
        }
        st = split_layer(ctx, &doc->layers[i], keys[i], layers + at);
        if (st == CNN_OK) {
            added[at + 1] = 1;
            at += 2;
        } else {
            /* Keep the layer whole so the document frees it. */
            layers[at++] = doc->layers[i];
        }
    }
    /* A later layer that names an activated layer means its activated
     * output, as in Keras (where the activation is part of the layer). */
    for (size_t i = 0; st == CNN_OK && i < at; i++) {
        cnn_doc_layer *l = &layers[i];
        if (added[i])
            continue; /* the activation itself */
        for (size_t k = 0; k < l->n_inputs; k++)
            for (size_t j = 0; j < n; j++) {
                char *renamed;
                size_t len;
                if (keys[j] < 0 || strcmp(l->inputs[k].text, doc->layers[j].name.text) != 0)
                    continue;
                len = strlen(l->inputs[k].text);
                renamed = malloc(len + sizeof ACTIVATION_SUFFIX);
                if (!renamed) {
                    st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
                    break;
                }
                memcpy(renamed, l->inputs[k].text, len);
                memcpy(renamed + len, ACTIVATION_SUFFIX, sizeof ACTIVATION_SUFFIX);
                free(l->inputs[k].text);
                l->inputs[k].text = renamed;
                break;
            }
    }
    free(doc->layers);
    doc->layers = layers;
    doc->n_layers = at;
    free(added);
    free(keys);
    return st;
}

/* Edit distance between two short names (types are at most 64 bytes),
 * with a swap of two neighbouring letters counted as one edit (optimal
 * string alignment): "rleu" is one edit from "relu", as from "elu". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[66][66];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

typedef struct type_list {
    const char *wanted;
    char all[1024];
    size_t used;
    char best[72];
    size_t best_distance;
} type_list;

static void collect_type(void *user, const char *type, const char *path,
                         const cnn_plugin *plugin, const char *message)
{
    type_list *t = user;
    size_t d, len = strlen(type);
    (void)path;
    (void)message;
    if (!plugin)
        return;
    if (t->used + len + 3 < sizeof t->all)
        t->used += (size_t)snprintf(t->all + t->used, sizeof t->all - t->used, "%s%s",
                                    t->used ? ", " : "", type);
    d = distance(t->wanted, type);
    /* Close in spelling, or one a prefix of the other (conv2d, maxpooling). */
    if ((strncmp(t->wanted, type, len) == 0 || strncmp(t->wanted, type, strlen(t->wanted)) == 0) &&
        len >= 3 && strlen(t->wanted) >= 3)
        d = d < 2 ? d : 2;
    /* Ties go to a name of the typed length (a swap, not a deletion). */
    if ((d < t->best_distance ||
         (d == t->best_distance && len == strlen(t->wanted) &&
          strlen(t->best) != strlen(t->wanted))) &&
        d <= 2 + strlen(type) / 4) {
        t->best_distance = d;
        snprintf(t->best, sizeof t->best, "%s", type);
    }
}

cnn_status cnn_graph_unknown_type(cnn_context *ctx, const cnn_graph_doc *doc,
                                  cnn_doc_mark mark, const char *layer,
                                  const char *type)
{
    char searched[CNN_MESSAGE_MAX / 2];
    type_list t;
    memset(&t, 0, sizeof t);
    t.wanted = type;
    t.best_distance = (size_t)-1;
    snprintf(searched, sizeof searched, "%s", cnn_context_message(ctx));
    if (cnn_context_status(ctx) != CNN_ERR_NOT_FOUND)
        return cnn_graph_fail_at(ctx, doc, mark, cnn_context_status(ctx), "layer '%s': %s",
                                 layer, searched);
    cnn_context_clear_error(ctx);
    cnn_plugin_scan(ctx, collect_type, &t);
    cnn_context_clear_error(ctx);
    return cnn_graph_fail_at(ctx, doc, mark, CNN_ERR_NOT_FOUND,
                             "layer '%s': unknown layer type '%s'%s%s%s; installed types: "
                             "%s (%s)",
                             layer, type, t.best[0] ? " (did you mean '" : "", t.best,
                             t.best[0] ? "'?)" : "", t.used ? t.all : "none", searched);
}
