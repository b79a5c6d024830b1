/* SPDX-License-Identifier: MIT */
/* cnn_graph_doc -> cnn_graph_plan, the first stage of loading: per file
 * (recursing into backbones) find each layer's plugin, validate its
 * hyperparameters against the descriptor, resolve input names, cut and
 * freeze the backbone, and put the layers in a stable topological order.
 * No plugin hook runs here; graph_create.c does shapes and instances. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "graph_plan.h"

/* Backbones may nest (a head on a head on a backbone) this deep. */
#define BACKBONE_DEPTH_MAX 8

typedef struct builder {
    cnn_context *ctx;
    cnn_graph_doc **docs; /* every file read, the top one first */
    size_t n_docs;
    size_t cap_docs;
} builder;

cnn_status cnn_graph_fail_at(cnn_context *ctx, const cnn_graph_doc *doc,
                             cnn_doc_mark m, cnn_status status,
                             const char *fmt, ...)
{
    char detail[CNN_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cnn_fail(ctx, status, "%s:%d:%d: %s", doc->origin, m.line, m.column,
                    detail);
}

char *cnn_graph_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

char *cnn_graph_path_beside(const char *base, const char *rel)
{
    const char *slash = strrchr(base, '/');
    size_t dir, n;
    char *out;
    if (rel[0] == '/' || !slash)
        return cnn_graph_strdup(rel);
    dir = (size_t)(slash - base) + 1;
    n = strlen(rel);
    out = malloc(dir + n + 1);
    if (!out)
        return NULL;
    memcpy(out, base, dir);
    memcpy(out + dir, rel, n + 1);
    return out;
}

void cnn_graph_plan_free(cnn_graph_plan *p)
{
    for (size_t i = 0; p->layers && i < p->n; i++) {
        free(p->layers[i].hparams);
        free(p->layers[i].inputs);
    }
    free(p->layers);
    for (size_t i = 0; p->docs && i < p->n_docs; i++)
        cnn_graph_doc_free(p->docs[i]);
    free(p->docs);
    memset(p, 0, sizeof *p);
}

static cnn_status keep_doc(builder *b, cnn_graph_doc *doc)
{
    if (b->n_docs == b->cap_docs) {
        size_t cap = b->cap_docs ? 2 * b->cap_docs : 4;
        cnn_graph_doc **grown = realloc(b->docs, cap * sizeof *grown);
        if (!grown) {
            cnn_graph_doc_free(doc);
            return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
        }
        b->docs = grown;
        b->cap_docs = cap;
    }
    b->docs[b->n_docs++] = doc;
    return cnn_graph_expand_activations(b->ctx, doc);
}

/* Defaults, then the file's values; unknown keys list the valid ones. */
static cnn_status take_hparams(cnn_context *ctx, const cnn_graph_doc *doc,
                               const cnn_doc_layer *src,
                               const cnn_layer_descriptor *desc,
                               cnn_hparam_value *values)
{
    const char *lname = src->name.text;
    unsigned char *set = calloc(desc->n_hparams ? desc->n_hparams : 1, 1);
    cnn_status st = CNN_OK;
    if (!set)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    cnn_hparams_defaults(desc, values);
    for (size_t i = 0; st == CNN_OK && i < src->n_hparams; i++) {
        const cnn_doc_hparam *hp = &src->hparams[i];
        int k = cnn_descriptor_hparam_index(desc, hp->key.text);
        if (k < 0) {
            char valid[CNN_MESSAGE_MAX / 2] = "name, type, inputs, trainable";
            size_t used = strlen(valid);
            for (uint32_t j = 0; j < desc->n_hparams && used < sizeof valid;
                 j++) {
                int w = snprintf(valid + used, sizeof valid - used, ", %s",
                                 desc->hparams[j].name);
                used += w > 0 ? (size_t)w : 0;
            }
            st = cnn_graph_fail_at(
                ctx, doc, hp->key.mark, CNN_ERR_GRAPH,
                "layer '%s': unknown key '%s' for type %s (valid: %s)", lname,
                hp->key.text, desc->type_name, valid);
            break;
        }
        if (hp->is_sequence && desc->hparams[k].kind != CNN_HP_INT2 &&
            desc->hparams[k].kind != CNN_HP_PADDING) {
            st = cnn_graph_fail_at(
                ctx, doc, hp->value, CNN_ERR_GRAPH,
                "layer '%s': key '%s' takes a single value, not a sequence",
                lname, hp->key.text);
            break;
        }
        if (hp->is_sequence && desc->hparams[k].kind == CNN_HP_PADDING &&
            hp->n_items != 2 && hp->n_items != 4) {
            st = cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                   "layer '%s': key '%s' takes n, [h, w] or "
                                   "[top, left, bottom, right], got a "
                                   "sequence of %zu",
                                   lname, hp->key.text, hp->n_items);
            break;
        }
        if (hp->is_sequence && desc->hparams[k].kind == CNN_HP_INT2 &&
            hp->n_items != 2) {
            st = cnn_graph_fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH,
                                   "layer '%s': key '%s' takes n or [h, w], "
                                   "got a sequence of %zu",
                                   lname, hp->key.text, hp->n_items);
            break;
        }
        st = cnn_hparam_parse(ctx, &desc->hparams[k],
                              (const char *const *)hp->items, hp->n_items,
                              &values[k]);
        if (st != CNN_OK)
            cnn_fail_prefix(ctx, "%s:%d:%d: layer '%s'", doc->origin,
                            hp->value.line, hp->value.column, lname);
        set[k] = 1;
    }
    for (uint32_t j = 0; st == CNN_OK && j < desc->n_hparams; j++)
        if (desc->hparams[j].required && !set[j])
            st = cnn_graph_fail_at(
                ctx, doc, src->mark, CNN_ERR_GRAPH,
                "layer '%s': missing required key '%s' for type %s", lname,
                desc->hparams[j].name, desc->type_name);
    free(set);
    return st;
}

