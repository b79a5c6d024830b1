/* SPDX-License-Identifier: MIT */
/* YAML nodes -> cnn_graph_doc, the format half: the top-level keys, input,
 * layers, backbone and train sections, each checked for its node kinds and
 * keys. The walk follows the format's fixed depth and never recurses on
 * user data, so aliases cannot make it loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_walk.h"

/* Per dimension of the declared input; keeps C*H*W far from overflow. */
#define INPUT_DIM_MAX 1000000

int cnn_graph_layer_name_valid(const char *name)
{
    size_t n = 0;
    const char *c = name;
    if (!name ||
        !((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_'))
        return 0;
    for (; *c; c++, n++) {
        int ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                 (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
                 *c == '-';
        if (!ok || n >= CNN_GRAPH_NAME_MAX)
            return 0;
    }
    return 1;
}

/* Graph names may also start with a digit ("3d-net"); hosts use them in
 * file names, hence no spaces or slashes. */
static int graph_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CNN_GRAPH_NAME_MAX)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
            return 0;
    return 1;
}

static cnn_status take_shape(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    doc->shape_mark = mark_of(node);
    if (node->type != YAML_SEQUENCE_NODE || seq_length(node) != 3)
        return cnn_yaml_fail(
            w, doc->shape_mark,
            "input: shape must be a sequence [C, H, W] of 3 positive "
            "integers, got %s%s",
            kind_name(node),
            node->type == YAML_SEQUENCE_NODE ? " of another length" : "");
    for (size_t i = 0; i < 3; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        int64_t v;
        if (item->type != YAML_SCALAR_NODE ||
            !cnn_yaml_int64(scalar_text(item), &v) || v < 1 ||
            v > INPUT_DIM_MAX)
            return cnn_yaml_fail(w, mark_of(item),
                                 "input: shape entry %zu must be an integer "
                                 "in [1, %d], got '%s'",
                                 i + 1, INPUT_DIM_MAX,
                                 item->type == YAML_SCALAR_NODE
                                     ? scalar_text(item)
                                     : kind_name(item));
        doc->shape[i] = v;
    }
    /* Keras and TensorFlow write images as [H, W, C]; cnnrun (as PyTorch)
     * wants [C, H, W]. A last entry of 1 or 3 after two image-sized ones
     * is that mistake, not an image one or three pixels wide. */
    if ((doc->shape[2] == 1 || doc->shape[2] == 3) && doc->shape[0] >= 8 &&
        doc->shape[1] >= 8)
        return cnn_yaml_fail(w, doc->shape_mark,
                             "input: [%lld, %lld, %lld] looks like [H, W, C]; "
                             "cnnrun wants [C, H, W] (channels first, as "
                             "PyTorch): write [%lld, %lld, %lld]",
                             (long long)doc->shape[0], (long long)doc->shape[1],
                             (long long)doc->shape[2], (long long)doc->shape[2],
                             (long long)doc->shape[0], (long long)doc->shape[1]);
    doc->has_shape = 1;
    return CNN_OK;
}

static cnn_status take_floats(walk *w, const yaml_node_t *node,
                              const char *what, int positive, float **out,
                              size_t *n_out)
{
    size_t n;
    if (node->type != YAML_SEQUENCE_NODE || seq_length(node) == 0)
        return cnn_yaml_fail(w, mark_of(node),
                             "input: %s must be a non-empty sequence of "
                             "numbers, one per channel, got %s",
                             what, kind_name(node));
    n = seq_length(node);
    *out = cnn_yaml_alloc(w, n, sizeof **out);
    if (!*out)
        return CNN_ERR_NOMEM;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE ||
            !cnn_yaml_float(scalar_text(item), &(*out)[i]) ||
            (positive && !((*out)[i] > 0.0f)))
            return cnn_yaml_fail(
                w, mark_of(item),
                "input: %s entry %zu must be a %snumber, got '%s'", what,
                i + 1, positive ? "positive " : "",
                item->type == YAML_SCALAR_NODE ? scalar_text(item)
                                               : kind_name(item));
    }
    return CNN_OK;
}

