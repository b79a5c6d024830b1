/* SPDX-License-Identifier: MIT */
/* YAML text -> cnn_graph_doc, the libyaml half: load one document with the
 * document API, turn libyaml's errors into path:line:column messages, refuse
 * alias tricks, and offer the scalar and key helpers graph_doc.c walks the
 * format with. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/file_read.h"
#include "graph_walk.h"

/* A graph file is a page of text; anything larger is a mistake. */
#define GRAPH_FILE_MAX ((size_t)4 << 20)
/* Collections inside collections: a graph needs four or five levels. Past
 * a few thousand libyaml slows quadratically and its loader recurses once
 * per level, so depth is checked before the document is built. */
#define GRAPH_DEPTH_MAX 64
/* Scalars and collections in one file. libyaml's document costs about 2 us
 * and 180 bytes a node: this bounds a load near a second. The largest
 * graph allowed (10000 layers of ten keys) has about 200000. */
#define GRAPH_NODES_MAX 500000
/* Keys checked pairwise for duplicates: a layer has about ten. */
#define MAPPING_KEYS_MAX 256

cnn_status cnn_yaml_fail(walk *w, cnn_doc_mark m, const char *fmt, ...)
{
    char detail[CNN_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cnn_fail(w->ctx, CNN_ERR_GRAPH, "%s:%d:%d: %s", w->doc->origin,
                    m.line, m.column, detail);
}

void *cnn_yaml_alloc(walk *w, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        cnn_fail(w->ctx, CNN_ERR_NOMEM, "out of memory");
    return p;
}

/* Copies a scalar's text; what names the value in messages. */
cnn_status cnn_yaml_scalar(walk *w, const yaml_node_t *node, const char *what,
                           cnn_doc_text *out)
{
    size_t length;
    out->mark = mark_of(node);
    if (node->type != YAML_SCALAR_NODE || is_null(node))
        return cnn_yaml_fail(w, out->mark,
                             "%s must be a non-empty scalar, got %s", what,
                             is_null(node) ? "nothing" : kind_name(node));
    length = node->data.scalar.length;
    if (memchr(node->data.scalar.value, '\0', length))
        return cnn_yaml_fail(w, out->mark, "%s contains a NUL character",
                             what);
    out->text = malloc(length + 1);
    if (!out->text)
        return cnn_fail(w->ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(out->text, node->data.scalar.value, length);
    out->text[length] = '\0';
    return CNN_OK;
}

/* Every key a non-empty scalar, none twice. label prefixes messages. */
cnn_status cnn_yaml_check_keys(walk *w, const yaml_node_t *map,
                               const char *label)
{
    yaml_node_pair_t *first = map->data.mapping.pairs.start;
    if (map_length(map) > MAPPING_KEYS_MAX)
        return cnn_yaml_fail(w, mark_of(map),
                             "%smore than %d keys in one mapping", label,
                             MAPPING_KEYS_MAX);
    for (yaml_node_pair_t *p = first; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = node_at(w, p->key);
        if (key->type != YAML_SCALAR_NODE || is_null(key))
            return cnn_yaml_fail(w, mark_of(key),
                                 "%skeys must be names, got %s", label,
                                 kind_name(key));
        for (yaml_node_pair_t *q = first; q < p; q++) {
            yaml_node_t *seen = node_at(w, q->key);
            if (!strcmp(scalar_text(seen), scalar_text(key))) {
                cnn_doc_mark m = mark_of(seen);
                return cnn_yaml_fail(
                    w, mark_of(key), "%sduplicate key '%s' (first at %d:%d)",
                    label, scalar_text(key), m.line, m.column);
            }
        }
    }
    return CNN_OK;
}

int cnn_yaml_int64(const char *text, int64_t *out)
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

int cnn_yaml_float(const char *text, float *out)
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

int cnn_yaml_bool(const char *text, int *out)
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

/* A sequence of scalars (or, when one_ok, a single scalar) as texts. */
cnn_status cnn_yaml_names(walk *w, const yaml_node_t *node, const char *what,
                          int one_ok, cnn_doc_text **out, size_t *n_out)
{
    size_t n;
    if (one_ok && node->type == YAML_SCALAR_NODE && !is_null(node)) {
        *out = cnn_yaml_alloc(w, 1, sizeof **out);
        if (!*out)
            return CNN_ERR_NOMEM;
        *n_out = 1;
        return cnn_yaml_scalar(w, node, what, *out);
    }
    if (node->type != YAML_SEQUENCE_NODE)
        return cnn_yaml_fail(w, mark_of(node),
                             "%s must be %sa sequence of names, got %s", what,
                             one_ok ? "a name or " : "",
                             is_null(node) ? "nothing" : kind_name(node));
    n = seq_length(node);
    if (n == 0)
        return cnn_yaml_fail(w, mark_of(node), "%s is empty", what);
    *out = cnn_yaml_alloc(w, n, sizeof **out);
    if (!*out)
        return CNN_ERR_NOMEM;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(w, node->data.sequence.items.start[i]);
        cnn_status st = cnn_yaml_scalar(w, item, what, &(*out)[i]);
        if (st != CNN_OK)
            return st;
    }
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
        size_t end =
            parser->problem_offset < length ? parser->problem_offset : length;
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
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s:%d:%d: YAML syntax error: %s (%s at %d:%d)%s",
                        origin, m.line, m.column, problem, parser->context,
                        c.line, c.column, hint);
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
            st = cnn_fail(ctx, CNN_ERR_GRAPH,
                          "%s:%d:%d: this %s is used again through an alias; "
                          "graph files allow "
                          "aliases of scalars only",
                          origin, m.line, m.column,
                          node->type == YAML_MAPPING_NODE ? "mapping"
                                                          : "sequence");
        } else if (node->type == YAML_SCALAR_NODE) {
            size_t bytes = node->data.scalar.length + 1;
            if (refs[i + 1] > (budget - copied) / bytes)
                st = cnn_fail(ctx, CNN_ERR_GRAPH,
                              "%s:%d:%d: aliases of this scalar expand the "
                              "file beyond %zu "
                              "bytes",
                              origin, m.line, m.column, budget);
            else
                copied += refs[i + 1] * bytes;
        }
    }
    free(refs);
    return st;
}

