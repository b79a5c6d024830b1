/* SPDX-License-Identifier: MIT */
/* Shared by the two halves of reading a graph file: graph_yaml.c (libyaml,
 * syntax errors, aliases, scalars and keys) and graph_doc.c (the format's
 * sections, walked into a cnn_graph_doc). Not for use elsewhere. */
#ifndef CNN_CORE_GRAPH_WALK_H
#define CNN_CORE_GRAPH_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <yaml.h>

#include "context_internal.h"
#include "graph_doc.h"

#define CNN_GRAPH_TOP_KEYS "name, input, layers, backbone, rename, train"

/* One parse in progress: messages start with doc->origin. */
typedef struct walk {
    cnn_context *ctx;
    yaml_document_t *ydoc;
    cnn_graph_doc *doc;
} walk;

static inline cnn_doc_mark mark_from(yaml_mark_t m)
{
    cnn_doc_mark out;
    out.line = m.line < 0x7ffffffe ? (int)m.line + 1 : 0x7fffffff;
    out.column = m.column < 0x7ffffffe ? (int)m.column + 1 : 0x7fffffff;
    return out;
}

static inline cnn_doc_mark mark_of(const yaml_node_t *node)
{
    return mark_from(node->start_mark);
}

static inline const char *kind_name(const yaml_node_t *node)
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

static inline yaml_node_t *node_at(walk *w, int index)
{
    return yaml_document_get_node(w->ydoc, index);
}

static inline const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* A plain scalar spelling YAML's null: an empty value, ~ or null. */
static inline int is_null(const yaml_node_t *node)
{
    const char *t;
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    t = scalar_text(node);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") ||
           !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static inline size_t seq_length(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top -
                    node->data.sequence.items.start);
}

static inline size_t map_length(const yaml_node_t *node)
{
    return (size_t)(node->data.mapping.pairs.top -
                    node->data.mapping.pairs.start);
}

/* CNN_ERR_GRAPH with "origin:line:column: " before the message. */
cnn_status cnn_yaml_fail(walk *w, cnn_doc_mark m, const char *fmt, ...)
    CNN_PRINTF(3, 4);
/* calloc that reports exhaustion on the context; never asks for 0 bytes. */
void *cnn_yaml_alloc(walk *w, size_t n, size_t size);
/* Copies a non-null scalar's text; what names the value in messages. */
cnn_status cnn_yaml_scalar(walk *w, const yaml_node_t *node, const char *what,
                           cnn_doc_text *out);
/* Every key a scalar, none twice, not too many; label prefixes messages. */
cnn_status cnn_yaml_check_keys(walk *w, const yaml_node_t *map,
                               const char *label);
/* A non-empty sequence of scalars (or, when one_ok, a single scalar). */
cnn_status cnn_yaml_names(walk *w, const yaml_node_t *node, const char *what,
                          int one_ok, cnn_doc_text **out, size_t *n_out);
/* Conversions of a whole scalar; 1 on success. */
int cnn_yaml_int64(const char *text, int64_t *out);
int cnn_yaml_float(const char *text, float *out); /* finite float range */
int cnn_yaml_bool(const char *text, int *out);    /* true/false, any case */

/* rename_yaml.c: the rules of a rename: key (a mapping of FROM: TO, or a
 * sequence of one-pair mappings) into out; a scalar, a file of rules, only
 * when file_ok. */
cnn_status cnn_yaml_rename(walk *w, const yaml_node_t *node, int file_ok,
                           cnn_doc_rename *out);
/* graph_yaml.c: parses text as one YAML document with the graph file's
 * limits (size, depth, nodes, aliases); origin prefixes messages. On
 * success the caller deletes *ydoc. */
cnn_status cnn_yaml_document_parse(cnn_context *ctx, const char *text,
                                   size_t length, const char *origin,
                                   yaml_document_t *ydoc);

/* graph_doc.c: walks the root node into w->doc. */
cnn_status cnn_graph_doc_walk(walk *w, const yaml_node_t *root);

#endif
