/* SPDX-License-Identifier: MIT */
/* YAML text -> cnn_graph_doc: libyaml's document API, then one walk of the
 * node tree that checks every structural rule that needs no plugin. The
 * walk follows the format's fixed depth and never recurses on user data, so
 * aliases (even self-referencing ones) cannot make it loop. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "context_internal.h"
#include "graph_doc.h"

/* A graph file is a page of text; anything larger is a mistake. */
#define GRAPH_FILE_MAX ((size_t)16 << 20)
/* Per dimension of the declared input; keeps C*H*W far from overflow. */
#define INPUT_DIM_MAX 1000000
/* Keys checked pairwise for duplicates: a layer has about ten. */
#define MAPPING_KEYS_MAX 256

typedef struct walk {
    cnn_context *ctx;
    yaml_document_t *ydoc;
    cnn_graph_doc *doc;
} walk;

static const char top_keys[] = "name, input, layers, backbone, train";

static cnn_doc_mark mark_from(yaml_mark_t m)
{
    cnn_doc_mark out;
    out.line = m.line < 0x7ffffffe ? (int)m.line + 1 : 0x7fffffff;
    out.column = m.column < 0x7ffffffe ? (int)m.column + 1 : 0x7fffffff;
    return out;
}

static cnn_doc_mark mark_of(const yaml_node_t *node)
{
    return mark_from(node->start_mark);
}

static cnn_status fail_at(walk *w, cnn_doc_mark m, const char *fmt, ...)
    CNN_PRINTF(3, 4);

static cnn_status fail_at(walk *w, cnn_doc_mark m, const char *fmt, ...)
{
    char detail[CNN_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cnn_fail(w->ctx, CNN_ERR_GRAPH, "%s:%d:%d: %s", w->doc->origin,
                    m.line, m.column, detail);
}

static const char *kind_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static yaml_node_t *node_at(walk *w, int index)
{
    return yaml_document_get_node(w->ydoc, index);
}

static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* A plain scalar spelling YAML's null: an empty value, ~ or null. */
static int is_null(const yaml_node_t *node)
{
    const char *t;
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    t = scalar_text(node);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") ||
           !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static size_t seq_length(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top -
                    node->data.sequence.items.start);
}

static size_t map_length(const yaml_node_t *node)
{
    return (size_t)(node->data.mapping.pairs.top -
                    node->data.mapping.pairs.start);
}

static void *alloc_array(walk *w, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        cnn_fail(w->ctx, CNN_ERR_NOMEM, "out of memory");
    return p;
}

/* Copies a scalar's text; what names the value in messages. */
static cnn_status take_scalar(walk *w, const yaml_node_t *node,
                              const char *what, cnn_doc_text *out)
{
    size_t length;
    out->mark = mark_of(node);
    if (node->type != YAML_SCALAR_NODE || is_null(node))
        return fail_at(w, out->mark, "%s must be a non-empty scalar, got %s",
                       what, is_null(node) ? "nothing" : kind_name(node));
    length = node->data.scalar.length;
    if (memchr(node->data.scalar.value, '\0', length))
        return fail_at(w, out->mark, "%s contains a NUL character", what);
    out->text = malloc(length + 1);
    if (!out->text)
        return cnn_fail(w->ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(out->text, node->data.scalar.value, length);
    out->text[length] = '\0';
    return CNN_OK;
}

/* Every key a non-empty scalar, none twice. label prefixes messages. */
static cnn_status check_keys(walk *w, const yaml_node_t *map,
                             const char *label)
{
    yaml_node_pair_t *first = map->data.mapping.pairs.start;
    if (map_length(map) > MAPPING_KEYS_MAX)
        return fail_at(w, mark_of(map), "%smore than %d keys in one mapping",
                       label, MAPPING_KEYS_MAX);
    for (yaml_node_pair_t *p = first; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = node_at(w, p->key);
        if (key->type != YAML_SCALAR_NODE || is_null(key))
            return fail_at(w, mark_of(key), "%skeys must be names, got %s",
                           label, kind_name(key));
        for (yaml_node_pair_t *q = first; q < p; q++) {
            yaml_node_t *seen = node_at(w, q->key);
            if (!strcmp(scalar_text(seen), scalar_text(key))) {
                cnn_doc_mark m = mark_of(seen);
                return fail_at(w, mark_of(key),
                               "%sduplicate key '%s' (first at %d:%d)", label,
                               scalar_text(key), m.line, m.column);
            }
        }
    }
    return CNN_OK;
}

static int parse_int64(const char *text, int64_t *out)
{
    char *end;
    long long v;
    if (!((*text >= '0' && *text <= '9') || *text == '-' || *text == '+'))
        return 0;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text || *end)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int parse_float(const char *text, float *out)
{
    char *end;
    double v;
    if (!*text || *text == ' ' || *text == '\t')
        return 0;
    errno = 0;
    v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || fabs(v) > 3.0e38)
        return 0;
    *out = (float)v;
    return 1;
}

static int parse_bool(const char *text, int *out)
{
    if (!strcmp(text, "true") || !strcmp(text, "True") ||
        !strcmp(text, "TRUE")) {
        *out = 1;
        return 1;
    }
    if (!strcmp(text, "false") || !strcmp(text, "False") ||
        !strcmp(text, "FALSE")) {
        *out = 0;
        return 1;
    }
    return 0;
}

int cnn_graph_layer_name_valid(const char *name)
{
    size_t n = 0;
    const char *c = name;
    if (!name || !((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                   *c == '_'))
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
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
              *c == '-'))
            return 0;
    return 1;
}