static cnn_status take_input_map(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    size_t n_mean = 0, n_std = 0;
    int has_mean = 0, has_std = 0;
    cnn_status st = cnn_yaml_check_keys(w, node, "input: ");
    for (size_t i = 0; st == CNN_OK && i < map_length(node); i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        if (!strcmp(k, "shape")) {
            st = take_shape(w, value);
        } else if (!strcmp(k, "mean")) {
            doc->mean_mark = mark_of(value);
            has_mean = 1;
            st = take_floats(w, value, "mean", 0, &doc->mean, &n_mean);
        } else if (!strcmp(k, "std")) {
            doc->std_mark = mark_of(value);
            has_std = 1;
            st = take_floats(w, value, "std", 1, &doc->std, &n_std);
        } else if (!strcmp(k, "classes")) {
            doc->classes_mark = mark_of(value);
            doc->has_classes = 1;
            st = cnn_yaml_names(w, value, "input: classes", 0, &doc->classes,
                                &doc->n_classes);
        } else {
            st = cnn_yaml_fail(
                w, mark_of(key),
                "input: unknown key '%s' (valid: shape, mean, std, classes)",
                k);
        }
    }
    if (st != CNN_OK)
        return st;
    if (has_mean != has_std)
        return cnn_yaml_fail(w, has_mean ? doc->mean_mark : doc->std_mark,
                             "input: 'mean' and 'std' must be given together");
    if (has_mean && n_mean != n_std)
        return cnn_yaml_fail(w, doc->std_mark,
                             "input: std has %zu entries but mean has %zu",
                             n_std, n_mean);
    doc->n_norm = n_mean;
    for (size_t i = 0; i < doc->n_classes; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(doc->classes[i].text, doc->classes[j].text))
                return cnn_yaml_fail(w, doc->classes[i].mark,
                                     "input: class '%s' is listed twice",
                                     doc->classes[i].text);
    return CNN_OK;
}

static cnn_status take_input(walk *w, const yaml_node_t *node)
{
    w->doc->has_input = 1;
    w->doc->input_mark = mark_of(node);
    if (node->type == YAML_SEQUENCE_NODE)
        return take_shape(w, node);
    if (node->type == YAML_MAPPING_NODE)
        return take_input_map(w, node);
    return cnn_yaml_fail(w, mark_of(node),
                         "input must be [C, H, W] or a mapping with shape, "
                         "mean, std, classes; got %s",
                         is_null(node) ? "nothing" : kind_name(node));
}

