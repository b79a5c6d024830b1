/* SPDX-License-Identifier: MIT */
/* Rename rules written in YAML: the rename: key of a graph file and rename
 * files (a top-level rename: key alone), both into a cnn_rename_map with
 * each rule's file:line:column as its origin. Forms of the key:
 *
 *   rename:                          rename:
 *     features.0.*: conv1_1.*          - features.0.*: conv1_1.*
 *     "*.num_batches_tracked": ~       - "*.num_batches_tracked": ~
 *
 * and, in a graph file only, rename: renames/x.yaml (a rename file,
 * relative to the graph's folder). A mapping keeps the written order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/file_read.h"
#include "cnn/rename.h"
#include "graph_plan.h"
#include "graph_walk.h"

/* A rename file is a page of text, like a graph file. */
#define RENAME_FILE_MAX ((size_t)4 << 20)

void cnn_doc_rename_free(cnn_doc_rename *rename)
{
    for (size_t i = 0; rename->rules && i < rename->n_rules; i++) {
        free(rename->rules[i].from.text);
        free(rename->rules[i].to.text);
    }
    free(rename->rules);
    free(rename->file.text);
    rename->rules = NULL;
    rename->n_rules = 0;
    rename->file.text = NULL;
}

/* One FROM: TO pair; TO null (~) drops. */
static cnn_status take_rule(walk *w, const yaml_node_t *key,
                            const yaml_node_t *value, cnn_doc_rename_rule *r)
{
    cnn_status st = cnn_yaml_scalar(w, key, "rename: a rule's old name",
                                    &r->from);
    if (st != CNN_OK)
        return st;
    r->to.mark = mark_of(value);
    if (value->type == YAML_SCALAR_NODE && is_null(value))
        return CNN_OK;
    return cnn_yaml_scalar(w, value,
                           "rename: a rule's new name (or ~ to drop)", &r->to);
}

static cnn_status take_rule_list(walk *w, const yaml_node_t *node,
                                 cnn_doc_rename *out)
{
    size_t n = seq_length(node);
    out->rules = cnn_yaml_alloc(w, n, sizeof *out->rules);
    if (!out->rules)
        return CNN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        yaml_node_pair_t *p;
        cnn_status st;
        if (item->type != YAML_MAPPING_NODE || map_length(item) != 1)
            return cnn_yaml_fail(
                w, mark_of(item),
                "rename: each item must be one 'OLD: NEW' pair, got %s",
                item->type == YAML_MAPPING_NODE ? "a mapping of several keys"
                                                : kind_name(item));
        p = item->data.mapping.pairs.start;
        st = take_rule(w, node_at(w, p->key), node_at(w, p->value),
                       &out->rules[i]);
        out->n_rules = i + 1;
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

static cnn_status take_rule_map(walk *w, const yaml_node_t *node,
                                cnn_doc_rename *out)
{
    size_t n = map_length(node);
    cnn_status st = cnn_yaml_check_keys(w, node, "rename: ");
    if (st != CNN_OK)
        return st;
    out->rules = cnn_yaml_alloc(w, n, sizeof *out->rules);
    if (!out->rules)
        return CNN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        st = take_rule(w, node_at(w, p->key), node_at(w, p->value),
                       &out->rules[i]);
        out->n_rules = i + 1;
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

cnn_status cnn_yaml_rename(walk *w, const yaml_node_t *node, int file_ok,
                           cnn_doc_rename *out)
{
    out->present = 1;
    out->mark = mark_of(node);
    if (file_ok && node->type == YAML_SCALAR_NODE && !is_null(node))
        return cnn_yaml_scalar(w, node, "rename", &out->file);
    if (node->type == YAML_SEQUENCE_NODE && seq_length(node) > 0)
        return take_rule_list(w, node, out);
    if (node->type == YAML_MAPPING_NODE && map_length(node) > 0)
        return take_rule_map(w, node, out);
    return cnn_yaml_fail(w, out->mark,
                         "rename must be %sa mapping of OLD: NEW names or a "
                         "sequence of 'OLD: NEW' pairs, got %s",
                         file_ok ? "a rename file's path, " : "",
                         is_null(node) ? "nothing"
                         : node->type == YAML_SCALAR_NODE
                             ? "a scalar"
                             : "an empty collection");
}

/* Adds the parsed rules to map, each with origin:line:column. */
static cnn_status add_rules(cnn_context *ctx, const cnn_doc_rename *r,
                            const char *origin, cnn_rename_map *map)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        const cnn_doc_rename_rule *rule = &r->rules[i];
        char where[4200];
        snprintf(where, sizeof where, "%s:%d:%d", origin,
                 rule->from.mark.line, rule->from.mark.column);
        cnn_status st = cnn_rename_map_add(ctx, map, rule->from.text,
                                           rule->to.text, where);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

cnn_status cnn_rename_map_load(cnn_context *ctx, cnn_rename_map *map,
                               const char *path)
{
    unsigned char *text;
    size_t length;
    yaml_document_t ydoc;
    cnn_graph_doc holder;
    const yaml_node_t *root;
    walk w;
    cnn_status st = cnn_file_read_all(ctx, path, RENAME_FILE_MAX,
                                      "rename file", &text, &length);
    if (st != CNN_OK)
        return st;
    st = cnn_yaml_document_parse(ctx, (const char *)text, length, path,
                                 &ydoc);
    free(text);
    if (st != CNN_OK)
        return st;
    memset(&holder, 0, sizeof holder);
    holder.origin = (char *)path; /* only read, for messages */
    w.ctx = ctx;
    w.ydoc = &ydoc;
    w.doc = &holder;
    root = yaml_document_get_root_node(&ydoc);
    if (root->type != YAML_MAPPING_NODE || map_length(root) != 1 ||
        node_at(&w, root->data.mapping.pairs.start->key)->type !=
            YAML_SCALAR_NODE ||
        strcmp(scalar_text(node_at(&w, root->data.mapping.pairs.start->key)),
               "rename") != 0)
        st = cnn_yaml_fail(&w, mark_of(root),
                           "a rename file is a mapping with the one key "
                           "'rename' holding the rules");
    else
        st = cnn_yaml_rename(
            &w, node_at(&w, root->data.mapping.pairs.start->value), 0,
            &holder.rename);
    if (st == CNN_OK)
        st = add_rules(ctx, &holder.rename, path, map);
    cnn_doc_rename_free(&holder.rename);
    yaml_document_delete(&ydoc);
    return st;
}

cnn_status cnn_doc_rename_build(cnn_context *ctx, const cnn_graph_doc *doc,
                                cnn_rename_map *map)
{
    const cnn_doc_rename *r = &doc->rename;
    char *path;
    cnn_status st;
    if (!r->present)
        return CNN_OK;
    if (!r->file.text)
        return add_rules(ctx, r, doc->origin, map);
    path = cnn_graph_path_beside(doc->origin, r->file.text);
    if (!path)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    st = cnn_rename_map_load(ctx, map, path);
    if (st != CNN_OK)
        cnn_fail_prefix(ctx, "%s:%d:%d: rename file '%s': ", doc->origin,
                        r->file.mark.line, r->file.mark.column, r->file.text);
    free(path);
    return st;
}