/* A sequence of scalars (or, when one_ok, a single scalar) as texts. */
static cnn_status take_names(walk *w, const yaml_node_t *node,
                             const char *what, int one_ok,
                             cnn_doc_text **out, size_t *n_out)
{
    size_t n;
    if (one_ok && node->type == YAML_SCALAR_NODE && !is_null(node)) {
        *out = alloc_array(w, 1, sizeof **out);
        if (!*out)
            return CNN_ERR_NOMEM;
        *n_out = 1;
        return take_scalar(w, node, what, *out);
    }
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(w, mark_of(node), "%s must be %sa sequence of names, "
                       "got %s", what, one_ok ? "a name or " : "",
                       is_null(node) ? "nothing" : kind_name(node));
    n = seq_length(node);
    if (n == 0)
        return fail_at(w, mark_of(node), "%s is empty", what);
    *out = alloc_array(w, n, sizeof **out);
    if (!*out)
        return CNN_ERR_NOMEM;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        cnn_status st = take_scalar(w, item, what, &(*out)[i]);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

static cnn_status take_shape(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    doc->shape_mark = mark_of(node);
    if (node->type != YAML_SEQUENCE_NODE || seq_length(node) != 3)
        return fail_at(w, doc->shape_mark,
                       "input: shape must be a sequence [C, H, W] of 3 "
                       "positive integers, got %s%s", kind_name(node),
                       node->type == YAML_SEQUENCE_NODE ? " of another length"
                                                        : "");
    for (size_t i = 0; i < 3; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        int64_t v;
        if (item->type != YAML_SCALAR_NODE ||
            !parse_int64(scalar_text(item), &v) || v < 1 ||
            v > INPUT_DIM_MAX)
            return fail_at(w, mark_of(item),
                           "input: shape entry %zu must be an integer in "
                           "[1, %d], got '%s'", i + 1, INPUT_DIM_MAX,
                           item->type == YAML_SCALAR_NODE ? scalar_text(item)
                                                          : kind_name(item));
        doc->shape[i] = v;
    }
    doc->has_shape = 1;
    return CNN_OK;
}

static cnn_status take_floats(walk *w, const yaml_node_t *node,
                              const char *what, int positive, float **out,
                              size_t *n_out)
{
    size_t n;
    if (node->type != YAML_SEQUENCE_NODE || seq_length(node) == 0)
        return fail_at(w, mark_of(node), "input: %s must be a non-empty "
                       "sequence of numbers, one per channel, got %s",
                       what, kind_name(node));
    n = seq_length(node);
    *out = alloc_array(w, n, sizeof **out);
    if (!*out)
        return CNN_ERR_NOMEM;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE ||
            !parse_float(scalar_text(item), &(*out)[i]) ||
            (positive && !((*out)[i] > 0.0f)))
            return fail_at(w, mark_of(item), "input: %s entry %zu must be "
                           "a %snumber, got '%s'", what, i + 1,
                           positive ? "positive " : "",
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
    cnn_status st = check_keys(w, node, "input: ");
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
            st = take_names(w, value, "input: classes", 0, &doc->classes,
                            &doc->n_classes);
        } else {
            st = fail_at(w, mark_of(key), "input: unknown key '%s' (valid: "
                         "shape, mean, std, classes)", k);
        }
    }
    if (st != CNN_OK)
        return st;
    if (has_mean != has_std)
        return fail_at(w, has_mean ? doc->mean_mark : doc->std_mark,
                       "input: 'mean' and 'std' must be given together");
    if (has_mean && n_mean != n_std)
        return fail_at(w, doc->std_mark, "input: std has %zu entries but "
                       "mean has %zu", n_std, n_mean);
    doc->n_norm = n_mean;
    for (size_t i = 0; i < doc->n_classes; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(doc->classes[i].text, doc->classes[j].text))
                return fail_at(w, doc->classes[i].mark, "input: class '%s' "
                               "is listed twice", doc->classes[i].text);
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
    return fail_at(w, mark_of(node), "input must be [C, H, W] or a mapping "
                   "with shape, mean, std, classes; got %s",
                   is_null(node) ? "nothing" : kind_name(node));
}