static cnn_status take_hparam(walk *w, const char *label, yaml_node_t *key,
                              yaml_node_t *value, cnn_doc_hparam *hp)
{
    const char *k = scalar_text(key);
    char what[512];
    cnn_status st = cnn_yaml_scalar(w, key, "a key", &hp->key);
    hp->value = mark_of(value);
    if (st != CNN_OK)
        return st;
    snprintf(what, sizeof what, "%s: key '%.*s'", label, CNN_GRAPH_NAME_MAX,
             k);
    if (value->type == YAML_SCALAR_NODE && !is_null(value)) {
        cnn_doc_text t;
        st = cnn_yaml_scalar(w, value, what, &t);
        hp->items[0] = t.text;
        hp->n_items = 1;
        return st;
    }
    if (value->type != YAML_SEQUENCE_NODE || seq_length(value) < 1 ||
        seq_length(value) > CNN_DOC_MAX_ITEMS)
        return cnn_yaml_fail(
            w, hp->value,
            "%s: key '%s' must be a value or a list of 2 or 4 values, got "
            "%s%s",
            label,
            k, is_null(value) ? "nothing" : kind_name(value),
            value->type == YAML_SEQUENCE_NODE ? " of another length" : "");
    hp->is_sequence = 1;
    for (size_t i = 0; i < seq_length(value); i++) {
        yaml_node_t *item = node_at(w, value->data.sequence.items.start[i]);
        cnn_doc_text t = {NULL, {0, 0}};
        st = cnn_yaml_scalar(w, item, what, &t);
        hp->items[i] = t.text;
        hp->n_items = i + 1;
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

static cnn_status take_layer(walk *w, const yaml_node_t *node, size_t index,
                             cnn_doc_layer *layer)
{
    char label[CNN_GRAPH_NAME_MAX + 32];
    size_t n_pairs;
    cnn_status st;
    layer->mark = mark_of(node);
    layer->trainable = -1;
    snprintf(label, sizeof label, "layers[%zu]", index);
    if (node->type != YAML_MAPPING_NODE)
        return cnn_yaml_fail(w, layer->mark,
                             "%s: a layer must be a mapping with name, type "
                             "and its settings, got %s",
                             label, kind_name(node));
    n_pairs = map_length(node);
    /* Name the layer in every later message, so find the name first. */
    for (size_t i = 0; i < n_pairs; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        if (key->type == YAML_SCALAR_NODE &&
            !strcmp(scalar_text(key), "name")) {
            st = cnn_yaml_scalar(w, value, "layer name", &layer->name);
            if (st == CNN_ERR_NOMEM)
                return st;
            if (st != CNN_OK)
                return cnn_yaml_fail(w, layer->name.mark,
                                     "%s: name must be a non-empty scalar",
                                     label);
            if (!cnn_graph_layer_name_valid(layer->name.text))
                return cnn_yaml_fail(w, layer->name.mark,
                                     "%s: invalid layer name '%s' (use "
                                     "[A-Za-z_][A-Za-z0-9_.-]*, at most "
                                     "%d characters)",
                                     label, layer->name.text,
                                     CNN_GRAPH_NAME_MAX);
            if (!strcmp(layer->name.text, CNN_GRAPH_INPUT_NAME))
                return cnn_yaml_fail(
                    w, layer->name.mark,
                    "%s: the layer name '%s' is reserved for the graph input",
                    label, CNN_GRAPH_INPUT_NAME);
            snprintf(label, sizeof label, "layer '%s'", layer->name.text);
            break;
        }
    }
    {
        char prefix[sizeof label + 2];
        snprintf(prefix, sizeof prefix, "%s: ", label);
        st = cnn_yaml_check_keys(w, node, prefix);
        if (st != CNN_OK)
            return st;
    }
    if (!layer->name.text)
        return cnn_yaml_fail(w, layer->mark, "%s: missing required key 'name'",
                             label);
    layer->hparams = cnn_yaml_alloc(w, n_pairs, sizeof *layer->hparams);
    if (!layer->hparams)
        return CNN_ERR_NOMEM;
    for (size_t i = 0; i < n_pairs; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        char what[sizeof label + 16];
        if (!strcmp(k, "name"))
            continue;
        if (!strcmp(k, "type")) {
            snprintf(what, sizeof what, "%s: type", label);
            st = cnn_yaml_scalar(w, value, what, &layer->type);
        } else if (!strcmp(k, "inputs")) {
            snprintf(what, sizeof what, "%s: inputs", label);
            layer->has_inputs = 1;
            layer->inputs_mark = mark_of(value);
            st = cnn_yaml_names(w, value, what, 1, &layer->inputs,
                                &layer->n_inputs);
        } else if (!strcmp(k, "trainable")) {
            layer->trainable_mark = mark_of(value);
            if (value->type != YAML_SCALAR_NODE ||
                !cnn_yaml_bool(scalar_text(value), &layer->trainable))
                st = cnn_yaml_fail(
                    w, layer->trainable_mark,
                    "%s: trainable must be true or false, got '%s'", label,
                    value->type == YAML_SCALAR_NODE ? scalar_text(value)
                                                    : kind_name(value));
        } else {
            st = take_hparam(w, label, key, value,
                             &layer->hparams[layer->n_hparams++]);
        }
        if (st != CNN_OK)
            return st;
    }
    if (!layer->type.text)
        return cnn_yaml_fail(w, layer->mark, "%s: missing required key 'type'",
                             label);
    return CNN_OK;
}

static cnn_status take_layers(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    size_t n;
    doc->layers_mark = mark_of(node);
    if (node->type != YAML_SEQUENCE_NODE)
        return cnn_yaml_fail(
            w, doc->layers_mark,
            "layers must be a sequence of layer mappings, got %s",
            is_null(node) ? "nothing" : kind_name(node));
    n = seq_length(node);
    if (n == 0)
        return cnn_yaml_fail(
            w, doc->layers_mark,
            "layers is empty: a graph needs at least one layer");
    if (n > CNN_GRAPH_LAYERS_MAX)
        return cnn_yaml_fail(w, doc->layers_mark,
                             "%zu layers, more than the %d a graph may have",
                             n, CNN_GRAPH_LAYERS_MAX);
    doc->layers = cnn_yaml_alloc(w, n, sizeof *doc->layers);
    if (!doc->layers)
        return CNN_ERR_NOMEM;
    doc->n_layers = n;
    for (size_t i = 0; i < n; i++) {
        cnn_status st =
            take_layer(w, node_at(w, node->data.sequence.items.start[i]), i,
                       &doc->layers[i]);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

static cnn_status take_freeze(walk *w, const yaml_node_t *node)
{
    cnn_doc_backbone *bb = &w->doc->backbone;
    static const char forms[] = "all, none, a list of layer names or "
                                "{all_but_last: N}";
    bb->freeze_mark = mark_of(node);
    if (node->type == YAML_SCALAR_NODE && !strcmp(scalar_text(node), "all")) {
        bb->freeze = CNN_DOC_FREEZE_ALL;
        return CNN_OK;
    }
    if (node->type == YAML_SCALAR_NODE && !strcmp(scalar_text(node), "none")) {
        bb->freeze = CNN_DOC_FREEZE_NONE;
        return CNN_OK;
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        bb->freeze = CNN_DOC_FREEZE_LIST;
        return cnn_yaml_names(w, node, "backbone: freeze", 0,
                              &bb->freeze_names, &bb->n_freeze_names);
    }
    if (node->type == YAML_MAPPING_NODE && map_length(node) == 1) {
        yaml_node_pair_t *p = node->data.mapping.pairs.start;
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        if (key->type == YAML_SCALAR_NODE &&
            !strcmp(scalar_text(key), "all_but_last")) {
            if (value->type != YAML_SCALAR_NODE ||
                !cnn_yaml_int64(scalar_text(value), &bb->all_but_last) ||
                bb->all_but_last < 0)
                return cnn_yaml_fail(w, mark_of(value),
                                     "backbone: all_but_last must be a "
                                     "non-negative integer, got %s",
                                     value->type == YAML_SCALAR_NODE
                                         ? scalar_text(value)
                                         : kind_name(value));
            bb->freeze = CNN_DOC_FREEZE_ALL_BUT_LAST;
            return CNN_OK;
        }
    }
    return cnn_yaml_fail(
        w, bb->freeze_mark, "backbone: freeze must be %s, got %s%s%s", forms,
        node->type == YAML_SCALAR_NODE ? "'" : "",
        node->type == YAML_SCALAR_NODE ? scalar_text(node) : kind_name(node),
        node->type == YAML_SCALAR_NODE ? "'" : "");
}

static cnn_status take_backbone(walk *w, const yaml_node_t *node)
{
    cnn_doc_backbone *bb = &w->doc->backbone;
    cnn_status st;
    bb->present = 1;
    bb->mark = mark_of(node);
    if (node->type != YAML_MAPPING_NODE)
        return cnn_yaml_fail(w, bb->mark,
                             "backbone must be a mapping with graph, weights, "
                             "cut_after, freeze; got %s",
                             is_null(node) ? "nothing" : kind_name(node));
    st = cnn_yaml_check_keys(w, node, "backbone: ");
    for (size_t i = 0; st == CNN_OK && i < map_length(node); i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        if (!strcmp(k, "graph")) {
            st = cnn_yaml_scalar(w, value, "backbone: graph", &bb->graph);
        } else if (!strcmp(k, "weights")) {
            st = cnn_yaml_scalar(w, value, "backbone: weights", &bb->weights);
        } else if (!strcmp(k, "cut_after")) {
            st = cnn_yaml_scalar(w, value, "backbone: cut_after",
                                 &bb->cut_after);
        } else if (!strcmp(k, "freeze")) {
            st = take_freeze(w, value);
        } else {
            st = cnn_yaml_fail(w, mark_of(key),
                               "backbone: unknown key '%s' (valid: graph, "
                               "weights, cut_after, freeze)",
                               k);
        }
    }
    if (st == CNN_OK && !bb->graph.text)
        st = cnn_yaml_fail(w, bb->mark,
                           "backbone: missing required key 'graph'");
    return st;
}

static cnn_status take_train(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    cnn_status st;
    size_t n;
    if (node->type != YAML_MAPPING_NODE)
        return cnn_yaml_fail(w, mark_of(node),
                             "train must be a mapping of settings, got %s",
                             is_null(node) ? "nothing" : kind_name(node));
    st = cnn_yaml_check_keys(w, node, "train: ");
    if (st != CNN_OK)
        return st;
    n = map_length(node);
    doc->settings = cnn_yaml_alloc(w, n, sizeof *doc->settings);
    if (!doc->settings)
        return CNN_ERR_NOMEM;
    doc->n_settings = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        char what[CNN_GRAPH_NAME_MAX + 16];
        st = cnn_yaml_scalar(w, key, "train: key", &doc->settings[i].key);
        if (st != CNN_OK)
            return st;
        snprintf(what, sizeof what, "train: %.*s", CNN_GRAPH_NAME_MAX,
                 doc->settings[i].key.text);
        st = cnn_yaml_scalar(w, value, what, &doc->settings[i].value);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

cnn_status cnn_graph_doc_walk(walk *w, const yaml_node_t *root)
{
    cnn_graph_doc *doc = w->doc;
    int has_layers = 0;
    cnn_status st;
    if (root->type != YAML_MAPPING_NODE)
        return cnn_yaml_fail(
            w, mark_of(root),
            "a graph file must be a mapping with keys %s; got %s",
            CNN_GRAPH_TOP_KEYS, kind_name(root));
    st = cnn_yaml_check_keys(w, root, "");
    for (size_t i = 0; st == CNN_OK && i < map_length(root); i++) {
        yaml_node_pair_t *p = &root->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        if (!strcmp(k, "name")) {
            st = cnn_yaml_scalar(w, value, "name", &doc->name);
            if (st == CNN_OK && !graph_name_valid(doc->name.text))
                st = cnn_yaml_fail(w, doc->name.mark,
                                   "invalid graph name '%s' (use letters, "
                                   "digits, '_', '.' and '-', at most %d "
                                   "characters)",
                                   doc->name.text, CNN_GRAPH_NAME_MAX);
        } else if (!strcmp(k, "input")) {
            st = take_input(w, value);
        } else if (!strcmp(k, "layers")) {
            has_layers = 1;
            st = take_layers(w, value);
        } else if (!strcmp(k, "backbone")) {
            st = take_backbone(w, value);
        } else if (!strcmp(k, "rename")) {
            st = cnn_yaml_rename(w, value, 1, &doc->rename);
        } else if (!strcmp(k, "train")) {
            st = take_train(w, value);
        } else {
            st = cnn_yaml_fail(w, mark_of(key),
                               "unknown top-level key '%s' (valid: %s)", k,
                               CNN_GRAPH_TOP_KEYS);
        }
    }
    if (st != CNN_OK)
        return st;
    if (!doc->name.text)
        return cnn_yaml_fail(w, mark_of(root), "missing required key 'name'");
    if (!doc->backbone.present) {
        if (!has_layers)
            return cnn_yaml_fail(w, mark_of(root),
                                 "missing required key 'layers'");
        if (!doc->has_input)
            return cnn_yaml_fail(w, mark_of(root),
                                 "missing required key 'input' (only a graph "
                                 "with a backbone may leave it out)");
        if (!doc->has_shape)
            return cnn_yaml_fail(w, doc->input_mark,
                                 "input: missing key 'shape' (only a graph "
                                 "with a backbone may leave it out)");
    }
    if (doc->has_shape && doc->mean && (int64_t)doc->n_norm != doc->shape[0])
        return cnn_yaml_fail(w, doc->mean_mark,
                             "input: mean and std have %zu entries but the "
                             "input has %lld channels",
                             doc->n_norm, (long long)doc->shape[0]);
    return CNN_OK;
}

static void free_texts(cnn_doc_text *texts, size_t n)
{
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i].text);
    free(texts);
}

void cnn_graph_doc_free(cnn_graph_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; doc->layers && i < doc->n_layers; i++) {
        cnn_doc_layer *l = &doc->layers[i];
        free(l->name.text);
        free(l->type.text);
        free_texts(l->inputs, l->n_inputs);
        for (size_t j = 0; l->hparams && j < l->n_hparams; j++) {
            free(l->hparams[j].key.text);
            for (size_t k = 0; k < CNN_DOC_MAX_ITEMS; k++)
                free(l->hparams[j].items[k]);
        }
        free(l->hparams);
    }
    free(doc->layers);
    for (size_t i = 0; doc->settings && i < doc->n_settings; i++) {
        free(doc->settings[i].key.text);
        free(doc->settings[i].value.text);
    }
    free(doc->settings);
    free_texts(doc->classes, doc->n_classes);
    free_texts(doc->backbone.freeze_names, doc->backbone.n_freeze_names);
    free(doc->backbone.graph.text);
    free(doc->backbone.weights.text);
    free(doc->backbone.cut_after.text);
    cnn_doc_rename_free(&doc->rename);
    free(doc->mean);
    free(doc->std);
    free(doc->name.text);
    free(doc->origin);
    free(doc);
}