/* Walks the text as a stream of events (constant memory, and stopping at
 * the first collection too deep or the first node too many) before the document API builds anything:
 * the depth of flow ("[[[[") and block ("- - - -", indentation) nesting
 * alike, since libyaml reports both as collection start events. */
static cnn_status check_depth(cnn_context *ctx, const char *text,
                              size_t length, const char *origin)
{
    yaml_parser_t parser;
    yaml_event_t event;
    int depth = 0;
    size_t nodes = 0;
    cnn_status st = CNN_OK;
    if (!yaml_parser_initialize(&parser))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
    for (;;) {
        yaml_event_type_t type;
        if (!yaml_parser_parse(&parser, &event)) {
            st = syntax_error(ctx, &parser, origin, text, length);
            break;
        }
        type = event.type;
        if (type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT) {
            if (++depth > GRAPH_DEPTH_MAX) {
                cnn_doc_mark m = mark_from(event.start_mark);
                st = cnn_fail(ctx, CNN_ERR_GRAPH,
                              "%s:%d:%d: collections nested more than %d "
                              "deep; a graph file needs a handful of levels",
                              origin, m.line, m.column, GRAPH_DEPTH_MAX);
            }
        }
        if ((type == YAML_SEQUENCE_START_EVENT ||
             type == YAML_MAPPING_START_EVENT || type == YAML_SCALAR_EVENT ||
             type == YAML_ALIAS_EVENT) &&
            st == CNN_OK && ++nodes > GRAPH_NODES_MAX) {
            cnn_doc_mark m = mark_from(event.start_mark);
            st = cnn_fail(ctx, CNN_ERR_GRAPH,
                          "%s:%d:%d: more than %d YAML nodes (values, lists "
                          "and mappings) in one graph file",
                          origin, m.line, m.column, GRAPH_NODES_MAX);
        } else if (type == YAML_SEQUENCE_END_EVENT ||
                   type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&event);
        if (st != CNN_OK || type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&parser);
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
        return cnn_fail(ctx, CNN_ERR_GRAPH,
                        "%s:1:1: the file holds no YAML document (expected a "
                        "mapping with keys %s)",
                        origin, CNN_GRAPH_TOP_KEYS);
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
        return cnn_fail(
            ctx, CNN_ERR_GRAPH,
            "%s:%d:%d: a graph file holds one YAML document, found a second",
            origin, m.line, m.column);
    }
    yaml_document_delete(&extra);
    return CNN_OK;
}

cnn_status cnn_yaml_document_parse(cnn_context *ctx, const char *text,
                                   size_t length, const char *origin,
                                   yaml_document_t *ydoc)
{
    yaml_parser_t parser;
    cnn_status st;
    if (length > GRAPH_FILE_MAX)
        return cnn_fail(
            ctx, CNN_ERR_FORMAT,
            "%s: %zu bytes is too large for a graph file (at most %zu)",
            origin, length, GRAPH_FILE_MAX);
    st = check_depth(ctx, text, length, origin);
    if (st != CNN_OK)
        return st;
    if (!yaml_parser_initialize(&parser))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
    st = load_yaml(ctx, &parser, ydoc, text, length, origin);
    yaml_parser_delete(&parser);
    if (st != CNN_OK)
        return st;
    st = check_aliases(ctx, ydoc, origin, length);
    if (st != CNN_OK)
        yaml_document_delete(ydoc);
    return st;
}

cnn_status cnn_graph_doc_parse(cnn_context *ctx, const char *text,
                               size_t length, const char *origin,
                               cnn_graph_doc **out)
{
    yaml_document_t ydoc;
    cnn_graph_doc *doc;
    walk w;
    cnn_status st;
    *out = NULL;
    if (!origin)
        origin = "<string>";
    if (!text)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: no text", origin);
    doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->origin = malloc(strlen(origin) + 1))) {
        free(doc);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    memcpy(doc->origin, origin, strlen(origin) + 1);
    st = cnn_yaml_document_parse(ctx, text, length, origin, &ydoc);
    if (st != CNN_OK) {
        cnn_graph_doc_free(doc);
        return st;
    }
    w.ctx = ctx;
    w.ydoc = &ydoc;
    w.doc = doc;
    st = cnn_graph_doc_walk(&w, yaml_document_get_root_node(&ydoc));
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
    unsigned char *text;
    size_t length;
    cnn_status st;
    *out = NULL;
    st = cnn_file_read_all(ctx, path, GRAPH_FILE_MAX, "graph file", &text,
                           &length);
    if (st != CNN_OK)
        return st;
    st = cnn_graph_doc_parse(ctx, (const char *)text, length, path, out);
    free(text);
    return st;
}