static cnn_status take_hparam(walk *w, const char *label, yaml_node_t *key,
                              yaml_node_t *value, cnn_doc_hparam *hp)
{
    const char *k = scalar_text(key);
    char what[512];
    cnn_status st = take_scalar(w, key, "a key", &hp->key);
    hp->value = mark_of(value);
    if (st != CNN_OK)
        return st;
    snprintf(what, sizeof what, "%s: key '%.*s'", label, CNN_GRAPH_NAME_MAX,
             k);
    if (value->type == YAML_SCALAR_NODE && !is_null(value)) {
        cnn_doc_text t;
        st = take_scalar(w, value, what, &t);
        hp->items[0] = t.text;
        hp->n_items = 1;
        return st;
    }
    if (value->type != YAML_SEQUENCE_NODE || seq_length(value) < 1 ||
        seq_length(value) > CNN_DOC_MAX_ITEMS)
        return fail_at(w, hp->value, "%s: key '%s' must be a value or a "
                       "[h, w] pair, got %s%s", label, k,
                       is_null(value) ? "nothing" : kind_name(value),
                       value->type == YAML_SEQUENCE_NODE ? " of another length"
                                                         : "");
    hp->is_sequence = 1;
    for (size_t i = 0; i < seq_length(value); i++) {
        yaml_node_t *item = node_at(w, value->data.sequence.items.start[i]);
        cnn_doc_text t = {NULL, {0, 0}};
        st = take_scalar(w, item, what, &t);
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
        return fail_at(w, layer->mark, "%s: a layer must be a mapping with "
                       "name, type and its settings, got %s", label,
                       kind_name(node));
    n_pairs = map_length(node);
    /* Name the layer in every later message, so find the name first. */
    for (size_t i = 0; i < n_pairs; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        if (key->type == YAML_SCALAR_NODE && !strcmp(scalar_text(key), "name")) {
            st = take_scalar(w, value, "layer name", &layer->name);
            if (st == CNN_ERR_NOMEM)
                return st;
            if (st != CNN_OK)
                return fail_at(w, layer->name.mark, "%s: name must be a "
                               "non-empty scalar", label);
            if (!cnn_graph_layer_name_valid(layer->name.text))
                return fail_at(w, layer->name.mark, "%s: invalid layer name "
                               "'%s' (use [A-Za-z_][A-Za-z0-9_.-]*, at most "
                               "%d characters)", label, layer->name.text,
                               CNN_GRAPH_NAME_MAX);
            if (!strcmp(layer->name.text, CNN_GRAPH_INPUT_NAME))
                return fail_at(w, layer->name.mark, "%s: the layer name '%s' "
                               "is reserved for the graph input", label,
                               CNN_GRAPH_INPUT_NAME);
            snprintf(label, sizeof label, "layer '%s'", layer->name.text);
            break;
        }
    }
    {
        char prefix[sizeof label + 2];
        snprintf(prefix, sizeof prefix, "%s: ", label);
        st = check_keys(w, node, prefix);
        if (st != CNN_OK)
            return st;
    }
    if (!layer->name.text)
        return fail_at(w, layer->mark, "%s: missing required key 'name'",
                       label);
    layer->hparams = alloc_array(w, n_pairs, sizeof *layer->hparams);
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
            st = take_scalar(w, value, what, &layer->type);
        } else if (!strcmp(k, "inputs")) {
            snprintf(what, sizeof what, "%s: inputs", label);
            layer->has_inputs = 1;
            layer->inputs_mark = mark_of(value);
            st = take_names(w, value, what, 1, &layer->inputs,
                            &layer->n_inputs);
        } else if (!strcmp(k, "trainable")) {
            layer->trainable_mark = mark_of(value);
            if (value->type != YAML_SCALAR_NODE ||
                !parse_bool(scalar_text(value), &layer->trainable))
                st = fail_at(w, layer->trainable_mark, "%s: trainable must "
                             "be true or false, got '%s'", label,
                             value->type == YAML_SCALAR_NODE
                                 ? scalar_text(value) : kind_name(value));
        } else {
            st = take_hparam(w, label, key, value,
                             &layer->hparams[layer->n_hparams++]);
        }
        if (st != CNN_OK)
            return st;
    }
    if (!layer->type.text)
        return fail_at(w, layer->mark, "%s: missing required key 'type'",
                       label);
    return CNN_OK;
}