static const cnn_graph_pending *find_pending(const cnn_graph_pending *layers,
                                             size_t n, const char *name,
                                             int32_t *index)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(layers[i].src->name.text, name)) {
            *index = (int32_t)i;
            return &layers[i];
        }
    }
    return NULL;
}

/* Names this file's layers' inputs as indices into p (own layers follow the
 * kept backbone layers). cut is the backbone plan, for messages. */
static cnn_status link_inputs(cnn_context *ctx, const cnn_graph_doc *doc,
                              cnn_graph_plan *p, size_t first,
                              const cnn_graph_plan *cut)
{
    for (size_t i = first; i < p->n; i++) {
        cnn_graph_pending *l = &p->layers[i];
        const cnn_doc_layer *src = l->src;
        const cnn_layer_descriptor *d = l->desc;
        size_t n = src->has_inputs ? src->n_inputs : 1;
        cnn_doc_mark where = src->has_inputs ? src->inputs_mark : src->mark;
        l->inputs = calloc(n, sizeof *l->inputs);
        if (!l->inputs)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        l->n_inputs = (uint32_t)n;
        if (!src->has_inputs) {
            /* The previous layer: for the first head layer that is the
             * backbone's cut point, the last kept layer. */
            l->inputs[0] = i == 0 ? CNN_GRAPH_INPUT : (int32_t)(i - 1);
        }
        for (size_t j = 0; src->has_inputs && j < n; j++) {
            const char *name = src->inputs[j].text;
            int32_t at = -1;
            if (!strcmp(name, CNN_GRAPH_INPUT_NAME)) {
                l->inputs[j] = CNN_GRAPH_INPUT;
                continue;
            }
            if (find_pending(p->layers, p->n, name, &at)) {
                l->inputs[j] = at;
                continue;
            }
            if (cut && find_pending(cut->layers, cut->n, name, &at))
                return cnn_graph_fail_at(
                    ctx, doc, src->inputs[j].mark, CNN_ERR_GRAPH,
                    "layer '%s': input '%s' is a backbone layer after the cut "
                    "(cut_after: %s)",
                    src->name.text, name, p->layers[first - 1].src->name.text);
            return cnn_graph_fail_at(
                ctx, doc, src->inputs[j].mark, CNN_ERR_GRAPH,
                "layer '%s': input '%s' is not a layer of this graph (nor "
                "'%s', the graph input)",
                src->name.text, name, CNN_GRAPH_INPUT_NAME);
        }
        if (n < d->min_inputs || n > d->max_inputs) {
            if (d->min_inputs == d->max_inputs)
                return cnn_graph_fail_at(
                    ctx, doc, where, CNN_ERR_GRAPH,
                    "layer '%s': type %s takes exactly %u input%s, got %zu",
                    src->name.text, d->type_name, d->min_inputs,
                    d->min_inputs == 1 ? "" : "s", n);
            return cnn_graph_fail_at(
                ctx, doc, where, CNN_ERR_GRAPH,
                "layer '%s': type %s takes %u to %u inputs, got %zu",
                src->name.text, d->type_name, d->min_inputs, d->max_inputs, n);
        }
    }
    return CNN_OK;
}