static cnn_status take_layers(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    size_t n;
    doc->layers_mark = mark_of(node);
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(w, doc->layers_mark, "layers must be a sequence of "
                       "layer mappings, got %s",
                       is_null(node) ? "nothing" : kind_name(node));
    n = seq_length(node);
    if (n == 0)
        return fail_at(w, doc->layers_mark, "layers is empty: a graph needs "
                       "at least one layer");
    if (n > CNN_GRAPH_LAYERS_MAX)
        return fail_at(w, doc->layers_mark, "%zu layers, more than the %d a "
                       "graph may have", n, CNN_GRAPH_LAYERS_MAX);
    doc->layers = alloc_array(w, n, sizeof *doc->layers);
    if (!doc->layers)
        return CNN_ERR_NOMEM;
    doc->n_layers = n;
    for (size_t i = 0; i < n; i++) {
        cnn_status st = take_layer(
            w, node_at(w, node->data.sequence.items.start[i]), i,
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
        return take_names(w, node, "backbone: freeze", 0, &bb->freeze_names,
                          &bb->n_freeze_names);
    }
    if (node->type == YAML_MAPPING_NODE && map_length(node) == 1) {
        yaml_node_pair_t *p = node->data.mapping.pairs.start;
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        if (key->type == YAML_SCALAR_NODE &&
            !strcmp(scalar_text(key), "all_but_last")) {
            if (value->type != YAML_SCALAR_NODE ||
                !parse_int64(scalar_text(value), &bb->all_but_last) ||
                bb->all_but_last < 0)
                return fail_at(w, mark_of(value), "backbone: all_but_last "
                               "must be a non-negative integer, got %s",
                               value->type == YAML_SCALAR_NODE
                                   ? scalar_text(value) : kind_name(value));
            bb->freeze = CNN_DOC_FREEZE_ALL_BUT_LAST;
            return CNN_OK;
        }
    }
    return fail_at(w, bb->freeze_mark, "backbone: freeze must be %s, got %s%s%s",
                   forms, node->type == YAML_SCALAR_NODE ? "'" : "",
                   node->type == YAML_SCALAR_NODE ? scalar_text(node)
                                                  : kind_name(node),
                   node->type == YAML_SCALAR_NODE ? "'" : "");
}

static cnn_status take_backbone(walk *w, const yaml_node_t *node)
{
    cnn_doc_backbone *bb = &w->doc->backbone;
    cnn_status st;
    bb->present = 1;
    bb->mark = mark_of(node);
    if (node->type != YAML_MAPPING_NODE)
        return fail_at(w, bb->mark, "backbone must be a mapping with graph, "
                       "weights, cut_after, freeze; got %s",
                       is_null(node) ? "nothing" : kind_name(node));
    st = check_keys(w, node, "backbone: ");
    for (size_t i = 0; st == CNN_OK && i < map_length(node); i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        if (!strcmp(k, "graph")) {
            st = take_scalar(w, value, "backbone: graph", &bb->graph);
        } else if (!strcmp(k, "weights")) {
            st = take_scalar(w, value, "backbone: weights", &bb->weights);
        } else if (!strcmp(k, "cut_after")) {
            st = take_scalar(w, value, "backbone: cut_after", &bb->cut_after);
        } else if (!strcmp(k, "freeze")) {
            st = take_freeze(w, value);
        } else {
            st = fail_at(w, mark_of(key), "backbone: unknown key '%s' (valid: "
                         "graph, weights, cut_after, freeze)", k);
        }
    }
    if (st == CNN_OK && !bb->graph.text)
        st = fail_at(w, bb->mark, "backbone: missing required key 'graph'");
    return st;
}

static cnn_status take_train(walk *w, const yaml_node_t *node)
{
    cnn_graph_doc *doc = w->doc;
    cnn_status st;
    size_t n;
    if (node->type != YAML_MAPPING_NODE)
        return fail_at(w, mark_of(node), "train must be a mapping of "
                       "settings, got %s",
                       is_null(node) ? "nothing" : kind_name(node));
    st = check_keys(w, node, "train: ");
    if (st != CNN_OK)
        return st;
    n = map_length(node);
    doc->settings = alloc_array(w, n, sizeof *doc->settings);
    if (!doc->settings)
        return CNN_ERR_NOMEM;
    doc->n_settings = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        char what[CNN_GRAPH_NAME_MAX + 16];
        st = take_scalar(w, key, "train: key", &doc->settings[i].key);
        if (st != CNN_OK)
            return st;
        snprintf(what, sizeof what, "train: %.*s", CNN_GRAPH_NAME_MAX,
                 doc->settings[i].key.text);
        st = take_scalar(w, value, what, &doc->settings[i].value);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

static cnn_status take_root(walk *w, const yaml_node_t *root)
{
    cnn_graph_doc *doc = w->doc;
    int has_layers = 0;
    cnn_status st;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(w, mark_of(root), "a graph file must be a mapping "
                       "with keys %s; got %s", top_keys, kind_name(root));
    st = check_keys(w, root, "");
    for (size_t i = 0; st == CNN_OK && i < map_length(root); i++) {
        yaml_node_pair_t *p = &root->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(w, p->key), *value = node_at(w, p->value);
        const char *k = scalar_text(key);
        if (!strcmp(k, "name")) {
            st = take_scalar(w, value, "name", &doc->name);
            if (st == CNN_OK && !graph_name_valid(doc->name.text))
                st = fail_at(w, doc->name.mark, "invalid graph name '%s' (use "
                             "letters, digits, '_', '.' and '-', at most %d "
                             "characters)", doc->name.text,
                             CNN_GRAPH_NAME_MAX);
        } else if (!strcmp(k, "input")) {
            st = take_input(w, value);
        } else if (!strcmp(k, "layers")) {
            has_layers = 1;
            st = take_layers(w, value);
        } else if (!strcmp(k, "backbone")) {
            st = take_backbone(w, value);
        } else if (!strcmp(k, "train")) {
            st = take_train(w, value);
        } else {
            st = fail_at(w, mark_of(key), "unknown top-level key '%s' "
                         "(valid: %s)", k, top_keys);
        }
    }
    if (st != CNN_OK)
        return st;
    if (!doc->name.text)
        return fail_at(w, mark_of(root), "missing required key 'name'");
    if (!doc->backbone.present) {
        if (!has_layers)
            return fail_at(w, mark_of(root), "missing required key 'layers'");
        if (!doc->has_input)
            return fail_at(w, mark_of(root), "missing required key 'input' "
                           "(only a graph with a backbone may leave it out)");
        if (!doc->has_shape)
            return fail_at(w, doc->input_mark, "input: missing key 'shape' "
                           "(only a graph with a backbone may leave it out)");
    }
    if (doc->has_shape && doc->mean && (int64_t)doc->n_norm != doc->shape[0])
        return fail_at(w, doc->mean_mark, "input: mean and std have %zu "
                       "entries but the input has %lld channels", doc->n_norm,
                       (long long)doc->shape[0]);
    return CNN_OK;
}

static cnn_status syntax_error(cnn_context *ctx, const yaml_parser_t *parser,
                               const char *origin, const char *text,
                               size_t length)
{
    cnn_doc_mark m = mark_from(parser->problem_mark);
    const char *problem = parser->problem ? parser->problem : "unknown error";
    const char *hint;
    if (parser->error == YAML_MEMORY_ERROR)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory parsing YAML",
                        origin);
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines. */
        size_t end = parser->problem_offset < length ? parser->problem_offset
                                                     : length;
        m.line = 1;
        m.column = 1;
        for (size_t i = 0; i < end; i++) {
            if (text[i] == '\n') {
                m.line++;
                m.column = 1;
            } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
                m.column++;
            }
        }
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s:%d:%d: YAML error: %s",
                        origin, m.line, m.column, problem);
    }
    /* libyaml calls a tab "a character that cannot start any token". */
    hint = parser->problem_mark.index < length &&
                   text[parser->problem_mark.index] == '\t'
               ? "; YAML indents with spaces, not tabs"
               : "";
    if (parser->context) {
        cnn_doc_mark c = mark_from(parser->context_mark);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s:%d:%d: YAML syntax error: "
                        "%s (%s at %d:%d)%s", origin, m.line, m.column,
                        problem, parser->context, c.line, c.column, hint);
    }
    return cnn_fail(ctx, CNN_ERR_FORMAT, "%s:%d:%d: YAML syntax error: %s%s",
                    origin, m.line, m.column, problem, hint);
}

/* The document API resolves an alias to the anchored node itself, so an
 * alias repeats a whole subtree for free. Repeated scalars are fine within
 * a budget; a mapping or sequence used twice (or inside itself) is refused
 * before the walk, which would otherwise copy it once per use. */
static cnn_status check_aliases(cnn_context *ctx, yaml_document_t *ydoc,
                                const char *origin, size_t length)
{
    size_t n = (size_t)(ydoc->nodes.top - ydoc->nodes.start);
    size_t *refs = calloc(n + 1, sizeof *refs);
    size_t budget = 4 * length + 65536, copied = 0;
    cnn_status st = CNN_OK;
    if (!refs)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    refs[1] = 1; /* the root */
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *node = &ydoc->nodes.start[i];
        if (node->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = node->data.sequence.items.start;
                 it < node->data.sequence.items.top; it++)
                refs[*it]++;
        } else if (node->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
                 p < node->data.mapping.pairs.top; p++) {
                refs[p->key]++;
                refs[p->value]++;
            }
        }
    }
    for (size_t i = 0; st == CNN_OK && i < n; i++) {
        const yaml_node_t *node = &ydoc->nodes.start[i];
        cnn_doc_mark m = mark_of(node);
        if (node->type != YAML_SCALAR_NODE && refs[i + 1] > 1) {
            st = cnn_fail(ctx, CNN_ERR_GRAPH, "%s:%d:%d: this %s is used "
                          "again through an alias; graph files allow "
                          "aliases of scalars only", origin, m.line,
                          m.column, node->type == YAML_MAPPING_NODE
                                        ? "mapping" : "sequence");
        } else if (node->type == YAML_SCALAR_NODE) {
            size_t bytes = node->data.scalar.length + 1;
            if (refs[i + 1] > (budget - copied) / bytes)
                st = cnn_fail(ctx, CNN_ERR_GRAPH, "%s:%d:%d: aliases of "
                              "this scalar expand the file beyond %zu "
                              "bytes", origin, m.line, m.column, budget);
            else
                copied += refs[i + 1] * bytes;
        }
    }
    free(refs);
    return st;
}