/* Names the cycle among the layers Kahn's algorithm could not place. */
static cnn_status report_cycle(cnn_context *ctx, const cnn_graph_plan *p,
                               const unsigned char *placed)
{
    size_t *path = malloc(p->n * sizeof *path);
    size_t *pos = malloc(p->n * sizeof *pos);
    size_t len = 0, cur = 0, start, first = 0;
    char chain[CNN_MESSAGE_MAX / 2] = "";
    size_t used = 0;
    const cnn_graph_pending *at = NULL;
    if (!path || !pos) {
        free(path);
        free(pos);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    while (cur < p->n && placed[cur])
        cur++;
    for (size_t i = 0; i < p->n; i++)
        pos[i] = (size_t)-1;
    /* Every unplaced layer has an unplaced input, so walking inputs must
     * come back to a layer already on the path. */
    while (pos[cur] == (size_t)-1) {
        const cnn_graph_pending *l = &p->layers[cur];
        pos[cur] = len;
        path[len++] = cur;
        for (uint32_t j = 0; j < l->n_inputs; j++) {
            if (l->inputs[j] >= 0 && !placed[l->inputs[j]]) {
                cur = (size_t)l->inputs[j];
                break;
            }
        }
    }
    start = pos[cur];
    /* Report the first layer of the cycle, in file order, that names its
     * inputs: that is where an edit will break the cycle. */
    for (size_t k = start; k < len; k++) {
        const cnn_graph_pending *l = &p->layers[path[k]];
        if (l->src->has_inputs && (!at || l->src < at->src)) {
            at = l;
            first = k;
        }
    }
    if (!at) {
        at = &p->layers[path[start]];
        first = start;
    }
    /* Print in data-flow order from there: the walk went against it. */
    for (size_t step = 0; step <= len - start && used < sizeof chain; step++) {
        size_t k = first - start + (len - start) - step % (len - start);
        const cnn_graph_pending *l =
            &p->layers[path[start + k % (len - start)]];
        int w = snprintf(chain + used, sizeof chain - used, "%s%s",
                         step ? " -> " : "", l->src->name.text);
        used += w > 0 ? (size_t)w : 0;
    }
    free(path);
    free(pos);
    return cnn_graph_fail_at(
        ctx, at->doc,
        at->src->has_inputs ? at->src->inputs_mark : at->src->mark,
        CNN_ERR_GRAPH, "layer '%s': inputs form a cycle: %s",
        at->src->name.text, chain);
}

/* Stable topological order (Kahn's algorithm always taking the earliest
 * ready layer in file order), then inputs renumbered to match. */
static cnn_status order_layers(cnn_context *ctx, cnn_graph_plan *p)
{
    size_t n = p->n, done = 0;
    uint32_t *waiting = calloc(n, sizeof *waiting);
    unsigned char *placed = calloc(n, 1);
    size_t *order = malloc(n * sizeof *order);
    int32_t *rank = malloc(n * sizeof *rank);
    cnn_graph_pending *sorted = malloc(n * sizeof *sorted);
    cnn_status st = CNN_OK;
    if (!waiting || !placed || !order || !rank || !sorted) {
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < p->layers[i].n_inputs; j++)
            waiting[i] += p->layers[i].inputs[j] >= 0;
    /* Graphs are tens to hundreds of layers: a scan per step is cheap and
     * keeps the tie-break (file order) obvious. */
    while (done < n) {
        size_t next = n;
        for (size_t i = 0; i < n && next == n; i++)
            if (!placed[i] && waiting[i] == 0)
                next = i;
        if (next == n) {
            st = report_cycle(ctx, p, placed);
            goto out;
        }
        placed[next] = 1;
        rank[next] = (int32_t)done;
        order[done++] = next;
        for (size_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < p->layers[i].n_inputs; j++)
                if (p->layers[i].inputs[j] == (int32_t)next)
                    waiting[i]--;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = p->layers[order[k]];
        for (uint32_t j = 0; j < sorted[k].n_inputs; j++)
            if (sorted[k].inputs[j] >= 0)
                sorted[k].inputs[j] = rank[sorted[k].inputs[j]];
    }
    memcpy(p->layers, sorted, n * sizeof *sorted);
out:
    free(waiting);
    free(placed);
    free(order);
    free(rank);
    free(sorted);
    return st;
}

/* Freezing only ever clears trainable; `none` leaves the layers' own
 * flags. */
static cnn_status apply_freeze(cnn_context *ctx, const cnn_graph_doc *doc,
                               cnn_graph_plan *p)
{
    const cnn_doc_backbone *bb = &doc->backbone;
    int64_t left = bb->all_but_last;
    switch (bb->freeze) {
    case CNN_DOC_FREEZE_NONE:
        break;
    case CNN_DOC_FREEZE_ALL:
        for (size_t i = 0; i < p->n; i++)
            p->layers[i].trainable = 0;
        break;
    case CNN_DOC_FREEZE_LIST:
        for (size_t k = 0; k < bb->n_freeze_names; k++) {
            int32_t at;
            if (!find_pending(p->layers, p->n, bb->freeze_names[k].text, &at))
                return cnn_graph_fail_at(ctx, doc, bb->freeze_names[k].mark,
                                         CNN_ERR_GRAPH,
                                         "backbone: freeze names '%s', which "
                                         "is not a kept backbone layer",
                                         bb->freeze_names[k].text);
            p->layers[at].trainable = 0;
        }
        break;
    case CNN_DOC_FREEZE_ALL_BUT_LAST:
        /* Counts layers that have parameters: freezing a relu means
         * nothing, so "the last 2" are the last 2 that can learn. */
        for (size_t i = p->n; i-- > 0;) {
            if (!p->layers[i].desc->params)
                continue;
            if (left > 0)
                left--;
            else
                p->layers[i].trainable = 0;
        }
        break;
    }
    return CNN_OK;
}

static cnn_status resolve(builder *b, const cnn_graph_doc *doc, int depth,
                          cnn_graph_plan *out);

/* An error inside a backbone file names that file first; this says which
 * file brought it in, once per level. */
static cnn_status in_backbone_of(cnn_context *ctx, cnn_status st,
                                 const cnn_graph_doc *doc)
{
    char inner[CNN_MESSAGE_MAX], where[CNN_MESSAGE_MAX];
    const cnn_doc_mark *m = &doc->backbone.graph.mark;
    if (st == CNN_ERR_NOMEM)
        return st;
    snprintf(inner, sizeof inner, "%s", cnn_context_message(ctx));
    snprintf(where, sizeof where, " (backbone of %s:%d:%d)", doc->origin,
             m->line, m->column);
    /* A file that is its own backbone would say so eight times. */
    if (strstr(inner, where))
        return st;
    return cnn_fail(ctx, st, "%s%s", inner, where);
}

/* Loads, resolves and cuts doc's backbone into out (the kept layers). */
static cnn_status resolve_backbone(builder *b, const cnn_graph_doc *doc,
                                   int depth, cnn_graph_plan *out,
                                   cnn_graph_plan *rest)
{
    const cnn_doc_backbone *bb = &doc->backbone;
    cnn_graph_doc *bdoc = NULL;
    char *path;
    cnn_status st;
    int32_t cut;
    if (depth >= BACKBONE_DEPTH_MAX)
        return cnn_graph_fail_at(b->ctx, doc, bb->graph.mark, CNN_ERR_GRAPH,
                                 "backbone: more than %d nested backbones "
                                 "(does a backbone lead back to this file?)",
                                 BACKBONE_DEPTH_MAX);
    path = cnn_graph_path_beside(doc->origin, bb->graph.text);
    if (!path)
        return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
    st = cnn_graph_doc_load(b->ctx, path, &bdoc);
    if (st == CNN_ERR_IO || st == CNN_ERR_NOT_FOUND) {
        /* Relative to this file's folder, which is not where the user
         * stands: say where that is. */
        char dir[4096], real[4096] = "";
        const char *slash = strrchr(path, '/');
        if (slash && path[0] != '/' && (size_t)(slash - path) < sizeof dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
            if (!realpath(dir, real))
                real[0] = '\0';
        }
        cnn_fail_prefix(b->ctx, "%s:%d:%d: backbone graph '%s' (relative to %s's "
                        "folder%s%s%s)", doc->origin, bb->graph.mark.line,
                        bb->graph.mark.column, bb->graph.text, doc->origin,
                        real[0] ? ": " : "", real, real[0] ? slash : "");
        free(path);
        return st;
    }
    free(path);
    if (st != CNN_OK || (st = keep_doc(b, bdoc)) != CNN_OK)
        return st;
    st = resolve(b, bdoc, depth + 1, rest);
    if (st != CNN_OK)
        return in_backbone_of(b->ctx, st, doc);
    *out = *rest;
    out->layers = NULL;
    out->n = 0;
    cut = (int32_t)rest->n - 1;
    if (bb->cut_after.text &&
        !find_pending(rest->layers, rest->n, bb->cut_after.text, &cut))
        return cnn_graph_fail_at(
            b->ctx, doc, bb->cut_after.mark, CNN_ERR_GRAPH,
            "backbone: cut_after names '%s', which is not a layer of %s",
            bb->cut_after.text, bdoc->origin);
    /* The order is topological, so the prefix up to the cut holds
     * everything the cut point depends on. */
    out->n = (size_t)cut + 1;
    out->layers = malloc(out->n * sizeof *out->layers);
    if (!out->layers)
        return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(out->layers, rest->layers, out->n * sizeof *out->layers);
    /* rest keeps what was cut off (for messages) and no longer owns the
     * kept layers' arrays. */
    memmove(rest->layers, rest->layers + out->n,
            (rest->n - out->n) * sizeof *rest->layers);
    rest->n -= out->n;
    /* This file decides how its backbone trains: the backbone file's own
     * freeze is dropped, a layer's own `trainable: false` is kept. */
    for (size_t i = 0; i < out->n; i++) {
        out->layers[i].from_backbone = 1;
        out->layers[i].trainable = out->layers[i].src->trainable != 0;
    }
    return apply_freeze(b->ctx, doc, out);
}

static cnn_status resolve(builder *b, const cnn_graph_doc *doc, int depth,
                          cnn_graph_plan *out)
{
    cnn_context *ctx = b->ctx;
    cnn_graph_plan cut;
    size_t first;
    cnn_graph_pending *grown;
    cnn_status st = CNN_OK;
    memset(out, 0, sizeof *out);
    memset(&cut, 0, sizeof cut);
    if (doc->backbone.present) {
        st = resolve_backbone(b, doc, depth, out, &cut);
        if (st != CNN_OK)
            goto fail;
    }
    first = out->n;
    if (first + doc->n_layers > CNN_GRAPH_LAYERS_MAX) {
        st = cnn_graph_fail_at(ctx, doc, doc->layers_mark, CNN_ERR_GRAPH,
                               "%zu layers with the backbone's, more than the "
                               "%d a graph may have",
                               first + doc->n_layers, CNN_GRAPH_LAYERS_MAX);
        goto fail;
    }
    grown = realloc(out->layers, (first + doc->n_layers + 1) * sizeof *grown);
    if (!grown) {
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    out->layers = grown;
    for (size_t i = 0; i < doc->n_layers; i++) {
        const cnn_doc_layer *src = &doc->layers[i];
        cnn_graph_pending *l = &out->layers[out->n];
        int32_t at;
        const cnn_graph_pending *dup =
            find_pending(out->layers, out->n, src->name.text, &at);
        if (dup) {
            st = cnn_graph_fail_at(
                ctx, doc, src->name.mark, CNN_ERR_GRAPH,
                "layer '%s': duplicate layer name (first at %s:%d:%d)",
                src->name.text, dup->doc->origin, dup->src->name.mark.line,
                dup->src->name.mark.column);
            goto fail;
        }
        memset(l, 0, sizeof *l);
        l->doc = doc;
        l->src = src;
        l->trainable = src->trainable != 0;
        out->n++;
        st = cnn_plugin_get(ctx, src->type.text, &l->plugin);
        if (st == CNN_ERR_NOT_FOUND) {
            st = cnn_graph_unknown_type(ctx, doc, src->type.mark, src->name.text,
                                        src->type.text);
            goto fail;
        }
        if (st != CNN_OK) {
            cnn_fail_prefix(ctx, "%s:%d:%d: layer '%s'", doc->origin,
                            src->type.mark.line, src->type.mark.column,
                            src->name.text);
            goto fail;
        }
        l->desc = cnn_plugin_descriptor(l->plugin);
        l->hparams = calloc(l->desc->n_hparams ? l->desc->n_hparams : 1,
                            sizeof *l->hparams);
        if (!l->hparams) {
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
            goto fail;
        }
        st = take_hparams(ctx, doc, src, l->desc, l->hparams);
        if (st != CNN_OK)
            goto fail;
    }
    st =
        link_inputs(ctx, doc, out, first, doc->backbone.present ? &cut : NULL);
    if (st == CNN_OK)
        st = order_layers(ctx, out);
    if (st != CNN_OK)
        goto fail;
    cnn_graph_plan_free(&cut);
    if (doc->has_shape)
        out->shape_doc = doc;
    if (doc->mean)
        out->norm_doc = doc;
    if (doc->has_classes)
        out->classes_doc = doc;
    if (doc->rename.present)
        out->rename_doc = doc;
    return CNN_OK;
fail:
    cnn_graph_plan_free(&cut);
    cnn_graph_plan_free(out);
    return st;
}

cnn_status cnn_graph_plan_make(cnn_context *ctx, cnn_graph_doc *doc,
                               cnn_graph_plan *out)
{
    builder b = {ctx, NULL, 0, 0};
    cnn_status st = keep_doc(&b, doc);
    memset(out, 0, sizeof *out);
    if (st == CNN_OK)
        st = resolve(&b, doc, 0, out);
    /* resolve leaves out empty on failure; the documents go with it. */
    out->docs = b.docs;
    out->n_docs = b.n_docs;
    if (st != CNN_OK)
        cnn_graph_plan_free(out);
    return st;
}