static cnn_status load_yaml(cnn_context *ctx, yaml_parser_t *parser,
                            yaml_document_t *ydoc, const char *text,
                            size_t length, const char *origin)
{
    yaml_document_t extra;
    yaml_node_t *root, *more;
    if (!yaml_parser_load(parser, ydoc))
        return syntax_error(ctx, parser, origin, text, length);
    root = yaml_document_get_root_node(ydoc);
    if (!root) {
        yaml_document_delete(ydoc);
        return cnn_fail(ctx, CNN_ERR_GRAPH, "%s:1:1: the file holds no YAML "
                        "document (expected a mapping with keys %s)", origin,
                        top_keys);
    }
    if (!yaml_parser_load(parser, &extra)) {
        yaml_document_delete(ydoc);
        return syntax_error(ctx, parser, origin, text, length);
    }
    more = yaml_document_get_root_node(&extra);
    if (more) {
        cnn_doc_mark m = mark_of(more);
        yaml_document_delete(&extra);
        yaml_document_delete(ydoc);
        return cnn_fail(ctx, CNN_ERR_GRAPH, "%s:%d:%d: a graph file holds "
                        "one YAML document, found a second", origin, m.line,
                        m.column);
    }
    yaml_document_delete(&extra);
    return CNN_OK;
}

cnn_status cnn_graph_doc_parse(cnn_context *ctx, const char *text,
                               size_t length, const char *origin,
                               cnn_graph_doc **out)
{
    yaml_parser_t parser;
    yaml_document_t ydoc;
    cnn_graph_doc *doc;
    walk w;
    cnn_status st;
    *out = NULL;
    if (!origin)
        origin = "<string>";
    if (!text)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: no text", origin);
    if (length > GRAPH_FILE_MAX)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: %zu bytes is too large for "
                        "a graph file (at most %zu)", origin, length,
                        GRAPH_FILE_MAX);
    doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->origin = malloc(strlen(origin) + 1))) {
        free(doc);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    memcpy(doc->origin, origin, strlen(origin) + 1);
    if (!yaml_parser_initialize(&parser)) {
        cnn_graph_doc_free(doc);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
    st = load_yaml(ctx, &parser, &ydoc, text, length, origin);
    yaml_parser_delete(&parser);
    if (st != CNN_OK) {
        cnn_graph_doc_free(doc);
        return st;
    }
    w.ctx = ctx;
    w.ydoc = &ydoc;
    w.doc = doc;
    st = check_aliases(ctx, &ydoc, origin, length);
    if (st == CNN_OK)
        st = take_root(&w, yaml_document_get_root_node(&ydoc));
    yaml_document_delete(&ydoc);
    if (st != CNN_OK) {
        cnn_graph_doc_free(doc);
        return st;
    }
    *out = doc;
    return CNN_OK;
}

cnn_status cnn_graph_doc_load(cnn_context *ctx, const char *path,
                              cnn_graph_doc **out)
{
    FILE *f;
    char *text;
    size_t length;
    cnn_status st;
    *out = NULL;
    f = fopen(path, "rb");
    if (!f)
        return cnn_fail(ctx, errno == ENOENT ? CNN_ERR_NOT_FOUND : CNN_ERR_IO,
                        "%s: cannot open: %s", path, strerror(errno));
    text = malloc(GRAPH_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    length = fread(text, 1, GRAPH_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = cnn_fail(ctx, CNN_ERR_IO, "%s: read failed: %s", path,
                      strerror(errno));
    } else if (length > GRAPH_FILE_MAX) {
        st = cnn_fail(ctx, CNN_ERR_FORMAT, "%s: larger than %zu bytes, too "
                      "large for a graph file", path, GRAPH_FILE_MAX);
    } else {
        st = cnn_graph_doc_parse(ctx, text, length, path, out);
    }
    fclose(f);
    free(text);
    return st;
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
    free(doc->mean);
    free(doc->std);
    free(doc->name.text);
    free(doc->origin);
    free(doc);
}
